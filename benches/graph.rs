//! The Microsoft Graph connector: an initial CRM → mailbox sync of 10,000 contacts and of 10,000
//! events through the engine, against the Graph fake on loopback.
//!
//! Each sample starts a fresh fake, a fresh in-memory CRM holding N generated records, a fresh
//! SQLite state and a `GraphConnector` with certificate credentials, then runs one
//! `Engine::sync_user` for the object. Besides divan's timing, each run prints its wall time and
//! the requests the fake received against the minimum: one `$batch` per 20 writes (⌈N/20⌉). The
//! rest are the token request, the folder lookup and creation (contacts), the delta pages that
//! read the empty mailbox, and for events the follow-up batches that give series their
//! exceptions and cancellations (list the occurrences, patch or delete them, read the series'
//! new version).
//!
//! The fake does not enforce the mailbox budget of 10,000 requests per 10 minutes, and the
//! connector's own tracking of it is lifted here: against a real mailbox, 10,000 writes take at
//! least ten minutes whatever the client does.
//!
//! Run with `cargo bench --bench graph`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use divan::Bencher;
use tandem_connector::http::{HttpClient, HttpConfig, Secret};
use tandem_connector::memory::MemoryConnector;
use tandem_core::model::{ObjectKind, Record};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_graph::{AssertionAlgorithm, GraphAuth, GraphConfig, GraphConnector};
use tandem_store::SqliteStore;
use tandem_testkit::graph::GraphFake;
use tandem_testkit::keys::{TEST_RSA_CERT_PEM, TEST_RSA_KEY_PEM};

const MAILBOX: &str = "ann@contoso.example";
const CLIENT: &str = "00000000-aaaa-bbbb-cccc-00000000beef";
const SEED: u64 = 0x6EA9_2026;

fn main() {
    divan::main();
}

struct World {
    rt: tokio::runtime::Runtime,
    fake: GraphFake,
    engine: Engine,
    job: UserSync,
    object: ObjectKind,
    n: usize,
}

fn world(object: ObjectKind, n: usize) -> World {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let (fake, engine, job) = rt.block_on(async {
        let fake = GraphFake::start().await.expect("the fake");
        fake.state().add_mailbox(MAILBOX, "Ann Example");
        fake.state().register_certificate(CLIENT, TEST_RSA_CERT_PEM).expect("the certificate");
        let crm = MemoryConnector::new("crm").with_page_size(1000);
        match object {
            ObjectKind::Contact => {
                for c in tandem_testkit::generate::contacts(SEED, n) {
                    crm.insert(Record::Contact(c));
                }
            }
            ObjectKind::Event => {
                // Within ±60 days of the anchor: all inside the connector's calendar window.
                let anchor = (chrono::Utc::now() + chrono::Duration::days(75)).date_naive();
                for mut e in tandem_testkit::generate::events(SEED, n, anchor) {
                    e.crm_links.clear();
                    crm.insert(Record::Event(e));
                }
            }
        }
        let auth = GraphAuth::Certificate {
            client_id: CLIENT.into(),
            certificate_pem: TEST_RSA_CERT_PEM.into(),
            private_key_pem: Secret::new(TEST_RSA_KEY_PEM),
            algorithm: AssertionAlgorithm::Ps256,
        };
        let mut config = GraphConfig::new(fake.state().config().tenant, MAILBOX, auth)
            .with_authority(fake.base_url())
            .with_graph_base(fake.graph_url());
        config.request_budget = u32::MAX;
        let http = HttpClient::new(HttpConfig { rate_limit: None, ..HttpConfig::default() }).expect("a client");
        let graph = Arc::new(GraphConnector::new(config, http).expect("the connector"));
        let store = Arc::new(SqliteStore::in_memory().await.expect("a store"));
        // The default policy, with plain http to the loopback fake allowed and private events
        // synced in full (the generated data has some).
        let policy = serde_json::from_value(serde_json::json!({
            "endpoints": {"allow_loopback_http": true},
            "data": {"private_events": "full"},
        }))
        .expect("a policy");
        let engine = Engine::new(store).with_policy(Arc::new(policy));
        let job = UserSync::new(MAILBOX, SyncConfig::named("bench"), Arc::new(crm), graph);
        (fake, engine, job)
    });
    World { rt, fake, engine, job, object, n }
}

fn run(w: &World) -> Duration {
    let options = SyncOptions { objects: Some(vec![w.object]), ..SyncOptions::default() };
    let started = Instant::now();
    let report = w.rt.block_on(w.engine.sync_user(&w.job, &options)).expect("the sync");
    let elapsed = started.elapsed();
    let o = report.object(w.object).expect("a report");
    assert_eq!(o.applied("create"), w.n, "{report}");
    assert!(o.failed.is_empty() && o.quarantined.is_empty(), "{report}");
    elapsed
}

fn report(w: &World, elapsed: Duration) {
    let state = w.fake.state();
    let batches = state.count("POST /$batch");
    let minimum = w.n.div_ceil(20) as u64;
    let items = state.batch_items();
    let http = state.http_requests();
    let creates = state.counts().iter().filter(|(k, _)| k.starts_with("$batch: POST")).map(|(_, v)| *v).sum::<u64>();
    println!(
        "\ngraph initial sync of {} {}s: {:.2} s wall, {:.0} records/s\n  HTTP requests {http}: {batches} $batch (minimum ⌈{}/20⌉ = {minimum}, {:.2}× the minimum), {} others\n  batch items {items}: {creates} creates, {} follow-ups (series occurrences and versions)",
        w.n,
        w.object,
        elapsed.as_secs_f64(),
        w.n as f64 / elapsed.as_secs_f64(),
        w.n,
        batches as f64 / minimum as f64,
        http - batches,
        items - creates,
    );
    for (key, count) in state.counts() {
        println!("    {count:>6}  {key}");
    }
}

#[divan::bench(args = [ObjectKind::Contact, ObjectKind::Event], sample_count = 1, sample_size = 1)]
fn initial_sync_to_graph(bencher: Bencher<'_, '_>, object: ObjectKind) {
    let n = support::scaled(10_000, 40);
    bencher.with_inputs(|| world(object, n)).bench_local_values(|w| {
        let elapsed = run(&w);
        report(&w, elapsed);
        w
    });
}
