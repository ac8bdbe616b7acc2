//! Events: an Event row as a canonical event (all-day dates, time zones, show-as, privacy and
//! Who/What links), and an event patch as the Event fields it sets.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::guard::{add_days, add_minutes, local_time};
use tandem_core::model::{Attendee, CrmLink, Event, EventTime, EventTiming, ObjectKind, Privacy, Record, ShowAs};
use tandem_core::plan::FieldChange;

use super::Mapping;
use super::recurrence::{parse_pattern, pattern_text};
use super::values::{flag, format_datetime, parse_datetime, text, text_value};

impl Mapping {
    /// An Event row as a canonical event. `zone` is the user's time zone; invitees come from
    /// EventRelation rows.
    pub(crate) fn event(
        &self,
        row: &Map<String, Value>,
        zone: &str,
        attendees: Vec<Attendee>,
    ) -> Result<Record, String> {
        let recurring = flag(row, "IsRecurrence2")?
            && !flag(row, "IsRecurrence2Exception")?
            && !flag(row, "IsRecurrence2Exclusion")?;
        let pattern_zone = text(row, "Recurrence2PatternTimeZone")?;
        let zone = match (&pattern_zone, recurring) {
            (Some(z), true) => {
                z.parse::<chrono_tz::Tz>().map_err(|_| format!("unknown Recurrence2PatternTimeZone `{z}`"))?;
                z.clone()
            }
            _ => zone.to_owned(),
        };
        let tz: chrono_tz::Tz = zone.parse().map_err(|_| format!("unknown time zone `{zone}`"))?;
        let all_day = flag(row, "IsAllDayEvent")?;
        let start = text(row, "StartDateTime")?.map(|s| parse_datetime(&s)).transpose()?;
        let end = text(row, "EndDateTime")?.map(|s| parse_datetime(&s)).transpose()?;
        let minutes = row.get("DurationInMinutes").and_then(Value::as_i64);
        let timing = if all_day {
            let first = match text(row, "ActivityDate")? {
                Some(d) => NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|_| format!("ActivityDate `{d}` is not a date"))?,
                None => start.ok_or("an all-day event without ActivityDate or StartDateTime")?.date_naive(),
            };
            // Salesforce keeps the last day (inclusive) in EndDateTime; the model's end is exclusive.
            let last = match (end, minutes) {
                (Some(e), _) => e.date_naive(),
                (None, Some(m)) => add_days(first, (m.saturating_add(1439) / 1440 - 1).max(0))
                    .ok_or_else(|| format!("DurationInMinutes {m} is out of range"))?,
                (None, None) => first,
            };
            if last < first {
                return Err("an all-day event that ends before it starts".to_owned());
            }
            EventTiming {
                start: EventTime::AllDay { date: first },
                end: EventTime::AllDay {
                    date: last.succ_opt().ok_or("an all-day event that ends after the last date")?,
                },
            }
        } else {
            let start = start.ok_or("an event without StartDateTime")?;
            let end = match (end, minutes) {
                (Some(e), _) => e,
                (None, Some(m)) => {
                    add_minutes(start, m).ok_or_else(|| format!("DurationInMinutes {m} is out of range"))?
                }
                (None, None) => return Err("an event without EndDateTime or DurationInMinutes".to_owned()),
            };
            let local = |t: DateTime<Utc>| -> Result<EventTime, String> {
                let local = local_time(t, &tz).ok_or_else(|| format!("{t} is out of range in {zone}"))?;
                Ok(EventTime::Zoned { local, zone: zone.clone() })
            };
            EventTiming { start: local(start)?, end: local(end)? }
        };
        let recurrence = if recurring {
            match text(row, "Recurrence2PatternText")? {
                Some(pattern) => Some(parse_pattern(&pattern, &zone)?),
                None => None,
            }
        } else {
            None
        };
        let show_as = match text(row, "ShowAs")?.as_deref() {
            Some("Free") => ShowAs::Free,
            Some("OutOfOffice") => ShowAs::OutOfOffice,
            _ => ShowAs::Busy,
        };
        let mut crm_links = Vec::new();
        if let Some(who) = text(row, "WhoId")? {
            crm_links.push(CrmLink { object: object_of(&who, "Who").to_owned(), id: who });
        }
        if let Some(what) = text(row, "WhatId")? {
            crm_links.push(CrmLink { object: object_of(&what, "What").to_owned(), id: what });
        }
        Ok(Record::Event(Event {
            subject: text(row, "Subject")?,
            description: text(row, "Description")?,
            location: text(row, "Location")?,
            timing,
            recurrence,
            organizer: None,
            attendees,
            privacy: if flag(row, "IsPrivate")? { Privacy::Private } else { Privacy::Normal },
            show_as,
            categories: Vec::new(),
            crm_links,
            ical_uid: None,
            custom: self.read_custom(ObjectKind::Event, row)?,
        }))
    }

    pub(super) fn event_patch(
        &self,
        patch: &[FieldChange],
        whole: Option<&Event>,
        user_zone: &str,
    ) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        // The zone a series' pattern is written in: the zone of its start when it has one.
        let timing_zone = patch
            .iter()
            .find_map(|c| match &c.value {
                Some(FieldValue::Timing(EventTiming { start: EventTime::Zoned { zone, .. }, .. })) => {
                    Some(zone.clone())
                }
                _ => None,
            })
            .or_else(|| match whole.map(|e| &e.timing.start) {
                Some(EventTime::Zoned { zone, .. }) => Some(zone.clone()),
                _ => None,
            })
            .unwrap_or_else(|| user_zone.to_owned());
        for change in patch {
            let value = &change.value;
            match &change.field {
                FieldKey::Custom(name) => self.custom_out(ObjectKind::Event, name, value, &mut out)?,
                // Invitations: EventRelation records written after the event (`related`).
                FieldKey::Attendee(_) | FieldKey::Attendees => {}
                key @ (FieldKey::Subject | FieldKey::Description | FieldKey::Location) => {
                    let field = match key {
                        FieldKey::Subject => "Subject",
                        FieldKey::Description => "Description",
                        _ => "Location",
                    };
                    out.insert(field.to_owned(), text_value(key, value)?);
                }
                FieldKey::Timing => match value {
                    Some(FieldValue::Timing(t)) => write_timing(t, &mut out)?,
                    _ => return Err("an event's timing cannot be cleared".to_owned()),
                },
                FieldKey::Recurrence => match value {
                    None => {
                        out.insert("IsRecurrence2".to_owned(), Value::Bool(false));
                        out.insert("Recurrence2PatternText".to_owned(), Value::Null);
                    }
                    Some(FieldValue::Recurrence(r)) => {
                        if !r.overrides.is_empty() {
                            tracing::warn!(
                                overrides = r.overrides.len(),
                                "Salesforce keeps no per-occurrence changes in a series pattern; they are not written"
                            );
                        }
                        out.insert("IsRecurrence2".to_owned(), Value::Bool(true));
                        out.insert("Recurrence2PatternText".to_owned(), Value::String(pattern_text(r)?));
                        out.insert("Recurrence2PatternTimeZone".to_owned(), Value::String(timing_zone.clone()));
                        out.insert("Recurrence2PatternVersion".to_owned(), Value::String("1".to_owned()));
                    }
                    Some(other) => return Err(format!("a recurrence cannot be {other:?}")),
                },
                FieldKey::Privacy => {
                    let private = matches!(value, Some(FieldValue::Privacy(Privacy::Private)));
                    out.insert("IsPrivate".to_owned(), Value::Bool(private));
                }
                FieldKey::ShowAs => {
                    let v = match value {
                        Some(FieldValue::ShowAs(ShowAs::Free)) => "Free",
                        Some(FieldValue::ShowAs(ShowAs::OutOfOffice)) => "OutOfOffice",
                        _ => "Busy",
                    };
                    out.insert("ShowAs".to_owned(), Value::String(v.to_owned()));
                }
                FieldKey::CrmLinks => {
                    let links = match value {
                        None => Vec::new(),
                        Some(FieldValue::CrmLinks(l)) => l.clone(),
                        Some(other) => return Err(format!("CRM links cannot be {other:?}")),
                    };
                    let (mut who, mut what) = (Value::Null, Value::Null);
                    for link in links {
                        crate::soql::check_id(&link.id).map_err(|e| e.to_string())?;
                        let slot = if is_who(&link) { &mut who } else { &mut what };
                        if !slot.is_null() {
                            return Err(format!(
                                "an event holds one WhoId and one WhatId; the {} link to {} does not fit",
                                link.object, link.id
                            ));
                        }
                        *slot = Value::String(link.id);
                    }
                    out.insert("WhoId".to_owned(), who);
                    out.insert("WhatId".to_owned(), what);
                }
                other => return Err(format!("Salesforce cannot store the event field `{other}`")),
            }
        }
        Ok(out)
    }
}

