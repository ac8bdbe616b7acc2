//! The body of [`StateStore::commit_cycle`](crate::StateStore::commit_cycle) and the batch
//! writes it shares with other methods, inside the caller's transaction.
//!
//! Lists are bound as arrays and expanded with `UNNEST … WITH ORDINALITY` (kept in order): one
//! statement per list instead of one per row, whatever the size (no bind-variable limit to chunk
//! around beyond [`BATCH_ROWS`], which bounds one statement's work).

use std::collections::HashMap;

use chrono::Utc;
use sqlx::{PgConnection, query};
use tandem_core::model::ObjectKind;
use tandem_core::state::{PairState, RecordId, Side};

use super::{db, map_sqlx};
use crate::codec::{encode_prints, ts};
use crate::{AuditEntry, CycleCommit, Intent, StoreError};

/// Rows per array-bound statement.
const BATCH_ROWS: usize = 1_000;

const UPSERT_PAIRS: &str = "INSERT INTO pairs (user_id, object, pair_id, crm_id, crm_version, crm_fields, \
     mailbox_id, mailbox_version, mailbox_fields, synced_at, tombstone) \
     SELECT $1, $2, p.pair_id, p.crm_id, p.crm_version, p.crm_fields, p.mailbox_id, p.mailbox_version, \
     p.mailbox_fields, p.synced_at, p.tombstone \
     FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
     $10::text[], $11::text[]) WITH ORDINALITY AS p(pair_id, crm_id, crm_version, crm_fields, mailbox_id, \
     mailbox_version, mailbox_fields, synced_at, tombstone, ord) ORDER BY p.ord \
     ON CONFLICT (user_id, object, pair_id) DO UPDATE SET \
     crm_id = EXCLUDED.crm_id, crm_version = EXCLUDED.crm_version, crm_fields = EXCLUDED.crm_fields, \
     mailbox_id = EXCLUDED.mailbox_id, mailbox_version = EXCLUDED.mailbox_version, \
     mailbox_fields = EXCLUDED.mailbox_fields, synced_at = EXCLUDED.synced_at, tombstone = EXCLUDED.tombstone";

const INSERT_AUDIT: &str = "INSERT INTO audit (at, user_id, object, side, record_id, action, outcome, reason, detail) \
     SELECT a.at, a.user_id, a.object, a.side, a.record_id, a.action, a.outcome, a.reason, a.detail::json \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::text[]) WITH ORDINALITY AS a(at, user_id, object, side, record_id, action, outcome, \
     reason, detail, ord) ORDER BY a.ord";

const UPSERT_INTENT: &str = "INSERT INTO journal (user_id, intent_key, object, target, operation, created_at) \
     VALUES ($1, $2, $3, $4, $5::json, $6) \
     ON CONFLICT (user_id, intent_key) DO UPDATE SET object = EXCLUDED.object, \
     target = EXCLUDED.target, operation = EXCLUDED.operation, created_at = EXCLUDED.created_at";

