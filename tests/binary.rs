//! The built binary, end to end, as a newcomer runs it: `tessera serve` with no configuration
//! in an empty folder, the README walkthrough through the CLI and curl-like requests, no
//! secret in the logs, and a graceful stop on SIGTERM.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");

struct Server {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn tessera(dir: &Path, port: u16) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_remove("TESSERA_CONFIG")
        .env("TESSERA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("TESSERA__SERVER__ISSUER", format!("http://127.0.0.1:{port}"));
    c
}

async fn start(dir: &Path) -> (Server, Duration) {
    let port = free_port();
    let log = dir.join("server.log");
    let started = Instant::now();
    let child = tessera(dir, port)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start tessera");
    let server = Server { child, port, log };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/readyz")).send().await
            && r.status() == 200
        {
            return (server, started.elapsed());
        }
        assert!(Instant::now() < deadline, "not ready: {}", std::fs::read_to_string(&server.log).unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn fresh_folder_serves_discovery_and_the_walkthrough_works() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, ready_in) = start(dir.path()).await;
    eprintln!("ready in {ready_in:?} (process start to /readyz 200)");
    let base = format!("http://127.0.0.1:{}", server.port);
    let http = reqwest::Client::new();

    let doc: serde_json::Value =
        http.get(format!("{base}/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["issuer"], base);
    assert!(dir.path().join("data/tessera.db").exists(), "SQLite file created in the data folder");
    // One private key per algorithm, each in its own file named by its kid, and the keyring.
    let ring: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("keys/keyring.json")).unwrap()).unwrap();
    let files: Vec<&str> = ring["keys"].as_array().unwrap().iter().map(|k| k["file"].as_str().unwrap()).collect();
    assert_eq!(files.len(), 3, "{ring}");
    #[cfg(unix)]
    for f in files {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keys").join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{f} is private");
    }

