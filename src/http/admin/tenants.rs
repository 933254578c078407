//! `/api/v1/tenants` (Instance Admins; others see the tenants they can access, for a tenant
//! switcher), `/api/v1/me`, and `/api/v1/instance-admins`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::extract::{ApiJson, ApiQuery};
use super::problem::{ApiResult, Problem};
use super::{List, Page, audit, check_id, check_name};
use crate::admin::is_instance_admin;
use crate::crypto::{now, random_token};
use crate::http::AppState;
use crate::store::{Binding, INSTANCE_SCOPE, MemberKind, TENANT_ADMIN_ROLE_ID, Tenant};

/// Tenant ids that would collide with the API's own paths.
const RESERVED: [&str; 5] = ["tenants", "me", "instance-admins", "openapi.json", "identity-providers"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/tenants", get(list).post(create))
        .route("/tenants/{id}", get(read).patch(rename).delete(remove))
        .route("/instance-admins", get(list_admins).post(add_admin))
        .route("/instance-admins/{kind}/{id}", delete(remove_admin))
}

fn tenant_json(t: &Tenant) -> serde_json::Value {
    json!({ "id": t.id, "name": t.name, "created_at": t.created_at, "created_by": t.created_by })
}

async fn require_instance_admin(s: &AppState, c: &Caller) -> ApiResult<()> {
    if is_instance_admin(&s.provider.stores, &c.actor).await? {
        Ok(())
    } else {
        Err(Problem::forbidden("the Instance Admin role is required"))
    }
}

async fn me(State(s): State<AppState>, c: Caller) -> ApiResult<Response> {
    let stores = &s.provider.stores;
    let admin = is_instance_admin(stores, &c.actor).await?;
    let tenants = stores.access.tenants_of(c.actor.kind, &c.actor.id).await?;
    Ok(Json(json!({
        "kind": c.actor.kind.as_str(),
        "id": c.actor.id,
        "name": c.actor.label,
        "instance_admin": admin,
        "tenants": tenants,
    }))
    .into_response())
}

