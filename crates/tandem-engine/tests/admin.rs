//! The administrator's API: held deletes (approve, reject), quarantine (retry, dismiss), reset,
//! cycle history and the overview, end to end over in-memory connectors and SQLite state.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use tandem_connector::memory::MemoryConnector;
use tandem_connector::{ConnectorError, WriteOp};
use tandem_core::config::{DeletePropagation, MassDeleteGuard};
use tandem_core::model::{Contact, EmailAddress, ObjectKind, Record};
use tandem_core::state::{RecordId, Side};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_store::{CYCLES_KEPT_PER_USER, SqliteStore};

const C: ObjectKind = ObjectKind::Contact;
const USER: &str = "ada@example.com";

fn person(family: &str) -> Record {
    Record::Contact(Contact {
        given_name: Some("P".into()),
        family_name: Some(family.into()),
        emails: vec![EmailAddress {
            kind: Default::default(),
            address: format!("{}@example.com", family.to_lowercase()),
        }],
        ..Contact::default()
    })
}

fn family(r: &Record) -> String {
    match r {
        Record::Contact(c) => c.family_name.clone().unwrap_or_default(),
        other => panic!("not a contact: {other:?}"),
    }
}

fn families(c: &MemoryConnector) -> Vec<String> {
    let mut names: Vec<String> = c.records(C).iter().map(|(_, r)| family(r)).collect();
    names.sort();
    names
}

fn contacts_only() -> SyncOptions {
    SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() }
}

/// Deletes propagate both ways; the guard holds more than 20% and at least 5 deletes.
fn guarded() -> SyncConfig {
    let mut config = SyncConfig::named("t");
    config.contacts.deletes = DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: true };
    config.contacts.mass_delete_guard = MassDeleteGuard { max_share: 0.2, min_records: 5 };
    config
}

