//! Tenant access, service accounts, groups and group members.

use async_trait::async_trait;
use sqlx::{Postgres, Sqlite};

use super::{SqlStore, UserRow, backend, like_pattern, member_kind, one_row_affected, page_limit, write_error};
use crate::store::{
    AccessStore, Group, GroupMember, GroupStore, MemberKind, ServiceAccount, ServiceAccountStore, StoreError,
    StoreResult, User,
};

#[derive(sqlx::FromRow)]
struct ServiceAccountRow {
    tenant_id: String,
    id: String,
    name: String,
    description: Option<String>,
    created_at: i64,
    created_by: Option<String>,
    audiences: String,
}

impl From<ServiceAccountRow> for ServiceAccount {
    fn from(row: ServiceAccountRow) -> ServiceAccount {
        ServiceAccount {
            // Written by this code as a JSON list; anything else reads as no audience.
            audiences: serde_json::from_str(&row.audiences).unwrap_or_default(),
            tenant_id: row.tenant_id,
            id: row.id,
            name: row.name,
            description: row.description,
            created_at: row.created_at,
            created_by: row.created_by,
        }
    }
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    tenant_id: String,
    id: String,
    name: String,
    description: Option<String>,
    created_at: i64,
}

impl From<GroupRow> for Group {
    fn from(row: GroupRow) -> Group {
        Group {
            tenant_id: row.tenant_id,
            id: row.id,
            name: row.name,
            description: row.description,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    tenant_id: String,
    group_id: String,
    member_kind: String,
    member_id: String,
    created_at: i64,
}

impl TryFrom<MemberRow> for GroupMember {
    type Error = StoreError;

    fn try_from(row: MemberRow) -> StoreResult<GroupMember> {
        Ok(GroupMember {
            member_kind: member_kind("group_members.member_kind", &row.member_kind)?,
            tenant_id: row.tenant_id,
            group_id: row.group_id,
            member_id: row.member_id,
            created_at: row.created_at,
        })
    }
}

/// Tenant-scoped statements take the tenant as `$1`; searches compare `LOWER(column)` with a
/// [`like_pattern`].
mod queries {
    use crate::store::sql::queries::user_columns;

    pub const INSERT_ACCESS: &str =
        "INSERT INTO tenant_access (tenant_id, principal_kind, principal_id, created_at) VALUES ($1, $2, $3, $4)";
    pub const DELETE_ACCESS: &str =
        "DELETE FROM tenant_access WHERE tenant_id = $1 AND principal_kind = $2 AND principal_id = $3";
    /// What revoking access takes with it, in that tenant ($1 tenant, $2 kind, $3 id).
    pub const REVOKE_ACCESS_CASCADE: [&str; 2] = [
        "DELETE FROM bindings WHERE tenant_id = $1 AND principal_kind = $2 AND principal_id = $3",
        "DELETE FROM group_members WHERE tenant_id = $1 AND member_kind = $2 AND member_id = $3",
    ];
    pub const HAS_ACCESS: &str =
        "SELECT COUNT(*) FROM tenant_access WHERE tenant_id = $1 AND principal_kind = $2 AND principal_id = $3";
    pub const LIST_USER_IDS_WITH_ACCESS: &str = "SELECT principal_id FROM tenant_access \
         WHERE tenant_id = $1 AND principal_kind = 'user' AND principal_id > COALESCE($2, '') \
         ORDER BY principal_id LIMIT $3";
    /// Walks the tenant's access rows in key order from the cursor, joining each to its user,
    /// until the page is full (`CROSS JOIN` keeps SQLite's join order).
    pub const LIST_USERS_WITH_ACCESS: &str = concat!(
        "SELECT ",
        user_columns!("u."),
        " FROM tenant_access a CROSS JOIN users u \
         WHERE a.tenant_id = $1 AND a.principal_kind = 'user' AND a.principal_id > COALESCE($2, '') \
         AND u.id = a.principal_id \
         AND ($3 IS NULL OR LOWER(u.username) LIKE $3 ESCAPE '\\' \
           OR LOWER(COALESCE(u.email, '')) LIKE $3 ESCAPE '\\' OR LOWER(COALESCE(u.name, '')) LIKE $3 ESCAPE '\\') \
         ORDER BY a.principal_id LIMIT $4"
    );
    pub const TENANTS_OF: &str =
        "SELECT tenant_id FROM tenant_access WHERE principal_kind = $1 AND principal_id = $2 ORDER BY tenant_id";

    macro_rules! service_account_columns {
        () => {
            "tenant_id, id, name, description, created_at, created_by, audiences"
        };
    }
    pub const INSERT_SERVICE_ACCOUNT: &str =
        concat!("INSERT INTO service_accounts (", service_account_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)");
    pub const GET_SERVICE_ACCOUNT: &str =
        concat!("SELECT ", service_account_columns!(), " FROM service_accounts WHERE tenant_id = $1 AND id = $2");
    pub const LIST_SERVICE_ACCOUNTS: &str = concat!(
        "SELECT ",
        service_account_columns!(),
        " FROM service_accounts WHERE tenant_id = $1 AND id > COALESCE($2, '') \
         AND ($3 IS NULL OR LOWER(id) LIKE $3 ESCAPE '\\' OR LOWER(name) LIKE $3 ESCAPE '\\' \
           OR LOWER(COALESCE(description, '')) LIKE $3 ESCAPE '\\') \
         ORDER BY id LIMIT $4"
    );
    pub const UPDATE_SERVICE_ACCOUNT: &str =
        "UPDATE service_accounts SET name = $3, description = $4, audiences = $5 WHERE tenant_id = $1 AND id = $2";
    pub const DELETE_SERVICE_ACCOUNT: &str = "DELETE FROM service_accounts WHERE tenant_id = $1 AND id = $2";
    /// Its API tokens and workload trusts go by ON DELETE CASCADE; its clients by this.
    pub const DELETE_SERVICE_ACCOUNT_CLIENTS: &str =
        "DELETE FROM clients WHERE tenant_id = $1 AND service_account_id = $2";

    macro_rules! group_columns {
        () => {
            "tenant_id, id, name, description, created_at"
        };
    }
    pub const INSERT_GROUP: &str = concat!("INSERT INTO groups (", group_columns!(), ") VALUES ($1, $2, $3, $4, $5)");
    pub const GET_GROUP: &str = concat!("SELECT ", group_columns!(), " FROM groups WHERE tenant_id = $1 AND id = $2");
    pub const LIST_GROUPS: &str = concat!(
        "SELECT ",
        group_columns!(),
        " FROM groups WHERE tenant_id = $1 AND id > COALESCE($2, '') \
         AND ($3 IS NULL OR LOWER(name) LIKE $3 ESCAPE '\\' OR LOWER(COALESCE(description, '')) LIKE $3 ESCAPE '\\') \
         ORDER BY id LIMIT $4"
    );
    pub const UPDATE_GROUP: &str = "UPDATE groups SET name = $3, description = $4 WHERE tenant_id = $1 AND id = $2";
    /// The group's bindings go with it; its memberships by ON DELETE CASCADE.
    pub const DELETE_GROUP_BINDINGS: &str =
        "DELETE FROM bindings WHERE tenant_id = $1 AND principal_kind = 'group' AND principal_id = $2";
    pub const DELETE_GROUP: &str = "DELETE FROM groups WHERE tenant_id = $1 AND id = $2";
    pub const GROUPS_OF: &str = concat!(
        "SELECT ",
        group_columns!(),
        " FROM groups WHERE tenant_id = $1 AND id IN (SELECT group_id FROM group_members \
           WHERE tenant_id = $1 AND member_kind = $2 AND member_id = $3) \
         ORDER BY id"
    );

    pub const INSERT_MEMBER: &str = "INSERT INTO group_members \
         (tenant_id, group_id, member_kind, member_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)";
    pub const DELETE_MEMBER: &str =
        "DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_kind = $3 AND member_id = $4";
    pub const LIST_MEMBERS: &str = "SELECT tenant_id, group_id, member_kind, member_id, created_at FROM group_members \
         WHERE tenant_id = $1 AND group_id = $2 AND (member_kind, member_id) > (COALESCE($3, ''), COALESCE($4, '')) \
         ORDER BY member_kind, member_id LIMIT $5";
}

macro_rules! impl_access_stores {
    ($db:ty) => {
        #[async_trait]
        impl AccessStore for SqlStore<$db> {
            async fn grant_access(
                &self,
                tenant_id: &str,
                kind: MemberKind,
                principal_id: &str,
                now: i64,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(queries::INSERT_ACCESS)
                    .bind(tenant_id)
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || format!("access of {} {principal_id}", kind.as_str())))?;
                if !Self::principal_exists(&mut tx, kind, principal_id).await? {
                    return Err(StoreError::NotFound);
                }
                tx.commit().await.map_err(backend)
            }

            async fn revoke_access(
                &self,
                tenant_id: &str,
                kind: MemberKind,
                principal_id: &str,
                now: i64,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let done = sqlx::query(queries::DELETE_ACCESS)
                    .bind(tenant_id)
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())?;
                for statement in queries::REVOKE_ACCESS_CASCADE {
                    sqlx::query(statement)
                        .bind(tenant_id)
                        .bind(kind.as_str())
                        .bind(principal_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                Self::bump_epoch(&mut tx, tenant_id, kind, principal_id, now).await?;
                tx.commit().await.map_err(backend)
            }

            async fn has_access(&self, tenant_id: &str, kind: MemberKind, principal_id: &str) -> StoreResult<bool> {
                let count: i64 = sqlx::query_scalar(queries::HAS_ACCESS)
                    .bind(tenant_id)
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(count > 0)
            }

            async fn list_user_ids_with_access(
                &self,
                tenant_id: &str,
                after: Option<&str>,
                limit: u32,
            ) -> StoreResult<Vec<String>> {
                sqlx::query_scalar(queries::LIST_USER_IDS_WITH_ACCESS)
                    .bind(tenant_id)
                    .bind(after)
                    .bind(page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)
            }

            async fn list_users_with_access(
                &self,
                tenant_id: &str,
                search: Option<&str>,
                after: Option<&str>,
                limit: u32,
            ) -> StoreResult<Vec<User>> {
                let rows = sqlx::query_as::<_, UserRow>(queries::LIST_USERS_WITH_ACCESS)
                    .bind(tenant_id)
                    .bind(after)
                    .bind(like_pattern(search))
                    .bind(page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(rows.into_iter().map(User::from).collect())
            }

            async fn tenants_of(&self, kind: MemberKind, principal_id: &str) -> StoreResult<Vec<String>> {
                sqlx::query_scalar(queries::TENANTS_OF)
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)
            }
        }

        #[async_trait]
        impl ServiceAccountStore for SqlStore<$db> {
            async fn create_service_account(&self, account: &ServiceAccount) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(queries::INSERT_SERVICE_ACCOUNT)
                    .bind(&account.tenant_id)
                    .bind(&account.id)
                    .bind(&account.name)
                    .bind(&account.description)
                    .bind(account.created_at)
                    .bind(&account.created_by)
                    .bind(super::list_to_json(&account.audiences))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        write_error(e, || format!("service account id {} or name {}", account.id, account.name))
                    })?;
                Self::grant_access_if_missing(
                    &mut tx,
                    &account.tenant_id,
                    MemberKind::ServiceAccount,
                    &account.id,
                    account.created_at,
                )
                .await?;
                tx.commit().await.map_err(backend)
            }

