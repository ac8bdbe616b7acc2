//! Focused scenarios for `tandem_core::planner::plan`: one behaviour per test, each readable on
//! its own. Most build the planner's input by hand ([`Fx`]); multi-cycle stories use the
//! simulation in `sim`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use tandem_core::capabilities::ObjectCapabilities;
use tandem_core::config::{
    ConflictPolicy, ConflictStrategy, CustomFieldMapping, DeletePropagation, Direction, ObjectConfig,
};
use tandem_core::fields::{FieldKey, FieldValue, fingerprint};
use tandem_core::filter::{Filter, FilterOp};
use tandem_core::model::{EventTime, ObjectKind, PhoneKind, Record};
use tandem_core::plan::{Action, NextState, Plan, Resolution};
use tandem_core::planner::{PairIndex, PlanInput, SideInput};
use tandem_core::state::{
    Change, ChangeKind, FieldPrints, IdempotencyKey, PairState, RecordId, Side, SideState, Version,
};

use sim::{Sim, at, contact, epoch_plus, event, text};

const DAY: i64 = 86_400;

fn now() -> DateTime<Utc> {
    epoch_plus(10 * DAY)
}

/// A hand-built planner input.
struct Fx {
    object: ObjectKind,
    config: ObjectConfig,
    crm_caps: ObjectCapabilities,
    mailbox_caps: ObjectCapabilities,
    pairs: Vec<PairState>,
    crm: Vec<Change>,
    mailbox: Vec<Change>,
    release: bool,
    approved: std::collections::BTreeSet<(Side, RecordId)>,
    now: DateTime<Utc>,
}

impl Fx {
    fn contacts() -> Self {
        Fx::new(ObjectKind::Contact, ObjectConfig::default())
    }

    /// Events with the default configuration, less the sync window (the events here are dated
    /// 2026, the clock 1970); the window has scenarios of its own.
    fn events() -> Self {
        Fx::new(ObjectKind::Event, ObjectConfig { window: None, ..ObjectConfig::events_default() })
    }

    fn new(object: ObjectKind, config: ObjectConfig) -> Self {
        Fx {
            object,
            config,
            crm_caps: ObjectCapabilities::everything(object),
            mailbox_caps: ObjectCapabilities::everything(object),
            pairs: Vec::new(),
            crm: Vec::new(),
            mailbox: Vec::new(),
            release: false,
            approved: std::collections::BTreeSet::new(),
            now: now(),
        }
    }

    fn caps(&self, side: Side) -> &ObjectCapabilities {
        match side {
            Side::Crm => &self.crm_caps,
            Side::Mailbox => &self.mailbox_caps,
        }
    }

    /// The fingerprints the planner keeps for `record` as `side` holds it.
    fn prints(&self, side: Side, record: &Record) -> FieldPrints {
        let mut canonical = record.clone();
        let custom = std::mem::take(canonical.custom_mut());
        for m in &self.config.fields.custom {
            if let Some(v) = custom.get(m.on(side)) {
                canonical.custom_mut().insert(m.name.clone(), v.clone());
            }
        }
        canonical.normalize();
        self.config
            .fields
            .synced(self.object)
            .into_iter()
            .filter(|k| self.caps(side).supports(k))
            .map(|k| {
                let print = fingerprint(canonical.get(&k).as_ref());
                (k, print)
            })
            .collect()
    }

    /// Adds a pair in sync: `crm_id` at version `c1` holding `crm`, `mailbox_id` at `m1`.
    fn pair(&mut self, crm_id: &str, crm: &Record, mailbox_id: &str, mailbox: &Record) -> IdempotencyKey {
        let pair_id = IdempotencyKey::derive(self.object, Side::Crm, &RecordId::new(crm_id));
        let state = PairState {
            pair_id: pair_id.clone(),
            object: self.object,
            crm: SideState {
                id: RecordId::new(crm_id),
                version: Version::new("c1"),
                fields: self.prints(Side::Crm, crm),
            },
            mailbox: SideState {
                id: RecordId::new(mailbox_id),
                version: Version::new("m1"),
                fields: self.prints(Side::Mailbox, mailbox),
            },
            synced_at: epoch_plus(DAY),
            tombstone: None,
        };
        self.pairs.push(state);
        pair_id
    }

    fn change(&mut self, side: Side, change: Change) -> &mut Self {
        match side {
            Side::Crm => self.crm.push(change),
            Side::Mailbox => self.mailbox.push(change),
        }
        self
    }

    fn plan(&self) -> Plan {
        let index = PairIndex::new(self.pairs.clone());
        let input = PlanInput {
            object: self.object,
            config: &self.config,
            pairs: &index,
            mapped_pairs: self.pairs.iter().filter(|p| p.tombstone.is_none()).count(),
            crm: SideInput { changes: &self.crm, capabilities: &self.crm_caps },
            mailbox: SideInput { changes: &self.mailbox, capabilities: &self.mailbox_caps },
            now: self.now,
            release_held_deletes: self.release,
            approved_deletes: &self.approved,
            mailbox_owner: None,
        };
        let (plan, _) = sim::plan_checking_take(&input);
        assert_eq!(plan, tandem_core::planner::plan(&input), "the same input must give the same plan");
        plan
    }
}

fn ada() -> Record {
    contact(Some("Ada"), "Lovelace", Some("ada@example.com"), Some("Analytical Engines"))
}

fn with(mut record: Record, key: FieldKey, value: Option<FieldValue>) -> Record {
    record.set(&key, value).unwrap();
    record
}

fn upsert(id: &str, version: &str, record: Record) -> Change {
    Change::upserted(id, version, record)
}

fn ops<'p>(plan: &'p Plan, name: &str) -> Vec<&'p Action> {
    plan.operations.iter().filter(|o| o.action.name() == name).map(|o| &o.action).collect()
}

fn reasons(plan: &Plan, name: &str) -> Vec<String> {
    plan.operations.iter().filter(|o| o.action.name() == name).map(|o| o.reason.clone()).collect()
}

/// The patch of the update to `target`, as a map; empty when there is none.
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

// ---------------------------------------------------------------------------------------------
// First-sync matching.

#[test]
fn first_sync_links_contacts_by_email_ignoring_case() {
    let mut fx = Fx::contacts();
    fx.change(Side::Crm, upsert("003A", "c1", ada()));
    fx.change(
        Side::Mailbox,
        upsert("AAMk1", "m1", contact(Some("Ada"), "Lovelace", Some("  ADA@Example.COM "), Some("Analytical Engines"))),
    );
    let plan = fx.plan();
    assert!(ops(&plan, "create").is_empty(), "{plan}");
    assert_eq!(ops(&plan, "link"), [&Action::Link { crm: RecordId::new("003A"), mailbox: RecordId::new("AAMk1") }]);
    assert_eq!(reasons(&plan, "link"), ["matched: same email address"]);
    let pair = IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003A"));
    let state = put(&plan, &pair);
    assert_eq!((state.crm.version.as_str(), state.mailbox.version.as_str()), ("c1", "m1"));
    // Mail systems do not care about the case of an address, so neither side is rewritten.
    assert_eq!(plan.writes().count(), 0, "{plan}");
    assert_eq!(state.crm.fields[&FieldKey::Emails], state.mailbox.fields[&FieldKey::Emails]);
}

#[test]
fn first_sync_links_contacts_by_first_last_and_company() {
    let mut fx = Fx::contacts();
    fx.change(Side::Crm, upsert("003A", "c1", contact(Some("Ada"), "Lovelace", None, Some("Analytical Engines"))));
    fx.change(Side::Crm, upsert("003B", "c1", contact(Some("Charles"), "Babbage", None, Some("Difference Inc"))));
    fx.change(
        Side::Mailbox,
        upsert("AAMk1", "m1", contact(Some(" ada"), "LOVELACE", None, Some("analytical engines"))),
    );
    // Same names, another company: a different person.
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", contact(Some("Charles"), "Babbage", None, Some("Other Ltd"))));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "link"), [&Action::Link { crm: RecordId::new("003A"), mailbox: RecordId::new("AAMk1") }]);
    assert_eq!(reasons(&plan, "link"), ["matched: same first name, last name and company"]);
    let created: Vec<_> = ops(&plan, "create")
        .into_iter()
        .map(|a| match a {
            Action::Create { target, source_id, .. } => (*target, source_id.as_str().to_owned()),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(created, [(Side::Mailbox, "003B".to_owned()), (Side::Crm, "AAMk2".to_owned())]);
}

#[test]
fn first_sync_links_events_by_ical_uid() {
    let mut fx = Fx::events();
    let with_uid = |mut r: Record, uid: &str| {
        if let Record::Event(e) = &mut r {
            e.ical_uid = Some(uid.into());
        }
        r
    };
    fx.change(Side::Crm, upsert("00U1", "c1", with_uid(event("Board meeting", at(9, 0), 60), "uid-42@example.com")));
    // Moved and renamed on the mailbox, but the same event.
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", with_uid(event("Board", at(10, 0), 30), "uid-42@example.com")));
    let plan = fx.plan();
    assert_eq!(reasons(&plan, "link"), ["matched: same iCalendar UID"]);
    assert!(ops(&plan, "create").is_empty());
    // The CRM (fallback) wins the differences.
    let p = patch(&plan, Side::Mailbox);
    assert_eq!(p.get(&FieldKey::Subject), Some(&text("Board meeting")));
    assert!(p.contains_key(&FieldKey::Timing));
}

#[test]
fn first_sync_links_events_by_subject_start_and_end() {
    let mut fx = Fx::events();
    fx.change(Side::Crm, upsert("00U1", "c1", event("Quarterly Review", at(9, 0), 60)));
    // The same instants written in Paris time, the subject in another case.
    let mut paris = event("quarterly review ", at(10, 0), 60);
    if let Record::Event(e) = &mut paris {
        e.timing.start = EventTime::Zoned { local: at(10, 0), zone: "Europe/Paris".into() };
        e.timing.end = EventTime::Zoned { local: at(11, 0), zone: "Europe/Paris".into() };
    }
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", paris));
    // Same subject, another hour: not the same event.
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", event("Quarterly Review", at(14, 0), 60)));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "link"), [&Action::Link { crm: RecordId::new("00U1"), mailbox: RecordId::new("AAMk1") }]);
    assert_eq!(reasons(&plan, "link"), ["matched: same subject, start and end"]);
    assert_eq!(ops(&plan, "create").len(), 1);
}

#[test]
fn ambiguous_match_picks_the_most_recently_modified_and_says_so() {
    let mut fx = Fx::contacts();
    fx.change(Side::Crm, upsert("003A", "c1", ada()));
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", ada()).at(epoch_plus(5 * DAY)));
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", ada()).at(epoch_plus(7 * DAY)));
    fx.change(Side::Mailbox, upsert("AAMk3", "m1", ada()).at(epoch_plus(6 * DAY)));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "link"), [&Action::Link { crm: RecordId::new("003A"), mailbox: RecordId::new("AAMk2") }]);
    let reason = &reasons(&plan, "link")[0];
    assert!(reason.contains("3 candidates, chose the most recently modified"), "{reason}");
    // The others share the linked record's address: copying them would make Salesforce contacts
    // with one address. They are reported as ambiguous instead, neither linked nor created.
    assert!(ops(&plan, "create").is_empty(), "{plan}");
    assert_eq!(
        ops(&plan, "ambiguous"),
        [
            &Action::Ambiguous { side: Side::Mailbox, id: RecordId::new("AAMk1"), matches: RecordId::new("003A") },
            &Action::Ambiguous { side: Side::Mailbox, id: RecordId::new("AAMk3"), matches: RecordId::new("003A") },
        ]
    );
    assert!(reasons(&plan, "ambiguous")[0].contains("ambiguous match"), "{plan}");
    assert!(plan.states.len() == 1, "only the link makes a pair: {plan}");
}

