//! HTTP: translates requests into calls of the protocol engine (`crate::oauth`) and results
//! back into responses. [`app`] builds the whole router from a state, so tests can run two
//! apps in one process.

mod account;
pub mod admin;
mod authorize;
pub(crate) mod browser;
pub mod console;
pub(crate) mod errors;
mod federation;
mod form;
mod health;
mod logout;
mod pages;
mod passkeys;
mod password_signin;
mod recovery;
pub mod scim;
mod token;
mod userinfo;
mod wellknown;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, Request};
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
    /// Outgoing mail (password resets, change-password requests).
    pub mail: crate::mail::Mailer,
    /// Brute-force protection of password sign-ins.
    pub throttle: crate::throttle::Throttle,
    /// How long a password-reset link works.
    pub reset_link_ttl: Duration,
    /// The WebAuthn relying party; `None` when the issuer cannot be one (an IP address).
    pub passkeys: Option<Arc<crate::webauthn::Passkeys>>,
}

impl AppState {
    /// An audit entry about a request.
    pub(crate) fn audit_entry(
        request: &RequestMeta,
        tenant: &str,
        actor: String,
        action: &str,
        target: String,
        summary: serde_json::Value,
    ) -> crate::store::NewAuditEntry {
        crate::store::NewAuditEntry {
            tenant_id: tenant.to_string(),
            id: crate::admin::audit::new_entry_id(),
            at: crate::crypto::now(),
            actor,
            action: action.to_string(),
            target,
            summary,
            request_id: request.request_id.clone(),
            client_addr: request.client_addr.clone(),
        }
    }

    /// Records an audit entry about a request. The entry goes to the audit writer's queue and
    /// is stored in a later batch, off the request path: this waits only if the writer is
    /// 65,536 entries behind.
    pub(crate) async fn record_audit(
        &self,
        request: &RequestMeta,
        tenant: &str,
        actor: String,
        action: &str,
        target: String,
        summary: serde_json::Value,
    ) {
        self.audit.record(Self::audit_entry(request, tenant, actor, action, target, summary)).await;
    }

    /// Tallies a high-volume event under `key` (see [`crate::admin::audit::AuditLog::tally`]):
    /// one entry per key and window, with a count, instead of one per event; the request id
    /// is kept as a sample.
    pub(crate) fn tally_audit(&self, key: String, request: &RequestMeta, entry: crate::store::NewAuditEntry) {
        let sample = request.request_id.clone().map_or(serde_json::Value::Null, serde_json::Value::String);
        self.audit.tally(key, entry, sample);
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longer request ids (a client may send its own) are cut to this many bytes in the audit log.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Where a request comes from, for the audit log: its id (`x-request-id`, which the request-id
/// middleware sets, or keeps when the client sent one) and the peer's IP address (from the
/// connection; `None` when the router is driven in process without `ConnectInfo`, as the tests
/// do with `oneshot`). Proxy headers such as `X-Forwarded-For` are not trusted. Extracting it
/// never fails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

impl RequestMeta {
    pub fn from_parts(headers: &HeaderMap, extensions: &Extensions) -> Self {
        let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(|id| {
            let mut end = id.len().min(MAX_REQUEST_ID_LEN);
            while !id.is_char_boundary(end) {
                end -= 1;
            }
            id[..end].to_string()
        });
        let client_addr =
            extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string());
        Self { request_id, client_addr }
    }
}

/// A request id alone (no client address).
impl From<Option<String>> for RequestMeta {
    fn from(request_id: Option<String>) -> Self {
        Self { request_id, client_addr: None }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::from_parts(&parts.headers, &parts.extensions))
    }
}

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
    // The forms of Tessera's own pages: every state-changing request must come from the
    // issuer's origin (see `browser`). `/authorize` and `/logout` take cross-site requests
    // from relying parties by design; `/logout` checks its own confirmation form.
    let forms = Router::new()
        .merge(authorize::forms())
        .merge(recovery::router())
        .merge(federation::router())
        .merge(account::router())
        .merge(passkeys::router())
        .merge(console::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), browser::require_same_origin));
    Router::new()
        .merge(api)
        .merge(authorize::router())
        .merge(forms)
        .merge(logout::router())
        .nest("/api/v1", admin::router())
        .nest("/scim/v2", scim::router())
        .merge(health::router())
        .fallback(|| async {
            pages::error_page(axum::http::StatusCode::NOT_FOUND, "Not found", "There is nothing at this address.")
        })
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), track_metrics))
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

/// Counts each routed request and its latency by route template (see [`crate::metrics`]).
async fn track_metrics(
    axum::extract::State(s): axum::extract::State<AppState>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().clone();
    let response = next.run(req).await;
    s.provider.metrics.record_request(&route, method.as_str(), response.status().as_u16(), started.elapsed());
    response
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
