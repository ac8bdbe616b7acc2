//! Denials: the record rules that keep a pair from syncing, and the denied pairs' operations
//! turned into skips.

use std::collections::BTreeMap;

use tandem_core::model::{ObjectKind, Record};
use tandem_core::plan::{Action, Operation, Plan};
use tandem_core::state::{PairId, RecordId, Side};

use super::decision::{Effect, PolicyDecision};
use super::involved::{Involved, is_private};
use crate::policy::{Policy, PrivateEvents, domain_matches, domain_of};
use crate::rule::Rule;

/// What a denied operation becomes.
fn skip_for(action: &Action) -> Option<(Side, RecordId)> {
    match action {
        Action::Create { target, source_id, .. } => Some((target.other(), source_id.clone())),
        Action::Update { target, id, .. } | Action::Delete { target, id, .. } => Some((*target, id.clone())),
        Action::Link { crm, .. } => Some((Side::Crm, crm.clone())),
        Action::Unlink { survivor, id } => Some((*survivor, id.clone())),
        _ => None,
    }
}

impl Policy {
    /// Why the records of an operation may not sync, if they may not.
    pub(super) fn record_denial(&self, object: ObjectKind, involved: &Involved<'_>) -> Option<(Rule, String)> {
        for record in &involved.records {
            if let Some(why) = self.excluded(record) {
                return Some(why);
            }
        }
        if object == ObjectKind::Event && self.data.private_events == PrivateEvents::Skip && is_private(involved) {
            return Some((Rule::PrivateEvents, "the event is private and private events are not synced".into()));
        }
        None
    }

    /// Whether a record matches an excluded address or domain: a contact by its primary email
    /// address, an event by any attendee or its organizer.
    fn excluded(&self, record: &Record) -> Option<(Rule, String)> {
        let data = &self.data;
        if data.excluded_addresses.is_empty() && data.excluded_domains.is_empty() {
            return None;
        }
        let (what, addresses): (&str, Vec<&str>) = match record {
            Record::Contact(c) => {
                ("the contact's primary email address", c.emails.iter().map(|e| e.address.as_str()).take(1).collect())
            }
            Record::Event(e) => (
                "an attendee or the organizer of the event",
                e.attendees
                    .iter()
                    .map(|a| a.email.as_str())
                    .chain(e.organizer.iter().map(|p| p.email.as_str()))
                    .collect(),
            ),
        };
        for address in addresses {
            let address = address.trim();
            if let Some(entry) = data.excluded_addresses.iter().find(|x| x.trim().eq_ignore_ascii_case(address)) {
                return Some((Rule::ExcludedAddresses, format!("{what} is the excluded address `{entry}`")));
            }
            if let Some(domain) = domain_of(address)
                && let Some(entry) = data.excluded_domains.iter().find(|d| domain_matches(domain, d))
            {
                return Some((Rule::ExcludedDomains, format!("{what} is in the excluded domain `{entry}`")));
            }
        }
        None
    }
}

/// Turns every operation of the denied pairs into a skip, drops their conflicts and next states.
pub(super) fn deny(plan: &mut Plan, denied: &BTreeMap<PairId, (Rule, String)>, decisions: &mut Vec<PolicyDecision>) {
    if denied.is_empty() {
        return;
    }
    let is_denied = |op: &Operation| op.pair.as_ref().is_some_and(|p| denied.contains_key(p));
    plan.operations.retain(|op| !(is_denied(op) && matches!(op.action, Action::Conflict { .. })));
    for op in &mut plan.operations {
        let Some(pair) = op.pair.clone() else { continue };
        let Some((rule, reason)) = denied.get(&pair) else { continue };
        let Some((side, id)) = skip_for(&op.action) else { continue };
        let name = op.action.name();
        decisions.push(PolicyDecision {
            effect: Effect::Deny,
            rule: rule.clone(),
            operation: name.to_owned(),
            pair: Some(pair.clone()),
            target: op.action.target(),
            side: Some(side),
            record: Some(id.clone()),
            fields: Vec::new(),
            reason: reason.clone(),
        });
        op.reason = format!("denied by policy rule `{rule}`: {reason} (planned {name}: {})", op.reason);
        op.action = Action::Skip { side, id };
    }
    for pair in denied.keys() {
        plan.states.remove(pair);
    }
}
