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

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, query, query_scalar};
use tandem_core::model::ObjectKind;
use tandem_core::state::{
    Cursor, IdempotencyKey, PairId, PairState, RecordId, Side, SideState, Unresolved, UnresolvedKind, Version,
};

use crate::codec::{decode_prints, encode_prints, merge_approval, parse_json, parse_object, parse_side, parse_ts, ts};
use crate::{
    AuditEntry, CYCLES_KEPT_PER_USER, CycleCommit, CycleRecord, Intent, QuarantineEntry, StateStore, StoreError,
    UnresolvedEntry, UserId, UserStatus,
};

/// The schema version this build writes and understands. A database at a higher version is
/// refused with [`StoreError::Migration`].
pub const SCHEMA_VERSION: i64 = 7;

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in a file-backed pool: WAL lets readers run beside the one writer.
const MAX_CONNECTIONS: u32 = 8;

/// Ids per `IN (…)` list: far below SQLite's variable limit (32,766 since 3.32, 999 before).
const IN_CHUNK: usize = 500;

/// Audit rows read per page when exporting.
const EXPORT_PAGE: i64 = 1_000;

/// One schema step. Steps are applied in order, each version once, inside one transaction.
struct Migration {
    version: i64,
    description: &'static str,
    statements: &'static [&'static str],
}

/// The schema's history. Append new steps; never edit a released one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial schema",
        statements: &[
            "CREATE TABLE pairs (
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            pair_id TEXT NOT NULL,
            crm_id TEXT NOT NULL,
            crm_version TEXT NOT NULL,
            crm_fields TEXT NOT NULL,
            mailbox_id TEXT NOT NULL,
            mailbox_version TEXT NOT NULL,
            mailbox_fields TEXT NOT NULL,
            synced_at TEXT NOT NULL,
            tombstone TEXT,
            PRIMARY KEY (user_id, object, pair_id)
        )",
            "CREATE UNIQUE INDEX pairs_by_crm_id ON pairs (user_id, object, crm_id)",
            "CREATE UNIQUE INDEX pairs_by_mailbox_id ON pairs (user_id, object, mailbox_id)",
            "CREATE TABLE cursors (
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            side TEXT NOT NULL,
            cursor BLOB NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (user_id, object, side)
        )",
            "CREATE TABLE journal (
            seq INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            intent_key TEXT NOT NULL,
            object TEXT NOT NULL,
            target TEXT NOT NULL,
            operation TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (user_id, intent_key)
        )",
            "CREATE TABLE quarantine (
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            side TEXT NOT NULL,
            record_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            since TEXT NOT NULL,
            detail TEXT,
            PRIMARY KEY (user_id, object, side, record_id)
        )",
            "CREATE TABLE refetch (
            seq INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            side TEXT NOT NULL,
            record_id TEXT NOT NULL,
            UNIQUE (user_id, object, side, record_id)
        )",
            "CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            side TEXT,
            record_id TEXT,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT
        )",
            "CREATE INDEX audit_by_user_at ON audit (user_id, at)",
            "CREATE INDEX audit_by_at ON audit (at)",
            "CREATE TABLE status (
            user_id TEXT PRIMARY KEY NOT NULL,
            last_cycle_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            consecutive_failures INTEGER NOT NULL
        )",
        ],
    },
    Migration {
        version: 2,
        description: "live pair counts kept by triggers",
        statements: &[
            "CREATE TABLE pair_counts (
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            live INTEGER NOT NULL,
            PRIMARY KEY (user_id, object)
        ) WITHOUT ROWID",
            "INSERT INTO pair_counts (user_id, object, live)
            SELECT user_id, object, COUNT(*) FROM pairs WHERE tombstone IS NULL
            GROUP BY user_id, object",
            // An upsert that updates an existing pair fires the update trigger, not this one.
            "CREATE TRIGGER pair_counts_on_insert AFTER INSERT ON pairs
            WHEN new.tombstone IS NULL
        BEGIN
            INSERT INTO pair_counts (user_id, object, live) VALUES (new.user_id, new.object, 1)
                ON CONFLICT (user_id, object) DO UPDATE SET live = live + 1;
        END",
            "CREATE TRIGGER pair_counts_on_delete AFTER DELETE ON pairs
            WHEN old.tombstone IS NULL
        BEGIN
            UPDATE pair_counts SET live = live - 1
                WHERE user_id = old.user_id AND object = old.object;
        END",
            // Only a change of liveness (or of owner, which Tandem never makes) moves a count, so
            // the common update of a live pair costs nothing here.
            "CREATE TRIGGER pair_counts_on_update AFTER UPDATE OF user_id, object, tombstone ON pairs
            WHEN (old.tombstone IS NULL) IS NOT (new.tombstone IS NULL)
                OR old.user_id IS NOT new.user_id OR old.object IS NOT new.object
        BEGIN
            UPDATE pair_counts SET live = live - 1
                WHERE old.tombstone IS NULL AND user_id = old.user_id AND object = old.object;
            INSERT INTO pair_counts (user_id, object, live)
                SELECT new.user_id, new.object, 1 WHERE new.tombstone IS NULL
                ON CONFLICT (user_id, object) DO UPDATE SET live = live + 1;
        END",
        ],
    },
    Migration {
        version: 3,
        description: "ambiguous matches waiting per user, in the status",
        statements: &["ALTER TABLE status ADD COLUMN ambiguous_matches INTEGER NOT NULL DEFAULT 0"],
    },
    Migration {
        version: 4,
        description: "unresolved items per user",
        statements: &["CREATE TABLE unresolved (
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            side TEXT NOT NULL,
            record_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            field TEXT,
            detail TEXT NOT NULL,
            since TEXT NOT NULL,
            checked_at TEXT,
            PRIMARY KEY (user_id, object, side, record_id, kind, subject)
        ) WITHOUT ROWID"],
    },
    Migration {
        version: 5,
        description: "cycle history per user; approval of quarantined (held) deletes",
        statements: &[
            "CREATE TABLE cycles (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            object TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            dry_run INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            counts TEXT NOT NULL,
            operations TEXT NOT NULL,
            operations_omitted INTEGER NOT NULL DEFAULT 0
        )",
            "CREATE INDEX cycles_by_user ON cycles (user_id, id)",
            // Kept apart from `detail`, which every cycle that re-quarantines the entry replaces:
            // an approval made while a cycle runs survives that cycle's commit.
            "ALTER TABLE quarantine ADD COLUMN approved_by TEXT",
            "ALTER TABLE quarantine ADD COLUMN approved_at TEXT",
        ],
    },
    Migration {
        version: 6,
        description: "organization feeds: cursor and head, members, inbox",
        statements: &[
            "CREATE TABLE feeds (
            feed TEXT NOT NULL,
            object TEXT NOT NULL,
            cursor BLOB,
            head INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (feed, object)
        )",
            "CREATE TABLE feed_members (
            feed TEXT NOT NULL,
            object TEXT NOT NULL,
            member TEXT NOT NULL,
            PRIMARY KEY (feed, object, member)
        )",
            "CREATE TABLE feed_inbox (
            feed TEXT NOT NULL,
            object TEXT NOT NULL,
            member TEXT NOT NULL,
            record_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            change TEXT NOT NULL,
            PRIMARY KEY (feed, object, member, record_id)
        )",
            "CREATE INDEX feed_inbox_by_seq ON feed_inbox (feed, object, member, seq)",
        ],
    },
    Migration {
        version: 7,
        description: "organization feeds: when each member last joined or read its inbox",
        statements: &["ALTER TABLE feed_members ADD COLUMN last_read TEXT"],
    },
];

