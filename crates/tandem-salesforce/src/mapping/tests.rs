//! Unit tests of the mapping: contacts and events both ways, recurrence patterns, exception
//! folding, invitees, capabilities, and rows that must be errors rather than panics.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{
    AddressKind, Contact, CrmLink, EventTime, EventTiming, ObjectKind, PhoneKind, PostalAddress, Privacy, Record,
    ResponseStatus, ShowAs,
};
use tandem_core::plan::FieldChange;

use super::Mapping;
use super::event::write_timing;
use super::invitees::attendee;
use super::recurrence::{fold_overrides, parse_pattern, series_of};
use crate::config::{AddressMapping, CustomField};

fn mapping() -> Mapping {
    Mapping::new(
        true,
        vec![CustomField::text("Region__c", 20)],
        vec![],
        "Tandem_Sync_Id__c".into(),
        AddressMapping::default(),
    )
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[test]
fn contact_round_trip() {
    let row = obj(json!({
        "attributes": {"type": "Contact"},
        "Id": "003000000000001AAA", "SystemModstamp": "2026-01-05T09:00:00.000+0000",
        "FirstName": "Ada", "MiddleName": "King", "LastName": "Lovelace", "Email": "ada@example.com",
        "Phone": "+44 1", "MobilePhone": "+44 2", "HomePhone": null, "Fax": "+44 3", "OtherPhone": "",
        "AssistantPhone": "+44 4", "AssistantName": "Babbage", "Title": "Countess", "Department": "Engines",
        "Birthdate": "1815-12-10", "Description": "Notes\nhere", "MailingStreet": "12 St James's Square",
        "MailingCity": "London", "MailingState": null, "MailingPostalCode": "SW1Y", "MailingCountry": "UK",
        "Account": {"attributes": {"type": "Account"}, "Name": "Analytical Engines Ltd"},
        "Region__c": "EMEA", "Tandem_Sync_Id__c": "tdm1"
    }));
    let m = mapping();
    let r = m.row(&row).unwrap();
    assert_eq!(r.sync_key.as_deref(), Some("tdm1"));
    let record = m.contact(&row).unwrap();
    let Record::Contact(c) = &record else { panic!() };
    assert_eq!(c.company.as_deref(), Some("Analytical Engines Ltd"));
    assert_eq!(c.phones.len(), 4);
    assert_eq!(c.birthday, NaiveDate::from_ymd_opt(1815, 12, 10));
    assert_eq!(c.addresses[0].region, None);
    assert_eq!(c.custom["Region__c"], "EMEA");
    let fields = m.create_fields(&record, "UTC").unwrap();
    assert_eq!(fields["LastName"], "Lovelace");
    assert_eq!(fields["Fax"], "+44 3");
    assert_eq!(fields["Birthdate"], "1815-12-10");
    assert_eq!(fields["Description"], "Notes\nhere");
    assert!(!fields.contains_key("Account"), "company is never written");
    assert!(!fields.contains_key("MailingState"), "absent values are left out of creates");
    let mut back = row.clone();
    for (k, v) in &fields {
        back.insert(k.clone(), v.clone());
    }
    assert_eq!(m.contact(&back).unwrap(), record);
}

#[test]
fn unreadable_rows_are_errors_not_panics() {
    let m = mapping();
    let bad_date = obj(json!({"Id": "003000000000001AAA", "LastName": "X", "Birthdate": "1815-13-40"}));
    assert!(m.contact(&bad_date).unwrap_err().contains("not a date"));
    let bad_type = obj(json!({"Id": "003000000000001AAA", "LastName": 7}));
    assert!(m.contact(&bad_type).unwrap_err().contains("not text"));
    let no_start = obj(json!({"Id": "00U000000000001AAA", "IsAllDayEvent": false}));
    assert!(m.event(&no_start, "UTC", vec![]).is_err());
    assert!(m.row(&obj(json!({}))).is_err());
}

#[test]
fn hostile_events_are_errors_not_panics() {
    // Issue 8: each of these panicked the mapper (chrono overflow) or the `rrule` crate.
    let m = mapping();
    let event = |fields: Value| {
        let mut row = obj(json!({"Id": "00U000000000001AAA", "IsAllDayEvent": false,
            "StartDateTime": "2026-01-05T08:00:00.000+0000"}));
        row.extend(obj(fields));
        m.event(&row, "Asia/Tokyo", vec![])
    };
    let huge = event(json!({"DurationInMinutes": i64::MAX})).unwrap_err();
    assert!(huge.contains("DurationInMinutes"), "{huge}");
    assert!(event(json!({"DurationInMinutes": i64::MIN})).is_err());
    let all_day =
        event(json!({"IsAllDayEvent": true, "ActivityDate": "2026-03-02", "DurationInMinutes": i64::MAX})).unwrap_err();
    assert!(all_day.contains("DurationInMinutes"), "{all_day}");
    // The last representable dates and instants: no room for the exclusive end or the zone.
    assert!(event(json!({"IsAllDayEvent": true, "ActivityDate": "+262142-12-31"})).is_err());
    assert!(event(json!({"StartDateTime": "+262142-12-31T23:59:59.000+0000", "DurationInMinutes": 0})).is_err());
    assert!(
        event(
            json!({"StartDateTime": "2026-01-05T08:00:00.000+0000", "EndDateTime": "+262142-12-31T23:59:59.000+0000"})
        )
        .is_err()
    );
    // A recurrence rule the `rrule` crate panics on.
    let rule = event(json!({"EndDateTime": "2026-01-05T09:00:00.000+0000", "IsRecurrence2": true,
        "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=ña"}))
    .unwrap_err();
    assert!(rule.contains("recurrence rule"), "{rule}");
    assert!(parse_pattern("RRULE:FREQ=WEEKLY;BYDAY=ña", "UTC").is_err());
    assert!(parse_pattern("EXDATE:+2621421231T235959Z\nRRULE:FREQ=DAILY", "Asia/Tokyo").is_err());
    // Writing an all-day event that ends on the first representable date.
    let first = EventTime::AllDay { date: NaiveDate::MIN };
    assert!(write_timing(&EventTiming { start: first.clone(), end: first }, &mut Map::new()).is_err());
}

#[test]
fn patches_clear_with_null() {
    let m = mapping();
    let patch = vec![
        FieldChange { field: FieldKey::Title, value: None },
        FieldChange { field: FieldKey::Phone(PhoneKind::Mobile), value: Some(FieldValue::List(vec!["1".into()])) },
        FieldChange { field: FieldKey::Address(AddressKind::Work), value: None },
    ];
    let f = m.patch_fields(ObjectKind::Contact, &patch, "UTC").unwrap();
    assert_eq!(f["Title"], Value::Null);
    assert_eq!(f["MobilePhone"], "1");
    assert_eq!(f["MailingCity"], Value::Null);
    assert!(!f.contains_key("OtherCity"), "only the Mailing address is touched: {f:?}");
    let bad = vec![FieldChange { field: FieldKey::Phone(PhoneKind::HomeFax), value: None }];
    assert!(m.patch_fields(ObjectKind::Contact, &bad, "UTC").is_err());
    let unknown = vec![FieldChange { field: FieldKey::Custom("Other__c".into()), value: None }];
    assert!(m.patch_fields(ObjectKind::Contact, &unknown, "UTC").is_err());
    // The company is the Account link, resolved by name when the batch is written: never a
    // field of the record itself; without account matching it cannot be written at all.
    let company = vec![FieldChange { field: FieldKey::Company, value: Some(FieldValue::Text("Acme".into())) }];
    assert!(m.patch_fields(ObjectKind::Contact, &company, "UTC").unwrap().is_empty());
    let read_only = mapping().with_account_matching(false);
    assert!(read_only.patch_fields(ObjectKind::Contact, &company, "UTC").is_err());
}

#[test]
fn all_day_events_use_an_inclusive_last_day() {
    let m = mapping();
    // A two-day all-day event, as Salesforce stores it.
    let row = obj(json!({
        "Id": "00U000000000001AAA", "IsAllDayEvent": true, "ActivityDate": "2026-03-02",
        "StartDateTime": "2026-03-02T00:00:00.000+0000", "EndDateTime": "2026-03-03T00:00:00.000+0000",
        "DurationInMinutes": 2880, "Subject": "Offsite", "ShowAs": "OutOfOffice", "IsPrivate": true
    }));
    let record = m.event(&row, "Europe/Paris", vec![]).unwrap();
    let Record::Event(e) = &record else { panic!() };
    let d = |day| EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 3, day).unwrap() };
    assert_eq!(e.timing, EventTiming { start: d(2), end: d(4) });
    assert_eq!(e.show_as, ShowAs::OutOfOffice);
    assert_eq!(e.privacy, Privacy::Private);
    let fields = m.create_fields(&record, "Europe/Paris").unwrap();
    assert_eq!(fields["ActivityDate"], "2026-03-02");
    assert_eq!(fields["EndDateTime"], "2026-03-03T00:00:00.000+0000");
    assert_eq!(fields["IsAllDayEvent"], true);
    // Only a duration: one day.
    let one = obj(
        json!({"Id": "00U000000000001AAA", "IsAllDayEvent": true, "ActivityDate": "2026-03-02", "DurationInMinutes": 1440}),
    );
    let Record::Event(e) = m.event(&one, "UTC", vec![]).unwrap() else { panic!() };
    assert_eq!(e.timing, EventTiming { start: d(2), end: d(3) });
}

