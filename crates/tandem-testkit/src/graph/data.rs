//! The fake's mailboxes: users, contact folders, contacts, events with their series, and the
//! change sequence that delta queries read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::recur::Pattern;
use super::util::{
    Prefer, error_body, format_instant, format_local, html_to_text, instant_of, new_item_id, occurrence_id, parse_dttz,
    parse_instant, parse_local, present_id, random_token, resolve_tz,
};
use super::{DeltaExpiry, DuplicateTransaction, GraphFakeConfig};

/// An error answer of the Graph API.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.to_owned(), message: message.into(), headers: Vec::new() }
    }

    pub(crate) fn not_found() -> Self {
        ApiError::new(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "ErrorInvalidRequest", message)
    }

    pub(crate) fn body(&self) -> Value {
        error_body(&self.code, &self.message)
    }
}

/// One answer of the API: status, headers and an optional JSON body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Value>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Reply { status, headers: Vec::new(), body: Some(body) }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Reply { status, headers: Vec::new(), body: None }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        let body = e.body();
        Reply { status: e.status, headers: e.headers, body: Some(body) }
    }
}

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
    pub(crate) data: Map<String, Value>,
    pub(crate) ext: BTreeMap<String, String>,
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
    pub(crate) data: Map<String, Value>,
    pub(crate) transaction_id: Option<String>,
    pub(crate) ical_uid: String,
    pub(crate) ext: BTreeMap<String, String>,
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

impl EventRec {
    fn is_series(&self) -> bool {
        self.data.get("recurrence").is_some_and(Value::is_object)
    }

    fn all_day(&self) -> bool {
        self.data.get("isAllDay").and_then(Value::as_bool).unwrap_or(false)
    }

    /// `(start instant, start local, start zone, duration)` of the master.
    fn timing(&self) -> Option<(DateTime<Utc>, chrono::NaiveDateTime, Tz, Duration)> {
        let (start, local, tz) = parse_dttz(self.data.get("start")?)?;
        let (end, _, _) = parse_dttz(self.data.get("end")?)?;
        Some((start, local, tz, end - start))
    }

    /// The occurrences (and exceptions) of the event that overlap `[from, to)`; for a single
    /// instance, the event itself when it overlaps. Cancelled occurrences are left out.
    pub(crate) fn instances(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Instance> {
        let Some((start, local, tz, duration)) = self.timing() else { return Vec::new() };
        if !self.is_series() {
            let end = start + duration;
            return if start < to && end > from {
                vec![Instance { id: self.id.clone(), date: None }]
            } else {
                Vec::new()
            };
        }
        let Some(pattern) = self.data.get("recurrence").and_then(|r| Pattern::parse(r).ok()) else {
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
        self.data
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

/// A registered certificate of an app.
#[derive(Debug, Clone)]
pub(crate) struct Cert {
    pub(crate) rsa_der: Vec<u8>,
    pub(crate) x5t: String,
    pub(crate) x5t_s256: String,
}

/// An app registration.
#[derive(Debug, Clone, Default)]
pub(crate) struct App {
    pub(crate) secrets: Vec<String>,
    pub(crate) certs: Vec<Cert>,
    pub(crate) redirect_uris: Vec<String>,
    /// RBAC for Applications: the mailboxes app-only tokens may reach (`None`: all).
    pub(crate) scope: Option<BTreeSet<String>>,
}

/// What an access token grants.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    /// The signed-in user (lower-case UPN) of a delegated token.
    pub(crate) user: Option<String>,
    pub(crate) expires: std::time::Instant,
}

/// A refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) user: String,
    pub(crate) scope: String,
}

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) user: String,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: Option<String>,
    pub(crate) scope: String,
}

/// What a delta query covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    Contacts { mailbox: String, folder: String },
    Calendar { mailbox: String, start: DateTime<Utc>, end: DateTime<Utc> },
}

impl Scope {
    pub(crate) fn mailbox(&self) -> &str {
        match self {
            Scope::Contacts { mailbox, .. } | Scope::Calendar { mailbox, .. } => mailbox,
        }
    }
}

/// The state a `$deltatoken` stands for: where the next round starts.
#[derive(Debug, Clone)]
pub(crate) struct DeltaToken {
    pub(crate) scope: Scope,
    pub(crate) seq: u64,
    pub(crate) generation: u64,
    /// The round that issued the token: its pages are superseded once the token is used.
    pub(crate) round: u64,
    /// The `$select` of the first request, encoded in the links as Graph does.
    pub(crate) select: Option<Vec<String>>,
}

/// One delta round: the rows it serves, taken when the round starts.
#[derive(Debug)]
pub(crate) struct DeltaRound {
    pub(crate) id: u64,
    pub(crate) scope: Scope,
    pub(crate) rows: Vec<Value>,
    pub(crate) next_seq: u64,
    pub(crate) generation: u64,
    pub(crate) select: Option<Vec<String>>,
}

/// The state a `$skiptoken` stands for: a page of a round. Fetching it again serves the same
/// rows and the same next link.
#[derive(Debug, Clone)]
pub(crate) struct DeltaPage {
    pub(crate) round: Arc<DeltaRound>,
    pub(crate) offset: usize,
    pub(crate) page_size: usize,
    /// The link this page answered with (`@odata.nextLink` or `@odata.deltaLink`) once served.
    pub(crate) next: Option<(&'static str, String)>,
}

/// A predicate over inner batch requests: `(method, url, body)`.
pub(crate) type ItemPredicate = Arc<dyn Fn(&str, &str, Option<&Value>) -> bool + Send + Sync>;

/// Failure injected into inner batch requests.
pub(crate) struct ItemFailure {
    pub(crate) remaining: u32,
    pub(crate) predicate: Option<ItemPredicate>,
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) retry_after: Option<u64>,
}

