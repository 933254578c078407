//! Fetching the issuer's JWKS (feature `jwks-fetch`): cached for the `Cache-Control: max-age`
//! the server sends, refreshed when a token names an unknown `kid` (at most once per refresh
//! interval, default 10 s), and never dropped because a refresh failed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;

use crate::error::{BuildError, VerifyError};
use crate::keys::{KeySet, Mode};
use crate::token::AccessToken;
use crate::verifier::{Verifier, VerifierBuilder};

/// Shortest time between two fetches of the JWKS, unless configured otherwise.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// How long a fetched JWKS is fresh when the answer has no `Cache-Control: max-age`.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// A `max-age` above one day is treated as one day.
const MAX_MAX_AGE: i64 = 86_400;
/// Larger JWKS documents are refused.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// Time limit of one fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why fetching the JWKS failed. The keys in use stay in use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The verifier was built without a JWKS URL.
    #[error("no JWKS URL configured")]
    NotConfigured,
    /// The request failed (connection, TLS, time-out).
    #[error("JWKS request failed: {0}")]
    Request(String),
    /// The server answered with a status other than 200.
    #[error("JWKS request answered with status {0}")]
    Status(u16),
    /// The document is larger than 1 MiB.
    #[error("JWKS document larger than 1 MiB")]
    TooLarge,
    /// The document is not a JWK set.
    #[error("JWKS document is not a JWK set: {0}")]
    InvalidJson(String),
    /// The set holds no usable signature key.
    #[error("JWKS document holds no usable signature key")]
    NoUsableKeys,
}

#[derive(Default)]
pub(crate) struct JwksConfig {
    url: Option<String>,
    min_interval: Option<Duration>,
    default_max_age: Option<Duration>,
    allow_http: bool,
    client: Option<reqwest::Client>,
}

#[derive(Default)]
struct FetchState {
    /// Until when (unix seconds) the fetched set is fresh; `None` before the first fetch.
    fresh_until: Option<i64>,
    /// When the last fetch started.
    last_attempt: Option<i64>,
    /// Fetches finished (successful or not).
    attempts: u64,
}

pub(crate) struct JwksSource {
    url: reqwest::Url,
    client: reqwest::Client,
    min_interval: i64,
    default_max_age: i64,
    state: Mutex<FetchState>,
    /// Held for the whole of a fetch: one fetch at a time.
    fetch_lock: tokio::sync::Mutex<()>,
    /// A background refresh is scheduled or running.
    background: AtomicBool,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The freshness lifetime of an answer from its `Cache-Control` header: `max-age` (at most a
/// day), 0 for `no-cache`/`no-store`, `None` without a directive.
pub(crate) fn max_age(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let mut found = None;
    for value in headers.get_all(reqwest::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return Some(0);
            }
            if let Some(n) = lower.strip_prefix("max-age=")
                && let Ok(n) = n.trim_matches('"').parse::<u64>()
            {
                found = Some(i64::try_from(n).unwrap_or(i64::MAX).min(MAX_MAX_AGE));
            }
        }
    }
    found
}

impl JwksConfig {
    pub(crate) fn build(self) -> Result<Option<JwksSource>, BuildError> {
        let Some(url) = self.url else { return Ok(None) };
        let url = reqwest::Url::parse(&url).map_err(|e| BuildError::InvalidJwksUrl(format!("{url}: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(BuildError::InvalidJwksUrl(format!(
                    "{url}: plain http lets anyone on the path replace the keys; use https (or insecure_allow_http_jwks for tests)"
                )));
            }
            other => return Err(BuildError::InvalidJwksUrl(format!("{url}: unsupported scheme {other}"))),
        }
        let client = match self.client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .map_err(|e| BuildError::HttpClient(e.to_string()))?,
        };
        Ok(Some(JwksSource {
            url,
            client,
            min_interval: secs(self.min_interval.unwrap_or(DEFAULT_MIN_REFRESH_INTERVAL)),
            default_max_age: secs(self.default_max_age.unwrap_or(DEFAULT_JWKS_MAX_AGE)).min(MAX_MAX_AGE),
            state: Mutex::new(FetchState::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
            background: AtomicBool::new(false),
        }))
    }
}

