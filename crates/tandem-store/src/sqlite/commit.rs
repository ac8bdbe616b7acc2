//! The body of [`StateStore::commit_cycle`](crate::StateStore::commit_cycle) and the batch
//! writes it shares with other methods (intents, audit), inside the caller's transaction.

use std::sync::{Arc, OnceLock};

use chrono::Utc;
use sqlx::sqlite::{SqliteArguments, SqliteConnection};
use sqlx::{AssertSqlSafe, query};
use tandem_core::model::ObjectKind;
use tandem_core::state::{PairState, RecordId, Side};

use super::{db, map_sqlx};
use crate::codec::{encode_prints_bytes, ts};
use crate::{AuditEntry, CycleCommit, Intent, StoreError};

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

/// The common cases in one statement: a new pair is inserted, and a pair whose ids are as stored
/// gets its versions, prints and time without naming the id columns, so SQLite leaves the two id
/// indexes alone (an upsert setting an id to its own value rewrites the index entry; on 100,000
/// pairs that was 40% of a commit). A stored pair whose ids moved is neither (the `WHERE` of the
/// update is false) and is not counted among the statement's changed rows; a statement that
/// changed fewer rows than it carries is written again through [`UPSERT_PAIR_TAIL`]. Its rows are
/// [`PAIR_ROW`] (the table's column order). The user and object are repeated in every row on
/// purpose: binding them once, through a one-row subquery joined with the rows, made a
/// 1,000-change cycle ten times slower (`benches/cycle.rs`, 2026-12-06). Before, new pairs were
/// first offered to an `UPDATE … FROM (VALUES …)` and then inserted: every argument of a first
/// sync's pairs was bound twice.
const UPSERT_SAME_IDS_TAIL: &str = " ON CONFLICT (user_id, object, pair_id) DO UPDATE SET \
     crm_version = excluded.crm_version, crm_fields = excluded.crm_fields, \
     mailbox_version = excluded.mailbox_version, mailbox_fields = excluded.mailbox_fields, \
     synced_at = excluded.synced_at, tombstone = excluded.tombstone \
     WHERE pairs.crm_id = excluded.crm_id AND pairs.mailbox_id = excluded.mailbox_id";

const INSERT_AUDIT_HEAD: &str = "INSERT INTO audit \
     (at, user_id, object, side, record_id, action, outcome, reason, detail) VALUES ";

const AUDIT_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";

const UPSERT_INTENT_HEAD: &str =
    "INSERT INTO journal (user_id, intent_key, object, target, operation, created_at) VALUES ";

const INTENT_ROW: &str = "(?, ?, ?, ?, ?, ?)";

const UPSERT_INTENT_TAIL: &str = " ON CONFLICT (user_id, intent_key) DO UPDATE SET object = excluded.object, \
     target = excluded.target, operation = excluded.operation, created_at = excluded.created_at";

const DELETE_INTENTS_HEAD: &str = "DELETE FROM journal WHERE user_id = ? AND intent_key IN (";

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

/// The body of [`StateStore::commit_cycle`](crate::StateStore::commit_cycle), inside its transaction.
pub(super) async fn apply_commit(
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
    insert_audit(conn, &commit.audit).await?;
    if let Some(consumed) = &commit.feed_consumed {
        crate::feed::sqlite::prune_inbox(conn, object, consumed).await?;
    }
    Ok(())
}

/// Pairs are written [`BATCH_ROWS`] rows per statement: far fewer round trips to SQLite's worker
/// thread than one statement per pair. Each chunk is first inserted or updated in place where its
/// ids are unchanged ([`UPSERT_SAME_IDS_TAIL`]). A chunk holding a pair whose ids moved (rare: a
/// record re-created or re-keyed) changes fewer rows than it carries and is then upserted in full,
/// which writes every row of it as given (rows already written get the same values again). The
/// count replaces a `RETURNING` of every pair's id, which cost a result row per pair.
async fn upsert_pairs(
    conn: &mut SqliteConnection,
    user: &str,
    obj: &str,
    pairs: &[PairState],
) -> Result<(), StoreError> {
    static FULL: OnceLock<Arc<str>> = OnceLock::new();
    static FULL_SAME_IDS: OnceLock<Arc<str>> = OnceLock::new();
    // Bound as shared text: every row repeats them, and a `String` is copied into a new
    // allocation per bind.
    let (user, obj): (Arc<str>, Arc<str>) = (user.into(), obj.into());
    let (user, obj) = (&user, &obj);
    // In the commit's order, as PostgreSQL writes them: where one pair takes a record id another
    // gives up in the same commit, the order decides whether the unique index allows it.
    for chunk in pairs.chunks(BATCH_ROWS) {
        let encoded: Vec<EncodedPair<'_>> = chunk.iter().map(EncodedPair::new).collect();
        let sql = batch_sql(&FULL_SAME_IDS, chunk.len(), UPSERT_PAIR_HEAD, PAIR_ROW, UPSERT_SAME_IDS_TAIL);
        let q = encoded.iter().fold(query(AssertSqlSafe(sql)), |q, pair| pair.bind_row(q, user, obj));
        let changed = match q.execute(&mut *conn).await {
            Ok(done) => done.rows_affected(),
            Err(e) => return Err(name_the_failing_pair(conn, user, obj, encoded.iter(), e).await),
        };
        if usize::try_from(changed).is_ok_and(|changed| changed >= encoded.len()) {
            continue;
        }
        let sql = batch_sql(&FULL, encoded.len(), UPSERT_PAIR_HEAD, PAIR_ROW, UPSERT_PAIR_TAIL);
        let q = encoded.iter().fold(query(AssertSqlSafe(sql)), |q, pair| pair.bind_row(q, user, obj));
        if let Err(e) = q.execute(&mut *conn).await {
            return Err(name_the_failing_pair(conn, user, obj, encoded.iter(), e).await);
        }
    }
    Ok(())
}

