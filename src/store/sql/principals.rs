//! Steps on principals (users and service accounts) that several stores take inside their
//! own transactions: does it exist, give it access, bump its binding epoch, forget it.

use sqlx::{Postgres, Sqlite};

use super::{SqlStore, backend, write_error};
use crate::store::{MemberKind, PrincipalKind, StoreResult, User};

/// Kinds are bound as their `as_str` text.
mod queries {
    pub const USER_EXISTS: &str = "SELECT COUNT(*) FROM users WHERE id = $1";
    pub const SERVICE_ACCOUNT_EXISTS: &str = "SELECT COUNT(*) FROM service_accounts WHERE id = $1";
    pub const GRANT_ACCESS_IF_MISSING: &str = "INSERT INTO tenant_access \
         (tenant_id, principal_kind, principal_id, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, principal_kind, principal_id) DO NOTHING";
    /// Bumps one principal's binding epoch in a tenant ($1 tenant, $2 kind, $3 id, $4 now).
    pub const BUMP_EPOCH: &str = "INSERT INTO principal_epochs \
         (tenant_id, principal_kind, principal_id, epoch, changed_at) \
         VALUES ($1, $2, $3, 1, $4) \
         ON CONFLICT (tenant_id, principal_kind, principal_id) \
         DO UPDATE SET epoch = principal_epochs.epoch + 1, changed_at = excluded.changed_at";
    /// Bumps the epoch of every member of a group ($1 tenant, $2 group, $3 now).
    pub const BUMP_GROUP_MEMBERS: &str = "INSERT INTO principal_epochs \
         (tenant_id, principal_kind, principal_id, epoch, changed_at) \
         SELECT tenant_id, member_kind, member_id, 1, $3 FROM group_members WHERE tenant_id = $1 AND group_id = $2 \
         ON CONFLICT (tenant_id, principal_kind, principal_id) \
         DO UPDATE SET epoch = principal_epochs.epoch + 1, changed_at = excluded.changed_at";
    /// Removes a deleted principal's rows in every tenant ($1 kind, $2 id). Its epochs stay,
    /// so that they never go back.
    pub const FORGET_PRINCIPAL: [&str; 4] = [
        "DELETE FROM tenant_access WHERE principal_kind = $1 AND principal_id = $2",
        "DELETE FROM group_members WHERE member_kind = $1 AND member_id = $2",
        "DELETE FROM bindings WHERE principal_kind = $1 AND principal_id = $2",
        "DELETE FROM instance_admins WHERE principal_kind = $1 AND principal_id = $2",
    ];
}

macro_rules! impl_principal_steps {
    ($db:ty) => {
        impl SqlStore<$db> {
            /// Whether the user or service account exists (in any tenant).
            pub(super) async fn principal_exists(
                conn: &mut <$db as sqlx::Database>::Connection,
                kind: MemberKind,
                id: &str,
            ) -> StoreResult<bool> {
                let query = match kind {
                    MemberKind::User => queries::USER_EXISTS,
                    MemberKind::ServiceAccount => queries::SERVICE_ACCOUNT_EXISTS,
                };
                let count: i64 = sqlx::query_scalar(query).bind(id).fetch_one(&mut *conn).await.map_err(backend)?;
                Ok(count > 0)
            }

            /// Inserts a user and gives it access to its home tenant (provisioned users: SCIM,
            /// federation). `Conflict` if the id, username or email is taken.
            pub(super) async fn insert_user_with_home_access(
                conn: &mut <$db as sqlx::Database>::Connection,
                user: &User,
            ) -> StoreResult<()> {
                let (username_key, email_key) = super::canonical_keys(&user.username, user.email.as_deref())?;
                sqlx::query(super::queries::INSERT_USER)
                    .bind(&user.tenant_id)
                    .bind(&user.id)
                    .bind(&user.username)
                    .bind(&user.email)
                    .bind(user.email_verified)
                    .bind(&user.name)
                    .bind(&user.password_hash)
                    .bind(user.disabled)
                    .bind(user.password_change_required)
                    .bind(user.created_at)
                    .bind(username_key)
                    .bind(email_key)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| write_error(e, || format!("user {} or its email", user.username)))?;
                Self::grant_access_if_missing(conn, &user.tenant_id, MemberKind::User, &user.id, user.created_at).await
            }

            /// Gives the principal access to the tenant unless it has it already.
            pub(super) async fn grant_access_if_missing(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant_id: &str,
                kind: MemberKind,
                id: &str,
                now: i64,
            ) -> StoreResult<()> {
                sqlx::query(queries::GRANT_ACCESS_IF_MISSING)
                    .bind(tenant_id)
                    .bind(kind.as_str())
                    .bind(id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| write_error(e, || format!("access of {} {id}", kind.as_str())))?;
                Ok(())
            }

            pub(super) async fn bump_epoch(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant_id: &str,
                kind: MemberKind,
                id: &str,
                now: i64,
            ) -> StoreResult<()> {
                sqlx::query(queries::BUMP_EPOCH)
                    .bind(tenant_id)
                    .bind(kind.as_str())
                    .bind(id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }

            pub(super) async fn bump_group_members(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant_id: &str,
                group_id: &str,
                now: i64,
            ) -> StoreResult<()> {
                sqlx::query(queries::BUMP_GROUP_MEMBERS)
                    .bind(tenant_id)
                    .bind(group_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                Ok(())
            }

            /// Bumps the epochs of whoever holds a binding to this principal: itself, or every
            /// member of the group.
            pub(super) async fn bump_bound(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant_id: &str,
                kind: PrincipalKind,
                id: &str,
                now: i64,
            ) -> StoreResult<()> {
                match kind.as_member() {
                    Some(member) => Self::bump_epoch(conn, tenant_id, member, id, now).await,
                    None => Self::bump_group_members(conn, tenant_id, id, now).await,
                }
            }

            /// Removes a deleted principal's access, memberships, bindings and instance-admin
            /// grant in every tenant.
            pub(super) async fn forget_principal(
                conn: &mut <$db as sqlx::Database>::Connection,
                kind: MemberKind,
                id: &str,
            ) -> StoreResult<()> {
                for statement in queries::FORGET_PRINCIPAL {
                    sqlx::query(statement).bind(kind.as_str()).bind(id).execute(&mut *conn).await.map_err(backend)?;
                }
                Ok(())
            }
        }
    };
}

impl_principal_steps!(Sqlite);
impl_principal_steps!(Postgres);
