//! Transformations of creates and updates: busy-only placeholders for private events, fields that
//! never leave Salesforce left out of writes to the mailbox, descriptions cut.

use tandem_core::fields::{FieldKey, FieldValue, fingerprint};
use tandem_core::model::{ObjectKind, Record};
use tandem_core::plan::{Action, NextState, Plan};
use tandem_core::state::Side;

use super::busy::{BUSY_FIELDS, placeholder, scrub};
use super::decision::{Effect, PolicyDecision};
use super::involved::{Involved, involved, is_private};
use super::view::View;
use crate::policy::{Policy, PrivateEvents};
use crate::rule::Rule;

/// Cuts a text to `max` characters, dropping the trailing blanks a cut leaves; `None` when
/// nothing but blanks remains. Returns whether it changed.
fn cut(value: &mut Option<FieldValue>, max: usize) -> bool {
    let Some(FieldValue::Text(t)) = value else { return false };
    if t.chars().count() <= max {
        return false;
    }
    let short = t.chars().take(max).collect::<String>().trim_end().to_owned();
    *value = (!short.is_empty()).then_some(FieldValue::Text(short));
    true
}

fn names(fields: &[FieldKey]) -> String {
    fields.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

impl Policy {
    fn is_crm_only(&self, view: &View<'_>, canonical: &FieldKey) -> bool {
        let fields = &self.data.crm_only_fields;
        if fields.contains(canonical) || fields.contains(canonical.family()) {
            return true;
        }
        match canonical {
            FieldKey::Custom(name) => view
                .ctx
                .config
                .fields
                .custom
                .iter()
                .any(|m| &m.name == name && fields.contains(&FieldKey::Custom(m.crm.clone()))),
            _ => false,
        }
    }

    fn busy_only(&self, object: ObjectKind) -> bool {
        object == ObjectKind::Event && self.data.private_events == PrivateEvents::BusyOnly
    }

    pub(super) fn transform_create(
        &self,
        plan: &mut Plan,
        i: usize,
        view: &View<'_>,
        decisions: &mut Vec<PolicyDecision>,
    ) {
        let object = plan.object;
        let Plan { operations, states, .. } = plan;
        let op = &mut operations[i];
        let pair = op.pair.clone();
        let Action::Create { target, source_id, record, truncated, .. } = &mut op.action else { return };
        let target = *target;
        let mut applied: Vec<(Rule, Vec<FieldKey>, String)> = Vec::new();

        if self.busy_only(object) {
            let source = view.record(target.other(), source_id).unwrap_or(&*record);
            if is_private(&Involved { records: vec![source], target_privacy: None }) {
                let before = record.clone();
                placeholder(record);
                let changed = changed_fields(view, target, &before, record);
                if !changed.is_empty() {
                    applied.push((
                        Rule::PrivateEvents,
                        changed,
                        "private event written as a busy-only placeholder".into(),
                    ));
                }
            }
        }
        if target == Side::Mailbox {
            let mut removed = Vec::new();
            for key in record.field_keys() {
                let canonical = view.canonical(target, &key);
                if self.is_crm_only(view, &canonical) && record.get(&key).is_some() {
                    let before = record.get(&key);
                    // Values of the same kind of record: clearing cannot fail, except for
                    // required fields, which validation keeps out of `crm_only_fields`.
                    if record.set(&key, None).is_ok() && record.get(&key) != before {
                        let family = canonical.family().clone();
                        if !removed.contains(&family) {
                            removed.push(family);
                        }
                    }
                }
            }
            if !removed.is_empty() {
                applied.push((Rule::CrmOnlyFields, removed, "fields that never leave Salesforce left out".into()));
            }
            if let Some(max) = self.data.max_description_len {
                let mut cut_fields = Vec::new();
                for key in [FieldKey::Description, FieldKey::Notes] {
                    let mut value = record.get(&key);
                    if cut(&mut value, max) && record.set(&key, value).is_ok() {
                        if !truncated.contains(&key) {
                            truncated.push(key.clone());
                        }
                        cut_fields.push(key);
                    }
                }
                if !cut_fields.is_empty() {
                    applied.push((Rule::MaxDescriptionLen, cut_fields, format!("cut to {max} characters")));
                }
            }
        }
        if applied.is_empty() {
            return;
        }
        // Record what is actually written.
        if let Some(pair) = &pair
            && let Some(NextState::Put(state)) = states.get_mut(pair)
        {
            for (key, print) in state.side_mut(target).fields.iter_mut() {
                *print = fingerprint(view.value(record, target, key).as_ref());
            }
        }
        let source_id = source_id.clone();
        for (rule, fields, reason) in applied {
            op.reason.push_str(&format!("; policy `{rule}`: {reason} [{}]", names(&fields)));
            decisions.push(PolicyDecision {
                effect: Effect::Transform,
                rule,
                operation: "create".into(),
                pair: pair.clone(),
                target: Some(target),
                side: Some(target.other()),
                record: Some(source_id.clone()),
                fields,
                reason,
            });
        }
    }

    pub(super) fn transform_update(
        &self,
        plan: &mut Plan,
        i: usize,
        view: &View<'_>,
        decisions: &mut Vec<PolicyDecision>,
    ) {
        let object = plan.object;
        let Some(pair) = plan.operations[i].pair.clone() else { return };
        let private = match &plan.operations[i].action {
            Action::Update { .. } if self.busy_only(object) => {
                involved(&plan.operations[i], plan, view).is_some_and(|inv| is_private(&inv))
            }
            _ => false,
        };
        let Plan { operations, states, .. } = plan;
        let op = &mut operations[i];
        let Action::Update { target, id, patch, truncated, .. } = &mut op.action else { return };
        let target = *target;
        let mut applied: Vec<(Rule, Vec<FieldKey>, String)> = Vec::new();
        // Canonical fields left out (the target keeps what it holds) and fields whose value changed.
        let mut left_out: Vec<FieldKey> = Vec::new();
        let mut rewritten: Vec<(FieldKey, Option<FieldValue>)> = Vec::new();

        if private {
            let mut removed = Vec::new();
            let mut scrubbed = Vec::new();
            patch.retain_mut(|change| {
                let canonical = view.canonical(target, &change.field);
                if !BUSY_FIELDS.contains(&canonical) {
                    removed.push(canonical);
                    return false;
                }
                if let Some(FieldValue::Recurrence(r)) = &mut change.value {
                    let before = r.clone();
                    scrub(r);
                    if *r != before {
                        scrubbed.push((canonical, change.value.clone()));
                    }
                }
                true
            });
            let mut fields = removed.clone();
            fields.extend(scrubbed.iter().map(|(k, _)| k.clone()));
            if !fields.is_empty() {
                applied.push((
                    Rule::PrivateEvents,
                    fields,
                    "private event: only its timing, recurrence, privacy and show-as are written".into(),
                ));
            }
            left_out.extend(removed);
            rewritten.extend(scrubbed);
        }
        if target == Side::Mailbox {
            let mut removed = Vec::new();
            patch.retain(|change| {
                let canonical = view.canonical(target, &change.field);
                if self.is_crm_only(view, &canonical) {
                    removed.push(canonical);
                    false
                } else {
                    true
                }
            });
            if !removed.is_empty() {
                applied.push((
                    Rule::CrmOnlyFields,
                    removed.clone(),
                    "fields that never leave Salesforce left out".into(),
                ));
                left_out.extend(removed);
            }
            if let Some(max) = self.data.max_description_len {
                let mut cut_fields = Vec::new();
                for change in patch.iter_mut() {
                    if matches!(change.field, FieldKey::Description | FieldKey::Notes) && cut(&mut change.value, max) {
                        if !truncated.contains(&change.field) {
                            truncated.push(change.field.clone());
                        }
                        cut_fields.push(change.field.clone());
                        rewritten.push((change.field.clone(), change.value.clone()));
                    }
                }
                if !cut_fields.is_empty() {
                    applied.push((Rule::MaxDescriptionLen, cut_fields, format!("cut to {max} characters")));
                }
            }
        }
        if applied.is_empty() {
            return;
        }
        truncated.retain(|k| !left_out.contains(k));
        let id = id.clone();
        // Record what is actually written, and what the target keeps where nothing is written.
        if let Some(NextState::Put(state)) = states.get_mut(&pair) {
            let fields = &mut state.side_mut(target).fields;
            for key in &left_out {
                if fields.contains_key(key) {
                    fields.insert(key.clone(), view.current_print(target, &pair, &id, key));
                }
            }
            for (key, value) in &rewritten {
                if fields.contains_key(key) {
                    fields.insert(key.clone(), fingerprint(value.as_ref()));
                }
            }
        }
        for (rule, fields, reason) in &applied {
            op.reason.push_str(&format!("; policy `{rule}`: {reason} [{}]", names(fields)));
        }
        if patch.is_empty() {
            op.action = Action::Skip { side: target, id: id.clone() };
            op.reason.push_str("; nothing left to write");
        }
        for (rule, fields, reason) in applied {
            decisions.push(PolicyDecision {
                effect: Effect::Transform,
                rule,
                operation: "update".into(),
                pair: Some(pair.clone()),
                target: Some(target),
                side: Some(target),
                record: Some(id.clone()),
                fields,
                reason,
            });
        }
    }
}

/// The canonical fields whose values differ between two versions of a record held by `side`.
/// One attendee is reported as `attendees`: decisions name fields, not people.
fn changed_fields(view: &View<'_>, side: Side, before: &Record, after: &Record) -> Vec<FieldKey> {
    let mut out: Vec<FieldKey> = Vec::new();
    for key in before.field_keys().into_iter().filter(|k| before.get(k) != after.get(k)) {
        let canonical = view.canonical(side, key.family());
        if !out.contains(&canonical) {
            out.push(canonical);
        }
    }
    out
}
