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

use super::tokens::Authz;
use super::{OAuthError, OAuthResult};
use crate::rbac::{Action, EffectiveAccess, Namespace, Permission};

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

/// Narrows `access` to the permission scopes (all of `scopes` must be permission scopes);
/// no scope: the access as it is. Returns the claims of the result.
pub fn narrow(access: &EffectiveAccess, ep: i64, scopes: &[String]) -> OAuthResult<Authz> {
    if scopes.is_empty() {
        return Ok(Authz::of(access, ep));
    }
    let wanted = scopes.iter().map(|s| parse(s)).collect::<OAuthResult<Vec<_>>>()?;
    let (narrowed, unmatched) = access.narrow(&wanted);
    if let Some(&i) = unmatched.first() {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{}' asks for a permission the principal does not hold there",
            scopes[i]
        )));
    }
    Ok(Authz::of(&narrowed, ep))
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
}
