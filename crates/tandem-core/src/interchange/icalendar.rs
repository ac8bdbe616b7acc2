//! iCalendar (RFC 5545) import and export of [`Event`]s.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use chrono_tz::Tz;
use ical::parser::ical::component::{IcalCalendar, IcalTimeZone};

use super::text::{self, ContentWriter, ICALENDAR, Prop};
use super::{InterchangeError, zones};
use crate::model::{
    Attendee, AttendeeRole, CrmLink, Event, EventTime, EventTiming, OccurrenceOverride, Person, Privacy, Recurrence,
    ResponseStatus, ShowAs,
};

/// Parameter on `UID` marking a UID that Tandem made up for an event without one.
const GENERATED: &str = "X-TANDEM-GENERATED";
/// Parameter on `EXDATE` marking a cancelled occurrence rather than a plain exclusion.
const CANCELLED: &str = "X-TANDEM-CANCELLED";
/// Prefix of Tandem's own properties: custom fields and CRM links.
const PREFIX: &str = "X-TANDEM-";
/// `X-TANDEM-CRM-LINK` holds a CRM link; its object type is in this parameter.
const CRM_LINK: &str = "CRM-LINK";
const CRM_OBJECT: &str = "X-TANDEM-OBJECT";
/// The `DTSTAMP` written: this crate has no clock.
const DTSTAMP: &str = "19700101T000000Z";

/// Parses iCalendar text (one or more `VCALENDAR`s) into events.
///
/// `VEVENT`s are grouped by `UID`: the master (without `RECURRENCE-ID`) carries `RRULE`, `RDATE`
/// and `EXDATE`; instances with `RECURRENCE-ID` become [`Recurrence::overrides`], or
/// [`Recurrence::cancelled`] when `STATUS:CANCELLED`. `VTODO`, `VJOURNAL`, `VFREEBUSY` and
/// `VALARM` are ignored. Text that is empty or only white space gives no events. See the
/// [module documentation](super) for time zones and the other mapping rules.
///
/// # Errors
///
/// [`InterchangeError::Parse`] for malformed text, [`InterchangeError::MissingProperty`] for a
/// `VEVENT` without `DTSTART`, [`InterchangeError::UnknownTimeZone`] for a `TZID` or `VTIMEZONE`
/// that maps to no IANA zone, [`InterchangeError::InvalidValue`] for unreadable dates, durations
/// and rules, [`InterchangeError::EndBeforeStart`].
pub fn parse_icalendar(text: &str) -> Result<Vec<Event>, InterchangeError> {
    let prepared = text::prepare(text, &ICALENDAR)?;
    let calendars = text::contained_parse(ical::IcalParser::new(prepared.text.as_bytes()))?;
    let mut events = Vec::new();
    for calendar in calendars {
        let calendar = calendar.map_err(|e| prepared.error(e))?;
        events.extend(calendar_events(&calendar)?);
    }
    Ok(events)
}

/// The zones a calendar's `TZID`s refer to.
struct Zones {
    /// `VTIMEZONE` TZIDs as written, resolved.
    declared: HashMap<String, String>,
    /// Other TZIDs seen so far, resolved (resolution can scan the whole zone list).
    seen: RefCell<HashMap<String, Option<String>>>,
}

fn tzid_key(tzid: &str) -> &str {
    tzid.trim().trim_matches('"').trim()
}

impl Zones {
    fn new(timezones: &[IcalTimeZone]) -> Result<Zones, InterchangeError> {
        let mut declared = HashMap::new();
        for timezone in timezones {
            let props = text::props(&timezone.properties);
            let Some(tzid) = props.iter().find(|p| p.name == "TZID").map(Prop::text) else {
                continue;
            };
            let zone = zones::resolve(&tzid)
                .or_else(|| props.iter().filter(|p| p.name == "X-LIC-LOCATION").find_map(|p| zones::resolve(&p.text())))
                .ok_or_else(|| InterchangeError::UnknownTimeZone(tzid.clone()))?;
            declared.insert(tzid_key(&tzid).to_owned(), zone);
        }
        Ok(Zones { declared, seen: RefCell::default() })
    }

    fn resolve(&self, tzid: &str) -> Result<String, InterchangeError> {
        let key = tzid_key(tzid);
        let zone = match self.declared.get(key) {
            Some(zone) => Some(zone.clone()),
            None => self.seen.borrow_mut().entry(key.to_owned()).or_insert_with(|| zones::resolve(key)).clone(),
        };
        zone.ok_or_else(|| InterchangeError::UnknownTimeZone(tzid.to_owned()))
    }
}

