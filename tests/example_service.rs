//! End to end: tokens from Tessera for users with different bindings, presented to the
//! Kestra-like example service, which allows or denies by itself, offline, by namespace.

mod common;

#[path = "../examples/kestra_like.rs"]
#[allow(dead_code)]
mod kestra_like;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use serde_json::json;
use tessera::rbac::PermSet;
use tessera::store::{Binding, PrincipalKind, Role, Tenant};
use tower::ServiceExt;

const KESTRA: &str = "https://kestra.test";

async fn bind(app: &TestApp, id: &str, role: &str, user: &str, namespaces: &[&str]) {
    let b = Binding {
        tenant_id: "acme".into(),
        id: id.into(),
        role_id: role.into(),
        principal_kind: PrincipalKind::User,
        principal_id: user.into(),
        namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
        created_at: 0,
        created_by: None,
    };
    app.stores.bindings.create_binding(&b).await.unwrap();
}

async fn role(app: &TestApp, id: &str, perms: &[&str]) {
    let r = Role {
        tenant_id: "acme".into(),
        id: id.into(),
        name: id.into(),
        description: None,
        permissions: PermSet::from_strings(perms).unwrap().to_i64(),
        builtin: false,
        created_at: 0,
    };
    app.stores.roles.create_role(&r).await.unwrap();
}

