//! The connector driven by the engine, with the in-memory connector as the mailbox and SQLite
//! state: two-way sync, a create replayed after a crash, the API budget, quarantine per record.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;
use tandem_testkit::faults::LosesAnswers;

use chrono::NaiveDate;
use serde_json::json;
use tandem_connector::Connector;
use tandem_connector::http::ManualClock;
use tandem_connector::memory::MemoryConnector;
use tandem_core::config::CustomFieldMapping;
use tandem_core::model::{
    Contact, EmailAddress, Event, EventTime, EventTiming, ObjectKind, PostalAddress, Record, Recurrence,
};
use tandem_core::state::RecordId;
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_policy::Policy;
use tandem_salesforce::SalesforceConnector;
use tandem_store::SqliteStore;

const C: ObjectKind = ObjectKind::Contact;
const E: ObjectKind = ObjectKind::Event;
const USER: &str = "ada@example.com";

async fn engine() -> Engine {
    Engine::new(Arc::new(SqliteStore::in_memory().await.unwrap())).with_policy(Arc::new(Policy::for_loopback_tests()))
}

fn sync_config() -> SyncConfig {
    let mut config = SyncConfig::named("sales");
    // These tests use fixed dates; the sync window has tests of its own.
    config.events.window = None;
    config.contacts.fields.custom.push(CustomFieldMapping {
        name: "region".into(),
        crm: "Region__c".into(),
        mailbox: "region".into(),
    });
    config
}

fn job(crm: Arc<dyn Connector>, mailbox: &MemoryConnector) -> UserSync {
    UserSync::new(USER, sync_config(), crm, Arc::new(mailbox.clone()))
}

fn contacts() -> SyncOptions {
    SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() }
}

fn person(given: &str, family: &str) -> Record {
    Record::Contact(Contact {
        given_name: Some(given.into()),
        family_name: Some(family.into()),
        emails: vec![EmailAddress {
            kind: Default::default(),
            address: format!("{}.{}@example.com", given.to_lowercase(), family.to_lowercase()),
        }],
        ..Contact::default()
    })
}

