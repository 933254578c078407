//! SCIM provisioning records, beside the users and groups they describe.

use async_trait::async_trait;
use sqlx::{Postgres, Sqlite};

use super::{SqlStore, UserRow, backend, one_row_affected, page_limit, write_error};
use crate::store::{Group, ScimGroupFilter, ScimRecord, ScimStore, ScimUserFilter, StoreResult, User};

/// A user with access to the tenant, and its record if it has one.
#[derive(sqlx::FromRow)]
struct ScimUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    external_id: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    email_type: Option<String>,
    scim_created_at: Option<i64>,
    scim_updated_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ScimGroupRow {
    tenant_id: String,
    id: String,
    name: String,
    description: Option<String>,
    created_at: i64,
    external_id: Option<String>,
    scim_created_at: Option<i64>,
    scim_updated_at: Option<i64>,
}

fn record(
    external_id: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    email_type: Option<String>,
    created_at: Option<i64>,
    updated_at: Option<i64>,
) -> Option<ScimRecord> {
    Some(ScimRecord {
        external_id,
        given_name,
        family_name,
        email_type,
        created_at: created_at?,
        updated_at: updated_at.unwrap_or_default(),
    })
}

impl From<ScimUserRow> for (User, Option<ScimRecord>) {
    fn from(r: ScimUserRow) -> Self {
        let rec =
            record(r.external_id, r.given_name, r.family_name, r.email_type, r.scim_created_at, r.scim_updated_at);
        (User::from(r.user), rec)
    }
}

impl From<ScimGroupRow> for (Group, Option<ScimRecord>) {
    fn from(r: ScimGroupRow) -> Self {
        let rec = record(r.external_id, None, None, None, r.scim_created_at, r.scim_updated_at);
        let g = Group {
            tenant_id: r.tenant_id,
            id: r.id,
            name: r.name,
            description: r.description,
            created_at: r.created_at,
        };
        (g, rec)
    }
}

/// The filter as bound: (id, userName, externalId, email), each NULL when not filtered on;
/// userName and email in their canonical forms ([`crate::identity`]), so `userName eq "ALICE"`
/// finds exactly the user `alice`. `None` when the value is one the rule refuses: it is no
/// user's, so nothing matches.
fn user_filter(f: &ScimUserFilter) -> Option<[Option<String>; 4]> {
    Some(match f {
        ScimUserFilter::All => [None, None, None, None],
        ScimUserFilter::Id(v) => [Some(v.clone()), None, None, None],
        ScimUserFilter::UserName(v) => [None, Some(crate::identity::canonical_username(v).ok()?), None, None],
        ScimUserFilter::ExternalId(v) => [None, None, Some(v.clone()), None],
        ScimUserFilter::Email(v) => [None, None, None, Some(crate::identity::canonical_email(v).ok()?)],
    })
}

/// (id, displayName, externalId).
fn group_filter(f: &ScimGroupFilter) -> [Option<&str>; 3] {
    match f {
        ScimGroupFilter::All => [None, None, None],
        ScimGroupFilter::Id(v) => [Some(v), None, None],
        ScimGroupFilter::DisplayName(v) => [None, Some(v), None],
        ScimGroupFilter::ExternalId(v) => [None, None, Some(v)],
    }
}

mod queries {
    use super::super::queries::user_columns;

    /// $1 tenant, $2 id, $3 userName, $4 externalId, $5 email (each NULL when unused).
    macro_rules! users_where {
        () => {
            " FROM tenant_access a JOIN users u ON u.id = a.principal_id \
             LEFT JOIN scim_users s ON s.tenant_id = a.tenant_id AND s.user_id = a.principal_id \
             WHERE a.tenant_id = $1 AND a.principal_kind = 'user' \
             AND ($2 IS NULL OR u.id = $2) \
             AND ($3 IS NULL OR u.username_canonical = $3) \
             AND ($4 IS NULL OR s.external_id = $4) \
             AND ($5 IS NULL OR u.email_canonical = $5)"
        };
    }
    pub const LIST_USERS: &str = concat!(
        "SELECT ",
        user_columns!("u."),
        ", s.external_id, s.given_name, s.family_name, s.email_type, \
         s.created_at AS scim_created_at, s.updated_at AS scim_updated_at",
        users_where!(),
        " ORDER BY u.id LIMIT $6 OFFSET $7"
    );
    pub const COUNT_USERS: &str = concat!("SELECT COUNT(*)", users_where!());

