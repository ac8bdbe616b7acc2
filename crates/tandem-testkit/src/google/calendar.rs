//! Calendar v3 events on a user's primary calendar.
//!
//! - `GET …/events`: `maxResults` (1..=2500, default 250), `pageToken`, `syncToken`,
//!   `showDeleted`, `timeMin`/`timeMax` (RFC 3339; not with `syncToken`: 400), `singleEvents`,
//!   `orderBy=startTime` (only with `singleEvents=true`, else 400 `badRequest`). Items come in id
//!   order; the first run pages and the last page carries `nextSyncToken` (the state when the
//!   first page was served). With `syncToken`, every event changed since (cancelled ones as
//!   `status: cancelled`, minimal unless an exception). An expired token
//!   ([`super::GoogleFake::expire_sync_tokens`]) answers 410 `fullSyncRequired`.
//! - `singleEvents=true` expands series (see the `expand` module): masters are replaced by their
//!   instances in `[timeMin, timeMax)` (without `timeMax`, up to two years after the later of
//!   `timeMin` and now), stored exceptions replace their occurrence, cancelled instances only with
//!   `showDeleted=true`; `orderBy` `startTime` or `updated` sorts (ties by id), else id order;
//!   `iCalUID` filters. The page token carries the resolved window (stable paging); the
//!   `nextSyncToken` carries the requested `timeMin`/`timeMax`, and an incremental round yields the
//!   changed single events and exceptions, and every instance of a changed master in that window
//!   (resolved anew; a token without one: no lower bound, two years ahead).
//! - `POST …/events`: client-chosen `id` (base32hex `a-v0-9`, 5..=1024 chars; 400 `invalid`,
//!   409 `duplicate`), `start`/`end` required, `recurrence` lines `RRULE:`/`EXRULE:`/`RDATE:`/
//!   `EXDATE:` only. Server-owned: `kind`, `etag`, `created`, `updated`, `htmlLink`, `creator`,
//!   `organizer`, `sequence`, `iCalUID` (unless supplied).
//! - `GET/PUT/PATCH/DELETE …/events/{eventId}` with `If-Match` (412 `conditionNotMet`). An id
//!   `{masterId}_{YYYYMMDDTHHMMSSZ}` (or `_{YYYYMMDD}`) of a recurring master names an instance:
//!   writing it creates an exception (`recurringEventId`, `originalStartTime`), deleting it a
//!   cancelled exception. Deleting a deleted event answers 410 `deleted`.
//! - `sendUpdates` (`all`, `externalOnly`, `none`) is recorded on every write.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use super::{
    Api, Data, GoogleFake, SCOPE_CALENDAR, SCOPE_CALENDAR_EVENTS, SendUpdates, authorize, calendar_error, decode_token,
    encode_token, expand, json_response, merge, param, query_pairs, rfc3339,
};

/// Properties the server owns; what a client sends for them is ignored.
const SERVER_OWNED: &[&str] = &["kind", "etag", "created", "updated", "htmlLink", "creator", "organizer", "sequence"];

/// One stored event (a single event, a recurring master or an exception instance).
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    props: BTreeMap<String, Value>,
    version: u64,
    seq: u64,
    cancelled: bool,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    sequence: u64,
}

/// A user's primary calendar: events by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Calendar {
    events: BTreeMap<String, StoredEvent>,
}

fn etag(version: u64) -> String {
    format!("\"{}\"", 3_180_000_000_000_000u64 + version)
}

impl StoredEvent {
    fn etag(&self) -> String {
        etag(self.version)
    }

    /// The event as Google renders it for `owner`.
    fn render(&self, id: &str, owner: &str, minimal_if_cancelled: bool) -> Value {
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

/// Whether `id` is a valid client-chosen event id.
pub fn valid_event_id(id: &str) -> bool {
    (5..=1024).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b))
}

