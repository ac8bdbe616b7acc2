//! New records: match keys, matching a new record to one on the other side, ambiguity, and
//! linking a match into a pair.

use std::collections::HashMap;

use super::field_writes::FieldWrites;
use super::{Planner, Seen, idx, names};
use crate::config::ConflictStrategy;
use crate::fields::{FieldKey, fingerprint};
use crate::model::{ObjectKind, Record};
use crate::plan::{Action, NextState, Resolution};
use crate::state::{FieldPrints, IdempotencyKey, PairState, RecordId, Side, SideState};

impl<'a> Planner<'a> {
    /// Keys under which a record can be matched, strongest first. Matching compares keys of the
    /// same rank only.
    pub(super) fn match_keys(&self, seen: &Seen<'a>) -> Vec<(u8, String)> {
        let mut keys = Vec::new();
        // Rank 0: one record was created by Tandem from the other. A copy carries the key derived
        // from its source's id; keys embed the source side, so a record's own key can only ever
        // equal the key its copy carries.
        keys.push((0, IdempotencyKey::derive(self.input.object, seen.side, seen.id).0.to_string()));
        if let Some(k) = &seen.sync_key {
            keys.push((0, k.0.to_string()));
        }
        match seen.record() {
            Some(Record::Contact(c)) => {
                for e in &c.emails {
                    keys.push((1, e.address.trim().to_lowercase()));
                }
                let norm = |s: &Option<String>| s.as_deref().unwrap_or("").trim().to_lowercase();
                if c.family_name.is_some() {
                    keys.push((
                        2,
                        format!("{}\u{1f}{}\u{1f}{}", norm(&c.given_name), norm(&c.family_name), norm(&c.company)),
                    ));
                }
            }
            Some(Record::Event(e)) => {
                if let Some(uid) = &e.ical_uid {
                    keys.push((1, uid.clone()));
                }
                if let (Some(start), Some(end)) = (e.timing.start.instant(), e.timing.end.instant()) {
                    let subject = e.subject.as_deref().unwrap_or("").trim().to_lowercase();
                    keys.push((2, format!("{subject}\u{1f}{}\u{1f}{}", start.timestamp(), end.timestamp())));
                }
            }
            None => {}
        }
        keys
    }

    pub(super) fn match_and_create(
        &mut self,
        crm_new: Vec<Seen<'a>>,
        mailbox_new: Vec<Seen<'a>>,
        linked: [Candidates; 2],
    ) {
        // Index the mailbox side's new records by every key.
        let mut index: HashMap<(u8, String), Vec<usize>> = HashMap::new();
        for (i, seen) in mailbox_new.iter().enumerate() {
            for key in self.match_keys(seen) {
                index.entry(key).or_default().push(i);
            }
        }
        // Every record of each side that a new record could match but not link to: new ones
        // (they may link to another) and those already paired.
        let [mut crm_candidates, mut mailbox_candidates] = linked;
        if !mailbox_new.is_empty() {
            self.index_candidates(&mut crm_candidates, crm_new.iter());
        }
        if !crm_new.is_empty() {
            self.index_candidates(&mut mailbox_candidates, mailbox_new.iter());
        }
        let mut claimed = vec![false; mailbox_new.len()];
        let mut matched = vec![false; crm_new.len()];
        // Tandem's own copies first, for every record, so that an email or name match of one
        // record never takes the copy Tandem made of another (whose create would then be
        // replayed onto that same copy).
        // Nothing new on the mailbox side (a first sync into an empty mailbox): nothing to find.
        let ranks = if index.is_empty() { Vec::new() } else { vec![0..=0, 1..=2] };
        for ranks in ranks {
            for (c, crm) in crm_new.iter().enumerate() {
                if matched[c] {
                    continue;
                }
                let found = self.find_match(crm, &mailbox_new, &index, &claimed, ranks.clone());
                if let Some((i, rank, candidates)) = found {
                    claimed[i] = true;
                    matched[c] = true;
                    self.link(crm, &mailbox_new[i], rank, candidates);
                }
            }
        }
        // One operation for each record left over, at most: room made once, not by doubling (a
        // first sync's ten thousand creates held up to twice their room).
        let left = matched.iter().filter(|m| !**m).count() + claimed.iter().filter(|c| !**c).count();
        self.plan.operations.reserve_exact(left);
        // A record left over that matches a record on the other side by email (or name and
        // company, or UID, or subject and times) is ambiguous: that record is linked to another
        // one already. Copying it would make a second record with the same address; it waits,
        // reported, until it changes or someone resolves it.
        for (c, crm) in crm_new.iter().enumerate() {
            if !matched[c] {
                match self.ambiguous_match(crm, &mailbox_candidates) {
                    Some(other) => self.report_ambiguous(crm.clone(), other),
                    None => self.create_from(crm.clone()),
                }
            }
        }
        for (i, mb) in mailbox_new.iter().enumerate() {
            if !claimed[i] {
                match self.ambiguous_match(mb, &crm_candidates) {
                    Some(matched) => self.report_ambiguous(mb.clone(), matched),
                    None => self.create_from(mb.clone()),
                }
            }
        }
    }

