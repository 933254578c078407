//! The `tessera` command line: `serve`, `migrate`, and admin commands that work directly on
//! the database named by the configuration.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::config::Config;
use crate::crypto::{hash_secret, now, random_token};
use crate::keys::{Alg, KeyFolder, KeyInfo, KeyPolicy, Rotation, format_utc};
use crate::server::{self, BoxError};
use crate::store::{Client, ClientAuthMethod, DEFAULT_TENANT, User};

#[derive(Parser, Debug)]
#[command(name = "tessera", version, about = "Tessera: OpenID Connect provider and OAuth 2.0 token issuer")]
pub struct Cli {
    /// Configuration file (TOML). Environment variables TESSERA__SECTION__KEY override it.
    #[arg(short, long, global = true, env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCmd),
    /// Manage local users.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Administration, as Kestra's CLI: `tessera auths users create --tenant-admin prod …`,
    /// tenants, groups, roles, bindings, service accounts and their credentials, workload
    /// identities; on the database, or on a running server with --server URL and --token T
    /// (an access token or a service account's API token) or --user name:password.
    Auths(Auths),
    /// Service accounts and their API tokens and clients: the same as `tessera auths
    /// service-accounts …`, e.g. `tessera service-accounts tokens create --tenant T
    /// --service-account SA --name ci`.
    #[command(name = "service-accounts")]
    ServiceAccounts(ServiceAccounts),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Signing keys: rotate them without breaking verifiers, and list them.
    #[command(subcommand)]
    Keys(KeysCmd),
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Publish a new signing key in the JWKS now and sign with it once the publication window
    /// has passed; the key it replaces keeps verifying until every token it signed has
    /// expired. Running servers pick the change up within 30 s, without a restart.
    Rotate {
        /// The algorithm whose key to rotate.
        #[arg(long, value_enum, ignore_case = true, default_value = "all")]
        alg: AlgArg,
        /// Seconds from publication to signing (default: keys.publication_window_secs; at least 420).
        #[arg(long)]
        publication_window_secs: Option<u64>,
    },
    /// Show every key: kid, algorithm, state (next, active, retired, expired), when it
    /// activates and when it leaves the JWKS.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AlgArg {
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "EdDSA")]
    EdDsa,
    /// Every algorithm.
    All,
}

impl AlgArg {
    fn algs(self) -> Vec<Alg> {
        match self {
            AlgArg::Es256 => vec![Alg::ES256],
            AlgArg::Rs256 => vec![Alg::RS256],
            AlgArg::EdDsa => vec![Alg::EdDSA],
            AlgArg::All => Alg::ALL.to_vec(),
        }
    }
}

#[derive(Args, Debug)]
pub struct Auths {
    #[command(flatten)]
    pub remote: crate::cli_admin::Remote,
    #[command(subcommand)]
    pub cmd: AuthsCmd,
}

/// `tessera service-accounts …`: `tessera auths service-accounts …` at the top level.
#[derive(Args, Debug)]
pub struct ServiceAccounts {
    #[command(flatten)]
    pub remote: crate::cli_admin::Remote,
    #[command(subcommand)]
    pub cmd: crate::cli_admin::ServiceAccountsCmd,
}

#[derive(Subcommand, Debug)]
pub enum AuthsCmd {
    /// Users and their administrator roles.
    #[command(subcommand)]
    Users(AuthsUsersCmd),
    #[command(flatten)]
    Api(crate::cli_admin::ApiCmd),
}

#[derive(Subcommand, Debug)]
pub enum AuthsUsersCmd {
    /// Create a user, optionally as Tenant Admin of a tenant (created if missing) or as an
    /// Instance Admin. Works directly on the database named by the configuration.
    Create {
        #[arg(long)]
        username: String,
        /// The password (prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Make the user Tenant Admin of this tenant (created if it does not exist).
        #[arg(long, value_name = "TENANT")]
        tenant_admin: Option<String>,
        /// Make the user an Instance Admin (every tenant, and managing tenants).
        #[arg(long)]
        instance_admin: bool,
    },
    /// The users with access to a tenant.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Find a user of the instance by exact email (to invite them).
    Lookup {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
    },
    /// Remove a user's access to a tenant (the identity stays).
    Remove {
        #[arg(long)]
        tenant: String,
        id: String,
    },
    /// Send a mandatory change-password request.
    RequirePasswordChange {
        #[arg(long)]
        tenant: String,
        id: String,
    },
}

