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
//! Layout of the module's files:
//!
//! - `mod.rs` (here): the store, its [`StateStore`] methods (the shorter bodies in place), the
//!   reset statements and the error mapping;
//! - `open`: opening (connection options, pragmas, migration on open), the background WAL
//!   checkpointer, the schema version, closing;
//! - `queue`: write turns and the journal queue (the group commit behind
//!   [`StateStore::record_intents`]);
//! - `reads`: the longer reads (pairs by record ids, the audit log and its export);
//! - `commit`: the writes of a cycle's commit (pairs, intents, audit);
//! - `status`: status rows and cycle history;
//! - `schema`: the migrations;
//! - `tests`: unit tests of the internals.
//!
//! Rows are read back into the trait's types by `decode` (the crate's `rows` module).

// The columns `decode::pair` reads, in a macro so they can be `concat!`ed into static SQL.
// Defined before the `mod` items so that `reads` can use it too.
macro_rules! pair_columns {
    () => {
        "pair_id, object, crm_id, crm_version, crm_fields, mailbox_id, mailbox_version, \
         mailbox_fields, synced_at, tombstone"
    };
}

mod commit;
mod open;
mod queue;
mod reads;
mod schema;
mod status;
#[cfg(test)]
mod tests;

use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;
use sqlx::{query, query_scalar};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Cursor, PairId, PairState, RecordId, Side};

pub(crate) use self::commit::{BATCH_ROWS, SqliteQuery, batch_sql, validate_commit};
use self::commit::{apply_commit, delete_intents, insert_audit};
use self::open::Checkpointer;
use self::queue::{JournalQueue, WriteTurns};
use self::status::{insert_cycles, upsert_status};
use crate::codec::ts;
use crate::rows as decode;
use crate::{
    AuditEntry, CycleCommit, CycleRecord, Intent, QuarantineEntry, StateStore, StoreError, UnresolvedEntry, UserId,
    UserStatus,
};

// What the unit tests (`tests.rs`, `use super::*`) still take from here now that their users moved.
#[cfg(test)]
use self::reads::pairs_by_record_sql;
#[cfg(test)]
use sqlx::AssertSqlSafe;
#[cfg(test)]
use sqlx::sqlite::SqliteConnectOptions;
#[cfg(test)]
use std::time::Duration;

/// The schema version this build writes and understands. A database at a higher version is
/// refused with [`StoreError::Migration`].
pub const SCHEMA_VERSION: i64 = 11;

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
        self.read_pairs_by_record(user, object, side, ids).await
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
        Ok(ids.into_iter().map(RecordId::from).collect())
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
        self.read_audit_log(user, since, limit).await
    }

    async fn export_audit_jsonl(
        &self,
        user: Option<&str>,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<usize, StoreError> {
        self.read_audit_into_jsonl(user, out).await
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
