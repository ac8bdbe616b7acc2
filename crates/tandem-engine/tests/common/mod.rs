//! Shared fixtures of the engine's end-to-end tests: a store that can "crash" on demand.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Cursor, PairId, PairState, RecordId, Side};
use tandem_store::{
    AuditEntry, CycleCommit, CycleRecord, Intent, QuarantineEntry, SqliteStore, StateStore, StoreError,
    UnresolvedEntry, UserStatus,
};

/// A SQLite store whose next `commit_cycle` calls fail as if the process had died just before
/// committing: everything sent before stays sent, nothing of the cycle is remembered.
pub(crate) struct CrashingStore {
    pub(crate) inner: SqliteStore,
    /// How many of the next commits that change pairs fail.
    pub(crate) crash_commits: AtomicUsize,
    /// When true, any commit counts (not only those that change pairs).
    pub(crate) any_commit: std::sync::atomic::AtomicBool,
}

impl CrashingStore {
    pub(crate) async fn new() -> Self {
        CrashingStore {
            inner: SqliteStore::in_memory().await.unwrap(),
            crash_commits: AtomicUsize::new(0),
            any_commit: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Makes the next `n` commits fail.
    pub(crate) fn crash_next_commits(&self, n: usize) {
        self.crash_commits.store(n, Ordering::SeqCst);
    }
}

#[async_trait]
impl StateStore for CrashingStore {
    async fn pairs_by_record(
        &self,
        u: &str,
        o: ObjectKind,
        s: Side,
        ids: &[RecordId],
    ) -> Result<Vec<PairState>, StoreError> {
        self.inner.pairs_by_record(u, o, s, ids).await
    }
    async fn pair(&self, u: &str, o: ObjectKind, p: &PairId) -> Result<Option<PairState>, StoreError> {
        self.inner.pair(u, o, p).await
    }
    async fn pair_count(&self, u: &str, o: ObjectKind) -> Result<usize, StoreError> {
        self.inner.pair_count(u, o).await
    }
    async fn all_pairs(&self, u: &str, o: ObjectKind) -> Result<Vec<PairState>, StoreError> {
        self.inner.all_pairs(u, o).await
    }
    async fn cursor(&self, u: &str, o: ObjectKind, s: Side) -> Result<Option<Cursor>, StoreError> {
        self.inner.cursor(u, o, s).await
    }
    async fn record_intents(&self, i: &[Intent]) -> Result<(), StoreError> {
        self.inner.record_intents(i).await
    }
    async fn pending_intents(&self, u: &str) -> Result<Vec<Intent>, StoreError> {
        self.inner.pending_intents(u).await
    }
    async fn resolve_intents(&self, u: &str, k: &[String]) -> Result<(), StoreError> {
        self.inner.resolve_intents(u, k).await
    }
    async fn refetch_queue(&self, u: &str, o: ObjectKind, s: Side) -> Result<Vec<RecordId>, StoreError> {
        self.inner.refetch_queue(u, o, s).await
    }
    async fn commit_cycle(&self, u: &str, o: ObjectKind, c: CycleCommit) -> Result<(), StoreError> {
        let counts = self.any_commit.load(Ordering::SeqCst) || !c.upsert_pairs.is_empty();
        if counts && self.crash_commits.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(StoreError::Database("simulated crash before commit".into()));
        }
        self.inner.commit_cycle(u, o, c).await
    }
    async fn quarantine(&self, u: &str) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.inner.quarantine(u).await
    }
    async fn unresolved(&self, u: &str) -> Result<Vec<UnresolvedEntry>, StoreError> {
        self.inner.unresolved(u).await
    }
    async fn append_audit(&self, e: &[AuditEntry]) -> Result<(), StoreError> {
        self.inner.append_audit(e).await
    }
    async fn audit_log(
        &self,
        u: Option<&str>,
        s: Option<DateTime<Utc>>,
        l: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit_log(u, s, l).await
    }
    async fn export_audit_jsonl(
        &self,
        u: Option<&str>,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<usize, StoreError> {
        self.inner.export_audit_jsonl(u, out).await
    }
    async fn prune_audit(&self, t: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.prune_audit(t).await
    }
    async fn set_status(&self, s: &UserStatus) -> Result<(), StoreError> {
        self.inner.set_status(s).await
    }
    async fn status(&self, u: &str) -> Result<Option<UserStatus>, StoreError> {
        self.inner.status(u).await
    }
    async fn statuses(&self) -> Result<Vec<UserStatus>, StoreError> {
        self.inner.statuses().await
    }
    async fn reset_user(&self, u: &str, o: Option<ObjectKind>) -> Result<(), StoreError> {
        self.inner.reset_user(u, o).await
    }
    async fn approve_quarantined(
        &self,
        u: &str,
        o: ObjectKind,
        r: &[(Side, RecordId)],
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.inner.approve_quarantined(u, o, r, by, at).await
    }
    async fn record_cycle(&self, r: &CycleRecord) -> Result<(), StoreError> {
        self.inner.record_cycle(r).await
    }
    async fn cycles(&self, u: &str, l: usize) -> Result<Vec<CycleRecord>, StoreError> {
        self.inner.cycles(u, l).await
    }
    async fn users(&self) -> Result<Vec<String>, StoreError> {
        self.inner.users().await
    }
}
