//! Field-level access to records: the unit of diff, merge, capability and mapping.
//!
//! A [`FieldKey`] names one synced field; [`Record::get`] and [`Record::set`] read and write it as a
//! [`FieldValue`]; [`FieldValue::fingerprint`] gives the stable 64-bit hash that sync state keeps
//! instead of the data itself.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::{
    AddressKind, Attendee, Contact, CrmLink, EmailAddress, Event, EventTime, EventTiming, ObjectKind, Person, Phone,
    PhoneKind, PostalAddress, Privacy, Record, Recurrence, ShowAs,
};

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

/// A field name that is not one of Tandem's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown field name `{0}`")]
pub struct UnknownField(pub String);

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

/// The value of one field. `None` in the surrounding `Option` means absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    /// Free text.
    Text(String),
    /// A list of strings (phone numbers of one slot, categories).
    List(Vec<String>),
    /// Email addresses.
    Emails(Vec<EmailAddress>),
    /// Postal addresses (of one kind, as [`FieldKey::Address`] reads them).
    Addresses(Vec<PostalAddress>),
    /// A date.
    Date(NaiveDate),
    /// Event timing.
    Timing(EventTiming),
    /// Recurrence.
    Recurrence(Recurrence),
    /// A person.
    Person(Person),
    /// Attendees.
    Attendees(Vec<Attendee>),
    /// One attendee ([`FieldKey::Attendee`]).
    Attendee(Attendee),
    /// Privacy.
    Privacy(Privacy),
    /// Show-as.
    ShowAs(ShowAs),
    /// CRM links.
    CrmLinks(Vec<CrmLink>),
}

impl FieldValue {
    /// A stable 64-bit fingerprint of the value, independent of process, platform and run.
    /// The sync state keeps fingerprints, not data, so Tandem stores no copy of the records.
    ///
    /// Email addresses compare case-insensitively, as mail systems treat them: `ADA@X.COM` and
    /// `ada@x.com` have one fingerprint. Timed starts and ends compare as instants, whatever zone
    /// they are written in.
    pub fn fingerprint(&self) -> u64 {
        let canonical = self.canonical();
        hash_json(canonical.as_ref().unwrap_or(self))
    }

    /// The value with email addresses lower-cased, when it holds any.
    fn canonical(&self) -> Option<FieldValue> {
        let lower = |s: &str| canonical_address(s).into_owned();
        match self {
            FieldValue::Emails(list) => Some(FieldValue::Emails(
                list.iter().map(|e| EmailAddress { kind: e.kind, address: lower(&e.address) }).collect(),
            )),
            FieldValue::Attendees(list) => Some(FieldValue::Attendees(
                list.iter().map(|a| Attendee { email: lower(&a.email), ..a.clone() }).collect(),
            )),
            // One attendee is compared by presence only: its address. Systems spell names
            // differently, and roles and answers are each side's own.
            FieldValue::Attendee(a) => Some(FieldValue::Attendee(Attendee {
                email: lower(&a.email),
                name: None,
                role: Default::default(),
                response: Default::default(),
            })),
            FieldValue::Person(p) => Some(FieldValue::Person(Person { email: lower(&p.email), name: p.name.clone() })),
            // One instant written in two zones is one time: Salesforce answers in the user's zone,
            // Graph in UTC. A zone change alone is not an edit.
            FieldValue::Timing(t) => {
                let utc = |time: &EventTime| match (time, time.instant()) {
                    (EventTime::Zoned { .. }, Some(at)) => EventTime::utc(at.naive_utc()),
                    _ => time.clone(),
                };
                Some(FieldValue::Timing(EventTiming { start: utc(&t.start), end: utc(&t.end) }))
            }
            _ => None,
        }
    }

