//! `/token`, `/introspect` and `/revoke`: form posts authenticated by the client.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::AppState;
use super::errors::OAuthErrorResponse;
use super::form::Form;
use crate::crypto::{Secret, now};
use crate::oauth::OAuthError;
use crate::oauth::client_auth::ClientCredentials;
use crate::oauth::grants::{self, TokenRequest};
use crate::oauth::introspect::{self, IntrospectRequest};
use crate::oauth::revoke::{self, RevokeRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/token", post(token))
        .route("/introspect", post(introspect_handler))
        .route("/revoke", post(revoke_handler))
        .route("/binding-epochs", axum::routing::get(epochs_handler))
}

fn credentials(headers: &HeaderMap, f: &Form) -> Result<ClientCredentials, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(v) => ClientCredentials::parse_basic(v.to_str().map_err(|_| OAuthError::invalid_client())?)?,
        None => None,
    };
    Ok(ClientCredentials {
        basic,
        client_id: f.get("client_id"),
        client_secret: f.get("client_secret").map(Secret::new),
        client_assertion_type: f.get("client_assertion_type"),
        client_assertion: f.get("client_assertion").map(Secret::new),
    })
}

fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

async fn token(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, OAuthErrorResponse> {
    let f = Form::parse(&headers, &body)?;
    let req = TokenRequest {
        grant_type: f.get("grant_type"),
        code: f.get("code"),
        redirect_uri: f.get("redirect_uri"),
        code_verifier: f.get("code_verifier"),
        refresh_token: f.get("refresh_token"),
        scope: f.get("scope"),
        resource: f.all("resource"),
        credentials: credentials(&headers, &f)?,
        subject_token: f.get("subject_token").map(Secret::new),
        subject_token_type: f.get("subject_token_type"),
        actor_token: f.get("actor_token").map(Secret::new),
        actor_token_type: f.get("actor_token_type"),
        requested_token_type: f.get("requested_token_type"),
        audience: f.all("audience"),
    };
    let res = grants::token(&s.provider, &req, now()).await?;
    Ok(no_store(Json(res).into_response()))
}

async fn introspect_handler(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthErrorResponse> {
    let f = Form::parse(&headers, &body)?;
    let req = IntrospectRequest {
        token: f.get("token"),
        token_type_hint: f.get("token_type_hint"),
        credentials: credentials(&headers, &f)?,
    };
    let v = introspect::introspect(&s.provider, &req, now()).await?;
    Ok(no_store(Json(v).into_response()))
}

async fn revoke_handler(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthErrorResponse> {
    let f = Form::parse(&headers, &body)?;
    let req = RevokeRequest {
        token: f.get("token"),
        token_type_hint: f.get("token_type_hint"),
        credentials: credentials(&headers, &f)?,
    };
    revoke::revoke(&s.provider, &req, now()).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// Which principals' bindings changed since a time (client-authenticated with Basic).
async fn epochs_handler(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Response, OAuthErrorResponse> {
    let f = Form::parse_pairs(q.unwrap_or_default().as_bytes())?;
    let creds = credentials(&headers, &Form::default())?;
    let v = crate::oauth::epochs::changed_since(&s.provider, &creds, f.get("since").as_deref()).await?;
    Ok(no_store(Json(v).into_response()))
}
