//! Signing keys: any number per algorithm, each with an activation time, held parsed in
//! memory so that signing costs only the signature. The public halves are served as a JWKS.
//!
//! A key's state is computed from timestamps and the current time, never stored:
//! - **next**: `activate_at` is in the future. Published in the JWKS, signs nothing, so
//!   verifiers' caches learn it before any token needs it.
//! - **active**: the newest key of its algorithm whose `activate_at` has passed. Signs.
//! - **retired**: a newer key has activated. Still published and still verifies, until every
//!   token it may have signed has expired: [`KeyPolicy::retire_at`].
//! - **expired**: past that time. Gone from the JWKS; tokens it signed no longer verify.
//!
//! [`folder`] keeps keys on disk (private PEM files plus a public `keyring.json`) and rotates
//! them; [`SharedKeys`] lets a running server swap in a changed keyring without a restart.

pub mod db;
pub mod folder;
mod material;

use std::fmt;
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use folder::{KeyFolder, KeyReloader, Rotation};
use material::SigningKey;

/// How long verifiers may cache the JWKS (`Cache-Control: max-age`).
pub const JWKS_MAX_AGE_SECS: i64 = 300;
/// How much longer a cache may serve the JWKS while it refetches (`stale-while-revalidate`).
pub const JWKS_STALE_SECS: i64 = 60;
/// The JWKS's `Cache-Control` header: [`JWKS_MAX_AGE_SECS`] and [`JWKS_STALE_SECS`].
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300, stale-while-revalidate=60";
/// How often a running server re-reads the keyring, to pick up a rotation made by the CLI.
pub const RELOAD_INTERVAL_SECS: i64 = 30;
/// Clock difference tolerated between the hosts that rotate, sign and verify.
pub const CLOCK_SKEW_SECS: i64 = 30;
/// The `exp` leeway verifiers commonly allow (60 s is jsonwebtoken's and many libraries' default).
pub const VERIFIER_LEEWAY_SECS: i64 = 60;
/// The shortest publication window that is safe: a new key reaches every server's JWKS within
/// [`RELOAD_INTERVAL_SECS`], a verifier may then serve an older copy for max-age plus
/// stale-while-revalidate, and clocks differ by up to [`CLOCK_SKEW_SECS`]. 420 s.
pub const MIN_PUBLICATION_WINDOW_SECS: i64 =
    RELOAD_INTERVAL_SECS + JWKS_MAX_AGE_SECS + JWKS_STALE_SECS + CLOCK_SKEW_SECS;
/// How long a retired key outlives the longest token lifetime: verifiers' `exp` leeway plus
/// clock skew (a server with a slow clock signs with the old key a little longer). 90 s.
pub const RETIREMENT_MARGIN_SECS: i64 = VERIFIER_LEEWAY_SECS + CLOCK_SKEW_SECS;

/// A JWS algorithm Tessera signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    ES256,
    RS256,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::ES256, Alg::RS256, Alg::EdDSA];
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
            Alg::EdDSA => "EdDSA",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }
    fn index(self) -> usize {
        self as usize
    }
    fn jwt_alg(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::ES256 => jsonwebtoken::Algorithm::ES256,
            Alg::RS256 => jsonwebtoken::Algorithm::RS256,
            Alg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Alg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Alg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Alg::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown algorithm '{s}'")))
    }
}

/// The JWT `typ` header values Tessera issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typ {
    /// RFC 9068 access token.
    AccessToken,
    /// OIDC ID token.
    Jwt,
}

impl Typ {
    pub fn as_str(self) -> &'static str {
        match self {
            Typ::AccessToken => "at+jwt",
            Typ::Jwt => "JWT",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {msg}")]
    File { path: String, msg: String },
    #[error("key generation failed")]
    Generate,
    #[error("signing failed")]
    Sign,
    /// A keyring or a rotation refused, with the reason and what to do instead.
    #[error("{0}")]
    Refused(String),
    /// The keys in the database (`keys.store = "database"`) cannot be read or written.
    #[error("signing keys in the database: {0}")]
    Database(String),
}

/// Why a token presented to Tessera was refused. Never more detail than this reaches a client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown key or algorithm")]
    UnknownKey,
    #[error("wrong token type")]
    WrongType,
    #[error("invalid signature or claims")]
    Invalid,
}

/// What the keyring records about a key: nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyMeta {
    /// The RFC 7638 thumbprint of the public key.
    pub kid: String,
    pub alg: Alg,
    /// The private key's PEM file, inside the keys folder.
    pub file: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When the key starts signing (unix seconds); published in the JWKS from the moment it
    /// is in the keyring.
    pub activate_at: i64,
}

