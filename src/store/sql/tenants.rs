//! Tenants and Instance Admins.

use async_trait::async_trait;
use sqlx::{Postgres, Sqlite};

use super::{SqlStore, backend, member_kind, one_row_affected, page_limit, write_error};
use crate::store::{
    ALL_PERMISSIONS, DEFAULT_TENANT, InstanceAdmin, InstanceAdminStore, MemberKind, StoreError, StoreResult,
    TENANT_ADMIN_ROLE_ID, TENANT_ADMIN_ROLE_NAME, Tenant, TenantStore,
};

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: String,
    name: String,
    created_at: i64,
    created_by: Option<String>,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Tenant {
        Tenant { id: row.id, name: row.name, created_at: row.created_at, created_by: row.created_by }
    }
}

#[derive(sqlx::FromRow)]
struct InstanceAdminRow {
    principal_kind: String,
    principal_id: String,
    created_at: i64,
}

impl TryFrom<InstanceAdminRow> for InstanceAdmin {
    type Error = StoreError;

    fn try_from(row: InstanceAdminRow) -> StoreResult<InstanceAdmin> {
        Ok(InstanceAdmin {
            principal_kind: member_kind("instance_admins.principal_kind", &row.principal_kind)?,
            principal_id: row.principal_id,
            created_at: row.created_at,
        })
    }
}

mod queries {
    pub const INSERT_TENANT: &str =
        "INSERT INTO tenants (id, tenant_id, name, created_at, created_by) VALUES ($1, $1, $2, $3, $4)";
    /// The builtin Tenant Admin role ($1 tenant, $2 id, $3 name, $4 permissions, $5 created_at).
    pub const INSERT_ADMIN_ROLE: &str = "INSERT INTO roles \
         (tenant_id, id, name, description, permissions, builtin, created_at) \
         VALUES ($1, $2, $3, 'Full access to everything in the tenant', $4, TRUE, $5)";
    pub const GET_TENANT: &str = "SELECT id, name, created_at, created_by FROM tenants WHERE id = $1";
    pub const LIST_TENANTS: &str = "SELECT id, name, created_at, created_by FROM tenants \
         WHERE id > COALESCE($1, '') ORDER BY id LIMIT $2";
    pub const RENAME_TENANT: &str = "UPDATE tenants SET name = $2 WHERE id = $1";
    /// Deleting a tenant, in this order ($1 tenant). First the rows the users and service
    /// accounts homed in the tenant have in other tenants, then every row with the tenant's
    /// id, children before parents, the tenant itself last. Not the audit log.
    pub const DELETE_TENANT: [&str; 21] = [
        "DELETE FROM tenant_access WHERE principal_kind = 'user' \
         AND principal_id IN (SELECT id FROM users WHERE tenant_id = $1)",
        "DELETE FROM group_members WHERE member_kind = 'user' \
         AND member_id IN (SELECT id FROM users WHERE tenant_id = $1)",
        "DELETE FROM bindings WHERE principal_kind = 'user' \
         AND principal_id IN (SELECT id FROM users WHERE tenant_id = $1)",
        "DELETE FROM instance_admins WHERE principal_kind = 'user' \
         AND principal_id IN (SELECT id FROM users WHERE tenant_id = $1)",
        "DELETE FROM tenant_access WHERE principal_kind = 'service_account' \
         AND principal_id IN (SELECT id FROM service_accounts WHERE tenant_id = $1)",
        "DELETE FROM group_members WHERE member_kind = 'service_account' \
         AND member_id IN (SELECT id FROM service_accounts WHERE tenant_id = $1)",
        "DELETE FROM bindings WHERE principal_kind = 'service_account' \
         AND principal_id IN (SELECT id FROM service_accounts WHERE tenant_id = $1)",
        "DELETE FROM instance_admins WHERE principal_kind = 'service_account' \
         AND principal_id IN (SELECT id FROM service_accounts WHERE tenant_id = $1)",
        "DELETE FROM principal_epochs WHERE tenant_id = $1",
        "DELETE FROM bindings WHERE tenant_id = $1",
        "DELETE FROM group_members WHERE tenant_id = $1",
        "DELETE FROM groups WHERE tenant_id = $1",
        "DELETE FROM roles WHERE tenant_id = $1",
        "DELETE FROM tenant_access WHERE tenant_id = $1",
        "DELETE FROM api_tokens WHERE tenant_id = $1",
        "DELETE FROM workload_trusts WHERE tenant_id = $1",
        "DELETE FROM service_accounts WHERE tenant_id = $1",
        "DELETE FROM federated_identities WHERE tenant_id = $1",
        "DELETE FROM idp_connections WHERE tenant_id = $1",
        // Consents, and links at instance-wide connections, go with their users and clients (ON DELETE CASCADE).
        "DELETE FROM users WHERE tenant_id = $1",
        "DELETE FROM clients WHERE tenant_id = $1",
    ];
    pub const DELETE_TENANT_ROW: &str = "DELETE FROM tenants WHERE id = $1";

