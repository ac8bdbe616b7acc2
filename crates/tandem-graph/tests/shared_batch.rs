//! Cross-mailbox `$batch` coalescing ([`SharedBatcher`]) over loopback: many mailboxes' writes
//! share full batches and each connector gets exactly its own answers; a throttled mailbox is
//! retried alone; a batch failing as a whole fails only what it carried; a mailbox's four slots
//! and budget; the engine with the batcher on; who may share; delta pages in shared batches.
//! The fake's rules for batches that mix mailboxes are in `shared_batch_fake.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{Connector, ConnectorError, WriteOp};
use tandem_core::model::{Contact, EmailAddress, ObjectKind, Record};
use tandem_core::state::{IdempotencyKey, RecordId, Side};
use tandem_engine::config::SyncConfig;
use tandem_engine::{SyncOptions, UserSync};
use tandem_graph::{GraphAuth, GraphConnector, SharedBatcher};
use tandem_testkit::graph::{GraphFake, GraphFakeConfig};
use tandem_testkit::server::CannedResponse;

const C: ObjectKind = ObjectKind::Contact;
const E: ObjectKind = ObjectKind::Event;

fn mailbox(n: usize) -> String {
    format!("m{n:02}@contoso.example")
}

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

fn create_event(subject: &str) -> WriteOp {
    let mut e = tandem_testkit::generate::events(3, 1, day(20)).remove(0);
    e.subject = Some(subject.into());
    e.recurrence = None;
    e.crm_links.clear();
    WriteOp::Create { key: IdempotencyKey::derive(E, Side::Crm, &RecordId::new(subject)), record: Record::Event(e) }
}

/// A fake with `n` mailboxes and one connector per mailbox, all on one HTTP client and one
/// shared batcher.
async fn mailboxes(
    n: usize,
    linger: Duration,
    config: GraphFakeConfig,
) -> (GraphFake, SharedBatcher, Vec<Arc<GraphConnector>>) {
    let fake = fake_with(config).await;
    let batcher = SharedBatcher::with_linger(linger);
    let http = http();
    let mut connectors = Vec::new();
    for k in 0..n {
        fake.state().add_mailbox(&mailbox(k), &format!("User {k}"));
        let mut config = config_for(&fake, certificate_auth()).with_shared_batcher(batcher.clone());
        config.mailbox = mailbox(k);
        connectors.push(Arc::new(GraphConnector::new(config, http.clone()).unwrap()));
    }
    (fake, batcher, connectors)
}

/// Surnames of a mailbox's contacts, sorted.
fn surnames(fake: &GraphFake, mb: &str) -> Vec<String> {
    let mut v: Vec<String> =
        fake.state().contacts(mb).iter().filter_map(|c| c["surname"].as_str().map(str::to_owned)).collect();
    v.sort();
    v
}

#[tokio::test]
async fn fifty_mailboxes_share_full_batches_and_each_gets_its_own_answers() {
    let (fake, batcher, graphs) = mailboxes(50, Duration::from_millis(20), GraphFakeConfig::default()).await;
    // The folder of each mailbox first (plain requests, not batched), so the writes below start together.
    for g in &graphs {
        drain(g.as_ref(), C, None).await;
    }
    fake.state().reset_counters();
    let before = batcher.stats();
    let mut tasks = Vec::new();
    for (k, g) in graphs.iter().enumerate() {
        let g = g.clone();
        tasks.push(tokio::spawn(async move {
            let contacts: Vec<WriteOp> = (0..3).map(|j| create(&format!("M{k:02}c{j}"))).collect();
            let events = vec![create_event(&format!("M{k:02} meeting"))];
            let (c, e) = tokio::join!(g.apply(C, &contacts), g.apply(E, &events));
            (k, c.unwrap(), e.unwrap())
        }));
    }
    for t in tasks {
        let (k, contacts, events) = t.await.unwrap();
        let mb = mailbox(k);
        for (j, r) in contacts.iter().enumerate() {
            let id = &r.as_ref().unwrap().id;
            let stored = fake.state().contact(&mb, &id.0).expect("the answer's id is in its own mailbox");
            assert_eq!(stored["surname"], json!(format!("M{k:02}c{j}")), "answers in order, to their own caller");
        }
        let id = &events[0].as_ref().unwrap().id;
        assert_eq!(fake.state().event(&mb, &id.0).unwrap()["subject"], json!(format!("M{k:02} meeting")));
    }
    for k in 0..50 {
        let mb = mailbox(k);
        let want: Vec<String> = (0..3).map(|j| format!("M{k:02}c{j}")).collect();
        assert_eq!(surnames(&fake, &mb), want, "nothing crossed into {mb}");
        assert_eq!(fake.state().events(&mb).len(), 1, "{mb}");
        assert!(fake.state().peak_concurrency(&mb) <= 4);
    }
    let sizes = fake.state().batch_sizes();
    let stats = batcher.stats();
    println!("50 connectors, 200 items: {} shared $batch requests, sizes {sizes:?}", sizes.len());
    assert_eq!(stats.items - before.items, 200);
    assert_eq!(sizes.iter().sum::<usize>(), 200);
    assert_eq!((stats.batches - before.batches) as usize, sizes.len());
    assert!(sizes.len() <= 20, "far fewer batches than the 100 calls (50 connectors x 2 objects): {sizes:?}");
    assert!(sizes.iter().all(|s| *s <= 20));
    assert_eq!(fake.state().inner_throttled(), 0);
}