#[test]
fn timed_events_read_in_the_user_zone_and_write_utc() {
    let m = mapping();
    let row = obj(json!({
        "Id": "00U000000000001AAA", "IsAllDayEvent": false,
        "StartDateTime": "2026-07-01T08:00:00.000+0000", "EndDateTime": "2026-07-01T09:30:00.000+0000",
        "ShowAs": "Busy", "WhoId": "003000000000001AAA", "WhatId": "006000000000001AAA"
    }));
    let record = m.event(&row, "Europe/Paris", vec![]).unwrap();
    let Record::Event(e) = &record else { panic!() };
    let EventTime::Zoned { local, zone } = &e.timing.start else { panic!() };
    assert_eq!((local.to_string().as_str(), zone.as_str()), ("2026-07-01 10:00:00", "Europe/Paris"));
    assert_eq!(e.crm_links.iter().map(|l| l.object.as_str()).collect::<Vec<_>>(), ["Contact", "Opportunity"]);
    let f = m.create_fields(&record, "Europe/Paris").unwrap();
    assert_eq!(f["StartDateTime"], "2026-07-01T08:00:00.000+0000");
    assert_eq!(f["EndDateTime"], "2026-07-01T09:30:00.000+0000");
    assert_eq!(f["WhoId"], "003000000000001AAA");
    assert_eq!(f["WhatId"], "006000000000001AAA");
    // Tentative and working elsewhere become Busy.
    let patch = vec![FieldChange { field: FieldKey::ShowAs, value: Some(FieldValue::ShowAs(ShowAs::Tentative)) }];
    assert_eq!(m.patch_fields(ObjectKind::Event, &patch, "UTC").unwrap()["ShowAs"], "Busy");
    let two_whos = vec![FieldChange {
        field: FieldKey::CrmLinks,
        value: Some(FieldValue::CrmLinks(vec![
            CrmLink { object: "Contact".into(), id: "003000000000001AAA".into() },
            CrmLink { object: "Lead".into(), id: "00Q000000000001AAA".into() },
        ])),
    }];
    assert!(m.patch_fields(ObjectKind::Event, &two_whos, "UTC").is_err());
}