// The columns `decode_pair` reads, in a macro so they can be `concat!`ed into static SQL.
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

/// Rows per multi-row `INSERT`: at most 11 variables a row, 704 in all, under the 999 of old
/// SQLites.
pub(crate) const BATCH_ROWS: usize = 64;

const PAIR_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

const UPSERT_PAIR_HEAD: &str = "INSERT INTO pairs (user_id, object, pair_id, crm_id, crm_version, crm_fields, \
     mailbox_id, mailbox_version, mailbox_fields, synced_at, tombstone) VALUES ";

const UPSERT_PAIR_TAIL: &str = " ON CONFLICT (user_id, object, pair_id) DO UPDATE SET \
     crm_id = excluded.crm_id, crm_version = excluded.crm_version, crm_fields = excluded.crm_fields, \
     mailbox_id = excluded.mailbox_id, mailbox_version = excluded.mailbox_version, \
     mailbox_fields = excluded.mailbox_fields, synced_at = excluded.synced_at, \
     tombstone = excluded.tombstone";

/// The common case first: a pair whose ids are as stored gets its versions, prints and time
/// without naming the id columns, so SQLite leaves the two id indexes alone (an upsert setting
/// an id to its own value rewrites the index entry; on 100,000 pairs that was 40% of a commit).
/// The pairs it does not return are new or moved, and go through the upsert.
const UPDATE_PAIR_HEAD: &str = "UPDATE pairs SET crm_version = v.column5, crm_fields = v.column6, \
     mailbox_version = v.column7, mailbox_fields = v.column8, synced_at = v.column9, tombstone = v.column10 \
     FROM (VALUES ";

const UPDATE_PAIR_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

const UPDATE_PAIR_TAIL: &str = ") AS v WHERE pairs.user_id = v.column1 AND pairs.object = v.column2 \
     AND pairs.pair_id = v.column3 AND pairs.crm_id = v.column4 AND pairs.mailbox_id = v.column11 \
     RETURNING pairs.pair_id";

const INSERT_AUDIT_HEAD: &str = "INSERT INTO audit \
     (at, user_id, object, side, record_id, action, outcome, reason, detail) VALUES ";

const AUDIT_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";

const UPSERT_INTENT_HEAD: &str =
    "INSERT INTO journal (user_id, intent_key, object, target, operation, created_at) VALUES ";

const INTENT_ROW: &str = "(?, ?, ?, ?, ?, ?)";

const UPSERT_INTENT_TAIL: &str = " ON CONFLICT (user_id, intent_key) DO UPDATE SET object = excluded.object, \
     target = excluded.target, operation = excluded.operation, created_at = excluded.created_at";

