//! Passwords on both backend pairs: the forgot-password flow (single use, expiry, one user,
//! identical answers), mandatory change-password requests by mail, rehashing on sign-in, and
//! the brute-force throttle (engages, releases, per address, shared by two instances through
//! Redis).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use common::mail::{Message, wait_for};
use common::*;
use serde_json::json;
use tessera::store::{AuditFilter, DEFAULT_TENANT, MemberKind};
use tower::ServiceExt;

const NEW_PASSWORD: &str = "a brand new passphrase";
const RESET_PREFIX: &str = "https://id.test/login/reset?token=";

/// An app whose throttle locks after 3 failures per username (2 per address), for 1 s first.
async fn app_with_throttle(b: Backend) -> TestApp {
    TestApp::with_config(b, |c| {
        c.passwords.throttle_account_free_failures = 3;
        c.passwords.throttle_address_free_failures = 2;
        c.passwords.throttle_base_delay_secs = 1;
    })
    .await
}

/// Starts an authorization and returns the login page's (request, csrf, page).
async fn login_page(app: &TestApp) -> (String, String, String) {
    app.client("web", false, |_| {}).await;
    login_page_for(app).await
}

async fn login_page_for(app: &TestApp) -> (String, String, String) {
    login_page_on(&app.router).await
}

async fn get_on(router: &axum::Router, uri: &str) -> Response {
    router.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap()
}

/// Starts an authorization of the client "web" through `router`: (request, csrf, login page).
async fn login_page_on(router: &axum::Router) -> (String, String, String) {
    let (q, _) = code_request("web");
    let res = get_on(router, &format!("/authorize?{q}")).await;
    let loc = location(&res);
    assert!(loc.starts_with("login?"), "{loc}");
    let page = remember_browser(&res, body_text(get_on(router, &format!("/{loc}")).await).await);
    (hidden(&page, "request"), hidden(&page, "csrf"), page)
}

/// Posts the login form through `router`, optionally from a client address.
async fn login_via(
    router: &axum::Router,
    request: &str,
    csrf: &str,
    username: &str,
    password: &str,
    from: Option<&str>,
) -> (StatusCode, String) {
    let body = form(&[("request", request), ("csrf", csrf), ("username", username), ("password", password)]);
    let mut req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, browser_for(request).unwrap_or_default())
        .body(Body::from(body))
        .unwrap();
    if let Some(ip) = from {
        let addr: SocketAddr = format!("{ip}:50000").parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    let res: Response = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    (status, body_text(res).await)
}

async fn login(app: &TestApp, request: &str, csrf: &str, username: &str, password: &str) -> (StatusCode, String) {
    login_via(&app.router, request, csrf, username, password, None).await
}

async fn ask_reset(app: &TestApp, request: &str, csrf: &str, identifier: &str) -> Response {
    let fields = [("request", request), ("csrf", csrf), ("identifier", identifier)];
    app.post_form_cookie("/login/forgot", &fields, None, browser_for(request).as_deref()).await
}

async fn use_link(app: &TestApp, link: &str, password: &str) -> (StatusCode, String) {
    let token = query_param(link, "token").expect("a token in the link");
    let res = app
        .post_form(
            "/login/reset",
            &[("token", &token), ("new_password", password), ("confirm_password", password)],
            None,
        )
        .await;
    let status = res.status();
    (status, body_text(res).await)
}

async fn audit_actions(app: &TestApp, tenant: &str, action: &str) -> Vec<tessera::store::AuditEntry> {
    app.state.audit.flush().await;
    let filter = AuditFilter { action: Some(action.into()), ..AuditFilter::default() };
    app.stores.audit.list_audit(tenant, &filter, None, 200).await.unwrap()
}

