//! Settling: an executed plan turned into the store's commit and the report's lines.

use std::collections::{HashMap, HashSet};

use tandem_connector::{ConnectorError, Written};
use tandem_core::plan::{Action, NextState, Resolution};
use tandem_core::planner::PairIndex;
use tandem_core::state::{PairId, RecordId, Side};
use tandem_store::{AuditEntry, CycleCommit, QuarantineEntry};

use super::{AMBIGUOUS_MATCH, Cycle, Executed, HELD_DELETE, UNRESOLVED, intent_key, source_of};
use crate::report::RecordIssue;

impl Cycle<'_> {
    /// Turns one executed plan into store changes and report lines. Consumes it: the next
    /// states move into the commit and the planned records go as soon as they are settled.
    pub(super) fn settle(&mut self, executed: Executed, pairs: &PairIndex, commit: &mut CycleCommit) {
        let Executed { mut plan, results } = executed;
        let now = self.engine.inner.clock.now();
        let user = self.job.user.clone();
        let object = self.object;
        let mut failed_pairs: HashSet<PairId> = HashSet::new();
        // Records set aside until an unresolved item is resolved: not read again meanwhile.
        let mut set_aside: HashSet<(Side, RecordId)> = HashSet::new();
        let mut written: HashMap<PairId, Vec<(Side, Written)>> = HashMap::new();
        self.collect_notes(&plan);
        self.record_over_limit(&plan, now, commit);
        // Sized once: grown by doubling, a first sync's ten thousand entries and pairs held up to
        // twice their room, and briefly both the old and new buffers (`heaptrack`, issue 15).
        let writes = plan.operations.iter().filter(|op| op.action.target().is_some()).count();
        commit.audit.reserve(plan.operations.len());
        commit.resolved_intents.reserve(writes);
        commit.upsert_pairs.reserve(plan.states.len());
        let audit =
            |side: Option<Side>, id: Option<RecordId>, action: &str, outcome: String, reason: &str| AuditEntry {
                at: now,
                user: user.clone(),
                object,
                side,
                record_id: id,
                action: action.to_owned(),
                outcome,
                reason: reason.to_owned(),
                detail: None,
            };
        let quarantine = |side: Side, record_id: RecordId, reason: String, kind: Option<&str>| QuarantineEntry {
            user: user.clone(),
            object,
            side,
            record_id,
            reason,
            since: now,
            detail: kind.map(|kind| serde_json::json!({ "kind": kind })),
        };
        for (i, op) in plan.operations.iter().enumerate() {
            let name = op.action.name();
            match &op.action {
                Action::Create { target, .. } | Action::Update { target, .. } | Action::Delete { target, .. } => {
                    let target = *target;
                    let record = match &op.action {
                        Action::Update { id, .. } | Action::Delete { id, .. } => Some(id.clone()),
                        _ => None,
                    };
                    let result = results
                        .get(&i)
                        .cloned()
                        .unwrap_or_else(|| Err(ConnectorError::Transient { message: "the write was not sent".into() }));
                    // A delete of a record already gone did what it meant to.
                    let result = match (result, &op.action) {
                        (Err(ConnectorError::NotFound), Action::Delete { id, .. }) => {
                            Ok(Written::new(id.clone(), Default::default()))
                        }
                        (r, _) => r,
                    };
                    match result {
                        Ok(w) => {
                            *self.report.applied.entry(name.to_owned()).or_default() += 1;
                            commit.resolved_intents.push(intent_key(op));
                            let source = source_of(op, &plan.states, pairs);
                            self.settle_unresolved(op, source.as_ref(), &w.unresolved, now, commit);
                            commit.audit.push(audit(
                                Some(target),
                                Some(w.id.clone()),
                                name,
                                "applied".into(),
                                &op.reason,
                            ));
                            if let Some(pair) = &op.pair {
                                written.entry(pair.clone()).or_default().push((target, w));
                            }
                        }
                        Err(error) => {
                            let source = source_of(op, &plan.states, pairs);
                            let subject = source.clone().or_else(|| record.clone().map(|r| (target, r)));
                            if let Some(pair) = &op.pair {
                                failed_pairs.insert(pair.clone());
                            }
                            let reason = format!("{name} on {target} failed: {error}");
                            commit.audit.push(audit(
                                Some(target),
                                record.clone(),
                                name,
                                format!("failed: {error}"),
                                &op.reason,
                            ));
                            match &error {
                                ConnectorError::Unresolved { item } => {
                                    commit.resolved_intents.push(intent_key(op));
                                    if let Some((side, id)) = subject {
                                        set_aside.insert((side, id.clone()));
                                        commit.quarantine_add.push(quarantine(
                                            side,
                                            id.clone(),
                                            reason.clone(),
                                            Some(UNRESOLVED),
                                        ));
                                        self.record_unresolved(side, id, item.clone(), now, commit);
                                    }
                                }
                                ConnectorError::Rejected { .. } => {
                                    commit.resolved_intents.push(intent_key(op));
                                    if let Some((side, id)) = subject {
                                        self.report.quarantined.push(RecordIssue {
                                            side,
                                            id: id.clone(),
                                            reason: reason.clone(),
                                        });
                                        commit.quarantine_add.push(quarantine(side, id, reason, None));
                                    }
                                }
                                _ => {
                                    // Definite failures need no settling after a crash; unknown
                                    // outcomes (transient, throttled) keep their intent so the next
                                    // run checks whether the write landed.
                                    let unknown = match op.action {
                                        Action::Create { .. } => !matches!(
                                            error,
                                            ConnectorError::PreconditionFailed { .. } | ConnectorError::NotFound
                                        ),
                                        Action::Update { .. } => matches!(error, ConnectorError::Transient { .. }),
                                        _ => false,
                                    };
                                    if !unknown {
                                        commit.resolved_intents.push(intent_key(op));
                                    }
                                    if let Some((side, id)) = &source {
                                        commit.refetch_add.push((*side, id.clone()));
                                    }
                                    if let Some(id) = record {
                                        commit.refetch_add.push((target, id));
                                    }
                                    if let Some((side, id)) = subject {
                                        self.report.failed.push(RecordIssue { side, id, reason });
                                    }
                                }
                            }
                        }
                    }
                }
                Action::Link { crm, .. } => {
                    commit.audit.push(audit(Some(Side::Crm), Some(crm.clone()), name, "applied".into(), &op.reason));
                }
                Action::Unlink { survivor, id } => {
                    commit.audit.push(audit(Some(*survivor), Some(id.clone()), name, "applied".into(), &op.reason));
                }
                Action::Conflict { resolution, .. } => {
                    let crm_id = op.pair.as_ref().and_then(|p| pairs.get(p)).map(|s| s.crm.id.clone());
                    commit.audit.push(audit(
                        Some(Side::Crm),
                        crm_id.clone(),
                        name,
                        format!("{resolution:?}"),
                        &op.reason,
                    ));
                    if *resolution == Resolution::Manual
                        && let Some(id) = crm_id
                    {
                        commit.quarantine_add.push(quarantine(
                            Side::Crm,
                            id,
                            op.reason.clone(),
                            Some("manual_conflict"),
                        ));
                    }
                }
                Action::Quarantine { side, id } => {
                    commit.audit.push(audit(Some(*side), Some(id.clone()), name, "applied".into(), &op.reason));
                    commit.quarantine_add.push(quarantine(*side, id.clone(), op.reason.clone(), None));
                }
                Action::Ambiguous { side, id, matches } => {
                    commit.audit.push(audit(Some(*side), Some(id.clone()), name, "reported".into(), &op.reason));
                    commit.quarantine_add.push(QuarantineEntry {
                        detail: Some(serde_json::json!({ "kind": AMBIGUOUS_MATCH, "matches": matches })),
                        ..quarantine(*side, id.clone(), op.reason.clone(), None)
                    });
                }
                Action::HoldDelete { side, id } => {
                    commit.audit.push(audit(Some(*side), Some(id.clone()), name, "held".into(), &op.reason));
                    commit.quarantine_add.push(quarantine(*side, id.clone(), op.reason.clone(), Some(HELD_DELETE)));
                }
                Action::Skip { .. } => {}
            }
        }
        // Settled: the planned records can go before the states move into the commit.
        drop(std::mem::take(&mut plan.operations));
        for (pair, next) in std::mem::take(&mut plan.states) {
            if failed_pairs.contains(&pair) {
                // Not committed: every record the pair would have held is read again, so a record
                // known to this plan only (one that moved) is not forgotten.
                if let NextState::Put(state) = next {
                    for side in Side::BOTH {
                        let id = state.side(side).id.clone();
                        if !id.is_pending() && !set_aside.contains(&(side, id.clone())) {
                            commit.refetch_add.push((side, id));
                        }
                    }
                }
                continue;
            }
            match next {
                NextState::Remove => commit.remove_pairs.push(pair),
                NextState::Put(mut state) => {
                    for (target, w) in written.remove(&pair).unwrap_or_default() {
                        // Decoded from the index only when needed.
                        let before = if w.unstored.is_empty() { None } else { pairs.get(&pair) };
                        let before = before.as_ref().map(|p| &p.side(target).fields);
                        let side = state.side_mut(target);
                        side.id = w.id;
                        side.version = w.version;
                        // What the target did not store, it holds as before (nothing, for a
                        // create): its state says so, so the difference is never an edit.
                        for field in &w.unstored {
                            match before.and_then(|b| b.get(field)) {
                                Some(print) => side.fields.insert(field.clone(), *print),
                                None => side.fields.remove(field),
                            };
                        }
                    }
                    if state.crm.id.is_pending() || state.mailbox.id.is_pending() {
                        continue;
                    }
                    commit.upsert_pairs.push(state);
                }
            }
        }
    }
}
