//! Issue 15, head to head: vdirsyncer and Tandem syncing the same two vdir folders.
//!
//! Method. 10,000 generated events (deterministic: 10% weekly series with an override and an
//! exclusion, 15% all-day, up to four attendees, non-ASCII text in most fields) are written as
//! `.ics` files into folder A; folder B is empty. Two identical copies of A/B are made, one per
//! tool. Each tool then runs three times, each run a separate process with its state on disk:
//!
//! 1. **first sync** (A → B, 10,000 creates);
//! 2. **incremental**, after the same 100 edits (new `SUMMARY`) on both copies of A;
//! 3. **no change**.
//!
//! - **vdirsyncer** 0.21.0 from `target/clients-venv` (`.ci/clients-setup` installs it): a
//!   generated config with two `filesystem` storages (`collections = null`,
//!   `conflict_resolution = "a wins"`) and `status_path` in the scratch directory;
//!   `vdirsyncer discover` once before the first run (not timed), then `vdirsyncer sync`.
//! - **Tandem**: this bench binary re-executes itself (`std::env::current_exe()`) with the hidden
//!   argument `--tandem-sync-child`, which runs one `Engine::sync_user` over two
//!   `tandem_dav::vdir::VdirConnector`s with `SqliteStore` state on disk (the code of
//!   `examples/vdir.rs`), so Tandem is built with the same (bench) profile.
//! - Wall time is measured around the child; peak RSS is the child's maximum resident set size
//!   from `/usr/bin/time -v` (the kernel's `wait4` accounting) when present, otherwise by polling
//!   `VmHWM` in `/proc/<pid>/status` every millisecond (which can miss a last-moment peak).
//! - Tandem flushes every file it writes (`fsync`, its default); vdirsyncer 0.21 does not.
//!   `TANDEM_BENCH_FSYNC=0` runs Tandem with `VdirConfig::fsync` off, the same durability as
//!   vdirsyncer's; `TANDEM_BENCH_FLUSH_FS=1` with `VdirConfig::flush_file_system` on (one
//!   `syncfs` per batch instead of one `fsync` per file).
//! - After each run the bench checks the result (10,000 files in B, the edited summaries), so a
//!   fast but wrong run cannot pass.
//!
//! Under `cargo test --benches` (the CI smoke run) it shrinks to 200 events, and skips vdirsyncer
//! with a loud message when it is not installed (it fails instead when `CI` is set).
//! Then the same three runs with 2,000 events from a vdir folder to a Radicale calendar (module
//! `radicale`).
//!
//! Run: `cargo bench --bench dav_vs_vdirsyncer --features dav` (`TANDEM_BENCH_RADICALE=0` for
//! the folder runs alone). The scratch directory is under `std::env::temp_dir()`, so `TMPDIR`
//! pointing at a RAM disk (`mount -t tmpfs`) runs both tools with their files and state in memory,
//! which separates what the disk costs from what each tool costs. Results: see
//! `docs/connectors/dav.md` ("Head to head with vdirsyncer").

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "dav_vs_vdirsyncer/radicale.rs"]
mod radicale;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeDelta};
use tandem::core::config::{ForeignOrganizers, ObjectConfig};
use tandem::core::interchange::write_icalendar;
use tandem::core::model::{
    Attendee, AttendeeRole, Event, EventTime, EventTiming, OccurrenceOverride, Person, Privacy, Recurrence,
    ResponseStatus, ShowAs,
};
use tandem::dav::vdir::{VdirConfig, VdirConnector};
use tandem::prelude::*;

