//! Contacts over loopback: the synced folder, delta paging and removals, mapping, writes with
//! preconditions and idempotency keys, token expiry, and end-to-end syncs through the engine.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;

use chrono::NaiveDate;
use common::*;
use serde_json::json;
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{Connector, ConnectorError, WriteOp};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{AddressKind, Contact, EmailAddress, ObjectKind, Phone, PhoneKind, Record};
use tandem_core::plan::FieldChange;
use tandem_core::state::{ChangeKind, IdempotencyKey, RecordId, Side, Version};
use tandem_engine::config::SyncConfig;
use tandem_engine::{SyncOptions, UserSync};
use tandem_graph::{GraphConnector, SYNC_KEY_PROPERTY};
use tandem_testkit::graph::{DeltaExpiry, GraphFakeConfig};

const C: ObjectKind = ObjectKind::Contact;

fn graph_contact(given: &str, family: &str) -> serde_json::Value {
    json!({
        "givenName": given, "surname": family,
        "emailAddresses": [{"address": format!("{}.{}@example.com", given.to_lowercase(), family.to_lowercase()), "name": given}],
    })
}

fn contact(given: &str, family: &str) -> Contact {
    Contact {
        given_name: Some(given.into()),
        family_name: Some(family.into()),
        emails: vec![EmailAddress {
            kind: AddressKind::Work,
            address: format!("{}.{}@example.com", given.to_lowercase(), family.to_lowercase()),
        }],
        ..Contact::default()
    }
}

fn record_of(change: &tandem_core::state::Change) -> Contact {
    match &change.kind {
        ChangeKind::Upserted { record: Record::Contact(c) } => c.clone(),
        other => panic!("not a contact upsert: {other:?}"),
    }
}

#[tokio::test]
async fn the_folder_is_created_when_missing_and_only_it_syncs() {
    let w = world().await;
    w.fake.state().seed_contact(MAILBOX, None, graph_contact("Outside", "Folder")).unwrap();
    let (changes, cursor, _) = drain(w.graph.as_ref(), C, None).await;
    assert!(changes.is_empty());
    assert_eq!(w.fake.state().count("POST /users/{id}/contactFolders"), 1);
    assert!(w.fake.state().contact_folder_id(MAILBOX, "Tandem").is_some());
    w.fake.state().seed_contact(MAILBOX, Some("Tandem"), graph_contact("Inside", "Folder")).unwrap();
    let (changes, _, _) = drain(w.graph.as_ref(), C, Some(cursor)).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(record_of(&changes[0]).given_name.as_deref(), Some("Inside"));
    // An existing folder is found, not created again.
    let again = GraphConnector::new(config_for(&w.fake, certificate_auth()), http()).unwrap();
    drain(&again, C, None).await;
    assert_eq!(w.fake.state().count("POST /users/{id}/contactFolders"), 1);
    assert_eq!(w.fake.state().requests_without_immutable_id(), 0);
}

#[tokio::test]
async fn delta_pages_then_reports_edits_and_removals() {
    let w = world().await;
    let ids: Vec<String> = (0..25)
        .map(|i| w.fake.state().seed_contact(MAILBOX, Some("Tandem"), graph_contact("P", &format!("N{i:02}"))).unwrap())
        .collect();
    let mut config = config_for(&w.fake, secret_auth());
    config.page_size = 10;
    let graph = GraphConnector::new(config, http()).unwrap();
    let (changes, cursor, pages) = drain(&graph, C, None).await;
    assert_eq!(changes.len(), 25);
    assert_eq!(pages, 3);
    assert!(changes.iter().all(|c| c.version.as_str().starts_with("W/\"")));

    w.fake.state().edit_contact(MAILBOX, &ids[3], json!({"jobTitle": "Engineer"})).unwrap();
    w.fake.state().delete_contact(MAILBOX, &ids[7]).unwrap();
    let (changes, cursor, _) = drain(&graph, C, Some(cursor)).await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    let edited = changes.iter().find(|c| c.id.as_str() == ids[3]).unwrap();
    assert_eq!(record_of(edited).title.as_deref(), Some("Engineer"));
    assert!(matches!(changes.iter().find(|c| c.id.as_str() == ids[7]).unwrap().kind, ChangeKind::Deleted));
    let (quiet, _, _) = drain(&graph, C, Some(cursor)).await;
    assert!(quiet.is_empty());
}

