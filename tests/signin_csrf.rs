//! The browser forms of the sign-in flow against forgery (issue 13, findings 6, 7 and part
//! of 9): the pre-session cookie that binds a login to the browser that started it (login
//! CSRF), the same-origin check of every state-changing browser POST, `max_age=0` as
//! `prompt=login`, the logout confirmation bound to its session, and a pending mandatory
//! password change at the admin API's Basic door. Every refusal reads the state back.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;

/// A POST of `pairs` with these cookies and extra headers.
async fn post(
    app: &TestApp,
    path: &str,
    pairs: &[(&str, &str)],
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> axum::http::Response<Body> {
    let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie.filter(|c| !c.is_empty()) {
        b = b.header(header::COOKIE, c);
    }
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    app.send(b.body(Body::from(form(pairs))).unwrap()).await
}

/// A sign-in started at /authorize: its login form's fields and the browser's pre-session cookie.
struct Started {
    request: String,
    csrf: String,
    browser: String,
}

async fn start(app: &TestApp, client: &str, cookie: Option<&str>) -> Started {
    let (q, _) = code_request(client);
    let res = app.get_with_cookie(&format!("/authorize?{q}"), cookie).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let browser = browser_cookie(&res).expect("a pre-session cookie");
    let loc = location(&res);
    assert!(loc.starts_with("login?"), "{loc}");
    let page = body_text(app.get(&format!("/{loc}")).await).await;
    Started { request: hidden(&page, "request"), csrf: hidden(&page, "csrf"), browser }
}

/// Whether the browser with these cookies is signed in (a `prompt=none` request gets a code).
async fn signed_in(app: &TestApp, cookie: &str) -> bool {
    let (q, _) = code_request("web");
    let res = app.get_with_cookie(&format!("/authorize?{q}&prompt=none"), Some(cookie)).await;
    query_param(&location(&res), "code").is_some()
}

async fn signin_audits(app: &TestApp) -> usize {
    app.state.audit.flush().await;
    let filter = tessera::store::AuditFilter::default();
    let all = app.stores.audit.list_audit(tessera::store::DEFAULT_TENANT, &filter, None, 500).await.unwrap();
    all.iter().filter(|e| e.action == "signin.success").count()
}

/// The attacker's own request id and anti-CSRF value, posted by the victim's browser (with no
/// pre-session cookie, or with its own from another sign-in), sign nobody in; the attacker's
/// own browser still can.
async fn login_is_bound_to_the_browser_that_started_it(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.user("mallory").await;
    let attacker = start(&app, "web", None).await;
    let victim = start(&app, "web", None).await;
    assert_ne!(attacker.browser, victim.browser, "each browser gets its own pre-session cookie");
    let creds = [
        ("request", attacker.request.as_str()),
        ("csrf", attacker.csrf.as_str()),
        ("username", "mallory"),
        ("password", PASSWORD),
    ];
    for cookie in ["", victim.browser.as_str(), "tessera_signin=forged-value-forged-value-forged-value"] {
        let res = post(&app, "/login", &creds, Some(cookie), &[]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "cookie {cookie:?}");
        assert!(set_cookie(&res).is_none(), "nobody signed in (cookie {cookie:?})");
        assert!(body_text(res).await.contains("started in another browser"));
    }
    assert_eq!(signin_audits(&app).await, 0, "no sign-in happened");
    // The attacker's own browser signs in with the same form: the refusals were real.
    let res = post(&app, "/login", &creds, Some(&attacker.browser), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body_text(res).await);
    let session = set_cookie(&res).expect("a session");
    assert!(query_param(&location(&res), "code").is_some());
    assert!(signed_in(&app, &session).await);
    assert_eq!(signin_audits(&app).await, 1);
}

/// The pre-session cookie's attributes: HttpOnly, SameSite=Lax, Secure under an https issuer,
/// and kept across two sign-ins of one browser (two tabs both work).
async fn pre_session_cookie_attributes(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    let (q, _) = code_request("web");
    let res = app.get(&format!("/authorize?{q}")).await;
    let set = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("tessera_signin="))
        .expect("the cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age="] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    let first = start(&app, "web", None).await;
    let second = start(&app, "web", Some(&first.browser)).await;
    assert_eq!(first.browser, second.browser, "a well-formed cookie is kept");
    app.user("alice").await;
    for s in [&first, &second] {
        let creds =
            [("request", s.request.as_str()), ("csrf", s.csrf.as_str()), ("username", "alice"), ("password", PASSWORD)];
        let res = post(&app, "/login", &creds, Some(&first.browser), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "both tabs sign in");
    }
}

