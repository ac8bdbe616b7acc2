//! Zones and times as read: the zones an event is shown in, and its timing in them.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tandem_core::model::{EventTime, EventTiming};

use crate::map::time::{dttz_date, dttz_instant, local_in, resolve_zone};
use crate::map::types;

/// A zone as the model names it and as chrono knows it.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) name: String,
    pub(crate) tz: Tz,
}

pub(super) fn utc() -> Zone {
    Zone { name: "UTC".to_owned(), tz: chrono_tz::UTC }
}

pub(super) fn zone(name: Option<&str>) -> Option<Zone> {
    resolve_zone(name?).map(|(name, tz)| Zone { name, tz })
}

/// The zones a read event is shown in.
#[derive(Debug, Clone)]
pub(crate) struct Zones {
    pub(crate) start: Zone,
    pub(crate) end: Zone,
}

/// The zones an event's times are shown in: `originalStartTimeZone` and
/// `originalEndTimeZone` when they resolve, the zone of `start` otherwise, UTC at worst
/// (`Customized Time Zone` and other unknown names).
pub(crate) fn zones_of(e: &types::Event) -> Zones {
    let start_zone = e.start.as_ref().and_then(|s| s.time_zone.as_deref());
    let start = zone(e.original_start_time_zone.as_deref()).or_else(|| zone(start_zone)).unwrap_or_else(utc);
    let end = zone(e.original_end_time_zone.as_deref()).unwrap_or_else(|| start.clone());
    Zones { start, end }
}

/// The timing of an event (or exception) shown in `zones`.
pub(super) fn timing(e: &types::Event, zones: &Zones) -> Result<EventTiming, String> {
    let start = e.start.as_ref().ok_or("the event has no start")?;
    let end = e.end.as_ref().ok_or("the event has no end")?;
    if e.is_all_day.unwrap_or(false) {
        let s = dttz_date(start).ok_or_else(|| format!("invalid start `{}`", start.date_time))?;
        let en = dttz_date(end).ok_or_else(|| format!("invalid end `{}`", end.date_time))?;
        return Ok(EventTiming { start: EventTime::AllDay { date: s }, end: EventTime::AllDay { date: en } });
    }
    let s =
        dttz_instant(start).ok_or_else(|| format!("invalid start `{}` in `{:?}`", start.date_time, start.time_zone))?;
    let en = dttz_instant(end).ok_or_else(|| format!("invalid end `{}` in `{:?}`", end.date_time, end.time_zone))?;
    let out_of_range = |t: DateTime<Utc>, z: &Zone| format!("{t} is out of range in {}", z.name);
    Ok(EventTiming {
        start: EventTime::Zoned {
            local: local_in(s, zones.start.tz).ok_or_else(|| out_of_range(s, &zones.start))?,
            zone: zones.start.name.clone(),
        },
        end: EventTime::Zoned {
            local: local_in(en, zones.end.tz).ok_or_else(|| out_of_range(en, &zones.end))?,
            zone: zones.end.name.clone(),
        },
    })
}
