//! Test vectors for verifiers in any language (`tests/vectors/v1.json`): a JWKS, tokens, and
//! for each token whether it must verify and the authorization decisions it must give. The
//! decisions are written here by hand from docs/CLAIMS.md; the server must agree with every
//! one. `TESSERA_UPDATE_VECTORS=1 cargo test --test vectors` regenerates the file (new keys).

use std::path::PathBuf;

use serde_json::{Value, json};
use tessera::crypto::b64url;
use tessera::keys::{Alg, KeySet, Typ};
use tessera::rbac::{Action, EffectiveAccess, Namespace, Permission, RoleBindingsClaim};

const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "https://kestra.example.test";
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v1.json")
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

fn generate() -> Value {
    let ks = KeySet::ephemeral().unwrap();
    let jwks: Value = serde_json::from_str(ks.jwks_json()).unwrap();
    let rb = json!({ "v": 1, "t": "000002000000000", "n": { "f20000000000000": ["prod", "staging.etl"], "020000000000000": ["dev"] } });
    let user = claims("user-1", "acme", json!({ "rb": rb }));
    let mut tokens = Vec::new();
    for alg in Alg::ALL {
        tokens.push(json!({ "name": format!("bindings-{}", alg.as_str()), "token": sign(&ks, alg, &user), "valid": true, "decisions": bindings_decisions() }));
    }
    let tenant_admin = claims("admin-1", "acme", json!({ "adm": "t" }));
    tokens.push(
        json!({ "name": "tenant-admin", "token": sign(&ks, Alg::ES256, &tenant_admin), "valid": true, "decisions": [
        d("acme", "SECRET", "DELETE", Some("prod"), true), d("acme", "TENANT", "UPDATE", None, true),
        d("globex", "FLOW", "READ", Some("prod"), false) ] }),
    );
    let instance_admin = claims("root", "acme", json!({ "adm": "i" }));
    tokens.push(
        json!({ "name": "instance-admin", "token": sign(&ks, Alg::ES256, &instance_admin), "valid": true, "decisions": [
        d("acme", "FLOW", "DELETE", Some("prod"), true), d("globex", "USER", "CREATE", None, true) ] }),
    );
    let by_ref = claims("user-2", "acme", json!({ "rb": { "v": 1, "ref": true } }));
    tokens.push(json!({ "name": "bindings-by-reference", "token": sign(&ks, Alg::ES256, &by_ref), "valid": true, "needs_introspection": true,
        "decisions": [ d("acme", "FLOW", "READ", Some("prod"), false) ] }));
    let future = claims("user-3", "acme", json!({ "rb": { "v": 2, "t": "fff000000000000" } }));
    tokens.push(json!({ "name": "unknown-bindings-version", "token": sign(&ks, Alg::ES256, &future), "valid": true,
        "decisions": [ d("acme", "FLOW", "READ", None, false) ] }));
    let client = claims("svc", "acme", json!({ "pk": "c" }));
    tokens.push(json!({ "name": "bare-client", "token": sign(&ks, Alg::ES256, &client), "valid": true,
        "decisions": [ d("acme", "FLOW", "READ", Some("prod"), false) ] }));
    // Refused tokens.
    let mut c = user.clone();
    c["exp"] = json!(NOW - 120);
    c["iat"] = json!(NOW - 420);
    tokens.push(json!({ "name": "expired", "token": sign(&ks, Alg::ES256, &c), "valid": false, "error": "expired" }));
    let mut c = user.clone();
    c["nbf"] = json!(NOW + 600);
    tokens.push(json!({ "name": "not-yet-valid", "token": sign(&ks, Alg::ES256, &c), "valid": false, "error": "not_yet_valid" }));
    let mut c = user.clone();
    c["aud"] = json!("https://other.example.test");
    tokens.push(json!({ "name": "wrong-audience", "token": sign(&ks, Alg::ES256, &c), "valid": false, "error": "wrong_audience" }));
    let mut c = user.clone();
    c["iss"] = json!("https://evil.example.test");
    tokens.push(
        json!({ "name": "wrong-issuer", "token": sign(&ks, Alg::ES256, &c), "valid": false, "error": "wrong_issuer" }),
    );
    tokens.push(json!({ "name": "id-token-type", "token": ks.sign(Alg::RS256, Typ::Jwt, &user).unwrap(), "valid": false, "error": "wrong_type" }));
    let good = sign(&ks, Alg::ES256, &user);
    let parts: Vec<&str> = good.split('.').collect();
    let header: Value = serde_json::from_slice(&tessera::crypto::b64url_decode(parts[0]).unwrap()).unwrap();
    let mut c = user.clone();
    c["rb"]["t"] = json!("fff000000000000");
    tokens.push(json!({ "name": "tampered-payload", "token": format!("{}.{}.{}", parts[0], b64url(c.to_string().as_bytes()), parts[2]),
        "valid": false, "error": "bad_signature" }));
    tokens.push(json!({ "name": "alg-none", "token": forge(json!({ "alg": "none", "typ": "at+jwt", "kid": header["kid"] }), &user, b""),
        "valid": false, "error": "algorithm_mismatch" }));
    let hs_header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": header["kid"] });
    let input = format!("{}.{}", b64url(hs_header.to_string().as_bytes()), b64url(user.to_string().as_bytes()));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, jwks.to_string().as_bytes());
    let sig = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    tokens.push(json!({ "name": "hs256-with-public-key", "token": format!("{input}.{}", b64url(sig.as_ref())), "valid": false, "error": "algorithm_mismatch" }));
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
    let file = path();
    let doc: Value = if std::env::var("TESSERA_UPDATE_VECTORS").is_ok() || !file.exists() {
        let doc = generate();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
        doc
    } else {
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
    };
    let mut checked = 0;
    for t in doc["tokens"].as_array().unwrap() {
        let token = t["token"].as_str().unwrap();
        let payload: Value =
            serde_json::from_slice(&tessera::crypto::b64url_decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
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
