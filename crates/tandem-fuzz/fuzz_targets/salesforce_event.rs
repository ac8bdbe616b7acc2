//! A Salesforce Event row as JSON, read in the zones furthest from UTC either way: read as the
//! connector reads a query row, validated as the planner does, and written back as a create.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_core::model::ObjectKind;
use tandem_core::validate::validate;

fuzz_target!(|data: &[u8]| {
    let Ok(row) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    for zone in ["Pacific/Kiritimati", "Etc/GMT+12"] {
        if let Ok(record) = tandem_salesforce::fuzzing::round_trip(ObjectKind::Event, &row, zone) {
            let _ = validate(&record);
        }
    }
});
