//! Tests of the mergers: hand-written cases from real clients' habits, and a property test that
//! the model round-trips and every unknown line survives.

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;

use super::*;
use crate::interchange::{parse_icalendar, parse_vcard};
use crate::model::{
    AddressKind, Attendee, AttendeeRole, EmailAddress, EventTiming, OccurrenceOverride, Phone, PhoneKind, Privacy,
    Recurrence, ResponseStatus,
};

fn dt(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%S").unwrap()
}

fn berlin(s: &str) -> EventTime {
    EventTime::Zoned { local: dt(s), zone: "Europe/Berlin".into() }
}

/// An event with nothing but its timing.
fn blank(timing: EventTiming) -> Event {
    Event::at(timing)
}

/// The unfolded lines of `text`.
fn lines(text: &str) -> Vec<String> {
    text::unfold(text).into_iter().map(|(_, l)| l.into_owned()).collect()
}

fn assert_folded(text: &str) {
    for line in text.split_terminator("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    assert!(text.ends_with("\r\n"));
}

const APPLE: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//macOS 14.0//EN\r\nCALSCALE:GREGORIAN\r\n\
X-WR-CALNAME:Work\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n\
TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VTIMEZONE\r\nTZID:Unused Zone\r\n\
X-LIC-LOCATION:Asia/Tokyo\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20240105T101010Z\r\n\
CREATED:20240101T000000Z\r\nSEQUENCE:3\r\nSTATUS:CONFIRMED\r\nDTSTART;TZID=Europe/Berlin:20240101T100000\r\n\
DURATION:PT1H\r\nSUMMARY:Weekly\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\nX-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\n\
ATTACH;FMTTYPE=application/pdf;FILENAME=agenda.pdf:https://files.example/agenda-with-a-rather-long-path/and\r\n \
-more/agenda.pdf\r\nATTENDEE;CN=Bob;RSVP=TRUE;PARTSTAT=ACCEPTED:mailto:bob@example.com\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Reminder\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:series-1\r\nRECURRENCE-ID:20240108T090000Z\r\nDTSTART;TZID=Europe/Berlin:20240108T110000\r\n\
DTEND;TZID=Europe/Berlin:20240108T120000\r\nSUMMARY:Weekly\r\nX-OVERRIDE-NOTE:kept\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:series-1\r\nRECURRENCE-ID;TZID=Europe/Berlin:20240122T100000\r\nSUMMARY:Gone\r\n\
X-DROPPED-WITH-OVERRIDE:yes\r\nDTSTART;TZID=Europe/Berlin:20240122T100000\r\nEND:VEVENT\r\n\
BEGIN:VTODO\r\nUID:todo-1\r\nSUMMARY:Buy milk\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";

#[test]
fn merge_keeps_unknown_event_properties_and_components() {
    let mut event = parse_icalendar(APPLE).unwrap().remove(0);
    event.subject = Some("Weekly sync, renamed".into());
    let r = event.recurrence.as_mut().unwrap();
    r.overrides.remove(&berlin("20240122T100000"));
    r.overrides.get_mut(&berlin("20240108T100000")).unwrap().subject = Some("Moved".into());

    let out = merge_icalendar(APPLE, &event).unwrap();
    assert_folded(&out);
    assert_eq!(parse_icalendar(&out).unwrap(), vec![event.clone()], "{out}");
    let got = lines(&out);
    let has = |l: &str| got.iter().any(|g| g == l);
    for kept in [
        "X-WR-CALNAME:Work",
        "TZID:Europe/Berlin",
        "DTSTAMP:20240105T101010Z",
        "CREATED:20240101T000000Z",
        "SEQUENCE:3",
        "STATUS:CONFIRMED",
        "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
        "ATTACH;FMTTYPE=application/pdf;FILENAME=agenda.pdf:https://files.example/agenda-with-a-rather-long-path/and-more/agenda.pdf",
        "TRIGGER:-PT15M",
        "X-OVERRIDE-NOTE:kept",
        "SUMMARY:Buy milk",
    ] {
        assert!(has(kept), "{kept} missing from\n{out}");
    }
    for gone in
        ["TZID:Unused Zone", "X-DROPPED-WITH-OVERRIDE:yes", "DURATION:PT1H", "PRODID:-//Apple Inc.//macOS 14.0//EN"]
    {
        assert!(!has(gone), "{gone} still in\n{out}");
    }
    assert!(has("SUMMARY:Weekly sync\\, renamed"));
    // The alarm stays inside the master, the override note inside the override.
    let alarm = out.find("BEGIN:VALARM").unwrap();
    let master_end = out.find("END:VEVENT").unwrap();
    assert!(alarm < master_end);
    // Merging again changes nothing.
    assert_eq!(merge_icalendar(&out, &event).unwrap(), out);
}

#[test]
fn merge_cancelled_status_and_generated_uids() {
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID;X-TANDEM-GENERATED=TRUE:tandem-0-00000000000000aa\r\n\
        DTSTART:20240101T100000Z\r\nSTATUS:CANCELLED\r\nX-KEEP:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let event =
        blank(EventTiming { start: EventTime::utc(dt("20240101T100000")), end: EventTime::utc(dt("20240101T110000")) });
    let out = merge_icalendar(text, &event).unwrap();
    assert_eq!(parse_icalendar(&out).unwrap(), vec![event]);
    let got = lines(&out);
    assert!(got.contains(&"UID;X-TANDEM-GENERATED=TRUE:tandem-0-00000000000000aa".to_owned()), "{out}");
    assert!(got.contains(&"X-KEEP:1".to_owned()));
    assert!(!got.iter().any(|l| l.starts_with("STATUS")));
}

/// A calendar with the writer's header properties only, as another program writes them.
const APPLE_HEADER_ONLY: &str =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//macOS 14.0//EN\r\nCALSCALE:GREGORIAN\r\nEND:VCALENDAR\r\n";

#[test]
fn merge_into_empty_or_foreign_uid() {
    let event = parse_icalendar(APPLE).unwrap().remove(0);
    // Nothing to keep: the writer's output.
    let empty = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
    assert_eq!(merge_icalendar(empty, &event).unwrap(), write_icalendar(std::slice::from_ref(&event)));
    // A file whose only VEVENT has another UID is taken as the same series, renamed.
    let other = APPLE.replace("series-1", "other-uid");
    let out = merge_icalendar(&other, &event).unwrap();
    assert_eq!(parse_icalendar(&out).unwrap(), vec![event]);
    assert!(out.contains("X-OVERRIDE-NOTE:kept"));
}

#[test]
fn merge_rejects_malformed_existing_text() {
    let event = parse_icalendar(APPLE).unwrap().remove(0);
    for bad in ["BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n", "no colon\r\n", "BEGIN:VCARD\r\nEND:VCARD\r\n"]
    {
        assert!(matches!(merge_icalendar(bad, &event), Err(InterchangeError::Parse { .. })), "{bad}");
    }
    assert!(matches!(merge_vcard("BEGIN:VCARD\r\nFN:x\r\n", &Contact::default()), Err(InterchangeError::Parse { .. })));
}

const CARD: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:1234\r\nFN:Jane Doe\r\nN:Doe;Jane;;;\r\n\
EMAIL;TYPE=work:jane@old.example\r\nitem1.TEL:+49 30 1234\r\nitem1.X-ABLabel:_$!<Mobile>!$_\r\n\
item2.URL:https://jane.example\r\nitem2.X-ABLabel:blog\r\nitem3.X-ABRELATEDNAMES:Max\r\n\
item3.X-ABLabel:_$!<Assistant>!$_\r\nX-ABRELATEDNAMES;TYPE=friend:Tom\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT\r\n\
X-SOCIALPROFILE;TYPE=mastodon:https://social.example/@jane\r\nCATEGORIES:friends\r\nX-TANDEM-Old:gone\r\n\
NOTE:old note\r\nEND:VCARD\r\n";

#[test]
fn merge_keeps_unknown_card_properties() {
    let mut contact = parse_vcard(CARD).unwrap().remove(0);
    assert_eq!(contact.assistant_name.as_deref(), Some("Max"));
    contact.emails = vec![EmailAddress { kind: AddressKind::Home, address: "jane@new.example".into() }];
    contact.notes = None;
    contact.assistant_name = None;
    contact.custom.clear();
    contact.phones = vec![Phone { kind: PhoneKind::Business, number: "+49 30 999".into() }];

    let out = merge_vcard(CARD, &contact).unwrap();
    assert_folded(&out);
    assert_eq!(parse_vcard(&out).unwrap(), vec![contact.clone()], "{out}");
    let got = lines(&out);
    assert_eq!(got[1], "VERSION:4.0");
    for kept in [
        "UID:urn:uuid:1234",
        "item2.URL:https://jane.example",
        "item2.X-ABLabel:blog",
        "X-ABRELATEDNAMES;TYPE=friend:Tom",
        "X-SOCIALPROFILE;TYPE=mastodon:https://social.example/@jane",
        "CATEGORIES:friends",
    ] {
        assert!(got.iter().any(|g| g == kept), "{kept} missing from\n{out}");
    }
    assert!(got.iter().any(|g| g.starts_with("PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ")));
    for gone in ["item1.", "item3.", "X-TANDEM-Old", "NOTE:", "jane@old.example"] {
        assert!(!got.iter().any(|g| g.contains(gone)), "{gone} still in\n{out}");
    }
    assert_eq!(merge_vcard(&out, &contact).unwrap(), out);
}

// ---------------------------------------------------------------------------------------------
// Property test: parse(merge(existing, e)) == e, and every unknown line of existing survives.

fn text_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,;:\\\\\"éü東\\n]{1,30}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text_value())
}

