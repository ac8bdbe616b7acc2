//! The Salesforce connector against the fake on loopback: pull 10,000 contacts and push 10,000
//! creates, with the number of requests each takes next to the minimum the API allows
//! (⌈10,000 / 2,000⌉ query pages; ⌈10,000 / 200⌉ collection calls).
//!
//! Run with `cargo bench --bench salesforce`. Under `cargo test --benches` the sizes shrink to a
//! smoke test.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use divan::Bencher;
use serde_json::json;
use tandem_connector::http::{HttpClient, HttpConfig, Secret};
use tandem_connector::{Connector, WriteOp};
use tandem_core::model::{Contact, EmailAddress, ObjectKind, Phone, PhoneKind, Record};
use tandem_core::state::{IdempotencyKey, RecordId, Side};
use tandem_salesforce::{AuthConfig, MAX_BATCH, SalesforceConfig, SalesforceConnector, Url};
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::FakeServer;

const C: ObjectKind = ObjectKind::Contact;
const PAGE: usize = 2_000;
const QUERY: (&str, &str) = ("GET", "/services/data/{version}/query");
const QUERY_MORE: (&str, &str) = ("GET", "/services/data/{version}/query/{locator}");
const UPSERT: (&str, &str) = ("PATCH", "/services/data/{version}/composite/sobjects/{sobject}/{field}");

fn main() {
    divan::main();
}

fn records() -> usize {
    support::scaled(10_000, 10)
}

struct Org {
    rt: tokio::runtime::Runtime,
    fake: SalesforceFake,
    connector: Arc<SalesforceConnector>,
    _server: FakeServer,
}

fn org(seed: usize) -> Org {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (fake, server) = rt.block_on(SalesforceFake::start()).unwrap();
    for i in 0..seed {
        fake.insert(
            "Contact",
            json!({ "FirstName": "Person", "LastName": format!("Number {i:05}"), "Email": format!("p{i:05}@example.com"),
                    "Phone": "+44 20 7946 0000", "Title": "Engineer", "MailingCity": "London" }),
        )
        .unwrap();
    }
    let mut config = SalesforceConfig::new(
        AuthConfig::JwtBearer {
            consumer_key: fake.config().consumer_key,
            username: fake.user().username,
            private_key_pem: Secret::new(keys::TEST_RSA_KEY_PEM),
        },
        Url::parse(&server.base_url()).unwrap(),
    );
    config.middle_name = true;
    let http = HttpClient::new(HttpConfig { rate_limit: None, ..HttpConfig::default() }).unwrap();
    let connector = Arc::new(SalesforceConnector::new(config, http).unwrap());
    Org { rt, fake, connector, _server: server }
}

fn report(what: &str, started: Instant, requests: u64, minimum: usize, printed: &AtomicBool) {
    if !printed.swap(true, Ordering::SeqCst) {
        eprintln!(
            "salesforce {what}: {:.0} ms wall, {requests} request(s), minimum {minimum}",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}

/// Pulls every contact from scratch (a first sync's read).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn pull_10k_contacts(bencher: Bencher<'_, '_>) {
    let n = records();
    let org = org(n);
    // Sign in before timing.
    org.rt.block_on(org.connector.identity()).unwrap();
    let printed = AtomicBool::new(false);
    bencher.bench_local(|| {
        let before =
            org.fake.controls().count(QUERY.0, QUERY.1) + org.fake.controls().count(QUERY_MORE.0, QUERY_MORE.1);
        let started = Instant::now();
        let pulled = org.rt.block_on(async {
            let mut cursor = None;
            let mut pulled = 0;
            loop {
                let page = org.connector.pull(C, cursor.as_ref()).await.unwrap();
                pulled += page.changes.len();
                cursor = Some(page.cursor);
                if page.done {
                    return pulled;
                }
            }
        });
        assert_eq!(pulled, n);
        let after = org.fake.controls().count(QUERY.0, QUERY.1) + org.fake.controls().count(QUERY_MORE.0, QUERY_MORE.1);
        report(&format!("pull {n} contacts"), started, after - before, n.div_ceil(PAGE), &printed);
    });
}

fn person(i: usize) -> Record {
    Record::Contact(Contact {
        given_name: Some("Person".into()),
        family_name: Some(format!("Created {i:05}")),
        emails: vec![EmailAddress { kind: Default::default(), address: format!("c{i:05}@example.com") }],
        phones: vec![Phone { kind: PhoneKind::Mobile, number: "+44 7700 900000".into() }],
        title: Some("Engineer".into()),
        ..Contact::default()
    })
}

/// Creates contacts in batches of 200 (a first sync's writes), each batch one upsert.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn push_10k_creates(bencher: Bencher<'_, '_>) {
    let n = records();
    let printed = AtomicBool::new(false);
    bencher.with_inputs(|| org(0)).bench_local_values(|org| {
        let ops: Vec<WriteOp> = (0..n)
            .map(|i| WriteOp::Create {
                key: IdempotencyKey::derive(C, Side::Mailbox, &RecordId::new(format!("m{i}"))),
                record: person(i),
            })
            .collect();
        org.rt.block_on(org.connector.identity()).unwrap();
        let started = Instant::now();
        org.rt.block_on(async {
            for chunk in ops.chunks(MAX_BATCH) {
                let results = org.connector.apply(C, chunk).await.unwrap();
                assert!(results.iter().all(Result::is_ok));
            }
        });
        assert_eq!(org.fake.count("Contact"), n);
        report(
            &format!("push {n} creates"),
            started,
            org.fake.controls().count(UPSERT.0, UPSERT.1),
            n.div_ceil(MAX_BATCH),
            &printed,
        );
        org
    });
}
