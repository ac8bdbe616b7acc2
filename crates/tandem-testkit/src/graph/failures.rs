//! [`GraphState`]'s failure injection: expired delta tokens, failing batch items and lost batch
//! responses.

use std::sync::Arc;

use serde_json::Value;

use super::data::{self, ItemFailure};
use super::{DeltaExpiry, GraphState};

impl GraphState {
    // --- delta --------------------------------------------------------------------------------

    /// Expires every delta and skip token issued so far (the service evicting sync state).
    pub fn expire_delta_tokens(&self) {
        self.lock().expire_delta_tokens();
    }

    /// Sets how expired delta tokens answer.
    pub fn set_delta_expiry(&self, expiry: DeltaExpiry) {
        self.lock().config.delta_expiry = expiry;
    }

    // --- failures -----------------------------------------------------------------------------

    /// Answers the next `n` batch items with `status` and Graph error `code` (plus
    /// `Retry-After` when given), whatever they are.
    pub fn fail_batch_items(&self, n: u32, status: u16, code: &str, retry_after: Option<u64>) {
        self.push_item_failure(n, status, code, retry_after, None);
    }

    /// Like [`fail_batch_items`](Self::fail_batch_items), for items `predicate(method, url, body)`
    /// accepts only.
    pub fn fail_batch_items_where(
        &self,
        n: u32,
        status: u16,
        code: &str,
        retry_after: Option<u64>,
        predicate: impl Fn(&str, &str, Option<&Value>) -> bool + Send + Sync + 'static,
    ) {
        self.push_item_failure(n, status, code, retry_after, Some(Arc::new(predicate)));
    }

    fn push_item_failure(
        &self,
        n: u32,
        status: u16,
        code: &str,
        retry_after: Option<u64>,
        predicate: Option<data::ItemPredicate>,
    ) {
        if n > 0 {
            self.lock().item_failures.push_back(ItemFailure {
                remaining: n,
                predicate,
                status,
                code: code.to_owned(),
                retry_after,
            });
        }
    }

    /// The next `n` batches run their items, then answer 504 as if the response had been lost.
    pub fn lose_next_batch_responses(&self, n: u32) {
        self.lock().lose_batch_responses = n;
    }
}
