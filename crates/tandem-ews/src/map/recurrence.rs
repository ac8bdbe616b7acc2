//! RRULE ⇄ EWS `Recurrence` (`RecurrenceType`).
//!
//! EWS has six patterns (`DailyRecurrence`, `WeeklyRecurrence`, `AbsoluteMonthlyRecurrence`,
//! `RelativeMonthlyRecurrence`, `AbsoluteYearlyRecurrence`, `RelativeYearlyRecurrence`) and
//! three ranges (`NoEndRecurrence`, `EndDateRecurrence`, `NumberedRecurrence`). RRULEs that map
//! onto them do; anything else is refused with a reason (the record is quarantined rather than
//! written wrong). Reading writes the RRULE in the same canonical order as the Graph connector:
//! `FREQ`, `INTERVAL` (above 1), `BYMONTH`, `BYDAY`/`BYMONTHDAY`, `BYSETPOS`, `WKST` (weekly
//! rules with an interval above 1 and a week not starting on Monday), then `COUNT` or `UNTIL`
//! (the last day at the series' start time in UTC, or a date for all-day series).

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;

use super::time::instant;
use crate::xml::{Element, XmlWriter};
use tandem_core::rrule_parts::{parse_byday, single_number, until_date, weekday_code, weekday_from_code};

/// Where a series starts, as the recurrence needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesStart {
    /// The local date of the first occurrence.
    pub(crate) date: NaiveDate,
    /// The local start time; `None` for all-day series.
    pub(crate) time: Option<NaiveTime>,
    /// The series' zone.
    pub(crate) tz: Tz,
}

const DAYS: [(Weekday, &str, &str); 7] = [
    (Weekday::Mon, "MO", "Monday"),
    (Weekday::Tue, "TU", "Tuesday"),
    (Weekday::Wed, "WE", "Wednesday"),
    (Weekday::Thu, "TH", "Thursday"),
    (Weekday::Fri, "FR", "Friday"),
    (Weekday::Sat, "SA", "Saturday"),
    (Weekday::Sun, "SU", "Sunday"),
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const INDEXES: [(i64, &str); 5] = [(1, "First"), (2, "Second"), (3, "Third"), (4, "Fourth"), (-1, "Last")];

/// An EWS recurrence, as data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct EwsRecurrence {
    /// The pattern element's name, e.g. `WeeklyRecurrence`.
    pub(crate) pattern: String,
    pub(crate) interval: Option<i64>,
    pub(crate) days: Vec<Weekday>,
    pub(crate) first_day: Option<Weekday>,
    pub(crate) day_of_month: Option<i64>,
    pub(crate) index: Option<i64>,
    pub(crate) month: Option<i64>,
    pub(crate) start_date: NaiveDate,
    pub(crate) end_date: Option<NaiveDate>,
    pub(crate) count: Option<i64>,
}

fn day_from_ews(name: &str) -> Option<Weekday> {
    DAYS.iter().find(|(_, _, g)| g.eq_ignore_ascii_case(name)).map(|(d, _, _)| *d)
}
fn ews_day(d: Weekday) -> &'static str {
    DAYS.iter().find(|(w, _, _)| *w == d).map_or("Monday", |(_, _, g)| g)
}

