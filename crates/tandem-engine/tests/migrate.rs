//! Re-pointing a user's mailbox side ([`Engine::repoint_mailbox`]): pairs and the mailbox side's
//! unresolved items follow the translated ids; the CRM side's are left alone.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use tandem_core::model::ObjectKind;
use tandem_core::state::{IdempotencyKey, PairState, RecordId, Side, SideState, Unresolved, UnresolvedKind, Version};
use tandem_engine::Engine;
use tandem_store::{CycleCommit, SqliteStore, StateStore, UnresolvedEntry};

const USER: &str = "ann@contoso.example";
const E: ObjectKind = ObjectKind::Event;

fn side(id: &str) -> SideState {
    SideState { id: RecordId::new(id), version: Version::new("v1"), fields: Default::default() }
}

fn unresolved(side: Side, id: &str, subject: &str) -> UnresolvedEntry {
    UnresolvedEntry {
        user: USER.to_owned(),
        object: E,
        side,
        record_id: RecordId::new(id),
        item: Unresolved {
            kind: UnresolvedKind::AttendeeNotFound,
            field: None,
            subject: subject.to_owned(),
            detail: "no contact has this address".to_owned(),
        },
        since: Utc::now(),
        checked_at: None,
    }
}

#[tokio::test]
async fn repointing_the_mailbox_moves_its_unresolved_items_to_the_new_ids() {
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let pair = PairState {
        pair_id: IdempotencyKey::derive(E, Side::Crm, &RecordId::new("00U1")),
        object: E,
        crm: side("00U1"),
        mailbox: side("ews-1"),
        synced_at: Utc::now(),
        tombstone: None,
    };
    let commit = CycleCommit {
        upsert_pairs: vec![pair],
        unresolved_add: vec![
            unresolved(Side::Mailbox, "ews-1", "bob@example.com"),
            unresolved(Side::Mailbox, "ews-1", "eve@example.com"),
            unresolved(Side::Crm, "00U1", "zoe@example.com"),
        ],
        ..CycleCommit::default()
    };
    store.commit_cycle(USER, E, commit).await.unwrap();
    let engine = Engine::new(Arc::clone(&store));

    let ids = engine.mailbox_record_ids(USER).await.unwrap();
    assert_eq!(ids, vec![(E, RecordId::new("ews-1"))], "listed once");
    let translate = HashMap::from([(RecordId::new("ews-1"), RecordId::new("graph-1"))]);
    let report = engine.repoint_mailbox(USER, &translate, "test").await.unwrap();
    assert_eq!(report.total(), 1);
    assert_eq!(report.unresolved, 2);

    let mut now: Vec<(Side, String, String)> = store
        .unresolved(USER)
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.side, u.record_id.as_str().to_owned(), u.item.subject))
        .collect();
    now.sort();
    assert_eq!(
        now,
        vec![
            (Side::Crm, "00U1".to_owned(), "zoe@example.com".to_owned()),
            (Side::Mailbox, "graph-1".to_owned(), "bob@example.com".to_owned()),
            (Side::Mailbox, "graph-1".to_owned(), "eve@example.com".to_owned()),
        ]
    );
    let pairs = store.all_pairs(USER, E).await.unwrap();
    assert_eq!(pairs[0].mailbox.id, RecordId::new("graph-1"));
}
