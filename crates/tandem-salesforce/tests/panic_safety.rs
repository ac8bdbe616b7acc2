//! No JSON panics the Salesforce row mapping: arbitrary nested values, and real Contact and
//! Event rows mutated field by field with extreme numbers, odd strings and wrong types. Each row
//! maps to a record or to an error (which the connector reports as `ChangeKind::Invalid`); a
//! record is then validated as the planner does and written back as a create, also without
//! panicking.
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;
use serde_json::{Value, json};
use tandem_core::model::{ObjectKind, Record};
use tandem_core::validate::validate;
use tandem_salesforce::fuzzing;
use tandem_testkit::hostile::{any_json, mutated};

/// The field names the connector reads, from the connector itself (hostile rows use them as keys).
fn keys() -> &'static [&'static str] {
    static KEYS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
        fuzzing::field_names().into_iter().map(|name| &*Box::leak(name.into_boxed_str())).collect()
    });
    &KEYS
}

const ZONES: [&str; 3] = ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"];

fn contact() -> Value {
    json!({
        "attributes": {"type": "Contact"}, "Id": "003000000000001AAA",
        "SystemModstamp": "2026-01-05T09:00:00.000+0000", "FirstName": "Ada", "MiddleName": "King",
        "LastName": "Lovelace", "Email": "ada@example.com", "Phone": "+44 1", "MobilePhone": "+44 2",
        "HomePhone": null, "Fax": "+44 3", "OtherPhone": "", "AssistantPhone": "+44 4", "AssistantName": "Babbage",
        "Title": "Countess", "Department": "Engines", "Birthdate": "1815-12-10", "Description": "Notes",
        "MailingStreet": "12 St James's Square", "MailingCity": "London", "MailingState": null,
        "MailingPostalCode": "SW1Y", "MailingCountry": "UK", "OtherCity": "Paris",
        "Account": {"attributes": {"type": "Account"}, "Name": "Engines Ltd"}, "Region__c": "EMEA",
        "Tandem_Sync_Id__c": "tdm1"
    })
}

fn series() -> Value {
    json!({
        "Id": "00U000000000001AAA", "SystemModstamp": "2026-01-05T09:00:00.000+0000", "IsAllDayEvent": false,
        "IsRecurrence2": true, "StartDateTime": "2026-01-05T08:00:00.000+0000",
        "EndDateTime": "2026-01-05T09:00:00.000+0000", "DurationInMinutes": 60,
        "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=SU;INTERVAL=1;COUNT=13\nEXDATE:20260112T080000Z,20260119T080000Z\nRDATE;VALUE=DATE:20260201\nEXDATE;TZID=America/New_York:20260106T030000",
        "Recurrence2PatternTimeZone": "Europe/Paris", "Subject": "Standup", "ShowAs": "Busy", "IsPrivate": true,
        "WhoId": "003000000000001AAA", "WhatId": "006000000000001AAA", "Topic__c": "x", "Status": "Accepted",
        "Relation": {"Name": "Grace", "Email": "grace@example.com"}
    })
}

fn all_day() -> Value {
    json!({
        "Id": "00U000000000002AAA", "IsAllDayEvent": true, "ActivityDate": "2026-03-02",
        "DurationInMinutes": 2880, "Subject": "Offsite", "ShowAs": "OutOfOffice"
    })
}

fn check(object: ObjectKind, row: &Value) {
    for zone in ZONES {
        match fuzzing::read_row(object, row, zone) {
            Ok(record) => {
                let _ = validate(&record);
                let _ = fuzzing::create_fields(&record, zone);
            }
            Err(reason) => assert!(!reason.is_empty()),
        }
    }
}

#[test]
fn the_seeds_map_both_ways() {
    for (object, row) in
        [(ObjectKind::Contact, contact()), (ObjectKind::Event, series()), (ObjectKind::Event, all_day())]
    {
        for zone in ZONES {
            let record = fuzzing::round_trip(object, &row, zone).unwrap();
            assert_eq!(validate(&record), Ok(()), "{record:?}");
        }
    }
    let Record::Event(e) = fuzzing::read_row(ObjectKind::Event, &series(), "UTC").unwrap() else { panic!() };
    assert_eq!(e.attendees.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_json_maps_or_is_an_error(row in any_json(keys())) {
        check(ObjectKind::Contact, &row);
        check(ObjectKind::Event, &row);
    }

    #[test]
    fn mutated_contacts_map_or_are_errors(row in mutated(contact(), keys())) {
        check(ObjectKind::Contact, &row);
    }

    #[test]
    fn mutated_series_map_or_are_errors(row in mutated(series(), keys())) {
        check(ObjectKind::Event, &row);
    }

    #[test]
    fn mutated_all_day_events_map_or_are_errors(row in mutated(all_day(), keys())) {
        check(ObjectKind::Event, &row);
    }
}
