//! Password sign-ins in process, and the share of their time spent outside Argon2id (see
//! `docs/BENCHMARKS.md`).
//!
//! Groups:
//! - `argon2id/verify`: `tessera::password::verify_password` alone (19 MiB, t=2, p=1);
//! - `signin_router/password`: one whole sign-in through the router (`oneshot`) on SQLite and
//!   in-memory state, as a browser does it: `GET /authorize` (303 to the login page),
//!   `GET /login` (the form), `POST /login` (anti-CSRF check, throttle check, user lookup,
//!   Argon2id, throttle reset, session, audit entry, authorization code, 303 to the client).
//!
//! One thread, like a server pinned to one core: `1 / signin_router` is the sign-ins per
//! second of one core, and `1 - argon2id / signin_router` the share outside Argon2id.
//!
//! Run with `CARGO_TARGET_DIR=/work/target-release cargo bench --bench signin`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use tower::ServiceExt;

use tessera::config::Config;
use tessera::keys::KeySet;
use tessera::kv::MemoryKv;
use tessera::store::{Client, ClientAuthMethod, ConnectOptions, DEFAULT_TENANT, User};

const ISSUER: &str = "https://id.example.com";
const REDIRECT: &str = "https://app.example.com/callback";
const PASSWORD: &str = "correct horse battery staple";

fn configure() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .sample_size(30)
        .without_plots()
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    hash: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.issuer = ISSUER.into();
    config.mail.folder = dir.path().join("mail");
    let opts = ConnectOptions {
        url: format!("sqlite://{}", dir.path().join("data").join("t.db").display()),
        max_connections: 4,
        pg_schema: None,
    };
    let hash = tessera::password::hash_password(PASSWORD);
    let state = rt.block_on(async {
        let stores = tessera::store::connect(&opts).await.expect("open SQLite");
        stores
            .clients
            .create_client(&Client {
                tenant_id: DEFAULT_TENANT.into(),
                client_id: "web".into(),
                name: "Web".into(),
                secret_hash: None,
                auth_method: ClientAuthMethod::None,
                redirect_uris: vec![REDIRECT.into()],
                post_logout_redirect_uris: vec![],
                grant_types: vec!["authorization_code".into()],
                scopes: vec!["openid".into()],
                first_party: true,
                access_token_alg: "ES256".into(),
                id_token_alg: "RS256".into(),
                default_audience: None,
                allowed_audiences: vec![],
                created_at: 0,
                service_account_id: None,
                jwks: None,
            })
            .await
            .unwrap();
        stores
            .users
            .create_user(&User {
                tenant_id: DEFAULT_TENANT.into(),
                id: "u-alice".into(),
                username: "alice".into(),
                email: Some("alice@example.com".into()),
                email_verified: true,
                name: None,
                password_hash: Some(hash.clone()),
                disabled: false,
                password_change_required: false,
                created_at: 0,
            })
            .await
            .unwrap();
        let keys = Arc::new(KeySet::ephemeral().unwrap());
        tessera::server::state(&config, keys, stores, Arc::new(MemoryKv::new()))
    });
    let router = tessera::app(state);
    Fixture { rt, router, hash, _dir: dir }
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect("hidden field") + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

async fn send(router: &axum::Router, req: Request<Body>) -> (StatusCode, String, String) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let loc = res.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned();
    (status, loc, body)
}

/// One sign-in, from the authorization request to the redirect with a code.
async fn sign_in(router: &axum::Router) {
    let q = "client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&response_type=code&scope=openid\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    let (s, loc, _) = send(router, Request::get(format!("/authorize?{q}")).body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, page) = send(router, Request::get(format!("/{loc}")).body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("request", hidden(&page, "request").as_str()),
            ("csrf", &hidden(&page, "csrf")),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .finish();
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let (s, loc, _) = send(router, req).await;
    assert!(s == StatusCode::SEE_OTHER && loc.starts_with(REDIRECT), "{s} {loc}");
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let mut g = c.benchmark_group("argon2id");
    g.bench_function("verify", |b| {
        b.iter(|| assert!(tessera::password::verify_password(PASSWORD, black_box(&f.hash))))
    });
    g.finish();
    let mut g = c.benchmark_group("signin_router");
    g.bench_function("password", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    sign_in(&f.router).await;
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group! { name = signin; config = configure(); targets = benches }
criterion_main!(signin);
