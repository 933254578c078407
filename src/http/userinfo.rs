//! `/userinfo` (OIDC Core section 5.3) with RFC 6750 bearer authentication: the token comes
//! in the `Authorization` header, or as `access_token` in a form body (RFC 6750 section 2.2).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use super::errors::OAuthErrorResponse;
use super::form::Form;
use crate::oauth::{ErrorCode, OAuthError, userinfo};

pub fn router() -> Router<AppState> {
    Router::new().route("/userinfo", get(userinfo_get).post(userinfo_post))
}

fn bearer_err(e: OAuthError) -> OAuthErrorResponse {
    OAuthErrorResponse { error: e, bearer: true }
}

fn header_token(headers: &HeaderMap) -> Result<Option<String>, OAuthErrorResponse> {
    let Some(v) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let v = v.to_str().map_err(|_| bearer_err(OAuthError::invalid_request("malformed Authorization header")))?;
    match v.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(bearer_err(OAuthError::invalid_request("use the Bearer authorization scheme"))),
    }
}

fn missing() -> OAuthErrorResponse {
    // RFC 6750 section 3.1: no error code when the request carried no credentials at all.
    bearer_err(OAuthError::new(ErrorCode::InvalidToken, "an access token is required"))
}

async fn respond(s: &AppState, token: &str) -> Result<Response, OAuthErrorResponse> {
    let v = userinfo::userinfo(&s.provider, token).await.map_err(bearer_err)?;
    let mut res = Json(v).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(res)
}

async fn userinfo_get(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, OAuthErrorResponse> {
    let token = header_token(&headers)?.ok_or_else(missing)?;
    respond(&s, &token).await
}

async fn userinfo_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthErrorResponse> {
    let from_header = header_token(&headers)?;
    let from_body =
        if body.is_empty() { None } else { Form::parse(&headers, &body).map_err(bearer_err)?.get("access_token") };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return Err(bearer_err(OAuthError::invalid_request("send the access token one way only")));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(missing()),
    };
    respond(&s, &token).await
}