impl VerifierBuilder {
    /// Fetches the verification keys from `url` (Tessera's `/jwks`, https only), caches them
    /// for the answer's `Cache-Control: max-age`, and fetches again when a token names an
    /// unknown `kid` (rate-limited). Keys from [`VerifierBuilder::keys`], if any, serve until
    /// the first fetch. Use [`Verifier::verify_async`] (or call [`Verifier::refresh_keys`] at
    /// start-up before [`Verifier::verify`]).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks.url = Some(url.into());
        self
    }

    /// Shortest time between two fetches (default 10 s): bounds the requests a stream of
    /// tokens with unknown `kid`s can cause, and the retries while the server is down.
    pub fn jwks_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.jwks.min_interval = Some(interval);
        self
    }

    /// How long a JWKS is fresh when the answer has no `Cache-Control: max-age` (default 5
    /// minutes, at most a day).
    pub fn jwks_default_max_age(mut self, max_age: Duration) -> Self {
        self.jwks.default_max_age = Some(max_age);
        self
    }

    /// The HTTP client for the JWKS (default: rustls, 10 s time-out).
    pub fn jwks_http_client(mut self, client: reqwest::Client) -> Self {
        self.jwks.client = Some(client);
        self
    }

    /// Allows a plain `http` JWKS URL: anyone on the network path can substitute keys.
    pub fn insecure_allow_http_jwks(mut self) -> Self {
        self.jwks.allow_http = true;
        self
    }
}

impl JwksSource {
    fn state(&self) -> std::sync::MutexGuard<'_, FetchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_stale(&self, now: i64) -> bool {
        self.state().fresh_until.is_none_or(|until| now >= until)
    }

    fn rate_ok(&self, now: i64) -> bool {
        self.state().last_attempt.is_none_or(|last| now >= last.saturating_add(self.min_interval) || now < last)
    }

    /// Starts an attempt if the rate limit allows one.
    fn try_begin(&self, now: i64) -> bool {
        let mut state = self.state();
        if state.last_attempt.is_some_and(|last| now < last.saturating_add(self.min_interval) && now >= last) {
            return false;
        }
        state.last_attempt = Some(now);
        true
    }

    fn attempts(&self) -> u64 {
        self.state().attempts
    }

    async fn fetch(&self) -> Result<(JwkSet, Option<i64>), JwksError> {
        let request = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/jwk-set+json, application/json");
        let mut response = request.send().await.map_err(|e| JwksError::Request(e.without_url().to_string()))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        let max_age = max_age(response.headers());
        if response.content_length().is_some_and(|len| len > MAX_JWKS_BYTES as u64) {
            return Err(JwksError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| JwksError::Request(e.without_url().to_string()))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let set = serde_json::from_slice(&body).map_err(|e| JwksError::InvalidJson(e.to_string()))?;
        Ok((set, max_age))
    }
}

