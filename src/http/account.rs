//! The account page (`/account`): a signed-in person changes their own password, sets their
//! preferences (theme, time zone, a default namespace per tenant), manages their passkeys and
//! sees their recent sign-ins. Without a session it offers its own sign-in (password or
//! passkey), since no application sent the person here.
//!
//! Every form carries an anti-CSRF token derived from the session cookie (the SHA-256 of a
//! label and the cookie's value: only a page read by the browser holding the cookie knows it),
//! and every change is audited in the user's home tenant.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration, RegisterPublicKeyCredential, Uuid};

use super::form::Form;
use super::passkeys::{Resume, second_factor};
use super::{AppState, RequestMeta, authorize, cookie, pages};
use crate::crypto::{Secret, ct_eq, hash_secret, now, random_token};
use crate::oauth::session::{self, SESSION_COOKIE};
use crate::password;
use crate::store::{MemberKind, PasskeyRecord, Preferences, StoreError, User};
use crate::webauthn;

/// Longest passkey name, in characters.
const MAX_PASSKEY_NAME: usize = 60;
/// How far back the page looks for sign-ins, and how many it shows.
const RECENT_WINDOW_SECS: i64 = 30 * 86_400;
const RECENT_SHOWN: usize = 10;
const THEMES: [&str; 3] = ["system", "light", "dark"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account_get))
        .route("/account/login", post(login_post))
        .route("/account/logout", post(logout_post))
        .route("/account/password", post(password_post))
        .route("/account/preferences", post(preferences_post))
        .route("/account/passkeys/options", post(passkey_options))
        .route("/account/passkeys", post(passkey_add))
        .route("/account/passkeys/{id}/rename", post(passkey_rename))
        .route("/account/passkeys/{id}/delete", post(passkey_delete))
}

// ---------------------------------------------------------------------------------------------
// Sessions and their anti-CSRF token
// ---------------------------------------------------------------------------------------------

/// The signed-in person and what the page needs of the session.
struct Current {
    user: User,
    csrf: String,
    /// How the session was authenticated (kept when a password change renews it).
    amr: Vec<String>,
}

fn csrf_of(cookie_value: &str) -> String {
    hash_secret(&format!("account-csrf:{cookie_value}"))
}

fn internal(cause: &str) -> Response {
    tracing::error!(%cause, "account page failed");
    pages::error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Tessera could not complete this. Try again in a moment.",
    )
}

async fn current(s: &AppState, headers: &HeaderMap) -> Result<Option<Current>, Response> {
    let p = &s.provider;
    let value = cookie(headers, SESSION_COOKIE);
    let sess = match session::lookup(p, value).await {
        Ok(Some(sess)) => sess,
        Ok(None) => return Ok(None),
        Err(e) => return Err(internal(&e.description)),
    };
    let user = match p.stores.users.get_user_any(&sess.user_id).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return Ok(None),
        Err(e) => return Err(internal(&e.to_string())),
    };
    let csrf = csrf_of(value.unwrap_or_default());
    Ok(Some(Current { user, csrf, amr: sess.amr }))
}

/// The signed-in person, if the form's anti-CSRF token is theirs; otherwise the response.
async fn checked(s: &AppState, headers: &HeaderMap, f: &Form) -> Result<Current, Response> {
    let Some(cur) = current(s, headers).await? else { return Err(see_other(s, "/account")) };
    if !ct_eq(cur.csrf.as_bytes(), f.get("csrf").unwrap_or_default().as_bytes()) {
        return Err(pages::error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form is out of date. Reload the account page and try again.",
        ));
    }
    Ok(cur)
}

fn see_other(s: &AppState, path: &str) -> Response {
    let mut res = Redirect::to(&s.provider.settings.url(path)).into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res
}

async fn audit(s: &AppState, meta: &RequestMeta, user: &User, action: &str, summary: serde_json::Value) {
    let actor = format!("user:{}", user.id);
    s.record_audit(meta, &user.tenant_id, actor.clone(), action, actor, summary).await;
}

// ---------------------------------------------------------------------------------------------
// Signing in to the account page
// ---------------------------------------------------------------------------------------------

/// A sign-in on the account page: its anti-CSRF token and the SHA-256 of the pre-session
/// cookie of the browser it was offered to, under `account-login:{id}`.
#[derive(Serialize, Deserialize)]
struct SigninRecord {
    csrf: String,
    #[serde(default)]
    browser: String,
}

fn signin_key(id: &str) -> String {
    format!("account-login:{id}")
}

