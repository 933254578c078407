//! Test vectors for verifiers in any language (`tests/vectors/v1.json`): a JWKS, tokens, and
//! for each token whether it must verify and the authorization decisions it must give. The
//! decisions are written here by hand from docs/CLAIMS.md; the server must agree with every
//! one, and the server's own token verification (the one `/userinfo` and the admin API use)
//! must accept and refuse exactly the tokens the file says.
//!
//! The vectors are signed by test-only keys kept in `tests/vectors/v1-keys/` (a Tessera keys
//! folder: `keyring.json` and PKCS#8 PEM files), so that the server can load the very keys of
//! the file. They sign nothing else; never use them for anything but these vectors.
//! `TESSERA_UPDATE_VECTORS=1 cargo test --test vectors` regenerates the tokens with those
//! keys (and generates keys if the folder is missing). Without it, a missing file is a failure,
//! never regenerated: the file is the reference other verifiers are checked against. Under CI
//! the variable itself is refused.

#[path = "common/spki.rs"]
mod spki;
#[path = "common/update.rs"]
mod update;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use serde_json::{Value, json};
use tessera::crypto::{b64url, b64url_decode};
use tessera::keys::{Alg, KeyFolder, KeyPolicy, KeySet, Typ, VerifyError};
use tessera::oauth::tokens::AccessClaims;
use tessera::rbac::{Action, EffectiveAccess, Namespace, Permission, RoleBindingsClaim};

use spki::{spki_der, spki_pem};

const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "https://kestra.example.test";
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v1.json")
}

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v1-keys")
}

/// The vector keys as the server loads them: the keys folder, copied into a private temporary
/// folder (git does not keep the files' 0600 mode), loaded by [`KeyFolder`] as of `NOW`.
fn server_keys() -> (KeySet, tempfile::TempDir) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(keys_dir()).expect("tests/vectors/v1-keys") {
        let entry = entry.unwrap();
        let to = tmp.path().join(entry.file_name());
        std::fs::copy(entry.path(), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let keys = KeyFolder::new(tmp.path(), KeyPolicy::default()).load(NOW).unwrap();
    (keys, tmp)
}

/// The vectors file, regenerated first (once per run) when asked to.
fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let file = path();
        if update::requested("TESSERA_UPDATE_VECTORS") {
            if !keys_dir().join("keyring.json").exists() {
                KeyFolder::new(keys_dir(), KeyPolicy::default()).load_or_generate(NOW).unwrap();
            }
            let (keys, _tmp) = server_keys();
            let doc = generate(&keys);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
            doc
        } else {
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
                panic!(
                    "{} cannot be read ({e}): restore it from git; regenerate it only on purpose, with \
                     TESSERA_UPDATE_VECTORS=1 cargo test --test vectors",
                    file.display()
                )
            });
            serde_json::from_str(&text).expect("tests/vectors/v1.json is JSON")
        }
    })
}

/// An HS256 token with `kid`, keyed with `secret` (the key-confusion attack).
fn hs256(kid: &Value, c: &Value, secret: &[u8]) -> String {
    let header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid });
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(c.to_string().as_bytes()));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    format!("{input}.{}", b64url(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref()))
}

