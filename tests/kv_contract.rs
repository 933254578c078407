//! The contract every [`Kv`] backend meets, run against the in-memory backend and against
//! Redis (`memory::*` and `redis::*` tests). The Redis tests fail when no server is reachable;
//! see `common/kv.rs`.
//!
//! Each contract is an async fn taking the backend (as `&dyn Kv`, or `&Arc<dyn Kv>` when it
//! spawns tasks); [`contracts!`] generates one test per backend for each.

#[path = "common/kv.rs"]
mod kv_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera::kv::{Kv, RedisKv};
use tokio::task::JoinSet;

/// Long enough that nothing expires during a test.
const LONG: Duration = Duration::from_secs(60);
/// Short TTL for expiry tests, and how long to sleep for it to pass.
const SHORT: Duration = Duration::from_millis(1_100);
const PAST_SHORT: Duration = Duration::from_millis(1_600);

/// Concurrent callers in the race tests.
const RACERS: usize = 16;

/// How a contract receives the backend: most take `&dyn Kv`; those that spawn tasks take
/// `&Arc<dyn Kv>`. Lets [`contracts!`] call both kinds the same way.
trait Backend<'a> {
    fn borrow(kv: &'a Arc<dyn Kv>) -> Self;
}

impl<'a> Backend<'a> for &'a dyn Kv {
    fn borrow(kv: &'a Arc<dyn Kv>) -> Self {
        kv.as_ref()
    }
}

impl<'a> Backend<'a> for &'a Arc<dyn Kv> {
    fn borrow(kv: &'a Arc<dyn Kv>) -> Self {
        kv
    }
}

macro_rules! contracts {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let kv = crate::kv_support::memory_kv();
                    super::$name(super::Backend::borrow(&kv)).await;
                }
            )*
        }

        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let kv = crate::kv_support::redis_kv().await;
                    super::$name(super::Backend::borrow(&kv)).await;
                }
            )*
        }
    };
}

contracts!(
    put_then_get,
    get_of_missing_key_is_none,
    put_overwrites_value_and_ttl,
    values_are_binary_safe,
    values_expire,
    put_if_absent_stores_only_once,
    put_if_absent_after_expiry,
    concurrent_put_if_absent_has_one_winner,
    take_returns_value_once,
    take_of_expired_value_is_none,
    concurrent_take_has_one_winner,
    compare_and_swap_replaces_matching_value,
    compare_and_swap_rejects_other_value,
    compare_and_swap_never_creates,
    compare_and_swap_after_expiry_fails,
    compare_and_swap_sets_fresh_ttl,
    concurrent_compare_and_swap_has_one_winner,
    delete_removes_value,
    delete_of_missing_key_is_ok,
    increment_counts_from_one,
    increment_keeps_the_first_expiry,
    increment_of_a_non_counter_is_an_error,
    concurrent_increments_are_all_counted,
    revoked_grant_is_reported,
    grant_revocation_expires,
    ping_succeeds,
);

async fn put_then_get(kv: &dyn Kv) {
    kv.put("code:a", b"alpha", LONG).await.unwrap();
    kv.put("code:b", b"beta", LONG).await.unwrap();
    assert_eq!(kv.get("code:a").await.unwrap().as_deref(), Some(&b"alpha"[..]));
    assert_eq!(kv.get("code:b").await.unwrap().as_deref(), Some(&b"beta"[..]));
    // Reading does not consume.
    assert_eq!(kv.get("code:a").await.unwrap().as_deref(), Some(&b"alpha"[..]));
}

async fn get_of_missing_key_is_none(kv: &dyn Kv) {
    assert_eq!(kv.get("code:missing").await.unwrap(), None);
}

async fn put_overwrites_value_and_ttl(kv: &dyn Kv) {
    kv.put("session:s", b"first", SHORT).await.unwrap();
    kv.put("session:s", b"second", LONG).await.unwrap();
    assert_eq!(kv.get("session:s").await.unwrap().as_deref(), Some(&b"second"[..]));
    // The second put replaced the short TTL too.
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(kv.get("session:s").await.unwrap().as_deref(), Some(&b"second"[..]));
}

async fn values_are_binary_safe(kv: &dyn Kv) {
    let value: Vec<u8> = (0..=255).collect();
    kv.put("bin", &value, LONG).await.unwrap();
    assert_eq!(kv.get("bin").await.unwrap(), Some(value.clone()));
    kv.put("empty", b"", LONG).await.unwrap();
    assert_eq!(kv.get("empty").await.unwrap(), Some(Vec::new()));
    assert_eq!(kv.take("bin").await.unwrap(), Some(value));
}

