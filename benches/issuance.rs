//! In-process costs of issuing access tokens, from the signature up to a whole
//! `client_credentials` request through the router (see `docs/BENCHMARKS.md`).
//!
//! Groups:
//! - `raw_sign/*`: aws-lc-rs alone on a 400-byte message (the ceiling for each algorithm);
//! - `claims_encode`: serialising and base64url-encoding the claims, without a signature;
//! - `keyset_sign/*`: `KeySet::sign` on the claims of a `client_credentials` access token;
//! - `access_token/*`: `tessera::oauth::tokens::access_token` (claims built, `jti` drawn, signed);
//! - `client_credentials_router/*`: `POST /token` through the whole router (`oneshot`) on
//!   SQLite and in-memory state: form parsing, client authentication (cached client, SHA-256
//!   of the secret), scope and audience checks, signing and the JSON response.
//!
//! Run with `CARGO_TARGET_DIR=/work/target-main cargo bench --bench issuance`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use tower::ServiceExt;

use tessera::config::Config;
use tessera::keys::{Alg, KeySet, Typ};
use tessera::kv::MemoryKv;
use tessera::oauth::tokens::{AccessClaims, Subject, Who, access_token};
use tessera::store::{Client, ClientAuthMethod, ConnectOptions, DEFAULT_TENANT};

const ISSUER: &str = "https://id.example.com";
const SECRET: &str = "bench-secret-0123456789abcdefghijklmnopqrstuv";

fn configure() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
        .without_plots()
}

/// The claims `client_credentials` puts in an access token (about 330 bytes of JSON).
fn claims() -> AccessClaims {
    let now = tessera::crypto::now();
    AccessClaims {
        iss: ISSUER.into(),
        sub: "bench-client-cc".into(),
        aud: "https://api.example.com".into(),
        exp: now + 300,
        iat: now,
        jti: tessera::crypto::random_token(16),
        client_id: "bench-client-cc".into(),
        scope: Some("flows:read".into()),
        auth_time: None,
        tnt: DEFAULT_TENANT.into(),
        pk: "c".into(),
        act: None,
        adm: None,
        ep: 0,
        rb: None,
        gid: None,
    }
}

fn client(id: &str, alg: Alg) -> Client {
    Client {
        tenant_id: DEFAULT_TENANT.into(),
        client_id: id.into(),
        name: format!("bench {id}"),
        secret_hash: Some(tessera::crypto::hash_secret(SECRET)),
        auth_method: ClientAuthMethod::ClientSecretBasic,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["flows:read".into()],
        first_party: false,
        access_token_alg: alg.as_str().into(),
        id_token_alg: "RS256".into(),
        default_audience: Some("https://api.example.com".into()),
        allowed_audiences: vec![],
        created_at: 0,
        service_account_id: None,
        jwks: None,
    }
}

fn raw_sign(c: &mut Criterion) {
    let rng = SystemRandom::new();
    // The size of a JWS signing input for the claims above: header.payload in base64url.
    let msg = vec![b'a'; 400];
    let mut g = c.benchmark_group("raw_sign");
    let ec = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, ec.as_ref()).unwrap();
    g.bench_function("ecdsa_p256_sha256", |b| b.iter(|| ec.sign(&rng, black_box(&msg)).unwrap()));
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let mut sig = vec![0u8; rsa.public_modulus_len()];
    g.bench_function("rsa2048_pkcs1_sha256", |b| {
        b.iter(|| rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, black_box(&msg), &mut sig).unwrap())
    });
    let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
    g.bench_function("ed25519", |b| b.iter(|| ed.sign(black_box(&msg))));
    g.finish();
}

fn claims_encode(c: &mut Criterion) {
    let cl = claims();
    c.bench_function("claims_encode", |b| {
        b.iter(|| {
            let payload = serde_json::to_vec(black_box(&cl)).unwrap();
            let mut out = String::with_capacity(600);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
            out
        })
    });
}

fn keyset_sign(c: &mut Criterion) {
    let keys = KeySet::ephemeral().unwrap();
    let cl = claims();
    let mut g = c.benchmark_group("keyset_sign");
    for alg in Alg::ALL {
        g.bench_function(alg.as_str(), |b| b.iter(|| keys.sign(alg, Typ::AccessToken, black_box(&cl)).unwrap()));
    }
    g.finish();
}

/// Application state on a fresh SQLite file and in-memory state, as `tests/common` builds it.
struct Fixture {
    rt: tokio::runtime::Runtime,
    state: tessera::AppState,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    // One thread, like a server pinned to one core.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.issuer = ISSUER.into();
    let opts = ConnectOptions {
        url: format!("sqlite://{}", dir.path().join("data").join("t.db").display()),
        max_connections: 4,
        pg_schema: None,
    };
    let state = rt.block_on(async {
        let stores = tessera::store::connect(&opts).await.expect("open SQLite");
        for alg in Alg::ALL {
            stores.clients.create_client(&client(&format!("cc-{}", alg.as_str()), alg)).await.unwrap();
        }
        let keys = Arc::new(KeySet::ephemeral().unwrap());
        tessera::server::state(&config, keys, stores, Arc::new(MemoryKv::new()))
    });
    let router = tessera::app(state.clone());
    Fixture { rt, state, router, _dir: dir }
}

fn access_tokens(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("access_token");
    let scopes = vec!["flows:read".to_string()];
    for alg in Alg::ALL {
        let cl = client(&format!("cc-{}", alg.as_str()), alg);
        let subject = Subject::for_client(&f.state.provider, &cl, Who::Client, &scopes, "https://api.example.com");
        g.bench_function(alg.as_str(), |b| {
            b.iter(|| access_token(&f.state.provider, black_box(&subject), tessera::crypto::now()).unwrap())
        });
    }
    g.finish();
}

fn token_request(client_id: &str) -> Request<Body> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{SECRET}"));
    Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::from("grant_type=client_credentials"))
        .unwrap()
}

fn router_requests(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("client_credentials_router");
    for alg in Alg::ALL {
        let id = format!("cc-{}", alg.as_str());
        // Check once that the request succeeds (and warm the client cache).
        f.rt.block_on(async {
            let res = f.router.clone().oneshot(token_request(&id)).await.unwrap();
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        });
        g.bench_function(alg.as_str(), |b| {
            b.iter_custom(|iters| {
                f.rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let res = f.router.clone().oneshot(token_request(&id)).await.unwrap();
                        debug_assert_eq!(res.status(), StatusCode::OK);
                        black_box(res.into_body().collect().await.unwrap().to_bytes());
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn in_process(c: &mut Criterion) {
    let f = fixture();
    access_tokens(c, &f);
    router_requests(c, &f);
}

criterion_group! {
    name = benches;
    config = configure();
    targets = raw_sign, claims_encode, keyset_sign, in_process
}
criterion_main!(benches);
