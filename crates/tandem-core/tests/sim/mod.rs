//! A two-sided, in-memory simulation of the sync engine around `tandem_core::planner::plan`.
//!
//! Each side holds records with a version, a modification time and the idempotency key Tandem
//! created them with, plus the set of records changed since the last cycle (what a delta feed
//! reports, Tandem's own writes included). [`Sim::cycle`] plans, then applies the plan the way an
//! engine would: writes in order with version preconditions and idempotent creates, then the next
//! state of every pair whose writes all succeeded; a pair with a failed write keeps its old state
//! and its records are reported again next cycle.
//!
//! The harness also polices the plans it applies and records every breach in
//! [`Sim::violations`]: writes a target would reject (unsupported fields, values over limits),
//! blanking a field the source side cannot hold, a copy of a copy, re-creating a record on the
//! side that deleted its counterpart, writes for a pair without a next state, and plans that
//! differ for the same input.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use tandem_core::capabilities::{Capabilities, ObjectCapabilities};
use tandem_core::config::ObjectConfig;
use tandem_core::fields::{FieldKey, FieldValue, fingerprint};
use tandem_core::model::{AddressKind, Contact, EmailAddress, Event, EventTime, EventTiming, ObjectKind, Record};
use tandem_core::plan::{Action, NextState, Plan};
use tandem_core::planner::{PairIndex, PlanInput, SideInput, plan, plan_taking};
use tandem_core::state::{Change, ChangeKind, IdempotencyKey, PairId, PairState, RecordId, Side, Version};

// ---------------------------------------------------------------------------------------------
// `plan_taking` against `plan`.

/// Plans `input` with [`plan`] and with `plan_taking` over copies of its lists, and checks that
/// taking changes nothing but where the records live: the same plan; each list loses only
/// changes of records that a create copies (all reports of such a record), and keeps the rest
/// in order. Returns the plan and how many changes the take removed.
pub(crate) fn plan_checking_take(input: &PlanInput<'_>) -> (Plan, usize) {
    let planned = plan(input);
    let (mut crm, mut mailbox) = (input.crm.changes.to_vec(), input.mailbox.changes.to_vec());
    let taking = {
        let copies = PlanInput {
            crm: SideInput { changes: &crm, ..input.crm },
            mailbox: SideInput { changes: &mailbox, ..input.mailbox },
            ..*input
        };
        plan_taking(&copies)
    };
    let taken = taking.take_from(&mut crm, &mut mailbox).expect("the lists planned from");
    assert_eq!(taken, planned, "plan_taking must plan what plan does");
    let mut removed = 0;
    for (side, before, after) in
        [(Side::Crm, input.crm.changes, &crm), (Side::Mailbox, input.mailbox.changes, &mailbox)]
    {
        let copied: BTreeSet<&RecordId> = planned
            .operations
            .iter()
            .filter_map(|op| match &op.action {
                Action::Create { target, source_id, .. } if target.other() == side => Some(source_id),
                _ => None,
            })
            .collect();
        let gone: BTreeSet<&RecordId> =
            before.iter().map(|c| &c.id).filter(|id| !after.iter().any(|c| &c.id == *id)).collect();
        assert!(gone.is_subset(&copied), "{side}: took {gone:?}, but only creates copy {copied:?}");
        let kept: Vec<&Change> = before.iter().filter(|c| !gone.contains(&c.id)).collect();
        assert_eq!(kept, after.iter().collect::<Vec<_>>(), "{side}: the changes left, in order");
        removed += before.len() - after.len();
    }
    (planned, removed)
}

// ---------------------------------------------------------------------------------------------
// Record builders shared by the test files.

/// A contact with a family name, optionally a given name, email and company.
pub(crate) fn contact(given: Option<&str>, family: &str, email: Option<&str>, company: Option<&str>) -> Record {
    Record::Contact(Contact {
        given_name: given.map(str::to_owned),
        family_name: Some(family.to_owned()),
        emails: email
            .map(|a| vec![EmailAddress { kind: AddressKind::Work, address: a.to_owned() }])
            .unwrap_or_default(),
        company: company.map(str::to_owned),
        ..Contact::default()
    })
}