/// The anti-CSRF token of a pending account sign-in (for the passkey sign-in).
pub(super) async fn signin_csrf(s: &AppState, id: &str) -> Result<Option<String>, Response> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    match s.provider.kv.get(&signin_key(id)).await {
        Ok(Some(v)) => Ok(serde_json::from_slice::<SigninRecord>(&v).ok().map(|r| r.csrf)),
        Ok(None) => Ok(None),
        Err(e) => Err(internal(&e.to_string())),
    }
}

async fn signin_page(
    s: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Response {
    let p = &s.provider;
    let id = random_token(24);
    let csrf = random_token(24);
    // Bound to this browser, as the login page is (see `super::browser`).
    let browser = super::browser::browser_cookie(headers);
    let rec = SigninRecord { csrf: csrf.clone(), browser: hash_secret(&browser) };
    let rec = serde_json::to_vec(&rec).unwrap_or_default();
    if let Err(e) = p.kv.put(&signin_key(&id), &rec, p.settings.login_request_ttl).await {
        return internal(&e.to_string());
    }
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>", pages::esc(e)));
    let passkey = if s.passkeys.is_some() {
        format!(
            "<p><button type=\"button\" id=\"passkey-signin\" class=\"secondary\" data-action=\"{}\">Sign in with a \
             passkey</button></p><p class=\"error\" role=\"alert\" id=\"passkey-error\" tabindex=\"-1\" hidden></p>\
             <script src=\"{}\" defer></script>",
            pages::esc(&p.settings.url("/login/passkey")),
            pages::esc(&p.settings.url("/assets/passkeys.js"))
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Your account</h1><p class=\"muted\">Sign in to manage your account.</p>{error}\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"request\" value=\"account:{id}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label for=\"username\">Username</label>\
<input type=\"text\" id=\"username\" name=\"username\" value=\"{user}\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label>\
<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in</button></form>{passkey}",
        error = error.unwrap_or_default(),
        action = pages::esc(&p.settings.url("/account/login")),
        id = pages::esc(&id),
        csrf = pages::esc(&csrf),
        user = pages::esc(username),
    );
    let mut res = pages::allow_scripts(pages::page(status, "Your account", &body));
    super::browser::set_browser_cookie(s, &mut res, &browser, p.settings.login_request_ttl.as_secs());
    res
}

/// `POST /account/login`: a password sign-in to the account page.
async fn login_post(State(s): State<AppState>, meta: RequestMeta, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(f) = Form::parse_pairs(&body) else {
        return signin_page(&s, &headers, StatusCode::BAD_REQUEST, "", None).await;
    };
    let request = f.get("request").unwrap_or_default();
    let id = request.strip_prefix("account:").unwrap_or_default().to_string();
    let csrf = f.get("csrf").unwrap_or_default();
    match signin_csrf(&s, &id).await {
        Ok(Some(expected)) if ct_eq(expected.as_bytes(), csrf.as_bytes()) => {}
        Ok(_) => {
            return signin_page(&s, &headers, StatusCode::BAD_REQUEST, "", Some("This sign-in expired. Try again."))
                .await;
        }
        Err(res) => return res,
    }
    let username = f.get("username").unwrap_or_default();
    let given = Secret::new(f.get("password").unwrap_or_default());
    // Throttled, audited and rehashed as on the login page.
    let user = match super::password_signin::check(&s, &meta, None, "account", &username, &given).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            s.provider.metrics.signin_failed();
            return signin_page(&s, &headers, StatusCode::UNAUTHORIZED, &username, Some("Wrong username or password."))
                .await;
        }
        Err(e) => return internal(&e.description),
    };
    if user.password_change_required {
        return change_first_page();
    }
    if let Some(res) = second_factor(&s, Resume::Account(id.clone()), &user, None).await {
        return res;
    }
    start_session(&s, &meta, &headers, &id, &user, &["pwd"]).await
}

/// The refusal of a sign-in to the account page while a password change is pending.
fn change_first_page() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "Choose a new password first",
        "Your administrator asked you to set a new password. Sign in to an application to set it, then come back.",
    )
}

/// Checks a password with Argon2id off the async threads (a dummy hash for unknown users).
async fn verify(given: &str, hash: Option<String>) -> bool {
    let given = given.to_string();
    tokio::task::spawn_blocking(move || {
        let verified = password::verify_password(&given, hash.as_deref().unwrap_or(password::dummy_hash()));
        verified && hash.is_some()
    })
    .await
    .unwrap_or(false)
}

