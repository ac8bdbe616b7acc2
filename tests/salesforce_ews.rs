//! Salesforce ⇄ Exchange on-premises (EWS) through the engine, both fakes on loopback, the real
//! connectors (Salesforce with the JWT bearer flow, EWS with NTLM and impersonation): contacts and
//! events both ways (a weekly series included), edits each way, deletes per the default rules,
//! quiet cycles that write nothing, and a lost `CreateItem` answer that does not duplicate.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::json;
use tandem::connector::http::{HttpClient, Secret};
use tandem::ews::{EwsAuth, EwsConfig, EwsConnector};
use tandem::prelude::*;
use tandem::salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector};
use tandem_testkit::ews::{DEMO_ACCOUNT, DEMO_MAILBOX, DEMO_PASSWORD, EwsFake, ItemView};
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::{CannedResponse, FakeServer};

const FOLDER: &str = "Salesforce_Sync";
const NS_T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

struct World {
    org: SalesforceFake,
    _org_server: FakeServer,
    ews: EwsFake,
    _ews_server: FakeServer,
    engine: Engine,
    job: UserSync,
}

async fn world() -> World {
    let (org, org_server) = SalesforceFake::start().await.unwrap();
    let ews = EwsFake::demo();
    let ews_server = FakeServer::start(tandem_testkit::ews::router(ews.clone())).await.unwrap();
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
    let auth =
        EwsAuth::Ntlm { username: DEMO_ACCOUNT.into(), domain: String::new(), password: Secret::new(DEMO_PASSWORD) };
    let exchange = EwsConnector::new(
        EwsConfig::new(format!("{}/EWS/Exchange.asmx", ews_server.base_url()), DEMO_MAILBOX, auth),
        HttpClient::with_defaults().unwrap(),
    )
    .unwrap();
    // The default policy (NTLM allowed on premises), with plain http to the loopback fakes.
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::new(store).with_policy(Arc::new(Policy::for_loopback_tests()));
    let job = UserSync::new(DEMO_MAILBOX, SyncConfig::named("ews"), Arc::new(salesforce), Arc::new(exchange));
    World { org, _org_server: org_server, ews, _ews_server: ews_server, engine, job }
}

fn only(object: ObjectKind) -> SyncOptions {
    SyncOptions { objects: Some(vec![object]), ..SyncOptions::default() }
}

/// EWS writes received so far (authenticated, parsed calls).
fn ews_writes(w: &World) -> u64 {
    ["CreateItem", "UpdateItem", "DeleteItem", "CreateFolder"].iter().map(|op| w.ews.count(op)).sum()
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

/// Three more cycles: none writes anything to either side.
async fn assert_quiet(w: &World, object: ObjectKind) {
    let (ews_before, sf_before) = (ews_writes(w), salesforce_writes(w));
    for _ in 0..3 {
        let quiet = w.engine.sync_user(&w.job, &only(object)).await.unwrap();
        assert_eq!(quiet.total_writes(), 0, "{quiet}");
    }
    assert_eq!(ews_writes(w), ews_before, "EWS writes in quiet cycles: {:?}", w.ews.counts());
    assert_eq!(salesforce_writes(w), sf_before, "Salesforce writes in quiet cycles");
}

/// The items of the dedicated contact folder.
fn synced_contacts(w: &World) -> Vec<ItemView> {
    let folder = w.ews.folder_id_by_name(DEMO_MAILBOX, FOLDER).expect("the Salesforce_Sync folder");
    w.ews.items(DEMO_MAILBOX, &folder)
}

fn field<'a>(item: &'a ItemView, name: &str) -> Option<&'a str> {
    item.fields.get(name).map(String::as_str)
}

fn by_field(items: &[ItemView], name: &str, value: &str) -> Vec<ItemView> {
    items.iter().filter(|i| field(i, name) == Some(value)).cloned().collect()
}