#[test]
fn two_crm_contacts_with_one_mailbox_contacts_address_link_one_and_report_the_other() {
    let mut fx = Fx::contacts();
    fx.change(Side::Crm, upsert("003A", "c1", ada()).at(epoch_plus(5 * DAY)));
    fx.change(Side::Crm, upsert("003B", "c1", ada()).at(epoch_plus(6 * DAY)));
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", ada()));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "link"), [&Action::Link { crm: RecordId::new("003A"), mailbox: RecordId::new("AAMk1") }]);
    assert_eq!(
        ops(&plan, "ambiguous"),
        [&Action::Ambiguous { side: Side::Crm, id: RecordId::new("003B"), matches: RecordId::new("AAMk1") }]
    );
    assert!(ops(&plan, "create").is_empty(), "{plan}");
}

#[test]
fn a_new_record_matching_a_paired_record_seen_this_cycle_is_ambiguous_not_copied() {
    let mut fx = Fx::contacts();
    fx.pair("003A", &ada(), "AAMk1", &ada());
    // The CRM contact changed (so it is in this cycle), and a second mailbox contact with its
    // address appears.
    let edited = with(ada(), FieldKey::Title, text("Countess"));
    fx.change(Side::Crm, upsert("003A", "c2", edited));
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", ada()));
    let plan = fx.plan();
    assert!(ops(&plan, "create").is_empty(), "{plan}");
    assert_eq!(
        ops(&plan, "ambiguous"),
        [&Action::Ambiguous { side: Side::Mailbox, id: RecordId::new("AAMk2"), matches: RecordId::new("003A") }]
    );
    assert_eq!(patch(&plan, Side::Mailbox).len(), 1, "the edit still flows: {plan}");
}

/// Two pairs claiming one CRM record (state written by an older build, or by hand): the index
/// points the record at the pair inserted last, and the planner, which reads the pairs its
/// changes touch through the packed index, follows the index, even when the other pair was
/// decoded first (here through the Tandem key of a record that moved).
#[test]
fn a_record_claimed_by_two_pairs_is_planned_against_the_pair_the_index_points_at() {
    let mut fx = Fx::contacts();
    let first = fx.pair("003A", &ada(), "AAMk-first", &ada());
    let mut later = fx.pairs[0].clone();
    later.pair_id = IdempotencyKey("tdm-later".into());
    later.mailbox.id = RecordId::new("AAMk-later");
    fx.pairs.push(later);
    // Read first: a CRM record carrying the first pair's key under a new id.
    let mut moved = upsert("003Z", "c1", ada());
    moved.sync_key = Some(first.clone());
    fx.change(Side::Crm, moved);
    let edited = with(ada(), FieldKey::Title, Some(FieldValue::Text("Countess".into())));
    fx.change(Side::Crm, upsert("003A", "c2", edited));
    let plan = fx.plan();
    let titled: Vec<&RecordId> = plan
        .operations
        .iter()
        .filter_map(|o| match &o.action {
            Action::Update { target: Side::Mailbox, id, patch, .. }
                if patch.iter().any(|c| c.field == FieldKey::Title) =>
            {
                Some(id)
            }
            _ => None,
        })
        .collect();
    assert_eq!(titled, vec![&RecordId::new("AAMk-later")], "{plan}");
}

// ---------------------------------------------------------------------------------------------
// The sync window.

fn windowed_events() -> Fx {
    let mut fx = Fx::new(ObjectKind::Event, ObjectConfig::events_default());
    // 2026-03-02 00:00 UTC: the window reaches 2026-01-31 back and 2027-03-02 ahead.
    fx.now = at(0, 0).and_utc();
    fx
}

fn days_from_now(fx: &Fx, days: i64) -> chrono::NaiveDateTime {
    (fx.now + TimeDelta::days(days)).naive_utc()
}

