//! [`PairIndex`]: the mapped pairs a plan starts from, packed so that an index of millions of
//! pairs stays small.
//!
//! Each pair is one allocation of bytes (ids, versions, both sides' field prints, see
//! [`pack`]) in a slot of a vector, and three hash tables hold slot numbers only: by pair id, by
//! CRM record id and by mailbox record id. A lookup hashes the id, then compares it with the ids
//! inside the candidate slots' bytes, so no id is stored twice and no table keeps a `String`.
//! A pair comes out as an owned [`PairState`], decoded on each lookup: the planner reads the
//! pairs its changes touch, a small share of an index that large.
//!
//! Only [`pack`] writes these bytes and only [`unpack`] reads them; a property test round-trips
//! arbitrary states through both.

use std::sync::Arc;

use chrono::DateTime;
use hashbrown::HashTable;

use crate::fields::FieldKey;
use crate::model::ObjectKind;
use crate::state::{FieldPrints, IdempotencyKey, PairId, PairState, RecordId, Side, SideState, Version};

/// The mapped pairs known to the planner, by pair id and by either side's record id.
///
/// ```
/// use tandem_core::model::ObjectKind;
/// use tandem_core::planner::PairIndex;
/// use tandem_core::state::{FieldPrints, IdempotencyKey, PairState, RecordId, Side, SideState, Version};
///
/// let side = |id: &str| SideState { id: RecordId::new(id), version: Version::new("1"), fields: FieldPrints::new() };
/// let pair = PairState {
///     pair_id: IdempotencyKey("tdm01".into()),
///     object: ObjectKind::Contact,
///     crm: side("003A"),
///     mailbox: side("AAMk"),
///     synced_at: chrono::DateTime::UNIX_EPOCH,
///     tombstone: None,
/// };
/// let index = PairIndex::new([pair.clone()]);
/// assert_eq!(index.by_record(Side::Mailbox, &RecordId::new("AAMk")), Some(pair));
/// assert_eq!(index.len(), 1);
/// ```
#[derive(Default, Clone)]
pub struct PairIndex {
    /// Each pair packed into one allocation; `None` for a slot freed by a removal.
    slots: Vec<Option<Box<[u8]>>>,
    /// Freed slots, reused first.
    free: Vec<usize>,
    /// Slot numbers by pair id, CRM record id and mailbox record id.
    by_pair: HashTable<usize>,
    by_crm: HashTable<usize>,
    by_mailbox: HashTable<usize>,
    /// Whether a record id was ever filed under a second pair while the first still held it
    /// (two pairs claiming one record, which sync never makes but a store can hold). Until
    /// then every pair's own record ids are filed under it, which spares the planner a
    /// lookup per touched pair ([`Self::files_own_id_hashed`]).
    repointed: bool,
}

/// Which id of a packed pair a table is keyed by: its place among the first three strings.
#[derive(Debug, Clone, Copy)]
enum Key {
    Pair = 0,
    Crm = 1,
    Mailbox = 2,
}

/// The hash of an id in the index's tables: xxh3, as the planner's table of touched pairs (its
/// `id_hash`: unkeyed, as the core takes no randomness, and the ids are ones the providers and
/// Tandem assign).
pub(crate) fn hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

impl PairIndex {
    /// An index over `pairs`.
    pub fn new(pairs: impl IntoIterator<Item = PairState>) -> Self {
        let pairs = pairs.into_iter();
        let mut index = PairIndex::default();
        let expected = pairs.size_hint().0;
        index.slots.reserve_exact(expected);
        index.by_pair.reserve(expected, |_| 0);
        index.by_crm.reserve(expected, |_| 0);
        index.by_mailbox.reserve(expected, |_| 0);
        for p in pairs {
            index.insert(p);
        }
        index
    }

    fn table(&self, key: Key) -> &HashTable<usize> {
        match key {
            Key::Pair => &self.by_pair,
            Key::Crm => &self.by_crm,
            Key::Mailbox => &self.by_mailbox,
        }
    }

