//! The crash test: the engine runs in a child process (this test binary, re-executed in worker
//! mode) over the real Salesforce and Graph connectors and a SQLite file, against the fakes served
//! by this process; the child is killed with SIGKILL at random points, many of them while a write
//! is in flight (the fakes hold answers back, so a kill often lands after a write took effect and
//! before its answer arrived). Between kills the user edits both sides. At the end the sync runs
//! to quiescence and the end state is checked: no duplicate, no lost edit, both sides equal on
//! the synced fields, and every record accounted for (`tandem_engine::invariants`).
//!
//! `TANDEM_CRASH_KILLS` (default 50) sets the number of kills, `TANDEM_CRASH_SEED` replays a run
//! (the seed is printed).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tandem_core::state::Side;
use tandem_engine::SyncOptions;
use tandem_store::SqliteStore;
use tandem_testkit::rng::Rng;

const WORKER: &str = "TANDEM_CRASH_WORKER";
const WORKER_SF: &str = "TANDEM_CRASH_WORKER_SALESFORCE";
const WORKER_GRAPH: &str = "TANDEM_CRASH_WORKER_GRAPH";
/// The client timeout of the worker's connectors.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Worker mode: syncs the user over and over until killed (at most 200 cycles). Returns at once
/// unless the crash test started this process.
#[test]
fn crash_worker() {
    let Ok(store_path) = std::env::var(WORKER) else { return };
    let urls = Urls { salesforce: std::env::var(WORKER_SF).unwrap(), graph: std::env::var(WORKER_GRAPH).unwrap() };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let store = Arc::new(SqliteStore::open(&store_path).await.unwrap());
        let engine = engine(store);
        let job = job(&urls, TIMEOUT);
        for cycle in 0..200 {
            let line = match engine.sync_user(&job, &SyncOptions::default()).await {
                Ok(r) => format!(
                    "worker {}: cycle {cycle} ok, {} writes, recovered {}",
                    std::process::id(),
                    r.total_writes(),
                    r.recovered_intents
                ),
                Err(e) => format!("worker {}: cycle {cycle} failed: {e}", std::process::id()),
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    });
}