fn family_names(m: &MemoryConnector) -> Vec<String> {
    let mut names: Vec<String> = m
        .records(C)
        .into_iter()
        .map(|(_, r)| match r {
            Record::Contact(c) => c.family_name.unwrap_or_default(),
            _ => String::new(),
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn two_way_contacts_link_create_update_and_settle() {
    let org = common::org().await;
    let account = org.fake.insert("Account", json!({ "Name": "Analytical Engines" })).unwrap();
    let ada = org
        .fake
        .insert(
            "Contact",
            json!({ "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada.lovelace@example.com",
                    "AccountId": account, "Region__c": "EMEA", "MailingCity": "London" }),
        )
        .unwrap();
    org.contact("Grace", "Hopper", "grace.hopper@example.com");
    let mailbox = MemoryConnector::new("mailbox");
    // Already in the mailbox: linked by email, not duplicated.
    let ada_mb = mailbox.insert(person("Ada", "Lovelace"));
    mailbox.insert(person("Alan", "Turing"));

    let engine = engine().await;
    let crm: Arc<dyn Connector> = Arc::new(org.connector());
    let j = job(crm, &mailbox);
    let report = engine.sync_user(&j, &contacts()).await.unwrap();
    let o = report.object(C).unwrap();
    assert_eq!(o.planned("link"), 1, "{report}");
    assert_eq!(o.applied("create"), 2, "{report}");
    assert_eq!(org.fake.count("Contact"), 3);
    assert_eq!(family_names(&mailbox), ["Hopper", "Lovelace", "Turing"]);
    let turing = org.fake.find_by("Contact", "LastName", "Turing");
    assert_eq!(turing.len(), 1);
    assert!(org.fake.get("Contact", &turing[0]).unwrap()["Tandem_Sync_Id__c"].as_str().unwrap().starts_with("tdm"));
    let hopper_mb = mailbox
        .records(C)
        .into_iter()
        .find(|(_, r)| matches!(r, Record::Contact(c) if c.family_name.as_deref() == Some("Hopper")))
        .unwrap();

    // Settling: Tandem's own writes come back once and change nothing.
    engine.sync_user(&j, &contacts()).await.unwrap();
    let quiet = engine.sync_user(&j, &contacts()).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");

    // A Salesforce edit reaches the mailbox; a mailbox edit reaches Salesforce.
    org.fake.update("Contact", &ada, json!({ "Title": "Countess", "Region__c": "UK" })).unwrap();
    mailbox.edit(C, &hopper_mb.0, |r| {
        if let Record::Contact(c) = r {
            c.department = Some("Navy".into());
            c.addresses = vec![PostalAddress { city: Some("Arlington".into()), ..PostalAddress::default() }];
        }
    });
    let report = engine.sync_user(&j, &contacts()).await.unwrap();
    assert_eq!(report.object(C).unwrap().applied("update"), 2, "{report}");
    let Some(Record::Contact(m)) = mailbox.get(C, &ada_mb) else { panic!() };
    assert_eq!(m.title.as_deref(), Some("Countess"));
    assert_eq!(m.custom.get("region").map(String::as_str), Some("UK"));
    let hopper = org.fake.find_by("Contact", "LastName", "Hopper");
    let stored = org.fake.get("Contact", &hopper[0]).unwrap();
    assert_eq!(stored["Department"], "Navy");
    assert_eq!(stored["MailingCity"], "Arlington");
    engine.sync_user(&j, &contacts()).await.unwrap();
    let quiet = engine.sync_user(&j, &contacts()).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
}

#[tokio::test]
async fn a_create_replayed_after_a_crash_does_not_duplicate() {
    let org = common::org().await;
    let mailbox = MemoryConnector::new("mailbox");
    for i in 0..5 {
        mailbox.insert(person("P", &format!("Person{i}")));
    }
    let engine = engine().await;
    let crm = Arc::new(LosesAnswers::new(Arc::new(org.connector()), 1));
    let j = job(crm, &mailbox);
    let first = engine.sync_user(&j, &contacts()).await.unwrap();
    assert_eq!(first.object(C).unwrap().failed.len(), 5, "{first}");
    assert_eq!(org.fake.count("Contact"), 5, "the creates landed although the answer was lost");
    let second = engine.sync_user(&j, &contacts()).await.unwrap();
    assert_eq!(second.recovered_intents, 5, "{second}");
    assert_eq!(org.fake.count("Contact"), 5, "no duplicate");
    let third = engine.sync_user(&j, &contacts()).await.unwrap();
    assert_eq!(org.fake.count("Contact"), 5);
    assert_eq!(third.object(C).unwrap().applied("create"), 0);
    assert_eq!(mailbox.len(C), 5);
    assert_eq!(engine.store().pair_count(USER, C).await.unwrap(), 5);
}

#[tokio::test]
async fn the_sync_stops_at_the_api_budget_and_resumes_where_it_stopped() {
    let org = common::org().await;
    for i in 0..40 {
        org.contact("P", &format!("Person{i:02}"), &format!("p{i:02}@example.com"));
    }
    org.fake.set_page_size(5);
    org.fake.set_daily_limit(100);
    org.fake.set_api_usage(85);
    let clock = ManualClock::new();
    let mut cfg = common::config(&org.fake, &org.server);
    cfg.budget.stop_at_share = 0.9;
    cfg.budget.recheck_after = Duration::from_secs(3600);
    let connector = Arc::new(SalesforceConnector::with_clock(cfg, common::http(), Arc::new(clock.clone())).unwrap());
    let mailbox = MemoryConnector::new("mailbox");
    let engine = engine().await;
    let j = UserSync::new(USER, sync_config(), connector.clone(), Arc::new(mailbox.clone()));

    let first = engine.sync_user(&j, &SyncOptions::default()).await.unwrap();
    let copied = mailbox.len(C);
    assert!(copied > 0 && copied < 40, "stopped part way: {copied} copied\n{first}");
    assert!(connector.budget_stopped());
    assert_eq!(connector.api_usage().map(|u| u.used), Some(90));
    assert_eq!(org.fake.api_usage().0, 90, "no request beyond the budget");

    // Still over budget: nothing is sent, nothing breaks, nothing is lost.
    let requests = org.fake.controls().total();
    let idle = engine.sync_user(&j, &SyncOptions::default()).await.unwrap();
    assert_eq!(org.fake.controls().total(), requests, "{idle}");
    assert_eq!(mailbox.len(C), copied);

    // The next day: usage is down, the recheck delay has passed.
    org.fake.set_api_usage(0);
    clock.advance(Duration::from_secs(3600));
    let resumed = engine.sync_user(&j, &SyncOptions::default()).await.unwrap();
    assert!(!connector.budget_stopped());
    assert_eq!(mailbox.len(C), 40, "{resumed}");
    let pulled = first.object(C).unwrap().pulled.get(&tandem_core::state::Side::Crm).copied().unwrap_or(0)
        + resumed.object(C).unwrap().pulled.get(&tandem_core::state::Side::Crm).copied().unwrap_or(0);
    assert_eq!(pulled, 40, "the second run carried on instead of starting over");
    assert_eq!(org.fake.count("Contact"), 40, "no duplicates in Salesforce");
    let quiet = engine.sync_user(&j, &SyncOptions::default()).await.unwrap();
    engine.sync_user(&j, &SyncOptions::default()).await.unwrap();
    assert_eq!(mailbox.len(C), 40, "{quiet}");
}

#[tokio::test]
async fn records_salesforce_rejects_are_quarantined_one_by_one() {
    let org = common::org().await;
    org.fake.insert_unchecked("Contact", json!({ "LastName": "Broken", "Birthdate": "1815-13-40" })).unwrap();
    let mailbox = MemoryConnector::new("mailbox");
    for i in 0..3 {
        mailbox.insert(person("Good", &format!("Person{i}")));
    }
    let long_postcode = mailbox.insert(Record::Contact(Contact {
        family_name: Some("Postcode".into()),
        addresses: vec![PostalAddress {
            postal_code: Some("1234567890-1234567890-1234".into()),
            ..PostalAddress::default()
        }],
        ..Contact::default()
    }));
    let bad_email = mailbox.insert(Record::Contact(Contact {
        family_name: Some("Mail".into()),
        emails: vec![EmailAddress { kind: Default::default(), address: "someone@localhost".into() }],
        ..Contact::default()
    }));
    let nameless =
        mailbox.insert(Record::Contact(Contact { given_name: Some("Nameless".into()), ..Contact::default() }));
    let engine = engine().await;
    let crm: Arc<dyn Connector> = Arc::new(org.connector());
    let report = engine.sync_user(&job(crm, &mailbox), &contacts()).await.unwrap();
    let o = report.object(C).unwrap();
    assert_eq!(o.applied("create"), 3, "{report}");
    let reason = |id: &RecordId| {
        o.quarantined
            .iter()
            .find(|q| &q.id == id)
            .map(|q| q.reason.clone())
            .unwrap_or_else(|| panic!("{id} not quarantined: {report}"))
    };
    assert!(reason(&long_postcode).contains("STRING_TOO_LONG"), "{}", reason(&long_postcode));
    assert!(reason(&bad_email).contains("INVALID_EMAIL_ADDRESS"), "{}", reason(&bad_email));
    assert!(reason(&nameless).contains("family_name"), "required by Salesforce: {}", reason(&nameless));
    assert!(
        o.quarantined.iter().any(|q| q.reason.contains("not a date")),
        "the unreadable Salesforce record: {report}"
    );
    assert_eq!(o.quarantined.len(), 4, "{report}");
    assert_eq!(org.fake.count("Contact"), 4, "three created, the broken one untouched");
}

fn event(subject: &str, timing: EventTiming) -> Record {
    Record::Event(Event { subject: Some(subject.into()), ..Event::at(timing) })
}

#[tokio::test]
async fn events_sync_both_ways_with_series_all_day_and_invitees() {
    let org = common::org().await;
    let guest = org.contact("Alan", "Turing", "alan@example.com");
    let meeting = org
        .fake
        .insert(
            "Event",
            json!({ "Subject": "Design review", "StartDateTime": "2026-02-02T10:00:00Z", "DurationInMinutes": 60 }),
        )
        .unwrap();
    org.fake.invite(&meeting, &guest, "Accepted").unwrap();
    org.fake
        .insert("Event", json!({ "Subject": "Holiday", "IsAllDayEvent": true, "ActivityDate": "2026-08-03", "DurationInMinutes": 7200 }))
        .unwrap();
    let mailbox = MemoryConnector::new("mailbox");
    let at = |day, h, zone: &str| EventTime::Zoned {
        local: NaiveDate::from_ymd_opt(2026, 3, day).unwrap().and_hms_opt(h, 0, 0).unwrap(),
        zone: zone.into(),
    };
    let mut standup =
        event("Standup", EventTiming { start: at(2, 9, "Europe/London"), end: at(2, 10, "Europe/London") });
    if let Record::Event(e) = &mut standup {
        e.recurrence = Some(Recurrence {
            rules: vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=6".into()],
            exdates: vec![at(9, 9, "Europe/London")],
            ..Recurrence::default()
        });
    }
    mailbox.insert(standup);
    // In another zone than the user's: Salesforce keeps UTC, so it reads back in the user's zone.
    mailbox
        .insert(event("Paris call", EventTiming { start: at(4, 15, "Europe/Paris"), end: at(4, 16, "Europe/Paris") }));
    let too_long = mailbox.insert(event(
        "Sabbatical",
        EventTiming {
            start: EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap() },
            end: EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap() },
        },
    ));

    let engine = engine().await;
    let crm: Arc<dyn Connector> = Arc::new(org.connector());
    let j = job(crm, &mailbox);
    let events = SyncOptions { objects: Some(vec![E]), ..SyncOptions::default() };
    let report = engine.sync_user(&j, &events).await.unwrap();
    let o = report.object(E).unwrap();
    assert_eq!(o.applied("create"), 4, "{report}");
    assert!(o.quarantined.iter().any(|q| q.id == too_long && q.reason.contains("20160")), "{report}");
    let review = mailbox
        .records(E)
        .into_iter()
        .find_map(|(_, r)| match r {
            Record::Event(e) if e.subject.as_deref() == Some("Design review") => Some(e),
            _ => None,
        })
        .unwrap();
    assert_eq!(review.attendees[0].email, "alan@example.com");
    let holiday = mailbox
        .records(E)
        .into_iter()
        .find_map(|(_, r)| match r {
            Record::Event(e) if e.subject.as_deref() == Some("Holiday") => Some(e),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        holiday.timing.end,
        EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 8, 8).unwrap() },
        "five days from the 3rd, end exclusive"
    );
    let series = org.fake.find_by("Event", "Subject", "Standup");
    let stored = org.fake.get("Event", &series[0]).unwrap();
    assert_eq!(stored["Recurrence2PatternText"], "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6\nEXDATE:20260309T090000Z");

    // Converges: the event written in Paris time comes back in London time once, then all is quiet.
    let mut writes = Vec::new();
    for _ in 0..4 {
        writes.push(engine.sync_user(&j, &events).await.unwrap().total_writes());
    }
    assert_eq!(writes[2..], [0, 0], "{writes:?}");
    assert_eq!(org.fake.count("Event"), 4, "two of Salesforce's, two from the mailbox");
    assert_eq!(mailbox.len(E), 5, "three of the mailbox's (one quarantined), two from Salesforce");
    assert!(writes[0] + writes[1] <= 1, "at most one rewrite of the Paris event's zone: {writes:?}");
}

