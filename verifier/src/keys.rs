//! Verification keys from a JWK set, each pinned to one signature algorithm.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::error::BuildError;

/// One key, usable only with its pinned algorithm.
pub(crate) struct KeyEntry {
    pub(crate) alg: Algorithm,
    pub(crate) alg_name: &'static str,
    pub(crate) key: DecodingKey,
    /// The key material as JSON, to tell whether a refreshed set changed.
    material: String,
}

/// The keys by `kid`, plus a generation number that changes whenever the set does (cached
/// tokens are only valid for the generation that verified them).
#[derive(Default)]
pub(crate) struct KeySet {
    keys: HashMap<String, KeyEntry>,
    pub(crate) generation: u64,
}

/// What to do with a key that cannot be used.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Refuse the whole set (keys the operator passed in).
    Strict,
    /// Skip the key (a fetched JWKS may list keys this crate has no use for).
    #[cfg_attr(not(feature = "jwks-fetch"), allow(dead_code))]
    Lenient,
}

/// The JWS name of an asymmetric algorithm.
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        // Symmetric algorithms are never pinned; the name is only for completeness.
        _ => "HS",
    }
}

/// Whether the key is meant for something other than verifying signatures (`use: enc`, or
/// `key_ops` without `verify`): skipped silently.
fn not_for_signatures(jwk: &Jwk) -> bool {
    matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_)))
        || jwk.common.key_operations.as_ref().is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
}

fn decoded_len(b64: &str) -> Result<usize, String> {
    URL_SAFE_NO_PAD.decode(b64).map(|v| v.len()).map_err(|_| "key material is not base64url".to_owned())
}

fn expect_len(b64: &str, len: usize, what: &str) -> Result<(), String> {
    if decoded_len(b64)? == len { Ok(()) } else { Err(format!("{what} must be {len} bytes")) }
}

/// The algorithm a key is pinned to: its `alg` member, else derived from the key type (EC
/// P-256: ES256, EC P-384: ES384, OKP Ed25519: EdDSA, RSA: RS256). The `alg` member must fit
/// the key type; symmetric keys and unknown key types are refused. Also checks the sizes of
/// the key material.
fn pinned_algorithm(jwk: &Jwk) -> Result<Algorithm, String> {
    let (allowed, default): (&[Algorithm], Algorithm) = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => {
                expect_len(&ec.x, 32, "a P-256 x coordinate")?;
                expect_len(&ec.y, 32, "a P-256 y coordinate")?;
                (&[Algorithm::ES256], Algorithm::ES256)
            }
            EllipticCurve::P384 => {
                expect_len(&ec.x, 48, "a P-384 x coordinate")?;
                expect_len(&ec.y, 48, "a P-384 y coordinate")?;
                (&[Algorithm::ES384], Algorithm::ES384)
            }
            _ => return Err("unsupported elliptic curve (P-256 and P-384 are supported)".into()),
        },
        AlgorithmParameters::RSA(rsa) => {
            if decoded_len(&rsa.n)? < 256 {
                return Err("RSA keys must have at least 2048 bits".into());
            }
            if decoded_len(&rsa.e)? == 0 {
                return Err("the RSA exponent is empty".into());
            }
            (
                &[
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ],
                Algorithm::RS256,
            )
        }
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => {
                expect_len(&okp.x, 32, "an Ed25519 public key")?;
                (&[Algorithm::EdDSA], Algorithm::EdDSA)
            }
            _ => return Err("unsupported OKP curve (Ed25519 is supported)".into()),
        },
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric (oct) keys are never accepted: access tokens are signed with public keys".into());
        }
        _ => return Err("unsupported key type (EC, RSA and OKP are supported)".into()),
    };
    let Some(declared) = jwk.common.key_algorithm else { return Ok(default) };
    let declared = match declared {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        other => return Err(format!("alg {other} is not an asymmetric signature algorithm")),
    };
    if allowed.contains(&declared) {
        Ok(declared)
    } else {
        Err(format!("alg {} does not fit the key type", alg_name(declared)))
    }
}

impl KeySet {
    /// The usable keys of `set`. In [`Mode::Strict`] a key that is not usable (no `kid`, an
    /// unsupported or symmetric type, an `alg` that does not fit, a duplicate `kid`) is an
    /// error; in [`Mode::Lenient`] it is skipped (both copies, for a duplicate `kid`). Keys
    /// meant for encryption are skipped in both modes.
    pub(crate) fn from_jwks(set: &JwkSet, mode: Mode) -> Result<KeySet, BuildError> {
        let mut keys: HashMap<String, KeyEntry> = HashMap::new();
        let mut duplicates: Vec<String> = Vec::new();
        for jwk in &set.keys {
            if not_for_signatures(jwk) {
                continue;
            }
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            let invalid = |reason: String| BuildError::InvalidKey { kid: kid.clone(), reason };
            let entry = (|| {
                if kid.is_empty() {
                    return Err("a key without a kid cannot be selected (Tessera names the key in every token)".into());
                }
                let alg = pinned_algorithm(jwk)?;
                let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("invalid key material: {e}"))?;
                let material = serde_json::to_string(&jwk.algorithm).unwrap_or_default();
                Ok(KeyEntry { alg, alg_name: alg_name(alg), key, material })
            })();
            match entry {
                Ok(entry) => {
                    if keys.insert(kid.clone(), entry).is_some() {
                        if mode == Mode::Strict {
                            return Err(invalid("the kid appears more than once in the set".into()));
                        }
                        duplicates.push(kid);
                    }
                }
                Err(reason) if mode == Mode::Strict => return Err(invalid(reason)),
                Err(_) => {}
            }
        }
        for kid in duplicates {
            keys.remove(&kid);
        }
        Ok(KeySet { keys, generation: 0 })
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&KeyEntry> {
        self.keys.get(kid)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids, sorted.
    pub(crate) fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.keys.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// Whether both sets hold the same keys with the same algorithms.
    pub(crate) fn same_keys(&self, other: &KeySet) -> bool {
        self.keys.len() == other.keys.len()
            && self
                .keys
                .iter()
                .all(|(kid, a)| other.keys.get(kid).is_some_and(|b| a.alg == b.alg && a.material == b.material))
    }
}
