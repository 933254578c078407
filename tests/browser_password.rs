//! End to end, in headless Chromium, with the built `tessera` binary writing its mail to the
//! development folder:
//! - forgot password: from the login page's link, the form, the mail, the link, a new
//!   password, back to the sign-in and through to the client with the new password;
//! - a mandatory change-password request sent to a group through the admin API: each member
//!   gets the mail, and a member signing in must choose a new password before the client gets
//!   a code.
//!
//! Needs Debian's `chromium` and `chromium-driver` (a missing piece is a failure, never a skip).

#[path = "common/browser.rs"]
mod browser;
#[path = "common/mail.rs"]
mod mail;

use std::time::{Duration, Instant};

use browser::{ChromeDriver, RpServer, STEP, Tessera, eventually, random_hex, require_browser};
use fantoccini::{Client, Locator};

const PASSWORD: &str = "Correct-Horse-Battery-Staple-7";
const NEW_PASSWORD: &str = "a whole new passphrase 8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_password_reset_and_mandatory_change() {
    require_browser();
    let dir = tempfile::tempdir().expect("temporary folder");
    let dir = dir.path();
    let mail_dir = dir.join("mail");
    let env = vec![
        ("TESSERA__DATABASE__URL".to_string(), format!("sqlite://{}/t.db", dir.display())),
        ("TESSERA__STATE__BACKEND".to_string(), "memory".to_string()),
        ("TESSERA__MAIL__FOLDER".to_string(), mail_dir.display().to_string()),
    ];
    let rp = RpServer::start().await;
    let callback = format!("http://127.0.0.1:{}/callback", rp.port);
    let server = Tessera::start(dir, env).await;
    let client = server.cli(&["clients", "create", "--name", "Web App", "--redirect-uri", &callback, "--first-party"]);
    let client_id = client["client_id"].as_str().expect("clients create prints the client_id").to_string();
    server.cli(&["users", "create", "--username", "alice", "--password", PASSWORD, "--email", "alice@example.test"]);
    let driver = ChromeDriver::start(dir).await;
    let b = Ui { browser: driver.browser(dir).await, issuer: server.issuer.clone(), callback, client_id };

    // 1. Forgot password, from the login page to a new password through the mail.
    b.authorize().await;
    b.click(Locator::Id("forgot-password"), "the Forgot your password? link").await;
    b.expect_path("/login/forgot").await;
    b.labelled("Username or email").await.send_keys("alice@example.test").await.unwrap();
    b.click(Locator::XPath("//button[normalize-space(.)='Send the link']"), "Send the link").await;
    assert!(b.text().await.contains("Check your mail"), "{}", b.text().await);
    let message = mail::wait_for(&mail_dir, "alice@example.test", 1).await.remove(0);
    let link = message.link(&format!("{}/login/reset?token=", b.issuer)).expect("a reset link in the mail");
    b.browser.goto(&link).await.unwrap();
    b.labelled("New password").await.send_keys(NEW_PASSWORD).await.unwrap();
    b.labelled("Repeat the new password").await.send_keys(NEW_PASSWORD).await.unwrap();
    b.click(Locator::XPath("//button[normalize-space(.)='Set the password']"), "Set the password").await;
    assert!(b.text().await.contains("Password changed"), "{}", b.text().await);
    b.click(Locator::Id("continue-sign-in"), "Continue to sign in").await;
    b.expect_path("/login").await;
    b.sign_in("alice", PASSWORD).await;
    assert!(b.text().await.contains("Wrong username or password"), "the old password is gone");
    b.sign_in("alice", NEW_PASSWORD).await;
    b.expect_code().await;
    // The link worked once.
    b.browser.goto(&link).await.unwrap();
    assert!(b.text().await.contains("expired or was already used"), "{}", b.text().await);

    // 2. A mandatory change sent to a group; a member must change at the next sign-in.
    server.cli(&["auths", "users", "create", "--username", "root", "--password", PASSWORD, "--instance-admin"]);
    let mut members = Vec::new();
    for name in ["bob", "carol"] {
        let email = format!("{name}@example.test");
        let u = server.cli(&["users", "create", "--username", name, "--password", PASSWORD, "--email", &email]);
        members.push((name, email, u["id"].as_str().unwrap().to_string()));
    }
    let api =
        Api { http: reqwest::Client::builder().no_proxy().build().unwrap(), base: format!("{}/api/v1", b.issuer) };
    api.call(reqwest::Method::POST, "/default/groups", serde_json::json!({ "id": "ops", "name": "Ops" })).await;
    for (_, _, id) in &members {
        api.call(reqwest::Method::POST, "/default/groups/ops/members", serde_json::json!({ "kind": "user", "id": id }))
            .await;
    }
    let v =
        api.call(reqwest::Method::POST, "/default/groups/ops/password-change-request", serde_json::json!(null)).await;
    assert_eq!(v["requested"], 2, "{v}");
    for (_, email, _) in &members {
        let m = mail::wait_for(&mail_dir, email, 1).await.remove(0);
        assert_eq!(m.header("Subject"), Some("Choose a new password"));
    }
    // bob signs in in a fresh browser session (no single sign-on from alice).
    b.browser.delete_all_cookies().await.unwrap();
    b.authorize().await;
    b.sign_in("bob", PASSWORD).await;
    assert!(b.text().await.contains("Your administrator asked you to set a new password"), "{}", b.text().await);
    assert!(rp.seen().iter().filter(|t| t.contains("code=")).count() == 1, "no code for bob yet: {:?}", rp.seen());
    b.labelled("New password").await.send_keys(NEW_PASSWORD).await.unwrap();
    b.labelled("Repeat the new password").await.send_keys(NEW_PASSWORD).await.unwrap();
    b.click(Locator::XPath("//button[normalize-space(.)='Set password and continue']"), "Set password and continue")
        .await;
    b.expect_code().await;
    assert_eq!(rp.seen().iter().filter(|t| t.contains("code=")).count(), 2, "{:?}", rp.seen());
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: serde_json::Value) -> serde_json::Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).basic_auth("root", Some(PASSWORD));
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.expect("admin API reachable");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }
}