/// One RRULE (without `RRULE:`) as an EWS recurrence starting at `start`.
pub(crate) fn from_rrule(rule: &str, start: &SeriesStart) -> Result<EwsRecurrence, String> {
    tandem_core::validate::validate_rrule(rule).map_err(|e| e.to_string())?;
    let mut freq = None;
    let mut interval = 1i64;
    let (mut byday, mut bymonthday, mut bymonth, mut bysetpos, mut count, mut until) =
        (None, None, None, None, None, None);
    let mut wkst = None;
    for part in rule.trim().trim_start_matches("RRULE:").split(';').filter(|p| !p.trim().is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("invalid rule part `{part}`"))?;
        match key.trim().to_ascii_uppercase().as_str() {
            "FREQ" => freq = Some(value.trim().to_ascii_uppercase()),
            "INTERVAL" => interval = single_number(value, "INTERVAL", "EWS")?,
            "BYDAY" => byday = Some(parse_byday(value)?),
            "BYMONTHDAY" => bymonthday = Some(single_number(value, "BYMONTHDAY", "EWS")?),
            "BYMONTH" => bymonth = Some(single_number(value, "BYMONTH", "EWS")?),
            "BYSETPOS" => bysetpos = Some(single_number(value, "BYSETPOS", "EWS")?),
            "COUNT" => count = Some(single_number(value, "COUNT", "EWS")?),
            "UNTIL" => until = Some(until_date(value, start.tz)?),
            "WKST" => wkst = Some(weekday_from_code(value.trim()).ok_or_else(|| format!("invalid WKST `{value}`"))?),
            other => return Err(format!("{other} cannot be expressed in an EWS recurrence")),
        }
    }
    if !(1..=999).contains(&interval) {
        return Err("INTERVAL must be between 1 and 999".to_owned());
    }
    let plain = |list: &[(Option<i64>, Weekday)]| -> Result<Vec<Weekday>, String> {
        if list.iter().any(|(o, _)| o.is_some()) {
            return Err("BYDAY with ordinals cannot be expressed for this frequency".to_owned());
        }
        let mut days: Vec<Weekday> = list.iter().map(|(_, d)| *d).collect();
        days.sort_by_key(|d| d.num_days_from_monday());
        days.dedup();
        Ok(days)
    };
    let relative = |list: &[(Option<i64>, Weekday)], setpos: Option<i64>| -> Result<(i64, Vec<Weekday>), String> {
        let valid = |n: i64| INDEXES.iter().any(|(i, _)| *i == n);
        match (list, setpos) {
            ([(Some(n), day)], None) if valid(*n) => Ok((*n, vec![*day])),
            (list, Some(n)) if valid(n) => {
                let days = plain(list)?;
                if days.len() != 1 {
                    return Err("EWS relative patterns take one day of the week".to_owned());
                }
                Ok((n, days))
            }
            _ => Err("this BYDAY cannot be expressed in an EWS relative pattern".to_owned()),
        }
    };
    let mut r = EwsRecurrence { interval: Some(interval), start_date: start.date, ..EwsRecurrence::default() };
    match freq.as_deref() {
        Some("DAILY") if bymonthday.is_none() && bymonth.is_none() && bysetpos.is_none() => match &byday {
            Some(list) if interval == 1 => {
                r.pattern = "WeeklyRecurrence".into();
                r.days = plain(list)?;
                r.first_day = Some(wkst.unwrap_or(Weekday::Mon));
            }
            Some(_) => return Err("a daily rule with BYDAY and an interval cannot be expressed".to_owned()),
            None => r.pattern = "DailyRecurrence".into(),
        },
        Some("WEEKLY") if bymonthday.is_none() && bymonth.is_none() && bysetpos.is_none() => {
            r.pattern = "WeeklyRecurrence".into();
            r.days = match &byday {
                Some(list) => plain(list)?,
                None => vec![start.date.weekday()],
            };
            r.first_day = Some(wkst.unwrap_or(Weekday::Mon));
        }
        Some("MONTHLY") if bymonth.is_none() => match (&byday, bymonthday) {
            (None, d) if bysetpos.is_none() => {
                r.pattern = "AbsoluteMonthlyRecurrence".into();
                r.day_of_month = Some(d.unwrap_or_else(|| i64::from(start.date.day())));
            }
            (Some(list), None) => {
                let (index, days) = relative(list, bysetpos)?;
                r.pattern = "RelativeMonthlyRecurrence".into();
                r.index = Some(index);
                r.days = days;
            }
            _ => return Err("this monthly rule cannot be expressed in EWS".to_owned()),
        },
        Some("YEARLY") => {
            r.month = Some(bymonth.unwrap_or_else(|| i64::from(start.date.month())));
            if interval != 1 {
                return Err("EWS yearly patterns have no interval".to_owned());
            }
            r.interval = None;
            match (&byday, bymonthday) {
                (None, d) if bysetpos.is_none() => {
                    r.pattern = "AbsoluteYearlyRecurrence".into();
                    r.day_of_month = Some(d.unwrap_or_else(|| i64::from(start.date.day())));
                }
                (Some(list), None) => {
                    let (index, days) = relative(list, bysetpos)?;
                    r.pattern = "RelativeYearlyRecurrence".into();
                    r.index = Some(index);
                    r.days = days;
                }
                _ => return Err("this yearly rule cannot be expressed in EWS".to_owned()),
            }
        }
        Some(other) => return Err(format!("this FREQ={other} rule cannot be expressed in an EWS recurrence")),
        None => return Err("the rule has no FREQ".to_owned()),
    }
    if r.day_of_month.is_some_and(|d| !(1..=31).contains(&d)) || r.month.is_some_and(|m| !(1..=12).contains(&m)) {
        return Err("day of month or month out of range".to_owned());
    }
    match (count, until) {
        (Some(_), Some(_)) => return Err("a rule with both COUNT and UNTIL is invalid".to_owned()),
        (Some(n), None) if n >= 1 => r.count = Some(n),
        (Some(n), None) => return Err(format!("invalid COUNT {n}")),
        (None, Some(end)) if end < start.date => return Err("UNTIL is before the start of the series".to_owned()),
        (None, Some(end)) => r.end_date = Some(end),
        (None, None) => {}
    }
    Ok(r)
}

