//! The connector against the Google fake (`tandem_testkit::google`) over loopback: the
//! service-account grant with domain-wide delegation, the events feed (pages, then a sync
//! token), writes with client-chosen ids and `If-Match`, a weekly series with an override and a
//! cancellation, the contact group and its members through People's batch calls, throttling and
//! expired sync tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use serde_json::{Value, json};
use tandem_connector::http::{HttpClient, Secret};
use tandem_connector::{Connector, ConnectorError, PullPage, WriteOp};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Contact, EmailAddress, Event, EventTime, EventTiming, ObjectKind, Privacy, Record, ShowAs};
use tandem_core::plan::FieldChange;
use tandem_core::state::{Change, ChangeKind, Cursor, IdempotencyKey, RecordId, Side};
use tandem_google::{GoogleConfig, GoogleConnector, ServiceAccountKey, event_id_for};
use tandem_testkit::google::{
    DEMO_ACCOUNT, DEMO_CLIENT_ID, DEMO_USER, GoogleFake, QuotaKind, SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS,
};
use tandem_testkit::keys;
use tandem_testkit::server::FakeServer;

const E: ObjectKind = ObjectKind::Event;
const C: ObjectKind = ObjectKind::Contact;
const ZONE: &str = "Europe/Berlin";

async fn serve(fake: &GoogleFake) -> FakeServer {
    FakeServer::start(tandem_testkit::google::router(fake.clone())).await.unwrap()
}

fn key_file() -> Secret {
    Secret::new(
        json!({
            "type": "service_account",
            "project_id": "tandem-demo",
            "private_key_id": "k1",
            "private_key": keys::TEST_RSA_KEY_PEM,
            "client_email": DEMO_ACCOUNT,
            "client_id": DEMO_CLIENT_ID,
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string(),
    )
}

fn config(server: &FakeServer) -> GoogleConfig {
    let base = server.base_url();
    let base = base.trim_end_matches('/');
    GoogleConfig::new(DEMO_USER)
        .with_endpoints(&format!("{base}/token"), &format!("{base}/calendar/v3"), &format!("{base}/v1"))
        .with_service_account(ServiceAccountKey::from_json(&key_file()).unwrap())
}

fn connector_with(config: GoogleConfig) -> GoogleConnector {
    GoogleConnector::new(config, HttpClient::with_defaults().unwrap()).unwrap()
}

async fn demo() -> (GoogleFake, FakeServer, GoogleConnector) {
    let fake = GoogleFake::demo();
    let server = serve(&fake).await;
    let c = connector_with(config(&server));
    (fake, server, c)
}

async fn drain(c: &dyn Connector, object: ObjectKind, cursor: Option<Cursor>) -> (Vec<Change>, Cursor, usize) {
    let mut cursor = cursor;
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page: PullPage = c.pull(object, cursor.as_ref()).await.unwrap();
        pages += 1;
        all.extend(page.changes);
        cursor = Some(page.cursor);
        if page.done {
            return (all, cursor.unwrap(), pages);
        }
    }
}

fn upserted(changes: &[Change]) -> Vec<(String, Record)> {
    changes
        .iter()
        .filter_map(|c| match &c.kind {
            ChangeKind::Upserted { record } => Some((c.id.as_str().to_owned(), record.clone())),
            _ => None,
        })
        .collect()
}

fn event_of(r: &Record) -> &Event {
    match r {
        Record::Event(e) => e,
        other => panic!("not an event: {other:?}"),
    }
}

fn key(object: ObjectKind, n: u32) -> IdempotencyKey {
    IdempotencyKey::derive(object, Side::Crm, &RecordId::new(format!("00U{n}")))
}

fn next_monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(7);
    while d.weekday() != Weekday::Mon {
        d += Duration::days(1);
    }
    d
}

fn at(d: NaiveDate, h: u32) -> NaiveDateTime {
    d.and_hms_opt(h, 0, 0).unwrap()
}

