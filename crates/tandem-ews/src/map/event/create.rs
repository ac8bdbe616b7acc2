//! Creating: a whole `<t:CalendarItem>` for CreateItem.

use tandem_core::model::{Attendee, Event};

use super::values::{
    ATTENDEE_LISTS, ews_recurrence, free_busy, sensitivity, write_attendee_list, write_categories, write_time,
};
use crate::map::recurrence;
use crate::map::time::format_instant;
use crate::xml::XmlWriter;

/// Writes a whole `<t:CalendarItem>` for CreateItem, in schema order, with the sync key.
///
/// # Errors
///
/// What EWS cannot hold: zones without a Windows id, inexpressible recurrences.
pub(crate) fn write_create(w: &mut XmlWriter, e: &Event, key: impl FnOnce(&mut XmlWriter)) -> Result<(), String> {
    let (start, start_zone) = write_time(&e.timing.start)?;
    let (end, end_zone) = write_time(&e.timing.end)?;
    let rec = e.recurrence.as_ref().map(|r| ews_recurrence(r, &e.timing)).transpose()?;
    w.open("t:CalendarItem", &[]);
    if let Some(s) = &e.subject {
        w.text("t:Subject", s);
    }
    w.text("t:Sensitivity", sensitivity(e.privacy));
    if let Some(d) = &e.description {
        w.text_with("t:Body", &[("BodyType", "Text")], d);
    }
    if !e.categories.is_empty() {
        write_categories(w, &e.categories);
    }
    key(w);
    if let Some(uid) = &e.ical_uid {
        w.text("t:UID", uid);
    }
    w.text("t:Start", &format_instant(start));
    w.text("t:End", &format_instant(end));
    w.text("t:IsAllDayEvent", if e.timing.start.is_all_day() { "true" } else { "false" });
    w.text("t:LegacyFreeBusyStatus", free_busy(e.show_as));
    if let Some(l) = &e.location {
        w.text("t:Location", l);
    }
    for (role, _, element) in ATTENDEE_LISTS {
        let list: Vec<&Attendee> = e.attendees.iter().filter(|a| a.role == role).collect();
        if !list.is_empty() {
            write_attendee_list(w, element, &list);
        }
    }
    if let Some(r) = &rec {
        recurrence::write(w, r);
    }
    w.empty("t:StartTimeZone", &[("Id", start_zone)]);
    w.empty("t:EndTimeZone", &[("Id", end_zone)]);
    w.close("t:CalendarItem");
    Ok(())
}