struct Ui {
    browser: Client,
    issuer: String,
    callback: String,
    client_id: String,
}

impl Ui {
    /// Sends the browser to /authorize (PKCE S256) and waits for the login page.
    async fn authorize(&self) {
        let verifier = random_hex(32);
        let challenge = {
            use base64::Engine;
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
        };
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", self.client_id.as_str()),
                ("redirect_uri", &self.callback),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "st"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        self.browser.goto(&format!("{}/authorize?{query}", self.issuer)).await.unwrap();
        self.expect_path("/login").await;
    }

    async fn expect_path(&self, path: &str) {
        let want = format!("{}{path}", self.issuer);
        eventually(&format!("the page {path}"), || async {
            let url = self.browser.current_url().await.map_err(|e| e.to_string())?;
            let at = url.as_str().split('?').next().unwrap_or_default().to_string();
            if at == want { Ok(()) } else { Err(format!("at {url}")) }
        })
        .await;
    }

    async fn expect_code(&self) {
        eventually("the redirect to the client with a code", || async {
            let url = self.browser.current_url().await.map_err(|e| e.to_string())?;
            if url.as_str().starts_with(&self.callback) && url.query_pairs().any(|(k, _)| k == "code") {
                Ok(())
            } else {
                Err(format!("at {url}: {}", self.text().await))
            }
        })
        .await;
    }

    async fn text(&self) -> String {
        match self.browser.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => self.browser.source().await.unwrap_or_default(),
        }
    }

    async fn find(&self, locator: Locator<'_>, what: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + STEP;
        loop {
            match self.browser.find(locator).await {
                Ok(e) => return e,
                Err(e) if Instant::now() > deadline => panic!("cannot find {what}: {e}\npage:\n{}", self.text().await),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The input a `<label>` with this text points to.
    async fn labelled(&self, label: &str) -> fantoccini::elements::Element {
        let xpath = format!("//label[normalize-space(.)='{label}']");
        let label_el = self.find(Locator::XPath(&xpath), &format!("the label '{label}'")).await;
        let target = label_el.attr("for").await.unwrap().expect("the label has a for attribute");
        self.find(Locator::Id(&target), &format!("the field labelled '{label}'")).await
    }

    /// Clicks, then waits until the browser has left the page.
    async fn click(&self, locator: Locator<'_>, what: &str) {
        let el = self.find(locator, what).await;
        self.browser.execute("window.__old = true; return true;", vec![]).await.unwrap();
        el.click().await.unwrap_or_else(|e| panic!("cannot click {what}: {e}"));
        eventually(&format!("the page after clicking {what}"), || async {
            match self.browser.execute("return window.__old === true;", vec![]).await {
                Ok(serde_json::Value::Bool(false)) => Ok(()),
                Ok(v) => Err(format!("still on the old page ({v})")),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
    }

    async fn sign_in(&self, username: &str, password: &str) {
        let user = self.labelled("Username").await;
        user.clear().await.unwrap();
        user.send_keys(username).await.unwrap();
        self.labelled("Password").await.send_keys(password).await.unwrap();
        self.click(Locator::XPath("//button[@type='submit' and normalize-space(.)='Sign in']"), "Sign in").await;
    }
}
