//! The records read this cycle, the naming of custom fields and the state of each pair.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use tandem_core::fields::{FieldKey, FieldValue, fingerprint};
use tandem_core::model::Record;
use tandem_core::plan::NextState;
use tandem_core::planner::PairIndex;
use tandem_core::state::{Change, ChangeKind, PairId, PairState, RecordId, Side};

use super::PlanContext;

/// The records read this cycle and the naming of custom fields.
pub(super) struct View<'a> {
    pub(super) ctx: &'a PlanContext<'a>,
    records: [HashMap<&'a RecordId, &'a Record>; 2],
}

fn idx(side: Side) -> usize {
    match side {
        Side::Crm => 0,
        Side::Mailbox => 1,
    }
}

impl<'a> View<'a> {
    pub(super) fn new(ctx: &'a PlanContext<'a>) -> Self {
        let index = |changes: &'a [Change]| {
            // The last report of a record wins, as in the planner.
            let mut map = HashMap::new();
            for change in changes {
                match &change.kind {
                    ChangeKind::Upserted { record } => {
                        map.insert(&change.id, record);
                    }
                    ChangeKind::Deleted | ChangeKind::Invalid { .. } | ChangeKind::VersionOnly => {
                        map.remove(&change.id);
                    }
                }
            }
            map
        };
        View { ctx, records: [index(ctx.crm_changes), index(ctx.mailbox_changes)] }
    }

    pub(super) fn record(&self, side: Side, id: &RecordId) -> Option<&'a Record> {
        self.records[idx(side)].get(id).copied()
    }

    /// A field name as `side` spells it, made canonical.
    pub(super) fn canonical(&self, side: Side, key: &FieldKey) -> FieldKey {
        self.ctx.config.fields.canonical_name(side, key)
    }

    /// A canonical field's value in a record whose custom fields carry `side`'s names.
    pub(super) fn value(&self, record: &Record, side: Side, key: &FieldKey) -> Option<FieldValue> {
        match key {
            FieldKey::Custom(name) => {
                let on_side = self.ctx.config.fields.custom.iter().find(|m| &m.name == name).map(|m| m.on(side));
                let name = on_side.unwrap_or(name);
                record.custom().get(name).map(|v| FieldValue::Text(v.clone()))
            }
            other => record.get(other),
        }
    }

    /// The fingerprint of what `side` holds now in a canonical field: from the record read this
    /// cycle, or else from the pair's previous state.
    pub(super) fn current_print(&self, side: Side, pair: &PairId, id: &RecordId, key: &FieldKey) -> u64 {
        if let Some(record) = self.record(side, id) {
            let mut record = record.clone();
            record.normalize();
            return fingerprint(self.value(&record, side, key).as_ref());
        }
        self.ctx
            .pairs
            .get(pair)
            .and_then(|s| s.side(side).fields.get(key).copied())
            .unwrap_or_else(|| fingerprint(None))
    }
}

/// The state to read ids from: the next one when planned, else the previous one.
pub(super) fn state_of<'p>(
    states: &'p BTreeMap<PairId, NextState>,
    pairs: &PairIndex,
    pair: &PairId,
) -> Option<Cow<'p, PairState>> {
    match states.get(pair) {
        Some(NextState::Put(s)) => Some(Cow::Borrowed(s)),
        // The index decodes its pairs: an owned copy.
        _ => pairs.get(pair).map(Cow::Owned),
    }
}
