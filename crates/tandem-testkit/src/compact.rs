//! A JSON object kept as its compact text: how the fakes store records at rest.
//!
//! Why: the scale benchmark's fakes hold 5,000,000 Salesforce records and as many Graph items.
//! An object of twenty properties as a `serde_json::Map` costs about 3.5 KB of heap (a B-tree of
//! `String` keys and `Value`s, one allocation per key and string value); as text it is one
//! allocation of about 600 bytes. Readers decode it (a few microseconds an object), so the fakes
//! decode only what a request needs: the Salesforce fake's indexes keep queries from decoding
//! records they do not match, and the Graph fake's delta rounds skip items that did not change.
//!
//! The text round-trips exactly: `serde_json` writes numbers in the shortest form that reads back
//! to the same value, and a `Map` keeps its keys sorted either way.

use serde_json::{Map, Value};

/// A JSON object as compact text.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CompactJson(Box<str>);

impl CompactJson {
    /// The text of `object`.
    pub(crate) fn new(object: &Map<String, Value>) -> CompactJson {
        // A map with string keys always serializes; the fallback is never taken.
        CompactJson(serde_json::to_string(object).unwrap_or_else(|_| String::from("{}")).into_boxed_str())
    }

    /// The object again. Only `new`'s output is stored, so this does not fail; an object that
    /// would not decode reads as empty rather than panicking.
    pub(crate) fn decode(&self) -> Map<String, Value> {
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

impl Default for CompactJson {
    fn default() -> Self {
        CompactJson(Box::from("{}"))
    }
}

impl std::fmt::Debug for CompactJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_object_reads_back_as_it_was_stored() {
        let Value::Object(object) = json!({
            "Id": "003000000000001AAA", "Amount": 12.5, "Big": 9_007_199_254_740_993_u64, "Small": -3,
            "Tiny": 1e-7, "Third": 1.0 / 3.0, "Name": "Zoë \"Q\" \u{1F600}\n\u{0}", "Null": null, "Flag": false,
            "Nested": {"b": [1, 2.25, "x", {"deep": [[]]}], "a": null}, "Empty": {}
        }) else {
            unreachable!()
        };
        assert_eq!(CompactJson::new(&object).decode(), object);
        assert_eq!(CompactJson::default().decode(), Map::new());
        assert_eq!(CompactJson::new(&Map::new()), CompactJson::default());
    }
}
