//! The connector's cursors: JSON it alone reads. They hold delta links, which carry tokens, so
//! they are never logged (`Cursor`'s `Debug` prints only its size).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tandem_connector::ConnectorError;
use tandem_core::state::Cursor;

const VERSION: u8 = 1;

/// Where a contact feed continues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ContactCursor {
    pub(crate) v: u8,
    /// The synced folder's id.
    pub(crate) folder: String,
    /// The next link (`@odata.nextLink` within a round, `@odata.deltaLink` between rounds).
    pub(crate) link: String,
}

/// Where a calendar feed continues, and what it knows of the series in its window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EventCursor {
    pub(crate) v: u8,
    pub(crate) link: String,
    /// True when `link` is a delta link (a new round starts with it).
    pub(crate) round_start: bool,
    /// The window the delta query was opened with.
    pub(crate) window_start: DateTime<Utc>,
    pub(crate) window_end: DateTime<Utc>,
    /// Whether the round in progress moves the window when it ends.
    #[serde(default)]
    pub(crate) roll: bool,
    /// Series masters seen in the window.
    pub(crate) masters: Vec<String>,
    /// Occurrence and exception ids (hashed) → index in `masters`: how a removed occurrence
    /// leads back to its series.
    pub(crate) occurrences: BTreeMap<u64, u32>,
    /// Masters already read in this round.
    #[serde(default)]
    pub(crate) fetched: Vec<String>,
}

/// A stable 64-bit hash of an item id.
pub(crate) fn id_hash(id: &str) -> u64 {
    let digest = sha2::Sha256::digest(id.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

impl EventCursor {
    pub(crate) fn new(link: String, window_start: DateTime<Utc>, window_end: DateTime<Utc>) -> Self {
        EventCursor {
            v: VERSION,
            link,
            round_start: false,
            window_start,
            window_end,
            roll: false,
            masters: Vec::new(),
            occurrences: BTreeMap::new(),
            fetched: Vec::new(),
        }
    }

    /// Records that occurrence `id` belongs to series `master`.
    pub(crate) fn remember(&mut self, id: &str, master: &str) {
        let index = match self.masters.iter().position(|m| m == master) {
            Some(i) => i,
            None => {
                self.masters.push(master.to_owned());
                self.masters.len() - 1
            }
        };
        self.occurrences.insert(id_hash(id), u32::try_from(index).unwrap_or(u32::MAX));
    }

    /// The series an occurrence id belongs to, if known.
    pub(crate) fn master_of(&self, id: &str) -> Option<&str> {
        let index = *self.occurrences.get(&id_hash(id))?;
        self.masters.get(usize::try_from(index).ok()?).map(String::as_str)
    }

    /// Forgets a deleted series and its occurrences.
    pub(crate) fn forget(&mut self, master: &str) {
        if let Some(index) = self.masters.iter().position(|m| m == master) {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            self.occurrences.retain(|_, m| *m != index);
            // Keep the positions of the others: leave a hole.
            if let Some(slot) = self.masters.get_mut(usize::try_from(index).unwrap_or(usize::MAX)) {
                slot.clear();
            }
        }
    }
}

fn invalid() -> ConnectorError {
    ConnectorError::CursorExpired
}

/// Encodes a cursor.
pub(crate) fn encode<T: Serialize>(c: &T) -> Cursor {
    Cursor(serde_json::to_vec(c).unwrap_or_default())
}

/// Decodes a contact cursor; an unreadable one asks for a full resync.
pub(crate) fn decode_contacts(c: &Cursor) -> Result<ContactCursor, ConnectorError> {
    let cursor: ContactCursor = serde_json::from_slice(&c.0).map_err(|_| invalid())?;
    if cursor.v != VERSION { Err(invalid()) } else { Ok(cursor) }
}

/// Decodes an event cursor; an unreadable one asks for a full resync.
pub(crate) fn decode_events(c: &Cursor) -> Result<EventCursor, ConnectorError> {
    let cursor: EventCursor = serde_json::from_slice(&c.0).map_err(|_| invalid())?;
    if cursor.v != VERSION { Err(invalid()) } else { Ok(cursor) }
}

/// A new contact cursor.
pub(crate) fn contacts(folder: String, link: String) -> ContactCursor {
    ContactCursor { v: VERSION, folder, link }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn remembers_occurrences() {
        let mut c = EventCursor::new("l".into(), Utc::now(), Utc::now());
        c.remember("o1", "m1");
        c.remember("o2", "m1");
        c.remember("o3", "m2");
        assert_eq!(c.master_of("o2"), Some("m1"));
        assert_eq!(c.master_of("o3"), Some("m2"));
        assert_eq!(c.masters.len(), 2);
        let back = decode_events(&encode(&c)).unwrap();
        assert_eq!(back.master_of("o1"), Some("m1"));
        c.forget("m1");
        assert_eq!(c.master_of("o1"), None);
        assert_eq!(c.master_of("o3"), Some("m2"));
        assert!(matches!(decode_events(&Cursor(b"garbage".to_vec())), Err(ConnectorError::CursorExpired)));
    }
}
