//! JWTs signed by others: client assertions (`private_key_jwt`, RFC 7523) checked with the
//! client's registered keys, and workload tokens checked with an external issuer's JWKS.
//!
//! The algorithm is pinned by the key, never taken from the token: a key is usable with the
//! one algorithm its type (and its `alg` member, if any) allows, and the token's header must
//! name that algorithm. Symmetric keys, `none` and HS* are never accepted. Only the signature
//! is checked here; callers check the claims with [`Claims`].

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// How far the clocks of other parties may be off, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// Why a foreign JWT was refused. The text is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a well-formed signed JWT")]
    Malformed,
    #[error("no registered key matches the token's kid")]
    UnknownKey,
    #[error("the token's alg does not match its key")]
    WrongAlgorithm,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("{0}")]
    Claims(String),
}

struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// The usable signature keys of a JWK Set.
pub struct ForeignKeys {
    keys: Vec<Key>,
}

/// The one asymmetric algorithm a key may be used with.
fn pinned(jwk: &Jwk) -> Option<Algorithm> {
    let (default, allowed): (Algorithm, &[Algorithm]) = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, &[Algorithm::ES256])
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P384 => {
            (Algorithm::ES384, &[Algorithm::ES384])
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            (Algorithm::EdDSA, &[Algorithm::EdDSA])
        }
        // RFC 7518 section 3.3: RSA keys of 2048 bits or more.
        AlgorithmParameters::RSA(rsa) if rsa_bits(&rsa.n) >= 2048 => (
            Algorithm::RS256,
            &[
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
        ),
        _ => return None,
    };
    let declared = match jwk.common.key_algorithm {
        None => return Some(default),
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::ES384) => Algorithm::ES384,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::RS384) => Algorithm::RS384,
        Some(KeyAlgorithm::RS512) => Algorithm::RS512,
        Some(KeyAlgorithm::PS256) => Algorithm::PS256,
        Some(KeyAlgorithm::PS384) => Algorithm::PS384,
        Some(KeyAlgorithm::PS512) => Algorithm::PS512,
        Some(_) => return None,
    };
    allowed.contains(&declared).then_some(declared)
}

/// The size in bits of an RSA modulus given in base64url (leading zero bytes not counted).
fn rsa_bits(n: &str) -> usize {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n).unwrap_or_default();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    (bytes.len() - skip) * 8
}

impl ForeignKeys {
    /// The signature keys of `set`; keys for encryption, symmetric keys, unsupported types
    /// and `alg` members that do not fit the key are left out.
    pub fn from_set(set: &JwkSet) -> Self {
        let keys = set
            .keys
            .iter()
            .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .filter_map(|jwk| {
                let alg = pinned(jwk)?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some(Key { kid: jwk.common.key_id.clone(), alg, key })
            })
            .collect();
        ForeignKeys { keys }
    }

    /// Parses a JWK Set given by an administrator: an error says what is wrong with it.
    pub fn parse_registered(json: &Value) -> Result<Self, String> {
        let set: JwkSet =
            serde_json::from_value(json.clone()).map_err(|_| "must be a JWK Set: {\"keys\": [...]}".to_string())?;
        if set.keys.is_empty() {
            return Err("must hold at least one key".into());
        }
        for jwk in &set.keys {
            if pinned(jwk).is_none() || DecodingKey::from_jwk(jwk).is_err() {
                return Err(
                    "each key must be a public EC P-256/P-384, Ed25519 or RSA (2048 bits or more) key whose alg (if any) fits its type"
                        .into(),
                );
            }
        }
        // The parsed keys drop unknown members: look for private material in the JSON itself.
        let raw_keys = json.get("keys").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if raw_keys.iter().any(|k| k.get("d").is_some() || k.get("p").is_some()) {
            return Err("register public keys only: a key holds private material (d)".into());
        }
        if set.keys.len() > 1 && set.keys.iter().any(|k| k.common.key_id.is_none()) {
            return Err("when there are several keys, each needs a kid".into());
        }
        Ok(Self::from_set(&set))
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key with this `kid` is known (for refreshing a fetched set on a miss).
    pub fn has_kid(&self, kid: Option<&str>) -> bool {
        self.select(kid).is_some()
    }

    fn select(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }

    /// Verifies the signature of `token` and returns its claims, unchecked.
    pub fn verify_signature(&self, token: &str) -> Result<Claims, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let key = self.select(header.kid.as_deref()).ok_or(JwtError::UnknownKey)?;
        if header.alg != key.alg {
            return Err(JwtError::WrongAlgorithm);
        }
        let mut v = Validation::new(key.alg);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => JwtError::BadSignature,
                _ => JwtError::Malformed,
            }
        })?;
        Ok(Claims(data.claims))
    }
}

