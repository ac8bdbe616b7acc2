//! A user's contacts and events synced at once, their writes to each side sent together
//! (`Connector::apply_mixed`): one request where there were two, and no change to what is
//! written under lost answers, crashes, failures and edits made in between.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{Datelike, Utc};
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{
    ConnectionInfo, Connector, ConnectorError, Identity, ObjectWrites, PullPage, WriteOp, WriteResult, Written,
};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::{Contact, EmailAddress, Event, EventTime, EventTiming, ObjectKind, Record};
use tandem_core::state::{Cursor, IdempotencyKey, RecordId};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, EngineOptions, SyncOptions, SystemClock, UserSync};
use tandem_store::StateStore;

use common::CrashingStore;

const C: ObjectKind = ObjectKind::Contact;
const E: ObjectKind = ObjectKind::Event;
const USER: &str = "ada@example.com";

fn person(given: &str, title: &str) -> Record {
    Record::Contact(Contact {
        given_name: Some(given.into()),
        family_name: Some("Mixed".into()),
        title: Some(title.into()),
        emails: vec![EmailAddress {
            kind: Default::default(),
            address: format!("{}@example.com", given.to_lowercase()),
        }],
        ..Contact::default()
    })
}

fn meeting(subject: &str, day: u32) -> Record {
    let date = Utc::now().date_naive() + chrono::Duration::days(i64::from(day) + 1);
    let at = |h| EventTime::utc(date.and_hms_opt(h, 0, 0).unwrap());
    Record::Event(Event {
        subject: Some(subject.into()),
        description: None,
        location: Some(format!("Room {}", date.day())),
        timing: EventTiming { start: at(9), end: at(10) },
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
}

/// Contacts as (given name, title, department), sorted.
fn contacts(c: &MemoryConnector) -> Vec<(String, String, String)> {
    let mut all: Vec<_> = c
        .records(C)
        .into_iter()
        .filter_map(|(_, r)| match r {
            Record::Contact(c) => {
                Some((c.given_name.unwrap_or_default(), c.title.unwrap_or_default(), c.department.unwrap_or_default()))
            }
            Record::Event(_) => None,
        })
        .collect();
    all.sort();
    all
}

/// Events as (subject, location), sorted.
fn events(c: &MemoryConnector) -> Vec<(String, String)> {
    let mut all: Vec<_> = c
        .records(E)
        .into_iter()
        .filter_map(|(_, r)| match r {
            Record::Event(e) => Some((e.subject.unwrap_or_default(), e.location.unwrap_or_default())),
            Record::Contact(_) => None,
        })
        .collect();
    all.sort();
    all
}

fn id_of(c: &MemoryConnector, object: ObjectKind, name: &str) -> RecordId {
    c.records(object)
        .into_iter()
        .find(|(_, r)| match r {
            Record::Contact(c) => c.given_name.as_deref() == Some(name),
            Record::Event(e) => e.subject.as_deref().is_some_and(|s| s.starts_with(name)),
        })
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no {object} {name}"))
}

fn job(crm: &MemoryConnector, mailbox: &MemoryConnector) -> UserSync {
    UserSync::new(USER, SyncConfig::named("t"), Arc::new(crm.clone()), Arc::new(mailbox.clone()))
}

fn sides(mixed: bool) -> (MemoryConnector, MemoryConnector) {
    let (crm, mailbox) = (MemoryConnector::new("crm"), MemoryConnector::new("mailbox"));
    if mixed { (crm.with_mixed_batches(), mailbox.with_mixed_batches()) } else { (crm, mailbox) }
}

/// A sync that must finish: a rendezvous that never let a batch go would hang here.
async fn sync(engine: &Engine, job: &UserSync) -> Result<tandem_engine::SyncReport, tandem_engine::EngineError> {
    tokio::time::timeout(Duration::from_secs(30), engine.sync_user(job, &SyncOptions::default()))
        .await
        .expect("the sync finished")
}

#[tokio::test]
async fn both_objects_writes_to_a_side_go_in_one_request() {
    // (connectors that take mixed batches, `EngineOptions::objects_at_once`)
    for (mixed, at_once) in [(true, true), (false, true), (true, false)] {
        let (crm, mailbox) = sides(mixed);
        for i in 0..3 {
            crm.insert(person(&format!("Crm{i}"), "Engineer"));
            crm.insert(meeting(&format!("CrmMeeting{i}"), i));
            mailbox.insert(person(&format!("Box{i}"), "Analyst"));
            mailbox.insert(meeting(&format!("BoxMeeting{i}"), i));
        }
        let options = EngineOptions { objects_at_once: at_once, ..EngineOptions::default() };
        let store = Arc::new(tandem_store::SqliteStore::in_memory().await.unwrap());
        let engine = Engine::with(store, Arc::new(SystemClock), options);
        let report = sync(&engine, &job(&crm, &mailbox)).await.unwrap();
        for object in [C, E] {
            assert_eq!(report.object(object).unwrap().applied("create"), 6, "{mixed}: {object}");
        }
        assert_eq!(contacts(&crm), contacts(&mailbox));
        assert_eq!(events(&crm), events(&mailbox));
        assert_eq!((crm.len(C), crm.len(E), mailbox.len(C), mailbox.len(E)), (6, 6, 6, 6));
        // Each side got its creates of both objects in one request with mixed batches, in one
        // per object without.
        let (requests, shared) = if mixed && at_once { (1, 1) } else { (2, 0) };
        for side in [&crm, &mailbox] {
            assert_eq!((side.counts().applies, side.counts().mixed), (requests, shared), "mixed: {mixed}");
        }

        // An incremental cycle editing one contact and one event on each side: one request a
        // side again.
        crm.edit(C, &id_of(&crm, C, "Crm1"), |r| set_title(r, "Director"));
        crm.edit(E, &id_of(&crm, E, "BoxMeeting2"), |r| set_subject(r, "BoxMeeting2 moved"));
        mailbox.edit(C, &id_of(&mailbox, C, "Crm2"), |r| set_department(r, "Sales"));
        mailbox.edit(E, &id_of(&mailbox, E, "CrmMeeting0"), |r| set_location(r, "Roof"));
        sync(&engine, &job(&crm, &mailbox)).await.unwrap();
        assert_eq!(contacts(&crm), contacts(&mailbox));
        assert_eq!(events(&crm), events(&mailbox));
        assert!(contacts(&mailbox).contains(&("Crm1".into(), "Director".into(), String::new())));
        assert!(events(&crm).iter().any(|(s, l)| s == "CrmMeeting0" && l == "Roof"));
        for side in [&crm, &mailbox] {
            assert_eq!((side.counts().applies, side.counts().mixed), (requests * 2, shared * 2), "mixed: {mixed}");
        }

        // A quiet cycle: one read per side when both objects' first pages are read together.
        let before = [crm.counts(), mailbox.counts()];
        let quiet = sync(&engine, &job(&crm, &mailbox)).await.unwrap();
        assert_eq!(quiet.total_writes(), 0, "{quiet}");
        for (side, before) in [&crm, &mailbox].into_iter().zip(before) {
            let after = side.counts();
            assert_eq!(after.pulls - before.pulls, requests, "mixed: {mixed}, at once: {at_once}");
            assert_eq!(after.mixed_pulls - before.mixed_pulls, shared);
        }
    }
}

fn set_title(r: &mut Record, title: &str) {
    if let Record::Contact(c) = r {
        c.title = Some(title.into());
    }
}

fn set_department(r: &mut Record, department: &str) {
    if let Record::Contact(c) = r {
        c.department = Some(department.into());
    }
}

fn set_subject(r: &mut Record, subject: &str) {
    if let Record::Event(e) = r {
        e.subject = Some(subject.into());
    }
}

fn set_location(r: &mut Record, location: &str) {
    if let Record::Event(e) = r {
        e.location = Some(location.into());
    }
}

/// Creates and updates of both objects in one shared request whose answer is lost, on a
/// mailbox that does not deduplicate creates by key; then the user edits the same records on
/// both sides, and the next cycle crashes before its commit; then a cycle runs clean. Nothing
/// is lost and nothing is created twice.
#[tokio::test]
async fn a_lost_shared_answer_then_edits_then_a_crash_lose_and_duplicate_nothing() {
    let (crm, mailbox) = sides(true);
    for i in 0..3 {
        crm.insert(person(&format!("Crm{i}"), "Engineer"));
        crm.insert(meeting(&format!("CrmMeeting{i}"), i));
    }
    let store = Arc::new(CrashingStore::new().await);
    let engine = Engine::new(store.clone());
    sync(&engine, &job(&crm, &mailbox)).await.unwrap();
    assert_eq!((mailbox.len(C), mailbox.len(E)), (3, 3));

    // New records and edits of both objects; the mailbox carries them out and the answer is lost.
    mailbox.set_idempotent_creates(false);
    crm.insert(person("New", "Intern"));
    crm.insert(meeting("NewMeeting", 4));
    crm.edit(C, &id_of(&crm, C, "Crm0"), |r| set_title(r, "Lead"));
    crm.edit(E, &id_of(&crm, E, "CrmMeeting1"), |r| set_subject(r, "CrmMeeting1 renamed"));
    mailbox.lose_next_responses(1);
    let lost = sync(&engine, &job(&crm, &mailbox)).await.unwrap();
    assert_eq!(mailbox.counts().mixed, 2, "the lost round was one shared request");
    let failed = lost.object(C).unwrap().failed.len() + lost.object(E).unwrap().failed.len();
    assert_eq!(failed, 4, "{lost:?}");

    // The user edits what was just written, on both sides and both objects.
    mailbox.edit(C, &id_of(&mailbox, C, "Crm0"), |r| set_department(r, "Research"));
    mailbox.edit(E, &id_of(&mailbox, E, "CrmMeeting1"), |r| set_location(r, "Garden"));
    crm.edit(C, &id_of(&crm, C, "New"), |r| set_title(r, "Apprentice"));
    crm.edit(E, &id_of(&crm, E, "NewMeeting"), |r| set_subject(r, "NewMeeting confirmed"));

    // The next sync crashes as it settles the lost round (recovery's commit).
    store.crash_next_commits(1);
    assert!(sync(&engine, &job(&crm, &mailbox)).await.is_err());
    sync(&engine, &job(&crm, &mailbox)).await.unwrap();
    assert!(store.pending_intents(USER).await.unwrap().is_empty());

    // More edits of both objects; both cycles send them in a shared round and crash before
    // their commits.
    crm.edit(C, &id_of(&crm, C, "Crm2"), |r| set_title(r, "Architect"));
    mailbox.edit(E, &id_of(&mailbox, E, "CrmMeeting2"), |r| set_location(r, "Lab"));
    let rounds = mailbox.counts().mixed;
    store.crash_next_commits(2);
    let crashed = sync(&engine, &job(&crm, &mailbox)).await;
    assert!(crashed.is_err());
    assert_eq!(store.crash_commits.load(std::sync::atomic::Ordering::SeqCst), 0, "both objects' commits crashed");
    assert!(!store.pending_intents(USER).await.unwrap().is_empty(), "the sent round is in the journal");
    // One object wrote to each side, so nothing needed sharing in that round.
    assert_eq!(mailbox.counts().mixed, rounds);

    // Then clean cycles until nothing is left to do.
    for _ in 0..3 {
        sync(&engine, &job(&crm, &mailbox)).await.unwrap();
    }
    assert_eq!((crm.len(C), crm.len(E), mailbox.len(C), mailbox.len(E)), (4, 4, 4, 4), "no duplicate");
    assert_eq!(contacts(&crm), contacts(&mailbox));
    assert_eq!(events(&crm), events(&mailbox));
    let people = contacts(&mailbox);
    assert!(people.contains(&("Crm0".into(), "Lead".into(), "Research".into())), "{people:?}");
    assert!(people.contains(&("New".into(), "Apprentice".into(), String::new())), "{people:?}");
    assert!(people.contains(&("Crm2".into(), "Architect".into(), String::new())), "{people:?}");
    let meetings = events(&mailbox);
    assert!(meetings.iter().any(|(s, l)| s == "CrmMeeting1 renamed" && l == "Garden"), "{meetings:?}");
    assert!(meetings.iter().any(|(s, _)| s == "NewMeeting confirmed"), "{meetings:?}");
    assert!(meetings.iter().any(|(s, l)| s == "CrmMeeting2" && l == "Lab"), "{meetings:?}");
    assert!(store.pending_intents(USER).await.unwrap().is_empty());
}

/// Two bad cycles in a row on shared requests: the first loses the CRM side's answer while
/// the mailbox side fails outright, the second fails the CRM side outright while the mailbox
/// side's answer is lost. Then a clean cycle: converged, nothing twice.
#[tokio::test]
async fn two_bad_shared_cycles_in_a_row_converge_without_duplicates() {
    let (crm, mailbox) = sides(true);
    crm.set_idempotent_creates(false);
    mailbox.set_idempotent_creates(false);
    let store = Arc::new(CrashingStore::new().await);
    let engine = Engine::new(store.clone());
    crm.insert(person("Crm", "Engineer"));
    mailbox.insert(meeting("BoxMeeting", 2));
    sync(&engine, &job(&crm, &mailbox)).await.unwrap();

    crm.insert(meeting("CrmMeeting", 1));
    mailbox.insert(person("Box", "Analyst"));
    crm.insert(person("Crm2", "Engineer"));
    mailbox.insert(meeting("BoxMeeting2", 3));
    crm.lose_next_responses(1);
    mailbox.fail_next([ConnectorError::Rejected { code: "DOWN".into(), message: "unavailable".into() }; 1]);
    let _ = sync(&engine, &job(&crm, &mailbox)).await;
    mailbox.lose_next_responses(1);
    crm.fail_next([ConnectorError::Rejected { code: "DOWN".into(), message: "unavailable".into() }; 1]);
    let _ = sync(&engine, &job(&crm, &mailbox)).await;
    for _ in 0..3 {
        sync(&engine, &job(&crm, &mailbox)).await.unwrap();
    }
    assert_eq!((crm.len(C), crm.len(E), mailbox.len(C), mailbox.len(E)), (3, 3, 3, 3));
    assert_eq!(contacts(&crm), contacts(&mailbox));
    assert_eq!(events(&crm), events(&mailbox));
    assert!(store.pending_intents(USER).await.unwrap().is_empty());
}

/// A mailbox whose event reads fail: the event cycle stops before any write, and the contact
/// cycle's writes go alone instead of waiting for it.
struct EventsDown(MemoryConnector);

#[async_trait]
impl Connector for EventsDown {
    fn provider(&self) -> &str {
        self.0.provider()
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn connection(&self) -> ConnectionInfo {
        self.0.connection()
    }
    async fn identity(&self) -> Result<Identity, ConnectorError> {
        self.0.identity().await
    }
    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        if object == E {
            // Slow, then refused: the contact cycle is at its writes by then.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Err(ConnectorError::Rejected { code: "CALENDAR_DISABLED".into(), message: "no calendar".into() });
        }
        self.0.pull(object, cursor).await
    }
    async fn fetch(
        &self,
        object: ObjectKind,
        ids: &[RecordId],
    ) -> Result<Vec<tandem_core::state::Change>, ConnectorError> {
        self.0.fetch(object, ids).await
    }
    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        self.0.apply(object, ops).await
    }
    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.0.find_by_key(object, key).await
    }
    fn concurrent_objects(&self) -> bool {
        self.0.concurrent_objects()
    }
    async fn apply_mixed(&self, batches: &[ObjectWrites]) -> Vec<Result<Vec<WriteResult>, ConnectorError>> {
        self.0.apply_mixed(batches).await
    }
}

#[tokio::test]
async fn one_object_failing_lets_the_other_write_alone_and_both_are_in_the_history() {
    let (crm, mailbox) = sides(true);
    crm.insert(person("Crm", "Engineer"));
    crm.insert(meeting("CrmMeeting", 1));
    let engine = Engine::new(Arc::new(tandem_store::SqliteStore::in_memory().await.unwrap()));
    let j = UserSync::new(USER, SyncConfig::named("t"), Arc::new(crm.clone()), Arc::new(EventsDown(mailbox.clone())));
    let error = sync(&engine, &j).await.unwrap_err();
    assert!(error.to_string().contains("no calendar"), "{error}");
    assert_eq!((mailbox.len(C), mailbox.len(E)), (1, 0));
    assert_eq!((mailbox.counts().applies, mailbox.counts().mixed), (1, 0));
    let history = engine.store().cycles(USER, 10).await.unwrap();
    let outcomes: Vec<(ObjectKind, bool)> = history.iter().map(|c| (c.object, c.outcome == "ok")).collect();
    assert!(outcomes.contains(&(C, true)) && outcomes.contains(&(E, false)), "{outcomes:?}");
}