    /// Adds the records a new record could match but not link to, by rank-1 and rank-2 key.
    /// Tandem's own copies stand for the records they copy, not for a person's own, so they are
    /// left out.
    pub(super) fn index_candidates<'s>(&self, index: &mut Candidates, records: impl Iterator<Item = &'s Seen<'a>>)
    where
        'a: 's,
    {
        for seen in records.filter(|s| s.sync_key.is_none()) {
            let email = has_email(seen);
            for key in self.match_keys(seen).into_iter().filter(|(rank, _)| *rank > 0) {
                index.entry(key).or_default().push((seen.id.clone(), email));
            }
        }
    }

    /// The record (of the smallest id) among the other side's candidates that `seen` matches by
    /// a rank-1 or rank-2 key. Tandem's own copies are never ambiguous.
    pub(super) fn ambiguous_match(&self, seen: &Seen<'a>, others: &Candidates) -> Option<RecordId> {
        if seen.sync_key.is_some() || others.is_empty() {
            return None;
        }
        let email = has_email(seen);
        self.match_keys(seen)
            .into_iter()
            .filter(|(rank, _)| *rank > 0)
            .filter_map(|key| others.get(&key).map(|found| (key.0, found)))
            .flat_map(|(rank, found)| {
                // The same rule as linking: a name match needs one side without an address.
                found.iter().filter(move |(_, other_email)| rank != 2 || !(email && *other_email))
            })
            .map(|(id, _)| id)
            .min()
            .cloned()
    }

    pub(super) fn report_ambiguous(&mut self, seen: Seen<'a>, matched: RecordId) {
        let side = seen.side;
        let other = side.other();
        self.push(
            None,
            Action::Ambiguous { side, id: seen.id.clone(), matches: matched.clone() },
            format!(
                "ambiguous match: it matches {other} record {matched}, which is linked to another {side} record; \
                 not linked and not copied, so no duplicate is made, until it changes or an administrator resolves it"
            ),
        );
    }

