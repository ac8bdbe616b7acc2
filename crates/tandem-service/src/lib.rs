//! # tandem-service: Tandem as a program you run
//!
//! What lives here: the `tandem` command ([`cli`]: `check`, `sync`, `status`, `reset`,
//! `audit`, `held`, `quarantine`, `run`), the configuration file `tandem.toml` ([`config`]: its
//! format, its validation with file and line, and its mapping onto the engine's
//! [`tandem_engine::config::TandemConfig`]), the [`factory`] that builds each user's connectors
//! from the file's connections through the connector crates' builders, the output of commands
//! for people and for machines ([`output`]), the documented exit codes ([`exit`]), the
//! long-running mode ([`run`]: the scheduler, `/healthz`, `/metrics` and the listener), what it
//! knows while running ([`live`]), and the administrator's status page ([`web`]).
//!
//! What must never live here: sync decisions (the planner in `tandem-core` and the engine make
//! them), provider specifics (the connector crates and their builders know them), or state of
//! its own (everything Tandem remembers is in the store). This crate reads a file, builds
//! connectors, calls the engine and prints what it answers.
//!
//! The `tandem` binary allocates with jemalloc (`tikv-jemallocator`, the `jemalloc` feature, on by
//! default; SQLite's allocations too). Chosen because a cycle allocates and frees small objects
//! at a high rate on several threads: with glibc's allocator, `malloc` and `free` were over a
//! quarter of a cycle's instructions, and with jemalloc a cycle of 10,000 changes took a quarter
//! less time for the same peak memory (mimalloc, the other candidate, nearly doubled a first
//! sync's peak memory). Figures and tuning: `docs/operations.md`, "Allocator".
//!
//! Secrets never appear in the file: every secret is a reference, `{ env = "VAR" }` or
//! `{ file = "/path" }`, and inline values are refused naming the key. See `docs/service.md`.

pub mod cli;
pub mod config;
pub mod exit;
pub mod factory;
pub mod live;
pub mod output;
pub mod run;
pub mod web;
