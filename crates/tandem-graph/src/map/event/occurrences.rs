//! The occurrences of a series: their keys (from `originalStart` or a cancelled entry's date),
//! and whether an instance is the occurrence of a key.

use chrono::{DateTime, NaiveDate, Utc};
use tandem_core::model::EventTime;

use super::zones::{Zone, utc, zone};
use crate::map::time::local_in;

/// The key of an occurrence of a series: its original start in the series' zone (or its date).
pub(super) fn occurrence_key(original: DateTime<Utc>, all_day: bool, series_zone: &Zone) -> Result<EventTime, String> {
    let local = local_in(original, series_zone.tz)
        .ok_or_else(|| format!("originalStart {original} is out of range in {}", series_zone.name))?;
    Ok(if all_day {
        EventTime::AllDay { date: local.date() }
    } else {
        EventTime::Zoned { local, zone: series_zone.name.clone() }
    })
}

/// The date of an entry of `cancelledOccurrences` (`OID.{masterId}.{yyyy-MM-dd}`).
pub(super) fn cancelled_date(entry: &str) -> Option<NaiveDate> {
    let tail = entry.rsplit('.').next()?;
    NaiveDate::parse_from_str(tail, "%Y-%m-%d").ok()
}

/// Whether an instance (by its `originalStart`, and for all-day series the zone of its `start`)
/// is the occurrence keyed `key`.
pub(crate) fn is_occurrence(key: &EventTime, original: DateTime<Utc>, instance_zone: Option<&str>) -> bool {
    match key {
        EventTime::AllDay { date } => {
            let tz = zone(instance_zone).unwrap_or_else(utc).tz;
            local_in(original, tz).is_some_and(|t| t.date() == *date)
        }
        EventTime::Zoned { .. } => key.instant() == Some(original),
    }
}
