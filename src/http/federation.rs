//! Sign-in through upstream identity providers: the login page's buttons post to
//! `/login/federated`, the upstream sends the browser back to `/login/federated/callback`,
//! and after an upstream logout to `/login/federated/logged-out`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::authorize::{SignedInBy, sign_in_with};
use super::form::Form;
use super::{AppState, RequestMeta, cookie, pages, password_signin};
use crate::crypto::{Secret, ct_eq, hash_secret, now, random_token};
use crate::federation::{
    self, CALLBACK_PATH, CallbackParams, FLOW_COOKIE, FedError, LOGGED_OUT_PATH, Provisioned, UpstreamSession,
};
use crate::oauth::Provider;
use crate::oauth::authorize;
use crate::store::{Connection, User};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/federated", post(start_post))
        .route(LINK_PATH, post(link_post))
        .route(CALLBACK_PATH, get(callback))
        .route(LOGGED_OUT_PATH, get(logged_out))
}

/// The enabled connections offered for a sign-in into the tenant; none when they cannot be
/// read (the password form still works, and the failure is logged).
pub(super) async fn offered_or_none(p: &Provider, tenant_id: &str) -> Vec<Connection> {
    federation::offered(p, tenant_id).await.unwrap_or_default()
}

/// The login page's buttons: `{tenant}/{id}` tells a tenant's connection from an
/// instance-wide one with the same id.
pub(super) fn buttons(offered: &[Connection]) -> Vec<pages::LoginConnection> {
    offered
        .iter()
        .map(|c| pages::LoginConnection { id: format!("{}/{}", c.tenant_id, c.id), name: c.name.clone() })
        .collect()
}

fn fed_page(e: &FedError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    pages::error_page(status, "Sign-in through your organization failed", &e.to_string())
}

fn expired_page() -> Response {
    fed_page(&FedError::UnknownState)
}

/// Sends the browser to the connection's authorization endpoint, bound to this browser.
pub(super) async fn go_upstream(
    s: &AppState,
    conn: &Connection,
    request_id: &str,
    login_hint: Option<&str>,
) -> Response {
    match federation::start(&s.provider, conn, request_id, login_hint).await {
        Ok(started) => {
            let mut res = Redirect::to(&started.redirect).into_response();
            *res.status_mut() = StatusCode::SEE_OTHER;
            set_flow_cookie(s, &mut res, &started.cookie, s.provider.settings.login_request_ttl.as_secs());
            res
        }
        Err(e) => fed_page(&e),
    }
}

