//! The shared mutable state behind [`super::Controls`]: counters, queued injections, limits,
//! in-flight counts and the fault log.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::{CannedResponse, ChaosRule, ConcurrencyCap, FaultRecord, RateLimit, RequestPredicate};

pub(super) struct Injection {
    pub(super) id: u64,
    pub(super) remaining: u32,
    pub(super) predicate: Option<RequestPredicate>,
    pub(super) response: CannedResponse,
}

pub(super) struct Throttle {
    pub(super) remaining: u32,
    pub(super) retry_after_secs: u64,
    pub(super) response: CannedResponse,
}

pub(super) struct ChaosState {
    pub(super) rng: crate::rng::Rng,
    pub(super) rules: Vec<ChaosRule>,
}

#[derive(Default)]
pub(super) struct ControlState {
    pub(super) counts: BTreeMap<(String, String), u64>,
    pub(super) total: u64,
    pub(super) rejected: u64,
    pub(super) next_id: u64,
    pub(super) failures: VecDeque<Injection>,
    pub(super) throttle: Option<Throttle>,
    pub(super) rate: Option<RateLimit>,
    pub(super) rate_log: HashMap<String, VecDeque<Instant>>,
    pub(super) latency: Duration,
    pub(super) cap: Option<ConcurrencyCap>,
    pub(super) in_flight: HashMap<String, usize>,
    pub(super) peak: HashMap<String, usize>,
    pub(super) losses: VecDeque<Injection>,
    pub(super) chaos: Option<ChaosState>,
    pub(super) fault_log: Vec<FaultRecord>,
    pub(super) response_latency: Duration,
}
