//! Opening and closing a [`SqliteStore`]: the connection options and pragmas (busy timeout, pool
//! size, page cache, WAL checkpoints), the migration on open, and the background WAL checkpointer.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{query, query_scalar};

use super::queue::{JournalQueue, WriteTurns};
use super::{SqliteStore, db, map_sqlx};
use crate::StoreError;

// Only named in doc links.
#[cfg(doc)]
use super::SCHEMA_VERSION;
#[cfg(doc)]
use crate::StateStore;

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
pub(super) struct Checkpointer(tokio::task::JoinHandle<()>);

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
