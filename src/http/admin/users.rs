//! `/api/v1/{tenant}/users`: the users with access to the tenant. A Tenant Admin sees only
//! those, and finds anyone else only by typing their exact email (`/users/lookup`), to invite
//! them through a group or a binding. Admins never read or set a password and never change an
//! email: they send a mandatory change-password request (mailed to the user, who must choose a
//! new password at the next sign-in).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::extract::{ApiJson, ApiQuery};
use super::problem::{ApiResult, Problem};
use super::{Ctx, List, Page, check_name};
use crate::admin::Target;
use crate::crypto::{now, random_token};
use crate::http::AppState;
use crate::rbac::{Action, Permission, Reach};
use crate::store::{MemberKind, User};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/users", get(list).post(create))
        .route("/{tenant}/users/lookup", get(lookup))
        .route("/{tenant}/users/password-change-requests", post(bulk_password_change))
        .route("/{tenant}/users/{id}", get(read).patch(update).delete(remove))
        .route("/{tenant}/users/{id}/password-change-request", post(password_change))
}

/// What an admin sees of a user: never the password hash.
pub fn user_json(u: &User) -> serde_json::Value {
    json!({
        "id": u.id,
        "username": u.username,
        "email": u.email,
        "email_verified": u.email_verified,
        "name": u.name,
        "disabled": u.disabled,
        "password_change_required": u.password_change_required,
        "created_at": u.created_at,
    })
}

/// The user, if it has access to the tenant (anything else is 404).
async fn visible_user(s: &AppState, ctx: &Ctx, id: &str) -> ApiResult<User> {
    let stores = &s.provider.stores;
    if !stores.access.has_access(ctx.tenant(), MemberKind::User, id).await? {
        return Err(Problem::not_found());
    }
    stores.users.get_user_any(id).await?.ok_or_else(Problem::not_found)
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
    let users = s
        .provider
        .stores
        .access
        .list_users_with_access(cap.tenant_id(), page.search(), page.after.as_deref(), limit)
        .await?;
    let list = List::new(users, limit, |u: &User| u.id.clone());
    Ok(Json(json!({ "items": list.items.iter().map(user_json).collect::<Vec<_>>(), "next": list.next }))
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lookup {
    email: String,
}

/// Finds an existing user of the instance by exact email, to invite them.
async fn lookup(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiQuery(q): ApiQuery<Lookup>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Read)?;
    let email = crate::identity::canonical_email(&q.email)
        .map_err(|why| Problem::invalid("email", format!("type the exact email address: {why}")))?;
    match s.provider.stores.users.find_user_by_email_any(&email).await? {
        Some(u) if u.email.as_deref().and_then(|e| crate::identity::canonical_email(e).ok()) == Some(email) => {
            Ok(Json(json!({ "id": u.id, "username": u.username, "email": u.email, "name": u.name })).into_response())
        }
        _ => Err(Problem::not_found()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    email: Option<String>,
    name: Option<String>,
}

/// Creates a user homed in this tenant, with no password: they get a mandatory
/// change-password request (the invitation mail comes with the passwords issue).
async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<NewUser>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Create)?;
    // Unique in canonical form (`ALICE` and a full-width `ａｌｉｃｅ` are `alice`): the store
    // answers a taken one as a conflict.
    let username = body.username.trim();
    crate::identity::canonical_username(username).map_err(|why| Problem::invalid("username", why.to_string()))?;
    let email = body.email.as_deref().map(str::trim);
    if let Some(e) = email {
        crate::identity::canonical_email(e).map_err(|why| Problem::invalid("email", why.to_string()))?;
    }
    if let Some(n) = &body.name {
        check_name("name", n)?;
    }
    let user = User {
        tenant_id: cap.tenant_id().to_string(),
        id: random_token(12),
        username: username.to_string(),
        email: email.map(str::to_string),
        email_verified: false,
        name: body.name.clone(),
        password_hash: None,
        disabled: false,
        password_change_required: true,
        created_at: now(),
    };
    s.provider.stores.users.create_user(&user).await?;
    ctx.audit(&s, "user.create", format!("user:{}", user.id), json!({ "after": user_json(&user) })).await;
    Ok((StatusCode::CREATED, Json(user_json(&user))).into_response())
}

async fn read(State(s): State<AppState>, c: Caller, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Read)?;
    let u = visible_user(&s, &ctx, &id).await?;
    let groups = s.provider.stores.groups.groups_of(ctx.tenant(), MemberKind::User, &id).await?;
    let mut v = user_json(&u);
    v["groups"] = groups.iter().map(|g| json!({ "id": g.id, "name": g.name })).collect::<Vec<_>>().into();
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    name: Option<String>,
    disabled: Option<bool>,
    email: Option<serde_json::Value>,
    password: Option<serde_json::Value>,
}

