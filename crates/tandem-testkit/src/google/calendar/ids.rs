//! Event ids and instance ids (`{masterId}_{YYYYMMDDTHHMMSSZ}`), and the instant an
//! `EventDateTime` names.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::google::rfc3339;

/// Whether `id` is a valid client-chosen event id.
pub fn valid_event_id(id: &str) -> bool {
    (5..=1024).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b))
}

/// The instant an `EventDateTime` names (a `date` as midnight UTC). A `dateTime` without offset
/// is a wall-clock time in `timeZone` (the offset "is required unless a time zone is explicitly
/// specified in timeZone").
pub(super) fn instant(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let v = v?;
    if let Some(dt) = v.get("dateTime").and_then(Value::as_str) {
        if let Ok(d) = DateTime::parse_from_rfc3339(dt) {
            return Some(d.with_timezone(&Utc));
        }
        let tz: chrono_tz::Tz = v.get("timeZone").and_then(Value::as_str)?.parse().ok()?;
        let local = NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
        return local.and_local_timezone(tz).earliest().map(|d| d.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(v.get("date")?.as_str()?, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The (master id, originalStartTime) an instance id names.
pub(super) fn parse_instance_id(id: &str) -> Option<(String, Value)> {
    let (master, stamp) = id.rsplit_once('_')?;
    if let Ok(t) = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ") {
        return Some((master.to_owned(), json!({"dateTime": rfc3339(t.and_utc()).replace(".000Z", "Z")})));
    }
    let d = NaiveDate::parse_from_str(stamp, "%Y%m%d").ok()?;
    Some((master.to_owned(), json!({"date": d.format("%Y-%m-%d").to_string()})))
}

/// The instance id of `master` at `original` (an `EventDateTime`).
pub(crate) fn instance_id(master: &str, original: &Value) -> Option<String> {
    if let Some(d) = original.get("date").and_then(Value::as_str) {
        return Some(format!("{master}_{}", d.replace('-', "")));
    }
    let t = instant(Some(original))?;
    Some(format!("{master}_{}", t.format("%Y%m%dT%H%M%SZ")))
}
