//! The production topology on loopback: three `tessera serve` processes (the built binary)
//! behind one issuer URL, sharing a fresh PostgreSQL database, one Redis key prefix and
//! signing keys in the database. Every step of every flow goes to a different instance, as a
//! load balancer would send it: a login started on one finishes on another, the code is
//! redeemed on a third, a refresh retried on another instance after a lost answer still
//! rotates, and revocation, binding epochs, key rotation and sign-in throttling are seen by all.
//!
//! Needs PostgreSQL and Redis (TESSERA_TEST_POSTGRES_URL, TESSERA_TEST_REDIS_URL); fails
//! without them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const PASSWORD: &str = "correct horse battery staple";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn pg_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn redis_url() -> String {
    std::env::var("TESSERA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A database of its own for one test run, dropped at the end.
struct FreshDb {
    admin_url: String,
    name: String,
}

impl FreshDb {
    async fn create() -> Self {
        let admin_url = pg_url();
        let name = format!("tessera_topology_{}", tessera::crypto::random_token(6).to_lowercase().replace('-', "_"));
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("PostgreSQL must be running");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.unwrap();
        Self { admin_url, name }
    }

    fn url(&self) -> String {
        let mut u = url::Url::parse(&self.admin_url).unwrap();
        u.set_path(&self.name);
        u.to_string()
    }

    async fn drop_now(self) {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    }
}

struct Instance {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The shared configuration of the deployment, as environment variables.
struct Deployment {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Deployment {
    fn new(db_url: &str, issuer: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("encryption-key");
        std::fs::write(&key_file, tessera::crypto::hex(&tessera::crypto::random_bytes(32))).unwrap();
        let prefix = format!("topology-{}:", tessera::crypto::random_token(6));
        let env = [
            ("TESSERA__DATABASE__URL", db_url.to_string()),
            ("TESSERA__STATE__BACKEND", "redis".into()),
            ("TESSERA__STATE__REDIS_URL", redis_url()),
            ("TESSERA__STATE__REDIS_PREFIX", prefix),
            ("TESSERA__KEYS__STORE", "database".into()),
            ("TESSERA__KEYS__ENCRYPTION_KEY_FILE", key_file.display().to_string()),
            ("TESSERA__SERVER__ISSUER", issuer.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Self { dir, env }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path()).env_remove("TESSERA_CONFIG").envs(self.env.iter().cloned());
        c
    }

    fn spawn(&self, n: usize, port: u16) -> Instance {
        let log = self.dir.path().join(format!("instance-{n}.log"));
        let child = self
            .command()
            .arg("serve")
            .env("TESSERA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start tessera");
        Instance { child, base: format!("http://127.0.0.1:{port}"), log }
    }

    /// Runs a CLI command on the shared database; returns its JSON output.
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "tessera {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::String(String::from_utf8_lossy(&out.stdout).into()))
    }
}

async fn wait_ready(http: &reqwest::Client, instance: &Instance) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(r) = http.get(format!("{}/readyz", instance.base)).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready: {}",
            instance.base,
            std::fs::read_to_string(&instance.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("tessera_session="))
        .map(|c| c.split(';').next().unwrap().to_string())
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no hidden {name} in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

fn query_param(location: &str, name: &str) -> Option<String> {
    let query = location.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A path with its query from a `Location` (absolute, or relative to the root).
fn path_of(location: &str) -> String {
    match url::Url::parse(location) {
        Ok(u) => format!("{}?{}", u.path(), u.query().unwrap_or_default()),
        Err(_) => format!("/{}", location.trim_start_matches('/')),
    }
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(base).unwrap();
    u.query_pairs_mut().extend_pairs(pairs);
    u.to_string()
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

async fn token(http: &reqwest::Client, base: &str, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let res = http.post(format!("{base}/token")).basic_auth(client.0, Some(client.1)).form(form).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn introspect(http: &reqwest::Client, base: &str, client: (&str, &str), tok: &str) -> Value {
    let res =
        http.post(format!("{base}/introspect")).basic_auth(client.0, Some(client.1)).form(&[("token", tok)]).send();
    res.await.unwrap().json().await.unwrap()
}

async fn jwks_kids(http: &reqwest::Client, base: &str) -> Vec<String> {
    let doc: Value = http.get(format!("{base}/jwks.json")).send().await.unwrap().json().await.unwrap();
    doc["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

fn header_kid(jwt: &str) -> String {
    use base64::Engine;
    let header = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["kid"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_postgres_and_redis_serve_any_step_of_any_flow() {
    let db = FreshDb::create().await;
    let ports = [free_port(), free_port(), free_port()];
    let issuer = format!("http://127.0.0.1:{}", ports[0]);
    let deployment = Deployment::new(&db.url(), &issuer);
    run(&deployment, &ports).await;
    db.drop_now().await;
}

async fn run(deployment: &Deployment, ports: &[u16; 3]) {
    // Three instances started together on an empty database: migrations and the first keys
    // are settled between them.
    let instances: Vec<Instance> = ports.iter().enumerate().map(|(n, p)| deployment.spawn(n, *p)).collect();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for i in &instances {
        wait_ready(&http, i).await;
    }
    let [a, b, c] = [&instances[0].base, &instances[1].base, &instances[2].base];
    let first = jwks_kids(&http, a).await;
    assert_eq!(first.len(), 3, "one key per algorithm: {first:?}");
    for base in [b, c] {
        assert_eq!(jwks_kids(&http, base).await, first, "every instance publishes the same keys");
    }

    // A client, a user and an Instance Admin, from the CLI on the shared database.
    let created = deployment.cli(
        &[
            "clients",
            "create",
            "--name",
            "Topology app",
            "--first-party",
            "--redirect-uri",
            REDIRECT,
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--scope",
            "openid",
        ],
        None,
    );
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    let client = (client_id.as_str(), secret.as_str());
    let alice = deployment.cli(&["users", "create", "--username", "alice", "--password-stdin"], Some(PASSWORD));
    let alice_id = alice["id"].as_str().unwrap().to_string();
    deployment.cli(
        &["auths", "users", "create", "--instance-admin", "--username", "root", "--password-stdin"],
        Some(PASSWORD),
    );

    // Authorization code flow: /authorize on A, the login page on B, the password on C, the
    // code redeemed on A.
    let verifier = tessera::crypto::random_token(32);
    let challenge = tessera::crypto::b64url(&tessera::crypto::sha256(verifier.as_bytes()));
    let res = http
        .get(with_query(
            &format!("{a}/authorize"),
            &[
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "st"),
                ("nonce", "n0nce"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "authorize on A");
    // The pre-session cookie set on A binds the login form to this browser, on every instance.
    let browser = res
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("tessera_signin="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .expect("a pre-session cookie");
    let login = path_of(&location(&res));
    assert!(login.starts_with("/login?"), "{login}");
    let page = http.get(format!("{b}{login}")).send().await.unwrap().text().await.unwrap();
    let (request, csrf) = (hidden(&page, "request"), hidden(&page, "csrf"));
    let res = http
        .post(format!("{c}/login"))
        .header(reqwest::header::COOKIE, &browser)
        .form(&[("request", request.as_str()), ("csrf", &csrf), ("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "login on C");
    let session = session_cookie(&res).expect("a session cookie");
    let back = location(&res);
    assert!(back.starts_with(REDIRECT), "back to the client: {back}");
    let code = query_param(&back, "code").expect("a code");
    let (status, tokens) = token(
        &http,
        a,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "code redeemed on A: {tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token").to_string();
    // Replaying the code on B fails: the code was consumed once, for all.
    let (status, replay) = token(
        &http,
        b,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!((status, replay["error"].as_str()), (400, Some("invalid_grant")));
    // Single sign-on from the session made on C, on B.
    let res = http
        .get(with_query(
            &format!("{b}/authorize"),
            &[
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert!(location(&res).starts_with(REDIRECT), "the session is known on B: {}", location(&res));

    // The replay revoked the grant of the first code: start a fresh grant for the rest.
    let (access, refresh) = {
        let _ = (access, refresh);
        let code = query_param(&location(&res), "code").unwrap();
        let (status, tokens) = token(
            &http,
            c,
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        (tokens["access_token"].as_str().unwrap().to_string(), tokens["refresh_token"].as_str().unwrap().to_string())
    };
    // Tokens signed by one instance verify on every other.
    for base in [a, b, c] {
        assert_eq!(introspect(&http, base, client, &access).await["active"], true, "introspection on {base}");
    }

    // Refresh on B; its answer is "lost" (as when B dies right after storing the rotation), so
    // the client retries on C with the token it holds: within the reuse grace C rotates again.
    let (status, refreshed) =
        token(&http, b, client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "refresh on B: {refreshed}");
    let access2 = refreshed["access_token"].as_str().unwrap().to_string();
    let (status, again) =
        token(&http, c, client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "the retry with the previous token on C: {again}");
    let refresh3 = again["refresh_token"].as_str().unwrap().to_string();

    // Revocation on A is seen by B and C.
    let res = http
        .post(format!("{a}/revoke"))
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", refresh3.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for base in [b, c] {
        assert_eq!(introspect(&http, base, client, &access2).await["active"], false, "revoked on {base}");
    }
    let (status, refused) =
        token(&http, c, client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh3)]).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_grant")));

    // A binding made through A's admin API bumps alice's epoch, as B and C report it.
    let res = http
        .post(format!("{a}/api/v1/default/bindings"))
        .basic_auth("root", Some(PASSWORD))
        .json(&serde_json::json!({ "role_id": "admin", "principal_kind": "user", "principal_id": alice_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    for base in [b, c] {
        let res = http.get(format!("{base}/binding-epochs?since=0")).basic_auth(client.0, Some(client.1)).send();
        let epochs: Value = res.await.unwrap().json().await.unwrap();
        let mine = epochs["changes"].as_array().unwrap().iter().find(|e| e["id"] == alice_id.as_str()).cloned();
        assert!(mine.is_some_and(|e| e["ep"].as_i64().unwrap() >= 1), "epoch on {base}: {epochs}");
    }

    // Every instance signs with the same keys.
    let signing = header_kid(&access);
    assert!(first.contains(&signing));
    assert_eq!(header_kid(&access2), signing, "tokens from B and C carry the same kid");

    // A rotation (here by the CLI on the database) reaches every instance's JWKS within the
    // reload interval (30 s), without a restart.
    let out = deployment.cli(&["keys", "rotate", "--alg", "es256"], None);
    let listed = deployment.cli(&["keys", "list", "--json"], None);
    let next: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] == "next")
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(next.len(), 1, "one new key waiting: {out} {listed}");
    let deadline = Instant::now() + Duration::from_secs(45);
    for base in [a, b, c] {
        loop {
            if jwks_kids(&http, base).await.contains(&next[0]) {
                break;
            }
            assert!(Instant::now() < deadline, "{base} did not publish the rotated key");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    // Metrics of an instance name the routes it served and the grants it issued.
    let metrics = http.get(format!("{a}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("tessera_tokens_issued_total{grant=\"authorization_code\"}"), "{metrics}");
    assert!(metrics.contains("route=\"/authorize\""), "{metrics}");
    assert!(metrics.contains("tessera_store_up{backend=\"postgres\"} 1"), "{metrics}");
    assert!(metrics.contains("tessera_state_up{backend=\"redis\"} 1"), "{metrics}");

    // Sign-in throttling is shared: failures counted on A, B and C (seven, past the five free
    // ones) lock alice's username on all three, even with the right password.
    for (n, base) in [a, b, c, a, b, c, a].into_iter().enumerate() {
        let res = http.get(format!("{base}/api/v1/default/users")).basic_auth("alice", Some("wrong")).send();
        assert_eq!(res.await.unwrap().status(), 401, "failure {n} on {base}");
    }
    for base in [a, b, c] {
        let res = http.get(format!("{base}/api/v1/default/users")).basic_auth("alice", Some(PASSWORD)).send();
        assert_eq!(res.await.unwrap().status(), 401, "the lock holds on {base}");
    }

    // No secret in any log.
    for i in &instances {
        let log = std::fs::read_to_string(&i.log).unwrap();
        for secret in [PASSWORD, secret.as_str(), &refresh, &access] {
            assert!(!log.contains(secret), "a secret in {}", i.log.display());
        }
        assert!(!log.contains(&std::fs::read_to_string(deployment.dir.path().join("encryption-key")).unwrap()));
    }
}
