//! What [`EwsFake`] recorded: calls per operation, `X-AnchorMailbox` headers and requested server
//! versions.

use std::collections::BTreeMap;

use super::fake::EwsFake;

impl EwsFake {
    /// Calls per EWS operation (authenticated, parsed requests; `"<invalid>"` for faults).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.lock().counts.clone()
    }

    /// Calls of `operation`.
    pub fn count(&self, operation: &str) -> u64 {
        self.lock().counts.get(operation).copied().unwrap_or(0)
    }

    /// The `X-AnchorMailbox` header of every request, in order (`None` when absent).
    pub fn anchor_mailboxes(&self) -> Vec<Option<String>> {
        self.lock().anchors.clone()
    }

    /// The `RequestServerVersion` of every parsed request, in order.
    pub fn requested_versions(&self) -> Vec<String> {
        self.lock().versions.clone()
    }
}
