//! The connector against the EWS fake (`tandem_testkit::ews`) over loopback, with NTLM and
//! impersonation: folder set-up, the SyncFolderItems feed, writes with ChangeKey preconditions,
//! lost creates found by their key, throttling and expired sync states.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tandem_connector::http::{HttpClient, Secret};
use tandem_connector::{Connector, ConnectorError, PullPage, WriteOp};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Contact, EmailAddress, ObjectKind, Record};
use tandem_core::plan::FieldChange;
use tandem_core::state::{Change, ChangeKind, Cursor, IdempotencyKey, RecordId, Side, Version};
use tandem_ews::{EwsAuth, EwsConfig, EwsConnector};
use tandem_testkit::ews::{DEMO_ACCOUNT, DEMO_MAILBOX, DEMO_PASSWORD, EwsFake};
use tandem_testkit::server::FakeServer;

const C: ObjectKind = ObjectKind::Contact;

async fn fake() -> (EwsFake, FakeServer) {
    let fake = EwsFake::demo();
    let server = FakeServer::start(tandem_testkit::ews::router(fake.clone())).await.unwrap();
    (fake, server)
}

fn connector(server: &FakeServer, auth: EwsAuth) -> EwsConnector {
    let url = format!("{}/EWS/Exchange.asmx", server.base_url());
    EwsConnector::new(EwsConfig::new(url, DEMO_MAILBOX, auth), HttpClient::with_defaults().unwrap()).unwrap()
}

fn ntlm() -> EwsAuth {
    EwsAuth::Ntlm { username: DEMO_ACCOUNT.into(), domain: String::new(), password: Secret::new(DEMO_PASSWORD) }
}

async fn drain(c: &dyn Connector, object: ObjectKind, cursor: Option<Cursor>) -> (Vec<Change>, Cursor) {
    let mut cursor = cursor;
    let mut all = Vec::new();
    loop {
        let page: PullPage = c.pull(object, cursor.as_ref()).await.unwrap();
        all.extend(page.changes);
        cursor = Some(page.cursor);
        if page.done {
            return (all, cursor.unwrap());
        }
    }
}

fn person(given: &str, family: &str) -> Record {
    Record::Contact(Contact {
        given_name: Some(given.into()),
        family_name: Some(family.into()),
        emails: vec![EmailAddress {
            kind: Default::default(),
            address: format!("{}@example.com", given.to_lowercase()),
        }],
        company: Some("Analytical Engines".into()),
        ..Contact::default()
    })
}

fn key(n: u32) -> IdempotencyKey {
    IdempotencyKey::derive(C, Side::Crm, &RecordId::new(format!("003{n}")))
}

#[tokio::test]
async fn contacts_round_trip_over_ntlm_with_impersonation() {
    let (fake, server) = fake().await;
    let c = connector(&server, ntlm());
    // The first read creates the dedicated folder and finds it empty.
    let (first, cursor) = drain(&c, C, None).await;
    assert!(first.is_empty(), "{first:?}");
    assert!(fake.folder_id_by_name(DEMO_MAILBOX, "Salesforce_Sync").is_some());

    let created = c.apply(C, &[WriteOp::Create { key: key(1), record: person("Ada", "Lovelace") }]).await.unwrap();
    let w = created[0].clone().unwrap();
    let item = fake.item(DEMO_MAILBOX, w.id.as_str()).unwrap();
    assert_eq!(item.fields.get("Surname").map(String::as_str), Some("Lovelace"));
    assert_eq!(item.change_key, w.version.as_str());
    assert!(item.extended.iter().any(|(_, v)| v == key(1).as_str()), "{:?}", item.extended);
    // A lost answer is settled by the key.
    let found = c.find_by_key(C, &key(1)).await.unwrap().unwrap();
    assert_eq!(found.id, w.id);

    // The feed brings Tandem's own create back, with its key.
    let (changes, cursor) = drain(&c, C, Some(cursor)).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].sync_key.as_ref(), Some(&key(1)));
    let ChangeKind::Upserted { record: Record::Contact(read) } = &changes[0].kind else { panic!("{changes:?}") };
    assert_eq!(read.company.as_deref(), Some("Analytical Engines"));

    // A person edits it: the change key moves, so a write expecting the old one is refused.
    fake.edit_item(DEMO_MAILBOX, w.id.as_str(), "JobTitle", Some("Analyst")).unwrap();
    let patch = vec![FieldChange { field: FieldKey::GivenName, value: Some(FieldValue::Text("Augusta".into())) }];
    let stale = WriteOp::Update { id: w.id.clone(), expected: w.version.clone(), patch: patch.clone() };
    let out = c.apply(C, &[stale]).await.unwrap();
    assert!(matches!(out[0], Err(ConnectorError::PreconditionFailed { .. })), "{out:?}");
    let (changes, cursor) = drain(&c, C, Some(cursor)).await;
    assert_eq!(changes.len(), 1);
    let current = changes[0].version.clone();
    let out = c.apply(C, &[WriteOp::Update { id: w.id.clone(), expected: current, patch }]).await.unwrap();
    assert!(out[0].is_ok(), "{out:?}");
    let item = fake.item(DEMO_MAILBOX, w.id.as_str()).unwrap();
    assert_eq!(item.fields.get("GivenName").map(String::as_str), Some("Augusta"));
    assert_eq!(item.fields.get("JobTitle").map(String::as_str), Some("Analyst"), "only the patched field");

    // Deleted, and the feed says so.
    let (_, cursor) = drain(&c, C, Some(cursor)).await;
    let version = Version::new(fake.item(DEMO_MAILBOX, w.id.as_str()).unwrap().change_key);
    let out = c.apply(C, &[WriteOp::Delete { id: w.id.clone(), expected: version }]).await.unwrap();
    assert!(out[0].is_ok(), "{out:?}");
    let (changes, _) = drain(&c, C, Some(cursor)).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, ChangeKind::Deleted);
}

