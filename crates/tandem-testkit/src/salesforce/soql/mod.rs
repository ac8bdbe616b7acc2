//! A hand-written parser for the SOQL subset Tandem's connector sends, and a little more:
//!
//! ```text
//! SELECT items FROM Object
//!   items: COUNT()                   alone: the answer is totalSize with no records
//!        | item, item, …             item: field, Rel.field, FIELDS(STANDARD|CUSTOM|ALL)
//!   [WHERE cond]           cond: AND / OR (not mixed without parentheses, as in SOQL), NOT,
//!                          parentheses, = != <> < <= > >=, [NOT] IN (values | SELECT …), LIKE
//!   [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], …]
//!   [LIMIT n]
//! ```
//!
//! Values: 'strings' with SOQL's backslash escapes, numbers, true/false/null, datetimes
//! (`2026-01-05T09:00:00Z`, fractions and offsets allowed), dates, and these date literals,
//! evaluated against the fake's clock in UTC, weeks starting on Monday (the fake's users are
//! `en_GB`): `YESTERDAY`, `TODAY`, `TOMORROW`, `LAST_WEEK`, `THIS_WEEK`, `NEXT_WEEK`,
//! `LAST_MONTH`, `THIS_MONTH`, `NEXT_MONTH`, `LAST_90_DAYS`, `NEXT_90_DAYS`, `LAST_N_DAYS:n`
//! (today and the n days before), `NEXT_N_DAYS:n` (the n days after today), `N_DAYS_AGO:n`. A
//! date literal is a range: `=` is inside it, `!=` outside, `<` before its start, `<=` before its
//! end, `>` after its end, `>=` from its start.
//!
//! Salesforce's rules the fake applies: `FIELDS(CUSTOM)` and `FIELDS(ALL)` need a `LIMIT` of at
//! most 200; a semi-join or anti-join (`IN (SELECT …)`) may only stand in the top-level `AND` of
//! the `WHERE` clause (not under `OR` or `NOT`), may not nest another one, and may not select from
//! `Event` or `Task` (objects SOQL does not support in subqueries).
//!
//! Anything else (other aggregates and date literals — quarters, years, fiscal periods,
//! `N_WEEKS`… —, `GROUP BY`, `OFFSET`, `TYPEOF`, subqueries in the select list…) is
//! `MALFORMED_QUERY`, as Salesforce reports syntax errors.
//!
//! Code map:
//! - `error.rs`: [`SoqlError`] and `MALFORMED_QUERY`.
//! - `dates.rs`: the supported date literals and the days they cover.
//! - `ast.rs`: the parsed statement: [`Select`], [`Expr`], [`Lit`] and friends.
//! - `lex.rs`: the tokenizer (string escapes, numbers, datetimes, dates, `NAME:n` literals).
//! - `parse.rs`: the recursive-descent parser and [`parse()`].
//! - `joins.rs`: Salesforce's rules on semi-joins and anti-joins.
//! - `like.rs`: [`like()`], matching LIKE patterns.
//! - `tests.rs`: unit tests.

mod ast;
mod dates;
mod error;
mod joins;
mod lex;
mod like;
mod parse;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub(crate) use ast::{CmpOp, Expr, FieldGroup, Lit, Select};
pub(crate) use error::SoqlError;
pub(crate) use like::like;
pub(crate) use parse::parse;
