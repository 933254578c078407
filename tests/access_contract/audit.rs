//! The audit log: appends chain every entry to the one before, `verify_audit` recomputes the
//! chain and names the first entry that was tampered with, concurrent appenders never fork it.

use tessera::store::{AUDIT_GENESIS_HASH, AuditBroken, AuditFilter, AuditHashInput, NewAuditEntry, StoreError};

use crate::store_support::TestDb;
use crate::{TENANT_A, TENANT_B};

contract_tests![
    audit_empty_log_verifies,
    audit_append_assigns_seq_and_chains_hashes,
    audit_list_filters_and_pages_within_a_tenant,
    audit_duplicate_id_appends_nothing,
    audit_verify_names_the_tampered_entry,
    audit_verify_detects_a_rewritten_hash,
    audit_verify_detects_a_rewritten_last_entry,
    audit_verify_detects_removed_entries,
    audit_concurrent_appends_keep_the_chain_valid,
];

/// An entry with a structured summary and every optional field set.
pub fn entry(tenant: &str, id: &str, at: i64, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        tenant_id: tenant.to_owned(),
        id: id.to_owned(),
        at,
        actor: "user:u-1".to_owned(),
        action: action.to_owned(),
        target: "role:r-1".to_owned(),
        summary: serde_json::json!({
            "name": "Viewer \"ü\"",
            "permissions": [1, 2],
            "nested": { "b": null, "a": true },
        }),
        request_id: Some(format!("req-{id}")),
        client_addr: Some("192.0.2.1".to_owned()),
    }
}

/// `n` entries of tenant A, ids `{prefix}-{i}`, at 100, 101, ...
fn entries(prefix: &str, n: usize) -> Vec<NewAuditEntry> {
    (0..n).map(|i| entry(TENANT_A, &format!("{prefix}-{i}"), 100 + i as i64, "role.update")).collect()
}

async fn audit_empty_log_verifies(db: &TestDb) {
    assert_eq!(db.audit.verify_audit().await.unwrap(), Ok(0));
    db.audit.append_batch(&[]).await.unwrap();
    assert_eq!(db.audit.verify_audit().await.unwrap(), Ok(0));
}

async fn audit_append_assigns_seq_and_chains_hashes(db: &TestDb) {
    let bare = NewAuditEntry { request_id: None, client_addr: None, ..entry(TENANT_B, "e-3", 103, "tenant.rename") };
    db.audit.append_batch(&entries("e", 2)).await.unwrap();
    db.audit.append_batch(std::slice::from_ref(&bare)).await.unwrap();
    db.audit.append_batch(&[entry(TENANT_A, "e-4", 104, "role.delete")]).await.unwrap();

    let a = db.audit.list_audit(TENANT_A, &AuditFilter::default(), None, 10).await.unwrap();
    let b = db.audit.list_audit(TENANT_B, &AuditFilter::default(), None, 10).await.unwrap();
    let mut all: Vec<_> = a.into_iter().chain(b).collect();
    all.sort_by_key(|e| e.seq);
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(all[0].prev_hash, AUDIT_GENESIS_HASH);
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "entry {} links to {}", pair[1].seq, pair[0].seq);
    }
    // Each entry round-trips, and its hash is the documented one.
    let third = &all[2];
    assert_eq!(
        (&third.tenant_id, &third.id, third.at, &third.action, &third.summary, &third.request_id, &third.client_addr),
        (&bare.tenant_id, &bare.id, bare.at, &bare.action, &bare.summary, &None, &None)
    );
    for e in &all {
        let summary = serde_json::to_string(&e.summary).unwrap();
        let expected = AuditHashInput {
            seq: e.seq,
            tenant_id: &e.tenant_id,
            id: &e.id,
            at: e.at,
            actor: &e.actor,
            action: &e.action,
            target: &e.target,
            summary_json: &summary,
            request_id: e.request_id.as_deref(),
            client_addr: e.client_addr.as_deref(),
            prev_hash: &e.prev_hash,
        }
        .hash();
        assert_eq!(e.hash, expected);
        assert_eq!(e.hash.len(), 64);
    }
    assert_eq!(db.audit.verify_audit().await.unwrap(), Ok(4));
}

