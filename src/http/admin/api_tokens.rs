//! `/api/v1/{tenant}/service-accounts/{id}/tokens`: a service account's API tokens. A token is
//! shown once, in the answer that creates it; the store keeps its SHA-256. Tokens expire (when
//! given an expiry), are revoked, and rotate: a rotation creates the successor and lets the
//! old token work on for an overlap, so a deployment can switch without an outage.
//!
//! Reading needs USER:READ, creating and rotating USER:CREATE, revoking USER:DELETE; issuing a
//! token also needs the caller to hold everything the account holds (see
//! [`super::service_accounts::credential_target`]).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::extract::ApiJson;
use super::problem::{ApiResult, Problem};
use super::service_accounts::{credential_target, home_account};
use super::{Ctx, check_name};
use crate::crypto::{now, random_token};
use crate::http::AppState;
use crate::oauth::api_token;
use crate::rbac::{Action, Permission};
use crate::store::ApiToken;

/// The longest lifetime a token may be given: ten years.
const MAX_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;
/// The default and longest overlap of a rotation.
const DEFAULT_OVERLAP_SECS: i64 = 24 * 3600;
const MAX_OVERLAP_SECS: i64 = 30 * 24 * 3600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/service-accounts/{id}/tokens", get(list).post(create))
        .route("/{tenant}/service-accounts/{id}/tokens/{token_id}", get(read).delete(revoke))
        .route("/{tenant}/service-accounts/{id}/tokens/{token_id}/rotate", post(rotate))
}

fn token_json(t: &ApiToken, now: i64) -> serde_json::Value {
    let status = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    };
    json!({
        "id": t.id,
        "service_account_id": t.service_account_id,
        "name": t.name,
        "hint": format!("{}…{}", api_token::PREFIX, t.hint),
        "status": status,
        "created_at": t.created_at,
        "created_by": t.created_by,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
    })
}

/// The token in the answer: never cached by anything on the way.
fn shown_once(status: StatusCode, body: serde_json::Value) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn list(State(s): State<AppState>, c: Caller, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Read)?;
    home_account(&s, &ctx, &id).await?;
    let tokens = s.provider.stores.credentials.list_api_tokens(cap.tenant_id(), &id).await?;
    let now = now();
    Ok(Json(json!({ "items": tokens.iter().map(|t| token_json(t, now)).collect::<Vec<_>>() })).into_response())
}

async fn read(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id, token_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Read)?;
    let t = s.provider.stores.credentials.get_api_token(cap.tenant_id(), &token_id).await?;
    let t = t.filter(|t| t.service_account_id == id).ok_or_else(Problem::not_found)?;
    Ok(Json(token_json(&t, now())).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// Unix seconds after which the token stops working.
    expires_at: Option<i64>,
    /// Or: seconds from now.
    expires_in: Option<i64>,
}

/// The expiry asked for: at most one of the two forms, in the future, within the maximum.
fn expiry(expires_at: Option<i64>, expires_in: Option<i64>, now: i64) -> ApiResult<Option<i64>> {
    let at = match (expires_at, expires_in) {
        (Some(_), Some(_)) => return Err(Problem::invalid("expires_at", "give expires_at or expires_in, not both")),
        (Some(at), None) => at,
        (None, Some(secs)) => {
            if !(60..=MAX_LIFETIME_SECS).contains(&secs) {
                return Err(Problem::invalid("expires_in", "use 60 seconds to 10 years"));
            }
            now + secs
        }
        (None, None) => return Ok(None),
    };
    if at <= now + 59 || at > now + MAX_LIFETIME_SECS {
        return Err(Problem::invalid("expires_at", "use a time at least a minute and at most 10 years ahead"));
    }
    Ok(Some(at))
}

/// Creates the token row and returns it with the token to show.
async fn issue(
    s: &AppState,
    ctx: &Ctx,
    account: &str,
    name: &str,
    expires_at: Option<i64>,
) -> ApiResult<(ApiToken, String)> {
    let new = api_token::generate();
    let t = ApiToken {
        tenant_id: ctx.tenant().to_string(),
        id: format!("tok_{}", random_token(9)),
        service_account_id: account.to_string(),
        name: name.trim().to_string(),
        token_hash: new.hash,
        hint: new.hint,
        created_at: now(),
        created_by: Some(ctx.actor.audit_name()),
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    s.provider.stores.credentials.create_api_token(&t).await?;
    Ok((t, new.token.expose().to_string()))
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<NewToken>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Create)?;
    check_name("name", &body.name)?;
    let now = now();
    let expires_at = expiry(body.expires_at, body.expires_in, now)?;
    credential_target(&s, &ctx, &id).await?;
    let (t, token) = issue(&s, &ctx, &id, &body.name, expires_at).await?;
    ctx.audit(&s, "api_token.create", format!("service_account:{id}"), json!({ "after": token_json(&t, now) })).await;
    let mut v = token_json(&t, now);
    v["token"] = token.into();
    Ok(shown_once(StatusCode::CREATED, v))
}

async fn revoke(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id, token_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Delete)?;
    s.provider.stores.credentials.revoke_api_token(cap.tenant_id(), &id, &token_id, now()).await?;
    ctx.audit(&s, "api_token.revoke", format!("service_account:{id}"), json!({ "token": token_id })).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// How long the old token keeps working, in seconds (default one day, at most 30).
    overlap_seconds: Option<i64>,
    /// The new token's expiry; by default it gets the old token's lifetime from now.
    expires_at: Option<i64>,
    expires_in: Option<i64>,
}

async fn rotate(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id, token_id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<Rotation>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Create)?;
    let overlap = body.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECS);
    if !(0..=MAX_OVERLAP_SECS).contains(&overlap) {
        return Err(Problem::invalid("overlap_seconds", "use 0 to 2592000 (30 days)"));
    }
    let stores = &s.provider.stores;
    let old = stores.credentials.get_api_token(ctx.tenant(), &token_id).await?;
    let old = old.filter(|t| t.service_account_id == id).ok_or_else(Problem::not_found)?;
    let now = now();
    if !old.is_usable(now) {
        return Err(Problem::conflict("the token is revoked or expired: create a new one instead"));
    }
    let expires_at = match (body.expires_at, body.expires_in) {
        (None, None) => old.expires_at.map(|e| now + (e - old.created_at).clamp(60, MAX_LIFETIME_SECS)),
        (at, secs) => expiry(at, secs, now)?,
    };
    credential_target(&s, &ctx, &id).await?;
    let (t, token) = issue(&s, &ctx, &id, &old.name, expires_at).await?;
    let old_until = now + overlap;
    if overlap == 0 {
        stores.credentials.revoke_api_token(ctx.tenant(), &id, &old.id, now).await?;
    } else {
        stores.credentials.shorten_api_token(ctx.tenant(), &id, &old.id, old_until).await?;
    }
    let old_after = stores.credentials.get_api_token(ctx.tenant(), &old.id).await?.ok_or_else(Problem::not_found)?;
    ctx.audit(
        &s,
        "api_token.rotate",
        format!("service_account:{id}"),
        json!({ "before": token_json(&old, now), "after": token_json(&t, now) }),
    )
    .await;
    let mut v = token_json(&t, now);
    v["token"] = token.into();
    v["replaces"] = token_json(&old_after, now);
    Ok(shown_once(StatusCode::CREATED, v))
}
