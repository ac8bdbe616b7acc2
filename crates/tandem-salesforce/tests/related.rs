//! Related records against the fake: company → Account, attendees → invitations, relating new
//! events to contacts and leads, unresolved items and their recheck.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use serde_json::json;
use tandem_connector::{Connector, ConnectorError, WriteOp};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{
    Attendee, AttendeeRole, Contact, Event, EventTime, EventTiming, ObjectKind, Privacy, Record, ResponseStatus, ShowAs,
};
use tandem_core::plan::FieldChange;
use tandem_core::state::{IdempotencyKey, RecordId, Side, UnresolvedKind, Version};
use tandem_salesforce::UnrelatedEvents;

const C: ObjectKind = ObjectKind::Contact;
const E: ObjectKind = ObjectKind::Event;

fn key(object: ObjectKind, n: u32) -> IdempotencyKey {
    IdempotencyKey::derive(object, Side::Mailbox, &RecordId::new(format!("mailbox-{n}")))
}

fn contact(last: &str, company: Option<&str>) -> Record {
    Record::Contact(Contact {
        family_name: Some(last.into()),
        company: company.map(str::to_owned),
        ..Contact::default()
    })
}

fn attendee(email: &str) -> Attendee {
    Attendee { email: email.into(), name: None, role: AttendeeRole::Required, response: ResponseStatus::Accepted }
}

fn meeting(attendees: &[&str]) -> Record {
    let at = |h| EventTime::utc(chrono::NaiveDate::from_ymd_opt(2026, 12, 10).unwrap().and_hms_opt(h, 0, 0).unwrap());
    Record::Event(Event {
        subject: Some("Review".into()),
        description: None,
        location: None,
        timing: EventTiming { start: at(9), end: at(10) },
        recurrence: None,
        organizer: None,
        attendees: attendees.iter().map(|a| attendee(a)).collect(),
        privacy: Privacy::Normal,
        show_as: ShowAs::Busy,
        categories: Vec::new(),
        crm_links: Vec::new(),
        ical_uid: None,
        custom: Default::default(),
    })
}

