//! Signing in with a passkey: the username-less sign-in (`/login/passkey`), the second factor
//! after a password (`/login/passkey/mfa`), and the one script the passkey pages run
//! (`/assets/passkeys.js`). Registration, renaming and deletion are on the account page.
//!
//! A sign-in resumes what it interrupted ([`Resume`]): a pending authorization request (the
//! `/login` page) or the account page's own sign-in.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs::prelude::{DiscoverableAuthentication, Passkey, PasskeyAuthentication, PublicKeyCredential};

use super::form::Form;
use super::{AppState, RequestMeta, account, authorize, pages};
use crate::crypto::{ct_eq, now};
use crate::oauth::authorize as flow;
use crate::store::{PasskeyRecord, User};
use crate::webauthn::{self, Passkeys};

const SCRIPT: &str = include_str!("assets/passkeys.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/passkeys.js", get(script))
        .route("/login/passkey/options", post(signin_options))
        .route("/login/passkey", post(signin_finish))
        .route("/login/passkey/mfa", post(mfa_finish))
}

async fn script() -> Response {
    let mut res = SCRIPT.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert(header::HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    res
}

/// What a sign-in goes on with once the person is known.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum Resume {
    /// The pending authorization request with this id (the `/login` page).
    Authorize(String),
    /// The account page's sign-in with this id.
    Account(String),
}

impl Resume {
    /// The `request` field of a sign-in form: a pending request's id, or `account:` and the
    /// id of an account sign-in.
    fn from_field(request: &str) -> Resume {
        match request.strip_prefix("account:") {
            Some(id) => Resume::Account(id.to_string()),
            None => Resume::Authorize(request.to_string()),
        }
    }

    /// Whether the sign-in is still pending, `csrf` is its anti-CSRF token and (for an
    /// authorization) this browser started it.
    async fn check(&self, s: &AppState, headers: &HeaderMap, csrf: &str) -> Result<bool, Response> {
        let p = &s.provider;
        match self {
            Resume::Authorize(id) => {
                match flow::load_pending_checked(p, id, csrf, super::browser::browser_cookie_of(headers)).await {
                    Ok(r) => Ok(matches!(r, flow::Checked::Ok(_))),
                    Err(e) => Err(internal(&e.description)),
                }
            }
            Resume::Account(id) => match account::signin_csrf(s, id).await {
                Ok(Some(expected)) => Ok(ct_eq(expected.as_bytes(), csrf.as_bytes())),
                Ok(None) => Ok(false),
                Err(e) => Err(e),
            },
        }
    }
}

fn internal(cause: &str) -> Response {
    tracing::error!(%cause, "passkey sign-in failed");
    pages::error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Tessera could not complete this sign-in. Try again in a moment.",
    )
}

fn expired() -> Response {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in is unknown or has expired. Go back to the application (or the account page) and start again.",
    )
}

fn disabled() -> Response {
    pages::error_page(StatusCode::NOT_FOUND, "Passkeys are off", "This server does not offer passkeys.")
}

/// A JSON refusal for the script, which shows `message` to the person.
fn json_refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// The state of a username-less sign-in between the options and the answer.
#[derive(Serialize, Deserialize)]
struct SigninCeremony {
    resume: Resume,
    state: DiscoverableAuthentication,
}

/// `POST /login/passkey/options` (`request`, `csrf`): a challenge for any passkey of this
/// relying party, as JSON `{ceremony, publicKey}`.
async fn signin_options(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(rp) = s.passkeys.clone() else {
        return json_refusal(StatusCode::NOT_FOUND, "This server does not offer passkeys.");
    };
    let Ok(f) = Form::parse_pairs(&body) else {
        return json_refusal(StatusCode::BAD_REQUEST, "The request was malformed.");
    };
    let resume = Resume::from_field(&f.get("request").unwrap_or_default());
    match resume.check(&s, &headers, &f.get("csrf").unwrap_or_default()).await {
        Ok(true) => {}
        Ok(false) => return json_refusal(StatusCode::BAD_REQUEST, "This sign-in has expired. Reload the page."),
        Err(_) => return json_refusal(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong. Try again."),
    }
    let (rcr, state) = match rp.start_discoverable() {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "passkey challenge failed");
            return json_refusal(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong. Try again.");
        }
    };
    match webauthn::save_ceremony(s.provider.kv.as_ref(), "signin", &SigninCeremony { resume, state }).await {
        Ok(ceremony) => Json(json!({ "ceremony": ceremony, "publicKey": rcr.public_key })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "passkey challenge not stored");
            json_refusal(StatusCode::SERVICE_UNAVAILABLE, "Something went wrong. Try again.")
        }
    }
}

