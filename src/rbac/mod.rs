//! Authorization, Kestra Enterprise's model: pure functions and types, no I/O.
//!
//! - A **role** is a set of `(permission, action)` pairs ([`PermSet`] over the fifteen
//!   [`Permission`]s and four [`Action`]s).
//! - A **binding** attaches a role to a user, service account or group, in one tenant, either
//!   tenant-wide or on a list of namespaces; a namespace binding also applies below it
//!   (`prod` reaches `prod.engineering`, never `production`; see [`Namespace::covers`]).
//!   Here a binding is a [`Grant`]; an actor's grants are their own plus their groups'.
//! - **Tenant Admin** holds every permission tenant-wide; **Instance Admin** holds every
//!   permission in every tenant and also manages tenants.
//!
//! Who may act on whom (rename, disable, force a password change, mint a credential, link an
//! external identity) is one rule, [`check_authority`] over two [`Standing`]s.
//!
//! [`EffectiveAccess`] evaluates all of that once per actor and tenant. Services do not take
//! tenant ids or booleans: they take the capability a check returns ([`TenantCap`] from
//! [`EffectiveAccess::require`] / [`EffectiveAccess::require_in`], [`InstanceCap`] from
//! [`EffectiveAccess::require_instance_admin`]), which cannot be built any other way, so a
//! handler that skips the check does not compile:
//!
//! ```
//! use tessera::rbac::{Action, EffectiveAccess, Grant, Namespace, PermSet, Permission, Scope, TenantCap};
//!
//! fn list_flows(cap: &TenantCap) -> String {
//!     format!("flows of tenant {} under {:?}", cap.tenant_id(), cap.namespace().map(Namespace::as_str))
//! }
//!
//! let prod = Namespace::new("prod").unwrap();
//! let grant = Grant::new(Scope::Namespaces(vec![prod.clone()]), PermSet::single(Permission::Flow, Action::Read));
//! let access = EffectiveAccess::new("acme", false, false, [grant]);
//!
//! let cap = access.require_in(Permission::Flow, Action::Read, &prod).unwrap();
//! assert_eq!(list_flows(&cap), r#"flows of tenant acme under Some("prod")"#);
//! // Users are tenant-level: a namespace binding does not reach them.
//! assert!(access.require(Permission::User, Action::Read).is_err());
//! // No escalation: FLOW:READ on prod cannot be handed out on another namespace.
//! let dev = Namespace::new("dev").unwrap();
//! assert!(!access.covers_grant(PermSet::single(Permission::Flow, Action::Read), &Scope::Namespaces(vec![dev])));
//! ```

mod access;
mod authority;
mod claims;
mod namespace;
mod permission;
#[cfg(test)]
mod test_rng;
#[cfg(test)]
mod tests;

pub use self::access::{Denied, EffectiveAccess, Grant, InstanceCap, Scope, TenantCap};
pub use self::authority::{Reach, Standing, check_authority};
pub use self::claims::{RB_BUDGET_BYTES, RoleBindingsClaim};
pub use self::namespace::{MAX_NAMESPACE_LEN, Namespace, NamespaceError};
pub use self::permission::{Action, PermError, PermSet, Permission};