/// A wall-clock time in [`ZONE`] as UTC `…Z`.
fn utc_z(local: NaiveDateTime) -> String {
    let tz: chrono_tz::Tz = ZONE.parse().unwrap();
    tz.from_local_datetime(&local).unwrap().with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn zoned(local: NaiveDateTime) -> EventTime {
    EventTime::Zoned { local, zone: ZONE.to_owned() }
}

fn meeting(subject: &str, day: NaiveDate) -> Event {
    Event {
        subject: Some(subject.to_owned()),
        location: Some("Room 1".to_owned()),
        description: None,
        timing: EventTiming { start: zoned(at(day, 9)), end: zoned(at(day, 10)) },
        recurrence: None,
        organizer: None,
        attendees: Vec::new(),
        privacy: Privacy::Normal,
        show_as: ShowAs::Busy,
        categories: Vec::new(),
        crm_links: Vec::new(),
        ical_uid: None,
        custom: std::collections::BTreeMap::new(),
    }
}

#[tokio::test]
async fn delegation_is_required_for_the_token_grant() {
    let fake = GoogleFake::new();
    fake.add_service_account(DEMO_ACCOUNT, DEMO_CLIENT_ID, keys::TEST_RSA_CERT_PEM);
    fake.add_user(DEMO_USER);
    // Only one of the two scopes Tandem asks for: the grant is refused.
    fake.grant_delegation(DEMO_CLIENT_ID, &[SCOPE_CALENDAR_EVENTS]);
    let server = serve(&fake).await;
    let c = connector_with(config(&server));
    let err = c.pull(E, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { .. }), "{err:?}");
    // A key the fake does not know either.
    let mut other = config(&server);
    other.service_account = Some(
        ServiceAccountKey::from_json(&Secret::new(
            json!({"type": "service_account", "client_email": DEMO_ACCOUNT, "private_key": keys::OTHER_RSA_KEY_PEM})
                .to_string(),
        ))
        .unwrap(),
    );
    fake.grant_delegation(DEMO_CLIENT_ID, &[SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS]);
    let err = connector_with(other).pull(E, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth { .. }), "{err:?}");
    // With both scopes delegated, the same connector gets its token.
    let (changes, _, _) = drain(&c, E, None).await;
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(c.identity().await.unwrap().user, DEMO_USER);
}

#[tokio::test]
async fn events_first_read_pages_then_follows_the_sync_token() {
    let fake = GoogleFake::demo();
    let server = serve(&fake).await;
    let mut cfg = config(&server);
    cfg.page_size = 2;
    let c = connector_with(cfg);
    let day = next_monday();
    let mut ids = Vec::new();
    for (i, subject) in ["One", "Two", "Three"].iter().enumerate() {
        let d = day + Duration::days(i64::try_from(i).unwrap());
        let props = json!({"summary": subject,
            "start": {"dateTime": utc_z(at(d, 9)), "timeZone": ZONE},
            "end": {"dateTime": utc_z(at(d, 10)), "timeZone": ZONE}});
        ids.push(fake.seed_event(DEMO_USER, None, props).unwrap());
    }
    let (first, cursor, pages) = drain(&c, E, None).await;
    assert_eq!(pages, 2, "three events in pages of two");
    let records = upserted(&first);
    assert_eq!(records.len(), 3, "{first:?}");
    let one = records.iter().find(|(id, _)| *id == ids[0]).unwrap();
    assert_eq!(event_of(&one.1).timing.start, zoned(at(day, 9)));
    // Quiet: the sync token answers nothing.
    let (quiet, cursor, _) = drain(&c, E, Some(cursor)).await;
    assert!(quiet.is_empty(), "{quiet:?}");
    // A person's edit and a delete come through the token.
    fake.edit_event(DEMO_USER, &ids[1], json!({"location": "Cafeteria"})).unwrap();
    assert!(fake.delete_event(DEMO_USER, &ids[2]));
    let (next, _, _) = drain(&c, E, Some(cursor)).await;
    assert_eq!(next.len(), 2, "{next:?}");
    let edited = upserted(&next);
    assert_eq!(edited.len(), 1);
    assert_eq!(event_of(&edited[0].1).location.as_deref(), Some("Cafeteria"));
    assert!(next.iter().any(|c| c.id.as_str() == ids[2] && matches!(c.kind, ChangeKind::Deleted)), "{next:?}");
}

