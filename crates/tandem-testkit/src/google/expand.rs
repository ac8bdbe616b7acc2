//! `events.list` with `singleEvents=true`: recurring series expanded into instances.
//!
//! The expansion works on events as the API renders them (full form, cancelled ones included):
//!
//! - A **recurring master** (`recurrence` set, no `recurringEventId`) is never returned; each of
//!   its occurrences overlapping the window (`end > timeMin`, `start < timeMax`) becomes an
//!   instance: id `{masterId}_{YYYYMMDDTHHMMSSZ}` (UTC basic format of the original start) or
//!   `{masterId}_{YYYYMMDD}` (all-day), `recurringEventId`, `originalStartTime` (the original
//!   start in the master's `timeZone`), every other property copied from the master except
//!   `recurrence`, `htmlLink` naming the instance. Occurrences come from the `rrule` crate
//!   (`RRULE` lines, expanded in the master's `timeZone`, UTC when it has none; all-day series at
//!   midnight UTC); `EXRULE` occurrences and `EXDATE` values are removed, `RDATE` values added.
//!   A date-only `UNTIL` means the end of that day; a floating one is read in the master's zone.
//! - A **stored exception** (`recurringEventId` set) replaces the occurrence with its id; it is
//!   filtered by its own `start`/`end`. A cancelled one is left out unless `showDeleted=true` (or
//!   the listing is incremental), then it comes with `status: cancelled`.
//! - A **cancelled master** yields nothing, unless `showDeleted=true` or incremental: then its
//!   instances come with `status: cancelled` ("only single instances of deleted events").
//! - A **single event** passes through unchanged (a cancelled one in minimal form).
//!
//! Bounds, so that no rule can make the fake spin or crash: the window always has an upper bound
//! (`timeMax`, else [`HORIZON_DAYS`] after `timeMin` or now, whichever is later), at most
//! [`MAX_INSTANCES`] instances per master, at most [`MAX_STEPS`] occurrences walked per rule, and
//! the expansion runs under `catch_unwind`: a rule the crate rejects or panics on skips its
//! master (no instances, no error).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// Instances produced per master, at most.
pub(crate) const MAX_INSTANCES: usize = 2500;
/// Occurrences of one rule walked (from the series start), at most.
pub(crate) const MAX_STEPS: usize = 100_000;
/// How far ahead expansion goes when `timeMax` is absent.
pub(crate) const HORIZON_DAYS: i64 = 730;

/// The time window of a listing: instances must end after `min` and start before `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) min: Option<DateTime<Utc>>,
    pub(crate) max: DateTime<Utc>,
}

impl Window {
    /// The window of `timeMin`/`timeMax`; without `timeMax`, [`HORIZON_DAYS`] after the later of
    /// `timeMin` and `now`.
    pub(crate) fn resolve(min: Option<DateTime<Utc>>, max: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Window {
        let max = max.unwrap_or_else(|| min.map_or(now, |m| m.max(now)) + Duration::days(HORIZON_DAYS));
        Window { min, max }
    }

    fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        start < self.max && self.min.is_none_or(|m| end > m)
    }
}

/// Requested `timeMin`/`timeMax`.
pub(crate) type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Bounds as text carried in tokens: `{min|-} {max|-}` in epoch milliseconds.
pub(crate) fn encode_bounds(min: Option<DateTime<Utc>>, max: Option<DateTime<Utc>>) -> String {
    let f = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), |t| t.timestamp_millis().to_string());
    format!("{} {}", f(min), f(max))
}

/// The bounds [`encode_bounds`] wrote.
pub(crate) fn decode_bounds(text: &str) -> Option<Bounds> {
    let mut parts = text.split(' ');
    let mut next = || -> Option<Option<DateTime<Utc>>> {
        match parts.next()? {
            "-" => Some(None),
            n => Some(Some(DateTime::from_timestamp_millis(n.parse().ok()?)?)),
        }
    };
    let bounds = (next()?, next()?);
    parts.next().is_none().then_some(bounds)
}

