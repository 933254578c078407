//! Forgot password: `/login/forgot` (ask for a link) and `/login/reset` (use it), plus the
//! mail of an administrator's mandatory change-password request.
//!
//! A reset link carries a random token; the state backend keeps only its SHA-256, for at most
//! an hour (`passwords.reset_link_lifetime_secs`), with the user it is for and a fingerprint of
//! the password hash of the time. Using it consumes it atomically (one winner), and it fails
//! once the password has changed in any other way. Asking for a link answers the same page,
//! with the same status, whether or not the address belongs to an account: the mail goes out
//! in the background.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::form::Form;
use super::pages::{esc, page};
use super::{AppState, RequestMeta};
use crate::crypto::{Secret, b64url, random_token, sha256};
use crate::oauth::OAuthError;
use crate::oauth::authorize;
use crate::store::User;
use crate::{mail, password};

/// Reset links asked for one username, and from one address, per throttle window; past that
/// no mail is sent (and the answer stays the same).
const RESET_MAILS_PER_ACCOUNT: u64 = 5;
const RESET_REQUESTS_PER_ADDRESS: u64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/forgot", get(forgot_get).post(forgot_post))
        .route("/login/reset", get(reset_get).post(reset_post))
}

/// The login page's "Forgot your password?" link for a pending sign-in request.
pub(super) fn forgot_url(request_id: &str) -> String {
    format!("login/forgot?request={}", url::form_urlencoded::byte_serialize(request_id.as_bytes()).collect::<String>())
}

/// What a reset link stands for, stored under the SHA-256 of its token.
#[derive(serde::Serialize, serde::Deserialize)]
struct ResetRecord {
    user_id: String,
    /// SHA-256 of the password hash when the link was made ("" when there was none).
    password: String,
    /// The sign-in request the person came from, to send them back to it.
    request_id: String,
}

fn reset_key(token: &str) -> String {
    format!("pwreset:{}", b64url(&sha256(token.as_bytes())))
}

fn password_fingerprint(u: &User) -> String {
    u.password_hash.as_deref().map(|h| b64url(&sha256(h.as_bytes()))).unwrap_or_default()
}

#[derive(serde::Deserialize)]
struct RequestQuery {
    request: Option<String>,
}

fn expired_page() -> Response {
    super::pages::error_page(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in request is unknown or has expired. Go back to the application and start again.",
    )
}

fn failure_page(e: &OAuthError) -> Response {
    tracing::warn!(error = %e.description, "password recovery failed");
    super::pages::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again later",
        "This could not be done right now. Please try again in a moment.",
    )
}

fn forgot_page(status: StatusCode, request_id: &str, csrf: &str) -> Response {
    page(
        status,
        "Forgot your password?",
        &format!(
            "<h1>Forgot your password?</h1><p class=\"muted\">Enter your username or email address. If it belongs \
to an account with an email address, we send a link there to choose a new password.</p>\
<form method=\"post\" action=\"forgot\"><input type=\"hidden\" name=\"request\" value=\"{rid}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label for=\"identifier\">Username or email</label>\
<input type=\"text\" id=\"identifier\" name=\"identifier\" autocomplete=\"username\" required autofocus>\
<button type=\"submit\">Send the link</button></form>\
<p class=\"muted\"><a href=\"../login?request={rid}\" id=\"back-to-login\">Back to sign in</a></p>",
            rid = esc(request_id),
            csrf = esc(csrf),
        ),
    )
}

async fn forgot_get(State(s): State<AppState>, Query(q): Query<RequestQuery>) -> Response {
    let id = q.request.unwrap_or_default();
    match authorize::load_pending(&s.provider, &id).await {
        Ok(Some(req)) => forgot_page(StatusCode::OK, &id, &req.csrf),
        Ok(None) => expired_page(),
        Err(e) => failure_page(&e),
    }
}

/// The one answer to a reset request, whatever happened.
fn link_sent_page(request_id: &str, minutes: u64) -> Response {
    page(
        StatusCode::OK,
        "Check your mail",
        &format!(
            "<h1>Check your mail</h1><p id=\"reset-requested\">If this matches an account with an email address, a \
link to choose a new password is on its way there. It works once, within {minutes} minutes.</p>\
<p class=\"muted\"><a href=\"../login?request={}\" id=\"back-to-login\">Back to sign in</a></p>",
            esc(request_id)
        ),
    )
}

