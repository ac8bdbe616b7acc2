//! Events over loopback: mapping both ways (zones, all-day, privacy, show-as, attendees), series
//! with exceptions and cancellations in both directions, every recurrence pattern, the calendar
//! window and its removals, immutable ids.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};
use common::*;
use serde_json::json;
use tandem_connector::{Connector, WriteOp, Written};
use tandem_core::model::{
    Attendee, AttendeeRole, Event, EventTime, EventTiming, ObjectKind, OccurrenceOverride, Privacy, Record, Recurrence,
    ResponseStatus, ShowAs,
};
use tandem_core::state::{Change, ChangeKind, IdempotencyKey, RecordId, Side};
use tandem_graph::SYNC_KEY_PROPERTY;
use tandem_testkit::graph::GraphState;

const E: ObjectKind = ObjectKind::Event;

fn event_of(change: &Change) -> Event {
    match &change.kind {
        ChangeKind::Upserted { record: Record::Event(e) } => e.clone(),
        other => panic!("not an event upsert: {other:?}"),
    }
}

fn zoned(date: NaiveDate, h: u32, m: u32, zone: &str) -> EventTime {
    EventTime::Zoned { local: date.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap()), zone: zone.into() }
}

fn blank(timing: EventTiming) -> Event {
    Event { subject: Some("Meeting".into()), ..Event::at(timing) }
}

/// The next `weekday` at least `after` days from today.
fn next(weekday: Weekday, after: i64) -> NaiveDate {
    let mut d = day(after);
    while d.weekday() != weekday {
        d += Duration::days(1);
    }
    d
}

async fn create(w: &World, e: Event) -> Written {
    let key = IdempotencyKey::derive(E, Side::Crm, &RecordId::new(uuid_like()));
    let r = w.graph.apply(E, &[WriteOp::Create { key, record: Record::Event(e) }]).await.unwrap();
    r.into_iter().next().unwrap().unwrap()
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("00U{:012}", N.fetch_add(1, Ordering::SeqCst))
}

async fn fetch(w: &World, id: &RecordId) -> Change {
    w.graph.fetch(E, std::slice::from_ref(id)).await.unwrap().pop().unwrap()
}

#[tokio::test]
async fn a_meeting_in_a_windows_zone_reads_into_its_iana_zone_with_everyone_on_it() {
    let w = world().await;
    let d = day(3);
    w.fake
        .state()
        .seed_event(
            MAILBOX,
            json!({
                "subject": "Quarterly review",
                "body": {"contentType": "html", "content": "<p>Agenda &amp; notes</p>"},
                "location": {"displayName": "Room 4"},
                "start": at(d, "09:30:00", "Pacific Standard Time"),
                "end": at(d, "10:30:00", "Pacific Standard Time"),
                "showAs": "oof", "sensitivity": "confidential", "categories": ["Red category"],
                "attendees": [
                    {"emailAddress": {"address": "bob@example.com", "name": "Bob"}, "type": "required", "status": {"response": "accepted"}},
                    {"emailAddress": {"address": "cat@example.com"}, "type": "optional", "status": {"response": "tentativelyAccepted"}},
                    {"emailAddress": {"address": "room4@example.com", "name": "Room 4"}, "type": "resource", "status": {"response": "declined"}},
                    {"emailAddress": {"address": "dan@example.com"}, "type": "required", "status": {"response": "notResponded"}},
                ],
            }),
        )
        .unwrap();
    let (changes, _, _) = drain(w.graph.as_ref(), E, None).await;
    assert_eq!(changes.len(), 1);
    let e = event_of(&changes[0]);
    assert_eq!(e.timing.start, zoned(d, 9, 30, "America/Los_Angeles"));
    assert_eq!(e.timing.end, zoned(d, 10, 30, "America/Los_Angeles"));
    assert_eq!(e.description.as_deref(), Some("Agenda & notes"));
    assert_eq!(e.location.as_deref(), Some("Room 4"));
    assert_eq!(e.show_as, ShowAs::OutOfOffice);
    assert_eq!(e.privacy, Privacy::Private);
    assert_eq!(e.categories, vec!["Red category"]);
    let roles: Vec<(AttendeeRole, ResponseStatus)> = e.attendees.iter().map(|a| (a.role, a.response)).collect();
    assert_eq!(
        roles,
        vec![
            (AttendeeRole::Required, ResponseStatus::Accepted),
            (AttendeeRole::Optional, ResponseStatus::Tentative),
            (AttendeeRole::Resource, ResponseStatus::Declined),
            (AttendeeRole::Required, ResponseStatus::NeedsAction),
        ]
    );
    // The service makes the mailbox the organizer (`isOrganizer`): the model leaves the owner's
    // own organizer out, so only meetings others organize carry one.
    assert_eq!(e.organizer, None, "the mailbox organizes it");
    assert!(e.ical_uid.is_some());
    assert!(changes[0].sync_key.is_none(), "not created by Tandem");
}

