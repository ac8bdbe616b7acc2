//! Run-time switchable misbehaviour shared by every fake: counters, throttling, failures,
//! latency and a concurrency cap.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

/// Extracts the key a limit applies to from a request (for example the mailbox in a Graph path);
/// `None` exempts the request from that limit.
pub type KeyFn = Arc<dyn Fn(&Request) -> Option<String> + Send + Sync>;

/// Decides whether a rule applies to a request.
pub type RequestPredicate = Arc<dyn Fn(&Request) -> bool + Send + Sync>;

/// Wraps a closure as a [`KeyFn`].
pub fn key_fn(f: impl Fn(&Request) -> Option<String> + Send + Sync + 'static) -> KeyFn {
    Arc::new(f)
}

/// The path segment after the first segment equal to `segment`, lower-cased: with `"users"`,
/// `/v1.0/users/Ann@Contoso.com/events` gives `ann@contoso.com`. Graph keys its per-mailbox limits
/// this way.
pub fn path_segment_after(segment: &str) -> KeyFn {
    let segment = segment.to_owned();
    Arc::new(move |req: &Request| {
        let mut parts = req.uri().path().split('/');
        parts.by_ref().find(|p| *p == segment)?;
        parts.next().filter(|p| !p.is_empty()).map(str::to_lowercase)
    })
}

/// The value of header `name`, lower-cased (EWS routes by `X-AnchorMailbox`).
pub fn header_key(name: &str) -> KeyFn {
    let name = name.to_owned();
    Arc::new(move |req: &Request| req.headers().get(name.as_str()).and_then(|v| v.to_str().ok()).map(str::to_lowercase))
}

/// One key for every request: a limit on the whole server.
pub fn whole_server() -> KeyFn {
    Arc::new(|_: &Request| Some("*".to_owned()))
}

/// A fixed response a fake answers with instead of running its handler: a provider-shaped error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// Extra headers, in order. Invalid names or values are skipped (and logged).
    pub headers: Vec<(String, String)>,
    /// The body, sent verbatim.
    pub body: String,
}

impl CannedResponse {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Self {
        CannedResponse { status, headers: Vec::new(), body: String::new() }
    }

    /// A JSON body (`application/json`), e.g. Graph's `{"error":{"code":…,"message":…}}` or
    /// Salesforce's `[{"errorCode":…,"message":…}]`.
    pub fn json(status: StatusCode, body: &serde_json::Value) -> Self {
        CannedResponse::new(status).with_header("content-type", "application/json").with_body(body.to_string())
    }

    /// A plain-text body.
    pub fn text(status: StatusCode, body: impl Into<String>) -> Self {
        CannedResponse::new(status).with_header("content-type", "text/plain; charset=utf-8").with_body(body)
    }

    /// An XML body (`text/xml; charset=utf-8`), as EWS sends SOAP faults.
    pub fn xml(status: StatusCode, body: impl Into<String>) -> Self {
        CannedResponse::new(status).with_header("content-type", "text/xml; charset=utf-8").with_body(body)
    }

    /// A plain 429 with a short text body: for tests that do not care about the error shape.
    pub fn too_many_requests() -> Self {
        CannedResponse::text(StatusCode::TOO_MANY_REQUESTS, "throttled by tandem-testkit")
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Replaces the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// This response with a `Retry-After: <seconds>` header, unless it already has one.
    fn with_retry_after(&self, secs: Option<u64>) -> CannedResponse {
        let mut r = self.clone();
        if let Some(secs) = secs
            && !r.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
        {
            r.headers.push(("retry-after".to_owned(), secs.to_string()));
        }
        r
    }
}

impl IntoResponse for CannedResponse {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        for (name, value) in &self.headers {
            match (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
                (Ok(n), Ok(v)) => {
                    response.headers_mut().insert(n, v);
                }
                _ => tracing::warn!(%name, %value, "invalid header in canned response; skipped"),
            }
        }
        if !response.headers().contains_key(header::CONTENT_TYPE) {
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        }
        response
    }
}

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

