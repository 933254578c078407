//! Test keys (generated with aws-lc-rs), a signer that writes any header we like, and the
//! claims Tessera puts in an access token.
#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera_verifier::{FixedClock, JwkSet, Verifier};

pub const ISSUER: &str = "https://sso.example.com";
pub const AUDIENCE: &str = "https://flows.example.com";
/// The tests' "now".
pub const NOW: i64 = 1_767_000_000;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ed(Ed25519KeyPair),
}

/// A signing key and its public JWK.
pub struct TestKey {
    pub kid: String,
    pub alg: &'static str,
    pair: Pair,
    pub jwk: Value,
    /// The public key as the JWK carries it (EC point, RSA modulus, Ed25519 key).
    pub public_bytes: Vec<u8>,
}

impl TestKey {
    pub fn es256(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]), "kid": kid, "alg": "ES256", "use": "sig" });
        TestKey { kid: kid.into(), alg: "ES256", pair: Pair::Ec(pair), jwk, public_bytes: point }
    }

    pub fn rs256(kid: &str) -> TestKey {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let jwk = json!({ "kty": "RSA", "n": b64(&n), "e": b64(&e), "kid": kid, "alg": "RS256", "use": "sig" });
        TestKey { kid: kid.into(), alg: "RS256", pair: Pair::Rsa(pair), jwk, public_bytes: n }
    }

    pub fn eddsa(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let jwk =
            json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(&public), "kid": kid, "alg": "EdDSA", "use": "sig" });
        TestKey { kid: kid.into(), alg: "EdDSA", pair: Pair::Ed(pair), jwk, public_bytes: public }
    }

    /// Signs `header.payload` with this key, whatever the header says.
    pub fn sign_raw(&self, signing_input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ec(p) => p.sign(&rng, signing_input).unwrap().as_ref().to_vec(),
            Pair::Ed(p) => p.sign(signing_input).as_ref().to_vec(),
            Pair::Rsa(p) => {
                let mut sig = vec![0u8; p.public_modulus_len()];
                p.sign(&signature::RSA_PKCS1_SHA256, &rng, signing_input, &mut sig).unwrap();
                sig
            }
        }
    }

    /// A compact JWS with exactly this header and these claims, signed by this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = self.sign_raw(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// The public key as aws-lc-rs verifies it directly (for the benchmark's baseline).
    pub fn raw_public_key(&self) -> signature::UnparsedPublicKey<Vec<u8>> {
        match &self.pair {
            Pair::Ec(p) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, p.public_key().as_ref().to_vec())
            }
            Pair::Ed(p) => signature::UnparsedPublicKey::new(&signature::ED25519, p.public_key().as_ref().to_vec()),
            Pair::Rsa(p) => signature::UnparsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                p.public_key().as_ref().to_vec(),
            ),
        }
    }

    /// The header Tessera writes: this key's `alg` and `kid`, `typ: at+jwt`.
    pub fn header(&self) -> Value {
        json!({ "alg": self.alg, "typ": "at+jwt", "kid": self.kid })
    }

    /// A token as Tessera issues it.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }
}

/// A JWK set of these keys.
pub fn jwks(keys: &[&TestKey]) -> JwkSet {
    serde_json::from_value(json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })).unwrap()
}

/// The claims of a user token issued at `NOW` for five minutes, with the bindings of the
/// CLAIMS.md example.
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "user-42",
        "aud": AUDIENCE,
        "exp": NOW + 300,
        "iat": NOW,
        "jti": "jti-1",
        "client_id": "flows-ui",
        "scope": "openid profile flows",
        "auth_time": NOW - 10,
        "tnt": "acme",
        "pk": "u",
        "ep": 3,
        "rb": { "v": 1, "n": { "f20000000000000": ["prod", "staging.etl"], "020000000000000": ["dev"] } },
        "gid": "grant-1"
    })
}

/// `claims()` with some members replaced (a `null` removes the member).
pub fn claims_with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// A verifier with the defaults, `keys`, and a clock at `NOW`.
pub fn verifier(keys: &[&TestKey]) -> (Verifier, FixedClock) {
    let clock = FixedClock::new(NOW);
    let v = Verifier::builder(ISSUER).audience(AUDIENCE).keys(jwks(keys)).clock(clock.clone()).build().unwrap();
    (v, clock)
}