#[tokio::test]
async fn events_written_read_back_unchanged_with_transaction_id_and_key() {
    let w = world().await;
    let d = day(5);
    let mut e = blank(EventTiming {
        start: zoned(d, 18, 5, "Europe/Paris"),
        end: zoned(d + Duration::days(1), 7, 40, "Asia/Tokyo"),
    });
    e.subject = Some("CDG → HND".into());
    e.description = Some("Seat 14A;\nvegetarian, \"no nuts\"".into());
    e.location = Some("Terminal 2E".into());
    e.show_as = ShowAs::WorkingElsewhere;
    e.categories = vec!["Travel".into()];
    e.attendees = vec![Attendee {
        email: "bob@example.com".into(),
        name: Some("Bob".into()),
        role: AttendeeRole::Optional,
        response: ResponseStatus::Tentative,
    }];
    let key = IdempotencyKey::derive(E, Side::Crm, &RecordId::new("00UFLIGHT"));
    let written =
        w.graph.apply(E, &[WriteOp::Create { key: key.clone(), record: Record::Event(e.clone()) }]).await.unwrap();
    let written = written[0].clone().unwrap();
    let stored = w.fake.state().event(MAILBOX, &written.id.0).unwrap();
    assert_eq!(stored["transactionId"], json!(key.as_str()));
    assert_eq!(stored["originalStartTimeZone"], "Romance Standard Time");
    assert_eq!(stored["originalEndTimeZone"], "Tokyo Standard Time");
    assert_eq!(
        w.fake.state().extended_property(MAILBOX, &written.id.0, SYNC_KEY_PROPERTY).as_deref(),
        Some(key.as_str())
    );
    let back = fetch(&w, &written.id).await;
    assert_eq!(back.version, written.version);
    assert_eq!(back.sync_key.as_ref(), Some(&key));
    let read = event_of(&back);
    assert_eq!(read.timing, e.timing);
    assert_eq!((read.subject, read.description, read.location), (e.subject, e.description, e.location));
    assert_eq!((read.show_as, read.categories, read.attendees), (e.show_as, e.categories, e.attendees));
    assert_eq!(w.graph.find_by_key(E, &key).await.unwrap(), Some(written));
}

#[tokio::test]
async fn all_day_events_keep_their_dates_across_zones() {
    let w = world().await;
    let d = day(10);
    for zone in ["Tokyo Standard Time", "Hawaiian Standard Time", "UTC"] {
        w.fake
            .state()
            .seed_event(
                MAILBOX,
                json!({"subject": format!("Holiday {zone}"), "isAllDay": true,
                       "start": at(d, "00:00:00", zone), "end": at(d + Duration::days(2), "00:00:00", zone)}),
            )
            .unwrap();
    }
    // Not at midnight: refused, as the service refuses it.
    let bad = w.fake.state().seed_event(
        MAILBOX,
        json!({"subject": "x", "isAllDay": true, "start": at(d, "09:00:00", "UTC"), "end": at(d, "17:00:00", "UTC")}),
    );
    assert!(bad.is_err());
    let (changes, _, _) = drain(w.graph.as_ref(), E, None).await;
    assert_eq!(changes.len(), 3);
    for c in &changes {
        let e = event_of(c);
        assert_eq!(
            e.timing,
            EventTiming {
                start: EventTime::AllDay { date: d },
                end: EventTime::AllDay { date: d + Duration::days(2) }
            },
            "{:?}",
            e.subject
        );
    }
    // Written all-day events: midnight to midnight in one zone, end exclusive.
    let e = blank(EventTiming {
        start: EventTime::AllDay { date: d },
        end: EventTime::AllDay { date: d + Duration::days(1) },
    });
    let written = create(&w, e.clone()).await;
    let stored = w.fake.state().event(MAILBOX, &written.id.0).unwrap();
    assert_eq!(stored["isAllDay"], true);
    assert_eq!(stored["start"]["dateTime"], json!(format!("{}T00:00:00.0000000", d.format("%Y-%m-%d"))));
    assert_eq!(event_of(&fetch(&w, &written.id).await).timing, e.timing);
}

