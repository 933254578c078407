//! Authority over principals: who may act on whom. One rule, pure, called by every door that
//! changes a principal (the admin API, SCIM, the console through the admin API, federation
//! linking and just-in-time sign-in, credential minting).
//!
//! **The rule.** An actor may change, disable, delete, rename, link an external identity to,
//! force a password change on, or mint a credential for a principal only if, in every tenant
//! where that principal holds anything (access, a binding, a group), the actor holds at least
//! as much there: every `(permission, action)` the principal holds, wherever it holds it, and
//! the Tenant Admin role if the principal is Tenant Admin there. Only an Instance Admin acts on
//! an Instance Admin; an Instance Admin acts on anyone.
//!
//! **Demotion** is the mirror of granting: taking something away needs what giving it would
//! need. Removing a principal's access to one tenant (its bindings and memberships there) is
//! the rule above limited to that tenant ([`Reach::Tenant`]); deleting a binding, detaching a
//! member from a group or deleting a group needs the no-escalation check of what is taken
//! away ([`EffectiveAccess::check_grant_role`]).

use std::collections::BTreeMap;
use std::fmt;

use super::access::{Denied, EffectiveAccess};

/// What a principal holds across the instance: the Instance Admin role, and its access in
/// each tenant where it holds anything. For an actor, only the tenants where it may act count
/// (a down-scoped token: its own tenant, within its claims, never as Instance Admin).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Standing {
    instance_admin: bool,
    tenants: BTreeMap<String, EffectiveAccess>,
}

impl Standing {
    /// `tenants`: the principal's access in each tenant where it holds anything (a tenant
    /// named twice keeps the last).
    pub fn new(instance_admin: bool, tenants: impl IntoIterator<Item = EffectiveAccess>) -> Self {
        let tenants = tenants.into_iter().map(|a| (a.tenant_id().to_string(), a)).collect();
        Standing { instance_admin, tenants }
    }

    pub fn is_instance_admin(&self) -> bool {
        self.instance_admin
    }

    /// The tenants where the principal holds anything.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.tenants.keys().map(String::as_str)
    }

    /// The principal's access in `tenant`, if it holds anything there.
    pub fn access_in(&self, tenant: &str) -> Option<&EffectiveAccess> {
        self.tenants.get(tenant)
    }
}

/// How far an act on a principal reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach<'a> {
    /// The identity itself, in every tenant: rename, disable, delete, change its password,
    /// e-mail or user name, link an external identity, force a password change, mint a
    /// credential, change a service account.
    Identity,
    /// Only what the principal holds in this tenant: removing its access there.
    Tenant(&'a str),
}

/// Whether `actor` has authority over `target` for an act of this `reach` (the rule in the
/// module documentation). The refusal says why; it names a tenant only when the actor holds
/// something there, so a Tenant Admin learns nothing about tenants that are not theirs.
pub fn check_authority(actor: &Standing, target: &Standing, reach: Reach<'_>) -> Result<(), Denied> {
    if actor.instance_admin {
        return Ok(());
    }
    if target.instance_admin {
        return Err(Denied::TargetInstanceAdmin);
    }
    let tenants: Vec<(&String, &EffectiveAccess)> = match reach {
        Reach::Identity => target.tenants.iter().collect(),
        Reach::Tenant(t) => target.tenants.get_key_value(t).into_iter().collect(),
    };
    for (tenant, held) in tenants {
        let Some(mine) = actor.tenants.get(tenant) else {
            return Err(Denied::OutrankedElsewhere);
        };
        if held.is_tenant_admin() && !(mine.is_tenant_admin() || mine.is_instance_admin()) {
            return Err(Denied::Outranked { tenant: tenant.clone(), what: "the Tenant Admin role".into() });
        }
        for (scope, perms) in held.compact() {
            if let Err(Denied::CannotGrant { permission, action, namespace }) = mine.check_grant(perms, &scope) {
                let place = match namespace {
                    None => String::from(" tenant-wide"),
                    Some(ns) => format!(" in namespace `{ns}`"),
                };
                return Err(Denied::Outranked {
                    tenant: tenant.clone(),
                    what: format!("{permission}:{action}{place}"),
                });
            }
        }
    }
    Ok(())
}

impl fmt::Display for Reach<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reach::Identity => f.write_str("every tenant"),
            Reach::Tenant(t) => write!(f, "tenant `{t}`"),
        }
    }
}
