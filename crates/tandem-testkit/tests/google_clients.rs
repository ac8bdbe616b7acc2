//! The Google fake checked from outside: Google's own Python client (`google-api-python-client`,
//! built from the discovery documents it ships, with `google-auth` service-account credentials and
//! domain-wide delegation) drives Calendar v3 and People v1 (`clients/google_apiclient.py`).
//!
//! It needs the clients virtualenv made by `.ci/clients-setup` (`TANDEM_CLIENTS_PYTHON`, by default
//! `<repo>/target/clients-venv/bin/python`), like `independent_clients.rs` and `ews_clients.rs`:
//! when it or the packages are missing the test fails under `CI` and otherwise passes with a loud
//! message.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod clients_common;

use clients_common::{python, run};
use serde_json::{Value, json};
use tandem_testkit::google::{GoogleFake, SCOPE_CALENDAR, SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS};
use tandem_testkit::keys::{TEST_RSA_CERT_PEM, TEST_RSA_KEY_PEM};

const SA: &str = "apiclient@tandem-test.iam.gserviceaccount.com";
const CLIENT: &str = "100000000000000000001";
const USER: &str = "ann@tandem-test.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_api_python_client_drives_the_google_fake() {
    let Some(python) = python(
        &["googleapiclient.discovery", "google.oauth2.service_account", "google_auth_httplib2"],
        "google-api-python-client, google-auth and google-auth-httplib2",
    ) else {
        return;
    };
    let (fake, server) = GoogleFake::start().await.unwrap();
    fake.add_service_account(SA, CLIENT, TEST_RSA_CERT_PEM);
    fake.add_user(USER);
    fake.grant_delegation(CLIENT, &[SCOPE_CALENDAR, SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS]);
    // Something to page through: three events (two pages of two) and three contacts.
    let mut seeded_events = Vec::new();
    for n in 1..=3 {
        let id = fake
            .seed_event(
                USER,
                Some(&format!("seeded0000{n}")),
                json!({"summary": format!("Seeded {n}"), "start": {"dateTime": format!("2026-02-0{n}T09:00:00Z")},
                       "end": {"dateTime": format!("2026-02-0{n}T10:00:00Z")}}),
            )
            .unwrap();
        seeded_events.push(id);
    }
    let seeded_contacts: Vec<String> = (1..=3)
        .map(|n| {
            fake.seed_contact(USER, json!({"names": [{"givenName": format!("Seeded{n}"), "familyName": "Person"}]}))
        })
        .collect();
    let env = vec![
        ("TANDEM_GOOGLE_URL", server.url("/")),
        ("TANDEM_GOOGLE_ACCOUNT", SA.to_owned()),
        ("TANDEM_GOOGLE_KEY", TEST_RSA_KEY_PEM.to_owned()),
        ("TANDEM_GOOGLE_USER", USER.to_owned()),
        ("TANDEM_GOOGLE_SEEDED_EVENTS", json!(seeded_events).to_string()),
        ("TANDEM_GOOGLE_SEEDED_CONTACTS", json!(seeded_contacts).to_string()),
    ];
    let summary = run(python, "google_apiclient.py", Vec::new(), env).await;
    let summary: Value = serde_json::from_str(summary.lines().last().unwrap()).unwrap();

    // What the library wrote is what the fake holds.
    let event_id = summary["calendar_event"]["id"].as_str().unwrap();
    let event = fake.event(USER, event_id).expect("event inserted");
    assert_eq!(event["location"], "Room 2", "{event}");
    assert_eq!(event["summary"], "Independent client review", "{event}");
    assert_eq!(event["etag"], summary["calendar_event"]["etag"], "{event}");
    assert_eq!(event["extendedProperties"]["private"]["tandemKey"], "k-1", "{event}");
    let temp = fake.event(USER, "tandemapiclient0002");
    assert!(temp.as_ref().is_none_or(|e| e["status"] == "cancelled"), "{temp:?}");
    // Every write said sendUpdates=none where the script asked for it.
    let sends = fake.send_updates();
    assert!(
        sends.iter().any(|s| s.method == "PATCH" && s.event_id == event_id && s.value.as_deref() == Some("none")),
        "{sends:?}"
    );

    let kept = summary["people"]["kept"].as_str().unwrap();
    let gone = summary["people"]["gone"].as_str().unwrap();
    let person = fake.contact(USER, kept).expect("contact created");
    assert_eq!(person["names"][0]["givenName"], "Kept", "{person}");
    assert_eq!(person["organizations"][0]["title"], "Architect", "{person}");
    assert_eq!(person["clientData"][0]["value"], "c-1", "{person}");
    assert!(fake.contact(USER, gone).is_none(), "deleted contact still there");
    assert_eq!(fake.contacts(USER).len(), seeded_contacts.len() + 1);
    let group = summary["people"]["group"].as_str().unwrap().strip_prefix("contactGroups/").unwrap();
    assert_eq!(fake.group_members(USER, group), vec![kept.to_owned()]);
    server.shutdown().await.unwrap();
}
