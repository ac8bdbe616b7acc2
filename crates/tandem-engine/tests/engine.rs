//! End-to-end runtime tests: in-memory connectors, SQLite state, fault injection.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{Connector, ConnectorError, Identity, MockConnector, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::Capabilities;
use tandem_core::config::{ConflictStrategy, DeletePropagation};
use tandem_core::model::{Contact, EmailAddress, ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, Cursor, IdempotencyKey, RecordId, Side};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, EngineError, SyncOptions, UserSync};
use tandem_store::{SqliteStore, StateStore};

use common::CrashingStore;

const C: ObjectKind = ObjectKind::Contact;

fn person(given: &str, family: &str) -> Record {
    Record::Contact(Contact {
        given_name: Some(given.into()),
        family_name: Some(family.into()),
        emails: vec![EmailAddress {
            kind: Default::default(),
            address: format!("{}.{}@example.com", given.to_lowercase(), family.to_lowercase()),
        }],
        ..Contact::default()
    })
}

fn contact_of(r: Option<Record>) -> Contact {
    match r {
        Some(Record::Contact(c)) => c,
        other => panic!("not a contact: {other:?}"),
    }
}

async fn store() -> Arc<SqliteStore> {
    Arc::new(SqliteStore::in_memory().await.unwrap())
}

fn job(crm: &MemoryConnector, mailbox: &MemoryConnector, config: SyncConfig) -> UserSync {
    UserSync::new("ada@example.com", config, Arc::new(crm.clone()), Arc::new(mailbox.clone()))
}

fn contacts_only() -> SyncOptions {
    SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() }
}

fn family_names(c: &MemoryConnector) -> Vec<String> {
    let mut names: Vec<String> =
        c.records(C).into_iter().map(|(_, r)| contact_of(Some(r)).family_name.unwrap_or_default()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn first_sync_links_and_creates_then_incremental_merges_both_sides() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    let ada = crm.insert(person("Ada", "Lovelace"));
    crm.insert(person("Grace", "Hopper"));
    // Already in the mailbox, address in other case: linked, not duplicated.
    let mut copy = person("Ada", "Lovelace");
    if let Record::Contact(c) = &mut copy {
        c.emails[0].address = "ADA.LOVELACE@EXAMPLE.COM".into();
    }
    let ada_mb = mailbox.insert(copy);
    mailbox.insert(person("Alan", "Turing"));

    let engine = Engine::new(store().await);
    let j = job(&crm, &mailbox, SyncConfig::named("t"));
    let report = engine.sync_user(&j, &contacts_only()).await.unwrap();
    let o = report.object(C).unwrap();
    assert_eq!(o.planned("link"), 1);
    assert_eq!(o.applied("create"), 2);
    assert_eq!(family_names(&crm), ["Hopper", "Lovelace", "Turing"]);
    assert_eq!(family_names(&mailbox), ["Hopper", "Lovelace", "Turing"]);

    // Different fields edited on each side both survive.
    crm.edit(C, &ada, |r| {
        if let Record::Contact(c) = r {
            c.title = Some("Analyst".into());
        }
    });
    mailbox.edit(C, &ada_mb, |r| {
        if let Record::Contact(c) = r {
            c.department = Some("Engines".into());
        }
    });
    engine.sync_user(&j, &contacts_only()).await.unwrap();
    for c in [contact_of(crm.get(C, &ada)), contact_of(mailbox.get(C, &ada_mb))] {
        assert_eq!(c.title.as_deref(), Some("Analyst"));
        assert_eq!(c.department.as_deref(), Some("Engines"));
    }

    // Nothing changed: nothing written, echoes ignored.
    let writes_before = crm.counts().writes + mailbox.counts().writes;
    let quiet = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(quiet.total_writes(), 0);
    assert_eq!(crm.counts().writes + mailbox.counts().writes, writes_before);
    let status = engine.store().status("ada@example.com").await.unwrap().unwrap();
    assert_eq!(status.consecutive_failures, 0);
    assert!(status.last_success_at.is_some());
}

#[tokio::test]
async fn dry_run_returns_the_plan_and_writes_nothing() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    crm.insert(person("Ada", "Lovelace"));
    let engine = Engine::new(store().await);
    let j = job(&crm, &mailbox, SyncConfig::named("t"));
    let report = engine.sync_user(&j, &SyncOptions { dry_run: true, ..contacts_only() }).await.unwrap();
    let plan = report.object(C).unwrap().plan.as_ref().unwrap();
    assert_eq!(plan.writes().count(), 1);
    assert!(plan.to_string().contains("create on mailbox"));
    assert_eq!(mailbox.len(C), 0);
    assert_eq!(engine.store().pair_count("ada@example.com", C).await.unwrap(), 0);
    assert!(engine.store().cursor("ada@example.com", C, Side::Crm).await.unwrap().is_none());
    assert!(engine.store().status("ada@example.com").await.unwrap().is_none());
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"dry_run\":true"));
}

