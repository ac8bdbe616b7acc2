//! Time and recurrence values: the zones a calendar's `TZID`s name, an event's timing from
//! `DTSTART`/`DTEND`/`DURATION`, dates, date-times and durations, occurrence ends and keys, and
//! `RRULE` checks.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use chrono_tz::Tz;
use ical::parser::ical::component::IcalTimeZone;

use super::read::Vevent;
use crate::interchange::text::{self, Prop};
use crate::interchange::{InterchangeError, zones};
use crate::model::{EventTime, EventTiming};

/// The zones a calendar's `TZID`s refer to.
pub(super) struct Zones {
    /// `VTIMEZONE` TZIDs as written, resolved.
    declared: HashMap<String, String>,
    /// Other TZIDs seen so far, resolved (resolution can scan the whole zone list).
    seen: RefCell<HashMap<String, Option<String>>>,
}

fn tzid_key(tzid: &str) -> &str {
    tzid.trim().trim_matches('"').trim()
}

impl Zones {
    pub(super) fn new(timezones: Vec<IcalTimeZone>) -> Result<Zones, InterchangeError> {
        let mut declared = HashMap::new();
        for timezone in timezones {
            let props = text::props(timezone.properties);
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

/// `DTSTART` with `DTEND`, `DURATION`, the series' duration (for an instance) or the RFC 5545
/// default; `None` without `DTSTART`.
pub(super) fn timing(
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
pub(super) fn occurrence_end(start: &EventTime, series: &EventTiming) -> Option<EventTime> {
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
pub(super) fn align(time: EventTime, reference: &EventTime) -> EventTime {
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
pub(super) fn time(prop: &Prop, zones: &Zones) -> Result<EventTime, InterchangeError> {
    time_value(prop, prop.value.trim(), zones)
}

/// A comma-separated list of dates, date-times or periods (`RDATE`, `EXDATE`); a period counts
/// by its start.
pub(super) fn times(prop: &Prop, zones: &Zones) -> Result<Vec<EventTime>, InterchangeError> {
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
pub(super) fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 {
        return None;
    }
    let year = i32::try_from(digits(s.get(0..4)?)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(s.get(4..6)?)?, digits(s.get(6..8)?)?)
}

/// `YYYYMMDDTHHMMSS`.
pub(super) fn parse_date_time(s: &str) -> Option<NaiveDateTime> {
    if s.len() != 15 || !matches!(s.as_bytes().get(8), Some(b'T' | b't')) {
        return None;
    }
    let date = parse_date(s.get(0..8)?)?;
    let time = NaiveTime::from_hms_opt(digits(s.get(9..11)?)?, digits(s.get(11..13)?)?, digits(s.get(13..15)?)?)?;
    Some(date.and_time(time))
}

/// An RFC 5545 duration: `[+-]P[nW][nD][T[nH][nM][nS]]`.
pub(super) fn parse_duration(s: &str) -> Option<TimeDelta> {
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
pub(super) fn rule(prop: &Prop) -> Result<String, InterchangeError> {
    let value = prop.value.trim();
    crate::validate::validate_rrule(value).map(|()| value.to_owned()).map_err(|_| invalid(prop, value))
}
