//! Typed value comparison for SOQL: record values and literals as comparable values (`V`),
//! their ordering, date-literal ranges and the type check of a filter's literals.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::super::schema::FieldType;
use super::super::soql::{CmpOp, Lit, SoqlError};
use super::{midnight, parse_datetime};

/// A value ready to compare.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum V {
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
    Dt(DateTime<Utc>),
    D(NaiveDate),
}

pub(super) fn cmp_v(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        (V::Num(x), V::Num(y)) => x.partial_cmp(y),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Dt(x), V::Dt(y)) => Some(x.cmp(y)),
        (V::D(x), V::D(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

pub(super) fn typed(value: &Value, ty: &FieldType) -> V {
    match (value, ty) {
        (Value::Null, _) => V::Null,
        (Value::Bool(b), _) => V::Bool(*b),
        (Value::Number(n), _) => V::Num(n.as_f64().unwrap_or(0.0)),
        (Value::String(s), FieldType::DateTime) => parse_datetime(s).map_or(V::Null, V::Dt),
        (Value::String(s), FieldType::Date) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_or(V::Null, V::D),
        (Value::String(s), t) if t.case_insensitive() => V::Str(s.to_lowercase()),
        (Value::String(s), _) => V::Str(s.clone()),
        _ => V::Null,
    }
}

pub(super) fn lit_v(lit: &Lit, ty: &FieldType) -> V {
    match lit {
        Lit::Null => V::Null,
        Lit::Str(s) if ty.case_insensitive() => V::Str(s.to_lowercase()),
        Lit::Str(s) => V::Str(s.clone()),
        Lit::Num(n) => V::Num(*n),
        Lit::Bool(b) => V::Bool(*b),
        Lit::DateTime(d) => V::Dt(*d),
        Lit::Date(d) => V::D(*d),
        // Ranges: compared by `in_range`, never by value.
        Lit::Relative(_) => V::Null,
    }
}

/// Whether `left` (a date or datetime) compares with the days `[start, end)` as `op` says.
pub(super) fn in_range(left: &V, (start, end): (NaiveDate, NaiveDate), op: CmpOp) -> bool {
    let (before_start, before_end) = match left {
        V::Dt(t) => (*t < midnight(start), *t < midnight(end)),
        V::D(d) => (*d < start, *d < end),
        _ => return op == CmpOp::Ne,
    };
    let inside = !before_start && before_end;
    match op {
        CmpOp::Eq => inside,
        CmpOp::Ne => !inside,
        CmpOp::Lt => before_start,
        CmpOp::Le => before_end,
        CmpOp::Gt => !before_end,
        CmpOp::Ge => !before_start,
    }
}

/// Checks a literal's type against the field's, as SOQL does.
pub(super) fn check_lit(field: &str, ty: &FieldType, lit: &Lit) -> Result<(), SoqlError> {
    let wrong = |kind: &str, quoted: bool| SoqlError {
        code: "INVALID_FIELD",
        message: format!(
            "value of filter criterion for field '{field}' must be of type {kind} and should {}be enclosed in quotes",
            if quoted { "" } else { "not " }
        ),
    };
    match (ty, lit) {
        (_, Lit::Null) => Ok(()),
        (FieldType::DateTime | FieldType::Date, Lit::Relative(_)) => Ok(()),
        (FieldType::DateTime, Lit::DateTime(_)) => Ok(()),
        (FieldType::DateTime, _) => Err(wrong("dateTime", false)),
        (FieldType::Date, Lit::Date(_)) => Ok(()),
        (FieldType::Date, _) => Err(wrong("date", false)),
        (FieldType::Bool, Lit::Bool(_)) => Ok(()),
        (FieldType::Bool, _) => Err(wrong("boolean", false)),
        (FieldType::Int, Lit::Num(_)) => Ok(()),
        (FieldType::Int, _) => Err(wrong("double", false)),
        (_, Lit::Str(_)) => Ok(()),
        _ => Err(wrong("string", true)),
    }
}
