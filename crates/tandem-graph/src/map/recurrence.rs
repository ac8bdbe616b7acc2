//! RRULE ⇄ `patternedRecurrence`.
//!
//! Graph expresses six pattern types (`daily`, `weekly`, `absoluteMonthly`, `relativeMonthly`,
//! `absoluteYearly`, `relativeYearly`) and three ranges (`endDate`, `noEnd`, `numbered`). The
//! RRULEs that map onto them do; anything else (hourly rules, `BYHOUR`, several `BYMONTH`s,
//! `BYSETPOS` lists…) is refused with a reason, and the record is quarantined rather than
//! written wrong.
//!
//! Reading writes the RRULE in one canonical order: `FREQ`, `INTERVAL` (when above 1), `BYMONTH`,
//! `BYDAY`/`BYMONTHDAY`, `BYSETPOS`, `WKST` (only where it changes the meaning: weekly rules
//! with an interval above 1 and a week not starting on Monday), then `COUNT` or `UNTIL`.
//! `UNTIL` is the last day at the series' start time, in UTC (`20260629T090000Z`), or a date for
//! all-day series.

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;

use super::time::instant;
use super::types::{PatternedRecurrence, RecurrencePattern, RecurrenceRange};
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
    (Weekday::Mon, "MO", "monday"),
    (Weekday::Tue, "TU", "tuesday"),
    (Weekday::Wed, "WE", "wednesday"),
    (Weekday::Thu, "TH", "thursday"),
    (Weekday::Fri, "FR", "friday"),
    (Weekday::Sat, "SA", "saturday"),
    (Weekday::Sun, "SU", "sunday"),
];

fn day_from_graph(name: &str) -> Option<Weekday> {
    DAYS.iter().find(|(_, _, g)| g.eq_ignore_ascii_case(name)).map(|(d, _, _)| *d)
}

fn graph_day(d: Weekday) -> &'static str {
    DAYS.iter().find(|(w, _, _)| *w == d).map_or("monday", |(_, _, g)| g)
}

fn index_name(n: i64) -> Option<&'static str> {
    Some(match n {
        1 => "first",
        2 => "second",
        3 => "third",
        4 => "fourth",
        -1 => "last",
        _ => return None,
    })
}

fn index_number(name: &str) -> Option<i64> {
    Some(match name {
        "first" => 1,
        "second" => 2,
        "third" => 3,
        "fourth" => 4,
        "last" => -1,
        _ => return None,
    })
}