#[tokio::test]
async fn a_throttled_mailbox_is_retried_alone_and_never_holds_up_the_others() {
    let (fake, _batcher, graphs) = mailboxes(10, Duration::from_millis(10), GraphFakeConfig::default()).await;
    for g in &graphs {
        drain(g.as_ref(), C, None).await;
    }
    let slow = format!("/users/{}/", mailbox(0));
    fake.state().fail_batch_items_where(2, 429, "ApplicationThrottled", Some(1), move |_, url, _| url.contains(&slow));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (k, g) in graphs.iter().enumerate() {
        let g = g.clone();
        tasks.push(tokio::spawn(async move {
            let r = g.apply(C, &[create(&format!("T{k}a")), create(&format!("T{k}b"))]).await.unwrap();
            (k, r, started.elapsed())
        }));
    }
    for t in tasks {
        let (k, results, took) = t.await.unwrap();
        assert!(results.iter().all(Result::is_ok), "{k}: {results:?}");
        if k == 0 {
            assert!(took >= Duration::from_secs(1), "the throttled mailbox waited its Retry-After: {took:?}");
        } else {
            assert!(took < Duration::from_millis(900), "mailbox {k} waited for another's throttling: {took:?}");
        }
        assert_eq!(surnames(&fake, &mailbox(k)), vec![format!("T{k}a"), format!("T{k}b")]);
    }
    assert_eq!(fake.state().inner_throttled(), 2);
}

#[tokio::test]
async fn a_batch_failing_as_a_whole_fails_only_the_items_it_carried() {
    let (fake, batcher, graphs) = mailboxes(30, Duration::from_millis(100), GraphFakeConfig::default()).await;
    for g in &graphs {
        drain(g.as_ref(), C, None).await;
    }
    fake.state().reset_counters();
    let before = batcher.stats();
    let body = json!({"error": {"code": "ServiceUnavailable", "message": "Try again."}});
    let status = reqwest::StatusCode::SERVICE_UNAVAILABLE;
    fake.controls().fail_next_matching(1, |r| r.uri().path().ends_with("/$batch"), CannedResponse::json(status, &body));
    let mut tasks = Vec::new();
    for (k, g) in graphs.iter().enumerate() {
        let g = g.clone();
        tasks.push(tokio::spawn(async move { (k, g.apply(C, &[create(&format!("W{k}"))]).await.unwrap()) }));
    }
    let mut failed = 0;
    for t in tasks {
        let (k, r) = t.await.unwrap();
        match &r[0] {
            Ok(w) => assert_eq!(fake.state().contact(&mailbox(k), &w.id.0).unwrap()["surname"], json!(format!("W{k}"))),
            Err(e) => {
                assert!(matches!(e, ConnectorError::Transient { .. }), "{e:?}");
                assert!(surnames(&fake, &mailbox(k)).is_empty(), "the failed batch ran nothing");
                failed += 1;
            }
        }
    }
    let stats = batcher.stats();
    let delivered: usize = fake.state().batch_sizes().iter().sum();
    let batches = stats.batches - before.batches;
    println!("30 single writes: {batches} batches, one failed with {failed} items; {delivered} delivered");
    assert_eq!(stats.failed_batches - before.failed_batches, 1);
    assert!((1..=20).contains(&failed), "{failed}");
    assert_eq!(failed + delivered, 30, "the failed batch's items, and only those, failed");

    // The engine's next cycle would send them again: they go through the batcher like any others.
    let again = graphs[0].apply(C, &[create("Again")]).await.unwrap();
    assert!(again[0].is_ok());
}