/// The state of a key at a given time (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signing.
    Active,
    /// Replaced; published and verifying until its retirement time.
    Retired,
    /// Past its retirement time: unpublished, verifies nothing.
    Expired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Expired => "expired",
        }
    }
}

/// A key's schedule and its state at some time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    #[serde(flatten)]
    pub meta: KeyMeta,
    /// When it leaves the JWKS: set once a successor exists.
    pub retire_at: Option<i64>,
    pub state: KeyState,
}

/// The timing rules of a key set, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The longest lifetime of a token signed with these keys (access or ID token), seconds.
    pub max_token_lifetime_secs: i64,
    /// Default time from publishing a new key to signing with it, seconds.
    pub publication_window_secs: i64,
}

impl KeyPolicy {
    pub fn from_config(c: &crate::config::Config) -> Self {
        let t = &c.tokens;
        Self {
            max_token_lifetime_secs: t.access_token_lifetime_secs.max(t.id_token_lifetime_secs) as i64,
            publication_window_secs: c.keys.publication_window_secs as i64,
        }
    }

    /// When a key replaced by a key activating at `successor_activate_at` leaves the JWKS:
    /// the last token it signed has expired, with [`RETIREMENT_MARGIN_SECS`] to spare.
    pub fn retire_at(&self, successor_activate_at: i64) -> i64 {
        successor_activate_at.saturating_add(self.max_token_lifetime_secs + RETIREMENT_MARGIN_SECS)
    }
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self::from_config(&crate::config::Config::default())
    }
}

/// The order of keys within an algorithm: by activation, then creation, then kid.
fn activation_order(a: &KeyMeta, b: &KeyMeta) -> std::cmp::Ordering {
    (a.alg, a.activate_at, a.created_at, &a.kid).cmp(&(b.alg, b.activate_at, b.created_at, &b.kid))
}

/// Every key's retirement time and state at `now`, in the order given. Per algorithm the
/// active key is the newest one whose activation has passed or, if none has (a keyring
/// written by a host whose clock is ahead), the first to activate: signing never stops.
pub fn schedule(keys: &[KeyMeta], policy: &KeyPolicy, now: i64) -> Vec<KeyInfo> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| activation_order(&keys[a], &keys[b]));
    let mut retire_at = vec![None; keys.len()];
    let mut active = [None; 3];
    for (pos, &i) in order.iter().enumerate() {
        let k = &keys[i];
        if let Some(&next) = order.get(pos + 1).filter(|&&n| keys[n].alg == k.alg) {
            retire_at[i] = Some(policy.retire_at(keys[next].activate_at));
        }
        let slot = &mut active[k.alg.index()];
        if k.activate_at <= now || slot.is_none() {
            *slot = Some(i);
        }
    }
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            let state = if active[k.alg.index()] == Some(i) {
                KeyState::Active
            } else if k.activate_at > now {
                KeyState::Next
            } else if retire_at[i].is_some_and(|r| r <= now) {
                KeyState::Expired
            } else {
                KeyState::Retired
            };
            KeyInfo { meta: k.clone(), retire_at: retire_at[i], state }
        })
        .collect()
}

struct Entry {
    key: SigningKey,
    meta: KeyMeta,
    /// `i64::MAX` while the key has no successor.
    retire_at: i64,
}

