//! `allows_in_tenant` as docs/CLAIMS.md specifies: worked examples, then thousands of random tokens
//! checked against a naive reference written straight from the document.

mod common;

use common::*;
use serde_json::{Value, json};
use tessera_verifier::{AccessToken, Action, Permission, Verifier};

fn token(verifier: &Verifier, key: &TestKey, changes: Value) -> AccessToken {
    verifier.verify(&key.token(&claims_with(changes))).unwrap()
}

#[test]
fn catalogue_names_and_order_match_the_server() {
    let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(
        names,
        [
            "FLOW",
            "BLUEPRINT",
            "TEMPLATE",
            "NAMESPACE",
            "EXECUTION",
            "USER",
            "GROUP",
            "ROLE",
            "BINDING",
            "AUDITLOG",
            "SECRET",
            "IMPERSONATE",
            "SETTING",
            "WORKER",
            "TENANT"
        ]
    );
    for (i, p) in Permission::ALL.into_iter().enumerate() {
        assert_eq!(p.index(), i);
        assert_eq!(p.to_string().parse::<Permission>(), Ok(p));
    }
    let actions: Vec<(&str, u8)> = Action::ALL.iter().map(|a| (a.as_str(), a.mask())).collect();
    assert_eq!(actions, [("CREATE", 1), ("READ", 2), ("UPDATE", 4), ("DELETE", 8)]);
    assert!("flow".parse::<Permission>().is_err() && "Read".parse::<Action>().is_err());
    assert_eq!("AUDITLOG".parse::<Permission>(), Ok(Permission::AuditLog));
}

#[test]
fn the_documented_example() {
    use Action::*;
    use Permission::*;
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    // "f20000000000000" on prod and staging.etl: FLOW all four actions, BLUEPRINT READ; "020000000000000" on dev.
    let t = token(&verifier, &key, json!({}));
    for a in Action::ALL {
        assert!(t.allows_in_tenant("acme", Flow, a, Some("prod")));
        assert!(t.allows_in_tenant("acme", Flow, a, Some("prod.engineering")));
        assert!(t.allows_in_tenant("acme", Flow, a, Some("staging.etl.nightly")));
        assert!(!t.allows_in_tenant("acme", Flow, a, Some("production")));
        assert!(!t.allows_in_tenant("acme", Flow, a, Some("staging")));
        assert!(!t.allows_in_tenant("acme", Flow, a, Some("dev")));
        assert!(!t.allows_in_tenant("acme", Flow, a, None));
    }
    assert!(
        t.allows_in_tenant("acme", Blueprint, Read, Some("prod"))
            && t.allows_in_tenant("acme", Blueprint, Read, Some("dev.team"))
    );
    assert!(
        !t.allows_in_tenant("acme", Blueprint, Create, Some("prod"))
            && !t.allows_in_tenant("acme", Blueprint, Update, Some("dev"))
    );
    assert!(!t.allows_in_tenant("acme", Execution, Read, Some("prod")));
    assert!(
        !t.allows_in_tenant("acme", Flow, Read, Some("pro")) && !t.allows_in_tenant("acme", Flow, Read, Some("Prod"))
    );
    // The same bindings allow nothing in another tenant.
    assert!(
        !t.allows_in_tenant("globex", Flow, Read, Some("prod")) && !t.allows_in_tenant("globex", Blueprint, Read, None)
    );

    // Tenant-wide grants reach every namespace and the tenant-level resources.
    let t = token(&verifier, &key, json!({ "jti": "t", "rb": { "v": 1, "t": "000004000000009" } }));
    assert!(t.allows_in_tenant("acme", User, Update, None));
    assert!(t.allows_in_tenant("acme", User, Update, Some("any.namespace")));
    assert!(t.allows_in_tenant("acme", Tenant, Create, None) && t.allows_in_tenant("acme", Tenant, Delete, None));
    assert!(!t.allows_in_tenant("acme", Tenant, Read, None) && !t.allows_in_tenant("acme", User, Read, None));
    assert!(!t.allows_in_tenant("acme", Flow, Read, None));
}