    /// The slot of the pair whose `key` id is `id`.
    fn find(&self, key: Key, id: &str) -> Option<usize> {
        self.find_hashed(key, id, hash(id))
    }

    /// [`Self::find`] for an id whose [`hash`] the caller has computed already.
    fn find_hashed(&self, key: Key, id: &str, id_hash: u64) -> Option<usize> {
        let slots = &self.slots;
        self.table(key).find(id_hash, |slot| packed_id(slots, *slot, key) == Some(id.as_bytes())).copied()
    }

    /// Drops `slot` from the table of `key`, where it is filed under `id`.
    fn unfile(&mut self, key: Key, id: &str, slot: usize) {
        let table = match key {
            Key::Pair => &mut self.by_pair,
            Key::Crm => &mut self.by_crm,
            Key::Mailbox => &mut self.by_mailbox,
        };
        if let Ok(entry) = table.find_entry(hash(id), |s| *s == slot) {
            entry.remove();
        }
    }

    /// Files `slot` in the table of `key` under `id`. An id already filed for another pair (two
    /// pairs claiming one record: the later insert wins, as it did with a map) is re-pointed.
    fn file(&mut self, key: Key, id: &str, slot: usize) {
        let slots = &self.slots;
        let hasher = |s: &usize| packed_id(slots, *s, key).map_or(0, xxhash_rust::xxh3::xxh3_64);
        let table = match key {
            Key::Pair => &mut self.by_pair,
            Key::Crm => &mut self.by_crm,
            Key::Mailbox => &mut self.by_mailbox,
        };
        match table.entry(hash(id), |s| packed_id(slots, *s, key) == Some(id.as_bytes()), hasher) {
            hashbrown::hash_table::Entry::Occupied(mut entry) => {
                // Only the pair's own earlier slot was unfiled before; another pair loses the id.
                self.repointed |= *entry.get() != slot;
                *entry.get_mut() = slot;
            }
            hashbrown::hash_table::Entry::Vacant(entry) => {
                entry.insert(slot);
            }
        }
    }

