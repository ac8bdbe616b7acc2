//! Checking request bodies: the writable properties, the nested write schema, enum values, and
//! the contact and event rules; parsing query times.

use chrono::{DateTime, NaiveTime, Utc};
use serde_json::{Map, Value};

use super::ApiError;
use crate::graph::GraphFakeConfig;
use crate::graph::recur::Pattern;
use crate::graph::util::{parse_dttz, parse_instant, parse_local, resolve_tz};

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
pub(super) const EXCEPTION_WRITABLE: &[&str] = &[
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

pub(super) fn validate_keys(
    body: &Map<String, Value>,
    allowed: &[&str],
    entity: &str,
    extra: &[&str],
) -> Result<(), ApiError> {
    for key in body.keys() {
        if key.starts_with("@odata.") || allowed.contains(&key.as_str()) || extra.contains(&key.as_str()) {
            continue;
        }
        return Err(unknown_property(key, entity));
    }
    validate_nested(&Value::Object(body.clone()), &entity.to_lowercase())
}

pub(super) fn validate_contact(body: &Map<String, Value>, config: &GraphFakeConfig) -> Result<(), ApiError> {
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

pub(super) fn validate_event(data: &Map<String, Value>) -> Result<(), ApiError> {
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
