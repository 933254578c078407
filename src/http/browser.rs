//! Defences of the browser forms, in one place:
//!
//! - [`same_origin`]: every state-changing browser POST (sign-in, consent, password change,
//!   logout confirmation, account page, console, password reset, passkey ceremonies,
//!   federation) must come from a page of the issuer's own origin. If the browser sends
//!   `Origin`, it must be the issuer's; else if it sends `Sec-Fetch-Site`, it must be
//!   `same-origin` or `none` (typed or bookmarked); a request with neither (a non-browser
//!   client, an in-process test) is let through, and the form's anti-CSRF token still applies.
//!   `Origin: null` (an opaque origin: a sandboxed frame, a `data:` page, or a page under
//!   `Referrer-Policy: no-referrer`) is judged by `Sec-Fetch-Site` alone, and refused without
//!   it. Applied as the middleware [`require_same_origin`] on the browser routers, and called
//!   by `/logout` for its confirmation form.
//! - The pre-session cookie ([`BROWSER_COOKIE`]): random, HttpOnly, SameSite=Lax, Secure over
//!   https, set at `/authorize` (and by the account page's sign-in); the pending request keeps
//!   its SHA-256, and a form of that request posted without the same cookie signs nobody in
//!   (login CSRF: an attacker's own request id and anti-CSRF token are useless in a victim's
//!   browser).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{AppState, cookie, pages};
pub use crate::oauth::authorize::BROWSER_COOKIE;

/// Whether a request with these headers may change state on behalf of the browser that sent
/// it, for the issuer `issuer` (see the module documentation).
pub fn same_origin(headers: &HeaderMap, issuer: &str) -> bool {
    let origin = headers.get(header::ORIGIN).map(|v| v.to_str().unwrap_or("\u{0}").trim());
    if let Some(origin) = origin.filter(|o| *o != "null") {
        return issuer_origin(issuer).is_some_and(|expected| origin.eq_ignore_ascii_case(&expected));
    }
    match headers.get("sec-fetch-site") {
        Some(site) => matches!(site.to_str().map(str::trim), Ok("same-origin" | "none")),
        // `Origin: null` with no fetch metadata: an opaque origin, refused.
        None => origin.is_none(),
    }
}

/// The ASCII serialisation of the issuer's origin (`https://id.example.com`, the port only
/// when it is not the scheme's default), as browsers send it in `Origin`.
fn issuer_origin(issuer: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The page shown for a cross-site form post: nothing was changed.
pub fn cross_site_page() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form was sent from another site, so nothing was done. Open the page at this server's own address and \
         try again.",
    )
}

/// Middleware of the browser routers: a POST (or any other unsafe method) that fails
/// [`same_origin`] is refused before its handler runs.
pub async fn require_same_origin(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !same_origin(req.headers(), &s.provider.settings.issuer) {
        tracing::info!(path = %req.uri().path(), "cross-site form post refused");
        return cross_site_page();
    }
    next.run(req).await
}

/// The browser's pre-session cookie if it has a well-formed one (kept, so that sign-ins
/// started in two tabs both work), else a new random value.
pub fn browser_cookie(headers: &HeaderMap) -> String {
    match cookie(headers, BROWSER_COOKIE) {
        Some(v)
            if (32..=64).contains(&v.len())
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            v.to_string()
        }
        _ => crate::crypto::random_token(32),
    }
}

/// Sets (or renews) the pre-session cookie for `max_age` seconds. Path `/`: the forms that
/// need it are `/login…`, `/consent` and `/account/login`, and `/authorize` reads it back.
pub fn set_browser_cookie(s: &AppState, res: &mut Response, value: &str, max_age: u64) {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    let c = format!("{BROWSER_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&c) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The value of the pre-session cookie this request carries.
pub fn browser_cookie_of(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, BROWSER_COOKIE)
}

/// The page shown when a form of a sign-in comes from another browser than the one that
/// started it (or one that lost its pre-session cookie): nobody is signed in.
pub fn other_browser_page() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "Sign-in refused",
        "This sign-in was started in another browser, or this browser did not keep its sign-in cookie. Nobody was \
         signed in. Go back to the application and start again (cookies must be allowed for this site).",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_must_be_the_issuers() {
        let iss = "https://id.example.com/tenant-path";
        assert!(same_origin(&headers(&[]), iss), "no browser headers: allowed (the token applies)");
        assert!(same_origin(&headers(&[("origin", "https://id.example.com")]), iss));
        assert!(same_origin(&headers(&[("origin", "https://ID.example.com")]), iss));
        assert!(!same_origin(&headers(&[("origin", "https://evil.example")]), iss));
        assert!(!same_origin(&headers(&[("origin", "http://id.example.com")]), iss));
        assert!(!same_origin(&headers(&[("origin", "https://id.example.com:8443")]), iss));
        assert!(!same_origin(&headers(&[("origin", "https://sub.id.example.com")]), iss));
        // Origin wins over fetch metadata.
        assert!(!same_origin(&headers(&[("origin", "https://evil.example"), ("sec-fetch-site", "same-origin")]), iss));
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")]), iss));
        assert!(same_origin(&headers(&[("sec-fetch-site", "none")]), iss));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")]), iss));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")]), iss));
        // `Origin: null` (a no-referrer page): fetch metadata decides, and without it, refused.
        assert!(same_origin(&headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]), iss));
        assert!(!same_origin(&headers(&[("origin", "null"), ("sec-fetch-site", "cross-site")]), iss));
        assert!(!same_origin(&headers(&[("origin", "null")]), iss));
        // A default port is not part of the origin.
        assert!(same_origin(&headers(&[("origin", "http://127.0.0.1:8080")]), "http://127.0.0.1:8080"));
        assert!(same_origin(&headers(&[("origin", "https://id.example.com")]), "https://id.example.com:443/"));
    }

    #[test]
    fn a_well_formed_browser_cookie_is_kept() {
        let kept = "a".repeat(43);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("x=1; {BROWSER_COOKIE}={kept}")).unwrap());
        assert_eq!(browser_cookie(&h), kept);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("{BROWSER_COOKIE}=short")).unwrap());
        let new = browser_cookie(&h);
        assert_ne!(new, "short");
        assert!(new.len() >= 32);
    }
}