/// The `tandem` binary's allocator (`crates/tandem-service/src/main.rs`): this process stands for it.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const CHILD: &str = "--tandem-sync-child";
const EDITS: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD) {
        child(&args[2..]);
        return;
    }
    if args.get(1).map(String::as_str) == Some(radicale::DAV_CHILD) {
        radicale::child(&args[2..]);
        return;
    }
    // Only the data, for profiling one tool by hand: `--generate DIR N`.
    if let [_, flag, dir, n] = args.as_slice()
        && flag == "--generate"
    {
        generate(Path::new(dir), n.parse().unwrap());
        return;
    }
    let n = support::scaled(10_000, 200);
    let scratch = std::env::temp_dir().join(format!("tandem-bench-vdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let vdirsyncer = vdirsyncer();
    let fsync = std::env::var("TANDEM_BENCH_FSYNC").map_or(true, |v| v != "0");
    println!("dav_vs_vdirsyncer: {n} events, {EDITS} edits, Tandem fsync {fsync}; scratch {}", scratch.display());
    let source = scratch.join("source");
    let t = Instant::now();
    let files = generate(&source, n);
    println!("  generated {files} files in {:.2} s", t.elapsed().as_secs_f64());

    let tandem = Runner::tandem(&scratch.join("tandem"), &source);
    let mut rows = Vec::new();
    let vs = vdirsyncer.map(|bin| Runner::vdirsyncer(&scratch.join("vdirsyncer"), &source, bin));
    for (step, label) in ["first sync", "incremental (100 edits)", "no change"].iter().enumerate() {
        if step == 1 {
            for runner in std::iter::once(&tandem).chain(vs.as_ref()) {
                edit(&runner.a, n);
            }
        }
        let t = tandem.run();
        check(&tandem, n, step);
        let v = vs.as_ref().map(|r| {
            let m = r.run();
            check(r, n, step);
            m
        });
        rows.push((label.to_string(), v, t));
    }
    print_table(&rows);
    let floor = file_floor(&source, &scratch.join("floor"), 1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let floor_threads = file_floor(&source, &scratch.join("floor-threads"), threads);
    println!(
        "\nThe file system's floor for a first sync: reading the {files} files and creating each \
         again in another folder the atomic way (temporary file renamed to its name), with \
         nothing else and no fsync, took {:.3} s in this process on one thread, {:.3} s on {threads} \
         (one per core); 10× vdirsyncer's first sync would be {:.3} s.",
        floor.as_secs_f64(),
        floor_threads.as_secs_f64(),
        rows[0].1.as_ref().map_or(f64::NAN, |v| v.wall.as_secs_f64() / 10.0)
    );
    // `TANDEM_BENCH_RADICALE=0` leaves out the Radicale half (minutes of server time), for
    // iterating on the folder runs.
    let against_radicale = if std::env::var("TANDEM_BENCH_RADICALE").is_ok_and(|v| v == "0") {
        println!("\nAgainst Radicale: left out (TANDEM_BENCH_RADICALE=0)");
        Vec::new()
    } else {
        radicale::run(vs.as_ref().map(|r| Path::new(&r.command[0])), &scratch)
    };
    if !against_radicale.is_empty() {
        println!("\nAgainst Radicale:");
        print_table(&against_radicale);
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The vdirsyncer executable, or `None` (loudly) when it is not installed outside a full run.
fn vdirsyncer() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/clients-venv/bin/vdirsyncer");
    if bin.exists() {
        return Some(bin);
    }
    let message = format!("vdirsyncer is not installed at {} (run .ci/clients-setup)", bin.display());
    if std::env::var_os("CI").is_some() || support::full_run() {
        panic!("{message}");
    }
    eprintln!("\n*** SKIPPING vdirsyncer: {message}; measuring Tandem alone ***\n");
    None
}

// ---------------------------------------------------------------------------------------------
// Data.

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "Planning",
    "Réunion",
    "Überprüfung",
    "Café",
    "Søknad",
    "Встреча",
    "会議",
    "Budget",
    "Zoë",
    "niño",
    "Review",
    "Ōsaka",
];
const ZONES: &[&str] = &["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Europe/Paris"];

fn event(i: usize, rng: &mut Rng) -> Event {
    let day = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap() + TimeDelta::days(rng.below(700) as i64);
    let all_day = rng.below(100) < 15;
    let timing = if all_day {
        EventTiming {
            start: EventTime::AllDay { date: day },
            end: EventTime::AllDay { date: day + TimeDelta::days(1) },
        }
    } else {
        let zone = rng.pick(ZONES).to_owned();
        let start = day.and_hms_opt(7 + rng.below(10) as u32, 15 * rng.below(4) as u32, 0).unwrap();
        let end = start + TimeDelta::minutes(30 * (1 + rng.below(4) as i64));
        EventTiming {
            start: EventTime::Zoned { local: start, zone: zone.clone() },
            end: EventTime::Zoned { local: end, zone },
        }
    };
    let recurrence = i.is_multiple_of(10).then(|| {
        let mut r = Recurrence { rules: vec!["FREQ=WEEKLY;COUNT=20".to_owned()], ..Recurrence::default() };
        let shift = |weeks: i64, t: &EventTime| match t {
            EventTime::AllDay { date } => EventTime::AllDay { date: *date + TimeDelta::weeks(weeks) },
            EventTime::Zoned { local, zone } => {
                EventTime::Zoned { local: *local + TimeDelta::weeks(weeks), zone: zone.clone() }
            }
        };
        r.exdates.push(shift(3, &timing.start));
        let over = OccurrenceOverride {
            timing: None,
            subject: Some("Verschoben ⏰".to_owned()),
            location: None,
            description: None,
        };
        r.overrides.insert(shift(5, &timing.start), over);
        r
    });
    let attendees = (0..rng.below(5))
        .map(|k| Attendee {
            email: format!("person{}@example.com", (i * 7 + k as usize) % 997),
            name: Some(format!("{} {}", rng.pick(WORDS), rng.pick(WORDS))),
            role: if k == 0 { AttendeeRole::Required } else { AttendeeRole::Optional },
            response: ResponseStatus::Accepted,
        })
        .collect();
    Event {
        subject: Some(format!("{} {} #{i}", rng.pick(WORDS), rng.pick(WORDS))),
        description: Some(format!(
            "Agenda: {}, {}, {}.\nNotes in Ελληνικά and 中文.",
            rng.pick(WORDS),
            rng.pick(WORDS),
            rng.pick(WORDS)
        )),
        location: (rng.below(2) == 0).then(|| format!("Salle {} — Bâtiment {}", rng.below(40), rng.pick(WORDS))),
        timing,
        recurrence,
        organizer: Some(Person { email: "owner@example.com".to_owned(), name: Some("Owner Ørsted".to_owned()) }),
        attendees,
        privacy: Privacy::Normal,
        show_as: ShowAs::Busy,
        categories: vec![rng.pick(WORDS).to_owned()],
        crm_links: Vec::new(),
        ical_uid: Some(format!("bench-{i:05}@tandem.example")),
        custom: Default::default(),
    }
}

/// Writes `n` events, one `.ics` per event, into `dir`; returns the number of files.
fn generate(dir: &Path, n: usize) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng(support::SEED);
    for i in 0..n {
        let e = event(i, &mut rng);
        std::fs::write(dir.join(format!("bench-{i:05}.ics")), write_icalendar(&[e])).unwrap();
    }
    n
}

/// The same `EDITS` edits on a copy of A: a new `SUMMARY` in every `n / EDITS`-th file.
fn edit(a: &Path, n: usize) {
    for k in 0..EDITS.min(n) {
        let path = a.join(format!("bench-{:05}.ics", k * (n / EDITS.min(n))));
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replacen("SUMMARY:", &format!("SUMMARY:Edited {k} – "), 1);
        std::fs::write(&path, edited).unwrap();
    }
}

/// Checks B after `step`: every event there, the edits arrived.
fn check(runner: &Runner, n: usize, step: usize) {
    let count = std::fs::read_dir(&runner.b).unwrap().filter(|e| {
        e.as_ref().is_ok_and(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".ics") && !n.starts_with('.')))
    });
    assert_eq!(count.count(), n, "{}: B does not hold every event after step {step}", runner.name);
    if step >= 1 {
        let edited = std::fs::read_dir(&runner.b)
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .filter(|t| t.contains("SUMMARY:Edited "))
            .count();
        assert!(edited >= EDITS.min(n), "{}: {edited} edited events in B", runner.name);
    }
}

