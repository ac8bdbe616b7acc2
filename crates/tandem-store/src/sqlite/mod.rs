//! [`SqliteStore`]: the embedded SQLite [`StateStore`].
//!
//! Schema (version [`SCHEMA_VERSION`]; see `MIGRATIONS`). Every table is keyed by `user_id`
//! first, so one user's rows are contiguous and a reset touches nothing else.
//!
//! | table | key | holds |
//! | --- | --- | --- |
//! | `schema_version` | `version` | one row per applied migration |
//! | `pairs` | `(user_id, object, pair_id)`, unique `(user_id, object, crm_id)` and `(user_id, object, mailbox_id)` | per side: id, version, field prints; `synced_at`, `tombstone` |
//! | `pair_counts` | `(user_id, object)` | `live`: the number of pairs without a tombstone, kept by triggers on `pairs` |
//! | `cursors` | `(user_id, object, side)` | the opaque cursor (BLOB) |
//! | `journal` | `seq`, unique `(user_id, intent_key)` | pending intents: object, target, operation (JSON), `created_at` |
//! | `quarantine` | `(user_id, object, side, record_id)` | reason, `since`, detail (JSON) |
//! | `refetch` | `seq`, unique `(user_id, object, side, record_id)` | records to re-read |
//! | `audit` | `id`, indexes `(user_id, at)` and `(at)` | the audit log |
//! | `status` | `user_id` | last cycle, last success, last error, failure count |
//! | `unresolved` | `(user_id, object, side, record_id, kind, subject)` | field, detail, `since`, `checked_at` |
//! | `cycles` | `id`, index `(user_id, id)` | cycle history: object, `started_at`, `finished_at`, `dry_run`, outcome, counts (JSON), operations (JSON, at most 200), the newest 50 per user |
//!
//! | `feeds`, `feed_members`, `feed_inbox` | see the `feed` module | organization feeds (version 6) |
//!
//! `quarantine.approved_by`/`approved_at` (version 5) mark an entry an administrator approved
//! (a held delete to let through). They live in their own columns, not in `detail`, because a
//! cycle re-quarantining the entry replaces `detail` and must not drop an approval made
//! meanwhile; they are read back merged into the entry's `detail` (`"approved": true`,
//! `"approved_by"`, `"approved_at"`).
//!
//! Encodings (timestamps, field prints) are described in the `codec` module: timestamps are
//! fixed-width RFC 3339 text, field prints a JSON object of 16-digit hex strings.
//!
//! `pair_counts` exists so that [`StateStore::pair_count`], which every cycle reads for the
//! mass-delete guard, is one indexed row instead of a `COUNT(*)` over all of a user's pairs
//! (SQLite keeps no row counts: that scan grew with the number of pairs, to about a third of a
//! second per cycle at a million). Triggers on `pairs` maintain it in the same transaction as every insert, update and
//! delete of a pair, whichever statement makes it (upserts, removals, resets).
//!
//! Writes that read-then-write take the write lock up front (`BEGIN IMMEDIATE`) so concurrent
//! writers wait on the busy timeout instead of failing on a lock upgrade.
//!
//! Layout: `schema` holds the migrations, `commit` the writes of a cycle's commit (pairs,
//! intents, audit), `decode` the reading of rows back into the trait's types; the store, its
//! trait methods and the error mapping live here.

mod commit;
mod schema;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, query, query_scalar};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Cursor, PairId, PairState, RecordId, Side};

pub(crate) use self::commit::{BATCH_ROWS, SqliteQuery, batch_sql, validate_commit};
use self::commit::{apply_commit, delete_intents, insert_audit, upsert_intents};
use crate::codec::ts;
use crate::rows as decode;
use crate::{
    AuditEntry, CYCLES_KEPT_PER_USER, CycleCommit, CycleRecord, Intent, QuarantineEntry, StateStore, StoreError,
    UnresolvedEntry, UserId, UserStatus,
};

/// The schema version this build writes and understands. A database at a higher version is
/// refused with [`StoreError::Migration`].
pub const SCHEMA_VERSION: i64 = 8;

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in a file-backed pool: WAL lets readers run beside the one writer.
const MAX_CONNECTIONS: u32 = 8;

