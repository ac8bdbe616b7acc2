//! The secrets canary over the real connectors: a full Salesforce ⇄ Microsoft Graph sync against the
//! fakes, logged at TRACE, with throttled and failing requests and expired sessions forcing token
//! refreshes. No access token, refresh token, client secret or private-key line may appear in any
//! log line, error, report, audit export, quarantine entry, status or `Debug` output.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use serde_json::json;
use tandem::connector::http::HttpClient;
use tandem::graph::{GraphAuth, GraphConfig, GraphConnector};
use tandem::policy::Method;
use tandem::prelude::*;
use tandem::salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector};
use tandem_testkit::graph::GraphFake;
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::CannedResponse;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

const MAILBOX: &str = "ann@contoso.example";
const CLIENT: &str = "99999999-8888-7777-6666-555555555555";
const GRAPH_SECRET: &str = "CANARY-GRAPH-CLIENT-SECRET-0b7d1e";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_of_either_provider_leaks_during_a_faulty_sync() {
    let logs = Buffer::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish()
        .try_init()
        .unwrap();

    let (org, org_server) = SalesforceFake::start().await.unwrap();
    let graph = GraphFake::start().await.unwrap();
    graph.state().add_mailbox(MAILBOX, "Ann");
    graph.state().register_client_secret(CLIENT, GRAPH_SECRET);
    for i in 0..30 {
        org.insert(
            "Contact",
            json!({ "FirstName": "P", "LastName": format!("Person{i}"), "Email": format!("p{i}@example.com") }),
        )
        .unwrap();
    }

    let salesforce = SalesforceConnector::new(
        SalesforceConfig::new(
            AuthConfig::JwtBearer {
                consumer_key: org.config().consumer_key,
                username: org.user().username,
                private_key_pem: Secret::new(keys::TEST_RSA_KEY_PEM),
            },
            url::Url::parse(&org_server.base_url()).unwrap(),
        ),
        HttpClient::with_defaults().unwrap(),
    )
    .unwrap();
    let mailbox = GraphConnector::with_defaults(
        GraphConfig::new(
            graph.state().config().tenant,
            MAILBOX,
            GraphAuth::ClientSecret { client_id: CLIENT.into(), secret: Secret::new(GRAPH_SECRET) },
        )
        .with_authority(graph.base_url())
        .with_graph_base(graph.graph_url()),
    )
    .unwrap();

    // The client secret is the method under test here, so the policy allows it for Graph.
    let mut policy = Policy::for_loopback_tests();
    if let Some(rules) = policy.providers.get_mut("graph") {
        rules.methods.insert(Method::ClientCredentialsSecret);
    }
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::new(store.clone()).with_policy(Arc::new(policy));
    let job = UserSync::new(MAILBOX, SyncConfig::named("canary"), Arc::new(salesforce), Arc::new(mailbox));

    // Cycle 1 with a server error on Salesforce reads and throttling on Graph (both retried), then
    // expired sessions on both sides (one refresh and one retry each) and a failing Graph batch.
    // Token requests are not retried by design (a refused grant must surface), API reads are.
    let busy = |status| {
        CannedResponse::json(status, &json!({ "error": { "code": "TooManyRequests", "message": "slow down" } }))
    };
    org.controls().fail_next_matching(
        1,
        |r| r.method() == http::Method::GET,
        CannedResponse::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!([{ "errorCode": "SERVER_UNAVAILABLE", "message": "busy" }]),
        ),
    );
    graph.state().controls().fail_next_matching(
        2,
        |r| r.uri().path().starts_with("/v1.0/"),
        busy(StatusCode::TOO_MANY_REQUESTS).with_header("Retry-After", "0"),
    );
    let first = engine.sync_user(&job, &SyncOptions::default()).await.unwrap();
    assert_eq!(first.object(ObjectKind::Contact).unwrap().applied("create"), 30, "{first}");

    org.expire_sessions();
    graph.state().expire_access_tokens();
    org.update("Contact", &org.find_by("Contact", "LastName", "Person0")[0], json!({ "Title": "Countess" })).unwrap();
    graph.state().controls().fail_next_matching(
        1,
        |r| r.uri().path().starts_with("/v1.0/"),
        busy(StatusCode::INTERNAL_SERVER_ERROR),
    );
    let second = engine.sync_user(&job, &SyncOptions::default()).await;
    let second_text = match &second {
        Ok(report) => format!("{report} {report:?} {}", serde_json::to_string(report).unwrap()),
        Err(e) => format!("{e} {e:?}"),
    };
    assert!(org.tokens_issued() >= 2, "the Salesforce session was refreshed");
    assert!(graph.state().access_tokens_issued() >= 2, "the Graph token was refreshed");

    // Everything a person or a program could read afterwards.
    let mut audit = Vec::new();
    store.export_audit_jsonl(None, &mut audit).await.unwrap();
    let visible = [
        logs.0.lock().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap(),
        format!("{first} {first:?} {}", serde_json::to_string(&first).unwrap()),
        second_text,
        String::from_utf8_lossy(&audit).into_owned(),
        format!("{:?}", store.quarantine(MAILBOX).await.unwrap()),
        format!("{:?}", store.statuses().await.unwrap()),
        format!("{job:?} {engine:?}"),
    ]
    .join("\n");
    // The logs saw the token requests, the retries and the refreshes they must not betray.
    for expected in ["oauth2/token", "/v1.0/", "retry", "sync"] {
        assert!(visible.contains(expected), "the TRACE logs mention `{expected}`");
    }

    let mut secrets: Vec<String> = org.issued_credentials();
    secrets.extend(graph.state().issued_credentials());
    secrets.push(GRAPH_SECRET.to_owned());
    // Every base64 line of the private key (the PEM armour lines are not secret).
    secrets
        .extend(keys::TEST_RSA_KEY_PEM.lines().filter(|l| !l.starts_with("-----") && l.len() > 20).map(str::to_owned));
    assert!(secrets.len() > 10, "the fakes issued tokens: {}", secrets.len());
    for secret in &secrets {
        assert!(!visible.contains(secret.as_str()), "a credential leaked: {}…", &secret[..8.min(secret.len())]);
    }
}
