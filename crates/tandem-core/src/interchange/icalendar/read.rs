//! Reading `VEVENT`s into events: grouping by `UID`, series masters with their recurrence and
//! Tandem's own properties, `RECURRENCE-ID` instances applied as overrides or cancellations, and
//! busy status.

use std::collections::{HashMap, HashSet};

use ical::parser::ical::component::IcalCalendar;

use super::people::{attendee, person, strip_prefix_ci};
use super::timing::{Zones, align, occurrence_end, rule, time, times, timing};
use super::{CANCELLED, CRM_LINK, CRM_OBJECT, GENERATED, PREFIX};
use crate::interchange::InterchangeError;
use crate::interchange::text::{self, Prop};
use crate::model::{CrmLink, Event, EventTiming, OccurrenceOverride, Person, Privacy, Recurrence, ShowAs};

/// One `VEVENT`'s properties.
pub(super) struct Vevent {
    props: Vec<Prop>,
}

impl Vevent {
    pub(super) fn get(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Prop::text_opt)
    }

    /// The `UID` as written (also a generated one), for grouping.
    fn uid(&self) -> Option<String> {
        self.text("UID").map(|u| u.trim().to_owned()).filter(|u| !u.is_empty())
    }

    fn is_cancelled(&self) -> bool {
        self.text("STATUS").is_some_and(|s| s.trim().eq_ignore_ascii_case("CANCELLED"))
    }
}

pub(super) fn calendar_events(calendar: IcalCalendar) -> Result<Vec<Event>, InterchangeError> {
    let zones = Zones::new(calendar.timezones)?;
    let vevents: Vec<Vevent> =
        calendar.events.into_iter().map(|e| Vevent { props: text::props(e.properties) }).collect();

    let mut events: Vec<Event> = Vec::new();
    let mut masters: HashMap<String, usize> = HashMap::new();
    let mut cancelled_series: HashSet<String> = HashSet::new();
    let mut instances = Vec::new();
    for vevent in &vevents {
        if vevent.get("RECURRENCE-ID").is_some() {
            instances.push(vevent);
            continue;
        }
        let uid = vevent.uid();
        if vevent.is_cancelled() {
            cancelled_series.extend(uid);
            continue;
        }
        let event = master_event(vevent, &zones)?;
        if let Some(uid) = uid {
            masters.entry(uid).or_insert(events.len());
        }
        events.push(event);
    }
    for vevent in instances {
        let uid = vevent.uid();
        match uid.as_ref().and_then(|u| masters.get(u)) {
            Some(&index) => {
                if let Some(master) = events.get_mut(index) {
                    apply_instance(master, vevent, &zones)?;
                }
            }
            None => {
                let series_cancelled = uid.as_ref().is_some_and(|u| cancelled_series.contains(u));
                if !series_cancelled && !vevent.is_cancelled() {
                    events.push(master_event(vevent, &zones)?);
                }
            }
        }
    }
    Ok(events)
}

