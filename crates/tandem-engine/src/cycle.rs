//! One cycle: recover, pull, plan, execute, settle, commit.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tandem_connector::{ConnectionInfo, ConnectorError, WriteOp, WriteResult};
use tandem_core::model::ObjectKind;
use tandem_core::plan::{Action, NextState, Operation, Plan};
use tandem_core::planner::{PairIndex, PlanInput, SideInput, plan, plan_taking};
use tandem_core::state::{Change, ChangeKind, Cursor, PairId, PairState, RecordId, Side, Version};
use tandem_policy::{PlanContext, PolicyDecision};
use tandem_store::feed::InboxConsumed;
use tandem_store::{
    AuditEntry, CycleCommit, CycleCounts, CycleOperation, CycleRecord, Intent, JournalJson, QuarantineEntry,
    UnresolvedEntry,
};
use tracing::Instrument;

use crate::report::{ConflictReport, ObjectReport, RecordIssue, SyncReport};
use crate::{Engine, EngineError, SyncOptions, UserSync};

mod feed;
mod recover;
mod retry;
mod settle;
mod shared;
mod unresolved;

use self::recover::{Unsettled, recover};
pub(crate) use self::retry::{Access, with_retries};
use self::shared::{CycleSeats, ReadSeat, Sharing, WriteSeat};

/// What the journal keeps for each write before it is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JournalEntry {
    pub(crate) operation: Operation,
    pub(crate) next: Option<NextState>,
}

/// A [`JournalEntry`] as written: borrowed from the plan, serialised the same way.
#[derive(Serialize)]
struct JournalEntryRef<'a> {
    operation: &'a Operation,
    next: Option<&'a NextState>,
}

fn intent_key(op: &Operation) -> String {
    match &op.action {
        Action::Create { key, .. } => key.0.clone(),
        Action::Update { target, id, expected, .. } => format!("update:{target}:{id}:{}", expected.as_str()),
        Action::Delete { target, id, expected } => format!("delete:{target}:{id}:{}", expected.as_str()),
        other => format!("{}:{:?}", other.name(), op.pair),
    }
}

/// About how many writes go into one durable journal transaction; a window closes at this size
/// but never splits a pair's writes (see `Cycle::execute`).
const JOURNAL_WINDOW: usize = 1024;

/// The side a write action writes to; `None` for actions that write nothing.
fn write_target(action: &Action) -> Option<Side> {
    match action {
        Action::Create { target, .. } | Action::Update { target, .. } | Action::Delete { target, .. } => Some(*target),
        _ => None,
    }
}

/// The connector's write for a write action, with its target; `None` for actions that write nothing.
/// A create's record moves into its write, leaving an empty record of the same kind in the plan:
/// only the journal (written before) and the connector need it, and a first sync's records then
/// go as their batches are answered rather than after the whole cycle.
fn take_write_op(action: &mut Action) -> Option<(Side, WriteOp)> {
    match action {
        Action::Create { target, key, record, .. } => {
            Some((*target, WriteOp::Create { key: key.clone(), record: record.take() }))
        }
        Action::Update { target, id, expected, patch, .. } => {
            Some((*target, WriteOp::Update { id: id.clone(), expected: expected.clone(), patch: patch.clone() }))
        }
        Action::Delete { target, id, expected } => {
            Some((*target, WriteOp::Delete { id: id.clone(), expected: expected.clone() }))
        }
        _ => None,
    }
}

/// The record a write was made on behalf of: where a rejected write's record is quarantined.
fn source_of(op: &Operation, states: &BTreeMap<PairId, NextState>, pairs: &PairIndex) -> Option<(Side, RecordId)> {
    match &op.action {
        Action::Create { target, source_id, .. } => Some((target.other(), source_id.clone())),
        Action::Update { target, .. } | Action::Delete { target, .. } => {
            let pair = op.pair.as_ref()?;
            let id = match states.get(pair) {
                Some(NextState::Put(s)) => s.side(target.other()).id.clone(),
                _ => pairs.get(pair)?.side(target.other()).id.clone(),
            };
            Some((target.other(), id))
        }
        _ => None,
    }
}