    // The walkthrough: a client from the CLI (on the same database), then client_credentials.
    let out = tessera(dir.path(), server.port)
        .args(["clients", "create", "--name", "ci", "--grant", "client_credentials", "--scope", "flows:read"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (id, secret) = (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let res = http
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tok: serde_json::Value = res.json().await.unwrap();
    let at = tok["access_token"].as_str().unwrap().to_string();
    assert_eq!(tok["expires_in"], 300);

    // A user from the CLI, listed without any secret.
    let out = tessera(dir.path(), server.port)
        .args(["users", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"a long passphrase\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let out = tessera(dir.path(), server.port).args(["users", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("alice") && !listed.contains("argon2"), "{listed}");

    // SIGTERM: a graceful stop, exit status 0.
    #[cfg(unix)]
    {
        let pid = server.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                assert!(status.success(), "exit status {status}");
                break;
            }
            assert!(Instant::now() < deadline, "did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("Tessera is ready"), "{log}");
    assert!(log.lines().all(|l| l.trim().is_empty() || l.starts_with('{')), "JSON log lines: {log}");
    assert!(log.contains("request") && log.contains("\"id\""), "requests logged with an id");
    for secret_value in [secret, at.as_str(), "a long passphrase"] {
        assert!(!log.contains(secret_value), "a secret reached the log");
    }
}

#[tokio::test]
async fn keys_rotate_and_list_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| tessera(dir.path(), free_port()).args(args).output().unwrap();
    let text = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();
    // A folder from before rotation: one legacy file per algorithm, no keyring.
    let (mut server, _) = start(dir.path()).await;
    let _ = server.child.kill();
    let _ = server.child.wait();
    let keys = dir.path().join("keys");
    let ring: serde_json::Value = serde_json::from_slice(&std::fs::read(keys.join("keyring.json")).unwrap()).unwrap();
    std::fs::remove_file(keys.join("keyring.json")).unwrap();
    for k in ring["keys"].as_array().unwrap() {
        let legacy = format!("{}.pem", k["alg"].as_str().unwrap().to_lowercase());
        std::fs::rename(keys.join(k["file"].as_str().unwrap()), keys.join(legacy)).unwrap();
    }
    let out = run(&["keys", "list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = text(&out);
    assert_eq!(listed.lines().filter(|l| l.contains(" active ")).count(), 3, "{listed}");

    let out = run(&["keys", "rotate", "--alg", "ES256"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rotated = text(&out);
    assert!(rotated.contains("in the JWKS now, signs from") && rotated.contains("(in 900 s)"), "{rotated}");
    assert!(rotated.contains("verifies until"), "{rotated}");
    let out = run(&["keys", "list"]);
    let listed = text(&out);
    assert_eq!(listed.lines().filter(|l| l.starts_with("ES256")).count(), 2, "{listed}");
    assert!(listed.lines().any(|l| l.starts_with("ES256") && l.contains(" next ")), "{listed}");
    for output in [&rotated, &listed] {
        assert!(!output.contains("PRIVATE KEY"), "no private key printed");
    }
    // Refusals explain themselves and change nothing.
    let out = run(&["keys", "rotate", "--alg", "ES256"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already waiting to activate"));
    let out = run(&["keys", "rotate", "--alg", "RS256", "--publication-window-secs", "60"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 420 s"));

    // The server starts on the rotated folder and publishes four keys.
    let (server, _) = start(dir.path()).await;
    let jwks: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{}/jwks.json", server.port)).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn bad_configuration_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera(dir.path(), free_port()).env("TESSERA__SERVER__LISTN", "x").arg("serve").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key 'server.listn'"), "{err}");
    let out = tessera(dir.path(), free_port())
        .arg("--config")
        .arg(dir.path().join("missing.toml"))
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out =
        tessera(dir.path(), free_port()).env("TESSERA__DATABASE__URL", "mysql://db").arg("migrate").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("database.url"));
}

#[tokio::test]
async fn seed_cli_command_and_audit_chain_verification() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| tessera(dir.path(), free_port()).args(args).output().unwrap();
    // The seed's command, as written.
    let out = run(&["auths", "users", "create", "--tenant-admin", "prod", "--username", "demo", "--password", "demo"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((created["username"].as_str(), created["tenant_admin"].as_str()), (Some("demo"), Some("prod")));
    let out = run(&["clients", "create", "--name", "ci", "--grant", "client_credentials"]);
    assert!(out.status.success());
    let out = run(&["audit", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("entries, chain intact"));

    // Edit one entry behind Tessera's back: verification fails and names it.
    let db = dir.path().join("data/tessera.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let changed =
        sqlx::query("UPDATE audit_log SET action = 'nothing.to.see' WHERE seq = 2").execute(&pool).await.unwrap();
    assert_eq!(changed.rows_affected(), 1);
    pool.close().await;
    let out = run(&["audit", "verify"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("seq 2"), "{err}");
}

#[tokio::test]
async fn admin_cli_on_the_database_and_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path()).await;
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}");
    let run = |args: &[&str], stdin: Option<&str>| -> std::process::Output {
        let mut c = tessera(dir.path(), port);
        c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        {
            use std::io::Write;
            let mut input = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                input.write_all(s.as_bytes()).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    };
    // Bootstrap an Instance Admin on the database, then administer over HTTP.
    let out = run(
        &["auths", "users", "create", "--instance-admin", "--username", "root", "--password-stdin"],
        Some("root pass phrase\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let remote = ["--server", url.as_str(), "--user", "root:root pass phrase"];
    // `auths --server URL --user name:password <command> …`
    let with = |rest: &[&'static str]| -> Vec<&str> {
        rest[..1].iter().copied().chain(remote.iter().copied()).chain(rest[1..].iter().copied()).collect()
    };
    let out = run(&with(&["auths", "tenants", "create", "acme", "--name", "ACME"]), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(
        &with(&[
            "auths",
            "roles",
            "create",
            "--tenant",
            "acme",
            "--id",
            "viewer",
            "--name",
            "Viewer",
            "--permission",
            "FLOW:READ",
        ]),
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&with(&["auths", "groups", "create", "--tenant", "acme", "--id", "ops", "--name", "Ops"]), None);
    assert!(out.status.success());
    let out = run(
        &with(&[
            "auths",
            "bindings",
            "create",
            "--tenant",
            "acme",
            "--role",
            "viewer",
            "--group-id",
            "ops",
            "--namespace",
            "prod",
        ]),
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The same objects, read on the database.
    let out = run(&["auths", "bindings", "list", "--tenant", "acme"], None);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The creator's Tenant Admin binding is listed too; ids are random, so find the one made here.
    let items = listed["items"].as_array().unwrap();
    let viewer = items.iter().find(|b| b["role_id"] == "viewer").expect("the viewer binding is listed");
    assert_eq!(viewer["namespaces"][0], "prod");
    // Errors are clear and exit non-zero.
    let out = run(&["auths", "--server", url.as_str(), "--user", "root:wrong", "tenants", "list"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));
    let out = run(
        &with(&["auths", "roles", "create", "--tenant", "acme", "--name", "Bad", "--permission", "FLOW:FLY"]),
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 422"));
    // Both paths were audited, as the CLI operator and as root.
    let out = run(&["audit", "verify"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(server);
}

/// Runs the CLI in `dir` (on its database, or with `--server` among `args`).
fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    tessera(dir, free_port()).args(args).stdin(Stdio::null()).output().unwrap()
}

fn ok(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    if out.stdout.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The claims of a JWT, unverified (the tests read what the server issued).
fn claims_of(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

const API_TOKEN_TYPE: &str = "urn:tessera:params:oauth:token-type:api-token";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

async fn exchange(base: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(&[("grant_type", TOKEN_EXCHANGE), ("subject_token", token), ("subject_token_type", API_TOKEN_TYPE)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn service_account_api_tokens_from_the_cli_as_token_and_in_an_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path()).await;
    let base = format!("http://127.0.0.1:{}", server.port);
    let d = dir.path();
    // On the database, as the local operator: a tenant, a role that reads users and groups, a
    // service account (through the top-level alias) bound to it.
    ok(&cli(d, &["auths", "tenants", "create", "acme", "--name", "ACME"]));
    ok(&cli(
        d,
        &[
            "auths",
            "roles",
            "create",
            "--tenant",
            "acme",
            "--id",
            "reader",
            "--name",
            "Reader",
            "--permission",
            "USER:READ",
            "--permission",
            "GROUP:READ",
        ],
    ));
    let sa = ok(&cli(d, &["service-accounts", "create", "--tenant", "acme", "--id", "deployer", "--name", "Deployer"]));
    assert_eq!(sa["id"], "deployer");
    ok(&cli(
        d,
        &["auths", "bindings", "create", "--tenant", "acme", "--role", "reader", "--service-account-id", "deployer"],
    ));

    // A token, printed once with its secret.
    let out = cli(
        d,
        &[
            "service-accounts",
            "tokens",
            "create",
            "--tenant",
            "acme",
            "--service-account",
            "deployer",
            "--name",
            "ci",
            "--expires-in",
            "3600",
        ],
    );
    let created = ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown once"));
    let token = created["token"].as_str().expect("the token is shown").to_string();
    let token_id = created["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("tsa_") && token.len() == 42, "{token}");
    assert_eq!((created["status"].as_str(), created["name"].as_str()), (Some("active"), Some("ci")));
    assert!(created["expires_at"].as_i64().is_some());

    // Listed without the secret, with its hint.
    let out =
        cli(d, &["auths", "service-accounts", "tokens", "list", "--tenant", "acme", "--service-account", "deployer"]);
    let listed = ok(&out);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&token), "the list shows no secret");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("shown once"));
    let item = &listed["items"][0];
    assert_eq!(item["id"], token_id.as_str());
    assert_eq!(item["hint"], format!("tsa_…{}", &token[token.len() - 4..]));
    assert!(item.get("token").is_none(), "{item}");

    // The token as --token over HTTP: what the account's role allows works…
    let remote = ["--server", base.as_str(), "--token", token.as_str()];
    let with = |cmd: &'static str, rest: &[&'static str]| -> Vec<&str> {
        std::iter::once(cmd).chain(remote.iter().copied()).chain(rest.iter().copied()).collect()
    };
    let listed = ok(&cli(d, &with("service-accounts", &["list", "--tenant", "acme"])));
    assert_eq!(listed["items"][0]["id"], "deployer");
    ok(&cli(d, &with("auths", &["groups", "list", "--tenant", "acme"])));
    // … what it does not is refused (403), exit status non-zero.
    let out = cli(
        d,
        &with("auths", &["roles", "create", "--tenant", "acme", "--name", "Sneaky", "--permission", "FLOW:READ"]),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 403"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(
        d,
        &with(
            "auths",
            &[
                "service-accounts",
                "tokens",
                "create",
                "--tenant",
                "acme",
                "--service-account",
                "deployer",
                "--name",
                "more",
            ],
        ),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 403"), "no token issues itself another");
    // A mistyped token fails offline, before any request.
    let mut typo = token.clone();
    typo.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
    let out =
        cli(d, &["auths", "--server", base.as_str(), "--token", typo.as_str(), "groups", "list", "--tenant", "acme"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid API token"));

    // Exchanged at /token (RFC 8693): an access token of the service account.
    let res = exchange(&base, &token).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!((claims["pk"].as_str(), claims["sub"].as_str()), (Some("sa"), Some("deployer")), "{claims}");
    assert_eq!(claims["tnt"], "acme");

    // Revoked with the CLI: the next exchange and the next --token fail.
    let out = cli(
        d,
        &[
            "auths",
            "service-accounts",
            "tokens",
            "revoke",
            "--tenant",
            "acme",
            "--service-account",
            "deployer",
            "--token-id",
            token_id.as_str(),
        ],
    );
    ok(&out);
    let res = exchange(&base, &token).await;
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    let out = cli(d, &with("auths", &["groups", "list", "--tenant", "acme"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));
    let got = ok(&cli(
        d,
        &[
            "service-accounts",
            "tokens",
            "get",
            "--tenant",
            "acme",
            "--service-account",
            "deployer",
            "--token-id",
            &token_id,
        ],
    ));
    assert_eq!(got["status"], "revoked");

    // Rotation without overlap: the successor is printed once and works; its predecessor not.
    let old = ok(&cli(
        d,
        &[
            "service-accounts",
            "tokens",
            "create",
            "--tenant",
            "acme",
            "--service-account",
            "deployer",
            "--name",
            "deploy",
        ],
    ));
    let old_token = old["token"].as_str().unwrap();
    let rotated = ok(&cli(
        d,
        &[
            "service-accounts",
            "tokens",
            "rotate",
            "--tenant",
            "acme",
            "--service-account",
            "deployer",
            "--token-id",
            old["id"].as_str().unwrap(),
            "--overlap-seconds",
            "0",
        ],
    ));
    let new_token = rotated["token"].as_str().unwrap();
    assert_ne!(new_token, old_token);
    assert_eq!(rotated["replaces"]["status"], "revoked");
    assert!(rotated["replaces"].get("token").is_none());
    assert_eq!(exchange(&base, old_token).await.status(), 400);
    assert_eq!(exchange(&base, new_token).await.status(), 200);

    // No token reached the server's log, and every change was audited in an intact chain.
    let log = std::fs::read_to_string(&server.log).unwrap();
    for secret in [token.as_str(), old_token, new_token] {
        assert!(!log.contains(secret), "a token reached the log");
    }
    let out = cli(d, &["audit", "verify"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("chain intact"), "{}", String::from_utf8_lossy(&out.stderr));
    drop(server);
}

#[tokio::test]
async fn service_account_clients_audiences_and_workload_identities_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path()).await;
    let base = format!("http://127.0.0.1:{}", server.port);
    let d = dir.path();
    ok(&cli(d, &["auths", "tenants", "create", "acme", "--name", "ACME"]));
    let sa = ok(&cli(
        d,
        &[
            "auths",
            "service-accounts",
            "create",
            "--tenant",
            "acme",
            "--id",
            "builder",
            "--name",
            "Builder",
            "--audience",
            "https://api.acme.example",
        ],
    ));
    assert_eq!(sa["audiences"], serde_json::json!(["https://api.acme.example"]));
    let sa = ok(&cli(
        d,
        &[
            "auths",
            "service-accounts",
            "update",
            "--tenant",
            "acme",
            "builder",
            "--audience",
            "https://api.acme.example",
            "--audience",
            "https://other.example",
        ],
    ));
    assert_eq!(sa["audiences"].as_array().unwrap().len(), 2);
    assert_eq!(sa["name"], "Builder", "what is not given stays");
    let got = ok(&cli(d, &["service-accounts", "get", "--tenant", "acme", "builder"]));
    assert_eq!(got["audiences"][1], "https://other.example");

    // A client with a secret (printed once), and client_credentials as the account.
    let out =
        cli(d, &["auths", "service-accounts", "clients", "create", "--tenant", "acme", "--service-account", "builder"]);
    let client = ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown once"));
    let (client_id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    assert_eq!(client["auth_method"], "client_secret_basic");
    assert_eq!(client["audiences"][0], "https://api.acme.example");
    let res = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!((claims["pk"].as_str(), claims["sub"].as_str()), (Some("sa"), Some("builder")), "{claims}");
    assert_eq!(claims["aud"], "https://api.acme.example");

    // private_key_jwt with a public key from a file (here: one of the server's own JWKS).
    let jwks: serde_json::Value = reqwest::get(format!("{base}/jwks.json")).await.unwrap().json().await.unwrap();
    let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kty"] == "EC").unwrap().clone();
    let key_file = d.join("client-key.json");
    std::fs::write(&key_file, key.to_string()).unwrap();
    let key_path = key_file.to_str().unwrap();
    let sa_clients = ["auths", "service-accounts", "clients"];
    let account = ["--tenant", "acme", "--service-account", "builder"];
    let args = |rest: &[&'static str]| -> Vec<&str> {
        sa_clients.iter().chain(rest[..1].iter()).chain(account.iter()).chain(rest[1..].iter()).copied().collect()
    };
    let mut create_jwt = args(&["create", "--auth-method", "private_key_jwt", "--audience", "https://other.example"]);
    create_jwt.extend(["--jwks-file", key_path]);
    let jwt_client = ok(&cli(d, &create_jwt));
    assert_eq!(jwt_client["auth_method"], "private_key_jwt");
    assert_eq!(jwt_client["audiences"], serde_json::json!(["https://other.example"]));
    assert!(jwt_client.get("client_secret").is_none());
    assert_eq!(jwt_client["jwks"]["keys"][0]["kid"], key["kid"]);
    let out = cli(d, &args(&["create", "--auth-method", "private_key_jwt"]));
    assert!(!out.status.success(), "private_key_jwt needs --jwks-file");
    let out = cli(d, &args(&["create", "--auth-method", "password"]));
    assert!(!out.status.success());

    // Listed without secrets; deleted.
    let out = cli(d, &args(&["list"]));
    let listed = ok(&out);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    let mut delete = args(&["delete"]);
    delete.extend(["--client-id", client_id]);
    ok(&cli(d, &delete));
    assert_eq!(ok(&cli(d, &args(&["list"])))["items"].as_array().unwrap().len(), 1);

    // A workload identity: an issuer, an audience, claim rules, the account.
    let wi = ["auths", "workload-identities"];
    let created = ok(&cli(
        d,
        &[
            wi[0],
            wi[1],
            "create",
            "--tenant",
            "acme",
            "--id",
            "ci-main",
            "--name",
            "CI on main",
            "--issuer",
            base.as_str(),
            "--audience",
            "tessera",
            "--claim",
            "repository=acme/*",
            "--claim",
            "ref=refs/heads/main",
            "--service-account",
            "builder",
        ],
    ));
    assert_eq!(created["claims"], serde_json::json!({ "repository": "acme/*", "ref": "refs/heads/main" }));
    assert_eq!(created["service_account_id"], "builder");
    let got = ok(&cli(d, &[wi[0], wi[1], "get", "--tenant", "acme", "ci-main"]));
    assert_eq!(got["issuer"], base.as_str());
    let listed = ok(&cli(d, &[wi[0], wi[1], "list", "--tenant", "acme"]));
    assert_eq!(listed["items"][0]["id"], "ci-main");
    let out = cli(
        d,
        &[
            wi[0],
            wi[1],
            "create",
            "--tenant",
            "acme",
            "--name",
            "Bad",
            "--issuer",
            base.as_str(),
            "--audience",
            "tessera",
            "--claim",
            "repository",
            "--service-account",
            "builder",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("name=pattern"));
    ok(&cli(d, &[wi[0], wi[1], "delete", "--tenant", "acme", "ci-main"]));
    let out = cli(d, &[wi[0], wi[1], "get", "--tenant", "acme", "ci-main"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 404"));

    // `tessera clients create` takes the token-exchange grant, stored as its URN.
    let made = ok(&cli(d, &["clients", "create", "--name", "exchanger", "--grant", "token-exchange"]));
    assert_eq!(made["grant_types"], serde_json::json!([TOKEN_EXCHANGE]));
    let made = ok(&cli(
        d,
        &["clients", "create", "--name", "both", "--grant", "client_credentials", "--grant", TOKEN_EXCHANGE],
    ));
    assert_eq!(made["grant_types"][1], TOKEN_EXCHANGE);
    let out = cli(d, &["clients", "create", "--name", "bad", "--grant", "password"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("token-exchange"));

    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains(secret), "a client secret reached the log");
    let out = cli(d, &["audit", "verify"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("chain intact"), "{}", String::from_utf8_lossy(&out.stderr));
    drop(server);
}
