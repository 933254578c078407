//! The audit writer: request handlers hand entries to a channel and go on; one task writes
//! them in batches (one transaction each) to the hash-chained audit store. `flush` waits until
//! everything handed over so far is stored: the server calls it on graceful shutdown, so no
//! entry is lost.
//!
//! Every issued token is audited, so under load the writer sees thousands of entries a
//! second. A transaction costs several round trips to the database on top of one per entry,
//! so the writer lingers up to [`LINGER`] after the first entry of a batch to gather more:
//! batches grow with the load instead of staying at one or two entries, and the transaction
//! overhead per entry shrinks accordingly. A flush request ends the wait at once. Entry ids
//! grow with time ([`new_entry_id`]): with random ids every insert dirtied a random page of
//! the ids' unique index, and in a log of a million entries that cost about a third of the
//! token throughput (measured over HTTP on SQLite).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::store::{AuditStore, NewAuditEntry};

const BATCH: usize = 256;
const CHANNEL: usize = 65_536;
/// How long the writer waits for more entries before it writes a batch that is not full.
pub const LINGER: Duration = Duration::from_millis(2);

/// How often tallied events ([`AuditLog::tally`]) become entries.
pub const TALLY_WINDOW: Duration = Duration::from_secs(5);
/// How many request ids (and other samples) a tallied entry keeps.
const TALLY_SAMPLES: usize = 5;

/// Events of one kind, from one key, counted between two flushes of the tallies.
struct Tally {
    entry: NewAuditEntry,
    count: u64,
    last_at: i64,
    samples: Vec<serde_json::Value>,
}

enum Msg {
    Entry(Box<NewAuditEntry>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the audit writer; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    tallies: Arc<std::sync::Mutex<std::collections::HashMap<String, Tally>>>,
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn AuditStore>) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(run(store, rx));
        let log = Self { tx, tallies: Default::default() };
        // Tallies become entries every window; the task ends with the last handle.
        let weak = Arc::downgrade(&log.tallies);
        let tx = log.tx.downgrade();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TALLY_WINDOW);
            tick.tick().await;
            loop {
                tick.tick().await;
                let (Some(tallies), Some(tx)) = (weak.upgrade(), tx.upgrade()) else { break };
                AuditLog { tx, tallies }.drain_tallies().await;
            }
        });
        log
    }

    /// Counts a high-volume event (a machine grant's token, a refused request) instead of
    /// writing it at once: events with the same `key` within [`TALLY_WINDOW`] become one
    /// entry, the first one's, with `count`, `first_at`, `last_at` and up to five `samples`
    /// (request ids, token ids) added to its summary. Nothing is lost: every event is counted,
    /// and [`AuditLog::flush`] writes the open tallies. The request path pays a hash-map
    /// update, not a database row.
    pub fn tally(&self, key: String, entry: NewAuditEntry, sample: serde_json::Value) {
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        match tallies.get_mut(&key) {
            Some(t) => {
                t.count += 1;
                t.last_at = t.last_at.max(entry.at);
                if t.samples.len() < TALLY_SAMPLES && !sample.is_null() {
                    t.samples.push(sample);
                }
            }
            None => {
                let samples = if sample.is_null() { vec![] } else { vec![sample] };
                tallies.insert(key, Tally { last_at: entry.at, entry, count: 1, samples });
            }
        }
    }

    /// Turns the open tallies into entries.
    async fn drain_tallies(&self) {
        let drained: Vec<Tally> = {
            let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
            tallies.drain().map(|(_, t)| t).collect()
        };
        for t in drained {
            let mut entry = t.entry;
            if let serde_json::Value::Object(summary) = &mut entry.summary {
                summary.insert("count".into(), t.count.into());
                summary.insert("first_at".into(), entry.at.into());
                summary.insert("last_at".into(), t.last_at.into());
                summary.insert("samples".into(), t.samples.into());
            }
            entry.at = t.last_at;
            self.record(entry).await;
        }
    }

    /// Records an entry. Waits only if the writer is more than 65,536 entries behind.
    pub async fn record(&self, entry: NewAuditEntry) {
        if self.tx.send(Msg::Entry(Box::new(entry))).await.is_err() {
            tracing::error!("audit writer stopped: an audit entry could not be recorded");
        }
    }

    /// Waits until every entry recorded (and every event tallied) before this call is stored.
    pub async fn flush(&self) {
        self.drain_tallies().await;
        self.written().await;
    }

    /// Waits until every entry recorded before this call is stored (tallies stay open): a
    /// page that shows a person's own history reads it after this, so the sign-in that led to
    /// the page is on it.
    pub async fn written(&self) {
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
        let deadline = Instant::now() + LINGER;
        let mut next = Some(first);
        // Take what is queued, then what comes within the linger time, up to a batch; a flush
        // request writes at once.
        while let Some(msg) = next.take() {
            match msg {
                Msg::Entry(e) => batch.push(*e),
                Msg::Flush(a) => acks.push(a),
            }
            if batch.len() >= BATCH || !acks.is_empty() {
                break;
            }
            next = match rx.try_recv() {
                Ok(msg) => Some(msg),
                Err(mpsc::error::TryRecvError::Empty) => {
                    tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten()
                }
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            };
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

/// A new audit entry id: the time in microseconds (14 hex digits), then 11 random characters
/// (8 bytes, base64url). Ids grow with time, so their unique index is appended to instead of
/// being written all over, and they stay unique across processes.
pub fn new_entry_id() -> String {
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    format!("{micros:014x}{}", crate::crypto::random_token(8))
}

#[cfg(test)]
mod tests {
    use super::new_entry_id;

    #[test]
    fn entry_ids_grow_with_time_and_differ() {
        let a = new_entry_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_entry_id();
        assert_eq!((a.len(), b.len()), (25, 25));
        assert!(a < b, "{a} {b}");
        assert_ne!(new_entry_id(), new_entry_id());
    }
}