/// One sync of one user. Its cycles' records for the history go into `history` (also when the
/// sync fails), for the caller to write with the user's status (`Engine::sync_user`).
pub(crate) async fn sync_user(
    engine: &Engine,
    job: &UserSync,
    options: &SyncOptions,
    history: &mut Vec<CycleRecord>,
) -> Result<SyncReport, EngineError> {
    let clock = &engine.inner.clock;
    let started_at = clock.now();
    let timer = Instant::now();
    let objects: Vec<ObjectKind> = options
        .objects
        .clone()
        .unwrap_or_else(|| ObjectKind::ALL.to_vec())
        .into_iter()
        .filter(|o| job.config.object(*o).direction != tandem_core::config::Direction::Off)
        .collect();
    // The policy first: no connector is called for a connection it refuses.
    let early = async {
        let mailbox = check_policy(engine, job, options, &objects).await?;
        let recovered = if options.dry_run { (0, Unsettled::default()) } else { recover(engine, job).await? };
        Ok::<_, EngineError>((mailbox, recovered))
    };
    let (mailbox, (recovered_intents, unsettled)) = match early.await {
        Ok(done) => done,
        Err(error) => {
            history.extend(objects.iter().map(|object| {
                CycleRecord::new(
                    &job.user,
                    *object,
                    started_at,
                    clock.now(),
                    options.dry_run,
                    format!("failed: {error}"),
                    CycleCounts::default(),
                )
            }));
            return Err(error);
        }
    };
    let run_one = |object: ObjectKind, seats: Option<CycleSeats>| {
        let (mailbox, unsettled) = (&mailbox, &unsettled);
        async move {
            // Instrument rather than enter: an entered guard held across an await leaks the span
            // into whatever else runs on the thread.
            let span = tracing::info_span!("cycle", object = %object);
            let (seat, first_pages) = match seats {
                Some(CycleSeats { write, first_pages }) => (Some(write), first_pages),
                None => (None, [None, None]),
            };
            let sharing = Sharing { write: seat.as_ref(), first_pages };
            let mut cycle = Cycle::new(engine, job, object, options, mailbox, unsettled, sharing);
            let result = cycle.run().instrument(span).await;
            let history = std::mem::take(&mut cycle.history);
            // The seat goes as soon as the cycle is done: the other object's batches stop waiting
            // for this one.
            drop(cycle);
            drop(seat);
            let (outcome, counts) = match &result {
                Ok(report) => ("ok".to_owned(), history_counts(report, options.dry_run)),
                Err(error) => (format!("failed: {error}"), CycleCounts::default()),
            };
            let record = CycleRecord::new(&job.user, object, started_at, clock.now(), options.dry_run, outcome, counts)
                .with_operations(history);
            (result, record)
        }
    };
    let mut results = Vec::with_capacity(objects.len());
    if let [first, second] = objects[..]
        && engine.inner.options.objects_at_once
        && shared::objects_at_once(job)
    {
        // Both objects at once, their requests to each side shared (`shared`); each object runs
        // to its end, and the first failure in object order is the sync's.
        let (first_seat, second_seat) = shared::seats();
        let (first, second) = tokio::join!(run_one(first, Some(first_seat)), run_one(second, Some(second_seat)));
        for (result, record) in [first, second] {
            results.push(result);
            history.push(record);
        }
    } else {
        for object in objects {
            let (result, record) = run_one(object, None).await;
            let failed = result.is_err();
            results.push(result);
            history.push(record);
            if failed {
                break;
            }
        }
    }
    let reports = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(SyncReport {
        user: job.user.clone(),
        dry_run: options.dry_run,
        started_at,
        duration_ms: u64::try_from(timer.elapsed().as_millis()).unwrap_or(u64::MAX),
        recovered_intents,
        objects: reports,
    })
}

/// A cycle's counts for the history: what was applied, or in a dry run what was planned.
fn history_counts(report: &ObjectReport, dry_run: bool) -> CycleCounts {
    let n = |kind: &str| if dry_run { report.planned(kind) } else { report.applied(kind) };
    CycleCounts::new(n("create"), n("update"), n("delete"), report.conflicts.len(), report.failed.len())
        .with_held(report.held_deletes, report.quarantined.len())
}

/// Asks the policy about both sides' connections, before any connector call. A refusal is
/// audited (except in dry runs) and fails the user's sync with the rule that applied. Returns the
/// mailbox side's connection, its principal defaulting to the user.
async fn check_policy(
    engine: &Engine,
    job: &UserSync,
    options: &SyncOptions,
    objects: &[ObjectKind],
) -> Result<ConnectionInfo, EngineError> {
    let policy = &engine.inner.policy;
    let mut mailbox = None;
    let mut outcome = policy.validate().map_err(|error| EngineError::Policy { side: None, error });
    if outcome.is_ok() {
        for side in Side::BOTH {
            let mut info = job.connector(side).connection();
            if side == Side::Mailbox && info.principal.is_none() {
                info.principal = Some(job.user.clone());
            }
            if let Err(error) = policy.check_connection(&info) {
                outcome = Err(EngineError::Policy { side: Some(side), error });
                break;
            }
            if side == Side::Mailbox {
                mailbox = Some(info);
            }
        }
    }
    let error = match (outcome, mailbox) {
        (Ok(()), Some(mailbox)) => return Ok(mailbox),
        (Err(error), _) => error,
        // Unreachable: a successful check always visits the mailbox side.
        (Ok(()), None) => EngineError::Config("the mailbox connection was not checked".into()),
    };
    tracing::warn!(error = %error, "the security policy refused the sync");
    if !options.dry_run {
        let (side, rule, provider) = match &error {
            EngineError::Policy { side, error: tandem_policy::PolicyError::Denied { rule, provider, .. } } => {
                (*side, Some(rule.to_string()), Some(provider.clone()))
            }
            EngineError::Policy { side, error } => (*side, error.rule().map(ToString::to_string), None),
            _ => (None, None, None),
        };
        let at = engine.inner.clock.now();
        let entries: Vec<AuditEntry> = objects
            .iter()
            .map(|object| AuditEntry {
                at,
                user: job.user.clone(),
                object: *object,
                side,
                record_id: None,
                action: "policy_deny".into(),
                outcome: "denied".into(),
                reason: error.to_string(),
                detail: Some(serde_json::json!({ "rule": rule, "provider": provider, "operation": "connect" })),
            })
            .collect();
        engine.inner.store.append_audit(&entries).await?;
    }
    Err(error)
}

/// The audit entry of one policy decision.
fn policy_audit(at: chrono::DateTime<chrono::Utc>, user: &str, object: ObjectKind, d: &PolicyDecision) -> AuditEntry {
    AuditEntry {
        at,
        user: user.to_owned(),
        object,
        side: d.side,
        record_id: d.record.clone(),
        action: d.action().into(),
        outcome: d.outcome().into(),
        reason: format!("policy rule `{}`: {}", d.rule, d.reason),
        detail: Some(serde_json::json!({
            "rule": d.rule,
            "operation": d.operation,
            "target": d.target,
            "pair": d.pair,
            "fields": d.fields,
        })),
    }
}

