//! No JSON panics the Graph mapping: arbitrary nested values, and real contact and event shapes
//! mutated field by field (at any depth) with extreme numbers, odd strings and wrong types. Each
//! row becomes a change (a record, a delete or `Invalid` with a reason); a record is then
//! validated as the planner does and written back as a create, also without panicking.
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;
use serde_json::{Value, json};
use tandem_core::state::{Change, ChangeKind};
use tandem_core::validate::validate;
use tandem_graph::fuzzing;
use tandem_testkit::hostile::{any_json, mutated};

const KEYS: &[&str] = &[
    "id",
    "@odata.etag",
    "type",
    "subject",
    "body",
    "contentType",
    "content",
    "start",
    "end",
    "dateTime",
    "timeZone",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "isAllDay",
    "isCancelled",
    "location",
    "displayName",
    "sensitivity",
    "showAs",
    "categories",
    "iCalUId",
    "transactionId",
    "organizer",
    "attendees",
    "emailAddress",
    "address",
    "name",
    "status",
    "response",
    "recurrence",
    "pattern",
    "range",
    "interval",
    "daysOfWeek",
    "index",
    "firstDayOfWeek",
    "dayOfMonth",
    "month",
    "startDate",
    "endDate",
    "recurrenceTimeZone",
    "numberOfOccurrences",
    "exceptionOccurrences",
    "originalStart",
    "cancelledOccurrences",
    "seriesMasterId",
    "lastModifiedDateTime",
    "givenName",
    "middleName",
    "surname",
    "companyName",
    "jobTitle",
    "department",
    "birthday",
    "emailAddresses",
    "businessPhones",
    "homePhones",
    "mobilePhone",
    "businessAddress",
    "homeAddress",
    "otherAddress",
    "street",
    "city",
    "state",
    "postalCode",
    "countryOrRegion",
    "singleValueExtendedProperties",
    "value",
    "personalNotes",
];

fn contact() -> Value {
    json!({
        "id": "AAMk1", "@odata.etag": "W/\"1\"", "lastModifiedDateTime": "2026-01-05T09:00:00Z",
        "givenName": "Ada", "middleName": "King", "surname": "Lovelace", "companyName": "Engines",
        "jobTitle": "Countess", "department": "R&D", "assistantName": "Babbage", "personalNotes": "notes",
        "birthday": "1815-12-10T11:59:00Z",
        "emailAddresses": [{"address": "ada@example.com", "name": "Ada"}],
        "businessPhones": ["+44 1"], "homePhones": ["+44 2"], "mobilePhone": "+44 3",
        "businessAddress": {"street": "12 St James's Square", "city": "London", "postalCode": "SW1Y", "countryOrRegion": "UK"},
        "homeAddress": {"city": "Paris"},
        "singleValueExtendedProperties": [{"id": tandem_graph::SYNC_KEY_PROPERTY, "value": "tdm0123456789abcdef0123456789abcdef"}]
    })
}