    pub(super) fn find_match(
        &self,
        crm: &Seen<'a>,
        mailbox: &[Seen<'a>],
        index: &HashMap<(u8, String), Vec<usize>>,
        claimed: &[bool],
        ranks: std::ops::RangeInclusive<u8>,
    ) -> Option<(usize, u8, usize)> {
        let keys = self.match_keys(crm);
        for rank in ranks {
            let mut candidates: Vec<usize> = keys
                .iter()
                .filter(|(r, _)| *r == rank)
                .filter_map(|(_, k)| index.get(&(rank, k.clone())))
                .flatten()
                .copied()
                .filter(|i| !claimed[*i])
                // Two people with the same name at the same company but different email
                // addresses are two people: a name match needs one side without an address.
                .filter(|i| rank != 2 || !(has_email(crm) && has_email(&mailbox[*i])))
                .collect();
            candidates.sort_unstable();
            candidates.dedup();
            if candidates.is_empty() {
                continue;
            }
            // Ambiguity: the most recently modified wins; ties go to the smallest id.
            let count = candidates.len();
            let best = candidates.into_iter().max_by(|a, b| {
                let (a, b) = (&mailbox[*a], &mailbox[*b]);
                a.modified_at.cmp(&b.modified_at).then_with(|| b.id.cmp(a.id))
            })?;
            return Some((best, rank, count));
        }
        None
    }

    pub(super) fn link(&mut self, crm: &Seen<'a>, mailbox: &Seen<'a>, rank: u8, candidates: usize) {
        let (Some(crm_rec), Some(mb_rec)) = (crm.record(), mailbox.record()) else { return };
        let pair_id = IdempotencyKey::derive(self.input.object, Side::Crm, crm.id);
        for (side, seen, record) in [(Side::Crm, crm, crm_rec), (Side::Mailbox, mailbox, mb_rec)] {
            if let Some(filter) = self.input.config.filter(side)
                && !filter.matches(record)
            {
                let other = if side == Side::Crm { mailbox } else { crm };
                self.push(
                    None,
                    Action::Skip { side: side.other(), id: other.id.clone() },
                    format!(
                        "matches {side} record {} which the {side} filter excludes; not linked, not created",
                        seen.id
                    ),
                );
                return;
            }
        }
        let how = match (rank, self.input.object) {
            (0, _) => "created by Tandem from it",
            (1, ObjectKind::Contact) => "same email address",
            (2, ObjectKind::Contact) => "same first name, last name and company",
            (1, ObjectKind::Event) => "same iCalendar UID",
            _ => "same subject, start and end",
        };
        let mut reason = format!("matched: {how}");
        if candidates > 1 {
            reason.push_str(&format!("; {candidates} candidates, chose the most recently modified"));
        }
        self.push(Some(&pair_id), Action::Link { crm: crm.id.clone(), mailbox: mailbox.id.clone() }, reason);

        // Reconcile fields the two records hold differently.
        let policy = self.input.config.conflicts;
        let records = [crm_rec, mb_rec];
        let mut writes: [FieldWrites; 2] = Default::default();
        let mut differing = Vec::new();
        let shared: Vec<FieldKey> =
            self.fields_on(Side::Crm).filter(|k| self.caps(Side::Mailbox).supports(k)).cloned().collect();
        // The side whose value a difference takes; none under manual.
        let winner = match policy.strategy {
            ConflictStrategy::Manual => None,
            ConflictStrategy::CrmWins => Some(Side::Crm),
            ConflictStrategy::MailboxWins => Some(Side::Mailbox),
            ConflictStrategy::NewestWins => Some(match (crm.modified_at, mailbox.modified_at) {
                (Some(c), Some(m)) if c > m => Side::Crm,
                (Some(c), Some(m)) if m > c => Side::Mailbox,
                _ => policy.fallback,
            }),
            ConflictStrategy::FieldMerge => Some(policy.fallback),
        };
        for key in shared {
            let values = [records[0].get(&key), records[1].get(&key)];
            if fingerprint(values[0].as_ref()) == fingerprint(values[1].as_ref()) {
                continue;
            }
            let from = match (&values[0], &values[1]) {
                // Fill a blank; never blank a value.
                (Some(_), None) => Side::Crm,
                (None, Some(_)) => Side::Mailbox,
                _ => {
                    differing.push(key.clone());
                    match winner {
                        Some(side) => side,
                        None => continue,
                    }
                }
            };
            let [crm_value, mb_value] = values;
            let value = if from == Side::Crm { crm_value } else { mb_value };
            writes[idx(from.other())].insert(key, value);
        }
        if !differing.is_empty() {
            let resolution = match (policy.strategy, winner) {
                (ConflictStrategy::FieldMerge, _) => Resolution::Merged { fallback: policy.fallback },
                (_, Some(side)) => Resolution::Took(side),
                (_, None) => Resolution::Manual,
            };
            self.push(
                Some(&pair_id),
                Action::Conflict { fields: differing.clone(), resolution },
                format!(
                    "linked records differ in [{}]; blanks are filled, other differences follow the policy",
                    names(&differing)
                ),
            );
        }
        let state = PairState {
            pair_id: pair_id.clone(),
            object: self.input.object,
            crm: SideState {
                id: crm.id.clone(),
                version: crm.version.clone(),
                fields: self.seen_prints(crm).map_or_else(FieldPrints::new, FieldPrints::clone),
            },
            mailbox: SideState {
                id: mailbox.id.clone(),
                version: mailbox.version.clone(),
                fields: self.seen_prints(mailbox).map_or_else(FieldPrints::new, FieldPrints::clone),
            },
            synced_at: self.input.now,
            tombstone: None,
        };
        let mut seen = [Some(crm.clone()), Some(mailbox.clone())];
        let before = self.states.set_count();
        self.emit_pair_writes(&state, &mut seen, writes, "has");
        if self.states.set_count() == before {
            self.states.insert(pair_id, NextState::Put(state));
        }
    }
}

/// Records that new records are checked against for ambiguity, by match key: id and whether the
/// record has an email address.
pub(super) type Candidates = HashMap<(u8, String), Vec<(RecordId, bool)>>;

pub(super) fn has_email(seen: &Seen<'_>) -> bool {
    matches!(seen.record(), Some(Record::Contact(c)) if !c.emails.is_empty())
}