async fn values_expire(kv: &dyn Kv) {
    kv.put("code:short", b"v", SHORT).await.unwrap();
    kv.put("code:long", b"v", LONG).await.unwrap();
    assert!(kv.get("code:short").await.unwrap().is_some());
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(kv.get("code:short").await.unwrap(), None);
    assert!(kv.get("code:long").await.unwrap().is_some());
}

async fn put_if_absent_stores_only_once(kv: &dyn Kv) {
    assert!(kv.put_if_absent("jti:1", b"first", LONG).await.unwrap());
    assert!(!kv.put_if_absent("jti:1", b"second", LONG).await.unwrap());
    assert_eq!(kv.get("jti:1").await.unwrap().as_deref(), Some(&b"first"[..]));
    // A deleted key is absent again.
    kv.delete("jti:1").await.unwrap();
    assert!(kv.put_if_absent("jti:1", b"third", LONG).await.unwrap());
    assert_eq!(kv.get("jti:1").await.unwrap().as_deref(), Some(&b"third"[..]));
}

async fn put_if_absent_after_expiry(kv: &dyn Kv) {
    assert!(kv.put_if_absent("jti:2", b"old", SHORT).await.unwrap());
    tokio::time::sleep(PAST_SHORT).await;
    assert!(kv.put_if_absent("jti:2", b"new", LONG).await.unwrap());
    assert_eq!(kv.get("jti:2").await.unwrap().as_deref(), Some(&b"new"[..]));
}

async fn concurrent_put_if_absent_has_one_winner(kv: &Arc<dyn Kv>) {
    let mut racers = JoinSet::new();
    for i in 0..RACERS {
        let kv = Arc::clone(kv);
        racers.spawn(async move {
            let value = format!("racer-{i}");
            kv.put_if_absent("lock", value.as_bytes(), LONG).await.unwrap().then_some(value)
        });
    }
    let winners: Vec<String> = racers.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(kv.get("lock").await.unwrap(), Some(winners[0].clone().into_bytes()));
}

async fn take_returns_value_once(kv: &dyn Kv) {
    kv.put("code:once", b"grant", LONG).await.unwrap();
    assert_eq!(kv.take("code:once").await.unwrap().as_deref(), Some(&b"grant"[..]));
    assert_eq!(kv.take("code:once").await.unwrap(), None);
    assert_eq!(kv.get("code:once").await.unwrap(), None);
    assert_eq!(kv.take("code:never").await.unwrap(), None);
}

async fn take_of_expired_value_is_none(kv: &dyn Kv) {
    kv.put("code:stale", b"grant", SHORT).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(kv.take("code:stale").await.unwrap(), None);
}

async fn concurrent_take_has_one_winner(kv: &Arc<dyn Kv>) {
    // Several rounds, so that a race window narrower than one spawn is still likely hit.
    for round in 0..5 {
        let key = format!("code:race:{round}");
        kv.put(&key, b"grant", LONG).await.unwrap();
        let mut racers = JoinSet::new();
        for _ in 0..RACERS {
            let kv = Arc::clone(kv);
            let key = key.clone();
            racers.spawn(async move { kv.take(&key).await.unwrap() });
        }
        let taken: Vec<Vec<u8>> = racers.join_all().await.into_iter().flatten().collect();
        assert_eq!(taken, vec![b"grant".to_vec()], "round {round}");
    }
}

async fn compare_and_swap_replaces_matching_value(kv: &dyn Kv) {
    kv.put("refresh:f", b"gen-1", LONG).await.unwrap();
    assert!(kv.compare_and_swap("refresh:f", b"gen-1", b"gen-2", LONG).await.unwrap());
    assert_eq!(kv.get("refresh:f").await.unwrap().as_deref(), Some(&b"gen-2"[..]));
    // Rotation happens once: the old generation no longer matches.
    assert!(!kv.compare_and_swap("refresh:f", b"gen-1", b"gen-2b", LONG).await.unwrap());
    assert!(kv.compare_and_swap("refresh:f", b"gen-2", b"gen-3", LONG).await.unwrap());
    assert_eq!(kv.get("refresh:f").await.unwrap().as_deref(), Some(&b"gen-3"[..]));
}