async fn list(State(s): State<AppState>, c: Caller, ApiQuery(page): ApiQuery<Page>) -> ApiResult<Response> {
    let stores = &s.provider.stores;
    let limit = page.limit()?;
    let items = if is_instance_admin(stores, &c.actor).await? {
        stores.tenants.list_tenants(page.after.as_deref(), limit).await?
    } else {
        let mut out = Vec::new();
        for id in stores.access.tenants_of(c.actor.kind, &c.actor.id).await? {
            let bound_elsewhere = c.actor.tenant.as_deref().is_some_and(|t| t != id);
            if bound_elsewhere || page.after.as_deref().is_some_and(|a| id.as_str() <= a) || out.len() as u32 >= limit {
                continue;
            }
            if let Some(t) = stores.tenants.get_tenant(&id).await? {
                out.push(t);
            }
        }
        out
    };
    let list = List::new(items, limit, |t: &Tenant| t.id.clone());
    Ok(Json(json!({ "items": list.items.iter().map(tenant_json).collect::<Vec<_>>(), "next": list.next }))
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    id: String,
    name: String,
}

async fn create(State(s): State<AppState>, c: Caller, ApiJson(body): ApiJson<NewTenant>) -> ApiResult<Response> {
    require_instance_admin(&s, &c).await?;
    check_id("id", &body.id)?;
    if RESERVED.contains(&body.id.as_str()) {
        return Err(Problem::invalid("id", "this id is reserved"));
    }
    check_name("name", &body.name)?;
    let stores = &s.provider.stores;
    let t = Tenant {
        id: body.id.clone(),
        name: body.name.trim().to_string(),
        created_at: now(),
        created_by: Some(c.actor.audit_name()),
    };
    stores.tenants.create_tenant(&t).await?;
    // The creator becomes the tenant's Tenant Admin (the local operator is no principal).
    if !c.actor.operator {
        let binding = Binding {
            tenant_id: t.id.clone(),
            id: random_token(12),
            role_id: TENANT_ADMIN_ROLE_ID.into(),
            principal_kind: c.actor.kind.into(),
            principal_id: c.actor.id.clone(),
            namespaces: vec![],
            created_at: now(),
            created_by: Some(c.actor.audit_name()),
        };
        stores.bindings.create_binding(&binding).await?;
    }
    audit(
        &s,
        &t.id,
        &c.actor,
        c.request_id.clone(),
        "tenant.create",
        format!("tenant:{}", t.id),
        json!({ "after": tenant_json(&t) }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(tenant_json(&t))).into_response())
}

async fn read(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let stores = &s.provider.stores;
    // A token bound to a tenant (its `tnt`) sees no other, as everywhere in the admin API.
    let bound_elsewhere = c.actor.tenant.as_deref().is_some_and(|t| t != id);
    let visible = is_instance_admin(stores, &c.actor).await?
        || (!bound_elsewhere && stores.access.has_access(&id, c.actor.kind, &c.actor.id).await?);
    match stores.tenants.get_tenant(&id).await? {
        Some(t) if visible => Ok(Json(tenant_json(&t)).into_response()),
        _ => Err(Problem::not_found()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

async fn rename(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Rename>,
) -> ApiResult<Response> {
    require_instance_admin(&s, &c).await?;
    check_name("name", &body.name)?;
    let stores = &s.provider.stores;
    let before = stores.tenants.get_tenant(&id).await?.ok_or_else(Problem::not_found)?;
    stores.tenants.rename_tenant(&id, body.name.trim()).await?;
    audit(
        &s,
        &id,
        &c.actor,
        c.request_id.clone(),
        "tenant.rename",
        format!("tenant:{id}"),
        json!({ "before": before.name, "after": body.name.trim() }),
    )
    .await;
    let t = stores.tenants.get_tenant(&id).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(tenant_json(&t)).into_response())
}

async fn remove(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    require_instance_admin(&s, &c).await?;
    s.provider.stores.tenants.delete_tenant(&id).await?;
    audit(&s, &id, &c.actor, c.request_id.clone(), "tenant.delete", format!("tenant:{id}"), json!({})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_admins(State(s): State<AppState>, c: Caller) -> ApiResult<Response> {
    require_instance_admin(&s, &c).await?;
    let admins = s.provider.stores.instance_admins.list_instance_admins().await?;
    let items: Vec<_> = admins
        .iter()
        .map(|a| json!({ "kind": a.principal_kind.as_str(), "id": a.principal_id, "created_at": a.created_at }))
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAdmin {
    kind: MemberKind,
    id: String,
}

async fn add_admin(State(s): State<AppState>, c: Caller, ApiJson(body): ApiJson<NewAdmin>) -> ApiResult<Response> {
    require_instance_admin(&s, &c).await?;
    s.provider.stores.instance_admins.grant_instance_admin(body.kind, &body.id, now()).await?;
    let target = format!("{}:{}", body.kind.as_str(), body.id);
    audit(&s, INSTANCE_SCOPE, &c.actor, c.request_id.clone(), "instance_admin.grant", target, json!({})).await;
    Ok(StatusCode::CREATED.into_response())
}

async fn remove_admin(
    State(s): State<AppState>,
    c: Caller,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    require_instance_admin(&s, &c).await?;
    let kind = MemberKind::parse(&kind).ok_or_else(Problem::not_found)?;
    if kind == c.actor.kind && id == c.actor.id {
        return Err(Problem::conflict("you cannot remove your own Instance Admin role"));
    }
    s.provider.stores.instance_admins.revoke_instance_admin(kind, &id).await?;
    let target = format!("{}:{id}", kind.as_str());
    audit(&s, INSTANCE_SCOPE, &c.actor, c.request_id.clone(), "instance_admin.revoke", target, json!({})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
