//! `/api/v1/{tenant}/service-accounts`: application identities (id, name, description; no
//! personal data), managed with the USER permission. Their credentials (API tokens, clients,
//! workload identities) are in `api_tokens.rs`, `sa_clients.rs` and `workload_identities.rs`.

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
use crate::admin::Target;
use crate::crypto::{now, random_token};
use crate::http::AppState;
use crate::rbac::{Action, Permission, Reach};
use crate::store::{MemberKind, ServiceAccount};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/service-accounts", get(list).post(create))
        .route("/{tenant}/service-accounts/{id}", get(read).patch(update).delete(remove))
}

fn sa_json(a: &ServiceAccount) -> serde_json::Value {
    json!({
        "id": a.id,
        "name": a.name,
        "description": a.description,
        "audiences": a.audiences,
        "created_at": a.created_at,
        "created_by": a.created_by,
    })
}

/// Validates the audiences a service account may get tokens for: at most 20 distinct
/// values, each 1 to 500 visible characters (an absolute URI or a logical name).
pub(super) fn check_audiences(list: &[String]) -> ApiResult<()> {
    let bad = |s: &String| s.is_empty() || s.len() > 500 || !s.bytes().all(|b| b.is_ascii_graphic());
    if list.len() > 20 || list.iter().any(bad) {
        return Err(Problem::invalid("audiences", "use at most 20 values of 1 to 500 visible ASCII characters"));
    }
    if list.iter().enumerate().any(|(i, a)| list[..i].contains(a)) {
        return Err(Problem::invalid("audiences", "list each audience once"));
    }
    Ok(())
}

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Read)?;
    let limit = page.limit()?;
    let items = s
        .provider
        .stores
        .service_accounts
        .list_service_accounts(cap.tenant_id(), page.search(), page.after.as_deref(), limit)
        .await?;
    let list = List::new(items, limit, |a: &ServiceAccount| a.id.clone());
    Ok(Json(json!({ "items": list.items.iter().map(sa_json).collect::<Vec<_>>(), "next": list.next })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    id: Option<String>,
    name: String,
    description: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<NewAccount>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Create)?;
    let id = body.id.clone().unwrap_or_else(|| format!("sa-{}", random_token(9)));
    check_id("id", &id)?;
    check_name("name", &body.name)?;
    check_description(body.description.as_deref())?;
    check_audiences(&body.audiences)?;
    let a = ServiceAccount {
        tenant_id: cap.tenant_id().to_string(),
        id,
        name: body.name.trim().to_string(),
        description: body.description.clone(),
        created_at: now(),
        created_by: Some(ctx.actor.audit_name()),
        audiences: body.audiences.clone(),
    };
    s.provider.stores.service_accounts.create_service_account(&a).await?;
    ctx.audit(&s, "service_account.create", format!("service_account:{}", a.id), json!({ "after": sa_json(&a) })).await;
    Ok((StatusCode::CREATED, Json(sa_json(&a))).into_response())
}

async fn visible(s: &AppState, ctx: &Ctx, id: &str) -> ApiResult<ServiceAccount> {
    let stores = &s.provider.stores;
    if let Some(a) = stores.service_accounts.get_service_account(ctx.tenant(), id).await? {
        return Ok(a);
    }
    // Homed elsewhere but invited here: visible, not editable.
    if stores.access.has_access(ctx.tenant(), MemberKind::ServiceAccount, id).await? {
        return Err(Problem::conflict("this service account belongs to another tenant"));
    }
    Err(Problem::not_found())
}

async fn read(State(s): State<AppState>, c: Caller, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Read)?;
    let a = visible(&s, &ctx, &id).await?;
    let groups = s.provider.stores.groups.groups_of(ctx.tenant(), MemberKind::ServiceAccount, &id).await?;
    let mut v = sa_json(&a);
    v["groups"] = groups.iter().map(|g| json!({ "id": g.id, "name": g.name })).collect::<Vec<_>>().into();
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateAccount {
    name: Option<String>,
    description: Option<String>,
    audiences: Option<Vec<String>>,
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateAccount>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Update)?;
    let before = visible(&s, &ctx, &id).await?;
    // Its audiences decide what its tokens reach, in every tenant it belongs to.
    ctx.authority(&s, Target::service_account(&id), Reach::Identity).await?;
    let name = body.name.as_deref().unwrap_or(&before.name);
    check_name("name", name)?;
    let description = body.description.as_deref().or(before.description.as_deref());
    check_description(description)?;
    let audiences = body.audiences.as_ref().unwrap_or(&before.audiences);
    check_audiences(audiences)?;
    let stores = &s.provider.stores;
    stores.service_accounts.update_service_account(ctx.tenant(), &id, name.trim(), description, audiences).await?;
    let after = stores.service_accounts.get_service_account(ctx.tenant(), &id).await?.ok_or_else(Problem::not_found)?;
    ctx.audit(
        &s,
        "service_account.update",
        format!("service_account:{id}"),
        json!({ "before": sa_json(&before), "after": sa_json(&after) }),
    )
    .await;
    Ok(Json(sa_json(&after)).into_response())
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Delete)?;
    visible(&s, &ctx, &id).await?;
    ctx.authority(&s, Target::service_account(&id), Reach::Identity).await?;
    s.provider.stores.service_accounts.delete_service_account(ctx.tenant(), &id).await?;
    ctx.audit(&s, "service_account.delete", format!("service_account:{id}"), json!({})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The service account homed in this tenant, whose credentials are managed here: 404 if the
/// tenant does not see it, 409 if it is homed in another tenant and only invited here.
pub(super) async fn home_account(s: &AppState, ctx: &Ctx, id: &str) -> ApiResult<ServiceAccount> {
    let stores = &s.provider.stores;
    if let Some(account) = stores.service_accounts.get_service_account(ctx.tenant(), id).await? {
        return Ok(account);
    }
    if stores.access.has_access(ctx.tenant(), MemberKind::ServiceAccount, id).await? {
        return Err(Problem::conflict("manage this service account's credentials in its home tenant"));
    }
    Err(Problem::not_found())
}

/// The service account of this tenant for which the actor may issue (or revoke) a credential
/// (an API token, a client, a workload identity). A credential lets its holder act as the
/// account, in every tenant the account belongs to, so minting one needs the authority rule
/// over the account there: the actor holds at least as much as the account wherever the
/// account holds anything, and only an Instance Admin issues for an Instance Admin account.
pub(super) async fn credential_target(s: &AppState, ctx: &Ctx, id: &str) -> ApiResult<ServiceAccount> {
    let account = home_account(s, ctx, id).await?;
    ctx.authority(s, Target::service_account(id), Reach::Identity).await?;
    Ok(account)
}