#[tokio::test]
async fn event_writes_use_the_derived_id_and_if_match() {
    let (fake, _server, c) = demo().await;
    let day = next_monday();
    let k = key(E, 1);
    let created = c.apply(E, &[WriteOp::Create { key: k.clone(), record: Record::Event(meeting("Demo", day)) }]).await;
    let w = created.unwrap()[0].clone().unwrap();
    assert_eq!(w.id.as_str(), event_id_for(&k));
    let stored = fake.event(DEMO_USER, w.id.as_str()).unwrap();
    assert_eq!(stored["summary"], "Demo");
    assert_eq!(stored["etag"], w.version.as_str());
    assert_eq!(stored["extendedProperties"]["private"]["tandemKey"], k.as_str());
    assert!(fake.send_updates().iter().all(|s| s.value.as_deref() == Some("none")));

    // A lost answer: the same create again settles on the event made the first time.
    let again = c.apply(E, &[WriteOp::Create { key: k.clone(), record: Record::Event(meeting("Demo", day)) }]).await;
    let again = again.unwrap()[0].clone().unwrap();
    assert_eq!(again.id, w.id);
    assert_eq!(fake.events(DEMO_USER).len(), 1, "no duplicate");
    assert_eq!(c.find_by_key(E, &k).await.unwrap().unwrap().id, w.id);
    assert!(c.find_by_key(E, &key(E, 2)).await.unwrap().is_none());

    // A person edits it in between: the stale etag is refused.
    fake.edit_event(DEMO_USER, w.id.as_str(), json!({"description": "agenda"})).unwrap();
    let patch = vec![FieldChange { field: FieldKey::Location, value: Some(FieldValue::Text("Room 2".into())) }];
    let ops = [WriteOp::Update { id: w.id.clone(), expected: w.version.clone(), patch: patch.clone() }];
    let stale = c.apply(E, &ops).await.unwrap();
    assert!(matches!(stale[0], Err(ConnectorError::PreconditionFailed { .. })), "{stale:?}");
    // With the current etag the patch goes through, that field only.
    let current = fake.event(DEMO_USER, w.id.as_str()).unwrap()["etag"].as_str().unwrap().to_owned();
    let ok = c
        .apply(
            E,
            &[WriteOp::Update { id: w.id.clone(), expected: tandem_core::state::Version::new(current.clone()), patch }],
        )
        .await
        .unwrap();
    let updated = ok[0].clone().unwrap();
    let stored = fake.event(DEMO_USER, w.id.as_str()).unwrap();
    assert_eq!(stored["location"], "Room 2");
    assert_eq!(stored["description"], "agenda", "the person's edit is kept");
    assert_eq!(stored["etag"], updated.version.as_str());

    // Delete with the etag.
    let gone = c.apply(E, &[WriteOp::Delete { id: w.id.clone(), expected: updated.version.clone() }]).await.unwrap();
    assert!(gone[0].is_ok(), "{gone:?}");
    assert_eq!(fake.event(DEMO_USER, w.id.as_str()).unwrap()["status"], "cancelled");
    assert!(c.find_by_key(E, &k).await.unwrap().is_none());
}