async fn forgot_post(State(s): State<AppState>, meta: RequestMeta, headers: HeaderMap, body: Bytes) -> Response {
    let p = &s.provider;
    let Ok(f) = Form::parse_pairs(&body) else { return expired_page() };
    let id = f.get("request").unwrap_or_default();
    let csrf = f.get("csrf").unwrap_or_default();
    let req = match authorize::load_pending_checked(p, &id, &csrf, super::browser::browser_cookie_of(&headers)).await {
        Ok(authorize::Checked::Ok(r)) => *r,
        Ok(authorize::Checked::Expired) => return expired_page(),
        Ok(authorize::Checked::OtherBrowser) => return super::browser::other_browser_page(),
        Err(e) => return failure_page(&e),
    };
    let identifier = f.get("identifier").unwrap_or_default();
    let identifier = identifier.trim();
    let minutes = s.reset_link_ttl.as_secs().div_ceil(60);
    if identifier.is_empty() || identifier.chars().count() > 254 {
        return link_sent_page(&id, minutes);
    }
    if let Err(e) = request_reset(&s, &meta, &req.tenant_id, &id, identifier).await {
        // Logged, and answered like everything else: the page must not tell what happened.
        tracing::warn!(error = %e.description, "password reset request failed");
    }
    link_sent_page(&id, minutes)
}

/// Finds the account, counts the request, and mails a link if all is well. Every outcome is
/// the same for the person asking.
async fn request_reset(
    s: &AppState,
    meta: &RequestMeta,
    tenant: &str,
    request_id: &str,
    identifier: &str,
) -> Result<(), OAuthError> {
    let p = &s.provider;
    let users = &p.stores.users;
    let user = if identifier.contains('@') { users.find_user_by_email_any(identifier).await? } else { None };
    let user = match user {
        Some(u) => Some(u),
        None => users.find_user_by_username_any(identifier).await?,
    };
    // Counted per account name (the user's username when known, so an address and a username
    // share one count) and per client address.
    let counted_name = user.as_ref().map_or(identifier, |u| u.username.as_str());
    let allowed = s
        .throttle
        .allow(
            "reset",
            counted_name,
            meta.client_addr.as_deref(),
            (RESET_MAILS_PER_ACCOUNT, RESET_REQUESTS_PER_ADDRESS),
        )
        .await?;
    let summary = json!({ "identifier": identifier.chars().take(200).collect::<String>() });
    let Some(user) = user.filter(|u| !u.disabled && u.email.is_some()) else {
        s.record_audit(meta, tenant, "anonymous".into(), "password_reset.request", "anonymous".into(), summary).await;
        return Ok(());
    };
    let target = format!("user:{}", user.id);
    if !allowed {
        let mut summary = summary;
        summary["throttled"] = json!(true);
        s.record_audit(meta, tenant, "anonymous".into(), "password_reset.throttled", target, summary).await;
        return Ok(());
    }
    let token = random_token(32);
    let record = ResetRecord {
        user_id: user.id.clone(),
        password: password_fingerprint(&user),
        request_id: request_id.to_string(),
    };
    let value = serde_json::to_vec(&record).map_err(OAuthError::server_error)?;
    p.kv.put(&reset_key(&token), &value, s.reset_link_ttl).await?;
    let link = format!("{}?token={token}", p.settings.url("/login/reset"));
    let minutes = s.reset_link_ttl.as_secs().div_ceil(60);
    let to = user.email.as_deref().unwrap_or_default();
    s.mail.send_later(mail::reset_link(to, user.name.as_deref(), &user.username, &link, minutes, target.clone()));
    s.record_audit(meta, tenant, "anonymous".into(), "password_reset.request", target, summary).await;
    Ok(())
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn link_invalid_page() -> Response {
    super::pages::error_page(
        StatusCode::BAD_REQUEST,
        "Link expired",
        "This link to choose a new password has expired or was already used. Ask for a new one from the sign-in page.",
    )
}

fn reset_form(status: StatusCode, token: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\" id=\"reset-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        status,
        "Choose a new password",
        &format!(
            "<h1>Choose a new password</h1><p class=\"muted\">Use at least 8 characters; a long phrase is best.</p>{error}\
<form method=\"post\" action=\"reset\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
<label for=\"new_password\">New password</label>\
<input type=\"password\" id=\"new_password\" name=\"new_password\" autocomplete=\"new-password\" minlength=\"8\" required autofocus>\
<label for=\"confirm_password\">Repeat the new password</label>\
<input type=\"password\" id=\"confirm_password\" name=\"confirm_password\" autocomplete=\"new-password\" required>\
<button type=\"submit\">Set the password</button></form>",
            esc(token)
        ),
    )
}