#[tokio::test]
async fn every_contact_field_is_read_and_an_unreadable_one_is_invalid() {
    let w = world().await;
    w.fake
        .state()
        .seed_contact(
            MAILBOX,
            Some("Tandem"),
            json!({
                "givenName": "Zoë", "middleName": "Q", "surname": "Łukasiewicz",
                "emailAddresses": [{"address": "zoe@work.example"}, {"address": "zoe@home.example"}],
                "businessPhones": ["+48 1", "+48 2"], "homePhones": ["+48 3"], "mobilePhone": "+48 4",
                "companyName": "Fabrikam", "jobTitle": "Logician", "department": "Logic",
                "businessAddress": {"street": "1 Rynek\nFloor 2", "city": "Kraków", "state": "MP", "postalCode": "30-001", "countryOrRegion": "Poland"},
                "homeAddress": {}, "otherAddress": {"city": "Lwów"},
                "birthday": "1878-12-21T11:59:00Z", "assistantName": "Jan", "personalNotes": "a; b, \"c\"\nd",
            }),
        )
        .unwrap();
    w.fake
        .state()
        .seed_contact_unchecked(MAILBOX, Some("Tandem"), json!({"surname": "Broken", "birthday": "someday"}))
        .unwrap();
    let (changes, _, _) = drain(w.graph.as_ref(), C, None).await;
    let zoe = changes.iter().find_map(|c| match &c.kind {
        ChangeKind::Upserted { record: Record::Contact(k) } if k.given_name.as_deref() == Some("Zoë") => {
            Some(k.clone())
        }
        _ => None,
    });
    let zoe = zoe.unwrap();
    assert_eq!(zoe.family_name.as_deref(), Some("Łukasiewicz"));
    assert_eq!(zoe.emails[1], EmailAddress { kind: AddressKind::Home, address: "zoe@home.example".into() });
    assert_eq!(zoe.phones.iter().filter(|p| p.kind == PhoneKind::Business).count(), 2);
    assert!(zoe.phones.contains(&Phone { kind: PhoneKind::Mobile, number: "+48 4".into() }));
    assert_eq!(zoe.title.as_deref(), Some("Logician"));
    assert_eq!(zoe.addresses.len(), 2);
    assert_eq!(zoe.addresses[0].street.as_deref(), Some("1 Rynek\nFloor 2"));
    assert_eq!(zoe.addresses[1].kind, AddressKind::Other);
    assert_eq!(zoe.birthday, NaiveDate::from_ymd_opt(1878, 12, 21));
    assert_eq!(zoe.notes.as_deref(), Some("a; b, \"c\"\nd"));
    let broken = changes.iter().find(|c| matches!(c.kind, ChangeKind::Invalid { .. })).unwrap();
    assert!(matches!(&broken.kind, ChangeKind::Invalid { reason } if reason.contains("birthday")));
}

#[tokio::test]
async fn writes_with_preconditions_and_lookups_by_key() {
    let w = world().await;
    let key = IdempotencyKey::derive(C, Side::Crm, &RecordId::new("003A"));
    let mut ada = contact("Ada", "Lovelace");
    ada.phones.push(Phone { kind: PhoneKind::Mobile, number: "+44 7700 900000".into() });
    let created =
        w.graph.apply(C, &[WriteOp::Create { key: key.clone(), record: Record::Contact(ada) }]).await.unwrap();
    let created = created[0].clone().unwrap();
    let stored = w.fake.state().contact(MAILBOX, &created.id.0).unwrap();
    assert_eq!(stored["parentFolderId"], json!(w.fake.state().contact_folder_id(MAILBOX, "Tandem").unwrap()));
    assert_eq!(stored["displayName"], "Ada Lovelace");
    assert_eq!(
        w.fake.state().extended_property(MAILBOX, &created.id.0, SYNC_KEY_PROPERTY).as_deref(),
        Some(key.as_str())
    );
    assert_eq!(w.graph.find_by_key(C, &key).await.unwrap(), Some(created.clone()));
    assert_eq!(w.graph.find_by_key(C, &IdempotencyKey("tdm0".into())).await.unwrap(), None);
    // fetch carries the key back.
    let fetched = w.graph.fetch(C, std::slice::from_ref(&created.id)).await.unwrap();
    assert_eq!(fetched[0].sync_key.as_ref(), Some(&key));

    let patch = vec![FieldChange { field: FieldKey::Title, value: Some(FieldValue::Text("Countess".into())) }];
    let updated = w
        .graph
        .apply(
            C,
            &[WriteOp::Update { id: created.id.clone(), expected: created.version.clone(), patch: patch.clone() }],
        )
        .await
        .unwrap();
    let updated = updated[0].clone().unwrap();
    assert_ne!(updated.version, created.version);
    assert_eq!(w.fake.state().contact(MAILBOX, &created.id.0).unwrap()["jobTitle"], "Countess");
    // The old version no longer matches: 412.
    let stale = w
        .graph
        .apply(C, &[WriteOp::Update { id: created.id.clone(), expected: created.version.clone(), patch }])
        .await
        .unwrap();
    assert!(matches!(stale[0], Err(ConnectorError::PreconditionFailed { .. })), "{stale:?}");
    let stale_delete = w
        .graph
        .apply(C, &[WriteOp::Delete { id: created.id.clone(), expected: Version::new("W/\"old\"") }])
        .await
        .unwrap();
    assert!(matches!(stale_delete[0], Err(ConnectorError::PreconditionFailed { .. })));
    let deleted = w
        .graph
        .apply(C, &[WriteOp::Delete { id: created.id.clone(), expected: updated.version.clone() }])
        .await
        .unwrap();
    assert!(deleted[0].is_ok());
    assert!(w.fake.state().contacts(MAILBOX).is_empty());
    let gone = w.graph.fetch(C, std::slice::from_ref(&created.id)).await.unwrap();
    assert!(matches!(gone[0].kind, ChangeKind::Deleted));
}

