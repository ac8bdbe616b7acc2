//! Enforcement on plans: every operation passes through the policy before it is executed.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use tandem_core::config::ObjectConfig;
use tandem_core::fields::{FieldKey, FieldValue, fingerprint};
use tandem_core::model::{ObjectKind, Privacy, Record, Recurrence};
use tandem_core::plan::{Action, NextState, Operation, Plan};
use tandem_core::planner::PairIndex;
use tandem_core::state::{Change, ChangeKind, PairId, PairState, RecordId, Side};

use crate::connection::ConnectionInfo;
use crate::policy::{Policy, PrivateEvents, domain_matches, domain_of};
use crate::rule::Rule;

/// The subject of a busy-only placeholder.
pub const BUSY_SUBJECT: &str = "Busy";

/// The fields a busy-only placeholder's later updates may carry.
const BUSY_FIELDS: [FieldKey; 4] = [FieldKey::Timing, FieldKey::Recurrence, FieldKey::Privacy, FieldKey::ShowAs];

/// What the policy needs besides the plan: whose cycle it is, which mailbox it writes into, the
/// custom-field names, the pairs' previous states and the records read this cycle.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    /// The user whose cycle planned it.
    pub user: &'a str,
    /// The mailbox side's connection; its principal (or, when it has none, `user`) is the mailbox
    /// the plan writes into.
    pub mailbox: &'a ConnectionInfo,
    /// The object's configuration (for custom field names).
    pub config: &'a ObjectConfig,
    /// The pairs the planner was given: their states before this cycle.
    pub pairs: &'a PairIndex,
    /// The CRM changes the planner was given.
    pub crm_changes: &'a [Change],
    /// The mailbox changes the planner was given.
    pub mailbox_changes: &'a [Change],
}

/// Whether the policy refused an operation or changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The operation was turned into a skip: nothing is written.
    Deny,
    /// The operation is written, changed: fields removed, cut or replaced.
    Transform,
}

/// One decision of the policy about one planned operation, for the audit log and the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDecision {
    /// Denied or transformed.
    pub effect: Effect,
    /// The rule that applied.
    pub rule: Rule,
    /// The operation concerned (`create`, `update`, `delete`, `link`, `unlink`).
    pub operation: String,
    /// The pair concerned.
    pub pair: Option<PairId>,
    /// The side the operation writes to, for writes.
    pub target: Option<Side>,
    /// The side holding [`PolicyDecision::record`].
    pub side: Option<Side>,
    /// The record concerned: the target record of an update or delete, the source record of a
    /// create, the CRM record of a link.
    pub record: Option<RecordId>,
    /// The fields removed, cut or replaced (canonical names), for transformations.
    pub fields: Vec<FieldKey>,
    /// Why, in words. Names policy entries, never record data.
    pub reason: String,
}

impl PolicyDecision {
    /// The audit log's action for this decision: `policy_deny` or `policy_transform`.
    pub fn action(&self) -> &'static str {
        match self.effect {
            Effect::Deny => "policy_deny",
            Effect::Transform => "policy_transform",
        }
    }

    /// The audit log's outcome: `denied` or `transformed`.
    pub fn outcome(&self) -> &'static str {
        match self.effect {
            Effect::Deny => "denied",
            Effect::Transform => "transformed",
        }
    }
}

impl fmt::Display for PolicyDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} by policy rule `{}`: {}", self.operation, self.outcome(), self.rule, self.reason)?;
        if !self.fields.is_empty() {
            let names: Vec<String> = self.fields.iter().map(ToString::to_string).collect();
            write!(f, " [{}]", names.join(", "))?;
        }
        Ok(())
    }
}

/// The records read this cycle and the naming of custom fields.
struct View<'a> {
    ctx: &'a PlanContext<'a>,
    records: [HashMap<&'a RecordId, &'a Record>; 2],
}

fn idx(side: Side) -> usize {
    match side {
        Side::Crm => 0,
        Side::Mailbox => 1,
    }
}

impl<'a> View<'a> {
    fn new(ctx: &'a PlanContext<'a>) -> Self {
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

    fn record(&self, side: Side, id: &RecordId) -> Option<&'a Record> {
        self.records[idx(side)].get(id).copied()
    }

    /// A field name as `side` spells it, made canonical.
    fn canonical(&self, side: Side, key: &FieldKey) -> FieldKey {
        self.ctx.config.fields.canonical_name(side, key)
    }

