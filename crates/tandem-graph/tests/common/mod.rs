//! Shared fixtures of the Graph connector tests: a fake on loopback and a connector for it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as Days, NaiveDate, Utc};
use serde_json::{Value, json};
use tandem_connector::http::{HttpClient, HttpConfig, Secret};
use tandem_connector::{Connector, PullPage};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Cursor};
use tandem_graph::{GraphAuth, GraphConfig, GraphConnector};
use tandem_testkit::graph::{GraphFake, GraphFakeConfig};

pub const MAILBOX: &str = "ann@contoso.example";
pub const CLIENT: &str = "00000000-aaaa-bbbb-cccc-000000000001";
pub const SECRET: &str = "s3cr3t-value-for-tests";

pub struct World {
    pub fake: GraphFake,
    pub graph: Arc<GraphConnector>,
}

/// An HTTP client for tests: no client-side rate limit, short backoff.
pub fn http() -> HttpClient {
    HttpClient::new(HttpConfig {
        rate_limit: None,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_secs(5),
        ..HttpConfig::default()
    })
    .unwrap()
}

pub fn config_for(fake: &GraphFake, auth: GraphAuth) -> GraphConfig {
    GraphConfig::new(fake.state().config().tenant, MAILBOX, auth)
        .with_authority(fake.base_url())
        .with_graph_base(fake.graph_url())
}

pub fn secret_auth() -> GraphAuth {
    GraphAuth::ClientSecret { client_id: CLIENT.into(), secret: Secret::new(SECRET) }
}

/// Certificate credentials with the test key: what the default security policy allows.
pub fn certificate_auth() -> GraphAuth {
    GraphAuth::Certificate {
        client_id: CLIENT.into(),
        certificate_pem: tandem_testkit::keys::TEST_RSA_CERT_PEM.into(),
        private_key_pem: Secret::new(tandem_testkit::keys::TEST_RSA_KEY_PEM),
        algorithm: tandem_graph::AssertionAlgorithm::Ps256,
    }
}

/// An engine over in-memory SQLite, under the default policy with loopback `http://` allowed
/// and private events synced in full (the default skips them; the tests check their mapping).
pub async fn engine() -> tandem_engine::Engine {
    let store = Arc::new(tandem_store::SqliteStore::in_memory().await.unwrap());
    let mut policy = tandem_policy::Policy::for_loopback_tests();
    policy.data.private_events = tandem_policy::PrivateEvents::Full;
    tandem_engine::Engine::new(store).with_policy(Arc::new(policy))
}

pub async fn fake_with(config: GraphFakeConfig) -> GraphFake {
    let fake = GraphFake::start_with(config).await.unwrap();
    fake.state().add_mailbox(MAILBOX, "Ann Example");
    fake.state().register_client_secret(CLIENT, SECRET);
    fake.state().register_certificate(CLIENT, tandem_testkit::keys::TEST_RSA_CERT_PEM).unwrap();
    fake
}

pub async fn world_with(config: GraphFakeConfig) -> World {
    let fake = fake_with(config).await;
    let graph = Arc::new(GraphConnector::new(config_for(&fake, certificate_auth()), http()).unwrap());
    World { fake, graph }
}

pub async fn world() -> World {
    world_with(GraphFakeConfig::default()).await
}

/// Reads a feed to the end of its round.
pub async fn drain(c: &dyn Connector, object: ObjectKind, cursor: Option<Cursor>) -> (Vec<Change>, Cursor, usize) {
    let mut cursor = cursor;
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page: PullPage = c.pull(object, cursor.as_ref()).await.unwrap();
        pages += 1;
        all.extend(page.changes);
        cursor = Some(page.cursor);
        if page.done {
            return (all, cursor.unwrap_or_default(), pages);
        }
        assert!(pages < 10_000, "the feed never ends");
    }
}

/// A day `offset` days from today (UTC).
pub fn day(offset: i64) -> NaiveDate {
    (Utc::now() + Days::days(offset)).date_naive()
}

/// `{"dateTime": "<date>T<time>", "timeZone": zone}`.
pub fn at(date: NaiveDate, time: &str, zone: &str) -> Value {
    json!({"dateTime": format!("{}T{time}", date.format("%Y-%m-%d")), "timeZone": zone})
}
