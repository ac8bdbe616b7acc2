//! Shared fixtures of the benchmarks: realistic contacts, the field prints the planner keeps for
//! them, provider-shaped ids and versions, and a scratch directory.
//!
//! Not every bench uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use tandem_core::capabilities::ObjectCapabilities;
use tandem_core::config::ObjectConfig;
use tandem_core::fields::fingerprint;
use tandem_core::model::{ObjectKind, Record};
use tandem_core::state::{FieldPrints, IdempotencyKey, PairState, RecordId, Side, SideState, Version};

/// Distinct generated contacts; larger sets reuse them under distinct ids.
pub(crate) const TEMPLATES: usize = 1_000;

/// The generator seed of every bench.
pub(crate) const SEED: u64 = 0x7A4D_E3B0;

/// True under `cargo bench` (divan's `--bench` without `--test`). Under `cargo test --benches`
/// divan runs every bench once as a smoke test, and the fixtures shrink so that stays quick.
pub(crate) fn full_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// `n` in a benchmark run, `n / 1000` (at least `min`) in a smoke test.
pub(crate) fn scaled(n: usize, min: usize) -> usize {
    if full_run() { n } else { (n / 1_000).max(min) }
}

/// A realistic contact, normalised as the planner sees it, with its field prints.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) record: Record,
    pub(crate) prints: FieldPrints,
}

/// The prints the planner records for a side that stores every contact field (both memory
/// connectors and the benches' capabilities): one entry per synced field, absent ones included.
pub(crate) fn prints_of(record: &Record) -> FieldPrints {
    let config = ObjectConfig::default();
    let caps = ObjectCapabilities::everything(ObjectKind::Contact);
    config
        .fields
        .synced(ObjectKind::Contact)
        .into_iter()
        .filter(|k| caps.supports(k))
        .map(|k| {
            let print = fingerprint(record.get(&k).as_ref());
            (k, print)
        })
        .collect()
}

/// [`TEMPLATES`] generated contacts (many cultures, every phone slot, notes, addresses).
pub(crate) fn templates() -> Vec<Template> {
    tandem_testkit::generate::contacts(SEED, TEMPLATES)
        .into_iter()
        .map(|c| {
            let mut record = Record::Contact(c);
            record.normalize();
            let prints = prints_of(&record);
            Template { record, prints }
        })
        .collect()
}

/// An 18-character Salesforce Contact id.
pub(crate) fn crm_id(i: usize) -> RecordId {
    RecordId::from(format!("003Hs{i:013}"))
}

/// A Microsoft Graph immutable id: 152 characters, like the real ones (Google's are shorter).
pub(crate) fn mailbox_id(i: usize) -> RecordId {
    const HEAD: &str = "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7TKBjgx9rVEURBwAiIsqMbYjsT5e-T7KzowPTAAAAAAEOAAAiIsqMbYjsT5e-T7Kzo";
    RecordId::from(format!("{HEAD}{i:016x}AAA="))
}

/// A Salesforce `SystemModstamp`.
pub(crate) fn crm_version(rev: u64) -> Version {
    Version::from(format!("2025-03-{:02}T09:{:02}:{:02}.000Z", 1 + rev % 28, rev / 60 % 60, rev % 60))
}

/// A Graph change key.
pub(crate) fn mailbox_version(i: usize, rev: u64) -> Version {
    Version::from(format!("CQAAABYAAAAiIsqMbYjsT5e+T7KzowPTAA{i:08x}{rev:04x}"))
}

/// A fixed instant.
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_760_000_000 + secs, 0).single().unwrap_or_default()
}

/// Mapped pair `i`: Salesforce id, Graph id, both sides holding template `i % TEMPLATES`.
pub(crate) fn pair(i: usize, templates: &[Template]) -> PairState {
    let t = &templates[i % templates.len()];
    let crm = crm_id(i);
    PairState {
        pair_id: IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &crm),
        object: ObjectKind::Contact,
        crm: SideState { id: crm, version: crm_version(0), fields: t.prints.clone() },
        mailbox: SideState { id: mailbox_id(i), version: mailbox_version(i, 0), fields: t.prints.clone() },
        synced_at: at(0),
        tombstone: None,
    }
}

/// A scratch directory under the temp dir, removed on drop.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("tandem-bench-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the scratch directory");
        Scratch(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// The size of the files in the directory, in bytes.
    pub(crate) fn size(&self) -> u64 {
        std::fs::read_dir(&self.0)
            .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A single-threaded runtime: the benches measure one cycle on one core (sqlx still runs each
/// SQLite connection on its own worker thread).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

/// A `VmRSS`-style line of `/proc/self/status`, in bytes (Linux only; 0 elsewhere).
pub(crate) fn proc_status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| {
                l.trim_start_matches(field)
                    .trim_start_matches(':')
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// Resets the peak resident set size (`VmHWM`) to the current one. Linux only; false if it failed.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes in MiB, for printing.
pub(crate) fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}
