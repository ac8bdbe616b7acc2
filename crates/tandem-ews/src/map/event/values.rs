//! The EWS form of an event's fields, shared by creates, updates and occurrences: times and
//! zones, the series pattern, attendee lists, sensitivity, free/busy status and categories.

use chrono::{DateTime, NaiveTime, Utc};
use tandem_core::model::{Attendee, AttendeeRole, EventTime, EventTiming, Privacy, Recurrence, ShowAs};

use crate::map::recurrence::{self, SeriesStart};
use crate::map::time::{instant, resolve_zone, windows_id};
use crate::xml::XmlWriter;

/// `(instant, Windows zone id)` of a time to write.
pub(super) fn write_time(t: &EventTime) -> Result<(DateTime<Utc>, &'static str), String> {
    match t {
        EventTime::Zoned { local, zone } => {
            let (iana, tz) = resolve_zone(zone).ok_or_else(|| format!("unknown time zone `{zone}`"))?;
            let id = windows_id(&iana).ok_or_else(|| format!("time zone `{iana}` has no Windows equivalent"))?;
            Ok((instant(*local, tz).ok_or("a local time that does not exist")?, id))
        }
        EventTime::AllDay { date } => Ok((date.and_time(NaiveTime::MIN).and_utc(), "UTC")),
    }
}

/// The pattern of a series as EWS holds it. Changed and cancelled occurrences (EXDATEs are
/// cancellations) are written afterwards, occurrence by occurrence; extra dates (RDATE) have no
/// EWS equivalent and are refused.
pub(super) fn ews_recurrence(r: &Recurrence, timing: &EventTiming) -> Result<recurrence::EwsRecurrence, String> {
    if !r.rdates.is_empty() {
        return Err("extra dates (RDATE) cannot be written to EWS: an Exchange series has no occurrence \
                    outside its pattern"
            .to_owned());
    }
    let [rule] = r.rules.as_slice() else {
        return Err("EWS series have exactly one rule".to_owned());
    };
    recurrence::from_rrule(rule, &series_start(timing)?)
}

pub(super) fn series_start(timing: &EventTiming) -> Result<SeriesStart, String> {
    Ok(match &timing.start {
        EventTime::Zoned { local, zone } => {
            let (_, tz) = resolve_zone(zone).ok_or_else(|| format!("unknown time zone `{zone}`"))?;
            SeriesStart { date: local.date(), time: Some(local.time()), tz }
        }
        EventTime::AllDay { date } => SeriesStart { date: *date, time: None, tz: chrono_tz::UTC },
    })
}

pub(super) fn write_attendee_list(w: &mut XmlWriter, element: &str, list: &[&Attendee]) {
    w.open(element, &[]);
    for a in list {
        w.open("t:Attendee", &[]);
        w.open("t:Mailbox", &[]);
        if let Some(name) = &a.name {
            w.text("t:Name", name);
        }
        w.text("t:EmailAddress", &a.email);
        w.text("t:RoutingType", "SMTP");
        w.close("t:Mailbox");
        w.close("t:Attendee");
    }
    w.close(element);
}

pub(super) const ATTENDEE_LISTS: [(AttendeeRole, &str, &str); 3] = [
    (AttendeeRole::Required, "calendar:RequiredAttendees", "t:RequiredAttendees"),
    (AttendeeRole::Optional, "calendar:OptionalAttendees", "t:OptionalAttendees"),
    (AttendeeRole::Resource, "calendar:Resources", "t:Resources"),
];

pub(super) fn sensitivity(p: Privacy) -> &'static str {
    match p {
        Privacy::Private => "Private",
        Privacy::Normal => "Normal",
    }
}

pub(super) fn free_busy(s: ShowAs) -> &'static str {
    match s {
        ShowAs::Free => "Free",
        ShowAs::Tentative => "Tentative",
        ShowAs::Busy => "Busy",
        ShowAs::OutOfOffice => "OOF",
        ShowAs::WorkingElsewhere => "WorkingElsewhere",
    }
}

pub(super) fn write_categories(w: &mut XmlWriter, list: &[String]) {
    w.open("t:Categories", &[]);
    for c in list {
        w.text("t:String", c);
    }
    w.close("t:Categories");
}