#[tokio::test]
async fn only_app_only_connections_of_the_batchers_app_may_share() {
    let fake = fake_with(GraphFakeConfig::default()).await;
    let batcher = SharedBatcher::new();
    GraphConnector::new(config_for(&fake, certificate_auth()).with_shared_batcher(batcher.clone()), http()).unwrap();
    // Delegated: one user's token.
    let delegated = GraphAuth::delegated(CLIENT, None, tandem_connector::http::Secret::new("refresh-token-value"));
    let e = GraphConnector::new(config_for(&fake, delegated).with_shared_batcher(batcher.clone()), http()).unwrap_err();
    assert!(matches!(e, ConnectorError::Config { .. }), "{e:?}");
    // Same app with another credential, or another tenant: another token.
    let e =
        GraphConnector::new(config_for(&fake, secret_auth()).with_shared_batcher(batcher.clone()), http()).unwrap_err();
    assert!(matches!(e, ConnectorError::Config { .. }), "{e:?}");
    let mut other = config_for(&fake, certificate_auth()).with_shared_batcher(batcher.clone());
    other.tenant = "fabrikam".into();
    assert!(GraphConnector::new(other, http()).is_err());
    // A secret never shows.
    let b = SharedBatcher::new();
    GraphConnector::new(config_for(&fake, secret_auth()).with_shared_batcher(b.clone()), http()).unwrap();
    let shown = format!("{b:?} {:?}", config_for(&fake, secret_auth()).with_shared_batcher(b.clone()));
    assert!(!shown.contains(SECRET) && shown.contains(CLIENT), "{shown}");
}

#[tokio::test]
async fn the_engine_syncs_several_users_through_one_batcher_without_duplicates() {
    let (fake, batcher, graphs) = mailboxes(3, Duration::from_millis(5), GraphFakeConfig::default()).await;
    let crms: Vec<MemoryConnector> = (0..3).map(|k| MemoryConnector::new(format!("crm{k}"))).collect();
    for (k, crm) in crms.iter().enumerate() {
        for j in 0..25 {
            crm.insert(contact(&format!("U{k}n{j:02}")));
        }
        for j in 0..4 {
            let WriteOp::Create { record, .. } = create_event(&format!("U{k} event {j}")) else { unreachable!() };
            crm.insert(record);
        }
    }
    let engine = engine().await;
    let jobs = || -> Vec<UserSync> {
        (0..3)
            .map(|k| {
                let crm: Arc<dyn Connector> = Arc::new(crms[k].clone());
                let mb: Arc<dyn Connector> = graphs[k].clone();
                UserSync::new(mailbox(k), SyncConfig::named("t"), crm, mb)
            })
            .collect()
    };
    for (user, report) in engine.sync_all(jobs(), &SyncOptions::default()).await {
        let report = report.unwrap();
        assert_eq!(report.object(C).unwrap().applied("create"), 25, "{user}: {report}");
        assert_eq!(report.object(E).unwrap().applied("create"), 4, "{user}: {report}");
    }
    for k in 0..3 {
        let want: Vec<String> = (0..25).map(|j| format!("U{k}n{j:02}")).collect();
        assert_eq!(surnames(&fake, &mailbox(k)), want, "no duplicates, nothing crossed");
        assert_eq!(fake.state().events(&mailbox(k)).len(), 4);
        assert_eq!(engine.store().pair_count(&mailbox(k), C).await.unwrap(), 25);
    }
    assert!(batcher.stats().items >= 87, "{:?}", batcher.stats());

    // An edit in one CRM reaches its own mailbox only; a quiet cycle writes nothing.
    let (id, _) = crms[1].records(C).into_iter().next().unwrap();
    crms[1].edit(C, &id, |r| {
        if let Record::Contact(c) = r {
            c.title = Some("Edited".into());
        }
    });
    fake.state().reset_counters();
    for (user, report) in engine.sync_all(jobs(), &SyncOptions::default()).await {
        let report = report.unwrap();
        let want = usize::from(user == mailbox(1));
        assert_eq!(report.total_writes(), want, "{user}: {report}");
    }
    let titled: Vec<(usize, Value)> = (0..3)
        .flat_map(|k| fake.state().contacts(&mailbox(k)).into_iter().map(move |c| (k, c)))
        .filter(|(_, c)| c["jobTitle"] == "Edited")
        .collect();
    assert_eq!(titled.len(), 1);
    assert_eq!(titled[0].0, 1);
    // The delta pages went through the shared batches too, none alone.
    let counts = fake.state().counts();
    for delta in ["/users/{id}/contactFolders/{id}/contacts/delta", "/users/{id}/calendarView/delta"] {
        assert_eq!(fake.state().count(&format!("GET {delta}")), 0, "{counts:?}");
        assert!(fake.state().count(&format!("$batch: GET {delta}")) >= 3, "{counts:?}");
    }
    println!("incremental cycle of 3 users: {counts:?}");
}

