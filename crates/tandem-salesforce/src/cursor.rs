//! The connector's own cursor format: JSON, opaque to the engine.
//!
//! A **round** reads everything changed since the last one, phase by phase. Between rounds the
//! cursor holds `since` (where the next round starts: the previous round's start on the server
//! clock minus the overlap window) and `seen` (the id and version of every record reported with a
//! `SystemModstamp` at or after `since`, so the overlap does not report them twice). Within a
//! round it also holds the phase, the `nextRecordsUrl` of the next page, and the position reached
//! in the phase, so a round interrupted by the API budget resumes where it stopped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tandem_core::model::ObjectKind;
use tandem_core::state::Cursor;

/// The cursor format version.
const VERSION: u8 = 1;

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

/// Where a phase got to: the last `SystemModstamp` processed and the ids processed at exactly it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct Position {
    pub(crate) stamp: Option<DateTime<Utc>>,
    pub(crate) ids: Vec<String>,
}

impl Position {
    /// Whether a row was already processed in this phase.
    pub(crate) fn covers(&self, stamp: Option<DateTime<Utc>>, id: &str) -> bool {
        match (self.stamp, stamp) {
            (Some(at), Some(s)) => s < at || (s == at && self.ids.iter().any(|i| i == id)),
            _ => false,
        }
    }

    /// Records a processed row (rows arrive in `SystemModstamp` order).
    pub(crate) fn advance(&mut self, stamp: Option<DateTime<Utc>>, id: &str) {
        let Some(s) = stamp else { return };
        if self.stamp != Some(s) {
            self.stamp = Some(s);
            self.ids.clear();
        }
        self.ids.push(id.to_owned());
    }
}

/// The decoded cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) v: u8,
    pub(crate) object: ObjectKind,
    /// This round's lower bound (`None`: read everything).
    pub(crate) since: Option<DateTime<Utc>>,
    /// The next round's lower bound, once this round's start is known.
    #[serde(default)]
    pub(crate) next_since: Option<DateTime<Utc>>,
    /// (id, version) pairs already reported at or after `since`.
    #[serde(default)]
    pub(crate) seen: Vec<(String, String)>,
    /// (id, version) pairs reported this round at or after `next_since`.
    #[serde(default)]
    pub(crate) seen_next: Vec<(String, String)>,
    pub(crate) phase: Phase,
    /// The next page of the current phase, within one cycle.
    #[serde(default)]
    pub(crate) next_url: Option<String>,
    /// How far the current phase got.
    #[serde(default)]
    pub(crate) position: Position,
    /// The lower bound of the next look for renamed Accounts (set when the first round ends).
    #[serde(default)]
    pub(crate) accounts_since: Option<DateTime<Utc>>,
}

impl State {
    /// A full read from scratch.
    pub(crate) fn fresh(object: ObjectKind) -> State {
        State {
            v: VERSION,
            object,
            since: None,
            next_since: None,
            seen: Vec::new(),
            seen_next: Vec::new(),
            phase: Phase::Changed,
            next_url: None,
            position: Position::default(),
            accounts_since: None,
        }
    }

    /// Decodes a cursor; `None` when it is not one of ours (for this object and version).
    pub(crate) fn decode(cursor: &Cursor, object: ObjectKind) -> Option<State> {
        let state: State = serde_json::from_slice(&cursor.0).ok()?;
        (state.v == VERSION && state.object == object).then_some(state)
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
        self.seen_next.clear();
        self.next_url = None;
        self.position = Position::default();
    }

    /// Moves to the next phase (`Done` finishes the round).
    pub(crate) fn next_phase(&mut self, next: Phase) {
        self.phase = next;
        self.next_url = None;
        self.position = Position::default();
        if next == Phase::Done {
            // Only a round whose start is known can move the watermark.
            if self.next_since.is_some() {
                // Renamed Accounts are looked for from the end of the first round on.
                self.accounts_since = self.accounts_since.or(self.next_since);
                self.since = self.next_since.take();
                self.seen = std::mem::take(&mut self.seen_next);
            }
            self.seen_next.clear();
        }
    }

    /// Whether `(id, version)` was reported by the previous round.
    pub(crate) fn already_seen(&self, id: &str, version: &str) -> bool {
        self.seen.iter().any(|(i, v)| i == id && v == version)
    }

    /// Remembers a reported record for the next round's de-duplication, when it falls in the
    /// overlap.
    pub(crate) fn remember(&mut self, id: &str, version: &str, stamp: Option<DateTime<Utc>>) {
        if let (Some(next), Some(s)) = (self.next_since, stamp)
            && s >= next
            && !self.seen_next.iter().any(|(i, v)| i == id && v == version)
        {
            self.seen_next.push((id.to_owned(), version.to_owned()));
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
        assert_eq!(State::decode(&c, ObjectKind::Event), Some(s));
        assert_eq!(State::decode(&c, ObjectKind::Contact), None);
        assert_eq!(State::decode(&Cursor(b"seq:12".to_vec()), ObjectKind::Event), None);
    }

    #[test]
    fn positions_and_rounds() {
        let t = |s| Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, s).unwrap());
        let mut p = Position::default();
        p.advance(t(1), "a");
        p.advance(t(2), "b");
        p.advance(t(2), "c");
        assert!(p.covers(t(1), "z"));
        assert!(p.covers(t(2), "b"));
        assert!(!p.covers(t(2), "d"));
        assert!(!p.covers(t(3), "a"));

        let mut s = State::fresh(ObjectKind::Contact);
        s.next_since = t(10);
        s.remember("a", "v1", t(9));
        s.remember("b", "v2", t(11));
        s.next_phase(Phase::Done);
        assert_eq!(s.since, t(10));
        assert!(s.already_seen("b", "v2"));
        assert!(!s.already_seen("b", "v3"));
        assert!(!s.already_seen("a", "v1"));
        s.start_round();
        assert_eq!(s.phase, Phase::Changed);
    }
}
