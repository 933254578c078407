//! The axum extractor, in process (`Router::oneshot`).
#![cfg(feature = "axum")]

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::routing::get;
use common::*;
use serde_json::json;
use tessera_verifier::axum::AuthRejection;
use tessera_verifier::{AccessToken, Action, Permission, Verifier, VerifyError};
use tower::ServiceExt;

#[derive(Clone)]
struct AppState {
    verifier: Verifier,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Verifier {
        state.verifier.clone()
    }
}

async fn whoami(token: AccessToken) -> String {
    format!("{}@{}", token.sub(), token.tenant())
}

async fn maybe(token: Option<AccessToken>) -> String {
    token.map_or_else(|| "anonymous".to_owned(), |t| t.sub().to_owned())
}

async fn flows(token: AccessToken) -> StatusCode {
    if token.allows_in_tenant("acme", Permission::Flow, Action::Read, Some("prod")) {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/maybe", get(maybe))
        .route("/flows", get(flows))
        .with_state(AppState { verifier })
}

async fn call(app: &Router, path: &str, authorization: &[&str]) -> Response {
    let mut request = Request::get(path);
    for value in authorization {
        request = request.header(AUTHORIZATION, *value);
    }
    app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
}

fn challenge(response: &Response) -> &str {
    response.headers().get(WWW_AUTHENTICATE).map(|v| v.to_str().unwrap()).unwrap_or("")
}

#[tokio::test]
async fn valid_tokens_reach_the_handler() {
    let key = TestKey::es256("k");
    let (verifier, _) = verifier(&[&key]);
    let app = app(verifier);
    let token = key.token(&claims());
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = call(&app, "/whoami", &[&format!("{scheme} {token}")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"user-42@acme");
    }
    assert_eq!(call(&app, "/maybe", &[&format!("Bearer {token}")]).await.status(), StatusCode::OK);
    assert_eq!(call(&app, "/flows", &[&format!("Bearer {token}")]).await.status(), StatusCode::OK);
    let dev_only =
        key.token(&claims_with(json!({ "jti": "dev", "rb": { "v": 1, "n": { "f00000000000000": ["dev"] } } })));
    assert_eq!(call(&app, "/flows", &[&format!("Bearer {dev_only}")]).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn invalid_tokens_get_401_invalid_token() {
    let key = TestKey::es256("k");
    let (verifier, _) = verifier(&[&key]);
    let app = app(verifier);
    let other = TestKey::es256("k");
    let expired = key.token(&claims_with(json!({ "exp": NOW - 3600, "jti": "old" })));
    let bad_values = [
        format!("Bearer {}", other.token(&claims())),
        format!("Bearer {expired}"),
        "Bearer not.a.token".to_owned(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Bearer {} extra", key.token(&claims())),
    ];
    for value in &bad_values {
        for path in ["/whoami", "/maybe"] {
            let response = call(&app, path, &[value]).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path} {value}");
            assert_eq!(challenge(&response), r#"Bearer error="invalid_token""#);
            assert!(axum::body::to_bytes(response.into_body(), 1024).await.unwrap().is_empty());
        }
    }
    // Two Authorization headers are refused, even if one is valid.
    let token = key.token(&claims());
    let response = call(&app, "/whoami", &[&format!("Bearer {token}"), &format!("Bearer {token}")]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn missing_tokens() {
    let key = TestKey::es256("k");
    let (verifier, _) = verifier(&[&key]);
    let app = app(verifier);
    // No token: 401 with a bare challenge (RFC 6750 section 3.1), or None for Option.
    let response = call(&app, "/whoami", &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&response), "Bearer");
    let response = call(&app, "/maybe", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(&axum::body::to_bytes(response.into_body(), 1024).await.unwrap()[..], b"anonymous");
    // Other credentials are not a bearer token: the required extractor asks for one, the
    // optional one does not pretend the request is anonymous.
    let response = call(&app, "/whoami", &["Basic dXNlcjpwYXNz"]).await;
    assert_eq!((response.status(), challenge(&response)), (StatusCode::UNAUTHORIZED, "Bearer"));
    let response = call(&app, "/maybe", &["Basic dXNlcjpwYXNz"]).await;
    assert_eq!(
        (response.status(), challenge(&response)),
        (StatusCode::UNAUTHORIZED, r#"Bearer error="invalid_token""#)
    );
}

#[test]
fn rejections_keep_the_reason_for_logs() {
    assert_eq!(AuthRejection::MissingToken.verify_error(), None);
    assert_eq!(AuthRejection::InvalidToken(VerifyError::Expired).verify_error(), Some(VerifyError::Expired));
}