/// Each connection's page cache: 512 KiB (negative: in KiB), a quarter of SQLite's default.
/// In WAL mode a connection's cache is dropped whenever another connection has written since
/// its last transaction, so with a pool of writers taking turns a large cache is rarely warm;
/// what it did cost was resident memory, each connection's pages held in its own worker
/// thread's allocator arena: 7 to 8 MiB of a first sync's 81 MiB peak in the vdir benchmark.
/// Measured 2026-12-07 (`benches/cycle.rs`, the two sizes alternated): the changed cycle over
/// 10,000 pairs took 78–92 ms against 79–84 ms for 1,000 changes and 0.88–0.95 s against
/// 0.87–0.94 s for 10,000; the no-change cycle at 1,000,000 pairs 2.6–2.8 ms against 2.1–2.7 ms
/// (medians; 2,000 KiB first); `benches/scale.rs` with 200 users (org feed, shared Graph
/// batches, 32 users at once, three timed rounds per run, two runs each, alternated): rounds of
/// 0.91–1.23 s with the commit at 11–17% of the cycle time against 0.89–1.14 s and 10–14%. No
/// difference beyond this machine's noise. What it does cost, counted with `valgrind
/// --tool=callgrind` (`changed_cycle --sample-count 2`): transactions larger than the cache
/// spill dirty pages early (`pagerStress`, 1.5% of the run's instructions, most of it in the
/// benchmark's seeding by commits of 50,000 pairs); the engine's cycles took 4.706 billion
/// instructions against 4.703 with 2 MiB, their commits 0.991 against 0.974 billion.
const CACHE_SIZE: &str = "-512";

/// Ids per `IN (…)` list: far below SQLite's variable limit (32,766 since 3.32, 999 before).
const IN_CHUNK: usize = 500;

/// Audit rows read per page when exporting.
const EXPORT_PAGE: i64 = 1_000;

// The columns `decode::pair` reads, in a macro so they can be `concat!`ed into static SQL.
macro_rules! pair_columns {
    () => {
        "pair_id, object, crm_id, crm_version, crm_fields, mailbox_id, mailbox_version, \
         mailbox_fields, synced_at, tombstone"
    };
}

macro_rules! audit_columns {
    () => {
        "id, at, user_id, object, side, record_id, action, outcome, reason, detail"
    };
}

/// The live pairs of a user and object: kept by triggers on `pairs`, so one indexed row however
/// many pairs there are.
const PAIR_COUNT: &str = "SELECT live FROM pair_counts WHERE user_id = ? AND object = ?";

// Deleting the pairs brings their counts to zero (triggers); the zero rows go after them.
const RESET_ALL: [&str; 7] = [
    "DELETE FROM pairs WHERE user_id = ?",
    "DELETE FROM unresolved WHERE user_id = ?",
    "DELETE FROM pair_counts WHERE user_id = ?",
    "DELETE FROM cursors WHERE user_id = ?",
    "DELETE FROM refetch WHERE user_id = ?",
    "DELETE FROM quarantine WHERE user_id = ?",
    "DELETE FROM journal WHERE user_id = ?",
];

const RESET_OBJECT: [&str; 7] = [
    "DELETE FROM pairs WHERE user_id = ? AND object = ?",
    "DELETE FROM unresolved WHERE user_id = ? AND object = ?",
    "DELETE FROM pair_counts WHERE user_id = ? AND object = ?",
    "DELETE FROM cursors WHERE user_id = ? AND object = ?",
    "DELETE FROM refetch WHERE user_id = ? AND object = ?",
    "DELETE FROM quarantine WHERE user_id = ? AND object = ?",
    "DELETE FROM journal WHERE user_id = ? AND object = ?",
];

/// The embedded SQLite [`StateStore`]: one database file (WAL mode) holding every user's state.
///
/// Cheap to clone: clones share one connection pool.
/// Its [`Claims`](crate::Claims) are held in this process (shared by every `SqliteStore` of the
/// same file here): SQLite means one worker process.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// What claims are scoped to: the file, or this in-memory database.
    claim_scope: std::sync::Arc<str>,
    /// The background checkpointer of a file database, stopped when the last clone is dropped.
    _checkpointer: Option<std::sync::Arc<Checkpointer>>,
    /// Where this process's writers queue for SQLite's one write lock (see [`WriteTurns`]).
    pub(crate) write_turns: WriteTurns,
    /// Intents waiting to be journaled together (see [`JournalQueue`]).
    journal_queue: JournalQueue,
}

/// A caller's intents, and where to answer whether they are durable.
type QueuedIntents = (Vec<Intent>, tokio::sync::oneshot::Sender<Result<(), StoreError>>);

