//! The parsed statement: literals, `WHERE` expressions, sort keys, `FIELDS()` groups and the
//! `SELECT` itself.

use chrono::{DateTime, NaiveDate, Utc};

use super::dates::DateLiteral;

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    DateTime(DateTime<Utc>),
    Date(NaiveDate),
    /// A date literal: a range of days relative to today.
    Relative(DateLiteral),
}

/// A `FIELDS()` group of the select list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldGroup {
    Standard,
    Custom,
    All,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A `WHERE` expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A parenthesised expression.
    Group(Box<Expr>),
    Cmp {
        field: String,
        op: CmpOp,
        value: Lit,
    },
    In {
        field: String,
        negated: bool,
        values: Vec<Lit>,
    },
    InSelect {
        field: String,
        negated: bool,
        select: Box<Select>,
    },
    Like {
        field: String,
        pattern: String,
    },
}

/// A sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Order {
    pub(crate) field: String,
    pub(crate) asc: bool,
    pub(crate) nulls_first: bool,
}

/// A parsed `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Select {
    /// The fields named in the select list (empty for `COUNT()`).
    pub(crate) fields: Vec<String>,
    /// The `FIELDS()` groups of the select list.
    pub(crate) groups: Vec<FieldGroup>,
    /// `SELECT COUNT()`.
    pub(crate) count: bool,
    pub(crate) object: String,
    pub(crate) filter: Option<Expr>,
    pub(crate) order: Vec<Order>,
    pub(crate) limit: Option<usize>,
}
