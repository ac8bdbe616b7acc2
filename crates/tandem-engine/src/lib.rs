//! # tandem-engine: the runtime that drives syncs
//!
//! What lives here: [`Engine`], which runs one sync cycle for one user — recover interrupted
//! writes, pull both sides, plan, execute in the batch sizes each connector allows, record the
//! results, commit atomically — and runs many users concurrently under a bound; the
//! [`config`] types loadable from TOML; the [`report`] types.
//!
//! Security: every sync first asks the [`Policy`] (from `tandem-policy`; [`Policy::default`]
//! unless [`Engine::with_policy`] sets another) whether both sides' connections are allowed,
//! before any connector call; every plan passes through [`Policy::apply`] before it is journaled
//! or executed (dry runs show the result), and each policy decision is audited with the rule
//! that applied. At the end of a sync the audit log is pruned to the policy's retention.
//!
//! What must never live here: sync decisions (the planner in `tandem-core` makes them) or provider
//! specifics (connectors hide them). The engine moves data between the planner, the connectors and
//! the store, and reacts to the connector error taxonomy: it backs off on throttling, refetches and
//! replans on a stale version, resyncs in full (re-linking, never duplicating) on an expired cursor.
//!
//! Dependencies beyond the workspace's required ones: `tokio` (timers, semaphores, the runtime the
//! service and tests run on) and `futures-util` for `join_all`, which runs a feed's object rounds
//! together and keeps their outcomes in order (already built for sqlx and reqwest, so it adds no
//! crate to the build).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tandem_connector::memory::MemoryConnector;
//! use tandem_core::model::{Contact, Record};
//! use tandem_engine::{Engine, SyncOptions, UserSync, config::SyncConfig};
//! use tandem_store::SqliteStore;
//!
//! let crm = MemoryConnector::new("crm");
//! let mailbox = MemoryConnector::new("mailbox");
//! crm.insert(Record::Contact(Contact { family_name: Some("Lovelace".into()), ..Contact::default() }));
//! let engine = Engine::new(Arc::new(SqliteStore::in_memory().await?));
//! let job = UserSync::new("ada@example.com", SyncConfig::named("default"), Arc::new(crm), Arc::new(mailbox.clone()));
//! let report = engine.sync_user(&job, &SyncOptions::default()).await?;
//! println!("{report}");
//! assert_eq!(mailbox.len(tandem_core::model::ObjectKind::Contact), 1);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tandem_connector::{Connector, ConnectorError};
use tandem_core::model::ObjectKind;
use tandem_core::state::Side;
use tandem_policy::{Policy, PolicyError};
use tandem_store::{CycleCommit, StateStore, StoreError, UnresolvedEntry, UnresolvedKey, UserStatus};
use tracing::Instrument;

mod admin;
pub mod config;
mod cycle;
pub mod feed;
pub mod invariants;
pub mod migrate;
pub mod report;

use config::{ConnectionSpec, SyncConfig, TandemConfig, UserAssignment};
pub use feed::FeedReport;
pub use migrate::RepointReport;
pub use report::{ObjectReport, PhaseTimes, SyncReport, UnresolvedIssue};
pub use tandem_store::{CycleCounts, CycleOperation, CycleRecord, QuarantineEntry, UserOverview};

/// Why a user's sync failed as a whole. Per-record problems never end up here: they are
/// quarantined or retried and reported in the [`SyncReport`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A connector failed in a way that stops this user's cycle (auth, outage, exhausted retries).
    #[error("{side} connector: {error}")]
    Connector {
        /// Which side.
        side: Side,
        /// What went wrong.
        error: ConnectorError,
    },
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The run's claim on the user was lost ([`SyncOptions::fence`]): it stopped before sending
    /// more writes or committing. The writes it journaled are settled by the next cycle.
    #[error("the claim on this user was lost (another worker may hold it); stopped before writing or committing")]
    ClaimLost,
    /// A journal entry could not be read back.
    #[error("journal: {0}")]
    Journal(String),
    /// Planning went wrong inside the engine (a bug): nothing was journaled or written, and the
    /// next cycle plans again.
    #[error("planning: {0}")]
    Planning(String),
    /// Syncing this user panicked: a bug, contained so that the other users go on. The
    /// message is the panic's, when it had a text one.
    #[error("the sync of this user stopped on an internal error (a panic): {0}")]
    Panicked(String),
    /// The security policy refused the sync: a side's connection breaks a rule (the error names
    /// it), or the policy itself is invalid (`side` is `None`). Nothing was read or written.
    #[error("{}", describe_policy_error(*side, error))]
    Policy {
        /// The side whose connection was refused; `None` for an invalid policy.
        side: Option<Side>,
        /// The policy's answer.
        error: PolicyError,
    },
}

