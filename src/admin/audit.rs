//! The audit writer: request handlers hand entries to a channel and go on; one task writes
//! them in batches (one transaction each) to the hash-chained audit store. `flush` waits until
//! everything handed over so far is stored: the server calls it on graceful shutdown, so no
//! entry is lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::store::{AuditStore, NewAuditEntry};

const BATCH: usize = 256;
const CHANNEL: usize = 65_536;

enum Msg {
    Entry(Box<NewAuditEntry>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the audit writer; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn AuditStore>) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(run(store, rx));
        Self { tx }
    }

    /// Records an entry. Waits only if the writer is more than 65,536 entries behind.
    pub async fn record(&self, entry: NewAuditEntry) {
        if self.tx.send(Msg::Entry(Box::new(entry))).await.is_err() {
            tracing::error!("audit writer stopped: an audit entry could not be recorded");
        }
    }

    /// Waits until every entry recorded before this call is stored.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn run(store: Arc<dyn AuditStore>, mut rx: mpsc::Receiver<Msg>) {
    let mut batch: Vec<NewAuditEntry> = Vec::with_capacity(BATCH);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        // Take what is already queued, up to a batch.
        while let Some(msg) = next.take() {
            match msg {
                Msg::Entry(e) => batch.push(*e),
                Msg::Flush(a) => acks.push(a),
            }
            if batch.len() >= BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            write(&*store, &mut batch).await;
        }
        for a in acks.drain(..) {
            let _ = a.send(());
        }
    }
    if !batch.is_empty() {
        write(&*store, &mut batch).await;
    }
}

/// Writes a batch, retrying while the database is unreachable: entries are kept, not dropped.
async fn write(store: &dyn AuditStore, batch: &mut Vec<NewAuditEntry>) {
    let mut delay = Duration::from_millis(50);
    loop {
        match store.append_batch(batch).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(crate::store::StoreError::Conflict(_)) => {
                // Only an entry id already stored conflicts: a retry of a batch that was in
                // fact committed. Nothing is missing.
                batch.clear();
                return;
            }
            Err(e) => {
                tracing::error!(cause = %e, entries = batch.len(), "audit write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
