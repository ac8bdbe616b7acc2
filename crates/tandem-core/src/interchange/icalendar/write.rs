//! Writing one event as `VEVENT`s: the series master with its recurrence and Tandem's own
//! properties, one `VEVENT` per override, and the properties they share.

use super::timing::occurrence_end;
use super::{CANCELLED, CRM_LINK, CRM_OBJECT, DTSTAMP, GENERATED, PREFIX};
use crate::interchange::text::{self, ContentWriter};
use crate::model::{AttendeeRole, Event, EventTime, EventTiming, Privacy, ResponseStatus, ShowAs};

/// A deterministic UID for an event without one.
fn generated_uid(index: usize, event: &Event) -> String {
    let bytes = serde_json::to_vec(event).unwrap_or_default();
    format!("tandem-{index}-{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
}

fn time_parts(time: &EventTime) -> (Vec<(&'static str, String)>, String) {
    match time {
        EventTime::AllDay { date } => (vec![("VALUE", "DATE".to_owned())], date.format("%Y%m%d").to_string()),
        EventTime::Zoned { local, zone } if zone == "UTC" => (Vec::new(), local.format("%Y%m%dT%H%M%SZ").to_string()),
        EventTime::Zoned { local, zone } => {
            (vec![("TZID", text::param_value(zone))], local.format("%Y%m%dT%H%M%S").to_string())
        }
    }
}

fn write_time(w: &mut ContentWriter, name: &str, time: &EventTime, extra: &[(&'static str, String)]) {
    let (mut params, value) = time_parts(time);
    params.extend(extra.iter().cloned());
    w.line(name, &params, &value);
}

fn write_text(w: &mut ContentWriter, name: &str, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        w.text(name, &[], value);
    }
}

pub(super) fn write_event(w: &mut ContentWriter, index: usize, event: &Event) {
    let (uid, uid_params) = match event.ical_uid.as_deref().filter(|u| !u.is_empty()) {
        Some(uid) => (uid.to_owned(), Vec::new()),
        None => (generated_uid(index, event), vec![(GENERATED, "TRUE".to_owned())]),
    };
    w.line("BEGIN", &[], "VEVENT");
    w.text("UID", &uid_params, &uid);
    w.line("DTSTAMP", &[], DTSTAMP);
    write_time(w, "DTSTART", &event.timing.start, &[]);
    write_time(w, "DTEND", &event.timing.end, &[]);
    write_text(w, "SUMMARY", event.subject.as_deref());
    write_text(w, "LOCATION", event.location.as_deref());
    write_text(w, "DESCRIPTION", event.description.as_deref());
    write_shared(w, event);
    if let Some(recurrence) = &event.recurrence {
        for rule in &recurrence.rules {
            w.line("RRULE", &[], rule.trim());
        }
        for rdate in &recurrence.rdates {
            write_time(w, "RDATE", rdate, &[]);
        }
        for exdate in &recurrence.exdates {
            write_time(w, "EXDATE", exdate, &[]);
        }
        for cancelled in &recurrence.cancelled {
            write_time(w, "EXDATE", cancelled, &[(CANCELLED, "TRUE".to_owned())]);
        }
    }
    for link in &event.crm_links {
        let params = [(CRM_OBJECT, text::param_value(&link.object))];
        w.text(&format!("{PREFIX}{CRM_LINK}"), &params, &link.id);
    }
    for (name, value) in &event.custom {
        let mut encoded = text::encode_name(name);
        if encoded.eq_ignore_ascii_case(CRM_LINK) {
            // Keep the reserved name free: `%43RM-LINK` reads back as `CRM-LINK`.
            encoded = format!("%{:02X}{}", encoded.as_bytes()[0], &encoded[1..]);
        }
        w.text(&format!("{PREFIX}{encoded}"), &[], value);
    }
    w.line("END", &[], "VEVENT");

    let Some(recurrence) = &event.recurrence else {
        return;
    };
    for (original_start, over) in &recurrence.overrides {
        w.line("BEGIN", &[], "VEVENT");
        w.text("UID", &uid_params, &uid);
        w.line("DTSTAMP", &[], DTSTAMP);
        write_time(w, "RECURRENCE-ID", original_start, &[]);
        let timing = over.timing.clone().or_else(|| {
            occurrence_end(original_start, &event.timing).map(|end| EventTiming { start: original_start.clone(), end })
        });
        match timing {
            Some(timing) => {
                write_time(w, "DTSTART", &timing.start, &[]);
                write_time(w, "DTEND", &timing.end, &[]);
            }
            None => write_time(w, "DTSTART", original_start, &[]),
        }
        write_text(w, "SUMMARY", over.subject.as_deref().or(event.subject.as_deref()));
        write_text(w, "LOCATION", over.location.as_deref().or(event.location.as_deref()));
        write_text(w, "DESCRIPTION", over.description.as_deref().or(event.description.as_deref()));
        write_shared(w, event);
        w.line("END", &[], "VEVENT");
    }
}

/// Properties a series master and its overrides share.
fn write_shared(w: &mut ContentWriter, event: &Event) {
    if event.privacy == Privacy::Private {
        w.line("CLASS", &[], "PRIVATE");
    }
    let (transp, busy) = match event.show_as {
        ShowAs::Free => ("TRANSPARENT", "FREE"),
        ShowAs::Tentative => ("OPAQUE", "TENTATIVE"),
        ShowAs::Busy => ("OPAQUE", "BUSY"),
        ShowAs::OutOfOffice => ("OPAQUE", "OOF"),
        ShowAs::WorkingElsewhere => ("OPAQUE", "WORKINGELSEWHERE"),
    };
    w.line("TRANSP", &[], transp);
    w.line("X-MICROSOFT-CDO-BUSYSTATUS", &[], busy);
    if let Some(organizer) = &event.organizer {
        let params: Vec<_> = organizer.name.iter().map(|n| ("CN", text::param_value(n))).collect();
        w.line("ORGANIZER", &params, &format!("mailto:{}", organizer.email));
    }
    for attendee in &event.attendees {
        let mut params: Vec<_> = attendee.name.iter().map(|n| ("CN", text::param_value(n))).collect();
        let role = match attendee.role {
            AttendeeRole::Required => "REQ-PARTICIPANT",
            AttendeeRole::Optional => "OPT-PARTICIPANT",
            AttendeeRole::Resource => {
                params.push(("CUTYPE", "RESOURCE".to_owned()));
                "NON-PARTICIPANT"
            }
        };
        params.push(("ROLE", role.to_owned()));
        let partstat = match attendee.response {
            ResponseStatus::NeedsAction => "NEEDS-ACTION",
            ResponseStatus::Accepted => "ACCEPTED",
            ResponseStatus::Tentative => "TENTATIVE",
            ResponseStatus::Declined => "DECLINED",
        };
        params.push(("PARTSTAT", partstat.to_owned()));
        w.line("ATTENDEE", &params, &format!("mailto:{}", attendee.email));
    }
    let categories: Vec<String> = event.categories.iter().filter(|c| !c.is_empty()).map(|c| text::escape(c)).collect();
    if !categories.is_empty() {
        w.line("CATEGORIES", &[], &categories.join(","));
    }
}
