//! The planner: previous state plus both sides' changes in, a [`Plan`] out.
//!
//! `plan` is a pure function. It reads only its [`PlanInput`]; time comes in as
//! [`PlanInput::now`]; pair ids and idempotency keys are derived from record ids. The same input
//! always gives the same plan.
//!
//! The planner's jobs live in submodules, each adding methods to the one `Planner` of a call:
//! `touched` (the pairs one plan reads), `shape` (records as each side holds them: names,
//! prints, fitting and projection), `pairs` (decisions for known pairs), `matching` (new records
//! matched to the other side) and `create` (new records with no match).
//!
//! ```
//! use tandem_core::capabilities::ObjectCapabilities;
//! use tandem_core::config::ObjectConfig;
//! use tandem_core::model::{Contact, ObjectKind, Record};
//! use tandem_core::plan::Action;
//! use tandem_core::planner::{plan, PairIndex, PlanInput, SideInput};
//! use tandem_core::state::Change;
//!
//! let caps = ObjectCapabilities::everything(ObjectKind::Contact);
//! let ada = Record::Contact(Contact { family_name: Some("Lovelace".into()), ..Contact::default() });
//! let crm_changes = vec![Change::upserted("003A", "v1", ada)];
//! let pairs = PairIndex::default();
//! let config = ObjectConfig::default();
//! let input = PlanInput {
//!     object: ObjectKind::Contact,
//!     config: &config,
//!     pairs: &pairs,
//!     mapped_pairs: 0,
//!     crm: SideInput { changes: &crm_changes, capabilities: &caps },
//!     mailbox: SideInput { changes: &[], capabilities: &caps },
//!     now: chrono::DateTime::UNIX_EPOCH,
//!     release_held_deletes: false,
//!     approved_deletes: &tandem_core::planner::NO_APPROVED_DELETES,
//!     mailbox_owner: None,
//! };
//! let plan = plan(&input);
//! assert!(matches!(plan.operations[0].action, Action::Create { .. }));
//! println!("{plan}");
//! ```

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::capabilities::ObjectCapabilities;
use crate::config::{Direction, ObjectConfig};
use crate::fields::FieldKey;
use crate::model::{ObjectKind, Record};
use crate::plan::{Action, NextState, Operation, Plan};
use crate::state::{Change, ChangeKind, FieldPrints, IdempotencyKey, PairId, PairState, RecordId, Side, Version};
use crate::validate::{Instants, validate_timed};

pub use crate::pair_index::PairIndex;

mod create;
mod field_writes;
mod matching;
mod next_states;
mod pairs;
mod shape;
mod touched;

use next_states::NextStates;

use matching::Candidates;
use touched::{PairKey, Paired, TouchedPairs};

/// One side's input to the planner.
#[derive(Debug, Clone, Copy)]
pub struct SideInput<'a> {
    /// The changes observed on this side since the last cycle (custom fields named as this side
    /// names them).
    pub changes: &'a [Change],
    /// What this side can store.
    pub capabilities: &'a ObjectCapabilities,
}

/// Everything the planner reads.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// Contacts or events.
    pub object: ObjectKind,
    /// The object's configuration.
    pub config: &'a ObjectConfig,
    /// The known pairs; at least those touching a changed record.
    pub pairs: &'a PairIndex,
    /// How many live pairs the user has in all (for the mass-delete guard).
    pub mapped_pairs: usize,
    /// The CRM side.
    pub crm: SideInput<'a>,
    /// The mailbox side.
    pub mailbox: SideInput<'a>,
    /// The current time, recorded in new pair states.
    pub now: DateTime<Utc>,
    /// Let every delete through even when the mass-delete guard would hold them (an
    /// administrator approved all of them).
    pub release_held_deletes: bool,
    /// Deletes an administrator approved one by one, as (side that reported the delete, deleted
    /// record): the guard lets exactly these through and still holds any other mass delete
    /// (counted without them). [`NO_APPROVED_DELETES`] when there are none.
    pub approved_deletes: &'a BTreeSet<(Side, RecordId)>,
    /// The mailbox's own address, to tell the user's meetings from copies of meetings others
    /// organize ([`crate::config::ForeignOrganizers`]). `None`: every event counts as the user's.
    pub mailbox_owner: Option<&'a str>,
}

