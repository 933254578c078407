//! The `rb` claim (role bindings), decoded as `docs/CLAIMS.md` specifies, and the namespace
//! rules of the server (validation and coverage on `.` boundaries).

use std::collections::BTreeMap;

use serde_json::Value;

/// Longest namespace the server accepts, in characters.
const MAX_NAMESPACE_LEN: usize = 255;

/// Number of hexadecimal digits of a permission set: one per permission.
const PERM_SET_DIGITS: usize = 15;

/// A namespace the server would accept: non-empty segments of `[A-Za-z0-9_-]` separated by
/// single dots, at most 255 characters. Anything else names no namespace and is never allowed.
pub(crate) fn is_valid_namespace(namespace: &str) -> bool {
    !namespace.is_empty()
        && namespace.len() <= MAX_NAMESPACE_LEN
        && namespace.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !namespace.starts_with('.')
        && !namespace.ends_with('.')
        && !namespace.contains("..")
}

/// Whether a grant on `granted` reaches `requested`: the same namespace or one below it, by
/// whole segments (`prod` covers `prod.engineering`, never `production`).
pub(crate) fn covers(granted: &str, requested: &str) -> bool {
    requested.strip_prefix(granted).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Parses a permission set: exactly 15 lower-case hexadecimal digits, FLOW first, each digit
/// the mask of that permission's actions. Returns the server's 60-bit layout
/// (bit `permission * 4 + action`).
pub(crate) fn parse_perm_set(text: &str) -> Option<u64> {
    if text.len() != PERM_SET_DIGITS {
        return None;
    }
    let mut bits = 0u64;
    for (i, b) in text.bytes().enumerate() {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        bits |= u64::from(digit) << (i * 4);
    }
    Some(bits)
}

/// What a token's `rb` claim says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bindings {
    /// No `rb` claim (administrators, whose role says it all, and bare clients, who have no
    /// bindings).
    Absent,
    /// `"ref": true`: the bindings did not fit in the token; introspect it (or deny).
    Reference,
    /// A version this crate does not know: deny.
    UnknownVersion,
    /// Version 1.
    V1 {
        /// The tenant-wide permission set (`t`).
        tenant_wide: u64,
        /// Each namespace named in `n` with the union of the sets it appears under.
        namespaces: Vec<(String, u64)>,
    },
}

impl Bindings {
    /// Decodes the `rb` claim. `Err` when the claim is not an object with an integer `v`, or
    /// when a version-1 claim breaks the version-1 rules (then the token is malformed).
    pub(crate) fn decode(rb: Option<&Value>) -> Result<Bindings, ()> {
        let Some(rb) = rb else { return Ok(Bindings::Absent) };
        let object = rb.as_object().ok_or(())?;
        let version = object.get("v").and_then(Value::as_u64).ok_or(())?;
        if version != 1 {
            return Ok(Bindings::UnknownVersion);
        }
        let reference = match object.get("ref") {
            None => false,
            Some(value) => value.as_bool().ok_or(())?,
        };
        let t = object.get("t");
        let n = object.get("n");
        if reference {
            // "Never present together with `t` or `n`."
            return if t.is_none() && n.is_none() { Ok(Bindings::Reference) } else { Err(()) };
        }
        let tenant_wide = match t {
            None => 0,
            Some(value) => parse_perm_set(value.as_str().ok_or(())?).ok_or(())?,
        };
        let mut merged: BTreeMap<String, u64> = BTreeMap::new();
        if let Some(n) = n {
            for (set, list) in n.as_object().ok_or(())? {
                let bits = parse_perm_set(set).ok_or(())?;
                for namespace in list.as_array().ok_or(())? {
                    let namespace = namespace.as_str().ok_or(())?;
                    if !is_valid_namespace(namespace) {
                        return Err(());
                    }
                    *merged.entry(namespace.to_owned()).or_default() |= bits;
                }
            }
        }
        Ok(Bindings::V1 { tenant_wide, namespaces: merged.into_iter().filter(|&(_, bits)| bits != 0).collect() })
    }

