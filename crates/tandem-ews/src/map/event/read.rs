//! Reading: a `t:CalendarItem` as a canonical event, and the exceptions of a series folded into
//! its master.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tandem_core::model::{
    Attendee, AttendeeRole, Event, EventTime, EventTiming, OccurrenceOverride, Person, Privacy, Recurrence,
    ResponseStatus, ShowAs,
};

use crate::map::recurrence::{self, SeriesStart};
use crate::map::text;
use crate::map::time::{local_in, parse_instant, resolve_zone};
use crate::xml::Element;

/// The properties read for a calendar item (besides the sync key).
pub(crate) const PROPERTIES: [&str; 22] = [
    "item:Subject",
    "item:Body",
    "item:Sensitivity",
    "item:Categories",
    "item:LastModifiedTime",
    "calendar:UID",
    "calendar:Start",
    "calendar:End",
    "calendar:OriginalStart",
    "calendar:IsAllDayEvent",
    "calendar:LegacyFreeBusyStatus",
    "calendar:Location",
    "calendar:CalendarItemType",
    "calendar:Organizer",
    "calendar:RequiredAttendees",
    "calendar:OptionalAttendees",
    "calendar:Resources",
    "calendar:Recurrence",
    "calendar:ModifiedOccurrences",
    "calendar:DeletedOccurrences",
    "calendar:StartTimeZone",
    "calendar:EndTimeZone",
];

/// A calendar item read from EWS, with what its series needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedEvent {
    pub(crate) event: Event,
    /// `Single`, `Occurrence`, `Exception` or `RecurringMaster`.
    pub(crate) item_type: String,
    /// Modified occurrences of a master: (item id, original start).
    pub(crate) modified: Vec<(String, DateTime<Utc>)>,
    /// The zone of the start.
    pub(crate) tz: Tz,
}

fn zone_of(item: &Element, name: &str) -> Result<(String, Tz), String> {
    match item.child(name).and_then(|z| z.attr("Id")) {
        Some(id) => resolve_zone(id).ok_or_else(|| format!("unknown time zone `{id}`")),
        None => Ok(("UTC".to_owned(), chrono_tz::UTC)),
    }
}

fn event_time(t: DateTime<Utc>, zone: &(String, Tz), all_day: bool) -> Result<EventTime, String> {
    let local = local_in(t, zone.1).ok_or("a time out of range")?;
    Ok(if all_day {
        EventTime::AllDay { date: local.date() }
    } else {
        EventTime::Zoned { local, zone: zone.0.clone() }
    })
}

fn instant_of(item: &Element, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    item.text_of(name).map(|t| parse_instant(t).ok_or_else(|| format!("invalid {name} `{t}`"))).transpose()
}

fn person(mailbox: &Element) -> Option<Person> {
    let email = text(mailbox, "EmailAddress").filter(|e| e.contains('@'))?;
    Some(Person { email, name: text(mailbox, "Name") })
}

fn attendees(item: &Element, list: &str, role: AttendeeRole, out: &mut Vec<Attendee>) {
    let Some(list) = item.child(list) else { return };
    for a in list.children_named("Attendee") {
        let Some(p) = a.child("Mailbox").and_then(person) else { continue };
        let response = match a.text_of("ResponseType") {
            Some("Accept") | Some("Organizer") => ResponseStatus::Accepted,
            Some("Tentative") => ResponseStatus::Tentative,
            Some("Decline") => ResponseStatus::Declined,
            _ => ResponseStatus::NeedsAction,
        };
        out.push(Attendee { email: p.email, name: p.name, role, response });
    }
}

