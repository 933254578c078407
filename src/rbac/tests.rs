//! Rules of [`EffectiveAccess`] and its capabilities, then property tests against naive
//! reference implementations (deterministic seeds, so a failure reproduces).

use super::test_rng::Rng;
use super::*;

use Action::{Create, Delete, Read, Update};
use Permission::{Execution, Flow, Role, User};

fn ns(s: &str) -> Namespace {
    Namespace::new(s).unwrap()
}

fn on(namespaces: &[&str]) -> Scope {
    Scope::Namespaces(namespaces.iter().map(|s| ns(s)).collect())
}

fn perms(entries: &[&str]) -> PermSet {
    PermSet::from_strings(entries).unwrap()
}

fn user(grants: Vec<Grant>) -> EffectiveAccess {
    EffectiveAccess::new("acme", false, false, grants)
}

fn tenant_admin() -> EffectiveAccess {
    EffectiveAccess::new("acme", false, true, [])
}

fn instance_admin() -> EffectiveAccess {
    EffectiveAccess::new("acme", true, false, [])
}

// ---- allows: scopes and inheritance ----

#[test]
fn namespace_grant_reaches_children_but_not_lookalikes() {
    let access = user(vec![Grant::new(on(&["prod"]), perms(&["FLOW:READ"]))]);
    for inside in ["prod", "prod.engineering", "prod.engineering.etl"] {
        assert!(access.allows(Flow, Read, Some(&ns(inside))), "{inside}");
    }
    for outside in ["production", "pro", "dev", "dev.prod", "production.engineering"] {
        assert!(!access.allows(Flow, Read, Some(&ns(outside))), "{outside}");
    }
    assert!(!access.allows(Flow, Update, Some(&ns("prod"))));
    assert!(!access.allows(Execution, Read, Some(&ns("prod"))));
}

#[test]
fn child_grant_does_not_reach_the_parent() {
    let access = user(vec![Grant::new(on(&["prod.engineering"]), perms(&["FLOW:UPDATE"]))]);
    assert!(access.allows(Flow, Update, Some(&ns("prod.engineering.etl"))));
    assert!(!access.allows(Flow, Update, Some(&ns("prod"))));
    assert!(!access.allows(Flow, Update, Some(&ns("prod.marketing"))));
}

#[test]
fn tenant_level_permission_is_not_granted_by_a_namespace_binding() {
    let access = user(vec![Grant::new(on(&["prod"]), perms(&["USER:READ", "ROLE:UPDATE", "BINDING:CREATE"]))]);
    assert!(!access.allows(User, Read, None));
    assert!(!access.allows(Role, Update, None));
    assert!(!access.allows(Permission::Binding, Create, None));
    let denied = access.require(User, Read).unwrap_err();
    assert_eq!(denied, Denied::Missing { permission: User, action: Read, namespace: None });
    assert_eq!(denied.to_string(), "missing permission USER:READ tenant-wide");
}

#[test]
fn whole_tenant_grant_reaches_tenant_level_and_every_namespace() {
    let access = user(vec![Grant::new(Scope::Tenant, perms(&["USER:READ", "FLOW:READ"]))]);
    assert!(access.allows(User, Read, None));
    assert!(access.allows(Flow, Read, None));
    for namespace in ["prod", "dev.x", "production"] {
        assert!(access.allows(Flow, Read, Some(&ns(namespace))));
        assert!(!access.allows(Flow, Delete, Some(&ns(namespace))));
    }
    assert!(!access.allows(User, Create, None));
}

