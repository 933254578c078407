//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database and the
//! state backend answer too).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(ready))
}

async fn ready(State(s): State<AppState>) -> Response {
    let p = &s.provider;
    let (db, kv) = tokio::join!(
        tokio::time::timeout(std::time::Duration::from_secs(2), p.stores.health.ping()),
        tokio::time::timeout(std::time::Duration::from_secs(2), p.kv.ping()),
    );
    let db_ok = matches!(db, Ok(Ok(())));
    let kv_ok = matches!(kv, Ok(Ok(())));
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
