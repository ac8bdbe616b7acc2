//! Users' status rows and cycle history: the writes that `set_status`, `record_cycles` and
//! `finish_sync` share, on the caller's connection or in its transaction.

use sqlx::query;

use super::db;
use crate::codec::ts;
use crate::{CYCLES_KEPT_PER_USER, CycleRecord, StoreError, UserStatus};

/// Inserts or replaces a user's status row.
pub(super) async fn upsert_status(conn: &mut sqlx::SqliteConnection, status: &UserStatus) -> Result<(), StoreError> {
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
pub(super) async fn insert_cycles(
    conn: &mut sqlx::SqliteConnection,
    records: &[CycleRecord],
) -> Result<(), StoreError> {
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