fn describe_policy_error(side: Option<Side>, error: &PolicyError) -> String {
    match side {
        Some(side) => format!("{side} connection refused by the security policy: {error}"),
        None => format!("security policy: {error}"),
    }
}

/// Where the engine gets the time. Injected so tests and simulations are deterministic.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Tuning knobs of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How many users sync at once in [`Engine::sync_all`].
    pub max_concurrent_users: usize,
    /// How many times one call is retried after `Throttled` before the cycle gives up.
    pub max_throttle_retries: u32,
    /// The longest single wait after `Throttled`, whatever the provider asked.
    pub max_throttle_wait: Duration,
    /// The wait after `Throttled` when the provider gave no `Retry-After`.
    pub default_throttle_wait: Duration,
    /// How many times a read (a page of the change feed, a fetch by id) is tried again after a
    /// `Transient` failure, waiting `default_throttle_wait` and then twice as long each time.
    /// Writes are never retried here: connectors retry what is safe to repeat.
    pub max_transient_read_retries: u32,
    /// How many times a call is sent again after an authentication failure the connector says it
    /// can recover from (`Auth { refreshable: true }`: it refreshes its token first). A refused
    /// token means nothing was carried out, so writes are sent again too.
    pub max_auth_retries: u32,
    /// How many rounds of refetch-and-replan a stale version gets within one cycle.
    pub max_replans: u32,
    /// Ids per `fetch` call.
    pub fetch_chunk: usize,
    /// How often an unresolved item is rechecked with the target (one query per object and
    /// side, only when items are due).
    pub unresolved_recheck_interval: Duration,
    /// A member of an organization feed that has not consumed its inbox (committed a cycle that
    /// read it) for this long (a user removed from the configuration, or stopped, or whose
    /// cycles keep failing) is removed from the feed with its rows by [`Engine::run_feed`]; if it
    /// comes back it reads its own data once, as at its first sync.
    pub feed_member_idle: Duration,
    /// Whether a user's contact and event cycles may run at the same time, sharing write
    /// requests, when both of the user's connectors allow it (`Connector::concurrent_objects`).
    /// Default true; false syncs contacts, then events, each with requests of its own.
    pub objects_at_once: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_concurrent_users: 8,
            max_throttle_retries: 5,
            max_throttle_wait: Duration::from_secs(60),
            default_throttle_wait: Duration::from_secs(1),
            max_transient_read_retries: 2,
            max_auth_retries: 1,
            max_replans: 2,
            fetch_chunk: 100,
            unresolved_recheck_interval: Duration::from_secs(15 * 60),
            feed_member_idle: Duration::from_secs(7 * 24 * 60 * 60),
            objects_at_once: true,
        }
    }
}

/// Options of one sync run.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Plan only: return the plan in the report and write nothing, not even state.
    pub dry_run: bool,
    /// Let every delete held by the mass-delete guard through (an administrator approved them
    /// all). To approve exactly the deletes held now, see [`Engine::approve_held_deletes`].
    pub release_held_deletes: bool,
    /// Only these objects (default: both).
    pub objects: Option<Vec<ObjectKind>>,
    /// The claim this run holds on the user, when workers share the store: checked before each
    /// batch of writes and before each commit, so a worker that lost its claim stops (with
    /// [`EngineError::ClaimLost`]) instead of running beside the worker that took it over.
    pub fence: Option<Arc<dyn Fence>>,
}

/// A claim the engine checks while it runs ([`SyncOptions::fence`]).
#[async_trait::async_trait]
pub trait Fence: Send + Sync + std::fmt::Debug {
    /// Whether the claim is still held.
    async fn held(&self) -> bool;
}

#[async_trait::async_trait]
impl Fence for tandem_store::Claim {
    async fn held(&self) -> bool {
        self.is_held().await
    }
}

