//! The pairs one plan reads, decoded once from the packed index, and the order the planner
//! goes through them in.

use std::collections::BTreeMap;

use crate::pair_index::PairIndex;
use crate::state::{Change, PairId, PairState, RecordId, Side};

/// The pairs one plan reads: those the changes touch, decoded once from the packed
/// [`PairIndex`] (which gives owned states) so that the planner can hold references to them.
/// Tables of places in `pairs`, so that no id is copied into a key.
#[derive(Default)]
pub(super) struct TouchedPairs {
    pairs: Vec<PairState>,
    by_pair: hashbrown::HashTable<usize>,
    by_crm: hashbrown::HashTable<usize>,
    by_mailbox: hashbrown::HashTable<usize>,
}

/// The hash of the touched pairs' tables: the packed index's own (xxh3, the fingerprints' hash,
/// rather than SipHash, which took about a tenth of the planner benchmark's time on 150-character
/// Graph ids), so that an id hashed once serves lookups in both. Unkeyed, as the core takes no
/// randomness: the ids are those the providers and Tandem assign, not text a stranger chooses, so
/// flooding one bucket is not a concern. Tables' order is never observed.
use crate::pair_index::hash as id_hash;

/// How many changed records are looked up in the index before their pairs are decoded: enough
/// for the processor to overlap many lookups' cache misses, few enough to stay in its caches.
const LOOKUPS_AT_ONCE: usize = 64;

impl TouchedPairs {
    /// Every pair of `index` the planner can look at for these changes: the pair holding each
    /// changed record, and the pair named by each change's sync key (moves, re-created records).
    pub(super) fn of(index: &PairIndex, changes: [&[Change]; 2]) -> Self {
        // About a pair per change (a sync key can name a second), and never more than the index
        // holds (none on a first sync): sized once rather than grown and rehashed.
        let most = (changes[0].len() + changes[1].len()).min(index.len());
        let mut touched = TouchedPairs {
            pairs: Vec::with_capacity(most),
            by_pair: hashbrown::HashTable::with_capacity(most),
            by_crm: hashbrown::HashTable::with_capacity(most),
            by_mailbox: hashbrown::HashTable::with_capacity(most),
        };
        // Reused for every run of changes: each id's hash and the pair the index holds for it.
        let mut looked_up = Vec::with_capacity(LOOKUPS_AT_ONCE);
        for (side, changes) in Side::BOTH.into_iter().zip(changes) {
            // A run of records looked up in the index before any of their pairs is decoded: the
            // lookups do not depend on one another, so their cache misses overlap (sampled with
            // `perf` on `benches/planner.rs`, the lookups went from 14% of a plan's time to 7%).
            // Runs, not all at once, so that a first sync's many changes hold no long list.
            for run in changes.chunks(LOOKUPS_AT_ONCE) {
                looked_up.clear();
                looked_up.extend(run.iter().map(|change| {
                    // Each id hashed once, for the lookups here, in the index and when the pair
                    // is filed.
                    let hash = id_hash(change.id.as_str());
                    (hash, index.find_record_hashed(side, &change.id, hash))
                }));
                for (change, (hash, found)) in run.iter().zip(looked_up.drain(..)) {
                    if let Some(found) = found
                        && touched.by_record_hashed(side, &change.id, hash).is_none()
                    {
                        touched.insert(index, found.decode(), Some((side, hash)));
                    }
                    if let Some(key) = &change.sync_key
                        && touched.get(key).is_none()
                        && let Some(pair) = index.get(key)
                    {
                        touched.insert(index, pair, None);
                    }
                }
            }
        }
        touched
    }

    /// How many pairs are held.
    pub(super) fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Adds a pair not held yet. Its record ids are filed only where the index files them under
    /// this pair, so that lookups by record id answer as the index does even where two pairs
    /// claim one record (the index points it at the later one). `found_by`: the side whose record
    /// id the index just answered with this pair, which needs no second lookup, and that id's
    /// hash.
    pub(super) fn insert(&mut self, index: &PairIndex, pair: PairState, found_by: Option<(Side, u64)>) {
        let pair_hash = id_hash(pair.pair_id.as_str());
        if self.get_hashed(&pair.pair_id, pair_hash).is_some() {
            return;
        }
        let at = self.pairs.len();
        let side_hash = |side: Side| match found_by {
            Some((found, hash)) if found == side => hash,
            _ => id_hash(pair.side(side).id.as_str()),
        };
        let hashes = [pair_hash, side_hash(Side::Crm), side_hash(Side::Mailbox)];
        let files = |side: Side, hash: u64| {
            found_by.is_some_and(|(found, _)| found == side) || index.files_own_id_hashed(side, &pair, hash)
        };
        let (file_crm, file_mailbox) = (files(Side::Crm, hashes[1]), files(Side::Mailbox, hashes[2]));
        self.pairs.push(pair);
        let pairs = &self.pairs;
        self.by_pair.insert_unique(hashes[0], at, |i| id_hash(pairs[*i].pair_id.as_str()));
        if file_crm {
            self.by_crm.insert_unique(hashes[1], at, |i| id_hash(pairs[*i].crm.id.as_str()));
        }
        if file_mailbox {
            self.by_mailbox.insert_unique(hashes[2], at, |i| id_hash(pairs[*i].mailbox.id.as_str()));
        }
    }

    pub(super) fn get(&self, pair: &PairId) -> Option<&PairState> {
        self.get_hashed(pair, id_hash(pair.as_str()))
    }

    fn get_hashed(&self, pair: &PairId, pair_hash: u64) -> Option<&PairState> {
        let pairs = &self.pairs;
        self.by_pair.find(pair_hash, |i| pairs[*i].pair_id == *pair).map(|i| &pairs[*i])
    }

    pub(super) fn by_record(&self, side: Side, id: &RecordId) -> Option<&PairState> {
        self.by_record_hashed(side, id, id_hash(id.as_str()))
    }

    /// [`Self::by_record`] for an id already hashed with [`id_hash`].
    pub(super) fn by_record_hashed(&self, side: Side, id: &RecordId, id_hash: u64) -> Option<&PairState> {
        let pairs = &self.pairs;
        let table = match side {
            Side::Crm => &self.by_crm,
            Side::Mailbox => &self.by_mailbox,
        };
        // The first pair found for a record id, as the index points each record at one pair.
        table.find(id_hash, |i| pairs[*i].side(side).id == *id).map(|i| &pairs[*i])
    }
}

/// The pairs a cycle's changes touch, in pair order: where each one's changes are in the slots.
pub(super) type Paired<'p> = BTreeMap<PairKey<'p>, usize>;

/// A pair id that orders as its text does, but compares its first 16 bytes as a number kept in
/// the key, so sorting thousands of pairs does not chase a pointer per comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PairKey<'p>(pub(super) u128, pub(super) &'p PairId);

impl<'p> PairKey<'p> {
    pub(super) fn new(id: &'p PairId) -> Self {
        // Big-endian, zero-padded: numbers order as the byte strings they start with, and ties
        // fall to the whole text.
        let mut head = [0u8; 16];
        let bytes = id.0.as_bytes();
        let n = bytes.len().min(16);
        head[..n].copy_from_slice(&bytes[..n]);
        PairKey(u128::from_be_bytes(head), id)
    }
}
