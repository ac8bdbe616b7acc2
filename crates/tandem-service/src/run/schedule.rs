//! The users' loops: each user syncs, then waits `schedule.interval` moved by up to
//! `schedule.jitter` of it at random (so users spread out instead of hitting the providers
//! together; the first cycles spread over the jitter window), and at most `schedule.concurrency`
//! users sync at once. When more users are due than slots, the slots go **oldest-due first**
//! ([`FairLimit`]): never-synced users, then by the store's `last_cycle_at`, oldest first (the
//! store is shared, so this holds across workers). One user's failure is recorded in its status
//! and never stops the others.
//!
//! **Many workers.** Before a cycle the loop claims the user ([`Claims::try_claim`]: one holder
//! per user at a time, across every process sharing the store) and releases the claim after it.
//! A user claimed elsewhere is skipped until its next tick; so is a user another worker synced
//! less than [`MIN_GAP_SHARE`] of the shortest wait ago (the store's `last_cycle_at`), so that
//! several workers share the users instead of each syncing all of them. A worker that dies
//! drops its claims with its connections (see `tandem_store::Claims`).
//!
//! **Organization feeds.** A CRM connection with `org_feed` has one loop of its own
//! ([`feed_loop`]), claimed like a user (`feed:<connection>`), so exactly one worker reads the
//! org's changes at a time; its members' cycles read their inbox.
//!
//! Each cycle updates [`Live`] (the user's place in the schedule, the health of its two
//! connections), the metrics ([`super::metrics`]) and the log: one line per cycle with `user`,
//! `result` and counts, and one per object with `user`, `object` and the writes applied.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tandem_connector::feed::OrgFeed;
use tandem_core::model::ObjectKind;
use tandem_core::state::Side;
use tandem_engine::{Engine, EngineError, SyncOptions, SyncReport, UserSync};
use tandem_store::Claims;
use tokio::sync::{oneshot, watch};

use super::metrics::{Metrics, Running};
use crate::config::Schedule;
use crate::live::Live;

/// A number in `[0, 1)`, different on every call (no cryptographic quality needed).
pub fn random_unit(salt: &str) -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(salt.as_bytes());
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    // 53 bits: exactly representable.
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// `interval` moved by up to `jitter` of it, either way.
pub fn jittered(interval: Duration, jitter: f64, unit: f64) -> Duration {
    let factor = 1.0 + jitter.clamp(0.0, 1.0) * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    interval.mul_f64(factor.max(0.0))
}

/// One user's job and the names of its two connections (`[connections.NAME]`).
#[derive(Debug, Clone)]
pub struct Job {
    /// The engine's job.
    pub sync: UserSync,
    /// The CRM connection's name.
    pub crm: String,
    /// The mailbox connection's name.
    pub mailbox: String,
}

/// What every loop shares.
#[derive(Debug)]
pub struct Shared {
    /// The engine.
    pub engine: Engine,
    /// `[schedule]`.
    pub schedule: Schedule,
    /// Live state, for the status page and `/healthz`.
    pub live: Arc<Live>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// At most `concurrency` cycles at once, oldest-due first.
    pub limit: Arc<FairLimit>,
    /// Who runs a user's cycle: one holder per user, across workers.
    pub claims: Arc<dyn Claims>,
}

/// A user whose last cycle (by any worker) ended less than this share of the shortest wait
/// (`interval × (1 − jitter)`) ago is not synced again at this tick. This worker's own waits
/// are never shorter than the shortest wait, so only other workers' cycles are skipped.
pub const MIN_GAP_SHARE: f64 = 0.9;

/// At most `n` holders at once; waiters are served oldest-due first (never synced first, then
/// by the time of their last cycle, then in arrival order).
pub struct FairLimit {
    state: std::sync::Mutex<FairState>,
}

struct FairState {
    free: usize,
    seq: u64,
    waiting: Vec<Waiter>,
}

struct Waiter {
    due: (Option<DateTime<Utc>>, u64),
    tx: oneshot::Sender<FairPermit>,
}

/// One slot of a [`FairLimit`]; dropping it hands the slot to the oldest-due waiter.
pub struct FairPermit {
    limit: Arc<FairLimit>,
}

impl std::fmt::Debug for FairLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("FairLimit").field("free", &state.free).field("waiting", &state.waiting.len()).finish()
    }
}

