//! Federation end to end, in a real browser: the built `tessera` binary signs people in
//! through an upstream OpenID provider that runs on loopback, driven by headless Chromium.
//!
//! - `node_oidc_provider_upstream`: the upstream is panva/node-oidc-provider (an OpenID
//!   Certified implementation, not Tessera's code; `tests/upstream/`), Tessera on SQLite and
//!   memory;
//! - `tessera_upstream`: the upstream is a second `tessera` binary, the Tessera under test on
//!   PostgreSQL and Redis.
//!
//! Each runs the same story: the login page's button sends the browser upstream, the person
//! signs in there, Tessera creates the user and maps the upstream group to a Tessera group
//! whose role binding appears in the access token; upstream the person leaves the group, and
//! the next sign-in's token has no binding; RP-initiated logout at Tessera ends the upstream
//! session too and comes back to the application.
//!
//! Needs Debian's `chromium` and `chromium-driver`, Node.js with `npm ci --prefix
//! tests/upstream` done (`.ci/run` does it), and for the second test PostgreSQL and Redis. A
//! missing piece is a failure that says how to get it, never a skip.

#[path = "common/browser.rs"]
mod browser;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use browser::{
    ChildGuard, ChromeDriver, RedisPrefix, RpServer, STEP, TempDatabase, Tessera, free_port, random_hex,
    require_browser,
};
use fantoccini::Locator;
use serde_json::{Value, json};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const UPSTREAM_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/upstream");
const UPSTREAM_SECRET: &str = "upstream-client-secret-7f3a";
const GROUP: &str = "Platform Engineering";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_oidc_provider_upstream() {
    let _one = SERIAL.lock().await;
    require_browser();
    require_node();
    let dir = tempfile::tempdir().expect("temporary folder");
    let env = vec![
        ("TESSERA__DATABASE__URL".to_string(), format!("sqlite://{}/t.db", dir.path().display())),
        ("TESSERA__STATE__BACKEND".to_string(), "memory".to_string()),
    ];
    let tessera = Tessera::start(dir.path(), env).await;
    let upstream = NodeUpstream::start(dir.path(), &tessera.issuer).await;
    story(dir.path(), &tessera, &Upstream::Node(upstream)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tessera_upstream() {
    let _one = SERIAL.lock().await;
    require_browser();
    let dir = tempfile::tempdir().expect("temporary folder");
    let redis_url = std::env::var("TESSERA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("tessera-federation-test:{}:", random_hex(8));
    let redis = RedisPrefix::check(&redis_url, &prefix).await;
    let database = TempDatabase::create().await;
    let env = vec![
        ("TESSERA__DATABASE__URL".to_string(), database.url.clone()),
        ("TESSERA__STATE__BACKEND".to_string(), "redis".to_string()),
        ("TESSERA__STATE__REDIS_URL".to_string(), redis_url.clone()),
        ("TESSERA__STATE__REDIS_PREFIX".to_string(), prefix.clone()),
    ];
    let tessera = Tessera::start(dir.path(), env).await;
    let up_dir = dir.path().join("upstream");
    std::fs::create_dir_all(&up_dir).unwrap();
    let up_env = vec![
        ("TESSERA__DATABASE__URL".to_string(), format!("sqlite://{}/up.db", up_dir.display())),
        ("TESSERA__STATE__BACKEND".to_string(), "memory".to_string()),
    ];
    let up = Tessera::start(&up_dir, up_env).await;
    let user = up.cli(&[
        "users",
        "create",
        "--username",
        "alice",
        "--password",
        "Upstream-Passw0rd-Long",
        "--email",
        "alice@corp.example",
        "--name",
        "Alice Upstream",
    ]);
    let user_id = user["id"].as_str().unwrap().to_string();
    up.cli(&[
        "auths",
        "api",
        "POST",
        "/default/groups",
        "--data",
        &json!({ "id": "platform", "name": GROUP }).to_string(),
    ]);
    let member = json!({ "kind": "user", "id": user_id }).to_string();
    up.cli(&["auths", "api", "POST", "/default/groups/platform/members", "--data", &member]);
    let client = up.cli(&[
        "clients",
        "create",
        "--name",
        "Downstream Tessera",
        "--redirect-uri",
        &format!("{}/login/federated/callback", tessera.issuer),
        "--post-logout-redirect-uri",
        &format!("{}/login/federated/logged-out", tessera.issuer),
        "--first-party",
    ]);
    let upstream = Upstream::Tessera {
        server: up,
        client_id: client["client_id"].as_str().unwrap().to_string(),
        secret: client["client_secret"].as_str().unwrap().to_string(),
        user_id,
    };
    story(dir.path(), &tessera, &upstream).await;
    redis.cleanup().await;
    database.drop_now().await;
}

// ---------------------------------------------------------------------------------------------
// Upstreams
// ---------------------------------------------------------------------------------------------

struct NodeUpstream {
    issuer: String,
    accounts: PathBuf,
    _process: ChildGuard,
}

enum Upstream {
    Node(NodeUpstream),
    Tessera { server: Tessera, client_id: String, secret: String, user_id: String },
}

fn require_node() {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "the federation browser test runs node-oidc-provider: install Node.js (Debian package nodejs)"
    );
    if !Path::new(UPSTREAM_DIR).join("node_modules/oidc-provider").exists() {
        // First run on a fresh machine: install the pinned packages (package-lock.json).
        let status = Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix", UPSTREAM_DIR]).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "the federation browser test needs its upstream's packages and `npm ci --prefix tests/upstream` failed"
        );
    }
}

fn write_accounts(path: &Path, groups: &[&str]) {
    let accounts = json!({ "alice": {
        "email": "alice@corp.example",
        "email_verified": true,
        "name": "Alice Upstream",
        "preferred_username": "alice",
        "groups": groups,
    }});
    std::fs::write(path, accounts.to_string()).unwrap();
}

impl NodeUpstream {
    async fn start(dir: &Path, downstream: &str) -> Self {
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let accounts = dir.join("accounts.json");
        write_accounts(&accounts, &[GROUP]);
        let config = dir.join("upstream.json");
        let cfg = json!({
            "client": {
                "client_id": "tessera",
                "client_secret": UPSTREAM_SECRET,
                "redirect_uris": [format!("{downstream}/login/federated/callback")],
                "post_logout_redirect_uris": [format!("{downstream}/login/federated/logged-out")],
            },
            "accounts_file": accounts,
        });
        std::fs::write(&config, cfg.to_string()).unwrap();
        let mut cmd = Command::new("node");
        cmd.arg(Path::new(UPSTREAM_DIR).join("provider.mjs")).arg(port.to_string()).arg(&config).current_dir(dir);
        let mut process = ChildGuard::spawn("node-oidc-provider", cmd, dir.join("upstream.log"), false);
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap();
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(status) = process.exited() {
                panic!("node-oidc-provider exited with {status}:\n{}", process.log_tail());
            }
            let ok = http
                .get(format!("{issuer}/.well-known/openid-configuration"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "node-oidc-provider was not ready:\n{}", process.log_tail());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Self { issuer, accounts, _process: process }
    }
}

impl Upstream {
    fn issuer(&self) -> &str {
        match self {
            Self::Node(n) => &n.issuer,
            Self::Tessera { server, .. } => &server.issuer,
        }
    }

    fn client(&self) -> (&str, &str) {
        match self {
            Self::Node(_) => ("tessera", UPSTREAM_SECRET),
            Self::Tessera { client_id, secret, .. } => (client_id, secret),
        }
    }

    /// The person signs in on the upstream's own login page.
    async fn sign_in(&self, b: &fantoccini::Client) {
        match self {
            Self::Node(_) => {
                fill(b, "input[name='login']", "alice").await;
                fill(b, "input[name='password']", "any password will do").await;
                click(b, "button[type='submit']").await;
            }
            Self::Tessera { .. } => {
                fill(b, "#username", "alice").await;
                fill(b, "#password", "Upstream-Passw0rd-Long").await;
                click(b, "form[action='login'] button[type='submit']").await;
            }
        }
    }

    /// Upstream, alice leaves the group.
    fn leave_group(&self) {
        match self {
            Self::Node(n) => write_accounts(&n.accounts, &[]),
            Self::Tessera { server, user_id, .. } => {
                server.cli(&["auths", "api", "DELETE", &format!("/default/groups/platform/members/user/{user_id}")]);
            }
        }
    }

    /// The upstream's end-session page, if it asks for confirmation.
    async fn confirm_logout(&self, b: &fantoccini::Client) {
        match self {
            Self::Node(_) => click(b, "button[name='logout'][value='yes']").await,
            // Tessera confirms silently when the id_token_hint names the session's user.
            Self::Tessera { .. } => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The story
// ---------------------------------------------------------------------------------------------

async fn story(dir: &Path, tessera: &Tessera, upstream: &Upstream) {
    let started = Instant::now();
    let rp = RpServer::start().await;
    let callback = format!("http://127.0.0.1:{}/callback", rp.port);
    let bye = format!("http://127.0.0.1:{}/bye", rp.port);
    let app = tessera.cli(&[
        "clients",
        "create",
        "--name",
        "Orchestrator",
        "--redirect-uri",
        &callback,
        "--post-logout-redirect-uri",
        &bye,
        "--first-party",
    ]);
    let client_id = app["client_id"].as_str().unwrap().to_string();
    let client_secret = app["client_secret"].as_str().unwrap().to_string();
    for (path, body) in [
        ("/default/roles", json!({ "id": "viewer", "name": "Viewer", "permissions": ["FLOW:READ"] })),
        ("/default/groups", json!({ "id": "eng", "name": "Engineering" })),
        (
            "/default/bindings",
            json!({ "role_id": "viewer", "principal_kind": "group", "principal_id": "eng", "namespaces": ["prod"] }),
        ),
    ] {
        tessera.cli(&["auths", "api", "POST", path, "--data", &body.to_string()]);
    }
    let (up_client, up_secret) = upstream.client();
    let secret_file = dir.join("upstream-secret");
    std::fs::write(&secret_file, up_secret).unwrap();
    let idp = tessera.cli(&[
        "auths",
        "identity-providers",
        "create",
        "--tenant",
        "default",
        "--id",
        "corp",
        "--name",
        "Corp SSO",
        "--issuer",
        upstream.issuer(),
        "--client-id",
        up_client,
        "--client-secret-file",
        secret_file.to_str().unwrap(),
        "--scope",
        "openid",
        "--scope",
        "profile",
        "--scope",
        "email",
        "--scope",
        "groups",
        "--map-group",
        &format!("{GROUP}=eng"),
    ]);
    assert_eq!(idp["client_secret_set"], true, "{idp}");
    assert!(!idp.to_string().contains(up_secret), "the secret is never printed back");

    let driver = ChromeDriver::start(dir).await;
    let b = driver.browser(dir).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap();
    let rp_app =
        Rp { issuer: &tessera.issuer, client_id: &client_id, secret: &client_secret, callback: &callback, http: &http };

    // 1. The button, the upstream's login page, back with a code.
    let flow = rp_app.begin(&b, &[]).await;
    wait_for(&b, "Tessera's login page", |u| u.starts_with(&format!("{}/login?", tessera.issuer))).await;
    let page = b.source().await.unwrap();
    assert!(page.contains("Sign in with Corp SSO"), "the login page offers the provider");
    click(&b, "button.idp").await;
    wait_for(&b, "the upstream's login page", |u| u.starts_with(upstream.issuer())).await;
    upstream.sign_in(&b).await;
    let params = wait_for_callback(&b, &callback).await;
    let tokens = rp_app.redeem(&params, &flow).await;
    let claims = jwt_claims(tokens["access_token"].as_str().unwrap());
    let namespaces = claims["rb"]["n"].as_object().map(|n| n.values().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(namespaces, vec![json!(["prod"])], "the mapped group's binding: {claims}");
    let id_claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_claims["amr"], json!(["fed"]));
    let epoch = claims["ep"].as_i64().unwrap();
    let user_id = claims["sub"].as_str().unwrap().to_string();

    // 2. Upstream, alice leaves the group; a new sign-in (prompt=login) drops the binding.
    upstream.leave_group();
    let flow = rp_app.begin(&b, &[("prompt", "login")]).await;
    wait_for(&b, "Tessera's login page", |u| u.starts_with(&format!("{}/login?", tessera.issuer))).await;
    click(&b, "button.idp").await;
    // The upstream may still have a session (single sign-on there): no login page then.
    let deadline = Instant::now() + STEP;
    loop {
        let url = b.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        if url.starts_with(&callback) {
            break;
        }
        if url.starts_with(upstream.issuer()) && b.find(Locator::Css("input[type='password']")).await.is_ok() {
            upstream.sign_in(&b).await;
            break;
        }
        assert!(Instant::now() < deadline, "neither the upstream's login page nor the application: {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let params = wait_for_callback(&b, &callback).await;
    let tokens = rp_app.redeem(&params, &flow).await;
    let claims = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], user_id, "the same user, by its link");
    assert!(claims.get("rb").and_then(|r| r.get("n")).is_none(), "no binding any more: {claims}");
    assert!(claims["ep"].as_i64().unwrap() > epoch, "the binding epoch moved");

    // 3. RP-initiated logout ends the upstream session too, then comes back to the app.
    let id_token = tokens["id_token"].as_str().unwrap();
    let logout = format!(
        "{}/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-state",
        tessera.issuer,
        urlencode(&bye)
    );
    b.goto(&logout).await.unwrap();
    let url =
        wait_for(&b, "the upstream's logout or the app", |u| u.starts_with(upstream.issuer()) || u.starts_with(&bye))
            .await;
    if let Upstream::Node(_) = upstream {
        // node-oidc-provider asks for confirmation on its end-session page.
        assert!(!url.starts_with(&bye), "the browser went through the upstream's end-session endpoint first");
        upstream.confirm_logout(&b).await;
    }
    // (A Tessera upstream signs out silently for its own id_token_hint: the redirects chain
    // straight through; that the upstream session ended is checked below.)
    let url = wait_for(&b, "back at the application", |u| u.starts_with(&bye)).await;
    assert!(url.contains("state=bye-state"), "{url}");
    // Signed out at both: the next sign-in shows the upstream's login page again.
    let _flow = rp_app.begin(&b, &[]).await;
    wait_for(&b, "Tessera's login page", |u| u.starts_with(&format!("{}/login?", tessera.issuer))).await;
    click(&b, "button.idp").await;
    wait_for(&b, "the upstream's login page", |u| u.starts_with(upstream.issuer())).await;
    let deadline = Instant::now() + STEP;
    while b.find(Locator::Css("input[type='password']")).await.is_err() {
        assert!(Instant::now() < deadline, "the upstream asks for a password again after logout");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.close().await.unwrap();
    eprintln!("federation story passed in {:.1} s", started.elapsed().as_secs_f64());
}

struct Rp<'a> {
    issuer: &'a str,
    client_id: &'a str,
    secret: &'a str,
    callback: &'a str,
    http: &'a reqwest::Client,
}

struct Flow {
    state: String,
    verifier: String,
}

impl Rp<'_> {
    async fn begin(&self, b: &fantoccini::Client, extra: &[(&str, &str)]) -> Flow {
        let verifier = random_hex(32);
        let challenge = b64url(&sha256(verifier.as_bytes()));
        let state = random_hex(8);
        let mut q = vec![
            ("client_id", self.client_id),
            ("redirect_uri", self.callback),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        q.extend_from_slice(extra);
        let query: String = q.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
        b.goto(&format!("{}/authorize?{query}", self.issuer)).await.unwrap();
        Flow { state, verifier }
    }

    async fn redeem(&self, params: &HashMap<String, String>, flow: &Flow) -> Value {
        assert_eq!(params.get("state"), Some(&flow.state), "{params:?}");
        let code = params.get("code").unwrap_or_else(|| panic!("no code: {params:?}"));
        let res = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(self.client_id, Some(self.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.callback),
                ("code_verifier", &flow.verifier),
            ])
            .send()
            .await
            .unwrap();
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        assert!(status.is_success(), "token: {status} {v}");
        v
    }
}

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().to_vec()
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn wait_for(b: &fantoccini::Client, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        if let Ok(u) = b.current_url().await
            && done(u.as_str())
        {
            return u.to_string();
        }
        if Instant::now() > deadline {
            let url = b.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let page = b.source().await.unwrap_or_default();
            panic!("waited for {what}; the browser is at {url}:\n{}", &page[..page.len().min(3000)]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_callback(b: &fantoccini::Client, callback: &str) -> HashMap<String, String> {
    let url = wait_for(b, "the application's callback", |u| u.starts_with(callback)).await;
    url::Url::parse(&url).unwrap().query_pairs().into_owned().collect()
}

async fn find(b: &fantoccini::Client, css: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + STEP;
    loop {
        match b.find(Locator::Css(css)).await {
            Ok(e) => return e,
            Err(e) if Instant::now() > deadline => {
                let url = b.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                panic!("no {css} at {url}: {e}");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn fill(b: &fantoccini::Client, css: &str, text: &str) {
    find(b, css).await.send_keys(text).await.unwrap();
}

async fn click(b: &fantoccini::Client, css: &str) {
    find(b, css).await.click().await.unwrap();
}
