//! Single-value extended properties: reading them from bodies, checking their ids, and
//! rendering them for `$expand`.

use serde_json::{Map, Value, json};

use super::ApiError;

/// An item's single-value extended properties by id, in id order: a sorted list rather than a
/// `BTreeMap`, whose first entry allocates a whole B-tree node (over 500 bytes) for what is
/// usually one property (the scale benchmark's fakes hold 5,000,000 items).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ExtProps(Vec<(String, String)>);

impl ExtProps {
    /// Sets `id` to `value`, replacing its current value.
    pub(crate) fn insert(&mut self, id: String, value: String) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&id)) {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (id, value)),
        }
    }

    /// The properties, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Extend<(String, String)> for ExtProps {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, iter: I) {
        for (id, value) in iter {
            self.insert(id, value);
        }
        self.0.shrink_to_fit();
    }
}

impl FromIterator<(String, String)> for ExtProps {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut out = ExtProps::default();
        out.extend(iter);
        out
    }
}

/// Reads the single-value extended properties of a create or update body.
pub(super) fn extended_properties(body: &Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(list) = body.get("singleValueExtendedProperties") else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or_else(|| ApiError::bad_request("singleValueExtendedProperties must be a list"))?;
    let mut out = Vec::new();
    for p in list {
        let id = p.get("id").and_then(Value::as_str).unwrap_or_default();
        let value = p.get("value").and_then(Value::as_str).unwrap_or_default();
        if !valid_property_id(id) {
            return Err(ApiError::new(
                400,
                "ErrorInvalidProperty",
                "PropertyId values may only be in one of the following formats: 'MapiPropertyType namespaceGuid Name \
                 propertyName', 'MapiPropertyType namespaceGuid Id propertyId' or 'MapiPropertyType propertyTag'.",
            ));
        }
        out.push((id.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// `String {guid} Name X` and friends.
pub(crate) fn valid_property_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split_whitespace().collect();
    match parts.as_slice() {
        [_ty, guid, kind, _name] => {
            guid.starts_with('{') && guid.ends_with('}') && guid.len() == 38 && matches!(*kind, "Name" | "Id")
        }
        [_ty, tag] => tag.starts_with("0x"),
        _ => false,
    }
}

/// `singleValueExtendedProperties` filtered by `$expand=singleValueExtendedProperties($filter=id eq '…')`.
pub(super) fn render_ext(ext: &ExtProps, filter: &str) -> Value {
    let wanted = super::api::quoted_after(filter, "id eq");
    Value::Array(
        ext.iter()
            .filter(|(id, _)| wanted.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(id)))
            .map(|(id, value)| json!({"id": id, "value": value}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_stay_sorted_by_id_and_a_later_value_replaces_an_earlier_one() {
        let mut ext: ExtProps =
            [("b".to_owned(), "1".to_owned()), ("a".to_owned(), "2".to_owned())].into_iter().collect();
        ext.extend([
            ("b".to_owned(), "3".to_owned()),
            ("c".to_owned(), "4".to_owned()),
            ("B".to_owned(), "5".to_owned()),
        ]);
        let pairs: Vec<(&str, &str)> = ext.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("B", "5"), ("a", "2"), ("b", "3"), ("c", "4")]);
    }
}
