//! The permission catalogue: the same fifteen permissions and four actions, in the same order,
//! as the Tessera server. The order is part of the token format (`rb` permission sets): never
//! reorder, only append.

use std::fmt;
use std::str::FromStr;

/// A resource kind a role can act on, in catalogue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// `FLOW`.
    Flow,
    /// `BLUEPRINT`.
    Blueprint,
    /// `TEMPLATE`.
    Template,
    /// `NAMESPACE`.
    Namespace,
    /// `EXECUTION`.
    Execution,
    /// `USER`.
    User,
    /// `GROUP`.
    Group,
    /// `ROLE`.
    Role,
    /// `BINDING`.
    Binding,
    /// `AUDITLOG`.
    AuditLog,
    /// `SECRET`.
    Secret,
    /// `IMPERSONATE`.
    Impersonate,
    /// `SETTING`.
    Setting,
    /// `WORKER`.
    Worker,
    /// `TENANT`.
    Tenant,
}

/// An operation on a [`Permission`], in catalogue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Create (mask 1).
    Create,
    /// Read (mask 2).
    Read,
    /// Update (mask 4).
    Update,
    /// Delete (mask 8).
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

    /// Position in the catalogue, 0 (`FLOW`, the leftmost digit of a permission set) to 14
    /// (`TENANT`).
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

    /// The action's bit in a permission-set digit: CREATE 1, READ 2, UPDATE 4, DELETE 8.
    pub const fn mask(self) -> u8 {
        1 << self.index()
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

/// The bit of `(permission, action)` in a 60-bit permission set (the server's layout).
pub(crate) const fn bit(permission: Permission, action: Action) -> u64 {
    1 << (permission.index() * 4 + action.index())
}

/// A name that is not in the catalogue (names are upper case and case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`")]
pub struct UnknownName {
    what: &'static str,
    name: String,
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
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownName { what: "permission", name: s.to_owned() })
    }
}

impl FromStr for Action {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownName { what: "action", name: s.to_owned() })
    }
}
