//! The engine syncing a memory "CRM" with real servers (Radicale, Xandikos) through the DAV
//! connector: first sync both ways (with records another client wrote), quiet cycles,
//! incremental edits on each side, deletes on each side, conflicts on both sides.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod servers;

use tandem_core::model::{ObjectKind, Record};
use tandem_testkit::generate;

use servers::{Kind, World};

const CAL: &str = "text/calendar; charset=utf-8";
const CARD: &str = "text/vcard; charset=utf-8";

fn subject(r: &Record) -> Option<&str> {
    match r {
        Record::Event(e) => e.subject.as_deref(),
        Record::Contact(c) => c.title.as_deref(),
    }
}

/// The CRM's record whose subject is `s`.
fn crm_by_subject(w: &World, s: &str) -> Option<tandem_core::state::RecordId> {
    w.crm.records(ObjectKind::Event).into_iter().find(|(_, r)| subject(r) == Some(s)).map(|(id, _)| id)
}

async fn first_incremental_and_deletes(kind: Kind) {
    let Some(w) = servers::world(kind).await else { return };
    let cal = w.server.calendar.clone();
    let book = w.server.address_book.clone();
    // Another client's records on the server; three of each in the CRM.
    assert_eq!(
        w.server.put(&format!("{cal}dentist.ics"), &servers::foreign_event("d-1@other", "Dentist", ""), CAL).await,
        201
    );
    let card = servers::foreign_contact("c-1@other", "Okafor", "ann.okafor@example.org", "");
    assert_eq!(w.server.put(&format!("{book}okafor.vcf"), &card, CARD).await, 201);
    for e in generate::events(7, 3, servers::anchor()) {
        w.crm.insert(Record::Event(e));
    }
    for c in generate::contacts(7, 3) {
        w.crm.insert(Record::Contact(c));
    }

    for object in [ObjectKind::Event, ObjectKind::Contact] {
        let first = w.sync(object).await;
        let o = first.object(object).unwrap();
        assert_eq!(o.applied("create"), 4, "{first}");
        assert_eq!(w.server.members(object).await.len(), 4, "{object:?} on the server");
        assert_eq!(w.crm.len(object), 4, "{object:?} in the CRM");
        // Quiet: nothing read changes anything.
        for _ in 0..2 {
            assert_eq!(w.sync(object).await.total_writes(), 0);
        }
    }

    // An edit on the server reaches the CRM.
    let moved = servers::foreign_event("d-1@other", "Dentist (moved)", "");
    assert!(matches!(w.server.put(&format!("{cal}dentist.ics"), &moved, CAL).await, 200 | 201 | 204));
    let r = w.sync(ObjectKind::Event).await;
    assert_eq!(r.object(ObjectKind::Event).unwrap().applied("update"), 1, "{r}");
    assert!(crm_by_subject(&w, "Dentist (moved)").is_some());

    // An edit in the CRM reaches the server.
    let (id, _) =
        w.crm.records(ObjectKind::Event).into_iter().find(|(_, r)| subject(r) != Some("Dentist (moved)")).unwrap();
    w.crm.edit(ObjectKind::Event, &id, |r| {
        if let Record::Event(e) = r {
            e.subject = Some("Quarterly review: ünïcode, commas; and \"quotes\"".into());
        }
    });
    let r = w.sync(ObjectKind::Event).await;
    assert_eq!(r.object(ObjectKind::Event).unwrap().applied("update"), 1, "{r}");
    let on_server = servers::read_all(&w.dav, ObjectKind::Event).await;
    assert!(on_server.iter().any(|(_, _, r)| subject(r) == Some("Quarterly review: ünïcode, commas; and \"quotes\"")));
    assert_eq!(w.sync(ObjectKind::Event).await.total_writes(), 0);

    // A contact edited on the server (another client keeps its UID and adds a title).
    let titled = servers::foreign_contact("c-1@other", "Okafor", "ann.okafor@example.org", "TITLE:Head of Sales\r\n");
    assert!(matches!(w.server.put(&format!("{book}okafor.vcf"), &titled, CARD).await, 200 | 201 | 204));
    w.sync(ObjectKind::Contact).await;
    assert!(w.crm.records(ObjectKind::Contact).iter().any(|(_, r)| subject(r) == Some("Head of Sales")));

    // Deletes: on the server (another client), then in the CRM.
    let deleted = w.server.request("DELETE", &format!("{cal}dentist.ics"), None, &[]).await.0;
    assert!(matches!(deleted, 200 | 204), "{deleted}");
    let r = w.sync(ObjectKind::Event).await;
    assert_eq!(r.object(ObjectKind::Event).unwrap().applied("delete"), 1, "{r}");
    assert_eq!(w.crm.len(ObjectKind::Event), 3);
    let (id, _) = w.crm.records(ObjectKind::Event).into_iter().next().unwrap();
    w.crm.remove(ObjectKind::Event, &id);
    let r = w.sync(ObjectKind::Event).await;
    assert_eq!(r.object(ObjectKind::Event).unwrap().applied("delete"), 1, "{r}");
    assert_eq!(w.server.members(ObjectKind::Event).await.len(), 2);
    let (id, _) = w.crm.records(ObjectKind::Contact).into_iter().next().unwrap();
    w.crm.remove(ObjectKind::Contact, &id);
    w.sync(ObjectKind::Contact).await;
    assert_eq!(w.server.members(ObjectKind::Contact).await.len(), 3);
    w.settle(ObjectKind::Event).await;
    w.settle(ObjectKind::Contact).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_first_incremental_and_deletes() {
    first_incremental_and_deletes(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_first_incremental_and_deletes() {
    first_incremental_and_deletes(Kind::Xandikos).await;
}

/// Both sides edit the same event between two cycles: different fields merge, the same field
/// is a conflict the engine settles; both sides end equal and the next cycle is quiet.
async fn conflicts(kind: Kind) {
    let Some(w) = servers::world(kind).await else { return };
    w.crm.insert(Record::Event(generate::events(11, 1, servers::anchor()).remove(0)));
    w.sync(ObjectKind::Event).await;
    let (dav_id, _, record) = servers::read_all(&w.dav, ObjectKind::Event).await.remove(0);
    let Record::Event(mut on_server) = record else { panic!() };
    let (crm_id, _) = w.crm.records(ObjectKind::Event).remove(0);

    // Different fields: location on the server, description in the CRM.
    on_server.location = Some("Room 4 (server)".into());
    let body = tandem_core::interchange::write_icalendar(std::slice::from_ref(&on_server));
    assert!(matches!(w.server.put(dav_id.as_str(), &body, CAL).await, 200 | 204));
    w.crm.edit(ObjectKind::Event, &crm_id, |r| {
        if let Record::Event(e) = r {
            e.description = Some("Agenda (crm)".into());
        }
    });
    w.sync(ObjectKind::Event).await;
    let Record::Event(merged) = servers::read_all(&w.dav, ObjectKind::Event).await.remove(0).2 else { panic!() };
    assert_eq!(merged.location.as_deref(), Some("Room 4 (server)"));
    assert_eq!(merged.description.as_deref(), Some("Agenda (crm)"));
    let Some(Record::Event(crm)) = w.crm.get(ObjectKind::Event, &crm_id) else { panic!() };
    assert_eq!((crm.location.as_deref(), crm.description.as_deref()), (Some("Room 4 (server)"), Some("Agenda (crm)")));

    // The same field on both sides.
    let mut on_server = merged;
    on_server.subject = Some("Subject from the server".into());
    let body = tandem_core::interchange::write_icalendar(std::slice::from_ref(&on_server));
    assert!(matches!(w.server.put(dav_id.as_str(), &body, CAL).await, 200 | 204));
    w.crm.edit(ObjectKind::Event, &crm_id, |r| {
        if let Record::Event(e) = r {
            e.subject = Some("Subject from the CRM".into());
        }
    });
    let r = w.sync(ObjectKind::Event).await;
    assert!(!r.object(ObjectKind::Event).unwrap().conflicts.is_empty(), "{r}");
    let Record::Event(server_now) = servers::read_all(&w.dav, ObjectKind::Event).await.remove(0).2 else { panic!() };
    let Some(Record::Event(crm_now)) = w.crm.get(ObjectKind::Event, &crm_id) else { panic!() };
    assert_eq!(server_now.subject, crm_now.subject);
    w.settle(ObjectKind::Event).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_conflicts() {
    conflicts(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_conflicts() {
    conflicts(Kind::Xandikos).await;
}

/// One series is one resource: another client's weekly meeting with a moved occurrence (a
/// second `VEVENT` with `RECURRENCE-ID` in the same `.ics`) is one record with an override; a
/// Tandem edit of the series keeps the override in that one resource.
async fn series_are_one_resource(kind: Kind) {
    let Some(w) = servers::world(kind).await else { return };
    let cal = w.server.calendar.clone();
    let day = servers::anchor();
    let d = |n: i64| (day + chrono::Duration::days(n)).format("%Y%m%d").to_string();
    let series = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Other//EN\r\n\
         BEGIN:VEVENT\r\nUID:weekly-1@other\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:{}T090000Z\r\n\
         DTEND:{}T093000Z\r\nRRULE:FREQ=WEEKLY;COUNT=6\r\nSUMMARY:Weekly sync\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:weekly-1@other\r\nDTSTAMP:20240101T000000Z\r\nRECURRENCE-ID:{}T090000Z\r\n\
         DTSTART:{}T110000Z\r\nDTEND:{}T113000Z\r\nSUMMARY:Weekly sync (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        d(0),
        d(0),
        d(7),
        d(7),
        d(7)
    );
    assert_eq!(w.server.put(&format!("{cal}weekly.ics"), &series, CAL).await, 201);
    w.sync(ObjectKind::Event).await;
    let crm = w.crm.records(ObjectKind::Event);
    assert_eq!(crm.len(), 1, "one record for the series");
    let Record::Event(e) = &crm[0].1 else { panic!() };
    assert_eq!(e.recurrence.as_ref().unwrap().overrides.len(), 1, "{e:?}");

    w.crm.edit(ObjectKind::Event, &crm[0].0, |r| {
        if let Record::Event(e) = r {
            e.location = Some("Room 7".into());
        }
    });
    assert_eq!(w.sync(ObjectKind::Event).await.total_writes(), 1);
    assert_eq!(w.server.members(ObjectKind::Event).await.len(), 1);
    let ics = w.server.get(&format!("{cal}weekly.ics")).await.replace("\r\n", "\n");
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 2, "{ics}");
    assert!(ics.contains("RECURRENCE-ID") && ics.contains("Weekly sync (moved)") && ics.contains("Room 7"), "{ics}");
    w.settle(ObjectKind::Event).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_series_are_one_resource() {
    series_are_one_resource(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_series_are_one_resource() {
    series_are_one_resource(Kind::Xandikos).await;
}

/// An incremental `sync-collection` round reports members by version only: the resources Tandem
/// wrote come back as echoes without a single body read, and a resource another client edited
/// is read (one multiget) and synced.
async fn own_writes_are_not_read_back(kind: Kind) {
    let Some(w) = servers::world(kind).await else { return };
    for e in generate::events(11, 30, servers::anchor()) {
        w.crm.insert(Record::Event(e));
    }
    let first = w.sync(ObjectKind::Event).await;
    assert_eq!(first.object(ObjectKind::Event).unwrap().applied("create"), 30, "{first}");

    // The round after the first sync lists the 30 resources Tandem created: none is read.
    let echo = w.sync(ObjectKind::Event).await;
    let o = echo.object(ObjectKind::Event).unwrap();
    assert_eq!(echo.total_writes(), 0, "{echo}");
    assert_eq!(o.echoes_suppressed, 30, "{echo}");
    assert_eq!(o.api_calls.mailbox, 1, "one sync-collection REPORT, no multiget: {echo}");

    // Another client edits one of them (its summary): that one is read and reaches the CRM.
    let member = w.server.members(ObjectKind::Event).await.into_iter().next().unwrap();
    let body = w.server.get(&member).await;
    let edited: String = body
        .split_inclusive("\r\n")
        .map(|line| if line.starts_with("SUMMARY") { "SUMMARY:Moved by another client\r\n" } else { line })
        .collect();
    assert_ne!(edited, body, "the resource has a SUMMARY line");
    assert!(matches!(w.server.put(&member, &edited, CAL).await, 200 | 201 | 204));
    let r = w.sync(ObjectKind::Event).await;
    let o = r.object(ObjectKind::Event).unwrap();
    assert_eq!(o.applied("update"), 1, "{r}");
    assert_eq!(o.api_calls.mailbox, 2, "the REPORT and one multiget: {r}");
    assert!(crm_by_subject(&w, "Moved by another client").is_some());
    assert_eq!(w.sync(ObjectKind::Event).await.total_writes(), 0);
    w.settle(ObjectKind::Event).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_reads_back_none_of_its_own_writes() {
    own_writes_are_not_read_back(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_reads_back_none_of_its_own_writes() {
    own_writes_are_not_read_back(Kind::Xandikos).await;
}
