//! Settling a contact create whose answer was lost: Google chose the person's resource name, so
//! the only trace of Tandem's idempotency key is the `clientData` entry written with it. The
//! user's connections are scanned (`personFields=clientData,metadata`, 1,000 a page) for it.
//!
//! Why a scan and not a search: `people.searchContacts` matches names, emails, phones and
//! organizations only, never `clientData`. The scan is the recovery path (rare: a create whose
//! answer never arrived), so one scan per lost create is acceptable; it stops at the first hit.

use serde_json::Value;
use tandem_connector::http::RequestSpec;
use tandem_connector::{ConnectorError, Written};
use tandem_core::state::{IdempotencyKey, RecordId, Version};

use crate::connector::GoogleConnector;
use crate::http::Context;
use crate::map::contact;

/// The fields read by the scan: the key, and the etag and deletion mark.
const SCAN_FIELDS: &str = "clientData,metadata";

impl GoogleConnector {
    /// The person holding `key` in its `clientData`, with its etag; `None` when no person
    /// (deleted ones excluded) holds it.
    pub(crate) async fn find_contact_by_key(&self, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        let url = self.config.people_url("people/me/connections")?;
        let mut page: Option<String> = None;
        loop {
            let mut query: Vec<(&str, &str)> = vec![("personFields", SCAN_FIELDS), ("pageSize", "1000")];
            if let Some(p) = &page {
                query.push(("pageToken", p));
            }
            let req = RequestSpec::get(url.clone()).query(&query).template("GET /people/me/connections");
            let (_, body) = self.http.call(req, Context::Item).await?;
            if let Some(hit) = holder_of(&body, key.as_str()) {
                return Ok(Some(hit));
            }
            match body.get("nextPageToken").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => page = Some(next.to_owned()),
                _ => return Ok(None),
            }
        }
    }
}

/// The person on this page of connections whose `clientData` holds `key`.
fn holder_of(page: &Value, key: &str) -> Option<Written> {
    page.get("connections").and_then(Value::as_array)?.iter().find_map(|p| {
        if contact::is_deleted(p) || contact::sync_key(p).as_deref() != Some(key) {
            return None;
        }
        let id = p.get("resourceName").and_then(Value::as_str)?;
        let etag = p.get("etag").and_then(Value::as_str).unwrap_or_default();
        Some(Written::new(RecordId::new(id), Version::new(etag)))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_holder_is_found_by_client_data_and_deleted_people_are_not() {
        let page = json!({"connections": [
            {"resourceName": "people/c1", "etag": "e1", "clientData": [{"key": "tandemKey", "value": "k-1"}]},
            {"resourceName": "people/c2", "etag": "e2", "clientData": [{"key": "tandemKey", "value": "k-2"}],
             "metadata": {"deleted": true}},
            {"resourceName": "people/c3", "etag": "e3", "clientData": [{"key": "other", "value": "k-3"}]},
        ]});
        let hit = holder_of(&page, "k-1").unwrap();
        assert_eq!(hit.id.as_str(), "people/c1");
        assert_eq!(hit.version.as_str(), "e1");
        assert!(holder_of(&page, "k-2").is_none());
        assert!(holder_of(&page, "k-3").is_none());
        assert!(holder_of(&json!({}), "k-1").is_none());
    }
}
