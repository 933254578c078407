//! Short-lived protocol state behind a tiny TTL key-value interface: authorization codes,
//! pending authorization requests, login sessions, refresh-token families, revoked token
//! ids, password-reset links and sign-in failure counters. One implementation in memory (a single node), one on Redis (several nodes).
//!
//! Keys are plain strings chosen by the callers (`code:…`, `session:…`); implementations add
//! their own namespace prefix so several instances or tests can share one Redis.

mod memory;
mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use self::memory::MemoryKv;
pub use self::redis::RedisKv;

/// A failure of the state backend (Redis unreachable, say). Never shown to clients.
#[derive(Debug, thiserror::Error)]
#[error("state backend error: {0}")]
pub struct KvError(pub String);

pub type KvResult<T> = Result<T, KvError>;

/// Longest TTL the backends honour; longer ones are shortened to it. Far beyond any protocol
/// lifetime, and it keeps expiry arithmetic clear of overflow in both backends.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// The key marking a grant as revoked, in the same key space as the callers' keys.
pub(crate) fn revoked_grant_key(grant_id: &str) -> String {
    format!("revoked-grant:{grant_id}")
}

#[async_trait]
pub trait Kv: Send + Sync {
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<()>;
    /// Stores `value` only if `key` is absent; true if it was stored.
    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<bool>;
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    /// Removes and returns the value atomically: of concurrent callers, exactly one gets it.
    async fn take(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    /// Replaces the value with `new` (and a fresh `ttl`) only if it currently equals
    /// `expected`; true if replaced. Used to rotate refresh tokens exactly once.
    async fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8], ttl: Duration) -> KvResult<bool>;
    /// Adds one to the counter under `key` and returns the new count. An absent or expired
    /// counter starts at 1 and expires `ttl` later; later increments keep that expiry (a fixed
    /// window), so a counter always goes away. The value reads back (`get`) as decimal ASCII; a
    /// key holding anything else is an error. Used for sign-in throttling.
    async fn increment(&self, key: &str, ttl: Duration) -> KvResult<u64>;
    /// Removes `key` (no error if absent).
    async fn delete(&self, key: &str) -> KvResult<()>;
    /// Marks a grant (one authorization and everything issued from it) as revoked for `ttl`.
    async fn revoke_grant(&self, grant_id: &str, ttl: Duration) -> KvResult<()>;
    /// Whether the grant was revoked.
    async fn is_grant_revoked(&self, grant_id: &str) -> KvResult<bool>;
    /// Checks the backend is reachable, for readiness.
    async fn ping(&self) -> KvResult<()>;
    /// "memory" or "redis".
    fn backend(&self) -> &'static str;
}
