//! The metrics of `tandem run`, rendered as Prometheus text at `GET /metrics`.
//!
//! Crate choice: the [`metrics`] facade (the `counter!`/`gauge!`/`histogram!` macros) with
//! [`metrics_exporter_prometheus`] as its recorder, built with its default features off — no
//! HTTP listener of its own and no push gateway: [`PrometheusHandle::render`] is called by our
//! own axum route ([`super::http`]). The recorder is installed once per process
//! ([`Metrics::install`]); tests record into a local one ([`Metrics::local`] with
//! [`metrics::with_local_recorder`]).
//!
//! What is counted (no label carries a user, a record or a secret: cardinality stays bounded):
//!
//! | metric | type | labels | from |
//! | --- | --- | --- | --- |
//! | `tandem_cycles_total` | counter | `result` = `ok` / `error` | every cycle |
//! | `tandem_operations_total` | counter | `object`, `kind` (`create`, `update`, `delete`, …) | the report's applied writes |
//! | `tandem_errors_total` | counter | `kind`: a failed cycle's cause (`connector`, `store`, `config`, `journal`, `policy`, `panic`) or a record's (`write_failed`, `quarantined`, `ambiguous`, `unresolved`) | reports and errors |
//! | `tandem_held_deletes_total` | counter | `object` | deletes held by the mass-delete guard, per cycle (grows while deletes wait) |
//! | `tandem_api_calls_total` | counter | `provider` (`salesforce`, `graph`, …) | the report's API calls per side |
//! | `tandem_cycle_duration_seconds` | histogram | `result` | every cycle |
//! | `tandem_users` | gauge | | users scheduled |
//! | `tandem_cycles_running` | gauge | | cycles in flight |
//! | `tandem_users_failing` | gauge | | users whose last cycle failed |
//! | `tandem_consecutive_failures_max` | gauge | | the most consecutive failed cycles of one user |
//!
//! | `tandem_api_budget_used_ratio` | gauge | `provider` | the most spent share of a request budget among the provider's connections, after each cycle ([`tandem_connector::Connector::api_budget`]) |
//! | `tandem_api_budget_used` / `tandem_api_budget_limit` | gauge | `provider` | requests spent and allowed in that most spent budget (Salesforce: the org's rolling 24 hours) |
//!
//! API budgets come from the connectors themselves (`Connector::api_budget`): Salesforce's
//! `Sforce-Limit-Info` (the org's daily limit, shared by every connection to the org) and the
//! Graph connector's own per-mailbox window. `tandem_api_calls_total` gives the rate Tandem
//! spends.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use tandem_connector::ApiBudget;
use tandem_engine::{EngineError, SyncReport};

/// Cycles, by `result`.
pub const CYCLES: &str = "tandem_cycles_total";
/// Counter: organization feed runs, by `feed` and `result`.
pub const FEED_RUNS: &str = "tandem_feed_runs_total";
/// Counter: changes read by organization feeds, by `feed`.
pub const FEED_CHANGES: &str = "tandem_feed_changes_total";
/// Writes applied, by `object` and `kind`.
pub const OPERATIONS: &str = "tandem_operations_total";
/// Errors, by `kind`.
pub const ERRORS: &str = "tandem_errors_total";
/// Deletes held by the mass-delete guard, by `object`.
pub const HELD_DELETES: &str = "tandem_held_deletes_total";
/// API calls, by `provider`.
pub const API_CALLS: &str = "tandem_api_calls_total";
/// Cycle durations.
pub const CYCLE_DURATION: &str = "tandem_cycle_duration_seconds";
/// Users scheduled.
pub const USERS: &str = "tandem_users";
/// Cycles in flight.
pub const CYCLES_RUNNING: &str = "tandem_cycles_running";
/// Users whose last cycle failed.
pub const USERS_FAILING: &str = "tandem_users_failing";
/// The most consecutive failures of one user.
pub const CONSECUTIVE_FAILURES_MAX: &str = "tandem_consecutive_failures_max";

/// The most spent share of a request budget, by `provider`.
pub const API_BUDGET_RATIO: &str = "tandem_api_budget_used_ratio";
/// Requests spent in that budget, by `provider`.
pub const API_BUDGET_USED: &str = "tandem_api_budget_used";
/// Requests that budget allows, by `provider`.
pub const API_BUDGET_LIMIT: &str = "tandem_api_budget_limit";

