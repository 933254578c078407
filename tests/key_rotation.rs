//! Key rotation as a verifier lives through it. Simulated time runs through two full
//! rotations of every algorithm; Tessera (the keys folder, a server that re-reads the keyring
//! every 30 s, and its JWKS) issues tokens, and verifiers that cache the JWKS as its
//! `Cache-Control` header allows verify each one, and keep verifying older ones until they
//! expire. No verification may fail, and no verifier may meet a `kid` it does not know.
//!
//! Two broken rotations (a key that signs as soon as it is published, as Dex does; a key
//! dropped as soon as it is replaced) run through the same harness to show that it catches them.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use common::*;
use serde_json::Value;
use tessera::config::Config;
use tessera::keys::{
    Alg, JWKS_CACHE_CONTROL, KeyFolder, KeyPolicy, KeyReloader, RELOAD_INTERVAL_SECS, SharedKeys, Typ,
};

/// The controlled clock's origin.
const T0: i64 = 1_700_000_000;
const STEP: i64 = 10;
/// The exp leeway of the simulated verifiers.
const VERIFIER_LEEWAY: i64 = 60;

/// The longest a compliant cache keeps a JWKS response: max-age plus stale-while-revalidate.
fn cache_lifetime(cache_control: &str) -> i64 {
    let directive = |name: &str| {
        cache_control
            .split(',')
            .filter_map(|d| d.trim().strip_prefix(name)?.strip_prefix('=')?.parse::<i64>().ok())
            .next()
            .unwrap_or(0)
    };
    directive("max-age") + directive("stale-while-revalidate")
}

/// Tessera in simulated time: the keys folder and a server that polls its keyring.
struct Tessera {
    reloader: KeyReloader,
    keys: SharedKeys,
    next_reload: i64,
    token_lifetime: i64,
}

impl Tessera {
    fn start(dir: &Path, policy: KeyPolicy, token_lifetime: i64) -> Self {
        let (set, reloader) = KeyReloader::start(KeyFolder::new(dir, policy), T0).unwrap();
        Self { reloader, keys: SharedKeys::new(Arc::new(set)), next_reload: T0, token_lifetime }
    }

    /// What the server's background task does by time `now`.
    fn advance(&mut self, now: i64) {
        while self.next_reload <= now {
            if let Some(set) = self.reloader.poll(self.next_reload).unwrap() {
                self.keys.replace(Arc::new(set));
            }
            self.next_reload += RELOAD_INTERVAL_SECS;
        }
    }

    fn jwks(&self, now: i64) -> Value {
        serde_json::from_str(self.keys.current().jwks_json_at(now)).unwrap()
    }

    /// An access token (ES256, EdDSA) or an ID token (RS256), as the token endpoint issues them.
    fn issue(&self, alg: Alg, now: i64) -> Token {
        let typ = if alg == Alg::RS256 { Typ::Jwt } else { Typ::AccessToken };
        let exp = now + self.token_lifetime;
        let claims = serde_json::json!({ "iss": ISSUER, "sub": "alice", "aud": "api", "iat": now, "exp": exp });
        let jwt = self.keys.current().sign_at(now, alg, typ, &claims).unwrap();
        let kid = jsonwebtoken::decode_header(&jwt).unwrap().kid.unwrap();
        Token { jwt, kid, exp, issued: now }
    }
}

struct Token {
    jwt: String,
    kid: String,
    exp: i64,
    issued: i64,
}

/// kid -> the key's algorithm and the key.
type CachedKeys = HashMap<String, (jsonwebtoken::Algorithm, jsonwebtoken::DecodingKey)>;

/// A relying party that caches the JWKS for as long as the header allows, refetches when its
/// copy is too old or, as a last resort, on an unknown `kid`; checks the signature with
/// jsonwebtoken, the algorithm against the key's, the issuer, and expiry on its own clock.
struct Verifier {
    /// The cached JWKS and when it was fetched.
    cache: Option<(CachedKeys, i64)>,
    lifetime: i64,
    /// The first fetch happens at T0 + phase, so the verifiers' caches expire at different times.
    phase: i64,
    fetches: usize,
    unknown_kid_refetches: usize,
}

