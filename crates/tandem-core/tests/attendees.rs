//! Attendees sync one by one (`FieldKey::Attendee`): added and removed per address, never a
//! whole-list overwrite, names/roles/answers are not edits, read-only sides are left alone, and
//! sync state from before (one `attendees` print) upgrades without writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use tandem_core::capabilities::ObjectCapabilities;
use tandem_core::config::ObjectConfig;
use tandem_core::fields::{FieldKey, FieldValue, fingerprint};
use tandem_core::model::{Attendee, AttendeeRole, Event, EventTime, EventTiming, ObjectKind, Record, ResponseStatus};
use tandem_core::plan::{Action, NextState, Plan};
use tandem_core::planner::{PairIndex, PlanInput, SideInput, fingerprints, plan};
use tandem_core::state::{Change, FieldPrints, IdempotencyKey, PairState, RecordId, Side, SideState, Version};

const E: ObjectKind = ObjectKind::Event;

fn now() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + TimeDelta::days(10)
}

fn config() -> ObjectConfig {
    ObjectConfig { window: None, ..ObjectConfig::events_default() }
}

fn person(email: &str) -> Attendee {
    Attendee {
        email: email.to_owned(),
        name: None,
        role: AttendeeRole::Required,
        response: ResponseStatus::NeedsAction,
    }
}

fn meeting(attendees: &[&str]) -> Record {
    meeting_with(attendees.iter().map(|a| person(a)).collect())
}

fn meeting_with(attendees: Vec<Attendee>) -> Record {
    let start = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(9, 0, 0).unwrap();
    Record::Event(Event {
        subject: Some("Board".into()),
        description: None,
        location: None,
        timing: EventTiming { start: EventTime::utc(start), end: EventTime::utc(start + TimeDelta::minutes(60)) },
        recurrence: None,
        organizer: None,
        attendees,
        privacy: Default::default(),
        show_as: Default::default(),
        categories: vec![],
        crm_links: vec![],
        ical_uid: None,
        custom: BTreeMap::new(),
    })
}

fn attendee_key(email: &str) -> FieldKey {
    FieldKey::attendee(email)
}

/// A hand-built planner input for events.
struct Fx {
    config: ObjectConfig,
    crm_caps: ObjectCapabilities,
    mailbox_caps: ObjectCapabilities,
    pairs: Vec<PairState>,
    crm: Vec<Change>,
    mailbox: Vec<Change>,
}

impl Fx {
    fn new() -> Self {
        Fx {
            config: config(),
            crm_caps: ObjectCapabilities::everything(E),
            mailbox_caps: ObjectCapabilities::everything(E),
            pairs: Vec::new(),
            crm: Vec::new(),
            mailbox: Vec::new(),
        }
    }

    fn caps(&self, side: Side) -> &ObjectCapabilities {
        match side {
            Side::Crm => &self.crm_caps,
            Side::Mailbox => &self.mailbox_caps,
        }
    }

    /// The prints the planner keeps for `record` on `side`.
    fn prints(&self, side: Side, record: &Record) -> FieldPrints {
        fingerprints(&self.config, self.caps(side), side, record)
    }

    /// Adds a pair whose state holds `crm` and `mailbox` prints as given.
    fn pair_with(&mut self, crm: FieldPrints, mailbox: FieldPrints) -> IdempotencyKey {
        let pair_id = IdempotencyKey::derive(E, Side::Crm, &RecordId::new("00U1"));
        self.pairs.push(PairState {
            pair_id: pair_id.clone(),
            object: E,
            crm: SideState { id: RecordId::new("00U1"), version: Version::new("c1"), fields: crm },
            mailbox: SideState { id: RecordId::new("AAMk1"), version: Version::new("m1"), fields: mailbox },
            synced_at: DateTime::UNIX_EPOCH + TimeDelta::days(1),
            tombstone: None,
        });
        pair_id
    }

    /// Adds a pair in sync: each side's prints as the planner computes them.
    fn pair(&mut self, crm: &Record, mailbox: &Record) -> IdempotencyKey {
        let (c, m) = (self.prints(Side::Crm, crm), self.prints(Side::Mailbox, mailbox));
        self.pair_with(c, m)
    }

    fn crm_edit(&mut self, record: Record) -> &mut Self {
        self.crm.push(Change::upserted("00U1", "c2", record));
        self
    }

    fn mailbox_edit(&mut self, record: Record) -> &mut Self {
        self.mailbox.push(Change::upserted("AAMk1", "m2", record));
        self
    }

