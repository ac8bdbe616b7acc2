//! Narrow entry points into the JSON mapping for the property tests and the cargo-fuzz targets
//! (`crates/tandem-fuzz`). Hidden from the documentation and not part of the API: the mapping
//! itself stays crate-private.

use serde_json::{Map, Value};
use tandem_core::model::Record;
use tandem_core::state::{Change, ChangeKind, RecordId, Version};

use crate::SYNC_KEY_PROPERTY;
use crate::map::{contact, event, types};

/// A contact row of a delta page (or a `GET` by id) as the connector reads it.
pub fn contact_change(row: &Value) -> Change {
    crate::read::contact_change(row, SYNC_KEY_PROPERTY)
}

/// An event row (single instance, or series master with its exceptions) as the connector reads it.
pub fn event_change(row: &Value) -> Change {
    match serde_json::from_value::<types::Event>(row.clone()) {
        Ok(e) => crate::read::event_change(&e),
        Err(err) => Change {
            id: RecordId::new(String::new()),
            version: Version::default(),
            modified_at: None,
            sync_key: None,
            kind: ChangeKind::Invalid { reason: format!("unreadable event: {err}") },
        },
    }
}

/// The body the connector would send to create `record` (all-day events in `all_day_zone`).
pub fn create_body(record: &Record, all_day_zone: &str) -> Result<Map<String, Value>, String> {
    let key = "tdm00000000000000000000000000000000";
    match record {
        Record::Contact(c) => Ok(contact::create_body(c, key, SYNC_KEY_PROPERTY)),
        Record::Event(e) => {
            event::create_body(e, key, SYNC_KEY_PROPERTY, event::WriteOptions { all_day_zone, iana_names: false })
        }
    }
}

/// Reads a row and, when it maps, writes the record back as a create: the whole mapping both
/// ways. Returns the change read.
pub fn round_trip(row: &Value, events: bool) -> Change {
    let change = if events { event_change(row) } else { contact_change(row) };
    if let ChangeKind::Upserted { record } = &change.kind {
        // The result does not matter here, only that it is a value and not a panic.
        let _ = create_body(record, "UTC");
    }
    change
}
