//! Run-time switchable misbehaviour shared by every fake: counters, throttling, failures,
//! latency and a concurrency cap.
//!
//! Code map:
//! - `keys`: [`KeyFn`] and the functions that pick what a limit is per; [`RequestPredicate`].
//! - `canned`: [`CannedResponse`], the provider-shaped answer sent instead of the handler's.
//! - `limits`: [`RateLimit`] and [`ConcurrencyCap`].
//! - `chaos`: the chaos mode's [`Chaos`], [`ChaosRule`], [`Fault`], and the log's [`FaultRecord`].
//! - `state`: the shared mutable state behind the handle.
//! - `handle`: the [`Controls`] handle, [`Controls::wrap`] and the counters.
//! - `rules`: the switches that turn rules on and off.
//! - `admission`: the per-request decision.
//! - `middleware`: the axum middleware that applies it.

mod admission;
mod canned;
mod chaos;
mod handle;
mod keys;
mod limits;
mod middleware;
mod rules;
mod state;

pub use canned::CannedResponse;
pub use chaos::{Chaos, ChaosRule, Fault, FaultRecord};
pub use handle::Controls;
pub use keys::{KeyFn, RequestPredicate, header_key, key_fn, path_segment_after, whole_server};
pub use limits::{ConcurrencyCap, RateLimit};
