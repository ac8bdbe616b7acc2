//! Creates: upserts on the External ID field, or a lookup of the batch's keys and then creates of
//! the missing ones.

use serde_json::{Value, json};
use tandem_connector::WriteResult;
use tandem_core::model::ObjectKind;

use super::plan::Create;
use super::settle::settle;
use super::sobject_name;
use crate::SalesforceConnector;
use crate::config::KeyMode;

impl SalesforceConnector {
    pub(super) async fn create(&self, object: ObjectKind, creates: Vec<Create>, results: &mut [Option<WriteResult>]) {
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
}
