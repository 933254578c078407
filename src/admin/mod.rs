//! The administration of the access model: who the caller is, what they may do in a tenant,
//! and the no-escalation rules. HTTP lives in `crate::http::admin`; this module knows none.
//!
//! No escalation (the rule, as documented in `docs/ACCESS_MODEL.md`): nobody grants more than
//! they hold. Binding a role, creating or widening a role, and adding someone to a group all
//! require the actor's own effective permissions to cover what is granted, in that scope.
//! Only an Instance Admin creates tenants or makes Instance Admins.

pub mod audit;
pub mod bearer;

use crate::rbac::{EffectiveAccess, Grant, Namespace, PermSet, Scope};
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
}

impl Actor {
    pub fn user(id: String, label: String) -> Self {
        Self { kind: MemberKind::User, id, label, operator: false, limit: None }
    }

    pub fn service_account(id: String, label: String) -> Self {
        Self { kind: MemberKind::ServiceAccount, id, label, operator: false, limit: None }
    }

    /// The local operator (the CLI working on the database).
    pub fn operator() -> Self {
        Self { kind: MemberKind::User, id: "cli".into(), label: "cli".into(), operator: true, limit: None }
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
    let bindings = stores.bindings.effective_bindings(tenant_id, actor.kind, &actor.id).await?;
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

/// What a group grants its members in the tenant, for the no-escalation check when someone is
/// added to it.
pub async fn group_grants(
    stores: &Stores,
    tenant_id: &str,
    group_id: &str,
) -> Result<Vec<(Scope, PermSet)>, StoreError> {
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
            out.push((scope_of(&b.namespaces), perms));
        }
        if page.len() < 200 {
            return Ok(out);
        }
        after = page.last().map(|b| b.id.clone());
    }
}