    /// A canonical field's value in a record whose custom fields carry `side`'s names.
    fn value(&self, record: &Record, side: Side, key: &FieldKey) -> Option<FieldValue> {
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
    fn current_print(&self, side: Side, pair: &PairId, id: &RecordId, key: &FieldKey) -> u64 {
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
fn state_of<'p>(
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

/// The records an operation concerns, and the fingerprint of the target's privacy as last synced.
struct Involved<'a> {
    records: Vec<&'a Record>,
    target_privacy: Option<u64>,
}

fn private_print() -> u64 {
    FieldValue::Privacy(Privacy::Private).fingerprint()
}

fn is_private(involved: &Involved<'_>) -> bool {
    involved.records.iter().any(|r| matches!(r, Record::Event(e) if e.privacy == Privacy::Private))
        || involved.target_privacy == Some(private_print())
}

/// Makes an event a busy-only placeholder, in place. Never adds a field the record lacks.
fn placeholder(record: &mut Record) {
    let Record::Event(e) = record else { return };
    if e.subject.is_some() {
        e.subject = Some(BUSY_SUBJECT.to_owned());
    }
    e.description = None;
    e.location = None;
    e.attendees.clear();
    e.organizer = None;
    e.categories.clear();
    e.crm_links.clear();
    e.custom.clear();
    if let Some(r) = &mut e.recurrence {
        scrub(r);
    }
}

/// Removes the texts of a recurrence's changed occurrences (their timing stays).
fn scrub(r: &mut Recurrence) {
    for o in r.overrides.values_mut() {
        o.subject = None;
        o.location = None;
        o.description = None;
    }
}

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
    /// Passes every operation of `plan` through the policy, in place, and returns the decisions
    /// taken, in plan order.
    ///
    /// - **Denials** turn operations into skips whose reason names the rule. A pair with a denied
    ///   operation is not synced this cycle at all: every write, link and unlink of the pair
    ///   becomes a skip, its conflicts are dropped and its next state is removed from
    ///   `plan.states`, so it keeps its previous state (and a denied create leaves no pair with
    ///   a pending id). Rules that deny: the mailbox scope (every write of a plan into a mailbox
    ///   outside it), excluded addresses and domains, and `private_events = skip`. Deletes are
    ///   only denied by the mailbox scope: removing a copy never leaks anything.
    /// - **Transformations** change what is written: busy-only placeholders for private events,
    ///   fields that never leave Salesforce removed from writes to the mailbox, descriptions cut
    ///   to the maximum length. The pair's next state records the fingerprints of what is
    ///   actually written (a field left out keeps the fingerprint of what the target holds), so
    ///   the next cycle sees no phantom edit. An update left with nothing to write becomes a
    ///   skip; the pair's state still advances.
    pub fn apply(&self, plan: &mut Plan, ctx: &PlanContext<'_>) -> Vec<PolicyDecision> {
        let view = View::new(ctx);
        let mut decisions = Vec::new();

        // The mailbox scope: nothing of this plan may be written.
        let principal = ctx.mailbox.principal.as_deref().unwrap_or(ctx.user);
        if let Err((rule, reason)) = self.check_mailbox(&ctx.mailbox.provider, principal) {
            let denied: BTreeMap<PairId, (Rule, String)> = plan
                .operations
                .iter()
                .filter_map(|op| op.pair.clone())
                .chain(plan.states.keys().cloned())
                .map(|p| (p, (rule.clone(), reason.clone())))
                .collect();
            deny(plan, &denied, &mut decisions);
            plan.states.clear();
            return decisions;
        }

        // Record rules: which pairs may not sync at all.
        let mut denied: BTreeMap<PairId, (Rule, String)> = BTreeMap::new();
        for op in &plan.operations {
            let Some(pair) = &op.pair else { continue };
            if denied.contains_key(pair) || matches!(op.action, Action::Delete { .. }) {
                continue;
            }
            let Some(involved) = involved(op, plan, &view) else { continue };
            if let Some(why) = self.record_denial(plan.object, &involved) {
                denied.insert(pair.clone(), why);
            }
        }
        deny(plan, &denied, &mut decisions);

        // Transformations of what is left.
        for i in 0..plan.operations.len() {
            match plan.operations[i].action {
                Action::Create { .. } => self.transform_create(plan, i, &view, &mut decisions),
                Action::Update { .. } => self.transform_update(plan, i, &view, &mut decisions),
                _ => {}
            }
        }
        decisions
    }

    /// Why the records of an operation may not sync, if they may not.
    fn record_denial(&self, object: ObjectKind, involved: &Involved<'_>) -> Option<(Rule, String)> {
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

    fn transform_create(&self, plan: &mut Plan, i: usize, view: &View<'_>, decisions: &mut Vec<PolicyDecision>) {
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

    fn transform_update(&self, plan: &mut Plan, i: usize, view: &View<'_>, decisions: &mut Vec<PolicyDecision>) {
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

/// The records an operation concerns. `None` for operations that concern none.
fn involved<'a>(op: &'a Operation, plan: &Plan, view: &View<'a>) -> Option<Involved<'a>> {
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
            let target_privacy =
                view.ctx.pairs.get(pair).and_then(|s| s.side(*target).fields.get(&FieldKey::Privacy).copied());
            Some(Involved { records, target_privacy })
        }
        Action::Link { crm, mailbox } => Some(Involved {
            records: [view.record(Side::Crm, crm), view.record(Side::Mailbox, mailbox)].into_iter().flatten().collect(),
            target_privacy: None,
        }),
        _ => None,
    }
}

/// Turns every operation of the denied pairs into a skip, drops their conflicts and next states.
fn deny(plan: &mut Plan, denied: &BTreeMap<PairId, (Rule, String)>, decisions: &mut Vec<PolicyDecision>) {
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
