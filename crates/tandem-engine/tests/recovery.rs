//! Recovery rules that one fault must not break: failures while settling the journal, tokens
//! refused twice, a panic in one user's sync, ambiguous first-sync matches.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::{Contact, EmailAddress, ObjectKind, Record};
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId, Side};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, EngineError, EngineOptions, SyncOptions, SystemClock, UserSync};
use tandem_store::{SqliteStore, StateStore};

use common::CrashingStore;

const C: ObjectKind = ObjectKind::Contact;
const USER: &str = "ada@example.com";

fn person(family: &str, email: &str) -> Record {
    Record::Contact(Contact {
        given_name: Some("P".into()),
        family_name: Some(family.into()),
        emails: vec![EmailAddress { kind: Default::default(), address: email.into() }],
        ..Contact::default()
    })
}

fn quick() -> EngineOptions {
    EngineOptions {
        default_throttle_wait: Duration::from_millis(1),
        max_throttle_wait: Duration::from_millis(2),
        ..EngineOptions::default()
    }
}

fn contacts() -> SyncOptions {
    SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() }
}

fn transient() -> ConnectorError {
    ConnectorError::Transient { message: "connection reset".into() }
}

#[tokio::test]
async fn a_failure_while_settling_the_journal_does_not_fail_the_sync_nor_duplicate() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    mailbox.set_idempotent_creates(false);
    crm.insert(person("Lovelace", "ada@example.com"));
    let store = Arc::new(CrashingStore::new().await);
    let engine = Engine::with(store.clone(), Arc::new(SystemClock), quick());
    let job = UserSync::new(USER, SyncConfig::named("t"), Arc::new(crm.clone()), Arc::new(mailbox.clone()));

    // The create is sent, then the process dies before it commits.
    store.crash_next_commits(1);
    assert!(engine.sync_user(&job, &contacts()).await.is_err());
    assert_eq!(mailbox.len(C), 1);

    // Next run: looking the create up fails (three times: more than the read retries), and a
    // new contact waits on the CRM side. The sync goes on: the new contact is created, the one
    // in doubt waits (its intent stays in the journal), nothing is duplicated.
    crm.insert(person("Hopper", "grace@example.com"));
    mailbox.fail_next([transient(), transient(), transient()]);
    let report = engine.sync_user(&job, &contacts()).await.expect("one failed look-up must not fail the sync");
    assert_eq!(report.object(C).unwrap().applied("create"), 1, "{report}");
    assert_eq!(mailbox.len(C), 2, "no duplicate of the create in doubt");
    assert_eq!(store.pending_intents(USER).await.unwrap().len(), 1, "the create in doubt stays in the journal");

    // The run after settles it: found by its key and paired, not created again.
    let report = engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(report.recovered_intents, 1, "{report}");
    assert_eq!(mailbox.len(C), 2);
    assert_eq!(store.pair_count(USER, C).await.unwrap(), 2);
    assert!(store.pending_intents(USER).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_token_refused_twice_is_tried_once_more_and_the_cycle_goes_on() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    crm.insert(person("Lovelace", "ada@example.com"));
    let engine = Engine::with(Arc::new(SqliteStore::in_memory().await.unwrap()), Arc::new(SystemClock), quick());
    let job = UserSync::new(USER, SyncConfig::named("t"), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    // A connector that refreshes once by itself reports the second refusal; the engine sends
    // once more with a fresh token, for a read and for a write alike.
    let expired = || ConnectorError::Auth { refreshable: true, message: "session expired".into() };
    crm.fail_next([expired()]);
    mailbox.fail_next([expired()]);
    let report = engine.sync_user(&job, &contacts()).await.expect("one refused token must not end the cycle");
    assert_eq!(report.object(C).unwrap().applied("create"), 1, "{report}");
    // A refusal that cannot be cured by refreshing ends the cycle at once.
    crm.fail_next([ConnectorError::Auth { refreshable: false, message: "revoked".into() }]);
    assert!(matches!(engine.sync_user(&job, &contacts()).await, Err(EngineError::Connector { side: Side::Crm, .. })));
}

/// A connector with a bug: it panics when read.
struct Panicking;

#[async_trait]
impl Connector for Panicking {
    fn provider(&self) -> &str {
        "panicking"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::everything()
    }
    fn connection(&self) -> tandem_connector::ConnectionInfo {
        tandem_connector::ConnectionInfo::in_memory("panicking")
    }
    async fn identity(&self) -> Result<Identity, ConnectorError> {
        Ok(Identity { user: "bug@example.com".into(), display_name: None })
    }
    async fn pull<'a>(&self, _: ObjectKind, _: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        panic!("a third-party parser fell over")
    }
    async fn fetch(&self, _: ObjectKind, _: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        Ok(Vec::new())
    }
    async fn apply(&self, _: ObjectKind, _: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        Ok(Vec::new())
    }
    async fn find_by_key(&self, _: ObjectKind, _: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        Ok(None)
    }
}

