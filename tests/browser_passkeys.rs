//! Passkeys end to end, in headless Chromium with its virtual authenticator (DevTools
//! `WebAuthn.addVirtualAuthenticator` through ChromeDriver's `goog/cdp/execute`): the built
//! `tessera` binary, its account page and its login page.
//!
//! The story: alice signs in to the account page with her password, registers a passkey, signs
//! out, signs in again with the passkey alone (no username typed), then signs in to an
//! application with the passkey from the login page; finally her password sign-in asks for the
//! passkey as a second factor. WebAuthn needs a domain name, so the issuer is
//! `http://localhost:{port}` (a secure context), listening on 127.0.0.1.
//!
//! Needs Debian's `chromium` and `chromium-driver`: a missing piece is a failure, never a skip.

#[path = "common/browser.rs"]
mod browser;

use std::path::Path;
use std::time::{Duration, Instant};

use browser::{BIN, ChildGuard, ChromeDriver, STEP, command, eventually, free_port, require_browser};
use fantoccini::{Client, Locator};

const USERNAME: &str = "alice";
const PASSWORD: &str = "Correct-Horse-Battery-Staple-7";
/// RFC 7636 appendix B.
const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The server on `http://localhost:{port}`, and its CLI.
struct Server {
    issuer: String,
    env: Vec<(String, String)>,
    dir: std::path::PathBuf,
    _process: ChildGuard,
}

