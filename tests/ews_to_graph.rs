//! A mailbox synced over Exchange Web Services moves to Microsoft Graph with no resync, no
//! duplicate and no write (issue 11, "Migration to Graph"): 500 contacts and 500 events (weekly
//! series with a moved, a renamed and a cancelled occurrence among them) synced over EWS with the
//! real `tandem-ews` connector; the same mailbox imported into the Graph fake (the ids the two
//! fakes share); `tandem::migrate::ews_to_graph`; a cycle over the real `tandem-graph` connector
//! that writes nothing to either side; then edits on either side flow.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::json;
use tandem::connector::http::{HttpClient, Secret};
use tandem::core::model::{
    AddressKind, Attendee, AttendeeRole, EmailAddress, EventTime, EventTiming, Phone, PhoneKind, PostalAddress,
    Privacy, ResponseStatus, ShowAs,
};
use tandem::ews::{EwsAuth, EwsConfig, EwsConnector};
use tandem::graph::{GraphAuth, GraphConfig, GraphConnector};
use tandem::policy::Method;
use tandem::prelude::*;
use tandem_testkit::ews::{DEMO_ACCOUNT, DEMO_MAILBOX, DEMO_PASSWORD, EwsFake};
use tandem_testkit::graph::GraphFake;
use tandem_testkit::server::FakeServer;

const MAILBOX: &str = DEMO_MAILBOX;
const FOLDER: &str = "Salesforce_Sync";
const CLIENT: &str = "99999999-8888-7777-6666-555555555555";
const GRAPH_SECRET: &str = "test-graph-client-secret";
const NS_T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
const N: usize = 250;
const SERIES: usize = 20;

struct World {
    crm: MemoryConnector,
    ews: EwsFake,
    _ews_server: FakeServer,
    graph: GraphFake,
    graph_connector: Arc<GraphConnector>,
    engine: Engine,
    ews_job: UserSync,
    graph_job: UserSync,
}

async fn world() -> World {
    let crm = MemoryConnector::new("crm");
    let ews = EwsFake::demo();
    let ews_server = FakeServer::start(tandem_testkit::ews::router(ews.clone())).await.unwrap();
    let auth =
        EwsAuth::Ntlm { username: DEMO_ACCOUNT.into(), domain: String::new(), password: Secret::new(DEMO_PASSWORD) };
    let exchange = EwsConnector::new(
        EwsConfig::new(format!("{}/EWS/Exchange.asmx", ews_server.base_url()), MAILBOX, auth),
        HttpClient::with_defaults().unwrap(),
    )
    .unwrap();
    let graph = GraphFake::start().await.unwrap();
    graph.state().add_mailbox(MAILBOX, "Ann Demo");
    graph.state().register_client_secret(CLIENT, GRAPH_SECRET);
    let graph_connector = Arc::new(
        GraphConnector::with_defaults(
            GraphConfig::new(
                graph.state().config().tenant,
                MAILBOX,
                GraphAuth::ClientSecret { client_id: CLIENT.into(), secret: Secret::new(GRAPH_SECRET) },
            )
            .with_authority(graph.base_url())
            .with_graph_base(graph.graph_url())
            // The folder the EWS connector synced: the same folder, seen through Graph.
            .with_contact_folder(FOLDER),
        )
        .unwrap(),
    );
    let mut policy = Policy::for_loopback_tests();
    if let Some(rules) = policy.providers.get_mut("graph") {
        rules.methods.insert(Method::ClientCredentialsSecret);
    }
    let engine = Engine::new(Arc::new(SqliteStore::in_memory().await.unwrap())).with_policy(Arc::new(policy));
    let ews_job = UserSync::new(MAILBOX, SyncConfig::named("migration"), Arc::new(crm.clone()), Arc::new(exchange));
    let graph_job = UserSync::new(
        MAILBOX,
        SyncConfig::named("migration"),
        Arc::new(crm.clone()),
        Arc::clone(&graph_connector) as Arc<dyn Connector>,
    );
    World { crm, ews, _ews_server: ews_server, graph, graph_connector, engine, ews_job, graph_job }
}