#[test]
fn events_outside_the_window_are_neither_created_nor_deleted_on_the_other_side() {
    let mut fx = windowed_events();
    let old = event("Kick-off 2024", days_from_now(&fx, -400), 60);
    let recent = event("Weekly", days_from_now(&fx, -3), 60);
    let far = event("Conference 2028", days_from_now(&fx, 400), 60);
    let mut series = event("Standup since 2020", days_from_now(&fx, -2000), 15);
    if let Record::Event(e) = &mut series {
        e.recurrence = Some(tandem_core::model::Recurrence { rules: vec!["FREQ=DAILY".into()], ..Default::default() });
    }
    fx.change(Side::Crm, upsert("00U1", "c1", old.clone()));
    fx.change(Side::Crm, upsert("00U2", "c1", recent));
    fx.change(Side::Mailbox, upsert("AAMk9", "m1", far));
    fx.change(Side::Crm, upsert("00U3", "c1", series));
    let plan = fx.plan();
    let created: Vec<RecordId> = plan
        .operations
        .iter()
        .filter_map(|o| match &o.action {
            Action::Create { source_id, .. } => Some(source_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(created, [RecordId::new("00U2"), RecordId::new("00U3")], "{plan}");
    let skipped = reasons(&plan, "skip");
    assert_eq!(skipped.len(), 2, "{plan}");
    assert!(skipped.iter().all(|r| r.contains("outside the sync window (30 days back, 365 days ahead)")), "{plan}");

    // A pair whose events have left the window is kept: an edit still flows, nothing is deleted.
    let mut fx = windowed_events();
    let pair = fx.pair("00U1", &old, "AAMk1", &old);
    let moved = with(old, FieldKey::Location, text("Room 2"));
    fx.change(Side::Crm, upsert("00U1", "c2", moved));
    let plan = fx.plan();
    assert_eq!(patch(&plan, Side::Mailbox).len(), 1, "{plan}");
    assert!(ops(&plan, "delete").is_empty() && ops(&plan, "skip").is_empty(), "{plan}");
    assert!(matches!(plan.states.get(&pair), Some(NextState::Put(_))), "{plan}");
}

// ---------------------------------------------------------------------------------------------
// Records that move.

#[test]
fn a_record_that_moved_is_relinked_under_its_new_id_not_deleted() {
    let mut fx = Fx::events();
    let review = event("Review", at(9, 0), 60);
    // A pair Tandem made by creating the mailbox copy: the copy carries the pair's key.
    let pair = fx.pair("00U1", &review, "AAMk1", &review);
    let moved = Change { sync_key: Some(pair.clone()), ..upsert("AAMk2", "m2", review.clone()) };
    fx.change(Side::Mailbox, Change::deleted("AAMk1"));
    fx.change(Side::Mailbox, moved);
    let plan = fx.plan();
    assert!(ops(&plan, "delete").is_empty() && ops(&plan, "unlink").is_empty(), "{plan}");
    assert!(ops(&plan, "create").is_empty() && ops(&plan, "skip").is_empty(), "{plan}");
    assert_eq!(ops(&plan, "link"), [&Action::Link { crm: RecordId::new("00U1"), mailbox: RecordId::new("AAMk2") }]);
    assert!(reasons(&plan, "link")[0].starts_with("moved:"), "{plan}");
    let state = put(&plan, &pair);
    assert_eq!(state.mailbox.id, RecordId::new("AAMk2"));
    assert_eq!(state.mailbox.version, Version::new("m2"));

    // Moved and nothing else, its version unchanged (read as an echo, so the pair's decision
    // sets no state): the new id is still remembered, with the version it had.
    let mut fx = Fx::events();
    let pair = fx.pair("00U1", &review, "AAMk1", &review);
    fx.change(Side::Mailbox, Change { sync_key: Some(pair.clone()), ..upsert("AAMk2", "m1", review.clone()) });
    let plan = fx.plan();
    assert!(plan.writes().next().is_none(), "{plan}");
    let state = put(&plan, &pair);
    assert_eq!(state.mailbox.id, RecordId::new("AAMk2"), "{plan}");
    assert_eq!(state.mailbox.version, Version::new("m1"));

    // Moved and edited: the edit flows to the CRM record.
    let mut fx = Fx::events();
    let pair = fx.pair("00U1", &review, "AAMk1", &review);
    let edited = with(review, FieldKey::Location, text("Room 2"));
    fx.change(Side::Mailbox, Change { sync_key: Some(pair), ..upsert("AAMk2", "m2", edited) });
    let plan = fx.plan();
    assert_eq!(patch(&plan, Side::Crm).keys().collect::<Vec<_>>(), [&FieldKey::Location], "{plan}");
}

// ---------------------------------------------------------------------------------------------
// Echoes and version-only changes.

#[test]
fn echo_of_a_known_version_plans_nothing() {
    let mut fx = Fx::contacts();
    fx.pair("003A", &ada(), "AAMk1", &ada());
    fx.change(Side::Crm, upsert("003A", "c1", ada()));
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", ada()));
    let plan = fx.plan();
    assert!(plan.is_noop(), "{plan}\n{:?}", plan.states);
    assert_eq!(plan.echoes_suppressed, 2);
}

#[test]
fn version_only_change_refreshes_state_without_writing() {
    let mut fx = Fx::contacts();
    let pair = fx.pair("003A", &ada(), "AAMk1", &ada());
    fx.change(Side::Mailbox, upsert("AAMk1", "m2", ada()));
    let plan = fx.plan();
    assert_eq!(plan.writes().count(), 0, "{plan}");
    assert!(plan.operations.is_empty());
    let state = put(&plan, &pair);
    assert_eq!(state.mailbox.version.as_str(), "m2");
    assert_eq!(state.mailbox.fields, fx.pairs[0].mailbox.fields);
    assert_eq!(plan.echoes_suppressed, 0);
}

#[test]
fn created_record_comes_back_as_an_echo() {
    let mut sim = Sim::new(ObjectKind::Contact, ObjectConfig::default());
    let a = sim.insert(Side::Crm, ada());
    let first = sim.cycle();
    assert_eq!(ops(&first, "create").len(), 1);
    let second = sim.cycle();
    assert!(second.is_noop(), "{second}");
    assert_eq!(second.echoes_suppressed, 1);
    // An update round trip too.
    sim.edit(Side::Crm, &a, |r| r.set(&FieldKey::Title, text("Countess")).unwrap());
    assert_eq!(sim.cycle().writes().count(), 1);
    let echo = sim.cycle();
    assert!(echo.is_noop(), "{echo}");
    assert_eq!(echo.echoes_suppressed, 1);
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
}

// ---------------------------------------------------------------------------------------------
// Conflicts.

/// A synced pair where the CRM changed given name and title and the mailbox changed given name
/// and department, the mailbox later when `mailbox_later`.
fn conflict_fx(strategy: ConflictStrategy, fallback: Side, mailbox_later: Option<bool>) -> (Fx, IdempotencyKey) {
    let mut fx = Fx::contacts();
    fx.config.conflicts = ConflictPolicy { strategy, fallback };
    let pair = fx.pair("003A", &ada(), "AAMk1", &ada());
    let crm = with(with(ada(), FieldKey::GivenName, text("Augusta")), FieldKey::Title, text("CTO"));
    let mailbox = with(with(ada(), FieldKey::GivenName, text("Ada B.")), FieldKey::Department, text("R&D"));
    let (mut c, mut m) = (upsert("003A", "c2", crm), upsert("AAMk1", "m2", mailbox));
    if let Some(later) = mailbox_later {
        let (early, late) = (epoch_plus(3 * DAY), epoch_plus(4 * DAY));
        c = c.at(if later { early } else { late });
        m = m.at(if later { late } else { early });
    }
    fx.change(Side::Crm, c);
    fx.change(Side::Mailbox, m);
    (fx, pair)
}

fn conflict(plan: &Plan) -> (Vec<FieldKey>, Resolution) {
    match ops(plan, "conflict").as_slice() {
        [Action::Conflict { fields, resolution }] => (fields.clone(), *resolution),
        other => panic!("expected one conflict, got {other:?}\n{plan}"),
    }
}

#[test]
fn conflict_crm_wins_takes_the_whole_crm_record() {
    let (fx, pair) = conflict_fx(ConflictStrategy::CrmWins, Side::Mailbox, None);
    let plan = fx.plan();
    assert_eq!(conflict(&plan).1, Resolution::Took(Side::Crm));
    assert!(patch(&plan, Side::Crm).is_empty());
    assert_eq!(
        patch(&plan, Side::Mailbox),
        BTreeMap::from([
            (FieldKey::GivenName, text("Augusta")),
            (FieldKey::Title, text("CTO")),
            (FieldKey::Department, None),
        ])
    );
    let state = put(&plan, &pair);
    assert_eq!(
        state.mailbox.fields,
        fx.prints(
            Side::Mailbox,
            &with(with(ada(), FieldKey::GivenName, text("Augusta")), FieldKey::Title, text("CTO"))
        )
    );
}

#[test]
fn conflict_mailbox_wins_takes_the_whole_mailbox_record() {
    let (fx, _) = conflict_fx(ConflictStrategy::MailboxWins, Side::Crm, None);
    let plan = fx.plan();
    assert_eq!(conflict(&plan).1, Resolution::Took(Side::Mailbox));
    assert!(patch(&plan, Side::Mailbox).is_empty());
    assert_eq!(
        patch(&plan, Side::Crm),
        BTreeMap::from([
            (FieldKey::GivenName, text("Ada B.")),
            (FieldKey::Title, None),
            (FieldKey::Department, text("R&D")),
        ])
    );
}

#[test]
fn conflict_newest_wins_follows_modified_at_and_falls_back_on_ties() {
    let (fx, _) = conflict_fx(ConflictStrategy::NewestWins, Side::Crm, Some(true));
    let plan = fx.plan();
    assert_eq!(conflict(&plan).1, Resolution::Took(Side::Mailbox));
    assert!(reasons(&plan, "conflict")[0].contains("mailbox was modified last"));
    assert_eq!(patch(&plan, Side::Crm).get(&FieldKey::GivenName), Some(&text("Ada B.")));

    let (fx, _) = conflict_fx(ConflictStrategy::NewestWins, Side::Mailbox, Some(false));
    let plan = fx.plan();
    assert_eq!(conflict(&plan).1, Resolution::Took(Side::Crm));
    assert_eq!(patch(&plan, Side::Mailbox).get(&FieldKey::GivenName), Some(&text("Augusta")));

    // No times: the fallback decides.
    let (fx, _) = conflict_fx(ConflictStrategy::NewestWins, Side::Mailbox, None);
    assert_eq!(conflict(&fx.plan()).1, Resolution::Took(Side::Mailbox));
}

#[test]
fn conflict_field_merge_keeps_both_sides_edits_and_falls_back_on_the_same_field() {
    let (fx, pair) = conflict_fx(ConflictStrategy::FieldMerge, Side::Crm, None);
    let plan = fx.plan();
    assert_eq!(conflict(&plan), (vec![FieldKey::GivenName], Resolution::Merged { fallback: Side::Crm }));
    assert_eq!(
        patch(&plan, Side::Mailbox),
        BTreeMap::from([(FieldKey::GivenName, text("Augusta")), (FieldKey::Title, text("CTO"))])
    );
    assert_eq!(patch(&plan, Side::Crm), BTreeMap::from([(FieldKey::Department, text("R&D"))]));
    // Both sides end with the same fingerprints.
    let state = put(&plan, &pair);
    assert_eq!(state.crm.fields, state.mailbox.fields);

    let (fx, _) = conflict_fx(ConflictStrategy::FieldMerge, Side::Mailbox, None);
    let plan = fx.plan();
    assert_eq!(conflict(&plan).1, Resolution::Merged { fallback: Side::Mailbox });
    assert_eq!(patch(&plan, Side::Crm).get(&FieldKey::GivenName), Some(&text("Ada B.")));
    assert_eq!(patch(&plan, Side::Mailbox).get(&FieldKey::GivenName), None);
}

#[test]
fn conflict_manual_reports_and_writes_nothing() {
    let (fx, _) = conflict_fx(ConflictStrategy::Manual, Side::Crm, None);
    let plan = fx.plan();
    assert_eq!(conflict(&plan), (vec![FieldKey::GivenName], Resolution::Manual));
    assert_eq!(plan.writes().count(), 0, "{plan}");
    assert!(plan.states.is_empty(), "the state waits for the resolution");
}

#[test]
fn the_same_edit_on_both_sides_is_not_a_conflict() {
    for strategy in [
        ConflictStrategy::Manual,
        ConflictStrategy::CrmWins,
        ConflictStrategy::MailboxWins,
        ConflictStrategy::NewestWins,
        ConflictStrategy::FieldMerge,
    ] {
        let mut fx = Fx::contacts();
        fx.config.conflicts.strategy = strategy;
        let pair = fx.pair("003A", &ada(), "AAMk1", &ada());
        let edited = with(ada(), FieldKey::Title, text("Countess"));
        fx.change(Side::Crm, upsert("003A", "c2", edited.clone()));
        fx.change(Side::Mailbox, upsert("AAMk1", "m2", edited.clone()));
        let plan = fx.plan();
        assert!(plan.operations.is_empty(), "{strategy:?}: {plan}");
        let state = put(&plan, &pair);
        assert_eq!(state.crm.fields, fx.prints(Side::Crm, &edited), "{strategy:?}");
        assert_eq!(state.mailbox.version.as_str(), "m2");
    }
}

// ---------------------------------------------------------------------------------------------
// Deletes.

#[test]
fn unpropagated_delete_unlinks_and_leaves_a_tombstone() {
    let mut fx = Fx::contacts();
    let pair = fx.pair("003A", &ada(), "AAMk1", &ada());
    fx.change(Side::Crm, Change::deleted("003A"));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "unlink"), [&Action::Unlink { survivor: Side::Mailbox, id: RecordId::new("AAMk1") }]);
    assert_eq!(plan.writes().count(), 0);
    assert!(reasons(&plan, "unlink")[0].contains("never re-created on crm"));
    assert_eq!(put(&plan, &pair).tombstone, Some(Side::Crm));
}

#[test]
fn survivor_of_an_unlinked_pair_is_skipped_and_never_recreated() {
    let mut sim = Sim::new(ObjectKind::Contact, ObjectConfig::default());
    let a = sim.insert(Side::Crm, ada());
    sim.cycle();
    sim.cycle();
    let m = sim.partner(Side::Crm, &a).unwrap();
    sim.remove(Side::Crm, &a);
    let unlink = sim.cycle();
    assert_eq!(ops(&unlink, "unlink").len(), 1, "{unlink}");
    sim.edit(Side::Mailbox, &m, |r| r.set(&FieldKey::Title, text("Countess")).unwrap());
    let plan = sim.cycle();
    assert_eq!(ops(&plan, "skip"), [&Action::Skip { side: Side::Mailbox, id: m.clone() }], "{plan}");
    assert_eq!(plan.writes().count(), 0);
    assert_eq!(sim.crm.len(), 0);
    // Deleting the survivor too forgets the pair.
    sim.remove(Side::Mailbox, &m);
    let plan = sim.cycle();
    assert_eq!(plan.writes().count(), 0);
    assert!(matches!(plan.states.values().next(), Some(NextState::Remove)), "{:?}", plan.states);
    assert!(sim.pairs.is_empty());
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
}

#[test]
fn propagated_delete_deletes_with_the_expected_version() {
    let mut fx = Fx::contacts();
    fx.config.deletes = DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: false };
    let pair = fx.pair("003A", &ada(), "AAMk1", &ada());
    fx.change(Side::Crm, Change::deleted("003A"));
    let plan = fx.plan();
    assert_eq!(
        ops(&plan, "delete"),
        [&Action::Delete { target: Side::Mailbox, id: RecordId::new("AAMk1"), expected: Version::new("m1") }]
    );
    assert_eq!(plan.states.get(&pair), Some(&NextState::Remove));

    // The other direction does not propagate here.
    let mut fx = Fx::contacts();
    fx.config.deletes = DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: false };
    fx.pair("003A", &ada(), "AAMk1", &ada());
    fx.change(Side::Mailbox, Change::deleted("AAMk1"));
    let plan = fx.plan();
    assert!(ops(&plan, "delete").is_empty());
    assert_eq!(ops(&plan, "unlink").len(), 1);
}

