//! Calendar events ⇄ `t:CalendarItem`.
//!
//! | model | EWS |
//! |---|---|
//! | subject, description, location | `Subject`, `Body` (`BodyType="Text"`), `Location` |
//! | timing | `Start`/`End` in UTC with `StartTimeZone/@Id`/`EndTimeZone/@Id` (Windows ids ⇄ IANA), `IsAllDayEvent` (all-day events are written from midnight to midnight UTC) |
//! | recurrence | `Recurrence` ⇄ one RRULE; `ModifiedOccurrences` (read with GetItem) ⇄ overrides keyed by `OriginalStart` (written with `UpdateItem` on an `OccurrenceItemId`); `DeletedOccurrences` ⇄ cancellations and EXDATEs (written with `DeleteItem` on an `OccurrenceItemId`); RDATE is refused |
//! | organizer | `Organizer/Mailbox` (read only; left out when it is the mailbox itself) |
//! | attendees | `RequiredAttendees`, `OptionalAttendees`, `Resources` (`Attendee/Mailbox`, `ResponseType`) |
//! | privacy | `Sensitivity` (`Private`/`Confidential` → private) |
//! | show as | `LegacyFreeBusyStatus` (`Free`, `Tentative`, `Busy`, `OOF`, `WorkingElsewhere`) |
//! | categories | `Categories/String` |
//! | iCalendar UID | `UID` |

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{
    Attendee, AttendeeRole, Event, EventTime, EventTiming, OccurrenceOverride, Person, Privacy, Record, Recurrence,
    ResponseStatus, ShowAs,
};
use tandem_core::plan::FieldChange;

use super::recurrence::{self, SeriesStart};
use super::time::{format_instant, instant, local_in, parse_instant, resolve_zone, windows_id};
use super::{delete_field, set_field, text};
use crate::xml::{Element, XmlWriter};

/// The properties read for a calendar item (besides the sync key).
pub(crate) const PROPERTIES: [&str; 22] = [
    "item:Subject",
    "item:Body",
    "item:Sensitivity",
    "item:Categories",
    "item:LastModifiedTime",
    "calendar:UID",
    "calendar:Start",
    "calendar:End",
    "calendar:OriginalStart",
    "calendar:IsAllDayEvent",
    "calendar:LegacyFreeBusyStatus",
    "calendar:Location",
    "calendar:CalendarItemType",
    "calendar:Organizer",
    "calendar:RequiredAttendees",
    "calendar:OptionalAttendees",
    "calendar:Resources",
    "calendar:Recurrence",
    "calendar:ModifiedOccurrences",
    "calendar:DeletedOccurrences",
    "calendar:StartTimeZone",
    "calendar:EndTimeZone",
];

/// A calendar item read from EWS, with what its series needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedEvent {
    pub(crate) event: Event,
    /// `Single`, `Occurrence`, `Exception` or `RecurringMaster`.
    pub(crate) item_type: String,
    /// Modified occurrences of a master: (item id, original start).
    pub(crate) modified: Vec<(String, DateTime<Utc>)>,
    /// The zone of the start.
    pub(crate) tz: Tz,
}

fn zone_of(item: &Element, name: &str) -> Result<(String, Tz), String> {
    match item.child(name).and_then(|z| z.attr("Id")) {
        Some(id) => resolve_zone(id).ok_or_else(|| format!("unknown time zone `{id}`")),
        None => Ok(("UTC".to_owned(), chrono_tz::UTC)),
    }
}

fn event_time(t: DateTime<Utc>, zone: &(String, Tz), all_day: bool) -> Result<EventTime, String> {
    let local = local_in(t, zone.1).ok_or("a time out of range")?;
    Ok(if all_day {
        EventTime::AllDay { date: local.date() }
    } else {
        EventTime::Zoned { local, zone: zone.0.clone() }
    })
}

fn instant_of(item: &Element, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    item.text_of(name).map(|t| parse_instant(t).ok_or_else(|| format!("invalid {name} `{t}`"))).transpose()
}

fn person(mailbox: &Element) -> Option<Person> {
    let email = text(mailbox, "EmailAddress").filter(|e| e.contains('@'))?;
    Some(Person { email, name: text(mailbox, "Name") })
}

