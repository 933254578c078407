//! The `signing_keys` table. Concurrent rotations are settled by its unique key on
//! (tenant_id, alg, generation): each instance inserts the next generation, one insert wins.

use async_trait::async_trait;
use sqlx::{Postgres, Sqlite};

use super::{SqlStore, backend, write_error};
use crate::store::{SigningKeyStore, StoreResult, StoredSigningKey};

#[derive(sqlx::FromRow)]
struct SigningKeyRow {
    kid: String,
    alg: String,
    generation: i64,
    sealed_key: String,
    created_at: i64,
    activate_at: i64,
}

impl From<SigningKeyRow> for StoredSigningKey {
    fn from(r: SigningKeyRow) -> Self {
        StoredSigningKey {
            kid: r.kid,
            alg: r.alg,
            generation: r.generation,
            sealed_key: r.sealed_key,
            created_at: r.created_at,
            activate_at: r.activate_at,
        }
    }
}

mod queries {
    pub const LIST: &str = "SELECT kid, alg, generation, sealed_key, created_at, activate_at FROM signing_keys \
                            WHERE tenant_id = $1 ORDER BY alg, generation";
    pub const INSERT: &str = "INSERT INTO signing_keys (tenant_id, kid, alg, generation, sealed_key, created_at, \
                              activate_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    pub const DELETE: &str = "DELETE FROM signing_keys WHERE tenant_id = $1 AND kid = $2";
}

macro_rules! impl_signing_key_store {
    ($db:ty) => {
        #[async_trait]
        impl SigningKeyStore for SqlStore<$db> {
            async fn list_signing_keys(&self, tenant_id: &str) -> StoreResult<Vec<StoredSigningKey>> {
                let rows: Vec<SigningKeyRow> =
                    sqlx::query_as(queries::LIST).bind(tenant_id).fetch_all(&self.pool).await.map_err(backend)?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn insert_signing_key(&self, tenant_id: &str, key: &StoredSigningKey) -> StoreResult<()> {
                sqlx::query(queries::INSERT)
                    .bind(tenant_id)
                    .bind(&key.kid)
                    .bind(&key.alg)
                    .bind(key.generation)
                    .bind(&key.sealed_key)
                    .bind(key.created_at)
                    .bind(key.activate_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("{} key generation {}", key.alg, key.generation)))?;
                Ok(())
            }

            async fn delete_signing_keys(&self, tenant_id: &str, kids: &[String]) -> StoreResult<u64> {
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let mut removed = 0;
                for kid in kids {
                    let done = sqlx::query(queries::DELETE)
                        .bind(tenant_id)
                        .bind(kid)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    removed += done.rows_affected();
                }
                tx.commit().await.map_err(backend)?;
                Ok(removed)
            }
        }
    };
}

impl_signing_key_store!(Sqlite);
impl_signing_key_store!(Postgres);