struct Cycle<'a> {
    engine: &'a Engine,
    job: &'a UserSync,
    object: ObjectKind,
    options: &'a SyncOptions,
    /// The mailbox side's connection, as the policy checked it.
    mailbox: &'a ConnectionInfo,
    /// Creates recovery could not settle: their sources sit this cycle out.
    unsettled: &'a Unsettled,
    report: ObjectReport,
    /// Audit entries of the policy's decisions, committed with the cycle.
    policy_audit: Vec<AuditEntry>,
    /// The user's open unresolved items for this object, after this cycle's recheck.
    unresolved: Vec<UnresolvedEntry>,
    /// The operations of this cycle and how they went, for the cycle history.
    pub(crate) history: Vec<CycleOperation>,
    /// The feed inbox rows this cycle read, dropped by its commit.
    feed_consumed: Option<InboxConsumed>,
    /// This cycle's place at the user's write rendezvous, when the objects run at once.
    seat: Option<&'a WriteSeat>,
    /// Its places at the first-page rendezvous of each side (CRM, mailbox), taken by the read.
    first_pages: [Option<ReadSeat>; 2],
}

/// What reading one side did, recorded in the report once both sides are read.
#[derive(Debug, Default)]
pub(crate) struct SideRead {
    /// Calls made, retries included.
    pub(crate) calls: u64,
    /// The side's cursor had expired: it was read in full.
    pub(crate) full_resync: bool,
    /// Changes read from the feed, when a feed was read.
    pub(crate) pulled: Option<usize>,
    /// The organization-feed inbox rows read, for the commit to drop.
    pub(crate) feed_consumed: Option<InboxConsumed>,
}

/// The outcome of executing one plan.
struct Executed {
    plan: Plan,
    results: HashMap<usize, WriteResult>,
}

impl<'a> Cycle<'a> {
    fn new(
        engine: &'a Engine,
        job: &'a UserSync,
        object: ObjectKind,
        options: &'a SyncOptions,
        mailbox: &'a ConnectionInfo,
        unsettled: &'a Unsettled,
        sharing: Sharing<'a>,
    ) -> Self {
        Cycle {
            engine,
            job,
            object,
            options,
            mailbox,
            unsettled,
            report: ObjectReport::new(object),
            policy_audit: Vec::new(),
            unresolved: Vec::new(),
            history: Vec::new(),
            feed_consumed: None,
            seat: sharing.write,
            first_pages: sharing.first_pages,
        }
    }

    /// Passes a plan through the policy before anything is journaled or sent; records each
    /// decision in the report and, for the commit, in the audit log.
    fn apply_policy(
        &mut self,
        plan: &mut Plan,
        pairs: &PairIndex,
        changes: &[Vec<Change>; 2],
        config: &tandem_core::config::ObjectConfig,
    ) {
        let context = PlanContext {
            user: &self.job.user,
            mailbox: self.mailbox,
            config,
            pairs,
            crm_changes: &changes[0],
            mailbox_changes: &changes[1],
        };
        let decisions = self.engine.inner.policy.apply(plan, &context);
        let now = self.engine.inner.clock.now();
        for d in &decisions {
            tracing::debug!(
                rule = %d.rule,
                operation = %d.operation,
                outcome = d.outcome(),
                target = ?d.target,
                "policy decision"
            );
            self.policy_audit.push(policy_audit(now, &self.job.user, self.object, d));
        }
        self.report.policy.extend(decisions);
    }

    fn user(&self) -> &str {
        &self.job.user
    }

    /// Fails with [`EngineError::ClaimLost`] when the run's fence says the user is no longer
    /// this worker's.
    async fn check_fence(&self) -> Result<(), EngineError> {
        match &self.options.fence {
            Some(fence) if !fence.held().await => Err(EngineError::ClaimLost),
            _ => Ok(()),
        }
    }

    /// Calls the connector with the engine's bounded retries (see [`with_retries`]).
    async fn call<T, F, Fut>(&mut self, side: Side, access: Access, f: F) -> Result<T, ConnectorError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ConnectorError>>,
    {
        let opts = self.engine.inner.options.clone();
        let calls = &mut self.report.api_calls;
        with_retries(&opts, side, access, &mut |side| calls.count(side), f).await
    }

    /// Calls the connector with the engine's bounded retries, counting into `read` (reads of the
    /// two sides run at once, so they cannot count into the report directly).
    async fn call_counted<T, F, Fut>(&self, side: Side, read: &mut SideRead, f: F) -> Result<T, ConnectorError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ConnectorError>>,
    {
        let calls = &mut read.calls;
        with_retries(&self.engine.inner.options, side, Access::Read, &mut |_| *calls += 1, f).await
    }

    /// Reads `side`'s changes: its change feed, or for the CRM side of a job on an organization
    /// feed, its inbox. Takes `&self` so that both sides are read at once.
    /// `first_page`: this cycle's seat at the side's first-page rendezvous, when the objects run
    /// at once.
    async fn pull(
        &self,
        side: Side,
        read: &mut SideRead,
        first_page: Option<ReadSeat>,
    ) -> Result<(Vec<Change>, Cursor), EngineError> {
        if side == Side::Crm
            && let Some(feed) = self.job.crm_feed.clone()
        {
            // The inbox is read from the store: nothing to share.
            drop(first_page);
            return self.pull_feed(&feed, read).await;
        }
        let saved = self.engine.inner.store.cursor(self.user(), self.object, side).await?;
        self.pull_connector(side, saved, read, first_page).await
    }