/// 2026-03-02 at `h:m` (a Monday).
pub(crate) fn at(h: u32, m: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 2).and_then(|d| d.and_hms_opt(h, m, 0)).unwrap()
}

/// An event in UTC from `start` lasting `minutes`.
pub(crate) fn event(subject: &str, start: NaiveDateTime, minutes: i64) -> Record {
    Record::Event(Event {
        subject: Some(subject.to_owned()),
        description: None,
        location: None,
        timing: EventTiming { start: EventTime::utc(start), end: EventTime::utc(start + TimeDelta::minutes(minutes)) },
        recurrence: None,
        organizer: None,
        attendees: vec![],
        privacy: Default::default(),
        show_as: Default::default(),
        categories: vec![],
        crm_links: vec![],
        ical_uid: None,
        custom: BTreeMap::new(),
    })
}

pub(crate) fn text(s: &str) -> Option<FieldValue> {
    Some(FieldValue::Text(s.to_owned()))
}

pub(crate) fn epoch_plus(seconds: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + TimeDelta::seconds(seconds)
}

/// Shapes a value as a side with `caps` would store it: text and list entries cut to `max_len`
/// and trailing blanks of a cut value dropped (text cut down to blanks is absent), emails that do not
/// fit left out, lists cut to `max_items`. (The rule the planner follows.)
/// `key` is named as that side names it.
pub(crate) fn clip(caps: &ObjectCapabilities, key: &FieldKey, value: Option<FieldValue>) -> Option<FieldValue> {
    let Some(limit) = caps.limit(key) else { return value };
    let cut = |s: String| match limit.max_len {
        Some(max) if s.chars().count() > max => s.chars().take(max).collect::<String>().trim_end().to_owned(),
        _ => s,
    };
    let items = |n: usize| limit.max_items.map_or(n, |m| n.min(m));
    value.and_then(|v| match v {
        FieldValue::Text(t) => Some(cut(t)).filter(|t| !t.trim().is_empty()).map(FieldValue::Text),
        FieldValue::List(l) => {
            let n = items(l.len());
            Some(FieldValue::List(l.into_iter().map(cut).take(n).collect()))
        }
        FieldValue::Emails(mut l) => {
            // Addresses that do not fit are left out, never shortened.
            l.retain(|e| limit.max_len.is_none_or(|max| e.address.chars().count() <= max));
            l.truncate(items(l.len()));
            Some(l).filter(|l| !l.is_empty()).map(FieldValue::Emails)
        }
        FieldValue::Addresses(mut l) => {
            l.truncate(items(l.len()));
            Some(FieldValue::Addresses(l))
        }
        FieldValue::Attendees(mut l) => {
            l.truncate(items(l.len()));
            Some(FieldValue::Attendees(l))
        }
        FieldValue::CrmLinks(mut l) => {
            l.truncate(items(l.len()));
            Some(FieldValue::CrmLinks(l))
        }
        other => Some(other),
    })
}

/// Whether `value` fits `caps`'s limits for `key`.
fn fits(caps: &ObjectCapabilities, key: &FieldKey, value: &Option<FieldValue>) -> bool {
    clip(caps, key, value.clone()) == *value
}

/// Fields whose value can never be absent (reading them always gives a value).
fn always_set(key: &FieldKey) -> bool {
    matches!(key, FieldKey::Timing | FieldKey::Privacy | FieldKey::ShowAs)
}

// ---------------------------------------------------------------------------------------------
// The simulation.

/// One record as a side stores it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    pub(crate) record: Record,
    pub(crate) version: Version,
    pub(crate) modified_at: DateTime<Utc>,
    /// The idempotency key Tandem created the record with; `None` for records users created.
    pub(crate) sync_key: Option<IdempotencyKey>,
}

/// One side: its records, what changed since the last cycle, and some counters.
#[derive(Debug, Clone)]
pub(crate) struct SimSide {
    pub(crate) side: Side,
    pub(crate) caps: ObjectCapabilities,
    pub(crate) records: BTreeMap<RecordId, Stored>,
    /// Records changed since the last cycle; a missing record is reported as deleted.
    pub(crate) dirty: BTreeSet<RecordId>,
    next_id: u64,
    /// Records created by users on this side.
    pub(crate) user_created: usize,
    /// Records created by Tandem on this side (replays excluded).
    pub(crate) tandem_created: usize,
    /// Creates whose key already existed on this side and so returned the existing record.
    pub(crate) replayed_creates: usize,
}