#[tokio::test]
async fn private_events_round_trip_and_personal_reads_as_normal() {
    let w = world().await;
    let d = day(2);
    for (sensitivity, expected) in [
        ("private", Privacy::Private),
        ("confidential", Privacy::Private),
        ("personal", Privacy::Normal),
        ("normal", Privacy::Normal),
    ] {
        let id = w
            .fake
            .state()
            .seed_event(MAILBOX, json!({"subject": sensitivity, "sensitivity": sensitivity, "start": at(d, "08:00:00", "UTC"), "end": at(d, "09:00:00", "UTC")}))
            .unwrap();
        assert_eq!(event_of(&fetch(&w, &RecordId::from(id)).await).privacy, expected, "{sensitivity}");
    }
    let mut e = blank(EventTiming { start: zoned(d, 8, 0, "UTC"), end: zoned(d, 9, 0, "UTC") });
    e.privacy = Privacy::Private;
    let written = create(&w, e).await;
    assert_eq!(w.fake.state().event(MAILBOX, &written.id.0).unwrap()["sensitivity"], "private");
    assert_eq!(event_of(&fetch(&w, &written.id).await).privacy, Privacy::Private);
}

#[tokio::test]
async fn a_series_with_an_exception_and_a_cancellation_reads_as_one_record() {
    let w = world().await;
    let monday = next(Weekday::Mon, 7);
    let master = w
        .fake
        .state()
        .seed_event(
            MAILBOX,
            json!({
                "subject": "Standup",
                "start": at(monday, "09:00:00", "Romance Standard Time"),
                "end": at(monday, "09:15:00", "Romance Standard Time"),
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
                    "range": {"type": "numbered", "startDate": monday.format("%Y-%m-%d").to_string(), "numberOfOccurrences": 6,
                              "recurrenceTimeZone": "Romance Standard Time"}
                }
            }),
        )
        .unwrap();
    let second = monday + Duration::weeks(1);
    let third = monday + Duration::weeks(2);
    w.fake
        .state()
        .edit_event(
            MAILBOX,
            &GraphState::occurrence_id(&master, second),
            json!({"subject": "Standup (demo day)", "start": at(second, "11:00:00", "Romance Standard Time"), "end": at(second, "11:30:00", "Romance Standard Time")}),
        )
        .unwrap();
    w.fake.state().delete_event(MAILBOX, &GraphState::occurrence_id(&master, third)).unwrap();
    let (changes, cursor, _) = drain(w.graph.as_ref(), E, None).await;
    assert_eq!(changes.len(), 1, "one record for the series: {changes:?}");
    assert_eq!(changes[0].id.as_str(), master);
    let e = event_of(&changes[0]);
    let r = e.recurrence.clone().unwrap();
    assert_eq!(r.rules, vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=6"]);
    let ov = &r.overrides[&zoned(second, 9, 0, "Europe/Paris")];
    assert_eq!(ov.subject.as_deref(), Some("Standup (demo day)"));
    assert_eq!(
        ov.timing,
        Some(EventTiming { start: zoned(second, 11, 0, "Europe/Paris"), end: zoned(second, 11, 30, "Europe/Paris") })
    );
    assert_eq!(r.cancelled.iter().collect::<Vec<_>>(), vec![&zoned(third, 9, 0, "Europe/Paris")]);

    // Another occurrence cancelled: the series is read again.
    let fourth = monday + Duration::weeks(3);
    w.fake.state().delete_event(MAILBOX, &GraphState::occurrence_id(&master, fourth)).unwrap();
    let (changes, cursor, _) = drain(w.graph.as_ref(), E, Some(cursor)).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(event_of(&changes[0]).recurrence.unwrap().cancelled.len(), 2);

    // The whole series deleted: its occurrences' removals lead back to it.
    w.fake.state().delete_event(MAILBOX, &master).unwrap();
    let (changes, _, _) = drain(w.graph.as_ref(), E, Some(cursor)).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].id.as_str(), master);
    assert!(matches!(changes[0].kind, ChangeKind::Deleted));
}

