//! Reading: one page of a round per `pull` call, `fetch` by id.
//!
//! Contacts: `Changed` (the user's or all visible contacts, with the configured filter),
//! `Followed` (contacts the user follows, when configured), `Accounts` (contacts whose Account was
//! renamed, when accounts are matched), then `Deleted`. Events: `Changed` (events the user owns, not invitee copies), `Invited` (events the
//! user is invited to, through EventRelation), `Relations` (invitations added or removed), then
//! `Deleted`. A full read (no cursor) skips the last two.
//!
//! The feed phases (`Changed`, `Invited`, `Deleted`) page by keyset over `(SystemModstamp, Id)`:
//! each `pull` asks for at most [`PAGE`] rows after the cursor's position, so the cursor stays the
//! same small size whatever the number of records (see `cursor`).

use std::collections::{HashMap, HashSet};

use chrono::{Duration, Utc};
use serde_json::{Map, Value};
use tandem_connector::{ConnectorError, PullPage};
use tandem_core::model::{Attendee, Event, ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, Cursor, IdempotencyKey, RecordId, Version};

use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::cursor::{Key, Phase, State};
use crate::mapping::{self, MAX_BATCH};
use crate::org::Routes;
use crate::soql::{Cond, Ident, Literal, Op, Query};

/// How far back Salesforce keeps deleted records for `queryAll` and `getDeleted`.
pub(crate) const DELETE_WINDOW_DAYS: i64 = 15;

/// Rows per page of a feed phase: Salesforce's largest query batch, so one page is one request.
pub(crate) const PAGE: u32 = 2000;

/// Ids per `IN (…)` list, keeping GET URLs well under Salesforce's 16 KB limit.
pub(crate) const IN_CHUNK: usize = MAX_BATCH;

pub(crate) fn ident(name: &'static str) -> Ident {
    Ident::known(name)
}

fn followed_by(object: ObjectKind, phase: Phase) -> Phase {
    match (object, phase) {
        (ObjectKind::Contact, Phase::Changed) => Phase::Followed,
        (_, Phase::Followed) => Phase::Accounts,
        (_, Phase::Accounts) => Phase::Deleted,
        (ObjectKind::Event, Phase::Changed) => Phase::Invited,
        (_, Phase::Invited) => Phase::Relations,
        (_, Phase::Relations) => Phase::Deleted,
        (_, Phase::Deleted | Phase::Done) => Phase::Done,
    }
}

pub(crate) fn sobject(object: ObjectKind) -> Ident {
    match object {
        ObjectKind::Contact => ident("Contact"),
        ObjectKind::Event => ident("Event"),
    }
}

/// What a step did.
enum Step {
    /// It sent at least one request: end this `pull` call.
    Requested,
    /// Nothing to do in this phase: go on to the next.
    Skipped,
}

impl SalesforceConnector {
    pub(crate) async fn pull_page(
        &self,
        object: ObjectKind,
        cursor: Option<&Cursor>,
    ) -> Result<PullPage, ConnectorError> {
        self.pull_round(object, cursor, false, &mut Routes::default()).await
    }