/// The buckets of [`CYCLE_DURATION`], in seconds.
const DURATION_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// The metrics could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The recorder could not be built.
    #[error("metrics: {0}")]
    Build(#[from] metrics_exporter_prometheus::BuildError),
    /// Another recorder is already installed in this process.
    #[error("metrics: a recorder is already installed in this process")]
    AlreadyInstalled,
}

/// The rendering side of the recorder, and the per-user failure streaks behind the failure gauges.
#[derive(Debug)]
pub struct Metrics {
    handle: PrometheusHandle,
    failures: Mutex<BTreeMap<String, u32>>,
    /// The last budget seen per (provider, user): the gauges show the most spent one.
    budgets: Mutex<BTreeMap<(String, String), ApiBudget>>,
}

fn builder() -> Result<PrometheusBuilder, MetricsError> {
    Ok(PrometheusBuilder::new().set_buckets_for_metric(Matcher::Full(CYCLE_DURATION.to_owned()), DURATION_BUCKETS)?)
}

impl Metrics {
    /// Builds the recorder and installs it for the whole process.
    ///
    /// # Errors
    ///
    /// [`MetricsError`] when it cannot be built or one is installed already.
    pub fn install() -> Result<Metrics, MetricsError> {
        let recorder = builder()?.build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).map_err(|_| MetricsError::AlreadyInstalled)?;
        describe();
        Ok(Metrics::with_handle(handle))
    }

    /// A recorder not installed anywhere (tests: record with [`metrics::with_local_recorder`]).
    ///
    /// # Errors
    ///
    /// [`MetricsError`] when it cannot be built.
    pub fn local() -> Result<(PrometheusRecorder, Metrics), MetricsError> {
        let recorder = builder()?.build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, describe);
        Ok((recorder, Metrics::with_handle(handle)))
    }

    fn with_handle(handle: PrometheusHandle) -> Metrics {
        Metrics { handle, failures: Mutex::new(BTreeMap::new()), budgets: Mutex::new(BTreeMap::new()) }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Periodic housekeeping of the recorder (drains histogram samples); call every few seconds.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Records the request budget `provider`'s connector of `user` reports after a cycle; the
    /// gauges show the provider's most spent budget.
    pub fn api_budget(&self, provider: &str, user: &str, budget: Option<ApiBudget>) {
        let Some(budget) = budget else { return };
        let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        budgets.insert((provider.to_owned(), user.to_owned()), budget);
        let most = budgets
            .iter()
            .filter(|((p, _), _)| p == provider)
            .map(|(_, b)| *b)
            .max_by(|a, b| a.used_ratio().total_cmp(&b.used_ratio()));
        if let Some(most) = most {
            let provider = provider.to_owned();
            metrics::gauge!(API_BUDGET_RATIO, "provider" => provider.clone()).set(most.used_ratio());
            metrics::gauge!(API_BUDGET_USED, "provider" => provider.clone()).set(most.used as f64);
            metrics::gauge!(API_BUDGET_LIMIT, "provider" => provider).set(most.limit as f64);
        }
    }

    /// Records a run of the organization feed `feed`.
    pub fn feed_run(&self, feed: &str, provider: &str, result: &'static str, changes: usize, calls: u64) {
        metrics::counter!(FEED_RUNS, "feed" => feed.to_owned(), "result" => result).increment(1);
        metrics::counter!(FEED_CHANGES, "feed" => feed.to_owned()).increment(changes as u64);
        metrics::counter!(API_CALLS, "provider" => provider.to_owned()).increment(calls);
    }

    /// Records a finished cycle of `user`: its report or its error, and how long it took.
    /// `providers` are the CRM's and the mailbox's provider names, for [`API_CALLS`].
    pub fn cycle_finished(
        &self,
        user: &str,
        result: Result<&SyncReport, &EngineError>,
        took: Duration,
        providers: (&str, &str),
    ) {
        let outcome = match result {
            Ok(report) => {
                record_report(report, providers);
                "ok"
            }
            Err(e) => {
                metrics::counter!(ERRORS, "kind" => error_kind(e)).increment(1);
                "error"
            }
        };
        metrics::counter!(CYCLES, "result" => outcome).increment(1);
        metrics::histogram!(CYCLE_DURATION, "result" => outcome).record(took.as_secs_f64());
        let (failing, max) = {
            let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            if result.is_ok() {
                failures.remove(user);
            } else {
                *failures.entry(user.to_owned()).or_default() += 1;
            }
            (failures.len(), failures.values().copied().max().unwrap_or(0))
        };
        metrics::gauge!(USERS_FAILING).set(failing as f64);
        metrics::gauge!(CONSECUTIVE_FAILURES_MAX).set(f64::from(max));
    }
}

