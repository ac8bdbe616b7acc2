//! Salesforce ⇄ Microsoft Graph through the engine, both fakes on loopback, the real connectors:
//! what each side holds after a round trip, and that quiet cycles write nothing (issue 8:
//! addresses of kinds Salesforce cannot hold, series with moved occurrences).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::{Value, json};
use tandem::connector::http::HttpClient;
use tandem::graph::{GraphAuth, GraphConfig, GraphConnector};
use tandem::policy::Method;
use tandem::prelude::*;
use tandem::salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector};
use tandem_testkit::graph::{GraphFake, GraphState};
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::FakeServer;

const MAILBOX: &str = "ann@contoso.example";
const CLIENT: &str = "99999999-8888-7777-6666-555555555555";
const GRAPH_SECRET: &str = "test-graph-client-secret";
const FOLDER: &str = "Tandem";

struct World {
    org: SalesforceFake,
    _org_server: FakeServer,
    graph: GraphFake,
    engine: Engine,
    job: UserSync,
}

async fn world() -> World {
    let (org, org_server) = SalesforceFake::start().await.unwrap();
    let graph = GraphFake::start().await.unwrap();
    graph.state().add_mailbox(MAILBOX, "Ann");
    graph.state().register_client_secret(CLIENT, GRAPH_SECRET);
    let salesforce = SalesforceConnector::new(
        SalesforceConfig::new(
            AuthConfig::JwtBearer {
                consumer_key: org.config().consumer_key,
                username: org.user().username,
                private_key_pem: tandem::connector::http::Secret::new(keys::TEST_RSA_KEY_PEM),
            },
            url::Url::parse(&org_server.base_url()).unwrap(),
        ),
        HttpClient::with_defaults().unwrap(),
    )
    .unwrap();
    let mailbox = GraphConnector::with_defaults(
        GraphConfig::new(
            graph.state().config().tenant,
            MAILBOX,
            GraphAuth::ClientSecret {
                client_id: CLIENT.into(),
                secret: tandem::connector::http::Secret::new(GRAPH_SECRET),
            },
        )
        .with_authority(graph.base_url())
        .with_graph_base(graph.graph_url()),
    )
    .unwrap();
    let mut policy = Policy::for_loopback_tests();
    if let Some(rules) = policy.providers.get_mut("graph") {
        rules.methods.insert(Method::ClientCredentialsSecret);
    }
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::new(store).with_policy(Arc::new(policy));
    let job = UserSync::new(MAILBOX, SyncConfig::named("issue8"), Arc::new(salesforce), Arc::new(mailbox));
    World { org, _org_server: org_server, graph, engine, job }
}

fn only(object: ObjectKind) -> SyncOptions {
    SyncOptions { objects: Some(vec![object]), ..SyncOptions::default() }
}

/// Graph writes received so far: batch items that are not reads.
fn graph_writes(w: &World) -> u64 {
    w.graph
        .state()
        .counts()
        .iter()
        .filter(|(k, _)| k.starts_with("$batch: ") && !k.starts_with("$batch: GET"))
        .map(|(_, v)| *v)
        .sum()
}

/// Salesforce writes received so far: sObject collection requests.
fn salesforce_writes(w: &World) -> u64 {
    let c = w.org.controls();
    ["POST", "PATCH", "DELETE"]
        .iter()
        .map(|m| {
            c.count(m, "/services/data/{version}/composite/sobjects")
                + c.count(m, "/services/data/{version}/composite/sobjects/{sobject}/{field}")
        })
        .sum()
}

fn address(street: &str, city: &str) -> Value {
    json!({ "street": street, "city": city, "state": "", "postalCode": "", "countryOrRegion": "" })
}