impl SimSide {
    fn new(side: Side, caps: ObjectCapabilities) -> Self {
        SimSide {
            side,
            caps,
            records: BTreeMap::new(),
            dirty: BTreeSet::new(),
            next_id: 0,
            user_created: 0,
            tandem_created: 0,
            replayed_creates: 0,
        }
    }

    fn fresh_id(&mut self) -> RecordId {
        self.next_id += 1;
        match self.side {
            Side::Crm => RecordId::new(format!("003C{:05}", self.next_id)),
            Side::Mailbox => RecordId::new(format!("AAMk{:05}", self.next_id)),
        }
    }

    /// What the side's delta feed reports now.
    pub(crate) fn changes(&self) -> Vec<Change> {
        self.dirty
            .iter()
            .map(|id| match self.records.get(id) {
                Some(s) => Change {
                    id: id.clone(),
                    version: s.version.clone(),
                    modified_at: Some(s.modified_at),
                    sync_key: s.sync_key.clone(),
                    kind: ChangeKind::Upserted { record: s.record.clone() },
                },
                None => Change::deleted(id.0.clone()),
            })
            .collect()
    }

    pub(crate) fn get(&self, id: &RecordId) -> Option<&Record> {
        self.records.get(id).map(|s| &s.record)
    }

    pub(crate) fn ids(&self) -> Vec<RecordId> {
        self.records.keys().cloned().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }
}

/// Write faults to inject into one cycle, by the index of the write among the plan's writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    /// These writes fail without being applied (a 5xx, a timeout before the request left).
    pub(crate) fail: BTreeSet<usize>,
    /// These writes are applied but their response is lost, so the engine sees a failure.
    pub(crate) lose: BTreeSet<usize>,
}

/// The outcome of one applied write.
#[derive(Debug, Clone)]
enum WriteOutcome {
    Ok { id: RecordId, version: Version },
    Failed(String),
}

/// The whole simulation: two sides, the stored pair states, a clock, and what went wrong.
#[derive(Debug, Clone)]
pub(crate) struct Sim {
    pub(crate) object: ObjectKind,
    pub(crate) config: ObjectConfig,
    pub(crate) crm: SimSide,
    pub(crate) mailbox: SimSide,
    pub(crate) pairs: BTreeMap<PairId, PairState>,
    /// Seconds since the epoch; ticks on every edit and every cycle.
    pub(crate) clock: i64,
    version_seq: u64,
    /// Passed to the planner as `release_held_deletes`.
    pub(crate) release_held_deletes: bool,
    /// Plan twice per cycle (and once with the change lists reversed) and compare.
    pub(crate) check_determinism: bool,
    /// Breaches of the planner's contract seen so far.
    pub(crate) violations: Vec<String>,
    /// (side a delete happened on, the id the deleted record was paired with on the other side).
    pub(crate) deleted_partners: BTreeSet<(Side, RecordId)>,
    /// Every create key Tandem used, with the create's source.
    pub(crate) create_sources: BTreeMap<IdempotencyKey, (Side, RecordId)>,
    /// Cycles run so far.
    pub(crate) cycles: usize,
    /// Writes attempted so far, to the CRM and to the mailbox.
    pub(crate) writes: [usize; 2],
    /// Records reported as ambiguous matches (kept aside, as the engine's quarantine does, until
    /// they change).
    pub(crate) ambiguous: BTreeSet<(Side, RecordId)>,
}

impl Sim {
    /// A simulation of `object` with both sides able to store everything.
    pub(crate) fn new(object: ObjectKind, config: ObjectConfig) -> Self {
        let caps = Capabilities::everything().object(object).clone();
        Sim::with_caps(object, config, caps.clone(), caps)
    }

