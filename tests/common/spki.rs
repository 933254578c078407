//! The public key as an attacker has it: the DER SubjectPublicKeyInfo (RFC 5280) of a public
//! JWK and its PEM form, for the HS256 key-confusion forgeries of tests/vectors.rs and
//! tests/protocol.rs.
#![allow(dead_code)]

use base64::Engine;
use serde_json::Value;

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn der_uint(big_endian: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = big_endian.iter().copied().skip_while(|b| *b == 0).collect();
    if v.first().is_none_or(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    der(0x02, &v)
}

/// The DER SubjectPublicKeyInfo (RFC 5280) of a public JWK: what `openssl pkey -pubout
/// -outform DER` prints for the key.
pub fn spki_der(jwk: &Value) -> Vec<u8> {
    const EC_PUBLIC_KEY_P256: &[u8] = &[
        0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
        0x07,
    ];
    const RSA_ENCRYPTION_NULL: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    let field = |name: &str| b64url_decode(jwk[name].as_str().unwrap()).unwrap();
    let (algorithm, key) = match jwk["kty"].as_str().unwrap() {
        "EC" => (EC_PUBLIC_KEY_P256, [&[4u8][..], &field("x"), &field("y")].concat()),
        "RSA" => (RSA_ENCRYPTION_NULL, der(0x30, &[der_uint(&field("n")), der_uint(&field("e"))].concat())),
        "OKP" => (ED25519, field("x")),
        other => panic!("unexpected key type {other}"),
    };
    der(0x30, &[der(0x30, algorithm), der(0x03, &[&[0u8][..], &key].concat())].concat())
}

/// `-----BEGIN PUBLIC KEY-----` PEM of a DER SubjectPublicKeyInfo (64-column lines).
pub fn spki_pem(spki: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
}