/// Three more cycles after the one that wrote: the first reads Tandem's own writes back
/// (Salesforce reports no version after a write), and none writes anything to either side.
async fn assert_quiet(w: &World, object: ObjectKind) {
    let (graph_before, sf_before) = (graph_writes(w), salesforce_writes(w));
    for _ in 0..3 {
        let quiet = w.engine.sync_user(&w.job, &only(object)).await.unwrap();
        assert_eq!(quiet.total_writes(), 0, "{quiet}");
    }
    assert_eq!(graph_writes(w), graph_before, "Graph writes in quiet cycles: {:?}", w.graph.state().counts());
    assert_eq!(salesforce_writes(w), sf_before, "Salesforce writes in quiet cycles");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_only_outlook_contact_round_trips_and_stays_quiet() {
    let w = world().await;
    let id = w
        .graph
        .state()
        .seed_contact(
            MAILBOX,
            Some(FOLDER),
            json!({ "givenName": "Hal", "surname": "Home", "homeAddress": address("1 Elm St", "Springfield") }),
        )
        .unwrap();
    let first = w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_eq!(first.object(ObjectKind::Contact).unwrap().applied("create"), 1, "{first}");
    let sf = w.org.find_by("Contact", "LastName", "Home");
    let row = w.org.get("Contact", &sf[0]).unwrap();
    assert_eq!(row["OtherCity"], "Springfield", "home goes to Salesforce's Other address: {row}");
    assert!(row.get("MailingCity").is_none_or(Value::is_null), "never converted to Mailing: {row}");

    assert_quiet(&w, ObjectKind::Contact).await;
    let c = w.graph.state().contact(MAILBOX, &id).unwrap();
    assert_eq!(c["homeAddress"]["city"], "Springfield", "{c}");
    assert!(c["businessAddress"].get("city").is_none_or(|v| v.is_null() || v == ""), "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlook_business_home_and_other_addresses_keep_their_kinds() {
    let w = world().await;
    let id = w
        .graph
        .state()
        .seed_contact(
            MAILBOX,
            Some(FOLDER),
            json!({ "givenName": "Tri", "surname": "Address",
                    "businessAddress": address("1 Work Rd", "Worktown"),
                    "homeAddress": address("2 Home Ln", "Hometown"),
                    "otherAddress": address("3 Other Ave", "Otherville") }),
        )
        .unwrap();
    w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    let sf = w.org.find_by("Contact", "LastName", "Address");
    let row = w.org.get("Contact", &sf[0]).unwrap();
    assert_eq!(row["MailingCity"], "Worktown", "{row}");
    assert_eq!(row["OtherCity"], "Hometown", "{row}");

    assert_quiet(&w, ObjectKind::Contact).await;
    let c = w.graph.state().contact(MAILBOX, &id).unwrap();
    assert_eq!(c["businessAddress"]["city"], "Worktown", "{c}");
    assert_eq!(c["homeAddress"]["city"], "Hometown", "{c}");
    assert_eq!(c["otherAddress"]["city"], "Otherville", "Outlook's other address is never blanked: {c}");

    // A Salesforce edit of the home address reaches Outlook's home address only.
    w.org.update("Contact", &sf[0], json!({ "OtherCity": "Newtown" })).unwrap();
    w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    let c = w.graph.state().contact(MAILBOX, &id).unwrap();
    assert_eq!(c["homeAddress"]["city"], "Newtown", "{c}");
    assert_eq!(c["businessAddress"]["city"], "Worktown", "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_address_edit_keeps_the_outlook_other_address() {
    let w = world().await;
    let id = w
        .graph
        .state()
        .seed_contact(
            MAILBOX,
            Some(FOLDER),
            json!({ "givenName": "Otto", "surname": "Other",
                    "businessAddress": address("1 Work Rd", "Worktown"),
                    "otherAddress": address("3 Other Ave", "Otherville") }),
        )
        .unwrap();
    w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_quiet(&w, ObjectKind::Contact).await;
    let sf = w.org.find_by("Contact", "LastName", "Other");
    w.org.update("Contact", &sf[0], json!({ "MailingCity": "Movedtown" })).unwrap();
    let graph_before = graph_writes(&w);
    let edit = w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_eq!(edit.total_writes(), 1, "one update of the Outlook contact: {edit}");
    assert_eq!(graph_writes(&w), graph_before + 1);
    let c = w.graph.state().contact(MAILBOX, &id).unwrap();
    assert_eq!(c["businessAddress"]["city"], "Movedtown", "{c}");
    assert_eq!(c["otherAddress"]["city"], "Otherville", "Outlook's other address is never blanked: {c}");
    assert!(c["homeAddress"].get("city").is_none_or(|v| v.is_null() || v == ""), "nothing became home: {c}");
    assert_quiet(&w, ObjectKind::Contact).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_mailing_and_other_addresses_reach_outlook_business_and_home() {
    let w = world().await;
    w.org
        .insert(
            "Contact",
            json!({ "FirstName": "Sal", "LastName": "Force", "Email": "sal@example.com",
                    "MailingStreet": "1 Work Rd", "MailingCity": "Worktown",
                    "OtherStreet": "2 Home Ln", "OtherCity": "Hometown" }),
        )
        .unwrap();
    w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    let contacts = w.graph.state().contacts(MAILBOX);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["businessAddress"]["city"], "Worktown", "{}", contacts[0]);
    assert_eq!(contacts[0]["homeAddress"]["city"], "Hometown", "{}", contacts[0]);
    assert_quiet(&w, ObjectKind::Contact).await;
}

fn next_monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(7);
    while d.weekday() != Weekday::Mon {
        d += Duration::days(1);
    }
    d
}

fn utc(d: NaiveDate, h: u32, m: u32) -> String {
    format!("{}T{h:02}:{m:02}:00.000+0000", d.format("%Y-%m-%d"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_series_with_a_moved_occurrence_is_one_outlook_series_with_one_exception() {
    let w = world().await;
    let monday = next_monday();
    let second = monday + Duration::weeks(1);
    // 09:00 UTC every Monday, six times; the second occurrence moved to 11:00-11:30 that day.
    let series = w
        .org
        .insert(
            "Event",
            json!({ "Subject": "Standup", "StartDateTime": utc(monday, 9, 0), "EndDateTime": utc(monday, 9, 30),
                    "IsRecurrence2": true, "Recurrence2PatternTimeZone": "UTC",
                    "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6" }),
        )
        .unwrap();
    w.org.move_occurrence(&series, &utc(second, 11, 0), &utc(second, 11, 30)).unwrap();

    let first = w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    let e = first.object(ObjectKind::Event).unwrap();
    assert_eq!(e.applied("create"), 1, "one series, no extra single event: {first}");
    let events = w.graph.state().events(MAILBOX);
    let masters: Vec<&Value> = events.iter().filter(|e| e["type"] == "seriesMaster").collect();
    let singles: Vec<&Value> = events.iter().filter(|e| e["type"] == "singleInstance").collect();
    assert_eq!(masters.len(), 1, "{events:?}");
    assert!(singles.is_empty(), "the moved occurrence is not a single event: {singles:?}");
    let exceptions = masters[0]["exceptionOccurrences"].as_array().cloned().unwrap_or_default();
    assert_eq!(exceptions.len(), 1, "{}", masters[0]);
    let master_id = masters[0]["id"].as_str().unwrap().to_owned();
    let moved = w
        .graph
        .state()
        .event(MAILBOX, &GraphState::occurrence_id(&master_id, second))
        .unwrap_or_else(|| exceptions[0].clone());
    assert!(moved["start"]["dateTime"].as_str().unwrap().contains("T11:00"), "{moved}");

    assert_quiet(&w, ObjectKind::Event).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outlook_series_with_a_moved_occurrence_written_to_salesforce_stays_quiet() {
    let w = world().await;
    let monday = next_monday();
    let second = monday + Duration::weeks(1);
    let at = |d: NaiveDate, t: &str| json!({ "dateTime": format!("{}T{t}", d.format("%Y-%m-%d")), "timeZone": "UTC" });
    let master = w
        .graph
        .state()
        .seed_event(
            MAILBOX,
            json!({
                "subject": "Review",
                "start": at(monday, "14:00:00"), "end": at(monday, "15:00:00"),
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
                    "range": {"type": "numbered", "startDate": monday.format("%Y-%m-%d").to_string(),
                              "numberOfOccurrences": 6, "recurrenceTimeZone": "UTC"}
                }
            }),
        )
        .unwrap();
    w.graph
        .state()
        .edit_event(
            MAILBOX,
            &GraphState::occurrence_id(&master, second),
            json!({"start": at(second, "16:00:00"), "end": at(second, "17:00:00")}),
        )
        .unwrap();
    let first = w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    assert_eq!(first.object(ObjectKind::Event).unwrap().applied("create"), 1, "{first}");
    assert_eq!(w.org.find_by("Event", "Subject", "Review").len(), 1);

    assert_quiet(&w, ObjectKind::Event).await;
    let stored = w.graph.state().event(MAILBOX, &master).unwrap();
    assert_eq!(stored["exceptionOccurrences"].as_array().map_or(0, Vec::len), 1, "{stored}");
}

/// An engine on the same store and policy that rechecks unresolved items every cycle.
fn eager(w: &World) -> Engine {
    let options = tandem::engine::EngineOptions {
        unresolved_recheck_interval: std::time::Duration::ZERO,
        ..tandem::engine::EngineOptions::default()
    };
    Engine::with(w.engine.store().clone(), Arc::new(tandem::engine::SystemClock), options)
        .with_policy(w.engine.policy().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outlook_company_links_its_account_once_the_account_exists_and_outlook_keeps_it_meanwhile() {
    let w = world().await;
    let engine = eager(&w);
    let id = w
        .graph
        .state()
        .seed_contact(MAILBOX, Some(FOLDER), json!({ "givenName": "Gil", "surname": "Globe", "companyName": "Globex" }))
        .unwrap();
    let first = engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert!(first.to_string().contains("UNRESOLVED"), "{first}");
    let sf = w.org.find_by("Contact", "LastName", "Globe");
    assert!(w.org.get("Contact", &sf[0]).unwrap()["AccountId"].is_null());
    let items = engine.unresolved(MAILBOX).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item.kind, tandem::core::state::UnresolvedKind::AccountNotFound);

    // Meanwhile nothing moves, and Outlook keeps its company.
    for _ in 0..2 {
        let quiet = engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
        assert_eq!(quiet.total_writes(), 0, "{quiet}");
    }
    assert_eq!(w.graph.state().contact(MAILBOX, &id).unwrap()["companyName"], "Globex");

    // The Account appears: the next cycle links it, and the item is gone.
    let account = w.org.insert("Account", json!({ "Name": "GLOBEX" })).unwrap();
    engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_eq!(w.org.get("Contact", &sf[0]).unwrap()["AccountId"], account);
    assert!(engine.unresolved(MAILBOX).await.unwrap().is_empty());
    // Outlook follows the Account's name; then all is quiet.
    engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_eq!(w.graph.state().contact(MAILBOX, &id).unwrap()["companyName"], "GLOBEX");
    assert_quiet(&w, ObjectKind::Contact).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attendees_sync_both_ways_and_outlook_keeps_those_salesforce_cannot_hold() {
    let w = world().await;
    let grace = w.org.insert("Contact", json!({ "LastName": "Hopper", "Email": "grace@example.com" })).unwrap();
    let alan = w.org.insert("Contact", json!({ "LastName": "Turing", "Email": "alan@example.com" })).unwrap();
    let day = next_monday();
    let at = |t: &str| json!({ "dateTime": format!("{}T{t}", day.format("%Y-%m-%d")), "timeZone": "UTC" });
    let person = |email: &str| json!({ "type": "required", "emailAddress": { "address": email, "name": email } });
    let id = w
        .graph
        .state()
        .seed_event(
            MAILBOX,
            json!({
                "subject": "Planning", "start": at("10:00:00"), "end": at("11:00:00"),
                "attendees": [person("grace@example.com"), person("stranger@elsewhere.example")]
            }),
        )
        .unwrap();
    let first = w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    assert_eq!(first.object(ObjectKind::Event).unwrap().applied("create"), 1, "{first}");
    let event = w.org.find_by("Event", "Subject", "Planning")[0].clone();
    let invitees = |w: &World| -> Vec<String> {
        let mut ids: Vec<String> = w
            .org
            .records("EventRelation")
            .into_iter()
            .filter(|r| r["EventId"] == event.as_str() && r["IsInvitee"] == true)
            .map(|r| r["RelationId"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(invitees(&w), vec![grace.clone()]);
    assert!(first.to_string().contains("stranger@elsewhere.example"), "{first}");
    assert_quiet(&w, ObjectKind::Event).await;

    // Salesforce invites Alan: Outlook gets him and keeps the stranger.
    w.org.invite(&event, &alan, "New").unwrap();
    // Changing invitees does not touch the event in the fake, as in Salesforce: an edit brings it.
    w.org.update("Event", &event, json!({ "Location": "Room 1" })).unwrap();
    w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    let stored = w.graph.state().event(MAILBOX, &id).unwrap();
    let mut emails: Vec<String> = stored["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["emailAddress"]["address"].as_str().unwrap().to_lowercase())
        .collect();
    emails.sort();
    assert_eq!(emails, ["alan@example.com", "grace@example.com", "stranger@elsewhere.example"], "{stored}");

    // Outlook removes Grace: Salesforce's invitation goes, Alan's stays.
    w.graph
        .state()
        .edit_event(
            MAILBOX,
            &id,
            json!({ "attendees": [person("alan@example.com"), person("stranger@elsewhere.example")] }),
        )
        .unwrap();
    w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    assert_eq!(invitees(&w), vec![alan]);
    assert_quiet(&w, ObjectKind::Event).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outlook_copy_of_someone_elses_meeting_is_not_copied_to_salesforce() {
    let w = world().await;
    let day = next_monday();
    let at = |t: &str| json!({ "dateTime": format!("{}T{t}", day.format("%Y-%m-%d")), "timeZone": "UTC" });
    w.graph
        .state()
        .seed_event(
            MAILBOX,
            json!({
                "subject": "Their meeting", "start": at("10:00:00"), "end": at("11:00:00"),
                "organizer": { "emailAddress": { "address": "bob@fabrikam.example", "name": "Bob" } }
            }),
        )
        .unwrap();
    w.graph
        .state()
        .seed_event(MAILBOX, json!({ "subject": "My meeting", "start": at("12:00:00"), "end": at("13:00:00") }))
        .unwrap();
    let report = w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    assert_eq!(report.object(ObjectKind::Event).unwrap().applied("create"), 1, "{report}");
    assert_eq!(w.org.find_by("Event", "Subject", "My meeting").len(), 1);
    assert!(w.org.find_by("Event", "Subject", "Their meeting").is_empty());
    assert_quiet(&w, ObjectKind::Event).await;
}