/// Polls `check` every 100 ms for up to 30 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn reset_link_sets_a_new_password_once(b: Backend) {
    let app = TestApp::new(b).await;
    let alice = app.user("alice").await;
    let (request, csrf, page) = login_page(&app).await;
    assert!(page.contains("id=\"forgot-password\""), "the login page links to the reset page: {page}");
    assert!(page.contains(&format!("href=\"login/forgot?request={request}\"")), "{page}");
    let forgot = app.get(&format!("/login/forgot?request={request}")).await;
    assert_eq!(forgot.status(), StatusCode::OK);
    assert_eq!(hidden(&body_text(forgot).await, "csrf"), csrf);

    let res = ask_reset(&app, &request, &csrf, "alice@example.com").await;
    assert_eq!(res.status(), StatusCode::OK);
    let mail = wait_for(app.mail_dir.path(), "alice@example.com", 1).await.remove(0);
    assert_eq!(mail.header("Subject"), Some("Reset your password"));
    let link = mail.link(RESET_PREFIX).expect("a reset link");
    // Only the token's hash is stored.
    let token = query_param(&link, "token").unwrap();
    assert!(app.state.provider.kv.get(&format!("pwreset:{token}")).await.unwrap().is_none());

    // Opening the link shows the form and consumes nothing; a typo does not cost the link.
    let res = app.get(&link.replace("https://id.test", "")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post_form("/login/reset", &[("token", &token), ("new_password", "short"), ("confirm_password", "short")], None)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let (s, page) = use_link(&app, &link, NEW_PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains(&format!("href=\"../login?request={request}\"")), "back to the sign-in: {page}");
    let (s, _) = use_link(&app, &link, "yet another passphrase").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a link works once");
    let res = app.get(&link.replace("https://id.test", "")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    assert_eq!(login(&app, &request, &csrf, "alice", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, &request, &csrf, "alice", NEW_PASSWORD).await.0, StatusCode::SEE_OTHER);
    assert_eq!(audit_actions(&app, &alice.tenant_id, "user.password_reset").await.len(), 1);
}

async fn reset_link_expires(b: Backend) {
    let app = TestApp::new(b).await;
    app.user("alice").await;
    // The configuration allows 60 s at least; a state with a 1 s lifetime stands in for the clock.
    let mut state = app.state.clone();
    state.reset_link_ttl = Duration::from_secs(1);
    let router = tessera::app(state);
    let (request, csrf, _) = login_page(&app).await;
    let body = form(&[("request", &request), ("csrf", &csrf), ("identifier", "alice")]);
    let req = Request::post("/login/forgot")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, browser_for(&request).unwrap_or_default())
        .body(Body::from(body))
        .unwrap();
    assert_eq!(router.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
    let mail = wait_for(app.mail_dir.path(), "alice@example.com", 1).await.remove(0);
    let link = mail.link(RESET_PREFIX).unwrap();
    let path = link.replace("https://id.test", "");
    eventually("the link to expire", || async { app.get(&path).await.status() == StatusCode::BAD_REQUEST }).await;
    let (s, _) = use_link(&app, &link, NEW_PASSWORD).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an expired link sets nothing");
    assert_eq!(login(&app, &request, &csrf, "alice", PASSWORD).await.0, StatusCode::SEE_OTHER);
}

async fn reset_link_is_for_its_user_and_its_password_only(b: Backend) {
    let app = TestApp::new(b).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (request, csrf, _) = login_page(&app).await;
    ask_reset(&app, &request, &csrf, "alice").await;
    ask_reset(&app, &request, &csrf, "alice@example.com").await;
    let mails = wait_for(app.mail_dir.path(), "alice@example.com", 2).await;
    assert!(mails.iter().all(|m| !m.is_to("bob@example.com")));
    let first = mails[0].link(RESET_PREFIX).unwrap();
    let second = mails[1].link(RESET_PREFIX).unwrap();
    assert_ne!(first, second);
    // A token changed by one character is no link at all.
    let mut forged = first.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(use_link(&app, &forged, NEW_PASSWORD).await.0, StatusCode::BAD_REQUEST);

    assert_eq!(use_link(&app, &first, NEW_PASSWORD).await.0, StatusCode::OK);
    let users = &app.stores.users;
    let alice_now = users.get_user_any(&alice.id).await.unwrap().unwrap();
    let bob_now = users.get_user_any(&bob.id).await.unwrap().unwrap();
    assert_ne!(alice_now.password_hash, alice.password_hash, "alice's password changed");
    assert_eq!(bob_now.password_hash, bob.password_hash, "bob's did not");
    assert_eq!(login(&app, &request, &csrf, "bob", PASSWORD).await.0, StatusCode::SEE_OTHER);
    // The second link was made for the old password: it is stale now.
    assert_eq!(use_link(&app, &second, "another new passphrase").await.0, StatusCode::BAD_REQUEST);
}

async fn unknown_and_known_addresses_get_identical_responses(b: Backend) {
    let app = TestApp::new(b).await;
    app.user("alice").await;
    let (request, csrf, _) = login_page(&app).await;
    let mut answers = Vec::new();
    for identifier in ["alice@example.com", "nobody@example.com", "alice", "nobody", "ALICE@EXAMPLE.COM"] {
        let res = ask_reset(&app, &request, &csrf, identifier).await;
        let mut headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .filter(|(k, _)| k.as_str() != "x-request-id")
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        headers.sort();
        answers.push((identifier, res.status(), headers, body_text(res).await));
    }
    for a in &answers[1..] {
        assert_eq!((a.1, &a.2, &a.3), (answers[0].1, &answers[0].2, &answers[0].3), "{} vs {}", a.0, answers[0].0);
    }
    // Three of them were alice's (an address matches in any case): three messages to her,
    // none to anyone else.
    wait_for(app.mail_dir.path(), "alice@example.com", 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = common::mail::messages(app.mail_dir.path());
    assert_eq!(all.len(), 3, "{all:?}");
}

async fn throttling_engages_and_releases_without_telling_accounts_apart(b: Backend) {
    let app = app_with_throttle(b).await;
    app.user("alice").await;
    let (request, csrf, _) = login_page(&app).await;
    let wrong = "not the password";
    for name in ["alice", "nobody"] {
        for _ in 0..3 {
            assert_eq!(login(&app, &request, &csrf, name, wrong).await.0, StatusCode::UNAUTHORIZED);
        }
        // The 4th failure locks the username.
        let (s, failed) = login(&app, &request, &csrf, name, wrong).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, throttled) = login(&app, &request, &csrf, name, PASSWORD).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "locked: even the right password is refused");
        assert_eq!(throttled, failed, "a throttled sign-in reads exactly like a wrong password");
    }
    // The same answers for an account and for no account.
    let (_, a) = login(&app, &request, &csrf, "alice", PASSWORD).await;
    let (_, n) = login(&app, &request, &csrf, "nobody", PASSWORD).await;
    assert_eq!(a.replace("alice", "X"), n.replace("nobody", "X"));
    let refusals = audit_actions(&app, DEFAULT_TENANT, "signin.throttled").await;
    assert!(refusals.len() >= 4, "every refusal is an audit event: {refusals:?}");
    assert!(refusals.iter().any(|e| e.summary["username"] == "alice"));
    assert!(refusals.iter().all(|e| e.summary["throttled"] == "account"));
    // Another username is not affected; the lock goes away after its delay.
    app.user("bob").await;
    assert_eq!(login(&app, &request, &csrf, "bob", PASSWORD).await.0, StatusCode::SEE_OTHER);
    let (request, csrf, _) = login_page_for(&app).await;
    eventually("the lock to be released", || async {
        login(&app, &request, &csrf, "alice", PASSWORD).await.0 == StatusCode::SEE_OTHER
    })
    .await;
}

