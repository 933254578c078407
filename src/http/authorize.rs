//! `/authorize`, `/login` and `/consent`: the browser side of the authorization code flow.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::form::Form;
use super::{AppState, RequestMeta, browser, cookie, pages};
use crate::crypto::now;
use crate::oauth::authorize::{self, AuthorizeParams, Checked, PendingRequest, Step};
use crate::oauth::session::{self, SESSION_COOKIE};
use crate::oauth::{OAuthError, Provider};
use crate::password;
use crate::store::User;
use serde_json::json;

/// `/authorize`: a relying party may send it as a cross-site form post (OIDC Core 3.1.2.1), so
/// it is not under the same-origin check of the forms.
pub fn router() -> Router<AppState> {
    Router::new().route("/authorize", get(authorize_get).post(authorize_post))
}

/// The forms of the flow (login, forced password change, consent): browser forms of
/// Tessera's own pages, under `super::browser::require_same_origin`.
pub fn forms() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_get).post(login_post))
        .route("/login/password", axum::routing::post(change_password_post))
        .route("/consent", get(consent_get).post(consent_post))
}

async fn authorize_get(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    run_authorize(&s, &headers, q.unwrap_or_default().as_bytes()).await
}

/// OIDC Core section 3.1.2.1: the request may also come as a form post.
async fn authorize_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    run_authorize(&s, &headers, &body).await
}

async fn run_authorize(s: &AppState, headers: &HeaderMap, raw: &[u8]) -> Response {
    let p = &s.provider;
    let params = match parse_params(raw) {
        Ok(params) => params,
        Err(e) => return step_response(p, Step::ErrorPage(e)),
    };
    let t = now();
    let req = match authorize::validate(p, &params, t).await {
        Ok(r) => r,
        Err(step) => return step_response(p, step),
    };
    let session = match session::lookup(p, cookie(headers, SESSION_COOKIE)).await {
        Ok(sess) => sess,
        Err(e) => return step_response(p, Step::ErrorPage(e)),
    };
    // Only this browser may finish the request (see `super::browser`).
    let browser = browser::browser_cookie(headers);
    let mut req = req;
    req.bind_to_browser(&browser);
    let step = authorize::decide(p, req, session.as_ref(), false, t).await;
    let pending = matches!(step, Step::Login(_) | Step::Consent(_));
    let mut res = step_response(p, step);
    if pending {
        browser::set_browser_cookie(s, &mut res, &browser, p.settings.login_request_ttl.as_secs());
    }
    res
}

/// The pending request a form of this flow names, if its anti-CSRF token and the browser's
/// pre-session cookie match; otherwise the page to show (nothing is done).
async fn checked_pending(p: &Provider, f: &Form, headers: &HeaderMap) -> Result<(String, PendingRequest), Response> {
    let id = f.get("request").unwrap_or_default();
    let csrf = f.get("csrf").unwrap_or_default();
    match authorize::load_pending_checked(p, &id, &csrf, browser::browser_cookie_of(headers)).await {
        Ok(Checked::Ok(r)) => Ok((id, *r)),
        Ok(Checked::Expired) => Err(expired_page()),
        Ok(Checked::OtherBrowser) => Err(browser::other_browser_page()),
        Err(e) => Err(step_response(p, Step::ErrorPage(e))),
    }
}

fn parse_params(raw: &[u8]) -> Result<AuthorizeParams, OAuthError> {
    let f = Form::parse_pairs(raw)?;
    Ok(AuthorizeParams {
        client_id: f.get("client_id"),
        redirect_uri: f.get("redirect_uri"),
        response_type: f.get("response_type"),
        response_mode: f.get("response_mode"),
        scope: f.get("scope"),
        state: f.get("state"),
        nonce: f.get("nonce"),
        code_challenge: f.get("code_challenge"),
        code_challenge_method: f.get("code_challenge_method"),
        prompt: f.get("prompt"),
        max_age: f.get("max_age"),
        login_hint: f.get("login_hint"),
        idp_hint: f.get("idp_hint"),
        request: f.get("request"),
        request_uri: f.get("request_uri"),
        resource: f.all("resource"),
    })
}