#[test]
fn admins_references_unknown_versions_and_bare_clients() {
    use Action::*;
    use Permission::*;
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    for adm in ["i", "t"] {
        let t = token(&verifier, &key, json!({ "jti": adm, "adm": adm, "rb": null }));
        assert!(
            t.allows_in_tenant("acme", Secret, Delete, Some("prod"))
                && t.allows_in_tenant("acme", Tenant, Delete, None)
        );
        assert!(!t.needs_introspection());
        assert!(!t.allows_in_tenant("acme", Flow, Read, Some("prod..x")), "an invalid namespace is never allowed");
    }
    let t = token(&verifier, &key, json!({ "jti": "ref", "rb": { "v": 1, "ref": true } }));
    assert!(t.needs_introspection());
    for p in Permission::ALL {
        for a in Action::ALL {
            assert!(!t.allows_in_tenant("acme", p, a, Some("prod")) && !t.allows_in_tenant("acme", p, a, None));
        }
    }
    let t = token(&verifier, &key, json!({ "jti": "v2", "rb": { "v": 2, "t": "fffffffffffffff", "x": [1] } }));
    assert!(!t.needs_introspection());
    assert!(!t.allows_in_tenant("acme", Flow, Read, Some("prod")) && !t.allows_in_tenant("acme", Flow, Read, None));
    let t = token(&verifier, &key, json!({ "jti": "c", "pk": "c", "sub": "flows-ui", "rb": null }));
    assert!(
        !t.allows_in_tenant("acme", Flow, Read, Some("prod"))
            && !t.allows_in_tenant("acme", Flow, Read, None)
            && !t.needs_introspection()
    );
    let t = token(&verifier, &key, json!({ "jti": "adm?", "adm": "super", "rb": null }));
    assert!(!t.allows_in_tenant("acme", Flow, Read, Some("prod")), "an unknown admin role grants nothing");
}

#[test]
fn requested_namespaces_must_be_valid() {
    use Action::*;
    use Permission::*;
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    let t = token(&verifier, &key, json!({ "jti": "all", "rb": { "v": 1, "t": "fffffffffffffff" } }));
    assert!(t.allows_in_tenant("acme", Flow, Read, Some("prod")));
    for bad in ["", ".", "prod.", ".prod", "prod..etl", "prod etl", "prod/etl", "prodé", &"a".repeat(256)] {
        assert!(!t.allows_in_tenant("acme", Flow, Read, Some(bad)), "{bad:?}");
    }
    // "prod." must not slip through as a child of "prod".
    let t = token(&verifier, &key, json!({ "jti": "p", "rb": { "v": 1, "n": { "fffffffffffffff": ["prod"] } } }));
    assert!(
        t.allows_in_tenant("acme", Flow, Read, Some("prod.x"))
            && !t.allows_in_tenant("acme", Flow, Read, Some("prod."))
    );
}

/// splitmix64: small, deterministic, good enough to explore.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const SEGMENTS: [&str; 11] =
    ["prod", "production", "pro", "dev", "staging", "etl", "engineering", "a", "b", "prod-eu", "x_1"];
const INVALID: [&str; 7] = ["", "prod.", ".prod", "prod..etl", "prod etl", "Prod/eu", "é"];

fn namespace(rng: &mut Rng) -> String {
    let depth = 1 + rng.below(3);
    (0..depth).map(|_| rng.pick(&SEGMENTS)).collect::<Vec<_>>().join(".")
}

/// A sparse permission set: most digits zero.
fn perm_set(rng: &mut Rng) -> String {
    (0..15)
        .map(|_| if rng.chance(50) { '0' } else { char::from_digit(1 + rng.below(15) as u32, 16).unwrap() })
        .collect()
}

/// The reference, read straight off docs/CLAIMS.md with no shared code: digit `p` of the set,
/// bit of the action; coverage by whole `.`-separated segments.
fn reference_allows(claims: &Value, tenant: &str, p: usize, a: usize, ns: Option<&str>) -> bool {
    let valid = |s: &str| {
        s.len() <= 255
            && s.split('.')
                .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    };
    if ns.is_some_and(|s| !valid(s)) {
        return false;
    }
    let adm = claims.get("adm").and_then(Value::as_str);
    if adm == Some("i") {
        return true;
    }
    if tenant != claims["tnt"] {
        return false;
    }
    if adm == Some("i") || adm == Some("t") {
        return true;
    }
    let Some(rb) = claims.get("rb") else { return false };
    if rb.get("ref") == Some(&json!(true)) || rb["v"] != json!(1) {
        return false;
    }
    let has = |set: &str| u8::from_str_radix(&set[p..p + 1], 16).unwrap() & (1 << a) != 0;
    if rb.get("t").and_then(Value::as_str).is_some_and(has) {
        return true;
    }
    let Some(ns) = ns else { return false };
    let requested: Vec<&str> = ns.split('.').collect();
    rb.get("n").and_then(Value::as_object).is_some_and(|n| {
        n.iter().any(|(set, list)| {
            has(set)
                && list.as_array().unwrap().iter().any(|granted| {
                    let granted: Vec<&str> = granted.as_str().unwrap().split('.').collect();
                    granted.len() <= requested.len() && granted[..] == requested[..granted.len()]
                })
        })
    })
}

