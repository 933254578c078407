//! Configuration in layers: defaults, then a TOML file, then `TESSERA__SECTION__KEY`
//! environment variables, then `TESSERA__SECTION__KEY_FILE` indirection for secrets.
//! Unknown keys are errors; [`Config::validate`] says how to fix a bad value.
//!
//! The reference file `config/tessera.toml` documents every key and its variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

const ENV_PREFIX: &str = "TESSERA__";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub state: StateConfig,
    pub keys: KeysConfig,
    pub tokens: TokensConfig,
    pub log: LogConfig,
    pub mail: MailConfig,
    pub passwords: PasswordsConfig,
    pub outbound: OutboundConfig,
}

/// Requests Tessera makes to addresses administrators configure (upstream identity providers,
/// workload issuers' keys). See [`crate::outbound`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Let them reach private (10/8, 172.16/12, 192.168/16, fc00::/7) and shared (100.64/10)
    /// addresses, for an identity provider on an internal network. Link-local addresses
    /// (cloud metadata) stay refused.
    pub allow_private_networks: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// The issuer URL as clients see it (scheme, host, optional port and path; no trailing slash).
    pub issuer: String,
    /// Mark cookies `Secure`. Defaults to true when the issuer is https.
    pub secure_cookies: Option<bool>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://data/tessera.db` (embedded default) or `postgres://user:pass@host/db`.
    pub url: String,
    pub max_connections: u32,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// In process memory: one node only; state is lost on restart.
    Memory,
    /// Redis: shared by every instance.
    Redis,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub backend: StateBackend,
    pub redis_url: String,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub redis_prefix: String,
}

impl std::fmt::Debug for StateConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateConfig")
            .field("backend", &self.backend)
            .field("redis_url", &redact_url(&self.redis_url))
            .field("redis_prefix", &self.redis_prefix)
            .finish()
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Where the signing keys live: `folder` (the keys folder, one node or a shared volume)
    /// or `database` (sealed rows shared by every instance).
    pub store: String,
    /// Folder of the signing keys; created, with keys generated, on first start.
    pub dir: PathBuf,
    /// With `store = "database"`: 64 hex digits (32 bytes) that seal the private keys with
    /// AES-256-GCM. A secret: set it through `TESSERA__KEYS__ENCRYPTION_KEY_FILE`.
    pub encryption_key: Option<String>,
    /// With `store = "database"`: rotate each algorithm's key when it has signed this long
    /// (0: only by `tessera keys rotate`). Instances agree on who does it through the database.
    pub rotation_interval_secs: u64,
    /// Default JWS algorithm of access tokens: ES256, RS256 or EdDSA.
    pub access_token_alg: String,
    /// Default JWS algorithm of ID tokens. OIDC requires RS256 to be available.
    pub id_token_alg: String,
    /// Default time between `tessera keys rotate` publishing a new key and the key signing.
    pub publication_window_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    pub access_token_lifetime_secs: u64,
    pub id_token_lifetime_secs: u64,
    pub refresh_token_lifetime_secs: u64,
    /// How long after a rotation the refresh token it replaced is still accepted as a retry
    /// (0: never; at most 300).
    pub refresh_token_reuse_grace_secs: u64,
    pub authorization_code_lifetime_secs: u64,
    /// How long a sign-in session lasts (single sign-on across clients).
    pub session_lifetime_secs: u64,
    /// How long a person has to finish the login page after being redirected to it.
    pub login_request_lifetime_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `json` (one object a line) or `text`.
    pub format: String,
    /// A tracing filter such as `info` or `tessera=debug,info`.
    pub level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:8080".into(), issuer: "http://127.0.0.1:8080".into(), secure_cookies: None }
    }
}
impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "sqlite://data/tessera.db".into(), max_connections: 10 }
    }
}
impl Default for StateConfig {
    fn default() -> Self {
        Self {
            backend: StateBackend::Memory,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: "tessera:".into(),
        }
    }
}
impl std::fmt::Debug for KeysConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeysConfig")
            .field("store", &self.store)
            .field("dir", &self.dir)
            .field("encryption_key", &self.encryption_key.as_ref().map(|_| "<redacted>"))
            .field("rotation_interval_secs", &self.rotation_interval_secs)
            .field("access_token_alg", &self.access_token_alg)
            .field("id_token_alg", &self.id_token_alg)
            .field("publication_window_secs", &self.publication_window_secs)
            .finish()
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            store: "folder".into(),
            encryption_key: None,
            rotation_interval_secs: 0,
            dir: PathBuf::from("keys"),
            access_token_alg: "ES256".into(),
            id_token_alg: "RS256".into(),
            publication_window_secs: 900,
        }
    }
}
impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_lifetime_secs: 300,
            id_token_lifetime_secs: 300,
            refresh_token_lifetime_secs: 8 * 3600,
            refresh_token_reuse_grace_secs: 10,
            authorization_code_lifetime_secs: 60,
            session_lifetime_secs: 8 * 3600,
            login_request_lifetime_secs: 15 * 60,
        }
    }
}
impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "json".into(), level: "info".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Development: each message is written as an `.eml` file into `mail.folder`.
    Folder,
    /// An SMTP relay.
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic); port 587.
    Starttls,
    /// TLS from the first byte (SMTPS); port 465.
    Tls,
    /// No TLS: only for a relay on this machine (loopback).
    None,
}