impl Server {
    async fn start(dir: &Path) -> Self {
        let port = free_port();
        let issuer = format!("http://localhost:{port}");
        let env = vec![
            ("TESSERA__SERVER__LISTEN".to_string(), format!("127.0.0.1:{port}")),
            ("TESSERA__SERVER__ISSUER".to_string(), issuer.clone()),
            ("TESSERA__KEYS__DIR".to_string(), dir.join("keys").display().to_string()),
            ("TESSERA__LOG__FORMAT".to_string(), "text".to_string()),
            ("TESSERA__DATABASE__URL".to_string(), format!("sqlite://{}/t.db", dir.display())),
            ("TESSERA__STATE__BACKEND".to_string(), "memory".to_string()),
        ];
        let mut cmd = command(BIN, dir, &env);
        cmd.arg("serve");
        let mut process = ChildGuard::spawn("tessera", cmd, dir.join("tessera.log"), false);
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap();
        let ready = format!("http://127.0.0.1:{port}/readyz");
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(status) = process.exited() {
                panic!("tessera serve exited with {status} before it was ready:\n{}", process.log_tail());
            }
            match http.get(&ready).send().await {
                Ok(r) if r.status() == reqwest::StatusCode::OK => break,
                _ if Instant::now() > deadline => panic!("tessera serve was not ready:\n{}", process.log_tail()),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        Self { issuer, env, dir: dir.to_path_buf(), _process: process }
    }

    fn cli(&self, args: &[&str]) -> serde_json::Value {
        let out = command(BIN, &self.dir, &self.env).args(args).output().expect("run tessera");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "tessera {} failed:\n{stdout}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("tessera {} printed no JSON ({e}):\n{stdout}", args[0]))
    }
}

/// Sends a DevTools command through ChromeDriver.
async fn cdp(driver: &ChromeDriver, browser: &Client, cmd: &str, params: serde_json::Value) -> serde_json::Value {
    let session = browser.session_id().await.expect("session id").expect("a session");
    let url = format!("{}/session/{session}/goog/cdp/execute", driver.url);
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(&url)
        .json(&serde_json::json!({ "cmd": cmd, "params": params }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let status = res.status();
    let body: serde_json::Value = res.json().await.expect("CDP answer");
    assert!(status.is_success(), "{cmd} failed: {body}");
    body["value"].clone()
}

async fn wait_for(browser: &Client, what: &str, locator: Locator<'static>) {
    eventually(what, || async { browser.find(locator).await.map(|_| ()).map_err(|e| e.to_string()) }).await;
}

async fn fill(browser: &Client, id: &'static str, text: &str) {
    let field = browser.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("field {id}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

async fn click(browser: &Client, id: &'static str) {
    browser.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("button {id}: {e}")).click().await.expect("click");
}

async fn source(browser: &Client) -> String {
    browser.source().await.expect("page source")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_register_and_sign_in_in_chromium() {
    require_browser();
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path()).await;
    server.cli(&["users", "create", "--username", USERNAME, "--password", PASSWORD, "--name", "Alice Liddell"]);
    let callback = format!("{}/callback-of-the-test-app", server.issuer);
    let app = server.cli(&["clients", "create", "--name", "Test App", "--redirect-uri", &callback, "--first-party"]);
    let client_id = app["client_id"].as_str().expect("client id").to_string();

    let driver = ChromeDriver::start(dir.path()).await;
    let browser = driver.browser(dir.path()).await;
    cdp(&driver, &browser, "WebAuthn.enable", serde_json::json!({})).await;
    let added = cdp(
        &driver,
        &browser,
        "WebAuthn.addVirtualAuthenticator",
        serde_json::json!({ "options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserVerified": true, "automaticPresenceSimulation": true
        }}),
    )
    .await;
    let authenticator = added["authenticatorId"].as_str().expect("authenticator id").to_string();

    // 1. The account page without a session offers a sign-in; the password gets in.
    browser.goto(&format!("{}/account", server.issuer)).await.expect("open the account page");
    wait_for(&browser, "the account sign-in page", Locator::Id("passkey-signin")).await;
    fill(&browser, "username", USERNAME).await;
    fill(&browser, "password", PASSWORD).await;
    browser.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "the account page", Locator::Id("passkey-add")).await;
    assert!(source(&browser).await.contains("You have no passkey yet"));

    // 2. Register a passkey.
    fill(&browser, "passkey-name", "Laptop").await;
    click(&browser, "passkey-add-button").await;
    wait_for(&browser, "the passkey list", Locator::Id("passkeys")).await;
    let page = source(&browser).await;
    assert!(page.contains("Your passkey was added."), "{page}");
    assert!(page.contains("Laptop"), "{page}");
    let creds =
        cdp(&driver, &browser, "WebAuthn.getCredentials", serde_json::json!({ "authenticatorId": authenticator }))
            .await;
    let creds = creds["credentials"].as_array().expect("credentials");
    assert_eq!(creds.len(), 1, "{creds:?}");
    assert_eq!(creds[0]["isResidentCredential"], true, "a discoverable credential: {creds:?}");

    // 3. Sign out, then in again with the passkey alone.
    click(&browser, "sign-out").await;
    wait_for(&browser, "the account sign-in page", Locator::Id("passkey-signin")).await;
    click(&browser, "passkey-signin").await;
    wait_for(&browser, "the account page after a passkey sign-in", Locator::Id("passkeys")).await;
    let page = source(&browser).await;
    assert!(page.contains("recent-signins"), "{page}");
    assert!(page.contains("<td>passkey</td>"), "the passkey sign-in is listed: {page}");

    // 4. An application's login page: the passkey signs in and the flow goes on with a code.
    click(&browser, "sign-out").await;
    wait_for(&browser, "the account sign-in page", Locator::Id("passkey-signin")).await;
    let authorize = format!(
        "{}/authorize?client_id={client_id}&redirect_uri={}&response_type=code&scope=openid&state=s1&\
         code_challenge={PKCE_CHALLENGE}&code_challenge_method=S256",
        server.issuer,
        url::form_urlencoded::byte_serialize(callback.as_bytes()).collect::<String>()
    );
    browser.goto(&authorize).await.expect("open the authorization");
    wait_for(&browser, "the login page", Locator::Id("passkey-signin")).await;
    click(&browser, "passkey-signin").await;
    let back = eventually("the redirect to the application", || async {
        let url = browser.current_url().await.map_err(|e| e.to_string())?;
        if url.as_str().starts_with(&callback) { Ok(url) } else { Err(format!("at {url}")) }
    })
    .await;
    let params: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert!(params.contains_key("code"), "{back}");
    assert_eq!(params.get("state").map(String::as_str), Some("s1"), "{back}");

    // 5. With a passkey, the password is not enough: the passkey is asked as a second factor.
    browser.goto(&format!("{}/account", server.issuer)).await.unwrap();
    wait_for(&browser, "the account page", Locator::Id("sign-out")).await;
    click(&browser, "sign-out").await;
    wait_for(&browser, "the account sign-in page", Locator::Id("passkey-signin")).await;
    fill(&browser, "username", USERNAME).await;
    fill(&browser, "password", PASSWORD).await;
    browser.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "the second-factor page", Locator::Id("passkey-verify")).await;
    assert!(browser.find(Locator::Id("passkeys")).await.is_err(), "no account page before the passkey");
    click(&browser, "passkey-verify").await;
    wait_for(&browser, "the account page after password and passkey", Locator::Id("passkeys")).await;
    let page = source(&browser).await;
    assert!(page.contains("<td>password and passkey</td>"), "{page}");

    browser.close().await.expect("close the browser");
}
