//! The invitees of a page of events, read from EventRelation in chunks of ids.

use std::collections::HashMap;

use serde_json::{Map, Value};
use tandem_core::model::Attendee;

use super::{IN_CHUNK, ident};
use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::mapping;
use crate::soql::{Cond, Literal, Query};

impl SalesforceConnector {
    /// The invitees of a page of events, by event id: as attendees, and their relation ids (the
    /// users among them are who an organization feed routes the event to).
    pub(crate) async fn attendees(
        &self,
        rows: &[Map<String, Value>],
    ) -> Result<(HashMap<String, Vec<Attendee>>, HashMap<String, Vec<String>>), ApiError> {
        let ids: Vec<String> = rows
            .iter()
            .filter_map(|r| mapping::text(r, "Id").ok().flatten())
            .filter(|id| crate::soql::check_id(id).is_ok())
            .collect();
        let mut out: HashMap<String, Vec<Attendee>> = HashMap::new();
        let mut relations: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let q = Query::select(
                vec![
                    ident("EventId"),
                    ident("RelationId"),
                    ident("Relation.Name"),
                    ident("Relation.Email"),
                    ident("Status"),
                ],
                ident("EventRelation"),
            )
            .and(Cond::eq(ident("IsInvitee"), Literal::Bool(true)))
            .and(Cond::one_of(ident("EventId"), chunk.iter().map(|id| Literal::Text(id.clone())).collect()));
            for row in self.api.query_all_pages(&q.to_soql(), false).await? {
                let Some(event) = mapping::text(&row, "EventId").ok().flatten() else { continue };
                if let Some(relation) = mapping::text(&row, "RelationId").ok().flatten() {
                    relations.entry(event.clone()).or_default().push(relation);
                }
                if let Some(a) = mapping::attendee(&row) {
                    out.entry(event).or_default().push(a);
                }
            }
        }
        Ok((out, relations))
    }
}
