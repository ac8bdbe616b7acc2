//! Resources to records and back, through `tandem-core`'s interchange: one resource is one
//! series (an `.ics` with the master and its `RECURRENCE-ID` overrides) or one contact (a
//! `.vcf`); the resource name of a create is derived from its idempotency key; updates keep
//! every property Tandem does not own (`merge_icalendar`/`merge_vcard` into the existing text).

use sha2::{Digest, Sha256};
use tandem_connector::ConnectorError;
use tandem_core::interchange::{
    merge_icalendar, merge_vcard, parse_icalendar, parse_vcard, write_icalendar, write_vcard,
};
use tandem_core::model::{ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, IdempotencyKey, RecordId, Version};

/// Prefix of the resource names (and generated UIDs) of records Tandem creates.
pub(crate) const NAME_PREFIX: &str = "tandem-";

fn extension(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Event => ".ics",
        ObjectKind::Contact => ".vcf",
    }
}

fn plain_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 100 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The UID of a record created with `key`: `tandem-<key>`, or `tandem-x<sha-256>` for keys
/// with other characters than ASCII letters, digits, `-` and `_`.
pub(crate) fn uid_for(key: &IdempotencyKey) -> String {
    if plain_key(key.as_str()) {
        format!("{NAME_PREFIX}{}", key.as_str())
    } else {
        let digest = Sha256::digest(key.as_str().as_bytes());
        let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
        format!("{NAME_PREFIX}x{hex}")
    }
}

/// The resource name (last path segment) of a record created with `key`.
pub(crate) fn resource_name(kind: ObjectKind, key: &IdempotencyKey) -> String {
    format!("{}{}", uid_for(key), extension(kind))
}

/// The key a resource was created with, when its name says (names from [`resource_name`]).
pub(crate) fn key_of(href: &str) -> Option<IdempotencyKey> {
    let name = href.rsplit('/').next()?;
    let stem = name.strip_suffix(".ics").or_else(|| name.strip_suffix(".vcf"))?;
    let key = stem.strip_prefix(NAME_PREFIX)?;
    (key.starts_with("tdm") && plain_key(key)).then(|| IdempotencyKey::from(key))
}

/// Reads a resource's text into a record: `Ok(None)` when it holds no event (a to-do, or a
/// cancelled series, which the model does not hold).
pub(crate) fn parse(kind: ObjectKind, text: &str) -> Result<Option<Record>, String> {
    match kind {
        ObjectKind::Event => {
            let mut events = parse_icalendar(text).map_err(|e| e.to_string())?;
            match events.len() {
                0 => Ok(None),
                1 => Ok(events.pop().map(Record::Event)),
                n => Err(format!("{n} events (UIDs) in one resource; CalDAV allows one")),
            }
        }
        ObjectKind::Contact => {
            let mut contacts = parse_vcard(text).map_err(|e| e.to_string())?;
            match contacts.len() {
                1 => Ok(contacts.pop().map(Record::Contact)),
                n => Err(format!("{n} vCards in one resource; CardDAV allows one")),
            }
        }
    }
}

/// The change a resource's text stands for: an upsert, a delete (no event in it), or, when it
/// cannot be read, an invalid record the engine quarantines with the reason.
pub(crate) fn change_of(kind: ObjectKind, href: &str, etag: &str, text: &str) -> Change {
    let mut change = match parse(kind, text) {
        Ok(Some(record)) => Change::upserted(href, etag, record),
        Ok(None) => Change::deleted(href),
        Err(reason) => Change {
            id: RecordId::new(href),
            version: Version::new(etag),
            modified_at: None,
            sync_key: None,
            kind: ChangeKind::Invalid { reason },
        },
    };
    change.sync_key = key_of(href);
    change
}

fn wrong_kind() -> ConnectorError {
    ConnectorError::Rejected { code: "wrong_kind".to_owned(), message: "record of the other object kind".to_owned() }
}