/// `POST /login/passkey` (`request`, `csrf`, `ceremony`, `credential`): checks the browser's
/// answer and signs the passkey's owner in.
async fn signin_finish(State(s): State<AppState>, meta: RequestMeta, headers: HeaderMap, body: Bytes) -> Response {
    let Some(rp) = s.passkeys.clone() else { return disabled() };
    let Ok(f) = Form::parse_pairs(&body) else { return expired() };
    let kv = s.provider.kv.as_ref();
    let ceremony: SigninCeremony =
        match webauthn::take_ceremony(kv, "signin", &f.get("ceremony").unwrap_or_default()).await {
            Ok(Some(c)) => c,
            Ok(None) => return expired(),
            Err(e) => return internal(&e.to_string()),
        };
    let resume = ceremony.resume.clone();
    let request = match &resume {
        Resume::Authorize(id) => id.clone(),
        Resume::Account(id) => format!("account:{id}"),
    };
    // The ceremony is bound to the sign-in it was started for.
    if f.get("request").unwrap_or_default() != request {
        return expired();
    }
    match resume.check(&s, &headers, &f.get("csrf").unwrap_or_default()).await {
        Ok(true) => {}
        Ok(false) => return expired(),
        Err(res) => return res,
    }
    let verified = verify_discoverable(&s, &rp, &f.get("credential").unwrap_or_default(), ceremony.state).await;
    let user = match verified {
        Ok(user) => user,
        Err(Refusal::Internal(cause)) => return internal(&cause),
        Err(Refusal::Denied { user, reason }) => {
            tracing::info!(%reason, "passkey sign-in refused");
            let actor = user.as_ref().map_or_else(|| "anonymous".to_string(), |u| format!("user:{}", u.id));
            let tenant = audit_tenant(&s, &resume, user.as_ref()).await;
            let summary = json!({ "method": "passkey", "reason": reason });
            s.record_audit(&meta, &tenant, actor.clone(), "signin.failure", actor, summary).await;
            return pages::error_page(
                StatusCode::UNAUTHORIZED,
                "Passkey not accepted",
                "This passkey is not registered here, or it could not be verified. Go back and try again, or sign in \
                 with your password.",
            );
        }
    };
    resume_signin(&s, &meta, &headers, resume, &user, &["hwk", "user"]).await
}

