//! RFC 9457 problem details: the one error family of the admin API, and its one mapping
//! point. Internal causes are logged with the request id, never returned.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// The JSON pointer or parameter name of the bad value.
    pub field: String,
    pub message: String,
}

/// A problem: status, a short title, a human-readable detail, and per-field errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into(), errors: Vec::new() }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    /// A request whose fields are wrong: 422 with one entry per field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: format!("{field}: {message}"),
            errors: vec![FieldError { field: field.to_string(), message }],
        }
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no such resource")
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }
    /// An internal failure: logged, and answered with a generic 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "the server could not complete the request")
    }
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "dependency unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "the service is temporarily unavailable; try again")
    }
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Body {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let mut res = (self.status, Json(&body)).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(crate::http::errors::RETRY_AFTER_SECS));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera\", Basic realm=\"tessera\""),
            );
        }
        res
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Problem::conflict(format!("already exists: {what}")),
            StoreError::NotFound => Problem::not_found(),
            StoreError::Backend(_) => Problem::internal(e),
            StoreError::Unavailable(_) => Problem::unavailable(e),
        }
    }
}

/// An OAuth-layer failure inside an admin operation (the state store or the database).
impl From<crate::oauth::OAuthError> for Problem {
    fn from(e: crate::oauth::OAuthError) -> Self {
        if e.code == crate::oauth::ErrorCode::TemporarilyUnavailable {
            Problem::unavailable(e)
        } else {
            Problem::internal(e)
        }
    }
}

impl From<crate::kv::KvError> for Problem {
    fn from(e: crate::kv::KvError) -> Self {
        Problem::unavailable(e)
    }
}

pub type ApiResult<T> = Result<T, Problem>;
