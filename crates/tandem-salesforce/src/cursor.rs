//! The connector's own cursor format: JSON, opaque to the engine, of a fixed small size.
//!
//! A **round** reads everything changed since the last one, phase by phase. The cursor holds no
//! per-record data: between rounds it holds `since` (where the next round starts: the previous
//! round's start on the server clock minus the overlap window); within a round it also holds the
//! next round's `since`, the phase, and the phase's **keyset position** `after`: the
//! `(SystemModstamp, Id)` of the last row read. Each page asks for the rows after that position
//! (`SystemModstamp > :t OR (SystemModstamp = :t AND Id > :id)`, ordered by `SystemModstamp, Id`,
//! with a `LIMIT`), so a round interrupted by the API budget, or by the end of a `pull` call,
//! resumes where it stopped, and no query locator is kept.
//!
//! The overlap re-reads the records changed in the window at the start of each round, so a record
//! committed late with an earlier `SystemModstamp` is not missed. A record re-read unchanged comes
//! back with the same version (`SystemModstamp`), which the planner suppresses as an echo
//! (`tandem_core::planner`, `is_echo`); nothing in the cursor remembers what was reported.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tandem_core::model::ObjectKind;
use tandem_core::state::Cursor;

/// The cursor format version (1 held the ids already seen; such a cursor reads in full once).
const VERSION: u8 = 2;

/// A phase of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Phase {
    /// Records the user owns (or, for contacts, can see) changed since `since`.
    Changed,
    /// Events the user is invited to (EventRelation), changed since `since`.
    Invited,
    /// The user's invitations added or removed since `since`.
    Relations,
    /// Contacts the user follows (changed since `since`, or followed since then).
    Followed,
    /// Contacts whose Account changed since `since` (a renamed Account is a new company).
    Accounts,
    /// Records deleted since `since` (`queryAll`, `IsDeleted = true`).
    Deleted,
    /// The round is over; the cursor waits for the next one.
    Done,
}

/// A position in a phase: the `(SystemModstamp, Id)` of the last row read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Key {
    pub(crate) t: DateTime<Utc>,
    pub(crate) id: String,
}

/// The decoded cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) v: u8,
    pub(crate) object: ObjectKind,
    /// This round's lower bound (`None`: read everything).
    pub(crate) since: Option<DateTime<Utc>>,
    /// The next round's lower bound, once this round's start is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) next_since: Option<DateTime<Utc>>,
    pub(crate) phase: Phase,
    /// The last row read in the current phase (`None`: the phase starts at `since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) after: Option<Key>,
    /// The lower bound of the next look for renamed Accounts (set when the first round ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) accounts_since: Option<DateTime<Utc>>,
    /// An organization feed's cursor (every user's records), not one user's: neither is
    /// accepted in place of the other.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) org: bool,
}

impl State {
    /// A full read from scratch.
    pub(crate) fn fresh(object: ObjectKind) -> State {
        State {
            v: VERSION,
            object,
            since: None,
            next_since: None,
            phase: Phase::Changed,
            after: None,
            accounts_since: None,
            org: false,
        }
    }

    /// Decodes a cursor; `None` when it is not one of ours (for this object and version).
    pub(crate) fn decode(cursor: &Cursor, object: ObjectKind, org: bool) -> Option<State> {
        let state: State = serde_json::from_slice(&cursor.0).ok()?;
        (state.v == VERSION && state.object == object && state.org == org).then_some(state)
    }

    /// Encodes the cursor.
    pub(crate) fn encode(&self) -> Cursor {
        // Serialising plain data cannot fail; an empty cursor would only cost a full read.
        Cursor(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Starts the next round from a finished one.
    pub(crate) fn start_round(&mut self) {
        self.phase = Phase::Changed;
        self.next_since = None;
        self.after = None;
    }

    /// Moves to the next phase (`Done` finishes the round).
    pub(crate) fn next_phase(&mut self, next: Phase) {
        self.phase = next;
        self.after = None;
        // Only a round whose start is known can move the watermark.
        if next == Phase::Done && self.next_since.is_some() {
            // Renamed Accounts are looked for from the end of the first round on.
            self.accounts_since = self.accounts_since.or(self.next_since);
            self.since = self.next_since.take();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn round_trip_and_rejects_foreign_cursors() {
        let s = State::fresh(ObjectKind::Event);
        let c = s.encode();
        assert_eq!(State::decode(&c, ObjectKind::Event, false), Some(s));
        assert_eq!(State::decode(&c, ObjectKind::Contact, false), None);
        assert_eq!(State::decode(&Cursor(b"seq:12".to_vec()), ObjectKind::Event, false), None);
        // A version-1 cursor (with its ids already seen) is not read: the engine reads in full.
        let v1 = br#"{"v":1,"object":"contact","since":null,"seen":[],"phase":"done"}"#;
        assert_eq!(State::decode(&Cursor(v1.to_vec()), ObjectKind::Contact, false), None);
    }

    #[test]
    fn rounds_move_the_watermark_and_keep_a_fixed_size() {
        let t = |s| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, s).unwrap();
        let mut s = State::fresh(ObjectKind::Contact);
        s.next_since = Some(t(10));
        s.after = Some(Key { t: t(9), id: "003000000000001AAA".to_owned() });
        let busy = s.encode().0.len();
        s.next_phase(Phase::Deleted);
        assert_eq!(s.after, None);
        s.next_phase(Phase::Done);
        assert_eq!(s.since, Some(t(10)));
        assert_eq!(s.accounts_since, Some(t(10)));
        s.start_round();
        assert_eq!(s.phase, Phase::Changed);
        // The largest form: every field set, an 18-character id, a millisecond stamp.
        s.next_since = Some(t(20));
        s.after = Some(Key { t: t(19) + chrono::Duration::milliseconds(123), id: "003000000000001AAA".to_owned() });
        let largest = s.encode().0.len();
        assert!(busy <= largest && largest < 256, "{largest} bytes");
    }
}
