//! Salesforce ⇄ Exchange on-premises: a Salesforce org and an Exchange mailbox, both served by
//! Tandem's faithful fakes on loopback, synced end to end both ways, contacts and events, through
//! the real Salesforce and Exchange Web Services connectors.
//!
//! The EWS side connects as a service account with NTLM and impersonates the mailbox
//! (`ExchangeImpersonation`), as an on-premises deployment does; contacts live in the mailbox's
//! `Salesforce_Sync` folder (created on the first cycle). It seeds a few records on each side,
//! a weekly series included, runs a first sync, edits both sides and syncs twice more. State
//! lives in memory.
//!
//! Run: `cargo run --example exchange` (no network, no configuration).

use std::error::Error;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::json;
use tandem::connector::http::HttpClient;
use tandem::ews::{EwsAuth, EwsConfig, EwsConnector};
use tandem::prelude::*;
use tandem::salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector};
use tandem_testkit::ews::{DEMO_ACCOUNT, DEMO_MAILBOX, DEMO_PASSWORD, EwsFake};
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::FakeServer;

const NS_T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

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
    // The two fakes, each on its own loopback port. The EWS fake's demo set-up: mailbox
    // ann@contoso.example and service account svc-tandem holding the impersonation role on it.
    let (org, org_server) = SalesforceFake::start().await?;
    let exchange = EwsFake::demo();
    let ews_server = FakeServer::start(tandem_testkit::ews::router(exchange.clone())).await?;

    // Seed Salesforce: two contacts, a meeting and a weekly standup.
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
    org.insert(
        "Event",
        json!({ "Subject": "Standup", "StartDateTime": sf_at(monday, 9), "EndDateTime": sf_at(monday, 10),
                "IsRecurrence2": true, "Recurrence2PatternTimeZone": "UTC",
                "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6" }),
    )?;
    // Seed Exchange: a meeting and a weekly review in the calendar.
    let ews_at = |d: NaiveDate, h: u32| format!("{}T{h:02}:00:00Z", d.format("%Y-%m-%d"));
    let lunch =
        exchange.add_calendar_item(DEMO_MAILBOX, "Lunch with Ada", &ews_at(tuesday, 12), &ews_at(tuesday, 13))?;
    exchange.seed_item_xml(
        DEMO_MAILBOX,
        "calendar",
        &format!(
            r#"<t:CalendarItem xmlns:t="{NS_T}"><t:Subject>Weekly review</t:Subject>
                 <t:Start>{}</t:Start><t:End>{}</t:End>
                 <t:Recurrence>
                   <t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence>
                   <t:NumberedRecurrence><t:StartDate>{}Z</t:StartDate><t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence>
                 </t:Recurrence>
                 <t:StartTimeZone Id="UTC"/><t:EndTimeZone Id="UTC"/></t:CalendarItem>"#,
            ews_at(monday, 14),
            ews_at(monday, 15),
            monday.format("%Y-%m-%d"),
        ),
    )?;

    // The real connectors: Salesforce with the JWT bearer flow, EWS with NTLM and impersonation.
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
    let auth =
        EwsAuth::Ntlm { username: DEMO_ACCOUNT.into(), domain: String::new(), password: Secret::new(DEMO_PASSWORD) };
    let mailbox = EwsConnector::new(
        EwsConfig::new(format!("{}/EWS/Exchange.asmx", ews_server.base_url()), DEMO_MAILBOX, auth),
        HttpClient::with_defaults()?,
    )?;

    // The default policy (it allows NTLM against on-premises servers and refuses Basic for EWS),
    // except that it allows plain http:// to the loopback fakes.
    let store = Arc::new(SqliteStore::in_memory().await?);
    let engine = Engine::new(store).with_policy(Arc::new(Policy::for_loopback_tests()));
    let job = UserSync::new(DEMO_MAILBOX, SyncConfig::named("exchange"), Arc::new(salesforce), Arc::new(mailbox));

    println!("== Cycle 1: first sync (creates the Salesforce_Sync folder, copies both ways) ==");
    println!("{}", engine.sync_user(&job, &SyncOptions::default()).await?);

    // A person adds a contact in Outlook's Salesforce_Sync folder and moves the lunch; Salesforce
    // promotes Grace and cancels the demo.
    let folder = exchange.folder_id_by_name(DEMO_MAILBOX, "Salesforce_Sync").ok_or("no Salesforce_Sync folder")?;
    exchange.seed_item_xml(
        DEMO_MAILBOX,
        &folder,
        &format!(
            r#"<t:Contact xmlns:t="{NS_T}"><t:GivenName>Ada</t:GivenName>
                 <t:EmailAddresses><t:Entry Key="EmailAddress1">ada@example.com</t:Entry></t:EmailAddresses>
                 <t:JobTitle>Analyst</t:JobTitle><t:Surname>Lovelace</t:Surname></t:Contact>"#
        ),
    )?;
    exchange.edit_item(DEMO_MAILBOX, &lunch.id, "Location", Some("Cafeteria"))?;
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

    println!(
        "Salesforce: {} contacts, {} events; Exchange: {} contacts in Salesforce_Sync, {} calendar items",
        org.count("Contact"),
        org.count("Event"),
        exchange.items(DEMO_MAILBOX, &folder).len(),
        exchange.items(DEMO_MAILBOX, "calendar").len(),
    );
    let calls: Vec<String> = exchange.counts().iter().map(|(op, n)| format!("{op} {n}")).collect();
    println!("EWS calls: {}", calls.join(", "));
    println!("Salesforce HTTP requests: {}", org.controls().total());
    Ok(())
}
