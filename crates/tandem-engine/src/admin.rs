//! What an administrator does to one user's sync: held deletes (approve, reject), quarantine
//! (retry, dismiss), reset, and what the status page reads (cycle history, overview).
//!
//! Every action is a store change plus an audit entry (`admin_…`, outcome `applied`, the actor
//! in the reason and in `detail.actor`). None of them calls a connector: what they decide takes
//! effect in the user's next cycle.
//!
//! Semantics:
//!
//! - **approve held deletes**: the deletes held *now* are marked approved in the store
//!   ([`tandem_store::StateStore::approve_quarantined`]); the next cycle's planner lets exactly those
//!   (side, record) pairs through ([`tandem_core::planner::PlanInput::approved_deletes`]). A mass
//!   delete that appears later is judged on its own and still held.
//! - **reject held deletes = restore**: the delete is dropped, the pair is forgotten and the
//!   surviving record (the other side's) is queued for another look, so the next cycle sees it as
//!   a record without a counterpart and copies it back to the side it was deleted from: a new
//!   record there, linked anew. The deleted record itself is not undeleted (no provider offers
//!   that uniformly); the copy carries the survivor's content.
//! - **retry a quarantined record**: released and re-read next cycle, with its counterpart when
//!   it is paired (so a conflict is judged again from both sides), as a resolved unresolved item
//!   is. If the cause remains, the cycle quarantines it again.
//! - **dismiss a quarantined record**: the entry is removed and nothing is re-read: the record
//!   stays as it is, unsynced, until it changes again (its next change is planned as usual).
//!
//! Held deletes are not quarantine for retry and dismiss: they are approved or rejected.

use std::collections::BTreeMap;

use tandem_core::model::ObjectKind;
use tandem_core::state::{RecordId, Side};
use tandem_store::{AuditEntry, CycleCommit, CycleRecord, QuarantineEntry, UserOverview, UserStatus};

use crate::cycle::{RESTORE, is_admin_pending, is_approved, is_held_delete};
use crate::{Engine, EngineError};

/// Cycles read per user to find the last one that was not a dry run.
const OVERVIEW_CYCLES: usize = 20;

impl Engine {
    fn admin_audit(
        &self,
        user: &str,
        object: ObjectKind,
        record: Option<(Side, RecordId)>,
        action: &str,
        actor: &str,
        what: &str,
    ) -> AuditEntry {
        let (side, record_id) = record.map_or((None, None), |(s, id)| (Some(s), Some(id)));
        AuditEntry {
            at: self.inner.clock.now(),
            user: user.to_owned(),
            object,
            side,
            record_id,
            action: action.to_owned(),
            outcome: "applied".to_owned(),
            reason: format!("{what} by {actor}"),
            detail: Some(serde_json::json!({ "actor": actor })),
        }
    }

    /// The quarantine entries of `user` held by the mass-delete guard, for `object` or all.
    async fn held(&self, user: &str, object: Option<ObjectKind>) -> Result<Vec<QuarantineEntry>, EngineError> {
        Ok(self
            .inner
            .store
            .quarantine(user)
            .await?
            .into_iter()
            .filter(|q| is_held_delete(q) && object.is_none_or(|o| q.object == o))
            .collect())
    }

    /// `user`'s deletes held by the mass-delete guard, approved or not (an approved one carries
    /// `"approved": true` in its detail until the next cycle applies it).
    pub async fn held_deletes(&self, user: &str) -> Result<Vec<QuarantineEntry>, EngineError> {
        self.held(user, None).await
    }

    /// Approves the deletes held now (of `object`, or of both): the user's next cycle applies
    /// exactly those; deletes held later wait for their own approval. Returns how many were
    /// approved (already approved ones are not counted again).
    pub async fn approve_held_deletes(
        &self,
        user: &str,
        object: Option<ObjectKind>,
        actor: &str,
    ) -> Result<usize, EngineError> {
        let store = &self.inner.store;
        let mut by_object: BTreeMap<ObjectKind, Vec<(Side, RecordId)>> = BTreeMap::new();
        for q in self.held(user, object).await?.into_iter().filter(|q| !is_approved(q)) {
            by_object.entry(q.object).or_default().push((q.side, q.record_id));
        }
        let now = self.inner.clock.now();
        let mut approved = 0;
        for (object, records) in by_object {
            approved += store.approve_quarantined(user, object, &records, actor, now).await?;
            let audit: Vec<AuditEntry> = records
                .into_iter()
                .map(|r| {
                    self.admin_audit(
                        user,
                        object,
                        Some(r),
                        "admin_approve_held",
                        actor,
                        "held delete approved (applied next cycle)",
                    )
                })
                .collect();
            store.append_audit(&audit).await?;
        }
        Ok(approved)
    }

