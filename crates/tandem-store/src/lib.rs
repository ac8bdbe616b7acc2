//! # tandem-store: where Tandem remembers
//!
//! What lives here: the [`StateStore`] trait, which is everything the engine persists between
//! cycles (the sync state of mapped pairs, change-feed cursors, the write-ahead journal of
//! operation intents, quarantine, the refetch queue, the audit log and per-user status),
//! [`SqliteStore`], its SQLite implementation and the embedded default, and `PgStore` (cargo
//! feature `postgres`, on by default), its PostgreSQL implementation for many workers sharing
//! one state. Both behave the same: one conformance suite (`tests/conformance`) runs against
//! each. The trait's types
//! ([`Intent`], [`QuarantineEntry`], [`AuditEntry`], [`UserStatus`], [`CycleCommit`]) and the
//! [`StoreError`] it returns live here too.
//!
//! [`packed_prints`] writes field prints as the stores pack them, for values a store keeps
//! without reading them (the engine's journal entries).
//!
//! [`Claims`] says which worker runs a user's cycle: one holder per user at a time (PostgreSQL:
//! session-level advisory locks; SQLite: one process). The evaluation of job-queue libraries
//! (`apalis`) against that need is in the `claims` module.
//!
//! What must never live here: sync logic or decisions (what to write, which side wins, whether a
//! record is quarantined: that is the planner's and the engine's job; the store keeps what it is
//! told, atomically) and provider calls of any kind (no HTTP, no connectors). Values the store
//! does not need to understand, such as an intent's serialised operation or a cursor, are opaque
//! to it.
//!
//! Crate chosen: `sqlx` (SQLite and PostgreSQL features, runtime queries only: `query()`,
//! `query_as()`, `query_scalar()`, never the compile-time-checked `query!` macros, which need a
//! database at build time). sqlx gives one async API over both databases (pools, transactions,
//! binding, row decoding), so the two stores share their structure, their error mapping and
//! most of their SQL; they differ where the databases do (placeholders, arrays bound with
//! `UNNEST` on PostgreSQL, triggers in PL/pgSQL, how concurrent writers wait). rusqlite plus a
//! PostgreSQL client would have meant two APIs, and rusqlite cannot share a build with sqlx's
//! SQLite. PostgreSQL connections use rustls with the aws-lc-rs provider, the TLS stack the
//! HTTP clients already build.
//!
//! Feature `postgres` (default): `PgStore` and sqlx's PostgreSQL driver.
//! Without it (`--no-default-features`) the crate is SQLite only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Cursor, PairId, PairState, RecordId, Side, Unresolved, UnresolvedKind};

mod claims;
mod codec;
pub mod feed;
pub mod packed_prints;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod sqlite;

pub use claims::{Claim, ClaimHold, Claims};
pub use feed::FeedInbox;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
pub use sqlite::{SCHEMA_VERSION, SqliteStore};

/// The user or mailbox being synced, e.g. `"ada@example.com"`.
pub type UserId = String;

/// Why a store operation failed. Messages never include bound values such as cursors, record
/// contents or tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed (I/O, locking, SQL error). The message names the operation.
    #[error("state store database error: {0}")]
    Database(String),
    /// A stored row could not be decoded. `what` names the row (e.g. the pair id).
    #[error("corrupt {what} in the state store: {detail}")]
    Corrupt {
        /// The row that could not be decoded, e.g. `pair tdm0123… (contact)`.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The schema could not be migrated, or the database was written by a newer Tandem.
    #[error("state store schema: {0}")]
    Migration(String),
    /// A write broke a constraint, e.g. two pairs claiming the same record. Nothing of the
    /// failed operation was stored.
    #[error("state store constraint violated: {0}")]
    Constraint(String),
    /// A concurrent transaction got in the way (PostgreSQL: a deadlock or a serialization
    /// failure) and the operation was rolled back, after the store's own retries. Nothing of it
    /// was stored; running it again may succeed.
    #[error("state store conflict with a concurrent transaction: {0}")]
    Conflict(String),
    /// The caller passed inconsistent input, e.g. a pair of another object kind in a
    /// [`CycleCommit`]. Nothing was stored.
    #[error("invalid input to the state store: {0}")]
    Invalid(String),
    /// Reading or writing a file outside the database failed (creating the database's
    /// directory, writing an export).
    #[error("state store i/o error: {0}")]
    Io(String),
}

