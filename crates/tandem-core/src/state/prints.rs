//! [`FieldPrints`]: the packed map from field to fingerprint a pair keeps per side, its iterator,
//! its serde (a JSON object) and its bytes in the packed pair index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fields::FieldKey;

mod builder;
mod table;

pub use builder::FieldPrintsBuilder;
use table::{Codes, TableBuilder, code_in, code_words};

/// Per-field fingerprints of what one side holds for a mapped record.
///
/// A map from field to fingerprint, kept compact: a pair holds about twenty entries per side and
/// an index may hold millions of pairs. The fields are kept in order as two-byte codes (a standard
/// field's place in a fixed table; attendees and custom fields, which carry a name, point into a
/// small side list) next to the fingerprints, so twenty fields take 200 bytes rather than the 800
/// of a `Vec<(FieldKey, u64)>` (1.6 KB per contact pair) and a B-tree's more; lookups are binary
/// searches. Serialised as a JSON object.
///
/// Codes and fingerprints share one allocation (`table`): the planner decodes, builds and clones
/// a few of these for every change it plans, and each allocation (with its free) cost about as
/// much as comparing the prints.
#[derive(Clone, Default)]
pub struct FieldPrints {
    /// One code per field, in field order, four to a word (the first in the low bits, unused
    /// places zero): below [`STANDARD_KEYS`]'s length, a standard field; above,
    /// `STANDARD_KEYS.len()` plus the field's place in `named`. Then the fingerprint of each
    /// field, in the same order.
    table: Box<[u64]>,
    /// Number of fields.
    len: usize,
    /// Attendee and custom fields, in no particular order.
    named: Box<[FieldKey]>,
}

// Every field that carries no name, in field order (a test checks it): what `FieldPrints`'
// codes index, so two standard fields compare as their codes do. One table with
// `FieldKey::standard`.
use crate::fields::STANDARD_FIELDS as STANDARD_KEYS;

/// The code of a standard field: its place in [`STANDARD_KEYS`].
pub(crate) fn standard_code(key: &FieldKey) -> Option<u16> {
    // Enum discriminants of field-less enums: their declaration order, which `STANDARD_KEYS`
    // follows.
    let code = match key {
        FieldKey::GivenName => 0,
        FieldKey::MiddleName => 1,
        FieldKey::FamilyName => 2,
        FieldKey::Emails => 3,
        FieldKey::Phone(kind) => 4 + *kind as u16,
        FieldKey::Company => 11,
        FieldKey::Title => 12,
        FieldKey::Department => 13,
        FieldKey::Address(kind) => 14 + *kind as u16,
        FieldKey::Birthday => 17,
        FieldKey::AssistantName => 18,
        FieldKey::Notes => 19,
        FieldKey::Subject => 20,
        FieldKey::Description => 21,
        FieldKey::Location => 22,
        FieldKey::Timing => 23,
        FieldKey::Recurrence => 24,
        FieldKey::Organizer => 25,
        FieldKey::Attendees => 26,
        FieldKey::Privacy => 27,
        FieldKey::ShowAs => 28,
        FieldKey::Categories => 29,
        FieldKey::CrmLinks => 30,
        FieldKey::Attendee(_) | FieldKey::Custom(_) => return None,
    };
    Some(code)
}

/// How the field of `code` orders against `key` (of standard code `key_code`, if standard).
fn cmp_code(named: &[FieldKey], code: u16, key: &FieldKey, key_code: Option<u16>) -> std::cmp::Ordering {
    match key_code {
        Some(key_code) if usize::from(code) < STANDARD_KEYS.len() => code.cmp(&key_code),
        _ => key_of(named, code).cmp(key),
    }
}

/// The field a code stands for.
fn key_of(named: &[FieldKey], code: u16) -> &FieldKey {
    let code = usize::from(code);
    match STANDARD_KEYS.get(code) {
        Some(key) => key,
        // Codes are only ever made for entries of `named`.
        None => &named[code - STANDARD_KEYS.len()],
    }
}