fn master_event(vevent: &Vevent, zones: &Zones) -> Result<Event, InterchangeError> {
    let uid = vevent.uid();
    let generated = vevent.get("UID").is_some_and(|p| p.param(GENERATED).is_some());
    let timing = timing(vevent, zones, uid.as_deref(), None)?
        .ok_or(InterchangeError::MissingProperty { component: "VEVENT", property: "DTSTART" })?;

    let mut recurrence = Recurrence::default();
    for prop in vevent.all("RRULE") {
        recurrence.rules.push(rule(prop)?);
    }
    for prop in vevent.all("RDATE") {
        for time in times(prop, zones)? {
            recurrence.rdates.push(align(time, &timing.start));
        }
    }
    for prop in vevent.all("EXDATE") {
        let cancelled = prop.param(CANCELLED).is_some();
        for time in times(prop, zones)? {
            let time = align(time, &timing.start);
            if cancelled {
                recurrence.cancelled.insert(time);
            } else {
                recurrence.exdates.push(time);
            }
        }
    }
    let has_recurrence = !recurrence.rules.is_empty()
        || !recurrence.rdates.is_empty()
        || !recurrence.exdates.is_empty()
        || !recurrence.cancelled.is_empty();

    let mut crm_links = Vec::new();
    let mut custom = std::collections::BTreeMap::new();
    for prop in &vevent.props {
        let Some(rest) = strip_prefix_ci(&prop.raw_name, PREFIX) else {
            continue;
        };
        if rest.eq_ignore_ascii_case(CRM_LINK) {
            if let Some(id) = prop.text_opt() {
                crm_links.push(CrmLink { object: prop.param(CRM_OBJECT).unwrap_or_default(), id });
            }
        } else if let Some(value) = prop.text_opt() {
            custom.insert(text::decode_name(rest), value);
        }
    }

    Ok(Event {
        subject: vevent.text("SUMMARY"),
        description: vevent.text("DESCRIPTION"),
        location: vevent.text("LOCATION"),
        timing,
        recurrence: has_recurrence.then_some(recurrence),
        organizer: vevent.get("ORGANIZER").and_then(|p| {
            let (email, name) = person(p);
            (!email.is_empty() || name.is_some()).then_some(Person { email, name })
        }),
        attendees: vevent.all("ATTENDEE").filter_map(attendee).collect(),
        privacy: match vevent.text("CLASS").map(|c| c.trim().to_ascii_uppercase()).as_deref() {
            Some("PRIVATE" | "CONFIDENTIAL") => Privacy::Private,
            _ => Privacy::Normal,
        },
        show_as: show_as(vevent),
        categories: vevent
            .all("CATEGORIES")
            .flat_map(|p| text::split_unescaped(&p.value, ','))
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect(),
        crm_links,
        ical_uid: if generated { None } else { uid },
        custom,
    })
}

/// Applies a `RECURRENCE-ID` instance to its series master.
fn apply_instance(master: &mut Event, vevent: &Vevent, zones: &Zones) -> Result<(), InterchangeError> {
    let Some(rid) = vevent.get("RECURRENCE-ID") else {
        return Ok(());
    };
    let key = align(time(rid, zones)?, &master.timing.start);
    if vevent.is_cancelled() {
        master.recurrence.get_or_insert_with(Recurrence::default).cancelled.insert(key);
        return Ok(());
    }
    let original = occurrence_end(&key, &master.timing).map(|end| EventTiming { start: key.clone(), end });
    let timing =
        timing(vevent, zones, vevent.uid().as_deref(), Some(&master.timing))?.filter(|t| Some(t) != original.as_ref());
    let changed =
        |name: &str, master_value: &Option<String>| vevent.text(name).filter(|v| Some(v) != master_value.as_ref());
    let over = OccurrenceOverride {
        timing,
        subject: changed("SUMMARY", &master.subject),
        location: changed("LOCATION", &master.location),
        description: changed("DESCRIPTION", &master.description),
    };
    master.recurrence.get_or_insert_with(Recurrence::default).overrides.insert(key, over);
    Ok(())
}

fn show_as(vevent: &Vevent) -> ShowAs {
    let status = vevent
        .text("X-MICROSOFT-CDO-BUSYSTATUS")
        .or_else(|| vevent.text("X-MICROSOFT-CDO-INTENDEDSTATUS"))
        .map(|s| s.trim().to_ascii_uppercase());
    match status.as_deref() {
        Some("FREE") => ShowAs::Free,
        Some("TENTATIVE") => ShowAs::Tentative,
        Some("BUSY") => ShowAs::Busy,
        Some("OOF") => ShowAs::OutOfOffice,
        Some("WORKINGELSEWHERE") => ShowAs::WorkingElsewhere,
        _ => match vevent.text("TRANSP") {
            Some(t) if t.trim().eq_ignore_ascii_case("TRANSPARENT") => ShowAs::Free,
            _ => ShowAs::Busy,
        },
    }
}