#[test]
fn direct_and_group_grants_add_up() {
    let direct = Grant::new(on(&["prod"]), perms(&["FLOW:READ"]));
    let group_a = Grant::new(on(&["prod.engineering", "dev"]), perms(&["FLOW:UPDATE", "EXECUTION:CREATE"]));
    let group_b = Grant::new(Scope::Tenant, perms(&["USER:READ"]));
    let access = user(vec![direct, group_a, group_b]);

    let eng = ns("prod.engineering.etl");
    assert!(access.allows(Flow, Read, Some(&eng)));
    assert!(access.allows(Flow, Update, Some(&eng)));
    assert!(access.allows(Execution, Create, Some(&eng)));
    assert!(access.allows(User, Read, Some(&eng)));
    assert!(access.allows(User, Read, None));
    assert_eq!(access.effective(Some(&eng)), perms(&["FLOW:READ", "FLOW:UPDATE", "EXECUTION:CREATE", "USER:READ"]));

    assert!(access.allows(Flow, Read, Some(&ns("prod"))));
    assert!(!access.allows(Flow, Update, Some(&ns("prod"))));
    assert!(access.allows(Flow, Update, Some(&ns("dev"))));
    assert!(!access.allows(Flow, Read, Some(&ns("dev"))));
    assert!(!access.allows(Flow, Read, None));
    assert_eq!(access.effective(None), perms(&["USER:READ"]));
}

#[test]
fn nobody_without_grants_may_do_anything() {
    let access = user(vec![]);
    assert_eq!(access.effective(None), PermSet::EMPTY);
    assert_eq!(access.effective(Some(&ns("prod"))), PermSet::EMPTY);
    assert!(access.compact().is_empty());
    // An empty namespace list applies nowhere.
    let access = user(vec![Grant::new(Scope::Namespaces(vec![]), PermSet::ALL)]);
    assert_eq!(access.effective(Some(&ns("prod"))), PermSet::EMPTY);
}

#[test]
fn admins_may_do_everything_in_the_tenant() {
    for admin in [tenant_admin(), instance_admin()] {
        for p in Permission::ALL {
            for a in Action::ALL {
                assert!(admin.allows(p, a, None));
                assert!(admin.allows(p, a, Some(&ns("any.namespace"))));
            }
        }
        assert_eq!(admin.effective(None), PermSet::ALL);
        assert!(admin.require(User, Delete).is_ok());
        assert!(admin.require_in(Flow, Delete, &ns("prod")).is_ok());
    }
}

// ---- capabilities ----

#[test]
fn require_returns_a_capability_bound_to_tenant_permission_and_place() {
    let access = user(vec![
        Grant::new(Scope::Tenant, perms(&["ROLE:UPDATE"])),
        Grant::new(on(&["prod"]), perms(&["FLOW:DELETE"])),
    ]);
    assert_eq!(access.tenant_id(), "acme");
    assert!(!access.is_tenant_admin() && !access.is_instance_admin());

    let cap = access.require(Role, Update).unwrap();
    assert_eq!(cap.tenant_id(), "acme");
    assert_eq!((cap.permission(), cap.action(), cap.namespace()), (Role, Update, None));
    assert!(cap.covers_namespace(&ns("anything")));

    let cap = access.require_in(Flow, Delete, &ns("prod.engineering")).unwrap();
    assert_eq!(cap.tenant_id(), "acme");
    assert_eq!((cap.permission(), cap.action()), (Flow, Delete));
    assert_eq!(cap.namespace(), Some(&ns("prod.engineering")));
    assert!(cap.covers_namespace(&ns("prod.engineering.etl")));
    assert!(!cap.covers_namespace(&ns("prod")));
    assert!(!cap.covers_namespace(&ns("prod.engineering-eu")));

    let denied = access.require_in(Flow, Delete, &ns("production")).unwrap_err();
    assert_eq!(denied, Denied::Missing { permission: Flow, action: Delete, namespace: Some(ns("production")) });
    assert_eq!(denied.to_string(), "missing permission FLOW:DELETE in namespace `production`");
    // A namespace capability is not a tenant-wide one.
    assert!(access.require(Flow, Delete).is_err());
}

#[test]
fn only_the_instance_admin_gets_the_instance_capability() {
    assert!(instance_admin().require_instance_admin().is_ok());
    assert!(EffectiveAccess::new("acme", true, true, []).require_instance_admin().is_ok());
    let denied = tenant_admin().require_instance_admin().unwrap_err();
    assert_eq!(denied, Denied::NotInstanceAdmin);
    assert_eq!(denied.to_string(), "the Instance Admin role is required");
    // Holding every permission, TENANT:* included, tenant-wide is still not the role.
    let everything = user(vec![Grant::new(Scope::Tenant, PermSet::ALL)]);
    assert_eq!(everything.require_instance_admin(), Err(Denied::NotInstanceAdmin));
    assert_eq!(user(vec![]).require_instance_admin(), Err(Denied::NotInstanceAdmin));
}