#[tokio::test]
async fn a_series_written_from_the_crm_gets_its_exceptions_and_cancellations() {
    let w = world().await;
    let monday = next(Weekday::Mon, 7);
    let zone = "America/New_York";
    let mut e = blank(EventTiming { start: zoned(monday, 14, 0, zone), end: zoned(monday, 15, 0, zone) });
    e.subject = Some("1:1".into());
    let mut r = Recurrence { rules: vec!["FREQ=WEEKLY;BYDAY=MO,WE;COUNT=8".into()], ..Recurrence::default() };
    let wednesday = monday + Duration::days(2);
    r.overrides.insert(
        zoned(wednesday, 14, 0, zone),
        OccurrenceOverride {
            timing: Some(EventTiming { start: zoned(wednesday, 16, 0, zone), end: zoned(wednesday, 17, 0, zone) }),
            subject: Some("1:1 (moved)".into()),
            location: Some("Cafe".into()),
            description: None,
        },
    );
    r.cancelled.insert(zoned(monday + Duration::weeks(1), 14, 0, zone));
    e.recurrence = Some(r.clone());
    let written = create(&w, e.clone()).await;
    let stored = w.fake.state().event(MAILBOX, &written.id.0).unwrap();
    assert_eq!(stored["type"], "seriesMaster");
    assert_eq!(stored["exceptionOccurrences"].as_array().unwrap().len(), 1);
    assert_eq!(stored["cancelledOccurrences"].as_array().unwrap().len(), 1);
    assert_eq!(
        stored["@odata.etag"],
        json!(written.version.as_str()),
        "the version is the series' after its exceptions"
    );
    let back = event_of(&fetch(&w, &written.id).await);
    assert_eq!(back.recurrence, Some(r));
    assert_eq!(back.timing, e.timing);
    // Reading the calendar: the series once, at the version written (an echo).
    let (changes, _, _) = drain(w.graph.as_ref(), E, None).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].version, written.version);
}

#[tokio::test]
async fn every_recurrence_pattern_and_range_round_trips() {
    let w = world().await;
    let start = next(Weekday::Tue, 3);
    let dom = start.day();
    let month = start.month();
    let rules = [
        "FREQ=DAILY;INTERVAL=2;COUNT=5".to_owned(),
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;WKST=SU;COUNT=6".to_owned(),
        "FREQ=WEEKLY;BYDAY=TU".to_owned(),
        format!("FREQ=MONTHLY;BYMONTHDAY={dom};COUNT=4"),
        "FREQ=MONTHLY;BYDAY=-1TU;COUNT=3".to_owned(),
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1;COUNT=3".to_owned(),
        format!("FREQ=YEARLY;BYMONTH={month};BYMONTHDAY={dom};COUNT=2"),
        format!("FREQ=YEARLY;BYMONTH={month};BYDAY=2TU;COUNT=2"),
    ];
    for rule in rules {
        let mut e = blank(EventTiming {
            start: zoned(start, 10, 0, "Europe/London"),
            end: zoned(start, 11, 0, "Europe/London"),
        });
        e.recurrence = Some(Recurrence { rules: vec![rule.clone()], ..Recurrence::default() });
        let written = create(&w, e).await;
        let back = event_of(&fetch(&w, &written.id).await);
        assert_eq!(back.recurrence.unwrap().rules, vec![rule]);
    }
    // UNTIL: timed (last day at the start time, in UTC) and all-day (a date).
    let until_day = start + Duration::weeks(4);
    let until_instant = zoned(until_day, 10, 0, "Europe/London").instant().unwrap();
    let until = format!("FREQ=WEEKLY;BYDAY=TU;UNTIL={}", until_instant.format("%Y%m%dT%H%M%SZ"));
    let mut e =
        blank(EventTiming { start: zoned(start, 10, 0, "Europe/London"), end: zoned(start, 11, 0, "Europe/London") });
    e.recurrence = Some(Recurrence { rules: vec![until.clone()], ..Recurrence::default() });
    let written = create(&w, e).await;
    let stored = w.fake.state().event(MAILBOX, &written.id.0).unwrap();
    assert_eq!(stored["recurrence"]["range"]["endDate"], json!(until_day.format("%Y-%m-%d").to_string()));
    assert_eq!(event_of(&fetch(&w, &written.id).await).recurrence.unwrap().rules, vec![until]);
    let mut all_day = blank(EventTiming {
        start: EventTime::AllDay { date: start },
        end: EventTime::AllDay { date: start + Duration::days(1) },
    });
    let rule = format!("FREQ=WEEKLY;BYDAY=TU;UNTIL={}", until_day.format("%Y%m%d"));
    all_day.recurrence = Some(Recurrence { rules: vec![rule.clone()], ..Recurrence::default() });
    let written = create(&w, all_day).await;
    assert_eq!(event_of(&fetch(&w, &written.id).await).recurrence.unwrap().rules, vec![rule]);
    // Rules Graph cannot express are rejected, not written wrong.
    let mut hourly = blank(EventTiming { start: zoned(start, 10, 0, "UTC"), end: zoned(start, 11, 0, "UTC") });
    hourly.recurrence = Some(Recurrence { rules: vec!["FREQ=HOURLY;COUNT=3".into()], ..Recurrence::default() });
    let key = IdempotencyKey::derive(E, Side::Crm, &RecordId::new("00UHOURLY"));
    let r = w.graph.apply(E, &[WriteOp::Create { key, record: Record::Event(hourly) }]).await.unwrap();
    assert!(matches!(&r[0], Err(tandem_connector::ConnectorError::Rejected { .. })), "{r:?}");
}