    /// A simulation with the given capabilities per side.
    pub(crate) fn with_caps(
        object: ObjectKind,
        config: ObjectConfig,
        crm: ObjectCapabilities,
        mailbox: ObjectCapabilities,
    ) -> Self {
        Sim {
            object,
            config,
            crm: SimSide::new(Side::Crm, crm),
            mailbox: SimSide::new(Side::Mailbox, mailbox),
            pairs: BTreeMap::new(),
            clock: 1_000_000,
            version_seq: 0,
            release_held_deletes: false,
            check_determinism: true,
            violations: Vec::new(),
            deleted_partners: BTreeSet::new(),
            ambiguous: BTreeSet::new(),
            create_sources: BTreeMap::new(),
            cycles: 0,
            writes: [0, 0],
        }
    }

    pub(crate) fn side(&self, side: Side) -> &SimSide {
        match side {
            Side::Crm => &self.crm,
            Side::Mailbox => &self.mailbox,
        }
    }

    pub(crate) fn side_mut(&mut self, side: Side) -> &mut SimSide {
        match side {
            Side::Crm => &mut self.crm,
            Side::Mailbox => &mut self.mailbox,
        }
    }

    fn tick(&mut self) -> (Version, DateTime<Utc>) {
        self.clock += 1;
        self.version_seq += 1;
        (Version::new(format!("v{}", self.version_seq)), epoch_plus(self.clock))
    }

    /// What a side stores of a record a user typed: only the fields it supports, within limits.
    fn conform(&self, side: Side, record: &mut Record) {
        let caps = &self.side(side).caps;
        for key in FieldKey::standard(self.object) {
            if !caps.supports(key) {
                if !always_set(key) {
                    record.set(key, None).unwrap();
                }
            } else {
                let v = clip(caps, key, record.get(key));
                record.set(key, v).unwrap();
            }
        }
        if !caps.custom_fields {
            record.custom_mut().clear();
        }
        let custom: Vec<(String, String)> = record.custom().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (name, value) in custom {
            let key = FieldKey::Custom(name);
            let v = clip(caps, &key, Some(FieldValue::Text(value)));
            record.set(&key, v).unwrap();
        }
    }

    /// A user creates a record on `side`.
    pub(crate) fn insert(&mut self, side: Side, mut record: Record) -> RecordId {
        self.conform(side, &mut record);
        let (version, modified_at) = self.tick();
        let s = self.side_mut(side);
        let id = s.fresh_id();
        s.records.insert(id.clone(), Stored { record, version, modified_at, sync_key: None });
        s.dirty.insert(id.clone());
        s.user_created += 1;
        id
    }

    /// A user edits a record on `side`. Returns false when it does not exist.
    pub(crate) fn edit(&mut self, side: Side, id: &RecordId, f: impl FnOnce(&mut Record)) -> bool {
        let Some(mut record) = self.side(side).get(id).cloned() else { return false };
        f(&mut record);
        self.conform(side, &mut record);
        let (version, modified_at) = self.tick();
        let s = self.side_mut(side);
        let stored = s.records.get_mut(id).unwrap();
        stored.record = record;
        stored.version = version;
        stored.modified_at = modified_at;
        s.dirty.insert(id.clone());
        true
    }

    /// A user changes a record's version without changing its content (an ETag bump).
    pub(crate) fn touch(&mut self, side: Side, id: &RecordId) -> bool {
        self.edit(side, id, |_| {})
    }

    /// A user deletes a record on `side`. Returns false when it does not exist.
    pub(crate) fn remove(&mut self, side: Side, id: &RecordId) -> bool {
        if self.side_mut(side).records.remove(id).is_none() {
            return false;
        }
        self.clock += 1;
        self.side_mut(side).dirty.insert(id.clone());
        if let Some(pair) = self.pair_of(side, id)
            && pair.tombstone.is_none()
        {
            let partner = pair.side(side.other()).id.clone();
            self.deleted_partners.insert((side, partner));
        }
        true
    }

    /// The stored pair holding record `id` on `side`.
    pub(crate) fn pair_of(&self, side: Side, id: &RecordId) -> Option<&PairState> {
        self.pairs.values().find(|p| &p.side(side).id == id)
    }

