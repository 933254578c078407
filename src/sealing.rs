//! Secrets Tessera must be able to read back (an upstream provider's client secret), sealed
//! at rest with AES-256-GCM (aws-lc-rs) under the instance's sealing key.
//!
//! A sealed value is `v1.` followed by base64url(nonce || ciphertext || tag); the associated
//! data names what the value belongs to (for example `idp:{tenant}/{id}`), so a sealed value
//! copied to another row does not open there. The key is 32 random bytes in a file (mode
//! 0600), generated on first start next to the signing keys unless the configuration names
//! one; every instance of a deployment must share it.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::crypto::{b64url, b64url_decode, random_bytes};

const PREFIX: &str = "v1.";
const KEY_LEN: usize = 32;

/// The key that seals and opens secrets. `Debug` never shows it.
pub struct SealingKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    #[error("the sealing key file {0} is not 32 bytes (or 64 hex digits)")]
    BadKeyFile(String),
    #[error("cannot read or write the sealing key file {0}: {1}")]
    Io(String, String),
    #[error("a sealed value does not open with this sealing key (wrong key, or tampered)")]
    Open,
}

impl SealingKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealingError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealingError::BadKeyFile("<bytes>".into()))?;
        Ok(Self { key: LessSafeKey::new(unbound) })
    }

    /// A key given as text: 64 hex digits.
    pub fn from_text(text: &str) -> Result<Self, SealingError> {
        Self::from_bytes(
            &decode_key(text.as_bytes())
                .filter(|k| k.len() == KEY_LEN && text.trim().len() == 64)
                .ok_or_else(|| SealingError::BadKeyFile("<configuration>".into()))?,
        )
    }

    /// A random key that lives as long as the process (tests, and a single in-memory node).
    pub fn ephemeral() -> Self {
        Self::from_bytes(&random_bytes(KEY_LEN)).expect("32 random bytes are an AES-256 key")
    }

    /// Reads the key file (32 raw bytes, or 64 hex digits with optional surrounding
    /// whitespace); when `create` and the file is missing, writes a new random key (0600).
    pub fn load_or_generate(path: &Path, create: bool) -> Result<Self, SealingError> {
        let shown = path.display().to_string();
        match std::fs::read(path) {
            Ok(raw) => Self::from_bytes(&decode_key(&raw).ok_or_else(|| SealingError::BadKeyFile(shown.clone()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let bytes = random_bytes(KEY_LEN);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| SealingError::Io(shown.clone(), e.to_string()))?;
                }
                write_private(path, crate::crypto::hex(&bytes).as_bytes())
                    .map_err(|e| SealingError::Io(shown.clone(), e.to_string()))?;
                Self::from_bytes(&bytes)
            }
            Err(e) => Err(SealingError::Io(shown, e.to_string())),
        }
    }

    /// Seals `plaintext` for the context `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> String {
        let nonce_bytes = random_bytes(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&nonce_bytes).expect("12 bytes are a GCM nonce");
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .expect("AES-GCM sealing of an in-memory buffer does not fail");
        let mut out = nonce_bytes;
        out.extend_from_slice(&buf);
        format!("{PREFIX}{}", b64url(&out))
    }

    /// Opens a value sealed for the same context.
    pub fn open(&self, sealed: &str, aad: &str) -> Result<Vec<u8>, SealingError> {
        let raw = sealed.strip_prefix(PREFIX).and_then(b64url_decode).ok_or(SealingError::Open)?;
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealingError::Open);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealingError::Open)?;
        let mut buf = ct.to_vec();
        let plain =
            self.key.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf).map_err(|_| SealingError::Open)?;
        Ok(plain.to_vec())
    }
}

fn decode_key(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() == KEY_LEN {
        return Some(raw.to_vec());
    }
    let text = std::str::from_utf8(raw).ok()?.trim();
    if text.len() != KEY_LEN * 2 {
        return None;
    }
    (0..KEY_LEN).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()).collect()
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_in_the_same_context_with_the_same_key() {
        let k = SealingKey::ephemeral();
        let sealed = k.seal(b"s3cret", "idp:acme/okta");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("s3cret"));
        assert_eq!(k.open(&sealed, "idp:acme/okta").unwrap(), b"s3cret");
        assert!(k.open(&sealed, "idp:other/okta").is_err(), "another row's context");
        assert!(SealingKey::ephemeral().open(&sealed, "idp:acme/okta").is_err(), "another key");
        let mut tampered = sealed.clone();
        tampered.push('A');
        assert!(k.open(&tampered, "idp:acme/okta").is_err());
        assert!(k.open("v1.", "x").is_err());
        assert!(k.open("garbage", "x").is_err());
        assert_ne!(k.seal(b"s3cret", "a"), k.seal(b"s3cret", "a"), "a fresh nonce each time");
    }

    #[test]
    fn the_key_file_is_generated_once_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/sealing.key");
        assert!(SealingKey::load_or_generate(&path, false).is_err(), "missing and not created");
        let a = SealingKey::load_or_generate(&path, true).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let b = SealingKey::load_or_generate(&path, true).unwrap();
        assert_eq!(b.open(&a.seal(b"x", "c"), "c").unwrap(), b"x");
        std::fs::write(&path, "short").unwrap();
        assert!(matches!(SealingKey::load_or_generate(&path, true), Err(SealingError::BadKeyFile(_))));
    }
}
