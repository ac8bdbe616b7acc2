//! The fence (`SyncOptions::fence`): a worker that loses its claim on a user mid-cycle stops
//! before it sends more writes or commits, and whoever runs the user next converges without a
//! duplicate.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tandem_connector::Connector;
use tandem_connector::memory::MemoryConnector;
use tandem_core::model::{Contact, ObjectKind, Record};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, EngineError, Fence, SyncOptions, UserSync};
use tandem_store::{SqliteStore, StateStore};

const C: ObjectKind = ObjectKind::Contact;

/// Held for the first `checks` checks, lost after.
#[derive(Debug)]
struct LosesAfter {
    checks: usize,
    seen: AtomicUsize,
}

#[async_trait::async_trait]
impl Fence for LosesAfter {
    async fn held(&self) -> bool {
        self.seen.fetch_add(1, Ordering::SeqCst) < self.checks
    }
}

fn person(n: usize) -> Record {
    Record::Contact(Contact { family_name: Some(format!("Person {n:03}")), ..Contact::default() })
}

#[tokio::test]
async fn a_lost_claim_stops_the_cycle_before_more_writes_and_the_commit() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::new(store.clone());
    let crm = MemoryConnector::new("crm");
    let mailbox = MemoryConnector::new("mailbox");
    let mut caps = mailbox.capabilities();
    caps.object_mut(C).max_batch = 10;
    let mailbox = mailbox.with_capabilities(caps);
    for n in 0..35 {
        crm.insert(person(n));
    }
    let job =
        UserSync::new("ada@example.com", SyncConfig::named("s"), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    let contacts = || SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() };

    // Held for two batches of ten, then lost: the third batch is not sent, nothing commits.
    let fence = Arc::new(LosesAfter { checks: 2, seen: AtomicUsize::new(0) });
    let fenced = SyncOptions { fence: Some(fence.clone() as Arc<dyn Fence>), ..contacts() };
    let err = engine.sync_user(&job, &fenced).await.expect_err("the claim was lost");
    assert!(matches!(err, EngineError::ClaimLost), "{err}");
    assert_eq!(mailbox.len(C), 20, "only the batches sent while the claim was held");
    assert_eq!(store.pair_count("ada@example.com", C).await.unwrap(), 0, "nothing committed");
    assert_eq!(store.pending_intents("ada@example.com").await.unwrap().len(), 35, "the journal keeps every intent");

    // The worker holding the user now settles the journal and finishes: no duplicate.
    let report = engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(report.recovered_intents, 35, "{report}");
    assert_eq!(mailbox.len(C), 35);
    assert_eq!(store.pair_count("ada@example.com", C).await.unwrap(), 35);
    assert!(store.pending_intents("ada@example.com").await.unwrap().is_empty());
    let again = engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(again.total_writes(), 0, "{again}");
    assert_eq!(mailbox.len(C), 35);

    // A fence that stays held changes nothing.
    crm.insert(person(99));
    let held = SyncOptions {
        fence: Some(Arc::new(LosesAfter { checks: usize::MAX, seen: AtomicUsize::new(0) }) as Arc<dyn Fence>),
        ..contacts()
    };
    engine.sync_user(&job, &held).await.unwrap();
    assert_eq!(mailbox.len(C), 36);
}

/// Held for the first `checks` checks; at each one, notes how many intents the journal holds.
#[derive(Debug)]
struct CountsJournal {
    checks: usize,
    store: Arc<SqliteStore>,
    journaled: std::sync::Mutex<Vec<usize>>,
}

#[async_trait::async_trait]
impl Fence for CountsJournal {
    async fn held(&self) -> bool {
        let pending = self.store.pending_intents("ada@example.com").await.unwrap().len();
        let mut journaled = self.journaled.lock().unwrap();
        journaled.push(pending);
        journaled.len() <= self.checks
    }
}