/// Turns a flow step into a response. Redirects are 303 so a POST becomes a GET.
fn step_response(_p: &Provider, step: Step) -> Response {
    match step {
        Step::Redirect(to) => see_other(&to),
        Step::Login(id) => see_other(&format!("login?request={id}")),
        Step::Consent(id) => see_other(&format!("consent?request={id}")),
        Step::ErrorPage(e) => {
            let status = if e.code.status() >= 500 {
                StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST)
            } else {
                StatusCode::BAD_REQUEST
            };
            pages::error_page(status, "Sign-in request refused", &e.description)
        }
    }
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response().with_status(StatusCode::SEE_OTHER)
}

trait WithStatus {
    fn with_status(self, s: StatusCode) -> Self;
}
impl WithStatus for Response {
    fn with_status(mut self, s: StatusCode) -> Self {
        *self.status_mut() = s;
        self
    }
}

#[derive(serde::Deserialize)]
struct RequestQuery {
    request: Option<String>,
}

fn expired_page() -> Response {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in request is unknown or has expired. Go back to the application and start again.",
    )
}

async fn client_name(p: &Provider, req: &PendingRequest) -> String {
    match p.client(&req.client_id).await {
        Ok(Some(c)) => c.name.clone(),
        _ => req.client_id.clone(),
    }
}

async fn login_get(State(s): State<AppState>, Query(q): Query<RequestQuery>) -> Response {
    let p = &s.provider;
    let id = q.request.unwrap_or_default();
    let req = match authorize::load_pending(p, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => return expired_page(),
        Err(e) => return step_response(p, Step::ErrorPage(e)),
    };
    let offered = super::federation::offered_or_none(p, &req.tenant_id).await;
    // `idp_hint` goes straight to that identity provider.
    if let Some(hint) = req.idp_hint.as_deref() {
        return match crate::federation::by_hint(&offered, hint) {
            Some(conn) => super::federation::go_upstream(&s, conn, &id, req.login_hint.as_deref()).await,
            None => pages::error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in request refused",
                "The identity provider named by idp_hint is not offered for this application.",
            ),
        };
    }
    let conns = super::federation::buttons(&offered);
    let name = client_name(p, &req).await;
    let hint = req.login_hint.as_deref().unwrap_or("");
    pages::login(
        StatusCode::OK,
        &pages::LoginView {
            request_id: &id,
            csrf: &req.csrf,
            client_name: &name,
            username: hint,
            error: None,
            connections: &conns,
            forgot_password_url: Some(&super::recovery::forgot_url(&id)),
            passkeys: s.passkeys.is_some(),
        },
    )
}

async fn login_post(State(s): State<AppState>, meta: RequestMeta, headers: HeaderMap, body: Bytes) -> Response {
    let p = &s.provider;
    let Ok(f) = Form::parse_pairs(&body) else { return expired_page() };
    let (id, req) = match checked_pending(p, &f, &headers).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let username = f.get("username").unwrap_or_default();
    // Home-realm discovery: an address in a domain an identity provider claims signs in there.
    let offered = super::federation::offered_or_none(p, &req.tenant_id).await;
    if let Some(conn) = crate::federation::by_email(&offered, username.trim()) {
        return super::federation::go_upstream(&s, conn, &id, Some(username.trim())).await;
    }
    let password = crate::crypto::Secret::new(f.get("password").unwrap_or_default());
    // Throttling, Argon2id, the audit of every failure and refusal, rehashing: one place.
    let user = match super::password_signin::check(&s, &meta, Some(&req.tenant_id), "login", &username, &password).await
    {
        Ok(u) => u,
        Err(e) => return step_response(p, Step::ErrorPage(e)),
    };
    let user = match user {
        Some(u) => u,
        None => {
            tracing::info!(tenant = %req.tenant_id, "sign-in failed");
            s.provider.metrics.signin_failed();
            // Counted by the throttle and audited in password_signin::check.
            let name = client_name(p, &req).await;
            return pages::login(
                StatusCode::UNAUTHORIZED,
                &pages::LoginView {
                    request_id: &id,
                    csrf: &req.csrf,
                    client_name: &name,
                    username: &username,
                    error: Some("Wrong username or password."),
                    connections: &super::federation::buttons(&offered),
                    forgot_password_url: Some(&super::recovery::forgot_url(&id)),
                    passkeys: s.passkeys.is_some(),
                },
            );
        }
    };
    if user.password_change_required {
        // An administrator asked for a new password: no session and no token before it is set.
        return password_change_page(&s, &headers, &req, &id, &user, &["pwd"]).await;
    }
    // A user with a passkey confirms with it before the session starts.
    if let Some(res) =
        super::passkeys::second_factor(&s, super::passkeys::Resume::Authorize(id.clone()), &user, None).await
    {
        return res;
    }
    sign_in(&s, &meta, &headers, req, &id, &user).await
}