    /// Adds or replaces a pair.
    pub fn insert(&mut self, pair: PairState) {
        // The pair's earlier state leaves every table first: its record ids may have changed.
        self.remove_slot_of(pair.pair_id.as_str());
        let packed = pack(&pair);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(packed);
                slot
            }
            None => {
                self.slots.push(Some(packed));
                self.slots.len() - 1
            }
        };
        // An id another pair still holds moves to this one; that pair stays reachable by its pair id.
        self.file(Key::Pair, pair.pair_id.as_str(), slot);
        self.file(Key::Crm, &pair.crm.id.0, slot);
        self.file(Key::Mailbox, &pair.mailbox.id.0, slot);
    }

    /// Takes the pair of `pair_id` out of its slot and every table that points at it.
    fn remove_slot_of(&mut self, pair_id: &str) -> Option<Box<[u8]>> {
        let slot = self.find(Key::Pair, pair_id)?;
        let packed = self.slots.get_mut(slot)?.take()?;
        let ids: [String; 3] = [Key::Pair, Key::Crm, Key::Mailbox].map(|key| {
            Reader::new(&packed).nth_bytes(key as usize).map(String::from_utf8_lossy).unwrap_or_default().into_owned()
        });
        for (key, id) in [Key::Pair, Key::Crm, Key::Mailbox].into_iter().zip(&ids) {
            self.unfile(key, id, slot);
        }
        self.free.push(slot);
        Some(packed)
    }

    /// Removes a pair.
    pub fn remove(&mut self, pair: &PairId) -> Option<PairState> {
        self.remove_slot_of(pair.as_str()).map(|packed| unpack(&packed))
    }

    /// A pair by id.
    pub fn get(&self, pair: &PairId) -> Option<PairState> {
        self.packed(Key::Pair, pair.as_str()).map(unpack)
    }

    /// The fingerprint of field `key` on `side` of pair `pair` as the index holds it, read from
    /// the packed bytes without decoding the pair (no id, version or print copied out): for a
    /// caller that wants one field, such as the policy looking at an event's privacy for each
    /// update it checks.
    pub fn field_print(&self, pair: &PairId, side: Side, key: &FieldKey) -> Option<u64> {
        let mut r = Reader::new(self.packed(Key::Pair, pair.as_str())?);
        // Past the five strings, object, tombstone and the sync time (`pack`'s layout).
        for _ in 0..5 {
            r.skip_string();
        }
        r.bytes(2 + 12);
        if side == Side::Mailbox {
            FieldPrints::skip_packed(&mut r);
        }
        FieldPrints::packed_get(&mut r, key)
    }

    /// Whether the index holds a pair of this id.
    pub fn contains(&self, pair: &PairId) -> bool {
        self.find(Key::Pair, pair.as_str()).is_some()
    }

    /// The pair holding record `id` on `side`.
    pub fn by_record(&self, side: Side, id: &RecordId) -> Option<PairState> {
        self.by_record_hashed(side, id, hash(id.as_str()))
    }

    /// The id of the pair holding record `id` on `side`, without decoding the pair.
    pub fn pair_of(&self, side: Side, id: &RecordId) -> Option<PairId> {
        let packed = self.packed(side_key(side), &id.0)?;
        Reader::new(packed)
            .nth_bytes(Key::Pair as usize)
            .map(|id| IdempotencyKey(Arc::from(String::from_utf8_lossy(id))))
    }

    /// Whether record `id` on `side` is filed under pair `pair`: [`Self::pair_of`] compared in
    /// place, without copying the id out.
    pub fn files_under(&self, side: Side, id: &RecordId, pair: &PairId) -> bool {
        self.files_under_hashed(side, id.as_str(), hash(id.as_str()), pair)
    }

    fn packed(&self, key: Key, id: &str) -> Option<&[u8]> {
        self.packed_hashed(key, id, hash(id))
    }

    fn packed_hashed(&self, key: Key, id: &str, id_hash: u64) -> Option<&[u8]> {
        let slot = self.find_hashed(key, id, id_hash)?;
        self.slots.get(slot)?.as_deref()
    }

    /// [`Self::by_record`] for a record id whose [`hash`] the caller has computed already: the
    /// planner hashes each changed record's id once for all its lookups (a Graph id is about 150
    /// bytes).
    pub(crate) fn by_record_hashed(&self, side: Side, id: &RecordId, id_hash: u64) -> Option<PairState> {
        self.find_record_hashed(side, id, id_hash).map(FoundPair::decode)
    }

    /// The pair holding record `id` on `side`, found but not decoded yet: a caller looking up
    /// many records finds them all before decoding any, so that the processor overlaps the
    /// lookups' cache misses (each one waits on three or four reads in a row: the table's
    /// control bytes, its slot number, the slot, the pair's bytes) instead of taking them one
    /// decode apart.
    pub(crate) fn find_record_hashed<'i>(
        &'i self,
        side: Side,
        id: &'i RecordId,
        id_hash: u64,
    ) -> Option<FoundPair<'i>> {
        self.packed_hashed(side_key(side), id.as_str(), id_hash).map(|packed| FoundPair { packed, side, id })
    }

    /// [`Self::files_under`] for a record id whose [`hash`] the caller has computed already.
    pub(crate) fn files_under_hashed(&self, side: Side, id: &str, id_hash: u64, pair: &PairId) -> bool {
        self.packed_hashed(side_key(side), id, id_hash)
            .and_then(|packed| Reader::new(packed).nth_bytes(Key::Pair as usize))
            .is_some_and(|filed| filed == pair.as_str().as_bytes())
    }

    /// Whether `pair`, as this index holds it, has its own record id on `side` filed under it:
    /// [`Self::files_under_hashed`] for that id, answered without a lookup while no id has been
    /// filed under a second pair. `id_hash` is the [`hash`] of that record id.
    pub(crate) fn files_own_id_hashed(&self, side: Side, pair: &PairState, id_hash: u64) -> bool {
        // Every insert files all three of a pair's ids and a removal unfiles only ids filed
        // under the removed pair, so without a re-pointing each live pair holds its own ids.
        !self.repointed || self.files_under_hashed(side, pair.side(side).id.as_str(), id_hash, &pair.pair_id)
    }

    /// Number of pairs, tombstones included.
    pub fn len(&self) -> usize {
        self.by_pair.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.by_pair.is_empty()
    }

    /// All pairs, decoded one at a time, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = PairState> + '_ {
        self.slots.iter().flatten().map(|packed| unpack(packed))
    }

    /// The heap memory the index holds, in bytes, for sizing: the packed pairs, the slot vector
    /// and the three tables (a slot number and a control byte per entry they have room for); not
    /// the allocator's bookkeeping nor the tables' spare buckets.
    pub fn heap_bytes(&self) -> usize {
        let packed: usize = self.slots.iter().flatten().map(|p| p.len()).sum();
        let tables = [&self.by_pair, &self.by_crm, &self.by_mailbox]
            .iter()
            .map(|t| t.capacity() * (std::mem::size_of::<usize>() + 1))
            .sum::<usize>();
        packed
            + self.slots.capacity() * std::mem::size_of::<Option<Box<[u8]>>>()
            + self.free.capacity() * std::mem::size_of::<usize>()
            + tables
    }
}