async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Update)?;
    if body.email.is_some() {
        return Err(Problem::invalid("email", "admins cannot change a user's email; the user changes it"));
    }
    if body.password.is_some() {
        return Err(Problem::invalid("password", "admins cannot set passwords; send a change-password request"));
    }
    let before = visible_user(&s, &ctx, &id).await?;
    // Every check before any write: a refused request changes nothing. The name and the
    // disabled flag are the identity's, in every tenant: the authority rule over all of them.
    ctx.authority(&s, Target::user(&id), Reach::Identity).await?;
    if let Some(n) = &body.name {
        check_name("name", n)?;
    }
    if body.disabled.is_some() && !ctx.access.is_instance_admin() {
        // Disabling an identity affects every tenant: an Instance Admin's decision.
        return Err(Problem::forbidden("only an Instance Admin can disable a user"));
    }
    let stores = &s.provider.stores;
    if let Some(n) = &body.name {
        stores.users.update_profile(&id, Some(n.trim())).await?;
    }
    if let Some(d) = body.disabled {
        stores.users.set_disabled(&id, d).await?;
    }
    let after = stores.users.get_user_any(&id).await?.ok_or_else(Problem::not_found)?;
    ctx.audit(
        &s,
        "user.update",
        format!("user:{id}"),
        json!({ "before": user_json(&before), "after": user_json(&after) }),
    )
    .await;
    Ok(Json(user_json(&after)).into_response())
}

/// Removes the user's access to this tenant (and their bindings and memberships there). The
/// identity stays: it may have access to other tenants.
async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Delete)?;
    visible_user(&s, &ctx, &id).await?;
    // Taking away everything the user holds here needs holding at least as much here.
    ctx.authority(&s, Target::user(&id), Reach::Tenant(ctx.tenant())).await?;
    s.provider.stores.access.revoke_access(ctx.tenant(), MemberKind::User, &id, now()).await?;
    ctx.audit(&s, "user.remove", format!("user:{id}"), json!({})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn password_change(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Update)?;
    let user = visible_user(&s, &ctx, &id).await?;
    ctx.authority(&s, Target::user(&id), Reach::Identity).await?;
    s.provider.stores.users.require_password_change(&id, true).await?;
    // No token before the new password: sessions and refresh tokens end now.
    crate::oauth::session::end_all_before_now(&s.provider, &id).await?;
    ctx.audit(&s, "user.password_change_request", format!("user:{id}"), json!({})).await;
    crate::http::recovery::send_change_request(&s, &user, ctx.tenant());
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bulk {
    user_ids: Vec<String>,
}

async fn bulk_password_change(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<Bulk>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Update)?;
    if body.user_ids.is_empty() || body.user_ids.len() > 1000 {
        return Err(Problem::invalid("user_ids", "name 1 to 1000 users"));
    }
    // All or nothing: check every user first.
    let mut users = Vec::with_capacity(body.user_ids.len());
    for id in &body.user_ids {
        users.push(visible_user(&s, &ctx, id).await?);
        ctx.authority(&s, Target::user(id), Reach::Identity).await?;
    }
    for user in &users {
        s.provider.stores.users.require_password_change(&user.id, true).await?;
        crate::oauth::session::end_all_before_now(&s.provider, &user.id).await?;
        ctx.audit(&s, "user.password_change_request", format!("user:{}", user.id), json!({})).await;
        crate::http::recovery::send_change_request(&s, user, ctx.tenant());
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "requested": body.user_ids.len() }))).into_response())
}
