//! Writing: the request bodies of a create, of a patch of field changes, and of an occurrence
//! made an exception.

use serde_json::{Map, Value, json};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Event, OccurrenceOverride, Privacy, Record, ShowAs};
use tandem_core::plan::FieldChange;

use super::values::{
    WriteOptions, attendees_json, body_json, person_json, recurrence_json, sensitivity, show_as_json, timing_json,
};

/// The body of `POST …/events`, with `transactionId` and the sync-key extended property set to `key`.
pub(crate) fn create_body(
    e: &Event,
    key: &str,
    property: &str,
    opts: WriteOptions<'_>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    out.insert("subject".into(), json!(e.subject.clone().unwrap_or_default()));
    out.insert("body".into(), body_json(e.description.as_deref()));
    if let Some(l) = &e.location {
        out.insert("location".into(), json!({"displayName": l}));
    }
    let (start, end, all_day) = timing_json(&e.timing, opts)?;
    out.insert("start".into(), start);
    out.insert("end".into(), end);
    out.insert("isAllDay".into(), json!(all_day));
    if let Some(r) = e.recurrence.as_ref().filter(|r| !r.rules.is_empty() || !r.rdates.is_empty()) {
        out.insert("recurrence".into(), recurrence_json(r, &e.timing, opts)?);
    }
    if !e.attendees.is_empty() {
        out.insert("attendees".into(), attendees_json(&e.attendees));
    }
    if let Some(o) = &e.organizer {
        out.insert("organizer".into(), person_json(o));
    }
    out.insert("sensitivity".into(), json!(sensitivity(e.privacy)));
    out.insert("showAs".into(), json!(show_as_json(e.show_as)));
    out.insert("categories".into(), json!(e.categories));
    out.insert("transactionId".into(), json!(key));
    out.insert("singleValueExtendedProperties".into(), json!([{"id": property, "value": key}]));
    Ok(out)
}

/// The body of `PATCH …/events/{id}` for a plan's field changes. `current` is the event as it
/// is now, needed when the timing or the recurrence changes (a series' range starts on its
/// first day).
pub(crate) fn patch_body(
    patch: &[FieldChange],
    current: Option<&Event>,
    opts: WriteOptions<'_>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let text_of = |v: &Option<FieldValue>| -> Result<Option<String>, String> {
        match v {
            None => Ok(None),
            Some(FieldValue::Text(t)) => Ok(Some(t.clone())),
            Some(other) => Err(format!("expected text, got {other:?}")),
        }
    };
    let new_timing = patch.iter().find(|c| c.field == FieldKey::Timing).and_then(|c| match &c.value {
        Some(FieldValue::Timing(t)) => Some(t.clone()),
        _ => None,
    });
    let timing = new_timing.clone().or_else(|| current.map(|c| c.timing.clone()));
    let mut recurrence_in_patch = false;
    // Attendees sync one by one; Graph takes the whole list, so the changes are applied to the
    // event's list as it is now (read just before, the write guarded by its ETag).
    if patch.iter().any(|c| matches!(c.field, FieldKey::Attendee(_))) {
        let now = current.ok_or("the event's attendees are unknown")?;
        let mut event = Record::Event(now.clone());
        for change in patch.iter().filter(|c| matches!(c.field, FieldKey::Attendee(_))) {
            event.set(&change.field, change.value.clone()).map_err(|e| e.to_string())?;
        }
        if let Record::Event(e) = event {
            out.insert("attendees".into(), attendees_json(&e.attendees));
        }
    }
    for change in patch {
        let v = &change.value;
        match &change.field {
            FieldKey::Subject => {
                out.insert("subject".into(), json!(text_of(v)?.unwrap_or_default()));
            }
            FieldKey::Description => {
                out.insert("body".into(), body_json(text_of(v)?.as_deref()));
            }
            FieldKey::Location => {
                out.insert("location".into(), json!({"displayName": text_of(v)?.unwrap_or_default()}));
            }
            FieldKey::Timing => {
                let t = new_timing.as_ref().ok_or("the timing of an event cannot be cleared")?;
                let (start, end, all_day) = timing_json(t, opts)?;
                out.insert("start".into(), start);
                out.insert("end".into(), end);
                out.insert("isAllDay".into(), json!(all_day));
            }
            FieldKey::Recurrence => {
                recurrence_in_patch = true;
                match v {
                    None => {
                        out.insert("recurrence".into(), Value::Null);
                    }
                    Some(FieldValue::Recurrence(r)) => {
                        let t = timing.as_ref().ok_or("the timing of the series is unknown")?;
                        out.insert("recurrence".into(), recurrence_json(r, t, opts)?);
                    }
                    Some(other) => return Err(format!("expected a recurrence, got {other:?}")),
                }
            }
            FieldKey::Organizer => {
                let value = match v {
                    None => Value::Null,
                    Some(FieldValue::Person(p)) => person_json(p),
                    Some(other) => return Err(format!("expected a person, got {other:?}")),
                };
                out.insert("organizer".into(), value);
            }
            FieldKey::Attendee(_) => {}
            FieldKey::Attendees => {
                let list = match v {
                    None => Vec::new(),
                    Some(FieldValue::Attendees(l)) => l.clone(),
                    Some(other) => return Err(format!("expected attendees, got {other:?}")),
                };
                out.insert("attendees".into(), attendees_json(&list));
            }
            FieldKey::Privacy => {
                let p = match v {
                    None => Privacy::Normal,
                    Some(FieldValue::Privacy(p)) => *p,
                    Some(other) => return Err(format!("expected a privacy, got {other:?}")),
                };
                out.insert("sensitivity".into(), json!(sensitivity(p)));
            }
            FieldKey::ShowAs => {
                let s = match v {
                    None => ShowAs::Busy,
                    Some(FieldValue::ShowAs(s)) => *s,
                    Some(other) => return Err(format!("expected a show-as, got {other:?}")),
                };
                out.insert("showAs".into(), json!(show_as_json(s)));
            }
            FieldKey::Categories => {
                let list = match v {
                    None => Vec::new(),
                    Some(FieldValue::List(l)) => l.clone(),
                    Some(other) => return Err(format!("expected categories, got {other:?}")),
                };
                out.insert("categories".into(), json!(list));
            }
            other => return Err(format!("field `{other}` is not synced to Graph events")),
        }
    }
    // A series that moves keeps its pattern: its range starts on the new first day.
    if let (Some(t), false, Some(rec)) =
        (&new_timing, recurrence_in_patch, current.and_then(|c| c.recurrence.as_ref()).filter(|r| !r.rules.is_empty()))
    {
        out.insert("recurrence".into(), recurrence_json(rec, t, opts)?);
    }
    Ok(out)
}

/// The body of `PATCH` on an occurrence that makes it an exception.
pub(crate) fn override_body(ov: &OccurrenceOverride, opts: WriteOptions<'_>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    if let Some(t) = &ov.timing {
        let (start, end, _) = timing_json(t, opts)?;
        out.insert("start".into(), start);
        out.insert("end".into(), end);
    }
    if let Some(s) = &ov.subject {
        out.insert("subject".into(), json!(s));
    }
    if let Some(l) = &ov.location {
        out.insert("location".into(), json!({"displayName": l}));
    }
    if let Some(d) = &ov.description {
        out.insert("body".into(), body_json(Some(d)));
    }
    Ok(out)
}