    /// One page of a round: one user's (`org` false) or the organization feed's, whose rows'
    /// owners and invitees go into `routes`.
    pub(crate) async fn pull_round(
        &self,
        object: ObjectKind,
        cursor: Option<&Cursor>,
        org: bool,
        routes: &mut Routes,
    ) -> Result<PullPage, ConnectorError> {
        let mut state = match cursor {
            None if org => {
                // A feed starts now: members read their own data once, per user.
                let overlap = Duration::from_std(self.config.overlap).unwrap_or_else(|_| Duration::minutes(2));
                let mut state = State::fresh(object);
                state.org = true;
                state.since = Some(self.api.server_time().unwrap_or_else(Utc::now) - overlap);
                state
            }
            None => State::fresh(object),
            // Not ours, an older format, another object: read in full, which re-links.
            Some(c) => State::decode(c, object, org).ok_or(ConnectorError::CursorExpired)?,
        };
        if state.phase == Phase::Done {
            state.start_round();
        }
        let mut changes = Vec::new();
        loop {
            if state.phase == Phase::Done {
                return Ok(PullPage { changes, cursor: state.encode(), done: true });
            }
            let before = state.clone();
            match self.step(&mut state, &mut changes, routes).await {
                Ok(Step::Requested) => {
                    self.skip_idle(&mut state);
                    let done = state.phase == Phase::Done;
                    return Ok(PullPage { changes, cursor: state.encode(), done });
                }
                Ok(Step::Skipped) => {}
                Err(ApiError::Budget) => {
                    // Stop cleanly: what was read is returned, and the cursor resumes this round
                    // at the start of the step that could not run.
                    let resume = before;
                    tracing::info!(%object, phase = ?resume.phase, "API budget reached; ending the round early to resume later");
                    return Ok(PullPage { changes, cursor: resume.encode(), done: true });
                }
                Err(e) => return Err(e.into_connector()),
            }
        }
    }

    /// Moves past phases that have nothing to read (deletes and invitations on a full read,
    /// invitations for contacts), so the last page of a round says `done`.
    fn skip_idle(&self, state: &mut State) {
        loop {
            let idle = match state.phase {
                Phase::Deleted | Phase::Relations => state.since.is_none(),
                Phase::Invited => state.object == ObjectKind::Contact || state.org,
                Phase::Followed | Phase::Accounts => self.side_phase_idle(state),
                Phase::Changed | Phase::Done => false,
            };
            if !idle {
                return;
            }
            state.next_phase(followed_by(state.object, state.phase));
        }
    }

    async fn step(&self, state: &mut State, out: &mut Vec<Change>, routes: &mut Routes) -> Result<Step, ApiError> {
        let object = state.object;
        match state.phase {
            Phase::Done => Ok(Step::Skipped),
            Phase::Deleted | Phase::Relations if state.since.is_none() => {
                state.next_phase(followed_by(object, state.phase));
                Ok(Step::Skipped)
            }
            Phase::Invited if object == ObjectKind::Contact || state.org => {
                state.next_phase(followed_by(object, state.phase));
                Ok(Step::Skipped)
            }
            Phase::Followed | Phase::Accounts if self.side_phase_idle(state) => {
                state.next_phase(followed_by(object, state.phase));
                Ok(Step::Skipped)
            }
            Phase::Relations if state.org => {
                self.org_relations(state, routes).await?;
                state.next_phase(followed_by(object, Phase::Relations));
                Ok(Step::Requested)
            }
            Phase::Relations => {
                let mut changes = self.relations(state).await?;
                out.append(&mut changes);
                state.next_phase(followed_by(object, Phase::Relations));
                Ok(Step::Requested)
            }
            Phase::Followed | Phase::Accounts => {
                let phase = state.phase;
                let mut changes = if phase == Phase::Followed {
                    self.followed(state).await?
                } else if state.org {
                    self.org_renamed_accounts(state, routes).await?
                } else {
                    self.renamed_accounts(state).await?
                };
                out.append(&mut changes);
                state.next_phase(followed_by(object, phase));
                Ok(Step::Requested)
            }
            Phase::Changed | Phase::Invited | Phase::Deleted => {
                let all = state.phase == Phase::Deleted;
                let query = self.phase_query(state).await?.to_soql();
                let page = self.api.query(&query, all).await?;
                self.check_round(state)?;
                let zone = if object == ObjectKind::Event && !all {
                    self.zone().await.map_err(|e| self.budgeted(e))?
                } else {
                    String::new()
                };
                let (attendees, invitees) = if object == ObjectKind::Event && !all {
                    self.attendees(&page.records).await?
                } else {
                    (HashMap::new(), HashMap::new())
                };
                if state.org {
                    routes.add_owners(&page.records);
                    routes.add_members(invitees);
                }
                let mut changes = Vec::with_capacity(page.records.len());
                let mut series = Vec::new();
                for row in &page.records {
                    let change = self.row_change(object, row, all, &zone, &attendees);
                    // A moved occurrence is part of its series, not an event of its own: the
                    // series is reported (read again when it is not on this page) with it.
                    if !all && let Some(master) = mapping::series_of(row) {
                        if change.is_some() && !series.contains(&master) {
                            series.push(master);
                        }
                        continue;
                    }
                    changes.extend(change);
                }
                if object == ObjectKind::Event && !all {
                    self.fold_series(&mut changes, series, &zone).await?;
                }
                out.append(&mut changes);
                // Rows come in `(SystemModstamp, Id)` order: the last one is the new position. A
                // full page (or a batch smaller than the LIMIT) may have more behind it; a page
                // that cannot move the position ends the phase rather than read itself again.
                let last = page.records.last().and_then(row_key);
                let more = !page.done || page.records.len() >= PAGE as usize;
                match last {
                    Some(key) if more && state.after.as_ref() != Some(&key) => state.after = Some(key),
                    _ => state.next_phase(followed_by(object, state.phase)),
                }
                Ok(Step::Requested)
            }
        }
    }

