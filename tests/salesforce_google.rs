//! Salesforce ⇄ Google Workspace through the engine, both fakes on loopback, the real connectors
//! (Salesforce with the JWT bearer flow, Google with a service account and domain-wide
//! delegation): a contact and an event each way, then quiet cycles that write nothing.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::{Value, json};
use tandem::connector::http::{HttpClient, RequestSpec, Secret};
use tandem::google::{GoogleConfig, GoogleConnector, ServiceAccountKey};
use tandem::prelude::*;
use tandem::salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector};
use tandem_testkit::google::{DEMO_ACCOUNT, DEMO_USER, GoogleFake, SCOPE_CONTACTS};
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::FakeServer;

const GROUP: &str = "Salesforce Sync";

struct World {
    org: SalesforceFake,
    _org_server: FakeServer,
    google: GoogleFake,
    google_server: FakeServer,
    engine: Engine,
    job: UserSync,
}

async fn world() -> World {
    let (org, org_server) = SalesforceFake::start().await.unwrap();
    let google = GoogleFake::demo();
    let google_server = FakeServer::start(tandem_testkit::google::router(google.clone())).await.unwrap();
    let salesforce = SalesforceConnector::new(
        SalesforceConfig::new(
            AuthConfig::JwtBearer {
                consumer_key: org.config().consumer_key,
                username: org.user().username,
                private_key_pem: Secret::new(keys::TEST_RSA_KEY_PEM),
            },
            url::Url::parse(&org_server.base_url()).unwrap(),
        ),
        HttpClient::with_defaults().unwrap(),
    )
    .unwrap();
    let key = Secret::new(
        json!({"type": "service_account", "client_email": DEMO_ACCOUNT, "private_key": keys::TEST_RSA_KEY_PEM})
            .to_string(),
    );
    let base = google_server.base_url();
    let base = base.trim_end_matches('/');
    let config = GoogleConfig::new(DEMO_USER)
        .with_endpoints(&format!("{base}/token"), &format!("{base}/calendar/v3"), &format!("{base}/v1"))
        .with_service_account(ServiceAccountKey::from_json(&key).unwrap());
    let workspace = GoogleConnector::new(config, HttpClient::with_defaults().unwrap()).unwrap();
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::new(store).with_policy(Arc::new(Policy::for_loopback_tests()));
    let job = UserSync::new(DEMO_USER, SyncConfig::named("google"), Arc::new(salesforce), Arc::new(workspace));
    World { org, _org_server: org_server, google, google_server, engine, job }
}