/// The `iss` of a JWT, read without verifying anything: only to find out whose keys to
/// verify it with.
pub fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

/// The claims of a verified foreign JWT.
#[derive(Debug, Clone)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    fn int(&self, name: &str) -> Result<Option<i64>, JwtError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| JwtError::Claims(format!("the {name} claim must be a number"))),
        }
    }

    /// `exp` present and not passed, `nbf` and `iat` not ahead (with [`LEEWAY_SECS`]).
    /// Returns `exp`.
    pub fn check_times(&self, now: i64) -> Result<i64, JwtError> {
        let exp = self.int("exp")?.ok_or_else(|| JwtError::Claims("the token has no exp claim".into()))?;
        if exp.saturating_add(LEEWAY_SECS) <= now {
            return Err(JwtError::Claims("the token has expired".into()));
        }
        if self.int("nbf")?.is_some_and(|nbf| nbf.saturating_sub(LEEWAY_SECS) > now) {
            return Err(JwtError::Claims("the token is not valid yet (nbf)".into()));
        }
        if self.int("iat")?.is_some_and(|iat| iat.saturating_sub(LEEWAY_SECS) > now) {
            return Err(JwtError::Claims("the token was issued in the future (iat)".into()));
        }
        Ok(exp)
    }

    /// Whether `aud` (a string or an array of strings) contains `audience`.
    pub fn has_audience(&self, audience: &str) -> bool {
        match self.0.get("aud") {
            Some(Value::String(s)) => s == audience,
            Some(Value::Array(list)) => list.iter().any(|v| v.as_str() == Some(audience)),
            _ => false,
        }
    }

    /// A claim as text for matching: strings as they are, numbers and booleans as JSON.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            v @ (Value::Number(_) | Value::Bool(_)) => Some(v.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(json: Value) -> JwkSet {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn symmetric_and_mismatched_keys_are_left_out() {
        let keys = ForeignKeys::from_set(&set(serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "e", "alg": "ES256"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ok"}
        ]})));
        assert_eq!(keys.keys.len(), 1);
        assert!(keys.has_kid(Some("ok")));
        assert!(!keys.has_kid(Some("h")));
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_left_out() {
        let n = |bytes: usize| crate::crypto::b64url(&vec![0xc3; bytes]);
        let keys = ForeignKeys::from_set(&set(serde_json::json!({"keys": [
            {"kty": "RSA", "n": n(128), "e": "AQAB", "kid": "small"},
            {"kty": "RSA", "n": n(256), "e": "AQAB", "kid": "ok"}
        ]})));
        assert!(!keys.has_kid(Some("small")));
        assert!(keys.has_kid(Some("ok")));
    }

    #[test]
    fn registered_sets_must_be_public_asymmetric_keys() {
        assert!(ForeignKeys::parse_registered(&serde_json::json!({"keys": []})).is_err());
        assert!(
            ForeignKeys::parse_registered(&serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})).is_err()
        );
        assert!(ForeignKeys::parse_registered(&serde_json::json!([1, 2])).is_err());
        assert!(
            ForeignKeys::parse_registered(&serde_json::json!({"keys": [
                {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
            ]}))
            .is_ok()
        );
    }

    #[test]
    fn times_are_checked_with_leeway() {
        let c = Claims(serde_json::from_value(serde_json::json!({"exp": 1000, "iat": 900})).unwrap());
        assert_eq!(c.check_times(1000).unwrap(), 1000);
        assert!(c.check_times(1000 + LEEWAY_SECS).is_err());
        assert!(Claims(Map::new()).check_times(0).is_err());
        let future = Claims(serde_json::from_value(serde_json::json!({"exp": 5000, "nbf": 2000})).unwrap());
        assert!(future.check_times(1000).is_err());
    }

    #[test]
    fn unverified_issuer_reads_the_payload() {
        let token = format!("e30.{}.sig", crate::crypto::b64url(br#"{"iss":"https://ci.example"}"#));
        assert_eq!(unverified_issuer(&token).as_deref(), Some("https://ci.example"));
        assert_eq!(unverified_issuer("garbage"), None);
    }
}
