//! Single-value extended properties: reading them from bodies, checking their ids, and
//! rendering them for `$expand`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::ApiError;

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
pub(super) fn render_ext(ext: &BTreeMap<String, String>, filter: &str) -> Value {
    let wanted = super::api::quoted_after(filter, "id eq");
    Value::Array(
        ext.iter()
            .filter(|(id, _)| wanted.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(id)))
            .map(|(id, value)| json!({"id": id, "value": value}))
            .collect(),
    )
}
