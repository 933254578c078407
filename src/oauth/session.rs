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
    /// When this session started (unix milliseconds): a password change after it ends it.
    #[serde(default)]
    pub started_ms: i64,
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
        started_ms: crate::crypto::now_ms(),
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
    if ended_by_password_change(p, &session.user_id, session.started_ms).await? {
        p.kv.delete(&key(cookie)).await?;
        return Ok(None);
    }
    match p.stores.users.get_user_any(&session.user_id).await? {
        Some(u) if !u.disabled => Ok(Some(session)),
        _ => Ok(None),
    }
}

fn signed_out_key(user_id: &str) -> String {
    format!("signed-out:{user_id}")
}

/// Ends, everywhere, every session and refresh grant of a user started before now: after
/// their password is reset or changed, whoever held an old session or refresh token (a thief
/// among them) must sign in again. Kept as one mark per user (the time, in milliseconds) for
/// as long as a session or refresh token can live; sessions check it at lookup, grants at
/// refresh. Access tokens already issued run out on their own (minutes).
pub async fn end_all_before_now(p: &Provider, user_id: &str) -> OAuthResult<()> {
    let ttl = p.settings.session_ttl.max(p.settings.refresh_token_ttl) + std::time::Duration::from_secs(60);
    let now = crate::crypto::now_ms();
    p.kv.put(&signed_out_key(user_id), now.to_string().as_bytes(), ttl).await?;
    Ok(())
}

/// Whether a session or grant of `user_id` started at `started_ms` was ended by
/// [`end_all_before_now`]. Records from before this check existed (0) count as ended too.
pub async fn ended_by_password_change(p: &Provider, user_id: &str, started_ms: i64) -> OAuthResult<bool> {
    let Some(raw) = p.kv.get(&signed_out_key(user_id)).await? else { return Ok(false) };
    let at = std::str::from_utf8(&raw).ok().and_then(|s| s.parse::<i64>().ok()).unwrap_or(i64::MAX);
    Ok(started_ms < at)
}

/// Ends the session the cookie names.
pub async fn destroy(p: &Provider, cookie: &str) -> OAuthResult<()> {
    p.kv.delete(&key(cookie)).await?;
    Ok(())
}
