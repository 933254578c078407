//! Discovery documents and the JWKS.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::oauth::discovery;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/jwks.json", get(jwks))
}

fn json_with_cache(body: String, cache: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

async fn metadata(State(s): State<AppState>) -> Response {
    json_with_cache(discovery::metadata(&s.provider).to_string(), "public, max-age=3600")
}

/// Verifiers may cache the key set for five minutes (plus one stale): a new key is published
/// longer than that before it signs anything (`keys.publication_window_secs`), and a replaced
/// key stays until its tokens have expired, so a verifier never needs to refetch early.
async fn jwks(State(s): State<AppState>) -> Response {
    let mut res = json_with_cache(s.provider.keys.current().jwks_json().to_string(), crate::keys::JWKS_CACHE_CONTROL);
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json"));
    res
}
