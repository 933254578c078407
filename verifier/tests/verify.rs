//! Every way a token can fail, with tokens signed here by keys generated here.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lc_rs::hmac;
use common::*;
use serde_json::json;
use tessera_verifier::{AdminRole, BuildError, FixedClock, JwkSet, PrincipalKind, Verifier, VerifyError};

#[test]
fn valid_tokens_of_every_algorithm_verify_and_expose_their_claims() {
    let keys = [TestKey::es256("ec-1"), TestKey::rs256("rsa-1"), TestKey::eddsa("ed-1")];
    let (verifier, _) = verifier(&keys.iter().collect::<Vec<_>>());
    assert_eq!(verifier.key_ids(), ["ec-1", "ed-1", "rsa-1"]);
    for key in &keys {
        let token = verifier.verify(&key.token(&claims())).unwrap_or_else(|e| panic!("{}: {e}", key.alg));
        assert_eq!(token.sub(), "user-42");
        assert_eq!(token.tenant(), "acme");
        assert_eq!(token.principal_kind(), PrincipalKind::User);
        assert_eq!(token.admin_role(), None);
        assert_eq!(token.epoch(), 3);
        assert_eq!(token.scopes().collect::<Vec<_>>(), ["openid", "profile", "flows"]);
        assert!(token.has_scope("flows") && !token.has_scope("flow"));
        assert_eq!(token.client_id(), "flows-ui");
        assert_eq!(token.audiences(), [AUDIENCE]);
        assert_eq!(token.expires_at(), NOW + 300);
        assert_eq!(token.issued_at(), NOW);
        assert_eq!(token.not_before(), None);
        assert_eq!(token.auth_time(), Some(NOW - 10));
        assert_eq!(token.jti(), "jti-1");
        assert!(!token.needs_introspection());
    }
}

#[test]
fn principal_kinds_and_admin_roles() {
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    for (pk, kind) in [
        ("u", PrincipalKind::User),
        ("sa", PrincipalKind::ServiceAccount),
        ("c", PrincipalKind::Client),
        ("x", PrincipalKind::Unknown),
    ] {
        let token = verifier.verify(&key.token(&claims_with(json!({ "pk": pk, "jti": pk })))).unwrap();
        assert_eq!(token.principal_kind(), kind);
        assert_eq!(kind.as_claim(), if kind == PrincipalKind::Unknown { "?" } else { pk });
    }
    for (adm, role) in [("i", Some(AdminRole::Instance)), ("t", Some(AdminRole::Tenant)), ("z", None)] {
        let token = verifier.verify(&key.token(&claims_with(json!({ "adm": adm, "rb": null, "jti": adm })))).unwrap();
        assert_eq!(token.admin_role(), role, "{adm}");
    }
    assert_eq!(PrincipalKind::from_epoch_kind("user"), Some(PrincipalKind::User));
    assert_eq!(PrincipalKind::from_epoch_kind("service_account"), Some(PrincipalKind::ServiceAccount));
    assert_eq!(PrincipalKind::from_epoch_kind("group"), None);
}

#[test]
fn alg_none_is_refused() {
    let key = TestKey::es256("ec-1");
    let (verifier, _) = verifier(&[&key]);
    let payload = b64(claims().to_string().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({ "alg": alg, "typ": "at+jwt", "kid": "ec-1" }).to_string().as_bytes());
        for token in [format!("{header}.{payload}."), format!("{header}.{payload}")] {
            let err = verifier.verify(&token).unwrap_err();
            assert!(matches!(err, VerifyError::AlgorithmMismatch | VerifyError::Malformed), "{alg}: {err:?}");
        }
        assert_eq!(verifier.verify(&format!("{header}.{payload}.")).unwrap_err(), VerifyError::AlgorithmMismatch);
    }
    // Without a kid there is no key to pin to at all.
    let header = b64(json!({ "alg": "none", "typ": "at+jwt" }).to_string().as_bytes());
    assert_eq!(verifier.verify(&format!("{header}.{payload}.")).unwrap_err(), VerifyError::UnknownKey);
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let rsa = TestKey::rs256("rsa-1");
    let ec = TestKey::es256("ec-1");
    let (verifier, _) = verifier(&[&rsa, &ec]);
    for key in [&rsa, &ec] {
        // Whatever an attacker takes as the "secret": the JWK, its JSON, the raw public key.
        let secrets: Vec<Vec<u8>> =
            vec![key.jwk.to_string().into_bytes(), key.public_bytes.clone(), b64(&key.public_bytes).into_bytes()];
        for secret in secrets {
            for alg in ["HS256", "HS384", "HS512"] {
                let header = json!({ "alg": alg, "typ": "at+jwt", "kid": key.kid });
                let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims().to_string().as_bytes()));
                let algorithm = match alg {
                    "HS256" => hmac::HMAC_SHA256,
                    "HS384" => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                };
                let tag = hmac::sign(&hmac::Key::new(algorithm, &secret), input.as_bytes());
                let token = format!("{input}.{}", b64(tag.as_ref()));
                assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::AlgorithmMismatch);
            }
        }
    }
}