/// Everything the fake holds.
pub(crate) struct Data {
    pub(crate) config: GraphFakeConfig,
    pub(crate) seq: u64,
    pub(crate) mailboxes: BTreeMap<String, Mailbox>,
    pub(crate) apps: BTreeMap<String, App>,
    pub(crate) access_tokens: HashMap<String, Grant>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    pub(crate) codes: HashMap<String, CodeGrant>,
    pub(crate) used_jtis: HashSet<String>,
    pub(crate) signed_in: Option<String>,
    pub(crate) delta_tokens: HashMap<String, DeltaToken>,
    pub(crate) delta_pages: HashMap<String, DeltaPage>,
    /// Delta rounds started so far.
    pub(crate) delta_rounds: u64,
    pub(crate) generation: u64,
    pub(crate) counters: BTreeMap<String, u64>,
    pub(crate) without_immutable_id: u64,
    pub(crate) batch_sizes: Vec<usize>,
    pub(crate) item_failures: VecDeque<ItemFailure>,
    pub(crate) lose_batch_responses: u32,
    pub(crate) batch_slots: HashMap<String, usize>,
    pub(crate) peak: HashMap<String, usize>,
    pub(crate) inner_throttled: u64,
}

pub(crate) const CONTACT_WRITABLE: &[&str] = &[
    "assistantName",
    "birthday",
    "businessAddress",
    "businessHomePage",
    "businessPhones",
    "categories",
    "children",
    "companyName",
    "department",
    "displayName",
    "emailAddresses",
    "fileAs",
    "generation",
    "givenName",
    "homeAddress",
    "homePhones",
    "imAddresses",
    "initials",
    "jobTitle",
    "manager",
    "middleName",
    "mobilePhone",
    "nickName",
    "officeLocation",
    "otherAddress",
    "personalNotes",
    "profession",
    "spouseName",
    "surname",
    "title",
    "yomiCompanyName",
    "yomiGivenName",
    "yomiSurname",
];

pub(crate) const EVENT_WRITABLE: &[&str] = &[
    "allowNewTimeProposals",
    "attendees",
    "body",
    "categories",
    "end",
    "hideAttendees",
    "importance",
    "isAllDay",
    "isOnlineMeeting",
    "isReminderOn",
    "location",
    "locations",
    "onlineMeetingProvider",
    "organizer",
    "recurrence",
    "reminderMinutesBeforeStart",
    "responseRequested",
    "sensitivity",
    "showAs",
    "start",
    "subject",
];

/// Properties an exception (a modified occurrence) may change.
const EXCEPTION_WRITABLE: &[&str] = &[
    "attendees",
    "body",
    "categories",
    "end",
    "importance",
    "isReminderOn",
    "location",
    "locations",
    "reminderMinutesBeforeStart",
    "sensitivity",
    "showAs",
    "start",
    "subject",
];

/// The complex types written in request bodies: `(type, property, type of the property's value)`.
/// Unknown nested properties are refused as the service refuses them; the CSDL test checks
/// this table against the official schema.
pub(crate) const WRITE_SCHEMA: &[(&str, &str, Option<&str>)] = &[
    ("contact", "emailAddresses", Some("emailAddress")),
    ("contact", "businessAddress", Some("physicalAddress")),
    ("contact", "homeAddress", Some("physicalAddress")),
    ("contact", "otherAddress", Some("physicalAddress")),
    ("contact", "singleValueExtendedProperties", Some("singleValueLegacyExtendedProperty")),
    ("event", "body", Some("itemBody")),
    ("event", "start", Some("dateTimeTimeZone")),
    ("event", "end", Some("dateTimeTimeZone")),
    ("event", "location", Some("location")),
    ("event", "locations", Some("location")),
    ("event", "attendees", Some("attendee")),
    ("event", "organizer", Some("recipient")),
    ("event", "recurrence", Some("patternedRecurrence")),
    ("event", "singleValueExtendedProperties", Some("singleValueLegacyExtendedProperty")),
    ("emailAddress", "address", None),
    ("emailAddress", "name", None),
    ("physicalAddress", "street", None),
    ("physicalAddress", "city", None),
    ("physicalAddress", "state", None),
    ("physicalAddress", "postalCode", None),
    ("physicalAddress", "countryOrRegion", None),
    ("singleValueLegacyExtendedProperty", "id", None),
    ("singleValueLegacyExtendedProperty", "value", None),
    ("itemBody", "contentType", None),
    ("itemBody", "content", None),
    ("dateTimeTimeZone", "dateTime", None),
    ("dateTimeTimeZone", "timeZone", None),
    ("location", "displayName", None),
    ("location", "locationType", None),
    ("location", "locationEmailAddress", None),
    ("location", "locationUri", None),
    ("location", "uniqueId", None),
    ("location", "uniqueIdType", None),
    ("location", "address", Some("physicalAddress")),
    ("location", "coordinates", None),
    ("attendee", "emailAddress", Some("emailAddress")),
    ("attendee", "type", None),
    ("attendee", "status", Some("responseStatus")),
    ("attendee", "proposedNewTime", None),
    ("recipient", "emailAddress", Some("emailAddress")),
    ("responseStatus", "response", None),
    ("responseStatus", "time", None),
    ("patternedRecurrence", "pattern", Some("recurrencePattern")),
    ("patternedRecurrence", "range", Some("recurrenceRange")),
    ("recurrencePattern", "type", None),
    ("recurrencePattern", "interval", None),
    ("recurrencePattern", "month", None),
    ("recurrencePattern", "dayOfMonth", None),
    ("recurrencePattern", "daysOfWeek", None),
    ("recurrencePattern", "firstDayOfWeek", None),
    ("recurrencePattern", "index", None),
    ("recurrenceRange", "type", None),
    ("recurrenceRange", "startDate", None),
    ("recurrenceRange", "endDate", None),
    ("recurrenceRange", "recurrenceTimeZone", None),
    ("recurrenceRange", "numberOfOccurrences", None),
];

