//! Recurrence: `Recurrence2PatternText` read into a canonical recurrence and written back, and a
//! series' exception rows folded into its overrides.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};
use tandem_core::guard::local_time;
use tandem_core::model::{Event, EventTime, EventTiming, OccurrenceOverride, Recurrence};

use super::values::{flag, text};

/// The series an Event row is an exception of (a moved or edited occurrence Salesforce keeps as
/// its own row, pointing at the series' main record), if it is one.
pub(crate) fn series_of(row: &Map<String, Value>) -> Option<String> {
    let exception = flag(row, "IsRecurrence2Exception").ok()? && !flag(row, "IsRecurrence2Exclusion").ok()?;
    let series = text(row, "RecurrenceActivityId").ok().flatten()?;
    (exception && crate::soql::check_id(&series).is_ok()).then_some(series)
}

/// Folds a series' exception rows (read as single events) into its overrides, keyed by the
/// original start of the occurrence each replaces, as iCalendar and Graph key them. Salesforce
/// does not store that original start; it is the series' occurrence nearest to the exception's
/// start that no other exception claimed (ties: the earlier). Fields equal to the series' read as
/// inherited, as Graph reads them. Exceptions that match no occurrence are left out.
pub(crate) fn fold_overrides(series: &mut Event, exceptions: &[Event]) -> Result<(), String> {
    let Some(recurrence) = series.recurrence.as_mut() else { return Ok(()) };
    let (Some(start), Some(end)) = (series.timing.start.instant(), series.timing.end.instant()) else {
        return Ok(());
    };
    let duration = end - start;
    let (zone, all_day) = match &series.timing.start {
        EventTime::Zoned { zone, .. } => (zone.clone(), false),
        EventTime::AllDay { .. } => ("UTC".to_owned(), true),
    };
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown time zone `{zone}`"))?;
    let mut exceptions: Vec<&Event> = exceptions.iter().collect();
    exceptions.sort_by_key(|e| e.timing.start.instant());
    let excluded: Vec<Option<DateTime<Utc>>> =
        recurrence.exdates.iter().chain(recurrence.cancelled.iter()).map(EventTime::instant).collect();
    let mut claimed: Vec<DateTime<Utc>> = Vec::new();
    for x in exceptions {
        let Some(at) = x.timing.start.instant() else { continue };
        let candidates = occurrences_near(&recurrence.rules, start, &zone, at)?;
        let original = candidates
            .into_iter()
            .filter(|o| !claimed.contains(o) && !excluded.contains(&Some(*o)))
            .min_by_key(|o| ((*o - at).num_seconds().abs(), *o));
        let Some(original) = original else { continue };
        claimed.push(original);
        let in_series = |t: DateTime<Utc>| -> Result<EventTime, String> {
            if all_day {
                return Ok(EventTime::AllDay { date: t.date_naive() });
            }
            let local = local_time(t, &tz).ok_or_else(|| format!("{t} is out of range in {zone}"))?;
            Ok(EventTime::Zoned { local, zone: zone.clone() })
        };
        let key = in_series(original)?;
        let original_end = original.checked_add_signed(duration).ok_or("an occurrence out of range")?;
        let original_timing = EventTiming { start: key.clone(), end: in_series(original_end)? };
        let timing = match (&x.timing.start, &x.timing.end) {
            (EventTime::AllDay { .. }, EventTime::AllDay { .. }) => x.timing.clone(),
            _ => {
                let (Some(s), Some(e)) = (x.timing.start.instant(), x.timing.end.instant()) else { continue };
                EventTiming { start: in_series(s)?, end: in_series(e)? }
            }
        };
        let differs = |v: &Option<String>, master: &Option<String>| v.clone().filter(|v| Some(v) != master.as_ref());
        let ov = OccurrenceOverride {
            timing: (timing != original_timing).then_some(timing),
            subject: differs(&x.subject, &series.subject),
            location: differs(&x.location, &series.location),
            description: differs(&x.description, &series.description),
        };
        if ov.timing.is_some() || ov.subject.is_some() || ov.location.is_some() || ov.description.is_some() {
            recurrence.overrides.insert(key, ov);
        }
    }
    Ok(())
}