#[test]
fn the_header_alg_must_be_the_keys_algorithm() {
    let rsa = TestKey::rs256("rsa-1");
    let ed = TestKey::eddsa("ed-1");
    let (verifier, _) = verifier(&[&rsa, &ed]);
    // RSA key, PS256 / RS512 header (a signature made with the right RSA key but another padding or hash).
    for alg in ["PS256", "RS512", "ES256", "EdDSA"] {
        let token = rsa.sign(&json!({ "alg": alg, "typ": "at+jwt", "kid": "rsa-1" }), &claims());
        assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::AlgorithmMismatch, "{alg}");
    }
    let token = ed.sign(&json!({ "alg": "ES256", "typ": "at+jwt", "kid": "ed-1" }), &claims());
    assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::AlgorithmMismatch);
}

#[test]
fn a_key_without_alg_is_pinned_by_its_type() {
    let keys = [TestKey::es256("ec"), TestKey::rs256("rsa"), TestKey::eddsa("ed")];
    let mut set = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
    for jwk in set["keys"].as_array_mut().unwrap() {
        jwk.as_object_mut().unwrap().remove("alg");
    }
    let set: JwkSet = serde_json::from_value(set).unwrap();
    let verifier = Verifier::builder(ISSUER).audience(AUDIENCE).keys(set).clock(FixedClock::new(NOW)).build().unwrap();
    for key in &keys {
        verifier.verify(&key.token(&claims())).unwrap();
    }
    let token = keys[1].sign(&json!({ "alg": "PS256", "typ": "at+jwt", "kid": "rsa" }), &claims());
    assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::AlgorithmMismatch);
}

#[test]
fn tampering_breaks_the_signature() {
    for key in [TestKey::es256("k"), TestKey::rs256("k"), TestKey::eddsa("k")] {
        let (verifier, _) = verifier(&[&key]);
        let token = key.token(&claims());
        let parts: Vec<&str> = token.split('.').collect();

        // Another tenant, another subject, admin rights: each with the original signature.
        for change in [
            json!({ "tnt": "globex" }),
            json!({ "sub": "admin" }),
            json!({ "adm": "i" }),
            json!({ "exp": NOW + 86_400 }),
        ] {
            let forged = format!("{}.{}.{}", parts[0], b64(claims_with(change).to_string().as_bytes()), parts[2]);
            assert_eq!(verifier.verify(&forged).unwrap_err(), VerifyError::BadSignature, "{}", key.alg);
        }
        // A flipped signature bit.
        let mut sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[2]).unwrap();
        sig[5] ^= 1;
        let forged = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
        assert_eq!(verifier.verify(&forged).unwrap_err(), VerifyError::BadSignature);
        // A changed header (same alg and kid, one more member).
        let header = b64(json!({ "kid": "k", "typ": "at+jwt", "alg": key.alg, "cty": "x" }).to_string().as_bytes());
        assert_eq!(
            verifier.verify(&format!("{header}.{}.{}", parts[1], parts[2])).unwrap_err(),
            VerifyError::BadSignature
        );
        // An empty signature.
        assert_eq!(verifier.verify(&format!("{}.{}.", parts[0], parts[1])).unwrap_err(), VerifyError::BadSignature);
    }
}

