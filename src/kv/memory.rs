//! In-memory implementation of [`Kv`] for a single node.
//!
//! The map is split into a few shards, each behind a `std::sync::Mutex`; a key always lives
//! in the same shard, and every operation holds that shard's lock for its whole
//! read-check-write, so operations on one key are atomic with respect to each other. No lock
//! is ever held across an `.await`.
//!
//! Expiry is checked on every read. To keep memory bounded without a background task, each
//! shard also sweeps out expired entries after a number of writes proportional to its size
//! at the previous sweep: the cost per write stays constant on average, and a shard never
//! holds more than twice the entries that were live at its last sweep (plus a small
//! constant), however many have expired since.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Kv, KvError, KvResult, MAX_TTL, revoked_grant_key};

/// Number of independently locked shards. A power of two keeps the index a mask.
const SHARDS: usize = 16;

/// A shard is never swept more often than once every this many writes, so that small shards
/// do not pay for a sweep on nearly every write.
const MIN_WRITES_BETWEEN_SWEEPS: usize = 64;

/// Short-lived state held in this process's memory. Cheap to construct, needs no runtime.
///
/// Share it behind an `Arc`; all methods take `&self`.
pub struct MemoryKv {
    shards: Box<[Mutex<Shard>]>,
    /// Chooses a key's shard. Randomly seeded per instance so that callers cannot aim many
    /// keys at one shard.
    hasher: RandomState,
}

struct Entry {
    value: Vec<u8>,
    expires_at: Instant,
}

impl Entry {
    fn new(value: &[u8], now: Instant, ttl: Duration) -> Self {
        Entry { value: value.to_vec(), expires_at: expires_at(now, ttl) }
    }

    fn is_live(&self, now: Instant) -> bool {
        now < self.expires_at
    }
}

struct Shard {
    map: HashMap<String, Entry>,
    writes_since_sweep: usize,
    /// Writes to wait for before the next sweep: the number of entries left by the last
    /// sweep, but at least [`MIN_WRITES_BETWEEN_SWEEPS`].
    sweep_after: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { map: HashMap::new(), writes_since_sweep: 0, sweep_after: MIN_WRITES_BETWEEN_SWEEPS }
    }
}

impl Shard {
    /// The live entry under `key`; an expired one is removed on the way.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.map.get(key).is_some_and(|entry| !entry.is_live(now)) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }

    /// Stores an entry, replacing any previous one, and sweeps the shard when due.
    fn insert(&mut self, key: &str, entry: Entry, now: Instant) {
        // Replacing in place avoids allocating the key again.
        match self.map.get_mut(key) {
            Some(slot) => *slot = entry,
            None => {
                self.map.insert(key.to_owned(), entry);
            }
        }
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= self.sweep_after {
            self.map.retain(|_, entry| entry.is_live(now));
            self.writes_since_sweep = 0;
            self.sweep_after = self.map.len().max(MIN_WRITES_BETWEEN_SWEEPS);
        }
    }
}

/// When an entry written at `now` with `ttl` expires. TTLs are capped at [`MAX_TTL`], which
/// keeps the addition far from `Instant`'s range limit.
fn expires_at(now: Instant, ttl: Duration) -> Instant {
    // Cannot fail with the cap; the fallback only avoids a panic path.
    now.checked_add(ttl.min(MAX_TTL)).unwrap_or(now)
}

impl MemoryKv {
    pub fn new() -> Self {
        MemoryKv { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), hasher: RandomState::new() }
    }

    /// Locks the shard that owns `key`.
    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) as usize) & (SHARDS - 1);
        // No code path panics while holding a lock with the map half-updated, so a poisoned
        // lock (a panic elsewhere in the holding thread) still guards a consistent map.
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of entries held, expired or not (for tests of the sweep).
    #[cfg(test)]
    fn stored_entries(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).map.len()).sum()
    }
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryKv {
    /// Never prints keys or values: they are authorization codes and session ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKv").field("shards", &self.shards.len()).finish_non_exhaustive()
    }
}

#[async_trait]
impl Kv for MemoryKv {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<()> {
        let now = Instant::now();
        self.shard(key).insert(key, Entry::new(value, now, ttl), now);
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> KvResult<bool> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        if shard.live(key, now).is_some() {
            return Ok(false);
        }
        shard.insert(key, Entry::new(value, now, ttl), now);
        Ok(true)
    }

    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let now = Instant::now();
        Ok(self.shard(key).live(key, now).map(|entry| entry.value.clone()))
    }

    async fn take(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let now = Instant::now();
        let entry = self.shard(key).map.remove(key);
        Ok(entry.filter(|entry| entry.is_live(now)).map(|entry| entry.value))
    }

    async fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8], ttl: Duration) -> KvResult<bool> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        match shard.live(key, now) {
            Some(entry) if entry.value == expected => {
                *entry = Entry::new(new, now, ttl);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn increment(&self, key: &str, ttl: Duration) -> KvResult<u64> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        if let Some(entry) = shard.live(key, now) {
            let n = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| KvError("increment: the key does not hold a counter".to_owned()))?
                .saturating_add(1);
            // The window's expiry stays where the first increment put it.
            entry.value = n.to_string().into_bytes();
            return Ok(n);
        }
        shard.insert(key, Entry::new(b"1", now, ttl), now);
        Ok(1)
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        self.shard(key).map.remove(key);
        Ok(())
    }

    async fn revoke_grant(&self, grant_id: &str, ttl: Duration) -> KvResult<()> {
        self.put(&revoked_grant_key(grant_id), &[], ttl).await
    }

    async fn is_grant_revoked(&self, grant_id: &str) -> KvResult<bool> {
        let key = revoked_grant_key(grant_id);
        let now = Instant::now();
        Ok(self.shard(&key).live(&key, now).is_some())
    }

    async fn ping(&self) -> KvResult<()> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_swept_by_later_writes() {
        let kv = MemoryKv::new();
        let now = Instant::now();
        for i in 0..1_000 {
            kv.shard(&format!("old:{i}")).insert(&format!("old:{i}"), Entry::new(b"v", now, Duration::ZERO), now);
        }
        // About 250 writes per shard: every shard sweeps at least once, and its first sweep
        // comes after MIN_WRITES_BETWEEN_SWEEPS writes, so no expired entry is left.
        let later = Instant::now();
        for i in 0..4_000 {
            let key = format!("new:{}", i % 500);
            kv.shard(&key).insert(&key, Entry::new(b"v", later, Duration::from_secs(60)), later);
        }
        assert_eq!(kv.stored_entries(), 500);
    }

    #[test]
    fn huge_ttl_does_not_overflow() {
        let now = Instant::now();
        assert!(expires_at(now, Duration::MAX) > now);
    }
}
