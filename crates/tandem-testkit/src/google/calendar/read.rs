//! The read endpoints: `GET …/events` (full and incremental sync, expansion of series, paging)
//! and `GET …/events/{eventId}`.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::ids::instant;
use super::request::calendar_owner;
use super::responses::{bad_request, invalid_param, not_found, with_etag};
use super::stored::etag;
use crate::google::{
    GoogleFake, calendar_error, decode_token, encode_token, expand, json_response, param, query_pairs, rfc3339,
};

/// `GET …/events`.
pub(crate) async fn list(
    State(fake): State<GoogleFake>,
    Path(calendar_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let owner = match calendar_owner(&fake, &headers, &calendar_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let pairs = query_pairs(query.as_deref());
    let max = match param(&pairs, "maxResults").map(str::parse::<usize>) {
        None => 250,
        Some(Ok(n)) if (1..=2500).contains(&n) => n,
        Some(_) => return invalid_param("maxResults", "Invalid value for maxResults."),
    };
    let single = param(&pairs, "singleEvents") == Some("true");
    if param(&pairs, "orderBy") == Some("startTime") && !single {
        return bad_request("The requested ordering is not available for the particular query.");
    }
    let sync_token = param(&pairs, "syncToken");
    let time_min = param(&pairs, "timeMin");
    let time_max = param(&pairs, "timeMax");
    if sync_token.is_some() {
        for p in ["timeMin", "timeMax", "updatedMin", "iCalUID", "orderBy", "q"] {
            if param(&pairs, p).is_some() {
                return invalid_param(p, &format!("Sync token cannot be used with {p}."));
            }
        }
        if param(&pairs, "showDeleted") == Some("false") {
            return invalid_param("showDeleted", "Sync token cannot be used with showDeleted=false.");
        }
    }
    let parse_time = |name: &str, v: Option<&str>| -> Result<Option<DateTime<Utc>>, Response> {
        match v {
            None => Ok(None),
            Some(v) => DateTime::parse_from_rfc3339(v)
                .map(|d| Some(d.with_timezone(&Utc)))
                .map_err(|_| invalid_param(name, "Bad Request")),
        }
    };
    let (min, max_t) = match (parse_time("timeMin", time_min), parse_time("timeMax", time_max)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let show_deleted = param(&pairs, "showDeleted") == Some("true");
    let d = fake.lock();
    // singleEvents: the requested bounds (carried by the round's tokens) and, on later pages, the
    // window the first page resolved (so the expanded list pages stably).
    let (mut bounds, mut resolved_max) = ((min, max_t), None);
    // since: changes after this seq; hi: the seq the round's nextSyncToken carries.
    let (since, hi, offset, incremental) = if let Some(page) = param(&pairs, "pageToken") {
        let text = decode_token("EP", page).unwrap_or_default();
        let (numbers, window) = text.split_once('|').map_or((text.as_str(), None), |(n, w)| (n, Some(w)));
        let window = window
            .and_then(|w| w.rsplit_once(' '))
            .and_then(|(b, m)| Some((expand::decode_bounds(b)?, DateTime::from_timestamp_millis(m.parse().ok()?)?)));
        if window.is_some() != single {
            return invalid_param("pageToken", "Invalid page token value.");
        }
        if let Some((b, m)) = window {
            (bounds, resolved_max) = (b, Some(m));
        }
        match parse_numbers(numbers) {
            Some(v) if v.len() == 5 && v[0] == d.epoch => (v[1], v[2], usize::try_from(v[3]).unwrap_or(0), v[4] == 1),
            _ => return invalid_param("pageToken", "Invalid page token value."),
        }
    } else if let Some(token) = sync_token {
        let text = decode_token("CP", token);
        if single && let Some(b) = text.as_deref().and_then(|t| t.splitn(4, ' ').nth(3)).and_then(expand::decode_bounds)
        {
            bounds = b;
        }
        match text.and_then(|t| parse_sync(&t)) {
            Some((epoch, user, seq)) if user == owner && epoch == d.epoch => (seq, d.seq, 0, true),
            Some((_, user, _)) if user == owner => {
                return calendar_error(
                    410,
                    "calendar",
                    "fullSyncRequired",
                    "Sync token is no longer valid, a full sync is required.",
                    Some(("parameter", "syncToken")),
                );
            }
            _ => return invalid_param("syncToken", "Invalid sync token value."),
        }
    } else {
        (0, d.seq, 0, false)
    };
    let Some(cal) = d.calendars.get(&owner) else { return not_found() };
    let window = expand::Window::resolve(bounds.0, resolved_max.or(bounds.1), Utc::now());
    let uid = param(&pairs, "iCalUID");
    let selected: Vec<Value> = if single {
        let all: Vec<(Value, bool)> =
            cal.events.iter().map(|(id, e)| (e.render(id, &owner, false), e.seq > since)).collect();
        let mut items = expand::single_events(&all, window, show_deleted, incremental);
        if let Some(uid) = uid {
            items.retain(|e| e.get("iCalUID").and_then(Value::as_str) == Some(uid));
        }
        expand::order(&mut items, param(&pairs, "orderBy"));
        items
    } else {
        cal.events
            .iter()
            .filter(|(_, e)| e.seq > since)
            .filter(|(_, e)| incremental || show_deleted || !e.cancelled)
            .filter(|(_, e)| {
                let start = instant(e.props.get("start"));
                let end = instant(e.props.get("end"));
                let recurring = e.props.contains_key("recurrence");
                let after_min = match (min, end) {
                    (Some(m), Some(end)) => recurring || end > m,
                    _ => true,
                };
                let before_max = match (max_t, start) {
                    (Some(m), Some(s)) => s < m,
                    _ => true,
                };
                after_min && before_max
            })
            // A series and its exceptions share the iCalUID (the exceptions' ids differ).
            .filter(|(id, e)| {
                uid.is_none_or(|u| match e.props.get("iCalUID").and_then(Value::as_str) {
                    Some(stored) => stored == u,
                    None => u.strip_suffix("@google.com") == Some(id.as_str()),
                })
            })
            .map(|(id, e)| e.render(id, &owner, true))
            .collect()
    };
    let page: Vec<Value> = selected.iter().skip(offset).take(max).cloned().collect();
    let mut out = json!({
        "kind": "calendar#events",
        "etag": etag(d.seq),
        "summary": owner,
        "updated": rfc3339(Utc::now()),
        "timeZone": "UTC",
        "accessRole": "owner",
        "defaultReminders": [],
        "items": page,
    });
    if offset + max < selected.len() {
        let mut text = format!("{} {since} {hi} {} {}", d.epoch, offset + max, u8::from(incremental));
        if single {
            text += &format!("|{} {}", expand::encode_bounds(bounds.0, bounds.1), window.max.timestamp_millis());
        }
        out["nextPageToken"] = json!(encode_token("EP", &text));
    } else {
        let mut text = format!("{} {owner} {hi}", d.epoch);
        if single {
            text += &format!(" {}", expand::encode_bounds(bounds.0, bounds.1));
        }
        out["nextSyncToken"] = json!(encode_token("CP", &text));
    }
    json_response(200, out)
}

fn parse_numbers(text: &str) -> Option<Vec<u64>> {
    text.split(' ').map(|n| n.parse().ok()).collect()
}

fn parse_sync(text: &str) -> Option<(u64, String, u64)> {
    let mut parts = text.split(' ');
    let epoch = parts.next()?.parse().ok()?;
    let user = parts.next()?.to_owned();
    let seq = parts.next()?.parse().ok()?;
    Some((epoch, user, seq))
}

/// `GET …/events/{eventId}`.
pub(crate) async fn get_event(
    State(fake): State<GoogleFake>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let owner = match calendar_owner(&fake, &headers, &calendar_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let d = fake.lock();
    match d.calendars.get(&owner).and_then(|c| c.events.get(&event_id)) {
        Some(e) => with_etag(200, e.render(&event_id, &owner, false), &e.etag()),
        None => not_found(),
    }
}
