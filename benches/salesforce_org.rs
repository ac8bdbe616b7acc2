//! One user's incremental contact query against a large shared org: 10,000 users with 20
//! contacts each (200,000 contacts), through the fake's HTTP API as the connector sends it
//! (`WHERE OwnerId = … AND SystemModstamp >= … ORDER BY SystemModstamp, Id`). The fake's cost
//! should follow the user's records, not the org's.
//!
//! Run with `cargo bench --bench salesforce_org`. Under `cargo test --benches` the org shrinks to
//! a smoke test.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use divan::Bencher;
use serde_json::json;
use tandem_connector::Connector;
use tandem_connector::http::{HttpClient, HttpConfig, Secret};
use tandem_core::model::ObjectKind;
use tandem_salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector, Url};
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;

const PER_USER: usize = 20;

fn main() {
    divan::main();
}

/// Pulls one user's contacts changed since its last pull (none): one query over the org.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn incremental_pull_one_user_of_10k(bencher: Bencher<'_, '_>) {
    let users = support::scaled(10_000, 10);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (fake, server) = rt.block_on(SalesforceFake::start()).unwrap();
    let mut chosen = None;
    for u in 0..users {
        let username = format!("user{u:05}@example.com");
        let id = fake.add_user(&username, "User", &format!("Number {u:05}"), "Europe/London");
        for c in 0..PER_USER {
            fake.insert(
                "Contact",
                json!({ "OwnerId": id, "FirstName": "Person", "LastName": format!("Contact {u:05}-{c:02}"),
                        "Email": format!("p{u:05}.{c:02}@example.com") }),
            )
            .unwrap();
        }
        if u == users / 2 {
            chosen = Some(username);
        }
    }
    let config = SalesforceConfig::new(
        AuthConfig::JwtBearer {
            consumer_key: fake.config().consumer_key,
            username: chosen.unwrap(),
            private_key_pem: Secret::new(keys::TEST_RSA_KEY_PEM),
        },
        Url::parse(&server.base_url()).unwrap(),
    );
    let http = HttpClient::new(HttpConfig { rate_limit: None, ..HttpConfig::default() }).unwrap();
    let connector = SalesforceConnector::new(config, http).unwrap();
    // The first sync's read, untimed: its cursor is the incremental pull's starting point.
    let cursor = rt.block_on(async {
        let mut cursor = None;
        let mut pulled = 0;
        loop {
            let page = connector.pull(ObjectKind::Contact, cursor.as_ref()).await.unwrap();
            pulled += page.changes.len();
            cursor = Some(page.cursor);
            if page.done {
                break;
            }
        }
        assert_eq!(pulled, PER_USER);
        cursor.unwrap()
    });
    bencher.bench_local(|| {
        let page = rt.block_on(connector.pull(ObjectKind::Contact, Some(&cursor))).unwrap();
        assert!(page.changes.len() <= PER_USER);
    });
}
