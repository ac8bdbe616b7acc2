//! Writing over loopback: `$batch` limits and partial failure, per-item and whole-batch
//! throttling, the per-mailbox concurrency limit, transactionId de-duplication, and the engine
//! end to end with events: fidelity, echoes, 412 → replan, a lost answer, token expiry.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use serde_json::{Value, json};
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::Capabilities;
use tandem_core::fields::{FieldKey, fingerprint};
use tandem_core::model::{Contact, EmailAddress, Event, ObjectKind, Record};
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId, Side};
use tandem_engine::config::SyncConfig;
use tandem_engine::{SyncOptions, UserSync};
use tandem_graph::{GraphConnector, graph_capabilities};
use tandem_testkit::graph::{DuplicateTransaction, GraphFakeConfig};
use tandem_testkit::server::CannedResponse;

const C: ObjectKind = ObjectKind::Contact;
const E: ObjectKind = ObjectKind::Event;

fn contact(family: &str) -> Record {
    Record::Contact(Contact {
        family_name: Some(family.into()),
        emails: vec![EmailAddress {
            kind: Default::default(),
            address: format!("{}@example.com", family.to_lowercase()),
        }],
        ..Contact::default()
    })
}

fn create(family: &str) -> WriteOp {
    WriteOp::Create { key: IdempotencyKey::derive(C, Side::Crm, &RecordId::new(family)), record: contact(family) }
}

fn surname_is(name: &'static str) -> impl Fn(&str, &str, Option<&Value>) -> bool + Send + Sync {
    move |_, _, body| body.and_then(|b| b.get("surname")).and_then(Value::as_str) == Some(name)
}

#[tokio::test]
async fn batches_hold_twenty_and_answers_are_matched_in_any_order() {
    let w = world().await;
    let ops: Vec<WriteOp> = (0..45).map(|i| create(&format!("Family{i:02}"))).collect();
    let results = w.graph.apply(C, &ops).await.unwrap();
    assert_eq!(w.fake.state().batch_sizes(), vec![20, 20, 5]);
    for (i, r) in results.iter().enumerate() {
        let id = &r.as_ref().unwrap().id;
        assert_eq!(w.fake.state().contact(MAILBOX, &id.0).unwrap()["surname"], json!(format!("Family{i:02}")));
    }
    assert_eq!(w.graph.capabilities().contacts.max_batch, 20);
}

#[tokio::test]
async fn a_partial_failure_fails_only_its_own_writes() {
    let w = world().await;
    w.fake.state().fail_batch_items_where(1, 400, "ErrorInvalidProperty", None, surname_is("Bad"));
    w.fake.state().fail_batch_items_where(1, 503, "ServiceUnavailable", None, surname_is("Flaky"));
    let ops: Vec<WriteOp> = ["Good1", "Bad", "Good2", "Flaky", "Good3"].iter().map(|n| create(n)).collect();
    let results = w.graph.apply(C, &ops).await.unwrap();
    assert!(results[0].is_ok() && results[2].is_ok() && results[4].is_ok(), "{results:?}");
    assert!(
        matches!(&results[1], Err(ConnectorError::Rejected { code, .. }) if code == "ErrorInvalidProperty"),
        "{:?}",
        results[1]
    );
    assert!(matches!(&results[3], Err(ConnectorError::Transient { .. })), "{:?}", results[3]);
    assert_eq!(w.fake.state().contacts(MAILBOX).len(), 3);
}

