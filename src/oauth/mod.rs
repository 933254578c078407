//! The protocol engine: OAuth 2.0 and OpenID Connect flows as plain functions over plain
//! request structs. It knows nothing of axum; `crate::http` translates HTTP to it and back.

pub mod api_token;
pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod downscope;
pub mod epochs;
pub mod error;
pub mod foreign_jwt;
pub mod grants;
pub mod introspect;
pub mod logout;
pub mod remote_jwks;
pub mod revoke;
pub mod session;
pub mod tokens;
pub mod userinfo;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub use error::{ErrorCode, OAuthError, OAuthResult};

use crate::config::Config;
use crate::keys::{Alg, KeySet, SharedKeys};
use crate::kv::Kv;
use crate::store::{Client, Stores};

/// The scopes Tessera itself understands; clients may be allowed further API scopes.
pub const OIDC_SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "groups"];

/// Protocol settings derived from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub issuer: String,
    pub access_token_ttl: Duration,
    pub id_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long after a rotation the replaced refresh token still rotates (a retry).
    pub refresh_token_reuse_grace: Duration,
    pub code_ttl: Duration,
    pub session_ttl: Duration,
    pub login_request_ttl: Duration,
    pub default_access_alg: Alg,
    pub default_id_alg: Alg,
    /// Where requests to configured URLs may go.
    pub outbound: crate::outbound::Policy,
}

impl Settings {
    pub fn from_config(c: &Config) -> Self {
        let t = &c.tokens;
        Self {
            issuer: c.server.issuer.clone(),
            access_token_ttl: Duration::from_secs(t.access_token_lifetime_secs),
            id_token_ttl: Duration::from_secs(t.id_token_lifetime_secs),
            refresh_token_ttl: Duration::from_secs(t.refresh_token_lifetime_secs),
            refresh_token_reuse_grace: Duration::from_secs(t.refresh_token_reuse_grace_secs),
            code_ttl: Duration::from_secs(t.authorization_code_lifetime_secs),
            session_ttl: Duration::from_secs(t.session_lifetime_secs),
            login_request_ttl: Duration::from_secs(t.login_request_lifetime_secs),
            default_access_alg: Alg::parse(&c.keys.access_token_alg).unwrap_or(Alg::ES256),
            default_id_alg: Alg::parse(&c.keys.id_token_alg).unwrap_or(Alg::RS256),
            outbound: crate::outbound::Policy { allow_private_networks: c.outbound.allow_private_networks },
        }
    }

    /// An endpoint URL under the issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// The provider: settings, keys, stores and short-lived state.
pub struct Provider {
    pub settings: Settings,
    /// The signing keys; `keys.current()` for the set in force. A running server replaces
    /// it when the keyring changes on disk.
    pub keys: SharedKeys,
    pub stores: Stores,
    pub kv: Arc<dyn Kv>,
    clients: ClientCache,
    /// External issuers' keys (workload identity).
    pub remote_jwks: remote_jwks::RemoteJwks,
    /// Prometheus figures of this server (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Upstream OpenID providers (federation): discovery cache, HTTP client, sealing key.
    pub federation: crate::federation::Upstreams,
}

impl Provider {
    pub fn new(settings: Settings, keys: Arc<KeySet>, stores: Stores, kv: Arc<dyn Kv>) -> Self {
        Self {
            remote_jwks: remote_jwks::RemoteJwks::new(settings.outbound),
            federation: crate::federation::Upstreams::new(settings.outbound),
            settings,
            keys: SharedKeys::new(keys),
            stores,
            kv,
            clients: ClientCache::default(),
            metrics: Default::default(),
        }
    }

    /// Looks a client up, through a short cache: the token endpoint's hot path must not wait
    /// on the database for every request. Changes through this process invalidate at once;
    /// changes made elsewhere (the CLI on the database) are seen within [`CLIENT_CACHE_TTL`].
    pub async fn client(&self, client_id: &str) -> OAuthResult<Option<Arc<Client>>> {
        if let Some(c) = self.clients.get(client_id) {
            return Ok(Some(c));
        }
        match self.stores.clients.find_client(client_id).await? {
            Some(c) => {
                let c = Arc::new(c);
                self.clients.put(c.clone());
                Ok(Some(c))
            }
            None => Ok(None),
        }
    }

    /// A client from the cache only (no database read).
    pub fn cached_client(&self, client_id: &str) -> Option<Arc<Client>> {
        self.clients.get(client_id)
    }

