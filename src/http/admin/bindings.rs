//! `/api/v1/{tenant}/bindings`: a role bound to a user, group or service account, for the
//! whole tenant or for namespaces (each covering its children). No escalation: the actor must
//! hold the role's permissions in every namespace bound (or tenant-wide).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::extract::{ApiJson, ApiQuery};
use super::problem::{ApiResult, Problem};
use super::{Ctx, List, Page};
use crate::crypto::{now, random_token};
use crate::http::AppState;
use crate::rbac::{Action, Namespace, PermSet, Permission, Scope};
use crate::store::{Binding, BindingFilter, PrincipalKind, TENANT_ADMIN_ROLE_ID};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/bindings", get(list).post(create))
        .route("/{tenant}/bindings/{id}", get(read).delete(remove))
}

pub fn binding_json(b: &Binding) -> serde_json::Value {
    json!({
        "id": b.id,
        "role_id": b.role_id,
        "principal_kind": b.principal_kind.as_str(),
        "principal_id": b.principal_id,
        "namespaces": b.namespaces,
        "created_at": b.created_at,
        "created_by": b.created_by,
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Filter {
    principal_kind: Option<PrincipalKind>,
    principal_id: Option<String>,
    role_id: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiQuery(f): ApiQuery<Filter>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::Binding, Action::Read)?;
    let limit = Page { limit: f.limit, ..Default::default() }.limit()?;
    let principal = match (f.principal_kind, f.principal_id) {
        (Some(k), Some(id)) => Some((k, id)),
        (None, None) => None,
        _ => return Err(Problem::invalid("principal_id", "give both principal_kind and principal_id")),
    };
    let filter = BindingFilter { principal, role_id: f.role_id };
    let items = s.provider.stores.bindings.list_bindings(cap.tenant_id(), &filter, f.after.as_deref(), limit).await?;
    let list = List::new(items, limit, |b: &Binding| b.id.clone());
    Ok(Json(json!({ "items": list.items.iter().map(binding_json).collect::<Vec<_>>(), "next": list.next }))
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBinding {
    role_id: String,
    principal_kind: PrincipalKind,
    principal_id: String,
    /// Empty or absent: the whole tenant.
    #[serde(default)]
    namespaces: Vec<String>,
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<NewBinding>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::Binding, Action::Create)?;
    if body.namespaces.len() > 100 {
        return Err(Problem::invalid("namespaces", "at most 100 namespaces per binding"));
    }
    let mut namespaces = Vec::with_capacity(body.namespaces.len());
    for (i, n) in body.namespaces.iter().enumerate() {
        let ns = Namespace::new(n.clone()).map_err(|e| Problem::invalid(&format!("namespaces/{i}"), e.to_string()))?;
        if !namespaces.contains(&ns) {
            namespaces.push(ns);
        }
    }
    let stores = &s.provider.stores;
    let role = stores
        .roles
        .get_role(cap.tenant_id(), &body.role_id)
        .await?
        .ok_or_else(|| Problem::invalid("role_id", "no such role in this tenant"))?;
    let perms = PermSet::from_i64(role.permissions).unwrap_or(PermSet::EMPTY);
    let scope = if namespaces.is_empty() { Scope::Tenant } else { Scope::Namespaces(namespaces.clone()) };
    ctx.check_grant_role(perms, &scope, role.id == TENANT_ADMIN_ROLE_ID)?;
    let b = Binding {
        tenant_id: cap.tenant_id().to_string(),
        id: random_token(12),
        role_id: role.id.clone(),
        principal_kind: body.principal_kind,
        principal_id: body.principal_id.clone(),
        namespaces: namespaces.iter().map(|n| n.as_str().to_string()).collect(),
        created_at: now(),
        created_by: Some(ctx.actor.audit_name()),
    };
    stores.bindings.create_binding(&b).await.map_err(|e| match e {
        crate::store::StoreError::NotFound => {
            Problem::invalid("principal_id", "no such user, group or service account")
        }
        e => e.into(),
    })?;
    ctx.audit(&s, "binding.create", format!("binding:{}", b.id), json!({ "after": binding_json(&b) })).await;
    Ok((StatusCode::CREATED, Json(binding_json(&b))).into_response())
}

async fn read(State(s): State<AppState>, c: Caller, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::Binding, Action::Read)?;
    let b = s.provider.stores.bindings.get_binding(ctx.tenant(), &id).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(binding_json(&b)).into_response())
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::Binding, Action::Delete)?;
    let stores = &s.provider.stores;
    let before = stores.bindings.get_binding(ctx.tenant(), &id).await?.ok_or_else(Problem::not_found)?;
    // Taking a binding away needs what giving it needs (demotion is the mirror of granting).
    let perms = match stores.roles.get_role(ctx.tenant(), &before.role_id).await? {
        Some(r) => PermSet::from_i64(r.permissions).unwrap_or(PermSet::ALL),
        None => PermSet::EMPTY,
    };
    ctx.check_grant_role(perms, &crate::admin::scope_of(&before.namespaces), before.role_id == TENANT_ADMIN_ROLE_ID)?;
    stores.bindings.delete_binding(ctx.tenant(), &id, now()).await?;
    ctx.audit(&s, "binding.delete", format!("binding:{id}"), json!({ "before": binding_json(&before) })).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
