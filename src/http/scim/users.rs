//! `/scim/v2/{tenant}/Users`: the users with access to the tenant, as SCIM Users. Created
//! users are homed in the tenant; only those are changed (a user homed elsewhere is another
//! tenant's identity: read-only here, and DELETE only removes its access to this tenant).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::filter::get_ci;
use super::{
    ListQuery, Projection, ScimBody, ScimCaller, ScimCtx, ScimError, ScimResult, USER_SCHEMA, check_external_id,
    check_id, check_schemas, meta, opt_bool, opt_str, scim_json,
};
use crate::crypto::{now, random_token};
use crate::http::AppState;
use crate::rbac::{Action, Permission, Reach};
use crate::store::{MemberKind, ScimRecord, ScimUserFilter, User};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/Users", get(list).post(create))
        .route("/{tenant}/Users/{id}", get(read).put(replace).patch(patch).delete(remove))
}

/// The SCIM representation: never a password or its hash.
fn user_json(s: &AppState, tenant: &str, u: &User, rec: Option<&ScimRecord>) -> Value {
    let mut v = json!({
        "schemas": [USER_SCHEMA],
        "id": u.id,
        "userName": u.username,
        "active": !u.disabled,
    });
    if let Some(x) = rec.and_then(|r| r.external_id.as_ref()) {
        v["externalId"] = x.clone().into();
    }
    let mut name = Map::new();
    if let Some(n) = &u.name {
        name.insert("formatted".into(), n.clone().into());
        v["displayName"] = n.clone().into();
    }
    if let Some(g) = rec.and_then(|r| r.given_name.as_ref()) {
        name.insert("givenName".into(), g.clone().into());
    }
    if let Some(f) = rec.and_then(|r| r.family_name.as_ref()) {
        name.insert("familyName".into(), f.clone().into());
    }
    if !name.is_empty() {
        v["name"] = name.into();
    }
    if let Some(e) = &u.email {
        let kind = rec.and_then(|r| r.email_type.clone()).unwrap_or_else(|| "work".into());
        v["emails"] = json!([{ "value": e, "type": kind, "primary": true }]);
    }
    let (created, modified) = rec.map_or((u.created_at, u.created_at), |r| (r.created_at, r.updated_at));
    v["meta"] = meta(s, "User", &format!("/scim/v2/{tenant}/Users/{}", u.id), created, modified);
    v
}

/// What a create or replace body asks for.
struct UserInput {
    user_name: String,
    name: Option<String>,
    given: Option<String>,
    family: Option<String>,
    email: Option<String>,
    email_type: Option<String>,
    external_id: Option<String>,
    active: bool,
    password: Option<String>,
}

fn check_text(field: &str, v: Option<String>) -> ScimResult<Option<String>> {
    match v.map(|x| x.trim().to_string()) {
        Some(x) if x.is_empty() => Ok(None),
        Some(x) if x.chars().count() > 200 || x.chars().any(char::is_control) => {
            Err(ScimError::value(format!("{field}: use at most 200 printable characters")))
        }
        v => Ok(v),
    }
}

fn parse_user(o: &Map<String, Value>) -> ScimResult<UserInput> {
    check_schemas(o, USER_SCHEMA)?;
    let user_name = opt_str(o, "userName")?.ok_or_else(|| ScimError::value("userName is required"))?;
    let user_name = user_name.trim().to_string();
    // Unique in canonical form (RFC 8265): a name equal to a taken one is a 409 `uniqueness`.
    crate::identity::canonical_username(&user_name).map_err(|why| ScimError::value(format!("userName: {why}")))?;
    let (formatted, given, family) = match get_ci(o, "name") {
        None | Some(Value::Null) => (None, None, None),
        Some(Value::Object(n)) => (
            check_text("name.formatted", opt_str(n, "formatted")?)?,
            check_text("name.givenName", opt_str(n, "givenName")?)?,
            check_text("name.familyName", opt_str(n, "familyName")?)?,
        ),
        Some(_) => return Err(ScimError::value("name must be an object")),
    };
    let display = check_text("displayName", opt_str(o, "displayName")?)?;
    let joined = [given.as_deref(), family.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let name = formatted.or(display).or((!joined.is_empty()).then_some(joined));
    let (email, email_type) = match get_ci(o, "emails") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Array(list)) => {
            let mut chosen = None;
            for e in list {
                let e = e.as_object().ok_or_else(|| ScimError::value("each email must be an object"))?;
                let primary = opt_bool(e, "primary")?.unwrap_or(false);
                if chosen.is_none() || primary {
                    chosen = Some((opt_str(e, "value")?, opt_str(e, "type")?));
                }
                if primary {
                    break;
                }
            }
            chosen.unwrap_or((None, None))
        }
        Some(_) => return Err(ScimError::value("emails must be an array")),
    };
    let email = email.map(|e| e.trim().to_string()).filter(|e| !e.is_empty());
    if let Some(e) = &email {
        crate::identity::canonical_email(e).map_err(|why| ScimError::value(format!("emails: {why}")))?;
    }
    let email_type = check_text("emails.type", email_type)?;
    let external_id = check_external_id(opt_str(o, "externalId")?)?;
    let active = opt_bool(o, "active")?.unwrap_or(true);
    let password = opt_str(o, "password")?;
    if let Some(p) = &password {
        crate::password::check_policy(p)
            .map_err(|m| ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), m))?;
    }
    Ok(UserInput { user_name, name, given, family, email, email_type, external_id, active, password })
}

