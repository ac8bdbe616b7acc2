//! Writing against the fake: collections, idempotent creates (upsert and the look-up fallback),
//! version preconditions, per-record errors, deletes, find_by_key.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use chrono::NaiveDate;
use serde_json::json;
use tandem_connector::{Connector, ConnectorError, WriteOp};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{
    Contact, EmailAddress, Event, EventTime, EventTiming, ObjectKind, PostalAddress, Privacy, Record, Recurrence,
    ShowAs,
};
use tandem_core::plan::FieldChange;
use tandem_core::state::{IdempotencyKey, RecordId, Side, Version};
use tandem_salesforce::config::{KeyMode, SyncKeyConfig};
use tandem_testkit::salesforce::{FakeConfig, SalesforceFake};

const C: ObjectKind = ObjectKind::Contact;
const E: ObjectKind = ObjectKind::Event;
const UPSERT: (&str, &str) = ("PATCH", "/services/data/{version}/composite/sobjects/{sobject}/{field}");
const CREATE: (&str, &str) = ("POST", "/services/data/{version}/composite/sobjects");
const UPDATE: (&str, &str) = ("PATCH", "/services/data/{version}/composite/sobjects");
const DELETE: (&str, &str) = ("DELETE", "/services/data/{version}/composite/sobjects");

fn person(given: &str, family: &str) -> Record {
    Record::Contact(Contact {
        given_name: Some(given.into()),
        family_name: Some(family.into()),
        emails: vec![EmailAddress {
            kind: Default::default(),
            address: format!("{}@example.com", given.to_lowercase()),
        }],
        ..Contact::default()
    })
}

fn key(n: u32) -> IdempotencyKey {
    IdempotencyKey::derive(C, Side::Mailbox, &RecordId::new(format!("mailbox-{n}")))
}

fn create(n: u32, record: Record) -> WriteOp {
    WriteOp::Create { key: key(n), record }
}

#[tokio::test]
async fn creates_are_upserts_on_the_key_so_a_replay_never_duplicates() {
    let org = common::org().await;
    let c = org.connector();
    let ops: Vec<WriteOp> = (0..3).map(|i| create(i, person("Ada", &format!("Lovelace{i}")))).collect();
    let first = c.apply(C, &ops).await.unwrap();
    assert!(first.iter().all(Result::is_ok), "{first:?}");
    assert_eq!(org.fake.count("Contact"), 3);
    assert_eq!(org.count(UPSERT.0, UPSERT.1), 1, "one collection call for the batch");
    // The same batch again, as after a crash: the same records, no new ones.
    let again = c.apply(C, &ops).await.unwrap();
    assert_eq!(org.fake.count("Contact"), 3);
    let ids =
        |r: &[tandem_connector::WriteResult]| r.iter().map(|w| w.as_ref().unwrap().id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&again));
    let stored = org.fake.get("Contact", first[0].as_ref().unwrap().id.as_str()).unwrap();
    assert_eq!(stored["Tandem_Sync_Id__c"], key(0).as_str());
    assert_eq!(stored["OwnerId"], org.fake.user().id);
    // find_by_key settles a create whose answer was lost.
    let found = c.find_by_key(C, &key(1)).await.unwrap().unwrap();
    assert_eq!(found.id, first[1].as_ref().unwrap().id);
    assert!(!found.version.as_str().is_empty());
    assert!(c.find_by_key(C, &key(99)).await.unwrap().is_none());
    assert!(matches!(
        c.find_by_key(C, &IdempotencyKey("x' OR Id != '".into())).await,
        Err(ConnectorError::Config { .. })
    ));
}

