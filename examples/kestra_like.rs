//! A small Kestra-like service that authorizes every request by itself, offline, with
//! `tessera-verifier`: flows live under namespaces of a tenant, and each route needs a
//! permission in the flow's namespace (FLOW:READ to read, FLOW:UPDATE to save, FLOW:DELETE to
//! delete, EXECUTION:CREATE to run). No call to Tessera on the request path.
//!
//! Run it next to a Tessera (`cargo run -- serve`):
//!
//! ```sh
//! TESSERA_ISSUER=http://127.0.0.1:8080 KESTRA_AUDIENCE=http://127.0.0.1:8081 \
//!     cargo run --example kestra_like
//! ```
//!
//! and call it with an access token issued for `resource=http://127.0.0.1:8081`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_verifier::{AccessToken, Action, JwkSet, Permission, Verifier};

/// Flows by (tenant, namespace, id).
type Flows = BTreeMap<(String, String, String), Value>;

/// The service's state: the verifier and an in-memory flow store, per tenant.
#[derive(Clone)]
pub struct AppState {
    pub verifier: Verifier,
    pub flows: Arc<Mutex<Flows>>,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(s: &AppState) -> Verifier {
        s.verifier.clone()
    }
}

type Reply = Result<(StatusCode, Json<Value>), (StatusCode, Json<Value>)>;

/// 403 unless the token allows `permission:action` in `namespace` of `tenant`.
fn require(
    token: &AccessToken,
    tenant: &str,
    p: Permission,
    a: Action,
    namespace: &str,
) -> Result<(), (StatusCode, Json<Value>)> {
    if token.allows_in_tenant(tenant, p, a, Some(namespace)) {
        Ok(())
    } else {
        let msg = format!("missing {p}:{a} in namespace {namespace} of tenant {tenant}");
        Err((StatusCode::FORBIDDEN, Json(json!({ "error": "forbidden", "message": msg }))))
    }
}

async fn get_flow(
    State(s): State<AppState>,
    token: AccessToken,
    Path((tenant, ns, id)): Path<(String, String, String)>,
) -> Reply {
    require(&token, &tenant, Permission::Flow, Action::Read, &ns)?;
    let flows = s.flows.lock().unwrap_or_else(|e| e.into_inner());
    match flows.get(&(tenant, ns, id)) {
        Some(f) => Ok((StatusCode::OK, Json(f.clone()))),
        None => Err((StatusCode::NOT_FOUND, Json(json!({ "error": "not_found" })))),
    }
}

async fn put_flow(
    State(s): State<AppState>,
    token: AccessToken,
    Path((tenant, ns, id)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Reply {
    require(&token, &tenant, Permission::Flow, Action::Update, &ns)?;
    let flow = json!({ "namespace": ns, "id": id, "definition": body, "updated_by": token.sub() });
    s.flows.lock().unwrap_or_else(|e| e.into_inner()).insert((tenant, ns, id), flow.clone());
    Ok((StatusCode::OK, Json(flow)))
}

async fn delete_flow(
    State(s): State<AppState>,
    token: AccessToken,
    Path((tenant, ns, id)): Path<(String, String, String)>,
) -> Reply {
    require(&token, &tenant, Permission::Flow, Action::Delete, &ns)?;
    s.flows.lock().unwrap_or_else(|e| e.into_inner()).remove(&(tenant, ns, id));
    Ok((StatusCode::NO_CONTENT, Json(Value::Null)))
}

async fn execute(token: AccessToken, Path((tenant, ns, id)): Path<(String, String, String)>) -> Reply {
    require(&token, &tenant, Permission::Execution, Action::Create, &ns)?;
    Ok((StatusCode::CREATED, Json(json!({ "flow": id, "namespace": ns, "state": "CREATED", "by": token.sub() }))))
}

/// The service's routes.
pub fn app(verifier: Verifier) -> Router {
    let state = AppState { verifier, flows: Arc::default() };
    Router::new()
        .route("/api/v1/{tenant}/flows/{namespace}/{id}", get(get_flow).put(put_flow).delete(delete_flow))
        .route("/api/v1/{tenant}/executions/{namespace}/{id}", post(execute))
        .with_state(state)
}

/// Builds a verifier for `issuer` from its JWKS (fetched once here; a long-running service
/// would use the `jwks-fetch` feature to keep it fresh).
pub async fn verifier_for(issuer: &str, audience: &str) -> Result<Verifier, Box<dyn std::error::Error>> {
    let jwks: JwkSet = reqwest::get(format!("{issuer}/jwks.json")).await?.json().await?;
    Ok(Verifier::builder(issuer).audience(audience).keys(jwks).build()?)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("TESSERA_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let audience = std::env::var("KESTRA_AUDIENCE").unwrap_or_else(|_| "http://127.0.0.1:8081".into());
    let verifier = verifier_for(&issuer, &audience).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    eprintln!("kestra-like service on http://127.0.0.1:8081, trusting {issuer}");
    axum::serve(listener, app(verifier)).await?;
    Ok(())
}
