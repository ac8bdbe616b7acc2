//! Records as each side holds them: canonical field names, field prints, values fitted to a
//! target's limits, and the projection of a record onto a target.

use super::{Held, Planner, Seen, idx};
use crate::fields::{FieldKey, FieldValue, fingerprint, timing_print_at};
use crate::model::Record;
use crate::state::{FieldPrints, Side, SideState};
use crate::validate::Instants;

impl<'a> Planner<'a> {
    /// The record with custom fields under canonical names, normalised: the record itself when
    /// it is that already.
    pub(super) fn canonical(&self, side: Side, record: &'a Record) -> Held<'a> {
        if self.input.config.fields.custom.is_empty() && record.custom().is_empty() && record.is_normalized() {
            return Held::Borrowed(record);
        }
        let mut record = self.to_canonical(side, record);
        record.normalize();
        Held::Owned(Box::new(record))
    }

    pub(super) fn to_canonical(&self, side: Side, record: &Record) -> Record {
        let mut record = record.clone();
        let mapping = &self.input.config.fields.custom;
        let custom = std::mem::take(record.custom_mut());
        for m in mapping {
            if let Some(v) = custom.get(m.on(side)) {
                record.custom_mut().insert(m.name.clone(), v.clone());
            }
        }
        record
    }

    pub(super) fn target_name(&self, side: Side, key: &FieldKey) -> FieldKey {
        self.input.config.fields.side_name(side, key)
    }

    pub(super) fn to_side_names(&self, side: Side, record: &mut Record) {
        let custom = std::mem::take(record.custom_mut());
        for (name, value) in custom {
            if let FieldKey::Custom(target) = self.target_name(side, &FieldKey::Custom(name)) {
                record.custom_mut().insert(target, value);
            }
        }
    }

    /// The synced fields `side` can store. [`FieldKey::Attendees`] stands for the attendees,
    /// which are compared one by one ([`Self::attendees_on`]).
    pub(super) fn fields_on(&self, side: Side) -> impl Iterator<Item = &FieldKey> {
        let caps = self.caps(side);
        self.synced.iter().filter(move |k| **k != FieldKey::Attendees && caps.supports(k))
    }

    /// Whether a field of a record is synced: configured, or one attendee of synced attendees.
    pub(super) fn is_synced(&self, key: &FieldKey) -> bool {
        self.synced.contains(key.family())
    }

    /// Whether `side` compares and holds attendees: decided once in [`Planner::new`] (it scans
    /// the synced fields, and every changed record asks twice).
    pub(super) fn attendees_on(&self, side: Side) -> bool {
        self.attendees[idx(side)]
    }

    /// [`Self::attendees_on`] worked out from the configuration.
    pub(super) fn holds_attendees(&self, side: Side) -> bool {
        self.synced.contains(&FieldKey::Attendees) && self.caps(side).supports(&FieldKey::Attendees)
    }

    /// The prints of `record` as `side` holds it: each field printed on that side, and each
    /// attendee where the side holds attendees.
    pub(super) fn prints(&self, side: Side, record: &Record) -> FieldPrints {
        self.prints_from(side, record, self.printed[idx(side)].iter().map(|k| (k, record.print(k))))
    }

    /// [`Self::prints`] of a record validated with these [`Instants`] (an event's start and end),
    /// which its timing print takes instead of converting the times again.
    pub(super) fn prints_at(&self, side: Side, record: &Record, instants: Option<Instants>) -> FieldPrints {
        // Two loops rather than one that asks at every field: contacts, which have no instants,
        // keep the plain one.
        match (instants, record) {
            (Some(instants), Record::Event(e)) => {
                let print = |k: &FieldKey| match k {
                    FieldKey::Timing => timing_print_at(&e.timing, instants),
                    _ => record.print(k),
                };
                self.prints_from(side, record, self.printed[idx(side)].iter().map(|k| (k, print(k))))
            }
            _ => self.prints(side, record),
        }
    }

    /// The prints of `record`: its `standard` fields' (in field order) and its attendees'.
    fn prints_from<'k>(
        &self,
        side: Side,
        record: &Record,
        standard: impl ExactSizeIterator<Item = (&'k FieldKey, u64)>,
    ) -> FieldPrints {
        // Absent attendees need no entry: a missing print reads as absent.
        let mut attendees = if self.attendees_on(side) { record.attendee_prints() } else { Vec::new() };
        if attendees.is_empty() {
            return FieldPrints::from_sorted(standard);
        }
        // Built in one go rather than inserted one by one, which re-allocated the prints for
        // every attendee: the attendees (distinct keys) sorted, then merged into the standard
        // fields, which come in field order.
        attendees.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        FieldPrints::from_sorted_with(standard, attendees)
    }

    /// The prints of a seen record (`None` for a delete), computed on first use.
    pub(super) fn seen_prints<'s>(&self, seen: &'s Seen<'a>) -> Option<&'s FieldPrints> {
        let record = seen.record()?;
        Some(seen.prints.get_or_init(|| self.prints_at(seen.side, record, seen.instants)))
    }

    /// The fields of `record` (seen on `side`, with its prints `current`) whose prints differ from
    /// `state`'s.
    pub(super) fn changed_fields(
        &self,
        side: Side,
        record: &Record,
        current: &FieldPrints,
        state: &SideState,
    ) -> Vec<FieldKey> {
        // A record and its pair holding the same fields (nearly always: a record's prints are
        // made from the printed fields and its attendees, and the pair's were last time) are
        // compared print by print in place, for contacts and events alike.
        if self.in_field_order[idx(side)] && current.same_fields(&state.fields) {
            let changed = Self::changed_in_place(current, &state.fields);
            // Every test that plans holds the shortcut to the comparison by key.
            debug_assert_eq!(changed, self.changed_fields_by_key(side, record, current, state));
            return changed;
        }
        self.changed_fields_by_key(side, record, current, state)
    }

    /// [`Self::changed_fields`] for prints that hold the same fields: the fields whose prints
    /// differ, those without a name first (in field order), then the attendees, as the comparison
    /// by key lists them.
    fn changed_in_place(current: &FieldPrints, before: &FieldPrints) -> Vec<FieldKey> {
        let mut changed = Vec::new();
        let mut attendees = Vec::new();
        // The prints alone are compared (two slices of words); a field's key is looked up only
        // where they differ, for the one or two fields of a typical change.
        for (at, (now, was)) in current.print_values().iter().zip(before.print_values()).enumerate() {
            if now != was {
                let key = current.key_at(at);
                match key {
                    FieldKey::Attendee(_) => attendees.push(key.clone()),
                    _ => changed.push(key.clone()),
                }
            }
        }
        changed.append(&mut attendees);
        changed
    }

    /// [`Self::changed_fields`], each field looked up by key.
    fn changed_fields_by_key(
        &self,
        side: Side,
        record: &Record,
        current: &FieldPrints,
        state: &SideState,
    ) -> Vec<FieldKey> {
        // `current` holds a print of every field compared here ([`Self::prints`]).
        let print = |k: &FieldKey| current.get(k).copied().unwrap_or_else(|| record.print(k));
        let changed = |k: &FieldKey| {
            let before = state.fields.get(k).copied().unwrap_or_else(|| fingerprint(None));
            print(k) != before
        };
        let mut out: Vec<FieldKey> = if self.in_field_order[idx(side)] {
            Self::changed_by_walk(&self.printed[idx(side)], record, current, &state.fields)
        } else {
            self.fields_on(side).filter(|k| changed(k)).cloned().collect()
        };
        if self.attendees_on(side) {
            // The record's attendees, as `current` holds them (`Self::prints` printed each one),
            // rather than each address lower-cased into a new key again.
            let now: Vec<&FieldKey> =
                current.named_keys().iter().filter(|k| matches!(k, FieldKey::Attendee(_))).collect();
            let known: Vec<&FieldKey> = state.fields.keys().filter(|k| matches!(k, FieldKey::Attendee(_))).collect();
            match state.fields.get(&FieldKey::Attendees) {
                // State from before attendees synced one by one holds one print of the whole
                // list: an unchanged list is unchanged attendees; a changed one is taken as every
                // attendee added (none is removed: which one went cannot be known).
                Some(whole) if known.is_empty() => {
                    if legacy_attendees_print(record) != *whole {
                        out.extend(now.into_iter().cloned());
                    }
                }
                _ => {
                    out.extend(now.iter().filter(|k| changed(k)).map(|k| (*k).clone()));
                    out.extend(known.into_iter().filter(|k| !now.contains(k)).cloned());
                }
            }
        }
        out
    }

    /// The printed fields of `current` whose prints differ from `before`'s, when the side's fields
    /// come in field order ([`Self::in_field_order`]): one walk through the three lists rather than
    /// two binary searches per field.
    fn changed_by_walk(
        printed: &[FieldKey],
        record: &Record,
        current: &FieldPrints,
        before: &FieldPrints,
    ) -> Vec<FieldKey> {
        let (mut now, mut was) = (current.walk(), before.walk());
        let mut out = Vec::new();
        for key in printed {
            let print = now.seek(key).unwrap_or_else(|| record.print(key));
            let before = was.seek(key).unwrap_or_else(|| fingerprint(None));
            if print != before {
                out.push(key.clone());
            }
        }
        out
    }

    /// Shapes a value to what `target` can hold. Returns the value and whether it was shortened.
    pub(super) fn fit(&self, target: Side, key: &FieldKey, value: Option<FieldValue>) -> (Option<FieldValue>, bool) {
        let fitted = self.fit_value(target, key, value);
        (fitted.value, fitted.cut)
    }

    /// [`Self::fit`], also saying whether the value came out other than it went in
    /// ([`Fitted::altered`]).
    pub(super) fn fit_value(&self, target: Side, key: &FieldKey, value: Option<FieldValue>) -> Fitted {
        let Some(limit) = self.limit(target, key) else { return Fitted { value, cut: false, blanked: false } };
        let mut blanked = false;
        let mut cut = false;
        let mut dropped_emails = false;
        let mut shorten = |s: &mut String| {
            if let Some(max) = limit.max_len
                && s.chars().count() > max
            {
                // Trailing blanks of a cut value would be trimmed by many providers and then read
                // back as an edit; drop them here.
                *s = s.chars().take(max).collect::<String>().trim_end().to_owned();
                cut = true;
            }
        };
        let value = value.and_then(|v| match v {
            FieldValue::Text(mut t) => {
                shorten(&mut t);
                // Cut down to blanks, it is absent (as normalising the record will read it back).
                blanked = t.trim().is_empty();
                (!blanked).then_some(FieldValue::Text(t))
            }
            FieldValue::List(mut l) => {
                l.iter_mut().for_each(&mut shorten);
                Some(FieldValue::List(l))
            }
            FieldValue::Emails(mut l) => {
                // A shortened address is a wrong address: leave out the ones that do not fit.
                if let Some(max) = limit.max_len {
                    let before = l.len();
                    l.retain(|e| e.address.chars().count() <= max);
                    dropped_emails = l.len() != before;
                }
                (!l.is_empty()).then_some(FieldValue::Emails(l))
            }
            other => Some(other),
        });
        cut |= dropped_emails;
        let Some(max_items) = limit.max_items else { return Fitted { value, cut, blanked } };
        let value = value.map(|v| {
            let mut trim = |len: usize| {
                if len > max_items {
                    cut = true;
                }
            };
            match v {
                FieldValue::List(mut l) => {
                    trim(l.len());
                    l.truncate(max_items);
                    FieldValue::List(l)
                }
                FieldValue::Emails(mut l) => {
                    trim(l.len());
                    l.truncate(max_items);
                    FieldValue::Emails(l)
                }
                FieldValue::Addresses(mut l) => {
                    trim(l.len());
                    l.truncate(max_items);
                    FieldValue::Addresses(l)
                }
                FieldValue::Attendees(mut l) => {
                    trim(l.len());
                    l.truncate(max_items);
                    FieldValue::Attendees(l)
                }
                FieldValue::CrmLinks(mut l) => {
                    trim(l.len());
                    l.truncate(max_items);
                    FieldValue::CrmLinks(l)
                }
                // A series' items are its changed occurrences: a side that keeps fewer (Salesforce
                // keeps none when it writes a series) holds the series without the rest, and its
                // fingerprint must say so, or reading it back looks like an edit.
                FieldValue::Recurrence(mut r) => {
                    trim(r.overrides.len());
                    let keep: Vec<_> = r.overrides.keys().take(max_items).cloned().collect();
                    r.overrides.retain(|k, _| keep.contains(k));
                    FieldValue::Recurrence(r)
                }
                other => other,
            }
        });
        Fitted { value, cut, blanked }
    }

    /// Why `target` would reject an event with this record's timing, if it would.
    pub(super) fn duration_problem(&self, target: Side, record: &Record) -> Option<String> {
        let Record::Event(e) = record else { return None };
        let max = self.caps(target).max_event_minutes?;
        let (start, end) = (e.timing.start.instant()?, e.timing.end.instant()?);
        let minutes = (end - start).num_minutes();
        (minutes > max).then(|| format!("the event lasts {minutes} minutes; {target} accepts at most {max}"))
    }

    /// The record to create on `target`: only synced fields it supports, shortened to fit.
    /// Custom fields keep canonical names here.
    pub(super) fn project(&self, target: Side, source: &Record) -> (Record, Vec<FieldKey>) {
        let mut out = source.clone();
        let mut truncated = Vec::new();
        out.custom_mut().clear();
        for key in source.field_keys() {
            let keep = self.is_synced(&key) && self.caps(target).writable(&key);
            if keep {
                let (value, cut) = self.fit(target, &key, source.get(&key));
                if cut {
                    truncated.push(key.clone());
                }
                // The value came from a record of the same kind, so the write cannot fail.
                let _ = out.set(&key, value);
            } else if !matches!(key, FieldKey::Custom(_)) {
                // Mandatory fields (event timing) cannot be cleared and stay as they are.
                let _ = out.set(&key, None);
            }
        }
        (out, truncated)
    }

    pub(super) fn missing_required(&self, target: Side, record: &Record) -> Vec<FieldKey> {
        self.synced
            .iter()
            .filter(|k| self.limit(target, k).is_some_and(|l| l.required) && record.get(k).is_none())
            .cloned()
            .collect()
    }

    /// The limit of a synced field on `side`. Sides declare custom fields under their own names.
    pub(super) fn limit(&self, side: Side, key: &FieldKey) -> Option<crate::capabilities::FieldLimit> {
        self.caps(side).limit(&self.target_name(side, key))
    }
}

/// A value shaped to a target ([`Planner::fit_value`]).
pub(super) struct Fitted {
    pub(super) value: Option<FieldValue>,
    /// Shortened, or items left out: reported as truncated.
    pub(super) cut: bool,
    /// Text cut down to blanks (or blank already), so absent.
    pub(super) blanked: bool,
}

impl Fitted {
    /// Whether the value came out other than it went in.
    pub(super) fn altered(&self) -> bool {
        self.cut || self.blanked
    }
}

/// The single print of every attendee that sync state kept before attendees synced one by one.
pub(super) fn legacy_attendees_print(record: &Record) -> u64 {
    fingerprint(record.get(&FieldKey::Attendees).as_ref())
}
