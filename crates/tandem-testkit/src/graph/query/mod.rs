//! OData query options of the Graph fake: which options each route accepts, `$select`,
//! `$filter` (a subset of the grammar, evaluated on the rendered JSON), `$orderby`, `$expand`,
//! `$top`, `$skip` and `$count`. Options a route does not accept, and filter nodes the fake does
//! not evaluate, answer 400 with Graph's error body instead of being ignored.
//!
//! Code map:
//! - `entity.rs`: the entity types routes serve and their property tables, property path checks.
//! - `options.rs`: parsing a request's query options (`$select`, `$expand`, `$orderby`, `$count`,
//!   `$top`, `$skip`) against its route.
//! - `apply.rs`: applying `$select` and `$orderby` to rendered entities.
//! - `filter/`: the `$filter` grammar: its tree (`mod.rs`), tokens (`lex.rs`), parser
//!   (`parse.rs`) and evaluation (`eval.rs`).
//! - `tests.rs`: unit tests.

mod apply;
mod entity;
mod filter;
mod options;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub(crate) use apply::{apply_select, context_suffix, sort};
pub(crate) use entity::Entity;
pub(crate) use filter::matches;
pub(crate) use options::{Options, options};