    fn plan(&self) -> Plan {
        let index = PairIndex::new(self.pairs.clone());
        let input = PlanInput {
            object: E,
            config: &self.config,
            pairs: &index,
            mapped_pairs: self.pairs.len(),
            crm: SideInput { changes: &self.crm, capabilities: &self.crm_caps },
            mailbox: SideInput { changes: &self.mailbox, capabilities: &self.mailbox_caps },
            now: now(),
            release_held_deletes: false,
            approved_deletes: &tandem_core::planner::NO_APPROVED_DELETES,
            mailbox_owner: None,
        };
        let out = plan(&input);
        assert_eq!(out, plan(&input), "the same input must give the same plan");
        out
    }
}

/// The patch of the update to `target`; empty when there is none.
fn patch(plan: &Plan, target: Side) -> BTreeMap<FieldKey, Option<FieldValue>> {
    let updates: Vec<_> = plan
        .operations
        .iter()
        .filter_map(|o| match &o.action {
            Action::Update { target: t, patch, .. } if *t == target => Some(patch),
            _ => None,
        })
        .collect();
    assert!(updates.len() <= 1, "at most one update per target and pair: {plan}");
    updates.first().map(|p| p.iter().map(|c| (c.field.clone(), c.value.clone())).collect()).unwrap_or_default()
}

fn put(plan: &Plan, pair: &IdempotencyKey) -> PairState {
    match plan.states.get(pair) {
        Some(NextState::Put(state)) => state.clone(),
        other => panic!("expected a Put for {pair}, got {other:?}\n{plan}"),
    }
}

fn adds(email: &str) -> Option<FieldValue> {
    Some(FieldValue::Attendee(person(email)))
}

// ---------------------------------------------------------------------------------------------
// Planner.

#[test]
fn an_attendee_added_on_the_crm_is_added_in_the_mailbox_and_nothing_else_is_sent() {
    let mut fx = Fx::new();
    let before = meeting(&["a@x.com", "b@x.com"]);
    fx.pair(&before, &before);
    fx.crm_edit(meeting(&["a@x.com", "b@x.com", "c@x.com"]));
    let plan = fx.plan();
    assert_eq!(patch(&plan, Side::Mailbox), BTreeMap::from([(attendee_key("c@x.com"), adds("c@x.com"))]), "{plan}");
    assert!(patch(&plan, Side::Crm).is_empty(), "{plan}");
}

#[test]
fn an_attendee_added_in_the_mailbox_is_added_on_the_crm() {
    let mut fx = Fx::new();
    let before = meeting(&["a@x.com"]);
    fx.pair(&before, &before);
    fx.mailbox_edit(meeting(&["a@x.com", "New@X.com"]));
    let plan = fx.plan();
    assert_eq!(
        patch(&plan, Side::Crm),
        BTreeMap::from([(attendee_key("new@x.com"), adds("New@X.com"))]),
        "keyed by the lower-cased address: {plan}"
    );
    assert!(patch(&plan, Side::Mailbox).is_empty(), "{plan}");
}

#[test]
fn an_attendee_removed_on_one_side_is_removed_on_the_other_alone() {
    for (from, to) in [(Side::Crm, Side::Mailbox), (Side::Mailbox, Side::Crm)] {
        let mut fx = Fx::new();
        let before = meeting(&["a@x.com", "b@x.com", "c@x.com"]);
        let pair = fx.pair(&before, &before);
        let after = meeting(&["a@x.com", "c@x.com"]);
        match from {
            Side::Crm => fx.crm_edit(after),
            Side::Mailbox => fx.mailbox_edit(after),
        };
        let plan = fx.plan();
        assert_eq!(patch(&plan, to), BTreeMap::from([(attendee_key("b@x.com"), None)]), "{from} -> {to}: {plan}");
        assert!(patch(&plan, from).is_empty(), "{plan}");
        // The target's state forgets the attendee (absent), so it is not re-added next time.
        let state = put(&plan, &pair);
        let print = state.side(to).fields.get(&attendee_key("b@x.com")).copied().unwrap_or_else(|| fingerprint(None));
        assert_eq!(print, fingerprint(None), "{plan}");
        assert!(!state.side(from).fields.contains_key(&attendee_key("b@x.com")), "{state:?}");
    }
}