    /// The id paired with `id` on the other side, when the pair is live.
    pub(crate) fn partner(&self, side: Side, id: &RecordId) -> Option<RecordId> {
        self.pair_of(side, id).filter(|p| p.tombstone.is_none()).map(|p| p.side(side.other()).id.clone())
    }

    /// Live (not tombstoned) pairs.
    pub(crate) fn live_pairs(&self) -> usize {
        self.pairs.values().filter(|p| p.tombstone.is_none()).count()
    }

    /// Plans with the current changes, without applying or consuming anything.
    pub(crate) fn plan_now(&self) -> Plan {
        let crm = self.crm.changes();
        let mailbox = self.mailbox.changes();
        self.plan_with(&crm, &mailbox)
    }

    fn plan_with(&self, crm: &[Change], mailbox: &[Change]) -> Plan {
        let index = PairIndex::new(self.pairs.values().cloned());
        let input = PlanInput {
            object: self.object,
            config: &self.config,
            pairs: &index,
            mapped_pairs: self.live_pairs(),
            crm: SideInput { changes: crm, capabilities: &self.crm.caps },
            mailbox: SideInput { changes: mailbox, capabilities: &self.mailbox.caps },
            now: epoch_plus(self.clock),
            release_held_deletes: self.release_held_deletes,
            approved_deletes: &tandem_core::planner::NO_APPROVED_DELETES,
            mailbox_owner: None,
        };
        plan_checking_take(&input).0
    }

    /// One clean cycle.
    pub(crate) fn cycle(&mut self) -> Plan {
        self.cycle_with(&Faults::default(), |_| {})
    }

    /// Runs cycles until one plans nothing; returns how many ran, or `None` after `max`.
    pub(crate) fn settle(&mut self, max: usize) -> Option<usize> {
        (1..=max).find(|_| self.cycle().is_noop())
    }

    /// One cycle with injected write faults and user edits that land between planning and
    /// applying (so some preconditions fail).
    pub(crate) fn cycle_with(&mut self, faults: &Faults, during: impl FnOnce(&mut Sim)) -> Plan {
        self.clock += 60;
        self.cycles += 1;
        let crm = self.crm.changes();
        let mailbox = self.mailbox.changes();
        let plan = self.plan_with(&crm, &mailbox);
        if self.check_determinism {
            self.check_same_plan(&plan, &crm, &mailbox);
        }
        self.check_filters(&plan);
        for (side, changes) in [(Side::Crm, &crm), (Side::Mailbox, &mailbox)] {
            for change in changes {
                self.ambiguous.remove(&(side, change.id.clone()));
            }
        }
        self.crm.dirty.clear();
        self.mailbox.dirty.clear();
        during(self);
        self.apply(&plan, faults);
        plan
    }

    /// No create copies a record its side's filter excludes.
    fn check_filters(&mut self, plan: &Plan) {
        for op in &plan.operations {
            if let Action::Create { target, source_id, .. } = &op.action {
                let source = target.other();
                let Some(filter) = self.config.filter(source) else { continue };
                if let Some(record) = self.side(source).get(source_id)
                    && !filter.matches(&self.canonical(source, record))
                {
                    self.violations
                        .push(format!("create on {target} from {source} {source_id}, which its filter excludes"));
                }
            }
        }
    }

    fn check_same_plan(&mut self, plan: &Plan, crm: &[Change], mailbox: &[Change]) {
        let again = self.plan_with(crm, mailbox);
        if again != *plan {
            self.violations.push(format!("cycle {}: the same input gave a different plan", self.cycles));
        }
        let (a, b) = (serde_json::to_string(plan).unwrap(), serde_json::to_string(&again).unwrap());
        if a != b {
            self.violations.push(format!("cycle {}: the same input serialised differently", self.cycles));
        }
        let back: Plan = serde_json::from_str(&a).unwrap();
        if back != *plan {
            self.violations.push(format!("cycle {}: the plan does not survive a serde round trip", self.cycles));
        }
        // Distinct records reported in another order are the same input.
        let (mut rc, mut rm) = (crm.to_vec(), mailbox.to_vec());
        rc.reverse();
        rm.reverse();
        if self.plan_with(&rc, &rm) != *plan {
            self.violations.push(format!("cycle {}: the plan depends on the order of the changes", self.cycles));
        }
    }