    /// A connector error, as the budget stop when that is what it is.
    pub(crate) fn budgeted(&self, e: ConnectorError) -> ApiError {
        if self.api.budget_stopped() { ApiError::Budget } else { ApiError::Connector(e) }
    }

    /// After a round's first response: the round's start on the server clock, and the delete
    /// window check.
    pub(crate) fn check_round(&self, state: &mut State) -> Result<(), ApiError> {
        let now = self.api.server_time().unwrap_or_else(Utc::now);
        if let Some(since) = state.since
            && since < now - Duration::days(DELETE_WINDOW_DAYS)
        {
            tracing::info!(object = %state.object, "watermark older than the delete window; asking for a full resync");
            return Err(ApiError::Connector(ConnectorError::CursorExpired));
        }
        if state.next_since.is_none() {
            let overlap = Duration::from_std(self.config.overlap).unwrap_or_else(|_| Duration::minutes(2));
            let next = now - overlap;
            state.next_since = Some(state.since.map_or(next, |s| s.max(next)));
        }
        Ok(())
    }

    /// Where the current phase reads from: after its keyset position, else from the round's
    /// `since` (`None`: everything).
    pub(crate) fn lower_bound(state: &State) -> Option<Cond> {
        let stamp = || ident("SystemModstamp");
        match (&state.after, state.since) {
            // `(SystemModstamp > :t) OR (SystemModstamp = :t AND Id > :id)`; `t` is at or after
            // `since`, so the round's bound holds.
            (Some(key), _) => Some(Cond::Or(vec![
                Cond::Cmp(stamp(), Op::Gt, Literal::DateTime(key.t)),
                Cond::And(vec![
                    Cond::Cmp(stamp(), Op::Eq, Literal::DateTime(key.t)),
                    Cond::Cmp(ident("Id"), Op::Gt, Literal::Text(key.id.clone())),
                ]),
            ])),
            (None, Some(since)) => Some(Cond::Cmp(stamp(), Op::Ge, Literal::DateTime(since))),
            (None, None) => None,
        }
    }

