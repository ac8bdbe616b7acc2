//! Property tests: random interleaved histories of creates, edits and deletes on both sides, run
//! through plan -> apply cycle after cycle (with write failures, lost responses and edits racing
//! the writes), must converge, stay quiet once converged, never duplicate or resurrect a record,
//! keep concurrent edits to different fields, and plan deterministically.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use chrono::TimeDelta;
use proptest::prelude::*;
use tandem_core::capabilities::ObjectCapabilities;
use tandem_core::config::{
    ConflictPolicy, ConflictStrategy, CustomFieldMapping, DeletePropagation, Direction, ObjectConfig,
};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::filter::{Filter, FilterOp};
use tandem_core::model::{AddressKind, EmailAddress, EventTime, EventTiming, ObjectKind, PhoneKind, Record, ShowAs};
use tandem_core::state::{RecordId, Side};

use sim::{Faults, Sim, at, contact, event};

// ---------------------------------------------------------------------------------------------
// Histories.

const GIVEN: [&str; 4] = ["Ada", "Grace", "Alan", "Edsger"];
const FAMILY: [&str; 4] = ["Lovelace", "Hopper", "Turing", "Dijkstra"];
const COMPANY: [&str; 3] = ["ACME", "Globex Corporation International", "Initech"];
const TITLE: [&str; 4] = ["CTO", "Chief Technology Officer", "Engineer", "Analyst"];
const NOTES: [&str; 4] = ["met at the conference", "prefers email", "x", "\n\n\n  (pasted)"];
const PHONE: [&str; 3] = ["+1 555 0100", "+44 20 7946 0000", "+33 1 23 45 67 89"];
const REGION: [&str; 3] = ["EMEA", "APAC", "Americas"];
const SUBJECT: [&str; 4] = ["Standup", "Quarterly review", "1:1", "Board meeting"];
const PLACE: [&str; 3] = ["Room 1", "Paris office", "Video call"];

#[derive(Debug, Clone, Copy)]
enum Edit {
    /// A field from a small pool of values, or cleared (`None`).
    Field(u8, Option<u8>),
    /// A fresh, unique email address.
    NewEmail,
    /// Only the version changes.
    Touch,
}

/// Which email address (contacts) or iCalendar UID (events) a new record gets.
#[derive(Debug, Clone, Copy)]
enum Ident {
    None,
    /// A fresh one: this record matches nothing.
    Unique,
    /// One of a few shared by everyone, in varying case: new records on both sides match.
    Shared(u8),
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Create {
        side: Side,
        a: u8,
        b: u8,
        c: Option<u8>,
        ident: Ident,
    },
    Edit {
        side: Side,
        pick: u8,
        edit: Edit,
    },
    /// Both records of a pair edited since the last cycle: a conflict when the fields overlap.
    EditBoth {
        pick: u8,
        crm: Edit,
        mailbox: Edit,
    },
    Delete {
        side: Side,
        pick: u8,
    },
}

#[derive(Debug, Clone, Copy)]
enum Step {
    User(Act),
    Cycle,
    /// A cycle during which the user acts between planning and applying.
    CycleDuring(Act),
    /// A cycle where some of the first eight writes fail (bit n: the n-th write) and some are
    /// applied but their responses lost.
    CycleFaulty {
        fail: u8,
        lose: u8,
    },
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Crm), Just(Side::Mailbox)]
}

fn any_act(fields: u8) -> impl Strategy<Value = Act> {
    let edit = prop_oneof![
        6 => (0..fields, proptest::option::weighted(0.8, 0u8..4)).prop_map(|(f, v)| Edit::Field(f, v)),
        1 => Just(Edit::NewEmail),
        1 => Just(Edit::Touch),
    ];
    let ident = prop_oneof![
        1 => Just(Ident::None),
        4 => Just(Ident::Unique),
        2 => (0u8..6).prop_map(Ident::Shared),
    ];
    prop_oneof![
        3 => (side(), 0u8..4, 0u8..4, proptest::option::of(0u8..3), ident)
            .prop_map(|(side, a, b, c, ident)| Act::Create { side, a, b, c, ident }),
        5 => (side(), any::<u8>(), edit.clone()).prop_map(|(side, pick, edit)| Act::Edit { side, pick, edit }),
        2 => (any::<u8>(), edit.clone(), edit).prop_map(|(pick, crm, mailbox)| Act::EditBoth { pick, crm, mailbox }),
        2 => (side(), any::<u8>()).prop_map(|(side, pick)| Act::Delete { side, pick }),
    ]
}

