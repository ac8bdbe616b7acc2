//! Writing: one `apply` batch of at most 200 writes becomes at most one precondition query and one
//! sObject collection request per kind of write (upsert or create, update, delete), with
//! `allOrNone=false`, and one result per write, in order.
//!
//! - **Creates** carry the plan's idempotency key in the sync-key field. With an External ID
//!   field they are upserts on it (`PATCH /composite/sobjects/{SObject}/{field}`), so a create
//!   replayed after a crash updates the record it made instead of making another. Without one,
//!   the batch's keys are looked up first and only the missing ones created.
//! - **Updates and deletes** honour the version precondition: collections have no ETag, so the
//!   batch's current `SystemModstamp`s are read in one query first and stale writes fail with
//!   `PreconditionFailed` without being sent. A change landing between that read and the write
//!   is not caught (the window is one round trip).
//! - The version of a record after a write is not known without reading it again, which could
//!   pick up a user's edit made in between and mistake it for Tandem's own; writes report an
//!   empty version instead, and the next pull brings the real one.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tandem_connector::{ConnectorError, WriteOp, WriteResult, Written};
use tandem_core::model::ObjectKind;
use tandem_core::state::{IdempotencyKey, RecordId, Version};

use crate::SalesforceConnector;
use crate::api::{ApiError, ItemResult, SfError};
use crate::config::KeyMode;
use crate::mapping::MAX_BATCH;
use crate::soql::{Cond, Ident, Literal, Query, check_id};

fn sobject_name(object: ObjectKind) -> &'static str {
    match object {
        ObjectKind::Contact => "Contact",
        ObjectKind::Event => "Event",
    }
}

fn rejected(code: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::Rejected { code: code.to_owned(), message: message.into() }
}

/// Whether `key` can be an idempotency key (Tandem's keys are lower-case hex with a prefix).
fn check_key(key: &IdempotencyKey) -> Result<(), ConnectorError> {
    let k = key.as_str();
    if !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err(ConnectorError::Config { message: "an idempotency key with characters Tandem never uses".to_owned() })
    }
}

/// A per-record error of a collection answer, on the taxonomy.
fn item_error(errors: &[SfError], existing: bool) -> ConnectorError {
    let Some(first) = errors.first() else {
        return ConnectorError::Transient { message: "Salesforce reported a failure without an error".to_owned() };
    };
    let mut message = first.message.chars().take(300).collect::<String>();
    if !first.fields.is_empty() {
        message.push_str(&format!(" (fields: {})", first.fields.join(", ")));
    }
    match first.code.as_str() {
        "ENTITY_IS_DELETED" | "NOT_FOUND" => ConnectorError::NotFound,
        "INVALID_CROSS_REFERENCE_KEY" if existing && first.fields.iter().all(|f| f.eq_ignore_ascii_case("id")) => {
            ConnectorError::NotFound
        }
        "REQUEST_LIMIT_EXCEEDED" => ConnectorError::Throttled { retry_after: None },
        "UNABLE_TO_LOCK_ROW" | "ALL_OR_NONE_OPERATION_ROLLED_BACK" | "SERVER_UNAVAILABLE" => {
            ConnectorError::Transient { message: format!("{}: {message}", first.code) }
        }
        code => ConnectorError::Rejected { code: code.to_owned(), message },
    }
}

/// Maps a collection answer onto the writes it was for.
fn settle(
    results: &mut [Option<WriteResult>],
    indices: &[usize],
    answer: Result<Vec<ItemResult>, ApiError>,
    ids: &[Option<String>],
    existing: bool,
) {
    match answer {
        Ok(items) if items.len() == indices.len() => {
            for ((i, item), id) in indices.iter().zip(items).zip(ids) {
                results[*i] = Some(if item.success {
                    match item.id.or_else(|| id.clone()) {
                        Some(id) => Ok(Written { id: RecordId::new(id), version: Version::default() }),
                        None => Err(ConnectorError::Transient { message: "Salesforce returned no id".to_owned() }),
                    }
                } else {
                    Err(item_error(&item.errors, existing))
                });
            }
        }
        Ok(items) => {
            let error = ConnectorError::Transient {
                message: format!("{} results for {} records from an sObject collection", items.len(), indices.len()),
            };
            for i in indices {
                results[*i] = Some(Err(error.clone()));
            }
        }
        Err(e) => {
            let error = e.into_connector();
            for i in indices {
                results[*i] = Some(Err(error.clone()));
            }
        }
    }
}

struct Create {
    index: usize,
    key: String,
    fields: Map<String, Value>,
}

struct Existing {
    index: usize,
    id: String,
    expected: Version,
    fields: Option<Map<String, Value>>,
}

