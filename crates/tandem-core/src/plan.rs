//! The planner's output: a plain, serialisable, printable value.
//!
//! A [`Plan`] lists [`Operation`]s, each with a human-readable reason, and the sync state each
//! touched pair should have once its writes succeed ([`Plan::states`]). Executing a plan is the
//! engine's job; printing one is a dry run.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fields::{FieldKey, FieldValue};
use crate::model::{ObjectKind, Record};
use crate::state::{IdempotencyKey, PairId, PairState, RecordId, Side, Version};

/// One field to set (or clear, with `None`) on the target record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field, named as the target side names custom fields.
    pub field: FieldKey,
    /// The new value; `None` clears the field.
    pub value: Option<FieldValue>,
}

/// How a conflict was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// One side's value was taken.
    Took(Side),
    /// Fields edited on one side were merged; same-field edits took `fallback`.
    Merged {
        /// The side that won same-field edits.
        fallback: Side,
    },
    /// A delete beat an edit (no record is ever resurrected).
    DeleteWins,
    /// Nothing was changed; the conflict waits for a person.
    Manual,
}

/// What an operation does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Action {
    /// Create a record on `target`, the counterpart of `source_id` on the other side.
    Create {
        /// Where to create.
        target: Side,
        /// The source record's id.
        source_id: RecordId,
        /// Makes the create idempotent; also the new pair's id.
        key: IdempotencyKey,
        /// The record to create, projected onto what `target` can store. Boxed: the other
        /// actions are small, and a plan of ten thousand creates holds an operation for each.
        record: Box<Record>,
        /// Fields shortened to fit the target.
        truncated: Vec<FieldKey>,
    },
    /// Patch a record on `target`.
    Update {
        /// Where to write.
        target: Side,
        /// The record's id there.
        id: RecordId,
        /// The version the write expects (ETag / change key precondition).
        expected: Version,
        /// The fields to change.
        patch: Vec<FieldChange>,
        /// Fields shortened to fit the target.
        truncated: Vec<FieldKey>,
    },
    /// Delete a record on `target`.
    Delete {
        /// Where to delete.
        target: Side,
        /// The record's id there.
        id: RecordId,
        /// The version the delete expects.
        expected: Version,
    },
    /// Pair two existing records found by matching. No write.
    Link {
        /// The CRM record.
        crm: RecordId,
        /// The mailbox record.
        mailbox: RecordId,
    },
    /// Unpair after a delete that is not propagated; the survivor stays and is never re-created
    /// on the side that deleted its counterpart.
    Unlink {
        /// The side whose record survives.
        survivor: Side,
        /// The surviving record.
        id: RecordId,
    },
    /// Both sides changed; records how it was settled. Writes that implement it follow.
    Conflict {
        /// The fields in conflict.
        fields: Vec<FieldKey>,
        /// The resolution chosen.
        resolution: Resolution,
    },
    /// The record cannot be synced; it is set aside with the reason.
    Quarantine {
        /// The side holding the record.
        side: Side,
        /// The record.
        id: RecordId,
    },
    /// The change is deliberately not acted on.
    Skip {
        /// The side holding the record.
        side: Side,
        /// The record.
        id: RecordId,
    },
    /// A new record that matches a record on the other side which is linked to another one
    /// (two mailbox contacts with one CRM contact's address): neither linked nor copied, so no
    /// duplicate is made; reported until it changes or an administrator resolves it.
    Ambiguous {
        /// The side holding the record.
        side: Side,
        /// The record.
        id: RecordId,
        /// The record on the other side it matches.
        matches: RecordId,
    },
    /// A delete held back by the mass-delete guard, waiting for approval.
    HoldDelete {
        /// The side that reported the delete.
        side: Side,
        /// The deleted record.
        id: RecordId,
    },
}

impl Action {
    /// The side this action writes to, for writes.
    pub fn target(&self) -> Option<Side> {
        match self {
            Action::Create { target, .. } | Action::Update { target, .. } | Action::Delete { target, .. } => {
                Some(*target)
            }
            _ => None,
        }
    }

    /// A short name of the kind of action, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::Update { .. } => "update",
            Action::Delete { .. } => "delete",
            Action::Link { .. } => "link",
            Action::Unlink { .. } => "unlink",
            Action::Conflict { .. } => "conflict",
            Action::Quarantine { .. } => "quarantine",
            Action::Skip { .. } => "skip",
            Action::HoldDelete { .. } => "hold_delete",
            Action::Ambiguous { .. } => "ambiguous",
        }
    }
}

/// One planned operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// The pair it concerns, if any.
    pub pair: Option<PairId>,
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// Why, in words.
    pub reason: String,
}

/// The state a pair should have after its writes succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NextState {
    /// Store this state. For a side that is written, the engine takes the id and version from
    /// the write's result.
    Put(PairState),
    /// Forget the pair.
    Remove,
}

/// A plan for one object kind of one user's cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Contact or event.
    pub object: ObjectKind,
    /// The operations, in execution order.
    pub operations: Vec<Operation>,
    /// The state of every touched pair once its writes succeed.
    pub states: BTreeMap<PairId, NextState>,
    /// Changes recognised as Tandem's own writes coming back, and so ignored.
    pub echoes_suppressed: usize,
    /// New records not copied because the user already syncs as many as
    /// [`crate::config::ObjectConfig::max_records`] allows (each also has a `Skip` operation):
    /// the engine keeps them as unresolved items and copies them once there is room.
    #[serde(default)]
    pub over_limit: Vec<(Side, RecordId)>,
}

impl Plan {
    /// An empty plan.
    pub fn empty(object: ObjectKind) -> Self {
        Plan { object, operations: Vec::new(), states: BTreeMap::new(), echoes_suppressed: 0, over_limit: Vec::new() }
    }