async fn setup(n: usize) -> (Engine, MemoryConnector, MemoryConnector, UserSync, Vec<RecordId>) {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    let ids: Vec<RecordId> = (0..n).map(|i| crm.insert(person(&format!("Person{i:02}")))).collect();
    let engine = Engine::new(Arc::new(SqliteStore::in_memory().await.unwrap()));
    let job = UserSync::new(USER, guarded(), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    engine.sync_user(&job, &contacts_only()).await.unwrap();
    assert_eq!(mailbox.len(C), n);
    (engine, crm, mailbox, job, ids)
}

async fn audit_actions(engine: &Engine, action: &str) -> Vec<tandem_store::AuditEntry> {
    engine
        .store()
        .audit_log(Some(USER), None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == action)
        .collect()
}

#[tokio::test]
async fn approving_applies_exactly_the_deletes_held_then() {
    let (engine, crm, mailbox, job, ids) = setup(40).await;
    for id in &ids[..10] {
        crm.remove(C, id);
    }
    let held = engine.sync_user(&job, &contacts_only()).await.unwrap();
    assert_eq!(held.object(C).unwrap().held_deletes, 10);
    assert_eq!(engine.held_deletes(USER).await.unwrap().len(), 10);
    assert!(engine.quarantined(USER).await.unwrap().is_empty(), "held deletes are not listed as quarantine");

    assert_eq!(engine.approve_held_deletes(USER, Some(C), "cli:root").await.unwrap(), 10);
    // Approving again approves nothing new.
    assert_eq!(engine.approve_held_deletes(USER, None, "cli:root").await.unwrap(), 0);
    let audit = audit_actions(&engine, "admin_approve_held").await;
    assert_eq!(audit.len(), 10);
    assert!(audit.iter().all(|a| a.outcome == "applied" && a.reason.contains("cli:root")));
    assert_eq!(audit[0].detail, Some(serde_json::json!({ "actor": "cli:root" })));

    // A new mass delete after the approval: judged on its own, and held.
    for id in &ids[10..20] {
        crm.remove(C, id);
    }
    let next = engine.sync_user(&job, &contacts_only()).await.unwrap();
    let o = next.object(C).unwrap();
    assert_eq!(o.applied("delete"), 10, "exactly the approved deletes");
    assert_eq!(o.held_deletes, 10, "the new mass delete is held");
    assert_eq!(mailbox.len(C), 30);
    let still: Vec<RecordId> = engine.held_deletes(USER).await.unwrap().into_iter().map(|q| q.record_id).collect();
    let mut expected: Vec<RecordId> = ids[10..20].to_vec();
    expected.sort();
    let mut still_sorted = still.clone();
    still_sorted.sort();
    assert_eq!(still_sorted, expected);
    assert!(
        engine.held_deletes(USER).await.unwrap().iter().all(|q| q.detail.as_ref().unwrap().get("approved").is_none())
    );

    // And it waits for its own approval.
    let again = engine.sync_user(&job, &contacts_only()).await.unwrap();
    assert_eq!(again.object(C).unwrap().held_deletes, 10);
    assert_eq!(mailbox.len(C), 30);
    assert_eq!(engine.approve_held_deletes(USER, None, "web:admin").await.unwrap(), 10);
    let done = engine.sync_user(&job, &contacts_only()).await.unwrap();
    assert_eq!(done.object(C).unwrap().applied("delete"), 10);
    assert_eq!(mailbox.len(C), 20);
    assert!(engine.held_deletes(USER).await.unwrap().is_empty());
}

#[tokio::test]
async fn rejecting_restores_the_deleted_records_on_either_side() {
    for deleted_on in Side::BOTH {
        let (engine, crm, mailbox, job, _) = setup(20).await;
        let (victim, survivor) = match deleted_on {
            Side::Crm => (&crm, &mailbox),
            Side::Mailbox => (&mailbox, &crm),
        };
        let before = families(victim);
        let gone: Vec<RecordId> = victim.records(C).into_iter().take(15).map(|(id, _)| id).collect();
        for id in &gone {
            victim.remove(C, id);
        }
        let held = engine.sync_user(&job, &contacts_only()).await.unwrap();
        assert_eq!(held.object(C).unwrap().held_deletes, 15, "{deleted_on}");
        assert_eq!(engine.reject_held_deletes(USER, None, "cli:root").await.unwrap(), 15);
        assert!(engine.held_deletes(USER).await.unwrap().is_empty());
        assert_eq!(audit_actions(&engine, "admin_reject_held").await.len(), 15);

        let restored = engine.sync_user(&job, &contacts_only()).await.unwrap();
        let o = restored.object(C).unwrap();
        assert_eq!(o.applied("create"), 15, "{deleted_on}: {restored}");
        assert_eq!(o.applied("delete"), 0);
        assert_eq!(families(victim), before, "{deleted_on}: restored, no duplicates");
        assert_eq!(survivor.len(C), 20);
        assert_eq!(engine.store().pair_count(USER, C).await.unwrap(), 20, "{deleted_on}: re-linked");
        // Settled: the next cycle has nothing to do.
        let quiet = engine.sync_user(&job, &contacts_only()).await.unwrap();
        assert_eq!(quiet.total_writes(), 0, "{deleted_on}: {quiet}");
        assert_eq!(families(victim), before);
    }
}

fn reject_family(mailbox: &MemoryConnector, name: &'static str) {
    mailbox.set_write_hook(Some(Arc::new(move |op: &WriteOp| match op {
        WriteOp::Create { record, .. } if family(record) == name => {
            Some(ConnectorError::Rejected { code: "INVALID".into(), message: "no".into() })
        }
        _ => None,
    })));
}

#[tokio::test]
async fn retrying_and_dismissing_quarantined_records() {
    let (engine, crm, mailbox, job, _) = setup(3).await;
    reject_family(&mailbox, "Bad");
    let bad = crm.insert(person("Bad"));
    engine.sync_user(&job, &contacts_only()).await.unwrap();
    let q = engine.quarantined(USER).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].side, &q[0].record_id), (Side::Crm, &bad));
    assert!(!engine.retry_quarantined(USER, C, Side::Mailbox, &bad, "cli:root").await.unwrap(), "not found");

    // Retried while the cause remains: quarantined again.
    assert!(engine.retry_quarantined(USER, C, Side::Crm, &bad, "cli:root").await.unwrap());
    assert!(engine.quarantined(USER).await.unwrap().is_empty());
    engine.sync_user(&job, &contacts_only()).await.unwrap();
    assert_eq!(engine.quarantined(USER).await.unwrap().len(), 1);

    // Retried once the cause is gone: copied.
    mailbox.set_write_hook(None);
    assert!(engine.retry_quarantined(USER, C, Side::Crm, &bad, "cli:root").await.unwrap());
    let report = engine.sync_user(&job, &contacts_only()).await.unwrap();
    assert_eq!(report.object(C).unwrap().applied("create"), 1);
    assert!(engine.quarantined(USER).await.unwrap().is_empty());
    assert_eq!(mailbox.len(C), 4);
    assert_eq!(audit_actions(&engine, "admin_retry_quarantine").await.len(), 2);

    // Dismissed: the entry goes, the record stays unsynced until it changes.
    reject_family(&mailbox, "Ugly");
    let ugly = crm.insert(person("Ugly"));
    engine.sync_user(&job, &contacts_only()).await.unwrap();
    mailbox.set_write_hook(None);
    assert!(engine.dismiss_quarantined(USER, C, Side::Crm, &ugly, "web:admin").await.unwrap());
    assert!(!engine.dismiss_quarantined(USER, C, Side::Crm, &ugly, "web:admin").await.unwrap());
    assert!(engine.quarantined(USER).await.unwrap().is_empty());
    let quiet = engine.sync_user(&job, &contacts_only()).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
    assert_eq!(mailbox.len(C), 4);
    crm.edit(C, &ugly, |r| {
        if let Record::Contact(c) = r {
            c.given_name = Some("Q".into());
        }
    });
    let changed = engine.sync_user(&job, &contacts_only()).await.unwrap();
    assert_eq!(changed.object(C).unwrap().applied("create"), 1);
    assert_eq!(mailbox.len(C), 5);
    let dismissed = audit_actions(&engine, "admin_dismiss_quarantine").await;
    assert_eq!(dismissed.len(), 1);
    assert_eq!(dismissed[0].detail, Some(serde_json::json!({ "actor": "web:admin" })));
}

