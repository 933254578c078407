//! HTTP: translates requests into calls of the protocol engine (`crate::oauth`) and results
//! back into responses. [`app`] builds the whole router from a state, so tests can run two
//! apps in one process.

pub mod admin;
mod authorize;
mod errors;
mod form;
mod health;
mod logout;
mod pages;
pub mod scim;
mod token;
mod userinfo;
mod wellknown;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::oauth::Provider;

pub use errors::OAuthErrorResponse;

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    pub provider: Arc<Provider>,
    /// The audit writer (batched, off the request path).
    pub audit: crate::admin::audit::AuditLog,
    /// Mark cookies `Secure` (when served over https).
    pub secure_cookies: bool,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&crate::crypto::random_token(12)).ok().map(RequestId::new)
    }
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    // Endpoints that browser-based clients call with fetch: any origin, no cookies. The
    // browser-navigation endpoints (authorize, login, consent, logout) get no CORS at all.
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([axum::http::header::AUTHORIZATION, axum::http::header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600));
    let api = Router::new().merge(wellknown::router()).merge(token::router()).merge(userinfo::router()).layer(cors);
    Router::new()
        .merge(api)
        .merge(authorize::router())
        .merge(logout::router())
        .nest("/api/v1", admin::router())
        .nest("/scim/v2", scim::router())
        .merge(health::router())
        .fallback(|| async {
            pages::error_page(axum::http::StatusCode::NOT_FOUND, "Not found", "There is nothing at this address.")
        })
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            // Log the path only: query strings can carry codes, states and hints.
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(|res: &axum::http::Response<_>, latency: Duration, _: &tracing::Span| {
                    tracing::info!(status = res.status().as_u16(), latency_us = latency.as_micros() as u64, "response");
                }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
}

/// Reads one cookie from the request headers.
pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}