#[test]
fn attendees_the_crm_lacks_are_not_removed_from_the_mailbox_when_the_crm_adds_one() {
    // The CRM holds only `a` (b is no contact there); the mailbox holds a and b.
    let mut fx = Fx::new();
    let crm = meeting(&["a@x.com"]);
    let mailbox = meeting(&["a@x.com", "b@x.com"]);
    let pair = fx.pair(&crm, &mailbox);
    assert!(fx.pairs[0].crm.fields.contains_key(&attendee_key("a@x.com")));
    assert!(!fx.pairs[0].crm.fields.contains_key(&attendee_key("b@x.com")));
    fx.crm_edit(meeting(&["a@x.com", "c@x.com"]));
    let plan = fx.plan();
    assert_eq!(patch(&plan, Side::Mailbox), BTreeMap::from([(attendee_key("c@x.com"), adds("c@x.com"))]), "{plan}");
    assert!(patch(&plan, Side::Crm).is_empty(), "b is not sent to the CRM either: {plan}");
    // The mailbox's state still knows b and now c; a later quiet read of the mailbox is no edit.
    let state = put(&plan, &pair);
    for a in ["a@x.com", "b@x.com", "c@x.com"] {
        assert!(state.mailbox.fields.contains_key(&attendee_key(a)), "{a}: {state:?}");
    }
    let mut next = Fx::new();
    next.pairs.push(state);
    next.mailbox.push(Change::upserted("AAMk1", "m3", meeting(&["a@x.com", "b@x.com", "c@x.com"])));
    let quiet = next.plan();
    assert_eq!(quiet.writes().count(), 0, "{quiet}");
}

#[test]
fn both_sides_adding_different_attendees_get_each_others_and_lose_none() {
    let mut fx = Fx::new();
    let before = meeting(&["a@x.com"]);
    fx.pair(&before, &before);
    fx.crm_edit(meeting(&["a@x.com", "c@x.com"]));
    fx.mailbox_edit(meeting(&["a@x.com", "m@x.com"]));
    let plan = fx.plan();
    assert_eq!(patch(&plan, Side::Mailbox), BTreeMap::from([(attendee_key("c@x.com"), adds("c@x.com"))]), "{plan}");
    assert_eq!(patch(&plan, Side::Crm), BTreeMap::from([(attendee_key("m@x.com"), adds("m@x.com"))]), "{plan}");
}

#[test]
fn a_name_role_or_answer_change_alone_is_not_an_edit() {
    let mut fx = Fx::new();
    let before = meeting(&["a@x.com", "b@x.com"]);
    fx.pair(&before, &before);
    let mut changed = vec![person("a@x.com"), person("b@x.com")];
    changed[0].name = Some("Ada Lovelace".into());
    changed[0].role = AttendeeRole::Optional;
    changed[1].response = ResponseStatus::Accepted;
    // Spelling the address in capitals is not an edit either.
    changed[1].email = "B@X.COM".into();
    // Either side alone (an edit on both sides alike would be agreed anyway).
    fx.crm_edit(meeting_with(changed.clone()));
    let plan = fx.plan();
    assert_eq!(plan.writes().count(), 0, "{plan}");
    let mut fx = Fx::new();
    fx.pair(&before, &before);
    fx.mailbox_edit(meeting_with(changed));
    let plan = fx.plan();
    assert_eq!(plan.writes().count(), 0, "{plan}");
}