#[tokio::test]
async fn throttling_is_waited_out() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    crm.insert(person("Ada", "Lovelace"));
    crm.throttle_next(2, Duration::from_millis(5));
    mailbox.throttle_next(1, Duration::from_millis(5));
    let engine = Engine::new(store().await);
    let report = engine.sync_user(&job(&crm, &mailbox, SyncConfig::named("t")), &contacts_only()).await.unwrap();
    assert_eq!(mailbox.len(C), 1);
    let calls = report.object(C).unwrap().api_calls;
    assert!(calls.crm >= 3, "two throttled pulls then one that worked: {calls:?}");
}

#[tokio::test]
async fn a_stale_version_is_refetched_and_replanned_in_the_same_cycle() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    let ada = crm.insert(person("Ada", "Lovelace"));
    let engine = Engine::new(store().await);
    let j = job(&crm, &mailbox, SyncConfig::named("t"));
    engine.sync_user(&j, &contacts_only()).await.unwrap();
    let (mb_id, _) = mailbox.records(C).pop().unwrap();

    crm.edit(C, &ada, |r| {
        if let Record::Contact(c) = r {
            c.title = Some("Countess".into());
        }
    });
    // Someone edits the mailbox copy after Tandem read it and before its update lands.
    let racing =
        Arc::new(EditBeforeFirstWrite { inner: mailbox.clone(), id: mb_id.clone(), done: AtomicBool::new(false) });
    let j = UserSync::new("ada@example.com", SyncConfig::named("t"), Arc::new(crm.clone()), racing);
    let report = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(report.object(C).unwrap().replanned, 1);
    let c = contact_of(crm.get(C, &ada));
    let m = contact_of(mailbox.get(C, &mb_id));
    assert_eq!(m.title.as_deref(), Some("Countess"));
    assert_eq!(c.department.as_deref(), Some("Analytical Engines"));
    assert_eq!(m.department, c.department);
}

#[tokio::test]
async fn an_expired_cursor_resyncs_in_full_without_duplicates() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    for i in 0..30 {
        crm.insert(person("P", &format!("Person{i:02}")));
        mailbox.insert(person("M", &format!("Mailbox{i:02}")));
    }
    let engine = Engine::new(store().await);
    let j = job(&crm, &mailbox, SyncConfig::named("t"));
    engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!((crm.len(C), mailbox.len(C)), (60, 60));
    crm.expire_cursors();
    mailbox.expire_cursors();
    let report = engine.sync_user(&j, &contacts_only()).await.unwrap();
    let o = report.object(C).unwrap();
    assert_eq!(o.full_resync, vec![Side::Crm, Side::Mailbox]);
    assert_eq!(o.planned("create"), 0);
    assert_eq!((crm.len(C), mailbox.len(C)), (60, 60));
    assert_eq!(engine.store().pair_count("ada@example.com", C).await.unwrap(), 60);
}

#[tokio::test]
async fn a_lost_answer_to_a_create_does_not_duplicate_on_a_provider_without_idempotency() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    for i in 0..5 {
        crm.insert(person("P", &format!("Person{i}")));
    }
    mailbox.set_idempotent_creates(false);
    mailbox.lose_next_responses(1);
    let engine = Engine::new(store().await);
    let j = job(&crm, &mailbox, SyncConfig::named("t"));
    let first = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(first.object(C).unwrap().failed.len(), 5);
    assert_eq!(mailbox.len(C), 5, "the writes landed although the answer was lost");
    let second = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(second.recovered_intents, 5);
    assert_eq!(mailbox.len(C), 5, "no duplicates");
    assert_eq!(second.object(C).unwrap().applied("create"), 0);
    let third = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(third.total_writes(), 0);
    assert_eq!(family_names(&mailbox), family_names(&crm));
}

