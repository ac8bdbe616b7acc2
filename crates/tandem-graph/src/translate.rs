//! [`GraphConnector::translate_exchange_ids`]: EWS item ids → Graph ids, for a mailbox moving
//! from Exchange Web Services to Graph without a resync.

use serde_json::{Value, json};
use tandem_connector::ConnectorError;

use crate::connector::GraphConnector;

/// The most ids one `translateExchangeIds` call may carry (documented limit).
pub const MAX_TRANSLATE_IDS: usize = 1000;

impl GraphConnector {
    /// Translates EWS item ids (`ewsId`) of this connector's mailbox into the ids this connector
    /// reads and writes (`restImmutableEntryId`, the ids Graph answers with
    /// `Prefer: IdType="ImmutableId"`), with `POST /users/{mailbox}/translateExchangeIds`, one call
    /// per [`MAX_TRANSLATE_IDS`] ids. Reads only: nothing in the mailbox changes.
    ///
    /// Returns one `(ews id, Some(graph id))` per input id, in order; `None` when Graph could not
    /// translate that id (malformed, or of another mailbox: the answer's `errorDetails`).
    ///
    /// # Errors
    ///
    /// The call failed as a whole (authentication, throttling beyond the retries, a malformed
    /// request), or its answer does not have one entry per id.
    pub async fn translate_exchange_ids(
        &self,
        ews_ids: &[String],
    ) -> Result<Vec<(String, Option<String>)>, ConnectorError> {
        let url = self.http.url(&format!("{}/translateExchangeIds", self.http.mailbox_path()))?;
        let mut out = Vec::with_capacity(ews_ids.len());
        for chunk in ews_ids.chunks(MAX_TRANSLATE_IDS) {
            let body = json!({
                "inputIds": chunk,
                "sourceIdType": "ewsId",
                "targetIdType": "restImmutableEntryId",
            });
            let answer = self.http.post(url.clone(), &body, "/users/{id}/translateExchangeIds").await?;
            if let Some(e) = answer.error() {
                return Err(e);
            }
            let rows = answer.body.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut translated = std::collections::HashMap::with_capacity(rows.len());
            for row in &rows {
                let Some(source) = row.get("sourceId").and_then(Value::as_str) else { continue };
                let target = row.get("targetId").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_owned);
                translated.insert(source.to_owned(), target);
            }
            for id in chunk {
                let target = translated.get(id).ok_or_else(|| ConnectorError::Transient {
                    message: format!("translateExchangeIds answered no entry for one of {} ids", chunk.len()),
                })?;
                out.push((id.clone(), target.clone()));
            }
        }
        Ok(out)
    }
}