#[test]
fn a_side_whose_attendees_are_read_only_never_receives_attendee_writes() {
    // Update: the mailbox adds and removes attendees; the read-only CRM gets nothing.
    let mut fx = Fx::new();
    fx.crm_caps = ObjectCapabilities::everything(E).with_read_only(FieldKey::Attendees);
    let before = meeting(&["a@x.com", "b@x.com"]);
    fx.pair(&before, &before);
    fx.mailbox_edit(meeting(&["a@x.com", "n@x.com"]));
    let plan = fx.plan();
    assert!(patch(&plan, Side::Crm).is_empty(), "{plan}");
    assert_eq!(plan.writes().count(), 0, "{plan}");

    // The read-only side's own changes still reach the other side.
    let mut fx = Fx::new();
    fx.crm_caps = ObjectCapabilities::everything(E).with_read_only(FieldKey::Attendees);
    fx.pair(&before, &before);
    fx.crm_edit(meeting(&["a@x.com", "b@x.com", "c@x.com"]));
    let plan = fx.plan();
    assert_eq!(patch(&plan, Side::Mailbox), BTreeMap::from([(attendee_key("c@x.com"), adds("c@x.com"))]), "{plan}");

    // Create: the CRM copy of a new mailbox event carries no attendees.
    let mut fx = Fx::new();
    fx.crm_caps = ObjectCapabilities::everything(E).with_read_only(FieldKey::Attendees);
    fx.mailbox.push(Change::upserted("AAMk9", "m1", meeting(&["a@x.com", "b@x.com"])));
    let plan = fx.plan();
    let created: Vec<&Record> = plan
        .operations
        .iter()
        .filter_map(|o| match &o.action {
            Action::Create { target: Side::Crm, record, .. } => Some(&**record),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "{plan}");
    assert!(created[0].attendee_keys().is_empty(), "{:?}", created[0]);
}

/// State written before attendees synced one by one: one `attendees` print of the whole list.
fn legacy_prints(fx: &Fx, side: Side, record: &Record) -> FieldPrints {
    let mut prints = fx.prints(side, record);
    let attendees: Vec<FieldKey> = prints.keys().filter(|k| matches!(k, FieldKey::Attendee(_))).cloned().collect();
    assert!(!attendees.is_empty());
    for key in &attendees {
        prints.remove(key);
    }
    let mut canonical = record.clone();
    canonical.normalize();
    prints.insert(FieldKey::Attendees, fingerprint(canonical.get(&FieldKey::Attendees).as_ref()));
    prints
}

#[test]
fn legacy_state_with_an_unchanged_list_plans_nothing_and_upgrades() {
    let mut fx = Fx::new();
    let before = meeting(&["a@x.com", "b@x.com"]);
    let (c, m) = (legacy_prints(&fx, Side::Crm, &before), legacy_prints(&fx, Side::Mailbox, &before));
    let pair = fx.pair_with(c, m);
    // Read again on the CRM alone (a version bump), then on both.
    fx.crm_edit(before.clone());
    let plan = fx.plan();
    assert_eq!(plan.writes().count(), 0, "{plan}");
    // The side read now keeps one print per attendee and no whole-list print; the other is as it was.
    let state = put(&plan, &pair);
    let fields = &state.crm.fields;
    assert!(!fields.contains_key(&FieldKey::Attendees), "{fields:?}");
    assert!(fields.contains_key(&attendee_key("a@x.com")) && fields.contains_key(&attendee_key("b@x.com")));
    assert_eq!(state.mailbox.fields, fx.pairs[0].mailbox.fields);

    fx.mailbox_edit(before.clone());
    let plan = fx.plan();
    assert_eq!(plan.writes().count(), 0, "{plan}");
    assert!(plan.operations.iter().all(|o| o.action.name() != "conflict"), "{plan}");
    let state = put(&plan, &pair);
    for side in Side::BOTH {
        let fields = &state.side(side).fields;
        assert!(!fields.contains_key(&FieldKey::Attendees), "{side}: {fields:?}");
        assert!(fields.contains_key(&attendee_key("a@x.com")) && fields.contains_key(&attendee_key("b@x.com")));
    }
}

#[test]
fn legacy_state_with_a_changed_list_adds_every_attendee_and_removes_none() {
    let mut fx = Fx::new();
    let before = meeting(&["a@x.com", "b@x.com"]);
    let (c, m) = (legacy_prints(&fx, Side::Crm, &before), legacy_prints(&fx, Side::Mailbox, &before));
    fx.pair_with(c, m);
    // b went and c came on the CRM: which one went cannot be known from one print.
    fx.crm_edit(meeting(&["a@x.com", "c@x.com"]));
    let plan = fx.plan();
    assert_eq!(
        patch(&plan, Side::Mailbox),
        BTreeMap::from([(attendee_key("a@x.com"), adds("a@x.com")), (attendee_key("c@x.com"), adds("c@x.com"))]),
        "{plan}"
    );
    assert!(patch(&plan, Side::Crm).is_empty(), "{plan}");
}

// ---------------------------------------------------------------------------------------------
// Field keys and records.

#[test]
fn attendee_keys_round_trip_through_their_names_and_an_empty_address_is_refused() {
    let key = FieldKey::attendee("  Ada@Example.COM ");
    assert_eq!(key, FieldKey::Attendee("ada@example.com".into()));
    assert_eq!(key.to_string(), "attendee.ada@example.com");
    assert_eq!("attendee.ada@example.com".parse::<FieldKey>().unwrap(), key);
    assert_eq!("attendee.ADA@example.com".parse::<FieldKey>().unwrap(), key, "parsing lower-cases the address");
    assert_eq!("attendee.x@y".parse::<FieldKey>().unwrap().to_string(), "attendee.x@y");
    assert!("attendee.".parse::<FieldKey>().is_err());
    assert!("attendee.  ".parse::<FieldKey>().is_err());
    // Serde goes through the same names.
    let json = serde_json::to_string(&key).unwrap();
    assert_eq!(json, "\"attendee.ada@example.com\"");
    assert_eq!(serde_json::from_str::<FieldKey>(&json).unwrap(), key);
    assert_eq!(key.family(), &FieldKey::Attendees);
    assert_eq!(FieldKey::Subject.family(), &FieldKey::Subject);
    assert!(key.applies_to(ObjectKind::Event));
    assert!(!key.applies_to(ObjectKind::Contact));
}

#[test]
fn capabilities_of_attendees_cover_each_attendee() {
    let caps = ObjectCapabilities::everything(E).with_read_only(FieldKey::Attendees);
    let key = FieldKey::attendee("a@x.com");
    assert!(caps.supports(&key));
    assert!(!caps.writable(&key));
    let mut without = ObjectCapabilities::everything(E);
    without.fields.remove(&FieldKey::Attendees);
    assert!(!without.supports(&key));
}

#[test]
fn record_field_keys_list_each_attendee_once_and_get_set_work_per_attendee() {
    let mut record = meeting(&["a@x.com", "B@x.com", "b@X.com", ""]);
    assert_eq!(record.attendee_keys(), [attendee_key("a@x.com"), attendee_key("b@x.com")]);
    let keys = record.field_keys();
    assert!(!keys.contains(&FieldKey::Attendees));
    assert!(keys.contains(&attendee_key("a@x.com")) && keys.contains(&attendee_key("b@x.com")));

    assert_eq!(record.get(&attendee_key("b@x.com")), Some(FieldValue::Attendee(person("B@x.com"))));
    assert_eq!(record.get(&attendee_key("z@x.com")), None);
    // Adding one already there keeps its name, role and answer.
    let mut renamed = person("A@X.COM");
    renamed.name = Some("Other".into());
    record.set(&attendee_key("a@x.com"), Some(FieldValue::Attendee(renamed))).unwrap();
    assert_eq!(record.get(&attendee_key("a@x.com")), Some(FieldValue::Attendee(person("a@x.com"))));
    record.set(&attendee_key("c@x.com"), Some(FieldValue::Attendee(person("c@x.com")))).unwrap();
    record.set(&attendee_key("b@x.com"), None).unwrap();
    let Record::Event(e) = &record else { unreachable!() };
    let emails: Vec<&str> = e.attendees.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(emails, ["a@x.com", "", "c@x.com"]);
    assert!(record.set(&attendee_key("d@x.com"), Some(FieldValue::Text("d".into()))).is_err());
}

#[test]
fn one_attendees_fingerprint_is_its_address_alone() {
    let mut a = person("Ada@X.com");
    let plain = FieldValue::Attendee(a.clone()).fingerprint();
    a.name = Some("Ada".into());
    a.role = AttendeeRole::Optional;
    a.response = ResponseStatus::Declined;
    a.email = " ada@x.com ".into();
    assert_eq!(FieldValue::Attendee(a).fingerprint(), plain);
    assert_ne!(FieldValue::Attendee(person("bob@x.com")).fingerprint(), plain);
    assert_ne!(fingerprint(None), plain);
}

#[test]
fn fingerprints_of_an_event_hold_one_entry_per_attendee() {
    let fx = Fx::new();
    let record = meeting(&["a@x.com", "b@x.com", "B@X.com"]);
    let prints = fx.prints(Side::Mailbox, &record);
    let attendees: Vec<&FieldKey> = prints.keys().filter(|k| matches!(k, FieldKey::Attendee(_))).collect();
    assert_eq!(attendees, [&attendee_key("a@x.com"), &attendee_key("b@x.com")]);
    assert!(!prints.contains_key(&FieldKey::Attendees));
    assert_eq!(prints[&attendee_key("a@x.com")], FieldValue::Attendee(person("a@x.com")).fingerprint());
    // A side without attendees keeps none.
    let mut caps = ObjectCapabilities::everything(E);
    caps.fields.remove(&FieldKey::Attendees);
    let none = fingerprints(&fx.config, &caps, Side::Mailbox, &record);
    assert!(none.keys().all(|k| !matches!(k, FieldKey::Attendee(_) | FieldKey::Attendees)), "{none:?}");
    // Nor does a configuration that does not sync them.
    let mut config = config();
    config.fields.exclude.insert(FieldKey::Attendees);
    let excluded = fingerprints(&config, &ObjectCapabilities::everything(E), Side::Mailbox, &record);
    assert!(excluded.keys().all(|k| !matches!(k, FieldKey::Attendee(_) | FieldKey::Attendees)), "{excluded:?}");
}
