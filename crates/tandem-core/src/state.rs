//! What the planner consumes: identities, versions, observed changes and the sync state of
//! mapped pairs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fields::FieldKey;
use crate::model::{ObjectKind, Record};

/// The two sides of every Tandem sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The CRM (Salesforce).
    Crm,
    /// The mailbox (Microsoft 365, Exchange, Google Workspace).
    Mailbox,
}

impl Side {
    /// Both sides.
    pub const BOTH: [Side; 2] = [Side::Crm, Side::Mailbox];

    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Crm => Side::Mailbox,
            Side::Mailbox => Side::Crm,
        }
    }

    /// A stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Crm => "crm",
            Side::Mailbox => "mailbox",
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record's id in its own system (Salesforce Id, Graph immutable id, EWS ItemId, Google id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordId(pub String);

impl RecordId {
    /// Wraps a provider id.
    pub fn new(id: impl Into<String>) -> Self {
        RecordId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A record's version as its system reports it: an ETag, a change key, a SystemModstamp.
/// Opaque: only compared for equality.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Version(pub String);

impl Version {
    /// Wraps a provider version string.
    pub fn new(v: impl Into<String>) -> Self {
        Version(v.into())
    }

    /// The version as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An opaque position in a provider's change feed (delta link, sync token, watermark).
/// The store keeps it; only the connector that issued it understands it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Cursor(pub Vec<u8>);

impl std::fmt::Debug for Cursor {
    // Cursors can embed tokens and URLs; print only their size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cursor({} bytes)", self.0.len())
    }
}

/// A key that makes a create idempotent. Derived deterministically from the source record, so a
/// replayed create carries the same key. Lower-case hexadecimal, which is valid in every target:
/// Salesforce external ids, Graph `transactionId`, Google's base32hex event ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    /// The key for creating, on the other side, the counterpart of `source_id` held by `source`.
    pub fn derive(object: ObjectKind, source: Side, source_id: &RecordId) -> Self {
        // `tandem/v1/{object}/{source}/{id}` hashed, written `tdm` and 32 lower-case hex digits:
        // built by hand, without `format!` (every create and every pair found derives one).
        const PREFIX: &str = "tandem/v1/";
        let (object, source) = (object.as_str(), source.as_str());
        let mut input = String::with_capacity(PREFIX.len() + object.len() + source.len() + source_id.0.len() + 2);
        for part in [PREFIX, object, "/", source, "/", source_id.0.as_str()] {
            input.push_str(part);
        }
        let h = xxhash_rust::xxh3::xxh3_128(input.as_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut key = String::with_capacity(35);
        key.push_str("tdm");
        for shift in (0..32).rev() {
            key.push(char::from(HEX[((h >> (shift * 4)) & 0xf) as usize]));
        }
        IdempotencyKey(key)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of a mapped pair. Equal to the idempotency key of the create that made the pair, or, for
/// pairs found by matching, derived from the CRM record id.
pub type PairId = IdempotencyKey;

/// What happened to one record, as a connector reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChangeKind {
    /// Created or updated; the full current record.
    Upserted {
        /// The record as it is now.
        record: Record,
    },
    /// Deleted.
    Deleted,
    /// The connector could not translate the provider's record; it is quarantined with the reason.
    Invalid {
        /// Why it could not be read.
        reason: String,
    },
    /// Changed to [`Change::version`]; its content was not read. For feeds that list what changed
    /// without the content, whose bodies cost requests of their own (CalDAV/CardDAV
    /// `sync-collection`): the engine reads the record (`Connector::fetch`) unless the version
    /// is the one its pair holds, an echo of Tandem's own write, whose body it never needs. The
    /// engine resolves every such change before planning; the planner quarantines one that
    /// reaches it rather than guess.
    VersionOnly,
}

/// One observed change on one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The record's id on its side.
    pub id: RecordId,
    /// Its version after the change (empty for deletes when unknown).
    pub version: Version,
    /// When the system says it was last modified, if it says.
    pub modified_at: Option<DateTime<Utc>>,
    /// The idempotency key the record was created with by Tandem, when the system stores one.
    pub sync_key: Option<IdempotencyKey>,
    /// What happened.
    pub kind: ChangeKind,
}

impl Change {
    /// An upsert.
    pub fn upserted(id: impl Into<String>, version: impl Into<String>, record: Record) -> Self {
        Change {
            id: RecordId::new(id),
            version: Version::new(version),
            modified_at: None,
            sync_key: None,
            kind: ChangeKind::Upserted { record },
        }
    }

    /// A change known by its new version only (see [`ChangeKind::VersionOnly`]).
    pub fn version_only(id: impl Into<String>, version: impl Into<String>) -> Self {
        Change {
            id: RecordId::new(id),
            version: Version::new(version),
            modified_at: None,
            sync_key: None,
            kind: ChangeKind::VersionOnly,
        }
    }

    /// A delete.
    pub fn deleted(id: impl Into<String>) -> Self {
        Change {
            id: RecordId::new(id),
            version: Version::default(),
            modified_at: None,
            sync_key: None,
            kind: ChangeKind::Deleted,
        }
    }

    /// Sets `modified_at`.
    pub fn at(mut self, when: DateTime<Utc>) -> Self {
        self.modified_at = Some(when);
        self
    }

    /// The record, for upserts.
    pub fn record(&self) -> Option<&Record> {
        match &self.kind {
            ChangeKind::Upserted { record } => Some(record),
            _ => None,
        }
    }
}

/// Per-field fingerprints of what one side holds for a mapped record.
///
/// A map from field to fingerprint, kept compact: a pair holds about twenty entries per side and
/// an index may hold millions of pairs. The fields are kept in order as two-byte codes (a standard
/// field's place in a fixed table; attendees and custom fields, which carry a name, point into a
/// small side list) next to the fingerprints, so twenty fields take 200 bytes rather than the 800
/// of a `Vec<(FieldKey, u64)>` (1.6 KB per contact pair) and a B-tree's more; lookups are binary
/// searches. Serialised as a JSON object.
#[derive(Clone, Default)]
pub struct FieldPrints {
    /// One code per field, in field order: below [`STANDARD_KEYS`]'s length, a standard field;
    /// above, `STANDARD_KEYS.len()` plus the field's place in `named`.
    codes: Box<[u16]>,
    /// The fingerprint of each field, in the same order.
    prints: Box<[u64]>,
    /// Attendee and custom fields, in no particular order.
    named: Box<[FieldKey]>,
}

// Every field that carries no name, in field order (a test checks it): what `FieldPrints`'
// codes index, so two standard fields compare as their codes do. One table with
// `FieldKey::standard`.
use crate::fields::STANDARD_FIELDS as STANDARD_KEYS;

/// The code of a standard field: its place in [`STANDARD_KEYS`].
fn standard_code(key: &FieldKey) -> Option<u16> {
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

    fn position(&self, key: &FieldKey) -> Result<usize, usize> {
        let key_code = standard_code(key);
        self.codes.binary_search_by(|code| cmp_code(&self.named, *code, key, key_code))
    }

    /// The fingerprint of `key`.
    pub fn get(&self, key: &FieldKey) -> Option<&u64> {
        self.position(key).ok().map(|i| &self.prints[i])
    }

    /// Whether `key` has a fingerprint.
    pub fn contains_key(&self, key: &FieldKey) -> bool {
        self.position(key).is_ok()
    }

    /// Sets the fingerprint of `key`, returning the previous one.
    pub fn insert(&mut self, key: FieldKey, print: u64) -> Option<u64> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.prints[i], print)),
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
                let mut codes = std::mem::take(&mut self.codes).into_vec();
                codes.insert(i, code);
                self.codes = codes.into_boxed_slice();
                let mut prints = std::mem::take(&mut self.prints).into_vec();
                prints.insert(i, print);
                self.prints = prints.into_boxed_slice();
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
        let mut codes = std::mem::take(&mut self.codes).into_vec();
        let code = codes.remove(i);
        let mut prints = std::mem::take(&mut self.prints).into_vec();
        let print = prints.remove(i);
        if let Some(at) = usize::from(code).checked_sub(STANDARD_KEYS.len()) {
            let mut named = std::mem::take(&mut self.named).into_vec();
            named.remove(at);
            self.named = named.into_boxed_slice();
            codes.iter_mut().filter(|c| **c > code).for_each(|c| *c -= 1);
        }
        self.codes = codes.into_boxed_slice();
        self.prints = prints.into_boxed_slice();
        Some(print)
    }

    /// Removes every fingerprint.
    pub fn clear(&mut self) {
        *self = FieldPrints::default();
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Fields and fingerprints, in field order.
    pub fn iter(&self) -> FieldPrintsIter<'_> {
        FieldPrintsIter { named: &self.named, inner: self.codes.iter().zip(self.prints.iter()) }
    }

    /// Fields and mutable fingerprints, in field order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&FieldKey, &mut u64)> {
        let named = &self.named;
        self.codes.iter().zip(self.prints.iter_mut()).map(move |(code, print)| (key_of(named, *code), print))
    }

    /// The fields, in order.
    pub fn keys(&self) -> impl Iterator<Item = &FieldKey> {
        self.codes.iter().map(|code| key_of(&self.named, *code))
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
        std::mem::size_of_val::<[u16]>(&self.codes)
            + std::mem::size_of_val::<[u64]>(&self.prints)
            + std::mem::size_of_val::<[FieldKey]>(&self.named)
            + names
    }
}

