//! No input panics the iCalendar or vCard import: arbitrary bytes and strings, and content lines
//! built from real property names with odd parameters and values. Each import returns events or
//! contacts, or a typed error; what it returns also goes through validation (which parses
//! RRULEs) and export without panicking.
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;
use tandem_core::interchange::{InterchangeError, parse_icalendar, parse_vcard, write_icalendar, write_vcard};
use tandem_core::model::Record;
use tandem_core::validate::validate;

const ICAL_NAMES: &[&str] = &[
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
    "UID",
    "SUMMARY",
    "DESCRIPTION",
    "LOCATION",
    "STATUS",
    "CLASS",
    "TRANSP",
    "ORGANIZER",
    "ATTENDEE",
    "CATEGORIES",
    "X-MICROSOFT-CDO-BUSYSTATUS",
    "X-TANDEM-CRM-LINK",
    "X-TANDEM-Region",
    "TZID",
    "X-LIC-LOCATION",
];
const VCARD_NAMES: &[&str] = &[
    "N",
    "FN",
    "ORG",
    "TITLE",
    "ROLE",
    "EMAIL",
    "TEL",
    "ADR",
    "BDAY",
    "NOTE",
    "NICKNAME",
    "X-ABLabel",
    "item1.TEL",
    "item1.X-ABLabel",
    "X-TANDEM-Region",
    "VERSION",
    "UID",
    "X-ASSISTANT",
];
const PARAMS: &[&str] = &[
    "",
    ";VALUE=DATE",
    ";VALUE=DATE-TIME",
    ";TZID=Europe/Berlin",
    ";TZID=Romance Standard Time",
    ";TZID=Mars",
    ";TZID=\"(UTC+01:00) Amsterdam\"",
    ";X-TANDEM-CANCELLED=TRUE",
    ";X-TANDEM-GENERATED=TRUE",
    ";RANGE=THISANDFUTURE",
    ";CN=\"Doe, Jane\"",
    ";ROLE=OPT-PARTICIPANT;PARTSTAT=DECLINED",
    ";CUTYPE=ROOM",
    ";TYPE=CELL,VOICE",
    ";TYPE=\"home\"",
    ";X-TANDEM-OBJECT=Opportunity",
    ";CN=^'^n^^",
    ";=",
    ";;",
    ";\"",
];
const VALUES: &[&str] = &[
    "20240101T100000Z",
    "20240101T100000",
    "20240101",
    "99991231T235959",
    "00000101T000000Z",
    "20240230",
    "+2621421231T235959Z",
    "P1D",
    "PT1H30M",
    "-P1W",
    "P99999999999999999999D",
    "P9999999W",
    "FREQ=WEEKLY;BYDAY=ña",
    "FREQ=WEEKLY;BYDAY=MO;COUNT=5",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=YEARLY;BYMONTH=13",
    "FREQ=DAILY;UNTIL=20240101",
    "20240101T100000Z,20240108T100000Z/PT1H",
    "mailto:jane@example.com",
    "CANCELLED",
    "PRIVATE",
    "TRANSPARENT",
    "Doe;John;;;",
    "a\\,b\\;c\\n",
    ";;1 Main St;Springfield;IL;62701;USA",
    "--0415",
    "19460520",
    "tel:+1 555",
    "_$!<Mobile>!$_",
    "ña",
    "\u{FFFF}",
    ":",
    "",
    " ",
    "Europe/Paris",
    "3.0",
    "4.0",
];

fn content_line(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        prop_oneof![3 => proptest::sample::select(names).prop_map(str::to_owned), 1 => "[A-Za-z-]{0,8}"],
        proptest::sample::select(PARAMS),
        prop_oneof![3 => proptest::sample::select(VALUES).prop_map(str::to_owned), 1 => any::<String>()],
    )
        .prop_map(|(name, params, value)| format!("{name}{params}:{value}"))
}

/// A calendar or a card made of plausible lines, with blocks nested right or wrong and folds.
fn document(
    root: &'static str,
    inner: &'static [&'static str],
    names: &'static [&'static str],
) -> impl Strategy<Value = String> {
    let line = prop_oneof![
        6 => content_line(names),
        1 => proptest::sample::select(inner).prop_map(|c| format!("BEGIN:{c}")),
        1 => proptest::sample::select(inner).prop_map(|c| format!("END:{c}")),
        1 => Just(" folded".to_owned()),
    ];
    (proptest::collection::vec(line, 0..24), proptest::sample::select(&["\r\n", "\n", "\r"][..])).prop_map(
        move |(lines, eol)| {
            let mut out = format!("BEGIN:{root}{eol}VERSION:2.0{eol}");
            for l in lines {
                out.push_str(&l);
                out.push_str(eol);
            }
            out.push_str(&format!("END:{root}{eol}"));
            out
        },
    )
}

fn check_icalendar(text: &str) {
    match parse_icalendar(text) {
        Ok(events) => {
            for e in &events {
                let _ = validate(&Record::Event(e.clone()));
            }
            let _ = parse_icalendar(&write_icalendar(&events));
        }
        Err(e) => check_error(&e),
    }
}

fn check_vcard(text: &str) {
    match parse_vcard(text) {
        Ok(contacts) => {
            for c in &contacts {
                let _ = validate(&Record::Contact(c.clone()));
            }
            let _ = parse_vcard(&write_vcard(&contacts));
        }
        Err(e) => check_error(&e),
    }
}

/// A typed error that says something.
fn check_error(e: &InterchangeError) {
    assert!(!e.to_string().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn icalendar_import_never_panics_on_any_string(text in any::<String>()) {
        check_icalendar(&text);
    }

    #[test]
    fn icalendar_import_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_icalendar(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn icalendar_import_never_panics_on_plausible_calendars(
        text in document("VCALENDAR", &["VEVENT", "VTIMEZONE", "VALARM", "STANDARD", "VTODO", "X-FOO"], ICAL_NAMES)
    ) {
        check_icalendar(&text);
    }

    #[test]
    fn icalendar_import_never_panics_on_plausible_events(lines in proptest::collection::vec(content_line(ICAL_NAMES), 0..16)) {
        let body = lines.join("\r\n");
        check_icalendar(&format!("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\n{body}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"));
    }

    #[test]
    fn vcard_import_never_panics_on_any_string(text in any::<String>()) {
        check_vcard(&text);
    }

    #[test]
    fn vcard_import_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_vcard(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn vcard_import_never_panics_on_plausible_cards(text in document("VCARD", &["VCARD", "X-FOO"], VCARD_NAMES)) {
        check_vcard(&text);
    }
}

#[test]
fn the_issue_8_rule_is_a_typed_error() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=ña\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert!(matches!(parse_icalendar(text), Err(InterchangeError::InvalidValue { .. })));
}