    /// Applies a plan like an engine: writes in order, then next states of fully written pairs.
    pub(crate) fn apply(&mut self, plan: &Plan, faults: &Faults) {
        let mut results: BTreeMap<PairId, Vec<(Side, &Action, WriteOutcome)>> = BTreeMap::new();
        let mut requeue: Vec<(Side, RecordId)> = Vec::new();
        for (n, op) in plan.writes().enumerate() {
            let target = op.action.target().unwrap();
            self.writes[usize::from(target == Side::Mailbox)] += 1;
            let outcome = if faults.fail.contains(&n) {
                WriteOutcome::Failed("injected failure".into())
            } else {
                let outcome = self.apply_write(&op.action);
                if faults.lose.contains(&n) { WriteOutcome::Failed("response lost".into()) } else { outcome }
            };
            match &op.pair {
                Some(pair) => results.entry(pair.clone()).or_default().push((target, &op.action, outcome)),
                None => self.violations.push(format!("write without a pair: {op:?}")),
            }
        }
        for op in &plan.operations {
            if let Action::HoldDelete { side, id } = &op.action {
                // A held delete waits; the feed keeps reporting it until it is released.
                requeue.push((*side, id.clone()));
            }
            if let Action::Ambiguous { side, id, .. } = &op.action {
                self.ambiguous.insert((*side, id.clone()));
            }
        }
        for pair in results.keys() {
            if !plan.states.contains_key(pair) {
                self.violations.push(format!("pair {pair} is written but has no next state"));
            }
        }
        for (pair_id, next) in &plan.states {
            let outcomes = results.get(pair_id).map(Vec::as_slice).unwrap_or_default();
            let ok = outcomes.iter().all(|(_, _, o)| matches!(o, WriteOutcome::Ok { .. }));
            if !ok {
                for p in self.pairs.get(pair_id).into_iter().chain(match next {
                    NextState::Put(p) => Some(p),
                    NextState::Remove => None,
                }) {
                    for side in Side::BOTH {
                        if !p.side(side).id.is_pending() {
                            requeue.push((side, p.side(side).id.clone()));
                        }
                    }
                }
                for (_, action, _) in outcomes {
                    if let Action::Create { target, source_id, .. } = action {
                        requeue.push((target.other(), source_id.clone()));
                    }
                }
                continue;
            }
            match next {
                NextState::Remove => {
                    self.pairs.remove(pair_id);
                }
                NextState::Put(state) => {
                    let mut state = state.clone();
                    for (target, action, outcome) in outcomes {
                        let WriteOutcome::Ok { id, version } = outcome else { unreachable!() };
                        match action {
                            Action::Create { .. } => {
                                state.side_mut(*target).id = id.clone();
                                state.side_mut(*target).version = version.clone();
                            }
                            Action::Update { .. } => state.side_mut(*target).version = version.clone(),
                            _ => self.violations.push(format!("pair {pair_id}: a delete with a Put state")),
                        }
                    }
                    for side in Side::BOTH {
                        if state.side(side).id.is_pending() {
                            self.violations.push(format!("pair {pair_id}: pending id on {side} after apply"));
                        }
                    }
                    if &state.pair_id != pair_id {
                        self.violations.push(format!("pair {pair_id}: state keyed under another id"));
                    }
                    // A pair replaces any stored pair holding the same records.
                    let stale: Vec<PairId> = self
                        .pairs
                        .values()
                        .filter(|p| {
                            &p.pair_id != pair_id
                                && (p.crm.id == state.crm.id || p.mailbox.id == state.mailbox.id)
                                && p.tombstone.is_none()
                        })
                        .map(|p| p.pair_id.clone())
                        .collect();
                    for s in stale {
                        self.violations.push(format!("pair {pair_id} shares a record with live pair {s}"));
                    }
                    self.pairs.insert(pair_id.clone(), state);
                }
            }
        }
        for (side, id) in requeue {
            self.side_mut(side).dirty.insert(id);
        }
    }

