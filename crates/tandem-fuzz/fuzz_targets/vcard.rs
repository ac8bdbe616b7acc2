//! vCard import, validation of each contact, then export and import again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_core::interchange::{parse_vcard, write_vcard};
use tandem_core::model::Record;
use tandem_core::validate::validate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(contacts) = parse_vcard(text) {
        for c in &contacts {
            let _ = validate(&Record::Contact(c.clone()));
        }
        let _ = parse_vcard(&write_vcard(&contacts));
    }
});
