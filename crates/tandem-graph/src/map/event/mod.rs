//! Events: Graph `event` ⇄ the model.
//!
//! | model | Graph |
//! | --- | --- |
//! | `subject`, `description`, `location` | `subject`, `body` (text; HTML is read as text), `location.displayName` |
//! | `timing` (zoned) | `start`/`end` read in UTC (`Prefer: outlook.timezone="UTC"`) and shown in `originalStartTimeZone`/`originalEndTimeZone` (Windows names → IANA); written in the event's zone, by its Windows name |
//! | `timing` (all-day) | `isAllDay` with `start`/`end` at midnight of one zone (written in [`crate::GraphConfig::all_day_zone`]); end exclusive |
//! | `recurrence.rules` | `recurrence` (`patternedRecurrence`), see [`super::recurrence`] |
//! | `recurrence.overrides` | exceptions (`exceptionOccurrences`), keyed by `originalStart` |
//! | `recurrence.cancelled` (and `exdates` on write) | cancelled occurrences (`cancelledOccurrences`) |
//! | `organizer` (`None` when `isOrganizer`), `attendees` | `organizer`, `attendees` (`required`/`optional`/`resource`; `accepted`, `tentativelyAccepted`, `declined`, else needs-action) |
//! | `privacy` | `sensitivity`: `private` and `confidential` read as private, `normal` and `personal` as normal |
//! | `show_as` | `showAs`: `free`, `tentative`, `busy`, `oof`, `workingElsewhere`; `unknown` reads as busy |
//! | `categories` | `categories` |
//! | `ical_uid` | `iCalUId` (read only) |
//! | `crm_links`, custom fields | not stored in Graph: declared unsupported |
//!
//! Code map:
//! - `mod.rs`: this table and the paths the rest of the crate uses.
//! - `zones.rs`: [`Zone`], [`Zones`] and [`zones_of()`]: the zones a read event is shown in, and
//!   its timing in them.
//! - `occurrences.rs`: the keys of a series' occurrences (from `originalStart` or a cancelled
//!   entry) and [`is_occurrence()`], which matches an instance to a key.
//! - `read.rs`: [`to_model()`], a Graph event with its exceptions and cancellations read into the
//!   model.
//! - `values.rs`: [`WriteOptions`], [`timing_json()`], [`series_start()`], [`recurrence_json()`]
//!   and the JSON of people, sensitivity, show-as and body as written.
//! - `bodies.rs`: [`create_body()`], [`patch_body()`] and [`override_body()`], the request bodies
//!   of writes.
//! - `tests.rs`: unit tests of reading series, cancelled meetings, unknown zones and all-day
//!   dates, and of writing zones and refusing RDATEs.

mod bodies;
mod occurrences;
mod read;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
mod values;
mod zones;

pub(crate) use bodies::{create_body, override_body, patch_body};
pub(crate) use occurrences::is_occurrence;
pub(crate) use read::to_model;
pub(crate) use values::WriteOptions;