fn timing() -> impl Strategy<Value = EventTiming> {
    let zone = prop::sample::select(vec!["UTC", "Europe/Berlin", "America/New_York"]);
    (zone, 1_000_000_000i64..2_000_000_000, 0i64..100_000, any::<bool>()).prop_map(|(zone, secs, length, all_day)| {
        let start = chrono::DateTime::from_timestamp(secs - secs % 60, 0).unwrap().naive_utc();
        if all_day {
            let date = start.date();
            EventTiming {
                start: EventTime::AllDay { date },
                end: EventTime::AllDay { date: date + chrono::Days::new(1) },
            }
        } else {
            let end = start + chrono::TimeDelta::try_seconds(length).unwrap();
            EventTiming {
                start: EventTime::Zoned { local: start, zone: zone.to_owned() },
                end: EventTime::Zoned { local: end, zone: zone.to_owned() },
            }
        }
    })
}

fn event(uid: Option<String>) -> impl Strategy<Value = Event> {
    let attendees = prop::collection::vec(
        ("[a-z]{1,8}@example\\.(com|de)", opt_text()).prop_map(|(email, name)| Attendee {
            email,
            name,
            role: AttendeeRole::Optional,
            response: ResponseStatus::Accepted,
        }),
        0..3,
    );
    let series = proptest::option::of(prop::collection::vec((1u64..20, text_value()), 0..3));
    let custom = prop::collection::btree_map("[A-Za-z ]{1,8}", text_value(), 0..2);
    (opt_text(), opt_text(), timing(), attendees, series, any::<bool>(), custom).prop_map(
        move |(subject, location, timing, attendees, series, private, custom)| {
            let recurrence = series.map(|overrides| {
                let mut r = Recurrence { rules: vec!["FREQ=DAILY;COUNT=30".to_owned()], ..Recurrence::default() };
                for (n, new_subject) in overrides {
                    let key = match &timing.start {
                        EventTime::AllDay { date } => EventTime::AllDay { date: *date + chrono::Days::new(n) },
                        EventTime::Zoned { local, zone } => {
                            EventTime::Zoned { local: *local + chrono::Days::new(n), zone: zone.clone() }
                        }
                    };
                    let subject = Some(new_subject).filter(|s| Some(s) != subject.as_ref());
                    r.overrides
                        .insert(key, OccurrenceOverride { timing: None, subject, location: None, description: None });
                }
                r
            });
            Event {
                subject,
                location,
                recurrence,
                attendees,
                privacy: if private { Privacy::Private } else { Privacy::Normal },
                ical_uid: uid.clone(),
                custom,
                ..blank(timing)
            }
        },
    )
}

