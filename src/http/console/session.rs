//! The console's sign-in (authorization code + PKCE against Tessera itself), its server-side
//! sessions, and its one way to the admin API (in process, with the person's token).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::ServiceExt;

use super::Page;
use super::layout::{self, Nav};
use crate::crypto::{b64url, ct_eq, hex, now, random_token, sha256};
use crate::http::{AppState, cookie};
use crate::store::{Client, ClientAuthMethod, INSTANCE_SCOPE, MemberKind};

/// The console's client id.
pub const CONSOLE_CLIENT_ID: &str = "tessera-console";
const SESSION_COOKIE: &str = "tessera_console";
const LOGIN_COOKIE: &str = "tessera_console_login";
const SESSION_KEY: &str = "console:";
const LOGIN_KEY: &str = "console-login:";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login", get(login))
        .route("/console/callback", get(callback))
        .route("/console/logout", post(logout))
}

/// A console session as stored in the state backend (never sent to the browser).
#[derive(Serialize, Deserialize)]
struct Stored {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: i64,
    csrf: String,
    user_id: String,
    name: String,
}

/// A signed-in person in the console: their tokens, and where the request comes from (so the
/// admin API's audit log names the real request id and client address).
pub struct Console {
    stored: Stored,
    request_id: Option<HeaderValue>,
    peer: Option<ConnectInfo<SocketAddr>>,
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    /// The session named by the console cookie; without one, the browser is sent to sign in
    /// (and back here afterwards, for a page).
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let back = if parts.method == Method::GET {
            parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        let sign_in = || Redirect::to(&format!("/console/login?next={}", layout::q(&back))).into_response();
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(sign_in());
        };
        let key = session_key(value);
        let kv = &s.provider.kv;
        let raw = kv.get(&key).await.map_err(|_| unavailable())?;
        let Some(mut stored) = raw.and_then(|r| serde_json::from_slice::<Stored>(&r).ok()) else {
            return Err(sign_in());
        };
        if stored.expires_at <= now() + 10 {
            // Renew the access token with the refresh token (which rotates).
            let Some(refresh) = stored.refresh_token.clone() else {
                let _ = kv.delete(&key).await;
                return Err(sign_in());
            };
            match token_request(s, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await {
                Some(t) => {
                    stored.access_token = t.access_token;
                    stored.refresh_token = t.refresh_token.or(Some(refresh));
                    stored.expires_at = now() + t.expires_in as i64;
                    let body = serde_json::to_vec(&stored).map_err(|_| unavailable())?;
                    kv.put(&key, &body, session_ttl(s)).await.map_err(|_| unavailable())?;
                }
                None => {
                    let _ = kv.delete(&key).await;
                    return Err(sign_in());
                }
            }
        }
        Ok(Console {
            stored,
            request_id: parts.headers.get("x-request-id").cloned(),
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned(),
        })
    }
}

fn unavailable() -> Response {
    layout::bare_error(StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable; try again.")
}

fn session_key(cookie_value: &str) -> String {
    format!("{SESSION_KEY}{}", hex(&sha256(cookie_value.as_bytes())))
}

fn session_ttl(s: &AppState) -> Duration {
    let st = &s.provider.settings;
    st.session_ttl.min(st.refresh_token_ttl).max(st.access_token_ttl)
}

/// An answer of the admin API: its status and JSON body (`Null` when empty).
pub struct Api {
    pub status: StatusCode,
    pub json: Value,
}

impl Api {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }
}

impl Console {
    pub fn user_id(&self) -> &str {
        &self.stored.user_id
    }

    pub fn csrf(&self) -> &str {
        &self.stored.csrf
    }

    /// Checks a form's anti-CSRF token against the session's.
    pub fn check_csrf(&self, form: &Form) -> Result<(), Response> {
        match form.get("csrf") {
            Some(t) if ct_eq(t.as_bytes(), self.stored.csrf.as_bytes()) => Ok(()),
            _ => Err(layout::bare_error(
                StatusCode::FORBIDDEN,
                "This form has expired. Go back, reload the page and try again.",
            )),
        }
    }

