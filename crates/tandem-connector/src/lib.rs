//! # tandem-connector: the boundary between the engine and the providers
//!
//! What lives here: the [`Connector`] trait every provider implements (Salesforce, Microsoft
//! Graph, EWS, Google), the one error taxonomy they all map into ([`ConnectorError`]), a faithful
//! in-memory connector for tests, examples and embedding ([`memory::MemoryConnector`]), the
//! [`rendezvous`] through which two tasks' requests travel in one (a user's two objects' writes
//! and first pages; a connector's two write paths), mockall
//! mocks behind the `mock` feature, and, behind the `http` feature, the shared HTTP plumbing
//! (one reqwest client on rustls, retries that honour `Retry-After`, rate limits, token caching).
//!
//! What must never live here: sync decisions (they belong to `tandem-core`'s planner) or any
//! provider's specifics (they belong to that provider's crate).
//!
//! **API boundary:** connectors speak the canonical model of `tandem-core`. A connector
//! translates its provider's records to and from [`tandem_core::model::Record`] and nothing else;
//! it never decides what to write.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tandem_core::capabilities::Capabilities;
use tandem_core::fields::FieldKey;
use tandem_core::model::{ObjectKind, Record};
use tandem_core::plan::FieldChange;
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId, Unresolved, Version};

pub mod error;
pub mod factory;
pub mod feed;
#[cfg(feature = "http")]
pub mod http;
pub mod memory;
pub mod rendezvous;

pub use error::ConnectorError;

/// Who is being synced on this connection: the Salesforce user or the mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// A stable identifier: a Salesforce username, a mailbox's primary SMTP address.
    pub user: String,
    /// A display name, when known.
    pub display_name: Option<String>,
}

/// How a connector reaches its provider: what the security policy checks before the connector
/// is used. Never holds a secret. Defined in `tandem-policy`, which checks it
/// ([`tandem_policy::Policy::check_connection`]).
pub use tandem_policy::ConnectionInfo;

/// One page of a change feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullPage {
    /// The changes on this page.
    pub changes: Vec<Change>,
    /// Where to continue. While `done` is false, pass it back to fetch the next page; once `done`
    /// is true, it is the cursor to keep for the next cycle.
    pub cursor: Cursor,
    /// True on the last page of this round.
    pub done: bool,
}

/// One write, as the engine hands it to a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WriteOp {
    /// Create a record. Connectors make this idempotent with the key: upsert by external id,
    /// a transaction id, or a lookup before creating.
    Create {
        /// The idempotency key.
        key: IdempotencyKey,
        /// The record, already projected onto what this side can store.
        record: Record,
    },
    /// Patch a record, expecting it to be at `expected`.
    Update {
        /// The record.
        id: RecordId,
        /// The version precondition (ETag, change key); empty when the side has none.
        expected: Version,
        /// The fields to set or clear.
        patch: Vec<FieldChange>,
    },
    /// Delete a record, expecting it to be at `expected`.
    Delete {
        /// The record.
        id: RecordId,
        /// The version precondition; empty when the side has none.
        expected: Version,
    },
}

/// The outcome of one successful write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Written {
    /// The record's id (new for creates).
    pub id: RecordId,
    /// Its version after the write (empty after a delete).
    pub version: Version,
    /// Fields of the write the target did not store (an attendee Salesforce cannot hold, a
    /// company no Account has): the target keeps what it had, and the engine records that, so
    /// the difference never reads as an edit on either side.
    #[serde(default)]
    pub unstored: Vec<FieldKey>,
    /// Why, for the ones an administrator can resolve.
    #[serde(default)]
    pub unresolved: Vec<Unresolved>,
}

impl Written {
    /// A write that stored everything it was given.
    pub fn new(id: RecordId, version: Version) -> Self {
        Written { id, version, unstored: Vec::new(), unresolved: Vec::new() }
    }

    /// Builder: `field` was not stored, for `why` when an administrator can resolve it.
    pub fn not_stored(mut self, field: FieldKey, why: Option<Unresolved>) -> Self {
        if !self.unstored.contains(&field) {
            self.unstored.push(field);
        }
        self.unresolved.extend(why);
        self
    }

    /// Builder: an unresolved item about the write that does not withhold a field.
    pub fn with_unresolved(mut self, item: Unresolved) -> Self {
        self.unresolved.push(item);
        self
    }
}

/// One result per write: partial failure is normal.
pub type WriteResult = Result<Written, ConnectorError>;

/// One object's writes in a [`Connector::apply_mixed`] call.
pub type ObjectWrites = (ObjectKind, Vec<WriteOp>);

/// One object's page to read in a [`Connector::pull_mixed`] call: the object and its cursor.
pub type ObjectPage = (ObjectKind, Option<Cursor>);