    fn apply_write(&mut self, action: &Action) -> WriteOutcome {
        match action {
            Action::Create { target, source_id, key, record, .. } => {
                let target = *target;
                self.check_record_fits(target, record, "create");
                if self.deleted_partners.contains(&(target, source_id.clone())) {
                    self.violations.push(format!(
                        "re-created on {target} the counterpart of {} {source_id}, whose pair was deleted there",
                        target.other()
                    ));
                }
                if self.side(target.other()).records.get(source_id).is_some_and(|s| s.sync_key.is_some()) {
                    self.violations.push(format!("copy of a copy: create on {target} from Tandem-made {source_id}"));
                }
                if let Some((side, src)) = self.create_sources.get(key)
                    && (*side, src) != (target.other(), source_id)
                {
                    self.violations.push(format!("key {key} reused for another source"));
                }
                self.create_sources.insert(key.clone(), (target.other(), source_id.clone()));
                if let Some((id, s)) = self.side(target).records.iter().find(|(_, s)| s.sync_key.as_ref() == Some(key))
                {
                    let out = WriteOutcome::Ok { id: id.clone(), version: s.version.clone() };
                    self.side_mut(target).replayed_creates += 1;
                    return out;
                }
                let (version, modified_at) = self.tick();
                let s = self.side_mut(target);
                let id = s.fresh_id();
                s.records.insert(
                    id.clone(),
                    Stored {
                        record: Record::clone(record),
                        version: version.clone(),
                        modified_at,
                        sync_key: Some(key.clone()),
                    },
                );
                s.dirty.insert(id.clone());
                s.tandem_created += 1;
                WriteOutcome::Ok { id, version }
            }
            Action::Update { target, id, expected, patch, .. } => {
                let target = *target;
                let source_caps = self.side(target.other()).caps.clone();
                let Some(stored) = self.side(target).records.get(id) else {
                    return WriteOutcome::Failed("not found".into());
                };
                if !expected.as_str().is_empty() && *expected != stored.version {
                    return WriteOutcome::Failed("precondition failed".into());
                }
                let mut record = stored.record.clone();
                for change in patch {
                    let canonical = self.canonical_key(target, &change.field);
                    if !self.side(target).caps.supports(&change.field) {
                        self.violations.push(format!("update writes {} which {target} cannot store", change.field));
                    }
                    if !fits(&self.side(target).caps, &change.field, &change.value) {
                        self.violations.push(format!("update writes an oversized {} to {target}", change.field));
                    }
                    if change.value.is_none() && !source_caps.supports(&canonical) {
                        self.violations.push(format!(
                            "update blanks {} on {target}, a field {} cannot hold",
                            change.field,
                            target.other()
                        ));
                    }
                    if let Err(e) = record.set(&change.field, change.value.clone()) {
                        self.violations.push(format!("update of {target} {id} rejected: {e}"));
                        return WriteOutcome::Failed(e.to_string());
                    }
                }
                let (version, modified_at) = self.tick();
                let s = self.side_mut(target);
                let stored = s.records.get_mut(id).unwrap();
                stored.record = record;
                stored.version = version.clone();
                stored.modified_at = modified_at;
                s.dirty.insert(id.clone());
                WriteOutcome::Ok { id: id.clone(), version }
            }
            Action::Delete { target, id, expected } => {
                let Some(stored) = self.side(*target).records.get(id) else {
                    return WriteOutcome::Failed("not found".into());
                };
                if !expected.as_str().is_empty() && *expected != stored.version {
                    return WriteOutcome::Failed("precondition failed".into());
                }
                let s = self.side_mut(*target);
                s.records.remove(id);
                s.dirty.insert(id.clone());
                WriteOutcome::Ok { id: id.clone(), version: Version::default() }
            }
            other => unreachable!("not a write: {other:?}"),
        }
    }