// ---------------------------------------------------------------------------------------------
// Runs.

/// One tool over its copy of the folders.
struct Runner {
    name: &'static str,
    a: PathBuf,
    b: PathBuf,
    command: Vec<String>,
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
struct Measure {
    wall: Duration,
    rss_kib: u64,
}

/// Reads every file of `from` and creates it in `to` as an atomic writer does (a temporary file
/// renamed to its name: the directory operations of the vdir connector's create on Linux, whose
/// `renameat2(RENAME_NOREPLACE)` costs what a rename does; before 2026-12-07's thirteenth session
/// this timed the portable link and unlink, one operation more), nothing else, on `threads`
/// threads (each a share of the files, all into the one folder, as a sync writes them): what any
/// tool that never leaves a half-written item behind pays for a first sync on this file system,
/// before parsing, state or `fsync`.
fn file_floor(from: &Path, to: &Path, threads: usize) -> std::time::Duration {
    std::fs::create_dir_all(to).unwrap();
    let started = Instant::now();
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(from).unwrap().map(Result::unwrap).collect();
    let copy = |part: &[std::fs::DirEntry]| {
        for entry in part {
            let bytes = std::fs::read(entry.path()).unwrap();
            let temporary = to.join(format!(".{}.tmp", entry.file_name().to_string_lossy()));
            std::fs::write(&temporary, &bytes).unwrap();
            std::fs::rename(&temporary, to.join(entry.file_name())).unwrap();
        }
    };
    std::thread::scope(|scope| {
        for part in entries.chunks(entries.len().div_ceil(threads.max(1)).max(1)) {
            scope.spawn(move || copy(part));
        }
    });
    started.elapsed()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

impl Runner {
    fn tandem(dir: &Path, source: &Path) -> Runner {
        let (a, b) = (dir.join("A"), dir.join("B"));
        copy_dir(source, &a);
        std::fs::create_dir_all(&b).unwrap();
        let exe = std::env::current_exe().unwrap().display().to_string();
        let state = dir.join("state.sqlite").display().to_string();
        let command =
            vec![exe, CHILD.into(), "--state".into(), state, a.display().to_string(), b.display().to_string()];
        Runner { name: "tandem", a, b, command }
    }

    fn vdirsyncer(dir: &Path, source: &Path, bin: PathBuf) -> Runner {
        let (a, b) = (dir.join("A"), dir.join("B"));
        copy_dir(source, &a);
        std::fs::create_dir_all(&b).unwrap();
        let storage = |name: &str, path: &Path| {
            format!("[storage {name}]\ntype = \"filesystem\"\npath = \"{}/\"\nfileext = \".ics\"\n\n", path.display())
        };
        let config = format!(
            "[general]\nstatus_path = \"{}/status/\"\n\n[pair bench]\na = \"bench_a\"\nb = \"bench_b\"\n\
             collections = null\nconflict_resolution = \"a wins\"\n\n{}{}",
            dir.display(),
            storage("bench_a", &a),
            storage("bench_b", &b)
        );
        let config_path = dir.join("config");
        std::fs::write(&config_path, config).unwrap();
        let base = vec![bin.display().to_string(), "--config".into(), config_path.display().to_string()];
        let discover = Command::new(&base[0]).args(&base[1..]).arg("discover").stdin(Stdio::null()).output().unwrap();
        assert!(discover.status.success(), "vdirsyncer discover: {}", String::from_utf8_lossy(&discover.stderr));
        let mut command = base;
        command.push("sync".into());
        Runner { name: "vdirsyncer", a, b, command }
    }

    fn run(&self) -> Measure {
        let timed = Path::new("/usr/bin/time");
        let report = self.b.with_file_name(format!("{}-time.txt", self.name));
        let mut cmd = if timed.exists() {
            let mut c = Command::new(timed);
            c.arg("-v").arg("-o").arg(&report).args(&self.command);
            c
        } else {
            let mut c = Command::new(&self.command[0]);
            c.args(&self.command[1..]);
            c
        };
        // Output to files, not pipes: vdirsyncer logs every item, and a full pipe would stall it.
        let out_path = self.b.with_file_name(format!("{}-stdout.txt", self.name));
        let err_path = self.b.with_file_name(format!("{}-stderr.txt", self.name));
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap());
        let start = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let mut polled = 0;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            polled = polled.max(vm_hwm(child.id()));
            std::thread::sleep(Duration::from_millis(1));
        };
        let wall = start.elapsed();
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        assert!(status.success(), "{} failed: {stderr}", self.name);
        let rss_kib = std::fs::read_to_string(&report)
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.trim().strip_prefix("Maximum resident set size (kbytes):").map(|v| v.trim().to_owned())
                })
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(polled);
        let summary = std::fs::read_to_string(&out_path).unwrap_or_default();
        for line in summary.lines().filter(|l| l.starts_with("tandem child")) {
            println!("    {line}");
        }
        println!("  {:<10} {:>8.3} s {:>8.1} MiB", self.name, wall.as_secs_f64(), rss_kib as f64 / 1024.0);
        Measure { wall, rss_kib }
    }
}

