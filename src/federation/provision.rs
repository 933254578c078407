//! From an upstream identity to a Tessera user: the link by the upstream subject, linking an
//! existing user by verified email (only when the connection allows it), just-in-time
//! creation, profile updates at every sign-in, and group memberships by the connection's
//! mappings.

use std::collections::BTreeSet;

use super::{FedError, UpstreamIdentity, domain_allowed};
use crate::crypto::random_token;
use crate::oauth::Provider;
use crate::store::{Connection, INSTANCE_SCOPE, LinkPolicy, MemberKind, StoreError, User};

/// What an upstream identity comes to.
#[derive(Debug)]
pub enum Provisioned {
    /// Sign in as this user (linked before, linked now by an instance-wide connection's
    /// trust, or created just in time).
    SignIn(User),
    /// An existing account of the tenant has the upstream's verified e-mail and the tenant's
    /// connection allows linking: the account must prove it is the same person (sign in once
    /// with its own credentials, as Keycloak's first broker login does) before the link is made.
    NeedsProof(User),
}

/// The user this upstream identity signs in as, created or linked as the connection's
/// rules say, with its profile brought up to date. Disabled users are refused.
pub async fn provision(
    p: &Provider,
    conn: &Connection,
    ident: &UpstreamIdentity,
    now: i64,
) -> Result<Provisioned, FedError> {
    if !domain_allowed(conn, ident.email.as_deref()) {
        return Err(FedError::Refused(format!(
            "Your email address is not in a domain that may sign in through {}.",
            conn.name
        )));
    }
    let fed = &p.stores.federation;
    let users = &p.stores.users;
    if let Some(user_id) = fed.find_identity(&conn.tenant_id, &conn.id, &ident.subject, now).await?
        && let Some(user) = users.get_user_any(&user_id).await?
    {
        refuse_disabled(&user)?;
        // Checked at every sign-in: the account may have gained standing elsewhere since.
        within_authority(p, conn, &user).await?;
        refuse_pending_password_change(&user)?;
        return Ok(Provisioned::SignIn(update_profile(p, user, ident).await));
    }
    // Not linked yet: an existing user with this email?
    let existing = match ident.email.as_deref() {
        Some(e) => users.find_user_by_email_any(e).await?,
        None => None,
    };
    if let Some(user) = existing {
        // Linking by e-mail alone trusts the upstream with the account: only an instance-wide
        // connection (an Instance Admin's) with linking explicitly on. A tenant's provider is
        // untrusted input; it never links an existing account without proof from that account.
        if conn.tenant_id == INSTANCE_SCOPE && conn.settings.link == LinkPolicy::VerifiedEmail && ident.email_verified {
            refuse_disabled(&user)?;
            within_authority(p, conn, &user).await?;
            refuse_pending_password_change(&user)?;
            match fed.link_identity(&conn.tenant_id, &conn.id, &ident.subject, &user.id, now).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            tracing::info!(connection = %conn.id, user = %user.id, "federation: linked by verified email");
            return Ok(Provisioned::SignIn(update_profile(p, user, ident).await));
        }
        if conn.settings.link == LinkPolicy::VerifiedEmail && ident.email_verified {
            refuse_disabled(&user)?;
            within_authority(p, conn, &user).await?;
            refuse_pending_password_change(&user)?;
            return Ok(Provisioned::NeedsProof(user));
        }
        return Err(FedError::Refused(format!(
            "A Tessera account with this email address already exists. Sign in with that account's own \
             credentials, or ask an administrator to link it to {}.",
            conn.name
        )));
    }
    if !conn.settings.jit {
        return Err(FedError::Refused(format!(
            "No Tessera account is linked to your {} identity, and accounts are not created automatically. \
             Ask an administrator for access.",
            conn.name
        )));
    }
    let home = if conn.tenant_id == INSTANCE_SCOPE {
        conn.settings.home_tenant.clone().ok_or_else(|| {
            tracing::error!(connection = %conn.id, "federation: an instance-wide connection without home_tenant");
            FedError::Refused("This identity provider is not set up to create accounts.".into())
        })?
    } else {
        conn.tenant_id.clone()
    };
    // A username and email the canonical-identity rule accepts (crate::identity), or none: an
    // upstream's claims are not ours to refuse, the account is made without them. The fallback
    // name keeps only printable ASCII, which the rule always accepts.
    let username = ident
        .username
        .clone()
        .or_else(|| ident.email.clone())
        .filter(|u| crate::identity::canonical_username(u).is_ok())
        .unwrap_or_else(|| {
            format!("{}-{}", conn.id, ident.subject).chars().filter(char::is_ascii_graphic).take(128).collect()
        });
    let email = ident.email.clone().filter(|e| crate::identity::canonical_email(e).is_ok());
    let user = User {
        tenant_id: home,
        id: random_token(12),
        username,
        email_verified: email.is_some() && ident.email_verified,
        email,
        name: ident.name.clone(),
        password_hash: None,
        disabled: false,
        password_change_required: false,
        created_at: now,
    };
    match fed.provision_user(&user, &conn.tenant_id, &conn.id, &ident.subject).await {
        Ok(()) => {
            tracing::info!(connection = %conn.id, user = %user.id, tenant = %user.tenant_id, "federation: user created");
            Ok(Provisioned::SignIn(user))
        }
        Err(StoreError::Conflict(_)) => {
            // Another sign-in of the same person won the race, or the username is taken.
            if let Some(user_id) = fed.find_identity(&conn.tenant_id, &conn.id, &ident.subject, now).await?
                && let Some(u) = users.get_user_any(&user_id).await?
            {
                refuse_disabled(&u)?;
                return Ok(Provisioned::SignIn(u));
            }
            Err(FedError::Refused(format!(
                "The username {} is taken by another Tessera account. Ask an administrator to link it to {}.",
                user.username, conn.name
            )))
        }
        Err(StoreError::NotFound) => {
            tracing::error!(connection = %conn.id, tenant = %user.tenant_id, "federation: the home tenant does not exist");
            Err(FedError::Refused("This identity provider is not set up to create accounts.".into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Links the upstream identity to `user` once the account proved it is the same person (see
/// [`Provisioned::NeedsProof`]): the rules are checked again, as the account may have changed
/// since the upstream answered.
pub async fn link_after_proof(
    p: &Provider,
    conn: &Connection,
    subject: &str,
    user: &User,
    now: i64,
) -> Result<(), FedError> {
    refuse_disabled(user)?;
    within_authority(p, conn, user).await?;
    refuse_pending_password_change(user)?;
    match p.stores.federation.link_identity(&conn.tenant_id, &conn.id, subject, &user.id, now).await {
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    tracing::info!(connection = %conn.id, user = %user.id, "federation: linked after the account's own sign-in");
    Ok(())
}

/// The authority rule for an upstream: a tenant's connection signs in only accounts under
/// that tenant's authority (a Tenant Admin of it has authority over them: they hold nothing
/// outside the tenant and are not Instance Admins); an instance-wide connection, set up by an
/// Instance Admin, any account.
async fn within_authority(p: &Provider, conn: &Connection, user: &User) -> Result<(), FedError> {
    use crate::rbac::{EffectiveAccess, Reach, Standing, check_authority};
    let connection = if conn.tenant_id == INSTANCE_SCOPE {
        Standing::new(true, [])
    } else {
        Standing::new(false, [EffectiveAccess::new(conn.tenant_id.as_str(), false, true, [])])
    };
    let account = crate::admin::standing_of(&p.stores, crate::admin::Target::user(&user.id)).await?;
    if let Err(why) = check_authority(&connection, &account, Reach::Identity) {
        tracing::warn!(connection = %conn.id, user = %user.id, %why, "federation: account outside the connection's authority");
        return Err(FedError::Refused(format!(
            "{} cannot sign in to this account: it belongs to more than this organisation. Sign in with the \
             account's own credentials.",
            conn.name
        )));
    }
    Ok(())
}

/// A pending mandatory password change blocks every door until the new password is set.
fn refuse_pending_password_change(user: &User) -> Result<(), FedError> {
    if user.password_change_required {
        return Err(FedError::Refused(
            "This account must choose a new password first: sign in with its password, or use \"Forgot your \
             password?\" on the sign-in page."
                .into(),
        ));
    }
    Ok(())
}

fn refuse_disabled(user: &User) -> Result<(), FedError> {
    if user.disabled {
        return Err(FedError::Refused("This account is disabled. Ask an administrator.".into()));
    }
    Ok(())
}

/// Brings email, its verification and name in line with the upstream. A failure (an email
/// taken by another account) keeps the old profile: the sign-in goes on.
async fn update_profile(p: &Provider, mut user: User, ident: &UpstreamIdentity) -> User {
    let upstream_email = ident.email.clone().filter(|e| crate::identity::canonical_email(e).is_ok());
    let verified = if upstream_email.is_some() { ident.email_verified } else { user.email_verified };
    let email = upstream_email.or_else(|| user.email.clone());
    let name = ident.name.clone().or_else(|| user.name.clone());
    if email == user.email && verified == user.email_verified && name == user.name {
        return user;
    }
    match p.stores.federation.update_federated_profile(&user.id, email.as_deref(), verified, name.as_deref()).await {
        Ok(()) => {
            user.email = email;
            user.email_verified = verified;
            user.name = name;
        }
        Err(e) => tracing::warn!(user = %user.id, error = %e, "federation: profile not updated"),
    }
    user
}

/// Makes the user's memberships of the mapped groups follow the upstream's groups: a member
/// of every mapped group whose upstream value it holds, of none of the others. Groups no
/// mapping names are left alone. Each change bumps the user's binding epoch in that tenant.
/// Returns the (tenant, group) pairs joined and left.
pub async fn sync_groups(
    p: &Provider,
    conn: &Connection,
    user_id: &str,
    upstream_groups: &[String],
    now: i64,
) -> Result<(Vec<String>, Vec<String>), FedError> {
    let mut wanted = BTreeSet::new();
    let mut managed = BTreeSet::new();
    for m in &conn.settings.group_mappings {
        let tenant = m.tenant.clone().unwrap_or_else(|| conn.tenant_id.clone());
        if tenant == INSTANCE_SCOPE {
            continue;
        }
        managed.insert((tenant.clone(), m.group.clone()));
        if upstream_groups.iter().any(|g| g == &m.upstream) {
            wanted.insert((tenant, m.group.clone()));
        }
    }
    let (mut joined, mut left) = (Vec::new(), Vec::new());
    let groups = &p.stores.groups;
    for (tenant, group) in &managed {
        let label = format!("{tenant}/{group}");
        if wanted.contains(&(tenant.clone(), group.clone())) {
            match groups.add_member(tenant, group, MemberKind::User, user_id, now).await {
                Ok(()) => joined.push(label),
                Err(StoreError::Conflict(_)) => {}
                Err(StoreError::NotFound) => {
                    tracing::warn!(connection = %conn.id, group = %label, "federation: a mapped group does not exist")
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            match groups.remove_member(tenant, group, MemberKind::User, user_id, now).await {
                Ok(()) => left.push(label),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok((joined, left))
}
