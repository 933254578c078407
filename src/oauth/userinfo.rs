//! The UserInfo endpoint (OIDC Core section 5.3), protected by a bearer access token
//! (RFC 6750). Only Tessera's own keys and algorithms are accepted: `alg: none`, HS256 and
//! unknown keys are refused as `invalid_token`.

use serde_json::Value;

use super::tokens::{self, AccessClaims, profile_claims};
use super::{ErrorCode, OAuthError, OAuthResult, Provider};
use crate::keys::Typ;

pub async fn userinfo(p: &Provider, bearer: &str) -> OAuthResult<Value> {
    let claims: AccessClaims = p
        .keys
        .current()
        .verify(bearer, Typ::AccessToken, &p.settings.issuer)
        .map_err(|_| OAuthError::invalid_token("the access token is invalid or expired"))?;
    if tokens::is_access_token_revoked(p, &claims).await? {
        return Err(OAuthError::invalid_token("the access token was revoked"));
    }
    let scopes: Vec<String> = claims.scopes().map(str::to_string).collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::new(ErrorCode::InsufficientScope, "the access token lacks the openid scope"));
    }
    let user = match p.active_user(&claims.tnt, &claims.sub).await? {
        Some(u) => u,
        None => return Err(OAuthError::invalid_token("the user no longer exists or lost access")),
    };
    let mut out = profile_claims(&user, &scopes);
    // `groups`: the names of the user's groups in the token's tenant, for relying parties
    // that map groups (another Tessera federating to this one, say).
    if scopes.iter().any(|s| s == "groups") {
        let groups = p.stores.groups.groups_of(&claims.tnt, crate::store::MemberKind::User, &user.id).await?;
        out.insert("groups".into(), groups.into_iter().map(|g| Value::String(g.name)).collect::<Vec<_>>().into());
    }
    out.insert("sub".into(), user.id.into());
    Ok(Value::Object(out))
}