#[test]
fn a_key_with_a_known_kid_but_other_material_is_refused() {
    let real = TestKey::es256("ec-1");
    let impostor = TestKey::es256("ec-1");
    let (verifier, _) = verifier(&[&real]);
    assert_eq!(verifier.verify(&impostor.token(&claims())).unwrap_err(), VerifyError::BadSignature);
}

#[test]
fn unknown_or_missing_kid() {
    let key = TestKey::es256("ec-1");
    let other = TestKey::es256("ec-2");
    let (verifier, _) = verifier(&[&key]);
    assert_eq!(verifier.verify(&other.token(&claims())).unwrap_err(), VerifyError::UnknownKey);
    let token = key.sign(&json!({ "alg": "ES256", "typ": "at+jwt" }), &claims());
    assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::UnknownKey);
}

#[test]
fn typ_must_be_at_jwt() {
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    for ok in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"] {
        let token = key.sign(&json!({ "alg": "EdDSA", "typ": ok, "kid": "k" }), &claims());
        verifier.verify(&token).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [json!("JWT"), json!("jwt"), json!("at+jwt "), json!("application/jwt"), json!(null)] {
        let mut header = json!({ "alg": "EdDSA", "kid": "k" });
        if !bad.is_null() {
            header["typ"] = bad.clone();
        }
        assert_eq!(verifier.verify(&key.sign(&header, &claims())).unwrap_err(), VerifyError::WrongType, "{bad}");
    }
    // An ID token (typ JWT) passes only with the named footgun.
    let id_token = key.sign(&json!({ "alg": "EdDSA", "typ": "JWT", "kid": "k" }), &claims());
    let lax = Verifier::builder(ISSUER)
        .audience(AUDIENCE)
        .keys(jwks(&[&key]))
        .clock(FixedClock::new(NOW))
        .insecure_skip_type_check()
        .build()
        .unwrap();
    lax.verify(&id_token).unwrap();
}

#[test]
fn issuer_and_audience() {
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    for iss in ["https://sso.example.com/", "https://evil.example.com", "HTTPS://SSO.EXAMPLE.COM"] {
        let token = key.token(&claims_with(json!({ "iss": iss })));
        assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::WrongIssuer, "{iss}");
    }
    for aud in [json!("https://other.example.com"), json!([]), json!(["https://a", "https://b"])] {
        let token = key.token(&claims_with(json!({ "aud": aud.clone() })));
        assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::WrongAudience, "{aud}");
    }
    let token = key.token(&claims_with(json!({ "aud": ["https://a", AUDIENCE] })));
    assert_eq!(verifier.verify(&token).unwrap().audiences(), ["https://a", AUDIENCE]);

    // Several accepted audiences; or any, with the named footgun.
    let other = key.token(&claims_with(json!({ "aud": "https://other.example.com" })));
    let two = Verifier::builder(ISSUER)
        .audience(AUDIENCE)
        .audience("https://other.example.com")
        .keys(jwks(&[&key]))
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    two.verify(&other).unwrap();
    let any = Verifier::builder(ISSUER)
        .insecure_skip_audience()
        .keys(jwks(&[&key]))
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    any.verify(&other).unwrap();
}

#[test]
fn expiry_and_not_before_with_leeway() {
    let key = TestKey::eddsa("k");
    let (verifier, clock) = verifier(&[&key]);
    let token = key.token(&claims());
    verifier.verify(&token).unwrap();
    clock.set(NOW + 300 + 29);
    verifier.verify(&token).unwrap();
    clock.set(NOW + 300 + 30);
    assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::Expired);

    clock.set(NOW);
    let early = key.token(&claims_with(json!({ "nbf": NOW + 60, "jti": "early" })));
    assert_eq!(verifier.verify(&early).unwrap_err(), VerifyError::NotYetValid);
    clock.set(NOW + 30);
    assert_eq!(verifier.verify(&early).unwrap().not_before(), Some(NOW + 60));

    // Leeway 0: expired at exp exactly.
    let clock = FixedClock::new(NOW + 300);
    let strict = Verifier::builder(ISSUER)
        .audience(AUDIENCE)
        .keys(jwks(&[&key]))
        .clock(clock.clone())
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(strict.verify(&token).unwrap_err(), VerifyError::Expired);
    clock.set(NOW + 299);
    strict.verify(&token).unwrap();
}