    /// Records what reading a side did in the report.
    fn absorb(&mut self, side: Side, read: SideRead) {
        self.report.api_calls.count_n(side, read.calls);
        if read.full_resync {
            self.report.full_resync.push(side);
        }
        if let Some(n) = read.pulled {
            self.report.pulled.insert(side, n);
        }
        if read.feed_consumed.is_some() {
            self.feed_consumed = read.feed_consumed;
        }
    }

    /// Pulls every page of `side`'s change feed from `saved`; the first through `first_page`'s
    /// rendezvous when given (a retryable failure there is tried again alone, with the usual
    /// retries).
    async fn pull_connector(
        &self,
        side: Side,
        saved: Option<Cursor>,
        read: &mut SideRead,
        first_page: Option<ReadSeat>,
    ) -> Result<(Vec<Change>, Cursor), EngineError> {
        let connector = self.job.connector(side);
        let object = self.object;
        let mut shared = match first_page {
            Some(seat) => {
                read.calls += 1;
                Some(shared::first_page(self.job, seat, side, object, saved.clone()).await)
            }
            None => None,
        };
        let mut cursor = saved;
        let mut restarted = false;
        let mut changes = Vec::new();
        loop {
            let current = cursor.clone();
            let page = match shared.take() {
                Some(answer) if !retry::retryable(answer.as_ref().err()) => answer,
                _ => self.call_counted(side, read, || connector.pull(object, current.as_ref())).await,
            };
            match page {
                Ok(page) => {
                    // The first page's list is kept as it is: a first sync's single page of
                    // thousands of records is not copied into a second list.
                    if changes.is_empty() {
                        changes = page.changes;
                    } else {
                        changes.extend(page.changes);
                    }
                    cursor = Some(page.cursor);
                    if page.done {
                        break;
                    }
                }
                Err(ConnectorError::CursorExpired) if !restarted && cursor.is_some() => {
                    tracing::info!(%side, "cursor expired; reading in full and re-linking existing pairs");
                    read.full_resync = true;
                    restarted = true;
                    changes.clear();
                    cursor = None;
                }
                Err(error) => return Err(EngineError::Connector { side, error }),
            }
        }
        read.pulled = Some(changes.len());
        Ok((changes, cursor.unwrap_or_default()))
    }

    async fn fetch(&mut self, side: Side, ids: &[RecordId]) -> Result<Vec<Change>, EngineError> {
        let mut read = SideRead::default();
        let fetched = self.fetch_counted(side, ids, &mut read).await;
        self.report.api_calls.count_n(side, read.calls);
        fetched
    }

