//! The administration of the access model: who the caller is, what they may do in a tenant,
//! and the no-escalation rules. HTTP lives in `crate::http::admin`; this module knows none.
//!
//! No escalation (the rule, as documented in `docs/ACCESS_MODEL.md`): nobody grants more than
//! they hold. Binding a role, creating or widening a role, and adding someone to a group all
//! require the actor's own effective permissions to cover what is granted, in that scope.
//! Only an Instance Admin creates tenants or makes Instance Admins.

pub mod audit;
pub mod bearer;

use std::collections::BTreeSet;

use crate::rbac::{Denied, EffectiveAccess, Grant, Namespace, PermSet, Reach, Scope, Standing, check_authority};
use crate::store::{MemberKind, PrincipalKind, StoreError, Stores, TENANT_ADMIN_ROLE_ID};

/// The authenticated caller of the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: MemberKind,
    pub id: String,
    /// A readable name for the audit log (username or service-account name).
    pub label: String,
    /// The operator running the CLI directly on the database: Instance Admin rights, and no
    /// principal in the store. Only set in process (see `http::admin::auth::Operator`).
    pub operator: bool,
    /// What the credential itself allows, when it is narrower than the principal (a
    /// down-scoped access token): the actor's access is its bindings within this.
    pub limit: Option<std::sync::Arc<EffectiveAccess>>,
    /// The tenant the credential speaks for (an access token's `tnt`), when it is bound to one:
    /// it then acts in no other tenant, unless its principal is an Instance Admin. `None`: the
    /// principal's own credentials (Basic, an API token) or an instance-wide client's token.
    pub tenant: Option<String>,
}

impl Actor {
    pub fn user(id: String, label: String) -> Self {
        Self { kind: MemberKind::User, id, label, operator: false, limit: None, tenant: None }
    }

    pub fn service_account(id: String, label: String) -> Self {
        Self { kind: MemberKind::ServiceAccount, id, label, operator: false, limit: None, tenant: None }
    }

    /// The local operator (the CLI working on the database).
    pub fn operator() -> Self {
        Self {
            kind: MemberKind::User,
            id: "cli".into(),
            label: "cli".into(),
            operator: true,
            limit: None,
            tenant: None,
        }
    }

    pub fn audit_name(&self) -> String {
        if self.operator { "cli".into() } else { format!("{}:{}", self.kind.as_str(), self.id) }
    }
}

/// Why an actor gets nothing in a tenant.
#[derive(Debug)]
pub enum AccessError {
    /// The tenant does not exist, or the actor has no access to it: indistinguishable, so
    /// that one tenant's admins cannot probe another's existence.
    NoTenant,
    Store(StoreError),
}

impl From<StoreError> for AccessError {
    fn from(e: StoreError) -> Self {
        AccessError::Store(e)
    }
}

/// The actor's effective access in `tenant_id`, combining direct and group bindings.
pub async fn access_in(stores: &Stores, actor: &Actor, tenant_id: &str) -> Result<EffectiveAccess, AccessError> {
    if stores.tenants.get_tenant(tenant_id).await?.is_none() {
        return Err(AccessError::NoTenant);
    }
    let access = resolve_access(stores, actor, tenant_id).await?;
    // A token speaks for its tenant: it administers no other (an Instance Admin's excepted).
    if let Some(bound) = &actor.tenant
        && bound != tenant_id
        && !access.is_instance_admin()
    {
        return Err(AccessError::NoTenant);
    }
    match &actor.limit {
        // A narrowed token acts only in its own tenant, and only within its claims.
        Some(limit) if limit.tenant_id() != tenant_id => Err(AccessError::NoTenant),
        Some(limit) => Ok(access.within(limit)),
        None => Ok(access),
    }
}

async fn resolve_access(stores: &Stores, actor: &Actor, tenant_id: &str) -> Result<EffectiveAccess, AccessError> {
    if actor.operator || stores.instance_admins.is_instance_admin(actor.kind, &actor.id).await? {
        return Ok(EffectiveAccess::new(tenant_id, true, false, []));
    }
    if !stores.access.has_access(tenant_id, actor.kind, &actor.id).await? {
        return Err(AccessError::NoTenant);
    }
    Ok(bound_access(stores, tenant_id, actor.kind, &actor.id).await?)
}

/// A principal's access in a tenant from its bindings, direct and through groups (not the
/// Instance Admin role, which the caller checks first): Tenant Admin when the built-in `admin`
/// role is bound to it for the whole tenant.
pub async fn bound_access(
    stores: &Stores,
    tenant_id: &str,
    kind: MemberKind,
    id: &str,
) -> Result<EffectiveAccess, StoreError> {
    let bindings = stores.bindings.effective_bindings(tenant_id, kind, id).await?;
    let mut tenant_admin = false;
    let mut grants = Vec::with_capacity(bindings.len());
    for (b, bits) in bindings {
        let perms = PermSet::from_i64(bits).unwrap_or(PermSet::EMPTY);
        let scope = scope_of(&b.namespaces);
        if b.role_id == TENANT_ADMIN_ROLE_ID && matches!(scope, Scope::Tenant) {
            tenant_admin = true;
        }
        grants.push(Grant::new(scope, perms));
    }
    Ok(EffectiveAccess::new(tenant_id, false, tenant_admin, grants))
}

