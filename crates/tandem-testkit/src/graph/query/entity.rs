//! The entity types the routes serve, with the property tables of the v1.0 CSDL, and checks of
//! property names and paths against them.

use super::super::data::ApiError;

/// The entity type a route serves, for checking property names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entity {
    Contact,
    Event,
    ContactFolder,
    User,
}

const OUTLOOK_ITEM: &[&str] = &["id", "categories", "changeKey", "createdDateTime", "lastModifiedDateTime"];

/// Structural and navigation properties of `contact` in the v1.0 CSDL (besides those of
/// `outlookItem`).
const CONTACT: &[&str] = &[
    "assistantName",
    "birthday",
    "businessAddress",
    "businessHomePage",
    "businessPhones",
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
    "parentFolderId",
    "personalNotes",
    "primaryEmailAddress",
    "profession",
    "secondaryEmailAddress",
    "spouseName",
    "surname",
    "tertiaryEmailAddress",
    "title",
    "yomiCompanyName",
    "yomiGivenName",
    "yomiSurname",
    "extensions",
    "multiValueExtendedProperties",
    "photo",
    "singleValueExtendedProperties",
];

/// Structural and navigation properties of `event` in the v1.0 CSDL (besides those of
/// `outlookItem`).
const EVENT: &[&str] = &[
    "allowNewTimeProposals",
    "attendees",
    "body",
    "bodyPreview",
    "cancelledOccurrences",
    "end",
    "hasAttachments",
    "hideAttendees",
    "iCalUId",
    "importance",
    "isAllDay",
    "isCancelled",
    "isDraft",
    "isOnlineMeeting",
    "isOrganizer",
    "isReminderOn",
    "location",
    "locations",
    "onlineMeeting",
    "onlineMeetingProvider",
    "onlineMeetingUrl",
    "organizer",
    "originalEndTimeZone",
    "originalStart",
    "originalStartTimeZone",
    "recurrence",
    "reminderMinutesBeforeStart",
    "responseRequested",
    "responseStatus",
    "sensitivity",
    "seriesMasterId",
    "showAs",
    "start",
    "subject",
    "transactionId",
    "type",
    "webLink",
    "attachments",
    "calendar",
    "exceptionOccurrences",
    "extensions",
    "instances",
    "multiValueExtendedProperties",
    "singleValueExtendedProperties",
];

const CONTACT_FOLDER: &[&str] = &[
    "id",
    "displayName",
    "parentFolderId",
    "childFolders",
    "contacts",
    "multiValueExtendedProperties",
    "singleValueExtendedProperties",
];

/// The user properties the fake renders (the default set of `GET /users/{id}`).
const USER: &[&str] = &[
    "id",
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

impl Entity {
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Entity::Contact => "microsoft.graph.contact",
            Entity::Event => "microsoft.graph.event",
            Entity::ContactFolder => "microsoft.graph.contactFolder",
            Entity::User => "microsoft.graph.user",
        }
    }

    /// The canonical spelling of a property of this type (names are case-insensitive).
    pub(super) fn property(self, name: &str) -> Option<&'static str> {
        let lists: &[&[&'static str]] = match self {
            Entity::Contact => &[OUTLOOK_ITEM, CONTACT],
            Entity::Event => &[OUTLOOK_ITEM, EVENT],
            Entity::ContactFolder => &[CONTACT_FOLDER],
            Entity::User => &[USER],
        };
        lists.iter().flat_map(|l| l.iter()).find(|p| p.eq_ignore_ascii_case(name)).copied()
    }

    fn is_navigation(self, name: &str) -> bool {
        [
            "extensions",
            "multiValueExtendedProperties",
            "singleValueExtendedProperties",
            "photo",
            "attachments",
            "calendar",
            "exceptionOccurrences",
            "instances",
            "childFolders",
            "contacts",
        ]
        .contains(&name)
    }
}

pub(super) fn unknown_property(name: &str, entity: Entity) -> ApiError {
    ApiError::new(
        400,
        "BadRequest",
        format!("Could not find a property named '{name}' on type '{}'.", entity.type_name()),
    )
}

/// Splits a property path and checks its first segment names a structural property.
pub(super) fn check_path(path: &str, entity: Entity, purpose: &str) -> Result<Vec<String>, ApiError> {
    let mut segments: Vec<String> = path.split('/').map(str::to_owned).collect();
    let first = segments.first().cloned().unwrap_or_default();
    if first.is_empty() || segments.iter().any(String::is_empty) {
        return Err(ApiError::new(400, "BadRequest", format!("Syntax error in property path '{path}'.")));
    }
    let canonical = entity.property(&first).ok_or_else(|| unknown_property(&first, entity))?;
    if entity.is_navigation(canonical) {
        return Err(ApiError::new(
            400,
            "ErrorInvalidProperty",
            format!("The property '{canonical}' does not support {purpose}."),
        ));
    }
    if let Some(s) = segments.first_mut() {
        *s = canonical.to_owned();
    }
    Ok(segments)
}