impl FieldPrints {
    /// An empty map.
    pub fn new() -> Self {
        FieldPrints::default()
    }

    /// The codes, in order.
    fn codes(&self) -> Codes<'_> {
        Codes { words: &self.table[..code_words(self.len)], front: 0, back: self.len }
    }

    /// The `i`th code.
    fn code(&self, i: usize) -> u16 {
        code_in(&self.table, i)
    }

    /// The fingerprints, in field order.
    fn prints(&self) -> &[u64] {
        &self.table[code_words(self.len)..]
    }

    /// A map of these codes (`(code, print)` in order) and named fields.
    fn from_entries(entries: impl ExactSizeIterator<Item = (u16, u64)>, named: Box<[FieldKey]>) -> Self {
        let mut table = TableBuilder::with_capacity(entries.len());
        for (code, print) in entries {
            table.push(code, print);
        }
        table.finish(named)
    }

    /// Where `key` is, or would go: a binary search over the codes.
    fn position(&self, key: &FieldKey) -> Result<usize, usize> {
        let key_code = standard_code(key);
        let (mut low, mut high) = (0, self.len);
        while low < high {
            let mid = low + (high - low) / 2;
            match cmp_code(&self.named, self.code(mid), key, key_code) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(low)
    }

    /// The fingerprint of `key`.
    pub fn get(&self, key: &FieldKey) -> Option<&u64> {
        self.position(key).ok().map(|i| &self.prints()[i])
    }

    /// Whether `key` has a fingerprint.
    pub fn contains_key(&self, key: &FieldKey) -> bool {
        self.position(key).is_ok()
    }

    /// Sets the fingerprint of `key`, returning the previous one.
    pub fn insert(&mut self, key: FieldKey, print: u64) -> Option<u64> {
        match self.position(&key) {
            Ok(i) => {
                let at = code_words(self.len) + i;
                Some(std::mem::replace(&mut self.table[at], print))
            }
            Err(i) => {
                let code = match standard_code(&key) {
                    Some(code) => code,
                    None => {
                        let mut named = std::mem::take(&mut self.named).into_vec();
                        named.push(key);
                        self.named = named.into_boxed_slice();
                        Self::named_code(self.named.len() - 1)
                    }
                };
                let before = self.codes().zip(self.prints().iter().copied());
                let entries = before.clone().take(i).chain([(code, print)]).chain(before.skip(i));
                let mut table = TableBuilder::with_capacity(self.len + 1);
                for (code, print) in entries {
                    table.push(code, print);
                }
                *self = table.finish(std::mem::take(&mut self.named));
                None
            }
        }
    }

    /// The code of the `i`th named field.
    fn named_code(i: usize) -> u16 {
        // Validation caps attendees at 1,000 per event (`validate::MAX_LIST_ENTRIES`) and custom
        // fields are configured by hand, so a side never comes near the 65,504 named fields
        // codes can tell apart; past that, the last code would be shared.
        u16::try_from(STANDARD_KEYS.len() + i).unwrap_or(u16::MAX)
    }

    /// Removes the fingerprint of `key`.
    pub fn remove(&mut self, key: &FieldKey) -> Option<u64> {
        let i = self.position(key).ok()?;
        let (code, print) = (self.code(i), self.prints()[i]);
        let mut named = std::mem::take(&mut self.named).into_vec();
        let named_removed = usize::from(code).checked_sub(STANDARD_KEYS.len());
        if let Some(at) = named_removed {
            named.remove(at);
        }
        let mut table = TableBuilder::with_capacity(self.len - 1);
        for (at, (c, p)) in self.codes().zip(self.prints().iter().copied()).enumerate() {
            if at != i {
                // Named fields after the one removed move one place down.
                table.push(if named_removed.is_some() && c > code { c - 1 } else { c }, p);
            }
        }
        *self = table.finish(named.into_boxed_slice());
        Some(print)
    }

    /// Removes every fingerprint.
    pub fn clear(&mut self) {
        *self = FieldPrints::default();
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fields and fingerprints, in field order.
    pub fn iter(&self) -> FieldPrintsIter<'_> {
        FieldPrintsIter { named: &self.named, inner: self.codes().zip(self.prints().iter()) }
    }

    /// Fields and mutable fingerprints, in field order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&FieldKey, &mut u64)> {
        let named = &self.named;
        let (code_words, prints) = self.table.split_at_mut(code_words(self.len));
        let codes = Codes { words: code_words, front: 0, back: self.len };
        codes.zip(prints.iter_mut()).map(move |(code, print)| (key_of(named, code), print))
    }

    /// The fields, in order.
    pub fn keys(&self) -> impl Iterator<Item = &FieldKey> {
        self.codes().map(|code| key_of(&self.named, code))
    }

    /// The heap memory the map holds, in bytes (its own allocations and the names of attendee
    /// and custom fields; not the allocator's bookkeeping): for sizing the pair index.
    pub fn heap_bytes(&self) -> usize {
        let names: usize = self
            .named
            .iter()
            .map(|k| match k {
                FieldKey::Attendee(s) | FieldKey::Custom(s) => s.capacity(),
                _ => 0,
            })
            .sum();
        std::mem::size_of_val::<[u64]>(&self.table) + std::mem::size_of_val::<[FieldKey]>(&self.named) + names
    }
}

