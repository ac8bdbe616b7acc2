//! The version precondition's read: the current `SystemModstamp` of the records a batch updates
//! or deletes, in one query.

use std::collections::HashMap;

use tandem_core::model::ObjectKind;

use super::sobject_name;
use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::soql::{Cond, Ident, Literal, Query};

impl SalesforceConnector {
    /// `SystemModstamp` of each id that exists.
    pub(super) async fn current_versions(
        &self,
        object: ObjectKind,
        ids: &[String],
    ) -> Result<HashMap<String, String>, ApiError> {
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
}
