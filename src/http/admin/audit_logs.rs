//! `/api/v1/{tenant}/audit-logs`: the tenant's audit entries, with AUDITLOG:READ, filterable
//! by actor, target, action and time, newest last, paged by sequence number.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::extract::ApiQuery;
use super::problem::ApiResult;
use super::{Ctx, Page};
use crate::http::AppState;
use crate::rbac::{Action, Permission};
use crate::store::{AuditEntry, AuditFilter};

pub fn router() -> Router<AppState> {
    Router::new().route("/{tenant}/audit-logs", get(list))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Query {
    actor: Option<String>,
    target: Option<String>,
    action: Option<String>,
    /// Unix seconds, inclusive.
    from: Option<i64>,
    /// Unix seconds, inclusive.
    to: Option<i64>,
    after: Option<i64>,
    limit: Option<u32>,
}

fn entry_json(e: &AuditEntry) -> serde_json::Value {
    json!({
        "seq": e.seq,
        "id": e.id,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "summary": e.summary,
        "request_id": e.request_id,
        "client_addr": e.client_addr,
        "hash": e.hash,
    })
}

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiQuery(q): ApiQuery<Query>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::AuditLog, Action::Read)?;
    let limit = Page { limit: q.limit, ..Default::default() }.limit()?;
    let filter = AuditFilter { actor: q.actor, target: q.target, action: q.action, from: q.from, to: q.to };
    let items = s.provider.stores.audit.list_audit(cap.tenant_id(), &filter, q.after, limit).await?;
    let next = if items.len() as u32 >= limit { items.last().map(|e| e.seq) } else { None };
    Ok(Json(json!({ "items": items.iter().map(entry_json).collect::<Vec<_>>(), "next": next })).into_response())
}