/// Outgoing mail: password-reset links and change-password requests.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// With `transport = "folder"`: where messages are written.
    pub folder: PathBuf,
    /// The sender, `Name <address>` or `address`.
    pub from: String,
    pub smtp_host: String,
    /// 0: the usual port of `smtp_security` (587, 465 or 25).
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    /// Empty: no authentication.
    pub smtp_username: String,
    /// A secret: set it through `TESSERA__MAIL__SMTP_PASSWORD_FILE`.
    pub smtp_password: String,
    pub smtp_timeout_secs: u64,
}

impl MailConfig {
    /// The port to connect to.
    pub fn smtp_port(&self) -> u16 {
        match (self.smtp_port, self.smtp_security) {
            (0, SmtpSecurity::Starttls) => 587,
            (0, SmtpSecurity::Tls) => 465,
            (0, SmtpSecurity::None) => 25,
            (p, _) => p,
        }
    }
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("transport", &self.transport)
            .field("folder", &self.folder)
            .field("from", &self.from)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_security", &self.smtp_security)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &if self.smtp_password.is_empty() { "" } else { "<redacted>" })
            .field("smtp_timeout_secs", &self.smtp_timeout_secs)
            .finish()
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::Folder,
            folder: PathBuf::from("data/mail"),
            from: "Tessera <no-reply@localhost>".into(),
            smtp_host: "localhost".into(),
            smtp_port: 0,
            smtp_security: SmtpSecurity::Starttls,
            smtp_username: String::new(),
            smtp_password: String::new(),
            smtp_timeout_secs: 15,
        }
    }
}

/// Password resets and the throttling of password sign-ins.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordsConfig {
    /// How long a password-reset link works (it also works only once).
    pub reset_link_lifetime_secs: u64,
    /// Failed sign-ins for one username before each further failure locks it for a while.
    pub throttle_account_free_failures: u64,
    /// Failed sign-ins from one client address before the same.
    pub throttle_address_free_failures: u64,
    /// The first lock; each further failure doubles it, up to `throttle_max_delay_secs`.
    pub throttle_base_delay_secs: u64,
    pub throttle_max_delay_secs: u64,
    /// Failures are counted over this window from the first one; a success clears the
    /// username's count.
    pub throttle_window_secs: u64,
}

impl Default for PasswordsConfig {
    fn default() -> Self {
        Self {
            reset_link_lifetime_secs: 3600,
            throttle_account_free_failures: 5,
            throttle_address_free_failures: 50,
            throttle_base_delay_secs: 1,
            throttle_max_delay_secs: 900,
            throttle_window_secs: 3600,
        }
    }
}