    /// $1 tenant, $2 user, $3 externalId, $4 given, $5 family, $6 email type, $7 created, $8 updated.
    pub const PUT_USER_RECORD: &str = "INSERT INTO scim_users \
         (tenant_id, user_id, external_id, given_name, family_name, email_type, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET external_id = excluded.external_id, \
         given_name = excluded.given_name, family_name = excluded.family_name, \
         email_type = excluded.email_type, updated_at = excluded.updated_at";
    /// $1 user, $2 username, $3 email, $4 name, $5 canonical username, $6 canonical email.
    pub const UPDATE_IDENTITY: &str = "UPDATE users SET username = $2, email = $3, name = $4, \
         email_verified = CASE WHEN COALESCE(email, '') = COALESCE($3, '') THEN email_verified ELSE FALSE END, \
         username_canonical = $5, email_canonical = $6 \
         WHERE id = $1";

    /// $1 tenant, $2 id, $3 displayName, $4 externalId.
    macro_rules! groups_where {
        () => {
            " FROM groups g LEFT JOIN scim_groups s ON s.tenant_id = g.tenant_id AND s.group_id = g.id \
             WHERE g.tenant_id = $1 AND ($2 IS NULL OR g.id = $2) \
             AND ($3 IS NULL OR LOWER(g.name) = LOWER($3)) AND ($4 IS NULL OR s.external_id = $4)"
        };
    }
    pub const LIST_GROUPS: &str = concat!(
        "SELECT g.tenant_id, g.id, g.name, g.description, g.created_at, s.external_id, \
         s.created_at AS scim_created_at, s.updated_at AS scim_updated_at",
        groups_where!(),
        " ORDER BY g.id LIMIT $5 OFFSET $6"
    );
    pub const COUNT_GROUPS: &str = concat!("SELECT COUNT(*)", groups_where!());
    pub const INSERT_GROUP: &str =
        "INSERT INTO groups (tenant_id, id, name, description, created_at) VALUES ($1, $2, $3, $4, $5)";
    pub const PUT_GROUP_RECORD: &str = "INSERT INTO scim_groups \
         (tenant_id, group_id, external_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, group_id) DO UPDATE SET external_id = excluded.external_id, \
         updated_at = excluded.updated_at";
}