/// No approved deletes: what [`PlanInput::approved_deletes`] is when an administrator approved
/// none.
pub static NO_APPROVED_DELETES: BTreeSet<(Side, RecordId)> = BTreeSet::new();

/// Plans one object kind of one cycle.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    planned(input, false).0
}

/// The plan of `input`, and with `taking` the creates whose records are to move in.
fn planned(input: &PlanInput<'_>, taking: bool) -> (Plan, Vec<Taken>) {
    let touched = TouchedPairs::of(input.pairs, [input.crm.changes, input.mailbox.changes]);
    let mut planner = Planner::new(input, &touched);
    planner.taking = taking.then(Vec::new);
    planner.run();
    planner.plan.states = planner.states.into_map();
    (planner.plan, planner.taking.unwrap_or_default())
}

/// Plans as [`plan`] does, for a caller that owns the changes and needs no more of the records
/// that creates copy as they are: [`TakingPlan::take_from`] then moves those records from the
/// changes into the plan, so that a first sync of thousands of records never holds each of them
/// twice (the record read and the plan's copy).
///
/// ```
/// use tandem_core::capabilities::ObjectCapabilities;
/// use tandem_core::config::ObjectConfig;
/// use tandem_core::model::{Contact, ObjectKind, Record};
/// use tandem_core::plan::Action;
/// use tandem_core::planner::{plan, plan_taking, PairIndex, PlanInput, SideInput, NO_APPROVED_DELETES};
/// use tandem_core::state::Change;
///
/// let caps = ObjectCapabilities::everything(ObjectKind::Contact);
/// let ada = Record::Contact(Contact { family_name: Some("Lovelace".into()), ..Contact::default() });
/// let mut crm = vec![Change::upserted("003A", "v1", ada.clone())];
/// let mut mailbox = Vec::new();
/// let (pairs, config) = (PairIndex::default(), ObjectConfig::default());
/// let taking = {
///     let input = PlanInput {
///         object: ObjectKind::Contact,
///         config: &config,
///         pairs: &pairs,
///         mapped_pairs: 0,
///         crm: SideInput { changes: &crm, capabilities: &caps },
///         mailbox: SideInput { changes: &mailbox, capabilities: &caps },
///         now: chrono::DateTime::UNIX_EPOCH,
///         release_held_deletes: false,
///         approved_deletes: &NO_APPROVED_DELETES,
///         mailbox_owner: None,
///     };
///     plan_taking(&input)
/// };
/// let plan = taking.take_from(&mut crm, &mut mailbox)?;
/// assert!(matches!(&plan.operations[0].action, Action::Create { record, .. } if **record == ada));
/// // The record moved: its change left the list.
/// assert!(crm.is_empty());
/// # Ok::<(), tandem_core::planner::TakeError>(())
/// ```
pub fn plan_taking(input: &PlanInput<'_>) -> TakingPlan {
    let (plan, taken) = planned(input, true);
    TakingPlan { plan, taken }
}

/// A create whose record is to move in from its change.
#[derive(Debug)]
struct Taken {
    key: IdempotencyKey,
    side: Side,
    at: usize,
}

/// A plan from [`plan_taking`] whose creates still wait for the records they copy: only
/// [`TakingPlan::take_from`] makes it a [`Plan`].
#[derive(Debug)]
#[must_use = "only take_from makes it a plan"]
pub struct TakingPlan {
    plan: Plan,
    taken: Vec<Taken>,
}