/// Consent and the mandatory password change are bound the same way.
async fn consent_and_password_change_are_bound_to_the_browser(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("third", false, |c| c.first_party = false).await;
    app.user("alice").await;
    let mallory = app.user("mallory").await;
    // Consent: the victim (signed in) posts the attacker's consent form.
    let (q, _) = code_request("third");
    let (loc, victim_cookies) = app.authorize_path(&format!("/authorize?{q}"), "alice").await;
    assert!(loc.starts_with("consent?"), "{loc}");
    let victim_cookies = victim_cookies.unwrap();
    let victim_session = victim_cookies.split("; ").find(|c| c.starts_with("tessera_session=")).unwrap().to_string();
    let (loc, attacker_cookies) = app.authorize_path(&format!("/authorize?{q}"), "mallory").await;
    let attacker_cookies = attacker_cookies.unwrap();
    let page = body_text(app.get_with_cookie(&format!("/{loc}"), Some(&attacker_cookies)).await).await;
    let (request, csrf) = (hidden(&page, "request"), hidden(&page, "csrf"));
    let alice = app.stores.users.find_user_by_username_any("alice").await.unwrap().unwrap();
    let fields = [("request", request.as_str()), ("csrf", csrf.as_str()), ("decision", "allow")];
    for cookie in [victim_session.clone(), victim_cookies.clone()] {
        let res = post(&app, "/consent", &fields, Some(&cookie), &[]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(location(&res).is_empty(), "no code");
    }
    let granted = app.stores.consents.granted_scopes("default", &alice.id, "third").await.unwrap();
    assert!(granted.is_empty(), "no consent recorded for the victim: {granted:?}");
    // The attacker's own browser can consent.
    let res = post(&app, "/consent", &fields, Some(&attacker_cookies), &[]).await;
    assert!(query_param(&location(&res), "code").is_some(), "{}", location(&res));
    let granted = app.stores.consents.granted_scopes("default", &mallory.id, "third").await.unwrap();
    assert!(!granted.is_empty());

    // The forced password change: the attacker's change form, posted by another browser.
    app.stores.users.require_password_change(&mallory.id, true).await.unwrap();
    let s = start(&app, "third", None).await;
    let creds =
        [("request", s.request.as_str()), ("csrf", s.csrf.as_str()), ("username", "mallory"), ("password", PASSWORD)];
    let page = body_text(post(&app, "/login", &creds, Some(&s.browser), &[]).await).await;
    let (change, csrf) = (hidden(&page, "change"), hidden(&page, "csrf"));
    let fields = [
        ("change", change.as_str()),
        ("csrf", csrf.as_str()),
        ("new_password", "a long new passphrase"),
        ("confirm_password", "a long new passphrase"),
    ];
    let victim = start(&app, "third", None).await;
    let res = post(&app, "/login/password", &fields, Some(&victim.browser), &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&res).is_none());
    let u = app.stores.users.get_user_any(&mallory.id).await.unwrap().unwrap();
    assert!(u.password_change_required, "the password was not changed");
    assert!(tessera::password::verify_password(PASSWORD, u.password_hash.as_deref().unwrap()));
    let res = post(&app, "/login/password", &fields, Some(&s.browser), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body_text(res).await);
}