/// Writes the fakes have received (Salesforce data writes, Graph writes and batches).
fn writes(f: &Fakes) -> u64 {
    let sf: u64 =
        f.sf.controls()
            .counts()
            .iter()
            .filter(|((m, p), _)| m != "GET" && p.starts_with("/services/data/"))
            .map(|(_, n)| n)
            .sum();
    let graph: u64 = f
        .g()
        .controls()
        .counts()
        .iter()
        .filter(|((m, p), _)| m != "GET" && p.starts_with("/v1.0/"))
        .map(|(_, n)| n)
        .sum();
    sf + graph
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_then_converge_without_duplicates_or_lost_edits() {
    if std::env::var(WORKER).is_ok() {
        return;
    }
    let seed = seed("TANDEM_CRASH_SEED");
    let kills = env_number("TANDEM_CRASH_KILLS", 50);
    println!("crash test: seed {seed}, {kills} kills (replay with TANDEM_CRASH_SEED={seed})");
    let started = Instant::now();
    let fakes = Fakes::start().await;
    let urls = fakes.urls();
    let mut user = User::new(seed);
    user.seed(&fakes);
    let dir = std::env::temp_dir().join(format!("tandem-crash-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store_path = dir.join("state.db");
    let log_path = dir.join("worker.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::derive(seed, 1);
    let (mut mid_write, mut exited_early) = (0u64, Vec::new());

    for round in 1..=kills {
        let round = usize::try_from(round).unwrap();
        user.act(&fakes, round, 3);
        // Latency before the handler and an answer held back after it, so kills land mid-request
        // and, more often than not, after a write took effect but before its answer arrived.
        let (before, after) = *rng.pick(&[(0, 0), (0, 20), (5, 40), (0, 80), (10, 10)]);
        for c in [fakes.sf.controls(), fakes.g().controls()] {
            c.set_latency(Duration::from_millis(before));
            c.set_response_latency(Duration::from_millis(after));
        }
        let mut child = Command::new(&exe)
            .args(["crash_worker", "--exact", "--nocapture", "--test-threads=1"])
            .env(WORKER, &store_path)
            .env(WORKER_SF, &urls.salesforce)
            .env(WORKER_GRAPH, &urls.graph)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .unwrap();
        // Bounded: a run may have fewer writes to make than the kill waits for.
        let deadline = Instant::now() + Duration::from_millis(2500);
        if rng.chance(60) {
            // Kill as the n-th write of this run arrives (it is being handled or its answer held).
            let target = writes(&fakes) + 1 + rng.below(3);
            while writes(&fakes) < target && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if writes(&fakes) >= target {
                mid_write += 1;
            }
            tokio::time::sleep(Duration::from_millis(rng.below(3) * after / 2)).await;
        } else {
            // Sometimes long enough for a cycle or two to commit.
            let wait = Duration::from_millis(if rng.chance(20) { 800 + rng.below(1200) } else { 20 + rng.below(600) });
            let until = Instant::now() + wait;
            while Instant::now() < until && child.try_wait().unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        match child.try_wait().unwrap() {
            Some(status) => exited_early.push(format!("round {round}: worker exited by itself: {status}")),
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
            }
        }
    }
    let worker_log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let worker_lines: Vec<&str> = worker_log.lines().filter(|l| l.starts_with("worker")).collect();
    println!(
        "crash test: {kills} kills ({mid_write} as a write arrived) in {:.1}s; the workers completed {} cycles \
         ({} failed) between kills; worker log {}",
        started.elapsed().as_secs_f64(),
        worker_lines.iter().filter(|l| l.contains(" ok,")).count(),
        worker_lines.iter().filter(|l| l.contains(" failed:")).count(),
        log_path.display()
    );

    // Quiescence, in this process, with the same store file and connectors.
    fakes.calm();
    let store = Arc::new(SqliteStore::open(&store_path).await.unwrap());
    let engine = engine(store.clone());
    let job = job(&urls, TIMEOUT);
    let mut quiet = 0;
    let mut reports = Vec::new();
    for cycle in 0..15 {
        let result = engine.sync_user(&job, &SyncOptions::default()).await;
        let calm = match &result {
            Ok(r) => r.total_writes() == 0 && r.objects.iter().all(|o| o.failed.is_empty() && o.full_resync.is_empty()),
            Err(_) => false,
        };
        reports.push(match &result {
            Ok(r) => format!("final cycle {cycle}: {r}"),
            Err(e) => format!("final cycle {cycle}: failed: {e}"),
        });
        quiet = if calm { quiet + 1 } else { 0 };
        if quiet >= 2 {
            break;
        }
    }

    let mut problems = Vec::new();
    if quiet < 2 {
        problems.push("the sync did not quiesce within 15 cycles after the last kill".to_owned());
    }
    problems.extend(exited_early.iter().cloned());
    problems.extend(end_state_problems(&fakes, &user));
    let mut troubled: BTreeSet<String> = BTreeSet::new();
    for object in [C, E] {
        for side in Side::BOTH {
            for r in lost(store.as_ref(), &fakes, object, side, &BTreeSet::new()).await {
                troubled.insert(r.name.clone());
                problems.push(format!("UNACCOUNTED {object} `{}` on {side}: {r:?}", r.name));
            }
        }
    }
    for name in user.contacts.keys().chain(user.events.keys()) {
        if problems.iter().any(|p| p.contains(&format!("`{name}`"))) {
            troubled.insert(name.clone());
        }
    }
    println!("crash test: done in {:.1}s, {} cycles to quiesce", started.elapsed().as_secs_f64(), reports.len());
    if !problems.is_empty() {
        let heading = format!("crash test seed {seed} (replay with TANDEM_CRASH_SEED={seed}):\n");
        let mut report = failure_report(heading, &problems, &user, store.as_ref(), &fakes, &troubled).await;
        report.push_str("\nlast cycles:\n");
        for r in &reports {
            report.push_str(&format!("{r}\n"));
        }
        report.push_str(&format!("\nworker log: {}\n", log_path.display()));
        panic!("{report}");
    }
    if std::env::var("TANDEM_CRASH_KEEP").is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