/// Checks the nested properties of a body of type `ty` against [`WRITE_SCHEMA`].
fn validate_nested(value: &Value, ty: &str) -> Result<(), ApiError> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| validate_nested(v, ty)),
        Value::Object(map) => {
            for (key, v) in map {
                if key.starts_with("@odata.") {
                    continue;
                }
                let entry = WRITE_SCHEMA.iter().find(|(t, p, _)| *t == ty && p == key);
                match entry {
                    Some((_, _, Some(child))) => validate_nested(v, child)?,
                    Some((_, _, None)) => {}
                    // Top-level properties without a complex type were checked already.
                    None if ty == "contact" || ty == "event" => {}
                    None => return Err(unknown_property(key, &format!("{}{}", ty[..1].to_uppercase(), &ty[1..]))),
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

const SENSITIVITY: &[&str] = &["normal", "personal", "private", "confidential"];
const FREE_BUSY: &[&str] = &["unknown", "free", "tentative", "busy", "oof", "workingElsewhere"];
const ATTENDEE_TYPE: &[&str] = &["required", "optional", "resource"];
const RESPONSE_TYPE: &[&str] = &["none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded"];

fn etag(change_key: &str) -> String {
    format!("W/\"{change_key}\"")
}

pub(crate) fn new_change_key() -> String {
    random_token(40)
}

fn matches_etag(if_match: Option<&str>, change_key: &str) -> bool {
    match if_match.map(str::trim) {
        None | Some("*") => true,
        Some(v) => v.trim_start_matches("W/").trim_matches('"') == change_key,
    }
}

fn precondition_failed() -> ApiError {
    ApiError::new(
        412,
        "ErrorIrresolvableConflict",
        "The send or update operation could not be performed because the change key passed in the request does \
         not match the current change key for the item.",
    )
}

fn unknown_property(name: &str, entity: &str) -> ApiError {
    ApiError::new(
        400,
        "RequestBodyRead",
        format!(
            "The property '{name}' does not exist on type 'Microsoft.OutlookServices.{entity}'. Make sure to only use \
             property names that are defined by the type or mark the type as open type."
        ),
    )
}

fn bad_enum(value: &Value, ty: &str) -> ApiError {
    ApiError::new(400, "RequestBodyRead", format!("Cannot convert the literal '{value}' to the expected type '{ty}'."))
}

fn check_enum(body: &Map<String, Value>, key: &str, allowed: &[&str], ty: &str) -> Result<(), ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(other) => Err(bad_enum(other, ty)),
    }
}

/// Reads the single-value extended properties of a create or update body.
fn extended_properties(body: &Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(list) = body.get("singleValueExtendedProperties") else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or_else(|| ApiError::bad_request("singleValueExtendedProperties must be a list"))?;
    let mut out = Vec::new();
    for p in list {
        let id = p.get("id").and_then(Value::as_str).unwrap_or_default();
        let value = p.get("value").and_then(Value::as_str).unwrap_or_default();
        if !valid_property_id(id) {
            return Err(ApiError::new(
                400,
                "ErrorInvalidProperty",
                "PropertyId values may only be in one of the following formats: 'MapiPropertyType namespaceGuid Name \
                 propertyName', 'MapiPropertyType namespaceGuid Id propertyId' or 'MapiPropertyType propertyTag'.",
            ));
        }
        out.push((id.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// `String {guid} Name X` and friends.
pub(crate) fn valid_property_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split_whitespace().collect();
    match parts.as_slice() {
        [_ty, guid, kind, _name] => {
            guid.starts_with('{') && guid.ends_with('}') && guid.len() == 38 && matches!(*kind, "Name" | "Id")
        }
        [_ty, tag] => tag.starts_with("0x"),
        _ => false,
    }
}

fn validate_keys(body: &Map<String, Value>, allowed: &[&str], entity: &str, extra: &[&str]) -> Result<(), ApiError> {
    for key in body.keys() {
        if key.starts_with("@odata.") || allowed.contains(&key.as_str()) || extra.contains(&key.as_str()) {
            continue;
        }
        return Err(unknown_property(key, entity));
    }
    validate_nested(&Value::Object(body.clone()), &entity.to_lowercase())
}

fn validate_contact(body: &Map<String, Value>, config: &GraphFakeConfig) -> Result<(), ApiError> {
    if let Some(max) = config.max_contact_emails
        && body.get("emailAddresses").and_then(Value::as_array).is_some_and(|l| l.len() > max)
    {
        return Err(ApiError::new(
            400,
            "ErrorInvalidArgument",
            format!("A contact can have at most {max} email addresses."),
        ));
    }
    if let Some(b) = body.get("birthday").filter(|b| !b.is_null())
        && b.as_str().and_then(parse_instant).is_none()
    {
        return Err(bad_enum(b, "Edm.DateTimeOffset"));
    }
    Ok(())
}

fn validate_event(data: &Map<String, Value>) -> Result<(), ApiError> {
    check_enum(data, "sensitivity", SENSITIVITY, "microsoft.graph.sensitivity")?;
    check_enum(data, "showAs", FREE_BUSY, "microsoft.graph.freeBusyStatus")?;
    if let Some(list) = data.get("attendees").and_then(Value::as_array) {
        if list.len() > 500 {
            return Err(ApiError::new(400, "ErrorInvalidRecipients", "An event can have at most 500 attendees."));
        }
        for a in list {
            if let Some(a) = a.as_object() {
                check_enum(a, "type", ATTENDEE_TYPE, "microsoft.graph.attendeeType")?;
                if let Some(status) = a.get("status").and_then(Value::as_object) {
                    check_enum(status, "response", RESPONSE_TYPE, "microsoft.graph.responseType")?;
                }
            }
        }
    }
    let time = |key: &str| -> Result<(DateTime<Utc>, chrono::NaiveDateTime, String), ApiError> {
        let v = data.get(key).filter(|v| v.is_object()).ok_or_else(|| {
            ApiError::new(400, "ErrorPropertyValidationFailure", format!("The property '{key}' is required."))
        })?;
        let zone = v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC").to_owned();
        if resolve_tz(&zone).is_none() {
            return Err(ApiError::new(
                400,
                "TimeZoneNotSupportedException",
                format!(
                    "A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone}'."
                ),
            ));
        }
        let (instant, local, _) = parse_dttz(v).ok_or_else(|| {
            ApiError::new(400, "ErrorPropertyValidationFailure", format!("Invalid dateTime in '{key}'."))
        })?;
        Ok((instant, local, zone))
    };
    let (start, start_local, start_zone) = time("start")?;
    let (end, end_local, end_zone) = time("end")?;
    if end < start {
        return Err(ApiError::new(400, "ErrorPropertyValidationFailure", "The end of the event is before its start."));
    }
    if data.get("isAllDay").and_then(Value::as_bool).unwrap_or(false) {
        let midnight = |t: chrono::NaiveDateTime| t.time() == NaiveTime::MIN;
        if !midnight(start_local) || !midnight(end_local) || start_zone != end_zone || end <= start {
            return Err(ApiError::new(
                400,
                "ErrorPropertyValidationFailure",
                "An all-day event must start and end at midnight in the same time zone.",
            ));
        }
    }
    if let Some(r) = data.get("recurrence").filter(|r| !r.is_null()) {
        Pattern::parse(r).map_err(|e| ApiError::new(400, "ErrorPropertyValidationFailure", e))?;
    }
    Ok(())
}

/// Parses `startDateTime`-style query values (with or without a zone suffix; without means UTC).
pub(crate) fn parse_query_time(s: &str) -> Option<DateTime<Utc>> {
    parse_instant(s).or_else(|| parse_local(s).map(|t| t.and_utc()))
}

impl Data {
    pub(crate) fn new(config: GraphFakeConfig) -> Self {
        Data {
            config,
            seq: 0,
            mailboxes: BTreeMap::new(),
            apps: BTreeMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            codes: HashMap::new(),
            used_jtis: HashSet::new(),
            signed_in: None,
            delta_tokens: HashMap::new(),
            delta_pages: HashMap::new(),
            delta_rounds: 0,
            generation: 0,
            counters: BTreeMap::new(),
            without_immutable_id: 0,
            batch_sizes: Vec::new(),
            item_failures: VecDeque::new(),
            lose_batch_responses: 0,
            batch_slots: HashMap::new(),
            peak: HashMap::new(),
            inner_throttled: 0,
        }
    }

    pub(crate) fn tick(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The key (lower-case UPN) of the mailbox named by `user` (a UPN or an object id).
    pub(crate) fn mailbox_key(&self, user: &str) -> Option<String> {
        let lower = user.to_lowercase();
        if self.mailboxes.contains_key(&lower) {
            return Some(lower);
        }
        self.mailboxes.values().find(|m| m.id.eq_ignore_ascii_case(user)).map(|m| m.upn.to_lowercase())
    }

    pub(crate) fn mailbox(&self, key: &str) -> Result<&Mailbox, ApiError> {
        self.mailboxes
            .get(key)
            .ok_or_else(|| ApiError::new(404, "ErrorInvalidUser", format!("The requested user '{key}' is invalid.")))
    }

    pub(crate) fn mailbox_mut(&mut self, key: &str) -> Result<&mut Mailbox, ApiError> {
        self.mailboxes
            .get_mut(key)
            .ok_or_else(|| ApiError::new(404, "ErrorInvalidUser", format!("The requested user '{key}' is invalid.")))
    }

    pub(crate) fn add_mailbox(&mut self, upn: &str, display_name: &str) -> String {
        let key = upn.to_lowercase();
        if let Some(m) = self.mailboxes.get(&key) {
            return m.id.clone();
        }
        let id = uuid::Uuid::new_v4().to_string();
        let default_folder = new_item_id();
        self.mailboxes.insert(
            key,
            Mailbox {
                id: id.clone(),
                upn: upn.to_owned(),
                display_name: display_name.to_owned(),
                default_folder,
                folders: BTreeMap::new(),
                contacts: BTreeMap::new(),
                events: BTreeMap::new(),
            },
        );
        id
    }

    // --- folders ------------------------------------------------------------------------------

    pub(crate) fn create_folder(&mut self, mb: &str, name: &str) -> Result<Folder, ApiError> {
        let mailbox = self.mailbox_mut(mb)?;
        if name.trim().is_empty() {
            return Err(ApiError::bad_request("The folder name is required."));
        }
        if mailbox.folders.values().any(|f| f.display_name.eq_ignore_ascii_case(name)) {
            return Err(ApiError::new(409, "ErrorFolderExists", "A folder with the specified name already exists."));
        }
        let folder =
            Folder { id: new_item_id(), display_name: name.to_owned(), parent: mailbox.default_folder.clone() };
        mailbox.folders.insert(folder.id.clone(), folder.clone());
        Ok(folder)
    }

    pub(crate) fn folder_key(&self, mb: &str, folder: &str) -> Result<String, ApiError> {
        let mailbox = self.mailbox(mb)?;
        let id = super::util::canonical_id(folder);
        if id == mailbox.default_folder || mailbox.folders.contains_key(&id) || folder.eq_ignore_ascii_case("contacts")
        {
            if folder.eq_ignore_ascii_case("contacts") {
                return Ok(mailbox.default_folder.clone());
            }
            return Ok(id);
        }
        Err(ApiError::not_found())
    }

    // --- contacts -----------------------------------------------------------------------------

    pub(crate) fn create_contact(
        &mut self,
        mb: &str,
        folder: &str,
        body: &Map<String, Value>,
    ) -> Result<String, ApiError> {
        self.create_contact_checked(mb, folder, body, true)
    }

    /// Creates a contact; `check` false stores what another client might have stored.
    pub(crate) fn create_contact_checked(
        &mut self,
        mb: &str,
        folder: &str,
        body: &Map<String, Value>,
        check: bool,
    ) -> Result<String, ApiError> {
        if check {
            validate_keys(body, CONTACT_WRITABLE, "Contact", &["singleValueExtendedProperties"])?;
            validate_contact(body, &self.config)?;
        }
        let ext = extended_properties(body)?;
        let seq = self.tick();
        let now = Utc::now();
        let mailbox = self.mailbox_mut(mb)?;
        let mut data = body.clone();
        data.remove("singleValueExtendedProperties");
        data.retain(|k, _| !k.starts_with("@odata."));
        let id = new_item_id();
        mailbox.contacts.insert(
            id.clone(),
            ContactRec {
                id: id.clone(),
                change_key: new_change_key(),
                created: now,
                modified: now,
                seq,
                deleted_seq: None,
                folder: folder.to_owned(),
                data,
                ext: ext.into_iter().collect(),
            },
        );
        Ok(id)
    }

    pub(crate) fn contact(&self, mb: &str, id: &str) -> Result<&ContactRec, ApiError> {
        let id = super::util::canonical_id(id);
        self.mailbox(mb)?.contacts.get(&id).filter(|c| c.deleted_seq.is_none()).ok_or_else(ApiError::not_found)
    }

    pub(crate) fn update_contact(
        &mut self,
        mb: &str,
        id: &str,
        patch: &Map<String, Value>,
        if_match: Option<&str>,
    ) -> Result<String, ApiError> {
        validate_keys(patch, CONTACT_WRITABLE, "Contact", &["singleValueExtendedProperties"])?;
        validate_contact(patch, &self.config)?;
        let ext = extended_properties(patch)?;
        let seq = self.tick();
        let id = super::util::canonical_id(id);
        let contact = self
            .mailbox_mut(mb)?
            .contacts
            .get_mut(&id)
            .filter(|c| c.deleted_seq.is_none())
            .ok_or_else(ApiError::not_found)?;
        if !matches_etag(if_match, &contact.change_key) {
            return Err(precondition_failed());
        }
        for (k, v) in patch {
            if k.starts_with("@odata.") || k == "singleValueExtendedProperties" {
                continue;
            }
            contact.data.insert(k.clone(), v.clone());
        }
        contact.ext.extend(ext);
        contact.change_key = new_change_key();
        contact.modified = Utc::now();
        contact.seq = seq;
        Ok(id)
    }

    pub(crate) fn delete_contact(&mut self, mb: &str, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
        let seq = self.tick();
        let id = super::util::canonical_id(id);
        let contact = self
            .mailbox_mut(mb)?
            .contacts
            .get_mut(&id)
            .filter(|c| c.deleted_seq.is_none())
            .ok_or_else(ApiError::not_found)?;
        if !matches_etag(if_match, &contact.change_key) {
            return Err(precondition_failed());
        }
        contact.deleted_seq = Some(seq);
        Ok(())
    }

    pub(crate) fn render_contact(&self, c: &ContactRec, prefer: &Prefer, expand_ext: Option<&str>) -> Value {
        let mut out = Map::new();
        out.insert("@odata.etag".into(), json!(etag(&c.change_key)));
        out.insert("id".into(), json!(present_id(&c.id, prefer.immutable_id)));
        out.insert("createdDateTime".into(), json!(format_instant(c.created)));
        out.insert("lastModifiedDateTime".into(), json!(format_instant(c.modified)));
        out.insert("changeKey".into(), json!(c.change_key));
        out.insert("categories".into(), c.data.get("categories").cloned().unwrap_or_else(|| json!([])));
        out.insert("parentFolderId".into(), json!(present_id(&c.folder, prefer.immutable_id)));
        for key in CONTACT_WRITABLE {
            if *key == "categories" {
                continue;
            }
            let default = match *key {
                "businessPhones" | "homePhones" | "imAddresses" | "children" | "emailAddresses" => json!([]),
                "businessAddress" | "homeAddress" | "otherAddress" => json!({}),
                _ => Value::Null,
            };
            let value = match c.data.get(*key) {
                Some(Value::Null) | None => default,
                Some(v) => v.clone(),
            };
            out.insert((*key).to_owned(), value);
        }
        if out.get("displayName").is_some_and(Value::is_null) {
            let name: Vec<&str> = ["givenName", "middleName", "surname"]
                .iter()
                .filter_map(|k| c.data.get(*k).and_then(Value::as_str))
                .filter(|s| !s.is_empty())
                .collect();
            out.insert("displayName".into(), json!(name.join(" ")));
        }
        if let Some(filter) = expand_ext {
            out.insert("singleValueExtendedProperties".into(), render_ext(&c.ext, filter));
        }
        Value::Object(out)
    }

    // --- events -------------------------------------------------------------------------------

    /// Creates an event; returns its id and whether it already existed (transactionId replay).
    pub(crate) fn create_event(&mut self, mb: &str, body: &Map<String, Value>) -> Result<(String, bool), ApiError> {
        validate_keys(body, EVENT_WRITABLE, "Event", &["singleValueExtendedProperties", "transactionId"])?;
        validate_event(body)?;
        let ext = extended_properties(body)?;
        let transaction = body.get("transactionId").and_then(Value::as_str).map(str::to_owned);
        let duplicate = self.config.duplicate_transaction;
        let mailbox = self.mailbox(mb)?;
        if let Some(tx) = &transaction
            && let Some(existing) =
                mailbox.events.values().find(|e| e.deleted_seq.is_none() && e.transaction_id.as_ref() == Some(tx))
        {
            return match duplicate {
                DuplicateTransaction::ReturnExisting => Ok((existing.id.clone(), true)),
                DuplicateTransaction::Conflict => Err(ApiError::new(
                    409,
                    "ErrorDuplicateTransactionId",
                    "An event with the same transactionId already exists.",
                )),
            };
        }
        let upn = mailbox.upn.clone();
        let display = mailbox.display_name.clone();
        let seq = self.tick();
        let now = Utc::now();
        let mut data = body.clone();
        data.remove("singleValueExtendedProperties");
        data.remove("transactionId");
        data.retain(|k, _| !k.starts_with("@odata."));
        if data.get("organizer").is_none_or(Value::is_null) {
            data.insert("organizer".into(), json!({"emailAddress": {"name": display, "address": upn}}));
        }
        // The mailbox's own meeting, or its copy of someone else's (an invitation it received).
        let own = data
            .get("organizer")
            .and_then(|o| o.pointer("/emailAddress/address"))
            .and_then(Value::as_str)
            .is_none_or(|a| a.eq_ignore_ascii_case(&upn));
        data.insert("isOrganizer".into(), json!(own));
        let id = new_item_id();
        let ical_uid = format!("040000008200E00074C5B7101A82E008{}", uuid::Uuid::new_v4().simple()).to_uppercase();
        self.mailbox_mut(mb)?.events.insert(
            id.clone(),
            EventRec {
                id: id.clone(),
                change_key: new_change_key(),
                created: now,
                modified: now,
                seq,
                deleted_seq: None,
                data,
                transaction_id: transaction,
                ical_uid,
                ext: ext.into_iter().collect(),
                exceptions: BTreeMap::new(),
                cancelled: BTreeMap::new(),
            },
        );
        Ok((id, false))
    }

    /// Resolves an event id: `(master or single id, occurrence date)`.
    pub(crate) fn resolve_event(&self, mb: &str, id: &str) -> Result<(String, Option<NaiveDate>), ApiError> {
        let id = super::util::canonical_id(id);
        let mailbox = self.mailbox(mb)?;
        if mailbox.events.get(&id).is_some_and(|e| e.deleted_seq.is_none()) {
            return Ok((id, None));
        }
        if let Some((master, date)) = super::util::parse_occurrence_id(&id)
            && let Some(e) = mailbox.events.get(master).filter(|e| e.deleted_seq.is_none())
            && !e.cancelled.contains_key(&date)
            && e.has_occurrence(date)
        {
            return Ok((master.to_owned(), Some(date)));
        }
        Err(ApiError::not_found())
    }

    pub(crate) fn event(&self, mb: &str, id: &str) -> Result<&EventRec, ApiError> {
        self.mailbox(mb)?.events.get(id).filter(|e| e.deleted_seq.is_none()).ok_or_else(ApiError::not_found)
    }

    pub(crate) fn update_event(
        &mut self,
        mb: &str,
        id: &str,
        patch: &Map<String, Value>,
        if_match: Option<&str>,
    ) -> Result<String, ApiError> {
        let (master, date) = self.resolve_event(mb, id)?;
        let seq = self.tick();
        let now = Utc::now();
        match date {
            None => {
                validate_keys(patch, EVENT_WRITABLE, "Event", &["singleValueExtendedProperties"])?;
                let ext = extended_properties(patch)?;
                let event = self.mailbox_mut(mb)?.events.get_mut(&master).ok_or_else(ApiError::not_found)?;
                if !matches_etag(if_match, &event.change_key) {
                    return Err(precondition_failed());
                }
                let mut data = event.data.clone();
                for (k, v) in patch {
                    if k.starts_with("@odata.") || k == "singleValueExtendedProperties" {
                        continue;
                    }
                    data.insert(k.clone(), v.clone());
                }
                validate_event(&data)?;
                // Changing the pattern or the times of a series drops its exceptions, as Outlook does.
                let series_changed = ["recurrence", "start", "end", "isAllDay"]
                    .iter()
                    .any(|k| patch.contains_key(*k) && patch.get(*k) != event.data.get(*k));
                if series_changed {
                    event.exceptions.clear();
                    event.cancelled.clear();
                }
                event.data = data;
                event.ext.extend(ext);
                event.change_key = new_change_key();
                event.modified = now;
                event.seq = seq;
                Ok(master)
            }
            Some(date) => {
                validate_keys(patch, EXCEPTION_WRITABLE, "Event", &[])?;
                let event = self.mailbox_mut(mb)?.events.get_mut(&master).ok_or_else(ApiError::not_found)?;
                let current = event.exceptions.get(&date).map_or(&event.change_key, |x| &x.change_key);
                if !matches_etag(if_match, current) {
                    return Err(precondition_failed());
                }
                let mut x = event.exceptions.remove(&date).unwrap_or(ExceptionRec {
                    change_key: String::new(),
                    seq,
                    modified: now,
                    data: Map::new(),
                });
                for (k, v) in patch {
                    if !k.starts_with("@odata.") {
                        x.data.insert(k.clone(), v.clone());
                    }
                }
                let mut merged = event.data.clone();
                merged.remove("recurrence");
                if let Some(os) = event.original_start(date) {
                    let (_, _, _, duration) =
                        event.timing().unwrap_or((os, os.naive_utc(), chrono_tz::UTC, Duration::zero()));
                    merged.insert("start".into(), json!({"dateTime": format_local(os.naive_utc()), "timeZone": "UTC"}));
                    merged.insert(
                        "end".into(),
                        json!({"dateTime": format_local((os + duration).naive_utc()), "timeZone": "UTC"}),
                    );
                }
                for (k, v) in &x.data {
                    merged.insert(k.clone(), v.clone());
                }
                validate_event(&merged)?;
                x.change_key = new_change_key();
                x.seq = seq;
                x.modified = now;
                event.exceptions.insert(date, x);
                // The master's change key moves with its exceptions.
                event.change_key = new_change_key();
                Ok(occurrence_id(&master, date))
            }
        }
    }

    pub(crate) fn delete_event(&mut self, mb: &str, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
        let (master, date) = self.resolve_event(mb, id)?;
        let seq = self.tick();
        let event = self.mailbox_mut(mb)?.events.get_mut(&master).ok_or_else(ApiError::not_found)?;
        match date {
            None => {
                if !matches_etag(if_match, &event.change_key) {
                    return Err(precondition_failed());
                }
                event.deleted_seq = Some(seq);
            }
            Some(date) => {
                let current = event.exceptions.get(&date).map_or(&event.change_key, |x| &x.change_key);
                if !matches_etag(if_match, current) {
                    return Err(precondition_failed());
                }
                event.exceptions.remove(&date);
                event.cancelled.insert(date, seq);
                event.change_key = new_change_key();
            }
        }
        Ok(())
    }

    /// The JSON of a master or single event.
    pub(crate) fn render_event(
        &self,
        mb: &Mailbox,
        e: &EventRec,
        prefer: &Prefer,
        expand_exceptions: bool,
        expand_ext: Option<&str>,
    ) -> Value {
        let mut out = self.event_base(e, &e.data, prefer);
        let series = e.is_series();
        out.insert("@odata.etag".into(), json!(etag(&e.change_key)));
        out.insert("id".into(), json!(present_id(&e.id, prefer.immutable_id)));
        out.insert("changeKey".into(), json!(e.change_key));
        out.insert("type".into(), json!(if series { "seriesMaster" } else { "singleInstance" }));
        out.insert("seriesMasterId".into(), Value::Null);
        out.insert("recurrence".into(), e.data.get("recurrence").cloned().unwrap_or(Value::Null));
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
        let (_, local, tz, duration) = e.timing()?;
        let original = instant_of(date.and_time(local.time()), tz);
        let exception = e.exceptions.get(&date);
        let id = present_id(&occurrence_id(&e.id, date), prefer.immutable_id);
        let master_id = present_id(&e.id, prefer.immutable_id);
        let all_day = e.all_day();
        let zone_name = e.data.get("start").and_then(|s| s.get("timeZone")).and_then(Value::as_str).unwrap_or("UTC");
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
        let mut data = e.data.clone();
        data.remove("recurrence");
        data.insert("start".into(), occ_time(original));
        data.insert("end".into(), occ_time(original + duration));
        if let Some(x) = exception {
            for (k, v) in &x.data {
                data.insert(k.clone(), v.clone());
            }
        }
        let mut out = self.event_base(e, &data, prefer);
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

    /// The properties every event rendering shares.
    fn event_base(&self, e: &EventRec, data: &Map<String, Value>, prefer: &Prefer) -> Map<String, Value> {
        let all_day = data.get("isAllDay").and_then(Value::as_bool).unwrap_or(false);
        let mut out = Map::new();
        out.insert("createdDateTime".into(), json!(format_instant(e.created)));
        out.insert("lastModifiedDateTime".into(), json!(format_instant(e.modified)));
        out.insert("categories".into(), data.get("categories").cloned().unwrap_or_else(|| json!([])));
        out.insert("transactionId".into(), e.transaction_id.clone().map_or(Value::Null, Value::String));
        let zone = |key: &str| {
            e.data.get(key).and_then(|v| v.get("timeZone")).and_then(Value::as_str).unwrap_or("UTC").to_owned()
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

    // --- delta ----------------------------------------------------------------------------------

    /// The rows of a delta round over `scope`: everything (initial) or what changed after `since`.
    pub(crate) fn delta_rows(&self, scope: &Scope, since: Option<u64>, prefer: &Prefer) -> Vec<Value> {
        let Ok(mailbox) = self.mailbox(scope.mailbox()) else { return Vec::new() };
        let removed = |id: &str, ty: &str| json!({"@odata.type": format!("#microsoft.graph.{ty}"), "id": present_id(id, prefer.immutable_id), "@removed": {"reason": "deleted"}});
        let mut rows = Vec::new();
        match scope {
            Scope::Contacts { folder, .. } => {
                for c in mailbox.contacts.values().filter(|c| &c.folder == folder) {
                    match (since, c.deleted_seq) {
                        (None, None) => rows.push(self.render_contact(c, prefer, None)),
                        (None, Some(_)) => {}
                        (Some(s), Some(d)) if d > s && c.seq <= s => rows.push(removed(&c.id, "contact")),
                        (Some(_), Some(_)) => {}
                        (Some(s), None) if c.seq > s => rows.push(self.render_contact(c, prefer, None)),
                        (Some(_), None) => {}
                    }
                }
            }
            Scope::Calendar { start, end, .. } => {
                for e in mailbox.events.values() {
                    self.calendar_rows(mailbox, e, *start, *end, since, prefer, &mut rows);
                }
            }
        }
        if self.config.delta_replays {
            let again = rows.clone();
            rows.extend(again);
        }
        rows
    }

    #[allow(clippy::too_many_arguments)]
    fn calendar_rows(
        &self,
        mb: &Mailbox,
        e: &EventRec,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        since: Option<u64>,
        prefer: &Prefer,
        rows: &mut Vec<Value>,
    ) {
        let removed = |id: &str| json!({"@odata.type": "#microsoft.graph.event", "id": present_id(id, prefer.immutable_id), "@removed": {"reason": "deleted"}});
        let instances = e.instances(from, to);
        let include_master = self.config.calendar_view_includes_masters;
        if !e.is_series() {
            match (since, e.deleted_seq) {
                (None, None) if !instances.is_empty() => rows.push(self.render_event(mb, e, prefer, false, None)),
                (Some(s), Some(d)) if d > s => rows.push(removed(&e.id)),
                (Some(s), None) if e.seq > s => {
                    if instances.is_empty() {
                        // Changes outside the window surface as removals; clients filter them.
                        rows.push(removed(&e.id));
                    } else {
                        rows.push(self.render_event(mb, e, prefer, false, None));
                    }
                }
                _ => {}
            }
            return;
        }
        let render = |i: &Instance| i.date.and_then(|d| self.render_instance(mb, e, d, prefer, true));
        match (since, e.deleted_seq) {
            (None, None) => {
                if include_master && !instances.is_empty() {
                    rows.push(self.render_event(mb, e, prefer, false, None));
                }
                rows.extend(instances.iter().filter_map(render));
            }
            (Some(s), Some(d)) if d > s => {
                rows.extend(instances.iter().map(|i| removed(&i.id)));
                if include_master {
                    rows.push(removed(&e.id));
                }
            }
            (Some(s), None) if e.seq > s => {
                if include_master && !instances.is_empty() {
                    rows.push(self.render_event(mb, e, prefer, false, None));
                }
                rows.extend(instances.iter().filter_map(render));
            }
            (Some(s), None) => {
                for (date, x) in &e.exceptions {
                    if x.seq > s {
                        match instances.iter().find(|i| i.date == Some(*date)) {
                            Some(i) => rows.extend(render(i)),
                            None => rows.push(removed(&occurrence_id(&e.id, *date))),
                        }
                    }
                }
                for (date, seq) in &e.cancelled {
                    if *seq > s {
                        rows.push(removed(&occurrence_id(&e.id, *date)));
                    }
                }
            }
            _ => {}
        }
    }

    /// Expires every delta and skip token issued so far.
    pub(crate) fn expire_delta_tokens(&mut self) {
        self.generation += 1;
        // Expired state is never served again; only its generation mattered.
        self.delta_pages.clear();
        self.delta_tokens.clear();
    }

    /// The answer to a request carrying an expired or unknown token.
    pub(crate) fn expired_reply(&self, location: String) -> Reply {
        match self.config.delta_expiry {
            DeltaExpiry::Gone => Reply::from(ApiError::new(
                410,
                "resyncRequired",
                "Resync required. Replace any local items with the server's items, and then sync again.",
            ))
            .header("Location", location),
            DeltaExpiry::SyncStateNotFound { status } => Reply::from(ApiError::new(
                status,
                "syncStateNotFound",
                "The sync state generation is not found. Please do a full sync.",
            )),
        }
    }
}

/// `singleValueExtendedProperties` filtered by `$expand=singleValueExtendedProperties($filter=id eq '…')`.
fn render_ext(ext: &BTreeMap<String, String>, filter: &str) -> Value {
    let wanted = super::api::quoted_after(filter, "id eq");
    Value::Array(
        ext.iter()
            .filter(|(id, _)| wanted.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(id)))
            .map(|(id, value)| json!({"id": id, "value": value}))
            .collect(),
    )
}