fn set_flow_cookie(s: &AppState, res: &mut Response, value: &str, max_age: u64) {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    // SameSite=Lax: the upstream's redirect back is a top-level GET, which carries it.
    let c = format!("{FLOW_COOKIE}={value}; Path=/login/federated; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&c) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A button of the login page: the pending request, its anti-CSRF token and the connection.
async fn start_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let p = &s.provider;
    let Ok(f) = Form::parse_pairs(&body) else { return expired_page() };
    let id = f.get("request").unwrap_or_default();
    let csrf = f.get("csrf").unwrap_or_default();
    let req = match authorize::load_pending_checked(p, &id, &csrf, super::browser::browser_cookie_of(&headers)).await {
        Ok(authorize::Checked::Ok(r)) => *r,
        Ok(authorize::Checked::Expired) => return expired_page(),
        Ok(authorize::Checked::OtherBrowser) => return super::browser::other_browser_page(),
        Err(_) => return fed_page(&FedError::Unavailable),
    };
    let offered = offered_or_none(p, &req.tenant_id).await;
    let wanted = f.get("connection").unwrap_or_default();
    match federation::by_hint(&offered, &wanted) {
        Some(conn) => go_upstream(&s, conn, &id, req.login_hint.as_deref()).await,
        None => fed_page(&FedError::UnknownConnection),
    }
}

/// The upstream's answer: validate it, provision the user, map the groups, start the
/// session and resume the authorization request.
async fn callback(State(s): State<AppState>, meta: RequestMeta, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let p = &s.provider;
    let Ok(f) = Form::parse_pairs(q.unwrap_or_default().as_bytes()) else {
        return fed_page(&FedError::UnknownState);
    };
    let params = CallbackParams {
        state: f.get("state"),
        code: f.get("code"),
        error: f.get("error"),
        error_description: f.get("error_description"),
        iss: f.get("iss"),
    };
    let mut res = match federation::finish(p, &params, cookie(&headers, FLOW_COOKIE)).await {
        Ok(done) => complete(&s, &meta, &headers, done).await,
        Err(e) => {
            if matches!(e, FedError::Upstream(..) | FedError::BadResponse(_) | FedError::Unreachable(_)) {
                let summary = json!({ "reason": format!("{e:?}").chars().take(200).collect::<String>() });
                s.record_audit(
                    &meta,
                    crate::store::INSTANCE_SCOPE,
                    "anonymous".into(),
                    "signin.failure",
                    "federation".into(),
                    summary,
                )
                .await;
            }
            fed_page(&e)
        }
    };
    // The round trip is over either way: forget its cookie.
    set_flow_cookie(&s, &mut res, "", 0);
    res
}

async fn complete(s: &AppState, meta: &RequestMeta, headers: &HeaderMap, done: federation::Finished) -> Response {
    let p = &s.provider;
    let conn = &done.connection;
    let req = match authorize::load_pending(p, &done.request_id).await {
        Ok(Some(r)) => r,
        Ok(None) => return expired_page(),
        Err(_) => return fed_page(&FedError::Unavailable),
    };
    let t = now();
    let label = format!("{}/{}", conn.tenant_id, conn.id);
    let user = match federation::provision(p, conn, &done.identity, t).await {
        Ok(Provisioned::SignIn(u)) => u,
        Ok(Provisioned::NeedsProof(u)) => return ask_for_proof(s, &done, &u).await,
        Err(e) => {
            tracing::info!(connection = %label, "federated sign-in refused");
            let summary = json!({ "connection": label, "reason": e.to_string() });
            s.record_audit(meta, &req.tenant_id, "anonymous".into(), "signin.failure", format!("idp:{label}"), summary)
                .await;
            return fed_page(&e);
        }
    };
    if let Err(e) = sync_and_audit(s, meta, conn, &user, &done.identity.groups, t).await {
        return fed_page(&e);
    }
    let upstream = UpstreamSession::new(p, &conn.tenant_id, &conn.id, &done.id_token);
    let how = SignedInBy { amr: &["fed"], upstream: Some(upstream) };
    sign_in_with(s, meta, headers, req, &done.request_id, &user, how).await
}

/// Makes the user's memberships follow the upstream's groups, and records the change.
async fn sync_and_audit(
    s: &AppState,
    meta: &RequestMeta,
    conn: &Connection,
    user: &User,
    groups: &[String],
    t: i64,
) -> Result<(), FedError> {
    let label = format!("{}/{}", conn.tenant_id, conn.id);
    match federation::sync_groups(&s.provider, conn, &user.id, groups, t).await {
        Ok((joined, left)) if !joined.is_empty() || !left.is_empty() => {
            let summary = json!({ "connection": label, "joined": joined, "left": left });
            s.record_audit(
                meta,
                &user.tenant_id,
                format!("idp:{label}"),
                "user.groups_sync",
                format!("user:{}", user.id),
                summary,
            )
            .await;
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

// --- Linking an existing account: the account proves itself first ---------------------------

/// Where the proof form posts.
const LINK_PATH: &str = "/login/federated/link";
/// The cookie that binds a pending link to the browser that came back from the upstream.
const LINK_COOKIE: &str = "tessera_link";

/// A link waiting for the account's own sign-in, kept in the state store under the hash of the
/// browser's cookie (the upstream ID token in it is sealed).
#[derive(Serialize, Deserialize)]
struct PendingLink {
    request_id: String,
    tenant_id: String,
    connection_id: String,
    subject: String,
    user_id: String,
    groups: Vec<String>,
    upstream: UpstreamSession,
    csrf: String,
}

fn link_key(cookie: &str) -> String {
    format!("fedlink:{}", hash_secret(cookie))
}

fn set_link_cookie(s: &AppState, res: &mut Response, value: &str, max_age: u64) {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    let c = format!("{LINK_COOKIE}={value}; Path=/login/federated; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&c) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The upstream asserted the verified e-mail of an existing account of the tenant: the link
/// is made only after that account signs in with its own credentials here. The page never
/// names the account (the upstream's user may not be its owner).
async fn ask_for_proof(s: &AppState, done: &federation::Finished, user: &User) -> Response {
    let p = &s.provider;
    let conn = &done.connection;
    let cookie = random_token(32);
    let pending = PendingLink {
        request_id: done.request_id.clone(),
        tenant_id: conn.tenant_id.clone(),
        connection_id: conn.id.clone(),
        subject: done.identity.subject.clone(),
        user_id: user.id.clone(),
        groups: done.identity.groups.clone(),
        upstream: UpstreamSession::new(p, &conn.tenant_id, &conn.id, &done.id_token),
        csrf: random_token(24),
    };
    let ttl = p.settings.login_request_ttl;
    let Ok(bytes) = serde_json::to_vec(&pending) else { return fed_page(&FedError::Unavailable) };
    if p.kv.put(&link_key(&cookie), &bytes, ttl).await.is_err() {
        return fed_page(&FedError::Unavailable);
    }
    let mut res = proof_page(StatusCode::OK, &conn.name, &pending.csrf, None);
    set_link_cookie(s, &mut res, &cookie, ttl.as_secs());
    res
}

fn proof_page(status: StatusCode, connection: &str, csrf: &str, error: Option<&str>) -> Response {
    let c = pages::esc(connection);
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", pages::esc(e))).unwrap_or_default();
    let body = format!(
        "<h1>Link your {c} sign-in</h1>{error}\
<p>An account with the e-mail address {c} gave already exists here. To link it to {c}, prove it is \
yours: sign in once with that account's own user name and password. From then on, {c} signs you in to it.</p>\
<form method=\"post\" action=\"link\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<label>User name<input name=\"username\" autocomplete=\"username\" required></label>\
<label>Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
<button type=\"submit\">Link and continue</button></form>\
<p class=\"muted\">No password on that account, or not yours? Go back to the application and sign in \
another way, or ask an administrator.</p>",
        pages::esc(csrf)
    );
    pages::page(status, &format!("Link your {connection} sign-in"), &body)
}

/// The proof: the account's own user name and password. The link is made only when they sign
/// in as the very account the upstream named; anything else is the same "wrong user name or
/// password" (through the login page's throttled check), and the form may be tried again.
async fn link_post(State(s): State<AppState>, meta: RequestMeta, headers: HeaderMap, body: Bytes) -> Response {
    let p = &s.provider;
    let Some(cookie_value) = cookie(&headers, LINK_COOKIE) else { return expired_page() };
    let key = link_key(cookie_value);
    let pending: PendingLink = match p.kv.get(&key).await {
        Ok(Some(raw)) => match serde_json::from_slice(&raw) {
            Ok(v) => v,
            Err(_) => return expired_page(),
        },
        Ok(None) => return expired_page(),
        Err(_) => return fed_page(&FedError::Unavailable),
    };
    let Ok(f) = Form::parse_pairs(&body) else { return expired_page() };
    if !ct_eq(f.get("csrf").unwrap_or_default().as_bytes(), pending.csrf.as_bytes()) {
        return expired_page();
    }
    let conn = match p.stores.federation.get_connection(&pending.tenant_id, &pending.connection_id).await {
        Ok(Some(c)) if c.enabled => c,
        Ok(_) => return fed_page(&FedError::UnknownConnection),
        Err(_) => return fed_page(&FedError::Unavailable),
    };
    let req = match authorize::load_pending(p, &pending.request_id).await {
        Ok(Some(r)) => r,
        Ok(None) => return expired_page(),
        Err(_) => return fed_page(&FedError::Unavailable),
    };
    let username = f.get("username").unwrap_or_default();
    let password = Secret::new(f.get("password").unwrap_or_default());
    let checked =
        password_signin::check(&s, &meta, Some(&req.tenant_id), "federation-link", &username, &password).await;
    let user = match checked {
        Ok(Some(u)) if u.id == pending.user_id => u,
        Ok(_) => {
            let wrong = "Wrong user name or password for the account to link.";
            return proof_page(StatusCode::OK, &conn.name, &pending.csrf, Some(wrong));
        }
        Err(_) => return fed_page(&FedError::Unavailable),
    };
    let t = now();
    if let Err(e) = federation::link_after_proof(p, &conn, &pending.subject, &user, t).await {
        return fed_page(&e);
    }
    let _ = p.kv.delete(&key).await;
    let label = format!("{}/{}", conn.tenant_id, conn.id);
    s.record_audit(
        &meta,
        &user.tenant_id,
        format!("user:{}", user.id),
        "user.identity_link",
        format!("idp:{label}"),
        json!({ "connection": label, "proof": "pwd" }),
    )
    .await;
    if let Err(e) = sync_and_audit(&s, &meta, &conn, &user, &pending.groups, t).await {
        return fed_page(&e);
    }
    let how = SignedInBy { amr: &["fed", "pwd"], upstream: Some(pending.upstream) };
    let mut res = sign_in_with(&s, &meta, &headers, req, &pending.request_id, &user, how).await;
    set_link_cookie(&s, &mut res, "", 0);
    res
}

/// Back from the upstream's logout: on to where the relying party asked to go.
async fn logged_out(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let state = Form::parse_pairs(q.unwrap_or_default().as_bytes()).ok().and_then(|f| f.get("state"));
    match federation::logged_out(&s.provider, state.as_deref()).await {
        Some(Some(to)) => {
            let mut r = Redirect::to(&to).into_response();
            *r.status_mut() = StatusCode::SEE_OTHER;
            r
        }
        _ => pages::signed_out(),
    }
}
