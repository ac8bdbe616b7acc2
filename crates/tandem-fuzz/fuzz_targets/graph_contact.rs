//! A Graph contact as JSON: read as the connector reads a delta row, validated as the planner
//! does, and written back as a create.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_core::state::ChangeKind;
use tandem_core::validate::validate;

fuzz_target!(|data: &[u8]| {
    let Ok(row) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let change = tandem_graph::fuzzing::round_trip(&row, false);
    if let ChangeKind::Upserted { record } = &change.kind {
        let _ = validate(record);
    }
});
