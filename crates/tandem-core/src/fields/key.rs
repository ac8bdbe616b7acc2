//! [`FieldKey`], the name of one synced field: the standard fields of each object kind, the
//! dotted names keys are written and parsed as, and their serialisation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::UnknownField;
use crate::model::{AddressKind, ObjectKind, PhoneKind};

/// The name of one synced field. Serialised as a dotted string: `given_name`, `phone.mobile`,
/// `address.home`, `custom.Region__c`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldKey {
    /// Contact given name.
    GivenName,
    /// Contact middle name.
    MiddleName,
    /// Contact family name.
    FamilyName,
    /// Contact email addresses (ordered list).
    Emails,
    /// The numbers of one phone slot.
    Phone(PhoneKind),
    /// Contact company / account name.
    Company,
    /// Contact job title.
    Title,
    /// Contact department.
    Department,
    /// The postal addresses of one kind (work, home, other). One field per kind, as phones are: a
    /// side that cannot hold a kind never compares, converts or blanks it.
    Address(AddressKind),
    /// Contact birthday.
    Birthday,
    /// Contact assistant name.
    AssistantName,
    /// Contact notes.
    Notes,
    /// Event subject.
    Subject,
    /// Event description.
    Description,
    /// Event location.
    Location,
    /// Event start and end.
    Timing,
    /// Event recurrence.
    Recurrence,
    /// Event organizer.
    Organizer,
    /// Event attendees, as a whole: the name configuration, capabilities and filters use. Sync
    /// state and patches never hold it: attendees sync one by one ([`FieldKey::Attendee`]).
    Attendees,
    /// One attendee of an event, by lower-cased email address: the unit attendees sync in, so an
    /// attendee added or removed on one side is added or removed on the other and the attendees a
    /// side cannot hold (Salesforce holds only its own contacts, leads and users) are never
    /// removed from the side that has them. Only presence is compared: names, roles and answers
    /// ride along when an attendee is added.
    Attendee(String),
    /// Event privacy.
    Privacy,
    /// Event show-as.
    ShowAs,
    /// Event categories.
    Categories,
    /// Event links to CRM records.
    CrmLinks,
    /// A custom field, by canonical name.
    Custom(String),
}

/// Every standard (non-custom, unnamed) field: a contact's, then an event's, each in field
/// order. [`FieldKey::standard`] slices it per object kind; the sync state's field codes are
/// places in it.
pub(crate) static STANDARD_FIELDS: [FieldKey; 31] = [
    FieldKey::GivenName,
    FieldKey::MiddleName,
    FieldKey::FamilyName,
    FieldKey::Emails,
    FieldKey::Phone(PhoneKind::Business),
    FieldKey::Phone(PhoneKind::Mobile),
    FieldKey::Phone(PhoneKind::Home),
    FieldKey::Phone(PhoneKind::BusinessFax),
    FieldKey::Phone(PhoneKind::HomeFax),
    FieldKey::Phone(PhoneKind::Assistant),
    FieldKey::Phone(PhoneKind::Other),
    FieldKey::Company,
    FieldKey::Title,
    FieldKey::Department,
    FieldKey::Address(AddressKind::Work),
    FieldKey::Address(AddressKind::Home),
    FieldKey::Address(AddressKind::Other),
    FieldKey::Birthday,
    FieldKey::AssistantName,
    FieldKey::Notes,
    FieldKey::Subject,
    FieldKey::Description,
    FieldKey::Location,
    FieldKey::Timing,
    FieldKey::Recurrence,
    FieldKey::Organizer,
    FieldKey::Attendees,
    FieldKey::Privacy,
    FieldKey::ShowAs,
    FieldKey::Categories,
    FieldKey::CrmLinks,
];

/// How many of [`STANDARD_FIELDS`] are a contact's.
const CONTACT_FIELD_COUNT: usize = 20;

impl FieldKey {
    /// The standard (non-custom) fields of an object kind.
    pub fn standard(kind: ObjectKind) -> &'static [FieldKey] {
        match kind {
            ObjectKind::Contact => &STANDARD_FIELDS[..CONTACT_FIELD_COUNT],
            ObjectKind::Event => &STANDARD_FIELDS[CONTACT_FIELD_COUNT..],
        }
    }

    /// The key's place among all standard fields (a contact's, then an event's, each in field
    /// order), or `None` for a single attendee or a custom field; [`FieldKey::standard_at`] is
    /// the way back. Found without comparing keys, so encoders of [`FieldPrints`] can map a
    /// field to a code of their own with a table lookup.
    ///
    /// The places follow this build's fields: a store that keeps codes must keep its own table
    /// (the places move when a field is added in the middle).
    ///
    /// ```
    /// use tandem_core::fields::FieldKey;
    ///
    /// let place = FieldKey::Title.standard_index().unwrap();
    /// assert_eq!(FieldKey::standard_at(place), Some(&FieldKey::Title));
    /// assert_eq!(FieldKey::attendee("ada@example.com").standard_index(), None);
    /// ```
    ///
    /// [`FieldPrints`]: crate::state::FieldPrints
    pub fn standard_index(&self) -> Option<usize> {
        crate::state::prints::standard_code(self).map(usize::from)
    }

    /// The standard field at `index` of [`FieldKey::standard_index`], or `None` past the last.
    pub fn standard_at(index: usize) -> Option<&'static FieldKey> {
        STANDARD_FIELDS.get(index)
    }

    /// Whether this key belongs to records of `kind`. Custom fields belong to both.
    pub fn applies_to(&self, kind: ObjectKind) -> bool {
        matches!(self, FieldKey::Custom(_))
            || (matches!(self, FieldKey::Attendee(_)) && kind == ObjectKind::Event)
            || FieldKey::standard(kind).contains(self)
    }

    /// The key one attendee syncs under: its address, trimmed and lower-cased.
    pub fn attendee(email: &str) -> FieldKey {
        FieldKey::Attendee(email.trim().to_lowercase())
    }

    /// The field this key belongs to for configuration and capabilities: [`FieldKey::Attendees`]
    /// for one attendee, the key itself otherwise.
    pub fn family(&self) -> &FieldKey {
        match self {
            FieldKey::Attendee(_) => &FieldKey::Attendees,
            other => other,
        }
    }

    /// True for fields whose value is free text (and so can be truncated).
    pub fn is_text(&self) -> bool {
        matches!(
            self,
            FieldKey::GivenName
                | FieldKey::MiddleName
                | FieldKey::FamilyName
                | FieldKey::Company
                | FieldKey::Title
                | FieldKey::Department
                | FieldKey::AssistantName
                | FieldKey::Notes
                | FieldKey::Subject
                | FieldKey::Description
                | FieldKey::Location
                | FieldKey::Custom(_)
        )
    }
}