const DELETE_INTENTS_HEAD: &str = "DELETE FROM journal WHERE user_id = ? AND intent_key IN (";

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
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if missing) the database at `path`, and
    /// migrates its schema to [`SCHEMA_VERSION`].
    ///
    /// The database runs in WAL journal mode with `synchronous = NORMAL` (a commit survives a
    /// crash of the process; the journal of intents is synced fully, see
    /// [`StateStore::record_intents`]), foreign keys on and a busy timeout of 10 s.
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
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| map_sqlx(&format!("opening {}", path.display()), e))?;
        let scope = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let store = SqliteStore { pool, claim_scope: format!("file:{}", scope.display()).into() };
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
        let store = SqliteStore { pool, claim_scope: format!("memory:{n}").into() };
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

    /// Brings the schema up to [`SCHEMA_VERSION`], in one transaction. A no-op when it is there.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(migration_err("starting"))?;
        query(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )",
        )
        .execute(&mut *tx)
        .await
        .map_err(migration_err("creating schema_version"))?;
        let current: Option<i64> = query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(migration_err("reading schema_version"))?;
        let current = current.unwrap_or(0);
        if current > SCHEMA_VERSION {
            return Err(StoreError::Migration(format!(
                "the database is at schema version {current}, newer than version {SCHEMA_VERSION} that \
                 this build of Tandem understands; upgrade Tandem or use another database"
            )));
        }
        for step in MIGRATIONS.iter().filter(|m| m.version > current) {
            for statement in step.statements {
                query(*statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::Migration(format!("applying version {}: {e}", step.version)))?;
            }
            query("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)")
                .bind(step.version)
                .bind(step.description)
                .bind(ts(&Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(migration_err("recording the version"))?;
            tracing::info!(version = step.version, description = step.description, "migrated the state store");
        }
        tx.commit().await.map_err(migration_err("committing"))?;
        Ok(())
    }
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
                pairs.push(decode_pair(row)?);
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
        row.as_ref().map(decode_pair).transpose()
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
        rows.iter().map(decode_pair).collect()
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
        // The journal must survive a power cut, not only a crash: sync this transaction fully
        // (`synchronous = FULL` fsyncs the WAL at commit), then restore the pool's setting.
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

    async fn pending_intents(&self, user: &str) -> Result<Vec<Intent>, StoreError> {
        let rows = query(
            "SELECT user_id, intent_key, object, target, operation, created_at FROM journal \
             WHERE user_id = ? ORDER BY created_at, seq",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(db("pending_intents"))?;
        rows.iter().map(decode_intent).collect()
    }

    async fn resolve_intents(&self, user: &str, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
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
        rows.iter().map(decode_unresolved).collect()
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
        rows.iter().map(decode_quarantine).collect()
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
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
        rows.iter().map(|row| decode_audit(row).map(|(_, entry)| entry)).collect()
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
                let (id, entry) = decode_audit(row)?;
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
        let done = query("DELETE FROM audit WHERE at < ?")
            .bind(ts(&older_than))
            .execute(&self.pool)
            .await
            .map_err(db("prune_audit"))?;
        Ok(done.rows_affected())
    }

    async fn set_status(&self, status: &UserStatus) -> Result<(), StoreError> {
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
        .execute(&self.pool)
        .await
        .map_err(db("set_status"))?;
        Ok(())
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
        row.as_ref().map(decode_status).transpose()
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
        rows.iter().map(decode_status).collect()
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
        let json = |what: &str, e: serde_json::Error| StoreError::Invalid(format!("record_cycle: {what}: {e}"));
        let counts = serde_json::to_string(&record.counts).map_err(|e| json("counts", e))?;
        let operations = serde_json::to_string(&record.operations).map_err(|e| json("operations", e))?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db("record_cycle"))?;
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
        .execute(&mut *tx)
        .await
        .map_err(db("record_cycle"))?;
        query(
            "DELETE FROM cycles WHERE user_id = ? AND id <= \
             (SELECT id FROM cycles WHERE user_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
        )
        .bind(&record.user)
        .bind(&record.user)
        .bind(i64::try_from(CYCLES_KEPT_PER_USER).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(db("record_cycle: pruning"))?;
        tx.commit().await.map_err(db("record_cycle: commit"))
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
        rows.iter().map(decode_cycle).collect()
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

/// Rejects a commit whose contents belong to another user or object before touching the database.
pub(crate) fn validate_commit(user: &str, object: ObjectKind, commit: &CycleCommit) -> Result<(), StoreError> {
    if let Some(p) = commit.upsert_pairs.iter().find(|p| p.object != object) {
        return Err(StoreError::Invalid(format!(
            "pair {} is a {} pair, in a commit for {object}s",
            p.pair_id, p.object
        )));
    }
    if let Some(q) = commit.quarantine_add.iter().find(|q| q.user != user || q.object != object) {
        return Err(StoreError::Invalid(format!(
            "quarantine entry for {} {} belongs to another user or object than the commit's",
            q.side, q.record_id
        )));
    }
    if commit.audit.iter().any(|a| a.user != user) {
        return Err(StoreError::Invalid("an audit entry belongs to another user than the commit's".into()));
    }
    Ok(())
}

/// The body of [`StateStore::commit_cycle`], inside its transaction.
async fn apply_commit(
    conn: &mut SqliteConnection,
    user: &str,
    object: ObjectKind,
    commit: &CycleCommit,
) -> Result<(), StoreError> {
    let obj = object.as_str();
    for pair in &commit.remove_pairs {
        query("DELETE FROM pairs WHERE user_id = ? AND object = ? AND pair_id = ?")
            .bind(user)
            .bind(obj)
            .bind(pair.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| map_sqlx(&format!("commit_cycle: removing pair {pair}"), e))?;
    }
    upsert_pairs(conn, user, obj, &commit.upsert_pairs).await?;
    let now = ts(&Utc::now());
    for (side, cursor) in &commit.cursors {
        let result = match cursor {
            Some(cursor) => {
                query(
                    "INSERT INTO cursors (user_id, object, side, cursor, updated_at) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (user_id, object, side) DO UPDATE SET cursor = excluded.cursor, \
                     updated_at = excluded.updated_at",
                )
                .bind(user)
                .bind(obj)
                .bind(side.as_str())
                .bind(cursor.0.as_slice())
                .bind(now.as_str())
                .execute(&mut *conn)
                .await
            }
            None => {
                query("DELETE FROM cursors WHERE user_id = ? AND object = ? AND side = ?")
                    .bind(user)
                    .bind(obj)
                    .bind(side.as_str())
                    .execute(&mut *conn)
                    .await
            }
        };
        result.map_err(|e| map_sqlx(&format!("commit_cycle: {side} cursor"), e))?;
    }
    delete_intents(conn, user, &commit.resolved_intents).await?;
    delete_records(conn, Keyed::Quarantine, user, obj, &commit.quarantine_remove).await?;
    for entry in &commit.quarantine_add {
        query(
            "INSERT INTO quarantine (user_id, object, side, record_id, reason, since, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (user_id, object, side, record_id) DO UPDATE SET reason = excluded.reason, \
             detail = excluded.detail, since = MIN(quarantine.since, excluded.since)",
        )
        .bind(&entry.user)
        .bind(entry.object.as_str())
        .bind(entry.side.as_str())
        .bind(entry.record_id.as_str())
        .bind(&entry.reason)
        .bind(ts(&entry.since))
        .bind(entry.detail.as_ref().map(serde_json::Value::to_string))
        .execute(&mut *conn)
        .await
        .map_err(db("commit_cycle: quarantining"))?;
    }
    for key in &commit.unresolved_remove {
        query(
            "DELETE FROM unresolved WHERE user_id = ? AND object = ? AND side = ? AND record_id = ? \
             AND kind = ? AND subject = ?",
        )
        .bind(user)
        .bind(obj)
        .bind(key.side.as_str())
        .bind(key.record_id.as_str())
        .bind(key.kind.as_str())
        .bind(&key.subject)
        .execute(&mut *conn)
        .await
        .map_err(db("commit_cycle: forgetting an unresolved item"))?;
    }
    for entry in &commit.unresolved_add {
        query(
            "INSERT INTO unresolved (user_id, object, side, record_id, kind, subject, field, detail, since, \
             checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (user_id, object, side, record_id, kind, subject) DO UPDATE SET \
             field = excluded.field, detail = excluded.detail, since = MIN(unresolved.since, excluded.since), \
             checked_at = excluded.checked_at",
        )
        .bind(&entry.user)
        .bind(entry.object.as_str())
        .bind(entry.side.as_str())
        .bind(entry.record_id.as_str())
        .bind(entry.item.kind.as_str())
        .bind(&entry.item.subject)
        .bind(entry.item.field.as_ref().map(ToString::to_string))
        .bind(&entry.item.detail)
        .bind(ts(&entry.since))
        .bind(entry.checked_at.as_ref().map(ts))
        .execute(&mut *conn)
        .await
        .map_err(db("commit_cycle: recording an unresolved item"))?;
    }
    delete_records(conn, Keyed::Refetch, user, obj, &commit.refetch_remove).await?;
    for (side, id) in &commit.refetch_add {
        query(
            "INSERT INTO refetch (user_id, object, side, record_id) VALUES (?, ?, ?, ?) \
             ON CONFLICT (user_id, object, side, record_id) DO NOTHING",
        )
        .bind(user)
        .bind(obj)
        .bind(side.as_str())
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db("commit_cycle: queuing a refetch"))?;
    }
    insert_audit(conn, &commit.audit).await
}

/// Pairs are written [`BATCH_ROWS`] rows per statement: far fewer round trips to SQLite's worker
/// thread than one statement per pair. Each chunk is first updated in place where its ids are
/// unchanged ([`UPDATE_PAIR_HEAD`]); the rest are upserted.
async fn upsert_pairs(
    conn: &mut SqliteConnection,
    user: &str,
    obj: &str,
    pairs: &[PairState],
) -> Result<(), StoreError> {
    static FULL: OnceLock<Arc<str>> = OnceLock::new();
    static FULL_UPDATE: OnceLock<Arc<str>> = OnceLock::new();
    for chunk in pairs.chunks(BATCH_ROWS) {
        let encoded: Vec<EncodedPair<'_>> = chunk.iter().map(EncodedPair::new).collect();
        let sql = batch_sql(&FULL_UPDATE, chunk.len(), UPDATE_PAIR_HEAD, UPDATE_PAIR_ROW, UPDATE_PAIR_TAIL);
        let q = encoded.iter().fold(query_scalar(AssertSqlSafe(sql)), |q, pair| pair.bind_update(q, user, obj));
        let updated: Vec<String> =
            q.fetch_all(&mut *conn).await.map_err(|e| map_sqlx("commit_cycle: updating pairs", e))?;
        let rest: Vec<&EncodedPair<'_>> = if updated.is_empty() {
            encoded.iter().collect()
        } else {
            let updated: std::collections::HashSet<&str> = updated.iter().map(String::as_str).collect();
            encoded.iter().filter(|p| !updated.contains(p.pair.pair_id.as_str())).collect()
        };
        if rest.is_empty() {
            continue;
        }
        let sql = batch_sql(&FULL, rest.len(), UPSERT_PAIR_HEAD, PAIR_ROW, UPSERT_PAIR_TAIL);
        let q = rest.iter().fold(query(AssertSqlSafe(sql)), |q, pair| pair.bind_upsert(q, user, obj));
        if let Err(e) = q.execute(&mut *conn).await {
            // A failed statement is undone on its own and the transaction goes on, so the batch
            // can be replayed pair by pair to name the pair at fault. The caller rolls back.
            for pair in rest {
                let one = batch_sql(&FULL, 1, UPSERT_PAIR_HEAD, PAIR_ROW, UPSERT_PAIR_TAIL);
                pair.bind_upsert(query(AssertSqlSafe(one)), user, obj).execute(&mut *conn).await.map_err(|e| {
                    let what = format!(
                        "commit_cycle: storing pair {} (crm {}, mailbox {})",
                        pair.pair.pair_id, pair.pair.crm.id, pair.pair.mailbox.id
                    );
                    map_sqlx(&what, e)
                })?;
            }
            return Err(map_sqlx("commit_cycle: storing pairs", e));
        }
    }
    Ok(())
}

/// A pair with its prints encoded once, for whichever statement writes it.
struct EncodedPair<'a> {
    pair: &'a PairState,
    crm_fields: String,
    mailbox_fields: String,
}