/// A mailbox where a person edits a record just before Tandem's first write arrives.
struct EditBeforeFirstWrite {
    inner: MemoryConnector,
    id: RecordId,
    done: AtomicBool,
}

#[async_trait]
impl Connector for EditBeforeFirstWrite {
    fn provider(&self) -> &str {
        "racing"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn connection(&self) -> tandem_connector::ConnectionInfo {
        self.inner.connection()
    }
    async fn identity(&self) -> Result<Identity, ConnectorError> {
        self.inner.identity().await
    }
    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        self.inner.pull(object, cursor).await
    }
    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        self.inner.fetch(object, ids).await
    }
    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        if !self.done.swap(true, Ordering::SeqCst) {
            self.inner.edit(object, &self.id, |r| {
                if let Record::Contact(c) = r {
                    c.department = Some("Analytical Engines".into());
                }
            });
        }
        self.inner.apply(object, ops).await
    }
    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.inner.find_by_key(object, key).await
    }
}

#[tokio::test]
async fn a_crash_between_writes_and_commit_is_recovered_without_duplicates() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    for i in 0..7 {
        crm.insert(person("P", &format!("Person{i}")));
    }
    mailbox.set_idempotent_creates(false);
    // The first commit that records pairs fails: the process "dies" after its writes were sent.
    let store = Arc::new(CrashingStore::new().await);
    store.any_commit.store(false, Ordering::SeqCst);
    store.crash_next_commits(1);
    let engine = Engine::new(store.clone());
    let j = job(&crm, &mailbox, SyncConfig::named("t"));
    assert!(matches!(engine.sync_user(&j, &contacts_only()).await, Err(EngineError::Store(_))));
    assert_eq!(mailbox.len(C), 7);
    assert_eq!(store.pending_intents("ada@example.com").await.unwrap().len(), 7);
    let status = store.status("ada@example.com").await.unwrap().unwrap();
    assert_eq!(status.consecutive_failures, 1);

    let report = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(report.recovered_intents, 7);
    assert_eq!(mailbox.len(C), 7, "no duplicate after the crash");
    assert!(store.pending_intents("ada@example.com").await.unwrap().is_empty());
    assert_eq!(store.pair_count("ada@example.com", C).await.unwrap(), 7);
}

#[tokio::test]
async fn reset_sync_rebuilds_pairs_by_matching_without_writes() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    for i in 0..10 {
        crm.insert(person("P", &format!("Person{i}")));
        mailbox.insert(person("M", &format!("Mailbox{i}")));
    }
    let engine = Engine::new(store().await);
    let j = job(&crm, &mailbox, SyncConfig::named("t"));
    engine.sync_user(&j, &contacts_only()).await.unwrap();
    let before = (crm.records(C), mailbox.records(C));
    engine.reset_user("ada@example.com", None).await.unwrap();
    assert_eq!(engine.store().pair_count("ada@example.com", C).await.unwrap(), 0);
    let report = engine.sync_user(&j, &contacts_only()).await.unwrap();
    let o = report.object(C).unwrap();
    assert_eq!(o.planned("link"), 20);
    assert_eq!(report.total_writes(), 0);
    assert_eq!((crm.records(C), mailbox.records(C)), before, "record data unchanged");
}

