//! The [`Verifier`] and its builder: the checks every token goes through.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::cache::{CacheStats, TokenCache};
use crate::clock::{Clock, SystemClock};
use crate::error::{BuildError, VerifyError};
use crate::keys::{KeySet, Mode};
use crate::token::{AccessToken, Audience, PrincipalKind, RawClaims};

/// Clock skew tolerated on `exp` and `nbf` unless configured otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Largest leeway [`VerifierBuilder::leeway`] accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Verified tokens cached unless configured otherwise.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// Longer tokens are refused before any work (Tessera keeps its tokens under 4 KB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Says whether a verified token has been revoked (`true`: refuse it). Consulted on every
/// verification, cached or not; keep it fast (an in-memory set of revoked `jti`s, say).
pub type RevocationCheck = Arc<dyn Fn(&AccessToken) -> bool + Send + Sync>;

/// The lowest binding epoch still acceptable for a principal, given `(tenant, kind, sub)`, or
/// `None` for no constraint. Tokens whose `ep` is lower are refused as
/// [`VerifyError::Stale`]. Typically fed by polling Tessera's `GET /binding-epochs`.
pub type MinEpoch = Arc<dyn Fn(&str, PrincipalKind, &str) -> Option<i64> + Send + Sync>;

/// Configures a [`Verifier`]. Start with [`Verifier::builder`].
#[must_use]
pub struct VerifierBuilder {
    issuer: String,
    audiences: Vec<String>,
    skip_audience: bool,
    skip_type: bool,
    leeway: Duration,
    insecure_leeway: bool,
    cache_capacity: usize,
    clock: Arc<dyn Clock>,
    keys: Option<JwkSet>,
    #[cfg(feature = "jwks-fetch")]
    pub(crate) jwks: crate::jwks::JwksConfig,
}

pub(crate) struct Shared {
    issuer: String,
    audiences: Vec<String>,
    skip_audience: bool,
    skip_type: bool,
    leeway: i64,
    pub(crate) clock: Arc<dyn Clock>,
    keys: RwLock<Arc<KeySet>>,
    cache: TokenCache,
    #[cfg(feature = "jwks-fetch")]
    pub(crate) jwks: Option<crate::jwks::JwksSource>,
}

/// Verifies Tessera access tokens offline. Cheap to clone (clones share keys and cache), so
/// it can live in application state.
///
/// A token passes when, in this order: it is a compact JWS of at most [`MAX_TOKEN_BYTES`];
/// its header has no `crit` and `typ` is `at+jwt` or `application/at+jwt`; its `kid` names a
/// key of the set and its `alg` is exactly the algorithm that key is pinned to; the signature
/// verifies; `iss` is the issuer; `aud` contains the audience; `exp` and `nbf` hold at the
/// clock's time with the leeway; the claims this crate needs are present and well-formed;
/// then the revocation check and the minimum epoch, if configured, accept it.
#[derive(Clone)]
pub struct Verifier {
    pub(crate) shared: Arc<Shared>,
    revocation: Option<RevocationCheck>,
    min_epoch: Option<MinEpoch>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

fn decode_json<T: DeserializeOwned>(part: &str) -> Result<T, VerifyError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| VerifyError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)
}

fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

impl VerifierBuilder {
    fn new(issuer: String) -> Self {
        VerifierBuilder {
            issuer,
            audiences: Vec::new(),
            skip_audience: false,
            skip_type: false,
            leeway: DEFAULT_LEEWAY,
            insecure_leeway: false,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            clock: Arc::new(SystemClock),
            keys: None,
            #[cfg(feature = "jwks-fetch")]
            jwks: crate::jwks::JwksConfig::default(),
        }
    }

