//! Finding the n-th occurrence of a recurring master, as far as `OccurrenceItemId`,
//! `ModifiedOccurrences` and `DeletedOccurrences` need it.
//!
//! Simplification: occurrences are computed on the master's `Start` in UTC (its wall-clock time in
//! UTC on every matching date); the `StartTimeZone`'s daylight-saving shifts are not applied.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use super::xml::Element;

/// The furthest an expansion looks (days after the pattern's start).
const HORIZON_DAYS: i64 = 366 * 30;

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name {
        "Sunday" => Weekday::Sun,
        "Monday" => Weekday::Mon,
        "Tuesday" => Weekday::Tue,
        "Wednesday" => Weekday::Wed,
        "Thursday" => Weekday::Thu,
        "Friday" => Weekday::Fri,
        "Saturday" => Weekday::Sat,
        _ => return None,
    })
}

fn day_matches(spec: &str, d: NaiveDate) -> bool {
    match spec {
        "Day" => true,
        "Weekday" => !matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
        "WeekendDay" => matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
        other => weekday(other) == Some(d.weekday()),
    }
}

fn month(name: &str) -> Option<u32> {
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
    MONTHS.iter().position(|m| *m == name).and_then(|i| u32::try_from(i + 1).ok())
}

/// Whether `d` is the `index`-th (First..Fourth, Last) day matching `spec` in its month.
fn relative_matches(spec: &str, index: &str, d: NaiveDate) -> bool {
    if !day_matches(spec, d) {
        return false;
    }
    let in_month = |x: NaiveDate| x.month() == d.month();
    let before = (1..=31).filter_map(|k| d.checked_sub_signed(Duration::days(k))).take_while(|x| in_month(*x));
    let earlier = before.filter(|x| day_matches(spec, *x)).count();
    match index {
        "First" => earlier == 0,
        "Second" => earlier == 1,
        "Third" => earlier == 2,
        "Fourth" => earlier == 3,
        "Last" => (1..=31)
            .filter_map(|k| d.checked_add_signed(Duration::days(k)))
            .take_while(|x| in_month(*x))
            .all(|x| !day_matches(spec, x)),
        _ => false,
    }
}

fn months_between(a: NaiveDate, b: NaiveDate) -> i64 {
    (i64::from(b.year()) - i64::from(a.year())) * 12 + i64::from(b.month()) - i64::from(a.month())
}

fn int(el: &Element, name: &str) -> Option<i64> {
    el.child_text(name).and_then(|t| t.parse().ok())
}

/// Parses an `xs:dateTime` as EWS sends it (with `Z` or an offset; without one, UTC).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok().map(|n| n.and_utc()))
}

