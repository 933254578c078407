//! `/api/v1/{tenant}/roles`: named sets of (permission, action) from the fixed catalogue.
//! Creating or widening a role needs the actor to hold every permission it contains,
//! tenant-wide (a role can later be bound anywhere in the tenant).

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
use super::{Ctx, List, Page, check_description, check_id, check_name};
use crate::crypto::{now, random_token};
use crate::http::AppState;
use crate::rbac::{Action, PermSet, Permission, Scope};
use crate::store::Role;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/roles", get(list).post(create))
        .route("/{tenant}/roles/{id}", get(read).patch(update).delete(remove))
}

pub fn role_json(r: &Role) -> serde_json::Value {
    let perms = PermSet::from_i64(r.permissions).unwrap_or(PermSet::EMPTY);
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "permissions": perms.to_strings(),
        "builtin": r.builtin,
        "created_at": r.created_at,
    })
}

fn parse_perms(list: &[String]) -> ApiResult<PermSet> {
    PermSet::from_strings(list).map_err(|e| Problem::invalid("permissions", e.to_string()))
}

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::Role, Action::Read)?;
    let limit = page.limit()?;
    let roles =
        s.provider.stores.roles.list_roles(cap.tenant_id(), page.search(), page.after.as_deref(), limit).await?;
    let list = List::new(roles, limit, |r: &Role| r.id.clone());
    Ok(Json(json!({ "items": list.items.iter().map(role_json).collect::<Vec<_>>(), "next": list.next }))
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    id: Option<String>,
    name: String,
    description: Option<String>,
    permissions: Vec<String>,
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<NewRole>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::Role, Action::Create)?;
    let id = body.id.clone().unwrap_or_else(|| random_token(12));
    check_id("id", &id)?;
    check_name("name", &body.name)?;
    check_description(body.description.as_deref())?;
    let perms = parse_perms(&body.permissions)?;
    ctx.access.check_grant(perms, &Scope::Tenant).map_err(|d| Problem::forbidden(d.to_string()))?;
    let r = Role {
        tenant_id: cap.tenant_id().to_string(),
        id,
        name: body.name.trim().to_string(),
        description: body.description.clone(),
        permissions: perms.to_i64(),
        builtin: false,
        created_at: now(),
    };
    s.provider.stores.roles.create_role(&r).await?;
    ctx.audit(&s, "role.create", format!("role:{}", r.id), json!({ "after": role_json(&r) })).await;
    Ok((StatusCode::CREATED, Json(role_json(&r))).into_response())
}

async fn read(State(s): State<AppState>, c: Caller, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::Role, Action::Read)?;
    let r = s.provider.stores.roles.get_role(ctx.tenant(), &id).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(role_json(&r)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRole {
    name: Option<String>,
    description: Option<String>,
    permissions: Option<Vec<String>>,
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateRole>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::Role, Action::Update)?;
    let stores = &s.provider.stores;
    let before = stores.roles.get_role(ctx.tenant(), &id).await?.ok_or_else(Problem::not_found)?;
    if before.builtin {
        return Err(Problem::conflict("built-in roles cannot be changed"));
    }
    let name = body.name.as_deref().unwrap_or(&before.name);
    check_name("name", name)?;
    let description = body.description.as_deref().or(before.description.as_deref());
    check_description(description)?;
    let perms = match &body.permissions {
        Some(p) => parse_perms(p)?,
        None => PermSet::from_i64(before.permissions).unwrap_or(PermSet::EMPTY),
    };
    // Widening: what is added must be held by the actor; narrowing takes it away from every
    // holder, which needs what giving it would (the mirror rule).
    let old = PermSet::from_i64(before.permissions).unwrap_or(PermSet::EMPTY);
    ctx.access.check_grant(perms.difference(old), &Scope::Tenant).map_err(|d| Problem::forbidden(d.to_string()))?;
    ctx.access.check_grant(old.difference(perms), &Scope::Tenant).map_err(|d| Problem::forbidden(d.to_string()))?;
    stores.roles.update_role(ctx.tenant(), &id, name.trim(), description, perms.to_i64(), now()).await?;
    let after = stores.roles.get_role(ctx.tenant(), &id).await?.ok_or_else(Problem::not_found)?;
    ctx.audit(
        &s,
        "role.update",
        format!("role:{id}"),
        json!({ "before": role_json(&before), "after": role_json(&after) }),
    )
    .await;
    Ok(Json(role_json(&after)).into_response())
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::Role, Action::Delete)?;
    // Deleting a role takes it away from every holder: the mirror of creating it.
    if let Some(role) = s.provider.stores.roles.get_role(ctx.tenant(), &id).await? {
        let perms = PermSet::from_i64(role.permissions).unwrap_or(PermSet::ALL);
        ctx.access.check_grant(perms, &Scope::Tenant).map_err(|d| Problem::forbidden(d.to_string()))?;
    }
    s.provider.stores.roles.delete_role(ctx.tenant(), &id).await?;
    ctx.audit(&s, "role.delete", format!("role:{id}"), json!({})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