#[tokio::test]
async fn an_expired_delta_token_is_cursor_expired_in_both_shapes() {
    for expiry in [
        DeltaExpiry::Gone,
        DeltaExpiry::SyncStateNotFound { status: 400 },
        DeltaExpiry::SyncStateNotFound { status: 404 },
    ] {
        let w = world_with(GraphFakeConfig { delta_expiry: expiry, ..GraphFakeConfig::default() }).await;
        let (_, cursor, _) = drain(w.graph.as_ref(), C, None).await;
        w.fake.state().expire_delta_tokens();
        let err = w.graph.pull(C, Some(&cursor)).await.unwrap_err();
        assert_eq!(err, ConnectorError::CursorExpired, "{expiry:?}");
        // A cursor that is not ours asks for a resync too.
        let junk = tandem_core::state::Cursor(b"{\"garbage\":1}".to_vec());
        assert_eq!(w.graph.pull(C, Some(&junk)).await.unwrap_err(), ConnectorError::CursorExpired);
    }
}

fn job(crm: &MemoryConnector, graph: &Arc<GraphConnector>) -> UserSync {
    UserSync::new(MAILBOX, SyncConfig::named("t"), Arc::new(crm.clone()), graph.clone())
}

fn contacts_only() -> SyncOptions {
    SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() }
}

#[tokio::test]
async fn engine_syncs_both_ways_and_never_blanks_what_graph_lacks() {
    let w = world().await;
    let crm = MemoryConnector::new("crm");
    let mut ada = contact("Ada", "Lovelace");
    ada.phones = vec![
        Phone { kind: PhoneKind::Business, number: "+44 20 1".into() },
        Phone { kind: PhoneKind::BusinessFax, number: "+44 20 9".into() },
        Phone { kind: PhoneKind::Assistant, number: "+44 20 8".into() },
    ];
    let ada_id = crm.insert(Record::Contact(ada));
    crm.insert(Record::Contact(contact("Grace", "Hopper")));
    w.fake.state().seed_contact(MAILBOX, Some("Tandem"), graph_contact("Alan", "Turing")).unwrap();

    let engine = engine().await;
    let report = engine.sync_user(&job(&crm, &w.graph), &contacts_only()).await.unwrap();
    let o = report.object(C).unwrap();
    assert_eq!(o.applied("create"), 3, "{report}");
    assert_eq!(w.fake.state().contacts(MAILBOX).len(), 3);
    assert_eq!(crm.len(C), 3);

    // The user edits Ada in Outlook; the CRM keeps the phones Graph has no slot for.
    let ada_mb = w
        .fake
        .state()
        .contacts(MAILBOX)
        .into_iter()
        .find(|c| c["surname"] == "Lovelace")
        .and_then(|c| c["id"].as_str().map(str::to_owned))
        .unwrap();
    w.fake
        .state()
        .edit_contact(MAILBOX, &ada_mb, json!({"jobTitle": "Countess", "businessPhones": ["+44 20 2"]}))
        .unwrap();
    engine.sync_user(&job(&crm, &w.graph), &contacts_only()).await.unwrap();
    let Some(Record::Contact(ada)) = crm.get(C, &ada_id) else { panic!("ada") };
    assert_eq!(ada.title.as_deref(), Some("Countess"));
    let numbers: Vec<(PhoneKind, &str)> = ada.phones.iter().map(|p| (p.kind, p.number.as_str())).collect();
    assert!(numbers.contains(&(PhoneKind::Business, "+44 20 2")));
    assert!(numbers.contains(&(PhoneKind::BusinessFax, "+44 20 9")), "{numbers:?}");
    assert!(numbers.contains(&(PhoneKind::Assistant, "+44 20 8")), "{numbers:?}");

    // Quiet: no writes, echoes suppressed.
    w.fake.state().reset_counters();
    let quiet = engine.sync_user(&job(&crm, &w.graph), &contacts_only()).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
    assert_eq!(w.fake.state().count("POST /$batch"), 0);
}

