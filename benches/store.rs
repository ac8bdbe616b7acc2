//! The SQLite store: "commit 10,000 mapping updates in one cycle; report the time."
//!
//! Each benchmark runs against a file database (WAL, `synchronous = NORMAL`, as in production)
//! in a scratch directory, holding E existing contact pairs with realistic field prints, Salesforce
//! ids and 152-character Graph ids. Timed:
//! - `commit_10k_pair_updates`: one `commit_cycle` replacing 10,000 existing pairs (new versions,
//!   one changed print per side, new `synced_at`); nothing else in the commit.
//! - `commit_10k_updates_full_cycle`: what a cycle that wrote 10,000 updates commits: the 10,000
//!   pair updates, 10,000 audit entries, 10,000 resolved journal intents and both cursors.
//! - `pairs_by_record_10k`: loading the pairs of 10,000 mailbox record ids.
//! - `pair_count`: the live-pair count every cycle reads for the mass-delete guard.
//!
//! Run with `cargo bench --bench store`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::cell::Cell;

use divan::Bencher;
use divan::counter::ItemsCount;
use tandem_core::fields::FieldKey;
use tandem_core::model::ObjectKind;
use tandem_core::state::{Cursor, PairState, RecordId, Side};
use tandem_store::{AuditEntry, CycleCommit, Intent, SqliteStore, StateStore};

use support::{Scratch, Template};

/// Existing pairs in the database.
const EXISTING: [usize; 2] = [10_000, 100_000];

/// Pairs updated, or looked up, per call.
const BATCH: usize = 10_000;

const USER: &str = "ada@example.com";

const CONTACT: ObjectKind = ObjectKind::Contact;

struct Db {
    rt: tokio::runtime::Runtime,
    store: SqliteStore,
    templates: Vec<Template>,
    /// Which pairs a call updates or looks up: spread evenly over the existing ones.
    targets: Vec<usize>,
    _scratch: Scratch,
}

impl Drop for Db {
    fn drop(&mut self) {
        self.rt.block_on(self.store.close());
    }
}

fn db(existing: usize) -> Db {
    let rt = support::runtime();
    let scratch = Scratch::new(&format!("store-{existing}"));
    let store = rt.block_on(SqliteStore::open(scratch.path().join("state.db"))).expect("opening the store");
    let templates = support::templates();
    for start in (0..existing).step_by(50_000) {
        let pairs = (start..existing.min(start + 50_000)).map(|i| support::pair(i, &templates)).collect();
        let commit = CycleCommit { upsert_pairs: pairs, ..CycleCommit::default() };
        rt.block_on(store.commit_cycle(USER, CONTACT, commit)).expect("seeding pairs");
    }
    let batch = BATCH.min(existing);
    let targets = (0..batch).map(|k| k * existing / batch).collect();
    Db { rt, store, templates, targets, _scratch: scratch }
}

/// The targets' pairs after revision `rev`: both versions moved on, the title print changed on
/// both sides, synced later.
fn updated(d: &Db, rev: u64) -> Vec<PairState> {
    d.targets
        .iter()
        .map(|&i| {
            let mut p = support::pair(i, &d.templates);
            p.crm.version = support::crm_version(rev);
            p.mailbox.version = support::mailbox_version(i, rev);
            let title = rev ^ i as u64;
            p.crm.fields.insert(FieldKey::Title, title);
            p.mailbox.fields.insert(FieldKey::Title, title);
            p.synced_at = support::at(rev as i64);
            p
        })
        .collect()
}