impl std::fmt::Debug for PairIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

fn side_key(side: Side) -> Key {
    match side {
        Side::Crm => Key::Crm,
        Side::Mailbox => Key::Mailbox,
    }
}

/// A pair [`PairIndex::find_record_hashed`] found by one of its record ids.
pub(crate) struct FoundPair<'i> {
    packed: &'i [u8],
    side: Side,
    id: &'i RecordId,
}

impl FoundPair<'_> {
    /// The pair's state. Its id on the side it was found by is the looked-up id, shared rather
    /// than copied out of the bytes.
    pub(crate) fn decode(self) -> PairState {
        unpack_known(self.packed, Some((self.side, self.id)))
    }
}

/// The id of `key` inside the pair packed in `slot`, as bytes (compared and hashed as such: no
/// UTF-8 check on every probe).
fn packed_id(slots: &[Option<Box<[u8]>>], slot: usize, key: Key) -> Option<&[u8]> {
    let packed = slots.get(slot)?.as_deref()?;
    Reader::new(packed).nth_bytes(key as usize)
}

/// One pair as bytes, in one allocation of exactly its size:
///
/// ```text
/// pair id, CRM id, mailbox id, CRM version, mailbox version   (each: LEB128 length, UTF-8)
/// object (u8), tombstone (u8: 0 none, 1 CRM, 2 mailbox)
/// synced_at: seconds (i64 LE), nanoseconds (u32 LE)
/// CRM field prints, mailbox field prints                       (FieldPrints::pack_into)
/// ```
///
/// The three ids come first so that a lookup compares an id after reading one or two lengths.
pub(crate) fn pack(pair: &PairState) -> Box<[u8]> {
    let strings =
        [pair.pair_id.as_str(), &pair.crm.id.0, &pair.mailbox.id.0, &pair.crm.version.0, &pair.mailbox.version.0];
    let size = strings.iter().map(|s| varint_len(s.len()) + s.len()).sum::<usize>()
        + 2
        + 12
        + pair.crm.fields.packed_len()
        + pair.mailbox.fields.packed_len();
    let mut out = Vec::with_capacity(size);
    for s in strings {
        put_str(&mut out, s);
    }
    out.push(match pair.object {
        ObjectKind::Contact => 0,
        ObjectKind::Event => 1,
    });
    out.push(match pair.tombstone {
        None => 0,
        Some(Side::Crm) => 1,
        Some(Side::Mailbox) => 2,
    });
    out.extend_from_slice(&pair.synced_at.timestamp().to_le_bytes());
    out.extend_from_slice(&pair.synced_at.timestamp_subsec_nanos().to_le_bytes());
    pair.crm.fields.pack_into(&mut out);
    pair.mailbox.fields.pack_into(&mut out);
    debug_assert_eq!(out.len(), size, "pack: size computed wrong");
    out.into_boxed_slice()
}

