//! [`PgStore`]: the PostgreSQL [`StateStore`], for many workers sharing one state.
//!
//! Same tables, columns, versions and behaviour as [`SqliteStore`](crate::SqliteStore) (the
//! conformance suite in `tests/conformance` runs against both); the types are PostgreSQL's, see
//! `schema`. What differs is how writers share the database:
//!
//! - Every method that writes runs in one transaction at READ COMMITTED; nothing takes a table
//!   lock. Upserts are `INSERT … ON CONFLICT … DO UPDATE` (row locks).
//! - The live-pair counters are one row per (user, object), moved by a row trigger on `pairs`
//!   with `INSERT … ON CONFLICT DO UPDATE SET live = live + 1`; a commit that writes pairs locks
//!   its counter row (`SELECT … FOR UPDATE`) before any pair row, so two processes committing
//!   to the same user and object queue one behind the other instead of deadlocking, and the
//!   count stays exact. Commits for different users or objects do not wait for each other.
//! - A commit that still hits a deadlock or a serialization failure (SQLSTATE `40P01`,
//!   `40001`) is rolled back and retried a few times, then reported as
//!   [`StoreError::Conflict`].
//! - The journal of intents commits with `synchronous_commit = on` whatever the server's
//!   default, so a recorded intent is on disk (and on synchronous standbys) before the write is
//!   sent.
//!
//! Claims ([`Claims`](crate::Claims), one holder per user at a time) are session-level
//! advisory locks on connections of their own: see `claims`.
//!
//! The connection URL is a secret (it can carry a password): it is never kept, printed, logged
//! or put into an error.

mod claims;
mod columns;
mod commit;
use crate::rows as decode;
mod schema;

use std::str::FromStr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, query, query_scalar};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Cursor, PairId, PairState, RecordId, Side};

use crate::codec::ts;
use crate::sqlite::validate_commit;
use crate::{
    AuditEntry, CYCLES_KEPT_PER_USER, CycleCommit, CycleRecord, Intent, QuarantineEntry, StateStore, StoreError,
    UnresolvedEntry, UserId, UserStatus,
};

/// Connections [`PgStore::connect`] opens at most. Use [`PgStore::from_pool`] to choose.
const MAX_CONNECTIONS: u32 = 8;

/// How long [`PgStore::connect`] waits for a connection from the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Ids per `= ANY(…)` array in `pairs_by_record`.
const IN_CHUNK: usize = 5_000;

/// Audit rows read per page when exporting.
const EXPORT_PAGE: i64 = 1_000;

/// Attempts of a transaction that a deadlock or serialization failure rolled back.
const ATTEMPTS: u32 = 4;