/// One RRULE (without `RRULE:`) as a `patternedRecurrence` starting at `start`, in zone
/// `zone_name` (the name Graph is sent).
pub(crate) fn to_graph(rule: &str, start: &SeriesStart, zone_name: &str) -> Result<PatternedRecurrence, String> {
    let mut freq = None;
    let mut interval = 1i64;
    let mut byday = None;
    let mut bymonthday = None;
    let mut bymonth = None;
    let mut bysetpos = None;
    let mut count = None;
    let mut until = None;
    let mut wkst = Weekday::Mon;
    for part in rule.trim().trim_start_matches("RRULE:").split(';').filter(|p| !p.trim().is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("invalid rule part `{part}`"))?;
        match key.trim().to_ascii_uppercase().as_str() {
            "FREQ" => freq = Some(value.trim().to_ascii_uppercase()),
            "INTERVAL" => interval = single_number(value, "INTERVAL", "Graph")?,
            "BYDAY" => byday = Some(parse_byday(value)?),
            "BYMONTHDAY" => bymonthday = Some(single_number(value, "BYMONTHDAY", "Graph")?),
            "BYMONTH" => bymonth = Some(single_number(value, "BYMONTH", "Graph")?),
            "BYSETPOS" => bysetpos = Some(single_number(value, "BYSETPOS", "Graph")?),
            "COUNT" => count = Some(single_number(value, "COUNT", "Graph")?),
            "UNTIL" => until = Some(until_date(value, start.tz)?),
            "WKST" => wkst = weekday_from_code(value.trim()).ok_or_else(|| format!("invalid WKST `{value}`"))?,
            other => return Err(format!("{other} cannot be expressed in a Graph recurrence")),
        }
    }
    if interval < 1 {
        return Err("INTERVAL must be at least 1".to_owned());
    }
    let plain_days = |list: &[(Option<i64>, Weekday)]| -> Result<Vec<String>, String> {
        if list.iter().any(|(o, _)| o.is_some()) {
            return Err("BYDAY with ordinals cannot be expressed for this frequency".to_owned());
        }
        let mut days: Vec<Weekday> = list.iter().map(|(_, d)| *d).collect();
        days.sort_by_key(|d| d.num_days_from_monday());
        days.dedup();
        Ok(days.into_iter().map(|d| graph_day(d).to_owned()).collect())
    };
    let mut pattern = RecurrencePattern { interval: Some(interval), ..RecurrencePattern::default() };
    // The relative form of monthly and yearly rules: `BYDAY=2TU`, or `BYDAY=MO,TU;BYSETPOS=1`.
    let relative = |byday: &[(Option<i64>, Weekday)], setpos: Option<i64>| -> Result<(String, Vec<String>), String> {
        match (byday, setpos) {
            ([(Some(n), day)], None) => {
                let index = index_name(*n).ok_or_else(|| format!("BYDAY ordinal {n} cannot be expressed in Graph"))?;
                Ok((index.to_owned(), vec![graph_day(*day).to_owned()]))
            }
            (list, Some(n)) => {
                let index = index_name(n).ok_or_else(|| format!("BYSETPOS {n} cannot be expressed in Graph"))?;
                Ok((index.to_owned(), plain_days(list)?))
            }
            _ => Err("this BYDAY cannot be expressed in a Graph monthly or yearly pattern".to_owned()),
        }
    };
    match freq.as_deref() {
        Some("DAILY") => {
            if bymonthday.is_some() || bymonth.is_some() || bysetpos.is_some() {
                return Err("a daily rule with BYMONTHDAY, BYMONTH or BYSETPOS cannot be expressed".to_owned());
            }
            match &byday {
                Some(list) if interval == 1 => {
                    pattern.kind = Some("weekly".into());
                    pattern.days_of_week = Some(plain_days(list)?);
                    pattern.first_day_of_week = Some(graph_day(wkst).to_owned());
                }
                Some(_) => return Err("a daily rule with BYDAY and an interval cannot be expressed".to_owned()),
                None => pattern.kind = Some("daily".into()),
            }
        }
        Some("WEEKLY") => {
            if bymonthday.is_some() || bymonth.is_some() || bysetpos.is_some() {
                return Err("a weekly rule with BYMONTHDAY, BYMONTH or BYSETPOS cannot be expressed".to_owned());
            }
            pattern.kind = Some("weekly".into());
            pattern.days_of_week = Some(match &byday {
                Some(list) => plain_days(list)?,
                None => vec![graph_day(start.date.weekday()).to_owned()],
            });
            pattern.first_day_of_week = Some(graph_day(wkst).to_owned());
        }
        Some("MONTHLY") => {
            if bymonth.is_some() {
                return Err("a monthly rule with BYMONTH cannot be expressed".to_owned());
            }
            match (&byday, bymonthday) {
                (None, Some(d)) if (1..=31).contains(&d) && bysetpos.is_none() => {
                    pattern.kind = Some("absoluteMonthly".into());
                    pattern.day_of_month = Some(d);
                }
                (None, None) if bysetpos.is_none() => {
                    pattern.kind = Some("absoluteMonthly".into());
                    pattern.day_of_month = Some(i64::from(start.date.day()));
                }
                (Some(list), None) => {
                    let (index, days) = relative(list, bysetpos)?;
                    pattern.kind = Some("relativeMonthly".into());
                    pattern.index = Some(index);
                    pattern.days_of_week = Some(days);
                }
                _ => return Err("this monthly rule cannot be expressed in Graph".to_owned()),
            }
        }
        Some("YEARLY") => {
            let month = bymonth.unwrap_or_else(|| i64::from(start.date.month()));
            if !(1..=12).contains(&month) {
                return Err(format!("invalid BYMONTH {month}"));
            }
            pattern.month = Some(month);
            match (&byday, bymonthday) {
                (None, Some(d)) if (1..=31).contains(&d) && bysetpos.is_none() => {
                    pattern.kind = Some("absoluteYearly".into());
                    pattern.day_of_month = Some(d);
                }
                (None, None) if bysetpos.is_none() => {
                    pattern.kind = Some("absoluteYearly".into());
                    pattern.day_of_month = Some(i64::from(start.date.day()));
                }
                (Some(list), None) => {
                    let (index, days) = relative(list, bysetpos)?;
                    pattern.kind = Some("relativeYearly".into());
                    pattern.index = Some(index);
                    pattern.days_of_week = Some(days);
                }
                _ => return Err("this yearly rule cannot be expressed in Graph".to_owned()),
            }
        }
        Some(other) => return Err(format!("FREQ={other} cannot be expressed in a Graph recurrence")),
        None => return Err("the rule has no FREQ".to_owned()),
    }
    let mut range = RecurrenceRange {
        start_date: Some(start.date.format("%Y-%m-%d").to_string()),
        recurrence_time_zone: Some(zone_name.to_owned()),
        ..RecurrenceRange::default()
    };
    match (count, until) {
        (Some(_), Some(_)) => return Err("a rule with both COUNT and UNTIL is invalid".to_owned()),
        (Some(n), None) if n >= 1 => {
            range.kind = Some("numbered".into());
            range.number_of_occurrences = Some(n);
        }
        (Some(n), None) => return Err(format!("invalid COUNT {n}")),
        (None, Some(end)) => {
            if end < start.date {
                return Err("UNTIL is before the start of the series".to_owned());
            }
            range.kind = Some("endDate".into());
            range.end_date = Some(end.format("%Y-%m-%d").to_string());
        }
        (None, None) => range.kind = Some("noEnd".into()),
    }
    Ok(PatternedRecurrence { pattern: Some(pattern), range: Some(range) })
}