/// Unknown lines to plant into existing text: name (with parameters) and a value.
fn unknown_lines(names: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        (prop::sample::select(names), "[^\\r\\n\\x{FFFF}]{0,90}").prop_map(|(n, v)| format!("{n}:{v}")),
        0..4,
    )
}

const EVENT_UNKNOWN: &[&str] = &[
    "X-FOO",
    "X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE=\"Café; Zoë\"",
    "ATTACH;FMTTYPE=text/plain",
    "SEQUENCE",
    "COLOR",
    "CONFERENCE;VALUE=URI;FEATURE=AUDIO",
    "X-ALT-DESC;FMTTYPE=text/html",
];

const CARD_UNKNOWN: &[&str] =
    &["X-FOO", "PHOTO;ENCODING=b;TYPE=JPEG", "UID", "item9.URL", "item9.X-ABLabel", "X-SOCIALPROFILE;TYPE=x", "KIND"];

fn insert_after(text: &str, marker: &str, extra: &[String]) -> String {
    let block: String = extra.iter().map(|l| format!("{l}\r\n")).collect();
    match text.find(marker) {
        Some(i) => format!("{}{block}{}", &text[..i + marker.len()], &text[i + marker.len()..]),
        None => text.to_owned(),
    }
}

fn contact() -> impl Strategy<Value = Contact> {
    (opt_text(), opt_text(), prop::collection::vec("[a-z]{1,8}@example\\.org", 0..3), opt_text(), opt_text()).prop_map(
        |(given, family, emails, notes, assistant)| Contact {
            given_name: given,
            family_name: family,
            emails: emails.into_iter().map(|address| EmailAddress { kind: AddressKind::Work, address }).collect(),
            notes,
            assistant_name: assistant,
            birthday: NaiveDate::from_ymd_opt(1980, 2, 29),
            ..Contact::default()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The shortcut of [`merge_icalendar`] for text with nothing to keep gives what the general
    /// merge gives.
    #[test]
    fn a_merge_into_nothing_is_the_writers_output(e in event(None), uid in opt_text()) {
        let e = Event { ical_uid: uid, ..e };
        let written = write_icalendar(std::slice::from_ref(&e));
        for existing in ["", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", APPLE_HEADER_ONLY] {
            let roots = components(existing, &ICALENDAR).unwrap();
            prop_assert_eq!(&merge_written(&roots, &written, &e).unwrap(), &written);
            prop_assert_eq!(&merge_icalendar(existing, &e).unwrap(), &written);
        }
    }

    #[test]
    fn merge_icalendar_round_trips_and_keeps_unknown_lines(
        uid in proptest::option::of("[a-z0-9-]{1,20}"),
        (old, new) in proptest::option::of("[a-z0-9-]{1,20}").prop_flat_map(|u| (event(u.clone()), event(u))),
        calendar_lines in unknown_lines(&["X-WR-CALNAME", "METHOD", "X-WR-TIMEZONE"]),
        event_lines in unknown_lines(EVENT_UNKNOWN),
        alarm in any::<bool>(),
    ) {
        let _ = uid;
        let mut existing = write_icalendar(std::slice::from_ref(&old));
        existing = insert_after(&existing, "CALSCALE:GREGORIAN\r\n", &calendar_lines);
        // Unknown lines go into the master (always matched), right after its BEGIN.
        existing = insert_after(&existing, "BEGIN:VEVENT\r\n", &event_lines);
        if alarm {
            let alarm = ["BEGIN:VALARM".to_owned(), "ACTION:DISPLAY".to_owned(), "TRIGGER:-PT5M".to_owned(), "END:VALARM".to_owned()];
            let end = existing.find("END:VEVENT\r\n").unwrap();
            existing = format!("{}{}{}", &existing[..end], alarm.iter().map(|l| format!("{l}\r\n")).collect::<String>(), &existing[end..]);
        }
        let merged = merge_icalendar(&existing, &new).unwrap();
        assert_folded(&merged);
        prop_assert_eq!(parse_icalendar(&merged).unwrap(), vec![new.clone()]);
        let got = lines(&merged);
        for line in calendar_lines.iter().chain(&event_lines) {
            prop_assert!(got.contains(line), "{} missing from\n{}", line, merged);
        }
        prop_assert_eq!(merged.contains("TRIGGER:-PT5M"), alarm);
        prop_assert_eq!(merge_icalendar(&merged, &new).unwrap(), merged);
    }

    #[test]
    fn merge_vcard_round_trips_and_keeps_unknown_lines(
        old in contact(),
        new in contact(),
        card_lines in unknown_lines(CARD_UNKNOWN),
    ) {
        let existing = insert_after(&write_vcard(std::slice::from_ref(&old)), "VERSION:3.0\r\n", &card_lines);
        let merged = merge_vcard(&existing, &new).unwrap();
        assert_folded(&merged);
        prop_assert_eq!(parse_vcard(&merged).unwrap(), vec![new.clone()]);
        let got = lines(&merged);
        for line in &card_lines {
            prop_assert!(got.contains(line), "{} missing from\n{}", line, merged);
        }
        prop_assert_eq!(merge_vcard(&merged, &new).unwrap(), merged);
    }
}