struct Injection {
    id: u64,
    remaining: u32,
    predicate: Option<RequestPredicate>,
    response: CannedResponse,
}

struct Throttle {
    remaining: u32,
    retry_after_secs: u64,
    response: CannedResponse,
}

/// A fault [`Controls::set_chaos`] may inject into a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this response instead of running the handler: the request has no effect.
    Answer(CannedResponse),
    /// Run the handler (the request takes effect), then throw its answer away and send this
    /// response instead: a lost answer, as when a proxy times out or a connection drops after
    /// the provider applied the request.
    Lose(CannedResponse),
    /// Run the handler (the request takes effect), then hold the answer this long before sending
    /// it: longer than the client's timeout, the client gives up on a request that took effect.
    Delay(Duration),
}

/// One rule of the chaos mode: with `probability`, requests `predicate` accepts get `fault`.
#[derive(Clone)]
pub struct ChaosRule {
    /// A short name, recorded in the fault log ([`Controls::fault_log`]).
    pub name: String,
    /// The share of matching requests that get the fault, in `0.0..=1.0`.
    pub probability: f64,
    /// Which requests the rule applies to; `None` for every request.
    pub predicate: Option<RequestPredicate>,
    /// What happens to them.
    pub fault: Fault,
}

impl ChaosRule {
    /// A rule for every request.
    pub fn new(name: impl Into<String>, probability: f64, fault: Fault) -> Self {
        ChaosRule { name: name.into(), probability, predicate: None, fault }
    }

    /// Limits the rule to requests `predicate` accepts.
    pub fn matching(mut self, predicate: impl Fn(&Request) -> bool + Send + Sync + 'static) -> Self {
        self.predicate = Some(Arc::new(predicate));
        self
    }
}

impl fmt::Debug for ChaosRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosRule")
            .field("name", &self.name)
            .field("probability", &self.probability)
            .field("filtered", &self.predicate.is_some())
            .field("fault", &self.fault)
            .finish()
    }
}

/// Random faults drawn from a seeded generator, one draw per request in arrival order: the same
/// seed and the same request order give the same faults.
#[derive(Debug, Clone)]
pub struct Chaos {
    /// The seed of the generator.
    pub seed: u64,
    /// The rules, tried in order with one draw: a request gets at most one fault.
    pub rules: Vec<ChaosRule>,
}

/// A fault injected by [`Controls::set_chaos`] or [`Controls::lose_next_matching`], as
/// [`Controls::fault_log`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRecord {
    /// The request's number (1 for the first request these controls counted).
    pub request: u64,
    /// The method.
    pub method: String,
    /// The path (not the query).
    pub path: String,
    /// The rule's name (`lose_next` for [`Controls::lose_next_matching`]).
    pub rule: String,
}

impl fmt::Display for FaultRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} {}: {}", self.request, self.method, self.path, self.rule)
    }
}

struct ChaosState {
    rng: crate::rng::Rng,
    rules: Vec<ChaosRule>,
}

/// What happens after the handler ran.
enum After {
    Send,
    Replace(CannedResponse),
    Hold(Duration),
}

#[derive(Default)]
struct ControlState {
    counts: BTreeMap<(String, String), u64>,
    total: u64,
    rejected: u64,
    next_id: u64,
    failures: VecDeque<Injection>,
    throttle: Option<Throttle>,
    rate: Option<RateLimit>,
    rate_log: HashMap<String, VecDeque<Instant>>,
    latency: Duration,
    cap: Option<ConcurrencyCap>,
    in_flight: HashMap<String, usize>,
    peak: HashMap<String, usize>,
    losses: VecDeque<Injection>,
    chaos: Option<ChaosState>,
    fault_log: Vec<FaultRecord>,
    response_latency: Duration,
}

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

enum Admission {
    Reject(CannedResponse),
    Admit { slot: Option<Slot>, latency: Duration, after: After },
}

/// A held concurrency slot; frees itself on drop (also when the request is cancelled).
struct Slot {
    controls: Controls,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.controls.lock();
        if let Some(n) = s.in_flight.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.in_flight.remove(&self.key);
            }
        }
    }
}