/// A `patternedRecurrence` as one RRULE in Tandem's canonical order.
pub(crate) fn to_rrule(rec: &PatternedRecurrence, start: &SeriesStart) -> Result<String, String> {
    let pattern = rec.pattern.as_ref().ok_or("the recurrence has no pattern")?;
    let range = rec.range.as_ref().ok_or("the recurrence has no range")?;
    let interval = pattern.interval.unwrap_or(1).max(1);
    let mut days: Vec<Weekday> = pattern
        .days_of_week
        .iter()
        .flatten()
        .map(|d| day_from_graph(d).ok_or_else(|| format!("invalid day of week `{d}`")))
        .collect::<Result<_, _>>()?;
    days.sort_by_key(|d| d.num_days_from_monday());
    days.dedup();
    let day_list = || days.iter().map(|d| weekday_code(*d)).collect::<Vec<_>>().join(",");
    let relative = || -> Result<String, String> {
        let index = pattern.index.as_deref().unwrap_or("first");
        let n = index_number(index).ok_or_else(|| format!("invalid week index `{index}`"))?;
        match days.as_slice() {
            [] => Err("a relative pattern without days of the week".to_owned()),
            [one] => Ok(format!(";BYDAY={n}{}", weekday_code(*one))),
            _ => Ok(format!(";BYDAY={};BYSETPOS={n}", day_list())),
        }
    };
    let interval_part = if interval > 1 { format!(";INTERVAL={interval}") } else { String::new() };
    let day_of_month = || -> Result<i64, String> {
        pattern.day_of_month.filter(|d| (1..=31).contains(d)).ok_or_else(|| "invalid dayOfMonth".to_owned())
    };
    let month = || -> Result<i64, String> {
        pattern.month.filter(|m| (1..=12).contains(m)).ok_or_else(|| "invalid month".to_owned())
    };
    let mut rule = match pattern.kind.as_deref() {
        Some("daily") => format!("FREQ=DAILY{interval_part}"),
        Some("weekly") => {
            if days.is_empty() {
                return Err("a weekly pattern without days of the week".to_owned());
            }
            let mut r = format!("FREQ=WEEKLY{interval_part};BYDAY={}", day_list());
            let first = pattern.first_day_of_week.as_deref().and_then(day_from_graph).unwrap_or(Weekday::Sun);
            if interval > 1 && first != Weekday::Mon {
                r.push_str(&format!(";WKST={}", weekday_code(first)));
            }
            r
        }
        Some("absoluteMonthly") => format!("FREQ=MONTHLY{interval_part};BYMONTHDAY={}", day_of_month()?),
        Some("relativeMonthly") => format!("FREQ=MONTHLY{interval_part}{}", relative()?),
        Some("absoluteYearly") => {
            format!("FREQ=YEARLY{interval_part};BYMONTH={};BYMONTHDAY={}", month()?, day_of_month()?)
        }
        Some("relativeYearly") => format!("FREQ=YEARLY{interval_part};BYMONTH={}{}", month()?, relative()?),
        other => return Err(format!("unknown recurrence pattern type {other:?}")),
    };
    match range.kind.as_deref() {
        Some("numbered") => {
            let n = range.number_of_occurrences.filter(|n| *n >= 1).ok_or("a numbered range without a count")?;
            rule.push_str(&format!(";COUNT={n}"));
        }
        Some("endDate") => {
            let end = range
                .end_date
                .as_deref()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .ok_or("an endDate range without a valid endDate")?;
            match start.time {
                None => rule.push_str(&format!(";UNTIL={}", end.format("%Y%m%d"))),
                Some(time) => {
                    let t = instant(end.and_time(time), start.tz).ok_or("the UNTIL time does not exist")?;
                    rule.push_str(&format!(";UNTIL={}", t.format("%Y%m%dT%H%M%SZ")));
                }
            }
        }
        Some("noEnd") | None => {}
        Some(other) => return Err(format!("unknown recurrence range type `{other}`")),
    }
    Ok(rule)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn start(y: i32, m: u32, d: u32, time: Option<(u32, u32)>) -> SeriesStart {
        SeriesStart {
            date: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            time: time.map(|(h, mi)| NaiveTime::from_hms_opt(h, mi, 0).unwrap()),
            tz: chrono_tz::Europe::Paris,
        }
    }

    fn round_trip(rule: &str, s: &SeriesStart) -> String {
        let g = to_graph(rule, s, "Romance Standard Time").unwrap();
        to_rrule(&g, s).unwrap()
    }

    #[test]
    fn canonical_rules_round_trip() {
        // 2026-01-05 is a Monday; 09:00 Paris is 08:00 UTC.
        let s = start(2026, 1, 5, Some((9, 0)));
        for rule in [
            "FREQ=DAILY",
            "FREQ=DAILY;INTERVAL=3;COUNT=10",
            "FREQ=WEEKLY;BYDAY=MO;COUNT=5",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;WKST=SU;UNTIL=20260302T080000Z",
            "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            "FREQ=MONTHLY;BYMONTHDAY=5;COUNT=6",
            "FREQ=MONTHLY;BYDAY=1MO;COUNT=6",
            "FREQ=MONTHLY;BYDAY=-1FR",
            "FREQ=MONTHLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=5;COUNT=3",
            "FREQ=YEARLY;BYMONTH=3;BYDAY=2TU",
        ] {
            assert_eq!(round_trip(rule, &s), rule);
        }
        let all_day = start(2026, 1, 5, None);
        assert_eq!(round_trip("FREQ=WEEKLY;BYDAY=MO;UNTIL=20260216", &all_day), "FREQ=WEEKLY;BYDAY=MO;UNTIL=20260216");
    }

    #[test]
    fn graph_shapes() {
        let s = start(2026, 1, 5, Some((9, 0)));
        let g = to_graph("FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20261231T235959Z", &s, "Romance Standard Time").unwrap();
        let p = g.pattern.unwrap();
        assert_eq!(p.kind.as_deref(), Some("relativeMonthly"));
        assert_eq!(p.index.as_deref(), Some("last"));
        assert_eq!(p.days_of_week, Some(vec!["friday".to_owned()]));
        let r = g.range.unwrap();
        assert_eq!(r.kind.as_deref(), Some("endDate"));
        assert_eq!(r.end_date.as_deref(), Some("2027-01-01"), "23:59:59Z is the next day in Paris");
        assert_eq!(r.start_date.as_deref(), Some("2026-01-05"));
        // Defaults from the start date.
        let g = to_graph("FREQ=WEEKLY", &s, "UTC").unwrap();
        assert_eq!(g.pattern.unwrap().days_of_week, Some(vec!["monday".to_owned()]));
        assert_eq!(
            to_rrule(&to_graph("FREQ=DAILY;BYDAY=SA,SU", &s, "UTC").unwrap(), &s).unwrap(),
            "FREQ=WEEKLY;BYDAY=SA,SU"
        );
    }

    #[test]
    fn inexpressible_rules_are_refused() {
        let s = start(2026, 1, 5, Some((9, 0)));
        for rule in [
            "FREQ=HOURLY",
            "FREQ=DAILY;BYHOUR=9",
            "FREQ=MONTHLY;BYMONTHDAY=1,15",
            "FREQ=MONTHLY;BYDAY=5MO",
            "FREQ=WEEKLY;COUNT=2;UNTIL=20260301",
            "FREQ=YEARLY;BYMONTH=1,2",
            "BYDAY=MO",
            // Issue 8: these panicked (a byte split inside `ñ`).
            "FREQ=WEEKLY;BYDAY=ña",
            "FREQ=WEEKLY;BYDAY=2ña",
            "FREQ=WEEKLY;BYDAY=ñ",
        ] {
            assert!(to_graph(rule, &s, "UTC").is_err(), "{rule}");
        }
    }
}
