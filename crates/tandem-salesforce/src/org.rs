//! The organization feed ([`SalesforceFeed`]): every synced user's changes read once per cycle
//! through one connection, and routed to the users they concern.
//!
//! The feed runs the same phases as a user's pull (`pull`), over the whole org instead of one
//! owner: `Changed` (all contacts the configured filter keeps; all events but invitee copies),
//! `Accounts` (contacts of renamed Accounts, when accounts are matched), `Relations` (events:
//! invitations added or removed) and `Deleted` (`queryAll`, every owner). Its cursor has the
//! same fixed size as a user's and is marked as the org's, so neither is taken for the other.
//!
//! Routing, by Salesforce user id (what each user's connector reports as its
//! [`feed_member`](tandem_connector::Connector::feed_member)):
//!
//! - a contact goes to its `OwnerId`, or to everyone under `contact_scope = all_visible`;
//! - an event goes to its `OwnerId` and to each invitee (`EventRelation.RelationId`), as the
//!   owner's and the invitees' own pulls would read it;
//! - a removed invitation is a delete for that invitee only;
//! - a record read outside the feed's order (a series read for a moved occurrence, a contact of a
//!   renamed Account) is routed after a lookup of its owner and invitees.
//!
//! The connection should run as an integration user who can see every synced user's records
//! (View All Data, or sharing that covers them): the feed reads what that user sees.
//! `include_followed` (Chatter follows are per user) is refused for a feed.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{Duration, Utc};
use serde_json::{Map, Value};
use tandem_connector::ConnectorError;
use tandem_connector::feed::{Audience, FeedPage, OrgFeed, RoutedChange};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, ChangeKind, Cursor, RecordId};

use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::config::ContactScope;
use crate::cursor::{Phase, State};
use crate::mapping;
use crate::pull::{IN_CHUNK, PAGE, ident, sobject};
use crate::soql::{Cond, Literal, Op, Query};

/// Who the rows of a round concern, gathered while the phases read them.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// Record id → the users it concerns (owner, invitees).
    members: HashMap<String, BTreeSet<String>>,
    /// Changes already routed by their phase (invitations added or removed).
    routed: Vec<RoutedChange>,
}

impl Routes {
    /// Routes each row to its owner.
    pub(crate) fn add_owners(&mut self, rows: &[Map<String, Value>]) {
        for row in rows {
            if let (Some(id), Some(owner)) =
                (mapping::text(row, "Id").ok().flatten(), mapping::text(row, "OwnerId").ok().flatten())
            {
                self.members.entry(id).or_default().insert(owner);
            }
        }
    }

    /// Routes each event to the users among its relations.
    pub(crate) fn add_members(&mut self, by_record: HashMap<String, Vec<String>>) {
        for (id, relations) in by_record {
            // Relations are users (005), contacts (003) and leads (00Q): only users have calendars.
            self.members.entry(id).or_default().extend(relations.into_iter().filter(|r| r.starts_with("005")));
        }
    }
}

/// A Salesforce org's change feed, over one connection (see the module documentation).
#[derive(Debug)]
pub struct SalesforceFeed {
    connector: SalesforceConnector,
}

impl SalesforceFeed {
    /// The feed read through `connector` (an integration user's connection).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when the connection's configuration needs per-user reads
    /// (`include_followed`).
    pub fn new(connector: SalesforceConnector) -> Result<Self, ConnectorError> {
        if connector.config.include_followed {
            return Err(ConnectorError::Config {
                message: "include_followed follows each user's Chatter subscriptions and cannot be read by an \
                          organization feed; turn the feed off for this connection or stop including followed contacts"
                    .to_owned(),
            });
        }
        Ok(SalesforceFeed { connector })
    }
}

#[async_trait]
impl OrgFeed for SalesforceFeed {
    fn provider(&self) -> &str {
        "salesforce"
    }

    async fn pull(&self, object: ObjectKind, cursor: Option<&Cursor>) -> Result<FeedPage, ConnectorError> {
        let c = &self.connector;
        c.learn().await?;
        let mut routes = Routes::default();
        let page = c.pull_round(object, cursor, true, &mut routes).await?;
        let everyone = object == ObjectKind::Contact && c.config.contact_scope == ContactScope::AllVisible;
        let unrouted: Vec<String> = page
            .changes
            .iter()
            .filter(|ch| !everyone && !routes.members.contains_key(ch.id.as_str()))
            .map(|ch| ch.id.0.to_string())
            .collect();
        if !unrouted.is_empty() {
            c.route_lookup(object, &unrouted, &mut routes).await.map_err(ApiError::into_connector)?;
        }
        let mut changes = Vec::with_capacity(page.changes.len() + routes.routed.len());
        for change in page.changes {
            let to = if everyone {
                Audience::Everyone
            } else {
                Audience::Members(
                    routes.members.get(change.id.as_str()).map(|m| m.iter().cloned().collect()).unwrap_or_default(),
                )
            };
            changes.push(RoutedChange::new(to, change));
        }
        changes.append(&mut routes.routed);
        Ok(FeedPage::new(changes, page.cursor, page.done))
    }
}