/// One `VEVENT`'s properties.
struct Vevent {
    props: Vec<Prop>,
}

impl Vevent {
    fn get(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Prop::text_opt)
    }

    /// The `UID` as written (also a generated one), for grouping.
    fn uid(&self) -> Option<String> {
        self.text("UID").map(|u| u.trim().to_owned()).filter(|u| !u.is_empty())
    }

    fn is_cancelled(&self) -> bool {
        self.text("STATUS").is_some_and(|s| s.trim().eq_ignore_ascii_case("CANCELLED"))
    }
}

fn calendar_events(calendar: &IcalCalendar) -> Result<Vec<Event>, InterchangeError> {
    let zones = Zones::new(&calendar.timezones)?;
    let vevents: Vec<Vevent> = calendar.events.iter().map(|e| Vevent { props: text::props(&e.properties) }).collect();

    let mut events: Vec<Event> = Vec::new();
    let mut masters: HashMap<String, usize> = HashMap::new();
    let mut cancelled_series: HashSet<String> = HashSet::new();
    let mut instances = Vec::new();
    for vevent in &vevents {
        if vevent.get("RECURRENCE-ID").is_some() {
            instances.push(vevent);
            continue;
        }
        let uid = vevent.uid();
        if vevent.is_cancelled() {
            cancelled_series.extend(uid);
            continue;
        }
        let event = master_event(vevent, &zones)?;
        if let Some(uid) = uid {
            masters.entry(uid).or_insert(events.len());
        }
        events.push(event);
    }
    for vevent in instances {
        let uid = vevent.uid();
        match uid.as_ref().and_then(|u| masters.get(u)) {
            Some(&index) => {
                if let Some(master) = events.get_mut(index) {
                    apply_instance(master, vevent, &zones)?;
                }
            }
            None => {
                let series_cancelled = uid.as_ref().is_some_and(|u| cancelled_series.contains(u));
                if !series_cancelled && !vevent.is_cancelled() {
                    events.push(master_event(vevent, &zones)?);
                }
            }
        }
    }
    Ok(events)
}

fn master_event(vevent: &Vevent, zones: &Zones) -> Result<Event, InterchangeError> {
    let uid = vevent.uid();
    let generated = vevent.get("UID").is_some_and(|p| p.param(GENERATED).is_some());
    let timing = timing(vevent, zones, uid.as_deref(), None)?
        .ok_or(InterchangeError::MissingProperty { component: "VEVENT", property: "DTSTART" })?;

    let mut recurrence = Recurrence::default();
    for prop in vevent.all("RRULE") {
        recurrence.rules.push(rule(prop)?);
    }
    for prop in vevent.all("RDATE") {
        for time in times(prop, zones)? {
            recurrence.rdates.push(align(time, &timing.start));
        }
    }
    for prop in vevent.all("EXDATE") {
        let cancelled = prop.param(CANCELLED).is_some();
        for time in times(prop, zones)? {
            let time = align(time, &timing.start);
            if cancelled {
                recurrence.cancelled.insert(time);
            } else {
                recurrence.exdates.push(time);
            }
        }
    }
    let has_recurrence = !recurrence.rules.is_empty()
        || !recurrence.rdates.is_empty()
        || !recurrence.exdates.is_empty()
        || !recurrence.cancelled.is_empty();

    let mut crm_links = Vec::new();
    let mut custom = std::collections::BTreeMap::new();
    for prop in &vevent.props {
        let Some(rest) = strip_prefix_ci(&prop.raw_name, PREFIX) else {
            continue;
        };
        if rest.eq_ignore_ascii_case(CRM_LINK) {
            if let Some(id) = prop.text_opt() {
                crm_links.push(CrmLink { object: prop.param(CRM_OBJECT).unwrap_or_default(), id });
            }
        } else if let Some(value) = prop.text_opt() {
            custom.insert(text::decode_name(rest), value);
        }
    }

    Ok(Event {
        subject: vevent.text("SUMMARY"),
        description: vevent.text("DESCRIPTION"),
        location: vevent.text("LOCATION"),
        timing,
        recurrence: has_recurrence.then_some(recurrence),
        organizer: vevent.get("ORGANIZER").and_then(|p| {
            let (email, name) = person(p);
            (!email.is_empty() || name.is_some()).then_some(Person { email, name })
        }),
        attendees: vevent.all("ATTENDEE").filter_map(attendee).collect(),
        privacy: match vevent.text("CLASS").map(|c| c.trim().to_ascii_uppercase()).as_deref() {
            Some("PRIVATE" | "CONFIDENTIAL") => Privacy::Private,
            _ => Privacy::Normal,
        },
        show_as: show_as(vevent),
        categories: vevent
            .all("CATEGORIES")
            .flat_map(|p| text::split_unescaped(&p.value, ','))
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect(),
        crm_links,
        ical_uid: if generated { None } else { uid },
        custom,
    })
}