impl<'a> EncodedPair<'a> {
    fn new(pair: &'a PairState) -> Self {
        EncodedPair {
            pair,
            crm_fields: encode_prints(&pair.crm.fields),
            mailbox_fields: encode_prints(&pair.mailbox.fields),
        }
    }

    /// The upsert's row: the columns in table order.
    fn bind_upsert(&self, q: SqliteQuery, user: &str, obj: &str) -> SqliteQuery {
        let pair = self.pair;
        q.bind(user.to_owned())
            .bind(obj.to_owned())
            .bind(pair.pair_id.as_str().to_owned())
            .bind(pair.crm.id.as_str().to_owned())
            .bind(pair.crm.version.as_str().to_owned())
            .bind(self.crm_fields.clone())
            .bind(pair.mailbox.id.as_str().to_owned())
            .bind(pair.mailbox.version.as_str().to_owned())
            .bind(self.mailbox_fields.clone())
            .bind(ts(&pair.synced_at))
            .bind(pair.tombstone.map(Side::as_str))
    }

    /// The in-place update's row, in [`UPDATE_PAIR_HEAD`]'s column order.
    fn bind_update(&self, q: SqliteScalarQuery, user: &str, obj: &str) -> SqliteScalarQuery {
        let pair = self.pair;
        q.bind(user.to_owned())
            .bind(obj.to_owned())
            .bind(pair.pair_id.as_str().to_owned())
            .bind(pair.crm.id.as_str().to_owned())
            .bind(pair.crm.version.as_str().to_owned())
            .bind(self.crm_fields.clone())
            .bind(pair.mailbox.version.as_str().to_owned())
            .bind(self.mailbox_fields.clone())
            .bind(ts(&pair.synced_at))
            .bind(pair.tombstone.map(Side::as_str))
            .bind(pair.mailbox.id.as_str().to_owned())
    }
}

