//! The configured limits: a sliding-window [`RateLimit`] and a per-key [`ConcurrencyCap`].

use std::fmt;
use std::time::Duration;

use super::{CannedResponse, KeyFn};
#[cfg(doc)]
use super::{Controls, path_segment_after};

/// "At most `max` admitted requests per `window`" (sliding window), globally or per key.
#[derive(Clone)]
pub struct RateLimit {
    /// Requests admitted per window and key.
    pub max: u32,
    /// The sliding window.
    pub window: Duration,
    /// What the limit is per; `None` means the whole server.
    pub key: Option<KeyFn>,
    /// The `Retry-After` to send; `None` sends the seconds until the window frees a slot.
    pub retry_after_secs: Option<u64>,
    /// The answer when over the limit (status included, usually 429).
    pub response: CannedResponse,
}

impl RateLimit {
    /// A server-wide limit answering `response` with a computed `Retry-After`.
    pub fn new(max: u32, window: Duration, response: CannedResponse) -> Self {
        RateLimit { max, window, key: None, retry_after_secs: None, response }
    }

    /// Applies the limit per key instead (e.g. [`path_segment_after`]`("users")`).
    pub fn per_key(mut self, key: KeyFn) -> Self {
        self.key = Some(key);
        self
    }

    /// Sends this fixed `Retry-After` instead of the computed one.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("max", &self.max)
            .field("window", &self.window)
            .field("keyed", &self.key.is_some())
            .field("retry_after_secs", &self.retry_after_secs)
            .field("response", &self.response)
            .finish()
    }
}

/// At most `limit` requests in flight per key; the excess is answered `response` at once.
///
/// With a limit of `usize::MAX` nothing is rejected, but [`Controls::peak_in_flight`] still
/// records how many requests a client had in flight per key: a way to assert that a connector
/// respects a provider's concurrency limit.
#[derive(Clone)]
pub struct ConcurrencyCap {
    /// Requests allowed in flight per key.
    pub limit: usize,
    /// What the cap is per (Graph: the mailbox).
    pub key: KeyFn,
    /// A `Retry-After` to add to rejections, if any.
    pub retry_after_secs: Option<u64>,
    /// The answer to the excess (status included, usually 429).
    pub response: CannedResponse,
}

impl ConcurrencyCap {
    /// A cap of `limit` per `key`, answering `response` with `Retry-After: 1`.
    pub fn new(limit: usize, key: KeyFn, response: CannedResponse) -> Self {
        ConcurrencyCap { limit, key, retry_after_secs: Some(1), response }
    }
}

impl fmt::Debug for ConcurrencyCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyCap")
            .field("limit", &self.limit)
            .field("retry_after_secs", &self.retry_after_secs)
            .field("response", &self.response)
            .finish()
    }
}