#[test]
fn recurrence_patterns_round_trip() {
    let m = mapping();
    let row = obj(json!({
        "Id": "00U000000000001AAA", "IsAllDayEvent": false, "IsRecurrence2": true,
        "StartDateTime": "2026-01-05T08:00:00.000+0000", "EndDateTime": "2026-01-05T09:00:00.000+0000",
        "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=SU;INTERVAL=1;COUNT=13\nEXDATE:20260112T080000Z,20260119T080000Z",
        "Recurrence2PatternTimeZone": "Europe/Paris"
    }));
    let record = m.event(&row, "America/New_York", vec![]).unwrap();
    let Record::Event(e) = &record else { panic!() };
    let r = e.recurrence.as_ref().unwrap();
    assert_eq!(r.rules, ["FREQ=WEEKLY;BYDAY=MO;WKST=SU;INTERVAL=1;COUNT=13"]);
    assert_eq!(r.exdates.len(), 2);
    let at9 = |day| EventTime::Zoned {
        local: NaiveDate::from_ymd_opt(2026, 1, day).unwrap().and_hms_opt(9, 0, 0).unwrap(),
        zone: "Europe/Paris".into(),
    };
    assert_eq!(r.exdates[0], at9(12));
    assert_eq!(e.timing.start, at9(5), "a series reads in its pattern's zone");
    let f = m.create_fields(&record, "America/New_York").unwrap();
    assert_eq!(f["Recurrence2PatternTimeZone"], "Europe/Paris");
    assert_eq!(
        f["Recurrence2PatternText"],
        "RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=SU;INTERVAL=1;COUNT=13\nEXDATE:20260112T080000Z\nEXDATE:20260119T080000Z"
    );
    let mut back = row.clone();
    back.insert("Recurrence2PatternText".into(), f["Recurrence2PatternText"].clone());
    assert_eq!(m.event(&back, "America/New_York", vec![]).unwrap(), record);
    // Exceptions and exclusions are single events, not series.
    let mut exception = row.clone();
    exception.insert("IsRecurrence2Exception".into(), json!(true));
    let Record::Event(x) = m.event(&exception, "America/New_York", vec![]).unwrap() else { panic!() };
    assert!(x.recurrence.is_none());
    // TZID and all-day values.
    let r = parse_pattern(
        "RRULE:FREQ=DAILY;COUNT=3\nEXDATE;TZID=America/New_York:20260106T030000\nRDATE;VALUE=DATE:20260201",
        "Europe/Paris",
    )
    .unwrap();
    assert_eq!(r.exdates[0], at9(6));
    assert_eq!(r.rdates[0], EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap() });
    assert!(parse_pattern("EXDATE:20260106T030000Z", "UTC").is_err());
    assert!(parse_pattern("X-FOO:1", "UTC").is_err());
}

