//! What the planner consumes: identities, versions, observed changes and the sync state of
//! mapped pairs.
//!
//! # Code map
//!
//! - `ids.rs`: [`Side`], [`RecordId`], [`Version`], [`Cursor`], [`IdempotencyKey`] and [`PairId`].
//! - `change.rs`: observed changes, [`Change`] and [`ChangeKind`].
//! - `prints.rs`: [`FieldPrints`] (packed field fingerprints), [`FieldPrintsIter`], the planner's `PrintsWalk`, serde and
//!   packing; `prints/table.rs` its table of codes and prints; `prints/builder.rs`
//!   [`FieldPrintsBuilder`], for decoders of prints written in field order.
//! - `pair.rs`: the sync state of a mapped pair, [`PairState`] and [`SideState`].
//! - `unresolved.rs`: [`Unresolved`] items and their [`UnresolvedKind`].
//! - `tests.rs`: unit tests.

mod change;
mod ids;
mod pair;
pub(crate) mod prints;
mod unresolved;

#[cfg(test)]
mod tests;

pub use change::{Change, ChangeKind};
pub use ids::{Cursor, IdempotencyKey, PairId, RecordId, Side, Version};
pub use pair::{PairState, SideState};
pub use prints::{FieldPrints, FieldPrintsBuilder, FieldPrintsIter};
pub use unresolved::{Unresolved, UnresolvedKind};
