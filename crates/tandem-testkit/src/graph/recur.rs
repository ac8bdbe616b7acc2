//! Expansion of Graph's `patternedRecurrence` into occurrence dates, as Outlook does it.

use chrono::{Datelike, Duration, Months, NaiveDate, Weekday};
use serde_json::Value;

use super::util::parse_date;

/// Why a `patternedRecurrence` is not acceptable.
pub(crate) type RecurrenceError = String;

const MAX_STEPS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Daily,
    Weekly,
    AbsoluteMonthly,
    RelativeMonthly,
    AbsoluteYearly,
    RelativeYearly,
}

/// A parsed, validated `patternedRecurrence`.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    kind: Kind,
    interval: u32,
    days: Vec<Weekday>,
    first_day: Weekday,
    index: i32,
    day_of_month: u32,
    month: u32,
    /// `range.startDate`.
    pub(crate) start: NaiveDate,
    end: Option<NaiveDate>,
    count: Option<usize>,
}

pub(crate) fn weekday(name: &str) -> Option<Weekday> {
    Some(match name {
        "sunday" => Weekday::Sun,
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        _ => return None,
    })
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

impl Pattern {
    /// Parses and validates `recurrence` (`{pattern, range}`).
    pub(crate) fn parse(recurrence: &Value) -> Result<Pattern, RecurrenceError> {
        let pattern = recurrence.get("pattern").filter(|p| p.is_object()).ok_or("recurrence.pattern is required")?;
        let range = recurrence.get("range").filter(|p| p.is_object()).ok_or("recurrence.range is required")?;
        let kind = match pattern.get("type").and_then(Value::as_str) {
            Some("daily") => Kind::Daily,
            Some("weekly") => Kind::Weekly,
            Some("absoluteMonthly") => Kind::AbsoluteMonthly,
            Some("relativeMonthly") => Kind::RelativeMonthly,
            Some("absoluteYearly") => Kind::AbsoluteYearly,
            Some("relativeYearly") => Kind::RelativeYearly,
            other => return Err(format!("invalid recurrence pattern type {other:?}")),
        };
        let interval = int(pattern, "interval").unwrap_or(1);
        if !(1..=999).contains(&interval) {
            return Err("recurrence.pattern.interval must be between 1 and 999".into());
        }
        let mut days = Vec::new();
        if let Some(list) = pattern.get("daysOfWeek").and_then(Value::as_array) {
            for d in list {
                let name = d.as_str().unwrap_or_default();
                days.push(weekday(name).ok_or_else(|| format!("invalid day of week {name:?}"))?);
            }
        }
        let first_day = match pattern.get("firstDayOfWeek").and_then(Value::as_str) {
            None => Weekday::Sun,
            Some(name) => weekday(name).ok_or_else(|| format!("invalid firstDayOfWeek {name:?}"))?,
        };
        let index = match pattern.get("index").and_then(Value::as_str).unwrap_or("first") {
            "first" => 1,
            "second" => 2,
            "third" => 3,
            "fourth" => 4,
            "last" => -1,
            other => return Err(format!("invalid week index {other:?}")),
        };
        let day_of_month = u32::try_from(int(pattern, "dayOfMonth").unwrap_or(0)).unwrap_or(0);
        let month = u32::try_from(int(pattern, "month").unwrap_or(0)).unwrap_or(0);
        match kind {
            Kind::Weekly | Kind::RelativeMonthly | Kind::RelativeYearly if days.is_empty() => {
                return Err("recurrence.pattern.daysOfWeek is required for this pattern type".into());
            }
            Kind::AbsoluteMonthly | Kind::AbsoluteYearly if !(1..=31).contains(&day_of_month) => {
                return Err("recurrence.pattern.dayOfMonth must be between 1 and 31".into());
            }
            _ => {}
        }
        if matches!(kind, Kind::AbsoluteYearly | Kind::RelativeYearly) && !(1..=12).contains(&month) {
            return Err("recurrence.pattern.month must be between 1 and 12".into());
        }
        let start = range
            .get("startDate")
            .and_then(Value::as_str)
            .and_then(parse_date)
            .ok_or("recurrence.range.startDate is required")?;
        let (end, count) = match range.get("type").and_then(Value::as_str) {
            Some("endDate") => {
                let end = range
                    .get("endDate")
                    .and_then(Value::as_str)
                    .and_then(parse_date)
                    .ok_or("recurrence.range.endDate is required for an endDate range")?;
                if end < start {
                    return Err("recurrence.range.endDate is before startDate".into());
                }
                (Some(end), None)
            }
            Some("numbered") => {
                let n = int(range, "numberOfOccurrences").unwrap_or(0);
                if n < 1 {
                    return Err("recurrence.range.numberOfOccurrences must be at least 1".into());
                }
                (None, Some(usize::try_from(n).unwrap_or(usize::MAX)))
            }
            Some("noEnd") => (None, None),
            other => return Err(format!("invalid recurrence range type {other:?}")),
        };
        Ok(Pattern { kind, interval: interval as u32, days, first_day, index, day_of_month, month, start, end, count })
    }

    /// Occurrence dates of the series from its start up to `until` (inclusive), in order.
    pub(crate) fn dates_until(&self, until: NaiveDate) -> Vec<NaiveDate> {
        let limit = match self.end {
            Some(end) => end.min(until),
            None => until,
        };
        let mut out = Vec::new();
        let mut emitted = 0usize;
        let mut push = |d: NaiveDate, out: &mut Vec<NaiveDate>| -> bool {
            // Returns false when the series is over.
            if self.count.is_some_and(|c| emitted >= c) {
                return false;
            }
            if let Some(end) = self.end
                && d > end
            {
                return false;
            }
            emitted += 1;
            if d <= limit {
                out.push(d);
            }
            d <= limit
        };
        let interval = i64::from(self.interval);
        for step in 0..MAX_STEPS {
            let k = step as i64;
            let mut candidates: Vec<NaiveDate> = match self.kind {
                Kind::Daily => self.start.checked_add_signed(Duration::days(k * interval)).into_iter().collect(),
                Kind::Weekly => {
                    let back =
                        (7 + self.start.weekday().num_days_from_sunday() - self.first_day.num_days_from_sunday()) % 7;
                    let week = self.start - Duration::days(i64::from(back)) + Duration::weeks(k * interval);
                    (0..7).map(|i| week + Duration::days(i)).filter(|d| self.days.contains(&d.weekday())).collect()
                }
                Kind::AbsoluteMonthly | Kind::RelativeMonthly => {
                    let Some(first) = month_start(self.start, k * interval) else { break };
                    self.in_month(first).into_iter().collect()
                }
                Kind::AbsoluteYearly | Kind::RelativeYearly => {
                    let year = self.start.year() + i32::try_from(k * interval).unwrap_or(i32::MAX);
                    let Some(first) = NaiveDate::from_ymd_opt(year, self.month, 1) else { break };
                    self.in_month(first).into_iter().collect()
                }
            };
            candidates.retain(|d| *d >= self.start);
            candidates.sort();
            for d in candidates {
                if !push(d, &mut out) {
                    return out;
                }
            }
        }
        out
    }

    /// The occurrence in the month starting at `first`, for monthly and yearly patterns.
    fn in_month(&self, first: NaiveDate) -> Option<NaiveDate> {
        match self.kind {
            Kind::AbsoluteMonthly | Kind::AbsoluteYearly => {
                let last = last_day(first);
                let day = self.day_of_month.min(last.day());
                first.with_day(day)
            }
            _ => {
                let last = last_day(first);
                let matching: Vec<NaiveDate> =
                    first.iter_days().take_while(|d| *d <= last).filter(|d| self.days.contains(&d.weekday())).collect();
                if self.index < 0 {
                    matching.last().copied()
                } else {
                    matching.get(usize::try_from(self.index - 1).unwrap_or(0)).copied()
                }
            }
        }
    }
}

fn month_start(start: NaiveDate, months: i64) -> Option<NaiveDate> {
    start.with_day(1)?.checked_add_months(Months::new(u32::try_from(months).ok()?))
}

fn last_day(first: NaiveDate) -> NaiveDate {
    first.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(first)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn weekly_numbered() {
        let p = Pattern::parse(&json!({
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday"], "firstDayOfWeek": "sunday"},
            "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 3}
        }))
        .unwrap();
        assert_eq!(p.dates_until(d(2027, 1, 1)), vec![d(2026, 1, 5), d(2026, 1, 7), d(2026, 1, 12)]);
    }

    #[test]
    fn relative_monthly_last_friday_until() {
        let p = Pattern::parse(&json!({
            "pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
            "range": {"type": "endDate", "startDate": "2026-01-01", "endDate": "2026-03-31"}
        }))
        .unwrap();
        assert_eq!(p.dates_until(d(2027, 1, 1)), vec![d(2026, 1, 30), d(2026, 2, 27), d(2026, 3, 27)]);
    }

    #[test]
    fn absolute_yearly_and_daily() {
        let p = Pattern::parse(&json!({
            "pattern": {"type": "absoluteYearly", "interval": 1, "month": 2, "dayOfMonth": 29},
            "range": {"type": "numbered", "startDate": "2026-01-01", "numberOfOccurrences": 2}
        }))
        .unwrap();
        assert_eq!(p.dates_until(d(2030, 1, 1)), vec![d(2026, 2, 28), d(2027, 2, 28)]);
        let p = Pattern::parse(&json!({
            "pattern": {"type": "daily", "interval": 2},
            "range": {"type": "noEnd", "startDate": "2026-01-01"}
        }))
        .unwrap();
        assert_eq!(p.dates_until(d(2026, 1, 6)), vec![d(2026, 1, 1), d(2026, 1, 3), d(2026, 1, 5)]);
        assert!(Pattern::parse(&json!({"pattern": {"type": "weekly"}, "range": {"type": "noEnd"}})).is_err());
    }
}
