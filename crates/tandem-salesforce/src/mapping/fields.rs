//! The field catalogue: the Contact and Event fields the connector reads, the slots phone, text and
//! address fields map to, the batch and duration limits, and the capabilities declared from them.

use tandem_core::capabilities::{Capabilities, ObjectCapabilities};
use tandem_core::fields::FieldKey;
use tandem_core::model::PhoneKind;

use super::Mapping;

/// Salesforce's longest event, in minutes (14 days).
pub const MAX_EVENT_MINUTES: i64 = 14 * 24 * 60;

/// Records per sObject collection request.
pub const MAX_BATCH: usize = 200;

/// Contact phone fields and the slot each maps to (Lightning Sync's mapping).
pub(crate) const PHONE_FIELDS: [(&str, PhoneKind); 6] = [
    ("Phone", PhoneKind::Business),
    ("MobilePhone", PhoneKind::Mobile),
    ("HomePhone", PhoneKind::Home),
    ("Fax", PhoneKind::BusinessFax),
    ("OtherPhone", PhoneKind::Other),
    ("AssistantPhone", PhoneKind::Assistant),
];

pub(crate) const CONTACT_TEXT: [(&str, FieldKey); 7] = [
    ("FirstName", FieldKey::GivenName),
    ("LastName", FieldKey::FamilyName),
    ("Title", FieldKey::Title),
    ("Department", FieldKey::Department),
    ("AssistantName", FieldKey::AssistantName),
    ("Description", FieldKey::Notes),
    ("MiddleName", FieldKey::MiddleName),
];

pub(super) const MAILING: [&str; 5] =
    ["MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry"];

pub(super) const OTHER: [&str; 5] = ["OtherStreet", "OtherCity", "OtherState", "OtherPostalCode", "OtherCountry"];

/// The Contact fields the connector reads (besides the configured custom and key fields).
pub(crate) fn contact_fields(middle_name: bool) -> Vec<&'static str> {
    let mut f = vec!["Id", "SystemModstamp", "OwnerId", "FirstName", "LastName"];
    if middle_name {
        f.push("MiddleName");
    }
    f.extend(["Email", "Title", "Department", "AssistantName", "Birthdate", "Description"]);
    f.extend(PHONE_FIELDS.iter().map(|(n, _)| *n));
    f.extend(MAILING);
    f.extend(OTHER);
    f.push("Account.Name");
    f
}

/// The Event fields the connector reads (besides the configured custom and key fields).
pub(crate) fn event_fields() -> Vec<&'static str> {
    vec![
        "Id",
        "SystemModstamp",
        "OwnerId",
        "IsChild",
        "Subject",
        "Description",
        "Location",
        "StartDateTime",
        "EndDateTime",
        "IsAllDayEvent",
        "ActivityDate",
        "DurationInMinutes",
        "IsPrivate",
        "ShowAs",
        "WhoId",
        "WhatId",
        "IsRecurrence2",
        "Recurrence2PatternText",
        "Recurrence2PatternTimeZone",
        "IsRecurrence2Exception",
        "IsRecurrence2Exclusion",
        "RecurrenceActivityId",
    ]
}

/// Other Contact fields a filter may name (standard fields the mapping does not sync).
pub(crate) const CONTACT_FILTER_EXTRA: [&str; 8] = [
    "LeadSource",
    "AccountId",
    "OwnerId",
    "CreatedDate",
    "LastModifiedDate",
    "IsEmailBounced",
    "HasOptedOutOfEmail",
    "DoNotCall",
];

impl Mapping {
    pub(super) fn declare(&self) -> Capabilities {
        let mut contacts =
            ObjectCapabilities { supported: true, max_batch: MAX_BATCH, custom_fields: true, ..Default::default() };
        contacts = contacts
            .with_limit(FieldKey::GivenName, Some(40), false)
            .with_limit(FieldKey::FamilyName, Some(80), true)
            .with_limit(FieldKey::Emails, Some(80), false)
            .with_max_items(FieldKey::Emails, 1)
            .with_limit(FieldKey::Title, Some(128), false)
            .with_limit(FieldKey::Department, Some(80), false)
            .with_limit(FieldKey::AssistantName, Some(40), false)
            .with_limit(FieldKey::Notes, Some(32_000), false)
            .with_limit(FieldKey::Birthday, None, false);
        // One address of each mapped kind, one field per kind: a kind no Salesforce address holds
        // is not declared, so the planner never compares it here nor blanks it on the mailbox.
        for kind in self.addresses.iter().filter_map(|(_, kind)| *kind) {
            contacts =
                contacts.with_limit(FieldKey::Address(kind), None, false).with_max_items(FieldKey::Address(kind), 1);
        }
        if self.middle_name {
            contacts = contacts.with_limit(FieldKey::MiddleName, Some(40), false);
        }
        for (_, kind) in PHONE_FIELDS {
            contacts =
                contacts.with_limit(FieldKey::Phone(kind), Some(40), false).with_max_items(FieldKey::Phone(kind), 1);
        }
        // `company` is the Account's name. With account matching it is written as the link to
        // the one Account of that name (`related`), and what cannot be linked is reported
        // unstored, never guessed; without, it is read-only: a change of account still reaches
        // the mailbox.
        contacts = contacts.with_limit(FieldKey::Company, Some(255), false);
        if !self.match_accounts {
            contacts = contacts.with_read_only(FieldKey::Company);
        }
        for c in &self.contact_custom {
            contacts = contacts.with_limit(FieldKey::Custom(c.name.clone()), c.max_len, false);
        }
        let mut events = ObjectCapabilities {
            supported: true,
            max_batch: MAX_BATCH,
            custom_fields: true,
            max_event_minutes: Some(MAX_EVENT_MINUTES),
            ..Default::default()
        };
        events = events
            .with_limit(FieldKey::Subject, Some(255), false)
            .with_limit(FieldKey::Location, Some(255), false)
            .with_limit(FieldKey::Description, Some(32_000), false)
            .with_limit(FieldKey::Timing, None, true)
            .with_limit(FieldKey::Recurrence, None, false)
            .with_limit(FieldKey::Privacy, None, false)
            .with_limit(FieldKey::ShowAs, None, false)
            .with_limit(FieldKey::CrmLinks, None, false)
            .with_max_items(FieldKey::CrmLinks, 2)
            // Salesforce generates a series' occurrences from its pattern when the series is
            // written: moved occurrences are not kept, so its fingerprint must not hold them.
            .with_max_items(FieldKey::Recurrence, 0);
        // Attendees are invitees (EventRelation), one by one: an address that matches a Contact,
        // Lead or User is written as an invitation (`related`); one that matches none cannot be
        // stored and is reported unstored. The organizer (the owner) is not written.
        events = events.with_limit(FieldKey::Attendees, None, false);
        for c in &self.event_custom {
            events = events.with_limit(FieldKey::Custom(c.name.clone()), c.max_len, false);
        }
        Capabilities { contacts, events }
    }
}
