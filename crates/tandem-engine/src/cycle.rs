//! One cycle: recover, pull, plan, execute, settle, commit.
//!
//! Here: [`sync_user`], a user's sync as one cycle per object, and `Cycle::run`, the outline of
//! one cycle, with the helpers its steps share. The steps themselves live in child modules:
//!
//! - `recover`: settling the writes an interrupted run left in the journal, before any read.
//! - `unresolved`: unresolved items rechecked, recorded and retried.
//! - `read`: reading a side: its change feed, records by id, changes reported by version only.
//! - `feed`: the CRM side read from an organization feed's inbox.
//! - `shared`: the requests two objects' cycles share when they run at once.
//! - `retry`: connector calls retried within the engine's bounds.
//! - `policy`: the security policy's checks of the connections and of each plan.
//! - `execute`: a plan's writes journaled, then sent in batches.
//! - `replan`: the pairs whose writes met a changed target, read and planned again.
//! - `settle`: an executed plan turned into the store's commit and the report's lines.
//! - `quarantine`: the kinds of quarantine entries (held deletes, restores, ambiguous matches).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

use tandem_connector::{ConnectionInfo, ConnectorError, WriteResult};
use tandem_core::model::ObjectKind;
use tandem_core::plan::{Action, NextState, Operation, Plan};
use tandem_core::planner::{PairIndex, PlanInput, SideInput, plan_taking};
use tandem_core::state::{Change, Cursor, PairId, PairState, RecordId, Side};
use tandem_store::feed::InboxConsumed;
use tandem_store::{
    AuditEntry, CycleCommit, CycleCounts, CycleOperation, CycleRecord, QuarantineEntry, UnresolvedEntry,
};
use tracing::Instrument;

use crate::report::{ConflictReport, ObjectReport, RecordIssue, SyncReport};
use crate::{Engine, EngineError, SyncOptions, UserSync};

mod execute;
mod feed;
mod journal;
mod policy;
mod quarantine;
mod read;
mod recover;
mod replan;
mod retry;
mod settle;
mod shared;
mod unresolved;

use self::journal::intent_key;
pub(crate) use self::journal::{JournalEntry, JournaledAction};
use self::policy::check_policy;
use self::quarantine::{AMBIGUOUS_MATCH, HELD_DELETE, UNRESOLVED, ambiguous_counterpart};
pub(crate) use self::quarantine::{RESTORE, is_admin_pending, is_ambiguous, is_approved, is_held_delete};
use self::read::SideRead;
use self::recover::{Unsettled, recover};
pub(crate) use self::retry::{Access, with_retries};
use self::shared::{CycleSeats, ReadSeat, Sharing, WriteSeat};

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
}

/// Microseconds, for the report's phase times.
fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
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
