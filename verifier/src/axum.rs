//! The axum extractor (feature `axum`): a handler that takes an [`AccessToken`] only runs for
//! a request with a valid `Authorization: Bearer` token, verified by the [`Verifier`] in the
//! application state (through [`FromRef`]).
//!
//! Refusals are `401 Unauthorized` with `WWW-Authenticate: Bearer error="invalid_token"` for
//! a token that does not verify, and a bare `WWW-Authenticate: Bearer` when there is no token
//! (RFC 6750, section 3.1: no error code then). The body is empty: the reason is for your
//! logs ([`AuthRejection::verify_error`]), not for the client.
//!
//! `Option<AccessToken>` is `None` only when the request has no `Authorization` header; a
//! token that is present but invalid is still refused.
//!
//! ```
//! use axum::extract::{FromRef, Path};
//! use axum::http::StatusCode;
//! use axum::{Router, routing::get};
//! use tessera_verifier::{AccessToken, Action, Permission, Verifier};
//!
//! #[derive(Clone)]
//! struct AppState {
//!     verifier: Verifier,
//! }
//!
//! impl FromRef<AppState> for Verifier {
//!     fn from_ref(state: &AppState) -> Verifier {
//!         state.verifier.clone()
//!     }
//! }
//!
//! // The tenant comes from the request, never from the token: a token of another tenant is
//! // refused here.
//! async fn list_flows(token: AccessToken, Path(tenant): Path<String>) -> Result<String, StatusCode> {
//!     if !token.allows_in_tenant(&tenant, Permission::Flow, Action::Read, Some("prod")) {
//!         return Err(StatusCode::FORBIDDEN);
//!     }
//!     Ok(format!("flows of {tenant} in prod"))
//! }
//!
//! fn app(state: AppState) -> Router {
//!     Router::new().route("/{tenant}/flows", get(list_flows)).with_state(state)
//! }
//! ```

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::{AccessToken, Verifier, VerifyError};

/// Why the extractor refused a request. Responds `401` with a `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No `Authorization: Bearer` header.
    MissingToken,
    /// A bearer token that did not verify, or a malformed `Authorization` header.
    InvalidToken(VerifyError),
}

impl AuthRejection {
    /// Why the token was refused (`None` when there was no token).
    pub fn verify_error(&self) -> Option<VerifyError> {
        match self {
            AuthRejection::MissingToken => None,
            AuthRejection::InvalidToken(e) => Some(*e),
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let challenge = match self {
            AuthRejection::MissingToken => HeaderValue::from_static("Bearer"),
            AuthRejection::InvalidToken(_) => HeaderValue::from_static("Bearer error=\"invalid_token\""),
        };
        (StatusCode::UNAUTHORIZED, [(WWW_AUTHENTICATE, challenge)]).into_response()
    }
}

/// The bearer token of the request: `Ok(None)` without an `Authorization` header or with
/// another scheme; an error for several headers, a non-ASCII value or an empty token.
fn bearer_token(parts: &Parts) -> Result<Option<&str>, AuthRejection> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Ok(None) };
    let invalid = AuthRejection::InvalidToken(VerifyError::Malformed);
    if values.next().is_some() {
        return Err(invalid);
    }
    let value = value.to_str().map_err(|_| invalid.clone())?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return if value.eq_ignore_ascii_case("bearer") { Err(invalid) } else { Ok(None) };
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return Err(invalid);
    }
    Ok(Some(token))
}

async fn verify(verifier: &Verifier, token: &str) -> Result<AccessToken, AuthRejection> {
    #[cfg(feature = "jwks-fetch")]
    let result = verifier.verify_async(token).await;
    #[cfg(not(feature = "jwks-fetch"))]
    let result = verifier.verify(token);
    result.map_err(AuthRejection::InvalidToken)
}

impl<S> FromRequestParts<S> for AccessToken
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?.ok_or(AuthRejection::MissingToken)?;
        verify(&Verifier::from_ref(state), token).await
    }
}

impl<S> OptionalFromRequestParts<S> for AccessToken
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(None);
        }
        let token = bearer_token(parts)?.ok_or(AuthRejection::InvalidToken(VerifyError::Malformed))?;
        verify(&Verifier::from_ref(state), token).await.map(Some)
    }
}
