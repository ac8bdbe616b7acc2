//! The chaos mode's public types ([`Fault`], [`ChaosRule`], [`Chaos`]) and the fault log's
//! [`FaultRecord`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;

#[cfg(doc)]
use super::Controls;
use super::{CannedResponse, RequestPredicate};

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
