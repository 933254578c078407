//! Argon2id for user passwords (and only for passwords: generated secrets use SHA-256).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The current parameters: OWASP's recommendation for Argon2id (19 MiB, 2 iterations, 1
/// lane). A hash made with others is replaced at the next successful sign-in
/// ([`needs_rehash`]), so changing them here upgrades every active account.
fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters")
}

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// Whether a stored hash was made with another algorithm, version or parameters than today's
/// (or cannot be read): after a successful verification, store a new hash.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return true };
    let current = params();
    parsed.algorithm != Algorithm::Argon2id.ident()
        || parsed.version != Some(Version::V0x13 as u32)
        || Params::try_from(&parsed).map_or(true, |p| {
            (p.m_cost(), p.t_cost(), p.p_cost()) != (current.m_cost(), current.t_cost(), current.p_cost())
        })
}

/// Hashes a password into a PHC string (salt included).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&crate::crypto::random_bytes(16)).expect("16 bytes is a valid salt");
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2id hashing cannot fail with valid parameters")
        .to_string()
}

/// Verifies a password against a PHC string in constant time, with the parameters the
/// string names (so hashes made with older parameters still verify).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A real hash of a random password, verified against when the account does not exist so that
/// a wrong username costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&crate::crypto::random_token(16)))
}

/// Password policy: length only (NIST SP 800-63B), no composition rules.
pub fn check_policy(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 8 {
        return Err("a password needs at least 8 characters");
    }
    if n > 256 {
        return Err("a password may have at most 256 characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn hashes_with_other_parameters_verify_and_need_a_rehash() {
        let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 3, 1, None).unwrap());
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let h = old.hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(verify_password("correct horse", &h));
        assert!(needs_rehash(&h));
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params());
        let h = argon2i.hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(needs_rehash(&h), "another algorithm");
        assert!(!needs_rehash(&hash_password("correct horse")));
        assert!(needs_rehash("not a phc string"));
    }
}
