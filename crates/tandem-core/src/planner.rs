//! The planner: previous state plus both sides' changes in, a [`Plan`] out.
//!
//! `plan` is a pure function. It reads only its [`PlanInput`]; time comes in as
//! [`PlanInput::now`]; pair ids and idempotency keys are derived from record ids. The same input
//! always gives the same plan.
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
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::capabilities::ObjectCapabilities;
use crate::config::{ConflictStrategy, Direction, ObjectConfig};
use crate::fields::{FieldKey, FieldValue, fingerprint};
use crate::model::{ObjectKind, Record};
use crate::plan::{Action, FieldChange, NextState, Operation, Plan, Resolution};
use crate::state::{
    Change, ChangeKind, FieldPrints, IdempotencyKey, PairId, PairState, RecordId, Side, SideState, Version,
};
use crate::validate::validate;

pub use crate::pair_index::PairIndex;

/// The pairs one plan reads: those the changes touch, decoded once from the packed
/// [`PairIndex`] (which gives owned states) so that the planner can hold references to them.
/// Tables of places in `pairs`, so that no id is copied into a key.
#[derive(Default)]
struct TouchedPairs {
    pairs: Vec<PairState>,
    by_pair: hashbrown::HashTable<usize>,
    by_crm: hashbrown::HashTable<usize>,
    by_mailbox: hashbrown::HashTable<usize>,
}

/// The hash of the touched pairs' tables: xxh3 (the fingerprints' hash) rather than SipHash,
/// which took about a tenth of the planner benchmark's time on 150-character Graph ids. Unkeyed,
/// as the core takes no randomness: the ids are those the providers and Tandem assign, not text a
/// stranger chooses, so flooding one bucket is not a concern. Tables' order is never observed.
fn id_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

impl TouchedPairs {
    /// Every pair of `index` the planner can look at for these changes: the pair holding each
    /// changed record, and the pair named by each change's sync key (moves, re-created records).
    fn of(index: &PairIndex, changes: [&[Change]; 2]) -> Self {
        // About a pair per change (a sync key can name a second): sized once rather than grown
        // and rehashed.
        let most = changes[0].len() + changes[1].len();
        let mut touched = TouchedPairs {
            pairs: Vec::with_capacity(most),
            by_pair: hashbrown::HashTable::with_capacity(most),
            by_crm: hashbrown::HashTable::with_capacity(most),
            by_mailbox: hashbrown::HashTable::with_capacity(most),
        };
        for (side, changes) in Side::BOTH.into_iter().zip(changes) {
            for change in changes {
                if touched.by_record(side, &change.id).is_none()
                    && let Some(pair) = index.by_record(side, &change.id)
                {
                    touched.insert(index, pair, Some(side));
                }
                if let Some(key) = &change.sync_key
                    && touched.get(key).is_none()
                    && let Some(pair) = index.get(key)
                {
                    touched.insert(index, pair, None);
                }
            }
        }
        touched
    }

    /// Adds a pair not held yet. Its record ids are filed only where the index files them under
    /// this pair, so that lookups by record id answer as the index does even where two pairs
    /// claim one record (the index points it at the later one). `found_by`: the side whose record
    /// id the index just answered with this pair, which needs no second lookup.
    fn insert(&mut self, index: &PairIndex, pair: PairState, found_by: Option<Side>) {
        if self.get(&pair.pair_id).is_some() {
            return;
        }
        let at = self.pairs.len();
        let files = |side: Side| found_by == Some(side) || index.files_under(side, &pair.side(side).id, &pair.pair_id);
        let (file_crm, file_mailbox) = (files(Side::Crm), files(Side::Mailbox));
        let hashes = [id_hash(pair.pair_id.as_str()), id_hash(&pair.crm.id.0), id_hash(&pair.mailbox.id.0)];
        self.pairs.push(pair);
        let pairs = &self.pairs;
        self.by_pair.insert_unique(hashes[0], at, |i| id_hash(pairs[*i].pair_id.as_str()));
        if file_crm {
            self.by_crm.insert_unique(hashes[1], at, |i| id_hash(&pairs[*i].crm.id.0));
        }
        if file_mailbox {
            self.by_mailbox.insert_unique(hashes[2], at, |i| id_hash(&pairs[*i].mailbox.id.0));
        }
    }

    fn get(&self, pair: &PairId) -> Option<&PairState> {
        let pairs = &self.pairs;
        self.by_pair.find(id_hash(pair.as_str()), |i| pairs[*i].pair_id == *pair).map(|i| &pairs[*i])
    }