async fn hash(password: String) -> ScimResult<String> {
    tokio::task::spawn_blocking(move || crate::password::hash_password(&password)).await.map_err(ScimError::internal)
}

/// The user with access to the tenant, and its record.
async fn find(s: &AppState, ctx: &ScimCtx, id: &str) -> ScimResult<(User, Option<ScimRecord>)> {
    let (mut found, _) =
        s.provider.stores.scim.scim_users(ctx.tenant(), &ScimUserFilter::Id(id.to_string()), 0, 1).await?;
    found.pop().ok_or_else(ScimError::not_found)
}

/// The user, if this tenant may change it (it is homed here).
fn owned(ctx: &ScimCtx, u: &User) -> ScimResult<()> {
    if u.tenant_id != ctx.tenant() {
        return Err(ScimError::forbidden("this user is managed by another tenant"));
    }
    Ok(())
}

async fn list(
    State(s): State<AppState>,
    c: ScimCaller,
    Path(tenant): Path<String>,
    RawQuery(q): RawQuery,
) -> ScimResult<Response> {
    let ctx = ScimCtx::new(&s, c, &tenant).await?;
    ctx.require(Permission::User, Action::Read)?;
    let q = ListQuery::parse(q.as_deref())?;
    let filter = match &q.filter {
        None => ScimUserFilter::All,
        Some(f) => {
            let value = f.value.as_str().ok_or_else(|| ScimError::filter("compare with a string"))?.to_string();
            match f.attr.key().as_str() {
                "id" => ScimUserFilter::Id(value),
                "username" => ScimUserFilter::UserName(value),
                "externalid" => ScimUserFilter::ExternalId(value),
                "emails" | "emails.value" => ScimUserFilter::Email(value),
                other => return Err(ScimError::filter(format!("filtering on {other} is not supported"))),
            }
        }
    };
    let (users, total) = s.provider.stores.scim.scim_users(ctx.tenant(), &filter, q.start_index - 1, q.count).await?;
    let items = users.iter().map(|(u, r)| q.projection.apply(user_json(&s, ctx.tenant(), u, r.as_ref()))).collect();
    Ok(q.response(total, items))
}

async fn create(
    State(s): State<AppState>,
    c: ScimCaller,
    Path(tenant): Path<String>,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let ctx = ScimCtx::new(&s, c, &tenant).await?;
    ctx.require(Permission::User, Action::Create)?;
    let input = parse_user(body.as_object().expect("checked by ScimBody"))?;
    let password_hash = match input.password {
        Some(p) => Some(hash(p).await?),
        None => None,
    };
    let t = now();
    let user = User {
        tenant_id: ctx.tenant().to_string(),
        id: random_token(12),
        username: input.user_name,
        email: input.email,
        // An email set by a provisioning client is not proven to belong to the person.
        email_verified: false,
        name: input.name,
        password_hash,
        disabled: !input.active,
        password_change_required: false,
        created_at: t,
    };
    let rec = ScimRecord {
        external_id: input.external_id,
        given_name: input.given,
        family_name: input.family,
        email_type: input.email_type,
        created_at: t,
        updated_at: t,
    };
    s.provider.stores.scim.create_scim_user(&user, &rec).await?;
    let v = user_json(&s, ctx.tenant(), &user, Some(&rec));
    ctx.audit(&s, "user.create", format!("user:{}", user.id), json!({ "after": v })).await;
    let mut res = scim_json(StatusCode::CREATED, v.clone());
    if let Some(loc) = v["meta"]["location"].as_str().and_then(|l| l.parse().ok()) {
        res.headers_mut().insert(axum::http::header::LOCATION, loc);
    }
    Ok(res)
}

