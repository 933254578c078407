//! Permission scopes: narrowing a token's role bindings.
//!
//! A service account's token (token exchange, or `client_credentials` of a client registered
//! on the account) may ask for less than the account holds with `scope` values of the form
//!
//! ```text
//! PERMISSION:ACTION              e.g. FLOW:READ           wherever the account holds it
//! PERMISSION:ACTION:NAMESPACE    e.g. FLOW:UPDATE:prod.etl in that namespace (and below)
//! ```
//!
//! The token then carries only the intersection (see [`EffectiveAccess::narrow`]): a
//! namespace scope on a parent of what is held gives the held namespaces below it, never the
//! parent. A scope that matches nothing the account holds is `invalid_scope`: narrowing
//! never widens, and a request for more than is held is refused rather than silently cut.
//!
//! The token's `scope` then names exactly what its `rb` allows, never more: each asked scope
//! becomes the scopes of what it matched (`FLOW:DELETE` asked by an account holding it on
//! `prod.etl` only is issued as `FLOW:DELETE:prod.etl`), in the order asked, without repeats
//! and without a scope that another one already covers.

use super::tokens::Authz;
use super::{OAuthError, OAuthResult};
use crate::rbac::{Action, EffectiveAccess, Namespace, Permission, Scope};

/// Whether a scope value is a permission scope (starts with a permission name and `:`).
pub fn is_permission_scope(scope: &str) -> bool {
    scope.split_once(':').is_some_and(|(p, _)| p.parse::<Permission>().is_ok())
}

/// Parses a permission scope.
pub fn parse(scope: &str) -> OAuthResult<(Permission, Action, Option<Namespace>)> {
    let bad = |why: &str| OAuthError::invalid_scope(format!("scope '{scope}': {why}"));
    let mut parts = scope.splitn(3, ':');
    let permission = parts.next().unwrap_or_default().parse::<Permission>().map_err(|_| bad("unknown permission"))?;
    let action = parts
        .next()
        .ok_or_else(|| bad("use PERMISSION:ACTION or PERMISSION:ACTION:NAMESPACE"))?
        .parse::<Action>()
        .map_err(|_| bad("the action must be CREATE, READ, UPDATE or DELETE"))?;
    let namespace = match parts.next() {
        None => None,
        Some(ns) => Some(Namespace::new(ns).map_err(|_| bad("invalid namespace"))?),
    };
    Ok((permission, action, namespace))
}

/// A narrowed access: its claims, and the permission scopes that name exactly what they allow.
#[derive(Debug)]
pub struct Narrowed {
    pub authz: Authz,
    /// The permission scopes to issue (empty when nothing was asked: the token is not narrowed).
    pub scopes: Vec<String>,
}

/// Narrows `access` to the permission scopes (all of `scopes` must be permission scopes);
/// no scope: the access as it is. Returns the claims of the result and the scopes to issue.
pub fn narrow(access: &EffectiveAccess, ep: i64, scopes: &[String]) -> OAuthResult<Narrowed> {
    if scopes.is_empty() {
        return Ok(Narrowed { authz: Authz::of(access, ep), scopes: Vec::new() });
    }
    let wanted = scopes.iter().map(|s| parse(s)).collect::<OAuthResult<Vec<_>>>()?;
    let (narrowed, unmatched) = access.narrow(&wanted);
    if let Some(&i) = unmatched.first() {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{}' asks for a permission the principal does not hold there",
            scopes[i]
        )));
    }
    // Each asked scope, as what it matched, in the order asked; of those, the ones that name
    // the narrowed access itself (one within another, `FLOW:READ:prod.x` next to
    // `FLOW:READ:prod`, is left out as the `rb` leaves it out): exactly the `rb`, no more.
    let exact = scope_values(&narrowed);
    let mut issued: Vec<String> = Vec::new();
    for one in &wanted {
        let (part, _) = access.narrow(std::slice::from_ref(one));
        for s in scope_values(&part) {
            if exact.contains(&s) && !issued.contains(&s) {
                issued.push(s);
            }
        }
    }
    debug_assert_eq!(issued.len(), exact.len(), "every narrowed grant comes from an asked scope");
    Ok(Narrowed { authz: Authz::of(&narrowed, ep), scopes: issued })
}