/// Applies a `RECURRENCE-ID` instance to its series master.
fn apply_instance(master: &mut Event, vevent: &Vevent, zones: &Zones) -> Result<(), InterchangeError> {
    let Some(rid) = vevent.get("RECURRENCE-ID") else {
        return Ok(());
    };
    let key = align(time(rid, zones)?, &master.timing.start);
    if vevent.is_cancelled() {
        master.recurrence.get_or_insert_with(Recurrence::default).cancelled.insert(key);
        return Ok(());
    }
    let original = occurrence_end(&key, &master.timing).map(|end| EventTiming { start: key.clone(), end });
    let timing =
        timing(vevent, zones, vevent.uid().as_deref(), Some(&master.timing))?.filter(|t| Some(t) != original.as_ref());
    let changed =
        |name: &str, master_value: &Option<String>| vevent.text(name).filter(|v| Some(v) != master_value.as_ref());
    let over = OccurrenceOverride {
        timing,
        subject: changed("SUMMARY", &master.subject),
        location: changed("LOCATION", &master.location),
        description: changed("DESCRIPTION", &master.description),
    };
    master.recurrence.get_or_insert_with(Recurrence::default).overrides.insert(key, over);
    Ok(())
}

/// `DTSTART` with `DTEND`, `DURATION`, the series' duration (for an instance) or the RFC 5545
/// default; `None` without `DTSTART`.
fn timing(
    vevent: &Vevent,
    zones: &Zones,
    uid: Option<&str>,
    series: Option<&EventTiming>,
) -> Result<Option<EventTiming>, InterchangeError> {
    let Some(dtstart) = vevent.get("DTSTART") else {
        return Ok(None);
    };
    let start = time(dtstart, zones)?;
    let (end, end_prop) = if let Some(dtend) = vevent.get("DTEND") {
        (time(dtend, zones)?, dtend)
    } else if let Some(duration) = vevent.get("DURATION") {
        (add_duration(&start, duration)?, duration)
    } else if let Some(end) = series.and_then(|s| occurrence_end(&start, s)) {
        return Ok(Some(EventTiming { start, end }));
    } else {
        let end = match &start {
            EventTime::AllDay { date } => EventTime::AllDay { date: date.succ_opt().unwrap_or(*date) },
            zoned => zoned.clone(),
        };
        return Ok(Some(EventTiming { start, end }));
    };
    match ends_before(&start, &end) {
        Some(false) => Ok(Some(EventTiming { start, end })),
        Some(true) => Err(InterchangeError::EndBeforeStart { uid: uid.map(str::to_owned) }),
        None => Err(invalid(end_prop, &end_prop.value)),
    }
}

/// Whether `end` is before `start`; `None` when one is a date and the other a date-time.
fn ends_before(start: &EventTime, end: &EventTime) -> Option<bool> {
    match (start, end) {
        (EventTime::AllDay { date: s }, EventTime::AllDay { date: e }) => Some(e < s),
        (EventTime::Zoned { local: sl, zone: sz }, EventTime::Zoned { local: el, zone: ez }) => {
            Some(match (start.instant(), end.instant()) {
                (Some(s), Some(e)) => e < s,
                _ => sz == ez && el < sl,
            })
        }
        _ => None,
    }
}

/// The end of an occurrence starting at `start` of a series timed like `series`.
fn occurrence_end(start: &EventTime, series: &EventTiming) -> Option<EventTime> {
    match (start, &series.start, &series.end) {
        (EventTime::AllDay { date }, EventTime::AllDay { date: s }, EventTime::AllDay { date: e }) => {
            date.checked_add_signed(e.signed_duration_since(*s)).map(|date| EventTime::AllDay { date })
        }
        (
            EventTime::Zoned { local, zone },
            EventTime::Zoned { local: sl, zone: sz },
            EventTime::Zoned { local: el, zone: ez },
        ) => {
            if sz == ez {
                let local = local.checked_add_signed(el.signed_duration_since(*sl))?;
                Some(EventTime::Zoned { local, zone: zone.clone() })
            } else {
                let length = series.end.instant()? - series.start.instant()?;
                let end = start.instant()?.checked_add_signed(length)?;
                let tz: Tz = ez.parse().ok()?;
                Some(EventTime::Zoned { local: crate::guard::local_time(end, &tz)?, zone: ez.clone() })
            }
        }
        _ => None,
    }
}

