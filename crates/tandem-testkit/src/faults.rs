//! Fault-injecting wrappers around any [`Connector`]: what the network does to a real one.
//!
//! [`LosesAnswers`] carries writes out and then loses their answer, as a connection reset after
//! the request was sent (or a process killed right after sending) would. Everything else is the
//! wrapped connector's, every method of the trait included, so the engine sees the same
//! connector with one fault.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use tandem_connector::{
    ApiBudget, ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written,
};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId, Unresolved};

/// A connector whose next `batches` calls to `apply` are carried out and then answered with
/// [`ConnectorError::Transient`]: the writes happened, the caller cannot know it.
///
/// ```
/// use std::sync::Arc;
/// use tandem_connector::memory::MemoryConnector;
/// use tandem_testkit::faults::LosesAnswers;
///
/// let mailbox = MemoryConnector::new("mailbox");
/// let losing = LosesAnswers::new(Arc::new(mailbox.clone()), 1);
/// assert_eq!(losing.still_to_lose(), 1);
/// ```
pub struct LosesAnswers {
    inner: Arc<dyn Connector>,
    lose: AtomicUsize,
}

impl std::fmt::Debug for LosesAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LosesAnswers")
            .field("provider", &self.inner.provider())
            .field("lose", &self.still_to_lose())
            .finish()
    }
}

impl LosesAnswers {
    /// `inner`, losing the answers of its next `batches` write batches.
    pub fn new(inner: Arc<dyn Connector>, batches: usize) -> Self {
        LosesAnswers { inner, lose: AtomicUsize::new(batches) }
    }

    /// Answers still to lose.
    pub fn still_to_lose(&self) -> usize {
        self.lose.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Connector for LosesAnswers {
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
        self.inner.pull(object, cursor).await
    }
    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        self.inner.fetch(object, ids).await
    }
    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        let results = self.inner.apply(object, ops).await?;
        let lost = self.lose.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if lost {
            return Err(ConnectorError::Transient {
                message: "connection reset after the request was sent (test)".into(),
            });
        }
        Ok(results)
    }
    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.inner.find_by_key(object, key).await
    }
    async fn recheck(&self, object: ObjectKind, items: &[Unresolved]) -> Result<Vec<bool>, ConnectorError> {
        self.inner.recheck(object, items).await
    }
    fn api_budget(&self) -> Option<ApiBudget> {
        self.inner.api_budget()
    }
    async fn feed_member(&self) -> Result<Option<String>, ConnectorError> {
        self.inner.feed_member().await
    }
}
