//! New records with no match: a create on the other side, or a quarantine saying why not.

use super::{Held, Planner, Seen, Taken, names};
use crate::model::Record;
use crate::plan::{Action, NextState};
use crate::state::{IdempotencyKey, PairState, RecordId, Side, SideState, Version};

impl<'a> Planner<'a> {
    /// The organizer of a mailbox event someone else organizes, when such events are only linked.
    pub(super) fn foreign_organizer<'r>(&self, side: Side, record: &'r Record) -> Option<&'r str> {
        let Record::Event(e) = record else { return None };
        // An owner known by something other than an address (an object id) cannot be compared.
        let owner = self.input.mailbox_owner.filter(|o| o.contains('@'))?;
        let organizer = e.organizer.as_ref()?.email.trim();
        let foreign = side == Side::Mailbox
            && self.input.config.foreign_organizers == crate::config::ForeignOrganizers::LinkOnly
            && !organizer.is_empty()
            && !organizer.eq_ignore_ascii_case(owner.trim());
        foreign.then_some(organizer)
    }

    pub(super) fn create_from(&mut self, source: Seen<'a>) {
        let side = source.side;
        let target = side.other();
        // Borrowing the field alone, so that the prints can move out of `source` below.
        let Some(record) = source.record.as_ref().map(Held::get) else { return };
        if !self.direction().flows_from(side) {
            return;
        }
        if let Some(reason) = self.outside_window(record) {
            self.push(None, Action::Skip { side, id: source.id.clone() }, reason);
            return;
        }
        if let Some(filter) = self.input.config.filter(side)
            && !filter.matches(record)
        {
            self.push(None, Action::Skip { side, id: source.id.clone() }, format!("excluded by the {side} filter"));
            return;
        }
        if source.sync_key.is_some() {
            self.push(
                None,
                Action::Skip { side, id: source.id.clone() },
                format!(
                    "created by Tandem from a {target} record that is no longer mapped (deleted or unlinked); \
                     not copied back"
                ),
            );
            return;
        }
        if let Some(organizer) = self.foreign_organizer(side, record) {
            self.push(
                None,
                Action::Skip { side, id: source.id.clone() },
                format!(
                    "a copy of a meeting {organizer} organizes: not copied to the CRM (foreign_organizers = \
                     link_only); linked if the organizer's sync brings it there"
                ),
            );
            return;
        }
        if let Some(problem) = self.duration_problem(target, record) {
            self.push(
                None,
                Action::Quarantine { side, id: source.id.clone() },
                format!("cannot create on {target}: {problem}"),
            );
            return;
        }
        let (mut projected, truncated) = self.project(target, record);
        let missing = self.missing_required(target, &projected);
        if !missing.is_empty() {
            self.push(
                None,
                Action::Quarantine { side, id: source.id.clone() },
                format!("cannot create on {target}: it requires [{}]", names(&missing)),
            );
            return;
        }
        let key = IdempotencyKey::derive(self.input.object, side, source.id);
        // A copy as it is (nothing cut, cleared or left out) prints as its source where both
        // sides print the same fields: comparing is far cheaper than printing again.
        let target_prints = match self.seen_prints(&source) {
            Some(prints) if self.same_prints && projected == *record => prints.clone(),
            _ => self.prints(target, &projected),
        };
        // The source's prints (computed just above) move into its side of the state.
        let source_state = SideState {
            id: source.id.clone(),
            version: source.version.clone(),
            fields: source.prints.into_inner().unwrap_or_default(),
        };
        let target_state =
            SideState { id: RecordId::default_pending(), version: Version::default(), fields: target_prints };
        let (crm, mailbox) =
            if side == Side::Crm { (source_state, target_state) } else { (target_state, source_state) };
        let state = PairState {
            pair_id: key.clone(),
            object: self.input.object,
            crm,
            mailbox,
            synced_at: self.input.now,
            tombstone: None,
        };
        self.to_side_names(target, &mut projected);
        // For `plan_taking`: a record copied exactly as its change holds it, of a record no pair
        // holds yet, moves in from the change after planning; the plan keeps an empty record of
        // the same kind until then, so the copy is freed at once.
        if let Some(taken) = &mut self.taking
            && matches!(source.record, Some(Held::Borrowed(_)))
            && self.pairs.by_record(side, source.id).is_none()
            && projected == *record
        {
            taken.push(Taken { key: key.clone(), side, at: source.at });
            drop(projected.take());
        }
        let mut reason = format!("new on {side}; no match on {target}");
        if !truncated.is_empty() {
            reason.push_str(&format!("; shortened to fit {target}: [{}]", names(&truncated)));
        }
        self.push(
            Some(&key),
            Action::Create {
                target,
                source_id: source.id.clone(),
                key: key.clone(),
                record: Box::new(projected),
                truncated,
            },
            reason,
        );
        self.states.insert(key, NextState::Put(state));
    }
}
