//! The browser end-to-end harness shared by the browser tests: processes killed on drop (the
//! built `tessera` binary, ChromeDriver with headless Chromium), a throwaway PostgreSQL
//! database and Redis key prefix, a loopback relying-party callback server, and reqwest 0.13
//! as the `openidconnect` crate's HTTP client.
//!
//! Use it with `#[path = "common/browser.rs"] mod browser;`.
#![allow(dead_code)]

use std::fs::File;
use std::future::Future;
use std::net::TcpListener as StdTcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
use openidconnect::{HttpRequest, HttpResponse};
use url::Url;

pub const BIN: &str = env!("CARGO_BIN_EXE_tessera");
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one step may take: generous, since a loaded 2-core CI machine is slow.
pub const STEP: Duration = Duration::from_secs(90);

pub type BoxFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send>>;

/// reqwest 0.13 as oauth2's asynchronous HTTP client (oauth2 5 only wraps reqwest 0.12).
pub fn rp_http(client: &reqwest::Client) -> impl Fn(HttpRequest) -> BoxFuture + Clone {
    let client = client.clone();
    move |request: HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut out = HttpResponse::new(Vec::new());
            *out.status_mut() = response.status();
            *out.headers_mut() = response.headers().clone();
            *out.body_mut() = response.bytes().await?.to_vec();
            Ok(out)
        }) as BoxFuture
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and services
// ---------------------------------------------------------------------------------------------

/// A child process, killed (with its whole process group if it leads one) when dropped. When
/// the test is failing, the end of its log is printed.
pub struct ChildGuard {
    name: &'static str,
    child: Child,
    group: bool,
    log: PathBuf,
}

impl ChildGuard {
    pub fn spawn(name: &'static str, mut cmd: Command, log: PathBuf, group: bool) -> Self {
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        if group {
            cmd.process_group(0);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name, child, group, log }
    }

    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- last lines of the {} log ({}) -----\n{}", self.name, self.log.display(), self.log_tail());
        }
        if self.group {
            // The browser processes ChromeDriver started are in its process group.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0").expect("bind a loopback port").local_addr().unwrap().port()
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("system random number generator");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Polls until `f` succeeds, for at most [`STEP`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + STEP;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("{what}: still not ready after {STEP:?}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The `tessera` server under test, on a free loopback port.
pub struct Tessera {
    pub issuer: String,
    pub env: Vec<(String, String)>,
    pub dir: PathBuf,
    _process: ChildGuard,
}

impl Tessera {
    pub async fn start(dir: &Path, backend_env: Vec<(String, String)>) -> Self {
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let mut env = vec![
            ("TESSERA__SERVER__LISTEN".to_string(), format!("127.0.0.1:{port}")),
            ("TESSERA__SERVER__ISSUER".to_string(), issuer.clone()),
            ("TESSERA__KEYS__DIR".to_string(), dir.join("keys").display().to_string()),
            ("TESSERA__LOG__FORMAT".to_string(), "text".to_string()),
        ];
        env.extend(backend_env);
        let mut cmd = command(BIN, dir, &env);
        cmd.arg("serve");
        let mut process = ChildGuard::spawn("tessera", cmd, dir.join("tessera.log"), false);
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap();
        let ready = format!("{issuer}/readyz");
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(status) = process.exited() {
                panic!("tessera serve exited with {status} before it was ready:\n{}", process.log_tail());
            }
            match http.get(&ready).send().await {
                Ok(r) if r.status() == reqwest::StatusCode::OK => break,
                Ok(_) | Err(_) if Instant::now() > deadline => {
                    panic!("tessera serve was not ready after {STEP:?}:\n{}", process.log_tail())
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        Self { issuer, env, dir: dir.to_path_buf(), _process: process }
    }

    /// Runs an admin command on the same configuration and parses its JSON output.
    pub fn cli(&self, args: &[&str]) -> serde_json::Value {
        let out = command(BIN, &self.dir, &self.env).args(args).output().expect("run tessera");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "tessera {} failed ({}):\n{stdout}\n{stderr}", args.join(" "), out.status);
        if stdout.trim().is_empty() {
            // A command whose answer has no body (204).
            return serde_json::Value::Null;
        }
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("tessera {} printed no JSON ({e}):\n{stdout}", args[0]))
    }
}

/// A command with a clean TESSERA_* environment (nothing leaks in from the caller's shell).
pub fn command(program: &str, dir: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars() {
        if k.starts_with("TESSERA") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir).envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

pub fn require_browser() {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "the browser tests need {path} (Debian package {package}); install both with: \
             apt-get update && apt-get install -y chromium chromium-driver"
        );
    }
}

/// ChromeDriver on a free port, in its own process group.
pub struct ChromeDriver {
    pub url: String,
    _process: ChildGuard,
}

impl ChromeDriver {
    pub async fn start(dir: &Path) -> Self {
        let port = free_port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}")).current_dir(dir);
        let mut process = ChildGuard::spawn("chromedriver", cmd, dir.join("chromedriver.log"), true);
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap();
        let status = format!("{url}/status");
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(code) = process.exited() {
                panic!("chromedriver exited with {code}:\n{}", process.log_tail());
            }
            let ready = match http.get(&status).send().await {
                Ok(r) => r.json::<serde_json::Value>().await.ok().is_some_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver was not ready after {STEP:?}:\n{}", process.log_tail());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Self { url, _process: process }
    }

    /// A headless Chromium with a new, empty profile.
    pub async fn browser(&self, dir: &Path) -> fantoccini::Client {
        let profile = dir.join("chromium-profile");
        std::fs::create_dir_all(&profile).expect("profile folder");
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--window-size=1024,768".to_string(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": CHROMIUM, "args": args }));
        caps.insert("pageLoadStrategy".into(), "normal".into());
        let url = self.url.clone();
        eventually("a Chromium session", || {
            let caps = caps.clone();
            let url = url.clone();
            async move {
                ClientBuilder::rustls()
                    .map_err(|e| e.to_string())?
                    .capabilities(caps)
                    .connect(&url)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
        .await
    }
}

/// A fresh PostgreSQL database with a random name, dropped afterwards.
pub struct TempDatabase {
    admin_url: String,
    name: String,
    pub url: String,
    dropped: bool,
}

impl TempDatabase {
    pub async fn create() -> Self {
        use sqlx::Connection;
        let admin_url = std::env::var("TESSERA_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let name = format!("tessera_browser_{}", random_hex(8));
        let connect = tokio::time::timeout(Duration::from_secs(15), sqlx::PgConnection::connect(&admin_url)).await;
        let mut conn = match connect {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!("{}", postgres_help(&admin_url, &e.to_string())),
            Err(_) => panic!("{}", postgres_help(&admin_url, "no answer in 15 s")),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name} at {admin_url}: {e}"));
        let _ = conn.close().await;
        let mut url = Url::parse(&admin_url).expect("TESSERA_TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        Self { admin_url, name, url: url.to_string(), dropped: false }
    }

    pub async fn drop_now(mut self) {
        drop_database(&self.admin_url, &self.name).await.unwrap_or_else(|e| panic!("{e}"));
        self.dropped = true;
    }
}

pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await.map_err(|e| e.to_string())?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("cannot drop database {name}: {e}"))?;
    let _ = conn.close().await;
    Ok(())
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            if let Err(e) = rt.block_on(drop_database(&admin, &name)) {
                eprintln!("{e}");
            }
        })
        .join();
    }
}