// ---- no escalation ----

#[test]
fn flow_reader_on_prod_cannot_grant_more_or_elsewhere() {
    let actor = user(vec![Grant::new(on(&["prod"]), perms(&["FLOW:READ"]))]);
    let read = perms(&["FLOW:READ"]);
    let update = perms(&["FLOW:UPDATE"]);

    assert!(!actor.covers_grant(update, &on(&["prod"])));
    assert!(!actor.covers_grant(read, &on(&["dev"])));
    assert!(!actor.covers_grant(update, &on(&["dev"])));
    assert!(!actor.covers_grant(read, &Scope::Tenant));
    assert!(!actor.covers_grant(read, &on(&["production"])));
    assert!(!actor.covers_grant(read, &on(&["prod", "dev"])));
    assert!(!actor.covers_grant(perms(&["FLOW:READ", "FLOW:UPDATE"]), &on(&["prod"])));

    // What they hold, where they hold it (or below) is fine; nothing is always fine.
    assert!(actor.covers_grant(read, &on(&["prod"])));
    assert!(actor.covers_grant(read, &on(&["prod.engineering", "prod"])));
    assert!(actor.covers_grant(PermSet::EMPTY, &on(&["dev"])));
    assert!(actor.covers_grant(PermSet::EMPTY, &Scope::Tenant));
    assert!(actor.covers_grant(PermSet::ALL, &Scope::Namespaces(vec![])));

    let denied = actor.check_grant(perms(&["FLOW:READ", "FLOW:UPDATE"]), &on(&["prod"])).unwrap_err();
    assert_eq!(denied, Denied::CannotGrant { permission: Flow, action: Update, namespace: Some(ns("prod")) });
    assert_eq!(denied.to_string(), "cannot grant FLOW:UPDATE in namespace `prod`: you do not hold it there yourself");
    let denied = actor.check_grant(read, &Scope::Tenant).unwrap_err();
    assert_eq!(denied.to_string(), "cannot grant FLOW:READ tenant-wide: you do not hold it there yourself");
    assert_eq!(
        actor.check_grant(read, &on(&["prod", "dev"])),
        Err(Denied::CannotGrant { permission: Flow, action: Read, namespace: Some(ns("dev")) })
    );
}

#[test]
fn a_namespace_binding_cannot_hand_out_tenant_level_permissions() {
    let actor = user(vec![Grant::new(on(&["prod"]), perms(&["USER:READ", "BINDING:CREATE"]))]);
    assert!(!actor.covers_grant(perms(&["USER:READ"]), &Scope::Tenant));
    let actor = user(vec![Grant::new(Scope::Tenant, perms(&["USER:READ", "FLOW:READ"]))]);
    assert!(actor.covers_grant(perms(&["USER:READ", "FLOW:READ"]), &Scope::Tenant));
    assert!(actor.covers_grant(perms(&["FLOW:READ"]), &on(&["dev", "prod.x"])));
    assert!(!actor.covers_grant(perms(&["FLOW:UPDATE"]), &on(&["dev"])));
}

#[test]
fn group_and_direct_grants_together_cover_a_grant() {
    let actor = user(vec![
        Grant::new(on(&["prod"]), perms(&["FLOW:READ"])),
        Grant::new(on(&["prod.engineering"]), perms(&["FLOW:UPDATE"])),
    ]);
    assert!(actor.covers_grant(perms(&["FLOW:READ", "FLOW:UPDATE"]), &on(&["prod.engineering"])));
    assert!(!actor.covers_grant(perms(&["FLOW:READ", "FLOW:UPDATE"]), &on(&["prod"])));
}

#[test]
fn tenant_admin_can_grant_anything_in_the_tenant() {
    for admin in [tenant_admin(), instance_admin()] {
        assert!(admin.covers_grant(PermSet::ALL, &Scope::Tenant));
        assert!(admin.covers_grant(PermSet::ALL, &on(&["prod", "dev.x", "production"])));
        assert_eq!(admin.check_grant(PermSet::ALL, &Scope::Tenant), Ok(()));
    }
}