fn only(object: ObjectKind) -> SyncOptions {
    SyncOptions { objects: Some(vec![object]), ..SyncOptions::default() }
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

/// What Google holds (etags included): unchanged means nothing was written.
fn google_state(w: &World) -> (Vec<Value>, Vec<Value>) {
    (w.google.events(DEMO_USER), w.google.contacts(DEMO_USER))
}

/// Three more cycles: none writes anything to either side.
async fn assert_quiet(w: &World, object: ObjectKind) {
    let (google_before, sf_before) = (google_state(w), salesforce_writes(w));
    for _ in 0..3 {
        let quiet = w.engine.sync_user(&w.job, &only(object)).await.unwrap();
        assert_eq!(quiet.total_writes(), 0, "{quiet}");
    }
    assert_eq!(google_state(w), google_before, "Google writes in quiet cycles");
    assert_eq!(salesforce_writes(w), sf_before, "Salesforce writes in quiet cycles");
}

fn family(p: &Value) -> Option<&str> {
    p.pointer("/names/0/familyName").and_then(Value::as_str)
}

/// Adds a contact to the group as a person would in Google Contacts (`members:modify`).
async fn add_to_group(w: &World, group: &str, resource: &str) {
    let token = w.google.issue_token(DEMO_USER, &[SCOPE_CONTACTS]);
    let base = w.google_server.base_url();
    let url = url::Url::parse(&format!("{}/v1/{group}/members:modify", base.trim_end_matches('/'))).unwrap();
    let req = RequestSpec::post(url)
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({"resourceNamesToAdd": [resource]}));
    let response = HttpClient::with_defaults().unwrap().send_unmapped(req).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_each_way_then_quiet_cycles_write_nothing() {
    let w = world().await;
    // The first cycle creates the contact group and finds both sides empty.
    let first = w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_eq!(first.total_writes(), 0, "{first}");
    assert!(w.google.seed_contact_group(DEMO_USER, GROUP).is_err(), "the group exists after a first cycle");
    let group_id = find_group(&w).await;

    // A person adds Ada in Google Contacts, to the group; Grace is made in Salesforce.
    let ada = w.google.seed_contact(
        DEMO_USER,
        json!({"names": [{"givenName": "Ada", "familyName": "Lovelace"}],
               "emailAddresses": [{"value": "ada@example.com", "type": "work"}],
               "organizations": [{"name": "Analytical Engines", "title": "Analyst"}]}),
    );
    add_to_group(&w, &group_id, &ada).await;
    w.org
        .insert(
            "Contact",
            json!({ "FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com",
                    "Title": "Rear Admiral" }),
        )
        .unwrap();
    let report = w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_eq!(report.object(ObjectKind::Contact).unwrap().applied("create"), 2, "{report}");

    // Google → Salesforce.
    let sf = w.org.find_by("Contact", "LastName", "Lovelace");
    assert_eq!(sf.len(), 1);
    let row = w.org.get("Contact", &sf[0]).unwrap();
    assert_eq!(row["FirstName"], "Ada", "{row}");
    assert_eq!(row["Email"], "ada@example.com", "{row}");
    assert_eq!(row["Title"], "Analyst", "{row}");
    // Salesforce → Google, in the group.
    let contacts = w.google.contacts(DEMO_USER);
    let hopper: Vec<&Value> = contacts.iter().filter(|p| family(p) == Some("Hopper")).collect();
    assert_eq!(hopper.len(), 1, "{contacts:?}");
    assert_eq!(hopper[0].pointer("/names/0/givenName").and_then(Value::as_str), Some("Grace"));
    assert_eq!(hopper[0].pointer("/organizations/0/title").and_then(Value::as_str), Some("Rear Admiral"));
    let hopper_id = hopper[0]["resourceName"].as_str().unwrap().to_owned();
    let group_name = group_id.trim_start_matches("contactGroups/");
    assert!(w.google.group_members(DEMO_USER, group_name).contains(&hopper_id));
    assert_quiet(&w, ObjectKind::Contact).await;
}

/// The resource name of the sync group: listed by the API, found by name.
async fn find_group(w: &World) -> String {
    let token = w.google.issue_token(DEMO_USER, &[SCOPE_CONTACTS]);
    let base = w.google_server.base_url();
    let url = url::Url::parse(&format!("{}/v1/contactGroups", base.trim_end_matches('/'))).unwrap();
    let req = RequestSpec::get(url).header("Authorization", format!("Bearer {token}"));
    let response = HttpClient::with_defaults().unwrap().send_unmapped(req).await.unwrap();
    let body: Value = response.json().unwrap();
    body["contactGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == GROUP)
        .and_then(|g| g["resourceName"].as_str())
        .unwrap()
        .to_owned()
}

fn next_monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(7);
    while d.weekday() != Weekday::Mon {
        d += Duration::days(1);
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_each_way_then_quiet_cycles_write_nothing() {
    let w = world().await;
    let monday = next_monday();
    let tuesday = monday + Duration::days(1);
    let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    w.google
        .seed_event(
            DEMO_USER,
            None,
            json!({"summary": "Lunch with Ada", "location": "Cafeteria",
                   "start": {"dateTime": format!("{}T12:00:00Z", day(tuesday)), "timeZone": "UTC"},
                   "end": {"dateTime": format!("{}T13:00:00Z", day(tuesday)), "timeZone": "UTC"}}),
        )
        .unwrap();
    w.org
        .insert(
            "Event",
            json!({ "Subject": "Demo for Globex", "Location": "Room 1",
                    "StartDateTime": format!("{}T15:00:00.000+0000", day(tuesday)),
                    "EndDateTime": format!("{}T16:00:00.000+0000", day(tuesday)),
                    "DurationInMinutes": 60 }),
        )
        .unwrap();
    let first = w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    assert_eq!(first.object(ObjectKind::Event).unwrap().applied("create"), 2, "{first}");

    // Google → Salesforce.
    let lunch = w.org.find_by("Event", "Subject", "Lunch with Ada");
    assert_eq!(lunch.len(), 1);
    let row = w.org.get("Event", &lunch[0]).unwrap();
    assert!(row["StartDateTime"].as_str().unwrap().contains("T12:00"), "{row}");
    assert_eq!(row["Location"], "Cafeteria", "{row}");
    // Salesforce → Google, with the key and no notifications.
    let events = w.google.events(DEMO_USER);
    let demo: Vec<&Value> = events.iter().filter(|e| e["summary"] == "Demo for Globex").collect();
    assert_eq!(demo.len(), 1, "{events:?}");
    assert_eq!(demo[0]["location"], "Room 1");
    assert!(demo[0].pointer("/extendedProperties/private/tandemKey").is_some(), "{}", demo[0]);
    assert!(w.google.send_updates().iter().all(|s| s.value.as_deref() == Some("none")));
    assert_quiet(&w, ObjectKind::Event).await;
}
