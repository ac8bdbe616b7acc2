//! Canned-JSON tests of the mapping.

use serde_json::json;
use tandem_core::model::{AddressKind, EventTime, PhoneKind, Privacy, Record, ResponseStatus, ShowAs};
use tandem_core::state::ChangeKind;

use crate::map::{contact, event};
use crate::read::{contact_change, event_change};

fn zoned(s: &str, zone: &str) -> EventTime {
    EventTime::Zoned {
        local: chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap(),
        zone: zone.into(),
    }
}

#[test]
fn series_with_exceptions_folds_into_one_record() {
    let master = json!({
        "id": "abc", "etag": "\"e1\"", "status": "confirmed", "summary": "Standup", "iCalUID": "abc@google.com",
        "start": {"dateTime": "2026-01-05T09:00:00+01:00", "timeZone": "Europe/Paris"},
        "end": {"dateTime": "2026-01-05T09:15:00+01:00", "timeZone": "Europe/Paris"},
        "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10", "EXDATE;TZID=Europe/Paris:20260112T090000", "RDATE;VALUE=DATE:20260201"],
        "transparency": "transparent", "visibility": "private", "colorId": "5",
        "organizer": {"email": "ada@example.com", "self": true},
        "attendees": [{"email": "bob@example.com", "displayName": "Bob", "responseStatus": "accepted", "optional": true}],
        "extendedProperties": {"private": {"tandemKey": "k-1"}}
    });
    let moved = json!({
        "id": "abc_20260119T080000Z", "recurringEventId": "abc", "status": "confirmed", "summary": "Standup (moved)",
        "originalStartTime": {"dateTime": "2026-01-19T09:00:00+01:00", "timeZone": "Europe/Paris"},
        "start": {"dateTime": "2026-01-19T10:00:00+01:00", "timeZone": "Europe/Paris"},
        "end": {"dateTime": "2026-01-19T10:15:00+01:00", "timeZone": "Europe/Paris"}
    });
    let cancelled = json!({"id": "abc_20260126T080000Z", "recurringEventId": "abc", "status": "cancelled",
        "originalStartTime": {"dateTime": "2026-01-26T08:00:00Z"}});
    let change = event_change("abc", &master, &[moved, cancelled]);
    assert_eq!(change.sync_key.as_ref().map(|k| k.as_str()), Some("k-1"));
    let ChangeKind::Upserted { record: Record::Event(e) } = &change.kind else { panic!("{change:?}") };
    assert_eq!(e.timing.start, zoned("2026-01-05T09:00:00", "Europe/Paris"));
    assert_eq!((e.privacy, e.show_as), (Privacy::Private, ShowAs::Free));
    assert_eq!(e.attendees[0].response, ResponseStatus::Accepted);
    assert_eq!(e.organizer.as_ref().map(|o| o.email.as_str()), Some("ada@example.com"));
    let r = e.recurrence.as_ref().unwrap();
    assert_eq!(r.rules, vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=10".to_owned()]);
    assert_eq!(r.exdates, vec![zoned("2026-01-12T09:00:00", "Europe/Paris")]);
    assert_eq!(r.rdates, vec![EventTime::AllDay { date: chrono::NaiveDate::from_ymd_opt(2026, 2, 1).unwrap() }]);
    let o = &r.overrides[&zoned("2026-01-19T09:00:00", "Europe/Paris")];
    assert_eq!(o.subject.as_deref(), Some("Standup (moved)"));
    assert_eq!(o.timing.as_ref().map(|t| t.start.clone()), Some(zoned("2026-01-19T10:00:00", "Europe/Paris")));
    assert!(o.location.is_none());
    assert!(r.cancelled.contains(&zoned("2026-01-26T08:00:00", "UTC")));

    // Back to JSON and again: the master's fields survive.
    let mut out = event::event_to_json(e);
    out.insert("id".into(), json!("abc"));
    out.insert("iCalUID".into(), json!("abc@google.com"));
    out.insert("organizer".into(), json!({"email": "ada@example.com"}));
    let mut again = event::event_from_json(&serde_json::Value::Object(out)).unwrap();
    again.recurrence.as_mut().unwrap().overrides = r.overrides.clone();
    again.recurrence.as_mut().unwrap().cancelled = r.cancelled.clone();
    assert_eq!(&again, e);
    assert_eq!(
        event::instance_id("abc", &zoned("2026-01-19T09:00:00", "Europe/Paris")).as_deref(),
        Some("abc_20260119T080000Z")
    );
}