    fn by_record(&self, side: Side, id: &RecordId) -> Option<&PairState> {
        let pairs = &self.pairs;
        let table = match side {
            Side::Crm => &self.by_crm,
            Side::Mailbox => &self.by_mailbox,
        };
        // The first pair found for a record id, as the index points each record at one pair.
        table.find(id_hash(&id.0), |i| pairs[*i].side(side).id == *id).map(|i| &pairs[*i])
    }
}

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
    let touched = TouchedPairs::of(input.pairs, [input.crm.changes, input.mailbox.changes]);
    let mut planner = Planner::new(input, &touched);
    planner.run();
    planner.plan
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
    id: RecordId,
    version: Version,
    modified_at: Option<DateTime<Utc>>,
    sync_key: Option<IdempotencyKey>,
    /// `None` for a delete. Borrowed from the change when it is canonical and normal already
    /// (the usual case), so the planner does not copy every record it reads.
    record: Option<Held<'a>>,
    /// The record's field prints as this side holds it ([`Planner::prints`]), computed once, when
    /// first needed: the diff against the pair's state and the pair's next state both read them.
    prints: OnceCell<FieldPrints>,
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
    /// Per side, whether [`Self::fields_on`] is `printed` already (the synced fields come in field
    /// order unless custom fields are configured out of it): changes are then listed in one walk.
    in_field_order: [bool; 2],
    /// Whether both sides print the same fields ([`Self::printed`], attendees alike): a record
    /// then has the same prints on either side.
    same_prints: bool,
    plan: Plan,
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
            same_prints: false,
            plan: Plan::empty(input.object),
        };
        planner.printed = Side::BOTH.map(|side| {
            let mut keys: Vec<FieldKey> = planner.fields_on(side).cloned().collect();
            keys.sort();
            keys.dedup();
            keys
        });
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

        let moves = self.find_moves(crm.iter().chain(&mailbox));

        // Split into changes to known pairs and records never seen before. The changes of a pair
        // stay in `slots`, `paired` orders the pairs by id: seen records are large, and a B-tree
        // keyed by pair shifts its values around as it grows.
        let pairs: &'a TouchedPairs = self.pairs;
        let mut paired: Paired<'_> = BTreeMap::new();
        let mut slots: Vec<[Option<Seen<'a>>; 2]> = Vec::new();
        // The state of each slot's pair, when the lookup by record id found it already.
        let mut found: Vec<Option<&'a PairState>> = Vec::new();
        let mut unpaired: [Vec<Seen<'a>>; 2] = [Vec::new(), Vec::new()];
        for seen in crm.into_iter().chain(mailbox) {
            let pair = pairs.by_record(seen.side, &seen.id).map(|p| (&p.pair_id, Some(p))).or_else(|| {
                moves.iter().find(|(_, (side, id))| *side == seen.side && *id == seen.id).map(|(p, _)| (p, None))
            });
            match pair {
                Some((pair_id, state)) => {
                    // The old id of a record that moved: its delete is the move, not a delete.
                    if moves.get(pair_id).is_some_and(|(side, id)| *side == seen.side && *id != seen.id) {
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
                    self.decide_pair(&state, crm, mailbox);
                    // The new id must be remembered even when nothing else changed.
                    if !self.plan.states.contains_key(pair_id) {
                        let mut next = state;
                        next.synced_at = self.input.now;
                        if let Some(version) = version {
                            next.side_mut(*side).version = version;
                        }
                        self.plan.states.insert(pair_id.clone(), NextState::Put(next));
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
        for op in &mut self.plan.operations {
            let Action::Create { target, source_id, .. } = &op.action else { continue };
            if room > 0 {
                room -= 1;
                continue;
            }
            let (side, id) = (target.other(), source_id.clone());
            if let Some(pair) = op.pair.take() {
                self.plan.states.remove(&pair);
            }
            op.reason = format!("the user already syncs {max} {object}s, the limit; copied once others stop syncing");
            op.action = Action::Skip { side, id: id.clone() };
            self.plan.over_limit.push((side, id));
        }
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
            if self.pairs.by_record(s.side, &s.id).is_some() {
                continue;
            }
            let Some(state) = self.pairs.get(key) else { continue };
            if state.tombstone.is_none() && state.side(s.side).id != s.id && !state.side(s.side).id.is_pending() {
                // Two records with one key (a provider without idempotent creates): the first
                // is the pair's; the other stays Tandem's unmapped copy.
                moves.entry(key.clone()).or_insert_with(|| (s.side, s.id.clone()));
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
            (!repeated).then_some((&change.id, change))
        });
        let mut out = Vec::with_capacity(changes.len());
        for (id, change) in latest {
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
                    if let Err(e) = validate(record.get()) {
                        self.push(None, Action::Quarantine { side, id: id.clone() }, format!("invalid record: {e}"));
                        continue;
                    }
                    Some(record)
                }
            };
            out.push(Seen {
                side,
                id: id.clone(),
                version: change.version.clone(),
                modified_at: change.modified_at,
                sync_key: change.sync_key.clone(),
                record,
                prints: OnceCell::new(),
            });
        }
        out
    }

    /// The record with custom fields under canonical names, normalised: the record itself when
    /// it is that already.
    fn canonical(&self, side: Side, record: &'a Record) -> Held<'a> {
        if self.input.config.fields.custom.is_empty() && record.custom().is_empty() && record.is_normalized() {
            return Held::Borrowed(record);
        }
        let mut record = self.to_canonical(side, record);
        record.normalize();
        Held::Owned(Box::new(record))
    }

    fn to_canonical(&self, side: Side, record: &Record) -> Record {
        let mut record = record.clone();
        let mapping = &self.input.config.fields.custom;
        let custom = std::mem::take(record.custom_mut());
        for m in mapping {
            if let Some(v) = custom.get(m.on(side)) {
                record.custom_mut().insert(m.name.clone(), v.clone());
            }
        }
        record
    }

    fn target_name(&self, side: Side, key: &FieldKey) -> FieldKey {
        self.input.config.fields.side_name(side, key)
    }

    fn to_side_names(&self, side: Side, record: &mut Record) {
        let custom = std::mem::take(record.custom_mut());
        for (name, value) in custom {
            if let FieldKey::Custom(target) = self.target_name(side, &FieldKey::Custom(name)) {
                record.custom_mut().insert(target, value);
            }
        }
    }

    /// The synced fields `side` can store. [`FieldKey::Attendees`] stands for the attendees,
    /// which are compared one by one ([`Self::attendees_on`]).
    fn fields_on(&self, side: Side) -> impl Iterator<Item = &FieldKey> {
        let caps = self.caps(side);
        self.synced.iter().filter(move |k| **k != FieldKey::Attendees && caps.supports(k))
    }

    /// Whether a field of a record is synced: configured, or one attendee of synced attendees.
    fn is_synced(&self, key: &FieldKey) -> bool {
        self.synced.contains(key.family())
    }

    /// Whether `side` compares and holds attendees.
    fn attendees_on(&self, side: Side) -> bool {
        self.synced.contains(&FieldKey::Attendees) && self.caps(side).supports(&FieldKey::Attendees)
    }

    fn prints(&self, side: Side, record: &Record) -> FieldPrints {
        let standard = self.printed[idx(side)].iter().map(|k| (k, record.print(k)));
        // Absent attendees need no entry: a missing print reads as absent.
        let attendees = if self.attendees_on(side) { record.attendee_keys() } else { Vec::new() };
        if attendees.is_empty() {
            return FieldPrints::from_sorted(standard);
        }
        // Built in one go (sorted into field order) rather than inserted one by one, which
        // re-allocated the prints for every attendee.
        let mut entries: Vec<(FieldKey, u64)> = standard.map(|(k, print)| (k.clone(), print)).collect();
        entries.extend(attendees.into_iter().map(|k| {
            let print = record.print(&k);
            (k, print)
        }));
        entries.into_iter().collect()
    }

    /// The prints of a seen record (`None` for a delete), computed on first use.
    fn seen_prints<'s>(&self, seen: &'s Seen<'a>) -> Option<&'s FieldPrints> {
        let record = seen.record()?;
        Some(seen.prints.get_or_init(|| self.prints(seen.side, record)))
    }

    /// The fields of `record` (seen on `side`, with its prints `current`) whose prints differ from
    /// `state`'s.
    fn changed_fields(&self, side: Side, record: &Record, current: &FieldPrints, state: &SideState) -> Vec<FieldKey> {
        // `current` holds a print of every field compared here ([`Self::prints`]).
        let print = |k: &FieldKey| current.get(k).copied().unwrap_or_else(|| record.print(k));
        let changed = |k: &FieldKey| {
            let before = state.fields.get(k).copied().unwrap_or_else(|| fingerprint(None));
            print(k) != before
        };
        let mut out: Vec<FieldKey> = if self.in_field_order[idx(side)] {
            self.changed_in_field_order(side, record, current, &state.fields)
        } else {
            self.fields_on(side).filter(|k| changed(k)).cloned().collect()
        };
        if self.attendees_on(side) {
            let now = record.attendee_keys();
            let known: Vec<&FieldKey> = state.fields.keys().filter(|k| matches!(k, FieldKey::Attendee(_))).collect();
            match state.fields.get(&FieldKey::Attendees) {
                // State from before attendees synced one by one holds one print of the whole
                // list: an unchanged list is unchanged attendees; a changed one is taken as every
                // attendee added (none is removed: which one went cannot be known).
                Some(whole) if known.is_empty() => {
                    if legacy_attendees_print(record) != *whole {
                        out.extend(now);
                    }
                }
                _ => {
                    out.extend(now.iter().filter(|k| changed(k)).cloned());
                    out.extend(known.into_iter().filter(|k| !now.contains(k)).cloned());
                }
            }
        }
        out
    }

    /// [`Self::changed_fields`]' comparison of the fields `side` holds, when they come in field
    /// order ([`Self::in_field_order`]): `current` and `before` keep their prints in that order
    /// too, so one walk through the three lists replaces two binary searches per field.
    fn changed_in_field_order(
        &self,
        side: Side,
        record: &Record,
        current: &FieldPrints,
        before: &FieldPrints,
    ) -> Vec<FieldKey> {
        /// The print of `key` in a walk through prints in field order, which it advances past
        /// the fields before `key`.
        fn seek(prints: &mut std::iter::Peekable<crate::state::FieldPrintsIter<'_>>, key: &FieldKey) -> Option<u64> {
            while let Some((k, print)) = prints.peek() {
                match (*k).cmp(key) {
                    std::cmp::Ordering::Less => {
                        prints.next();
                    }
                    std::cmp::Ordering::Equal => return Some(**print),
                    std::cmp::Ordering::Greater => return None,
                }
            }
            None
        }
        let (mut now, mut was) = (current.iter().peekable(), before.iter().peekable());
        let mut out = Vec::new();
        for key in &self.printed[idx(side)] {
            let print = seek(&mut now, key).unwrap_or_else(|| record.print(key));
            let before = seek(&mut was, key).unwrap_or_else(|| fingerprint(None));
            if print != before {
                out.push(key.clone());
            }
        }
        out
    }

    /// Shapes a value to what `target` can hold. Returns the value and whether it was shortened.
    fn fit(&self, target: Side, key: &FieldKey, value: Option<FieldValue>) -> (Option<FieldValue>, bool) {
        let fitted = self.fit_value(target, key, value);
        (fitted.value, fitted.cut)
    }

    /// [`Self::fit`], also saying whether the value came out other than it went in
    /// ([`Fitted::altered`]).
    fn fit_value(&self, target: Side, key: &FieldKey, value: Option<FieldValue>) -> Fitted {
        let Some(limit) = self.limit(target, key) else { return Fitted { value, cut: false, blanked: false } };
        let mut blanked = false;
        let mut cut = false;
        let mut dropped_emails = false;
        let mut shorten = |s: &mut String| {
            if let Some(max) = limit.max_len
                && s.chars().count() > max
            {
                // Trailing blanks of a cut value would be trimmed by many providers and then read
                // back as an edit; drop them here.
                *s = s.chars().take(max).collect::<String>().trim_end().to_owned();
                cut = true;
            }
        };
        let value = value.and_then(|v| match v {
            FieldValue::Text(mut t) => {
                shorten(&mut t);
                // Cut down to blanks, it is absent (as normalising the record will read it back).
                blanked = t.trim().is_empty();
                (!blanked).then_some(FieldValue::Text(t))
            }
            FieldValue::List(mut l) => {
                l.iter_mut().for_each(&mut shorten);
                Some(FieldValue::List(l))
            }
            FieldValue::Emails(mut l) => {
                // A shortened address is a wrong address: leave out the ones that do not fit.
                if let Some(max) = limit.max_len {
                    let before = l.len();
                    l.retain(|e| e.address.chars().count() <= max);
                    dropped_emails = l.len() != before;
                }
                (!l.is_empty()).then_some(FieldValue::Emails(l))
            }
            other => Some(other),
        });
        cut |= dropped_emails;
        let Some(max_items) = limit.max_items else { return Fitted { value, cut, blanked } };
        let value = value.map(|v| {
            let mut trim = |len: usize| {
                if len > max_items {
                    cut = true;
                }
            };
            match v {
                FieldValue::List(mut l) => {
                    trim(l.len());
                    l.truncate(max_items);
                    FieldValue::List(l)
                }
                FieldValue::Emails(mut l) => {
                    trim(l.len());
                    l.truncate(max_items);
                    FieldValue::Emails(l)
                }
                FieldValue::Addresses(mut l) => {
                    trim(l.len());
                    l.truncate(max_items);
                    FieldValue::Addresses(l)
                }
                FieldValue::Attendees(mut l) => {
                    trim(l.len());
                    l.truncate(max_items);
                    FieldValue::Attendees(l)
                }
                FieldValue::CrmLinks(mut l) => {
                    trim(l.len());
                    l.truncate(max_items);
                    FieldValue::CrmLinks(l)
                }
                // A series' items are its changed occurrences: a side that keeps fewer (Salesforce
                // keeps none when it writes a series) holds the series without the rest, and its
                // fingerprint must say so, or reading it back looks like an edit.
                FieldValue::Recurrence(mut r) => {
                    trim(r.overrides.len());
                    let keep: Vec<_> = r.overrides.keys().take(max_items).cloned().collect();
                    r.overrides.retain(|k, _| keep.contains(k));
                    FieldValue::Recurrence(r)
                }
                other => other,
            }
        });
        Fitted { value, cut, blanked }
    }

    /// Why `target` would reject an event with this record's timing, if it would.
    fn duration_problem(&self, target: Side, record: &Record) -> Option<String> {
        let Record::Event(e) = record else { return None };
        let max = self.caps(target).max_event_minutes?;
        let (start, end) = (e.timing.start.instant()?, e.timing.end.instant()?);
        let minutes = (end - start).num_minutes();
        (minutes > max).then(|| format!("the event lasts {minutes} minutes; {target} accepts at most {max}"))
    }

    /// The record to create on `target`: only synced fields it supports, shortened to fit.
    /// Custom fields keep canonical names here.
    fn project(&self, target: Side, source: &Record) -> (Record, Vec<FieldKey>) {
        let mut out = source.clone();
        let mut truncated = Vec::new();
        out.custom_mut().clear();
        for key in source.field_keys() {
            let keep = self.is_synced(&key) && self.caps(target).writable(&key);
            if keep {
                let (value, cut) = self.fit(target, &key, source.get(&key));
                if cut {
                    truncated.push(key.clone());
                }
                // The value came from a record of the same kind, so the write cannot fail.
                let _ = out.set(&key, value);
            } else if !matches!(key, FieldKey::Custom(_)) {
                // Mandatory fields (event timing) cannot be cleared and stay as they are.
                let _ = out.set(&key, None);
            }
        }
        (out, truncated)
    }

    fn missing_required(&self, target: Side, record: &Record) -> Vec<FieldKey> {
        self.synced
            .iter()
            .filter(|k| self.limit(target, k).is_some_and(|l| l.required) && record.get(k).is_none())
            .cloned()
            .collect()
    }

    /// The limit of a synced field on `side`. Sides declare custom fields under their own names.
    fn limit(&self, side: Side, key: &FieldKey) -> Option<crate::capabilities::FieldLimit> {
        self.caps(side).limit(&self.target_name(side, key))
    }

    fn guard_mass_deletes(&mut self, paired: &mut Paired<'_>, slots: &mut [[Option<Seen<'a>>; 2]]) {
        if self.input.release_held_deletes {
            return;
        }
        let guard = self.input.config.mass_delete_guard;
        for side in Side::BOTH {
            let deleting: Vec<PairKey<'_>> = paired
                .iter()
                .filter(|(PairKey(_, pair_id), at)| {
                    let changes = &slots[**at];
                    changes[idx(side)].as_ref().is_some_and(|s| s.record.is_none())
                        && changes[idx(side.other())].as_ref().is_none_or(|s| s.record.is_some())
                        && self.pairs.get(pair_id).is_some_and(|p| p.tombstone.is_none())
                        // Approved one by one: let through, and not counted towards a new hold.
                        && !changes[idx(side)]
                            .as_ref()
                            .is_some_and(|s| self.input.approved_deletes.contains(&(side, s.id.clone())))
                })
                .map(|(id, _)| *id)
                .collect();
            let share = deleting.len() as f64 / self.input.mapped_pairs.max(1) as f64;
            if deleting.len() < guard.min_records || share <= guard.max_share {
                continue;
            }
            for pair_key in deleting {
                // The whole pair waits with its delete: an edit of the counterpart must not be
                // written to the record whose delete is held (it is gone, and the delete wins).
                if let Some(seen) = paired.remove(&pair_key).and_then(|at| slots[at][idx(side)].take()) {
                    let pair_id = pair_key.1;
                    let reason = format!(
                        "mass-delete guard: {side} reported deletes of {:.0}% of mapped records this cycle \
                         (limit {:.0}%, at least {}); held for approval",
                        share * 100.0,
                        guard.max_share * 100.0,
                        guard.min_records
                    );
                    self.push(Some(pair_id), Action::HoldDelete { side, id: seen.id }, reason);
                }
            }
        }
    }

    fn is_echo(&mut self, seen: &Seen<'a>, state: &PairState) -> bool {
        let echo =
            seen.record.is_some() && !seen.version.as_str().is_empty() && seen.version == state.side(seen.side).version;
        if echo {
            self.plan.echoes_suppressed += 1;
        }
        echo
    }

    fn decide_pair(&mut self, state: &PairState, crm: Option<Seen<'a>>, mailbox: Option<Seen<'a>>) {
        let pair_id = &state.pair_id;
        if let Some(deleted_on) = state.tombstone {
            let survivor = deleted_on.other();
            let seen = [crm, mailbox].into_iter().flatten().find(|s| s.side == survivor);
            match seen {
                Some(s) if s.record.is_none() => {
                    self.plan.states.insert(pair_id.clone(), NextState::Remove);
                }
                Some(s) => self.push(
                    Some(pair_id),
                    Action::Skip { side: survivor, id: s.id },
                    format!(
                        "its counterpart was deleted on {deleted_on} and deletes are not propagated; \
                         this record is no longer synced and is never re-created there"
                    ),
                ),
                None => {}
            }
            return;
        }
        let crm = crm.filter(|s| !self.is_echo(s, state));
        let mailbox = mailbox.filter(|s| !self.is_echo(s, state));
        let mut seen: [Option<Seen<'a>>; 2] = [crm, mailbox];

        // Deletes first.
        let deleted: Vec<Side> =
            Side::BOTH.into_iter().filter(|s| seen[idx(*s)].as_ref().is_some_and(|c| c.record.is_none())).collect();
        match deleted.as_slice() {
            [_, _] => {
                self.plan.states.insert(pair_id.clone(), NextState::Remove);
                return;
            }
            [side] => {
                let other = seen[idx(side.other())].take();
                self.decide_delete(state, *side, other);
                return;
            }
            _ => {}
        }

        // Both present (or one unchanged).
        let mut refreshed: Option<PairState> = None;
        for side in Side::BOTH {
            if let Some(s) = &seen[idx(side)]
                && let (Some(filter), Some(record)) = (self.input.config.filter(side), s.record())
                && !filter.matches(record)
            {
                let id = s.id.clone();
                // Its edits are not sent, but a write to it from the other side must expect the
                // version it has now, or the precondition fails every cycle.
                refreshed.get_or_insert_with(|| state.clone()).side_mut(side).version = s.version.clone();
                self.push(
                    Some(pair_id),
                    Action::Skip { side, id },
                    "no longer passes the filter; both records are left as they are",
                );
                seen[idx(side)] = None;
            }
        }
        let state = refreshed.as_ref().unwrap_or(state);
        let mut changed: [Vec<FieldKey>; 2] = Side::BOTH.map(|side| {
            seen[idx(side)]
                .as_ref()
                .and_then(|s| Some((s.record()?, self.seen_prints(s)?)))
                .map(|(r, now)| self.changed_fields(side, r, now, state.side(side)))
                .unwrap_or_default()
        });
        let records: [Option<&Record>; 2] = Side::BOTH.map(|side| seen[idx(side)].as_ref().and_then(|s| s.record()));
        // A field both sides changed to the same value is already in sync, not a conflict (the
        // same edit made twice, or Tandem's own write whose state was never saved).
        if let (Some(crm_rec), Some(mb_rec)) = (records[0], records[1]) {
            let agreed: Vec<FieldKey> = changed[0]
                .iter()
                .filter(|k| changed[1].contains(k))
                .filter(|k| crm_rec.print(k) == mb_rec.print(k))
                .cloned()
                .collect();
            changed.iter_mut().for_each(|c| c.retain(|k| !agreed.contains(k)));
        }

        let mut writes: [BTreeMap<FieldKey, Option<FieldValue>>; 2] = [BTreeMap::new(), BTreeMap::new()];
        let both_changed = !changed[0].is_empty() && !changed[1].is_empty();
        if both_changed {
            let (Some(crm_rec), Some(mb_rec)) = (records[0], records[1]) else { return };
            if !self.resolve_conflict(state, &seen, &changed, [crm_rec, mb_rec], &mut writes) {
                return;
            }
        } else {
            for side in Side::BOTH {
                if let Some(record) = records[idx(side)] {
                    for key in &changed[idx(side)] {
                        writes[idx(side.other())].insert(key.clone(), record.get(key));
                    }
                }
            }
        }
        self.emit_pair_writes(state, &mut seen, writes, "changed");
    }

    /// Settles edits on both sides. Returns false when nothing is to be written (manual).
    fn resolve_conflict(
        &mut self,
        state: &PairState,
        seen: &[Option<Seen<'a>>; 2],
        changed: &[Vec<FieldKey>; 2],
        records: [&Record; 2],
        writes: &mut [BTreeMap<FieldKey, Option<FieldValue>>; 2],
    ) -> bool {
        let policy = self.input.config.conflicts;
        let union: BTreeSet<&FieldKey> = changed[0].iter().chain(&changed[1]).collect();
        let clashing: Vec<FieldKey> = changed[0]
            .iter()
            .filter(|k| changed[1].contains(k))
            .filter(|k| records[0].print(k) != records[1].print(k))
            .cloned()
            .collect();
        let reported =
            if clashing.is_empty() { union.iter().map(|k| (*k).clone()).collect() } else { clashing.clone() };
        let newest = || {
            let times = [seen[0].as_ref().and_then(|s| s.modified_at), seen[1].as_ref().and_then(|s| s.modified_at)];
            match times {
                [Some(c), Some(m)] if c > m => Side::Crm,
                [Some(c), Some(m)] if m > c => Side::Mailbox,
                _ => policy.fallback,
            }
        };
        let pair_id = Some(&state.pair_id);
        match policy.strategy {
            ConflictStrategy::Manual => {
                self.push(
                    pair_id,
                    Action::Conflict { fields: reported.clone(), resolution: Resolution::Manual },
                    format!("both sides edited [{}]; policy is manual, so nothing is changed", names(&reported)),
                );
                false
            }
            ConflictStrategy::FieldMerge => {
                for key in union {
                    let from = if changed[0].contains(key) && changed[1].contains(key) {
                        if clashing.contains(key) { policy.fallback } else { continue }
                    } else if changed[0].contains(key) {
                        Side::Crm
                    } else {
                        Side::Mailbox
                    };
                    writes[idx(from.other())].insert(key.clone(), records[idx(from)].get(key));
                }
                if !clashing.is_empty() {
                    self.push(
                        pair_id,
                        Action::Conflict {
                            fields: clashing.clone(),
                            resolution: Resolution::Merged { fallback: policy.fallback },
                        },
                        format!(
                            "both sides edited [{}]; edits to different fields are merged and {} wins the same field",
                            names(&clashing),
                            policy.fallback
                        ),
                    );
                }
                true
            }
            ConflictStrategy::CrmWins | ConflictStrategy::MailboxWins | ConflictStrategy::NewestWins => {
                let winner = match policy.strategy {
                    ConflictStrategy::CrmWins => Side::Crm,
                    ConflictStrategy::MailboxWins => Side::Mailbox,
                    _ => newest(),
                };
                let loser = winner.other();
                for key in union {
                    // A field the winner cannot store reads as absent there: the loser keeps its
                    // value rather than having it blanked.
                    if !self.caps(winner).supports(key) {
                        continue;
                    }
                    let value = records[idx(winner)].get(key);
                    if fingerprint(value.as_ref()) != records[idx(loser)].print(key) {
                        writes[idx(loser)].insert(key.clone(), value);
                    }
                }
                let why = match policy.strategy {
                    ConflictStrategy::NewestWins => format!("{winner} was modified last"),
                    _ => format!("policy: {winner} wins"),
                };
                self.push(
                    pair_id,
                    Action::Conflict { fields: reported.clone(), resolution: Resolution::Took(winner) },
                    format!("both sides edited the record ([{}]); {why}", names(&reported)),
                );
                true
            }
        }
    }

    /// Turns desired field writes into Update operations and the pair's next state. The values
    /// in `writes[target]` are those of the other side's seen record (`Record::get`), as every
    /// caller reads them.
    fn emit_pair_writes(
        &mut self,
        state: &PairState,
        seen: &mut [Option<Seen<'a>>; 2],
        mut writes: [BTreeMap<FieldKey, Option<FieldValue>>; 2],
        why: &str,
    ) {
        let pair_id = &state.pair_id;
        // One-way directions never write to their source side.
        for side in Side::BOTH {
            let target = side;
            if !writes[idx(target)].is_empty() && !self.direction().flows_from(target.other()) {
                let fields: Vec<FieldKey> = writes[idx(target)].keys().cloned().collect();
                let id = seen[idx(target.other())]
                    .as_ref()
                    .map_or_else(|| state.side(target.other()).id.clone(), |s| s.id.clone());
                self.push(
                    Some(pair_id),
                    Action::Skip { side: target.other(), id },
                    format!(
                        "direction is {:?}; edits to [{}] are not sent to {target}",
                        self.direction(),
                        names(&fields)
                    ),
                );
                writes[idx(target)].clear();
            }
        }
        // The prints of the fields written, per target, for the next state.
        let mut written: [Vec<(FieldKey, u64)>; 2] = [Vec::new(), Vec::new()];
        let mut planned: Vec<Operation> = Vec::new();
        for target in Side::BOTH {
            // Every caller fills `writes[target]` with values read from the other side's record.
            let source_prints = seen[idx(target.other())].as_ref().and_then(|s| self.seen_prints(s));
            let mut patch = Vec::new();
            let mut truncated = Vec::new();
            let mut dropped = Vec::new();
            let mut timing_problem = None;
            for (key, value) in std::mem::take(&mut writes[idx(target)]) {
                if !self.caps(target).writable(&key) {
                    continue;
                }
                let fitted = self.fit_value(target, &key, value);
                let altered = fitted.altered();
                let Fitted { value, cut, .. } = fitted;
                if value.is_none() && self.limit(target, &key).is_some_and(|l| l.required) {
                    dropped.push(key);
                    continue;
                }
                if key == FieldKey::Timing
                    && let Some(source) = seen[idx(target.other())].as_ref().and_then(|s| s.record())
                {
                    timing_problem = self.duration_problem(target, source);
                }
                if cut {
                    truncated.push(key.clone());
                }
                // The value is the source's own unless fitting altered it: its print is then the
                // one the source's prints hold already (`Record::print` equals `fingerprint` of
                // `Record::get`), which spares hashing it again.
                let print = match source_prints.and_then(|p| p.get(&key)) {
                    Some(print) if !altered => *print,
                    _ => fingerprint(value.as_ref()),
                };
                written[idx(target)].push((key.clone(), print));
                patch.push(FieldChange { field: self.target_name(target, &key), value });
            }
            if let Some(problem) = timing_problem {
                let source = target.other();
                let id = seen[idx(source)].as_ref().map_or_else(|| state.side(source).id.clone(), |s| s.id.clone());
                self.push(
                    Some(pair_id),
                    Action::Quarantine { side: source, id },
                    format!("cannot update {target}: {problem}"),
                );
                return;
            }
            if patch.is_empty() {
                continue;
            }
            let mut reason = String::with_capacity(32 + 16 * patch.len());
            reason.push_str(target.other().as_str());
            reason.push(' ');
            reason.push_str(why);
            reason.push_str(" [");
            push_names(&mut reason, patch.iter().map(|c| &c.field));
            reason.push(']');
            if !dropped.is_empty() {
                reason.push_str("; not clearing required [");
                push_names(&mut reason, &dropped);
                reason.push(']');
            }
            let expected =
                seen[idx(target)].as_ref().map_or_else(|| state.side(target).version.clone(), |s| s.version.clone());
            planned.push(Operation {
                pair: Some(pair_id.clone()),
                action: Action::Update { target, id: state.side(target).id.clone(), expected, patch, truncated },
                reason,
            });
        }
        // The next state: each seen side's version and prints (moved out of the seen record, which
        // is done with), the rest as it was; then the prints of what was written.
        let mut next_side = |side: Side| {
            let before = state.side(side);
            match &mut seen[idx(side)] {
                Some(s) => {
                    let fields = match s.prints.take() {
                        Some(prints) => prints,
                        None => s.record().map_or_else(|| before.fields.clone(), |r| self.prints(side, r)),
                    };
                    SideState { id: before.id.clone(), version: s.version.clone(), fields }
                }
                None => before.clone(),
            }
        };
        let mut next = PairState {
            pair_id: state.pair_id.clone(),
            object: state.object,
            crm: next_side(Side::Crm),
            mailbox: next_side(Side::Mailbox),
            synced_at: self.input.now,
            tombstone: state.tombstone,
        };
        for target in Side::BOTH {
            for (key, print) in std::mem::take(&mut written[idx(target)]) {
                next.side_mut(target).fields.insert(key, print);
            }
        }
        // Echoes and held deletes leave the pair as it was: only the clock moved, and that is not
        // worth a state write (nor does it make the plan a no-op). Writes always get a state, so
        // the engine records the versions they produce.
        if !planned.is_empty() || !same_but_clock(&next, state) {
            self.plan.states.insert(pair_id.clone(), NextState::Put(next));
        }
        self.plan.operations.extend(planned);
    }

    fn decide_delete(&mut self, state: &PairState, deleted_on: Side, other: Option<Seen<'a>>) {
        let pair_id = &state.pair_id;
        let survivor = deleted_on.other();
        let edited = other
            .as_ref()
            .and_then(|s| Some((s.record()?, self.seen_prints(s)?)))
            .map(|(r, now)| self.changed_fields(survivor, r, now, state.side(survivor)))
            .unwrap_or_default();
        let propagate = self.input.config.deletes.from(deleted_on) && self.direction().flows_from(deleted_on);
        if !edited.is_empty() {
            if self.input.config.conflicts.strategy == ConflictStrategy::Manual {
                self.push(
                    Some(pair_id),
                    Action::Conflict { fields: edited.clone(), resolution: Resolution::Manual },
                    format!(
                        "deleted on {deleted_on} but edited on {survivor} ([{}]); policy is manual",
                        names(&edited)
                    ),
                );
                return;
            }
            self.push(
                Some(pair_id),
                Action::Conflict { fields: edited.clone(), resolution: Resolution::DeleteWins },
                format!(
                    "deleted on {deleted_on} but edited on {survivor} ([{}]); the delete wins so nothing is resurrected",
                    names(&edited)
                ),
            );
        }
        let survivor_state = state.side(survivor);
        if propagate {
            let expected = other.as_ref().map_or_else(|| survivor_state.version.clone(), |s| s.version.clone());
            self.push(
                Some(pair_id),
                Action::Delete { target: survivor, id: survivor_state.id.clone(), expected },
                format!("deleted on {deleted_on}; deletes propagate {deleted_on} -> {survivor}"),
            );
            self.plan.states.insert(pair_id.clone(), NextState::Remove);
        } else {
            self.push(
                Some(pair_id),
                Action::Unlink { survivor, id: survivor_state.id.clone() },
                format!(
                    "deleted on {deleted_on}; deletes do not propagate {deleted_on} -> {survivor}, so the {survivor} \
                     record is kept, unlinked, and never re-created on {deleted_on}"
                ),
            );
            let mut next = state.clone();
            next.tombstone = Some(deleted_on);
            next.synced_at = self.input.now;
            if let Some(s) = &other {
                next.side_mut(survivor).version = s.version.clone();
            }
            self.plan.states.insert(pair_id.clone(), NextState::Put(next));
        }
    }

    /// Keys under which a record can be matched, strongest first. Matching compares keys of the
    /// same rank only.
    fn match_keys(&self, seen: &Seen<'a>) -> Vec<(u8, String)> {
        let mut keys = Vec::new();
        // Rank 0: one record was created by Tandem from the other. A copy carries the key derived
        // from its source's id; keys embed the source side, so a record's own key can only ever
        // equal the key its copy carries.
        keys.push((0, IdempotencyKey::derive(self.input.object, seen.side, &seen.id).0));
        if let Some(k) = &seen.sync_key {
            keys.push((0, k.0.clone()));
        }
        match seen.record() {
            Some(Record::Contact(c)) => {
                for e in &c.emails {
                    keys.push((1, e.address.trim().to_lowercase()));
                }
                let norm = |s: &Option<String>| s.as_deref().unwrap_or("").trim().to_lowercase();
                if c.family_name.is_some() {
                    keys.push((
                        2,
                        format!("{}\u{1f}{}\u{1f}{}", norm(&c.given_name), norm(&c.family_name), norm(&c.company)),
                    ));
                }
            }
            Some(Record::Event(e)) => {
                if let Some(uid) = &e.ical_uid {
                    keys.push((1, uid.clone()));
                }
                if let (Some(start), Some(end)) = (e.timing.start.instant(), e.timing.end.instant()) {
                    let subject = e.subject.as_deref().unwrap_or("").trim().to_lowercase();
                    keys.push((2, format!("{subject}\u{1f}{}\u{1f}{}", start.timestamp(), end.timestamp())));
                }
            }
            None => {}
        }
        keys
    }

    fn match_and_create(&mut self, crm_new: Vec<Seen<'a>>, mailbox_new: Vec<Seen<'a>>, linked: [Candidates; 2]) {
        // Index the mailbox side's new records by every key.
        let mut index: HashMap<(u8, String), Vec<usize>> = HashMap::new();
        for (i, seen) in mailbox_new.iter().enumerate() {
            for key in self.match_keys(seen) {
                index.entry(key).or_default().push(i);
            }
        }
        // Every record of each side that a new record could match but not link to: new ones
        // (they may link to another) and those already paired.
        let [mut crm_candidates, mut mailbox_candidates] = linked;
        if !mailbox_new.is_empty() {
            self.index_candidates(&mut crm_candidates, crm_new.iter());
        }
        if !crm_new.is_empty() {
            self.index_candidates(&mut mailbox_candidates, mailbox_new.iter());
        }
        let mut claimed = vec![false; mailbox_new.len()];
        let mut matched = vec![false; crm_new.len()];
        // Tandem's own copies first, for every record, so that an email or name match of one
        // record never takes the copy Tandem made of another (whose create would then be
        // replayed onto that same copy).
        // Nothing new on the mailbox side (a first sync into an empty mailbox): nothing to find.
        let ranks = if index.is_empty() { Vec::new() } else { vec![0..=0, 1..=2] };
        for ranks in ranks {
            for (c, crm) in crm_new.iter().enumerate() {
                if matched[c] {
                    continue;
                }
                let found = self.find_match(crm, &mailbox_new, &index, &claimed, ranks.clone());
                if let Some((i, rank, candidates)) = found {
                    claimed[i] = true;
                    matched[c] = true;
                    self.link(crm, &mailbox_new[i], rank, candidates);
                }
            }
        }
        // One operation for each record left over, at most: room made once, not by doubling (a
        // first sync's ten thousand creates held up to twice their room).
        let left = matched.iter().filter(|m| !**m).count() + claimed.iter().filter(|c| !**c).count();
        self.plan.operations.reserve_exact(left);
        // A record left over that matches a record on the other side by email (or name and
        // company, or UID, or subject and times) is ambiguous: that record is linked to another
        // one already. Copying it would make a second record with the same address; it waits,
        // reported, until it changes or someone resolves it.
        for (c, crm) in crm_new.iter().enumerate() {
            if !matched[c] {
                match self.ambiguous_match(crm, &mailbox_candidates) {
                    Some(other) => self.report_ambiguous(crm.clone(), other),
                    None => self.create_from(crm.clone()),
                }
            }
        }
        for (i, mb) in mailbox_new.iter().enumerate() {
            if !claimed[i] {
                match self.ambiguous_match(mb, &crm_candidates) {
                    Some(matched) => self.report_ambiguous(mb.clone(), matched),
                    None => self.create_from(mb.clone()),
                }
            }
        }
    }

    /// Adds the records a new record could match but not link to, by rank-1 and rank-2 key.
    /// Tandem's own copies stand for the records they copy, not for a person's own, so they are
    /// left out.
    fn index_candidates<'s>(&self, index: &mut Candidates, records: impl Iterator<Item = &'s Seen<'a>>)
    where
        'a: 's,
    {
        for seen in records.filter(|s| s.sync_key.is_none()) {
            let email = has_email(seen);
            for key in self.match_keys(seen).into_iter().filter(|(rank, _)| *rank > 0) {
                index.entry(key).or_default().push((seen.id.clone(), email));
            }
        }
    }

    /// The record (of the smallest id) among the other side's candidates that `seen` matches by
    /// a rank-1 or rank-2 key. Tandem's own copies are never ambiguous.
    fn ambiguous_match(&self, seen: &Seen<'a>, others: &Candidates) -> Option<RecordId> {
        if seen.sync_key.is_some() || others.is_empty() {
            return None;
        }
        let email = has_email(seen);
        self.match_keys(seen)
            .into_iter()
            .filter(|(rank, _)| *rank > 0)
            .filter_map(|key| others.get(&key).map(|found| (key.0, found)))
            .flat_map(|(rank, found)| {
                // The same rule as linking: a name match needs one side without an address.
                found.iter().filter(move |(_, other_email)| rank != 2 || !(email && *other_email))
            })
            .map(|(id, _)| id)
            .min()
            .cloned()
    }

    fn report_ambiguous(&mut self, seen: Seen<'a>, matched: RecordId) {
        let side = seen.side;
        let other = side.other();
        self.push(
            None,
            Action::Ambiguous { side, id: seen.id, matches: matched.clone() },
            format!(
                "ambiguous match: it matches {other} record {matched}, which is linked to another {side} record; \
                 not linked and not copied, so no duplicate is made, until it changes or an administrator resolves it"
            ),
        );
    }

    fn find_match(
        &self,
        crm: &Seen<'a>,
        mailbox: &[Seen<'a>],
        index: &HashMap<(u8, String), Vec<usize>>,
        claimed: &[bool],
        ranks: std::ops::RangeInclusive<u8>,
    ) -> Option<(usize, u8, usize)> {
        let keys = self.match_keys(crm);
        for rank in ranks {
            let mut candidates: Vec<usize> = keys
                .iter()
                .filter(|(r, _)| *r == rank)
                .filter_map(|(_, k)| index.get(&(rank, k.clone())))
                .flatten()
                .copied()
                .filter(|i| !claimed[*i])
                // Two people with the same name at the same company but different email
                // addresses are two people: a name match needs one side without an address.
                .filter(|i| rank != 2 || !(has_email(crm) && has_email(&mailbox[*i])))
                .collect();
            candidates.sort_unstable();
            candidates.dedup();
            if candidates.is_empty() {
                continue;
            }
            // Ambiguity: the most recently modified wins; ties go to the smallest id.
            let count = candidates.len();
            let best = candidates.into_iter().max_by(|a, b| {
                let (a, b) = (&mailbox[*a], &mailbox[*b]);
                a.modified_at.cmp(&b.modified_at).then_with(|| b.id.cmp(&a.id))
            })?;
            return Some((best, rank, count));
        }
        None
    }

    fn link(&mut self, crm: &Seen<'a>, mailbox: &Seen<'a>, rank: u8, candidates: usize) {
        let (Some(crm_rec), Some(mb_rec)) = (crm.record(), mailbox.record()) else { return };
        let pair_id = IdempotencyKey::derive(self.input.object, Side::Crm, &crm.id);
        for (side, seen, record) in [(Side::Crm, crm, crm_rec), (Side::Mailbox, mailbox, mb_rec)] {
            if let Some(filter) = self.input.config.filter(side)
                && !filter.matches(record)
            {
                let other = if side == Side::Crm { mailbox } else { crm };
                self.push(
                    None,
                    Action::Skip { side: side.other(), id: other.id.clone() },
                    format!(
                        "matches {side} record {} which the {side} filter excludes; not linked, not created",
                        seen.id
                    ),
                );
                return;
            }
        }
        let how = match (rank, self.input.object) {
            (0, _) => "created by Tandem from it",
            (1, ObjectKind::Contact) => "same email address",
            (2, ObjectKind::Contact) => "same first name, last name and company",
            (1, ObjectKind::Event) => "same iCalendar UID",
            _ => "same subject, start and end",
        };
        let mut reason = format!("matched: {how}");
        if candidates > 1 {
            reason.push_str(&format!("; {candidates} candidates, chose the most recently modified"));
        }
        self.push(Some(&pair_id), Action::Link { crm: crm.id.clone(), mailbox: mailbox.id.clone() }, reason);

        // Reconcile fields the two records hold differently.
        let policy = self.input.config.conflicts;
        let records = [crm_rec, mb_rec];
        let mut writes: [BTreeMap<FieldKey, Option<FieldValue>>; 2] = [BTreeMap::new(), BTreeMap::new()];
        let mut differing = Vec::new();
        let shared: Vec<FieldKey> =
            self.fields_on(Side::Crm).filter(|k| self.caps(Side::Mailbox).supports(k)).cloned().collect();
        // The side whose value a difference takes; none under manual.
        let winner = match policy.strategy {
            ConflictStrategy::Manual => None,
            ConflictStrategy::CrmWins => Some(Side::Crm),
            ConflictStrategy::MailboxWins => Some(Side::Mailbox),
            ConflictStrategy::NewestWins => Some(match (crm.modified_at, mailbox.modified_at) {
                (Some(c), Some(m)) if c > m => Side::Crm,
                (Some(c), Some(m)) if m > c => Side::Mailbox,
                _ => policy.fallback,
            }),
            ConflictStrategy::FieldMerge => Some(policy.fallback),
        };
        for key in shared {
            let values = [records[0].get(&key), records[1].get(&key)];
            if fingerprint(values[0].as_ref()) == fingerprint(values[1].as_ref()) {
                continue;
            }
            let from = match (&values[0], &values[1]) {
                // Fill a blank; never blank a value.
                (Some(_), None) => Side::Crm,
                (None, Some(_)) => Side::Mailbox,
                _ => {
                    differing.push(key.clone());
                    match winner {
                        Some(side) => side,
                        None => continue,
                    }
                }
            };
            let [crm_value, mb_value] = values;
            let value = if from == Side::Crm { crm_value } else { mb_value };
            writes[idx(from.other())].insert(key, value);
        }
        if !differing.is_empty() {
            let resolution = match (policy.strategy, winner) {
                (ConflictStrategy::FieldMerge, _) => Resolution::Merged { fallback: policy.fallback },
                (_, Some(side)) => Resolution::Took(side),
                (_, None) => Resolution::Manual,
            };
            self.push(
                Some(&pair_id),
                Action::Conflict { fields: differing.clone(), resolution },
                format!(
                    "linked records differ in [{}]; blanks are filled, other differences follow the policy",
                    names(&differing)
                ),
            );
        }
        let state = PairState {
            pair_id: pair_id.clone(),
            object: self.input.object,
            crm: SideState {
                id: crm.id.clone(),
                version: crm.version.clone(),
                fields: self.seen_prints(crm).map_or_else(FieldPrints::new, FieldPrints::clone),
            },
            mailbox: SideState {
                id: mailbox.id.clone(),
                version: mailbox.version.clone(),
                fields: self.seen_prints(mailbox).map_or_else(FieldPrints::new, FieldPrints::clone),
            },
            synced_at: self.input.now,
            tombstone: None,
        };
        let mut seen = [Some(crm.clone()), Some(mailbox.clone())];
        let before = self.plan.states.len();
        self.emit_pair_writes(&state, &mut seen, writes, "has");
        if self.plan.states.len() == before {
            self.plan.states.insert(pair_id, NextState::Put(state));
        }
    }

    /// The organizer of a mailbox event someone else organizes, when such events are only linked.
    fn foreign_organizer<'r>(&self, side: Side, record: &'r Record) -> Option<&'r str> {
        let Record::Event(e) = record else { return None };
        // An owner known by something other than an address (an object id) cannot be compared.
        let owner = self.input.mailbox_owner.filter(|o| o.contains('@'))?;
        let organizer = e.organizer.as_ref()?.email.trim();
        let foreign = side == Side::Mailbox
            && self.input.config.foreign_organizers == crate::config::ForeignOrganizers::LinkOnly
            && !organizer.is_empty()
            && !organizer.eq_ignore_ascii_case(owner.trim());
        foreign.then_some(organizer)
    }

    fn create_from(&mut self, source: Seen<'a>) {
        let side = source.side;
        let target = side.other();
        let Some(record) = source.record() else { return };
        if !self.direction().flows_from(side) {
            return;
        }
        if let Some(reason) = self.outside_window(record) {
            self.push(None, Action::Skip { side, id: source.id.clone() }, reason);
            return;
        }
        if let Some(filter) = self.input.config.filter(side)
            && !filter.matches(record)
        {
            self.push(None, Action::Skip { side, id: source.id.clone() }, format!("excluded by the {side} filter"));
            return;
        }
        if source.sync_key.is_some() {
            self.push(
                None,
                Action::Skip { side, id: source.id.clone() },
                format!(
                    "created by Tandem from a {target} record that is no longer mapped (deleted or unlinked); \
                     not copied back"
                ),
            );
            return;
        }
        if let Some(organizer) = self.foreign_organizer(side, record) {
            self.push(
                None,
                Action::Skip { side, id: source.id.clone() },
                format!(
                    "a copy of a meeting {organizer} organizes: not copied to the CRM (foreign_organizers = \
                     link_only); linked if the organizer's sync brings it there"
                ),
            );
            return;
        }
        if let Some(problem) = self.duration_problem(target, record) {
            self.push(
                None,
                Action::Quarantine { side, id: source.id.clone() },
                format!("cannot create on {target}: {problem}"),
            );
            return;
        }
        let (mut projected, truncated) = self.project(target, record);
        let missing = self.missing_required(target, &projected);
        if !missing.is_empty() {
            self.push(
                None,
                Action::Quarantine { side, id: source.id.clone() },
                format!("cannot create on {target}: it requires [{}]", names(&missing)),
            );
            return;
        }
        let key = IdempotencyKey::derive(self.input.object, side, &source.id);
        // A copy as it is (nothing cut, cleared or left out) prints as its source where both
        // sides print the same fields: comparing is far cheaper than printing again.
        let target_prints = match self.seen_prints(&source) {
            Some(prints) if self.same_prints && projected == *record => prints.clone(),
            _ => self.prints(target, &projected),
        };
        let source_state = SideState {
            id: source.id.clone(),
            version: source.version.clone(),
            fields: self.seen_prints(&source).map_or_else(FieldPrints::new, FieldPrints::clone),
        };
        let target_state =
            SideState { id: RecordId::default_pending(), version: Version::default(), fields: target_prints };
        let (crm, mailbox) =
            if side == Side::Crm { (source_state, target_state) } else { (target_state, source_state) };
        let state = PairState {
            pair_id: key.clone(),
            object: self.input.object,
            crm,
            mailbox,
            synced_at: self.input.now,
            tombstone: None,
        };
        self.to_side_names(target, &mut projected);
        let mut reason = format!("new on {side}; no match on {target}");
        if !truncated.is_empty() {
            reason.push_str(&format!("; shortened to fit {target}: [{}]", names(&truncated)));
        }
        self.push(
            Some(&key),
            Action::Create {
                target,
                source_id: source.id.clone(),
                key: key.clone(),
                record: Box::new(projected),
                truncated,
            },
            reason,
        );
        self.plan.states.insert(key, NextState::Put(state));
    }
}

/// The pairs a cycle's changes touch, in pair order: where each one's changes are in the slots.
type Paired<'p> = BTreeMap<PairKey<'p>, usize>;

/// A value shaped to a target ([`Planner::fit_value`]).
struct Fitted {
    value: Option<FieldValue>,
    /// Shortened, or items left out: reported as truncated.
    cut: bool,
    /// Text cut down to blanks (or blank already), so absent.
    blanked: bool,
}

impl Fitted {
    /// Whether the value came out other than it went in.
    fn altered(&self) -> bool {
        self.cut || self.blanked
    }
}

/// A pair id that orders as its text does, but compares its first 16 bytes as a number kept in
/// the key, so sorting thousands of pairs does not chase a pointer per comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct PairKey<'p>(u128, &'p PairId);

impl<'p> PairKey<'p> {
    fn new(id: &'p PairId) -> Self {
        // Big-endian, zero-padded: numbers order as the byte strings they start with, and ties
        // fall to the whole text.
        let mut head = [0u8; 16];
        let bytes = id.0.as_bytes();
        let n = bytes.len().min(16);
        head[..n].copy_from_slice(&bytes[..n]);
        PairKey(u128::from_be_bytes(head), id)
    }
}

/// Records that new records are checked against for ambiguity, by match key: id and whether the
/// record has an email address.
type Candidates = HashMap<(u8, String), Vec<(RecordId, bool)>>;

/// The single print of every attendee that sync state kept before attendees synced one by one.
fn legacy_attendees_print(record: &Record) -> u64 {
    fingerprint(record.get(&FieldKey::Attendees).as_ref())
}

/// Whether two states differ in nothing but `synced_at`.
fn same_but_clock(a: &PairState, b: &PairState) -> bool {
    let PairState { pair_id, object, crm, mailbox, synced_at: _, tombstone } = a;
    *pair_id == b.pair_id && *object == b.object && *crm == b.crm && *mailbox == b.mailbox && *tombstone == b.tombstone
}

fn has_email(seen: &Seen<'_>) -> bool {
    matches!(seen.record(), Some(Record::Contact(c)) if !c.emails.is_empty())
}

impl RecordId {
    /// The placeholder id of a record that is about to be created; the engine replaces it with
    /// the id the target assigns.
    pub fn default_pending() -> Self {
        RecordId(String::new())
    }

    /// True for [`RecordId::default_pending`].
    pub fn is_pending(&self) -> bool {
        self.0.is_empty()
    }
}
