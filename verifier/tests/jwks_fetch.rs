//! Fetching the JWKS from a tiny HTTP server on 127.0.0.1: `Cache-Control: max-age`, a
//! rate-limited refresh on an unknown `kid`, key rotation, and a server that goes away.
//!
//! `cargo test --workspace` (and clippy) build these: the root package's dev-dependency on
//! tessera-verifier enables `jwks-fetch`. Alone: `cargo test -p tessera-verifier --features jwks-fetch`.
#![cfg(feature = "jwks-fetch")]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;
use tessera_verifier::{BuildError, FixedClock, JwksError, Verifier, VerifierBuilder, VerifyError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

struct Served {
    status: u16,
    body: String,
    cache_control: Option<String>,
}

/// Answers every request with the current document; counts requests.
struct JwksServer {
    addr: SocketAddr,
    served: Arc<Mutex<Served>>,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl JwksServer {
    async fn start(keys: &[&TestKey], cache_control: Option<&str>) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(Mutex::new(Served {
            status: 200,
            body: document(keys),
            cache_control: cache_control.map(str::to_owned),
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (served.clone(), hits.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (served, hits) = (s.clone(), h.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let response = {
                        let s = served.lock().unwrap();
                        let cache =
                            s.cache_control.as_ref().map(|c| format!("Cache-Control: {c}\r\n")).unwrap_or_default();
                        format!(
                            "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{cache}Connection: close\r\n\r\n{}",
                            s.status,
                            s.body.len(),
                            s.body
                        )
                    };
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        JwksServer { addr, served, hits, task }
    }

    fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn publish(&self, keys: &[&TestKey]) {
        self.served.lock().unwrap().body = document(keys);
    }

    fn answer(&self, status: u16, body: &str) {
        let mut s = self.served.lock().unwrap();
        s.status = status;
        s.body = body.to_owned();
    }

    /// Stops accepting: later connections are refused.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

fn document(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

fn builder(server: &JwksServer, clock: &FixedClock) -> VerifierBuilder {
    Verifier::builder(ISSUER).audience(AUDIENCE).jwks_url(server.url()).insecure_allow_http_jwks().clock(clock.clone())
}

fn token_of(key: &TestKey, jti: &str) -> String {
    key.token(&claims_with(json!({ "jti": jti })))
}

/// Waits (up to 5 s) for a background refresh to show.
async fn eventually(mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

#[tokio::test]
async fn rotation_unknown_kid_triggers_one_rate_limited_refresh() {
    let (a, b, c) = (TestKey::es256("a"), TestKey::eddsa("b"), TestKey::eddsa("c"));
    let server = JwksServer::start(&[&a], Some("public, max-age=600")).await;
    let clock = FixedClock::new(NOW);
    let verifier = builder(&server, &clock).build().unwrap();
    assert_eq!(server.hits(), 0, "building does not fetch");

    // First use fetches; the fresh set then serves without requests.
    verifier.verify_async(&token_of(&a, "1")).await.unwrap();
    verifier.verify_async(&token_of(&a, "2")).await.unwrap();
    assert_eq!(server.hits(), 1);

    // Tessera rotates: b is added. A token signed by b triggers one refresh, and verifies.
    server.publish(&[&a, &b]);
    clock.advance(11);
    verifier.verify_async(&token_of(&b, "3")).await.unwrap();
    assert_eq!(server.hits(), 2);
    assert_eq!(verifier.key_ids(), ["a", "b"]);

    // A kid nobody publishes: no refresh within 10 s of the last one.
    let unknown = token_of(&c, "4");
    assert_eq!(verifier.verify_async(&unknown).await.unwrap_err(), VerifyError::UnknownKey);
    clock.advance(9);
    assert_eq!(verifier.verify_async(&unknown).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(server.hits(), 2);
    clock.advance(1);
    assert_eq!(verifier.verify_async(&unknown).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(server.hits(), 3, "one refresh once the interval has passed");

    // a is retired, c arrives: tokens of c verify, tokens of a (even cached ones) stop.
    server.publish(&[&b, &c]);
    clock.advance(10);
    verifier.verify_async(&unknown).await.unwrap();
    assert_eq!(server.hits(), 4);
    assert_eq!(verifier.verify_async(&token_of(&a, "1")).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(server.hits(), 4, "rate-limited");
    verifier.verify_async(&token_of(&b, "3")).await.unwrap();
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_fetch() {
    let (a, b) = (TestKey::eddsa("a"), TestKey::eddsa("b"));
    let server = JwksServer::start(&[&a], Some("max-age=600")).await;
    let clock = FixedClock::new(NOW);
    let verifier = builder(&server, &clock).build().unwrap();
    verifier.refresh_keys().await.unwrap();
    server.publish(&[&a, &b]);
    clock.advance(60);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (verifier, token) = (verifier.clone(), token_of(&b, &format!("c{i}")));
            tokio::spawn(async move { verifier.verify_async(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn max_age_is_honoured_and_a_stale_set_refreshes_in_the_background() {
    let (a, b) = (TestKey::es256("a"), TestKey::eddsa("b"));
    let server = JwksServer::start(&[&a], Some("max-age=60")).await;
    let clock = FixedClock::new(NOW);
    let verifier = builder(&server, &clock).build().unwrap();
    verifier.verify_async(&token_of(&a, "1")).await.unwrap();
    server.publish(&[&a, &b]);

    clock.advance(59);
    verifier.verify_async(&token_of(&a, "2")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.hits(), 1, "still fresh");

    clock.advance(2);
    verifier.verify_async(&token_of(&a, "3")).await.unwrap();
    eventually(|| verifier.key_ids() == ["a", "b"]).await;
    assert_eq!(server.hits(), 2);
    // b's token now verifies from the refreshed set, without another request (synchronously).
    verifier.verify(&token_of(&b, "4")).unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn without_cache_control_the_default_max_age_applies() {
    let a = TestKey::eddsa("a");
    let server = JwksServer::start(&[&a], None).await;
    let clock = FixedClock::new(NOW);
    let verifier = builder(&server, &clock).jwks_default_max_age(Duration::from_secs(120)).build().unwrap();
    verifier.verify_async(&token_of(&a, "1")).await.unwrap();
    clock.advance(119);
    verifier.verify_async(&token_of(&a, "2")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.hits(), 1);
    clock.advance(1);
    verifier.verify_async(&token_of(&a, "3")).await.unwrap();
    eventually(|| server.hits() == 2).await;
}

#[tokio::test]
async fn server_down_cached_keys_keep_working() {
    let (a, b) = (TestKey::es256("a"), TestKey::eddsa("b"));
    let server = JwksServer::start(&[&a], Some("max-age=60")).await;
    let clock = FixedClock::new(NOW);
    let verifier = builder(&server, &clock).build().unwrap();
    verifier.verify_async(&token_of(&a, "1")).await.unwrap();
    server.stop().await;

    // Stale, and the refresh fails: the cached set keeps serving.
    clock.advance(120);
    verifier.verify_async(&token_of(&a, "2")).await.unwrap();
    // An unknown kid tries once, fails, and does not lose the keys.
    clock.advance(120);
    assert_eq!(verifier.verify_async(&token_of(&b, "3")).await.unwrap_err(), VerifyError::UnknownKey);
    assert!(matches!(verifier.refresh_keys().await.unwrap_err(), JwksError::Request(_)));
    assert_eq!(verifier.key_ids(), ["a"]);
    verifier.verify_async(&token_of(&a, "4")).await.unwrap();
    verifier.verify(&token_of(&a, "5")).unwrap();
}

#[tokio::test]
async fn bad_answers_keep_the_keys_in_use() {
    let a = TestKey::eddsa("a");
    let server = JwksServer::start(&[&a], Some("max-age=60")).await;
    let clock = FixedClock::new(NOW);
    let verifier = builder(&server, &clock).build().unwrap();
    verifier.refresh_keys().await.unwrap();
    for (status, body, expected) in [
        (500, "oops", JwksError::Status(500)),
        (200, "not json", JwksError::InvalidJson(String::new())),
        (200, r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}"#, JwksError::NoUsableKeys),
        (200, r#"{"keys":[]}"#, JwksError::NoUsableKeys),
    ] {
        server.answer(status, body);
        let err = verifier.refresh_keys().await.unwrap_err();
        assert_eq!(std::mem::discriminant(&err), std::mem::discriminant(&expected), "{err}");
        assert_eq!(verifier.key_ids(), ["a"]);
        verifier.verify_async(&token_of(&a, body)).await.unwrap();
    }
    // A set mixing usable and unusable keys: the usable ones are taken.
    let b = TestKey::es256("b");
    server.answer(200, &json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0", "kid": "h" }, b.jwk] }).to_string());
    verifier.refresh_keys().await.unwrap();
    assert_eq!(verifier.key_ids(), ["b"]);
}

#[tokio::test]
async fn synchronous_verify_fetches_in_the_background() {
    let a = TestKey::eddsa("a");
    let server = JwksServer::start(&[&a], Some("max-age=600")).await;
    let clock = FixedClock::new(NOW);
    let verifier = builder(&server, &clock).build().unwrap();
    let token = token_of(&a, "1");
    assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::KeysUnavailable);
    eventually(|| verifier.verify(&token).is_ok()).await;
    assert_eq!(server.hits(), 1);
}

#[test]
fn jwks_urls_must_be_https_unless_named_insecure() {
    let build = |url: &str| Verifier::builder(ISSUER).audience(AUDIENCE).jwks_url(url).build();
    let err = build("http://sso.example.com/jwks").unwrap_err();
    assert!(matches!(&err, BuildError::InvalidJwksUrl(m) if m.contains("use https")), "{err}");
    assert!(matches!(build("not a url").unwrap_err(), BuildError::InvalidJwksUrl(_)));
    assert!(matches!(build("ftp://sso.example.com/jwks").unwrap_err(), BuildError::InvalidJwksUrl(_)));
    let verifier = build("https://sso.example.com/jwks").unwrap();
    assert!(verifier.key_ids().is_empty());
    // Outside a runtime, verify neither blocks nor panics.
    assert_eq!(verifier.verify(&token_of(&TestKey::eddsa("a"), "1")).unwrap_err(), VerifyError::KeysUnavailable);
}