/// Writes a time as EWS does.
pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The start and end of occurrence `index` (1-based) of a master with these properties; `None`
/// when the index is outside the recurrence's range or the recurrence is not understood.
pub(crate) fn occurrence(props: &[Element], index: u32) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if index == 0 {
        return None;
    }
    let get = |n: &str| props.iter().find(|p| p.name == n);
    let start = parse_time(&get("Start")?.text)?;
    let end = parse_time(&get("End")?.text)?;
    let recurrence = get("Recurrence")?;
    let pattern = recurrence.children.first()?;
    let range = recurrence.children.get(1)?;
    let first = NaiveDate::parse_from_str(range.child_text("StartDate")?.get(..10)?, "%Y-%m-%d").ok()?;
    let count = if range.name == "NumberedRecurrence" { int(range, "NumberOfOccurrences") } else { None };
    let last = if range.name == "EndDateRecurrence" {
        Some(NaiveDate::parse_from_str(range.child_text("EndDate")?.get(..10)?, "%Y-%m-%d").ok()?)
    } else {
        None
    };
    if count.is_some_and(|c| i64::from(index) > c) {
        return None;
    }
    let interval = int(pattern, "Interval").unwrap_or(1).max(1);
    let week_start = pattern.child_text("FirstDayOfWeek").and_then(weekday).unwrap_or(Weekday::Sun);
    let first_week = first - Duration::days(i64::from(first.weekday().days_since(week_start)));
    let matches = |d: NaiveDate| -> bool {
        match pattern.name.as_str() {
            "DailyRecurrence" => (d - first).num_days() % interval == 0,
            "WeeklyRecurrence" => {
                let days = pattern.child_text("DaysOfWeek").unwrap_or_default();
                let week = (d - first_week).num_days() / 7;
                week % interval == 0 && days.split_whitespace().any(|s| day_matches(s, d))
            }
            "AbsoluteMonthlyRecurrence" => {
                months_between(first, d) % interval == 0 && int(pattern, "DayOfMonth") == Some(i64::from(d.day()))
            }
            "RelativeMonthlyRecurrence" => {
                months_between(first, d) % interval == 0
                    && relative_matches(
                        pattern.child_text("DaysOfWeek").unwrap_or_default(),
                        pattern.child_text("DayOfWeekIndex").unwrap_or_default(),
                        d,
                    )
            }
            "AbsoluteYearlyRecurrence" => {
                pattern.child_text("Month").and_then(month) == Some(d.month())
                    && int(pattern, "DayOfMonth") == Some(i64::from(d.day()))
            }
            "RelativeYearlyRecurrence" => {
                pattern.child_text("Month").and_then(month) == Some(d.month())
                    && relative_matches(
                        pattern.child_text("DaysOfWeek").unwrap_or_default(),
                        pattern.child_text("DayOfWeekIndex").unwrap_or_default(),
                        d,
                    )
            }
            _ => false,
        }
    };
    let mut seen = 0u32;
    for offset in 0..HORIZON_DAYS {
        let d = first.checked_add_signed(Duration::days(offset))?;
        if last.is_some_and(|l| d > l) {
            return None;
        }
        if matches(d) {
            seen += 1;
            if seen == index {
                let s = d.and_time(start.time()).and_utc();
                return Some((s, s + (end - start)));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ews::xml::parse;

    fn props(recurrence: &str) -> Vec<Element> {
        let doc = format!(
            r#"<t:CalendarItem xmlns:t="{}"><t:Start>2026-03-02T09:00:00Z</t:Start><t:End>2026-03-02T10:00:00Z</t:End><t:Recurrence>{recurrence}</t:Recurrence></t:CalendarItem>"#,
            crate::ews::xml::NS_T
        );
        parse(&doc).map(|e| e.children).unwrap_or_default()
    }

    fn start(p: &[Element], i: u32) -> Option<String> {
        occurrence(p, i).map(|(s, _)| format_time(s))
    }

    #[test]
    fn expands_patterns_and_ranges() {
        let weekly = props(
            "<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday Wednesday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-03-02</t:StartDate><t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence>",
        );
        assert_eq!(start(&weekly, 1).as_deref(), Some("2026-03-02T09:00:00Z"));
        assert_eq!(start(&weekly, 2).as_deref(), Some("2026-03-04T09:00:00Z"));
        assert_eq!(start(&weekly, 5).as_deref(), Some("2026-03-16T09:00:00Z"));
        assert_eq!(start(&weekly, 6), None);
        assert_eq!(start(&weekly, 0), None);
        let monthly = props(
            "<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Friday</t:DaysOfWeek><t:DayOfWeekIndex>Last</t:DayOfWeekIndex></t:RelativeMonthlyRecurrence><t:EndDateRecurrence><t:StartDate>2026-03-01</t:StartDate><t:EndDate>2026-05-31</t:EndDate></t:EndDateRecurrence>",
        );
        assert_eq!(start(&monthly, 1).as_deref(), Some("2026-03-27T09:00:00Z"));
        assert_eq!(start(&monthly, 3).as_deref(), Some("2026-05-29T09:00:00Z"));
        assert_eq!(start(&monthly, 4), None);
        let daily = props(
            "<t:DailyRecurrence><t:Interval>3</t:Interval></t:DailyRecurrence><t:NoEndRecurrence><t:StartDate>2026-03-02</t:StartDate></t:NoEndRecurrence>",
        );
        assert_eq!(start(&daily, 101).as_deref(), Some("2026-12-27T09:00:00Z"));
    }
}