async fn on_both(b: Backend) {
    let app = TestApp::new(b).await;
    app.stores
        .tenants
        .create_tenant(&Tenant { id: "acme".into(), name: "ACME".into(), created_at: 0, created_by: None })
        .await
        .unwrap();
    app.client("kestra-ui", false, |c| {
        c.tenant_id = "acme".into();
        c.default_audience = Some(KESTRA.into());
    })
    .await;
    let dev = app.user("dev").await; // edits flows in prod.engineering, reads all of prod
    let ops = app.user("ops").await; // runs executions anywhere, reads nothing
    role(&app, "reader", &["FLOW:READ"]).await;
    role(&app, "editor", &["FLOW:READ", "FLOW:UPDATE"]).await;
    role(&app, "runner", &["EXECUTION:CREATE"]).await;
    bind(&app, "b1", "reader", &dev.id, &["prod"]).await;
    bind(&app, "b2", "editor", &dev.id, &["prod.engineering"]).await;
    bind(&app, "b3", "runner", &ops.id, &[]).await;

    // The service trusts Tessera's JWKS; it never calls Tessera afterwards.
    let jwks: tessera_verifier::JwkSet = serde_json::from_str(&body_text(app.get("/jwks.json").await).await).unwrap();
    let verifier = tessera_verifier::Verifier::builder(ISSUER).audience(KESTRA).keys(jwks).build().unwrap();
    let service = kestra_like::app(verifier);
    let token = |user: &'static str| {
        let app = &app;
        async move {
            let (code, verifier) = app.code_for("kestra-ui", user, "openid").await;
            let (s, tok) = app.exchange("kestra-ui", &code, &verifier).await;
            assert_eq!(s, StatusCode::OK, "{tok}");
            tok["access_token"].as_str().unwrap().to_string()
        }
    };
    let call = |method: Method, path: &str, token: Option<&str>| {
        let mut b = Request::builder().method(method).uri(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body =
            if path.contains("/flows/") { Body::from(json!({ "tasks": [] }).to_string()) } else { Body::empty() };
        service.clone().oneshot(b.body(body).unwrap())
    };
    let (dev_t, ops_t) = (token("dev").await, token("ops").await);
    let cases = [
        (Method::PUT, "/api/v1/acme/flows/prod.engineering/etl", &dev_t, StatusCode::OK),
        (Method::GET, "/api/v1/acme/flows/prod.engineering/etl", &dev_t, StatusCode::OK),
        (Method::PUT, "/api/v1/acme/flows/prod.engineering.nightly/etl", &dev_t, StatusCode::OK), // a child namespace
        (Method::PUT, "/api/v1/acme/flows/prod/etl", &dev_t, StatusCode::FORBIDDEN),              // read-only there
        (Method::GET, "/api/v1/acme/flows/prod/etl", &dev_t, StatusCode::NOT_FOUND),              // allowed, absent
        (Method::GET, "/api/v1/acme/flows/production/etl", &dev_t, StatusCode::FORBIDDEN),        // not under prod
        (Method::DELETE, "/api/v1/acme/flows/prod.engineering/etl", &dev_t, StatusCode::FORBIDDEN),
        (Method::POST, "/api/v1/acme/executions/prod.engineering/etl", &dev_t, StatusCode::FORBIDDEN),
        (Method::POST, "/api/v1/acme/executions/prod.engineering/etl", &ops_t, StatusCode::CREATED),
        (Method::POST, "/api/v1/acme/executions/anything/else", &ops_t, StatusCode::CREATED),
        (Method::GET, "/api/v1/acme/flows/prod.engineering/etl", &ops_t, StatusCode::FORBIDDEN),
        (Method::GET, "/api/v1/globex/flows/prod.engineering/etl", &dev_t, StatusCode::FORBIDDEN), // another tenant
    ];
    for (m, path, t, expected) in cases {
        let res = call(m.clone(), path, Some(t)).await.unwrap();
        assert_eq!(res.status(), expected, "{m} {path}");
    }
    let res = call(Method::GET, "/api/v1/acme/flows/prod/etl", None).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Stale bindings: dev loses the editor role. A service that polls /binding-epochs refuses
    // dev's older token at once, before it expires; dev's next token carries the new bindings.
    app.stores.bindings.delete_binding("acme", "b2", 1).await.unwrap();
    let epochs = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<(String, String), i64>::new()));
    let poll = Request::get("/binding-epochs?since=0")
        .header(header::AUTHORIZATION, basic_header("kestra-ui", "s3cret-kestra-ui"))
        .body(Body::empty())
        .unwrap();
    let changes = body_json(app.send(poll).await).await;
    for c in changes["changes"].as_array().unwrap() {
        let key = (c["kind"].as_str().unwrap().to_string(), c["id"].as_str().unwrap().to_string());
        epochs.lock().unwrap().insert(key, c["ep"].as_i64().unwrap());
    }
    let seen = epochs.clone();
    let jwks: tessera_verifier::JwkSet = serde_json::from_str(&body_text(app.get("/jwks.json").await).await).unwrap();
    let fresh_verifier =
        tessera_verifier::Verifier::builder(ISSUER).audience(KESTRA).keys(jwks).build().unwrap().with_min_epoch(
            std::sync::Arc::new(move |_tenant, kind, sub| {
                let kind = match kind {
                    tessera_verifier::PrincipalKind::User => "user",
                    _ => "service_account",
                };
                seen.lock().unwrap().get(&(kind.to_string(), sub.to_string())).copied()
            }),
        );
    assert!(
        matches!(fresh_verifier.verify(&dev_t), Err(tessera_verifier::VerifyError::Stale)),
        "the old token is stale"
    );
    assert!(fresh_verifier.verify(&ops_t).is_ok(), "ops's bindings did not change");
    let service = kestra_like::app(fresh_verifier);
    let new_dev = token("dev").await;
    let put = |t: String| {
        let req = Request::builder()
            .method(Method::PUT)
            .uri("/api/v1/acme/flows/prod.engineering/etl")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .body(Body::from("{}"))
            .unwrap();
        service.clone().oneshot(req)
    };
    assert_eq!(put(dev_t.clone()).await.unwrap().status(), StatusCode::UNAUTHORIZED, "stale token refused");
    assert_eq!(put(new_dev).await.unwrap().status(), StatusCode::FORBIDDEN, "the new token no longer allows editing");
    let res = call(Method::GET, "/api/v1/acme/flows/prod/etl", Some("not.a.token")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_example_service_authorizes_by_namespace() {
    on_both(Backend::SqliteMemory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis_example_service_authorizes_by_namespace() {
    on_both(Backend::PostgresRedis).await;
}
