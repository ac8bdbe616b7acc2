//! Contact writes through People's batch mutations, against the Google fake over loopback:
//! Google's batch sizes (200 creates, 200 updates after one `batchGet`, 500 deletes), one result
//! per op in order, and a refusal of a whole call (one stale etag, one delete already gone)
//! isolated to its own contact while the others are written.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use tandem_connector::http::{HttpClient, Secret};
use tandem_connector::{Connector, ConnectorError, WriteOp, Written};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Contact, EmailAddress, ObjectKind, Record};
use tandem_core::plan::FieldChange;
use tandem_core::state::{IdempotencyKey, RecordId, Side, Version};
use tandem_google::{GoogleConfig, GoogleConnector, ServiceAccountKey};
use tandem_testkit::google::{DEMO_ACCOUNT, DEMO_USER, GoogleFake};
use tandem_testkit::keys;
use tandem_testkit::server::FakeServer;

const C: ObjectKind = ObjectKind::Contact;

async fn demo() -> (GoogleFake, FakeServer, GoogleConnector) {
    let fake = GoogleFake::demo();
    let server = FakeServer::start(tandem_testkit::google::router(fake.clone())).await.unwrap();
    let base = server.base_url();
    let base = base.trim_end_matches('/');
    let key = Secret::new(
        json!({"type": "service_account", "client_email": DEMO_ACCOUNT, "private_key": keys::TEST_RSA_KEY_PEM})
            .to_string(),
    );
    let config = GoogleConfig::new(DEMO_USER)
        .with_endpoints(&format!("{base}/token"), &format!("{base}/calendar/v3"), &format!("{base}/v1"))
        .with_service_account(ServiceAccountKey::from_json(&key).unwrap());
    let c = GoogleConnector::new(config, HttpClient::with_defaults().unwrap()).unwrap();
    (fake, server, c)
}

fn key(n: usize) -> IdempotencyKey {
    IdempotencyKey::derive(C, Side::Crm, &RecordId::new(format!("003{n:05}")))
}

fn person(n: usize) -> Record {
    Record::Contact(Contact {
        given_name: Some(format!("Given{n}")),
        family_name: Some("Batch".into()),
        emails: vec![EmailAddress { kind: Default::default(), address: format!("p{n}@example.com") }],
        ..Contact::default()
    })
}

fn count(fake: &GoogleFake, route: &str) -> u64 {
    let (method, path) = route.split_once(' ').unwrap();
    fake.controls().count(method, path)
}

fn written(results: Vec<Result<Written, ConnectorError>>) -> Vec<Written> {
    results.into_iter().map(|r| r.unwrap()).collect()
}