#[tokio::test]
async fn a_lost_batch_response_is_settled_by_key_without_duplicates() {
    let w = world().await;
    let crm = MemoryConnector::new("crm");
    for i in 0..30 {
        crm.insert(Record::Contact(contact("P", &format!("Person{i:02}"))));
    }
    let engine = engine().await;
    // The first batch runs, but its answer is lost (as if the process died right after sending).
    w.fake.state().lose_next_batch_responses(1);
    let first = engine.sync_user(&job(&crm, &w.graph), &contacts_only()).await.unwrap();
    assert_eq!(first.object(C).unwrap().failed.len(), 20, "{first}");
    assert_eq!(w.fake.state().contacts(MAILBOX).len(), 30, "the lost batch's creates did land");
    let second = engine.sync_user(&job(&crm, &w.graph), &contacts_only()).await.unwrap();
    assert_eq!(second.recovered_intents, 20);
    assert_eq!(second.object(C).unwrap().applied("create"), 0, "{second}");
    assert_eq!(w.fake.state().contacts(MAILBOX).len(), 30, "no duplicates");
    let third = engine.sync_user(&job(&crm, &w.graph), &contacts_only()).await.unwrap();
    assert_eq!(third.total_writes(), 0, "{third}");
    assert_eq!(engine.store().pair_count(MAILBOX, C).await.unwrap(), 30);
}

#[tokio::test]
async fn delta_token_expiry_sends_the_engine_down_a_full_resync_without_duplicates() {
    let w = world().await;
    let crm = MemoryConnector::new("crm");
    for i in 0..12 {
        crm.insert(Record::Contact(contact("C", &format!("Crm{i:02}"))));
        w.fake.state().seed_contact(MAILBOX, Some("Tandem"), graph_contact("M", &format!("Mailbox{i:02}"))).unwrap();
    }
    let engine = engine().await;
    engine.sync_user(&job(&crm, &w.graph), &contacts_only()).await.unwrap();
    assert_eq!((crm.len(C), w.fake.state().contacts(MAILBOX).len()), (24, 24));
    w.fake.state().expire_delta_tokens();
    let report = engine.sync_user(&job(&crm, &w.graph), &contacts_only()).await.unwrap();
    let o = report.object(C).unwrap();
    assert_eq!(o.full_resync, vec![Side::Mailbox]);
    assert_eq!(o.planned("create"), 0, "{report}");
    assert_eq!(report.total_writes(), 0);
    assert_eq!((crm.len(C), w.fake.state().contacts(MAILBOX).len()), (24, 24));
}

#[tokio::test]
async fn realistic_contacts_land_as_the_sync_state_records_them() {
    let w = world().await;
    let crm = MemoryConnector::new("crm");
    for c in tandem_testkit::generate::contacts(11, 300) {
        crm.insert(Record::Contact(c));
    }
    let engine = engine().await;
    let report = engine.sync_user(&job(&crm, &w.graph), &contacts_only()).await.unwrap();
    let o = report.object(C).unwrap();
    assert_eq!(o.applied("create"), 300, "{report}");
    assert!(o.failed.is_empty() && o.quarantined.is_empty(), "{report}");
    // Every field the state says the mailbox holds, the mailbox holds: reading it back is an echo.
    let pairs = engine.store().all_pairs(MAILBOX, C).await.unwrap();
    let ids: Vec<RecordId> = pairs.iter().map(|p| p.mailbox.id.clone()).collect();
    let fetched = w.graph.fetch(C, &ids).await.unwrap();
    for (pair, change) in pairs.iter().zip(fetched) {
        assert_eq!(change.version, pair.mailbox.version);
        let mut record = change.record().cloned().unwrap();
        record.normalize();
        for (key, print) in &pair.mailbox.fields {
            assert_eq!(
                tandem_core::fields::fingerprint(record.get(key).as_ref()),
                *print,
                "{key}: {:?}",
                record.get(key)
            );
        }
    }
    // Nothing changed since: nothing is written.
    w.fake.state().reset_counters();
    let quiet = engine.sync_user(&job(&crm, &w.graph), &contacts_only()).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
}