    /// Reads records by id in chunks, counting into `read`.
    async fn fetch_counted(
        &self,
        side: Side,
        ids: &[RecordId],
        read: &mut SideRead,
    ) -> Result<Vec<Change>, EngineError> {
        let connector = self.job.connector(side);
        let object = self.object;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.engine.inner.options.fetch_chunk.max(1)) {
            let fetched = self
                .call_counted(side, read, || connector.fetch(object, chunk))
                .await
                .map_err(|error| EngineError::Connector { side, error })?;
            out.extend(fetched);
        }
        Ok(out)
    }

    /// Resolves the changes a connector reported by version only ([`ChangeKind::VersionOnly`]):
    /// one whose version is the one its pair holds on that side is an echo of Tandem's own write
    /// and is dropped unread; the others are read now (`Connector::fetch`) and take their place.
    /// A read that fails fails the cycle before anything is planned or committed (the cursors
    /// stay), so the next cycle reports them again. Returns the echoes dropped.
    async fn read_version_only(
        &mut self,
        changes: &mut [Vec<Change>; 2],
        pairs: &[PairState],
    ) -> Result<usize, EngineError> {
        let mut echoes = 0;
        for side in Side::BOTH {
            let unread = |c: &Change| matches!(c.kind, ChangeKind::VersionOnly);
            if !changes[idx(side)].iter().any(unread) {
                continue;
            }
            let held: HashMap<&RecordId, &Version> =
                pairs.iter().map(|p| (&p.side(side).id, &p.side(side).version)).collect();
            let mut to_read: Vec<RecordId> = Vec::new();
            changes[idx(side)].retain(|c| {
                if !unread(c) {
                    return true;
                }
                if !c.version.as_str().is_empty() && held.get(&c.id) == Some(&&c.version) {
                    echoes += 1;
                } else {
                    to_read.push(c.id.clone());
                }
                false
            });
            to_read.sort();
            to_read.dedup();
            if !to_read.is_empty() {
                let fetched = self.fetch(side, &to_read).await?;
                changes[idx(side)].extend(fetched);
            }
        }
        Ok(echoes)
    }

    /// Runs the cycle. The report is taken out of the cycle, which keeps its history.
    async fn run(&mut self) -> Result<ObjectReport, EngineError> {
        let store = self.engine.inner.store.clone();
        let user = self.job.user.clone();
        let object = self.object;

        let started = Instant::now();
        // 0. Unresolved items whose cause is gone queue their records for another look.
        self.unresolved = self.recheck_unresolved().await?;

        // 1. Read both sides: the change feeds, then records queued for another look, then
        // deletes held by the guard (re-presented every cycle until approved).
        let quarantined: Vec<QuarantineEntry> =
            store.quarantine(&user).await?.into_iter().filter(|q| q.object == object).collect();
        let mut changes: [Vec<Change>; 2] = [Vec::new(), Vec::new()];
        let mut cursors: [Cursor; 2] = [Cursor::default(), Cursor::default()];
        let mut refetched: Vec<(Side, RecordId)> = Vec::new();
        let mut deferred: Vec<(Side, RecordId)> = Vec::new();
        // Both sides at once: a cycle's reads are mostly waiting on two providers.
        let (mut crm_read, mut mailbox_read) = (SideRead::default(), SideRead::default());
        let [crm_seat, mailbox_seat] = std::mem::take(&mut self.first_pages);
        let (crm_pulled, mailbox_pulled) = tokio::join!(
            self.pull(Side::Crm, &mut crm_read, crm_seat),
            self.pull(Side::Mailbox, &mut mailbox_read, mailbox_seat)
        );
        self.absorb(Side::Crm, crm_read);
        self.absorb(Side::Mailbox, mailbox_read);
        let mut both = [Some(crm_pulled?), Some(mailbox_pulled?)];
        for side in Side::BOTH {
            let (mut pulled, cursor) = both[idx(side)].take().unwrap_or_default();
            let queued = store.refetch_queue(&user, object, side).await?;
            if !queued.is_empty() {
                // Records queued for another look stay queued if they cannot be read now; the
                // rest of the cycle goes on without them.
                match self.fetch(side, &queued).await {
                    Ok(fetched) => {
                        pulled.extend(fetched);
                        refetched.extend(queued.into_iter().map(|id| (side, id)));
                    }
                    Err(error) => {
                        tracing::warn!(%side, error = %error, count = queued.len(), "could not re-read queued records; they stay queued");
                    }
                }
            }
            for held in quarantined.iter().filter(|q| q.side == side && is_held_delete(q)) {
                if !pulled.iter().any(|c| c.id == held.record_id) {
                    pulled.push(Change::deleted(held.record_id.0.clone()));
                }
            }
            // The source of a create still in doubt waits until recovery settles it.
            pulled.retain(|c| {
                let wait = self.unsettled.holds(object, side, &c.id);
                if wait {
                    deferred.push((side, c.id.clone()));
                }
                !wait
            });
            changes[idx(side)] = pulled;
            cursors[idx(side)] = cursor;
        }

        // Survivors of rejected held deletes are restored: read as a person's record, not as
        // Tandem's copy of a record no longer mapped (which is never copied back).
        for q in quarantined.iter().filter(|q| is_admin_pending(q) && !is_held_delete(q)) {
            for change in changes[idx(q.side)].iter_mut().filter(|c| c.id == q.record_id) {
                change.sync_key = None;
            }
        }

        // An ambiguous record that changed is judged again against the record it matched, so
        // the counterpart is read too (it is paired, and unchanged records are not in the feed).
        let seen = changed_ids(&changes);
        for side in Side::BOTH {
            let counterparts: Vec<RecordId> = quarantined
                .iter()
                .filter(|q| q.side == side.other() && seen[idx(side.other())].contains(&q.record_id))
                .filter_map(ambiguous_counterpart)
                .filter(|id| !seen[idx(side)].contains(id))
                .collect();
            if !counterparts.is_empty() {
                match self.fetch(side, &counterparts).await {
                    Ok(fetched) => changes[idx(side)].extend(fetched),
                    Err(error) => {
                        tracing::warn!(%side, error = %error, "could not re-read the counterparts of ambiguous records")
                    }
                }
            }
        }

        // 2. Load the pairs these changes touch, and nothing else: by record id, and by Tandem's
        // key for records not paired under their id (a record that moved gets a new id).
        let mut pairs = Vec::new();
        for side in Side::BOTH {
            let ids: Vec<RecordId> = changes[idx(side)].iter().map(|c| c.id.clone()).collect();
            pairs.extend(store.pairs_by_record(&user, object, side, &ids).await?);
        }
        let unread_echoes = self.read_version_only(&mut changes, &pairs).await?;
        let known: [HashSet<RecordId>; 2] =
            Side::BOTH.map(|side| pairs.iter().map(|p: &PairState| p.side(side).id.clone()).collect());
        let loaded: HashSet<PairId> = pairs.iter().map(|p| p.pair_id.clone()).collect();
        let mut keys: BTreeSet<PairId> = BTreeSet::new();
        for side in Side::BOTH {
            for change in &changes[idx(side)] {
                if let Some(key) = &change.sync_key
                    && change.record().is_some()
                    && !known[idx(side)].contains(&change.id)
                    && !loaded.contains(key)
                {
                    keys.insert(key.clone());
                }
            }
        }
        for key in keys {
            if let Some(pair) = store.pair(&user, object, &key).await? {
                pairs.push(pair);
            }
        }
        let pairs = PairIndex::new(pairs);
        // The records of a pair whose updates are still in doubt wait too, whatever their id.
        if !self.unsettled.pairs.is_empty() {
            for side in Side::BOTH {
                changes[idx(side)].retain(|c| {
                    let pair = pairs.pair_of(side, &c.id).or_else(|| c.sync_key.clone());
                    let wait = pair.is_some_and(|p| self.unsettled.pairs.contains(&(object, p)));
                    if wait {
                        deferred.push((side, c.id.clone()));
                    }
                    !wait
                });
            }
        }
        let mapped_pairs = store.pair_count(&user, object).await?;

        // Held deletes an administrator approved: exactly these get through the guard.
        let approved: BTreeSet<(Side, RecordId)> = quarantined
            .iter()
            .filter(|q| is_held_delete(q) && is_approved(q))
            .map(|q| (q.side, q.record_id.clone()))
            .collect();

        // 3. Plan.
        let read_done = Instant::now();
        self.report.phases.read_us = micros(read_done - started);
        let caps = [self.job.crm.capabilities(), self.job.mailbox.capabilities()];
        let config = self.job.config.object(object).clone();
        let now = self.engine.inner.clock.now();
        // Every record read this cycle, before creates take theirs out of the lists.
        let seen = changed_ids(&changes);
        let taking = {
            let input = PlanInput {
                object,
                config: &config,
                pairs: &pairs,
                mapped_pairs,
                crm: SideInput { changes: &changes[0], capabilities: caps[0].object(object) },
                mailbox: SideInput { changes: &changes[1], capabilities: caps[1].object(object) },
                now,
                release_held_deletes: self.options.release_held_deletes,
                approved_deletes: &approved,
                mailbox_owner: self.mailbox.principal.as_deref(),
            };
            plan_taking(&input)
        };
        // The records creates copy as they are move into the plan instead of being copied: a
        // first sync holds each record once. The policy then finds a create's record in the
        // create itself.
        let mut planned = {
            let [crm, mailbox] = &mut changes;
            taking.take_from(crm, mailbox).map_err(|e| EngineError::Planning(e.to_string()))?
        };
        // 4. The security policy: denied operations become skips, transformed ones are written
        // as the policy says; before anything is journaled, so dry runs show it too.
        self.apply_policy(&mut planned, &pairs, &changes, &config);
        for (kind, n) in planned.counts() {
            self.report.planned.insert(kind.to_owned(), n);
        }
        self.report.echoes_suppressed = planned.echoes_suppressed + unread_echoes;
        let plan_done = Instant::now();
        self.report.phases.plan_us = micros(plan_done - read_done);
        if self.options.dry_run {
            self.collect_notes(&planned);
            self.history = planned
                .operations
                .iter()
                .map(|op| {
                    let line = tandem_core::plan::PlannedOperation::of(op);
                    let outcome = match &op.action {
                        Action::Conflict { resolution, .. } => format!("planned: {resolution:?}"),
                        _ => "planned".to_owned(),
                    };
                    CycleOperation::new(line.kind, line.side, line.record_id, line.reason, outcome)
                })
                .collect();
            self.report.plan = Some(planned);
            return Ok(std::mem::replace(&mut self.report, ObjectReport::new(object)));
        }

        // From here the records read matter only to replanning, which carries the changes of
        // pairs already known (`replan` re-reads the pairs of the index whose write met a changed
        // target). The rest go now, so that a first sync does not hold every record it read
        // beside the plan's copies through all its writes.
        for side in Side::BOTH {
            let kept = &mut changes[idx(side)];
            kept.retain(|c| {
                pairs.pair_of(side, &c.id).is_some() || c.sync_key.as_ref().is_some_and(|key| pairs.contains(key))
            });
            kept.shrink_to_fit();
        }

        // 5. Execute, refetching and replanning pairs whose target moved under us.
        let mut rounds = Vec::new();
        let mut current = planned;
        let mut round = 0;
        loop {
            let results = self.execute(&mut current).await?;
            let stale: BTreeSet<PairId> = current
                .operations
                .iter()
                .enumerate()
                .filter(|(i, _)| matches!(results.get(i), Some(Err(ConnectorError::PreconditionFailed { .. }))))
                .filter_map(|(_, op)| op.pair.clone())
                .collect();
            if stale.is_empty() || round >= self.engine.inner.options.max_replans {
                rounds.push(Executed { plan: current, results });
                break;
            }
            round += 1;
            let next = match self.replan(&current, &stale, &changes, &pairs, &caps, &config).await {
                Ok(next) => next,
                Err(error) => {
                    // The stale pairs are settled as failed (queued for another look); what
                    // succeeded is committed.
                    tracing::warn!(error = %error, "could not re-read stale records; they wait for the next cycle");
                    rounds.push(Executed { plan: current, results });
                    break;
                }
            };
            self.report.replanned += stale.len();
            // The stale pairs are settled by the next round.
            for pair in &stale {
                current.states.remove(pair);
            }
            rounds.push(Executed { plan: current, results });
            current = next;
        }

        // 6. Settle and commit atomically.
        let write_done = Instant::now();
        self.report.phases.write_us = micros(write_done - plan_done);
        // The changes kept for replanning go before the commit is built.
        drop(changes);
        let mut commit = CycleCommit { audit: std::mem::take(&mut self.policy_audit), ..CycleCommit::default() };
        for executed in rounds {
            self.settle(executed, &pairs, &mut commit);
        }
        commit.cursors = vec![(Side::Crm, Some(cursors[0].clone())), (Side::Mailbox, Some(cursors[1].clone()))];
        let requarantined: HashSet<(Side, RecordId)> =
            commit.quarantine_add.iter().map(|q| (q.side, q.record_id.clone())).collect();
        for q in &quarantined {
            let key = (q.side, q.record_id.clone());
            if !requarantined.contains(&key) && seen[idx(q.side)].contains(&q.record_id) {
                commit.quarantine_remove.push(key);
            }
        }
        commit.refetch_add.extend(deferred);
        let requeued: HashSet<(Side, RecordId)> = commit.refetch_add.iter().cloned().collect();
        commit.refetch_remove = refetched.into_iter().filter(|r| !requeued.contains(r)).collect();
        self.history = commit
            .audit
            .iter()
            .map(|a| CycleOperation::new(&a.action, a.side, a.record_id.clone(), &a.reason, &a.outcome))
            .collect();
        // The inbox rows read go with the commit that moves the member cursor past them: one
        // write, not a second one after it.
        commit.feed_consumed = self.feed_consumed.take();
        self.check_fence().await?;
        store.commit_cycle(&user, object, commit).await?;
        self.report.phases.commit_us = micros(write_done.elapsed());
        Ok(std::mem::replace(&mut self.report, ObjectReport::new(object)))
    }

    /// Records the plan's conflicts, quarantines and holds in the report.
    fn collect_notes(&mut self, plan: &Plan) {
        for op in &plan.operations {
            match &op.action {
                Action::Conflict { fields, resolution } => self.report.conflicts.push(ConflictReport {
                    pair: op.pair.clone(),
                    fields: fields.iter().map(ToString::to_string).collect(),
                    resolution: *resolution,
                    reason: op.reason.clone(),
                }),
                Action::Quarantine { side, id } => {
                    self.report.quarantined.push(RecordIssue {
                        side: *side,
                        id: id.clone(),
                        reason: op.reason.clone(),
                    });
                }
                Action::HoldDelete { .. } => self.report.held_deletes += 1,
                Action::Ambiguous { side, id, .. } => {
                    self.report.ambiguous.push(RecordIssue { side: *side, id: id.clone(), reason: op.reason.clone() })
                }
                _ => {}
            }
        }
    }

    /// Journals, then sends a plan's writes in batches per target. Returns results by operation
    /// index.
    ///
    /// The journal is written a window of about [`JOURNAL_WINDOW`] writes at a time, each window
    /// durable before any of its writes is sent (its CRM writes first, then its mailbox's), so a
    /// first sync of ten thousand records never holds ten thousand serialised entries at once.
    /// **A pair's writes are always in one window:** recovery settles a pair from its journaled
    /// writes and the planned state, and takes a side without a journaled write to hold what it
    /// held, so one side's write must never be journaled (and sent) without the other's. A crash
    /// between windows leaves later writes unjournaled and unsent, which the next cycle plans
    /// again.
    ///
    /// Each create's record moves out of `plan` into its write once journaled: afterwards the
    /// plan's creates hold empty records (settling and replanning never read them).
    async fn execute(&mut self, plan: &mut Plan) -> Result<HashMap<usize, WriteResult>, EngineError> {
        let store = self.engine.inner.store.clone();
        let now = self.engine.inner.clock.now();
        let mut windows: Vec<Vec<usize>> = Vec::new();
        let mut window_of: HashMap<&PairId, usize> = HashMap::new();
        for (i, op) in plan.operations.iter().enumerate() {
            if write_target(&op.action).is_none() {
                continue;
            }
            let window = match op.pair.as_ref().and_then(|p| window_of.get(p)) {
                Some(&w) => w,
                None => {
                    if windows.last().is_none_or(|w| w.len() >= JOURNAL_WINDOW) {
                        windows.push(Vec::new());
                    }
                    let w = windows.len() - 1;
                    if let Some(pair) = &op.pair {
                        window_of.insert(pair, w);
                    }
                    w
                }
            };
            windows[window].push(i);
        }
        let mut results = HashMap::new();
        let object = self.object;
        for window in windows {
            let mut intents = Vec::with_capacity(window.len());
            let mut by_target: [Vec<(usize, WriteOp)>; 2] = [Vec::new(), Vec::new()];
            for i in window {
                let op = &plan.operations[i];
                if write_target(&op.action).is_none() {
                    continue;
                }
                // Journaled as planned, record and all, before the record moves into the write.
                let entry = JournalEntryRef { operation: op, next: op.pair.as_ref().and_then(|p| plan.states.get(p)) };
                let operation = JournalJson::to_json(&entry).map_err(|e| EngineError::Journal(e.to_string()))?;
                let key = intent_key(op);
                let Some((target, write)) = take_write_op(&mut plan.operations[i].action) else { continue };
                intents.push(Intent { user: self.job.user.clone(), object, key, target, operation, created_at: now });
                by_target[idx(target)].push((i, write));
            }
            // Write-ahead: the window's intents are durable before any of it is sent.
            store.record_intents(&intents).await?;
            drop(intents);
            let (job, seat) = (self.job, self.seat);
            for target in Side::BOTH {
                let max = job.connector(target).capabilities().object(object).max_batch.max(1);
                let mut writes = std::mem::take(&mut by_target[idx(target)]).into_iter();
                loop {
                    let (chunk, ops): (Vec<usize>, Vec<WriteOp>) = writes.by_ref().take(max).unzip();
                    if chunk.is_empty() {
                        break;
                    }
                    // A worker that lost its claim sends nothing more: the intents stay
                    // journaled for whoever holds the user now to settle.
                    self.check_fence().await?;
                    let outcome =
                        self.call(target, Access::Write, || shared::send(job, seat, target, object, &ops)).await;
                    match outcome {
                        Ok(answers) if answers.len() == chunk.len() => {
                            results.extend(chunk.into_iter().zip(answers));
                        }
                        Ok(answers) => {
                            let error = ConnectorError::Transient {
                                message: format!("{} answers for {} writes", answers.len(), chunk.len()),
                            };
                            results.extend(chunk.into_iter().map(|i| (i, Err(error.clone()))));
                        }
                        Err(error) => {
                            tracing::warn!(%target, error = %error, writes = chunk.len(), "batch failed");
                            results.extend(chunk.into_iter().map(|i| (i, Err(error.clone()))));
                        }
                    }
                }
            }
        }
        Ok(results)
    }

    /// Refetches the targets of stale writes and plans those pairs again against fresh data.
    async fn replan(
        &mut self,
        current: &Plan,
        stale: &BTreeSet<PairId>,
        changes: &[Vec<Change>; 2],
        pairs: &PairIndex,
        caps: &[tandem_core::capabilities::Capabilities; 2],
        config: &tandem_core::config::ObjectConfig,
    ) -> Result<Plan, EngineError> {
        // The stale pairs as they were, but under the ids this plan gave them (a record that
        // moved keeps its new id).
        let subset = PairIndex::new(stale.iter().filter_map(|p| {
            let mut state = pairs.get(p)?;
            if let Some(NextState::Put(next)) = current.states.get(p) {
                for side in Side::BOTH {
                    if !next.side(side).id.is_pending() {
                        state.side_mut(side).id = next.side(side).id.clone();
                    }
                }
            }
            Some(state)
        }));
        let pairs = &subset;
        let mut fresh: [Vec<Change>; 2] = [Vec::new(), Vec::new()];
        let mut targets: [Vec<RecordId>; 2] = [Vec::new(), Vec::new()];
        for op in &current.operations {
            if let (Some(pair), Some(target)) = (&op.pair, op.action.target())
                && stale.contains(pair)
                && let Some(state) = pairs.get(pair)
            {
                targets[idx(target)].push(state.side(target).id.clone());
            }
        }
        for side in Side::BOTH {
            let ids = std::mem::take(&mut targets[idx(side)]);
            fresh[idx(side)] = self.fetch(side, &ids).await?;
        }
        // The other side's changes for those pairs, as read this cycle.
        let stale_pairs: Vec<PairState> = stale.iter().filter_map(|p| pairs.get(p)).collect();
        let stale_ids: [HashSet<&RecordId>; 2] =
            Side::BOTH.map(|side| stale_pairs.iter().map(|s| &s.side(side).id).collect::<HashSet<_>>());
        for side in Side::BOTH {
            let fetched: HashSet<RecordId> = fresh[idx(side)].iter().map(|c| c.id.clone()).collect();
            let carried: Vec<Change> = changes[idx(side)]
                .iter()
                .filter(|c| stale_ids[idx(side)].contains(&c.id) && !fetched.contains(&c.id))
                .cloned()
                .collect();
            fresh[idx(side)].extend(carried);
        }
        let input = PlanInput {
            object: self.object,
            config,
            pairs: &subset,
            mapped_pairs: usize::MAX,
            crm: SideInput { changes: &fresh[0], capabilities: caps[0].object(self.object) },
            mailbox: SideInput { changes: &fresh[1], capabilities: caps[1].object(self.object) },
            now: self.engine.inner.clock.now(),
            release_held_deletes: true,
            approved_deletes: &tandem_core::planner::NO_APPROVED_DELETES,
            mailbox_owner: self.mailbox.principal.as_deref(),
        };
        let mut next = plan(&input);
        self.apply_policy(&mut next, pairs, &fresh, config);
        Ok(next)
    }
}

