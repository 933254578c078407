//! The `rb` claim (role bindings, version 1) of access tokens, as specified in
//! `docs/CLAIMS.md`: the tenant-wide permission set, and permission sets mapped to the
//! namespaces where they are granted, with identical sets grouped. Too large: a reference.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{EffectiveAccess, Namespace, PermSet, Scope};

/// The encoded `rb` of a token whose bindings are too large to carry is replaced by a
/// reference when the JSON would exceed this many bytes (tokens must stay under 4 KB).
pub const RB_BUDGET_BYTES: usize = 2048;

/// The `rb` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleBindingsClaim {
    pub v: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub n: BTreeMap<String, Vec<String>>,
    /// The bindings did not fit: introspect the token (or deny).
    #[serde(default, rename = "ref", skip_serializing_if = "std::ops::Not::not")]
    pub reference: bool,
}

impl RoleBindingsClaim {
    /// Encodes an actor's effective access (not an admin's: admins carry `adm` instead).
    pub fn encode(access: &EffectiveAccess) -> Self {
        let claim = Self::encode_unbounded(access);
        if serde_json::to_vec(&claim).map(|v| v.len()).unwrap_or(usize::MAX) > RB_BUDGET_BYTES {
            return Self { v: 1, t: None, n: BTreeMap::new(), reference: true };
        }
        claim
    }

    /// The same encoding with no size budget: for introspection answers, which carry the
    /// bindings a token could only reference.
    pub fn encode_unbounded(access: &EffectiveAccess) -> Self {
        let mut t = None;
        let mut n: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (scope, perms) in access.compact() {
            match scope {
                Scope::Tenant => t = Some(perms.to_compact()),
                Scope::Namespaces(list) => {
                    let entry = n.entry(perms.to_compact()).or_default();
                    entry.extend(list.iter().map(|ns| ns.as_str().to_string()));
                    entry.sort();
                    entry.dedup();
                }
            }
        }
        Self { v: 1, t, n, reference: false }
    }

    /// Decodes back into grants (the server's own check that nothing was lost); `None` for a
    /// reference or an unknown version.
    pub fn decode(&self) -> Option<Vec<super::Grant>> {
        if self.v != 1 || self.reference {
            return None;
        }
        let mut grants = Vec::new();
        if let Some(t) = &self.t {
            grants.push(super::Grant::new(Scope::Tenant, PermSet::from_compact(t).ok()?));
        }
        for (set, list) in &self.n {
            let perms = PermSet::from_compact(set).ok()?;
            let ns: Option<Vec<Namespace>> = list.iter().map(|s| Namespace::new(s.clone()).ok()).collect();
            grants.push(super::Grant::new(Scope::Namespaces(ns?), perms));
        }
        Some(grants)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Action, Grant, Permission};
    use super::*;

    fn ns(s: &str) -> Namespace {
        Namespace::new(s).unwrap()
    }

    #[test]
    fn encodes_as_documented() {
        let flows = PermSet::from_strings(["FLOW:CREATE", "FLOW:READ", "FLOW:UPDATE", "FLOW:DELETE", "BLUEPRINT:READ"])
            .unwrap();
        let grants = vec![
            Grant::new(Scope::Namespaces(vec![ns("prod"), ns("staging.etl")]), flows),
            Grant::new(Scope::Namespaces(vec![ns("dev")]), PermSet::single(Permission::Blueprint, Action::Read)),
        ];
        let claim = RoleBindingsClaim::encode(&EffectiveAccess::new("acme", false, false, grants));
        let json = serde_json::to_value(&claim).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "v": 1, "n": { "f20000000000000": ["prod", "staging.etl"], "020000000000000": ["dev"] } })
        );
    }

    #[test]
    fn round_trip_keeps_every_decision() {
        let grants = vec![
            Grant::new(Scope::Tenant, PermSet::single(Permission::User, Action::Read)),
            Grant::new(Scope::Namespaces(vec![ns("prod")]), PermSet::single(Permission::Flow, Action::Update)),
        ];
        let access = EffectiveAccess::new("acme", false, false, grants);
        let back = EffectiveAccess::new("acme", false, false, RoleBindingsClaim::encode(&access).decode().unwrap());
        for namespace in [None, Some(ns("prod")), Some(ns("prod.x")), Some(ns("production"))] {
            for p in Permission::ALL {
                for a in Action::ALL {
                    assert_eq!(access.allows(p, a, namespace.as_ref()), back.allows(p, a, namespace.as_ref()));
                }
            }
        }
    }

    #[test]
    fn too_many_bindings_become_a_reference() {
        let many: Vec<Grant> = (0..400)
            .map(|i| {
                Grant::new(
                    Scope::Namespaces(vec![ns(&format!("team{i}.pipelines.nightly"))]),
                    PermSet::from_i64(i + 1).unwrap(),
                )
            })
            .collect();
        let claim = RoleBindingsClaim::encode(&EffectiveAccess::new("acme", false, false, many));
        assert!(claim.reference && claim.t.is_none() && claim.n.is_empty());
        assert_eq!(serde_json::to_string(&claim).unwrap(), r#"{"v":1,"ref":true}"#);
    }
}