#[tokio::test]
async fn without_an_external_id_the_key_is_looked_up_before_creating() {
    let config = FakeConfig { sync_key_field: Some(("Tandem_Sync_Id__c".into(), false)), ..FakeConfig::default() };
    let (fake, server) = SalesforceFake::start_with(config).await.unwrap();
    let org = common::Org { fake, server };
    // Configured to upsert, the connector reads the org's describe, sees the key field is not an
    // External ID, and looks keys up before creating instead of being refused.
    let adapting = org.connector();
    let created = adapting.apply(C, &[create(5, person("Katherine", "Johnson"))]).await.unwrap();
    assert!(created[0].is_ok(), "{created:?}");
    assert_eq!(org.count(CREATE.0, CREATE.1), 1, "created with a plain create after a key look-up");
    let c = org.connector_with(|cfg| {
        cfg.sync_key = SyncKeyConfig { field: "Tandem_Sync_Id__c".into(), mode: KeyMode::LookupThenCreate }
    });
    let ops = vec![create(0, person("Ada", "Lovelace")), create(1, person("Grace", "Hopper"))];
    let first = c.apply(C, &ops).await.unwrap();
    assert!(first.iter().all(Result::is_ok));
    let again = c.apply(C, &ops).await.unwrap();
    assert_eq!(org.fake.count("Contact"), 3);
    assert_eq!(first[0].as_ref().unwrap().id, again[0].as_ref().unwrap().id);
    assert_eq!(org.count(CREATE.0, CREATE.1), 2, "the replay created nothing");
}