async fn compare_and_swap_rejects_other_value(kv: &dyn Kv) {
    kv.put("refresh:g", b"gen-5", LONG).await.unwrap();
    assert!(!kv.compare_and_swap("refresh:g", b"gen-4", b"gen-6", LONG).await.unwrap());
    // A prefix of the value is not a match.
    assert!(!kv.compare_and_swap("refresh:g", b"gen-", b"gen-6", LONG).await.unwrap());
    assert_eq!(kv.get("refresh:g").await.unwrap().as_deref(), Some(&b"gen-5"[..]));
}

async fn compare_and_swap_never_creates(kv: &dyn Kv) {
    assert!(!kv.compare_and_swap("refresh:none", b"", b"new", LONG).await.unwrap());
    assert!(!kv.compare_and_swap("refresh:none", b"x", b"new", LONG).await.unwrap());
    assert_eq!(kv.get("refresh:none").await.unwrap(), None);
}

async fn compare_and_swap_after_expiry_fails(kv: &dyn Kv) {
    kv.put("refresh:h", b"gen-1", SHORT).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert!(!kv.compare_and_swap("refresh:h", b"gen-1", b"gen-2", LONG).await.unwrap());
    assert_eq!(kv.get("refresh:h").await.unwrap(), None);
}

async fn compare_and_swap_sets_fresh_ttl(kv: &dyn Kv) {
    kv.put("refresh:i", b"gen-1", LONG).await.unwrap();
    assert!(kv.compare_and_swap("refresh:i", b"gen-1", b"gen-2", SHORT).await.unwrap());
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(kv.get("refresh:i").await.unwrap(), None);
}

async fn concurrent_compare_and_swap_has_one_winner(kv: &Arc<dyn Kv>) {
    kv.put("refresh:j", b"gen-1", LONG).await.unwrap();
    let mut racers = JoinSet::new();
    for i in 0..RACERS {
        let kv = Arc::clone(kv);
        racers.spawn(async move {
            let new = format!("gen-2-{i}");
            kv.compare_and_swap("refresh:j", b"gen-1", new.as_bytes(), LONG).await.unwrap().then_some(new)
        });
    }
    let winners: Vec<String> = racers.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(kv.get("refresh:j").await.unwrap(), Some(winners[0].clone().into_bytes()));
}

async fn delete_removes_value(kv: &dyn Kv) {
    kv.put("session:d", b"v", LONG).await.unwrap();
    kv.put("session:keep", b"v", LONG).await.unwrap();
    kv.delete("session:d").await.unwrap();
    assert_eq!(kv.get("session:d").await.unwrap(), None);
    assert_eq!(kv.take("session:d").await.unwrap(), None);
    assert!(kv.get("session:keep").await.unwrap().is_some());
}

async fn delete_of_missing_key_is_ok(kv: &dyn Kv) {
    kv.delete("session:missing").await.unwrap();
}

async fn revoked_grant_is_reported(kv: &dyn Kv) {
    assert!(!kv.is_grant_revoked("grant-1").await.unwrap());
    kv.revoke_grant("grant-1", LONG).await.unwrap();
    assert!(kv.is_grant_revoked("grant-1").await.unwrap());
    assert!(!kv.is_grant_revoked("grant-2").await.unwrap());
    // Revoking again is harmless.
    kv.revoke_grant("grant-1", LONG).await.unwrap();
    assert!(kv.is_grant_revoked("grant-1").await.unwrap());
    // Ordinary keys of the same name are a different thing.
    assert_eq!(kv.get("grant-1").await.unwrap(), None);
}

async fn grant_revocation_expires(kv: &dyn Kv) {
    kv.revoke_grant("grant-3", SHORT).await.unwrap();
    assert!(kv.is_grant_revoked("grant-3").await.unwrap());
    tokio::time::sleep(PAST_SHORT).await;
    assert!(!kv.is_grant_revoked("grant-3").await.unwrap());
}

async fn ping_succeeds(kv: &dyn Kv) {
    kv.ping().await.unwrap();
}

// Backend-specific tests.

#[test]
fn memory_reports_its_backend() {
    assert_eq!(kv_support::memory_kv().backend(), "memory");
}

#[tokio::test]
async fn redis_reports_its_backend() {
    assert_eq!(kv_support::redis_kv().await.backend(), "redis");
}