fn invitees(org: &common::Org, event: &str) -> Vec<String> {
    let mut ids: Vec<String> = org
        .fake
        .records("EventRelation")
        .into_iter()
        .filter(|r| r["EventId"] == event && r["IsInvitee"] == true)
        .map(|r| r["RelationId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_company_links_the_one_account_of_that_name_and_anything_else_is_unresolved() {
    let org = common::org().await;
    let acme = org.fake.insert("Account", json!({"Name": "Acme Corp"})).unwrap();
    org.fake.insert("Account", json!({"Name": "Twins"})).unwrap();
    org.fake.insert("Account", json!({"Name": "twins"})).unwrap();
    let c = org.connector();
    let ops = vec![
        WriteOp::Create { key: key(C, 1), record: contact("One", Some("ACME corp")) },
        WriteOp::Create { key: key(C, 2), record: contact("Two", Some("Globex")) },
        WriteOp::Create { key: key(C, 3), record: contact("Three", Some("Twins")) },
    ];
    let out = c.apply(C, &ops).await.unwrap();
    let w: Vec<_> = out.iter().map(|r| r.as_ref().unwrap().clone()).collect();
    assert_eq!(org.fake.get("Contact", w[0].id.as_str()).unwrap()["AccountId"], acme);
    assert!(w[0].unstored.is_empty() && w[0].unresolved.is_empty());
    for (written, kind) in [(&w[1], UnresolvedKind::AccountNotFound), (&w[2], UnresolvedKind::AccountAmbiguous)] {
        assert_eq!(org.fake.get("Contact", written.id.as_str()).unwrap()["AccountId"], serde_json::Value::Null);
        assert_eq!(written.unstored, vec![FieldKey::Company]);
        assert_eq!(written.unresolved[0].kind, kind);
        assert_eq!(written.unresolved[0].field, Some(FieldKey::Company));
    }
    // The account appears: the recheck says the item can be retried, and the retry links it.
    let items = vec![w[1].unresolved[0].clone(), w[2].unresolved[0].clone()];
    assert_eq!(c.recheck(C, &items).await.unwrap(), vec![false, false]);
    let globex = org.fake.insert("Account", json!({"Name": "Globex"})).unwrap();
    assert_eq!(c.recheck(C, &items).await.unwrap(), vec![true, false]);
    let patch = vec![FieldChange { field: FieldKey::Company, value: Some(FieldValue::Text("Globex".into())) }];
    let update = WriteOp::Update { id: w[1].id.clone(), expected: Version::default(), patch };
    let again = c.apply(C, &[update]).await.unwrap();
    assert!(again[0].as_ref().unwrap().unresolved.is_empty());
    assert_eq!(org.fake.get("Contact", w[1].id.as_str()).unwrap()["AccountId"], globex);
    // Clearing the company never detaches the contact.
    let clear = WriteOp::Update {
        id: w[1].id.clone(),
        expected: Version::default(),
        patch: vec![FieldChange { field: FieldKey::Company, value: None }],
    };
    let cleared = c.apply(C, &[clear]).await.unwrap();
    assert_eq!(cleared[0].as_ref().unwrap().unresolved[0].kind, UnresolvedKind::AccountKept);
    assert_eq!(org.fake.get("Contact", w[1].id.as_str()).unwrap()["AccountId"], globex);
}

#[tokio::test]
async fn accounts_the_user_cannot_see_are_not_found() {
    use tandem_testkit::salesforce::{OrgWideDefault, Sharing};
    let org = common::org().await;
    let bob = org.fake.add_user("bob@example.com", "Bob", "Builder", "UTC");
    org.fake.set_sharing(Sharing { account: OrgWideDefault::Private, ..Sharing::default() });
    org.fake.insert("Account", json!({"Name": "Hidden", "OwnerId": bob})).unwrap();
    let out =
        org.connector().apply(C, &[WriteOp::Create { key: key(C, 1), record: contact("X", Some("Hidden")) }]).await;
    let w = out.unwrap()[0].clone().unwrap();
    assert_eq!(w.unresolved[0].kind, UnresolvedKind::AccountNotFound);
}

#[tokio::test]
async fn attendees_become_invitations_and_the_rest_is_unstored() {
    let org = common::org().await;
    let grace = org.contact("Grace", "Hopper", "grace@example.com");
    let lead =
        org.fake.insert("Lead", json!({"LastName": "Lead", "Company": "L", "Email": "lead@example.com"})).unwrap();
    let colleague = org.fake.add_user("alan@example.com", "Alan", "Turing", "UTC");
    let c = org.connector();
    let create = WriteOp::Create {
        key: key(E, 1),
        record: meeting(&["GRACE@example.com", "lead@example.com", "alan@example.com", "nobody@example.com"]),
    };
    let w = c.apply(E, &[create]).await.unwrap()[0].clone().unwrap();
    let mut expected = vec![grace.clone(), lead.clone(), colleague.clone()];
    expected.sort();
    assert_eq!(invitees(&org, w.id.as_str()), expected);
    assert_eq!(w.unstored, vec![FieldKey::attendee("nobody@example.com")]);
    assert_eq!(w.unresolved[0].kind, UnresolvedKind::AttendeeNotFound);
    // Reading it back gives the invited ones as attendees.
    let read = c.fetch(E, std::slice::from_ref(&w.id)).await.unwrap();
    let Some(Record::Event(e)) = read[0].record() else { panic!("an event") };
    assert_eq!(e.attendees.len(), 3);

    // An update adds one and removes one; the others stay.
    let patch = vec![
        FieldChange { field: FieldKey::attendee("lead@example.com"), value: None },
        FieldChange {
            field: FieldKey::attendee("ada@example.com"),
            value: Some(FieldValue::Attendee(attendee("ada@example.com"))),
        },
    ];
    let update = WriteOp::Update { id: w.id.clone(), expected: Version::default(), patch };
    let u = c.apply(E, &[update]).await.unwrap()[0].clone().unwrap();
    assert!(u.unstored.is_empty(), "{u:?}");
    let mut expected = vec![grace, colleague, org.fake.user().id];
    expected.sort();
    assert_eq!(invitees(&org, w.id.as_str()), expected);
}

#[tokio::test]
async fn attendees_beyond_the_limit_are_reported() {
    let org = common::org().await;
    for i in 0..4 {
        org.contact("P", &format!("{i}"), &format!("p{i}@example.com"));
    }
    let c = org.connector_with(|cfg| cfg.related.max_attendees = 2);
    let emails: Vec<String> = (0..4).map(|i| format!("p{i}@example.com")).collect();
    let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
    let w =
        c.apply(E, &[WriteOp::Create { key: key(E, 1), record: meeting(&refs) }]).await.unwrap()[0].clone().unwrap();
    assert_eq!(invitees(&org, w.id.as_str()).len(), 2);
    assert!(w.unstored.contains(&FieldKey::attendee("p3@example.com")));
    assert!(w.unresolved.iter().any(|i| i.kind == UnresolvedKind::AttendeeLimit));
}

#[tokio::test]
async fn new_events_are_related_to_their_contacts_with_and_without_shared_activities() {
    for shared in [true, false] {
        let org = common::org().await;
        org.fake.set_shared_activities(shared);
        let grace = org.contact("Grace", "Hopper", "grace@example.com");
        let alan = org.contact("Alan", "Turing", "alan@example.com");
        let c = org.connector_with(|cfg| {
            cfg.related.relate_events = true;
            cfg.related.shared_activities = shared;
        });
        let create = WriteOp::Create { key: key(E, 1), record: meeting(&["grace@example.com", "alan@example.com"]) };
        let w = c.apply(E, &[create]).await.unwrap()[0].clone().unwrap();
        let event = org.fake.get("Event", w.id.as_str()).unwrap();
        assert_eq!(event["WhoId"], grace, "shared activities {shared}");
        let parents: Vec<String> = org
            .fake
            .records("EventRelation")
            .into_iter()
            .filter(|r| r["EventId"] == w.id.as_str() && r["IsParent"] == true)
            .map(|r| r["RelationId"].as_str().unwrap().to_owned())
            .collect();
        if shared {
            assert!(parents.contains(&grace) && parents.contains(&alan), "{parents:?}");
        } else {
            assert!(parents.is_empty());
        }
        let mut expected = vec![grace, alan];
        expected.sort();
        assert_eq!(invitees(&org, w.id.as_str()), expected, "both are invitees too");
    }
}

#[tokio::test]
async fn unrelated_events_are_kept_or_set_aside() {
    let org = common::org().await;
    let keep = org.connector_with(|cfg| cfg.related.relate_events = true);
    let w = keep.apply(E, &[WriteOp::Create { key: key(E, 1), record: meeting(&["x@example.com"]) }]).await.unwrap();
    let w = w[0].clone().unwrap();
    assert!(w.unresolved.iter().any(|i| i.kind == UnresolvedKind::EventUnrelated));
    assert_eq!(org.fake.count("Event"), 1);

    let skip = org.connector_with(|cfg| {
        cfg.related.relate_events = true;
        cfg.related.unrelated_events = UnrelatedEvents::Skip;
    });
    let out = skip.apply(E, &[WriteOp::Create { key: key(E, 2), record: meeting(&["y@example.com"]) }]).await.unwrap();
    let Err(ConnectorError::Unresolved { item }) = &out[0] else { panic!("set aside: {out:?}") };
    assert_eq!(item.kind, UnresolvedKind::EventUnrelated);
    assert_eq!(item.field, None);
    assert_eq!(org.fake.count("Event"), 1, "not created");
    assert_eq!(skip.recheck(E, std::slice::from_ref(item)).await.unwrap(), vec![false]);
    org.contact("Y", "Y", "y@example.com");
    assert_eq!(skip.recheck(E, std::slice::from_ref(item)).await.unwrap(), vec![true]);
}

fn ids(changes: &[tandem_core::state::Change]) -> Vec<String> {
    let mut ids: Vec<String> = changes.iter().map(|c| c.id.0.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn followed_contacts_sync_whatever_their_owner_and_the_filter() {
    use tandem_salesforce::config::{FieldCondition, FilterOp, FilterValue};
    let org = common::org().await;
    let ada = org.fake.user().id;
    let bob = org.fake.add_user("bob@example.com", "Bob", "Builder", "UTC");
    let mine = org.fake.insert("Contact", json!({"LastName": "Mine", "Department": "Sales"})).unwrap();
    let filtered_out = org.fake.insert("Contact", json!({"LastName": "Mine2", "Department": "Ops"})).unwrap();
    let bobs = org.fake.insert("Contact", json!({"LastName": "Bobs", "OwnerId": bob})).unwrap();
    let later = org.fake.insert("Contact", json!({"LastName": "Later", "OwnerId": bob})).unwrap();
    org.fake.follow(&ada, &bobs).unwrap();
    org.fake.follow(&ada, &filtered_out).unwrap();
    let filter =
        vec![FieldCondition { field: "Department".into(), op: FilterOp::Eq, value: FilterValue::Text("Sales".into()) }];
    let plain = org.connector_with(|cfg| cfg.contact_filter = filter.clone());
    let (changes, _, _) = common::drain(&plain, C, None).await;
    assert_eq!(ids(&changes), vec![mine.clone()], "without the option only the filtered owned contacts");

    let c = org.connector_with(|cfg| {
        cfg.contact_filter = filter.clone();
        cfg.include_followed = true;
    });
    let mut reported = std::collections::HashMap::new();
    let (changes, cursor, _) = common::drain(&c, C, None).await;
    let changes = common::news(&mut reported, changes);
    let mut expected = vec![mine.clone(), filtered_out.clone(), bobs.clone()];
    expected.sort();
    assert_eq!(ids(&changes), expected);

    // A new follow of an unchanged contact arrives in the next round; nothing else does (the
    // overlap's re-reads are echoes).
    org.fake.advance_clock(chrono::Duration::minutes(10));
    org.fake.follow(&ada, &later).unwrap();
    org.fake.advance_clock(chrono::Duration::minutes(10));
    let (changes, _, _) = common::drain(&c, C, Some(cursor)).await;
    assert_eq!(ids(&common::news(&mut reported, changes)), vec![later]);
}

#[tokio::test]
async fn a_renamed_account_is_a_new_company_for_its_contacts() {
    let org = common::org().await;
    let acme = org.fake.insert("Account", json!({"Name": "Acme"})).unwrap();
    let contact = org.fake.insert("Contact", json!({"LastName": "Worker", "AccountId": acme})).unwrap();
    org.fake.insert("Contact", json!({"LastName": "Loner"})).unwrap();
    let c = org.connector_with(|cfg| cfg.related.account_rename_check = std::time::Duration::from_secs(30 * 60));
    let off = org.connector_with(|cfg| cfg.related.match_accounts = false);
    let mut reported = std::collections::HashMap::new();
    let (first, cursor, _) = common::drain(&c, C, None).await;
    assert_eq!(common::news(&mut reported, first).len(), 2);
    let mut off_reported = std::collections::HashMap::new();
    let (off_first, off_cursor, _) = common::drain(&off, C, None).await;
    common::news(&mut off_reported, off_first);
    org.fake.advance_clock(chrono::Duration::minutes(10));
    org.fake.update("Account", &acme, json!({"Name": "Acme Holdings"})).unwrap();
    org.fake.advance_clock(chrono::Duration::minutes(10));
    // Not looked for yet: twenty minutes after the first round, the check runs every thirty (the
    // overlap's re-reads are echoes).
    let (changes, cursor, _) = common::drain(&c, C, Some(cursor)).await;
    assert!(common::news(&mut reported, changes).is_empty());
    org.fake.advance_clock(chrono::Duration::minutes(15));
    let (changes, cursor, _) = common::drain(&c, C, Some(cursor)).await;
    assert_eq!(ids(&changes), vec![contact.clone()]);
    let Some(Record::Contact(read)) = changes[0].record() else { panic!("a contact") };
    assert_eq!(read.company.as_deref(), Some("Acme Holdings"));
    // Reported without a version, so the engine never takes it for its own write.
    assert!(changes[0].version.as_str().is_empty());
    // Without account matching the phase is not run.
    org.fake.advance_clock(chrono::Duration::minutes(10));
    org.fake.update("Account", &acme, json!({"Name": "Acme Group"})).unwrap();
    org.fake.advance_clock(chrono::Duration::minutes(30));
    let (changes, _, _) = common::drain(&c, C, Some(cursor)).await;
    assert_eq!(ids(&changes), vec![contact]);
    let (changes, _, _) = common::drain(&off, C, Some(off_cursor)).await;
    assert!(common::news(&mut off_reported, changes).is_empty());
}
