//! A PostgreSQL outage, made real: Tessera reaches the test server through a TCP proxy that the
//! test cuts (every open connection reset, new ones closed at once) and restores. While the
//! database is unreachable, each API family answers its own 503 (RFC 6749 error JSON with
//! `temporarily_unavailable`, problem JSON, a SCIM error) with `Retry-After`, never a 500; once
//! it is back, the same instance serves again without a restart.
//!
//! A Redis outage, the same way: revocations live in Redis, so while it is unreachable every
//! check that reads them (the admin API's bearer tokens, introspection, userinfo, refresh) fails
//! closed with a 503, never accepting a token because the revocation list could not be read.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use common::store::{open_pg, pg_options, sqlite_stores};
use common::{PASSWORD, TestApp, basic_header, body_json};
use serde_json::json;
use tessera::store::MemberKind;

/// A loopback TCP proxy to one upstream address that can be cut (its open connections reset,
/// its port closed: new connections are refused, as when the server is down) and restored.
struct Proxy {
    addr: SocketAddr,
    upstream: String,
    cut: watch::Sender<bool>,
    accepting: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let (cut, _) = watch::channel(false);
        let p = Self { addr, upstream, cut, accepting: Default::default() };
        p.accept(listener);
        p
    }

    fn accept(&self, listener: TcpListener) {
        let watcher = self.cut.clone();
        let upstream = self.upstream.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = watcher.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        // Cut: both sockets drop, the client sees its connection reset.
                        _ = cut.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        *self.accepting.lock().unwrap() = Some(task);
    }

    async fn cut(&self) {
        if let Some(task) = self.accepting.lock().unwrap().take() {
            task.abort();
        }
        self.cut.send_replace(true);
        // The aborted task drops the listener: wait until the port refuses.
        while TcpStream::connect(self.addr).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    async fn restore(&self) {
        self.cut.send_replace(false);
        let listener = TcpListener::bind(self.addr).await.expect("bind the proxy's port again");
        self.accept(listener);
    }
}

fn host_port(url: &str) -> String {
    let u = url::Url::parse(url).expect("a PostgreSQL URL");
    format!("{}:{}", u.host_str().unwrap_or("127.0.0.1"), u.port().unwrap_or(5432))
}

/// An application (in-memory state) on a new PostgreSQL schema reached through a [`Proxy`].
async fn behind_proxy() -> (Proxy, TestApp) {
    let mut opts = pg_options();
    let proxy = Proxy::start(host_port(&opts.url)).await;
    let mut url = url::Url::parse(&opts.url).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.addr.port())).unwrap();
    opts.url = url.to_string();
    let stores = open_pg(&opts).await;
    (proxy, TestApp::on(stores, common::kv::memory_kv()).await)
}

/// A client `web`, an Instance Admin `admin_name` and a user alice signed in to `web`: alice's
/// access and refresh tokens.
async fn alice_signed_in(app: &TestApp, admin_name: &str) -> (String, String) {
    app.client("web", false, |_| {}).await;
    let admin = app.user(admin_name).await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &admin.id, 0).await.unwrap();
    app.user("alice").await;
    let (code, verifier) = app.code_for("web", "alice", "openid").await;
    let (status, tokens) = app.exchange("web", &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (tokens["access_token"].as_str().unwrap().to_string(), tokens["refresh_token"].as_str().unwrap().to_string())
}

