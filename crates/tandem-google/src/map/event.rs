//! Calendar v3 `Event` ⇄ [`Event`]. A series is one record, the master: its `recurrence` lines
//! become RRULE/RDATE/EXDATE, its exception instances (`recurringEventId` + `originalStartTime`)
//! become overrides, and its cancelled instances cancellations.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};
use tandem_core::fields::FieldKey;
use tandem_core::guard::local_time;
use tandem_core::model::{
    Attendee, AttendeeRole, Event, EventTime, EventTiming, OccurrenceOverride, Person, Privacy, Recurrence,
    ResponseStatus, ShowAs,
};

/// The private extended property holding Tandem's idempotency key.
pub(crate) const KEY_PROPERTY: &str = "tandemKey";
/// Where `colorId` is kept in [`Event::custom`].
pub(crate) const COLOR_FIELD: &str = "google.colorId";

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `{dateTime, timeZone}` or `{date}` → [`EventTime`]. `fallback_zone` is the calendar's zone.
pub(crate) fn time_from_json(v: &Value) -> Result<EventTime, String> {
    if let Some(date) = v.get("date").and_then(Value::as_str) {
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|e| format!("bad date `{date}`: {e}"))?;
        return Ok(EventTime::AllDay { date });
    }
    let raw = v.get("dateTime").and_then(Value::as_str).ok_or("a time without date or dateTime")?;
    let zone = v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown time zone `{zone}`"))?;
    let local = match DateTime::parse_from_rfc3339(raw) {
        Ok(at) => local_time(at.with_timezone(&Utc), &tz).ok_or_else(|| format!("dateTime `{raw}` out of range"))?,
        // A wall-clock time without offset, in `timeZone` (how Tandem writes them).
        Err(e) => {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S").map_err(|_| format!("bad dateTime `{raw}`: {e}"))?
        }
    };
    Ok(EventTime::Zoned { local, zone: tz.name().to_owned() })
}

/// [`EventTime`] → `{dateTime, timeZone}` (wall-clock time, no offset) or `{date}`.
pub(crate) fn time_to_json(t: &EventTime) -> Value {
    match t {
        EventTime::AllDay { date } => json!({"date": date.format("%Y-%m-%d").to_string()}),
        EventTime::Zoned { local, zone } => {
            json!({"dateTime": local.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": zone})
        }
    }
}

/// One value of an RDATE/EXDATE line: `20260105T090000Z`, `20260105T090000` (in `tzid`) or
/// `20260105`.
fn parse_ical_time(value: &str, tzid: Option<&str>, all_day: bool) -> Result<EventTime, String> {
    let value = value.trim();
    if all_day || (value.len() == 8 && !value.contains('T')) {
        let date = NaiveDate::parse_from_str(value, "%Y%m%d").map_err(|e| format!("bad date `{value}`: {e}"))?;
        return Ok(EventTime::AllDay { date });
    }
    if let Some(utc) = value.strip_suffix('Z') {
        let local =
            NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").map_err(|e| format!("bad time `{value}`: {e}"))?;
        return Ok(EventTime::utc(local));
    }
    let local =
        NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").map_err(|e| format!("bad time `{value}`: {e}"))?;
    let zone = tzid.unwrap_or("UTC");
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown TZID `{zone}`"))?;
    Ok(EventTime::Zoned { local, zone: tz.name().to_owned() })
}

/// `recurrence` lines → rules, RDATEs and EXDATEs (overrides and cancellations come from
/// instances).
pub(crate) fn recurrence_from_lines(lines: &[Value]) -> Result<Recurrence, String> {
    let mut r = Recurrence::default();
    for line in lines.iter().filter_map(Value::as_str) {
        let (head, value) = line.split_once(':').ok_or_else(|| format!("bad recurrence line `{line}`"))?;
        let mut params = head.split(';');
        let name = params.next().unwrap_or_default().to_ascii_uppercase();
        let mut tzid = None;
        let mut all_day = false;
        for p in params {
            match p.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("TZID") => tzid = Some(v),
                Some((k, v)) if k.eq_ignore_ascii_case("VALUE") => all_day = v.eq_ignore_ascii_case("DATE"),
                _ => {}
            }
        }
        match name.as_str() {
            "RRULE" => r.rules.push(value.to_owned()),
            "RDATE" | "EXDATE" => {
                for v in value.split(',') {
                    let t = parse_ical_time(v, tzid, all_day)?;
                    if name == "RDATE" { r.rdates.push(t) } else { r.exdates.push(t) }
                }
            }
            other => return Err(format!("unsupported recurrence line `{other}`")),
        }
    }
    Ok(r)
}

fn ical_line(name: &str, t: &EventTime) -> String {
    match t {
        EventTime::AllDay { date } => format!("{name};VALUE=DATE:{}", date.format("%Y%m%d")),
        EventTime::Zoned { local, zone } if zone == "UTC" => format!("{name}:{}Z", local.format("%Y%m%dT%H%M%S")),
        EventTime::Zoned { local, zone } => format!("{name};TZID={zone}:{}", local.format("%Y%m%dT%H%M%S")),
    }
}

/// Rules, RDATEs and EXDATEs → `recurrence` lines.
pub(crate) fn recurrence_to_lines(r: &Recurrence) -> Vec<String> {
    let mut lines: Vec<String> = r.rules.iter().map(|rule| format!("RRULE:{rule}")).collect();
    lines.extend(r.rdates.iter().map(|t| ical_line("RDATE", t)));
    lines.extend(r.exdates.iter().map(|t| ical_line("EXDATE", t)));
    lines
}

/// The id Google gives the instance of series `master` originally at `original`
/// (`{master}_{yyyymmddThhmmssZ}` or `{master}_{yyyymmdd}`): Google's convention, not documented.
pub(crate) fn instance_id(master: &str, original: &EventTime) -> Option<String> {
    match original {
        EventTime::AllDay { date } => Some(format!("{master}_{}", date.format("%Y%m%d"))),
        EventTime::Zoned { .. } => original.instant().map(|at| format!("{master}_{}", at.format("%Y%m%dT%H%M%SZ"))),
    }
}

fn response_from(s: Option<&str>) -> ResponseStatus {
    match s {
        Some("accepted") => ResponseStatus::Accepted,
        Some("tentative") => ResponseStatus::Tentative,
        Some("declined") => ResponseStatus::Declined,
        _ => ResponseStatus::NeedsAction,
    }
}

fn response_to(r: ResponseStatus) -> &'static str {
    match r {
        ResponseStatus::Accepted => "accepted",
        ResponseStatus::Tentative => "tentative",
        ResponseStatus::Declined => "declined",
        ResponseStatus::NeedsAction => "needsAction",
    }
}

