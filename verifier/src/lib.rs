//! Verify Tessera access tokens and authorize requests offline.
//!
//! A service that receives `Authorization: Bearer <token>` builds one [`Verifier`] at start-up
//! with Tessera's issuer URL, its own audience and Tessera's public keys (its JWKS), then calls
//! [`Verifier::verify`] per request. The resulting [`AccessToken`] says who is calling, in which
//! tenant, and (from the `rb` role-bindings claim, `docs/CLAIMS.md`) what they may do:
//! [`AccessToken::allows_in_tenant`] decides `(tenant, permission, action, namespace)` exactly
//! as the Tessera server does, without a network call. The tenant is the request's (from its
//! path or host), so a token of another tenant is refused: there is no check without it.
//!
//! Secure by default: the algorithm is pinned by each key (a token's `alg` must equal it, so
//! `none` and HS256-with-the-public-key are refused), `typ` must be `at+jwt`, `iss` must match,
//! `aud` must contain the audience, and `exp`/`nbf` hold with a 30 s leeway. Every weaker
//! setting is named `insecure_*`. Time comes from a [`Clock`] you can replace in tests.
//! Verified tokens are cached (by SHA-256 of the token, until they expire), so a token seen
//! again skips the signature check; optional hooks refuse revoked tokens
//! ([`Verifier::with_revocation_check`]) and tokens with stale bindings
//! ([`Verifier::with_min_epoch`]) on every call.
//!
//! ```
//! use std::sync::Arc;
//! use tessera_verifier::{Action, FixedClock, JwkSet, Permission, Verifier, VerifyError};
//!
//! # const JWKS: &str = r#"{"keys":[{"alg":"EdDSA","crv":"Ed25519","kid":"2026-01-ed","kty":"OKP","use":"sig","x":"C8GEs9IW_I23j1a-Qnmcrhct6gRs5ANqTfC1XZngwH4"}]}"#;
//! # const TOKEN: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6IjIwMjYtMDEtZWQiLCJ0eXAiOiJhdCtqd3QifQ.eyJhdWQiOiJodHRwczovL2Zsb3dzLmV4YW1wbGUuY29tIiwiY2xpZW50X2lkIjoiZmxvd3MtdWkiLCJlcCI6MywiZXhwIjoxNzY3MDAwMzAwLCJpYXQiOjE3NjcwMDAwMDAsImlzcyI6Imh0dHBzOi8vc3NvLmV4YW1wbGUuY29tIiwianRpIjoiNGYxYzJhOWUiLCJwayI6InUiLCJyYiI6eyJuIjp7ImYyMDAwMDAwMDAwMDAwMCI6WyJwcm9kIiwic3RhZ2luZy5ldGwiXX0sInYiOjF9LCJzY29wZSI6Im9wZW5pZCBmbG93cyIsInN1YiI6InVzZXItNDIiLCJ0bnQiOiJhY21lIn0.a-p3yCYO-OH-8xrJEgFBEY7WDhFSvcQZqDz1QoMKq-aHL2O8i3ZgTEHEffgIfaIY-s6BwMfwSKkWBl9qe7O-CQ";
//! # const ISSUED_AT: i64 = 1_767_000_000;
//! // Tessera's JWKS (GET /jwks), read from a file or fetched at start-up.
//! let keys: JwkSet = serde_json::from_str(JWKS)?;
//!
//! // A clock stopped when the example token was issued; production code leaves the default
//! // system clock.
//! let clock = FixedClock::new(ISSUED_AT);
//! let verifier = Verifier::builder("https://sso.example.com")
//!     .audience("https://flows.example.com")
//!     .keys(keys)
//!     .clock(clock.clone())
//!     .build()?;
//!
//! let token = verifier.verify(TOKEN)?;
//! assert_eq!(token.tenant(), "acme");
//! assert_eq!(token.sub(), "user-42");
//! // The token's bindings: FLOW (all actions) and BLUEPRINT:READ on `prod` and `staging.etl`.
//! // Always ask for the tenant of the request: the same token allows nothing in `globex`.
//! assert!(token.allows_in_tenant("acme", Permission::Flow, Action::Update, Some("prod.engineering")));
//! assert!(!token.allows_in_tenant("acme", Permission::Flow, Action::Update, Some("production")));
//! assert!(!token.allows_in_tenant("acme", Permission::User, Action::Read, None));
//! assert!(!token.allows_in_tenant("globex", Permission::Flow, Action::Read, Some("prod")));
//!
//! // Refuse tokens on a revocation list, on every call (cached or not).
//! let revoked_jti = token.jti().to_owned();
//! let strict = verifier.clone().with_revocation_check(Arc::new(move |t| t.jti() == revoked_jti));
//! assert_eq!(strict.verify(TOKEN).unwrap_err(), VerifyError::Revoked);
//!
//! // Five minutes and the 30 s leeway later, the (cached) token has expired.
//! clock.advance(330);
//! assert_eq!(verifier.verify(TOKEN).unwrap_err(), VerifyError::Expired);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `jwks-fetch`: `VerifierBuilder::jwks_url` fetches the JWKS over HTTPS (reqwest with
//!   rustls, Tokio), honours `Cache-Control: max-age`, refetches when a token names an unknown
//!   `kid` (at most once per 10 s by default), and keeps the cached keys when a fetch fails;
//!   `Verifier::verify_async` waits for such a fetch.
//! - `axum`: [`AccessToken`] is an axum extractor (the [`Verifier`] comes from the state
//!   through `FromRef`); see the `axum` module.
//!
//! The default build depends on serde, serde_json, jsonwebtoken (with aws-lc-rs), base64 and
//! thiserror only, and never on the Tessera server.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod bindings;
mod cache;
mod clock;
mod error;
#[cfg(feature = "jwks-fetch")]
mod jwks;
mod keys;
mod permission;
mod token;
mod verifier;

pub use jsonwebtoken::jwk::{Jwk, JwkSet};

pub use crate::cache::CacheStats;
pub use crate::clock::{Clock, FixedClock, SystemClock};
pub use crate::error::{BuildError, VerifyError};
#[cfg(feature = "jwks-fetch")]
pub use crate::jwks::{DEFAULT_JWKS_MAX_AGE, DEFAULT_MIN_REFRESH_INTERVAL, JwksError};
pub use crate::permission::{Action, Permission, UnknownName};
pub use crate::token::{AccessToken, AdminRole, PrincipalKind};
pub use crate::verifier::{
    DEFAULT_CACHE_CAPACITY, DEFAULT_LEEWAY, MAX_LEEWAY, MAX_TOKEN_BYTES, MinEpoch, RevocationCheck, Verifier,
    VerifierBuilder,
};