/// The pair [`pack`] made these bytes from.
///
/// The bytes only ever come from [`pack`], so they are well formed; should they not be, the
/// reader yields empty values rather than panic.
pub(crate) fn unpack(packed: &[u8]) -> PairState {
    unpack_known(packed, None)
}

/// [`unpack`], given the record id of one side when the caller holds it already: that id is
/// shared instead of read out of the bytes into a new allocation.
fn unpack_known(packed: &[u8], known: Option<(Side, &RecordId)>) -> PairState {
    let mut r = Reader::new(packed);
    let pair_id = IdempotencyKey(r.shared());
    let record_id = |side: Side, r: &mut Reader<'_>| match known {
        Some((known_side, id)) if known_side == side => {
            r.skip_string();
            id.clone()
        }
        _ => RecordId(r.shared()),
    };
    let crm_id = record_id(Side::Crm, &mut r);
    let mailbox_id = record_id(Side::Mailbox, &mut r);
    let crm_version = Version(r.shared());
    let mailbox_version = Version(r.shared());
    let object = if r.u8() == 1 { ObjectKind::Event } else { ObjectKind::Contact };
    let tombstone = match r.u8() {
        1 => Some(Side::Crm),
        2 => Some(Side::Mailbox),
        _ => None,
    };
    let seconds = i64::from_le_bytes(r.array());
    let nanos = u32::from_le_bytes(r.array());
    let synced_at = DateTime::from_timestamp(seconds, nanos).unwrap_or_default();
    let crm_fields = FieldPrints::unpack(&mut r);
    let mailbox_fields = FieldPrints::unpack(&mut r);
    PairState {
        pair_id,
        object,
        crm: SideState { id: crm_id, version: crm_version, fields: crm_fields },
        mailbox: SideState { id: mailbox_id, version: mailbox_version, fields: mailbox_fields },
        synced_at,
        tombstone,
    }
}

