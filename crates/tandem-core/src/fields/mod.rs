//! Field-level access to records: the unit of diff, merge, capability and mapping.
//!
//! A [`FieldKey`] names one synced field; [`Record::get`] and [`Record::set`] read and write it as a
//! [`FieldValue`]; [`FieldValue::fingerprint`] gives the stable 64-bit hash that sync state keeps
//! instead of the data itself.
//!
//! Code map, one job per file:
//!
//! - `key.rs`: [`FieldKey`], the standard fields, field names and their parsing.
//! - `value.rs`: [`FieldValue`] and its fingerprint.
//! - `access.rs`: reading and writing fields of records ([`Record::get`], [`Record::set`]).
//! - `print.rs`: [`Record::print`], fingerprints hashed in place from hand-written JSON.
//! - `error.rs`: [`UnknownField`] and [`FieldError`].
//! - `tests.rs`: unit and property tests.

mod access;
mod error;
mod key;
mod print;
#[cfg(test)]
mod tests;
mod value;

pub use error::{FieldError, UnknownField};
pub(crate) use key::STANDARD_FIELDS;
pub use key::{FieldKey, RETIRED_FIELD_NAMES};
pub(crate) use print::timing_print_at;
pub use value::{FieldValue, fingerprint};

#[cfg(doc)]
use crate::model::Record;
