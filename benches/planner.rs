//! The planner on large mapped sets: "Plan 1,000,000 mapped pairs with 1% changed on each side:
//! target at least 2,000,000 records per second on one core; report peak memory per mapped pair."
//!
//! Fixtures (built outside the timed section): a [`PairIndex`] of N contact pairs, Salesforce ids
//! on one side and Graph-shaped ids on the other, whose field prints are those of 1,000 realistic
//! generated contacts (reused under distinct ids); 1% of the CRM records edited (one or two
//! fields each) and a different 1% of the mailbox records, a tenth of which are the same pairs
//! as CRM edits, so the planner also settles conflicts (field merge, the default policy).
//!
//! Run with `cargo bench --bench planner`. Besides divan's table, `main` prints the memory
//! figures once (resident-set deltas read from `/proc/self/status`). The global allocator is
//! divan's `AllocProfiler`, a counting wrapper around `System`, so divan's table also shows the
//! exact heap bytes each benchmark allocates and holds at most ("max alloc"). A hand-written
//! counting allocator is not possible here: `unsafe impl GlobalAlloc` is unsafe code, which the
//! workspace forbids (`unsafe_code = "forbid"` reaches every target, benches included).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use divan::counter::ItemsCount;
use divan::{AllocProfiler, Bencher};
use tandem_core::capabilities::ObjectCapabilities;
use tandem_core::config::ObjectConfig;
use tandem_core::model::{ObjectKind, Record};
use tandem_core::plan::{Action, Plan};
use tandem_core::planner::{PairIndex, PlanInput, SideInput, plan};
use tandem_core::state::{Change, ChangeKind};

use support::Template;

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

/// Mapped pairs per benchmark.
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

/// One change in this many pairs, on each side.
const CHANGE_EVERY: usize = 100;

/// One mailbox change in this many lands on a pair whose CRM record changed too.
const OVERLAP_EVERY: usize = 10;

/// A planner workload: the pairs and both sides' changes.
struct Scenario {
    pairs: PairIndex,
    crm: Vec<Change>,
    mailbox: Vec<Change>,
    /// Pairs changed on both sides.
    overlapping: usize,
    config: ObjectConfig,
    caps: ObjectCapabilities,
}

impl Scenario {
    fn input(&self) -> PlanInput<'_> {
        PlanInput {
            object: ObjectKind::Contact,
            config: &self.config,
            pairs: &self.pairs,
            mapped_pairs: self.pairs.len(),
            crm: SideInput { changes: &self.crm, capabilities: &self.caps },
            mailbox: SideInput { changes: &self.mailbox, capabilities: &self.caps },
            now: support::at(3_600),
            release_held_deletes: false,
            approved_deletes: &tandem_core::planner::NO_APPROVED_DELETES,
            mailbox_owner: None,
        }
    }

    fn changed_records(&self) -> usize {
        self.crm.len() + self.mailbox.len()
    }
}

/// Template `i`'s contact after a user edited one or two fields of it on one side.
fn edited(templates: &[Template], i: usize, side_seed: u64) -> Record {
    let Record::Contact(mut c) = templates[i % templates.len()].record.clone() else {
        unreachable!("the templates are contacts")
    };
    tandem_testkit::generate::edit_contact(side_seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15), &mut c);
    Record::Contact(c)
}

/// 1% of the CRM records edited, and a different 1% of the mailbox records, a tenth of them on
/// pairs whose CRM record was edited too. Returns (crm, mailbox, overlapping pairs).
fn changes(n: usize, templates: &[Template]) -> (Vec<Change>, Vec<Change>, usize) {
    let per_side = n / CHANGE_EVERY;
    let mut crm = Vec::with_capacity(per_side);
    let mut mailbox = Vec::with_capacity(per_side);
    let mut overlapping = 0;
    for k in 0..per_side {
        let i = k * CHANGE_EVERY;
        crm.push(Change {
            id: support::crm_id(i),
            version: support::crm_version(1),
            modified_at: Some(support::at(60)),
            sync_key: None,
            kind: ChangeKind::Upserted { record: edited(templates, i, support::SEED ^ 1) },
        });
        let j = if k % OVERLAP_EVERY == 0 {
            overlapping += 1;
            i
        } else {
            i + CHANGE_EVERY / 2
        };
        mailbox.push(Change {
            id: support::mailbox_id(j),
            version: support::mailbox_version(j, 1),
            modified_at: Some(support::at(120)),
            sync_key: None,
            kind: ChangeKind::Upserted { record: edited(templates, j, support::SEED ^ 2) },
        });
    }
    (crm, mailbox, overlapping)
}

fn index(n: usize, templates: &[Template]) -> PairIndex {
    PairIndex::new((0..n).map(|i| support::pair(i, templates)))
}

fn build(n: usize) -> Scenario {
    let templates = support::templates();
    let (crm, mailbox, overlapping) = changes(n, &templates);
    Scenario {
        pairs: index(n, &templates),
        crm,
        mailbox,
        overlapping,
        config: ObjectConfig::default(),
        caps: ObjectCapabilities::everything(ObjectKind::Contact),
    }
}

/// Scenarios are built once per size and shared by the benches (the 1,000,000-pair one takes
/// seconds to build).
static SCENARIOS: LazyLock<Mutex<HashMap<usize, Arc<Scenario>>>> = LazyLock::new(Default::default);