/// A scalar query with owned arguments.
type SqliteScalarQuery = sqlx::query::QueryScalar<'static, sqlx::Sqlite, String, SqliteArguments>;

/// The statement `head` + `rows` copies of `row` + `tail`; the full-size one is built once into
/// `full`. Only placeholders are repeated, never values.
pub(crate) fn batch_sql(full: &OnceLock<Arc<str>>, rows: usize, head: &str, row: &str, tail: &str) -> Arc<str> {
    let build = |rows: usize| -> Arc<str> {
        let mut sql = String::with_capacity(head.len() + tail.len() + rows * (row.len() + 2));
        sql.push_str(head);
        for i in 0..rows {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(row);
        }
        sql.push_str(tail);
        sql.into()
    };
    if rows == BATCH_ROWS { full.get_or_init(|| build(BATCH_ROWS)).clone() } else { build(rows) }
}

fn bind_intent(q: SqliteQuery, intent: &Intent) -> SqliteQuery {
    q.bind(intent.user.clone())
        .bind(intent.key.clone())
        .bind(intent.object.as_str())
        .bind(intent.target.as_str())
        .bind(intent.operation.as_str().to_owned())
        .bind(ts(&intent.created_at))
}

/// Intents are written [`BATCH_ROWS`] per statement (a write per planned operation: one
/// statement each was most of the journal's cost).
async fn upsert_intents(conn: &mut SqliteConnection, intents: &[Intent]) -> Result<(), StoreError> {
    static FULL: OnceLock<Arc<str>> = OnceLock::new();
    let mut tx =
        sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await.map_err(db("record_intents: begin"))?;
    for chunk in intents.chunks(BATCH_ROWS) {
        let sql = batch_sql(&FULL, chunk.len(), UPSERT_INTENT_HEAD, INTENT_ROW, UPSERT_INTENT_TAIL);
        let q = chunk.iter().fold(query(AssertSqlSafe(sql)), bind_intent);
        if let Err(e) = q.execute(&mut *tx).await {
            // Replayed one by one to name the intent at fault; the transaction is rolled back.
            for intent in chunk {
                let one = batch_sql(&FULL, 1, UPSERT_INTENT_HEAD, INTENT_ROW, UPSERT_INTENT_TAIL);
                bind_intent(query(AssertSqlSafe(one)), intent)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_sqlx(&format!("record_intents: intent {}", intent.key), e))?;
            }
            return Err(map_sqlx("record_intents", e));
        }
    }
    tx.commit().await.map_err(db("record_intents: commit"))
}

async fn delete_intents(conn: &mut SqliteConnection, user: &str, keys: &[String]) -> Result<(), StoreError> {
    static FULL: OnceLock<Arc<str>> = OnceLock::new();
    for chunk in keys.chunks(BATCH_ROWS) {
        let sql = batch_sql(&FULL, chunk.len(), DELETE_INTENTS_HEAD, "?", ")");
        let q = chunk.iter().fold(query(AssertSqlSafe(sql)).bind(user.to_owned()), |q, key| q.bind(key.clone()));
        q.execute(&mut *conn).await.map_err(db("resolving intents"))?;
    }
    Ok(())
}

async fn insert_audit(conn: &mut SqliteConnection, entries: &[AuditEntry]) -> Result<(), StoreError> {
    static FULL: OnceLock<Arc<str>> = OnceLock::new();
    for chunk in entries.chunks(BATCH_ROWS) {
        let sql = batch_sql(&FULL, chunk.len(), INSERT_AUDIT_HEAD, AUDIT_ROW, "");
        let q = chunk.iter().fold(query(AssertSqlSafe(sql)), |q, entry| {
            q.bind(ts(&entry.at))
                .bind(entry.user.clone())
                .bind(entry.object.as_str())
                .bind(entry.side.map(Side::as_str))
                .bind(entry.record_id.as_ref().map(|id| id.as_str().to_owned()))
                .bind(entry.action.clone())
                .bind(entry.outcome.clone())
                .bind(entry.reason.clone())
                .bind(entry.detail.as_ref().map(serde_json::Value::to_string))
        });
        q.execute(&mut *conn).await.map_err(db("appending to the audit log"))?;
    }
    Ok(())
}

/// A query with owned arguments.
pub(crate) type SqliteQuery = sqlx::query::Query<'static, sqlx::Sqlite, SqliteArguments>;

// ---- decoding rows ----

/// One column of a row, with a message naming the column when it cannot be read.
fn col<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T, String>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(name).map_err(|e| format!("column {name}: {e}"))
}

fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: what.into(), detail: detail.into() }
}

fn decode_pair(row: &SqliteRow) -> Result<PairState, StoreError> {
    let pair_id: String = col(row, "pair_id").map_err(|d| corrupt("pair with an unreadable id", d))?;
    decode_pair_body(row, pair_id.clone()).map_err(|d| corrupt(format!("pair {pair_id}"), d))
}