    /// True when the plan writes nothing and changes no state.
    pub fn is_noop(&self) -> bool {
        self.operations.is_empty() && self.states.is_empty()
    }

    /// Operations counted by kind.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for op in &self.operations {
            *counts.entry(op.action.name()).or_default() += 1;
        }
        counts
    }

    /// The write operations, in order.
    pub fn writes(&self) -> impl Iterator<Item = &Operation> {
        self.operations.iter().filter(|op| op.action.target().is_some())
    }

    /// Every planned operation as a flat line (kind, side, record, fields touched, reason), in
    /// the plan's order, which is deterministic: the same input always lists the same lines.
    pub fn planned_operations(&self) -> impl Iterator<Item = PlannedOperation> + '_ {
        self.operations.iter().map(PlannedOperation::of)
    }

    /// A dry-run listing of every planned operation, one per line, each with its reason:
    /// `kind side record [fields]: reason`. See [`Plan::planned_operations`].
    pub fn listing(&self) -> PlanListing<'_> {
        PlanListing { plan: self, indent: "" }
    }
}

/// One planned operation, flattened for listings and histories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlannedOperation {
    /// The kind of action ([`Action::name`]): `create`, `update`, `delete`, `link`, ….
    pub kind: String,
    /// The side written (for writes) or concerned; `None` for a conflict or a link, which
    /// concern both.
    pub side: Option<Side>,
    /// The record written or concerned on `side`; for a create, the source record (on the other
    /// side); for a link, the CRM record; for a conflict, `None` (see `pair`).
    pub record_id: Option<RecordId>,
    /// The pair concerned, if any.
    pub pair: Option<PairId>,
    /// The fields touched: the patch of an update, the fields of a conflict, the fields cut to
    /// fit of a create. Empty when the operation touches whole records.
    pub fields: Vec<String>,
    /// Why, in words.
    pub reason: String,
}

impl PlannedOperation {
    /// The flat line of one operation.
    pub fn of(op: &Operation) -> Self {
        let names = |keys: &[FieldKey]| keys.iter().map(ToString::to_string).collect::<Vec<_>>();
        let (side, record_id, fields) = match &op.action {
            Action::Create { target, source_id, truncated, .. } => {
                (Some(*target), Some(source_id.clone()), names(truncated))
            }
            Action::Update { target, id, patch, .. } => {
                (Some(*target), Some(id.clone()), patch.iter().map(|c| c.field.to_string()).collect())
            }
            Action::Delete { target, id, .. } => (Some(*target), Some(id.clone()), Vec::new()),
            Action::Link { crm, .. } => (Some(Side::Crm), Some(crm.clone()), Vec::new()),
            Action::Unlink { survivor, id } => (Some(*survivor), Some(id.clone()), Vec::new()),
            Action::Conflict { fields, .. } => (None, None, names(fields)),
            Action::Quarantine { side, id }
            | Action::Skip { side, id }
            | Action::HoldDelete { side, id }
            | Action::Ambiguous { side, id, .. } => (Some(*side), Some(id.clone()), Vec::new()),
        };
        PlannedOperation {
            kind: op.action.name().to_owned(),
            side,
            record_id,
            pair: op.pair.clone(),
            fields,
            reason: op.reason.clone(),
        }
    }
}

/// [`Plan::listing`]: every planned operation, one per line.
#[derive(Debug, Clone, Copy)]
pub struct PlanListing<'a> {
    plan: &'a Plan,
    indent: &'a str,
}

impl<'a> PlanListing<'a> {
    /// The same listing with every line starting with `indent`.
    #[must_use]
    pub fn indented(self, indent: &'a str) -> Self {
        PlanListing { indent, ..self }
    }
}

impl fmt::Display for PlanListing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for op in &self.plan.operations {
            writeln!(f, "{}{}: {}", self.indent, describe(&op.action), op.reason)?;
        }
        Ok(())
    }
}

impl fmt::Display for Plan {
    /// A dry-run rendering: one line per operation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan for {}s: {} operation(s)", self.object, self.operations.len())?;
        write!(f, "{}", self.listing().indented("  "))
    }
}

/// One operation in words, without its reason.
fn describe(action: &Action) -> String {
    match action {
        Action::Create { target, source_id, truncated, .. } => {
            format!("create on {target} from {} {source_id}{}", target.other(), trunc(truncated))
        }
        Action::Update { target, id, patch, truncated, .. } => {
            let fields: Vec<String> = patch.iter().map(|c| c.field.to_string()).collect();
            format!("update {target} {id} [{}]{}", fields.join(", "), trunc(truncated))
        }
        Action::Delete { target, id, .. } => format!("delete {target} {id}"),
        Action::Link { crm, mailbox } => format!("link crm {crm} <-> mailbox {mailbox}"),
        Action::Unlink { survivor, id } => format!("unlink, keeping {survivor} {id}"),
        Action::Conflict { fields, resolution } => {
            let fields: Vec<String> = fields.iter().map(ToString::to_string).collect();
            format!("conflict on [{}] -> {resolution:?}", fields.join(", "))
        }
        Action::Quarantine { side, id } => format!("quarantine {side} {id}"),
        Action::Skip { side, id } => format!("skip {side} {id}"),
        Action::HoldDelete { side, id } => format!("hold delete of {side} {id}"),
        Action::Ambiguous { side, id, matches } => {
            format!("ambiguous {side} {id} (matches {} {matches})", side.other())
        }
    }
}

fn trunc(fields: &[FieldKey]) -> String {
    if fields.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = fields.iter().map(ToString::to_string).collect();
        format!(" (truncated: {})", names.join(", "))
    }
}
