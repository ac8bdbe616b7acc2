//! iCalendar (RFC 5545) and vCard (RFC 2426 / RFC 6350) import and export of the canonical model.
//!
//! - [`parse_icalendar`] reads one or more `VCALENDAR`s into [`Event`]s, grouping `VEVENT`s by
//!   `UID`: the master carries the recurrence, `RECURRENCE-ID` instances become overrides or
//!   cancellations. [`write_icalendar`] writes them back.
//! - [`parse_vcard`] reads vCard 3.0 and 4.0 into [`Contact`]s; [`write_vcard`] writes vCard 3.0.
//! - [`merge_icalendar`] and [`merge_vcard`] write an event or contact into text someone else
//!   wrote, replacing only the properties Tandem owns and keeping everything else (`VALARM`,
//!   `ATTACH`, `X-` properties, `PHOTO`, unknown properties) byte for byte, so that a round trip
//!   through Tandem loses nothing it does not model.
//! - [`windows_to_iana`] and [`iana_to_windows`] translate time-zone names (CLDR `windowsZones`,
//!   territory `001`, plus the usual extra IANA zones); the Graph and EWS connectors reuse them.
//!
//! # Reading: the `ical` crate, with fix-ups
//!
//! Parsing goes through `ical 0.11`'s `IcalParser` and `VcardParser`, but the text is prepared
//! first (see `text::prepare`), because the crate has gaps that lose or corrupt data:
//!
//! - **Unfolding drops the space before a fold** (`ical` trims each physical line before joining
//!   it), and it trims trailing white space off every value. We unfold per RFC 5545 §3.1 ourselves
//!   (remove exactly `CRLF` + one space or tab) before `ical` sees the text, and protect values that
//!   end in white space with an internal sentinel character that is removed again afterwards.
//! - **Escapes are not decoded** (`\,` `\;` `\n` `\\`). We unescape text values ourselves, and
//!   split structured (`N`, `ADR`, `ORG`) and list (`CATEGORIES`) values on *unescaped* separators
//!   only, before unescaping.
//! - **Leading colons of a value are eaten** (`SUMMARY::-)` reads as `-)`): protected with the same
//!   sentinel.
//! - **Component names are case-sensitive and unknown components are fatal** (`begin:vevent`,
//!   `BEGIN:VAVAILABILITY`, `BEGIN:X-FOO`): we upper-case `BEGIN`/`END` values, drop unknown
//!   components, and check the component structure with line numbers before `ical` runs, so that
//!   errors point at a line of the caller's text.
//! - Parameter values are decoded per RFC 6868 (`^'` `^n` `^^`).
//!
//! The character U+FFFF (a Unicode non-character, "not for interchange") is the sentinel, so it
//! is removed from input text; a model string containing it does not round-trip.
//!
//! # Writing: by hand
//!
//! Export is written by hand rather than with `ical`'s `generator`: that writer does not escape
//! text values, folds at 75 *characters* rather than 75 *octets*, and escapes parameter values
//! with backslashes, which RFC 5545 does not define. Writing content lines is a few dozen lines of
//! code: we escape text (`\\` `\;` `\,` `\n`), quote parameter values that need it (RFC 6868 for
//! `"` and newlines), fold at 75 octets without splitting a UTF-8 character, and end every line
//! with CRLF. The output references zones by IANA name in `TZID` and has no `VTIMEZONE` blocks;
//! UTC times are written with `Z`.
//!
//! # Time zones
//!
//! `TZID`s resolve to IANA names: IANA names are accepted directly (case-insensitively, and as the
//! tail of a path such as `/mozilla.org/20050126_1/Europe/Berlin`); Windows names go through
//! [`windows_to_iana`]; Outlook display names such as `(UTC+01:00) Amsterdam, Berlin, Bern, Rome,
//! Stockholm, Vienna` are recognised for the common zones; a `VTIMEZONE` may also name its zone in
//! `X-LIC-LOCATION`. Times with `Z` are in zone `UTC`. **Floating times** (no `TZID`, no `Z`) are
//! taken as UTC, since the model has no floating time. A `TZID` (or a `VTIMEZONE` block) that
//! resolves to nothing is [`InterchangeError::UnknownTimeZone`], so that the caller can quarantine
//! the input. `VALUE=DATE` gives [`EventTime::AllDay`](crate::model::EventTime::AllDay).
//!
//! # Mapping notes
//!
//! - A series master with `STATUS:CANCELLED` is skipped, with its instances: the model has no
//!   cancelled events. An instance whose master is not in the text becomes a stand-alone event.
//! - Override fields are recorded only where they differ from the master (or from the occurrence's
//!   original timing); `RANGE=THISANDFUTURE` is treated as a single-instance override.
//! - `EXDATE`, `RDATE` and `RECURRENCE-ID` values in another zone than the master's `DTSTART` are
//!   converted to the master's zone, so that keys compare equal.
//! - Cancelled occurrences are written as `EXDATE;X-TANDEM-CANCELLED=TRUE`, which other clients
//!   read as a plain exclusion and Tandem reads back into `Recurrence::cancelled`.
//! - Without a clock in this crate, `DTSTAMP` is written as `19700101T000000Z`. An event without
//!   an `ical_uid` gets a deterministic `UID` marked `X-TANDEM-GENERATED=TRUE`, which is read back
//!   as "no UID".
//! - Custom fields are written as `X-TANDEM-<name>`, the name percent-encoded where it has
//!   characters other than ASCII letters, digits, `-` and `_`. CRM links on events are written as
//!   `X-TANDEM-CRM-LINK;X-TANDEM-OBJECT=<object>:<id>`.
//! - Input line breaks may be CRLF, LF or a lone CR (old Mac files). Text cannot hold a raw CR,
//!   so carriage returns in model text are written as newlines.
//!
//! [`Event`]: crate::model::Event
//! [`Contact`]: crate::model::Contact

mod icalendar;
mod merge;
mod text;
mod vcard;
mod zones;

pub use icalendar::{parse_icalendar, write_icalendar};
pub use merge::{merge_icalendar, merge_vcard};
pub use vcard::{parse_vcard, write_vcard};
pub use zones::{iana_to_windows, windows_to_iana};

/// Why iCalendar or vCard text could not be read.
///
/// Writing never fails; reading returns the first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InterchangeError {
    /// The text is not well-formed iCalendar or vCard: a line without a property name, an
    /// unbalanced `BEGIN`/`END`, a component in the wrong place.
    #[error("malformed input{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Parse {
        /// The 1-based physical line of the input where the problem is, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A required property is absent, such as `DTSTART` on a `VEVENT`.
    #[error("{component} without {property}")]
    MissingProperty {
        /// The component, e.g. `VEVENT`.
        component: &'static str,
        /// The missing property, e.g. `DTSTART`.
        property: &'static str,
    },
    /// A `TZID` (or a `VTIMEZONE` block) names a zone that is neither an IANA zone nor a known
    /// Windows or Outlook zone name.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// A property value cannot be read, such as a malformed date.
    #[error("invalid value {value:?} for {property}")]
    InvalidValue {
        /// The property, e.g. `DTEND`.
        property: String,
        /// The offending value as written.
        value: String,
    },
    /// An event (or an occurrence override) ends before it starts.
    #[error("event {} ends before it starts", uid.as_deref().unwrap_or("without UID"))]
    EndBeforeStart {
        /// The event's `UID`, when it has one.
        uid: Option<String>,
    },
}
