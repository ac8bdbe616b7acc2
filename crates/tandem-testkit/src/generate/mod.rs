//! Deterministic, seedable generators of realistic canonical records.
//!
//! Same seed, same data, on every machine: tests can pin a seed and assert on specific records,
//! and a failure report's seed reproduces the data set. Record `i` depends only on the seed and
//! `i`, so `contacts(s, 10)` is a prefix of `contacts(s, 1000)`.
//!
//! The data is meant to hurt: names from many cultures (accents, Polish, Greek, Japanese, Chinese,
//! Vietnamese), notes with newlines, commas, semicolons, quotes and backslashes, every phone slot,
//! multi-line streets, events in seven IANA zones, a flight whose end is in another zone, all-day
//! events with exclusive ends, recurring series with COUNT and UNTIL, moved and cancelled
//! occurrences, rooms as resource attendees, private events. It stays within the providers'
//! documented field lengths, so a failure points at Tandem rather than at the data.
//!
//! Invariants callers may rely on:
//! - every contact has a family name and a unique, lowercase ASCII primary (work) email;
//! - every event has a subject, a unique `ical_uid` ending in `@tandem.test`, valid zones, an end
//!   not before its start, and a start within ±60 days of the anchor;
//! - exceptions of a series are keyed by real occurrences of its rule.

mod contacts;
mod events;
mod pools;

use chrono::NaiveDate;
use tandem_core::model::{Contact, Event};

use crate::rng::Rng;

/// How far (in days) generated events start from the anchor, at most.
pub const EVENT_WINDOW_DAYS: i64 = events::WINDOW_DAYS;

/// `n` realistic contacts for `seed`.
///
/// Primary emails look like `zoe.martin.17@fabrikam.example.com`: lowercase ASCII, derived from
/// the name and made unique by the index (sync matches contacts by primary email).
pub fn contacts(seed: u64, n: usize) -> Vec<Contact> {
    contacts::contacts(seed, n)
}

/// `n` realistic events for `seed`, starting within ±60 days of `anchor`.
///
/// The mix: single meetings in several zones with 1–8 attendees, all-day and multi-day events,
/// private personal appointments (no attendees), flights across zones, and weekly, daily and
/// monthly series ended by COUNT or UNTIL, some with a moved and a cancelled occurrence.
pub fn events(seed: u64, n: usize, anchor: NaiveDate) -> Vec<Event> {
    events::events(seed, n, anchor)
}

/// Changes one or two fields of `c` the way a user would (new title, phone, office, note…).
///
/// Deterministic in `rng_seed` and the contact. Always changes something; never changes the
/// primary email or the family name, so the edited contact still matches its original.
pub fn edit_contact(rng_seed: u64, c: &mut Contact) {
    contacts::edit_contact(rng_seed, c);
}

/// Changes one or two fields of `e` the way a user would (moved, renamed, an attendee answered…).
///
/// Deterministic in `rng_seed` and the event. Always changes something; never changes the
/// `ical_uid`, and never moves the start of a series (its exceptions are keyed by it).
pub fn edit_event(rng_seed: u64, e: &mut Event) {
    events::edit_event(rng_seed, e);
}

/// An 18-character Salesforce record id with the given 3-character key prefix (`003` Contact,
/// `001` Account, `006` Opportunity, `00U` Event), including the checksum suffix that makes it
/// case-insensitively unique.
pub fn salesforce_id(key_prefix: &str, rng: &mut Rng) -> String {
    events::salesforce_id(key_prefix, rng)
}

/// FNV-1a: a stable hash for mixing a record's identity into a seed.
fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3))
}

#[cfg(test)]
mod tests;