            async fn get_service_account(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ServiceAccount>> {
                let row = sqlx::query_as::<_, ServiceAccountRow>(queries::GET_SERVICE_ACCOUNT)
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(ServiceAccount::from))
            }

            async fn list_service_accounts(
                &self,
                tenant_id: &str,
                search: Option<&str>,
                after: Option<&str>,
                limit: u32,
            ) -> StoreResult<Vec<ServiceAccount>> {
                let rows = sqlx::query_as::<_, ServiceAccountRow>(queries::LIST_SERVICE_ACCOUNTS)
                    .bind(tenant_id)
                    .bind(after)
                    .bind(like_pattern(search))
                    .bind(page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(rows.into_iter().map(ServiceAccount::from).collect())
            }

            async fn update_service_account(
                &self,
                tenant_id: &str,
                id: &str,
                name: &str,
                description: Option<&str>,
                audiences: &[String],
            ) -> StoreResult<()> {
                let done = sqlx::query(queries::UPDATE_SERVICE_ACCOUNT)
                    .bind(tenant_id)
                    .bind(id)
                    .bind(name)
                    .bind(description)
                    .bind(super::list_to_json(audiences))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("service account name {name}")))?;
                one_row_affected(done.rows_affected())
            }

            async fn delete_service_account(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let done = sqlx::query(queries::DELETE_SERVICE_ACCOUNT)
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())?;
                sqlx::query(queries::DELETE_SERVICE_ACCOUNT_CLIENTS)
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                Self::forget_principal(&mut tx, MemberKind::ServiceAccount, id).await?;
                tx.commit().await.map_err(backend)
            }
        }

        #[async_trait]
        impl GroupStore for SqlStore<$db> {
            async fn create_group(&self, group: &Group) -> StoreResult<()> {
                sqlx::query(queries::INSERT_GROUP)
                    .bind(&group.tenant_id)
                    .bind(&group.id)
                    .bind(&group.name)
                    .bind(&group.description)
                    .bind(group.created_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("group id {} or name {}", group.id, group.name)))?;
                Ok(())
            }

            async fn get_group(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Group>> {
                let row = sqlx::query_as::<_, GroupRow>(queries::GET_GROUP)
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(Group::from))
            }

            async fn list_groups(
                &self,
                tenant_id: &str,
                search: Option<&str>,
                after: Option<&str>,
                limit: u32,
            ) -> StoreResult<Vec<Group>> {
                let rows = sqlx::query_as::<_, GroupRow>(queries::LIST_GROUPS)
                    .bind(tenant_id)
                    .bind(after)
                    .bind(like_pattern(search))
                    .bind(page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(rows.into_iter().map(Group::from).collect())
            }

            async fn update_group(
                &self,
                tenant_id: &str,
                id: &str,
                name: &str,
                description: Option<&str>,
            ) -> StoreResult<()> {
                let done = sqlx::query(queries::UPDATE_GROUP)
                    .bind(tenant_id)
                    .bind(id)
                    .bind(name)
                    .bind(description)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("group name {name}")))?;
                one_row_affected(done.rows_affected())
            }

            async fn delete_group(&self, tenant_id: &str, id: &str, now: i64) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                // Bump first, while the memberships are still there.
                Self::bump_group_members(&mut tx, tenant_id, id, now).await?;
                sqlx::query(queries::DELETE_GROUP_BINDINGS)
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                let done = sqlx::query(queries::DELETE_GROUP)
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())?;
                tx.commit().await.map_err(backend)
            }

            async fn add_member(
                &self,
                tenant_id: &str,
                group_id: &str,
                kind: MemberKind,
                member_id: &str,
                now: i64,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(queries::INSERT_MEMBER)
                    .bind(tenant_id)
                    .bind(group_id)
                    .bind(kind.as_str())
                    .bind(member_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || format!("member {} {member_id} of {group_id}", kind.as_str())))?;
                if !Self::principal_exists(&mut tx, kind, member_id).await? {
                    return Err(StoreError::NotFound);
                }
                Self::grant_access_if_missing(&mut tx, tenant_id, kind, member_id, now).await?;
                Self::bump_epoch(&mut tx, tenant_id, kind, member_id, now).await?;
                tx.commit().await.map_err(backend)
            }

            async fn remove_member(
                &self,
                tenant_id: &str,
                group_id: &str,
                kind: MemberKind,
                member_id: &str,
                now: i64,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let done = sqlx::query(queries::DELETE_MEMBER)
                    .bind(tenant_id)
                    .bind(group_id)
                    .bind(kind.as_str())
                    .bind(member_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())?;
                Self::bump_epoch(&mut tx, tenant_id, kind, member_id, now).await?;
                tx.commit().await.map_err(backend)
            }

            async fn list_members(
                &self,
                tenant_id: &str,
                group_id: &str,
                after: Option<(MemberKind, &str)>,
                limit: u32,
            ) -> StoreResult<Vec<GroupMember>> {
                sqlx::query_as::<_, MemberRow>(queries::LIST_MEMBERS)
                    .bind(tenant_id)
                    .bind(group_id)
                    .bind(after.map(|(kind, _)| kind.as_str()))
                    .bind(after.map(|(_, id)| id))
                    .bind(page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(GroupMember::try_from)
                    .collect()
            }

            async fn groups_of(&self, tenant_id: &str, kind: MemberKind, member_id: &str) -> StoreResult<Vec<Group>> {
                let rows = sqlx::query_as::<_, GroupRow>(queries::GROUPS_OF)
                    .bind(tenant_id)
                    .bind(kind.as_str())
                    .bind(member_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(rows.into_iter().map(Group::from).collect())
            }
        }
    };
}

impl_access_stores!(Sqlite);
impl_access_stores!(Postgres);