fn describe() {
    metrics::describe_counter!(CYCLES, "Sync cycles finished, by result.");
    metrics::describe_counter!(FEED_RUNS, "Organization feed runs, by feed and result.");
    metrics::describe_counter!(FEED_CHANGES, "Changes read by organization feeds, by feed.");
    metrics::describe_counter!(OPERATIONS, "Writes applied, by object and kind.");
    metrics::describe_counter!(ERRORS, "Failed cycles by cause, and records that failed or were set aside.");
    metrics::describe_counter!(HELD_DELETES, "Deletes held by the mass-delete guard, counted each cycle they wait.");
    metrics::describe_counter!(API_CALLS, "API calls made to each provider.");
    metrics::describe_histogram!(CYCLE_DURATION, metrics::Unit::Seconds, "How long one user's cycle took.");
    metrics::describe_gauge!(USERS, "Users scheduled.");
    metrics::describe_gauge!(CYCLES_RUNNING, "Cycles in flight.");
    metrics::describe_gauge!(USERS_FAILING, "Users whose last cycle failed.");
    metrics::describe_gauge!(CONSECUTIVE_FAILURES_MAX, "The most consecutive failed cycles of one user.");
    metrics::describe_gauge!(
        API_BUDGET_RATIO,
        "The most spent share of a request budget among a provider's connections."
    );
    metrics::describe_gauge!(API_BUDGET_USED, "Requests spent in the provider's most spent budget.");
    metrics::describe_gauge!(API_BUDGET_LIMIT, "Requests allowed in the provider's most spent budget.");
}

/// The `kind` label of a failed cycle.
pub fn error_kind(e: &EngineError) -> &'static str {
    match e {
        EngineError::Store(_) => "store",
        EngineError::Connector { .. } => "connector",
        EngineError::Config(_) => "config",
        EngineError::Journal(_) => "journal",
        EngineError::Planning(_) => "planning",
        EngineError::Panicked(_) => "panic",
        EngineError::Policy { .. } => "policy",
        EngineError::ClaimLost => "claim_lost",
        _ => "other",
    }
}

/// Counts a successful cycle's writes, record-level problems and API calls.
fn record_report(report: &SyncReport, (crm, mailbox): (&str, &str)) {
    for o in &report.objects {
        let object = o.object.as_str();
        for (kind, n) in &o.applied {
            metrics::counter!(OPERATIONS, "object" => object, "kind" => kind.clone()).increment(*n as u64);
        }
        for (kind, n) in [
            ("write_failed", o.failed.len()),
            ("quarantined", o.quarantined.len()),
            ("ambiguous", o.ambiguous.len()),
            ("unresolved", o.unresolved.len()),
        ] {
            if n > 0 {
                metrics::counter!(ERRORS, "kind" => kind).increment(n as u64);
            }
        }
        if o.held_deletes > 0 {
            metrics::counter!(HELD_DELETES, "object" => object).increment(o.held_deletes as u64);
        }
        metrics::counter!(API_CALLS, "provider" => crm.to_owned()).increment(o.api_calls.crm);
        metrics::counter!(API_CALLS, "provider" => mailbox.to_owned()).increment(o.api_calls.mailbox);
    }
}

/// At start: sets [`USERS`] to `n`, and shows every gauge and the cycle counters at zero, so
/// that alerts and `rate()` see them before the first cycle.
pub fn start(n: usize) {
    metrics::gauge!(USERS).set(n as f64);
    for gauge in [CYCLES_RUNNING, USERS_FAILING, CONSECUTIVE_FAILURES_MAX] {
        metrics::gauge!(gauge).set(0.0);
    }
    for result in ["ok", "error"] {
        metrics::counter!(CYCLES, "result" => result).increment(0);
    }
}

/// Counts one cycle in flight until dropped (also when the cycle is aborted).
#[derive(Debug)]
pub struct Running(());

impl Running {
    /// A cycle starts.
    pub fn start() -> Running {
        metrics::gauge!(CYCLES_RUNNING).increment(1.0);
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        metrics::gauge!(CYCLES_RUNNING).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use tandem_core::model::ObjectKind;
    use tandem_engine::report::ObjectReport;

    fn report() -> SyncReport {
        let mut contacts = ObjectReport::new(ObjectKind::Contact);
        contacts.applied.insert("create".into(), 3);
        contacts.applied.insert("update".into(), 1);
        contacts.held_deletes = 2;
        contacts.api_calls.crm = 4;
        contacts.api_calls.mailbox = 5;
        SyncReport {
            user: "ada@example.com".into(),
            dry_run: false,
            started_at: chrono::Utc::now(),
            duration_ms: 12,
            recovered_intents: 0,
            objects: vec![contacts],
        }
    }

    /// The value of the sample line starting with `series` (name and labels as rendered).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
    }

