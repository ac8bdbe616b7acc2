//! A Salesforce Contact row as JSON: read as the connector reads a query row, validated as the
//! planner does, and written back as a create.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_core::model::ObjectKind;
use tandem_core::validate::validate;

fuzz_target!(|data: &[u8]| {
    let Ok(row) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(record) = tandem_salesforce::fuzzing::round_trip(ObjectKind::Contact, &row, "UTC") {
        let _ = validate(&record);
    }
});