    /// The text, for text values.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// The fingerprint of an optional value; absent has its own fixed fingerprint.
pub fn fingerprint(value: Option<&FieldValue>) -> u64 {
    value.map_or(0, FieldValue::fingerprint)
}

thread_local! {
    /// The JSON text of the value being printed, reused by each thread.
    static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The xxh3 hash of a value's JSON text: what a fingerprint is.
fn hash_json<T: Serialize + fmt::Debug>(value: &T) -> u64 {
    // The JSON text goes to a buffer each thread reuses (the planner prints every synced field of
    // every changed record); the bytes hashed are those `serde_json::to_vec` would return.
    written_print(|out| serde_json::to_writer(out, value).ok()).unwrap_or_else(|| {
        // Serialising a value made of strings, lists, dates and enums cannot fail; should it ever,
        // the Debug text is an equally stable input.
        let bytes = serde_json::to_vec(value).unwrap_or_else(|_| format!("{value:?}").into_bytes());
        xxhash_rust::xxh3::xxh3_64(&bytes)
    })
}

/// A field value borrowed from its record, serialised exactly as the [`FieldValue`] that
/// [`Record::get`] would copy out (same tag, same variant names, same content), so it hashes to
/// the same fingerprint without the copy. Only for values a fingerprint does not canonicalise.
#[derive(Debug, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
enum Borrowed<'a> {
    Text(&'a str),
    List(Vec<&'a str>),
    Emails(Vec<EmailRef<'a>>),
    Addresses(Vec<&'a PostalAddress>),
}

/// An [`EmailAddress`] as a fingerprint canonicalises it (trimmed, lower-cased), serialised as
/// one: same fields, same order. Borrowed when the address is canonical already.
#[derive(Debug, Serialize)]
struct EmailRef<'a> {
    kind: AddressKind,
    address: std::borrow::Cow<'a, str>,
}

impl<'a> EmailRef<'a> {
    fn new(e: &'a EmailAddress) -> Self {
        EmailRef { kind: e.kind, address: canonical_address(&e.address) }
    }
}

/// An address as fingerprints compare it, `address.trim().to_lowercase()`: borrowed when it is
/// that already.
fn canonical_address(address: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = address.trim();
    if trimmed.bytes().any(|b| !b.is_ascii() || b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(trimmed.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(trimmed)
    }
}

impl Borrowed<'_> {
    fn print(&self) -> u64 {
        hash_json(self)
    }
}

/// The print of a text field as [`text`] reads it.
fn text_print(v: &Option<String>) -> u64 {
    v.as_deref().filter(|s| !s.is_empty()).map_or(0, text_value_print)
}

/// The print of `FieldValue::Text(s)`. Most text needs no JSON escape (no quote, backslash or
/// control character): its JSON is then the text between fixed bytes, hashed without a
/// serialiser.
fn text_value_print(s: &str) -> u64 {
    // Put together in the reused buffer and hashed in one call: for the short text of most
    // fields that is several times cheaper than setting up xxh3's streaming state.
    let written = written_print(|out| {
        out.extend_from_slice(br#"{"type":"text","value":"#);
        push_json_str(out, s)?;
        out.push(b'}');
        Some(())
    });
    written.unwrap_or_else(|| Borrowed::Text(s).print())
}

/// The print of a list field as [`nonempty`] reads it.
fn list_print<'a>(items: impl Iterator<Item = &'a str> + Clone) -> u64 {
    array_print("list", items.clone(), push_json_str).unwrap_or_else(|| Borrowed::List(items.collect()).print())
}

/// The print of a contact's email addresses as [`Record::get`] reads them (canonicalised as
/// [`FieldValue::fingerprint`] does).
fn emails_print(emails: &[EmailAddress]) -> u64 {
    let written = array_print("emails", emails.iter(), |out, email| {
        let email = EmailRef::new(email);
        out.extend_from_slice(br#"{"kind":""#);
        out.extend_from_slice(email.kind.as_str().as_bytes());
        out.extend_from_slice(br#"","address":"#);
        push_json_str(out, &email.address)?;
        out.push(b'}');
        Some(())
    });
    written.unwrap_or_else(|| Borrowed::Emails(emails.iter().map(EmailRef::new).collect()).print())
}

/// The print of a contact's addresses of one kind as [`Record::get`] reads them.
fn addresses_print<'a>(addresses: impl Iterator<Item = &'a PostalAddress> + Clone) -> u64 {
    let written = array_print("addresses", addresses.clone(), |out, a| {
        // `PostalAddress`'s fields in declaration order, absent ones as `null`: what its derived
        // `Serialize` writes.
        out.extend_from_slice(br#"{"kind":""#);
        out.extend_from_slice(a.kind.as_str().as_bytes());
        for (name, value) in [
            (&br#"","street":"#[..], &a.street),
            (br#","city":"#, &a.city),
            (br#","region":"#, &a.region),
            (br#","postal_code":"#, &a.postal_code),
            (br#","country":"#, &a.country),
        ] {
            out.extend_from_slice(name);
            match value {
                Some(v) => push_json_str(out, v)?,
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
        Some(())
    });
    written.unwrap_or_else(|| Borrowed::Addresses(addresses.collect()).print())
}

/// The print of a list value, `{"type":<type_name>,"value":[...]}`, each item written by `item`:
/// `Some(0)` (absent) without items, `None` when an item cannot be written by hand (the caller
/// then hashes through serde_json).
fn array_print<T>(
    type_name: &str,
    items: impl Iterator<Item = T> + Clone,
    item: impl Fn(&mut Vec<u8>, T) -> Option<()>,
) -> Option<u64> {
    if items.clone().next().is_none() {
        return Some(0);
    }
    written_print(|out| {
        out.extend_from_slice(br#"{"type":""#);
        out.extend_from_slice(type_name.as_bytes());
        out.extend_from_slice(br#"","value":["#);
        for (i, value) in items.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item(out, value)?;
        }
        out.extend_from_slice(b"]}");
        Some(())
    })
}

/// The print of a field whose value is one unit variant: `{"type":<field>,"value":<variant>}`.
fn unit_print(field: &str, variant: &str) -> u64 {
    let written = written_print(|out| {
        out.extend_from_slice(br#"{"type":""#);
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(br#"","value":""#);
        out.extend_from_slice(variant.as_bytes());
        out.extend_from_slice(br#""}"#);
        Some(())
    });
    // Only a thread being torn down has no buffer; it hashes the same bytes another way.
    written.unwrap_or_else(|| {
        xxhash_rust::xxh3::xxh3_64(format!(r#"{{"type":"{field}","value":"{variant}"}}"#).as_bytes())
    })
}

/// The print of an event's timing as [`FieldValue::fingerprint`] canonicalises it: a zoned time
/// whose instant is known is written in UTC, anything else as it is.
fn timing_print(timing: &EventTiming) -> u64 {
    /// One `EventTime`, as its derived `Serialize` writes it (internally tagged, fields in
    /// declaration order; chrono writes dates and times in their `Debug` form).
    fn push_time(out: &mut Vec<u8>, time: &EventTime) -> Option<()> {
        use std::io::Write as _;
        match (time, time.instant()) {
            (EventTime::Zoned { .. }, Some(at)) => {
                write!(out, r#"{{"type":"zoned","local":"{:?}","zone":"UTC"}}"#, at.naive_utc()).ok()
            }
            (EventTime::Zoned { local, zone }, None) => {
                write!(out, r#"{{"type":"zoned","local":"{local:?}","zone":"#).ok()?;
                push_json_str(out, zone)?;
                out.push(b'}');
                Some(())
            }
            (EventTime::AllDay { date }, _) => write!(out, r#"{{"type":"all_day","date":"{date:?}"}}"#).ok(),
        }
    }
    let written = written_print(|out| {
        out.extend_from_slice(br#"{"type":"timing","value":{"start":"#);
        push_time(out, &timing.start)?;
        out.extend_from_slice(br#","end":"#);
        push_time(out, &timing.end)?;
        out.extend_from_slice(b"}}");
        Some(())
    });
    written.unwrap_or_else(|| FieldValue::Timing(timing.clone()).fingerprint())
}

/// [`Privacy`] as serde names it (snake case).
fn privacy_name(privacy: Privacy) -> &'static str {
    match privacy {
        Privacy::Normal => "normal",
        Privacy::Private => "private",
    }
}

/// [`ShowAs`] as serde names it (snake case).
fn show_as_name(show_as: ShowAs) -> &'static str {
    match show_as {
        ShowAs::Free => "free",
        ShowAs::Tentative => "tentative",
        ShowAs::Busy => "busy",
        ShowAs::OutOfOffice => "out_of_office",
        ShowAs::WorkingElsewhere => "working_elsewhere",
    }
}

/// The print of one attendee compared by presence ([`FieldValue::canonical`]): the address
/// trimmed and lower-cased, no name, the default role and answer.
fn attendee_presence_print(email: &str) -> u64 {
    let canonical = canonical_address(email);
    let written = written_print(|out| {
        out.extend_from_slice(br#"{"type":"attendee","value":{"email":"#);
        push_json_str(out, &canonical)?;
        out.extend_from_slice(br#","name":null,"role":"required","response":"needs_action"}}"#);
        Some(())
    });
    written.unwrap_or_else(|| {
        FieldValue::Attendee(Attendee {
            email: email.to_owned(),
            name: None,
            role: Default::default(),
            response: Default::default(),
        })
        .fingerprint()
    })
}

/// Appends `s` as a JSON string, when it needs no escape (no quote, backslash or control
/// character: serde_json writes such text between quotes as it is). `None` otherwise, and the
/// caller hashes through serde_json instead.
fn push_json_str(out: &mut Vec<u8>, s: &str) -> Option<()> {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return None;
    }
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
    Some(())
}

/// The xxh3 hash of the JSON text `write` puts in the thread's reused buffer: serde_json's
/// ([`hash_json`]), or text put together by hand, which must be byte for byte what
/// `serde_json::to_vec` writes for the same value (the tests compare them), so that a print does
/// not depend on how it was computed. `None` when `write` gives up (a string that needs
/// escaping) or the thread has no buffer.
fn written_print(write: impl FnOnce(&mut Vec<u8>) -> Option<()>) -> Option<u64> {
    JSON.try_with(|buffer| {
        let mut bytes = buffer.try_borrow_mut().ok()?;
        bytes.clear();
        let print = write(&mut bytes).map(|()| xxhash_rust::xxh3::xxh3_64(&bytes));
        // A rare huge value (a long description) does not stay allocated.
        if bytes.capacity() > 64 * 1024 {
            *bytes = Vec::new();
        }
        print
    })
    .ok()
    .flatten()
}

/// A value did not fit the field it was written to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The field does not exist on this kind of record.
    #[error("field `{field}` does not apply to {kind} records")]
    WrongKind {
        /// The field.
        field: FieldKey,
        /// The record kind.
        kind: ObjectKind,
    },
    /// The value has the wrong type for the field.
    #[error("field `{field}` cannot hold a {got} value")]
    WrongType {
        /// The field.
        field: FieldKey,
        /// A short name of the value's type.
        got: &'static str,
    },
    /// The field is mandatory and cannot be cleared.
    #[error("field `{0}` cannot be cleared")]
    Required(FieldKey),
}

fn type_name(v: &FieldValue) -> &'static str {
    match v {
        FieldValue::Text(_) => "text",
        FieldValue::List(_) => "list",
        FieldValue::Emails(_) => "emails",
        FieldValue::Addresses(_) => "addresses",
        FieldValue::Date(_) => "date",
        FieldValue::Timing(_) => "timing",
        FieldValue::Recurrence(_) => "recurrence",
        FieldValue::Person(_) => "person",
        FieldValue::Attendees(_) => "attendees",
        FieldValue::Attendee(_) => "attendee",
        FieldValue::Privacy(_) => "privacy",
        FieldValue::ShowAs(_) => "show_as",
        FieldValue::CrmLinks(_) => "crm_links",
    }
}

fn text(v: &Option<String>) -> Option<FieldValue> {
    v.as_ref().filter(|s| !s.is_empty()).map(|s| FieldValue::Text(s.clone()))
}

fn nonempty<T: Clone>(v: &[T], wrap: fn(Vec<T>) -> FieldValue) -> Option<FieldValue> {
    if v.is_empty() { None } else { Some(wrap(v.to_vec())) }
}

impl Record {
    /// The fingerprint of one field: `fingerprint(self.get(key).as_ref())`, computed without
    /// copying text, phone numbers or addresses out of the record (the planner prints every
    /// synced field of every record it sees).
    pub fn print(&self, key: &FieldKey) -> u64 {
        match (self, key) {
            (_, FieldKey::Custom(name)) => self.custom().get(name).map_or(0, |v| text_value_print(v)),
            (Record::Contact(c), key) => match key {
                FieldKey::GivenName => text_print(&c.given_name),
                FieldKey::MiddleName => text_print(&c.middle_name),
                FieldKey::FamilyName => text_print(&c.family_name),
                FieldKey::Company => text_print(&c.company),
                FieldKey::Title => text_print(&c.title),
                FieldKey::Department => text_print(&c.department),
                FieldKey::AssistantName => text_print(&c.assistant_name),
                FieldKey::Notes => text_print(&c.notes),
                FieldKey::Phone(kind) => {
                    list_print(c.phones.iter().filter(|p| p.kind == *kind).map(|p| p.number.as_str()))
                }
                FieldKey::Emails => emails_print(&c.emails),
                FieldKey::Address(kind) => addresses_print(c.addresses.iter().filter(|a| a.kind == *kind)),
                _ => fingerprint(self.get(key).as_ref()),
            },
            (Record::Event(e), key) => match key {
                FieldKey::Subject => text_print(&e.subject),
                FieldKey::Description => text_print(&e.description),
                FieldKey::Location => text_print(&e.location),
                FieldKey::Categories => list_print(e.categories.iter().map(String::as_str)),
                FieldKey::Timing => timing_print(&e.timing),
                FieldKey::Privacy => unit_print("privacy", privacy_name(e.privacy)),
                FieldKey::ShowAs => unit_print("show_as", show_as_name(e.show_as)),
                FieldKey::Attendee(email) => {
                    // As `event_get` finds it, printed as `FieldValue::fingerprint` canonicalises
                    // one attendee: its address alone, lower-cased.
                    let Some(found) = e.attendees.iter().find(|a| a.email.trim().eq_ignore_ascii_case(email)) else {
                        return 0;
                    };
                    attendee_presence_print(&found.email)
                }
                _ => fingerprint(self.get(key).as_ref()),
            },
        }
    }

    /// Reads one field. Fields of the other kind read as absent.
    pub fn get(&self, key: &FieldKey) -> Option<FieldValue> {
        match (self, key) {
            (_, FieldKey::Custom(name)) => self.custom().get(name).map(|v| FieldValue::Text(v.clone())),
            (Record::Contact(c), key) => contact_get(c, key),
            (Record::Event(e), key) => event_get(e, key),
        }
    }

    /// Writes one field; `None` clears it.
    pub fn set(&mut self, key: &FieldKey, value: Option<FieldValue>) -> Result<(), FieldError> {
        let kind = self.kind();
        if !key.applies_to(kind) {
            return Err(FieldError::WrongKind { field: key.clone(), kind });
        }
        let wrong = |v: &FieldValue| FieldError::WrongType { field: key.clone(), got: type_name(v) };
        if let FieldKey::Custom(name) = key {
            match value {
                None => {
                    self.custom_mut().remove(name);
                }
                Some(FieldValue::Text(t)) => {
                    self.custom_mut().insert(name.clone(), t);
                }
                Some(other) => return Err(wrong(&other)),
            }
            return Ok(());
        }
        match self {
            Record::Contact(c) => contact_set(c, key, value, wrong),
            Record::Event(e) => event_set(e, key, value, wrong),
        }
    }

    /// Every field this record could carry: the standard fields of its kind, one
    /// [`FieldKey::Attendee`] per attendee in place of [`FieldKey::Attendees`], and its custom
    /// fields.
    pub fn field_keys(&self) -> Vec<FieldKey> {
        let mut keys: Vec<FieldKey> =
            FieldKey::standard(self.kind()).iter().filter(|k| **k != FieldKey::Attendees).cloned().collect();
        keys.extend(self.attendee_keys());
        keys.extend(self.custom().keys().map(|k| FieldKey::Custom(k.clone())));
        keys
    }

    /// One [`FieldKey::Attendee`] per distinct attendee address, in the record's order.
    pub fn attendee_keys(&self) -> Vec<FieldKey> {
        let Record::Event(e) = self else { return Vec::new() };
        let mut keys: Vec<FieldKey> = Vec::with_capacity(e.attendees.len());
        for a in &e.attendees {
            let key = FieldKey::attendee(&a.email);
            if !matches!(&key, FieldKey::Attendee(email) if email.is_empty()) && !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }
}

fn contact_get(c: &Contact, key: &FieldKey) -> Option<FieldValue> {
    match key {
        FieldKey::GivenName => text(&c.given_name),
        FieldKey::MiddleName => text(&c.middle_name),
        FieldKey::FamilyName => text(&c.family_name),
        FieldKey::Emails => nonempty(&c.emails, FieldValue::Emails),
        FieldKey::Phone(kind) => {
            let numbers: Vec<String> = c.phones.iter().filter(|p| p.kind == *kind).map(|p| p.number.clone()).collect();
            if numbers.is_empty() { None } else { Some(FieldValue::List(numbers)) }
        }
        FieldKey::Company => text(&c.company),
        FieldKey::Title => text(&c.title),
        FieldKey::Department => text(&c.department),
        FieldKey::Address(kind) => {
            let list: Vec<PostalAddress> = c.addresses.iter().filter(|a| a.kind == *kind).cloned().collect();
            if list.is_empty() { None } else { Some(FieldValue::Addresses(list)) }
        }
        FieldKey::Birthday => c.birthday.map(FieldValue::Date),
        FieldKey::AssistantName => text(&c.assistant_name),
        FieldKey::Notes => text(&c.notes),
        _ => None,
    }
}

fn set_text(
    slot: &mut Option<String>,
    value: Option<FieldValue>,
    wrong: impl Fn(&FieldValue) -> FieldError,
) -> Result<(), FieldError> {
    match value {
        None => *slot = None,
        Some(FieldValue::Text(t)) => *slot = Some(t),
        Some(other) => return Err(wrong(&other)),
    }
    Ok(())
}

fn contact_set(
    c: &mut Contact,
    key: &FieldKey,
    value: Option<FieldValue>,
    wrong: impl Fn(&FieldValue) -> FieldError,
) -> Result<(), FieldError> {
    match key {
        FieldKey::GivenName => set_text(&mut c.given_name, value, wrong),
        FieldKey::MiddleName => set_text(&mut c.middle_name, value, wrong),
        FieldKey::FamilyName => set_text(&mut c.family_name, value, wrong),
        FieldKey::Company => set_text(&mut c.company, value, wrong),
        FieldKey::Title => set_text(&mut c.title, value, wrong),
        FieldKey::Department => set_text(&mut c.department, value, wrong),
        FieldKey::AssistantName => set_text(&mut c.assistant_name, value, wrong),
        FieldKey::Notes => set_text(&mut c.notes, value, wrong),
        FieldKey::Emails => match value {
            None => {
                c.emails.clear();
                Ok(())
            }
            Some(FieldValue::Emails(v)) => {
                c.emails = v;
                Ok(())
            }
            Some(other) => Err(wrong(&other)),
        },
        FieldKey::Phone(kind) => {
            let numbers = match value {
                None => Vec::new(),
                Some(FieldValue::List(v)) => v,
                Some(FieldValue::Text(t)) => vec![t],
                Some(other) => return Err(wrong(&other)),
            };
            // Keep the slot's position among the other phones stable.
            let at = c.phones.iter().position(|p| p.kind == *kind).unwrap_or(c.phones.len());
            c.phones.retain(|p| p.kind != *kind);
            let at = at.min(c.phones.len());
            let new: Vec<Phone> = numbers.into_iter().map(|number| Phone { kind: *kind, number }).collect();
            c.phones.splice(at..at, new);
            Ok(())
        }
        FieldKey::Address(kind) => {
            let list = match value {
                None => Vec::new(),
                Some(FieldValue::Addresses(v)) => v,
                Some(other) => return Err(wrong(&other)),
            };
            // The key decides the kind: an address written to `address.home` is a home address.
            // The kind keeps its place among the others; a new kind goes before later kinds.
            let at = c
                .addresses
                .iter()
                .position(|a| a.kind == *kind)
                .or_else(|| c.addresses.iter().position(|a| a.kind > *kind))
                .unwrap_or(c.addresses.len());
            c.addresses.retain(|a| a.kind != *kind);
            let at = at.min(c.addresses.len());
            let new: Vec<PostalAddress> = list.into_iter().map(|a| PostalAddress { kind: *kind, ..a }).collect();
            c.addresses.splice(at..at, new);
            Ok(())
        }
        FieldKey::Birthday => match value {
            None => {
                c.birthday = None;
                Ok(())
            }
            Some(FieldValue::Date(d)) => {
                c.birthday = Some(d);
                Ok(())
            }
            Some(other) => Err(wrong(&other)),
        },
        other => Err(FieldError::WrongKind { field: other.clone(), kind: ObjectKind::Contact }),
    }
}

fn event_get(e: &Event, key: &FieldKey) -> Option<FieldValue> {
    match key {
        FieldKey::Subject => text(&e.subject),
        FieldKey::Description => text(&e.description),
        FieldKey::Location => text(&e.location),
        FieldKey::Timing => Some(FieldValue::Timing(e.timing.clone())),
        FieldKey::Recurrence => e.recurrence.clone().map(FieldValue::Recurrence),
        FieldKey::Organizer => e.organizer.clone().map(FieldValue::Person),
        FieldKey::Attendees => nonempty(&e.attendees, FieldValue::Attendees),
        FieldKey::Attendee(email) => {
            e.attendees.iter().find(|a| a.email.trim().eq_ignore_ascii_case(email)).cloned().map(FieldValue::Attendee)
        }
        FieldKey::Privacy => Some(FieldValue::Privacy(e.privacy)),
        FieldKey::ShowAs => Some(FieldValue::ShowAs(e.show_as)),
        FieldKey::Categories => nonempty(&e.categories, FieldValue::List),
        FieldKey::CrmLinks => nonempty(&e.crm_links, FieldValue::CrmLinks),
        _ => None,
    }
}

fn event_set(
    e: &mut Event,
    key: &FieldKey,
    value: Option<FieldValue>,
    wrong: impl Fn(&FieldValue) -> FieldError,
) -> Result<(), FieldError> {
    match (key, value) {
        (FieldKey::Subject, v) => set_text(&mut e.subject, v, wrong),
        (FieldKey::Description, v) => set_text(&mut e.description, v, wrong),
        (FieldKey::Location, v) => set_text(&mut e.location, v, wrong),
        (FieldKey::Timing, None) => Err(FieldError::Required(FieldKey::Timing)),
        (FieldKey::Timing, Some(FieldValue::Timing(t))) => {
            e.timing = t;
            Ok(())
        }
        (FieldKey::Recurrence, None) => {
            e.recurrence = None;
            Ok(())
        }
        (FieldKey::Recurrence, Some(FieldValue::Recurrence(r))) => {
            e.recurrence = Some(r);
            Ok(())
        }
        (FieldKey::Organizer, None) => {
            e.organizer = None;
            Ok(())
        }
        (FieldKey::Organizer, Some(FieldValue::Person(p))) => {
            e.organizer = Some(p);
            Ok(())
        }
        (FieldKey::Attendees, None) => {
            e.attendees.clear();
            Ok(())
        }
        (FieldKey::Attendees, Some(FieldValue::Attendees(a))) => {
            e.attendees = a;
            Ok(())
        }
        (FieldKey::Attendee(email), None) => {
            e.attendees.retain(|a| !a.email.trim().eq_ignore_ascii_case(email));
            Ok(())
        }
        // An attendee the event has already keeps its name, role and answer there.
        (FieldKey::Attendee(email), Some(FieldValue::Attendee(a))) => {
            if !e.attendees.iter().any(|x| x.email.trim().eq_ignore_ascii_case(email)) {
                e.attendees.push(a);
            }
            Ok(())
        }
        (FieldKey::Privacy, None) => {
            e.privacy = Privacy::default();
            Ok(())
        }
        (FieldKey::Privacy, Some(FieldValue::Privacy(p))) => {
            e.privacy = p;
            Ok(())
        }
        (FieldKey::ShowAs, None) => {
            e.show_as = ShowAs::default();
            Ok(())
        }
        (FieldKey::ShowAs, Some(FieldValue::ShowAs(s))) => {
            e.show_as = s;
            Ok(())
        }
        (FieldKey::Categories, None) => {
            e.categories.clear();
            Ok(())
        }
        (FieldKey::Categories, Some(FieldValue::List(c))) => {
            e.categories = c;
            Ok(())
        }
        (FieldKey::CrmLinks, None) => {
            e.crm_links.clear();
            Ok(())
        }
        (FieldKey::CrmLinks, Some(FieldValue::CrmLinks(l))) => {
            e.crm_links = l;
            Ok(())
        }
        (
            FieldKey::Timing
            | FieldKey::Recurrence
            | FieldKey::Organizer
            | FieldKey::Attendees
            | FieldKey::Attendee(_)
            | FieldKey::Privacy
            | FieldKey::ShowAs
            | FieldKey::Categories
            | FieldKey::CrmLinks,
            Some(other),
        ) => Err(wrong(&other)),
        (other, _) => Err(FieldError::WrongKind { field: other.clone(), kind: ObjectKind::Event }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_names_are_distinct_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for kind in ObjectKind::ALL {
            for key in FieldKey::standard(kind) {
                let name = key.static_name().unwrap_or_else(|| panic!("{key:?} has no static name"));
                assert_eq!(name.parse::<FieldKey>().as_ref(), Ok(key), "{name}");
                assert!(seen.insert((kind, name)), "{name} twice");
            }
        }
        assert_eq!(FieldKey::Phone(PhoneKind::BusinessFax).to_string(), "phone.business_fax");
        assert_eq!(FieldKey::Address(AddressKind::Home).to_string(), "address.home");
        assert_eq!(FieldKey::Custom("Region__c".into()).static_name(), None);
    }

    /// Serialised, a key is its name (`Display`), whichever way the name is written.
    #[test]
    fn field_keys_serialise_as_their_names() {
        let mut keys: Vec<FieldKey> = STANDARD_FIELDS.to_vec();
        keys.push(FieldKey::Custom("Region \"A\"\\c".into()));
        keys.push(FieldKey::Attendee("ann@example.com".into()));
        for key in keys {
            let json = serde_json::to_string(&key).unwrap();
            assert_eq!(json, serde_json::to_string(&key.to_string()).unwrap());
            assert_eq!(serde_json::from_str::<FieldKey>(&json).unwrap(), key, "{json}");
        }
    }

    #[test]
    fn field_keys_round_trip_through_their_names() {
        let mut keys: Vec<FieldKey> = STANDARD_FIELDS.to_vec();
        keys.push(FieldKey::Custom("Region__c".into()));
        for key in keys {
            let name = key.to_string();
            assert_eq!(name.parse::<FieldKey>(), Ok(key.clone()), "{name}");
        }
        assert!("nope".parse::<FieldKey>().is_err());
        assert!("custom.".parse::<FieldKey>().is_err());
        assert!("phone.pager".parse::<FieldKey>().is_err());
        assert_eq!("address.home".parse::<FieldKey>(), Ok(FieldKey::Address(AddressKind::Home)));
        assert!("address.billing".parse::<FieldKey>().is_err());
        // The single list of an earlier version is no field name any more.
        assert!(RETIRED_FIELD_NAMES.iter().all(|name| name.parse::<FieldKey>().is_err()));
    }

    #[test]
    fn address_kinds_are_one_field_each() {
        let at = |kind, city: &str| PostalAddress { kind, city: Some(city.into()), ..PostalAddress::default() };
        let mut r = Record::Contact(Contact {
            addresses: vec![at(AddressKind::Work, "Worktown"), at(AddressKind::Other, "Otherville")],
            ..Contact::default()
        });
        let work = FieldKey::Address(AddressKind::Work);
        let home = FieldKey::Address(AddressKind::Home);
        let other = FieldKey::Address(AddressKind::Other);
        assert_eq!(r.get(&work), Some(FieldValue::Addresses(vec![at(AddressKind::Work, "Worktown")])));
        assert_eq!(r.get(&home), None);
        assert_eq!(r.get(&other), Some(FieldValue::Addresses(vec![at(AddressKind::Other, "Otherville")])));
        let other_print = fingerprint(r.get(&other).as_ref());

        // Writing one kind leaves the others alone.
        r.set(&work, Some(FieldValue::Addresses(vec![at(AddressKind::Work, "Movedtown")]))).unwrap();
        assert_eq!(r.get(&work), Some(FieldValue::Addresses(vec![at(AddressKind::Work, "Movedtown")])));
        assert_eq!(fingerprint(r.get(&other).as_ref()), other_print);

        // The key decides the kind, and a new kind takes its place in the model's order.
        r.set(&home, Some(FieldValue::Addresses(vec![at(AddressKind::Work, "Hometown")]))).unwrap();
        let Record::Contact(c) = &r else { panic!("a contact") };
        assert_eq!(c.addresses.iter().map(|a| a.kind).collect::<Vec<_>>(), AddressKind::ALL);
        assert_eq!(r.get(&home), Some(FieldValue::Addresses(vec![at(AddressKind::Home, "Hometown")])));

        // Clearing one kind clears only it.
        r.set(&work, None).unwrap();
        assert_eq!(r.get(&work), None);
        assert_eq!(fingerprint(r.get(&other).as_ref()), other_print);
        assert!(r.get(&home).is_some());
        assert!(matches!(r.set(&home, Some(FieldValue::Text("x".into()))), Err(FieldError::WrongType { .. })));
    }

    #[test]
    fn phone_slot_set_keeps_other_slots() {
        let mut r = Record::Contact(Contact {
            phones: vec![
                Phone { kind: PhoneKind::Business, number: "1".into() },
                Phone { kind: PhoneKind::Mobile, number: "2".into() },
            ],
            ..Contact::default()
        });
        r.set(&FieldKey::Phone(PhoneKind::Business), Some(FieldValue::List(vec!["9".into()]))).unwrap();
        assert_eq!(r.get(&FieldKey::Phone(PhoneKind::Business)), Some(FieldValue::List(vec!["9".into()])));
        assert_eq!(r.get(&FieldKey::Phone(PhoneKind::Mobile)), Some(FieldValue::List(vec!["2".into()])));
        r.set(&FieldKey::Phone(PhoneKind::Mobile), None).unwrap();
        assert_eq!(r.get(&FieldKey::Phone(PhoneKind::Mobile)), None);
    }

    #[test]
    fn wrong_kind_and_type_are_typed_errors() {
        let mut r = Record::Contact(Contact::default());
        assert!(matches!(r.set(&FieldKey::Subject, None), Err(FieldError::WrongKind { .. })));
        assert!(matches!(
            r.set(&FieldKey::GivenName, Some(FieldValue::Date(NaiveDate::MIN))),
            Err(FieldError::WrongType { .. })
        ));
    }

    #[test]
    fn one_instant_in_two_zones_has_one_fingerprint() {
        let at = |h, zone: &str| EventTime::Zoned {
            local: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap().and_hms_opt(h, 0, 0).unwrap(),
            zone: zone.into(),
        };
        let paris = FieldValue::Timing(EventTiming { start: at(10, "Europe/Paris"), end: at(11, "Europe/Paris") });
        let utc = FieldValue::Timing(EventTiming { start: at(8, "UTC"), end: at(9, "UTC") });
        let later = FieldValue::Timing(EventTiming { start: at(9, "UTC"), end: at(10, "UTC") });
        assert_eq!(paris.fingerprint(), utc.fingerprint());
        assert_ne!(utc.fingerprint(), later.fingerprint());
    }

    #[test]
    fn text_prints_hashed_in_place_equal_the_serialised_ones() {
        let long = "Ünïcödé notes, long enough for every xxh3 input size. ".repeat(40);
        for text in ["", "Ada", "say \"hi\"", "back\\slash", "line\nbreak", "tab\there", "\u{7f}del", long.as_str()] {
            for len in [0, 1, 3, 16, 17, 128, 129, 240, 241, 1000, text.len()] {
                let Some(cut) = text.get(..len.min(text.len())) else { continue };
                let value = FieldValue::Text(cut.to_owned());
                assert_eq!(text_value_print(cut), value.fingerprint(), "{cut:?}");
            }
        }
    }

    #[test]
    fn email_prints_hashed_in_place_equal_the_serialised_ones() {
        for addresses in [vec!["ada@x.com"], vec![" ADA@X.COM ", "b@y.org"], vec!["Ünï@x.de", "a b@x"], vec![]] {
            let emails = addresses
                .iter()
                .map(|a| EmailAddress { kind: AddressKind::Home, address: (*a).to_owned() })
                .collect::<Vec<_>>();
            let r = Record::Contact(Contact { emails, ..Contact::default() });
            assert_eq!(r.print(&FieldKey::Emails), fingerprint(r.get(&FieldKey::Emails).as_ref()), "{addresses:?}");
        }
    }

    /// The event of a record known to hold one.
    fn event_of(record: &Record) -> Event {
        match record {
            Record::Event(e) => e.clone(),
            Record::Contact(_) => panic!("an event record"),
        }
    }

    proptest::proptest! {
        /// Lists, emails, addresses, privacy, show-as and attendees are printed from JSON written
        /// by hand: the same bytes serde_json writes, or stored prints would stop matching. Text
        /// drawn from quotes, backslashes, control characters, non-ASCII and blanks takes both
        /// paths.
        #[test]
        fn prints_written_by_hand_equal_the_serialised_ones(
            texts in proptest::collection::vec(proptest::option::of("[a-zA-Z0-9 @.\"\\\\\n\t\u{1}\u{7f}éü€]{0,12}"), 0..12),
            kinds in proptest::collection::vec(0usize..3, 12),
        ) {
            use crate::model::{AttendeeRole, Event, Phone, PhoneKind, ResponseStatus};
            let text = |i: usize| texts.get(i).cloned().flatten();
            let kind = |i: usize| AddressKind::ALL[kinds[i % kinds.len()]];
            let contact = Contact {
                phones: (0..texts.len())
                    .filter_map(|i| Some(Phone { kind: PhoneKind::ALL[i % 2], number: text(i)? }))
                    .collect(),
                emails: (0..texts.len())
                    .filter_map(|i| Some(EmailAddress { kind: kind(i), address: text(i)? }))
                    .collect(),
                addresses: (0..texts.len().div_ceil(5))
                    .map(|i| PostalAddress {
                        kind: kind(i),
                        street: text(5 * i),
                        city: text(5 * i + 1),
                        region: text(5 * i + 2),
                        postal_code: text(5 * i + 3),
                        country: text(5 * i + 4),
                    })
                    .collect(),
                ..Contact::default()
            };
            let record = Record::Contact(contact);
            let mut keys = vec![FieldKey::Emails];
            keys.extend(PhoneKind::ALL.map(FieldKey::Phone));
            keys.extend(AddressKind::ALL.map(FieldKey::Address));
            for key in &keys {
                proptest::prop_assert_eq!(record.print(key), fingerprint(record.get(key).as_ref()), "{}", key);
            }
            let zones = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Mars/Base", "Bad\"Zone"];
            let local = |i: usize| {
                // Spring-forward days in Paris (29 March 2026) and New York (8 March 2026).
                let days = [(1, 10), (3, 29), (3, 8), (11, 1), (6, 19)];
                let (month, day) = days[(kinds[i % 12] + kinds[(i + 1) % 12] * 3) % days.len()];
                let day = chrono::NaiveDate::from_ymd_opt(2026, month, day).unwrap_or_default();
                // 02:30 on a spring-forward day does not exist in Paris or New York; nanoseconds
                // change chrono's `Debug` form.
                let time = chrono::NaiveTime::from_hms_nano_opt(2 + kinds[(i + 2) % 12] as u32, 30, 0, [0, 500_000_000, 123_456_789][kinds[(i + 3) % 12]])
                    .unwrap_or_default();
                day.and_time(time)
            };
            let time = |i: usize| match kinds[(i + 4) % 12] {
                0 => EventTime::AllDay { date: local(i).date() },
                _ => EventTime::Zoned { local: local(i), zone: zones[(kinds[(i + 5) % 12] * 2 + i) % zones.len()].to_owned() },
            };
            let at = EventTime::utc(chrono::NaiveDateTime::default());
            let privacies = [Privacy::Normal, Privacy::Private];
            let shows = [ShowAs::Free, ShowAs::Tentative, ShowAs::Busy, ShowAs::OutOfOffice, ShowAs::WorkingElsewhere];
            let event = Record::Event(Event {
                subject: None,
                description: None,
                location: None,
                timing: EventTiming { start: at.clone(), end: at },
                recurrence: None,
                organizer: None,
                attendees: texts
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, t)| Attendee {
                        // Upper case, blanks and non-ASCII, as other systems spell addresses.
                        email: if i % 2 == 0 { t.to_uppercase() } else { format!(" {t}@Example.COM ") },
                        name: Some(t.clone()),
                        role: if i % 3 == 0 { AttendeeRole::Optional } else { AttendeeRole::Required },
                        response: ResponseStatus::Accepted,
                    })
                    .collect(),
                privacy: privacies[kinds[0] % 2],
                show_as: shows[(kinds[1] + 3 * kinds[2]) % 5],
                categories: texts.iter().flatten().cloned().collect(),
                crm_links: vec![],
                ical_uid: None,
                custom: Default::default(),
            });
            let mut keys = vec![FieldKey::Categories, FieldKey::Privacy, FieldKey::ShowAs, FieldKey::attendee("nobody@x")];
            keys.extend(event.attendee_keys());
            for key in &keys {
                proptest::prop_assert_eq!(event.print(key), fingerprint(event.get(key).as_ref()), "{}", key);
            }
            for i in 0..6 {
                let timed = Record::Event(Event { timing: EventTiming { start: time(i), end: time(i + 6) }, ..event_of(&event) });
                proptest::prop_assert_eq!(
                    timed.print(&FieldKey::Timing),
                    fingerprint(timed.get(&FieldKey::Timing).as_ref()),
                    "{:?}",
                    timed.get(&FieldKey::Timing)
                );
            }
        }
    }

    #[test]
    fn fingerprints_are_stable_and_distinguish_values() {
        let a = FieldValue::Text("Ada".into());
        let b = FieldValue::Text("Ada ".into());
        assert_eq!(a.fingerprint(), FieldValue::Text("Ada".into()).fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(fingerprint(None), a.fingerprint());
        let upper = FieldValue::Emails(vec![EmailAddress {
            kind: crate::model::AddressKind::Work,
            address: "ADA@X.COM".into(),
        }]);
        let lower = FieldValue::Emails(vec![EmailAddress {
            kind: crate::model::AddressKind::Work,
            address: "ada@x.com".into(),
        }]);
        assert_eq!(upper.fingerprint(), lower.fingerprint());
        // Pinned: a change here silently invalidates every stored snapshot.
        assert_eq!(a.fingerprint(), xxhash_rust::xxh3::xxh3_64(br#"{"type":"text","value":"Ada"}"#));
    }
}
