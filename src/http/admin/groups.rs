//! `/api/v1/{tenant}/groups`: groups, their members (users and service accounts, from either
//! side: `/groups/{id}/members`, or `/users/{id}/groups/{group_id}` and
//! `/service-accounts/{id}/groups/{group_id}`, one logic behind both), and a bulk
//! change-password request to a whole group.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
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
use crate::store::{Group, GroupMember, MemberKind, StoreError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/groups", get(list).post(create))
        .route("/{tenant}/groups/{id}", get(read).patch(update).delete(remove))
        .route("/{tenant}/groups/{id}/members", get(members).post(add_member))
        .route("/{tenant}/groups/{id}/members/{kind}/{member}", delete(remove_member))
        .route("/{tenant}/groups/{id}/password-change-request", post(password_change))
        // The same membership from the member's side.
        .route("/{tenant}/users/{id}/groups/{group_id}", put(user_join).delete(user_leave))
        .route(
            "/{tenant}/service-accounts/{id}/groups/{group_id}",
            put(service_account_join).delete(service_account_leave),
        )
}

fn group_json(g: &Group) -> serde_json::Value {
    json!({ "id": g.id, "name": g.name, "description": g.description, "created_at": g.created_at })
}

fn member_json(m: &GroupMember) -> serde_json::Value {
    json!({ "kind": m.member_kind.as_str(), "id": m.member_id, "created_at": m.created_at })
}

async fn get_group(s: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Group> {
    s.provider.stores.groups.get_group(ctx.tenant(), id).await?.ok_or_else(Problem::not_found)
}

async fn list(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::Group, Action::Read)?;
    let limit = page.limit()?;
    let groups =
        s.provider.stores.groups.list_groups(cap.tenant_id(), page.search(), page.after.as_deref(), limit).await?;
    let list = List::new(groups, limit, |g: &Group| g.id.clone());
    Ok(Json(json!({ "items": list.items.iter().map(group_json).collect::<Vec<_>>(), "next": list.next }))
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    id: Option<String>,
    name: String,
    description: Option<String>,
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<NewGroup>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::Group, Action::Create)?;
    let id = body.id.clone().unwrap_or_else(|| random_token(12));
    check_id("id", &id)?;
    check_name("name", &body.name)?;
    check_description(body.description.as_deref())?;
    let g = Group {
        tenant_id: cap.tenant_id().to_string(),
        id,
        name: body.name.trim().to_string(),
        description: body.description.clone(),
        created_at: now(),
    };
    s.provider.stores.groups.create_group(&g).await?;
    ctx.audit(&s, "group.create", format!("group:{}", g.id), json!({ "after": group_json(&g) })).await;
    Ok((StatusCode::CREATED, Json(group_json(&g))).into_response())
}

async fn read(State(s): State<AppState>, c: Caller, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::Group, Action::Read)?;
    Ok(Json(group_json(&get_group(&s, &ctx, &id).await?)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateGroup {
    name: Option<String>,
    description: Option<String>,
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateGroup>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::Group, Action::Update)?;
    let before = get_group(&s, &ctx, &id).await?;
    let name = body.name.as_deref().unwrap_or(&before.name);
    check_name("name", name)?;
    let description = body.description.as_deref().or(before.description.as_deref());
    check_description(description)?;
    s.provider.stores.groups.update_group(ctx.tenant(), &id, name.trim(), description).await?;
    let after = get_group(&s, &ctx, &id).await?;
    ctx.audit(
        &s,
        "group.update",
        format!("group:{id}"),
        json!({ "before": group_json(&before), "after": group_json(&after) }),
    )
    .await;
    Ok(Json(group_json(&after)).into_response())
}

/// Deletes the group, its memberships and its bindings; never its members.
async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::Group, Action::Delete)?;
    get_group(&s, &ctx, &id).await?;
    // Deleting the group takes its bindings away from every member: the mirror of giving them.
    check_group_grants(&s, &ctx, &id).await?;
    s.provider.stores.groups.delete_group(ctx.tenant(), &id, now()).await?;
    ctx.audit(&s, "group.delete", format!("group:{id}"), json!({})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MemberPage {
    after_kind: Option<MemberKind>,
    after: Option<String>,
    limit: Option<u32>,
}

async fn members(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiQuery(page): ApiQuery<MemberPage>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::Group, Action::Read)?;
    get_group(&s, &ctx, &id).await?;
    let limit = Page { limit: page.limit, ..Default::default() }.limit()?;
    let after = match (page.after_kind, page.after.as_deref()) {
        (Some(k), Some(a)) => Some((k, a)),
        (None, None) => None,
        _ => return Err(Problem::invalid("after", "give both after_kind and after")),
    };
    let items = s.provider.stores.groups.list_members(ctx.tenant(), &id, after, limit).await?;
    let next = (items.len() as u32 >= limit)
        .then(|| items.last().map(|m| json!({ "after_kind": m.member_kind.as_str(), "after": m.member_id })))
        .flatten();
    Ok(Json(json!({ "items": items.iter().map(member_json).collect::<Vec<_>>(), "next": next })).into_response())
}