#[tokio::test]
async fn a_busy_server_throttles_and_an_expired_sync_state_asks_for_a_full_read() {
    let (fake, server) = fake().await;
    let c = connector(&server, ntlm());
    let (_, cursor) = drain(&c, C, None).await;
    fake.server_busy_next(1, 1500);
    match c.pull(C, Some(&cursor)).await {
        Err(ConnectorError::Throttled { retry_after }) => {
            assert_eq!(retry_after, Some(std::time::Duration::from_millis(1500)));
        }
        other => panic!("{other:?}"),
    }
    fake.expire_sync_states();
    assert!(matches!(c.pull(C, Some(&cursor)).await, Err(ConnectorError::CursorExpired)));
}

#[tokio::test]
async fn a_wrong_password_or_no_impersonation_right_is_an_auth_error() {
    let (fake, server) = fake().await;
    let bad = EwsAuth::Ntlm { username: DEMO_ACCOUNT.into(), domain: String::new(), password: Secret::new("nope") };
    assert!(matches!(connector(&server, bad).pull(C, None).await, Err(ConnectorError::Auth { .. })));
    fake.revoke_impersonation(DEMO_ACCOUNT, DEMO_MAILBOX);
    assert!(matches!(connector(&server, ntlm()).pull(C, None).await, Err(ConnectorError::Auth { .. })));
}

#[tokio::test]
async fn a_weekly_series_with_a_moved_and_a_deleted_occurrence_reads_as_one_series() {
    use tandem_core::model::EventTime;
    let (fake, server) = fake().await;
    let series = fake
        .seed_item_xml(
            DEMO_MAILBOX,
            "calendar",
            r#"<t:CalendarItem xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
                 <t:Subject>Weekly review</t:Subject>
                 <t:Start>2026-12-07T09:00:00Z</t:Start><t:End>2026-12-07T10:00:00Z</t:End>
                 <t:Recurrence>
                   <t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence>
                   <t:NumberedRecurrence><t:StartDate>2026-12-07Z</t:StartDate><t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence>
                 </t:Recurrence>
                 <t:StartTimeZone Id="UTC"/><t:EndTimeZone Id="UTC"/>
               </t:CalendarItem>"#,
        )
        .unwrap();
    fake.edit_occurrence(DEMO_MAILBOX, &series.id, 2, "Subject", Some("Moved review")).unwrap();
    fake.delete_occurrence(DEMO_MAILBOX, &series.id, 3).unwrap();
    let c = connector(&server, ntlm());
    let (changes, _) = drain(&c, ObjectKind::Event, None).await;
    assert_eq!(changes.len(), 1, "one series, not its occurrences: {changes:?}");
    let ChangeKind::Upserted { record: Record::Event(e) } = &changes[0].kind else { panic!("{changes:?}") };
    let r = e.recurrence.as_ref().expect("a series");
    assert!(r.rules[0].contains("FREQ=WEEKLY"), "{r:?}");
    assert_eq!(r.overrides.len(), 1, "{r:?}");
    assert_eq!(r.overrides.values().next().unwrap().subject.as_deref(), Some("Moved review"));
    assert_eq!(r.cancelled.len(), 1, "{r:?}");
    let cancelled = r.cancelled.iter().next().unwrap().clone();
    let third = EventTime::utc(chrono::NaiveDate::from_ymd_opt(2026, 12, 21).unwrap().and_hms_opt(9, 0, 0).unwrap());
    assert_eq!(cancelled.instant(), third.instant(), "{cancelled:?}");
}