/// The changes given to [`TakingPlan::take_from`] are not those planned from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TakeError {
    /// The change a create was planned from is not where it was.
    #[error("the {side} change the create of {id} was planned from is not in the list given")]
    NotPlanned {
        /// The side of the change.
        side: Side,
        /// The record the create copies.
        id: RecordId,
    },
}

impl TakingPlan {
    /// Moves each awaited record from the changes `plan_taking` planned from (the same lists,
    /// unchanged) into its create, and removes those records' changes from the lists (earlier
    /// reports of the same record too, which the planner passed over for the last one): the
    /// records now live in the plan alone, and what reads the lists afterwards (the security
    /// policy looks up the records an operation concerns) finds the create's own.
    ///
    /// # Errors
    ///
    /// [`TakeError::NotPlanned`] when a list is not the one planned from; nothing is taken then
    /// from that create on, and the lists may have lost the records taken before it.
    pub fn take_from(self, crm: &mut Vec<Change>, mailbox: &mut Vec<Change>) -> Result<Plan, TakeError> {
        let TakingPlan { mut plan, taken } = self;
        if taken.is_empty() {
            return Ok(plan);
        }
        let mut awaited: HashMap<IdempotencyKey, (Side, usize)> =
            taken.into_iter().map(|t| (t.key, (t.side, t.at))).collect();
        let mut gone: [HashSet<RecordId>; 2] = [HashSet::new(), HashSet::new()];
        for op in &mut plan.operations {
            let Action::Create { key, source_id, record, .. } = &mut op.action else { continue };
            let Some((side, at)) = awaited.remove(key) else { continue };
            let list: &mut Vec<Change> = if side == Side::Crm { &mut *crm } else { &mut *mailbox };
            let not_planned = || TakeError::NotPlanned { side, id: source_id.clone() };
            let change = list.get_mut(at).filter(|c| c.id == *source_id).ok_or_else(not_planned)?;
            match &mut change.kind {
                ChangeKind::Upserted { record: read } if read.kind() == record.kind() => **record = read.take(),
                _ => return Err(not_planned()),
            }
            gone[idx(side)].insert(source_id.clone());
        }
        for (list, gone) in [crm, mailbox].into_iter().zip(&gone) {
            if !gone.is_empty() {
                list.retain(|c| !gone.contains(&c.id));
            }
        }
        Ok(plan)
    }
}

/// The fingerprints a pair's state keeps for `record` as `side` holds it (custom fields named as
/// that side names them), exactly as [`plan`] computes them: what recovery compares a record
/// read back after an interruption with.
pub fn fingerprints(
    config: &ObjectConfig,
    capabilities: &ObjectCapabilities,
    side: Side,
    record: &Record,
) -> FieldPrints {
    let pairs = PairIndex::default();
    let input = PlanInput {
        object: record.kind(),
        config,
        pairs: &pairs,
        mapped_pairs: 0,
        crm: SideInput { changes: &[], capabilities },
        mailbox: SideInput { changes: &[], capabilities },
        now: DateTime::UNIX_EPOCH,
        release_held_deletes: false,
        approved_deletes: &NO_APPROVED_DELETES,
        mailbox_owner: None,
    };
    let touched = TouchedPairs::default();
    let planner = Planner::new(&input, &touched);
    let mut canonical = planner.to_canonical(side, record);
    canonical.normalize();
    planner.prints(side, &canonical)
}

/// A change after canonicalisation: custom fields renamed, record normalised and validated.
#[derive(Debug, Clone)]
struct Seen<'a> {
    side: Side,
    /// Where the change is in its side's list (the last report of the record).
    at: usize,
    /// The change's id, version and key, borrowed: most changes are planned without copying them
    /// (a write copies the pair's, a next state only the version).
    id: &'a RecordId,
    version: &'a Version,
    modified_at: Option<DateTime<Utc>>,
    sync_key: Option<&'a IdempotencyKey>,
    /// `None` for a delete. Borrowed from the change when it is canonical and normal already
    /// (the usual case), so the planner does not copy every record it reads.
    record: Option<Held<'a>>,
    /// The record's field prints as this side holds it ([`Planner::prints`]), computed once, when
    /// first needed: the diff against the pair's state and the pair's next state both read them.
    prints: OnceCell<FieldPrints>,
    /// An event's start and end instants, as validation worked them out: its timing print uses
    /// them instead of converting the times through their zones again.
    instants: Option<Instants>,
}

