//! Lightning Sync's limits in the planner: the per-user cap on synced records and the rule that
//! copies of meetings others organize are linked, never copied to the CRM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use tandem_core::capabilities::ObjectCapabilities;
use tandem_core::config::{ForeignOrganizers, ObjectConfig};
use tandem_core::model::{Contact, Event, EventTime, EventTiming, ObjectKind, Person, Record};
use tandem_core::plan::{Action, Plan};
use tandem_core::planner::{PairIndex, PlanInput, SideInput, plan};
use tandem_core::state::{Change, Side};

fn now() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + TimeDelta::days(10)
}

fn contact(last: &str) -> Record {
    Record::Contact(Contact { family_name: Some(last.into()), ..Contact::default() })
}

fn event(subject: &str, organizer: Option<&str>) -> Record {
    let start = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(9, 0, 0).unwrap();
    Record::Event(Event {
        subject: Some(subject.into()),
        description: None,
        location: None,
        timing: EventTiming { start: EventTime::utc(start), end: EventTime::utc(start + TimeDelta::minutes(60)) },
        recurrence: None,
        organizer: organizer.map(|o| Person { email: o.into(), name: None }),
        attendees: Vec::new(),
        privacy: Default::default(),
        show_as: Default::default(),
        categories: vec![],
        crm_links: vec![],
        ical_uid: None,
        custom: BTreeMap::new(),
    })
}

fn run(
    object: ObjectKind,
    config: &ObjectConfig,
    mapped: usize,
    crm: &[Change],
    mailbox: &[Change],
    owner: Option<&str>,
) -> Plan {
    let caps = ObjectCapabilities::everything(object);
    let pairs = PairIndex::default();
    plan(&PlanInput {
        object,
        config,
        pairs: &pairs,
        mapped_pairs: mapped,
        crm: SideInput { changes: crm, capabilities: &caps },
        mailbox: SideInput { changes: mailbox, capabilities: &caps },
        now: now(),
        release_held_deletes: false,
        approved_deletes: &tandem_core::planner::NO_APPROVED_DELETES,
        mailbox_owner: owner,
    })
}

fn creates(p: &Plan) -> usize {
    p.operations.iter().filter(|o| matches!(o.action, Action::Create { .. })).count()
}

#[test]
fn creates_beyond_the_cap_are_held_back_and_listed() {
    let config = ObjectConfig { max_records: Some(5), ..ObjectConfig::default() };
    let mailbox: Vec<Change> =
        (0..4).map(|i| Change::upserted(format!("m{i}"), "1", contact(&format!("N{i}")))).collect();
    let p = run(ObjectKind::Contact, &config, 3, &[], &mailbox, None);
    assert_eq!(creates(&p), 2, "{p}");
    assert_eq!(p.over_limit.len(), 2);
    assert!(p.over_limit.iter().all(|(side, _)| *side == Side::Mailbox));
    // Held creates leave no pair state and say why.
    assert_eq!(p.states.len(), 2);
    let skipped: Vec<_> = p.operations.iter().filter(|o| matches!(o.action, Action::Skip { .. })).collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped.iter().all(|o| o.reason.contains("the limit") && o.pair.is_none()));
    // No cap, or room enough: everything is created.
    let none = ObjectConfig { max_records: None, ..ObjectConfig::default() };
    assert_eq!(creates(&run(ObjectKind::Contact, &none, 3, &[], &mailbox, None)), 4);
    assert_eq!(creates(&run(ObjectKind::Contact, &ObjectConfig::default(), 3, &[], &mailbox, None)), 4);
    // A replan (count unknown) holds nothing back.
    assert_eq!(creates(&run(ObjectKind::Contact, &config, usize::MAX, &[], &mailbox, None)), 4);
}

#[test]
fn copies_of_meetings_others_organize_are_linked_not_copied() {
    let config = ObjectConfig { window: None, ..ObjectConfig::events_default() };
    let mine = Change::upserted("m1", "1", event("Mine", Some("ADA@example.com")));
    let theirs = Change::upserted("m2", "1", event("Theirs", Some("bob@example.com")));
    let unknown = Change::upserted("m3", "1", event("No organizer", None));
    let owner = Some("ada@example.com");
    let p = run(ObjectKind::Event, &config, 0, &[], &[mine.clone(), theirs.clone(), unknown], owner);
    let created: Vec<String> = p
        .operations
        .iter()
        .filter_map(|o| match &o.action {
            Action::Create { source_id, .. } => Some(source_id.0.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(created, vec!["m1".to_owned(), "m3".to_owned()], "{p}");
    assert!(
        p.operations.iter().any(|o| matches!(&o.action, Action::Skip { id, .. } if id.as_str() == "m2")
            && o.reason.contains("bob@example.com"))
    );

    // The organizer syncs: the CRM has the meeting, and the copy links to it.
    let crm = Change::upserted("00U1", "1", event("Theirs", Some("bob@example.com")));
    let p = run(ObjectKind::Event, &config, 0, &[crm], std::slice::from_ref(&theirs), owner);
    assert!(p.operations.iter().any(|o| matches!(o.action, Action::Link { .. })), "{p}");
    assert_eq!(creates(&p), 0);

    // Configured to sync them, or with no known owner, it is copied.
    let sync = ObjectConfig { foreign_organizers: ForeignOrganizers::Sync, ..config.clone() };
    assert_eq!(creates(&run(ObjectKind::Event, &sync, 0, &[], std::slice::from_ref(&theirs), owner)), 1);
    assert_eq!(creates(&run(ObjectKind::Event, &config, 0, &[], &[theirs], None)), 1);
}

#[test]
fn only_events_the_user_marks_sync_when_the_filter_says_so() {
    // Lightning Sync's "only events users select": an Outlook category (or a Google colour
    // mapped to one) as the mailbox filter.
    let filter: tandem_core::filter::Filter =
        serde_json::from_str(r#"{"field": "categories", "op": "equals", "value": "Salesforce"}"#).unwrap();
    let config = ObjectConfig { window: None, mailbox_filter: Some(filter), ..ObjectConfig::events_default() };
    let mut marked = event("Marked", None);
    if let Record::Event(e) = &mut marked {
        e.categories = vec!["Work".into(), "salesforce".into()];
    }
    let changes = [Change::upserted("m1", "1", marked), Change::upserted("m2", "1", event("Private", None))];
    let p = run(ObjectKind::Event, &config, 0, &[], &changes, None);
    assert_eq!(creates(&p), 1, "{p}");
    assert!(p.operations.iter().any(|o| matches!(&o.action, Action::Skip { id, .. } if id.as_str() == "m2")));
}
