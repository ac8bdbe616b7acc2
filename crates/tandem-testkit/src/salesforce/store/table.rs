//! One object's records by id, each kept as compact JSON text (`crate::compact`) and decoded
//! when read: the scale benchmark's org holds 5,000,000 records, 3.5 KB each as maps and about
//! 600 bytes as text. The org's indexes (owner, `SystemModstamp`, external ids) keep queries from
//! decoding records they do not need.

use std::collections::BTreeMap;

use super::Fields;
use crate::compact::CompactJson;

/// The records of one object by id, in id order.
#[derive(Clone, Default)]
pub(crate) struct Table {
    rows: BTreeMap<String, CompactJson>,
}

impl Table {
    /// The record with this id, deleted or not.
    pub(crate) fn get(&self, id: &str) -> Option<Fields> {
        self.rows.get(id).map(CompactJson::decode)
    }

    /// The id as stored and the record.
    pub(crate) fn get_key_value(&self, id: &str) -> Option<(&String, Fields)> {
        self.rows.get_key_value(id).map(|(k, text)| (k, text.decode()))
    }

    /// Stores `fields` under `id`, replacing what was there.
    pub(crate) fn insert(&mut self, id: String, fields: &Fields) {
        self.rows.insert(id, CompactJson::new(fields));
    }

    /// Every id, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.rows.keys()
    }

    /// Every record with its id, in id order, decoded one at a time.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, Fields)> {
        self.rows.iter().map(|(k, text)| (k, text.decode()))
    }

    /// Every record, in id order, decoded one at a time.
    pub(crate) fn values(&self) -> impl Iterator<Item = Fields> {
        self.rows.values().map(CompactJson::decode)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn records_read_back_in_id_order() {
        let record = |id: &str| match json!({"Id": id, "Amount": 2.5, "Name": "Zoë"}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let mut table = Table::default();
        table.insert("003B".into(), &record("003B"));
        table.insert("003A".into(), &record("003A"));
        table.insert("003B".into(), &record("003B"));
        assert_eq!(table.get("003A"), Some(record("003A")));
        assert_eq!(table.get_key_value("003B").map(|(k, r)| (k.clone(), r)), Some(("003B".into(), record("003B"))));
        assert_eq!(table.get("003C"), None);
        assert_eq!(table.keys().collect::<Vec<_>>(), ["003A", "003B"]);
        assert_eq!(table.values().collect::<Vec<_>>(), [record("003A"), record("003B")]);
        assert_eq!(table.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["003A", "003B"]);
    }
}