/// The entries of a [`FieldPrints`], in field order.
#[derive(Debug, Clone)]
pub struct FieldPrintsIter<'a> {
    named: &'a [FieldKey],
    inner: std::iter::Zip<std::slice::Iter<'a, u16>, std::slice::Iter<'a, u64>>,
}

impl<'a> Iterator for FieldPrintsIter<'a> {
    type Item = (&'a FieldKey, &'a u64);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(code, print)| (key_of(self.named, *code), print))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl DoubleEndedIterator for FieldPrintsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|(code, print)| (key_of(self.named, *code), print))
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
        // Entries already in field order without repeats (prints read back from the store, which
        // wrote them in order) need no sorting: checking is one comparison per entry.
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            // Later entries win, as inserting them one by one would.
            entries.reverse();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|later, earlier| later.0 == earlier.0);
        }
        let mut codes = Vec::with_capacity(entries.len());
        let mut prints = Vec::with_capacity(entries.len());
        let mut named = Vec::new();
        for (key, print) in entries {
            let code = match standard_code(&key) {
                Some(code) => code,
                None => {
                    named.push(key);
                    FieldPrints::named_code(named.len() - 1)
                }
            };
            codes.push(code);
            prints.push(print);
        }
        FieldPrints {
            codes: codes.into_boxed_slice(),
            prints: prints.into_boxed_slice(),
            named: named.into_boxed_slice(),
        }
    }
}