impl Controls {
    /// Fresh controls: counting, nothing else switched on.
    pub fn new() -> Self {
        Controls::default()
    }

    fn lock(&self) -> MutexGuard<'_, ControlState> {
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

    // --- the decision -----------------------------------------------------------------------

    fn admit(&self, req: &Request) -> Admission {
        let method = req.method().as_str().to_owned();
        let path = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_else(|| req.uri().path().to_owned());

        // Caller-supplied functions run without the lock held, so they may use these controls.
        let (predicates, chaos_predicates, rate_key, cap_key) = {
            let mut s = self.lock();
            *s.counts.entry((method.clone(), path)).or_insert(0) += 1;
            s.total += 1;
            let predicates: Vec<(u64, RequestPredicate)> = s
                .failures
                .iter()
                .chain(s.losses.iter())
                .filter_map(|f| f.predicate.as_ref().map(|p| (f.id, Arc::clone(p))))
                .collect();
            let chaos_predicates: Vec<Option<RequestPredicate>> =
                s.chaos.as_ref().map(|c| c.rules.iter().map(|r| r.predicate.clone()).collect()).unwrap_or_default();
            let rate_key = s.rate.as_ref().and_then(|r| r.key.clone());
            let cap_key = s.cap.as_ref().map(|c| Arc::clone(&c.key));
            (predicates, chaos_predicates, rate_key, cap_key)
        };
        let matched: HashSet<u64> = predicates.into_iter().filter(|(_, p)| p(req)).map(|(id, _)| id).collect();
        let chaos_matched: Vec<bool> = chaos_predicates.iter().map(|p| p.as_ref().is_none_or(|p| p(req))).collect();
        let rate_key = rate_key.map(|k| k(req));
        let cap_key = cap_key.and_then(|k| k(req));

        let mut s = self.lock();
        let request = s.total;
        let log = |s: &mut ControlState, rule: String| {
            s.fault_log.push(FaultRecord { request, method: method.clone(), path: req.uri().path().to_owned(), rule });
        };
        let chaos = Self::draw_chaos(&mut s, &chaos_matched);
        // A chaos fault that answers in place of the handler comes before the rate limit and the
        // cap (it never reaches the "server"); injected failures and throttling come first.
        let early = Self::injected(&mut s, &matched);
        if let Some(response) = early {
            s.rejected += 1;
            return Admission::Reject(response);
        }
        let mut after = After::Send;
        if let Some((name, fault)) = chaos {
            log(&mut s, name);
            match fault {
                Fault::Answer(response) => {
                    s.rejected += 1;
                    return Admission::Reject(response);
                }
                Fault::Lose(response) => after = After::Replace(response),
                Fault::Delay(d) => after = After::Hold(d),
            }
        }
        let decision = Self::decide(&mut s, rate_key, cap_key.as_deref());
        match decision {
            Ok(slot_key) => {
                if matches!(after, After::Send)
                    && let Some(response) = Self::take_loss(&mut s, &matched)
                {
                    log(&mut s, "lose_next".to_owned());
                    after = After::Replace(response);
                }
                if matches!(after, After::Send) && !s.response_latency.is_zero() {
                    after = After::Hold(s.response_latency);
                }
                let latency = s.latency;
                drop(s);
                Admission::Admit { slot: slot_key.map(|key| Slot { controls: self.clone(), key }), latency, after }
            }
            Err(response) => {
                if !matches!(after, After::Send) {
                    // The request was not served after all: it lost no answer.
                    s.fault_log.pop();
                }
                s.rejected += 1;
                Admission::Reject(response)
            }
        }
    }

