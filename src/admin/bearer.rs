//! Bearer credentials of the administration APIs (the admin REST API, SCIM): a Tessera access
//! token for the audience `{issuer}/api` of a user or a service account, or a service account's
//! API token (`tsa_…`). One check, shared; each API maps [`BearerError`] to its own format.

use std::sync::Arc;

use super::Actor;
use crate::keys::Typ;
use crate::oauth::tokens::{self, AccessClaims};
use crate::oauth::{Provider, api_token, downscope};
use crate::rbac::EffectiveAccess;
use crate::store::StoreError;

/// The path appended to the issuer to form the administration APIs' audience.
pub const ADMIN_AUDIENCE_PATH: &str = "/api";

/// Who presented the credential, and the tenant the credential belongs to (the token's `tnt`,
/// or the API token's account's home tenant).
pub struct BearerCaller {
    pub actor: Actor,
    pub tenant: String,
}

/// Why a bearer credential was refused. The texts are safe to show to the caller.
#[derive(Debug)]
pub enum BearerError {
    /// 401: missing, malformed, unknown, expired or revoked.
    Unauthorized(String),
    /// 403: valid, but its subject may not administer.
    Forbidden(String),
    Store(StoreError),
    /// The state backend (revocations) did not answer.
    Unavailable(String),
}

impl From<StoreError> for BearerError {
    fn from(e: StoreError) -> Self {
        BearerError::Store(e)
    }
}

/// Checks a bearer credential.
pub async fn authenticate(p: &Provider, token: &str) -> Result<BearerCaller, BearerError> {
    if api_token::looks_like(token) { by_api_token(p, token).await } else { by_access_token(p, token).await }
}

/// A service account's API token: unexpired, unrevoked, of an existing account; its last use
/// is recorded at most once a minute.
async fn by_api_token(p: &Provider, token: &str) -> Result<BearerCaller, BearerError> {
    let invalid = || BearerError::Unauthorized("the API token is invalid, expired or revoked".into());
    let t = match api_token::check(p, token, crate::crypto::now()).await {
        Ok(t) => t,
        Err(api_token::Refused::Malformed) => {
            return Err(BearerError::Unauthorized("the API token is malformed (prefix or checksum)".into()));
        }
        Err(api_token::Refused::Unusable) => return Err(invalid()),
        Err(api_token::Refused::Store(e)) => return Err(e.into()),
    };
    let account = p.stores.service_accounts.get_service_account(&t.tenant_id, &t.service_account_id).await?;
    let account = account.ok_or_else(invalid)?;
    Ok(BearerCaller { actor: Actor::service_account(account.id, account.name), tenant: t.tenant_id })
}

/// An access token for the administration audience, not revoked, of an existing enabled user
/// or an existing service account. A token narrowed by permission scopes acts only within its
/// claims (the actor's `limit`).
async fn by_access_token(p: &Provider, token: &str) -> Result<BearerCaller, BearerError> {
    let invalid = || BearerError::Unauthorized("the access token is invalid or expired".into());
    let claims: AccessClaims =
        p.keys.current().verify(token, Typ::AccessToken, &p.settings.issuer).map_err(|_| invalid())?;
    let audience = p.settings.url(ADMIN_AUDIENCE_PATH);
    if claims.aud != audience {
        return Err(BearerError::Unauthorized(format!(
            "the access token is not for this API: request it with resource={audience}"
        )));
    }
    if tokens::is_access_token_revoked(p, &claims).await.map_err(|e| BearerError::Unavailable(format!("{e:?}")))? {
        return Err(invalid());
    }
    let mut actor = match claims.pk.as_str() {
        "u" => match p.stores.users.get_user_any(&claims.sub).await? {
            Some(u) if !u.disabled => Actor::user(u.id, u.username),
            _ => return Err(BearerError::Forbidden("the token's subject is not a user of this instance".into())),
        },
        "sa" => match p.stores.service_accounts.get_service_account(&claims.tnt, &claims.sub).await? {
            Some(a) => Actor::service_account(a.id, a.name),
            None => return Err(BearerError::Forbidden("the token's service account no longer exists".into())),
        },
        _ => {
            return Err(BearerError::Forbidden(
                "a client's own token cannot administer: use a user or service account".into(),
            ));
        }
    };
    if claims.tnt != crate::store::INSTANCE_SCOPE {
        actor.tenant = Some(claims.tnt.clone());
    }
    if claims.scopes().any(downscope::is_permission_scope) {
        let grants = claims.rb.as_ref().and_then(|rb| rb.decode()).unwrap_or_default();
        actor.limit = Some(Arc::new(EffectiveAccess::new(claims.tnt.clone(), false, false, grants)));
    }
    Ok(BearerCaller { actor, tenant: claims.tnt })
}