/// Applies `commit` (already validated) in the caller's transaction, in the order the
/// [`CycleCommit`] documents.
pub(super) async fn apply(
    conn: &mut PgConnection,
    user: &str,
    object: ObjectKind,
    commit: &CycleCommit,
) -> Result<(), StoreError> {
    let obj = object.as_str();
    if !commit.remove_pairs.is_empty() || !commit.upsert_pairs.is_empty() {
        // Lock the counter row first (when it exists): every writer of this user's and object's
        // pairs takes it before any pair row, so concurrent commits queue instead of
        // deadlocking on pair rows and the counter in opposite orders.
        query("SELECT live FROM pair_counts WHERE user_id = $1 AND object = $2 FOR UPDATE")
            .bind(user)
            .bind(obj)
            .execute(&mut *conn)
            .await
            .map_err(db("commit_cycle: locking the pair count"))?;
    }
    for chunk in commit.remove_pairs.chunks(BATCH_ROWS) {
        let ids: Vec<&str> = chunk.iter().map(|p| p.as_str()).collect();
        query("DELETE FROM pairs WHERE user_id = $1 AND object = $2 AND pair_id = ANY($3::text[])")
            .bind(user)
            .bind(obj)
            .bind(ids)
            .execute(&mut *conn)
            .await
            .map_err(db("commit_cycle: removing pairs"))?;
    }
    upsert_pairs(conn, user, obj, &commit.upsert_pairs).await?;
    let now = ts(&Utc::now());
    for (side, cursor) in &commit.cursors {
        let result = match cursor {
            Some(cursor) => {
                query(
                    "INSERT INTO cursors (user_id, object, side, cursor, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (user_id, object, side) DO UPDATE SET cursor = EXCLUDED.cursor, \
                     updated_at = EXCLUDED.updated_at",
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
                query("DELETE FROM cursors WHERE user_id = $1 AND object = $2 AND side = $3")
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
             VALUES ($1, $2, $3, $4, $5, $6, $7::json) \
             ON CONFLICT (user_id, object, side, record_id) DO UPDATE SET reason = EXCLUDED.reason, \
             detail = EXCLUDED.detail, since = LEAST(quarantine.since, EXCLUDED.since)",
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
            "DELETE FROM unresolved WHERE user_id = $1 AND object = $2 AND side = $3 AND record_id = $4 \
             AND kind = $5 AND subject = $6",
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
             checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (user_id, object, side, record_id, kind, subject) DO UPDATE SET \
             field = EXCLUDED.field, detail = EXCLUDED.detail, since = LEAST(unresolved.since, EXCLUDED.since), \
             checked_at = EXCLUDED.checked_at",
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
    for chunk in commit.refetch_add.chunks(BATCH_ROWS) {
        let (sides, ids) = split_records(chunk);
        query(
            "INSERT INTO refetch (user_id, object, side, record_id) \
             SELECT $1, $2, r.side, r.record_id FROM UNNEST($3::text[], $4::text[]) WITH ORDINALITY \
             AS r(side, record_id, ord) ORDER BY r.ord \
             ON CONFLICT (user_id, object, side, record_id) DO NOTHING",
        )
        .bind(user)
        .bind(obj)
        .bind(sides)
        .bind(ids)
        .execute(&mut *conn)
        .await
        .map_err(db("commit_cycle: queuing refetches"))?;
    }
    insert_audit(conn, &commit.audit).await?;
    if let Some(consumed) = &commit.feed_consumed {
        crate::feed::postgres::prune_inbox(conn, object, consumed).await?;
    }
    Ok(())
}

fn split_records(records: &[(Side, RecordId)]) -> (Vec<&'static str>, Vec<&str>) {
    records.iter().map(|(side, id)| (side.as_str(), id.as_str())).unzip()
}

/// The tables keyed by (user, object, side, record id).
#[derive(Clone, Copy)]
enum Keyed {
    Quarantine,
    Refetch,
}

/// Deletes `records` from a table keyed by (user, object, side, record id).
async fn delete_records(
    conn: &mut PgConnection,
    table: Keyed,
    user: &str,
    obj: &str,
    records: &[(Side, RecordId)],
) -> Result<(), StoreError> {
    let (sql, what) = match table {
        Keyed::Quarantine => (
            "DELETE FROM quarantine WHERE user_id = $1 AND object = $2 AND (side, record_id) IN \
             (SELECT * FROM UNNEST($3::text[], $4::text[]))",
            "commit_cycle: releasing from quarantine",
        ),
        Keyed::Refetch => (
            "DELETE FROM refetch WHERE user_id = $1 AND object = $2 AND (side, record_id) IN \
             (SELECT * FROM UNNEST($3::text[], $4::text[]))",
            "commit_cycle: dequeuing refetches",
        ),
    };
    for chunk in records.chunks(BATCH_ROWS) {
        let (sides, ids) = split_records(chunk);
        query(sql).bind(user).bind(obj).bind(sides).bind(ids).execute(&mut *conn).await.map_err(db(what))?;
    }
    Ok(())
}

/// Upserts pairs, [`BATCH_ROWS`] per statement. A pair listed twice is written once, as its
/// last listing (what writing them one after the other gives; one statement cannot update a
/// row twice). When a batch breaks a constraint it is replayed pair by pair after a savepoint
/// to name the pair at fault; the caller rolls the transaction back.
async fn upsert_pairs(conn: &mut PgConnection, user: &str, obj: &str, pairs: &[PairState]) -> Result<(), StoreError> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        last.insert(pair.pair_id.as_str(), i);
    }
    let unique: Vec<&PairState> =
        pairs.iter().enumerate().filter(|(i, p)| last.get(p.pair_id.as_str()) == Some(i)).map(|(_, p)| p).collect();
    for chunk in unique.chunks(BATCH_ROWS) {
        query("SAVEPOINT tandem_pairs").execute(&mut *conn).await.map_err(db("commit_cycle: savepoint"))?;
        let Err(e) = pair_batch(conn, user, obj, chunk).await else { continue };
        let batch_error = map_sqlx("commit_cycle: storing pairs", e);
        if !matches!(batch_error, StoreError::Constraint(_)) {
            return Err(batch_error);
        }
        query("ROLLBACK TO SAVEPOINT tandem_pairs")
            .execute(&mut *conn)
            .await
            .map_err(db("commit_cycle: rolling back to the savepoint"))?;
        for pair in chunk {
            pair_batch(conn, user, obj, std::slice::from_ref(pair)).await.map_err(|e| {
                let what = format!(
                    "commit_cycle: storing pair {} (crm {}, mailbox {})",
                    pair.pair_id, pair.crm.id, pair.mailbox.id
                );
                map_sqlx(&what, e)
            })?;
        }
        return Err(batch_error);
    }
    Ok(())
}

async fn pair_batch(conn: &mut PgConnection, user: &str, obj: &str, pairs: &[&PairState]) -> Result<(), sqlx::Error> {
    let mut columns: [Vec<String>; 8] = Default::default();
    let mut tombstones: Vec<Option<&str>> = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let values = [
            pair.pair_id.as_str().to_owned(),
            pair.crm.id.as_str().to_owned(),
            pair.crm.version.as_str().to_owned(),
            encode_prints(&pair.crm.fields),
            pair.mailbox.id.as_str().to_owned(),
            pair.mailbox.version.as_str().to_owned(),
            encode_prints(&pair.mailbox.fields),
            ts(&pair.synced_at),
        ];
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
        tombstones.push(pair.tombstone.map(Side::as_str));
    }
    let [pair_ids, crm_ids, crm_versions, crm_fields, mailbox_ids, mailbox_versions, mailbox_fields, synced_at] =
        columns;
    query(UPSERT_PAIRS)
        .bind(user)
        .bind(obj)
        .bind(pair_ids)
        .bind(crm_ids)
        .bind(crm_versions)
        .bind(crm_fields)
        .bind(mailbox_ids)
        .bind(mailbox_versions)
        .bind(mailbox_fields)
        .bind(synced_at)
        .bind(tombstones)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends audit entries in order, [`BATCH_ROWS`] per statement.
pub(super) async fn insert_audit(conn: &mut PgConnection, entries: &[AuditEntry]) -> Result<(), StoreError> {
    for chunk in entries.chunks(BATCH_ROWS) {
        let mut at = Vec::with_capacity(chunk.len());
        let mut users = Vec::with_capacity(chunk.len());
        let mut objects = Vec::with_capacity(chunk.len());
        let mut sides: Vec<Option<&str>> = Vec::with_capacity(chunk.len());
        let mut records: Vec<Option<&str>> = Vec::with_capacity(chunk.len());
        let mut actions = Vec::with_capacity(chunk.len());
        let mut outcomes = Vec::with_capacity(chunk.len());
        let mut reasons = Vec::with_capacity(chunk.len());
        let mut details: Vec<Option<String>> = Vec::with_capacity(chunk.len());
        for entry in chunk {
            at.push(ts(&entry.at));
            users.push(entry.user.as_str());
            objects.push(entry.object.as_str());
            sides.push(entry.side.map(Side::as_str));
            records.push(entry.record_id.as_ref().map(RecordId::as_str));
            actions.push(entry.action.as_str());
            outcomes.push(entry.outcome.as_str());
            reasons.push(entry.reason.as_str());
            details.push(entry.detail.as_ref().map(serde_json::Value::to_string));
        }
        query(INSERT_AUDIT)
            .bind(at)
            .bind(users)
            .bind(objects)
            .bind(sides)
            .bind(records)
            .bind(actions)
            .bind(outcomes)
            .bind(reasons)
            .bind(details)
            .execute(&mut *conn)
            .await
            .map_err(db("appending to the audit log"))?;
    }
    Ok(())
}

/// Records intents, replacing pending ones with the same key.
pub(super) async fn upsert_intents(conn: &mut PgConnection, intents: &[Intent]) -> Result<(), StoreError> {
    for intent in intents {
        query(UPSERT_INTENT)
            .bind(&intent.user)
            .bind(&intent.key)
            .bind(intent.object.as_str())
            .bind(intent.target.as_str())
            .bind(intent.operation.as_str().to_owned())
            .bind(ts(&intent.created_at))
            .execute(&mut *conn)
            .await
            .map_err(|e| map_sqlx(&format!("record_intents: intent {}", intent.key), e))?;
    }
    Ok(())
}

/// Deletes the user's intents with these keys.
pub(super) async fn delete_intents(conn: &mut PgConnection, user: &str, keys: &[String]) -> Result<(), StoreError> {
    for chunk in keys.chunks(BATCH_ROWS) {
        query("DELETE FROM journal WHERE user_id = $1 AND intent_key = ANY($2::text[])")
            .bind(user)
            .bind(chunk)
            .execute(&mut *conn)
            .await
            .map_err(db("resolving intents"))?;
    }
    Ok(())
}