/// A walk through a [`FieldPrints`] for fields asked for in field order: each lookup starts
/// where the last one stopped, and two standard fields compare by their codes, not as
/// [`FieldKey`]s (the planner compares every synced field of a changed record this way).
#[derive(Debug, Clone)]
pub(crate) struct PrintsWalk<'a> {
    prints: &'a FieldPrints,
    at: usize,
}

impl FieldPrints {
    /// A walk from the first field; see [`PrintsWalk::seek`].
    pub(crate) fn walk(&self) -> PrintsWalk<'_> {
        PrintsWalk { prints: self, at: 0 }
    }

    /// Whether `other` holds the same fields, stored alike, whatever their prints: then the `i`th
    /// print of each is the same field's. `false` can still mean the same fields, with attendee
    /// or custom fields stored in another order.
    pub(crate) fn same_fields(&self, other: &FieldPrints) -> bool {
        // Unused code places are zero in every table, so equal words are equal codes.
        self.len == other.len
            && self.table[..code_words(self.len)] == other.table[..code_words(other.len)]
            && self.named == other.named
    }

    /// The prints alone, in field order.
    pub(crate) fn print_values(&self) -> &[u64] {
        self.prints()
    }

    /// The field of the `at`th print of [`Self::print_values`].
    pub(crate) fn key_at(&self, at: usize) -> &FieldKey {
        key_of(&self.named, self.code(at))
    }
}

impl PrintsWalk<'_> {
    /// The print of `key`, moving past the fields before it. Keys must be asked for in field
    /// order; a key asked for out of order reads as absent.
    pub(crate) fn seek(&mut self, key: &FieldKey) -> Option<u64> {
        let key_code = standard_code(key);
        let fields = self.prints;
        while self.at < fields.len {
            match cmp_code(&fields.named, fields.code(self.at), key, key_code) {
                std::cmp::Ordering::Less => self.at += 1,
                std::cmp::Ordering::Equal => return fields.prints().get(self.at).copied(),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }
}

/// The entries of a [`FieldPrints`], in field order.
#[derive(Debug, Clone)]
pub struct FieldPrintsIter<'a> {
    named: &'a [FieldKey],
    inner: std::iter::Zip<Codes<'a>, std::slice::Iter<'a, u64>>,
}

impl<'a> Iterator for FieldPrintsIter<'a> {
    type Item = (&'a FieldKey, &'a u64);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(code, print)| (key_of(self.named, code), print))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl DoubleEndedIterator for FieldPrintsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|(code, print)| (key_of(self.named, code), print))
    }
}

impl ExactSizeIterator for FieldPrintsIter<'_> {}

