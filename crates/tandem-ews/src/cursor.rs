//! The opaque cursor: the folder synced and EWS's `SyncState`, as this crate's JSON.

use serde::{Deserialize, Serialize};
use tandem_connector::ConnectorError;
use tandem_core::state::Cursor;

/// What a cursor holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SyncCursor {
    /// Format version.
    pub(crate) v: u8,
    /// The folder id (contacts) or distinguished name (`calendar`) the state belongs to.
    pub(crate) folder: String,
    /// The `SyncState` EWS returned.
    pub(crate) state: String,
}

impl SyncCursor {
    pub(crate) fn new(folder: &str, state: &str) -> Self {
        SyncCursor { v: 1, folder: folder.to_owned(), state: state.to_owned() }
    }

    pub(crate) fn encode(&self) -> Cursor {
        Cursor(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a cursor of this crate; one of another folder, version or format has expired.
    pub(crate) fn decode(cursor: &Cursor, folder: &str) -> Result<Self, ConnectorError> {
        let c: SyncCursor = serde_json::from_slice(&cursor.0).map_err(|_| ConnectorError::CursorExpired)?;
        if c.v != 1 || c.folder != folder {
            return Err(ConnectorError::CursorExpired);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_expire() {
        let c = SyncCursor::new("AAMk=", "H4sIAAAA");
        assert_eq!(SyncCursor::decode(&c.encode(), "AAMk=").unwrap(), c);
        assert_eq!(SyncCursor::decode(&c.encode(), "other"), Err(ConnectorError::CursorExpired));
        assert_eq!(SyncCursor::decode(&Cursor(b"garbage".to_vec()), "AAMk="), Err(ConnectorError::CursorExpired));
    }
}