/// The permission scopes that name an access (not an admin's): `PERMISSION:ACTION` for what it
/// holds tenant-wide, `PERMISSION:ACTION:NAMESPACE` for what it holds in a namespace.
fn scope_values(access: &EffectiveAccess) -> Vec<String> {
    let mut out = Vec::new();
    for (scope, perms) in access.compact() {
        for (permission, action) in perms.iter() {
            match &scope {
                Scope::Tenant => out.push(format!("{permission}:{action}")),
                Scope::Namespaces(list) => {
                    out.extend(list.iter().map(|ns| format!("{permission}:{action}:{}", ns.as_str())));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_scopes_parse() {
        assert!(is_permission_scope("FLOW:READ"));
        assert!(is_permission_scope("FLOW:READ:prod.etl"));
        assert!(is_permission_scope("FLOW:NOPE"));
        assert!(!is_permission_scope("flows:read"));
        assert!(!is_permission_scope("openid"));
        let (p, a, ns) = parse("EXECUTION:CREATE:prod.etl").unwrap();
        assert_eq!((p, a, ns.unwrap().as_str()), (Permission::Execution, Action::Create, "prod.etl"));
        assert!(parse("FLOW").is_err());
        assert!(parse("FLOW:NOPE").is_err());
        assert!(parse("FLOW:READ:bad namespace").is_err());
    }

    fn held(grants: Vec<crate::rbac::Grant>) -> EffectiveAccess {
        EffectiveAccess::new("acme", false, false, grants)
    }

    fn perms(list: &[&str]) -> crate::rbac::PermSet {
        let mut set = crate::rbac::PermSet::EMPTY;
        for p in list {
            let (permission, action, _) = parse(p).unwrap();
            set.insert(permission, action);
        }
        set
    }

    fn on(ns: &str) -> Scope {
        Scope::Namespaces(vec![Namespace::new(ns).unwrap()])
    }

    fn issued(access: &EffectiveAccess, asked: &[&str]) -> Vec<String> {
        let asked: Vec<String> = asked.iter().map(|s| s.to_string()).collect();
        narrow(access, 0, &asked).unwrap().scopes
    }

    #[test]
    fn issued_scopes_name_exactly_what_was_matched() {
        use crate::rbac::Grant;
        let a = held(vec![
            Grant::new(Scope::Tenant, perms(&["FLOW:READ"])),
            Grant::new(on("prod"), perms(&["FLOW:UPDATE", "EXECUTION:CREATE"])),
            Grant::new(on("dev.team"), perms(&["FLOW:UPDATE"])),
        ]);
        // Held as asked: unchanged.
        assert_eq!(issued(&a, &["FLOW:READ", "FLOW:UPDATE:prod.etl"]), ["FLOW:READ", "FLOW:UPDATE:prod.etl"]);
        // Asked anywhere, held in namespaces only: the namespaces, in place of the wider scope.
        assert_eq!(issued(&a, &["FLOW:UPDATE"]), ["FLOW:UPDATE:dev.team", "FLOW:UPDATE:prod"]);
        // One within another: only the wider one, as in the rb.
        assert_eq!(issued(&a, &["EXECUTION:CREATE:prod.x", "EXECUTION:CREATE"]), ["EXECUTION:CREATE:prod"]);
        assert_eq!(issued(&a, &["FLOW:READ:dev", "FLOW:READ"]), ["FLOW:READ"]);
        // Asked on a parent of what is held: the held namespace below it.
        assert_eq!(issued(&a, &["FLOW:UPDATE:dev"]), ["FLOW:UPDATE:dev.team"]);
        // Repeats collapse.
        assert_eq!(issued(&a, &["FLOW:UPDATE:prod", "FLOW:UPDATE:prod"]), ["FLOW:UPDATE:prod"]);
        // Nothing asked: not narrowed, no scope.
        assert!(issued(&a, &[]).is_empty());
        // An admin holds everything: the scopes as asked.
        let admin = EffectiveAccess::new("acme", false, true, []);
        assert_eq!(issued(&admin, &["USER:DELETE", "FLOW:READ:x"]), ["USER:DELETE", "FLOW:READ:x"]);
    }

    #[test]
    fn issued_scopes_allow_exactly_the_narrowed_bindings() {
        use crate::rbac::Grant;
        let a = held(vec![
            Grant::new(on("prod.engineering"), perms(&["FLOW:DELETE", "FLOW:READ"])),
            Grant::new(on("staging"), perms(&["FLOW:READ"])),
            Grant::new(Scope::Tenant, perms(&["USER:READ"])),
        ]);
        for asked in [
            &["FLOW:DELETE"][..],
            &["FLOW:READ:prod", "USER:READ"],
            &["FLOW:READ", "FLOW:DELETE:prod.engineering.etl"],
            &["USER:READ:ops", "FLOW:READ:staging.a"],
        ] {
            let n = narrow(&a, 0, &asked.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            // Narrowing by the issued scopes gives the same bindings: the scope names no more.
            let again = narrow(&a, 0, &n.scopes).unwrap();
            assert_eq!(again.authz.rb, n.authz.rb, "{asked:?} -> {:?}", n.scopes);
            assert_eq!(again.scopes, n.scopes, "{asked:?}");
            // And every issued scope is allowed by the narrowed bindings themselves.
            let grants = n.authz.rb.as_ref().unwrap().decode().unwrap();
            let bound = EffectiveAccess::new("acme", false, false, grants);
            for s in &n.scopes {
                let (p, a, ns) = parse(s).unwrap();
                assert!(bound.allows(p, a, ns.as_ref()), "{s} is not in the rb of {asked:?}");
            }
        }
    }
}
