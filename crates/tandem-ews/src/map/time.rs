//! Times and zones: EWS sends and takes `xs:dateTime` in UTC plus Windows zone ids
//! (`StartTimeZone/@Id`); the model keeps IANA zones. Windows ⇄ IANA uses
//! `tandem_core::interchange::{windows_to_iana, iana_to_windows}` (CLDR `windowsZones`, the
//! same table the Graph connector uses), so both connectors agree on every zone.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use tandem_core::interchange::{iana_to_windows, windows_to_iana};

/// The IANA name and zone of a Windows zone id (or an IANA name, or UTC's spellings).
pub(crate) fn resolve_zone(name: &str) -> Option<(String, Tz)> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    if ["utc", "tzone://Microsoft/Utc", "Etc/UTC", "Coordinated Universal Time", "GMT"]
        .iter()
        .any(|u| name.eq_ignore_ascii_case(u))
    {
        return Some(("UTC".to_owned(), chrono_tz::UTC));
    }
    if let Some(iana) = windows_to_iana(name) {
        return iana.parse::<Tz>().ok().map(|tz| (iana.to_owned(), tz));
    }
    name.parse::<Tz>().ok().map(|tz| (tz.name().to_owned(), tz))
}

/// The Windows id EWS is sent for an IANA zone (`UTC` stays `UTC`).
pub(crate) fn windows_id(iana: &str) -> Option<&'static str> {
    if iana.eq_ignore_ascii_case("UTC") || iana.eq_ignore_ascii_case("Etc/UTC") {
        return Some("UTC");
    }
    iana_to_windows(iana)
}

/// Parses an `xs:dateTime` with an offset (`2026-01-05T08:00:00Z`); without one, as UTC.
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc()))
}

/// Formats an instant for EWS (`2026-01-05T08:00:00Z`).
pub(crate) fn format_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The instant of a local time in a zone: the earlier one when ambiguous; a time in a gap moves
/// forward by the gap.
pub(crate) fn instant(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| tz.from_local_datetime(&local.checked_add_signed(chrono::TimeDelta::hours(1))?).earliest())
        .map(|t| t.with_timezone(&Utc))
}

/// The local time of an instant in a zone, checked at the ends of chrono's range.
pub(crate) fn local_in(t: DateTime<Utc>, tz: Tz) -> Option<NaiveDateTime> {
    tandem_core::guard::local_time(t, &tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_iana_zones() {
        assert_eq!(resolve_zone("W. Europe Standard Time").unwrap().0, "Europe/Berlin");
        assert_eq!(resolve_zone("Pacific Standard Time").unwrap().0, "America/Los_Angeles");
        assert_eq!(resolve_zone("Romance Standard Time").unwrap().0, "Europe/Paris");
        assert_eq!(resolve_zone("UTC").unwrap().0, "UTC");
        assert_eq!(resolve_zone("Europe/Paris").unwrap().0, "Europe/Paris");
        assert!(resolve_zone("Nowhere Standard Time").is_none());
        assert_eq!(windows_id("Europe/Paris"), Some("Romance Standard Time"));
        assert_eq!(windows_id("America/New_York"), Some("Eastern Standard Time"));
        assert_eq!(windows_id("UTC"), Some("UTC"));
        assert_eq!(windows_id("Asia/Kolkata"), Some("India Standard Time"));
    }

    #[test]
    fn instants_parse_and_format() {
        let t = parse_instant("2026-01-05T08:00:00Z").unwrap();
        assert_eq!(format_instant(t), "2026-01-05T08:00:00Z");
        assert_eq!(parse_instant("2026-01-05T09:00:00+01:00"), Some(t));
        assert!(parse_instant("+262142-12-31T23:59:59Z").is_none() || local_in(t, chrono_tz::UTC).is_some());
        assert!(parse_instant("garbage").is_none());
    }
}