    async fn phase_query(&self, state: &State) -> Result<Query, ApiError> {
        if state.org {
            return self.org_phase_query(state);
        }
        let object = state.object;
        let user = Literal::Text(self.user_id().await?);
        let mut q = match state.phase {
            Phase::Deleted => {
                let q = Query::select(vec![ident("Id"), ident("SystemModstamp"), ident("OwnerId")], sobject(object))
                    .and(Cond::eq(ident("IsDeleted"), Literal::Bool(true)));
                match object {
                    // Followed contacts may belong to anyone: their deletes are read too (deletes of
                    // records never paired are ignored).
                    ObjectKind::Contact
                        if self.config.contact_scope == crate::config::ContactScope::AllVisible
                            || self.config.include_followed =>
                    {
                        q
                    }
                    ObjectKind::Contact => q.and(Cond::eq(ident("OwnerId"), user)),
                    ObjectKind::Event => {
                        q.and(Cond::eq(ident("OwnerId"), user)).and(Cond::eq(ident("IsChild"), Literal::Bool(false)))
                    }
                }
            }
            Phase::Invited => Query::select(self.mapping.select(object), sobject(object))
                .and(Cond::eq(ident("IsChild"), Literal::Bool(false)))
                .and(Cond::InSelect(ident("Id"), Box::new(self.my_invitations(user)))),
            _ => {
                let mut q = Query::select(self.mapping.select(object), sobject(object));
                match object {
                    ObjectKind::Contact => {
                        if self.config.contact_scope == crate::config::ContactScope::Owned {
                            q = q.and(Cond::eq(ident("OwnerId"), user));
                        }
                        for c in &self.config.contact_filter {
                            q = q.and(self.filter_cond(c)?);
                        }
                    }
                    ObjectKind::Event => {
                        q = q
                            .and(Cond::eq(ident("OwnerId"), user))
                            .and(Cond::eq(ident("IsChild"), Literal::Bool(false)));
                    }
                }
                q
            }
        };
        if let Some(lower) = Self::lower_bound(state) {
            q = q.and(lower);
        }
        Ok(q.order_by(ident("SystemModstamp")).order_by(ident("Id")).limit(PAGE))
    }

    fn my_invitations(&self, user: Literal) -> Query {
        Query::select(vec![ident("EventId")], ident("EventRelation"))
            .and(Cond::eq(ident("RelationId"), user))
            .and(Cond::eq(ident("IsInvitee"), Literal::Bool(true)))
    }

    pub(crate) fn filter_cond(&self, c: &crate::config::FieldCondition) -> Result<Cond, ConnectorError> {
        // Checked against the mapping when the connector was built.
        let field = Ident::new(&c.field).map_err(|e| ConnectorError::Config { message: e.to_string() })?;
        let (op, mut values) = crate::config::condition_literal(c)?;
        Ok(match op {
            Op::In => Cond::In(field, true, values),
            Op::NotIn => Cond::In(field, false, values),
            op => Cond::Cmp(field, op, values.pop().unwrap_or(Literal::Null)),
        })
    }

    /// One row as a change (`None` for a row without an id).
    pub(crate) fn row_change(
        &self,
        object: ObjectKind,
        row: &Map<String, Value>,
        deleted: bool,
        zone: &str,
        attendees: &HashMap<String, Vec<Attendee>>,
    ) -> Option<Change> {
        let meta = match self.mapping.row(row) {
            Ok(m) => m,
            Err(reason) => {
                let id = mapping::text(row, "Id").ok().flatten()?;
                return Some(invalid(id, reason));
            }
        };
        if deleted {
            let mut change = Change::deleted(meta.id);
            change.version = Version::new(meta.version);
            change.modified_at = meta.stamp;
            return Some(change);
        }
        let record = match object {
            ObjectKind::Contact => self.mapping.contact(row),
            ObjectKind::Event => {
                let invitees = attendees.get(&meta.id).cloned().unwrap_or_default();
                self.mapping.event(row, zone, invitees)
            }
        };
        Some(Change {
            id: RecordId::new(meta.id),
            version: Version::new(meta.version),
            modified_at: meta.stamp,
            sync_key: meta.sync_key.map(IdempotencyKey),
            kind: match record {
                Ok(record) => ChangeKind::Upserted { record },
                Err(reason) => ChangeKind::Invalid { reason },
            },
        })
    }

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

