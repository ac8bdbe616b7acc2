//! One row read as a change: a record, a delete, or an invalid record the mapping could not read.

use std::collections::HashMap;

use serde_json::{Map, Value};
use tandem_core::model::{Attendee, ObjectKind};
use tandem_core::state::{Change, ChangeKind, IdempotencyKey, RecordId, Version};

use crate::SalesforceConnector;
use crate::mapping;

impl SalesforceConnector {
    /// One row as a change (`None` for a row without an id).
    pub(crate) fn row_change(
        &self,
        object: ObjectKind,
        row: &Map<String, Value>,
        deleted: bool,
        zone: &str,
        attendees: &HashMap<String, Vec<Attendee>>,
    ) -> Option<Change> {
        let meta = match self.mapping.row(row) {
            Ok(m) => m,
            Err(reason) => {
                let id = mapping::text(row, "Id").ok().flatten()?;
                return Some(invalid(id, reason));
            }
        };
        if deleted {
            let mut change = Change::deleted(meta.id);
            change.version = Version::new(meta.version);
            change.modified_at = meta.stamp;
            return Some(change);
        }
        let record = match object {
            ObjectKind::Contact => self.mapping.contact(row),
            ObjectKind::Event => {
                let invitees = attendees.get(&meta.id).cloned().unwrap_or_default();
                self.mapping.event(row, zone, invitees)
            }
        };
        Some(Change {
            id: RecordId::new(meta.id),
            version: Version::new(meta.version),
            modified_at: meta.stamp,
            sync_key: meta.sync_key.map(IdempotencyKey::from),
            kind: match record {
                Ok(record) => ChangeKind::Upserted { record },
                Err(reason) => ChangeKind::Invalid { reason },
            },
        })
    }
}

fn invalid(id: String, reason: String) -> Change {
    Change {
        id: RecordId::new(id),
        version: Version::default(),
        modified_at: None,
        sync_key: None,
        kind: ChangeKind::Invalid { reason },
    }
}