/// Starts the session of a person who proved who they are, and resumes the flow.
/// `request_id` names the pending authorization request; `meta` the HTTP request.
async fn sign_in(
    s: &AppState,
    meta: &RequestMeta,
    headers: &HeaderMap,
    req: PendingRequest,
    request_id: &str,
    user: &User,
) -> Response {
    sign_in_with(s, meta, headers, req, request_id, user, &["pwd"]).await
}

/// How a person proved who they are: the methods (`amr`, RFC 8176: `pwd`, `hwk`, `user`,
/// `mfa`, and `fed` for an upstream provider) and, after a federated sign-in, the upstream
/// session to end at logout.
pub(super) struct SignedInBy<'a> {
    pub amr: &'a [&'a str],
    pub upstream: Option<crate::federation::UpstreamSession>,
}

impl<'a, const N: usize> From<&'a [&'a str; N]> for SignedInBy<'a> {
    fn from(amr: &'a [&'a str; N]) -> Self {
        Self { amr, upstream: None }
    }
}

impl<'a> From<&'a [&'a str]> for SignedInBy<'a> {
    fn from(amr: &'a [&'a str]) -> Self {
        Self { amr, upstream: None }
    }
}

/// [`sign_in`] by the methods `amr` (RFC 8176: `pwd`, `hwk`, `user`, `mfa`).
pub(super) async fn sign_in_with(
    s: &AppState,
    meta: &RequestMeta,
    headers: &HeaderMap,
    req: PendingRequest,
    request_id: &str,
    user: &User,
    how: impl Into<SignedInBy<'_>>,
) -> Response {
    let SignedInBy { amr, upstream } = how.into();
    let p = &s.provider;
    // Every door that signs in to a pending request comes through here: whatever it checked
    // before, only the browser that started the request is signed in (no login CSRF).
    if !req.started_by(browser::browser_cookie_of(headers)) {
        tracing::info!(tenant = %req.tenant_id, "sign-in from another browser than the request's refused");
        return browser::other_browser_page();
    }
    // A new sign-in replaces whatever session this browser had.
    if let Some(old) = cookie(headers, SESSION_COOKIE)
        && let Err(e) = session::destroy(p, old).await
    {
        return step_response(p, Step::ErrorPage(e));
    }
    let t = now();
    let connection = upstream.as_ref().map(|u| format!("{}/{}", u.tenant_id, u.connection_id));
    let (cookie_value, sess) = match session::create_with(p, &user.tenant_id, &user.id, amr, upstream, t).await {
        Ok(x) => x,
        Err(e) => return step_response(p, Step::ErrorPage(e)),
    };
    tracing::info!(tenant = %req.tenant_id, user = %user.id, "signed in");
    let actor = format!("user:{}", user.id);
    signin_audit(
        s,
        meta,
        &req.tenant_id,
        &actor,
        "signin.success",
        json!({ "amr": amr, "client_id": req.client_id, "connection": connection }),
    )
    .await;
    if let Err(e) = authorize::drop_pending(p, request_id).await {
        return step_response(p, Step::ErrorPage(e));
    }
    let mut res = step_response(p, authorize::decide(p, req, Some(&sess), true, t).await);
    set_session_cookie(s, &mut res, &cookie_value, p.settings.session_ttl.as_secs());
    res
}