    /// Whether the `Followed` or `Accounts` phase has nothing to do for this connector.
    fn side_phase_idle(&self, state: &State) -> bool {
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

    /// The user's contact scope as conditions (owner), without the field filter.
    fn scope_conds(&self, mut q: Query, user: &Literal) -> Result<Query, ApiError> {
        if self.config.contact_scope == crate::config::ContactScope::Owned {
            q = q.and(Cond::eq(ident("OwnerId"), user.clone()));
        }
        for c in &self.config.contact_filter {
            q = q.and(self.filter_cond(c)?);
        }
        Ok(q)
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
    async fn followed(&self, state: &mut State) -> Result<Vec<Change>, ApiError> {
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
    async fn relations(&self, state: &mut State) -> Result<Vec<Change>, ApiError> {
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
        let ids: Vec<String> = changes.iter().filter(|c| is_series(c)).map(|c| c.id.0.clone()).collect();
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
    async fn read_ids(&self, object: ObjectKind, ids: &[RecordId], zone: &str) -> Result<Vec<Change>, ApiError> {
        let valid: Vec<&RecordId> = ids.iter().filter(|id| crate::soql::check_id(id.as_str()).is_ok()).collect();
        let mut found: HashMap<String, Change> = HashMap::new();
        for chunk in valid.chunks(IN_CHUNK) {
            let q = Query::select(self.mapping.select(object), sobject(object))
                .and(Cond::one_of(ident("Id"), chunk.iter().map(|id| Literal::Text(id.0.clone())).collect()));
            let rows = self.api.query_all_pages(&q.to_soql(), false).await?;
            let attendees = if object == ObjectKind::Event { self.attendees(&rows).await?.0 } else { HashMap::new() };
            for row in &rows {
                // Rows read by id come in no particular order; each is reported as it is.
                if let Some(change) = self.row_change(object, row, false, zone, &attendees) {
                    found.insert(change.id.0.clone(), change);
                }
            }
        }
        Ok(ids.iter().map(|id| found.remove(id.as_str()).unwrap_or_else(|| Change::deleted(id.0.clone()))).collect())
    }
}

/// A feed row's keyset position, read from the raw row so that an unreadable record still moves
/// the position past it.
fn row_key(row: &Map<String, Value>) -> Option<Key> {
    let id = mapping::text(row, "Id").ok().flatten()?;
    let stamp = mapping::text(row, "SystemModstamp").ok().flatten()?;
    Some(Key { t: mapping::parse_datetime(&stamp).ok()?, id })
}

fn invalid(id: String, reason: String) -> Change {
    Change {
        id: RecordId::new(id),
        version: Version::default(),
        modified_at: None,
        sync_key: None,
        kind: ChangeKind::Invalid { reason },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_keyset_condition_follows_the_position() {
        let t = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap() + Duration::milliseconds(250);
        let render = |state: &State| {
            let q = Query::select(vec![ident("Id")], ident("Contact"))
                .and(Cond::eq(ident("OwnerId"), Literal::Text("005000000000001AAA".to_owned())));
            let q = match SalesforceConnector::lower_bound(state) {
                Some(c) => q.and(c),
                None => q,
            };
            q.to_soql()
        };
        let mut s = State::fresh(ObjectKind::Contact);
        let owner = "SELECT Id FROM Contact WHERE OwnerId = '005000000000001AAA'";
        assert_eq!(render(&s), owner);
        s.since = Some(t);
        assert_eq!(render(&s), format!("{owner} AND SystemModstamp >= 2026-01-05T09:00:00.250Z"));
        s.after = Some(Key { t, id: "003000000000002AAA".to_owned() });
        // The position replaces `since` (it is at or after it), parenthesised under the AND.
        assert_eq!(
            render(&s),
            format!(
                "{owner} AND (SystemModstamp > 2026-01-05T09:00:00.250Z OR \
                 (SystemModstamp = 2026-01-05T09:00:00.250Z AND Id > '003000000000002AAA'))"
            )
        );
    }
}
