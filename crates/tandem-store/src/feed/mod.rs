//! The inbox of an **organization feed**: a CRM's changes read once for all its synced users and
//! delivered to each user's cycle (see `tandem_connector::feed` and the engine's feed runner).
//!
//! Three tables, the same on both stores (schema version 6):
//!
//! | table | key | holds |
//! | --- | --- | --- |
//! | `feeds` | `(feed, object)` | the feed's cursor (BLOB) and `head`, the sequence number of its last committed page |
//! | `feed_members` | `(feed, object, member)` | who the feed delivers to, and when it last joined or consumed its inbox (`last_read`, version 7; set by `prune_feed_inbox` and by a commit's `feed_consumed`) |
//! | `feed_inbox` | `(feed, object, member, record_id)`, index `(feed, object, member, seq)` | the newest change of each record for each member, and the page (`seq`) that delivered it |
//!
//! **Invariants** (the conformance suite checks each on both stores):
//!
//! - A page's deliveries and the feed's new cursor commit together ([`FeedInbox::commit_feed_page`]):
//!   a crash leaves either both or neither, so a change is never skipped by the cursor without
//!   being delivered.
//! - A page delivers only to members registered when it commits. Joining
//!   ([`FeedInbox::join_feed`]) and committing a page serialise on the feed's row, and joining
//!   returns the `head` at that moment: every page after it includes the new member. That is the
//!   order the engine's first read of a member relies on.
//! - The inbox keeps **one row per member and record**, the newest: a later page replaces the
//!   row and its `seq`. A member reads rows after the `seq` it has consumed, so a change that
//!   arrives while its cycle runs is read by the next one.
//! - Restarting a feed (its first page, or after its cursor expired) removes every member and
//!   their rows in the same transaction: the feed's history has a gap, so each member reads its
//!   own data once more and joins again.
//!
//! The inbox holds record data, like the journal does, and only until the member's next cycle
//! reads it: the cycle's commit drops the rows it read ([`CycleCommit::feed_consumed`], in the
//! same transaction as the member cursor that moves past them); [`FeedInbox::prune_feed_inbox`]
//! does the same on its own.
//!
//! [`CycleCommit::feed_consumed`]: crate::CycleCommit::feed_consumed

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod sqlite;

use async_trait::async_trait;
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Cursor};

use crate::StoreError;

/// A feed's saved position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedState {
    /// Where the feed resumes; `None` before its first page (or after a restart was asked).
    pub cursor: Option<Cursor>,
    /// The sequence number of the last page committed (0: none).
    pub head: u64,
}

/// Who one change goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recipients {
    /// These members (those not registered are ignored).
    Members(Vec<String>),
    /// Every registered member (a change everyone can see).
    Everyone,
}

/// One change and who it goes to.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Delivery {
    /// Its recipients.
    pub to: Recipients,
    /// The change.
    pub change: Change,
}

impl Delivery {
    /// `change` for `to`.
    pub fn new(to: Recipients, change: Change) -> Self {
        Delivery { to, change }
    }
}

/// One page of a feed, committed atomically.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FeedPage {
    /// The cursor after this page.
    pub cursor: Cursor,
    /// This page starts the feed afresh: members and their inboxes are removed first.
    pub restart: bool,
    /// The page's changes.
    pub deliveries: Vec<Delivery>,
}

impl FeedPage {
    /// A page of `deliveries` ending at `cursor`.
    pub fn new(cursor: Cursor, restart: bool, deliveries: Vec<Delivery>) -> Self {
        FeedPage { cursor, restart, deliveries }
    }
}

/// One inbox row: a change and the page that delivered it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InboxItem {
    /// The delivering page's sequence number.
    pub seq: u64,
    /// The change.
    pub change: Change,
}

/// A member's inbox rows a cycle consumed, for [`CycleCommit::feed_consumed`]: committing the
/// cycle drops them and marks the member alive, as [`FeedInbox::prune_feed_inbox`] does, in the
/// commit's own transaction.
///
/// [`CycleCommit::feed_consumed`]: crate::CycleCommit::feed_consumed
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxConsumed {
    /// The feed.
    pub feed: String,
    /// The member (the user's id in the feed).
    pub member: String,
    /// The last page whose rows the cycle read.
    pub upto: u64,
}

/// The organization-feed inbox. Implemented by both stores; reached through
/// [`StateStore::feeds`](crate::StateStore::feeds).
#[async_trait]
pub trait FeedInbox: Send + Sync {
    /// The feed's saved position.
    async fn feed_state(&self, feed: &str, object: ObjectKind) -> Result<FeedState, StoreError>;

    /// Commits one page: its deliveries to the registered members, the new cursor and the new
    /// head, in one transaction. Returns the page's sequence number.
    async fn commit_feed_page(&self, feed: &str, object: ObjectKind, page: &FeedPage) -> Result<u64, StoreError>;

    /// Registers `member` (idempotent) and returns the feed's head at that moment: every page
    /// with a higher number delivers to the member.
    async fn join_feed(&self, feed: &str, object: ObjectKind, member: &str) -> Result<u64, StoreError>;

    /// The feed's head now.
    async fn feed_head(&self, feed: &str, object: ObjectKind) -> Result<u64, StoreError> {
        Ok(self.feed_state(feed, object).await?.head)
    }

    /// The member's rows delivered after page `after`, oldest first; `None` when the member is
    /// not registered (never joined, or removed by a restart).
    async fn feed_inbox(
        &self,
        feed: &str,
        object: ObjectKind,
        member: &str,
        after: u64,
    ) -> Result<Option<Vec<InboxItem>>, StoreError>;

    /// Drops the member's rows delivered at or before page `upto` (once its cycle committed), and
    /// marks the member alive (`last_read`). The engine hands the same to the cycle's commit
    /// instead ([`CycleCommit::feed_consumed`](crate::CycleCommit::feed_consumed)), so that a
    /// cycle is one write; reading alone writes nothing.
    async fn prune_feed_inbox(&self, feed: &str, object: ObjectKind, member: &str, upto: u64)
    -> Result<(), StoreError>;

    /// Unregisters `member` and drops its rows.
    async fn leave_feed(&self, feed: &str, object: ObjectKind, member: &str) -> Result<(), StoreError>;

    /// Unregisters the members that have not joined or consumed their inbox since `idle_since`,
    /// with their rows; returns how many. A member consumed its inbox when
    /// [`prune_feed_inbox`] was called for it (the store's clock).
    ///
    /// [`prune_feed_inbox`]: FeedInbox::prune_feed_inbox
    async fn evict_idle_feed_members(
        &self,
        feed: &str,
        object: ObjectKind,
        idle_since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError>;
}