impl Verifier {
    fn fetch(&mut self, tessera: &Tessera, now: i64) {
        let doc = tessera.jwks(now);
        let keys = doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                let alg = k["alg"].as_str().unwrap().parse().unwrap();
                let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(k.clone()).unwrap();
                let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
                (k["kid"].as_str().unwrap().to_string(), (alg, key))
            })
            .collect();
        self.cache = Some((keys, now));
        self.fetches += 1;
    }

    fn refresh_if_stale(&mut self, tessera: &Tessera, now: i64) {
        if now < T0 + self.phase {
            return;
        }
        if self.cache.as_ref().is_none_or(|(_, at)| now - at >= self.lifetime) {
            self.fetch(tessera, now);
        }
    }

    fn verify(&mut self, tessera: &Tessera, token: &Token, now: i64) -> Result<(), String> {
        let header = jsonwebtoken::decode_header(&token.jwt).map_err(|e| e.to_string())?;
        let kid = header.kid.clone().ok_or("no kid")?;
        if !self.cache.as_ref().is_some_and(|(keys, _)| keys.contains_key(&kid)) {
            self.unknown_kid_refetches += 1;
            self.fetch(tessera, now);
        }
        let (keys, _) = self.cache.as_ref().unwrap();
        let (alg, key) = keys.get(&kid).ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
        let alg = *alg;
        if header.alg != alg {
            return Err(format!("header alg {:?} is not the key's {alg:?}", header.alg));
        }
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.set_issuer(&[ISSUER]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(&token.jwt, key, &validation).map_err(|e| e.to_string())?.claims;
        if claims["exp"].as_i64().unwrap() + VERIFIER_LEEWAY < now {
            return Err("expired".into());
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Outcome {
    verifications: usize,
    failures: Vec<String>,
    unknown_kid_refetches: usize,
    fetches: usize,
    /// Per algorithm, every kid that signed, in order.
    signing_kids: HashMap<Alg, Vec<String>>,
    /// Every kid in the last JWKS.
    final_jwks: BTreeSet<String>,
}

/// Runs `rotations` (each at a time: `tessera keys rotate --alg all
/// --publication-window-secs <window>`), then `tamper` on the keys folder right after each
/// one, through `until`.
fn simulate(
    server_policy: KeyPolicy,
    window: i64,
    rotations: &[i64],
    until: i64,
    tamper: impl Fn(&Path, i64),
) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::default();
    let token_lifetime = config.tokens.access_token_lifetime_secs.max(config.tokens.id_token_lifetime_secs) as i64;
    let mut tessera = Tessera::start(dir.path(), server_policy, token_lifetime);
    let cli = KeyFolder::new(dir.path(), KeyPolicy::from_config(&config));
    let lifetime = cache_lifetime(JWKS_CACHE_CONTROL);
    let mut verifiers: Vec<Verifier> = (0..lifetime)
        .step_by(STEP as usize)
        .map(|phase| Verifier { cache: None, lifetime, phase, fetches: 0, unknown_kid_refetches: 0 })
        .collect();
    let mut live: Vec<Token> = Vec::new();
    let mut out = Outcome::default();
    let mut now = T0;
    while now <= until {
        for &at in rotations.iter().filter(|&&at| at > now - STEP && at <= now) {
            let r = cli.rotate(&Alg::ALL, window, at).unwrap();
            assert_eq!(r.added.len(), 3);
            tamper(dir.path(), at);
        }
        tessera.advance(now);
        for alg in Alg::ALL {
            let t = tessera.issue(alg, now);
            let kids = out.signing_kids.entry(alg).or_default();
            if kids.last() != Some(&t.kid) {
                kids.push(t.kid.clone());
            }
            live.push(t);
        }
        live.retain(|t| t.exp >= now);
        for v in verifiers.iter_mut().filter(|v| now >= T0 + v.phase) {
            v.refresh_if_stale(&tessera, now);
            // The tokens just issued, and the oldest still in use.
            let fresh = live.iter().filter(|t| t.issued == now);
            let oldest = live.iter().filter(|t| t.issued == live[0].issued && t.issued != now);
            for t in fresh.chain(oldest) {
                out.verifications += 1;
                if let Err(e) = v.verify(&tessera, t, now) {
                    out.failures.push(format!(
                        "t0+{}s, phase {}: token of t0+{}s: {e}",
                        now - T0,
                        v.phase,
                        t.issued - T0
                    ));
                }
            }
        }
        now += STEP;
    }
    for v in &verifiers {
        out.unknown_kid_refetches += v.unknown_kid_refetches;
        out.fetches += v.fetches;
    }
    out.final_jwks = tessera.jwks(until)["keys"].as_array().unwrap().iter().map(|k| k["kid"].to_string()).collect();
    out
}

fn default_policy() -> KeyPolicy {
    KeyPolicy::from_config(&Config::default())
}

#[test]
fn verifiers_see_no_failure_through_two_full_rotations() {
    // Rotations at unaligned times; the second after the first key's retirement.
    let first = T0 + 605;
    let second = T0 + 3_007;
    let until = second + 900 + 300 + 90 + 600;
    let window = Config::default().keys.publication_window_secs as i64;
    let out = simulate(default_policy(), window, &[first, second], until, |_, _| {});
    assert!(
        out.failures.is_empty(),
        "{} failures, first: {:?}",
        out.failures.len(),
        &out.failures[..3.min(out.failures.len())]
    );
    assert_eq!(out.unknown_kid_refetches, 0, "a verifier met a kid before its cached JWKS had it");
    assert!(out.verifications > 10_000, "{} verifications", out.verifications);
    for alg in Alg::ALL {
        let kids = &out.signing_kids[&alg];
        assert_eq!(kids.len(), 3, "{alg}: two switches of the signing key: {kids:?}");
    }
    // At the end only the current keys are left: the replaced ones have retired.
    assert_eq!(out.final_jwks.len(), 3, "{:?}", out.final_jwks);
    eprintln!("{} verifications, {} JWKS fetches, 0 failures", out.verifications, out.fetches);
}

#[test]
fn the_shortest_window_allowed_is_enough() {
    let window = tessera::keys::MIN_PUBLICATION_WINDOW_SECS;
    let out = simulate(default_policy(), window, &[T0 + 605], T0 + 605 + window + 300 + 90 + 400, |_, _| {});
    assert!(out.failures.is_empty(), "{:?}", &out.failures[..3.min(out.failures.len())]);
    assert_eq!(out.unknown_kid_refetches, 0);
    assert!(out.signing_kids.values().all(|kids| kids.len() == 2));
}

/// Rewrites the activation time of the keys `keys rotate` just added to `at + window`,
/// bypassing the refusal of short windows.
fn activate_after(window: i64) -> impl Fn(&Path, i64) {
    move |dir: &Path, at: i64| {
        let path = dir.join("keyring.json");
        let mut ring: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for k in ring["keys"].as_array_mut().unwrap() {
            if k["activate_at"].as_i64().unwrap() > at {
                k["activate_at"] = (at + window).into();
            }
        }
        std::fs::write(&path, serde_json::to_vec(&ring).unwrap()).unwrap();
    }
}

#[test]
fn the_harness_catches_a_key_that_signs_as_soon_as_it_is_published() {
    // Dex's way: the new key signs at once (dexidp/dex#2759).
    let out = simulate(default_policy(), 900, &[T0 + 605], T0 + 2_400, activate_after(0));
    assert!(out.unknown_kid_refetches > 0, "caches met a kid they did not have");
}

#[test]
fn a_window_of_max_age_plus_stale_alone_is_too_short() {
    // 360 s covers a cache's 300 s max-age and 60 s stale-while-revalidate, but not the up to
    // 30 s a server takes to read the keyring: a rotation just after a reload tick (the
    // server reads it 29 s later) lets a verifier meet the new kid before its cache has it.
    let out = simulate(default_policy(), 900, &[T0 + 601], T0 + 1_800, activate_after(360));
    assert!(out.unknown_kid_refetches > 0, "a cache met the new kid first");
}

#[test]
fn the_harness_catches_a_key_dropped_as_soon_as_it_is_replaced() {
    // A server that believes tokens live 0 s retires the old key 90 s after the switch, while
    // its last tokens live 300 s.
    let policy = KeyPolicy { max_token_lifetime_secs: 0, ..default_policy() };
    let out = simulate(policy, 900, &[T0 + 605], T0 + 2_400, |_, _| {});
    assert!(
        out.failures.iter().any(|f| f.contains("not in the JWKS")),
        "tokens of the dropped key fail: {:?}",
        out.failures
    );
}

/// The in-process server: the JWKS header the simulation honours, and a rotation reaching
/// the JWKS and the token endpoint through the shared key set.
#[tokio::test]
async fn the_served_jwks_follows_a_rotation_and_carries_the_simulated_cache_header() {
    let app = TestApp::new(Backend::SqliteMemory).await;
    let res = app.get("/jwks.json").await;
    assert_eq!(res.headers()[header::CACHE_CONTROL].to_str().unwrap(), JWKS_CACHE_CONTROL);
    assert_eq!(cache_lifetime(JWKS_CACHE_CONTROL), 360);

    let dir = tempfile::tempdir().unwrap();
    let now = tessera::crypto::now();
    let folder = KeyFolder::new(dir.path(), default_policy());
    let (set, mut reloader) = KeyReloader::start(folder.clone(), now).unwrap();
    let old_kid = set.active_kid(Alg::ES256, now).to_string();
    app.state.provider.keys.replace(Arc::new(set));
    let rotation = folder.rotate(&[Alg::ES256], 900, now).unwrap();
    let new_kid = rotation.added[0].meta.kid.clone();
    app.state.provider.keys.replace(Arc::new(reloader.poll(now).unwrap().expect("the keyring changed")));

    let jwks = body_json(app.get("/jwks.json").await).await;
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), 4);
    assert_eq!(kids[0], old_kid, "the signing key is listed first");
    assert!(kids.contains(&new_kid.as_str()), "the next key is published");

    app.client("svc", false, |_| {}).await;
    let res = app.post_form("/token", &[("grant_type", "client_credentials")], Some(("svc", "s3cret-svc"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = body_json(res).await["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_parts(&token).0["kid"], old_kid.as_str(), "the next key does not sign yet");
    let intro = app.introspect("svc", &token).await;
    assert_eq!(intro["active"], true);
}

/// The same rotation, verified by the `tessera-verifier` crate itself with a controlled clock:
/// it keeps its JWKS for max-age + stale and loads the current set when that copy is too old
/// or when it meets an unknown `kid` (as its `jwks-fetch` feature does). Every access token
/// issued along two full rotations verifies.
#[test]
fn the_verifier_crate_sees_no_failure_through_two_full_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::default();
    let token_lifetime = config.tokens.access_token_lifetime_secs as i64;
    let mut tessera = Tessera::start(dir.path(), default_policy(), token_lifetime);
    let cli = KeyFolder::new(dir.path(), KeyPolicy::from_config(&config));
    let lifetime = cache_lifetime(JWKS_CACHE_CONTROL);
    let clock = tessera_verifier::FixedClock::new(T0);
    let jwks = |t: &Tessera, now: i64| -> tessera_verifier::JwkSet { serde_json::from_value(t.jwks(now)).unwrap() };
    let verifier = tessera_verifier::Verifier::builder(ISSUER)
        .audience("api")
        .keys(jwks(&tessera, T0))
        .clock(clock.clone())
        .build()
        .unwrap();
    let (mut fetched_at, mut verified, mut refetches) = (T0, 0usize, 0usize);
    let window = config.keys.publication_window_secs as i64;
    let rotations = [T0 + 600, T0 + 600 + 3 * window];
    let until = rotations[1] + window + 2 * token_lifetime;
    let mut live: Vec<Token> = Vec::new();
    let mut now = T0;
    while now <= until {
        clock.set(now);
        for &at in rotations.iter().filter(|&&at| at > now - STEP && at <= now) {
            cli.rotate(&Alg::ALL, window, at).unwrap();
        }
        tessera.advance(now);
        if now - fetched_at >= lifetime {
            verifier.replace_keys(&jwks(&tessera, now)).unwrap();
            fetched_at = now;
        }
        for alg in [Alg::ES256, Alg::EdDSA] {
            let exp = now + token_lifetime;
            let claims = serde_json::json!({
                "iss": ISSUER, "sub": "alice", "aud": "api", "iat": now, "exp": exp, "jti": format!("{now}-{alg}"),
                "client_id": "web", "scope": "openid", "tnt": "acme", "pk": "u", "ep": 1, "rb": { "v": 1, "t": "200000000000000" },
            });
            let jwt = tessera.keys.current().sign_at(now, alg, Typ::AccessToken, &claims).unwrap();
            let kid = jsonwebtoken::decode_header(&jwt).unwrap().kid.unwrap();
            live.push(Token { jwt, kid, exp, issued: now });
        }
        live.retain(|t| t.exp > now);
        for t in &live {
            let result = match verifier.verify(&t.jwt) {
                Err(tessera_verifier::VerifyError::UnknownKey) => {
                    refetches += 1;
                    verifier.replace_keys(&jwks(&tessera, now)).unwrap();
                    fetched_at = now;
                    verifier.verify(&t.jwt)
                }
                other => other,
            };
            let token = result
                .unwrap_or_else(|e| panic!("t0+{}s: token of t0+{}s ({}): {e:?}", now - T0, t.issued - T0, t.kid));
            assert!(token.allows_in_tenant(
                "acme",
                tessera_verifier::Permission::Flow,
                tessera_verifier::Action::Read,
                Some("any.namespace")
            ));
            verified += 1;
        }
        now += STEP;
    }
    assert!(verified > 10_000, "{verified}");
    assert_eq!(refetches, 0, "a new key is in every cache before it signs");
    let signed_kids: BTreeSet<&str> = live.iter().map(|t| t.kid.as_str()).collect();
    assert!(!signed_kids.is_empty());
}