#[tokio::test]
async fn a_weekly_series_is_one_record_with_its_override_and_cancellation_both_ways() {
    let (fake, _server, c) = demo().await;
    let monday = next_monday();
    let master = fake
        .seed_event(
            DEMO_USER,
            None,
            json!({"summary": "Weekly review",
                "start": {"dateTime": format!("{}", at(monday, 9).format("%Y-%m-%dT%H:%M:%S")), "timeZone": ZONE},
                "end": {"dateTime": format!("{}", at(monday, 10).format("%Y-%m-%dT%H:%M:%S")), "timeZone": ZONE},
                "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5"]}),
        )
        .unwrap();
    let second = at(monday + Duration::days(7), 9);
    let third = at(monday + Duration::days(14), 9);
    let moved_to = at(monday + Duration::days(8), 11);
    fake.edit_instance(
        DEMO_USER,
        &master,
        json!({"dateTime": utc_z(second), "timeZone": ZONE}),
        json!({"start": {"dateTime": utc_z(moved_to), "timeZone": ZONE},
               "end": {"dateTime": utc_z(moved_to + Duration::hours(1)), "timeZone": ZONE}}),
    )
    .unwrap();
    fake.edit_instance(
        DEMO_USER,
        &master,
        json!({"dateTime": utc_z(third), "timeZone": ZONE}),
        json!({"status": "cancelled"}),
    )
    .unwrap();

    let (changes, _, _) = drain(&c, E, None).await;
    let records = upserted(&changes);
    assert_eq!(records.len(), 1, "one series, not its instances: {changes:?}");
    assert_eq!(records[0].0, master);
    let series = event_of(&records[0].1).clone();
    let r = series.recurrence.clone().unwrap();
    assert_eq!(r.rules, vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=5".to_owned()]);
    assert_eq!(r.overrides.len(), 1, "{r:?}");
    let over = r.overrides.get(&zoned(second)).unwrap();
    let timing = over.timing.clone().unwrap();
    assert_eq!(timing.start.instant(), zoned(moved_to).instant());
    assert_eq!(r.cancelled.iter().cloned().collect::<Vec<_>>(), vec![zoned(third)]);

    // Written back as a new series: the same override and cancellation, on its instances.
    let k = key(E, 7);
    let mut copy = series.clone();
    copy.ical_uid = None;
    copy.organizer = None;
    let w = c.apply(E, &[WriteOp::Create { key: k, record: Record::Event(copy) }]).await.unwrap()[0].clone().unwrap();
    let back = c.fetch(E, std::slice::from_ref(&w.id)).await.unwrap();
    let ChangeKind::Upserted { record } = &back[0].kind else { panic!("{back:?}") };
    let back = event_of(record);
    assert_eq!(back.subject.as_deref(), Some("Weekly review"));
    assert_eq!(back.timing, series.timing);
    let rb = back.recurrence.clone().unwrap();
    assert_eq!(rb.rules, r.rules);
    assert_eq!(rb.cancelled, r.cancelled);
    assert_eq!(rb.overrides.keys().collect::<Vec<_>>(), r.overrides.keys().collect::<Vec<_>>());
    let tb = rb.overrides.get(&zoned(second)).unwrap().timing.clone().unwrap();
    assert_eq!(tb.start.instant(), timing.start.instant());
    assert_eq!(tb.end.instant(), timing.end.instant());

    // A first attempt inserted the master and stopped before its instances (its answer lost):
    // the retry meets a 409, settles on that master, and writes the instances.
    let k2 = key(E, 8);
    let id2 = event_id_for(&k2);
    let stored = fake.event(DEMO_USER, &master).unwrap();
    fake.seed_event(
        DEMO_USER,
        Some(&id2),
        json!({"summary": "Weekly review", "start": stored["start"], "end": stored["end"],
               "recurrence": stored["recurrence"],
               "extendedProperties": {"private": {"tandemKey": k2.as_str()}}}),
    )
    .unwrap();
    let mut again = series.clone();
    again.ical_uid = None;
    again.organizer = None;
    let w2 =
        c.apply(E, &[WriteOp::Create { key: k2, record: Record::Event(again) }]).await.unwrap()[0].clone().unwrap();
    assert_eq!(w2.id.as_str(), id2);
    let back = c.fetch(E, std::slice::from_ref(&w2.id)).await.unwrap();
    let ChangeKind::Upserted { record } = &back[0].kind else { panic!("{back:?}") };
    let r2 = event_of(record).recurrence.clone().unwrap();
    assert_eq!(r2.cancelled, r.cancelled, "the cancellation was written on the retry");
    assert_eq!(r2.overrides.keys().collect::<Vec<_>>(), r.overrides.keys().collect::<Vec<_>>());
}