fn series() -> Value {
    json!({
        "id": "E1", "@odata.etag": "W/\"2\"", "type": "seriesMaster", "subject": "Standup",
        "body": {"contentType": "html", "content": "<p>Hi &amp; bye</p>"},
        "start": {"dateTime": "2026-01-05T08:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-01-05T08:30:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "Romance Standard Time", "originalEndTimeZone": "Romance Standard Time",
        "isAllDay": false, "location": {"displayName": "Room 1"}, "sensitivity": "private", "showAs": "tentative",
        "categories": ["Work"], "iCalUId": "uid1", "transactionId": "tdm0123456789abcdef0123456789abcdef",
        "organizer": {"emailAddress": {"address": "boss@example.com", "name": "Boss"}},
        "attendees": [{"type": "optional", "status": {"response": "accepted"}, "emailAddress": {"address": "bob@example.com"}}],
        "recurrence": {
            "pattern": {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["monday", "friday"], "index": "last",
                        "firstDayOfWeek": "sunday", "dayOfMonth": 0, "month": 0},
            "range": {"type": "endDate", "startDate": "2026-01-05", "endDate": "2026-06-29",
                      "recurrenceTimeZone": "Romance Standard Time", "numberOfOccurrences": 0}
        },
        "exceptionOccurrences": [{
            "id": "X1", "originalStart": "2026-01-12T08:00:00Z", "subject": "Moved",
            "start": {"dateTime": "2026-01-12T09:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-12T09:30:00.0000000", "timeZone": "UTC"}
        }],
        "cancelledOccurrences": ["OID.E1.2026-01-19"]
    })
}

fn all_day() -> Value {
    json!({
        "id": "E2", "type": "seriesMaster", "subject": "Holiday", "isAllDay": true, "showAs": "oof",
        "start": {"dateTime": "2026-08-03T00:00:00.0000000", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2026-08-05T00:00:00.0000000", "timeZone": "Pacific Standard Time"},
        "recurrence": {
            "pattern": {"type": "absoluteYearly", "interval": 1, "month": 8, "dayOfMonth": 3},
            "range": {"type": "numbered", "startDate": "2026-08-03", "numberOfOccurrences": 3}
        },
        "exceptionOccurrences": [{
            "id": "X2", "originalStart": "2027-08-03T07:00:00Z", "isAllDay": true,
            "start": {"dateTime": "2027-08-04T00:00:00.0000000", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2027-08-06T00:00:00.0000000", "timeZone": "Pacific Standard Time"}
        }],
        "cancelledOccurrences": ["OID.E2.2028-08-03"]
    })
}

/// The change is a value, and a record in it survives validation and writing.
fn check(change: &Change) {
    match &change.kind {
        ChangeKind::Upserted { record } => {
            let _ = validate(record);
            let _ = fuzzing::create_body(record, "Pacific/Kiritimati");
        }
        ChangeKind::Invalid { reason } => assert!(!reason.is_empty()),
        _ => {}
    }
}

#[test]
fn the_seeds_map() {
    for (row, events) in [(contact(), false), (series(), true), (all_day(), true)] {
        let change = fuzzing::round_trip(&row, events);
        assert!(matches!(change.kind, ChangeKind::Upserted { .. }), "{change:?}");
    }
}

#[test]
fn extreme_times_are_invalid_not_panics() {
    // Issue 8: chrono overflowed on these (the zone shift at the end of its range, an exception's
    // end beyond it).
    let mut far = series();
    far["start"]["dateTime"] = json!("+262142-12-31T23:59:59");
    far["end"]["dateTime"] = json!("+262142-12-31T23:59:59");
    far["originalStartTimeZone"] = json!("Tokyo Standard Time");
    assert!(matches!(fuzzing::event_change(&far).kind, ChangeKind::Invalid { .. }));
    let mut long = series();
    long["start"]["dateTime"] = json!("-262143-01-01T00:00:00");
    long["originalStartTimeZone"] = json!("UTC");
    assert!(matches!(fuzzing::event_change(&long).kind, ChangeKind::Invalid { .. }));
    let mut long_all_day = all_day();
    long_all_day["start"]["dateTime"] = json!("-262143-01-01T00:00:00");
    long_all_day["end"]["dateTime"] = json!("+262142-12-31T00:00:00");
    assert!(matches!(fuzzing::event_change(&long_all_day).kind, ChangeKind::Invalid { .. }));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_json_maps_or_is_invalid(row in any_json(KEYS)) {
        check(&fuzzing::round_trip(&row, false));
        check(&fuzzing::round_trip(&row, true));
    }

    #[test]
    fn mutated_contacts_map_or_are_invalid(row in mutated(contact(), KEYS)) {
        check(&fuzzing::round_trip(&row, false));
    }

    #[test]
    fn mutated_series_map_or_are_invalid(row in mutated(series(), KEYS)) {
        check(&fuzzing::round_trip(&row, true));
    }

    #[test]
    fn mutated_all_day_series_map_or_are_invalid(row in mutated(all_day(), KEYS)) {
        check(&fuzzing::round_trip(&row, true));
    }
}
