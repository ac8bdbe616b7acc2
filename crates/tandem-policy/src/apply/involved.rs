//! The records an operation concerns, and whether they make it a private event's.

use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Privacy, Record};
use tandem_core::plan::{Action, Operation, Plan};
use tandem_core::state::Side;

use super::view::{View, state_of};

/// The records an operation concerns, and the fingerprint of the target's privacy as last synced.
pub(super) struct Involved<'a> {
    pub(super) records: Vec<&'a Record>,
    pub(super) target_privacy: Option<u64>,
}

fn private_print() -> u64 {
    FieldValue::Privacy(Privacy::Private).fingerprint()
}

pub(super) fn is_private(involved: &Involved<'_>) -> bool {
    involved.records.iter().any(|r| matches!(r, Record::Event(e) if e.privacy == Privacy::Private))
        || involved.target_privacy == Some(private_print())
}

/// The records an operation concerns. `None` for operations that concern none.
pub(super) fn involved<'a>(op: &'a Operation, plan: &Plan, view: &View<'a>) -> Option<Involved<'a>> {
    match &op.action {
        Action::Create { target, source_id, record, .. } => Some(Involved {
            records: vec![view.record(target.other(), source_id).unwrap_or(record)],
            target_privacy: None,
        }),
        Action::Update { target, id, .. } => {
            let pair = op.pair.as_ref()?;
            let source = target.other();
            let mut records = Vec::new();
            if let Some(state) = state_of(&plan.states, view.ctx.pairs, pair)
                && let Some(r) = view.record(source, &state.side(source).id)
            {
                records.push(r);
            }
            if let Some(r) = view.record(*target, id) {
                records.push(r);
            }
            // One field of the stored pair, read where the index holds it: decoding the whole
            // pair for it cost a tenth of a cycle's engine time per update.
            let target_privacy = view.ctx.pairs.field_print(pair, *target, &FieldKey::Privacy);
            Some(Involved { records, target_privacy })
        }
        Action::Link { crm, mailbox } => Some(Involved {
            records: [view.record(Side::Crm, crm), view.record(Side::Mailbox, mailbox)].into_iter().flatten().collect(),
            target_privacy: None,
        }),
        _ => None,
    }
}