#[test]
fn malformed_tokens() {
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    let token = key.token(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let header = key.header();
    let cases: Vec<String> = vec![
        String::new(),
        "garbage".into(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.{}", parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("!!.{}.{}", parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
        format!("{}.{}.{}", b64(br#"{"typ":"at+jwt","kid":"k"}"#), parts[1], parts[2]),
        format!("{}.{}.{}", b64(br#"{"alg":"EdDSA","alg":"EdDSA","typ":"at+jwt","kid":"k"}"#), parts[1], parts[2]),
        format!("{}.{}.{}!", parts[0], parts[1], parts[2]),
        "a".repeat(20_000),
        // Signed, but the payload is not what Tessera issues.
        key.sign(&header, &json!("just a string")),
        key.sign(&header, &claims_with(json!({ "tnt": null }))),
        key.sign(&header, &claims_with(json!({ "pk": null }))),
        key.sign(&header, &claims_with(json!({ "sub": null }))),
        key.sign(&header, &claims_with(json!({ "exp": null }))),
        key.sign(&header, &claims_with(json!({ "exp": "tomorrow" }))),
        key.sign(&header, &claims_with(json!({ "jti": null }))),
        key.sign(&header, &claims_with(json!({ "rb": { "v": 1, "t": "FFFFFFFFFFFFFFF" } }))),
        key.sign(&header, &claims_with(json!({ "rb": { "v": 1, "ref": true, "t": "fffffffffffffff" } }))),
        key.sign(&header, &claims_with(json!({ "rb": { "v": 1, "n": { "f00000000000000": ["prod..etl"] } } }))),
        // A critical header extension nobody understands.
        key.sign(&json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": "k", "crit": ["exp"], "exp": 1 }), &claims()),
    ];
    for (i, token) in cases.iter().enumerate() {
        assert_eq!(verifier.verify(token).unwrap_err(), VerifyError::Malformed, "case {i}");
    }
}

#[test]
fn wrong_tenant() {
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    use tessera_verifier::{Action::*, Permission::*};
    let user = verifier.verify(&key.token(&claims())).unwrap();
    assert!(user.allows_in_tenant("acme", Flow, Read, Some("prod")));
    assert!(!user.allows_in_tenant("globex", Flow, Read, Some("prod")));
    assert!(!user.allows_in_tenant("ACME", Flow, Read, Some("prod")));
    let tenant_admin =
        verifier.verify(&key.token(&claims_with(json!({ "adm": "t", "rb": null, "jti": "t" })))).unwrap();
    assert!(tenant_admin.allows_in_tenant("acme", Tenant, Delete, None));
    assert!(!tenant_admin.allows_in_tenant("globex", Flow, Read, Some("prod")));
    let instance_admin =
        verifier.verify(&key.token(&claims_with(json!({ "adm": "i", "rb": null, "jti": "i" })))).unwrap();
    assert!(instance_admin.allows_in_tenant("globex", Flow, Delete, Some("prod")));
    assert!(instance_admin.allows_in_tenant("globex", User, Create, None));
}

#[test]
fn a_cache_hit_skips_the_signature_but_still_honours_expiry() {
    let key = TestKey::es256("k");
    let (verifier, clock) = verifier(&[&key]);
    let token = key.token(&claims());
    verifier.verify(&token).unwrap();
    verifier.verify(&token).unwrap();
    let stats = verifier.cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.len, stats.capacity), (1, 1, 1, 10_000));

    clock.advance(300 + 30);
    assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::Expired);
    // Back in time (a FixedClock can): the entry was dropped, the token verifies in full again.
    clock.set(NOW + 10);
    verifier.verify(&token).unwrap();
    assert_eq!(verifier.cache_stats().misses, 3);

    // nbf is checked on hits too.
    let later = key.token(&claims_with(json!({ "nbf": NOW + 100, "jti": "later" })));
    clock.set(NOW + 100);
    verifier.verify(&later).unwrap();
    clock.set(NOW + 10);
    assert_eq!(verifier.verify(&later).unwrap_err(), VerifyError::NotYetValid);
}

#[test]
fn the_cache_is_bounded_and_can_be_disabled() {
    let key = TestKey::eddsa("k");
    let clock = FixedClock::new(NOW);
    let small = Verifier::builder(ISSUER)
        .audience(AUDIENCE)
        .keys(jwks(&[&key]))
        .clock(clock.clone())
        .cache_capacity(3)
        .build()
        .unwrap();
    let tokens: Vec<String> =
        (0..10).map(|i| key.token(&claims_with(json!({ "jti": format!("t{i}"), "exp": NOW + 100 + i })))).collect();
    for t in &tokens {
        small.verify(t).unwrap();
    }
    assert_eq!(small.cache_stats().len, 3);
    // The soonest to expire were evicted: the last three are hits.
    for t in &tokens[7..] {
        small.verify(t).unwrap();
    }
    assert_eq!(small.cache_stats().hits, 3);

    let none = Verifier::builder(ISSUER)
        .audience(AUDIENCE)
        .keys(jwks(&[&key]))
        .clock(clock)
        .cache_capacity(0)
        .build()
        .unwrap();
    none.verify(&tokens[0]).unwrap();
    none.verify(&tokens[0]).unwrap();
    let stats = none.cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.len), (0, 2, 0));
}

#[test]
fn revocation_is_consulted_on_every_verification() {
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    let calls = Arc::new(AtomicUsize::new(0));
    let revoked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let check = {
        let (calls, revoked) = (calls.clone(), revoked.clone());
        Arc::new(move |t: &tessera_verifier::AccessToken| {
            calls.fetch_add(1, Ordering::SeqCst);
            revoked.lock().unwrap().iter().any(|j| j == t.jti())
        })
    };
    let verifier = verifier.with_revocation_check(check);
    let token = key.token(&claims());
    verifier.verify(&token).unwrap();
    verifier.verify(&token).unwrap();
    revoked.lock().unwrap().push("jti-1".into());
    assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::Revoked);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(verifier.cache_stats().hits, 2);
}

#[test]
fn tokens_with_an_older_epoch_are_stale() {
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    let minimum = Arc::new(std::sync::Mutex::new(None::<i64>));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook = {
        let (minimum, seen) = (minimum.clone(), seen.clone());
        Arc::new(move |tenant: &str, kind: PrincipalKind, sub: &str| {
            seen.lock().unwrap().push((tenant.to_owned(), kind, sub.to_owned()));
            *minimum.lock().unwrap()
        })
    };
    let verifier = verifier.with_min_epoch(hook);
    let token = key.token(&claims()); // ep 3
    verifier.verify(&token).unwrap();
    *minimum.lock().unwrap() = Some(3);
    verifier.verify(&token).unwrap();
    *minimum.lock().unwrap() = Some(4);
    assert_eq!(verifier.verify(&token).unwrap_err(), VerifyError::Stale);
    assert_eq!(seen.lock().unwrap()[0], ("acme".to_owned(), PrincipalKind::User, "user-42".to_owned()));
    assert_eq!(seen.lock().unwrap().len(), 3);
    // A token without ep counts as epoch 0.
    let old = key.token(&claims_with(json!({ "ep": null, "jti": "old" })));
    *minimum.lock().unwrap() = Some(1);
    assert_eq!(verifier.verify(&old).unwrap_err(), VerifyError::Stale);
}

#[test]
fn rotation_old_and_new_keys_verify_and_removed_keys_stop_at_once() {
    let old = TestKey::es256("2026-01");
    let new = TestKey::eddsa("2026-02");
    let (verifier, _) = verifier(&[&old, &new]);
    let old_token = old.token(&claims());
    let new_token = new.token(&claims_with(json!({ "jti": "new" })));
    verifier.verify(&old_token).unwrap();
    verifier.verify(&new_token).unwrap();

    // The same set again changes nothing (the cache stays warm).
    verifier.replace_keys(&jwks(&[&old, &new])).unwrap();
    verifier.verify(&old_token).unwrap();
    assert_eq!(verifier.cache_stats().hits, 1);

    // The old key is retired: its token fails even though it was cached.
    verifier.replace_keys(&jwks(&[&new])).unwrap();
    assert_eq!(verifier.key_ids(), ["2026-02"]);
    assert_eq!(verifier.verify(&old_token).unwrap_err(), VerifyError::UnknownKey);
    verifier.verify(&new_token).unwrap();
    assert!(verifier.replace_keys(&JwkSet { keys: vec![] }).is_err());
    assert_eq!(verifier.key_ids(), ["2026-02"]);
}

fn build_with(set: serde_json::Value) -> Result<Verifier, BuildError> {
    let set: JwkSet = serde_json::from_value(set).unwrap();
    Verifier::builder(ISSUER).audience(AUDIENCE).keys(set).build()
}

#[test]
fn builder_refuses_unusable_configurations() {
    let ec = TestKey::es256("ec");
    let rsa = TestKey::rs256("rsa");
    assert_eq!(Verifier::builder(ISSUER).keys(jwks(&[&ec])).build().unwrap_err(), BuildError::MissingAudience);
    assert_eq!(
        Verifier::builder("").audience(AUDIENCE).keys(jwks(&[&ec])).build().unwrap_err(),
        BuildError::EmptyIssuer
    );
    assert_eq!(Verifier::builder(ISSUER).audience(AUDIENCE).build().unwrap_err(), BuildError::NoKeys);
    let err = Verifier::builder(ISSUER).audience(AUDIENCE).keys(jwks(&[&ec])).leeway(Duration::from_secs(3600)).build();
    assert_eq!(err.unwrap_err(), BuildError::LeewayTooLarge(3600));
    Verifier::builder(ISSUER)
        .audience(AUDIENCE)
        .keys(jwks(&[&ec]))
        .insecure_leeway(Duration::from_secs(3600))
        .build()
        .unwrap();

    let invalid = |set: serde_json::Value, kid: &str, words: &str| {
        let err = build_with(set).unwrap_err();
        assert!(matches!(&err, BuildError::InvalidKey { kid: k, .. } if k == kid), "{err:?}");
        assert!(err.to_string().contains(words), "{err}");
    };
    invalid(json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" }] }), "hmac", "symmetric");
    let mut rsa_as_ec = rsa.jwk.clone();
    rsa_as_ec["alg"] = json!("ES256");
    invalid(json!({ "keys": [rsa_as_ec] }), "rsa", "does not fit");
    let mut rsa_as_hs = rsa.jwk.clone();
    rsa_as_hs["alg"] = json!("HS256");
    invalid(json!({ "keys": [rsa_as_hs] }), "rsa", "not an asymmetric signature algorithm");
    let mut no_kid = ec.jwk.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    invalid(json!({ "keys": [no_kid] }), "", "without a kid");
    invalid(json!({ "keys": [ec.jwk.clone(), ec.jwk.clone()] }), "ec", "more than once");
    let mut short_rsa = rsa.jwk.clone();
    short_rsa["n"] = json!(b64(&[0xc5; 128]));
    invalid(json!({ "keys": [short_rsa] }), "rsa", "2048 bits");
    let mut bad_point = ec.jwk.clone();
    bad_point["x"] = json!(b64(&[1; 31]));
    invalid(json!({ "keys": [bad_point] }), "ec", "32 bytes");
    invalid(
        json!({ "keys": [{ "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521" }] }),
        "p521",
        "unsupported",
    );

    // Keys meant for encryption are ignored; a set with nothing else has no usable key.
    let mut enc = rsa.jwk.clone();
    enc["use"] = json!("enc");
    enc["alg"] = json!("RSA-OAEP");
    assert_eq!(build_with(json!({ "keys": [enc.clone()] })).unwrap_err(), BuildError::NoKeys);
    let v = build_with(json!({ "keys": [enc, ec.jwk.clone()] })).unwrap();
    assert_eq!(v.key_ids(), ["ec"]);
}

#[test]
fn debug_output_names_settings_not_secrets() {
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    let text = format!("{verifier:?}");
    assert!(text.contains(ISSUER) && text.contains("key_ids") && text.contains("\"k\""), "{text}");
    let token = verifier.verify(&key.token(&claims())).unwrap();
    assert!(!format!("{token:?}").contains(&key.token(&claims())));
}
