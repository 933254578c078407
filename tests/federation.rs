//! Federation: Tessera signing people in through an upstream OpenID provider.
//!
//! The Tessera under test runs in process; its upstreams are real HTTP servers on loopback:
//! - a second Tessera (its own stores, keys and issuer), for the whole story: login-page
//!   button, upstream login, just-in-time user, mapped groups giving bindings in the access
//!   token, a group change upstream changing them at the next sign-in, a user disabled
//!   (deprovisioned) refused, and RP-initiated logout ending the upstream session;
//! - a scriptable provider written here, for the failure paths a correct provider never
//!   produces: an error answer, a wrong `state`, another browser, a wrong `nonce`, a token
//!   signed by another key, another issuer, an email domain that is not allowed, an existing
//!   account without a linking policy, and an unreachable provider.
//!
//! The browser end to end, with an independent upstream implementation, is in
//! `tests/browser_federation.rs`.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use serde_json::{Value, json};
use tessera::crypto::{b64url, random_token, sha256};
use tessera::store::{DEFAULT_TENANT, MemberKind};

on_both_backends!(
    tessera_upstream_story,
    upstream_error_and_state_failures,
    bad_id_tokens_are_refused,
    email_domains_linking_and_discovery,
    unreachable_provider_is_a_clear_page,
    endpoints_on_internal_addresses_are_never_called,
    identity_providers_admin_api,
    store_keeps_tenants_apart,
    hostile_upstream_signs_in_no_account_outside_its_authority,
);

// ---------------------------------------------------------------------------------------------
// A scriptable upstream provider
// ---------------------------------------------------------------------------------------------

/// What the fake provider will say next.
#[derive(Clone)]
struct Script {
    sub: String,
    email: Option<String>,
    email_verified: bool,
    groups: Vec<String>,
    /// Sign the ID token with a key that is not in the JWKS (same `kid`).
    other_key: bool,
    /// Put this `iss` in the ID token.
    token_issuer: Option<String>,
    /// Put this `nonce` in the ID token.
    nonce: Option<String>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            sub: "00u-alice".into(),
            email: Some("alice@corp.example".into()),
            email_verified: true,
            groups: vec!["engineering".into()],
            other_key: false,
            token_issuer: None,
            nonce: None,
        }
    }
}

struct Issued {
    nonce: String,
    challenge: String,
    script: Script,
}

struct OpState {
    issuer: String,
    key: EcdsaKeyPair,
    other: EcdsaKeyPair,
    codes: Mutex<HashMap<String, Issued>>,
    tokens: Mutex<HashMap<String, Script>>,
    /// The token endpoint its discovery document names instead of its own.
    token_endpoint: Mutex<Option<String>>,
    /// How many token requests reached it.
    token_requests: std::sync::atomic::AtomicUsize,
}

struct FakeOp {
    issuer: String,
    state: Arc<OpState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn p256() -> EcdsaKeyPair {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap()
}

fn sign_es256(key: &EcdsaKeyPair, claims: &Value) -> String {
    let header = b64url(json!({ "alg": "ES256", "kid": "k1", "typ": "JWT" }).to_string().as_bytes());
    let payload = b64url(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let sig = key.sign(&rng, input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(sig.as_ref()))
}

impl FakeOp {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(OpState {
            issuer: issuer.clone(),
            key: p256(),
            other: p256(),
            codes: Mutex::default(),
            tokens: Mutex::default(),
            token_endpoint: Mutex::default(),
            token_requests: Default::default(),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(op_discovery))
            .route("/jwks", get(op_jwks))
            .route("/token", post(op_token))
            .route("/userinfo", get(op_userinfo))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { issuer, state, task }
    }

    /// The upstream's side of the authorization: a code for the request the browser was
    /// sent with, answering with `script`.
    fn approve(&self, upstream_url: &str, script: Script) -> String {
        assert!(upstream_url.starts_with(&format!("{}/authorize?", self.issuer)), "{upstream_url}");
        assert_eq!(query_param(upstream_url, "response_type").as_deref(), Some("code"));
        assert_eq!(query_param(upstream_url, "code_challenge_method").as_deref(), Some("S256"));
        assert!(query_param(upstream_url, "scope").unwrap().split(' ').any(|s| s == "openid"));
        let code = random_token(16);
        let issued = Issued {
            nonce: query_param(upstream_url, "nonce").expect("a nonce"),
            challenge: query_param(upstream_url, "code_challenge").expect("PKCE"),
            script,
        };
        self.state.codes.lock().unwrap().insert(code.clone(), issued);
        code
    }
}

async fn op_discovery(State(s): State<Arc<OpState>>) -> Json<Value> {
    let i = &s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": s.token_endpoint.lock().unwrap().clone().unwrap_or_else(|| format!("{i}/token")),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
}

async fn op_jwks(State(s): State<Arc<OpState>>) -> Json<Value> {
    let public = s.key.public_key().as_ref();
    Json(json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": b64url(&public[1..33]), "y": b64url(&public[33..65]),
    }]}))
}

