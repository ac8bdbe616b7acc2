//! Narrow entry points into the row mapping for the property tests and the cargo-fuzz targets
//! (`crates/tandem-fuzz`). Hidden from the documentation and not part of the API: the mapping
//! itself stays crate-private.

use serde_json::{Map, Value};
use tandem_core::model::{ObjectKind, Record};

use crate::config::{AddressMapping, CustomField};
use crate::mapping::{self, Mapping};

fn mapping() -> Mapping {
    Mapping::new(
        true,
        vec![CustomField::text("Region__c", 80)],
        vec![CustomField::text("Topic__c", 80)],
        "Tandem_Sync_Id__c".to_owned(),
        AddressMapping::default(),
    )
}

/// Every field name the connector reads from Contact and Event rows (the key and the custom
/// fields of these entry points included), plus the relationship and invitee names: the keys
/// hostile rows are built from.
pub fn field_names() -> Vec<String> {
    let m = mapping();
    let mut names: Vec<String> = [ObjectKind::Contact, ObjectKind::Event]
        .into_iter()
        .flat_map(|object| m.select(object))
        .map(|ident| ident.as_str().to_owned())
        .flat_map(|name| name.split('.').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    names.extend(["Relation", "Status", "Email"].map(str::to_owned));
    names.sort();
    names.dedup();
    names
}

/// A Contact (`ObjectKind::Contact`) or Event row as the connector reads it: the common part
/// (id, stamp, key), then the record, events in the user's zone `zone` with the row itself also
/// read as an invitee (`EventRelation`) row.
pub fn read_row(object: ObjectKind, row: &Value, zone: &str) -> Result<Record, String> {
    let row = row.as_object().ok_or("a row is an object")?;
    let m = mapping();
    m.row(row)?;
    match object {
        ObjectKind::Contact => m.contact(row),
        ObjectKind::Event => m.event(row, zone, mapping::attendee(row).into_iter().collect()),
    }
}

/// The fields the connector would send to create `record`.
pub fn create_fields(record: &Record, zone: &str) -> Result<Map<String, Value>, String> {
    mapping().create_fields(record, zone)
}

/// Reads a row and, when it maps, writes the record back as a create: the mapping both ways.
pub fn round_trip(object: ObjectKind, row: &Value, zone: &str) -> Result<Record, String> {
    let record = read_row(object, row, zone)?;
    create_fields(&record, zone)?;
    Ok(record)
}