#[tokio::test]
async fn a_panic_while_syncing_one_user_is_that_users_failure_and_the_others_go_on() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::with(store.clone(), Arc::new(SystemClock), quick());
    let mut jobs = Vec::new();
    let mut mailboxes = Vec::new();
    for i in 0..3 {
        let crm = MemoryConnector::new("crm");
        crm.insert(person(&format!("Person{i}"), &format!("p{i}@example.com")));
        let mailbox = MemoryConnector::new("mailbox");
        mailboxes.push(mailbox.clone());
        let crm: Arc<dyn Connector> = if i == 1 { Arc::new(Panicking) } else { Arc::new(crm) };
        jobs.push(UserSync::new(format!("user{i}@example.com"), SyncConfig::named("t"), crm, Arc::new(mailbox)));
    }
    let results = engine.sync_all(jobs, &contacts()).await;
    assert_eq!(results.len(), 3, "every user has a result, the panicked one too");
    assert!(results[0].1.is_ok() && results[2].1.is_ok());
    match &results[1].1 {
        Err(EngineError::Panicked(message)) => assert!(message.contains("fell over"), "{message}"),
        other => panic!("expected the panic as user1's failure, got {other:?}"),
    }
    assert_eq!(mailboxes[0].len(C), 1);
    assert_eq!(mailboxes[2].len(C), 1);
    let status = store.status("user1@example.com").await.unwrap().unwrap();
    assert_eq!(status.consecutive_failures, 1);
    assert!(status.last_error.unwrap().contains("panic"));
}

#[tokio::test]
async fn an_ambiguous_first_sync_match_is_reported_and_kept_aside_not_copied() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    crm.insert(person("Lovelace", "ada@example.com"));
    let first = mailbox.insert(person("Lovelace", "ada@example.com"));
    // Modified last, so it is the one linked (ties and choices are deterministic).
    mailbox.insert(person("Lovelace", "ADA@example.com"));
    let twin = first;
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::with(store.clone(), Arc::new(SystemClock), quick());
    let job = UserSync::new(USER, SyncConfig::named("t"), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    let report = engine.sync_user(&job, &contacts()).await.unwrap();
    let o = report.object(C).unwrap();
    assert_eq!(o.planned("link"), 1, "{report}");
    assert_eq!(o.applied("create"), 0, "{report}");
    assert_eq!(crm.len(C), 1, "no second Salesforce contact with the same address");
    assert_eq!(o.ambiguous.len(), 1, "{report}");
    assert_eq!(o.ambiguous[0].id, twin);
    assert!(report.to_string().contains("AMBIGUOUS"), "{report}");
    assert_eq!(store.status(USER).await.unwrap().unwrap().ambiguous_matches, 1, "the user's status says so");
    let quarantined = store.quarantine(USER).await.unwrap();
    assert!(
        quarantined.iter().any(|q| q.record_id == twin
            && q.detail.as_ref().and_then(|d| d.get("kind")).and_then(|k| k.as_str()) == Some("ambiguous_match")),
        "{quarantined:?}"
    );

    // Edited, but still matching the linked contact: it stays aside, still not copied.
    mailbox.edit(C, &twin, |r| {
        if let Record::Contact(c) = r {
            c.title = Some("Countess".into());
        }
    });
    let report = engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(crm.len(C), 1, "{report}");
    assert_eq!(report.object(C).unwrap().ambiguous.len(), 1, "{report}");

    // Given an address of its own, it is a person of its own and is copied.
    mailbox.edit(C, &twin, |r| {
        if let Record::Contact(c) = r {
            c.emails[0].address = "augusta@example.com".into();
        }
    });
    engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(crm.len(C), 2);
    assert!(store.quarantine(USER).await.unwrap().is_empty());
    assert_eq!(store.status(USER).await.unwrap().unwrap().ambiguous_matches, 0);
}

/// A journal entry this build cannot settle from (one that does not parse, or one whose `op` is
/// not a write: only writes are journaled) is dropped and said so in the audit log, never
/// settled in silence, and the sync goes on.
#[tokio::test]
async fn unreadable_or_non_write_journal_entries_are_dropped_and_reported() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    crm.insert(person("Lovelace", "ada@example.com"));
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::with(store.clone(), Arc::new(SystemClock), quick());
    let job = UserSync::new(USER, SyncConfig::named("t"), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    let intent = |key: &str, text: &str| tandem_store::Intent {
        user: USER.into(),
        object: C,
        key: key.into(),
        target: Side::Mailbox,
        operation: tandem_store::JournalJson::from_stored(text.into()),
        created_at: chrono::Utc::now(),
    };
    store
        .record_intents(&[
            intent("damaged", r#"{"operation":{"pair":null,"op":"create","target":"mailbox"}}"#),
            intent("not-a-write", r#"{"operation":{"pair":null,"op":"frobnicate","reason":"?"}}"#),
        ])
        .await
        .unwrap();
    let report = engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(report.object(C).unwrap().applied("create"), 1, "{report}");
    assert!(store.pending_intents(USER).await.unwrap().is_empty());
    let audit = store.audit_log(Some(USER), None, 100).await.unwrap();
    let mut dropped: Vec<&str> = audit
        .iter()
        .filter(|a| a.action == "recover" && a.outcome == "dropped")
        .map(|a| a.reason.split_whitespace().nth(2).unwrap())
        .collect();
    dropped.sort_unstable();
    assert_eq!(dropped, ["damaged", "not-a-write"], "{audit:?}");
}
