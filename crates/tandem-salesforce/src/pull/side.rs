//! The phases outside the keyset feed: followed contacts and contacts of renamed Accounts
//! (`Followed`, `Accounts`), the user's invitations added or removed (`Relations`), and their
//! rows reported as changes.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, Utc};
use serde_json::{Map, Value};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Version};

use super::{IN_CHUNK, ident};
use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::cursor::{Phase, State};
use crate::mapping;
use crate::soql::{Cond, Literal, Op, Query};

impl SalesforceConnector {
    /// Whether the `Followed` or `Accounts` phase has nothing to do for this connector.
    pub(super) fn side_phase_idle(&self, state: &State) -> bool {
        match state.phase {
            _ if state.object != ObjectKind::Contact => true,
            Phase::Followed => !self.config.include_followed || state.org,
            // A rename is a change only to a contact already read once; it is looked for every
            // `account_rename_check`, so a quiet round costs no more than before.
            Phase::Accounts => {
                let every = Duration::from_std(self.config.related.account_rename_check).unwrap_or(Duration::MAX);
                let now = self.api.server_time().unwrap_or_else(Utc::now);
                !self.config.related.match_accounts
                    || state.since.is_none()
                    || state.accounts_since.is_some_and(|t| now.signed_duration_since(t) < every)
            }
            _ => false,
        }
    }

    /// Reports rows read outside the feed's order, each record once; `fresh_version` drops the
    /// version so a change the record's own stamp does not show (a renamed Account) is not taken
    /// for Tandem's own write. A record the feed phases reported too comes back with the same
    /// version, which the planner takes as an echo.
    pub(crate) fn side_changes(&self, state: &State, rows: &[Map<String, Value>], fresh_version: bool) -> Vec<Change> {
        let mut out: Vec<Change> = Vec::new();
        for row in rows {
            let Some(mut change) = self.row_change(state.object, row, false, "", &HashMap::new()) else { continue };
            if out.iter().any(|c| c.id == change.id) {
                continue;
            }
            if fresh_version {
                change.version = Version::default();
            }
            out.push(change);
        }
        out
    }

    /// Contacts the user follows in Chatter: those changed since `since` (all of them on a full
    /// read), and those followed since then. Followed contacts sync whatever the field filter
    /// says (Lightning Sync's rule); unfollowing one does not remove it, as leaving the scope
    /// never does.
    pub(super) async fn followed(&self, state: &mut State) -> Result<Vec<Change>, ApiError> {
        let user = Literal::Text(self.user_id().await?);
        let follows = || {
            Query::select(vec![ident("ParentId")], ident("EntitySubscription"))
                .and(Cond::eq(ident("SubscriberId"), user.clone()))
        };
        let mut q = Query::select(self.mapping.select(ObjectKind::Contact), ident("Contact"))
            .and(Cond::InSelect(ident("Id"), Box::new(follows())));
        if let Some(since) = state.since {
            q = q.and(Cond::Cmp(ident("SystemModstamp"), Op::Ge, Literal::DateTime(since)));
        }
        let mut rows = self.api.query_all_pages(&q.to_soql(), false).await?;
        self.check_round(state)?;
        if let Some(since) = state.since {
            // Salesforce asks for a LIMIT on EntitySubscription queries of users without View
            // All Data; a thousand new follows in one round is far beyond a person's.
            let new = follows().and(Cond::Cmp(ident("CreatedDate"), Op::Ge, Literal::DateTime(since))).limit(1000);
            let ids: Vec<String> = self
                .api
                .query_all_pages(&new.to_soql(), false)
                .await?
                .iter()
                .filter_map(|r| mapping::text(r, "ParentId").ok().flatten())
                .filter(|id| id.starts_with("003") && crate::soql::check_id(id).is_ok())
                .collect();
            for chunk in ids.chunks(IN_CHUNK) {
                let q = Query::select(self.mapping.select(ObjectKind::Contact), ident("Contact"))
                    .and(Cond::one_of(ident("Id"), chunk.iter().map(|id| Literal::Text(id.clone())).collect()));
                rows.extend(self.api.query_all_pages(&q.to_soql(), false).await?);
            }
        }
        Ok(self.side_changes(state, &rows, false))
    }