/// Every kind of browser form refuses a cross-site post (`Origin` of another site, or only
/// `Sec-Fetch-Site: cross-site`), and changes nothing; the same post from the issuer's origin
/// goes through.
async fn cross_site_posts_are_refused(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.client("third", false, |c| c.first_party = false).await;
    let alice = app.user("alice").await;
    let cross: [&[(&str, &str)]; 3] =
        [&[("origin", "https://evil.example")], &[("sec-fetch-site", "cross-site")], &[("origin", "null")]];

    // The login form.
    let s = start(&app, "web", None).await;
    let creds =
        [("request", s.request.as_str()), ("csrf", s.csrf.as_str()), ("username", "alice"), ("password", PASSWORD)];
    for h in cross {
        let res = post(&app, "/login", &creds, Some(&s.browser), h).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{h:?}");
        assert!(set_cookie(&res).is_none());
    }
    assert_eq!(signin_audits(&app).await, 0);
    let res =
        post(&app, "/login", &creds, Some(&s.browser), &[("origin", ISSUER), ("sec-fetch-site", "same-origin")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body_text(res).await);
    let session = set_cookie(&res).unwrap();
    let jar = with_cookie(Some(&session), Some(s.browser.clone())).unwrap();

    // Consent.
    let (q, _) = code_request("third");
    let res = app.get_with_cookie(&format!("/authorize?{q}"), Some(&jar)).await;
    let page = body_text(app.get_with_cookie(&format!("/{}", location(&res)), Some(&jar)).await).await;
    let fields = [("request", hidden(&page, "request")), ("csrf", hidden(&page, "csrf")), ("decision", "allow".into())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for h in cross {
        assert_eq!(post(&app, "/consent", &fields, Some(&jar), h).await.status(), StatusCode::FORBIDDEN);
    }
    assert!(app.stores.consents.granted_scopes("default", &alice.id, "third").await.unwrap().is_empty());

    // The account page: its password form.
    let page = body_text(app.get_with_cookie("/account", Some(&session)).await).await;
    let csrf = hidden(&page, "csrf");
    let fields = [
        ("csrf", csrf.as_str()),
        ("current_password", PASSWORD),
        ("new_password", "another long passphrase"),
        ("confirm_password", "another long passphrase"),
    ];
    for h in cross {
        assert_eq!(post(&app, "/account/password", &fields, Some(&session), h).await.status(), StatusCode::FORBIDDEN);
    }
    let u = app.stores.users.get_user_any(&alice.id).await.unwrap().unwrap();
    assert!(tessera::password::verify_password(PASSWORD, u.password_hash.as_deref().unwrap()), "unchanged");

    // The account page's own sign-in.
    let res = app.get("/account").await;
    let browser = set_cookie_named(&res, "tessera_signin").expect("the account sign-in binds the browser");
    let page = body_text(res).await;
    let creds = [
        ("request", hidden(&page, "request")),
        ("csrf", hidden(&page, "csrf")),
        ("username", "alice".into()),
        ("password", PASSWORD.into()),
    ];
    let creds: Vec<(&str, &str)> = creds.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for h in cross {
        let res = post(&app, "/account/login", &creds, Some(&browser), h).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(set_cookie(&res).is_none());
    }
    // …and from another browser (login CSRF at the account page), with the right origin.
    let res = post(&app, "/account/login", &creds, None, &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&res).is_none());

    // The password reset request: no mail goes out.
    let s = start(&app, "web", None).await;
    let fields = [("request", s.request.as_str()), ("csrf", s.csrf.as_str()), ("identifier", "alice@example.com")];
    for h in cross {
        let res = post(&app, "/login/forgot", &fields, Some(&s.browser), h).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(std::fs::read_dir(app.mail_dir.path()).unwrap().count(), 0, "no reset mail");
    // The passkey ceremony's start and a federation button.
    let fields = [("request", s.request.as_str()), ("csrf", s.csrf.as_str())];
    for h in cross {
        let res = post(&app, "/login/passkey/options", &fields, Some(&s.browser), h).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res =
            post(&app, "/login/federated", &[fields[0], fields[1], ("connection", "x")], Some(&s.browser), h).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(location(&res).is_empty());
    }
    let res = post(&app, "/login/passkey/options", &fields, Some(&s.browser), &[("origin", ISSUER)]).await;
    assert_eq!(res.status(), StatusCode::OK, "the same request from the issuer's origin: {}", body_text(res).await);

    // The logout confirmation (the session survives a cross-site confirmation).
    let page = body_text(app.get_with_cookie("/logout", Some(&session)).await).await;
    let fields = [("request", hidden(&page, "request")), ("csrf", hidden(&page, "csrf"))];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for h in cross {
        assert_eq!(post(&app, "/logout", &fields, Some(&session), h).await.status(), StatusCode::FORBIDDEN);
    }
    assert!(signed_in(&app, &session).await, "still signed in");
    let res = post(&app, "/logout", &fields, Some(&session), &[("origin", ISSUER)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!signed_in(&app, &session).await, "the genuine confirmation signs out");
}

/// `GET /logout` without `id_token_hint` asks first; a confirmation form is worthless in
/// another session's browser (the attacker's own form cannot sign the victim out).
async fn logout_without_hint_asks_and_binds_the_confirmation(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    app.user("mallory").await;
    let (victim, _) = app.sign_in_with_tokens("web", "alice").await;
    let (attacker, _) = app.sign_in_with_tokens("web", "mallory").await;
    for path in ["/logout", "/logout?post_logout_redirect_uri=https://app.test/bye&client_id=web"] {
        let res = app.get_with_cookie(path, Some(&victim)).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(body_text(res).await.contains("Sign out of Tessera?"));
        assert!(signed_in(&app, &victim).await, "{path} asks before it ends the session");
    }
    // The attacker's own confirmation form, posted by the victim's browser.
    let page = body_text(app.get_with_cookie("/logout", Some(&attacker)).await).await;
    let fields = [("request", hidden(&page, "request")), ("csrf", hidden(&page, "csrf"))];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = post(&app, "/logout", &fields, Some(&victim), &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get(header::SET_COOKIE).is_none());
    assert!(signed_in(&app, &victim).await, "the victim is still signed in");
    assert!(signed_in(&app, &attacker).await);
}

/// OIDC Core 3.1.2.1: `max_age=0` is `prompt=login`, even within the second of the sign-in.
async fn max_age_zero_forces_a_sign_in(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let (session, _) = app.sign_in_with_tokens("web", "alice").await;
    let (q, _) = code_request("web");
    let res = app.get_with_cookie(&format!("/authorize?{q}&max_age=0"), Some(&session)).await;
    assert!(location(&res).starts_with("login?"), "no code without a new sign-in: {}", location(&res));
    let res = app.get_with_cookie(&format!("/authorize?{q}&max_age=0&prompt=none"), Some(&session)).await;
    assert_eq!(query_param(&location(&res), "error").as_deref(), Some("login_required"));
    // The new sign-in itself gets the code (no loop), and max_age=1 still takes the session.
    let (loc, _) = app.authorize_path(&format!("/authorize?{q}&max_age=0"), "alice").await;
    assert!(query_param(&loc, "code").is_some(), "{loc}");
    let res = app.get_with_cookie(&format!("/authorize?{q}&max_age=60"), Some(&session)).await;
    assert!(query_param(&location(&res), "code").is_some());
}

/// Finding 6: Basic credentials of a user who must change their password are refused (problem
/// JSON that says where to change it), and nothing is done with them.
async fn basic_credentials_refused_while_a_password_change_is_pending(b: Backend) {
    let app = TestApp::new(b).await;
    let alice = app.user("alice").await;
    app.stores.instance_admins.grant_instance_admin(tessera::store::MemberKind::User, &alice.id, 0).await.unwrap();
    let basic = basic_header("alice", PASSWORD);
    let (status, _) = app.admin_api(&basic, Method::GET, "/me", None).await;
    assert_eq!(status, StatusCode::OK);
    app.stores.users.require_password_change(&alice.id, true).await.unwrap();
    let (status, body) = app.admin_api(&basic, Method::GET, "/me", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("password change is pending") && detail.contains("login page"), "{detail}");
    let group = serde_json::json!({ "id": "sneaky", "name": "Sneaky" });
    let (status, _) = app.admin_api(&basic, Method::POST, "/default/groups", Some(group)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(app.stores.groups.get_group("default", "sneaky").await.unwrap().is_none(), "nothing created");
    // A wrong password is still just a wrong password (the pending change reveals nothing).
    let (status, body) = app.admin_api(&basic_header("alice", "wrong"), Method::GET, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

on_both_backends!(
    login_is_bound_to_the_browser_that_started_it,
    pre_session_cookie_attributes,
    consent_and_password_change_are_bound_to_the_browser,
    cross_site_posts_are_refused,
    logout_without_hint_asks_and_binds_the_confirmation,
    max_age_zero_forces_a_sign_in,
    basic_credentials_refused_while_a_password_change_is_pending,
);
