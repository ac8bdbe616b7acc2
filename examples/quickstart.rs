//! Tandem's quickstart: a Salesforce org and a Microsoft 365 mailbox, both served by Tandem's
//! faithful fakes on loopback, synced end to end both ways, contacts and events, through the real
//! Salesforce and Microsoft Graph connectors.
//!
//! It seeds a few hundred realistic records, some of them already present on both sides; runs a
//! first sync that links what matches instead of duplicating it; then edits both sides (edits to
//! different fields of one contact, a conflicting edit, a deleted contact, a cancelled meeting,
//! a malformed event) and syncs twice more. State lives in a SQLite file under `target/`.
//!
//! Run: `cargo run --example quickstart` (no network, no configuration).

use std::error::Error;
use std::sync::Arc;

use chrono::Duration;
use serde_json::{Value, json};
use tandem::connector::http::HttpClient;
use tandem::core::model::{EventTime, PhoneKind};
use tandem::graph::{AssertionAlgorithm, GraphAuth, GraphConfig, GraphConnector};
use tandem::prelude::*;
use tandem::salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector};
use tandem_testkit::generate;
use tandem_testkit::graph::GraphFake;
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;

const MAILBOX: &str = "ada@contoso.example";
const GRAPH_CLIENT: &str = "11111111-2222-3333-4444-555555555555";

/// A generated contact as Salesforce stores it.
fn salesforce_contact(c: &Contact) -> Value {
    let phone = |kind| c.phones.iter().find(|p| p.kind == kind).map(|p| p.number.clone());
    let address = c.addresses.first();
    json!({
        "FirstName": c.given_name, "LastName": c.family_name,
        "Email": c.emails.first().map(|e| e.address.clone()),
        "Title": c.title, "Department": c.department,
        "Phone": phone(PhoneKind::Business), "MobilePhone": phone(PhoneKind::Mobile),
        "AssistantPhone": phone(PhoneKind::Assistant), "Fax": phone(PhoneKind::BusinessFax),
        "MailingCity": address.and_then(|a| a.city.clone()),
        "MailingCountry": address.and_then(|a| a.country.clone()),
    })
}

/// A generated contact as Outlook stores it (address in upper case: matching ignores case).
fn graph_contact(c: &Contact) -> Value {
    json!({
        "givenName": c.given_name, "surname": c.family_name,
        "emailAddresses": c.emails.first().map(|e| vec![json!({ "address": e.address.to_uppercase() })]).unwrap_or_default(),
        "jobTitle": c.title, "department": c.department,
        "mobilePhone": c.phones.iter().find(|p| p.kind == PhoneKind::Mobile).map(|p| p.number.clone()),
    })
}

fn utc(t: &EventTime) -> Option<chrono::DateTime<chrono::Utc>> {
    t.instant()
}