    /// Rejects the deletes held now (of `object`, or of both), which **restores** the deleted
    /// records: each delete is dropped, its pair forgotten and the surviving record queued for
    /// another look, so the next cycle copies it back to the side it was deleted from (a new
    /// record, linked anew). Returns how many deletes were rejected.
    pub async fn reject_held_deletes(
        &self,
        user: &str,
        object: Option<ObjectKind>,
        actor: &str,
    ) -> Result<usize, EngineError> {
        let store = &self.inner.store;
        let mut by_object: BTreeMap<ObjectKind, Vec<QuarantineEntry>> = BTreeMap::new();
        for q in self.held(user, object).await? {
            by_object.entry(q.object).or_default().push(q);
        }
        let mut rejected = 0;
        for (object, held) in by_object {
            let mut commit = CycleCommit::default();
            for q in held {
                let pairs = store.pairs_by_record(user, object, q.side, std::slice::from_ref(&q.record_id)).await?;
                for pair in pairs {
                    let survivor = q.side.other();
                    let id = pair.side(survivor).id.clone();
                    commit.refetch_add.push((survivor, id.clone()));
                    // The survivor may be Tandem's copy, which the planner never copies back
                    // once unmapped; this mark has the next cycle read it as a person's record.
                    commit.quarantine_add.push(QuarantineEntry {
                        user: user.to_owned(),
                        object,
                        side: survivor,
                        record_id: id,
                        reason: format!("restore requested by {actor}: copied back to {} next cycle", q.side),
                        since: self.inner.clock.now(),
                        detail: Some(serde_json::json!({ "kind": RESTORE, "actor": actor })),
                    });
                    commit.remove_pairs.push(pair.pair_id);
                }
                commit.audit.push(self.admin_audit(
                    user,
                    object,
                    Some((q.side, q.record_id.clone())),
                    "admin_reject_held",
                    actor,
                    "held delete rejected (the record is restored from its counterpart next cycle)",
                ));
                commit.quarantine_remove.push((q.side, q.record_id));
                rejected += 1;
            }
            store.commit_cycle(user, object, commit).await?;
        }
        Ok(rejected)
    }

    /// `user`'s quarantined records, held deletes (see [`Engine::held_deletes`]) and records
    /// waiting to be restored after a rejection excluded.
    pub async fn quarantined(&self, user: &str) -> Result<Vec<QuarantineEntry>, EngineError> {
        Ok(self.inner.store.quarantine(user).await?.into_iter().filter(|q| !is_admin_pending(q)).collect())
    }

    /// The quarantine entry of one record, held deletes excluded.
    async fn quarantine_entry(
        &self,
        user: &str,
        object: ObjectKind,
        side: Side,
        id: &RecordId,
    ) -> Result<Option<QuarantineEntry>, EngineError> {
        Ok(self
            .quarantined(user)
            .await?
            .into_iter()
            .find(|q| q.object == object && q.side == side && &q.record_id == id))
    }

    /// Releases a quarantined record and has the next cycle read it again (with its counterpart,
    /// when it is paired). `false` when no such entry exists (held deletes are not retried: they
    /// are approved or rejected).
    pub async fn retry_quarantined(
        &self,
        user: &str,
        object: ObjectKind,
        side: Side,
        id: &RecordId,
        actor: &str,
    ) -> Result<bool, EngineError> {
        if self.quarantine_entry(user, object, side, id).await?.is_none() {
            return Ok(false);
        }
        let store = &self.inner.store;
        let mut commit = CycleCommit {
            quarantine_remove: vec![(side, id.clone())],
            refetch_add: vec![(side, id.clone())],
            ..CycleCommit::default()
        };
        for pair in store.pairs_by_record(user, object, side, std::slice::from_ref(id)).await? {
            let other = pair.side(side.other()).id.clone();
            if !other.is_pending() {
                commit.refetch_add.push((side.other(), other));
            }
        }
        commit.audit.push(self.admin_audit(
            user,
            object,
            Some((side, id.clone())),
            "admin_retry_quarantine",
            actor,
            "released from quarantine and re-read next cycle",
        ));
        store.commit_cycle(user, object, commit).await?;
        Ok(true)
    }