impl Seen<'_> {
    /// The record, for upserts.
    fn record(&self) -> Option<&Record> {
        self.record.as_ref().map(Held::get)
    }
}

/// A seen record: the change's own, or a canonical copy. Boxed, so that moving a [`Seen`] around
/// (the planner groups and sorts thousands) moves a pointer, not a record.
#[derive(Debug, Clone)]
enum Held<'a> {
    Borrowed(&'a Record),
    Owned(Box<Record>),
}

impl Held<'_> {
    fn get(&self) -> &Record {
        match self {
            Held::Borrowed(record) => record,
            Held::Owned(record) => record,
        }
    }
}

struct Planner<'a> {
    input: &'a PlanInput<'a>,
    /// The pairs the changes touch ([`TouchedPairs::of`]).
    pairs: &'a TouchedPairs,
    synced: Vec<FieldKey>,
    /// Per side, [`Self::fields_on`] in field order without repeats: the fields every record's
    /// prints hold, sorted once per plan rather than once per record.
    printed: [Vec<FieldKey>; 2],
    /// Per side, whether it compares and holds attendees ([`Self::attendees_on`]).
    attendees: [bool; 2],
    /// Per side, whether [`Self::fields_on`] is `printed` already (the synced fields come in field
    /// order unless custom fields are configured out of it): changes are then listed in one walk.
    in_field_order: [bool; 2],
    /// Whether both sides print the same fields ([`Self::printed`], attendees alike): a record
    /// then has the same prints on either side.
    same_prints: bool,
    /// For [`plan_taking`]: the creates whose record is to move in from its change, which the
    /// plan holds an empty record for meanwhile. `None` for [`plan`].
    taking: Option<Vec<Taken>>,
    plan: Plan,
    /// The next states, moved into `plan` when planning is done ([`NextStates`]: why not as the
    /// planner goes).
    states: NextStates,
}

fn idx(side: Side) -> usize {
    match side {
        Side::Crm => 0,
        Side::Mailbox => 1,
    }
}

fn names(fields: &[FieldKey]) -> String {
    let mut out = String::new();
    push_names(&mut out, fields);
    out
}

/// Appends the fields' names, comma-separated: the reason of every update lists them, so they are
/// written straight into it rather than through a string per name.
fn push_names<'k>(out: &mut String, fields: impl IntoIterator<Item = &'k FieldKey>) {
    for (i, key) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match key.static_name() {
            Some(name) => out.push_str(name),
            None => {
                use std::fmt::Write as _;
                // Writing to a String cannot fail.
                let _ = write!(out, "{key}");
            }
        }
    }
}

impl<'a> Planner<'a> {
    fn new(input: &'a PlanInput<'a>, pairs: &'a TouchedPairs) -> Self {
        let mut planner = Planner {
            input,
            pairs,
            synced: input.config.fields.synced(input.object),
            printed: [Vec::new(), Vec::new()],
            in_field_order: [false, false],
            attendees: [false, false],
            same_prints: false,
            taking: None,
            plan: Plan::empty(input.object),
            states: NextStates::default(),
        };
        planner.printed = Side::BOTH.map(|side| {
            let mut keys: Vec<FieldKey> = planner.fields_on(side).cloned().collect();
            keys.sort();
            keys.dedup();
            keys
        });
        planner.attendees = Side::BOTH.map(|side| planner.holds_attendees(side));
        planner.in_field_order = Side::BOTH.map(|side| planner.fields_on(side).eq(planner.printed[idx(side)].iter()));
        planner.same_prints = planner.printed[0] == planner.printed[1]
            && planner.attendees_on(Side::Crm) == planner.attendees_on(Side::Mailbox);
        planner
    }