fn decode_pair_body(row: &SqliteRow, pair_id: String) -> Result<PairState, String> {
    let side = |prefix: &str| -> Result<SideState, String> {
        let id: String = col(row, &format!("{prefix}_id"))?;
        let version: String = col(row, &format!("{prefix}_version"))?;
        let fields: String = col(row, &format!("{prefix}_fields"))?;
        Ok(SideState {
            id: RecordId(id),
            version: Version(version),
            fields: decode_prints(&fields).map_err(|e| format!("{prefix}_fields: {e}"))?,
        })
    };
    let object: String = col(row, "object")?;
    let synced_at: String = col(row, "synced_at")?;
    let tombstone: Option<String> = col(row, "tombstone")?;
    Ok(PairState {
        pair_id: IdempotencyKey(pair_id),
        object: parse_object(&object)?,
        crm: side("crm")?,
        mailbox: side("mailbox")?,
        synced_at: parse_ts(&synced_at)?,
        tombstone: tombstone.as_deref().map(parse_side).transpose()?,
    })
}

fn decode_intent(row: &SqliteRow) -> Result<Intent, StoreError> {
    let key: String = col(row, "intent_key").map_err(|d| corrupt("journal intent with an unreadable key", d))?;
    let body = || -> Result<Intent, String> {
        let user: String = col(row, "user_id")?;
        let object: String = col(row, "object")?;
        let target: String = col(row, "target")?;
        let operation: String = col(row, "operation")?;
        let created_at: String = col(row, "created_at")?;
        Ok(Intent {
            user,
            object: parse_object(&object)?,
            key: key.clone(),
            target: parse_side(&target)?,
            operation: crate::JournalJson::from_stored(operation),
            created_at: parse_ts(&created_at)?,
        })
    };
    body().map_err(|d| corrupt(format!("journal intent {key}"), d))
}

fn decode_unresolved(row: &SqliteRow) -> Result<UnresolvedEntry, StoreError> {
    let record_id: String =
        col(row, "record_id").map_err(|d| corrupt("unresolved item with an unreadable record id", d))?;
    let body = || -> Result<UnresolvedEntry, String> {
        let kind: String = col(row, "kind")?;
        let field: Option<String> = col(row, "field")?;
        let since: String = col(row, "since")?;
        let checked_at: Option<String> = col(row, "checked_at")?;
        Ok(UnresolvedEntry {
            user: col(row, "user_id")?,
            object: parse_object(&col::<String>(row, "object")?)?,
            side: parse_side(&col::<String>(row, "side")?)?,
            record_id: RecordId(record_id.clone()),
            item: Unresolved {
                kind: UnresolvedKind::parse(&kind).ok_or_else(|| format!("unknown kind `{kind}`"))?,
                field: field
                    .map(|f| f.parse().map_err(|e: tandem_core::fields::UnknownField| e.to_string()))
                    .transpose()?,
                subject: col(row, "subject")?,
                detail: col(row, "detail")?,
            },
            since: parse_ts(&since)?,
            checked_at: checked_at.as_deref().map(parse_ts).transpose()?,
        })
    };
    body().map_err(|d| corrupt(format!("unresolved item for record {record_id}"), d))
}

fn decode_quarantine(row: &SqliteRow) -> Result<QuarantineEntry, StoreError> {
    let record_id: String =
        col(row, "record_id").map_err(|d| corrupt("quarantine entry with an unreadable record id", d))?;
    let body = || -> Result<QuarantineEntry, String> {
        let user: String = col(row, "user_id")?;
        let object: String = col(row, "object")?;
        let side: String = col(row, "side")?;
        let reason: String = col(row, "reason")?;
        let since: String = col(row, "since")?;
        let detail: Option<String> = col(row, "detail")?;
        let detail = detail.as_deref().map(parse_json).transpose()?;
        let approved_by: Option<String> = col(row, "approved_by")?;
        let approved_at: Option<String> = col(row, "approved_at")?;
        let detail = merge_approval(detail, approved_by, approved_at);
        Ok(QuarantineEntry {
            user,
            object: parse_object(&object)?,
            side: parse_side(&side)?,
            record_id: RecordId(record_id.clone()),
            reason,
            since: parse_ts(&since)?,
            detail,
        })
    };
    body().map_err(|d| corrupt(format!("quarantine entry for record {record_id}"), d))
}

fn decode_cycle(row: &SqliteRow) -> Result<CycleRecord, StoreError> {
    let id: i64 = col(row, "id").map_err(|d| corrupt("cycle with an unreadable id", d))?;
    let body = || -> Result<CycleRecord, String> {
        let object: String = col(row, "object")?;
        let started_at: String = col(row, "started_at")?;
        let finished_at: String = col(row, "finished_at")?;
        let counts: String = col(row, "counts")?;
        let operations: String = col(row, "operations")?;
        let omitted: i64 = col(row, "operations_omitted")?;
        Ok(CycleRecord {
            user: col(row, "user_id")?,
            object: parse_object(&object)?,
            started_at: parse_ts(&started_at)?,
            finished_at: parse_ts(&finished_at)?,
            dry_run: col(row, "dry_run")?,
            outcome: col(row, "outcome")?,
            counts: serde_json::from_str(&counts).map_err(|e| format!("counts: {e}"))?,
            operations: serde_json::from_str(&operations).map_err(|e| format!("operations: {e}"))?,
            operations_omitted: usize::try_from(omitted).map_err(|_| format!("operations_omitted {omitted}"))?,
        })
    };
    body().map_err(|d| corrupt(format!("cycle {id}"), d))
}

/// An audit row and its id.
fn decode_audit(row: &SqliteRow) -> Result<(i64, AuditEntry), StoreError> {
    let id: i64 = col(row, "id").map_err(|d| corrupt("audit entry with an unreadable id", d))?;
    let body = || -> Result<AuditEntry, String> {
        let at: String = col(row, "at")?;
        let object: String = col(row, "object")?;
        let side: Option<String> = col(row, "side")?;
        let record_id: Option<String> = col(row, "record_id")?;
        let detail: Option<String> = col(row, "detail")?;
        Ok(AuditEntry {
            at: parse_ts(&at)?,
            user: col(row, "user_id")?,
            object: parse_object(&object)?,
            side: side.as_deref().map(parse_side).transpose()?,
            record_id: record_id.map(RecordId),
            action: col(row, "action")?,
            outcome: col(row, "outcome")?,
            reason: col(row, "reason")?,
            detail: detail.as_deref().map(parse_json).transpose()?,
        })
    };
    let entry = body().map_err(|d| corrupt(format!("audit entry {id}"), d))?;
    Ok((id, entry))
}