// ---- compact ----

#[test]
fn compact_merges_groups_and_drops_inherited_permissions() {
    let access = user(vec![
        Grant::new(Scope::Tenant, perms(&["FLOW:READ"])),
        Grant::new(on(&["prod"]), perms(&["FLOW:READ"])),
        Grant::new(on(&["prod"]), perms(&["EXECUTION:CREATE"])),
        Grant::new(on(&["dev", "prod.engineering"]), perms(&["EXECUTION:CREATE"])),
        Grant::new(on(&["staging"]), perms(&["FLOW:READ"])),
        Grant::new(on(&["qa"]), perms(&["FLOW:UPDATE", "ROLE:READ"])),
        Grant::new(on(&["qa.eu"]), perms(&["FLOW:UPDATE", "FLOW:DELETE"])),
    ]);
    assert_eq!(
        access.compact(),
        vec![
            (Scope::Tenant, perms(&["FLOW:READ"])),
            (on(&["dev", "prod"]), perms(&["EXECUTION:CREATE"])),
            (on(&["qa"]), perms(&["FLOW:UPDATE", "ROLE:READ"])),
            (on(&["qa.eu"]), perms(&["FLOW:DELETE"])),
        ]
    );
}

#[test]
fn compact_of_an_admin_is_everything_tenant_wide() {
    assert_eq!(tenant_admin().compact(), vec![(Scope::Tenant, PermSet::ALL)]);
    assert_eq!(instance_admin().compact(), vec![(Scope::Tenant, PermSet::ALL)]);
}

// ---- properties ----

/// Every namespace `Rng::namespace` can produce: segments `a`, `ab`, `b`, depth 1 to 3.
fn universe() -> Vec<Namespace> {
    let segments = ["a", "ab", "b"];
    let mut out: Vec<String> = segments.iter().map(|s| s.to_string()).collect();
    let mut level = out.clone();
    for _ in 1..3 {
        level = level.iter().flat_map(|prefix| segments.iter().map(move |s| format!("{prefix}.{s}"))).collect();
        out.extend(level.iter().cloned());
    }
    out.iter().map(|s| ns(s)).collect()
}

fn random_grants(rng: &mut Rng) -> Vec<Grant> {
    (0..rng.below(7))
        .map(|_| {
            let scope = if rng.chance(1, 5) {
                Scope::Tenant
            } else {
                Scope::Namespaces((0..rng.below(4)).map(|_| rng.namespace()).collect())
            };
            Grant::new(scope, rng.small_perm_set())
        })
        .collect()
}

fn random_access(rng: &mut Rng) -> EffectiveAccess {
    let instance_admin = rng.chance(1, 40);
    let tenant_admin = rng.chance(1, 40);
    EffectiveAccess::new("acme", instance_admin, tenant_admin, random_grants(rng))
}

fn random_query_namespace(rng: &mut Rng) -> Option<Namespace> {
    if rng.chance(1, 4) { None } else { Some(rng.namespace()) }
}

/// The rule written out naively, straight from the grants.
fn reference_allows(
    admin: bool,
    grants: &[Grant],
    permission: Permission,
    action: Action,
    namespace: Option<&Namespace>,
) -> bool {
    admin
        || grants.iter().any(|grant| {
            grant.perms.contains(permission, action)
                && match (&grant.scope, namespace) {
                    (Scope::Tenant, _) => true,
                    (Scope::Namespaces(_), None) => false,
                    (Scope::Namespaces(list), Some(namespace)) => list.iter().any(|bound| bound.covers(namespace)),
                }
        })
}

#[test]
fn property_covers_is_segment_prefix() {
    let mut rng = Rng::new(0x5eed_0002);
    let all = universe();
    assert_eq!(all.len(), 39);
    for _ in 0..20_000 {
        let (a, b) = (rng.pick(&all).clone(), rng.pick(&all).clone());
        let a_segments: Vec<&str> = a.segments().collect();
        let b_segments: Vec<&str> = b.segments().collect();
        let expected = b_segments.starts_with(&a_segments);
        assert_eq!(a.covers(&b), expected, "{a} covers {b}");
        assert_eq!(b.self_and_ancestors().any(|c| c == a.as_str()), expected, "{a} ancestor of {b}");
    }
}