fn next_weekday(from: NaiveDate, day: Weekday) -> NaiveDate {
    let mut d = from;
    while d.weekday() != day {
        d += Duration::days(1);
    }
    d
}

/// A contact as a person keeps it in the CRM.
fn crm_contact(i: usize) -> Record {
    let mut c = Contact {
        given_name: Some(format!("Crm{i}")),
        family_name: Some(format!("Person{i}")),
        company: Some(format!("Company {}", i % 17)),
        title: Some("Engineer".into()),
        department: Some(format!("Dept {}", i % 5)),
        notes: Some(format!("Met at conference {i}")),
        emails: vec![EmailAddress { kind: AddressKind::Work, address: format!("crm{i}@example.com") }],
        phones: vec![
            Phone { kind: PhoneKind::Business, number: format!("+1 555 01{i:04}") },
            Phone { kind: PhoneKind::Mobile, number: format!("+1 555 02{i:04}") },
        ],
        ..Contact::default()
    };
    if i.is_multiple_of(3) {
        c.addresses.push(PostalAddress {
            kind: AddressKind::Work,
            street: Some(format!("{i} Main St")),
            city: Some("Springfield".into()),
            region: Some("IL".into()),
            postal_code: Some("62701".into()),
            country: Some("United States".into()),
        });
        c.birthday = NaiveDate::from_ymd_opt(1980, 1 + (i % 12) as u32, 1 + (i % 28) as u32);
    }
    if i.is_multiple_of(4) {
        c.phones.push(Phone { kind: PhoneKind::Home, number: format!("+1 555 03{i:04}") });
        c.emails.push(EmailAddress { kind: AddressKind::Home, address: format!("crm{i}@home.example") });
    }
    Record::Contact(c)
}