impl AuthsUsersCmd {
    /// The admin API call of the commands other than `create`.
    fn api(self) -> Option<crate::cli_admin::ApiCmd> {
        use crate::cli_admin::ApiCmd::Api;
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        match self {
            AuthsUsersCmd::Create { .. } => None,
            AuthsUsersCmd::List { tenant } => {
                Some(Api { method: "GET".into(), path: format!("/{}/users", enc(&tenant)), data: None })
            }
            AuthsUsersCmd::Lookup { tenant, email } => Some(Api {
                method: "GET".into(),
                path: format!("/{}/users/lookup?email={}", enc(&tenant), enc(&email)),
                data: None,
            }),
            AuthsUsersCmd::Remove { tenant, id } => {
                Some(Api { method: "DELETE".into(), path: format!("/{}/users/{}", enc(&tenant), enc(&id)), data: None })
            }
            AuthsUsersCmd::RequirePasswordChange { tenant, id } => Some(Api {
                method: "POST".into(),
                path: format!("/{}/users/{}/password-change-request", enc(&tenant), enc(&id)),
                data: None,
            }),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Recompute the audit log's hash chain; fails naming the first entry that does not verify.
    Verify,
}

#[derive(Subcommand, Debug)]
pub enum ClientsCmd {
    /// Register a client; a confidential client's secret is printed once.
    Create(Box<CreateClient>),
    /// List the clients of a tenant.
    List {
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
    },
    /// Delete a client.
    Delete {
        client_id: String,
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AuthMethodArg {
    /// HTTP Basic authentication with the client secret (default for confidential clients).
    Basic,
    /// client_id and client_secret in the form body.
    Post,
}

#[derive(Args, Debug)]
pub struct CreateClient {
    /// A display name, shown on the login and consent pages.
    #[arg(long)]
    pub name: String,
    /// The client id (default: generated).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Redirect URI, compared exactly (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required), such as a SPA or a CLI.
    #[arg(long)]
    pub public: bool,
    /// How a confidential client authenticates.
    #[arg(long, value_enum, default_value = "basic")]
    pub auth_method: AuthMethodArg,
    /// Allowed grant types (repeatable; default: authorization_code and refresh_token, plus
    /// client_credentials for confidential clients). Also
    /// urn:ietf:params:oauth:grant-type:token-exchange (or its short name token-exchange).
    #[arg(long = "grant")]
    pub grants: Vec<String>,
    /// Allowed scopes (repeatable; default: openid profile email offline_access).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Skip the consent page (unless offline_access is asked).
    #[arg(long)]
    pub first_party: bool,
    /// Audience of access tokens when no resource is requested (default: the client id).
    #[arg(long)]
    pub audience: Option<String>,
    /// Further resource indicators the client may request (repeatable).
    #[arg(long = "allowed-audience")]
    pub allowed_audiences: Vec<String>,
    /// Access-token algorithm: ES256, RS256 or EdDSA (default: keys.access_token_alg).
    #[arg(long)]
    pub access_token_alg: Option<String>,
    /// ID-token algorithm (default: keys.id_token_alg).
    #[arg(long)]
    pub id_token_alg: Option<String>,
    #[arg(long, default_value = DEFAULT_TENANT)]
    pub tenant: String,
}

#[derive(Subcommand, Debug)]
pub enum UsersCmd {
    /// Create a local user.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// The password (visible in the process list and shell history: prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
    },
    /// List the users of a tenant.
    List {
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
    },
    /// Delete a user.
    Delete {
        user_id: String,
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
    },
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> Result<(), BoxError> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => {
            server::init_logging(&config);
            server::serve(config).await
        }
        Command::Migrate => {
            server::open_stores(&config).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Clients(cmd) => clients(&config, cmd).await,
        Command::Users(cmd) => users(&config, cmd).await,
        Command::Auths(Auths { remote, cmd }) => match cmd {
            AuthsCmd::Users(c @ AuthsUsersCmd::Create { .. }) => {
                if remote.server.is_some() {
                    return Err(
                        "users create sets a password: run it on the server's database (without --server)".into()
                    );
                }
                auths_users(&config, c).await
            }
            AuthsCmd::Users(c) => crate::cli_admin::run(&config, &remote, c.api().expect("not create")).await,
            AuthsCmd::Api(c) => crate::cli_admin::run(&config, &remote, c).await,
        },
        Command::ServiceAccounts(ServiceAccounts { remote, cmd }) => {
            crate::cli_admin::run(&config, &remote, crate::cli_admin::ApiCmd::ServiceAccounts(cmd)).await
        }
        Command::Keys(cmd) if config.keys.store == "database" => keys_in_database(&config, cmd).await,
        Command::Keys(cmd) => keys(&config, cmd),
        Command::Audit(AuditCmd::Verify) => {
            let stores = server::open_stores(&config).await?;
            match stores.audit.verify_audit().await? {
                Ok(n) => {
                    println!("audit log verified: {n} entries, chain intact");
                    Ok(())
                }
                Err(broken) => Err(format!("{broken}").into()),
            }
        }
    }
}

/// `tessera keys …`: works on the keys folder only. Never prints a private key.
fn keys(config: &Config, cmd: KeysCmd) -> Result<(), BoxError> {
    let policy = KeyPolicy::from_config(config);
    let folder = KeyFolder::new(&config.keys.dir, policy);
    match cmd {
        KeysCmd::Rotate { alg, publication_window_secs } => {
            let window = publication_window_secs.map_or(policy.publication_window_secs, |w| w as i64);
            let rotation = folder.rotate(&alg.algs(), window, now())?;
            print!("{}", rotation_text(&rotation));
        }
        KeysCmd::List { json } => {
            let list = folder.list(now())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
            } else if list.is_empty() {
                println!("no keys in {}: they are generated on first start", folder.dir().display());
            } else {
                print!("{}", key_table(&list));
            }
        }
    }
    Ok(())
}

/// `tessera keys …` with `keys.store = "database"`: the same commands on the shared rows.
/// A rotation racing another instance's is refused, and changes nothing.
async fn keys_in_database(config: &Config, cmd: KeysCmd) -> Result<(), BoxError> {
    let stores = server::open_stores(config).await?;
    let db = crate::keys::db::KeyDb::from_config(config, stores.signing_keys.clone())?;
    match cmd {
        KeysCmd::Rotate { alg, publication_window_secs } => {
            let window = publication_window_secs.map_or(db.policy().publication_window_secs, |w| w as i64);
            let rotation = db.rotate(&alg.algs(), window, now()).await?;
            print!("{}", rotation_text(&rotation));
        }
        KeysCmd::List { json } => {
            let list = db.list(now()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
            } else if list.is_empty() {
                println!("no keys in the database: they are generated on first start");
            } else {
                print!("{}", key_table(&list));
            }
        }
    }
    Ok(())
}

fn when(ts: i64) -> String {
    if ts <= 0 { "-".into() } else { format_utc(ts) }
}

/// What a rotation did, for people: kids, activation and retirement times.
pub fn rotation_text(r: &Rotation) -> String {
    let mut out = String::new();
    for k in &r.added {
        let m = &k.meta;
        if m.activate_at > r.now {
            out.push_str(&format!(
                "{:<5}  new key {}: in the JWKS now, signs from {} (in {} s)\n",
                m.alg.as_str(),
                m.kid,
                format_utc(m.activate_at),
                m.activate_at - r.now
            ));
        } else {
            out.push_str(&format!("{:<5}  new key {}: there was none, signs now\n", m.alg.as_str(), m.kid));
        }
        if let Some(old) = r.replaced.iter().find(|o| o.meta.alg == m.alg) {
            out.push_str(&format!(
                "       replaces {}, which signs until then and verifies until {}, then leaves the JWKS\n",
                old.meta.kid,
                old.retire_at.map_or_else(|| "-".into(), format_utc)
            ));
        }
    }
    for m in &r.removed {
        out.push_str(&format!(
            "{:<5}  removed expired key {} (its tokens have all expired; {} deleted)\n",
            m.alg.as_str(),
            m.kid,
            m.file
        ));
    }
    out.push_str(&format!(
        "Running servers load the keyring within {} s; `tessera keys list` shows the schedule.\n",
        crate::keys::RELOAD_INTERVAL_SECS
    ));
    out
}

/// The keys as a table: algorithm, state, kid, activation and retirement times.
pub fn key_table(keys: &[KeyInfo]) -> String {
    let mut out = format!("{:<6} {:<8} {:<43} {:<20} {}\n", "ALG", "STATE", "KID", "ACTIVATES", "LEAVES JWKS");
    for k in keys {
        out.push_str(&format!(
            "{:<6} {:<8} {:<43} {:<20} {}\n",
            k.meta.alg.as_str(),
            k.state.as_str(),
            k.meta.kid,
            when(k.meta.activate_at),
            k.retire_at.map_or_else(|| "-".into(), format_utc)
        ));
    }
    out
}

fn print(v: serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

/// Checks a redirect URI: absolute, no fragment, https unless it is a loopback or a private
/// scheme of a native app (RFC 8252, RFC 9700 section 2.1).
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let u = url::Url::parse(uri).map_err(|_| format!("'{uri}' is not an absolute URI"))?;
    if u.fragment().is_some() {
        return Err(format!("'{uri}' must not contain a fragment"));
    }
    if u.scheme() == "http" {
        let host = u.host_str().unwrap_or("");
        if !(host == "localhost" || host == "127.0.0.1" || host == "[::1]") {
            return Err(format!("'{uri}' must use https (plain http is only allowed on loopback addresses)"));
        }
    }
    if matches!(u.scheme(), "javascript" | "data" | "file") {
        return Err(format!("'{uri}' uses a forbidden scheme"));
    }
    Ok(())
}

/// Builds a client from the command's arguments; returns it and its secret (if confidential).
pub fn build_client(config: &Config, a: &CreateClient) -> Result<(Client, Option<String>), String> {
    for uri in a.redirect_uris.iter().chain(&a.post_logout_redirect_uris) {
        check_redirect_uri(uri)?;
    }
    use crate::oauth::grants::token_exchange::GRANT_TYPE as TOKEN_EXCHANGE;
    let grants = if a.grants.is_empty() {
        let mut g = vec!["authorization_code".to_string(), "refresh_token".to_string()];
        if !a.public {
            g.push("client_credentials".into());
        }
        g
    } else {
        // The short name is stored as the URN, the grant_type the token endpoint receives.
        let mut g: Vec<String> = Vec::new();
        for name in &a.grants {
            let name = if name == "token-exchange" { TOKEN_EXCHANGE } else { name.as_str() };
            if !g.iter().any(|x| x == name) {
                g.push(name.to_string());
            }
        }
        g
    };
    for g in &grants {
        if !matches!(g.as_str(), "authorization_code" | "refresh_token" | "client_credentials" | TOKEN_EXCHANGE) {
            return Err(format!(
                "unknown grant '{g}': use authorization_code, refresh_token, client_credentials or token-exchange \
                 ({TOKEN_EXCHANGE})"
            ));
        }
    }
    if a.public && grants.iter().any(|g| g == "client_credentials") {
        return Err("a public client cannot use client_credentials".into());
    }
    if grants.iter().any(|g| g == "authorization_code") && a.redirect_uris.is_empty() {
        return Err("the authorization_code grant needs at least one --redirect-uri".into());
    }
    for alg in [&a.access_token_alg, &a.id_token_alg].into_iter().flatten() {
        if crate::keys::Alg::parse(alg).is_none() {
            return Err(format!("unknown algorithm '{alg}': use ES256, RS256 or EdDSA"));
        }
    }
    let scopes = if a.scopes.is_empty() {
        crate::oauth::OIDC_SCOPES.iter().map(|s| s.to_string()).collect()
    } else {
        a.scopes.clone()
    };
    let client_id = a.client_id.clone().unwrap_or_else(|| random_token(12));
    if client_id.is_empty() || client_id.len() > 128 || client_id.contains(':') {
        return Err("the client id must be 1 to 128 characters without ':'".into());
    }
    let secret = (!a.public).then(|| random_token(32));
    let client = Client {
        tenant_id: a.tenant.clone(),
        client_id,
        name: a.name.clone(),
        secret_hash: secret.as_deref().map(hash_secret),
        auth_method: match (a.public, a.auth_method) {
            (true, _) => ClientAuthMethod::None,
            (false, AuthMethodArg::Basic) => ClientAuthMethod::ClientSecretBasic,
            (false, AuthMethodArg::Post) => ClientAuthMethod::ClientSecretPost,
        },
        redirect_uris: a.redirect_uris.clone(),
        post_logout_redirect_uris: a.post_logout_redirect_uris.clone(),
        grant_types: grants,
        scopes,
        first_party: a.first_party,
        access_token_alg: a.access_token_alg.clone().unwrap_or_else(|| config.keys.access_token_alg.clone()),
        id_token_alg: a.id_token_alg.clone().unwrap_or_else(|| config.keys.id_token_alg.clone()),
        default_audience: a.audience.clone(),
        allowed_audiences: a.allowed_audiences.clone(),
        created_at: now(),
        service_account_id: None,
        jwks: None,
    };
    Ok((client, secret))
}

fn client_json(c: &Client) -> serde_json::Value {
    json!({
        "client_id": c.client_id,
        "tenant": c.tenant_id,
        "name": c.name,
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types,
        "scopes": c.scopes,
        "first_party": c.first_party,
        "access_token_alg": c.access_token_alg,
        "id_token_alg": c.id_token_alg,
        "audience": c.default_audience.clone().unwrap_or_else(|| c.client_id.clone()),
    })
}

async fn clients(config: &Config, cmd: ClientsCmd) -> Result<(), BoxError> {
    let stores = server::open_stores(config).await?;
    match cmd {
        ClientsCmd::Create(a) => {
            let (client, secret) = build_client(config, &a)?;
            stores.clients.create_client(&client).await?;
            cli_audit(
                &stores,
                &client.tenant_id,
                "client.create",
                format!("client:{}", client.client_id),
                json!({ "name": client.name }),
            )
            .await?;
            let mut out = client_json(&client);
            if let Some(s) = secret {
                out["client_secret"] = s.into();
                eprintln!("The client secret is shown once: store it now.");
            }
            print(out);
        }
        ClientsCmd::List { tenant } => {
            let list = stores.clients.list_clients(&tenant).await?;
            print(serde_json::Value::Array(list.iter().map(client_json).collect()));
        }
        ClientsCmd::Delete { client_id, tenant } => {
            stores.clients.delete_client(&tenant, &client_id).await?;
            cli_audit(&stores, &tenant, "client.delete", format!("client:{client_id}"), json!({})).await?;
            eprintln!("client {client_id} deleted");
        }
    }
    Ok(())
}

/// Records an admin change made from the command line (directly on the database).
async fn cli_audit(
    stores: &crate::store::Stores,
    tenant: &str,
    action: &str,
    target: String,
    summary: serde_json::Value,
) -> Result<(), BoxError> {
    let entry = crate::store::NewAuditEntry {
        tenant_id: tenant.to_string(),
        id: random_token(16),
        at: now(),
        actor: "cli".into(),
        action: action.into(),
        target,
        summary,
        request_id: None,
        client_addr: None,
    };
    stores.audit.append_batch(&[entry]).await?;
    Ok(())
}

fn read_password(password: Option<String>, stdin: bool) -> Result<Option<String>, BoxError> {
    if stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        return Ok(Some(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(password)
}

/// The username and email of a new user, trimmed and checked by the canonical-identity rule
/// ([`crate::identity`]) before anything is opened; a refusal says which and why.
fn checked_identity(username: &str, email: Option<String>) -> Result<(String, Option<String>), BoxError> {
    let username = username.trim();
    crate::identity::canonical_username(username).map_err(|why| format!("username: {why}"))?;
    let email = email.map(|e| e.trim().to_string());
    if let Some(e) = &email {
        crate::identity::canonical_email(e).map_err(|why| format!("email: {why}"))?;
    }
    Ok((username.to_string(), email))
}

async fn auths_users(config: &Config, cmd: AuthsUsersCmd) -> Result<(), BoxError> {
    let AuthsUsersCmd::Create { username, password, password_stdin, email, name, tenant_admin, instance_admin } = cmd
    else {
        return Err("not a create command".into());
    };
    let (username, email) = checked_identity(&username, email)?;
    let stores = server::open_stores(config).await?;
    let password = read_password(password, password_stdin)?;
    if let Some(p) = &password
        && let Err(msg) = crate::password::check_policy(p)
    {
        eprintln!("warning: {msg}; the user should change it");
    }
    let home = tenant_admin.clone().unwrap_or_else(|| DEFAULT_TENANT.to_string());
    if let Some(t) = &tenant_admin
        && stores.tenants.get_tenant(t).await?.is_none()
    {
        let tenant =
            crate::store::Tenant { id: t.clone(), name: t.clone(), created_at: now(), created_by: Some("cli".into()) };
        stores.tenants.create_tenant(&tenant).await?;
        cli_audit(&stores, t, "tenant.create", format!("tenant:{t}"), json!({})).await?;
        eprintln!("tenant {t} created");
    }
    let user = User {
        tenant_id: home.clone(),
        id: random_token(12),
        username,
        email,
        email_verified: false,
        name,
        password_hash: password.as_deref().map(crate::password::hash_password),
        disabled: false,
        password_change_required: password.is_none(),
        created_at: now(),
    };
    stores.users.create_user(&user).await?;
    cli_audit(&stores, &home, "user.create", format!("user:{}", user.id), json!({ "username": user.username })).await?;
    if let Some(t) = &tenant_admin {
        let binding = crate::store::Binding {
            tenant_id: t.clone(),
            id: random_token(12),
            role_id: crate::store::TENANT_ADMIN_ROLE_ID.into(),
            principal_kind: crate::store::PrincipalKind::User,
            principal_id: user.id.clone(),
            namespaces: vec![],
            created_at: now(),
            created_by: Some("cli".into()),
        };
        stores.bindings.create_binding(&binding).await?;
        cli_audit(
            &stores,
            t,
            "binding.create",
            format!("binding:{}", binding.id),
            json!({ "role_id": "admin", "principal": format!("user:{}", user.id) }),
        )
        .await?;
    }
    if instance_admin {
        stores.instance_admins.grant_instance_admin(crate::store::MemberKind::User, &user.id, now()).await?;
        cli_audit(
            &stores,
            crate::store::INSTANCE_SCOPE,
            "instance_admin.grant",
            format!("user:{}", user.id),
            json!({}),
        )
        .await?;
    }
    let mut out = user_json(&user);
    out["tenant_admin"] = tenant_admin.into();
    out["instance_admin"] = instance_admin.into();
    print(out);
    Ok(())
}

fn user_json(u: &User) -> serde_json::Value {
    json!({ "id": u.id, "tenant": u.tenant_id, "username": u.username, "email": u.email, "name": u.name, "disabled": u.disabled })
}

async fn users(config: &Config, cmd: UsersCmd) -> Result<(), BoxError> {
    let stores = server::open_stores(config).await?;
    match cmd {
        UsersCmd::Create { username, email, name, password, password_stdin, tenant } => {
            let (username, email) = checked_identity(&username, email)?;
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                Some(s.trim_end_matches(['\n', '\r']).to_string())
            } else {
                password
            };
            if let Some(p) = &password
                && let Err(msg) = crate::password::check_policy(p)
            {
                eprintln!("warning: {msg}; the user should change it");
            }
            let user = User {
                tenant_id: tenant,
                id: random_token(12),
                username,
                email,
                email_verified: false,
                name,
                password_hash: password.as_deref().map(crate::password::hash_password),
                disabled: false,
                password_change_required: false,
                created_at: now(),
            };
            stores.users.create_user(&user).await?;
            cli_audit(
                &stores,
                &user.tenant_id,
                "user.create",
                format!("user:{}", user.id),
                json!({ "username": user.username }),
            )
            .await?;
            print(user_json(&user));
        }
        UsersCmd::List { tenant } => {
            let list = stores.users.list_users(&tenant).await?;
            print(serde_json::Value::Array(list.iter().map(user_json).collect()));
        }
        UsersCmd::Delete { user_id, tenant } => {
            stores.users.delete_user(&tenant, &user_id).await?;
            cli_audit(&stores, &tenant, "user.delete", format!("user:{user_id}"), json!({})).await?;
            eprintln!("user {user_id} deleted");
        }
    }
    Ok(())
}