#[test]
fn address_kinds_keep_their_salesforce_address() {
    use crate::config::AddressSlot;
    let m = mapping();
    let home = PostalAddress { kind: AddressKind::Home, city: Some("Hometown".into()), ..PostalAddress::default() };
    let other = PostalAddress { kind: AddressKind::Other, city: Some("Otherville".into()), ..PostalAddress::default() };
    // Home goes to Other and touches nothing else; an other address has no Salesforce address.
    let change = |kind, a: &PostalAddress| FieldChange {
        field: FieldKey::Address(kind),
        value: Some(FieldValue::Addresses(vec![a.clone()])),
    };
    let f = m.patch_fields(ObjectKind::Contact, &[change(AddressKind::Home, &home)], "UTC").unwrap();
    assert_eq!(f["OtherCity"], "Hometown");
    assert!(f.keys().all(|k| k.starts_with("Other")), "only the Other address: {f:?}");
    let never = m.patch_fields(ObjectKind::Contact, &[change(AddressKind::Other, &other)], "UTC");
    assert!(never.is_err(), "never converted: {never:?}");
    // A whole contact: each mapped kind to its address, the other kind left out.
    let whole = Record::Contact(Contact {
        family_name: Some("X".into()),
        addresses: vec![home.clone(), other],
        ..Contact::default()
    });
    let f = m.create_fields(&whole, "UTC").unwrap();
    assert_eq!(f["OtherCity"], "Hometown");
    assert!(!f.contains_key("MailingCity"), "{f:?}");
    assert!(!f.values().any(|v| v == "Otherville"), "never converted: {f:?}");
    // Read back as written: home stays home.
    let row = obj(json!({"Id": "003000000000001AAA", "LastName": "X", "OtherCity": "Hometown",
        "MailingCity": "Worktown"}));
    let Record::Contact(c) = m.contact(&row).unwrap() else { panic!() };
    assert_eq!(c.addresses.iter().map(|a| a.kind).collect::<Vec<_>>(), [AddressKind::Work, AddressKind::Home]);
    assert_eq!(c.addresses[1], home);
    let caps = &m.capabilities().contacts;
    assert_eq!(caps.limit(&FieldKey::Address(AddressKind::Work)).unwrap().max_items, Some(1));
    assert_eq!(caps.limit(&FieldKey::Address(AddressKind::Home)).unwrap().max_items, Some(1));
    assert!(!caps.supports(&FieldKey::Address(AddressKind::Other)));
    // Configured: Mailing holds home, Other is off.
    let only_home = Mapping::new(
        false,
        vec![],
        vec![],
        "Tandem_Sync_Id__c".into(),
        AddressMapping { mailing: AddressSlot::Home, other: AddressSlot::Off },
    );
    let Record::Contact(c) = only_home.contact(&row).unwrap() else { panic!() };
    assert_eq!(
        c.addresses,
        [PostalAddress { kind: AddressKind::Home, city: Some("Worktown".into()), ..Default::default() }]
    );
    let caps = &only_home.capabilities().contacts;
    assert!(caps.supports(&FieldKey::Address(AddressKind::Home)));
    assert!(!caps.supports(&FieldKey::Address(AddressKind::Work)));
    assert!(!caps.supports(&FieldKey::Address(AddressKind::Other)));
    let f = only_home.patch_fields(ObjectKind::Contact, &[change(AddressKind::Home, &home)], "UTC").unwrap();
    assert_eq!(f["MailingCity"], "Hometown");
    assert!(!f.contains_key("OtherCity"), "{f:?}");
    let off = Mapping::new(
        false,
        vec![],
        vec![],
        "Tandem_Sync_Id__c".into(),
        AddressMapping { mailing: AddressSlot::Off, other: AddressSlot::Off },
    );
    assert!(AddressKind::ALL.iter().all(|k| !off.capabilities().contacts.supports(&FieldKey::Address(*k))));
}