/// A single event as a person keeps it in the CRM.
fn crm_event(i: usize, base: NaiveDate) -> Record {
    let day = base + Duration::days((i % 60) as i64);
    let timing = if i.is_multiple_of(10) {
        EventTiming { start: EventTime::AllDay { date: day }, end: EventTime::AllDay { date: day + Duration::days(1) } }
    } else {
        let zone = if i.is_multiple_of(2) { "Europe/Berlin" } else { "America/New_York" };
        let start = day.and_hms_opt(9 + (i % 8) as u32, 0, 0).unwrap();
        EventTiming {
            start: EventTime::Zoned { local: start, zone: zone.into() },
            end: EventTime::Zoned { local: start + Duration::minutes(45), zone: zone.into() },
        }
    };
    let mut e = Event {
        subject: Some(format!("CRM meeting {i}")),
        description: Some(format!("Agenda {i}")),
        location: Some(format!("Room {}", i % 9)),
        timing,
        categories: if i.is_multiple_of(5) { vec!["Customer".into()] } else { Vec::new() },
        show_as: if i.is_multiple_of(7) { ShowAs::Free } else { ShowAs::Busy },
        // Private events stay out of the CRM (the default policy's `data.private_events`).
        privacy: Privacy::Normal,
        recurrence: None,
        organizer: None,
        attendees: Vec::new(),
        crm_links: Vec::new(),
        ical_uid: None,
        custom: Default::default(),
    };
    if i.is_multiple_of(3) {
        e.attendees.push(Attendee {
            email: format!("guest{i}@example.com"),
            name: Some(format!("Guest {i}")),
            role: AttendeeRole::Required,
            response: ResponseStatus::NeedsAction,
        });
    }
    Record::Event(e)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A contact as a person keeps it in Outlook (over EWS), in the synced folder.
fn seed_ews_contact(ews: &EwsFake, folder: &str, i: usize) {
    let mut xml = format!(
        "<t:Contact xmlns:t=\"{NS_T}\"><t:Body BodyType=\"Text\">{}</t:Body><t:DisplayName>Ews{i} Contact{i}</t:DisplayName>\
         <t:GivenName>Ews{i}</t:GivenName><t:CompanyName>Outlook Co {}</t:CompanyName>\
         <t:EmailAddresses><t:Entry Key=\"EmailAddress1\">ews{i}@example.org</t:Entry></t:EmailAddresses>",
        esc(&format!("Notes for {i} & co")),
        i % 13
    );
    if i.is_multiple_of(2) {
        xml.push_str(
            "<t:PhysicalAddresses><t:Entry Key=\"Home\"><t:Street>5 Elm St</t:Street><t:City>Shelbyville</t:City>\
             <t:State>IL</t:State><t:CountryOrRegion>United States</t:CountryOrRegion><t:PostalCode>62565</t:PostalCode>\
             </t:Entry></t:PhysicalAddresses>",
        );
    }
    xml.push_str(&format!(
        "<t:PhoneNumbers><t:Entry Key=\"BusinessPhone\">+44 20 7946 {i:04}</t:Entry><t:Entry Key=\"MobilePhone\">+44 7700 9{i:05}</t:Entry></t:PhoneNumbers>"
    ));
    if i.is_multiple_of(3) {
        xml.push_str(&format!("<t:Birthday>1975-{:02}-{:02}T00:00:00Z</t:Birthday>", 1 + i % 12, 1 + i % 28));
    } else if i % 3 == 1 {
        // Outlook stores a birthday at local midnight: here the evening before in UTC (UTC+1).
        xml.push_str(&format!("<t:Birthday>1975-{:02}-{:02}T23:00:00Z</t:Birthday>", 1 + i % 12, 1 + i % 28));
    }
    xml.push_str(&format!(
        "<t:Department>Sales</t:Department><t:JobTitle>Manager {}</t:JobTitle><t:Surname>Contact{i}</t:Surname></t:Contact>",
        i % 4
    ));
    ews.seed_item_xml(MAILBOX, folder, &xml).unwrap();
}

/// An event as a person keeps it in Outlook (over EWS); the first [`SERIES`] are weekly series.
fn seed_ews_event(ews: &EwsFake, i: usize, base: NaiveDate) {
    let day = base + Duration::days((i % 50) as i64);
    let (zone, utc_offset) = if i < SERIES || i.is_multiple_of(2) { ("Tokyo Standard Time", 9) } else { ("UTC", 0) };
    let start = day.and_hms_opt(10 + (i % 6) as u32, 30, 0).unwrap() - Duration::hours(utc_offset);
    let end = start + Duration::hours(1);
    let fmt = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut xml = format!(
        "<t:CalendarItem xmlns:t=\"{NS_T}\"><t:Subject>Outlook meeting {i}</t:Subject>\
         <t:Body BodyType=\"Text\">Discussion {i}</t:Body>"
    );
    if i.is_multiple_of(4) {
        xml.push_str("<t:Categories><t:String>Blue Category</t:String></t:Categories>");
    }
    if i.is_multiple_of(9) {
        xml.push_str("<t:Sensitivity>Normal</t:Sensitivity>");
    }
    xml.push_str(&format!("<t:Start>{}</t:Start><t:End>{}</t:End>", fmt(start), fmt(end)));
    xml.push_str(&format!(
        "<t:IsAllDayEvent>false</t:IsAllDayEvent><t:LegacyFreeBusyStatus>{}</t:LegacyFreeBusyStatus><t:Location>Room {}</t:Location>",
        if i.is_multiple_of(6) { "Tentative" } else { "Busy" },
        i % 7
    ));
    if i.is_multiple_of(3) {
        xml.push_str(&format!(
            "<t:RequiredAttendees><t:Attendee><t:Mailbox><t:Name>Bob {i}</t:Name><t:EmailAddress>bob{i}@example.net</t:EmailAddress></t:Mailbox>\
             <t:ResponseType>Accept</t:ResponseType></t:Attendee></t:RequiredAttendees>"
        ));
    }
    if i < SERIES {
        let weekday = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
            [day.weekday().num_days_from_monday() as usize];
        xml.push_str(&format!(
            "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>{weekday}</t:DaysOfWeek>\
             </t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>{}</t:StartDate>\
             <t:NumberOfOccurrences>8</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence>",
            day.format("%Y-%m-%d")
        ));
    }
    xml.push_str(&format!("<t:StartTimeZone Id=\"{zone}\"/><t:EndTimeZone Id=\"{zone}\"/></t:CalendarItem>"));
    let item = ews.seed_item_xml(MAILBOX, "calendar", &xml).unwrap();
    if i < SERIES {
        // Occurrence 2 moved by an hour, occurrence 3 renamed, occurrence 5 cancelled.
        let second = start + Duration::days(7);
        ews.edit_occurrence(MAILBOX, &item.id, 2, "Start", Some(&fmt(second + Duration::hours(1)))).unwrap();
        ews.edit_occurrence(MAILBOX, &item.id, 2, "End", Some(&fmt(second + Duration::hours(2)))).unwrap();
        ews.edit_occurrence(MAILBOX, &item.id, 3, "Subject", Some(&format!("Outlook meeting {i} (special)"))).unwrap();
        ews.delete_occurrence(MAILBOX, &item.id, 5).unwrap();
    }
}

/// Graph writes received so far (plain requests and batch items that are not reads; the
/// translation is a read).
fn graph_writes(w: &World) -> u64 {
    w.graph
        .state()
        .counts()
        .iter()
        .filter(|(k, _)| {
            !k.contains("GET")
                && !k.contains("translateExchangeIds")
                && !k.contains("oauth2")
                && !k.starts_with("POST /$batch")
        })
        .map(|(_, v)| *v)
        .sum()
}

fn ews_writes(w: &World) -> u64 {
    ["CreateItem", "UpdateItem", "DeleteItem"].iter().map(|op| w.ews.count(op)).sum()
}

fn assert_no_writes(report: &SyncReport) {
    for object in ObjectKind::ALL {
        let o = report.object(object).unwrap();
        for kind in ["create", "update", "delete"] {
            assert_eq!(o.applied(kind), 0, "{object} {kind}s: {report}");
        }
    }
    assert_eq!(report.total_writes(), 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_synced_over_ews_moves_to_graph_without_writes() {
    let w = world().await;
    let base = next_weekday(Utc::now().date_naive() + Duration::days(3), Weekday::Mon);

    // 250 contacts and 250 events from each side.
    for i in 0..N {
        w.crm.insert(crm_contact(i));
        w.crm.insert(crm_event(i, base));
    }
    // The EWS connector creates its folder on the first read; seed Outlook's side after it.
    let first = w.engine.sync_user(&w.ews_job, &SyncOptions::default()).await.unwrap();
    assert_eq!(first.object(ObjectKind::Contact).unwrap().applied("create"), N, "{first}");
    let folder = w.ews.folder_id_by_name(MAILBOX, FOLDER).unwrap();
    for i in 0..N {
        seed_ews_contact(&w.ews, &folder, i);
        seed_ews_event(&w.ews, i, base);
    }
    let second = w.engine.sync_user(&w.ews_job, &SyncOptions::default()).await.unwrap();
    assert_eq!(second.object(ObjectKind::Contact).unwrap().applied("create"), N, "{second}");
    assert_eq!(second.object(ObjectKind::Event).unwrap().applied("create"), N, "{second}");
    assert_eq!(w.crm.len(ObjectKind::Contact), 2 * N);
    assert_eq!(w.crm.len(ObjectKind::Event), 2 * N);
    let settle = w.engine.sync_user(&w.ews_job, &SyncOptions::default()).await.unwrap();
    assert_no_writes(&settle);
    let pairs = w.engine.store().pair_count(MAILBOX, ObjectKind::Contact).await.unwrap()
        + w.engine.store().pair_count(MAILBOX, ObjectKind::Event).await.unwrap();
    assert_eq!(pairs, 4 * N);

    // The series reached the CRM with their moved, renamed and cancelled occurrences.
    let crm_series: Vec<Event> = w
        .crm
        .records(ObjectKind::Event)
        .into_iter()
        .filter_map(|(_, r)| match r {
            Record::Event(e) if e.recurrence.is_some() => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(crm_series.len(), SERIES);
    for e in &crm_series {
        let r = e.recurrence.as_ref().unwrap();
        assert_eq!((r.overrides.len(), r.cancelled.len()), (2, 1), "{e:?}");
    }

    // The same mailbox, reachable over Graph.
    let imported = w.graph.state().import_from_ews(&w.ews, MAILBOX).unwrap();
    assert_eq!((imported.contacts, imported.events), (2 * N, 2 * N));
    let series: Vec<_> = w.graph.state().events(MAILBOX).into_iter().filter(|e| e["type"] == "seriesMaster").collect();
    assert_eq!(series.len(), SERIES);
    for e in &series {
        assert_eq!(e["exceptionOccurrences"].as_array().map(Vec::len), Some(2), "{e}");
        assert_eq!(e["cancelledOccurrences"].as_array().map(Vec::len), Some(1), "{e}");
    }

    // Migrate: one translate call per 1000 ids, nothing written anywhere.
    let (ews_before, crm_before) = (ews_writes(&w), w.crm.counts().writes);
    w.graph.state().reset_counters();
    let migration = tandem::migrate::ews_to_graph(&w.engine, MAILBOX, &w.graph_connector).await.unwrap();
    assert_eq!(migration.translated, 4 * N);
    assert_eq!(migration.translate_calls, 1);
    assert_eq!(migration.repointed.total(), 4 * N);
    assert_eq!(w.graph.state().count("POST /users/{id}/translateExchangeIds"), 1, "{:?}", w.graph.state().counts());
    let audit = w.engine.store().audit_log(Some(MAILBOX), None, 100).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "repoint_mailbox"), "{audit:?}");

    // The first cycle over Graph reads everything, links everything, writes nothing.
    let over_graph = w.engine.sync_user(&w.graph_job, &SyncOptions::default()).await.unwrap();
    assert_no_writes(&over_graph);
    assert_eq!(graph_writes(&w), 0, "{:?}", w.graph.state().counts());
    assert_eq!(w.crm.counts().writes, crm_before);
    assert_eq!(ews_writes(&w), ews_before);
    assert_eq!(w.crm.len(ObjectKind::Contact), 2 * N);
    assert_eq!(w.crm.len(ObjectKind::Event), 2 * N);
    assert_eq!(w.graph.state().contacts(MAILBOX).len(), 2 * N);
    let quiet = w.engine.sync_user(&w.graph_job, &SyncOptions::default()).await.unwrap();
    assert_no_writes(&quiet);

    // An edit in Outlook (now over Graph) reaches the CRM.
    let contact = w.graph.state().contacts(MAILBOX).into_iter().find(|c| c["surname"] == "Contact7").unwrap();
    let id = contact["id"].as_str().unwrap().to_owned();
    w.graph.state().edit_contact(MAILBOX, &id, json!({"jobTitle": "Director"})).unwrap();
    let edited = w.engine.sync_user(&w.graph_job, &SyncOptions::default()).await.unwrap();
    assert_eq!(edited.object(ObjectKind::Contact).unwrap().applied("update"), 1, "{edited}");
    assert_eq!(edited.total_writes(), 1, "{edited}");
    let in_crm = w
        .crm
        .records(ObjectKind::Contact)
        .into_iter()
        .find(|(_, r)| matches!(r, Record::Contact(c) if c.family_name.as_deref() == Some("Contact7")))
        .unwrap();
    let Record::Contact(c) = &in_crm.1 else { unreachable!() };
    assert_eq!(c.title.as_deref(), Some("Director"));

    // So does an edit of an event.
    let event = w.graph.state().events(MAILBOX).into_iter().find(|e| e["subject"] == "Outlook meeting 31").unwrap();
    let event_id = event["id"].as_str().unwrap().to_owned();
    w.graph.state().edit_event(MAILBOX, &event_id, json!({"location": {"displayName": "Atrium"}})).unwrap();
    let moved = w.engine.sync_user(&w.graph_job, &SyncOptions::default()).await.unwrap();
    assert_eq!(moved.object(ObjectKind::Event).unwrap().applied("update"), 1, "{moved}");
    assert_eq!(moved.total_writes(), 1, "{moved}");
    assert!(w.crm.records(ObjectKind::Event).iter().any(|(_, r)| matches!(r,
        Record::Event(e) if e.subject.as_deref() == Some("Outlook meeting 31") && e.location.as_deref() == Some("Atrium"))));

    // An edit in the CRM reaches Outlook over Graph.
    let (crm_id, _) = w
        .crm
        .records(ObjectKind::Contact)
        .into_iter()
        .find(|(_, r)| matches!(r, Record::Contact(c) if c.family_name.as_deref() == Some("Person3")))
        .unwrap();
    w.crm.edit(ObjectKind::Contact, &crm_id, |r| {
        if let Record::Contact(c) = r {
            c.company = Some("Renamed Inc".into());
        }
    });
    let pushed = w.engine.sync_user(&w.graph_job, &SyncOptions::default()).await.unwrap();
    assert_eq!(pushed.object(ObjectKind::Contact).unwrap().applied("update"), 1, "{pushed}");
    let graph_contact = w.graph.state().contacts(MAILBOX).into_iter().find(|c| c["surname"] == "Person3").unwrap();
    assert_eq!(graph_contact["companyName"], "Renamed Inc");
    assert_eq!(w.graph.state().contacts(MAILBOX).len(), 2 * N);
    assert_no_writes(&w.engine.sync_user(&w.graph_job, &SyncOptions::default()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_graph_cannot_translate_changes_nothing() {
    let w = world().await;
    w.crm.insert(crm_contact(1));
    w.engine.sync_user(&w.ews_job, &SyncOptions::default()).await.unwrap();
    assert_eq!(w.engine.store().pair_count(MAILBOX, ObjectKind::Contact).await.unwrap(), 1);
    // An id without a translation: the engine refuses and changes nothing.
    let before = w.engine.store().all_pairs(MAILBOX, ObjectKind::Contact).await.unwrap();
    let mut map = std::collections::HashMap::new();
    map.insert(RecordIdAlias::new("unrelated"), RecordIdAlias::new("x"));
    let err = w.engine.repoint_mailbox(MAILBOX, &map, "test").await.unwrap_err();
    assert!(err.to_string().contains("no translation"), "{err}");
    assert_eq!(w.engine.store().all_pairs(MAILBOX, ObjectKind::Contact).await.unwrap(), before);
    // More than 1000 ids: one call per 1000.
    let folder = w.ews.folder_id_by_name(MAILBOX, FOLDER).unwrap();
    let ids: Vec<String> = w.ews.items(MAILBOX, &folder).into_iter().map(|i| i.id).collect();
    assert_eq!(ids.len(), 1);
    let many: Vec<String> = std::iter::repeat_n(ids[0].clone(), 2500).collect();
    w.graph.state().reset_counters();
    let translated = w.graph_connector.translate_exchange_ids(&many).await.unwrap();
    assert_eq!(translated.len(), 2500);
    assert!(translated.iter().all(|(_, t)| t.as_deref().is_some_and(|t| t.starts_with("AAkAL"))));
    assert_eq!(w.graph.state().count("POST /users/{id}/translateExchangeIds"), 3);
    // Over HTTP: ids Graph cannot translate come back without a target.
    let translated = w.graph_connector.translate_exchange_ids(&["AAMkAGarbage".to_owned()]).await.unwrap();
    assert_eq!(translated, vec![("AAMkAGarbage".to_owned(), None)]);
}

type RecordIdAlias = tandem::core::state::RecordId;
