//! The hash-chained audit log.
//!
//! Appenders serialise on the one-row `audit_head` table: the first statement of an append
//! transaction is a no-op `UPDATE` of that row, which takes PostgreSQL's row lock and
//! SQLite's write lock (waiting for the busy timeout), so the head read next is the latest
//! and no other appender can move it before this one commits. The same SQL on both backends.

use async_trait::async_trait;
use sqlx::{Postgres, Sqlite};

use super::{SqlStore, backend, page_limit, write_error};
use crate::store::{
    AuditBroken, AuditEntry, AuditFilter, AuditHashInput, AuditStore, NewAuditEntry, StoreError, StoreResult,
};

/// How many entries `verify_audit` reads at a time.
const VERIFY_PAGE: i64 = 1000;

/// An `audit_log` row as stored: the summary stays JSON text, as hashed.
#[derive(sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    tenant_id: String,
    id: String,
    at: i64,
    actor: String,
    action: String,
    target: String,
    summary: String,
    request_id: Option<String>,
    client_addr: Option<String>,
    prev_hash: String,
    hash: String,
}

impl AuditRow {
    fn hash_input(&self) -> AuditHashInput<'_> {
        AuditHashInput {
            seq: self.seq,
            tenant_id: &self.tenant_id,
            id: &self.id,
            at: self.at,
            actor: &self.actor,
            action: &self.action,
            target: &self.target,
            summary_json: &self.summary,
            request_id: self.request_id.as_deref(),
            client_addr: self.client_addr.as_deref(),
            prev_hash: &self.prev_hash,
        }
    }
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> StoreResult<AuditEntry> {
        let summary = serde_json::from_str(&row.summary)
            .map_err(|e| StoreError::Backend(format!("audit entry {} has a summary that is not JSON: {e}", row.seq)))?;
        Ok(AuditEntry {
            seq: row.seq,
            tenant_id: row.tenant_id,
            id: row.id,
            at: row.at,
            actor: row.actor,
            action: row.action,
            target: row.target,
            summary,
            request_id: row.request_id,
            client_addr: row.client_addr,
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
    }
}

mod queries {
    macro_rules! audit_columns {
        () => {
            "seq, tenant_id, id, at, actor, action, target, summary, request_id, client_addr, prev_hash, hash"
        };
    }
    /// Takes the appenders' lock: see the module documentation.
    pub const LOCK_HEAD: &str = "UPDATE audit_head SET seq = seq WHERE id = 1";
    pub const GET_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";
    /// Moves the head, checking nobody else did ($1 old seq, $2 new seq, $3 new hash).
    pub const MOVE_HEAD: &str = "UPDATE audit_head SET seq = $2, hash = $3 WHERE id = 1 AND seq = $1";
    pub const INSERT_ENTRY: &str = concat!(
        "INSERT INTO audit_log (",
        audit_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    pub const LIST_ENTRIES: &str = concat!(
        "SELECT ",
        audit_columns!(),
        " FROM audit_log WHERE tenant_id = $1 \
         AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR target = $3) AND ($4 IS NULL OR action = $4) \
         AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) AND seq > COALESCE($7, 0) \
         ORDER BY seq LIMIT $8"
    );
    /// A page of the chain ($1 after seq, $2 last seq, $3 limit).
    pub const CHAIN_PAGE: &str =
        concat!("SELECT ", audit_columns!(), " FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3");
}

/// Checks one entry against the one before it (`expected_seq`, `prev_hash`).
fn check_link(row: &AuditRow, expected_seq: i64, prev_hash: &str) -> Result<(), AuditBroken> {
    if row.seq != expected_seq {
        return Err(AuditBroken { seq: expected_seq, reason: "the entry is missing".into() });
    }
    if row.prev_hash != prev_hash {
        return Err(AuditBroken {
            seq: row.seq,
            reason: format!("prev_hash does not match the hash of entry {}", row.seq - 1),
        });
    }
    if row.hash_input().hash() != row.hash {
        return Err(AuditBroken { seq: row.seq, reason: "the hash does not match the entry's content".into() });
    }
    Ok(())
}

macro_rules! impl_audit_store {
    ($db:ty) => {
        #[async_trait]
        impl AuditStore for SqlStore<$db> {
            async fn append_batch(&self, entries: &[NewAuditEntry]) -> StoreResult<()> {
                if entries.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(queries::LOCK_HEAD).execute(&mut *tx).await.map_err(backend)?;
                let (head_seq, head_hash): (i64, String) =
                    sqlx::query_as(queries::GET_HEAD).fetch_one(&mut *tx).await.map_err(backend)?;
                let (mut seq, mut prev_hash) = (head_seq, head_hash);
                for entry in entries {
                    seq += 1;
                    let summary = serde_json::to_string(&entry.summary).map_err(backend)?;
                    let hash = AuditHashInput {
                        seq,
                        tenant_id: &entry.tenant_id,
                        id: &entry.id,
                        at: entry.at,
                        actor: &entry.actor,
                        action: &entry.action,
                        target: &entry.target,
                        summary_json: &summary,
                        request_id: entry.request_id.as_deref(),
                        client_addr: entry.client_addr.as_deref(),
                        prev_hash: &prev_hash,
                    }
                    .hash();
                    sqlx::query(queries::INSERT_ENTRY)
                        .bind(seq)
                        .bind(&entry.tenant_id)
                        .bind(&entry.id)
                        .bind(entry.at)
                        .bind(&entry.actor)
                        .bind(&entry.action)
                        .bind(&entry.target)
                        .bind(&summary)
                        .bind(&entry.request_id)
                        .bind(&entry.client_addr)
                        .bind(&prev_hash)
                        .bind(&hash)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| write_error(e, || format!("audit entry {}", entry.id)))?;
                    prev_hash = hash;
                }
                let moved = sqlx::query(queries::MOVE_HEAD)
                    .bind(head_seq)
                    .bind(seq)
                    .bind(&prev_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                if moved.rows_affected() != 1 {
                    // Cannot happen while the lock holds; refuse rather than fork the chain.
                    return Err(StoreError::Backend("the audit head moved during an append".into()));
                }
                tx.commit().await.map_err(backend)
            }

            async fn list_audit(
                &self,
                tenant_id: &str,
                filter: &AuditFilter,
                after_seq: Option<i64>,
                limit: u32,
            ) -> StoreResult<Vec<AuditEntry>> {
                sqlx::query_as::<_, AuditRow>(queries::LIST_ENTRIES)
                    .bind(tenant_id)
                    .bind(filter.actor.as_deref())
                    .bind(filter.target.as_deref())
                    .bind(filter.action.as_deref())
                    .bind(filter.from)
                    .bind(filter.to)
                    .bind(after_seq)
                    .bind(page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(AuditEntry::try_from)
                    .collect()
            }

            async fn verify_audit(&self) -> StoreResult<Result<u64, AuditBroken>> {
                // Entries appended after this read are left for the next verification.
                let (head_seq, head_hash): (i64, String) =
                    sqlx::query_as(queries::GET_HEAD).fetch_one(&self.pool).await.map_err(backend)?;
                let (mut last_seq, mut last_hash) = (0_i64, crate::store::AUDIT_GENESIS_HASH.to_owned());
                loop {
                    let rows = sqlx::query_as::<_, AuditRow>(queries::CHAIN_PAGE)
                        .bind(last_seq)
                        .bind(head_seq)
                        .bind(VERIFY_PAGE)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    if rows.is_empty() {
                        break;
                    }
                    for row in rows {
                        if let Err(broken) = check_link(&row, last_seq + 1, &last_hash) {
                            return Ok(Err(broken));
                        }
                        last_seq = row.seq;
                        last_hash = row.hash;
                    }
                }
                if last_seq != head_seq {
                    return Ok(Err(AuditBroken {
                        seq: last_seq + 1,
                        reason: format!("the entry is missing: the head is at seq {head_seq}"),
                    }));
                }
                if last_hash != head_hash {
                    return Ok(Err(AuditBroken {
                        seq: head_seq,
                        reason: "the hash differs from the one the head recorded".into(),
                    }));
                }
                Ok(Ok(u64::try_from(last_seq).unwrap_or_default()))
            }
        }
    };
}

impl_audit_store!(Sqlite);
impl_audit_store!(Postgres);
