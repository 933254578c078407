//! Roles, bindings, the effective-bindings query and binding epochs.

use async_trait::async_trait;
use sqlx::{Postgres, Sqlite};

use super::{
    SqlStore, backend, like_pattern, list_from_json, list_to_json, member_kind, page_limit, principal_kind, write_error,
};
use crate::store::{
    Binding, BindingFilter, BindingStore, EpochStore, MemberKind, PrincipalEpoch, Role, RoleStore, StoreError,
    StoreResult,
};

#[derive(sqlx::FromRow)]
struct RoleRow {
    tenant_id: String,
    id: String,
    name: String,
    description: Option<String>,
    permissions: i64,
    builtin: bool,
    created_at: i64,
}

impl From<RoleRow> for Role {
    fn from(row: RoleRow) -> Role {
        Role {
            tenant_id: row.tenant_id,
            id: row.id,
            name: row.name,
            description: row.description,
            permissions: row.permissions,
            builtin: row.builtin,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct BindingRow {
    tenant_id: String,
    id: String,
    role_id: String,
    principal_kind: String,
    principal_id: String,
    namespaces: String,
    created_at: i64,
    created_by: Option<String>,
}

impl TryFrom<BindingRow> for Binding {
    type Error = StoreError;

    fn try_from(row: BindingRow) -> StoreResult<Binding> {
        Ok(Binding {
            principal_kind: principal_kind("bindings.principal_kind", &row.principal_kind)?,
            namespaces: list_from_json("bindings.namespaces", &row.namespaces)?,
            tenant_id: row.tenant_id,
            id: row.id,
            role_id: row.role_id,
            principal_id: row.principal_id,
            created_at: row.created_at,
            created_by: row.created_by,
        })
    }
}

/// A binding with its role's permissions, as `effective_bindings` reads it.
#[derive(sqlx::FromRow)]
struct EffectiveRow {
    #[sqlx(flatten)]
    binding: BindingRow,
    permissions: i64,
}

#[derive(sqlx::FromRow)]
struct EpochRow {
    tenant_id: String,
    principal_kind: String,
    principal_id: String,
    epoch: i64,
    changed_at: i64,
}

impl TryFrom<EpochRow> for PrincipalEpoch {
    type Error = StoreError;

    fn try_from(row: EpochRow) -> StoreResult<PrincipalEpoch> {
        Ok(PrincipalEpoch {
            principal_kind: member_kind("principal_epochs.principal_kind", &row.principal_kind)?,
            tenant_id: row.tenant_id,
            principal_id: row.principal_id,
            epoch: row.epoch,
            changed_at: row.changed_at,
        })
    }
}

/// Tenant-scoped statements take the tenant as `$1`.
mod queries {
    macro_rules! role_columns {
        () => {
            "tenant_id, id, name, description, permissions, builtin, created_at"
        };
    }
    pub const INSERT_ROLE: &str =
        concat!("INSERT INTO roles (", role_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)");
    pub const GET_ROLE: &str = concat!("SELECT ", role_columns!(), " FROM roles WHERE tenant_id = $1 AND id = $2");
    pub const LIST_ROLES: &str = concat!(
        "SELECT ",
        role_columns!(),
        " FROM roles WHERE tenant_id = $1 AND id > COALESCE($2, '') \
         AND ($3 IS NULL OR LOWER(name) LIKE $3 ESCAPE '\\' OR LOWER(COALESCE(description, '')) LIKE $3 ESCAPE '\\') \
         ORDER BY id LIMIT $4"
    );
    pub const UPDATE_ROLE: &str = "UPDATE roles SET name = $3, description = $4, permissions = $5 \
         WHERE tenant_id = $1 AND id = $2 AND NOT builtin";
    pub const DELETE_ROLE: &str = "DELETE FROM roles WHERE tenant_id = $1 AND id = $2 AND NOT builtin \
         AND NOT EXISTS (SELECT 1 FROM bindings WHERE tenant_id = $1 AND role_id = $2)";
    /// Why an update or delete touched nothing: (builtin, bindings using the role).
    pub const ROLE_STATE: &str = "SELECT builtin, \
         (SELECT COUNT(*) FROM bindings WHERE tenant_id = $1 AND role_id = $2) \
         FROM roles WHERE tenant_id = $1 AND id = $2";
    /// Bumps the epoch of every principal holding the role, directly or through a group,
    /// once each ($1 tenant, $2 role, $3 now).
    pub const BUMP_ROLE_HOLDERS: &str = "INSERT INTO principal_epochs \
         (tenant_id, principal_kind, principal_id, epoch, changed_at) \
         SELECT $1, holders.principal_kind, holders.principal_id, 1, $3 FROM ( \
           SELECT principal_kind, principal_id FROM bindings \
             WHERE tenant_id = $1 AND role_id = $2 AND principal_kind <> 'group' \
           UNION \
           SELECT m.member_kind, m.member_id FROM bindings b \
             JOIN group_members m ON m.tenant_id = b.tenant_id AND m.group_id = b.principal_id \
             WHERE b.tenant_id = $1 AND b.role_id = $2 AND b.principal_kind = 'group' \
         ) holders WHERE TRUE \
         ON CONFLICT (tenant_id, principal_kind, principal_id) \
         DO UPDATE SET epoch = principal_epochs.epoch + 1, changed_at = excluded.changed_at";

    macro_rules! binding_columns {
        () => {
            "tenant_id, id, role_id, principal_kind, principal_id, namespaces, created_at, created_by"
        };
    }
    pub const INSERT_BINDING: &str =
        concat!("INSERT INTO bindings (", binding_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    pub const GET_BINDING: &str =
        concat!("SELECT ", binding_columns!(), " FROM bindings WHERE tenant_id = $1 AND id = $2");
    pub const DELETE_BINDING: &str =
        "DELETE FROM bindings WHERE tenant_id = $1 AND id = $2 RETURNING principal_kind, principal_id";
    pub const GROUP_EXISTS: &str = "SELECT COUNT(*) FROM groups WHERE tenant_id = $1 AND id = $2";
    /// $2, $3: principal kind and id or NULL; $4: role or NULL; $5: after; $6: limit.
    pub const LIST_BINDINGS: &str = concat!(
        "SELECT ",
        binding_columns!(),
        " FROM bindings WHERE tenant_id = $1 \
         AND ($2 IS NULL OR (principal_kind = $2 AND principal_id = $3)) \
         AND ($4 IS NULL OR role_id = $4) AND id > COALESCE($5, '') \
         ORDER BY id LIMIT $6"
    );

    /// The binding columns of `b` plus the permissions of its role `r`.
    macro_rules! effective_columns {
        () => {
            "b.tenant_id, b.id, b.role_id, b.principal_kind, b.principal_id, b.namespaces, b.created_at, \
             b.created_by, r.permissions"
        };
    }
    /// The hot query: the principal's own bindings (bindings_principal_idx), then its groups
    /// (group_members_member_idx, covering) and their bindings (bindings_principal_idx again),
    /// each joined to its role by primary key. Its cost follows the principal's bindings and
    /// groups, never the size of the tenant. Two details keep SQLite's planner, which has no
    /// statistics, on that plan: `CROSS JOIN` makes it join in the order written (PostgreSQL
    /// reads it as a plain join), and there is no `ORDER BY`, which it would serve by walking
    /// the tenant's bindings in id order; the caller sorts the few rows instead.
    pub const EFFECTIVE_BINDINGS: &str = concat!(
        "SELECT ",
        effective_columns!(),
        " FROM bindings b JOIN roles r ON r.tenant_id = b.tenant_id AND r.id = b.role_id \
         WHERE b.tenant_id = $1 AND b.principal_kind = $2 AND b.principal_id = $3 \
         UNION ALL SELECT ",
        effective_columns!(),
        " FROM group_members m CROSS JOIN bindings b CROSS JOIN roles r \
         WHERE m.tenant_id = $1 AND m.member_kind = $2 AND m.member_id = $3 \
         AND b.tenant_id = m.tenant_id AND b.principal_kind = 'group' AND b.principal_id = m.group_id \
         AND r.tenant_id = b.tenant_id AND r.id = b.role_id"
    );

    pub const EPOCH_OF: &str =
        "SELECT epoch FROM principal_epochs WHERE tenant_id = $1 AND principal_kind = $2 AND principal_id = $3";
    /// Rows changed after $2, up to and including the second of the `$3`-th one (all of them
    /// when there are fewer), so that a page never splits a second.
    pub const CHANGED_SINCE: &str = "SELECT tenant_id, principal_kind, principal_id, epoch, changed_at \
         FROM principal_epochs WHERE tenant_id = $1 AND changed_at > $2 \
         AND changed_at <= COALESCE((SELECT changed_at FROM principal_epochs \
           WHERE tenant_id = $1 AND changed_at > $2 ORDER BY changed_at LIMIT 1 OFFSET $3), $4) \
         ORDER BY changed_at, principal_kind, principal_id";
}

macro_rules! impl_rbac_stores {
    ($db:ty) => {
        impl SqlStore<$db> {
            /// Tells a builtin or used role (`Conflict`) from a missing one (`NotFound`) after an
            /// update or delete that touched nothing.
            async fn why_role_untouched(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant_id: &str,
                id: &str,
            ) -> StoreError {
                let state: Result<Option<(bool, i64)>, _> =
                    sqlx::query_as(queries::ROLE_STATE).bind(tenant_id).bind(id).fetch_optional(&mut *conn).await;
                match state {
                    Ok(Some((true, _))) => StoreError::Conflict(format!("role {id} is builtin")),
                    Ok(Some((false, used))) if used > 0 => {
                        StoreError::Conflict(format!("role {id} is used by {used} binding(s)"))
                    }
                    Ok(_) => StoreError::NotFound,
                    Err(e) => backend(e),
                }
            }
        }

        #[async_trait]
        impl RoleStore for SqlStore<$db> {
            async fn create_role(&self, role: &Role) -> StoreResult<()> {
                sqlx::query(queries::INSERT_ROLE)
                    .bind(&role.tenant_id)
                    .bind(&role.id)
                    .bind(&role.name)
                    .bind(&role.description)
                    .bind(role.permissions)
                    .bind(role.builtin)
                    .bind(role.created_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("role id {} or name {}", role.id, role.name)))?;
                Ok(())
            }

            async fn get_role(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Role>> {
                let row = sqlx::query_as::<_, RoleRow>(queries::GET_ROLE)
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(Role::from))
            }

            async fn list_roles(
                &self,
                tenant_id: &str,
                search: Option<&str>,
                after: Option<&str>,
                limit: u32,
            ) -> StoreResult<Vec<Role>> {
                let rows = sqlx::query_as::<_, RoleRow>(queries::LIST_ROLES)
                    .bind(tenant_id)
                    .bind(after)
                    .bind(like_pattern(search))
                    .bind(page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(rows.into_iter().map(Role::from).collect())
            }

            async fn update_role(
                &self,
                tenant_id: &str,
                id: &str,
                name: &str,
                description: Option<&str>,
                permissions: i64,
                now: i64,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let done = sqlx::query(queries::UPDATE_ROLE)
                    .bind(tenant_id)
                    .bind(id)
                    .bind(name)
                    .bind(description)
                    .bind(permissions)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || format!("role name {name}")))?;
                if done.rows_affected() == 0 {
                    return Err(Self::why_role_untouched(&mut tx, tenant_id, id).await);
                }
                sqlx::query(queries::BUMP_ROLE_HOLDERS)
                    .bind(tenant_id)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)
            }

            async fn delete_role(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let done = sqlx::query(queries::DELETE_ROLE).bind(tenant_id).bind(id).execute(&mut *tx).await.map_err(
                    |e| match write_error(e, String::new) {
                        // A binding created concurrently still references the role.
                        StoreError::NotFound => StoreError::Conflict(format!("role {id} is used by a binding")),
                        other => other,
                    },
                )?;
                if done.rows_affected() == 0 {
                    return Err(Self::why_role_untouched(&mut tx, tenant_id, id).await);
                }
                tx.commit().await.map_err(backend)
            }
        }

        #[async_trait]
        impl BindingStore for SqlStore<$db> {
            async fn create_binding(&self, binding: &Binding) -> StoreResult<()> {
                let (tenant, id) = (binding.tenant_id.as_str(), binding.principal_id.as_str());
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(queries::INSERT_BINDING)
                    .bind(tenant)
                    .bind(&binding.id)
                    .bind(&binding.role_id)
                    .bind(binding.principal_kind.as_str())
                    .bind(id)
                    .bind(list_to_json(&binding.namespaces))
                    .bind(binding.created_at)
                    .bind(&binding.created_by)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || format!("binding {}", binding.id)))?;
                match binding.principal_kind.as_member() {
                    Some(kind) => {
                        if !Self::principal_exists(&mut tx, kind, id).await? {
                            return Err(StoreError::NotFound);
                        }
                        Self::grant_access_if_missing(&mut tx, tenant, kind, id, binding.created_at).await?;
                    }
                    None => {
                        let groups: i64 = sqlx::query_scalar(queries::GROUP_EXISTS)
                            .bind(tenant)
                            .bind(id)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(backend)?;
                        if groups == 0 {
                            return Err(StoreError::NotFound);
                        }
                    }
                }
                Self::bump_bound(&mut tx, tenant, binding.principal_kind, id, binding.created_at).await?;
                tx.commit().await.map_err(backend)
            }

            async fn get_binding(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Binding>> {
                sqlx::query_as::<_, BindingRow>(queries::GET_BINDING)
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .map(Binding::try_from)
                    .transpose()
            }

            async fn delete_binding(&self, tenant_id: &str, id: &str, now: i64) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let deleted: Option<(String, String)> = sqlx::query_as(queries::DELETE_BINDING)
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                let (kind, principal_id) = deleted.ok_or(StoreError::NotFound)?;
                let kind = principal_kind("bindings.principal_kind", &kind)?;
                Self::bump_bound(&mut tx, tenant_id, kind, &principal_id, now).await?;
                tx.commit().await.map_err(backend)
            }

            async fn list_bindings(
                &self,
                tenant_id: &str,
                filter: &BindingFilter,
                after: Option<&str>,
                limit: u32,
            ) -> StoreResult<Vec<Binding>> {
                let principal = filter.principal.as_ref();
                sqlx::query_as::<_, BindingRow>(queries::LIST_BINDINGS)
                    .bind(tenant_id)
                    .bind(principal.map(|(kind, _)| kind.as_str()))
                    .bind(principal.map(|(_, id)| id.as_str()))
                    .bind(filter.role_id.as_deref())
                    .bind(after)
                    .bind(page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(Binding::try_from)
                    .collect()
            }

            async fn effective_bindings(
                &self,
                tenant_id: &str,
                kind: MemberKind,
                principal_id: &str,
            ) -> StoreResult<Vec<(Binding, i64)>> {
                let mut effective = sqlx::query_as::<_, EffectiveRow>(queries::EFFECTIVE_BINDINGS)
                    .bind(tenant_id)
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(|row| Ok((Binding::try_from(row.binding)?, row.permissions)))
                    .collect::<StoreResult<Vec<_>>>()?;
                effective.sort_by(|(a, _), (b, _)| a.id.cmp(&b.id));
                Ok(effective)
            }
        }

        #[async_trait]
        impl EpochStore for SqlStore<$db> {
            async fn epoch_of(&self, tenant_id: &str, kind: MemberKind, principal_id: &str) -> StoreResult<i64> {
                let epoch: Option<i64> = sqlx::query_scalar(queries::EPOCH_OF)
                    .bind(tenant_id)
                    .bind(kind.as_str())
                    .bind(principal_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(epoch.unwrap_or(0))
            }

            async fn changed_since(
                &self,
                tenant_id: &str,
                changed_at_after: i64,
                limit: u32,
            ) -> StoreResult<Vec<PrincipalEpoch>> {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                sqlx::query_as::<_, EpochRow>(queries::CHANGED_SINCE)
                    .bind(tenant_id)
                    .bind(changed_at_after)
                    .bind(page_limit(limit) - 1)
                    .bind(i64::MAX)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(PrincipalEpoch::try_from)
                    .collect()
            }
        }
    };
}

impl_rbac_stores!(Sqlite);
impl_rbac_stores!(Postgres);

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::queries;
    use crate::store::sql::migrations;

