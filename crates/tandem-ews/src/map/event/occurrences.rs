//! Single occurrences of a series: whether a series has any to write, their `InstanceIndex`, and
//! the updates making one say what its override says.

use chrono::{DateTime, Utc};
use tandem_core::model::{Event, EventTime, EventTiming, OccurrenceOverride, Recurrence};

use super::values::write_time;
use crate::map::time::{format_instant, resolve_zone};
use crate::map::{delete_field, set_field};
use crate::xml::XmlWriter;

/// Whether a series has changed or cancelled occurrences to write after its master.
pub(crate) fn has_exceptions(r: &Recurrence) -> bool {
    !r.overrides.is_empty() || !r.cancelled.is_empty() || !r.exdates.is_empty()
}

/// The 1-based `InstanceIndex` of the occurrence of `series` starting at `original`: its rank in
/// the expansion of the series' rule from its start, in its zone (as Exchange counts). `None`
/// when no occurrence starts then.
///
/// # Errors
///
/// A series that is not one EWS-expressible rule, or a rule the `rrule` crate cannot expand.
pub(crate) fn instance_index(series: &Event, original: DateTime<Utc>) -> Result<Option<u32>, String> {
    let rule = match series.recurrence.as_ref().map(|r| r.rules.as_slice()) {
        Some([rule]) => rule.clone(),
        _ => return Err("not a series of one rule".to_owned()),
    };
    let (dtstart, rule) = match &series.timing.start {
        EventTime::Zoned { local, zone } => {
            let (iana, _) = resolve_zone(zone).ok_or_else(|| format!("unknown time zone `{zone}`"))?;
            (format!("DTSTART;TZID={iana}:{}", local.format("%Y%m%dT%H%M%S")), rule)
        }
        // All-day series are held from midnight UTC; a date-only UNTIL ends on that day.
        EventTime::AllDay { date } => {
            let rule = rule
                .split(';')
                .map(|part| match part.strip_prefix("UNTIL=") {
                    Some(d) if d.len() == 8 => format!("UNTIL={d}T000000Z"),
                    _ => part.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(";");
            (format!("DTSTART:{}T000000Z", date.format("%Y%m%d")), rule)
        }
    };
    let Some(end) = original.checked_add_signed(chrono::TimeDelta::seconds(1)) else {
        return Ok(None);
    };
    let text = format!("{dtstart}\nRRULE:{rule}");
    let found = tandem_core::guard::contain("the rrule expansion", || {
        let set: rrule::RRuleSet = text.parse().map_err(|e: rrule::RRuleError| e.to_string())?;
        let result = set.before(end.with_timezone(&rrule::Tz::UTC)).all(u16::MAX);
        Ok::<_, String>((result.dates.into_iter().map(|d| d.with_timezone(&Utc)).collect::<Vec<_>>(), result.limited))
    })
    .map_err(|e| format!("the rule `{rule}` cannot be expanded: {e}"))?;
    let (dates, limited) = found.map_err(|e| format!("the rule `{rule}` cannot be expanded: {e}"))?;
    match dates.last() {
        Some(last) if *last == original => Ok(u32::try_from(dates.len()).ok()),
        _ if limited => Err("the occurrence is too far into the series".to_owned()),
        _ => Ok(None),
    }
}

/// An override as the read path produces it against `master`: only what differs from the
/// master and from the occurrence's original times (`original`, `original_end`).
pub(crate) fn normalized(
    o: &OccurrenceOverride,
    master: &Event,
    original: DateTime<Utc>,
    original_end: DateTime<Utc>,
) -> OccurrenceOverride {
    let moved = |t: &EventTiming| t.start.instant() != Some(original) || t.end.instant() != Some(original_end);
    OccurrenceOverride {
        timing: o.timing.clone().filter(moved),
        subject: o.subject.clone().filter(|s| Some(s) != master.subject.as_ref()),
        location: o.location.clone().filter(|s| Some(s) != master.location.as_ref()),
        description: o.description.clone().filter(|s| Some(s) != master.description.as_ref()),
    }
}

/// Whether two normalized overrides say the same (timings compared as instants).
pub(crate) fn same_override(a: &OccurrenceOverride, b: &OccurrenceOverride) -> bool {
    let times =
        |o: &OccurrenceOverride| o.timing.as_ref().map(|t| (t.start.instant(), t.end.instant(), t.start.is_all_day()));
    times(a) == times(b) && a.subject == b.subject && a.location == b.location && a.description == b.description
}

/// Writes the updates making one occurrence say `o` (normalized against `master`): its times
/// (the original ones when it did not move), subject, location and body (the master's when the
/// override has none).
pub(crate) fn write_occurrence(
    w: &mut XmlWriter,
    o: &OccurrenceOverride,
    master: &Event,
    original: DateTime<Utc>,
    original_end: DateTime<Utc>,
) -> Result<(), String> {
    const ITEM: &str = "t:CalendarItem";
    match &o.timing {
        Some(t) => {
            let (start, start_zone) = write_time(&t.start)?;
            let (end, end_zone) = write_time(&t.end)?;
            set_field(w, "calendar:StartTimeZone", ITEM, |w| w.empty("t:StartTimeZone", &[("Id", start_zone)]));
            set_field(w, "calendar:EndTimeZone", ITEM, |w| w.empty("t:EndTimeZone", &[("Id", end_zone)]));
            set_field(w, "calendar:Start", ITEM, |w| w.text("t:Start", &format_instant(start)));
            set_field(w, "calendar:End", ITEM, |w| w.text("t:End", &format_instant(end)));
        }
        None => {
            set_field(w, "calendar:Start", ITEM, |w| w.text("t:Start", &format_instant(original)));
            set_field(w, "calendar:End", ITEM, |w| w.text("t:End", &format_instant(original_end)));
        }
    }
    match o.subject.as_ref().or(master.subject.as_ref()) {
        Some(s) => set_field(w, "item:Subject", ITEM, |w| w.text("t:Subject", s)),
        None => delete_field(w, "item:Subject"),
    }
    match o.description.as_ref().or(master.description.as_ref()) {
        Some(d) => set_field(w, "item:Body", ITEM, |w| w.text_with("t:Body", &[("BodyType", "Text")], d)),
        None => delete_field(w, "item:Body"),
    }
    match o.location.as_ref().or(master.location.as_ref()) {
        Some(l) => set_field(w, "calendar:Location", ITEM, |w| w.text("t:Location", l)),
        None => delete_field(w, "calendar:Location"),
    }
    Ok(())
}