/// One user's sync job: the configuration and both sides' connectors.
#[derive(Clone)]
pub struct UserSync {
    /// The user or mailbox.
    pub user: String,
    /// The configuration assigned to the user.
    pub config: Arc<SyncConfig>,
    /// The CRM side.
    pub crm: Arc<dyn Connector>,
    /// The mailbox side.
    pub mailbox: Arc<dyn Connector>,
    /// The organization feed the CRM side's changes come from ([`Engine::run_feed`]), by name;
    /// `None`: the CRM connector is polled for this user alone.
    pub crm_feed: Option<String>,
}

impl std::fmt::Debug for UserSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSync")
            .field("user", &self.user)
            .field("config", &self.config.name)
            .field("crm", &self.crm.provider())
            .field("mailbox", &self.mailbox.provider())
            .finish()
    }
}

impl UserSync {
    /// A job.
    pub fn new(
        user: impl Into<String>,
        config: SyncConfig,
        crm: Arc<dyn Connector>,
        mailbox: Arc<dyn Connector>,
    ) -> Self {
        UserSync { user: user.into(), config: Arc::new(config), crm, mailbox, crm_feed: None }
    }

    /// Builder: the CRM side's changes come from the organization feed `feed` (run by
    /// [`Engine::run_feed`] under the same name), not from polling the CRM for this user.
    pub fn with_crm_feed(mut self, feed: impl Into<String>) -> Self {
        self.crm_feed = Some(feed.into());
        self
    }

    /// The connector of one side.
    pub fn connector(&self, side: Side) -> &dyn Connector {
        match side {
            Side::Crm => self.crm.as_ref(),
            Side::Mailbox => self.mailbox.as_ref(),
        }
    }
}

/// Builds connectors from configuration. Each connector crate provides one; the facade combines
/// them.
pub trait ConnectorFactory: Send + Sync {
    /// The connector for `side` of `user`, as `spec` describes it.
    fn connect(
        &self,
        user: &UserAssignment,
        side: Side,
        spec: &ConnectionSpec,
    ) -> Result<Arc<dyn Connector>, EngineError>;
}

struct Inner {
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    options: EngineOptions,
    policy: Arc<Policy>,
    /// When a sync last pruned the audit log (see [`AUDIT_PRUNE_INTERVAL`]).
    audit_pruned_at: std::sync::Mutex<Option<DateTime<Utc>>>,
}

/// How often syncs prune the audit log. Retention is counted in days, and a prune is a write
/// transaction that every other writer of the store waits behind: pruning at the end of each of
/// 10,000 users' syncs was 10,000 such waits a round for one useful one.
const AUDIT_PRUNE_INTERVAL: chrono::Duration = chrono::Duration::minutes(1);