/// Expresses a zoned time in the zone of `reference` when the two zones differ, so that
/// occurrence keys compare equal.
fn align(time: EventTime, reference: &EventTime) -> EventTime {
    if let (EventTime::Zoned { zone, .. }, EventTime::Zoned { zone: target, .. }) = (&time, reference)
        && zone != target
        && let Some(instant) = time.instant()
        && let Ok(tz) = target.parse::<Tz>()
        && let Some(local) = crate::guard::local_time(instant, &tz)
    {
        return EventTime::Zoned { local, zone: target.clone() };
    }
    time
}

fn invalid(prop: &Prop, value: &str) -> InterchangeError {
    InterchangeError::InvalidValue { property: prop.name.clone(), value: value.to_owned() }
}

/// A single date or date-time value (`DTSTART`, `DTEND`, `RECURRENCE-ID`).
fn time(prop: &Prop, zones: &Zones) -> Result<EventTime, InterchangeError> {
    time_value(prop, prop.value.trim(), zones)
}

/// A comma-separated list of dates, date-times or periods (`RDATE`, `EXDATE`); a period counts
/// by its start.
fn times(prop: &Prop, zones: &Zones) -> Result<Vec<EventTime>, InterchangeError> {
    prop.value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| time_value(prop, v.split('/').next().unwrap_or(v), zones))
        .collect()
}

