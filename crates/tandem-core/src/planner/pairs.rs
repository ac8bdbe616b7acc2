//! Known pairs: echoes, updates both ways, conflicts and their resolution, deletes and the
//! mass-delete guard.

use std::collections::BTreeSet;

use super::field_writes::FieldWrites;
use super::shape::Fitted;
use super::touched::{PairKey, Paired};
use super::{Planner, Seen, idx, names, push_names};
use crate::config::ConflictStrategy;
use crate::fields::{FieldKey, fingerprint};
use crate::model::Record;
use crate::plan::{Action, FieldChange, NextState, Operation, Resolution};
use crate::state::{PairState, Side, SideState};

impl<'a> Planner<'a> {
    pub(super) fn guard_mass_deletes(&mut self, paired: &mut Paired<'_>, slots: &mut [[Option<Seen<'a>>; 2]]) {
        if self.input.release_held_deletes {
            return;
        }
        let guard = self.input.config.mass_delete_guard;
        for side in Side::BOTH {
            let deleting: Vec<PairKey<'_>> = paired
                .iter()
                .filter(|(PairKey(_, pair_id), at)| {
                    let changes = &slots[**at];
                    changes[idx(side)].as_ref().is_some_and(|s| s.record.is_none())
                        && changes[idx(side.other())].as_ref().is_none_or(|s| s.record.is_some())
                        && self.pairs.get(pair_id).is_some_and(|p| p.tombstone.is_none())
                        // Approved one by one: let through, and not counted towards a new hold.
                        && !changes[idx(side)]
                            .as_ref()
                            .is_some_and(|s| self.input.approved_deletes.contains(&(side, s.id.clone())))
                })
                .map(|(id, _)| *id)
                .collect();
            let share = deleting.len() as f64 / self.input.mapped_pairs.max(1) as f64;
            if deleting.len() < guard.min_records || share <= guard.max_share {
                continue;
            }
            for pair_key in deleting {
                // The whole pair waits with its delete: an edit of the counterpart must not be
                // written to the record whose delete is held (it is gone, and the delete wins).
                if let Some(seen) = paired.remove(&pair_key).and_then(|at| slots[at][idx(side)].take()) {
                    let pair_id = pair_key.1;
                    let reason = format!(
                        "mass-delete guard: {side} reported deletes of {:.0}% of mapped records this cycle \
                         (limit {:.0}%, at least {}); held for approval",
                        share * 100.0,
                        guard.max_share * 100.0,
                        guard.min_records
                    );
                    self.push(Some(pair_id), Action::HoldDelete { side, id: seen.id.clone() }, reason);
                }
            }
        }
    }

    pub(super) fn is_echo(&mut self, seen: &Seen<'a>, state: &PairState) -> bool {
        let echo = seen.record.is_some()
            && !seen.version.as_str().is_empty()
            && *seen.version == state.side(seen.side).version;
        if echo {
            self.plan.echoes_suppressed += 1;
        }
        echo
    }

    pub(super) fn decide_pair(&mut self, state: &PairState, crm: Option<Seen<'a>>, mailbox: Option<Seen<'a>>) {
        let pair_id = &state.pair_id;
        if let Some(deleted_on) = state.tombstone {
            let survivor = deleted_on.other();
            let seen = [crm, mailbox].into_iter().flatten().find(|s| s.side == survivor);
            match seen {
                Some(s) if s.record.is_none() => {
                    self.states.insert(pair_id.clone(), NextState::Remove);
                }
                Some(s) => self.push(
                    Some(pair_id),
                    Action::Skip { side: survivor, id: s.id.clone() },
                    format!(
                        "its counterpart was deleted on {deleted_on} and deletes are not propagated; \
                         this record is no longer synced and is never re-created there"
                    ),
                ),
                None => {}
            }
            return;
        }
        let crm = crm.filter(|s| !self.is_echo(s, state));
        let mailbox = mailbox.filter(|s| !self.is_echo(s, state));
        let mut seen: [Option<Seen<'a>>; 2] = [crm, mailbox];

        // Deletes first.
        let deleted: Vec<Side> =
            Side::BOTH.into_iter().filter(|s| seen[idx(*s)].as_ref().is_some_and(|c| c.record.is_none())).collect();
        match deleted.as_slice() {
            [_, _] => {
                self.states.insert(pair_id.clone(), NextState::Remove);
                return;
            }
            [side] => {
                let other = seen[idx(side.other())].take();
                self.decide_delete(state, *side, other);
                return;
            }
            _ => {}
        }

        // Both present (or one unchanged).
        let mut refreshed: Option<PairState> = None;
        for side in Side::BOTH {
            if let Some(s) = &seen[idx(side)]
                && let (Some(filter), Some(record)) = (self.input.config.filter(side), s.record())
                && !filter.matches(record)
            {
                let id = s.id.clone();
                // Its edits are not sent, but a write to it from the other side must expect the
                // version it has now, or the precondition fails every cycle.
                refreshed.get_or_insert_with(|| state.clone()).side_mut(side).version = s.version.clone();
                self.push(
                    Some(pair_id),
                    Action::Skip { side, id },
                    "no longer passes the filter; both records are left as they are",
                );
                seen[idx(side)] = None;
            }
        }
        let state = refreshed.as_ref().unwrap_or(state);
        let mut changed: [Vec<FieldKey>; 2] = Side::BOTH.map(|side| {
            seen[idx(side)]
                .as_ref()
                .and_then(|s| Some((s.record()?, self.seen_prints(s)?)))
                .map(|(r, now)| self.changed_fields(side, r, now, state.side(side)))
                .unwrap_or_default()
        });
        let records: [Option<&Record>; 2] = Side::BOTH.map(|side| seen[idx(side)].as_ref().and_then(|s| s.record()));
        // A field both sides changed to the same value is already in sync, not a conflict (the
        // same edit made twice, or Tandem's own write whose state was never saved).
        if let (Some(crm_rec), Some(mb_rec)) = (records[0], records[1]) {
            let agreed: Vec<FieldKey> = changed[0]
                .iter()
                .filter(|k| changed[1].contains(k))
                .filter(|k| crm_rec.print(k) == mb_rec.print(k))
                .cloned()
                .collect();
            changed.iter_mut().for_each(|c| c.retain(|k| !agreed.contains(k)));
        }

        let mut writes: [FieldWrites; 2] = Default::default();
        let both_changed = !changed[0].is_empty() && !changed[1].is_empty();
        if both_changed {
            let (Some(crm_rec), Some(mb_rec)) = (records[0], records[1]) else { return };
            if !self.resolve_conflict(state, &seen, &changed, [crm_rec, mb_rec], &mut writes) {
                return;
            }
        } else {
            for side in Side::BOTH {
                if let Some(record) = records[idx(side)] {
                    for key in &changed[idx(side)] {
                        writes[idx(side.other())].insert(key.clone(), record.get(key));
                    }
                }
            }
        }
        self.emit_pair_writes(state, &mut seen, writes, "changed");
    }

    /// Settles edits on both sides. Returns false when nothing is to be written (manual).
    pub(super) fn resolve_conflict(
        &mut self,
        state: &PairState,
        seen: &[Option<Seen<'a>>; 2],
        changed: &[Vec<FieldKey>; 2],
        records: [&Record; 2],
        writes: &mut [FieldWrites; 2],
    ) -> bool {
        let policy = self.input.config.conflicts;
        let union: BTreeSet<&FieldKey> = changed[0].iter().chain(&changed[1]).collect();
        let clashing: Vec<FieldKey> = changed[0]
            .iter()
            .filter(|k| changed[1].contains(k))
            .filter(|k| records[0].print(k) != records[1].print(k))
            .cloned()
            .collect();
        let reported =
            if clashing.is_empty() { union.iter().map(|k| (*k).clone()).collect() } else { clashing.clone() };
        let newest = || {
            let times = [seen[0].as_ref().and_then(|s| s.modified_at), seen[1].as_ref().and_then(|s| s.modified_at)];
            match times {
                [Some(c), Some(m)] if c > m => Side::Crm,
                [Some(c), Some(m)] if m > c => Side::Mailbox,
                _ => policy.fallback,
            }
        };
        let pair_id = Some(&state.pair_id);
        match policy.strategy {
            ConflictStrategy::Manual => {
                self.push(
                    pair_id,
                    Action::Conflict { fields: reported.clone(), resolution: Resolution::Manual },
                    format!("both sides edited [{}]; policy is manual, so nothing is changed", names(&reported)),
                );
                false
            }
            ConflictStrategy::FieldMerge => {
                for key in union {
                    let from = if changed[0].contains(key) && changed[1].contains(key) {
                        if clashing.contains(key) { policy.fallback } else { continue }
                    } else if changed[0].contains(key) {
                        Side::Crm
                    } else {
                        Side::Mailbox
                    };
                    writes[idx(from.other())].insert(key.clone(), records[idx(from)].get(key));
                }
                if !clashing.is_empty() {
                    self.push(
                        pair_id,
                        Action::Conflict {
                            fields: clashing.clone(),
                            resolution: Resolution::Merged { fallback: policy.fallback },
                        },
                        format!(
                            "both sides edited [{}]; edits to different fields are merged and {} wins the same field",
                            names(&clashing),
                            policy.fallback
                        ),
                    );
                }
                true
            }
            ConflictStrategy::CrmWins | ConflictStrategy::MailboxWins | ConflictStrategy::NewestWins => {
                let winner = match policy.strategy {
                    ConflictStrategy::CrmWins => Side::Crm,
                    ConflictStrategy::MailboxWins => Side::Mailbox,
                    _ => newest(),
                };
                let loser = winner.other();
                for key in union {
                    // A field the winner cannot store reads as absent there: the loser keeps its
                    // value rather than having it blanked.
                    if !self.caps(winner).supports(key) {
                        continue;
                    }
                    let value = records[idx(winner)].get(key);
                    if fingerprint(value.as_ref()) != records[idx(loser)].print(key) {
                        writes[idx(loser)].insert(key.clone(), value);
                    }
                }
                let why = match policy.strategy {
                    ConflictStrategy::NewestWins => format!("{winner} was modified last"),
                    _ => format!("policy: {winner} wins"),
                };
                self.push(
                    pair_id,
                    Action::Conflict { fields: reported.clone(), resolution: Resolution::Took(winner) },
                    format!("both sides edited the record ([{}]); {why}", names(&reported)),
                );
                true
            }
        }
    }

    /// Turns desired field writes into Update operations and the pair's next state. The values
    /// in `writes[target]` are those of the other side's seen record (`Record::get`), as every
    /// caller reads them.
    pub(super) fn emit_pair_writes(
        &mut self,
        state: &PairState,
        seen: &mut [Option<Seen<'a>>; 2],
        mut writes: [FieldWrites; 2],
        why: &str,
    ) {
        let pair_id = &state.pair_id;
        // One-way directions never write to their source side.
        for side in Side::BOTH {
            let target = side;
            if !writes[idx(target)].is_empty() && !self.direction().flows_from(target.other()) {
                let fields: Vec<FieldKey> = writes[idx(target)].keys().cloned().collect();
                let id = seen[idx(target.other())]
                    .as_ref()
                    .map_or_else(|| state.side(target.other()).id.clone(), |s| s.id.clone());
                self.push(
                    Some(pair_id),
                    Action::Skip { side: target.other(), id },
                    format!(
                        "direction is {:?}; edits to [{}] are not sent to {target}",
                        self.direction(),
                        names(&fields)
                    ),
                );
                writes[idx(target)].clear();
            }
        }
        // The prints of the fields written, per target, for the next state.
        let mut written: [Vec<(FieldKey, u64)>; 2] = [Vec::new(), Vec::new()];
        // Operations go straight into the plan (no vector of their own to allocate and move them
        // through); those from `planned_from` on are this decision's.
        let planned_from = self.plan.operations.len();
        for target in Side::BOTH {
            // Every caller fills `writes[target]` with values read from the other side's record.
            let source_prints = seen[idx(target.other())].as_ref().and_then(|s| self.seen_prints(s));
            // Sized once: nearly every field asked for is written.
            let mut patch = Vec::with_capacity(writes[idx(target)].len());
            written[idx(target)].reserve_exact(writes[idx(target)].len());
            let mut truncated = Vec::new();
            let mut dropped = Vec::new();
            let mut timing_problem = None;
            for (key, value) in std::mem::take(&mut writes[idx(target)]) {
                if !self.caps(target).writable(&key) {
                    continue;
                }
                let fitted = self.fit_value(target, &key, value);
                let altered = fitted.altered();
                let Fitted { value, cut, .. } = fitted;
                if value.is_none() && self.limit(target, &key).is_some_and(|l| l.required) {
                    dropped.push(key);
                    continue;
                }
                if key == FieldKey::Timing
                    && let Some(source) = seen[idx(target.other())].as_ref().and_then(|s| s.record())
                {
                    timing_problem = self.duration_problem(target, source);
                }
                if cut {
                    truncated.push(key.clone());
                }
                // The value is the source's own unless fitting altered it: its print is then the
                // one the source's prints hold already (`Record::print` equals `fingerprint` of
                // `Record::get`), which spares hashing it again.
                let print = match source_prints.and_then(|p| p.get(&key)) {
                    Some(print) if !altered => *print,
                    _ => fingerprint(value.as_ref()),
                };
                written[idx(target)].push((key.clone(), print));
                patch.push(FieldChange { field: self.target_name(target, &key), value });
            }
            if let Some(problem) = timing_problem {
                // Nothing of this decision is written: the other target's update goes too.
                self.plan.operations.truncate(planned_from);
                let source = target.other();
                let id = seen[idx(source)].as_ref().map_or_else(|| state.side(source).id.clone(), |s| s.id.clone());
                self.push(
                    Some(pair_id),
                    Action::Quarantine { side: source, id },
                    format!("cannot update {target}: {problem}"),
                );
                return;
            }
            if patch.is_empty() {
                continue;
            }
            let mut reason = String::with_capacity(32 + 16 * patch.len());
            reason.push_str(target.other().as_str());
            reason.push(' ');
            reason.push_str(why);
            reason.push_str(" [");
            push_names(&mut reason, patch.iter().map(|c| &c.field));
            reason.push(']');
            if !dropped.is_empty() {
                reason.push_str("; not clearing required [");
                push_names(&mut reason, &dropped);
                reason.push(']');
            }
            let expected =
                seen[idx(target)].as_ref().map_or_else(|| state.side(target).version.clone(), |s| s.version.clone());
            self.plan.operations.push(Operation {
                pair: Some(pair_id.clone()),
                action: Action::Update { target, id: state.side(target).id.clone(), expected, patch, truncated },
                reason,
            });
        }
        // The next state: each seen side's version and prints (moved out of the seen record, which
        // is done with), the rest as it was; then the prints of what was written.
        let mut next_side = |side: Side| {
            let before = state.side(side);
            match &mut seen[idx(side)] {
                Some(s) => {
                    let fields = match s.prints.take() {
                        Some(prints) => prints,
                        None => s.record().map_or_else(|| before.fields.clone(), |r| self.prints(side, r)),
                    };
                    SideState { id: before.id.clone(), version: s.version.clone(), fields }
                }
                None => before.clone(),
            }
        };
        let mut next = PairState {
            pair_id: state.pair_id.clone(),
            object: state.object,
            crm: next_side(Side::Crm),
            mailbox: next_side(Side::Mailbox),
            synced_at: self.input.now,
            tombstone: state.tombstone,
        };
        for target in Side::BOTH {
            for (key, print) in std::mem::take(&mut written[idx(target)]) {
                next.side_mut(target).fields.insert(key, print);
            }
        }
        // Echoes and held deletes leave the pair as it was: only the clock moved, and that is not
        // worth a state write (nor does it make the plan a no-op). Writes always get a state, so
        // the engine records the versions they produce.
        if self.plan.operations.len() > planned_from || !same_but_clock(&next, state) {
            self.states.insert(pair_id.clone(), NextState::Put(next));
        }
    }

    pub(super) fn decide_delete(&mut self, state: &PairState, deleted_on: Side, other: Option<Seen<'a>>) {
        let pair_id = &state.pair_id;
        let survivor = deleted_on.other();
        let edited = other
            .as_ref()
            .and_then(|s| Some((s.record()?, self.seen_prints(s)?)))
            .map(|(r, now)| self.changed_fields(survivor, r, now, state.side(survivor)))
            .unwrap_or_default();
        let propagate = self.input.config.deletes.from(deleted_on) && self.direction().flows_from(deleted_on);
        if !edited.is_empty() {
            if self.input.config.conflicts.strategy == ConflictStrategy::Manual {
                self.push(
                    Some(pair_id),
                    Action::Conflict { fields: edited.clone(), resolution: Resolution::Manual },
                    format!(
                        "deleted on {deleted_on} but edited on {survivor} ([{}]); policy is manual",
                        names(&edited)
                    ),
                );
                return;
            }
            self.push(
                Some(pair_id),
                Action::Conflict { fields: edited.clone(), resolution: Resolution::DeleteWins },
                format!(
                    "deleted on {deleted_on} but edited on {survivor} ([{}]); the delete wins so nothing is resurrected",
                    names(&edited)
                ),
            );
        }
        let survivor_state = state.side(survivor);
        if propagate {
            let expected = other.as_ref().map_or_else(|| survivor_state.version.clone(), |s| s.version.clone());
            self.push(
                Some(pair_id),
                Action::Delete { target: survivor, id: survivor_state.id.clone(), expected },
                format!("deleted on {deleted_on}; deletes propagate {deleted_on} -> {survivor}"),
            );
            self.states.insert(pair_id.clone(), NextState::Remove);
        } else {
            self.push(
                Some(pair_id),
                Action::Unlink { survivor, id: survivor_state.id.clone() },
                format!(
                    "deleted on {deleted_on}; deletes do not propagate {deleted_on} -> {survivor}, so the {survivor} \
                     record is kept, unlinked, and never re-created on {deleted_on}"
                ),
            );
            let mut next = state.clone();
            next.tombstone = Some(deleted_on);
            next.synced_at = self.input.now;
            if let Some(s) = &other {
                next.side_mut(survivor).version = s.version.clone();
            }
            self.states.insert(pair_id.clone(), NextState::Put(next));
        }
    }
}

/// Whether two states differ in nothing but `synced_at`.
pub(super) fn same_but_clock(a: &PairState, b: &PairState) -> bool {
    let PairState { pair_id, object, crm, mailbox, synced_at: _, tombstone } = a;
    *pair_id == b.pair_id && *object == b.object && *crm == b.crm && *mailbox == b.mailbox && *tombstone == b.tombstone
}