    fn check_record_fits(&mut self, target: Side, record: &Record, what: &str) {
        let caps = self.side(target).caps.clone();
        if record.kind() != self.object {
            self.violations.push(format!("{what} on {target}: wrong kind"));
        }
        for key in FieldKey::standard(self.object) {
            let value = record.get(key);
            if !caps.supports(key) && value.is_some() && !always_set(key) {
                self.violations.push(format!("{what} on {target} carries unsupported {key}"));
            }
            if !fits(&caps, key, &value) {
                self.violations.push(format!("{what} on {target}: {key} over its limit"));
            }
            if caps.limit(key).is_some_and(|l| l.required) && value.is_none() {
                self.violations.push(format!("{what} on {target} lacks required {key}"));
            }
        }
        for (name, value) in record.custom() {
            let mapped = self.config.fields.custom.iter().any(|m| m.on(target) == name);
            if !mapped || !caps.custom_fields {
                self.violations.push(format!("{what} on {target} carries custom field {name} it does not map"));
            }
            if !fits(&caps, &FieldKey::Custom(name.clone()), &Some(FieldValue::Text(value.clone()))) {
                self.violations.push(format!("{what} on {target}: custom field {name} over its limit"));
            }
        }
    }

    /// The canonical name of a field as `side` names it.
    fn canonical_key(&self, side: Side, key: &FieldKey) -> FieldKey {
        self.config.fields.canonical_name(side, key)
    }

    /// A canonical field's name on `side`.
    fn side_key(&self, side: Side, key: &FieldKey) -> FieldKey {
        self.config.fields.side_name(side, key)
    }

    /// A side's record with custom fields under their canonical names (unmapped ones dropped).
    pub(crate) fn canonical(&self, side: Side, record: &Record) -> Record {
        let mut out = record.clone();
        let custom = std::mem::take(out.custom_mut());
        for m in &self.config.fields.custom {
            if let Some(v) = custom.get(m.on(side)) {
                out.custom_mut().insert(m.name.clone(), v.clone());
            }
        }
        out.normalize();
        out
    }

    /// The synced fields both sides can store.
    pub(crate) fn shared_fields(&self) -> Vec<FieldKey> {
        self.config
            .fields
            .synced(self.object)
            .into_iter()
            .filter(|k| self.crm.caps.supports(k) && self.mailbox.caps.supports(k))
            .collect()
    }

    /// Differences between the two records of every live pair, on the fields both sides store,
    /// each value shaped to both sides' limits; dangling pairs; and records in no pair at all
    /// (except Tandem's copies whose source is gone).
    pub(crate) fn divergences(&self) -> Vec<String> {
        let mut out = Vec::new();
        let shared = self.shared_fields();
        for p in self.pairs.values() {
            if let Some(deleted_on) = p.tombstone {
                if self.side(deleted_on).records.contains_key(&p.side(deleted_on).id) {
                    out.push(format!("tombstoned pair {} still has its {deleted_on} record", p.pair_id));
                }
                continue;
            }
            let (Some(c), Some(m)) = (self.crm.get(&p.crm.id), self.mailbox.get(&p.mailbox.id)) else {
                out.push(format!("pair {} is dangling: crm {} mailbox {}", p.pair_id, p.crm.id, p.mailbox.id));
                continue;
            };
            let (c, m) = (self.canonical(Side::Crm, c), self.canonical(Side::Mailbox, m));
            for key in &shared {
                let (ck, mk) = (self.side_key(Side::Crm, key), self.side_key(Side::Mailbox, key));
                let shape = |v: Option<FieldValue>| clip(&self.mailbox.caps, &mk, clip(&self.crm.caps, &ck, v));
                let (cv, mv) = (shape(c.get(key)), shape(m.get(key)));
                if fingerprint(cv.as_ref()) != fingerprint(mv.as_ref()) {
                    out.push(format!("pair {} differs in {key}: crm {cv:?} mailbox {mv:?}", p.pair_id));
                }
            }
        }
        for side in Side::BOTH {
            for (id, stored) in &self.side(side).records {
                // An ambiguous match is reported and waits for a person: accounted for.
                if self.pair_of(side, id).is_some() || self.ambiguous.contains(&(side, id.clone())) {
                    continue;
                }
                // A copy whose create was never confirmed and whose source is gone is left behind.
                let orphan_copy = stored
                    .sync_key
                    .as_ref()
                    .and_then(|k| self.create_sources.get(k))
                    .is_some_and(|(src_side, src)| !self.side(*src_side).records.contains_key(src));
                if !orphan_copy {
                    out.push(format!("{side} record {id} is in no pair"));
                }
            }
        }
        out
    }
}
