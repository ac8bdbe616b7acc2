//! Recurring series completed with their moved occurrences, each exception row folded into its
//! series as an override.

use std::collections::HashMap;

use tandem_core::model::{Event, ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, RecordId};

use super::{IN_CHUNK, ident};
use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::mapping;
use crate::soql::{Cond, Literal, Query};

impl SalesforceConnector {
    /// Completes the series among `changes` with their moved occurrences: each exception row
    /// becomes an override of its series. Series in `also` (those of exception rows that
    /// changed) are read and added when they are not among `changes` already. Costs nothing when
    /// no series is involved.
    pub(crate) async fn fold_series(
        &self,
        changes: &mut Vec<Change>,
        also: Vec<String>,
        zone: &str,
    ) -> Result<(), ApiError> {
        let is_series =
            |c: &Change| matches!(&c.kind, ChangeKind::Upserted { record: Record::Event(e) } if e.recurrence.is_some());
        let missing: Vec<RecordId> =
            also.into_iter().filter(|id| !changes.iter().any(|c| c.id.as_str() == id)).map(RecordId::new).collect();
        if !missing.is_empty() {
            let read = self.read_ids(ObjectKind::Event, &missing, zone).await?;
            // A series that is gone is reported by the delete phase; its exceptions are not events.
            changes.extend(read.into_iter().filter(is_series));
        }
        let ids: Vec<String> = changes.iter().filter(|c| is_series(c)).map(|c| c.id.0.to_string()).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let mut exceptions: HashMap<String, Vec<Event>> = HashMap::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let q = Query::select(self.mapping.select(ObjectKind::Event), ident("Event"))
                .and(Cond::eq(ident("IsRecurrence2Exception"), Literal::Bool(true)))
                .and(Cond::one_of(
                    ident("RecurrenceActivityId"),
                    chunk.iter().map(|id| Literal::Text(id.clone())).collect(),
                ));
            for row in self.api.query_all_pages(&q.to_soql(), false).await? {
                let Some(master) = mapping::series_of(&row) else { continue };
                // An exception that cannot be read is left out of its series.
                if let Ok(Record::Event(e)) = self.mapping.event(&row, zone, Vec::new()) {
                    exceptions.entry(master).or_default().push(e);
                }
            }
        }
        for change in changes.iter_mut() {
            let Some(found) = exceptions.get(change.id.as_str()) else { continue };
            if let ChangeKind::Upserted { record: Record::Event(e) } = &mut change.kind
                && let Err(reason) = mapping::fold_overrides(e, found)
            {
                change.kind = ChangeKind::Invalid { reason };
            }
        }
        Ok(())
    }
}