fn random_claims(rng: &mut Rng, i: usize) -> (Value, Vec<String>) {
    let mut bound = Vec::new();
    let mut c = claims_with(json!({ "jti": format!("prop-{i}") }));
    let obj = c.as_object_mut().unwrap();
    obj.remove("rb");
    match rng.below(100) {
        0..10 => {
            obj.insert("adm".into(), json!("i"));
        }
        10..15 => {
            obj.insert("adm".into(), json!("t"));
        }
        _ => {}
    }
    match rng.below(100) {
        0..5 => {
            obj.insert("rb".into(), json!({ "v": 1, "ref": true }));
        }
        5..10 => {
            obj.insert("rb".into(), json!({ "v": 2 + rng.below(3), "t": perm_set(rng) }));
        }
        10..20 => {}
        _ => {
            let mut rb = json!({ "v": 1 });
            if rng.chance(50) {
                rb["t"] = json!(perm_set(rng));
            }
            let mut n = serde_json::Map::new();
            for _ in 0..rng.below(6) {
                let list: Vec<String> = (0..1 + rng.below(4)).map(|_| namespace(rng)).collect();
                bound.extend(list.iter().cloned());
                n.insert(perm_set(rng), json!(list));
            }
            if !n.is_empty() || rng.chance(50) {
                rb["n"] = Value::Object(n);
            }
            obj.insert("rb".into(), rb);
        }
    }
    (c, bound)
}

fn random_query(rng: &mut Rng, bound: &[String]) -> Option<String> {
    match rng.below(100) {
        0..20 => None,
        20..28 => Some(rng.pick(&INVALID).to_owned()),
        // Near a bound namespace: itself, a child, a parent, or a string-prefix look-alike.
        28..70 if !bound.is_empty() => {
            let b = &bound[rng.below(bound.len() as u64) as usize];
            Some(match rng.below(4) {
                0 => b.clone(),
                1 => format!("{b}.{}", rng.pick(&SEGMENTS)),
                2 => b.rsplit_once('.').map_or_else(|| b.clone(), |(parent, _)| parent.to_owned()),
                _ => format!("{b}{}", rng.pick(&["x", "-eu", "uction", "_1"])),
            })
        }
        _ => Some(namespace(rng)),
    }
}

#[test]
fn allows_matches_the_reference_on_random_tokens() {
    let key = TestKey::eddsa("k");
    let (verifier, _) = verifier(&[&key]);
    let mut rng = Rng(0x7e55_e7a0);
    let (mut checks, mut allowed) = (0u64, 0u64);
    for i in 0..3_000 {
        let (claims, bound) = random_claims(&mut rng, i);
        let t = verifier.verify(&key.token(&claims)).unwrap();
        let is_ref = claims.get("rb").is_some_and(|rb| rb.get("ref") == Some(&json!(true)));
        assert_eq!(t.needs_introspection(), is_ref && claims.get("adm").is_none(), "{claims}");
        for _ in 0..40 {
            let p = Permission::ALL[rng.below(15) as usize];
            let a = Action::ALL[rng.below(4) as usize];
            let ns = random_query(&mut rng, &bound);
            let tenant = if rng.chance(70) { "acme" } else { "globex" };
            let expected = reference_allows(&claims, tenant, p.index(), a.index(), ns.as_deref());
            assert_eq!(t.allows_in_tenant(tenant, p, a, ns.as_deref()), expected, "{tenant} {p}:{a} {ns:?} {claims}");
            checks += 1;
            allowed += u64::from(expected);
        }
    }
    // The generator explores both answers.
    assert!(checks == 120_000 && allowed > checks / 10 && allowed < checks * 9 / 10, "{allowed}/{checks}");
}