#[tokio::test]
async fn one_mailbox_keeps_its_four_slots_and_its_budget_through_the_batcher() {
    let config = GraphFakeConfig { batch_latency: Duration::from_millis(40), ..GraphFakeConfig::default() };
    let (fake, _batcher, graphs) = mailboxes(2, Duration::from_millis(2), config).await;
    fake.controls().set_latency(Duration::from_millis(20));
    let mut tasks = Vec::new();
    for i in 0..12 {
        let graph = graphs[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let written = graph.apply(C, &[create(&format!("Busy{i}")), create(&format!("Busier{i}"))]).await.unwrap();
            let ids: Vec<RecordId> = written.into_iter().map(|r| r.unwrap().id).collect();
            graph.fetch(C, &ids).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (k, graph) in graphs.iter().enumerate() {
        let peak = fake.state().peak_concurrency(&mailbox(k));
        assert!((2..=4).contains(&peak), "peak {peak}");
        assert_eq!(fake.state().contacts(&mailbox(k)).len(), 12);
        assert!(graph.budget().total >= 6 * (2 + 2), "batch items count one each: {:?}", graph.budget());
    }
    assert_eq!(fake.state().inner_throttled(), 0);
    assert_eq!(fake.controls().rejected(), 0);
}

#[tokio::test]
async fn delta_pages_travel_in_shared_batches_and_expire_or_fall_back_as_plain_ones() {
    let (fake, _batcher, graphs) = mailboxes(2, Duration::from_millis(2), GraphFakeConfig::default()).await;
    for i in 0..25 {
        fake.state().seed_contact(&mailbox(0), Some("Tandem"), json!({"surname": format!("S{i:02}")})).unwrap();
    }
    fake.state().reset_counters();
    let (changes, cursor, pages) = drain(graphs[0].as_ref(), C, None).await;
    assert_eq!((changes.len(), pages), (25, 1), "one page of up to 200 (Prefer travels in the item)");
    let template = "/users/{id}/contactFolders/{id}/contacts/delta";
    assert_eq!(
        (fake.state().count(&format!("$batch: GET {template}")), fake.state().count(&format!("GET {template}"))),
        (1, 0)
    );

    // A throttled delta item is sent again alone, as a plain GET.
    fake.state().fail_batch_items(1, 429, "ApplicationThrottled", Some(1));
    let page = graphs[0].pull(C, Some(&cursor)).await.unwrap();
    assert!(page.changes.is_empty() && page.done);
    assert_eq!(fake.state().count(&format!("GET {template}")), 1);

    // An expired token inside a batch is still an expired cursor.
    fake.state().expire_delta_tokens();
    let e = graphs[0].pull(C, Some(&page.cursor)).await.unwrap_err();
    assert!(matches!(e, ConnectorError::CursorExpired), "{e:?}");
}