fn steps(fields: u8, max: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        10 => any_act(fields).prop_map(Step::User),
        4 => Just(Step::Cycle),
        1 => any_act(fields).prop_map(Step::CycleDuring),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(fail, lose)| Step::CycleFaulty { fail, lose: lose & !fail }),
    ];
    proptest::collection::vec(step, 1..max)
}

/// Fresh unique email addresses and iCalendar UIDs.
#[derive(Debug, Default)]
struct Counters {
    emails: u32,
    uids: u32,
}

impl Counters {
    fn email(&mut self) -> String {
        self.emails += 1;
        // Mixed case: matching must not care.
        if self.emails.is_multiple_of(2) {
            format!("Person{}@Example.com", self.emails)
        } else {
            format!("person{}@example.com", self.emails)
        }
    }
}

fn pick(sim: &Sim, side: Side, pick: u8) -> Option<RecordId> {
    let ids = sim.side(side).ids();
    (!ids.is_empty()).then(|| ids[pick as usize % ids.len()].clone())
}

/// Plays one user act against a simulation, contacts or events.
fn play(sim: &mut Sim, counters: &mut Counters, act: Act) {
    match act {
        Act::Create { side, a, b, c, ident } => {
            let shared = |n: u8| match n % 3 {
                0 => format!("shared{}@example.com", n / 2),
                1 => format!("SHARED{}@EXAMPLE.COM", n / 2),
                _ => format!("Shared{}@Example.com", n / 2),
            };
            let record = match sim.object {
                ObjectKind::Contact => {
                    let email = match ident {
                        Ident::None => None,
                        Ident::Unique => Some(counters.email()),
                        Ident::Shared(n) => Some(shared(n)),
                    };
                    contact(
                        Some(GIVEN[a as usize % 4]),
                        FAMILY[b as usize % 4],
                        email.as_deref(),
                        c.map(|c| COMPANY[c as usize % 3]),
                    )
                }
                ObjectKind::Event => {
                    let minutes = 30 * (1 + i64::from(c.unwrap_or(1)));
                    let mut r = event(SUBJECT[a as usize % 4], at(8 + u32::from(b), 0), minutes);
                    if let Record::Event(e) = &mut r {
                        e.ical_uid = match ident {
                            Ident::None => None,
                            Ident::Unique => {
                                counters.uids += 1;
                                Some(format!("uid-{}@example.com", counters.uids))
                            }
                            Ident::Shared(n) => Some(format!("shared-uid-{}", n / 2)),
                        };
                    }
                    r
                }
            };
            sim.insert(side, record);
        }
        Act::Edit { side, pick: p, edit } => {
            if let Some(id) = pick(sim, side, p) {
                edit_one(sim, counters, side, &id, edit);
            }
        }
        Act::EditBoth { pick: p, crm, mailbox } => {
            let Some(id) = pick(sim, Side::Crm, p) else { return };
            let Some(partner) = sim.partner(Side::Crm, &id) else { return };
            edit_one(sim, counters, Side::Crm, &id, crm);
            edit_one(sim, counters, Side::Mailbox, &partner, mailbox);
        }
        Act::Delete { side, pick: p } => {
            if let Some(id) = pick(sim, side, p) {
                sim.remove(side, &id);
            }
        }
    }
}

fn edit_one(sim: &mut Sim, counters: &mut Counters, side: Side, id: &RecordId, edit: Edit) {
    let mapping = sim.config.fields.custom.clone();
    match edit {
        Edit::Touch => {
            sim.touch(side, id);
        }
        Edit::NewEmail => {
            let address = counters.email();
            sim.edit(side, id, |r| match r {
                Record::Contact(c) => c.emails = vec![EmailAddress { kind: AddressKind::Work, address }],
                // Events have no email; give the custom field a fresh value instead.
                Record::Event(e) => {
                    if let Some(m) = mapping.first() {
                        e.custom.insert(m.on(side).to_owned(), address);
                    }
                }
            });
        }
        Edit::Field(f, v) => {
            sim.edit(side, id, |r| apply_field(r, side, &mapping, f, v));
        }
    }
}