    /// Steps 2 to 7 of "Deciding `allows`" for one permission bit: tenant-wide, or (with a
    /// namespace) in a namespace covering it. The namespace has been validated.
    pub(crate) fn allows(&self, bit: u64, namespace: Option<&str>) -> bool {
        match self {
            Bindings::Absent | Bindings::Reference | Bindings::UnknownVersion => false,
            Bindings::V1 { tenant_wide, namespaces } => {
                tenant_wide & bit != 0
                    || namespace.is_some_and(|requested| {
                        namespaces.iter().any(|(granted, bits)| bits & bit != 0 && covers(granted, requested))
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::permission::{Action, Permission, bit};

    #[test]
    fn perm_sets_are_fifteen_lower_case_hex_digits_flow_first() {
        assert_eq!(parse_perm_set("000000000000000"), Some(0));
        assert_eq!(parse_perm_set("fffffffffffffff"), Some((1 << 60) - 1));
        let flow_all_blueprint_read = parse_perm_set("f20000000000000").unwrap();
        for a in Action::ALL {
            assert_ne!(flow_all_blueprint_read & bit(Permission::Flow, a), 0);
        }
        assert_ne!(flow_all_blueprint_read & bit(Permission::Blueprint, Action::Read), 0);
        assert_eq!(flow_all_blueprint_read & bit(Permission::Blueprint, Action::Create), 0);
        assert_eq!(parse_perm_set("000000000000001"), Some(bit(Permission::Tenant, Action::Create)));
        for bad in ["", "00000000000000", "0000000000000000", "F00000000000000", "g00000000000000", "+00000000000000"] {
            assert_eq!(parse_perm_set(bad), None, "{bad}");
        }
        assert_eq!(parse_perm_set("é0000000000000"), None);
    }

    #[test]
    fn namespace_rules_match_the_server() {
        for ok in ["prod", "prod.engineering.etl", "a", "A-b_c.d-9", "0.1.2"] {
            assert!(is_valid_namespace(ok), "{ok}");
        }
        assert!(is_valid_namespace(&"a".repeat(255)));
        for bad in ["", ".prod", "prod.", ".", "prod..etl", "prod/etl", "prod etl", "prodé", &"a".repeat(256)] {
            assert!(!is_valid_namespace(bad), "{bad}");
        }
        assert!(covers("prod", "prod") && covers("prod", "prod.engineering") && covers("prod", "prod.a.b"));
        assert!(!covers("prod", "production") && !covers("prod", "pro") && !covers("prod.a", "prod"));
        assert!(!covers("prod", "dev.prod") && !covers("prod", "Prod"));
    }

    #[test]
    fn decodes_the_documented_example() {
        let rb = json!({ "v": 1, "t": "000000000000000", "n": { "f20000000000000": ["prod", "staging.etl"], "020000000000000": ["dev"] } });
        let b = Bindings::decode(Some(&rb)).unwrap();
        let flow_update = bit(Permission::Flow, Action::Update);
        let blueprint_read = bit(Permission::Blueprint, Action::Read);
        assert!(b.allows(flow_update, Some("prod")));
        assert!(b.allows(flow_update, Some("prod.engineering")));
        assert!(!b.allows(flow_update, Some("production")));
        assert!(!b.allows(flow_update, Some("staging")));
        assert!(b.allows(flow_update, Some("staging.etl.nightly")));
        assert!(b.allows(blueprint_read, Some("dev")));
        assert!(!b.allows(flow_update, Some("dev")));
        assert!(!b.allows(blueprint_read, None));
    }

    #[test]
    fn references_versions_and_broken_claims() {
        assert_eq!(Bindings::decode(None), Ok(Bindings::Absent));
        assert_eq!(Bindings::decode(Some(&json!({ "v": 1, "ref": true }))), Ok(Bindings::Reference));
        assert_eq!(Bindings::decode(Some(&json!({ "v": 2, "t": 7 }))), Ok(Bindings::UnknownVersion));
        assert_eq!(
            Bindings::decode(Some(&json!({ "v": 1 }))),
            Ok(Bindings::V1 { tenant_wide: 0, namespaces: Vec::new() })
        );
        for broken in [
            json!("v1"),
            json!({}),
            json!({ "v": "1" }),
            json!({ "v": 1, "ref": true, "t": "fffffffffffffff" }),
            json!({ "v": 1, "ref": true, "n": {} }),
            json!({ "v": 1, "ref": "yes" }),
            json!({ "v": 1, "t": "FFFFFFFFFFFFFFF" }),
            json!({ "v": 1, "t": 5 }),
            json!({ "v": 1, "n": { "f": ["prod"] } }),
            json!({ "v": 1, "n": { "f00000000000000": "prod" } }),
            json!({ "v": 1, "n": { "f00000000000000": ["prod..x"] } }),
            json!({ "v": 1, "n": { "f00000000000000": [3] } }),
        ] {
            assert_eq!(Bindings::decode(Some(&broken)), Err(()), "{broken}");
        }
    }
}