    /// Removes a quarantine entry without re-reading anything: the record stays as it is,
    /// unsynced, until it changes again. `false` when no such entry exists (held deletes are not
    /// dismissed: they are approved or rejected).
    pub async fn dismiss_quarantined(
        &self,
        user: &str,
        object: ObjectKind,
        side: Side,
        id: &RecordId,
        actor: &str,
    ) -> Result<bool, EngineError> {
        if self.quarantine_entry(user, object, side, id).await?.is_none() {
            return Ok(false);
        }
        let commit = CycleCommit {
            quarantine_remove: vec![(side, id.clone())],
            // Nor re-read: a failed write may have queued it for another look.
            refetch_remove: vec![(side, id.clone())],
            audit: vec![self.admin_audit(
                user,
                object,
                Some((side, id.clone())),
                "admin_dismiss_quarantine",
                actor,
                "quarantine entry dismissed (the record syncs again when it changes)",
            )],
            ..CycleCommit::default()
        };
        self.inner.store.commit_cycle(user, object, commit).await?;
        Ok(true)
    }

    /// [`Engine::reset_user`], audited: one entry per object reset, naming `actor`.
    pub async fn reset_user_by(&self, user: &str, object: Option<ObjectKind>, actor: &str) -> Result<(), EngineError> {
        self.reset_user(user, object).await?;
        let objects = object.map_or_else(|| ObjectKind::ALL.to_vec(), |o| vec![o]);
        let audit: Vec<AuditEntry> = objects
            .into_iter()
            .map(|o| self.admin_audit(user, o, None, "admin_reset", actor, "sync state reset (Reset Sync)"))
            .collect();
        self.inner.store.append_audit(&audit).await?;
        Ok(())
    }

    /// `user`'s newest `limit` cycles (one per object per sync, dry runs included), newest first.
    pub async fn recent_cycles(&self, user: &str, limit: usize) -> Result<Vec<CycleRecord>, EngineError> {
        Ok(self.inner.store.cycles(user, limit).await?)
    }

    /// One row per user the store knows, ordered by user: status, what waits for a person and
    /// the last (not dry) sync's counts. Reads quarantine, unresolved items and the newest
    /// cycles of each user, never pairs.
    pub async fn user_overview(&self) -> Result<Vec<UserOverview>, EngineError> {
        let store = &self.inner.store;
        let statuses: BTreeMap<String, UserStatus> =
            store.statuses().await?.into_iter().map(|s| (s.user.clone(), s)).collect();
        let mut rows = Vec::new();
        for user in store.users().await? {
            let status = statuses.get(&user).cloned().unwrap_or_else(|| UserStatus::empty(&user));
            let quarantine = store.quarantine(&user).await?;
            let held = quarantine.iter().filter(|q| is_held_delete(q)).count();
            let pending = quarantine.iter().filter(|q| is_admin_pending(q)).count();
            let unresolved = store.unresolved(&user).await?.len();
            let cycles = store.cycles(&user, OVERVIEW_CYCLES).await?;
            let last = cycles.iter().find(|c| !c.dry_run).map(|c| c.started_at);
            let (counts, ok) = match last {
                Some(at) => {
                    let same: Vec<&CycleRecord> = cycles.iter().filter(|c| !c.dry_run && c.started_at == at).collect();
                    let counts = same.iter().fold(tandem_store::CycleCounts::default(), |sum, c| sum.plus(c.counts));
                    (Some(counts), Some(same.iter().all(|c| c.is_ok())))
                }
                None => (None, None),
            };
            rows.push(
                UserOverview::new(status, quarantine.len() - pending, held, unresolved).with_last_cycle(counts, ok),
            );
        }
        Ok(rows)
    }
}
