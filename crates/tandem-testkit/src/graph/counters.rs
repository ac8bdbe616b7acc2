//! [`GraphState`]'s counters: API requests by route template, batch items and sizes, requests
//! without immutable ids, concurrency peaks and throttled batch items.

use std::collections::BTreeMap;

use super::GraphState;
#[cfg(doc)]
use crate::server::Controls;

impl GraphState {
    // --- counters -----------------------------------------------------------------------------

    /// API requests by `METHOD template` (`GET /users/{id}/calendarView/delta`), batch items as
    /// `$batch: METHOD template`, token requests as `POST /{tenant}/oauth2/v2.0/token`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.lock().counters.clone()
    }

    /// One counter of [`counts`](Self::counts) (zero when absent).
    pub fn count(&self, key: &str) -> u64 {
        self.lock().counters.get(key).copied().unwrap_or(0)
    }

    /// HTTP requests received (batch items not counted separately).
    pub fn http_requests(&self) -> u64 {
        self.lock().counters.iter().filter(|(k, _)| !k.starts_with("$batch: ")).map(|(_, v)| *v).sum()
    }

    /// Batch items received.
    pub fn batch_items(&self) -> u64 {
        self.lock().counters.iter().filter(|(k, _)| k.starts_with("$batch: ")).map(|(_, v)| *v).sum()
    }

    /// The size of every `$batch` received, in order.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.lock().batch_sizes.clone()
    }

    /// API requests (plain or batched) that lacked `Prefer: IdType="ImmutableId"`.
    pub fn requests_without_immutable_id(&self) -> u64 {
        self.lock().without_immutable_id
    }

    /// The most requests seen running at once for a mailbox (plain requests plus the slots of
    /// running batches).
    pub fn peak_concurrency(&self, mailbox: &str) -> usize {
        self.lock().peak.get(&mailbox.to_lowercase()).copied().unwrap_or(0)
    }

    /// Batch items answered 429 (injected or over the concurrency limit).
    pub fn inner_throttled(&self) -> u64 {
        self.lock().inner_throttled
    }

    /// Zeroes the counters of this state (not those of [`Controls`]).
    pub fn reset_counters(&self) {
        let mut data = self.lock();
        data.counters.clear();
        data.batch_sizes.clear();
        data.without_immutable_id = 0;
        data.peak.clear();
        data.inner_throttled = 0;
    }
}