    pub const INSERT_INSTANCE_ADMIN: &str =
        "INSERT INTO instance_admins (principal_kind, principal_id, created_at) VALUES ($1, $2, $3)";
    pub const DELETE_INSTANCE_ADMIN: &str =
        "DELETE FROM instance_admins WHERE tenant_id = '*' AND principal_kind = $1 AND principal_id = $2";
    pub const IS_INSTANCE_ADMIN: &str =
        "SELECT COUNT(*) FROM instance_admins WHERE tenant_id = '*' AND principal_kind = $1 AND principal_id = $2";
    pub const LIST_INSTANCE_ADMINS: &str = "SELECT principal_kind, principal_id, created_at FROM instance_admins \
         WHERE tenant_id = '*' ORDER BY principal_kind, principal_id";
}

macro_rules! impl_tenant_stores {
    ($db:ty) => {
        #[async_trait]
        impl TenantStore for SqlStore<$db> {
            async fn create_tenant(&self, tenant: &Tenant) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(queries::INSERT_TENANT)
                    .bind(&tenant.id)
                    .bind(&tenant.name)
                    .bind(tenant.created_at)
                    .bind(&tenant.created_by)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || format!("tenant {}", tenant.id)))?;
                sqlx::query(queries::INSERT_ADMIN_ROLE)
                    .bind(&tenant.id)
                    .bind(TENANT_ADMIN_ROLE_ID)
                    .bind(TENANT_ADMIN_ROLE_NAME)
                    .bind(ALL_PERMISSIONS)
                    .bind(tenant.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)
            }

            async fn get_tenant(&self, tenant_id: &str) -> StoreResult<Option<Tenant>> {
                let row = sqlx::query_as::<_, TenantRow>(queries::GET_TENANT)
                    .bind(tenant_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(Tenant::from))
            }

            async fn list_tenants(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Tenant>> {
                let rows = sqlx::query_as::<_, TenantRow>(queries::LIST_TENANTS)
                    .bind(after)
                    .bind(page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(rows.into_iter().map(Tenant::from).collect())
            }

            async fn rename_tenant(&self, tenant_id: &str, name: &str) -> StoreResult<()> {
                let done = sqlx::query(queries::RENAME_TENANT)
                    .bind(tenant_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }

            async fn delete_tenant(&self, tenant_id: &str) -> StoreResult<()> {
                if tenant_id == DEFAULT_TENANT {
                    return Err(StoreError::Conflict(format!("the {DEFAULT_TENANT} tenant cannot be deleted")));
                }
                let mut tx = self.pool.begin().await.map_err(backend)?;
                for statement in queries::DELETE_TENANT {
                    sqlx::query(statement).bind(tenant_id).execute(&mut *tx).await.map_err(backend)?;
                }
                let done =
                    sqlx::query(queries::DELETE_TENANT_ROW).bind(tenant_id).execute(&mut *tx).await.map_err(backend)?;
                // An unknown tenant: roll back whatever rows carried its id.
                one_row_affected(done.rows_affected())?;
                tx.commit().await.map_err(backend)
            }
        }

        #[async_trait]
        impl InstanceAdminStore for SqlStore<$db> {
            async fn grant_instance_admin(&self, kind: MemberKind, principal_id: &str, now: i64) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(queries::INSERT_INSTANCE_ADMIN)
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || format!("instance admin {} {principal_id}", kind.as_str())))?;
                if !Self::principal_exists(&mut tx, kind, principal_id).await? {
                    return Err(StoreError::NotFound);
                }
                tx.commit().await.map_err(backend)
            }

            async fn revoke_instance_admin(&self, kind: MemberKind, principal_id: &str) -> StoreResult<()> {
                let done = sqlx::query(queries::DELETE_INSTANCE_ADMIN)
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }

            async fn is_instance_admin(&self, kind: MemberKind, principal_id: &str) -> StoreResult<bool> {
                let count: i64 = sqlx::query_scalar(queries::IS_INSTANCE_ADMIN)
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(count > 0)
            }

            async fn list_instance_admins(&self) -> StoreResult<Vec<InstanceAdmin>> {
                sqlx::query_as::<_, InstanceAdminRow>(queries::LIST_INSTANCE_ADMINS)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(InstanceAdmin::try_from)
                    .collect()
            }
        }
    };
}

impl_tenant_stores!(Sqlite);
impl_tenant_stores!(Postgres);