/// A simulation and the counters its acts draw on.
struct World {
    sim: Sim,
    counters: Counters,
}

impl World {
    fn new(sim: Sim) -> Self {
        World { sim, counters: Counters::default() }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::User(a) => play(&mut self.sim, &mut self.counters, a),
            Step::Cycle => {
                self.sim.cycle();
            }
            Step::CycleDuring(a) => {
                let counters = &mut self.counters;
                self.sim.cycle_with(&Faults::default(), |sim| play(sim, counters, a));
            }
            Step::CycleFaulty { fail, lose } => {
                let bits = |mask: u8| (0..8).filter(|n| mask & (1 << n) != 0).collect();
                let faults = Faults { fail: bits(fail), lose: bits(lose) };
                self.sim.cycle_with(&faults, |_| {});
            }
        }
    }
}

fn pool(values: &[&str], v: Option<u8>) -> Option<FieldValue> {
    v.map(|v| FieldValue::Text(values[v as usize % values.len()].to_owned()))
}

/// The fields random edits touch, by number.
const CONTACT_FIELDS: u8 = 9;
const EVENT_FIELDS: u8 = 6;

fn apply_field(record: &mut Record, side: Side, mapping: &[CustomFieldMapping], f: u8, v: Option<u8>) {
    let custom = |r: &mut Record, value: Option<&str>| {
        if let Some(m) = mapping.first() {
            match value {
                Some(value) => r.custom_mut().insert(m.on(side).to_owned(), value.to_owned()),
                None => r.custom_mut().remove(m.on(side)),
            };
        }
    };
    match record {
        Record::Contact(_) => {
            let (key, value) = match f % CONTACT_FIELDS {
                0 => (FieldKey::GivenName, pool(&GIVEN, v)),
                // The family name is always set.
                1 => (FieldKey::FamilyName, pool(&FAMILY, Some(v.unwrap_or(0)))),
                2 => (FieldKey::Company, pool(&COMPANY, v)),
                3 => (FieldKey::Title, pool(&TITLE, v)),
                4 => (FieldKey::Notes, pool(&NOTES, v)),
                5 => (
                    FieldKey::Phone(PhoneKind::Mobile),
                    v.map(|v| FieldValue::List(vec![PHONE[v as usize % 3].into()])),
                ),
                6 => (
                    FieldKey::Phone(PhoneKind::Assistant),
                    v.map(|v| FieldValue::List(vec![PHONE[(v as usize + 1) % 3].into()])),
                ),
                7 => (FieldKey::Department, pool(&["Sales", "R&D", "Research and Development"], v)),
                _ => {
                    custom(record, v.map(|v| REGION[v as usize % 3]));
                    return;
                }
            };
            record.set(&key, value).unwrap();
        }
        Record::Event(_) => {
            let (key, value) = match f % EVENT_FIELDS {
                0 => (FieldKey::Subject, pool(&SUBJECT, v)),
                1 => (FieldKey::Location, pool(&PLACE, v)),
                2 => (FieldKey::Description, pool(&NOTES, v)),
                3 => {
                    let v = i64::from(v.unwrap_or(0));
                    let start = at(9, 0) + TimeDelta::minutes(30 * v);
                    let timing = EventTiming {
                        start: EventTime::utc(start),
                        end: EventTime::utc(start + TimeDelta::minutes(30 + 15 * v)),
                    };
                    (FieldKey::Timing, Some(FieldValue::Timing(timing)))
                }
                4 => (
                    FieldKey::ShowAs,
                    Some(FieldValue::ShowAs(
                        [ShowAs::Busy, ShowAs::Free, ShowAs::Tentative, ShowAs::OutOfOffice]
                            [v.unwrap_or(0) as usize % 4],
                    )),
                ),
                _ => {
                    custom(record, v.map(|v| REGION[v as usize % 3]));
                    return;
                }
            };
            record.set(&key, value).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Configurations.

#[derive(Debug, Clone, Copy)]
enum Policy {
    Merge(Side),
    CrmWins,
    MailboxWins,
    Newest(Side),
    Manual,
    CrmToMailbox,
    /// Field merge, but only CRM contacts with a company (events: with a location) go to the
    /// mailbox, and no mailbox contact named Dijkstra (events: subject 1:1) goes to the CRM.
    Filtered,
}

impl Policy {
    fn converges(self) -> bool {
        !matches!(self, Policy::Manual | Policy::CrmToMailbox | Policy::Filtered)
    }
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        3 => side().prop_map(Policy::Merge),
        1 => Just(Policy::CrmWins),
        1 => Just(Policy::MailboxWins),
        1 => side().prop_map(Policy::Newest),
        1 => Just(Policy::Manual),
        1 => Just(Policy::CrmToMailbox),
        1 => Just(Policy::Filtered),
    ]
}

fn config(object: ObjectKind, policy: Policy, propagate: bool) -> ObjectConfig {
    let mut config = match object {
        ObjectKind::Contact => ObjectConfig::default(),
        // The histories' events are dated in 2026 and their clock starts at 1970: no window.
        ObjectKind::Event => ObjectConfig { window: None, ..ObjectConfig::events_default() },
    };
    config.conflicts = match policy {
        Policy::Merge(fallback) => ConflictPolicy { strategy: ConflictStrategy::FieldMerge, fallback },
        Policy::CrmWins => ConflictPolicy { strategy: ConflictStrategy::CrmWins, fallback: Side::Mailbox },
        Policy::MailboxWins => ConflictPolicy { strategy: ConflictStrategy::MailboxWins, fallback: Side::Crm },
        Policy::Newest(fallback) => ConflictPolicy { strategy: ConflictStrategy::NewestWins, fallback },
        Policy::Manual => ConflictPolicy { strategy: ConflictStrategy::Manual, fallback: Side::Crm },
        Policy::CrmToMailbox | Policy::Filtered => ConflictPolicy::default(),
    };
    if let Policy::Filtered = policy {
        let (field, value) = match object {
            ObjectKind::Contact => ((FieldKey::Company, FieldKey::FamilyName), "Dijkstra"),
            ObjectKind::Event => ((FieldKey::Location, FieldKey::Subject), "1:1"),
        };
        config.crm_filter = Some(Filter::Field { field: field.0, op: FilterOp::IsSet, value: None });
        config.mailbox_filter = Some(Filter::Not {
            not: Box::new(Filter::Field { field: field.1, op: FilterOp::Equals, value: Some(value.into()) }),
        });
    }
    if let Policy::CrmToMailbox = policy {
        config.direction = Direction::CrmToMailbox;
    }
    config.deletes = DeletePropagation { crm_to_mailbox: propagate, mailbox_to_crm: propagate };
    // Small histories delete a large share of few records; the guard has its own tests.
    config.mass_delete_guard.min_records = usize::MAX;
    config.fields.custom =
        vec![CustomFieldMapping { name: "region".into(), crm: "Region__c".into(), mailbox: "tandemRegion".into() }];
    config
}

// ---------------------------------------------------------------------------------------------
// The checks.

/// (c) No record is created twice.
fn check_counts(sim: &Sim, lost_responses: bool) -> Result<(), TestCaseError> {
    for side in Side::BOTH {
        let s = sim.side(side);
        let other = sim.side(side.other());
        // Create keys stand for distinct user-made records on the other side...
        let keys = sim.create_sources.values().filter(|(source, _)| *source == side.other()).count();
        prop_assert!(keys <= other.user_created, "{side}: {keys} create keys from {} records", other.user_created);
        // ...and no two live records on a side carry the same one.
        let mut live: Vec<_> = s.records.values().filter_map(|r| r.sync_key.clone()).collect();
        let n = live.len();
        live.sort();
        live.dedup();
        prop_assert_eq!(live.len(), n, "{} holds two records created with one key", side);
        prop_assert!(s.len() <= s.user_created + other.user_created);
        // Without lost responses, a key is never even replayed. (With them, the engine cannot know
        // whether the copy exists; should the user delete it before the next cycle, the source
        // is copied again under the same key.)
        if !lost_responses {
            prop_assert!(
                s.tandem_created <= other.user_created,
                "{side}: {} copies of {} records",
                s.tandem_created,
                other.user_created
            );
            prop_assert_eq!(s.replayed_creates, 0, "{} replayed a create without a lost response", side);
        }
    }
    Ok(())
}

fn run_history(mut world: World, policy: Policy, propagate: bool, history: &[Step]) -> Result<(), TestCaseError> {
    let mut lost = false;
    for step in history {
        lost |= matches!(step, Step::CycleFaulty { lose, .. } if *lose != 0);
        world.step(*step);
        prop_assert!(world.sim.violations.is_empty(), "after {step:?}: {:#?}", world.sim.violations);
        check_counts(&world.sim, lost)?;
    }
    let sim = &mut world.sim;
    // Edits stop: one cycle brings both sides together, the next only sees its echoes.
    sim.cycle();
    let quiet = sim.cycle();
    prop_assert!(sim.violations.is_empty(), "{:#?}", sim.violations);
    check_counts(sim, lost)?;
    if policy.converges() {
        let diverged = sim.divergences();
        prop_assert!(diverged.is_empty(), "not converged: {diverged:#?}");
        prop_assert!(quiet.is_noop(), "a cycle after convergence planned:\n{quiet}\n{:?}", quiet.states);
    } else if !quiet.is_noop() {
        // Manual conflicts leave stored versions stale, so a later one-sided edit may fail its
        // precondition once and settle the cycle after; one-way sync skips edits. Either way the
        // cycles go quiet.
        prop_assert!(sim.settle(4).is_some(), "never went quiet");
        prop_assert!(sim.violations.is_empty(), "{:#?}", sim.violations);
    }
    if let Policy::CrmToMailbox = policy {
        prop_assert_eq!(sim.writes[0], 0, "a one-way sync wrote to its source");
    }
    // Deletes: without propagation the survivor stays (and is never re-created on the deleting
    // side, which the simulation checks on every create); with it, both sides end without it.
    if propagate && policy.converges() {
        for (deleted_on, partner) in &sim.deleted_partners {
            prop_assert!(
                !sim.side(deleted_on.other()).records.contains_key(partner),
                "{} {} outlived its counterpart deleted on {}",
                deleted_on.other(),
                partner,
                deleted_on
            );
        }
    }
    Ok(())
}

// Case counts keep `cargo test` quick in debug builds (about a second for this file); run more
// with `PROPTEST_CASES=5000 cargo test -p tandem-core --release --test convergence`.
proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// (a) convergence, (b) quiet after convergence, (c) no duplicates, (e) determinism (checked
    /// by the simulation every cycle), (f) deletes, for contacts with every capability.
    #[test]
    fn contacts_converge(policy in policy(), propagate in any::<bool>(), history in steps(CONTACT_FIELDS, 60)) {
        let sim = Sim::new(ObjectKind::Contact, config(ObjectKind::Contact, policy, propagate));
        run_history(World::new(sim), policy, propagate, &history)?;
    }

    /// The same with limited capabilities: the mailbox cannot hold assistant phones and has
    /// short companies and notes; the CRM has short titles and regions (a custom field, declared
    /// under its CRM name), one mobile number and no birthday. Values converge modulo truncation
    /// and nothing the other side cannot hold is ever blanked.
    #[test]
    fn contacts_converge_with_limits(policy in policy(), propagate in any::<bool>(), history in steps(CONTACT_FIELDS, 50)) {
        let crm = ObjectCapabilities::everything(ObjectKind::Contact)
            .with_limit(FieldKey::Title, Some(6), false)
            .with_limit(FieldKey::Custom("Region__c".into()), Some(4), false)
            .with_max_items(FieldKey::Phone(PhoneKind::Mobile), 1)
            .without(FieldKey::Birthday);
        let mailbox = ObjectCapabilities::everything(ObjectKind::Contact)
            .without(FieldKey::Phone(PhoneKind::Assistant))
            .with_limit(FieldKey::Company, Some(10), false)
            .with_limit(FieldKey::Notes, Some(2), false);
        let sim = Sim::with_caps(ObjectKind::Contact, config(ObjectKind::Contact, policy, propagate), crm, mailbox);
        run_history(World::new(sim), policy, propagate, &history)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Events: the same properties with event edits (timing, subject, location, show-as...).
    #[test]
    fn events_converge(policy in policy(), propagate in any::<bool>(), history in steps(EVENT_FIELDS, 40)) {
        let sim = Sim::new(ObjectKind::Event, config(ObjectKind::Event, policy, propagate));
        run_history(World::new(sim), policy, propagate, &history)?;
    }
}

// ---------------------------------------------------------------------------------------------
// (d) Field merge keeps concurrent edits to different fields.

const MERGE_FIELDS: [FieldKey; 8] = [
    FieldKey::GivenName,
    FieldKey::MiddleName,
    FieldKey::Company,
    FieldKey::Title,
    FieldKey::Department,
    FieldKey::Notes,
    FieldKey::Phone(PhoneKind::Mobile),
    FieldKey::Emails,
];

fn merge_value(key: &FieldKey, v: Option<u8>) -> Option<FieldValue> {
    let v = v?;
    Some(match key {
        FieldKey::Phone(_) => FieldValue::List(vec![PHONE[v as usize % 3].into()]),
        FieldKey::Emails => {
            FieldValue::Emails(vec![EmailAddress { kind: AddressKind::Home, address: format!("edit{v}@example.org") }])
        }
        _ => FieldValue::Text(format!("{key} {v}")),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn field_merge_keeps_concurrent_edits_to_different_fields(
        fallback in side(),
        origin in side(),
        crm_field in 0..MERGE_FIELDS.len(),
        offset in 1..MERGE_FIELDS.len(),
        crm_value in proptest::option::weighted(0.85, 0u8..5),
        mailbox_value in proptest::option::weighted(0.85, 0u8..5),
        crm_first in any::<bool>(),
        seed in (0u8..4, 0u8..4, proptest::option::of(0u8..3)),
    ) {
        let config = ObjectConfig {
            conflicts: ConflictPolicy { strategy: ConflictStrategy::FieldMerge, fallback },
            ..ObjectConfig::default()
        };
        let mut sim = Sim::new(ObjectKind::Contact, config);
        let mut base = contact(Some(GIVEN[seed.0 as usize]), FAMILY[seed.1 as usize], Some("base@example.com"), seed.2.map(|c| COMPANY[c as usize]));
        base.set(&FieldKey::Notes, Some(FieldValue::Text("base notes".into()))).unwrap();
        let id = sim.insert(origin, base);
        prop_assert!(sim.settle(3).is_some());
        let (crm_id, mailbox_id) = match origin {
            Side::Crm => (id.clone(), sim.partner(Side::Crm, &id).unwrap()),
            Side::Mailbox => (sim.partner(Side::Mailbox, &id).unwrap(), id.clone()),
        };
        let crm_key = MERGE_FIELDS[crm_field].clone();
        let mailbox_key = MERGE_FIELDS[(crm_field + offset) % MERGE_FIELDS.len()].clone();
        let (cv, mv) = (merge_value(&crm_key, crm_value), merge_value(&mailbox_key, mailbox_value));
        let edit_crm = |sim: &mut Sim| sim.edit(Side::Crm, &crm_id, |r| r.set(&crm_key, cv.clone()).unwrap());
        let edit_mailbox = |sim: &mut Sim| sim.edit(Side::Mailbox, &mailbox_id, |r| r.set(&mailbox_key, mv.clone()).unwrap());
        if crm_first {
            edit_crm(&mut sim);
            edit_mailbox(&mut sim);
        } else {
            edit_mailbox(&mut sim);
            edit_crm(&mut sim);
        }
        let merged = sim.cycle();
        prop_assert!(merged.operations.iter().all(|o| o.action.name() != "conflict"), "{}", merged);
        sim.cycle();
        prop_assert!(sim.cycle().is_noop());
        for (side, id) in [(Side::Crm, &crm_id), (Side::Mailbox, &mailbox_id)] {
            let r = sim.side(side).get(id).unwrap();
            prop_assert_eq!(r.get(&crm_key), cv.clone(), "{} lost the crm edit", side);
            prop_assert_eq!(r.get(&mailbox_key), mv.clone(), "{} lost the mailbox edit", side);
        }
        prop_assert!(sim.violations.is_empty(), "{:#?}", sim.violations);
    }
}