#[tokio::test]
async fn redis_prefixes_isolate_instances() {
    let first = kv_support::redis_kv_with_prefix(&kv_support::random_prefix()).await;
    let second = kv_support::redis_kv_with_prefix(&kv_support::random_prefix()).await;

    first.put("code:shared-name", b"first", LONG).await.unwrap();
    assert_eq!(second.get("code:shared-name").await.unwrap(), None);
    assert_eq!(second.take("code:shared-name").await.unwrap(), None);
    assert!(second.put_if_absent("code:shared-name", b"second", LONG).await.unwrap());
    assert!(!second.compare_and_swap("code:shared-name", b"first", b"x", LONG).await.unwrap());
    second.delete("code:shared-name").await.unwrap();
    assert_eq!(first.get("code:shared-name").await.unwrap().as_deref(), Some(&b"first"[..]));

    first.revoke_grant("grant-shared", LONG).await.unwrap();
    assert!(!second.is_grant_revoked("grant-shared").await.unwrap());
    assert!(first.is_grant_revoked("grant-shared").await.unwrap());
}

#[tokio::test]
async fn redis_keys_carry_the_prefix() {
    // Another instance whose prefix extends the first one's sees the first one's keys
    // shifted by the extra part: proof that keys are stored as `{prefix}{key}`.
    let prefix = kv_support::random_prefix();
    let outer = kv_support::redis_kv_with_prefix(&prefix).await;
    let inner = kv_support::redis_kv_with_prefix(&format!("{prefix}code:")).await;
    outer.put("code:abc", b"v", LONG).await.unwrap();
    assert_eq!(inner.get("abc").await.unwrap().as_deref(), Some(&b"v"[..]));
}

/// Connecting must fail, not hang, when nothing listens.
#[tokio::test]
async fn redis_connect_to_closed_port_fails_fast() {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(15), RedisKv::connect("redis://127.0.0.1:1", "test:"))
        .await
        .expect("connect hung instead of failing");
    let err = result.expect_err("connected to a closed port");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(err.to_string().contains("redis connect"), "{err}");
}

/// Connecting must fail, not hang, when the server accepts connections but never answers
/// (a wedged server, or a firewall that swallows packets after the handshake).
#[tokio::test]
async fn redis_connect_to_silent_server_fails_in_bounded_time() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    // Accept every connection and keep it open without ever replying.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });

    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), RedisKv::connect(&url, "test:"))
        .await
        .expect("connect hung instead of failing");
    assert!(result.is_err(), "connected to a server that never answers");
    assert!(started.elapsed() < Duration::from_secs(12), "took {:?}", started.elapsed());
    silent.abort();
}

#[tokio::test]
async fn redis_invalid_url_is_an_error_without_the_url() {
    let err = RedisKv::connect("not a url :secret-password", "test:").await.unwrap_err();
    assert!(!err.to_string().contains("secret-password"), "{err}");
}

async fn increment_counts_from_one(kv: &dyn Kv) {
    assert_eq!(kv.increment("fail:a", LONG).await.unwrap(), 1);
    assert_eq!(kv.increment("fail:a", LONG).await.unwrap(), 2);
    assert_eq!(kv.increment("fail:b", LONG).await.unwrap(), 1, "counters are per key");
    assert_eq!(kv.get("fail:a").await.unwrap().as_deref(), Some(&b"2"[..]), "reads back as decimal ASCII");
    kv.delete("fail:a").await.unwrap();
    assert_eq!(kv.increment("fail:a", LONG).await.unwrap(), 1, "a deleted counter starts again");
}

async fn increment_keeps_the_first_expiry(kv: &dyn Kv) {
    assert_eq!(kv.increment("fail:w", SHORT).await.unwrap(), 1);
    // A later increment with a long TTL does not extend the window.
    assert_eq!(kv.increment("fail:w", LONG).await.unwrap(), 2);
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(kv.get("fail:w").await.unwrap(), None);
    assert_eq!(kv.increment("fail:w", LONG).await.unwrap(), 1, "an expired counter starts again at 1");
}

async fn increment_of_a_non_counter_is_an_error(kv: &dyn Kv) {
    kv.put("fail:text", b"not a number", LONG).await.unwrap();
    assert!(kv.increment("fail:text", LONG).await.is_err());
    assert_eq!(kv.get("fail:text").await.unwrap().as_deref(), Some(&b"not a number"[..]), "left unchanged");
}

async fn concurrent_increments_are_all_counted(kv: &Arc<dyn Kv>) {
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let kv = kv.clone();
        set.spawn(async move { kv.increment("fail:race", LONG).await.unwrap() });
    }
    let mut seen: Vec<u64> = set.join_all().await;
    seen.sort_unstable();
    assert_eq!(seen, (1..=RACERS as u64).collect::<Vec<_>>(), "each caller gets a distinct count");
}