#[tokio::test]
async fn mass_deletes_are_held_until_approved() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    let ids: Vec<RecordId> = (0..20).map(|i| crm.insert(person("P", &format!("Person{i:02}")))).collect();
    let mut config = SyncConfig::named("t");
    config.contacts.deletes = DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: true };
    let engine = Engine::new(store().await);
    let j = job(&crm, &mailbox, config);
    engine.sync_user(&j, &contacts_only()).await.unwrap();
    for id in &ids[..15] {
        crm.remove(C, id);
    }
    let held = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(held.object(C).unwrap().held_deletes, 15);
    assert_eq!(mailbox.len(C), 20);
    assert!(held.to_string().contains("HELD 15"));
    // Still held on the next cycle, although the feed no longer reports them.
    let again = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(again.object(C).unwrap().held_deletes, 15);
    let released = engine.sync_user(&j, &SyncOptions { release_held_deletes: true, ..contacts_only() }).await.unwrap();
    assert_eq!(released.object(C).unwrap().applied("delete"), 15);
    assert_eq!(mailbox.len(C), 5);
    assert!(engine.store().quarantine("ada@example.com").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_rejected_record_is_quarantined_and_the_rest_goes_on() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    for i in 0..5 {
        crm.insert(person("P", &format!("Person{i}")));
    }
    let bad = crm.insert(person("P", "Reject"));
    mailbox.set_write_hook(Some(Arc::new(|op: &WriteOp| match op {
        WriteOp::Create { record: Record::Contact(c), .. } if c.family_name.as_deref() == Some("Reject") => {
            Some(ConnectorError::Rejected { code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(), message: "no".into() })
        }
        _ => None,
    })));
    let engine = Engine::new(store().await);
    let report = engine.sync_user(&job(&crm, &mailbox, SyncConfig::named("t")), &contacts_only()).await.unwrap();
    let o = report.object(C).unwrap();
    assert_eq!(o.applied("create"), 5);
    assert_eq!(o.quarantined.len(), 1);
    assert_eq!(o.quarantined[0].id, bad);
    let q = engine.store().quarantine("ada@example.com").await.unwrap();
    assert_eq!(q.len(), 1);
    assert!(q[0].reason.contains("FIELD_CUSTOM_VALIDATION_EXCEPTION"));
}

#[tokio::test]
async fn one_users_failure_never_blocks_the_others() {
    let engine = Engine::new(store().await);
    let mut jobs = Vec::new();
    let mut sides = Vec::new();
    for n in 0..4 {
        let crm = MemoryConnector::new("crm");
        let mailbox = MemoryConnector::new("mailbox");
        crm.insert(person("P", &format!("User{n}")));
        if n == 2 {
            crm.fail_next([ConnectorError::Auth { refreshable: false, message: "token revoked".into() }]);
        }
        let mut j = job(&crm, &mailbox, SyncConfig::named("t"));
        j.user = format!("user{n}@example.com");
        jobs.push(j);
        sides.push(mailbox);
    }
    let results = engine.sync_all(jobs, &contacts_only()).await;
    assert_eq!(results.len(), 4);
    for (n, (user, result)) in results.iter().enumerate() {
        assert_eq!(user, &format!("user{n}@example.com"));
        assert_eq!(result.is_ok(), n != 2, "{user}: {result:?}");
        assert_eq!(sides[n].len(C), usize::from(n != 2));
    }
    let statuses = engine.store().statuses().await.unwrap();
    let failed = statuses.iter().find(|s| s.user == "user2@example.com").unwrap();
    assert_eq!(failed.consecutive_failures, 1);
    assert!(failed.last_error.as_deref().unwrap().contains("token revoked"));
}

#[tokio::test]
async fn manual_conflicts_are_reported_and_nothing_changes() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    let ada = crm.insert(person("Ada", "Lovelace"));
    let mut config = SyncConfig::named("t");
    config.contacts.conflicts.strategy = ConflictStrategy::Manual;
    let engine = Engine::new(store().await);
    let j = job(&crm, &mailbox, config);
    engine.sync_user(&j, &contacts_only()).await.unwrap();
    let (mb, _) = mailbox.records(C).pop().unwrap();
    crm.edit(C, &ada, |r| {
        if let Record::Contact(c) = r {
            c.title = Some("A".into());
        }
    });
    mailbox.edit(C, &mb, |r| {
        if let Record::Contact(c) = r {
            c.title = Some("B".into());
        }
    });
    let report = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(report.object(C).unwrap().conflicts.len(), 1);
    assert_eq!(report.total_writes(), 0);
    assert_eq!(contact_of(crm.get(C, &ada)).title.as_deref(), Some("A"));
    assert_eq!(contact_of(mailbox.get(C, &mb)).title.as_deref(), Some("B"));
    assert_eq!(engine.store().quarantine("ada@example.com").await.unwrap().len(), 1);
}