    #[test]
    fn reports_and_errors_are_counted() {
        let (recorder, m) = Metrics::local().unwrap();
        metrics::with_local_recorder(&recorder, || {
            start(2);
            let running = Running::start();
            m.cycle_finished("ada@example.com", Ok(&report()), Duration::from_millis(1500), ("salesforce", "graph"));
            drop(running);
            let e = EngineError::Config("no".into());
            m.cycle_finished("bob@example.com", Err(&e), Duration::from_millis(20), ("salesforce", "graph"));
            m.cycle_finished("bob@example.com", Err(&e), Duration::from_millis(20), ("salesforce", "graph"));
        });
        let text = m.render();
        assert_eq!(sample(&text, "tandem_cycles_total{result=\"ok\"}"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "tandem_cycles_total{result=\"error\"}"), Some(2.0), "{text}");
        assert_eq!(sample(&text, "tandem_operations_total{object=\"contact\",kind=\"create\"}"), Some(3.0), "{text}");
        assert_eq!(sample(&text, "tandem_operations_total{object=\"contact\",kind=\"update\"}"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "tandem_errors_total{kind=\"config\"}"), Some(2.0), "{text}");
        assert_eq!(sample(&text, "tandem_held_deletes_total{object=\"contact\"}"), Some(2.0), "{text}");
        assert_eq!(sample(&text, "tandem_api_calls_total{provider=\"salesforce\"}"), Some(4.0), "{text}");
        assert_eq!(sample(&text, "tandem_api_calls_total{provider=\"graph\"}"), Some(5.0), "{text}");
        assert_eq!(sample(&text, "tandem_users "), Some(2.0), "{text}");
        assert_eq!(sample(&text, "tandem_cycles_running "), Some(0.0), "{text}");
        assert_eq!(sample(&text, "tandem_users_failing "), Some(1.0), "{text}");
        assert_eq!(sample(&text, "tandem_consecutive_failures_max "), Some(2.0), "{text}");
        // A histogram with buckets, not a summary.
        assert!(text.contains("tandem_cycle_duration_seconds_bucket{result=\"ok\",le=\"2.5\"} 1"), "{text}");
        assert!(text.contains("# TYPE tandem_cycle_duration_seconds histogram"), "{text}");
        assert!(!text.contains("ada@example.com"), "no user in labels: {text}");
    }

    #[test]
    fn the_most_spent_budget_of_a_provider_is_shown() {
        use tandem_connector::BudgetScope;
        let (recorder, m) = Metrics::local().unwrap();
        metrics::with_local_recorder(&recorder, || {
            m.api_budget("graph", "ada@example.com", Some(ApiBudget::new(2_000, 10_000, BudgetScope::Connection)));
            m.api_budget("graph", "bob@example.com", Some(ApiBudget::new(500, 10_000, BudgetScope::Connection)));
            m.api_budget(
                "salesforce",
                "ada@example.com",
                Some(ApiBudget::new(30_000, 120_000, BudgetScope::Organization)),
            );
            m.api_budget("memory", "ada@example.com", None);
        });
        let text = m.render();
        assert_eq!(sample(&text, "tandem_api_budget_used_ratio{provider=\"graph\"}"), Some(0.2), "{text}");
        assert_eq!(sample(&text, "tandem_api_budget_used{provider=\"graph\"}"), Some(2000.0), "{text}");
        assert_eq!(sample(&text, "tandem_api_budget_limit{provider=\"salesforce\"}"), Some(120_000.0), "{text}");
        assert_eq!(sample(&text, "tandem_api_budget_used_ratio{provider=\"salesforce\"}"), Some(0.25), "{text}");
        assert!(!text.contains("memory"), "{text}");
        // Bob's budget moves up past Ada's: the gauge follows the most spent.
        metrics::with_local_recorder(&recorder, || {
            m.api_budget("graph", "bob@example.com", Some(ApiBudget::new(5_000, 10_000, BudgetScope::Connection)));
        });
        assert_eq!(sample(&m.render(), "tandem_api_budget_used_ratio{provider=\"graph\"}"), Some(0.5));
    }
}
