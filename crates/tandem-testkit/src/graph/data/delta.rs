//! Delta queries: what a query covers, its tokens, rounds and pages, the rows a round serves,
//! and token expiry.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::records::Instance;
use super::{ApiError, Data, EventRec, Reply};
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

/// One row of a delta round: the item it names, rendered when its page is served.
///
/// A round names its rows when it starts and renders them page by page: a mailbox's first
/// round after a first sync names every item it holds, and in the scale benchmark ten thousand
/// mailboxes' rounds are alive at once (5,000,000 rendered rows were over 6 GB). A page fetched
/// again (a retry after a lost answer) renders the same items; an item changed in between shows
/// its newer state, as Graph's pages do, and its change is in the next round too, which starts
/// from the sequence the round started at. An item deleted in between is served as removed.
#[derive(Debug, Clone)]
pub(crate) enum DeltaRow {
    /// A contact, by id.
    Contact(String),
    /// A single event or a series master, by id.
    Event(String),
    /// A plain occurrence of a series, in delta's short form: the master's id and its date.
    Occurrence(String, NaiveDate),
    /// An item reported as removed: its entity type and id.
    Removed(&'static str, String),
}

/// One delta round: the rows it serves, named when the round starts, and the preferences of the
/// request that started it.
#[derive(Debug)]
pub(crate) struct DeltaRound {
    pub(crate) id: u64,
    pub(crate) scope: Scope,
    pub(crate) rows: Vec<DeltaRow>,
    pub(crate) prefer: Prefer,
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
    pub(crate) fn delta_rows(&self, scope: &Scope, since: Option<u64>) -> Vec<DeltaRow> {
        let Ok(mailbox) = self.mailbox(scope.mailbox()) else { return Vec::new() };
        let mut rows = Vec::new();
        match scope {
            Scope::Contacts { folder, .. } => {
                for c in mailbox.contacts.values().filter(|c| &c.folder == folder) {
                    match (since, c.deleted_seq) {
                        (None, None) => rows.push(DeltaRow::Contact(c.id.clone())),
                        (None, Some(_)) => {}
                        (Some(s), Some(d)) if d > s && c.seq <= s => {
                            rows.push(DeltaRow::Removed("contact", c.id.clone()))
                        }
                        (Some(_), Some(_)) => {}
                        (Some(s), None) if c.seq > s => rows.push(DeltaRow::Contact(c.id.clone())),
                        (Some(_), None) => {}
                    }
                }
            }
            Scope::Calendar { start, end, .. } => {
                for e in mailbox.events.values() {
                    self.calendar_rows(e, *start, *end, since, &mut rows);
                }
            }
        }
        if self.config.delta_replays {
            let again = rows.clone();
            rows.extend(again);
        }
        rows
    }

    /// The JSON of a round's row now, in the round's preferences.
    pub(crate) fn render_row(&self, mailbox: &str, row: &DeltaRow, prefer: &Prefer) -> Value {
        let removed = |ty: &str, id: &str| json!({"@odata.type": format!("#microsoft.graph.{ty}"), "id": present_id(id, prefer.immutable_id), "@removed": {"reason": "deleted"}});
        let Ok(mb) = self.mailbox(mailbox) else {
            return match row {
                DeltaRow::Contact(id) => removed("contact", id),
                DeltaRow::Event(id) => removed("event", id),
                DeltaRow::Occurrence(master, date) => removed("event", &occurrence_id(master, *date)),
                DeltaRow::Removed(ty, id) => removed(ty, id),
            };
        };
        match row {
            DeltaRow::Contact(id) => match mb.contacts.get(id).filter(|c| c.deleted_seq.is_none()) {
                Some(c) => self.render_contact(c, prefer, None),
                None => removed("contact", id),
            },
            DeltaRow::Event(id) => match mb.events.get(id).filter(|e| e.deleted_seq.is_none()) {
                Some(e) => self.render_event(mb, e, prefer, false, None),
                None => removed("event", id),
            },
            DeltaRow::Occurrence(master, date) => mb
                .events
                .get(master)
                .filter(|e| e.deleted_seq.is_none() && !e.cancelled.contains_key(date))
                .and_then(|e| self.render_instance(mb, e, *date, prefer, true))
                .unwrap_or_else(|| removed("event", &occurrence_id(master, *date))),
            DeltaRow::Removed(ty, id) => removed(ty, id),
        }
    }

    fn calendar_rows(
        &self,
        e: &EventRec,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        since: Option<u64>,
        rows: &mut Vec<DeltaRow>,
    ) {
        // Nothing of an event unchanged since `since` goes in the round (every arm below agrees),
        // and it is not decoded (`crate::compact`): a mailbox's incremental round costs its
        // changes, not its calendar.
        if let Some(s) = since
            && e.seq <= s
            && e.deleted_seq.is_none_or(|d| d <= s)
            && e.exceptions.values().all(|x| x.seq <= s)
            && e.cancelled.values().all(|c| *c <= s)
        {
            return;
        }
        let removed = |id: String| DeltaRow::Removed("event", id);
        let instances = e.instances(from, to);
        let include_master = self.config.calendar_view_includes_masters;
        if !e.is_series() {
            match (since, e.deleted_seq) {
                (None, None) if !instances.is_empty() => rows.push(DeltaRow::Event(e.id.clone())),
                (Some(s), Some(d)) if d > s => rows.push(removed(e.id.clone())),
                (Some(s), None) if e.seq > s => {
                    if instances.is_empty() {
                        // Changes outside the window surface as removals; clients filter them.
                        rows.push(removed(e.id.clone()));
                    } else {
                        rows.push(DeltaRow::Event(e.id.clone()));
                    }
                }
                _ => {}
            }
            return;
        }
        let occurrence = |i: &Instance| i.date.map(|d| DeltaRow::Occurrence(e.id.clone(), d));
        match (since, e.deleted_seq) {
            (None, None) => {
                if include_master && !instances.is_empty() {
                    rows.push(DeltaRow::Event(e.id.clone()));
                }
                rows.extend(instances.iter().filter_map(occurrence));
            }
            (Some(s), Some(d)) if d > s => {
                rows.extend(instances.iter().map(|i| removed(i.id.clone())));
                if include_master {
                    rows.push(removed(e.id.clone()));
                }
            }
            (Some(s), None) if e.seq > s => {
                if include_master && !instances.is_empty() {
                    rows.push(DeltaRow::Event(e.id.clone()));
                }
                rows.extend(instances.iter().filter_map(occurrence));
            }
            (Some(s), None) => {
                for (date, x) in &e.exceptions {
                    if x.seq > s {
                        match instances.iter().find(|i| i.date == Some(*date)) {
                            Some(i) => rows.extend(occurrence(i)),
                            None => rows.push(removed(occurrence_id(&e.id, *date))),
                        }
                    }
                }
                for (date, seq) in &e.cancelled {
                    if *seq > s {
                        rows.push(removed(occurrence_id(&e.id, *date)));
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
