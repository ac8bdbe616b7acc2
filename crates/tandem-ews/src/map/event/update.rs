//! Updating: the `SetItemField`/`DeleteItemField` updates of a patch, and whether they need the
//! event as it is now.

use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Attendee, Event, Privacy, Record, ShowAs};
use tandem_core::plan::FieldChange;

use super::values::{
    ATTENDEE_LISTS, ews_recurrence, free_busy, sensitivity, series_start, write_attendee_list, write_categories,
    write_time,
};
use crate::map::recurrence;
use crate::map::time::format_instant;
use crate::map::{delete_field, set_field};
use crate::xml::XmlWriter;

/// Whether writing `patch` needs the event as it is now (attendees apply to the current list;
/// a recurrence needs the series' start).
pub(crate) fn needs_current(patch: &[FieldChange]) -> bool {
    patch.iter().any(|c| {
        matches!(c.field, FieldKey::Attendee(_))
            || (c.field == FieldKey::Recurrence
                && c.value.is_some()
                && !patch.iter().any(|t| t.field == FieldKey::Timing))
    })
}

fn text_of(v: &Option<FieldValue>) -> Result<Option<&str>, String> {
    match v {
        None => Ok(None),
        Some(FieldValue::Text(t)) => Ok(Some(t.as_str())).map(|t| t.filter(|s| !s.is_empty())),
        Some(other) => Err(format!("expected text, got {other:?}")),
    }
}

/// Writes the `SetItemField`/`DeleteItemField` updates of `patch` (only its fields), with the
/// event as it is now when [`needs_current`] says so.
pub(crate) fn write_updates(w: &mut XmlWriter, patch: &[FieldChange], current: Option<&Event>) -> Result<(), String> {
    const ITEM: &str = "t:CalendarItem";
    if patch.iter().any(|c| matches!(c.field, FieldKey::Attendee(_))) {
        let now = current.ok_or("the event's attendees are unknown")?;
        let mut event = Record::Event(now.clone());
        for change in patch.iter().filter(|c| matches!(c.field, FieldKey::Attendee(_))) {
            event.set(&change.field, change.value.clone()).map_err(|e| e.to_string())?;
        }
        if let Record::Event(e) = event {
            for (role, uri, element) in ATTENDEE_LISTS {
                let list: Vec<&Attendee> = e.attendees.iter().filter(|a| a.role == role).collect();
                if list.is_empty() {
                    delete_field(w, uri);
                } else {
                    set_field(w, uri, ITEM, |w| write_attendee_list(w, element, &list));
                }
            }
        }
    }
    let new_timing = patch.iter().find(|c| c.field == FieldKey::Timing).and_then(|c| match &c.value {
        Some(FieldValue::Timing(t)) => Some(t.clone()),
        _ => None,
    });
    for change in patch {
        let v = &change.value;
        match &change.field {
            FieldKey::Subject => match text_of(v)? {
                Some(s) => set_field(w, "item:Subject", ITEM, |w| w.text("t:Subject", s)),
                None => delete_field(w, "item:Subject"),
            },
            FieldKey::Description => match text_of(v)? {
                Some(s) => set_field(w, "item:Body", ITEM, |w| w.text_with("t:Body", &[("BodyType", "Text")], s)),
                None => delete_field(w, "item:Body"),
            },
            FieldKey::Location => match text_of(v)? {
                Some(s) => set_field(w, "calendar:Location", ITEM, |w| w.text("t:Location", s)),
                None => delete_field(w, "calendar:Location"),
            },
            FieldKey::Timing => {
                let t = new_timing.as_ref().ok_or("the timing of an event cannot be cleared")?;
                let (start, start_zone) = write_time(&t.start)?;
                let (end, end_zone) = write_time(&t.end)?;
                set_field(w, "calendar:StartTimeZone", ITEM, |w| w.empty("t:StartTimeZone", &[("Id", start_zone)]));
                set_field(w, "calendar:EndTimeZone", ITEM, |w| w.empty("t:EndTimeZone", &[("Id", end_zone)]));
                set_field(w, "calendar:Start", ITEM, |w| w.text("t:Start", &format_instant(start)));
                set_field(w, "calendar:End", ITEM, |w| w.text("t:End", &format_instant(end)));
                let all_day = if t.start.is_all_day() { "true" } else { "false" };
                set_field(w, "calendar:IsAllDayEvent", ITEM, |w| w.text("t:IsAllDayEvent", all_day));
            }
            FieldKey::Recurrence => match v {
                None => delete_field(w, "calendar:Recurrence"),
                Some(FieldValue::Recurrence(r)) => {
                    let timing = new_timing.clone().or_else(|| current.map(|c| c.timing.clone()));
                    let timing = timing.ok_or("the timing of the series is unknown")?;
                    let rec = ews_recurrence(r, &timing)?;
                    // Writing the same pattern again would drop the series' exceptions in
                    // Exchange: only a new pattern (or new times) is written.
                    let canonical = recurrence::to_rrule(&rec, &series_start(&timing)?)?;
                    let unchanged = new_timing.is_none()
                        && current
                            .and_then(|c| c.recurrence.as_ref())
                            .is_some_and(|now| now.rules.as_slice() == [canonical]);
                    if !unchanged {
                        set_field(w, "calendar:Recurrence", ITEM, |w| recurrence::write(w, &rec));
                    }
                }
                Some(other) => return Err(format!("expected a recurrence, got {other:?}")),
            },
            FieldKey::Privacy => {
                let p = match v {
                    Some(FieldValue::Privacy(p)) => *p,
                    None => Privacy::Normal,
                    Some(other) => return Err(format!("expected a privacy, got {other:?}")),
                };
                set_field(w, "item:Sensitivity", ITEM, |w| w.text("t:Sensitivity", sensitivity(p)));
            }
            FieldKey::ShowAs => {
                let s = match v {
                    Some(FieldValue::ShowAs(s)) => *s,
                    None => ShowAs::Busy,
                    Some(other) => return Err(format!("expected a show-as, got {other:?}")),
                };
                set_field(w, "calendar:LegacyFreeBusyStatus", ITEM, |w| w.text("t:LegacyFreeBusyStatus", free_busy(s)));
            }
            FieldKey::Categories => match v {
                Some(FieldValue::List(list)) if !list.is_empty() => {
                    set_field(w, "item:Categories", ITEM, |w| write_categories(w, list));
                }
                None | Some(FieldValue::List(_)) => delete_field(w, "item:Categories"),
                Some(other) => return Err(format!("expected categories, got {other:?}")),
            },
            FieldKey::Attendee(_) => {}
            other => return Err(format!("EWS events cannot write `{other:?}`")),
        }
    }
    Ok(())
}
