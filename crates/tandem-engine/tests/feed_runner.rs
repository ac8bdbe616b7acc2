//! `Engine::run_feed` reads the objects of a feed at once, and one object's failure neither
//! stops nor undoes the other's pages.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tandem_connector::ConnectorError;
use tandem_connector::feed::{Audience, FeedPage, OrgFeed, RoutedChange};
use tandem_core::model::{Contact, ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, Cursor, RecordId, Version};
use tandem_engine::{Engine, EngineError};
use tandem_store::{SqliteStore, StateStore};
use tokio::sync::Barrier;

const C: ObjectKind = ObjectKind::Contact;
const E: ObjectKind = ObjectKind::Event;

/// A feed of two pages per object. Each object's first pull waits at a barrier of two (so the
/// run never ends unless both objects are read at once); pulls of `failing` fail after its
/// first page.
struct TwoPages {
    barrier: Barrier,
    failing: Option<ObjectKind>,
    pulls: AtomicU32,
}

/// Contacts are edited, events deleted (what the inbox holds does not matter here).
fn change(object: ObjectKind, page: u8) -> Change {
    let kind = match object {
        ObjectKind::Contact => ChangeKind::Upserted {
            record: Record::Contact(Contact { family_name: Some(format!("P{page}")), ..Contact::default() }),
        },
        ObjectKind::Event => ChangeKind::Deleted,
    };
    Change {
        id: RecordId::from(format!("{object}-{page}")),
        version: Version::new("v1"),
        modified_at: None,
        sync_key: None,
        kind,
    }
}

#[async_trait]
impl OrgFeed for TwoPages {
    fn provider(&self) -> &str {
        "test"
    }

    async fn pull(&self, object: ObjectKind, cursor: Option<&Cursor>) -> Result<FeedPage, ConnectorError> {
        self.pulls.fetch_add(1, Ordering::SeqCst);
        let page = cursor.map_or(1, |c| c.0[0] + 1);
        if page == 1 {
            self.barrier.wait().await;
        }
        if page > 1 && self.failing == Some(object) {
            return Err(ConnectorError::Rejected { code: "TEST".into(), message: "refused".into() });
        }
        let to = Audience::Members(vec!["005A".into()]);
        Ok(FeedPage::new(vec![RoutedChange::new(to, change(object, page))], Cursor(vec![page]), page == 2))
    }
}

async fn started_feed() -> (Engine, Arc<SqliteStore>) {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let feeds = store.feeds().unwrap();
    for object in [C, E] {
        // A feed already running (a cursor), with one member.
        feeds
            .commit_feed_page("org", object, &tandem_store::feed::FeedPage::new(Cursor(vec![0]), true, Vec::new()))
            .await
            .unwrap();
        feeds.join_feed("org", object, "005A").await.unwrap();
    }
    (Engine::new(store.clone()), store)
}

async fn inbox(store: &SqliteStore, object: ObjectKind) -> Vec<String> {
    let rows = store.feeds().unwrap().feed_inbox("org", object, "005A", 0).await.unwrap().expect("a member");
    rows.into_iter().map(|r| r.change.id.0.to_string()).collect()
}

#[tokio::test]
async fn a_feed_reads_its_objects_at_once() {
    let (engine, store) = started_feed().await;
    let feed = TwoPages { barrier: Barrier::new(2), failing: None, pulls: AtomicU32::new(0) };
    let report = tokio::time::timeout(Duration::from_secs(10), engine.run_feed("org", &feed, &[C, E]))
        .await
        .expect("each object's first pull waits for the other's: they must run at once")
        .unwrap();
    assert_eq!((report.pages, report.changes, report.api_calls), (4, 4, 4), "{report:?}");
    assert!(report.restarted.is_empty());
    assert_eq!(inbox(&store, C).await, ["contact-1", "contact-2"]);
    assert_eq!(inbox(&store, E).await, ["event-1", "event-2"]);
}

#[tokio::test]
async fn one_object_failing_keeps_the_other_s_pages_and_reports_the_error() {
    let (engine, store) = started_feed().await;
    let feed = TwoPages { barrier: Barrier::new(2), failing: Some(C), pulls: AtomicU32::new(0) };
    let err = tokio::time::timeout(Duration::from_secs(10), engine.run_feed("org", &feed, &[C, E]))
        .await
        .expect("no deadlock")
        .expect_err("the contacts' second page fails");
    assert!(matches!(err, EngineError::Connector { error: ConnectorError::Rejected { .. }, .. }), "{err:?}");
    // Contacts: the first page stays committed; events: both pages, although contacts failed.
    assert_eq!(inbox(&store, C).await, ["contact-1"]);
    assert_eq!(inbox(&store, E).await, ["event-1", "event-2"]);
    // The next run resumes contacts after their committed page.
    let healed = TwoPages { barrier: Barrier::new(1), failing: None, pulls: AtomicU32::new(0) };
    let report = engine.run_feed("org", &healed, &[C]).await.unwrap();
    assert_eq!(report.pages, 1, "{report:?}");
    assert_eq!(inbox(&store, C).await, ["contact-1", "contact-2"]);
}

#[tokio::test]
async fn an_object_named_twice_is_read_once() {
    let (engine, store) = started_feed().await;
    // A barrier of one: nothing waits for a second reader.
    let feed = TwoPages { barrier: Barrier::new(1), failing: None, pulls: AtomicU32::new(0) };
    let report = engine.run_feed("org", &feed, &[C, C]).await.unwrap();
    assert_eq!((report.pages, feed.pulls.load(Ordering::SeqCst)), (2, 2), "{report:?}");
    assert_eq!(inbox(&store, C).await, ["contact-1", "contact-2"]);
}
