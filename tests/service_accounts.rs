//! Service-account credentials end to end, on both backend pairs: API tokens created through
//! the admin API and exchanged (RFC 8693) for access tokens that the verifier crate checks
//! and authorizes; down-scoping that cannot widen; revocation, expiry and rotation; clients
//! with a secret or `private_key_jwt`; workload identity against an external issuer run on
//! loopback by the test; `act` with IMPERSONATE; the RFC's errors for bad input; tenant
//! isolation and no escalation.

mod common;

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use serde_json::{Value, json};
use tessera::crypto::{b64url, now};
use tessera::store::MemberKind;
use tessera_verifier::{Action as VAction, Permission as VPerm};

const KESTRA: &str = "https://kestra.test";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const API_TOKEN: &str = "urn:tessera:params:oauth:token-type:api-token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

on_both_backends!(
    api_tokens_exchange_for_exactly_the_accounts_bindings,
    down_scoping_narrows_and_never_widens,
    revocation_expiry_and_rotation,
    bad_exchange_requests_get_the_rfc_errors,
    service_account_clients_with_a_secret_and_private_key_jwt,
    workload_identity_with_an_external_issuer,
    actor_tokens_need_impersonate,
    credentials_are_isolated_per_tenant_and_never_escalate,
    introspection_answers_the_bindings_a_token_only_references,
);

/// Calls the admin API with an `Authorization` header value.
async fn api(app: &TestApp, auth: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    app.admin_api(auth, method, path, body).await
}

fn as_user(name: &str) -> String {
    basic_header(name, PASSWORD)
}