fn claims(sub: &str, tnt: &str, extra: Value) -> Value {
    let mut c = json!({
        "iss": ISSUER, "sub": sub, "aud": AUDIENCE, "iat": NOW - 60, "exp": NOW + 240,
        "jti": format!("jti-{sub}"), "client_id": "kestra-ui", "scope": "openid",
        "tnt": tnt, "pk": "u", "ep": 3,
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

/// (tenant, permission, action, namespace or null, allowed)
fn d(t: &str, p: &str, a: &str, ns: Option<&str>, allowed: bool) -> Value {
    json!({ "tenant": t, "permission": p, "action": a, "namespace": ns, "allowed": allowed })
}

fn bindings_decisions() -> Vec<Value> {
    vec![
        d("acme", "FLOW", "READ", Some("prod"), true),
        d("acme", "FLOW", "READ", Some("prod.engineering"), true),
        d("acme", "FLOW", "READ", Some("prod.engineering.etl"), true),
        d("acme", "FLOW", "READ", Some("production"), false),
        d("acme", "FLOW", "READ", Some("pro"), false),
        d("acme", "FLOW", "DELETE", Some("prod"), true),
        d("acme", "BLUEPRINT", "READ", Some("prod"), true),
        d("acme", "BLUEPRINT", "UPDATE", Some("prod"), false),
        d("acme", "FLOW", "READ", Some("staging.etl"), true),
        d("acme", "FLOW", "READ", Some("staging"), false),
        d("acme", "BLUEPRINT", "READ", Some("dev"), true),
        d("acme", "FLOW", "READ", Some("dev"), false),
        d("acme", "USER", "READ", None, true),
        d("acme", "USER", "READ", Some("anything.at.all"), true),
        d("acme", "USER", "UPDATE", None, false),
        d("acme", "FLOW", "READ", None, false),
        d("globex", "FLOW", "READ", Some("prod"), false),
        d("globex", "USER", "READ", None, false),
    ]
}

fn sign(ks: &KeySet, alg: Alg, c: &Value) -> String {
    ks.sign(alg, Typ::AccessToken, c).unwrap()
}

fn forge(header: Value, c: &Value, sig: &[u8]) -> String {
    format!("{}.{}.{}", b64url(header.to_string().as_bytes()), b64url(c.to_string().as_bytes()), b64url(sig))
}

fn generate(ks: &KeySet) -> Value {
    let jwks: Value = serde_json::from_str(ks.jwks_json_at(NOW)).unwrap();
    let rb = json!({ "v": 1, "t": "000002000000000", "n": { "f20000000000000": ["prod", "staging.etl"], "020000000000000": ["dev"] } });
    let user = claims("user-1", "acme", json!({ "rb": rb }));
    let mut tokens = Vec::new();
    for alg in Alg::ALL {
        tokens.push(json!({ "name": format!("bindings-{}", alg.as_str()), "token": sign(ks, alg, &user), "valid": true, "decisions": bindings_decisions() }));
    }
    // The same bindings in another tenant: nothing in acme, everything the bindings say in globex.
    let other_tenant = claims("user-4", "globex", json!({ "rb": rb }));
    tokens.push(
        json!({ "name": "wrong-tenant", "token": sign(ks, Alg::ES256, &other_tenant), "valid": true, "decisions": [
        d("acme", "FLOW", "READ", Some("prod"), false), d("acme", "USER", "READ", None, false),
        d("acme", "BLUEPRINT", "READ", Some("dev"), false), d("globex", "FLOW", "READ", Some("prod"), true),
        d("globex", "USER", "READ", None, true) ] }),
    );
    let tenant_admin = claims("admin-1", "acme", json!({ "adm": "t" }));
    tokens.push(
        json!({ "name": "tenant-admin", "token": sign(ks, Alg::ES256, &tenant_admin), "valid": true, "decisions": [
        d("acme", "SECRET", "DELETE", Some("prod"), true), d("acme", "TENANT", "UPDATE", None, true),
        d("globex", "FLOW", "READ", Some("prod"), false) ] }),
    );
    let instance_admin = claims("root", "acme", json!({ "adm": "i" }));
    tokens.push(
        json!({ "name": "instance-admin", "token": sign(ks, Alg::ES256, &instance_admin), "valid": true, "decisions": [
        d("acme", "FLOW", "DELETE", Some("prod"), true), d("globex", "USER", "CREATE", None, true) ] }),
    );
    let by_ref = claims("user-2", "acme", json!({ "rb": { "v": 1, "ref": true } }));
    tokens.push(json!({ "name": "bindings-by-reference", "token": sign(ks, Alg::ES256, &by_ref), "valid": true, "needs_introspection": true,
        "decisions": [ d("acme", "FLOW", "READ", Some("prod"), false) ] }));
    let future = claims("user-3", "acme", json!({ "rb": { "v": 2, "t": "fff000000000000" } }));
    tokens.push(json!({ "name": "unknown-bindings-version", "token": sign(ks, Alg::ES256, &future), "valid": true,
        "decisions": [ d("acme", "FLOW", "READ", None, false) ] }));
    let client = claims("svc", "acme", json!({ "pk": "c" }));
    tokens.push(json!({ "name": "bare-client", "token": sign(ks, Alg::ES256, &client), "valid": true,
        "decisions": [ d("acme", "FLOW", "READ", Some("prod"), false) ] }));
    // Refused tokens.
    let mut c = user.clone();
    c["exp"] = json!(NOW - 120);
    c["iat"] = json!(NOW - 420);
    tokens.push(json!({ "name": "expired", "token": sign(ks, Alg::ES256, &c), "valid": false, "error": "expired" }));
    let mut c = user.clone();
    c["nbf"] = json!(NOW + 600);
    tokens.push(
        json!({ "name": "not-yet-valid", "token": sign(ks, Alg::ES256, &c), "valid": false, "error": "not_yet_valid" }),
    );
    let mut c = user.clone();
    c["aud"] = json!("https://other.example.test");
    tokens.push(json!({ "name": "wrong-audience", "token": sign(ks, Alg::ES256, &c), "valid": false, "error": "wrong_audience" }));
    let mut c = user.clone();
    c["iss"] = json!("https://evil.example.test");
    tokens.push(
        json!({ "name": "wrong-issuer", "token": sign(ks, Alg::ES256, &c), "valid": false, "error": "wrong_issuer" }),
    );
    tokens.push(json!({ "name": "id-token-type", "token": ks.sign(Alg::RS256, Typ::Jwt, &user).unwrap(), "valid": false, "error": "wrong_type" }));
    let good = sign(ks, Alg::ES256, &user);
    let parts: Vec<&str> = good.split('.').collect();
    let header: Value = serde_json::from_slice(&tessera::crypto::b64url_decode(parts[0]).unwrap()).unwrap();
    let mut c = user.clone();
    c["rb"]["t"] = json!("fff000000000000");
    tokens.push(json!({ "name": "tampered-payload", "token": format!("{}.{}.{}", parts[0], b64url(c.to_string().as_bytes()), parts[2]),
        "valid": false, "error": "bad_signature" }));
    tokens.push(json!({ "name": "alg-none", "token": forge(json!({ "alg": "none", "typ": "at+jwt", "kid": header["kid"] }), &user, b""),
        "valid": false, "error": "algorithm_mismatch" }));
    // HS256 keyed with each published public key, in its PEM and its DER encoding: what a
    // verifier that lets the token choose the algorithm would check the MAC with.
    for jwk in jwks["keys"].as_array().unwrap() {
        let spki = spki_der(jwk);
        for (encoding, secret) in [("pem", spki_pem(&spki).into_bytes()), ("der", spki)] {
            tokens.push(json!({ "name": format!("hs256-with-public-key-{}-{encoding}", jwk["alg"].as_str().unwrap()),
                "token": hs256(&jwk["kid"], &user, &secret), "valid": false, "error": "algorithm_mismatch" }));
        }
    }
    let other = KeySet::ephemeral().unwrap();
    tokens.push(json!({ "name": "unknown-key", "token": sign(&other, Alg::ES256, &user), "valid": false, "error": "unknown_key" }));
    json!({
        "description": "Tessera access-token test vectors, schema v1 (docs/CLAIMS.md). Verify each token as of `now` (unix seconds) with a leeway of at most 30 s, pinning `issuer` and `audience`, the algorithm of the JWK named by `kid`, and typ at+jwt. `valid` says whether it must verify; `error` names the reason when not; `decisions` are (tenant, permission, action, namespace or null for tenant-level) -> allowed.",
        "issuer": ISSUER, "audience": AUDIENCE, "now": NOW, "jwks": jwks, "tokens": tokens,
    })
}

/// The server's decision for a token's claims, by the server's own code.
fn server_decides(claims: &Value, tenant: &str, p: &str, a: &str, ns: Option<&str>) -> bool {
    let perm: Permission = p.parse().unwrap();
    let action: Action = a.parse().unwrap();
    match claims["adm"].as_str() {
        Some("i") => return true,
        Some("t") => return tenant == claims["tnt"],
        _ => {}
    }
    if tenant != claims["tnt"] {
        return false;
    }
    let Ok(rb) = serde_json::from_value::<RoleBindingsClaim>(claims["rb"].clone()) else { return false };
    let Some(grants) = rb.decode() else { return false };
    let access = EffectiveAccess::new(tenant, false, false, grants);
    access.allows(perm, action, ns.map(|n| Namespace::new(n).unwrap()).as_ref())
}

#[test]
fn server_agrees_with_every_vector() {
    let doc = document();
    let mut checked = 0;
    for t in doc["tokens"].as_array().unwrap() {
        let token = t["token"].as_str().unwrap();
        let payload: Value = serde_json::from_slice(&b64url_decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
        for dec in t["decisions"].as_array().into_iter().flatten() {
            let got = server_decides(
                &payload,
                dec["tenant"].as_str().unwrap(),
                dec["permission"].as_str().unwrap(),
                dec["action"].as_str().unwrap(),
                dec["namespace"].as_str(),
            );
            assert_eq!(got, dec["allowed"].as_bool().unwrap(), "{}: {dec}", t["name"]);
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked} decisions");
}

/// What the server's own verification does with a token presented to it: `KeySet::verify`
/// (as `/userinfo` and the admin API call it, here as of the vectors' `now`) into the
/// server's access-token claims, then the audience rule of the admin API
/// (src/http/admin/auth.rs), with the vectors' audience standing for the API's.
fn server_verifies(keys: &KeySet, token: &str) -> Result<AccessClaims, String> {
    let claims: AccessClaims =
        keys.verify_at(NOW, token, Typ::AccessToken, ISSUER).map_err(|e: VerifyError| format!("{e:?}"))?;
    if claims.aud != AUDIENCE {
        return Err("WrongAudience".into());
    }
    Ok(claims)
}

/// What the server does with a vector.
#[derive(Debug, Clone, Copy)]
enum Server {
    Accepts,
    /// Refuses, for this reason (the server's `VerifyError`, or `WrongAudience`).
    Refuses(&'static str),
}

/// Every vector by name, with the server's outcome. The list must name every token of the
/// file, and nothing else.
fn server_expectations() -> Vec<(&'static str, Server)> {
    use Server::*;
    let mut e = vec![
        ("bindings-ES256", Accepts),
        ("bindings-RS256", Accepts),
        ("bindings-EdDSA", Accepts),
        ("wrong-tenant", Accepts), // valid; its tenant is refused by the decisions (above)
        ("tenant-admin", Accepts),
        ("instance-admin", Accepts),
        ("bindings-by-reference", Accepts),
        ("unknown-bindings-version", Accepts),
        ("bare-client", Accepts),
        ("expired", Refuses("Invalid")),
        ("not-yet-valid", Refuses("Invalid")),
        ("wrong-audience", Refuses("WrongAudience")),
        ("wrong-issuer", Refuses("Invalid")),
        ("id-token-type", Refuses("WrongType")),
        ("tampered-payload", Refuses("Invalid")),
        ("alg-none", Refuses("Malformed")),
        ("unknown-key", Refuses("UnknownKey")),
    ];
    for name in [
        "hs256-with-public-key-ES256-pem",
        "hs256-with-public-key-ES256-der",
        "hs256-with-public-key-RS256-pem",
        "hs256-with-public-key-RS256-der",
        "hs256-with-public-key-EdDSA-pem",
        "hs256-with-public-key-EdDSA-der",
    ] {
        e.push((name, Refuses("UnknownKey")));
    }
    e
}

#[test]
fn server_verification_accepts_and_refuses_exactly_the_vectors() {
    let doc = document();
    let (keys, _tmp) = server_keys();
    assert_eq!(
        serde_json::from_str::<Value>(keys.jwks_json_at(NOW)).unwrap(),
        doc["jwks"],
        "the keys folder holds the vectors' keys"
    );
    let tokens = doc["tokens"].as_array().unwrap();
    let expected = server_expectations();
    let mut names: Vec<&str> = tokens.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let mut listed: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    listed.sort_unstable();
    assert_eq!(names, listed, "every vector has a server expectation, and only those");
    let (mut accepted, mut refused) = (0, 0);
    for (name, outcome) in expected {
        let t = tokens.iter().find(|t| t["name"] == name).unwrap();
        let token = t["token"].as_str().unwrap();
        let valid = t["valid"].as_bool().unwrap();
        assert_eq!(matches!(outcome, Server::Accepts), valid, "{name}: the file says valid={valid}");
        match (outcome, server_verifies(&keys, token)) {
            (Server::Accepts, Ok(claims)) => {
                let payload: Value =
                    serde_json::from_slice(&b64url_decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
                assert_eq!(claims.sub, payload["sub"].as_str().unwrap(), "{name}");
                assert_eq!(claims.tnt, payload["tnt"].as_str().unwrap(), "{name}");
                accepted += 1;
            }
            (Server::Refuses(want), Err(got)) => {
                assert_eq!(got, want, "{name}: refused, but for another reason");
                refused += 1;
            }
            (Server::Accepts, Err(got)) => panic!("{name}: the server refuses a valid vector: {got}"),
            (Server::Refuses(want), Ok(_)) => panic!("{name}: the server accepts a vector it must refuse ({want})"),
        }
    }
    assert_eq!((accepted, refused), (9, 14));
}

/// The HS256 vectors are real forgeries: keyed with the DER SubjectPublicKeyInfo of each
/// published key (the same bytes aws-lc derives from the private key) and its PEM, their MAC
/// checks out, so a verifier that let the header choose HS256 would accept them.
#[test]
fn hs256_vectors_are_keyed_with_the_public_key_bytes() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
    let doc = document();
    let jwks = doc["jwks"]["keys"].as_array().unwrap();
    let ring: Value = serde_json::from_str(&std::fs::read_to_string(keys_dir().join("keyring.json")).unwrap()).unwrap();
    let mut forged = 0;
    for jwk in jwks {
        let kid = jwk["kid"].as_str().unwrap();
        let meta = ring["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).expect("key in the keyring");
        let pkcs8 = private_der(&keys_dir().join(meta["file"].as_str().unwrap()));
        let from_private: Vec<u8> = match jwk["alg"].as_str().unwrap() {
            "ES256" => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                .unwrap()
                .public_key()
                .as_der()
                .unwrap()
                .as_ref()
                .to_vec(),
            "RS256" => {
                aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8).unwrap().public_key().as_der().unwrap().as_ref().to_vec()
            }
            "EdDSA" => Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap().public_key().as_der().unwrap().as_ref().to_vec(),
            other => panic!("{other}"),
        };
        let spki = spki_der(jwk);
        assert_eq!(spki, from_private, "{kid}: the DER of the JWK is the key's SubjectPublicKeyInfo");
        for (encoding, secret) in [("pem", spki_pem(&spki).into_bytes()), ("der", spki.clone())] {
            let name = format!("hs256-with-public-key-{}-{encoding}", jwk["alg"].as_str().unwrap());
            let t = doc["tokens"].as_array().unwrap().iter().find(|t| t["name"] == name.as_str()).expect(&name);
            let token = t["token"].as_str().unwrap();
            let (header, _) = token.split_once('.').unwrap();
            let header: Value = serde_json::from_slice(&b64url_decode(header).unwrap()).unwrap();
            assert_eq!((header["alg"].as_str(), header["kid"].as_str()), (Some("HS256"), Some(kid)), "{name}");
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
            validation.validate_exp = false;
            validation.validate_aud = false;
            jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(&secret), &validation)
                .unwrap_or_else(|e| panic!("{name}: the MAC does not check out with the {encoding} key: {e}"));
            forged += 1;
        }
    }
    assert_eq!(forged, 6);
}

fn private_der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(path).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}