/// Inserts `UID:<uid>` after a vCard's `VERSION` line (`write_vcard` writes none; CardDAV
/// servers require one).
fn with_vcard_uid(text: &str, uid: &str) -> String {
    let line = format!("UID:{uid}\r\n");
    match text.find("VERSION:3.0\r\n") {
        Some(at) => {
            let cut = at + "VERSION:3.0\r\n".len();
            format!("{}{line}{}", &text[..cut], &text[cut..])
        }
        None => text.to_owned(),
    }
}

/// The body of a create with `key`. An event without a UID gets `tandem-<key>`, so a retried
/// create writes the same UID; a contact always gets that UID.
pub(crate) fn create_body(kind: ObjectKind, key: &IdempotencyKey, record: &Record) -> Result<String, ConnectorError> {
    match (kind, record) {
        (ObjectKind::Event, Record::Event(event)) => {
            let mut event = event.clone();
            if event.ical_uid.as_deref().is_none_or(str::is_empty) {
                event.ical_uid = Some(uid_for(key));
            }
            Ok(write_icalendar(&[event]))
        }
        (ObjectKind::Contact, Record::Contact(contact)) => {
            Ok(with_vcard_uid(&write_vcard(std::slice::from_ref(contact)), &uid_for(key)))
        }
        _ => Err(wrong_kind()),
    }
}

/// The body of an update: `record` written over `existing` with `tandem-core`'s mergers, which
/// keep every property, parameter and sub-component Tandem does not own (`UID`, `VALARM`,
/// `ATTACH`, `X-` properties, `PHOTO`…).
pub(crate) fn update_body(kind: ObjectKind, existing: &str, record: &Record) -> Result<String, ConnectorError> {
    let merged = match (kind, record) {
        (ObjectKind::Event, Record::Event(event)) => merge_icalendar(existing, event),
        (ObjectKind::Contact, Record::Contact(contact)) => merge_vcard(existing, contact),
        _ => return Err(wrong_kind()),
    };
    merged.map_err(|e| ConnectorError::Rejected {
        code: "unreadable".to_owned(),
        message: format!("the resource on the server cannot be merged: {e}"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tandem_core::model::Contact;

    #[test]
    fn names_come_from_keys_and_back() {
        let key = IdempotencyKey::from("tdm0123456789abcdef0123456789abcdef");
        let name = resource_name(ObjectKind::Event, &key);
        assert_eq!(name, "tandem-tdm0123456789abcdef0123456789abcdef.ics");
        assert_eq!(key_of(&format!("/cal/{name}")), Some(key));
        let odd = IdempotencyKey::from("a/b c");
        let name = resource_name(ObjectKind::Contact, &odd);
        assert!(name.starts_with("tandem-x") && name.ends_with(".vcf") && !name.contains('/'), "{name}");
        assert_eq!(key_of(&name), None);
        assert_eq!(key_of("/cal/other.ics"), None);
    }

    #[test]
    fn bad_bodies_become_invalid_changes() {
        let c = change_of(ObjectKind::Event, "/c/x.ics", "\"1\"", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n");
        assert!(matches!(c.kind, ChangeKind::Invalid { .. }), "{c:?}");
        let todo = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
        assert!(matches!(change_of(ObjectKind::Event, "/c/t.ics", "", todo).kind, ChangeKind::Deleted));
        let c = change_of(ObjectKind::Contact, "/b/x.vcf", "", "");
        assert!(matches!(c.kind, ChangeKind::Invalid { .. }));
    }

    #[test]
    fn contacts_get_and_keep_a_uid() {
        let key = IdempotencyKey::from("tdmabc");
        let contact = Contact { family_name: Some("Doe".into()), ..Contact::default() };
        let body = create_body(ObjectKind::Contact, &key, &Record::Contact(contact.clone())).unwrap();
        assert!(body.contains("\r\nUID:tandem-tdmabc\r\n"), "{body}");
        let existing = "BEGIN:VCARD\nVERSION:3.0\nUID:keep-me\nFN:x\nEND:VCARD\n";
        let updated = update_body(ObjectKind::Contact, existing, &Record::Contact(contact)).unwrap();
        assert!(updated.contains("UID:keep-me\r\n"), "{updated}");
    }
}