/// The series' occurrences (as instants) within a year either side of `at`.
fn occurrences_near(
    rules: &[String],
    start: DateTime<Utc>,
    zone: &str,
    at: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, String> {
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown time zone `{zone}`"))?;
    let local = local_time(start, &tz).ok_or("the series' start is out of range")?;
    let mut out = Vec::new();
    for rule in rules {
        let text = format!("DTSTART;TZID={zone}:{}\nRRULE:{rule}", local.format("%Y%m%dT%H%M%S"));
        let year = Duration::days(366);
        let (Some(lo), Some(hi)) = (at.checked_sub_signed(year), at.checked_add_signed(year)) else { continue };
        let found = tandem_core::guard::contain("the rrule expansion", || {
            let set: rrule::RRuleSet = text.parse().ok()?;
            let set = set.after(lo.with_timezone(&rrule::Tz::UTC)).before(hi.with_timezone(&rrule::Tz::UTC));
            Some(set.all(2_000).dates.into_iter().map(|d| d.with_timezone(&Utc)).collect::<Vec<_>>())
        })
        .map_err(|e| format!("the recurrence rule `{rule}` cannot be expanded: {e}"))?;
        out.extend(found.unwrap_or_default());
    }
    Ok(out)
}

/// Renders a recurrence as `Recurrence2PatternText`: one `RRULE:` line per rule, `RDATE` and
/// `EXDATE` lines (timed values in UTC, dates as `VALUE=DATE`). Cancelled occurrences become
/// `EXDATE`s. Per-occurrence overrides have no place in the pattern and are left out.
pub(crate) fn pattern_text(r: &Recurrence) -> Result<String, String> {
    let mut lines = Vec::new();
    for rule in &r.rules {
        let rule = rule.trim().trim_start_matches("RRULE:");
        if rule.is_empty() || rule.contains(['\n', '\r']) {
            return Err("a recurrence rule is empty or spans lines".to_owned());
        }
        lines.push(format!("RRULE:{rule}"));
    }
    let times = |name: &str, list: &mut dyn Iterator<Item = &EventTime>| -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for t in list {
            out.push(match t {
                EventTime::AllDay { date } => format!("{name};VALUE=DATE:{}", date.format("%Y%m%d")),
                EventTime::Zoned { .. } => {
                    let at = t.instant().ok_or("a recurrence date does not exist in its time zone")?;
                    format!("{name}:{}", at.format("%Y%m%dT%H%M%SZ"))
                }
            });
        }
        Ok(out)
    };
    lines.extend(times("RDATE", &mut r.rdates.iter())?);
    let mut excluded: Vec<&EventTime> = r.exdates.iter().chain(r.cancelled.iter()).collect();
    excluded.sort();
    excluded.dedup();
    lines.extend(times("EXDATE", &mut excluded.into_iter())?);
    Ok(lines.join("\n"))
}

/// Parses `Recurrence2PatternText`: `RRULE:`, `RDATE` and `EXDATE` lines (with `TZID=`,
/// `VALUE=DATE` or UTC values, comma-separated lists). Timed values are expressed in `zone`.
pub(crate) fn parse_pattern(text: &str, zone: &str) -> Result<Recurrence, String> {
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown time zone `{zone}`"))?;
    let mut r = Recurrence::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (head, value) = line.split_once(':').ok_or_else(|| format!("recurrence line `{line}` has no value"))?;
        let mut params = head.split(';');
        let name = params.next().unwrap_or("").to_ascii_uppercase();
        let mut value_date = false;
        let mut tzid: Option<chrono_tz::Tz> = None;
        for p in params {
            match p.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("VALUE") => value_date = v.eq_ignore_ascii_case("DATE"),
                Some((k, v)) if k.eq_ignore_ascii_case("TZID") => {
                    tzid = Some(v.parse().map_err(|_| format!("unknown TZID `{v}` in the recurrence pattern"))?);
                }
                _ => {}
            }
        }
        match name.as_str() {
            "RRULE" => {
                // Checked (ASCII, parser panics contained) so that a rule the `rrule` crate
                // cannot read quarantines this record here rather than failing later.
                tandem_core::validate::validate_rrule(value).map_err(|e| e.to_string())?;
                r.rules.push(value.to_owned());
            }
            "RDATE" | "EXDATE" | "DTSTART" => {
                let mut parsed = Vec::new();
                for v in value.split(',') {
                    parsed.push(parse_ical_time(v.trim(), value_date, tzid, tz, zone)?);
                }
                match name.as_str() {
                    "RDATE" => r.rdates.extend(parsed),
                    "EXDATE" => r.exdates.extend(parsed),
                    _ => {}
                }
            }
            other => return Err(format!("unsupported recurrence line `{other}`")),
        }
    }
    if r.rules.is_empty() && r.rdates.is_empty() {
        return Err("a recurring event whose pattern has no RRULE".to_owned());
    }
    Ok(r)
}

fn parse_ical_time(
    v: &str,
    date: bool,
    tzid: Option<chrono_tz::Tz>,
    tz: chrono_tz::Tz,
    zone: &str,
) -> Result<EventTime, String> {
    if date || v.len() == 8 {
        let d = NaiveDate::parse_from_str(v, "%Y%m%d").map_err(|_| format!("`{v}` is not an iCalendar date"))?;
        return Ok(EventTime::AllDay { date: d });
    }
    let (body, utc) = match v.strip_suffix('Z') {
        Some(b) => (b, true),
        None => (v, false),
    };
    let naive = NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S")
        .map_err(|_| format!("`{v}` is not an iCalendar date-time"))?;
    let instant = if utc {
        naive.and_utc()
    } else {
        let source = tzid.unwrap_or(tz);
        source
            .from_local_datetime(&naive)
            .earliest()
            .ok_or_else(|| format!("`{v}` does not exist in its time zone"))?
            .with_timezone(&Utc)
    };
    let local = local_time(instant, &tz).ok_or_else(|| format!("`{v}` is out of range in {zone}"))?;
    Ok(EventTime::Zoned { local, zone: zone.to_owned() })
}
