//! Prometheus metrics, hand-written: a few counters and one latency histogram rendered in the
//! text exposition format (version 0.0.4) at `GET /metrics`.
//!
//! A small registry rather than the `metrics` crate and its exporter: five families, fixed
//! label sets, and no global recorder, so two apps in one process (the tests) keep separate
//! figures. Label values come from closed sets only (route templates, methods, status codes,
//! grant types, backends), so the number of series is bounded.
//!
//! The series:
//! - `tessera_http_requests_total{route,method,status}`: requests answered, by route template
//!   (`/api/v1/tenants/{tenant}/users`, never the concrete path) or `unmatched`.
//! - `tessera_http_request_duration_seconds{route,method}`: their latency, a histogram.
//! - `tessera_tokens_issued_total{grant}`: successful token responses by grant type.
//! - `tessera_signin_failures_total`: wrong username or password on the login page.
//! - `tessera_store_up{backend}`, `tessera_state_up{backend}`: 1 when the database, or the
//!   state backend, answered a ping during this scrape (2 s limit), else 0.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The grant types counted by name; anything else (never issued today) is `other`.
const GRANTS: [&str; 4] =
    ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum of the observations in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(latency.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
    }
}

/// A map from a label set to its series, read-locked on the hot path; a write lock is taken
/// only the first time a label set is seen.
struct Family<K, V> {
    series: RwLock<BTreeMap<K, std::sync::Arc<V>>>,
}

impl<K: Ord + Clone, V: Default> Family<K, V> {
    fn new() -> Self {
        Self { series: RwLock::new(BTreeMap::new()) }
    }

    fn get(&self, key: &K) -> std::sync::Arc<V> {
        if let Some(v) = self.series.read().unwrap_or_else(|e| e.into_inner()).get(key) {
            return v.clone();
        }
        self.series.write().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_default().clone()
    }

    fn snapshot(&self) -> Vec<(K, std::sync::Arc<V>)> {
        self.series.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// The figures of one running server.
pub struct Metrics {
    requests: Family<(String, String, u16), AtomicU64>,
    latency: Family<(String, String), Histogram>,
    tokens: Family<&'static str, AtomicU64>,
    signin_failures: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Family::new(),
            latency: Family::new(),
            tokens: Family::new(),
            signin_failures: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// One answered request: `route` is the matched route template (or `unmatched`).
    pub fn record_request(&self, route: &str, method: &str, status: u16, latency: Duration) {
        // Any method may be sent; only the standard ones become label values.
        const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
        let method = METHODS.iter().find(|m| **m == method).copied().unwrap_or("other");
        self.requests.get(&(route.to_string(), method.to_string(), status)).fetch_add(1, Ordering::Relaxed);
        self.latency.get(&(route.to_string(), method.to_string())).observe(latency);
    }

    /// One successful token response for `grant_type`.
    pub fn token_issued(&self, grant_type: &str) {
        let grant = GRANTS.iter().find(|g| **g == grant_type).copied().unwrap_or("other");
        self.tokens.get(&grant).fetch_add(1, Ordering::Relaxed);
    }

    /// One failed sign-in (wrong username or password, or a disabled account).
    pub fn signin_failed(&self) {
        self.signin_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition, with the health of the stores as measured by the caller.
    pub fn render(&self, health: &[Health]) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP tessera_http_requests_total HTTP requests answered, by route template, method and status.\n",
        );
        out.push_str("# TYPE tessera_http_requests_total counter\n");
        for ((route, method, status), v) in self.requests.snapshot() {
            let _ = writeln!(
                out,
                "tessera_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {}",
                escape(&route),
                escape(&method),
                v.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP tessera_http_request_duration_seconds Time to answer an HTTP request.\n");
        out.push_str("# TYPE tessera_http_request_duration_seconds histogram\n");
        for ((route, method), h) in self.latency.snapshot() {
            let labels = format!("route=\"{}\",method=\"{}\"", escape(&route), escape(&method));
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "tessera_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "tessera_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}");
            let sum = h.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "tessera_http_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "tessera_http_request_duration_seconds_count{{{labels}}} {count}");
        }
        out.push_str("# HELP tessera_tokens_issued_total Successful token responses, by grant type.\n");
        out.push_str("# TYPE tessera_tokens_issued_total counter\n");
        for (grant, v) in self.tokens.snapshot() {
            let _ = writeln!(
                out,
                "tessera_tokens_issued_total{{grant=\"{}\"}} {}",
                escape(grant),
                v.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP tessera_signin_failures_total Failed sign-ins on the login page.\n");
        out.push_str("# TYPE tessera_signin_failures_total counter\n");
        let _ = writeln!(out, "tessera_signin_failures_total {}", self.signin_failures.load(Ordering::Relaxed));
        for (name, help) in [
            ("tessera_store_up", "1 when the database answered a ping during this scrape."),
            ("tessera_state_up", "1 when the state backend (memory or Redis) answered a ping during this scrape."),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for h in health.iter().filter(|h| h.metric == name) {
                let _ = writeln!(out, "{name}{{backend=\"{}\"}} {}", escape(h.backend), u8::from(h.up));
            }
        }
        out
    }
}

/// The health of one dependency, measured at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    /// `tessera_store_up` or `tessera_state_up`.
    pub metric: &'static str,
    pub backend: &'static str,
    pub up: bool,
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_health() {
        let m = Metrics::default();
        m.record_request("/token", "POST", 200, Duration::from_millis(3));
        m.record_request("/token", "POST", 200, Duration::from_millis(30));
        m.record_request("/token", "POST", 400, Duration::from_micros(100));
        m.token_issued("client_credentials");
        m.token_issued("made_up");
        m.signin_failed();
        let text = m.render(&[
            Health { metric: "tessera_store_up", backend: "postgres", up: true },
            Health { metric: "tessera_state_up", backend: "redis", up: false },
        ]);
        assert!(text.contains("tessera_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 2\n"));
        assert!(text.contains("tessera_http_requests_total{route=\"/token\",method=\"POST\",status=\"400\"} 1\n"));
        assert!(text.contains(
            "tessera_http_request_duration_seconds_bucket{route=\"/token\",method=\"POST\",le=\"0.005\"} 2\n"
        ));
        assert!(text.contains(
            "tessera_http_request_duration_seconds_bucket{route=\"/token\",method=\"POST\",le=\"+Inf\"} 3\n"
        ));
        assert!(text.contains("tessera_http_request_duration_seconds_count{route=\"/token\",method=\"POST\"} 3\n"));
        assert!(text.contains("tessera_tokens_issued_total{grant=\"client_credentials\"} 1\n"));
        assert!(text.contains("tessera_tokens_issued_total{grant=\"other\"} 1\n"));
        assert!(text.contains("tessera_signin_failures_total 1\n"));
        assert!(text.contains("tessera_store_up{backend=\"postgres\"} 1\n"));
        assert!(text.contains("tessera_state_up{backend=\"redis\"} 0\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