#[tokio::test]
async fn contacts_go_in_googles_batch_sizes_and_one_bad_contact_fails_alone() {
    let (fake, _server, c) = demo().await;
    let ops: Vec<WriteOp> = (0..450).map(|n| WriteOp::Create { key: key(n), record: person(n) }).collect();
    let created = written(c.apply(C, &ops).await.unwrap());
    assert_eq!(count(&fake, "POST /v1/people:batchCreateContacts"), 3, "⌈450/200⌉ calls");
    assert_eq!(created.len(), 450);
    // In order: the n-th result is the n-th contact.
    for (n, w) in created.iter().enumerate().step_by(97) {
        let stored = fake.contact(DEMO_USER, w.id.as_str()).unwrap();
        assert_eq!(stored.pointer("/names/0/givenName").and_then(Value::as_str), Some(format!("Given{n}").as_str()));
        assert_eq!(stored["etag"], w.version.as_str());
    }

    // 250 updates, each touching its own field set; one contact has a field Tandem does not map
    // (a third email) that a union mask must not rewrite, and one was edited in between.
    fake.edit_contact(
        DEMO_USER,
        created[1].id.as_str(),
        json!({"emailAddresses": [{"value": "p1@example.com"}, {"value": "two@example.com"}, {"value": "three@example.com", "type": "custom-label"}]}),
    )
    .unwrap();
    let refreshed = fake.contact(DEMO_USER, created[1].id.as_str()).unwrap()["etag"].as_str().unwrap().to_owned();
    fake.edit_contact(DEMO_USER, created[2].id.as_str(), json!({"biographies": [{"value": "edited by a person"}]}))
        .unwrap();
    let before = count(&fake, "POST /v1/people:batchUpdateContacts");
    let gets = count(&fake, "GET /v1/people:batchGet");
    let ops: Vec<WriteOp> = created[..250]
        .iter()
        .enumerate()
        .map(|(n, w)| {
            let (field, value) = if n % 2 == 0 {
                (FieldKey::Title, FieldValue::Text(format!("Title {n}")))
            } else {
                (FieldKey::Notes, FieldValue::Text(format!("Note {n}")))
            };
            let expected = if n == 1 { Version::new(refreshed.clone()) } else { w.version.clone() };
            WriteOp::Update { id: w.id.clone(), expected, patch: vec![FieldChange { field, value: Some(value) }] }
        })
        .collect();
    let updated = c.apply(C, &ops).await.unwrap();
    assert_eq!(count(&fake, "GET /v1/people:batchGet") - gets, 2, "⌈250/200⌉ reads");
    assert_eq!(count(&fake, "POST /v1/people:batchUpdateContacts") - before, 2, "⌈250/200⌉ writes");
    assert!(matches!(updated[2], Err(ConnectorError::PreconditionFailed { .. })), "{:?}", updated[2]);
    for (n, r) in updated.iter().enumerate().filter(|(n, _)| *n != 2) {
        let w = r.as_ref().unwrap();
        let stored = fake.contact(DEMO_USER, w.id.as_str()).unwrap();
        assert_eq!(stored["etag"], w.version.as_str());
        if n % 2 == 0 {
            assert_eq!(
                stored.pointer("/organizations/0/title").and_then(Value::as_str),
                Some(format!("Title {n}").as_str())
            );
        } else {
            assert_eq!(
                stored.pointer("/biographies/0/value").and_then(Value::as_str),
                Some(format!("Note {n}").as_str())
            );
        }
    }
    let kept = fake.contact(DEMO_USER, created[1].id.as_str()).unwrap();
    assert_eq!(kept["emailAddresses"].as_array().unwrap().len(), 3, "the unmapped email is untouched: {kept}");
    assert_eq!(kept["emailAddresses"][2]["type"], "custom-label");

    // 20 deletes, one of them already gone: the call is refused (all or nothing), then sent
    // one by one (the client's default pace, 10 a second), and every delete is settled.
    assert!(fake.delete_contact(DEMO_USER, created[7].id.as_str()));
    let before = count(&fake, "POST /v1/people:batchDeleteContacts");
    let ops: Vec<WriteOp> =
        created[..20].iter().map(|w| WriteOp::Delete { id: w.id.clone(), expected: Version::default() }).collect();
    let deleted = c.apply(C, &ops).await.unwrap();
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    assert_eq!(count(&fake, "POST /v1/people:batchDeleteContacts") - before, 1 + 20, "refused once, then one by one");
    assert!(created[..20].iter().all(|w| fake.contact(DEMO_USER, w.id.as_str()).is_none()));
    assert!(fake.contact(DEMO_USER, created[20].id.as_str()).is_some());

    // Without a stale record, deletes take ⌈n/500⌉ calls.
    let before = count(&fake, "POST /v1/people:batchDeleteContacts");
    let ops: Vec<WriteOp> =
        created[20..].iter().map(|w| WriteOp::Delete { id: w.id.clone(), expected: Version::default() }).collect();
    assert!(c.apply(C, &ops).await.unwrap().iter().all(Result::is_ok));
    assert_eq!(count(&fake, "POST /v1/people:batchDeleteContacts") - before, 1);
    assert!(fake.contacts(DEMO_USER).iter().all(|p| p.pointer("/names/0/familyName") != Some(&json!("Batch"))));
}
