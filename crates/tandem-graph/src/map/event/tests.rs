//! Unit tests of the event mapping: series with exceptions and cancellations, cancelled meetings
//! and unknown zones, all-day dates, and written zones and refused RDATEs.

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::json;
use tandem_core::model::{EventTime, EventTiming, Privacy, Recurrence, ShowAs};

use super::values::{recurrence_json, timing_json};
use super::*;
use crate::map::types;

const OPTS: WriteOptions<'static> = WriteOptions { all_day_zone: "UTC", iana_names: false };

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
}

fn zoned(s: &str, zone: &str) -> EventTime {
    EventTime::Zoned { local: at(s), zone: zone.into() }
}

#[test]
fn reads_a_series_with_an_exception_and_a_cancellation() {
    let master: types::Event = serde_json::from_value(json!({
        "id": "M", "type": "seriesMaster", "subject": "Standup",
        "start": {"dateTime": "2026-01-05T08:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-01-05T08:15:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "Romance Standard Time", "originalEndTimeZone": "Romance Standard Time",
        "isAllDay": false, "sensitivity": "confidential", "showAs": "unknown",
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
                       "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 4}},
        "cancelledOccurrences": ["OID.M.2026-01-19"],
        "exceptionOccurrences": [{
            "id": "X", "type": "exception", "subject": "Standup (moved)", "originalStart": "2026-01-12T08:00:00Z",
            "start": {"dateTime": "2026-01-12T09:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-12T09:15:00.0000000", "timeZone": "UTC"},
            "isAllDay": false
        }]
    }))
    .unwrap();
    let e = to_model(&master).unwrap().unwrap();
    assert_eq!(e.timing.start, zoned("2026-01-05T09:00", "Europe/Paris"));
    assert_eq!(e.privacy, Privacy::Private);
    assert_eq!(e.show_as, ShowAs::Busy);
    let r = e.recurrence.unwrap();
    assert_eq!(r.rules, vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=4"]);
    let ov = &r.overrides[&zoned("2026-01-12T09:00", "Europe/Paris")];
    assert_eq!(ov.subject.as_deref(), Some("Standup (moved)"));
    assert_eq!(
        ov.timing.as_ref().unwrap().start,
        zoned("2026-01-12T10:00", "Europe/Paris"),
        "exceptions are shown in the series' zone"
    );
    assert!(r.cancelled.contains(&zoned("2026-01-19T09:00", "Europe/Paris")));
}

#[test]
fn a_cancelled_meeting_reads_as_deleted_and_customized_zones_as_utc() {
    let e: types::Event = serde_json::from_value(json!({
        "id": "C", "isCancelled": true, "start": {"dateTime": "2026-01-05T08:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"}
    }))
    .unwrap();
    assert_eq!(to_model(&e).unwrap(), None);
    let e: types::Event = serde_json::from_value(json!({
        "id": "D", "originalStartTimeZone": "Customized Time Zone",
        "start": {"dateTime": "2026-01-05T08:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"}
    }))
    .unwrap();
    assert_eq!(to_model(&e).unwrap().unwrap().timing.start, zoned("2026-01-05T08:00", "UTC"));
    let no_start: types::Event = serde_json::from_value(json!({"id": "E"})).unwrap();
    assert!(to_model(&no_start).is_err());
}

#[test]
fn all_day_events_keep_their_dates_whatever_the_zone() {
    let e: types::Event = serde_json::from_value(json!({
        "id": "A", "type": "singleInstance", "isAllDay": true,
        "start": {"dateTime": "2026-05-01T00:00:00.0000000", "timeZone": "Tokyo Standard Time"},
        "end": {"dateTime": "2026-05-02T00:00:00.0000000", "timeZone": "Tokyo Standard Time"},
    }))
    .unwrap();
    let m = to_model(&e).unwrap().unwrap();
    assert_eq!(m.timing.start, EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap() });
    assert_eq!(m.timing.end, EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 5, 2).unwrap() });
    let (s, en, all_day) = timing_json(&m.timing, OPTS).unwrap();
    assert!(all_day);
    assert_eq!(s, json!({"dateTime": "2026-05-01T00:00:00", "timeZone": "UTC"}));
    assert_eq!(en["dateTime"], "2026-05-02T00:00:00");
}

#[test]
fn writes_zones_by_windows_name_and_refuses_rdates() {
    let t =
        EventTiming { start: zoned("2026-01-05T09:00", "Europe/Paris"), end: zoned("2026-01-05T10:00", "Asia/Tokyo") };
    let (s, e, _) = timing_json(&t, OPTS).unwrap();
    assert_eq!(s["timeZone"], "Romance Standard Time");
    assert_eq!(e["timeZone"], "Tokyo Standard Time");
    let r = Recurrence { rules: vec!["FREQ=DAILY".into()], rdates: vec![t.start.clone()], ..Recurrence::default() };
    assert!(recurrence_json(&r, &t, OPTS).is_err());
    let bad = EventTiming { start: zoned("2026-01-05T09:00", "Atlantis"), end: t.end.clone() };
    assert!(timing_json(&bad, OPTS).is_err());
}
