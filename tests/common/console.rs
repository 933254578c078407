//! A signed-in console browser for in-process tests: the console's own OIDC sign-in, its
//! session cookie and anti-CSRF value, and form posts.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use super::{ISSUER, TestApp, body_text, form, hidden, location, set_cookie_named};

/// A signed-in console browser.
pub struct ConsoleBrowser<'a> {
    pub app: &'a TestApp,
    pub cookie: String,
    pub csrf: String,
}

impl<'a> ConsoleBrowser<'a> {
    pub async fn sign_in(app: &'a TestApp, username: &str) -> ConsoleBrowser<'a> {
        let login = app.get("/console/login?next=%2Fconsole").await;
        assert_eq!(login.status(), StatusCode::SEE_OTHER);
        let bound = set_cookie_named(&login, "tessera_console_login").expect("console login cookie");
        let authorize = location(&login).strip_prefix(ISSUER).expect("to the issuer").to_string();
        let (back, _) = app.authorize_path(&authorize, username).await;
        let callback = back.strip_prefix(ISSUER).expect("back to the console").to_string();
        let done = app.get_with_cookie(&callback, Some(&bound)).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{}", body_text(done).await);
        let cookie = set_cookie_named(&done, "tessera_console").expect("console session");
        let mut b = ConsoleBrowser { app, cookie, csrf: String::new() };
        let res = b.app.get_with_cookie("/console", Some(&b.cookie)).await;
        let res = if res.status() == StatusCode::SEE_OTHER {
            b.app.get_with_cookie(&location(&res), Some(&b.cookie)).await
        } else {
            res
        };
        b.csrf = hidden(&body_text(res).await, "csrf");
        b
    }

    /// Posts `fields` with the anti-CSRF value `csrf` and, if given, an `Origin`.
    pub async fn post(&self, path: &str, csrf: &str, fields: &[(&str, &str)], origin: Option<&str>) -> StatusCode {
        let mut all = vec![("csrf", csrf)];
        all.extend_from_slice(fields);
        let mut b = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &self.cookie);
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        self.app.send(b.body(Body::from(form(&all))).unwrap()).await.status()
    }

    /// Whether this console session still works.
    pub async fn signed_in(&self) -> bool {
        self.app.get_with_cookie("/console/t/default/users", Some(&self.cookie)).await.status() == StatusCode::OK
    }
}
