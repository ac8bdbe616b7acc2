//! Date literals (`TODAY`, `LAST_WEEK`, `LAST_N_DAYS:n`…): names, and the range of days each
//! covers relative to today.

use chrono::{Datelike, Duration, Months, NaiveDate};

/// A date literal of the supported subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateLiteral {
    Yesterday,
    Today,
    Tomorrow,
    LastWeek,
    ThisWeek,
    NextWeek,
    LastMonth,
    ThisMonth,
    NextMonth,
    LastNDays(u32),
    NextNDays(u32),
    NDaysAgo(u32),
}

impl DateLiteral {
    pub(super) fn named(name: &str) -> Option<DateLiteral> {
        let upper = name.to_ascii_uppercase();
        Some(match upper.as_str() {
            "YESTERDAY" => DateLiteral::Yesterday,
            "TODAY" => DateLiteral::Today,
            "TOMORROW" => DateLiteral::Tomorrow,
            "LAST_WEEK" => DateLiteral::LastWeek,
            "THIS_WEEK" => DateLiteral::ThisWeek,
            "NEXT_WEEK" => DateLiteral::NextWeek,
            "LAST_MONTH" => DateLiteral::LastMonth,
            "THIS_MONTH" => DateLiteral::ThisMonth,
            "NEXT_MONTH" => DateLiteral::NextMonth,
            "LAST_90_DAYS" => DateLiteral::LastNDays(90),
            "NEXT_90_DAYS" => DateLiteral::NextNDays(90),
            _ => return None,
        })
    }

    pub(super) fn with_n(name: &str, n: u32) -> Option<DateLiteral> {
        let upper = name.to_ascii_uppercase();
        Some(match upper.as_str() {
            "LAST_N_DAYS" => DateLiteral::LastNDays(n),
            "NEXT_N_DAYS" => DateLiteral::NextNDays(n),
            "N_DAYS_AGO" => DateLiteral::NDaysAgo(n),
            _ => return None,
        })
    }

    /// The days it covers when it is `today`: `[start, end)`.
    pub(crate) fn range(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        let days = |n: u32| Duration::days(i64::from(n));
        let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
        let first = today.with_day(1).unwrap_or(today);
        let month = |start: Option<NaiveDate>| {
            let start = start.unwrap_or(first);
            (start, start.checked_add_months(Months::new(1)).unwrap_or(start))
        };
        match self {
            DateLiteral::Yesterday => (today - days(1), today),
            DateLiteral::Today => (today, today + days(1)),
            DateLiteral::Tomorrow => (today + days(1), today + days(2)),
            DateLiteral::LastWeek => (monday - days(7), monday),
            DateLiteral::ThisWeek => (monday, monday + days(7)),
            DateLiteral::NextWeek => (monday + days(7), monday + days(14)),
            DateLiteral::LastMonth => month(first.checked_sub_months(Months::new(1))),
            DateLiteral::ThisMonth => month(Some(first)),
            DateLiteral::NextMonth => month(first.checked_add_months(Months::new(1))),
            DateLiteral::LastNDays(n) => (today - days(n), today + days(1)),
            DateLiteral::NextNDays(n) => (today + days(1), today + days(1) + days(n)),
            DateLiteral::NDaysAgo(n) => (today - days(n), today - days(n) + days(1)),
        }
    }
}