fn main() -> Result<(), Box<dyn Error>> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())).init();

    // The two fakes, each on its own loopback port.
    let (org, org_server) = SalesforceFake::start().await?;
    let graph = GraphFake::start().await?;
    let state = graph.state();
    state.add_mailbox(MAILBOX, "Ada Lovelace");
    state.register_certificate(GRAPH_CLIENT, keys::TEST_RSA_CERT_PEM)?;
    state.create_contact_folder(MAILBOX, "Tandem")?;

    // Seed: 200 contacts in Salesforce; the mailbox's Tandem folder already holds 50 of them
    // (addresses in upper case) plus 30 of its own. Meetings likewise: 40 in Salesforce, 10 of
    // which the mailbox already has, plus 10 of the mailbox's own.
    let people = generate::contacts(7, 230);
    let mut crm_ids = Vec::new();
    for (i, c) in people.iter().enumerate() {
        if i < 200 {
            crm_ids.push(org.insert("Contact", salesforce_contact(c))?);
        }
        if !(50..200).contains(&i) {
            state.seed_contact(MAILBOX, Some("Tandem"), graph_contact(c))?;
        }
    }
    // Dated around today, so the meetings fall inside the sync window (30 days back, 365 ahead)
    // whenever the quickstart runs, and a few old ones outside it show that history is not copied.
    let anchor = chrono::Utc::now().date_naive();
    let meetings: Vec<Event> = generate::events(11, 200, anchor)
        .into_iter()
        .filter(|e| e.recurrence.is_none() && !e.timing.start.is_all_day())
        .filter(|e| e.privacy == tandem::core::model::Privacy::Normal)
        .take(50)
        .collect();
    let mut crm_event_ids = Vec::new();
    for (i, e) in meetings.iter().enumerate() {
        let (Some(start), Some(end)) = (utc(&e.timing.start), utc(&e.timing.end)) else { continue };
        if i < 40 {
            crm_event_ids.push(org.insert(
                "Event",
                json!({
                    "Subject": e.subject, "Location": e.location, "Description": e.description,
                    "StartDateTime": start.to_rfc3339(), "EndDateTime": end.to_rfc3339(),
                    "DurationInMinutes": (end - start).num_minutes(),
                }),
            )?);
        }
        if !(10..40).contains(&i) {
            state.seed_event(
                MAILBOX,
                json!({
                    "subject": e.subject,
                    "start": { "dateTime": start.format("%Y-%m-%dT%H:%M:%S.0000000").to_string(), "timeZone": "UTC" },
                    "end": { "dateTime": end.format("%Y-%m-%dT%H:%M:%S.0000000").to_string(), "timeZone": "UTC" },
                    "location": { "displayName": e.location.clone().unwrap_or_default() },
                }),
            )?;
        }
    }

    // The real connectors: Salesforce with the JWT bearer flow, Graph app-only with a certificate.
    let fake_user = org.user();
    let salesforce = SalesforceConnector::new(
        SalesforceConfig::new(
            AuthConfig::JwtBearer {
                consumer_key: org.config().consumer_key,
                username: fake_user.username,
                private_key_pem: Secret::new(keys::TEST_RSA_KEY_PEM),
            },
            url::Url::parse(&org_server.base_url())?,
        ),
        HttpClient::with_defaults()?,
    )?;
    let mailbox = GraphConnector::with_defaults(
        GraphConfig::new(
            state.config().tenant,
            MAILBOX,
            GraphAuth::Certificate {
                client_id: GRAPH_CLIENT.into(),
                certificate_pem: keys::TEST_RSA_CERT_PEM.into(),
                private_key_pem: Secret::new(keys::TEST_RSA_KEY_PEM),
                algorithm: AssertionAlgorithm::Ps256,
            },
        )
        .with_authority(graph.base_url())
        .with_graph_base(graph.graph_url()),
    )?;

    // State: a SQLite file under target/, fresh for each run of the demo. The policy is the
    // default one, except that it allows plain http:// to the loopback fakes.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("tandem-quickstart.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store = Arc::new(SqliteStore::open(&db).await?);
    let engine = Engine::new(store.clone()).with_policy(Arc::new(Policy::for_loopback_tests()));
    let job = UserSync::new(MAILBOX, SyncConfig::named("sales"), Arc::new(salesforce), Arc::new(mailbox));

    println!("== Cycle 1: first sync (records already on both sides are linked, not duplicated) ==");
    println!("{}", engine.sync_user(&job, &SyncOptions::default()).await?);

    // Edits on both sides, as people would make them.
    let outlook_id = |email: &str| {
        state.contacts(MAILBOX).into_iter().find_map(|c| {
            let matches = c["emailAddresses"].as_array().is_some_and(|a| {
                a.iter().any(|e| e["address"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(email)))
            });
            if matches { c["id"].as_str().map(str::to_owned) } else { None }
        })
    };
    let email_of = |i: usize| people[i].emails.first().map(|e| e.address.clone()).unwrap_or_default();
    // Contact 0: the title changes in Salesforce, the department in Outlook; both survive.
    org.update("Contact", &crm_ids[0], json!({ "Title": "VP Sales" }))?;
    if let Some(id) = outlook_id(&email_of(0)) {
        state.edit_contact(MAILBOX, &id, json!({ "department": "Enterprise — EMEA" }))?;
    }
    // Contact 1: the title changes on both sides; Salesforce (the fallback side) wins.
    org.update("Contact", &crm_ids[1], json!({ "Title": "Chief Revenue Officer" }))?;
    if let Some(id) = outlook_id(&email_of(1)) {
        state.edit_contact(MAILBOX, &id, json!({ "jobTitle": "CRO" }))?;
    }
    // Contact 2 is deleted in Outlook: contact deletes are not propagated (as Lightning Sync),
    // but the Salesforce contact is unlinked and never re-created in the mailbox.
    if let Some(id) = outlook_id(&email_of(2)) {
        state.delete_contact(MAILBOX, &id)?;
    }
    // A meeting is cancelled in Salesforce: event deletes propagate to the calendar.
    org.delete("Event", &crm_event_ids[0])?;
    // A malformed event reaches Salesforce (ends before it starts): quarantined, the rest goes on.
    let start = anchor.and_hms_opt(15, 0, 0).ok_or("bad time")?.and_utc();
    org.insert_unchecked(
        "Event",
        json!({
            "Subject": "Ends before it starts",
            "StartDateTime": start.to_rfc3339(),
            "EndDateTime": (start - Duration::hours(1)).to_rfc3339(),
            "DurationInMinutes": 60,
        }),
    )?;

    println!("== Cycle 2: after edits on both sides ==");
    println!("{}", engine.sync_user(&job, &SyncOptions::default()).await?);

    println!("== Cycle 3: nothing changed, nothing to do ==");
    println!("{}", engine.sync_user(&job, &SyncOptions::default()).await?);

    if let Some(c) = org.get("Contact", &crm_ids[0]) {
        println!(
            "merged contact in Salesforce: Title {} (edited there), Department {} (edited in Outlook)",
            c["Title"], c["Department"]
        );
    }
    println!(
        "Salesforce: {} contacts, {} events; mailbox: {} contacts, {} events; quarantined: {}",
        org.count("Contact"),
        org.count("Event"),
        state.contacts(MAILBOX).len(),
        state.events(MAILBOX).len(),
        store.quarantine(MAILBOX).await?.len(),
    );
    println!("HTTP requests: Salesforce {}, Graph {}", org.controls().total(), state.http_requests());
    println!("state: {}", db.display());
    Ok(())
}
