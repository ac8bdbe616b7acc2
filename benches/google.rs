//! The Google Workspace connector: the first sync of 10,000 contacts and 10,000 events from a
//! CRM (an in-memory connector) into a Workspace user's contact group and calendar (the Google
//! fake on loopback, service account with domain-wide delegation) through the engine, and a
//! no-op cycle after it.
//!
//! Each first-sync sample starts a fresh fake, a fresh in-memory CRM holding N generated
//! contacts and N generated events (a quarter of them recurring, some with exceptions) and
//! fresh SQLite state, then runs one `Engine::sync_user` for both kinds. The no-op samples run
//! further cycles on one such world once its first sync is done. Besides divan's timing, each
//! prints the HTTP calls the fake received per route against the batching minimum:
//! ⌈contacts/200⌉ `batchCreateContacts` + ⌈events/batch_size⌉ Calendar batches +
//! ⌈instances/batch_size⌉ batches of the series' overrides and cancellations + the reads of an
//! empty account (a token, the contact group's list and create, one connections page, one events
//! page), where contacts and events are the records created (events outside the sync window and
//! private ones, which the default policy keeps out, stay behind). A no-op cycle's minimum is one
//! `connections.list` and one `events.list`.
//!
//! Run with `cargo bench --bench google`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use divan::Bencher;
use tandem_connector::http::{HttpClient, HttpConfig, Secret};
use tandem_connector::memory::MemoryConnector;
use tandem_core::model::{ObjectKind, Record};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_google::{GoogleConfig, GoogleConnector, ServiceAccountKey};
use tandem_store::SqliteStore;
use tandem_testkit::google::{DEMO_ACCOUNT, DEMO_USER, GoogleFake};
use tandem_testkit::keys;
use tandem_testkit::server::FakeServer;

const SEED: u64 = 0x600_2026;

fn main() {
    divan::main();
}

struct World {
    rt: tokio::runtime::Runtime,
    fake: GoogleFake,
    _server: FakeServer,
    engine: Engine,
    job: UserSync,
    n: usize,
    batch_size: usize,
}

fn connector(server: &FakeServer) -> GoogleConnector {
    let key = Secret::new(
        serde_json::json!({"type": "service_account", "client_email": DEMO_ACCOUNT, "private_key": keys::TEST_RSA_KEY_PEM})
            .to_string(),
    );
    let base = server.base_url();
    let base = base.trim_end_matches('/');
    let config = GoogleConfig::new(DEMO_USER)
        .with_endpoints(&format!("{base}/token"), &format!("{base}/calendar/v3"), &format!("{base}/v1"))
        .with_service_account(ServiceAccountKey::from_json(&key).expect("a key"));
    // No client-side pacing: the bench measures Tandem and the calls it makes, not the default
    // pace of 10 requests a second per host.
    let http = HttpClient::new(HttpConfig { rate_limit: None, ..HttpConfig::default() }).expect("a client");
    GoogleConnector::new(config, http).expect("the connector")
}

fn world(n: usize) -> World {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let (fake, server, engine, job, batch_size) = rt.block_on(async {
        let fake = GoogleFake::demo();
        let server = FakeServer::start(tandem_testkit::google::router(fake.clone())).await.expect("the fake");
        let crm = MemoryConnector::new("crm").with_page_size(1000);
        for c in tandem_testkit::generate::contacts(SEED, n) {
            crm.insert(Record::Contact(c));
        }
        for e in tandem_testkit::generate::events(SEED, n, Utc::now().date_naive()) {
            crm.insert(Record::Event(e));
        }
        let google = connector(&server);
        let batch_size = google.config().batch_size as usize;
        let store = Arc::new(SqliteStore::in_memory().await.expect("a store"));
        // The default policy, with plain http to the loopback fake.
        let policy = serde_json::from_value(serde_json::json!({ "endpoints": {"allow_loopback_http": true} }))
            .expect("a policy");
        let engine = Engine::new(store).with_policy(Arc::new(policy));
        let job = UserSync::new(DEMO_USER, SyncConfig::named("bench"), Arc::new(crm), Arc::new(google));
        (fake, server, engine, job, batch_size)
    });
    World { rt, fake, _server: server, engine, job, n, batch_size }
}