/// The journal is written a window at a time (1,024 writes), each window durable before its
/// first batch is sent; a claim lost in the second window leaves the third unjournaled and
/// unsent, and the next run settles what was journaled without a duplicate.
#[tokio::test]
async fn the_journal_is_written_a_window_ahead_of_the_writes() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::new(store.clone());
    let crm = MemoryConnector::new("crm").with_page_size(5_000);
    let mailbox = MemoryConnector::new("mailbox");
    let mut caps = mailbox.capabilities();
    caps.object_mut(C).max_batch = 100;
    let mailbox = mailbox.with_capabilities(caps);
    for n in 0..2_500 {
        crm.insert(person(n));
    }
    let job =
        UserSync::new("ada@example.com", SyncConfig::named("s"), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    let contacts = || SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() };

    // Lost at the 16th batch: 15 batches sent (the first window's 1,024 in 11, then 400), two
    // windows of 1,024 journaled.
    let fence = Arc::new(CountsJournal { checks: 15, store: store.clone(), journaled: Default::default() });
    let fenced = SyncOptions { fence: Some(fence.clone() as Arc<dyn Fence>), ..contacts() };
    let err = engine.sync_user(&job, &fenced).await.expect_err("the claim was lost");
    assert!(matches!(err, EngineError::ClaimLost), "{err}");
    let journaled = fence.journaled.lock().unwrap().clone();
    let expected: Vec<usize> = [vec![1_024; 11], vec![2_048; 5]].concat();
    assert_eq!(journaled, expected, "intents journaled when each batch was about to go");
    assert_eq!(mailbox.len(C), 1_424);
    assert_eq!(store.pending_intents("ada@example.com").await.unwrap().len(), 2_048);

    let report = engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(report.recovered_intents, 2_048, "{report}");
    assert_eq!(mailbox.len(C), 2_500, "every contact once");
    assert_eq!(store.pair_count("ada@example.com", C).await.unwrap(), 2_500);
    assert!(store.pending_intents("ada@example.com").await.unwrap().is_empty());
    let again = engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(again.total_writes(), 0, "{again}");
}

fn family(r: &Record) -> String {
    match r {
        Record::Contact(c) => c.family_name.clone().unwrap_or_default(),
        Record::Event(_) => String::new(),
    }
}

/// A pair edited on both sides gets a write to each side; both writes are journaled in the same
/// window, whatever the plan's size. Recovery settles a pair from its journaled writes and takes
/// a side without one to hold what it held, so a window holding only one side's write (and that
/// write sent) would make the other side's old value look like a person's edit and undo the
/// first. Here 1,100 pairs are edited on both sides (2,200 writes, more than a window) and the
/// claim is lost after the first batch: every edit still arrives on both sides.
#[tokio::test]
async fn a_pair_edited_on_both_sides_keeps_both_edits_across_journal_windows_and_a_lost_claim() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = Engine::new(store.clone());
    let batches_of_100 = |c: MemoryConnector| {
        let mut caps = c.capabilities();
        caps.object_mut(C).max_batch = 100;
        c.with_capabilities(caps)
    };
    let crm = batches_of_100(MemoryConnector::new("crm").with_page_size(5_000));
    let mailbox = batches_of_100(MemoryConnector::new("mailbox").with_page_size(5_000));
    for n in 0..1_100 {
        crm.insert(person(n));
    }
    let job =
        UserSync::new("ada@example.com", SyncConfig::named("s"), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    let contacts = || SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() };
    engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(mailbox.len(C), 1_100);

    // A title in the CRM and a department in the mailbox, on every pair.
    for (id, r) in crm.records(C) {
        let title = format!("Title of {}", family(&r));
        assert!(crm.edit(C, &id, |r| if let Record::Contact(c) = r {
            c.title = Some(title);
        }));
    }
    for (id, r) in mailbox.records(C) {
        let department = format!("Department of {}", family(&r));
        assert!(mailbox.edit(C, &id, |r| if let Record::Contact(c) = r {
            c.department = Some(department);
        }));
    }
    let fence = Arc::new(LosesAfter { checks: 1, seen: AtomicUsize::new(0) });
    let fenced = SyncOptions { fence: Some(fence as Arc<dyn Fence>), ..contacts() };
    let err = engine.sync_user(&job, &fenced).await.expect_err("the claim was lost");
    assert!(matches!(err, EngineError::ClaimLost), "{err}");

    // The next holder settles the journal; then every pair converges with both edits.
    for _ in 0..3 {
        engine.sync_user(&job, &contacts()).await.unwrap();
    }
    for side in [&crm, &mailbox] {
        for (_, r) in side.records(C) {
            let Record::Contact(c) = &r else { panic!("a contact") };
            let name = family(&r);
            assert_eq!(c.title.as_deref(), Some(format!("Title of {name}").as_str()), "{name}");
            assert_eq!(c.department.as_deref(), Some(format!("Department of {name}").as_str()), "{name}");
        }
    }
    let quiet = engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
}
