//! Client-side rate limits per endpoint key (a host, or a caller-given key such as a mailbox).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A client-side rate limit: at most `requests` per `per`, as a token bucket (a full burst of
/// `requests` is allowed, then one request every `per / requests`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per period (and the burst size). Zero means unlimited.
    pub requests: u32,
    /// The period. Zero means unlimited.
    pub per: Duration,
}

impl RateLimit {
    /// `requests` per `per`.
    pub const fn new(requests: u32, per: Duration) -> Self {
        RateLimit { requests, per }
    }

    /// `requests` per second.
    pub const fn per_second(requests: u32) -> Self {
        RateLimit::new(requests, Duration::from_secs(1))
    }

    fn quota(&self) -> Option<Quota> {
        let burst = NonZeroU32::new(self.requests)?;
        let period = self.per.checked_div(self.requests)?;
        Some(Quota::with_period(period)?.allow_burst(burst))
    }
}

/// One lazily created limiter per key; keys without an override use the default limit.
pub(crate) struct RateLimiters {
    default: Option<RateLimit>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    overrides: HashMap<String, Option<RateLimit>>,
    limiters: HashMap<String, Option<Arc<DefaultDirectRateLimiter>>>,
}

impl RateLimiters {
    pub(crate) fn new(default: Option<RateLimit>) -> Self {
        RateLimiters { default, state: Mutex::new(State::default()) }
    }

    /// Sets (or with `None` removes) the limit for one key, replacing its current limiter.
    pub(crate) fn set(&self, key: String, limit: Option<RateLimit>) {
        let mut state = self.lock();
        state.limiters.remove(&key);
        state.overrides.insert(key, limit);
    }

    /// Waits until the limiter for `key` admits one more request.
    pub(crate) async fn wait(&self, key: &str) {
        let limiter = {
            let mut state = self.lock();
            if let Some(limiter) = state.limiters.get(key) {
                limiter.clone()
            } else {
                let limit = state.overrides.get(key).copied().unwrap_or(self.default);
                let limiter = limit.and_then(|l| l.quota()).map(|q| Arc::new(RateLimiter::direct(q)));
                state.limiters.insert(key.to_owned(), limiter.clone());
                limiter
            }
        };
        if let Some(limiter) = limiter {
            limiter.until_ready().await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for RateLimiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiters").field("default", &self.default).finish_non_exhaustive()
    }
}