#[test]
fn all_day_and_cancelled_events() {
    let v = json!({"id": "d1", "etag": "\"1\"", "start": {"date": "2026-03-01"}, "end": {"date": "2026-03-02"}});
    let e = event::event_from_json(&v).unwrap();
    assert!(e.timing.start.is_all_day());
    assert_eq!(event::event_to_json(&e)["end"], json!({"date": "2026-03-02"}));
    let gone = event_change("d1", &json!({"id": "d1", "status": "cancelled"}), &[]);
    assert_eq!(gone.kind, ChangeKind::Deleted);
    let bad =
        event_change("d2", &json!({"id": "d2", "start": {"dateTime": "soon"}, "end": {"date": "2026-01-01"}}), &[]);
    assert!(matches!(bad.kind, ChangeKind::Invalid { .. }));
}

#[test]
fn person_round_trip() {
    let p = json!({
        "resourceName": "people/c1", "etag": "%EgU",
        "names": [{"givenName": "Grace", "middleName": "B.", "familyName": "Hopper"}],
        "emailAddresses": [{"value": "grace@navy.mil", "type": "work"}, {"value": "g@home.org", "type": "home"}],
        "phoneNumbers": [{"value": "+1 555", "type": "mobile"}, {"value": "+1 556", "type": "workFax"}, {"value": "+1 557", "type": "pager"}],
        "organizations": [{"name": "US Navy", "title": "Rear Admiral", "department": "Computing"}],
        "addresses": [{"type": "work", "streetAddress": "1 Main St", "city": "Arlington", "country": "US"}],
        "birthdays": [{"date": {"year": 1906, "month": 12, "day": 9}}],
        "biographies": [{"value": "COBOL", "contentType": "TEXT_PLAIN"}],
        "clientData": [{"key": "tandemKey", "value": "k-9"}],
        "memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/abc"}}]
    });
    assert!(contact::in_group(&p, "contactGroups/abc"));
    assert!(!contact::in_group(&p, "contactGroups/other"));
    let change = contact_change("people/c1", &p);
    assert_eq!(change.sync_key.as_ref().map(|k| k.as_str()), Some("k-9"));
    assert_eq!(change.version.as_str(), "%EgU");
    let ChangeKind::Upserted { record: Record::Contact(c) } = &change.kind else { panic!("{change:?}") };
    assert_eq!(c.family_name.as_deref(), Some("Hopper"));
    assert_eq!(c.emails[0].kind, AddressKind::Work);
    assert_eq!(
        c.phones.iter().map(|p| p.kind).collect::<Vec<_>>(),
        [PhoneKind::Mobile, PhoneKind::BusinessFax, PhoneKind::Other]
    );
    assert_eq!(c.department.as_deref(), Some("Computing"));
    assert_eq!(c.birthday, chrono::NaiveDate::from_ymd_opt(1906, 12, 9));
    assert_eq!(c.notes.as_deref(), Some("COBOL"));
    let back = contact::contact_from_json(&serde_json::Value::Object(contact::contact_to_json(c))).unwrap();
    assert_eq!(&back, c);
    assert!(contact::is_deleted(&json!({"metadata": {"deleted": true}})));
}

#[test]
fn capabilities_declare_what_google_lacks() {
    let caps = crate::google_capabilities();
    assert!(!caps.contacts.supports(&tandem_core::fields::FieldKey::AssistantName));
    assert!(!caps.events.supports(&tandem_core::fields::FieldKey::Categories));
    assert!(!caps.events.writable(&tandem_core::fields::FieldKey::Organizer));
}
