//! What one actor may do in one tenant, evaluated once from their bindings, and the
//! capabilities handed out when a check passes.

use std::collections::BTreeMap;
use std::fmt;

use super::namespace::Namespace;
use super::permission::{Action, PermSet, Permission};

/// Where a binding applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The whole tenant: every namespace, and the tenant-level resources (users, groups, roles,
    /// bindings, …) that belong to no namespace.
    Tenant,
    /// These namespaces and every namespace below each of them; never tenant-level resources.
    /// An empty list applies nowhere.
    Namespaces(Vec<Namespace>),
}

/// One binding of one role: the role's permissions, applied in a scope. An actor's grants are
/// their direct bindings plus those of every group they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    pub scope: Scope,
    pub perms: PermSet,
}

impl Grant {
    pub fn new(scope: Scope, perms: PermSet) -> Self {
        Grant { scope, perms }
    }
}

impl From<(Scope, PermSet)> for Grant {
    fn from((scope, perms): (Scope, PermSet)) -> Self {
        Grant { scope, perms }
    }
}

/// An actor's access in one tenant: the admin roles they hold and the union of their grants,
/// merged once at construction. Checks never look at anything else, so this value (built per
/// request, or cached per session) is the whole authorization state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveAccess {
    tenant_id: String,
    instance_admin: bool,
    tenant_admin: bool,
    /// Union of the whole-tenant grants.
    tenant_wide: PermSet,
    /// Union of the namespace grants, per namespace named in a binding.
    namespaces: BTreeMap<Namespace, PermSet>,
}

