//! Event writes through Calendar's batch endpoint, against the Google fake over loopback:
//! chunks of `batch_size`, one result per op in order, a stale etag or a quota error failing
//! only its own op.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::json;
use tandem_connector::http::{HttpClient, Secret};
use tandem_connector::{Connector, ConnectorError, WriteOp};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Event, EventTime, EventTiming, ObjectKind, Privacy, Record, ShowAs};
use tandem_core::plan::FieldChange;
use tandem_core::state::{IdempotencyKey, RecordId, Side, Version};
use tandem_google::{GoogleConfig, GoogleConnector, ServiceAccountKey, event_id_for};
use tandem_testkit::google::{DEMO_ACCOUNT, DEMO_CLIENT_ID, DEMO_USER, GoogleFake, QuotaKind};
use tandem_testkit::keys;
use tandem_testkit::server::FakeServer;

const E: ObjectKind = ObjectKind::Event;
const BATCH: (&str, &str) = ("POST", "/batch/calendar/v3");

fn key_file() -> Secret {
    Secret::new(
        json!({
            "type": "service_account",
            "private_key_id": "k1",
            "private_key": keys::TEST_RSA_KEY_PEM,
            "client_email": DEMO_ACCOUNT,
            "client_id": DEMO_CLIENT_ID,
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string(),
    )
}

async fn demo(batch_size: u32) -> (GoogleFake, FakeServer, GoogleConnector) {
    let fake = GoogleFake::demo();
    let server = FakeServer::start(tandem_testkit::google::router(fake.clone())).await.unwrap();
    let base = server.base_url();
    let base = base.trim_end_matches('/');
    let config = GoogleConfig::new(DEMO_USER)
        .with_endpoints(&format!("{base}/token"), &format!("{base}/calendar/v3"), &format!("{base}/v1"))
        .with_service_account(ServiceAccountKey::from_json(&key_file()).unwrap())
        .with_batch_size(batch_size);
    assert_eq!(config.batch_url, format!("{base}/batch/calendar/v3"));
    let c = GoogleConnector::new(config, HttpClient::with_defaults().unwrap()).unwrap();
    (fake, server, c)
}

fn key(n: u32) -> IdempotencyKey {
    IdempotencyKey::derive(E, Side::Crm, &RecordId::new(format!("00U{n}")))
}

fn day() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(7);
    while d.weekday() != Weekday::Mon {
        d += Duration::days(1);
    }
    d
}

fn meeting(subject: &str) -> Event {
    let d = day();
    let zoned = |h| EventTime::Zoned { local: d.and_hms_opt(h, 0, 0).unwrap(), zone: "Europe/Berlin".to_owned() };
    Event {
        subject: Some(subject.to_owned()),
        location: Some("Room 1".to_owned()),
        description: None,
        timing: EventTiming { start: zoned(9), end: zoned(10) },
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

fn create(n: u32) -> WriteOp {
    WriteOp::Create { key: key(n), record: Record::Event(meeting(&format!("Meeting {n}"))) }
}

fn location(text: &str) -> Vec<FieldChange> {
    vec![FieldChange { field: FieldKey::Location, value: Some(FieldValue::Text(text.into())) }]
}

#[tokio::test]
async fn creates_go_in_chunks_of_the_batch_size() {
    let (fake, _server, c) = demo(50).await;
    let ops: Vec<WriteOp> = (1..=120).map(create).collect();
    let results = c.apply(E, &ops).await.unwrap();
    assert_eq!(results.len(), 120);
    for (n, r) in (1..=120).zip(&results) {
        let w = r.as_ref().unwrap();
        assert_eq!(w.id.as_str(), event_id_for(&key(n)), "results in order");
        let stored = fake.event(DEMO_USER, w.id.as_str()).unwrap();
        assert_eq!(stored["summary"], format!("Meeting {n}"));
        assert_eq!(stored["etag"], w.version.as_str());
    }
    let controls = fake.controls();
    assert_eq!(controls.count(BATCH.0, BATCH.1), 3, "{:?}", controls.counts());
    assert_eq!(controls.count("POST", "/calendar/v3/calendars/{calendar_id}/events"), 0, "no single inserts");
    assert!(fake.send_updates().iter().all(|s| s.value.as_deref() == Some("none")));

    // A lost answer: the same creates again settle on the events made the first time (409).
    let again = c.apply(E, &ops[..3]).await.unwrap();
    for (r, first) in again.iter().zip(&results) {
        assert_eq!(r.as_ref().unwrap().id, first.as_ref().unwrap().id);
    }
    assert_eq!(fake.events(DEMO_USER).len(), 120, "no duplicates");
}

#[tokio::test]
async fn a_stale_etag_fails_only_its_own_op() {
    let (fake, _server, c) = demo(50).await;
    let made = c.apply(E, &[create(1), create(2), create(3), create(4)]).await.unwrap();
    let w: Vec<_> = made.into_iter().map(Result::unwrap).collect();
    // A person edits event 2: the etag Tandem holds is stale.
    fake.edit_event(DEMO_USER, w[1].id.as_str(), json!({"description": "agenda"})).unwrap();
    fake.controls().reset_counts();
    let ops = [
        create(5),
        WriteOp::Update { id: w[0].id.clone(), expected: w[0].version.clone(), patch: location("Room 2") },
        WriteOp::Update { id: w[1].id.clone(), expected: w[1].version.clone(), patch: location("Room 3") },
        WriteOp::Delete { id: w[2].id.clone(), expected: w[2].version.clone() },
        // Deleting with a stale etag: refused by the part's If-Match.
        WriteOp::Delete { id: w[3].id.clone(), expected: Version::new("\"1\"") },
        WriteOp::Delete { id: RecordId::new("neverexisted0"), expected: Version::default() },
    ];
    let results = c.apply(E, &ops).await.unwrap();
    assert_eq!(results.len(), ops.len());
    assert_eq!(results[0].as_ref().unwrap().id.as_str(), event_id_for(&key(5)));
    let updated = results[1].as_ref().unwrap();
    let stored = fake.event(DEMO_USER, w[0].id.as_str()).unwrap();
    assert_eq!(
        (stored["location"].as_str(), stored["etag"].as_str()),
        (Some("Room 2"), Some(updated.version.as_str()))
    );
    assert!(matches!(results[2], Err(ConnectorError::PreconditionFailed { current: Some(_) })), "{results:?}");
    assert_eq!(fake.event(DEMO_USER, w[1].id.as_str()).unwrap()["location"], "Room 1", "not written");
    assert!(results[3].is_ok(), "{results:?}");
    assert_eq!(fake.event(DEMO_USER, w[2].id.as_str()).unwrap()["status"], "cancelled");
    assert!(matches!(results[4], Err(ConnectorError::PreconditionFailed { .. })), "{results:?}");
    assert_eq!(fake.event(DEMO_USER, w[3].id.as_str()).unwrap()["status"], "confirmed");
    assert!(results[5].is_ok(), "a delete of what is gone is done: {results:?}");
    // One batch of GETs for the updates, one of writes.
    assert_eq!(fake.controls().count(BATCH.0, BATCH.1), 2, "{:?}", fake.controls().counts());
}

#[tokio::test]
async fn a_quota_error_on_one_part_throttles_only_that_op() {
    let (fake, _server, c) = demo(10).await;
    // The token comes first (the fake's quota errors never hit /token), then one part fails.
    let first = c.apply(E, &[create(1)]).await.unwrap();
    assert!(first[0].is_ok(), "{first:?}");
    fake.quota_error_next(1, QuotaKind::RateLimitExceeded);
    let results = c.apply(E, &[create(2), create(3), create(4)]).await.unwrap();
    assert!(matches!(results[0], Err(ConnectorError::Throttled { .. })), "{results:?}");
    assert!(results[1].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(fake.event(DEMO_USER, &event_id_for(&key(2))).is_none());
    fake.quota_error_next(1, QuotaKind::TooManyRequests);
    let results = c.apply(E, &[create(2), create(5)]).await.unwrap();
    assert!(matches!(results[0], Err(ConnectorError::Throttled { .. })), "{results:?}");
    assert!(results[1].is_ok(), "{results:?}");
}

#[tokio::test]
async fn a_failed_batch_call_fails_every_op_in_it() {
    use tandem_testkit::server::CannedResponse;
    let (fake, _server, c) = demo(2).await;
    assert!(c.apply(E, &[create(1)]).await.unwrap()[0].is_ok());
    // The first chunk's call fails as a whole (a 400 is not retried); the second goes through.
    fake.controls().fail_next(
        1,
        CannedResponse::json(
            reqwest::StatusCode::BAD_REQUEST,
            &json!({"error": {"code": 400, "message": "Bad Request", "errors": [{"reason": "badRequest"}]}}),
        ),
    );
    let results = c.apply(E, &[create(2), create(3), create(4)]).await.unwrap();
    assert!(matches!(&results[0], Err(ConnectorError::Rejected { code, .. }) if code == "400"), "{results:?}");
    assert_eq!(results[0], results[1]);
    assert!(results[2].is_ok(), "{results:?}");
}
