//! [`EwsFake`]'s failure injection: expired sync states and `ErrorServerBusy`.

use super::fake::EwsFake;

impl EwsFake {
    /// Makes every sync state issued so far invalid (`ErrorInvalidSyncStateData`).
    pub fn expire_sync_states(&self) {
        self.lock().sync_states.clear();
    }

    /// Answers the next `n` authenticated calls with the `ErrorServerBusy` fault carrying
    /// `BackOffMilliseconds = backoff_ms`.
    pub fn server_busy_next(&self, n: u32, backoff_ms: u64) {
        self.lock().busy = (n > 0).then_some((n, backoff_ms));
    }
}