/// An EWS recurrence as one RRULE in the canonical order.
pub(crate) fn to_rrule(r: &EwsRecurrence, start: &SeriesStart) -> Result<String, String> {
    let interval = r.interval.unwrap_or(1).max(1);
    let interval_part = if interval > 1 { format!(";INTERVAL={interval}") } else { String::new() };
    let mut days = r.days.clone();
    days.sort_by_key(|d| d.num_days_from_monday());
    days.dedup();
    let day_list = || days.iter().map(|d| weekday_code(*d)).collect::<Vec<_>>().join(",");
    let relative = || -> Result<String, String> {
        let n = r.index.ok_or("a relative pattern without a week index")?;
        match days.as_slice() {
            [one] => Ok(format!(";BYDAY={n}{}", weekday_code(*one))),
            [] => Err("a relative pattern without a day of the week".to_owned()),
            _ => Ok(format!(";BYDAY={};BYSETPOS={n}", day_list())),
        }
    };
    let dom = || r.day_of_month.filter(|d| (1..=31).contains(d)).ok_or_else(|| "invalid DayOfMonth".to_owned());
    let month = || r.month.filter(|m| (1..=12).contains(m)).ok_or_else(|| "invalid Month".to_owned());
    let mut rule = match r.pattern.as_str() {
        "DailyRecurrence" => format!("FREQ=DAILY{interval_part}"),
        "WeeklyRecurrence" => {
            if days.is_empty() {
                return Err("a weekly pattern without days of the week".to_owned());
            }
            let mut s = format!("FREQ=WEEKLY{interval_part};BYDAY={}", day_list());
            let first = r.first_day.unwrap_or(Weekday::Sun);
            if interval > 1 && first != Weekday::Mon {
                s.push_str(&format!(";WKST={}", weekday_code(first)));
            }
            s
        }
        "AbsoluteMonthlyRecurrence" => format!("FREQ=MONTHLY{interval_part};BYMONTHDAY={}", dom()?),
        "RelativeMonthlyRecurrence" => format!("FREQ=MONTHLY{interval_part}{}", relative()?),
        "AbsoluteYearlyRecurrence" => format!("FREQ=YEARLY;BYMONTH={};BYMONTHDAY={}", month()?, dom()?),
        "RelativeYearlyRecurrence" => format!("FREQ=YEARLY;BYMONTH={}{}", month()?, relative()?),
        other => return Err(format!("unknown recurrence pattern `{other}`")),
    };
    if let Some(n) = r.count {
        rule.push_str(&format!(";COUNT={n}"));
    } else if let Some(end) = r.end_date {
        match start.time {
            None => rule.push_str(&format!(";UNTIL={}", end.format("%Y%m%d"))),
            Some(time) => {
                let t = instant(end.and_time(time), start.tz).ok_or("the UNTIL time does not exist")?;
                rule.push_str(&format!(";UNTIL={}", t.format("%Y%m%dT%H%M%SZ")));
            }
        }
    }
    Ok(rule)
}

