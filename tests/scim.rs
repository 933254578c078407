//! SCIM 2.0 (RFC 7643, 7644) at `/scim/v2/{tenant}`, on both backend pairs: every operation
//! and filter on Users and Groups, pagination, deprovisioned users who can no longer sign in,
//! the RFC's errors for malformed requests, tenant isolation and the access model.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use serde_json::{Value, json};
use tessera::store::MemberKind;

on_both_backends!(
    users_every_operation_and_filter,
    users_are_paginated,
    deprovisioned_users_cannot_sign_in,
    groups_every_operation_and_filter,
    malformed_requests_get_scim_errors,
    tenants_are_isolated_and_permissions_enforced,
    discovery_documents,
);

const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn admin(app: &TestApp, method: Method, path: &str, body: Value) -> Value {
    let req = Request::builder()
        .method(method)
        .uri(format!("/api/v1{path}"))
        .header(header::AUTHORIZATION, basic_header("root", PASSWORD))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = app.send(req).await;
    let status = res.status();
    let v = body_json(res).await;
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// A service account `id` in `tenant` bound to `role` (if any), and its API token.
async fn account(app: &TestApp, tenant: &str, id: &str, role: Option<&str>) -> String {
    admin(app, Method::POST, &format!("/{tenant}/service-accounts"), json!({ "id": id, "name": id })).await;
    if let Some(role) = role {
        let b = json!({ "role_id": role, "principal_kind": "service_account", "principal_id": id });
        admin(app, Method::POST, &format!("/{tenant}/bindings"), b).await;
    }
    let v =
        admin(app, Method::POST, &format!("/{tenant}/service-accounts/{id}/tokens"), json!({ "name": "scim" })).await;
    v["token"].as_str().unwrap().to_string()
}

/// Tenants acme and globex; in acme the service account `okta` (Tenant Admin) and `weak` (no
/// bindings); in globex `entra` (Tenant Admin). Returns the tokens of okta, weak, entra.
async fn setup(b: Backend) -> (TestApp, String, String, String) {
    let app = TestApp::new(b).await;
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
    for t in ["acme", "globex"] {
        admin(&app, Method::POST, "/tenants", json!({ "id": t, "name": t })).await;
    }
    let okta = account(&app, "acme", "okta", Some("admin")).await;
    let weak = account(&app, "acme", "weak", None).await;
    let entra = account(&app, "globex", "entra", Some("admin")).await;
    (app, okta, weak, entra)
}

async fn scim_raw(app: &TestApp, token: &str, method: Method, path: &str, ct: &str, body: &str) -> (StatusCode, Value) {
    let mut b = Request::builder().method(method).uri(format!("/scim/v2{path}"));
    if !token.is_empty() {
        b = b.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if !body.is_empty() {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    let res = app.send(b.body(Body::from(body.to_string())).unwrap()).await;
    let status = res.status();
    if status != StatusCode::NO_CONTENT {
        let ct = res.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(ct.as_deref(), Some("application/scim+json"), "{path}");
    }
    let text = body_text(res).await;
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

async fn scim(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    scim_raw(app, token, method, path, "application/scim+json", &body).await
}

fn assert_error(v: &Value, status: StatusCode, scim_type: Option<&str>) {
    assert_eq!(v["schemas"], json!([ERROR]), "{v}");
    assert_eq!(v["status"], json!(status.as_str()), "{v}");
    assert_eq!(v["scimType"].as_str(), scim_type, "{v}");
}

fn patch(ops: Value) -> Option<Value> {
    Some(json!({ "schemas": [PATCH], "Operations": ops }))
}

fn new_user(name: &str, external: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "externalId": external,
        "name": { "givenName": "Barbara", "familyName": "Jensen" },
        "emails": [{ "value": format!("{name}@acme.test"), "type": "work", "primary": true }],
        "active": true,
        "password": PASSWORD,
    })
}

async fn create_user(app: &TestApp, token: &str, name: &str, external: &str) -> String {
    let (s, v) = scim(app, token, Method::POST, "/acme/Users", Some(new_user(name, external))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn list(app: &TestApp, token: &str, path: &str) -> Value {
    let (s, v) = scim(app, token, Method::GET, path, None).await;
    assert_eq!(s, StatusCode::OK, "{path}: {v}");
    assert_eq!(v["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));
    v
}

fn enc(filter: &str) -> String {
    url::form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

async fn users_every_operation_and_filter(b: Backend) {
    let (app, okta, _, _) = setup(b).await;
    let (s, v) = scim(&app, &okta, Method::POST, "/acme/Users", Some(new_user("bjensen", "ext-1"))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["userName"], "bjensen");
    assert_eq!(v["externalId"], "ext-1");
    assert_eq!(v["name"]["givenName"], "Barbara");
    assert_eq!(v["name"]["formatted"], "Barbara Jensen");
    assert_eq!(v["emails"], json!([{ "value": "bjensen@acme.test", "type": "work", "primary": true }]));
    assert_eq!(v["active"], true);
    assert_eq!(v["meta"]["resourceType"], "User");
    assert_eq!(v["meta"]["location"], format!("{ISSUER}/scim/v2/acme/Users/{id}"));
    assert!(v.get("password").is_none() && !v.to_string().contains("argon2"), "{v}");
    // The same user as the admin API's.
    let u = app.stores.users.get_user_any(&id).await.unwrap().unwrap();
    assert_eq!((u.tenant_id.as_str(), u.email_verified), ("acme", false));
    assert!(app.stores.access.has_access("acme", MemberKind::User, &id).await.unwrap());

    let (s, got) = scim(&app, &okta, Method::GET, &format!("/acme/Users/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["userName"], "bjensen");
    create_user(&app, &okta, "other", "ext-2").await;

    for f in [
        r#"userName eq "bjensen""#,
        r#"userName eq "BJensen""#,
        r#"externalId eq "ext-1""#,
        r#"emails.value eq "bjensen@acme.test""#,
        r#"emails eq "bjensen@acme.test""#,
    ] {
        let v = list(&app, &okta, &format!("/acme/Users?filter={}", enc(f))).await;
        assert_eq!(v["totalResults"], 1, "{f}: {v}");
        assert_eq!(v["Resources"][0]["id"], id.as_str(), "{f}");
    }
    let v = list(&app, &okta, &format!("/acme/Users?filter={}", enc(r#"externalId eq "nobody""#))).await;
    assert_eq!((v["totalResults"].clone(), v["Resources"].clone()), (json!(0), json!([])));

    // PUT replaces.
    let mut body = new_user("barbara", "ext-1b");
    body["name"] = json!({ "formatted": "Babs J" });
    body["emails"] = json!([{ "value": "babs@acme.test", "type": "home" }]);
    body.as_object_mut().unwrap().remove("password");
    let (s, v) = scim(&app, &okta, Method::PUT, &format!("/acme/Users/{id}"), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["userName"].clone(), v["externalId"].clone()), (json!("barbara"), json!("ext-1b")));
    assert_eq!(v["name"], json!({ "formatted": "Babs J" }));
    assert_eq!(v["emails"][0]["type"], "home");
    assert_eq!(app.stores.users.get_user_any(&id).await.unwrap().unwrap().username, "barbara");

    // PATCH: a sub-attribute, a filtered multi-valued path, a value without a path.
    let ops = json!([
        { "op": "add", "path": "name.givenName", "value": "Barb" },
        { "op": "Replace", "path": "emails[type eq \"home\"].value", "value": "barb@acme.test" },
        { "op": "replace", "value": { "displayName": "Barb Jensen", "externalId": "ext-1c" } },
        { "op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName" },
        { "op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "7" },
    ]);
    let (s, v) = scim(&app, &okta, Method::PATCH, &format!("/acme/Users/{id}"), patch(ops)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"]["givenName"], "Barb");
    assert_eq!(v["emails"][0]["value"], "barb@acme.test");
    assert_eq!(v["externalId"], "ext-1c");
    let u = app.stores.users.get_user_any(&id).await.unwrap().unwrap();
    assert_eq!(u.email.as_deref(), Some("barb@acme.test"));

    // DELETE removes the identity.
    let (s, _) = scim(&app, &okta, Method::DELETE, &format!("/acme/Users/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(app.stores.users.get_user_any(&id).await.unwrap().is_none());
    let (s, v) = scim(&app, &okta, Method::GET, &format!("/acme/Users/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&v, StatusCode::NOT_FOUND, None);
    // Its externalId is free again.
    create_user(&app, &okta, "bjensen2", "ext-1c").await;

    // Every change is in the audit log, by the service account.
    let audit = app.stores.audit.list_audit("acme", &Default::default(), None, 200).await.unwrap();
    let scim_entries: Vec<_> = audit.iter().filter(|e| e.summary["via"] == "scim").collect();
    assert!(scim_entries.iter().any(|e| e.action == "user.create" && e.actor == "service_account:okta"));
    assert!(scim_entries.iter().any(|e| e.action == "user.update"));
    assert!(scim_entries.iter().any(|e| e.action == "user.delete"));
}

async fn users_are_paginated(b: Backend) {
    let (app, okta, _, _) = setup(b).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create_user(&app, &okta, &format!("u{i}"), &format!("x{i}")).await);
    }
    ids.sort();
    let v = list(&app, &okta, "/acme/Users").await;
    let total = v["totalResults"].as_u64().unwrap();
    assert!(total >= 5);
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let v = list(&app, &okta, &format!("/acme/Users?startIndex={start}&count=2")).await;
        assert_eq!(v["totalResults"], total);
        assert_eq!(v["startIndex"], start);
        let page = v["Resources"].as_array().unwrap();
        assert_eq!(v["itemsPerPage"], page.len());
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|r| r["id"].as_str().unwrap().to_string()));
        start += 2;
    }
    assert_eq!(seen.len() as u64, total);
    assert!(ids.iter().all(|id| seen.contains(id)));
    let v = list(&app, &okta, "/acme/Users?count=0").await;
    assert_eq!((v["totalResults"].as_u64(), v["Resources"].clone()), (Some(total), json!([])));
    let v = list(&app, &okta, "/acme/Users?startIndex=0&count=1").await;
    assert_eq!(v["startIndex"], 1);
    let v = list(&app, &okta, "/acme/Users?attributes=userName").await;
    let first = v["Resources"][0].as_object().unwrap();
    assert!(first.contains_key("userName") && first.contains_key("id") && !first.contains_key("emails"));
}

/// Tries to sign in to the acme client `app` as `username`; true if it worked.
async fn can_sign_in(app: &TestApp, username: &str) -> bool {
    let (_, challenge) = pkce();
    let q = form(&[
        ("client_id", "app"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let res = app.get(&format!("/authorize?{q}")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let loc = location(&res);
    let browser = browser_cookie(&res);
    let page = body_text(app.get(&format!("/{loc}")).await).await;
    let (request, csrf) = (hidden(&page, "request"), hidden(&page, "csrf"));
    let res = app
        .post_form_cookie(
            "/login",
            &[("request", &request), ("csrf", &csrf), ("username", username), ("password", PASSWORD)],
            None,
            browser.as_deref(),
        )
        .await;
    res.status() == StatusCode::SEE_OTHER && location(&res).starts_with(REDIRECT)
}

async fn deprovisioned_users_cannot_sign_in(b: Backend) {
    let (app, okta, _, _) = setup(b).await;
    app.client("app", false, |c| c.tenant_id = "acme".into()).await;
    let id = create_user(&app, &okta, "carol", "c-1").await;
    assert!(can_sign_in(&app, "carol").await);
    let path = format!("/acme/Users/{id}");

    // Okta's and Entra's deprovisioning: replace active with no path.
    let (s, v) =
        scim(&app, &okta, Method::PATCH, &path, patch(json!([{ "op": "replace", "value": { "active": false } }])))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["active"], false);
    assert!(app.stores.users.get_user_any(&id).await.unwrap().unwrap().disabled);
    assert!(!can_sign_in(&app, "carol").await);
    let (s, v) =
        scim(&app, &okta, Method::PATCH, &path, patch(json!([{ "op": "replace", "path": "active", "value": true }])))
            .await;
    assert_eq!((s, v["active"].clone()), (StatusCode::OK, json!(true)));
    assert!(can_sign_in(&app, "carol").await);
    // Entra sends booleans as strings.
    let (s, v) = scim(
        &app,
        &okta,
        Method::PATCH,
        &path,
        patch(json!([{ "op": "Replace", "path": "active", "value": "False" }])),
    )
    .await;
    assert_eq!((s, v["active"].clone()), (StatusCode::OK, json!(false)));
    assert!(!can_sign_in(&app, "carol").await);

    // DELETE: gone, so no sign-in either.
    create_user(&app, &okta, "dave", "d-1").await;
    assert!(can_sign_in(&app, "dave").await);
    let v = list(&app, &okta, &format!("/acme/Users?filter={}", enc(r#"userName eq "dave""#))).await;
    let dave = v["Resources"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = scim(&app, &okta, Method::DELETE, &format!("/acme/Users/{dave}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(!can_sign_in(&app, "dave").await);
}

async fn groups_every_operation_and_filter(b: Backend) {
    let (app, okta, _, _) = setup(b).await;
    let u1 = create_user(&app, &okta, "g1", "g-1").await;
    let u2 = create_user(&app, &okta, "g2", "g-2").await;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Engineering",
        "externalId": "eng",
        "members": [{ "value": u1 }],
    });
    let (s, v) = scim(&app, &okta, Method::POST, "/acme/Groups", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let gid = v["id"].as_str().unwrap().to_string();
    assert_eq!(
        v["members"],
        json!([{ "value": u1, "type": "User", "$ref": format!("{ISSUER}/scim/v2/acme/Users/{u1}") }])
    );
    // The same group as the admin API's, bound to a role so epochs and bindings follow.
    assert_eq!(app.stores.groups.get_group("acme", &gid).await.unwrap().unwrap().name, "Engineering");
    let role = json!({ "id": "viewer", "name": "Viewer", "permissions": ["FLOW:READ"] });
    admin(&app, Method::POST, "/acme/roles", role).await;
    admin(
        &app,
        Method::POST,
        "/acme/bindings",
        json!({ "role_id": "viewer", "principal_kind": "group", "principal_id": gid }),
    )
    .await;

    let (s, v) = scim(&app, &okta, Method::GET, &format!("/acme/Groups/{gid}"), None).await;
    assert_eq!(
        (s, v["displayName"].clone(), v["externalId"].clone()),
        (StatusCode::OK, json!("Engineering"), json!("eng"))
    );
    for f in [r#"displayName eq "Engineering""#, r#"displayName eq "engineering""#, r#"externalId eq "eng""#] {
        let v = list(&app, &okta, &format!("/acme/Groups?filter={}", enc(f))).await;
        assert_eq!(v["totalResults"], 1, "{f}");
        assert_eq!(v["Resources"][0]["id"], gid.as_str());
    }
    let v =
        list(&app, &okta, &format!("/acme/Groups?filter={}&excludedAttributes=members", enc(r#"externalId eq "eng""#)))
            .await;
    assert!(v["Resources"][0].get("members").is_none());

    // PATCH: add a member (its epoch changes), remove one by filter, rename.
    let epoch = app.stores.epochs.epoch_of("acme", MemberKind::User, &u2).await.unwrap();
    let ops = json!([{ "op": "add", "path": "members", "value": [{ "value": u2 }] }]);
    let (s, v) = scim(&app, &okta, Method::PATCH, &format!("/acme/Groups/{gid}"), patch(ops)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["members"].as_array().unwrap().len(), 2);
    assert!(app.stores.epochs.epoch_of("acme", MemberKind::User, &u2).await.unwrap() > epoch);
    let bindings = app.stores.bindings.effective_bindings("acme", MemberKind::User, &u2).await.unwrap();
    assert!(bindings.iter().any(|(b, _)| b.role_id == "viewer"));
    let ops = json!([
        { "op": "remove", "path": format!("members[value eq \"{u1}\"]") },
        { "op": "replace", "path": "displayName", "value": "Eng" },
    ]);
    let (s, v) = scim(&app, &okta, Method::PATCH, &format!("/acme/Groups/{gid}"), patch(ops)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["displayName"], "Eng");
    assert_eq!(
        v["members"],
        json!([{ "value": u2, "type": "User", "$ref": format!("{ISSUER}/scim/v2/acme/Users/{u2}") }])
    );
    let bindings = app.stores.bindings.effective_bindings("acme", MemberKind::User, &u1).await.unwrap();
    assert!(bindings.is_empty());
    // Entra's removal form.
    let ops = json!([{ "op": "Remove", "path": "members", "value": [{ "value": u2 }] }]);
    let (s, v) = scim(&app, &okta, Method::PATCH, &format!("/acme/Groups/{gid}"), patch(ops)).await;
    assert_eq!((s, v["members"].clone()), (StatusCode::OK, json!([])));

    // PUT replaces name, externalId and members.
    let body =
        json!({ "displayName": "Platform", "externalId": "plat", "members": [{ "value": u1 }, { "value": u2 }] });
    let (s, v) = scim(&app, &okta, Method::PUT, &format!("/acme/Groups/{gid}"), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["displayName"].clone(), v["externalId"].clone()), (json!("Platform"), json!("plat")));
    assert_eq!(v["members"].as_array().unwrap().len(), 2);
    let (_, user) = scim(&app, &okta, Method::GET, &format!("/acme/Users/{u1}"), None).await;
    assert_eq!(user["groups"][0]["value"], gid.as_str());

    let (s, _) = scim(&app, &okta, Method::DELETE, &format!("/acme/Groups/{gid}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = scim(&app, &okta, Method::GET, &format!("/acme/Groups/{gid}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(app.stores.users.get_user_any(&u1).await.unwrap().is_some(), "members stay");
}

/// A request and the error it gets: method, path, content type, body, status, scimType.
type Case<'a> = (Method, String, &'a str, &'a str, StatusCode, Option<&'a str>);

async fn malformed_requests_get_scim_errors(b: Backend) {
    let (app, okta, _, _) = setup(b).await;
    let id = create_user(&app, &okta, "erin", "e-1").await;
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/acme/Users".into(),
            "application/scim+json",
            "{not json",
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
        ),
        (
            Method::POST,
            "/acme/Users".into(),
            "application/scim+json",
            "[1]",
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
        ),
        (Method::POST, "/acme/Users".into(), "text/plain", "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
        (Method::POST, "/acme/Users".into(), "application/json", "{}", StatusCode::BAD_REQUEST, Some("invalidValue")),
        (
            Method::POST,
            "/acme/Users".into(),
            "application/json",
            r#"{"userName": 5}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            Method::POST,
            "/acme/Users".into(),
            "application/json",
            r#"{"userName": "a b"}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            Method::POST,
            "/acme/Users".into(),
            "application/json",
            r#"{"userName": "x", "emails": "no"}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            Method::POST,
            "/acme/Users".into(),
            "application/json",
            r#"{"userName": "x", "password": "short"}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            Method::POST,
            "/acme/Users".into(),
            "application/json",
            r#"{"userName": "x\u0000"}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            Method::POST,
            "/acme/Users".into(),
            "application/json",
            r#"{"schemas": ["urn:x"], "userName": "x"}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
        ),
        (
            Method::POST,
            "/acme/Users".into(),
            "application/json",
            r#"{"userName": "erin"}"#,
            StatusCode::CONFLICT,
            Some("uniqueness"),
        ),
        (
            Method::POST,
            "/acme/Users".into(),
            "application/json",
            r#"{"userName": "new", "externalId": "e-1"}"#,
            StatusCode::CONFLICT,
            Some("uniqueness"),
        ),
        (
            Method::POST,
            "/acme/Groups".into(),
            "application/json",
            r#"{"members": []}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            Method::POST,
            "/acme/Groups".into(),
            "application/json",
            r#"{"displayName": "G", "members": [{"value": "nobody"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            Method::PATCH,
            format!("/acme/Users/{id}"),
            "application/json",
            r#"{"Operations": []}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
        ),
        (
            Method::PATCH,
            format!("/acme/Users/{id}"),
            "application/json",
            r#"{"Operations": [{"op": "move", "path": "x"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
        ),
        (
            Method::PATCH,
            format!("/acme/Users/{id}"),
            "application/json",
            r#"{"Operations": [{"op": "add", "path": "emails[type eq", "value": 1}]}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidPath"),
        ),
        (
            Method::PATCH,
            format!("/acme/Users/{id}"),
            "application/json",
            r#"{"Operations": [{"op": "remove", "path": "emails[type eq \"home\"]"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("noTarget"),
        ),
        (
            Method::PATCH,
            format!("/acme/Users/{id}"),
            "application/json",
            r#"{"Operations": [{"op": "remove"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("noTarget"),
        ),
        (
            Method::PATCH,
            format!("/acme/Users/{id}"),
            "application/json",
            r#"{"Operations": [{"op": "replace", "path": "id", "value": "x"}]}"#,
            StatusCode::BAD_REQUEST,
            Some("mutability"),
        ),
        (
            Method::PATCH,
            format!("/acme/Users/{id}"),
            "application/json",
            r#"{"Operations": [{"op": "replace", "path": "active", "value": 3}]}"#,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            Method::PUT,
            format!("/acme/Users/{id}"),
            "application/json",
            r#"{"id": "other", "userName": "erin"}"#,
            StatusCode::BAD_REQUEST,
            Some("mutability"),
        ),
        (
            Method::PUT,
            "/acme/Users/nobody".into(),
            "application/json",
            r#"{"userName": "erin"}"#,
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            Method::PATCH,
            "/acme/Groups/nobody".into(),
            "application/json",
            r#"{"Operations": [{"op": "remove", "path": "members"}]}"#,
            StatusCode::NOT_FOUND,
            None,
        ),
    ];
    for (method, path, ct, body, status, scim_type) in cases {
        let (s, v) = scim_raw(&app, &okta, method, &path, ct, body).await;
        assert_eq!(s, status, "{path} {body}: {v}");
        assert_error(&v, status, scim_type);
    }
    for (filter, what) in [
        (r#"userName co "x""#, "operator"),
        (r#"userName eq "x" and active eq true"#, "logical"),
        (r#"title eq "x""#, "title"),
        ("userName eq", "expected"),
        (r#"userName eq "open"#, "closed"),
    ] {
        let (s, v) = scim(&app, &okta, Method::GET, &format!("/acme/Users?filter={}", enc(filter)), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{filter}");
        assert_error(&v, StatusCode::BAD_REQUEST, Some("invalidFilter"));
        assert!(v["detail"].as_str().unwrap().contains(what), "{filter}: {v}");
    }
    let (s, v) = scim(&app, &okta, Method::GET, "/acme/Users?count=many", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error(&v, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let (s, v) = scim(&app, &okta, Method::GET, "/acme/Users/%00", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = scim(&app, &okta, Method::GET, "/acme/Nothing", None).await;
    assert_error(&v, s, None);
    // Unauthenticated, and bad credentials.
    let (s, v) = scim(&app, "", Method::GET, "/acme/Users", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_error(&v, s, None);
    for bad in ["tsa_nope", "not-a-token"] {
        let (s, _) = scim(&app, bad, Method::GET, "/acme/Users", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bad}");
    }
    // The user is unchanged by all of the above.
    let (_, v) = scim(&app, &okta, Method::GET, &format!("/acme/Users/{id}"), None).await;
    assert_eq!((v["userName"].clone(), v["externalId"].clone()), (json!("erin"), json!("e-1")));
}

async fn tenants_are_isolated_and_permissions_enforced(b: Backend) {
    let (app, okta, weak, entra) = setup(b).await;
    let id = create_user(&app, &okta, "frank", "f-1").await;
    // globex's token never reaches acme.
    for path in ["/acme/Users".to_string(), format!("/acme/Users/{id}"), "/acme/Groups".into()] {
        let (s, v) = scim(&app, &entra, Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert_error(&v, s, None);
    }
    let (s, _) = scim(&app, &entra, Method::DELETE, &format!("/acme/Users/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = scim(&app, &entra, Method::DELETE, &format!("/globex/Users/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "acme's user is not globex's");
    assert!(app.stores.users.get_user_any(&id).await.unwrap().is_some());
    let v = list(&app, &entra, "/globex/Users").await;
    assert!(!v.to_string().contains(&id));
    // A service account without USER or GROUP permissions is refused.
    for (method, path, body) in [
        (Method::GET, "/acme/Users".to_string(), None),
        (Method::POST, "/acme/Users".into(), Some(new_user("x", "x"))),
        (Method::PATCH, format!("/acme/Users/{id}"), patch(json!([{ "op": "replace", "value": { "active": false } }]))),
        (Method::DELETE, format!("/acme/Users/{id}"), None),
        (Method::GET, "/acme/Groups".into(), None),
        (Method::POST, "/acme/Groups".into(), Some(json!({ "displayName": "x" }))),
    ] {
        let (s, v) = scim(&app, &weak, method, &path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
        assert_error(&v, s, None);
    }
    assert!(!app.stores.users.get_user_any(&id).await.unwrap().unwrap().disabled);
    // No escalation: a provisioner with USER and GROUP permissions only cannot add members to
    // a group bound to the Tenant Admin role.
    let perms = [
        "USER:CREATE",
        "USER:READ",
        "USER:UPDATE",
        "USER:DELETE",
        "GROUP:CREATE",
        "GROUP:READ",
        "GROUP:UPDATE",
        "GROUP:DELETE",
    ];
    admin(
        &app,
        Method::POST,
        "/acme/roles",
        json!({ "id": "provisioner", "name": "Provisioner", "permissions": perms }),
    )
    .await;
    let prov = account(&app, "acme", "prov", Some("provisioner")).await;
    let (s, g) = scim(&app, &prov, Method::POST, "/acme/Groups", Some(json!({ "displayName": "Admins" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap();
    admin(
        &app,
        Method::POST,
        "/acme/bindings",
        json!({ "role_id": "admin", "principal_kind": "group", "principal_id": gid }),
    )
    .await;
    let ops = json!([{ "op": "add", "path": "members", "value": [{ "value": id }] }]);
    let (s, v) = scim(&app, &prov, Method::PATCH, &format!("/acme/Groups/{gid}"), patch(ops.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(app.stores.groups.groups_of("acme", MemberKind::User, &id).await.unwrap().is_empty());
    // The Tenant Admin account may.
    let (s, v) = scim(&app, &okta, Method::PATCH, &format!("/acme/Groups/{gid}"), patch(ops)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn discovery_documents(b: Backend) {
    let (app, _, _, _) = setup(b).await;
    let (s, v) = scim(&app, "", Method::GET, "/acme/ServiceProviderConfig", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["patch"]["supported"], true);
    assert_eq!(v["filter"]["supported"], true);
    let (_, v) = scim(&app, "", Method::GET, "/acme/ResourceTypes", None).await;
    assert_eq!(v["totalResults"], 2);
    assert_eq!(v["Resources"][0]["endpoint"], "/Users");
    let (_, v) = scim(&app, "", Method::GET, "/acme/Schemas", None).await;
    assert_eq!(v["Resources"][0]["id"], "urn:ietf:params:scim:schemas:core:2.0:User");
}
