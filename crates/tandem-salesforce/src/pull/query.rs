//! The feed phases' queries, and the conditions they are built from: the keyset position, the
//! user's contact scope and the configured field filter.

use tandem_connector::ConnectorError;
use tandem_core::model::ObjectKind;

use super::{PAGE, ident, sobject};
use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::cursor::{Phase, State};
use crate::soql::{Cond, Ident, Literal, Op, Query};

impl SalesforceConnector {
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

    pub(super) async fn phase_query(&self, state: &State) -> Result<Query, ApiError> {
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

    /// The user's contact scope as conditions (owner), without the field filter.
    pub(super) fn scope_conds(&self, mut q: Query, user: &Literal) -> Result<Query, ApiError> {
        if self.config.contact_scope == crate::config::ContactScope::Owned {
            q = q.and(Cond::eq(ident("OwnerId"), user.clone()));
        }
        for c in &self.config.contact_filter {
            q = q.and(self.filter_cond(c)?);
        }
        Ok(q)
    }
}
