//! Running a round: the order of the phases, one step per `pull` call, the round's start and
//! the delete window check, and the keyset position moved past each page.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use serde_json::{Map, Value};
use tandem_connector::{ConnectorError, PullPage};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Cursor};

use super::{DELETE_WINDOW_DAYS, PAGE};
use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::cursor::{Key, Phase, State};
use crate::mapping;
use crate::org::Routes;

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
}

/// A feed row's keyset position, read from the raw row so that an unreadable record still moves
/// the position past it.
fn row_key(row: &Map<String, Value>) -> Option<Key> {
    let id = mapping::text(row, "Id").ok().flatten()?;
    let stamp = mapping::text(row, "SystemModstamp").ok().flatten()?;
    Some(Key { t: mapping::parse_datetime(&stamp).ok()?, id })
}
