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
use super::{AppState, RequestMeta, cookie, pages};
use crate::crypto::now;
use crate::federation::{self, CALLBACK_PATH, CallbackParams, FLOW_COOKIE, FedError, LOGGED_OUT_PATH, UpstreamSession};
use crate::oauth::Provider;
use crate::oauth::authorize;
use crate::store::Connection;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/federated", post(start_post))
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
        Ok(authorize::Checked::Ok(r)) => r,
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
        Ok(u) => u,
        Err(e) => {
            tracing::info!(connection = %label, "federated sign-in refused");
            let summary = json!({ "connection": label, "reason": e.to_string() });
            s.record_audit(meta, &req.tenant_id, "anonymous".into(), "signin.failure", format!("idp:{label}"), summary)
                .await;
            return fed_page(&e);
        }
    };
    match federation::sync_groups(p, conn, &user.id, &done.identity.groups, t).await {
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
        }
        Ok(_) => {}
        Err(e) => return fed_page(&e),
    }
    let upstream = UpstreamSession::new(p, &conn.tenant_id, &conn.id, &done.id_token);
    let how = SignedInBy { amr: &["fed"], upstream: Some(upstream) };
    sign_in_with(s, meta, headers, req, &done.request_id, &user, how).await
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
