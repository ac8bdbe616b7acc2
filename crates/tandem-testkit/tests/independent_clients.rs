//! The fakes driven by independent client libraries written for the real services (issue 9, "How
//! to keep them faithful"): `simple-salesforce` against the Salesforce fake and Microsoft's
//! `msgraph-core` against the Graph fake, each from a Python script in `clients/`.
//!
//! The libraries live in a virtual environment made by `.ci/clients-setup` (which `.ci/run` calls
//! before the test command). Its python is `TANDEM_CLIENTS_PYTHON`, by default
//! `<repo>/target/clients-venv/bin/python`. When it or the libraries are missing the tests fail
//! under `CI` and otherwise pass with a loud message saying how to install them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients_common;

use clients_common::{manifest_dir, python, run};
use tandem_testkit::graph::{GraphFake, GraphFakeConfig};
use tandem_testkit::keys;
use tandem_testkit::salesforce::{FakeConfig, SalesforceFake};

const GRAPH_TENANT: &str = "contoso";
const GRAPH_CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const GRAPH_SECRET: &str = "tandem-independent-client-secret";
const GRAPH_MAILBOX: &str = "ann@contoso.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_salesforce_drives_the_salesforce_fake() {
    let Some(python) = python(&["simple_salesforce"], "simple-salesforce") else { return };
    // Small pages so that `query` answers with a `nextRecordsUrl` and `query_all` follows it.
    let config = FakeConfig { page_size: 3, ..FakeConfig::default() };
    let (fake, server) = SalesforceFake::start_with(config.clone()).await.unwrap();
    let env = vec![
        ("TANDEM_SF_URL", server.base_url()),
        ("TANDEM_SF_CONSUMER_KEY", config.consumer_key.clone()),
        ("TANDEM_SF_USERNAME", config.run_as.clone()),
        ("TANDEM_SF_KEY_FILE", manifest_dir().join("fixtures/keys/test-rsa-key.pem").display().to_string()),
        ("TANDEM_SF_PAGE_SIZE", config.page_size.to_string()),
    ];
    run(python, "salesforce_client.py", Vec::new(), env).await;
    // What the library wrote is what the fake holds: the script leaves one marked contact behind.
    let kept: Vec<_> = fake
        .records("Contact")
        .into_iter()
        .filter(|c| c["Tandem_Sync_Id__c"].as_str() == Some("independent-client-upsert"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["LastName"], "Upserted-Again");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgraph_core_drives_the_graph_fake() {
    let Some(python) = python(&["msgraph_core", "httpx"], "msgraph-core") else { return };
    let config = GraphFakeConfig { tenant: GRAPH_TENANT.to_owned(), ..GraphFakeConfig::default() };
    let fake = GraphFake::start_with(config).await.unwrap();
    let state = fake.state();
    state.add_mailbox(GRAPH_MAILBOX, "Ann Demo");
    state.register_client_secret(GRAPH_CLIENT_ID, GRAPH_SECRET);
    state.register_certificate(GRAPH_CLIENT_ID, keys::TEST_RSA_CERT_PEM).unwrap();
    let env = vec![
        ("TANDEM_GRAPH_URL", fake.base_url()),
        ("TANDEM_GRAPH_TENANT", GRAPH_TENANT.to_owned()),
        ("TANDEM_GRAPH_CLIENT_ID", GRAPH_CLIENT_ID.to_owned()),
        ("TANDEM_GRAPH_CLIENT_SECRET", GRAPH_SECRET.to_owned()),
        ("TANDEM_GRAPH_MAILBOX", GRAPH_MAILBOX.to_owned()),
    ];
    run(python, "graph_client.py", Vec::new(), env).await;
    // The script leaves its folder's marked contact and its event behind.
    let contacts = state.contacts(GRAPH_MAILBOX);
    assert!(contacts.iter().any(|c| c["givenName"] == "Kept" && c["surname"] == "Client"), "{contacts:?}");
    assert!(state.events(GRAPH_MAILBOX).iter().any(|e| e["subject"] == "Independent client review"));
    fake.shutdown().await.unwrap();
}
