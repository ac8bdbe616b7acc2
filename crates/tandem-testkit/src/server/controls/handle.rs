//! The [`Controls`] handle itself: construction, wrapping a router, and the request counters.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;

use super::middleware::middleware;
use super::state::ControlState;

/// The shared handle through which a test steers a fake while it runs.
///
/// Cheap to clone; all clones control the same state. Rules are checked in this order, and the
/// first that fires answers the request without running the handler:
/// 1. every request is counted (by method and route template, e.g. `/users/{id}/events`, or the
///    raw path when no route matched);
/// 2. injected failures ([`Controls::fail_next`]), oldest first;
/// 3. throttling of the next N requests ([`Controls::throttle_next`]);
/// 4. the rate limit ([`Controls::set_rate_limit`]); only admitted requests use up the window;
/// 5. the concurrency cap ([`Controls::set_concurrency_cap`]);
/// 6. latency ([`Controls::set_latency`]) is served inside the concurrency slot, like a slow
///    server would;
/// 7. after the handler ran: a lost answer ([`Controls::lose_next_matching`]) or an answer held
///    back ([`Controls::set_response_latency`]).
///
/// The chaos mode ([`Controls::set_chaos`]) draws once per request: a fault answering in place of
/// the handler applies after step 3, a lost or delayed answer at step 7.
#[derive(Clone, Default)]
pub struct Controls {
    state: Arc<Mutex<ControlState>>,
}

impl fmt::Debug for Controls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("Controls").field("total", &s.total).field("rejected", &s.rejected).finish_non_exhaustive()
    }
}

impl Controls {
    /// Fresh controls: counting, nothing else switched on.
    pub fn new() -> Self {
        Controls::default()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, ControlState> {
        // A panicking test thread must not take every later assertion down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `router` with these controls in front of every route (and the fallback).
    pub fn wrap<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), middleware))
    }

    // --- counters ---------------------------------------------------------------------------

    /// Requests received, by (method, route template or path), including rejected ones.
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        self.lock().counts.clone()
    }

    /// Requests received for `method` and `path` (a route template such as `/users/{id}` when
    /// the route has parameters).
    pub fn count(&self, method: &str, path: &str) -> u64 {
        self.lock().counts.get(&(method.to_owned(), path.to_owned())).copied().unwrap_or(0)
    }

    /// All requests received.
    pub fn total(&self) -> u64 {
        self.lock().total
    }

    /// Requests answered by a rule here rather than by the fake's handler.
    pub fn rejected(&self) -> u64 {
        self.lock().rejected
    }

    /// Zeroes the counters (including peaks) but keeps the rules.
    pub fn reset_counts(&self) {
        let mut s = self.lock();
        s.counts.clear();
        s.total = 0;
        s.rejected = 0;
        s.peak.clear();
    }
}