#[tokio::test]
async fn mocked_connectors_unreadable_records_are_quarantined_and_auth_failures_are_typed() {
    let mut crm = MockConnector::new();
    crm.expect_provider().return_const("mock".to_owned());
    crm.expect_capabilities().returning(Capabilities::everything);
    crm.expect_connection().returning(|| tandem_connector::ConnectionInfo::in_memory("mock"));
    crm.expect_pull().returning(|_, _| {
        Ok(PullPage {
            changes: vec![
                Change {
                    id: RecordId::new("003BAD"),
                    version: Default::default(),
                    modified_at: None,
                    sync_key: None,
                    kind: ChangeKind::Invalid { reason: "Birthdate `1815-13-40` is not a date".into() },
                },
                Change::upserted("003OK", "1", person("Ada", "Lovelace")),
            ],
            cursor: Cursor(b"w1".to_vec()),
            done: true,
        })
    });
    let created = Arc::new(AtomicUsize::new(0));
    let mailbox = MemoryConnector::new("mailbox");
    let engine = Engine::new(store().await);
    let j = UserSync::new("ada@example.com", SyncConfig::named("t"), Arc::new(crm), Arc::new(mailbox.clone()));
    let report = engine.sync_user(&j, &contacts_only()).await.unwrap();
    created.fetch_add(mailbox.len(C), Ordering::SeqCst);
    let o = report.object(C).unwrap();
    assert_eq!(o.quarantined.len(), 1);
    assert!(o.quarantined[0].reason.contains("not a date"));
    assert_eq!(created.load(Ordering::SeqCst), 1);

    let mut failing = MockConnector::new();
    failing.expect_provider().return_const("mock".to_owned());
    failing.expect_capabilities().returning(Capabilities::everything);
    failing.expect_connection().returning(|| tandem_connector::ConnectionInfo::in_memory("mock"));
    failing
        .expect_pull()
        .returning(|_, _| Err(ConnectorError::Auth { refreshable: false, message: "invalid_grant".into() }));
    let j = UserSync::new("bob@example.com", SyncConfig::named("t"), Arc::new(failing), Arc::new(mailbox.clone()));
    let err = engine.sync_user(&j, &contacts_only()).await.unwrap_err();
    assert!(matches!(err, EngineError::Connector { side: Side::Crm, error: ConnectorError::Auth { .. } }), "{err}");
    let _ = IdempotencyKey::derive(C, Side::Crm, &RecordId::new("x"));
}