#[tokio::test]
async fn reset_user_by_resets_and_audits() {
    let (engine, _crm, _mailbox, job, _) = setup(4).await;
    engine.reset_user_by(USER, None, "cli:root").await.unwrap();
    assert_eq!(engine.store().pair_count(USER, C).await.unwrap(), 0);
    let audit = audit_actions(&engine, "admin_reset").await;
    assert_eq!(audit.len(), 2, "one per object");
    assert!(audit.iter().all(|a| a.outcome == "applied" && a.reason.contains("cli:root")));
    let relinked = engine.sync_user(&job, &contacts_only()).await.unwrap();
    assert_eq!(relinked.object(C).unwrap().planned("link"), 4);
    engine.reset_user_by(USER, Some(C), "web:admin").await.unwrap();
    assert_eq!(audit_actions(&engine, "admin_reset").await.len(), 3);
}

#[tokio::test]
async fn recent_cycles_keep_operations_with_reasons_and_the_newest_fifty() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    for i in 0..3 {
        crm.insert(person(&format!("Person{i}")));
    }
    let engine = Engine::new(Arc::new(SqliteStore::in_memory().await.unwrap()));
    let job = UserSync::new(USER, guarded(), Arc::new(crm.clone()), Arc::new(mailbox.clone()));

    let preview = engine.sync_user(&job, &SyncOptions { dry_run: true, ..contacts_only() }).await.unwrap();
    let text = preview.to_string();
    assert!(text.contains("create on mailbox from crm"), "{text}");
    let cycles = engine.recent_cycles(USER, 10).await.unwrap();
    assert_eq!(cycles.len(), 1);
    assert!(cycles[0].dry_run);
    assert_eq!(cycles[0].counts.creates, 3);
    assert!(cycles[0].operations.iter().all(|op| op.outcome == "planned" && !op.reason.is_empty()));

    engine.sync_user(&job, &contacts_only()).await.unwrap();
    let cycles = engine.recent_cycles(USER, 10).await.unwrap();
    assert_eq!(cycles.len(), 2);
    let newest = &cycles[0];
    assert!(!newest.dry_run && newest.is_ok(), "newest first");
    assert_eq!(newest.object, C);
    assert_eq!(newest.counts.creates, 3);
    let creates: Vec<_> = newest.operations.iter().filter(|op| op.action == "create").collect();
    assert_eq!(creates.len(), 3);
    assert!(
        creates.iter().all(|op| op.outcome == "applied" && !op.reason.is_empty() && op.side == Some(Side::Mailbox))
    );

    for _ in 0..CYCLES_KEPT_PER_USER + 5 {
        engine.sync_user(&job, &contacts_only()).await.unwrap();
    }
    let kept = engine.recent_cycles(USER, 1_000).await.unwrap();
    assert_eq!(kept.len(), CYCLES_KEPT_PER_USER);
    assert!(kept.iter().all(|c| !c.dry_run && c.operations.is_empty()), "the oldest went first");
    assert!(kept.windows(2).all(|w| w[0].started_at >= w[1].started_at));
}

#[tokio::test]
async fn a_failed_cycle_is_recorded_without_failing_anything_else() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    crm.insert(person("Person"));
    crm.fail_next([ConnectorError::Auth { refreshable: false, message: "token revoked".into() }]);
    let engine = Engine::new(Arc::new(SqliteStore::in_memory().await.unwrap()));
    let job = UserSync::new(USER, guarded(), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    assert!(engine.sync_user(&job, &contacts_only()).await.is_err());
    let cycles = engine.recent_cycles(USER, 10).await.unwrap();
    assert_eq!(cycles.len(), 1);
    assert!(cycles[0].outcome.starts_with("failed: "), "{}", cycles[0].outcome);
}

#[tokio::test]
async fn the_overview_counts_what_waits_for_a_person() {
    let (engine, crm, mailbox, job, ids) = setup(40).await;
    for id in &ids[..10] {
        crm.remove(C, id);
    }
    reject_family(&mailbox, "Bad");
    crm.insert(person("Bad"));
    engine.sync_user(&job, &contacts_only()).await.unwrap();
    let rows = engine.user_overview().await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.status.user, USER);
    assert_eq!(row.held_deletes, 10);
    assert_eq!(row.quarantined, 1);
    assert_eq!(row.unresolved, 0);
    let last = row.last_cycle.unwrap();
    assert_eq!((last.creates, last.deletes, last.failed, last.held_deletes), (0, 0, 0, 10));
    assert_eq!(row.last_cycle_ok, Some(true));
    let json = serde_json::to_value(row).unwrap();
    assert_eq!(json["user"], USER, "status fields flattened");
    assert_eq!(json["held_deletes"], 10);
}