/// Attaches a member to a group, from either side: `POST /groups/{id}/members` and
/// `PUT /users/{id}/groups/{group_id}` (or `/service-accounts/...`) are the same act, with the
/// same rules. GROUP:UPDATE, and no escalation: the actor must hold, in each scope, everything
/// the group's bindings grant (otherwise adding themselves, or a puppet, would widen their
/// rights). A member homed in another tenant is thereby invited to this one. `Ok(false)`: it
/// was a member already, and nothing changed.
async fn attach(s: &AppState, ctx: &Ctx, group: &str, kind: MemberKind, member: &str) -> ApiResult<bool> {
    ctx.require(Permission::Group, Action::Update)?;
    get_group(s, ctx, group).await?;
    check_group_grants(s, ctx, group).await?;
    match s.provider.stores.groups.add_member(ctx.tenant(), group, kind, member, now()).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    ctx.audit(
        s,
        "group.member.add",
        format!("group:{group}"),
        json!({ "member": format!("{}:{member}", kind.as_str()) }),
    )
    .await;
    Ok(true)
}

/// The no-escalation check of everything the group's bindings grant (the built-in `admin`
/// role for the whole tenant needs Tenant Admin): for adding a member, and as its mirror for
/// detaching one or deleting the group (taking away needs what giving needs).
async fn check_group_grants(s: &AppState, ctx: &Ctx, group: &str) -> ApiResult<()> {
    for (scope, perms, admin) in crate::admin::group_grants(&s.provider.stores, ctx.tenant(), group).await? {
        ctx.check_grant_role(perms, &scope, admin)?;
    }
    Ok(())
}

/// Detaches a member from a group, from either side (GROUP:UPDATE, and what adding them would
/// need: the group's grants); 404 if it was not one.
async fn detach(s: &AppState, ctx: &Ctx, group: &str, kind: MemberKind, member: &str) -> ApiResult<()> {
    ctx.require(Permission::Group, Action::Update)?;
    get_group(s, ctx, group).await?;
    check_group_grants(s, ctx, group).await?;
    s.provider.stores.groups.remove_member(ctx.tenant(), group, kind, member, now()).await?;
    ctx.audit(
        s,
        "group.member.remove",
        format!("group:{group}"),
        json!({ "member": format!("{}:{member}", kind.as_str()) }),
    )
    .await;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    kind: MemberKind,
    id: String,
}

async fn add_member(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<NewMember>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    if !attach(&s, &ctx, &id, body.kind, &body.id).await? {
        return Err(Problem::conflict(format!("already a member: {}:{}", body.kind.as_str(), body.id)));
    }
    Ok(StatusCode::CREATED.into_response())
}

async fn remove_member(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id, kind, member)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let kind = MemberKind::parse(&kind).ok_or_else(Problem::not_found)?;
    detach(&s, &ctx, &id, kind, &member).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /{tenant}/users/{id}/groups/{group_id}` and its service-account twin: idempotent, so
/// 201 when attached, 204 when it was a member already.
async fn join(
    s: AppState,
    c: Caller,
    tenant: String,
    kind: MemberKind,
    id: String,
    group: String,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let added = attach(&s, &ctx, &group, kind, &id).await?;
    Ok(if added { StatusCode::CREATED } else { StatusCode::NO_CONTENT }.into_response())
}

async fn leave(
    s: AppState,
    c: Caller,
    tenant: String,
    kind: MemberKind,
    id: String,
    group: String,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    detach(&s, &ctx, &group, kind, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn user_join(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id, group)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    join(s, c, tenant, MemberKind::User, id, group).await
}

async fn user_leave(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id, group)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    leave(s, c, tenant, MemberKind::User, id, group).await
}

async fn service_account_join(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id, group)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    join(s, c, tenant, MemberKind::ServiceAccount, id, group).await
}

async fn service_account_leave(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id, group)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    leave(s, c, tenant, MemberKind::ServiceAccount, id, group).await
}

/// Sends a mandatory change-password request to every user of the group.
async fn password_change(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Update)?;
    get_group(&s, &ctx, &id).await?;
    let stores = &s.provider.stores;
    // All or nothing: the authority rule over every user member before any write.
    let mut users = Vec::new();
    let mut after: Option<(MemberKind, String)> = None;
    loop {
        let page =
            stores.groups.list_members(ctx.tenant(), &id, after.as_ref().map(|(k, a)| (*k, a.as_str())), 200).await?;
        for m in page.iter().filter(|m| m.member_kind == MemberKind::User) {
            ctx.authority(&s, Target::user(&m.member_id), Reach::Identity).await?;
            users.push(m.member_id.clone());
        }
        if page.len() < 200 {
            break;
        }
        after = page.last().map(|m| (m.member_kind, m.member_id.clone()));
    }
    for member in &users {
        stores.users.require_password_change(member, true).await?;
        // No token before the new password: sessions and refresh tokens end now.
        crate::oauth::session::end_all_before_now(&s.provider, member).await?;
        if let Some(user) = stores.users.get_user_any(member).await? {
            crate::http::recovery::send_change_request(&s, &user, ctx.tenant());
        }
        ctx.audit(
            &s,
            "user.password_change_request",
            format!("user:{member}"),
            json!({ "via": format!("group:{id}") }),
        )
        .await;
    }
    let count = users.len();
    Ok((StatusCode::ACCEPTED, Json(json!({ "requested": count }))).into_response())
}
