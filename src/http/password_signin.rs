//! The password check of the login form, in one place: throttling (per username and per
//! client address, see [`crate::throttle`]), Argon2id (a dummy hash for unknown users), the
//! audit of every failure and refusal, and the rehash of a password whose hash was made with
//! other parameters than today's.

use serde_json::json;

use super::{AppState, RequestMeta};
use crate::crypto::Secret;
use crate::oauth::OAuthError;
use crate::password;
use crate::store::User;

/// The user, if `username` and `password` sign in; `None` for every kind of failure (unknown
/// user, wrong password, disabled account, throttled), which the caller must answer the same
/// way. Every password form and Basic credential goes through here (the login page, the
/// account page, the admin API), so one throttle counts them all. Each failure is counted
/// and audited in `tenant` (the client's) or, without one, in the user's home tenant (the
/// default tenant for an unknown name); `via` says where (`login`, `account`, `admin-api`).
pub(crate) async fn check(
    s: &AppState,
    meta: &RequestMeta,
    tenant: Option<&str>,
    via: &str,
    username: &str,
    password: &Secret,
) -> Result<Option<User>, OAuthError> {
    let p = &s.provider;
    let name = username.trim();
    let addr = meta.client_addr.as_deref();
    let audit_name = json!({ "username": name.chars().take(200).collect::<String>(), "via": via });
    let tenant_of = |u: Option<&User>| -> String {
        tenant.or(u.map(|u| u.tenant_id.as_str())).unwrap_or(crate::store::DEFAULT_TENANT).to_string()
    };
    if let Some(scope) = s.throttle.locked(name, addr).await? {
        let tenant = tenant_of(None);
        tracing::info!(tenant = %tenant, scope = scope.as_str(), "sign-in throttled");
        let mut summary = audit_name;
        summary["throttled"] = json!(scope.as_str());
        s.record_audit(meta, &tenant, "anonymous".into(), "signin.throttled", "anonymous".into(), summary).await;
        return Ok(None);
    }
    // Users are instance-wide identities; access to the client's tenant is checked after.
    let user = p.stores.users.find_user_by_username_any(name).await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let pw = password.clone();
    let verified = tokio::task::spawn_blocking(move || {
        let ok = password::verify_password(pw.expose(), hash.as_deref().unwrap_or(password::dummy_hash()));
        let rehash = match &hash {
            Some(h) if ok && password::needs_rehash(h) => Some(password::hash_password(pw.expose())),
            _ => None,
        };
        (ok && hash.is_some(), rehash)
    })
    .await;
    let (ok, rehash) = verified.unwrap_or((false, None));
    match user {
        Some(u) if ok && !u.disabled => {
            s.throttle.succeeded(name).await?;
            if let Some(new_hash) = rehash {
                // Best effort: the sign-in goes on with the old hash if this fails.
                match p.stores.users.set_password_hash(&u.tenant_id, &u.id, &new_hash).await {
                    Ok(()) => tracing::info!(user = %u.id, "password rehashed with the current Argon2id parameters"),
                    Err(e) => tracing::warn!(user = %u.id, error = %e, "password rehash not stored"),
                }
            }
            Ok(Some(u))
        }
        other => {
            let tenant = tenant_of(other.as_ref());
            tracing::info!(tenant = %tenant, "sign-in failed");
            s.throttle.failed(name, addr).await?;
            let actor = other.as_ref().map(|u| format!("user:{}", u.id)).unwrap_or_else(|| "anonymous".into());
            s.record_audit(meta, &tenant, actor.clone(), "signin.failure", actor, audit_name).await;
            Ok(None)
        }
    }
}
