//! Brute-force protection of password sign-ins: failures counted per username and per client
//! address in the state backend (so every instance sharing a Redis sees the same counts),
//! and, past a number of free failures, a lock whose length doubles with each further
//! failure.
//!
//! The username is counted whether or not an account has it, under the SHA-256 of its
//! canonical form (the account's identity, see [`crate::identity`]), so the throttle behaves the same for unknown and known accounts and the
//! state backend holds no usernames. A locked attempt is refused before the password is
//! checked (no Argon2id work for an attacker), and the caller answers it exactly like a wrong
//! password.

use std::sync::Arc;
use std::time::Duration;

use crate::config::PasswordsConfig;
use crate::kv::{Kv, KvResult};

/// What the counts are kept per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One username (existing or not).
    Account,
    /// One client IP address.
    Address,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
        }
    }
}

/// The throttle's settings (see `[passwords]` in the configuration).
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    pub account_free_failures: u64,
    pub address_free_failures: u64,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub window: Duration,
}

impl ThrottleSettings {
    pub fn from_config(c: &PasswordsConfig) -> Self {
        Self {
            account_free_failures: c.throttle_account_free_failures,
            address_free_failures: c.throttle_address_free_failures,
            base_delay: Duration::from_secs(c.throttle_base_delay_secs),
            max_delay: Duration::from_secs(c.throttle_max_delay_secs),
            window: Duration::from_secs(c.throttle_window_secs),
        }
    }

    /// The lock after the `n`-th failure beyond the free ones (n >= 1): base, 2 base, 4 base, …
    /// up to the maximum.
    pub fn delay(&self, n: u64) -> Duration {
        let doublings = u32::try_from(n.saturating_sub(1).min(31)).unwrap_or(31);
        self.base_delay.saturating_mul(1u32 << doublings).min(self.max_delay)
    }
}

/// Counts failures and locks; cheap to clone.
#[derive(Clone)]
pub struct Throttle {
    kv: Arc<dyn Kv>,
    settings: Arc<ThrottleSettings>,
}

impl Throttle {
    pub fn new(kv: Arc<dyn Kv>, settings: ThrottleSettings) -> Self {
        Self { kv, settings: Arc::new(settings) }
    }

    pub fn settings(&self) -> &ThrottleSettings {
        &self.settings
    }

    /// Whether an attempt for `username` from `addr` is locked now, and by which count.
    pub async fn locked(&self, username: &str, addr: Option<&str>) -> KvResult<Option<Scope>> {
        for (scope, id) in ids(username, addr) {
            if self.kv.get(&lock_key(scope, &id)).await?.is_some() {
                return Ok(Some(scope));
            }
        }
        Ok(None)
    }

    /// Counts a failed attempt (a wrong password, an unknown username, a disabled account)
    /// and locks the next attempts when the free failures are used up.
    pub async fn failed(&self, username: &str, addr: Option<&str>) -> KvResult<()> {
        let s = &self.settings;
        for (scope, id) in ids(username, addr) {
            let n = self.kv.increment(&fail_key(scope, &id), s.window).await?;
            let free = match scope {
                Scope::Account => s.account_free_failures,
                Scope::Address => s.address_free_failures,
            };
            if n > free {
                self.kv.put(&lock_key(scope, &id), b"1", s.delay(n - free)).await?;
            }
        }
        Ok(())
    }

    /// A successful sign-in (or a password reset) clears the username's failures and lock;
    /// the address's stay (one address may be trying many usernames).
    pub async fn succeeded(&self, username: &str) -> KvResult<()> {
        let id = account_id(username);
        self.kv.delete(&fail_key(Scope::Account, &id)).await?;
        self.kv.delete(&lock_key(Scope::Account, &id)).await
    }

    /// Counts one more use of a rate-limited action (such as asking for a reset link) by
    /// `username` and by `addr` in the window; false once either is over `limit_account` or
    /// `limit_address`.
    pub async fn allow(&self, action: &str, username: &str, addr: Option<&str>, limits: (u64, u64)) -> KvResult<bool> {
        let mut allowed = true;
        for (scope, id) in ids(username, addr) {
            let n =
                self.kv.increment(&format!("throttle:{action}:{}:{id}", scope.as_str()), self.settings.window).await?;
            let limit = if scope == Scope::Account { limits.0 } else { limits.1 };
            allowed &= n <= limit;
        }
        Ok(allowed)
    }
}

/// The username as counted: its canonical form ([`crate::identity`]), the one sign-in looks the
/// account up by, so every spelling of one account (`Limited1`, `limited1`, full-width) shares
/// one counter, and a success under one spelling clears exactly that account's. A name the rule
/// refuses (no account has it) is counted trimmed and lower-cased. Hashed.
fn account_id(username: &str) -> String {
    let key = crate::identity::canonical_username(username).unwrap_or_else(|_| username.trim().to_lowercase());
    crate::crypto::b64url(&crate::crypto::sha256(key.as_bytes()))
}

fn ids(username: &str, addr: Option<&str>) -> Vec<(Scope, String)> {
    let mut v = vec![(Scope::Account, account_id(username))];
    if let Some(a) = addr {
        v.push((Scope::Address, a.to_string()));
    }
    v
}

fn fail_key(scope: Scope, id: &str) -> String {
    format!("throttle:fail:{}:{id}", scope.as_str())
}

fn lock_key(scope: Scope, id: &str) -> String {
    format!("throttle:lock:{}:{id}", scope.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ThrottleSettings {
        ThrottleSettings {
            account_free_failures: 3,
            address_free_failures: 10,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(900),
            window: Duration::from_secs(3600),
        }
    }

    #[test]
    fn delays_double_up_to_the_maximum() {
        let s = settings();
        let d: Vec<u64> = (1..=12).map(|n| s.delay(n).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(s.delay(u64::MAX).as_secs(), 900);
    }

    #[tokio::test]
    async fn locks_after_the_free_failures_and_a_success_clears_the_account() {
        let t = Throttle::new(Arc::new(crate::kv::MemoryKv::new()), settings());
        for _ in 0..3 {
            assert_eq!(t.locked("Alice", Some("10.0.0.1")).await.unwrap(), None);
            t.failed("Alice", Some("10.0.0.1")).await.unwrap();
        }
        assert_eq!(t.locked("alice ", Some("10.0.0.2")).await.unwrap(), None, "three free failures");
        t.failed("alice", Some("10.0.0.1")).await.unwrap();
        assert_eq!(t.locked(" ALICE", Some("10.0.0.2")).await.unwrap(), Some(Scope::Account), "normalised name");
        assert_eq!(t.locked("bob", Some("10.0.0.1")).await.unwrap(), None, "other accounts are not locked");
        t.succeeded("alice").await.unwrap();
        assert_eq!(t.locked("alice", None).await.unwrap(), None);
    }

    /// Every spelling of one account is one counter: full-width or upper-case spellings can
    /// neither escape a lock nor hold a separate count.
    #[tokio::test]
    async fn every_spelling_of_a_username_shares_one_counter() {
        let t = Throttle::new(Arc::new(crate::kv::MemoryKv::new()), settings());
        for spelling in ["limited1", "Limited1", "\u{ff4c}imited1", "LIMITED\u{ff11}"] {
            t.failed(spelling, None).await.unwrap();
        }
        assert_eq!(t.locked("\u{ff2c}IMITED1", None).await.unwrap(), Some(Scope::Account));
        t.succeeded("LiMiTeD1").await.unwrap();
        assert_eq!(t.locked("limited1", None).await.unwrap(), None, "a success clears the one account");
    }
}
