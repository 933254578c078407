//! Liveness (`/healthz`: the process answers), readiness (`/readyz`: the database and the
//! state backend answer too) and the Prometheus metrics (`/metrics`, see [`crate::metrics`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use crate::metrics::Health;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(ready)).route("/metrics", get(metrics))
}

/// Pings the database and the state backend, each within 2 s, at the same time.
async fn pings(s: &AppState) -> (bool, bool) {
    let p = &s.provider;
    let (db, kv) = tokio::join!(
        tokio::time::timeout(std::time::Duration::from_secs(2), p.stores.health.ping()),
        tokio::time::timeout(std::time::Duration::from_secs(2), p.kv.ping()),
    );
    (matches!(db, Ok(Ok(()))), matches!(kv, Ok(Ok(()))))
}

async fn metrics(State(s): State<AppState>) -> Response {
    let (db_ok, kv_ok) = pings(&s).await;
    let p = &s.provider;
    let text = p.metrics.render(&[
        Health { metric: "tessera_store_up", backend: p.stores.backend, up: db_ok },
        Health { metric: "tessera_state_up", backend: p.kv.backend(), up: kv_ok },
    ]);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

async fn ready(State(s): State<AppState>) -> Response {
    let (db_ok, kv_ok) = pings(&s).await;
    let p = &s.provider;
    if !db_ok {
        tracing::warn!("readiness: database not answering");
    }
    if !kv_ok {
        tracing::warn!("readiness: state backend not answering");
    }
    let status = if db_ok && kv_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "unavailable" },
        "database": { "backend": p.stores.backend, "ok": db_ok },
        "state": { "backend": p.kv.backend(), "ok": kv_ok },
    });
    (status, Json(body)).into_response()
}
