//! Token revocation (RFC 7009). A refresh token (the current one or a rotated one) revokes its
//! whole grant; an access token is
//! revoked by its `jti` until it expires. Unknown tokens, and tokens of other clients, get the
//! same 200 answer and are left alone, so the endpoint reveals nothing.

use super::client_auth::{self, ClientCredentials};
use super::tokens::{self, AccessClaims, GrantRecord, grant_key, refresh_token_grant};
use super::{OAuthError, OAuthResult, Provider};
use crate::keys::Typ;

pub struct RevokeRequest {
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
    pub credentials: ClientCredentials,
}

pub async fn revoke(p: &Provider, req: &RevokeRequest, now: i64) -> OAuthResult<()> {
    let client = client_auth::authenticate(p, &req.credentials, now).await?;
    let token = req.token.as_deref().ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    if let Some(gid) = refresh_token_grant(token) {
        if let Some(raw) = p.kv.get(&grant_key(gid)).await?
            && let Ok(grant) = serde_json::from_slice::<GrantRecord>(&raw)
            && grant.client_id == client.client_id
        {
            // The current token or an older, rotated one of the same grant: either way the
            // client wants the grant ended (and an old one in circulation means theft).
            tokens::revoke_grant(p, gid).await?;
        }
        return Ok(());
    }
    if let Ok(claims) = p.keys.current().verify::<AccessClaims>(token, Typ::AccessToken, &p.settings.issuer)
        && claims.client_id == client.client_id
    {
        tokens::revoke_access_token(p, &claims.jti, claims.exp, now).await?;
    }
    Ok(())
}
