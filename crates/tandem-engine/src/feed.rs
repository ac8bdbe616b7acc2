//! The organization feed runner: [`Engine::run_feed`] reads a CRM's changes once for all its
//! synced users and stores each page's changes in the inbox of the users they concern
//! (`tandem_store::feed`); each member's cycle then reads its inbox instead of polling the CRM
//! (jobs built with [`UserSync::with_crm_feed`](crate::UserSync::with_crm_feed)).
//!
//! **Invariant:** a page's deliveries and the feed's cursor commit in one transaction, so a
//! crash, a lost answer or an error mid-run only repeats pages; a repeated page re-delivers the
//! same versions, which each member's planner takes as echoes.
//!
//! **Invariant:** one runner per feed at a time (the service claims `feed:<name>` before running
//! it). Two runners at once could deliver an older version of a record after a newer one. Within
//! a run the objects' rounds go at once, each object once: their cursors and inboxes are apart.

use serde::Serialize;
use tandem_connector::ConnectorError;
use tandem_connector::feed::{Audience, OrgFeed};
use tandem_core::model::ObjectKind;
use tandem_core::state::Side;
use tandem_store::feed::{Delivery, FeedInbox, FeedPage, Recipients};

use crate::cycle::{Access, with_retries};
use crate::{Engine, EngineError};

/// What one run of a feed did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FeedReport {
    /// The feed's name.
    pub feed: String,
    /// Pages read and committed, all objects.
    pub pages: usize,
    /// Changes read.
    pub changes: usize,
    /// Objects whose feed started afresh (first run, or its cursor expired): their members
    /// read their own data once more.
    pub restarted: Vec<ObjectKind>,
    /// Calls made to the provider, retries included.
    pub api_calls: u64,
    /// Members removed because they had not read their inbox for
    /// [`EngineOptions::feed_member_idle`](crate::EngineOptions::feed_member_idle).
    pub evicted: u64,
}

impl Engine {
    /// Runs the organization feed `name` once: every page of each object's round, from where
    /// the last run stopped. See the module documentation.
    ///
    /// # Errors
    ///
    /// [`EngineError::Connector`] (side CRM) when the feed cannot be read (pages committed
    /// before stay committed), [`EngineError::Store`], or [`EngineError::Config`] when the store
    /// keeps no feeds.
    pub async fn run_feed(
        &self,
        name: &str,
        feed: &dyn OrgFeed,
        objects: &[ObjectKind],
    ) -> Result<FeedReport, EngineError> {
        let store = self.inner.store.clone();
        let feeds = store
            .feeds()
            .ok_or_else(|| EngineError::Config(format!("feed `{name}`: the state store keeps no feeds")))?;
        let mut report = FeedReport { feed: name.to_owned(), ..FeedReport::default() };
        // The objects' rounds are independent (a cursor and an inbox each): read at once, so
        // that one's requests overlap the other's decoding and commits. Each keeps what it
        // committed whatever happens to the other; the first error is returned after both end.
        // An object named twice is read once: two rounds of one object at once could deliver an
        // older version of a record after a newer one.
        let mut unique: Vec<ObjectKind> = Vec::with_capacity(objects.len());
        for object in objects {
            if !unique.contains(object) {
                unique.push(*object);
            }
        }
        let mut first_error = None;
        let rounds = unique.iter().map(|object| self.feed_object(name, feed, feeds, *object));
        // `join_all` polls the rounds together and gives their outcomes in `unique`'s order.
        let outcomes = futures_util::future::join_all(rounds).await;
        for (object, outcome) in unique.iter().copied().zip(outcomes) {
            report.pages += outcome.pages;
            report.changes += outcome.changes;
            report.api_calls += outcome.api_calls;
            report.evicted += outcome.evicted;
            if outcome.restarted {
                report.restarted.push(object);
            }
            if let Some(error) = outcome.error {
                first_error.get_or_insert(error);
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }

    /// One object's round of the feed: every page from where the last run stopped, then the
    /// eviction of idle members.
    async fn feed_object(
        &self,
        name: &str,
        feed: &dyn OrgFeed,
        feeds: &dyn FeedInbox,
        object: ObjectKind,
    ) -> ObjectRun {
        let mut run = ObjectRun::default();
        if let Err(error) = self.feed_object_pages(name, feed, feeds, object, &mut run).await {
            run.error = Some(error);
        }
        run
    }

    async fn feed_object_pages(
        &self,
        name: &str,
        feed: &dyn OrgFeed,
        feeds: &dyn FeedInbox,
        object: ObjectKind,
        run: &mut ObjectRun,
    ) -> Result<(), EngineError> {
        let opts = &self.inner.options;
        let saved = feeds.feed_state(name, object).await?;
        let mut restart = saved.cursor.is_none();
        run.restarted = restart;
        let mut cursor = saved.cursor;
        let mut expired_once = false;
        loop {
            let current = cursor.clone();
            let calls = &mut run.api_calls;
            let pulled = with_retries(opts, Side::Crm, Access::Read, &mut |_| *calls += 1, || {
                feed.pull(object, current.as_ref())
            })
            .await;
            let page = match pulled {
                Ok(page) => page,
                Err(ConnectorError::CursorExpired) if !expired_once && cursor.is_some() => {
                    tracing::info!(feed = name, %object, "feed cursor expired; restarting it (members read their own data again)");
                    expired_once = true;
                    restart = true;
                    run.restarted = true;
                    cursor = None;
                    continue;
                }
                Err(error) => return Err(EngineError::Connector { side: Side::Crm, error }),
            };
            run.pages += 1;
            run.changes += page.changes.len();
            let deliveries = page
                .changes
                .into_iter()
                .map(|routed| {
                    let to = match routed.to {
                        Audience::Members(members) => Recipients::Members(members),
                        Audience::Everyone => Recipients::Everyone,
                        // A future audience this build does not know reaches no one rather
                        // than everyone.
                        _ => Recipients::Members(Vec::new()),
                    };
                    Delivery::new(to, routed.change)
                })
                .collect();
            feeds.commit_feed_page(name, object, &FeedPage::new(page.cursor.clone(), restart, deliveries)).await?;
            restart = false;
            cursor = Some(page.cursor);
            if page.done {
                break;
            }
        }
        let idle = chrono::Duration::from_std(opts.feed_member_idle).unwrap_or(chrono::Duration::MAX);
        let idle_since =
            self.inner.clock.now().checked_sub_signed(idle).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        run.evicted += feeds.evict_idle_feed_members(name, object, idle_since).await?;
        Ok(())
    }
}

/// What one object's round of a feed did.
#[derive(Debug, Default)]
struct ObjectRun {
    pages: usize,
    changes: usize,
    api_calls: u64,
    evicted: u64,
    restarted: bool,
    error: Option<EngineError>,
}