    /// One draw for the request: the chaos rule that fires, if any.
    fn draw_chaos(s: &mut ControlState, matched: &[bool]) -> Option<(String, Fault)> {
        let chaos = s.chaos.as_mut()?;
        // 53 random bits as a number in [0, 1).
        let draw = (chaos.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut below = 0.0;
        for (rule, hit) in chaos.rules.iter().zip(matched) {
            if !*hit {
                continue;
            }
            below += rule.probability.clamp(0.0, 1.0);
            if draw < below {
                return Some((rule.name.clone(), rule.fault.clone()));
            }
        }
        None
    }

    /// 2 and 3: injected failures, then throttling of the next N.
    fn injected(s: &mut ControlState, matched: &HashSet<u64>) -> Option<CannedResponse> {
        let hit = s.failures.iter().position(|f| f.remaining > 0 && (f.predicate.is_none() || matched.contains(&f.id)));
        if let Some(i) = hit
            && let Some(f) = s.failures.get_mut(i)
        {
            f.remaining -= 1;
            let response = f.response.clone();
            if f.remaining == 0 {
                s.failures.remove(i);
            }
            return Some(response);
        }
        if let Some(t) = s.throttle.as_mut() {
            t.remaining = t.remaining.saturating_sub(1);
            let response = t.response.with_retry_after(Some(t.retry_after_secs));
            if t.remaining == 0 {
                s.throttle = None;
            }
            return Some(response);
        }
        None
    }

    /// The answer that replaces the handler's, when a [`Controls::lose_next_matching`] applies.
    fn take_loss(s: &mut ControlState, matched: &HashSet<u64>) -> Option<CannedResponse> {
        let i = s
            .losses
            .iter()
            .position(|f| f.remaining > 0 && f.predicate.as_ref().is_none_or(|_| matched.contains(&f.id)))?;
        let f = s.losses.get_mut(i)?;
        f.remaining -= 1;
        let response = f.response.clone();
        if f.remaining == 0 {
            s.losses.remove(i);
        }
        Some(response)
    }

    /// 4 and 5: `Ok(slot key)` to admit, `Err(response)` to reject.
    fn decide(
        s: &mut ControlState,
        rate_key: Option<Option<String>>,
        cap_key: Option<&str>,
    ) -> Result<Option<String>, CannedResponse> {
        // 4. Sliding-window rate limit (rate_key is Some when a limit is set).
        if let Some(limit) = s.rate.clone() {
            let key = match rate_key {
                Some(Some(k)) => Some(k),
                Some(None) => None, // the key function exempts this request
                None => Some("*".to_owned()),
            };
            if let Some(key) = key {
                let now = Instant::now();
                let log = s.rate_log.entry(key).or_default();
                while log.front().is_some_and(|t| now.duration_since(*t) >= limit.window) {
                    log.pop_front();
                }
                if log.len() >= limit.max as usize {
                    let secs = limit.retry_after_secs.unwrap_or_else(|| {
                        let free_at = log.front().map_or(now, |t| *t + limit.window);
                        let wait = free_at.saturating_duration_since(now);
                        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
                    });
                    return Err(limit.response.with_retry_after(Some(secs.max(1))));
                }
                log.push_back(now);
            }
        }

        // 5. Concurrency cap.
        if let (Some(cap), Some(key)) = (s.cap.as_ref(), cap_key) {
            let limit = cap.limit;
            let rejection = cap.response.with_retry_after(cap.retry_after_secs);
            let current = s.in_flight.get(key).copied().unwrap_or(0);
            if current >= limit {
                return Err(rejection);
            }
            s.in_flight.insert(key.to_owned(), current + 1);
            let peak = s.peak.entry(key.to_owned()).or_insert(0);
            *peak = (*peak).max(current + 1);
            return Ok(Some(key.to_owned()));
        }
        Ok(None)
    }
}

async fn middleware(State(controls): State<Controls>, req: Request, next: Next) -> Response {
    match controls.admit(&req) {
        Admission::Reject(response) => {
            tracing::debug!(
                method = %req.method(),
                path = %req.uri().path(),
                status = %response.status,
                "fake rejected request"
            );
            response.into_response()
        }
        Admission::Admit { slot, latency, after } => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let response = next.run(req).await;
            let response = match after {
                After::Send => response,
                After::Hold(d) => {
                    tokio::time::sleep(d).await;
                    response
                }
                After::Replace(canned) => {
                    tracing::debug!(status = %canned.status, "fake lost the answer of a request it applied");
                    canned.into_response()
                }
            };
            drop(slot);
            response
        }
    }
}
