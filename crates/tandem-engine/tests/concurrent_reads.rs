//! A cycle reads its two sides at once: each side's pull waits for the other's to have started
//! (a barrier of two), which would never happen if they were read one after the other.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::{Contact, ObjectKind, Record};
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_store::SqliteStore;
use tokio::sync::Barrier;

/// A memory connector whose first contact pull waits at a barrier shared with the other side.
struct Meeting {
    inner: MemoryConnector,
    barrier: Arc<Barrier>,
    met: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Connector for Meeting {
    fn provider(&self) -> &str {
        self.inner.provider()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn connection(&self) -> ConnectionInfo {
        self.inner.connection()
    }
    async fn identity(&self) -> Result<Identity, ConnectorError> {
        self.inner.identity().await
    }
    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        if object == ObjectKind::Contact && !self.met.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.barrier.wait().await;
        }
        self.inner.pull(object, cursor).await
    }
    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        self.inner.fetch(object, ids).await
    }
    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        self.inner.apply(object, ops).await
    }
    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.inner.find_by_key(object, key).await
    }
}

#[tokio::test]
async fn both_sides_are_read_at_once() {
    let barrier = Arc::new(Barrier::new(2));
    let side = |name: &str| {
        let inner = MemoryConnector::new(name);
        (inner.clone(), Meeting { inner, barrier: barrier.clone(), met: std::sync::atomic::AtomicBool::new(false) })
    };
    let (crm, crm_side) = side("crm");
    let (mailbox, mailbox_side) = side("mailbox");
    crm.insert(Record::Contact(Contact { family_name: Some("Hopper".into()), ..Contact::default() }));
    let engine = Engine::new(Arc::new(SqliteStore::in_memory().await.unwrap()));
    let job = UserSync::new("ada@example.com", SyncConfig::named("s"), Arc::new(crm_side), Arc::new(mailbox_side));
    let contacts = SyncOptions { objects: Some(vec![ObjectKind::Contact]), ..SyncOptions::default() };
    let report = tokio::time::timeout(Duration::from_secs(10), engine.sync_user(&job, &contacts))
        .await
        .expect("the two pulls must run at once (one waits for the other)")
        .unwrap();
    assert_eq!(report.object(ObjectKind::Contact).unwrap().applied("create"), 1, "{report}");
    assert_eq!(mailbox.len(ObjectKind::Contact), 1);
}