impl PartialEq for FieldPrints {
    /// Same fields, same fingerprints (however the named fields are stored).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for FieldPrints {}

impl std::fmt::Debug for FieldPrints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl std::ops::Index<&FieldKey> for FieldPrints {
    type Output = u64;

    /// # Panics
    ///
    /// When `key` has no fingerprint, like a `BTreeMap`; use [`FieldPrints::get`] otherwise.
    fn index(&self, key: &FieldKey) -> &u64 {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no fingerprint for field `{key}`"),
        }
    }
}

impl FromIterator<(FieldKey, u64)> for FieldPrints {
    fn from_iter<I: IntoIterator<Item = (FieldKey, u64)>>(iter: I) -> Self {
        let mut entries: Vec<(FieldKey, u64)> = iter.into_iter().collect();
        // The common case, prints read back from a store: standard fields only, in order. Their
        // codes order as the fields do, so checking the order is comparing numbers (a `FieldKey`
        // comparison is a call, and this runs for both sides of every pair a cycle reads).
        let mut codes = Vec::with_capacity(entries.len());
        for (key, _) in &entries {
            match standard_code(key) {
                Some(code) if codes.last().is_none_or(|last| *last < code) => codes.push(code),
                _ => break,
            }
        }
        if codes.len() == entries.len() {
            return FieldPrints::from_entries(
                codes.into_iter().zip(entries.iter().map(|(_, print)| *print)),
                Box::default(),
            );
        }
        // Entries already in field order without repeats (prints read back from the store, which
        // wrote them in order) need no sorting: checking is one comparison per entry.
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            // Later entries win, as inserting them one by one would.
            entries.reverse();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|later, earlier| later.0 == earlier.0);
        }
        let mut table = TableBuilder::with_capacity(entries.len());
        let mut named = Vec::new();
        for (key, print) in entries {
            let code = match standard_code(&key) {
                Some(code) => code,
                None => {
                    named.push(key);
                    FieldPrints::named_code(named.len() - 1)
                }
            };
            table.push(code, print);
        }
        table.finish(named.into_boxed_slice())
    }
}

impl FieldPrints {
    /// Bytes [`FieldPrints::pack_into`] writes.
    pub(crate) fn packed_len(&self) -> usize {
        use crate::pair_index::varint_len;
        let names: usize = self
            .named
            .iter()
            .map(|k| match k {
                FieldKey::Attendee(s) | FieldKey::Custom(s) => 1 + varint_len(s.len()) + s.len(),
                _ => 1,
            })
            .sum();
        varint_len(self.len) + self.len * 10 + varint_len(self.named.len()) + names
    }

    /// Appends the map as bytes, for the packed pair index: the number of fields, their codes
    /// (u16 LE), their prints (u64 LE), then the named fields (a tag, 0 attendee or 1 custom, and
    /// the name).
    pub(crate) fn pack_into(&self, out: &mut Vec<u8>) {
        use crate::pair_index::{put_str, put_varint};
        put_varint(out, self.len);
        for code in self.codes() {
            out.extend_from_slice(&code.to_le_bytes());
        }
        for print in self.prints() {
            out.extend_from_slice(&print.to_le_bytes());
        }
        put_varint(out, self.named.len());
        for key in &self.named {
            match key {
                FieldKey::Attendee(name) => {
                    out.push(0);
                    put_str(out, name);
                }
                FieldKey::Custom(name) => {
                    out.push(1);
                    put_str(out, name);
                }
                // Only attendee and custom fields are named (`standard_code` gives the rest a
                // code); a tag without a name keeps the count of entries right regardless.
                _ => out.push(2),
            }
        }
    }

