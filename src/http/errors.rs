//! The one mapping point from [`OAuthError`] to an HTTP response at the protocol endpoints:
//! RFC 6749 section 5.2 JSON, with `WWW-Authenticate` where RFC 6749 / RFC 6750 ask for it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::oauth::{ErrorCode, OAuthError};

/// What a 503 (database or state backend unreachable) asks clients to wait before retrying.
pub const RETRY_AFTER_SECS: &str = "5";

/// An OAuth error as a JSON response. `bearer` selects the RFC 6750 challenge (resource
/// endpoints such as userinfo) instead of the Basic one (client authentication).
pub struct OAuthErrorResponse {
    pub error: OAuthError,
    pub bearer: bool,
}

impl From<OAuthError> for OAuthErrorResponse {
    fn from(error: OAuthError) -> Self {
        Self { error, bearer: false }
    }
}

impl IntoResponse for OAuthErrorResponse {
    fn into_response(self) -> Response {
        let e = self.error;
        let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let body = serde_json::json!({ "error": e.code.as_str(), "error_description": e.description });
        let mut res = (status, Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if e.code == ErrorCode::TemporarilyUnavailable {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        let challenge = if self.bearer {
            match e.code {
                ErrorCode::InvalidToken | ErrorCode::InsufficientScope | ErrorCode::InvalidRequest => Some(format!(
                    "Bearer realm=\"tessera\", error=\"{}\", error_description=\"{}\"",
                    e.code.as_str(),
                    e.description.replace(['"', '\\'], "'")
                )),
                _ => None,
            }
        } else if e.code == ErrorCode::InvalidClient {
            Some("Basic realm=\"tessera\"".to_string())
        } else {
            None
        };
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        res
    }
}