/// A sign-in event about `actor` (also its target), with the request's id and client address.
async fn signin_audit(
    s: &AppState,
    meta: &RequestMeta,
    tenant: &str,
    actor: &str,
    action: &str,
    summary: serde_json::Value,
) {
    s.record_audit(meta, tenant, actor.to_string(), action, actor.to_string(), summary).await;
}

/// A pending mandatory password change: which user, for which sign-in request, and how they
/// proved who they are (the methods of the session that starts once the password is set).
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingChange {
    user_id: String,
    request_id: String,
    csrf: String,
    #[serde(default = "password_amr")]
    amr: Vec<String>,
}

fn password_amr() -> Vec<String> {
    vec!["pwd".to_string()]
}

/// The mandatory password change of `user`, who just proved who they are by `amr` for the
/// pending request `request_id`: the page to choose the new password (no session before).
pub(super) async fn password_change_page(
    s: &AppState,
    headers: &HeaderMap,
    req: &PendingRequest,
    request_id: &str,
    user: &User,
    amr: &[&str],
) -> Response {
    let p = &s.provider;
    if !req.started_by(browser::browser_cookie_of(headers)) {
        return browser::other_browser_page();
    }
    match start_password_change(p, request_id, &user.id, amr).await {
        Ok((change, csrf)) => {
            pages::change_password(StatusCode::OK, &p.settings.url("/login/password"), &change, &csrf, None)
        }
        Err(e) => step_response(p, Step::ErrorPage(e)),
    }
}

async fn start_password_change(
    p: &Provider,
    request_id: &str,
    user_id: &str,
    amr: &[&str],
) -> Result<(String, String), OAuthError> {
    let change = crate::crypto::random_token(24);
    let csrf = crate::crypto::random_token(24);
    let rec = PendingChange {
        user_id: user_id.to_string(),
        request_id: request_id.to_string(),
        csrf: csrf.clone(),
        amr: amr.iter().map(|a| a.to_string()).collect(),
    };
    let value = serde_json::to_vec(&rec).map_err(OAuthError::server_error)?;
    p.kv.put(&format!("pwchange:{change}"), &value, p.settings.login_request_ttl).await?;
    Ok((change, csrf))
}

/// The forced change: a new password (twice), within the length policy, then the sign-in
/// goes on as if it had just happened.
async fn change_password_post(
    State(s): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = &s.provider;
    let Ok(f) = Form::parse_pairs(&body) else { return expired_page() };
    let change = f.get("change").unwrap_or_default();
    let key = format!("pwchange:{change}");
    let rec: PendingChange = match p.kv.get(&key).await {
        Ok(Some(v)) => match serde_json::from_slice(&v) {
            Ok(r) => r,
            Err(_) => return expired_page(),
        },
        Ok(None) => return expired_page(),
        Err(e) => return step_response(p, Step::ErrorPage(e.into())),
    };
    let csrf = f.get("csrf").unwrap_or_default();
    if change.is_empty() || !crate::crypto::ct_eq(rec.csrf.as_bytes(), csrf.as_bytes()) {
        return expired_page();
    }
    let new = crate::crypto::Secret::new(f.get("new_password").unwrap_or_default());
    let confirm = crate::crypto::Secret::new(f.get("confirm_password").unwrap_or_default());
    let problem = if new.expose() != confirm.expose() {
        Some("The two passwords are not the same.")
    } else {
        password::check_policy(new.expose()).err()
    };
    if let Some(msg) = problem {
        return pages::change_password(
            StatusCode::UNPROCESSABLE_ENTITY,
            &p.settings.url("/login/password"),
            &change,
            &csrf,
            Some(msg),
        );
    }
    let req = match authorize::load_pending(p, &rec.request_id).await {
        Ok(Some(r)) => r,
        Ok(None) => return expired_page(),
        Err(e) => return step_response(p, Step::ErrorPage(e)),
    };
    // The password is not changed from another browser than the one that signed in.
    if !req.started_by(browser::browser_cookie_of(&headers)) {
        return browser::other_browser_page();
    }
    let pw = new.expose().to_string();
    let Ok(hash) = tokio::task::spawn_blocking(move || password::hash_password(&pw)).await else {
        return step_response(p, Step::ErrorPage(OAuthError::server_error("password hashing task failed")));
    };
    let users = &p.stores.users;
    let user = match users.get_user_any(&rec.user_id).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return expired_page(),
        Err(e) => return step_response(p, Step::ErrorPage(e.into())),
    };
    let updated = async {
        users.set_password_hash(&user.tenant_id, &user.id, &hash).await?;
        users.require_password_change(&user.id, false).await
    };
    if let Err(e) = updated.await {
        return step_response(p, Step::ErrorPage(e.into()));
    }
    // Sessions and refresh tokens from before the change end; the sign-in below starts anew.
    if let Err(e) = session::end_all_before_now(p, &user.id).await {
        return step_response(p, Step::ErrorPage(e));
    }
    let _ = p.kv.delete(&key).await;
    let actor = format!("user:{}", user.id);
    signin_audit(&s, &meta, &req.tenant_id, &actor, "user.password_change", json!({ "required": true })).await;
    let amr: Vec<&str> = rec.amr.iter().map(String::as_str).collect();
    sign_in_with(&s, &meta, &headers, req, &rec.request_id, &user, amr.as_slice()).await
}