/// An offset as bound to `OFFSET` (saturating: no tenant holds 2^63 rows).
fn page_offset(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

macro_rules! impl_scim_store {
    ($db:ty) => {
        impl SqlStore<$db> {
            async fn put_user_record(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant_id: &str,
                user_id: &str,
                r: &ScimRecord,
            ) -> StoreResult<()> {
                sqlx::query(queries::PUT_USER_RECORD)
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(&r.external_id)
                    .bind(&r.given_name)
                    .bind(&r.family_name)
                    .bind(&r.email_type)
                    .bind(r.created_at)
                    .bind(r.updated_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| write_error(e, || format!("user with externalId {:?}", r.external_id)))?;
                Ok(())
            }

            async fn put_group_record(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant_id: &str,
                group_id: &str,
                r: &ScimRecord,
            ) -> StoreResult<()> {
                sqlx::query(queries::PUT_GROUP_RECORD)
                    .bind(tenant_id)
                    .bind(group_id)
                    .bind(&r.external_id)
                    .bind(r.created_at)
                    .bind(r.updated_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| write_error(e, || format!("group with externalId {:?}", r.external_id)))?;
                Ok(())
            }
        }

        #[async_trait]
        impl ScimStore for SqlStore<$db> {
            async fn create_scim_user(&self, user: &User, record: &ScimRecord) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                Self::insert_user_with_home_access(&mut tx, user).await?;
                Self::put_user_record(&mut tx, &user.tenant_id, &user.id, record).await?;
                tx.commit().await.map_err(backend)
            }

            async fn scim_users(
                &self,
                tenant_id: &str,
                filter: &ScimUserFilter,
                offset: u64,
                limit: u32,
            ) -> StoreResult<(Vec<(User, Option<ScimRecord>)>, u64)> {
                let Some([id, username, external_id, email]) = user_filter(filter) else {
                    return Ok((Vec::new(), 0));
                };
                let total: i64 = sqlx::query_scalar(queries::COUNT_USERS)
                    .bind(tenant_id)
                    .bind(&id)
                    .bind(&username)
                    .bind(&external_id)
                    .bind(&email)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(backend)?;
                let rows = if limit == 0 {
                    Vec::new()
                } else {
                    sqlx::query_as::<_, ScimUserRow>(queries::LIST_USERS)
                        .bind(tenant_id)
                        .bind(id)
                        .bind(username)
                        .bind(external_id)
                        .bind(email)
                        .bind(page_limit(limit))
                        .bind(page_offset(offset))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?
                };
                Ok((rows.into_iter().map(Into::into).collect(), u64::try_from(total).unwrap_or_default()))
            }

            async fn put_scim_user_record(
                &self,
                tenant_id: &str,
                user_id: &str,
                record: &ScimRecord,
            ) -> StoreResult<()> {
                let mut conn = self.pool.acquire().await.map_err(backend)?;
                Self::put_user_record(&mut conn, tenant_id, user_id, record).await
            }

            async fn update_user_identity(
                &self,
                user_id: &str,
                username: &str,
                email: Option<&str>,
                name: Option<&str>,
            ) -> StoreResult<()> {
                let (username_key, email_key) = super::canonical_keys(username, email)?;
                let done = sqlx::query(queries::UPDATE_IDENTITY)
                    .bind(user_id)
                    .bind(username)
                    .bind(email)
                    .bind(name)
                    .bind(username_key)
                    .bind(email_key)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("username {username} or its email")))?;
                one_row_affected(done.rows_affected())
            }

            async fn create_scim_group(&self, group: &Group, record: &ScimRecord) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(queries::INSERT_GROUP)
                    .bind(&group.tenant_id)
                    .bind(&group.id)
                    .bind(&group.name)
                    .bind(&group.description)
                    .bind(group.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || format!("group {}", group.name)))?;
                Self::put_group_record(&mut tx, &group.tenant_id, &group.id, record).await?;
                tx.commit().await.map_err(backend)
            }

            async fn scim_groups(
                &self,
                tenant_id: &str,
                filter: &ScimGroupFilter,
                offset: u64,
                limit: u32,
            ) -> StoreResult<(Vec<(Group, Option<ScimRecord>)>, u64)> {
                let [id, name, external_id] = group_filter(filter);
                let total: i64 = sqlx::query_scalar(queries::COUNT_GROUPS)
                    .bind(tenant_id)
                    .bind(id)
                    .bind(name)
                    .bind(external_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(backend)?;
                let rows = if limit == 0 {
                    Vec::new()
                } else {
                    sqlx::query_as::<_, ScimGroupRow>(queries::LIST_GROUPS)
                        .bind(tenant_id)
                        .bind(id)
                        .bind(name)
                        .bind(external_id)
                        .bind(page_limit(limit))
                        .bind(page_offset(offset))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?
                };
                Ok((rows.into_iter().map(Into::into).collect(), u64::try_from(total).unwrap_or_default()))
            }

            async fn put_scim_group_record(
                &self,
                tenant_id: &str,
                group_id: &str,
                record: &ScimRecord,
            ) -> StoreResult<()> {
                let mut conn = self.pool.acquire().await.map_err(backend)?;
                Self::put_group_record(&mut conn, tenant_id, group_id, record).await
            }
        }
    };
}

impl_scim_store!(Sqlite);
impl_scim_store!(Postgres);
