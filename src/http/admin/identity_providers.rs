//! Identity providers (federation connections): `/api/v1/{tenant}/identity-providers` for a
//! tenant's, `/api/v1/identity-providers` for the instance-wide ones. Managing them needs
//! Tenant Admin (or Instance Admin) for a tenant's, Instance Admin for the instance's: a
//! connection decides who becomes a user and which groups they join.
//!
//! The client secret is write-only: sealed at rest, never returned (`client_secret_set`
//! says whether one is stored); a replacement without `client_secret` keeps the stored one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::extract::ApiJson;
use super::problem::{ApiResult, Problem};
use super::{Ctx, check_id, check_name};
use crate::admin::is_instance_admin;
use crate::crypto::now;
use crate::federation::{CALLBACK_PATH, LOGGED_OUT_PATH, secret_context};
use crate::http::AppState;
use crate::store::{
    ClaimMapping, Connection, ConnectionSettings, GroupMapping, INSTANCE_SCOPE, LinkPolicy, UpstreamAuthMethod,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/identity-providers", get(list_instance).post(create_instance))
        .route("/identity-providers/{id}", get(read_instance).put(replace_instance).delete(remove_instance))
        .route("/{tenant}/identity-providers", get(list).post(create))
        .route("/{tenant}/identity-providers/{id}", get(read).put(replace).delete(remove))
}