/// A configuration problem, with a message that says how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

pub const ALGORITHMS: [&str; 3] = ["ES256", "RS256", "EdDSA"];

impl Config {
    /// Loads defaults, then `file` (if given; it must exist), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Like [`Config::load`] with an explicit environment (tests).
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!("config file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let plain: Vec<(String, String)> =
            env.iter().filter(|(k, _)| k.starts_with(ENV_PREFIX) && !k.ends_with("_FILE")).cloned().collect();
        figment = figment.merge(env_provider(plain));
        // `*_FILE` indirection: TESSERA__DATABASE__URL_FILE=/run/secrets/db sets database.url.
        let mut from_files = Vec::new();
        for (k, v) in env.iter().filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.ends_with("_FILE")) {
            let content = std::fs::read_to_string(v)
                .map_err(|e| ConfigError(format!("{k} points to {v}, which cannot be read: {e}")))?;
            from_files
                .push((k.trim_end_matches("_FILE").to_string(), content.trim_end_matches(['\n', '\r']).to_string()));
        }
        figment = figment.merge(env_provider(from_files));
        let config: Config = figment.extract().map_err(|e| ConfigError(explain(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value; the message says which key is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: String| Err(ConfigError(format!("{key} ({}): {msg}", env_name(key))));
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return bad(
                "server.listen",
                format!("'{}' is not an address and port such as 127.0.0.1:8080", self.server.listen),
            );
        }
        match url::Url::parse(&self.server.issuer) {
            Ok(u)
                if (u.scheme() == "https" || u.scheme() == "http") && u.query().is_none() && u.fragment().is_none() =>
            {
                if self.server.issuer.ends_with('/') {
                    return bad("server.issuer", "remove the trailing slash".into());
                }
            }
            _ => {
                return bad(
                    "server.issuer",
                    format!(
                        "'{}' must be an http(s) URL with no query or fragment, such as https://id.example.com",
                        self.server.issuer
                    ),
                );
            }
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return bad("database.url", "use sqlite://path/to/file.db or postgres://user@host/db".into());
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1".into());
        }
        if self.state.backend == StateBackend::Redis
            && !(self.state.redis_url.starts_with("redis://") || self.state.redis_url.starts_with("rediss://"))
        {
            return bad("state.redis_url", "use redis://host:6379".into());
        }
        for (key, alg) in
            [("keys.access_token_alg", &self.keys.access_token_alg), ("keys.id_token_alg", &self.keys.id_token_alg)]
        {
            if !ALGORITHMS.contains(&alg.as_str()) {
                return bad(key, format!("'{alg}' is not supported; use one of ES256, RS256, EdDSA"));
            }
        }
        match (self.keys.store.as_str(), &self.keys.encryption_key) {
            ("folder", _) => {}
            ("database", Some(key)) if crate::sealing::SealingKey::from_text(key).is_ok() => {}
            ("database", _) => {
                return bad(
                    "keys.encryption_key",
                    "keys.store = \"database\" needs 64 hex digits (32 random bytes, `openssl rand -hex 32`), \
                     the same on every instance; set TESSERA__KEYS__ENCRYPTION_KEY_FILE to a file holding them"
                        .into(),
                );
            }
            (other, _) => return bad("keys.store", format!("'{other}' is not a key store; use folder or database")),
        }
        let interval = self.keys.rotation_interval_secs;
        if interval != 0 && !(86_400..=365 * 86_400).contains(&interval) {
            return bad(
                "keys.rotation_interval_secs",
                format!("{interval} is out of range; use 0 (never) or 86400 (a day) to 31536000 (a year)"),
            );
        }
        let window = self.keys.publication_window_secs;
        let min_window = crate::keys::MIN_PUBLICATION_WINDOW_SECS as u64;
        if window < min_window {
            return bad(
                "keys.publication_window_secs",
                format!(
                    "{window} is too short; use at least {min_window} seconds. Verifiers may cache the JWKS for {} s \
                     (max-age) plus {} s (stale-while-revalidate), and a running server reads a rotation within {} s: \
                     a new key must be published that long before it signs, or their caches reject its tokens",
                    crate::keys::JWKS_MAX_AGE_SECS,
                    crate::keys::JWKS_STALE_SECS,
                    crate::keys::RELOAD_INTERVAL_SECS,
                ),
            );
        }
        if window > 30 * 86_400 {
            return bad(
                "keys.publication_window_secs",
                format!("{window} is out of range; use at most 2592000 (30 days)"),
            );
        }
        let t = &self.tokens;
        for (key, v, max) in [
            ("tokens.access_token_lifetime_secs", t.access_token_lifetime_secs, 86_400),
            ("tokens.id_token_lifetime_secs", t.id_token_lifetime_secs, 86_400),
            ("tokens.refresh_token_lifetime_secs", t.refresh_token_lifetime_secs, 365 * 86_400),
            ("tokens.authorization_code_lifetime_secs", t.authorization_code_lifetime_secs, 600),
            ("tokens.session_lifetime_secs", t.session_lifetime_secs, 30 * 86_400),
            ("tokens.login_request_lifetime_secs", t.login_request_lifetime_secs, 86_400),
        ] {
            if v == 0 || v > max {
                return bad(key, format!("{v} is out of range; use 1 to {max} seconds"));
            }
        }
        if t.refresh_token_reuse_grace_secs > 300 {
            return bad(
                "tokens.refresh_token_reuse_grace_secs",
                format!("{} is out of range; use 0 (no grace) to 300 seconds", t.refresh_token_reuse_grace_secs),
            );
        }
        self.validate_mail_and_passwords()?;
        if !matches!(self.log.format.as_str(), "json" | "text") {
            return bad("log.format", "use json or text".into());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return bad(
                "log.level",
                format!("'{}' is not a log filter; use info, debug or tessera=debug,info", self.log.level),
            );
        }
        Ok(())
    }

    fn validate_mail_and_passwords(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: String| Err(ConfigError(format!("{key} ({}): {msg}", env_name(key))));
        let m = &self.mail;
        if m.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad("mail.from", format!("'{}' is not an address such as Tessera <no-reply@example.com>", m.from));
        }
        if m.smtp_host.is_empty() || m.smtp_host.chars().any(|c| c.is_whitespace() || c == '/') {
            return bad("mail.smtp_host", "name the SMTP relay, such as smtp.example.com".into());
        }
        if m.transport == MailTransport::Smtp {
            let loopback = matches!(m.smtp_host.as_str(), "localhost" | "127.0.0.1" | "::1" | "[::1]");
            if m.smtp_security == SmtpSecurity::None && !loopback {
                return bad(
                    "mail.smtp_security",
                    "use starttls or tls: without TLS, reset links and the SMTP password cross the network in                      clear (none is allowed for a relay on this machine only)"
                        .into(),
                );
            }
        }
        if m.smtp_username.is_empty() && !m.smtp_password.is_empty() {
            return bad("mail.smtp_username", "a password is set: set the username too, or remove the password".into());
        }
        if m.smtp_timeout_secs == 0 || m.smtp_timeout_secs > 300 {
            return bad("mail.smtp_timeout_secs", format!("{} is out of range; use 1 to 300", m.smtp_timeout_secs));
        }
        let p = &self.passwords;
        for (key, v, min, max) in [
            ("passwords.reset_link_lifetime_secs", p.reset_link_lifetime_secs, 60, 3600),
            ("passwords.throttle_account_free_failures", p.throttle_account_free_failures, 1, 100),
            ("passwords.throttle_address_free_failures", p.throttle_address_free_failures, 1, 100_000),
            ("passwords.throttle_base_delay_secs", p.throttle_base_delay_secs, 1, 3600),
            ("passwords.throttle_max_delay_secs", p.throttle_max_delay_secs, p.throttle_base_delay_secs, 86_400),
            ("passwords.throttle_window_secs", p.throttle_window_secs, 60, 7 * 86_400),
        ] {
            if v < min || v > max {
                return bad(key, format!("{v} is out of range; use {min} to {max}"));
            }
        }
        Ok(())
    }

