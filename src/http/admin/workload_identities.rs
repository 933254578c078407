//! `/api/v1/{tenant}/workload-identities`: trust in an external OIDC issuer (a CI system, a
//! Kubernetes cluster) whose tokens, for one audience and with matching claims, a job exchanges
//! for a Tessera access token of one service account, with no stored secret (see
//! `oauth::grants::token_exchange`).
//!
//! Reading needs USER:READ, creating USER:CREATE and holding what the account holds,
//! deleting USER:DELETE.

use std::collections::BTreeMap;

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
use super::service_accounts::credential_target;
use super::{Ctx, check_id, check_name};
use crate::crypto::{now, random_token};
use crate::http::AppState;
use crate::rbac::{Action, Permission};
use crate::store::WorkloadTrust;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/workload-identities", get(list).post(create))
        .route("/{tenant}/workload-identities/{id}", get(read).delete(remove))
}

fn trust_json(t: &WorkloadTrust) -> serde_json::Value {
    json!({
        "id": t.id,
        "name": t.name,
        "issuer": t.issuer,
        "jwks_uri": t.jwks_uri,
        "audience": t.audience,
        "claims": t.claims,
        "service_account_id": t.service_account_id,
        "created_at": t.created_at,
        "created_by": t.created_by,
    })
}

async fn list(State(s): State<AppState>, c: Caller, Path(tenant): Path<String>) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Read)?;
    let items = s.provider.stores.credentials.list_workload_trusts(cap.tenant_id()).await?;
    Ok(Json(json!({ "items": items.iter().map(trust_json).collect::<Vec<_>>() })).into_response())
}

async fn read(State(s): State<AppState>, c: Caller, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Read)?;
    let t =
        s.provider.stores.credentials.get_workload_trust(cap.tenant_id(), &id).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(trust_json(&t)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTrust {
    id: Option<String>,
    name: String,
    /// The issuer, exactly as the `iss` of its tokens.
    issuer: String,
    /// Where its keys are; default: from `{issuer}/.well-known/openid-configuration`.
    jwks_uri: Option<String>,
    /// The `aud` its tokens must carry for Tessera.
    audience: String,
    /// Claim name to pattern (`*` matches any run of characters); at least one.
    claims: BTreeMap<String, String>,
    service_account_id: String,
}

fn check_text(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Problem::invalid(field, format!("use 1 to {max} printable characters")));
    }
    Ok(())
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<NewTrust>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Create)?;
    let id = body.id.clone().unwrap_or_else(|| format!("wi-{}", random_token(9)));
    check_id("id", &id)?;
    check_name("name", &body.name)?;
    check_text("issuer", &body.issuer, 500)?;
    if url::Url::parse(&body.issuer).is_err() {
        return Err(Problem::invalid("issuer", "must be an absolute URL, exactly as the iss of its tokens"));
    }
    if let Some(u) = &body.jwks_uri {
        check_text("jwks_uri", u, 500)?;
    }
    let fetchable = |u: &str| s.provider.settings.outbound.fetchable(u);
    match &body.jwks_uri {
        Some(u) if !fetchable(u) => {
            return Err(Problem::invalid("jwks_uri", "must be an https URL (http only on a loopback address)"));
        }
        None if !fetchable(&body.issuer) => {
            return Err(Problem::invalid(
                "issuer",
                "its keys are found by discovery, so it must be https (http only on loopback); or give jwks_uri",
            ));
        }
        _ => {}
    }
    check_text("audience", &body.audience, 500)?;
    if body.claims.is_empty() {
        return Err(Problem::invalid(
            "claims",
            "name at least one claim rule (for example sub or repository): without one, every workload of the issuer would match",
        ));
    }
    if body.claims.len() > 20 {
        return Err(Problem::invalid("claims", "use at most 20 rules"));
    }
    for (name, pattern) in &body.claims {
        check_text(&format!("claims/{name}"), name, 100)?;
        check_text(&format!("claims/{name}"), pattern, 500)?;
        if matches!(name.as_str(), "iss" | "aud" | "exp" | "nbf" | "iat") {
            return Err(Problem::invalid(&format!("claims/{name}"), "is checked already: give issuer and audience"));
        }
    }
    check_id("service_account_id", &body.service_account_id)?;
    credential_target(&s, &ctx, &body.service_account_id).await?;
    // A workload token must lead to one tenant: an issuer's tokens for an audience are trusted
    // by one tenant only, so another tenant cannot make them ambiguous.
    let others = s.provider.stores.credentials.workload_trusts_of_issuer(&body.issuer).await?;
    if others.iter().any(|t| t.audience == body.audience && t.tenant_id != ctx.tenant()) {
        return Err(Problem::conflict(format!(
            "this issuer's tokens for this audience are trusted elsewhere: use an audience of your own, such as {}/t/{}",
            s.provider.settings.issuer,
            ctx.tenant()
        )));
    }
    let t = WorkloadTrust {
        tenant_id: ctx.tenant().to_string(),
        id,
        name: body.name.trim().to_string(),
        issuer: body.issuer.clone(),
        jwks_uri: body.jwks_uri.clone(),
        audience: body.audience.clone(),
        claims: body.claims.clone(),
        service_account_id: body.service_account_id.clone(),
        created_at: now(),
        created_by: Some(ctx.actor.audit_name()),
    };
    s.provider.stores.credentials.create_workload_trust(&t).await?;
    ctx.audit(
        &s,
        "workload_identity.create",
        format!("workload_identity:{}", t.id),
        json!({ "after": trust_json(&t) }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(trust_json(&t))).into_response())
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Delete)?;
    s.provider.stores.credentials.delete_workload_trust(cap.tenant_id(), &id).await?;
    ctx.audit(&s, "workload_identity.delete", format!("workload_identity:{id}"), json!({})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
