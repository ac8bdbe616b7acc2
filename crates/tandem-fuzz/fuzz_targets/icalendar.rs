//! iCalendar import, then what the planner does with each event (validation, which parses
//! RRULEs), then export and import again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_core::interchange::{parse_icalendar, write_icalendar};
use tandem_core::model::Record;
use tandem_core::validate::validate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(events) = parse_icalendar(text) {
        for e in &events {
            let _ = validate(&Record::Event(e.clone()));
        }
        let _ = parse_icalendar(&write_icalendar(&events));
    }
});
