//! iCalendar (RFC 5545) import and export of [`Event`]s.
//!
//! # Code map
//!
//! - `mod.rs`: the entry points [`parse_icalendar`] and [`write_icalendar`], and Tandem's property names.
//! - `read.rs`: `VEVENT`s into events: grouping by `UID`, masters, instances, busy status.
//! - `timing.rs`: `TZID` zones, timing, dates, date-times, durations, occurrence keys, `RRULE` checks.
//! - `people.rs`: `ORGANIZER` and `ATTENDEE`: address, name, role, response.
//! - `write.rs`: an event as `VEVENT`s: master, recurrence, overrides, shared properties.
//! - `tests.rs`: unit tests.

mod people;
mod read;
mod timing;
mod write;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use super::InterchangeError;
use super::text::{self, ContentWriter, ICALENDAR};
use crate::model::Event;
#[cfg(doc)]
use crate::model::Recurrence;
use read::calendar_events;
use write::write_event;

/// Parameter on `UID` marking a UID that Tandem made up for an event without one.
const GENERATED: &str = "X-TANDEM-GENERATED";
/// Parameter on `EXDATE` marking a cancelled occurrence rather than a plain exclusion.
const CANCELLED: &str = "X-TANDEM-CANCELLED";
/// Prefix of Tandem's own properties: custom fields and CRM links.
const PREFIX: &str = "X-TANDEM-";
/// `X-TANDEM-CRM-LINK` holds a CRM link; its object type is in this parameter.
const CRM_LINK: &str = "CRM-LINK";
const CRM_OBJECT: &str = "X-TANDEM-OBJECT";
/// The `DTSTAMP` written: this crate has no clock.
const DTSTAMP: &str = "19700101T000000Z";

/// Parses iCalendar text (one or more `VCALENDAR`s) into events.
///
/// `VEVENT`s are grouped by `UID`: the master (without `RECURRENCE-ID`) carries `RRULE`, `RDATE`
/// and `EXDATE`; instances with `RECURRENCE-ID` become [`Recurrence::overrides`], or
/// [`Recurrence::cancelled`] when `STATUS:CANCELLED`. `VTODO`, `VJOURNAL`, `VFREEBUSY` and
/// `VALARM` are ignored. Text that is empty or only white space gives no events. See the
/// [module documentation](super) for time zones and the other mapping rules.
///
/// # Errors
///
/// [`InterchangeError::Parse`] for malformed text, [`InterchangeError::MissingProperty`] for a
/// `VEVENT` without `DTSTART`, [`InterchangeError::UnknownTimeZone`] for a `TZID` or `VTIMEZONE`
/// that maps to no IANA zone, [`InterchangeError::InvalidValue`] for unreadable dates, durations
/// and rules, [`InterchangeError::EndBeforeStart`].
pub fn parse_icalendar(text: &str) -> Result<Vec<Event>, InterchangeError> {
    let prepared = text::prepare(text, &ICALENDAR)?;
    let calendars = text::contained_parse(ical::IcalParser::new(prepared.text.as_bytes()))?;
    let mut events = Vec::new();
    for calendar in calendars {
        let calendar = calendar.map_err(|e| prepared.error(e))?;
        events.extend(calendar_events(calendar)?);
    }
    Ok(events)
}

/// Writes events as one `VCALENDAR`: CRLF line endings, folded at 75 octets, text escaped, zones
/// referenced by IANA name without `VTIMEZONE` blocks.
///
/// Overrides become extra `VEVENT`s with `RECURRENCE-ID` (fields an override leaves unchanged
/// are copied from the master); cancelled occurrences become `EXDATE`s marked
/// `X-TANDEM-CANCELLED=TRUE`. Writing never fails; [`parse_icalendar`] reads the result back into
/// the same values.
pub fn write_icalendar(events: &[Event]) -> String {
    let mut w = ContentWriter::default();
    w.line("BEGIN", &[], "VCALENDAR");
    w.line("VERSION", &[], "2.0");
    w.line("PRODID", &[], "-//Tandem//Tandem interchange//EN");
    w.line("CALSCALE", &[], "GREGORIAN");
    for (index, event) in events.iter().enumerate() {
        write_event(&mut w, index, event);
    }
    w.line("END", &[], "VCALENDAR");
    w.finish()
}