// --- Authority over principals (the rule: `crate::rbac::check_authority`) -----------------------

/// A principal acted on: a user or a service account, by id.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub kind: MemberKind,
    pub id: &'a str,
}

impl<'a> Target<'a> {
    pub fn user(id: &'a str) -> Self {
        Target { kind: MemberKind::User, id }
    }

    pub fn service_account(id: &'a str) -> Self {
        Target { kind: MemberKind::ServiceAccount, id }
    }
}

/// Why an act on a principal was refused.
#[derive(Debug)]
pub enum AuthorityError {
    Denied(Denied),
    Store(StoreError),
}

impl From<StoreError> for AuthorityError {
    fn from(e: StoreError) -> Self {
        AuthorityError::Store(e)
    }
}

/// What a principal holds across the instance: the Instance Admin role and its access in every
/// tenant where it holds anything (its home tenant included, even when its access there was
/// removed: the identity belongs there).
pub async fn standing_of(stores: &Stores, target: Target<'_>) -> Result<Standing, StoreError> {
    let instance_admin = stores.instance_admins.is_instance_admin(target.kind, target.id).await?;
    let mut tenants: BTreeSet<String> = stores.access.tenants_of(target.kind, target.id).await?.into_iter().collect();
    if target.kind == MemberKind::User
        && let Some(u) = stores.users.get_user_any(target.id).await?
    {
        tenants.insert(u.tenant_id);
    }
    let mut held = Vec::with_capacity(tenants.len());
    for t in &tenants {
        held.push(if instance_admin {
            EffectiveAccess::new(t.as_str(), true, false, [])
        } else {
            bound_access(stores, t, target.kind, target.id).await?
        });
    }
    Ok(Standing::new(instance_admin, held))
}

/// The actor's standing in `tenants` (the target's): its access where it may act (a narrowed
/// token: its own tenant, within its claims; never as Instance Admin).
async fn actor_standing(stores: &Stores, actor: &Actor, tenants: &[&str]) -> Result<Standing, StoreError> {
    let instance_admin = is_instance_admin(stores, actor).await?;
    let mut held = Vec::with_capacity(tenants.len());
    for t in tenants {
        match access_in(stores, actor, t).await {
            Ok(access) => held.push(access),
            Err(AccessError::NoTenant) => {}
            Err(AccessError::Store(e)) => return Err(e),
        }
    }
    Ok(Standing::new(instance_admin, held))
}

/// The authority rule at a door: may `actor` act on `target` with this reach? Every route,
/// form or flow that changes a principal calls this (or [`require_authority_standing`]) before
/// any write.
pub async fn require_authority(
    stores: &Stores,
    actor: &Actor,
    target: Target<'_>,
    reach: Reach<'_>,
) -> Result<(), AuthorityError> {
    let target = standing_of(stores, target).await?;
    require_authority_standing(stores, actor, &target, reach).await
}

/// [`require_authority`] with the target's standing already read.
pub async fn require_authority_standing(
    stores: &Stores,
    actor: &Actor,
    target: &Standing,
    reach: Reach<'_>,
) -> Result<(), AuthorityError> {
    let tenants: Vec<&str> = target.tenants().collect();
    let actor = actor_standing(stores, actor, &tenants).await?;
    check_authority(&actor, target, reach).map_err(AuthorityError::Denied)
}

/// The scope of a binding's namespace list (empty: the whole tenant). Invalid stored values
/// (impossible through the API) are dropped rather than widened.
pub fn scope_of(namespaces: &[String]) -> Scope {
    if namespaces.is_empty() {
        Scope::Tenant
    } else {
        Scope::Namespaces(namespaces.iter().filter_map(|n| Namespace::new(n.clone()).ok()).collect())
    }
}

/// Whether the actor is an Instance Admin.
pub async fn is_instance_admin(stores: &Stores, actor: &Actor) -> Result<bool, StoreError> {
    // A narrowed token never carries the Instance Admin role.
    if actor.limit.is_some() {
        return Ok(false);
    }
    Ok(actor.operator || stores.instance_admins.is_instance_admin(actor.kind, &actor.id).await?)
}

/// What a group grants its members in the tenant: each binding's scope, permissions, and
/// whether it is the built-in `admin` role. For the no-escalation check when someone is added
/// to it, and its mirror when someone is detached or the group deleted.
pub async fn group_grants(
    stores: &Stores,
    tenant_id: &str,
    group_id: &str,
) -> Result<Vec<(Scope, PermSet, bool)>, StoreError> {
    let filter =
        crate::store::BindingFilter { principal: Some((PrincipalKind::Group, group_id.to_string())), role_id: None };
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = stores.bindings.list_bindings(tenant_id, &filter, after.as_deref(), 200).await?;
        for b in &page {
            let perms = match stores.roles.get_role(tenant_id, &b.role_id).await? {
                Some(r) => PermSet::from_i64(r.permissions).unwrap_or(PermSet::EMPTY),
                None => PermSet::EMPTY,
            };
            out.push((scope_of(&b.namespaces), perms, b.role_id == TENANT_ADMIN_ROLE_ID));
        }
        if page.len() < 200 {
            return Ok(out);
        }
        after = page.last().map(|b| b.id.clone());
    }
}