fn time_value(prop: &Prop, raw: &str, zones: &Zones) -> Result<EventTime, InterchangeError> {
    let value_type = prop.param("VALUE").map(|v| v.trim().to_ascii_uppercase());
    if value_type.as_deref() == Some("DATE") || (value_type.is_none() && raw.len() == 8) {
        return parse_date(raw).map(|date| EventTime::AllDay { date }).ok_or_else(|| invalid(prop, raw));
    }
    let (body, utc) = match raw.strip_suffix(['Z', 'z']) {
        Some(body) => (body, true),
        None => (raw, false),
    };
    let local = parse_date_time(body).ok_or_else(|| invalid(prop, raw))?;
    let zone = match prop.param("TZID") {
        _ if utc => "UTC".to_owned(),
        Some(tzid) => zones.resolve(&tzid)?,
        // Floating time: the model has none, so it is read as UTC.
        None => "UTC".to_owned(),
    };
    Ok(EventTime::Zoned { local, zone })
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYYMMDD`.
fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 {
        return None;
    }
    let year = i32::try_from(digits(s.get(0..4)?)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(s.get(4..6)?)?, digits(s.get(6..8)?)?)
}

/// `YYYYMMDDTHHMMSS`.
fn parse_date_time(s: &str) -> Option<NaiveDateTime> {
    if s.len() != 15 || !matches!(s.as_bytes().get(8), Some(b'T' | b't')) {
        return None;
    }
    let date = parse_date(s.get(0..8)?)?;
    let time = NaiveTime::from_hms_opt(digits(s.get(9..11)?)?, digits(s.get(11..13)?)?, digits(s.get(13..15)?)?)?;
    Some(date.and_time(time))
}

/// An RFC 5545 duration: `[+-]P[nW][nD][T[nH][nM][nS]]`.
fn parse_duration(s: &str) -> Option<TimeDelta> {
    let s = s.trim();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let s = s.strip_prefix(['P', 'p'])?;
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    let mut in_time = false;
    let mut any = false;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(number.unwrap_or(0).checked_mul(10)?.checked_add(i64::from(d))?);
            continue;
        }
        if c.eq_ignore_ascii_case(&'T') {
            if number.is_some() || in_time {
                return None;
            }
            in_time = true;
            continue;
        }
        let unit = match (in_time, c.to_ascii_uppercase()) {
            (false, 'W') => 7 * 86_400,
            (false, 'D') => 86_400,
            (true, 'H') => 3_600,
            (true, 'M') => 60,
            (true, 'S') => 1,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
        any = true;
    }
    if number.is_some() || !any {
        return None;
    }
    TimeDelta::try_seconds(if negative { -total } else { total })
}

fn add_duration(start: &EventTime, prop: &Prop) -> Result<EventTime, InterchangeError> {
    let bad = || invalid(prop, &prop.value);
    let duration = parse_duration(&prop.value).ok_or_else(bad)?;
    // Beyond year 9999 a time has no iCalendar spelling, so it could not be written back.
    let end = add(start, duration).filter(|end| match end {
        EventTime::AllDay { date } => date.year() <= 9999,
        EventTime::Zoned { local, .. } => local.year() <= 9999,
    });
    end.ok_or_else(bad)
}

fn add(start: &EventTime, duration: TimeDelta) -> Option<EventTime> {
    match start {
        EventTime::AllDay { date } => {
            if duration.num_seconds() % 86_400 != 0 {
                return None;
            }
            date.checked_add_signed(duration).map(|date| EventTime::AllDay { date })
        }
        EventTime::Zoned { local, zone } => {
            local.checked_add_signed(duration).map(|local| EventTime::Zoned { local, zone: zone.clone() })
        }
    }
}

/// An `RRULE` value, checked by the `rrule` crate's parser (ASCII only and with a panic
/// contained: see [`crate::validate::validate_rrule`]).
fn rule(prop: &Prop) -> Result<String, InterchangeError> {
    let value = prop.value.trim();
    crate::validate::validate_rrule(value).map(|()| value.to_owned()).map_err(|_| invalid(prop, value))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// The address and `CN` of an `ORGANIZER` or `ATTENDEE`.
fn person(prop: &Prop) -> (String, Option<String>) {
    let value = prop.value.trim();
    let email = strip_prefix_ci(value, "mailto:").unwrap_or(value).to_owned();
    let name = prop.param("CN").filter(|n| !n.is_empty());
    (email, name)
}

fn attendee(prop: &Prop) -> Option<Attendee> {
    let (email, name) = person(prop);
    if email.is_empty() && name.is_none() {
        return None;
    }
    let cutype = prop.tokens("CUTYPE");
    let role = if cutype.iter().any(|t| t == "resource" || t == "room") {
        AttendeeRole::Resource
    } else {
        match prop.param("ROLE").map(|r| r.trim().to_ascii_uppercase()).as_deref() {
            Some("OPT-PARTICIPANT" | "NON-PARTICIPANT") => AttendeeRole::Optional,
            _ => AttendeeRole::Required,
        }
    };
    let response = match prop.param("PARTSTAT").map(|r| r.trim().to_ascii_uppercase()).as_deref() {
        Some("ACCEPTED") => ResponseStatus::Accepted,
        Some("TENTATIVE") => ResponseStatus::Tentative,
        Some("DECLINED") => ResponseStatus::Declined,
        _ => ResponseStatus::NeedsAction,
    };
    Some(Attendee { email, name, role, response })
}

fn show_as(vevent: &Vevent) -> ShowAs {
    let status = vevent
        .text("X-MICROSOFT-CDO-BUSYSTATUS")
        .or_else(|| vevent.text("X-MICROSOFT-CDO-INTENDEDSTATUS"))
        .map(|s| s.trim().to_ascii_uppercase());
    match status.as_deref() {
        Some("FREE") => ShowAs::Free,
        Some("TENTATIVE") => ShowAs::Tentative,
        Some("BUSY") => ShowAs::Busy,
        Some("OOF") => ShowAs::OutOfOffice,
        Some("WORKINGELSEWHERE") => ShowAs::WorkingElsewhere,
        _ => match vevent.text("TRANSP") {
            Some(t) if t.trim().eq_ignore_ascii_case("TRANSPARENT") => ShowAs::Free,
            _ => ShowAs::Busy,
        },
    }
}

/// Writes events as one `VCALENDAR`: CRLF line endings, folded at 75 octets, text escaped, zones
/// referenced by IANA name without `VTIMEZONE` blocks.
///
/// Overrides become extra `VEVENT`s with `RECURRENCE-ID` (fields an override leaves unchanged
/// are copied from the master); cancelled occurrences become `EXDATE`s marked
/// `X-TANDEM-CANCELLED=TRUE`. Writing never fails; [`parse_icalendar`] reads the result back into
/// the same values.
pub fn write_icalendar(events: &[Event]) -> String {
    let mut w = ContentWriter::default();
    w.line("BEGIN", &[], "VCALENDAR");
    w.line("VERSION", &[], "2.0");
    w.line("PRODID", &[], "-//Tandem//Tandem interchange//EN");
    w.line("CALSCALE", &[], "GREGORIAN");
    for (index, event) in events.iter().enumerate() {
        write_event(&mut w, index, event);
    }
    w.line("END", &[], "VCALENDAR");
    w.finish()
}

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

fn write_event(w: &mut ContentWriter, index: usize, event: &Event) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cal(body: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n")
    }

    fn one(body: &str) -> Result<Event, InterchangeError> {
        parse_icalendar(&cal(body)).map(|mut events| {
            assert_eq!(events.len(), 1, "{events:?}");
            events.remove(0)
        })
    }

    fn dt(s: &str) -> NaiveDateTime {
        parse_date_time(s).unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H30M"), TimeDelta::try_seconds(5400));
        assert_eq!(parse_duration("P1W"), TimeDelta::try_days(7));
        assert_eq!(parse_duration("P1DT2H"), TimeDelta::try_seconds(93_600));
        assert_eq!(parse_duration("-PT15M"), TimeDelta::try_seconds(-900));
        for bad in ["", "P", "PT", "1H", "PT1D", "P1H", "P1", "PT1H2", "P99999999999999999999D", "PTT1H"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn date_times() {
        assert_eq!(parse_date("20240229"), NaiveDate::from_ymd_opt(2024, 2, 29));
        for bad in ["20230229", "2024-02-2", "2024022", "+0240101", "20241301"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert!(parse_date_time("20240101T250000").is_none());
        assert!(parse_date_time("20240101 100000").is_none());
        assert!(parse_date_time("20240101T10000é").is_none());
    }

    #[test]
    fn times_and_zones() {
        let e = one("BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20240101T100000Z\r\nDURATION:PT30M\r\nEND:VEVENT\r\n").unwrap();
        assert_eq!(e.timing.start, EventTime::utc(dt("20240101T100000")));
        assert_eq!(e.timing.end, EventTime::utc(dt("20240101T103000")));

        // Floating time reads as UTC; no end means zero length.
        let e = one("BEGIN:VEVENT\r\nDTSTART:20240101T100000\r\nEND:VEVENT\r\n").unwrap();
        assert_eq!(e.timing.start, EventTime::utc(dt("20240101T100000")));
        assert_eq!(e.timing.end, e.timing.start);
        assert_eq!(e.ical_uid, None);

        // All-day without end lasts one day.
        let e = one("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20240101\r\nEND:VEVENT\r\n").unwrap();
        assert_eq!(e.timing.end, EventTime::AllDay { date: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap() });

        // Windows, quoted and Outlook display TZIDs.
        for tzid in [
            "Romance Standard Time",
            "\"Romance Standard Time\"",
            "\"(UTC+01:00) Brussels, Copenhagen, Madrid, Paris\"",
            "Europe/Paris",
        ] {
            let e = one(&format!(
                "BEGIN:VEVENT\r\nDTSTART;TZID={tzid}:20240101T100000\r\nDTEND;TZID={tzid}:20240101T110000\r\nEND:VEVENT\r\n"
            ))
            .unwrap();
            assert_eq!(e.timing.start, EventTime::Zoned { local: dt("20240101T100000"), zone: "Europe/Paris".into() });
        }

        // A custom VTIMEZONE is resolved by X-LIC-LOCATION.
        let e = one("BEGIN:VTIMEZONE\r\nTZID:My Zone\r\nX-LIC-LOCATION:Asia/Tokyo\r\nEND:VTIMEZONE\r\n\
             BEGIN:VEVENT\r\nDTSTART;TZID=My Zone:20240101T100000\r\nEND:VEVENT\r\n")
        .unwrap();
        assert_eq!(e.timing.start, EventTime::Zoned { local: dt("20240101T100000"), zone: "Asia/Tokyo".into() });
    }

    #[test]
    fn errors() {
        let cases: Vec<(&str, InterchangeError)> = vec![
            (
                "BEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n",
                InterchangeError::MissingProperty { component: "VEVENT", property: "DTSTART" },
            ),
            (
                "BEGIN:VEVENT\r\nDTSTART;TZID=Mars Standard Time:20240101T100000\r\nEND:VEVENT\r\n",
                InterchangeError::UnknownTimeZone("Mars Standard Time".into()),
            ),
            (
                "BEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\n\
                 TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
                InterchangeError::UnknownTimeZone("Customized Time Zone".into()),
            ),
            (
                "BEGIN:VEVENT\r\nUID:u1\r\nDTSTART:20240101T100000Z\r\nDTEND:20240101T090000Z\r\nEND:VEVENT\r\n",
                InterchangeError::EndBeforeStart { uid: Some("u1".into()) },
            ),
            (
                "BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nDURATION:-PT1H\r\nEND:VEVENT\r\n",
                InterchangeError::EndBeforeStart { uid: None },
            ),
            (
                // Berlin 10:00 is 09:00 UTC: an end at 08:30 UTC is before the start.
                "BEGIN:VEVENT\r\nDTSTART;TZID=Europe/Berlin:20240101T100000\r\nDTEND:20240101T083000Z\r\nEND:VEVENT\r\n",
                InterchangeError::EndBeforeStart { uid: None },
            ),
            (
                "BEGIN:VEVENT\r\nDTSTART:2024-01-01\r\nEND:VEVENT\r\n",
                InterchangeError::InvalidValue { property: "DTSTART".into(), value: "2024-01-01".into() },
            ),
            (
                "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20240101\r\nDTEND:20240102T100000Z\r\nEND:VEVENT\r\n",
                InterchangeError::InvalidValue { property: "DTEND".into(), value: "20240102T100000Z".into() },
            ),
            (
                "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20240101\r\nDURATION:PT1H\r\nEND:VEVENT\r\n",
                InterchangeError::InvalidValue { property: "DURATION".into(), value: "PT1H".into() },
            ),
            (
                "BEGIN:VEVENT\r\nDTSTART:99991231T100000Z\r\nDURATION:P1D\r\nEND:VEVENT\r\n",
                InterchangeError::InvalidValue { property: "DURATION".into(), value: "P1D".into() },
            ),
            (
                "BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nRRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\n",
                InterchangeError::InvalidValue { property: "RRULE".into(), value: "FREQ=SOMETIMES".into() },
            ),
            (
                // Issue 8: panicked inside the `rrule` crate.
                "BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=ña\r\nEND:VEVENT\r\n",
                InterchangeError::InvalidValue { property: "RRULE".into(), value: "FREQ=WEEKLY;BYDAY=ña".into() },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(one(body).unwrap_err(), expected, "{body}");
        }
    }

    #[test]
    fn real_world_rules_are_accepted() {
        for rule in [
            "FREQ=WEEKLY;UNTIL=20240226T090000Z;INTERVAL=1;BYDAY=MO;WKST=MO",
            "FREQ=WEEKLY;WKST=SU;UNTIL=20240630T215959Z;BYDAY=TU,TH",
            "FREQ=MONTHLY;BYDAY=-1FR;COUNT=12",
            "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15",
            "FREQ=DAILY;UNTIL=20240630",
            "FREQ=MONTHLY;BYSETPOS=2;BYDAY=MO,TU,WE,TH,FR",
        ] {
            let e =
                one(&format!("BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nRRULE:{rule}\r\nEND:VEVENT\r\n")).unwrap();
            assert_eq!(e.recurrence.unwrap().rules, vec![rule.to_owned()]);
        }
    }

    #[test]
    fn busy_status_privacy_and_people() {
        let e = one("BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nCLASS:CONFIDENTIAL\r\nTRANSP:TRANSPARENT\r\n\
             X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\nORGANIZER;CN=\"Doe, Jane\":MAILTO:jane@example.com\r\n\
             ATTENDEE;CN=Bob;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:bob@example.com\r\n\
             ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:room@example.com\r\n\
             ATTENDEE;ROLE=NON-PARTICIPANT;PARTSTAT=DELEGATED:mailto:fyi@example.com\r\n\
             ATTENDEE;ROLE=CHAIR;PARTSTAT=DECLINED:mailto:chair@example.com\r\n\
             CATEGORIES:Work,Client\\, Big\r\nCATEGORIES:Other\r\nEND:VEVENT\r\n")
        .unwrap();
        assert_eq!(e.privacy, Privacy::Private);
        assert_eq!(e.show_as, ShowAs::OutOfOffice);
        assert_eq!(e.organizer, Some(Person { email: "jane@example.com".into(), name: Some("Doe, Jane".into()) }));
        let summary: Vec<_> = e.attendees.iter().map(|a| (a.email.as_str(), a.role, a.response)).collect();
        assert_eq!(
            summary,
            vec![
                ("bob@example.com", AttendeeRole::Optional, ResponseStatus::Tentative),
                ("room@example.com", AttendeeRole::Resource, ResponseStatus::Accepted),
                ("fyi@example.com", AttendeeRole::Optional, ResponseStatus::NeedsAction),
                ("chair@example.com", AttendeeRole::Required, ResponseStatus::Declined),
            ]
        );
        assert_eq!(e.categories, vec!["Work", "Client, Big", "Other"]);

        let free = one("BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n").unwrap();
        assert_eq!(free.show_as, ShowAs::Free);
        let elsewhere = one(
            "BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nX-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE\r\nEND:VEVENT\r\n",
        )
        .unwrap();
        assert_eq!(elsewhere.show_as, ShowAs::WorkingElsewhere);
    }

    #[test]
    fn instances_group_by_uid() {
        let events = parse_icalendar(&cal(
            // The instance comes first, its RECURRENCE-ID in UTC: aligned to the master's zone.
            "BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID:20240108T090000Z\r\nDTSTART;TZID=Europe/Berlin:20240108T110000\r\n\
             DTEND;TZID=Europe/Berlin:20240108T120000\r\nSUMMARY:Weekly\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:s\r\nDTSTART;TZID=Europe/Berlin:20240101T100000\r\nDTEND;TZID=Europe/Berlin:20240101T110000\r\n\
             SUMMARY:Weekly\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE:20240129T090000Z\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID;TZID=Europe/Berlin:20240115T100000\r\nSTATUS:CANCELLED\r\n\
             DTSTART;TZID=Europe/Berlin:20240115T100000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID;TZID=Europe/Berlin:20240122T100000\r\nSUMMARY:Renamed\r\n\
             DTSTART;TZID=Europe/Berlin:20240122T100000\r\nDTEND;TZID=Europe/Berlin:20240122T110000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:orphan\r\nRECURRENCE-ID:20240101T100000Z\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:gone\r\nSTATUS:CANCELLED\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:gone\r\nRECURRENCE-ID:20240102T100000Z\r\nDTSTART:20240102T100000Z\r\nEND:VEVENT\r\n",
        ))
        .unwrap();
        assert_eq!(events.len(), 2, "{events:#?}");
        let berlin = |s: &str| EventTime::Zoned { local: dt(s), zone: "Europe/Berlin".into() };
        let r = events[0].recurrence.as_ref().unwrap();
        assert_eq!(r.exdates, vec![berlin("20240129T100000")]);
        assert_eq!(r.cancelled.iter().collect::<Vec<_>>(), vec![&berlin("20240115T100000")]);
        let moved = &r.overrides[&berlin("20240108T100000")];
        assert_eq!(
            moved.timing,
            Some(EventTiming { start: berlin("20240108T110000"), end: berlin("20240108T120000") })
        );
        assert_eq!(moved.subject, None);
        let renamed = &r.overrides[&berlin("20240122T100000")];
        assert_eq!(renamed.timing, None);
        assert_eq!(renamed.subject.as_deref(), Some("Renamed"));
        assert_eq!(events[1].ical_uid.as_deref(), Some("orphan"));
        assert_eq!(events[1].recurrence, None);
    }

    #[test]
    fn writes_escaped_folded_crlf() {
        let mut e = one("BEGIN:VEVENT\r\nUID:x\r\nDTSTART;VALUE=DATE:20240101\r\nEND:VEVENT\r\n").unwrap();
        e.subject = Some("a,b;c\\d\nnext".into());
        e.description = Some("Ünïcödé ".repeat(20));
        e.custom.insert("CRM-LINK".into(), "not a link".into());
        e.custom.insert("Kunden Nr.".into(), "42".into());
        e.crm_links.push(CrmLink { object: "Opportunity".into(), id: "006xx".into() });
        let out = write_icalendar(std::slice::from_ref(&e));
        assert!(out.contains("SUMMARY:a\\,b\\;c\\\\d\\nnext\r\n"), "{out}");
        assert!(out.contains("DTSTART;VALUE=DATE:20240101\r\n"));
        assert!(out.contains("X-TANDEM-%43RM-LINK:not a link\r\n"));
        assert!(out.contains("X-TANDEM-Kunden%20Nr%2E:42\r\n"));
        assert!(out.contains("X-TANDEM-CRM-LINK;X-TANDEM-OBJECT=Opportunity:006xx\r\n"));
        assert!(out.split("\r\n").all(|l| l.len() <= 75 && !l.contains('\n')));
        assert_eq!(parse_icalendar(&out).unwrap(), vec![e]);
    }

    #[test]
    fn events_without_uid_round_trip() {
        let mut e =
            one("BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n").unwrap();
        let key = EventTime::utc(dt("20240102T100000"));
        let r = e.recurrence.as_mut().unwrap();
        r.overrides.insert(
            key.clone(),
            OccurrenceOverride { timing: None, subject: Some("x".into()), location: None, description: None },
        );
        r.cancelled.insert(EventTime::utc(dt("20240103T100000")));
        let out = write_icalendar(&[e.clone(), e.clone()]);
        assert!(out.contains("UID;X-TANDEM-GENERATED=TRUE:tandem-0-"));
        assert!(out.contains("EXDATE;X-TANDEM-CANCELLED=TRUE:20240103T100000Z\r\n"));
        assert_eq!(parse_icalendar(&out).unwrap(), vec![e.clone(), e]);
    }
}
