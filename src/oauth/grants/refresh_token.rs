//! `refresh_token` (RFC 6749 section 6, RFC 9700 section 4.14.2): every use rotates the token;
//! presenting a token that was already rotated revokes the whole grant.
//!
//! One exception, as in Okta's rotation grace and Ory Hydra's: the token the last rotation
//! replaced is accepted again for `tokens.refresh_token_reuse_grace_secs` after that rotation
//! (10 s by default, 0 for none). A client whose answer was lost (the instance died after
//! storing the rotation, the connection dropped) retries with the token it holds and gets a
//! new one instead of losing its grant. Reuse is still detected: the retry makes the lost
//! token stale, so whoever holds it and presents it later revokes the grant, and the grace
//! is counted from the first rotation away from a token, never extended by retries.

use super::{TokenRequest, TokenResponse};
use crate::crypto::hash_secret;
use crate::oauth::tokens::{
    self, AuthEvent, GrantRecord, Presented, PreviousToken, Subject, Who, grant_key, new_refresh_token,
    refresh_token_grant,
};
use crate::oauth::{OAuthError, OAuthResult, Provider, parse_scope};
use crate::store::Client;

pub(super) async fn refresh(p: &Provider, client: &Client, req: &TokenRequest, now: i64) -> OAuthResult<TokenResponse> {
    let presented =
        req.refresh_token.as_deref().ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let gid = refresh_token_grant(presented).ok_or_else(invalid)?;
    let grace = p.settings.refresh_token_reuse_grace.as_secs();
    let requested = parse_scope(req.scope.as_deref())?;
    // Rotate exactly once per stored state: a concurrent rotation makes the compare-and-swap
    // fail, and the state is read again (the presented token is then the previous one).
    let mut attempts = 0;
    let (grant, scopes, user, next) = loop {
        attempts += 1;
        let Some(raw) = p.kv.get(&grant_key(gid)).await? else { return Err(invalid()) };
        let grant: GrantRecord = serde_json::from_slice(&raw).map_err(OAuthError::server_error)?;
        if grant.client_id != client.client_id {
            return Err(invalid());
        }
        if p.kv.is_grant_revoked(gid).await? {
            return Err(invalid());
        }
        if crate::oauth::session::ended_by_password_change(p, &grant.user_id, grant.started_ms).await? {
            tokens::revoke_grant(p, gid).await?;
            return Err(invalid());
        }
        let which = grant.presented(presented, now, grace);
        if which == Presented::Stale {
            // An older token of a live grant (or a forgery): assume theft, revoke everything.
            tracing::warn!(client = %client.client_id, "refresh token reused: revoking its grant");
            tokens::revoke_grant(p, gid).await?;
            return Err(invalid());
        }
        if which == Presented::Previous {
            tracing::info!(client = %client.client_id, "previous refresh token within the reuse grace: rotating again");
        }
        let scopes = if requested.is_empty() {
            grant.scopes.clone()
        } else if requested.iter().all(|s| grant.scopes.contains(s)) {
            requested.clone()
        } else {
            return Err(OAuthError::invalid_scope("a refresh cannot widen the granted scope"));
        };
        let user = match p.active_user(&grant.tenant_id, &grant.user_id).await? {
            Some(u) => u,
            None => {
                tokens::revoke_grant(p, gid).await?;
                return Err(invalid());
            }
        };
        let next = new_refresh_token(gid);
        let mut updated = grant.clone();
        updated.current = hash_secret(&next);
        if which == Presented::Current {
            // A retry of the previous token keeps the first rotation's time: the grace is
            // never extended.
            updated.previous = Some(PreviousToken { hash: grant.current.clone(), rotated_at: now });
        }
        updated.expires_at = now + p.settings.refresh_token_ttl.as_secs() as i64;
        let new_value = serde_json::to_vec(&updated).map_err(OAuthError::server_error)?;
        if p.kv.compare_and_swap(&grant_key(gid), &raw, &new_value, p.settings.refresh_token_ttl).await? {
            break (grant, scopes, user, next);
        }
        if attempts >= 3 {
            // Three rotations raced this one: not a client retrying.
            tracing::warn!(client = %client.client_id, "refresh token raced repeatedly: revoking its grant");
            tokens::revoke_grant(p, gid).await?;
            return Err(invalid());
        }
    };
    let audience = grant.audience.clone();
    // Bindings are read again at every refresh: changes reach the next access token.
    let authz = p.authz(&grant.tenant_id, crate::store::MemberKind::User, &user.id).await?;
    let subject = Subject {
        auth_time: Some(grant.auth_time),
        grant_id: Some(gid),
        authz: Some(&authz),
        ..Subject::for_client(p, client, Who::User(&user), &scopes, &audience)
    };
    let (access_token, _) = tokens::access_token(p, &subject, now)?;
    let id_token = if scopes.iter().any(|s| s == "openid") {
        let ev = AuthEvent { auth_time: grant.auth_time, nonce: None, amr: &grant.amr, sid: grant.sid.as_deref() };
        Some(tokens::id_token(p, client, &user, &scopes, &ev, &access_token, now)?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: p.settings.access_token_ttl.as_secs(),
        refresh_token: Some(next),
        id_token,
        scope: Some(scopes.join(" ")),
        issued_token_type: None,
    })
}