    /// The effective-bindings query reads only the principal's index entries: in SQLite's
    /// plan every table is searched with all the equality columns of the intended index, none
    /// is scanned. (PostgreSQL has the same indexes, the migrations being checked for drift; its
    /// planner picks them from its statistics.)
    #[tokio::test]
    async fn effective_bindings_reads_only_the_principals_entries() {
        let pool = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        migrations::migrator(migrations::SQLITE).unwrap().run(&pool).await.unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {}", queries::EFFECTIVE_BINDINGS);
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind("tenant")
            .bind("user")
            .bind("u-1")
            .fetch_all(&pool)
            .await
            .unwrap();
        let searches: Vec<&str> = plan
            .iter()
            .map(|(_, _, _, detail)| detail.as_str())
            .filter(|d| d.starts_with("SEARCH") || d.starts_with("SCAN"))
            .collect();
        let by_principal = "USING INDEX bindings_principal_idx (tenant_id=? AND principal_kind=? AND principal_id=?)";
        let role_by_key = "USING INDEX sqlite_autoindex_roles_1 (tenant_id=? AND id=?)";
        assert_eq!(
            searches,
            [
                format!("SEARCH b {by_principal}"),
                format!("SEARCH r {role_by_key}"),
                "SEARCH m USING COVERING INDEX group_members_member_idx (tenant_id=? AND member_kind=? AND member_id=?)"
                    .to_owned(),
                format!("SEARCH b {by_principal}"),
                format!("SEARCH r {role_by_key}"),
            ]
        );
    }
}