async fn op_token(
    State(s): State<Arc<OpState>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> axum::response::Response {
    s.token_requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let refuse = |e: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&basic_header("tessera", "upstream-secret")) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_client" }))).into_response();
    }
    let Some(issued) = f.get("code").and_then(|c| s.codes.lock().unwrap().remove(c)) else {
        return refuse("invalid_grant");
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    if b64url(&sha256(verifier.as_bytes())) != issued.challenge {
        return refuse("invalid_grant");
    }
    let sc = issued.script;
    let now = tessera::crypto::now();
    let claims = json!({
        "iss": sc.token_issuer.clone().unwrap_or_else(|| s.issuer.clone()),
        "sub": sc.sub,
        "aud": "tessera",
        "iat": now,
        "exp": now + 300,
        "nonce": sc.nonce.clone().unwrap_or(issued.nonce),
    });
    let id_token = sign_es256(if sc.other_key { &s.other } else { &s.key }, &claims);
    let access = random_token(16);
    s.tokens.lock().unwrap().insert(access.clone(), sc);
    Json(json!({ "access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token }))
        .into_response()
}

async fn op_userinfo(State(s): State<Arc<OpState>>, headers: HeaderMap) -> axum::response::Response {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(sc) = token.and_then(|t| s.tokens.lock().unwrap().get(t).cloned()) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    Json(json!({
        "sub": sc.sub,
        "email": sc.email,
        "email_verified": sc.email_verified,
        "name": "Alice Upstream",
        "preferred_username": "alice.corp",
        "groups": sc.groups,
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// The Tessera under test
// ---------------------------------------------------------------------------------------------

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    app.admin_api(&basic_header("root", PASSWORD), method, path, body).await
}

/// Tessera with an Instance Admin `root`, a client `app`, a role `viewer` (FLOW:READ) bound
/// to the group `eng` on the namespace `prod`, and the connection `corp` to `issuer`.
async fn downstream(b: Backend, issuer: &str, client_id: &str, secret: &str, tweak: Value) -> TestApp {
    let app = TestApp::new(b).await;
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
    app.client("app", false, |_| {}).await;
    for (path, body) in [
        ("/default/roles", json!({ "id": "viewer", "name": "Viewer", "permissions": ["FLOW:READ"] })),
        ("/default/groups", json!({ "id": "eng", "name": "Engineering" })),
        (
            "/default/bindings",
            json!({ "role_id": "viewer", "principal_kind": "group", "principal_id": "eng", "namespaces": ["prod"] }),
        ),
    ] {
        let (s, v) = admin(&app, Method::POST, path, Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{path}: {v}");
    }
    let mut conn = json!({
        "id": "corp",
        "name": "Corp SSO",
        "issuer": issuer,
        "client_id": client_id,
        "client_secret": secret,
        "group_mappings": [{ "upstream": "engineering", "group": "eng" }],
    });
    for (k, v) in tweak.as_object().unwrap() {
        conn[k] = v.clone();
    }
    let (s, v) = admin(&app, Method::POST, "/default/identity-providers", Some(conn)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["client_secret_set"], true);
    assert!(v.get("client_secret").is_none(), "the secret is never returned");
    app
}

/// A sign-in in progress at the Tessera under test: the pending request and the browser's
/// cookies.
struct Browser {
    request: String,
    csrf: String,
    fed_cookie: Option<String>,
    verifier: String,
    /// The pre-session cookie set at /authorize.
    browser: Option<String>,
}

async fn open_login(app: &TestApp, extra: &[(&str, &str)]) -> (Browser, String) {
    let (verifier, challenge) = pkce();
    let mut params = vec![
        ("client_id", "app"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email"),
        ("state", "st"),
        ("nonce", "n0nce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let res = app.get(&format!("/authorize?{}", form(&params))).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let loc = location(&res);
    assert!(loc.starts_with("login?"), "{loc}");
    let browser = browser_cookie(&res);
    let res = app.get(&format!("/{loc}")).await;
    let status = res.status();
    // The upstream's redirect back carries both cookies (SameSite=Lax).
    let fed_cookie = set_cookie_named(&res, "tessera_fed").and_then(|f| with_cookie(Some(&f), browser.clone()));
    let loc = if status == StatusCode::SEE_OTHER { location(&res) } else { String::new() };
    let page = if status == StatusCode::OK { body_text(res).await } else { String::new() };
    let b = Browser {
        request: if page.is_empty() { String::new() } else { hidden(&page, "request") },
        csrf: if page.is_empty() { String::new() } else { hidden(&page, "csrf") },
        fed_cookie,
        verifier,
        browser,
    };
    (b, if page.is_empty() { loc } else { page })
}

/// Clicks the connection's button: returns the upstream authorization URL.
async fn click(app: &TestApp, b: &mut Browser, connection: &str) -> String {
    let fields = [("request", b.request.as_str()), ("csrf", &b.csrf), ("connection", connection)];
    let res = app.post_form_cookie("/login/federated", &fields, None, b.browser.as_deref()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body_text(res).await);
    b.fed_cookie = set_cookie_named(&res, "tessera_fed").and_then(|f| with_cookie(Some(&f), b.browser.clone()));
    assert!(b.fed_cookie.as_deref().unwrap().starts_with("tessera_fed="));
    location(&res)
}

/// The upstream sends the browser back.
async fn callback(
    app: &TestApp,
    cookie: Option<&str>,
    query: &[(&str, &str)],
) -> axum::http::Response<axum::body::Body> {
    app.get_with_cookie(&format!("/login/federated/callback?{}", form(query)), cookie).await
}

/// Back at the client: exchanges the code and returns the access token's claims and the
/// session cookie.
async fn finish_at_client(
    app: &TestApp,
    res: axum::http::Response<axum::body::Body>,
    verifier: &str,
) -> (Value, String) {
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body_text(res).await);
    let session = set_cookie(&res).expect("a session cookie");
    assert!(session.starts_with("tessera_session="), "{session}");
    let loc = location(&res);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let code = query_param(&loc, "code").unwrap_or_else(|| panic!("no code: {loc}"));
    let (status, tokens) = app.exchange("app", &code, verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (_, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["fed"]));
    (claims, session)
}

async fn page_of(res: axum::http::Response<axum::body::Body>) -> (StatusCode, String) {
    let s = res.status();
    (s, body_text(res).await)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// A second Tessera as the upstream, driven through its own login page.
async fn tessera_upstream_story(b: Backend) {
    // The upstream: its own stores, keys and issuer, served on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let issuer = up_issuer.clone();
    let up = TestApp::with_config(b, |c| c.server.issuer = issuer).await;
    let router = up.router.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    let alice_up = up.user("alice").await;
    let callback_uri = format!("{ISSUER}/login/federated/callback");
    up.client("tessera", false, |c| {
        c.redirect_uris = vec![callback_uri.clone()];
        c.post_logout_redirect_uris = vec![format!("{ISSUER}/login/federated/logged-out")];
        c.scopes.push("groups".into());
    })
    .await;
    // Upstream, alice is in the group "Platform Engineering"; its `groups` claim (userinfo,
    // scope `groups`) carries group names.
    let group = tessera::store::Group {
        tenant_id: DEFAULT_TENANT.into(),
        id: "platform".into(),
        name: "Platform Engineering".into(),
        description: None,
        created_at: 0,
    };
    up.stores.groups.create_group(&group).await.unwrap();
    up.stores.groups.add_member(DEFAULT_TENANT, "platform", MemberKind::User, &alice_up.id, 0).await.unwrap();
    let app = downstream(
        b,
        &up_issuer,
        "tessera",
        "s3cret-tessera",
        json!({
            "scopes": ["openid", "profile", "email", "groups"],
            "group_mappings": [{ "upstream": "Platform Engineering", "group": "eng" }],
        }),
    )
    .await;

    // The login page offers the connection.
    let (mut br, page) = open_login(&app, &[]).await;
    assert!(page.contains("Sign in with Corp SSO"), "{page}");
    let upstream_url = click(&app, &mut br, "default/corp").await;
    assert!(upstream_url.starts_with(&format!("{up_issuer}/authorize?")), "{upstream_url}");
    // The person signs in at the upstream (its own login page, in process).
    let path = upstream_url.strip_prefix(&up_issuer).unwrap();
    let (back, _) = up.authorize_path(path, "alice").await;
    assert!(back.starts_with(&callback_uri), "{back}");
    let query = back.split_once('?').unwrap().1;
    let res = app.get_with_cookie(&format!("/login/federated/callback?{query}"), br.fed_cookie.as_deref()).await;
    let (claims, session) = finish_at_client(&app, res, &br.verifier).await;
    // Just-in-time: a new user, homed in the connection's tenant, member of `eng` by mapping.
    let user = app.stores.users.find_user_by_username_any("alice").await.unwrap().expect("provisioned");
    assert_eq!(user.tenant_id, DEFAULT_TENANT);
    assert_eq!(user.email.as_deref(), Some("alice@example.com"));
    assert_ne!(user.id, alice_up.id, "Tessera's own id, not the upstream's");
    assert_eq!(claims["sub"], user.id);
    assert_eq!(claims["rb"]["n"].as_object().unwrap().values().next().unwrap(), &json!(["prod"]), "{claims}");
    let epoch = claims["ep"].as_i64().unwrap();

    // Upstream, alice leaves the group and is renamed: the next sign-in leaves `eng`.
    up.stores.groups.remove_member(DEFAULT_TENANT, "platform", MemberKind::User, &alice_up.id, 1).await.unwrap();
    up.stores.users.update_profile(&alice_up.id, Some("Alice Renamed")).await.unwrap();
    let (mut br, _) = open_login(&app, &[("prompt", "login")]).await;
    let upstream_url = click(&app, &mut br, "default/corp").await;
    let path = upstream_url.strip_prefix(&up_issuer).unwrap();
    let (back, _) = up.authorize_path(path, "alice").await;
    let query = back.split_once('?').unwrap().1;
    let res = app.get_with_cookie(&format!("/login/federated/callback?{query}"), br.fed_cookie.as_deref()).await;
    let (claims, _) = finish_at_client(&app, res, &br.verifier).await;
    assert!(claims.get("rb").is_none() || claims["rb"].get("n").is_none(), "no more bindings: {claims}");
    assert!(claims["ep"].as_i64().unwrap() > epoch, "the binding epoch moved");
    let again = app.stores.users.find_user_by_username_any("alice").await.unwrap().unwrap();
    assert_eq!(again.id, user.id, "the same user, found by its link");
    assert_eq!(again.name.as_deref(), Some("Alice Renamed"), "profile updated at sign-in");

    // RP-initiated logout at Tessera goes through the upstream's end-session endpoint, and
    // comes back where the application asked.
    let bye = "https%3A%2F%2Fapp.test%2Fbye";
    let res = app
        .get_with_cookie(&format!("/logout?client_id=app&post_logout_redirect_uri={bye}&state=s1"), Some(&session))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "a confirmation page (no id_token_hint)");
    let page = body_text(res).await;
    let res = app
        .post_form_cookie(
            "/logout",
            &[("request", &hidden(&page, "request")), ("csrf", &hidden(&page, "csrf"))],
            None,
            Some(&session),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to_upstream = location(&res);
    assert!(to_upstream.starts_with(&format!("{up_issuer}/logout?")), "{to_upstream}");
    assert!(query_param(&to_upstream, "id_token_hint").is_some(), "{to_upstream}");
    assert_eq!(query_param(&to_upstream, "client_id").as_deref(), Some("tessera"));
    let back = query_param(&to_upstream, "post_logout_redirect_uri").unwrap();
    assert_eq!(back, format!("{ISSUER}/login/federated/logged-out"));
    // The upstream Tessera accepts its own ID token as the hint and sends the browser back.
    let res = up.get(to_upstream.strip_prefix(&up_issuer).unwrap()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body_text(res).await);
    let returned = location(&res);
    assert!(returned.starts_with(&back), "{returned}");
    let res = app.get(returned.strip_prefix(ISSUER).unwrap()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "https://app.test/bye?state=s1");
    // The return is single-use.
    let res = app.get(returned.strip_prefix(ISSUER).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK, "the signed-out page, no redirect");

    // Deprovisioned (disabled, as SCIM's active=false does): refused, with a clear page.
    app.stores.users.set_disabled(&user.id, true).await.unwrap();
    let (mut br, _) = open_login(&app, &[("prompt", "login")]).await;
    let upstream_url = click(&app, &mut br, "default/corp").await;
    let path = upstream_url.strip_prefix(&up_issuer).unwrap();
    let (back, _) = up.authorize_path(path, "alice").await;
    let query = back.split_once('?').unwrap().1;
    let (status, page) =
        page_of(app.get_with_cookie(&format!("/login/federated/callback?{query}"), br.fed_cookie.as_deref()).await)
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("disabled"), "{page}");
    server.abort();
}

async fn upstream_error_and_state_failures(b: Backend) {
    let op = FakeOp::start().await;
    let app = downstream(b, &op.issuer, "tessera", "upstream-secret", json!({})).await;

    // The upstream answers an error (the person denied consent).
    let (mut br, _) = open_login(&app, &[]).await;
    let url = click(&app, &mut br, "default/corp").await;
    let state = query_param(&url, "state").unwrap();
    let res = callback(
        &app,
        br.fed_cookie.as_deref(),
        &[("state", &state), ("error", "access_denied"), ("error_description", "The user said no <script>")],
    )
    .await;
    let (status, page) = page_of(res).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("Corp SSO refused the sign-in: access_denied (The user said no &lt;script&gt;)"), "{page}");
    // The round trip is single-use: the same state again is unknown.
    let (status, page) =
        page_of(callback(&app, br.fed_cookie.as_deref(), &[("state", &state), ("code", "x")]).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("unknown or has expired"), "{page}");

    // A wrong state.
    let (mut br, _) = open_login(&app, &[]).await;
    let url = click(&app, &mut br, "default/corp").await;
    let code = op.approve(&url, Script::default());
    let (status, _) =
        page_of(callback(&app, br.fed_cookie.as_deref(), &[("state", "forged"), ("code", &code)]).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = page_of(callback(&app, br.fed_cookie.as_deref(), &[("code", &code)]).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no state at all");

    // The right state in another browser (no cookie, or another's): refused, and used up.
    let (mut br, _) = open_login(&app, &[]).await;
    let url = click(&app, &mut br, "default/corp").await;
    let state = query_param(&url, "state").unwrap();
    let code = op.approve(&url, Script::default());
    let (status, page) =
        page_of(callback(&app, Some("tessera_fed=someone-else"), &[("state", &state), ("code", &code)]).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("another browser"), "{page}");
    let (status, _) =
        page_of(callback(&app, br.fed_cookie.as_deref(), &[("state", &state), ("code", &code)]).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the state was used up");

    // RFC 9207: an `iss` naming another issuer.
    let (mut br, _) = open_login(&app, &[]).await;
    let url = click(&app, &mut br, "default/corp").await;
    let state = query_param(&url, "state").unwrap();
    let code = op.approve(&url, Script::default());
    let q = [("state", state.as_str()), ("code", code.as_str()), ("iss", "https://evil.example")];
    let (status, _) = page_of(callback(&app, br.fed_cookie.as_deref(), &q).await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);

    // Nothing was provisioned by any of these, and each refusal left an audit trace.
    assert!(app.stores.users.find_user_by_email_any("alice@corp.example").await.unwrap().is_none());

    // The same flow done right succeeds.
    let (mut br, _) = open_login(&app, &[]).await;
    let url = click(&app, &mut br, "default/corp").await;
    let state = query_param(&url, "state").unwrap();
    let code = op.approve(&url, Script::default());
    let res = callback(&app, br.fed_cookie.as_deref(), &[("state", &state), ("code", &code)]).await;
    let (claims, _) = finish_at_client(&app, res, &br.verifier).await;
    assert!(claims["rb"]["n"].to_string().contains("prod"), "{claims}");
}

async fn run_with(app: &TestApp, op: &FakeOp, script: Script) -> (StatusCode, String, Browser) {
    run_at(app, op, "default/corp", script).await
}

/// [`run_with`] through the login page's button `connection` (`{tenant}/{id}`).
async fn run_at(app: &TestApp, op: &FakeOp, connection: &str, script: Script) -> (StatusCode, String, Browser) {
    let (mut br, _) = open_login(app, &[]).await;
    let url = click(app, &mut br, connection).await;
    let state = query_param(&url, "state").unwrap();
    let code = op.approve(&url, script);
    let res = callback(app, br.fed_cookie.as_deref(), &[("state", &state), ("code", &code)]).await;
    let status = res.status();
    if status == StatusCode::SEE_OTHER {
        return (status, location(&res), br);
    }
    (status, body_text(res).await, br)
}

async fn bad_id_tokens_are_refused(b: Backend) {
    let op = FakeOp::start().await;
    let app = downstream(b, &op.issuer, "tessera", "upstream-secret", json!({})).await;
    let cases = [
        ("a wrong nonce", Script { nonce: Some("replayed".into()), ..Script::default() }),
        ("another key", Script { other_key: true, ..Script::default() }),
        ("another issuer", Script { token_issuer: Some("https://evil.example".into()), ..Script::default() }),
    ];
    for (what, script) in cases {
        let (status, page, _) = run_with(&app, &op, script).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{what}: {page}");
        assert!(page.contains("Corp SSO answered something Tessera cannot accept"), "{what}: {page}");
        assert!(!page.contains("nonce") && !page.contains("signature"), "no internals on the page: {page}");
    }
    assert!(app.stores.users.find_user_by_email_any("alice@corp.example").await.unwrap().is_none());
    let (status, _, _) = run_with(&app, &op, Script::default()).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "a good token still works");
}

/// A discovery document that names endpoints on internal addresses (server-side request
/// forgery through the upstream's own metadata): Tessera never calls them.
async fn endpoints_on_internal_addresses_are_never_called(b: Backend) {
    let op = FakeOp::start().await;
    let port = op.issuer.rsplit(':').next().unwrap().to_string();
    for endpoint in [
        "https://169.254.169.254/latest/meta-data".to_string(),
        "https://10.0.0.7/token".to_string(),
        // The same fake provider, but over http on a name that is not loopback-only.
        format!("http://127.0.0.1.nip.io:{port}/token"),
    ] {
        *op.state.token_endpoint.lock().unwrap() = Some(endpoint.clone());
        let app = downstream(b, &op.issuer, "tessera", "upstream-secret", json!({})).await;
        let (status, page, _) = run_with(&app, &op, Script::default()).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{endpoint}: {page}");
        assert!(page.contains("Corp SSO answered something Tessera cannot accept"), "{endpoint}: {page}");
        assert!(app.stores.users.find_user_by_email_any("alice@corp.example").await.unwrap().is_none());
    }
    assert_eq!(op.state.token_requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}

async fn email_domains_linking_and_discovery(b: Backend) {
    let op = FakeOp::start().await;
    let app = downstream(
        b,
        &op.issuer,
        "tessera",
        "upstream-secret",
        json!({ "email_domains": ["corp.example"], "link": "verified_email" }),
    )
    .await;
    // An address outside the connection's domains is refused.
    let outsider =
        Script { sub: "00u-mallory".into(), email: Some("mallory@elsewhere.example".into()), ..Script::default() };
    let (status, page, _) = run_with(&app, &op, outsider).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("not in a domain that may sign in through Corp SSO"), "{page}");
    let no_email = Script { sub: "00u-noemail".into(), email: None, ..Script::default() };
    assert_eq!(run_with(&app, &op, no_email).await.0, StatusCode::FORBIDDEN);

    // An existing local user with the same, verified, email is linked (the policy allows it).
    let bob = app.user("bob").await;
    app.stores.federation.find_identity("default", "corp", "00u-bob", 0).await.unwrap();
    app.stores.scim.update_user_identity(&bob.id, "bob", Some("bob@corp.example"), None).await.unwrap();
    let unverified = Script {
        sub: "00u-bob".into(),
        email: Some("bob@corp.example".into()),
        email_verified: false,
        ..Script::default()
    };
    let (status, page, _) = run_with(&app, &op, unverified).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an unverified email never links: {page}");
    // A tenant's provider is untrusted input: it links an existing account only once the
    // account proves it is the same person, by signing in here with its own credentials.
    let verified = Script { sub: "00u-bob".into(), email: Some("bob@corp.example".into()), ..Script::default() };
    let (mut br, _) = open_login(&app, &[]).await;
    let url = click(&app, &mut br, "default/corp").await;
    let state = query_param(&url, "state").unwrap();
    let code = op.approve(&url, verified.clone());
    let res = callback(&app, br.fed_cookie.as_deref(), &[("state", &state), ("code", &code)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let link = set_cookie_named(&res, "tessera_link").expect("a cookie binding the link to this browser");
    let page = body_text(res).await;
    assert!(page.contains("Link your Corp SSO sign-in"), "{page}");
    assert!(!page.contains("bob"), "the page never names the account: {page}");
    let linked = || async { app.stores.federation.find_identity("default", "corp", "00u-bob", 1).await.unwrap() };
    assert_eq!(linked().await, None, "no link before the proof");
    let cookies = with_cookie(Some(&link), br.browser.clone()).unwrap();
    let csrf = hidden(&page, "csrf");
    let zed = app.user("zed").await;
    for (what, user, password, csrf, cookie) in [
        ("a wrong password", "bob", "wrong password!", csrf.as_str(), Some(cookies.as_str())),
        ("another account's own credentials", zed.username.as_str(), PASSWORD, &csrf, Some(&cookies)),
        ("a forged anti-CSRF value", "bob", PASSWORD, "forged", Some(&cookies)),
        ("another browser", "bob", PASSWORD, &csrf, br.browser.as_deref()),
    ] {
        let fields = [("csrf", csrf), ("username", user), ("password", password)];
        let res = app.post_form_cookie("/login/federated/link", &fields, None, cookie).await;
        let status = res.status();
        assert!(status == StatusCode::OK || status.is_client_error(), "{what}: {status}");
        assert!(set_cookie_named(&res, "tessera_session").is_none(), "{what}: signed in");
        assert_eq!(linked().await, None, "{what}: linked");
    }
    let fields = [("csrf", csrf.as_str()), ("username", "bob"), ("password", PASSWORD)];
    let res = app.post_form_cookie("/login/federated/link", &fields, None, Some(&cookies)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body_text(res).await);
    assert!(location(&res).starts_with(REDIRECT), "{}", location(&res));
    assert_eq!(linked().await, Some(bob.id.clone()));
    // From now on the provider signs bob in directly.
    let (status, loc, _) = run_with(&app, &op, verified.clone()).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{loc}");
    // An instance-wide provider, which only an Instance Admin sets up, with linking explicitly
    // on, does link the verified e-mail.
    let all = json!({
        "id": "corp-all", "name": "Corp (instance)", "issuer": op.issuer, "client_id": "tessera",
        "client_secret": "upstream-secret", "link": "verified_email", "jit": false,
    });
    let (s, v) = admin(&app, Method::POST, "/identity-providers", Some(all)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (status, loc, _) = run_at(&app, &op, "*/corp-all", verified).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{loc}");
    assert_eq!(app.stores.federation.find_identity("*", "corp-all", "00u-bob", 1).await.unwrap(), Some(bob.id.clone()));
    let (s, _) = admin(&app, Method::DELETE, "/identity-providers/corp-all", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Home-realm discovery: typing a corp.example address on the login page goes upstream.
    let (br, _) = open_login(&app, &[]).await;
    let res = app
        .post_form_cookie(
            "/login",
            &[("request", &br.request), ("csrf", &br.csrf), ("username", "carol@corp.example")],
            None,
            br.browser.as_deref(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let url = location(&res);
    assert!(url.starts_with(&format!("{}/authorize?", op.issuer)), "{url}");
    assert_eq!(query_param(&url, "login_hint").as_deref(), Some("carol@corp.example"));
    // Other addresses still sign in with a password.
    let res = app
        .post_form_cookie(
            "/login",
            &[("request", &br.request), ("csrf", &br.csrf), ("username", "bob"), ("password", PASSWORD)],
            None,
            br.browser.as_deref(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with(REDIRECT));

    // idp_hint skips the login page.
    let (br, url) = open_login(&app, &[("idp_hint", "corp")]).await;
    assert!(url.starts_with(&format!("{}/authorize?", op.issuer)), "{url}");
    assert!(br.fed_cookie.is_some());
    let (_, page) = open_login(&app, &[("idp_hint", "nope")]).await;
    assert!(page.is_empty() || page.contains("not offered"), "{page}");

    // Without a linking policy, an existing account is never taken over.
    let (s, v) = admin(&app, Method::GET, "/default/identity-providers/corp", None).await;
    assert_eq!(s, StatusCode::OK);
    let mut body = v.clone();
    for k in ["tenant", "client_secret_set", "redirect_uri", "post_logout_redirect_uri", "created_at", "updated_at"] {
        body.as_object_mut().unwrap().remove(k);
    }
    body["link"] = json!("never");
    let (s, v) = admin(&app, Method::PUT, "/default/identity-providers/corp", Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let dave = app.user("dave").await;
    app.stores.scim.update_user_identity(&dave.id, "dave", Some("dave@corp.example"), None).await.unwrap();
    let takeover = Script { sub: "00u-dave".into(), email: Some("dave@corp.example".into()), ..Script::default() };
    let (status, page, _) = run_with(&app, &op, takeover).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("already exists"), "{page}");
    // The stored secret survived the replacement without one.
    let (status, _, _) = run_with(
        &app,
        &op,
        Script { sub: "00u-erin".into(), email: Some("erin@corp.example".into()), ..Script::default() },
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

async fn unreachable_provider_is_a_clear_page(b: Backend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = downstream(b, &format!("http://127.0.0.1:{port}"), "tessera", "x", json!({})).await;
    let (br, _) = open_login(&app, &[]).await;
    let res = app
        .post_form_cookie(
            "/login/federated",
            &[("request", &br.request), ("csrf", &br.csrf), ("connection", "default/corp")],
            None,
            br.browser.as_deref(),
        )
        .await;
    let (status, page) = page_of(res).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(page.contains("Corp SSO could not be reached"), "{page}");
    // A forged anti-CSRF token or an unknown connection: a page, not a redirect.
    let res = app
        .post_form_cookie(
            "/login/federated",
            &[("request", &br.request), ("csrf", "forged"), ("connection", "default/corp")],
            None,
            br.browser.as_deref(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .post_form_cookie(
            "/login/federated",
            &[("request", &br.request), ("csrf", &br.csrf), ("connection", "default/other")],
            None,
            br.browser.as_deref(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

async fn identity_providers_admin_api(b: Backend) {
    let app = downstream(b, "https://sso.corp.example", "tessera", "s", json!({})).await;
    let (s, v) = admin(&app, Method::GET, "/default/identity-providers", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let item = &v["items"][0];
    assert_eq!(item["redirect_uri"], format!("{ISSUER}/login/federated/callback"));
    assert!(!item.to_string().contains("\"s\""), "no secret: {item}");
    // Validation errors name the field.
    for (body, field) in [
        (
            json!({ "id": "x", "name": "X", "issuer": "http://sso.example", "client_id": "c", "client_secret": "s" }),
            "issuer",
        ),
        (json!({ "id": "x", "name": "X", "issuer": "https://sso.example", "client_id": "c" }), "client_secret"),
        (
            json!({ "id": "x y", "name": "X", "issuer": "https://sso.example", "client_id": "c", "client_secret": "s" }),
            "id",
        ),
        (
            json!({ "id": "x", "name": "X", "issuer": "https://sso.example", "client_id": "c", "client_secret": "s", "email_domains": ["not a domain"] }),
            "email_domains",
        ),
        (
            json!({ "id": "x", "name": "X", "issuer": "https://sso.example", "client_id": "c", "client_secret": "s", "group_mappings": [{ "upstream": "a", "group": "missing" }] }),
            "group_mappings/0/group",
        ),
    ] {
        let (s, v) = admin(&app, Method::POST, "/default/identity-providers", Some(body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v.to_string().contains(field), "{field}: {v}");
    }
    let (s, _) = admin(&app, Method::POST, "/default/identity-providers", Some(json!({ "nope": 1 }))).await;
    assert!(s.is_client_error());
    let dup =
        json!({ "id": "corp", "name": "X", "issuer": "https://sso.example", "client_id": "c", "client_secret": "s" });
    assert_eq!(admin(&app, Method::POST, "/default/identity-providers", Some(dup)).await.0, StatusCode::CONFLICT);

    // Instance-wide providers need Instance Admin and a home tenant for the users they create.
    let inst = json!({ "id": "google", "name": "Google", "issuer": "https://accounts.google.example", "client_id": "c", "client_secret": "s" });
    let (s, v) = admin(&app, Method::POST, "/identity-providers", Some(inst.clone())).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let mut inst = inst;
    inst["home_tenant"] = json!("default");
    assert_eq!(admin(&app, Method::POST, "/identity-providers", Some(inst)).await.0, StatusCode::CREATED);
    // Both are offered on the default tenant's login page.
    let (_, page) = open_login(&app, &[]).await;
    assert!(page.contains("Sign in with Corp SSO") && page.contains("Sign in with Google"), "{page}");

    // Tenant isolation: a Tenant Admin of another tenant sees and touches none of it.
    let (s, _) = admin(&app, Method::POST, "/tenants", Some(json!({ "id": "globex", "name": "Globex" }))).await;
    assert_eq!(s, StatusCode::CREATED);
    let eve = app.user("eve").await;
    app.stores.access.grant_access("globex", MemberKind::User, &eve.id, 0).await.unwrap();
    let b = json!({ "role_id": "admin", "principal_kind": "user", "principal_id": eve.id });
    assert_eq!(admin(&app, Method::POST, "/globex/bindings", Some(b)).await.0, StatusCode::CREATED);
    let eve_auth = basic_header("eve", PASSWORD);
    let (s, v) = app.admin_api(&eve_auth, Method::GET, "/globex/identity-providers", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["items"], json!([]));
    for (m, path) in [
        (Method::GET, "/default/identity-providers"),
        (Method::GET, "/default/identity-providers/corp"),
        (Method::DELETE, "/default/identity-providers/corp"),
    ] {
        // eve is a plain member of `default` (her home): forbidden there, as for anyone
        // without Tenant Admin; never a listing.
        let (s, _) = app.admin_api(&eve_auth, m, path, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (s, _) = app.admin_api(&eve_auth, Method::GET, "/identity-providers", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.admin_api(&eve_auth, Method::GET, "/globex/identity-providers/corp", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A user without Tenant Admin in a tenant cannot manage its providers.
    app.user("frank").await;
    let (s, _) =
        app.admin_api(&basic_header("frank", PASSWORD), Method::GET, "/default/identity-providers", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    assert_eq!(admin(&app, Method::DELETE, "/default/identity-providers/corp", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(admin(&app, Method::GET, "/default/identity-providers/corp", None).await.0, StatusCode::NOT_FOUND);
}

/// Each `FederationStore` method, called with another tenant, reaches nothing of this one's.
async fn store_keeps_tenants_apart(b: Backend) {
    let app = TestApp::new(b).await;
    let fed = &app.stores.federation;
    let conn = tessera::store::Connection {
        tenant_id: DEFAULT_TENANT.into(),
        id: "corp".into(),
        name: "Corp".into(),
        issuer: "https://sso.corp.example".into(),
        client_id: "c".into(),
        client_secret_sealed: Some("v1.sealed".into()),
        settings: Default::default(),
        enabled: true,
        created_at: 1,
        updated_at: 1,
    };
    fed.create_connection(&conn).await.unwrap();
    let mut other = conn.clone();
    other.tenant_id = "globex".into();
    // The same id in another tenant (or the instance) is another connection.
    fed.create_connection(&other).await.unwrap();
    let alice = app.user("alice").await;
    fed.link_identity(DEFAULT_TENANT, "corp", "sub-1", &alice.id, 2).await.unwrap();

    assert_eq!(fed.list_connections(DEFAULT_TENANT).await.unwrap().len(), 1);
    assert!(fed.list_connections("acme").await.unwrap().is_empty());
    assert!(fed.get_connection("acme", "corp").await.unwrap().is_none());
    assert!(fed.find_identity("globex", "corp", "sub-1", 3).await.unwrap().is_none());
    assert_eq!(fed.find_identity(DEFAULT_TENANT, "corp", "sub-1", 3).await.unwrap(), Some(alice.id.clone()));
    let mut changed = conn.clone();
    changed.tenant_id = "acme".into();
    assert!(matches!(fed.update_connection(&changed).await, Err(tessera::store::StoreError::NotFound)));
    assert!(matches!(fed.delete_connection("acme", "corp").await, Err(tessera::store::StoreError::NotFound)));
    // Deleting globex's connection leaves the default tenant's and its links alone.
    fed.delete_connection("globex", "corp").await.unwrap();
    assert!(fed.get_connection(DEFAULT_TENANT, "corp").await.unwrap().is_some());
    assert_eq!(fed.find_identity(DEFAULT_TENANT, "corp", "sub-1", 4).await.unwrap(), Some(alice.id.clone()));
    // A link is unique per connection; deleting the connection removes its links.
    assert!(matches!(
        fed.link_identity(DEFAULT_TENANT, "corp", "sub-1", &alice.id, 5).await,
        Err(tessera::store::StoreError::Conflict(_))
    ));
    fed.delete_connection(DEFAULT_TENANT, "corp").await.unwrap();
    assert!(fed.find_identity(DEFAULT_TENANT, "corp", "sub-1", 6).await.unwrap().is_none());
}

/// A hostile upstream: a tenant's provider, whose answers that tenant's admin controls, asserts
/// any verified e-mail it likes. It signs in no account outside its tenant's authority (an
/// Instance Admin, an account holding anything in another tenant), links none by e-mail
/// without the account's own sign-in,
/// changes none of their profiles, and an account it was linked to stops signing in through it
/// once the account gains standing elsewhere. A pending password change blocks it too.
async fn hostile_upstream_signs_in_no_account_outside_its_authority(b: Backend) {
    let op = FakeOp::start().await;
    let app = downstream(b, &op.issuer, "tessera", "upstream-secret", json!({ "link": "verified_email" })).await;
    let (s, v) = admin(&app, Method::POST, "/tenants", Some(json!({ "id": "globex", "name": "Globex" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let carol = app.user("carol").await;
    let bind = json!({ "role_id": "admin", "principal_kind": "user", "principal_id": carol.id });
    let (s, v) = admin(&app, Method::POST, "/globex/bindings", Some(bind)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let dave = app.user("dave").await;
    let root = app.stores.users.find_user_by_username_any("root").await.unwrap().unwrap();
    for (who, user, expected) in [
        ("the Instance Admin", &root, StatusCode::FORBIDDEN),
        ("globex's Tenant Admin", &carol, StatusCode::FORBIDDEN),
        // Under the tenant's authority: the account is asked to prove itself first.
        ("a user of the tenant", &dave, StatusCode::OK),
    ] {
        let sub = format!("00u-evil-{}", user.username);
        let script = Script { sub: sub.clone(), email: user.email.clone(), ..Script::default() };
        let (status, page, _) = run_with(&app, &op, script).await;
        assert_eq!(status, expected, "{who}: {page}");
        if expected == StatusCode::OK {
            assert!(page.contains("prove it is"), "{who}: {page}");
        }
        assert_eq!(app.stores.federation.find_identity("default", "corp", &sub, 1).await.unwrap(), None, "{who}");
        let after = app.stores.users.get_user_any(&user.id).await.unwrap().unwrap();
        assert_eq!((after.name, after.email), (user.name.clone(), user.email.clone()), "{who}: profile unchanged");
        assert!(app.stores.groups.groups_of("default", MemberKind::User, &user.id).await.unwrap().is_empty());
    }
    // An identity linked while its account belonged to the tenant only signs in...
    let erin = app.user("erin").await;
    app.stores.federation.link_identity("default", "corp", "00u-erin", &erin.id, 0).await.unwrap();
    let as_erin = Script { sub: "00u-erin".into(), email: erin.email.clone(), ..Script::default() };
    assert_eq!(run_with(&app, &op, as_erin.clone()).await.0, StatusCode::SEE_OTHER);
    // ...not once a pending password change is on the account...
    app.stores.users.require_password_change(&erin.id, true).await.unwrap();
    let (status, page, _) = run_with(&app, &op, as_erin.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("new password"), "{page}");
    app.stores.users.require_password_change(&erin.id, false).await.unwrap();
    // ...and not once the account holds more than the tenant: here, the Instance Admin role.
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &erin.id, 0).await.unwrap();
    let (status, page, _) = run_with(&app, &op, as_erin).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    // A new person is still created just in time, in the tenant.
    let new = Script { sub: "00u-frank".into(), email: Some("frank@corp.example".into()), ..Script::default() };
    assert_eq!(run_with(&app, &op, new).await.0, StatusCode::SEE_OTHER);
    let frank = app.stores.users.find_user_by_email_any("frank@corp.example").await.unwrap().unwrap();
    assert_eq!(frank.tenant_id, "default");
}
