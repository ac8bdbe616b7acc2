//! Write turns and the journal queue: how this process's writers take turns at SQLite's one
//! write lock ([`WriteTurns`]), and the group commit ([`JournalQueue`]) through which
//! [`StateStore::record_intents`](crate::StateStore::record_intents) journals intents.

use sqlx::query;

use super::commit::upsert_intents;
use super::{SqliteStore, db};
use crate::{Intent, StoreError};

/// A caller's intents, and where to answer whether they are durable.
pub(super) type QueuedIntents = (Vec<Intent>, tokio::sync::oneshot::Sender<Result<(), StoreError>>);

/// Group commit of the journal. Every `record_intents` must be flushed to disk before it returns,
/// and a flush costs milliseconds here, under SQLite's one write lock: with many users syncing at
/// once, their journal writes queued behind each other's flushes. A caller queues its intents
/// here, then waits for its write turn; the caller whose turn comes writes every queued caller's
/// intents in one transaction and one flush, and answers them all. Intents recorded by a
/// caller that then gave up waiting are still journaled: recovery settles an intent that was
/// never sent, as after a crash before the send.
#[derive(Debug, Clone, Default)]
pub(super) struct JournalQueue {
    pub(super) queued: std::sync::Arc<std::sync::Mutex<Vec<QueuedIntents>>>,
    /// Transactions that carried more than one caller's intents, for tests.
    #[cfg(test)]
    pub(super) joint: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl JournalQueue {
    /// Queues `intents`; the receiver gets the outcome of the transaction that carries them.
    pub(super) fn push(&self, intents: Vec<Intent>) -> tokio::sync::oneshot::Receiver<Result<(), StoreError>> {
        let (answer, outcome) = tokio::sync::oneshot::channel();
        self.queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((intents, answer));
        outcome
    }

    /// Everything queued so far, leaving the queue empty.
    pub(super) fn take(&self) -> Vec<QueuedIntents> {
        std::mem::take(&mut *self.queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// Writers of one store (and its clones) take turns here, first come first served, before they
/// take a connection and begin a write transaction.
///
/// SQLite lets one transaction write at a time. Without this queue a writer that finds the lock
/// taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 … up to 100 ms between tries
/// (so the lock sits idle while waiters sleep, and later writers can overtake earlier ones), on a
/// pool connection that readers then cannot use (with 32 users syncing at once, a profile showed
/// those sleeps under `sqlite3_exec`). Writers in other processes still meet the busy timeout, as
/// before.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteTurns(std::sync::Arc<tokio::sync::Mutex<()>>);

impl WriteTurns {
    /// Waits for this writer's turn; the turn ends when the guard is dropped (after the commit or
    /// rollback: declare the guard before the transaction, so it is dropped after it).
    pub(crate) async fn wait(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.lock().await
    }
}

impl SqliteStore {
    /// Writes the queued callers' intents in one fully synced transaction (one flush to disk for
    /// all of them), and answers each caller. Should that fail, each caller's intents are written
    /// alone, so that one caller's bad intent fails only that caller.
    pub(super) async fn write_journal_groups(&self, mut queued: Vec<QueuedIntents>) {
        if queued.len() == 1 {
            let (intents, answer) = queued.swap_remove(0);
            let _ = answer.send(self.write_intents_synced(&intents).await);
            return;
        }
        let lens: Vec<usize> = queued.iter().map(|(intents, _)| intents.len()).collect();
        let mut all = Vec::with_capacity(lens.iter().sum());
        for (intents, _) in &mut queued {
            all.append(intents);
        }
        #[cfg(test)]
        self.journal_queue.joint.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.write_intents_synced(&all).await.is_ok() {
            for (_, answer) in queued {
                let _ = answer.send(Ok(()));
            }
            return;
        }
        // Nothing of the joint transaction was stored: each caller's intents on their own.
        let mut rest = all.into_iter();
        for ((_, answer), len) in queued.into_iter().zip(lens) {
            let intents: Vec<Intent> = rest.by_ref().take(len).collect();
            let _ = answer.send(self.write_intents_synced(&intents).await);
        }
    }

    /// One transaction of intents, synced fully: the journal must survive a power cut, not only a
    /// crash (`synchronous = FULL` flushes the WAL at commit); the pool's setting is restored after.
    async fn write_intents_synced(&self, intents: &[Intent]) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db("record_intents"))?;
        query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await
            .map_err(db("record_intents: PRAGMA synchronous"))?;
        let result = upsert_intents(&mut conn, intents).await;
        if let Err(e) = query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await {
            tracing::warn!(error = %e, "could not restore synchronous = NORMAL; dropping the connection");
            conn.close_on_drop();
        }
        result
    }
}