#[tokio::test]
async fn throttled_items_are_retried_alone_after_their_retry_after() {
    let w = world().await;
    w.fake.state().fail_batch_items(3, 429, "ApplicationThrottled", Some(1));
    let ops: Vec<WriteOp> = (0..10).map(|i| create(&format!("T{i}"))).collect();
    let started = std::time::Instant::now();
    let results = w.graph.apply(C, &ops).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(w.fake.state().batch_sizes(), vec![10, 3]);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
    assert_eq!(w.fake.state().contacts(MAILBOX).len(), 10);

    // A wait longer than the connector sits out comes back as throttling, for the engine.
    let mut config = config_for(&w.fake, certificate_auth());
    config.max_retry_wait = Duration::from_millis(100);
    let impatient = GraphConnector::new(config, http()).unwrap();
    w.fake.state().fail_batch_items(1, 429, "ApplicationThrottled", Some(30));
    let r = impatient.apply(C, &[create("Later")]).await.unwrap();
    assert!(
        matches!(r[0], Err(ConnectorError::Throttled { retry_after: Some(d) }) if d == Duration::from_secs(30)),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_throttled_request_or_batch_is_sent_again() {
    let w = world().await;
    w.graph.identity().await.unwrap(); // the token first: the throttling below is Graph's
    let body = json!({"error": {"code": "TooManyRequests", "message": "Please retry again later."}});
    w.fake.controls().throttle_next(2, 1, CannedResponse::json(axum_status(429), &body));
    let (changes, _, _) = drain(w.graph.as_ref(), C, None).await;
    assert!(changes.is_empty());
    w.fake.controls().throttle_next(1, 1, CannedResponse::json(axum_status(429), &body));
    let r = w.graph.apply(C, &[create("Once")]).await.unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    assert_eq!(w.fake.state().contacts(MAILBOX).len(), 1, "the refused batch ran nothing; sent again once");
}

fn axum_status(code: u16) -> reqwest::StatusCode {
    reqwest::StatusCode::from_u16(code).unwrap()
}

#[tokio::test]
async fn never_more_than_four_requests_in_flight_per_mailbox() {
    let w =
        world_with(GraphFakeConfig { batch_latency: Duration::from_millis(40), ..GraphFakeConfig::default() }).await;
    w.fake.controls().set_latency(Duration::from_millis(20));
    let mut tasks = Vec::new();
    for i in 0..12 {
        let graph = w.graph.clone();
        tasks.push(tokio::spawn(async move {
            let written = graph.apply(C, &[create(&format!("Busy{i}")), create(&format!("Busier{i}"))]).await.unwrap();
            let ids: Vec<RecordId> = written.into_iter().map(|r| r.unwrap().id).collect();
            graph.fetch(C, &ids).await.unwrap();
            graph.identity().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let peak = w.fake.state().peak_concurrency(MAILBOX);
    assert!(peak <= 4, "peak {peak}");
    assert!(peak >= 2, "the tasks did overlap (peak {peak})");
    assert_eq!(w.fake.state().inner_throttled(), 0);
    assert_eq!(w.fake.controls().rejected(), 0);
    assert_eq!(w.fake.state().contacts(MAILBOX).len(), 24);
    let budget = w.graph.budget();
    assert_eq!(budget.limit, 10_000);
    assert!(budget.total >= 12 * (2 + 2 + 1), "batch items count one each: {budget:?}");
}

#[tokio::test]
async fn a_repeated_event_create_returns_the_first_event_in_both_service_behaviours() {
    for mode in [DuplicateTransaction::ReturnExisting, DuplicateTransaction::Conflict] {
        let w = world_with(GraphFakeConfig { duplicate_transaction: mode, ..GraphFakeConfig::default() }).await;
        let event = tandem_testkit::generate::events(7, 1, day(10)).remove(0);
        let op = WriteOp::Create {
            key: IdempotencyKey::derive(E, Side::Crm, &RecordId::new("00U1")),
            record: Record::Event(event),
        };
        let first = w.graph.apply(E, std::slice::from_ref(&op)).await.unwrap();
        let again = w.graph.apply(E, std::slice::from_ref(&op)).await.unwrap();
        assert_eq!(first[0].as_ref().unwrap().id, again[0].as_ref().unwrap().id, "{mode:?}");
        assert_eq!(w.fake.state().events(MAILBOX).len(), 1, "{mode:?}");
    }
}

fn job(crm: &MemoryConnector, mailbox: Arc<dyn Connector>) -> UserSync {
    UserSync::new(MAILBOX, SyncConfig::named("t"), Arc::new(crm.clone()), mailbox)
}

fn events_only() -> SyncOptions {
    SyncOptions { objects: Some(vec![E]), ..SyncOptions::default() }
}

/// Asserts that every field both sides store holds the same value on both sides of every pair.
async fn assert_faithful(engine: &tandem_engine::Engine, crm: &MemoryConnector, graph: &GraphConnector) {
    let caps = graph_capabilities();
    let pairs = engine.store().all_pairs(MAILBOX, E).await.unwrap();
    assert!(!pairs.is_empty());
    let ids: Vec<RecordId> = pairs.iter().map(|p| p.mailbox.id.clone()).collect();
    let fetched = graph.fetch(E, &ids).await.unwrap();
    for (pair, change) in pairs.iter().zip(fetched) {
        let mut mailbox = change.record().cloned().unwrap();
        let mut source = crm.get(E, &pair.crm.id).unwrap();
        mailbox.normalize();
        source.normalize();
        canonical_overrides(&mut source);
        for key in FieldKey::standard(E).iter().filter(|k| caps.events.supports(k)) {
            assert_eq!(
                fingerprint(source.get(key).as_ref()),
                fingerprint(mailbox.get(key).as_ref()),
                "{key} of {:?}:\n crm     {:?}\n mailbox {:?}",
                subject(&source),
                source.get(key),
                mailbox.get(key)
            );
        }
    }
}

/// Override fields equal to the master's are not overrides: Graph's exceptions are whole copies
/// of the occurrence, so such a field reads back as inherited (the canonical form, as in the
/// iCalendar reader). The generator writes some redundantly.
fn canonical_overrides(r: &mut Record) {
    let Record::Event(e) = r else { return };
    let (subject, location, description) = (e.subject.clone(), e.location.clone(), e.description.clone());
    if let Some(rec) = e.recurrence.as_mut() {
        for ov in rec.overrides.values_mut() {
            if ov.subject == subject {
                ov.subject = None;
            }
            if ov.location == location {
                ov.location = None;
            }
            if ov.description == description {
                ov.description = None;
            }
        }
        rec.overrides.retain(|_, ov| {
            ov.timing.is_some() || ov.subject.is_some() || ov.location.is_some() || ov.description.is_some()
        });
    }
}

fn subject(r: &Record) -> Option<String> {
    match r {
        Record::Event(e) => e.subject.clone(),
        Record::Contact(_) => None,
    }
}

#[tokio::test]
async fn the_engine_syncs_realistic_events_faithfully_both_ways() {
    let w = world().await;
    let crm = MemoryConnector::new("crm");
    // Generated events start within ±60 days of the anchor: all inside the window.
    for e in tandem_testkit::generate::events(42, 60, day(75)) {
        let mut e = e;
        e.crm_links.clear();
        crm.insert(Record::Event(e));
    }
    let engine = engine().await;
    let report = engine.sync_user(&job(&crm, w.graph.clone()), &events_only()).await.unwrap();
    let o = report.object(E).unwrap();
    assert_eq!(o.applied("create"), 60, "{report}");
    assert!(o.failed.is_empty() && o.quarantined.is_empty(), "{report}");
    assert_eq!(w.fake.state().events(MAILBOX).len(), 60);
    assert_faithful(&engine, &crm, &w.graph).await;

    // Nothing changed: the echoes of Tandem's own writes are recognised.
    let quiet = engine.sync_user(&job(&crm, w.graph.clone()), &events_only()).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");

    // The user renames a meeting and books a new series with an exception in Outlook.
    let first = w.fake.state().events(MAILBOX).into_iter().find(|e| e["type"] == "singleInstance").unwrap();
    let id = first["id"].as_str().unwrap().to_owned();
    w.fake.state().edit_event(MAILBOX, &id, json!({"subject": "Renamed in Outlook"})).unwrap();
    let d = day(12);
    let series = w
        .fake
        .state()
        .seed_event(
            MAILBOX,
            json!({"subject": "Outlook series", "start": at(d, "15:00:00", "W. Europe Standard Time"), "end": at(d, "16:00:00", "W. Europe Standard Time"),
                   "recurrence": {"pattern": {"type": "daily", "interval": 1},
                                  "range": {"type": "numbered", "startDate": d.format("%Y-%m-%d").to_string(), "numberOfOccurrences": 5}}}),
        )
        .unwrap();
    let occ = tandem_testkit::graph::GraphState::occurrence_id(&series, d + chrono::Duration::days(2));
    w.fake.state().edit_event(MAILBOX, &occ, json!({"subject": "Outlook series (special)"})).unwrap();
    let report = engine.sync_user(&job(&crm, w.graph.clone()), &events_only()).await.unwrap();
    let o = report.object(E).unwrap();
    assert_eq!((o.applied("update"), o.applied("create")), (1, 1), "{report}");
    let crm_series = crm
        .records(E)
        .into_iter()
        .find_map(|(_, r)| match r {
            Record::Event(e) if e.subject.as_deref() == Some("Outlook series") => Some(e),
            _ => None,
        })
        .unwrap();
    let r = crm_series.recurrence.unwrap();
    assert_eq!(r.rules, vec!["FREQ=DAILY;COUNT=5"]);
    assert_eq!(r.overrides.values().next().unwrap().subject.as_deref(), Some("Outlook series (special)"));
    assert_faithful(&engine, &crm, &w.graph).await;
    let quiet = engine.sync_user(&job(&crm, w.graph.clone()), &events_only()).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
}

/// A mailbox where the user edits an event just before Tandem's first write arrives.
struct EditBeforeFirstWrite {
    inner: Arc<GraphConnector>,
    fake: tandem_testkit::graph::GraphState,
    id: String,
    done: AtomicBool,
}

#[async_trait]
impl Connector for EditBeforeFirstWrite {
    fn provider(&self) -> &str {
        self.inner.provider()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn connection(&self) -> tandem_connector::ConnectionInfo {
        self.inner.connection()
    }
    async fn identity(&self) -> Result<Identity, ConnectorError> {
        self.inner.identity().await
    }
    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        self.inner.pull(object, cursor).await
    }
    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        self.inner.fetch(object, ids).await
    }
    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        if !self.done.swap(true, Ordering::SeqCst) {
            self.fake.edit_event(MAILBOX, &self.id, json!({"location": {"displayName": "Moved to room 7"}})).unwrap();
        }
        self.inner.apply(object, ops).await
    }
    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.inner.find_by_key(object, key).await
    }
}

fn single_event(subject: &str) -> Event {
    let mut e = tandem_testkit::generate::events(3, 1, day(20)).remove(0);
    e.subject = Some(subject.into());
    e.recurrence = None;
    e.crm_links.clear();
    e
}

#[tokio::test]
async fn a_412_refetches_and_replans_without_losing_either_edit() {
    let w = world().await;
    let crm = MemoryConnector::new("crm");
    let id = crm.insert(Record::Event(single_event("Planning")));
    let engine = engine().await;
    engine.sync_user(&job(&crm, w.graph.clone()), &events_only()).await.unwrap();
    let mb_id = engine.store().all_pairs(MAILBOX, E).await.unwrap()[0].mailbox.id.clone();

    crm.edit(E, &id, |r| {
        if let Record::Event(e) = r {
            e.subject = Some("Planning (agenda attached)".into());
        }
    });
    let racing = Arc::new(EditBeforeFirstWrite {
        inner: w.graph.clone(),
        fake: w.fake.state().clone(),
        id: mb_id.0.to_string(),
        done: AtomicBool::new(false),
    });
    let report = engine.sync_user(&job(&crm, racing), &events_only()).await.unwrap();
    assert_eq!(report.object(E).unwrap().replanned, 1, "{report}");
    let stored = w.fake.state().event(MAILBOX, &mb_id.0).unwrap();
    assert_eq!(stored["subject"], "Planning (agenda attached)");
    assert_eq!(stored["location"]["displayName"], "Moved to room 7");
    let Some(Record::Event(e)) = crm.get(E, &id) else { panic!() };
    assert_eq!(e.location.as_deref(), Some("Moved to room 7"));
}

#[tokio::test]
async fn lost_answers_and_expired_tokens_never_duplicate_events() {
    let w = world().await;
    let crm = MemoryConnector::new("crm");
    for i in 0..25 {
        crm.insert(Record::Event(single_event(&format!("Meeting {i:02}"))));
    }
    let engine = engine().await;
    w.fake.state().lose_next_batch_responses(1);
    let first = engine.sync_user(&job(&crm, w.graph.clone()), &events_only()).await.unwrap();
    assert_eq!(first.object(E).unwrap().failed.len(), 20, "{first}");
    assert_eq!(w.fake.state().events(MAILBOX).len(), 25);
    let second = engine.sync_user(&job(&crm, w.graph.clone()), &events_only()).await.unwrap();
    assert_eq!(second.recovered_intents, 20);
    assert_eq!(second.object(E).unwrap().applied("create"), 0, "{second}");
    assert_eq!(w.fake.state().events(MAILBOX).len(), 25);

    w.fake.state().expire_delta_tokens();
    let third = engine.sync_user(&job(&crm, w.graph.clone()), &events_only()).await.unwrap();
    let o = third.object(E).unwrap();
    assert_eq!(o.full_resync, vec![Side::Mailbox]);
    assert_eq!(third.total_writes(), 0, "{third}");
    assert_eq!((crm.len(E), w.fake.state().events(MAILBOX).len()), (25, 25));
    assert_eq!(engine.store().pair_count(MAILBOX, E).await.unwrap(), 25);
}

fn mixed_event(subject: &str, offset: i64) -> Record {
    let mut e = tandem_testkit::generate::events(7, 1, day(offset)).remove(0);
    e.subject = Some(subject.into());
    e.recurrence = None;
    e.crm_links.clear();
    Record::Event(e)
}

/// `apply_mixed` puts both objects' items in the same `$batch` requests, each object answered on
/// its own; more than 20 items take more than one request.
#[tokio::test]
async fn contacts_and_events_writes_share_batches() {
    let w = world().await;
    let event_op = |subject: &str| WriteOp::Create {
        key: IdempotencyKey::derive(E, Side::Crm, &RecordId::new(subject)),
        record: mixed_event(subject, 3),
    };
    let contacts: Vec<WriteOp> = (0..3).map(|i| create(&format!("Mixed{i}"))).collect();
    let events: Vec<WriteOp> = (0..2).map(|i| event_op(&format!("Mixed meeting {i}"))).collect();
    let answers = w.graph.apply_mixed(&[(C, contacts), (E, events)]).await;
    assert_eq!(w.fake.state().batch_sizes(), vec![5], "one request for both objects");
    let [contacts, events] = [&answers[0], &answers[1]].map(|a| a.as_ref().unwrap());
    assert_eq!((contacts.len(), events.len()), (3, 2));
    for (i, r) in contacts.iter().enumerate() {
        let id = &r.as_ref().unwrap().id;
        assert_eq!(w.fake.state().contact(MAILBOX, &id.0).unwrap()["surname"], json!(format!("Mixed{i}")));
    }
    let subjects: Vec<String> =
        w.fake.state().events(MAILBOX).iter().filter_map(|e| e["subject"].as_str().map(str::to_owned)).collect();
    assert_eq!(subjects.len(), 2);
    for r in events {
        let id = &r.as_ref().unwrap().id;
        assert!(w.fake.state().events(MAILBOX).iter().any(|e| e["id"].as_str() == Some(id.as_str())));
    }

    // 15 contact updates and 10 event creates: 25 items, two requests, each object's answers
    // its own.
    let more: Vec<WriteOp> = (10..25).map(|i| create(&format!("More{i}"))).collect();
    let made = w.graph.apply(C, &more).await.unwrap();
    let updates: Vec<WriteOp> = made
        .iter()
        .map(|r| {
            let w = r.as_ref().unwrap();
            WriteOp::Update {
                id: w.id.clone(),
                expected: w.version.clone(),
                patch: vec![tandem_core::plan::FieldChange {
                    field: FieldKey::Title,
                    value: Some(tandem_core::fields::FieldValue::Text("Shared".into())),
                }],
            }
        })
        .collect();
    let creates: Vec<WriteOp> = (0..10).map(|i| event_op(&format!("Later {i}"))).collect();
    let answers = w.graph.apply_mixed(&[(C, updates), (E, creates)]).await;
    let sizes = w.fake.state().batch_sizes();
    assert_eq!(sizes[sizes.len() - 2..], [20, 5], "{sizes:?}");
    assert!(answers.iter().all(|a| a.as_ref().unwrap().iter().all(Result::is_ok)), "{answers:?}");
    assert_eq!(w.fake.state().events(MAILBOX).len(), 12);
}

/// The engine end to end: a CRM that takes mixed batches, Graph as the mailbox. A first sync of
/// contacts and events reads both deltas in one `$batch` and sends both objects' creates in
/// another; a quiet cycle reads the mailbox in one request.
#[tokio::test]
async fn the_engine_sends_a_users_contacts_and_events_in_one_batch() {
    let w = world().await;
    let crm = MemoryConnector::new("crm").with_mixed_batches();
    for i in 0..4 {
        crm.insert(contact(&format!("Engine{i}")));
    }
    for i in 0..3 {
        crm.insert(mixed_event(&format!("Engine meeting {i}"), 5 + i));
    }
    let engine = engine().await;
    let report = engine.sync_user(&job(&crm, w.graph.clone()), &SyncOptions::default()).await.unwrap();
    assert_eq!((report.object(C).unwrap().applied("create"), report.object(E).unwrap().applied("create")), (4, 3));
    // The two deltas' first pages (the contact folder was looked up and made first), then the
    // writes; a delta round's later pages are read alone.
    let sizes = w.fake.state().batch_sizes();
    assert_eq!(sizes.first(), Some(&2), "{sizes:?}");
    assert!(sizes.contains(&7), "both objects' creates in one batch: {sizes:?}");
    let delta_items = |s: &tandem_testkit::graph::GraphState| {
        s.count("$batch: GET /users/{id}/contactFolders/{id}/contacts/delta")
            + s.count("$batch: GET /users/{id}/calendarView/delta")
    };
    assert_eq!(delta_items(w.fake.state()), 2);

    w.fake.state().reset_counters();
    let quiet = engine.sync_user(&job(&crm, w.graph.clone()), &SyncOptions::default()).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
    assert_eq!(
        w.fake.state().http_requests(),
        1,
        "a quiet cycle reads the mailbox in one request: {:?}",
        w.fake.state().counts()
    );
    assert_eq!(delta_items(w.fake.state()), 2);
    assert_eq!(w.fake.state().contacts(MAILBOX).len(), 4);
    assert_eq!(w.fake.state().events(MAILBOX).len(), 3);
}
