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

/// The journal is written a window at a time (1,024 writes, rounded up to whole batches), each
/// window durable before its first batch is sent; a claim lost in the second window leaves the
/// third unjournaled and unsent, and the next run settles what was journaled without a duplicate.
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

    // Lost at the 16th batch: 15 batches of 100 sent, two windows of 1,100 journaled.
    let fence = Arc::new(CountsJournal { checks: 15, store: store.clone(), journaled: Default::default() });
    let fenced = SyncOptions { fence: Some(fence.clone() as Arc<dyn Fence>), ..contacts() };
    let err = engine.sync_user(&job, &fenced).await.expect_err("the claim was lost");
    assert!(matches!(err, EngineError::ClaimLost), "{err}");
    let journaled = fence.journaled.lock().unwrap().clone();
    let expected: Vec<usize> = [vec![1_100; 11], vec![2_200; 5]].concat();
    assert_eq!(journaled, expected, "intents journaled when each batch was about to go");
    assert_eq!(mailbox.len(C), 1_500);
    assert_eq!(store.pending_intents("ada@example.com").await.unwrap().len(), 2_200);

    let report = engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(report.recovered_intents, 2_200, "{report}");
    assert_eq!(mailbox.len(C), 2_500, "every contact once");
    assert_eq!(store.pair_count("ada@example.com", C).await.unwrap(), 2_500);
    assert!(store.pending_intents("ada@example.com").await.unwrap().is_empty());
    let again = engine.sync_user(&job, &contacts()).await.unwrap();
    assert_eq!(again.total_writes(), 0, "{again}");
}
