//! [`FieldPrintsBuilder`]: a [`FieldPrints`] built entry by entry, for decoders of prints that
//! were written in field order.

use super::table::TableBuilder;
use super::{FieldPrints, cmp_code, key_of, standard_code};
use crate::fields::FieldKey;

/// Builds a [`FieldPrints`] one entry at a time.
///
/// Made for decoders reading back entries they wrote in field order (the order of
/// [`FieldPrints::iter`]): each such entry is appended to the map's table as it comes, with no
/// intermediate list, no sort and no search, where collecting the same entries gathers them
/// first. A store does this for both sides of every pair a cycle loads.
///
/// Entries out of order or repeated (damaged or hand-written input) are taken too: from the
/// first such entry on, the builder gathers everything and [`finish`](Self::finish) collects it
/// as [`FromIterator`] does, later entries winning. Either way the map is the one collecting
/// the same entries makes.
///
/// ```
/// use tandem_core::fields::FieldKey;
/// use tandem_core::state::{FieldPrints, FieldPrintsBuilder};
///
/// let mut builder = FieldPrintsBuilder::with_capacity(2);
/// builder.push(FieldKey::GivenName, 1);
/// builder.push(FieldKey::Title, 2);
/// let prints = builder.finish();
/// assert_eq!(prints, [(FieldKey::GivenName, 1), (FieldKey::Title, 2)].into_iter().collect::<FieldPrints>());
/// ```
pub struct FieldPrintsBuilder {
    table: TableBuilder,
    named: Vec<FieldKey>,
    /// The code of the last entry appended, while entries come in order.
    last: Option<u16>,
    /// Every entry, in the order pushed, once one came out of order.
    unordered: Option<Vec<(FieldKey, u64)>>,
}

impl FieldPrintsBuilder {
    /// A builder with room for `capacity` entries (more may come).
    pub fn with_capacity(capacity: usize) -> Self {
        FieldPrintsBuilder {
            table: TableBuilder::with_capacity(capacity),
            named: Vec::new(),
            last: None,
            unordered: None,
        }
    }

    /// Adds the fingerprint of `key`.
    pub fn push(&mut self, key: FieldKey, print: u64) {
        if let Some(unordered) = &mut self.unordered {
            unordered.push((key, print));
            return;
        }
        let key_code = standard_code(&key);
        if let Some(last) = self.last
            && cmp_code(&self.named, last, &key, key_code) != std::cmp::Ordering::Less
        {
            // Out of order or repeated: the entries so far, then this one, are collected at
            // the end.
            let mut unordered: Vec<(FieldKey, u64)> =
                self.table.entries().map(|(code, print)| (key_of(&self.named, code).clone(), print)).collect();
            unordered.push((key, print));
            self.unordered = Some(unordered);
            return;
        }
        let code = match key_code {
            Some(code) => code,
            None => {
                self.named.push(key);
                FieldPrints::named_code(self.named.len() - 1)
            }
        };
        self.table.push(code, print);
        self.last = Some(code);
    }

    /// The map of the entries pushed.
    pub fn finish(self) -> FieldPrints {
        match self.unordered {
            Some(unordered) => unordered.into_iter().collect(),
            None => self.table.finish(self.named.into_boxed_slice()),
        }
    }
}

impl std::fmt::Debug for FieldPrintsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldPrintsBuilder")
            .field("entries", &self.unordered.as_ref().map_or(self.table.len(), Vec::len))
            .field("in_order", &self.unordered.is_none())
            .finish()
    }
}
