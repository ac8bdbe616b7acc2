//! The checks every handler makes on a request: the caller's calendar, the body, `If-Match` and
//! `sendUpdates`.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use serde_json::{Map, Value};

use super::ids::instant;
use super::responses::{invalid_param, not_found};
use crate::google::{
    Api, Data, GoogleFake, SCOPE_CALENDAR, SCOPE_CALENDAR_EVENTS, SendUpdates, authorize, calendar_error, param,
};

/// Properties the server owns; what a client sends for them is ignored.
const SERVER_OWNED: &[&str] = &["kind", "etag", "created", "updated", "htmlLink", "creator", "organizer", "sequence"];

/// The authorized user's email, if `calendar_id` is their calendar.
pub(super) fn calendar_owner(fake: &GoogleFake, headers: &HeaderMap, calendar_id: &str) -> Result<String, Response> {
    let grant = authorize(fake, headers, Api::Calendar, &[SCOPE_CALENDAR, SCOPE_CALENDAR_EVENTS])?;
    if calendar_id == "primary" || calendar_id.eq_ignore_ascii_case(&grant.user) {
        Ok(grant.user)
    } else {
        Err(not_found())
    }
}

pub(super) fn check_body(props: &Map<String, Value>) -> Result<(), Response> {
    for key in ["start", "end"] {
        if instant(props.get(key)).is_none() {
            let msg = if key == "start" { "Missing start time." } else { "Missing end time." };
            return Err(calendar_error(400, "global", "required", msg, None));
        }
    }
    if let Some(lines) = props.get("recurrence") {
        let ok = lines.as_array().is_some_and(|a| {
            a.iter().all(|l| {
                l.as_str().is_some_and(|l| {
                    ["RRULE:", "EXRULE:", "RDATE", "EXDATE"].iter().any(|p| l.to_ascii_uppercase().starts_with(p))
                })
            })
        });
        if !ok {
            return Err(calendar_error(400, "global", "invalid", "Invalid recurrence rule.", None));
        }
    }
    Ok(())
}

pub(super) fn record_send_updates(
    d: &mut Data,
    method: &Method,
    event_id: &str,
    pairs: &[(String, String)],
) -> Result<(), Response> {
    let value = param(pairs, "sendUpdates").map(str::to_owned);
    if let Some(v) = &value
        && !matches!(v.as_str(), "all" | "externalOnly" | "none")
    {
        return Err(invalid_param("sendUpdates", &format!("Invalid value '{v}' for sendUpdates.")));
    }
    d.send_updates.push(SendUpdates { method: method.as_str().to_owned(), event_id: event_id.to_owned(), value });
    Ok(())
}

pub(super) fn if_match_fails(headers: &HeaderMap, current: &str) -> bool {
    match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        None => false,
        Some("*") => false,
        Some(v) => v.trim() != current,
    }
}

pub(super) fn parse_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(calendar_error(400, "global", "parseError", "Parse Error", None)),
    }
}

pub(super) fn strip_owned(props: &mut Map<String, Value>) {
    for k in SERVER_OWNED {
        props.remove(*k);
    }
    props.remove("id");
}
