//! Where "now" comes from. Every time check (`exp`, `nbf`, cache expiry, JWKS freshness and
//! refresh rate limits) reads the [`Clock`] the verifier was built with, so tests control time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in unix seconds.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now(&self) -> i64;
}

/// The system's wall clock (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to, for tests. Clones share the time, so keep one clone
/// and hand the other to the builder:
///
/// ```
/// use tessera_verifier::{Clock, FixedClock};
///
/// let clock = FixedClock::new(1_767_000_000);
/// let handle = clock.clone();
/// handle.advance(60);
/// assert_eq!(clock.now(), 1_767_000_060);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    /// A clock stopped at `now` (unix seconds).
    pub fn new(now: i64) -> Self {
        FixedClock(Arc::new(AtomicI64::new(now)))
    }

    /// Sets the time (it may go backwards).
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the time by `seconds` (negative goes backwards).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
