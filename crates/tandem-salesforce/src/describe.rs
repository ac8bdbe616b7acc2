//! What the org says about its objects (`GET …/sobjects/{type}/describe`), learned once per
//! connector: the real lengths of the fields the mapping writes, and whether the sync-key field
//! exists and is an External ID. Orgs differ (a length raised by an administrator, a key field
//! created as plain text), so the connector asks instead of assuming.

use std::collections::HashMap;

use serde_json::Value;
use tandem_core::capabilities::Capabilities;
use tandem_core::fields::FieldKey;
use tandem_core::model::ObjectKind;

use crate::config::KeyMode;
use crate::mapping::{CONTACT_TEXT, Mapping, PHONE_FIELDS};

/// One field of a describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DescribedField {
    /// The length of a text field (0 for types without one).
    pub(crate) length: usize,
    /// Whether it is an External ID.
    pub(crate) external_id: bool,
}

/// The fields of one object, by API name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Described {
    fields: HashMap<String, DescribedField>,
}

impl Described {
    /// Reads a describe answer; fields that cannot be read are left out.
    pub(crate) fn parse(body: &Value) -> Described {
        let mut fields = HashMap::new();
        for f in body.get("fields").and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = f.get("name").and_then(Value::as_str) else { continue };
            let length = f.get("length").and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
            let external_id = f.get("externalId").and_then(Value::as_bool).unwrap_or(false);
            fields.insert(name.to_owned(), DescribedField { length, external_id });
        }
        Described { fields }
    }

    /// A field, by API name.
    pub(crate) fn field(&self, name: &str) -> Option<DescribedField> {
        self.fields.get(name).copied()
    }
}

/// What the connector learned from the org.
#[derive(Debug, Clone)]
pub(crate) struct Learned {
    /// The mapping's capabilities with the org's real lengths.
    pub(crate) capabilities: Capabilities,
    /// How creates are made idempotent in this org.
    pub(crate) key_mode: KeyMode,
}

/// The mapping's capabilities with the lengths the org declares, and the key mode the key field
/// allows. `Err` with a message when the key field is missing on either object.
pub(crate) fn learn(
    mapping: &Mapping,
    configured: KeyMode,
    contact: &Described,
    event: &Described,
) -> Result<Learned, String> {
    let mut capabilities = mapping.capabilities().clone();
    let fit =
        |caps: &mut tandem_core::capabilities::ObjectCapabilities, key: FieldKey, field: Option<DescribedField>| {
            let Some(limit) = caps.limit(&key) else { return };
            if let Some(f) = field.filter(|f| f.length > 0) {
                caps.fields.insert(key, tandem_core::capabilities::FieldLimit { max_len: Some(f.length), ..limit });
            }
        };
    for (name, key) in CONTACT_TEXT {
        fit(&mut capabilities.contacts, key, contact.field(name));
    }
    fit(&mut capabilities.contacts, FieldKey::Emails, contact.field("Email"));
    for (name, kind) in PHONE_FIELDS {
        fit(&mut capabilities.contacts, FieldKey::Phone(kind), contact.field(name));
    }
    for (name, key) in
        [("Subject", FieldKey::Subject), ("Location", FieldKey::Location), ("Description", FieldKey::Description)]
    {
        fit(&mut capabilities.events, key, event.field(name));
    }
    for (object, described) in [(ObjectKind::Contact, contact), (ObjectKind::Event, event)] {
        let caps = match object {
            ObjectKind::Contact => &mut capabilities.contacts,
            ObjectKind::Event => &mut capabilities.events,
        };
        for custom in mapping.custom(object).iter().filter(|c| c.max_len.is_none()) {
            fit(caps, FieldKey::Custom(custom.name.clone()), described.field(&custom.name));
        }
    }
    let key = &mapping.key_field;
    let (Some(on_contact), Some(on_event)) = (contact.field(key), event.field(key)) else {
        return Err(format!(
            "the sync-key field `{key}` does not exist on both Contact and Event (Activity); create it as a Text(40) \
             External ID field (see docs/connectors/salesforce.md) or configure `sync_key.field`"
        ));
    };
    let key_mode = if configured == KeyMode::Upsert && !(on_contact.external_id && on_event.external_id) {
        tracing::warn!(field = %key, "the sync-key field is not an External ID: creates look keys up first");
        KeyMode::LookupThenCreate
    } else {
        configured
    };
    Ok(Learned { capabilities, key_mode })
}