/// Bytes a LEB128 length takes.
pub(crate) fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Appends `n` as LEB128.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        // Truncation is the encoding: the low seven bits, with the continuation bit.
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends a length-prefixed string.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Reads what [`pack`] and `FieldPrints::pack_into` wrote. Past the end it yields zeros and
/// empty strings, never a panic.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        let (first, rest) = self.rest.split_first().map_or((0, &[][..]), |(b, rest)| (*b, rest));
        self.rest = rest;
        first
    }

    pub(crate) fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let n = N.min(self.rest.len());
        out[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        out
    }

    pub(crate) fn varint(&mut self) -> usize {
        let mut n = 0usize;
        let mut shift = 0u32;
        loop {
            let byte = self.u8();
            n |= usize::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            shift += 7;
            if byte & 0x80 == 0 || shift >= usize::BITS {
                return n;
            }
        }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    /// A length-prefixed string (what `pack` wrote is UTF-8; anything else is replaced, never
    /// a panic).
    pub(crate) fn string(&mut self) -> String {
        let n = self.varint();
        let bytes = self.bytes(n);
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// The next length-prefixed string's bytes, where they lie.
    pub(crate) fn str_bytes(&mut self) -> &'a [u8] {
        let n = self.varint();
        self.bytes(n)
    }

    /// Moves past the next string.
    pub(crate) fn skip_string(&mut self) {
        let n = self.varint();
        self.bytes(n);
    }

    /// The next string as the shared text ids are held in (one allocation, no `String` first).
    pub(crate) fn shared(&mut self) -> Arc<str> {
        let n = self.varint();
        let bytes = self.bytes(n);
        match std::str::from_utf8(bytes) {
            Ok(s) => Arc::from(s),
            Err(_) => Arc::from(String::from_utf8_lossy(bytes)),
        }
    }

    /// The `n`th length-prefixed string from here as bytes, skipping the ones before it; `None`
    /// if the bytes end first (which never happens to what `pack` wrote).
    fn nth_bytes(mut self, n: usize) -> Option<&'a [u8]> {
        for _ in 0..n {
            let len = self.varint();
            self.bytes(len);
        }
        let len = self.varint();
        if self.rest.len() < len {
            return None;
        }
        Some(self.bytes(len))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;
    use crate::fields::FieldKey;

    fn pair(n: usize, crm: &str, mailbox: &str) -> PairState {
        let mut fields = FieldPrints::new();
        fields.insert(FieldKey::GivenName, n as u64);
        fields.insert(FieldKey::Attendee("ada@example.com".into()), 7);
        PairState {
            pair_id: IdempotencyKey::from(format!("tdm{n:032x}")),
            object: ObjectKind::Event,
            crm: SideState { id: RecordId::new(crm), version: Version::new("v1"), fields: fields.clone() },
            mailbox: SideState { id: RecordId::new(mailbox), version: Version::new("ck"), fields },
            synced_at: DateTime::from_timestamp(1_700_000_000, 123).unwrap(),
            tombstone: Some(Side::Mailbox),
        }
    }

    /// A lookup with the id already hashed finds what `by_record` finds, and the pair it gives
    /// shares the looked-up id instead of holding a copy; the other side's id is read out as usual.
    #[test]
    fn a_hashed_lookup_finds_the_same_pair_and_shares_the_id() {
        let pairs = [pair(1, "003A", "AAMk1"), pair(2, "003B", "AAMk2")];
        let index = PairIndex::new(pairs.clone());
        for p in &pairs {
            for side in Side::BOTH {
                let id = &p.side(side).id;
                let found = index.by_record_hashed(side, id, hash(id.as_str())).unwrap();
                assert_eq!(found, *p);
                assert_eq!(Some(&found), index.by_record(side, id).as_ref());
                assert!(std::sync::Arc::ptr_eq(&found.side(side).id.0, &id.0));
                assert!(!std::sync::Arc::ptr_eq(&found.side(side.other()).id.0, &p.side(side.other()).id.0));
            }
        }
        let missing = RecordId::new("003Z");
        assert_eq!(index.by_record_hashed(Side::Crm, &missing, hash(missing.as_str())), None);
    }

    #[test]
    fn a_pair_comes_back_as_it_went_in_by_each_of_its_ids() {
        let p = pair(1, "00U1", "AAMk1");
        let index = PairIndex::new([p.clone(), pair(2, "00U2", "AAMk2")]);
        assert_eq!(index.get(&p.pair_id), Some(p.clone()));
        assert_eq!(index.by_record(Side::Crm, &p.crm.id), Some(p.clone()));
        assert_eq!(index.by_record(Side::Mailbox, &p.mailbox.id), Some(p.clone()));
        assert_eq!(index.pair_of(Side::Mailbox, &p.mailbox.id), Some(p.pair_id.clone()));
        assert!(index.files_under(Side::Mailbox, &p.mailbox.id, &p.pair_id));
        assert!(!index.files_under(Side::Mailbox, &p.mailbox.id, &pair(2, "", "").pair_id));
        assert!(!index.files_under(Side::Crm, &p.mailbox.id, &p.pair_id), "ids are looked up per side");
        assert_eq!(index.by_record(Side::Crm, &RecordId::new("AAMk1")), None, "ids are looked up per side");
        assert_eq!(index.len(), 2);
        assert_eq!(index.iter().count(), 2);
    }

    /// One field read in place is the field of the decoded pair, on either side, for standard,
    /// attendee and custom fields, present or not; an unknown pair has none.
    #[test]
    fn a_field_print_read_in_place_is_the_decoded_pairs() {
        let mut p = pair(1, "00U1", "AAMk1");
        p.mailbox.fields.insert(FieldKey::Privacy, 11);
        p.mailbox.fields.insert(FieldKey::Custom("Region__c".into()), 12);
        p.mailbox.fields.remove(&FieldKey::GivenName);
        let index = PairIndex::new([pair(2, "00U2", "AAMk2"), p.clone()]);
        let keys = [
            FieldKey::GivenName,
            FieldKey::Privacy,
            FieldKey::Title,
            FieldKey::attendee("ada@example.com"),
            FieldKey::attendee("bob@example.com"),
            FieldKey::Custom("Region__c".into()),
            FieldKey::Custom(String::new()),
        ];
        for side in Side::BOTH {
            for key in &keys {
                assert_eq!(
                    index.field_print(&p.pair_id, side, key).as_ref(),
                    p.side(side).fields.get(key),
                    "{side} {key}"
                );
            }
        }
        assert_eq!(index.field_print(&p.pair_id, Side::Mailbox, &FieldKey::Privacy), Some(11));
        assert_eq!(index.field_print(&IdempotencyKey::from("tdm-none"), Side::Crm, &FieldKey::GivenName), None);
    }

    #[test]
    fn replacing_a_pair_refiles_its_new_ids_and_forgets_the_old_ones() {
        let mut index = PairIndex::new([pair(1, "00U1", "AAMk1")]);
        let moved = pair(1, "00U1", "AAMk-moved");
        index.insert(moved.clone());
        assert_eq!(index.len(), 1);
        assert_eq!(index.by_record(Side::Mailbox, &RecordId::new("AAMk1")), None);
        assert_eq!(index.by_record(Side::Mailbox, &RecordId::new("AAMk-moved")), Some(moved.clone()));
        assert_eq!(index.remove(&moved.pair_id), Some(moved.clone()));
        assert!(index.is_empty());
        assert_eq!(index.by_record(Side::Crm, &RecordId::new("00U1")), None);
        // The freed slot is reused.
        index.insert(pair(3, "00U3", "AAMk3"));
        assert_eq!(index.slots.len(), 1);
        assert_eq!(index.get(&pair(3, "", "").pair_id).map(|p| p.crm.id), Some(RecordId::new("00U3")));
    }

    #[test]
    fn a_record_claimed_by_a_second_pair_points_at_the_later_one() {
        let first = pair(1, "00U1", "AAMk1");
        let second = pair(2, "00U1", "AAMk2");
        let mut index = PairIndex::new([first.clone(), second.clone()]);
        assert_eq!(index.by_record(Side::Crm, &RecordId::new("00U1")), Some(second.clone()));
        assert_eq!(index.get(&first.pair_id), Some(first.clone()));
        assert!(index.files_under(Side::Crm, &RecordId::new("00U1"), &second.pair_id));
        assert!(!index.files_under(Side::Crm, &RecordId::new("00U1"), &first.pair_id));
        // Removing the first pair leaves the record filed under the second.
        index.remove(&first.pair_id);
        assert_eq!(index.by_record(Side::Crm, &RecordId::new("00U1")), Some(second));
    }

    proptest! {
        /// Whether a pair holds its own record ids, answered without a lookup until an id is
        /// filed under a second pair, is what the lookup answers, after any run of inserts
        /// (replacing pairs, moving ids, two pairs claiming one record) and removals.
        #[test]
        fn a_pair_holds_its_own_ids_as_the_lookup_says(
            steps in proptest::collection::vec((0usize..6, 0usize..4, 0usize..4, any::<bool>()), 1..40),
        ) {
            let mut index = PairIndex::default();
            let mut claimed = false;
            for (n, crm, mailbox, remove) in steps {
                let p = pair(n, &format!("00U{crm}"), &format!("AAMk{mailbox}"));
                if remove {
                    index.remove(&p.pair_id);
                } else {
                    // Another live pair holding one of these record ids is about to lose it.
                    claimed |= index.iter().any(|q| {
                        q.pair_id != p.pair_id
                            && Side::BOTH.into_iter().any(|side| {
                                q.side(side).id == p.side(side).id && index.files_under(side, &q.side(side).id, &q.pair_id)
                            })
                    });
                    index.insert(p);
                }
                prop_assert_eq!(index.repointed, claimed);
                for q in index.iter() {
                    for side in Side::BOTH {
                        let id = q.side(side).id.as_str();
                        prop_assert_eq!(
                            index.files_own_id_hashed(side, &q, hash(id)),
                            index.files_under(side, &q.side(side).id, &q.pair_id),
                            "{:?} {}", side, q.pair_id
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn truncated_bytes_decode_to_empty_values_without_panicking() {
        let packed = pack(&pair(1, "00U1", "AAMk1"));
        for cut in 0..packed.len() {
            let _ = unpack(&packed[..cut]);
        }
        assert_eq!(unpack(&[]).pair_id, IdempotencyKey::from(String::new()));
    }

    fn key() -> impl Strategy<Value = FieldKey> {
        prop_oneof![
            Just(FieldKey::GivenName),
            Just(FieldKey::Emails),
            Just(FieldKey::Timing),
            Just(FieldKey::CrmLinks),
            "[a-z@.é]{0,12}".prop_map(FieldKey::Attendee),
            "[A-Za-z_]{1,12}".prop_map(FieldKey::Custom),
        ]
    }

    fn prints() -> impl Strategy<Value = FieldPrints> {
        proptest::collection::vec((key(), any::<u64>()), 0..30).prop_map(|entries| {
            let mut prints = FieldPrints::new();
            for (k, v) in entries {
                prints.insert(k, v);
            }
            prints
        })
    }

    fn state() -> impl Strategy<Value = PairState> {
        (
            ("[ -~é]{0,200}", "[ -~]{0,40}", "[ -~]{0,300}", "[ -~]{0,40}", "[ -~]{0,60}"),
            (any::<bool>(), 0u8..3, -10_000_000_000i64..10_000_000_000, 0u32..1_000_000_000),
            (prints(), prints()),
        )
            .prop_map(|((pair_id, crm_id, mb_id, crm_v, mb_v), (event, tomb, secs, nanos), (crm_f, mb_f))| {
                PairState {
                    pair_id: IdempotencyKey::from(pair_id),
                    object: if event { ObjectKind::Event } else { ObjectKind::Contact },
                    crm: SideState { id: RecordId::from(crm_id), version: Version::from(crm_v), fields: crm_f },
                    mailbox: SideState { id: RecordId::from(mb_id), version: Version::from(mb_v), fields: mb_f },
                    synced_at: DateTime::from_timestamp(secs, nanos).unwrap(),
                    tombstone: [None, Some(Side::Crm), Some(Side::Mailbox)][usize::from(tomb)],
                }
            })
    }

    proptest! {
        #[test]
        fn any_pair_round_trips_through_its_packed_bytes(p in state()) {
            let packed = pack(&p);
            prop_assert_eq!(unpack(&packed), p.clone());
            let index = PairIndex::new([p.clone()]);
            prop_assert_eq!(index.get(&p.pair_id), Some(p.clone()));
            prop_assert_eq!(index.by_record(Side::Crm, &p.crm.id).map(|q| q.pair_id), Some(p.pair_id.clone()));
        }
    }
}
