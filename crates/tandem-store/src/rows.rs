//! Reading store rows back into the trait's types, for both databases: one decoder per table,
//! generic over the row ([`Cols`] is implemented for SQLite's and PostgreSQL's rows), so that the
//! two stores cannot drift in what they accept. Decoding failures are [`StoreError::Corrupt`]
//! naming the row.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use tandem_core::state::{IdempotencyKey, PairState, RecordId, SideState, Unresolved, UnresolvedKind, Version};

use crate::codec::{decode_stored_prints, merge_approval, parse_json, parse_object, parse_side, parse_ts};
use crate::{AuditEntry, CycleRecord, Intent, QuarantineEntry, StoreError, UnresolvedEntry, UserStatus};

/// A column type the stores read: one `try_get` per database.
pub(crate) trait ColumnType: Sized {
    fn from_sqlite(row: &SqliteRow, name: &str) -> Result<Self, sqlx::Error>;
    #[cfg(feature = "postgres")]
    fn from_postgres(row: &sqlx::postgres::PgRow, name: &str) -> Result<Self, sqlx::Error>;
}

macro_rules! column_types {
    ($($t:ty),*) => {$(
        impl ColumnType for $t {
            fn from_sqlite(row: &SqliteRow, name: &str) -> Result<Self, sqlx::Error> {
                row.try_get(name)
            }
            #[cfg(feature = "postgres")]
            fn from_postgres(row: &sqlx::postgres::PgRow, name: &str) -> Result<Self, sqlx::Error> {
                row.try_get(name)
            }
        }
    )*};
}

column_types!(String, Option<String>, i64, bool);

/// A row of either database.
pub(crate) trait Cols {
    /// Column `name`.
    fn get<T: ColumnType>(&self, name: &str) -> Result<T, sqlx::Error>;

    /// Text column `name`, borrowed from the row (`None` for NULL): for values parsed or copied
    /// on, which need no `String` of their own first.
    fn text(&self, name: &str) -> Result<Option<&str>, sqlx::Error>;
    /// A column holding bytes or text (SQLite keeps either in a `TEXT` column), as bytes,
    /// borrowed from the row: text as its UTF-8.
    fn bytes(&self, name: &str) -> Result<Option<&[u8]>, sqlx::Error>;
}

impl Cols for SqliteRow {
    fn get<T: ColumnType>(&self, name: &str) -> Result<T, sqlx::Error> {
        T::from_sqlite(self, name)
    }

    fn text(&self, name: &str) -> Result<Option<&str>, sqlx::Error> {
        self.try_get(name)
    }

    fn bytes(&self, name: &str) -> Result<Option<&[u8]>, sqlx::Error> {
        // sqlx reads a BLOB or a TEXT value as bytes alike.
        self.try_get(name)
    }
}

#[cfg(feature = "postgres")]
impl Cols for sqlx::postgres::PgRow {
    fn get<T: ColumnType>(&self, name: &str) -> Result<T, sqlx::Error> {
        T::from_postgres(self, name)
    }

    fn text(&self, name: &str) -> Result<Option<&str>, sqlx::Error> {
        self.try_get(name)
    }

    fn bytes(&self, name: &str) -> Result<Option<&[u8]>, sqlx::Error> {
        // PostgreSQL's columns are text (`BYTEA` would be its bytes).
        Ok(self.text(name)?.map(str::as_bytes))
    }
}

/// One column of a row, with a message naming the column when it cannot be read.
fn col<T: ColumnType>(row: &impl Cols, name: &str) -> Result<T, String> {
    row.get(name).map_err(|e| format!("column {name}: {e}"))
}

/// A text column that may be NULL, borrowed from the row.
fn text_or_null<'r>(row: &'r impl Cols, name: &str) -> Result<Option<&'r str>, String> {
    row.text(name).map_err(|e| format!("column {name}: {e}"))
}

/// A text column that may not be NULL, borrowed from the row.
fn text<'r>(row: &'r impl Cols, name: &str) -> Result<&'r str, String> {
    text_or_null(row, name)?.ok_or_else(|| format!("column {name}: NULL"))
}

/// A column of bytes or text that may not be NULL, borrowed from the row.
fn stored_bytes<'r>(row: &'r impl Cols, name: &str) -> Result<&'r [u8], String> {
    row.bytes(name).map_err(|e| format!("column {name}: {e}"))?.ok_or_else(|| format!("column {name}: NULL"))
}

pub(crate) fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: what.into(), detail: detail.into() }
}

pub(crate) fn pair(row: &impl Cols) -> Result<PairState, StoreError> {
    // Every pair a cycle touches is read through here (twice over, for its echo), so the text
    // is parsed where it lies in the row, and only ids and versions are copied.
    let pair_id = text(row, "pair_id").map_err(|d| corrupt("pair with an unreadable id", d))?;
    pair_body(row, pair_id).map_err(|d| corrupt(format!("pair {pair_id}"), d))
}

