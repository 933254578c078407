//! Server-rendered pages: login, consent, logout and errors. Plain HTML forms that work
//! without JavaScript, labelled fields, and every value HTML-escaped.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}\
main{max-width:26rem;margin:8vh auto;background:#fff;padding:2rem 2.25rem;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.08)}\
h1{font-size:1.35rem;margin:0 0 1.25rem}label{display:block;font-weight:600;margin:1rem 0 .35rem}\
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem .7rem;border:1px solid #b8bfcc;border-radius:6px;font-size:1rem}\
button{margin-top:1.4rem;padding:.65rem 1.2rem;border:0;border-radius:6px;background:#3f51b5;color:#fff;font-size:1rem;cursor:pointer}\
button.secondary{background:#e6e8ee;color:#1d2330;margin-left:.5rem}\
:focus-visible{outline:3px solid #ffb300;outline-offset:2px}\
.error{background:#fdecea;color:#8a1c12;border:1px solid #f5c2bd;padding:.6rem .8rem;border-radius:6px}\
.muted{color:#5b6475;font-size:.92rem}ul{padding-left:1.2rem}\
form.idps{margin-top:1.5rem;border-top:1px solid #e6e8ee;padding-top:.5rem}form.idps button.idp{display:block;width:100%;background:#fff;color:#1d2330;border:1px solid #b8bfcc;margin-top:.75rem}";

/// Wraps a body in the page layout, with headers that keep pages out of frames and caches.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{} · Tessera</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        esc(title)
    );
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    // `same-origin`: nothing (request ids in the address) leaks to other sites, and the
    // browser still sends the real `Origin` with our own forms (under `no-referrer` it sends
    // `Origin: null`, which the same-origin check can only judge by `Sec-Fetch-Site`).
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    res
}

use axum::http::HeaderName;

/// Lets a page run Tessera's own scripts (`/assets/…`, the passkey ceremonies) and call back
/// to Tessera; nothing from elsewhere.
pub fn allow_scripts(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, title, &format!("<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>", esc(title), esc(message)))
}

pub struct LoginView<'a> {
    pub request_id: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    /// The identity providers (federation connections) offered for this sign-in: a button each.
    pub connections: &'a [LoginConnection],
    /// Where "Forgot your password?" leads, when password resets are offered.
    pub forgot_password_url: Option<&'a str>,
    /// Offer "Sign in with a passkey".
    pub passkeys: bool,
}

/// A button on the login page that signs in through an upstream identity provider.
pub struct LoginConnection {
    pub id: String,
    pub name: String,
}

pub fn login(status: StatusCode, v: &LoginView<'_>) -> Response {
    let error = v
        .error
        .map(|e| format!("<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let autofocus_user = if v.username.is_empty() { " autofocus" } else { "" };
    let autofocus_pass = if v.username.is_empty() { "" } else { " autofocus" };
    // With identity providers, a work address alone (no password) goes to its provider.
    let pw_required = if v.connections.is_empty() { " required" } else { "" };
    let forgot = v
        .forgot_password_url
        .map(|u| {
            format!("<p class=\"muted\"><a href=\"{}\" id=\"forgot-password\">Forgot your password?</a></p>", esc(u))
        })
        .unwrap_or_default();
    let passkey = if v.passkeys {
        "<p><button type=\"button\" id=\"passkey-signin\" class=\"secondary\">Sign in with a passkey</button></p>\
<p class=\"error\" role=\"alert\" id=\"passkey-error\" hidden></p><script src=\"assets/passkeys.js\" defer></script>"
    } else {
        ""
    };
    let connections = if v.connections.is_empty() {
        String::new()
    } else {
        let buttons: String = v
            .connections
            .iter()
            .map(|c| {
                format!(
                    "<button type=\"submit\" name=\"connection\" value=\"{}\" class=\"idp\">Sign in with {}</button>",
                    esc(&c.id),
                    esc(&c.name)
                )
            })
            .collect();
        format!(
            "<form method=\"post\" action=\"login/federated\" class=\"idps\" aria-label=\"Sign in with your organization\">\
<input type=\"hidden\" name=\"request\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{buttons}</form>",
            esc(v.request_id),
            esc(v.csrf)
        )
    };
    let res = page(
        status,
        "Sign in",
        &format!(
            "<h1>Sign in</h1><p class=\"muted\">to continue to <strong>{client}</strong></p>{error}\
<form method=\"post\" action=\"login\">\
<input type=\"hidden\" name=\"request\" value=\"{rid}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label for=\"username\">Username</label>\
<input type=\"text\" id=\"username\" name=\"username\" value=\"{user}\" autocomplete=\"username\" required{autofocus_user}>\
<label for=\"password\">Password</label>\
<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\"{pw_required}{autofocus_pass}>\
<button type=\"submit\">Sign in</button></form>{forgot}{passkey}{connections}",
            client = esc(v.client_name),
            rid = esc(v.request_id),
            csrf = esc(v.csrf),
            user = esc(v.username),
        ),
    );
    if v.passkeys { allow_scripts(res) } else { res }
}

pub fn consent(request_id: &str, csrf: &str, client_name: &str, scopes: &[String]) -> Response {
    let items: String = scopes
        .iter()
        .map(|s| {
            let text = match s.as_str() {
                "openid" => "Know who you are".to_string(),
                "profile" => "See your name and username".to_string(),
                "email" => "See your email address".to_string(),
                "offline_access" => "Stay signed in when you are not using it".to_string(),
                "groups" => "See the names of your groups".to_string(),
                other => format!("Use the permission '{other}'"),
            };
            format!("<li>{}</li>", esc(&text))
        })
        .collect();
    page(
        StatusCode::OK,
        "Allow access",
        &format!(
            "<h1>Allow access?</h1><p><strong>{client}</strong> asks to:</p><ul>{items}</ul>\
<form method=\"post\" action=\"consent\"><input type=\"hidden\" name=\"request\" value=\"{rid}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>",
            client = esc(client_name),
            rid = esc(request_id),
            csrf = esc(csrf),
        ),
    )
}

pub fn logout_confirm(id: &str, csrf: &str, client_name: Option<&str>) -> Response {
    let from = client_name
        .map(|c| format!("<p class=\"muted\">Requested by <strong>{}</strong>.</p>", esc(c)))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Sign out",
        &format!(
            "<h1>Sign out of Tessera?</h1>{from}<form method=\"post\" action=\"logout\">\
<input type=\"hidden\" name=\"request\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<button type=\"submit\">Sign out</button></form>",
            esc(id),
            esc(csrf)
        ),
    )
}

pub fn signed_out() -> Response {
    page(StatusCode::OK, "Signed out", "<h1>You are signed out</h1><p>You can close this window.</p>")
}

/// The mandatory password change at sign-in.
pub fn change_password(status: StatusCode, action: &str, change: &str, csrf: &str, error: Option<&str>) -> Response {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))).unwrap_or_default();
    page(
        status,
        "Choose a new password",
        &format!(
            "<h1>Choose a new password</h1><p class=\"muted\">Your administrator asked you to set a new password \
before you continue. Use at least 8 characters; a long phrase is best.</p>{error}\
<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"change\" value=\"{}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<label for=\"new_password\">New password</label>\
<input type=\"password\" id=\"new_password\" name=\"new_password\" autocomplete=\"new-password\" minlength=\"8\" required autofocus>\
<label for=\"confirm_password\">Repeat the new password</label>\
<input type=\"password\" id=\"confirm_password\" name=\"confirm_password\" autocomplete=\"new-password\" required>\
<button type=\"submit\">Set password and continue</button></form>",
            esc(action),
            esc(change),
            esc(csrf)
        ),
    )
}
