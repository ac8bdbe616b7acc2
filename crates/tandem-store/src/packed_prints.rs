//! Serde for [`FieldPrints`] in the store's packed form (`v2:` and base64, see the `codec`
//! module), for values the store keeps but does not read itself: the engine's journal entries.
//!
//! Written as one JSON string of about 12 characters a field, where [`FieldPrints`]' own serde
//! writes an object of about 30 (each field's name and its fingerprint as a number). A journal
//! entry holds both sides' prints of the pair's next state, so they were most of its bytes, and
//! most of the time it took to write: every write of every cycle is journaled before it is
//! sent, and the entry is deleted again by the cycle's commit.
//!
//! Reading accepts both forms, so entries journaled by an earlier build still settle after an
//! upgrade.
//!
//! ```
//! # fn main() -> Result<(), serde_json::Error> {
//! use serde::{Deserialize, Serialize};
//! use tandem_core::fields::FieldKey;
//! use tandem_core::state::FieldPrints;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Entry {
//!     #[serde(with = "tandem_store::packed_prints")]
//!     fields: FieldPrints,
//! }
//!
//! let fields: FieldPrints = [(FieldKey::Title, 7_u64)].into_iter().collect();
//! let json = serde_json::to_string(&Entry { fields: fields.clone() })?;
//! assert!(json.starts_with(r#"{"fields":"v2:"#));
//! assert_eq!(serde_json::from_str::<Entry>(&json)?.fields, fields);
//! // The object form of `FieldPrints`' own serde still reads.
//! let older = format!(r#"{{"fields":{}}}"#, serde_json::to_string(&fields)?);
//! assert_eq!(serde_json::from_str::<Entry>(&older)?.fields, fields);
//! # Ok(()) }
//! ```

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serializer};
use tandem_core::state::FieldPrints;

use crate::codec::{decode_packed_only, encode_prints};

/// Writes `prints` packed, as one string.
pub fn serialize<S: Serializer>(prints: &FieldPrints, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&encode_prints(prints))
}

/// Reads prints written by [`serialize`], or by [`FieldPrints`]' own serde (an object).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<FieldPrints, D::Error> {
    deserializer.deserialize_any(PrintsVisitor)
}

struct PrintsVisitor;

impl<'de> Visitor<'de> for PrintsVisitor {
    type Value = FieldPrints;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("packed field prints (a string) or an object of field fingerprints")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<FieldPrints, E> {
        decode_packed_only(text).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldPrints, A::Error> {
        FieldPrints::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

#[cfg(test)]
mod tests {
    use tandem_core::fields::FieldKey;

    use super::*;

    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    struct Entry {
        #[serde(with = "super")]
        fields: FieldPrints,
    }

    #[test]
    fn packed_text_that_is_not_packed_prints_is_an_error() {
        for bad in [r#"{"fields":"v2:%%%"}"#, r#"{"fields":"{}"}"#, r#"{"fields":7}"#, r#"{"fields":"v2:AQ"}"#] {
            assert!(serde_json::from_str::<Entry>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_form_reads_back_the_same_prints() {
        let fields: FieldPrints =
            [(FieldKey::GivenName, 1_u64), (FieldKey::Title, u64::MAX), (FieldKey::Notes, 0)].into_iter().collect();
        let packed = serde_json::to_string(&Entry { fields: fields.clone() }).unwrap();
        let object = format!(r#"{{"fields":{}}}"#, serde_json::to_string(&fields).unwrap());
        assert!(packed.len() < object.len(), "{packed} against {object}");
        for json in [packed, object] {
            assert_eq!(serde_json::from_str::<Entry>(&json).unwrap().fields, fields, "{json}");
        }
    }
}