    /// Calls the admin API (`path` under `/api/v1`) in process, as the signed-in person.
    pub async fn api(&self, s: &AppState, method: Method, path: &str, body: Option<Value>) -> Api {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.stored.access_token));
        if let Some(id) = &self.request_id {
            b = b.header("x-request-id", id.clone());
        }
        if let Some(peer) = &self.peer {
            b = b.extension(*peer);
        }
        let body = match body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let Ok(req) = b.body(body) else {
            return Api { status: StatusCode::BAD_REQUEST, json: Value::Null };
        };
        let app = Router::new().nest("/api/v1", crate::http::admin::router()).with_state(s.clone());
        let Ok(res) = app.oneshot(req).await;
        let status = res.status();
        let bytes = res.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Api { status, json }
    }

    /// A GET whose failure stops the page (an error page with the API's message).
    pub async fn get(&self, s: &AppState, path: &str) -> Result<Value, Response> {
        let a = self.api(s, Method::GET, path, None).await;
        if a.ok() { Ok(a.json) } else { Err(layout::api_error_page(&a)) }
    }

    /// The navigation: who is signed in, the tenants for the switcher, and whether the
    /// Administration menu shows (Instance Admin, or Tenant Admin of `tenant`).
    pub async fn nav(&self, s: &AppState, tenant: Option<&str>) -> Result<Nav, Response> {
        let me = self.get(s, "/me").await?;
        let instance_admin = me["instance_admin"].as_bool().unwrap_or(false);
        let mut tenants: Vec<String> =
            me["tenants"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)).collect();
        if instance_admin {
            let all = self.get(s, "/tenants?limit=200").await?;
            tenants = all["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect();
        }
        let admin = match tenant {
            Some(t) => self.is_admin_in(s, instance_admin, t).await?,
            None => false,
        };
        Ok(Nav {
            tenant: tenant.map(str::to_string),
            tenants,
            instance_admin,
            admin,
            user: self.stored.name.clone(),
            csrf: self.stored.csrf.clone(),
        })
    }

    /// Whether the person is Instance Admin, or Tenant Admin of `tenant`: the access model's
    /// rule for who sees the Administration view. (The admin API still authorizes each call.)
    async fn is_admin_in(&self, s: &AppState, instance_admin: bool, tenant: &str) -> Result<bool, Response> {
        if instance_admin {
            return Ok(s.provider.stores.tenants.get_tenant(tenant).await.map_err(|_| unavailable())?.is_some());
        }
        let actor = crate::admin::Actor::user(self.stored.user_id.clone(), self.stored.name.clone());
        Ok(match crate::admin::access_in(&s.provider.stores, &actor, tenant).await {
            Ok(access) => access.is_tenant_admin() || access.is_instance_admin(),
            Err(crate::admin::AccessError::NoTenant) => false,
            Err(crate::admin::AccessError::Store(_)) => return Err(unavailable()),
        })
    }

    /// The first tenant the person administers (the default tenant first).
    pub async fn first_admin_tenant(&self, s: &AppState, nav: &Nav) -> Result<Option<String>, Response> {
        let mut order = nav.tenants.clone();
        order.sort_by_key(|t| t != crate::store::DEFAULT_TENANT);
        for t in order {
            if self.is_admin_in(s, nav.instance_admin, &t).await? {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    /// The navigation of an administration page of `tenant`; anyone who is not its admin
    /// gets the same "not found" page as for a missing tenant.
    pub async fn admin_nav(&self, s: &AppState, tenant: &str) -> Result<Nav, Response> {
        let nav = self.nav(s, Some(tenant)).await?;
        if !nav.admin {
            return Err(layout::not_found(&nav));
        }
        Ok(nav)
    }
}

/// A console form (`application/x-www-form-urlencoded`), repeated names kept (the role matrix
/// posts one `perm` per checked box).
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(headers: &HeaderMap, body: &Bytes) -> Result<Form, Response> {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !ct.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
            return Err(layout::bare_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Send the form from the console page."));
        }
        Ok(Form(url::form_urlencoded::parse(body).into_owned().collect()))
    }

    pub fn empty() -> Form {
        Form(Vec::new())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The trimmed value, or "" when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_string()
    }

    /// The trimmed value, `None` when absent or blank.
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.text(name)).filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// The console's client, registered (or brought up to date) on first use: instance-wide,
/// public with PKCE, one exact redirect URI, tokens for the admin API.
async fn ensure_client(s: &AppState) -> Result<(), Response> {
    let p = &s.provider;
    let redirect = p.settings.url("/console/callback");
    let audience = p.settings.url(crate::http::admin::ADMIN_AUDIENCE_PATH);
    let fail = |_| unavailable();
    let existing = p.stores.clients.find_client(CONSOLE_CLIENT_ID).await.map_err(fail)?;
    if let Some(c) = &existing {
        if c.tenant_id != INSTANCE_SCOPE {
            return Err(layout::bare_error(
                StatusCode::CONFLICT,
                "A client named tessera-console exists in a tenant: remove it so the console can register itself.",
            ));
        }
        if c.redirect_uris == [redirect.clone()] && c.default_audience.as_deref() == Some(audience.as_str()) {
            return Ok(());
        }
        p.stores.clients.delete_client(INSTANCE_SCOPE, CONSOLE_CLIENT_ID).await.map_err(fail)?;
        p.forget_client(CONSOLE_CLIENT_ID);
    }
    let client = Client {
        tenant_id: INSTANCE_SCOPE.into(),
        client_id: CONSOLE_CLIENT_ID.into(),
        name: "Tessera console".into(),
        secret_hash: None,
        auth_method: ClientAuthMethod::None,
        redirect_uris: vec![redirect],
        post_logout_redirect_uris: vec![p.settings.url("/console")],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        first_party: true,
        access_token_alg: p.settings.default_access_alg.as_str().into(),
        id_token_alg: p.settings.default_id_alg.as_str().into(),
        default_audience: Some(audience.clone()),
        allowed_audiences: vec![audience],
        created_at: now(),
        service_account_id: None,
        jwks: None,
    };
    match p.stores.clients.create_client(&client).await {
        Ok(()) | Err(crate::store::StoreError::Conflict(_)) => Ok(()),
        Err(_) => Err(unavailable()),
    }
}

fn set_cookie(s: &AppState, res: &mut Response, name: &str, value: &str, max_age: u64) {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    let c = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&c) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Serialize, Deserialize)]
struct PendingLogin {
    verifier: String,
    next: String,
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Only a console path may follow the sign-in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/console".into(),
    }
}