    /// Drops a cached client after it changed.
    pub fn forget_client(&self, client_id: &str) {
        self.clients.remove(client_id);
    }

    /// Whether a user may use the clients of `tenant_id`: access to the tenant (directly,
    /// through a group or a binding) or the Instance Admin role.
    /// An instance-wide client (tenant `*`, the built-in console) may be used by anyone with
    /// access to some tenant.
    pub async fn user_may_use(&self, tenant_id: &str, user_id: &str) -> OAuthResult<bool> {
        use crate::store::MemberKind;
        if tenant_id == crate::store::INSTANCE_SCOPE {
            return Ok(!self.stores.access.tenants_of(MemberKind::User, user_id).await?.is_empty()
                || self.stores.instance_admins.is_instance_admin(MemberKind::User, user_id).await?);
        }
        Ok(self.stores.access.has_access(tenant_id, MemberKind::User, user_id).await?
            || self.stores.instance_admins.is_instance_admin(MemberKind::User, user_id).await?)
    }

    /// The user a token or grant names, if it still exists, is enabled, and may still use the
    /// tenant.
    pub async fn active_user(&self, tenant_id: &str, user_id: &str) -> OAuthResult<Option<crate::store::User>> {
        match self.stores.users.get_user_any(user_id).await? {
            Some(u) if !u.disabled && self.user_may_use(tenant_id, user_id).await? => Ok(Some(u)),
            _ => Ok(None),
        }
    }

    /// The access-token algorithm of a client.
    pub fn access_alg(&self, client: &Client) -> Alg {
        Alg::parse(&client.access_token_alg).unwrap_or(self.settings.default_access_alg)
    }

    /// The ID-token algorithm of a client.
    pub fn id_alg(&self, client: &Client) -> Alg {
        Alg::parse(&client.id_token_alg).unwrap_or(self.settings.default_id_alg)
    }
}

pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(10);
const CLIENT_CACHE_MAX: usize = 10_000;

#[derive(Default)]
struct ClientCache {
    map: RwLock<HashMap<String, (Arc<Client>, Instant)>>,
}

impl ClientCache {
    fn get(&self, id: &str) -> Option<Arc<Client>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(id).filter(|(_, at)| at.elapsed() < CLIENT_CACHE_TTL).map(|(c, _)| c.clone())
    }
    fn put(&self, c: Arc<Client>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CLIENT_CACHE_MAX {
            map.retain(|_, (_, at)| at.elapsed() < CLIENT_CACHE_TTL);
            if map.len() >= CLIENT_CACHE_MAX {
                map.clear();
            }
        }
        map.insert(c.client_id.clone(), (c, Instant::now()));
    }
    fn remove(&self, id: &str) {
        self.map.write().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// Splits a space-delimited scope string (RFC 6749 section 3.3), rejecting bad characters.
pub fn parse_scope(scope: Option<&str>) -> OAuthResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)) {
            return Err(OAuthError::invalid_scope("scope contains an invalid character"));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// The audience of an access token: the single requested resource (RFC 8707), which the
/// client must be allowed, else the client's default audience, else the client itself.
pub fn resolve_audience(client: &Client, resources: &[String]) -> OAuthResult<String> {
    match resources {
        [] => Ok(client.default_audience.clone().unwrap_or_else(|| client.client_id.clone())),
        [one] => {
            let parsed = url::Url::parse(one)
                .map_err(|_| OAuthError::new(ErrorCode::InvalidTarget, "resource must be an absolute URI"))?;
            if parsed.fragment().is_some() {
                return Err(OAuthError::new(ErrorCode::InvalidTarget, "resource must not contain a fragment"));
            }
            if client.allowed_audiences.iter().any(|a| a == one)
                || client.default_audience.as_deref() == Some(one.as_str())
            {
                Ok(one.clone())
            } else {
                Err(OAuthError::new(ErrorCode::InvalidTarget, "this client may not request tokens for that resource"))
            }
        }
        _ => Err(OAuthError::new(ErrorCode::InvalidTarget, "request one resource per token")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parsing() {
        assert_eq!(parse_scope(Some("openid  profile openid")).unwrap(), vec!["openid", "profile"]);
        assert!(parse_scope(Some("a\"b")).is_err());
        assert!(parse_scope(None).unwrap().is_empty());
    }
}