fn decode_status(row: &SqliteRow) -> Result<UserStatus, StoreError> {
    let user: String = col(row, "user_id").map_err(|d| corrupt("status with an unreadable user", d))?;
    let body = || -> Result<UserStatus, String> {
        let last_cycle_at: Option<String> = col(row, "last_cycle_at")?;
        let last_success_at: Option<String> = col(row, "last_success_at")?;
        let failures: i64 = col(row, "consecutive_failures")?;
        Ok(UserStatus {
            user: user.clone(),
            last_cycle_at: last_cycle_at.as_deref().map(parse_ts).transpose()?,
            last_success_at: last_success_at.as_deref().map(parse_ts).transpose()?,
            last_error: col(row, "last_error")?,
            consecutive_failures: u32::try_from(failures)
                .map_err(|_| format!("consecutive_failures {failures} out of range"))?,
            ambiguous_matches: {
                let n: i64 = col(row, "ambiguous_matches")?;
                u32::try_from(n).map_err(|_| format!("ambiguous_matches {n} out of range"))?
            },
        })
    };
    body().map_err(|d| corrupt(format!("status of {user}"), d))
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
        e @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)) => corrupt(context, e.to_string()),
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

/// The tables whose rows are keyed by (user, object, side, record id).
#[derive(Clone, Copy)]
enum Keyed {
    Quarantine,
    Refetch,
}

