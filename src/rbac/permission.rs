//! The permission catalogue (Kestra Enterprise's fifteen permissions and four actions) and
//! [`PermSet`], a set of `(permission, action)` pairs packed into 60 bits.
//!
//! Names are the upper-case catalogue names (`FLOW`, `READ`) everywhere: `Display`,
//! `FromStr` and serde. Parsing is case-sensitive, so one spelling is stored and compared.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A resource kind a role can act on, in catalogue order (the order is part of the storage and
/// token formats: never reorder, only append).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    Flow,
    Blueprint,
    Template,
    Namespace,
    Execution,
    User,
    Group,
    Role,
    Binding,
    AuditLog,
    Secret,
    Impersonate,
    Setting,
    Worker,
    Tenant,
}

/// An operation on a [`Permission`], in catalogue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
}

impl Permission {
    /// Every permission, in catalogue order: `ALL[p.index()] == p`.
    pub const ALL: [Permission; 15] = [
        Permission::Flow,
        Permission::Blueprint,
        Permission::Template,
        Permission::Namespace,
        Permission::Execution,
        Permission::User,
        Permission::Group,
        Permission::Role,
        Permission::Binding,
        Permission::AuditLog,
        Permission::Secret,
        Permission::Impersonate,
        Permission::Setting,
        Permission::Worker,
        Permission::Tenant,
    ];

    /// Position in the catalogue, 0 (`FLOW`) to 14 (`TENANT`).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The upper-case catalogue name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::Flow => "FLOW",
            Permission::Blueprint => "BLUEPRINT",
            Permission::Template => "TEMPLATE",
            Permission::Namespace => "NAMESPACE",
            Permission::Execution => "EXECUTION",
            Permission::User => "USER",
            Permission::Group => "GROUP",
            Permission::Role => "ROLE",
            Permission::Binding => "BINDING",
            Permission::AuditLog => "AUDITLOG",
            Permission::Secret => "SECRET",
            Permission::Impersonate => "IMPERSONATE",
            Permission::Setting => "SETTING",
            Permission::Worker => "WORKER",
            Permission::Tenant => "TENANT",
        }
    }
}

impl Action {
    /// Every action, in catalogue order: `ALL[a.index()] == a`.
    pub const ALL: [Action; 4] = [Action::Create, Action::Read, Action::Update, Action::Delete];

    /// Position in the catalogue, 0 (`CREATE`) to 3 (`DELETE`).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The upper-case catalogue name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Create => "CREATE",
            Action::Read => "READ",
            Action::Update => "UPDATE",
            Action::Delete => "DELETE",
        }
    }
}

/// Why a permission, an action, a permission list, a stored value or a compact form was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PermError {
    /// A name that is not one of the fifteen permissions.
    #[error(
        "unknown permission `{0}` (expected one of FLOW, BLUEPRINT, TEMPLATE, NAMESPACE, EXECUTION, USER, GROUP, \
         ROLE, BINDING, AUDITLOG, SECRET, IMPERSONATE, SETTING, WORKER, TENANT)"
    )]
    UnknownPermission(String),
    /// A name that is not one of the four actions.
    #[error("unknown action `{0}` (expected one of CREATE, READ, UPDATE, DELETE)")]
    UnknownAction(String),
    /// An entry of a permission list that is not a valid `PERMISSION:ACTION` pair.
    #[error("invalid permission entry `{entry}`: {reason}")]
    InvalidEntry { entry: String, reason: String },
    /// A stored integer with bits outside the 60 the catalogue uses (or negative).
    #[error("stored permission set {0:#x} has bits outside the 60-bit catalogue")]
    OutOfRange(i64),
    /// A compact text form that is not 15 lower-case hexadecimal digits.
    #[error("invalid compact permission set `{0}`: expected 15 lower-case hexadecimal digits")]
    InvalidCompact(String),
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = PermError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| PermError::UnknownPermission(s.to_owned()))
    }
}

impl FromStr for Action {
    type Err = PermError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| PermError::UnknownAction(s.to_owned()))
    }
}

/// Serde through `Display`/`FromStr`, so JSON and every other text use the same names.
macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_via_str!(Permission);
serde_via_str!(Action);

