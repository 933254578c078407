//! SCIM errors (RFC 7644 section 3.12): the one error family of `/scim/v2`, and its one
//! mapping point. Internal causes are logged, never returned.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM error: an HTTP status, the RFC's `scimType` when one applies, and a detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

pub type ScimResult<T> = Result<T, ScimError>;

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self { status, scim_type, detail: detail.into() }
    }
    /// 400 `invalidSyntax`: the body is not a JSON object, or not the expected shape.
    pub fn syntax(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
    }
    /// 400 `invalidValue`: a required value is missing or a value is not acceptable.
    pub fn value(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }
    /// 400 `invalidFilter`.
    pub fn filter(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), detail)
    }
    /// 400 `invalidPath`: a PATCH path that cannot be parsed or is not supported.
    pub fn path(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidPath"), detail)
    }
    /// 400 `noTarget`: a PATCH path that selects nothing.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("noTarget"), detail)
    }
    /// 400 `mutability`: an attempt to change a read-only attribute.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("mutability"), detail)
    }
    /// 409 `uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, None, detail)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, None, "no such resource")
    }
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, "the server could not complete the request")
    }
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "dependency unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, None, "the service is temporarily unavailable; try again")
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = t.into();
        }
        let mut res = (self.status, Json(body)).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(super::SCIM_JSON));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(crate::http::errors::RETRY_AFTER_SECS));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tessera\""));
        }
        res
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ScimError::uniqueness(format!("already exists: {what}")),
            StoreError::NotFound => ScimError::not_found(),
            StoreError::Backend(_) => ScimError::internal(e),
            StoreError::Unavailable(_) => ScimError::unavailable(e),
        }
    }
}
