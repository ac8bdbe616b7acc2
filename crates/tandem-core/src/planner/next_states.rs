//! The next states a plan sets, gathered in the order the planner decides them and turned into
//! [`Plan::states`](crate::plan::Plan::states) once, at the end.
//!
//! Why not insert into the plan's B-tree as the planner goes: a [`NextState`] is a whole pair
//! state (about 180 bytes inline), and a B-tree insert searches from the root (comparing pair ids
//! of 35 bytes that all start alike), shifts values within a node and splits full nodes, about
//! 1,500 instructions a pair in the planner benchmark, a twentieth of a change's cost. Pushing
//! onto a vector and building the map in one go from sorted entries moves each state three times
//! instead. Known pairs are decided in pair-id order already, so the sort mostly finds one run.

use std::collections::{BTreeMap, HashSet};

use crate::plan::NextState;
use crate::state::PairId;

/// Next states in the order they were decided. A pair decided twice keeps its last state, as
/// repeated inserts into a map would.
#[derive(Debug, Default)]
pub(super) struct NextStates {
    entries: Vec<(PairId, NextState)>,
}

impl NextStates {
    /// Room for `additional` more states without growing (see `Planner::run`).
    pub(super) fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Sets `pair`'s next state (replacing one set earlier).
    pub(super) fn insert(&mut self, pair: PairId, state: NextState) {
        self.entries.push((pair, state));
    }

    /// How many states were set, counting a pair set twice twice: only compared before and after
    /// a step, to tell whether the step set one.
    pub(super) fn set_count(&self) -> usize {
        self.entries.len()
    }

    /// Whether `pair` was given a next state since [`Self::set_count`] was `since`: a look at the
    /// entries set by one step only, so asking after each of thousands of steps (a folder of
    /// moved records) stays linear.
    pub(super) fn set_since(&self, since: usize, pair: &PairId) -> bool {
        self.entries.get(since..).is_some_and(|latest| latest.iter().any(|(id, _)| id == pair))
    }

    /// Drops the states of `pairs`.
    pub(super) fn remove_all(&mut self, pairs: &HashSet<PairId>) {
        if !pairs.is_empty() {
            self.entries.retain(|(id, _)| !pairs.contains(id));
        }
    }

    /// The states as the plan holds them: keyed by pair, the last state set for a pair winning.
    pub(super) fn into_map(self) -> BTreeMap<PairId, NextState> {
        let mut entries = self.entries;
        if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
            // Sort positions rather than the entries themselves (they are large); stable, so a
            // pair set twice keeps its entries in the order they were set.
            let mut order: Vec<usize> = (0..entries.len()).collect();
            order.sort_by(|&a, &b| entries[a].0.cmp(&entries[b].0));
            let mut slots: Vec<Option<(PairId, NextState)>> = entries.into_iter().map(Some).collect();
            entries = order.into_iter().filter_map(|at| slots.get_mut(at).and_then(Option::take)).collect();
        }
        // From sorted entries the map is built in one pass (duplicates: the last one stays).
        entries.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectKind;
    use crate::state::{FieldPrints, IdempotencyKey, PairState, RecordId, SideState, Version};

    fn key(s: &str) -> PairId {
        IdempotencyKey::from(s)
    }

    /// A pair state told apart by its CRM version (`v{n}`).
    fn state(id: &str, n: usize) -> NextState {
        let side = |record: &str| SideState {
            id: RecordId::new(record),
            version: Version::new(format!("v{n}")),
            fields: FieldPrints::new(),
        };
        NextState::Put(PairState {
            pair_id: key(id),
            object: ObjectKind::Contact,
            crm: side("003"),
            mailbox: side("AAMk"),
            synced_at: chrono::DateTime::UNIX_EPOCH,
            tombstone: None,
        })
    }

    /// The same map as inserting one by one into a `BTreeMap`, for any order and repeats.
    #[test]
    fn the_map_is_what_inserting_in_turn_makes() {
        let orders: [&[&str]; 5] = [
            &[],
            &["a", "b", "c"],
            &["c", "a", "b", "a"],
            &["b", "b", "a", "b", "c", "a"],
            &["tdm9", "tdm1", "tdm5", "tdm1", "tdm0", "tdm9"],
        ];
        for order in orders {
            let mut states = NextStates::default();
            let mut expected = BTreeMap::new();
            for (i, id) in order.iter().enumerate() {
                // Each entry differs, so a later entry for a pair is told from an earlier one.
                let state = if i % 3 == 2 { NextState::Remove } else { state(id, i) };
                states.insert(key(id), state.clone());
                expected.insert(key(id), state);
            }
            assert_eq!(states.set_count(), order.len());
            assert!(order.iter().all(|id| states.set_since(0, &key(id))));
            assert!(!states.set_since(0, &key("zzz")));
            // Only the entries set since: the first key again, or not.
            if let Some(first) = order.first() {
                assert_eq!(states.set_since(1, &key(first)), order[1..].contains(first));
            }
            assert!(!states.set_since(order.len(), &key("a")));
            assert_eq!(states.into_map(), expected, "{order:?}");
        }
    }

    #[test]
    fn removed_pairs_are_gone_whatever_their_order() {
        let mut states = NextStates::default();
        for id in ["c", "a", "b", "a"] {
            states.insert(key(id), NextState::Remove);
        }
        states.remove_all(&HashSet::from([key("a")]));
        assert!(!states.set_since(0, &key("a")));
        assert_eq!(states.into_map().into_keys().collect::<Vec<_>>(), vec![key("b"), key("c")]);
    }
}