fn attendee_from(v: &Value) -> Option<Attendee> {
    let email = text(v, "email")?;
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let role = if flag("resource") {
        AttendeeRole::Resource
    } else if flag("optional") {
        AttendeeRole::Optional
    } else {
        AttendeeRole::Required
    };
    Some(Attendee {
        email,
        name: text(v, "displayName"),
        role,
        response: response_from(v.get("responseStatus").and_then(Value::as_str)),
    })
}

/// The attendees as Google takes them.
pub(crate) fn attendees_to_json(attendees: &[Attendee]) -> Value {
    Value::Array(
        attendees
            .iter()
            .map(|a| {
                let mut o = Map::new();
                o.insert("email".into(), json!(a.email));
                if let Some(n) = &a.name {
                    o.insert("displayName".into(), json!(n));
                }
                match a.role {
                    AttendeeRole::Optional => {
                        o.insert("optional".into(), json!(true));
                    }
                    AttendeeRole::Resource => {
                        o.insert("resource".into(), json!(true));
                    }
                    AttendeeRole::Required => {}
                }
                o.insert("responseStatus".into(), json!(response_to(a.response)));
                Value::Object(o)
            })
            .collect(),
    )
}

/// A master or single event (not an instance) → the model, without its exceptions.
pub(crate) fn event_from_json(v: &Value) -> Result<Event, String> {
    let start = time_from_json(v.get("start").ok_or("no start")?)?;
    let end = time_from_json(v.get("end").ok_or("no end")?)?;
    let recurrence = match v.get("recurrence").and_then(Value::as_array) {
        Some(lines) if !lines.is_empty() => Some(recurrence_from_lines(lines)?),
        _ => None,
    };
    let organizer =
        v.get("organizer").and_then(|o| text(o, "email").map(|email| Person { email, name: text(o, "displayName") }));
    let attendees = v
        .get("attendees")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(attendee_from).collect())
        .unwrap_or_default();
    let privacy = match v.get("visibility").and_then(Value::as_str) {
        Some("private" | "confidential") => Privacy::Private,
        _ => Privacy::Normal,
    };
    let show_as = match v.get("transparency").and_then(Value::as_str) {
        Some("transparent") => ShowAs::Free,
        _ => ShowAs::Busy,
    };
    let mut event = Event {
        subject: text(v, "summary"),
        description: text(v, "description"),
        location: text(v, "location"),
        timing: EventTiming { start, end },
        recurrence,
        organizer,
        attendees,
        privacy,
        show_as,
        categories: Vec::new(),
        crm_links: Vec::new(),
        ical_uid: text(v, "iCalUID"),
        custom: std::collections::BTreeMap::new(),
    };
    if let Some(color) = text(v, "colorId") {
        event.custom.insert(COLOR_FIELD.to_owned(), color);
    }
    Ok(event)
}

