//! The `$filter` grammar (a subset of OData's): the parsed tree and the error bodies of filters
//! the fake rejects; tokens, parser and evaluation live beside it.

mod eval;
mod lex;
mod parse;

use super::super::data::ApiError;

pub(crate) use eval::matches;
pub(crate) use parse::parse_filter;

// --- $filter --------------------------------------------------------------------------------

/// A parsed `$filter`.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Vec<String>, Op, Lit),
    /// `startswith(path, 'x')`, `contains(path, 'x')`.
    Func(Func, Vec<String>, String),
    /// `collection/any(v: expr)`.
    Any(Vec<String>, String, Box<Expr>),
    /// A boolean property on its own.
    Truthy(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    StartsWith,
    Contains,
}

#[derive(Debug, Clone)]
pub(crate) enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    /// An unquoted date, time or GUID literal, compared as text (instants as instants).
    Raw(String),
}

pub(super) fn invalid_filter() -> ApiError {
    ApiError::new(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
}

pub(super) fn filter_syntax(detail: &str) -> ApiError {
    ApiError::new(400, "BadRequest", format!("Invalid filter clause: {detail}"))
}
