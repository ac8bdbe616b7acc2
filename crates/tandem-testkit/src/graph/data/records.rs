//! The stored records: contact folders, contacts, events with their exceptions, the occurrences
//! of a series in a time range, and the mailbox holding them.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::extended::ExtProps;
use crate::compact::CompactJson;
use crate::graph::recur::Pattern;
use crate::graph::util::{instant_of, occurrence_id, parse_dttz};

/// A contact folder.
#[derive(Debug, Clone)]
pub(crate) struct Folder {
    pub(crate) id: String,
    pub(crate) display_name: String,
    pub(crate) parent: String,
}

/// A contact, live or deleted (tombstones stay for delta queries).
#[derive(Debug, Clone)]
pub(crate) struct ContactRec {
    pub(crate) id: String,
    pub(crate) change_key: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) modified: DateTime<Utc>,
    pub(crate) seq: u64,
    pub(crate) deleted_seq: Option<u64>,
    pub(crate) folder: String,
    /// The properties the client wrote, as compact text (`crate::compact`): read them with
    /// [`ContactRec::data`].
    pub(crate) data: CompactJson,
    pub(crate) ext: ExtProps,
}

/// A modified occurrence of a series.
#[derive(Debug, Clone)]
pub(crate) struct ExceptionRec {
    pub(crate) change_key: String,
    pub(crate) seq: u64,
    pub(crate) modified: DateTime<Utc>,
    pub(crate) data: Map<String, Value>,
}

/// An event: a single instance or a series master with its exceptions and cancellations.
#[derive(Debug, Clone)]
pub(crate) struct EventRec {
    pub(crate) id: String,
    pub(crate) change_key: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) modified: DateTime<Utc>,
    pub(crate) seq: u64,
    pub(crate) deleted_seq: Option<u64>,
    /// The properties the client wrote, as compact text (`crate::compact`): read them with
    /// [`EventRec::data`].
    pub(crate) data: CompactJson,
    pub(crate) transaction_id: Option<String>,
    pub(crate) ical_uid: String,
    pub(crate) ext: ExtProps,
    /// Exceptions by the occurrence's original local date.
    pub(crate) exceptions: BTreeMap<NaiveDate, ExceptionRec>,
    /// Cancelled occurrences by original local date, with the sequence of the cancellation.
    pub(crate) cancelled: BTreeMap<NaiveDate, u64>,
}

/// One occurrence of an event in a time range: its id and, for a series, its original date.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub(crate) id: String,
    pub(crate) date: Option<NaiveDate>,
}

/// `(start instant, start local, start zone, duration)` of an event's properties.
type Timing = (DateTime<Utc>, chrono::NaiveDateTime, Tz, Duration);

pub(super) fn timing_of(data: &Map<String, Value>) -> Option<Timing> {
    let (start, local, tz) = parse_dttz(data.get("start")?)?;
    let (end, _, _) = parse_dttz(data.get("end")?)?;
    Some((start, local, tz, end - start))
}

impl ContactRec {
    /// The properties the client wrote.
    pub(crate) fn data(&self) -> Map<String, Value> {
        self.data.decode()
    }
}

impl EventRec {
    /// The properties the client wrote (for a series, the master's).
    pub(crate) fn data(&self) -> Map<String, Value> {
        self.data.decode()
    }

    pub(super) fn is_series(&self) -> bool {
        self.data().get("recurrence").is_some_and(Value::is_object)
    }

    /// `(start instant, start local, start zone, duration)` of the master.
    pub(super) fn timing(&self) -> Option<Timing> {
        timing_of(&self.data())
    }

    /// The occurrences (and exceptions) of the event that overlap `[from, to)`; for a single
    /// instance, the event itself when it overlaps. Cancelled occurrences are left out.
    pub(crate) fn instances(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Instance> {
        let data = self.data();
        let Some((start, local, tz, duration)) = timing_of(&data) else { return Vec::new() };
        if !data.get("recurrence").is_some_and(Value::is_object) {
            let end = start + duration;
            return if start < to && end > from {
                vec![Instance { id: self.id.clone(), date: None }]
            } else {
                Vec::new()
            };
        }
        let Some(pattern) = data.get("recurrence").and_then(|r| Pattern::parse(r).ok()) else {
            return Vec::new();
        };
        let until = (to.with_timezone(&tz).date_naive()) + Duration::days(2);
        let mut out = Vec::new();
        for date in pattern.dates_until(until) {
            if self.cancelled.contains_key(&date) {
                continue;
            }
            let original = instant_of(date.and_time(local.time()), tz);
            let (mut s, mut e) = (original, original + duration);
            let exception = self.exceptions.get(&date);
            if let Some(x) = exception {
                if let Some((xs, _, _)) = x.data.get("start").and_then(parse_dttz) {
                    s = xs;
                }
                if let Some((xe, _, _)) = x.data.get("end").and_then(parse_dttz) {
                    e = xe;
                }
            }
            if s < to && e > from {
                out.push(Instance { id: occurrence_id(&self.id, date), date: Some(date) });
            }
        }
        out
    }

    /// The original start instant of the occurrence on `date`.
    pub(crate) fn original_start(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let (_, local, tz, _) = self.timing()?;
        Some(instant_of(date.and_time(local.time()), tz))
    }

    /// Whether `date` is an occurrence date of the series.
    pub(crate) fn has_occurrence(&self, date: NaiveDate) -> bool {
        self.data()
            .get("recurrence")
            .and_then(|r| Pattern::parse(r).ok())
            .is_some_and(|p| p.dates_until(date).last() == Some(&date))
    }
}

/// A mailbox: one user with their contacts and calendar.
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    pub(crate) id: String,
    pub(crate) upn: String,
    pub(crate) display_name: String,
    pub(crate) default_folder: String,
    pub(crate) folders: BTreeMap<String, Folder>,
    pub(crate) contacts: BTreeMap<String, ContactRec>,
    pub(crate) events: BTreeMap<String, EventRec>,
}
