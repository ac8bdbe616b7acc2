//! Creating stored events: a new event, or an exception instance copied from its recurring
//! master.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::ids::{instant, parse_instance_id};
use super::stored::StoredEvent;
use crate::google::Data;

pub(super) fn store_new(
    d: &mut Data,
    owner: &str,
    id: &str,
    props: BTreeMap<String, Value>,
    cancelled: bool,
) -> StoredEvent {
    let seq = d.next_seq();
    let now = Utc::now();
    let event = StoredEvent { props, version: seq, seq, cancelled, created: now, updated: now, sequence: 0 };
    d.calendars.entry(owner.to_owned()).or_default().events.insert(id.to_owned(), event.clone());
    event
}

/// An exception instance copied from its master, when `event_id` names one.
pub(super) fn materialize_instance(d: &Data, owner: &str, event_id: &str) -> Option<StoredEvent> {
    let (master_id, original) = parse_instance_id(event_id)?;
    let master = d.calendars.get(owner)?.events.get(&master_id)?;
    if master.cancelled || !master.props.contains_key("recurrence") {
        return None;
    }
    let mut props = master.props.clone();
    props.remove("recurrence");
    props.remove("iCalUID");
    let start = instant(master.props.get("start"))?;
    let end = instant(master.props.get("end"))?;
    let orig_instant = instant(Some(&original))?;
    let shift = |v: Option<&Value>, t: DateTime<Utc>| -> Value {
        let mut v = v.cloned().unwrap_or_else(|| json!({}));
        if v.get("date").is_some() {
            v["date"] = json!(t.format("%Y-%m-%d").to_string());
        } else {
            v["dateTime"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        v
    };
    props.insert("start".into(), shift(master.props.get("start"), orig_instant));
    props.insert("end".into(), shift(master.props.get("end"), orig_instant + (end - start)));
    let mut original = original;
    if let Some(tz) = master.props.get("start").and_then(|s| s.get("timeZone")) {
        original["timeZone"] = tz.clone();
    }
    props.insert("recurringEventId".into(), json!(master_id));
    props.insert("originalStartTime".into(), original);
    props.insert("iCalUID".into(), json!(format!("{master_id}@google.com")));
    let now = Utc::now();
    Some(StoredEvent {
        props,
        version: master.version,
        seq: master.seq,
        cancelled: false,
        created: master.created,
        updated: now,
        sequence: master.sequence,
    })
}