#[test]
fn property_allows_matches_the_naive_rule() {
    let mut rng = Rng::new(0x5eed_0003);
    for _ in 0..3_000 {
        let grants = random_grants(&mut rng);
        let (instance_admin, tenant_admin) = (rng.chance(1, 40), rng.chance(1, 40));
        let access = EffectiveAccess::new("acme", instance_admin, tenant_admin, grants.clone());
        for _ in 0..50 {
            let (p, a, namespace) = (rng.permission(), rng.action(), random_query_namespace(&mut rng));
            let expected = reference_allows(instance_admin || tenant_admin, &grants, p, a, namespace.as_ref());
            assert_eq!(access.allows(p, a, namespace.as_ref()), expected, "{p}:{a} at {namespace:?} with {grants:?}");
            let cap = match &namespace {
                None => access.require(p, a),
                Some(namespace) => access.require_in(p, a, namespace),
            };
            assert_eq!(cap.is_ok(), expected);
        }
    }
}

#[test]
fn property_compact_loses_nothing_and_adds_nothing() {
    let mut rng = Rng::new(0x5eed_0004);
    let all = universe();
    for _ in 0..3_000 {
        let original = random_access(&mut rng);
        let compact = original.compact();
        let rebuilt = EffectiveAccess::new(
            original.tenant_id(),
            original.is_instance_admin(),
            original.is_tenant_admin(),
            compact.iter().cloned().map(Grant::from),
        );

        // Random queries, as the rule is stated…
        for _ in 0..50 {
            let (p, a, namespace) = (rng.permission(), rng.action(), random_query_namespace(&mut rng));
            assert_eq!(
                original.allows(p, a, namespace.as_ref()),
                rebuilt.allows(p, a, namespace.as_ref()),
                "{p}:{a} at {namespace:?}: {original:?} compacted to {compact:?}"
            );
        }
        // …and exhaustively over every namespace the generator can produce.
        assert_eq!(original.effective(None), rebuilt.effective(None));
        for namespace in &all {
            assert_eq!(original.effective(Some(namespace)), rebuilt.effective(Some(namespace)), "{namespace}");
        }

        // Compact: no empty entry, at most one whole-tenant entry (first), each namespace once,
        // no two entries with the same set; and compacting again changes nothing.
        let mut seen = std::collections::BTreeSet::new();
        for (i, (scope, perms)) in compact.iter().enumerate() {
            assert!(!perms.is_empty());
            match scope {
                Scope::Tenant => assert_eq!(i, 0),
                Scope::Namespaces(list) => {
                    assert!(!list.is_empty());
                    for namespace in list {
                        assert!(seen.insert(namespace.clone()), "{namespace} twice in {compact:?}");
                    }
                }
            }
        }
        let namespace_sets: Vec<PermSet> =
            compact.iter().filter(|(s, _)| matches!(s, Scope::Namespaces(_))).map(|(_, p)| *p).collect();
        let distinct: std::collections::BTreeSet<PermSet> = namespace_sets.iter().copied().collect();
        assert_eq!(distinct.len(), namespace_sets.len(), "{compact:?}");
        assert_eq!(rebuilt.compact(), compact);
    }
}

#[test]
fn property_covers_grant_is_exactly_no_escalation() {
    let mut rng = Rng::new(0x5eed_0005);
    let all = universe();
    let (mut covered, mut refused) = (0, 0);
    for _ in 0..5_000 {
        let actor = random_access(&mut rng);
        let grant = random_grants(&mut rng).pop().unwrap_or(Grant::new(Scope::Tenant, PermSet::EMPTY));
        // What the grant alone would give someone, compared with what the actor holds, wherever
        // the grant reaches (queries outside the universe behave like their covering ancestors).
        let target = user(vec![grant.clone()]);
        let places: Vec<Option<&Namespace>> = std::iter::once(None).chain(all.iter().map(Some)).collect();
        let escalates = places.iter().any(|&place| !target.effective(place).is_subset_of(actor.effective(place)));
        assert_eq!(actor.covers_grant(grant.perms, &grant.scope), !escalates, "{grant:?} by {actor:?}");
        assert_eq!(actor.check_grant(grant.perms, &grant.scope).is_ok(), !escalates);
        if escalates {
            refused += 1;
            let Err(Denied::CannotGrant { permission, action, namespace }) =
                actor.check_grant(grant.perms, &grant.scope)
            else {
                panic!("expected CannotGrant");
            };
            // The reported pair is really missing where reported, and really part of the grant.
            assert!(grant.perms.contains(permission, action));
            assert!(!actor.allows(permission, action, namespace.as_ref()));
            assert!(target.allows(permission, action, namespace.as_ref()));
        } else {
            covered += 1;
        }
    }
    // Both outcomes are exercised often.
    assert!(covered > 500 && refused > 500, "covered {covered}, refused {refused}");
}