/// A `t:CalendarItem` as a canonical event. `mailbox` is the synced mailbox (its own meetings
/// have no organizer in the model).
pub(crate) fn parse(item: &Element, mailbox: &str) -> Result<ParsedEvent, String> {
    let zone = zone_of(item, "StartTimeZone")?;
    let end_zone = if item.child("EndTimeZone").is_some() { zone_of(item, "EndTimeZone")? } else { zone.clone() };
    let all_day = item.text_of("IsAllDayEvent") == Some("true");
    let start = instant_of(item, "Start")?.ok_or("an event without Start")?;
    let end = instant_of(item, "End")?.ok_or("an event without End")?;
    let timing = EventTiming { start: event_time(start, &zone, all_day)?, end: event_time(end, &end_zone, all_day)? };
    let mut list = Vec::new();
    attendees(item, "RequiredAttendees", AttendeeRole::Required, &mut list);
    attendees(item, "OptionalAttendees", AttendeeRole::Optional, &mut list);
    attendees(item, "Resources", AttendeeRole::Resource, &mut list);
    let organizer =
        item.at(&["Organizer", "Mailbox"]).and_then(person).filter(|p| !p.email.eq_ignore_ascii_case(mailbox.trim()));
    let item_type = item.text_of("CalendarItemType").unwrap_or("Single").to_owned();
    let mut event = Event {
        subject: text(item, "Subject"),
        description: text(item, "Body"),
        location: text(item, "Location"),
        timing,
        recurrence: None,
        organizer,
        attendees: list,
        privacy: match item.text_of("Sensitivity") {
            Some("Private") | Some("Confidential") => Privacy::Private,
            _ => Privacy::Normal,
        },
        show_as: match item.text_of("LegacyFreeBusyStatus") {
            Some("Free") => ShowAs::Free,
            Some("Tentative") => ShowAs::Tentative,
            Some("OOF") => ShowAs::OutOfOffice,
            Some("WorkingElsewhere") => ShowAs::WorkingElsewhere,
            _ => ShowAs::Busy,
        },
        categories: item
            .child("Categories")
            .map(|c| c.children_named("String").map(|s| s.text.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default(),
        crm_links: Vec::new(),
        ical_uid: text(item, "UID"),
        custom: Default::default(),
    };
    let mut modified = Vec::new();
    if let Some(r) = item.child("Recurrence") {
        let local = local_in(start, zone.1).ok_or("a start out of range")?;
        let series = SeriesStart { date: local.date(), time: (!all_day).then(|| local.time()), tz: zone.1 };
        let ews = recurrence::parse(r)?;
        let rule = recurrence::to_rrule(&ews, &series)?;
        let mut rec = Recurrence { rules: vec![rule], ..Recurrence::default() };
        if let Some(deleted) = item.child("DeletedOccurrences") {
            for d in deleted.children_named("DeletedOccurrence") {
                let t = instant_of(d, "Start")?.ok_or("a deleted occurrence without Start")?;
                rec.cancelled.insert(event_time(t, &zone, all_day)?);
            }
        }
        if let Some(list) = item.child("ModifiedOccurrences") {
            for o in list.children_named("Occurrence") {
                let id = o.child("ItemId").and_then(|i| i.attr("Id")).ok_or("a modified occurrence without ItemId")?;
                let original = instant_of(o, "OriginalStart")?.ok_or("a modified occurrence without OriginalStart")?;
                modified.push((id.to_owned(), original));
            }
        }
        event.recurrence = Some(rec);
    }
    Ok(ParsedEvent { event, item_type, modified, tz: zone.1 })
}

/// Folds the exceptions of a series (read with GetItem) into its master as overrides keyed by
/// their original start: only what differs from the master.
pub(crate) fn apply_exceptions(master: &mut ParsedEvent, exceptions: &[(DateTime<Utc>, Event)]) -> Result<(), String> {
    let all_day = master.event.timing.start.is_all_day();
    let zone_name = match &master.event.timing.start {
        EventTime::Zoned { zone, .. } => zone.clone(),
        EventTime::AllDay { .. } => "UTC".to_owned(),
    };
    let zone = (zone_name, master.tz);
    let Some(rec) = master.event.recurrence.as_mut() else { return Ok(()) };
    let duration = match (master.event.timing.start.instant(), master.event.timing.end.instant()) {
        (Some(s), Some(e)) => e.signed_duration_since(s),
        _ => chrono::TimeDelta::zero(),
    };
    for (original, e) in exceptions {
        let key = event_time(*original, &zone, all_day)?;
        let original_end = original.checked_add_signed(duration).ok_or("an occurrence out of range")?;
        let moved = e.timing.start.instant() != Some(*original) || e.timing.end.instant() != Some(original_end);
        let o = OccurrenceOverride {
            timing: moved.then(|| e.timing.clone()),
            subject: e.subject.clone().filter(|s| Some(s) != master.event.subject.as_ref()),
            location: e.location.clone().filter(|s| Some(s) != master.event.location.as_ref()),
            description: e.description.clone().filter(|s| Some(s) != master.event.description.as_ref()),
        };
        if o.timing.is_some() || o.subject.is_some() || o.location.is_some() || o.description.is_some() {
            rec.overrides.insert(key, o);
        }
    }
    Ok(())
}
