//! A cycle's CRM read from an organization feed's inbox (see `crate::feed` for the runner).
//!
//! The user's CRM cursor becomes a **member cursor**: the feed's name, the last page consumed
//! (`after`) and, just after a per-user read, the last page that read may have overtaken
//! (`verify`). The order that makes this safe:
//!
//! 1. **First read** (no member cursor, or the feed restarted and forgot the member): join the
//!    feed, which returns its head `h0`; read the user's own data through the user's connector
//!    as before; note the head `h1` after it. Pages up to `h0` are older than the read and are
//!    skipped. Pages in `(h0, h1]` ran *during* the read: each of their records may be older or
//!    newer than what the read saw, so those records are read again by id instead of trusted.
//!    Pages after `h1` began after the read ended and are newer.
//! 2. **Later cycles** read the inbox rows after `after`, and the cursor moves to the newest page
//!    read. It commits with the cycle; the rows are pruned after the commit (a crash in between
//!    leaves rows the cursor already skips).
//!
//! Nothing here touches the CRM but the per-user read and the re-reads of step 1.

use serde::{Deserialize, Serialize};
use tandem_core::state::{Change, Cursor, RecordId, Side};
use tandem_store::feed::InboxConsumed;

use super::{Cycle, SideRead};
use crate::EngineError;

/// What marks a CRM cursor as a member cursor.
const PREFIX: &[u8] = b"tandem-feed-member:";

/// A user's position in a feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MemberCursor {
    /// The feed's name.
    pub(crate) feed: String,
    /// The last page consumed.
    pub(crate) after: u64,
    /// Pages up to here ran during the user's own read: their records are re-read by id.
    #[serde(default)]
    pub(crate) verify: u64,
}

impl MemberCursor {
    pub(crate) fn decode(cursor: &Cursor) -> Option<MemberCursor> {
        let body = cursor.0.strip_prefix(PREFIX)?;
        serde_json::from_slice(body).ok()
    }

    pub(crate) fn encode(&self) -> Cursor {
        let mut bytes = PREFIX.to_vec();
        // Plain data: serialising cannot fail; an empty body would only cost a per-user read.
        bytes.extend(serde_json::to_vec(self).unwrap_or_default());
        Cursor(bytes)
    }
}

impl Cycle<'_> {
    /// The CRM side's changes from the feed `feed`, and the member cursor to commit.
    pub(super) async fn pull_feed(
        &self,
        feed: &str,
        read: &mut SideRead,
    ) -> Result<(Vec<Change>, Cursor), EngineError> {
        let store = self.engine.inner.store.clone();
        let feeds = store.feeds().ok_or_else(|| {
            EngineError::Config(format!("job reads from feed `{feed}` but the state store keeps no feeds"))
        })?;
        let object = self.object;
        let crm = self.job.crm.clone();
        let member = self
            .call_counted(Side::Crm, read, || crm.feed_member())
            .await
            .map_err(|error| EngineError::Connector { side: Side::Crm, error })?
            .ok_or_else(|| {
                EngineError::Config(format!(
                    "job reads from feed `{feed}` but its CRM connector ({}) is not a feed member",
                    crm.provider()
                ))
            })?;
        let saved = store.cursor(self.user(), object, Side::Crm).await?;
        let position = saved.as_ref().and_then(MemberCursor::decode).filter(|c| c.feed == feed);
        if let Some(position) = position
            && let Some(items) = feeds.feed_inbox(feed, object, &member, position.after).await?
        {
            let upto = items.iter().map(|i| i.seq).max().unwrap_or(0).max(position.after).max(position.verify);
            let mut changes = Vec::with_capacity(items.len());
            let mut reread: Vec<RecordId> = Vec::new();
            for item in items {
                if item.seq <= position.verify {
                    if !reread.contains(&item.change.id) {
                        reread.push(item.change.id);
                    }
                } else {
                    changes.push(item.change);
                }
            }
            if !reread.is_empty() {
                changes.retain(|c| !reread.contains(&c.id));
                changes.extend(self.fetch_counted(Side::Crm, &reread, read).await?);
            }
            read.pulled = Some(changes.len());
            read.feed_consumed = Some(InboxConsumed { feed: feed.to_owned(), member: member.clone(), upto });
            let next = MemberCursor { feed: feed.to_owned(), after: upto, verify: 0 };
            return Ok((changes, next.encode()));
        }
        // First read, or the feed forgot this member (it restarted): the user's own read, as
        // without a feed. A member cursor means nothing to the connector: read in full.
        let h0 = feeds.join_feed(feed, object, &member).await?;
        let resume = saved.filter(|c| MemberCursor::decode(c).is_none());
        if resume.is_none() {
            tracing::info!(feed, "reading the user's CRM records once before following the organization feed");
        }
        let (changes, _) = self.pull_connector(Side::Crm, resume, read, None).await?;
        let h1 = feeds.feed_head(feed, object).await?;
        let next = MemberCursor { feed: feed.to_owned(), after: h0, verify: h1 };
        Ok((changes, next.encode()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn member_cursors_round_trip_and_are_told_from_connector_cursors() {
        let c = MemberCursor { feed: "org".into(), after: 7, verify: 9 };
        assert_eq!(MemberCursor::decode(&c.encode()), Some(c));
        assert_eq!(MemberCursor::decode(&Cursor(br#"{"v":2,"object":"contact"}"#.to_vec())), None);
        assert_eq!(MemberCursor::decode(&Cursor(b"tandem-feed-member:{".to_vec())), None);
    }
}
