//! Shared test support: both store backends, both state backends, and an in-process
//! application harness (`TestApp`) that drives the router with `oneshot`.
#![allow(dead_code)]

pub mod console;
pub mod kv;
pub mod mail;
pub mod spki;
pub mod store;
pub mod update;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use tessera::config::Config;
use tessera::crypto::{b64url, random_token, sha256};
use tessera::keys::KeySet;
use tessera::store::{Client, ClientAuthMethod, DEFAULT_TENANT, Stores, User};

pub const ISSUER: &str = "https://id.test";
pub const REDIRECT: &str = "https://app.test/callback";
pub const PASSWORD: &str = "correct horse battery";

/// The two backend pairs every protocol test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: SQLite and in-memory state.
    SqliteMemory,
    /// The production pair: PostgreSQL and Redis.
    PostgresRedis,
}

/// Generates one `#[tokio::test]` per backend pair for an `async fn(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::SqliteMemory).await }
            )*
        }
        mod postgres_redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::PostgresRedis).await }
            )*
        }
    };
}

/// Keys are costly to generate (RSA): one set per test binary.
pub fn keys() -> Arc<KeySet> {
    static KEYS: OnceLock<Arc<KeySet>> = OnceLock::new();
    KEYS.get_or_init(|| Arc::new(KeySet::ephemeral().expect("keys"))).clone()
}