    /// The map [`FieldPrints::pack_into`] wrote.
    pub(crate) fn unpack(r: &mut crate::pair_index::Reader<'_>) -> FieldPrints {
        let (n, code_bytes, print_bytes) = Self::packed_head(r);
        let (prints, _) = print_bytes.as_chunks::<8>();
        // As many codes as prints, even from cut-off bytes.
        let len = prints.len();
        let code_bytes = &code_bytes[..len * 2];
        // The table's words are the bytes as written: four little-endian codes are one
        // little-endian word, the first code in its low bits (the last word padded with zeros).
        let mut table = Vec::with_capacity(code_words(len) + len);
        let (whole, rest) = code_bytes.as_chunks::<8>();
        table.extend(whole.iter().map(|word| u64::from_le_bytes(*word)));
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            table.push(u64::from_le_bytes(last));
        }
        table.extend(prints.iter().map(|print| u64::from_le_bytes(*print)));
        let highest = code_bytes.as_chunks::<2>().0.iter().map(|code| u16::from_le_bytes(*code)).max();
        let named_len = r.varint().min(n);
        let mut named = Vec::with_capacity(named_len);
        for _ in 0..named_len {
            let key = match r.u8() {
                0 => FieldKey::Attendee(r.string()),
                1 => FieldKey::Custom(r.string()),
                _ => FieldKey::Custom(String::new()),
            };
            named.push(key);
        }
        let limit = STANDARD_KEYS.len() + named.len();
        let read = FieldPrints { table: table.into_boxed_slice(), len, named: named.into_boxed_slice() };
        if highest.is_none_or(|code| usize::from(code) < limit) {
            return read;
        }
        // Damaged bytes: drop codes that point past the named fields, so lookups stay in bounds.
        let kept: Vec<(u16, u64)> =
            read.codes().zip(read.prints().iter().copied()).filter(|(code, _)| usize::from(*code) < limit).collect();
        FieldPrints::from_entries(kept.into_iter(), read.named)
    }

    /// The head of prints [`Self::pack_into`] wrote, as every reader of them takes it: the
    /// field count, bounded by what is left (ten bytes a field, so that a damaged length cannot
    /// ask for a huge allocation), then the code bytes and the print bytes (as many whole prints
    /// as are left, which may be fewer than the codes in cut-off bytes).
    fn packed_head<'a>(r: &mut crate::pair_index::Reader<'a>) -> (usize, &'a [u8], &'a [u8]) {
        let n = r.varint().min(r.remaining() / 10);
        let code_bytes = r.bytes(n * 2);
        let print_bytes = r.bytes(code_bytes.len() / 2 * 8);
        (n, code_bytes, print_bytes)
    }

    /// The fingerprint of `key` in prints [`Self::pack_into`] wrote, read where the bytes lie
    /// (no table built, no name copied), moving `r` past them: what [`Self::unpack`] and then
    /// [`Self::get`] would answer, for a caller that wants one field of a packed pair.
    pub(crate) fn packed_get(r: &mut crate::pair_index::Reader<'_>, key: &FieldKey) -> Option<u64> {
        let (n, code_bytes, print_bytes) = Self::packed_head(r);
        let named_len = r.varint().min(n);
        let mut named_code = None;
        for j in 0..named_len {
            let tag = r.u8();
            let name = r.str_bytes();
            let same = match (tag, key) {
                (0, FieldKey::Attendee(a)) => a.as_bytes() == name,
                (1, FieldKey::Custom(c)) => c.as_bytes() == name,
                // `unpack` reads an unknown tag as an unnamed custom field.
                (0 | 1, _) => false,
                (_, FieldKey::Custom(c)) => c.is_empty(),
                _ => false,
            };
            if same && named_code.is_none() {
                named_code = Some(FieldPrints::named_code(j));
            }
        }
        let code = standard_code(key).or(named_code)?;
        let (codes, _) = code_bytes.as_chunks::<2>();
        let at = codes.iter().position(|c| u16::from_le_bytes(*c) == code)?;
        let (prints, _) = print_bytes.as_chunks::<8>();
        prints.get(at).map(|print| u64::from_le_bytes(*print))
    }

    /// Moves `r` past prints [`Self::pack_into`] wrote, reading as [`Self::unpack`] does.
    pub(crate) fn skip_packed(r: &mut crate::pair_index::Reader<'_>) {
        let (n, _, _) = Self::packed_head(r);
        for _ in 0..r.varint().min(n) {
            r.u8();
            r.skip_string();
        }
    }

    /// The prints of fields given in field order without repeats (what collecting them would
    /// sort them into), without sorting or copying the keys of standard fields.
    pub(crate) fn from_sorted<'k>(entries: impl ExactSizeIterator<Item = (&'k FieldKey, u64)>) -> Self {
        let mut table = TableBuilder::with_capacity(entries.len());
        let mut named = Vec::new();
        let mut last: Option<&FieldKey> = None;
        for (key, print) in entries {
            debug_assert!(last.is_none_or(|l| l < key), "from_sorted: {key} out of order");
            last = Some(key);
            table.push(borrowed_code(&mut named, key), print);
        }
        table.finish(named.into_boxed_slice())
    }

    /// [`Self::from_sorted`] with more fields, `owned`, also in field order and none of them
    /// among `entries`: the two runs are merged, and the names of `owned` moved in rather than
    /// copied (an event's attendees, printed apart from its standard fields). A loop of its
    /// own: checking for owned fields at every field cost contacts, which have none, 1% of a
    /// plan.
    pub(crate) fn from_sorted_with<'k>(
        entries: impl ExactSizeIterator<Item = (&'k FieldKey, u64)>,
        owned: Vec<(FieldKey, u64)>,
    ) -> Self {
        let mut table = TableBuilder::with_capacity(entries.len() + owned.len());
        // Sized for the owned names (the usual named fields): no growing, and no shrinking when
        // boxed.
        let mut named = Vec::with_capacity(owned.len());
        let mut owned = owned.into_iter().peekable();
        let mut last: Option<&FieldKey> = None;
        for (key, print) in entries {
            debug_assert!(last.is_none_or(|l| l < key), "from_sorted: {key} out of order");
            last = Some(key);
            while let Some((earlier, print)) = owned.next_if(|(other, _)| other < key) {
                table.push(owned_code(&mut named, earlier), print);
            }
            table.push(borrowed_code(&mut named, key), print);
        }
        for (key, print) in owned {
            table.push(owned_code(&mut named, key), print);
        }
        table.finish(named.into_boxed_slice())
    }

    /// The attendee and custom fields held, in the order they came in (field order for prints
    /// built in order, as the planner's are).
    pub(crate) fn named_keys(&self) -> &[FieldKey] {
        &self.named
    }
}