fn is_who(link: &CrmLink) -> bool {
    matches!(link.object.as_str(), "Contact" | "Lead" | "Who")
        || link.id.starts_with("003")
        || link.id.starts_with("00Q")
}

/// The object a record id belongs to, by its key prefix; `fallback` for prefixes not listed.
pub(crate) fn object_of<'a>(id: &str, fallback: &'a str) -> &'a str {
    match id.get(..3) {
        Some("003") => "Contact",
        Some("00Q") => "Lead",
        Some("001") => "Account",
        Some("006") => "Opportunity",
        Some("500") => "Case",
        Some("701") => "Campaign",
        Some("800") => "Contract",
        Some("005") => "User",
        _ => fallback,
    }
}

pub(super) fn write_timing(t: &EventTiming, out: &mut Map<String, Value>) -> Result<(), String> {
    match (&t.start, &t.end) {
        (EventTime::AllDay { date: first }, EventTime::AllDay { date: end }) => {
            let last = end.pred_opt().ok_or("an all-day event must last at least one day")?;
            if last < *first {
                return Err("an all-day event must last at least one day".to_owned());
            }
            out.insert("IsAllDayEvent".to_owned(), Value::Bool(true));
            out.insert("ActivityDate".to_owned(), Value::String(first.format("%Y-%m-%d").to_string()));
            out.insert("StartDateTime".to_owned(), Value::String(format_datetime(midnight(*first))));
            out.insert("EndDateTime".to_owned(), Value::String(format_datetime(midnight(last))));
        }
        (EventTime::Zoned { .. }, EventTime::Zoned { .. }) => {
            let start = t.start.instant().ok_or("the event's start does not exist in its time zone")?;
            let end = t.end.instant().ok_or("the event's end does not exist in its time zone")?;
            out.insert("IsAllDayEvent".to_owned(), Value::Bool(false));
            out.insert("StartDateTime".to_owned(), Value::String(format_datetime(start)));
            out.insert("EndDateTime".to_owned(), Value::String(format_datetime(end)));
        }
        _ => return Err("an event cannot mix an all-day date with a timed value".to_owned()),
    }
    Ok(())
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}
