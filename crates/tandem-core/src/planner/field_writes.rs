//! The fields a decision about one pair writes to one side.

use crate::fields::{FieldKey, FieldValue};

/// Fields to write to one side, in field order, each once (writing a field again replaces its
/// value): what a `BTreeMap` gave, without a node allocated and a tree searched per field. A
/// pair's decision writes one or two fields, nearly always in field order, so an entry is
/// usually just appended.
#[derive(Debug, Default)]
pub(super) struct FieldWrites {
    entries: Vec<(FieldKey, Option<FieldValue>)>,
}

impl FieldWrites {
    /// Sets `key` to `value` (`None` clears the field).
    pub(super) fn insert(&mut self, key: FieldKey, value: Option<FieldValue>) {
        if self.entries.last().is_none_or(|(last, _)| *last < key) {
            self.entries.push((key, value));
            return;
        }
        match self.entries.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(at) => self.entries[at].1 = value,
            Err(at) => self.entries.insert(at, (key, value)),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The fields, in order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &FieldKey> {
        self.entries.iter().map(|(key, _)| key)
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }
}

impl IntoIterator for FieldWrites {
    type Item = (FieldKey, Option<FieldValue>);
    type IntoIter = std::vec::IntoIter<(FieldKey, Option<FieldValue>)>;

    /// The writes in field order.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::fields::STANDARD_FIELDS;

    /// Any order of writes, repeats included, ends as the same map would.
    #[test]
    fn writes_are_what_a_sorted_map_makes() {
        use proptest::prelude::*;
        let keys: Vec<FieldKey> = STANDARD_FIELDS
            .iter()
            .cloned()
            .chain([FieldKey::attendee("a@x.org"), FieldKey::Custom("Region__c".into())])
            .collect();
        proptest!(|(steps in proptest::collection::vec((0..keys.len(), proptest::option::of("[a-z]{0,4}")), 0..30))| {
            let mut writes = FieldWrites::default();
            let mut model = BTreeMap::new();
            for (i, value) in steps {
                let value = value.map(FieldValue::Text);
                writes.insert(keys[i].clone(), value.clone());
                model.insert(keys[i].clone(), value);
            }
            prop_assert_eq!(writes.len(), model.len());
            prop_assert_eq!(writes.is_empty(), model.is_empty());
            prop_assert!(writes.keys().eq(model.keys()));
            prop_assert!(writes.into_iter().eq(model));
        });
    }
}