impl FieldPrints {
    /// The prints of fields given in field order without repeats (what collecting them would
    /// sort them into), without sorting or copying the keys of standard fields.
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
        varint_len(self.codes.len()) + self.codes.len() * 10 + varint_len(self.named.len()) + names
    }

    /// Appends the map as bytes, for the packed pair index: the number of fields, their codes
    /// (u16 LE), their prints (u64 LE), then the named fields (a tag, 0 attendee or 1 custom, and
    /// the name).
    pub(crate) fn pack_into(&self, out: &mut Vec<u8>) {
        use crate::pair_index::{put_str, put_varint};
        put_varint(out, self.codes.len());
        for code in &self.codes {
            out.extend_from_slice(&code.to_le_bytes());
        }
        for print in &self.prints {
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
        // Bounded by what is left (ten bytes a field), so a damaged length cannot ask for a huge
        // allocation.
        let n = r.varint().min(r.remaining() / 10);
        let codes = r.u16s(n);
        let prints = r.u64s(codes.len());
        // As many codes as prints, even from cut-off bytes.
        let codes = if prints.len() < codes.len() { codes[..prints.len()].into() } else { codes };
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
        let named = named.into_boxed_slice();
        let limit = STANDARD_KEYS.len() + named.len();
        if codes.iter().all(|c| usize::from(*c) < limit) {
            return FieldPrints { codes, prints, named };
        }
        // Damaged bytes: drop codes that point past the named fields, so lookups stay in bounds.
        let (codes, prints): (Vec<u16>, Vec<u64>) =
            codes.iter().zip(prints.iter()).filter(|(c, _)| usize::from(**c) < limit).map(|(c, p)| (*c, *p)).unzip();
        FieldPrints { codes: codes.into_boxed_slice(), prints: prints.into_boxed_slice(), named }
    }

    pub(crate) fn from_sorted<'k>(entries: impl ExactSizeIterator<Item = (&'k FieldKey, u64)>) -> Self {
        let mut codes = Vec::with_capacity(entries.len());
        let mut prints = Vec::with_capacity(entries.len());
        let mut named = Vec::new();
        let mut last: Option<&FieldKey> = None;
        for (key, print) in entries {
            debug_assert!(last.is_none_or(|l| l < key), "from_sorted: {key} out of order");
            last = Some(key);
            let code = match standard_code(key) {
                Some(code) => code,
                None => {
                    named.push(key.clone());
                    FieldPrints::named_code(named.len() - 1)
                }
            };
            codes.push(code);
            prints.push(print);
        }
        FieldPrints {
            codes: codes.into_boxed_slice(),
            prints: prints.into_boxed_slice(),
            named: named.into_boxed_slice(),
        }
    }
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