fn connection_json(s: &AppState, c: &Connection) -> serde_json::Value {
    let st = &c.settings;
    json!({
        "id": c.id,
        "tenant": c.tenant_id,
        "name": c.name,
        "issuer": c.issuer,
        "client_id": c.client_id,
        "client_secret_set": c.client_secret_sealed.is_some(),
        "auth_method": st.auth_method,
        "scopes": st.scopes,
        "claims": st.claims,
        "email_domains": st.email_domains,
        "link": st.link,
        "jit": st.jit,
        "home_tenant": st.home_tenant,
        "group_mappings": st.group_mappings,
        "end_session": st.end_session,
        "enabled": c.enabled,
        "redirect_uri": s.provider.settings.url(CALLBACK_PATH),
        "post_logout_redirect_uri": s.provider.settings.url(LOGGED_OUT_PATH),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

/// The body of a create or a replacement.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    id: Option<String>,
    name: String,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    #[serde(default)]
    auth_method: UpstreamAuthMethod,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    claims: ClaimMapping,
    #[serde(default)]
    email_domains: Vec<String>,
    #[serde(default)]
    link: LinkPolicy,
    jit: Option<bool>,
    home_tenant: Option<String>,
    #[serde(default)]
    group_mappings: Vec<GroupMapping>,
    end_session: Option<bool>,
    enabled: Option<bool>,
}

/// Where the connection lives, and whether the caller may manage it.
enum Scope {
    Tenant(Ctx),
    Instance(Caller),
}

impl Scope {
    fn tenant(&self) -> &str {
        match self {
            Self::Tenant(ctx) => ctx.tenant(),
            Self::Instance(_) => INSTANCE_SCOPE,
        }
    }

    async fn audit(&self, s: &AppState, action: &str, target: String, summary: serde_json::Value) {
        match self {
            Self::Tenant(ctx) => ctx.audit(s, action, target, summary).await,
            Self::Instance(c) => {
                super::audit(s, INSTANCE_SCOPE, &c.actor, c.request_id.clone(), action, target, summary).await;
            }
        }
    }
}

async fn tenant_scope(s: &AppState, c: Caller, tenant: &str) -> ApiResult<Scope> {
    let ctx = Ctx::new(s, c.actor, tenant, c.request_id).await?;
    if !(ctx.access.is_tenant_admin() || ctx.access.is_instance_admin()) {
        return Err(Problem::forbidden("managing identity providers needs Tenant Admin or Instance Admin"));
    }
    Ok(Scope::Tenant(ctx))
}

async fn instance_scope(s: &AppState, c: Caller) -> ApiResult<Scope> {
    if !is_instance_admin(&s.provider.stores, &c.actor).await? {
        return Err(Problem::forbidden("instance-wide identity providers need Instance Admin"));
    }
    Ok(Scope::Instance(c))
}

async fn do_list(s: &AppState, scope: &Scope) -> ApiResult<Response> {
    let items = s.provider.stores.federation.list_connections(scope.tenant()).await?;
    Ok(Json(json!({ "items": items.iter().map(|c| connection_json(s, c)).collect::<Vec<_>>() })).into_response())
}

async fn do_read(s: &AppState, scope: &Scope, id: &str) -> ApiResult<Response> {
    let c = s.provider.stores.federation.get_connection(scope.tenant(), id).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(connection_json(s, &c)).into_response())
}

fn check_text(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.trim().is_empty() || v.len() > max || v.chars().any(char::is_control) {
        return Err(Problem::invalid(field, format!("use 1 to {max} bytes of printable text")));
    }
    Ok(())
}

fn check_domain(field: &str, d: &str) -> ApiResult<()> {
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && d.split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !ok {
        return Err(Problem::invalid(field, "must be a domain name such as example.com"));
    }
    Ok(())
}

/// Validates a body into a connection of `tenant` (keeping `previous`'s secret and creation
/// time when the body has no secret).
async fn build(
    s: &AppState,
    tenant: &str,
    id: String,
    body: Body,
    previous: Option<&Connection>,
) -> ApiResult<Connection> {
    check_id("id", &id)?;
    check_name("name", &body.name)?;
    check_text("issuer", &body.issuer, 500)?;
    let parsed = url::Url::parse(&body.issuer).map_err(|_| Problem::invalid("issuer", "must be an absolute URL"))?;
    if parsed.query().is_some() || parsed.fragment().is_some() || !s.provider.settings.outbound.fetchable(&body.issuer)
    {
        return Err(Problem::invalid(
            "issuer",
            "must be an https URL without query or fragment (http only on a loopback address), exactly as the iss of its tokens",
        ));
    }
    check_text("client_id", &body.client_id, 255)?;
    if let Some(secret) = &body.client_secret {
        check_text("client_secret", secret, 1000)?;
    }
    let has_secret = body.client_secret.is_some() || previous.is_some_and(|p| p.client_secret_sealed.is_some());
    if body.auth_method != UpstreamAuthMethod::PrivateKeyJwt && !has_secret {
        return Err(Problem::invalid("client_secret", "is required unless auth_method is private_key_jwt"));
    }
    let mut scopes = body.scopes.unwrap_or_else(|| ConnectionSettings::default().scopes);
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    if scopes.len() > 20 {
        return Err(Problem::invalid("scopes", "use at most 20 scopes"));
    }
    for sc in &scopes {
        if sc.is_empty() || sc.len() > 100 || !sc.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
            return Err(Problem::invalid("scopes", "each scope is 1 to 100 printable characters without spaces"));
        }
    }
    let cl = &body.claims;
    for (field, v) in [
        ("claims/subject", &cl.subject),
        ("claims/username", &cl.username),
        ("claims/email", &cl.email),
        ("claims/name", &cl.name),
        ("claims/groups", &cl.groups),
    ] {
        check_text(field, v, 100)?;
    }
    if body.email_domains.len() > 50 {
        return Err(Problem::invalid("email_domains", "use at most 50 domains"));
    }
    let email_domains: Vec<String> = body.email_domains.iter().map(|d| d.trim().to_ascii_lowercase()).collect();
    for d in &email_domains {
        check_domain("email_domains", d)?;
    }
    let stores = &s.provider.stores;
    let home_tenant = if tenant == INSTANCE_SCOPE {
        match &body.home_tenant {
            Some(h) => {
                check_id("home_tenant", h)?;
                if stores.tenants.get_tenant(h).await?.is_none() {
                    return Err(Problem::invalid("home_tenant", "no such tenant"));
                }
                Some(h.clone())
            }
            None if body.jit.unwrap_or(true) => {
                return Err(Problem::invalid(
                    "home_tenant",
                    "is required for an instance-wide provider that creates users (jit)",
                ));
            }
            None => None,
        }
    } else {
        if body.home_tenant.as_deref().is_some_and(|h| h != tenant) {
            return Err(Problem::invalid("home_tenant", "a tenant's provider creates users in that tenant only"));
        }
        None
    };
    if body.group_mappings.len() > 100 {
        return Err(Problem::invalid("group_mappings", "use at most 100 mappings"));
    }
    for (i, m) in body.group_mappings.iter().enumerate() {
        let field = format!("group_mappings/{i}");
        check_text(&format!("{field}/upstream"), &m.upstream, 500)?;
        check_id(&format!("{field}/group"), &m.group)?;
        let group_tenant = match (&m.tenant, tenant) {
            (None, INSTANCE_SCOPE) => {
                return Err(Problem::invalid(&format!("{field}/tenant"), "is required for an instance-wide provider"));
            }
            (None, t) => t.to_string(),
            (Some(t), INSTANCE_SCOPE) => t.clone(),
            (Some(t), own) if t == own => t.clone(),
            (Some(_), _) => {
                return Err(Problem::invalid(&format!("{field}/tenant"), "a tenant's provider maps to its own groups"));
            }
        };
        if stores.groups.get_group(&group_tenant, &m.group).await?.is_none() {
            return Err(Problem::invalid(&format!("{field}/group"), "no such group"));
        }
    }
    let t = now();
    let sealed = match body.client_secret {
        Some(secret) => Some(s.provider.federation.sealing().seal(secret.as_bytes(), &secret_context(tenant, &id))),
        None => previous.and_then(|p| p.client_secret_sealed.clone()),
    };
    Ok(Connection {
        tenant_id: tenant.to_string(),
        id,
        name: body.name.trim().to_string(),
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret_sealed: sealed,
        settings: ConnectionSettings {
            auth_method: body.auth_method,
            scopes,
            claims: body.claims,
            email_domains,
            link: body.link,
            jit: body.jit.unwrap_or(true),
            home_tenant,
            group_mappings: body.group_mappings,
            end_session: body.end_session.unwrap_or(true),
        },
        enabled: body.enabled.unwrap_or(true),
        created_at: previous.map_or(t, |p| p.created_at),
        updated_at: t,
    })
}