    /// The audience this service answers to: tokens must list it in `aud`. Call again to
    /// accept any of several audiences.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The verification keys (Tessera's JWKS). Every key must be usable: a `kid`, an EC P-256
    /// or P-384, RSA (2048 bits or more) or Ed25519 public key, and an `alg` (if present) that
    /// fits the key; keys marked for encryption are ignored.
    pub fn keys(mut self, keys: JwkSet) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default 30 s, at most 5 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self.insecure_leeway = false;
        self
    }

    /// Any leeway, even above 5 minutes: expired tokens stay valid that much longer.
    pub fn insecure_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self.insecure_leeway = true;
        self
    }

    /// How many verified tokens to cache (default 10,000; 0 disables the cache).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Where the time comes from (default [`SystemClock`]); tests pass a
    /// [`FixedClock`](crate::FixedClock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Accepts tokens for any audience: a token minted for another service works here too.
    pub fn insecure_skip_audience(mut self) -> Self {
        self.skip_audience = true;
        self
    }

    /// Accepts any `typ` (or none): ID tokens and other JWTs signed by the same keys pass as
    /// access tokens.
    pub fn insecure_skip_type_check(mut self) -> Self {
        self.skip_type = true;
        self
    }

    /// Builds the verifier; the error says what to change.
    pub fn build(self) -> Result<Verifier, BuildError> {
        if self.issuer.is_empty() {
            return Err(BuildError::EmptyIssuer);
        }
        if self.audiences.is_empty() && !self.skip_audience {
            return Err(BuildError::MissingAudience);
        }
        if self.leeway > MAX_LEEWAY && !self.insecure_leeway {
            return Err(BuildError::LeewayTooLarge(self.leeway.as_secs()));
        }
        let keys = match &self.keys {
            Some(set) => KeySet::from_jwks(set, Mode::Strict)?,
            None => KeySet::default(),
        };
        #[cfg(feature = "jwks-fetch")]
        let jwks = self.jwks.build()?;
        #[cfg(feature = "jwks-fetch")]
        let has_source = jwks.is_some();
        #[cfg(not(feature = "jwks-fetch"))]
        let has_source = false;
        if keys.is_empty() && !has_source {
            return Err(BuildError::NoKeys);
        }
        let shared = Shared {
            issuer: self.issuer,
            audiences: self.audiences,
            skip_audience: self.skip_audience,
            skip_type: self.skip_type,
            leeway: i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX),
            clock: self.clock,
            keys: RwLock::new(Arc::new(keys)),
            cache: TokenCache::new(self.cache_capacity),
            #[cfg(feature = "jwks-fetch")]
            jwks,
        };
        Ok(Verifier { shared: Arc::new(shared), revocation: None, min_epoch: None })
    }
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("insecure_skip_audience", &self.skip_audience)
            .field("insecure_skip_type_check", &self.skip_type)
            .field("leeway", &self.leeway)
            .field("cache_capacity", &self.cache_capacity)
            .field("clock", &self.clock)
            .field("keys", &self.keys.as_ref().map(|k| k.keys.len()))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("Verifier")
            .field("issuer", &s.issuer)
            .field("audiences", &s.audiences)
            .field("insecure_skip_audience", &s.skip_audience)
            .field("insecure_skip_type_check", &s.skip_type)
            .field("leeway_secs", &s.leeway)
            .field("key_ids", &self.key_ids())
            .field("cache", &s.cache.stats())
            .field("revocation_check", &self.revocation.is_some())
            .field("min_epoch", &self.min_epoch.is_some())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Starts configuring a verifier for tokens issued by `issuer` (the exact `iss` value,
    /// Tessera's issuer URL).
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder::new(issuer.into())
    }

    /// Consults `check` on every verification (cached or not): when it returns `true` the
    /// token is refused as [`VerifyError::Revoked`]. Applies to this verifier and the clones
    /// made from it afterwards; the key set and cache stay shared with earlier clones.
    #[must_use]
    pub fn with_revocation_check(mut self, check: RevocationCheck) -> Self {
        self.revocation = Some(check);
        self
    }

    /// Refuses tokens whose binding epoch `ep` is below what `min_epoch` answers for their
    /// `(tnt, pk, sub)`, as [`VerifyError::Stale`]; consulted on every verification. Applies
    /// like [`Verifier::with_revocation_check`].
    #[must_use]
    pub fn with_min_epoch(mut self, min_epoch: MinEpoch) -> Self {
        self.min_epoch = Some(min_epoch);
        self
    }

    /// The issuer tokens must name.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The ids of the keys in use, sorted.
    pub fn key_ids(&self) -> Vec<String> {
        self.current_keys().kids()
    }

    /// Hits, misses and size of the token cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.shared.cache.stats()
    }

    /// Replaces the key set (for services that fetch the JWKS themselves), with the same
    /// rules as [`VerifierBuilder::keys`]. When the keys change, cached tokens are forgotten,
    /// so tokens signed by a removed key stop verifying at once.
    pub fn replace_keys(&self, keys: &JwkSet) -> Result<(), BuildError> {
        let keys = KeySet::from_jwks(keys, Mode::Strict)?;
        if keys.is_empty() {
            return Err(BuildError::NoKeys);
        }
        self.install_keys(keys);
        Ok(())
    }

    /// Verifies `token` (the bare JWT, without `Bearer `) and returns its claims.
    ///
    /// With the `jwks-fetch` feature and a JWKS URL, this uses the keys at hand: when they are
    /// stale or the token names an unknown key, a refresh starts in the background (inside a
    /// Tokio runtime). `verify_async` waits for that refresh instead.
    pub fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let result = self.verify_core(token);
        #[cfg(feature = "jwks-fetch")]
        self.after_sync_verify(&result);
        result
    }

    pub(crate) fn current_keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.shared.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Installs a new key set; returns whether it differs from the current one (then the
    /// generation moves on and the cache is cleared).
    pub(crate) fn install_keys(&self, mut keys: KeySet) -> bool {
        let mut current = self.shared.keys.write().unwrap_or_else(PoisonError::into_inner);
        if current.same_keys(&keys) {
            return false;
        }
        keys.generation = current.generation + 1;
        let generation = keys.generation;
        *current = Arc::new(keys);
        drop(current);
        self.shared.cache.clear(generation);
        true
    }

    /// Verification with the keys at hand: the cache, the full checks, then the hooks.
    pub(crate) fn verify_core(&self, token: &str) -> Result<AccessToken, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Malformed);
        }
        let shared = &*self.shared;
        let now = shared.clock.now();
        let keys = self.current_keys();
        let cache_key = shared.cache.key_for(token);
        let cached = match &cache_key {
            Some(key) => shared.cache.get(key, now, keys.generation),
            None => {
                shared.cache.count_miss();
                None
            }
        };
        let verified = match cached {
            Some(hit) => {
                self.check_times(hit.expires_at(), hit.not_before(), now)?;
                hit
            }
            None => {
                let verified = self.verify_uncached(token, now, &keys)?;
                if let Some(key) = cache_key {
                    let evict_at = verified.expires_at().saturating_add(shared.leeway);
                    shared.cache.insert(key, verified.clone(), evict_at, now, keys.generation);
                }
                verified
            }
        };
        self.check_hooks(verified)
    }

    fn check_times(&self, exp: i64, nbf: Option<i64>, now: i64) -> Result<(), VerifyError> {
        let leeway = self.shared.leeway;
        if now >= exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        if nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
            return Err(VerifyError::NotYetValid);
        }
        Ok(())
    }

    fn check_hooks(&self, token: AccessToken) -> Result<AccessToken, VerifyError> {
        if self.revocation.as_ref().is_some_and(|revoked| revoked(&token)) {
            return Err(VerifyError::Revoked);
        }
        if let Some(min_epoch) = &self.min_epoch
            && min_epoch(token.tenant(), token.principal_kind(), token.sub()).is_some_and(|min| token.epoch() < min)
        {
            return Err(VerifyError::Stale);
        }
        Ok(token)
    }

    fn verify_uncached(&self, token: &str, now: i64, keys: &KeySet) -> Result<AccessToken, VerifyError> {
        let shared = &*self.shared;
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        let header: RawHeader = decode_json(header_b64)?;
        if header.crit.is_some() {
            // No extension is understood, so none may be critical (RFC 7515, section 4.1.11).
            return Err(VerifyError::Malformed);
        }
        if !shared.skip_type && !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(VerifyError::WrongType);
        }
        if keys.is_empty() {
            return Err(VerifyError::KeysUnavailable);
        }
        let key = header.kid.as_deref().and_then(|kid| keys.get(kid)).ok_or(VerifyError::UnknownKey)?;
        if header.alg != key.alg_name {
            return Err(VerifyError::AlgorithmMismatch);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| VerifyError::Malformed)?;
        let message = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        // aws-lc-rs directly, not the process-wide jsonwebtoken provider: this crate's choice
        // holds whatever features the application enables on jsonwebtoken.
        let verifier =
            (DEFAULT_PROVIDER.verifier_factory)(&key.alg, &key.key).map_err(|_| VerifyError::BadSignature)?;
        verifier.verify(message, &signature).map_err(|_| VerifyError::BadSignature)?;

        let claims: RawClaims = decode_json(payload_b64)?;
        if claims.iss != shared.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if !shared.skip_audience {
            let matches = |aud: &String| shared.audiences.contains(aud);
            let ok = match &claims.aud {
                Audience::One(aud) => matches(aud),
                Audience::Many(list) => list.iter().any(matches),
            };
            if !ok {
                return Err(VerifyError::WrongAudience);
            }
        }
        self.check_times(claims.exp, claims.nbf, now)?;
        AccessToken::from_claims(claims).ok_or(VerifyError::Malformed)
    }
}
