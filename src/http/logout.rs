//! `/logout`: the end-session endpoint of RP-Initiated Logout 1.0.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::form::Form;
use super::{AppState, browser, cookie, pages};
use crate::oauth::logout::{self, LogoutParams, LogoutStep};
use crate::oauth::session::{self, SESSION_COOKIE};

pub fn router() -> Router<AppState> {
    Router::new().route("/logout", get(logout_get).post(logout_post))
}

fn params(f: &Form) -> LogoutParams {
    LogoutParams {
        id_token_hint: f.get("id_token_hint"),
        post_logout_redirect_uri: f.get("post_logout_redirect_uri"),
        state: f.get("state"),
        client_id: f.get("client_id"),
        logout_hint: f.get("logout_hint"),
        ui_locales: f.get("ui_locales"),
    }
}

async fn logout_get(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    match Form::parse_pairs(q.unwrap_or_default().as_bytes()) {
        Ok(f) => begin(&s, &headers, &params(&f)).await,
        Err(e) => pages::error_page(StatusCode::BAD_REQUEST, "Sign-out refused", &e.description),
    }
}

/// A POST is either the confirmation form (it carries `request` and `csrf`) or an RP's
/// logout request sent as a form (allowed by the specification).
async fn logout_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = match Form::parse_pairs(&body) {
        Ok(f) => f,
        Err(e) => return pages::error_page(StatusCode::BAD_REQUEST, "Sign-out refused", &e.description),
    };
    let Some(id) = f.get("request") else { return begin(&s, &headers, &params(&f)).await };
    // The confirmation is a form of Tessera's own page: same origin only (the request of a
    // relying party above may come from anywhere, as the GET may).
    if !browser::same_origin(&headers, &s.provider.settings.issuer) {
        return browser::cross_site_page();
    }
    let sess = match session::lookup(&s.provider, cookie(&headers, SESSION_COOKIE)).await {
        Ok(x) => x,
        Err(e) => return pages::error_page(StatusCode::SERVICE_UNAVAILABLE, "Sign-out failed", &e.description),
    };
    match logout::confirm(&s.provider, &id, &f.get("csrf").unwrap_or_default(), sess.as_ref()).await {
        Ok(Some(pending)) => finish(&s, &headers, pending.redirect).await,
        Ok(None) => pages::error_page(
            StatusCode::BAD_REQUEST,
            "Sign-out expired",
            "This sign-out request is unknown or has expired.",
        ),
        Err(e) => pages::error_page(StatusCode::SERVICE_UNAVAILABLE, "Sign-out failed", &e.description),
    }
}

async fn begin(s: &AppState, headers: &HeaderMap, params: &LogoutParams) -> Response {
    let p = &s.provider;
    let sess = match session::lookup(p, cookie(headers, SESSION_COOKIE)).await {
        Ok(x) => x,
        Err(e) => return pages::error_page(StatusCode::SERVICE_UNAVAILABLE, "Sign-out failed", &e.description),
    };
    match logout::begin(p, params, sess.as_ref()).await {
        Ok(LogoutStep::Done { redirect }) => finish(s, headers, redirect).await,
        Ok(LogoutStep::Confirm { id, pending }) => {
            pages::logout_confirm(&id, &pending.csrf, pending.client_name.as_deref())
        }
        Ok(LogoutStep::ErrorPage(e)) => pages::error_page(StatusCode::BAD_REQUEST, "Sign-out refused", &e.description),
        Err(e) => pages::error_page(StatusCode::SERVICE_UNAVAILABLE, "Sign-out failed", &e.description),
    }
}

async fn finish(s: &AppState, headers: &HeaderMap, mut redirect: Option<String>) -> Response {
    let p = &s.provider;
    // A session that came through an upstream provider ends there too, when it offers an
    // end-session endpoint; the upstream then sends the browser on to `redirect`.
    let upstream = match session::lookup(p, cookie(headers, SESSION_COOKIE)).await {
        Ok(Some(sess)) => sess.upstream,
        _ => None,
    };
    if let Some(c) = cookie(headers, SESSION_COOKIE)
        && let Err(e) = session::destroy(p, c).await
    {
        return pages::error_page(StatusCode::SERVICE_UNAVAILABLE, "Sign-out failed", &e.description);
    }
    if let Some(up) = upstream
        && let Some(to) = crate::federation::logout_redirect(p, &up, redirect.clone()).await
    {
        redirect = Some(to);
    }
    let mut res = match redirect {
        Some(to) => {
            let mut r = Redirect::to(&to).into_response();
            *r.status_mut() = StatusCode::SEE_OTHER;
            r
        }
        None => pages::signed_out(),
    };
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    if let Ok(v) =
        HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"))
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
