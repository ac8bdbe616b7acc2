//! An engine cycle with nothing to do: "A cycle with no changes over 1,000,000 mapped pairs: its
//! cost must not grow with the number of pairs."
//!
//! Each size gets its own SQLite file in a scratch directory and two `MemoryConnector`s holding
//! the same N realistic contacts. Syncing N pairs into existence through the engine would take
//! too long at a million, so the state is seeded the way a first sync would leave it, straight
//! through `commit_cycle`: both feeds are read to their end once (their final cursors are
//! committed), and pair i links the i-th record of each side with the versions the feeds reported
//! and the field prints the planner records. Before timing, one edit is synced through the seeded
//! pairs (proving they are the ones the engine would have made), its echo is read back, and a
//! quiet cycle is checked; every timed cycle then asserts it read no change.
//!
//! Two connector set-ups per size, over the same store:
//! - `no_change_cycle::memory_connectors`: the two `MemoryConnector`s as they are. Their
//!   no-change pull scans the whole change log of the test double (N entries), so this grows
//!   with N for a reason outside the engine and the store; `memory_connector_pull_at_end` times
//!   that pull on its own.
//! - `no_change_cycle::quiet_feeds`: the same connectors behind a wrapper whose pull from a saved
//!   cursor answers "no change" at once, as a provider's delta feed does when nothing changed.
//!   Everything else (recovery, cursors, refetch queue, quarantine, pair count, planning,
//!   commit, status) runs as usual: this is the engine's and the store's own cost.
//!
//! Run with `cargo bench --bench cycle`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use divan::Bencher;
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::{ObjectKind, Record};
use tandem_core::state::{Change, Cursor, IdempotencyKey, PairState, RecordId, Side, SideState, Version};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, SyncReport, UserSync};
use tandem_store::{CycleCommit, SqliteStore, StateStore};

use support::Scratch;

/// The `tandem` binary's allocator (`crates/tandem-service/src/main.rs`): this process stands for it.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Mapped pairs per benchmark.
const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

const USER: &str = "ada@example.com";

const CONTACT: ObjectKind = ObjectKind::Contact;

/// Pairs per seeding commit.
const SEED_CHUNK: usize = 50_000;

/// The feeds' page size while seeding (a full listing skips to its position on every page).
const SEED_PAGE: usize = 10_000;

/// A quiet provider whose delta feed costs the same however many records it holds: the memory
/// connector for everything, except that a pull from a saved cursor reports no change without
/// reading the connector's change log. Only for cycles known to have nothing to read.
struct QuietFeed(MemoryConnector);

#[async_trait::async_trait]
impl Connector for QuietFeed {
    fn provider(&self) -> &str {
        self.0.provider()
    }

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    fn connection(&self) -> ConnectionInfo {
        self.0.connection()
    }

    async fn identity(&self) -> Result<Identity, ConnectorError> {
        self.0.identity().await
    }

    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        match cursor {
            Some(cursor) => Ok(PullPage { changes: Vec::new(), cursor: cursor.clone(), done: true }),
            None => self.0.pull(object, None).await,
        }
    }

    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        self.0.fetch(object, ids).await
    }

    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        self.0.apply(object, ops).await
    }

    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.0.find_by_key(object, key).await
    }
}

/// A user with N mapped contact pairs and nothing changed since the last cycle.
struct World {
    rt: tokio::runtime::Runtime,
    store: SqliteStore,
    engine: Engine,
    /// The user's job over the memory connectors.
    job: UserSync,
    /// The same connectors behind [`QuietFeed`].
    quiet: UserSync,
    /// The CRM side, for edits.
    crm: MemoryConnector,
    // Last: the directory goes after the store has closed.
    _scratch: Scratch,
}

impl Drop for World {
    fn drop(&mut self) {
        self.rt.block_on(self.store.close());
    }
}

