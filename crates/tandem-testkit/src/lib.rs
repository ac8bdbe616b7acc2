//! # tandem-testkit: fakes and data for Tandem's tests
//!
//! What lives here:
//! - [`server`]: fake provider servers for tests. A harness that serves an axum router on a
//!   loopback port ([`server::FakeServer`]), shared run-time switchable misbehaviour (request
//!   counters, throttling with `Retry-After`, injected failures, latency, a per-key concurrency
//!   cap: [`server::Controls`]), a [`server::Gate`] for deterministic request overlap, and the
//!   registry of named fakes ([`server::FakeSet`]). The Salesforce, Graph, EWS and Google fakes
//!   build on it.
//! - [`generate`]: deterministic, seedable generators of realistic contacts and events over the
//!   canonical model (many cultures and scripts, every phone slot, zones, all-day events,
//!   recurring series with exceptions), plus realistic edits.
//! - [`rng`]: the tiny seedable PRNG the generators use.
//! - [`faults`]: wrappers that make any connector misbehave the way networks do (an answer lost
//!   after the provider carried the writes out), for tests against real servers and fakes.
//! - [`hostile`]: proptest strategies for hostile input (nested JSON, odd strings, extreme
//!   numbers, provider-shaped objects mutated field by field) for the panic-safety tests.
//! - The `tandem-fakes` binary (`cargo run -p tandem-testkit --bin tandem-fakes -- [--only NAME]
//!   [--port-file PATH]`): every registered fake on its own loopback port until Ctrl-C/SIGTERM,
//!   for crash tests that run the sync in another process; with `--users N --records-per-user M`
//!   it seeds a many-user org and tenant ([`scale`]) for the scale benchmark.
//!
//! What must never live here: production code paths. Nothing in Tandem's library crates may
//! depend on this crate except as a dev-dependency, and nothing here may be needed to sync real
//! data. The fakes bind to loopback only and never talk to a real provider.

mod compact;
pub mod ews;
pub mod faults;
pub mod generate;
pub mod google;
pub mod graph;
pub mod hostile;
pub mod keys;
pub mod rng;
pub mod salesforce;
pub mod scale;
pub mod server;
