//! Unit tests of iCalendar reading and writing: durations and date-times, times and zones, errors,
//! rules, busy status and people, instances grouped by `UID`, escaping and folding, round trips.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

use super::timing::{parse_date, parse_date_time, parse_duration};
use super::{parse_icalendar, write_icalendar};
use crate::interchange::InterchangeError;
use crate::model::{
    AttendeeRole, CrmLink, Event, EventTime, EventTiming, OccurrenceOverride, Person, Privacy, ResponseStatus, ShowAs,
};

fn cal(body: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n")
}

fn one(body: &str) -> Result<Event, InterchangeError> {
    parse_icalendar(&cal(body)).map(|mut events| {
        assert_eq!(events.len(), 1, "{events:?}");
        events.remove(0)
    })
}

fn dt(s: &str) -> NaiveDateTime {
    parse_date_time(s).unwrap()
}

#[test]
fn durations() {
    assert_eq!(parse_duration("PT1H30M"), TimeDelta::try_seconds(5400));
    assert_eq!(parse_duration("P1W"), TimeDelta::try_days(7));
    assert_eq!(parse_duration("P1DT2H"), TimeDelta::try_seconds(93_600));
    assert_eq!(parse_duration("-PT15M"), TimeDelta::try_seconds(-900));
    for bad in ["", "P", "PT", "1H", "PT1D", "P1H", "P1", "PT1H2", "P99999999999999999999D", "PTT1H"] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
}

#[test]
fn date_times() {
    assert_eq!(parse_date("20240229"), NaiveDate::from_ymd_opt(2024, 2, 29));
    for bad in ["20230229", "2024-02-2", "2024022", "+0240101", "20241301"] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
    assert!(parse_date_time("20240101T250000").is_none());
    assert!(parse_date_time("20240101 100000").is_none());
    assert!(parse_date_time("20240101T10000é").is_none());
}

#[test]
fn times_and_zones() {
    let e = one("BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20240101T100000Z\r\nDURATION:PT30M\r\nEND:VEVENT\r\n").unwrap();
    assert_eq!(e.timing.start, EventTime::utc(dt("20240101T100000")));
    assert_eq!(e.timing.end, EventTime::utc(dt("20240101T103000")));

    // Floating time reads as UTC; no end means zero length.
    let e = one("BEGIN:VEVENT\r\nDTSTART:20240101T100000\r\nEND:VEVENT\r\n").unwrap();
    assert_eq!(e.timing.start, EventTime::utc(dt("20240101T100000")));
    assert_eq!(e.timing.end, e.timing.start);
    assert_eq!(e.ical_uid, None);

    // All-day without end lasts one day.
    let e = one("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20240101\r\nEND:VEVENT\r\n").unwrap();
    assert_eq!(e.timing.end, EventTime::AllDay { date: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap() });

    // Windows, quoted and Outlook display TZIDs.
    for tzid in [
        "Romance Standard Time",
        "\"Romance Standard Time\"",
        "\"(UTC+01:00) Brussels, Copenhagen, Madrid, Paris\"",
        "Europe/Paris",
    ] {
        let e = one(&format!(
            "BEGIN:VEVENT\r\nDTSTART;TZID={tzid}:20240101T100000\r\nDTEND;TZID={tzid}:20240101T110000\r\nEND:VEVENT\r\n"
        ))
        .unwrap();
        assert_eq!(e.timing.start, EventTime::Zoned { local: dt("20240101T100000"), zone: "Europe/Paris".into() });
    }

    // A custom VTIMEZONE is resolved by X-LIC-LOCATION.
    let e = one("BEGIN:VTIMEZONE\r\nTZID:My Zone\r\nX-LIC-LOCATION:Asia/Tokyo\r\nEND:VTIMEZONE\r\n\
         BEGIN:VEVENT\r\nDTSTART;TZID=My Zone:20240101T100000\r\nEND:VEVENT\r\n")
    .unwrap();
    assert_eq!(e.timing.start, EventTime::Zoned { local: dt("20240101T100000"), zone: "Asia/Tokyo".into() });
}