/// `VmHWM` of a running process, in KiB (0 when unknown).
fn vm_hwm(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches("kB").trim().to_owned()))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn print_table(rows: &[(String, Option<Measure>, Measure)]) {
    println!("\n| run | vdirsyncer | Tandem | speed-up | vdirsyncer peak RSS | Tandem peak RSS | memory ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, v, t) in rows {
        let secs = |m: &Measure| m.wall.as_secs_f64();
        let mib = |m: &Measure| m.rss_kib as f64 / 1024.0;
        match v {
            Some(v) => println!(
                "| {label} | {:.3} s | {:.3} s | {:.1}× | {:.1} MiB | {:.1} MiB | {:.1}× |",
                secs(v),
                secs(t),
                secs(v) / secs(t),
                mib(v),
                mib(t),
                mib(v) / mib(t).max(0.001)
            ),
            None => println!("| {label} | skipped | {:.3} s | – | skipped | {:.1} MiB | – |", secs(t), mib(t)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The Tandem child: one sync, as `examples/vdir.rs` does it, with the time spent inside each
// connector measured, so that the rest (engine, planner, store) shows.

/// A connector that adds up the time spent in its calls.
struct Timed {
    inner: VdirConnector,
    nanos: std::sync::Mutex<std::collections::BTreeMap<&'static str, u128>>,
}

impl Timed {
    fn new(inner: VdirConnector) -> Timed {
        Timed { inner, nanos: Default::default() }
    }
    fn add(&self, call: &'static str, since: Instant) {
        *self.nanos.lock().unwrap().entry(call).or_default() += since.elapsed().as_nanos();
    }
    fn summary(&self) -> String {
        let nanos = self.nanos.lock().unwrap();
        nanos.iter().map(|(k, v)| format!("{k} {:.3} s", *v as f64 / 1e9)).collect::<Vec<_>>().join(", ")
    }
}

#[async_trait::async_trait]
impl Connector for Timed {
    fn provider(&self) -> &str {
        self.inner.provider()
    }
    fn capabilities(&self) -> tandem::core::capabilities::Capabilities {
        self.inner.capabilities()
    }
    fn connection(&self) -> tandem::connector::ConnectionInfo {
        self.inner.connection()
    }
    async fn identity(&self) -> Result<tandem::connector::Identity, ConnectorError> {
        self.inner.identity().await
    }
    async fn pull<'a>(
        &self,
        object: ObjectKind,
        cursor: Option<&'a tandem::core::state::Cursor>,
    ) -> Result<tandem::connector::PullPage, ConnectorError> {
        let t = Instant::now();
        let r = self.inner.pull(object, cursor).await;
        self.add("pull", t);
        r
    }
    async fn fetch(
        &self,
        object: ObjectKind,
        ids: &[tandem::core::state::RecordId],
    ) -> Result<Vec<tandem::core::state::Change>, ConnectorError> {
        let t = Instant::now();
        let r = self.inner.fetch(object, ids).await;
        self.add("fetch", t);
        r
    }
    async fn apply(
        &self,
        object: ObjectKind,
        ops: &[tandem::connector::WriteOp],
    ) -> Result<Vec<tandem::connector::WriteResult>, ConnectorError> {
        let t = Instant::now();
        let r = self.inner.apply(object, ops).await;
        self.add("apply", t);
        r
    }
    async fn find_by_key(
        &self,
        object: ObjectKind,
        key: &tandem::core::state::IdempotencyKey,
    ) -> Result<Option<tandem::connector::Written>, ConnectorError> {
        let t = Instant::now();
        let r = self.inner.find_by_key(object, key).await;
        self.add("find_by_key", t);
        r
    }
}

fn child(args: &[String]) {
    let [flag, state, a, b] = args else { panic!("usage: {CHILD} --state STATE A B") };
    assert_eq!(flag, "--state");
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let fsync = std::env::var("TANDEM_BENCH_FSYNC").map_or(true, |v| v != "0");
        let flush_file_system = std::env::var("TANDEM_BENCH_FLUSH_FS").is_ok_and(|v| v == "1");
        let side = |dir: &String| {
            let config = VdirConfig { fsync, flush_file_system, ..VdirConfig::new().with_events(dir) };
            Arc::new(Timed::new(VdirConnector::new(config).unwrap()))
        };
        let (a, b) = (side(a), side(b));
        let mut config = SyncConfig::named("vdir");
        config.events = ObjectConfig { window: None, foreign_organizers: ForeignOrganizers::Sync, ..config.events };
        let engine = Engine::new(Arc::new(SqliteStore::open(state).await.unwrap()));
        let job = UserSync::new("vdir", config, a.clone(), b.clone());
        let options = SyncOptions { objects: Some(vec![ObjectKind::Event]), ..SyncOptions::default() };
        let report = engine.sync_user(&job, &options).await.unwrap();
        let events = report.object(ObjectKind::Event).unwrap();
        println!(
            "tandem child: pulled A {} B {}, {} writes, {} quarantined; files read A {} B {}, written A {} B {}",
            events.pulled.get(&Side::Crm).copied().unwrap_or(0),
            events.pulled.get(&Side::Mailbox).copied().unwrap_or(0),
            report.total_writes(),
            events.quarantined.len(),
            a.inner.files_read(),
            b.inner.files_read(),
            a.inner.files_written(),
            b.inner.files_written(),
        );
        let p = events.phases;
        println!(
            "tandem child time: total {:.3} s, sync {:.3} s (read {:.3}, plan {:.3}, write {:.3}, commit {:.3}); \
             in connector A: {}; B: {}",
            started.elapsed().as_secs_f64(),
            report.duration_ms as f64 / 1000.0,
            p.read_us as f64 / 1e6,
            p.plan_us as f64 / 1e6,
            p.write_us as f64 / 1e6,
            p.commit_us as f64 / 1e6,
            a.summary(),
            b.summary()
        );
    });
}
