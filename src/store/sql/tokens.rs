//! Service-account credentials: API tokens and workload-identity trusts.

use async_trait::async_trait;
use sqlx::{Postgres, Sqlite};

use super::{SqlStore, backend, one_row_affected, write_error};
use crate::store::{ApiToken, CredentialStore, StoreError, StoreResult, WorkloadTrust};

#[derive(sqlx::FromRow)]
struct ApiTokenRow {
    tenant_id: String,
    id: String,
    service_account_id: String,
    name: String,
    token_hash: String,
    hint: String,
    created_at: i64,
    created_by: Option<String>,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<ApiTokenRow> for ApiToken {
    fn from(r: ApiTokenRow) -> ApiToken {
        ApiToken {
            tenant_id: r.tenant_id,
            id: r.id,
            service_account_id: r.service_account_id,
            name: r.name,
            token_hash: r.token_hash,
            hint: r.hint,
            created_at: r.created_at,
            created_by: r.created_by,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct TrustRow {
    tenant_id: String,
    id: String,
    name: String,
    issuer: String,
    jwks_uri: Option<String>,
    audience: String,
    claims: String,
    service_account_id: String,
    created_at: i64,
    created_by: Option<String>,
}

impl TryFrom<TrustRow> for WorkloadTrust {
    type Error = StoreError;

    fn try_from(r: TrustRow) -> StoreResult<WorkloadTrust> {
        let claims = serde_json::from_str(&r.claims).map_err(|e| {
            StoreError::Backend(format!("column workload_trusts.claims does not hold a JSON object of strings: {e}"))
        })?;
        Ok(WorkloadTrust {
            tenant_id: r.tenant_id,
            id: r.id,
            name: r.name,
            issuer: r.issuer,
            jwks_uri: r.jwks_uri,
            audience: r.audience,
            claims,
            service_account_id: r.service_account_id,
            created_at: r.created_at,
            created_by: r.created_by,
        })
    }
}

mod queries {
    macro_rules! token_columns {
        () => {
            "tenant_id, id, service_account_id, name, token_hash, hint, created_at, created_by, \
             expires_at, last_used_at, revoked_at"
        };
    }
    pub const INSERT_TOKEN: &str = concat!(
        "INSERT INTO api_tokens (",
        token_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    pub const GET_TOKEN: &str =
        concat!("SELECT ", token_columns!(), " FROM api_tokens WHERE tenant_id = $1 AND id = $2");
    pub const FIND_TOKEN: &str = concat!("SELECT ", token_columns!(), " FROM api_tokens WHERE token_hash = $1");
    pub const LIST_TOKENS: &str = concat!(
        "SELECT ",
        token_columns!(),
        " FROM api_tokens WHERE tenant_id = $1 AND service_account_id = $2 ORDER BY created_at DESC, id"
    );
    pub const REVOKE_TOKEN: &str = "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $4) \
         WHERE tenant_id = $1 AND service_account_id = $2 AND id = $3";
    pub const SHORTEN_TOKEN: &str = "UPDATE api_tokens SET expires_at = CASE \
         WHEN expires_at IS NULL OR expires_at > $4 THEN $4 ELSE expires_at END \
         WHERE tenant_id = $1 AND service_account_id = $2 AND id = $3";
    pub const TOUCH_TOKEN: &str = "UPDATE api_tokens SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2";

    macro_rules! trust_columns {
        () => {
            "tenant_id, id, name, issuer, jwks_uri, audience, claims, service_account_id, created_at, created_by"
        };
    }
    pub const INSERT_TRUST: &str = concat!(
        "INSERT INTO workload_trusts (",
        trust_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    pub const GET_TRUST: &str =
        concat!("SELECT ", trust_columns!(), " FROM workload_trusts WHERE tenant_id = $1 AND id = $2");
    pub const LIST_TRUSTS: &str =
        concat!("SELECT ", trust_columns!(), " FROM workload_trusts WHERE tenant_id = $1 ORDER BY id");
    pub const TRUSTS_OF_ISSUER: &str =
        concat!("SELECT ", trust_columns!(), " FROM workload_trusts WHERE issuer = $1 ORDER BY tenant_id, id");
    pub const DELETE_TRUST: &str = "DELETE FROM workload_trusts WHERE tenant_id = $1 AND id = $2";
}

macro_rules! impl_credential_store {
    ($db:ty) => {
        #[async_trait]
        impl CredentialStore for SqlStore<$db> {
            async fn create_api_token(&self, t: &ApiToken) -> StoreResult<()> {
                sqlx::query(queries::INSERT_TOKEN)
                    .bind(&t.tenant_id)
                    .bind(&t.id)
                    .bind(&t.service_account_id)
                    .bind(&t.name)
                    .bind(&t.token_hash)
                    .bind(&t.hint)
                    .bind(t.created_at)
                    .bind(&t.created_by)
                    .bind(t.expires_at)
                    .bind(t.last_used_at)
                    .bind(t.revoked_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("API token {}", t.id)))?;
                Ok(())
            }

            async fn get_api_token(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ApiToken>> {
                let row = sqlx::query_as::<_, ApiTokenRow>(queries::GET_TOKEN)
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(ApiToken::from))
            }

            async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
                let row = sqlx::query_as::<_, ApiTokenRow>(queries::FIND_TOKEN)
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(row.map(ApiToken::from))
            }

            async fn list_api_tokens(&self, tenant_id: &str, service_account_id: &str) -> StoreResult<Vec<ApiToken>> {
                let rows = sqlx::query_as::<_, ApiTokenRow>(queries::LIST_TOKENS)
                    .bind(tenant_id)
                    .bind(service_account_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(rows.into_iter().map(ApiToken::from).collect())
            }

            async fn revoke_api_token(
                &self,
                tenant_id: &str,
                service_account_id: &str,
                id: &str,
                now: i64,
            ) -> StoreResult<()> {
                let done = sqlx::query(queries::REVOKE_TOKEN)
                    .bind(tenant_id)
                    .bind(service_account_id)
                    .bind(id)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }

            async fn shorten_api_token(
                &self,
                tenant_id: &str,
                service_account_id: &str,
                id: &str,
                expires_at: i64,
            ) -> StoreResult<()> {
                let done = sqlx::query(queries::SHORTEN_TOKEN)
                    .bind(tenant_id)
                    .bind(service_account_id)
                    .bind(id)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }

            async fn touch_api_token(&self, tenant_id: &str, id: &str, now: i64) -> StoreResult<()> {
                sqlx::query(queries::TOUCH_TOKEN)
                    .bind(tenant_id)
                    .bind(id)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(())
            }

            async fn create_workload_trust(&self, t: &WorkloadTrust) -> StoreResult<()> {
                let claims = serde_json::to_string(&t.claims).map_err(backend)?;
                sqlx::query(queries::INSERT_TRUST)
                    .bind(&t.tenant_id)
                    .bind(&t.id)
                    .bind(&t.name)
                    .bind(&t.issuer)
                    .bind(&t.jwks_uri)
                    .bind(&t.audience)
                    .bind(claims)
                    .bind(&t.service_account_id)
                    .bind(t.created_at)
                    .bind(&t.created_by)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, || format!("workload identity id {} or name {}", t.id, t.name)))?;
                Ok(())
            }

            async fn get_workload_trust(&self, tenant_id: &str, id: &str) -> StoreResult<Option<WorkloadTrust>> {
                sqlx::query_as::<_, TrustRow>(queries::GET_TRUST)
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .map(WorkloadTrust::try_from)
                    .transpose()
            }

            async fn list_workload_trusts(&self, tenant_id: &str) -> StoreResult<Vec<WorkloadTrust>> {
                sqlx::query_as::<_, TrustRow>(queries::LIST_TRUSTS)
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(WorkloadTrust::try_from)
                    .collect()
            }

            async fn workload_trusts_of_issuer(&self, issuer: &str) -> StoreResult<Vec<WorkloadTrust>> {
                sqlx::query_as::<_, TrustRow>(queries::TRUSTS_OF_ISSUER)
                    .bind(issuer)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(WorkloadTrust::try_from)
                    .collect()
            }

            async fn delete_workload_trust(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
                let done = sqlx::query(queries::DELETE_TRUST)
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                one_row_affected(done.rows_affected())
            }
        }
    };
}

impl_credential_store!(Sqlite);
impl_credential_store!(Postgres);