/// Shows the form; the link is not consumed until the form is sent (mail scanners open links).
async fn reset_get(State(s): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    if token.is_empty() || token.len() > 128 {
        return link_invalid_page();
    }
    match s.provider.kv.get(&reset_key(&token)).await {
        Ok(Some(_)) => reset_form(StatusCode::OK, &token, None),
        Ok(None) => link_invalid_page(),
        Err(e) => failure_page(&e.into()),
    }
}

async fn reset_post(State(s): State<AppState>, meta: RequestMeta, body: Bytes) -> Response {
    let p = &s.provider;
    let Ok(f) = Form::parse_pairs(&body) else { return link_invalid_page() };
    let token = f.get("token").unwrap_or_default();
    if token.is_empty() || token.len() > 128 {
        return link_invalid_page();
    }
    let new = Secret::new(f.get("new_password").unwrap_or_default());
    let confirm = Secret::new(f.get("confirm_password").unwrap_or_default());
    // Checked before the link is consumed, so a typo does not cost the link.
    let problem = if new.expose() != confirm.expose() {
        Some("The two passwords are not the same.")
    } else {
        password::check_policy(new.expose()).err()
    };
    if let Some(msg) = problem {
        return match p.kv.get(&reset_key(&token)).await {
            Ok(Some(_)) => reset_form(StatusCode::UNPROCESSABLE_ENTITY, &token, Some(msg)),
            Ok(None) => link_invalid_page(),
            Err(e) => failure_page(&e.into()),
        };
    }
    let record: ResetRecord = match p.kv.take(&reset_key(&token)).await {
        Ok(Some(v)) => match serde_json::from_slice(&v) {
            Ok(r) => r,
            Err(_) => return link_invalid_page(),
        },
        Ok(None) => return link_invalid_page(),
        Err(e) => return failure_page(&e.into()),
    };
    let users = &p.stores.users;
    let user = match users.get_user_any(&record.user_id).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return link_invalid_page(),
        Err(e) => return failure_page(&e.into()),
    };
    // A link made before the password last changed is stale.
    if !crate::crypto::ct_eq(password_fingerprint(&user).as_bytes(), record.password.as_bytes()) {
        return link_invalid_page();
    }
    let pw = new.clone();
    let Ok(hash) = tokio::task::spawn_blocking(move || password::hash_password(pw.expose())).await else {
        return failure_page(&OAuthError::server_error("password hashing task failed"));
    };
    let updated = async {
        users.set_password_hash(&user.tenant_id, &user.id, &hash).await?;
        // Choosing a new password answers an administrator's change-password request too.
        users.require_password_change(&user.id, false).await
    };
    if let Err(e) = updated.await {
        return failure_page(&e.into());
    }
    // Whoever held a session or refresh token of this account must sign in again.
    if let Err(e) = crate::oauth::session::end_all_before_now(p, &user.id).await {
        return failure_page(&e);
    }
    if let Err(e) = s.throttle.succeeded(&user.username).await {
        tracing::warn!(error = %e, "throttle not cleared after a password reset");
    }
    let actor = format!("user:{}", user.id);
    s.record_audit(&meta, &user.tenant_id, actor.clone(), "user.password_reset", actor, json!({})).await;
    let back = match authorize::load_pending(p, &record.request_id).await {
        Ok(Some(_)) => format!(
            "<p><a href=\"../login?request={}\" id=\"continue-sign-in\">Continue to sign in</a></p>",
            esc(&record.request_id)
        ),
        _ => "<p>Go back to the application and sign in with it.</p>".to_string(),
    };
    page(
        StatusCode::OK,
        "Password changed",
        &format!("<h1>Password changed</h1><p id=\"password-changed\">Your new password is set.</p>{back}"),
    )
}

/// Mails an administrator's mandatory change-password request to the user (when they have an
/// address), in the background.
pub(crate) fn send_change_request(s: &AppState, user: &User, tenant: &str) {
    let Some(to) = user.email.as_deref() else { return };
    let about = format!("user:{}", user.id);
    s.mail.send_later(mail::change_request(
        to,
        user.name.as_deref(),
        &user.username,
        tenant,
        &s.provider.settings.issuer,
        about,
    ));
}
