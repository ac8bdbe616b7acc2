//! Events: Graph `event` ⇄ the model.
//!
//! | model | Graph |
//! | --- | --- |
//! | `subject`, `description`, `location` | `subject`, `body` (text; HTML is read as text), `location.displayName` |
//! | `timing` (zoned) | `start`/`end` read in UTC (`Prefer: outlook.timezone="UTC"`) and shown in `originalStartTimeZone`/`originalEndTimeZone` (Windows names → IANA); written in the event's zone, by its Windows name |
//! | `timing` (all-day) | `isAllDay` with `start`/`end` at midnight of one zone (written in [`crate::GraphConfig::all_day_zone`]); end exclusive |
//! | `recurrence.rules` | `recurrence` (`patternedRecurrence`), see [`super::recurrence`] |
//! | `recurrence.overrides` | exceptions (`exceptionOccurrences`), keyed by `originalStart` |
//! | `recurrence.cancelled` (and `exdates` on write) | cancelled occurrences (`cancelledOccurrences`) |
//! | `organizer` (`None` when `isOrganizer`), `attendees` | `organizer`, `attendees` (`required`/`optional`/`resource`; `accepted`, `tentativelyAccepted`, `declined`, else needs-action) |
//! | `privacy` | `sensitivity`: `private` and `confidential` read as private, `normal` and `personal` as normal |
//! | `show_as` | `showAs`: `free`, `tentative`, `busy`, `oof`, `workingElsewhere`; `unknown` reads as busy |
//! | `categories` | `categories` |
//! | `ical_uid` | `iCalUId` (read only) |
//! | `crm_links`, custom fields | not stored in Graph: declared unsupported |

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{
    Attendee, AttendeeRole, Event, EventTime, EventTiming, OccurrenceOverride, Person, Privacy, Record, Recurrence,
    ResponseStatus, ShowAs,
};
use tandem_core::plan::FieldChange;

use super::recurrence::{SeriesStart, to_graph, to_rrule};
use super::time::{dttz_date, dttz_instant, format_local, graph_zone_name, local_in, parse_instant, resolve_zone};
use super::types;

/// How events are written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteOptions<'a> {
    /// The zone all-day events are written in.
    pub(crate) all_day_zone: &'a str,
    /// Write IANA names instead of Windows names.
    pub(crate) iana_names: bool,
}

/// A zone as the model names it and as chrono knows it.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) name: String,
    pub(crate) tz: Tz,
}

fn utc() -> Zone {
    Zone { name: "UTC".to_owned(), tz: chrono_tz::UTC }
}

fn zone(name: Option<&str>) -> Option<Zone> {
    resolve_zone(name?).map(|(name, tz)| Zone { name, tz })
}

/// The zones a read event is shown in.
#[derive(Debug, Clone)]
pub(crate) struct Zones {
    pub(crate) start: Zone,
    pub(crate) end: Zone,
}

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

/// The zones an event's times are shown in: `originalStartTimeZone` and
/// `originalEndTimeZone` when they resolve, the zone of `start` otherwise, UTC at worst
/// (`Customized Time Zone` and other unknown names).
pub(crate) fn zones_of(e: &types::Event) -> Zones {
    let start_zone = e.start.as_ref().and_then(|s| s.time_zone.as_deref());
    let start = zone(e.original_start_time_zone.as_deref()).or_else(|| zone(start_zone)).unwrap_or_else(utc);
    let end = zone(e.original_end_time_zone.as_deref()).unwrap_or_else(|| start.clone());
    Zones { start, end }
}