impl FieldKey {
    /// The name as [`Display`](fmt::Display) writes it, without formatting, for every key but
    /// the ones carrying text (custom fields and single attendees): `None` for those. Stores
    /// write the names of every print of every pair they commit.
    pub fn static_name(&self) -> Option<&'static str> {
        Some(match self {
            FieldKey::GivenName => "given_name",
            FieldKey::MiddleName => "middle_name",
            FieldKey::FamilyName => "family_name",
            FieldKey::Emails => "emails",
            FieldKey::Phone(kind) => match kind {
                PhoneKind::Business => "phone.business",
                PhoneKind::Mobile => "phone.mobile",
                PhoneKind::Home => "phone.home",
                PhoneKind::BusinessFax => "phone.business_fax",
                PhoneKind::HomeFax => "phone.home_fax",
                PhoneKind::Assistant => "phone.assistant",
                PhoneKind::Other => "phone.other",
            },
            FieldKey::Company => "company",
            FieldKey::Title => "title",
            FieldKey::Department => "department",
            FieldKey::Address(kind) => match kind {
                AddressKind::Work => "address.work",
                AddressKind::Home => "address.home",
                AddressKind::Other => "address.other",
            },
            FieldKey::Birthday => "birthday",
            FieldKey::AssistantName => "assistant_name",
            FieldKey::Notes => "notes",
            FieldKey::Subject => "subject",
            FieldKey::Description => "description",
            FieldKey::Location => "location",
            FieldKey::Timing => "timing",
            FieldKey::Recurrence => "recurrence",
            FieldKey::Organizer => "organizer",
            FieldKey::Attendees => "attendees",
            FieldKey::Privacy => "privacy",
            FieldKey::ShowAs => "show_as",
            FieldKey::Categories => "categories",
            FieldKey::CrmLinks => "crm_links",
            FieldKey::Custom(_) | FieldKey::Attendee(_) => return None,
        })
    }
}

impl fmt::Display for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldKey::Custom(name) => write!(f, "custom.{name}"),
            FieldKey::Attendee(email) => write!(f, "attendee.{email}"),
            // Every other key has a name of its own.
            other => f.write_str(other.static_name().unwrap_or_default()),
        }
    }
}

/// Names of fields Tandem no longer has, which sync state written by an earlier version may still
/// hold: `addresses`, the single list of every address kind that became one field per kind
/// (`address.work`, `address.home`, `address.other`). Their stored fingerprints are dropped when
/// read (see docs/sync-semantics.md, "Upgrades"); they are not field names anywhere else.
pub const RETIRED_FIELD_NAMES: [&str; 1] = ["addresses"];

impl FromStr for FieldKey {
    type Err = UnknownField;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(kind) = s.strip_prefix("phone.") {
            return PhoneKind::parse(kind).map(FieldKey::Phone).ok_or_else(|| UnknownField(s.to_owned()));
        }
        if let Some(kind) = s.strip_prefix("address.") {
            return AddressKind::parse(kind).map(FieldKey::Address).ok_or_else(|| UnknownField(s.to_owned()));
        }
        if let Some(email) = s.strip_prefix("attendee.") {
            if email.trim().is_empty() {
                return Err(UnknownField(s.to_owned()));
            }
            return Ok(FieldKey::attendee(email));
        }
        if let Some(name) = s.strip_prefix("custom.") {
            if name.is_empty() {
                return Err(UnknownField(s.to_owned()));
            }
            return Ok(FieldKey::Custom(name.to_owned()));
        }
        STANDARD_FIELDS.iter().find(|k| k.to_string() == s).cloned().ok_or_else(|| UnknownField(s.to_owned()))
    }
}

impl Serialize for FieldKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The same text as `Display`; a fixed name without the formatting machinery (every
        // journaled pair state writes forty of them).
        match self.static_name() {
            Some(name) => serializer.serialize_str(name),
            None => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for FieldKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
