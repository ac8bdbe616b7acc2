//! Graph v1.0 JSON shapes, with the property names of the CSDL (`graph-v1.0.csdl`).

use serde::{Deserialize, Serialize};

/// `microsoft.graph.emailAddress`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmailAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) address: Option<String>,
}

/// `microsoft.graph.physicalAddress`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PhysicalAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) country_or_region: Option<String>,
}

/// `microsoft.graph.singleValueLegacyExtendedProperty`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ExtendedProperty {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) value: Option<String>,
}

/// `microsoft.graph.contact` (the properties Tandem reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Contact {
    #[serde(rename = "@odata.etag", default)]
    pub(crate) etag: Option<String>,
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) last_modified_date_time: Option<String>,
    #[serde(default)]
    pub(crate) given_name: Option<String>,
    #[serde(default)]
    pub(crate) middle_name: Option<String>,
    #[serde(default)]
    pub(crate) surname: Option<String>,
    #[serde(default)]
    pub(crate) email_addresses: Option<Vec<EmailAddress>>,
    #[serde(default)]
    pub(crate) business_phones: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) home_phones: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) mobile_phone: Option<String>,
    #[serde(default)]
    pub(crate) company_name: Option<String>,
    #[serde(default)]
    pub(crate) job_title: Option<String>,
    #[serde(default)]
    pub(crate) department: Option<String>,
    #[serde(default)]
    pub(crate) business_address: Option<PhysicalAddress>,
    #[serde(default)]
    pub(crate) home_address: Option<PhysicalAddress>,
    #[serde(default)]
    pub(crate) other_address: Option<PhysicalAddress>,
    #[serde(default)]
    pub(crate) birthday: Option<String>,
    #[serde(default)]
    pub(crate) assistant_name: Option<String>,
    #[serde(default)]
    pub(crate) personal_notes: Option<String>,
    #[serde(default)]
    pub(crate) single_value_extended_properties: Option<Vec<ExtendedProperty>>,
}

/// `microsoft.graph.dateTimeTimeZone`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DateTimeTimeZone {
    pub(crate) date_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) time_zone: Option<String>,
}

/// `microsoft.graph.itemBody`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<String>,
}

/// `microsoft.graph.location` (display name only).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) display_name: Option<String>,
}

/// `microsoft.graph.recipient`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Recipient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) email_address: Option<EmailAddress>,
}

/// `microsoft.graph.responseStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResponseStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response: Option<String>,
}

/// `microsoft.graph.attendee`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Attendee {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) email_address: Option<EmailAddress>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<ResponseStatus>,
}

/// `microsoft.graph.recurrencePattern`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecurrencePattern {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) days_of_week: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) first_day_of_week: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) index: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) day_of_month: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) month: Option<i64>,
}

/// `microsoft.graph.recurrenceRange`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecurrenceRange {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) end_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) number_of_occurrences: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) recurrence_time_zone: Option<String>,
}

/// `microsoft.graph.patternedRecurrence`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PatternedRecurrence {
    #[serde(default)]
    pub(crate) pattern: Option<RecurrencePattern>,
    #[serde(default)]
    pub(crate) range: Option<RecurrenceRange>,
}

/// `microsoft.graph.event` (the properties Tandem reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event {
    #[serde(rename = "@odata.etag", default)]
    pub(crate) etag: Option<String>,
    pub(crate) id: String,
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) series_master_id: Option<String>,
    #[serde(default)]
    pub(crate) last_modified_date_time: Option<String>,
    #[serde(default)]
    pub(crate) subject: Option<String>,
    #[serde(default)]
    pub(crate) body: Option<ItemBody>,
    #[serde(default)]
    pub(crate) location: Option<Location>,
    #[serde(default)]
    pub(crate) start: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub(crate) end: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub(crate) original_start_time_zone: Option<String>,
    #[serde(default)]
    pub(crate) original_end_time_zone: Option<String>,
    #[serde(default)]
    pub(crate) original_start: Option<String>,
    #[serde(default)]
    pub(crate) is_all_day: Option<bool>,
    #[serde(default)]
    pub(crate) is_cancelled: Option<bool>,
    #[serde(default)]
    pub(crate) recurrence: Option<PatternedRecurrence>,
    #[serde(default)]
    pub(crate) attendees: Option<Vec<Attendee>>,
    #[serde(default)]
    pub(crate) organizer: Option<Recipient>,
    #[serde(default)]
    pub(crate) is_organizer: Option<bool>,
    #[serde(default)]
    pub(crate) sensitivity: Option<String>,
    #[serde(default)]
    pub(crate) show_as: Option<String>,
    #[serde(default)]
    pub(crate) categories: Option<Vec<String>>,
    #[serde(rename = "iCalUId", default)]
    pub(crate) ical_uid: Option<String>,
    #[serde(default)]
    pub(crate) transaction_id: Option<String>,
    #[serde(default)]
    pub(crate) cancelled_occurrences: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) exception_occurrences: Option<Vec<Event>>,
}