/// Starts the sign-in: a PKCE pair and a state bound to this browser by a cookie.
async fn login(State(s): State<AppState>, Query(q): Query<LoginQuery>) -> Page {
    ensure_client(&s).await?;
    let p = &s.provider;
    let state = random_token(24);
    let verifier = random_token(32);
    let challenge = b64url(&sha256(verifier.as_bytes()));
    let pending = PendingLogin { verifier, next: safe_next(q.next.as_deref()) };
    let body = serde_json::to_vec(&pending).map_err(|_| unavailable())?;
    let key = format!("{LOGIN_KEY}{}", hex(&sha256(state.as_bytes())));
    p.kv.put(&key, &body, p.settings.login_request_ttl).await.map_err(|_| unavailable())?;
    let params = [
        ("client_id", CONSOLE_CLIENT_ID),
        ("redirect_uri", &p.settings.url("/console/callback")),
        ("response_type", "code"),
        ("scope", "openid profile email"),
        ("state", &state),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let mut res = Redirect::to(&format!("{}?{query}", p.settings.url("/authorize"))).into_response();
    set_cookie(&s, &mut res, LOGIN_COOKIE, &state, p.settings.login_request_ttl.as_secs());
    Ok(res)
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: u64,
}

/// Calls the token endpoint in process (so the exchange is audited like any other).
async fn token_request(s: &AppState, pairs: &[(&str, &str)]) -> Option<Tokens> {
    let mut all: Vec<(&str, &str)> = pairs.to_vec();
    all.push(("client_id", CONSOLE_CLIENT_ID));
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(all).finish();
    let req = Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .ok()?;
    let res = crate::http::token::router().with_state(s.clone()).oneshot(req).await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    let bytes = res.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&bytes).ok()
}