/// A set of `(permission, action)` pairs: bit `permission.index() * 4 + action.index()` of a
/// `u64`, so 60 bits are used and the top 4 are always zero.
///
/// Forms:
/// - a list of `"FLOW:READ"` strings ([`PermSet::from_strings`], [`PermSet::to_strings`]; serde
///   uses this form), for the admin API;
/// - an `i64` ([`PermSet::to_i64`], [`PermSet::from_i64`]), for a database column; the value is
///   the bit set itself, always non-negative;
/// - a compact text form ([`PermSet::to_compact`], [`PermSet::from_compact`]) for tokens:
///   **15 lower-case hexadecimal digits, one per permission in catalogue order** (the first
///   digit is `FLOW`, the last `TENANT`), each digit the mask of that permission's actions with
///   `CREATE = 1`, `READ = 2`, `UPDATE = 4`, `DELETE = 8`. For example FLOW:READ with
///   EXECUTION:CREATE and EXECUTION:READ is `200030000000000`, and every permission is
///   `fffffffffffffff`. (This is not the hexadecimal of the `i64`, whose digits run the other way.)
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct PermSet(u64);

const ALL_BITS: u64 = (1 << 60) - 1;

const fn bit(permission: Permission, action: Action) -> u64 {
    1 << (permission.index() * 4 + action.index())
}

impl PermSet {
    /// No permission at all.
    pub const EMPTY: PermSet = PermSet(0);
    /// Every action on every permission.
    pub const ALL: PermSet = PermSet(ALL_BITS);

    /// The empty set.
    pub const fn new() -> Self {
        PermSet::EMPTY
    }

    /// The set holding one pair.
    pub const fn single(permission: Permission, action: Action) -> Self {
        PermSet(bit(permission, action))
    }

    /// Adds a pair; true if it was not already present.
    pub fn insert(&mut self, permission: Permission, action: Action) -> bool {
        let added = !self.contains(permission, action);
        self.0 |= bit(permission, action);
        added
    }

    /// Whether the pair is in the set.
    pub const fn contains(self, permission: Permission, action: Action) -> bool {
        self.0 & bit(permission, action) != 0
    }

    /// Every pair in either set.
    #[must_use]
    pub const fn union(self, other: PermSet) -> PermSet {
        PermSet(self.0 | other.0)
    }

    /// The pairs in `self` that are not in `other`.
    #[must_use]
    pub const fn difference(self, other: PermSet) -> PermSet {
        PermSet(self.0 & !other.0)
    }

    /// Whether every pair of `self` is in `other`.
    pub const fn is_subset_of(self, other: PermSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of pairs.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The pairs in catalogue order (by permission, then action).
    pub fn iter(self) -> impl Iterator<Item = (Permission, Action)> {
        Permission::ALL
            .into_iter()
            .flat_map(|p| Action::ALL.into_iter().map(move |a| (p, a)))
            .filter(move |&(p, a)| self.contains(p, a))
    }

    /// Parses a list of `"PERMISSION:ACTION"` entries (duplicates are fine). The error names the
    /// first bad entry.
    pub fn from_strings<I>(entries: I) -> Result<PermSet, PermError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut set = PermSet::EMPTY;
        for entry in entries {
            let entry = entry.as_ref();
            let invalid = |reason: String| PermError::InvalidEntry { entry: entry.to_owned(), reason };
            let (permission, action) =
                entry.split_once(':').ok_or_else(|| invalid("expected PERMISSION:ACTION, e.g. FLOW:READ".into()))?;
            let permission: Permission = permission.parse().map_err(|e: PermError| invalid(e.to_string()))?;
            let action: Action = action.parse().map_err(|e: PermError| invalid(e.to_string()))?;
            set.insert(permission, action);
        }
        Ok(set)
    }

    /// The pairs as `"PERMISSION:ACTION"` strings, in catalogue order.
    pub fn to_strings(self) -> Vec<String> {
        self.iter().map(|(p, a)| format!("{p}:{a}")).collect()
    }

    /// The value to store in a database column.
    pub const fn to_i64(self) -> i64 {
        // At most 60 bits are set, so the value is non-negative and the cast is lossless.
        self.0 as i64
    }

    /// Reads a stored value, rejecting negative values and bits beyond the catalogue.
    pub const fn from_i64(value: i64) -> Result<PermSet, PermError> {
        if value < 0 || value as u64 & !ALL_BITS != 0 {
            return Err(PermError::OutOfRange(value));
        }
        Ok(PermSet(value as u64))
    }

    /// The compact text form for tokens (see the type documentation): 15 lower-case hex digits.
    pub fn to_compact(self) -> String {
        Permission::ALL
            .iter()
            .map(|p| {
                let mask = (self.0 >> (p.index() * 4)) & 0xf;
                char::from_digit(mask as u32, 16).unwrap_or('0')
            })
            .collect()
    }

