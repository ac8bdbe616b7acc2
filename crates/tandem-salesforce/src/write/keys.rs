//! Idempotency keys: checked before use, and the records holding them looked up.

use std::collections::HashMap;

use tandem_connector::{ConnectorError, Written};
use tandem_core::model::ObjectKind;
use tandem_core::state::{IdempotencyKey, RecordId, Version};

use super::sobject_name;
use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::soql::{Cond, Ident, Literal, Query};

/// Whether `key` can be an idempotency key (Tandem's keys are lower-case hex with a prefix).
pub(super) fn check_key(key: &IdempotencyKey) -> Result<(), ConnectorError> {
    let k = key.as_str();
    if !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err(ConnectorError::Config { message: "an idempotency key with characters Tandem never uses".to_owned() })
    }
}

impl SalesforceConnector {
    /// Records holding these keys, by key (the oldest when several do).
    pub(super) async fn keys_lookup(
        &self,
        object: ObjectKind,
        keys: &[String],
    ) -> Result<HashMap<String, Written>, ApiError> {
        let field = Ident::new(&self.config.sync_key.field)
            .map_err(|e| ApiError::Connector(ConnectorError::Config { message: e.to_string() }))?;
        let mut values = Vec::with_capacity(keys.len());
        for k in keys {
            values.push(
                Literal::text(k).map_err(|e| ApiError::Connector(ConnectorError::Config { message: e.to_string() }))?,
            );
        }
        let q = Query::select(
            vec![Ident::known("Id"), Ident::known("SystemModstamp"), field.clone()],
            Ident::known(sobject_name(object)),
        )
        .and(Cond::one_of(field.clone(), values))
        .order_by(Ident::known("CreatedDate"))
        .order_by(Ident::known("Id"));
        let rows = self.api.query_all_pages(&q.to_soql(), false).await?;
        let mut out = HashMap::new();
        for r in &rows {
            let (Some(id), Some(key)) =
                (crate::mapping::text(r, "Id").ok().flatten(), crate::mapping::text(r, field.as_str()).ok().flatten())
            else {
                continue;
            };
            let version = crate::mapping::text(r, "SystemModstamp").ok().flatten().unwrap_or_default();
            out.entry(key).or_insert(Written::new(RecordId::new(id), Version::new(version)));
        }
        Ok(out)
    }

    pub(crate) async fn find_key(
        &self,
        object: ObjectKind,
        key: &IdempotencyKey,
    ) -> Result<Option<Written>, ConnectorError> {
        check_key(key)?;
        let found = self.keys_lookup(object, &[key.0.to_string()]).await.map_err(ApiError::into_connector)?;
        // Salesforce compares external ids case-insensitively; Tandem's keys are lower-case.
        Ok(found.into_iter().find(|(k, _)| k.eq_ignore_ascii_case(&key.0)).map(|(_, w)| w))
    }
}
