//! What a token stands for, on both backend pairs: introspection and userinfo follow the state
//! of the token's principal (a disabled user, a deleted service account), an authorization code
//! or refresh token is good only for the client it was issued to, and a down-scoped token's
//! `scope` names exactly what its `rb` claim allows.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use serde_json::{Value, json};
use tessera::oauth::tokens::GrantRecord;
use tessera::store::MemberKind;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const API_TOKEN: &str = "urn:tessera:params:oauth:token-type:api-token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

on_both_backends!(
    introspection_and_userinfo_refuse_a_disabled_users_tokens,
    introspection_refuses_a_deleted_service_accounts_token,
    client_b_cannot_redeem_client_a_code,
    client_b_cannot_redeem_client_a_refresh_token,
    exchanged_scope_names_exactly_what_rb_allows,
);

async fn userinfo(app: &TestApp, access: &str) -> (StatusCode, Option<String>, Value) {
    let req = Request::get("/userinfo").header(header::AUTHORIZATION, format!("Bearer {access}")).body(Body::empty());
    let res = app.send(req.unwrap()).await;
    let challenge = res.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_string());
    (res.status(), challenge, body_json(res).await)
}

/// alice signs in at `web`: her access and refresh tokens.
async fn alice_tokens(app: &TestApp) -> (tessera::store::User, String, String) {
    app.client("web", false, |_| {}).await;
    let alice = app.user("alice").await;
    let (code, verifier) = app.code_for("web", "alice", "openid profile").await;
    let (status, tokens) = app.exchange("web", &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    (alice, access, refresh)
}

async fn introspection_and_userinfo_refuse_a_disabled_users_tokens(b: Backend) {
    let app = TestApp::new(b).await;
    let (alice, access, refresh) = alice_tokens(&app).await;
    assert_eq!(app.introspect("web", &access).await["active"], true);
    assert_eq!(app.introspect("web", &refresh).await["active"], true);
    assert_eq!(userinfo(&app, &access).await.0, StatusCode::OK);

    // Disabled in the store (as the CLI's direct mode does): no revocation is recorded, the
    // tokens are still signed and unexpired, and yet they stand for nobody.
    app.stores.users.set_disabled(&alice.id, true).await.unwrap();
    assert!(app.stores.users.get_user_any(&alice.id).await.unwrap().unwrap().disabled);
    assert_eq!(app.introspect("web", &access).await, json!({ "active": false }));
    assert_eq!(app.introspect("web", &refresh).await, json!({ "active": false }));
    let (status, challenge, body) = userinfo(&app, &access).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")), "{body}");
    assert!(challenge.unwrap().contains("invalid_token"));

    // Enabled again: the tokens were never revoked, so they are active again (the answer
    // follows the user's state, it did not destroy anything).
    app.stores.users.set_disabled(&alice.id, false).await.unwrap();
    assert_eq!(app.introspect("web", &access).await["active"], true);
    assert_eq!(app.introspect("web", &refresh).await["active"], true);

    // A deleted user: inactive as well.
    app.stores.users.delete_user("default", &alice.id).await.unwrap();
    assert!(app.stores.users.get_user_any(&alice.id).await.unwrap().is_none());
    assert_eq!(app.introspect("web", &access).await, json!({ "active": false }));
    assert_eq!(app.introspect("web", &refresh).await, json!({ "active": false }));
    assert_eq!(userinfo(&app, &access).await.0, StatusCode::UNAUTHORIZED);
}

async fn introspection_refuses_a_deleted_service_accounts_token(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
    let auth = basic_header("root", PASSWORD);
    let (s, v) = app
        .admin_api(&auth, Method::POST, "/default/service-accounts", Some(json!({ "id": "etl", "name": "ETL" })))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) =
        app.admin_api(&auth, Method::POST, "/default/service-accounts/etl/tokens", Some(json!({ "name": "t" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let api_token = v["token"].as_str().unwrap().to_string();
    let res = app
        .post_form(
            "/token",
            &[("grant_type", EXCHANGE), ("subject_token", &api_token), ("subject_token_type", API_TOKEN)],
            None,
        )
        .await;
    let v = body_json(res).await;
    let access = v["access_token"].as_str().unwrap_or_else(|| panic!("{v}")).to_string();
    let i = app.introspect("web", &access).await;
    assert_eq!((i["active"].as_bool(), i["pk"].as_str(), i["sub"].as_str()), (Some(true), Some("sa"), Some("etl")));

    let (s, v) = app.admin_api(&auth, Method::DELETE, "/default/service-accounts/etl", None).await;
    assert!(s.is_success(), "{s} {v}");
    assert!(app.stores.service_accounts.get_service_account("default", "etl").await.unwrap().is_none());
    assert_eq!(app.introspect("web", &access).await, json!({ "active": false }));
}

async fn client_b_cannot_redeem_client_a_code(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("a", false, |_| {}).await;
    app.client("b", false, |_| {}).await;
    app.user("alice").await;
    let (code, verifier) = app.code_for("a", "alice", "openid").await;

    // b presents a's code, with the right redirect URI and verifier: invalid_grant, no token.
    let (status, body) = app.exchange("b", &code, &verifier).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert!(body.get("access_token").is_none());

    // The code is spent by that attempt (a code is taken before anything else is checked, so
    // it can never be redeemed twice): a, its rightful client, is refused too, as for any
    // second use, and nothing was issued to anyone.
    let (status, body) = app.exchange("a", &code, &verifier).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("already used"), "{body}");
    assert!(body.get("access_token").is_none());
    // A fresh code still works for a.
    let (code, verifier) = app.code_for("a", "alice", "openid").await;
    let (status, body) = app.exchange("a", &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn grant_record(app: &TestApp, refresh: &str) -> Option<Vec<u8>> {
    let gid = tessera::oauth::tokens::refresh_token_grant(refresh).unwrap();
    app.state.provider.kv.get(&tessera::oauth::tokens::grant_key(gid)).await.unwrap()
}

async fn client_b_cannot_redeem_client_a_refresh_token(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("b", false, |_| {}).await;
    let (_, _, refresh) = alice_tokens(&app).await;
    let before = grant_record(&app, &refresh).await.expect("the grant is stored");

    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let res = app.post_form("/token", &form, Some(("b", "s3cret-b"))).await;
    let status = res.status();
    let body = body_json(res).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert!(body.get("access_token").is_none());
    // Nothing changed: the grant is the same, byte for byte (not rotated, not revoked), b cannot
    // introspect it, and a still refreshes with the very token b presented.
    assert_eq!(grant_record(&app, &refresh).await.as_deref(), Some(&before[..]));
    let gid = tessera::oauth::tokens::refresh_token_grant(&refresh).unwrap();
    assert!(!app.state.provider.kv.is_grant_revoked(gid).await.unwrap());
    assert_eq!(app.introspect("b", &refresh).await, json!({ "active": false }));
    let res = app.post_form("/token", &form, Some(("web", "s3cret-web"))).await;
    let status = res.status();
    let body = body_json(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let record: GrantRecord = serde_json::from_slice(&grant_record(&app, &refresh).await.unwrap()).unwrap();
    assert_eq!(record.client_id, "web");
}

/// The (permission, action, namespace) triples a set of permission scopes names.
fn scope_triples(scope: &str) -> BTreeSet<String> {
    scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The same triples, read from an `rb` claim (docs/CLAIMS.md): every bit of `t` tenant-wide,
/// every bit of each key of `n` in each of its namespaces.
fn rb_triples(rb: &Value) -> BTreeSet<String> {
    // The catalogue order is the format's (docs/CLAIMS.md): one hex digit per permission.
    use tessera::rbac::{Action, Permission};
    assert_eq!(rb["v"], 1, "{rb}");
    assert!(rb.get("ref").is_none(), "{rb}");
    let pairs = |set: &str| -> Vec<String> {
        let mut out = Vec::new();
        for (i, digit) in set.chars().enumerate() {
            let bits = digit.to_digit(16).unwrap();
            for (j, action) in Action::ALL.iter().enumerate() {
                if bits & (1 << j) != 0 {
                    out.push(format!("{}:{action}", Permission::ALL[i]));
                }
            }
        }
        out
    };
    let mut out = BTreeSet::new();
    if let Some(t) = rb.get("t").and_then(Value::as_str) {
        out.extend(pairs(t));
    }
    for (set, namespaces) in rb.get("n").and_then(Value::as_object).into_iter().flatten() {
        for ns in namespaces.as_array().unwrap() {
            out.extend(pairs(set).into_iter().map(|p| format!("{p}:{}", ns.as_str().unwrap())));
        }
    }
    out
}

/// Decodes an issued token and checks its `scope` against its `rb` and the response's `scope`.
fn assert_scope_is_rb(response: &Value) -> BTreeSet<String> {
    let token = response["access_token"].as_str().unwrap_or_else(|| panic!("{response}"));
    let (_, claims) = jwt_parts(token);
    assert_eq!(claims["scope"], response["scope"], "the response says the token's scope");
    let scope = scope_triples(claims["scope"].as_str().unwrap());
    assert_eq!(scope, rb_triples(&claims["rb"]), "scope and rb differ: {claims}");
    scope
}

fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn exchanged_scope_names_exactly_what_rb_allows(b: Backend) {
    let app = TestApp::new(b).await;
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
    let auth = basic_header("root", PASSWORD);
    let call = |method: Method, path: &'static str, body: Value| {
        let auth = auth.clone();
        let app = &app;
        async move {
            let (s, v) = app.admin_api(&auth, method, path, Some(body)).await;
            assert!(s.is_success(), "{path}: {s} {v}");
            v
        }
    };
    call(Method::POST, "/default/service-accounts", json!({ "id": "etl", "name": "ETL" })).await;
    let role = json!({ "id": "flows", "name": "Flows", "permissions": ["FLOW:READ", "FLOW:UPDATE"] });
    call(Method::POST, "/default/roles", role).await;
    let binding = json!({ "role_id": "flows", "principal_kind": "service_account", "principal_id": "etl",
                          "namespaces": ["prod.etl", "dev"] });
    call(Method::POST, "/default/bindings", binding).await;
    let runner = json!({ "id": "runner", "name": "Runner", "permissions": ["EXECUTION:CREATE"] });
    call(Method::POST, "/default/roles", runner).await;
    let binding = json!({ "role_id": "runner", "principal_kind": "service_account", "principal_id": "etl",
                          "namespaces": ["prod"] });
    call(Method::POST, "/default/bindings", binding).await;
    let api_token =
        call(Method::POST, "/default/service-accounts/etl/tokens", json!({ "name": "t" })).await["token"].clone();
    let api_token = api_token.as_str().unwrap();
    let exchange = |pairs: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let mut all = vec![("grant_type", EXCHANGE.to_string())];
            all.extend(pairs);
            let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = app.post_form("/token", &refs, None).await;
            let status = res.status();
            let body = body_json(res).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let subject = |t: &str| vec![("subject_token", t.to_string()), ("subject_token_type", API_TOKEN.to_string())];

    // Asked anywhere, held in two namespaces; asked on a parent, held below it; asked where
    // held: each is issued as what it matched.
    let mut pairs = subject(api_token);
    pairs.push(("scope", "FLOW:READ FLOW:UPDATE:prod EXECUTION:CREATE:prod.nightly".into()));
    let narrowed = exchange(pairs).await;
    assert_eq!(
        assert_scope_is_rb(&narrowed),
        set(&["FLOW:READ:dev", "FLOW:READ:prod.etl", "FLOW:UPDATE:prod.etl", "EXECUTION:CREATE:prod.nightly"])
    );
    assert_eq!(
        narrowed["scope"],
        "FLOW:READ:dev FLOW:READ:prod.etl FLOW:UPDATE:prod.etl EXECUTION:CREATE:prod.nightly"
    );

    // The narrowed token exchanged again (no scope asked): it stays exactly as narrowed.
    let mut pairs = vec![
        ("subject_token", narrowed["access_token"].as_str().unwrap().to_string()),
        ("subject_token_type", ACCESS_TOKEN.to_string()),
    ];
    let again = exchange(pairs.clone()).await;
    assert_eq!(assert_scope_is_rb(&again), assert_scope_is_rb(&narrowed));
    // …and narrowed further, to a scope wider than what is left: only what is left.
    pairs.push(("scope", "EXECUTION:CREATE".into()));
    let further = exchange(pairs).await;
    assert_eq!(assert_scope_is_rb(&further), set(&["EXECUTION:CREATE:prod.nightly"]));

    // A service account's client_credentials: the same rule.
    let (s, v) = app.admin_api(&auth, Method::POST, "/default/service-accounts/etl/clients", Some(json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (id, secret) = (v["client_id"].as_str().unwrap(), v["client_secret"].as_str().unwrap());
    let res = app
        .post_form("/token", &[("grant_type", "client_credentials"), ("scope", "FLOW:UPDATE")], Some((id, secret)))
        .await;
    let body = body_json(res).await;
    assert_eq!(assert_scope_is_rb(&body), set(&["FLOW:UPDATE:dev", "FLOW:UPDATE:prod.etl"]));
    assert_eq!(body["scope"], "FLOW:UPDATE:dev FLOW:UPDATE:prod.etl");
}