/// Starts the session of a person who signed in on the account page (sign-in `id`), and
/// shows the page.
pub(super) async fn start_session(
    s: &AppState,
    meta: &RequestMeta,
    headers: &HeaderMap,
    id: &str,
    user: &User,
    amr: &[&str],
) -> Response {
    let p = &s.provider;
    let rec = match p.kv.take(&signin_key(id)).await {
        Ok(Some(raw)) => serde_json::from_slice::<SigninRecord>(&raw).ok(),
        Ok(None) => None,
        Err(e) => return internal(&e.to_string()),
    };
    let Some(rec) = rec else {
        return signin_page(s, headers, StatusCode::BAD_REQUEST, "", Some("This sign-in expired. Try again.")).await;
    };
    // Every door of the account page (password, passkey) ends here: only the browser the
    // sign-in was offered to is signed in, and never while a password change is pending.
    let cookie_value = super::browser::browser_cookie_of(headers).unwrap_or_default();
    if rec.browser.is_empty()
        || cookie_value.is_empty()
        || !ct_eq(rec.browser.as_bytes(), hash_secret(cookie_value).as_bytes())
    {
        return super::browser::other_browser_page();
    }
    if user.password_change_required {
        return change_first_page();
    }
    if let Some(old) = cookie(headers, SESSION_COOKIE)
        && let Err(e) = session::destroy(p, old).await
    {
        return internal(&e.description);
    }
    let (value, _) = match session::create(p, &user.tenant_id, &user.id, amr, now()).await {
        Ok(x) => x,
        Err(e) => return internal(&e.description),
    };
    audit(s, meta, user, "signin.success", json!({ "amr": amr, "via": "account" })).await;
    let mut res = see_other(s, "/account");
    authorize::set_session_cookie(s, &mut res, &value, p.settings.session_ttl.as_secs());
    res
}

/// `POST /account/logout`: ends the session.
async fn logout_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(f) = Form::parse_pairs(&body) else { return see_other(&s, "/account") };
    if let Err(res) = checked(&s, &headers, &f).await {
        return res;
    }
    if let Some(value) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = session::destroy(&s.provider, value).await
    {
        return internal(&e.description);
    }
    let mut res = see_other(&s, "/account");
    authorize::set_session_cookie(&s, &mut res, "", 0);
    res
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct PageQuery {
    done: Option<String>,
}

/// What a `?done=` names, after a change (post, redirect, get).
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "password" => "Your password was changed.",
        "preferences" => "Your preferences were saved.",
        "passkey-added" => "Your passkey was added.",
        "passkey-renamed" => "Your passkey was renamed.",
        "passkey-deleted" => "Your passkey was deleted.",
        _ => return None,
    })
}

async fn account_get(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<PageQuery>) -> Response {
    match current(&s, &headers).await {
        Ok(Some(cur)) => render(&s, &cur, StatusCode::OK, q.done.as_deref().and_then(notice), None).await,
        Ok(None) => signin_page(&s, &headers, StatusCode::OK, "", None).await,
        Err(res) => res,
    }
}

/// Which section an error belongs to, and what it says.
struct FormError {
    section: &'static str,
    message: String,
}

fn form_error(section: &'static str, message: impl Into<String>) -> Option<FormError> {
    Some(FormError { section, message: message.into() })
}

/// A sign-in shown on the page.
struct SigninEvent {
    at: i64,
    ok: bool,
    how: String,
    from: Option<String>,
}

async fn recent_signins(s: &AppState, user: &User, tenants: &[String]) -> Result<Vec<SigninEvent>, StoreError> {
    let audit = &s.provider.stores.audit;
    let mut places: Vec<&str> = tenants.iter().map(String::as_str).collect();
    if !places.contains(&user.tenant_id.as_str()) {
        places.push(&user.tenant_id);
    }
    let mut events = Vec::new();
    for tenant in places {
        for action in ["signin.success", "signin.failure"] {
            let filter = crate::store::AuditFilter {
                actor: Some(format!("user:{}", user.id)),
                action: Some(action.to_string()),
                from: Some(now() - RECENT_WINDOW_SECS),
                ..Default::default()
            };
            for e in audit.list_audit(tenant, &filter, None, 500).await? {
                let how = match e.summary.get("amr").and_then(|a| a.as_array()) {
                    Some(amr) if amr.iter().any(|m| m == "hwk") && amr.iter().any(|m| m == "pwd") => {
                        "password and passkey"
                    }
                    Some(amr) if amr.iter().any(|m| m == "hwk") => "passkey",
                    Some(amr) if amr.iter().any(|m| m == "fed") => "organization",
                    Some(_) => "password",
                    None if e.summary.get("method").is_some_and(|m| m == "passkey") => "passkey",
                    None => "password",
                };
                events.push(SigninEvent {
                    at: e.at,
                    ok: action == "signin.success",
                    how: how.to_string(),
                    from: e.client_addr,
                });
            }
        }
    }
    events.sort_by_key(|e| std::cmp::Reverse(e.at));
    events.truncate(RECENT_SHOWN);
    Ok(events)
}

