//! The longer reads of the [`StateStore`](crate::StateStore) methods, as helpers those methods
//! call: pairs by record ids (in chunked `IN` lists), the audit log and its JSONL export.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, query};
use tandem_core::model::ObjectKind;
use tandem_core::state::{PairState, RecordId, Side};

use super::{SqliteStore, db};
use crate::codec::ts;
use crate::rows as decode;
use crate::{AuditEntry, StoreError};

/// Ids per `IN (…)` list: far below SQLite's variable limit (32,766 since 3.32, 999 before).
const IN_CHUNK: usize = 500;

/// Audit rows read per page when exporting.
const EXPORT_PAGE: i64 = 1_000;

macro_rules! audit_columns {
    () => {
        "id, at, user_id, object, side, record_id, action, outcome, reason, detail"
    };
}

impl SqliteStore {
    /// The body of [`StateStore::pairs_by_record`](crate::StateStore::pairs_by_record).
    pub(super) async fn read_pairs_by_record(
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

    /// The body of [`StateStore::audit_log`](crate::StateStore::audit_log).
    pub(super) async fn read_audit_log(
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

    /// The body of [`StateStore::export_audit_jsonl`](crate::StateStore::export_audit_jsonl).
    pub(super) async fn read_audit_into_jsonl(
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
}

/// `SELECT` of the pairs whose `side` id is one of `n` bound ids (after user and object).
/// Only `?` placeholders are interpolated, never values.
pub(super) fn pairs_by_record_sql(side: Side, n: usize) -> String {
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