    /// The user's contacts whose Account changed since `since`: their company (the Account's
    /// name) may have changed while the contact itself did not.
    pub(crate) async fn renamed_accounts(&self, state: &mut State) -> Result<Vec<Change>, ApiError> {
        let Some(since) = state.accounts_since.or(state.since) else { return Ok(Vec::new()) };
        let user = Literal::Text(self.user_id().await?);
        let accounts = Query::select(vec![ident("Id")], ident("Account")).and(Cond::Cmp(
            ident("SystemModstamp"),
            Op::Ge,
            Literal::DateTime(since),
        ));
        let q = Query::select(self.mapping.select(ObjectKind::Contact), ident("Contact"))
            .and(Cond::InSelect(ident("AccountId"), Box::new(accounts)));
        let q = self.scope_conds(q, &user)?;
        let rows = self.api.query_all_pages(&q.to_soql(), false).await?;
        self.check_round(state)?;
        let overlap = Duration::from_std(self.config.overlap).unwrap_or_else(|_| Duration::minutes(2));
        state.accounts_since = Some(self.api.server_time().unwrap_or_else(Utc::now) - overlap);
        Ok(self.side_changes(state, &rows, true))
    }

    /// Invitations of the user added or removed since `since`: removed ones are reported as
    /// deletes, added ones as the events they invite to.
    pub(super) async fn relations(&self, state: &mut State) -> Result<Vec<Change>, ApiError> {
        let Some(since) = state.since else { return Ok(Vec::new()) };
        let user = Literal::Text(self.user_id().await?);
        let q =
            Query::select(vec![ident("EventId"), ident("IsDeleted"), ident("SystemModstamp")], ident("EventRelation"))
                .and(Cond::eq(ident("RelationId"), user))
                .and(Cond::eq(ident("IsInvitee"), Literal::Bool(true)))
                .and(Cond::Cmp(ident("SystemModstamp"), Op::Ge, Literal::DateTime(since)));
        let rows = self.api.query_all_pages(&q.to_soql(), true).await?;
        self.check_round(state)?;
        let mut added: Vec<String> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        for row in &rows {
            let Some(event) = mapping::text(row, "EventId").ok().flatten() else { continue };
            if crate::soql::check_id(&event).is_err() {
                continue;
            }
            let list =
                if row.get("IsDeleted").and_then(Value::as_bool) == Some(true) { &mut removed } else { &mut added };
            if !list.contains(&event) {
                list.push(event);
            }
        }
        let still: HashSet<&String> = added.iter().collect();
        let mut changes: Vec<Change> =
            removed.iter().filter(|id| !still.contains(id)).map(|id| Change::deleted(id.clone())).collect();
        if !added.is_empty() {
            let zone = self.zone().await.map_err(|e| self.budgeted(e))?;
            for chunk in added.chunks(IN_CHUNK) {
                let q = Query::select(self.mapping.select(ObjectKind::Event), ident("Event"))
                    .and(Cond::eq(ident("IsChild"), Literal::Bool(false)))
                    .and(Cond::one_of(ident("Id"), chunk.iter().map(|id| Literal::Text(id.clone())).collect()));
                let rows = self.api.query_all_pages(&q.to_soql(), false).await?;
                let (attendees, _) = self.attendees(&rows).await?;
                // Reported even when reported before (an invitation that comes back must
                // arrive); a repeat of an unchanged event is an echo to the planner.
                let mut invited = Vec::new();
                for row in rows.iter().filter(|r| mapping::series_of(r).is_none()) {
                    invited.extend(self.row_change(ObjectKind::Event, row, false, &zone, &attendees));
                }
                self.fold_series(&mut invited, Vec::new(), &zone).await?;
                changes.append(&mut invited);
            }
        }
        Ok(changes)
    }
}