#[test]
fn delete_beats_a_concurrent_edit() {
    for propagate in [true, false] {
        let mut fx = Fx::contacts();
        fx.config.deletes = DeletePropagation { crm_to_mailbox: propagate, mailbox_to_crm: propagate };
        fx.pair("003A", &ada(), "AAMk1", &ada());
        fx.change(Side::Crm, Change::deleted("003A"));
        fx.change(Side::Mailbox, upsert("AAMk1", "m2", with(ada(), FieldKey::Title, text("Countess"))));
        let plan = fx.plan();
        assert_eq!(conflict(&plan), (vec![FieldKey::Title], Resolution::DeleteWins));
        assert!(ops(&plan, "update").is_empty() && ops(&plan, "create").is_empty(), "{plan}");
        if propagate {
            assert_eq!(
                ops(&plan, "delete"),
                [&Action::Delete { target: Side::Mailbox, id: RecordId::new("AAMk1"), expected: Version::new("m2") }]
            );
        } else {
            assert_eq!(ops(&plan, "unlink").len(), 1);
        }
    }
}

fn many_pairs(fx: &mut Fx, n: usize) {
    for i in 0..n {
        let r = contact(Some("P"), &format!("Person{i}"), Some(&format!("p{i}@example.com")), None);
        fx.pair(&format!("003{i:03}"), &r, &format!("AAMk{i:03}"), &r);
    }
}

#[test]
fn mass_delete_guard_holds_a_majority_of_deletes() {
    let mut fx = Fx::contacts();
    fx.config.deletes = DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: true };
    many_pairs(&mut fx, 100);
    for i in 0..60 {
        fx.change(Side::Crm, Change::deleted(format!("003{i:03}")));
    }
    // An ordinary edit in the same cycle still goes through...
    let r = contact(Some("P"), "Person99", Some("p99@example.com"), None);
    fx.change(Side::Mailbox, upsert("AAMk099", "m2", with(r, FieldKey::Title, text("Boss"))));
    // ...but an edit of a held record's counterpart is not written to the deleted record.
    let r = contact(Some("P"), "Person0", Some("p0@example.com"), None);
    fx.change(Side::Mailbox, upsert("AAMk000", "m2", with(r, FieldKey::Title, text("Boss"))));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "hold_delete").len(), 60, "{plan}");
    assert!(ops(&plan, "delete").is_empty() && ops(&plan, "unlink").is_empty());
    assert!(reasons(&plan, "hold_delete")[0].contains("mass-delete guard"));
    assert_eq!(
        plan.writes().map(|o| o.action.clone()).collect::<Vec<_>>(),
        [Action::Update {
            target: Side::Crm,
            id: RecordId::new("003099"),
            expected: Version::new("c1"),
            patch: vec![tandem_core::plan::FieldChange { field: FieldKey::Title, value: text("Boss") }],
            truncated: vec![],
        }],
        "{plan}"
    );
    assert!(
        plan.states.values().all(|s| matches!(s, NextState::Put(p) if p.crm.id.as_str() == "003099")),
        "held pairs keep their state: {:?}",
        plan.states.keys().count()
    );

    // An administrator approves: the same deletes now go through.
    fx.release = true;
    let plan = fx.plan();
    assert!(ops(&plan, "hold_delete").is_empty());
    assert_eq!(ops(&plan, "delete").len(), 60);
}

#[test]
fn mass_delete_guard_lets_through_exactly_the_approved_deletes() {
    let mut fx = Fx::contacts();
    fx.config.deletes = DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: true };
    fx.config.mass_delete_guard = tandem_core::config::MassDeleteGuard { max_share: 0.2, min_records: 10 };
    many_pairs(&mut fx, 100);
    // 60 deletes were held and approved one by one; 40 more arrive in the same cycle.
    for i in 0..60 {
        fx.approved.insert((Side::Crm, RecordId::new(format!("003{i:03}"))));
    }
    for i in 0..100 {
        fx.change(Side::Crm, Change::deleted(format!("003{i:03}")));
    }
    let plan = fx.plan();
    assert_eq!(ops(&plan, "delete").len(), 60, "exactly the approved ones: {plan}");
    // The dry-run listing: one line per operation, each with its kind, side, record and reason.
    let lines: Vec<_> = plan.planned_operations().collect();
    assert_eq!(lines.len(), plan.operations.len());
    assert!(lines.iter().all(|l| l.side.is_some() && l.record_id.is_some() && !l.reason.is_empty()));
    assert_eq!(lines.iter().filter(|l| l.kind == "hold_delete").count(), 40);
    let listing = plan.listing().indented("  ").to_string();
    assert_eq!(listing.lines().count(), plan.operations.len());
    assert!(listing.lines().all(|l| l.starts_with("  ") && l.contains(": ")), "{listing}");
    assert_eq!(ops(&plan, "hold_delete").len(), 40, "the others are a mass delete of their own: {plan}");
    assert!(ops(&plan, "hold_delete").iter().all(|a| !matches!(a, Action::HoldDelete { id, .. }
            if fx.approved.contains(&(Side::Crm, id.clone())))));
    // A few new deletes beside the approved ones are judged on their own, not held.
    fx.crm.truncate(65);
    let plan = fx.plan();
    assert_eq!(ops(&plan, "delete").len(), 65, "{plan}");
    assert!(ops(&plan, "hold_delete").is_empty(), "5 new deletes are no mass delete: {plan}");
    // Approvals of another side's records let nothing through.
    fx.approved = (0..60).map(|i| (Side::Mailbox, RecordId::new(format!("003{i:03}")))).collect();
    let plan = fx.plan();
    assert_eq!(ops(&plan, "hold_delete").len(), 65, "{plan}");
}

#[test]
fn mass_delete_guard_ignores_small_numbers() {
    let mut fx = Fx::contacts();
    fx.config.deletes = DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: true };
    many_pairs(&mut fx, 8);
    for i in 0..5 {
        fx.change(Side::Mailbox, Change::deleted(format!("AAMk{i:03}")));
    }
    let plan = fx.plan();
    assert!(ops(&plan, "hold_delete").is_empty(), "{plan}");
    assert_eq!(ops(&plan, "delete").len(), 5);
}

// ---------------------------------------------------------------------------------------------
// Direction and filters.