#[tokio::test]
async fn the_orgs_describe_sets_field_lengths_and_a_missing_key_field_is_a_configuration_error() {
    // The org's Region__c is 20 characters; the configuration does not say.
    let config = FakeConfig { contact_custom_fields: vec![("Region__c".into(), 20)], ..FakeConfig::default() };
    let (fake, server) = SalesforceFake::start_with(config).await.unwrap();
    let org = common::Org { fake, server };
    let c = org.connector_with(|cfg| cfg.contact_custom_fields[0].max_len = None);
    let region = tandem_core::fields::FieldKey::Custom("Region__c".into());
    let title = tandem_core::fields::FieldKey::Title;
    assert_eq!(c.capabilities().contacts.limit(&region).unwrap().max_len, None, "unknown before the first call");
    common::drain(&c, C, None).await;
    assert_eq!(c.capabilities().contacts.limit(&region).unwrap().max_len, Some(20), "learned from the describe");
    assert_eq!(c.capabilities().contacts.limit(&title).unwrap().max_len, Some(128));

    let config = FakeConfig { sync_key_field: None, ..FakeConfig::default() };
    let (fake, server) = SalesforceFake::start_with(config).await.unwrap();
    let bare = common::Org { fake, server };
    let c = bare.connector();
    match c.pull(C, None).await {
        Err(ConnectorError::Config { message }) => assert!(message.contains("Tandem_Sync_Id__c"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn updates_check_the_version_first_and_report_per_record() {
    let org = common::org().await;
    let a = org.contact("Ada", "Lovelace", "ada@example.com");
    let b = org.contact("Grace", "Hopper", "grace@example.com");
    let gone = org.contact("Alan", "Turing", "alan@example.com");
    let c = org.connector();
    let (changes, _, _) = common::drain(&c, C, None).await;
    let version = |id: &str| changes.iter().find(|x| x.id.as_str() == id).unwrap().version.clone();
    let (va, vb) = (version(&a), version(&b));
    // Someone edits Grace after Tandem read her; Alan is deleted.
    org.fake.update("Contact", &b, json!({ "Department": "Navy" })).unwrap();
    org.fake.delete("Contact", &gone).unwrap();
    let title = |t: &str| vec![FieldChange { field: FieldKey::Title, value: Some(FieldValue::Text(t.into())) }];
    let ops = vec![
        WriteOp::Update { id: RecordId::new(a.clone()), expected: va.clone(), patch: title("Countess") },
        WriteOp::Update { id: RecordId::new(b.clone()), expected: vb, patch: title("Rear Admiral") },
        WriteOp::Update { id: RecordId::new(gone.clone()), expected: Version::default(), patch: title("x") },
        WriteOp::Update {
            id: RecordId::new(a.clone()),
            expected: Version::default(),
            patch: vec![FieldChange { field: FieldKey::FamilyName, value: Some(FieldValue::Text("L".repeat(81))) }],
        },
    ];
    let results = c.apply(C, &ops).await.unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
    match &results[1] {
        Err(ConnectorError::PreconditionFailed { current: Some(v) }) => assert_ne!(v.as_str(), ""),
        other => panic!("{other:?}"),
    }
    assert_eq!(results[2], Err(ConnectorError::NotFound));
    match &results[3] {
        Err(ConnectorError::Rejected { code, message }) => {
            assert_eq!(code, "STRING_TOO_LONG");
            assert!(message.contains("LastName"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(org.fake.get("Contact", &a).unwrap()["Title"], "Countess");
    assert_eq!(org.fake.get("Contact", &b).unwrap()["Title"], serde_json::Value::Null, "the stale write was not sent");
    assert_eq!(org.count(UPDATE.0, UPDATE.1), 1, "one collection call for the valid updates");

    // Clearing and structured fields.
    let patch = vec![
        FieldChange { field: FieldKey::Title, value: None },
        FieldChange {
            field: FieldKey::Address(tandem_core::model::AddressKind::Work),
            value: Some(FieldValue::Addresses(vec![PostalAddress {
                street: Some("1 Infinite Loop".into()),
                city: Some("Cupertino".into()),
                ..PostalAddress::default()
            }])),
        },
        FieldChange {
            field: FieldKey::Birthday,
            value: Some(FieldValue::Date(NaiveDate::from_ymd_opt(1815, 12, 10).unwrap())),
        },
        FieldChange { field: FieldKey::Custom("Region__c".into()), value: Some(FieldValue::Text("EMEA".into())) },
    ];
    let r = c
        .apply(C, &[WriteOp::Update { id: RecordId::new(a.clone()), expected: Version::default(), patch }])
        .await
        .unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    let stored = org.fake.get("Contact", &a).unwrap();
    assert_eq!(stored["Title"], serde_json::Value::Null);
    assert_eq!(stored["MailingCity"], "Cupertino");
    assert_eq!(stored["Birthdate"], "1815-12-10");
    assert_eq!(stored["Region__c"], "EMEA");
}

#[tokio::test]
async fn deletes_check_versions_and_treat_gone_records_as_not_found() {
    let org = common::org().await;
    let a = org.contact("Ada", "Lovelace", "ada@example.com");
    let b = org.contact("Grace", "Hopper", "grace@example.com");
    let c = org.connector();
    let results = c
        .apply(
            C,
            &[
                WriteOp::Delete { id: RecordId::new(a.clone()), expected: Version::default() },
                WriteOp::Delete {
                    id: RecordId::new(b.clone()),
                    expected: Version::new("2000-01-01T00:00:00.000+0000"),
                },
            ],
        )
        .await
        .unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(ConnectorError::PreconditionFailed { .. })));
    assert_eq!(org.fake.count("Contact"), 1);
    assert_eq!(org.count(DELETE.0, DELETE.1), 1);
    let again = c.apply(C, &[WriteOp::Delete { id: RecordId::new(a), expected: Version::default() }]).await.unwrap();
    assert_eq!(again[0], Err(ConnectorError::NotFound));
}

#[tokio::test]
async fn batches_above_200_are_refused_and_200_take_one_call() {
    let org = common::org().await;
    let c = org.connector();
    let too_many: Vec<WriteOp> = (0..201).map(|i| create(i, person("P", &format!("P{i}")))).collect();
    assert!(matches!(c.apply(C, &too_many).await, Err(ConnectorError::Rejected { .. })));
    let results = c.apply(C, &too_many[..200]).await.unwrap();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 200);
    assert_eq!(org.count(UPSERT.0, UPSERT.1), 1);
}

#[tokio::test]
async fn events_write_all_day_timed_and_recurring_and_the_14_day_rule() {
    let org = common::org().await;
    let c = org.connector();
    let d = |m, day| EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, m, day).unwrap() };
    let at = |day, h| EventTime::Zoned {
        local: NaiveDate::from_ymd_opt(2026, 1, day).unwrap().and_hms_opt(h, 0, 0).unwrap(),
        zone: "Europe/Paris".into(),
    };
    let event = |subject: &str, timing: EventTiming| Event {
        subject: Some(subject.into()),
        description: None,
        location: Some("Room 1".into()),
        timing,
        recurrence: None,
        organizer: None,
        attendees: vec![],
        privacy: Privacy::Private,
        show_as: ShowAs::Free,
        categories: vec![],
        crm_links: vec![],
        ical_uid: None,
        custom: Default::default(),
    };
    let mut series = event("Standup", EventTiming { start: at(5, 9), end: at(5, 10) });
    series.recurrence = Some(Recurrence {
        rules: vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=4".into()],
        exdates: vec![at(12, 9)],
        ..Recurrence::default()
    });
    let ops = vec![
        create(1, Record::Event(event("Offsite", EventTiming { start: d(3, 2), end: d(3, 4) }))),
        create(2, Record::Event(series)),
        // 15 days: refused by Salesforce, quarantined by the engine.
        create(3, Record::Event(event("Too long", EventTiming { start: d(3, 1), end: d(3, 16) }))),
        create(4, Record::Event(event("Fourteen", EventTiming { start: d(4, 1), end: d(4, 15) }))),
    ];
    let r = c.apply(E, &ops).await.unwrap();
    let offsite = org.fake.get("Event", r[0].as_ref().unwrap().id.as_str()).unwrap();
    assert_eq!(offsite["IsAllDayEvent"], true);
    assert_eq!(offsite["ActivityDate"], "2026-03-02");
    assert_eq!(offsite["DurationInMinutes"], 2880);
    assert_eq!(offsite["IsPrivate"], true);
    assert_eq!(offsite["ShowAs"], "Free");
    let standup = org.fake.get("Event", r[1].as_ref().unwrap().id.as_str()).unwrap();
    assert_eq!(standup["StartDateTime"], "2026-01-05T08:00:00.000+0000");
    assert_eq!(standup["IsRecurrence2"], true);
    assert_eq!(standup["Recurrence2PatternTimeZone"], "Europe/Paris");
    assert_eq!(standup["Recurrence2PatternText"], "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4\nEXDATE:20260112T080000Z");
    match &r[2] {
        Err(ConnectorError::Rejected { code, message }) => {
            assert_eq!(code, "FIELD_INTEGRITY_EXCEPTION");
            assert!(message.contains("14 days"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(r[3].is_ok(), "exactly 14 days is allowed: {:?}", r[3]);
    // Read back as written.
    let (changes, _, _) = common::drain(&c, E, None).await;
    let back = changes.iter().find(|x| x.id == r[1].as_ref().unwrap().id).unwrap();
    let Some(Record::Event(e)) = back.record() else { panic!() };
    assert_eq!(e.timing.start, at(5, 9));
    assert_eq!(e.recurrence.as_ref().unwrap().exdates, [at(12, 9)]);
    let back = changes.iter().find(|x| x.id == r[0].as_ref().unwrap().id).unwrap();
    let Some(Record::Event(e)) = back.record() else { panic!() };
    assert_eq!(e.timing, EventTiming { start: d(3, 2), end: d(3, 4) });
    assert_eq!(back.sync_key.as_ref(), Some(&key(1)));
}

#[tokio::test]
async fn someone_elses_event_is_read_only() {
    let org = common::org().await;
    let grace = org.fake.add_user("grace@example.com", "Grace", "Hopper", "America/New_York");
    let theirs = org
        .fake
        .insert("Event", json!({ "Subject": "Theirs", "OwnerId": grace, "StartDateTime": "2026-02-03T15:00:00Z", "DurationInMinutes": 30 }))
        .unwrap();
    let c = org.connector();
    let patch = vec![FieldChange { field: FieldKey::Subject, value: Some(FieldValue::Text("Mine".into())) }];
    let r = c
        .apply(E, &[WriteOp::Update { id: RecordId::new(theirs), expected: Version::default(), patch }])
        .await
        .unwrap();
    assert!(
        matches!(&r[0], Err(ConnectorError::Rejected { code, .. }) if code == "INSUFFICIENT_ACCESS_OR_READONLY"),
        "{r:?}"
    );
}

/// `apply_mixed`: contacts' and events' updates go in one `PATCH /composite/sobjects`, their
/// deletes in one `DELETE`; each object keeps its own version check and its own answers (a
/// stale event is refused without being sent, and the contact beside it is written).
#[tokio::test]
async fn contacts_and_events_updates_and_deletes_share_collection_requests() {
    let org = common::org().await;
    let ada = org.contact("Ada", "Lovelace", "ada@example.com");
    let grace = org.contact("Grace", "Hopper", "grace@example.com");
    let event = |subject: &str| {
        org.fake
            .insert(
                "Event",
                json!({ "Subject": subject, "StartDateTime": "2026-12-20T10:00:00Z", "DurationInMinutes": 60 }),
            )
            .unwrap()
    };
    let (review, standup, retro) = (event("Review"), event("Standup"), event("Retro"));
    let c = org.connector();
    let title = vec![FieldChange { field: FieldKey::Title, value: Some(FieldValue::Text("Countess".into())) }];
    let subject = |s: &str| vec![FieldChange { field: FieldKey::Subject, value: Some(FieldValue::Text(s.into())) }];
    let contacts = vec![
        WriteOp::Update { id: RecordId::new(ada.clone()), expected: Version::default(), patch: title },
        WriteOp::Delete { id: RecordId::new(grace.clone()), expected: Version::default() },
    ];
    let events = vec![
        WriteOp::Update {
            id: RecordId::new(review.clone()),
            expected: Version::default(),
            patch: subject("Design review"),
        },
        WriteOp::Update {
            id: RecordId::new(standup.clone()),
            expected: Version::new("2000-01-01T00:00:00.000+0000"),
            patch: subject("Never sent"),
        },
        WriteOp::Delete { id: RecordId::new(retro.clone()), expected: Version::default() },
    ];
    let answers = c.apply_mixed(&[(C, contacts), (E, events)]).await;
    let contacts = answers[0].as_ref().unwrap();
    let events = answers[1].as_ref().unwrap();
    assert!(contacts.iter().all(Result::is_ok), "{contacts:?}");
    assert!(events[0].is_ok() && events[2].is_ok(), "{events:?}");
    assert!(matches!(events[1], Err(ConnectorError::PreconditionFailed { .. })), "{events:?}");
    assert_eq!(org.count(UPDATE.0, UPDATE.1), 1, "one update request for both objects");
    assert_eq!(org.count(DELETE.0, DELETE.1), 1, "one delete request for both objects");
    assert_eq!(org.fake.get("Contact", &ada).unwrap()["Title"], "Countess");
    assert_eq!(org.fake.get("Event", &review).unwrap()["Subject"], "Design review");
    assert_eq!(org.fake.get("Event", &standup).unwrap()["Subject"], "Standup");
    assert!(org.fake.get("Contact", &grace).is_none() && org.fake.get("Event", &retro).is_none());

    // 150 contact updates and 100 event updates exceed one collection's 200 records: two
    // requests, neither batch split between them.
    let many: Vec<String> =
        (0..150).map(|i| org.contact("P", &format!("P{i}"), &format!("p{i}@example.com"))).collect();
    let meetings: Vec<String> = (0..100).map(|i| event(&format!("M{i}"))).collect();
    let title = |t: &str| vec![FieldChange { field: FieldKey::Title, value: Some(FieldValue::Text(t.into())) }];
    let contacts: Vec<WriteOp> = many
        .iter()
        .map(|id| WriteOp::Update { id: RecordId::new(id.clone()), expected: Version::default(), patch: title("T") })
        .collect();
    let events: Vec<WriteOp> = meetings
        .iter()
        .map(|id| WriteOp::Update { id: RecordId::new(id.clone()), expected: Version::default(), patch: subject("S") })
        .collect();
    let answers = c.apply_mixed(&[(C, contacts), (E, events)]).await;
    assert!(answers.iter().all(|a| a.as_ref().unwrap().iter().all(Result::is_ok)));
    assert_eq!(org.count(UPDATE.0, UPDATE.1), 3);
    assert!(meetings.iter().all(|id| org.fake.get("Event", id).unwrap()["Subject"] == "S"));
}
