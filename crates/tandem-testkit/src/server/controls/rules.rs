//! The rule switches of [`Controls`]: injected failures, throttling, rate limit, latency,
//! concurrency cap, lost answers and the chaos mode.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;

use super::state::{ChaosState, Injection, Throttle};
use super::{CannedResponse, Chaos, ConcurrencyCap, Controls, FaultRecord, RateLimit, RequestPredicate};

impl Controls {
    // --- rules ------------------------------------------------------------------------------

    /// Answers the next `n` requests with `response` (e.g. a 503 with the provider's body).
    /// Calls queue up: a second call applies after the first is used up.
    pub fn fail_next(&self, n: u32, response: CannedResponse) {
        self.push_failure(n, None, response);
    }

    /// Like [`Controls::fail_next`], for the next `n` requests that `predicate` accepts only.
    pub fn fail_next_matching(
        &self,
        n: u32,
        predicate: impl Fn(&Request) -> bool + Send + Sync + 'static,
        response: CannedResponse,
    ) {
        self.push_failure(n, Some(Arc::new(predicate)), response);
    }

    fn push_failure(&self, n: u32, predicate: Option<RequestPredicate>, response: CannedResponse) {
        if n == 0 {
            return;
        }
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        s.failures.push_back(Injection { id, remaining: n, predicate, response });
    }

    /// Answers the next `n` requests with `response` plus `Retry-After: retry_after_secs`
    /// (`response` carries the status, normally 429, and the provider's error body). Replaces a
    /// previous `throttle_next` that is not used up.
    pub fn throttle_next(&self, n: u32, retry_after_secs: u64, response: CannedResponse) {
        self.lock().throttle = (n > 0).then_some(Throttle { remaining: n, retry_after_secs, response });
    }

    /// Sets (replacing) the rate limit; `None` removes it and forgets the window.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let mut s = self.lock();
        s.rate = limit;
        s.rate_log.clear();
    }

    /// Delays every admitted request by `latency` before its handler runs; zero switches it off.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Sets (replacing) the concurrency cap; `None` removes it. Requests already in flight keep
    /// their slots.
    pub fn set_concurrency_cap(&self, cap: Option<ConcurrencyCap>) {
        self.lock().cap = cap;
    }

    /// Requests in flight now for `key` (counted while a concurrency cap is set).
    pub fn in_flight(&self, key: &str) -> usize {
        self.lock().in_flight.get(key).copied().unwrap_or(0)
    }

    /// The most requests seen in flight at once for `key` since the last
    /// [`Controls::reset_counts`] (counted while a concurrency cap is set).
    pub fn peak_in_flight(&self, key: &str) -> usize {
        self.lock().peak.get(key).copied().unwrap_or(0)
    }

    /// Switches every rule off (failures, throttling, rate limit, latency, cap); keeps counters.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.failures.clear();
        s.throttle = None;
        s.rate = None;
        s.rate_log.clear();
        s.latency = Duration::ZERO;
        s.cap = None;
        s.losses.clear();
        s.chaos = None;
        s.response_latency = Duration::ZERO;
    }

    /// The next `n` requests that `predicate` accepts run their handler (they take effect), then
    /// their answer is replaced by `response` (e.g. a 504 gateway timeout): lost answers. Calls
    /// queue up. Checked after injected failures, throttling, the rate limit and the cap, so only
    /// requests that would have been served lose their answer.
    pub fn lose_next_matching(
        &self,
        n: u32,
        predicate: impl Fn(&Request) -> bool + Send + Sync + 'static,
        response: CannedResponse,
    ) {
        if n == 0 {
            return;
        }
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        s.losses.push_back(Injection { id, remaining: n, predicate: Some(Arc::new(predicate)), response });
    }

    /// Switches the chaos mode on (replacing earlier rules and reseeding) or off (`None`): every
    /// request that no injected failure or throttle answered draws once from the seeded
    /// generator and may get one fault. The fault log keeps every fault injected.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.lock().chaos = chaos.map(|c| ChaosState { rng: crate::rng::Rng::new(c.seed), rules: c.rules });
    }

    /// Every fault injected by the chaos mode and [`Controls::lose_next_matching`] so far, in order.
    pub fn fault_log(&self) -> Vec<FaultRecord> {
        self.lock().fault_log.clone()
    }

    /// Holds every answer `latency` after its handler ran (the request has taken effect), before
    /// sending it; zero switches it off. A client killed meanwhile never learns the outcome.
    pub fn set_response_latency(&self, latency: Duration) {
        self.lock().response_latency = latency;
    }
}
