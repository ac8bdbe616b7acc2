//! Content-line plumbing shared by iCalendar and vCard: preparing text for the `ical` parser
//! (unfolding, structure checks, sentinels), reading its properties back, escaping, folding and
//! writing content lines.
//!
//! # Code map
//!
//! - `mod.rs`: the [`SENTINEL`] character.
//! - `dialect.rs`: [`Dialect`]: which components iCalendar and vCard have, and where they may stand.
//! - `lines.rs`: content lines: [`split_content_line`] into name and value, [`unfold`] text into them.
//! - `prepare.rs`: [`prepare()`] text for `ical`, run its parsers ([`contained_parse`]), translate their errors.
//! - `property.rs`: [`Prop`], a property as read back from `ical`, with its parameters decoded.
//! - `escape.rs`: TEXT value escapes: [`escape()`], [`unescape`], [`split_unescaped`].
//! - `params.rs`: RFC 6868 parameter values: [`param_value`], [`decode_param`].
//! - `names.rs`: custom field names in property names: [`encode_name`], [`decode_name`].
//! - `writer.rs`: [`ContentWriter`]: content lines folded at 75 octets, CRLF-terminated.
//! - `tests.rs`: unit tests.

mod dialect;
mod escape;
mod lines;
mod names;
mod params;
mod prepare;
mod property;
mod writer;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub(crate) use dialect::{Dialect, ICALENDAR, VCARD};
pub(crate) use escape::{escape, split_unescaped, unescape};
pub(crate) use lines::{split_content_line, unfold};
pub(crate) use names::{decode_name, encode_name};
pub(crate) use params::{decode_param, param_value};
pub(crate) use prepare::{contained_parse, prepare};
pub(crate) use property::{Prop, props};
pub(crate) use writer::ContentWriter;

/// Marks the start or end of a value whose first colon or trailing white space `ical` would
/// otherwise eat. Removed from input beforehand and from every value afterwards.
pub(crate) const SENTINEL: char = '\u{FFFF}';