/// What the sync state knows of one side of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideState {
    /// The record's id on that side.
    pub id: RecordId,
    /// The version last seen or written, for echo suppression and preconditions.
    pub version: Version,
    /// Fingerprints of the synced fields as that side holds them after the last sync. Kept per
    /// side because a side may hold a truncated value or lack a field altogether.
    pub fields: FieldPrints,
}

/// The sync state of one mapped pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairState {
    /// The pair's id.
    pub pair_id: PairId,
    /// Contact or event.
    pub object: ObjectKind,
    /// The CRM record.
    pub crm: SideState,
    /// The mailbox record.
    pub mailbox: SideState,
    /// When the pair last synced.
    pub synced_at: DateTime<Utc>,
    /// Set when one side's record was deleted and the delete was deliberately not propagated:
    /// the survivor stays, unlinked, and is never re-created on the side that deleted it.
    pub tombstone: Option<Side>,
}

impl PairState {
    /// One side's state.
    pub fn side(&self, side: Side) -> &SideState {
        match side {
            Side::Crm => &self.crm,
            Side::Mailbox => &self.mailbox,
        }
    }

    /// One side's state, mutably.
    pub fn side_mut(&mut self, side: Side) -> &mut SideState {
        match side {
            Side::Crm => &mut self.crm,
            Side::Mailbox => &mut self.mailbox,
        }
    }
}

/// Why a write carried a record across without part of it, or not at all, for a reason an
/// administrator can resolve in the target system: what Lightning Sync calls an **unresolved
/// item**. The connector that made the write reports it; the engine keeps it per user against the
/// record whose content did not arrive, lists it, rechecks it, and retries the write once the
/// cause is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unresolved {
    /// What is missing.
    pub kind: UnresolvedKind,
    /// The field that was not written, when one was (`company`, `attendee.ada@example.com`);
    /// `None` when the whole record was not written.
    pub field: Option<FieldKey>,
    /// What the target lacks, as the source has it: the company name, the attendee address.
    pub subject: String,
    /// In words, for administrators.
    pub detail: String,
}

