//! Canonical identities (src/identity.rs), on both backend pairs: a username is unique in its
//! RFC 8265 canonical form and an email case-insensitively, at every door (the stores, the
//! admin API, SCIM, sign-in and its throttle), and an upgrade over colliding rows stops with a
//! message naming them, changing nothing.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::store::{TestDb, pg_db, sqlite_db};
use common::*;
use serde_json::{Value, json};
use tessera::store::{DEFAULT_TENANT, MemberKind, StoreError, Stores, User, connect};

on_both_backends!(
    stores_compare_usernames_and_emails_in_canonical_form,
    admin_api_refuses_variants_of_a_taken_username_or_email,
    scim_filters_and_writes_use_the_canonical_form,
    throttle_bypass_by_case_is_closed,
    an_upgrade_over_colliding_rows_stops_and_names_them,
);

const ALICE_VARIANTS: [&str; 5] =
    ["ALICE", "Alice", " alice ", "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}", "ＡＬＩＣＥ"];

fn user(id: &str, username: &str, email: Option<&str>) -> User {
    User {
        tenant_id: DEFAULT_TENANT.into(),
        id: id.into(),
        username: username.into(),
        email: email.map(Into::into),
        email_verified: false,
        name: None,
        password_hash: None,
        disabled: false,
        password_change_required: false,
        created_at: 1,
    }
}

async fn usernames(stores: &Stores) -> Vec<String> {
    stores.users.list_users(DEFAULT_TENANT).await.unwrap().into_iter().map(|u| u.username).collect()
}

async fn stores_compare_usernames_and_emails_in_canonical_form(b: Backend) {
    let app = TestApp::new(b).await;
    let stores = &app.stores;
    stores.users.create_user(&user("u-1", "alice", Some("Alice@Example.com"))).await.unwrap();
    stores.users.create_user(&user("u-2", "alic\u{e9}", None)).await.unwrap();
    for (i, variant) in ALICE_VARIANTS.iter().enumerate() {
        let taken = stores.users.create_user(&user(&format!("v-{i}"), variant.trim(), None)).await;
        assert!(matches!(taken, Err(StoreError::Conflict(_))), "{variant:?}: {taken:?}");
        let found = stores.users.find_user_by_username_any(variant).await.unwrap().expect(variant);
        assert_eq!((found.id.as_str(), found.username.as_str()), ("u-1", "alice"), "kept as typed");
        let found = stores.users.find_user_by_username(DEFAULT_TENANT, variant).await.unwrap().expect(variant);
        assert_eq!(found.id, "u-1");
    }
    // e + COMBINING ACUTE ACCENT is the precomposed é.
    let taken = stores.users.create_user(&user("v-c", "alice\u{301}", None)).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    assert_eq!(stores.users.find_user_by_username_any("ALICE\u{301}").await.unwrap().unwrap().id, "u-2");
    // A name the rule refuses is nobody's.
    assert_eq!(stores.users.find_user_by_username_any("ali\u{200b}ce").await.unwrap(), None);
    // Emails: unique and found ignoring case.
    let taken = stores.users.create_user(&user("v-e", "carol", Some("alice@EXAMPLE.COM"))).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    assert_eq!(stores.users.find_user_by_email_any(" ALICE@example.com").await.unwrap().unwrap().id, "u-1");
    // A SCIM rename onto another user's name, in any spelling, conflicts and changes nothing;
    // renaming a user to another spelling of its own name is allowed.
    let renamed = stores.scim.update_user_identity("u-2", "ALICE", None, None).await;
    assert!(matches!(renamed, Err(StoreError::Conflict(_))), "{renamed:?}");
    stores.scim.update_user_identity("u-1", "Alice", Some("ALICE@example.com"), None).await.unwrap();
    assert_eq!(stores.users.find_user_by_username_any("alice").await.unwrap().unwrap().username, "Alice");
    let mut names = usernames(stores).await;
    names.sort();
    assert_eq!(names, ["Alice", "alic\u{e9}"], "nothing else was created or renamed");
}