/// A provider connection for one user or mailbox.
///
/// Implementations must be cheap to share (`Arc<dyn Connector>`) and safe to call from several
/// tasks. Every method maps provider errors into [`ConnectorError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Connector: Send + Sync {
    /// A short provider name for reports (`salesforce`, `graph`, `memory`).
    fn provider(&self) -> &str;

    /// What this side can store: fields, lengths, batch sizes.
    fn capabilities(&self) -> Capabilities;

    /// How this connector reaches its provider, for the security policy.
    fn connection(&self) -> ConnectionInfo;

    /// The user or mailbox this connection syncs.
    async fn identity(&self) -> Result<Identity, ConnectorError>;

    /// One page of changes. `cursor` is `None` for a full sync from scratch, the previous page's
    /// cursor while paging, or the last round's final cursor for an incremental sync.
    /// [`ConnectorError::CursorExpired`] asks the engine for a full resync.
    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError>;

    /// Reads records by id. Ids that no longer exist come back as deletes.
    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError>;

    /// Applies a batch of at most `capabilities().object(object).max_batch` writes and returns one
    /// result per write, in order. An `Err` for the whole call means none was applied.
    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError>;

    /// Whether the engine may run this connection's contact and event cycles at the same time,
    /// calling it for both objects at once, and send their writes together through
    /// [`Connector::apply_mixed`]. Say yes only when calls for one object never depend on state
    /// left by calls for the other. The default: no, the objects are synced one after the other.
    fn concurrent_objects(&self) -> bool {
        false
    }

    /// Applies the writes of several objects together, where the provider takes them in one
    /// request (Graph's `$batch`, Salesforce's sObject collections): one answer per entry of
    /// `batches`, in order, each with [`Connector::apply`]'s meaning, so that each object's
    /// writes succeed or fail on their own. Each entry holds at most that object's `max_batch`
    /// writes. The default applies two entries at the same time, more in turn.
    async fn apply_mixed(&self, batches: &[ObjectWrites]) -> Vec<Result<Vec<WriteResult>, ConnectorError>> {
        apply_separately(self, batches).await
    }

    /// Reads one page of several objects' change feeds together, where the provider takes the
    /// reads in one request (Graph's `$batch`): one answer per entry of `pages` (an object and
    /// its cursor, as for [`Connector::pull`]), in order, each with `pull`'s meaning. The engine
    /// uses it for the first page of a cycle when a user's objects sync at once
    /// ([`Connector::concurrent_objects`]). The default reads two entries at the same time, more
    /// in turn.
    async fn pull_mixed(&self, pages: &[ObjectPage]) -> Vec<Result<PullPage, ConnectorError>> {
        pull_separately(self, pages).await
    }

    /// Finds the record created with `key`, if any: how the engine settles a create that was in
    /// flight when the process died.
    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError>;

    /// Which of `items` (reported by this connector's writes) the target could now resolve: the
    /// Account now exists, the attendee is now a contact. One answer per item, in order. The
    /// engine retries the writes of those that can. The default resolves nothing.
    async fn recheck(&self, object: ObjectKind, items: &[Unresolved]) -> Result<Vec<bool>, ConnectorError> {
        let _ = object;
        Ok(vec![false; items.len()])
    }

    /// How much of the provider's request budget is spent, as last seen (the answer of the
    /// provider, or the connector's own count for budgets it enforces), for monitoring. The
    /// default: no budget known.
    fn api_budget(&self) -> Option<ApiBudget> {
        None
    }

    /// This connection's key in its provider's organization feed ([`feed::OrgFeed`]): the key
    /// the feed routes this user's changes by (a Salesforce user id). The default: none, and a
    /// job that reads from a feed is refused.
    async fn feed_member(&self) -> Result<Option<String>, ConnectorError> {
        Ok(None)
    }
}

/// [`Connector::apply_mixed`] without sharing: one [`Connector::apply`] per entry, two entries at
/// the same time, more in turn. The default, and the fallback of connectors that share only some
/// shapes of request.
pub async fn apply_separately<C: Connector + ?Sized>(
    connector: &C,
    batches: &[ObjectWrites],
) -> Vec<Result<Vec<WriteResult>, ConnectorError>> {
    if let [(a, a_ops), (b, b_ops)] = batches {
        let (a, b) = tokio::join!(connector.apply(*a, a_ops), connector.apply(*b, b_ops));
        return vec![a, b];
    }
    let mut answers = Vec::with_capacity(batches.len());
    for (object, ops) in batches {
        answers.push(connector.apply(*object, ops).await);
    }
    answers
}

/// [`Connector::pull_mixed`] without sharing: one [`Connector::pull`] per entry, two entries at
/// the same time, more in turn.
pub async fn pull_separately<C: Connector + ?Sized>(
    connector: &C,
    pages: &[ObjectPage],
) -> Vec<Result<PullPage, ConnectorError>> {
    if let [(a, a_cursor), (b, b_cursor)] = pages {
        let (a, b) = tokio::join!(connector.pull(*a, a_cursor.as_ref()), connector.pull(*b, b_cursor.as_ref()));
        return vec![a, b];
    }
    let mut answers = Vec::with_capacity(pages.len());
    for (object, cursor) in pages {
        answers.push(connector.pull(*object, cursor.as_ref()).await);
    }
    answers
}

/// A provider's request budget and how much of it is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ApiBudget {
    /// Requests spent in the budget's window.
    pub used: u64,
    /// Requests the window allows.
    pub limit: u64,
    /// Who shares it: the whole organization (Salesforce's daily API limit) or this connection
    /// alone (a per-mailbox window).
    pub scope: BudgetScope,
}

impl ApiBudget {
    /// `used` of `limit` in `scope`.
    pub fn new(used: u64, limit: u64, scope: BudgetScope) -> Self {
        ApiBudget { used, limit, scope }
    }

    /// `used / limit` (0 when the limit is unknown or zero).
    pub fn used_ratio(&self) -> f64 {
        if self.limit == 0 { 0.0 } else { self.used as f64 / self.limit as f64 }
    }
}

/// Who shares an [`ApiBudget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BudgetScope {
    /// Every connection to the same organization (Salesforce: requests in the rolling 24 hours
    /// against the org's daily limit).
    Organization,
    /// This connection alone (Graph: requests in the connector's window per mailbox).
    Connection,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_is_object_safe() {
        fn takes(_: &dyn Connector) {}
        let c = memory::MemoryConnector::new("memory");
        takes(&c);
    }
}
