//! `authorization_code` (RFC 6749 section 4.1.3, RFC 7636 section 4.6): a code is good once,
//! for the client and redirect URI it was issued to, with the PKCE verifier if a challenge
//! was sent. A second use revokes everything issued from the first (RFC 6749 section 4.1.2).

use super::{TokenRequest, TokenResponse};
use crate::crypto::{b64url, ct_eq, sha256};
use crate::oauth::authorize::{CodeRecord, code_key, used_code_key};
use crate::oauth::tokens::{self, AuthEvent, GrantRecord, Subject, Who};
use crate::oauth::{OAuthError, OAuthResult, Provider};
use crate::store::Client;

pub(super) async fn exchange(
    p: &Provider,
    client: &Client,
    req: &TokenRequest,
    now: i64,
) -> OAuthResult<TokenResponse> {
    let code =
        req.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let Some(raw) = p.kv.take(&code_key(code)).await? else {
        if let Some(gid) = p.kv.get(&used_code_key(code)).await? {
            let gid = String::from_utf8_lossy(&gid).into_owned();
            tracing::warn!(client = %client.client_id, "authorization code reused: revoking its grant");
            tokens::revoke_grant(p, &gid).await?;
            return Err(OAuthError::invalid_grant("the authorization code was already used"));
        }
        return Err(OAuthError::invalid_grant("the authorization code is invalid or expired"));
    };
    let rec: CodeRecord = serde_json::from_slice(&raw).map_err(OAuthError::server_error)?;
    // Remember the code was used, to detect replay for as long as its tokens can live.
    let ttl = p.settings.refresh_token_ttl.max(p.settings.access_token_ttl);
    p.kv.put(&used_code_key(code), rec.grant_id.as_bytes(), ttl).await?;

    if rec.client_id != client.client_id {
        return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
    }
    match req.redirect_uri.as_deref() {
        Some(r) if r == rec.redirect_uri => {}
        Some(_) => return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request")),
        None => return Err(OAuthError::invalid_request("redirect_uri is missing")),
    }
    match (&rec.code_challenge, req.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed || !ct_eq(b64url(&sha256(verifier.as_bytes())).as_bytes(), challenge.as_bytes()) {
                return Err(OAuthError::invalid_grant("PKCE verification failed"));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let user = match p.active_user(&rec.tenant_id, &rec.user_id).await? {
        Some(u) => u,
        None => return Err(OAuthError::invalid_grant("the user no longer exists, is disabled or lost access")),
    };
    // A code from a session that a password change ended since.
    if crate::oauth::session::ended_by_password_change(p, &user.id, rec.session_started_ms).await? {
        return Err(OAuthError::invalid_grant("the sign-in behind this code ended: the password changed"));
    }
    let authz = p.authz(&rec.tenant_id, crate::store::MemberKind::User, &user.id).await?;
    let subject = Subject {
        auth_time: Some(rec.auth_time),
        grant_id: Some(&rec.grant_id),
        authz: Some(&authz),
        ..Subject::for_client(p, client, Who::User(&user), &rec.scopes, &rec.audience)
    };
    let (access_token, _) = tokens::access_token(p, &subject, now)?;
    let id_token = if rec.scopes.iter().any(|s| s == "openid") {
        let ev =
            AuthEvent { auth_time: rec.auth_time, nonce: rec.nonce.as_deref(), amr: &rec.amr, sid: Some(&rec.sid) };
        Some(tokens::id_token(p, client, &user, &rec.scopes, &ev, &access_token, now)?)
    } else {
        None
    };
    let refresh_token = if client.allows_grant(super::REFRESH_TOKEN) {
        let record = GrantRecord {
            current: String::new(),
            previous: None,
            started_ms: 0,
            client_id: client.client_id.clone(),
            tenant_id: rec.tenant_id.clone(),
            user_id: user.id.clone(),
            scopes: rec.scopes.clone(),
            audience: rec.audience.clone(),
            auth_time: rec.auth_time,
            amr: rec.amr.clone(),
            sid: Some(rec.sid.clone()),
            expires_at: 0,
        };
        Some(tokens::start_grant(p, &rec.grant_id, record, now).await?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: p.settings.access_token_ttl.as_secs(),
        refresh_token,
        id_token,
        scope: Some(rec.scopes.join(" ")),
        issued_token_type: None,
    })
}