impl EffectiveAccess {
    /// Evaluates an actor's access in `tenant_id`.
    ///
    /// - `instance_admin`: the Instance Admin role: every permission in every tenant (so in this
    ///   one), plus managing tenants ([`EffectiveAccess::require_instance_admin`]).
    /// - `tenant_admin`: the Tenant Admin role for this tenant: every permission tenant-wide.
    /// - `grants`: every binding of the actor in this tenant, direct or through a group; their
    ///   permissions add up.
    pub fn new(
        tenant_id: impl Into<String>,
        instance_admin: bool,
        tenant_admin: bool,
        grants: impl IntoIterator<Item = Grant>,
    ) -> Self {
        let mut tenant_wide = PermSet::EMPTY;
        let mut namespaces = BTreeMap::<Namespace, PermSet>::new();
        for grant in grants {
            match grant.scope {
                Scope::Tenant => tenant_wide |= grant.perms,
                Scope::Namespaces(list) => {
                    for namespace in list {
                        *namespaces.entry(namespace).or_default() |= grant.perms;
                    }
                }
            }
        }
        EffectiveAccess { tenant_id: tenant_id.into(), instance_admin, tenant_admin, tenant_wide, namespaces }
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    pub fn is_instance_admin(&self) -> bool {
        self.instance_admin
    }

    pub fn is_tenant_admin(&self) -> bool {
        self.tenant_admin
    }

    fn is_admin(&self) -> bool {
        self.instance_admin || self.tenant_admin
    }

    /// Every permission the actor holds tenant-wide (`None`) or in `namespace` (whole-tenant
    /// grants plus the grants on `namespace` and on every namespace above it).
    pub fn effective(&self, namespace: Option<&Namespace>) -> PermSet {
        if self.is_admin() {
            return PermSet::ALL;
        }
        match namespace {
            None => self.tenant_wide,
            Some(namespace) => namespace
                .self_and_ancestors()
                .filter_map(|covering| self.namespaces.get(covering))
                .fold(self.tenant_wide, |acc, &perms| acc | perms),
        }
    }

    /// Whether the actor may perform `action` on `permission`: on a tenant-level resource
    /// (`None`; only whole-tenant grants count) or on a resource in `namespace` (whole-tenant
    /// grants and grants on a namespace covering it count). Admins may do everything.
    ///
    /// Prefer [`EffectiveAccess::require`] / [`EffectiveAccess::require_in`] in services: they
    /// return the capability the service needs to act.
    pub fn allows(&self, permission: Permission, action: Action, namespace: Option<&Namespace>) -> bool {
        self.effective(namespace).contains(permission, action)
    }

    /// The actor's grants in a minimal equivalent form, for example for a token: one entry
    /// for the whole tenant (if any), then namespaces with identical permission sets grouped
    /// into one entry. Grants on the same namespace are merged; permissions already held
    /// tenant-wide or on an enclosing namespace are dropped (they are inherited anyway), and
    /// namespaces left with nothing are omitted. Nothing is lost: rebuilding an
    /// [`EffectiveAccess`] from the result (with the same admin flags) allows exactly the same.
    ///
    /// The admin roles are flags, not grants: for an admin this returns one whole-tenant entry
    /// with [`PermSet::ALL`], and the caller carries the flags separately.
    ///
    /// Order is deterministic: the whole-tenant entry first, then groups in the order of
    /// their first namespace, namespaces sorted within each group.
    pub fn compact(&self) -> Vec<(Scope, PermSet)> {
        if self.is_admin() {
            return vec![(Scope::Tenant, PermSet::ALL)];
        }
        let mut out = Vec::new();
        if !self.tenant_wide.is_empty() {
            out.push((Scope::Tenant, self.tenant_wide));
        }
        let mut groups: Vec<(PermSet, Vec<Namespace>)> = Vec::new();
        for (namespace, &perms) in &self.namespaces {
            // Inherited from above: the tenant, or a strict ancestor's original set (transitively
            // everything dropped there is itself inherited, so nothing is lost).
            let inherited = namespace
                .self_and_ancestors()
                .filter(|&covering| covering != namespace.as_str())
                .filter_map(|covering| self.namespaces.get(covering))
                .fold(self.tenant_wide, |acc, &p| acc | p);
            let own = perms.difference(inherited);
            if own.is_empty() {
                continue;
            }
            match groups.iter_mut().find(|(p, _)| *p == own) {
                Some((_, list)) => list.push(namespace.clone()),
                None => groups.push((own, vec![namespace.clone()])),
            }
        }
        out.extend(groups.into_iter().map(|(perms, list)| (Scope::Namespaces(list), perms)));
        out
    }

    /// The part of this access that `wanted` asks for, never more than is held: each
    /// `(permission, action)` either anywhere (`None`: tenant-wide if held tenant-wide, else in
    /// each namespace where it is held) or in one namespace (there, if held there; else in the
    /// namespaces below it where it is held). The result holds no admin role. Also returns the
    /// indexes of the entries of `wanted` that matched nothing.
    ///
    /// This is how a token is down-scoped (token exchange `scope`, a service account's
    /// `client_credentials`): the narrowed access can only lose permissions.
    pub fn narrow(&self, wanted: &[(Permission, Action, Option<Namespace>)]) -> (EffectiveAccess, Vec<usize>) {
        let mut grants = Vec::new();
        let mut unmatched = Vec::new();
        for (i, (permission, action, namespace)) in wanted.iter().enumerate() {
            let one = PermSet::single(*permission, *action);
            let before = grants.len();
            if self.allows(*permission, *action, namespace.as_ref()) {
                let scope = match namespace {
                    None => Scope::Tenant,
                    Some(ns) => Scope::Namespaces(vec![ns.clone()]),
                };
                grants.push(Grant::new(scope, one));
            } else {
                for held in self.namespaces.keys() {
                    let below = namespace.as_ref().is_none_or(|ns| ns.covers(held));
                    if below && self.effective(Some(held)).contains(*permission, *action) {
                        grants.push(Grant::new(Scope::Namespaces(vec![held.clone()]), one));
                    }
                }
            }
            if grants.len() == before {
                unmatched.push(i);
            }
        }
        (EffectiveAccess::new(self.tenant_id.clone(), false, false, grants), unmatched)
    }

    /// This access, within what `limit` allows (a down-scoped token's claims): the pairs of
    /// `limit`, where `limit` has them, as far as this access holds them there.
    pub fn within(&self, limit: &EffectiveAccess) -> EffectiveAccess {
        let mut wanted = Vec::new();
        for (scope, perms) in limit.compact() {
            let places: Vec<Option<Namespace>> = match scope {
                Scope::Tenant => vec![None],
                Scope::Namespaces(list) => list.into_iter().map(Some).collect(),
            };
            for (permission, action) in perms.iter() {
                wanted.extend(places.iter().map(|ns| (permission, action, ns.clone())));
            }
        }
        self.narrow(&wanted).0
    }

    /// No-escalation check: whether the actor holds every pair of `perms` everywhere `scope`
    /// reaches — tenant-wide for [`Scope::Tenant`], in each listed namespace otherwise (which
    /// also covers the namespaces below them). An actor may only hand out what they hold.
    ///
    /// Call it before binding a role (the role's permissions in the binding's scope), before
    /// creating a role or widening one (the new permissions, in the scope of each existing
    /// binding of the role), and before adding someone to a group (each of the group's
    /// bindings). An empty namespace list hands out nothing and is always covered.
    pub fn covers_grant(&self, perms: PermSet, scope: &Scope) -> bool {
        self.check_grant(perms, scope).is_ok()
    }

    /// [`EffectiveAccess::covers_grant`], saying what is missing: [`Denied::CannotGrant`] with
    /// the first pair (in catalogue order) the actor does not hold, and where.
    pub fn check_grant(&self, perms: PermSet, scope: &Scope) -> Result<(), Denied> {
        let missing =
            |namespace: Option<&Namespace>| {
                perms.difference(self.effective(namespace)).iter().next().map(|(permission, action)| {
                    Denied::CannotGrant { permission, action, namespace: namespace.cloned() }
                })
            };
        let first_missing = match scope {
            Scope::Tenant => missing(None),
            Scope::Namespaces(list) => list.iter().find_map(|namespace| missing(Some(namespace))),
        };
        first_missing.map_or(Ok(()), Err)
    }

    /// [`EffectiveAccess::check_grant`] for a whole role binding: also, binding the built-in
    /// `admin` role for the whole tenant (`builtin_admin`), which makes a Tenant Admin, needs
    /// the Tenant Admin role itself, not merely every permission. Used for giving (a binding, a
    /// member added to a group) and, as its mirror, for taking away (a binding deleted, a member
    /// detached, a group deleted).
    pub fn check_grant_role(&self, perms: PermSet, scope: &Scope, builtin_admin: bool) -> Result<(), Denied> {
        if builtin_admin && matches!(scope, Scope::Tenant) && !self.is_admin() {
            return Err(Denied::TenantAdminRequired);
        }
        self.check_grant(perms, scope)
    }

    /// Checks a tenant-level permission (users, groups, roles, bindings, tenant settings, …;
    /// only whole-tenant grants count) and returns the capability to act on it.
    pub fn require(&self, permission: Permission, action: Action) -> Result<TenantCap, Denied> {
        self.require_at(permission, action, None)
    }

    /// Checks a permission on resources in `namespace` (and below it) and returns the
    /// capability to act there.
    pub fn require_in(
        &self,
        permission: Permission,
        action: Action,
        namespace: &Namespace,
    ) -> Result<TenantCap, Denied> {
        self.require_at(permission, action, Some(namespace))
    }

    fn require_at(
        &self,
        permission: Permission,
        action: Action,
        namespace: Option<&Namespace>,
    ) -> Result<TenantCap, Denied> {
        if !self.allows(permission, action, namespace) {
            return Err(Denied::Missing { permission, action, namespace: namespace.cloned() });
        }
        Ok(TenantCap { tenant_id: self.tenant_id.clone(), permission, action, namespace: namespace.cloned() })
    }

    /// Checks the Instance Admin role and returns the capability to manage tenants.
    pub fn require_instance_admin(&self) -> Result<InstanceCap, Denied> {
        if self.instance_admin { Ok(InstanceCap { _private: () }) } else { Err(Denied::NotInstanceAdmin) }
    }
}

/// Proof that a check passed: the actor may perform [`TenantCap::action`] on
/// [`TenantCap::permission`] in tenant [`TenantCap::tenant_id`], tenant-wide or in
/// [`TenantCap::namespace`] and below.
///
/// It has no public constructor: the only way to get one is [`EffectiveAccess::require`] or
/// [`EffectiveAccess::require_in`]. Admin services take a `&TenantCap` instead of a raw tenant
/// id and read the tenant from it, so a handler that forgets the check has no tenant to pass
/// and does not compile. A service should also assert the permission and action it expects
/// (`cap.permission() == Permission::User`), and, for namespaced resources, that
/// [`TenantCap::covers_namespace`] holds for the resource it touches.
///
/// ```compile_fail
/// use tessera::rbac::{Action, Permission, TenantCap};
/// // error[E0451]: the fields are private, and there is no constructor.
/// let cap = TenantCap { tenant_id: "acme".into(), permission: Permission::User, action: Action::Delete, namespace: None };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCap {
    tenant_id: String,
    permission: Permission,
    action: Action,
    namespace: Option<Namespace>,
}

