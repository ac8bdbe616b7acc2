//! Unit tests of the calendar item mapping: round trips through the create XML, attendee
//! patches, refused series and instance indexes.

use super::*;
use crate::xml;
use crate::xml::XmlWriter;
use chrono::NaiveDate;
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{
    Attendee, AttendeeRole, Event, EventTime, EventTiming, Privacy, Recurrence, ResponseStatus, ShowAs,
};
use tandem_core::plan::FieldChange;

fn paris(y: i32, m: u32, d: u32, h: u32) -> EventTime {
    EventTime::Zoned {
        local: NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, 0, 0).unwrap(),
        zone: "Europe/Paris".into(),
    }
}

fn meeting() -> Event {
    Event {
        subject: Some("Review <Q1> & plan".into()),
        description: Some("Agenda\n1. numbers".into()),
        location: Some("Room 1".into()),
        timing: EventTiming { start: paris(2026, 1, 5, 9), end: paris(2026, 1, 5, 10) },
        recurrence: Some(Recurrence { rules: vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=10".into()], ..Recurrence::default() }),
        organizer: None,
        attendees: vec![
            Attendee {
                email: "bob@example.com".into(),
                name: Some("Bob".into()),
                role: AttendeeRole::Required,
                response: ResponseStatus::NeedsAction,
            },
            Attendee {
                email: "eve@example.com".into(),
                name: None,
                role: AttendeeRole::Optional,
                response: ResponseStatus::NeedsAction,
            },
        ],
        privacy: Privacy::Private,
        show_as: ShowAs::OutOfOffice,
        categories: vec!["CRM".into()],
        crm_links: Vec::new(),
        ical_uid: Some("uid-1".into()),
        custom: Default::default(),
    }
}

#[test]
fn events_round_trip_through_create_xml() {
    let mut w = XmlWriter::new();
    write_create(&mut w, &meeting(), |_| {}).unwrap();
    let bytes = w.into_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("<t:Start>2026-01-05T08:00:00Z</t:Start>"), "{text}");
    assert!(text.contains("<t:StartTimeZone Id=\"Romance Standard Time\"/>"));
    assert!(text.contains("Review &lt;Q1&gt; &amp; plan"));
    let root = xml::parse(&bytes, 1 << 20).unwrap();
    let parsed = parse(&root, "ada@example.com").unwrap();
    assert_eq!(parsed.event, meeting());
}

#[test]
fn all_day_events_round_trip() {
    let mut e = meeting();
    e.recurrence = None;
    e.timing = EventTiming {
        start: EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() },
        end: EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() },
    };
    let mut w = XmlWriter::new();
    write_create(&mut w, &e, |_| {}).unwrap();
    let root = xml::parse(&w.into_bytes(), 1 << 20).unwrap();
    assert_eq!(parse(&root, "ada@example.com").unwrap().event, e);
}

#[test]
fn attendee_patches_apply_to_the_current_list() {
    let patch = vec![
        FieldChange { field: FieldKey::attendee("eve@example.com"), value: None },
        FieldChange {
            field: FieldKey::attendee("zoe@example.com"),
            value: Some(FieldValue::Attendee(Attendee {
                email: "zoe@example.com".into(),
                name: None,
                role: AttendeeRole::Required,
                response: ResponseStatus::NeedsAction,
            })),
        },
    ];
    assert!(needs_current(&patch));
    let mut w = XmlWriter::new();
    assert!(write_updates(&mut w, &patch, None).is_err());
    let mut w = XmlWriter::new();
    write_updates(&mut w, &patch, Some(&meeting())).unwrap();
    let text = String::from_utf8(w.into_bytes()).unwrap();
    assert!(text.contains("bob@example.com") && text.contains("zoe@example.com"), "{text}");
    assert!(!text.contains("eve@example.com"));
    assert!(text.contains("<t:DeleteItemField><t:FieldURI FieldURI=\"calendar:OptionalAttendees\"/>"));
}

#[test]
fn unwritable_series_are_refused() {
    let mut e = meeting();
    if let Some(r) = e.recurrence.as_mut() {
        r.cancelled.insert(paris(2026, 1, 12, 9));
    }
    assert!(write_create(&mut XmlWriter::new(), &e, |_| {}).is_ok(), "cancellations are written afterwards");
    if let Some(r) = e.recurrence.as_mut() {
        r.rdates.push(paris(2026, 1, 14, 9));
    }
    let refused = write_create(&mut XmlWriter::new(), &e, |_| {}).unwrap_err();
    assert!(refused.contains("RDATE"), "{refused}");
    let mut e = meeting();
    e.timing.start = EventTime::Zoned {
        local: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(9, 0, 0).unwrap(),
        zone: "Mars/Olympus".into(),
    };
    assert!(write_create(&mut XmlWriter::new(), &e, |_| {}).is_err());
}

#[test]
fn instance_indexes_count_occurrences_in_the_series_zone() {
    let e = meeting();
    let at = |d: u32, h: u32| paris(2026, 1, d, h).instant().unwrap();
    assert_eq!(instance_index(&e, at(5, 9)).unwrap(), Some(1));
    assert_eq!(instance_index(&e, at(19, 9)).unwrap(), Some(3));
    assert_eq!(instance_index(&e, at(20, 9)).unwrap(), None, "not an occurrence");
    let mut summer = meeting();
    summer.recurrence = Some(Recurrence { rules: vec!["FREQ=WEEKLY;BYDAY=MO".into()], ..Recurrence::default() });
    let july = paris(2026, 7, 6, 9).instant().unwrap();
    assert_eq!(instance_index(&summer, july).unwrap(), Some(27), "9:00 Paris time, summer time included");
}
