//! A bounded cache of verified tokens, keyed by the SHA-256 of the token string, so a token
//! seen again within its lifetime skips the signature check. Entries leave when the token
//! expires; when the cache is full, expired entries go first, then the soonest to expire.
//! Callers still check expiry against the clock on every hit.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
use jsonwebtoken::jwk::ThumbprintHash;

use crate::token::AccessToken;

pub(crate) type CacheKey = [u8; 32];

/// How the token cache is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Tokens found in the cache (signature check skipped).
    pub hits: u64,
    /// Tokens verified in full (not cached, or the cache is disabled).
    pub misses: u64,
    /// Entries held now.
    pub len: usize,
    /// Most entries held at once.
    pub capacity: usize,
}

pub(crate) struct TokenCache {
    capacity: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<CacheKey, (AccessToken, i64)>,
    by_expiry: BTreeSet<(i64, CacheKey)>,
    /// The key-set generation the entries were verified with.
    generation: u64,
}

impl Inner {
    fn remove(&mut self, key: &CacheKey) {
        if let Some((_, evict_at)) = self.entries.remove(key) {
            self.by_expiry.remove(&(evict_at, *key));
        }
    }

    fn remove_expired(&mut self, now: i64) {
        while let Some(&(evict_at, key)) = self.by_expiry.first() {
            if evict_at > now {
                break;
            }
            self.by_expiry.pop_first();
            self.entries.remove(&key);
        }
    }
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        TokenCache { capacity, inner: Mutex::new(Inner::default()), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The data stays consistent even if a holder panicked: every method leaves it whole.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cache key of a token, or `None` when the cache is disabled.
    pub(crate) fn key_for(&self, token: &str) -> Option<CacheKey> {
        if self.capacity == 0 {
            return None;
        }
        let digest = (DEFAULT_PROVIDER.key_utils.compute_digest)(token.as_bytes(), ThumbprintHash::SHA256).ok()?;
        digest.try_into().ok()
    }

    /// The token cached under `key` if it was verified with key-set `generation` and has not
    /// expired at `now`.
    pub(crate) fn get(&self, key: &CacheKey, now: i64, generation: u64) -> Option<AccessToken> {
        let mut inner = self.lock();
        let found = match inner.entries.get(key) {
            Some((token, evict_at)) if *evict_at > now && inner.generation == generation => Some(token.clone()),
            Some(_) => {
                inner.remove(key);
                None
            }
            None => None,
        };
        drop(inner);
        match &found {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    /// Counts a full verification when the cache is disabled.
    pub(crate) fn count_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Caches a token verified with key-set `generation`, until `evict_at`.
    pub(crate) fn insert(&self, key: CacheKey, token: AccessToken, evict_at: i64, now: i64, generation: u64) {
        if self.capacity == 0 || evict_at <= now {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            if generation < inner.generation {
                // Verified with keys that have been replaced since: do not keep it.
                return;
            }
            inner.entries.clear();
            inner.by_expiry.clear();
            inner.generation = generation;
        }
        inner.remove(&key);
        if inner.entries.len() >= self.capacity {
            inner.remove_expired(now);
        }
        while inner.entries.len() >= self.capacity {
            let Some((_, soonest)) = inner.by_expiry.pop_first() else { break };
            inner.entries.remove(&soonest);
        }
        inner.by_expiry.insert((evict_at, key));
        inner.entries.insert(key, (token, evict_at));
    }

    /// Forgets every entry (the key set changed to `generation`).
    pub(crate) fn clear(&self, generation: u64) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.by_expiry.clear();
        inner.generation = inner.generation.max(generation);
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            len: self.lock().entries.len(),
            capacity: self.capacity,
        }
    }
}