async fn api(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/api/v1{path}"))
        .header(header::AUTHORIZATION, basic_header("root", PASSWORD));
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let res = app.send(req.body(Body::from(body.map(|b| b.to_string()).unwrap_or_default())).unwrap()).await;
    let status = res.status();
    let text = body_text(res).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An app with an Instance Admin `root` and a user `alice` (alice@example.com).
async fn app_with_root(b: Backend) -> TestApp {
    let app = TestApp::new(b).await;
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
    app.user("alice").await;
    app
}

async fn admin_api_refuses_variants_of_a_taken_username_or_email(b: Backend) {
    let app = app_with_root(b).await;
    let before = usernames(&app.stores).await;
    for variant in ALICE_VARIANTS {
        let (s, v) = api(&app, Method::POST, "/default/users", Some(json!({ "username": variant }))).await;
        assert_eq!(s, StatusCode::CONFLICT, "{variant:?}: {v}");
    }
    let (s, v) =
        api(&app, Method::POST, "/default/users", Some(json!({ "username": "carol", "email": "ALICE@example.com" })))
            .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    for (bad, field) in [
        (json!({ "username": "ali\u{200b}ce" }), "username"),
        (json!({ "username": "\u{fb01}le" }), "username"),
        (json!({ "username": "bob smith" }), "username"),
        (json!({ "username": "carol", "email": "carol\u{200b}@example.com" }), "email"),
    ] {
        let (s, v) = api(&app, Method::POST, "/default/users", Some(bad.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        assert_eq!(v["errors"][0]["field"], field, "{v}");
    }
    if let (StatusCode::UNPROCESSABLE_ENTITY, v) =
        api(&app, Method::POST, "/default/users", Some(json!({ "username": "ali\u{200b}ce" }))).await
    {
        assert!(v["detail"].as_str().unwrap().contains("U+200B"), "the invisible character is named: {v}");
    }
    assert_eq!(usernames(&app.stores).await, before, "nothing was created");
    // The invitation lookup finds the user by any case of the address.
    let (s, v) = api(&app, Method::GET, "/default/users/lookup?email=ALICE%40Example.COM", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["username"], "alice");
    // A new name is created as typed.
    let (s, v) = api(&app, Method::POST, "/default/users", Some(json!({ "username": "Carol" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["username"], "Carol");
}

async fn scim_call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/scim/v2{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/scim+json");
    }
    let res = app.send(req.body(Body::from(body.map(|b| b.to_string()).unwrap_or_default())).unwrap()).await;
    let status = res.status();
    let text = body_text(res).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn enc(filter: &str) -> String {
    url::form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

fn scim_user(name: &str, email: Option<&str>) -> Value {
    let mut v = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name });
    if let Some(e) = email {
        v["emails"] = json!([{ "value": e, "primary": true }]);
    }
    v
}

async fn scim_filters_and_writes_use_the_canonical_form(b: Backend) {
    let app = app_with_root(b).await;
    let (s, v) =
        api(&app, Method::POST, "/default/service-accounts", Some(json!({ "id": "okta", "name": "okta" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let binding = json!({ "role_id": "admin", "principal_kind": "service_account", "principal_id": "okta" });
    assert_eq!(api(&app, Method::POST, "/default/bindings", Some(binding)).await.0, StatusCode::CREATED);
    let (_, v) =
        api(&app, Method::POST, "/default/service-accounts/okta/tokens", Some(json!({ "name": "scim" }))).await;
    let token = v["token"].as_str().expect("a token").to_string();
    let alice = app.stores.users.find_user_by_username_any("alice").await.unwrap().unwrap();

    for filter in ["userName eq \"ALICE\"", "userName eq \"ａｌｉｃｅ\"", "emails eq \"Alice@EXAMPLE.com\""] {
        let (s, v) =
            scim_call(&app, &token, Method::GET, &format!("/default/Users?filter={}", enc(filter)), None).await;
        assert_eq!(s, StatusCode::OK, "{filter}: {v}");
        assert_eq!(v["totalResults"], 1, "{filter}: exactly alice: {v}");
        assert_eq!(v["Resources"][0]["id"], alice.id.as_str(), "{filter}");
    }
    let (_, v) = scim_call(
        &app,
        &token,
        Method::GET,
        &format!("/default/Users?filter={}", enc("userName eq \"ali\u{200b}ce\"")),
        None,
    )
    .await;
    assert_eq!(v["totalResults"], 0, "a refused name matches nobody: {v}");

    let before = usernames(&app.stores).await;
    for variant in ["ALICE", "ａｌｉｃｅ"] {
        let (s, v) = scim_call(&app, &token, Method::POST, "/default/Users", Some(scim_user(variant, None))).await;
        assert_eq!(s, StatusCode::CONFLICT, "{variant}: {v}");
        assert_eq!(v["scimType"], "uniqueness", "{v}");
    }
    let (s, v) =
        scim_call(&app, &token, Method::POST, "/default/Users", Some(scim_user("carol", Some("ALICE@example.com"))))
            .await;
    assert_eq!((s, v["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")), "{v}");
    let (s, v) = scim_call(&app, &token, Method::POST, "/default/Users", Some(scim_user("ali\u{200b}ce", None))).await;
    assert_eq!((s, v["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")), "{v}");
    assert!(v["detail"].as_str().unwrap().starts_with("userName: "), "{v}");
    assert_eq!(usernames(&app.stores).await, before, "nothing was created");

    // Renaming another user onto alice's name, by PUT or PATCH, conflicts and changes nothing.
    let (s, v) = scim_call(&app, &token, Method::POST, "/default/Users", Some(scim_user("bob", None))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let bob = v["id"].as_str().unwrap().to_string();
    let (s, v) =
        scim_call(&app, &token, Method::PUT, &format!("/default/Users/{bob}"), Some(scim_user("Alice", None))).await;
    assert_eq!((s, v["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")), "{v}");
    let ops = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "path": "userName", "value": "ＡＬＩＣＥ" }] });
    let (s, v) = scim_call(&app, &token, Method::PATCH, &format!("/default/Users/{bob}"), Some(ops)).await;
    assert_eq!((s, v["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")), "{v}");
    assert_eq!(app.stores.users.get_user_any(&bob).await.unwrap().unwrap().username, "bob");
}

/// Finding 5: usernames were unique case-sensitively while the throttle counted the
/// lower-cased name, so an attacker holding `Limited1` cleared the counter of `limited1` by
/// signing in as themself between guesses. Now `Limited1` is `limited1`: it cannot be a
/// second account, and no spelling escapes or clears the lock.
async fn throttle_bypass_by_case_is_closed(b: Backend) {
    let app = TestApp::with_config(b, |c| {
        c.passwords.throttle_account_free_failures = 3;
        c.passwords.throttle_address_free_failures = 100;
        c.passwords.throttle_base_delay_secs = 60;
    })
    .await;
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
    let victim = app.user("limited1").await;
    // The attacker's own account under another case of the name cannot exist.
    let (s, v) = api(&app, Method::POST, "/default/users", Some(json!({ "username": "Limited1" }))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let mut attacker = user("attacker", "Limited1", None);
    attacker.password_hash = Some(tessera::password::hash_password(PASSWORD));
    assert!(matches!(app.stores.users.create_user(&attacker).await, Err(StoreError::Conflict(_))));
    assert_eq!(app.stores.users.get_user_any("attacker").await.unwrap(), None);

    let sign_in = |name: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let req = Request::get("/api/v1/default/users")
                .header(header::AUTHORIZATION, basic_header(name, password))
                .body(Body::empty())
                .unwrap();
            app.send(req).await.status()
        }
    };
    for name in ["limited1", "LIMITED1", "ｌｉｍｉｔｅｄ1", "Limited1"] {
        assert_eq!(sign_in(name, "wrong guess").await, StatusCode::UNAUTHORIZED);
    }
    // Four failures over four spellings lock the one account: the right password, in any
    // spelling, is refused now, and so nothing clears the counter.
    for name in ["Limited1", "limited1"] {
        assert_eq!(sign_in(name, PASSWORD).await, StatusCode::UNAUTHORIZED, "{name}: locked");
    }
    // Another account is not affected.
    let (s, _) = api(&app, Method::GET, "/default/users", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!app.stores.users.get_user_any(&victim.id).await.unwrap().unwrap().disabled);
}

async fn an_upgrade_over_colliding_rows_stops_and_names_them(b: Backend) {
    let db: TestDb = match b {
        Backend::SqliteMemory => sqlite_db().await,
        Backend::PostgresRedis => pg_db().await,
    };
    db.users.create_user(&user("u-1", "alice", Some("alice@example.com"))).await.unwrap();
    db.users.create_user(&user("u-2", "bob", Some("bob@example.com"))).await.unwrap();
    // Rows as an older version left them: no canonical forms, and names that differ only by
    // case (the database's own unique index on the typed name lets them be).
    db.execute_raw(
        "UPDATE users SET username_canonical = NULL, email_canonical = NULL; \
         UPDATE users SET username = 'ALICE', email = 'Alice@Example.com' WHERE id = 'u-2'",
    )
    .await;
    let Err(StoreError::Backend(message)) = connect(&db.opts).await else { panic!("the upgrade must stop") };
    assert!(message.contains("\"alice\" (user u-1), \"ALICE\" (user u-2) are all \"alice\""), "{message}");
    assert!(message.contains("\"alice@example.com\" (user u-1), \"Alice@Example.com\" (user u-2)"), "{message}");
    assert!(message.contains("Nothing was changed"), "{message}");
    assert_eq!(db.execute_raw("UPDATE users SET name = name WHERE username_canonical IS NULL").await, 2, "none filled");

    db.execute_raw("UPDATE users SET username = 'bob', email = 'bob@example.com' WHERE id = 'u-2'").await;
    let stores = connect(&db.opts).await.expect("the upgrade goes through once the rows are renamed");
    assert_eq!(stores.users.find_user_by_username_any("BOB").await.unwrap().unwrap().id, "u-2");
    assert_eq!(stores.users.find_user_by_email_any("ALICE@example.com").await.unwrap().unwrap().id, "u-1");
    assert_eq!(db.execute_raw("UPDATE users SET name = name WHERE username_canonical IS NULL").await, 0);
}