const HELD_DELETE: &str = "held_delete";
/// Quarantine kind of a record deliberately not written until an unresolved item is resolved.
const UNRESOLVED: &str = "unresolved";
const AMBIGUOUS_MATCH: &str = "ambiguous_match";

/// Whether a quarantine entry is an ambiguous match waiting for a person.
pub(crate) fn is_ambiguous(q: &QuarantineEntry) -> bool {
    q.detail.as_ref().and_then(|d| d.get("kind")).and_then(|k| k.as_str()) == Some(AMBIGUOUS_MATCH)
}

/// The record an ambiguous record matched, from its quarantine entry.
fn ambiguous_counterpart(q: &QuarantineEntry) -> Option<RecordId> {
    let detail = q.detail.as_ref()?;
    if detail.get("kind").and_then(|k| k.as_str()) != Some(AMBIGUOUS_MATCH) {
        return None;
    }
    detail.get("matches").and_then(|m| m.as_str()).map(RecordId::new)
}

/// Microseconds, for the report's phase times.
fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Whether a quarantine entry is a delete held by the mass-delete guard.
pub(crate) fn is_held_delete(q: &QuarantineEntry) -> bool {
    q.detail.as_ref().and_then(|d| d.get("kind")).and_then(|k| k.as_str()) == Some(HELD_DELETE)
}

