//! The shared test vectors (`tests/vectors/v1.json` at the repository root), which the server
//! passes too: every token verifies or fails with the named reason, and every decision agrees.

use serde_json::Value;
use tessera_verifier::{Action, FixedClock, JwkSet, Permission, Verifier, VerifyError};

fn expected_error(name: &str) -> fn(&VerifyError) -> bool {
    match name {
        "expired" => |e| matches!(e, VerifyError::Expired),
        "not_yet_valid" => |e| matches!(e, VerifyError::NotYetValid),
        "wrong_audience" => |e| matches!(e, VerifyError::WrongAudience),
        "wrong_issuer" => |e| matches!(e, VerifyError::WrongIssuer),
        "wrong_type" => |e| matches!(e, VerifyError::WrongType),
        "bad_signature" => |e| matches!(e, VerifyError::BadSignature),
        "algorithm_mismatch" => |e| matches!(e, VerifyError::AlgorithmMismatch),
        "unknown_key" => |e| matches!(e, VerifyError::UnknownKey),
        other => panic!("unknown error kind in the vectors: {other}"),
    }
}

#[test]
fn verifier_passes_every_vector() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/v1.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let jwks: JwkSet = serde_json::from_value(doc["jwks"].clone()).unwrap();
    let verifier = Verifier::builder(doc["issuer"].as_str().unwrap())
        .audience(doc["audience"].as_str().unwrap())
        .keys(jwks)
        .clock(FixedClock::new(doc["now"].as_i64().unwrap()))
        .build()
        .unwrap();
    let mut decisions = 0;
    for t in doc["tokens"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let result = verifier.verify(t["token"].as_str().unwrap());
        if !t["valid"].as_bool().unwrap() {
            let err = result.expect_err(name);
            assert!(expected_error(t["error"].as_str().unwrap())(&err), "{name}: got {err:?}");
            continue;
        }
        let token = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(token.needs_introspection(), t["needs_introspection"].as_bool().unwrap_or(false), "{name}");
        for d in t["decisions"].as_array().into_iter().flatten() {
            let p: Permission = d["permission"].as_str().unwrap().parse().unwrap();
            let a: Action = d["action"].as_str().unwrap().parse().unwrap();
            let got = token.allows_in_tenant(d["tenant"].as_str().unwrap(), p, a, d["namespace"].as_str());
            assert_eq!(got, d["allowed"].as_bool().unwrap(), "{name}: {d}");
            decisions += 1;
        }
    }
    assert!(decisions > 30);
}