impl FairLimit {
    /// `n` slots (at least one).
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(FairLimit { state: std::sync::Mutex::new(FairState { free: n.max(1), seq: 0, waiting: Vec::new() }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FairState> {
        // Only counters and a list: consistent whatever panicked while holding it.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for a user last synced at `last_cycle` (`None`: never). Waits while all are taken.
    pub async fn acquire(self: &Arc<Self>, last_cycle: Option<DateTime<Utc>>) -> Option<FairPermit> {
        let rx = {
            let mut state = self.lock();
            state.waiting.retain(|w| !w.tx.is_closed());
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                return Some(FairPermit { limit: Arc::clone(self) });
            }
            let (tx, rx) = oneshot::channel();
            state.seq += 1;
            let due = (last_cycle, state.seq);
            state.waiting.push(Waiter { due, tx });
            rx
        };
        rx.await.ok()
    }

    /// Hands a freed slot to the oldest-due waiter still waiting, or keeps it.
    fn release(self: &Arc<Self>) {
        let next = {
            let mut state = self.lock();
            state.waiting.retain(|w| !w.tx.is_closed());
            let oldest = state.waiting.iter().enumerate().min_by_key(|(_, w)| w.due).map(|(i, _)| i);
            match oldest {
                Some(i) => state.waiting.swap_remove(i),
                None => {
                    state.free += 1;
                    return;
                }
            }
        };
        // Outside the lock: a waiter gone meanwhile returns the permit, whose drop releases it
        // again.
        let _ = next.tx.send(FairPermit { limit: Arc::clone(self) });
    }
}

impl Drop for FairPermit {
    fn drop(&mut self) {
        self.limit.release();
    }
}

/// The connections an error is attributed to: the side the error names, else both (a store
/// error says nothing about the connections: none).
fn sides_at_fault(e: &EngineError) -> &'static [Side] {
    match e {
        EngineError::Connector { side, .. } | EngineError::Policy { side: Some(side), .. } => match side {
            Side::Crm => &[Side::Crm],
            Side::Mailbox => &[Side::Mailbox],
        },
        EngineError::Store(_) => &[],
        _ => &[Side::Crm, Side::Mailbox],
    }
}

impl Shared {
    /// Records the outcome of one cycle of `job` in [`Live`], the metrics and the log.
    pub fn record(&self, job: &Job, result: &Result<SyncReport, EngineError>, took: Duration) {
        let now = Utc::now();
        let user = job.sync.user.as_str();
        let providers = (job.sync.crm.provider(), job.sync.mailbox.provider());
        let name = |side: Side| match side {
            Side::Crm => job.crm.as_str(),
            Side::Mailbox => job.mailbox.as_str(),
        };
        self.metrics.cycle_finished(user, result.as_ref(), took, providers);
        self.metrics.api_budget(providers.0, user, job.sync.crm.api_budget());
        self.metrics.api_budget(providers.1, user, job.sync.mailbox.api_budget());
        match result {
            Ok(report) => {
                self.live.connection_ok(&job.crm, now);
                self.live.connection_ok(&job.mailbox, now);
                for o in &report.objects {
                    tracing::info!(
                        user,
                        object = o.object.as_str(),
                        created = o.applied("create"),
                        updated = o.applied("update"),
                        deleted = o.applied("delete"),
                        failed = o.failed.len(),
                        quarantined = o.quarantined.len(),
                        held_deletes = o.held_deletes,
                        api_calls_crm = o.api_calls.crm,
                        api_calls_mailbox = o.api_calls.mailbox,
                        "object synced"
                    );
                }
                let (read, planned, written) = crate::cli::counts(report);
                tracing::info!(
                    user,
                    result = "ok",
                    duration_ms = report.duration_ms,
                    recovered = report.recovered_intents,
                    read,
                    planned,
                    written,
                    "cycle done"
                );
            }
            Err(e) => {
                // Connectors and the store keep their errors free of secrets (`Display`).
                let message = e.to_string();
                let sides = sides_at_fault(e);
                for side in sides {
                    self.live.connection_error(name(*side), now, &message);
                }
                // The other side answered, as far as this cycle tells.
                if sides.len() == 1 {
                    for side in [Side::Crm, Side::Mailbox] {
                        if !sides.contains(&side) && matches!(e, EngineError::Connector { .. }) {
                            self.live.connection_ok(name(side), now);
                        }
                    }
                }
                tracing::warn!(
                    user,
                    result = "error",
                    kind = super::metrics::error_kind(e),
                    duration_ms = took.as_millis() as u64,
                    error = %message,
                    "cycle failed"
                );
            }
        }
    }
}

/// `now + wait`, as a time of day for [`Live`].
fn at(wait: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

/// Waits `wait` unless `stop` turns true first; true when stopped.
async fn stopped_within(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    tokio::time::timeout(wait, stop.wait_for(|s| *s)).await.is_ok()
}

/// One user's loop, until `stop` turns true. A cycle in flight is never cancelled by `stop`
/// (only by aborting the task: see [`super::shutdown`]).
pub async fn user_loop(shared: Arc<Shared>, job: Job, mut stop: watch::Receiver<bool>) {
    let user = job.sync.user.clone();
    let schedule = &shared.schedule;
    let first = schedule.interval.mul_f64(schedule.jitter * random_unit(&user));
    shared.live.scheduled(&user, at(first));
    if stopped_within(&mut stop, first).await {
        shared.live.cycle_finished(&user, None);
        return;
    }
    let min_gap = schedule.interval.mul_f64((1.0 - schedule.jitter.clamp(0.0, 1.0)) * MIN_GAP_SHARE);
    loop {
        let last_cycle = last_cycle_at(&shared.engine, &user).await;
        let permit = tokio::select! {
            p = shared.limit.acquire(last_cycle) => p,
            _ = stop.wait_for(|s| *s) => {
                shared.live.cycle_finished(&user, None);
                return;
            }
        };
        match claim(&shared, &user, min_gap).await {
            Some(claim) => {
                shared.live.cycle_started(&user, Utc::now());
                let running = Running::start();
                let started = Instant::now();
                let result = sync_fenced(&shared.engine, &job.sync, SyncOptions::default(), claim).await;
                let took = started.elapsed();
                drop(running);
                drop(permit);
                shared.record(&job, &result, took);
            }
            None => drop(permit),
        }
        let wait = jittered(schedule.interval, schedule.jitter, random_unit(&user));
        let stopping = *stop.borrow();
        shared.live.cycle_finished(&user, (!stopping).then(|| at(wait)));
        if stopping || stopped_within(&mut stop, wait).await {
            shared.live.cycle_finished(&user, None);
            return;
        }
    }
}

/// The user's last cycle by any worker, from the store (`None`: never, or unreadable).
async fn last_cycle_at(engine: &Engine, user: &str) -> Option<DateTime<Utc>> {
    match engine.store().status(user).await {
        Ok(status) => status.and_then(|s| s.last_cycle_at),
        Err(e) => {
            tracing::warn!(user, error = %e, "could not read the user's status");
            None
        }
    }
}

/// Claims `user` for a cycle now: `None` when another worker holds it, synced it less than
/// `min_gap` ago, or the claim failed (all logged; the next tick tries again).
async fn claim(shared: &Shared, user: &str, min_gap: Duration) -> Option<tandem_store::Claim> {
    let claim = match shared.claims.try_claim(user).await {
        Ok(Some(claim)) => claim,
        Ok(None) => {
            tracing::debug!(user, "skipped: the user's cycle is running elsewhere");
            return None;
        }
        Err(e) => {
            tracing::warn!(user, error = %e, "skipped: could not claim the user");
            return None;
        }
    };
    // Read after claiming: a cycle that ended elsewhere before the claim is in the store.
    if let Some(last) = last_cycle_at(&shared.engine, user).await {
        let since = Utc::now().signed_duration_since(last).to_std().unwrap_or_default();
        if since < min_gap {
            tracing::debug!(user, since_ms = since.as_millis() as u64, "skipped: synced elsewhere just now");
            if let Err(e) = claim.release().await {
                tracing::warn!(user, error = %e, "could not release the user's claim");
            }
            return None;
        }
    }
    Some(claim)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use tandem_connector::ConnectorError;

    #[test]
    fn jitter_stays_within_its_share() {
        let base = Duration::from_secs(300);
        assert_eq!(jittered(base, 0.1, 0.5), base);
        assert_eq!(jittered(base, 0.1, 0.0), Duration::from_secs(270));
        assert_eq!(jittered(base, 0.1, 1.0), Duration::from_secs(330));
        let u = random_unit("x");
        assert!((0.0..1.0).contains(&u));
    }

    #[tokio::test]
    async fn slots_go_to_the_oldest_due_first() {
        let limit = FairLimit::new(1);
        let held = limit.acquire(None).await.unwrap();
        let t = |s: i64| chrono::DateTime::from_timestamp(1_800_000_000 + s, 0);
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Arriving newest first; never synced last.
        for (name, due) in [("new", t(30)), ("mid", t(20)), ("old", t(10)), ("never", None)] {
            let limit = Arc::clone(&limit);
            let order = Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                let permit = limit.acquire(due).await.unwrap();
                order.lock().unwrap().push(name);
                drop(permit);
            }));
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A waiter that gives up does not swallow the slot.
        let gone = tokio::time::timeout(Duration::from_millis(10), limit.acquire(t(0))).await;
        assert!(gone.is_err());
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec!["never", "old", "mid", "new"]);
        assert!(limit.acquire(t(0)).await.is_some(), "the slot is free again");
    }