/// An `xs:date` as EWS sends it (`2026-01-05`, `2026-01-05Z`, `2026-01-05-08:00`).
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// Reads a `Recurrence` element.
pub(crate) fn parse(e: &Element) -> Result<EwsRecurrence, String> {
    let pattern = e
        .children
        .iter()
        .find(|c| {
            c.name.ends_with("Recurrence")
                && !c.name.contains("EndDate")
                && !c.name.starts_with("No")
                && !c.name.starts_with("Numbered")
        })
        .ok_or("a recurrence without a pattern")?;
    let number = |el: &Element, name: &str| -> Result<Option<i64>, String> {
        el.text_of(name).map(|t| t.trim().parse::<i64>().map_err(|_| format!("invalid {name}"))).transpose()
    };
    let mut r = EwsRecurrence { pattern: pattern.name.clone(), ..EwsRecurrence::default() };
    r.interval = number(pattern, "Interval")?;
    r.day_of_month = number(pattern, "DayOfMonth")?;
    if let Some(days) = pattern.text_of("DaysOfWeek") {
        r.days = days
            .split_whitespace()
            .map(|d| day_from_ews(d).ok_or_else(|| format!("days of week `{d}` cannot be expressed")))
            .collect::<Result<_, _>>()?;
    }
    r.first_day = pattern.text_of("FirstDayOfWeek").and_then(day_from_ews);
    if let Some(index) = pattern.text_of("DayOfWeekIndex") {
        r.index =
            Some(INDEXES.iter().find(|(_, n)| *n == index.trim()).map(|(i, _)| *i).ok_or("invalid DayOfWeekIndex")?);
    }
    if let Some(month) = pattern.text_of("Month") {
        let m = MONTHS.iter().position(|m| *m == month.trim()).ok_or("invalid Month")?;
        r.month = Some(i64::try_from(m).unwrap_or(0) + 1);
    }
    let range = e
        .children
        .iter()
        .find(|c| matches!(c.name.as_str(), "NoEndRecurrence" | "EndDateRecurrence" | "NumberedRecurrence"))
        .ok_or("a recurrence without a range")?;
    r.start_date = range.text_of("StartDate").and_then(parse_date).ok_or("a range without a StartDate")?;
    match range.name.as_str() {
        "EndDateRecurrence" => {
            r.end_date = Some(range.text_of("EndDate").and_then(parse_date).ok_or("invalid EndDate")?)
        }
        "NumberedRecurrence" => r.count = Some(number(range, "NumberOfOccurrences")?.ok_or("no NumberOfOccurrences")?),
        _ => {}
    }
    Ok(r)
}