impl Verifier {
    /// Verifies `token` like [`Verifier::verify`], fetching keys when needed: the first time,
    /// and when the token names a `kid` that is not in the set (at most once per refresh
    /// interval; concurrent callers wait for the one fetch). A stale set is refreshed in the
    /// background while it keeps serving; a failed fetch keeps the keys in use.
    pub async fn verify_async(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let Some(source) = &self.shared.jwks else { return self.verify_core(token) };
        let now = self.shared.clock.now();
        if self.current_keys().is_empty() {
            self.refresh_single_flight().await;
        } else if source.is_stale(now) {
            self.spawn_refresh();
        }
        match self.verify_core(token) {
            Err(e @ (VerifyError::UnknownKey | VerifyError::KeysUnavailable)) => {
                if self.refresh_single_flight().await {
                    self.verify_core(token)
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    /// Fetches the JWKS now, whatever the rate limit (for start-up, or a rotation you know
    /// of). On failure the keys in use stay in use.
    pub async fn refresh_keys(&self) -> Result<(), JwksError> {
        let source = self.shared.jwks.as_ref().ok_or(JwksError::NotConfigured)?;
        let _guard = source.fetch_lock.lock().await;
        let now = self.shared.clock.now();
        source.state().last_attempt = Some(now);
        self.fetch_and_install(source, now).await
    }

    /// Waits for the fetch in progress, or fetches if the rate limit allows. Returns whether
    /// verifying again may give another answer.
    async fn refresh_single_flight(&self) -> bool {
        let Some(source) = &self.shared.jwks else { return false };
        let seen = source.attempts();
        let _guard = source.fetch_lock.lock().await;
        if source.attempts() != seen {
            return true;
        }
        let now = self.shared.clock.now();
        if !source.try_begin(now) {
            return false;
        }
        self.fetch_and_install(source, now).await.is_ok()
    }

    /// One fetch; the caller holds the fetch lock and has recorded the attempt.
    async fn fetch_and_install(&self, source: &JwksSource, now: i64) -> Result<(), JwksError> {
        let result = match source.fetch().await {
            Ok((set, max_age)) => match KeySet::from_jwks(&set, Mode::Lenient) {
                Ok(keys) if !keys.is_empty() => {
                    self.install_keys(keys);
                    let max_age = max_age.unwrap_or(source.default_max_age).max(0);
                    source.state().fresh_until = Some(now.saturating_add(max_age));
                    Ok(())
                }
                _ => Err(JwksError::NoUsableKeys),
            },
            Err(e) => Err(e),
        };
        source.state().attempts += 1;
        result
    }

    /// Starts a background refresh if a Tokio runtime is running, the rate limit allows it,
    /// and none is scheduled already.
    fn spawn_refresh(&self) {
        let Some(source) = &self.shared.jwks else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if !source.rate_ok(self.shared.clock.now()) || source.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let verifier = self.clone();
        runtime.spawn(async move {
            if let Some(source) = &verifier.shared.jwks {
                {
                    let _guard = source.fetch_lock.lock().await;
                    let now = verifier.shared.clock.now();
                    if source.try_begin(now) {
                        // A failure keeps the keys in use; the next attempt comes after the interval.
                        let _ = verifier.fetch_and_install(source, now).await;
                    }
                }
                source.background.store(false, Ordering::Release);
            }
        });
    }

    /// After a synchronous verification: refresh in the background when the keys are stale
    /// or the token named a key we do not have.
    pub(crate) fn after_sync_verify(&self, result: &Result<AccessToken, VerifyError>) {
        let Some(source) = &self.shared.jwks else { return };
        let unknown = matches!(result, Err(VerifyError::UnknownKey | VerifyError::KeysUnavailable));
        if unknown || source.is_stale(self.shared.clock.now()) {
            self.spawn_refresh();
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{CACHE_CONTROL, HeaderMap, HeaderValue};

    use super::max_age;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn cache_control_max_age() {
        assert_eq!(max_age(&headers(&[])), None);
        assert_eq!(max_age(&headers(&["public, max-age=120"])), Some(120));
        assert_eq!(max_age(&headers(&["Max-Age=60"])), Some(60));
        assert_eq!(max_age(&headers(&["max-age=999999999"])), Some(86_400));
        assert_eq!(max_age(&headers(&["no-store"])), Some(0));
        assert_eq!(max_age(&headers(&["max-age=60, no-cache"])), Some(0));
        assert_eq!(max_age(&headers(&["max-age=abc"])), None);
        assert_eq!(max_age(&headers(&["public", "max-age=30"])), Some(30));
    }
}