#[tokio::test]
async fn expired_sync_tokens_and_quota_errors() {
    let (fake, _server, c) = demo().await;
    let (_, events, _) = drain(&c, E, None).await;
    let (_, contacts, _) = drain(&c, C, None).await;
    fake.quota_error_next(1, QuotaKind::RateLimitExceeded);
    assert!(matches!(c.pull(E, Some(&events)).await, Err(ConnectorError::Throttled { .. })));
    fake.quota_error_next(1, QuotaKind::UserRateLimitExceeded);
    assert!(matches!(c.pull(E, Some(&events)).await, Err(ConnectorError::Throttled { .. })));
    assert!(c.pull(E, Some(&events)).await.is_ok(), "after the quota error, reads go on");

    fake.expire_sync_tokens();
    assert_eq!(c.pull(E, Some(&events)).await.unwrap_err(), ConnectorError::CursorExpired);
    assert_eq!(c.pull(C, Some(&contacts)).await.unwrap_err(), ConnectorError::CursorExpired);
    fake.set_people_expired_token_status(410);
    assert_eq!(c.pull(C, Some(&contacts)).await.unwrap_err(), ConnectorError::CursorExpired);
    // A full read starts over.
    let (_, fresh, _) = drain(&c, C, None).await;
    assert!(c.pull(C, Some(&fresh)).await.is_ok());
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

fn given(p: &Value) -> Option<&str> {
    p.pointer("/names/0/givenName").and_then(Value::as_str)
}

#[tokio::test]
async fn contacts_of_the_group_through_the_batch_calls() {
    let (fake, _server, c) = demo().await;
    // A contact outside the group is never synced.
    let outsider = fake.seed_contact(DEMO_USER, json!({"names": [{"givenName": "Otto", "familyName": "Outside"}]}));
    let (first, cursor, _) = drain(&c, C, None).await;
    assert!(first.is_empty(), "{first:?}");
    assert!(fake.seed_contact_group(DEMO_USER, "Salesforce Sync").is_err(), "the group was created");

    let k = key(C, 1);
    let created = c.apply(C, &[WriteOp::Create { key: k.clone(), record: person("Ada", "Lovelace") }]).await;
    let w = created.unwrap()[0].clone().unwrap();
    let stored = fake.contact(DEMO_USER, w.id.as_str()).unwrap();
    assert_eq!(given(&stored), Some("Ada"));
    assert_eq!(stored["etag"], w.version.as_str());
    assert_eq!(stored["clientData"][0]["value"], k.as_str());
    let group = stored["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.pointer("/contactGroupMembership/contactGroupId").and_then(Value::as_str))
        .find(|g| *g != "myContacts")
        .expect("a member of the contact group")
        .to_owned();
    assert_eq!(fake.group_members(DEMO_USER, &group), vec![w.id.as_str().to_owned()]);
    // A lost answer is settled by the key in `clientData`, past other people on other pages.
    for i in 0..1_100 {
        fake.seed_contact(DEMO_USER, json!({"names": [{"givenName": format!("Filler {i}")}]}));
    }
    let found = c.find_by_key(C, &k).await.unwrap().expect("found by its key");
    assert_eq!((found.id.as_str(), found.version.as_str()), (w.id.as_str(), w.version.as_str()));
    assert!(c.find_by_key(C, &key(C, 2)).await.unwrap().is_none());

    // The feed: the member with its key; the outsider's edit never shows up as a record.
    fake.edit_contact(DEMO_USER, &outsider, json!({"names": [{"givenName": "Otto", "familyName": "Still"}]})).unwrap();
    let (next, cursor, _) = drain(&c, C, Some(cursor)).await;
    let records = upserted(&next);
    assert_eq!(records.len(), 1, "{next:?}");
    assert_eq!(records[0].0, w.id.as_str());
    let echo = next.iter().find(|ch| ch.id == w.id).unwrap();
    assert_eq!(echo.sync_key.as_ref(), Some(&k));
    assert!(next.iter().all(|ch| ch.id.as_str() != outsider || matches!(ch.kind, ChangeKind::Deleted)));

    // Update with the etag, that field only.
    let patch = vec![FieldChange { field: FieldKey::GivenName, value: Some(FieldValue::Text("Augusta Ada".into())) }];
    let updated = c
        .apply(C, &[WriteOp::Update { id: w.id.clone(), expected: w.version.clone(), patch: patch.clone() }])
        .await
        .unwrap()[0]
        .clone()
        .unwrap();
    let stored = fake.contact(DEMO_USER, w.id.as_str()).unwrap();
    assert_eq!(given(&stored), Some("Augusta Ada"));
    assert_eq!(stored["emailAddresses"][0]["value"], "ada@example.com");
    assert_eq!(stored["etag"], updated.version.as_str());
    // A person's edit in between: the stale etag is refused.
    fake.edit_contact(DEMO_USER, w.id.as_str(), json!({"biographies": [{"value": "Mathematician"}]})).unwrap();
    let stale = c.apply(C, &[WriteOp::Update { id: w.id.clone(), expected: updated.version.clone(), patch }]).await;
    assert!(matches!(stale.unwrap()[0], Err(ConnectorError::PreconditionFailed { .. })));

    // Delete.
    let gone = c.apply(C, &[WriteOp::Delete { id: w.id.clone(), expected: updated.version }]).await.unwrap();
    assert!(gone[0].is_ok(), "{gone:?}");
    assert!(fake.contact(DEMO_USER, w.id.as_str()).is_none());
    let (last, _, _) = drain(&c, C, Some(cursor)).await;
    assert!(last.iter().any(|ch| ch.id == w.id && matches!(ch.kind, ChangeKind::Deleted)), "{last:?}");
    assert!(fake.contact(DEMO_USER, &outsider).is_some(), "the outsider is untouched");
}
