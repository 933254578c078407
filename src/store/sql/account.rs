//! The account page's rows: passkeys and preferences.

use async_trait::async_trait;
use sqlx::{Postgres, Sqlite};

use super::{SqlStore, backend, one_row_affected, write_error};
use crate::store::{PasskeyRecord, PasskeyStore, PreferenceStore, Preferences, StoreResult};

#[derive(sqlx::FromRow)]
struct PasskeyRow {
    tenant_id: String,
    id: String,
    user_id: String,
    credential_id: String,
    user_handle: String,
    name: String,
    credential: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<PasskeyRow> for PasskeyRecord {
    fn from(r: PasskeyRow) -> PasskeyRecord {
        PasskeyRecord {
            tenant_id: r.tenant_id,
            id: r.id,
            user_id: r.user_id,
            credential_id: r.credential_id,
            user_handle: r.user_handle,
            name: r.name,
            credential: r.credential,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

mod queries {
    macro_rules! passkey_columns {
        () => {
            "tenant_id, id, user_id, credential_id, user_handle, name, credential, created_at, last_used_at"
        };
    }
    pub const INSERT_PASSKEY: &str =
        concat!("INSERT INTO passkeys (", passkey_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
    pub const LIST_PASSKEYS: &str = concat!(
        "SELECT ",
        passkey_columns!(),
        " FROM passkeys WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id"
    );
    pub const FIND_PASSKEY: &str = concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE credential_id = $1");
    pub const RENAME_PASSKEY: &str = "UPDATE passkeys SET name = $4 WHERE tenant_id = $1 AND user_id = $2 AND id = $3";
    pub const DELETE_PASSKEY: &str = "DELETE FROM passkeys WHERE tenant_id = $1 AND user_id = $2 AND id = $3";
    pub const TOUCH_PASSKEY: &str = "UPDATE passkeys SET credential = $4, last_used_at = $5 \
         WHERE tenant_id = $1 AND user_id = $2 AND id = $3";

    pub const GET_PREFERENCES: &str =
        "SELECT theme, time_zone FROM user_preferences WHERE tenant_id = $1 AND user_id = $2";
    pub const PUT_PREFERENCES: &str = "INSERT INTO user_preferences (tenant_id, user_id, theme, time_zone, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, user_id) DO UPDATE \
         SET theme = excluded.theme, time_zone = excluded.time_zone, updated_at = excluded.updated_at";
    pub const GET_NAMESPACE: &str =
        "SELECT namespace FROM user_default_namespaces WHERE tenant_id = $1 AND user_id = $2";
    pub const PUT_NAMESPACE: &str = "INSERT INTO user_default_namespaces (tenant_id, user_id, namespace, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, user_id) DO UPDATE \
         SET namespace = excluded.namespace, updated_at = excluded.updated_at";
    pub const CLEAR_NAMESPACE: &str = "DELETE FROM user_default_namespaces WHERE tenant_id = $1 AND user_id = $2";
}

macro_rules! impl_account_stores {
    ($db:ty) => {
        #[async_trait]
        impl PasskeyStore for SqlStore<$db> {
            async fn add_passkey(&self, p: &PasskeyRecord) -> StoreResult<()> {
                sqlx::query(queries::INSERT_PASSKEY)
                    .bind(&p.tenant_id)
                    .bind(&p.id)
                    .bind(&p.user_id)
                    .bind(&p.credential_id)
                    .bind(&p.user_handle)
                    .bind(&p.name)
                    .bind(&p.credential)
                    .bind(p.created_at)
                    .bind(p.last_used_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || "this passkey is registered already".to_string()))?;
                Ok(())
            }

            async fn list_passkeys(&self, tenant_id: &str, user_id: &str) -> StoreResult<Vec<PasskeyRecord>> {
                let rows = sqlx::query_as::<_, PasskeyRow>(queries::LIST_PASSKEYS)
                    .bind(tenant_id)
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(rows.into_iter().map(PasskeyRecord::from).collect())
            }

            async fn find_passkey(&self, credential_id: &str) -> StoreResult<Option<PasskeyRecord>> {
                let row = sqlx::query_as::<_, PasskeyRow>(queries::FIND_PASSKEY)
                    .bind(credential_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(PasskeyRecord::from))
            }

            async fn rename_passkey(&self, tenant_id: &str, user_id: &str, id: &str, name: &str) -> StoreResult<()> {
                let done = sqlx::query(queries::RENAME_PASSKEY)
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(id)
                    .bind(name)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }

            async fn delete_passkey(&self, tenant_id: &str, user_id: &str, id: &str) -> StoreResult<()> {
                let done = sqlx::query(queries::DELETE_PASSKEY)
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }

            async fn touch_passkey(
                &self,
                tenant_id: &str,
                user_id: &str,
                id: &str,
                credential: &str,
                now: i64,
            ) -> StoreResult<()> {
                let done = sqlx::query(queries::TOUCH_PASSKEY)
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(id)
                    .bind(credential)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }
        }

        #[async_trait]
        impl PreferenceStore for SqlStore<$db> {
            async fn get_preferences(&self, tenant_id: &str, user_id: &str) -> StoreResult<Option<Preferences>> {
                let row: Option<(String, String)> = sqlx::query_as(queries::GET_PREFERENCES)
                    .bind(tenant_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(|(theme, time_zone)| Preferences { theme, time_zone }))
            }

            async fn put_preferences(
                &self,
                tenant_id: &str,
                user_id: &str,
                prefs: &Preferences,
                now: i64,
            ) -> StoreResult<()> {
                sqlx::query(queries::PUT_PREFERENCES)
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(&prefs.theme)
                    .bind(&prefs.time_zone)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("preferences of user {user_id}")))?;
                Ok(())
            }

            async fn get_default_namespace(&self, tenant_id: &str, user_id: &str) -> StoreResult<Option<String>> {
                let row: Option<(String,)> = sqlx::query_as(queries::GET_NAMESPACE)
                    .bind(tenant_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(|(ns,)| ns))
            }

            async fn set_default_namespace(
                &self,
                tenant_id: &str,
                user_id: &str,
                namespace: Option<&str>,
                now: i64,
            ) -> StoreResult<()> {
                let query = match namespace {
                    Some(ns) => sqlx::query(queries::PUT_NAMESPACE).bind(tenant_id).bind(user_id).bind(ns).bind(now),
                    None => sqlx::query(queries::CLEAR_NAMESPACE).bind(tenant_id).bind(user_id),
                };
                query
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("default namespace of user {user_id}")))?;
                Ok(())
            }
        }
    };
}

impl_account_stores!(Sqlite);
impl_account_stores!(Postgres);