#[tokio::test]
async fn the_window_bounds_the_calendar_and_out_of_window_removals_are_not_deletes() {
    let w = world().await;
    let event = |subject: &str, d: NaiveDate| json!({"subject": subject, "start": at(d, "10:00:00", "UTC"), "end": at(d, "11:00:00", "UTC")});
    let inside = w.fake.state().seed_event(MAILBOX, event("inside", day(5))).unwrap();
    let leaving = w.fake.state().seed_event(MAILBOX, event("leaving", day(6))).unwrap();
    let gone = w.fake.state().seed_event(MAILBOX, event("gone", day(7))).unwrap();
    w.fake.state().seed_event(MAILBOX, event("long ago", day(-40))).unwrap();
    w.fake.state().seed_event(MAILBOX, event("next year", day(300))).unwrap();
    w.fake.state().seed_event(MAILBOX, event("too far", day(400))).unwrap();
    let (changes, cursor, _) = drain(w.graph.as_ref(), E, None).await;
    let mut subjects: Vec<String> = changes.iter().map(|c| event_of(c).subject.unwrap()).collect();
    subjects.sort();
    assert_eq!(subjects, ["gone", "inside", "leaving", "next year"]);

    // One moves out of the window, one is deleted, one is added far outside it: the service
    // reports all three as removed; only the delete is one.
    w.fake
        .state()
        .edit_event(
            MAILBOX,
            &leaving,
            json!({"start": at(day(500), "10:00:00", "UTC"), "end": at(day(500), "11:00:00", "UTC")}),
        )
        .unwrap();
    w.fake.state().delete_event(MAILBOX, &gone).unwrap();
    w.fake.state().seed_event(MAILBOX, event("far away", day(-200))).unwrap();
    w.fake.state().edit_event(MAILBOX, &inside, json!({"subject": "inside, renamed"})).unwrap();
    let (changes, _, _) = drain(w.graph.as_ref(), E, Some(cursor)).await;
    let deleted: Vec<&str> =
        changes.iter().filter(|c| matches!(c.kind, ChangeKind::Deleted)).map(|c| c.id.as_str()).collect();
    assert_eq!(deleted, vec![gone.as_str()], "{changes:?}");
    let upserted: Vec<String> =
        changes.iter().filter(|c| c.record().is_some()).map(|c| event_of(c).subject.unwrap()).collect();
    assert_eq!(upserted, vec!["inside, renamed"]);
    assert_eq!(w.fake.state().requests_without_immutable_id(), 0, "every request asks for immutable ids");
}

