//! Attendees patched one by one over loopback: Graph takes the whole list, so the connector
//! applies the added and removed attendees to the event's list as it is.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use chrono::{Duration, NaiveTime};
use common::*;
use tandem_connector::{Connector, WriteOp};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Attendee, AttendeeRole, Event, EventTime, EventTiming, ObjectKind, Record, ResponseStatus};
use tandem_core::plan::FieldChange;
use tandem_core::state::{ChangeKind, IdempotencyKey, RecordId, Side};

const E: ObjectKind = ObjectKind::Event;

fn person(email: &str, name: &str) -> Attendee {
    Attendee {
        email: email.into(),
        name: Some(name.into()),
        role: AttendeeRole::Required,
        response: ResponseStatus::NeedsAction,
    }
}

fn meeting(attendees: Vec<Attendee>) -> Event {
    let d = day(4);
    let start = d.and_time(NaiveTime::from_hms_opt(9, 0, 0).unwrap());
    let timing = EventTiming { start: EventTime::utc(start), end: EventTime::utc(start + Duration::hours(1)) };
    Event { subject: Some("Board".into()), attendees, ..Event::at(timing) }
}

async fn attendees_of(w: &World, id: &RecordId) -> Vec<(String, Option<String>, AttendeeRole)> {
    let change = w.graph.fetch(E, std::slice::from_ref(id)).await.unwrap().pop().unwrap();
    match change.kind {
        ChangeKind::Upserted { record: Record::Event(e) } => {
            e.attendees.into_iter().map(|a| (a.email.to_lowercase(), a.name, a.role)).collect()
        }
        other => panic!("not an event: {other:?}"),
    }
}

#[tokio::test]
async fn an_update_adding_one_attendee_and_removing_another_keeps_the_others() {
    let w = world().await;
    let mut optional = person("cat@example.com", "Cat");
    optional.role = AttendeeRole::Optional;
    let e = meeting(vec![person("ann@example.com", "Ann"), person("bob@example.com", "Bob"), optional]);
    let key = IdempotencyKey::derive(E, Side::Crm, &RecordId::new("00UATT1"));
    let created = w.graph.apply(E, &[WriteOp::Create { key, record: Record::Event(e) }]).await.unwrap();
    let created = created.into_iter().next().unwrap().unwrap();

    let patch = vec![
        FieldChange {
            field: FieldKey::attendee("dan@example.com"),
            value: Some(FieldValue::Attendee(person("dan@example.com", "Dan"))),
        },
        // Removed by address, whatever its case.
        FieldChange { field: FieldKey::attendee("BOB@example.com"), value: None },
    ];
    let result = w
        .graph
        .apply(E, &[WriteOp::Update { id: created.id.clone(), expected: created.version.clone(), patch }])
        .await
        .unwrap();
    let updated = result.into_iter().next().unwrap().unwrap();
    assert_ne!(updated.version, created.version);

    assert_eq!(
        attendees_of(&w, &created.id).await,
        [
            ("ann@example.com".to_owned(), Some("Ann".to_owned()), AttendeeRole::Required),
            ("cat@example.com".to_owned(), Some("Cat".to_owned()), AttendeeRole::Optional),
            ("dan@example.com".to_owned(), Some("Dan".to_owned()), AttendeeRole::Required),
        ]
    );

    // Adding someone already there changes nothing of theirs; the subject rides along.
    let patch = vec![
        FieldChange {
            field: FieldKey::attendee("cat@example.com"),
            value: Some(FieldValue::Attendee(person("cat@example.com", "Catherine"))),
        },
        FieldChange { field: FieldKey::Subject, value: Some(FieldValue::Text("Board (moved)".into())) },
    ];
    let result = w
        .graph
        .apply(E, &[WriteOp::Update { id: updated.id.clone(), expected: updated.version.clone(), patch }])
        .await
        .unwrap();
    result.into_iter().next().unwrap().unwrap();
    let after = attendees_of(&w, &created.id).await;
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(after[1], ("cat@example.com".to_owned(), Some("Cat".to_owned()), AttendeeRole::Optional));
}

#[tokio::test]
async fn an_attendee_patch_against_a_stale_version_is_refused() {
    let w = world().await;
    let e = meeting(vec![person("ann@example.com", "Ann")]);
    let key = IdempotencyKey::derive(E, Side::Crm, &RecordId::new("00UATT2"));
    let created = w.graph.apply(E, &[WriteOp::Create { key, record: Record::Event(e) }]).await.unwrap();
    let created = created.into_iter().next().unwrap().unwrap();
    let touch = vec![FieldChange { field: FieldKey::Subject, value: Some(FieldValue::Text("Board 2".into())) }];
    w.graph
        .apply(E, &[WriteOp::Update { id: created.id.clone(), expected: created.version.clone(), patch: touch }])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    let patch = vec![FieldChange { field: FieldKey::attendee("ann@example.com"), value: None }];
    let result = w
        .graph
        .apply(E, &[WriteOp::Update { id: created.id.clone(), expected: created.version, patch }])
        .await
        .unwrap();
    assert!(matches!(result[0], Err(tandem_connector::ConnectorError::PreconditionFailed { .. })), "{:?}", result[0]);
    assert_eq!(attendees_of(&w, &created.id).await.len(), 1, "Ann is still there");
}
