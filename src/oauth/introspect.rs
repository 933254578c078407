//! Token introspection (RFC 7662): a client-authenticated question "is this token active?".
//! Tokens of another tenant, or refresh tokens of another client, are simply inactive; so are
//! tokens whose principal no longer stands behind them (a deleted or disabled user, a user who
//! lost access to the tenant, a deleted service account or client): a signature and an unexpired
//! `exp` do not make a token active, its principal's state does (as at `/userinfo`).

use serde_json::{Value, json};

use super::client_auth::{self, ClientCredentials};
use super::tokens::{self, AccessClaims, GrantRecord, grant_key, refresh_token_grant};
use super::{OAuthResult, Provider};
use crate::keys::Typ;

pub struct IntrospectRequest {
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
    pub credentials: ClientCredentials,
}

pub async fn introspect(p: &Provider, req: &IntrospectRequest, now: i64) -> OAuthResult<Value> {
    let client = client_auth::authenticate(p, &req.credentials, now).await?;
    let token = req.token.as_deref().ok_or_else(|| super::OAuthError::invalid_request("token is missing"))?;
    let inactive = json!({ "active": false });
    if let Ok(claims) = p.keys.current().verify::<AccessClaims>(token, Typ::AccessToken, &p.settings.issuer) {
        // A public client has no secret: it may only learn about tokens issued to itself.
        let foreign = client.is_public() && claims.client_id != client.client_id;
        if claims.tnt != client.tenant_id || foreign || tokens::is_access_token_revoked(p, &claims).await? {
            return Ok(inactive);
        }
        if !principal_stands(p, &claims).await? {
            return Ok(inactive);
        }
        let mut v = json!({
            "active": true,
            "token_type": "Bearer",
            "iss": claims.iss,
            "sub": claims.sub,
            "aud": claims.aud,
            "exp": claims.exp,
            "iat": claims.iat,
            "jti": claims.jti,
            "client_id": claims.client_id,
            "tnt": claims.tnt,
            "pk": claims.pk,
            "ep": claims.ep,
        });
        if let Some(adm) = &claims.adm {
            v["adm"] = adm.clone().into();
        }
        let kind = match claims.pk.as_str() {
            "u" => Some(crate::store::MemberKind::User),
            "sa" => Some(crate::store::MemberKind::ServiceAccount),
            _ => None,
        };
        // A token carrying a reference instead of its bindings is answered in full here: the
        // principal's current bindings, narrowed by the token's permission scopes if it has any.
        let rb = match (claims.rb.clone(), kind) {
            (Some(rb), Some(kind)) if rb.reference => {
                let (access, _) = p.access_of(&claims.tnt, kind, &claims.sub).await?;
                let scopes: Vec<String> =
                    claims.scopes().filter(|s| super::downscope::is_permission_scope(s)).map(str::to_string).collect();
                let access = if scopes.is_empty() {
                    access
                } else {
                    let wanted = scopes.iter().filter_map(|s| super::downscope::parse(s).ok()).collect::<Vec<_>>();
                    access.narrow(&wanted).0
                };
                Some(crate::rbac::RoleBindingsClaim::encode_unbounded(&access))
            }
            (other, _) => other,
        };
        if let Some(rb) = rb {
            v["rb"] = serde_json::to_value(rb).unwrap_or_default();
        }
        if let Some(s) = claims.scope {
            v["scope"] = s.into();
        }
        if let Some(t) = claims.auth_time {
            v["auth_time"] = t.into();
        }
        if let Some(act) = claims.act {
            v["act"] = act;
        }
        return Ok(v);
    }
    if let Some(gid) = refresh_token_grant(token) {
        let Some(raw) = p.kv.get(&grant_key(gid)).await? else { return Ok(inactive) };
        let Ok(grant) = serde_json::from_slice::<GrantRecord>(&raw) else { return Ok(inactive) };
        // Only the current token: the previous one within the reuse grace still rotates once,
        // but it is on its way out and a resource server has no use for it.
        let live = grant.client_id == client.client_id
            && grant.presented(token, now, 0) == super::tokens::Presented::Current
            && grant.expires_at > now
            && !p.kv.is_grant_revoked(gid).await?
            && p.active_user(&grant.tenant_id, &grant.user_id).await?.is_some();
        if live {
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "iss": p.settings.issuer,
                "sub": grant.user_id,
                "client_id": grant.client_id,
                "scope": grant.scopes.join(" "),
                "exp": grant.expires_at,
                "tnt": grant.tenant_id,
            }));
        }
    }
    Ok(inactive)
}

/// Whether the principal of an access token still stands behind it: a user who exists, is not
/// disabled and may still use the token's tenant; a service account that still exists; for a
/// client's own token, the client. Store failures are errors (a 503), never "active".
async fn principal_stands(p: &Provider, claims: &AccessClaims) -> OAuthResult<bool> {
    Ok(match claims.pk.as_str() {
        "u" => p.active_user(&claims.tnt, &claims.sub).await?.is_some(),
        "sa" => p.stores.service_accounts.get_service_account(&claims.tnt, &claims.sub).await?.is_some(),
        "c" => p.client(&claims.client_id).await?.is_some(),
        _ => false,
    })
}