#[test]
fn errors() {
    let cases: Vec<(&str, InterchangeError)> = vec![
        (
            "BEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n",
            InterchangeError::MissingProperty { component: "VEVENT", property: "DTSTART" },
        ),
        (
            "BEGIN:VEVENT\r\nDTSTART;TZID=Mars Standard Time:20240101T100000\r\nEND:VEVENT\r\n",
            InterchangeError::UnknownTimeZone("Mars Standard Time".into()),
        ),
        (
            "BEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\n\
             TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
            InterchangeError::UnknownTimeZone("Customized Time Zone".into()),
        ),
        (
            "BEGIN:VEVENT\r\nUID:u1\r\nDTSTART:20240101T100000Z\r\nDTEND:20240101T090000Z\r\nEND:VEVENT\r\n",
            InterchangeError::EndBeforeStart { uid: Some("u1".into()) },
        ),
        (
            "BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nDURATION:-PT1H\r\nEND:VEVENT\r\n",
            InterchangeError::EndBeforeStart { uid: None },
        ),
        (
            // Berlin 10:00 is 09:00 UTC: an end at 08:30 UTC is before the start.
            "BEGIN:VEVENT\r\nDTSTART;TZID=Europe/Berlin:20240101T100000\r\nDTEND:20240101T083000Z\r\nEND:VEVENT\r\n",
            InterchangeError::EndBeforeStart { uid: None },
        ),
        (
            "BEGIN:VEVENT\r\nDTSTART:2024-01-01\r\nEND:VEVENT\r\n",
            InterchangeError::InvalidValue { property: "DTSTART".into(), value: "2024-01-01".into() },
        ),
        (
            "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20240101\r\nDTEND:20240102T100000Z\r\nEND:VEVENT\r\n",
            InterchangeError::InvalidValue { property: "DTEND".into(), value: "20240102T100000Z".into() },
        ),
        (
            "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20240101\r\nDURATION:PT1H\r\nEND:VEVENT\r\n",
            InterchangeError::InvalidValue { property: "DURATION".into(), value: "PT1H".into() },
        ),
        (
            "BEGIN:VEVENT\r\nDTSTART:99991231T100000Z\r\nDURATION:P1D\r\nEND:VEVENT\r\n",
            InterchangeError::InvalidValue { property: "DURATION".into(), value: "P1D".into() },
        ),
        (
            "BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nRRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\n",
            InterchangeError::InvalidValue { property: "RRULE".into(), value: "FREQ=SOMETIMES".into() },
        ),
        (
            // Issue 8: panicked inside the `rrule` crate.
            "BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=ña\r\nEND:VEVENT\r\n",
            InterchangeError::InvalidValue { property: "RRULE".into(), value: "FREQ=WEEKLY;BYDAY=ña".into() },
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(one(body).unwrap_err(), expected, "{body}");
    }
}

#[test]
fn real_world_rules_are_accepted() {
    for rule in [
        "FREQ=WEEKLY;UNTIL=20240226T090000Z;INTERVAL=1;BYDAY=MO;WKST=MO",
        "FREQ=WEEKLY;WKST=SU;UNTIL=20240630T215959Z;BYDAY=TU,TH",
        "FREQ=MONTHLY;BYDAY=-1FR;COUNT=12",
        "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15",
        "FREQ=DAILY;UNTIL=20240630",
        "FREQ=MONTHLY;BYSETPOS=2;BYDAY=MO,TU,WE,TH,FR",
    ] {
        let e = one(&format!("BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nRRULE:{rule}\r\nEND:VEVENT\r\n")).unwrap();
        assert_eq!(e.recurrence.unwrap().rules, vec![rule.to_owned()]);
    }
}

#[test]
fn busy_status_privacy_and_people() {
    let e = one("BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nCLASS:CONFIDENTIAL\r\nTRANSP:TRANSPARENT\r\n\
         X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\nORGANIZER;CN=\"Doe, Jane\":MAILTO:jane@example.com\r\n\
         ATTENDEE;CN=Bob;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:bob@example.com\r\n\
         ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:room@example.com\r\n\
         ATTENDEE;ROLE=NON-PARTICIPANT;PARTSTAT=DELEGATED:mailto:fyi@example.com\r\n\
         ATTENDEE;ROLE=CHAIR;PARTSTAT=DECLINED:mailto:chair@example.com\r\n\
         CATEGORIES:Work,Client\\, Big\r\nCATEGORIES:Other\r\nEND:VEVENT\r\n")
    .unwrap();
    assert_eq!(e.privacy, Privacy::Private);
    assert_eq!(e.show_as, ShowAs::OutOfOffice);
    assert_eq!(e.organizer, Some(Person { email: "jane@example.com".into(), name: Some("Doe, Jane".into()) }));
    let summary: Vec<_> = e.attendees.iter().map(|a| (a.email.as_str(), a.role, a.response)).collect();
    assert_eq!(
        summary,
        vec![
            ("bob@example.com", AttendeeRole::Optional, ResponseStatus::Tentative),
            ("room@example.com", AttendeeRole::Resource, ResponseStatus::Accepted),
            ("fyi@example.com", AttendeeRole::Optional, ResponseStatus::NeedsAction),
            ("chair@example.com", AttendeeRole::Required, ResponseStatus::Declined),
        ]
    );
    assert_eq!(e.categories, vec!["Work", "Client, Big", "Other"]);

    let free = one("BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n").unwrap();
    assert_eq!(free.show_as, ShowAs::Free);
    let elsewhere = one(
        "BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nX-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE\r\nEND:VEVENT\r\n",
    )
    .unwrap();
    assert_eq!(elsewhere.show_as, ShowAs::WorkingElsewhere);
}

#[test]
fn instances_group_by_uid() {
    let events = parse_icalendar(&cal(
        // The instance comes first, its RECURRENCE-ID in UTC: aligned to the master's zone.
        "BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID:20240108T090000Z\r\nDTSTART;TZID=Europe/Berlin:20240108T110000\r\n\
         DTEND;TZID=Europe/Berlin:20240108T120000\r\nSUMMARY:Weekly\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:s\r\nDTSTART;TZID=Europe/Berlin:20240101T100000\r\nDTEND;TZID=Europe/Berlin:20240101T110000\r\n\
         SUMMARY:Weekly\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE:20240129T090000Z\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID;TZID=Europe/Berlin:20240115T100000\r\nSTATUS:CANCELLED\r\n\
         DTSTART;TZID=Europe/Berlin:20240115T100000\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID;TZID=Europe/Berlin:20240122T100000\r\nSUMMARY:Renamed\r\n\
         DTSTART;TZID=Europe/Berlin:20240122T100000\r\nDTEND;TZID=Europe/Berlin:20240122T110000\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:orphan\r\nRECURRENCE-ID:20240101T100000Z\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:gone\r\nSTATUS:CANCELLED\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:gone\r\nRECURRENCE-ID:20240102T100000Z\r\nDTSTART:20240102T100000Z\r\nEND:VEVENT\r\n",
    ))
    .unwrap();
    assert_eq!(events.len(), 2, "{events:#?}");
    let berlin = |s: &str| EventTime::Zoned { local: dt(s), zone: "Europe/Berlin".into() };
    let r = events[0].recurrence.as_ref().unwrap();
    assert_eq!(r.exdates, vec![berlin("20240129T100000")]);
    assert_eq!(r.cancelled.iter().collect::<Vec<_>>(), vec![&berlin("20240115T100000")]);
    let moved = &r.overrides[&berlin("20240108T100000")];
    assert_eq!(moved.timing, Some(EventTiming { start: berlin("20240108T110000"), end: berlin("20240108T120000") }));
    assert_eq!(moved.subject, None);
    let renamed = &r.overrides[&berlin("20240122T100000")];
    assert_eq!(renamed.timing, None);
    assert_eq!(renamed.subject.as_deref(), Some("Renamed"));
    assert_eq!(events[1].ical_uid.as_deref(), Some("orphan"));
    assert_eq!(events[1].recurrence, None);
}

#[test]
fn writes_escaped_folded_crlf() {
    let mut e = one("BEGIN:VEVENT\r\nUID:x\r\nDTSTART;VALUE=DATE:20240101\r\nEND:VEVENT\r\n").unwrap();
    e.subject = Some("a,b;c\\d\nnext".into());
    e.description = Some("Ünïcödé ".repeat(20));
    e.custom.insert("CRM-LINK".into(), "not a link".into());
    e.custom.insert("Kunden Nr.".into(), "42".into());
    e.crm_links.push(CrmLink { object: "Opportunity".into(), id: "006xx".into() });
    let out = write_icalendar(std::slice::from_ref(&e));
    assert!(out.contains("SUMMARY:a\\,b\\;c\\\\d\\nnext\r\n"), "{out}");
    assert!(out.contains("DTSTART;VALUE=DATE:20240101\r\n"));
    assert!(out.contains("X-TANDEM-%43RM-LINK:not a link\r\n"));
    assert!(out.contains("X-TANDEM-Kunden%20Nr%2E:42\r\n"));
    assert!(out.contains("X-TANDEM-CRM-LINK;X-TANDEM-OBJECT=Opportunity:006xx\r\n"));
    assert!(out.split("\r\n").all(|l| l.len() <= 75 && !l.contains('\n')));
    assert_eq!(parse_icalendar(&out).unwrap(), vec![e]);
}

#[test]
fn events_without_uid_round_trip() {
    let mut e = one("BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n").unwrap();
    let key = EventTime::utc(dt("20240102T100000"));
    let r = e.recurrence.as_mut().unwrap();
    r.overrides.insert(
        key.clone(),
        OccurrenceOverride { timing: None, subject: Some("x".into()), location: None, description: None },
    );
    r.cancelled.insert(EventTime::utc(dt("20240103T100000")));
    let out = write_icalendar(&[e.clone(), e.clone()]);
    assert!(out.contains("UID;X-TANDEM-GENERATED=TRUE:tandem-0-"));
    assert!(out.contains("EXDATE;X-TANDEM-CANCELLED=TRUE:20240103T100000Z\r\n"));
    assert_eq!(parse_icalendar(&out).unwrap(), vec![e.clone(), e]);
}
