//! Signing keys kept in the database (`keys.store = "database"`), shared by every instance.
//! The store sees sealed private keys only; sealing and opening happen in `crate::keys::db`.

use async_trait::async_trait;

use super::StoreResult;

/// One `signing_keys` row. Instance-wide keys use the tenant id `*`.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    /// `ES256`, `RS256` or `EdDSA`.
    pub alg: String,
    /// 1, 2, 3... per algorithm, in the order the keys were added.
    pub generation: i64,
    /// The PKCS#8 private key sealed with AES-256-GCM (see `crate::keys::db`).
    pub sealed_key: String,
    pub created_at: i64,
    pub activate_at: i64,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("generation", &self.generation)
            .field("created_at", &self.created_at)
            .field("activate_at", &self.activate_at)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every key of the tenant, by algorithm and generation.
    async fn list_signing_keys(&self, tenant_id: &str) -> StoreResult<Vec<StoredSigningKey>>;
    /// Adds a key. `Conflict` when the tenant already has this algorithm's generation (or
    /// this kid): another instance rotated first, and this insert is the one that lost.
    async fn insert_signing_key(&self, tenant_id: &str, key: &StoredSigningKey) -> StoreResult<()>;
    /// Removes the listed keys of the tenant; returns how many there were.
    async fn delete_signing_keys(&self, tenant_id: &str, kids: &[String]) -> StoreResult<u64>;
}