impl SalesforceConnector {
    pub(crate) async fn apply_batch(
        &self,
        object: ObjectKind,
        ops: &[WriteOp],
    ) -> Result<Vec<WriteResult>, ConnectorError> {
        if ops.len() > MAX_BATCH {
            return Err(rejected("BATCH_TOO_LARGE", format!("{} writes in one batch; at most {MAX_BATCH}", ops.len())));
        }
        let mut results: Vec<Option<WriteResult>> = vec![None; ops.len()];
        let needs_zone = object == ObjectKind::Event && ops.iter().any(|op| !matches!(op, WriteOp::Delete { .. }));
        let zone = if needs_zone {
            match self.zone().await {
                Ok(z) => z,
                Err(e) => return Ok(ops.iter().map(|_| Err(e.clone())).collect()),
            }
        } else {
            String::new()
        };
        let key_field = self.config.sync_key.field.clone();
        let mut creates = Vec::new();
        let mut existing = Vec::new();
        for (index, op) in ops.iter().enumerate() {
            match op {
                WriteOp::Create { key, record } => {
                    if record.kind() != object {
                        results[index] =
                            Some(Err(rejected("WRONG_KIND", format!("a {} in a {object} batch", record.kind()))));
                        continue;
                    }
                    if let Err(e) = check_key(key) {
                        results[index] = Some(Err(e));
                        continue;
                    }
                    match self.mapping.create_fields(record, &zone) {
                        Ok(mut fields) => {
                            fields.insert(key_field.clone(), Value::String(key.0.clone()));
                            if let Some(owner) = &self.config.user_id {
                                fields.insert("OwnerId".to_owned(), Value::String(owner.clone()));
                            }
                            creates.push(Create { index, key: key.0.clone(), fields });
                        }
                        Err(reason) => results[index] = Some(Err(rejected("CANNOT_MAP", reason))),
                    }
                }
                WriteOp::Update { id, expected, patch } => {
                    if check_id(id.as_str()).is_err() {
                        results[index] = Some(Err(ConnectorError::NotFound));
                        continue;
                    }
                    match self.mapping.patch_fields(object, patch, &zone) {
                        Ok(fields) => existing.push(Existing {
                            index,
                            id: id.0.clone(),
                            expected: expected.clone(),
                            fields: Some(fields),
                        }),
                        Err(reason) => results[index] = Some(Err(rejected("CANNOT_MAP", reason))),
                    }
                }
                WriteOp::Delete { id, expected } => {
                    if check_id(id.as_str()).is_err() {
                        results[index] = Some(Err(ConnectorError::NotFound));
                        continue;
                    }
                    existing.push(Existing { index, id: id.0.clone(), expected: expected.clone(), fields: None });
                }
            }
        }

        // Preconditions, in one query for the batch.
        let mut updates = Vec::new();
        let mut deletes = Vec::new();
        if !existing.is_empty() {
            let ids: Vec<String> = existing.iter().map(|e| e.id.clone()).collect();
            match self.current_versions(object, &ids).await {
                Ok(current) => {
                    for e in existing {
                        match current.get(&e.id) {
                            None => results[e.index] = Some(Err(ConnectorError::NotFound)),
                            Some(now) if !e.expected.as_str().is_empty() && now != e.expected.as_str() => {
                                results[e.index] = Some(Err(ConnectorError::PreconditionFailed {
                                    current: Some(Version::new(now.clone())),
                                }));
                            }
                            Some(now) => match &e.fields {
                                Some(fields) if fields.is_empty() => {
                                    results[e.index] = Some(Ok(Written {
                                        id: RecordId::new(e.id.clone()),
                                        version: Version::new(now.clone()),
                                    }));
                                }
                                Some(_) => updates.push(e),
                                None => deletes.push(e),
                            },
                        }
                    }
                }
                Err(error) => {
                    let error = error.into_connector();
                    for e in existing {
                        results[e.index] = Some(Err(error.clone()));
                    }
                }
            }
        }

        let sobject = sobject_name(object);
        if !creates.is_empty() {
            self.create(object, creates, &mut results).await;
        }
        if !updates.is_empty() {
            let records: Vec<Value> = updates
                .iter()
                .map(|u| {
                    let mut r = u.fields.clone().unwrap_or_default();
                    r.insert("attributes".to_owned(), json!({ "type": sobject }));
                    r.insert("id".to_owned(), Value::String(u.id.clone()));
                    Value::Object(r)
                })
                .collect();
            let body = json!({ "allOrNone": false, "records": records });
            let answer = self.api.collection("PATCH", "composite/sobjects", &[], Some(&body), false).await;
            let indices: Vec<usize> = updates.iter().map(|u| u.index).collect();
            let ids: Vec<Option<String>> = updates.iter().map(|u| Some(u.id.clone())).collect();
            settle(&mut results, &indices, answer, &ids, true);
        }
        if !deletes.is_empty() {
            let list = deletes.iter().map(|d| d.id.as_str()).collect::<Vec<_>>().join(",");
            let answer = self
                .api
                .collection("DELETE", "composite/sobjects", &[("ids", &list), ("allOrNone", "false")], None, false)
                .await;
            let indices: Vec<usize> = deletes.iter().map(|d| d.index).collect();
            let ids: Vec<Option<String>> = deletes.iter().map(|d| Some(d.id.clone())).collect();
            settle(&mut results, &indices, answer, &ids, true);
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(ConnectorError::Transient { message: "the write was not sent".to_owned() }))
            })
            .collect())
    }

    async fn create(&self, object: ObjectKind, creates: Vec<Create>, results: &mut [Option<WriteResult>]) {
        let sobject = sobject_name(object);
        let key_field = self.config.sync_key.field.clone();
        let mut to_send = creates;
        if self.key_mode() == KeyMode::LookupThenCreate {
            let keys: Vec<String> = to_send.iter().map(|c| c.key.clone()).collect();
            match self.keys_lookup(object, &keys).await {
                Ok(found) => {
                    to_send.retain(|c| match found.get(&c.key) {
                        Some(w) => {
                            results[c.index] = Some(Ok(w.clone()));
                            false
                        }
                        None => true,
                    });
                }
                Err(e) => {
                    let error = e.into_connector();
                    for c in &to_send {
                        results[c.index] = Some(Err(error.clone()));
                    }
                    return;
                }
            }
            if to_send.is_empty() {
                return;
            }
        }
        let records: Vec<Value> = to_send
            .iter()
            .map(|c| {
                let mut r = c.fields.clone();
                r.insert("attributes".to_owned(), json!({ "type": sobject }));
                Value::Object(r)
            })
            .collect();
        let body = json!({ "allOrNone": false, "records": records });
        let answer = match self.key_mode() {
            KeyMode::Upsert => {
                let path = format!("composite/sobjects/{sobject}/{key_field}");
                self.api.collection("PATCH", &path, &[], Some(&body), true).await
            }
            KeyMode::LookupThenCreate => {
                self.api.collection("POST", "composite/sobjects", &[], Some(&body), false).await
            }
        };
        let indices: Vec<usize> = to_send.iter().map(|c| c.index).collect();
        let ids = vec![None; indices.len()];
        settle(results, &indices, answer, &ids, false);
    }

    /// `SystemModstamp` of each id that exists.
    async fn current_versions(&self, object: ObjectKind, ids: &[String]) -> Result<HashMap<String, String>, ApiError> {
        let q =
            Query::select(vec![Ident::known("Id"), Ident::known("SystemModstamp")], Ident::known(sobject_name(object)))
                .and(Cond::one_of(Ident::known("Id"), ids.iter().map(|id| Literal::Text(id.clone())).collect()));
        let rows = self.api.query_all_pages(&q.to_soql(), false).await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let id = crate::mapping::text(r, "Id").ok().flatten()?;
                let stamp = crate::mapping::text(r, "SystemModstamp").ok().flatten().unwrap_or_default();
                Some((id, stamp))
            })
            .collect())
    }

    /// Records holding these keys, by key (the oldest when several do).
    async fn keys_lookup(&self, object: ObjectKind, keys: &[String]) -> Result<HashMap<String, Written>, ApiError> {
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
            out.entry(key).or_insert(Written { id: RecordId::new(id), version: Version::new(version) });
        }
        Ok(out)
    }

    pub(crate) async fn find_key(
        &self,
        object: ObjectKind,
        key: &IdempotencyKey,
    ) -> Result<Option<Written>, ConnectorError> {
        check_key(key)?;
        let found = self.keys_lookup(object, std::slice::from_ref(&key.0)).await.map_err(ApiError::into_connector)?;
        // Salesforce compares external ids case-insensitively; Tandem's keys are lower-case.
        Ok(found.into_iter().find(|(k, _)| k.eq_ignore_ascii_case(&key.0)).map(|(_, w)| w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str, fields: &[&str]) -> Vec<SfError> {
        vec![SfError {
            code: code.to_owned(),
            message: "m".to_owned(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }]
    }

    #[test]
    fn item_errors_map_onto_the_taxonomy() {
        assert_eq!(item_error(&err("ENTITY_IS_DELETED", &[]), true), ConnectorError::NotFound);
        assert_eq!(item_error(&err("INVALID_CROSS_REFERENCE_KEY", &["id"]), true), ConnectorError::NotFound);
        assert!(matches!(
            item_error(&err("INVALID_CROSS_REFERENCE_KEY", &["WhoId"]), true),
            ConnectorError::Rejected { .. }
        ));
        assert!(matches!(item_error(&err("REQUEST_LIMIT_EXCEEDED", &[]), false), ConnectorError::Throttled { .. }));
        assert!(matches!(item_error(&err("UNABLE_TO_LOCK_ROW", &[]), false), ConnectorError::Transient { .. }));
        match item_error(&err("STRING_TOO_LONG", &["LastName"]), false) {
            ConnectorError::Rejected { code, message } => {
                assert_eq!(code, "STRING_TOO_LONG");
                assert!(message.contains("LastName"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key(&IdempotencyKey("tdm0123abc".into())).is_ok());
        assert!(check_key(&IdempotencyKey("x' OR Id != '".into())).is_err());
        assert!(check_key(&IdempotencyKey(String::new())).is_err());
    }
}
