//! One key pair, parsed once: the aws-lc-rs signer, the JOSE headers it signs under, its
//! public JWK and its `kid` (the RFC 7638 thumbprint). Also key generation, PEM encoding
//! and private-file helpers.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;

use super::{Alg, KeyError, Typ};
use crate::crypto::{b64url, sha256};

pub(super) enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ed(Ed25519KeyPair),
}

pub(super) struct SigningKey {
    pub alg: Alg,
    pub kid: String,
    pair: Pair,
    /// base64url of the JOSE header, for each `typ`.
    header_at: String,
    header_jwt: String,
    pub decoding: jsonwebtoken::DecodingKey,
    pub jwk: serde_json::Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn from_pkcs8(alg: Alg, der: &[u8]) -> Result<Self, String> {
        let (pair, jwk_fields): (Pair, Vec<(&str, String)>) = match alg {
            Alg::ES256 => {
                let p = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|e| format!("not a P-256 key: {e}"))?;
                let point = p.public_key().as_ref().to_vec();
                if point.len() != 65 || point[0] != 4 {
                    return Err("unexpected P-256 public key encoding".into());
                }
                let fields = vec![
                    ("crv", "P-256".to_string()),
                    ("kty", "EC".to_string()),
                    ("x", b64url(&point[1..33])),
                    ("y", b64url(&point[33..65])),
                ];
                (Pair::Ec(p), fields)
            }
            Alg::RS256 => {
                let p = aws_lc_rs::rsa::KeyPair::from_pkcs8(der).map_err(|e| format!("not an RSA key: {e}"))?;
                if p.public_modulus_len() < 256 {
                    return Err("RSA keys must have at least 2048 bits".into());
                }
                let public = p.public_key();
                let fields = vec![
                    ("e", b64url(public.exponent().big_endian_without_leading_zero())),
                    ("kty", "RSA".to_string()),
                    ("n", b64url(public.modulus().big_endian_without_leading_zero())),
                ];
                (Pair::Rsa(p), fields)
            }
            Alg::EdDSA => {
                let p = Ed25519KeyPair::from_pkcs8(der).map_err(|e| format!("not an Ed25519 key: {e}"))?;
                let fields = vec![
                    ("crv", "Ed25519".to_string()),
                    ("kty", "OKP".to_string()),
                    ("x", b64url(p.public_key().as_ref())),
                ];
                (Pair::Ed(p), fields)
            }
        };
        // RFC 7638 thumbprint: the required members, sorted, no white space.
        let canonical =
            format!("{{{}}}", jwk_fields.iter().map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect::<Vec<_>>().join(","));
        let kid = b64url(&sha256(canonical.as_bytes()));
        let mut jwk: HashMap<&str, String> = jwk_fields.into_iter().collect();
        let decoding = match alg {
            Alg::ES256 => jsonwebtoken::DecodingKey::from_ec_components(&jwk["x"], &jwk["y"]),
            Alg::RS256 => jsonwebtoken::DecodingKey::from_rsa_components(&jwk["n"], &jwk["e"]),
            Alg::EdDSA => jsonwebtoken::DecodingKey::from_ed_components(&jwk["x"]),
        }
        .map_err(|e| format!("public key: {e}"))?;
        jwk.insert("kid", kid.clone());
        jwk.insert("alg", alg.as_str().to_string());
        jwk.insert("use", "sig".to_string());
        let header = |typ: Typ| {
            b64url(serde_json::json!({ "alg": alg.as_str(), "typ": typ.as_str(), "kid": kid }).to_string().as_bytes())
        };
        Ok(Self {
            alg,
            header_at: header(Typ::AccessToken),
            header_jwt: header(Typ::Jwt),
            kid,
            pair,
            decoding,
            jwk: serde_json::to_value(&jwk).unwrap_or_default(),
        })
    }

    /// A compact JWS of `payload` (already JSON): header, payload and signature.
    pub fn sign(&self, rng: &SystemRandom, typ: Typ, payload: &[u8]) -> Result<String, KeyError> {
        let header = match typ {
            Typ::AccessToken => &self.header_at,
            Typ::Jwt => &self.header_jwt,
        };
        let mut out = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
        out.push_str(header);
        out.push('.');
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(payload, &mut out);
        let sig = match &self.pair {
            Pair::Ec(p) => p.sign(rng, out.as_bytes()).map_err(|_| KeyError::Sign)?.as_ref().to_vec(),
            Pair::Ed(p) => p.sign(out.as_bytes()).as_ref().to_vec(),
            Pair::Rsa(p) => {
                let mut sig = vec![0u8; p.public_modulus_len()];
                p.sign(&signature::RSA_PKCS1_SHA256, rng, out.as_bytes(), &mut sig).map_err(|_| KeyError::Sign)?;
                sig
            }
        };
        out.push('.');
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&sig, &mut out);
        Ok(out)
    }
}

/// A fresh private key of `alg`, as PKCS#8 DER.
pub(super) fn generate(alg: Alg) -> Result<Vec<u8>, KeyError> {
    let rng = SystemRandom::new();
    match alg {
        Alg::ES256 => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| KeyError::Generate),
        Alg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng).map(|d| d.as_ref().to_vec()).map_err(|_| KeyError::Generate),
        Alg::RS256 => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .and_then(|k| k.as_der())
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| KeyError::Generate),
    }
}

pub(super) fn pem_encode(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

pub(super) fn pem_decode(pem: &str) -> Option<Vec<u8>> {
    let body = pem.trim().strip_prefix("-----BEGIN PRIVATE KEY-----")?.strip_suffix("-----END PRIVATE KEY-----")?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Writes a new file readable by its owner only (never replaces an existing one).
pub(super) fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

pub(super) fn file_mode(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0
    }
}

pub(super) fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}