    /// Parses the compact text form: exactly 15 lower-case hexadecimal digits.
    pub fn from_compact(text: &str) -> Result<PermSet, PermError> {
        let invalid = || PermError::InvalidCompact(text.to_owned());
        if text.len() != Permission::ALL.len() {
            return Err(invalid());
        }
        let mut bits = 0u64;
        for (i, c) in text.chars().enumerate() {
            if c.is_ascii_uppercase() {
                return Err(invalid());
            }
            let mask = c.to_digit(16).ok_or_else(invalid)?;
            bits |= u64::from(mask) << (i * 4);
        }
        Ok(PermSet(bits))
    }
}

impl fmt::Debug for PermSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|(p, a)| format!("{p}:{a}"))).finish()
    }
}

impl FromIterator<(Permission, Action)> for PermSet {
    fn from_iter<I: IntoIterator<Item = (Permission, Action)>>(iter: I) -> Self {
        let mut set = PermSet::EMPTY;
        for (p, a) in iter {
            set.insert(p, a);
        }
        set
    }
}

impl std::ops::BitOr for PermSet {
    type Output = PermSet;

    fn bitor(self, rhs: PermSet) -> PermSet {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for PermSet {
    fn bitor_assign(&mut self, rhs: PermSet) {
        *self = self.union(rhs);
    }
}

impl Serialize for PermSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(|(p, a)| format!("{p}:{a}")))
    }
}

