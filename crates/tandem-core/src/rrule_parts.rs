//! The parts of an RRULE that connectors translate into their provider's recurrence shapes
//! (Graph's `patternedRecurrence`, EWS's `Recurrence`): weekday codes, `BYDAY` entries, single
//! numbers and `UNTIL`. Pure text parsing, shared so every connector reads a rule the same way;
//! the provider shapes themselves stay in the connectors.

use chrono::{NaiveDate, NaiveDateTime, Weekday};
use chrono_tz::Tz;

const CODES: [(Weekday, &str); 7] = [
    (Weekday::Mon, "MO"),
    (Weekday::Tue, "TU"),
    (Weekday::Wed, "WE"),
    (Weekday::Thu, "TH"),
    (Weekday::Fri, "FR"),
    (Weekday::Sat, "SA"),
    (Weekday::Sun, "SU"),
];

/// The weekday of an iCalendar code (`MO`…`SU`, any case).
pub fn weekday_from_code(code: &str) -> Option<Weekday> {
    CODES.iter().find(|(_, c)| c.eq_ignore_ascii_case(code)).map(|(d, _)| *d)
}

/// The iCalendar code of a weekday.
pub fn weekday_code(day: Weekday) -> &'static str {
    CODES.iter().find(|(d, _)| *d == day).map_or("MO", |(_, c)| c)
}

/// `BYDAY` entries as `(ordinal, day)`: `2TU` is `(Some(2), Tue)`, `-1FR` is `(Some(-1), Fri)`.
///
/// # Errors
///
/// The entry, when one is not an optional signed number followed by a weekday code.
pub fn parse_byday(value: &str) -> Result<Vec<(Option<i64>, Weekday)>, String> {
    value
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            // Split before the last two characters (not bytes: `ña` must not be cut inside `ñ`).
            let split = entry.char_indices().rev().nth(1).map_or(0, |(i, _)| i);
            let (ordinal, code) = entry.split_at(split);
            let invalid = || format!("invalid BYDAY entry `{entry}`");
            let day = weekday_from_code(code).ok_or_else(invalid)?;
            let ordinal = if ordinal.is_empty() {
                None
            } else {
                Some(ordinal.trim_start_matches('+').parse::<i64>().map_err(|_| invalid())?)
            };
            Ok((ordinal, day))
        })
        .collect()
}

/// A rule part that must hold one number (`INTERVAL`, `COUNT`, `BYMONTHDAY`…). `target` names the
/// provider for the message when several values are given and it can hold only one.
///
/// # Errors
///
/// Several values, or one that is not a number.
pub fn single_number(value: &str, name: &str, target: &str) -> Result<i64, String> {
    if value.contains(',') {
        return Err(format!("several {name} values cannot be expressed in {target}"));
    }
    value.trim().parse::<i64>().map_err(|_| format!("invalid {name} `{value}`"))
}

/// The local end date of a series from its `UNTIL`: a date, a UTC time (taken in the series'
/// zone `tz`), or a floating local time.
///
/// # Errors
///
/// A value of none of those forms.
pub fn until_date(value: &str, tz: Tz) -> Result<NaiveDate, String> {
    let v = value.trim();
    let invalid = || format!("invalid UNTIL `{v}`");
    if v.len() == 8 {
        return NaiveDate::parse_from_str(v, "%Y%m%d").map_err(|_| invalid());
    }
    if let Some(utc) = v.strip_suffix('Z') {
        let t = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").map_err(|_| invalid())?;
        return crate::guard::local_time(t.and_utc(), &tz).map(|t| t.date()).ok_or_else(invalid);
    }
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").map(|t| t.date()).map_err(|_| invalid())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parts_parse_as_the_connectors_need_them() {
        assert_eq!(
            parse_byday("MO,2TU,-1fr").unwrap(),
            [(None, Weekday::Mon), (Some(2), Weekday::Tue), (Some(-1), Weekday::Fri)]
        );
        assert!(parse_byday("ña").is_err() && parse_byday("2ña").is_err() && parse_byday("XX").is_err());
        assert_eq!(weekday_code(Weekday::Sun), "SU");
        assert_eq!(single_number(" 3 ", "COUNT", "Graph").unwrap(), 3);
        assert!(single_number("1,15", "BYMONTHDAY", "EWS").unwrap_err().contains("EWS"));
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(until_date("20270115", paris).unwrap(), d("2027-01-15"));
        // 23:30 UTC is already the next day in Paris.
        assert_eq!(until_date("20270115T233000Z", paris).unwrap(), d("2027-01-16"));
        assert_eq!(until_date("20270115T233000", paris).unwrap(), d("2027-01-15"));
        assert!(until_date("soon", paris).is_err());
    }
}