/// Group commit of the journal. Every `record_intents` must be flushed to disk before it returns,
/// and a flush costs milliseconds here, under SQLite's one write lock: with many users syncing at
/// once, their journal writes queued behind each other's flushes. A caller queues its intents
/// here, then waits for its write turn; the caller whose turn comes writes every queued caller's
/// intents in one transaction and one flush, and answers them all. Intents recorded by a
/// caller that then gave up waiting are still journaled: recovery settles an intent that was
/// never sent, as after a crash before the send.
#[derive(Debug, Clone, Default)]
struct JournalQueue {
    queued: std::sync::Arc<std::sync::Mutex<Vec<QueuedIntents>>>,
    /// Transactions that carried more than one caller's intents, for tests.
    #[cfg(test)]
    joint: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl JournalQueue {
    /// Queues `intents`; the receiver gets the outcome of the transaction that carries them.
    fn push(&self, intents: Vec<Intent>) -> tokio::sync::oneshot::Receiver<Result<(), StoreError>> {
        let (answer, outcome) = tokio::sync::oneshot::channel();
        self.queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((intents, answer));
        outcome
    }

    /// Everything queued so far, leaving the queue empty.
    fn take(&self) -> Vec<QueuedIntents> {
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

/// How often the background task copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// WAL pages after which a commit checkpoints by itself (SQLite's default is 1,000): only when the
/// background checkpointer falls behind. About 40 MB.
const WAL_AUTOCHECKPOINT_PAGES: &str = "10000";

/// Checkpoints a file database's WAL in the background, so that commits do not. With SQLite's
/// default, a commit that takes the WAL past 1,000 pages copies it into the database file and
/// syncs it before returning, and a commit of 1,000 pairs did that nearly every time (11 ms of a
/// 1,000-change cycle's commit, against 4 ms without; `benches/cycle.rs`). A `PASSIVE` checkpoint
/// once a second takes no lock a writer waits for, and copies each page once however many
/// commits wrote it in between. The task ends when the store is dropped or closed.
#[derive(Debug)]
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    /// Starts checkpointing `pool`'s database; `None` outside a Tokio runtime, where commits keep
    /// checkpointing by themselves.
    fn start(pool: SqlitePool) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(Checkpointer(runtime.spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if pool.is_closed() {
                    break;
                }
                if let Err(e) = query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                    if pool.is_closed() {
                        break;
                    }
                    // Commits still checkpoint past `WAL_AUTOCHECKPOINT_PAGES`.
                    tracing::debug!(error = %e, "background WAL checkpoint failed; will retry");
                }
            }
        })))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if missing) the database at `path`, and
    /// migrates its schema to [`SCHEMA_VERSION`].
    ///
    /// The database runs in WAL journal mode with `synchronous = NORMAL` (a commit survives a
    /// crash of the process; the journal of intents is synced fully, see
    /// [`StateStore::record_intents`]), foreign keys on, a busy timeout of 10 s and a page cache
    /// of 512 KiB per connection (a quarter of SQLite's default; why in the source). Inside a Tokio
    /// runtime a background task checkpoints the WAL once a second, so that commits do not wait
    /// for it (they still do past about 40 MB of WAL).
    ///
    /// Fails with [`StoreError::Migration`] if the database was written by a newer Tandem.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Io(format!("creating directory {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Statement journals (every multi-row upsert inside a transaction keeps one) in
            // memory rather than in temporary files: they were a tenth of a large commit.
            .pragma("temp_store", "memory")
            // The background checkpointer does this; commits only past this many pages.
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .pragma("cache_size", CACHE_SIZE);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| map_sqlx(&format!("opening {}", path.display()), e))?;
        let scope = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let checkpointer = Checkpointer::start(pool.clone()).map(std::sync::Arc::new);
        let store = SqliteStore {
            pool,
            claim_scope: format!("file:{}", scope.display()).into(),
            _checkpointer: checkpointer,
            write_turns: WriteTurns::default(),
            journal_queue: JournalQueue::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A fresh, private in-memory database, for tests and dry runs. It lives on one connection
    /// that the pool never closes, so it lasts as long as the store (and its clones).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().filename(":memory:").foreign_keys(true).busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db("opening an in-memory database"))?;
        static MEMORY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = MEMORY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // No WAL in memory: nothing to checkpoint.
        let store = SqliteStore {
            pool,
            claim_scope: format!("memory:{n}").into(),
            _checkpointer: None,
            write_turns: WriteTurns::default(),
            journal_queue: JournalQueue::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Writes the queued callers' intents in one fully synced transaction (one flush to disk for
    /// all of them), and answers each caller. Should that fail, each caller's intents are written
    /// alone, so that one caller's bad intent fails only that caller.
    async fn write_journal_groups(&self, mut queued: Vec<QueuedIntents>) {
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

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> = query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&self.pool)
            .await
            .map_err(db("reading the schema version"))?;
        Ok(version.unwrap_or(0))
    }

    /// Closes every connection, waiting for queries in flight. Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Inserts or replaces a user's status row.
async fn upsert_status(conn: &mut sqlx::SqliteConnection, status: &UserStatus) -> Result<(), StoreError> {
    query(
        "INSERT INTO status (user_id, last_cycle_at, last_success_at, last_error, consecutive_failures, \
             ambiguous_matches) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET last_cycle_at = excluded.last_cycle_at, \
             last_success_at = excluded.last_success_at, last_error = excluded.last_error, \
             consecutive_failures = excluded.consecutive_failures, ambiguous_matches = excluded.ambiguous_matches",
    )
    .bind(&status.user)
    .bind(status.last_cycle_at.as_ref().map(ts))
    .bind(status.last_success_at.as_ref().map(ts))
    .bind(status.last_error.as_deref())
    .bind(i64::from(status.consecutive_failures))
    .bind(i64::from(status.ambiguous_matches))
    .execute(&mut *conn)
    .await
    .map_err(db("set_status"))?;
    Ok(())
}

/// Appends cycles to their users' histories and deletes each user's oldest beyond
/// [`CYCLES_KEPT_PER_USER`].
async fn insert_cycles(conn: &mut sqlx::SqliteConnection, records: &[CycleRecord]) -> Result<(), StoreError> {
    for record in records {
        let (counts, operations) = crate::codec::cycle_json(record)?;
        query(
            "INSERT INTO cycles (user_id, object, started_at, finished_at, dry_run, outcome, counts, operations, \
             operations_omitted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&record.user)
        .bind(record.object.as_str())
        .bind(ts(&record.started_at))
        .bind(ts(&record.finished_at))
        .bind(record.dry_run)
        .bind(&record.outcome)
        .bind(counts)
        .bind(operations)
        .bind(i64::try_from(record.operations_omitted).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await
        .map_err(db("record_cycle"))?;
    }
    let mut users: Vec<&str> = records.iter().map(|r| r.user.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    for user in users {
        query(
            "DELETE FROM cycles WHERE user_id = ? AND id <= \
             (SELECT id FROM cycles WHERE user_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
        )
        .bind(user)
        .bind(user)
        .bind(i64::try_from(CYCLES_KEPT_PER_USER).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await
        .map_err(db("record_cycle: pruning"))?;
    }
    Ok(())
}

#[async_trait]
impl crate::Claims for SqliteStore {
    /// In this process's memory: see the `claims` module.
    async fn try_claim(&self, user: &str) -> Result<Option<crate::Claim>, StoreError> {
        Ok(crate::claims::claim_local(&self.claim_scope, user))
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn pairs_by_record(
        &self,
        user: &str,
        object: ObjectKind,
        side: Side,
        ids: &[RecordId],
    ) -> Result<Vec<PairState>, StoreError> {
        let mut ids: Vec<&str> = ids.iter().map(RecordId::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.acquire().await.map_err(db("pairs_by_record"))?;
        let mut pairs = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let mut q = query(AssertSqlSafe(pairs_by_record_sql(side, chunk.len()))).bind(user).bind(object.as_str());
            for id in chunk {
                q = q.bind(*id);
            }
            let rows = q.fetch_all(&mut *conn).await.map_err(db("pairs_by_record"))?;
            for row in &rows {
                pairs.push(decode::pair(row)?);
            }
        }
        Ok(pairs)
    }

    async fn pair(&self, user: &str, object: ObjectKind, pair: &PairId) -> Result<Option<PairState>, StoreError> {
        let row =
            query(concat!("SELECT ", pair_columns!(), " FROM pairs WHERE user_id = ? AND object = ? AND pair_id = ?"))
                .bind(user)
                .bind(object.as_str())
                .bind(pair.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(db("pair"))?;
        row.as_ref().map(decode::pair).transpose()
    }

    async fn pair_count(&self, user: &str, object: ObjectKind) -> Result<usize, StoreError> {
        // No row: no live pair was ever stored (or the user was reset).
        let n: i64 = query_scalar(PAIR_COUNT)
            .bind(user)
            .bind(object.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("pair_count"))?
            .unwrap_or(0);
        usize::try_from(n).map_err(|_| StoreError::Database(format!("pair_count: impossible count {n}")))
    }

    async fn all_pairs(&self, user: &str, object: ObjectKind) -> Result<Vec<PairState>, StoreError> {
        let rows =
            query(concat!("SELECT ", pair_columns!(), " FROM pairs WHERE user_id = ? AND object = ? ORDER BY pair_id"))
                .bind(user)
                .bind(object.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(db("all_pairs"))?;
        rows.iter().map(decode::pair).collect()
    }

    async fn cursor(&self, user: &str, object: ObjectKind, side: Side) -> Result<Option<Cursor>, StoreError> {
        let bytes: Option<Vec<u8>> =
            query_scalar("SELECT cursor FROM cursors WHERE user_id = ? AND object = ? AND side = ?")
                .bind(user)
                .bind(object.as_str())
                .bind(side.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| map_sqlx(&format!("{side} {object} cursor"), e))?;
        Ok(bytes.map(Cursor))
    }

    async fn record_intents(&self, intents: &[Intent]) -> Result<(), StoreError> {
        if intents.is_empty() {
            return Ok(());
        }
        let mut written = self.journal_queue.push(intents.to_vec());
        let cancelled = || {
            Err(StoreError::Database("record_intents: the journal write carrying these intents was cancelled".into()))
        };
        // A writer ahead in the queue may carry these intents before this one's turn comes.
        let turn = tokio::select! {
            biased;
            outcome = &mut written => return outcome.unwrap_or_else(|_| cancelled()),
            turn = self.write_turns.wait() => turn,
        };
        let queued = self.journal_queue.take();
        if !queued.is_empty() {
            self.write_journal_groups(queued).await;
        }
        drop(turn);
        // Written by now, by this writer or by one ahead of it in the queue (which answers
        // before its turn ends); a dropped answer means that writer was cancelled mid-write.
        written.await.unwrap_or_else(|_| cancelled())
    }

    async fn pending_intents(&self, user: &str) -> Result<Vec<Intent>, StoreError> {
        let rows = query(
            "SELECT user_id, intent_key, object, target, operation, created_at FROM journal \
             WHERE user_id = ? ORDER BY created_at, seq",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(db("pending_intents"))?;
        rows.iter().map(decode::intent).collect()
    }

    async fn resolve_intents(&self, user: &str, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("resolve_intents"))?;
        delete_intents(&mut tx, user, keys).await?;
        tx.commit().await.map_err(db("resolve_intents: commit"))
    }

    async fn refetch_queue(&self, user: &str, object: ObjectKind, side: Side) -> Result<Vec<RecordId>, StoreError> {
        let ids: Vec<String> =
            query_scalar("SELECT record_id FROM refetch WHERE user_id = ? AND object = ? AND side = ? ORDER BY seq")
                .bind(user)
                .bind(object.as_str())
                .bind(side.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(|e| map_sqlx(&format!("{side} {object} refetch queue"), e))?;
        Ok(ids.into_iter().map(RecordId).collect())
    }

    async fn commit_cycle(&self, user: &str, object: ObjectKind, commit: CycleCommit) -> Result<(), StoreError> {
        validate_commit(user, object, &commit)?;
        if commit.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("commit_cycle: begin"))?;
        // On error the transaction is dropped, which rolls it back.
        apply_commit(&mut tx, user, object, &commit).await?;
        tx.commit().await.map_err(db("commit_cycle: commit"))?;
        tracing::debug!(
            user,
            %object,
            upserted = commit.upsert_pairs.len(),
            removed = commit.remove_pairs.len(),
            audit = commit.audit.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "committed cycle"
        );
        Ok(())
    }

    async fn unresolved(&self, user: &str) -> Result<Vec<UnresolvedEntry>, StoreError> {
        let rows = query(
            "SELECT user_id, object, side, record_id, kind, subject, field, detail, since, checked_at \
             FROM unresolved WHERE user_id = ? ORDER BY object, side, record_id, kind, subject",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(db("unresolved"))?;
        rows.iter().map(decode::unresolved).collect()
    }

    async fn quarantine(&self, user: &str) -> Result<Vec<QuarantineEntry>, StoreError> {
        let rows = query(
            "SELECT user_id, object, side, record_id, reason, since, detail, approved_by, approved_at \
             FROM quarantine WHERE user_id = ? ORDER BY object, side, record_id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(db("quarantine"))?;
        rows.iter().map(decode::quarantine).collect()
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("append_audit"))?;
        insert_audit(&mut tx, entries).await?;
        tx.commit().await.map_err(db("append_audit: commit"))
    }

    async fn audit_log(
        &self,
        user: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = match (user.is_some(), since.is_some()) {
            (true, true) => concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit WHERE user_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?"
            ),
            (true, false) => {
                concat!("SELECT ", audit_columns!(), " FROM audit WHERE user_id = ? ORDER BY at DESC, id DESC LIMIT ?")
            }
            (false, true) => {
                concat!("SELECT ", audit_columns!(), " FROM audit WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?")
            }
            (false, false) => concat!("SELECT ", audit_columns!(), " FROM audit ORDER BY at DESC, id DESC LIMIT ?"),
        };
        let mut q = query(sql);
        if let Some(user) = user {
            q = q.bind(user);
        }
        if let Some(since) = since {
            q = q.bind(ts(&since));
        }
        let rows =
            q.bind(i64::try_from(limit).unwrap_or(i64::MAX)).fetch_all(&self.pool).await.map_err(db("audit_log"))?;
        rows.iter().map(|row| decode::audit(row).map(|(_, entry)| entry)).collect()
    }

    async fn export_audit_jsonl(
        &self,
        user: Option<&str>,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<usize, StoreError> {
        // Keyset pages by id: memory stays bounded however long the log is.
        let io = |e: std::io::Error| StoreError::Io(format!("export_audit_jsonl: {e}"));
        let mut after = 0_i64;
        let mut written = 0_usize;
        loop {
            let q = match user {
                Some(user) => query(concat!(
                    "SELECT ",
                    audit_columns!(),
                    " FROM audit WHERE id > ? AND user_id = ? ORDER BY id LIMIT ?"
                ))
                .bind(after)
                .bind(user),
                None => query(concat!("SELECT ", audit_columns!(), " FROM audit WHERE id > ? ORDER BY id LIMIT ?"))
                    .bind(after),
            };
            let rows = q.bind(EXPORT_PAGE).fetch_all(&self.pool).await.map_err(db("export_audit_jsonl"))?;
            for row in &rows {
                let (id, entry) = decode::audit(row)?;
                after = id;
                serde_json::to_writer(&mut *out, &entry)
                    .map_err(|e| StoreError::Io(format!("export_audit_jsonl: {e}")))?;
                out.write_all(b"\n").map_err(io)?;
                written += 1;
            }
            if (rows.len() as i64) < EXPORT_PAGE {
                break;
            }
        }
        out.flush().map_err(io)?;
        Ok(written)
    }

    async fn prune_audit(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        let _turn = self.write_turns.wait().await;
        let done = query("DELETE FROM audit WHERE at < ?")
            .bind(ts(&older_than))
            .execute(&self.pool)
            .await
            .map_err(db("prune_audit"))?;
        Ok(done.rows_affected())
    }

    async fn set_status(&self, status: &UserStatus) -> Result<(), StoreError> {
        let _turn = self.write_turns.wait().await;
        let mut conn = self.pool.acquire().await.map_err(db("set_status"))?;
        upsert_status(&mut conn, status).await
    }

    async fn status(&self, user: &str) -> Result<Option<UserStatus>, StoreError> {
        let row = query(
            "SELECT user_id, last_cycle_at, last_success_at, last_error, consecutive_failures, ambiguous_matches \
             FROM status \
             WHERE user_id = ?",
        )
        .bind(user)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("status"))?;
        row.as_ref().map(decode::status).transpose()
    }

    async fn statuses(&self) -> Result<Vec<UserStatus>, StoreError> {
        let rows = query(
            "SELECT user_id, last_cycle_at, last_success_at, last_error, consecutive_failures, ambiguous_matches \
             FROM status \
             ORDER BY user_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("statuses"))?;
        rows.iter().map(decode::status).collect()
    }

    async fn approve_quarantined(
        &self,
        user: &str,
        object: ObjectKind,
        records: &[(Side, RecordId)],
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        let at = ts(&at);
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("approve_quarantined"))?;
        let mut marked = 0;
        for (side, id) in records {
            let done = query(
                "UPDATE quarantine SET approved_by = ?, approved_at = ? \
                 WHERE user_id = ? AND object = ? AND side = ? AND record_id = ? AND approved_by IS NULL",
            )
            .bind(by)
            .bind(at.as_str())
            .bind(user)
            .bind(object.as_str())
            .bind(side.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db("approve_quarantined"))?;
            marked += usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
        }
        tx.commit().await.map_err(db("approve_quarantined: commit"))?;
        Ok(marked)
    }

    async fn record_cycle(&self, record: &CycleRecord) -> Result<(), StoreError> {
        self.record_cycles(std::slice::from_ref(record)).await
    }

    async fn record_cycles(&self, records: &[CycleRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("record_cycle"))?;
        insert_cycles(&mut tx, records).await?;
        tx.commit().await.map_err(db("record_cycle: commit"))
    }

    async fn finish_sync(&self, cycles: &[CycleRecord], status: &UserStatus) -> Result<(), StoreError> {
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("finish_sync"))?;
        insert_cycles(&mut tx, cycles).await?;
        upsert_status(&mut tx, status).await?;
        tx.commit().await.map_err(db("finish_sync: commit"))
    }

    async fn cycles(&self, user: &str, limit: usize) -> Result<Vec<CycleRecord>, StoreError> {
        let rows = query(
            "SELECT id, user_id, object, started_at, finished_at, dry_run, outcome, counts, operations, \
             operations_omitted FROM cycles WHERE user_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(user)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db("cycles"))?;
        rows.iter().map(decode::cycle).collect()
    }

    async fn users(&self) -> Result<Vec<UserId>, StoreError> {
        query_scalar(
            "SELECT user_id FROM status UNION SELECT user_id FROM pair_counts \
             UNION SELECT user_id FROM quarantine UNION SELECT user_id FROM unresolved \
             UNION SELECT user_id FROM cycles ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("users"))
    }

    fn feeds(&self) -> Option<&dyn crate::FeedInbox> {
        Some(self)
    }

    async fn reset_user(&self, user: &str, object: Option<ObjectKind>) -> Result<(), StoreError> {
        let _turn = self.write_turns.wait().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("reset_user"))?;
        match object {
            None => {
                for sql in RESET_ALL {
                    query(sql).bind(user).execute(&mut *tx).await.map_err(db("reset_user"))?;
                }
            }
            Some(object) => {
                for sql in RESET_OBJECT {
                    query(sql).bind(user).bind(object.as_str()).execute(&mut *tx).await.map_err(db("reset_user"))?;
                }
            }
        }
        tx.commit().await.map_err(db("reset_user: commit"))?;
        tracing::info!(user, object = object.map(ObjectKind::as_str).unwrap_or("all"), "reset sync state");
        Ok(())
    }
}

/// `SELECT` of the pairs whose `side` id is one of `n` bound ids (after user and object).
/// Only `?` placeholders are interpolated, never values.
fn pairs_by_record_sql(side: Side, n: usize) -> String {
    let column = match side {
        Side::Crm => "crm_id",
        Side::Mailbox => "mailbox_id",
    };
    let mut placeholders = String::with_capacity(n * 2);
    for i in 0..n {
        placeholders.push_str(if i == 0 { "?" } else { ",?" });
    }
    format!(
        concat!("SELECT ", pair_columns!(), " FROM pairs WHERE user_id = ? AND object = ? AND {} IN ({})"),
        column, placeholders
    )
}

// ---- errors ----

/// Maps a sqlx error to a [`StoreError`], naming what was being done. Constraint failures
/// become [`StoreError::Constraint`]; undecodable columns [`StoreError::Corrupt`]. SQLite's
/// messages name tables and columns, never bound values.
fn map_sqlx(context: &str, e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(d) => {
            if d.is_unique_violation() || d.is_foreign_key_violation() || d.is_check_violation() {
                StoreError::Constraint(format!("{context}: {}", d.message()))
            } else {
                StoreError::Database(format!("{context}: {}", d.message()))
            }
        }
        e @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)) => decode::corrupt(context, e.to_string()),
        other => StoreError::Database(format!("{context}: {other}")),
    }
}

/// [`map_sqlx`] with a fixed context, for `map_err`.
pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| map_sqlx(context, e)
}

fn migration_err(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::Migration(format!("{context}: {e}"))
}