/// Every loaded key with its schedule, and the JWKS documents in force over time.
pub struct KeySet {
    entries: Vec<Entry>,
    /// Per algorithm ([`Alg::index`]): indices into `entries`, newest activation first.
    by_alg: [Vec<usize>; 3],
    /// `(from, document)`, ascending: the JWKS in force from each activation or retirement on.
    jwks: Vec<(i64, String)>,
    policy: KeyPolicy,
    rng: SystemRandom,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.entries.iter().map(|e| &e.meta).collect::<Vec<_>>())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// Loads the keys under `dir`, generating a key for any algorithm that has none (private
    /// files mode 0600, folder 0700). See [`KeyFolder`].
    pub fn load_or_generate(dir: &std::path::Path, policy: &KeyPolicy) -> Result<Self, KeyError> {
        KeyFolder::new(dir, *policy).load_or_generate(crate::crypto::now())
    }

    /// Fresh keys held only in memory, one per algorithm, active since forever (tests and
    /// benchmarks).
    pub fn ephemeral() -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for alg in Alg::ALL {
            let key = SigningKey::from_pkcs8(alg, &material::generate(alg)?).map_err(|_| KeyError::Generate)?;
            let meta = KeyMeta { kid: key.kid.clone(), alg, file: String::new(), created_at: 0, activate_at: 0 };
            keys.push((meta, key));
        }
        Self::build(keys, KeyPolicy::default())
    }

    /// Builds the set from parsed keys; every algorithm needs at least one.
    fn build(keys: Vec<(KeyMeta, SigningKey)>, policy: KeyPolicy) -> Result<Self, KeyError> {
        let metas: Vec<KeyMeta> = keys.iter().map(|(m, _)| m.clone()).collect();
        let infos = schedule(&metas, &policy, 0);
        let entries: Vec<Entry> = keys
            .into_iter()
            .zip(infos)
            .map(|((meta, key), info)| Entry { key, meta, retire_at: info.retire_at.unwrap_or(i64::MAX) })
            .collect();
        let mut by_alg: [Vec<usize>; 3] = Default::default();
        for (i, e) in entries.iter().enumerate() {
            by_alg[e.meta.alg.index()].push(i);
        }
        for (alg, list) in Alg::ALL.into_iter().zip(by_alg.iter_mut()) {
            if list.is_empty() {
                return Err(KeyError::Refused(format!("the keyring has no {alg} key")));
            }
            list.sort_by(|&a, &b| activation_order(&entries[b].meta, &entries[a].meta));
        }
        let mut set = Self { entries, by_alg, jwks: Vec::new(), policy, rng: SystemRandom::new() };
        let mut bounds: Vec<i64> = set
            .entries
            .iter()
            .flat_map(|e| [e.meta.activate_at, e.retire_at])
            .filter(|&t| t != i64::MAX)
            .chain([i64::MIN])
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        set.jwks = bounds.into_iter().map(|from| (from, set.render_jwks(from))).collect();
        Ok(set)
    }

    /// The JWKS at `now`: the active keys first (for verifiers that take the first key of an
    /// algorithm), then keys waiting to activate, then retired keys not yet expired.
    fn render_jwks(&self, now: i64) -> String {
        let mut keys = Vec::new();
        let active: Vec<usize> = Alg::ALL.iter().map(|&a| self.active_index(a, now)).collect();
        keys.extend(active.iter().map(|&i| self.entries[i].key.jwk.clone()));
        for rank in [KeyState::Next, KeyState::Retired] {
            for list in &self.by_alg {
                for &i in list.iter().rev() {
                    if !active.contains(&i) && self.published(i, now) && self.state_of(i, now) == rank {
                        keys.push(self.entries[i].key.jwk.clone());
                    }
                }
            }
        }
        serde_json::json!({ "keys": keys }).to_string()
    }

    fn published(&self, i: usize, now: i64) -> bool {
        now < self.entries[i].retire_at
    }

    fn state_of(&self, i: usize, now: i64) -> KeyState {
        let e = &self.entries[i];
        if self.active_index(e.meta.alg, now) == i {
            KeyState::Active
        } else if e.meta.activate_at > now {
            KeyState::Next
        } else if self.published(i, now) {
            KeyState::Retired
        } else {
            KeyState::Expired
        }
    }

    /// The signing key of `alg` at `now`: a scan of that algorithm's few keys, newest first.
    fn active_index(&self, alg: Alg, now: i64) -> usize {
        let list = &self.by_alg[alg.index()];
        list.iter().copied().find(|&i| self.entries[i].meta.activate_at <= now).unwrap_or(list[list.len() - 1])
    }

    /// The public keys as a JWKS document (RFC 7517), now.
    pub fn jwks_json(&self) -> &str {
        self.jwks_json_at(crate::crypto::now())
    }

    /// The JWKS document in force at `now` (precomputed: no work per call).
    pub fn jwks_json_at(&self, now: i64) -> &str {
        let idx = self.jwks.partition_point(|(from, _)| *from <= now);
        &self.jwks[idx.saturating_sub(1)].1
    }

    /// Every key of the set with its schedule and state at `now`.
    pub fn keys_at(&self, now: i64) -> Vec<KeyInfo> {
        (0..self.entries.len())
            .map(|i| {
                let e = &self.entries[i];
                KeyInfo {
                    meta: e.meta.clone(),
                    retire_at: (e.retire_at != i64::MAX).then_some(e.retire_at),
                    state: self.state_of(i, now),
                }
            })
            .collect()
    }

    /// The kid that signs `alg` tokens at `now`.
    pub fn active_kid(&self, alg: Alg, now: i64) -> &str {
        &self.entries[self.active_index(alg, now)].meta.kid
    }

    /// The timing rules the set was built with.
    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// Algorithms Tessera can sign with, for discovery.
    pub fn algorithms(&self) -> Vec<&'static str> {
        Alg::ALL.iter().map(|a| a.as_str()).collect()
    }

    /// Signs `claims` as a compact JWS with the active key of `alg`, now.
    pub fn sign<C: Serialize>(&self, alg: Alg, typ: Typ, claims: &C) -> Result<String, KeyError> {
        self.sign_at(crate::crypto::now(), alg, typ, claims)
    }

    /// Signs `claims` with the key of `alg` that is active at `now`.
    pub fn sign_at<C: Serialize>(&self, now: i64, alg: Alg, typ: Typ, claims: &C) -> Result<String, KeyError> {
        let key = &self.entries[self.active_index(alg, now)].key;
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
        key.sign(&self.rng, typ, &payload)
    }

    /// Verifies a token Tessera issued: the `kid` must name one of our published keys (next,
    /// active or retired), the header `alg` must be that key's algorithm (so `none` and HS256
    /// are refused), `typ` must match, and the signature, `iss` and `exp` must be valid.
    /// Audience is the caller's business.
    pub fn verify<C: DeserializeOwned>(&self, token: &str, typ: Typ, issuer: &str) -> Result<C, VerifyError> {
        self.verify_at(crate::crypto::now(), token, typ, issuer)
    }

    /// [`KeySet::verify`] at `now`: key publication and `exp` are judged at that time.
    pub fn verify_at<C: DeserializeOwned>(
        &self,
        now: i64,
        token: &str,
        typ: Typ,
        issuer: &str,
    ) -> Result<C, VerifyError> {
        self.verify_inner(now, token, typ, issuer, true)
    }

    /// Like [`KeySet::verify`] but accepts an expired token: for `id_token_hint`, which OIDC
    /// RP-Initiated Logout allows to have expired. Everything else is still checked, and the
    /// key must still be published.
    pub fn verify_allow_expired<C: DeserializeOwned>(
        &self,
        token: &str,
        typ: Typ,
        issuer: &str,
    ) -> Result<C, VerifyError> {
        self.verify_inner(crate::crypto::now(), token, typ, issuer, false)
    }

    fn verify_inner<C: DeserializeOwned>(
        &self,
        now: i64,
        token: &str,
        typ: Typ,
        issuer: &str,
        check_exp: bool,
    ) -> Result<C, VerifyError> {
        const LEEWAY: f64 = 5.0;
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.as_deref().ok_or(VerifyError::UnknownKey)?;
        let i = self.entries.iter().position(|e| e.meta.kid == kid).ok_or(VerifyError::UnknownKey)?;
        let key = &self.entries[i];
        if !self.published(i, now) || header.alg != key.meta.alg.jwt_alg() {
            return Err(VerifyError::UnknownKey);
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(typ.as_str())
                || (typ == Typ::AccessToken && t.eq_ignore_ascii_case("application/at+jwt"))
        });
        if !typ_ok {
            return Err(VerifyError::WrongType);
        }
        let mut validation = jsonwebtoken::Validation::new(key.meta.alg.jwt_alg());
        validation.set_issuer(&[issuer]);
        validation.validate_aud = false;
        // `exp` is checked below against `now`, which tests control.
        validation.validate_exp = false;
        validation.set_required_spec_claims(if check_exp { &["exp", "iss", "sub"][..] } else { &["iss", "sub"][..] });
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key.key.decoding, &validation)
            .map_err(|_| VerifyError::Invalid)?
            .claims;
        if check_exp {
            let exp = claims.get("exp").and_then(serde_json::Value::as_f64).ok_or(VerifyError::Invalid)?;
            if exp + LEEWAY < now as f64 {
                return Err(VerifyError::Invalid);
            }
            // Not valid yet (Tessera issues no `nbf`, but honours one it signed).
            if let Some(nbf) = claims.get("nbf") {
                let nbf = nbf.as_f64().ok_or(VerifyError::Invalid)?;
                if nbf - LEEWAY > now as f64 {
                    return Err(VerifyError::Invalid);
                }
            }
        }
        C::deserialize(claims).map_err(|_| VerifyError::Invalid)
    }
}

/// The key set a running server signs with, replaced when the keyring on disk changes.
///
/// Reading it costs a read lock and a reference-count increment: about 30 ns (110 ns with
/// two cores contending), against 19 µs for an ES256 signature, so no lock-free swap crate is
/// needed. A reload swaps the pointer; requests holding the old set finish with it.
#[derive(Clone)]
pub struct SharedKeys(Arc<RwLock<Arc<KeySet>>>);

impl SharedKeys {
    pub fn new(keys: Arc<KeySet>) -> Self {
        Self(Arc::new(RwLock::new(keys)))
    }

    /// The current key set.
    pub fn current(&self) -> Arc<KeySet> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the key set for every later caller.
    pub fn replace(&self, keys: Arc<KeySet>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }
}

impl fmt::Debug for SharedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedKeys").field(&self.current()).finish()
    }
}

/// Unix seconds as an RFC 3339 UTC time, such as `2025-03-01T12:00:00Z`.
pub fn format_utc(ts: i64) -> String {
    let (days, secs) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests;
