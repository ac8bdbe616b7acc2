//! Calendar events ⇄ `t:CalendarItem`.
//!
//! | model | EWS |
//! |---|---|
//! | subject, description, location | `Subject`, `Body` (`BodyType="Text"`), `Location` |
//! | timing | `Start`/`End` in UTC with `StartTimeZone/@Id`/`EndTimeZone/@Id` (Windows ids ⇄ IANA), `IsAllDayEvent` (all-day events are written from midnight to midnight UTC) |
//! | recurrence | `Recurrence` ⇄ one RRULE; `ModifiedOccurrences` (read with GetItem) ⇄ overrides keyed by `OriginalStart` (written with `UpdateItem` on an `OccurrenceItemId`); `DeletedOccurrences` ⇄ cancellations and EXDATEs (written with `DeleteItem` on an `OccurrenceItemId`); RDATE is refused |
//! | organizer | `Organizer/Mailbox` (read only; left out when it is the mailbox itself) |
//! | attendees | `RequiredAttendees`, `OptionalAttendees`, `Resources` (`Attendee/Mailbox`, `ResponseType`) |
//! | privacy | `Sensitivity` (`Private`/`Confidential` → private) |
//! | show as | `LegacyFreeBusyStatus` (`Free`, `Tentative`, `Busy`, `OOF`, `WorkingElsewhere`) |
//! | categories | `Categories/String` |
//! | iCalendar UID | `UID` |
//!
//! Code map:
//! - `mod.rs`: this table and the paths the rest of the crate uses.
//! - `read.rs`: [`PROPERTIES`], [`ParsedEvent`], [`parse()`] and [`apply_exceptions()`], reading a
//!   calendar item (times and zones, attendees, organizer, recurrence) into the model.
//! - `values.rs`: the EWS form of the model's fields shared by the writers: times and Windows
//!   zones, the series pattern, attendee lists, sensitivity, free/busy status, categories.
//! - `create.rs`: [`write_create()`], a whole calendar item for CreateItem.
//! - `update.rs`: [`needs_current()`] and [`write_updates()`], the field updates of a patch.
//! - `occurrences.rs`: [`has_exceptions()`], [`instance_index()`], [`normalized()`],
//!   [`same_override()`] and [`write_occurrence()`], the occurrences of a series written one by one.
//! - `tests.rs`: unit tests of the round trips, attendee patches, refused series and instance
//!   indexes.

mod create;
mod occurrences;
mod read;
#[cfg(test)]
mod tests;
mod update;
mod values;

pub(crate) use create::write_create;
pub(crate) use occurrences::{has_exceptions, instance_index, normalized, same_override, write_occurrence};
pub(crate) use read::{PROPERTIES, apply_exceptions, parse};
pub(crate) use update::{needs_current, write_updates};
