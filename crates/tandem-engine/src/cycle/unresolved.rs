//! Unresolved items in a cycle: recorded from write results, rechecked, retried, forgotten.
//!
//! An item is kept against the record whose content did not arrive (the write's source). The
//! target connector is asked, at most once per [`crate::EngineOptions::unresolved_recheck_interval`],
//! whether the cause is gone ([`tandem_connector::Connector::recheck`]); when it is, the item is
//! dropped and the write is made again on the next read of the source: for a field, by
//! forgetting the source side's fingerprint of it (so the planner sees the value as new); for a
//! record that was not written at all, by releasing it from quarantine. In both cases the source
//! is queued for another look, which this cycle's read picks up.

use chrono::{DateTime, Utc};
use tandem_core::plan::{Action, Operation};
use tandem_core::state::{RecordId, Side, Unresolved, UnresolvedKind, Version};
use tandem_store::{CycleCommit, UnresolvedEntry};

use super::{Access, Cycle};
use crate::EngineError;
use crate::report::UnresolvedIssue;

impl Cycle<'_> {
    /// Loads this user's open items for the cycle's object and rechecks those that are due.
    /// Returns the items still open. Failures to recheck only postpone it.
    pub(super) async fn recheck_unresolved(&mut self) -> Result<Vec<UnresolvedEntry>, EngineError> {
        let store = self.engine.inner.store.clone();
        let user = self.job.user.clone();
        let object = self.object;
        let mut open: Vec<UnresolvedEntry> =
            store.unresolved(&user).await?.into_iter().filter(|e| e.object == object).collect();
        if open.is_empty() || self.options.dry_run {
            return Ok(open);
        }
        let now = self.engine.inner.clock.now();
        let every = chrono::Duration::from_std(self.engine.inner.options.unresolved_recheck_interval)
            .unwrap_or(chrono::Duration::MAX);
        let due = |e: &UnresolvedEntry| e.checked_at.is_none_or(|t| now.signed_duration_since(t) >= every);
        let mut commit = CycleCommit::default();
        let mut resolved: Vec<usize> = Vec::new();
        // Records over the per-user limit wait for room, which only the store can tell.
        let over_limit: Vec<usize> =
            (0..open.len()).filter(|&i| open[i].item.kind == UnresolvedKind::OverLimit && due(&open[i])).collect();
        if !over_limit.is_empty() {
            let max = self.job.config.object(object).max_records.unwrap_or(usize::MAX);
            let mut room = max.saturating_sub(store.pair_count(&user, object).await?);
            for i in over_limit {
                let entry = &mut open[i];
                if room == 0 {
                    entry.checked_at = Some(now);
                    commit.unresolved_add.push(entry.clone());
                    continue;
                }
                room -= 1;
                commit.unresolved_remove.push(entry.key());
                commit.refetch_add.push((entry.side, entry.record_id.clone()));
                self.report.unresolved_retried += 1;
                resolved.push(i);
            }
        }
        for target in Side::BOTH {
            let picked: Vec<usize> = (0..open.len())
                .filter(|&i| {
                    open[i].side == target.other() && open[i].item.kind != UnresolvedKind::OverLimit && due(&open[i])
                })
                .collect();
            if picked.is_empty() {
                continue;
            }
            let items: Vec<Unresolved> = picked.iter().map(|&i| open[i].item.clone()).collect();
            let connector = self.job.connector(target);
            let answers = match self.call(target, Access::Read, || connector.recheck(object, &items)).await {
                Ok(answers) => answers,
                Err(error) => {
                    tracing::warn!(%target, error = %error, "could not recheck unresolved items; they wait for the next cycle");
                    continue;
                }
            };
            for (&i, resolvable) in picked.iter().zip(answers) {
                let entry = &mut open[i];
                if !resolvable {
                    entry.checked_at = Some(now);
                    commit.unresolved_add.push(entry.clone());
                    continue;
                }
                commit.unresolved_remove.push(entry.key());
                commit.refetch_add.push((entry.side, entry.record_id.clone()));
                match &entry.item.field {
                    Some(field) => {
                        let found = store
                            .pairs_by_record(&user, object, entry.side, std::slice::from_ref(&entry.record_id))
                            .await?;
                        for mut pair in found {
                            let side = pair.side_mut(entry.side);
                            side.fields.remove(field);
                            // Forgetting the version too: the record is re-read unchanged, and a
                            // known version would read as an echo and never be planned.
                            side.version = Version::default();
                            commit.upsert_pairs.push(pair);
                        }
                    }
                    None => commit.quarantine_remove.push((entry.side, entry.record_id.clone())),
                }
                self.report.unresolved_retried += 1;
                resolved.push(i);
            }
        }
        if !commit.is_empty() {
            store.commit_cycle(&user, object, commit).await?;
        }
        let mut index = 0;
        open.retain(|_| {
            let keep = !resolved.contains(&index);
            index += 1;
            keep
        });
        Ok(open)
    }

    /// Records the items a write reported and forgets the open ones it made stale: a field that
    /// was written now (or a record created) no longer waits for its cause.
    pub(super) fn settle_unresolved(
        &mut self,
        op: &Operation,
        source: Option<&(Side, RecordId)>,
        reported: &[Unresolved],
        now: DateTime<Utc>,
        commit: &mut CycleCommit,
    ) {
        let Some((side, id)) = source else { return };
        let written_fields: Option<Vec<_>> = match &op.action {
            Action::Update { patch, .. } => Some(patch.iter().map(|c| c.field.clone()).collect()),
            Action::Create { .. } => None,
            _ => return,
        };
        for entry in self.unresolved.iter().filter(|e| e.side == *side && &e.record_id == id) {
            let covered = match (&written_fields, &entry.item.field) {
                (None, _) => true,
                (Some(fields), Some(field)) => fields.contains(field),
                (Some(_), None) => false,
            };
            let again = reported.iter().any(|r| r.kind == entry.item.kind && r.subject == entry.item.subject);
            if covered && !again {
                commit.unresolved_remove.push(entry.key());
            }
        }
        for item in reported {
            self.record_unresolved(*side, id.clone(), item.clone(), now, commit);
        }
    }

    /// Keeps an item for each new record the plan held back over the per-user limit.
    pub(super) fn record_over_limit(
        &mut self,
        plan: &tandem_core::plan::Plan,
        now: DateTime<Utc>,
        commit: &mut CycleCommit,
    ) {
        let max = self.job.config.object(self.object).max_records.unwrap_or(usize::MAX);
        for (side, id) in &plan.over_limit {
            let item = Unresolved {
                kind: UnresolvedKind::OverLimit,
                field: None,
                subject: format!("{max} {}s", self.object),
                detail: format!(
                    "the user already syncs {max} {}s, the limit; this one is copied once others stop syncing",
                    self.object
                ),
            };
            self.record_unresolved(*side, id.clone(), item, now, commit);
        }
    }

    /// Keeps one item and reports it.
    pub(super) fn record_unresolved(
        &mut self,
        side: Side,
        record_id: RecordId,
        item: Unresolved,
        now: DateTime<Utc>,
        commit: &mut CycleCommit,
    ) {
        self.report.unresolved.push(UnresolvedIssue {
            side,
            id: record_id.clone(),
            kind: item.kind,
            subject: item.subject.clone(),
            detail: item.detail.clone(),
        });
        commit.unresolved_add.push(UnresolvedEntry {
            user: self.job.user.clone(),
            object: self.object,
            side,
            record_id,
            item,
            since: now,
            checked_at: Some(now),
        });
    }
}
