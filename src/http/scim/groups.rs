//! `/scim/v2/{tenant}/Groups`: the tenant's groups, as SCIM Groups, through the same
//! `GroupStore` as the admin API, so bindings and binding epochs follow membership. Members
//! are users with access to the tenant; service-account members are neither shown nor
//! touched. Adding members follows the admin API's no-escalation rule.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::filter::get_ci;
use super::{
    GROUP_SCHEMA, ListQuery, Projection, ScimBody, ScimCaller, ScimCtx, ScimError, ScimResult, check_external_id,
    check_id, check_schemas, meta, opt_str, scim_json,
};
use crate::crypto::{now, random_token};
use crate::http::AppState;
use crate::rbac::{Action, Permission};
use crate::store::{Group, MemberKind, ScimGroupFilter, ScimRecord, StoreError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/Groups", get(list).post(create))
        .route("/{tenant}/Groups/{id}", get(read).put(replace).patch(patch).delete(remove))
}

/// The group's user members, by id.
async fn user_members(s: &AppState, tenant: &str, group: &str) -> ScimResult<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut after: Option<(MemberKind, String)> = None;
    loop {
        let page = s
            .provider
            .stores
            .groups
            .list_members(tenant, group, after.as_ref().map(|(k, a)| (*k, a.as_str())), 200)
            .await?;
        out.extend(page.iter().filter(|m| m.member_kind == MemberKind::User).map(|m| m.member_id.clone()));
        if page.len() < 200 {
            return Ok(out);
        }
        after = page.last().map(|m| (m.member_kind, m.member_id.clone()));
    }
}

fn group_json(
    s: &AppState,
    tenant: &str,
    g: &Group,
    rec: Option<&ScimRecord>,
    members: Option<&BTreeSet<String>>,
) -> Value {
    let mut v = json!({ "schemas": [GROUP_SCHEMA], "id": g.id, "displayName": g.name });
    if let Some(x) = rec.and_then(|r| r.external_id.as_ref()) {
        v["externalId"] = x.clone().into();
    }
    if let Some(members) = members {
        v["members"] = members
            .iter()
            .map(|id| {
                json!({
                    "value": id,
                    "type": "User",
                    "$ref": s.provider.settings.url(&format!("/scim/v2/{tenant}/Users/{id}")),
                })
            })
            .collect::<Vec<_>>()
            .into();
    }
    let (created, modified) = rec.map_or((g.created_at, g.created_at), |r| (r.created_at, r.updated_at));
    v["meta"] = meta(s, "Group", &format!("/scim/v2/{tenant}/Groups/{}", g.id), created, modified);
    v
}

struct GroupInput {
    name: String,
    external_id: Option<String>,
    members: BTreeSet<String>,
}

fn parse_group(o: &Map<String, Value>) -> ScimResult<GroupInput> {
    check_schemas(o, GROUP_SCHEMA)?;
    let name = opt_str(o, "displayName")?.ok_or_else(|| ScimError::value("displayName is required"))?;
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ScimError::value("displayName: use 1 to 200 printable characters"));
    }
    let external_id = check_external_id(opt_str(o, "externalId")?)?;
    let mut members = BTreeSet::new();
    match get_ci(o, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for m in list {
                let m = m.as_object().ok_or_else(|| ScimError::value("each member must be an object"))?;
                if let Some(t) = opt_str(m, "type")?
                    && !t.eq_ignore_ascii_case("User")
                {
                    return Err(ScimError::value("members must be users"));
                }
                let id = opt_str(m, "value")?.ok_or_else(|| ScimError::value("each member needs a value"))?;
                members.insert(id);
            }
        }
        Some(_) => return Err(ScimError::value("members must be an array")),
    }
    if members.len() > 10_000 {
        return Err(ScimError::value("at most 10000 members per request"));
    }
    Ok(GroupInput { name, external_id, members })
}

