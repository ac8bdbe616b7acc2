//! Delta queries: what a query covers, its tokens, rounds and pages, the rows a round serves,
//! and token expiry.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::records::Instance;
use super::{ApiError, Data, EventRec, Mailbox, Reply};
use crate::graph::DeltaExpiry;
use crate::graph::util::{Prefer, occurrence_id, present_id};

/// What a delta query covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    Contacts { mailbox: String, folder: String },
    Calendar { mailbox: String, start: DateTime<Utc>, end: DateTime<Utc> },
}

impl Scope {
    pub(crate) fn mailbox(&self) -> &str {
        match self {
            Scope::Contacts { mailbox, .. } | Scope::Calendar { mailbox, .. } => mailbox,
        }
    }
}

/// The state a `$deltatoken` stands for: where the next round starts.
#[derive(Debug, Clone)]
pub(crate) struct DeltaToken {
    pub(crate) scope: Scope,
    pub(crate) seq: u64,
    pub(crate) generation: u64,
    /// The round that issued the token: its pages are superseded once the token is used.
    pub(crate) round: u64,
    /// The `$select` of the first request, encoded in the links as Graph does.
    pub(crate) select: Option<Vec<String>>,
}

/// One delta round: the rows it serves, taken when the round starts.
#[derive(Debug)]
pub(crate) struct DeltaRound {
    pub(crate) id: u64,
    pub(crate) scope: Scope,
    pub(crate) rows: Vec<Value>,
    pub(crate) next_seq: u64,
    pub(crate) generation: u64,
    pub(crate) select: Option<Vec<String>>,
}

/// The state a `$skiptoken` stands for: a page of a round. Fetching it again serves the same
/// rows and the same next link.
#[derive(Debug, Clone)]
pub(crate) struct DeltaPage {
    pub(crate) round: Arc<DeltaRound>,
    pub(crate) offset: usize,
    pub(crate) page_size: usize,
    /// The link this page answered with (`@odata.nextLink` or `@odata.deltaLink`) once served.
    pub(crate) next: Option<(&'static str, String)>,
}

impl Data {
    /// The rows of a delta round over `scope`: everything (initial) or what changed after `since`.
    pub(crate) fn delta_rows(&self, scope: &Scope, since: Option<u64>, prefer: &Prefer) -> Vec<Value> {
        let Ok(mailbox) = self.mailbox(scope.mailbox()) else { return Vec::new() };
        let removed = |id: &str, ty: &str| json!({"@odata.type": format!("#microsoft.graph.{ty}"), "id": present_id(id, prefer.immutable_id), "@removed": {"reason": "deleted"}});
        let mut rows = Vec::new();
        match scope {
            Scope::Contacts { folder, .. } => {
                for c in mailbox.contacts.values().filter(|c| &c.folder == folder) {
                    match (since, c.deleted_seq) {
                        (None, None) => rows.push(self.render_contact(c, prefer, None)),
                        (None, Some(_)) => {}
                        (Some(s), Some(d)) if d > s && c.seq <= s => rows.push(removed(&c.id, "contact")),
                        (Some(_), Some(_)) => {}
                        (Some(s), None) if c.seq > s => rows.push(self.render_contact(c, prefer, None)),
                        (Some(_), None) => {}
                    }
                }
            }
            Scope::Calendar { start, end, .. } => {
                for e in mailbox.events.values() {
                    self.calendar_rows(mailbox, e, *start, *end, since, prefer, &mut rows);
                }
            }
        }
        if self.config.delta_replays {
            let again = rows.clone();
            rows.extend(again);
        }
        rows
    }

    #[allow(clippy::too_many_arguments)]
    fn calendar_rows(
        &self,
        mb: &Mailbox,
        e: &EventRec,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        since: Option<u64>,
        prefer: &Prefer,
        rows: &mut Vec<Value>,
    ) {
        let removed = |id: &str| json!({"@odata.type": "#microsoft.graph.event", "id": present_id(id, prefer.immutable_id), "@removed": {"reason": "deleted"}});
        let instances = e.instances(from, to);
        let include_master = self.config.calendar_view_includes_masters;
        if !e.is_series() {
            match (since, e.deleted_seq) {
                (None, None) if !instances.is_empty() => rows.push(self.render_event(mb, e, prefer, false, None)),
                (Some(s), Some(d)) if d > s => rows.push(removed(&e.id)),
                (Some(s), None) if e.seq > s => {
                    if instances.is_empty() {
                        // Changes outside the window surface as removals; clients filter them.
                        rows.push(removed(&e.id));
                    } else {
                        rows.push(self.render_event(mb, e, prefer, false, None));
                    }
                }
                _ => {}
            }
            return;
        }
        let render = |i: &Instance| i.date.and_then(|d| self.render_instance(mb, e, d, prefer, true));
        match (since, e.deleted_seq) {
            (None, None) => {
                if include_master && !instances.is_empty() {
                    rows.push(self.render_event(mb, e, prefer, false, None));
                }
                rows.extend(instances.iter().filter_map(render));
            }
            (Some(s), Some(d)) if d > s => {
                rows.extend(instances.iter().map(|i| removed(&i.id)));
                if include_master {
                    rows.push(removed(&e.id));
                }
            }
            (Some(s), None) if e.seq > s => {
                if include_master && !instances.is_empty() {
                    rows.push(self.render_event(mb, e, prefer, false, None));
                }
                rows.extend(instances.iter().filter_map(render));
            }
            (Some(s), None) => {
                for (date, x) in &e.exceptions {
                    if x.seq > s {
                        match instances.iter().find(|i| i.date == Some(*date)) {
                            Some(i) => rows.extend(render(i)),
                            None => rows.push(removed(&occurrence_id(&e.id, *date))),
                        }
                    }
                }
                for (date, seq) in &e.cancelled {
                    if *seq > s {
                        rows.push(removed(&occurrence_id(&e.id, *date)));
                    }
                }
            }
            _ => {}
        }
    }

    /// Expires every delta and skip token issued so far.
    pub(crate) fn expire_delta_tokens(&mut self) {
        self.generation += 1;
        // Expired state is never served again; only its generation mattered.
        self.delta_pages.clear();
        self.delta_tokens.clear();
    }

    /// The answer to a request carrying an expired or unknown token.
    pub(crate) fn expired_reply(&self, location: String) -> Reply {
        match self.config.delta_expiry {
            DeltaExpiry::Gone => Reply::from(ApiError::new(
                410,
                "resyncRequired",
                "Resync required. Replace any local items with the server's items, and then sync again.",
            ))
            .header("Location", location),
            DeltaExpiry::SyncStateNotFound { status } => Reply::from(ApiError::new(
                status,
                "syncStateNotFound",
                "The sync state generation is not found. Please do a full sync.",
            )),
        }
    }
}