#[tokio::test]
async fn connectors_of_one_service_account_share_its_concurrency_bound() {
    use tandem_testkit::server::{CannedResponse, ConcurrencyCap, whole_server};
    let (fake, server) = fake().await;
    let controls = fake.controls();
    // Count every request in flight on the server (never refuse), each held 40 ms.
    controls.set_concurrency_cap(Some(ConcurrencyCap::new(
        usize::MAX,
        whole_server(),
        CannedResponse::new(axum_status_500()),
    )));
    controls.set_latency(std::time::Duration::from_millis(40));
    let url = format!("{}/EWS/Exchange.asmx", server.base_url());
    let mut connectors = Vec::new();
    for n in 0..6 {
        let mailbox = format!("user{n}@contoso.example");
        fake.add_mailbox(&mailbox, &format!("User {n}"));
        fake.grant_impersonation(DEMO_ACCOUNT, &mailbox);
        let mut config = EwsConfig::new(url.clone(), mailbox, ntlm());
        config.max_account_concurrency = 3;
        connectors.push(std::sync::Arc::new(EwsConnector::with_defaults(config).unwrap()));
    }
    let mut tasks = Vec::new();
    for c in &connectors {
        for _ in 0..4 {
            let c = std::sync::Arc::clone(c);
            tasks.push(tokio::spawn(async move { c.identity().await }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let peak = controls.peak_in_flight("*");
    assert!(peak <= 3, "at most 3 calls of the account in flight, saw {peak}");
    assert!(peak >= 2, "calls of different mailboxes do run together: {peak}");
}

fn axum_status_500() -> http::StatusCode {
    http::StatusCode::INTERNAL_SERVER_ERROR
}

mod series {
    use super::*;
    use tandem_core::model::{Event, EventTime, EventTiming, OccurrenceOverride, Privacy, Recurrence, ShowAs};

    const E: ObjectKind = ObjectKind::Event;

    fn at(month: u32, day: u32, hour: u32) -> EventTime {
        let year = if month == 1 { 2027 } else { 2026 };
        EventTime::utc(chrono::NaiveDate::from_ymd_opt(year, month, day).unwrap().and_hms_opt(hour, 0, 0).unwrap())
    }

    fn moved_to(month: u32, day: u32, hour: u32) -> OccurrenceOverride {
        OccurrenceOverride {
            timing: Some(EventTiming { start: at(month, day, hour), end: at(month, day, hour + 1) }),
            subject: None,
            location: None,
            description: None,
        }
    }

    /// Mondays 7 Dec 2026 – 4 Jan 2027 at 9:00 UTC: the 14th moved to Tuesday 11:00, the 21st
    /// renamed, the 28th cancelled.
    fn review() -> (Event, Recurrence) {
        let mut r = Recurrence { rules: vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=5".into()], ..Recurrence::default() };
        r.overrides.insert(at(12, 14, 9), moved_to(12, 15, 11));
        r.overrides.insert(
            at(12, 21, 9),
            OccurrenceOverride {
                timing: None,
                subject: Some("Year-end review".into()),
                location: None,
                description: None,
            },
        );
        r.cancelled.insert(at(12, 28, 9));
        let e = Event {
            subject: Some("Weekly review".into()),
            description: Some("Numbers first".into()),
            location: Some("Room 1".into()),
            timing: EventTiming { start: at(12, 7, 9), end: at(12, 7, 10) },
            recurrence: Some(r.clone()),
            organizer: None,
            attendees: Vec::new(),
            privacy: Privacy::Normal,
            show_as: ShowAs::Busy,
            categories: Vec::new(),
            crm_links: Vec::new(),
            ical_uid: None,
            custom: Default::default(),
        };
        (e, r)
    }

    fn event_key(n: u32) -> IdempotencyKey {
        IdempotencyKey::derive(E, Side::Crm, &RecordId::new(format!("00U{n}")))
    }

    fn read_series(changes: &[Change]) -> Recurrence {
        assert_eq!(changes.len(), 1, "{changes:?}");
        let ChangeKind::Upserted { record: Record::Event(e) } = &changes[0].kind else { panic!("{changes:?}") };
        e.recurrence.clone().expect("a series")
    }

    #[tokio::test]
    async fn a_series_with_moved_renamed_and_cancelled_occurrences_is_written_and_read_back_identical() {
        let (fake, server) = fake().await;
        let c = connector(&server, ntlm());
        let (none, cursor) = drain(&c, E, None).await;
        assert!(none.is_empty());
        let (event, desired) = review();
        let out = c.apply(E, &[WriteOp::Create { key: event_key(1), record: Record::Event(event) }]).await.unwrap();
        let w = out[0].clone().unwrap();
        assert_eq!(fake.item(DEMO_MAILBOX, w.id.as_str()).unwrap().change_key, w.version.as_str(), "the key after all");
        assert_eq!(fake.count("UpdateItem"), 1, "one call for both changed occurrences");
        assert_eq!(fake.count("DeleteItem"), 1);

        // Read back: the same series, at the version returned; then nothing more.
        let (changes, cursor) = drain(&c, E, Some(cursor)).await;
        assert_eq!(changes[0].version, w.version, "not mistaken for an edit");
        assert_eq!(read_series(&changes), desired);
        let (again, cursor) = drain(&c, E, Some(cursor)).await;
        assert!(again.is_empty(), "{again:?}");

        // One more occurrence moves (4 Jan to Tuesday 5 Jan): only that one is written.
        let mut more = desired.clone();
        more.overrides.insert(at(1, 4, 9), moved_to(1, 5, 9));
        let before = fake.count("UpdateItem");
        let patch =
            vec![FieldChange { field: FieldKey::Recurrence, value: Some(FieldValue::Recurrence(more.clone())) }];
        let out =
            c.apply(E, &[WriteOp::Update { id: w.id.clone(), expected: w.version.clone(), patch }]).await.unwrap();
        let w2 = out[0].clone().unwrap();
        assert_eq!(fake.count("UpdateItem") - before, 1, "one occurrence written, the master left alone");
        assert_eq!(fake.count("DeleteItem"), 1);
        assert_ne!(w2.version, w.version);
        let (changes, cursor) = drain(&c, E, Some(cursor)).await;
        assert_eq!(changes[0].version, w2.version);
        assert_eq!(read_series(&changes), more);
        let (again, _) = drain(&c, E, Some(cursor)).await;
        assert!(again.is_empty(), "{again:?}");

        // Writing the same series again writes nothing.
        let before = fake.counts();
        let patch = vec![FieldChange { field: FieldKey::Recurrence, value: Some(FieldValue::Recurrence(more)) }];
        let out =
            c.apply(E, &[WriteOp::Update { id: w.id.clone(), expected: w2.version.clone(), patch }]).await.unwrap();
        assert_eq!(out[0].clone().unwrap().version, w2.version);
        assert_eq!(fake.count("UpdateItem"), before.get("UpdateItem").copied().unwrap_or(0));
    }

    #[tokio::test]
    async fn exdates_are_cancellations_and_rdates_are_refused() {
        let (fake, server) = fake().await;
        let c = connector(&server, ntlm());
        let (mut event, _) = review();
        let r = event.recurrence.as_mut().unwrap();
        r.overrides.clear();
        r.cancelled.clear();
        r.exdates.push(at(12, 14, 9));
        let out =
            c.apply(E, &[WriteOp::Create { key: event_key(2), record: Record::Event(event.clone()) }]).await.unwrap();
        let w = out[0].clone().unwrap();
        let read = c.fetch(E, std::slice::from_ref(&w.id)).await.unwrap();
        assert_eq!(read[0].version, w.version);
        assert_eq!(read_series(&read).cancelled.into_iter().collect::<Vec<_>>(), vec![at(12, 14, 9)]);

        let r = event.recurrence.as_mut().unwrap();
        r.rdates.push(at(12, 16, 9));
        let creates = fake.count("CreateItem");
        let out = c.apply(E, &[WriteOp::Create { key: event_key(3), record: Record::Event(event) }]).await.unwrap();
        match &out[0] {
            Err(ConnectorError::Rejected { message, .. }) => assert!(message.contains("RDATE"), "{message}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(fake.count("CreateItem"), creates, "nothing sent");
    }
}