#[tokio::test]
async fn paging_over_occurrences_reads_a_series_once_and_a_moved_exception_again() {
    let mut w = world().await;
    let mut config = config_for(&w.fake, certificate_auth());
    config.page_size = 7;
    w.graph = std::sync::Arc::new(tandem_graph::GraphConnector::new(config, http()).unwrap());
    let d = next(Weekday::Wed, 2);
    let master = w
        .fake
        .state()
        .seed_event(
            MAILBOX,
            json!({
                "subject": "Daily", "start": at(d, "08:00:00", "UTC"), "end": at(d, "08:15:00", "UTC"),
                "recurrence": {"pattern": {"type": "daily", "interval": 1},
                               "range": {"type": "numbered", "startDate": d.format("%Y-%m-%d").to_string(), "numberOfOccurrences": 20}}
            }),
        )
        .unwrap();
    let (changes, cursor, pages) = drain(w.graph.as_ref(), E, None).await;
    assert!(pages >= 3, "20 occurrences in pages of 7");
    assert_eq!(changes.iter().filter(|c| c.id.as_str() == master).count(), 1, "the series is read once per round");
    assert_eq!(w.fake.state().count("$batch: GET /users/{id}/events/{id}"), 1);
    // An exception moves: only it is reported, and the series is read again.
    let occ = GraphState::occurrence_id(&master, d + Duration::days(4));
    w.fake.state().edit_event(MAILBOX, &occ, json!({"start": at(d + Duration::days(4), "12:00:00", "UTC"), "end": at(d + Duration::days(4), "12:15:00", "UTC")})).unwrap();
    let (changes, _, _) = drain(w.graph.as_ref(), E, Some(cursor)).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(event_of(&changes[0]).recurrence.unwrap().overrides.len(), 1);
}

#[tokio::test]
async fn the_window_moves_forward_within_a_round_once_it_falls_behind() {
    use std::sync::{Arc, Mutex};
    let w = world().await;
    let now = Arc::new(Mutex::new(chrono::Utc::now()));
    let clock = now.clone();
    let graph = tandem_graph::GraphConnector::new(config_for(&w.fake, certificate_auth()), http())
        .unwrap()
        .with_clock(Arc::new(move || *clock.lock().unwrap()));
    let event = |subject: &str, d: NaiveDate| json!({"subject": subject, "start": at(d, "10:00:00", "UTC"), "end": at(d, "11:00:00", "UTC")});
    w.fake.state().seed_event(MAILBOX, event("soon", day(10))).unwrap();
    w.fake.state().seed_event(MAILBOX, event("beyond the first window", day(370))).unwrap();
    let (changes, cursor, _) = drain(&graph, E, None).await;
    assert_eq!(changes.len(), 1);
    // Ten days later the window is behind: the round reads the moved window in full.
    *now.lock().unwrap() += Duration::days(10);
    let (changes, cursor, pages) = drain(&graph, E, Some(cursor)).await;
    assert!(pages >= 2, "the old round, then the new window");
    let subjects: Vec<String> = changes.iter().map(|c| event_of(c).subject.unwrap()).collect();
    assert!(subjects.contains(&"beyond the first window".to_owned()), "{subjects:?}");
    let (quiet, _, _) = drain(&graph, E, Some(cursor)).await;
    assert!(quiet.is_empty(), "{quiet:?}");
}

#[tokio::test]
async fn replayed_rows_within_a_round_are_harmless() {
    let w = world_with(tandem_testkit::graph::GraphFakeConfig { delta_replays: true, ..Default::default() }).await;
    let d = day(4);
    for i in 0..5 {
        w.fake
            .state()
            .seed_event(
                MAILBOX,
                json!({"subject": format!("E{i}"), "start": at(d, "10:00:00", "UTC"), "end": at(d, "11:00:00", "UTC")}),
            )
            .unwrap();
    }
    let crm = tandem_connector::memory::MemoryConnector::new("crm");
    let engine = engine().await;
    let job = tandem_engine::UserSync::new(
        MAILBOX,
        tandem_engine::config::SyncConfig::named("t"),
        std::sync::Arc::new(crm.clone()),
        w.graph.clone(),
    );
    let options = tandem_engine::SyncOptions { objects: Some(vec![E]), ..Default::default() };
    let report = engine.sync_user(&job, &options).await.unwrap();
    assert_eq!(report.object(E).unwrap().applied("create"), 5, "{report}");
    assert_eq!(crm.len(E), 5, "each event once although the feed sent it twice");
    let quiet = engine.sync_user(&job, &options).await.unwrap();
    assert_eq!(quiet.total_writes(), 0);
}