// --- narrowing (down-scoped tokens) -----------------------------------------------------------

#[test]
fn narrowing_keeps_only_what_is_asked_and_held() {
    let a = user(vec![
        Grant::new(Scope::Tenant, perms(&["FLOW:READ"])),
        Grant::new(on(&["prod"]), perms(&["FLOW:UPDATE", "EXECUTION:CREATE"])),
        Grant::new(on(&["dev.team"]), perms(&["FLOW:DELETE"])),
    ]);
    let (n, unmatched) = a.narrow(&[(Flow, Read, None), (Flow, Update, Some(ns("prod.etl")))]);
    assert!(unmatched.is_empty());
    assert!(n.allows(Flow, Read, None));
    assert!(n.allows(Flow, Read, Some(&ns("anything"))));
    assert!(n.allows(Flow, Update, Some(&ns("prod.etl.daily"))));
    // Asked for a child namespace: the parent is not given.
    assert!(!n.allows(Flow, Update, Some(&ns("prod"))));
    assert!(!n.allows(Execution, Create, Some(&ns("prod"))));
    assert!(!n.is_tenant_admin() && !n.is_instance_admin());
}

#[test]
fn narrowing_to_a_wider_scope_gives_only_the_held_namespaces() {
    let a = user(vec![Grant::new(on(&["prod.engineering"]), perms(&["FLOW:DELETE"]))]);
    // Asked anywhere, or on the parent: only prod.engineering (and below) comes back.
    for wanted in [None, Some(ns("prod"))] {
        let (n, unmatched) = a.narrow(&[(Flow, Delete, wanted)]);
        assert!(unmatched.is_empty());
        assert!(n.allows(Flow, Delete, Some(&ns("prod.engineering.etl"))));
        assert!(!n.allows(Flow, Delete, Some(&ns("prod"))));
        assert!(!n.allows(Flow, Delete, Some(&ns("prod.other"))));
        assert!(!n.allows(Flow, Delete, None));
    }
    // `production` is not under `prod`: nothing matches there.
    let (n, unmatched) = a.narrow(&[(Flow, Delete, Some(ns("production")))]);
    assert_eq!(unmatched, vec![0]);
    assert!(!n.allows(Flow, Delete, Some(&ns("production"))));
}

#[test]
fn narrowing_never_widens_and_reports_what_is_not_held() {
    let a = user(vec![Grant::new(on(&["prod"]), perms(&["FLOW:READ"]))]);
    let (n, unmatched) =
        a.narrow(&[(Flow, Read, Some(ns("prod"))), (Role, Create, None), (User, Read, Some(ns("prod")))]);
    assert_eq!(unmatched, vec![1, 2]);
    assert!(!n.allows(Role, Create, None));
    assert!(!n.allows(User, Read, Some(&ns("prod"))));
    // Random narrowings of random accesses are always within the original.
    let mut rng = Rng::new(7);
    let all: Vec<(Permission, Action)> = PermSet::ALL.iter().collect();
    let names = ["prod", "prod.a", "prod.a.b", "dev", "production"];
    for _ in 0..300 {
        let grants = (0..rng.below(4))
            .map(|_| {
                let scope = if rng.below(3) == 0 { Scope::Tenant } else { on(&[names[rng.below(5)]]) };
                let mut set = PermSet::EMPTY;
                for _ in 0..rng.below(5) + 1 {
                    let (p, a) = all[rng.below(all.len())];
                    set.insert(p, a);
                }
                Grant::new(scope, set)
            })
            .collect();
        let access = user(grants);
        let wanted: Vec<_> = (0..rng.below(4) + 1)
            .map(|_| {
                let (p, a) = all[rng.below(all.len())];
                (p, a, (rng.below(2) == 0).then(|| ns(names[rng.below(5)])))
            })
            .collect();
        let (narrow, _) = access.narrow(&wanted);
        for (p, a) in &all {
            for place in [None, Some(ns("prod")), Some(ns("prod.a.b.c")), Some(ns("production")), Some(ns("x"))] {
                if narrow.allows(*p, *a, place.as_ref()) {
                    assert!(access.allows(*p, *a, place.as_ref()), "{p}:{a} at {place:?} widened");
                }
            }
        }
    }
}