/// RFC 3339 in UTC, from unix seconds (the script shows it in the user's time zone).
fn utc(at: i64) -> String {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

const DARK: &str = "<style>body{background:#14171f;color:#e6e8ee}main{background:#1d2330;box-shadow:none}\
input[type=text],input[type=password],select{background:#14171f;color:#e6e8ee;border-color:#5b6475}\
.muted{color:#aab2c0}a{color:#9fb3ff}</style>";
const ACCOUNT_STYLE: &str = "<style>main{max-width:40rem}section{margin-top:2rem;border-top:1px solid #e6e8ee;\
padding-top:.5rem}table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .4rem;\
border-bottom:1px solid #e6e8ee;vertical-align:top}select{padding:.5rem;font-size:1rem}\
.notice{background:#e8f5e9;color:#1b5e20;border:1px solid #b9dfbb;padding:.6rem .8rem;border-radius:6px}\
form.inline{display:inline}form.inline button{margin-top:.3rem}</style>";

async fn render(
    s: &AppState,
    cur: &Current,
    status: StatusCode,
    done: Option<&str>,
    error: Option<FormError>,
) -> Response {
    let p = &s.provider;
    let u = &cur.user;
    let stores = &p.stores;
    // The sign-in that led here was handed to the audit writer, maybe not yet written.
    s.audit.written().await;
    let loaded = async {
        let prefs = stores.preferences.get_preferences(&u.tenant_id, &u.id).await?.unwrap_or_default();
        let tenants = stores.access.tenants_of(MemberKind::User, &u.id).await?;
        let mut namespaces = Vec::new();
        for t in &tenants {
            namespaces.push((t.clone(), stores.preferences.get_default_namespace(t, &u.id).await?));
        }
        let passkeys = stores.passkeys.list_passkeys(&u.tenant_id, &u.id).await?;
        let recent = recent_signins(s, u, &tenants).await?;
        Ok::<_, StoreError>((prefs, namespaces, passkeys, recent))
    };
    let (prefs, namespaces, passkeys, recent) = match loaded.await {
        Ok(x) => x,
        Err(e) => return internal(&e.to_string()),
    };
    let esc = pages::esc;
    let url = |path: &str| esc(&p.settings.url(path));
    let csrf = esc(&cur.csrf);
    let err_in = |section: &str| {
        error
            .as_ref()
            .filter(|e| e.section == section)
            .map(|e| format!("<p class=\"error\" role=\"alert\" id=\"{section}-error\">{}</p>", esc(&e.message)))
            .unwrap_or_default()
    };
    let notice = done.map(|n| format!("<p class=\"notice\" role=\"status\">{}</p>", esc(n))).unwrap_or_default();
    let name = u.name.as_deref().unwrap_or(&u.username);
    let email = u.email.as_deref().map(|e| format!(" · {}", esc(e))).unwrap_or_default();

    let themes: String = THEMES
        .iter()
        .map(|t| {
            let sel = if prefs.theme == *t { " selected" } else { "" };
            format!("<option value=\"{t}\"{sel}>{}</option>", capitalize(t))
        })
        .collect();
    let ns_fields: String = namespaces
        .iter()
        .enumerate()
        .map(|(i, (tenant, ns))| {
            format!(
                "<label for=\"ns-{i}\">Default namespace in {tenant}</label>\
<input type=\"text\" id=\"ns-{i}\" name=\"ns:{tenant_attr}\" value=\"{value}\" placeholder=\"company.team\" \
maxlength=\"{max}\" pattern=\"[A-Za-z0-9_.\\-]*\">",
                tenant = esc(tenant),
                tenant_attr = esc(tenant),
                value = esc(ns.as_deref().unwrap_or("")),
                max = crate::rbac::MAX_NAMESPACE_LEN,
            )
        })
        .collect();

    let passkey_rows: String = passkeys.iter().map(|k| passkey_row(p, k, &csrf)).collect();
    let passkey_table = if passkeys.is_empty() {
        "<p class=\"muted\" id=\"no-passkeys\">You have no passkey yet.</p>".to_string()
    } else {
        format!(
            "<table id=\"passkeys\"><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Added</th>\
<th scope=\"col\">Last used</th><th scope=\"col\">Actions</th></tr></thead><tbody>{passkey_rows}</tbody></table>"
        )
    };
    let add_passkey = if s.passkeys.is_some() {
        format!(
            "<form method=\"post\" action=\"{action}\" id=\"passkey-add\" data-options=\"{options}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"ceremony\" value=\"\">\
<input type=\"hidden\" name=\"credential\" value=\"\">\
<label for=\"passkey-name\">Name of the new passkey</label>\
<input type=\"text\" id=\"passkey-name\" name=\"name\" value=\"Passkey\" maxlength=\"{MAX_PASSKEY_NAME}\" required>\
<button type=\"submit\" id=\"passkey-add-button\">Add a passkey</button></form>\
<p class=\"error\" role=\"alert\" id=\"passkey-add-error\" tabindex=\"-1\" hidden></p>",
            action = url("/account/passkeys"),
            options = url("/account/passkeys/options"),
        )
    } else {
        "<p class=\"muted\">Passkeys need an https address (or localhost).</p>".to_string()
    };
    let recent_rows: String = recent
        .iter()
        .map(|e| {
            format!(
                "<tr><td><time datetime=\"{t}\">{t}</time></td><td>{result}</td><td>{how}</td><td>{from}</td></tr>",
                t = utc(e.at),
                result = if e.ok { "Signed in" } else { "Failed" },
                how = esc(&e.how),
                from = esc(e.from.as_deref().unwrap_or("unknown")),
            )
        })
        .collect();
    let recent_table = if recent.is_empty() {
        "<p class=\"muted\">No sign-in in the last 30 days.</p>".to_string()
    } else {
        format!(
            "<table id=\"recent-signins\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Result</th>\
<th scope=\"col\">With</th><th scope=\"col\">From</th></tr></thead><tbody>{recent_rows}</tbody></table>"
        )
    };
    let password_section = if u.password_hash.is_some() {
        format!(
            "{err}<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<input type=\"text\" name=\"username\" value=\"{user}\" autocomplete=\"username\" hidden>\
<label for=\"current_password\">Current password</label>\
<input type=\"password\" id=\"current_password\" name=\"current_password\" autocomplete=\"current-password\" required>\
<label for=\"new_password\">New password</label>\
<input type=\"password\" id=\"new_password\" name=\"new_password\" autocomplete=\"new-password\" minlength=\"8\" required \
aria-describedby=\"password-help\"><p class=\"muted\" id=\"password-help\">At least 8 characters; a long phrase is best.</p>\
<label for=\"confirm_password\">Repeat the new password</label>\
<input type=\"password\" id=\"confirm_password\" name=\"confirm_password\" autocomplete=\"new-password\" required>\
<button type=\"submit\">Change password</button></form>",
            err = err_in("password"),
            action = url("/account/password"),
            user = esc(&u.username),
        )
    } else {
        "<p class=\"muted\">Your account has no password here.</p>".to_string()
    };
    let body = format!(
        "{theme_style}{ACCOUNT_STYLE}<div id=\"account\" data-time-zone=\"{tz}\">\
<h1>Your account</h1><p><strong>{name}</strong> ({username}){email}</p>{notice}\
<form method=\"post\" action=\"{logout}\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" class=\"secondary\" id=\"sign-out\">Sign out</button></form>\
<section aria-labelledby=\"h-passkeys\"><h2 id=\"h-passkeys\">Passkeys</h2>{passkey_err}{passkey_table}{add_passkey}</section>\
<section aria-labelledby=\"h-password\"><h2 id=\"h-password\">Password</h2>{password_section}</section>\
<section aria-labelledby=\"h-prefs\"><h2 id=\"h-prefs\">Preferences</h2>{prefs_err}\
<form method=\"post\" action=\"{prefs_action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label for=\"theme\">Theme</label><select id=\"theme\" name=\"theme\">{themes}</select>\
<label for=\"time_zone\">Time zone</label>\
<input type=\"text\" id=\"time_zone\" name=\"time_zone\" value=\"{tz}\" required maxlength=\"64\" \
aria-describedby=\"tz-help\"><p class=\"muted\" id=\"tz-help\">A name such as UTC, Europe/Paris or America/New_York.</p>\
{ns_fields}<button type=\"submit\">Save preferences</button></form></section>\
<section aria-labelledby=\"h-recent\"><h2 id=\"h-recent\">Recent sign-ins</h2>{recent_table}</section></div>\
<script src=\"{script}\" defer></script>",
        theme_style = if prefs.theme == "dark" { DARK } else { "" },
        tz = esc(&prefs.time_zone),
        name = esc(name),
        username = esc(&u.username),
        logout = url("/account/logout"),
        passkey_err = err_in("passkeys"),
        prefs_err = err_in("preferences"),
        prefs_action = url("/account/preferences"),
        script = url("/assets/passkeys.js"),
    );
    pages::allow_scripts(pages::page(status, "Your account", &body))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

fn passkey_row(p: &crate::oauth::Provider, k: &PasskeyRecord, csrf: &str) -> String {
    let esc = pages::esc;
    let id = esc(&k.id);
    let last =
        k.last_used_at.map_or_else(|| "never".to_string(), |t| format!("<time datetime=\"{0}\">{0}</time>", utc(t)));
    format!(
        "<tr><td>{name}</td><td><time datetime=\"{added}\">{added}</time></td><td>{last}</td><td>\
<form method=\"post\" action=\"{rename}\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label for=\"rename-{id}\">New name for {name}</label>\
<input type=\"text\" id=\"rename-{id}\" name=\"name\" value=\"{name}\" maxlength=\"{MAX_PASSKEY_NAME}\" required>\
<button type=\"submit\">Rename</button></form> \
<form method=\"post\" action=\"{delete}\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" class=\"secondary\" aria-label=\"Delete {name}\">Delete</button></form></td></tr>",
        name = esc(&k.name),
        added = utc(k.created_at),
        rename = esc(&p.settings.url(&format!("/account/passkeys/{}/rename", k.id))),
        delete = esc(&p.settings.url(&format!("/account/passkeys/{}/delete", k.id))),
    )
}

// ---------------------------------------------------------------------------------------------
// Changes
// ---------------------------------------------------------------------------------------------

/// `POST /account/password`: the current password, then the new one twice.
async fn password_post(State(s): State<AppState>, meta: RequestMeta, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(f) = Form::parse_pairs(&body) else { return see_other(&s, "/account") };
    let cur = match checked(&s, &headers, &f).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let given = Secret::new(f.get("current_password").unwrap_or_default());
    let new = Secret::new(f.get("new_password").unwrap_or_default());
    let confirm = Secret::new(f.get("confirm_password").unwrap_or_default());
    let refuse = |msg: &str| form_error("password", msg);
    let problem = if !verify(given.expose(), cur.user.password_hash.clone()).await {
        audit(&s, &meta, &cur.user, "user.password_change_failure", json!({ "reason": "wrong current password" }))
            .await;
        refuse("The current password is wrong.")
    } else if new.expose() != confirm.expose() {
        refuse("The two new passwords are not the same.")
    } else if let Err(msg) = password::check_policy(new.expose()) {
        refuse(msg)
    } else {
        None
    };
    if problem.is_some() {
        return render(&s, &cur, StatusCode::UNPROCESSABLE_ENTITY, None, problem).await;
    }
    let pw = new.expose().to_string();
    let Ok(hash) = tokio::task::spawn_blocking(move || password::hash_password(&pw)).await else {
        return internal("password hashing task failed");
    };
    let p = &s.provider;
    if let Err(e) = p.stores.users.set_password_hash(&cur.user.tenant_id, &cur.user.id, &hash).await {
        return internal(&e.to_string());
    }
    // Every other session and refresh token of this person ends; this browser stays signed in
    // with a session started now.
    let t = now();
    if let Err(e) = session::end_all_before_now(p, &cur.user.id).await {
        return internal(&e.description);
    }
    if let Some(old) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = session::destroy(p, old).await
    {
        return internal(&e.description);
    }
    let amr: Vec<&str> = cur.amr.iter().map(String::as_str).collect();
    let (value, _) = match session::create(p, &cur.user.tenant_id, &cur.user.id, &amr, t).await {
        Ok(x) => x,
        Err(e) => return internal(&e.description),
    };
    audit(&s, &meta, &cur.user, "user.password_change", json!({ "required": false, "via": "account" })).await;
    let mut res = see_other(&s, "/account?done=password");
    authorize::set_session_cookie(&s, &mut res, &value, p.settings.session_ttl.as_secs());
    res
}

/// A time zone name as the page accepts it: IANA's shape (`Area/Location`, or `UTC`).
fn valid_time_zone(tz: &str) -> bool {
    !tz.is_empty()
        && tz.len() <= 64
        && tz.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
        && !tz.starts_with('/')
        && !tz.ends_with('/')
        && !tz.contains("//")
}

/// `POST /account/preferences`: theme, time zone, and `ns:{tenant}` for each tenant.
async fn preferences_post(State(s): State<AppState>, meta: RequestMeta, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(f) = Form::parse_pairs(&body) else { return see_other(&s, "/account") };
    let cur = match checked(&s, &headers, &f).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let stores = &s.provider.stores;
    let u = &cur.user;
    let theme = f.get("theme").unwrap_or_default();
    let time_zone = f.get("time_zone").unwrap_or_default().trim().to_string();
    if !THEMES.contains(&theme.as_str()) {
        let e = form_error("preferences", "Choose a theme from the list.");
        return render(&s, &cur, StatusCode::UNPROCESSABLE_ENTITY, None, e).await;
    }
    if !valid_time_zone(&time_zone) {
        let e = form_error("preferences", "The time zone must be a name such as UTC or Europe/Paris.");
        return render(&s, &cur, StatusCode::UNPROCESSABLE_ENTITY, None, e).await;
    }
    let tenants = match stores.access.tenants_of(MemberKind::User, &u.id).await {
        Ok(t) => t,
        Err(e) => return internal(&e.to_string()),
    };
    let mut namespaces = Vec::new();
    for tenant in &tenants {
        let value = f.get(&format!("ns:{tenant}")).unwrap_or_default().trim().to_string();
        if value.is_empty() {
            namespaces.push((tenant, None));
            continue;
        }
        match crate::rbac::Namespace::new(value.clone()) {
            Ok(_) => namespaces.push((tenant, Some(value))),
            Err(e) => {
                let e = form_error("preferences", format!("Default namespace in {tenant}: {e}."));
                return render(&s, &cur, StatusCode::UNPROCESSABLE_ENTITY, None, e).await;
            }
        }
    }
    let t = now();
    let saved = async {
        stores.preferences.put_preferences(&u.tenant_id, &u.id, &Preferences { theme, time_zone }, t).await?;
        for (tenant, ns) in &namespaces {
            stores.preferences.set_default_namespace(tenant, &u.id, ns.as_deref(), t).await?;
        }
        Ok::<_, StoreError>(())
    };
    if let Err(e) = saved.await {
        return internal(&e.to_string());
    }
    audit(&s, &meta, u, "user.preferences_change", json!({})).await;
    see_other(&s, "/account?done=preferences")
}

/// The state of a passkey registration between the options and the answer.
#[derive(Serialize, Deserialize)]
struct RegisterCeremony {
    user_id: String,
    user_handle: String,
    state: PasskeyRegistration,
}

fn json_refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// `POST /account/passkeys/options` (`csrf`): the options of a new passkey, as JSON
/// `{ceremony, publicKey}`.
async fn passkey_options(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(rp) = s.passkeys.clone() else {
        return json_refusal(StatusCode::NOT_FOUND, "This server does not offer passkeys.");
    };
    let Ok(f) = Form::parse_pairs(&body) else {
        return json_refusal(StatusCode::BAD_REQUEST, "The request was malformed.");
    };
    let cur = match checked(&s, &headers, &f).await {
        Ok(c) => c,
        Err(_) => return json_refusal(StatusCode::FORBIDDEN, "Your session has ended. Reload the page and sign in."),
    };
    let u = &cur.user;
    let records = match s.provider.stores.passkeys.list_passkeys(&u.tenant_id, &u.id).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "passkeys not listed");
            return json_refusal(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong. Try again.");
        }
    };
    // One user handle per user: the one of its passkeys, or a new random one.
    let handle = records.first().and_then(|r| Uuid::parse_str(&r.user_handle).ok()).unwrap_or_else(Uuid::new_v4);
    let existing: Vec<Passkey> = records.iter().filter_map(|r| serde_json::from_str(&r.credential).ok()).collect();
    let display = u.name.clone().unwrap_or_else(|| u.username.clone());
    let (options, state) = match rp.start_registration(handle, &u.username, &display, &existing) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "passkey registration not started");
            return json_refusal(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong. Try again.");
        }
    };
    let rec = RegisterCeremony { user_id: u.id.clone(), user_handle: handle.to_string(), state };
    match webauthn::save_ceremony(s.provider.kv.as_ref(), "register", &rec).await {
        Ok(ceremony) => Json(json!({ "ceremony": ceremony, "publicKey": options })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "passkey registration not stored");
            json_refusal(StatusCode::SERVICE_UNAVAILABLE, "Something went wrong. Try again.")
        }
    }
}

