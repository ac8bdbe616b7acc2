//! Salesforce ⇄ Google Workspace: a Salesforce org and a Workspace user's calendar and contacts,
//! both served by Tandem's faithful fakes on loopback, synced end to end both ways through the
//! real Salesforce and Google connectors.
//!
//! The Google side connects as a service account with domain-wide delegation (an RS256 JWT with
//! `sub` = the user, scopes `calendar.events` and `contacts` only); contacts are the members of
//! the "Salesforce Sync" contact group (created on the first cycle). It seeds a few records on
//! each side, a weekly series with an exception included, runs a first sync, edits both sides
//! and syncs twice more. State lives in memory.
//!
//! Run: `cargo run --example google` (no network, no configuration).

use std::error::Error;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::json;
use tandem::connector::http::HttpClient;
use tandem::google::{GoogleConfig, GoogleConnector, ServiceAccountKey};
use tandem::prelude::*;
use tandem::salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector};
use tandem_testkit::google::{DEMO_ACCOUNT, DEMO_USER, GoogleFake};
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::FakeServer;

fn next_monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(7);
    while d.weekday() != Weekday::Mon {
        d += Duration::days(1);
    }
    d
}

fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())).init();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

/// The whole demo (also run by `tests/examples.rs`); an error if the last cycle wrote anything.
pub(crate) async fn run() -> Result<(), Box<dyn Error>> {
    // The two fakes, each on its own loopback port. The Google fake's demo set-up: user
    // ann@tandem-demo.example, and a service account whose client id holds domain-wide
    // delegation for the calendar.events and contacts scopes.
    let (org, org_server) = SalesforceFake::start().await?;
    let google = GoogleFake::demo();
    let google_server = FakeServer::start(tandem_testkit::google::router(google.clone())).await?;

    // Seed Salesforce: two contacts and a meeting.
    let monday = next_monday();
    let tuesday = monday + Duration::days(1);
    let sf_at = |d: NaiveDate, h: u32| format!("{}T{h:02}:00:00.000+0000", d.format("%Y-%m-%d"));
    let grace = org.insert(
        "Contact",
        json!({ "FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com",
                "Title": "Rear Admiral", "MobilePhone": "+1 202 555 0100" }),
    )?;
    org.insert("Contact", json!({ "FirstName": "Alan", "LastName": "Turing", "Email": "alan@example.com" }))?;
    let demo = org.insert(
        "Event",
        json!({ "Subject": "Demo for Globex", "Location": "Room 1",
                "StartDateTime": sf_at(tuesday, 15), "EndDateTime": sf_at(tuesday, 16), "DurationInMinutes": 60 }),
    )?;
    // Seed Google: a lunch, and a weekly review in Berlin time whose second week moved an hour.
    let at = |d: NaiveDate, h: u32| {
        json!({ "dateTime": format!("{}T{h:02}:00:00+01:00", d.format("%Y-%m-%d")),
                                             "timeZone": "Europe/Berlin" })
    };
    let lunch = google.seed_event(
        DEMO_USER,
        None,
        json!({ "summary": "Lunch with Ada", "start": at(tuesday, 12), "end": at(tuesday, 13) }),
    )?;
    let review = google.seed_event(
        DEMO_USER,
        None,
        json!({ "summary": "Weekly review", "start": at(monday, 14), "end": at(monday, 15),
                "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5"] }),
    )?;
    let second = monday + Duration::days(7);
    google.edit_instance(
        DEMO_USER,
        &review,
        at(second, 14),
        json!({ "start": at(second, 15), "end": at(second, 16) }),
    )?;

    // The real connectors: Salesforce with the JWT bearer flow; Google with the service
    // account's JSON key file (here built in memory; in production `Secret::from_file`).
    let salesforce = SalesforceConnector::new(
        SalesforceConfig::new(
            AuthConfig::JwtBearer {
                consumer_key: org.config().consumer_key,
                username: org.user().username,
                private_key_pem: Secret::new(keys::TEST_RSA_KEY_PEM),
            },
            url::Url::parse(&org_server.base_url())?,
        ),
        HttpClient::with_defaults()?,
    )?;
    let key_file = Secret::new(
        json!({ "type": "service_account", "client_email": DEMO_ACCOUNT, "private_key": keys::TEST_RSA_KEY_PEM })
            .to_string(),
    );
    let base = google_server.base_url();
    let base = base.trim_end_matches('/');
    let config = GoogleConfig::new(DEMO_USER)
        .with_endpoints(&format!("{base}/token"), &format!("{base}/calendar/v3"), &format!("{base}/v1"))
        .with_service_account(ServiceAccountKey::from_json(&key_file)?);
    let workspace = GoogleConnector::new(config, HttpClient::with_defaults()?)?;

    // The default policy (service account with exactly the two scopes), except that it allows
    // plain http:// to the loopback fakes.
    let store = Arc::new(SqliteStore::in_memory().await?);
    let engine = Engine::new(store).with_policy(Arc::new(Policy::for_loopback_tests()));
    let job = UserSync::new(DEMO_USER, SyncConfig::named("google"), Arc::new(salesforce), Arc::new(workspace));

    println!("== Cycle 1: first sync (creates the Salesforce Sync group, copies both ways) ==");
    println!("{}", engine.sync_user(&job, &SyncOptions::default()).await?);

    // A person moves the lunch in Google Calendar; Salesforce promotes Grace and cancels the demo.
    google.edit_event(DEMO_USER, &lunch, json!({ "location": "Cafeteria" }))?;
    org.update("Contact", &grace, json!({ "Title": "Commodore" }))?;
    org.delete("Event", &demo)?;

    println!("== Cycle 2: after edits on both sides ==");
    println!("{}", engine.sync_user(&job, &SyncOptions::default()).await?);

    println!("== Cycle 3: nothing changed, nothing to do ==");
    let quiet = engine.sync_user(&job, &SyncOptions::default()).await?;
    println!("{quiet}");
    if quiet.total_writes() != 0 {
        return Err(format!("cycle 3 wrote {} records", quiet.total_writes()).into());
    }

    let live_events = google.events(DEMO_USER).iter().filter(|e| e["status"] != "cancelled").count();
    println!(
        "Salesforce: {} contacts, {} events; Google: {} contacts, {} events (series and exceptions counted)",
        org.count("Contact"),
        org.count("Event"),
        google.contacts(DEMO_USER).len(),
        live_events,
    );
    println!("Salesforce HTTP requests: {}", org.controls().total());
    Ok(())
}
