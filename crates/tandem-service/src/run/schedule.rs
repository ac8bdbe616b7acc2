//! The users' loops: each user syncs, then waits `schedule.interval` moved by up to
//! `schedule.jitter` of it at random (so users spread out instead of hitting the providers
//! together; the first cycles spread over the jitter window), and at most `schedule.concurrency`
//! users sync at once (a fair semaphore: users waiting for a slot get it in turn). One user's
//! failure is recorded in its status and never stops the others.
//!
//! Each cycle updates [`Live`] (the user's place in the schedule, the health of its two
//! connections), the metrics ([`super::metrics`]) and the log: one line per cycle with `user`,
//! `result` and counts, and one per object with `user`, `object` and the writes applied.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tandem_core::state::Side;
use tandem_engine::{Engine, EngineError, SyncOptions, SyncReport, UserSync};
use tokio::sync::{Semaphore, watch};

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
    /// At most `concurrency` cycles at once.
    pub limit: Arc<Semaphore>,
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
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&shared.limit).acquire_owned() => p.ok(),
            _ = stop.wait_for(|s| *s) => {
                shared.live.cycle_finished(&user, None);
                return;
            }
        };
        shared.live.cycle_started(&user, Utc::now());
        let running = Running::start();
        let started = Instant::now();
        let result = shared.engine.sync_user(&job.sync, &SyncOptions::default()).await;
        let took = started.elapsed();
        drop(running);
        drop(permit);
        shared.record(&job, &result, took);
        let wait = jittered(schedule.interval, schedule.jitter, random_unit(&user));
        let stopping = *stop.borrow();
        shared.live.cycle_finished(&user, (!stopping).then(|| at(wait)));
        if stopping || stopped_within(&mut stop, wait).await {
            shared.live.cycle_finished(&user, None);
            return;
        }
    }
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