/// Why a passkey was not accepted: a person's mistake (logged and audited, same page for all)
/// or an internal failure.
enum Refusal {
    Denied { user: Option<User>, reason: &'static str },
    Internal(String),
}

fn denied(reason: &'static str) -> Refusal {
    Refusal::Denied { user: None, reason }
}

async fn verify_discoverable(
    s: &AppState,
    rp: &Passkeys,
    answer: &str,
    state: DiscoverableAuthentication,
) -> Result<User, Refusal> {
    let answer: PublicKeyCredential = serde_json::from_str(answer).map_err(|_| denied("malformed answer"))?;
    let (handle, credential_id) = rp.identify(&answer).map_err(|_| denied("no user handle"))?;
    let stores = &s.provider.stores;
    let record = stores
        .passkeys
        .find_passkey(&webauthn::credential_id_text(credential_id))
        .await
        .map_err(|e| Refusal::Internal(e.to_string()))?
        .ok_or_else(|| denied("unknown passkey"))?;
    if !ct_eq(record.user_handle.as_bytes(), handle.to_string().as_bytes()) {
        return Err(denied("user handle mismatch"));
    }
    let mut passkey: Passkey =
        serde_json::from_str(&record.credential).map_err(|e| Refusal::Internal(format!("stored passkey: {e}")))?;
    let user = stores.users.get_user_any(&record.user_id).await.map_err(|e| Refusal::Internal(e.to_string()))?;
    let user = match user {
        Some(u) if !u.disabled && u.tenant_id == record.tenant_id => u,
        other => return Err(Refusal::Denied { user: other, reason: "account disabled" }),
    };
    let result = match rp.finish_discoverable(&answer, state, &passkey) {
        Ok(r) => r,
        Err(_) => return Err(Refusal::Denied { user: Some(user), reason: "verification failed" }),
    };
    passkey.update_credential(&result);
    touch(s, &record, &passkey).await.map_err(Refusal::Internal)?;
    Ok(user)
}

/// Keeps the passkey's new signature counter and the time of use.
async fn touch(s: &AppState, record: &PasskeyRecord, passkey: &Passkey) -> Result<(), String> {
    let json = serde_json::to_string(passkey).map_err(|e| e.to_string())?;
    s.provider
        .stores
        .passkeys
        .touch_passkey(&record.tenant_id, &record.user_id, &record.id, &json, now())
        .await
        .map_err(|e| e.to_string())
}

/// The tenant an audit entry about a sign-in belongs to: the client's for an authorization,
/// the user's home tenant otherwise.
async fn audit_tenant(s: &AppState, resume: &Resume, user: Option<&User>) -> String {
    if let Resume::Authorize(id) = resume
        && let Ok(Some(req)) = flow::load_pending(&s.provider, id).await
    {
        return req.tenant_id;
    }
    user.map_or_else(|| crate::store::DEFAULT_TENANT.to_string(), |u| u.tenant_id.clone())
}

/// Starts the session and goes on with what the sign-in interrupted.
async fn resume_signin(
    s: &AppState,
    meta: &RequestMeta,
    headers: &HeaderMap,
    resume: Resume,
    user: &User,
    amr: &[&str],
) -> Response {
    match resume {
        Resume::Authorize(id) => {
            let req = match flow::load_pending(&s.provider, &id).await {
                Ok(Some(r)) => r,
                Ok(None) => return expired(),
                Err(e) => return internal(&e.description),
            };
            // A pending password change blocks this door as it blocks the password: the
            // passkey proved who this is, so the person chooses the new password now (no
            // session before), and the sign-in goes on with the passkey's methods.
            if user.password_change_required {
                return authorize::password_change_page(s, headers, &req, &id, user, amr).await;
            }
            authorize::sign_in_with(s, meta, headers, req, &id, user, amr).await
        }
        Resume::Account(id) => account::start_session(s, meta, headers, &id, user, amr).await,
    }
}

/// The state of a second factor between the page and the answer.
#[derive(Serialize, Deserialize)]
struct MfaCeremony {
    resume: Resume,
    user_id: String,
    csrf: String,
    state: PasskeyAuthentication,
}

/// After a correct password: if the user has passkeys, the page that asks for one (and
/// `Some`); `None` when there is nothing to ask. `error` is shown on the page (a retry).
pub(super) async fn second_factor(s: &AppState, resume: Resume, user: &User, error: Option<&str>) -> Option<Response> {
    let rp = s.passkeys.clone()?;
    let p = &s.provider;
    let records = match p.stores.passkeys.list_passkeys(&user.tenant_id, &user.id).await {
        Ok(r) if r.is_empty() => return None,
        Ok(r) => r,
        Err(e) => return Some(internal(&e.to_string())),
    };
    let passkeys: Vec<Passkey> = records.iter().filter_map(|r| serde_json::from_str(&r.credential).ok()).collect();
    if passkeys.is_empty() {
        return Some(internal("no stored passkey could be read"));
    }
    let (rcr, state) = match rp.start_for(&passkeys) {
        Ok(x) => x,
        Err(e) => return Some(internal(&e.to_string())),
    };
    let csrf = crate::crypto::random_token(24);
    let rec = MfaCeremony { resume, user_id: user.id.clone(), csrf: csrf.clone(), state };
    let ceremony = match webauthn::save_ceremony(p.kv.as_ref(), "mfa", &rec).await {
        Ok(id) => id,
        Err(e) => return Some(internal(&e.to_string())),
    };
    let options = serde_json::to_string(&rcr.public_key).unwrap_or_default();
    Some(mfa_page(s, &ceremony, &csrf, &options, error))
}

fn mfa_page(s: &AppState, ceremony: &str, csrf: &str, options: &str, error: Option<&str>) -> Response {
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let shown = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", pages::esc(e))).unwrap_or_default();
    let p = &s.provider;
    let body = format!(
        "<h1>Confirm it is you</h1><p class=\"muted\">Your account has a passkey. Use it to finish signing in.</p>{shown}\
<form method=\"post\" action=\"{action}\" id=\"passkey-mfa\" data-options=\"{options}\">\
<input type=\"hidden\" name=\"ceremony\" value=\"{ceremony}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<input type=\"hidden\" name=\"credential\" value=\"\">\
<button type=\"button\" id=\"passkey-verify\" autofocus>Use my passkey</button></form>\
<p class=\"error\" role=\"alert\" id=\"passkey-error\" tabindex=\"-1\" hidden></p>\
<script src=\"{script}\" defer></script>",
        action = pages::esc(&p.settings.url("/login/passkey/mfa")),
        options = pages::esc(options),
        ceremony = pages::esc(ceremony),
        csrf = pages::esc(csrf),
        script = pages::esc(&p.settings.url("/assets/passkeys.js")),
    );
    pages::allow_scripts(pages::page(status, "Confirm it is you", &body))
}

/// `POST /login/passkey/mfa` (`ceremony`, `csrf`, `credential`): the second factor's answer.
async fn mfa_finish(State(s): State<AppState>, meta: RequestMeta, headers: HeaderMap, body: Bytes) -> Response {
    let Some(rp) = s.passkeys.clone() else { return disabled() };
    let Ok(f) = Form::parse_pairs(&body) else { return expired() };
    let p = &s.provider;
    let rec: MfaCeremony =
        match webauthn::take_ceremony(p.kv.as_ref(), "mfa", &f.get("ceremony").unwrap_or_default()).await {
            Ok(Some(c)) => c,
            Ok(None) => return expired(),
            Err(e) => return internal(&e.to_string()),
        };
    if !ct_eq(rec.csrf.as_bytes(), f.get("csrf").unwrap_or_default().as_bytes()) {
        return expired();
    }
    let user = match p.stores.users.get_user_any(&rec.user_id).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return expired(),
        Err(e) => return internal(&e.to_string()),
    };
    let checked = match serde_json::from_str::<PublicKeyCredential>(&f.get("credential").unwrap_or_default()) {
        Ok(answer) => rp.finish_for(&answer, &rec.state).ok(),
        Err(_) => None,
    };
    let Some(result) = checked else {
        let actor = format!("user:{}", user.id);
        let tenant = audit_tenant(&s, &rec.resume, Some(&user)).await;
        let summary = json!({ "method": "passkey", "reason": "second factor failed" });
        s.record_audit(&meta, &tenant, actor.clone(), "signin.failure", actor, summary).await;
        let again = second_factor(&s, rec.resume, &user, Some("That passkey could not be verified. Try again.")).await;
        return again.unwrap_or_else(expired);
    };
    // Keep the counter of the passkey that answered.
    let records = match p.stores.passkeys.list_passkeys(&user.tenant_id, &user.id).await {
        Ok(r) => r,
        Err(e) => return internal(&e.to_string()),
    };
    let used = webauthn::credential_id_text(result.cred_id());
    if let Some(record) = records.iter().find(|r| r.credential_id == used)
        && let Ok(mut passkey) = serde_json::from_str::<Passkey>(&record.credential)
    {
        passkey.update_credential(&result);
        if let Err(e) = touch(&s, record, &passkey).await {
            return internal(&e);
        }
    }
    resume_signin(&s, &meta, &headers, rec.resume, &user, &["pwd", "hwk", "mfa"]).await
}
