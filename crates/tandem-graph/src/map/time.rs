//! Times and zones between Graph (`dateTimeTimeZone`, Windows zone names, `Edm.DateTimeOffset`)
//! and the model (local times in IANA zones).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use tandem_core::interchange::{iana_to_windows, windows_to_iana};

use super::types::DateTimeTimeZone;

/// Resolves a Graph zone name (Windows, IANA, or Outlook's UTC spellings) to an IANA zone.
pub(crate) fn resolve_zone(name: &str) -> Option<(String, Tz)> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    if name.eq_ignore_ascii_case("utc")
        || name.eq_ignore_ascii_case("tzone://Microsoft/Utc")
        || name.eq_ignore_ascii_case("Etc/UTC")
        || name.eq_ignore_ascii_case("Coordinated Universal Time")
    {
        return Some(("UTC".to_owned(), chrono_tz::UTC));
    }
    if let Some(iana) = windows_to_iana(name) {
        return iana.parse::<Tz>().ok().map(|tz| (iana.to_owned(), tz));
    }
    name.parse::<Tz>().ok().map(|tz| (tz.name().to_owned(), tz))
}

/// The zone name to write for an IANA zone: its Windows name, or the IANA name itself when it
/// has none (or when asked to).
pub(crate) fn graph_zone_name(iana: &str, iana_names: bool) -> String {
    if iana == "UTC" {
        return "UTC".to_owned();
    }
    if iana_names {
        return iana.to_owned();
    }
    iana_to_windows(iana).map_or_else(|| iana.to_owned(), str::to_owned)
}

/// Parses Graph's `dateTime` (`2026-01-05T09:00:00.0000000`, fraction optional).
pub(crate) fn parse_local(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.trim().trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// Formats a local time for Graph.
pub(crate) fn format_local(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Parses an `Edm.DateTimeOffset`.
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// The instant of a local time in a zone: the earlier one when ambiguous; a time in a gap moves
/// forward by the gap.
pub(crate) fn instant(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| tz.from_local_datetime(&local.checked_add_signed(chrono::TimeDelta::hours(1))?).earliest())
        .map(|t| t.with_timezone(&Utc))
}

/// The instant a `dateTimeTimeZone` denotes.
pub(crate) fn dttz_instant(v: &DateTimeTimeZone) -> Option<DateTime<Utc>> {
    let local = parse_local(&v.date_time)?;
    let (_, tz) = resolve_zone(v.time_zone.as_deref().unwrap_or("UTC"))?;
    instant(local, tz)
}

/// The local time of an instant in a zone; `None` at the ends of chrono's range, where the
/// zone's offset would take it out (checked: `with_timezone(..).naive_local()` panics there).
pub(crate) fn local_in(t: DateTime<Utc>, tz: Tz) -> Option<NaiveDateTime> {
    tandem_core::guard::local_time(t, &tz)
}

/// The local date of a `dateTimeTimeZone` (for all-day events, which stay in their own zone).
pub(crate) fn dttz_date(v: &DateTimeTimeZone) -> Option<NaiveDate> {
    parse_local(&v.date_time).map(|t| t.date())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn zones() {
        assert_eq!(resolve_zone("Romance Standard Time").unwrap().0, "Europe/Paris");
        assert_eq!(resolve_zone("tzone://Microsoft/Utc").unwrap().0, "UTC");
        assert_eq!(resolve_zone("Asia/Tokyo").unwrap().0, "Asia/Tokyo");
        assert!(resolve_zone("Customized Time Zone").is_none());
        assert_eq!(graph_zone_name("Europe/Paris", false), "Romance Standard Time");
        assert_eq!(graph_zone_name("Europe/Paris", true), "Europe/Paris");
        assert_eq!(graph_zone_name("UTC", false), "UTC");
    }

    #[test]
    fn times() {
        let t = parse_local("2026-03-29T02:30:00.0000000").unwrap();
        assert_eq!(format_local(t), "2026-03-29T02:30:00");
        // In the spring-forward gap in Paris: moved forward.
        let i = instant(t, chrono_tz::Europe::Paris).unwrap();
        assert_eq!(i.to_rfc3339(), "2026-03-29T01:30:00+00:00");
        assert!(parse_instant("2026-01-05T09:00:00Z").is_some());
    }

    #[test]
    fn extreme_times_are_none_not_panics() {
        // Issue 8: chrono's `+` and `naive_local` panic at the ends of its range.
        // West of UTC the last local time has no instant, and the retry an hour later overflowed.
        assert_eq!(instant(NaiveDateTime::MAX, chrono_tz::America::New_York), None);
        assert_eq!(instant(NaiveDateTime::MAX, chrono_tz::UTC).map(|t| t.naive_utc()), Some(NaiveDateTime::MAX));
        assert_eq!(local_in(DateTime::<Utc>::MAX_UTC, chrono_tz::Asia::Tokyo), None);
        assert_eq!(local_in(DateTime::<Utc>::MIN_UTC, chrono_tz::America::New_York), None);
    }
}