impl TenantCap {
    /// The tenant the capability acts in; the only tenant id an admin service should use.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    pub fn permission(&self) -> Permission {
        self.permission
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// `None` for a tenant-wide capability (from [`EffectiveAccess::require`]), else the
    /// namespace it was checked in.
    pub fn namespace(&self) -> Option<&Namespace> {
        self.namespace.as_ref()
    }

    /// Whether the capability reaches resources in `namespace`: always for a tenant-wide one,
    /// otherwise when the checked namespace covers it.
    pub fn covers_namespace(&self, namespace: &Namespace) -> bool {
        self.namespace.as_ref().is_none_or(|checked| checked.covers(namespace))
    }
}

/// Proof that the actor holds the Instance Admin role: required to create, remove and
/// configure tenants and to name tenant admins. Obtained only from
/// [`EffectiveAccess::require_instance_admin`]; instance services take it as a parameter so a
/// forgotten check does not compile.
///
/// ```compile_fail
/// let cap = tessera::rbac::InstanceCap { _private: () };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceCap {
    _private: (),
}

/// A refused check. The message names what was missing and may be shown to the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denied {
    /// The actor lacks `permission:action` tenant-wide (`namespace` is `None`) or in `namespace`.
    Missing { permission: Permission, action: Action, namespace: Option<Namespace> },
    /// The actor tried to hand out (bind, put in a role, or give through a group) a pair they
    /// do not hold themselves, tenant-wide (`namespace` is `None`) or in `namespace`.
    CannotGrant { permission: Permission, action: Action, namespace: Option<Namespace> },
    /// The operation needs the Instance Admin role.
    NotInstanceAdmin,
    /// Binding the built-in `admin` role tenant-wide (making a Tenant Admin), or taking it
    /// away, needs the Tenant Admin role.
    TenantAdminRequired,
    /// The principal acted on is an Instance Admin: only an Instance Admin acts on one.
    TargetInstanceAdmin,
    /// The principal acted on holds `what` in `tenant`, where the actor does not.
    Outranked { tenant: String, what: String },
    /// The principal acted on holds access in a tenant where the actor holds nothing (not
    /// named: the actor may not know it).
    OutrankedElsewhere,
}