pub fn postgres_help(url: &str, err: &str) -> String {
    format!(
        "the PostgreSQL browser test needs a server at {url} ({err}). Start the local one with \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (check with \
         `pg_isready -h 127.0.0.1`), or set TESSERA_TEST_POSTGRES_URL to a server with trust auth"
    )
}

/// A random Redis key prefix, whose keys are deleted afterwards.
pub struct RedisPrefix {
    url: String,
    pub prefix: String,
    cleaned: bool,
}

impl RedisPrefix {
    pub async fn check(url: &str, prefix: &str) -> Self {
        let help = |err: &str| {
            format!(
                "the Redis browser test needs a server at {url} ({err}). Start the local one with \
                 `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no \
                 --dir /var/lib/redis --logfile /var/log/redis/ci.log` (check with `redis-cli ping`), or set \
                 TESSERA_TEST_REDIS_URL"
            )
        };
        let client = redis::Client::open(url).unwrap_or_else(|e| panic!("{}", help(&e.to_string())));
        let ping = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match tokio::time::timeout(Duration::from_secs(10), ping).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("{}", help(&e.to_string())),
            Err(_) => panic!("{}", help("no answer in 10 s")),
        }
        Self { url: url.to_string(), prefix: prefix.to_string(), cleaned: false }
    }

    pub async fn cleanup(mut self) {
        delete_prefix(&self.url, &self.prefix).await.unwrap_or_else(|e| panic!("Redis cleanup: {e}"));
        self.cleaned = true;
    }
}

pub async fn delete_prefix(url: &str, prefix: &str) -> Result<(), redis::RedisError> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let pattern = format!("{prefix}*");
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL").arg(&keys).query_async::<()>(&mut conn).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            if let Err(e) = rt.block_on(delete_prefix(&url, &prefix)) {
                eprintln!("Redis cleanup: {e}");
            }
        })
        .join();
    }
}

/// The relying party's redirect target: answers every request with 200 "ok" and remembers the
/// request targets.
pub struct RpServer {
    pub port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RpServer {
    pub async fn start() -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the RP listener");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { continue };
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf);
                    if let Some(target) = head.lines().next().and_then(|l| l.split(' ').nth(1)) {
                        log.lock().unwrap().push(target.to_string());
                    }
                    let response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
                                    Cache-Control: no-store\r\nConnection: close\r\n\r\nok";
                    let _ = sock.write_all(response.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self { port, seen, task }
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for RpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