    fn caps(&self, side: Side) -> &ObjectCapabilities {
        match side {
            Side::Crm => self.input.crm.capabilities,
            Side::Mailbox => self.input.mailbox.capabilities,
        }
    }

    fn direction(&self) -> Direction {
        self.input.config.direction
    }

    fn push(&mut self, pair: Option<&PairId>, action: Action, reason: impl Into<String>) {
        self.plan.operations.push(Operation { pair: pair.cloned(), action, reason: reason.into() });
    }

    fn run(&mut self) {
        if self.direction() == Direction::Off
            || !self.input.crm.capabilities.supported
            || !self.input.mailbox.capabilities.supported
        {
            return;
        }
        let crm = self.prepare(Side::Crm);
        let mailbox = self.prepare(Side::Mailbox);
        // Sized once: a change makes at most one operation and one next state nearly always (a
        // pair changed on both sides makes up to two operations, from its two changes). Grown as
        // they went, the plan's vectors copied everything decided so far at each doubling, about
        // a twentieth of an event change's cost in the planner benchmark.
        let changes = crm.len() + mailbox.len();
        self.plan.operations.reserve(changes);
        self.states.reserve(changes);

        let moves = self.find_moves(crm.iter().chain(&mailbox));

        // Split into changes to known pairs and records never seen before. The changes of a pair
        // stay in `slots`, `paired` orders the pairs by id: seen records are large, and a B-tree
        // keyed by pair shifts its values around as it grows.
        let pairs: &'a TouchedPairs = self.pairs;
        let mut paired: Paired<'_> = BTreeMap::new();
        // A slot per touched pair at most (none on a first sync), sized once.
        let known = pairs.len().min(changes);
        let mut slots: Vec<[Option<Seen<'a>>; 2]> = Vec::with_capacity(known);
        // The state of each slot's pair, when the lookup by record id found it already.
        let mut found: Vec<Option<&'a PairState>> = Vec::with_capacity(known);
        let mut unpaired: [Vec<Seen<'a>>; 2] = [Vec::new(), Vec::new()];
        for seen in crm.into_iter().chain(mailbox) {
            let pair = pairs.by_record(seen.side, seen.id).map(|p| (&p.pair_id, Some(p))).or_else(|| {
                moves.iter().find(|(_, (side, id))| *side == seen.side && *id == *seen.id).map(|(p, _)| (p, None))
            });
            match pair {
                Some((pair_id, state)) => {
                    // The old id of a record that moved: its delete is the move, not a delete.
                    if moves.get(pair_id).is_some_and(|(side, id)| *side == seen.side && *id != *seen.id) {
                        continue;
                    }
                    let slot = idx(seen.side);
                    let at = *paired.entry(PairKey::new(pair_id)).or_insert_with(|| {
                        slots.push([None, None]);
                        found.push(None);
                        slots.len() - 1
                    });
                    slots[at][slot] = Some(seen);
                    if found[at].is_none() {
                        found[at] = state;
                    }
                }
                None if seen.record.is_some() => unpaired[idx(seen.side)].push(seen),
                // A delete of a record Tandem never paired: nothing to do.
                None => {}
            }
        }

        self.guard_mass_deletes(&mut paired, &mut slots);

        // Records seen this cycle that are already paired: a new record matching one of them is
        // ambiguous, not new. Only worth indexing when the other side has new records.
        let linked: [Candidates; 2] = Side::BOTH.map(|side| {
            if unpaired[idx(side.other())].is_empty() {
                return Candidates::new();
            }
            let mut index = Candidates::new();
            self.index_candidates(
                &mut index,
                paired.values().filter_map(|at| slots[*at][idx(side)].as_ref()).filter(|s| s.record.is_some()),
            );
            index
        });
        for (PairKey(_, pair_id), at) in paired {
            let [crm, mailbox] = std::mem::take(&mut slots[at]);
            let Some(state) = found[at].or_else(|| pairs.get(pair_id)) else { continue };
            match moves.get(pair_id) {
                Some((side, new_id)) => {
                    let mut state = state.clone();
                    let old_id = std::mem::replace(&mut state.side_mut(*side).id, new_id.clone());
                    self.push(
                        Some(pair_id),
                        Action::Link { crm: state.crm.id.clone(), mailbox: state.mailbox.id.clone() },
                        format!(
                            "moved: {side} record {old_id} now has id {new_id} (same Tandem key); re-linked, \
                             neither deleted nor created"
                        ),
                    );
                    let version =
                        [&crm, &mailbox].into_iter().flatten().find(|s| s.side == *side).map(|s| s.version.clone());
                    let before = self.states.set_count();
                    self.decide_pair(&state, crm, mailbox);
                    // The new id must be remembered even when nothing else changed.
                    if !self.states.set_since(before, pair_id) {
                        let mut next = state;
                        next.synced_at = self.input.now;
                        if let Some(version) = version {
                            next.side_mut(*side).version = version;
                        }
                        self.states.insert(pair_id.clone(), NextState::Put(next));
                    }
                }
                None => self.decide_pair(state, crm, mailbox),
            }
        }
        let [crm_new, mailbox_new] = unpaired;
        self.match_and_create(crm_new, mailbox_new, linked);
        self.cap_creates();
    }

    /// Holds back the creates beyond [`ObjectConfig::max_records`]: links and pairs already
    /// there count first, creates in plan order after them. A held create becomes a skip with
    /// its reason, its pair state is dropped, and the plan lists it in `over_limit`.
    fn cap_creates(&mut self) {
        let Some(max) = self.input.config.max_records else { return };
        // An unknown count (a replan) holds nothing back.
        if self.input.mapped_pairs == usize::MAX {
            return;
        }
        let linked = self.plan.operations.iter().filter(|op| matches!(op.action, Action::Link { .. })).count();
        let mut room = max.saturating_sub(self.input.mapped_pairs.saturating_add(linked));
        let object = self.input.object;
        let mut held = HashSet::new();
        for op in &mut self.plan.operations {
            let Action::Create { target, source_id, .. } = &op.action else { continue };
            if room > 0 {
                room -= 1;
                continue;
            }
            let (side, id) = (target.other(), source_id.clone());
            if let Some(pair) = op.pair.take() {
                held.insert(pair);
            }
            op.reason = format!("the user already syncs {max} {object}s, the limit; copied once others stop syncing");
            op.action = Action::Skip { side, id: id.clone() };
            self.plan.over_limit.push((side, id));
        }
        self.states.remove_all(&held);
    }

    /// Records that moved: a record not paired under its id, carrying the key of a live pair
    /// whose record on that side has another id. A folder move gives a record a new id on
    /// providers without immutable ids (EWS item ids, CalDAV resource names); the old id then
    /// reads as deleted. By pair: the side and the new id.
    fn find_moves<'s>(&self, seen: impl Iterator<Item = &'s Seen<'a>>) -> BTreeMap<PairId, (Side, RecordId)>
    where
        'a: 's,
    {
        let mut moves = BTreeMap::new();
        for s in seen {
            let (Some(_), Some(key)) = (&s.record, &s.sync_key) else { continue };
            if self.pairs.by_record(s.side, s.id).is_some() {
                continue;
            }
            let Some(state) = self.pairs.get(key) else { continue };
            if state.tombstone.is_none() && state.side(s.side).id != *s.id && !state.side(s.side).id.is_pending() {
                // Two records with one key (a provider without idempotent creates): the first
                // is the pair's; the other stays Tandem's unmapped copy.
                moves.entry((*key).clone()).or_insert_with(|| (s.side, s.id.clone()));
            }
        }
        moves
    }

    /// Why an event lies outside the configured sync window, if it does.
    fn outside_window(&self, record: &Record) -> Option<String> {
        let (Record::Event(e), Some(window)) = (record, self.input.config.window) else { return None };
        let (from, to) = window.bounds(self.input.now);
        let start = e.timing.start.instant()?;
        let end = e.timing.end.instant()?;
        let recurring = e.recurrence.as_ref().is_some_and(|r| !r.rules.is_empty() || !r.rdates.is_empty());
        // A series may recur into the window from any start before its end.
        let inside = start <= to && (recurring || end >= from);
        (!inside).then(|| {
            format!(
                "outside the sync window ({} days back, {} days ahead); neither created nor deleted on the other side",
                window.past_days, window.future_days
            )
        })
    }

    /// Deduplicates, renames custom fields to canonical names, normalises and validates one
    /// side's changes. Invalid records are quarantined here.
    fn prepare(&mut self, side: Side) -> Vec<Seen<'a>> {
        let input = match side {
            Side::Crm => self.input.crm,
            Side::Mailbox => self.input.mailbox,
        };
        // Providers may repeat a record within one round; the last report wins. By record id:
        // sorted (the order of a map by id), each id's last report kept.
        let changes: &'a [Change] = input.changes;
        let mut order: Vec<usize> = (0..changes.len()).collect();
        order.sort_unstable_by(|a, b| changes[*a].id.cmp(&changes[*b].id).then(a.cmp(b)));
        let latest = order.iter().enumerate().filter_map(|(at, i)| {
            let change = &changes[*i];
            let repeated = order.get(at + 1).is_some_and(|next| changes[*next].id == change.id);
            (!repeated).then_some((*i, &change.id, change))
        });
        let mut out = Vec::with_capacity(changes.len());
        for (at, id, change) in latest {
            let mut instants = None;
            let record = match &change.kind {
                ChangeKind::Deleted => None,
                // The engine reads these before planning; one left unread is never taken for a
                // delete or an echo.
                ChangeKind::VersionOnly => {
                    self.push(
                        None,
                        Action::Quarantine { side, id: id.clone() },
                        "changed, but its content was not read (reported by version only)".to_owned(),
                    );
                    continue;
                }
                ChangeKind::Invalid { reason } => {
                    self.push(
                        None,
                        Action::Quarantine { side, id: id.clone() },
                        format!("unreadable record: {reason}"),
                    );
                    continue;
                }
                ChangeKind::Upserted { record } => {
                    if record.kind() != self.input.object {
                        self.push(
                            None,
                            Action::Quarantine { side, id: id.clone() },
                            format!("a {} arrived in the {} feed", record.kind(), self.input.object),
                        );
                        continue;
                    }
                    let record = self.canonical(side, record);
                    match validate_timed(record.get()) {
                        Ok(found) => instants = found,
                        Err(e) => {
                            let reason = format!("invalid record: {e}");
                            self.push(None, Action::Quarantine { side, id: id.clone() }, reason);
                            continue;
                        }
                    }
                    Some(record)
                }
            };
            out.push(Seen {
                side,
                at,
                id,
                version: &change.version,
                modified_at: change.modified_at,
                sync_key: change.sync_key.as_ref(),
                record,
                prints: OnceCell::new(),
                instants,
            });
        }
        out
    }
}

impl RecordId {
    /// The placeholder id of a record that is about to be created; the engine replaces it with
    /// the id the target assigns.
    pub fn default_pending() -> Self {
        RecordId(std::sync::Arc::from(""))
    }

    /// True for [`RecordId::default_pending`].
    pub fn is_pending(&self) -> bool {
        self.0.is_empty()
    }
}
