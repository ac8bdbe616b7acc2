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

/// Calendar's batch endpoint through the library's `service.new_batch_http_request()`
/// (`clients/google_batch.py`): its multipart encoding, `Content-ID` matching and per-part errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_api_python_client_batches_against_the_google_fake() {
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
    let env = vec![
        ("TANDEM_GOOGLE_URL", server.url("/")),
        ("TANDEM_GOOGLE_ACCOUNT", SA.to_owned()),
        ("TANDEM_GOOGLE_KEY", TEST_RSA_KEY_PEM.to_owned()),
        ("TANDEM_GOOGLE_USER", USER.to_owned()),
    ];
    let summary = run(python, "google_batch.py", Vec::new(), env).await;
    let summary: Value = serde_json::from_str(summary.lines().last().unwrap()).unwrap();
    for id in summary["inserted"].as_array().unwrap() {
        let event = fake.event(USER, id.as_str().unwrap()).expect("inserted through the batch");
        let cancelled = event["status"] == "cancelled";
        assert_eq!(cancelled, *id == summary["deleted"], "{event}");
    }
    assert_eq!(fake.event(USER, "tandembatch0002").unwrap()["location"], Value::Null, "stale patch not applied");
    assert_eq!(fake.controls().count("POST", "/batch/calendar/v3"), 2);
    assert_eq!(fake.controls().count("POST", "/calendar/v3/calendars/{calendar_id}/events"), 0);
    server.shutdown().await.unwrap();
}

/// `events.list(singleEvents=True, orderBy='startTime')` through the library, paged with
/// `list_next` (`clients/google_instances.py`): a weekly series with a moved and a cancelled
/// occurrence and an EXDATE, expanded into instances with `recurringEventId` and
/// `originalStartTime`, and a one-off event in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_api_python_client_lists_single_events() {
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
    let tz = "America/New_York";
    fake.seed_event(
        USER,
        Some("series00001"),
        json!({"summary": "Weekly", "start": {"dateTime": "2026-03-02T09:00:00", "timeZone": tz},
               "end": {"dateTime": "2026-03-02T10:00:00", "timeZone": tz},
               "recurrence": ["RRULE:FREQ=WEEKLY;UNTIL=20260330T130000Z", "EXDATE;TZID=America/New_York:20260323T090000"]}),
    )
    .unwrap();
    fake.seed_event(
        USER,
        Some("oneoff00001"),
        json!({"summary": "One-off", "start": {"dateTime": "2026-03-03T12:00:00Z"},
               "end": {"dateTime": "2026-03-03T13:00:00Z"}}),
    )
    .unwrap();
    let moved = fake
        .edit_instance(
            USER,
            "series00001",
            json!({"dateTime": "2026-03-09T13:00:00Z"}),
            json!({"summary": "Moved", "start": {"dateTime": "2026-03-10T15:00:00Z"},
                   "end": {"dateTime": "2026-03-10T16:00:00Z"}}),
        )
        .unwrap();
    fake.edit_instance(
        USER,
        "series00001",
        json!({"dateTime": "2026-03-16T13:00:00Z"}),
        json!({"status": "cancelled"}),
    )
    .unwrap();
    let moved_original = fake.event(USER, &moved).unwrap()["originalStartTime"].clone();
    let original = |local: &str| json!({"dateTime": local, "timeZone": tz});
    let expected = json!({
        "timeMin": "2026-03-01T00:00:00Z",
        "timeMax": "2026-04-30T00:00:00Z",
        "items": [
            {"id": "series00001_20260302T140000Z", "recurringEventId": "series00001", "summary": "Weekly",
             "originalStartTime": original("2026-03-02T09:00:00-05:00")},
            {"id": "oneoff00001", "summary": "One-off"},
            {"id": moved, "recurringEventId": "series00001", "summary": "Moved", "originalStartTime": moved_original},
            {"id": "series00001_20260330T130000Z", "recurringEventId": "series00001", "summary": "Weekly",
             "originalStartTime": original("2026-03-30T09:00:00-04:00")},
        ],
    });
    let env = vec![
        ("TANDEM_GOOGLE_URL", server.url("/")),
        ("TANDEM_GOOGLE_ACCOUNT", SA.to_owned()),
        ("TANDEM_GOOGLE_KEY", TEST_RSA_KEY_PEM.to_owned()),
        ("TANDEM_GOOGLE_USER", USER.to_owned()),
        ("TANDEM_GOOGLE_EXPECTED", expected.to_string()),
    ];
    let summary = run(python, "google_instances.py", Vec::new(), env).await;
    let summary: Value = serde_json::from_str(summary.lines().last().unwrap()).unwrap();
    assert_eq!(summary["pages"], 2, "{summary}");
    assert_eq!(summary["instances"].as_array().unwrap().len(), 4, "{summary}");
    assert_eq!(fake.controls().count("GET", "/calendar/v3/calendars/{calendar_id}/events"), 3);
    server.shutdown().await.unwrap();
}
