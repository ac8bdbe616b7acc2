//! Writes against real servers (Radicale, Xandikos): a create whose answer was lost never
//! duplicates (the connector alone, and the engine settling its journal), version
//! preconditions, unknown properties surviving an update made by Tandem, and a body Tandem
//! cannot read quarantined rather than failing the sync.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod servers;

use std::sync::Arc;
use tandem_testkit::faults::LosesAnswers;

use tandem_connector::{Connector, ConnectorError, WriteOp};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{ObjectKind, Record};
use tandem_core::plan::FieldChange;
use tandem_core::state::{ChangeKind, IdempotencyKey, RecordId, Side, Version};
use tandem_testkit::generate;

use servers::Kind;

fn subject_patch(s: &str) -> Vec<FieldChange> {
    vec![FieldChange { field: FieldKey::Subject, value: Some(FieldValue::Text(s.to_owned())) }]
}

async fn connector_writes(kind: Kind) {
    let Some(server) = servers::start(kind).await else { return };
    let dav = server.connector();
    let key = IdempotencyKey::derive(ObjectKind::Event, Side::Crm, &RecordId::new("00U000000000001"));
    let mut event = generate::events(3, 1, servers::anchor()).remove(0);
    let create = |e: tandem_core::model::Event| vec![WriteOp::Create { key: key.clone(), record: Record::Event(e) }];

    // A create, then the same create again (its answer was lost): one resource.
    let first = dav.apply(ObjectKind::Event, &create(event.clone())).await.unwrap().remove(0).unwrap();
    let again = dav.apply(ObjectKind::Event, &create(event.clone())).await.unwrap().remove(0).unwrap();
    assert_eq!((&again.id, &again.version), (&first.id, &first.version));
    assert_eq!(server.members(ObjectKind::Event).await, vec![first.id.as_str().to_owned()]);
    assert!(first.id.as_str().ends_with(&format!("tandem-{}.ics", key.as_str())));
    assert_eq!(dav.find_by_key(ObjectKind::Event, &key).await.unwrap().unwrap().id, first.id);
    let unknown = IdempotencyKey::derive(ObjectKind::Event, Side::Crm, &RecordId::new("nope"));
    assert_eq!(dav.find_by_key(ObjectKind::Event, &unknown).await.unwrap(), None);

    // A repeated create carrying newer content brings the resource to it.
    event.subject = Some("Renamed before the retry".into());
    let third = dav.apply(ObjectKind::Event, &create(event.clone())).await.unwrap().remove(0).unwrap();
    assert_eq!(third.id, first.id);
    assert_ne!(third.version, first.version);
    assert!(server.get(first.id.as_str()).await.contains("Renamed before the retry"));
    assert_eq!(server.members(ObjectKind::Event).await.len(), 1);

    // Preconditions: a stale etag on update and delete; a missing resource.
    let stale = WriteOp::Update { id: first.id.clone(), expected: first.version.clone(), patch: subject_patch("x") };
    let fresh = WriteOp::Update { id: first.id.clone(), expected: third.version.clone(), patch: subject_patch("New") };
    let gone = WriteOp::Update {
        id: RecordId::new(format!("{}missing.ics", server.calendar)),
        expected: Version::default(),
        patch: subject_patch("x"),
    };
    let results = dav.apply(ObjectKind::Event, &[stale, fresh, gone]).await.unwrap();
    assert_eq!(results[0], Err(ConnectorError::PreconditionFailed { current: Some(third.version.clone()) }));
    let updated = results[1].clone().unwrap();
    assert_eq!(results[2], Err(ConnectorError::NotFound));
    let delete_stale = WriteOp::Delete { id: first.id.clone(), expected: third.version.clone() };
    let r = dav.apply(ObjectKind::Event, &[delete_stale]).await.unwrap().remove(0);
    assert!(matches!(r, Err(ConnectorError::PreconditionFailed { .. })), "{r:?}");
    let delete = WriteOp::Delete { id: first.id.clone(), expected: updated.version };
    dav.apply(ObjectKind::Event, std::slice::from_ref(&delete)).await.unwrap().remove(0).unwrap();
    assert!(server.members(ObjectKind::Event).await.is_empty());
    assert_eq!(dav.apply(ObjectKind::Event, &[delete]).await.unwrap().remove(0), Err(ConnectorError::NotFound));

    // Contacts: a create twice is one card, with a UID (Radicale requires one).
    let ckey = IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003000000000001"));
    let contact = Record::Contact(generate::contacts(3, 1).remove(0));
    let op = WriteOp::Create { key: ckey.clone(), record: contact };
    let a = dav.apply(ObjectKind::Contact, std::slice::from_ref(&op)).await.unwrap().remove(0).unwrap();
    let b = dav.apply(ObjectKind::Contact, std::slice::from_ref(&op)).await.unwrap().remove(0).unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(server.members(ObjectKind::Contact).await.len(), 1);
    assert!(server.get(a.id.as_str()).await.contains(&format!("UID:tandem-{}", ckey.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_connector_writes() {
    connector_writes(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_connector_writes() {
    connector_writes(Kind::Xandikos).await;
}

async fn lost_answers_through_the_engine(kind: Kind) {
    let Some(server) = servers::start(kind).await else { return };
    let losing = Arc::new(LosesAnswers::new(server.connector(), 1));
    let crm = Arc::new(tandem_connector::memory::MemoryConnector::new("memory"));
    for e in generate::events(9, 5, servers::anchor()) {
        crm.insert(Record::Event(e));
    }
    let store = Arc::new(tandem_store::SqliteStore::in_memory().await.unwrap());
    let engine = tandem_engine::Engine::new(store).with_policy(servers::policy());
    let job = tandem_engine::UserSync::new(
        servers::USER,
        tandem_engine::config::SyncConfig::named("dav"),
        crm.clone(),
        losing,
    );
    let options = tandem_engine::SyncOptions { objects: Some(vec![ObjectKind::Event]), ..Default::default() };
    let r = engine.sync_user(&job, &options).await.unwrap();
    println!("{r}");
    assert_eq!(server.members(ObjectKind::Event).await.len(), 5, "the writes landed");
    for _ in 0..3 {
        let r = engine.sync_user(&job, &options).await.unwrap();
        println!("{r}");
    }
    assert_eq!(server.members(ObjectKind::Event).await.len(), 5, "no duplicate on the server");
    assert_eq!(crm.len(ObjectKind::Event), 5, "no duplicate in the CRM");
    let quiet = engine.sync_user(&job, &options).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_lost_answers_through_the_engine() {
    lost_answers_through_the_engine(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_lost_answers_through_the_engine() {
    lost_answers_through_the_engine(Kind::Xandikos).await;
}

/// Another client's event with an alarm, an attachment and an X- property, and its contact with
/// properties Tandem does not map: Tandem edits them (through the engine), and everything it
/// does not own is still there.
async fn unknown_properties_survive(kind: Kind) {
    let Some(w) = servers::world(kind).await else { return };
    let cal = w.server.calendar.clone();
    let book = w.server.address_book.clone();
    let extra = "X-FOO:bar\r\nATTACH;FMTTYPE=text/plain:https://files.example.org/agenda.txt\r\n\
                 BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n";
    let body = servers::foreign_event("keep-1@other", "Board meeting", extra);
    assert_eq!(w.server.put(&format!("{cal}board.ics"), &body, "text/calendar").await, 201);
    let card = servers::foreign_contact(
        "keep-2@other",
        "Nakamura",
        "k.nakamura@example.org",
        "NICKNAME:Kei\r\nX-FOO-CARD:baz\r\n",
    );
    assert_eq!(w.server.put(&format!("{book}kei.vcf"), &card, "text/vcard").await, 201);
    w.sync(ObjectKind::Event).await;
    w.sync(ObjectKind::Contact).await;
    let (id, _) = w.crm.records(ObjectKind::Event).remove(0);
    w.crm.edit(ObjectKind::Event, &id, |r| {
        if let Record::Event(e) = r {
            e.subject = Some("Board meeting (edited in the CRM)".into());
        }
    });
    let (id, _) = w.crm.records(ObjectKind::Contact).remove(0);
    w.crm.edit(ObjectKind::Contact, &id, |r| {
        if let Record::Contact(c) = r {
            c.title = Some("CTO".into());
        }
    });
    assert_eq!(w.sync(ObjectKind::Event).await.total_writes(), 1);
    assert_eq!(w.sync(ObjectKind::Contact).await.total_writes(), 1);
    let ics = w.server.get(&format!("{cal}board.ics")).await.replace("\r\n", "\n");
    assert!(ics.contains("SUMMARY:Board meeting (edited in the CRM)"), "{ics}");
    for kept in ["UID:keep-1@other", "X-FOO:bar", "BEGIN:VALARM", "TRIGGER:-PT15M", "agenda.txt"] {
        assert!(ics.contains(kept), "{kept} lost:\n{ics}");
    }
    let vcf = w.server.get(&format!("{book}kei.vcf")).await.replace("\r\n", "\n");
    assert!(vcf.contains("TITLE:CTO"), "{vcf}");
    for kept in ["UID:keep-2@other", "NICKNAME:Kei", "X-FOO-CARD:baz"] {
        assert!(vcf.contains(kept), "{kept} lost:\n{vcf}");
    }
    w.settle(ObjectKind::Event).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_unknown_properties_survive() {
    unknown_properties_survive(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_unknown_properties_survive() {
    unknown_properties_survive(Kind::Xandikos).await;
}

/// A body the server accepts but Tandem cannot read (an end before its start) is reported as
/// an invalid record, which the engine quarantines; the other records still sync.
async fn unreadable_body(kind: Kind) {
    let Some(w) = servers::world(kind).await else { return };
    let cal = w.server.calendar.clone();
    let day = servers::anchor().format("%Y%m%d");
    let bad = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Other//EN\r\nBEGIN:VEVENT\r\nUID:bad-1@other\r\n\
         DTSTAMP:20240101T000000Z\r\nDTSTART:{day}T100000Z\r\nDTEND:{day}T090000Z\r\nSUMMARY:Backwards\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let status = w.server.put(&format!("{cal}bad.ics"), &bad, "text/calendar").await;
    assert_eq!(status, 201, "{kind:?} accepted the body");
    let good = servers::foreign_event("good-1@other", "Fine", "");
    assert_eq!(w.server.put(&format!("{cal}good.ics"), &good, "text/calendar").await, 201);
    let page = w.dav.pull(ObjectKind::Event, None).await.unwrap();
    let invalid = page.changes.iter().find(|c| c.id.as_str().ends_with("bad.ics")).unwrap();
    assert!(matches!(&invalid.kind, ChangeKind::Invalid { reason } if !reason.is_empty()), "{invalid:?}");
    let options = tandem_engine::SyncOptions { objects: Some(vec![ObjectKind::Event]), ..Default::default() };
    let r = w.engine.sync_user(&w.job, &options).await.unwrap();
    println!("{r}");
    let o = r.object(ObjectKind::Event).unwrap();
    assert_eq!(o.quarantined.len(), 1, "{r}");
    assert_eq!(w.crm.len(ObjectKind::Event), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_unreadable_body() {
    unreadable_body(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_unreadable_body() {
    unreadable_body(Kind::Xandikos).await;
}

/// A create whose event has the UID of another resource in the calendar: the server refuses it
/// for this record (CalDAV `no-uid-conflict`), which is `Rejected` (quarantined), never an
/// authentication failure; nothing is written.
async fn uid_conflict(kind: Kind) {
    let Some(server) = servers::start(kind).await else { return };
    let dav = server.connector();
    let body = servers::foreign_event("shared-uid@other", "Original", "");
    assert_eq!(server.put(&format!("{}orig.ics", server.calendar), &body, "text/calendar").await, 201);
    let mut event = generate::events(4, 1, servers::anchor()).remove(0);
    event.ical_uid = Some("shared-uid@other".into());
    let key = IdempotencyKey::derive(ObjectKind::Event, Side::Crm, &RecordId::new("00U0000000000UID"));
    let r = dav.apply(ObjectKind::Event, &[WriteOp::Create { key, record: Record::Event(event) }]).await.unwrap();
    println!("{kind:?}: {:?}", r[0]);
    assert!(matches!(&r[0], Err(ConnectorError::Rejected { .. })), "{:?}", r[0]);
    assert_eq!(server.members(ObjectKind::Event).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_uid_conflict() {
    uid_conflict(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_uid_conflict() {
    uid_conflict(Kind::Xandikos).await;
}
