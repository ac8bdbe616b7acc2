//! The fault soak: the real Salesforce and Graph connectors and the engine against the fakes, with
//! about one request in ten failing (429 with a short `Retry-After`, 503, timeouts, answers lost
//! after the request took effect, 401 expired sessions), Graph batches failing in part, delta
//! tokens and the Salesforce watermark expiring, and sessions expiring between cycles; the user
//! creates and edits contacts and events on both sides before every cycle. After every cycle,
//! failed or not, every record either side holds must be accounted for
//! (`tandem_engine::invariants::unaccounted`). Then clean cycles until quiet, and the end state is
//! checked: no duplicate, no lost edit, both sides equal on the synced fields.
//!
//! `TANDEM_SOAK_SEED` replays a run (the seed is printed); `TANDEM_SOAK_CYCLES` (default 30) sets
//! the number of faulty cycles.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use http::StatusCode;
use serde_json::json;
use tandem_core::state::{Cursor, Side};
use tandem_engine::SyncOptions;
use tandem_store::{SqliteStore, StateStore};
use tandem_testkit::graph::DeltaExpiry;
use tandem_testkit::rng::Rng;
use tandem_testkit::server::{CannedResponse, Chaos, ChaosRule, Fault};

/// The connectors' client timeout; the timeout fault holds answers longer.
const TIMEOUT: Duration = Duration::from_millis(1000);
const HOLD: Duration = Duration::from_millis(1500);