pub(super) fn set_session_cookie(s: &AppState, res: &mut Response, value: &str, max_age: u64) {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    let c = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&c) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

async fn consent_get(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<RequestQuery>) -> Response {
    let p = &s.provider;
    let id = q.request.unwrap_or_default();
    let req = match authorize::load_pending(p, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => return expired_page(),
        Err(e) => return step_response(p, Step::ErrorPage(e)),
    };
    match session::lookup(p, cookie(&headers, SESSION_COOKIE)).await {
        Ok(Some(_)) => {}
        Ok(_) => return expired_page(),
        Err(e) => return step_response(p, Step::ErrorPage(e)),
    }
    let name = client_name(p, &req).await;
    pages::consent(&id, &req.csrf, &name, &req.scopes)
}

async fn consent_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let p = &s.provider;
    let Ok(f) = Form::parse_pairs(&body) else { return expired_page() };
    let (id, req) = match checked_pending(p, &f, &headers).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let sess = match session::lookup(p, cookie(&headers, SESSION_COOKIE)).await {
        Ok(Some(sess)) => sess,
        Ok(_) => return expired_page(),
        Err(e) => return step_response(p, Step::ErrorPage(e)),
    };
    if let Err(e) = authorize::drop_pending(p, &id).await {
        return step_response(p, Step::ErrorPage(e));
    }
    if f.get("decision").as_deref() != Some("allow") {
        let e = OAuthError::new(crate::oauth::ErrorCode::AccessDenied, "the user denied access");
        return see_other(&authorize::error_redirect(p, &req.redirect_uri, req.state.as_deref(), &e));
    }
    let t = now();
    // Remember what was granted, adding to what was granted before.
    let granted = match p.stores.consents.granted_scopes(&req.tenant_id, &sess.user_id, &req.client_id).await {
        Ok(mut g) => {
            g.extend(req.scopes.iter().filter(|s| !g.contains(s)).cloned().collect::<Vec<_>>());
            g
        }
        Err(e) => return step_response(p, Step::ErrorPage(e.into())),
    };
    if let Err(e) = p.stores.consents.grant_scopes(&req.tenant_id, &sess.user_id, &req.client_id, &granted, t).await {
        return step_response(p, Step::ErrorPage(e.into()));
    }
    match authorize::issue_code(p, &req, &sess, t).await {
        Ok(to) => see_other(&to),
        Err(e) => see_other(&authorize::error_redirect(p, &req.redirect_uri, req.state.as_deref(), &e)),
    }
}