/// Root (Instance Admin) creates tenants `acme` and `globex`; `ann` is Tenant Admin of acme,
/// `bob` of globex. In acme: a role `flow-rw` (FLOW:READ, FLOW:UPDATE, EXECUTION:CREATE)
/// bound to the service account `ci` on namespace `prod`; `ci` may get tokens for KESTRA.
async fn setup(b: Backend) -> TestApp {
    let app = TestApp::new(b).await;
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
    for (t, admin) in [("acme", "ann"), ("globex", "bob")] {
        let (s, v) = api(&app, &as_user("root"), Method::POST, "/tenants", Some(json!({ "id": t, "name": t }))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let u = app.user(admin).await;
        let body = json!({ "role_id": "admin", "principal_kind": "user", "principal_id": u.id });
        let (s, v) = api(&app, &as_user("root"), Method::POST, &format!("/{t}/bindings"), Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let ann = as_user("ann");
    let role =
        json!({ "id": "flow-rw", "name": "Flow RW", "permissions": ["FLOW:READ", "FLOW:UPDATE", "EXECUTION:CREATE"] });
    let (s, v) = api(&app, &ann, Method::POST, "/acme/roles", Some(role)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sa = json!({ "id": "ci", "name": "CI", "audiences": [KESTRA] });
    let (s, v) = api(&app, &ann, Method::POST, "/acme/service-accounts", Some(sa)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["audiences"], json!([KESTRA]));
    let binding = json!({ "role_id": "flow-rw", "principal_kind": "service_account", "principal_id": "ci", "namespaces": ["prod"] });
    let (s, v) = api(&app, &ann, Method::POST, "/acme/bindings", Some(binding)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    app
}

/// Creates an API token for `sa` in `tenant` as `auth`; returns (token id, token).
async fn new_token(app: &TestApp, auth: &str, tenant: &str, sa: &str, extra: Value) -> (String, String) {
    let mut body = json!({ "name": "deploy" });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (s, v) = api(app, auth, Method::POST, &format!("/{tenant}/service-accounts/{sa}/tokens"), Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (v["id"].as_str().unwrap().to_string(), v["token"].as_str().unwrap().to_string())
}

/// A token exchange with no client authentication; returns status and body.
async fn exchange(app: &TestApp, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut all = vec![("grant_type", EXCHANGE)];
    all.extend_from_slice(pairs);
    let res = app.post_form("/token", &all, None).await;
    let status = res.status();
    if status == StatusCode::OK {
        assert_eq!(res.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    }
    (status, body_json(res).await)
}

async fn exchange_api_token(app: &TestApp, token: &str, extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut pairs = vec![("subject_token", token), ("subject_token_type", API_TOKEN)];
    pairs.extend_from_slice(extra);
    exchange(app, &pairs).await
}

async fn verifier(app: &TestApp, audience: &str) -> tessera_verifier::Verifier {
    let jwks: tessera_verifier::JwkSet = serde_json::from_str(&body_text(app.get("/jwks.json").await).await).unwrap();
    tessera_verifier::Verifier::builder(ISSUER).audience(audience).keys(jwks).build().unwrap()
}

fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, code: &str) {
    assert_eq!((status, body["error"].as_str()), (want_status, Some(code)), "{body}");
    assert!(body["error_description"].is_string(), "{body}");
}

async fn api_tokens_exchange_for_exactly_the_accounts_bindings(b: Backend) {
    let app = setup(b).await;
    let (id, token) = new_token(&app, &as_user("ann"), "acme", "ci", json!({ "expires_in": 3600 })).await;
    assert!(token.starts_with("tsa_") && token.len() == 42, "{token}");

    // Listed without the secret, with a hint and the expiry.
    let (s, v) = api(&app, &as_user("ann"), Method::GET, "/acme/service-accounts/ci/tokens", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let item = &v["items"][0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["status"], "active");
    assert!(item["expires_at"].as_i64().unwrap() > now());
    assert!(item["hint"].as_str().unwrap().ends_with(&token[token.len() - 4..]));
    assert!(!v.to_string().contains(&token), "the token is shown once only");
    assert!(item.get("token_hash").is_none());

    let (s, v) = exchange_api_token(&app, &token, &[]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].as_u64().unwrap() <= 300);
    assert!(v.get("refresh_token").is_none());
    let at = verifier(&app, KESTRA).await.verify(v["access_token"].as_str().unwrap()).expect("verifies");
    assert_eq!(at.sub(), "ci");
    assert_eq!(at.tenant(), "acme");
    assert_eq!(at.principal_kind(), tessera_verifier::PrincipalKind::ServiceAccount);
    assert_eq!(at.client_id(), "ci");
    // Exactly the bindings: FLOW:READ, FLOW:UPDATE, EXECUTION:CREATE on prod and below.
    assert!(at.allows_in_tenant("acme", VPerm::Flow, VAction::Read, Some("prod")));
    assert!(at.allows_in_tenant("acme", VPerm::Flow, VAction::Update, Some("prod.engineering.etl")));
    assert!(at.allows_in_tenant("acme", VPerm::Execution, VAction::Create, Some("prod.engineering")));
    assert!(!at.allows_in_tenant("acme", VPerm::Flow, VAction::Read, Some("production")));
    assert!(!at.allows_in_tenant("acme", VPerm::Flow, VAction::Read, Some("dev")));
    assert!(!at.allows_in_tenant("acme", VPerm::Flow, VAction::Delete, Some("prod")));
    assert!(!at.allows_in_tenant("acme", VPerm::Execution, VAction::Read, Some("prod")));
    assert!(!at.allows_in_tenant("acme", VPerm::User, VAction::Read, None));

    // The use is recorded (not the token).
    let (_, v) = api(&app, &as_user("ann"), Method::GET, &format!("/acme/service-accounts/ci/tokens/{id}"), None).await;
    assert!(v["last_used_at"].as_i64().is_some(), "{v}");

    // The API token also works directly as a Bearer credential at the admin API, with the
    // account's own rights: ci holds no USER:READ.
    let (s, v) = api(&app, &format!("Bearer {token}"), Method::GET, "/acme/service-accounts", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = api(&app, "Bearer tsa_notatokenatall", Method::GET, "/acme/service-accounts", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

async fn down_scoping_narrows_and_never_widens(b: Backend) {
    let app = setup(b).await;
    let (_, token) = new_token(&app, &as_user("ann"), "acme", "ci", json!({})).await;
    let ver = verifier(&app, KESTRA).await;

    let (s, v) = exchange_api_token(&app, &token, &[("scope", "FLOW:READ:prod.etl EXECUTION:CREATE")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // EXECUTION:CREATE is held on prod only: the issued scope says so, as the rb does.
    assert_eq!(v["scope"], "FLOW:READ:prod.etl EXECUTION:CREATE:prod");
    let narrow = v["access_token"].as_str().unwrap().to_string();
    let at = ver.verify(&narrow).unwrap();
    assert!(at.allows_in_tenant("acme", VPerm::Flow, VAction::Read, Some("prod.etl.daily")));
    assert!(
        !at.allows_in_tenant("acme", VPerm::Flow, VAction::Read, Some("prod")),
        "a child scope does not give the parent"
    );
    assert!(!at.allows_in_tenant("acme", VPerm::Flow, VAction::Update, Some("prod.etl")));
    // EXECUTION:CREATE anywhere: only where held, on prod.
    assert!(at.allows_in_tenant("acme", VPerm::Execution, VAction::Create, Some("prod.x")));
    assert!(!at.allows_in_tenant("acme", VPerm::Execution, VAction::Create, Some("dev")));

    // Asking for what is not held is refused, never silently given or cut.
    for scope in ["FLOW:DELETE", "FLOW:READ:dev", "FLOW:READ:production", "USER:READ"] {
        let (s, v) = exchange_api_token(&app, &token, &[("scope", scope)]).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_scope");
    }
    for scope in ["FLOW:FLY", "FLOW:READ:bad namespace!", "openid", "flows:read"] {
        let (s, v) = exchange_api_token(&app, &token, &[("scope", scope)]).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_scope");
    }

    // Exchanging the narrowed access token again cannot widen it, with or without a scope.
    let (s, v) = exchange(&app, &[("subject_token", &narrow), ("subject_token_type", ACCESS_TOKEN)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["scope"], "FLOW:READ:prod.etl EXECUTION:CREATE:prod", "a narrowed token stays marked as narrowed");
    let again = ver.verify(v["access_token"].as_str().unwrap()).unwrap();
    assert!(again.allows_in_tenant("acme", VPerm::Flow, VAction::Read, Some("prod.etl")));
    assert!(!again.allows_in_tenant("acme", VPerm::Flow, VAction::Update, Some("prod.etl")));
    assert!(again.expires_at() <= at.expires_at(), "an exchanged token never outlives its subject token");
    let (s, v) = exchange(
        &app,
        &[("subject_token", &narrow), ("subject_token_type", ACCESS_TOKEN), ("scope", "FLOW:UPDATE:prod")],
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_scope");

    // A service that received the token cannot redirect it to another audience on its own.
    let admin_aud = format!("{ISSUER}/api");
    let (s, v) =
        exchange(&app, &[("subject_token", &narrow), ("subject_token_type", ACCESS_TOKEN), ("audience", &admin_aud)])
            .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_target");

    // A narrowed token at the admin API acts only within its claims.
    let (s, v) = api(
        &app,
        &as_user("ann"),
        Method::POST,
        "/acme/roles",
        Some(json!({ "id": "ur", "name": "UR", "permissions": ["USER:READ"] })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let binding = json!({ "role_id": "ur", "principal_kind": "service_account", "principal_id": "ci" });
    let (s, _) = api(&app, &as_user("ann"), Method::POST, "/acme/bindings", Some(binding)).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = api(
        &app,
        &as_user("ann"),
        Method::PATCH,
        "/acme/service-accounts/ci",
        Some(json!({ "audiences": [KESTRA, admin_aud] })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, full) = exchange_api_token(&app, &token, &[("audience", &admin_aud)]).await;
    let (_, narrowed) = exchange_api_token(&app, &token, &[("audience", &admin_aud), ("scope", "FLOW:READ")]).await;
    let full = format!("Bearer {}", full["access_token"].as_str().unwrap());
    let narrowed_token = narrowed["access_token"].as_str().unwrap().to_string();
    let narrowed = format!("Bearer {narrowed_token}");
    assert_eq!(api(&app, &full, Method::GET, "/acme/users", None).await.0, StatusCode::OK);
    assert_eq!(api(&app, &narrowed, Method::GET, "/acme/users", None).await.0, StatusCode::FORBIDDEN);
    // Exchanged again with no scope, it stays narrowed at the admin API too.
    let (s, v) = exchange(&app, &[("subject_token", &narrowed_token), ("subject_token_type", ACCESS_TOKEN)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let again = format!("Bearer {}", v["access_token"].as_str().unwrap());
    assert_eq!(api(&app, &again, Method::GET, "/acme/users", None).await.0, StatusCode::FORBIDDEN);
}

async fn revocation_expiry_and_rotation(b: Backend) {
    let app = setup(b).await;
    let ann = as_user("ann");
    let (id, token) = new_token(&app, &ann, "acme", "ci", json!({})).await;
    assert_eq!(exchange_api_token(&app, &token, &[]).await.0, StatusCode::OK);
    let (s, _) = api(&app, &ann, Method::DELETE, &format!("/acme/service-accounts/ci/tokens/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = exchange_api_token(&app, &token, &[]).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_request");
    let (_, v) = api(&app, &ann, Method::GET, &format!("/acme/service-accounts/ci/tokens/{id}"), None).await;
    assert_eq!(v["status"], "revoked");
    let (s, v) = api(&app, &format!("Bearer {token}"), Method::GET, "/acme/users", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");

    // Expiry: the shortest lifetime is a minute; a token past its expiry fails at once.
    let (s, v) = api(
        &app,
        &ann,
        Method::POST,
        "/acme/service-accounts/ci/tokens",
        Some(json!({ "name": "x", "expires_in": 10 })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = api(
        &app,
        &ann,
        Method::POST,
        "/acme/service-accounts/ci/tokens",
        Some(json!({ "name": "x", "expires_at": now() - 5 })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (id2, token2) = new_token(&app, &ann, "acme", "ci", json!({ "expires_in": 60 })).await;
    assert_eq!(exchange_api_token(&app, &token2, &[]).await.0, StatusCode::OK);
    app.stores.credentials.shorten_api_token("acme", "ci", &id2, now() - 1).await.unwrap();
    let (s, v) = exchange_api_token(&app, &token2, &[]).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_request");

    // Rotation: the successor works at once, the old token through the overlap only.
    let (id3, old) = new_token(&app, &ann, "acme", "ci", json!({ "expires_in": 86400 })).await;
    let path = format!("/acme/service-accounts/ci/tokens/{id3}/rotate");
    let (s, v) = api(&app, &ann, Method::POST, &path, Some(json!({ "overlap_seconds": 600 }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let new = v["token"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let replaced_until = v["replaces"]["expires_at"].as_i64().unwrap();
    assert!((replaced_until - (now() + 600)).abs() <= 5, "{v}");
    assert!((v["expires_at"].as_i64().unwrap() - (now() + 86400)).abs() <= 5, "the successor keeps the lifetime");
    assert_eq!(exchange_api_token(&app, &old, &[]).await.0, StatusCode::OK, "old token works during the overlap");
    assert_eq!(exchange_api_token(&app, &new, &[]).await.0, StatusCode::OK);
    // With no overlap the old one stops at once.
    let new_id = v["id"].as_str().unwrap().to_string();
    let path = format!("/acme/service-accounts/ci/tokens/{new_id}/rotate");
    let (s, v) = api(&app, &ann, Method::POST, &path, Some(json!({ "overlap_seconds": 0 }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(exchange_api_token(&app, &new, &[]).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(exchange_api_token(&app, v["token"].as_str().unwrap(), &[]).await.0, StatusCode::OK);
    // A revoked token cannot be rotated.
    let (s, _) =
        api(&app, &ann, Method::POST, &format!("/acme/service-accounts/ci/tokens/{id}/rotate"), Some(json!({}))).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Deleting the account ends its tokens.
    let (_, last) = new_token(&app, &ann, "acme", "ci", json!({})).await;
    let (s, _) = api(&app, &ann, Method::DELETE, "/acme/service-accounts/ci", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(exchange_api_token(&app, &last, &[]).await.0, StatusCode::BAD_REQUEST);
}

async fn bad_exchange_requests_get_the_rfc_errors(b: Backend) {
    let app = setup(b).await;
    let (_, token) = new_token(&app, &as_user("ann"), "acme", "ci", json!({})).await;
    let mut typo = token.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let unknown = {
        // Well formed (checksum right) but never issued.
        let other = setup_token_shape();
        assert!(tessera::oauth::api_token::is_well_formed(&other));
        other
    };
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("subject_token_type", API_TOKEN)], StatusCode::BAD_REQUEST, "invalid_request"),
        (vec![("subject_token", &token)], StatusCode::BAD_REQUEST, "invalid_request"),
        (
            vec![("subject_token", &token), ("subject_token_type", "urn:x:unknown")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (vec![("subject_token", &typo), ("subject_token_type", API_TOKEN)], StatusCode::BAD_REQUEST, "invalid_request"),
        (
            vec![("subject_token", &unknown), ("subject_token_type", API_TOKEN)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![("subject_token", "not.a.jwt"), ("subject_token_type", ACCESS_TOKEN)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (vec![("subject_token", "garbage"), ("subject_token_type", JWT)], StatusCode::BAD_REQUEST, "invalid_request"),
        (
            vec![("subject_token", &token), ("subject_token_type", API_TOKEN), ("actor_token", &token)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![("subject_token", &token), ("subject_token_type", API_TOKEN), ("actor_token_type", API_TOKEN)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("subject_token", &token),
                ("subject_token_type", API_TOKEN),
                ("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![("subject_token", &token), ("subject_token_type", API_TOKEN), ("audience", "https://unknown.test")],
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            vec![("subject_token", &token), ("subject_token_type", API_TOKEN), ("resource", "https://unknown.test")],
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            vec![
                ("subject_token", &token),
                ("subject_token_type", API_TOKEN),
                ("audience", KESTRA),
                ("audience", "https://b.test"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
    ];
    for (pairs, status, code) in cases {
        let (s, v) = exchange(&app, &pairs).await;
        assert_error(s, &v, status, code);
        assert!(!v.to_string().contains(&token), "no token echoed in an error: {v}");
    }
    // A malformed form body and a repeated parameter.
    let res = app
        .send(Request::post("/token").header(header::CONTENT_TYPE, "application/json").body(Body::from("{}")).unwrap())
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(res).await["error"], "invalid_request");
    let (s, v) =
        exchange(&app, &[("subject_token", &token), ("subject_token", &token), ("subject_token_type", API_TOKEN)])
            .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_request");
    // A client that authenticates wrongly is invalid_client, with the challenge.
    let res = app
        .post_form(
            "/token",
            &[("grant_type", EXCHANGE), ("subject_token", &token), ("subject_token_type", API_TOKEN)],
            Some(("nobody", "wrong")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get(header::WWW_AUTHENTICATE).is_some());
    // A client of another tenant cannot exchange acme's token.
    app.client("globex-app", false, |c| {
        c.tenant_id = "globex".into();
        c.grant_types.push(EXCHANGE.into());
    })
    .await;
    let res = app
        .post_form(
            "/token",
            &[("grant_type", EXCHANGE), ("subject_token", &token), ("subject_token_type", API_TOKEN)],
            Some(("globex-app", "s3cret-globex-app")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(res).await["error"], "invalid_request");
    // A public client cannot exchange (it proves nothing).
    app.client("acme-spa", true, |c| {
        c.tenant_id = "acme".into();
        c.grant_types.push(EXCHANGE.into());
    })
    .await;
    let (s, v) =
        exchange(&app, &[("client_id", "acme-spa"), ("subject_token", &token), ("subject_token_type", API_TOKEN)])
            .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "unauthorized_client");
    // A confidential client of the tenant may exchange, for an audience both it and the
    // account allow.
    app.client("acme-svc", false, |c| {
        c.tenant_id = "acme".into();
        c.grant_types.push(EXCHANGE.into());
        c.default_audience = Some(KESTRA.into());
    })
    .await;
    let res = app
        .post_form(
            "/token",
            &[("grant_type", EXCHANGE), ("subject_token", &token), ("subject_token_type", API_TOKEN)],
            Some(("acme-svc", "s3cret-acme-svc")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, claims) = jwt_parts(body_json(res).await["access_token"].as_str().unwrap());
    assert_eq!((claims["aud"].as_str(), claims["client_id"].as_str()), (Some(KESTRA), Some("acme-svc")));
    let res = app
        .post_form(
            "/token",
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &token),
                ("subject_token_type", API_TOKEN),
                ("audience", "https://other-api.test"),
            ],
            Some(("acme-svc", "s3cret-acme-svc")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "the client allows it but the account does not");
    assert_eq!(body_json(res).await["error"], "invalid_target");
    // The grant is advertised.
    let meta = body_json(app.get("/.well-known/openid-configuration").await).await;
    assert!(meta["grant_types_supported"].as_array().unwrap().iter().any(|g| g == EXCHANGE));
    assert!(meta["token_endpoint_auth_methods_supported"].as_array().unwrap().iter().any(|m| m == "private_key_jwt"));
}

/// A token of the right shape (prefix and checksum) that was never issued.
fn setup_token_shape() -> String {
    tessera::oauth::api_token::generate().token.expose().to_string()
}

/// A signing key for JWS made by the tests (client assertions, the external issuer).
enum TestKey {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl TestKey {
    fn ec() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        TestKey::Ec(EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap())
    }
    fn ed() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        TestKey::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }
    fn alg(&self) -> &'static str {
        match self {
            TestKey::Ec(_) => "ES256",
            TestKey::Ed(_) => "EdDSA",
        }
    }
    fn jwk(&self, kid: &str) -> Value {
        match self {
            TestKey::Ec(k) => {
                let p = k.public_key().as_ref();
                json!({ "kty": "EC", "crv": "P-256", "x": b64url(&p[1..33]), "y": b64url(&p[33..65]), "kid": kid, "use": "sig" })
            }
            TestKey::Ed(k) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64url(k.public_key().as_ref()), "kid": kid })
            }
        }
    }
    fn sign(&self, kid: &str, claims: &Value) -> String {
        self.sign_with_header(&json!({ "alg": self.alg(), "kid": kid, "typ": "JWT" }), claims)
    }
    fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let sig = match self {
            TestKey::Ec(k) => k.sign(&SystemRandom::new(), input.as_bytes()).unwrap().as_ref().to_vec(),
            TestKey::Ed(k) => k.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", b64url(&sig))
    }
}

async fn client_credentials(app: &TestApp, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> (StatusCode, Value) {
    let mut all = vec![("grant_type", "client_credentials")];
    all.extend_from_slice(pairs);
    let res = app.post_form("/token", &all, basic).await;
    (res.status(), body_json(res).await)
}

async fn service_account_clients_with_a_secret_and_private_key_jwt(b: Backend) {
    let app = setup(b).await;
    let ann = as_user("ann");
    let ver = verifier(&app, KESTRA).await;

    // A client secret, shown once.
    let (s, v) = api(&app, &ann, Method::POST, "/acme/service-accounts/ci/clients", Some(json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (id, secret) = (v["client_id"].as_str().unwrap().to_string(), v["client_secret"].as_str().unwrap().to_string());
    let (_, listed) = api(&app, &ann, Method::GET, "/acme/service-accounts/ci/clients", None).await;
    assert_eq!(listed["items"][0]["client_id"], id.as_str());
    assert!(!listed.to_string().contains(&secret));
    let (s, v) = client_credentials(&app, &[], Some((&id, &secret))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let at = ver.verify(v["access_token"].as_str().unwrap()).unwrap();
    assert_eq!((at.sub(), at.client_id(), at.tenant()), ("ci", id.as_str(), "acme"));
    assert!(at.allows_in_tenant("acme", VPerm::Flow, VAction::Update, Some("prod.a")));
    assert!(!at.allows_in_tenant("acme", VPerm::Flow, VAction::Update, Some("dev")));
    // Permission scopes narrow it here too.
    let (s, v) = client_credentials(&app, &[("scope", "FLOW:READ:prod")], Some((&id, &secret))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let at = ver.verify(v["access_token"].as_str().unwrap()).unwrap();
    assert!(
        at.allows_in_tenant("acme", VPerm::Flow, VAction::Read, Some("prod"))
            && !at.allows_in_tenant("acme", VPerm::Flow, VAction::Update, Some("prod"))
    );
    let (s, v) = client_credentials(&app, &[("scope", "FLOW:DELETE")], Some((&id, &secret))).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_scope");
    // `audience` as Auth0-style clients send it: allowed ones only.
    let (s, v) = client_credentials(&app, &[("audience", KESTRA)], Some((&id, &secret))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = client_credentials(&app, &[("audience", "https://nope.test")], Some((&id, &secret))).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_target");
    // A client's audiences stay within the account's.
    let body = json!({ "audiences": ["https://nope.test"] });
    let (s, _) = api(&app, &ann, Method::POST, "/acme/service-accounts/ci/clients", Some(body)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = client_credentials(&app, &[], Some((&id, "wrong"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // private_key_jwt with a registered public key.
    let key = TestKey::ed();
    let (s, v) = api(
        &app,
        &ann,
        Method::POST,
        "/acme/service-accounts/ci/clients",
        Some(json!({ "auth_method": "private_key_jwt" })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "keys are required: {v}");
    let with_private = json!({ "auth_method": "private_key_jwt", "jwks": { "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A" }] } });
    let (s, _) = api(&app, &ann, Method::POST, "/acme/service-accounts/ci/clients", Some(with_private)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "private keys are refused");
    let (s, v) = api(
        &app,
        &ann,
        Method::POST,
        "/acme/service-accounts/ci/clients",
        Some(json!({ "auth_method": "private_key_jwt", "jwks": { "keys": [key.jwk("k1")] } })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(v.get("client_secret").is_none());
    let pkj = v["client_id"].as_str().unwrap().to_string();
    let assertion = |aud: &str, jti: &str, exp: i64| json!({ "iss": pkj, "sub": pkj, "aud": aud, "jti": jti, "exp": exp, "iat": now() });
    let token_endpoint = format!("{ISSUER}/token");
    let post = |a: String| {
        let app = &app;
        async move {
            let res = app
                .post_form(
                    "/token",
                    &[
                        ("grant_type", "client_credentials"),
                        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                        ("client_assertion", &a),
                    ],
                    None,
                )
                .await;
            (res.status(), body_json(res).await)
        }
    };
    let good = key.sign("k1", &assertion(&token_endpoint, "j1", now() + 60));
    let (s, v) = post(good.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(ver.verify(v["access_token"].as_str().unwrap()).unwrap().sub(), "ci");
    // The issuer is an accepted audience too.
    assert_eq!(post(key.sign("k1", &assertion(ISSUER, "j2", now() + 60))).await.0, StatusCode::OK);
    // Replayed, wrong audience, expired, too long-lived, another key, alg none: invalid_client.
    let other = TestKey::ed();
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none"}"#),
        b64url(assertion(&token_endpoint, "j9", now() + 60).to_string().as_bytes())
    );
    for bad in [
        good,
        key.sign("k1", &assertion("https://elsewhere.test/token", "j3", now() + 60)),
        key.sign("k1", &assertion(&token_endpoint, "j4", now() - 120)),
        key.sign("k1", &assertion(&token_endpoint, "j5", now() + 3600)),
        other.sign("k1", &assertion(&token_endpoint, "j6", now() + 60)),
        key.sign_with_header(&json!({ "alg": "ES256", "kid": "k1" }), &assertion(&token_endpoint, "j7", now() + 60)),
        none,
        "garbage".to_string(),
    ] {
        let (s, v) = post(bad).await;
        assert_error(s, &v, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    // The secret client cannot use an assertion, nor two methods at once.
    let res = app
        .post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", &key.sign("k1", &assertion(&token_endpoint, "j8", now() + 60))),
            ],
            Some((&id, &secret)),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Deleting the client ends it at once (the in-process cache forgets it).
    let (s, _) = api(&app, &ann, Method::DELETE, &format!("/acme/service-accounts/ci/clients/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(client_credentials(&app, &[], Some((&id, &secret))).await.0, StatusCode::UNAUTHORIZED);
}

/// An external OIDC issuer on loopback: its discovery document and JWKS.
struct ExternalIssuer {
    url: String,
    key: TestKey,
    _task: tokio::task::JoinHandle<()>,
}

impl ExternalIssuer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let key = TestKey::ec();
        let jwks = Arc::new(json!({ "keys": [key.jwk("ci-1")] }));
        let doc = Arc::new(json!({ "issuer": url, "jwks_uri": format!("{url}/keys") }));
        let router = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json((*doc).clone()) }),
            )
            .route("/keys", axum::routing::get(move || async move { axum::Json((*jwks).clone()) }));
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        ExternalIssuer { url, key, _task: task }
    }

    fn token(&self, claims: Value) -> String {
        let mut base = json!({ "iss": self.url, "aud": "tessera", "sub": "repo:acme/app:ref:refs/heads/main",
            "repository": "acme/app", "ref": "refs/heads/main", "iat": now(), "exp": now() + 300 });
        base.as_object_mut().unwrap().extend(claims.as_object().unwrap().clone());
        self.key.sign("ci-1", &base)
    }
}

async fn workload_identity_with_an_external_issuer(b: Backend) {
    let app = setup(b).await;
    let ann = as_user("ann");
    let ext = ExternalIssuer::start().await;
    let trust = |claims: Value| {
        json!({ "id": "gha", "name": "GitHub main", "issuer": ext.url, "audience": "tessera",
                "claims": claims, "service_account_id": "ci" })
    };
    // Trusting a whole issuer with no rule is refused; so is plain http off loopback.
    let (s, _) = api(&app, &ann, Method::POST, "/acme/workload-identities", Some(trust(json!({})))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let mut remote = trust(json!({ "repository": "acme/app" }));
    remote["issuer"] = "http://ci.example.com".into();
    let (s, _) = api(&app, &ann, Method::POST, "/acme/workload-identities", Some(remote)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let rules = json!({ "repository": "acme/app", "ref": "refs/heads/main" });
    let (s, v) = api(&app, &ann, Method::POST, "/acme/workload-identities", Some(trust(rules))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, listed) = api(&app, &ann, Method::GET, "/acme/workload-identities", None).await;
    assert_eq!(listed["items"][0]["id"], "gha");

    let wl = |t: &str| vec![("subject_token", t.to_string()), ("subject_token_type", JWT.to_string())];
    let run = |t: String| {
        let app = &app;
        async move {
            let pairs = wl(&t);
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            exchange(app, &pairs).await
        }
    };
    let (s, v) = run(ext.token(json!({}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let at = verifier(&app, KESTRA).await.verify(v["access_token"].as_str().unwrap()).unwrap();
    assert_eq!((at.sub(), at.tenant()), ("ci", "acme"));
    assert_eq!(at.principal_kind(), tessera_verifier::PrincipalKind::ServiceAccount);
    assert!(at.allows_in_tenant("acme", VPerm::Flow, VAction::Update, Some("prod")));

    // Refused: claims that do not match, wrong audience, expired, signed by another key with
    // the same kid, an unknown kid, alg none, HS256, an issuer nobody trusts.
    let impostor = TestKey::ec();
    let mut forged_claims = json!({ "iss": ext.url, "aud": "tessera", "repository": "acme/app", "ref": "refs/heads/main", "exp": now() + 300 });
    let forged = impostor.sign("ci-1", &forged_claims);
    let unknown_kid = impostor.sign("ci-2", &forged_claims);
    let none =
        format!("{}.{}.", b64url(br#"{"alg":"none","kid":"ci-1"}"#), b64url(forged_claims.to_string().as_bytes()));
    let hs256 = {
        use aws_lc_rs::hmac;
        let input =
            format!("{}.{}", b64url(br#"{"alg":"HS256","kid":"ci-1"}"#), b64url(forged_claims.to_string().as_bytes()));
        let k = hmac::Key::new(hmac::HMAC_SHA256, ext.key.jwk("ci-1").to_string().as_bytes());
        format!("{input}.{}", b64url(hmac::sign(&k, input.as_bytes()).as_ref()))
    };
    forged_claims["iss"] = "https://untrusted.example".into();
    let untrusted = impostor.sign("ci-1", &forged_claims);
    for bad in [
        ext.token(json!({ "ref": "refs/heads/dev" })),
        ext.token(json!({ "repository": "acme/app-fork" })),
        ext.token(json!({ "aud": "someone-else" })),
        ext.token(json!({ "exp": now() - 300 })),
        ext.token(json!({ "nbf": now() + 3600 })),
        forged,
        unknown_kid,
        none,
        hs256,
        untrusted,
    ] {
        let (s, v) = run(bad).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_request");
    }
    // A trusted workload token asking for an audience the account may not have: invalid_target.
    let good = ext.token(json!({}));
    let (s, v) =
        exchange(&app, &[("subject_token", &good), ("subject_token_type", JWT), ("audience", "https://x.test")]).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_target");
    // Another tenant cannot trust the same issuer for the same audience (which would make
    // acme's jobs ambiguous); an audience of its own is fine.
    let bob = as_user("bob");
    let (s, _) =
        api(&app, &bob, Method::POST, "/globex/service-accounts", Some(json!({ "id": "gci", "name": "G" }))).await;
    assert_eq!(s, StatusCode::CREATED);
    let mut copy = trust(json!({ "repository": "acme/app", "ref": "refs/heads/main" }));
    copy["service_account_id"] = "gci".into();
    let (s, v) = api(&app, &bob, Method::POST, "/globex/workload-identities", Some(copy.clone())).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    copy["audience"] = format!("{ISSUER}/t/globex").into();
    let (s, v) = api(&app, &bob, Method::POST, "/globex/workload-identities", Some(copy)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = run(ext.token(json!({}))).await;
    assert_eq!(s, StatusCode::OK, "acme's jobs still work: {v}");
    // Deleting the trust ends it.
    let (s, _) = api(&app, &ann, Method::DELETE, "/acme/workload-identities/gha", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = run(ext.token(json!({}))).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_request");
}

async fn actor_tokens_need_impersonate(b: Backend) {
    let app = setup(b).await;
    let ann = as_user("ann");
    for (id, perms) in [("deployer", json!(["IMPERSONATE:CREATE"])), ("nobody", json!(["FLOW:READ"]))] {
        let (s, v) =
            api(&app, &ann, Method::POST, "/acme/service-accounts", Some(json!({ "id": id, "name": id }))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let role = json!({ "id": format!("r-{id}"), "name": format!("R {id}"), "permissions": perms });
        assert_eq!(api(&app, &ann, Method::POST, "/acme/roles", Some(role)).await.0, StatusCode::CREATED);
        let binding = json!({ "role_id": format!("r-{id}"), "principal_kind": "service_account", "principal_id": id });
        assert_eq!(api(&app, &ann, Method::POST, "/acme/bindings", Some(binding)).await.0, StatusCode::CREATED);
    }
    let (_, subject) = new_token(&app, &ann, "acme", "ci", json!({})).await;
    let (_, deployer) = new_token(&app, &ann, "acme", "deployer", json!({})).await;
    let (_, nobody) = new_token(&app, &ann, "acme", "nobody", json!({})).await;
    let with_actor = |actor: &str| {
        vec![
            ("subject_token".to_string(), subject.clone()),
            ("subject_token_type".to_string(), API_TOKEN.to_string()),
            ("actor_token".to_string(), actor.to_string()),
            ("actor_token_type".to_string(), API_TOKEN.to_string()),
        ]
    };
    let pairs = with_actor(&deployer);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, v) = exchange(&app, &pairs).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, claims) = jwt_parts(v["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "ci");
    assert_eq!(claims["act"], json!({ "sub": "deployer", "pk": "sa" }));
    // The act chain survives a further exchange of that token.
    let (s, v2) =
        exchange(&app, &[("subject_token", v["access_token"].as_str().unwrap()), ("subject_token_type", ACCESS_TOKEN)])
            .await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    assert_eq!(jwt_parts(v2["access_token"].as_str().unwrap()).1["act"]["sub"], "deployer");
    // Without IMPERSONATE:CREATE, or acting as itself: refused.
    for actor in [nobody.as_str(), subject.as_str()] {
        let pairs = with_actor(actor);
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (s, v) = exchange(&app, &pairs).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

async fn credentials_are_isolated_per_tenant_and_never_escalate(b: Backend) {
    let app = setup(b).await;
    let ann = as_user("ann");
    let bob = as_user("bob");
    let (tid, _) = new_token(&app, &ann, "acme", "ci", json!({})).await;
    let (s, v) = api(&app, &ann, Method::POST, "/acme/service-accounts/ci/clients", Some(json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let cid = v["client_id"].as_str().unwrap().to_string();
    let ext_trust = json!({ "id": "w1", "name": "W", "issuer": "https://ci.example", "audience": "tessera",
                            "claims": { "sub": "x" }, "service_account_id": "ci" });
    assert_eq!(
        api(&app, &ann, Method::POST, "/acme/workload-identities", Some(ext_trust.clone())).await.0,
        StatusCode::CREATED
    );

    // bob, Tenant Admin of globex, reaches none of acme's credentials, by any verb, through
    // either tenant's path.
    for tenant in ["acme", "globex"] {
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/{tenant}/service-accounts/ci/tokens"), None),
            (Method::POST, format!("/{tenant}/service-accounts/ci/tokens"), Some(json!({ "name": "x" }))),
            (Method::GET, format!("/{tenant}/service-accounts/ci/tokens/{tid}"), None),
            (Method::DELETE, format!("/{tenant}/service-accounts/ci/tokens/{tid}"), None),
            (Method::POST, format!("/{tenant}/service-accounts/ci/tokens/{tid}/rotate"), Some(json!({}))),
            (Method::GET, format!("/{tenant}/service-accounts/ci/clients"), None),
            (Method::POST, format!("/{tenant}/service-accounts/ci/clients"), Some(json!({}))),
            (Method::DELETE, format!("/{tenant}/service-accounts/ci/clients/{cid}"), None),
            (Method::GET, format!("/{tenant}/workload-identities/w1"), None),
            (Method::DELETE, format!("/{tenant}/workload-identities/w1"), None),
            (Method::POST, format!("/{tenant}/workload-identities"), Some(ext_trust.clone())),
        ];
        for (method, path, body) in cases {
            let (s, v) = api(&app, &bob, method.clone(), &path, body).await;
            assert!(matches!(s, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN), "{method} {path} as bob: {s} {v}");
            assert!(!v.to_string().contains(&tid) && !v.to_string().contains(&cid), "no acme data: {v}");
        }
        let (s, v) = api(&app, &bob, Method::GET, &format!("/{tenant}/workload-identities"), None).await;
        if tenant == "globex" {
            assert_eq!((s, v["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{v}");
        } else {
            assert_eq!(s, StatusCode::NOT_FOUND);
        }
    }
    // Still there and untouched.
    let (_, v) = api(&app, &ann, Method::GET, &format!("/acme/service-accounts/ci/tokens/{tid}"), None).await;
    assert_eq!(v["status"], "active");

    // No escalation: carol holds USER:CREATE and USER:READ tenant-wide but not ci's FLOW
    // permissions, so she may not mint a credential acting as ci; for an account within her
    // own rights she may.
    let carol = app.user("carol").await;
    let role =
        json!({ "id": "user-admin", "name": "User admin", "permissions": ["USER:CREATE", "USER:READ", "FLOW:READ"] });
    assert_eq!(api(&app, &ann, Method::POST, "/acme/roles", Some(role)).await.0, StatusCode::CREATED);
    let binding = json!({ "role_id": "user-admin", "principal_kind": "user", "principal_id": carol.id });
    assert_eq!(api(&app, &ann, Method::POST, "/acme/bindings", Some(binding)).await.0, StatusCode::CREATED);
    let carol = as_user("carol");
    for (path, body) in [
        ("/acme/service-accounts/ci/tokens", json!({ "name": "mine" })),
        ("/acme/service-accounts/ci/clients", json!({})),
        (
            "/acme/workload-identities",
            json!({ "name": "W2", "issuer": "https://ci.example", "audience": "a", "claims": { "sub": "y" }, "service_account_id": "ci" }),
        ),
    ] {
        let (s, v) = api(&app, &carol, Method::POST, path, Some(body)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
    }
    let (s, _) =
        api(&app, &carol, Method::POST, "/acme/service-accounts", Some(json!({ "id": "reader", "name": "Reader" })))
            .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) =
        api(&app, &carol, Method::POST, "/acme/service-accounts/reader/tokens", Some(json!({ "name": "ok" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

async fn introspection_answers_the_bindings_a_token_only_references(b: Backend) {
    let app = setup(b).await;
    let ann = as_user("ann");
    // Two bindings of 100 long namespaces each: far over the token's size budget.
    for part in 0..2 {
        let namespaces: Vec<String> = (0..100).map(|i| format!("division-{part}.team-{i:03}.pipelines")).collect();
        let binding = json!({ "role_id": "flow-rw", "principal_kind": "service_account", "principal_id": "ci", "namespaces": namespaces });
        let (s, v) = api(&app, &ann, Method::POST, "/acme/bindings", Some(binding)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (_, token) = new_token(&app, &ann, "acme", "ci", json!({})).await;
    let (s, v) = exchange_api_token(&app, &token, &[]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let full = v["access_token"].as_str().unwrap().to_string();
    assert!(full.len() < 4096, "the token stays small: {} bytes", full.len());
    let (_, claims) = jwt_parts(&full);
    assert_eq!(claims["rb"]["ref"], true, "{claims}");
    let at = verifier(&app, KESTRA).await.verify(&full).unwrap();
    assert!(at.needs_introspection());

    // A client of the tenant introspects it and gets every binding.
    app.client("acme-rs", false, |c| c.tenant_id = "acme".into()).await;
    let i = app.introspect("acme-rs", &full).await;
    assert_eq!((i["active"].as_bool(), i["pk"].as_str()), (Some(true), Some("sa")), "{i}");
    assert!(i["rb"].get("ref").is_none(), "{i}");
    let namespaces: Vec<&str> = i["rb"]["n"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|l| l.as_array().unwrap().iter().filter_map(|n| n.as_str()))
        .collect();
    assert!(
        namespaces.contains(&"prod") && namespaces.contains(&"division-1.team-099.pipelines"),
        "{}",
        namespaces.len()
    );
    assert_eq!(namespaces.len(), 201);

    // A narrowed token is small enough to carry its bindings inline.
    let (s, v) = exchange_api_token(&app, &token, &[("scope", "FLOW:READ:division-0.team-007")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, narrow) = jwt_parts(v["access_token"].as_str().unwrap());
    assert_eq!(
        narrow["rb"]["n"].as_object().unwrap().values().next().unwrap(),
        &json!(["division-0.team-007.pipelines"])
    );
    // A public client of the tenant learns nothing of tokens not issued to it.
    app.client("acme-pub", true, |c| c.tenant_id = "acme".into()).await;
    let res = app.post_form("/introspect", &[("token", &full), ("client_id", "acme-pub")], None).await;
    assert_eq!(body_json(res).await, json!({ "active": false }));
    // A client of another tenant learns nothing.
    app.client("globex-rs", false, |c| c.tenant_id = "globex".into()).await;
    assert_eq!(app.introspect("globex-rs", &full).await, json!({ "active": false }));
}