/// The instant an `EventDateTime` names (a `date` as midnight UTC).
fn instant(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let v = v?;
    if let Some(dt) = v.get("dateTime").and_then(Value::as_str) {
        if let Ok(d) = DateTime::parse_from_rfc3339(dt) {
            return Some(d.with_timezone(&Utc));
        }
        let tz: chrono_tz::Tz = v.get("timeZone").and_then(Value::as_str)?.parse().ok()?;
        let local = NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
        return local.and_local_timezone(tz).earliest().map(|d| d.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(v.get("date")?.as_str()?, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

fn is_cancelled(e: &Value) -> bool {
    e.get("status").and_then(Value::as_str) == Some("cancelled")
}

fn minimal(e: &Value) -> Value {
    json!({"kind": e.get("kind"), "etag": e.get("etag"), "id": e.get("id"), "status": "cancelled"})
}

/// The events of a `singleEvents=true` listing, in id order. `events` are every stored event of
/// the calendar rendered in full, each with whether it is selected (changed since the sync token,
/// or every one for a full listing). A selected master yields all its instances in `window`; a
/// selected exception or single event yields itself. `incremental` keeps cancelled items.
pub(crate) fn single_events(
    events: &[(Value, bool)],
    window: Window,
    show_deleted: bool,
    incremental: bool,
) -> Vec<Value> {
    let keep_cancelled = show_deleted || incremental;
    let id_of = |e: &Value| e.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
    let masters: BTreeMap<String, (&Value, bool)> = events
        .iter()
        .filter(|(e, _)| e.get("recurrence").is_some() && e.get("recurringEventId").is_none())
        .map(|(e, sel)| (id_of(e), (e, *sel)))
        .collect();
    let stored: BTreeSet<String> = events.iter().map(|(e, _)| id_of(e)).collect();
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for (e, selected) in events {
        let id = id_of(e);
        if masters.contains_key(&id) {
            let (master_cancelled, selected) = (is_cancelled(e), *selected);
            if !selected || (master_cancelled && !keep_cancelled) {
                continue;
            }
            for inst in instances(e, window) {
                let inst_id = id_of(&inst);
                if !stored.contains(&inst_id) {
                    out.insert(inst_id, inst);
                }
            }
            continue;
        }
        let master = e.get("recurringEventId").and_then(Value::as_str).and_then(|m| masters.get(m));
        if !selected && !master.is_some_and(|(_, sel)| *sel) {
            continue;
        }
        let (Some(start), Some(end)) = (instant(e.get("start")), instant(e.get("end"))) else { continue };
        if !window.overlaps(start, end) {
            continue;
        }
        let mut item = e.clone();
        if master.is_some_and(|(m, _)| is_cancelled(m)) {
            item["status"] = json!("cancelled");
        }
        if is_cancelled(&item) {
            if !keep_cancelled {
                continue;
            }
            if e.get("recurringEventId").is_none() {
                item = minimal(&item);
            }
        }
        out.insert(id, item);
    }
    out.into_values().collect()
}

/// Sorts items for `orderBy`: `startTime` by start, `updated` by `updated` (ties by id); other
/// values leave the id order.
pub(crate) fn order(items: &mut [Value], order_by: Option<&str>) {
    let id = |e: &Value| e.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
    match order_by {
        Some("startTime") => items.sort_by_cached_key(|e| (instant(e.get("start")), id(e))),
        Some("updated") => {
            items.sort_by_cached_key(|e| (e.get("updated").and_then(Value::as_str).unwrap_or("").to_owned(), id(e)));
        }
        _ => {}
    }
}

/// How a master's start is expanded: all-day (dates at midnight UTC) or timed in a zone.
#[derive(Debug, Clone, Copy)]
struct Frame {
    all_day: bool,
    tz: chrono_tz::Tz,
    /// The series start.
    start: DateTime<Utc>,
}

impl Frame {
    fn of(start: &Value) -> Option<Frame> {
        let all_day = start.get("dateTime").is_none();
        let tz = if all_day {
            chrono_tz::UTC
        } else {
            start.get("timeZone").and_then(Value::as_str).and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::UTC)
        };
        Some(Frame { all_day, tz, start: instant(Some(start))? })
    }

    /// A wall-clock time in the frame's zone.
    fn local(&self, t: NaiveDateTime) -> Option<DateTime<Utc>> {
        t.and_local_timezone(self.tz).earliest().map(|d| d.with_timezone(&Utc))
    }

    /// An `EventDateTime` for `t` shaped like `like` (the master's start or end).
    fn event_date_time(&self, t: DateTime<Utc>, like: &Value) -> Value {
        if self.all_day {
            return json!({"date": t.format("%Y-%m-%d").to_string()});
        }
        let mut v = json!({"dateTime": t.with_timezone(&self.tz).to_rfc3339_opts(SecondsFormat::Secs, true)});
        if let Some(tz) = like.get("timeZone") {
            v["timeZone"] = tz.clone();
        }
        v
    }

    /// An iCalendar DATE or DATE-TIME value (`TZID` given or the frame's zone for floating ones);
    /// a DATE in a timed series means the series' time of day on that date.
    fn ical_value(&self, value: &str, tzid: Option<chrono_tz::Tz>) -> Option<DateTime<Utc>> {
        let value = value.split('/').next()?.trim();
        if let Some(utc) = value.strip_suffix('Z') {
            return Some(NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").ok()?.and_utc());
        }
        if let Ok(t) = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S") {
            let tz = tzid.unwrap_or(self.tz);
            return t.and_local_timezone(tz).earliest().map(|d| d.with_timezone(&Utc));
        }
        let d = NaiveDate::parse_from_str(value, "%Y%m%d").ok()?;
        if self.all_day {
            return Some(d.and_time(NaiveTime::MIN).and_utc());
        }
        self.local(d.and_time(self.start.with_timezone(&self.tz).time()))
    }

    /// An RRULE/EXRULE value with `UNTIL` made UTC, as the crate requires for a zoned start.
    fn normalize_rule(&self, rule: &str) -> Option<String> {
        let mut parts = Vec::new();
        for part in rule.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=')?;
            if !key.eq_ignore_ascii_case("UNTIL") {
                parts.push(part.to_owned());
                continue;
            }
            let until = if value.len() == 8 {
                let d = NaiveDate::parse_from_str(value, "%Y%m%d").ok()?;
                if self.all_day {
                    d.and_time(NaiveTime::MIN).and_utc()
                } else {
                    self.local(d.and_hms_opt(23, 59, 59)?)?
                }
            } else {
                self.ical_value(value, None)?
            };
            parts.push(format!("UNTIL={}", until.format("%Y%m%dT%H%M%SZ")));
        }
        Some(parts.join(";"))
    }

    /// Starts of `rule` from the series start that can overlap `window` (`end` = start + `dur`).
    fn rule_starts(&self, rule: &str, window: Window, dur: Duration) -> Option<Vec<DateTime<Utc>>> {
        let rule = self.normalize_rule(rule)?;
        let dt_start = self.start.with_timezone(&rrule::Tz::Tz(self.tz));
        let set = rule.parse::<rrule::RRule<rrule::Unvalidated>>().ok()?.build(dt_start).ok()?.limit();
        let mut out = Vec::new();
        for t in set.into_iter().take(MAX_STEPS) {
            let t = t.with_timezone(&Utc);
            if t >= window.max || out.len() >= MAX_INSTANCES {
                break;
            }
            if window.overlaps(t, t + dur) {
                out.push(t);
            }
        }
        Some(out)
    }

    /// The instance id stamp of an original start.
    fn stamp(&self, t: DateTime<Utc>) -> String {
        if self.all_day { t.format("%Y%m%d").to_string() } else { t.format("%Y%m%dT%H%M%SZ").to_string() }
    }
}

/// The original starts of `master` overlapping `window`, or `None` when a rule is bad.
fn occurrences(master: &Value, window: Window) -> Option<(Frame, Vec<DateTime<Utc>>)> {
    let frame = Frame::of(master.get("start")?)?;
    let dur = instant(master.get("end"))? - frame.start;
    let mut rrules = Vec::new();
    let mut exrules = Vec::new();
    let mut rdates = Vec::new();
    let mut exdates = BTreeSet::new();
    for line in master.get("recurrence")?.as_array()? {
        let line = line.as_str()?;
        let (head, value) = line.split_once(':')?;
        let mut params = head.split(';');
        let name = params.next()?.to_ascii_uppercase();
        let tzid = params
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("TZID"))
            .and_then(|(_, z)| z.parse::<chrono_tz::Tz>().ok());
        match name.as_str() {
            "RRULE" => rrules.push(value.to_owned()),
            "EXRULE" => exrules.push(value.to_owned()),
            "RDATE" | "EXDATE" => {
                let values = value.split(',').map(|v| frame.ical_value(v, tzid)).collect::<Option<Vec<_>>>()?;
                if name == "RDATE" { rdates.extend(values) } else { exdates.extend(values) }
            }
            _ => return None,
        }
    }
    let mut starts = BTreeSet::new();
    if rrules.is_empty() && window.overlaps(frame.start, frame.start + dur) {
        starts.insert(frame.start);
    }
    for rule in &rrules {
        starts.extend(frame.rule_starts(rule, window, dur)?);
    }
    starts.extend(rdates.into_iter().filter(|t| window.overlaps(*t, *t + dur)));
    for rule in &exrules {
        exdates.extend(frame.rule_starts(rule, window, dur)?);
    }
    let starts = starts.into_iter().filter(|t| !exdates.contains(t)).take(MAX_INSTANCES).collect();
    Some((frame, starts))
}

/// The instances of `master` in `window`, rendered; none when its recurrence is bad.
pub(crate) fn instances(master: &Value, window: Window) -> Vec<Value> {
    let Some((frame, starts)) = catch_unwind(AssertUnwindSafe(|| occurrences(master, window))).ok().flatten() else {
        return Vec::new();
    };
    let (Some(start_like), Some(end_like)) = (master.get("start"), master.get("end")) else { return Vec::new() };
    let Some(end) = instant(Some(end_like)) else { return Vec::new() };
    let dur = end - frame.start;
    let master_id = master.get("id").and_then(Value::as_str).unwrap_or("");
    starts
        .into_iter()
        .map(|t| {
            let id = format!("{master_id}_{}", frame.stamp(t));
            let mut inst = master.clone();
            if let Some(m) = inst.as_object_mut() {
                m.remove("recurrence");
            }
            inst["htmlLink"] = json!(format!("https://www.google.com/calendar/event?eid={id}"));
            inst["id"] = json!(id);
            inst["recurringEventId"] = json!(master_id);
            inst["originalStartTime"] = frame.event_date_time(t, start_like);
            inst["start"] = frame.event_date_time(t, start_like);
            inst["end"] = frame.event_date_time(t + dur, end_like);
            inst
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn window(min: &str, max: &str) -> Window {
        Window { min: Some(t(min)), max: t(max) }
    }

    fn ids(items: &[Value]) -> Vec<&str> {
        items.iter().map(|e| e["id"].as_str().unwrap()).collect()
    }

    fn master(id: &str, start: Value, end: Value, recurrence: &[&str]) -> Value {
        json!({"kind": "calendar#event", "etag": "\"1\"", "id": id, "status": "confirmed", "summary": "Standup",
               "start": start, "end": end, "recurrence": recurrence, "iCalUID": format!("{id}@google.com")})
    }

    fn weekly() -> Value {
        master(
            "series1",
            json!({"dateTime": "2026-01-05T09:00:00+01:00", "timeZone": "Europe/Berlin"}),
            json!({"dateTime": "2026-01-05T09:30:00+01:00", "timeZone": "Europe/Berlin"}),
            &["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5"],
        )
    }

    #[test]
    fn weekly_series_with_an_exception_and_a_cancellation() {
        let m = weekly();
        let moved = json!({"kind": "calendar#event", "id": "series1_20260112T080000Z", "status": "confirmed",
            "summary": "Moved", "recurringEventId": "series1",
            "originalStartTime": {"dateTime": "2026-01-12T08:00:00Z", "timeZone": "Europe/Berlin"},
            "start": {"dateTime": "2026-01-12T11:00:00+01:00"}, "end": {"dateTime": "2026-01-12T11:30:00+01:00"}});
        let cancelled = json!({"kind": "calendar#event", "id": "series1_20260119T080000Z", "status": "cancelled",
            "recurringEventId": "series1", "originalStartTime": {"dateTime": "2026-01-19T08:00:00Z"},
            "start": {"dateTime": "2026-01-19T09:00:00+01:00"}, "end": {"dateTime": "2026-01-19T09:30:00+01:00"}});
        let single = json!({"id": "single1", "status": "confirmed", "start": {"dateTime": "2026-01-07T10:00:00Z"},
            "end": {"dateTime": "2026-01-07T11:00:00Z"}});
        let events = vec![(m.clone(), true), (moved, true), (cancelled, true), (single, true)];
        let w = window("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z");
        let mut items = single_events(&events, w, false, false);
        order(&mut items, Some("startTime"));
        assert_eq!(
            ids(&items),
            [
                "series1_20260105T080000Z",
                "single1",
                "series1_20260112T080000Z",
                "series1_20260126T080000Z",
                "series1_20260202T080000Z"
            ]
        );
        let first = &items[0];
        assert_eq!(first["recurringEventId"], "series1");
        assert_eq!(
            first["originalStartTime"],
            json!({"dateTime": "2026-01-05T09:00:00+01:00", "timeZone": "Europe/Berlin"})
        );
        assert_eq!(first["start"], first["originalStartTime"]);
        assert_eq!(first["end"]["dateTime"], "2026-01-05T09:30:00+01:00");
        assert_eq!(first["summary"], "Standup");
        assert_eq!(first["iCalUID"], "series1@google.com");
        assert!(first.get("recurrence").is_none());
        assert_eq!(items[2]["summary"], "Moved");
        // showDeleted brings the cancelled instance back, as cancelled.
        let all = single_events(&events, w, true, false);
        let c = all.iter().find(|e| e["id"] == "series1_20260119T080000Z").unwrap();
        assert_eq!(c["status"], "cancelled");
        // The window cuts: only occurrences ending after timeMin and starting before timeMax.
        let narrow = single_events(&events, window("2026-01-26T08:29:00Z", "2026-02-02T08:00:00Z"), false, false);
        assert_eq!(ids(&narrow), ["series1_20260126T080000Z"]);
        // Incremental: an unchanged master with a changed exception yields the exception only.
        let events2 = vec![(m, false), (events[1].0.clone(), true)];
        assert_eq!(ids(&single_events(&events2, w, false, true)), ["series1_20260112T080000Z"]);
    }

    #[test]
    fn dst_keeps_the_wall_clock_time() {
        let m = master(
            "series2",
            json!({"dateTime": "2026-03-23T09:00:00+01:00", "timeZone": "Europe/Berlin"}),
            json!({"dateTime": "2026-03-23T10:00:00+01:00", "timeZone": "Europe/Berlin"}),
            &["RRULE:FREQ=WEEKLY;COUNT=2"],
        );
        let items = instances(&m, Window::resolve(None, None, t("2026-01-01T00:00:00Z")));
        assert_eq!(ids(&items), ["series2_20260323T080000Z", "series2_20260330T070000Z"]);
        assert_eq!(items[1]["start"]["dateTime"], "2026-03-30T09:00:00+02:00");
    }

    #[test]
    fn all_day_series() {
        let m = master(
            "allday1",
            json!({"date": "2026-02-27"}),
            json!({"date": "2026-02-28"}),
            &["RRULE:FREQ=DAILY;UNTIL=20260302"],
        );
        let items = instances(&m, window("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"));
        assert_eq!(ids(&items), ["allday1_20260227", "allday1_20260228", "allday1_20260301", "allday1_20260302"]);
        assert_eq!(items[1]["originalStartTime"], json!({"date": "2026-02-28"}));
        assert_eq!(items[1]["start"], json!({"date": "2026-02-28"}));
        assert_eq!(items[1]["end"], json!({"date": "2026-03-01"}));
    }

    #[test]
    fn exdate_excludes_and_rdate_adds() {
        let m = master(
            "series3",
            json!({"dateTime": "2026-01-05T09:00:00", "timeZone": "America/New_York"}),
            json!({"dateTime": "2026-01-05T10:00:00", "timeZone": "America/New_York"}),
            &[
                "RRULE:FREQ=DAILY;COUNT=4",
                "EXDATE;TZID=America/New_York:20260106T090000",
                "EXDATE:20260107T140000Z",
                "RDATE;TZID=America/New_York:20260110T120000",
            ],
        );
        let items = instances(&m, window("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"));
        assert_eq!(ids(&items), ["series3_20260105T140000Z", "series3_20260108T140000Z", "series3_20260110T170000Z"]);
        assert_eq!(items[0]["start"], json!({"dateTime": "2026-01-05T09:00:00-05:00", "timeZone": "America/New_York"}));
        let all_day = master(
            "allday2",
            json!({"date": "2026-01-05"}),
            json!({"date": "2026-01-06"}),
            &["RRULE:FREQ=DAILY;COUNT=3", "EXDATE;VALUE=DATE:20260106"],
        );
        let items = instances(&all_day, window("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"));
        assert_eq!(ids(&items), ["allday2_20260105", "allday2_20260107"]);
    }

    #[test]
    fn until_in_another_zone() {
        // 09:00 in Tokyo is 00:00 UTC: an UNTIL at 2026-01-07T00:00:00Z includes the 7th's.
        let m = master(
            "series4",
            json!({"dateTime": "2026-01-05T09:00:00+09:00", "timeZone": "Asia/Tokyo"}),
            json!({"dateTime": "2026-01-05T10:00:00+09:00", "timeZone": "Asia/Tokyo"}),
            &["RRULE:FREQ=DAILY;UNTIL=20260107T000000Z"],
        );
        let items = instances(&m, window("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"));
        assert_eq!(ids(&items), ["series4_20260105T000000Z", "series4_20260106T000000Z", "series4_20260107T000000Z"]);
        // A floating UNTIL is read in the master's zone; a date-only one means the whole day.
        let mut floating = m.clone();
        floating["recurrence"] = json!(["RRULE:FREQ=DAILY;UNTIL=20260106T090000"]);
        assert_eq!(instances(&floating, window("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")).len(), 2);
        let mut date_only = m;
        date_only["recurrence"] = json!(["RRULE:FREQ=DAILY;UNTIL=20260106"]);
        assert_eq!(instances(&date_only, window("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")).len(), 2);
    }

    #[test]
    fn hostile_rules_skip_the_master_and_counts_are_capped() {
        let w = window("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");
        let start = json!({"dateTime": "2026-01-05T09:00:00Z"});
        let end = json!({"dateTime": "2026-01-05T10:00:00Z"});
        for rule in [
            "RRULE:FREQ=NEVER",
            "RRULE:FREQ=DAILY;INTERVAL=0",
            "RRULE:FREQ=DAILY;BYMONTHDAY=99",
            "RRULE:FREQ=YEARLY;BYSETPOS=999;BYMONTH=2",
            "RRULE:FREQ=DAILY;UNTIL=20200101T000000Z",
            "RRULE:FREQ=DAILY;UNTIL=garbage",
            "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            "RRULE:FREQ=DAILY;INTERVAL=4294967295",
            "RRULE:FREQ=SECONDLY;BYSECOND=0,1,2,3,4,5,6,7,8,9",
            "EXDATE:notadate",
            "VEVENT:nope",
            "RRULE",
        ] {
            let m = master("hostile1", start.clone(), end.clone(), &[rule]);
            let items = instances(&m, w);
            assert!(items.len() <= MAX_INSTANCES, "{rule}");
        }
        let m = master("hostile2", start.clone(), end.clone(), &["RRULE:FREQ=NEVER"]);
        assert!(instances(&m, w).is_empty());
        let m = master("hostile3", start, end, &["RRULE:FREQ=MINUTELY"]);
        assert_eq!(instances(&m, w).len(), MAX_INSTANCES);
        // A far start with no timeMax: bounded by the horizon and the walk cap.
        let m = master(
            "hostile4",
            json!({"dateTime": "1900-01-01T00:00:00Z"}),
            json!({"dateTime": "1900-01-01T01:00:00Z"}),
            &["RRULE:FREQ=HOURLY"],
        );
        assert!(instances(&m, Window::resolve(None, None, t("2026-01-01T00:00:00Z"))).len() <= MAX_INSTANCES);
    }

    #[test]
    fn bounds_round_trip_and_horizon() {
        let min = Some(t("2026-01-01T00:00:00Z"));
        assert_eq!(decode_bounds(&encode_bounds(min, None)), Some((min, None)));
        assert_eq!(decode_bounds("x y"), None);
        let w = Window::resolve(None, None, t("2026-01-01T00:00:00Z"));
        assert_eq!(w.max, t("2028-01-01T00:00:00Z"));
    }
}
