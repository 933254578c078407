//! Extractors for the admin API whose rejections are problem JSON, not axum's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// A JSON body. Wrong content type: 415; bad syntax: 400; wrong shape: 422.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => {
                // An object, always: serde would also read a struct from an array of its fields.
                if !v.is_object() {
                    return Err(Problem::invalid("body", "send a JSON object"));
                }
                if let Some(at) = find_nul(&v, String::new()) {
                    return Err(Problem::invalid(&at, "must not contain the NUL character"));
                }
                serde_json::from_value::<T>(v).map(ApiJson).map_err(|e| Problem::invalid("body", e.to_string()))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(Problem::new(axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the body as application/json"))
            }
            Err(JsonRejection::JsonDataError(e)) => Err(Problem::invalid("body", e.body_text())),
            Err(JsonRejection::JsonSyntaxError(_)) => Err(Problem::bad_request("the body is not valid JSON")),
            Err(e) => Err(Problem::bad_request(e.body_text())),
        }
    }
}

/// The JSON pointer of the first string (or key) holding a NUL character, which no database
/// text column accepts.
fn find_nul(v: &serde_json::Value, at: String) -> Option<String> {
    match v {
        serde_json::Value::String(s) if s.contains('\0') => Some(if at.is_empty() { "body".into() } else { at }),
        serde_json::Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| find_nul(x, format!("{at}/{i}"))),
        serde_json::Value::Object(m) => m.iter().find_map(|(k, x)| {
            if k.contains('\0') {
                Some(format!("{at}/{k}").replace('\0', ""))
            } else {
                find_nul(x, format!("{at}/{k}"))
            }
        }),
        _ => None,
    }
    .map(|p| p.trim_start_matches('/').to_string())
}

/// Query parameters. A bad value: 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(Problem::bad_request(e.body_text())),
            Err(e) => Err(Problem::bad_request(e.body_text())),
        }
    }
}