async fn find(s: &AppState, ctx: &ScimCtx, id: &str) -> ScimResult<(Group, Option<ScimRecord>)> {
    let (mut found, _) =
        s.provider.stores.scim.scim_groups(ctx.tenant(), &ScimGroupFilter::Id(id.to_string()), 0, 1).await?;
    found.pop().ok_or_else(ScimError::not_found)
}

/// Brings the group's user members to `wanted`. Adding needs GROUP:UPDATE and no escalation
/// (the caller holds everything the group grants), checked before any change; every new
/// member must be a user with access to the tenant.
async fn sync_members(
    s: &AppState,
    ctx: &ScimCtx,
    group: &str,
    current: &BTreeSet<String>,
    wanted: &BTreeSet<String>,
) -> ScimResult<()> {
    let stores = &s.provider.stores;
    let added: Vec<&String> = wanted.difference(current).collect();
    let removed: Vec<&String> = current.difference(wanted).collect();
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    ctx.require(Permission::Group, Action::Update)?;
    // Adding members gives the group's grants; removing takes them away: the same check.
    ctx.check_group_grants(s, group).await?;
    if !added.is_empty() {
        for id in &added {
            if !stores.access.has_access(ctx.tenant(), MemberKind::User, id).await? {
                return Err(ScimError::value(format!("member {id} is not a user of this tenant")));
            }
        }
    }
    let t = now();
    for id in added {
        match stores.groups.add_member(ctx.tenant(), group, MemberKind::User, id, t).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        ctx.audit(s, "group.member.add", format!("group:{group}"), json!({ "member": format!("user:{id}") })).await;
    }
    for id in removed {
        match stores.groups.remove_member(ctx.tenant(), group, MemberKind::User, id, t).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        ctx.audit(s, "group.member.remove", format!("group:{group}"), json!({ "member": format!("user:{id}") })).await;
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
    ctx.require(Permission::Group, Action::Read)?;
    let q = ListQuery::parse(q.as_deref())?;
    let filter = match &q.filter {
        None => ScimGroupFilter::All,
        Some(f) => {
            let value = f.value.as_str().ok_or_else(|| ScimError::filter("compare with a string"))?.to_string();
            match f.attr.key().as_str() {
                "id" => ScimGroupFilter::Id(value),
                "displayname" => ScimGroupFilter::DisplayName(value),
                "externalid" => ScimGroupFilter::ExternalId(value),
                other => return Err(ScimError::filter(format!("filtering on {other} is not supported"))),
            }
        }
    };
    let (groups, total) = s.provider.stores.scim.scim_groups(ctx.tenant(), &filter, q.start_index - 1, q.count).await?;
    let mut items = Vec::with_capacity(groups.len());
    for (g, rec) in &groups {
        let members =
            if q.projection.wants("members") { Some(user_members(&s, ctx.tenant(), &g.id).await?) } else { None };
        items.push(q.projection.apply(group_json(&s, ctx.tenant(), g, rec.as_ref(), members.as_ref())));
    }
    Ok(q.response(total, items))
}

async fn create(
    State(s): State<AppState>,
    c: ScimCaller,
    Path(tenant): Path<String>,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let ctx = ScimCtx::new(&s, c, &tenant).await?;
    ctx.require(Permission::Group, Action::Create)?;
    let input = parse_group(body.as_object().expect("checked by ScimBody"))?;
    if !input.members.is_empty() {
        ctx.require(Permission::Group, Action::Update)?;
    }
    let t = now();
    let g = Group {
        tenant_id: ctx.tenant().to_string(),
        id: random_token(12),
        name: input.name,
        description: None,
        created_at: t,
    };
    let rec = ScimRecord { external_id: input.external_id, created_at: t, updated_at: t, ..Default::default() };
    s.provider.stores.scim.create_scim_group(&g, &rec).await?;
    let v = group_json(&s, ctx.tenant(), &g, Some(&rec), None);
    ctx.audit(&s, "group.create", format!("group:{}", g.id), json!({ "after": v })).await;
    // A new group grants nothing yet: adding its members cannot escalate.
    sync_members(&s, &ctx, &g.id, &BTreeSet::new(), &input.members).await?;
    let v = group_json(&s, ctx.tenant(), &g, Some(&rec), Some(&input.members));
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
    ctx.require(Permission::Group, Action::Read)?;
    let projection = Projection::parse(q.as_deref())?;
    let (g, rec) = find(&s, &ctx, &id).await?;
    let members = if projection.wants("members") { Some(user_members(&s, ctx.tenant(), &id).await?) } else { None };
    Ok(scim_json(StatusCode::OK, projection.apply(group_json(&s, ctx.tenant(), &g, rec.as_ref(), members.as_ref()))))
}

/// Replaces the group with `input` (a PUT, or the result of a PATCH).
async fn apply(
    s: &AppState,
    ctx: &ScimCtx,
    before: &Group,
    rec: Option<ScimRecord>,
    current: &BTreeSet<String>,
    input: GroupInput,
) -> ScimResult<Response> {
    let stores = &s.provider.stores;
    let t = now();
    let rec = ScimRecord {
        external_id: input.external_id,
        created_at: rec.map_or(before.created_at, |r| r.created_at),
        updated_at: t,
        ..Default::default()
    };
    stores.scim.put_scim_group_record(ctx.tenant(), &before.id, &rec).await?;
    if input.name != before.name {
        stores.groups.update_group(ctx.tenant(), &before.id, &input.name, before.description.as_deref()).await?;
    }
    sync_members(s, ctx, &before.id, current, &input.members).await?;
    let (after, rec) = find(s, ctx, &before.id).await?;
    let members = user_members(s, ctx.tenant(), &before.id).await?;
    let v = group_json(s, ctx.tenant(), &after, rec.as_ref(), Some(&members));
    ctx.audit(
        s,
        "group.update",
        format!("group:{}", before.id),
        json!({ "before": { "displayName": before.name }, "after": { "displayName": after.name } }),
    )
    .await;
    Ok(scim_json(StatusCode::OK, v))
}

async fn replace(
    State(s): State<AppState>,
    c: ScimCaller,
    Path((tenant, id)): Path<(String, String)>,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let ctx = ScimCtx::new(&s, c, &tenant).await?;
    ctx.require(Permission::Group, Action::Update)?;
    let o = body.as_object().expect("checked by ScimBody");
    let (before, rec) = find(&s, &ctx, &id).await?;
    check_id(o, &id)?;
    let input = parse_group(o)?;
    let current = user_members(&s, ctx.tenant(), &id).await?;
    apply(&s, &ctx, &before, rec, &current, input).await
}

async fn patch(
    State(s): State<AppState>,
    c: ScimCaller,
    Path((tenant, id)): Path<(String, String)>,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let ctx = ScimCtx::new(&s, c, &tenant).await?;
    ctx.require(Permission::Group, Action::Update)?;
    let (before, rec) = find(&s, &ctx, &id).await?;
    let current = user_members(&s, ctx.tenant(), &id).await?;
    let mut doc = match group_json(&s, ctx.tenant(), &before, rec.as_ref(), Some(&current)) {
        Value::Object(o) => o,
        _ => unreachable!("group_json builds an object"),
    };
    doc.remove("meta");
    super::patch::apply(&mut doc, &body)?;
    check_id(&doc, &id)?;
    let input = parse_group(&doc)?;
    apply(&s, &ctx, &before, rec, &current, input).await
}

/// Deletes the group, its memberships and its bindings; never its members.
async fn remove(
    State(s): State<AppState>,
    c: ScimCaller,
    Path((tenant, id)): Path<(String, String)>,
) -> ScimResult<Response> {
    let ctx = ScimCtx::new(&s, c, &tenant).await?;
    ctx.require(Permission::Group, Action::Delete)?;
    find(&s, &ctx, &id).await?;
    ctx.check_group_grants(&s, &id).await?;
    s.provider.stores.groups.delete_group(ctx.tenant(), &id, now()).await?;
    ctx.audit(&s, "group.delete", format!("group:{id}"), json!({})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