async fn read(
    State(s): State<AppState>,
    c: ScimCaller,
    Path((tenant, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ScimResult<Response> {
    let ctx = ScimCtx::new(&s, c, &tenant).await?;
    ctx.require(Permission::User, Action::Read)?;
    let projection = Projection::parse(q.as_deref())?;
    let (u, rec) = find(&s, &ctx, &id).await?;
    let mut v = user_json(&s, ctx.tenant(), &u, rec.as_ref());
    let groups = s.provider.stores.groups.groups_of(ctx.tenant(), MemberKind::User, &id).await?;
    if !groups.is_empty() {
        v["groups"] = groups
            .iter()
            .map(|g| {
                json!({
                    "value": g.id,
                    "display": g.name,
                    "$ref": s.provider.settings.url(&format!("/scim/v2/{tenant}/Groups/{}", g.id)),
                })
            })
            .collect::<Vec<_>>()
            .into();
    }
    Ok(scim_json(StatusCode::OK, projection.apply(v)))
}

/// Replaces the user with `input` (a PUT, or the result of a PATCH).
async fn apply(
    s: &AppState,
    ctx: &ScimCtx,
    before: &User,
    rec: Option<ScimRecord>,
    input: UserInput,
) -> ScimResult<Response> {
    owned(ctx, before)?;
    // userName, e-mail, name, active and password are the identity's, in every tenant.
    ctx.authority(s, &before.id, Reach::Identity).await?;
    let stores = &s.provider.stores;
    let password_hash = match input.password {
        Some(p) => Some(hash(p).await?),
        None => None,
    };
    let t = now();
    let rec = ScimRecord {
        external_id: input.external_id,
        given_name: input.given,
        family_name: input.family,
        email_type: input.email_type,
        created_at: rec.map_or(before.created_at, |r| r.created_at),
        updated_at: t,
    };
    // The record first: a taken externalId changes nothing.
    stores.scim.put_scim_user_record(ctx.tenant(), &before.id, &rec).await?;
    stores
        .scim
        .update_user_identity(&before.id, &input.user_name, input.email.as_deref(), input.name.as_deref())
        .await?;
    if before.disabled == input.active {
        stores.users.set_disabled(&before.id, !input.active).await?;
    }
    if let Some(h) = password_hash {
        stores.users.set_password_hash(&before.tenant_id, &before.id, &h).await?;
    }
    let (after, rec) = find(s, ctx, &before.id).await?;
    let v = user_json(s, ctx.tenant(), &after, rec.as_ref());
    let old = user_json(s, ctx.tenant(), before, None);
    ctx.audit(s, "user.update", format!("user:{}", before.id), json!({ "before": old, "after": v })).await;
    Ok(scim_json(StatusCode::OK, v))
}

async fn replace(
    State(s): State<AppState>,
    c: ScimCaller,
    Path((tenant, id)): Path<(String, String)>,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let ctx = ScimCtx::new(&s, c, &tenant).await?;
    ctx.require(Permission::User, Action::Update)?;
    let o = body.as_object().expect("checked by ScimBody");
    let (before, rec) = find(&s, &ctx, &id).await?;
    check_id(o, &id)?;
    let input = parse_user(o)?;
    apply(&s, &ctx, &before, rec, input).await
}

async fn patch(
    State(s): State<AppState>,
    c: ScimCaller,
    Path((tenant, id)): Path<(String, String)>,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let ctx = ScimCtx::new(&s, c, &tenant).await?;
    ctx.require(Permission::User, Action::Update)?;
    let (before, rec) = find(&s, &ctx, &id).await?;
    let mut doc = match user_json(&s, ctx.tenant(), &before, rec.as_ref()) {
        Value::Object(o) => o,
        _ => unreachable!("user_json builds an object"),
    };
    doc.remove("meta");
    super::patch::apply(&mut doc, &body)?;
    check_id(&doc, &id)?;
    let input = parse_user(&doc)?;
    apply(&s, &ctx, &before, rec, input).await
}

/// Deletes a user homed in the tenant (the identity, with its access everywhere); for a user
/// homed elsewhere, removes its access to this tenant only. Either way it cannot act here.
async fn remove(
    State(s): State<AppState>,
    c: ScimCaller,
    Path((tenant, id)): Path<(String, String)>,
) -> ScimResult<Response> {
    let ctx = ScimCtx::new(&s, c, &tenant).await?;
    ctx.require(Permission::User, Action::Delete)?;
    let (u, _) = find(&s, &ctx, &id).await?;
    let stores = &s.provider.stores;
    let reach = if u.tenant_id == ctx.tenant() { Reach::Identity } else { Reach::Tenant(ctx.tenant()) };
    ctx.authority(&s, &id, reach).await?;
    if u.tenant_id == ctx.tenant() {
        stores.users.delete_user(ctx.tenant(), &id).await?;
        ctx.audit(&s, "user.delete", format!("user:{id}"), json!({})).await;
    } else {
        stores.access.revoke_access(ctx.tenant(), MemberKind::User, &id, now()).await?;
        ctx.audit(&s, "user.remove", format!("user:{id}"), json!({})).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