#[test]
fn narrowing_an_admin_gives_exactly_what_is_asked() {
    let (n, unmatched) = tenant_admin().narrow(&[(Flow, Read, Some(ns("prod")))]);
    assert!(unmatched.is_empty());
    assert!(n.allows(Flow, Read, Some(&ns("prod.x"))));
    assert!(!n.allows(Flow, Read, Some(&ns("dev"))));
    assert!(!n.is_tenant_admin());
}

// --- authority over principals ------------------------------------------------------------------

const TENANTS: [&str; 3] = ["a", "b", "c"];

/// A random principal's standing: Instance Admin now and then, and in some of three tenants
/// random bindings, now and then the Tenant Admin role. Namespace grants come from the same
/// small universe as the other properties, so actors and targets often overlap.
fn random_standing(rng: &mut Rng) -> Standing {
    let instance_admin = rng.chance(1, 25);
    let mut tenants = Vec::new();
    for t in TENANTS {
        if rng.chance(2, 3) {
            let tenant_admin = rng.chance(1, 8);
            tenants.push(EffectiveAccess::new(t, instance_admin, tenant_admin, random_grants(rng)));
        }
    }
    Standing::new(instance_admin, tenants)
}

/// The rule written out naively: the actor is Instance Admin, or the target is not and, in
/// every tenant of the target the reach covers, the actor is there, is admin if the target is,
/// and holds at least what the target holds at every place of the universe.
fn reference_authority(actor: &Standing, target: &Standing, reach: Reach<'_>) -> bool {
    if actor.is_instance_admin() {
        return true;
    }
    if target.is_instance_admin() {
        return false;
    }
    let places: Vec<Option<Namespace>> = std::iter::once(None).chain(universe().into_iter().map(Some)).collect();
    target.tenants().filter(|t| reach == Reach::Identity || reach == Reach::Tenant(t)).all(|t| {
        let held = target.access_in(t).unwrap();
        let Some(mine) = actor.access_in(t) else { return false };
        (!held.is_tenant_admin() || mine.is_tenant_admin() || mine.is_instance_admin())
            && places.iter().all(|p| held.effective(p.as_ref()).is_subset_of(mine.effective(p.as_ref())))
    })
}

#[test]
fn property_authority_is_exactly_holding_at_least_as_much_everywhere() {
    let mut rng = Rng::new(0x5eed_a070_0001);
    let (mut allowed, mut refused) = (0, 0);
    for _ in 0..4_000 {
        let actor = random_standing(&mut rng);
        let target = random_standing(&mut rng);
        for reach in [Reach::Identity, Reach::Tenant("a"), Reach::Tenant("b")] {
            let got = check_authority(&actor, &target, reach);
            assert_eq!(got.is_ok(), reference_authority(&actor, &target, reach), "{reach} {actor:?} on {target:?}");
            if got.is_ok() {
                allowed += 1;
            } else {
                refused += 1;
            }
        }
        // Nobody weaker acts on the identity of a stronger principal: if the actor may act on
        // the target everywhere, the target holds nothing, anywhere, that the actor lacks.
        if check_authority(&actor, &target, Reach::Identity).is_ok() && !actor.is_instance_admin() {
            assert!(!target.is_instance_admin());
            for t in target.tenants() {
                let (held, mine) = (target.access_in(t).unwrap(), actor.access_in(t).unwrap());
                for p in Permission::ALL {
                    for a in Action::ALL {
                        for ns in std::iter::once(None).chain(universe().into_iter().map(Some)) {
                            assert!(!held.allows(p, a, ns.as_ref()) || mine.allows(p, a, ns.as_ref()));
                        }
                    }
                }
            }
        }
        // Everyone has authority over themselves (a narrowed credential is a weaker actor).
        assert!(check_authority(&target, &target, Reach::Identity).is_ok());
    }
    assert!(allowed > 1_000 && refused > 1_000, "allowed {allowed}, refused {refused}");
}