/// Reads a feed from scratch to its end: the records' (id, version) by insertion order, and the
/// cursor to keep.
async fn read_feed(c: &MemoryConnector, n: usize) -> (Vec<Option<(RecordId, Version)>>, Cursor) {
    let mut seen = vec![None; n];
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = c.pull(CONTACT, cursor.as_ref()).await.expect("pulling the feed");
        for change in page.changes {
            // Memory ids are `<provider>-c<insertion number from 1>`.
            let number: usize = change.id.0.rsplit_once("-c").and_then(|(_, n)| n.parse().ok()).expect("a memory id");
            seen[number - 1] = Some((change.id, change.version));
        }
        cursor = Some(page.cursor);
        if page.done {
            return (seen, cursor.unwrap_or_default());
        }
    }
}

fn world(n: usize) -> World {
    let started = Instant::now();
    let rt = support::runtime();
    let scratch = Scratch::new(&format!("cycle-{n}"));
    let templates = support::templates();
    let crm = MemoryConnector::new("crm").with_page_size(SEED_PAGE);
    let mailbox = MemoryConnector::new("mailbox").with_page_size(SEED_PAGE);
    for i in 0..n {
        let record = &templates[i % templates.len()].record;
        crm.insert(record.clone());
        mailbox.insert(record.clone());
    }
    let store = rt.block_on(SqliteStore::open(scratch.path().join("state.db"))).expect("opening the store");
    let (crm_seen, crm_cursor) = rt.block_on(read_feed(&crm, n));
    let (mailbox_seen, mailbox_cursor) = rt.block_on(read_feed(&mailbox, n));
    let synced_at = support::at(0);
    let mut pairs = crm_seen.into_iter().zip(mailbox_seen).enumerate().map(|(i, (c, m))| {
        let ((crm_id, crm_version), (mailbox_id, mailbox_version)) =
            (c.expect("crm record"), m.expect("mailbox record"));
        let prints = &templates[i % templates.len()].prints;
        PairState {
            pair_id: IdempotencyKey::derive(CONTACT, Side::Crm, &crm_id),
            object: CONTACT,
            crm: SideState { id: crm_id, version: crm_version, fields: prints.clone() },
            mailbox: SideState { id: mailbox_id, version: mailbox_version, fields: prints.clone() },
            synced_at,
            tombstone: None,
        }
    });
    loop {
        let chunk: Vec<PairState> = pairs.by_ref().take(SEED_CHUNK).collect();
        let last = chunk.len() < SEED_CHUNK;
        let commit = CycleCommit {
            upsert_pairs: chunk,
            cursors: if last {
                vec![(Side::Crm, Some(crm_cursor.clone())), (Side::Mailbox, Some(mailbox_cursor.clone()))]
            } else {
                Vec::new()
            },
            ..CycleCommit::default()
        };
        rt.block_on(store.commit_cycle(USER, CONTACT, commit)).expect("seeding pairs");
        if last {
            break;
        }
    }
    let seeded = started.elapsed();
    assert_eq!(rt.block_on(store.pair_count(USER, CONTACT)).unwrap(), n);

    let engine = Engine::new(Arc::new(store.clone()));
    let job = UserSync::new(USER, SyncConfig::named("bench"), Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    let sync = || rt.block_on(engine.sync_user(&job, &SyncOptions::default())).expect("a cycle");

    // The seeded state is what the engine expects: a quiet cycle (it also reads the empty event
    // feeds for the first time), one CRM edit written through to the right mailbox record, its
    // echo recognised, and quiet again.
    let first = sync();
    assert_eq!(pulled(&first, CONTACT), 0, "{first}");
    let edited = RecordId::from(format!("crm-c{:06}", n / 2 + 1));
    assert!(crm.edit(CONTACT, &edited, |r| if let Record::Contact(c) = r {
        c.title = Some("Chief Benchmark Officer".into());
    }));
    let edit = sync();
    let contacts = edit.object(CONTACT).expect("a contact report");
    assert_eq!((contacts.applied("update"), contacts.applied("create")), (1, 0), "{edit}");
    let written = mailbox.get(CONTACT, &RecordId::from(format!("mailbox-c{:06}", n / 2 + 1)));
    assert!(matches!(written, Some(Record::Contact(c)) if c.title.as_deref() == Some("Chief Benchmark Officer")));
    let echo = sync();
    assert_eq!(echo.object(CONTACT).map(|o| o.echoes_suppressed), Some(1), "{echo}");
    assert!(quiet(&sync()));
    notes().push(format!(
        "world({n}): seeded in {:.1} s (not timed); database {:.0} MiB",
        seeded.as_secs_f64(),
        support::mib(scratch.size() as f64)
    ));
    let quiet =
        UserSync::new(USER, SyncConfig::named("bench"), Arc::new(QuietFeed(crm.clone())), Arc::new(QuietFeed(mailbox)));
    World { rt, store, engine, job, quiet, crm, _scratch: scratch }
}

/// Worlds by size, shared by the benches (seeding a million pairs takes about a minute) and
/// dropped, with their directories, at the end of `main`.
fn worlds() -> MutexGuard<'static, Vec<(usize, Arc<World>)>> {
    static WORLDS: Mutex<Vec<(usize, Arc<World>)>> = Mutex::new(Vec::new());
    WORLDS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn world_of(n: usize) -> Arc<World> {
    let n = support::scaled(n, 50);
    let mut cache = worlds();
    if let Some((_, w)) = cache.iter().find(|(size, _)| *size == n) {
        return w.clone();
    }
    let w = Arc::new(world(n));
    cache.push((n, w.clone()));
    w
}

fn pulled(report: &SyncReport, object: ObjectKind) -> usize {
    report.object(object).map_or(0, |o| o.pulled.values().sum())
}

/// Nothing read, planned or written.
fn quiet(report: &SyncReport) -> bool {
    report.objects.iter().all(|o| o.pulled.values().all(|n| *n == 0) && o.planned.is_empty() && o.applied.is_empty())
}

/// One `Engine::sync_user` (contacts and events) over N mapped contact pairs, nothing changed.
mod no_change_cycle {
    use super::*;

    fn run(bencher: Bencher<'_, '_>, w: &World, job: &UserSync) {
        let options = SyncOptions::default();
        bencher.bench_local(|| {
            let report = w.rt.block_on(w.engine.sync_user(job, &options)).expect("a cycle");
            assert!(quiet(&report), "{report}");
            report
        });
    }

    /// Over the memory connectors, whose no-change pull scans their whole change log.
    #[divan::bench(args = SIZES, sample_count = 50)]
    fn memory_connectors(bencher: Bencher<'_, '_>, n: usize) {
        let w = world_of(n);
        run(bencher, &w, &w.job);
    }

    /// Over connectors whose no-change pull costs nothing: the engine and the store alone.
    #[divan::bench(args = SIZES, sample_count = 50)]
    fn quiet_feeds(bencher: Bencher<'_, '_>, n: usize) {
        let w = world_of(n);
        run(bencher, &w, &w.quiet);
    }
}

/// A whole cycle with changes, per change: a user with 10,000 mapped contact pairs whose CRM
/// side had K of them edited (see below). Measured 2026-12-06 with the binaries before and after
/// the day's second round alternated six times (`--bench changed_cycle`, divan's medians; the
/// machine was slower and noisier than on the morning's runs, so compare within a row):
///
/// | K      | before           | after            |
/// |--------|------------------|------------------|
/// | 1,000  | 96–127 ms        | 79–93 ms         |
/// | 10,000 | 1.08–1.38 s      | 0.95–1.14 s      |
///
/// That is about 10.5–12.5 k changes per second at K = 1,000, not the 50 k. What changed:
/// the planner's cost per change (`benches/planner.rs`); field prints stored packed, about a third
/// of the JSON, so a commit writes and a load decodes less; the WAL checkpointed by a background
/// task, not by the commit that crossed 1,000 pages (the commit's own `COMMIT` went from about
/// 11 ms to about 4 ms at K = 1,000). At K = 1,000 a commit is now about 12 ms of pair updates
/// (SQLite itself needs about 5.5 ms for the same 1,000 batched updates from Python's `sqlite3`;
/// the rest is sqlx's argument handling and its worker thread), 5 ms of journal resolution, 4 ms
/// of audit rows and 4 ms of `COMMIT`; reading is the memory connectors' copies and the pair
/// loads, writing is journaling with `synchronous = FULL` (one flush) and applying.
///
/// Counted on 2026-12-07 with `valgrind --tool=callgrind <cycle bench binary> --bench changed_cycle
/// --sample-count 2` (instructions are deterministic where this machine's wall times vary by a
/// third from run to run), the binaries of the day's start and end: the engine's cycles
/// (`Cycle::run`, the calling thread, SQLite's worker thread not included) 5.16 billion
/// instructions before, 4.73 after (−8%); of that, loading the touched pairs 1.24 → 1.00 billion
/// (prints read back are no longer sorted again), the commit 1.25 → 1.00 billion (prints encoded
/// without a binary search per field; new pairs bound once), journaling and sending 1.19 → 1.10
/// billion. The whole process (seeding included) 11.09 → 10.25 billion.
///
/// Counted again on 2026-12-07 (tenth session, same command), the binaries of the session's start
/// and end: `Cycle::run` 4.587 → 4.218 billion instructions (−8.0%), the whole process 10.36 →
/// 9.57 billion. What changed: a journal entry holds its next state's prints packed (an update's
/// entry 1.6 KB → about 0.9 KB, and `JournalJson::to_json` 557 → 518 million: the packing costs
/// about what the JSON objects did, the gain is in bytes); a pair is decoded from the row's text
/// in place, its prints collected by comparing codes (`rows::pair` 779 → 563 million), and
/// upserted without a `RETURNING` row per pair (the commit 1.04 → 0.86 billion). Wall time, the
/// two binaries alternated twice, `--sample-count 12`, medians: K = 10,000 in 805–922 ms before
/// and 720–772 ms after (−11 to −16%); K = 1,000 in 69–90 ms before and 61–66 ms after. Still
/// about 13–14 k changes per second, not 50 k: per change, about 200,000 instructions remain on
/// the engine's thread and SQLite's (glibc's `malloc` and `free` are about a third of them; a
/// faster allocator's effect is in `docs/operations.md`, "Allocator"). SQLite alone needs 8.5–15 µs per pair to update 1,000 or 10,000 of
/// 10,000 such rows in one transaction (Python's `sqlite3`, `executemany` of the same upsert, same
/// table, indexes and 512 KiB page cache; the low end with keys in order or a 64 MiB cache), of
/// the 20 µs per change that 50 k changes per second allows for everything; a change also writes
/// and deletes a journal row and appends an audit row.
///
/// Counted again later that day (eleventh session, same command), after ids became shared text
/// (`Arc<str>`) and the planner's fourth round (`benches/planner.rs`): `Cycle::run` 4.235 → 3.944
/// billion instructions (−6.9%; the session's starting binary counted 4.235 on this run, against
/// 4.218 the session before), the whole process 9.61 → 9.23 billion. Wall time did not show it
/// that hour: the two binaries alternated twice, `--sample-count 12`, medians 888–984 ms before
/// and 981–1,020 ms after at K = 10,000 (fastest samples 789–892 and 760–832 ms), with the host
/// moving the same binary by a tenth or more between runs.
///
/// Counted again on 2026-12-07 (fifteenth session, same command), after SQLite began keeping a
/// pair's prints as bytes (schema version 11: no base64 for the pairs a cycle loads and commits)
/// and the codec found stored codes by a field's place and built prints read back in order:
/// `Cycle::run` 3.909 → 3.533 billion instructions (−9.6%), SQLite's worker thread 3.715 → 3.646
/// billion (−1.9%), the whole process 9.144 → 8.582 billion (−6.1%). Of that, encoding prints
/// for the commit 483 → 126 million, decoding them for the pair loads 407 → 195 million (the
/// codes alone, before the bytes: 436 and 368 million). The seeded database of 10,000 pairs
/// takes 7 MiB instead of 9. Wall time, the two binaries alternated twice, `--sample-count 12`,
/// medians: K = 10,000 in 987 and 811 ms before, 852 and 734 ms after; K = 1,000 in 68.5 and
/// 61.1 ms before, 66.4 and 55.9 ms after. Then the policy read an update's target privacy from
/// the packed pair in place (`PairIndex::field_print`) rather than decoding the pair:
/// `Cycle::run` 3.533 → 3.472 billion (−1.7%; −11.2% for the session). Still about 12–14 k
/// changes per second, not 50 k: SQLite's thread alone runs about 165,000 instructions per
/// change, and `malloc` and `free` are over a quarter of all of them.
///
/// Then the allocator (2026-12-07, sixteenth session): this benchmark allocates with jemalloc, as
/// the `tandem` binary now does (`docs/operations.md`, "Allocator"), SQLite included. Same code,
/// the two allocators' binaries: `Cycle::run` 3.497 → 2.989 billion instructions (−14.5%),
/// SQLite's worker thread 3.668 → 3.371 billion (−8.1%), the whole process 8.566 → 7.467 billion.
/// Wall time, alternated twice, `--sample-count 10`, medians: K = 10,000 in 848 and 855 ms with
/// glibc's allocator, **624 and 634 ms** with jemalloc (slowest samples 926–940 ms against
/// 646–688 ms); K = 1,000 in 60.9 and 60.5 ms against 54.3 and 53.4 ms. About 16 k changes per
/// second: still not 50 k.
///
/// The cycle: a user with 10,000 mapped contact pairs whose CRM
/// side had K of them edited (a new title each), synced by `Engine::sync_user`: pull (the memory
/// connector's records are copied out, its zero-latency stand-in for decoding), load the pairs,
/// plan, policy, journal every write, apply (memory connector, batches of its `max_batch`),
/// settle and commit. Each timed cycle also reads the echoes of the previous one's writes.
/// Divan's time over K is the cost per changed record.
#[divan::bench(args = [1_000, 10_000], sample_count = 5, sample_size = 1)]
fn changed_cycle(bencher: Bencher<'_, '_>, k: usize) {
    // A world of its own: the cycles leave echoes behind, which the quiet benches must not see.
    let n = support::scaled(10_000, 50);
    let w = world(n);
    let k = k.min(n);
    let crm = w.crm.clone();
    // Across benches and samples: every round writes titles never written before.
    static ROUND: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    bencher
        .with_inputs(|| {
            let round = ROUND.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            for i in 0..k {
                let id = RecordId::from(format!("crm-c{:06}", i + 1));
                let title = format!("Title {round}-{i}");
                assert!(crm.edit(CONTACT, &id, |r| if let Record::Contact(c) = r {
                    c.title = Some(title);
                }));
            }
        })
        .bench_local_values(|()| {
            let report = w.rt.block_on(w.engine.sync_user(&w.job, &SyncOptions::default())).expect("a cycle");
            let contacts = report.object(CONTACT).expect("a contact report");
            assert_eq!(contacts.applied("update"), k, "{report}");
            let p = contacts.phases;
            notes().push(format!(
                "changed_cycle({k}): read {:.0} ms, plan {:.0} ms, write {:.0} ms, commit {:.0} ms",
                p.read_us as f64 / 1e3,
                p.plan_us as f64 / 1e3,
                p.write_us as f64 / 1e3,
                p.commit_us as f64 / 1e3
            ));
            report
        });
}

/// `MemoryConnector::pull` at the end of a feed of N records: the test double scans its whole
/// change log for entries after the cursor, so this part of a cycle grows with N.
#[divan::bench(args = SIZES, sample_count = 50)]
fn memory_connector_pull_at_end(bencher: Bencher<'_, '_>, n: usize) {
    let n = support::scaled(n, 50);
    let rt = support::runtime();
    let templates = support::templates();
    // One page holds the whole listing, which ends with the cursor to keep.
    let c = MemoryConnector::new("crm").with_page_size(n + 1);
    for i in 0..n {
        c.insert(templates[i % templates.len()].record.clone());
    }
    let listing = rt.block_on(c.pull(CONTACT, None)).expect("a listing");
    assert!(listing.done && listing.changes.len() == n);
    let cursor = listing.cursor;
    drop(listing.changes);
    bencher.bench_local(|| {
        let page = rt.block_on(c.pull(CONTACT, Some(&cursor))).expect("a page");
        assert!(page.changes.is_empty());
        page
    });
}

/// Lines printed after divan's table (printing while it runs would break its rows).
fn notes() -> std::sync::MutexGuard<'static, Vec<String>> {
    static NOTES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    NOTES.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn main() {
    divan::main();
    for line in notes().iter() {
        println!("{line}");
    }
    // Close the stores and remove their directories.
    worlds().clear();
}