async fn callback(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<CallbackQuery>) -> Page {
    let p = &s.provider;
    let failed = |msg: &str| layout::bare_error(StatusCode::BAD_REQUEST, msg);
    let (Some(state), Some(bound)) = (q.state.as_deref(), cookie(&headers, LOGIN_COOKIE)) else {
        return Err(failed("This sign-in was not started here, or it expired. Sign in again."));
    };
    if !ct_eq(state.as_bytes(), bound.as_bytes()) {
        return Err(failed("This sign-in was not started here, or it expired. Sign in again."));
    }
    let key = format!("{LOGIN_KEY}{}", hex(&sha256(state.as_bytes())));
    let pending = p.kv.take(&key).await.map_err(|_| unavailable())?;
    let Some(pending) = pending.and_then(|b| serde_json::from_slice::<PendingLogin>(&b).ok()) else {
        return Err(failed("This sign-in expired. Sign in again."));
    };
    if q.error.is_some() {
        return Err(failed("The sign-in was cancelled or refused."));
    }
    let Some(code) = q.code.as_deref() else {
        return Err(failed("The sign-in did not complete. Sign in again."));
    };
    let redirect = p.settings.url("/console/callback");
    let tokens = token_request(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect),
            ("code_verifier", &pending.verifier),
        ],
    )
    .await
    .ok_or_else(|| failed("The sign-in could not be completed. Sign in again."))?;
    let mut con = Console {
        stored: Stored {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: now() + tokens.expires_in as i64,
            csrf: random_token(24),
            user_id: String::new(),
            name: String::new(),
        },
        request_id: headers.get("x-request-id").cloned(),
        peer: None,
    };
    let me = con.get(&s, "/me").await?;
    if me["kind"].as_str() != Some(MemberKind::User.as_str()) {
        return Err(failed("Only people sign in to the console."));
    }
    con.stored.user_id = me["id"].as_str().unwrap_or_default().to_string();
    con.stored.name = me["name"].as_str().unwrap_or_default().to_string();
    let value = random_token(32);
    let body = serde_json::to_vec(&con.stored).map_err(|_| unavailable())?;
    p.kv.put(&session_key(&value), &body, session_ttl(&s)).await.map_err(|_| unavailable())?;
    let mut res = Redirect::to(&pending.next).into_response();
    set_cookie(&s, &mut res, SESSION_COOKIE, &value, session_ttl(&s).as_secs());
    set_cookie(&s, &mut res, LOGIN_COOKIE, "", 0);
    Ok(res)
}

/// Ends the console session (its refresh token is revoked with it), then offers to end the
/// Tessera sign-in session too.
async fn logout(State(s): State<AppState>, headers: HeaderMap, con: Console, body: Bytes) -> Page {
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    if let Some(refresh) = &con.stored.refresh_token {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("token", refresh.as_str()), ("client_id", CONSOLE_CLIENT_ID)])
            .finish();
        if let Ok(req) = Request::post("/revoke")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
        {
            let _ = crate::http::token::router().with_state(s.clone()).oneshot(req).await;
        }
    }
    if let Some(value) = cookie(&headers, SESSION_COOKIE) {
        s.provider.kv.delete(&session_key(value)).await.map_err(|_| unavailable())?;
    }
    let p = &s.provider;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", CONSOLE_CLIENT_ID), ("post_logout_redirect_uri", &p.settings.url("/console"))])
        .finish();
    let mut res = Redirect::to(&format!("{}?{query}", p.settings.url("/logout"))).into_response();
    set_cookie(&s, &mut res, SESSION_COOKIE, "", 0);
    Ok(res)
}