/// The code of `key` among prints being built: its standard code, or the next named one, with a
/// copy of the key added to `named`.
#[inline(always)]
fn borrowed_code(named: &mut Vec<FieldKey>, key: &FieldKey) -> u16 {
    standard_code(key).unwrap_or_else(|| {
        named.push(key.clone());
        FieldPrints::named_code(named.len() - 1)
    })
}

/// [`borrowed_code`] for a key given away: moved into `named` when it is a named one.
#[inline(always)]
fn owned_code(named: &mut Vec<FieldKey>, key: FieldKey) -> u16 {
    standard_code(&key).unwrap_or_else(|| {
        named.push(key);
        FieldPrints::named_code(named.len() - 1)
    })
}

impl Extend<(FieldKey, u64)> for FieldPrints {
    fn extend<I: IntoIterator<Item = (FieldKey, u64)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<'a> IntoIterator for &'a FieldPrints {
    type Item = (&'a FieldKey, &'a u64);
    type IntoIter = FieldPrintsIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Serialize for FieldPrints {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for FieldPrints {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Fingerprints of retired fields (written by an earlier version) are dropped.
        BTreeMap::<String, u64>::deserialize(deserializer)?
            .into_iter()
            .filter(|(name, _)| !crate::fields::RETIRED_FIELD_NAMES.contains(&name.as_str()))
            .map(|(name, print)| name.parse::<FieldKey>().map(|key| (key, print)).map_err(serde::de::Error::custom))
            .collect()
    }
}
