//! Why a token was refused, and why a verifier could not be built.

/// Why a token was refused. The messages say what failed and never echo token content, so
/// they may be logged; clients should only learn `invalid_token` (RFC 6750).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a compact JWS with a JSON header and the required claims, too large, or with an invalid `rb` claim.
    #[error("malformed token")]
    Malformed,
    /// The header has no `kid`, or names a key that is not in the key set.
    #[error("unknown signing key")]
    UnknownKey,
    /// No key set is loaded yet (the JWKS has not been fetched successfully).
    #[error("no verification keys are available yet")]
    KeysUnavailable,
    /// The header `alg` is not the algorithm the key is pinned to (this refuses `none` and HS256).
    #[error("token algorithm does not match the key's algorithm")]
    AlgorithmMismatch,
    /// The header `typ` is not `at+jwt` (RFC 9068): an ID token or another JWT.
    #[error("not an access token (typ must be at+jwt)")]
    WrongType,
    /// The signature does not verify with the key the header names.
    #[error("invalid signature")]
    BadSignature,
    /// The `iss` claim is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// The `aud` claim does not contain the configured audience.
    #[error("wrong audience")]
    WrongAudience,
    /// The token expired (`exp`, with the leeway).
    #[error("token expired")]
    Expired,
    /// The token is not valid yet (`nbf`, with the leeway).
    #[error("token not valid yet")]
    NotYetValid,
    /// The revocation check said the token is revoked.
    #[error("token revoked")]
    Revoked,
    /// The token's binding epoch `ep` is older than the principal's current epoch.
    #[error("token carries stale role bindings")]
    Stale,
}

/// Why a [`Verifier`](crate::Verifier) could not be built or given new keys; the message says
/// what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No audience was configured (and `insecure_skip_audience` was not called).
    #[error(
        "no audience configured: call .audience(\"https://your-service\") (the RFC 8707 resource your service answers to)"
    )]
    MissingAudience,
    /// The issuer is empty.
    #[error("the issuer must be the issuer URL Tessera puts in `iss`, not an empty string")]
    EmptyIssuer,
    /// No key set and no JWKS URL, or a key set without a single usable key.
    #[error("no usable verification key: pass .keys(jwk_set) with at least one signature key{}", if cfg!(feature = "jwks-fetch") { " or .jwks_url(url)" } else { "" })]
    NoKeys,
    /// A key of the key set cannot be used to verify signatures.
    #[error("key {kid:?} cannot be used: {reason}")]
    InvalidKey {
        /// The key's `kid` (empty when it has none).
        kid: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The leeway is above 5 minutes; use `insecure_leeway` if this is really intended.
    #[error("a leeway of {0} s is too large (at most 300 s); use insecure_leeway to allow it")]
    LeewayTooLarge(u64),
    /// The JWKS URL does not parse, or is plain `http` without `insecure_allow_http_jwks`.
    #[error("invalid JWKS URL: {0}")]
    InvalidJwksUrl(String),
    /// The HTTP client for the JWKS could not be created.
    #[error("cannot create the HTTP client: {0}")]
    HttpClient(String),
}