#[divan::bench(args = EXISTING, sample_count = 20)]
fn commit_10k_pair_updates(bencher: Bencher<'_, '_>, existing: usize) {
    let d = db(support::scaled(existing, 100));
    let rev = Cell::new(0_u64);
    bencher
        .counter(ItemsCount::new(d.targets.len()))
        .with_inputs(|| {
            rev.set(rev.get() + 1);
            CycleCommit { upsert_pairs: updated(&d, rev.get()), ..CycleCommit::default() }
        })
        .bench_local_values(|commit| d.rt.block_on(d.store.commit_cycle(USER, CONTACT, commit)).expect("a commit"));
    // The updates landed.
    let last = updated(&d, rev.get());
    let stored = d.rt.block_on(d.store.pair(USER, CONTACT, &last[0].pair_id)).unwrap();
    assert_eq!(stored.as_ref(), Some(&last[0]));
}

#[divan::bench(args = EXISTING, sample_count = 20)]
fn commit_10k_updates_full_cycle(bencher: Bencher<'_, '_>, existing: usize) {
    let d = db(support::scaled(existing, 100));
    let rev = Cell::new(0_u64);
    bencher
        .counter(ItemsCount::new(d.targets.len()))
        .with_inputs(|| {
            rev.set(rev.get() + 1);
            let rev = rev.get();
            let pairs = updated(&d, rev);
            // The journal holds one intent per write before the writes are sent.
            let intents: Vec<Intent> = pairs
                .iter()
                .map(|p| Intent {
                    user: USER.into(),
                    object: CONTACT,
                    key: format!("update:mailbox:{}:{rev}", p.mailbox.id),
                    target: Side::Mailbox,
                    operation: tandem_store::JournalJson::to_json(
                        &serde_json::json!({ "pair": p.pair_id.as_str(), "fields": ["title"] }),
                    )
                    .unwrap(),
                    created_at: support::at(rev as i64),
                })
                .collect();
            d.rt.block_on(d.store.record_intents(&intents)).expect("recording intents");
            let audit = pairs
                .iter()
                .map(|p| AuditEntry {
                    at: support::at(rev as i64),
                    user: USER.into(),
                    object: CONTACT,
                    side: Some(Side::Mailbox),
                    record_id: Some(p.mailbox.id.clone()),
                    action: "update".into(),
                    outcome: "applied".into(),
                    reason: "crm changed [title]".into(),
                    detail: None,
                })
                .collect();
            CycleCommit {
                upsert_pairs: pairs,
                cursors: vec![
                    (Side::Crm, Some(Cursor(format!("2025-03-01T09:00:{:02}.000Z", rev % 60).into_bytes()))),
                    (Side::Mailbox, Some(Cursor(vec![b'd'; 600]))),
                ],
                resolved_intents: intents.into_iter().map(|i| i.key).collect(),
                audit,
                ..CycleCommit::default()
            }
        })
        .bench_local_values(|commit| d.rt.block_on(d.store.commit_cycle(USER, CONTACT, commit)).expect("a commit"));
    assert!(d.rt.block_on(d.store.pending_intents(USER)).unwrap().is_empty());
}

#[divan::bench(args = EXISTING, sample_count = 20)]
fn pairs_by_record_10k(bencher: Bencher<'_, '_>, existing: usize) {
    let d = db(support::scaled(existing, 100));
    let ids: Vec<RecordId> = d.targets.iter().map(|&i| support::mailbox_id(i)).collect();
    bencher.counter(ItemsCount::new(ids.len())).bench_local(|| {
        let pairs = d.rt.block_on(d.store.pairs_by_record(USER, CONTACT, Side::Mailbox, &ids)).expect("a lookup");
        assert_eq!(pairs.len(), ids.len());
        pairs
    });
}

#[divan::bench(args = EXISTING, sample_count = 50)]
fn pair_count(bencher: Bencher<'_, '_>, existing: usize) {
    let d = db(support::scaled(existing, 100));
    let n = d.rt.block_on(d.store.pair_count(USER, CONTACT)).unwrap();
    assert_eq!(n, support::scaled(existing, 100));
    bencher.bench_local(|| d.rt.block_on(d.store.pair_count(USER, CONTACT)).expect("a count"));
}

fn main() {
    divan::main();
}