fn scenario(n: usize) -> Arc<Scenario> {
    let mut cache = SCENARIOS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    cache
        .entry(n)
        .or_insert_with(|| {
            let s = Arc::new(build(n));
            check(&s, &plan(&s.input()));
            s
        })
        .clone()
}

/// The plan does what the scenario means: every change lands on its pair (nothing is created,
/// linked or quarantined) and produces writes.
fn check(s: &Scenario, p: &Plan) {
    let counts = p.counts();
    for unexpected in ["create", "link", "quarantine", "skip", "hold_delete"] {
        assert_eq!(counts.get(unexpected), None, "{unexpected} in a plan of edits to mapped pairs: {counts:?}");
    }
    let updates = counts.get("update").copied().unwrap_or(0);
    // A pair edited on both sides may need no write at all (the same edit made twice).
    assert!(updates >= s.changed_records() - 2 * s.overlapping, "too few updates: {counts:?}");
    assert!(p.states.len() >= s.changed_records() - s.overlapping, "too few pair states: {}", p.states.len());
}

mod plan_1pct_changed {
    use super::*;

    /// Throughput over the mapped set: N pairs per plan() call, 99% of them untouched.
    #[divan::bench(args = SIZES, sample_count = 30)]
    fn per_mapped_pair(bencher: Bencher<'_, '_>, n: usize) {
        let s = scenario(support::scaled(n, 200));
        let input = s.input();
        bencher.counter(ItemsCount::new(s.pairs.len())).bench_local(|| plan(divan::black_box(&input)));
    }

    /// The same work counted per changed record (both sides' changes): what plan() really
    /// processes.
    #[divan::bench(args = SIZES, sample_count = 30)]
    fn per_changed_record(bencher: Bencher<'_, '_>, n: usize) {
        let s = scenario(support::scaled(n, 200));
        let input = s.input();
        bencher.counter(ItemsCount::new(s.changed_records())).bench_local(|| plan(divan::black_box(&input)));
    }
}

/// Building the index (not part of plan(): the engine loads only the pairs a cycle's changes
/// touch). Here for its allocation profile: with the counting allocator, divan's "alloc" minus
/// "dealloc" bytes is the heap the index holds, and "max alloc" its peak while growing.
#[divan::bench(args = [100_000, 1_000_000], sample_count = 3, sample_size = 1)]
fn pair_index_build(bencher: Bencher<'_, '_>, n: usize) {
    let n = support::scaled(n, 100);
    let templates = support::templates();
    bencher.counter(ItemsCount::new(n)).bench_local(|| index(n, &templates));
}

/// Memory and one timed run at 1,000,000 pairs, printed once.
fn report(n: usize) {
    let templates = support::templates();
    let (crm, mailbox, overlapping) = changes(n, &templates);
    let rss_before = support::proc_status_bytes("VmRSS");
    let pairs = index(n, &templates);
    let rss_index = support::proc_status_bytes("VmRSS").saturating_sub(rss_before);
    let s = Scenario {
        pairs,
        crm,
        mailbox,
        overlapping,
        config: ObjectConfig::default(),
        caps: ObjectCapabilities::everything(ObjectKind::Contact),
    };
    let input = s.input();
    let peak_known = support::reset_peak_rss();
    let rss_base = support::proc_status_bytes("VmRSS");
    let started = Instant::now();
    let p = plan(&input);
    let elapsed = started.elapsed().as_secs_f64();
    let rss_peak = support::proc_status_bytes("VmHWM").saturating_sub(rss_base);
    check(&s, &p);
    let counts = p.counts();
    let changed = s.changed_records();
    println!(
        "planner, {n} mapped contact pairs; {} CRM and {} mailbox changes (1% of each side), {overlapping} pairs changed on both sides",
        s.crm.len(),
        s.mailbox.len()
    );
    println!(
        "  PairIndex: {:.0} MiB resident = {:.0} bytes per mapped pair (VmRSS delta: pair states, field prints, ids, three hash maps, allocator overhead)",
        support::mib(rss_index as f64),
        rss_index as f64 / n as f64
    );
    if peak_known {
        println!(
            "  plan(): peak resident memory above the index and inputs {:.1} MiB = {:.1} bytes per mapped pair = {:.0} bytes per changed record",
            support::mib(rss_peak as f64),
            rss_peak as f64 / n as f64,
            rss_peak as f64 / changed as f64
        );
    } else {
        println!("  plan(): peak resident memory unknown (cannot reset VmHWM through /proc/self/clear_refs)");
    }
    println!(
        "  one plan() run (cold): {:.1} ms = {:.2} M mapped pairs/s = {:.0} k changed records/s; plan: {counts:?}",
        elapsed * 1e3,
        n as f64 / elapsed / 1e6,
        changed as f64 / elapsed / 1e3
    );
    println!(
        "  the 2,000,000 records/s target is read as mapped pairs per second (N / time, divan's plan_1pct_changed::per_mapped_pair); \
         plan() only reads the {changed} changed records and looks their pairs up, so per_changed_record is the rate of real work"
    );
    println!(
        "  divan: \"max alloc\" is the heap peak of one call, counted by the allocator; pair_index_build's alloc - dealloc is the index's heap"
    );
    let writes = p.operations.iter().filter(|o| matches!(o.action, Action::Update { .. })).count();
    assert!(writes > 0);
}

fn main() {
    if support::full_run() {
        report(1_000_000);
    } else {
        report(support::scaled(1_000_000, 1_000));
    }
    divan::main();
}
