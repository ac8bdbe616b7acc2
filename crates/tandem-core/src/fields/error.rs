//! The errors of this module: [`UnknownField`] for a name that is no field, [`FieldError`] for a
//! value that does not fit the field it is written to.

use super::key::FieldKey;
use crate::model::ObjectKind;

/// A field name that is not one of Tandem's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown field name `{0}`")]
pub struct UnknownField(pub String);

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