#[test]
fn authority_refusals_say_why_without_naming_foreign_tenants() {
    let ta = |t: &str| EffectiveAccess::new(t, false, true, []);
    let reader = |t: &str| EffectiveAccess::new(t, false, false, [Grant::new(Scope::Tenant, perms(&["FLOW:READ"]))]);
    let instance_admin = Standing::new(true, []);
    let admin_of_a = Standing::new(false, [ta("a")]);
    let admin_of_b = Standing::new(false, [ta("b")]);
    let user_of_a = Standing::new(false, [reader("a")]);
    let invited = Standing::new(false, [reader("a"), reader("secret-merger")]);
    let custom_all =
        Standing::new(false, [EffectiveAccess::new("a", false, false, [Grant::new(Scope::Tenant, PermSet::ALL)])]);

    assert_eq!(check_authority(&admin_of_a, &instance_admin, Reach::Identity), Err(Denied::TargetInstanceAdmin));
    assert_eq!(check_authority(&admin_of_a, &instance_admin, Reach::Tenant("a")), Err(Denied::TargetInstanceAdmin));
    assert!(check_authority(&instance_admin, &admin_of_a, Reach::Identity).is_ok());
    assert!(check_authority(&admin_of_a, &user_of_a, Reach::Identity).is_ok());
    assert_eq!(check_authority(&admin_of_b, &user_of_a, Reach::Identity), Err(Denied::OutrankedElsewhere));
    // Invited from another tenant: the identity is out of reach, its access here is not.
    let refused = check_authority(&admin_of_a, &invited, Reach::Identity).unwrap_err();
    assert_eq!(refused, Denied::OutrankedElsewhere);
    assert!(!refused.to_string().contains("secret-merger"));
    assert!(check_authority(&admin_of_a, &invited, Reach::Tenant("a")).is_ok());
    // Every permission is not the Tenant Admin role.
    let Err(Denied::Outranked { tenant, what }) = check_authority(&custom_all, &admin_of_a, Reach::Identity) else {
        panic!("a custom role with every permission acted on a Tenant Admin");
    };
    assert_eq!((tenant.as_str(), what.as_str()), ("a", "the Tenant Admin role"));
    // A user with USER:UPDATE only does not act on a reader of flows.
    let user_admin = Standing::new(
        false,
        [EffectiveAccess::new("a", false, false, [Grant::new(Scope::Tenant, perms(&["USER:UPDATE"]))])],
    );
    let Err(Denied::Outranked { what, .. }) = check_authority(&user_admin, &user_of_a, Reach::Identity) else {
        panic!("USER:UPDATE acted on a stronger user");
    };
    assert_eq!(what, "FLOW:READ tenant-wide");
}

#[test]
fn binding_the_builtin_admin_role_needs_tenant_admin() {
    let custom_all = user(vec![Grant::new(Scope::Tenant, PermSet::ALL)]);
    assert_eq!(custom_all.check_grant_role(PermSet::ALL, &Scope::Tenant, true), Err(Denied::TenantAdminRequired));
    // The same permissions in a custom role, or the admin role on namespaces, are covered.
    assert!(custom_all.check_grant_role(PermSet::ALL, &Scope::Tenant, false).is_ok());
    assert!(custom_all.check_grant_role(PermSet::ALL, &on(&["prod"]), true).is_ok());
    assert!(tenant_admin().check_grant_role(PermSet::ALL, &Scope::Tenant, true).is_ok());
    assert!(instance_admin().check_grant_role(PermSet::ALL, &Scope::Tenant, true).is_ok());
}