async fn do_create(s: &AppState, scope: Scope, body: Body) -> ApiResult<Response> {
    let id = body.id.clone().ok_or_else(|| Problem::invalid("id", "is required (it appears in idp_hint)"))?;
    let c = build(s, scope.tenant(), id, body, None).await?;
    s.provider.stores.federation.create_connection(&c).await?;
    let out = connection_json(s, &c);
    scope.audit(s, "identity_provider.create", format!("identity_provider:{}", c.id), json!({ "after": out })).await;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn do_replace(s: &AppState, scope: Scope, id: String, body: Body) -> ApiResult<Response> {
    if body.id.as_deref().is_some_and(|b| b != id) {
        return Err(Problem::invalid("id", "must match the path"));
    }
    let fed = &s.provider.stores.federation;
    let previous = fed.get_connection(scope.tenant(), &id).await?.ok_or_else(Problem::not_found)?;
    let c = build(s, scope.tenant(), id, body, Some(&previous)).await?;
    fed.update_connection(&c).await?;
    s.provider.federation.forget(&previous.issuer);
    let out = connection_json(s, &c);
    let summary = json!({ "before": connection_json(s, &previous), "after": out });
    scope.audit(s, "identity_provider.update", format!("identity_provider:{}", c.id), summary).await;
    Ok(Json(out).into_response())
}

async fn do_remove(s: &AppState, scope: Scope, id: String) -> ApiResult<Response> {
    s.provider.stores.federation.delete_connection(scope.tenant(), &id).await?;
    scope.audit(s, "identity_provider.delete", format!("identity_provider:{id}"), json!({})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list(State(s): State<AppState>, c: Caller, Path(tenant): Path<String>) -> ApiResult<Response> {
    let scope = tenant_scope(&s, c, &tenant).await?;
    do_list(&s, &scope).await
}

async fn read(State(s): State<AppState>, c: Caller, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    let scope = tenant_scope(&s, c, &tenant).await?;
    do_read(&s, &scope, &id).await
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<Response> {
    let scope = tenant_scope(&s, c, &tenant).await?;
    do_create(&s, scope, body).await
}

async fn replace(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<Response> {
    let scope = tenant_scope(&s, c, &tenant).await?;
    do_replace(&s, scope, id, body).await
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let scope = tenant_scope(&s, c, &tenant).await?;
    do_remove(&s, scope, id).await
}

async fn list_instance(State(s): State<AppState>, c: Caller) -> ApiResult<Response> {
    let scope = instance_scope(&s, c).await?;
    do_list(&s, &scope).await
}

async fn read_instance(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let scope = instance_scope(&s, c).await?;
    do_read(&s, &scope, &id).await
}

async fn create_instance(State(s): State<AppState>, c: Caller, ApiJson(body): ApiJson<Body>) -> ApiResult<Response> {
    let scope = instance_scope(&s, c).await?;
    do_create(&s, scope, body).await
}

async fn replace_instance(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<Response> {
    let scope = instance_scope(&s, c).await?;
    do_replace(&s, scope, id, body).await
}

async fn remove_instance(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let scope = instance_scope(&s, c).await?;
    do_remove(&s, scope, id).await
}
