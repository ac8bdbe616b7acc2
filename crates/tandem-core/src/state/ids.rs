//! Identities and versions: the two [`Side`]s, provider record ids and versions, change-feed
//! cursors, and the idempotency keys that name creates and pairs.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::ObjectKind;

/// Serde for an id held as `Arc<str>`: written as a plain string (as `#[serde(transparent)]`
/// over a `String` wrote it, so stored states and journals read unchanged), read from borrowed
/// text without an intermediate `String` where the format allows.
macro_rules! shared_text_serde {
    ($name:ident, $what:literal) => {
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Text;
                impl serde::de::Visitor<'_> for Text {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name(Arc::from(v)))
                    }
                    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<$name, E> {
                        Ok($name(Arc::from(v)))
                    }
                }
                deserializer.deserialize_str(Text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                $name(Arc::from(text))
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                $name(Arc::from(text))
            }
        }
    };
}

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
///
/// Held as shared text (`Arc<str>`): a plan, its journal entry and the next state each hold the
/// ids of the pairs they touch, and a clone is a reference count instead of a copy (a Graph id
/// is about 150 bytes, and the planner clones each id it plans three or four times).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub Arc<str>);

shared_text_serde!(RecordId, "a record id");

impl RecordId {
    /// Wraps a provider id.
    pub fn new(id: impl AsRef<str>) -> Self {
        RecordId(Arc::from(id.as_ref()))
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
/// Opaque: only compared for equality. Shared text, as [`RecordId`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub Arc<str>);

shared_text_serde!(Version, "a record version");

impl Version {
    /// Wraps a provider version string.
    pub fn new(v: impl AsRef<str>) -> Self {
        Version(Arc::from(v.as_ref()))
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
/// Salesforce external ids, Graph `transactionId`, Google's base32hex event ids. Shared text, as
/// [`RecordId`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdempotencyKey(pub Arc<str>);

shared_text_serde!(IdempotencyKey, "an idempotency key");

impl IdempotencyKey {
    /// The key for creating, on the other side, the counterpart of `source_id` held by `source`.
    pub fn derive(object: ObjectKind, source: Side, source_id: &RecordId) -> Self {
        // `tandem/v1/{object}/{source}/{id}` hashed, written `tdm` and 32 lower-case hex digits:
        // built by hand, without `format!` (every create and every pair found derives one).
        const PREFIX: &str = "tandem/v1/";
        let (object, source) = (object.as_str(), source.as_str());
        let mut input = String::with_capacity(PREFIX.len() + object.len() + source.len() + source_id.0.len() + 2);
        for part in [PREFIX, object, "/", source, "/", &*source_id.0] {
            input.push_str(part);
        }
        let h = xxhash_rust::xxh3::xxh3_128(input.as_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut key = String::with_capacity(35);
        key.push_str("tdm");
        for shift in (0..32).rev() {
            key.push(char::from(HEX[((h >> (shift * 4)) & 0xf) as usize]));
        }
        IdempotencyKey(Arc::from(key))
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