#[test]
fn exception_rows_fold_into_their_series() {
    let m = mapping();
    let series = obj(json!({
        "Id": "00U000000000001AAA", "IsAllDayEvent": false, "IsRecurrence2": true, "Subject": "Standup",
        "StartDateTime": "2026-01-05T08:00:00.000+0000", "EndDateTime": "2026-01-05T08:30:00.000+0000",
        "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6", "Recurrence2PatternTimeZone": "Europe/Paris"
    }));
    // The second Monday moved two hours later, in an exception row pointing at the series.
    let moved = obj(json!({
        "Id": "00U000000000002AAA", "IsAllDayEvent": false, "IsRecurrence2": true,
        "IsRecurrence2Exception": true, "RecurrenceActivityId": "00U000000000001AAA", "Subject": "Standup",
        "StartDateTime": "2026-01-12T10:00:00.000+0000", "EndDateTime": "2026-01-12T10:30:00.000+0000",
        "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6"
    }));
    assert_eq!(series_of(&moved).as_deref(), Some("00U000000000001AAA"));
    assert_eq!(series_of(&series), None);
    let Record::Event(mut e) = m.event(&series, "UTC", vec![]).unwrap() else { panic!() };
    let Record::Event(x) = m.event(&moved, "UTC", vec![]).unwrap() else { panic!() };
    fold_overrides(&mut e, &[x]).unwrap();
    let at = |day, h| EventTime::Zoned {
        local: NaiveDate::from_ymd_opt(2026, 1, day).unwrap().and_hms_opt(h, 0, 0).unwrap(),
        zone: "Europe/Paris".into(),
    };
    let r = e.recurrence.unwrap();
    assert_eq!(r.overrides.len(), 1);
    let ov = &r.overrides[&at(12, 9)];
    assert_eq!(ov.subject, None, "equal to the series' reads as inherited");
    let end = EventTime::Zoned {
        local: NaiveDate::from_ymd_opt(2026, 1, 12).unwrap().and_hms_opt(11, 30, 0).unwrap(),
        zone: "Europe/Paris".into(),
    };
    assert_eq!(ov.timing, Some(EventTiming { start: at(12, 11), end }));
}

#[test]
fn attendees_from_relations() {
    let row = obj(json!({"EventId": "00U000000000001AAA", "Status": "Accepted",
        "Relation": {"attributes": {"type": "Name"}, "Name": "Grace Hopper", "Email": "grace@example.com"}}));
    let a = attendee(&row).unwrap();
    assert_eq!(a.email, "grace@example.com");
    assert_eq!(a.response, ResponseStatus::Accepted);
    assert!(attendee(&obj(json!({"Relation": {"Name": "No Mail"}}))).is_none());
}

#[test]
fn capabilities_declare_salesforce_limits() {
    let m = mapping();
    let caps = m.capabilities();
    assert_eq!(caps.contacts.limit(&FieldKey::FamilyName).unwrap().max_len, Some(80));
    assert!(caps.contacts.limit(&FieldKey::FamilyName).unwrap().required);
    assert!(caps.contacts.writable(&FieldKey::Company));
    assert!(caps.events.writable(&FieldKey::attendee("ada@example.com")));
    let read_only = mapping().with_account_matching(false);
    assert!(
        read_only.capabilities().contacts.supports(&FieldKey::Company)
            && !read_only.capabilities().contacts.writable(&FieldKey::Company)
    );
    assert!(!caps.contacts.supports(&FieldKey::Phone(PhoneKind::HomeFax)));
    assert_eq!(caps.contacts.limit(&FieldKey::Custom("Region__c".into())).unwrap().max_len, Some(20));
    assert_eq!(caps.events.max_event_minutes, Some(20_160));
    assert_eq!(caps.events.max_batch, 200);
    assert!(caps.events.writable(&FieldKey::Attendees));
}
