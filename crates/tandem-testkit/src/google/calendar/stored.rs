//! The stored event model ([`StoredEvent`], [`Calendar`]) and how Google renders an event.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::google::rfc3339;

/// One stored event (a single event, a recurring master or an exception instance).
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub(super) props: BTreeMap<String, Value>,
    pub(super) version: u64,
    pub(super) seq: u64,
    pub(super) cancelled: bool,
    pub(super) created: DateTime<Utc>,
    pub(super) updated: DateTime<Utc>,
    pub(super) sequence: u64,
}

/// A user's primary calendar: events by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Calendar {
    pub(super) events: BTreeMap<String, StoredEvent>,
}

pub(super) fn etag(version: u64) -> String {
    format!("\"{}\"", 3_180_000_000_000_000u64 + version)
}

impl StoredEvent {
    pub(super) fn etag(&self) -> String {
        etag(self.version)
    }

    /// The event as Google renders it for `owner`.
    pub(super) fn render(&self, id: &str, owner: &str, minimal_if_cancelled: bool) -> Value {
        let exception = self.props.contains_key("recurringEventId");
        if self.cancelled && minimal_if_cancelled && !exception {
            return json!({"kind": "calendar#event", "etag": self.etag(), "id": id, "status": "cancelled"});
        }
        let mut out = Map::new();
        for (k, v) in &self.props {
            out.insert(k.clone(), v.clone());
        }
        out.insert("kind".into(), json!("calendar#event"));
        out.insert("etag".into(), json!(self.etag()));
        out.insert("id".into(), json!(id));
        out.insert("status".into(), json!(if self.cancelled { "cancelled" } else { self.status() }));
        out.insert("htmlLink".into(), json!(format!("https://www.google.com/calendar/event?eid={id}")));
        out.insert("created".into(), json!(rfc3339(self.created)));
        out.insert("updated".into(), json!(rfc3339(self.updated)));
        out.insert("creator".into(), json!({"email": owner, "self": true}));
        out.insert("organizer".into(), json!({"email": owner, "self": true}));
        out.insert("sequence".into(), json!(self.sequence));
        out.entry("iCalUID").or_insert_with(|| json!(format!("{id}@google.com")));
        out.entry("eventType").or_insert_with(|| json!("default"));
        out.entry("reminders").or_insert_with(|| json!({"useDefault": true}));
        Value::Object(out)
    }

    fn status(&self) -> &str {
        match self.props.get("status").and_then(Value::as_str) {
            Some(s @ ("confirmed" | "tentative")) => s,
            _ => "confirmed",
        }
    }
}