/// The error of a batch of pairs that failed, naming the pair at fault: a failed statement is
/// undone on its own and the transaction goes on, so the batch is replayed pair by pair (the
/// caller rolls back). `error` when every pair stores on its own.
async fn name_the_failing_pair<'p>(
    conn: &mut SqliteConnection,
    user: &Arc<str>,
    obj: &Arc<str>,
    pairs: impl Iterator<Item = &'p EncodedPair<'p>>,
    error: sqlx::Error,
) -> StoreError {
    static ONE: OnceLock<Arc<str>> = OnceLock::new();
    for pair in pairs {
        let one = batch_sql(&ONE, 1, UPSERT_PAIR_HEAD, PAIR_ROW, UPSERT_PAIR_TAIL);
        if let Err(e) = pair.bind_row(query(AssertSqlSafe(one)), user, obj).execute(&mut *conn).await {
            let what = format!(
                "commit_cycle: storing pair {} (crm {}, mailbox {})",
                pair.pair.pair_id, pair.pair.crm.id, pair.pair.mailbox.id
            );
            return map_sqlx(&what, e);
        }
    }
    map_sqlx("commit_cycle: storing pairs", error)
}

/// A pair with its prints encoded once, for whichever statement writes it (shared, so that a
/// bind does not copy them). Prints are stored as bytes (`codec::encode_prints_bytes`).
struct EncodedPair<'a> {
    pair: &'a PairState,
    crm_fields: Arc<[u8]>,
    mailbox_fields: Arc<[u8]>,
}

impl<'a> EncodedPair<'a> {
    fn new(pair: &'a PairState) -> Self {
        EncodedPair {
            pair,
            crm_fields: encode_prints_bytes(&pair.crm.fields).into(),
            mailbox_fields: encode_prints_bytes(&pair.mailbox.fields).into(),
        }
    }

    /// The pair's row for [`PAIR_ROW`]: the table's columns in order. Ids and versions are
    /// bound as the shared text they are held in, not copied.
    fn bind_row(&self, q: SqliteQuery, user: &Arc<str>, obj: &Arc<str>) -> SqliteQuery {
        let pair = self.pair;
        q.bind(Arc::clone(user))
            .bind(Arc::clone(obj))
            .bind(Arc::clone(&pair.pair_id.0))
            .bind(Arc::clone(&pair.crm.id.0))
            .bind(Arc::clone(&pair.crm.version.0))
            .bind(Arc::clone(&self.crm_fields))
            .bind(Arc::clone(&pair.mailbox.id.0))
            .bind(Arc::clone(&pair.mailbox.version.0))
            .bind(Arc::clone(&self.mailbox_fields))
            .bind(ts(&pair.synced_at))
            .bind(pair.tombstone.map(Side::as_str))
    }
}

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
pub(super) async fn upsert_intents(conn: &mut SqliteConnection, intents: &[Intent]) -> Result<(), StoreError> {
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

pub(super) async fn delete_intents(conn: &mut SqliteConnection, user: &str, keys: &[String]) -> Result<(), StoreError> {
    static FULL: OnceLock<Arc<str>> = OnceLock::new();
    for chunk in keys.chunks(BATCH_ROWS) {
        let sql = batch_sql(&FULL, chunk.len(), DELETE_INTENTS_HEAD, "?", ")");
        let q = chunk.iter().fold(query(AssertSqlSafe(sql)).bind(user.to_owned()), |q, key| q.bind(key.clone()));
        q.execute(&mut *conn).await.map_err(db("resolving intents"))?;
    }
    Ok(())
}

pub(super) async fn insert_audit(conn: &mut SqliteConnection, entries: &[AuditEntry]) -> Result<(), StoreError> {
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
