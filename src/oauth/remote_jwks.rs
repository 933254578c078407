//! The keys of external OIDC issuers (workload identity), fetched and cached.
//!
//! Only issuers an administrator trusts are ever fetched (the exchange looks the issuer up in
//! the trusts first), so a token cannot make Tessera call an address of its choosing. The JWKS
//! is cached for its `Cache-Control: max-age` (clamped to 1 minute .. 1 hour, 5 minutes when
//! absent) and fetched again early when a token names an unknown `kid`, at most every 30 s.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;

use super::foreign_jwt::ForeignKeys;

const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
const MIN_MAX_AGE: Duration = Duration::from_secs(60);
const MAX_MAX_AGE: Duration = Duration::from_secs(3600);
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BODY_BYTES: usize = 512 * 1024;
/// How long keys are used past their freshness while the issuer cannot be reached.
const MAX_STALE: Duration = Duration::from_secs(24 * 3600);

/// Why the keys could not be had. Logged; the client sees a generic 503.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("fetching {0} failed: {1}")]
    Http(String, String),
    #[error("{0} did not answer a usable document: {1}")]
    Document(String, String),
}

struct Cached {
    keys: Arc<ForeignKeys>,
    fetched_at: Instant,
    max_age: Duration,
}

/// Cached JWKS documents by URL, and issuers' `jwks_uri` from their discovery documents.
#[derive(Default)]
pub struct RemoteJwks {
    /// Where key fetches may go (see [`crate::outbound`]).
    policy: crate::outbound::Policy,
    http: OnceLock<reqwest::Client>,
    sets: RwLock<HashMap<String, Cached>>,
    discovered: RwLock<HashMap<String, (String, Instant)>>,
}

impl RemoteJwks {
    /// Keys fetched under `policy`.
    pub fn new(policy: crate::outbound::Policy) -> Self {
        Self { policy, ..Default::default() }
    }

    fn client(&self) -> &reqwest::Client {
        self.http.get_or_init(|| crate::outbound::client(self.policy, FETCH_TIMEOUT))
    }

    /// The keys of `issuer`, from `jwks_uri` or else its discovery document, fresh enough to
    /// know `kid` if the issuer has it.
    pub async fn keys(
        &self,
        issuer: &str,
        jwks_uri: Option<&str>,
        kid: Option<&str>,
    ) -> Result<Arc<ForeignKeys>, FetchError> {
        let url = match jwks_uri {
            Some(u) => u.to_string(),
            None => self.jwks_uri_of(issuer).await?,
        };
        let cached = {
            let sets = self.sets.read().unwrap_or_else(|e| e.into_inner());
            sets.get(&url).map(|c| (c.keys.clone(), c.fetched_at, c.max_age))
        };
        if let Some((keys, fetched_at, max_age)) = &cached {
            let fresh = fetched_at.elapsed() < *max_age;
            let knows = keys.has_kid(kid);
            if fresh && (knows || fetched_at.elapsed() < MIN_REFRESH_INTERVAL) {
                return Ok(keys.clone());
            }
        }
        match self.fetch_set(&url).await {
            Ok((keys, max_age)) => {
                let keys = Arc::new(keys);
                let mut sets = self.sets.write().unwrap_or_else(|e| e.into_inner());
                sets.insert(url, Cached { keys: keys.clone(), fetched_at: Instant::now(), max_age });
                Ok(keys)
            }
            // A failed refresh keeps the keys we had: the issuer may be down for a moment.
            Err(e) => match cached {
                Some((keys, fetched_at, max_age)) if fetched_at.elapsed() < max_age + MAX_STALE => {
                    tracing::warn!(error = %e, "refreshing an external JWKS failed; using the cached keys");
                    Ok(keys)
                }
                _ => Err(e),
            },
        }
    }

    async fn jwks_uri_of(&self, issuer: &str) -> Result<String, FetchError> {
        if let Some((uri, at)) = self.discovered.read().unwrap_or_else(|e| e.into_inner()).get(issuer)
            && at.elapsed() < MAX_MAX_AGE
        {
            return Ok(uri.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let (body, _) = self.get(&url).await?;
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| FetchError::Document(url.clone(), e.to_string()))?;
        // OpenID Connect Discovery 1.0, section 4.3: the issuer must be the one asked for.
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
            return Err(FetchError::Document(url, "its issuer is not the one configured".into()));
        }
        let uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .filter(|u| self.policy.fetchable(u))
            .ok_or_else(|| FetchError::Document(url.clone(), "no usable jwks_uri".into()))?
            .to_string();
        self.discovered
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(issuer.to_string(), (uri.clone(), Instant::now()));
        Ok(uri)
    }

    async fn fetch_set(&self, url: &str) -> Result<(ForeignKeys, Duration), FetchError> {
        let (body, max_age) = self.get(url).await?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| FetchError::Document(url.to_string(), e.to_string()))?;
        Ok((ForeignKeys::from_set(&set), max_age))
    }

    async fn get(&self, url: &str) -> Result<(Vec<u8>, Duration), FetchError> {
        if !self.policy.fetchable(url) {
            return Err(FetchError::Http(url.to_string(), "only https (or http on loopback) is fetched".into()));
        }
        let err = |e: reqwest::Error| FetchError::Http(url.to_string(), e.to_string());
        let mut res = self.client().get(url).header("accept", "application/json").send().await.map_err(err)?;
        if !res.status().is_success() {
            return Err(FetchError::Http(url.to_string(), format!("status {}", res.status())));
        }
        let max_age = res
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .map_or(DEFAULT_MAX_AGE, |d| d.clamp(MIN_MAX_AGE, MAX_MAX_AGE));
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(err)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(FetchError::Document(url.to_string(), "the document is too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }
}

/// The `max-age` of a `Cache-Control` value (`no-store`/`no-cache`: zero, clamped later).
fn max_age(value: &str) -> Option<Duration> {
    for part in value.split(',').map(str::trim) {
        if part.eq_ignore_ascii_case("no-store") || part.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = part.strip_prefix("max-age=").and_then(|s| s.trim_matches('"').parse::<u64>().ok()) {
            return Some(Duration::from_secs(secs));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        assert_eq!(max_age("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }
}