/// The PostgreSQL [`StateStore`]: every user's state in one database (in the tables of the
/// connection's `search_path`), shared by any number of processes.
///
/// Cheap to clone: clones share one connection pool. Its `Debug` shows no connection details.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    claims: claims::ClaimConnections,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("connections", &self.pool.size()).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with
    /// any of libpq's URL parameters, e.g. `sslmode=verify-full`), up to 8 connections, and
    /// migrates its schema to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    ///
    /// The URL is never echoed: a malformed one fails with [`StoreError::Invalid`] saying only
    /// that. Fails with [`StoreError::Migration`] if the database was written by a newer
    /// Tandem.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|_| {
            StoreError::Invalid(
                "the PostgreSQL URL is not valid (it is not shown: it may carry a password); expected \
                 postgres://user[:password]@host[:port]/database[?param=value…]"
                    .into(),
            )
        })?;
        let options = options.application_name("tandem");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(db("connecting to PostgreSQL"))?;
        Self::from_pool(pool).await
    }

    /// A store on an existing pool (its size, timeouts, TLS and `search_path` are the caller's
    /// choice), after migrating the schema as [`PgStore::connect`] does.
    pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        schema::migrate(&pool).await?;
        let claims = claims::ClaimConnections::new(&pool.connect_options());
        Ok(PgStore { pool, claims })
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> = query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&self.pool)
            .await
            .map_err(db("reading the schema version"))?;
        Ok(version.unwrap_or(0))
    }

    /// The pool, e.g. to share it or to run maintenance.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection, waiting for queries in flight. Later calls fail.
    pub async fn close(&self) {
        self.claims.close().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl StateStore for PgStore {
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
        let sql = match side {
            Side::Crm => "crm_id",
            Side::Mailbox => "mailbox_id",
        };
        let sql = format!(
            "SELECT {} FROM pairs WHERE user_id = $1 AND object = $2 AND {sql} = ANY($3::text[])",
            columns::PAIR_COLUMNS
        );
        let mut pairs = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let rows = query(AssertSqlSafe(sql.as_str()))
                .bind(user)
                .bind(object.as_str())
                .bind(chunk)
                .fetch_all(&self.pool)
                .await
                .map_err(db("pairs_by_record"))?;
            for row in &rows {
                pairs.push(decode::pair(row)?);
            }
        }
        Ok(pairs)
    }

    async fn pair(&self, user: &str, object: ObjectKind, pair: &PairId) -> Result<Option<PairState>, StoreError> {
        let sql =
            format!("SELECT {} FROM pairs WHERE user_id = $1 AND object = $2 AND pair_id = $3", columns::PAIR_COLUMNS);
        let row = query(AssertSqlSafe(sql))
            .bind(user)
            .bind(object.as_str())
            .bind(pair.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("pair"))?;
        row.as_ref().map(decode::pair).transpose()
    }

    async fn pair_count(&self, user: &str, object: ObjectKind) -> Result<usize, StoreError> {
        let n: i64 = query_scalar("SELECT live FROM pair_counts WHERE user_id = $1 AND object = $2")
            .bind(user)
            .bind(object.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("pair_count"))?
            .unwrap_or(0);
        usize::try_from(n).map_err(|_| StoreError::Database(format!("pair_count: impossible count {n}")))
    }

    async fn all_pairs(&self, user: &str, object: ObjectKind) -> Result<Vec<PairState>, StoreError> {
        let sql =
            format!("SELECT {} FROM pairs WHERE user_id = $1 AND object = $2 ORDER BY pair_id", columns::PAIR_COLUMNS);
        let rows = query(AssertSqlSafe(sql))
            .bind(user)
            .bind(object.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db("all_pairs"))?;
        rows.iter().map(decode::pair).collect()
    }

    async fn cursor(&self, user: &str, object: ObjectKind, side: Side) -> Result<Option<Cursor>, StoreError> {
        let bytes: Option<Vec<u8>> =
            query_scalar("SELECT cursor FROM cursors WHERE user_id = $1 AND object = $2 AND side = $3")
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
        let mut tx = self.pool.begin().await.map_err(db("record_intents: begin"))?;
        // Durable before the write is sent, even where the server's default is relaxed.
        query("SET LOCAL synchronous_commit = on")
            .execute(&mut *tx)
            .await
            .map_err(db("record_intents: synchronous_commit"))?;
        commit::upsert_intents(&mut tx, intents).await?;
        tx.commit().await.map_err(db("record_intents: commit"))
    }

    async fn pending_intents(&self, user: &str) -> Result<Vec<Intent>, StoreError> {
        let rows = query(
            "SELECT user_id, intent_key, object, target, operation::text AS operation, created_at FROM journal \
             WHERE user_id = $1 ORDER BY created_at, seq",
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
        let mut tx = self.pool.begin().await.map_err(db("resolve_intents"))?;
        commit::delete_intents(&mut tx, user, keys).await?;
        tx.commit().await.map_err(db("resolve_intents: commit"))
    }

    async fn refetch_queue(&self, user: &str, object: ObjectKind, side: Side) -> Result<Vec<RecordId>, StoreError> {
        let ids: Vec<String> =
            query_scalar("SELECT record_id FROM refetch WHERE user_id = $1 AND object = $2 AND side = $3 ORDER BY seq")
                .bind(user)
                .bind(object.as_str())
                .bind(side.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(|e| map_sqlx(&format!("{side} {object} refetch queue"), e))?;
        Ok(ids.into_iter().map(RecordId::from).collect())
    }

    async fn commit_cycle(&self, user: &str, object: ObjectKind, commit: CycleCommit) -> Result<(), StoreError> {
        validate_commit(user, object, &commit)?;
        if commit.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let result = async {
                let mut tx = self.pool.begin().await.map_err(db("commit_cycle: begin"))?;
                // On error the transaction is dropped, which rolls it back.
                commit::apply(&mut tx, user, object, &commit).await?;
                tx.commit().await.map_err(db("commit_cycle: commit"))
            }
            .await;
            match result {
                Err(StoreError::Conflict(e)) if attempt < ATTEMPTS => {
                    tracing::debug!(user, %object, attempt, error = %e, "commit_cycle conflicted; retrying");
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
                    attempt += 1;
                }
                other => {
                    other?;
                    break;
                }
            }
        }
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

    async fn quarantine(&self, user: &str) -> Result<Vec<QuarantineEntry>, StoreError> {
        let rows = query(
            "SELECT user_id, object, side, record_id, reason, since, detail::text AS detail, approved_by, \
             approved_at FROM quarantine WHERE user_id = $1 ORDER BY object, side, record_id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(db("quarantine"))?;
        rows.iter().map(decode::quarantine).collect()
    }

    async fn unresolved(&self, user: &str) -> Result<Vec<UnresolvedEntry>, StoreError> {
        let rows = query(
            "SELECT user_id, object, side, record_id, kind, subject, field, detail, since, checked_at \
             FROM unresolved WHERE user_id = $1 ORDER BY object, side, record_id, kind, subject",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(db("unresolved"))?;
        rows.iter().map(decode::unresolved).collect()
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db("append_audit"))?;
        commit::insert_audit(&mut tx, entries).await?;
        tx.commit().await.map_err(db("append_audit: commit"))
    }

    async fn audit_log(
        &self,
        user: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        // One statement per combination of filters, so each gets the plan for its index.
        let filter = match (user.is_some(), since.is_some()) {
            (true, true) => "WHERE user_id = $1 AND at >= $2",
            (true, false) => "WHERE user_id = $1",
            (false, true) => "WHERE at >= $1",
            (false, false) => "",
        };
        let sql =
            format!("SELECT {} FROM audit {filter} ORDER BY at DESC, id DESC LIMIT ${}", columns::AUDIT_COLUMNS, {
                1 + usize::from(user.is_some()) + usize::from(since.is_some())
            });
        let mut q = query(AssertSqlSafe(sql));
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
        let sql = format!(
            "SELECT {} FROM audit WHERE id > $1 AND ($2::text IS NULL OR user_id = $2) ORDER BY id LIMIT $3",
            columns::AUDIT_COLUMNS
        );
        let mut after = 0_i64;
        let mut written = 0_usize;
        loop {
            let rows = query(AssertSqlSafe(sql.as_str()))
                .bind(after)
                .bind(user)
                .bind(EXPORT_PAGE)
                .fetch_all(&self.pool)
                .await
                .map_err(db("export_audit_jsonl"))?;
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
        let done = query("DELETE FROM audit WHERE at < $1")
            .bind(ts(&older_than))
            .execute(&self.pool)
            .await
            .map_err(db("prune_audit"))?;
        Ok(done.rows_affected())
    }

    async fn set_status(&self, status: &UserStatus) -> Result<(), StoreError> {
        query(
            "INSERT INTO status (user_id, last_cycle_at, last_success_at, last_error, consecutive_failures, \
             ambiguous_matches) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id) DO UPDATE SET last_cycle_at = EXCLUDED.last_cycle_at, \
             last_success_at = EXCLUDED.last_success_at, last_error = EXCLUDED.last_error, \
             consecutive_failures = EXCLUDED.consecutive_failures, ambiguous_matches = EXCLUDED.ambiguous_matches",
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
             FROM status WHERE user_id = $1",
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
             FROM status ORDER BY user_id",
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
        let mut tx = self.pool.begin().await.map_err(db("approve_quarantined"))?;
        let mut marked = 0;
        for (side, id) in records {
            let done = query(
                "UPDATE quarantine SET approved_by = $1, approved_at = $2 \
                 WHERE user_id = $3 AND object = $4 AND side = $5 AND record_id = $6 AND approved_by IS NULL",
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
        let (counts, operations) = crate::codec::cycle_json(record)?;
        let mut tx = self.pool.begin().await.map_err(db("record_cycle"))?;
        query(
            "INSERT INTO cycles (user_id, object, started_at, finished_at, dry_run, outcome, counts, operations, \
             operations_omitted) VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8::json, $9)",
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
            "DELETE FROM cycles WHERE user_id = $1 AND id <= \
             (SELECT id FROM cycles WHERE user_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
        )
        .bind(&record.user)
        .bind(i64::try_from(CYCLES_KEPT_PER_USER).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(db("record_cycle: pruning"))?;
        tx.commit().await.map_err(db("record_cycle: commit"))
    }

    async fn cycles(&self, user: &str, limit: usize) -> Result<Vec<CycleRecord>, StoreError> {
        let rows = query(
            "SELECT id, user_id, object, started_at, finished_at, dry_run, outcome, counts::text AS counts, \
             operations::text AS operations, operations_omitted FROM cycles WHERE user_id = $1 \
             ORDER BY id DESC LIMIT $2",
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
        // `object` NULL: every object. The counter rows are locked first, in object order, as
        // commits lock theirs (see `commit::apply`).
        const STEPS: [&str; 8] = [
            "SELECT live FROM pair_counts WHERE user_id = $1 AND ($2::text IS NULL OR object = $2) \
             ORDER BY object FOR UPDATE",
            // Deleting the pairs brings their counts to zero (trigger); the zero rows go after.
            "DELETE FROM pairs WHERE user_id = $1 AND ($2::text IS NULL OR object = $2)",
            "DELETE FROM unresolved WHERE user_id = $1 AND ($2::text IS NULL OR object = $2)",
            "DELETE FROM pair_counts WHERE user_id = $1 AND ($2::text IS NULL OR object = $2)",
            "DELETE FROM cursors WHERE user_id = $1 AND ($2::text IS NULL OR object = $2)",
            "DELETE FROM refetch WHERE user_id = $1 AND ($2::text IS NULL OR object = $2)",
            "DELETE FROM quarantine WHERE user_id = $1 AND ($2::text IS NULL OR object = $2)",
            "DELETE FROM journal WHERE user_id = $1 AND ($2::text IS NULL OR object = $2)",
        ];
        let mut attempt = 1;
        loop {
            let result = async {
                let mut tx = self.pool.begin().await.map_err(db("reset_user"))?;
                for sql in STEPS {
                    query(sql)
                        .bind(user)
                        .bind(object.map(ObjectKind::as_str))
                        .execute(&mut *tx)
                        .await
                        .map_err(db("reset_user"))?;
                }
                tx.commit().await.map_err(db("reset_user: commit"))
            }
            .await;
            match result {
                Err(StoreError::Conflict(_)) if attempt < ATTEMPTS => attempt += 1,
                other => {
                    other?;
                    break;
                }
            }
        }
        tracing::info!(user, object = object.map(ObjectKind::as_str).unwrap_or("all"), "reset sync state");
        Ok(())
    }
}

// ---- errors ----

/// A sqlx error in words, without bound values: for a database error only its message (which
/// names constraints, tables and columns), never its detail (which quotes key values).
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_owned(),
        // Configuration errors can quote the connection options.
        sqlx::Error::Configuration(_) => "invalid connection configuration (not shown)".to_owned(),
        other => other.to_string(),
    }
}

/// Maps a sqlx error to a [`StoreError`], naming what was being done. Constraint failures
/// become [`StoreError::Constraint`]; deadlocks and serialization failures
/// [`StoreError::Conflict`]; undecodable columns [`StoreError::Corrupt`].
fn map_sqlx(context: &str, e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) => {
            let message = format!("{context}: {}", d.message());
            if d.is_unique_violation() || d.is_foreign_key_violation() || d.is_check_violation() {
                StoreError::Constraint(message)
            } else if matches!(d.code().as_deref(), Some("40001" | "40P01")) {
                StoreError::Conflict(message)
            } else {
                StoreError::Database(message)
            }
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => decode::corrupt(context, e.to_string()),
        _ => StoreError::Database(format!("{context}: {}", describe(&e))),
    }
}

/// [`map_sqlx`] with a fixed context, for `map_err`.
pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| map_sqlx(context, e)
}