fn attendees(item: &Element, list: &str, role: AttendeeRole, out: &mut Vec<Attendee>) {
    let Some(list) = item.child(list) else { return };
    for a in list.children_named("Attendee") {
        let Some(p) = a.child("Mailbox").and_then(person) else { continue };
        let response = match a.text_of("ResponseType") {
            Some("Accept") | Some("Organizer") => ResponseStatus::Accepted,
            Some("Tentative") => ResponseStatus::Tentative,
            Some("Decline") => ResponseStatus::Declined,
            _ => ResponseStatus::NeedsAction,
        };
        out.push(Attendee { email: p.email, name: p.name, role, response });
    }
}

/// A `t:CalendarItem` as a canonical event. `mailbox` is the synced mailbox (its own meetings
/// have no organizer in the model).
pub(crate) fn parse(item: &Element, mailbox: &str) -> Result<ParsedEvent, String> {
    let zone = zone_of(item, "StartTimeZone")?;
    let end_zone = if item.child("EndTimeZone").is_some() { zone_of(item, "EndTimeZone")? } else { zone.clone() };
    let all_day = item.text_of("IsAllDayEvent") == Some("true");
    let start = instant_of(item, "Start")?.ok_or("an event without Start")?;
    let end = instant_of(item, "End")?.ok_or("an event without End")?;
    let timing = EventTiming { start: event_time(start, &zone, all_day)?, end: event_time(end, &end_zone, all_day)? };
    let mut list = Vec::new();
    attendees(item, "RequiredAttendees", AttendeeRole::Required, &mut list);
    attendees(item, "OptionalAttendees", AttendeeRole::Optional, &mut list);
    attendees(item, "Resources", AttendeeRole::Resource, &mut list);
    let organizer =
        item.at(&["Organizer", "Mailbox"]).and_then(person).filter(|p| !p.email.eq_ignore_ascii_case(mailbox.trim()));
    let item_type = item.text_of("CalendarItemType").unwrap_or("Single").to_owned();
    let mut event = Event {
        subject: text(item, "Subject"),
        description: text(item, "Body"),
        location: text(item, "Location"),
        timing,
        recurrence: None,
        organizer,
        attendees: list,
        privacy: match item.text_of("Sensitivity") {
            Some("Private") | Some("Confidential") => Privacy::Private,
            _ => Privacy::Normal,
        },
        show_as: match item.text_of("LegacyFreeBusyStatus") {
            Some("Free") => ShowAs::Free,
            Some("Tentative") => ShowAs::Tentative,
            Some("OOF") => ShowAs::OutOfOffice,
            Some("WorkingElsewhere") => ShowAs::WorkingElsewhere,
            _ => ShowAs::Busy,
        },
        categories: item
            .child("Categories")
            .map(|c| c.children_named("String").map(|s| s.text.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default(),
        crm_links: Vec::new(),
        ical_uid: text(item, "UID"),
        custom: Default::default(),
    };
    let mut modified = Vec::new();
    if let Some(r) = item.child("Recurrence") {
        let local = local_in(start, zone.1).ok_or("a start out of range")?;
        let series = SeriesStart { date: local.date(), time: (!all_day).then(|| local.time()), tz: zone.1 };
        let ews = recurrence::parse(r)?;
        let rule = recurrence::to_rrule(&ews, &series)?;
        let mut rec = Recurrence { rules: vec![rule], ..Recurrence::default() };
        if let Some(deleted) = item.child("DeletedOccurrences") {
            for d in deleted.children_named("DeletedOccurrence") {
                let t = instant_of(d, "Start")?.ok_or("a deleted occurrence without Start")?;
                rec.cancelled.insert(event_time(t, &zone, all_day)?);
            }
        }
        if let Some(list) = item.child("ModifiedOccurrences") {
            for o in list.children_named("Occurrence") {
                let id = o.child("ItemId").and_then(|i| i.attr("Id")).ok_or("a modified occurrence without ItemId")?;
                let original = instant_of(o, "OriginalStart")?.ok_or("a modified occurrence without OriginalStart")?;
                modified.push((id.to_owned(), original));
            }
        }
        event.recurrence = Some(rec);
    }
    Ok(ParsedEvent { event, item_type, modified, tz: zone.1 })
}

/// Folds the exceptions of a series (read with GetItem) into its master as overrides keyed by
/// their original start: only what differs from the master.
pub(crate) fn apply_exceptions(master: &mut ParsedEvent, exceptions: &[(DateTime<Utc>, Event)]) -> Result<(), String> {
    let all_day = master.event.timing.start.is_all_day();
    let zone_name = match &master.event.timing.start {
        EventTime::Zoned { zone, .. } => zone.clone(),
        EventTime::AllDay { .. } => "UTC".to_owned(),
    };
    let zone = (zone_name, master.tz);
    let Some(rec) = master.event.recurrence.as_mut() else { return Ok(()) };
    let duration = match (master.event.timing.start.instant(), master.event.timing.end.instant()) {
        (Some(s), Some(e)) => e.signed_duration_since(s),
        _ => chrono::TimeDelta::zero(),
    };
    for (original, e) in exceptions {
        let key = event_time(*original, &zone, all_day)?;
        let original_end = original.checked_add_signed(duration).ok_or("an occurrence out of range")?;
        let moved = e.timing.start.instant() != Some(*original) || e.timing.end.instant() != Some(original_end);
        let o = OccurrenceOverride {
            timing: moved.then(|| e.timing.clone()),
            subject: e.subject.clone().filter(|s| Some(s) != master.event.subject.as_ref()),
            location: e.location.clone().filter(|s| Some(s) != master.event.location.as_ref()),
            description: e.description.clone().filter(|s| Some(s) != master.event.description.as_ref()),
        };
        if o.timing.is_some() || o.subject.is_some() || o.location.is_some() || o.description.is_some() {
            rec.overrides.insert(key, o);
        }
    }
    Ok(())
}

/// `(instant, Windows zone id)` of a time to write.
fn write_time(t: &EventTime) -> Result<(DateTime<Utc>, &'static str), String> {
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
fn ews_recurrence(r: &Recurrence, timing: &EventTiming) -> Result<recurrence::EwsRecurrence, String> {
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

fn series_start(timing: &EventTiming) -> Result<SeriesStart, String> {
    Ok(match &timing.start {
        EventTime::Zoned { local, zone } => {
            let (_, tz) = resolve_zone(zone).ok_or_else(|| format!("unknown time zone `{zone}`"))?;
            SeriesStart { date: local.date(), time: Some(local.time()), tz }
        }
        EventTime::AllDay { date } => SeriesStart { date: *date, time: None, tz: chrono_tz::UTC },
    })
}

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

fn write_attendee_list(w: &mut XmlWriter, element: &str, list: &[&Attendee]) {
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

const ATTENDEE_LISTS: [(AttendeeRole, &str, &str); 3] = [
    (AttendeeRole::Required, "calendar:RequiredAttendees", "t:RequiredAttendees"),
    (AttendeeRole::Optional, "calendar:OptionalAttendees", "t:OptionalAttendees"),
    (AttendeeRole::Resource, "calendar:Resources", "t:Resources"),
];

fn sensitivity(p: Privacy) -> &'static str {
    match p {
        Privacy::Private => "Private",
        Privacy::Normal => "Normal",
    }
}

fn free_busy(s: ShowAs) -> &'static str {
    match s {
        ShowAs::Free => "Free",
        ShowAs::Tentative => "Tentative",
        ShowAs::Busy => "Busy",
        ShowAs::OutOfOffice => "OOF",
        ShowAs::WorkingElsewhere => "WorkingElsewhere",
    }
}

fn write_categories(w: &mut XmlWriter, list: &[String]) {
    w.open("t:Categories", &[]);
    for c in list {
        w.text("t:String", c);
    }
    w.close("t:Categories");
}

/// Writes a whole `<t:CalendarItem>` for CreateItem, in schema order, with the sync key.
///
/// # Errors
///
/// What EWS cannot hold: zones without a Windows id, inexpressible recurrences.
pub(crate) fn write_create(w: &mut XmlWriter, e: &Event, key: impl FnOnce(&mut XmlWriter)) -> Result<(), String> {
    let (start, start_zone) = write_time(&e.timing.start)?;
    let (end, end_zone) = write_time(&e.timing.end)?;
    let rec = e.recurrence.as_ref().map(|r| ews_recurrence(r, &e.timing)).transpose()?;
    w.open("t:CalendarItem", &[]);
    if let Some(s) = &e.subject {
        w.text("t:Subject", s);
    }
    w.text("t:Sensitivity", sensitivity(e.privacy));
    if let Some(d) = &e.description {
        w.text_with("t:Body", &[("BodyType", "Text")], d);
    }
    if !e.categories.is_empty() {
        write_categories(w, &e.categories);
    }
    key(w);
    if let Some(uid) = &e.ical_uid {
        w.text("t:UID", uid);
    }
    w.text("t:Start", &format_instant(start));
    w.text("t:End", &format_instant(end));
    w.text("t:IsAllDayEvent", if e.timing.start.is_all_day() { "true" } else { "false" });
    w.text("t:LegacyFreeBusyStatus", free_busy(e.show_as));
    if let Some(l) = &e.location {
        w.text("t:Location", l);
    }
    for (role, _, element) in ATTENDEE_LISTS {
        let list: Vec<&Attendee> = e.attendees.iter().filter(|a| a.role == role).collect();
        if !list.is_empty() {
            write_attendee_list(w, element, &list);
        }
    }
    if let Some(r) = &rec {
        recurrence::write(w, r);
    }
    w.empty("t:StartTimeZone", &[("Id", start_zone)]);
    w.empty("t:EndTimeZone", &[("Id", end_zone)]);
    w.close("t:CalendarItem");
    Ok(())
}

/// Whether writing `patch` needs the event as it is now (attendees apply to the current list;
/// a recurrence needs the series' start).
pub(crate) fn needs_current(patch: &[FieldChange]) -> bool {
    patch.iter().any(|c| {
        matches!(c.field, FieldKey::Attendee(_))
            || (c.field == FieldKey::Recurrence
                && c.value.is_some()
                && !patch.iter().any(|t| t.field == FieldKey::Timing))
    })
}

fn text_of(v: &Option<FieldValue>) -> Result<Option<&str>, String> {
    match v {
        None => Ok(None),
        Some(FieldValue::Text(t)) => Ok(Some(t.as_str())).map(|t| t.filter(|s| !s.is_empty())),
        Some(other) => Err(format!("expected text, got {other:?}")),
    }
}

/// Writes the `SetItemField`/`DeleteItemField` updates of `patch` (only its fields), with the
/// event as it is now when [`needs_current`] says so.
pub(crate) fn write_updates(w: &mut XmlWriter, patch: &[FieldChange], current: Option<&Event>) -> Result<(), String> {
    const ITEM: &str = "t:CalendarItem";
    if patch.iter().any(|c| matches!(c.field, FieldKey::Attendee(_))) {
        let now = current.ok_or("the event's attendees are unknown")?;
        let mut event = Record::Event(now.clone());
        for change in patch.iter().filter(|c| matches!(c.field, FieldKey::Attendee(_))) {
            event.set(&change.field, change.value.clone()).map_err(|e| e.to_string())?;
        }
        if let Record::Event(e) = event {
            for (role, uri, element) in ATTENDEE_LISTS {
                let list: Vec<&Attendee> = e.attendees.iter().filter(|a| a.role == role).collect();
                if list.is_empty() {
                    delete_field(w, uri);
                } else {
                    set_field(w, uri, ITEM, |w| write_attendee_list(w, element, &list));
                }
            }
        }
    }
    let new_timing = patch.iter().find(|c| c.field == FieldKey::Timing).and_then(|c| match &c.value {
        Some(FieldValue::Timing(t)) => Some(t.clone()),
        _ => None,
    });
    for change in patch {
        let v = &change.value;
        match &change.field {
            FieldKey::Subject => match text_of(v)? {
                Some(s) => set_field(w, "item:Subject", ITEM, |w| w.text("t:Subject", s)),
                None => delete_field(w, "item:Subject"),
            },
            FieldKey::Description => match text_of(v)? {
                Some(s) => set_field(w, "item:Body", ITEM, |w| w.text_with("t:Body", &[("BodyType", "Text")], s)),
                None => delete_field(w, "item:Body"),
            },
            FieldKey::Location => match text_of(v)? {
                Some(s) => set_field(w, "calendar:Location", ITEM, |w| w.text("t:Location", s)),
                None => delete_field(w, "calendar:Location"),
            },
            FieldKey::Timing => {
                let t = new_timing.as_ref().ok_or("the timing of an event cannot be cleared")?;
                let (start, start_zone) = write_time(&t.start)?;
                let (end, end_zone) = write_time(&t.end)?;
                set_field(w, "calendar:StartTimeZone", ITEM, |w| w.empty("t:StartTimeZone", &[("Id", start_zone)]));
                set_field(w, "calendar:EndTimeZone", ITEM, |w| w.empty("t:EndTimeZone", &[("Id", end_zone)]));
                set_field(w, "calendar:Start", ITEM, |w| w.text("t:Start", &format_instant(start)));
                set_field(w, "calendar:End", ITEM, |w| w.text("t:End", &format_instant(end)));
                let all_day = if t.start.is_all_day() { "true" } else { "false" };
                set_field(w, "calendar:IsAllDayEvent", ITEM, |w| w.text("t:IsAllDayEvent", all_day));
            }
            FieldKey::Recurrence => match v {
                None => delete_field(w, "calendar:Recurrence"),
                Some(FieldValue::Recurrence(r)) => {
                    let timing = new_timing.clone().or_else(|| current.map(|c| c.timing.clone()));
                    let timing = timing.ok_or("the timing of the series is unknown")?;
                    let rec = ews_recurrence(r, &timing)?;
                    // Writing the same pattern again would drop the series' exceptions in
                    // Exchange: only a new pattern (or new times) is written.
                    let canonical = recurrence::to_rrule(&rec, &series_start(&timing)?)?;
                    let unchanged = new_timing.is_none()
                        && current
                            .and_then(|c| c.recurrence.as_ref())
                            .is_some_and(|now| now.rules.as_slice() == [canonical]);
                    if !unchanged {
                        set_field(w, "calendar:Recurrence", ITEM, |w| recurrence::write(w, &rec));
                    }
                }
                Some(other) => return Err(format!("expected a recurrence, got {other:?}")),
            },
            FieldKey::Privacy => {
                let p = match v {
                    Some(FieldValue::Privacy(p)) => *p,
                    None => Privacy::Normal,
                    Some(other) => return Err(format!("expected a privacy, got {other:?}")),
                };
                set_field(w, "item:Sensitivity", ITEM, |w| w.text("t:Sensitivity", sensitivity(p)));
            }
            FieldKey::ShowAs => {
                let s = match v {
                    Some(FieldValue::ShowAs(s)) => *s,
                    None => ShowAs::Busy,
                    Some(other) => return Err(format!("expected a show-as, got {other:?}")),
                };
                set_field(w, "calendar:LegacyFreeBusyStatus", ITEM, |w| w.text("t:LegacyFreeBusyStatus", free_busy(s)));
            }
            FieldKey::Categories => match v {
                Some(FieldValue::List(list)) if !list.is_empty() => {
                    set_field(w, "item:Categories", ITEM, |w| write_categories(w, list));
                }
                None | Some(FieldValue::List(_)) => delete_field(w, "item:Categories"),
                Some(other) => return Err(format!("expected categories, got {other:?}")),
            },
            FieldKey::Attendee(_) => {}
            other => return Err(format!("EWS events cannot write `{other:?}`")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml;
    use chrono::NaiveDate;

    fn paris(y: i32, m: u32, d: u32, h: u32) -> EventTime {
        EventTime::Zoned {
            local: NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, 0, 0).unwrap(),
            zone: "Europe/Paris".into(),
        }
    }

    fn meeting() -> Event {
        Event {
            subject: Some("Review <Q1> & plan".into()),
            description: Some("Agenda\n1. numbers".into()),
            location: Some("Room 1".into()),
            timing: EventTiming { start: paris(2026, 1, 5, 9), end: paris(2026, 1, 5, 10) },
            recurrence: Some(Recurrence {
                rules: vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=10".into()],
                ..Recurrence::default()
            }),
            organizer: None,
            attendees: vec![
                Attendee {
                    email: "bob@example.com".into(),
                    name: Some("Bob".into()),
                    role: AttendeeRole::Required,
                    response: ResponseStatus::NeedsAction,
                },
                Attendee {
                    email: "eve@example.com".into(),
                    name: None,
                    role: AttendeeRole::Optional,
                    response: ResponseStatus::NeedsAction,
                },
            ],
            privacy: Privacy::Private,
            show_as: ShowAs::OutOfOffice,
            categories: vec!["CRM".into()],
            crm_links: Vec::new(),
            ical_uid: Some("uid-1".into()),
            custom: Default::default(),
        }
    }

    #[test]
    fn events_round_trip_through_create_xml() {
        let mut w = XmlWriter::new();
        write_create(&mut w, &meeting(), |_| {}).unwrap();
        let bytes = w.into_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("<t:Start>2026-01-05T08:00:00Z</t:Start>"), "{text}");
        assert!(text.contains("<t:StartTimeZone Id=\"Romance Standard Time\"/>"));
        assert!(text.contains("Review &lt;Q1&gt; &amp; plan"));
        let root = xml::parse(&bytes, 1 << 20).unwrap();
        let parsed = parse(&root, "ada@example.com").unwrap();
        assert_eq!(parsed.event, meeting());
    }

    #[test]
    fn all_day_events_round_trip() {
        let mut e = meeting();
        e.recurrence = None;
        e.timing = EventTiming {
            start: EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() },
            end: EventTime::AllDay { date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() },
        };
        let mut w = XmlWriter::new();
        write_create(&mut w, &e, |_| {}).unwrap();
        let root = xml::parse(&w.into_bytes(), 1 << 20).unwrap();
        assert_eq!(parse(&root, "ada@example.com").unwrap().event, e);
    }

    #[test]
    fn attendee_patches_apply_to_the_current_list() {
        let patch = vec![
            FieldChange { field: FieldKey::attendee("eve@example.com"), value: None },
            FieldChange {
                field: FieldKey::attendee("zoe@example.com"),
                value: Some(FieldValue::Attendee(Attendee {
                    email: "zoe@example.com".into(),
                    name: None,
                    role: AttendeeRole::Required,
                    response: ResponseStatus::NeedsAction,
                })),
            },
        ];
        assert!(needs_current(&patch));
        let mut w = XmlWriter::new();
        assert!(write_updates(&mut w, &patch, None).is_err());
        let mut w = XmlWriter::new();
        write_updates(&mut w, &patch, Some(&meeting())).unwrap();
        let text = String::from_utf8(w.into_bytes()).unwrap();
        assert!(text.contains("bob@example.com") && text.contains("zoe@example.com"), "{text}");
        assert!(!text.contains("eve@example.com"));
        assert!(text.contains("<t:DeleteItemField><t:FieldURI FieldURI=\"calendar:OptionalAttendees\"/>"));
    }

    #[test]
    fn unwritable_series_are_refused() {
        let mut e = meeting();
        if let Some(r) = e.recurrence.as_mut() {
            r.cancelled.insert(paris(2026, 1, 12, 9));
        }
        assert!(write_create(&mut XmlWriter::new(), &e, |_| {}).is_ok(), "cancellations are written afterwards");
        if let Some(r) = e.recurrence.as_mut() {
            r.rdates.push(paris(2026, 1, 14, 9));
        }
        let refused = write_create(&mut XmlWriter::new(), &e, |_| {}).unwrap_err();
        assert!(refused.contains("RDATE"), "{refused}");
        let mut e = meeting();
        e.timing.start = EventTime::Zoned {
            local: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(9, 0, 0).unwrap(),
            zone: "Mars/Olympus".into(),
        };
        assert!(write_create(&mut XmlWriter::new(), &e, |_| {}).is_err());
    }

    #[test]
    fn instance_indexes_count_occurrences_in_the_series_zone() {
        let e = meeting();
        let at = |d: u32, h: u32| paris(2026, 1, d, h).instant().unwrap();
        assert_eq!(instance_index(&e, at(5, 9)).unwrap(), Some(1));
        assert_eq!(instance_index(&e, at(19, 9)).unwrap(), Some(3));
        assert_eq!(instance_index(&e, at(20, 9)).unwrap(), None, "not an occurrence");
        let mut summer = meeting();
        summer.recurrence = Some(Recurrence { rules: vec!["FREQ=WEEKLY;BYDAY=MO".into()], ..Recurrence::default() });
        let july = paris(2026, 7, 6, 9).instant().unwrap();
        assert_eq!(instance_index(&summer, july).unwrap(), Some(27), "9:00 Paris time, summer time included");
    }
}
