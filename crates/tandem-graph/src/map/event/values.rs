//! The Graph JSON of an event's fields as written, shared by the request bodies: times and
//! zones, the series pattern, people, sensitivity, show-as and body.

use serde_json::{Value, json};
use tandem_core::model::{
    Attendee, AttendeeRole, EventTime, EventTiming, Person, Privacy, Recurrence, ResponseStatus, ShowAs,
};

use crate::map::recurrence::{SeriesStart, to_graph};
use crate::map::time::{format_local, graph_zone_name, resolve_zone};

// --- writing ------------------------------------------------------------------------------------

/// How events are written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteOptions<'a> {
    /// The zone all-day events are written in.
    pub(crate) all_day_zone: &'a str,
    /// Write IANA names instead of Windows names.
    pub(crate) iana_names: bool,
}

fn time_json(t: &EventTime, opts: WriteOptions<'_>) -> Result<Value, String> {
    match t {
        EventTime::AllDay { date } => Ok(json!({
            "dateTime": format!("{}T00:00:00", date.format("%Y-%m-%d")),
            "timeZone": opts.all_day_zone,
        })),
        EventTime::Zoned { local, zone } => {
            let (iana, _) = resolve_zone(zone).ok_or_else(|| format!("unknown time zone `{zone}`"))?;
            Ok(json!({"dateTime": format_local(*local), "timeZone": graph_zone_name(&iana, opts.iana_names)}))
        }
    }
}

/// `start`, `end` and `isAllDay` of a timing.
pub(crate) fn timing_json(t: &EventTiming, opts: WriteOptions<'_>) -> Result<(Value, Value, bool), String> {
    match (&t.start, &t.end) {
        (EventTime::AllDay { .. }, EventTime::AllDay { .. }) => {
            Ok((time_json(&t.start, opts)?, time_json(&t.end, opts)?, true))
        }
        (EventTime::Zoned { .. }, EventTime::Zoned { .. }) => {
            Ok((time_json(&t.start, opts)?, time_json(&t.end, opts)?, false))
        }
        _ => Err("the event mixes an all-day date with a timed value".to_owned()),
    }
}

/// Where a series written with `timing` starts, and the zone name it is written in.
pub(crate) fn series_start(t: &EventTiming, opts: WriteOptions<'_>) -> Result<(SeriesStart, String), String> {
    match &t.start {
        EventTime::AllDay { date } => {
            let (_, tz) =
                resolve_zone(opts.all_day_zone).ok_or_else(|| format!("unknown zone `{}`", opts.all_day_zone))?;
            Ok((SeriesStart { date: *date, time: None, tz }, opts.all_day_zone.to_owned()))
        }
        EventTime::Zoned { local, zone } => {
            let (iana, tz) = resolve_zone(zone).ok_or_else(|| format!("unknown time zone `{zone}`"))?;
            Ok((
                SeriesStart { date: local.date(), time: Some(local.time()), tz },
                graph_zone_name(&iana, opts.iana_names),
            ))
        }
    }
}

/// The `recurrence` of a series written with `timing`.
pub(crate) fn recurrence_json(r: &Recurrence, t: &EventTiming, opts: WriteOptions<'_>) -> Result<Value, String> {
    if !r.rdates.is_empty() {
        return Err("extra occurrences (RDATE) cannot be expressed in Graph".to_owned());
    }
    let rule = match r.rules.as_slice() {
        [rule] => rule,
        [] => return Err("a recurrence without a rule cannot be expressed in Graph".to_owned()),
        _ => return Err("several recurrence rules cannot be expressed in Graph".to_owned()),
    };
    let (start, zone_name) = series_start(t, opts)?;
    let rec = to_graph(rule, &start, &zone_name)?;
    serde_json::to_value(rec).map_err(|e| e.to_string())
}

pub(super) fn person_json(p: &Person) -> Value {
    json!({"emailAddress": {"address": p.email, "name": p.name.clone().unwrap_or_else(|| p.email.clone())}})
}

pub(super) fn attendees_json(list: &[Attendee]) -> Value {
    Value::Array(
        list.iter()
            .map(|a| {
                let kind = match a.role {
                    AttendeeRole::Required => "required",
                    AttendeeRole::Optional => "optional",
                    AttendeeRole::Resource => "resource",
                };
                let response = match a.response {
                    ResponseStatus::Accepted => "accepted",
                    ResponseStatus::Tentative => "tentativelyAccepted",
                    ResponseStatus::Declined => "declined",
                    ResponseStatus::NeedsAction => "none",
                };
                json!({
                    "emailAddress": {"address": a.email, "name": a.name.clone().unwrap_or_else(|| a.email.clone())},
                    "type": kind,
                    "status": {"response": response},
                })
            })
            .collect(),
    )
}

pub(super) fn sensitivity(p: Privacy) -> &'static str {
    match p {
        Privacy::Normal => "normal",
        Privacy::Private => "private",
    }
}

pub(super) fn show_as_json(s: ShowAs) -> &'static str {
    match s {
        ShowAs::Free => "free",
        ShowAs::Tentative => "tentative",
        ShowAs::Busy => "busy",
        ShowAs::OutOfOffice => "oof",
        ShowAs::WorkingElsewhere => "workingElsewhere",
    }
}

pub(super) fn body_json(d: Option<&str>) -> Value {
    json!({"contentType": "text", "content": d.unwrap_or_default()})
}