/// A contact a person makes in Outlook in the dedicated folder.
fn seed_exchange_contact(w: &World, given: &str, surname: &str, email: &str, title: &str) -> ItemView {
    let folder = w.ews.folder_id_by_name(DEMO_MAILBOX, FOLDER).expect("the folder exists after a first cycle");
    w.ews
        .seed_item_xml(
            DEMO_MAILBOX,
            &folder,
            &format!(
                r#"<t:Contact xmlns:t="{NS_T}"><t:GivenName>{given}</t:GivenName>
                     <t:EmailAddresses><t:Entry Key="EmailAddress1">{email}</t:Entry></t:EmailAddresses>
                     <t:JobTitle>{title}</t:JobTitle><t:Surname>{surname}</t:Surname></t:Contact>"#
            ),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_flow_both_ways_with_edits_and_deletes_and_quiet_cycles_write_nothing() {
    let w = world().await;
    // The first cycle creates the dedicated folder and finds both sides empty.
    let first = w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_eq!(first.total_writes(), 0, "{first}");
    assert!(w.ews.folder_id_by_name(DEMO_MAILBOX, FOLDER).is_some());

    let ada = seed_exchange_contact(&w, "Ada", "Lovelace", "ada@example.com", "Analyst");
    let grace = w
        .org
        .insert(
            "Contact",
            json!({ "FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com",
                    "Title": "Rear Admiral", "MobilePhone": "+1 202 555 0100" }),
        )
        .unwrap();
    let report = w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_eq!(report.object(ObjectKind::Contact).unwrap().applied("create"), 2, "{report}");

    // Exchange → Salesforce.
    let sf = w.org.find_by("Contact", "LastName", "Lovelace");
    assert_eq!(sf.len(), 1);
    let row = w.org.get("Contact", &sf[0]).unwrap();
    assert_eq!(row["FirstName"], "Ada", "{row}");
    assert_eq!(row["Email"], "ada@example.com", "{row}");
    assert_eq!(row["Title"], "Analyst", "{row}");
    // Salesforce → Exchange, in the dedicated folder.
    let contacts = synced_contacts(&w);
    assert_eq!(contacts.len(), 2, "{contacts:?}");
    let hopper = by_field(&contacts, "Surname", "Hopper");
    assert_eq!(hopper.len(), 1, "{contacts:?}");
    let hopper = hopper[0].clone();
    assert_eq!(field(&hopper, "GivenName"), Some("Grace"), "{}", hopper.xml);
    assert_eq!(field(&hopper, "JobTitle"), Some("Rear Admiral"), "{}", hopper.xml);
    assert!(hopper.xml.contains("grace@example.com"), "{}", hopper.xml);
    assert!(hopper.xml.contains("+1 202 555 0100"), "{}", hopper.xml);
    assert_quiet(&w, ObjectKind::Contact).await;

    // An edit in Exchange reaches Salesforce…
    w.ews.edit_item(DEMO_MAILBOX, &ada.id, "JobTitle", Some("Chief Analyst")).unwrap();
    let edit = w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_eq!(edit.total_writes(), 1, "{edit}");
    assert_eq!(w.org.get("Contact", &sf[0]).unwrap()["Title"], "Chief Analyst");
    assert_quiet(&w, ObjectKind::Contact).await;

    // …and one in Salesforce reaches Exchange, that field only.
    w.org.update("Contact", &grace, json!({ "Title": "Commodore" })).unwrap();
    let updates_before = w.ews.count("UpdateItem");
    let edit = w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_eq!(edit.total_writes(), 1, "{edit}");
    assert_eq!(w.ews.count("UpdateItem"), updates_before + 1);
    let hopper_now = w.ews.item(DEMO_MAILBOX, &hopper.id).unwrap();
    assert_eq!(field(&hopper_now, "JobTitle"), Some("Commodore"), "{}", hopper_now.xml);
    assert_eq!(field(&hopper_now, "GivenName"), Some("Grace"));
    assert_quiet(&w, ObjectKind::Contact).await;

    // Contact deletes are not propagated (the default, as Lightning Sync): the survivor is
    // unlinked and never re-created.
    assert!(w.ews.delete_item(DEMO_MAILBOX, &ada.id));
    w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert!(w.org.get("Contact", &sf[0]).is_some(), "the Salesforce contact stays");
    w.org.delete("Contact", &grace).unwrap();
    w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert!(w.ews.item(DEMO_MAILBOX, &hopper.id).is_some(), "the Exchange contact stays");
    assert_quiet(&w, ObjectKind::Contact).await;
    assert!(by_field(&synced_contacts(&w), "Surname", "Lovelace").is_empty(), "never re-created");
    assert_eq!(w.org.find_by("Contact", "LastName", "Hopper").len(), 0, "never re-created");
}

fn next_monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(7);
    while d.weekday() != Weekday::Mon {
        d += Duration::days(1);
    }
    d
}

/// Salesforce's date-time format, UTC.
fn sf_utc(d: NaiveDate, h: u32, m: u32) -> String {
    format!("{}T{h:02}:{m:02}:00.000+0000", d.format("%Y-%m-%d"))
}

/// EWS's date-time format, UTC.
fn ews_utc(d: NaiveDate, h: u32, m: u32) -> String {
    format!("{}T{h:02}:{m:02}:00Z", d.format("%Y-%m-%d"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_weekly_series_flow_both_ways_with_edits_and_deletes() {
    let w = world().await;
    let monday = next_monday();
    let tuesday = monday + Duration::days(1);

    // Exchange: a single meeting and a weekly series (five Mondays at 14:00 UTC).
    let lunch = w
        .ews
        .add_calendar_item(DEMO_MAILBOX, "Lunch with Ada", &ews_utc(tuesday, 12, 0), &ews_utc(tuesday, 13, 0))
        .unwrap();
    let ews_series = w
        .ews
        .seed_item_xml(
            DEMO_MAILBOX,
            "calendar",
            &format!(
                r#"<t:CalendarItem xmlns:t="{NS_T}">
                 <t:Subject>Weekly review</t:Subject>
                 <t:Start>{}</t:Start><t:End>{}</t:End>
                 <t:Recurrence>
                   <t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence>
                   <t:NumberedRecurrence><t:StartDate>{}Z</t:StartDate><t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence>
                 </t:Recurrence>
                 <t:StartTimeZone Id="UTC"/><t:EndTimeZone Id="UTC"/>
               </t:CalendarItem>"#,
                ews_utc(monday, 14, 0),
                ews_utc(monday, 15, 0),
                monday.format("%Y-%m-%d"),
            ),
        )
        .unwrap();
    // Salesforce: a single meeting and a weekly series (six Mondays at 09:00 UTC).
    let demo = w
        .org
        .insert(
            "Event",
            json!({ "Subject": "Demo for Globex", "Location": "Room 1",
                    "StartDateTime": sf_utc(tuesday, 15, 0), "EndDateTime": sf_utc(tuesday, 16, 0),
                    "DurationInMinutes": 60 }),
        )
        .unwrap();
    w.org
        .insert(
            "Event",
            json!({ "Subject": "Standup", "StartDateTime": sf_utc(monday, 9, 0), "EndDateTime": sf_utc(monday, 9, 30),
                    "IsRecurrence2": true, "Recurrence2PatternTimeZone": "UTC",
                    "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6" }),
        )
        .unwrap();

    let first = w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    assert_eq!(first.object(ObjectKind::Event).unwrap().applied("create"), 4, "{first}");

    // Exchange → Salesforce.
    let sf_lunch = w.org.find_by("Event", "Subject", "Lunch with Ada");
    assert_eq!(sf_lunch.len(), 1);
    let row = w.org.get("Event", &sf_lunch[0]).unwrap();
    assert!(row["StartDateTime"].as_str().unwrap().contains("T12:00"), "{row}");
    let sf_review = w.org.find_by("Event", "Subject", "Weekly review");
    assert_eq!(sf_review.len(), 1, "one series, not its occurrences");
    let row = w.org.get("Event", &sf_review[0]).unwrap();
    assert_eq!(row["IsRecurrence2"], true, "{row}");
    assert!(row["Recurrence2PatternText"].as_str().unwrap().contains("FREQ=WEEKLY"), "{row}");
    // Salesforce → Exchange.
    let calendar = w.ews.items(DEMO_MAILBOX, "calendar");
    assert_eq!(calendar.len(), 4, "{calendar:?}");
    let ews_demo = by_field(&calendar, "Subject", "Demo for Globex");
    assert_eq!(ews_demo.len(), 1, "{calendar:?}");
    let ews_demo = ews_demo[0].clone();
    assert_eq!(field(&ews_demo, "Location"), Some("Room 1"), "{}", ews_demo.xml);
    let standup = by_field(&calendar, "Subject", "Standup");
    assert_eq!(standup.len(), 1, "{calendar:?}");
    assert!(standup[0].xml.contains("WeeklyRecurrence"), "{}", standup[0].xml);
    assert!(standup[0].xml.contains("<t:NumberOfOccurrences>6</t:NumberOfOccurrences>"), "{}", standup[0].xml);
    assert_quiet(&w, ObjectKind::Event).await;

    // An edit in Exchange reaches Salesforce; one in Salesforce reaches Exchange.
    w.ews.edit_item(DEMO_MAILBOX, &lunch.id, "Location", Some("Cafeteria")).unwrap();
    let edit = w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    assert_eq!(edit.total_writes(), 1, "{edit}");
    assert_eq!(w.org.get("Event", &sf_lunch[0]).unwrap()["Location"], "Cafeteria");
    assert_quiet(&w, ObjectKind::Event).await;
    w.org.update("Event", &demo, json!({ "Location": "Room 2" })).unwrap();
    let edit = w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    assert_eq!(edit.total_writes(), 1, "{edit}");
    assert_eq!(field(&w.ews.item(DEMO_MAILBOX, &ews_demo.id).unwrap(), "Location"), Some("Room 2"));
    assert_quiet(&w, ObjectKind::Event).await;

    // Event deletes propagate both ways (the default for events).
    w.org.delete("Event", &demo).unwrap();
    assert!(w.ews.delete_item(DEMO_MAILBOX, &ews_series.id));
    let deletes = w.engine.sync_user(&w.job, &only(ObjectKind::Event)).await.unwrap();
    assert_eq!(deletes.total_writes(), 2, "{deletes}");
    // Moved to Deleted Items (`DeleteType="MoveToDeletedItems"`), as Outlook does.
    let calendar = w.ews.items(DEMO_MAILBOX, "calendar");
    assert!(
        by_field(&calendar, "Subject", "Demo for Globex").is_empty(),
        "cancelled in Salesforce, gone from the calendar"
    );
    let bin = w.ews.items(DEMO_MAILBOX, "deleteditems");
    assert_eq!(by_field(&bin, "Subject", "Demo for Globex").len(), 1, "{bin:?}");
    assert!(w.org.get("Event", &sf_review[0]).is_none(), "deleted in Exchange, gone from Salesforce");
    assert_quiet(&w, ObjectKind::Event).await;
    assert_eq!(w.ews.items(DEMO_MAILBOX, "calendar").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_item_answer_does_not_duplicate_the_contact() {
    let w = world().await;
    w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    assert_quiet(&w, ObjectKind::Contact).await;

    // A quiet contact cycle costs one SyncFolderItems; with one Salesforce contact to create, the
    // next authenticated call after it is the CreateItem. Its answer is lost (the item is made).
    w.org.insert("Contact", json!({ "FirstName": "Lin", "LastName": "Lost", "Email": "lin@example.com" })).unwrap();
    let base = w.ews.count("SyncFolderItems");
    let ews = w.ews.clone();
    w.ews.controls().lose_next_matching(
        1,
        move |req| {
            // NTLM Type 3 messages ("NTLMSSP\0" then 3): the authenticated half of each call.
            let authenticated = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("NTLM TlRMTVNTUAADAAAA"));
            authenticated && ews.count("SyncFolderItems") > base
        },
        CannedResponse::text(http::StatusCode::GATEWAY_TIMEOUT, "the answer was lost"),
    );
    let creates_before = w.ews.count("CreateItem");
    for _ in 0..3 {
        w.engine.sync_user(&w.job, &only(ObjectKind::Contact)).await.unwrap();
    }
    assert_eq!(w.ews.controls().fault_log().len(), 1, "the answer was lost once");
    assert!(w.ews.count("CreateItem") > creates_before);
    let lost = by_field(&synced_contacts(&w), "Surname", "Lost");
    assert_eq!(lost.len(), 1, "no duplicate: {lost:?}");
    assert_eq!(w.org.find_by("Contact", "LastName", "Lost").len(), 1);
    assert_quiet(&w, ObjectKind::Contact).await;
}