    #[test]
    fn errors_are_attributed_to_their_side() {
        let e = EngineError::Connector {
            side: Side::Mailbox,
            error: ConnectorError::Transient { message: "HTTP 503".into() },
        };
        assert_eq!(sides_at_fault(&e), &[Side::Mailbox]);
        assert_eq!(sides_at_fault(&EngineError::Config("x".into())), &[Side::Crm, Side::Mailbox]);
        assert_eq!(sides_at_fault(&EngineError::Panicked("x".into())), &[Side::Crm, Side::Mailbox]);
    }
}

/// Why a run of an organization feed did not happen or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedRunError {
    /// Another worker is running it.
    #[error("another worker is running it")]
    Busy,
    /// Claiming it failed.
    #[error("could not claim it: {0}")]
    Claim(#[from] tandem_store::StoreError),
    /// The run failed (pages committed before the failure stay committed).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The claim key of a feed: one runner per feed across workers (never a user's address).
pub fn feed_claim_key(name: &str) -> String {
    format!("feed:{name}")
}

/// Runs the organization feed `name` once under its claim.
///
/// # Errors
///
/// [`FeedRunError`]: busy elsewhere, the claim failed, or the run did.
pub async fn run_feed_once(
    engine: &Engine,
    claims: &dyn Claims,
    name: &str,
    feed: &dyn OrgFeed,
) -> Result<tandem_engine::FeedReport, FeedRunError> {
    let claim = claims.try_claim(&feed_claim_key(name)).await?.ok_or(FeedRunError::Busy)?;
    let result = engine.run_feed(name, feed, &[ObjectKind::Contact, ObjectKind::Event]).await;
    if let Err(e) = claim.release().await {
        tracing::warn!(feed = name, error = %e, "could not release the feed's claim");
    }
    Ok(result?)
}

/// How often a feed runs: twice per user interval, so a change waits at most about one user
/// interval plus half of one before a member's cycle sees it. A quiet run costs a handful of
/// calls whatever the number of users.
pub const FEED_RUNS_PER_INTERVAL: u32 = 2;

/// An organization feed's loop, until `stop` turns true: every `interval / 2`, on whichever
/// worker claims it.
pub async fn feed_loop(shared: Arc<Shared>, name: String, feed: Arc<dyn OrgFeed>, mut stop: watch::Receiver<bool>) {
    let every = shared.schedule.interval / FEED_RUNS_PER_INTERVAL;
    loop {
        let started = Instant::now();
        match run_feed_once(&shared.engine, shared.claims.as_ref(), &name, feed.as_ref()).await {
            Ok(report) => {
                tracing::info!(
                    feed = name.as_str(),
                    pages = report.pages,
                    changes = report.changes,
                    calls = report.api_calls,
                    "organization feed read"
                );
                shared.metrics.feed_run(&name, feed.provider(), "ok", report.changes, report.api_calls);
            }
            Err(FeedRunError::Busy) => tracing::debug!(feed = name.as_str(), "organization feed run by another worker"),
            Err(e) => {
                tracing::warn!(feed = name.as_str(), error = %e, "organization feed failed; its members wait for the next run");
                shared.metrics.feed_run(&name, feed.provider(), "failed", 0, 0);
            }
        }
        let wait = every.saturating_sub(started.elapsed());
        if *stop.borrow() || stopped_within(&mut stop, wait).await {
            return;
        }
    }
}

/// Syncs `job` with `claim` as the run's fence ([`SyncOptions::fence`]), then releases the
/// claim. A claim found lost stops the cycle before it writes more or commits.
pub async fn sync_fenced(
    engine: &Engine,
    job: &UserSync,
    mut options: SyncOptions,
    claim: tandem_store::Claim,
) -> Result<SyncReport, EngineError> {
    let claim = Arc::new(claim);
    options.fence = Some(Arc::clone(&claim) as Arc<dyn tandem_engine::Fence>);
    let result = engine.sync_user(job, &options).await;
    drop(options);
    if matches!(result, Err(EngineError::ClaimLost)) {
        tracing::warn!(user = job.user.as_str(), "the claim on this user was lost mid-cycle; stopped");
    }
    match Arc::try_unwrap(claim) {
        Ok(claim) => {
            if let Err(e) = claim.release().await {
                tracing::warn!(user = job.user.as_str(), error = %e, "could not release the user's claim");
            }
        }
        // Still shared (cannot happen once the options are dropped): dropping releases it.
        Err(claim) => drop(claim),
    }
    result
}