/// Writes `<t:Recurrence>` in schema order.
pub(crate) fn write(w: &mut XmlWriter, r: &EwsRecurrence) {
    let days = r.days.iter().map(|d| ews_day(*d)).collect::<Vec<_>>().join(" ");
    let index = r.index.and_then(|n| INDEXES.iter().find(|(i, _)| *i == n)).map(|(_, s)| *s);
    let month = r.month.and_then(|m| usize::try_from(m - 1).ok()).and_then(|m| MONTHS.get(m)).copied();
    w.open("t:Recurrence", &[]);
    let tag = format!("t:{}", r.pattern);
    w.open(&tag, &[]);
    let interval = r.interval.unwrap_or(1).to_string();
    match r.pattern.as_str() {
        "DailyRecurrence" => w.text("t:Interval", &interval),
        "WeeklyRecurrence" => {
            w.text("t:Interval", &interval);
            w.text("t:DaysOfWeek", &days);
            if let Some(first) = r.first_day {
                w.text("t:FirstDayOfWeek", ews_day(first));
            }
        }
        "AbsoluteMonthlyRecurrence" => {
            w.text("t:Interval", &interval);
            w.text("t:DayOfMonth", &r.day_of_month.unwrap_or(1).to_string());
        }
        "RelativeMonthlyRecurrence" => {
            w.text("t:Interval", &interval);
            w.text("t:DaysOfWeek", &days);
            w.text("t:DayOfWeekIndex", index.unwrap_or("First"));
        }
        "AbsoluteYearlyRecurrence" => {
            w.text("t:DayOfMonth", &r.day_of_month.unwrap_or(1).to_string());
            w.text("t:Month", month.unwrap_or("January"));
        }
        _ => {
            w.text("t:DaysOfWeek", &days);
            w.text("t:DayOfWeekIndex", index.unwrap_or("First"));
            w.text("t:Month", month.unwrap_or("January"));
        }
    }
    w.close(&tag);
    let start = r.start_date.format("%Y-%m-%d").to_string();
    if let Some(n) = r.count {
        w.open("t:NumberedRecurrence", &[]);
        w.text("t:StartDate", &start);
        w.text("t:NumberOfOccurrences", &n.to_string());
        w.close("t:NumberedRecurrence");
    } else if let Some(end) = r.end_date {
        w.open("t:EndDateRecurrence", &[]);
        w.text("t:StartDate", &start);
        w.text("t:EndDate", &end.format("%Y-%m-%d").to_string());
        w.close("t:EndDateRecurrence");
    } else {
        w.open("t:NoEndRecurrence", &[]);
        w.text("t:StartDate", &start);
        w.close("t:NoEndRecurrence");
    }
    w.close("t:Recurrence");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml;

    fn start(time: Option<(u32, u32)>) -> SeriesStart {
        SeriesStart {
            date: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
            time: time.map(|(h, m)| NaiveTime::from_hms_opt(h, m, 0).unwrap()),
            tz: "Europe/Paris".parse().unwrap(),
        }
    }

    fn round_trip(rule: &str, s: &SeriesStart) -> String {
        let r = from_rrule(rule, s).unwrap();
        let mut w = XmlWriter::new();
        write(&mut w, &r);
        let parsed = xml::parse(&w.into_bytes(), 1 << 20).unwrap();
        let back = parse(&parsed).unwrap();
        assert_eq!(back, r, "{rule}");
        to_rrule(&back, s).unwrap()
    }

    #[test]
    fn canonical_rules_round_trip_through_xml() {
        let s = start(Some((9, 0)));
        for rule in [
            "FREQ=DAILY",
            "FREQ=DAILY;INTERVAL=3;COUNT=10",
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;WKST=SU;UNTIL=20260302T080000Z",
            "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=6",
            "FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR",
            "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1",
            "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
        ] {
            assert_eq!(round_trip(rule, &s), rule);
        }
        assert_eq!(
            round_trip("FREQ=WEEKLY;BYDAY=MO;UNTIL=20260216", &start(None)),
            "FREQ=WEEKLY;BYDAY=MO;UNTIL=20260216"
        );
    }

    #[test]
    fn inexpressible_rules_are_refused() {
        let s = start(Some((9, 0)));
        for rule in [
            "FREQ=HOURLY",
            "FREQ=WEEKLY;COUNT=2;UNTIL=20260301",
            "FREQ=MONTHLY;BYDAY=2MO,3TU",
            "FREQ=YEARLY;INTERVAL=2",
            "nonsense",
        ] {
            assert!(from_rrule(rule, &s).is_err(), "{rule}");
        }
    }

    #[test]
    fn dates_with_offsets_parse() {
        assert_eq!(parse_date("2026-01-05-08:00"), NaiveDate::from_ymd_opt(2026, 1, 5));
        assert_eq!(parse_date("2026-01-05Z"), NaiveDate::from_ymd_opt(2026, 1, 5));
        assert_eq!(parse_date("ñ"), None);
    }
}