async fn throttling_counts_per_client_address(b: Backend) {
    let app = app_with_throttle(b).await;
    app.user("alice").await;
    let (request, csrf, _) = login_page(&app).await;
    let r = &app.router;
    // Two free failures per address, whatever the usernames.
    for name in ["x1", "x2", "x3"] {
        assert_eq!(login_via(r, &request, &csrf, name, "wrong", Some("192.0.2.7")).await.0, StatusCode::UNAUTHORIZED);
    }
    let (s, _) = login_via(r, &request, &csrf, "alice", PASSWORD, Some("192.0.2.7")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the address is locked");
    let (s, _) = login_via(r, &request, &csrf, "alice", PASSWORD, Some("192.0.2.8")).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "another address is not");
    let refusals = audit_actions(&app, DEFAULT_TENANT, "signin.throttled").await;
    assert!(
        refusals.iter().any(|e| e.summary["throttled"] == "address" && e.client_addr.as_deref() == Some("192.0.2.7"))
    );
}

async fn sign_in_rehashes_passwords_made_with_old_parameters(b: Backend) {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let app = TestApp::new(b).await;
    let alice = app.user("alice").await;
    let old = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8 * 1024, 3, 1, None).unwrap(),
    );
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    let old_hash = old.hash_password(PASSWORD.as_bytes(), &salt).unwrap().to_string();
    app.stores.users.set_password_hash(&alice.tenant_id, &alice.id, &old_hash).await.unwrap();
    let (request, csrf, _) = login_page(&app).await;
    assert_eq!(login(&app, &request, &csrf, "alice", PASSWORD).await.0, StatusCode::SEE_OTHER);
    let stored = app.stores.users.get_user_any(&alice.id).await.unwrap().unwrap().password_hash.unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    assert!(tessera::password::verify_password(PASSWORD, &stored));
}