/// The instant an `EventDateTime` names (a `date` as midnight UTC). A `dateTime` without offset
/// is a wall-clock time in `timeZone` (the offset "is required unless a time zone is explicitly
/// specified in timeZone").
fn instant(v: Option<&Value>) -> Option<DateTime<Utc>> {
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
fn parse_instance_id(id: &str) -> Option<(String, Value)> {
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

fn bad_request(message: &str) -> Response {
    calendar_error(400, "global", "badRequest", message, None)
}

fn invalid_param(name: &str, message: &str) -> Response {
    calendar_error(400, "global", "invalid", message, Some(("parameter", name)))
}

fn not_found() -> Response {
    calendar_error(404, "global", "notFound", "Not Found", None)
}

/// The authorized user's email, if `calendar_id` is their calendar.
fn calendar_owner(fake: &GoogleFake, headers: &HeaderMap, calendar_id: &str) -> Result<String, Response> {
    let grant = authorize(fake, headers, Api::Calendar, &[SCOPE_CALENDAR, SCOPE_CALENDAR_EVENTS])?;
    if calendar_id == "primary" || calendar_id.eq_ignore_ascii_case(&grant.user) {
        Ok(grant.user)
    } else {
        Err(not_found())
    }
}

fn check_body(props: &Map<String, Value>) -> Result<(), Response> {
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

fn record_send_updates(
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

fn with_etag(status: u16, body: Value, etag: &str) -> Response {
    let mut resp = json_response(status, body);
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn if_match_fails(headers: &HeaderMap, current: &str) -> bool {
    match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        None => false,
        Some("*") => false,
        Some(v) => v.trim() != current,
    }
}

fn precondition_failed() -> Response {
    calendar_error(412, "global", "conditionNotMet", "Precondition Failed", Some(("header", "If-Match")))
}

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(calendar_error(400, "global", "parseError", "Parse Error", None)),
    }
}

fn strip_owned(props: &mut Map<String, Value>) {
    for k in SERVER_OWNED {
        props.remove(*k);
    }
    props.remove("id");
}

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

/// `POST …/events`.
pub(crate) async fn insert(
    State(fake): State<GoogleFake>,
    Path(calendar_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let owner = match calendar_owner(&fake, &headers, &calendar_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut props = match parse_body(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = match props.get("id") {
        None => uuid::Uuid::new_v4().simple().to_string(),
        Some(Value::String(id)) if valid_event_id(id) => id.clone(),
        Some(_) => return calendar_error(400, "global", "invalid", "Invalid resource id value.", None),
    };
    if let Err(r) = check_body(&props) {
        return r;
    }
    strip_owned(&mut props);
    let pairs = query_pairs(query.as_deref());
    let mut d = fake.lock();
    if d.calendars.get(&owner).is_some_and(|c| c.events.contains_key(&id)) {
        return calendar_error(409, "global", "duplicate", "The requested identifier already exists.", None);
    }
    if let Err(r) = record_send_updates(&mut d, &Method::POST, &id, &pairs) {
        return r;
    }
    let event = store_new(&mut d, &owner, &id, props.into_iter().collect(), false);
    with_etag(200, event.render(&id, &owner, false), &event.etag())
}

fn store_new(d: &mut Data, owner: &str, id: &str, props: BTreeMap<String, Value>, cancelled: bool) -> StoredEvent {
    let seq = d.next_seq();
    let now = Utc::now();
    let event = StoredEvent { props, version: seq, seq, cancelled, created: now, updated: now, sequence: 0 };
    d.calendars.entry(owner.to_owned()).or_default().events.insert(id.to_owned(), event.clone());
    event
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

/// `PUT …/events/{eventId}`: replaces the client's properties.
pub(crate) async fn put(
    State(fake): State<GoogleFake>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write(fake, calendar_id, event_id, query, headers, body, Method::PUT).await
}

/// `PATCH …/events/{eventId}`: merges top-level properties (`null` removes).
pub(crate) async fn patch(
    State(fake): State<GoogleFake>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write(fake, calendar_id, event_id, query, headers, body, Method::PATCH).await
}

async fn write(
    fake: GoogleFake,
    calendar_id: String,
    event_id: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    method: Method,
) -> Response {
    let owner = match calendar_owner(&fake, &headers, &calendar_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut patch = match parse_body(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    strip_owned(&mut patch);
    let pairs = query_pairs(query.as_deref());
    let mut d = fake.lock();
    let existing = d.calendars.get(&owner).and_then(|c| c.events.get(&event_id)).cloned();
    let mut event = match existing {
        Some(e) => e,
        None => match materialize_instance(&d, &owner, &event_id) {
            Some(e) => e,
            None => return not_found(),
        },
    };
    if if_match_fails(&headers, &event.etag()) {
        return precondition_failed();
    }
    let mut props = if method == Method::PUT {
        let mut keep = BTreeMap::new();
        for k in ["recurringEventId", "originalStartTime", "iCalUID"] {
            if let Some(v) = event.props.get(k) {
                keep.insert(k.to_owned(), v.clone());
            }
        }
        keep
    } else {
        event.props.clone()
    };
    patch.remove("recurringEventId");
    patch.remove("originalStartTime");
    merge(&mut props, &patch);
    if let Err(r) = check_body(&props.clone().into_iter().collect()) {
        return r;
    }
    if let Err(r) = record_send_updates(&mut d, &method, &event_id, &pairs) {
        return r;
    }
    let seq = d.next_seq();
    event.props = props;
    event.version = seq;
    event.seq = seq;
    event.updated = Utc::now();
    event.sequence += 1;
    if patch.get("status").and_then(Value::as_str) == Some("cancelled") {
        event.cancelled = true;
    } else if event.cancelled && event.props.contains_key("recurringEventId") {
        event.cancelled = false;
    }
    d.calendars.entry(owner.clone()).or_default().events.insert(event_id.clone(), event.clone());
    with_etag(200, event.render(&event_id, &owner, false), &event.etag())
}

/// An exception instance copied from its master, when `event_id` names one.
fn materialize_instance(d: &Data, owner: &str, event_id: &str) -> Option<StoredEvent> {
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

/// `DELETE …/events/{eventId}`.
pub(crate) async fn delete(
    State(fake): State<GoogleFake>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let owner = match calendar_owner(&fake, &headers, &calendar_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let pairs = query_pairs(query.as_deref());
    let mut d = fake.lock();
    let existing = d.calendars.get(&owner).and_then(|c| c.events.get(&event_id)).cloned();
    let mut event = match existing {
        Some(e) if e.cancelled => {
            return calendar_error(410, "global", "deleted", "Resource has been deleted", None);
        }
        Some(e) => e,
        None => match materialize_instance(&d, &owner, &event_id) {
            Some(e) => e,
            None => return not_found(),
        },
    };
    if if_match_fails(&headers, &event.etag()) {
        return precondition_failed();
    }
    if let Err(r) = record_send_updates(&mut d, &Method::DELETE, &event_id, &pairs) {
        return r;
    }
    let seq = d.next_seq();
    event.cancelled = true;
    event.version = seq;
    event.seq = seq;
    event.updated = Utc::now();
    d.calendars.entry(owner).or_default().events.insert(event_id, event);
    let mut resp = json_response(204, Value::Null);
    *resp.body_mut() = axum::body::Body::empty();
    resp.headers_mut().remove(header::CONTENT_TYPE);
    resp
}

// --- the handle's side ---------------------------------------------------------------------------

impl GoogleFake {
    /// Creates (or replaces) an event in `user`'s primary calendar as a person would in the
    /// Calendar UI; `props` are Event properties (`start`, `end`, `summary`, `recurrence`, …).
    /// Returns the id.
    pub fn seed_event(&self, user: &str, id: Option<&str>, props: Value) -> Result<String, String> {
        let Value::Object(mut map) = props else { return Err("event properties must be an object".into()) };
        strip_owned(&mut map);
        check_body(&map).map_err(|_| "invalid event: start/end or recurrence".to_owned())?;
        let id = id.map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
        if !valid_event_id(&id) && parse_instance_id(&id).is_none() {
            return Err(format!("invalid event id {id}"));
        }
        let mut d = self.lock();
        store_new(&mut d, &user.to_lowercase(), &id, map.into_iter().collect(), false);
        Ok(id)
    }

    /// Changes (merges) properties of an event, as a person would; `null` removes one.
    pub fn edit_event(&self, user: &str, id: &str, patch: Value) -> Result<(), String> {
        let Value::Object(mut patch) = patch else { return Err("patch must be an object".into()) };
        strip_owned(&mut patch);
        let mut d = self.lock();
        let seq = d.next_seq();
        let owner = user.to_lowercase();
        let event =
            d.calendars.get_mut(&owner).and_then(|c| c.events.get_mut(id)).ok_or_else(|| format!("no event {id}"))?;
        merge(&mut event.props, &patch);
        event.version = seq;
        event.seq = seq;
        event.updated = Utc::now();
        event.sequence += 1;
        Ok(())
    }

    /// Makes an exception of the series `master_id` at `original_start` (an `EventDateTime`) with
    /// `patch` applied; returns the instance id.
    pub fn edit_instance(
        &self,
        user: &str,
        master_id: &str,
        original_start: Value,
        patch: Value,
    ) -> Result<String, String> {
        let id = instance_id(master_id, &original_start).ok_or("bad original start")?;
        let Value::Object(mut patch) = patch else { return Err("patch must be an object".into()) };
        strip_owned(&mut patch);
        let owner = user.to_lowercase();
        let mut d = self.lock();
        let mut event = match d.calendars.get(&owner).and_then(|c| c.events.get(&id)).cloned() {
            Some(e) => e,
            None => materialize_instance(&d, &owner, &id).ok_or("no such recurring master")?,
        };
        merge(&mut event.props, &patch);
        let seq = d.next_seq();
        event.version = seq;
        event.seq = seq;
        event.updated = Utc::now();
        event.cancelled = patch.get("status").and_then(Value::as_str) == Some("cancelled");
        d.calendars.entry(owner).or_default().events.insert(id.clone(), event);
        Ok(id)
    }

    /// Deletes an event (it becomes `status: cancelled`, as Google keeps it for sync).
    pub fn delete_event(&self, user: &str, id: &str) -> bool {
        let mut d = self.lock();
        let seq = d.next_seq();
        match d.calendars.get_mut(&user.to_lowercase()).and_then(|c| c.events.get_mut(id)) {
            Some(e) if !e.cancelled => {
                e.cancelled = true;
                e.version = seq;
                e.seq = seq;
                e.updated = Utc::now();
                true
            }
            _ => false,
        }
    }

    /// An event as the API renders it (cancelled ones included), or `None`.
    pub fn event(&self, user: &str, id: &str) -> Option<Value> {
        let owner = user.to_lowercase();
        let d = self.lock();
        d.calendars.get(&owner)?.events.get(id).map(|e| e.render(id, &owner, false))
    }

    /// Every event of `user` (cancelled ones included), in id order.
    pub fn events(&self, user: &str) -> Vec<Value> {
        let owner = user.to_lowercase();
        let d = self.lock();
        d.calendars
            .get(&owner)
            .map(|c| c.events.iter().map(|(id, e)| e.render(id, &owner, false)).collect())
            .unwrap_or_default()
    }
}
