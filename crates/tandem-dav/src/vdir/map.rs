//! Items and records: reading one item file into a [`Record`], writing a record into a new file or
//! into the text of an existing one (through `tandem-core`'s mergers, so that what Tandem does not
//! own survives), file names from idempotency keys, and versions from content.

use tandem_core::interchange::{merge_icalendar, merge_vcard, parse_icalendar, parse_vcard};
use tandem_core::model::{ObjectKind, Record};
use tandem_core::state::{IdempotencyKey, Version};

/// The version of an item: a 128-bit print of its bytes. Content, not metadata, so that a file
/// rewritten with the same bytes (by vdirsyncer, a backup restore, `touch`) keeps its version and
/// reads as an echo, and a precondition holds exactly while the content is what the engine saw.
pub(crate) fn version_of(bytes: &[u8]) -> Version {
    Version::from(format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes)))
}

/// Reads one item's text into its record: exactly one event (one `UID`: a master with its
/// overrides) or one contact.
///
/// # Errors
///
/// Why the text is not one item, for the quarantine.
pub(crate) fn parse_item(kind: ObjectKind, text: &str) -> Result<Record, String> {
    let mut records: Vec<Record> = match kind {
        ObjectKind::Event => parse_icalendar(text).map_err(|e| e.to_string())?.into_iter().map(Record::Event).collect(),
        ObjectKind::Contact => parse_vcard(text).map_err(|e| e.to_string())?.into_iter().map(Record::Contact).collect(),
    };
    match records.len() {
        1 => Ok(records.remove(0)),
        0 => Err(format!("the file holds no {kind}")),
        n => Err(format!("the file holds {n} {kind}s; a vdir item holds one")),
    }
}

/// The text of a new item created with `key`. An event or contact without a `UID` gets the key as
/// its `UID`, so that the item has a stable one (vdirsyncer and CalDAV servers need it).
pub(crate) fn render_new(record: &Record, key: &IdempotencyKey) -> Result<String, String> {
    match record {
        Record::Event(event) => {
            let mut event = event.clone();
            if event.ical_uid.as_deref().is_none_or(str::is_empty) {
                event.ical_uid = Some(key.0.to_string());
            }
            let empty = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
            merge_icalendar(empty, &event).map_err(|e| e.to_string())
        }
        Record::Contact(contact) => {
            let template = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{}\r\nEND:VCARD\r\n", key.0);
            merge_vcard(&template, contact).map_err(|e| e.to_string())
        }
    }
}

/// `record` written into the existing item text `existing`.
pub(crate) fn render_update(existing: &str, record: &Record) -> Result<String, String> {
    match record {
        Record::Event(event) => merge_icalendar(existing, event),
        Record::Contact(contact) => merge_vcard(existing, contact),
    }
    .map_err(|e| e.to_string())
}

/// The file stem for a create with `key`: the key itself when it is a safe file name (Tandem's
/// keys are `tdm` and 32 hex digits), otherwise a hex print of it.
pub(crate) fn stem_for_key(key: &IdempotencyKey) -> String {
    let k = &key.0;
    let safe =
        !k.is_empty() && k.len() <= 100 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if safe { k.to_string() } else { format!("key-{:032x}", xxhash_rust::xxh3::xxh3_128(k.as_bytes())) }
}

/// The idempotency key a file stem was created with, when it is one of Tandem's.
pub(crate) fn key_of_stem(stem: &str) -> Option<IdempotencyKey> {
    let hex = stem.strip_prefix("tdm")?;
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| IdempotencyKey::from(stem))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tandem_core::model::{Contact, ObjectKind};
    use tandem_core::state::{RecordId, Side};

    use super::*;

    #[test]
    fn keys_become_safe_stems_and_back() {
        let key = IdempotencyKey::derive(ObjectKind::Event, Side::Crm, &RecordId::new("a/b"));
        assert_eq!(stem_for_key(&key), key.as_str());
        assert_eq!(key_of_stem(&key.0), Some(key));
        let odd = IdempotencyKey("../../etc/passwd".into());
        assert!(stem_for_key(&odd).starts_with("key-"));
        assert_eq!(key_of_stem("my-event"), None);
    }

    #[test]
    fn new_items_get_the_key_as_uid_and_parse_back() {
        let key = IdempotencyKey("tdm0123456789abcdef0123456789abcdef".into());
        let contact = Record::Contact(Contact { family_name: Some("Hopper".into()), ..Contact::default() });
        let text = render_new(&contact, &key).unwrap();
        assert!(text.contains("UID:tdm0123456789abcdef0123456789abcdef\r\n"), "{text}");
        assert_eq!(parse_item(ObjectKind::Contact, &text).unwrap(), contact);
        assert!(parse_item(ObjectKind::Event, &text).is_err());
        let empty = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
        assert!(parse_item(ObjectKind::Event, empty).unwrap_err().contains("no event"));
    }
}
