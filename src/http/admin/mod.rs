//! The admin REST API under `/api/v1`, with the tenant in the path as Kestra does. Callers
//! authenticate with a Tessera access token whose audience is `{issuer}/api` (Bearer) or with
//! a username and password (Basic, for the CLI); they are authorized by the access model
//! itself. Errors are RFC 9457 problem JSON.

mod api_tokens;
mod audit_logs;
mod auth;
mod bindings;
pub mod extract;
mod groups;
mod identity_providers;
pub mod openapi;
pub mod problem;
mod roles;
mod sa_clients;
mod service_accounts;
mod tenants;
mod users;
mod workload_identities;

use axum::Router;
use serde::{Deserialize, Serialize};

use super::{AppState, RequestMeta};
use crate::admin::{AccessError, Actor, AuthorityError, Target};
use crate::rbac::{Action, EffectiveAccess, PermSet, Permission, Reach, Scope, TenantCap};
pub use auth::{ADMIN_AUDIENCE_PATH, Operator};
use problem::{ApiResult, Problem};

/// The admin API, to be nested under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(tenants::router())
        .merge(audit_logs::router())
        .merge(users::router())
        .merge(groups::router())
        .merge(roles::router())
        .merge(bindings::router())
        .merge(service_accounts::router())
        .merge(api_tokens::router())
        .merge(sa_clients::router())
        .merge(workload_identities::router())
        .merge(identity_providers::router())
        .route("/openapi.json", axum::routing::get(openapi::serve))
        .fallback(|| async { Problem::not_found() })
        .layer(axum::middleware::from_fn(refuse_nul))
}

/// Refuses a percent-encoded NUL anywhere in the path or query: no stored text can hold it,
/// and PostgreSQL rejects it outright.
async fn refuse_nul(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let uri = req.uri();
    let has_nul = |s: &str| s.to_ascii_lowercase().contains("%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return Problem::bad_request("the request must not contain the NUL character").into_response();
    }
    next.run(req).await
}

/// A request in a tenant: the caller, their effective access there, and where the request
/// comes from (request id and client address, for the audit log).
pub struct Ctx {
    pub actor: Actor,
    pub access: EffectiveAccess,
    pub request: RequestMeta,
}

impl Ctx {
    /// Resolves the caller's access in `tenant`; no access is 404, as for a missing tenant.
    /// `request` is the [`auth::Caller`]'s `request_id` field.
    pub async fn new(s: &AppState, actor: Actor, tenant: &str, request: RequestMeta) -> ApiResult<Self> {
        match crate::admin::access_in(&s.provider.stores, &actor, tenant).await {
            Ok(access) => Ok(Self { actor, access, request }),
            Err(AccessError::NoTenant) => Err(Problem::not_found()),
            Err(AccessError::Store(e)) => Err(e.into()),
        }
    }

    /// Requires a tenant-level permission; 403 naming what is missing.
    pub fn require(&self, p: Permission, a: Action) -> ApiResult<TenantCap> {
        self.access.require(p, a).map_err(|d| Problem::forbidden(d.to_string()))
    }

    pub fn tenant(&self) -> &str {
        self.access.tenant_id()
    }

    /// The authority rule (`crate::rbac::check_authority`): may the caller act on `target`
    /// with this reach? 403 naming why. Call it before any write.
    pub async fn authority(&self, s: &AppState, target: Target<'_>, reach: Reach<'_>) -> ApiResult<()> {
        authority(s, &self.actor, target, reach).await
    }

    /// No escalation for a whole role binding given or taken away (the built-in `admin` role
    /// for the whole tenant needs Tenant Admin): 403 naming what is missing.
    pub fn check_grant_role(&self, perms: PermSet, scope: &Scope, builtin_admin: bool) -> ApiResult<()> {
        self.access.check_grant_role(perms, scope, builtin_admin).map_err(|d| Problem::forbidden(d.to_string()))
    }

    /// Records an admin change in the audit log (written off the request path).
    pub async fn audit(&self, s: &AppState, action: &str, target: String, summary: serde_json::Value) {
        s.record_audit(&self.request, self.tenant(), self.actor.audit_name(), action, target, summary).await;
    }
}

/// [`Ctx::authority`] for a caller without a tenant context.
pub async fn authority(s: &AppState, actor: &Actor, target: Target<'_>, reach: Reach<'_>) -> ApiResult<()> {
    match crate::admin::require_authority(&s.provider.stores, actor, target, reach).await {
        Ok(()) => Ok(()),
        Err(AuthorityError::Denied(d)) => Err(Problem::forbidden(d.to_string())),
        Err(AuthorityError::Store(e)) => Err(e.into()),
    }
}

/// Records an admin change in the audit log with the request's id and client address
/// (`request`: the [`auth::Caller`]'s `request_id` field; a bare request id also does, without
/// the address).
pub async fn audit(
    s: &AppState,
    tenant: &str,
    actor: &Actor,
    request: impl Into<RequestMeta>,
    action: &str,
    target: String,
    summary: serde_json::Value,
) {
    s.record_audit(&request.into(), tenant, actor.audit_name(), action, target, summary).await;
}

/// Keyset pagination parameters shared by the list endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Return items after this id.
    pub after: Option<String>,
    /// At most this many items (1 to 200, default 50).
    pub limit: Option<u32>,
    /// Case-insensitive substring search.
    pub q: Option<String>,
}

impl Page {
    pub fn limit(&self) -> ApiResult<u32> {
        match self.limit {
            None => Ok(50),
            Some(n @ 1..=200) => Ok(n),
            Some(_) => Err(Problem::invalid("limit", "must be between 1 and 200")),
        }
    }
    pub fn search(&self) -> Option<&str> {
        self.q.as_deref().filter(|q| !q.is_empty())
    }
}

/// A page of items and the cursor of the next page (absent on the last).
#[derive(Debug, Serialize)]
pub struct List<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl<T> List<T> {
    pub fn new(items: Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> Self {
        let next = if items.len() as u32 >= limit { items.last().map(&id) } else { None };
        Self { items, next }
    }
}

/// Validates an identifier given in a path or body: 1 to 64 of `[A-Za-z0-9_.-]`.
pub fn check_id(field: &str, id: &str) -> ApiResult<()> {
    let only_dots = id.bytes().all(|b| b == b'.');
    if id.is_empty()
        || only_dots
        || id.len() > 64
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(Problem::invalid(field, "use 1 to 64 letters, digits, '_', '.' or '-'"));
    }
    Ok(())
}

/// Validates a display name: 1 to 200 characters, no control characters.
pub fn check_name(field: &str, name: &str) -> ApiResult<()> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control) {
        return Err(Problem::invalid(field, "use 1 to 200 printable characters"));
    }
    Ok(())
}

pub fn check_description(d: Option<&str>) -> ApiResult<()> {
    if let Some(d) = d
        && (d.chars().count() > 2000 || d.chars().any(|c| c.is_control() && c != '\n'))
    {
        return Err(Problem::invalid("description", "use at most 2000 printable characters"));
    }
    Ok(())
}