impl<'de> Deserialize<'de> for PermSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        PermSet::from_strings(&entries).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::test_rng::Rng;

    #[test]
    fn catalogue_order_and_indices() {
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
        }
        let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(actions, ["CREATE", "READ", "UPDATE", "DELETE"]);
        for (i, a) in Action::ALL.into_iter().enumerate() {
            assert_eq!(a.index(), i);
        }
    }

    #[test]
    fn names_parse_display_and_serde_agree() {
        for p in Permission::ALL {
            assert_eq!(p.to_string().parse::<Permission>(), Ok(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
            assert_eq!(serde_json::from_str::<Permission>(&format!("\"{p}\"")).unwrap(), p);
        }
        for a in Action::ALL {
            assert_eq!(a.to_string().parse::<Action>(), Ok(a));
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
            assert_eq!(serde_json::from_str::<Action>(&format!("\"{a}\"")).unwrap(), a);
        }
        assert_eq!(Permission::AuditLog.to_string(), "AUDITLOG");
    }

    #[test]
    fn names_are_case_sensitive_and_errors_say_what_was_expected() {
        let err = "flow".parse::<Permission>().unwrap_err();
        assert_eq!(err, PermError::UnknownPermission("flow".into()));
        assert!(err.to_string().contains("`flow`") && err.to_string().contains("FLOW, BLUEPRINT"));
        assert_eq!("Read".parse::<Action>(), Err(PermError::UnknownAction("Read".into())));
        assert!(serde_json::from_str::<Permission>("\"AUDIT_LOG\"").unwrap_err().to_string().contains("AUDIT_LOG"));
        assert!(serde_json::from_str::<Action>("\"EXECUTE\"").is_err());
    }

    #[test]
    fn bit_layout_is_permission_times_four_plus_action() {
        assert_eq!(PermSet::single(Permission::Flow, Action::Create).to_i64(), 1);
        assert_eq!(PermSet::single(Permission::Flow, Action::Delete).to_i64(), 1 << 3);
        assert_eq!(PermSet::single(Permission::Blueprint, Action::Read).to_i64(), 1 << 5);
        assert_eq!(PermSet::single(Permission::Tenant, Action::Delete).to_i64(), 1 << 59);
        assert_eq!(PermSet::ALL.to_i64(), (1 << 60) - 1);
        assert_eq!(PermSet::ALL.len(), 60);
        assert_eq!(PermSet::ALL.iter().count(), 60);
    }

    #[test]
    fn set_operations() {
        let mut a = PermSet::new();
        assert!(a.is_empty());
        assert!(a.insert(Permission::Flow, Action::Read));
        assert!(!a.insert(Permission::Flow, Action::Read));
        assert!(a.contains(Permission::Flow, Action::Read));
        assert!(!a.contains(Permission::Flow, Action::Update));
        assert!(!a.contains(Permission::Blueprint, Action::Read));
        let b = PermSet::single(Permission::Execution, Action::Create);
        let u = a.union(b);
        assert_eq!(u, a | b);
        assert_eq!(u.len(), 2);
        assert!(a.is_subset_of(u) && b.is_subset_of(u) && !u.is_subset_of(a));
        assert!(PermSet::EMPTY.is_subset_of(a));
        assert!(u.is_subset_of(PermSet::ALL));
        assert_eq!(u.difference(a), b);
        assert_eq!(
            u.iter().collect::<Vec<_>>(),
            [(Permission::Flow, Action::Read), (Permission::Execution, Action::Create)]
        );
        assert_eq!(u.iter().collect::<PermSet>(), u);
    }

    #[test]
    fn string_list_round_trip_and_errors() {
        let set = PermSet::from_strings(["FLOW:READ", "EXECUTION:CREATE", "FLOW:READ", "TENANT:DELETE"]).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(set.to_strings(), ["FLOW:READ", "EXECUTION:CREATE", "TENANT:DELETE"]);
        assert_eq!(PermSet::from_strings(set.to_strings()).unwrap(), set);
        assert_eq!(PermSet::from_strings(Vec::<String>::new()).unwrap(), PermSet::EMPTY);
        assert_eq!(PermSet::from_strings(PermSet::ALL.to_strings()).unwrap(), PermSet::ALL);

        for (bad, hint) in [
            ("FLOW", "PERMISSION:ACTION"),
            ("FLOWS:READ", "unknown permission `FLOWS`"),
            ("FLOW:EXECUTE", "unknown action `EXECUTE`"),
            ("flow:read", "unknown permission `flow`"),
            ("FLOW:READ:X", "unknown action `READ:X`"),
            (" FLOW:READ", "unknown permission ` FLOW`"),
        ] {
            let err = PermSet::from_strings(["FLOW:READ", bad]).unwrap_err();
            let message = err.to_string();
            assert!(matches!(&err, PermError::InvalidEntry { entry, .. } if entry == bad), "{err:?}");
            assert!(message.contains(&format!("`{bad}`")) && message.contains(hint), "{message}");
        }
    }

    #[test]
    fn serde_uses_the_string_list() {
        let set = PermSet::from_strings(["ROLE:UPDATE", "FLOW:READ"]).unwrap();
        assert_eq!(serde_json::to_string(&set).unwrap(), r#"["FLOW:READ","ROLE:UPDATE"]"#);
        assert_eq!(serde_json::from_str::<PermSet>(r#"["ROLE:UPDATE","FLOW:READ"]"#).unwrap(), set);
        let err = serde_json::from_str::<PermSet>(r#"["FLOW:READ","ROLE:WRITE"]"#).unwrap_err();
        assert!(err.to_string().contains("ROLE:WRITE"), "{err}");
    }

    #[test]
    fn i64_storage_rejects_foreign_bits() {
        assert_eq!(PermSet::from_i64(0), Ok(PermSet::EMPTY));
        assert_eq!(PermSet::from_i64(PermSet::ALL.to_i64()), Ok(PermSet::ALL));
        assert_eq!(PermSet::from_i64(1 << 60), Err(PermError::OutOfRange(1 << 60)));
        assert_eq!(PermSet::from_i64(-1), Err(PermError::OutOfRange(-1)));
        assert_eq!(PermSet::from_i64(i64::MIN), Err(PermError::OutOfRange(i64::MIN)));
    }

    #[test]
    fn compact_form_is_one_hex_digit_per_permission() {
        assert_eq!(PermSet::EMPTY.to_compact(), "000000000000000");
        assert_eq!(PermSet::ALL.to_compact(), "fffffffffffffff");
        let set = PermSet::from_strings(["FLOW:READ", "EXECUTION:CREATE", "EXECUTION:READ"]).unwrap();
        assert_eq!(set.to_compact(), "200030000000000");
        let tenant = PermSet::from_strings(["TENANT:CREATE", "TENANT:DELETE", "USER:UPDATE"]).unwrap();
        assert_eq!(tenant.to_compact(), "000004000000009");
        assert_eq!(PermSet::from_compact("200030000000000"), Ok(set));

        for bad in ["", "00000000000000", "0000000000000000", "F00000000000000", "g00000000000000", "+00000000000000"] {
            assert_eq!(PermSet::from_compact(bad), Err(PermError::InvalidCompact(bad.into())));
        }
        // Fifteen characters but not fifteen bytes.
        assert!(PermSet::from_compact("é0000000000000").is_err());
    }

    #[test]
    fn every_form_round_trips_on_random_sets() {
        let mut rng = Rng::new(0x5eed_0001);
        for _ in 0..5_000 {
            let set = rng.perm_set();
            assert_eq!(PermSet::from_i64(set.to_i64()), Ok(set));
            assert_eq!(PermSet::from_compact(&set.to_compact()), Ok(set));
            assert_eq!(PermSet::from_strings(set.to_strings()), Ok(set));
            let json = serde_json::to_string(&set).unwrap();
            assert_eq!(serde_json::from_str::<PermSet>(&json).unwrap(), set);
            assert_eq!(set.iter().collect::<PermSet>(), set);
            assert_eq!(set.iter().count(), set.len());
        }
    }
}
