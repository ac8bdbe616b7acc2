//! Reading a side in a cycle: its change feed (through the first-page rendezvous when the objects
//! run at once), records read by id, and the changes reported by version only.

use std::collections::HashMap;

use tandem_connector::ConnectorError;
use tandem_core::state::{Change, ChangeKind, Cursor, PairState, RecordId, Side, Version};
use tandem_store::feed::InboxConsumed;

use super::shared::ReadSeat;
use super::{Access, Cycle, idx, retry, shared, with_retries};
use crate::EngineError;

/// What reading one side did, recorded in the report once both sides are read.
#[derive(Debug, Default)]
pub(crate) struct SideRead {
    /// Calls made, retries included.
    pub(crate) calls: u64,
    /// The side's cursor had expired: it was read in full.
    pub(crate) full_resync: bool,
    /// Changes read from the feed, when a feed was read.
    pub(crate) pulled: Option<usize>,
    /// The organization-feed inbox rows read, for the commit to drop.
    pub(crate) feed_consumed: Option<InboxConsumed>,
}

impl Cycle<'_> {
    /// Calls the connector with the engine's bounded retries, counting into `read` (reads of the
    /// two sides run at once, so they cannot count into the report directly).
    pub(super) async fn call_counted<T, F, Fut>(
        &self,
        side: Side,
        read: &mut SideRead,
        f: F,
    ) -> Result<T, ConnectorError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ConnectorError>>,
    {
        let calls = &mut read.calls;
        with_retries(&self.engine.inner.options, side, Access::Read, &mut |_| *calls += 1, f).await
    }

    /// Reads `side`'s changes: its change feed, or for the CRM side of a job on an organization
    /// feed, its inbox. Takes `&self` so that both sides are read at once.
    /// `first_page`: this cycle's seat at the side's first-page rendezvous, when the objects run
    /// at once.
    pub(super) async fn pull(
        &self,
        side: Side,
        read: &mut SideRead,
        first_page: Option<ReadSeat>,
    ) -> Result<(Vec<Change>, Cursor), EngineError> {
        if side == Side::Crm
            && let Some(feed) = self.job.crm_feed.clone()
        {
            // The inbox is read from the store: nothing to share.
            drop(first_page);
            return self.pull_feed(&feed, read).await;
        }
        let saved = self.engine.inner.store.cursor(self.user(), self.object, side).await?;
        self.pull_connector(side, saved, read, first_page).await
    }

    /// Records what reading a side did in the report.
    pub(super) fn absorb(&mut self, side: Side, read: SideRead) {
        self.report.api_calls.count_n(side, read.calls);
        if read.full_resync {
            self.report.full_resync.push(side);
        }
        if let Some(n) = read.pulled {
            self.report.pulled.insert(side, n);
        }
        if read.feed_consumed.is_some() {
            self.feed_consumed = read.feed_consumed;
        }
    }

    /// Pulls every page of `side`'s change feed from `saved`; the first through `first_page`'s
    /// rendezvous when given (a retryable failure there is tried again alone, with the usual
    /// retries).
    pub(super) async fn pull_connector(
        &self,
        side: Side,
        saved: Option<Cursor>,
        read: &mut SideRead,
        first_page: Option<ReadSeat>,
    ) -> Result<(Vec<Change>, Cursor), EngineError> {
        let connector = self.job.connector(side);
        let object = self.object;
        let mut shared = match first_page {
            Some(seat) => {
                read.calls += 1;
                Some(shared::first_page(self.job, seat, side, object, saved.clone()).await)
            }
            None => None,
        };
        let mut cursor = saved;
        let mut restarted = false;
        let mut changes = Vec::new();
        loop {
            let current = cursor.clone();
            let page = match shared.take() {
                Some(answer) if !retry::retryable(answer.as_ref().err()) => answer,
                _ => self.call_counted(side, read, || connector.pull(object, current.as_ref())).await,
            };
            match page {
                Ok(page) => {
                    // The first page's list is kept as it is: a first sync's single page of
                    // thousands of records is not copied into a second list.
                    if changes.is_empty() {
                        changes = page.changes;
                    } else {
                        changes.extend(page.changes);
                    }
                    cursor = Some(page.cursor);
                    if page.done {
                        break;
                    }
                }
                Err(ConnectorError::CursorExpired) if !restarted && cursor.is_some() => {
                    tracing::info!(%side, "cursor expired; reading in full and re-linking existing pairs");
                    read.full_resync = true;
                    restarted = true;
                    changes.clear();
                    cursor = None;
                }
                Err(error) => return Err(EngineError::Connector { side, error }),
            }
        }
        read.pulled = Some(changes.len());
        Ok((changes, cursor.unwrap_or_default()))
    }

    pub(super) async fn fetch(&mut self, side: Side, ids: &[RecordId]) -> Result<Vec<Change>, EngineError> {
        let mut read = SideRead::default();
        let fetched = self.fetch_counted(side, ids, &mut read).await;
        self.report.api_calls.count_n(side, read.calls);
        fetched
    }

    /// Reads records by id in chunks, counting into `read`.
    pub(super) async fn fetch_counted(
        &self,
        side: Side,
        ids: &[RecordId],
        read: &mut SideRead,
    ) -> Result<Vec<Change>, EngineError> {
        let connector = self.job.connector(side);
        let object = self.object;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.engine.inner.options.fetch_chunk.max(1)) {
            let fetched = self
                .call_counted(side, read, || connector.fetch(object, chunk))
                .await
                .map_err(|error| EngineError::Connector { side, error })?;
            out.extend(fetched);
        }
        Ok(out)
    }

    /// Resolves the changes a connector reported by version only ([`ChangeKind::VersionOnly`]):
    /// one whose version is the one its pair holds on that side is an echo of Tandem's own write
    /// and is dropped unread; the others are read now (`Connector::fetch`) and take their place.
    /// A read that fails fails the cycle before anything is planned or committed (the cursors
    /// stay), so the next cycle reports them again. Returns the echoes dropped.
    pub(super) async fn read_version_only(
        &mut self,
        changes: &mut [Vec<Change>; 2],
        pairs: &[PairState],
    ) -> Result<usize, EngineError> {
        let mut echoes = 0;
        for side in Side::BOTH {
            let unread = |c: &Change| matches!(c.kind, ChangeKind::VersionOnly);
            if !changes[idx(side)].iter().any(unread) {
                continue;
            }
            let held: HashMap<&RecordId, &Version> =
                pairs.iter().map(|p| (&p.side(side).id, &p.side(side).version)).collect();
            let mut to_read: Vec<RecordId> = Vec::new();
            changes[idx(side)].retain(|c| {
                if !unread(c) {
                    return true;
                }
                if !c.version.as_str().is_empty() && held.get(&c.id) == Some(&&c.version) {
                    echoes += 1;
                } else {
                    to_read.push(c.id.clone());
                }
                false
            });
            to_read.sort();
            to_read.dedup();
            if !to_read.is_empty() {
                let fetched = self.fetch(side, &to_read).await?;
                changes[idx(side)].extend(fetched);
            }
        }
        Ok(echoes)
    }
}
