//! Federation connections and the identities linked through them.

use async_trait::async_trait;
use sqlx::{Postgres, Sqlite};

use super::{SqlStore, backend, one_row_affected, write_error};
use crate::store::{Connection, ConnectionSettings, FederationStore, StoreError, StoreResult, User};

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    tenant_id: String,
    id: String,
    name: String,
    issuer: String,
    client_id: String,
    client_secret_sealed: Option<String>,
    settings: String,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ConnectionRow> for Connection {
    type Error = StoreError;
    fn try_from(r: ConnectionRow) -> StoreResult<Self> {
        let settings: ConnectionSettings = serde_json::from_str(&r.settings)
            .map_err(|e| StoreError::Backend(format!("connection {} settings: {e}", r.id)))?;
        Ok(Connection {
            tenant_id: r.tenant_id,
            id: r.id,
            name: r.name,
            issuer: r.issuer,
            client_id: r.client_id,
            client_secret_sealed: r.client_secret_sealed,
            settings,
            enabled: r.enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn settings_json(c: &Connection) -> StoreResult<String> {
    serde_json::to_string(&c.settings).map_err(|e| StoreError::Backend(e.to_string()))
}

mod queries {
    macro_rules! columns {
        () => {
            "tenant_id, id, name, issuer, client_id, client_secret_sealed, settings, enabled, created_at, updated_at"
        };
    }
    pub const INSERT: &str = "INSERT INTO idp_connections (tenant_id, id, name, issuer, client_id, \
         client_secret_sealed, settings, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    pub const GET: &str = concat!("SELECT ", columns!(), " FROM idp_connections WHERE tenant_id = $1 AND id = $2");
    pub const LIST: &str = concat!("SELECT ", columns!(), " FROM idp_connections WHERE tenant_id = $1 ORDER BY id");
    pub const UPDATE: &str = "UPDATE idp_connections SET name = $3, issuer = $4, client_id = $5, \
         client_secret_sealed = $6, settings = $7, enabled = $8, updated_at = $9 \
         WHERE tenant_id = $1 AND id = $2";
    pub const DELETE_IDENTITIES: &str = "DELETE FROM federated_identities WHERE tenant_id = $1 AND connection_id = $2";
    pub const DELETE: &str = "DELETE FROM idp_connections WHERE tenant_id = $1 AND id = $2";
    pub const FIND_IDENTITY: &str = "UPDATE federated_identities SET last_sign_in_at = $4 \
         WHERE tenant_id = $1 AND connection_id = $2 AND subject = $3 RETURNING user_id";
    pub const LINK: &str = "INSERT INTO federated_identities \
         (tenant_id, connection_id, subject, user_id, created_at, last_sign_in_at) VALUES ($1, $2, $3, $4, $5, $5)";
    /// $1 user, $2 email, $3 verified, $4 name, $5 canonical email.
    pub const UPDATE_PROFILE: &str =
        "UPDATE users SET email = $2, email_verified = $3, name = $4, email_canonical = $5 WHERE id = $1";
}

macro_rules! impl_federation_store {
    ($db:ty) => {
        #[async_trait]
        impl FederationStore for SqlStore<$db> {
            async fn create_connection(&self, c: &Connection) -> StoreResult<()> {
                sqlx::query(queries::INSERT)
                    .bind(&c.tenant_id)
                    .bind(&c.id)
                    .bind(&c.name)
                    .bind(&c.issuer)
                    .bind(&c.client_id)
                    .bind(&c.client_secret_sealed)
                    .bind(settings_json(c)?)
                    .bind(c.enabled)
                    .bind(c.created_at)
                    .bind(c.updated_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("identity provider {}", c.id)))?;
                Ok(())
            }

            async fn get_connection(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Connection>> {
                let row = sqlx::query_as::<_, ConnectionRow>(queries::GET)
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                row.map(Connection::try_from).transpose()
            }

            async fn list_connections(&self, tenant_id: &str) -> StoreResult<Vec<Connection>> {
                let rows = sqlx::query_as::<_, ConnectionRow>(queries::LIST)
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                rows.into_iter().map(Connection::try_from).collect()
            }

            async fn update_connection(&self, c: &Connection) -> StoreResult<()> {
                let done = sqlx::query(queries::UPDATE)
                    .bind(&c.tenant_id)
                    .bind(&c.id)
                    .bind(&c.name)
                    .bind(&c.issuer)
                    .bind(&c.client_id)
                    .bind(&c.client_secret_sealed)
                    .bind(settings_json(c)?)
                    .bind(c.enabled)
                    .bind(c.updated_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("identity provider {}", c.id)))?;
                one_row_affected(done.rows_affected())
            }

            async fn delete_connection(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(queries::DELETE_IDENTITIES)
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                let done =
                    sqlx::query(queries::DELETE).bind(tenant_id).bind(id).execute(&mut *tx).await.map_err(backend)?;
                one_row_affected(done.rows_affected())?;
                tx.commit().await.map_err(backend)
            }

            async fn find_identity(
                &self,
                tenant_id: &str,
                connection_id: &str,
                subject: &str,
                now: i64,
            ) -> StoreResult<Option<String>> {
                sqlx::query_scalar(queries::FIND_IDENTITY)
                    .bind(tenant_id)
                    .bind(connection_id)
                    .bind(subject)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)
            }

            async fn link_identity(
                &self,
                tenant_id: &str,
                connection_id: &str,
                subject: &str,
                user_id: &str,
                now: i64,
            ) -> StoreResult<()> {
                sqlx::query(queries::LINK)
                    .bind(tenant_id)
                    .bind(connection_id)
                    .bind(subject)
                    .bind(user_id)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("identity {subject} at {connection_id}")))?;
                Ok(())
            }

            async fn provision_user(
                &self,
                user: &User,
                tenant_id: &str,
                connection_id: &str,
                subject: &str,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                Self::insert_user_with_home_access(&mut tx, user).await?;
                sqlx::query(queries::LINK)
                    .bind(tenant_id)
                    .bind(connection_id)
                    .bind(subject)
                    .bind(&user.id)
                    .bind(user.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, || format!("identity {subject} at {connection_id}")))?;
                tx.commit().await.map_err(backend)
            }

            async fn update_federated_profile(
                &self,
                user_id: &str,
                email: Option<&str>,
                email_verified: bool,
                name: Option<&str>,
            ) -> StoreResult<()> {
                let email_key = email
                    .map(crate::identity::canonical_email)
                    .transpose()
                    .map_err(|why| StoreError::Backend(format!("an unchecked email reached the store: {why}")))?;
                let done = sqlx::query(queries::UPDATE_PROFILE)
                    .bind(user_id)
                    .bind(email)
                    .bind(email_verified)
                    .bind(name)
                    .bind(email_key)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || "the email".to_string()))?;
                one_row_affected(done.rows_affected())
            }
        }
    };
}

impl_federation_store!(Sqlite);
impl_federation_store!(Postgres);
