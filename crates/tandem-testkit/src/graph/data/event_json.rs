//! The JSON of events: masters and single events, occurrences and exceptions, and the times a
//! request's `Prefer` header asks for.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::change_keys::etag;
use super::extended::render_ext;
use super::{Data, EventRec, Mailbox};
use crate::graph::util::{
    Prefer, format_instant, format_local, html_to_text, instant_of, occurrence_id, parse_dttz, present_id, resolve_tz,
};

impl Data {
    /// The JSON of a master or single event.
    pub(crate) fn render_event(
        &self,
        mb: &Mailbox,
        e: &EventRec,
        prefer: &Prefer,
        expand_exceptions: bool,
        expand_ext: Option<&str>,
    ) -> Value {
        let data = e.data();
        let mut out = self.event_base(e, &data, &data, prefer);
        let series = data.get("recurrence").is_some_and(Value::is_object);
        out.insert("@odata.etag".into(), json!(etag(&e.change_key)));
        out.insert("id".into(), json!(present_id(&e.id, prefer.immutable_id)));
        out.insert("changeKey".into(), json!(e.change_key));
        out.insert("type".into(), json!(if series { "seriesMaster" } else { "singleInstance" }));
        out.insert("seriesMasterId".into(), Value::Null);
        out.insert("recurrence".into(), data.get("recurrence").cloned().unwrap_or(Value::Null));
        let cancelled: Vec<Value> = e
            .cancelled
            .keys()
            .map(|d| json!(format!("OID.{}.{}", present_id(&e.id, prefer.immutable_id), d.format("%Y-%m-%d"))))
            .collect();
        out.insert("cancelledOccurrences".into(), Value::Array(cancelled));
        if expand_exceptions {
            let list: Vec<Value> =
                e.exceptions.keys().filter_map(|d| self.render_instance(mb, e, *d, prefer, false)).collect();
            out.insert("exceptionOccurrences".into(), Value::Array(list));
        }
        if let Some(filter) = expand_ext {
            out.insert("singleValueExtendedProperties".into(), render_ext(&e.ext, filter));
        }
        Value::Object(out)
    }

    /// The JSON of one occurrence or exception; `minimal` gives the short form delta uses for
    /// plain occurrences.
    pub(crate) fn render_instance(
        &self,
        _mb: &Mailbox,
        e: &EventRec,
        date: NaiveDate,
        prefer: &Prefer,
        minimal: bool,
    ) -> Option<Value> {
        let master = e.data();
        let (_, local, tz, duration) = super::records::timing_of(&master)?;
        let original = instant_of(date.and_time(local.time()), tz);
        let exception = e.exceptions.get(&date);
        let id = present_id(&occurrence_id(&e.id, date), prefer.immutable_id);
        let master_id = present_id(&e.id, prefer.immutable_id);
        let all_day = master.get("isAllDay").and_then(Value::as_bool).unwrap_or(false);
        let zone_name = master.get("start").and_then(|s| s.get("timeZone")).and_then(Value::as_str).unwrap_or("UTC");
        let occ_time = |t: DateTime<Utc>| -> Value {
            if all_day {
                json!({"dateTime": format_local(t.with_timezone(&tz).naive_local()), "timeZone": zone_name})
            } else {
                json!({"dateTime": format_local(t.naive_utc()), "timeZone": "UTC"})
            }
        };
        let change_key = exception.map_or(&e.change_key, |x| &x.change_key);
        if minimal && exception.is_none() {
            let start = self.out_time(&occ_time(original), all_day, prefer);
            let end = self.out_time(&occ_time(original + duration), all_day, prefer);
            return Some(json!({
                "@odata.type": "#microsoft.graph.event",
                "@odata.etag": etag(change_key),
                "id": id,
                "seriesMasterId": master_id,
                "type": "occurrence",
                "start": start,
                "end": end,
            }));
        }
        let mut data = master.clone();
        data.remove("recurrence");
        data.insert("start".into(), occ_time(original));
        data.insert("end".into(), occ_time(original + duration));
        if let Some(x) = exception {
            for (k, v) in &x.data {
                data.insert(k.clone(), v.clone());
            }
        }
        let mut out = self.event_base(e, &master, &data, prefer);
        out.insert("@odata.etag".into(), json!(etag(change_key)));
        out.insert("id".into(), json!(id));
        out.insert("changeKey".into(), json!(change_key));
        out.insert("type".into(), json!(if exception.is_some() { "exception" } else { "occurrence" }));
        out.insert("seriesMasterId".into(), json!(master_id));
        out.insert("originalStart".into(), json!(format_instant(original)));
        out.insert("recurrence".into(), Value::Null);
        out.insert("cancelledOccurrences".into(), json!([]));
        if let Some(x) = exception {
            out.insert("lastModifiedDateTime".into(), json!(format_instant(x.modified)));
        }
        Some(Value::Object(out))
    }