/// The idempotency key stored on an event, if Tandem created it.
pub(crate) fn sync_key(v: &Value) -> Option<String> {
    v.pointer(&format!("/extendedProperties/private/{KEY_PROPERTY}")).and_then(Value::as_str).map(str::to_owned)
}

/// Folds one instance of the series (an exception or a cancelled occurrence) into `master`.
pub(crate) fn fold_instance(master: &mut Event, instance: &Value) -> Result<(), String> {
    let original = time_from_json(instance.get("originalStartTime").ok_or("an instance without originalStartTime")?)?;
    let base = master.clone();
    let recurrence = master.recurrence.get_or_insert_with(Recurrence::default);
    if instance.get("status").and_then(Value::as_str) == Some("cancelled") {
        recurrence.overrides.remove(&original);
        recurrence.cancelled.insert(original);
        return Ok(());
    }
    let changed = event_from_json(instance)?;
    let differs = |a: &Option<String>, b: &Option<String>| if a == b { None } else { a.clone() };
    let moved = changed.timing.start != original || duration(&changed.timing) != duration(&base.timing);
    let over = OccurrenceOverride {
        timing: moved.then(|| changed.timing.clone()),
        subject: differs(&changed.subject, &base.subject),
        location: differs(&changed.location, &base.location),
        description: differs(&changed.description, &base.description),
    };
    recurrence.cancelled.remove(&original);
    recurrence.overrides.insert(original, over);
    Ok(())
}

fn duration(t: &EventTiming) -> Option<i64> {
    Some((t.end.instant()? - t.start.instant()?).num_minutes())
}

/// The model → the writable Calendar fields of a master or single event. Overrides and
/// cancellations are written on the instances (see `write.rs`).
pub(crate) fn event_to_json(e: &Event) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("summary".into(), json!(e.subject.clone().unwrap_or_default()));
    o.insert("description".into(), json!(e.description.clone().unwrap_or_default()));
    o.insert("location".into(), json!(e.location.clone().unwrap_or_default()));
    o.insert("start".into(), time_to_json(&e.timing.start));
    o.insert("end".into(), time_to_json(&e.timing.end));
    o.insert(
        "recurrence".into(),
        match &e.recurrence {
            Some(r) => json!(recurrence_to_lines(r)),
            None => json!([]),
        },
    );
    o.insert("attendees".into(), attendees_to_json(&e.attendees));
    o.insert("visibility".into(), json!(if e.privacy == Privacy::Private { "private" } else { "default" }));
    o.insert("transparency".into(), json!(if e.show_as == ShowAs::Free { "transparent" } else { "opaque" }));
    if let Some(color) = e.custom.get(COLOR_FIELD) {
        o.insert("colorId".into(), json!(color));
    }
    o
}

/// The Calendar properties a field is written to.
pub(crate) fn properties_of(key: &FieldKey) -> &'static [&'static str] {
    match key {
        FieldKey::Subject => &["summary"],
        FieldKey::Description => &["description"],
        FieldKey::Location => &["location"],
        FieldKey::Timing => &["start", "end"],
        FieldKey::Recurrence => &["recurrence"],
        FieldKey::Attendees | FieldKey::Attendee(_) => &["attendees"],
        FieldKey::Privacy => &["visibility"],
        FieldKey::ShowAs => &["transparency"],
        FieldKey::Custom(name) if name == COLOR_FIELD => &["colorId"],
        _ => &[],
    }
}

/// The body for an override on an instance.
pub(crate) fn override_to_json(o: &OccurrenceOverride) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(t) = &o.timing {
        m.insert("start".into(), time_to_json(&t.start));
        m.insert("end".into(), time_to_json(&t.end));
    }
    for (k, v) in [("summary", &o.subject), ("location", &o.location), ("description", &o.description)] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    m
}
