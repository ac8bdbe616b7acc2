//! # tandem-core: the sans-IO heart of Tandem
//!
//! What lives here: the canonical model of contacts and events ([`model`]), field-level access
//! and fingerprints ([`fields`]), iCalendar and vCard interchange ([`interchange`]), sync state
//! ([`state`]), capabilities ([`capabilities`]), configuration ([`config`], [`filter`]),
//! validation ([`validate`]) and the planner ([`planner`]), which turns previous state plus both
//! sides' changes into a [`plan::Plan`].
//!
//! What must never live here: I/O of any kind. No sockets, files, clocks or randomness: time and
//! ids come in as arguments, so the same input always gives the same plan. No tokio, reqwest,
//! hyper or SQL anywhere in this crate's dependency tree.
//!
//! Crates chosen: `ical` parses iCalendar and vCard (the user's requirement); `rrule` validates
//! recurrence rules; `chrono-tz` resolves IANA zones; `xxhash-rust` gives the stable fingerprints
//! that the sync state keeps instead of record data; `hashbrown`'s `HashTable` (the standard
//! `HashMap`'s own table, with the hash and equality supplied per call) lets the packed
//! [`planner::PairIndex`] find a pair by an id stored only inside the pair's bytes, so no id is
//! kept twice.
//!
//! Panic safety: every parser here takes untrusted text, and none of them panics on it. Inputs
//! are checked before a third-party parser sees them where the check is exact, the calls into
//! `ical` and `rrule` are still contained with [`guard::contain`] (a caught panic becomes a typed
//! error), and numbers from outside meet chrono only through checked arithmetic. Connectors reuse
//! [`guard`] for the same purpose. Property tests (`tests/panic_safety.rs`) and the cargo-fuzz
//! targets in `crates/tandem-fuzz` hold the line.

mod byte_scan;
pub mod capabilities;
pub mod config;
pub mod fields;
pub mod filter;
pub mod guard;
pub mod interchange;
pub mod model;
mod pair_index;
pub mod plan;
pub mod planner;
pub mod rrule_parts;
pub mod state;
pub mod validate;