    /// The properties every event rendering shares: `master` holds the series' (or the single
    /// event's) properties, `data` the rendered instance's.
    fn event_base(
        &self,
        e: &EventRec,
        master: &Map<String, Value>,
        data: &Map<String, Value>,
        prefer: &Prefer,
    ) -> Map<String, Value> {
        let all_day = data.get("isAllDay").and_then(Value::as_bool).unwrap_or(false);
        let mut out = Map::new();
        out.insert("createdDateTime".into(), json!(format_instant(e.created)));
        out.insert("lastModifiedDateTime".into(), json!(format_instant(e.modified)));
        out.insert("categories".into(), data.get("categories").cloned().unwrap_or_else(|| json!([])));
        out.insert("transactionId".into(), e.transaction_id.clone().map_or(Value::Null, Value::String));
        let zone = |key: &str| {
            master.get(key).and_then(|v| v.get("timeZone")).and_then(Value::as_str).unwrap_or("UTC").to_owned()
        };
        out.insert("originalStartTimeZone".into(), json!(zone("start")));
        out.insert("originalEndTimeZone".into(), json!(zone("end")));
        out.insert("iCalUId".into(), json!(e.ical_uid));
        out.insert(
            "reminderMinutesBeforeStart".into(),
            data.get("reminderMinutesBeforeStart").cloned().unwrap_or(json!(15)),
        );
        out.insert("isReminderOn".into(), data.get("isReminderOn").cloned().unwrap_or(json!(true)));
        out.insert("hasAttachments".into(), json!(false));
        out.insert("subject".into(), data.get("subject").cloned().unwrap_or_else(|| json!("")));
        let body = data.get("body").cloned().unwrap_or_else(|| json!({"contentType": "text", "content": ""}));
        let content = body.get("content").and_then(Value::as_str).unwrap_or_default().to_owned();
        let html = body.get("contentType").and_then(Value::as_str) == Some("html");
        let text = if html { html_to_text(&content) } else { content.clone() };
        out.insert("bodyPreview".into(), json!(text.chars().take(255).collect::<String>()));
        out.insert("importance".into(), data.get("importance").cloned().unwrap_or(json!("normal")));
        out.insert("sensitivity".into(), data.get("sensitivity").cloned().unwrap_or(json!("normal")));
        out.insert("isAllDay".into(), json!(all_day));
        out.insert("isCancelled".into(), json!(false));
        out.insert("isOrganizer".into(), data.get("isOrganizer").cloned().unwrap_or(json!(true)));
        out.insert("responseRequested".into(), data.get("responseRequested").cloned().unwrap_or(json!(true)));
        out.insert("showAs".into(), data.get("showAs").cloned().unwrap_or(json!("busy")));
        out.insert("webLink".into(), json!(format!("https://outlook.office365.com/owa/?itemid={}&exvsurl=1", e.id)));
        out.insert("onlineMeetingUrl".into(), Value::Null);
        out.insert("isOnlineMeeting".into(), data.get("isOnlineMeeting").cloned().unwrap_or(json!(false)));
        out.insert(
            "onlineMeetingProvider".into(),
            data.get("onlineMeetingProvider").cloned().unwrap_or(json!("unknown")),
        );
        out.insert("allowNewTimeProposals".into(), data.get("allowNewTimeProposals").cloned().unwrap_or(json!(true)));
        out.insert("isDraft".into(), json!(false));
        out.insert("hideAttendees".into(), data.get("hideAttendees").cloned().unwrap_or(json!(false)));
        out.insert("responseStatus".into(), json!({"response": "organizer", "time": "0001-01-01T00:00:00Z"}));
        let body = if prefer.text_body && html {
            json!({"contentType": "text", "content": text})
        } else {
            json!({"contentType": if html { "html" } else { "text" }, "content": content})
        };
        out.insert("body".into(), body);
        out.insert("start".into(), self.out_time(data.get("start").unwrap_or(&Value::Null), all_day, prefer));
        out.insert("end".into(), self.out_time(data.get("end").unwrap_or(&Value::Null), all_day, prefer));
        let location = match data.get("location") {
            Some(Value::Object(l)) => {
                let mut l = l.clone();
                l.entry("displayName").or_insert(json!(""));
                l.entry("locationType").or_insert(json!("default"));
                l.entry("uniqueIdType").or_insert(json!("unknown"));
                l.entry("address").or_insert(json!({}));
                l.entry("coordinates").or_insert(json!({}));
                Value::Object(l)
            }
            _ => {
                json!({"displayName": "", "locationType": "default", "uniqueIdType": "unknown", "address": {}, "coordinates": {}})
            }
        };
        out.insert("location".into(), location);
        out.insert("locations".into(), data.get("locations").cloned().unwrap_or_else(|| json!([])));
        let attendees: Vec<Value> = data
            .get("attendees")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|a| {
                        let mut a = a.as_object().cloned().unwrap_or_default();
                        a.entry("type").or_insert(json!("required"));
                        a.entry("status").or_insert(json!({"response": "none", "time": "0001-01-01T00:00:00Z"}));
                        if let Some(Value::Object(s)) = a.get_mut("status") {
                            s.entry("time").or_insert(json!("0001-01-01T00:00:00Z"));
                            s.entry("response").or_insert(json!("none"));
                        }
                        Value::Object(a)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert("attendees".into(), Value::Array(attendees));
        out.insert("organizer".into(), data.get("organizer").cloned().unwrap_or(Value::Null));
        out.insert("onlineMeeting".into(), Value::Null);
        out
    }

    /// A stored `dateTimeTimeZone` as the request prefers it: all-day times stay in their own zone.
    fn out_time(&self, stored: &Value, all_day: bool, prefer: &Prefer) -> Value {
        let Some((instant, local, _)) = parse_dttz(stored) else { return stored.clone() };
        let zone = stored.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
        if all_day {
            return json!({"dateTime": format_local(local), "timeZone": zone});
        }
        // A zone the fake cannot resolve is not applied (no `Preference-Applied`): times stay in UTC.
        let (tz, target) = prefer
            .timezone
            .as_deref()
            .and_then(|z| resolve_tz(z).map(|tz| (tz, z.to_owned())))
            .unwrap_or((chrono_tz::UTC, "UTC".to_owned()));
        json!({"dateTime": format_local(instant.with_timezone(&tz).naive_local()), "timeZone": target})
    }
}
