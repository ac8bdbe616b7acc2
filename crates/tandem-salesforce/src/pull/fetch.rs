//! Records read by id (`fetch`): one change per id, a delete for those not found.

use std::collections::HashMap;

use tandem_connector::ConnectorError;
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, RecordId};

use super::{IN_CHUNK, ident, sobject};
use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::soql::{Cond, Literal, Query};

impl SalesforceConnector {
    pub(crate) async fn fetch_ids(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        let zone = if object == ObjectKind::Event { self.zone().await? } else { String::new() };
        let mut changes = self.read_ids(object, ids, &zone).await.map_err(ApiError::into_connector)?;
        if object == ObjectKind::Event {
            self.fold_series(&mut changes, Vec::new(), &zone).await.map_err(ApiError::into_connector)?;
        }
        Ok(changes)
    }

    /// Reads records by id, one change per id (a delete for those not found), series without
    /// their moved occurrences.
    pub(super) async fn read_ids(
        &self,
        object: ObjectKind,
        ids: &[RecordId],
        zone: &str,
    ) -> Result<Vec<Change>, ApiError> {
        let valid: Vec<&RecordId> = ids.iter().filter(|id| crate::soql::check_id(id.as_str()).is_ok()).collect();
        let mut found: HashMap<String, Change> = HashMap::new();
        for chunk in valid.chunks(IN_CHUNK) {
            let q = Query::select(self.mapping.select(object), sobject(object))
                .and(Cond::one_of(ident("Id"), chunk.iter().map(|id| Literal::Text(id.0.to_string())).collect()));
            let rows = self.api.query_all_pages(&q.to_soql(), false).await?;
            let attendees = if object == ObjectKind::Event { self.attendees(&rows).await?.0 } else { HashMap::new() };
            for row in &rows {
                // Rows read by id come in no particular order; each is reported as it is.
                if let Some(change) = self.row_change(object, row, false, zone, &attendees) {
                    found.insert(change.id.0.to_string(), change);
                }
            }
        }
        Ok(ids.iter().map(|id| found.remove(id.as_str()).unwrap_or_else(|| Change::deleted(id.0.clone()))).collect())
    }
}