    pub fn secure_cookies(&self) -> bool {
        self.server.secure_cookies.unwrap_or_else(|| self.server.issuer.starts_with("https://"))
    }
}

/// `TESSERA__SECTION__KEY=value` variables as a TOML layer, from an explicit list (so tests
/// need not touch the process environment). Numbers and booleans are typed; the rest are strings.
fn env_provider(vars: Vec<(String, String)>) -> figment::providers::Data<Toml> {
    let mut doc = String::new();
    for (name, value) in vars {
        let path: Vec<String> =
            name[ENV_PREFIX.len()..].split("__").map(|p| format!("{:?}", p.to_lowercase())).collect();
        let typed = value.parse::<i64>().is_ok() || value == "true" || value == "false";
        let literal = if typed { value } else { serde_json::to_string(&value).unwrap_or_default() };
        doc.push_str(&format!("{} = {}\n", path.join("."), literal));
    }
    Toml::string(&doc)
}

/// `server.listen` -> `TESSERA__SERVER__LISTEN`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

fn explain(e: figment::Error) -> String {
    let mut out = Vec::new();
    for err in e {
        let path = err.path.join(".");
        let msg = match &err.kind {
            figment::error::Kind::UnknownField(field, _) => {
                let key = if path.is_empty() || path.ends_with(field.as_str()) {
                    path.clone()
                } else {
                    format!("{path}.{field}")
                };
                let key = if key.is_empty() { field.clone() } else { key };
                format!("unknown key '{key}': check its spelling against config/tessera.toml")
            }
            _ if path.is_empty() => err.to_string(),
            _ => format!("{path} ({}): {}", env_name(&path), err.kind),
        };
        out.push(msg);
    }
    out.join("; ")
}

fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_valid_and_embedded() {
        let c = Config::load_from(None, &[]).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert!(c.database.url.starts_with("sqlite:"));
        assert_eq!(c.state.backend, StateBackend::Memory);
    }

    #[test]
    fn reference_file_parses_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tessera.toml");
        let c = Config::load_from(Some(&path), &[]).unwrap();
        assert_eq!(format!("{c:?}"), format!("{:?}", Config::default()));
        // Every key of the configuration is documented with its variable.
        let text = std::fs::read_to_string(&path).unwrap();
        let json = serde_json::to_value(Config::default()).unwrap();
        for (section, keys) in json.as_object().unwrap() {
            for key in keys.as_object().unwrap().keys() {
                let dotted = format!("{section}.{key}");
                assert!(text.contains(&format!("# {key} =")), "{dotted} missing from config/tessera.toml");
                assert!(text.contains(&env_name(&dotted)), "{} missing from config/tessera.toml", env_name(&dotted));
            }
        }
    }

    #[test]
    fn file_then_env_then_file_indirection() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "[server]\nlisten = \"0.0.0.0:9000\"\n[tokens]\naccess_token_lifetime_secs = 120\n")
            .unwrap();
        let secret = dir.path().join("db");
        std::fs::write(&secret, "postgres://u:pw@db/tessera\n").unwrap();
        let c = Config::load_from(
            Some(&file),
            &env(&[
                ("TESSERA__TOKENS__ACCESS_TOKEN_LIFETIME_SECS", "60"),
                ("TESSERA__STATE__BACKEND", "redis"),
                ("TESSERA__DATABASE__URL_FILE", secret.to_str().unwrap()),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen, "0.0.0.0:9000");
        assert_eq!(c.tokens.access_token_lifetime_secs, 60);
        assert_eq!(c.state.backend, StateBackend::Redis);
        assert_eq!(c.database.url, "postgres://u:pw@db/tessera");
        assert!(!format!("{c:?}").contains("pw@"), "the password is redacted in Debug");
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let e = Config::load_from(None, &env(&[("TESSERA__SERVER__LISTN", "x")])).unwrap_err();
        assert!(e.0.contains("unknown key 'server.listn'"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "[tokenz]\nx = 1\n").unwrap();
        let e = Config::load_from(Some(&file), &[]).unwrap_err();
        assert!(e.0.contains("tokenz"), "{e}");
    }

    #[test]
    fn smtp_without_tls_only_on_loopback() {
        let smtp = |host: &str| {
            Config::load_from(
                None,
                &env(&[
                    ("TESSERA__MAIL__TRANSPORT", "smtp"),
                    ("TESSERA__MAIL__SMTP_SECURITY", "none"),
                    ("TESSERA__MAIL__SMTP_HOST", host),
                ]),
            )
        };
        let e = smtp("smtp.example.com").unwrap_err();
        assert!(e.0.contains("TESSERA__MAIL__SMTP_SECURITY"), "{e}");
        assert_eq!(smtp("127.0.0.1").unwrap().mail.smtp_port(), 25);
        let c = Config::load_from(
            None,
            &env(&[("TESSERA__MAIL__SMTP_PASSWORD", "hunter22"), ("TESSERA__MAIL__SMTP_USERNAME", "u")]),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter22"), "the SMTP password is redacted in Debug");
    }

    #[test]
    fn invalid_values_say_how_to_fix_them() {
        for (k, v, needle) in [
            ("TESSERA__SERVER__LISTEN", "localhost", "TESSERA__SERVER__LISTEN"),
            ("TESSERA__SERVER__ISSUER", "https://id.example.com/", "trailing slash"),
            ("TESSERA__DATABASE__URL", "mysql://x", "sqlite://"),
            ("TESSERA__KEYS__ACCESS_TOKEN_ALG", "HS256", "ES256, RS256, EdDSA"),
            ("TESSERA__TOKENS__AUTHORIZATION_CODE_LIFETIME_SECS", "3600", "1 to 600"),
            ("TESSERA__STATE__BACKEND", "memcached", "state.backend"),
            ("TESSERA__TOKENS__ACCESS_TOKEN_LIFETIME_SECS", "five", "access_token_lifetime_secs"),
            ("TESSERA__KEYS__PUBLICATION_WINDOW_SECS", "300", "stale-while-revalidate"),
            ("TESSERA__KEYS__PUBLICATION_WINDOW_SECS", "360", "at least 420 seconds"),
            ("TESSERA__MAIL__FROM", "not an address", "mail.from"),
            ("TESSERA__MAIL__SMTP_HOST", "smtp example.com", "mail.smtp_host"),
            ("TESSERA__MAIL__SMTP_PASSWORD", "pw", "set the username too"),
            ("TESSERA__PASSWORDS__RESET_LINK_LIFETIME_SECS", "86400", "60 to 3600"),
            ("TESSERA__PASSWORDS__THROTTLE_MAX_DELAY_SECS", "0", "throttle_max_delay_secs"),
            ("TESSERA__KEYS__STORE", "vault", "folder or database"),
            ("TESSERA__KEYS__STORE", "database", "TESSERA__KEYS__ENCRYPTION_KEY_FILE"),
            ("TESSERA__KEYS__ROTATION_INTERVAL_SECS", "60", "86400"),
        ] {
            let e = Config::load_from(None, &env(&[(k, v)])).unwrap_err();
            assert!(e.0.contains(needle), "{k}={v}: {e}");
        }
        let e = Config::load_from(None, &env(&[("TESSERA__DATABASE__URL_FILE", "/nonexistent/x")])).unwrap_err();
        assert!(e.0.contains("cannot be read"), "{e}");
    }
}