/// Quarantine kind marking the survivor of a rejected held delete: the next cycle reads it as a
/// person's record (its Tandem key dropped) so it is copied back to the side it was deleted from.
pub(crate) const RESTORE: &str = "restore";

/// Whether a quarantine entry is an administrator's pending decision rather than a record set
/// aside: a held delete or a restore mark.
pub(crate) fn is_admin_pending(q: &QuarantineEntry) -> bool {
    is_held_delete(q) || q.detail.as_ref().and_then(|d| d.get("kind")).and_then(|k| k.as_str()) == Some(RESTORE)
}

/// Whether an administrator approved a quarantine entry (the store marks it, see
/// [`tandem_store::StateStore::approve_quarantined`]).
pub(crate) fn is_approved(q: &QuarantineEntry) -> bool {
    q.detail.as_ref().and_then(|d| d.get("approved")).and_then(serde_json::Value::as_bool) == Some(true)
}

/// The ids of both sides' changes, for look-ups that would otherwise scan them.
fn changed_ids(changes: &[Vec<Change>; 2]) -> [HashSet<RecordId>; 2] {
    Side::BOTH.map(|side| changes[idx(side)].iter().map(|c| c.id.clone()).collect())
}

fn idx(side: Side) -> usize {
    match side {
        Side::Crm => 0,
        Side::Mailbox => 1,
    }
}