/// The timing of an event (or exception) shown in `zones`.
fn timing(e: &types::Event, zones: &Zones) -> Result<EventTiming, String> {
    let start = e.start.as_ref().ok_or("the event has no start")?;
    let end = e.end.as_ref().ok_or("the event has no end")?;
    if e.is_all_day.unwrap_or(false) {
        let s = dttz_date(start).ok_or_else(|| format!("invalid start `{}`", start.date_time))?;
        let en = dttz_date(end).ok_or_else(|| format!("invalid end `{}`", end.date_time))?;
        return Ok(EventTiming { start: EventTime::AllDay { date: s }, end: EventTime::AllDay { date: en } });
    }
    let s =
        dttz_instant(start).ok_or_else(|| format!("invalid start `{}` in `{:?}`", start.date_time, start.time_zone))?;
    let en = dttz_instant(end).ok_or_else(|| format!("invalid end `{}` in `{:?}`", end.date_time, end.time_zone))?;
    let out_of_range = |t: DateTime<Utc>, z: &Zone| format!("{t} is out of range in {}", z.name);
    Ok(EventTiming {
        start: EventTime::Zoned {
            local: local_in(s, zones.start.tz).ok_or_else(|| out_of_range(s, &zones.start))?,
            zone: zones.start.name.clone(),
        },
        end: EventTime::Zoned {
            local: local_in(en, zones.end.tz).ok_or_else(|| out_of_range(en, &zones.end))?,
            zone: zones.end.name.clone(),
        },
    })
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

/// The key of an occurrence of a series: its original start in the series' zone (or its date).
fn occurrence_key(original: DateTime<Utc>, all_day: bool, series_zone: &Zone) -> Result<EventTime, String> {
    let local = local_in(original, series_zone.tz)
        .ok_or_else(|| format!("originalStart {original} is out of range in {}", series_zone.name))?;
    Ok(if all_day {
        EventTime::AllDay { date: local.date() }
    } else {
        EventTime::Zoned { local, zone: series_zone.name.clone() }
    })
}

/// The date of an entry of `cancelledOccurrences` (`OID.{masterId}.{yyyy-MM-dd}`).
fn cancelled_date(entry: &str) -> Option<NaiveDate> {
    let tail = entry.rsplit('.').next()?;
    NaiveDate::parse_from_str(tail, "%Y-%m-%d").ok()
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

// --- writing ------------------------------------------------------------------------------------

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

fn person_json(p: &Person) -> Value {
    json!({"emailAddress": {"address": p.email, "name": p.name.clone().unwrap_or_else(|| p.email.clone())}})
}

fn attendees_json(list: &[Attendee]) -> Value {
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

fn sensitivity(p: Privacy) -> &'static str {
    match p {
        Privacy::Normal => "normal",
        Privacy::Private => "private",
    }
}

fn show_as_json(s: ShowAs) -> &'static str {
    match s {
        ShowAs::Free => "free",
        ShowAs::Tentative => "tentative",
        ShowAs::Busy => "busy",
        ShowAs::OutOfOffice => "oof",
        ShowAs::WorkingElsewhere => "workingElsewhere",
    }
}

fn body_json(d: Option<&str>) -> Value {
    json!({"contentType": "text", "content": d.unwrap_or_default()})
}

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

/// Whether an instance (by its `originalStart`, and for all-day series the zone of its `start`)
/// is the occurrence keyed `key`.
pub(crate) fn is_occurrence(key: &EventTime, original: DateTime<Utc>, instance_zone: Option<&str>) -> bool {
    match key {
        EventTime::AllDay { date } => {
            let tz = zone(instance_zone).unwrap_or_else(utc).tz;
            local_in(original, tz).is_some_and(|t| t.date() == *date)
        }
        EventTime::Zoned { .. } => key.instant() == Some(original),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::NaiveDateTime;

    use super::*;

    const OPTS: WriteOptions<'static> = WriteOptions { all_day_zone: "UTC", iana_names: false };

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    fn zoned(s: &str, zone: &str) -> EventTime {
        EventTime::Zoned { local: at(s), zone: zone.into() }
    }

    #[test]
    fn reads_a_series_with_an_exception_and_a_cancellation() {
        let master: types::Event = serde_json::from_value(json!({
            "id": "M", "type": "seriesMaster", "subject": "Standup",
            "start": {"dateTime": "2026-01-05T08:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-05T08:15:00.0000000", "timeZone": "UTC"},
            "originalStartTimeZone": "Romance Standard Time", "originalEndTimeZone": "Romance Standard Time",
            "isAllDay": false, "sensitivity": "confidential", "showAs": "unknown",
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
                           "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 4}},
            "cancelledOccurrences": ["OID.M.2026-01-19"],
            "exceptionOccurrences": [{
                "id": "X", "type": "exception", "subject": "Standup (moved)", "originalStart": "2026-01-12T08:00:00Z",
                "start": {"dateTime": "2026-01-12T09:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-01-12T09:15:00.0000000", "timeZone": "UTC"},
                "isAllDay": false
            }]
        }))
        .unwrap();
        let e = to_model(&master).unwrap().unwrap();
        assert_eq!(e.timing.start, zoned("2026-01-05T09:00", "Europe/Paris"));
        assert_eq!(e.privacy, Privacy::Private);
        assert_eq!(e.show_as, ShowAs::Busy);
        let r = e.recurrence.unwrap();
        assert_eq!(r.rules, vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=4"]);
        let ov = &r.overrides[&zoned("2026-01-12T09:00", "Europe/Paris")];
        assert_eq!(ov.subject.as_deref(), Some("Standup (moved)"));
        assert_eq!(
            ov.timing.as_ref().unwrap().start,
            zoned("2026-01-12T10:00", "Europe/Paris"),
            "exceptions are shown in the series' zone"
        );
        assert!(r.cancelled.contains(&zoned("2026-01-19T09:00", "Europe/Paris")));
    }

    #[test]
    fn a_cancelled_meeting_reads_as_deleted_and_customized_zones_as_utc() {
        let e: types::Event = serde_json::from_value(json!({
            "id": "C", "isCancelled": true, "start": {"dateTime": "2026-01-05T08:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"}
        }))
        .unwrap();
        assert_eq!(to_model(&e).unwrap(), None);
        let e: types::Event = serde_json::from_value(json!({
            "id": "D", "originalStartTimeZone": "Customized Time Zone",
            "start": {"dateTime": "2026-01-05T08:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"}
        }))
        .unwrap();
        assert_eq!(to_model(&e).unwrap().unwrap().timing.start, zoned("2026-01-05T08:00", "UTC"));
        let no_start: types::Event = serde_json::from_value(json!({"id": "E"})).unwrap();
        assert!(to_model(&no_start).is_err());
    }

    #[test]
    fn all_day_events_keep_their_dates_whatever_the_zone() {
        let e: types::Event = serde_json::from_value(json!({
            "id": "A", "type": "singleInstance", "isAllDay": true,
            "start": {"dateTime": "2026-05-01T00:00:00.0000000", "timeZone": "Tokyo Standard Time"},
            "end": {"dateTime": "2026-05-02T00:00:00.0000000", "timeZone": "Tokyo Standard Time"},
        }))
        .unwrap();
        let m = to_model(&e).unwrap().unwrap();
        assert_eq!(m.timing.start, EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap() });
        assert_eq!(m.timing.end, EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 5, 2).unwrap() });
        let (s, en, all_day) = timing_json(&m.timing, OPTS).unwrap();
        assert!(all_day);
        assert_eq!(s, json!({"dateTime": "2026-05-01T00:00:00", "timeZone": "UTC"}));
        assert_eq!(en["dateTime"], "2026-05-02T00:00:00");
    }

    #[test]
    fn writes_zones_by_windows_name_and_refuses_rdates() {
        let t = EventTiming {
            start: zoned("2026-01-05T09:00", "Europe/Paris"),
            end: zoned("2026-01-05T10:00", "Asia/Tokyo"),
        };
        let (s, e, _) = timing_json(&t, OPTS).unwrap();
        assert_eq!(s["timeZone"], "Romance Standard Time");
        assert_eq!(e["timeZone"], "Tokyo Standard Time");
        let r = Recurrence { rules: vec!["FREQ=DAILY".into()], rdates: vec![t.start.clone()], ..Recurrence::default() };
        assert!(recurrence_json(&r, &t, OPTS).is_err());
        let bad = EventTiming { start: zoned("2026-01-05T09:00", "Atlantis"), end: t.end.clone() };
        assert!(timing_json(&bad, OPTS).is_err());
    }
}