#[tokio::test]
async fn bad_records_are_quarantined_with_reasons_never_lost_and_the_cycle_goes_on() {
    use tandem_core::model::{Event, EventTime, EventTiming};
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    let good = crm.insert(person("Ada", "Lovelace"));
    let mut nul = person("Nul", "Custom");
    nul.custom_mut().insert("Region__c".into(), "EMEA\u{0}".into());
    let nul = crm.insert(nul);
    let mut huge = person("Huge", "Notes");
    if let Record::Contact(c) = &mut huge {
        c.notes = Some("x".repeat(tandem_core::validate::MAX_TEXT_BYTES + 1));
    }
    let huge = crm.insert(huge);
    let at = |h: u32, zone: &str| EventTime::Zoned {
        local: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap().and_hms_opt(h, 0, 0).unwrap(),
        zone: zone.into(),
    };
    let event = |start: EventTime, end: EventTime, subject: &str| {
        Record::Event(Event {
            subject: Some(subject.into()),
            description: None,
            location: None,
            timing: EventTiming { start, end },
            recurrence: None,
            organizer: None,
            attendees: vec![],
            privacy: Default::default(),
            show_as: Default::default(),
            categories: vec![],
            crm_links: vec![],
            ical_uid: None,
            custom: Default::default(),
        })
    };
    let backwards = mailbox.insert(event(at(10, "Europe/Paris"), at(9, "Europe/Paris"), "Backwards"));
    let nowhere = mailbox.insert(event(at(10, "Atlantis/Capital"), at(11, "Atlantis/Capital"), "Nowhere"));
    let fine = mailbox.insert(event(at(10, "Europe/Paris"), at(11, "Europe/Paris"), "Fine"));

    let mut config = SyncConfig::named("t");
    config.contacts.fields.custom.push(tandem_core::config::CustomFieldMapping {
        name: "region".into(),
        crm: "Region__c".into(),
        mailbox: "region".into(),
    });
    let engine = Engine::new(store().await);
    let report = engine.sync_user(&job(&crm, &mailbox, config.clone()), &SyncOptions::default()).await.unwrap();
    let contacts = report.object(C).unwrap();
    let events = report.object(ObjectKind::Event).unwrap();
    assert_eq!(contacts.applied("create"), 1);
    assert_eq!(events.applied("create"), 1);
    let reasons: Vec<(RecordId, String)> =
        contacts.quarantined.iter().chain(&events.quarantined).map(|q| (q.id.clone(), q.reason.clone())).collect();
    let reason_of = |id: &RecordId| reasons.iter().find(|(r, _)| r == id).map(|(_, s)| s.clone()).unwrap();
    assert!(reason_of(&nul).contains("control characters"));
    assert!(reason_of(&huge).contains("oversized"));
    assert!(reason_of(&backwards).contains("ends before it starts"));
    assert!(reason_of(&nowhere).contains("unknown time zone"));
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    // Never lost: the bad records are still where they were.
    assert_eq!(crm.len(C), 3);
    assert!(mailbox.get(ObjectKind::Event, &backwards).is_some() && mailbox.get(ObjectKind::Event, &fine).is_some());
    assert!(crm.get(C, &good).is_some());
    assert_eq!(engine.store().quarantine("ada@example.com").await.unwrap().len(), 4);

    // Fixing a record releases it from quarantine on the next cycle.
    crm.edit(C, &nul, |r| {
        r.custom_mut().insert("Region__c".into(), "EMEA".into());
    });
    let next = engine.sync_user(&job(&crm, &mailbox, config), &contacts_only()).await.unwrap();
    assert_eq!(next.object(C).unwrap().applied("create"), 1);
    let copied = mailbox.records(C).into_iter().find(|(_, r)| r.custom().contains_key("region")).unwrap();
    assert_eq!(copied.1.custom().get("region").map(String::as_str), Some("EMEA"));
    assert_eq!(engine.store().quarantine("ada@example.com").await.unwrap().len(), 3);
}

#[tokio::test]
async fn transient_read_failures_are_tried_again_but_writes_are_not() {
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    crm.insert(person("Ada", "Lovelace"));
    let blip = || ConnectorError::Transient { message: "connection reset".into() };
    crm.fail_next([blip(), blip()]);
    let options = tandem_engine::EngineOptions {
        default_throttle_wait: Duration::from_millis(1),
        ..tandem_engine::EngineOptions::default()
    };
    let engine = Engine::with(store().await, Arc::new(tandem_engine::SystemClock), options.clone());
    let j = job(&crm, &mailbox, SyncConfig::named("t"));
    let report = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(report.object(C).unwrap().applied("create"), 1, "two failed reads, then the feed was read");

    // Three in a row exceed the two retries: the cycle fails and nothing is half-done.
    crm.insert(person("Grace", "Hopper"));
    crm.fail_next([blip(), blip(), blip()]);
    assert!(matches!(
        engine.sync_user(&j, &contacts_only()).await,
        Err(EngineError::Connector { side: Side::Crm, .. })
    ));
    assert_eq!(mailbox.len(C), 1);

    // A failing write is not repeated by the engine: it is reported and retried next cycle.
    let failed_once = Arc::new(AtomicBool::new(false));
    let flag = failed_once.clone();
    mailbox.set_write_hook(Some(Arc::new(move |_: &WriteOp| {
        (!flag.swap(true, Ordering::SeqCst)).then(|| ConnectorError::Transient { message: "reset".into() })
    })));
    let report = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(report.object(C).unwrap().failed.len(), 1);
    let again = engine.sync_user(&j, &contacts_only()).await.unwrap();
    assert_eq!(again.object(C).unwrap().applied("create"), 1);
    assert_eq!(mailbox.len(C), 2);
}