/// " tenant-wide" or " in namespace `x`".
struct Where<'a>(&'a Option<Namespace>);

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str(" tenant-wide"),
            Some(namespace) => write!(f, " in namespace `{namespace}`"),
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::Missing { permission, action, namespace } => {
                write!(f, "missing permission {permission}:{action}{}", Where(namespace))
            }
            Denied::CannotGrant { permission, action, namespace } => {
                write!(f, "cannot grant {permission}:{action}{}: you do not hold it there yourself", Where(namespace))
            }
            Denied::NotInstanceAdmin => f.write_str("the Instance Admin role is required"),
            Denied::TenantAdminRequired => {
                f.write_str("only a Tenant Admin binds or removes the built-in admin role for the whole tenant")
            }
            Denied::TargetInstanceAdmin => f.write_str("only an Instance Admin acts on an Instance Admin"),
            Denied::Outranked { tenant, what } => write!(
                f,
                "this principal holds {what} in tenant `{tenant}` and you do not: only someone who holds at least \
                 as much as the principal, wherever it holds anything, may act on it"
            ),
            Denied::OutrankedElsewhere => f.write_str(
                "this principal also holds access in another tenant where you hold nothing: an administrator of \
                 every tenant it belongs to (or an Instance Admin) must act on it",
            ),
        }
    }
}

impl std::error::Error for Denied {}