/// One cycle of both kinds: its wall time, its creates per kind (contacts, events), and the
/// calls it made per route.
fn cycle(w: &World) -> (Duration, (usize, usize), BTreeMap<String, u64>) {
    let controls = w.fake.controls();
    controls.reset_counts();
    let started = Instant::now();
    let report = w.rt.block_on(w.engine.sync_user(&w.job, &SyncOptions::default())).expect("the sync");
    let elapsed = started.elapsed();
    if std::env::var_os("TANDEM_BENCH_REPORT").is_some() {
        eprintln!("{report}");
    }
    for object in [ObjectKind::Contact, ObjectKind::Event] {
        let o = report.object(object).expect("a report");
        assert!(o.failed.is_empty() && o.quarantined.is_empty(), "{report}");
    }
    let calls = controls.counts().into_iter().map(|((method, path), n)| (format!("{method} {path}"), n)).collect();
    let created = |o| report.object(o).map_or(0, |r| r.applied("create"));
    assert_eq!(report.total_writes(), created(ObjectKind::Contact) + created(ObjectKind::Event), "{report}");
    (elapsed, (created(ObjectKind::Contact), created(ObjectKind::Event)), calls)
}

fn print_calls(calls: &BTreeMap<String, u64>) {
    for (route, count) in calls {
        println!("    {count:>6}  {route}");
    }
}

#[divan::bench(sample_count = 1, sample_size = 1)]
fn first_sync_into_google(bencher: Bencher<'_, '_>) {
    let n = support::scaled(10_000, 40);
    bencher.with_inputs(|| world(n)).bench_local_values(|w| {
        let (elapsed, (contacts, events), calls) = cycle(&w);
        assert_eq!(contacts, w.n, "every contact reaches Google");
        // Events outside the sync window, and private ones (the default policy), stay behind.
        assert!(events > w.n / 2, "most events reach Google: {events}");
        let total: u64 = calls.values().sum();
        // The series' overrides and cancellations: instances Google now holds, written in a
        // batch round of their own after their masters.
        let instances = w.fake.events(DEMO_USER).iter().filter(|e| e.get("recurringEventId").is_some()).count();
        let minimum =
            (contacts.div_ceil(200) + events.div_ceil(w.batch_size) + instances.div_ceil(w.batch_size) + 5) as u64;
        println!(
            "\ngoogle first sync of {contacts} contacts and {events} events ({n} of each in the CRM): \
             {:.2} s wall, {:.0} records/s\n  Google calls {total} (minimum ⌈{contacts}/200⌉ + ⌈{events}/{b}⌉ + \
             ⌈{instances} instances/{b}⌉ + 5 = {minimum}, {:.2}× the minimum)",
            elapsed.as_secs_f64(),
            (contacts + events) as f64 / elapsed.as_secs_f64(),
            total as f64 / minimum as f64,
            b = w.batch_size,
            n = w.n,
        );
        print_calls(&calls);
        w
    });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn no_op_cycle_against_google(bencher: Bencher<'_, '_>) {
    let n = support::scaled(10_000, 40);
    let w = world(n);
    let (_, (contacts, _), _) = cycle(&w);
    assert_eq!(contacts, n);
    // One more cycle reads back the echoes of the first one's writes.
    cycle(&w);
    let mut printed = false;
    bencher.bench_local(|| {
        let (elapsed, created, calls) = cycle(&w);
        assert_eq!(created, (0, 0), "a no-op cycle writes nothing");
        if !printed {
            printed = true;
            let total: u64 = calls.values().sum();
            println!(
                "\ngoogle no-op cycle over {n} contacts and {n} events: {:.1} ms wall\n  \
                 Google calls {total} (minimum 1 connections.list + 1 events.list)",
                elapsed.as_secs_f64() * 1000.0
            );
            print_calls(&calls);
        }
    });
}
