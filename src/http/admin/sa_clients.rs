//! `/api/v1/{tenant}/service-accounts/{id}/clients`: OAuth clients that act as a service
//! account with `client_credentials`, authenticated by a client secret (shown once, stored
//! as a SHA-256) or by `private_key_jwt` with public keys registered here (RFC 7523). Their
//! tokens carry the account's role bindings, narrowed by permission scopes when asked.
//!
//! Reading needs USER:READ, creating USER:CREATE and holding what the account holds,
//! deleting USER:DELETE.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::extract::ApiJson;
use super::problem::{ApiResult, Problem};
use super::service_accounts::{check_audiences, credential_target, home_account};
use super::{ADMIN_AUDIENCE_PATH, Ctx, check_name};
use crate::crypto::{hash_secret, now, random_token};
use crate::http::AppState;
use crate::keys::Alg;
use crate::oauth::foreign_jwt::ForeignKeys;
use crate::rbac::{Action, Permission};
use crate::store::{Client, ClientAuthMethod};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/service-accounts/{id}/clients", get(list).post(create))
        .route("/{tenant}/service-accounts/{id}/clients/{client_id}", delete(remove))
}

fn client_json(c: &Client) -> serde_json::Value {
    json!({
        "client_id": c.client_id,
        "service_account_id": c.service_account_id,
        "name": c.name,
        "auth_method": c.auth_method.as_str(),
        "audiences": c.allowed_audiences,
        "access_token_alg": c.access_token_alg,
        "jwks": c.jwks.as_deref().and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()),
        "created_at": c.created_at,
    })
}

async fn list(State(s): State<AppState>, c: Caller, Path((tenant, id)): Path<(String, String)>) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Read)?;
    home_account(&s, &ctx, &id).await?;
    let clients = s.provider.stores.clients.list_service_account_clients(cap.tenant_id(), &id).await?;
    Ok(Json(json!({ "items": clients.iter().map(client_json).collect::<Vec<_>>() })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    name: Option<String>,
    /// `client_secret_basic` (default), `client_secret_post` or `private_key_jwt`.
    auth_method: Option<String>,
    /// The public keys of a `private_key_jwt` client: a JWK Set.
    jwks: Option<serde_json::Value>,
    /// The audiences its tokens may have; the first is the default. Default: the account's
    /// audiences, else Tessera's admin API.
    audiences: Option<Vec<String>>,
    /// ES256 (default), RS256 or EdDSA.
    access_token_alg: Option<String>,
}

async fn create(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<NewClient>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    ctx.require(Permission::User, Action::Create)?;
    if let Some(name) = &body.name {
        check_name("name", name)?;
    }
    let method = match body.auth_method.as_deref().unwrap_or("client_secret_basic") {
        "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
        "client_secret_post" => ClientAuthMethod::ClientSecretPost,
        "private_key_jwt" => ClientAuthMethod::PrivateKeyJwt,
        _ => {
            return Err(Problem::invalid(
                "auth_method",
                "use client_secret_basic, client_secret_post or private_key_jwt",
            ));
        }
    };
    let jwks = match (method, &body.jwks) {
        (ClientAuthMethod::PrivateKeyJwt, Some(set)) => {
            ForeignKeys::parse_registered(set).map_err(|e| Problem::invalid("jwks", e))?;
            Some(set.to_string())
        }
        (ClientAuthMethod::PrivateKeyJwt, None) => {
            return Err(Problem::invalid("jwks", "private_key_jwt needs the client's public keys"));
        }
        (_, Some(_)) => return Err(Problem::invalid("jwks", "keys are only for private_key_jwt")),
        (_, None) => None,
    };
    let alg = body.access_token_alg.clone().unwrap_or_else(|| s.provider.settings.default_access_alg.as_str().into());
    if Alg::parse(&alg).is_none() {
        return Err(Problem::invalid("access_token_alg", "use ES256, RS256 or EdDSA"));
    }
    let account = credential_target(&s, &ctx, &id).await?;
    let name = body.name.clone().unwrap_or_else(|| format!("{} client", account.name));
    // The client acts as the account: its audiences are within the account's.
    let of_account = if account.audiences.is_empty() {
        vec![s.provider.settings.url(ADMIN_AUDIENCE_PATH)]
    } else {
        account.audiences.clone()
    };
    let audiences = match &body.audiences {
        Some(list) if !list.is_empty() => list.clone(),
        _ => of_account.clone(),
    };
    check_audiences(&audiences)?;
    if let Some(a) = audiences.iter().find(|a| !of_account.contains(a)) {
        return Err(Problem::invalid("audiences", format!("{a} is not one of the service account's audiences")));
    }
    let secret = (method != ClientAuthMethod::PrivateKeyJwt).then(|| random_token(32));
    let client = Client {
        tenant_id: ctx.tenant().to_string(),
        client_id: format!("sac_{}", random_token(12)),
        name: name.trim().to_string(),
        secret_hash: secret.as_deref().map(hash_secret),
        auth_method: method,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec![],
        first_party: false,
        access_token_alg: alg,
        id_token_alg: s.provider.settings.default_id_alg.as_str().into(),
        default_audience: audiences.first().cloned(),
        allowed_audiences: audiences,
        created_at: now(),
        service_account_id: Some(id.clone()),
        jwks,
    };
    s.provider.stores.clients.create_client(&client).await?;
    ctx.audit(
        &s,
        "service_account_client.create",
        format!("service_account:{id}"),
        json!({ "after": client_json(&client) }),
    )
    .await;
    let mut v = client_json(&client);
    if let Some(secret) = secret {
        v["client_secret"] = secret.into();
    }
    let mut res = (StatusCode::CREATED, Json(v)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path((tenant, id, client_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let ctx = Ctx::new(&s, c.actor, &tenant, c.request_id).await?;
    let cap = ctx.require(Permission::User, Action::Delete)?;
    let stores = &s.provider.stores;
    let found = stores.clients.find_client(&client_id).await?;
    if !found.is_some_and(|c| c.tenant_id == cap.tenant_id() && c.service_account_id.as_deref() == Some(id.as_str())) {
        return Err(Problem::not_found());
    }
    stores.clients.delete_client(cap.tenant_id(), &client_id).await?;
    s.provider.forget_client(&client_id);
    ctx.audit(&s, "service_account_client.delete", format!("service_account:{id}"), json!({ "client_id": client_id }))
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