/// A journaled operation as JSON text, written and read back by the store as it is.
///
/// Text rather than a [`serde_json::Value`]: the engine serialises straight into it and parses
/// straight out of it, with no tree of values in between. A cycle journals one entry per write,
/// each a whole record and its next pair state, so the tree cost more than the SQL (and held
/// tens of megabytes on a first sync of ten thousand records).
///
/// ```
/// # fn main() -> Result<(), serde_json::Error> {
/// use tandem_store::JournalJson;
///
/// let op = JournalJson::to_json(&serde_json::json!({"op": "create", "key": "tdm-1"}))?;
/// assert_eq!(op.as_str(), r#"{"key":"tdm-1","op":"create"}"#);
/// let back: serde_json::Value = op.parse()?;
/// assert_eq!(back["key"], "tdm-1");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalJson(String);

impl JournalJson {
    /// `value` serialised as JSON.
    pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_string(value).map(JournalJson)
    }

    /// Text read back from a store. Not checked here: the reader parses it and handles an entry
    /// it cannot read.
    pub fn from_stored(text: String) -> Self {
        JournalJson(text)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses the text as a `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

impl std::fmt::Display for JournalJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serialised as the JSON it holds (a string when the text is not JSON).
impl Serialize for JournalJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<serde_json::Value>(&self.0) {
            Ok(value) => value.serialize(serializer),
            Err(_) => serializer.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for JournalJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(JournalJson(value.to_string()))
    }
}

/// An operation intent recorded in the journal before it is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The user whose cycle planned the operation.
    pub user: UserId,
    /// Contact or event.
    pub object: ObjectKind,
    /// Unique per user: the write's idempotency key or a deterministic id.
    pub key: String,
    /// The side the operation writes to.
    pub target: Side,
    /// The serialised plan `Operation` and `NextState`; opaque to the store.
    pub operation: JournalJson,
    /// When the intent was recorded.
    pub created_at: DateTime<Utc>,
}

/// A record set aside because it cannot be synced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    /// The user whose record it is.
    pub user: UserId,
    /// Contact or event.
    pub object: ObjectKind,
    /// The side holding the record.
    pub side: Side,
    /// The record's id on that side.
    pub record_id: RecordId,
    /// Why it was quarantined, in words.
    pub reason: String,
    /// Since when it has been quarantined. Re-quarantining a record keeps the earliest time.
    pub since: DateTime<Utc>,
    /// Structured detail, if any.
    pub detail: Option<serde_json::Value>,
}

/// An unresolved item ([`tandem_core::state::Unresolved`]) kept for one user, against the record
/// whose content did not fully arrive on the other side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnresolvedEntry {
    /// The user.
    pub user: UserId,
    /// Contact or event.
    pub object: ObjectKind,
    /// The side of the record whose content was not carried across (the source of the write).
    pub side: Side,
    /// That record's id.
    pub record_id: RecordId,
    /// What is missing, on the other side.
    pub item: Unresolved,
    /// Since when. Reporting the same item again keeps the earliest time.
    pub since: DateTime<Utc>,
    /// When the engine last asked whether the cause is gone.
    pub checked_at: Option<DateTime<Utc>>,
}

impl UnresolvedEntry {
    /// What identifies the entry within its user and object.
    pub fn key(&self) -> UnresolvedKey {
        UnresolvedKey {
            side: self.side,
            record_id: self.record_id.clone(),
            kind: self.item.kind,
            subject: self.item.subject.clone(),
        }
    }
}

/// Identifies an [`UnresolvedEntry`] within its user and object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnresolvedKey {
    /// The side of the record.
    pub side: Side,
    /// The record.
    pub record_id: RecordId,
    /// The kind of item.
    pub kind: UnresolvedKind,
    /// What is missing.
    pub subject: String,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The user concerned.
    pub user: UserId,
    /// Contact or event.
    pub object: ObjectKind,
    /// The side written or concerned, if one.
    pub side: Option<Side>,
    /// The record concerned, if one.
    pub record_id: Option<RecordId>,
    /// What was done: `create`, `update`, `delete`, `link`, `conflict`, `policy_…`.
    pub action: String,
    /// How it went: `applied`, `failed: …`, `denied`.
    pub outcome: String,
    /// Why, in words.
    pub reason: String,
    /// Structured detail, if any.
    pub detail: Option<serde_json::Value>,
}

/// The health of one user's sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserStatus {
    /// The user.
    pub user: UserId,
    /// When the last cycle ran, successful or not.
    pub last_cycle_at: Option<DateTime<Utc>>,
    /// When the last successful cycle ran.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last error, without secrets.
    pub last_error: Option<String>,
    /// Failed cycles since the last success.
    pub consecutive_failures: u32,
    /// Records set aside as ambiguous first-sync matches after the last successful cycle: they
    /// are neither linked nor copied until they change or an administrator resolves them (the
    /// user's quarantine lists them, kind `ambiguous_match`).
    #[serde(default)]
    pub ambiguous_matches: u32,
}

/// The most operations a [`CycleRecord`] keeps; the rest are counted in
/// [`CycleRecord::operations_omitted`].
pub const MAX_CYCLE_OPERATIONS: usize = 200;

/// How many [`CycleRecord`]s the store keeps per user: recording one more deletes the oldest.
pub const CYCLES_KEPT_PER_USER: usize = 50;

/// What one cycle did, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CycleCounts {
    /// Creates (planned in a dry run, applied otherwise).
    pub creates: usize,
    /// Updates.
    pub updates: usize,
    /// Deletes.
    pub deletes: usize,
    /// Conflicts, however they were resolved.
    pub conflicts: usize,
    /// Writes that failed.
    pub failed: usize,
    /// Deletes held by the mass-delete guard.
    pub held_deletes: usize,
    /// Records quarantined.
    pub quarantined: usize,
}

impl CycleCounts {
    /// Counts.
    pub fn new(creates: usize, updates: usize, deletes: usize, conflicts: usize, failed: usize) -> Self {
        CycleCounts { creates, updates, deletes, conflicts, failed, held_deletes: 0, quarantined: 0 }
    }

    /// The same counts with held deletes and quarantined records.
    #[must_use]
    pub fn with_held(mut self, held_deletes: usize, quarantined: usize) -> Self {
        self.held_deletes = held_deletes;
        self.quarantined = quarantined;
        self
    }

    /// The sum of two counts.
    #[must_use]
    pub fn plus(self, other: CycleCounts) -> Self {
        CycleCounts {
            creates: self.creates + other.creates,
            updates: self.updates + other.updates,
            deletes: self.deletes + other.deletes,
            conflicts: self.conflicts + other.conflicts,
            failed: self.failed + other.failed,
            held_deletes: self.held_deletes + other.held_deletes,
            quarantined: self.quarantined + other.quarantined,
        }
    }
}

/// One operation of a recorded cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CycleOperation {
    /// What: `create`, `update`, `delete`, `link`, `conflict`, `hold_delete`, ….
    pub action: String,
    /// The side written or concerned, if one.
    pub side: Option<Side>,
    /// The record concerned, if one (for a create, the source record).
    pub record_id: Option<RecordId>,
    /// Why, in words.
    pub reason: String,
    /// How it went: `planned` (dry run), `applied`, `failed: …`, `held`, and for a conflict how
    /// it was resolved (`Took(Crm)`, `Merged { .. }`, `Manual`, …).
    pub outcome: String,
}

impl CycleOperation {
    /// An operation.
    pub fn new(
        action: impl Into<String>,
        side: Option<Side>,
        record_id: Option<RecordId>,
        reason: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Self {
        CycleOperation { action: action.into(), side, record_id, reason: reason.into(), outcome: outcome.into() }
    }
}

/// The history of one cycle of one object for one user, dry runs included, for administrators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CycleRecord {
    /// The user.
    pub user: UserId,
    /// Contact or event.
    pub object: ObjectKind,
    /// When the sync started.
    pub started_at: DateTime<Utc>,
    /// When this object's cycle ended.
    pub finished_at: DateTime<Utc>,
    /// A preview: nothing was written.
    pub dry_run: bool,
    /// `ok`, or `failed: …` (the error, without secrets).
    pub outcome: String,
    /// What it did, counted.
    pub counts: CycleCounts,
    /// Its operations, at most [`MAX_CYCLE_OPERATIONS`], in plan order.
    pub operations: Vec<CycleOperation>,
    /// Operations beyond [`MAX_CYCLE_OPERATIONS`], not kept.
    #[serde(default)]
    pub operations_omitted: usize,
}

impl CycleRecord {
    /// A record without operations; see [`CycleRecord::with_operations`].
    pub fn new(
        user: impl Into<String>,
        object: ObjectKind,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        dry_run: bool,
        outcome: impl Into<String>,
        counts: CycleCounts,
    ) -> Self {
        CycleRecord {
            user: user.into(),
            object,
            started_at,
            finished_at,
            dry_run,
            outcome: outcome.into(),
            counts,
            operations: Vec::new(),
            operations_omitted: 0,
        }
    }

    /// The same record with `operations`, cut to [`MAX_CYCLE_OPERATIONS`] (the rest counted).
    #[must_use]
    pub fn with_operations(mut self, mut operations: Vec<CycleOperation>) -> Self {
        self.operations_omitted = operations.len().saturating_sub(MAX_CYCLE_OPERATIONS);
        operations.truncate(MAX_CYCLE_OPERATIONS);
        self.operations = operations;
        self
    }

    /// Whether the cycle succeeded.
    pub fn is_ok(&self) -> bool {
        self.outcome == "ok"
    }
}

/// One user as the administrator's overview shows it: the status and what waits for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserOverview {
    /// The user's status (fields flattened in JSON). A user without a recorded status (never
    /// synced for real) has an empty one.
    #[serde(flatten)]
    pub status: UserStatus,
    /// Records in quarantine, deletes held by the mass-delete guard excluded.
    pub quarantined: usize,
    /// Deletes held by the mass-delete guard, approved or not.
    pub held_deletes: usize,
    /// Open unresolved items.
    pub unresolved: usize,
    /// The counts of the last sync that was not a dry run (every object it ran, summed); `None`
    /// before the first one.
    pub last_cycle: Option<CycleCounts>,
    /// Whether every object of that sync succeeded.
    pub last_cycle_ok: Option<bool>,
}

impl UserOverview {
    /// An overview.
    pub fn new(status: UserStatus, quarantined: usize, held_deletes: usize, unresolved: usize) -> Self {
        UserOverview { status, quarantined, held_deletes, unresolved, last_cycle: None, last_cycle_ok: None }
    }

    /// The same overview with the last sync's counts.
    #[must_use]
    pub fn with_last_cycle(mut self, counts: Option<CycleCounts>, ok: Option<bool>) -> Self {
        self.last_cycle = counts;
        self.last_cycle_ok = ok;
        self
    }
}

impl UserStatus {
    /// The status of a user who never synced.
    pub fn empty(user: impl Into<String>) -> Self {
        UserStatus {
            user: user.into(),
            last_cycle_at: None,
            last_success_at: None,
            last_error: None,
            consecutive_failures: 0,
            ambiguous_matches: 0,
        }
    }
}

/// Everything one cycle of one object for one user changes, committed atomically (one SQL
/// transaction).
///
/// Applied in this order: pair removals, pair upserts, cursors, resolved intents, quarantine
/// removals, quarantine additions, refetch removals, refetch additions, unresolved removals,
/// unresolved additions, audit, the feed inbox rows consumed. So an id in both
/// a `_remove` and an `_add` list ends up present.
#[derive(Debug, Clone, Default)]
pub struct CycleCommit {
    /// Pairs to insert or replace, by pair id. Each pair's `object` must be the commit's.
    pub upsert_pairs: Vec<PairState>,
    /// Pairs to forget.
    pub remove_pairs: Vec<PairId>,
    /// Cursors to set; `None` clears the side's cursor.
    pub cursors: Vec<(Side, Option<Cursor>)>,
    /// Journal keys to delete (of this user, any object).
    pub resolved_intents: Vec<String>,
    /// Quarantine entries to insert or update, by (user, object, side, record id). Each must be
    /// for the commit's user and object.
    pub quarantine_add: Vec<QuarantineEntry>,
    /// Quarantined records to release.
    pub quarantine_remove: Vec<(Side, RecordId)>,
    /// Records to re-read next cycle.
    pub refetch_add: Vec<(Side, RecordId)>,
    /// Records no longer to re-read.
    pub refetch_remove: Vec<(Side, RecordId)>,
    /// Audit entries to append. Each must be for the commit's user.
    pub audit: Vec<AuditEntry>,
    /// Unresolved items to insert or update (detail, `checked_at`; `since` keeps the earliest).
    /// Each must be for the commit's user and object.
    pub unresolved_add: Vec<UnresolvedEntry>,
    /// Unresolved items to forget (resolved or dismissed).
    pub unresolved_remove: Vec<UnresolvedKey>,
    /// The feed inbox rows this cycle read (its CRM side came from an organization feed): they
    /// are dropped and the member is marked alive with the commit, as
    /// [`FeedInbox::prune_feed_inbox`] would after it, but without a write of its own. A store
    /// that keeps no feeds ([`StateStore::feeds`] is `None`) never receives one.
    pub feed_consumed: Option<feed::InboxConsumed>,
}

impl CycleCommit {
    /// True when the commit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.upsert_pairs.is_empty()
            && self.remove_pairs.is_empty()
            && self.cursors.is_empty()
            && self.resolved_intents.is_empty()
            && self.quarantine_add.is_empty()
            && self.quarantine_remove.is_empty()
            && self.refetch_add.is_empty()
            && self.refetch_remove.is_empty()
            && self.audit.is_empty()
            && self.unresolved_add.is_empty()
            && self.unresolved_remove.is_empty()
            && self.feed_consumed.is_none()
    }
}

/// Everything the engine persists. Implementations must be safe to share between tasks; every
/// method is atomic.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// Pairs whose record on `side` has one of `ids`. An indexed lookup, never a scan of all
    /// pairs; any number of ids (the list is chunked to stay under SQLite's variable limit).
    /// Tombstoned pairs are included. Order unspecified.
    async fn pairs_by_record(
        &self,
        user: &str,
        object: ObjectKind,
        side: Side,
        ids: &[RecordId],
    ) -> Result<Vec<PairState>, StoreError>;

    /// One pair by id.
    async fn pair(&self, user: &str, object: ObjectKind, pair: &PairId) -> Result<Option<PairState>, StoreError>;

    /// The number of live pairs: tombstoned pairs are not counted.
    async fn pair_count(&self, user: &str, object: ObjectKind) -> Result<usize, StoreError>;

    /// Every pair, tombstoned ones included, ordered by pair id. For tests, exports and reset.
    async fn all_pairs(&self, user: &str, object: ObjectKind) -> Result<Vec<PairState>, StoreError>;

    /// The change-feed cursor of one side, if any.
    async fn cursor(&self, user: &str, object: ObjectKind, side: Side) -> Result<Option<Cursor>, StoreError>;

    /// Records intents in the journal; durable (synced to disk) before returning. Recording a
    /// key that is already pending replaces that intent.
    async fn record_intents(&self, intents: &[Intent]) -> Result<(), StoreError>;

    /// The user's pending intents, oldest first.
    async fn pending_intents(&self, user: &str) -> Result<Vec<Intent>, StoreError>;

    /// Deletes the user's intents with these keys; unknown keys are ignored.
    async fn resolve_intents(&self, user: &str, keys: &[String]) -> Result<(), StoreError>;

    /// The records of one side to re-read next cycle, in the order they were queued.
    async fn refetch_queue(&self, user: &str, object: ObjectKind, side: Side) -> Result<Vec<RecordId>, StoreError>;

    /// Applies one cycle's changes in ONE transaction: all of it or, on error, none of it.
    async fn commit_cycle(&self, user: &str, object: ObjectKind, commit: CycleCommit) -> Result<(), StoreError>;

    /// The user's quarantined records, ordered by object, side and record id.
    async fn quarantine(&self, user: &str) -> Result<Vec<QuarantineEntry>, StoreError>;

    /// A user's unresolved items, all objects, ordered by object, side, record, kind, subject.
    async fn unresolved(&self, user: &str) -> Result<Vec<UnresolvedEntry>, StoreError>;

    /// Appends audit entries.
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;

    /// The newest `limit` audit entries (of `user`, or of everyone) at or after `since`, newest
    /// first.
    async fn audit_log(
        &self,
        user: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Writes the audit log (of `user`, or of everyone) as JSON lines, one [`AuditEntry`] per
    /// line in the order they were appended. Returns the number of lines written.
    async fn export_audit_jsonl(
        &self,
        user: Option<&str>,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<usize, StoreError>;

    /// Retention: deletes audit entries older than `older_than`. Returns how many were deleted.
    async fn prune_audit(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Stores a user's status, replacing the previous one.
    async fn set_status(&self, status: &UserStatus) -> Result<(), StoreError>;

    /// One user's status.
    async fn status(&self, user: &str) -> Result<Option<UserStatus>, StoreError>;

    /// Every user's status, ordered by user.
    async fn statuses(&self) -> Result<Vec<UserStatus>, StoreError>;

    /// Marks quarantined `records` of `user` and `object` as approved by `by` at `at`
    /// (administrators approving held deletes). A later upsert of the same entry by a cycle
    /// keeps the mark; releasing the entry drops it. Read back in [`QuarantineEntry::detail`] as
    /// `"approved": true, "approved_by", "approved_at"`. Records not in quarantine, or already
    /// approved, are skipped. Returns how many were marked.
    async fn approve_quarantined(
        &self,
        user: &str,
        object: ObjectKind,
        records: &[(Side, RecordId)],
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Appends one cycle to the user's history and deletes the user's oldest beyond
    /// [`CYCLES_KEPT_PER_USER`], in one transaction.
    async fn record_cycle(&self, record: &CycleRecord) -> Result<(), StoreError>;

    /// Appends cycles (a sync's, one per object) to their users' histories, as
    /// [`StateStore::record_cycle`] does each. A store may write them in one transaction (SQLite
    /// does: one write instead of one per object); the default records them one by one.
    async fn record_cycles(&self, records: &[CycleRecord]) -> Result<(), StoreError> {
        for record in records {
            self.record_cycle(record).await?;
        }
        Ok(())
    }

    /// Ends a sync: appends its cycles to the history (as [`StateStore::record_cycles`]) and sets
    /// the user's status (as [`StateStore::set_status`]). A store may do both in one transaction
    /// (SQLite does: one write instead of two); the default does one, then the other.
    async fn finish_sync(&self, cycles: &[CycleRecord], status: &UserStatus) -> Result<(), StoreError> {
        self.record_cycles(cycles).await?;
        self.set_status(status).await
    }

    /// The user's newest `limit` cycles, newest first.
    async fn cycles(&self, user: &str, limit: usize) -> Result<Vec<CycleRecord>, StoreError>;

    /// Every user the store knows (with a status, pairs, quarantine, unresolved items or cycle
    /// history), ordered. Reads indexes, never the pairs.
    async fn users(&self) -> Result<Vec<UserId>, StoreError>;

    /// Reset Sync, atomically: deletes this user's pairs (tombstones included), cursors, refetch
    /// queue, quarantine and pending intents for `object`, or for all objects when `None`.
    /// Keeps the audit log and the user's status; other users are untouched.
    async fn reset_user(&self, user: &str, object: Option<ObjectKind>) -> Result<(), StoreError>;

    /// The organization-feed inbox of this store, when it keeps one (both of Tandem's stores
    /// do). The default: none, and the engine refuses jobs that read from a feed.
    fn feeds(&self) -> Option<&dyn FeedInbox> {
        None
    }
}
