//! Sign-in sessions (single sign-on across clients), kept in the short-lived state store under
//! the SHA-256 of the cookie value, so a leak of the store does not leak usable cookies.

use serde::{Deserialize, Serialize};

use super::{OAuthResult, Provider};
use crate::crypto::{hash_secret, random_token};

/// The cookie that carries the session id.
pub const SESSION_COOKIE: &str = "tessera_session";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// A public id of the session (the `sid` claim), unrelated to the cookie value.
    pub sid: String,
    /// The user's home tenant (sessions are instance-wide; access to a client's tenant is
    /// checked at each authorization).
    pub tenant_id: String,
    pub user_id: String,
    /// When the user last authenticated (unix seconds): `auth_time`.
    pub auth_time: i64,
    /// How: `pwd`, `hwk`, `fed`.
    pub amr: Vec<String>,
    /// Set when the person signed in through an upstream provider: ending this session also
    /// ends the upstream one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<crate::federation::UpstreamSession>,
}

fn key(cookie: &str) -> String {
    format!("session:{}", hash_secret(cookie))
}

/// Starts a session and returns the cookie value to set. A new id every time: a session
/// cookie planted before sign-in is never promoted (no session fixation).
pub async fn create(
    p: &Provider,
    tenant_id: &str,
    user_id: &str,
    amr: &[&str],
    now: i64,
) -> OAuthResult<(String, Session)> {
    create_with(p, tenant_id, user_id, amr, None, now).await
}

/// [`create`], for a person who signed in through an upstream provider.
pub async fn create_with(
    p: &Provider,
    tenant_id: &str,
    user_id: &str,
    amr: &[&str],
    upstream: Option<crate::federation::UpstreamSession>,
    now: i64,
) -> OAuthResult<(String, Session)> {
    let cookie = random_token(32);
    let session = Session {
        sid: random_token(16),
        tenant_id: tenant_id.to_string(),
        user_id: user_id.to_string(),
        auth_time: now,
        amr: amr.iter().map(|s| s.to_string()).collect(),
        upstream,
    };
    let value = serde_json::to_vec(&session).map_err(super::OAuthError::server_error)?;
    p.kv.put(&key(&cookie), &value, p.settings.session_ttl).await?;
    Ok((cookie, session))
}

/// The session a cookie names, if it is still alive and its user still may sign in.
pub async fn lookup(p: &Provider, cookie: Option<&str>) -> OAuthResult<Option<Session>> {
    let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 128) else { return Ok(None) };
    let Some(raw) = p.kv.get(&key(cookie)).await? else { return Ok(None) };
    let Ok(session) = serde_json::from_slice::<Session>(&raw) else { return Ok(None) };
    match p.stores.users.get_user_any(&session.user_id).await? {
        Some(u) if !u.disabled => Ok(Some(session)),
        _ => Ok(None),
    }
}

/// Ends the session the cookie names.
pub async fn destroy(p: &Provider, cookie: &str) -> OAuthResult<()> {
    p.kv.delete(&key(cookie)).await?;
    Ok(())
}