/// Deletes the rows of `records` from a table keyed by (user, object, side, record id).
async fn delete_records(
    conn: &mut sqlx::SqliteConnection,
    table: Keyed,
    user: &str,
    obj: &str,
    records: &[(Side, RecordId)],
) -> Result<(), StoreError> {
    let (sql, what) = match table {
        Keyed::Quarantine => (
            "DELETE FROM quarantine WHERE user_id = ? AND object = ? AND side = ? AND record_id = ?",
            "commit_cycle: releasing from quarantine",
        ),
        Keyed::Refetch => (
            "DELETE FROM refetch WHERE user_id = ? AND object = ? AND side = ? AND record_id = ?",
            "commit_cycle: dequeuing a refetch",
        ),
    };
    for (side, id) in records {
        query(sql)
            .bind(user)
            .bind(obj)
            .bind(side.as_str())
            .bind(id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db(what))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_consecutive_and_end_at_the_schema_version() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    #[tokio::test]
    async fn pair_count_reads_one_row_not_the_pairs() -> Result<(), StoreError> {
        let store = SqliteStore::in_memory().await?;
        let rows = query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {PAIR_COUNT}")))
            .bind("u")
            .bind("contact")
            .fetch_all(&store.pool)
            .await
            .map_err(db("explain"))?;
        let plan: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String, _>("detail").ok()).collect();
        let plan = plan.join("\n");
        assert!(plan.contains("SEARCH pair_counts USING PRIMARY KEY"), "{plan}");
        Ok(())
    }

    /// A database written by schema version 1 (no counts) gets its counts from the pairs it
    /// holds when it is migrated, and keeps them from then on.
    #[tokio::test]
    async fn migrating_from_version_1_counts_the_existing_pairs() -> Result<(), StoreError> {
        use sqlx::ConnectOptions as _;
        let dir = std::env::temp_dir().join(format!(
            "tandem-store-v1-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io(e.to_string()))?;
        let path = dir.join("state.db");
        {
            let mut conn = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .connect()
                .await
                .map_err(db("connect"))?;
            let v1 = &MIGRATIONS[0];
            query(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, \
                 description TEXT NOT NULL, applied_at TEXT NOT NULL)",
            )
            .execute(&mut conn)
            .await
            .map_err(db("v1"))?;
            for statement in v1.statements {
                query(*statement).execute(&mut conn).await.map_err(db("v1"))?;
            }
            query("INSERT INTO schema_version VALUES (1, 'initial schema', '2025-01-01T00:00:00.000000000Z')")
                .execute(&mut conn)
                .await
                .map_err(db("v1"))?;
            // ada: 3 live contacts and a tombstoned one, 1 event; bob: 2 contacts.
            let rows: [(&str, &str, u32, Option<&str>); 7] = [
                ("ada", "contact", 1, None),
                ("ada", "contact", 2, None),
                ("ada", "contact", 3, Some("crm")),
                ("ada", "contact", 4, None),
                ("ada", "event", 1, None),
                ("bob", "contact", 1, None),
                ("bob", "contact", 2, None),
            ];
            for (user, object, n, tombstone) in rows {
                query(
                    "INSERT INTO pairs VALUES (?, ?, ?, ?, 'v', '{}', ?, 'v', '{}', \
                     '2025-01-01T00:00:00.000000000Z', ?)",
                )
                .bind(user)
                .bind(object)
                .bind(format!("p{n}"))
                .bind(format!("c{n}"))
                .bind(format!("m{n}"))
                .bind(tombstone)
                .execute(&mut conn)
                .await
                .map_err(db("v1 pairs"))?;
            }
            sqlx::Connection::close(conn).await.map_err(db("close"))?;
        }
        let store = SqliteStore::open(&path).await?;
        assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
        assert_eq!(store.pair_count("ada", ObjectKind::Contact).await?, 3);
        assert_eq!(store.pair_count("ada", ObjectKind::Event).await?, 1);
        assert_eq!(store.pair_count("bob", ObjectKind::Contact).await?, 2);
        assert_eq!(store.pair_count("bob", ObjectKind::Event).await?, 0);
        // Counting goes on from the migrated numbers.
        let removal = CycleCommit {
            remove_pairs: vec![IdempotencyKey("p1".into()), IdempotencyKey("p3".into())],
            ..CycleCommit::default()
        };
        store.commit_cycle("ada", ObjectKind::Contact, removal).await?;
        assert_eq!(store.pair_count("ada", ObjectKind::Contact).await?, 2);
        store.close().await;
        std::fs::remove_dir_all(&dir).map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(())
    }

    /// A database written by schema version 4 (no cycle history, no approvals) keeps its
    /// quarantine when migrated to version 5 and gains both.
    #[tokio::test]
    async fn migrating_from_version_4_keeps_the_quarantine_and_adds_history() -> Result<(), StoreError> {
        use sqlx::ConnectOptions as _;
        let dir = std::env::temp_dir().join(format!(
            "tandem-store-v4-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io(e.to_string()))?;
        let path = dir.join("state.db");
        {
            let mut conn = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .connect()
                .await
                .map_err(db("connect"))?;
            query(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, \
                 description TEXT NOT NULL, applied_at TEXT NOT NULL)",
            )
            .execute(&mut conn)
            .await
            .map_err(db("v4"))?;
            for step in MIGRATIONS.iter().filter(|m| m.version <= 4) {
                for statement in step.statements {
                    query(*statement).execute(&mut conn).await.map_err(db("v4"))?;
                }
                query("INSERT INTO schema_version VALUES (?, ?, '2025-01-01T00:00:00.000000000Z')")
                    .bind(step.version)
                    .bind(step.description)
                    .execute(&mut conn)
                    .await
                    .map_err(db("v4"))?;
            }
            query(
                "INSERT INTO quarantine VALUES ('ada', 'contact', 'crm', '003A', 'mass-delete guard', \
                 '2025-01-01T00:00:00.000000000Z', '{\"kind\":\"held_delete\"}')",
            )
            .execute(&mut conn)
            .await
            .map_err(db("v4 quarantine"))?;
            sqlx::Connection::close(conn).await.map_err(db("close"))?;
        }
        let store = SqliteStore::open(&path).await?;
        assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
        let q = store.quarantine("ada").await?;
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].detail, Some(serde_json::json!({ "kind": "held_delete" })));
        assert!(store.cycles("ada", 10).await?.is_empty());
        assert_eq!(store.users().await?, vec!["ada".to_owned()]);

        // Approval: kept apart from the detail, so a cycle re-quarantining the entry keeps it.
        let held = [(Side::Crm, RecordId::new("003A"))];
        assert_eq!(store.approve_quarantined("ada", ObjectKind::Contact, &held, "cli:root", Utc::now()).await?, 1);
        assert_eq!(store.approve_quarantined("ada", ObjectKind::Contact, &held, "cli:root", Utc::now()).await?, 0);
        let fresh = QuarantineEntry { detail: Some(serde_json::json!({ "kind": "held_delete" })), ..q[0].clone() };
        let again = CycleCommit { quarantine_add: vec![fresh.clone()], ..CycleCommit::default() };
        store.commit_cycle("ada", ObjectKind::Contact, again).await?;
        let q = store.quarantine("ada").await?;
        let detail = q[0].detail.clone().unwrap_or_default();
        assert_eq!(detail["kind"], "held_delete");
        assert_eq!(detail["approved"], true);
        assert_eq!(detail["approved_by"], "cli:root");
        // Released: the approval goes with the entry.
        let release = CycleCommit { quarantine_remove: held.to_vec(), ..CycleCommit::default() };
        store.commit_cycle("ada", ObjectKind::Contact, release).await?;
        let back = CycleCommit { quarantine_add: vec![fresh], ..CycleCommit::default() };
        store.commit_cycle("ada", ObjectKind::Contact, back).await?;
        let q = store.quarantine("ada").await?;
        assert_eq!(q[0].detail, Some(serde_json::json!({ "kind": "held_delete" })));
        store.reset_user("ada", None).await?;

        // History: newest first, the newest 50 per user kept, other users untouched.
        let at = |n: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(n);
        let op = crate::CycleOperation::new("create", Some(Side::Mailbox), None, "new in crm", "applied");
        let many: Vec<crate::CycleOperation> = vec![op; crate::MAX_CYCLE_OPERATIONS + 7];
        let bob = CycleRecord::new("bob", ObjectKind::Event, at(0), at(1), true, "ok", crate::CycleCounts::default());
        store.record_cycle(&bob).await?;
        for n in 0..60 {
            let counts = crate::CycleCounts::new(n as usize, 0, 0, 0, 0);
            let record = CycleRecord::new("ada", ObjectKind::Contact, at(n), at(n + 1), false, "ok", counts)
                .with_operations(many.clone());
            store.record_cycle(&record).await?;
        }
        let kept = store.cycles("ada", 1_000).await?;
        assert_eq!(kept.len(), crate::CYCLES_KEPT_PER_USER);
        assert_eq!(kept[0].counts.creates, 59);
        assert_eq!(kept[49].counts.creates, 10);
        assert_eq!(kept[0].operations.len(), crate::MAX_CYCLE_OPERATIONS);
        assert_eq!(kept[0].operations_omitted, 7);
        assert_eq!(store.cycles("bob", 10).await?, vec![bob]);
        assert_eq!(store.users().await?, vec!["ada".to_owned(), "bob".to_owned()]);
        store.close().await;
        std::fs::remove_dir_all(&dir).map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(())
    }

    #[tokio::test]
    async fn pairs_by_record_uses_the_index() -> Result<(), StoreError> {
        let store = SqliteStore::in_memory().await?;
        for (side, index) in [(Side::Crm, "pairs_by_crm_id"), (Side::Mailbox, "pairs_by_mailbox_id")] {
            let sql = format!("EXPLAIN QUERY PLAN {}", pairs_by_record_sql(side, 3));
            let rows = query(AssertSqlSafe(sql))
                .bind("u")
                .bind("contact")
                .bind("a")
                .bind("b")
                .bind("c")
                .fetch_all(&store.pool)
                .await
                .map_err(db("explain"))?;
            let plan: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String, _>("detail").ok()).collect();
            let plan = plan.join("\n");
            assert!(plan.contains(index), "{side}: {plan}");
            assert!(!plan.contains("SCAN pairs"), "{side}: {plan}");
        }
        Ok(())
    }
}