/// The columns of one side of a pair: id, version, prints.
const SIDE_COLUMNS: [[&str; 3]; 2] =
    [["crm_id", "crm_version", "crm_fields"], ["mailbox_id", "mailbox_version", "mailbox_fields"]];

fn pair_body(row: &impl Cols, pair_id: &str) -> Result<PairState, String> {
    let side = |[id, version, fields]: [&str; 3]| -> Result<SideState, String> {
        Ok(SideState {
            id: RecordId::from(text(row, id)?),
            version: Version::from(text(row, version)?),
            fields: decode_stored_prints(stored_bytes(row, fields)?).map_err(|e| format!("{fields}: {e}"))?,
        })
    };
    let [crm, mailbox] = SIDE_COLUMNS;
    Ok(PairState {
        pair_id: IdempotencyKey::from(pair_id),
        object: parse_object(text(row, "object")?)?,
        crm: side(crm)?,
        mailbox: side(mailbox)?,
        synced_at: parse_ts(text(row, "synced_at")?)?,
        tombstone: text_or_null(row, "tombstone")?.map(parse_side).transpose()?,
    })
}

pub(crate) fn intent(row: &impl Cols) -> Result<Intent, StoreError> {
    let key: String = col(row, "intent_key").map_err(|d| corrupt("journal intent with an unreadable key", d))?;
    let body = || -> Result<Intent, String> {
        let object: String = col(row, "object")?;
        let target: String = col(row, "target")?;
        let operation: String = col(row, "operation")?;
        let created_at: String = col(row, "created_at")?;
        Ok(Intent {
            user: col(row, "user_id")?,
            object: parse_object(&object)?,
            key: key.clone(),
            target: parse_side(&target)?,
            operation: crate::JournalJson::from_stored(operation),
            created_at: parse_ts(&created_at)?,
        })
    };
    body().map_err(|d| corrupt(format!("journal intent {key}"), d))
}

pub(crate) fn unresolved(row: &impl Cols) -> Result<UnresolvedEntry, StoreError> {
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
            record_id: RecordId::new(&record_id),
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

pub(crate) fn quarantine(row: &impl Cols) -> Result<QuarantineEntry, StoreError> {
    let record_id: String =
        col(row, "record_id").map_err(|d| corrupt("quarantine entry with an unreadable record id", d))?;
    let body = || -> Result<QuarantineEntry, String> {
        let object: String = col(row, "object")?;
        let side: String = col(row, "side")?;
        let since: String = col(row, "since")?;
        let detail: Option<String> = col(row, "detail")?;
        let detail = detail.as_deref().map(parse_json).transpose()?;
        Ok(QuarantineEntry {
            user: col(row, "user_id")?,
            object: parse_object(&object)?,
            side: parse_side(&side)?,
            record_id: RecordId::new(&record_id),
            reason: col(row, "reason")?,
            since: parse_ts(&since)?,
            detail: merge_approval(detail, col(row, "approved_by")?, col(row, "approved_at")?),
        })
    };
    body().map_err(|d| corrupt(format!("quarantine entry for record {record_id}"), d))
}

pub(crate) fn cycle(row: &impl Cols) -> Result<CycleRecord, StoreError> {
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
pub(crate) fn audit(row: &impl Cols) -> Result<(i64, AuditEntry), StoreError> {
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
            record_id: record_id.map(RecordId::from),
            action: col(row, "action")?,
            outcome: col(row, "outcome")?,
            reason: col(row, "reason")?,
            detail: detail.as_deref().map(parse_json).transpose()?,
        })
    };
    let entry = body().map_err(|d| corrupt(format!("audit entry {id}"), d))?;
    Ok((id, entry))
}

pub(crate) fn status(row: &impl Cols) -> Result<UserStatus, StoreError> {
    let user: String = col(row, "user_id").map_err(|d| corrupt("status with an unreadable user", d))?;
    let body = || -> Result<UserStatus, String> {
        let last_cycle_at: Option<String> = col(row, "last_cycle_at")?;
        let last_success_at: Option<String> = col(row, "last_success_at")?;
        let failures: i64 = col(row, "consecutive_failures")?;
        let ambiguous: i64 = col(row, "ambiguous_matches")?;
        Ok(UserStatus {
            user: user.clone(),
            last_cycle_at: last_cycle_at.as_deref().map(parse_ts).transpose()?,
            last_success_at: last_success_at.as_deref().map(parse_ts).transpose()?,
            last_error: col(row, "last_error")?,
            consecutive_failures: u32::try_from(failures)
                .map_err(|_| format!("consecutive_failures {failures} out of range"))?,
            ambiguous_matches: u32::try_from(ambiguous)
                .map_err(|_| format!("ambiguous_matches {ambiguous} out of range"))?,
        })
    };
    body().map_err(|d| corrupt(format!("status of {user}"), d))
}