/// A passkey name as given, trimmed; `None` if empty or too long.
fn passkey_name(given: Option<String>) -> Option<String> {
    let name = given.unwrap_or_default().trim().to_string();
    (!name.is_empty() && name.chars().count() <= MAX_PASSKEY_NAME && !name.chars().any(char::is_control))
        .then_some(name)
}

/// `POST /account/passkeys` (`csrf`, `ceremony`, `credential`, `name`): the new passkey.
async fn passkey_add(State(s): State<AppState>, meta: RequestMeta, headers: HeaderMap, body: Bytes) -> Response {
    let Some(rp) = s.passkeys.clone() else { return see_other(&s, "/account") };
    let Ok(f) = Form::parse_pairs(&body) else { return see_other(&s, "/account") };
    let cur = match checked(&s, &headers, &f).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let refuse = |msg: &str| form_error("passkeys", msg);
    let Some(name) = passkey_name(f.get("name")) else {
        let e = refuse("Give the passkey a name of 1 to 60 characters.");
        return render(&s, &cur, StatusCode::UNPROCESSABLE_ENTITY, None, e).await;
    };
    let kv = s.provider.kv.as_ref();
    let rec = match webauthn::take_ceremony::<RegisterCeremony>(kv, "register", &f.get("ceremony").unwrap_or_default())
        .await
    {
        Ok(Some(r)) if r.user_id == cur.user.id => r,
        Ok(_) => {
            let e = refuse("The passkey registration expired. Try again.");
            return render(&s, &cur, StatusCode::UNPROCESSABLE_ENTITY, None, e).await;
        }
        Err(e) => return internal(&e.to_string()),
    };
    let answer = serde_json::from_str::<RegisterPublicKeyCredential>(&f.get("credential").unwrap_or_default());
    let passkey = match answer
        .map_err(|e| e.to_string())
        .and_then(|a| rp.finish_registration(&a, &rec.state).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(reason) => {
            tracing::info!(%reason, "passkey registration refused");
            let e = refuse("The passkey could not be registered. Try again.");
            return render(&s, &cur, StatusCode::UNPROCESSABLE_ENTITY, None, e).await;
        }
    };
    let Ok(credential) = serde_json::to_string(&passkey) else { return internal("passkey not serialisable") };
    let u = &cur.user;
    let record = PasskeyRecord {
        tenant_id: u.tenant_id.clone(),
        id: random_token(12),
        user_id: u.id.clone(),
        credential_id: webauthn::credential_id_text(passkey.cred_id()),
        user_handle: rec.user_handle,
        name,
        credential,
        created_at: now(),
        last_used_at: None,
    };
    match s.provider.stores.passkeys.add_passkey(&record).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            let e = refuse("This passkey is registered already.");
            return render(&s, &cur, StatusCode::CONFLICT, None, e).await;
        }
        Err(e) => return internal(&e.to_string()),
    }
    audit(&s, &meta, u, "user.passkey_add", json!({ "passkey": record.id, "name": record.name })).await;
    see_other(&s, "/account?done=passkey-added")
}