/// The sync runtime. Cheap to clone; clones share the store.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("options", &self.inner.options)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store` with the system clock, default options and the default security
    /// policy ([`Policy::default`]).
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Engine::with(store, Arc::new(SystemClock), EngineOptions::default())
    }

    /// An engine with an injected clock and options, and the default security policy.
    pub fn with(store: Arc<dyn StateStore>, clock: Arc<dyn Clock>, options: EngineOptions) -> Self {
        Engine {
            inner: Arc::new(Inner {
                store,
                clock,
                options,
                policy: Arc::new(Policy::default()),
                audit_pruned_at: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The same engine under another security policy. Load it with
    /// [`Policy::from_toml_str`], which validates it; an invalid policy fails every sync with
    /// [`EngineError::Policy`]. Clones made before this call keep the old policy.
    #[must_use]
    pub fn with_policy(self, policy: Arc<Policy>) -> Self {
        let inner = &self.inner;
        Engine {
            inner: Arc::new(Inner {
                store: Arc::clone(&inner.store),
                clock: Arc::clone(&inner.clock),
                options: inner.options.clone(),
                policy,
                audit_pruned_at: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The security policy.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.inner.policy
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.inner.store
    }

    /// The jobs a configuration describes, with connectors from `factory`.
    pub fn jobs(&self, config: &TandemConfig, factory: &dyn ConnectorFactory) -> Result<Vec<UserSync>, EngineError> {
        config.validate()?;
        config
            .users
            .iter()
            .map(|u| {
                let sync = config
                    .configuration_for(&u.user)
                    .cloned()
                    .ok_or_else(|| EngineError::Config(format!("no configuration for `{}`", u.user)))?;
                Ok(UserSync {
                    user: u.user.clone(),
                    config: Arc::new(sync),
                    crm: factory.connect(u, Side::Crm, &u.crm)?,
                    mailbox: factory.connect(u, Side::Mailbox, &u.mailbox)?,
                    crm_feed: None,
                })
            })
            .collect()
    }

    /// Runs one sync of one user: both objects (unless limited), one cycle each. Records the
    /// user's status (except in dry runs).
    pub async fn sync_user(&self, job: &UserSync, options: &SyncOptions) -> Result<SyncReport, EngineError> {
        let span = tracing::info_span!("sync", user = %job.user, dry_run = options.dry_run);
        let mut history = Vec::new();
        let result = cycle::sync_user(self, job, options, &mut history).instrument(span).await;
        if options.dry_run {
            self.keep_history(&history).await;
        } else {
            self.record_status(&job.user, &result, &history).await?;
            // Retention is housekeeping: a failure to prune never fails the sync.
            if self.audit_prune_due()
                && let Err(error) = self.prune_audit().await
            {
                tracing::warn!(error = %error, "could not prune the audit log");
            }
        }
        result
    }

    /// Whether this sync should prune the audit log: the first sync of this engine does, then
    /// one at most every [`AUDIT_PRUNE_INTERVAL`] (or when the clock went back). Taking the turn
    /// marks it taken, so syncs finishing together do not all prune.
    fn audit_prune_due(&self) -> bool {
        let now = self.inner.clock.now();
        let mut last = self.inner.audit_pruned_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last.is_none_or(|at| now < at || now - at >= AUDIT_PRUNE_INTERVAL);
        if due {
            *last = Some(now);
        }
        due
    }

    /// Deletes audit entries older than the policy's retention (`audit.retention_days`), of
    /// every user. [`Engine::sync_user`] calls it at the end of a sync that is not a dry run:
    /// the engine's first, then at most once a minute. Returns how many entries were deleted.
    pub async fn prune_audit(&self) -> Result<u64, EngineError> {
        let cutoff = self.inner.clock.now() - self.inner.policy.audit_retention();
        let deleted = self.inner.store.prune_audit(cutoff).await?;
        if deleted > 0 {
            tracing::debug!(deleted, %cutoff, "pruned the audit log");
        }
        Ok(deleted)
    }

    /// Sets the user's status after a sync and keeps the sync's cycles in the history, in one
    /// write where the store can. Only the status is required: should the joint write fail, the
    /// status is written alone and the history's loss is logged.
    async fn record_status(
        &self,
        user: &str,
        result: &Result<SyncReport, EngineError>,
        history: &[CycleRecord],
    ) -> Result<(), EngineError> {
        let status = match self.next_status(user, result).await {
            Ok(status) => status,
            Err(error) => {
                self.keep_history(history).await;
                return Err(error);
            }
        };
        if let Err(error) = self.inner.store.finish_sync(history, &status).await {
            tracing::warn!(error = %error, "could not record the cycles in the history with the status");
            self.inner.store.set_status(&status).await?;
        }
        Ok(())
    }

    /// Keeps a sync's cycles in the history. Housekeeping: a failure is logged, never fails the
    /// sync.
    async fn keep_history(&self, history: &[CycleRecord]) {
        if let Err(error) = self.inner.store.record_cycles(history).await {
            tracing::warn!(error = %error, "could not record the cycles in the history");
        }
    }

    /// The user's status after a sync with this result.
    async fn next_status(
        &self,
        user: &str,
        result: &Result<SyncReport, EngineError>,
    ) -> Result<UserStatus, EngineError> {
        let now = self.inner.clock.now();
        let previous = self.inner.store.status(user).await?;
        let mut status = previous.unwrap_or(UserStatus {
            user: user.to_owned(),
            last_cycle_at: None,
            last_success_at: None,
            last_error: None,
            consecutive_failures: 0,
            ambiguous_matches: 0,
        });
        status.last_cycle_at = Some(now);
        match result {
            Ok(report) => {
                status.last_success_at = Some(now);
                status.last_error = None;
                status.consecutive_failures = 0;
                // Counted from the quarantine only when this sync reported one or some were
                // waiting before: a quiet sync reads nothing more.
                if status.ambiguous_matches > 0 || report.objects.iter().any(|o| !o.ambiguous.is_empty()) {
                    let waiting =
                        self.inner.store.quarantine(user).await?.iter().filter(|q| cycle::is_ambiguous(q)).count();
                    status.ambiguous_matches = u32::try_from(waiting).unwrap_or(u32::MAX);
                }
            }
            Err(e) => {
                tracing::warn!(user, error = %e, "sync failed");
                status.last_error = Some(e.to_string());
                status.consecutive_failures = status.consecutive_failures.saturating_add(1);
            }
        }
        Ok(status)
    }

    /// Syncs many users concurrently, at most [`EngineOptions::max_concurrent_users`] at once.
    /// One user's failure is recorded in that user's status and never stops the others.
    /// Results come back in the order of `jobs`.
    pub async fn sync_all(
        &self,
        jobs: Vec<UserSync>,
        options: &SyncOptions,
    ) -> Vec<(String, Result<SyncReport, EngineError>)> {
        let limit = Arc::new(tokio::sync::Semaphore::new(self.inner.options.max_concurrent_users.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut spawned = std::collections::HashMap::new();
        for (index, job) in jobs.into_iter().enumerate() {
            let engine = self.clone();
            let limit = Arc::clone(&limit);
            let options = options.clone();
            let user = job.user.clone();
            let handle = tasks.spawn(async move {
                // The semaphore is never closed, so acquiring cannot fail; run unbounded if it did.
                let _permit = limit.acquire_owned().await.ok();
                let result = engine.sync_user(&job, &options).await;
                (index, job.user, result)
            });
            spawned.insert(handle.id(), (index, user));
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next_with_id().await {
            match joined {
                Ok((_, done)) => results.push(done),
                // A panic is contained to its user: it becomes that user's failure, recorded in
                // the user's status like any other, and the others go on.
                Err(e) => {
                    let Some((index, user)) = spawned.remove(&e.id()) else { continue };
                    let message = if e.is_panic() {
                        tandem_core::guard::panic_message(e.into_panic().as_ref())
                    } else {
                        "the task was cancelled".to_owned()
                    };
                    tracing::error!(user = %user, panic = %message, "syncing a user panicked");
                    let result = Err(EngineError::Panicked(message));
                    if !options.dry_run
                        && let Err(error) = self.record_status(&user, &result, &[]).await
                    {
                        tracing::warn!(user = %user, error = %error, "could not record the status of a failed sync");
                    }
                    results.push((index, user, result));
                }
            }
        }
        results.sort_by_key(|(index, _, _)| *index);
        results.into_iter().map(|(_, user, result)| (user, result)).collect()
    }

    /// Lightning Sync's "Reset Sync": forgets `user`'s pairs, cursors, journal, refetch queue and
    /// quarantine (for one object or both). The next cycle reads both sides in full and rebuilds
    /// the pairs by matching, with no duplicates and no change to record data.
    pub async fn reset_user(&self, user: &str, object: Option<ObjectKind>) -> Result<(), EngineError> {
        self.inner.store.reset_user(user, object).await?;
        Ok(())
    }

    /// `user`'s unresolved items (Lightning Sync's "Unresolved Items"): records synced without
    /// part of them, or set aside, until the cause is resolved in the target system. Each is
    /// rechecked every [`EngineOptions::unresolved_recheck_interval`] and retried once resolved.
    pub async fn unresolved(&self, user: &str) -> Result<Vec<UnresolvedEntry>, EngineError> {
        Ok(self.inner.store.unresolved(user).await?)
    }

    /// An administrator dismisses an unresolved item: it is no longer listed nor rechecked, and
    /// what was carried across stays as it is. A record set aside entirely (kind
    /// `event_unrelated`) stays in quarantine until it changes. Returns whether the item existed.
    pub async fn dismiss_unresolved(
        &self,
        user: &str,
        object: ObjectKind,
        key: &UnresolvedKey,
    ) -> Result<bool, EngineError> {
        let store = &self.inner.store;
        let exists = store.unresolved(user).await?.iter().any(|e| e.object == object && &e.key() == key);
        if exists {
            let commit = CycleCommit { unresolved_remove: vec![key.clone()], ..CycleCommit::default() };
            store.commit_cycle(user, object, commit).await?;
        }
        Ok(exists)
    }
}