#[test]
fn one_way_crm_to_mailbox_ignores_mailbox_edits_and_creates() {
    let mut fx = Fx::contacts();
    fx.config.direction = Direction::CrmToMailbox;
    fx.pair("003A", &ada(), "AAMk1", &ada());
    fx.change(Side::Mailbox, upsert("AAMk1", "m2", with(ada(), FieldKey::Title, text("Countess"))));
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", contact(None, "Babbage", Some("cb@example.com"), None)));
    fx.change(Side::Crm, upsert("003B", "c1", contact(None, "Somerville", Some("ms@example.com"), None)));
    let plan = fx.plan();
    assert!(plan.writes().all(|o| o.action.target() == Some(Side::Mailbox)), "{plan}");
    assert_eq!(ops(&plan, "skip"), [&Action::Skip { side: Side::Mailbox, id: RecordId::new("AAMk1") }]);
    match ops(&plan, "create").as_slice() {
        [Action::Create { target: Side::Mailbox, source_id, .. }] => assert_eq!(source_id.as_str(), "003B"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn direction_off_plans_nothing() {
    let mut fx = Fx::contacts();
    fx.config.direction = Direction::Off;
    fx.pair("003A", &ada(), "AAMk1", &ada());
    fx.change(Side::Crm, Change::deleted("003A"));
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", ada()));
    assert!(fx.plan().is_noop());
}

#[test]
fn filtered_out_new_record_is_skipped() {
    let mut fx = Fx::contacts();
    fx.config.crm_filter =
        Some(Filter::Field { field: FieldKey::Emails, op: FilterOp::EndsWith, value: Some("@example.com".into()) });
    fx.change(Side::Crm, upsert("003A", "c1", contact(None, "Outsider", Some("x@elsewhere.org"), None)));
    fx.change(Side::Crm, upsert("003B", "c1", ada()));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "skip"), [&Action::Skip { side: Side::Crm, id: RecordId::new("003A") }]);
    assert_eq!(reasons(&plan, "skip"), ["excluded by the crm filter"]);
    assert_eq!(ops(&plan, "create").len(), 1);
}

#[test]
fn a_write_to_a_record_that_left_the_filter_expects_its_current_version() {
    let mut fx = Fx::contacts();
    fx.config.crm_filter = Some(Filter::Field { field: FieldKey::Company, op: FilterOp::IsSet, value: None });
    fx.pair("003A", &ada(), "AAMk1", &ada());
    // The CRM record loses its company (and so the filter); the mailbox changes the title.
    fx.change(Side::Crm, upsert("003A", "c2", with(ada(), FieldKey::Company, None)));
    fx.change(Side::Mailbox, upsert("AAMk1", "m2", with(ada(), FieldKey::Title, text("Countess"))));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "skip"), [&Action::Skip { side: Side::Crm, id: RecordId::new("003A") }]);
    assert!(patch(&plan, Side::Mailbox).is_empty(), "the CRM's edit is not sent: {plan}");
    match ops(&plan, "update").as_slice() {
        [Action::Update { target: Side::Crm, expected, .. }] => assert_eq!(expected.as_str(), "c2"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Capabilities.

fn with_assistant(record: Record) -> Record {
    with(record, FieldKey::Phone(PhoneKind::Assistant), Some(FieldValue::List(vec!["+1 555 0100".into()])))
}

#[test]
fn a_field_the_mailbox_cannot_hold_is_never_cleared_on_the_crm() {
    let cases = [
        (ConflictStrategy::FieldMerge, Side::Mailbox),
        (ConflictStrategy::MailboxWins, Side::Crm),
        (ConflictStrategy::NewestWins, Side::Mailbox),
        (ConflictStrategy::CrmWins, Side::Crm),
    ];
    for (strategy, fallback) in cases {
        // The mailbox edits a field, alone, or together with a CRM edit (a conflict).
        for crm_edits_too in [false, true] {
            let mut fx = Fx::contacts();
            fx.config.conflicts = ConflictPolicy { strategy, fallback };
            fx.mailbox_caps = fx.mailbox_caps.clone().without(FieldKey::Phone(PhoneKind::Assistant));
            fx.pair("003A", &with_assistant(ada()), "AAMk1", &ada());
            if crm_edits_too {
                // The CRM changes the very field the mailbox cannot hold.
                let crm = with(
                    ada(),
                    FieldKey::Phone(PhoneKind::Assistant),
                    Some(FieldValue::List(vec!["+1 555 0199".into()])),
                );
                fx.change(
                    Side::Crm,
                    upsert("003A", "c2", with(crm, FieldKey::Notes, text("met at the Royal Society"))),
                );
            }
            fx.change(Side::Mailbox, upsert("AAMk1", "m2", with(ada(), FieldKey::Title, text("Countess"))));
            let plan = fx.plan();
            let to_crm = patch(&plan, Side::Crm);
            assert!(
                !to_crm.contains_key(&FieldKey::Phone(PhoneKind::Assistant)),
                "{strategy:?}/{fallback:?}/{crm_edits_too}: {plan}"
            );
            assert!(!patch(&plan, Side::Mailbox).contains_key(&FieldKey::Phone(PhoneKind::Assistant)));
        }
    }
}

#[test]
fn assistant_phone_survives_many_mailbox_edits() {
    let mailbox = ObjectCapabilities::everything(ObjectKind::Contact).without(FieldKey::Phone(PhoneKind::Assistant));
    let crm = ObjectCapabilities::everything(ObjectKind::Contact);
    let mut sim = Sim::with_caps(ObjectKind::Contact, ObjectConfig::default(), crm, mailbox);
    let a = sim.insert(Side::Crm, with_assistant(ada()));
    sim.settle(3).unwrap();
    let m = sim.partner(Side::Crm, &a).unwrap();
    assert_eq!(sim.mailbox.get(&m).unwrap().get(&FieldKey::Phone(PhoneKind::Assistant)), None);
    for title in ["Countess", "Analyst", "Programmer"] {
        sim.edit(Side::Mailbox, &m, |r| r.set(&FieldKey::Title, text(title)).unwrap());
        sim.settle(3).unwrap();
    }
    let crm_record = sim.crm.get(&a).unwrap();
    assert_eq!(crm_record.get(&FieldKey::Title), text("Programmer"));
    assert!(crm_record.get(&FieldKey::Phone(PhoneKind::Assistant)).is_some());
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
}

/// Issue 8: a mailbox contact with a business and an other address, synced to a CRM that holds
/// only a business address. Each address kind is its own field: the CRM's copy reads back quiet,
/// a CRM edit of the business address patches only the mailbox's business address, and the other
/// address is never converted nor blanked.
#[test]
fn an_address_kind_the_crm_cannot_hold_is_never_converted_or_blanked() {
    use tandem_core::model::{AddressKind, PostalAddress};
    let [work, home, other] = AddressKind::ALL.map(FieldKey::Address);
    let at = |kind, city: &str| {
        Some(FieldValue::Addresses(vec![PostalAddress { kind, city: Some(city.into()), ..PostalAddress::default() }]))
    };
    let crm = ObjectCapabilities::everything(ObjectKind::Contact)
        .without(home.clone())
        .without(other.clone())
        .with_max_items(work.clone(), 1);
    let mailbox = ObjectCapabilities::everything(ObjectKind::Contact)
        .with_max_items(work.clone(), 1)
        .with_max_items(home.clone(), 1)
        .with_max_items(other.clone(), 1);
    let mut sim = Sim::with_caps(ObjectKind::Contact, ObjectConfig::default(), crm, mailbox);
    let both = with(
        with(ada(), work.clone(), at(AddressKind::Work, "Worktown")),
        other.clone(),
        at(AddressKind::Other, "Otherville"),
    );
    let m = sim.insert(Side::Mailbox, both);
    let first = sim.cycle();
    assert_eq!(ops(&first, "create").len(), 1, "{first}");
    let c = sim.partner(Side::Mailbox, &m).unwrap();
    let crm_copy = sim.crm.get(&c).unwrap().clone();
    assert_eq!(crm_copy.get(&work), at(AddressKind::Work, "Worktown"));
    assert_eq!(crm_copy.get(&other), None, "the other address is not written into the CRM's one address");

    // Quiet: the CRM copy read back under a new version (Salesforce reports none after a write)
    // is not an edit, and neither side is written.
    sim.touch(Side::Crm, &c);
    let writes = sim.writes;
    for _ in 0..3 {
        let quiet = sim.cycle();
        assert_eq!(quiet.writes().count(), 0, "{quiet}");
    }
    assert_eq!(sim.writes, writes);

    // A CRM edit of the business address patches the mailbox's business address only.
    sim.edit(Side::Crm, &c, |r| r.set(&work, at(AddressKind::Work, "Movedtown")).unwrap());
    let edit = sim.cycle();
    let to_mailbox = patch(&edit, Side::Mailbox);
    assert_eq!(to_mailbox.keys().collect::<Vec<_>>(), [&work], "{edit}");
    assert!(patch(&edit, Side::Crm).is_empty(), "{edit}");
    let mb = sim.mailbox.get(&m).unwrap();
    assert_eq!(mb.get(&work), at(AddressKind::Work, "Movedtown"));
    assert_eq!(mb.get(&other), at(AddressKind::Other, "Otherville"), "never blanked");
    assert_eq!(mb.get(&home), None, "never converted");

    // And quiet again.
    let writes = sim.writes;
    for _ in 0..3 {
        let quiet = sim.cycle();
        assert_eq!(quiet.writes().count(), 0, "{quiet}");
    }
    assert_eq!(sim.writes, writes);
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
    assert!(sim.divergences().is_empty(), "{:?}", sim.divergences());
}

/// State written before addresses were one field per kind has no per-kind fingerprints (the old
/// single `addresses` print is dropped when read): the pair's next change re-sends the address
/// kinds the target holds, once, and never blanks or converts the others.
#[test]
fn a_pair_stored_without_address_prints_re_sends_its_addresses_once() {
    use tandem_core::model::{AddressKind, PostalAddress};
    let [work, home, other] = AddressKind::ALL.map(FieldKey::Address);
    let at = |kind, city: &str| {
        Some(FieldValue::Addresses(vec![PostalAddress { kind, city: Some(city.into()), ..PostalAddress::default() }]))
    };
    let mut fx = Fx::contacts();
    fx.crm_caps = fx.crm_caps.clone().without(home.clone()).without(other.clone());
    let crm = with(ada(), work.clone(), at(AddressKind::Work, "Worktown"));
    let mailbox = with(crm.clone(), other.clone(), at(AddressKind::Other, "Otherville"));
    let pair = fx.pair("003A", &crm, "AAMk1", &mailbox);
    for state in &mut fx.pairs {
        for key in [&work, &home, &other] {
            state.crm.fields.remove(key);
            state.mailbox.fields.remove(key);
        }
    }
    fx.change(Side::Mailbox, upsert("AAMk1", "m2", with(mailbox, FieldKey::Title, text("Countess"))));
    let plan = fx.plan();
    let to_crm = patch(&plan, Side::Crm);
    assert_eq!(to_crm.keys().collect::<Vec<_>>(), [&FieldKey::Title, &work], "{plan}");
    assert_eq!(to_crm[&work], at(AddressKind::Work, "Worktown"), "the value the CRM already holds");
    assert!(patch(&plan, Side::Mailbox).is_empty(), "{plan}");
    // The next state has per-kind prints again.
    let next = put(&plan, &pair);
    assert!(next.crm.fields.contains_key(&work) && next.mailbox.fields.contains_key(&other), "{next:?}");
}

/// A create's next state holds, for its target, the prints of what is written there (what
/// `fingerprints` gives, which recovery compares with): copied from the source's when the copy is
/// the source as it was and both sides print the same fields, printed again otherwise.
#[test]
fn a_creates_target_prints_are_those_of_what_it_writes() {
    use tandem_core::model::{Attendee, AttendeeRole, ResponseStatus};
    use tandem_core::planner::fingerprints;

    let long = with(ada(), FieldKey::Notes, text("first computer programmer"));
    let mut meeting =
        event("Review", chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(9, 0, 0).unwrap(), 30);
    if let Record::Event(e) = &mut meeting {
        e.attendees.push(Attendee {
            email: "bob@example.com".into(),
            name: Some("Bob".into()),
            role: AttendeeRole::Required,
            response: ResponseStatus::Accepted,
        });
    }
    let cases: Vec<(&str, Fx, Record)> = vec![
        ("same fields, copied as it is", Fx::contacts(), long.clone()),
        (
            "same fields, a value shortened",
            {
                let mut fx = Fx::contacts();
                fx.mailbox_caps = fx.mailbox_caps.clone().with_limit(FieldKey::Notes, Some(10), false);
                fx
            },
            long.clone(),
        ),
        (
            "a field the target lacks",
            {
                let mut fx = Fx::contacts();
                fx.mailbox_caps = fx.mailbox_caps.clone().without(FieldKey::Notes);
                fx
            },
            long,
        ),
        (
            "a field the target lacks, empty in the record",
            {
                let mut fx = Fx::contacts();
                fx.mailbox_caps = fx.mailbox_caps.clone().without(FieldKey::Notes);
                fx
            },
            ada(),
        ),
        ("an event with an attendee", Fx::events(), meeting),
    ];
    for (case, mut fx, record) in cases {
        fx.change(Side::Crm, upsert("003A", "c1", record.clone()));
        let plan = fx.plan();
        let (key, written) = match plan.operations.iter().find_map(|o| match &o.action {
            Action::Create { key, record, target: Side::Mailbox, .. } => Some((key.clone(), record.clone())),
            _ => None,
        }) {
            Some(create) => create,
            None => panic!("{case}: no create\n{plan}"),
        };
        let next = put(&plan, &key);
        let expected = fingerprints(&fx.config, &fx.mailbox_caps, Side::Mailbox, &written);
        assert_eq!(next.mailbox.fields, expected, "{case}");
        assert_eq!(next.crm.fields, fingerprints(&fx.config, &fx.crm_caps, Side::Crm, &record), "{case}");
    }
}

#[test]
fn values_are_shortened_to_fit_and_reported() {
    let mut fx = Fx::contacts();
    fx.mailbox_caps = fx.mailbox_caps.clone().with_limit(FieldKey::Notes, Some(10), false);
    let long = with(ada(), FieldKey::Notes, text("first computer programmer"));
    fx.change(Side::Crm, upsert("003A", "c1", long.clone()));
    let plan = fx.plan();
    match ops(&plan, "create").as_slice() {
        [Action::Create { record, truncated, .. }] => {
            assert_eq!(truncated, &[FieldKey::Notes]);
            assert_eq!(record.get(&FieldKey::Notes), text("first comp"));
        }
        other => panic!("{other:?}"),
    }
    assert!(reasons(&plan, "create")[0].contains("shortened to fit mailbox: [notes]"));

    // And on update.
    let mut fx = Fx::contacts();
    fx.mailbox_caps = fx.mailbox_caps.clone().with_limit(FieldKey::Notes, Some(10), false);
    let pair = fx.pair("003A", &ada(), "AAMk1", &ada());
    fx.change(Side::Crm, upsert("003A", "c2", long));
    let plan = fx.plan();
    match ops(&plan, "update").as_slice() {
        [Action::Update { target: Side::Mailbox, truncated, patch, .. }] => {
            assert_eq!(truncated, &[FieldKey::Notes]);
            assert_eq!(patch[0].value, text("first comp"));
        }
        other => panic!("{other:?}"),
    }
    assert!(plan.to_string().contains("(truncated: notes)"));
    // Each side keeps the fingerprint of what it holds.
    let state = put(&plan, &pair);
    assert_eq!(state.mailbox.fields[&FieldKey::Notes], fingerprint(text("first comp").as_ref()));
    assert_eq!(state.crm.fields[&FieldKey::Notes], fingerprint(text("first computer programmer").as_ref()));
}

#[test]
fn create_lacking_a_required_field_is_quarantined() {
    let mut fx = Fx::contacts();
    fx.crm_caps = fx.crm_caps.clone().with_limit(FieldKey::Company, None, true);
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", contact(Some("Ada"), "Lovelace", Some("ada@example.com"), None)));
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", contact(None, "Babbage", Some("cb@example.com"), Some("Engines"))));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "quarantine"), [&Action::Quarantine { side: Side::Mailbox, id: RecordId::new("AAMk1") }]);
    assert_eq!(reasons(&plan, "quarantine"), ["cannot create on crm: it requires [company]"]);
    assert_eq!(ops(&plan, "create").len(), 1);
}

#[test]
fn event_longer_than_the_target_accepts_is_quarantined() {
    let mut fx = Fx::events();
    fx.crm_caps.max_event_minutes = Some(14 * 24 * 60);
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", event("Sabbatical", at(9, 0), 15 * 24 * 60)));
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", event("Fortnight", at(9, 0), 14 * 24 * 60)));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "quarantine"), [&Action::Quarantine { side: Side::Mailbox, id: RecordId::new("AAMk1") }]);
    assert!(reasons(&plan, "quarantine")[0].contains("lasts 21600 minutes; crm accepts at most 20160"));
    assert_eq!(ops(&plan, "create").len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Invalid input.

#[test]
fn invalid_records_are_quarantined_and_the_rest_proceeds() {
    let mut fx = Fx::events();
    let mut backwards = event("Backwards", at(10, 0), 60);
    let mut nowhere = event("Nowhere", at(10, 0), 60);
    if let (Record::Event(b), Record::Event(n)) = (&mut backwards, &mut nowhere) {
        std::mem::swap(&mut b.timing.start, &mut b.timing.end);
        n.timing.start = EventTime::Zoned { local: at(10, 0), zone: "Mars/Olympus_Mons".into() };
    }
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", backwards));
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", nowhere));
    fx.change(
        Side::Crm,
        Change {
            id: RecordId::new("00U1"),
            version: Version::new("c1"),
            modified_at: None,
            sync_key: None,
            kind: ChangeKind::Invalid { reason: "unparseable RRULE".into() },
        },
    );
    fx.change(Side::Crm, upsert("00U2", "c1", event("Fine", at(12, 0), 30)));
    let plan = fx.plan();
    let quarantined: BTreeMap<String, String> = plan
        .operations
        .iter()
        .filter_map(|o| match &o.action {
            Action::Quarantine { id, .. } => Some((id.to_string(), o.reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(quarantined.len(), 3, "{plan}");
    assert_eq!(quarantined["AAMk1"], "invalid record: event ends before it starts");
    assert_eq!(quarantined["AAMk2"], "invalid record: unknown time zone `Mars/Olympus_Mons`");
    assert_eq!(quarantined["00U1"], "unreadable record: unparseable RRULE");
    assert_eq!(ops(&plan, "create").len(), 1);
}

fn region_config() -> ObjectConfig {
    let mut config = ObjectConfig::default();
    config.fields.custom =
        vec![CustomFieldMapping { name: "sales_region".into(), crm: "Region__c".into(), mailbox: "region".into() }];
    config
}

#[test]
fn control_characters_in_a_custom_field_quarantine_a_paired_record_only() {
    let mut fx = Fx::new(ObjectKind::Contact, region_config());
    fx.pair("003A", &ada(), "AAMk1", &ada());
    let mut bad = ada();
    bad.custom_mut().insert("Region__c".into(), "EMEA\u{0}".into());
    fx.change(Side::Crm, upsert("003A", "c2", bad));
    fx.change(Side::Crm, upsert("003B", "c1", contact(None, "Babbage", Some("cb@example.com"), None)));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "quarantine"), [&Action::Quarantine { side: Side::Crm, id: RecordId::new("003A") }]);
    assert!(reasons(&plan, "quarantine")[0].contains("custom.sales_region"), "{plan}");
    assert_eq!(ops(&plan, "create").len(), 1);
    assert_eq!(plan.states.len(), 1, "the quarantined pair's state is left alone");
}

// ---------------------------------------------------------------------------------------------
// Custom fields, sync keys, idempotency, display.

#[test]
fn custom_fields_are_renamed_in_both_directions() {
    let mut fx = Fx::new(ObjectKind::Contact, region_config());
    let mut crm = ada();
    crm.custom_mut().insert("Region__c".into(), "EMEA".into());
    crm.custom_mut().insert("Secret__c".into(), "not mapped".into());
    fx.change(Side::Crm, upsert("003A", "c1", crm));
    let plan = fx.plan();
    match ops(&plan, "create").as_slice() {
        [Action::Create { record, .. }] => {
            assert_eq!(record.custom(), &BTreeMap::from([("region".to_owned(), "EMEA".to_owned())]));
        }
        other => panic!("{other:?}"),
    }

    let mut fx = Fx::new(ObjectKind::Contact, region_config());
    let mut crm = ada();
    crm.custom_mut().insert("Region__c".into(), "EMEA".into());
    let mut mailbox = ada();
    mailbox.custom_mut().insert("region".into(), "EMEA".into());
    fx.pair("003A", &crm, "AAMk1", &mailbox);
    mailbox.custom_mut().insert("region".into(), "APAC".into());
    fx.change(Side::Mailbox, upsert("AAMk1", "m2", mailbox));
    let plan = fx.plan();
    assert_eq!(patch(&plan, Side::Crm), BTreeMap::from([(FieldKey::Custom("Region__c".into()), text("APAC"))]));
    assert!(plan.to_string().contains("update crm 003A [custom.Region__c]"), "{plan}");
}

#[test]
fn a_tandem_copy_without_a_pair_is_not_copied_back() {
    let mut fx = Fx::contacts();
    let mut change = upsert("AAMk1", "m1", ada());
    change.sync_key = Some(IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003gone")));
    fx.change(Side::Mailbox, change);
    let plan = fx.plan();
    assert_eq!(ops(&plan, "skip"), [&Action::Skip { side: Side::Mailbox, id: RecordId::new("AAMk1") }]);
    assert!(reasons(&plan, "skip")[0].contains("no longer mapped"));
    assert_eq!(plan.writes().count(), 0);
}

#[test]
fn a_tandem_copy_links_back_to_its_source() {
    // The create went through but its state was lost: the copy carries the key derived from its
    // source, and the two are linked rather than copied again.
    let mut fx = Fx::contacts();
    fx.change(Side::Crm, upsert("003A", "c1", ada()));
    let mut copy = upsert("AAMk9", "m1", with(ada(), FieldKey::Emails, None));
    copy.sync_key = Some(IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003A")));
    fx.change(Side::Mailbox, copy);
    // A record matching by email must not steal the copy's place.
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", ada()));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "link"), [&Action::Link { crm: RecordId::new("003A"), mailbox: RecordId::new("AAMk9") }]);
    assert_eq!(reasons(&plan, "link"), ["matched: created by Tandem from it"]);
}

#[test]
fn creates_carry_a_deterministic_idempotency_key() {
    let mut fx = Fx::contacts();
    fx.change(Side::Crm, upsert("003A", "c1", ada()));
    let (one, two) = (fx.plan(), fx.plan());
    assert_eq!(one, two);
    let expected = IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003A"));
    match ops(&one, "create").as_slice() {
        [Action::Create { key, target: Side::Mailbox, .. }] => assert_eq!(key, &expected),
        other => panic!("{other:?}"),
    }
    assert_eq!(one.operations[0].pair.as_ref(), Some(&expected));
    let state = put(&one, &expected);
    assert!(state.mailbox.id.is_pending());
    assert_eq!(state.crm.id.as_str(), "003A");
    assert_eq!(state.synced_at, now());
}

#[test]
fn plan_display_lists_each_operation_with_its_reason() {
    let mut fx = Fx::contacts();
    fx.pair("003A", &ada(), "AAMk1", &ada());
    fx.change(Side::Crm, Change::deleted("003A"));
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", contact(None, "Babbage", Some("cb@example.com"), None)));
    let plan = fx.plan();
    let shown = plan.to_string();
    assert!(shown.starts_with("plan for contacts: 2 operation(s)"), "{shown}");
    for op in &plan.operations {
        assert!(shown.contains(&op.reason), "{shown}");
    }
    assert!(shown.contains("create on crm from mailbox AAMk2: new on mailbox; no match on crm"), "{shown}");
    assert!(shown.contains("unlink, keeping mailbox AAMk1: deleted on crm"), "{shown}");
}

#[test]
fn a_tombstone_outlives_time() {
    // Many cycles later, a survivor edit is still skipped and the deleted side stays empty.
    let mut sim = Sim::new(ObjectKind::Contact, ObjectConfig::default());
    let m = sim.insert(Side::Mailbox, ada());
    sim.settle(3).unwrap();
    let a = sim.partner(Side::Mailbox, &m).unwrap();
    sim.remove(Side::Crm, &a);
    sim.settle(3).unwrap();
    for i in 0..5 {
        sim.edit(Side::Mailbox, &m, |r| r.set(&FieldKey::Notes, text(&format!("edit {i}"))).unwrap());
        sim.clock += TimeDelta::days(30).num_seconds();
        let plan = sim.cycle();
        assert_eq!(ops(&plan, "skip").len(), 1);
        assert_eq!(plan.writes().count(), 0);
    }
    assert_eq!(sim.crm.len(), 0);
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
}

#[test]
fn held_deletes_wait_until_released_then_converge() {
    let config = ObjectConfig {
        deletes: DeletePropagation { crm_to_mailbox: true, mailbox_to_crm: true },
        ..ObjectConfig::default()
    };
    let mut sim = Sim::new(ObjectKind::Contact, config);
    let ids: Vec<RecordId> = (0..20)
        .map(|i| sim.insert(Side::Crm, contact(None, &format!("Person{i}"), Some(&format!("p{i}@example.com")), None)))
        .collect();
    sim.settle(3).unwrap();
    assert_eq!((sim.mailbox.len(), sim.live_pairs()), (20, 20));
    for id in &ids[..15] {
        sim.remove(Side::Crm, id);
    }
    let partner = sim.pairs.values().find(|p| p.crm.id == ids[0]).unwrap().mailbox.id.clone();
    sim.edit(Side::Mailbox, &partner, |r| r.set(&FieldKey::Title, text("Boss")).unwrap());
    for _ in 0..3 {
        let plan = sim.cycle();
        assert_eq!(ops(&plan, "hold_delete").len(), 15, "{plan}");
        assert_eq!(plan.writes().count(), 0, "{plan}");
    }
    assert_eq!(sim.mailbox.len(), 20);
    sim.release_held_deletes = true;
    sim.settle(4).unwrap();
    assert_eq!((sim.crm.len(), sim.mailbox.len(), sim.live_pairs()), (5, 5, 5));
    assert!(sim.divergences().is_empty(), "{:?}", sim.divergences());
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
}

#[test]
fn a_lost_create_is_recovered_by_its_key_before_any_email_match() {
    // Two CRM contacts share an address. The first one's create fails, the second one's create
    // succeeds but the response is lost. Next cycle, the second one's copy must be linked to it
    // (it carries its key), not claimed by the first one by email.
    let mut sim = Sim::new(ObjectKind::Contact, ObjectConfig::default());
    let first = sim.insert(Side::Crm, contact(Some("Ada"), "Lovelace", Some("shared@example.com"), None));
    let second = sim.insert(Side::Crm, contact(Some("Augusta"), "King", Some("shared@example.com"), None));
    let faults = sim::Faults { fail: [0].into(), lose: [1].into() };
    let plan = sim.cycle_with(&faults, |_| {});
    assert_eq!(ops(&plan, "create").len(), 2);
    assert_eq!(sim.mailbox.len(), 1);
    let recovery = sim.cycle();
    assert!(sim.violations.is_empty(), "{recovery}\n{:#?}", sim.violations);
    let copy = sim.mailbox.ids()[0].clone();
    assert_eq!(sim.partner(Side::Crm, &second), Some(copy), "{recovery}");
    assert!(reasons(&recovery, "link").iter().all(|r| r == "matched: created by Tandem from it"), "{recovery}");
    sim.settle(3).unwrap();
    assert_eq!((sim.mailbox.len(), sim.live_pairs()), (2, 2));
    assert!(sim.partner(Side::Crm, &first).is_some());
    assert!(sim.divergences().is_empty(), "{:?}", sim.divergences());
    assert!(sim.violations.is_empty(), "{:#?}", sim.violations);
}

#[test]
fn custom_field_limits_are_declared_under_the_sides_own_names() {
    let mut fx = Fx::new(ObjectKind::Contact, region_config());
    fx.crm_caps = fx.crm_caps.clone().with_limit(FieldKey::Custom("Region__c".into()), Some(4), false);
    let mut mailbox = ada();
    mailbox.custom_mut().insert("region".into(), "Americas".into());
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", mailbox.clone()));
    let plan = fx.plan();
    match ops(&plan, "create").as_slice() {
        [Action::Create { record, truncated, .. }] => {
            assert_eq!(record.custom().get("Region__c").map(String::as_str), Some("Amer"));
            assert_eq!(truncated, &[FieldKey::Custom("sales_region".into())]);
        }
        other => panic!("{other:?}"),
    }

    // A custom field the CRM requires.
    let mut fx = Fx::new(ObjectKind::Contact, region_config());
    fx.crm_caps = fx.crm_caps.clone().with_limit(FieldKey::Custom("Region__c".into()), None, true);
    fx.change(Side::Mailbox, upsert("AAMk1", "m1", ada()));
    fx.change(Side::Mailbox, upsert("AAMk2", "m1", mailbox));
    let plan = fx.plan();
    assert_eq!(ops(&plan, "quarantine"), [&Action::Quarantine { side: Side::Mailbox, id: RecordId::new("AAMk1") }]);
    assert_eq!(reasons(&plan, "quarantine"), ["cannot create on crm: it requires [custom.sales_region]"]);
    assert_eq!(ops(&plan, "create").len(), 1);
}

#[test]
fn text_cut_down_to_blanks_is_absent_and_never_wipes_the_source() {
    let mailbox = ObjectCapabilities::everything(ObjectKind::Contact).with_limit(FieldKey::Notes, Some(3), false);
    let crm = ObjectCapabilities::everything(ObjectKind::Contact);
    let mut sim = Sim::with_caps(ObjectKind::Contact, ObjectConfig::default(), crm, mailbox);
    let notes = "\n\n\nMet Babbage in 1833";
    let a = sim.insert(Side::Crm, with(ada(), FieldKey::Notes, text(notes)));
    let create = sim.cycle();
    match ops(&create, "create").as_slice() {
        [Action::Create { record, truncated, .. }] => {
            assert_eq!(record.get(&FieldKey::Notes), None);
            assert_eq!(truncated, &[FieldKey::Notes]);
        }
        other => panic!("{other:?}"),
    }
    sim.settle(3).unwrap();
    // An unrelated mailbox edit must not read the blank notes as "cleared on the mailbox".
    let m = sim.partner(Side::Crm, &a).unwrap();
    sim.edit(Side::Mailbox, &m, |r| r.set(&FieldKey::Title, text("Countess")).unwrap());
    sim.settle(3).unwrap();
    let crm_record = sim.crm.get(&a).unwrap();
    assert_eq!(crm_record.get(&FieldKey::Title), text("Countess"));
    assert_eq!(crm_record.get(&FieldKey::Notes), text(notes));
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
}

#[test]
fn linking_differing_records_reports_the_resolution_the_policy_chose() {
    let cases = [
        (ConflictStrategy::CrmWins, Side::Mailbox, None, Resolution::Took(Side::Crm)),
        (ConflictStrategy::MailboxWins, Side::Crm, None, Resolution::Took(Side::Mailbox)),
        (ConflictStrategy::NewestWins, Side::Crm, Some(true), Resolution::Took(Side::Mailbox)),
        (ConflictStrategy::NewestWins, Side::Mailbox, Some(false), Resolution::Took(Side::Crm)),
        (ConflictStrategy::FieldMerge, Side::Mailbox, None, Resolution::Merged { fallback: Side::Mailbox }),
        (ConflictStrategy::Manual, Side::Crm, None, Resolution::Manual),
    ];
    for (strategy, fallback, mailbox_later, expected) in cases {
        let mut fx = Fx::contacts();
        fx.config.conflicts = ConflictPolicy { strategy, fallback };
        let (mut c, mut m) = (
            upsert("003A", "c1", with(ada(), FieldKey::Title, text("Countess"))),
            upsert("AAMk1", "m1", with(ada(), FieldKey::Title, text("Analyst"))),
        );
        if let Some(later) = mailbox_later {
            c = c.at(epoch_plus(if later { DAY } else { 2 * DAY }));
            m = m.at(epoch_plus(if later { 2 * DAY } else { DAY }));
        }
        fx.change(Side::Crm, c);
        fx.change(Side::Mailbox, m);
        let plan = fx.plan();
        assert_eq!(conflict(&plan), (vec![FieldKey::Title], expected), "{strategy:?}: {plan}");
        let winner = match expected {
            Resolution::Took(side) => Some(side),
            Resolution::Merged { fallback } => Some(fallback),
            _ => None,
        };
        match winner {
            Some(w) => assert_eq!(patch(&plan, w.other()).keys().collect::<Vec<_>>(), [&FieldKey::Title], "{plan}"),
            None => assert_eq!(plan.writes().count(), 0),
        }
    }
}

#[test]
fn cut_text_loses_trailing_blanks_and_addresses_that_do_not_fit_are_left_out() {
    use tandem_core::model::{AddressKind, EmailAddress};
    let mut fx = Fx::contacts();
    fx.mailbox_caps = fx.mailbox_caps.clone().with_limit(FieldKey::Title, Some(6), false).with_limit(
        FieldKey::Emails,
        Some(20),
        false,
    );
    let emails = FieldValue::Emails(vec![
        EmailAddress { kind: AddressKind::Work, address: "a.very.long.address@example.com".into() },
        EmailAddress { kind: AddressKind::Home, address: "ada@example.com".into() },
    ]);
    let record = with(with(ada(), FieldKey::Title, text("Chief Technology Officer")), FieldKey::Emails, Some(emails));
    fx.change(Side::Crm, upsert("003A", "c1", record));
    let plan = fx.plan();
    match ops(&plan, "create").as_slice() {
        [Action::Create { record, truncated, .. }] => {
            assert_eq!(record.get(&FieldKey::Title), text("Chief"));
            match record.get(&FieldKey::Emails) {
                Some(FieldValue::Emails(list)) => {
                    assert_eq!(list.len(), 1);
                    assert_eq!(list[0].address, "ada@example.com");
                }
                other => panic!("{other:?}"),
            }
            assert!(truncated.contains(&FieldKey::Title) && truncated.contains(&FieldKey::Emails));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_read_only_field_flows_from_its_side_but_is_never_written_to_it() {
    let mut fx = Fx::contacts();
    fx.crm_caps = fx.crm_caps.clone().with_read_only(FieldKey::Company);
    let acme = with(ada(), FieldKey::Company, text("Acme"));
    let pair = fx.pair("003A", &acme, "AAMk1", &acme);

    // The CRM's value changes (the contact moved to another account): it reaches the mailbox.
    fx.change(Side::Crm, upsert("003A", "c2", with(ada(), FieldKey::Company, text("Globex"))));
    let plan = fx.plan();
    assert_eq!(patch(&plan, Side::Mailbox).get(&FieldKey::Company), Some(&text("Globex")));

    // The mailbox's value changes: nothing is written to the CRM, and the state still says the
    // CRM holds its old value.
    let mut fx = Fx::contacts();
    fx.crm_caps = fx.crm_caps.clone().with_read_only(FieldKey::Company);
    let pair2 = fx.pair("003A", &acme, "AAMk1", &acme);
    fx.change(Side::Mailbox, upsert("AAMk1", "m2", with(ada(), FieldKey::Company, text("Initech"))));
    let plan = fx.plan();
    assert!(ops(&plan, "update").is_empty(), "{plan}");
    let state = put(&plan, &pair2);
    assert_eq!(state.crm.fields[&FieldKey::Company], fingerprint(text("Acme").as_ref()));
    let _ = pair;

    // A mailbox contact copied to the CRM leaves the read-only field out.
    let mut fx = Fx::contacts();
    fx.crm_caps = fx.crm_caps.clone().with_read_only(FieldKey::Company);
    fx.change(Side::Mailbox, upsert("AAMk9", "m1", with(ada(), FieldKey::Company, text("Initech"))));
    let plan = fx.plan();
    match ops(&plan, "create").as_slice() {
        [Action::Create { target: Side::Crm, record, .. }] => assert_eq!(record.get(&FieldKey::Company), None),
        other => panic!("{other:?}"),
    }
}

/// `plan_taking`: the records that creates copy exactly as read move into the plan, and their
/// changes (every report of the record) leave the lists; a record the target shortens, and a
/// record that matches one on the other side, stay where they are.
#[test]
fn plan_taking_moves_only_records_copied_as_they_are() {
    let mut fx = Fx::contacts();
    fx.mailbox_caps = fx.mailbox_caps.clone().with_limit(FieldKey::Notes, Some(10), false);
    let long = with(ada(), FieldKey::Notes, Some(FieldValue::Text("far more than ten characters".into())));
    let grace = contact(Some("Grace"), "Hopper", Some("grace@example.com"), None);
    let older = contact(Some("Alan"), "Turing", None, None);
    let alan = contact(Some("Alan"), "Turing", None, Some("Bletchley"));
    fx.change(Side::Crm, upsert("003A", "v1", ada()))
        .change(Side::Crm, upsert("003L", "v1", long))
        .change(Side::Crm, upsert("003T", "v1", older))
        .change(Side::Crm, upsert("003G", "v1", grace.clone()))
        .change(Side::Crm, upsert("003T", "v2", alan.clone()))
        .change(Side::Mailbox, upsert("AAMk-grace", "m1", grace));
    let (mut crm, mut mailbox) = (fx.crm.clone(), fx.mailbox.clone());
    let index = PairIndex::default();
    let taking_over = |crm: &[Change], mailbox: &[Change]| {
        let input = PlanInput {
            object: fx.object,
            config: &fx.config,
            pairs: &index,
            mapped_pairs: 0,
            crm: SideInput { changes: crm, capabilities: &fx.crm_caps },
            mailbox: SideInput { changes: mailbox, capabilities: &fx.mailbox_caps },
            now: fx.now,
            release_held_deletes: false,
            approved_deletes: &fx.approved,
            mailbox_owner: None,
        };
        tandem_core::planner::plan_taking(&input)
    };
    let taking = taking_over(&crm, &mailbox);
    let plan = taking.take_from(&mut crm, &mut mailbox).unwrap();
    assert_eq!(plan, fx.plan(), "the same plan as plan()");

    let created: BTreeMap<&str, &Record> = plan
        .operations
        .iter()
        .filter_map(|op| match &op.action {
            Action::Create { source_id, record, .. } => Some((source_id.as_str(), &**record)),
            _ => None,
        })
        .collect();
    assert_eq!(created.keys().copied().collect::<Vec<_>>(), ["003A", "003L", "003T"], "Grace is linked, not created");
    assert_eq!(created["003A"], &ada(), "taken whole");
    assert_eq!(created["003T"], &alan, "the last report, taken");
    assert_eq!(created["003L"].get(&FieldKey::Notes), Some(FieldValue::Text("far more t".into())), "shortened: a copy");
    let left: Vec<(&str, &str)> = crm.iter().map(|c| (c.id.as_str(), c.version.as_str())).collect();
    assert_eq!(left, [("003L", "v1"), ("003G", "v1")], "Ada and both reports of Alan moved into the plan");
    assert_eq!(mailbox.len(), 1, "the mailbox's Grace is linked, not copied");

    // Lists other than those planned from are refused, not half-read.
    let taking = taking_over(&fx.crm, &fx.mailbox);
    let mut shuffled: Vec<Change> = fx.crm.iter().rev().cloned().collect();
    let error = taking.take_from(&mut shuffled, &mut fx.mailbox.clone()).unwrap_err();
    assert!(error.to_string().contains("planned from"), "{error}");
}
