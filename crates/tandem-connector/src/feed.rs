//! Organization feeds: a CRM's changes read **once for all synced users** and routed to each.
//!
//! Polling a CRM per user costs API calls per user; a Salesforce org's daily budget is shared by
//! the whole org, so at thousands of users per-user polling does not fit in it. An [`OrgFeed`]
//! reads the org's changes since its cursor (one watermark per object) and says who each change
//! concerns ([`Audience`]): the record's owner, the invitees of an event, or everyone when every
//! user sees every record. The engine's feed runner stores each page's changes in the inbox of
//! the users they concern (`tandem_store::feed`), and each user's cycle reads its inbox instead
//! of calling the CRM. Per-user reads remain for a user's first sync and after a reset.
//!
//! Members are named by the key the provider routes by (a Salesforce user id), which each
//! user's own connector reports through [`Connector::feed_member`](crate::Connector::feed_member).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Cursor};

use crate::ConnectorError;

/// Who a change concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Audience {
    /// These members (by the provider's member key).
    Members(Vec<String>),
    /// Every member: a record every synced user sees.
    Everyone,
}

/// One change and who it concerns. A page may carry the same record twice for different
/// audiences (an event still on one invitee's calendar and gone from another's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoutedChange {
    /// Who it concerns.
    pub to: Audience,
    /// The change, as a member's own connector would report it.
    pub change: Change,
}

impl RoutedChange {
    /// `change` for `to`.
    pub fn new(to: Audience, change: Change) -> Self {
        RoutedChange { to, change }
    }
}

/// One page of an organization feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FeedPage {
    /// The page's changes.
    pub changes: Vec<RoutedChange>,
    /// Where to continue (as [`PullPage::cursor`](crate::PullPage::cursor)).
    pub cursor: Cursor,
    /// True on the last page of this round.
    pub done: bool,
}

impl FeedPage {
    /// A page.
    pub fn new(changes: Vec<RoutedChange>, cursor: Cursor, done: bool) -> Self {
        FeedPage { changes, cursor, done }
    }
}

/// A CRM's change feed for a whole organization.
///
/// **Contract:** with no cursor, the feed starts *now* (it does not read the org's history:
/// members read their own data once, per user); with the cursor of a finished round, it reports
/// every change made since that round began, each routed to everyone it concerns; deletes are
/// reported to the members who had the record. [`ConnectorError::CursorExpired`] means the feed
/// cannot say what changed since (the provider forgot the deletes): the engine restarts it and
/// every member reads its own data again.
#[async_trait]
pub trait OrgFeed: Send + Sync {
    /// The provider's name (`salesforce`).
    fn provider(&self) -> &str;

    /// One page of the organization's changes after `cursor`.
    async fn pull(&self, object: ObjectKind, cursor: Option<&Cursor>) -> Result<FeedPage, ConnectorError>;
}