async fn audit_list_filters_and_pages_within_a_tenant(db: &TestDb) {
    let mut batch = entries("a", 5);
    batch[1].actor = "user:u-2".into();
    batch[2].target = "group:g-1".into();
    batch[3].action = "group.delete".into();
    db.audit.append_batch(&batch).await.unwrap();
    db.audit.append_batch(&[entry(TENANT_B, "b-0", 102, "role.update")]).await.unwrap();

    let list = async |filter: AuditFilter, after: Option<i64>, limit: u32| -> Vec<i64> {
        db.audit.list_audit(TENANT_A, &filter, after, limit).await.unwrap().iter().map(|e| e.seq).collect()
    };
    assert_eq!(list(AuditFilter::default(), None, 10).await, [1, 2, 3, 4, 5]);
    assert_eq!(list(AuditFilter::default(), None, 2).await, [1, 2]);
    assert_eq!(list(AuditFilter::default(), Some(2), 2).await, [3, 4]);
    assert_eq!(list(AuditFilter::default(), Some(4), 2).await, [5]);
    assert_eq!(list(AuditFilter { actor: Some("user:u-2".into()), ..Default::default() }, None, 10).await, [2]);
    assert_eq!(list(AuditFilter { target: Some("group:g-1".into()), ..Default::default() }, None, 10).await, [3]);
    assert_eq!(
        list(AuditFilter { action: Some("role.update".into()), ..Default::default() }, None, 10).await,
        [1, 2, 3, 5]
    );
    // `from` inclusive, `to` exclusive (the entries are at 100..=104).
    assert_eq!(list(AuditFilter { from: Some(101), to: Some(103), ..Default::default() }, None, 10).await, [2, 3]);
    assert_eq!(
        list(AuditFilter { action: Some("role.update".into()), from: Some(101), ..Default::default() }, Some(2), 1)
            .await,
        [3]
    );
    assert!(list(AuditFilter { actor: Some("nobody".into()), ..Default::default() }, None, 10).await.is_empty());
    let b: Vec<String> = db
        .audit
        .list_audit(TENANT_B, &AuditFilter::default(), None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(b, ["b-0"]);
}

async fn audit_duplicate_id_appends_nothing(db: &TestDb) {
    db.audit.append_batch(&entries("e", 2)).await.unwrap();
    let mut batch = entries("f", 3);
    batch[2].id = "e-0".into();
    assert!(matches!(db.audit.append_batch(&batch).await, Err(StoreError::Conflict(_))));
    // Nothing of the batch is there, and the chain goes on from where it was.
    assert_eq!(db.audit.list_audit(TENANT_A, &AuditFilter::default(), None, 10).await.unwrap().len(), 2);
    db.audit.append_batch(&entries("g", 1)).await.unwrap();
    let last = db.audit.list_audit(TENANT_A, &AuditFilter::default(), Some(2), 10).await.unwrap();
    assert_eq!((last[0].seq, last[0].id.as_str()), (3, "g-0"));
    assert_eq!(db.audit.verify_audit().await.unwrap(), Ok(3));
}

async fn audit_verify_names_the_tampered_entry(db: &TestDb) {
    db.audit.append_batch(&entries("e", 3)).await.unwrap();
    db.audit.append_batch(&entries("f", 3)).await.unwrap();
    assert_eq!(db.audit.verify_audit().await.unwrap(), Ok(6));

    let changed = db.execute_raw("UPDATE audit_log SET summary = '{\"name\":\"Admin\"}' WHERE seq = 4").await;
    assert_eq!(changed, 1);
    let broken = db.audit.verify_audit().await.unwrap().expect_err("a tampered summary breaks the chain");
    assert_eq!(broken.seq, 4, "{broken}");
    assert!(broken.reason.contains("hash"), "{broken}");

    // Any field counts: here the actor of the first entry.
    db.execute_raw("UPDATE audit_log SET actor = 'user:someone-else' WHERE seq = 1").await;
    assert_eq!(db.audit.verify_audit().await.unwrap().unwrap_err().seq, 1);
}

/// Rewrites entry `seq` with a new target and a hash recomputed to match it, as a forger
/// who knows the hash function would.
async fn forge(db: &TestDb, seq: i64, target: &str) {
    let entry = db.audit.list_audit(TENANT_A, &AuditFilter::default(), Some(seq - 1), 1).await.unwrap().remove(0);
    let summary = serde_json::to_string(&entry.summary).unwrap();
    let hash = AuditHashInput {
        seq,
        tenant_id: &entry.tenant_id,
        id: &entry.id,
        at: entry.at,
        actor: &entry.actor,
        action: &entry.action,
        target,
        summary_json: &summary,
        request_id: entry.request_id.as_deref(),
        client_addr: entry.client_addr.as_deref(),
        prev_hash: &entry.prev_hash,
    }
    .hash();
    let changed =
        db.execute_raw(&format!("UPDATE audit_log SET target = '{target}', hash = '{hash}' WHERE seq = {seq}")).await;
    assert_eq!(changed, 1);
}

async fn audit_verify_detects_a_rewritten_hash(db: &TestDb) {
    db.audit.append_batch(&entries("e", 5)).await.unwrap();
    // An entry rewritten with a matching hash breaks the link of the next one...
    forge(db, 2, "role:admin").await;
    let broken = db.audit.verify_audit().await.unwrap().unwrap_err();
    assert_eq!(broken.seq, 3, "{broken}");
    assert!(broken.reason.contains("prev_hash"), "{broken}");
}

async fn audit_verify_detects_a_rewritten_last_entry(db: &TestDb) {
    db.audit.append_batch(&entries("e", 5)).await.unwrap();
    // ...and the last entry, which has no next one, is checked against the head.
    forge(db, 5, "role:admin").await;
    let broken = db.audit.verify_audit().await.unwrap().unwrap_err();
    assert_eq!(broken.seq, 5, "{broken}");
    assert!(broken.reason.contains("head"), "{broken}");
}

async fn audit_verify_detects_removed_entries(db: &TestDb) {
    db.audit.append_batch(&entries("e", 5)).await.unwrap();
    db.execute_raw("DELETE FROM audit_log WHERE seq = 3").await;
    assert_eq!(
        db.audit.verify_audit().await.unwrap(),
        Err(AuditBroken { seq: 3, reason: "the entry is missing".into() })
    );
    // Removing the tail is caught by the head.
    db.execute_raw("DELETE FROM audit_log WHERE seq >= 3").await;
    let broken = db.audit.verify_audit().await.unwrap().unwrap_err();
    assert_eq!(broken.seq, 3, "{broken}");
}

async fn audit_concurrent_appends_keep_the_chain_valid(db: &TestDb) {
    const WRITERS: usize = 8;
    const BATCHES: usize = 10;
    const PER_BATCH: usize = 3;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let audit = db.audit.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0..BATCHES {
                let entries = entries(&format!("w{writer}-b{batch}"), PER_BATCH);
                audit.append_batch(&entries).await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }
    let total = WRITERS * BATCHES * PER_BATCH;
    assert_eq!(db.audit.verify_audit().await.unwrap(), Ok(total as u64));
    let all = db.audit.list_audit(TENANT_A, &AuditFilter::default(), None, 1000).await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=total as i64).collect::<Vec<_>>());
    // Each batch stayed contiguous: appends never interleave.
    for chunk in all.chunks(PER_BATCH) {
        let prefix = chunk[0].id.rsplit_once('-').unwrap().0;
        assert!(chunk.iter().all(|e| e.id.rsplit_once('-').unwrap().0 == prefix), "batch split: {chunk:?}");
    }
}
