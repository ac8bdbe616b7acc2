//! The Graph fake's rules for a `$batch` whose items address different mailboxes, as Graph
//! applies them to an app-only token (raw HTTP): each item authorised against its own mailbox,
//! throttled against its own mailbox's concurrency slots, at most 20 items, no nested batches.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tandem_testkit::graph::{GraphFake, GraphFakeConfig};

fn mailbox(n: usize) -> String {
    format!("m{n:02}@contoso.example")
}

/// Surnames of a mailbox's contacts, sorted.
fn surnames(fake: &GraphFake, mb: &str) -> Vec<String> {
    let mut v: Vec<String> =
        fake.state().contacts(mb).iter().filter_map(|c| c["surname"].as_str().map(str::to_owned)).collect();
    v.sort();
    v
}

/// Graph's rules for a batch that mixes mailboxes, as the fake applies them (raw HTTP).
#[tokio::test]
async fn the_fake_authorises_and_throttles_each_item_against_its_own_mailbox() {
    let config = GraphFakeConfig { batch_latency: Duration::from_millis(300), ..GraphFakeConfig::default() };
    let fake = fake_with(config).await;
    let (a, b, outside) = (mailbox(1), mailbox(2), mailbox(3));
    for m in [&a, &b, &outside] {
        fake.state().add_mailbox(m, "Someone");
    }
    fake.state().restrict_app_to(CLIENT, &[&a, &b]);
    let client = reqwest::Client::new();
    let token: Value = client
        .post(fake.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let batch = |requests: Value| {
        let request = client.post(format!("{}/$batch", fake.graph_url())).header("Authorization", &bearer);
        async move {
            let r = request.json(&json!({ "requests": requests })).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let status_of = |v: &Value, id: &str| -> u64 {
        v["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()["status"].as_u64().unwrap()
    };
    let post = |id: &str, mb: &str, name: &str| {
        json!({"id": id, "method": "POST", "url": format!("/users/{mb}/contacts"),
               "headers": {"Content-Type": "application/json"}, "body": {"surname": name}})
    };
    let (s, v) = batch(json!([
        post("1", &a, "ForA"),
        post("2", &b, "ForB"),
        post("3", &outside, "Nope"),
        {"id": "4", "method": "GET", "url": "/users/nobody@contoso.example/events"},
        {"id": "5", "method": "POST", "url": "/$batch", "headers": {"Content-Type": "application/json"}, "body": {"requests": []}},
    ]))
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!([1, 2, 3, 4, 5].map(|i| status_of(&v, &i.to_string())), [201, 201, 403, 404, 400], "{v}");
    assert_eq!(surnames(&fake, &a), vec!["ForA"]);
    assert_eq!(surnames(&fake, &b), vec!["ForB"]);
    assert!(fake.state().contacts(&outside).is_empty());
    let too_many: Vec<Value> = (0..21).map(|i| post(&i.to_string(), if i % 2 == 0 { &a } else { &b }, "X")).collect();
    assert_eq!(batch(Value::Array(too_many)).await.0, 400);

    // A's four slots taken by one batch: another batch's item for A answers 429, B's runs.
    let busy: Vec<Value> = (0..4).map(|i| post(&i.to_string(), &a, &format!("Busy{i}"))).collect();
    let first = tokio::spawn(batch(Value::Array(busy)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, v) = batch(json!([post("a", &a, "Late"), post("b", &b, "OnTime")])).await;
    assert_eq!(s, 200);
    assert_eq!((status_of(&v, "a"), status_of(&v, "b")), (429, 201), "{v}");
    assert_eq!(first.await.unwrap().0, 200);
    assert_eq!(surnames(&fake, &b), vec!["ForB", "OnTime"]);
    assert_eq!(fake.state().contacts(&a).len(), 5);
}