/// `POST /account/passkeys/{id}/rename` (`csrf`, `name`).
async fn passkey_rename(
    State(s): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(f) = Form::parse_pairs(&body) else { return see_other(&s, "/account") };
    let cur = match checked(&s, &headers, &f).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let Some(name) = passkey_name(f.get("name")) else {
        let e = form_error("passkeys", "Give the passkey a name of 1 to 60 characters.");
        return render(&s, &cur, StatusCode::UNPROCESSABLE_ENTITY, None, e).await;
    };
    let u = &cur.user;
    match s.provider.stores.passkeys.rename_passkey(&u.tenant_id, &u.id, &id, &name).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            let e = form_error("passkeys", "That passkey does not exist (any more).");
            return render(&s, &cur, StatusCode::NOT_FOUND, None, e).await;
        }
        Err(e) => return internal(&e.to_string()),
    }
    audit(&s, &meta, u, "user.passkey_rename", json!({ "passkey": id, "name": name })).await;
    see_other(&s, "/account?done=passkey-renamed")
}

/// `POST /account/passkeys/{id}/delete` (`csrf`).
async fn passkey_delete(
    State(s): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(f) = Form::parse_pairs(&body) else { return see_other(&s, "/account") };
    let cur = match checked(&s, &headers, &f).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let u = &cur.user;
    match s.provider.stores.passkeys.delete_passkey(&u.tenant_id, &u.id, &id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            let e = form_error("passkeys", "That passkey does not exist (any more).");
            return render(&s, &cur, StatusCode::NOT_FOUND, None, e).await;
        }
        Err(e) => return internal(&e.to_string()),
    }
    audit(&s, &meta, u, "user.passkey_delete", json!({ "passkey": id })).await;
    see_other(&s, "/account?done=passkey-deleted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_unix_seconds() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn time_zone_names() {
        for ok in ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"] {
            assert!(valid_time_zone(ok), "{ok}");
        }
        for bad in ["", "/Paris", "Europe/", "Europe//Paris", "<script>", "a b"] {
            assert!(!valid_time_zone(bad), "{bad}");
        }
    }
}