#[tokio::test]
async fn hostile_events_are_quarantined_and_the_rest_syncs() {
    // Issue 8: a rule the `rrule` crate panicked on and a duration chrono overflowed on killed the
    // whole sync on every cycle, since the records stay in Salesforce.
    let org = common::org().await;
    let bad_rule = org
        .fake
        .insert_unchecked(
            "Event",
            json!({ "Subject": "Bad rule", "StartDateTime": "2026-02-02T10:00:00Z", "EndDateTime": "2026-02-02T11:00:00Z",
                    "IsRecurrence2": true, "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=ña",
                    "Recurrence2PatternTimeZone": "Europe/Paris" }),
        )
        .unwrap();
    let forever = org
        .fake
        .insert_unchecked(
            "Event",
            json!({ "Subject": "Forever", "StartDateTime": "2026-02-03T10:00:00Z", "EndDateTime": null,
                    "DurationInMinutes": i64::MAX }),
        )
        .unwrap();
    org.fake
        .insert(
            "Event",
            json!({ "Subject": "Design review", "StartDateTime": "2026-02-04T10:00:00Z", "DurationInMinutes": 60 }),
        )
        .unwrap();
    org.fake
        .insert("Event", json!({ "Subject": "Holiday", "IsAllDayEvent": true, "ActivityDate": "2026-08-03", "DurationInMinutes": 1440 }))
        .unwrap();
    let mailbox = MemoryConnector::new("mailbox");
    let at = |h| EventTime::Zoned {
        local: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(h, 0, 0).unwrap(),
        zone: "Europe/London".into(),
    };
    mailbox.insert(event("Mailbox call", EventTiming { start: at(9), end: at(10) }));

    let engine = engine().await;
    let crm: Arc<dyn Connector> = Arc::new(org.connector());
    // Fixed dates, whatever today is: no window.
    let mut config = sync_config();
    config.events.window = None;
    let j = UserSync::new(USER, config, crm, Arc::new(mailbox.clone()));
    let events = SyncOptions { objects: Some(vec![E]), ..SyncOptions::default() };
    let report = engine.sync_user(&j, &events).await.unwrap();
    let o = report.object(E).unwrap();
    let reason = |id: &str| {
        o.quarantined
            .iter()
            .find(|q| q.id.as_str() == id)
            .map(|q| q.reason.clone())
            .unwrap_or_else(|| panic!("{id} not quarantined: {report}"))
    };
    assert!(reason(&bad_rule).contains("recurrence rule"), "{}", reason(&bad_rule));
    assert!(reason(&forever).contains("DurationInMinutes"), "{}", reason(&forever));
    assert_eq!(o.quarantined.len(), 2, "{report}");
    assert_eq!(
        o.applied("create"),
        3,
        "two Salesforce events to the mailbox, one mailbox event to Salesforce: {report}"
    );
    let mut subjects: Vec<String> = mailbox
        .records(E)
        .into_iter()
        .filter_map(|(_, r)| match r {
            Record::Event(e) => e.subject,
            _ => None,
        })
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["Design review", "Holiday", "Mailbox call"]);
    assert_eq!(org.fake.find_by("Event", "Subject", "Mailbox call").len(), 1);

    // The bad records are still there next cycle: still no panic, nothing else moves.
    engine.sync_user(&j, &events).await.unwrap();
    let quiet = engine.sync_user(&j, &events).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
    assert_eq!(mailbox.len(E), 3);
}