fn salesforce_chaos(seed: u64) -> Chaos {
    let sf_error = |status: StatusCode, code: &str, message: &str| {
        CannedResponse::json(status, &json!([{ "errorCode": code, "message": message }]))
    };
    let rules = vec![
        ChaosRule::new(
            "429 Retry-After: 0",
            0.01,
            Fault::Answer(CannedResponse::too_many_requests().with_header("Retry-After", "0")),
        ),
        ChaosRule::new(
            "503 SERVER_UNAVAILABLE",
            0.015,
            Fault::Answer(sf_error(StatusCode::SERVICE_UNAVAILABLE, "SERVER_UNAVAILABLE", "try again later")),
        ),
        ChaosRule::new(
            "503 SERVER_UNAVAILABLE Retry-After: 1",
            0.01,
            Fault::Answer(
                sf_error(StatusCode::SERVICE_UNAVAILABLE, "SERVER_UNAVAILABLE", "try again later")
                    .with_header("Retry-After", "1"),
            ),
        ),
        ChaosRule::new(
            "lost answer (applied, then 504)",
            0.025,
            Fault::Lose(CannedResponse::text(StatusCode::GATEWAY_TIMEOUT, "upstream request timeout")),
        ),
        ChaosRule::new("timeout (applied, answer held past the client timeout)", 0.01, Fault::Delay(HOLD)),
        ChaosRule::new(
            "401 INVALID_SESSION_ID",
            0.015,
            Fault::Answer(sf_error(StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID", "Session expired or invalid")),
        ),
    ];
    Chaos { seed, rules: rules.into_iter().map(|r| r.matching(salesforce_api)).collect() }
}

/// Salesforce's REST API, not its token endpoint.
fn salesforce_api<B>(r: &http::Request<B>) -> bool {
    r.uri().path().starts_with("/services/data/")
}

/// Graph itself, not the identity platform.
fn graph_api<B>(r: &http::Request<B>) -> bool {
    r.uri().path().starts_with("/v1.0/")
}

fn graph_chaos(seed: u64) -> Chaos {
    let graph_error = |status: StatusCode, code: &str, message: &str| {
        CannedResponse::json(status, &json!({ "error": { "code": code, "message": message } }))
    };
    let rules = vec![
        ChaosRule::new(
            "429 Retry-After: 0",
            0.015,
            Fault::Answer(
                graph_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Please retry again later.")
                    .with_header("Retry-After", "0"),
            ),
        ),
        ChaosRule::new(
            "429 Retry-After: 1",
            0.01,
            Fault::Answer(
                graph_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Please retry again later.")
                    .with_header("Retry-After", "1"),
            ),
        ),
        ChaosRule::new(
            "503 serviceNotAvailable",
            0.015,
            Fault::Answer(graph_error(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable", "Service unavailable")),
        ),
        ChaosRule::new(
            "lost answer (applied, then 504)",
            0.025,
            Fault::Lose(graph_error(StatusCode::GATEWAY_TIMEOUT, "UnknownError", "gateway timeout")),
        ),
        ChaosRule::new("timeout (applied, answer held past the client timeout)", 0.01, Fault::Delay(HOLD)),
        ChaosRule::new(
            "401 InvalidAuthenticationToken",
            0.015,
            Fault::Answer(graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            )),
        ),
    ];
    Chaos { seed, rules: rules.into_iter().map(|r| r.matching(graph_api)).collect() }
}

async fn cursors(store: &dyn StateStore) -> Vec<Option<Cursor>> {
    let mut out = Vec::new();
    for object in [C, E] {
        for side in Side::BOTH {
            out.push(store.cursor(MAILBOX, object, side).await.unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_every_call_never_lose_or_duplicate_a_record() {
    let seed = seed("TANDEM_SOAK_SEED");
    let faulty = usize::try_from(env_number("TANDEM_SOAK_CYCLES", 30)).unwrap();
    println!("fault soak: seed {seed}, {faulty} faulty cycles (replay with TANDEM_SOAK_SEED={seed})");
    let started = Instant::now();
    let fakes = Fakes::start().await;
    let urls = fakes.urls();
    let mut user = User::new(seed);
    user.seed(&fakes);
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let engine = engine(store.clone());
    let job = job(&urls, TIMEOUT);
    let mut rng = Rng::derive(seed, 2);
    fakes.sf.controls().set_chaos(Some(salesforce_chaos(rng.next_u64())));
    fakes.g().controls().set_chaos(Some(graph_chaos(rng.next_u64())));

    // The last cycle whose commit moved each object's cursors: records created before it must
    // be accounted for; later ones may not have been read yet.
    let mut last_commit: [Option<usize>; 2] = [None, None];
    let mut problems: Vec<String> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    let mut troubled: BTreeSet<String> = BTreeSet::new();
    let (mut sf_seen, mut graph_seen) = (0, 0);
    let (mut quiet, mut failed_cycles, mut sf_expiries) = (0, 0, 0);
    for cycle in 0..faulty + 12 {
        let fault_phase = cycle < faulty;
        let mut events: Vec<String> = Vec::new();
        if fault_phase {
            // The user, on both sides.
            for side in Side::BOTH {
                for _ in 0..1 + rng.below(2) {
                    user.act_on(&fakes, cycle, side);
                }
            }
            // Faults between cycles.
            if cycle == 2 || rng.chance(15) {
                fakes.sf.expire_sessions();
                events.push("Salesforce sessions expired".into());
            }
            if cycle == 2 || rng.chance(15) {
                fakes.g().expire_access_tokens();
                events.push("Graph access tokens expired".into());
            }
            if cycle == 3 || cycle == 8 || rng.chance(15) {
                let expiry =
                    if rng.chance(50) { DeltaExpiry::Gone } else { DeltaExpiry::SyncStateNotFound { status: 400 } };
                fakes.g().set_delta_expiry(expiry);
                fakes.g().expire_delta_tokens();
                events.push(format!("Graph delta tokens expired ({expiry:?})"));
            }
            if (cycle == 5 || rng.chance(8)) && sf_expiries < 2 {
                // Past the 15-day delete window: the connector asks for a full read.
                fakes.sf.advance_clock(chrono::Duration::days(16));
                sf_expiries += 1;
                events.push("Salesforce clock +16 days (watermark older than the delete window)".into());
            }
            if rng.chance(40) {
                let n = 1 + u32::try_from(rng.below(3)).unwrap();
                let (status, code, retry) = *rng.pick(&[
                    (503, "serviceNotAvailable", None),
                    (429, "TooManyRequests", Some(0)),
                    (500, "generalException", None),
                ]);
                fakes.g().fail_batch_items(n, status, code, retry);
                events.push(format!("next {n} Graph batch items fail with {status} {code}"));
            }
        } else if cycle == faulty {
            fakes.calm();
        }

        let before = cursors(store.as_ref()).await;
        let result = engine.sync_user(&job, &SyncOptions::default()).await;
        let after = cursors(store.as_ref()).await;
        for (i, object) in [C, E].into_iter().enumerate() {
            let moved = before[2 * i] != after[2 * i] || before[2 * i + 1] != after[2 * i + 1];
            if result.is_ok() || moved {
                last_commit[i] = Some(cycle);
            }
            let _ = object;
        }
        let sf_log = fakes.sf.controls().fault_log();
        let graph_log = fakes.g().controls().fault_log();
        events.extend(sf_log[sf_seen..].iter().map(|f| format!("Salesforce {f}")));
        events.extend(graph_log[graph_seen..].iter().map(|f| format!("Graph {f}")));
        (sf_seen, graph_seen) = (sf_log.len(), graph_log.len());
        let summary = match &result {
            Ok(r) => {
                let failed: usize = r.objects.iter().map(|o| o.failed.len()).sum();
                let resync: Vec<String> = r
                    .objects
                    .iter()
                    .flat_map(|o| o.full_resync.iter().map(move |s| format!("{} {s}", o.object)))
                    .collect();
                format!(
                    "ok, {} writes, {failed} failed writes, recovered {}, full reads {resync:?}",
                    r.total_writes(),
                    r.recovered_intents
                )
            }
            Err(e) => {
                failed_cycles += 1;
                format!("FAILED: {e}")
            }
        };
        let pending = store.pending_intents(MAILBOX).await.unwrap().len();
        let mut queued = Vec::new();
        for object in [C, E] {
            for side in Side::BOTH {
                queued.push(store.refetch_queue(MAILBOX, object, side).await.unwrap().len());
            }
        }
        lines.push(format!(
            "cycle {cycle}{}: {summary}; store after: {pending} pending intents, refetch queue {queued:?} \
             (contacts crm/mailbox, events crm/mailbox)",
            if fault_phase { "" } else { " (clean)" }
        ));
        for e in &events {
            lines.push(format!("    fault: {e}"));
        }

        // The accounting invariant, after every cycle.
        for (i, object) in [C, E].into_iter().enumerate() {
            let skip: BTreeSet<String> = user
                .created_in
                .iter()
                .filter(|(_, created)| last_commit[i].is_none_or(|c| **created > c))
                .map(|(name, _)| name.clone())
                .collect();
            for side in Side::BOTH {
                for r in lost(store.as_ref(), &fakes, object, side, &skip).await {
                    troubled.insert(r.name.clone());
                    problems.push(format!("cycle {cycle}: UNACCOUNTED {object} `{}` on {side}: {r:?}", r.name));
                    lines.push(format!("    UNACCOUNTED {object} `{}` on {side} ({})", r.name, r.id));
                }
            }
        }

        if !fault_phase {
            let calm = match &result {
                Ok(r) => {
                    r.total_writes() == 0 && r.objects.iter().all(|o| o.failed.is_empty() && o.full_resync.is_empty())
                }
                Err(_) => false,
            };
            quiet = if calm { quiet + 1 } else { 0 };
            if quiet >= 2 {
                break;
            }
        }
    }
    if quiet < 2 {
        problems.push("the sync did not quiesce within 12 clean cycles".into());
    }
    problems.extend(end_state_problems(&fakes, &user));
    for name in user.contacts.keys().chain(user.events.keys()) {
        if problems.iter().any(|p| p.contains(&format!("`{name}`"))) {
            troubled.insert(name.clone());
        }
    }
    let injected = fakes.sf.controls().fault_log().len() + fakes.g().controls().fault_log().len();
    let requests = fakes.sf.controls().total() + fakes.g().controls().total();
    println!(
        "fault soak: {} cycles ({failed_cycles} failed as a whole), {injected} faults injected in {requests} requests, {:.1}s",
        lines.iter().filter(|l| l.starts_with("cycle")).count(),
        started.elapsed().as_secs_f64()
    );
    if !problems.is_empty() {
        let heading = format!("fault soak seed {seed} (replay with TANDEM_SOAK_SEED={seed}):\n");
        let mut report = failure_report(heading, &problems, &user, store.as_ref(), &fakes, &troubled).await;
        report.push_str("\ncycles:\n");
        for l in &lines {
            report.push_str(&format!("{l}\n"));
        }
        panic!("{report}");
    }
}