/// An application on fresh stores, driven in process.
pub struct TestApp {
    pub router: Router,
    pub state: tessera::AppState,
    pub stores: Stores,
    pub config: Config,
    _dir: Option<tempfile::TempDir>,
    /// Where this app's mail goes (`mail.folder`), unless the test configured SMTP.
    pub mail_dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with_config(backend, |_| {}).await
    }

    pub async fn with_config(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::default();
        config.server.issuer = ISSUER.into();
        // Mail goes to a folder of this app's own, never to the working directory.
        let mail_dir = tempfile::tempdir().expect("mail folder");
        config.mail.folder = mail_dir.path().to_path_buf();
        tweak(&mut config);
        let (stores, kv, dir) = match backend {
            Backend::SqliteMemory => {
                let (stores, dir) = store::sqlite_stores().await;
                (stores, kv::memory_kv(), Some(dir))
            }
            Backend::PostgresRedis => (store::pg_stores().await, kv::redis_kv().await, None),
        };
        let state = tessera::server::state(&config, keys(), stores.clone(), kv);
        Self { router: tessera::app(state.clone()), state, stores, config, _dir: dir, mail_dir }
    }

    /// An application on stores and a state backend the test opened itself (a database behind
    /// a proxy the test controls, say).
    pub async fn on(stores: Stores, kv: Arc<dyn tessera::kv::Kv>) -> Self {
        let mut config = Config::default();
        config.server.issuer = ISSUER.into();
        let mail_dir = tempfile::tempdir().expect("mail folder");
        config.mail.folder = mail_dir.path().to_path_buf();
        let state = tessera::server::state(&config, keys(), stores.clone(), kv);
        Self { router: tessera::app(state.clone()), state, stores, config, _dir: None, mail_dir }
    }

    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(req).await.expect("infallible")
    }

    pub async fn get(&self, uri: &str) -> Response<Body> {
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    pub async fn get_with_cookie(&self, uri: &str, cookie: Option<&str>) -> Response<Body> {
        let mut b = Request::get(uri);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    pub async fn post_form(&self, uri: &str, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response<Body> {
        self.post_form_cookie(uri, pairs, basic, None).await
    }

    pub async fn post_form_cookie(
        &self,
        uri: &str,
        pairs: &[(&str, &str)],
        basic: Option<(&str, &str)>,
        cookie: Option<&str>,
    ) -> Response<Body> {
        let body = form(pairs);
        let mut b = Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            b = b.header(header::AUTHORIZATION, basic_header(id, secret));
        }
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    /// Registers a client. Confidential clients get the secret "s3cret-<id>".
    pub async fn client(&self, id: &str, public: bool, tweak: impl FnOnce(&mut Client)) -> Client {
        let mut c = Client {
            tenant_id: DEFAULT_TENANT.into(),
            client_id: id.into(),
            name: format!("App {id}"),
            secret_hash: (!public).then(|| tessera::crypto::hash_secret(&format!("s3cret-{id}"))),
            auth_method: if public { ClientAuthMethod::None } else { ClientAuthMethod::ClientSecretBasic },
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec!["https://app.test/bye".into()],
            grant_types: if public {
                vec!["authorization_code".into(), "refresh_token".into()]
            } else {
                vec!["authorization_code".into(), "refresh_token".into(), "client_credentials".into()]
            },
            scopes: vec![
                "openid".into(),
                "profile".into(),
                "email".into(),
                "offline_access".into(),
                "flows:read".into(),
            ],
            first_party: true,
            access_token_alg: "ES256".into(),
            id_token_alg: "RS256".into(),
            default_audience: Some("https://api.test".into()),
            allowed_audiences: vec!["https://other-api.test".into()],
            created_at: 0,
            service_account_id: None,
            jwks: None,
        };
        tweak(&mut c);
        self.stores.clients.create_client(&c).await.expect("create client");
        c
    }

    /// Creates a user `username` with [`PASSWORD`] homed in `tenant` (which must exist): it
    /// has access there only.
    pub async fn user_in(&self, tenant: &str, username: &str) -> User {
        let u = User {
            tenant_id: tenant.into(),
            id: random_token(12),
            username: username.into(),
            email: Some(format!("{username}@example.com")),
            email_verified: true,
            name: Some(format!("{username} Example")),
            password_hash: Some(password_hash()),
            disabled: false,
            password_change_required: false,
            created_at: 0,
        };
        self.stores.users.create_user(&u).await.expect("create user");
        u
    }

    /// A Tenant Admin of `tenant` (created if missing), homed there (the default tenant's:
    /// [`TestApp::user`]).
    pub async fn tenant_admin(&self, tenant: &str, username: &str) -> User {
        if self.stores.tenants.get_tenant(tenant).await.unwrap().is_none() {
            let t = tessera::store::Tenant {
                id: tenant.into(),
                name: format!("Tenant {tenant}"),
                created_at: 0,
                created_by: None,
            };
            self.stores.tenants.create_tenant(&t).await.unwrap();
        }
        let u = if tenant == DEFAULT_TENANT { self.user(username).await } else { self.user_in(tenant, username).await };
        let b = tessera::store::Binding {
            tenant_id: tenant.into(),
            id: random_token(9),
            role_id: tessera::store::TENANT_ADMIN_ROLE_ID.into(),
            principal_kind: tessera::store::PrincipalKind::User,
            principal_id: u.id.clone(),
            namespaces: vec![],
            created_at: 0,
            created_by: None,
        };
        self.stores.bindings.create_binding(&b).await.unwrap();
        u
    }

    /// Creates a user "alice" (or `username`) with [`PASSWORD`].
    pub async fn user(&self, username: &str) -> User {
        self.user_in(DEFAULT_TENANT, username).await
    }

    /// Runs /authorize with `params`, signs in as `username` if asked to, and returns the
    /// final redirect (to the client) and the browser's cookies (the session's and the
    /// pre-session cookie, which the consent form needs, as one `Cookie` header value).
    pub async fn authorize(
        &self,
        params: &[(&str, &str)],
        username: &str,
        cookie: Option<&str>,
    ) -> (String, Option<String>) {
        let res = self.get_with_cookie(&format!("/authorize?{}", form(params)), cookie).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "authorize: {}", body_text(res).await);
        let loc = location(&res);
        if !loc.starts_with("login?") {
            return (loc, with_cookie(cookie, browser_cookie(&res)));
        }
        // The pre-session cookie binds the login form to this "browser".
        let browser = browser_cookie(&res).expect("a pre-session cookie at /authorize");
        let page = body_text(self.get(&format!("/{loc}")).await).await;
        let request = hidden(&page, "request");
        let csrf = hidden(&page, "csrf");
        let res = self
            .post_form_cookie(
                "/login",
                &[("request", &request), ("csrf", &csrf), ("username", username), ("password", PASSWORD)],
                None,
                Some(&browser),
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "login: {}", body_text(res).await);
        let cookie = set_cookie(&res).map(|session| with_cookie(Some(&session), Some(browser)).unwrap_or(session));
        (location(&res), cookie)
    }

    /// Runs an authorization request given as a path with its query (`/authorize?...`, as
    /// a relying party built it), signing in as `username`: returns the final redirect.
    pub async fn authorize_path(&self, path_and_query: &str, username: &str) -> (String, Option<String>) {
        let query = path_and_query.strip_prefix("/authorize?").expect("an /authorize URL");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.authorize(&refs, username, None).await
    }

    /// The standard flow for a confidential client with PKCE: returns the code and verifier.
    pub async fn code_for(&self, client_id: &str, username: &str, scope: &str) -> (String, String) {
        let (verifier, challenge) = pkce();
        let (loc, _) = self
            .authorize(
                &[
                    ("client_id", client_id),
                    ("redirect_uri", REDIRECT),
                    ("response_type", "code"),
                    ("scope", scope),
                    ("state", "st"),
                    ("nonce", "n0nce"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
                username,
                None,
            )
            .await;
        (query_param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}")), verifier)
    }

    /// Signs `username` in at the confidential client `client_id` with [`code_request`]: the
    /// session cookie and the token response.
    pub async fn sign_in_with_tokens(&self, client_id: &str, username: &str) -> (String, serde_json::Value) {
        let (q, verifier) = code_request(client_id);
        let (loc, cookie) = self.authorize_path(&format!("/authorize?{q}"), username).await;
        let code = query_param(&loc, "code").unwrap_or_else(|| panic!("no code: {loc}"));
        let (status, tokens) = self.exchange(client_id, &code, &verifier).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        (cookie.expect("a session cookie"), tokens)
    }

    /// Exchanges a code at the token endpoint with the client's basic credentials.
    pub async fn exchange(&self, client_id: &str, code: &str, verifier: &str) -> (StatusCode, serde_json::Value) {
        let secret = format!("s3cret-{client_id}");
        let res = self
            .post_form(
                "/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                ],
                Some((client_id, &secret)),
            )
            .await;
        (res.status(), body_json(res).await)
    }

    /// Calls the admin API under `/api/v1` with an `Authorization` header value; every error
    /// must be problem JSON. Returns the status and the JSON body (`Null` when empty).
    pub async fn admin_api(
        &self,
        authorization: &str,
        method: axum::http::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header(header::AUTHORIZATION, authorization);
        let body = match body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let res = self.send(b.body(body).unwrap()).await;
        let status = res.status();
        let ct = res.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
        let text = body_text(res).await;
        if !status.is_success() {
            assert_eq!(ct.as_deref(), Some("application/problem+json"), "{status} {path}: {text}");
        }
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, json)
    }

    pub async fn introspect(&self, client_id: &str, token: &str) -> serde_json::Value {
        let secret = format!("s3cret-{client_id}");
        body_json(self.post_form("/introspect", &[("token", token)], Some((client_id, &secret))).await).await
    }
}

fn password_hash() -> String {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| tessera::password::hash_password(PASSWORD)).clone()
}

/// The query of a standard authorization request of `client_id` (code, scope openid, PKCE
/// S256 to [`REDIRECT`]) and its code verifier.
pub fn code_request(client_id: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let q = form(&[
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    (q, verifier)
}

pub fn pkce() -> (String, String) {
    let verifier = random_token(32);
    let challenge = b64url(&sha256(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

pub fn basic_header(id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

pub fn location<B>(res: &Response<B>) -> String {
    res.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

pub fn set_cookie<B>(res: &Response<B>) -> Option<String> {
    set_cookie_named(res, "tessera_session")
}

/// The pre-session cookie (`name=value`) that `/authorize` sets, binding the sign-in forms of
/// the request to the browser.
pub fn browser_cookie<B>(res: &Response<B>) -> Option<String> {
    set_cookie_named(res, "tessera_signin")
}

/// The pre-session cookies of the sign-ins tests started by hand, by request id: the "browser"
/// that started request `id` posts its forms with [`browser_for`]`(id)`.
fn browsers() -> &'static std::sync::Mutex<std::collections::HashMap<String, String>> {
    static B: OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> = OnceLock::new();
    B.get_or_init(Default::default)
}

/// Remembers the pre-session cookie that the `/authorize` response `res` set, for the login
/// page `page` it led to; returns the page.
pub fn remember_browser<B>(res: &Response<B>, page: String) -> String {
    if let (Some(c), Some(at)) = (browser_cookie(res), page.find("name=\"request\" value=\"")) {
        let id = page[at + 22..].split('"').next().unwrap_or_default().to_string();
        browsers().lock().unwrap().insert(id, c);
    }
    page
}

/// The pre-session cookie of the browser that started the sign-in `request` (see
/// [`remember_browser`]).
pub fn browser_for(request: &str) -> Option<String> {
    browsers().lock().unwrap().get(request).cloned()
}

/// Cookies for one request header (`a=1; b=2`), the `None`s left out.
pub fn cookies(parts: &[Option<&str>]) -> String {
    parts.iter().flatten().copied().collect::<Vec<_>>().join("; ")
}

/// A `Cookie` header value `jar` with the cookie `added` (`name=value`) set in it (replacing
/// one of the same name); `None` when both are.
pub fn with_cookie(jar: Option<&str>, added: Option<String>) -> Option<String> {
    let Some(added) = added else { return jar.map(str::to_string) };
    let name = added.split('=').next().unwrap_or_default().to_string();
    let mut parts: Vec<String> = jar
        .into_iter()
        .flat_map(|j| j.split(';'))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(name.as_str()))
        .collect();
    parts.push(added);
    Some(parts.join("; "))
}

/// The `name=value` of the cookie `name` the response sets.
pub fn set_cookie_named<B>(res: &Response<B>, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&prefix))
        .map(|c| c.split(';').next().unwrap().to_string())
}

pub fn query_param(uri: &str, name: &str) -> Option<String> {
    let q = uri.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no hidden {name} in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

pub async fn body_text(res: Response<Body>) -> String {
    String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned()
}

pub async fn body_json(res: Response<Body>) -> serde_json::Value {
    let text = body_text(res).await;
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Decodes a JWT's header and payload without checking anything (tests only).
pub fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    let mut it = token.split('.');
    let dec = |s: &str| serde_json::from_slice(&tessera::crypto::b64url_decode(s).unwrap()).unwrap();
    (dec(it.next().unwrap()), dec(it.next().unwrap()))
}
