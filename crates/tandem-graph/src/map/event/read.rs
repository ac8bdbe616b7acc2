//! Reading: a Graph event (with its exceptions and cancellations) into the model, and its fields
//! (text, body, people, sensitivity, show-as).

use tandem_core::model::{
    Attendee, AttendeeRole, Event, EventTime, EventTiming, OccurrenceOverride, Person, Privacy, Recurrence,
    ResponseStatus, ShowAs,
};

use super::occurrences::{cancelled_date, occurrence_key};
use super::zones::{Zones, timing, utc, zone, zones_of};
use crate::map::recurrence::{SeriesStart, to_rrule};
use crate::map::time::{local_in, parse_instant};
use crate::map::types;

fn text(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty()).map(str::to_owned)
}

/// Crude HTML to text for bodies the service returns as HTML despite the `Prefer` header.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
}

fn description(e: &types::Event) -> Option<String> {
    let body = e.body.as_ref()?;
    let content = body.content.as_deref()?;
    if body.content_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("html")) {
        text(Some(html_to_text(content).trim()))
    } else {
        text(Some(content))
    }
}

fn person(r: &types::Recipient) -> Option<Person> {
    let e = r.email_address.as_ref()?;
    let email = e.address.as_deref().map(str::trim).filter(|a| !a.is_empty())?;
    Some(Person { email: email.to_owned(), name: text(e.name.as_deref()) })
}

fn attendee(a: &types::Attendee) -> Option<Attendee> {
    let e = a.email_address.as_ref()?;
    let email = e.address.as_deref().map(str::trim).filter(|a| !a.is_empty())?;
    let role = match a.kind.as_deref() {
        Some("optional") => AttendeeRole::Optional,
        Some("resource") => AttendeeRole::Resource,
        _ => AttendeeRole::Required,
    };
    let response = match a.status.as_ref().and_then(|s| s.response.as_deref()) {
        Some("accepted") => ResponseStatus::Accepted,
        Some("tentativelyAccepted") => ResponseStatus::Tentative,
        Some("declined") => ResponseStatus::Declined,
        _ => ResponseStatus::NeedsAction,
    };
    Some(Attendee { email: email.to_owned(), name: text(e.name.as_deref()), role, response })
}

fn privacy(s: Option<&str>) -> Privacy {
    match s {
        Some("private" | "confidential") => Privacy::Private,
        _ => Privacy::Normal,
    }
}

fn show_as(s: Option<&str>) -> ShowAs {
    match s {
        Some("free") => ShowAs::Free,
        Some("tentative") => ShowAs::Tentative,
        Some("oof") => ShowAs::OutOfOffice,
        Some("workingElsewhere") => ShowAs::WorkingElsewhere,
        _ => ShowAs::Busy,
    }
}

/// Reads an event into the model. `Ok(None)` for a cancelled meeting (`isCancelled`), which
/// Tandem treats as deleted.
pub(crate) fn to_model(e: &types::Event) -> Result<Option<Event>, String> {
    if e.is_cancelled.unwrap_or(false) {
        return Ok(None);
    }
    let zones = zones_of(e);
    let all_day = e.is_all_day.unwrap_or(false);
    let timing = timing(e, &zones)?;
    let subject = text(e.subject.as_deref());
    let location = text(e.location.as_ref().and_then(|l| l.display_name.as_deref()));
    let description = description(e);
    let is_master = e.kind.as_deref() == Some("seriesMaster") || (e.kind.is_none() && e.recurrence.is_some());
    let recurrence = match (&e.recurrence, is_master) {
        (Some(rec), true) => {
            // All-day series live in the zone of their start; timed ones in their original zone.
            let series_zone = if all_day {
                zone(e.start.as_ref().and_then(|s| s.time_zone.as_deref())).unwrap_or_else(utc)
            } else {
                zones.start.clone()
            };
            let (date, time) = match &timing.start {
                EventTime::AllDay { date } => (*date, None),
                EventTime::Zoned { local, .. } => (local.date(), Some(local.time())),
            };
            let start = SeriesStart { date, time, tz: series_zone.tz };
            let rule = to_rrule(rec, &start)?;
            let mut r = Recurrence { rules: vec![rule], ..Recurrence::default() };
            let duration = match (timing.start.instant(), timing.end.instant()) {
                (Some(s), Some(en)) => en - s,
                _ => chrono::Duration::zero(),
            };
            for x in e.exception_occurrences.iter().flatten() {
                let Some(original) = x.original_start.as_deref().and_then(parse_instant) else { continue };
                let key = occurrence_key(original, all_day, &series_zone)?;
                let too_long = || format!("an occurrence from {original} lasting {duration} is out of range");
                let original_timing = match &key {
                    EventTime::AllDay { date } => {
                        let end = date.checked_add_signed(duration).ok_or_else(too_long)?;
                        EventTiming { start: key.clone(), end: EventTime::AllDay { date: end } }
                    }
                    EventTime::Zoned { .. } => EventTiming {
                        start: key.clone(),
                        end: EventTime::Zoned {
                            local: original
                                .checked_add_signed(duration)
                                .and_then(|end| local_in(end, zones.end.tz))
                                .ok_or_else(too_long)?,
                            zone: zones.end.name.clone(),
                        },
                    },
                };
                let x_zones = if all_day {
                    Zones { start: series_zone.clone(), end: series_zone.clone() }
                } else {
                    zones.clone()
                };
                let x_timing = timing_of_exception(x, &x_zones)?;
                let differs = |a: Option<String>, master: &Option<String>| a.filter(|v| Some(v) != master.as_ref());
                let ov = OccurrenceOverride {
                    timing: (x_timing != original_timing).then_some(x_timing),
                    subject: differs(text(x.subject.as_deref()), &subject),
                    location: differs(text(x.location.as_ref().and_then(|l| l.display_name.as_deref())), &location),
                    description: differs(description_of(x), &description),
                };
                if ov.timing.is_some() || ov.subject.is_some() || ov.location.is_some() || ov.description.is_some() {
                    r.overrides.insert(key, ov);
                }
            }
            for entry in e.cancelled_occurrences.iter().flatten() {
                let Some(date) = cancelled_date(entry) else { continue };
                let key = match time {
                    None => EventTime::AllDay { date },
                    Some(t) => EventTime::Zoned { local: date.and_time(t), zone: series_zone.name.clone() },
                };
                r.cancelled.insert(key);
            }
            Some(r)
        }
        _ => None,
    };
    Ok(Some(Event {
        subject,
        description,
        location,
        timing,
        recurrence,
        // The mailbox's own meetings have no organizer in the model: Graph says so
        // (`isOrganizer`) whatever address the mailbox is known by, and only meetings others
        // organize carry theirs (see `ForeignOrganizers`).
        organizer: if e.is_organizer == Some(true) { None } else { e.organizer.as_ref().and_then(person) },
        attendees: e.attendees.iter().flatten().filter_map(attendee).collect(),
        privacy: privacy(e.sensitivity.as_deref()),
        show_as: show_as(e.show_as.as_deref()),
        categories: e.categories.clone().unwrap_or_default(),
        crm_links: Vec::new(),
        ical_uid: text(e.ical_uid.as_deref()),
        custom: Default::default(),
    }))
}

fn timing_of_exception(x: &types::Event, zones: &Zones) -> Result<EventTiming, String> {
    timing(x, zones)
}

fn description_of(x: &types::Event) -> Option<String> {
    description(x)
}