async fn change_requests_are_mailed_to_users_and_group_members(b: Backend) {
    let app = TestApp::new(b).await;
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
    let admin = basic_header("root", PASSWORD);
    let t = DEFAULT_TENANT;
    let dan = app.user("dan").await;
    let erin = app.user("erin").await;
    let frank = app.user("frank").await;
    let (s, v) =
        app.admin_api(&admin, Method::POST, &format!("/{t}/groups"), Some(json!({ "id": "ops", "name": "Ops" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    for u in [&dan, &erin] {
        let body = json!({ "kind": "user", "id": u.id });
        let (s, v) = app.admin_api(&admin, Method::POST, &format!("/{t}/groups/ops/members"), Some(body)).await;
        assert!(s.is_success(), "{v}");
    }
    let (s, v) = app.admin_api(&admin, Method::POST, &format!("/{t}/groups/ops/password-change-request"), None).await;
    assert_eq!((s, v["requested"].as_u64()), (StatusCode::ACCEPTED, Some(2)));
    let (s, _) =
        app.admin_api(&admin, Method::POST, &format!("/{t}/users/{}/password-change-request", frank.id), None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    for u in [&dan, &erin, &frank] {
        let to = u.email.as_deref().unwrap();
        let m: Message = wait_for(app.mail_dir.path(), to, 1).await.remove(0);
        assert_eq!(m.header("Subject"), Some("Choose a new password"));
        assert!(m.body.contains(&format!("\"{}\"", u.username)) && m.body.contains("https://id.test"), "{}", m.body);
        assert!(!m.body.contains("token="), "the request carries no link");
        assert!(app.stores.users.get_user_any(&u.id).await.unwrap().unwrap().password_change_required);
    }
    assert!(common::mail::messages(app.mail_dir.path()).iter().all(|m| !m.is_to("root@example.com")));
    // Forced to change at the next sign-in: no session before the new password.
    let (request, csrf, _) = login_page(&app).await;
    let (s, page) = login(&app, &request, &csrf, "dan", PASSWORD).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Choose a new password"), "{page}");
}

/// Whether `cookie` is a live session: /authorize answers the client at once, without the
/// login page.
async fn session_alive(app: &TestApp, cookie: &str) -> bool {
    let (q, _) = code_request("web");
    let res = app.get_with_cookie(&format!("/authorize?{q}"), Some(cookie)).await;
    location(&res).starts_with(REDIRECT)
}

async fn refresh_status(app: &TestApp, refresh_token: &str) -> (StatusCode, serde_json::Value) {
    let res = app
        .post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
            Some(("web", "s3cret-web")),
        )
        .await;
    (res.status(), body_json(res).await)
}

/// Signs alice in at "web": her session cookie and the grant's refresh token.
async fn session_and_grant(app: &TestApp) -> (String, String) {
    let (cookie, tokens) = app.sign_in_with_tokens("web", "alice").await;
    (cookie, tokens["refresh_token"].as_str().unwrap().to_string())
}

/// A reset means someone may know the old password: every session and refresh token from
/// before it ends, on every instance (the mark is in the state store).
async fn a_reset_ends_earlier_sessions_and_refresh_tokens(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let (cookie, refresh) = session_and_grant(&app).await;
    assert!(session_alive(&app, &cookie).await);
    // A code from that session, not redeemed yet when the password changes.
    let (q, verifier) = code_request("web");
    let loc = location(&app.get_with_cookie(&format!("/authorize?{q}"), Some(&cookie)).await);
    let pending_code = query_param(&loc, "code").unwrap_or_else(|| panic!("a code by single sign-on: {loc}"));

    let (request, csrf, _) = login_page_for(&app).await;
    assert_eq!(ask_reset(&app, &request, &csrf, "alice@example.com").await.status(), StatusCode::OK);
    let mail = wait_for(app.mail_dir.path(), "alice@example.com", 1).await.remove(0);
    let (s, page) = use_link(&app, &mail.link(RESET_PREFIX).unwrap(), NEW_PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{page}");

    assert!(!session_alive(&app, &cookie).await, "the session from before the reset ended");
    let (s, e) = app.exchange("web", &pending_code, &verifier).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{e}");
    let (s, e) = refresh_status(&app, &refresh).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{e}");
    // A sign-in with the new password starts a session and a grant that work.
    let (new_cookie, status) = {
        let (request, csrf, _) = login_page_for(&app).await;
        let body = form(&[("request", &request), ("csrf", &csrf), ("username", "alice"), ("password", NEW_PASSWORD)]);
        let req = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, browser_for(&request).unwrap_or_default())
            .body(Body::from(body))
            .unwrap();
        let res = app.send(req).await;
        (set_cookie(&res), res.status())
    };
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(session_alive(&app, &new_cookie.expect("a new session")).await);
}

/// Signs alice in on the account page with `password`.
async fn account_sign_in(app: &TestApp, password: &str) -> Response {
    let res = app.get("/account").await;
    let browser = set_cookie_named(&res, "tessera_signin");
    let page = body_text(res).await;
    let pairs = [
        ("request", hidden(&page, "request")),
        ("csrf", hidden(&page, "csrf")),
        ("username", "alice".to_string()),
        ("password", password.to_string()),
    ];
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.post_form_cookie("/account/login", &refs, None, browser.as_deref()).await
}

/// The account page: a password change keeps this browser signed in (a new session) and
/// ends every other session and refresh token of the account.
async fn an_account_password_change_ends_the_other_sessions(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let (other, refresh) = session_and_grant(&app).await;

    let res = account_sign_in(&app, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mine = set_cookie(&res).expect("an account session");
    let page = body_text(app.get_with_cookie("/account", Some(&mine)).await).await;
    let res = app
        .post_form_cookie(
            "/account/password",
            &[
                ("csrf", &hidden(&page, "csrf")),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
            None,
            Some(&mine),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).ends_with("/account?done=password"), "{}", location(&res));
    let renewed = set_cookie(&res).expect("this browser gets a new session");
    assert_ne!(renewed, mine);
    let page = body_text(app.get_with_cookie("/account", Some(&renewed)).await).await;
    assert!(page.contains("id=\"sign-out\""), "still signed in here: {page}");
    assert!(!session_alive(&app, &other).await, "the other session ended");
    assert!(!session_alive(&app, &mine).await, "the replaced cookie no longer works");
    let (s, e) = refresh_status(&app, &refresh).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{e}");
}

/// The account page's sign-in and the admin API's Basic credentials count against the same
/// throttle as the login page: guessing cannot move to a door without a lock.
async fn every_password_door_is_throttled(b: Backend) {
    let app = app_with_throttle(b).await;
    app.client("web", false, |_| {}).await;
    let alice = app.user("alice").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &alice.id, 0).await.unwrap();
    let admin = |password: &'static str| {
        let app = &app;
        async move {
            let req = Request::builder()
                .method(Method::GET)
                .uri("/api/v1/tenants")
                .header(header::AUTHORIZATION, basic_header("alice", password))
                .body(Body::empty())
                .unwrap();
            app.send(req).await.status()
        }
    };
    let account_login = |password: &'static str| {
        let app = &app;
        async move { account_sign_in(app, password).await.status() }
    };
    assert_eq!(admin(PASSWORD).await, StatusCode::OK);
    // Past the three free failures, spread over the two doors, the username is locked everywhere.
    assert_eq!(admin("wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(account_login("wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(admin("wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(account_login("wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(admin(PASSWORD).await, StatusCode::UNAUTHORIZED, "locked at the admin API");
    assert_eq!(account_login(PASSWORD).await, StatusCode::UNAUTHORIZED, "locked on the account page");
    let (request, csrf, _) = login_page_for(&app).await;
    assert_eq!(
        login(&app, &request, &csrf, "alice", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED,
        "and on the login page"
    );
    assert!(!audit_actions(&app, DEFAULT_TENANT, "signin.throttled").await.is_empty());
    eventually("the lock to be released", || async { admin(PASSWORD).await == StatusCode::OK }).await;
    assert_eq!(account_login(PASSWORD).await, StatusCode::SEE_OTHER);
}

on_both_backends!(
    reset_link_sets_a_new_password_once,
    reset_link_expires,
    reset_link_is_for_its_user_and_its_password_only,
    unknown_and_known_addresses_get_identical_responses,
    throttling_engages_and_releases_without_telling_accounts_apart,
    throttling_counts_per_client_address,
    sign_in_rehashes_passwords_made_with_old_parameters,
    change_requests_are_mailed_to_users_and_group_members,
    a_reset_ends_earlier_sessions_and_refresh_tokens,
    an_account_password_change_ends_the_other_sessions,
    every_password_door_is_throttled,
);

/// Two instances on one PostgreSQL and one Redis prefix: failures counted on one lock the
/// username on the other, and the release is seen by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_holds_across_two_instances_sharing_redis() {
    let app = app_with_throttle(Backend::PostgresRedis).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let prefix = common::kv::random_prefix();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let kv = Arc::new(common::kv::redis_kv_with_prefix(&prefix).await);
        instances.push(tessera::app(tessera::server::state(&app.config, keys(), app.stores.clone(), kv)));
    }
    let (one, two) = (&instances[0], &instances[1]);
    let (request, csrf, _) = login_page_on(one).await;
    assert_eq!(login_via(two, &request, &csrf, "alice", "wrong", None).await.0, StatusCode::UNAUTHORIZED);
    for _ in 0..3 {
        assert_eq!(login_via(one, &request, &csrf, "alice", "wrong", None).await.0, StatusCode::UNAUTHORIZED);
    }
    let (s, _) = login_via(two, &request, &csrf, "alice", PASSWORD, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the lock made on one instance holds on the other");
    let (s, _) = login_via(one, &request, &csrf, "alice", PASSWORD, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    eventually("the lock to be released on the second instance", || async {
        login_via(two, &request, &csrf, "alice", PASSWORD, None).await.0 == StatusCode::SEE_OTHER
    })
    .await;
}