impl SalesforceConnector {
    /// The query of a feed phase: the user's query without its owner.
    pub(crate) fn org_phase_query(&self, state: &State) -> Result<Query, ApiError> {
        let object = state.object;
        let mut q = match state.phase {
            Phase::Deleted => {
                let q = Query::select(vec![ident("Id"), ident("SystemModstamp"), ident("OwnerId")], sobject(object))
                    .and(Cond::eq(ident("IsDeleted"), Literal::Bool(true)));
                match object {
                    ObjectKind::Contact => q,
                    ObjectKind::Event => q.and(Cond::eq(ident("IsChild"), Literal::Bool(false))),
                }
            }
            _ => {
                let mut q = Query::select(self.mapping.select(object), sobject(object));
                match object {
                    ObjectKind::Contact => {
                        for c in &self.config.contact_filter {
                            q = q.and(self.filter_cond(c)?);
                        }
                    }
                    ObjectKind::Event => q = q.and(Cond::eq(ident("IsChild"), Literal::Bool(false))),
                }
                q
            }
        };
        if let Some(lower) = Self::lower_bound(state) {
            q = q.and(lower);
        }
        Ok(q.order_by(ident("SystemModstamp")).order_by(ident("Id")).limit(PAGE))
    }

    /// Invitations added or removed since `since`, for every user: an added one routes the
    /// event to the invitee, a removed one is a delete for that invitee alone.
    pub(crate) async fn org_relations(&self, state: &mut State, routes: &mut Routes) -> Result<(), ApiError> {
        let Some(since) = state.since else { return Ok(()) };
        let q = Query::select(
            vec![ident("EventId"), ident("RelationId"), ident("IsDeleted"), ident("SystemModstamp")],
            ident("EventRelation"),
        )
        .and(Cond::eq(ident("IsInvitee"), Literal::Bool(true)))
        .and(Cond::Cmp(ident("SystemModstamp"), Op::Ge, Literal::DateTime(since)));
        let rows = self.api.query_all_pages(&q.to_soql(), true).await?;
        self.check_round(state)?;
        // (event, user) → still invited? The last row of a pair wins (rows come unordered, so a
        // live relation beats a deleted one: re-invited).
        let mut pairs: HashMap<(String, String), bool> = HashMap::new();
        for row in &rows {
            let (Some(event), Some(user)) =
                (mapping::text(row, "EventId").ok().flatten(), mapping::text(row, "RelationId").ok().flatten())
            else {
                continue;
            };
            if !user.starts_with("005") || crate::soql::check_id(&event).is_err() {
                continue;
            }
            let live = row.get("IsDeleted").and_then(Value::as_bool) != Some(true);
            let slot = pairs.entry((event, user)).or_insert(live);
            *slot |= live;
        }
        let mut added: HashMap<String, Vec<String>> = HashMap::new();
        for ((event, user), live) in pairs {
            if live {
                added.entry(event).or_default().push(user);
            } else {
                routes.routed.push(RoutedChange::new(Audience::Members(vec![user]), Change::deleted(event)));
            }
        }
        if added.is_empty() {
            return Ok(());
        }
        let ids: Vec<RecordId> = added.keys().map(|id| RecordId::new(id.clone())).collect();
        let mut changes = self.fetch_ids(ObjectKind::Event, &ids).await.map_err(ApiError::Connector)?;
        // A deleted event's relations read as removed, not added; one read back as deleted is
        // the delete phase's business.
        changes.retain(|c| !matches!(c.kind, ChangeKind::Deleted));
        for change in changes {
            let users = added.remove(change.id.as_str()).unwrap_or_default();
            routes.routed.push(RoutedChange::new(Audience::Members(users), change));
        }
        Ok(())
    }

    /// Contacts of Accounts renamed since the last look, whoever owns them.
    pub(crate) async fn org_renamed_accounts(
        &self,
        state: &mut State,
        routes: &mut Routes,
    ) -> Result<Vec<Change>, ApiError> {
        let Some(since) = state.accounts_since.or(state.since) else { return Ok(Vec::new()) };
        let accounts = Query::select(vec![ident("Id")], ident("Account")).and(Cond::Cmp(
            ident("SystemModstamp"),
            Op::Ge,
            Literal::DateTime(since),
        ));
        let mut q = Query::select(self.mapping.select(ObjectKind::Contact), ident("Contact"))
            .and(Cond::InSelect(ident("AccountId"), Box::new(accounts)));
        for c in &self.config.contact_filter {
            q = q.and(self.filter_cond(c)?);
        }
        let rows = self.api.query_all_pages(&q.to_soql(), false).await?;
        self.check_round(state)?;
        let overlap = Duration::from_std(self.config.overlap).unwrap_or_else(|_| Duration::minutes(2));
        state.accounts_since = Some(self.api.server_time().unwrap_or_else(Utc::now) - overlap);
        routes.add_owners(&rows);
        Ok(self.side_changes(state, &rows, true))
    }

    /// Owners (and, for events, invitees) of records read outside the feed's order.
    async fn route_lookup(&self, object: ObjectKind, ids: &[String], routes: &mut Routes) -> Result<(), ApiError> {
        let ids: Vec<&String> =
            ids.iter().filter(|id| crate::soql::check_id(id).is_ok()).collect::<HashSet<_>>().into_iter().collect();
        for chunk in ids.chunks(IN_CHUNK) {
            let q = Query::select(vec![ident("Id"), ident("OwnerId")], sobject(object))
                .and(Cond::one_of(ident("Id"), chunk.iter().map(|id| Literal::Text((*id).clone())).collect()));
            let rows = self.api.query_all_pages(&q.to_soql(), true).await?;
            routes.add_owners(&rows);
            if object == ObjectKind::Event {
                let (_, invitees) = self.attendees(&rows).await?;
                routes.add_members(invitees);
            }
        }
        Ok(())
    }
}
