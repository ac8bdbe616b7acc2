//! Busy-only placeholders: what a private event keeps when written as one, and the fields its
//! later updates may carry.

use tandem_core::fields::FieldKey;
use tandem_core::model::{Record, Recurrence};

/// The subject of a busy-only placeholder.
pub const BUSY_SUBJECT: &str = "Busy";

/// The fields a busy-only placeholder's later updates may carry.
pub(super) const BUSY_FIELDS: [FieldKey; 4] =
    [FieldKey::Timing, FieldKey::Recurrence, FieldKey::Privacy, FieldKey::ShowAs];

/// Makes an event a busy-only placeholder, in place. Never adds a field the record lacks.
pub(super) fn placeholder(record: &mut Record) {
    let Record::Event(e) = record else { return };
    if e.subject.is_some() {
        e.subject = Some(BUSY_SUBJECT.to_owned());
    }
    e.description = None;
    e.location = None;
    e.attendees.clear();
    e.organizer = None;
    e.categories.clear();
    e.crm_links.clear();
    e.custom.clear();
    if let Some(r) = &mut e.recurrence {
        scrub(r);
    }
}

/// Removes the texts of a recurrence's changed occurrences (their timing stays).
pub(super) fn scrub(r: &mut Recurrence) {
    for o in r.overrides.values_mut() {
        o.subject = None;
        o.location = None;
        o.description = None;
    }
}
