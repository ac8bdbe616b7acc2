//! The Exchange Web Services connector: the first sync of 10,000 contacts from an Exchange
//! mailbox (the EWS fake on loopback, NTLM with impersonation) into a CRM (an in-memory
//! connector) through the engine, and a no-op cycle after it.
//!
//! Each first-sync sample starts a fresh fake holding N generated contacts in the mailbox's
//! `Salesforce_Sync` folder, a fresh in-memory CRM and SQLite state and a fresh `EwsConnector`,
//! then runs one `Engine::sync_user` for contacts. The no-op samples run further cycles on one
//! such world once its first sync is done. Besides divan's timing, each prints the EWS calls the
//! fake received (its per-operation counters) against the minimum: for the first sync
//! ⌈N/512⌉ `SyncFolderItems` + ⌈N/get_item_batch⌉ `GetItem` + 1 `FindFolder`; for a no-op cycle
//! one `SyncFolderItems`.
//!
//! Run with `cargo bench --bench ews`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use divan::Bencher;
use tandem_connector::http::{HttpClient, Secret};
use tandem_connector::memory::MemoryConnector;
use tandem_core::model::ObjectKind;
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_ews::{EwsAuth, EwsConfig, EwsConnector};
use tandem_store::SqliteStore;
use tandem_testkit::ews::{DEMO_ACCOUNT, DEMO_MAILBOX, DEMO_PASSWORD, EwsFake};
use tandem_testkit::server::FakeServer;

const SEED: u64 = 0xE75_2026;
const FOLDER: &str = "Salesforce_Sync";
const NS_T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

fn main() {
    divan::main();
}

struct World {
    rt: tokio::runtime::Runtime,
    fake: EwsFake,
    _server: FakeServer,
    engine: Engine,
    job: UserSync,
    get_item_batch: usize,
    n: usize,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn connector(server: &FakeServer) -> EwsConnector {
    let auth =
        EwsAuth::Ntlm { username: DEMO_ACCOUNT.into(), domain: String::new(), password: Secret::new(DEMO_PASSWORD) };
    let config = EwsConfig::new(format!("{}/EWS/Exchange.asmx", server.base_url()), DEMO_MAILBOX, auth);
    EwsConnector::new(config, HttpClient::with_defaults().expect("a client")).expect("the connector")
}

fn world(n: usize) -> World {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let (fake, server, engine, job, get_item_batch) = rt.block_on(async {
        let fake = EwsFake::demo();
        let server = FakeServer::start(tandem_testkit::ews::router(fake.clone())).await.expect("the fake");
        // A set-up connector makes the Salesforce_Sync folder (its calls are not counted below).
        {
            use tandem_connector::Connector as _;
            connector(&server).pull(ObjectKind::Contact, None).await.expect("the folder");
        }
        let folder = fake.folder_id_by_name(DEMO_MAILBOX, FOLDER).expect("the folder");
        for c in tandem_testkit::generate::contacts(SEED, n) {
            let mut xml = format!(r#"<t:Contact xmlns:t="{NS_T}">"#);
            if let Some(g) = &c.given_name {
                xml.push_str(&format!("<t:GivenName>{}</t:GivenName>", escape(g)));
            }
            if let Some(e) = c.emails.first() {
                xml.push_str(&format!(
                    r#"<t:EmailAddresses><t:Entry Key="EmailAddress1">{}</t:Entry></t:EmailAddresses>"#,
                    escape(&e.address)
                ));
            }
            if let Some(t) = &c.title {
                xml.push_str(&format!("<t:JobTitle>{}</t:JobTitle>", escape(t)));
            }
            if let Some(s) = &c.family_name {
                xml.push_str(&format!("<t:Surname>{}</t:Surname>", escape(s)));
            }
            xml.push_str("</t:Contact>");
            fake.seed_item_xml(DEMO_MAILBOX, &folder, &xml).expect("a contact");
        }
        let ews = connector(&server);
        let get_item_batch = ews.config().get_item_batch;
        let crm = MemoryConnector::new("crm").with_page_size(1000);
        let store = Arc::new(SqliteStore::in_memory().await.expect("a store"));
        // The default policy (NTLM allowed on premises), with plain http to the loopback fake.
        let policy = serde_json::from_value(serde_json::json!({ "endpoints": {"allow_loopback_http": true} }))
            .expect("a policy");
        let engine = Engine::new(store).with_policy(Arc::new(policy));
        let job = UserSync::new(DEMO_MAILBOX, SyncConfig::named("bench"), Arc::new(crm), Arc::new(ews));
        (fake, server, engine, job, get_item_batch)
    });
    World { rt, fake, _server: server, engine, job, get_item_batch, n }
}

fn options() -> SyncOptions {
    SyncOptions { objects: Some(vec![ObjectKind::Contact]), ..SyncOptions::default() }
}

/// One contact cycle: its wall time, its writes, and the EWS calls it made per operation.
fn cycle(w: &World) -> (Duration, usize, BTreeMap<String, u64>) {
    let before = w.fake.counts();
    let started = Instant::now();
    let report = w.rt.block_on(w.engine.sync_user(&w.job, &options())).expect("the sync");
    let elapsed = started.elapsed();
    let o = report.object(ObjectKind::Contact).expect("a report");
    assert!(o.failed.is_empty() && o.quarantined.is_empty(), "{report}");
    let calls = w
        .fake
        .counts()
        .into_iter()
        .map(|(k, v)| {
            let d = v - before.get(&k).copied().unwrap_or(0);
            (k, d)
        })
        .filter(|(_, d)| *d > 0)
        .collect();
    (elapsed, report.total_writes(), calls)
}

fn print_calls(calls: &BTreeMap<String, u64>) {
    for (op, count) in calls {
        println!("    {count:>6}  {op}");
    }
}

#[divan::bench(sample_count = 1, sample_size = 1)]
fn first_sync_from_ews(bencher: Bencher<'_, '_>) {
    let n = support::scaled(10_000, 40);
    bencher.with_inputs(|| world(n)).bench_local_values(|w| {
        let (elapsed, writes, calls) = cycle(&w);
        assert_eq!(writes, w.n, "every contact reaches the CRM");
        let total: u64 = calls.values().sum();
        let minimum = w.n.div_ceil(512) + w.n.div_ceil(w.get_item_batch) + 1;
        println!(
            "\news first sync of {} contacts: {:.2} s wall, {:.0} contacts/s\n  EWS calls {total} (minimum ⌈{n}/512⌉ + ⌈{n}/{}⌉ + 1 = {minimum}, {:.2}× the minimum)",
            w.n,
            elapsed.as_secs_f64(),
            w.n as f64 / elapsed.as_secs_f64(),
            w.get_item_batch,
            total as f64 / minimum as f64,
            n = w.n,
        );
        print_calls(&calls);
        w
    });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn no_op_cycle_from_ews(bencher: Bencher<'_, '_>) {
    let n = support::scaled(10_000, 40);
    let w = world(n);
    let (_, writes, _) = cycle(&w);
    assert_eq!(writes, n);
    // One more cycle settles anything the first one left to read back.
    cycle(&w);
    let mut printed = false;
    bencher.bench_local(|| {
        let (elapsed, writes, calls) = cycle(&w);
        assert_eq!(writes, 0, "a no-op cycle writes nothing");
        if !printed {
            printed = true;
            let total: u64 = calls.values().sum();
            println!(
                "\news no-op cycle over {n} contacts: {:.1} ms wall\n  EWS calls {total} (minimum 1 SyncFolderItems)",
                elapsed.as_secs_f64() * 1000.0
            );
            print_calls(&calls);
        }
    });
}