/// The kinds of [`Unresolved`] item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnresolvedKind {
    /// No Account has the contact's company name (or the user sees none).
    AccountNotFound,
    /// Several Accounts have the contact's company name.
    AccountAmbiguous,
    /// The user may not read Accounts.
    AccountNoAccess,
    /// The company was cleared in the mailbox; Tandem never detaches a contact from its Account.
    AccountKept,
    /// An attendee matches no contact, lead or user the user can see.
    AttendeeNotFound,
    /// The event has more attendees than the configured limit; the rest were not written.
    AttendeeLimit,
    /// The event relates to no contact or lead and the configuration skips such events.
    EventUnrelated,
    /// The user already syncs as many records as the configured limit allows.
    OverLimit,
}

impl UnresolvedKind {
    /// A stable snake_case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            UnresolvedKind::AccountNotFound => "account_not_found",
            UnresolvedKind::AccountAmbiguous => "account_ambiguous",
            UnresolvedKind::AccountNoAccess => "account_no_access",
            UnresolvedKind::AccountKept => "account_kept",
            UnresolvedKind::AttendeeNotFound => "attendee_not_found",
            UnresolvedKind::AttendeeLimit => "attendee_limit",
            UnresolvedKind::EventUnrelated => "event_unrelated",
            UnresolvedKind::OverLimit => "over_limit",
        }
    }

    /// The inverse of [`UnresolvedKind::as_str`].
    pub fn parse(name: &str) -> Option<UnresolvedKind> {
        [
            UnresolvedKind::AccountNotFound,
            UnresolvedKind::AccountAmbiguous,
            UnresolvedKind::AccountNoAccess,
            UnresolvedKind::AccountKept,
            UnresolvedKind::AttendeeNotFound,
            UnresolvedKind::AttendeeLimit,
            UnresolvedKind::EventUnrelated,
            UnresolvedKind::OverLimit,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for UnresolvedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys are stored on the providers' records: the derivation never changes. Held to the
    /// formula it was first written as, over ids of every shape.
    #[test]
    fn idempotency_keys_are_derived_as_always() {
        let ids = ["003A", "", "AAMkAGI2TG93AAA=", "bench-00042.ics", "Zoë/ünïcode 東京", &"x".repeat(300)];
        for object in [ObjectKind::Contact, ObjectKind::Event] {
            for side in Side::BOTH {
                for id in ids {
                    let input = format!("tandem/v1/{object}/{side}/{id}");
                    let expected = format!("tdm{:032x}", xxhash_rust::xxh3::xxh3_128(input.as_bytes()));
                    let key = IdempotencyKey::derive(object, side, &RecordId::new(id));
                    assert_eq!(key.0, expected, "{input}");
                }
            }
        }
        // And one written out, for good.
        let key = IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003A"));
        assert_eq!(key.0, "tdm44c98f07e3c585b92edb59220a7da37a");
    }

    #[test]
    fn standard_field_codes_follow_field_order() {
        assert!(STANDARD_KEYS.is_sorted());
        for (i, key) in STANDARD_KEYS.iter().enumerate() {
            assert_eq!(standard_code(key), Some(i as u16), "{key}");
        }
        let all: Vec<&FieldKey> =
            FieldKey::standard(ObjectKind::Contact).iter().chain(FieldKey::standard(ObjectKind::Event)).collect();
        assert_eq!(all.len(), STANDARD_KEYS.len());
        assert!(all.iter().all(|k| STANDARD_KEYS.contains(k)));
        assert_eq!(standard_code(&FieldKey::attendee("a@x.org")), None);
        assert_eq!(standard_code(&FieldKey::Custom("Region__c".into())), None);
    }

    #[test]
    fn field_prints_with_named_fields_keep_field_order() {
        let mut p: FieldPrints = [
            (FieldKey::Custom("b".into()), 1),
            (FieldKey::Privacy, 2),
            (FieldKey::attendee("z@x.org"), 3),
            (FieldKey::Attendees, 4),
            (FieldKey::attendee("a@x.org"), 5),
            (FieldKey::Subject, 6),
        ]
        .into_iter()
        .collect();
        let order = |p: &FieldPrints| p.keys().cloned().collect::<Vec<_>>();
        let mut sorted = order(&p);
        sorted.sort();
        assert_eq!(order(&p), sorted);
        p.insert(FieldKey::attendee("m@x.org"), 7);
        p.insert(FieldKey::Custom("a".into()), 8);
        assert_eq!(p.remove(&FieldKey::attendee("a@x.org")), Some(5));
        assert_eq!(p.get(&FieldKey::attendee("z@x.org")), Some(&3));
        assert_eq!(p.get(&FieldKey::Custom("a".into())), Some(&8));
        assert_eq!(p.get(&FieldKey::Privacy), Some(&2));
        let mut sorted = order(&p);
        sorted.sort();
        assert_eq!(order(&p), sorted);
        // Equality is by content, not by how the named fields are stored.
        let rebuilt: FieldPrints = p.iter().rev().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(rebuilt, p);
        assert_eq!(serde_json::to_string(&rebuilt).unwrap(), serde_json::to_string(&p).unwrap());
        assert!(p.heap_bytes() > 0);
    }

    #[test]
    fn field_prints_behave_like_a_sorted_map_and_serialise_as_one() {
        let mut p: FieldPrints =
            [(FieldKey::Title, 1), (FieldKey::GivenName, 2), (FieldKey::Title, 3)].into_iter().collect();
        assert_eq!(p.len(), 2);
        assert_eq!(p.get(&FieldKey::Title), Some(&3), "later entries win");
        // In field order already (no sorting), and in order with a repeat (the later wins).
        let in_order: FieldPrints = p.iter().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(in_order, p);
        let repeated: FieldPrints =
            [(FieldKey::GivenName, 2), (FieldKey::Title, 1), (FieldKey::Title, 3)].into_iter().collect();
        assert_eq!(repeated, p);
        assert_eq!(p.insert(FieldKey::Emails, 4), None);
        assert_eq!(p.insert(FieldKey::Emails, 5), Some(4));
        assert_eq!(p[&FieldKey::Emails], 5);
        assert_eq!(p.keys().cloned().collect::<Vec<_>>(), [FieldKey::GivenName, FieldKey::Emails, FieldKey::Title]);
        assert_eq!(p.remove(&FieldKey::GivenName), Some(2));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"emails":5,"title":3}"#);
        assert_eq!(serde_json::from_str::<FieldPrints>(&json).unwrap(), p);
        // The single `addresses` print of an earlier version is dropped; unknown names still fail.
        let legacy = serde_json::from_str::<FieldPrints>(r#"{"addresses":9,"emails":5,"title":3}"#).unwrap();
        assert_eq!(legacy, p);
        assert!(serde_json::from_str::<FieldPrints>(r#"{"nope":1}"#).is_err());
    }

    #[test]
    fn idempotency_keys_are_deterministic_and_target_safe() {
        let a = IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003xx1"));
        let b = IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003xx1"));
        let c = IdempotencyKey::derive(ObjectKind::Contact, Side::Mailbox, &RecordId::new("003xx1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.0.len(), 35);
        // Google event ids accept base32hex (a-v, 0-9) only.
        assert!(a.0.chars().all(|ch| ch.is_ascii_digit() || ('a'..='v').contains(&ch)));
    }

    #[test]
    fn cursor_debug_hides_contents() {
        let c = Cursor(b"https://graph/delta?$deltatoken=secret".to_vec());
        assert!(!format!("{c:?}").contains("secret"));
    }
}