fn retry_after(res: &axum::http::Response<Body>) -> Option<String> {
    res.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_503_and_recovers_without_restart() {
    let (proxy, app) = behind_proxy().await;

    let (access, refresh) = alice_signed_in(&app, "admin").await;
    let admin_basic = basic_header("admin", PASSWORD);
    // A service account with Tenant Admin and an API token, for SCIM.
    let admin_json = |method: Method, path: &str, body: serde_json::Value| {
        let req = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header(header::AUTHORIZATION, &admin_basic)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        async {
            let res = app.send(req).await;
            let status = res.status();
            let v = body_json(res).await;
            assert!(status.is_success(), "{status} {v}");
            v
        }
    };
    admin_json(Method::POST, "/default/service-accounts", json!({ "id": "okta", "name": "okta" })).await;
    let binding = json!({ "role_id": "admin", "principal_kind": "service_account", "principal_id": "okta" });
    admin_json(Method::POST, "/default/bindings", binding).await;
    let scim_token = admin_json(Method::POST, "/default/service-accounts/okta/tokens", json!({ "name": "scim" })).await
        ["token"]
        .as_str()
        .unwrap()
        .to_string();

    let userinfo = || {
        let req = Request::get("/userinfo")
            .header(header::AUTHORIZATION, format!("Bearer {access}"))
            .body(Body::empty())
            .unwrap();
        app.send(req)
    };
    let users = || {
        let req = Request::builder()
            .method(Method::GET)
            .uri("/api/v1/default/users")
            .header(header::AUTHORIZATION, &admin_basic)
            .body(Body::empty())
            .unwrap();
        app.send(req)
    };
    let scim = || {
        let req = Request::get("/scim/v2/default/Users")
            .header(header::AUTHORIZATION, format!("Bearer {scim_token}"))
            .body(Body::empty())
            .unwrap();
        app.send(req)
    };
    assert_eq!(userinfo().await.status(), StatusCode::OK);
    assert_eq!(users().await.status(), StatusCode::OK);
    assert_eq!(scim().await.status(), StatusCode::OK);

    // The database goes away.
    proxy.cut().await;
    let refresh_form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let (info, list, scim_res, refreshed, machine) = tokio::join!(
        userinfo(),
        users(),
        scim(),
        app.post_form("/token", &refresh_form, Some(("web", "s3cret-web"))),
        app.post_form("/token", &[("grant_type", "client_credentials")], Some(("svc", "s3cret-svc"))),
    );
    for (what, res) in [("userinfo", &info), ("refresh", &refreshed), ("client_credentials", &machine)] {
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(retry_after(res).is_some(), "{what}: Retry-After");
    }
    let (info, refreshed) = (body_json(info).await, body_json(refreshed).await);
    assert_eq!(info["error"], "temporarily_unavailable", "{info}");
    assert_eq!(refreshed["error"], "temporarily_unavailable", "{refreshed}");
    assert!(!refreshed.to_string().contains("database"), "no internal text: {refreshed}");

    assert_eq!(list.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after(&list).is_some(), "admin API: Retry-After");
    assert_eq!(list.headers()[header::CONTENT_TYPE], "application/problem+json");
    let problem = body_json(list).await;
    assert_eq!(problem["status"], 503, "{problem}");
    assert!(!problem.to_string().contains("pool") && !problem.to_string().contains("5432"), "{problem}");

    assert_eq!(scim_res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after(&scim_res).is_some(), "SCIM: Retry-After");
    let err = body_json(scim_res).await;
    assert_eq!(err["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]), "{err}");
    assert_eq!(err["status"], "503", "{err}");

    // The database comes back: the same instance serves again, and the refresh token the
    // outage refused still works (nothing was lost).
    proxy.restore().await;
    assert_eq!(userinfo().await.status(), StatusCode::OK);
    assert_eq!(users().await.status(), StatusCode::OK);
    assert_eq!(scim().await.status(), StatusCode::OK);
    let res = app
        .post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            Some(("web", "s3cret-web")),
        )
        .await;
    let status = res.status();
    assert_eq!(status, StatusCode::OK, "{}", body_json(res).await);
}

/// A store that cannot be reached at all answers the readiness probe 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_while_postgres_is_unreachable() {
    let (proxy, app) = behind_proxy().await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    proxy.cut().await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    proxy.restore().await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

/// An application on SQLite whose state backend is Redis reached through a [`Proxy`].
async fn redis_behind_proxy() -> (Proxy, TestApp, tempfile::TempDir) {
    let url = url::Url::parse(&common::kv::redis_url()).expect("a Redis URL");
    let proxy = Proxy::start(format!("{}:{}", url.host_str().unwrap_or("127.0.0.1"), url.port().unwrap_or(6379))).await;
    let mut through = url.clone();
    through.set_host(Some("127.0.0.1")).unwrap();
    through.set_port(Some(proxy.addr.port())).unwrap();
    let kv = tessera::kv::RedisKv::connect(through.as_str(), &common::kv::random_prefix()).await.expect("Redis");
    let (stores, dir) = sqlite_stores().await;
    (proxy, TestApp::on(stores, std::sync::Arc::new(kv)).await, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_revocation_checks_closed() {
    let (proxy, app, _dir) = redis_behind_proxy().await;
    let (access, refresh) = alice_signed_in(&app, "root").await;
    // A Tenant Admin service account's access token for the admin API (revocable by jti).
    let root_basic = basic_header("root", PASSWORD);
    for (path, body) in [
        ("/default/service-accounts", json!({ "id": "ops", "name": "ops" })),
        (
            "/default/bindings",
            json!({ "role_id": "admin", "principal_kind": "service_account", "principal_id": "ops" }),
        ),
    ] {
        let (s, v) = app.admin_api(&root_basic, Method::POST, path, Some(body)).await;
        assert!(s.is_success(), "{path}: {s} {v}");
    }
    let (_, v) = app
        .admin_api(&root_basic, Method::POST, "/default/service-accounts/ops/tokens", Some(json!({ "name": "t" })))
        .await;
    let api_token = v["token"].as_str().unwrap().to_string();
    let res = app
        .post_form(
            "/token",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("subject_token", &api_token),
                ("subject_token_type", "urn:tessera:params:oauth:token-type:api-token"),
            ],
            None,
        )
        .await;
    let v = body_json(res).await;
    let admin_bearer = format!("Bearer {}", v["access_token"].as_str().unwrap_or_else(|| panic!("{v}")));

    let userinfo = || {
        let req = Request::get("/userinfo")
            .header(header::AUTHORIZATION, format!("Bearer {access}"))
            .body(Body::empty())
            .unwrap();
        app.send(req)
    };
    let users = || {
        let req = Request::get("/api/v1/default/users")
            .header(header::AUTHORIZATION, &admin_bearer)
            .body(Body::empty())
            .unwrap();
        app.send(req)
    };
    let introspect_form = [("token", access.as_str())];
    let introspect = || app.post_form("/introspect", &introspect_form, Some(("web", "s3cret-web")));
    let refresh_form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let refreshed = || app.post_form("/token", &refresh_form, Some(("web", "s3cret-web")));
    assert_eq!(userinfo().await.status(), StatusCode::OK);
    assert_eq!(users().await.status(), StatusCode::OK);
    assert_eq!(body_json(introspect().await).await["active"], true);

    // Redis goes away: nothing that depends on the revocation list answers "valid".
    proxy.cut().await;
    let (info, list, intro, rotated) = tokio::join!(userinfo(), users(), introspect(), refreshed());
    for (what, res) in [("userinfo", &info), ("introspection", &intro), ("refresh", &rotated)] {
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(retry_after(res).is_some(), "{what}: Retry-After");
    }
    for (what, res) in [("userinfo", info), ("introspection", intro), ("refresh", rotated)] {
        let body = body_json(res).await;
        assert_eq!(body["error"], "temporarily_unavailable", "{what}: {body}");
        assert!(body.get("active").is_none() && body.get("access_token").is_none(), "{what}: {body}");
        assert!(!body.to_string().contains("redis") && !body.to_string().contains("6379"), "{what}: {body}");
    }
    assert_eq!(list.status(), StatusCode::SERVICE_UNAVAILABLE, "admin API");
    assert!(retry_after(&list).is_some(), "admin API: Retry-After");
    assert_eq!(list.headers()[header::CONTENT_TYPE], "application/problem+json");
    let problem = body_json(list).await;
    assert_eq!(problem["status"], 503, "{problem}");

    // Redis comes back: the same instance accepts the tokens again, and the refresh token the
    // outage refused still rotates (nothing was revoked or lost).
    proxy.restore().await;
    assert_eq!(userinfo().await.status(), StatusCode::OK);
    assert_eq!(users().await.status(), StatusCode::OK);
    assert_eq!(body_json(introspect().await).await["active"], true);
    let res = refreshed().await;
    let status = res.status();
    assert_eq!(status, StatusCode::OK, "{}", body_json(res).await);
}
