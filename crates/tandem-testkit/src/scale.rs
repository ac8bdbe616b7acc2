//! A Salesforce org and a Graph tenant with many users, for scale benchmarks run against the
//! `tandem-fakes` binary (`--users N --records-per-user M`), and the `"control"` fake that edits
//! their records and reports the fakes' request counters over HTTP.
//!
//! User `i` is `user{i:05}@example.com` in both fakes. In Salesforce, half of the user's records
//! are contacts and half events, owned by the user; the user's Graph mailbox starts empty (the
//! first sync copies everything across). The org's daily API limit is an Enterprise edition
//! org's with one licence per user (100,000 calls plus 1,000 per user), so that a long benchmark
//! is not stopped by the allowance of a small org. The Graph app is the demo app
//! ([`crate::graph::DEMO_CLIENT_ID`], test certificate); Salesforce users sign in by JWT bearer
//! with the default consumer key and the test key.
//!
//! Control routes:
//! - `GET /counts`: `{"salesforce": {"total": n, "routes": {"GET /path": n, …}}, "graph": {…,
//!   "batch_items": n}}`;
//! - `POST /reset`: zeroes the counters of both fakes;
//! - `POST /edit?percent=P`: edits P% of each user's records (at least one), the first half
//!   (rounded up) as contact titles in Salesforce and the rest as event descriptions in Graph;
//!   with `&both=true`, each side's share is split between both objects (Salesforce: contact
//!   titles and event locations; Graph: contact departments and event descriptions), so that
//!   both objects write to both sides; answers `{"salesforce": n, "graph": m}`, the edits made;
//! - `POST /advance?seconds=S`: moves the Salesforce fake's clock (its `SystemModstamp`s and
//!   `Date` headers) S seconds on, as time passing between cycles would: a benchmark's cycles
//!   otherwise all fall within the connector's overlap window and re-read the seeded records.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Duration, Timelike, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::graph::GraphState;
use crate::salesforce::SalesforceFake;
use crate::server::Controls;

/// An Enterprise edition org's daily API calls before licences.
pub const ENTERPRISE_DAILY_CALLS: u64 = 100_000;

/// Daily API calls each Salesforce licence adds on Enterprise edition.
pub const ENTERPRISE_CALLS_PER_LICENCE: u64 = 1_000;

/// The username and mailbox of user `i`.
pub fn username(i: usize) -> String {
    format!("user{i:05}@example.com")
}

/// Both fakes seeded with many users, and what the control fake needs to edit them.
#[derive(Clone)]
pub struct ScaleOrg {
    /// The Salesforce fake.
    pub salesforce: SalesforceFake,
    /// The Graph fake.
    pub graph: GraphState,
    /// Each user's Salesforce contact ids, in creation order.
    contacts: Arc<Vec<Vec<String>>>,
    /// Each user's Salesforce event ids, in creation order.
    events: Arc<Vec<Vec<String>>>,
    records_per_user: usize,
    edits: Arc<AtomicU64>,
}

impl std::fmt::Debug for ScaleOrg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScaleOrg")
            .field("users", &self.contacts.len())
            .field("records_per_user", &self.records_per_user)
            .finish_non_exhaustive()
    }
}

impl ScaleOrg {
    /// Seeds `users` users with `records_per_user` Salesforce records each (contacts first half,
    /// events the rest), and an empty Graph mailbox each in the demo tenant.
    ///
    /// # Errors
    ///
    /// A record the Salesforce fake rejected (a bug in this seeding).
    pub fn seed(users: usize, records_per_user: usize) -> Result<ScaleOrg, String> {
        let salesforce = SalesforceFake::default();
        // An Enterprise edition org's daily API allowance: 100,000 calls plus 1,000 per licence,
        // each synced user holding one. The fake's default (100,000) is a small org's, which
        // thousands of users exhaust within a few cycles.
        let licences = u64::try_from(users).unwrap_or(u64::MAX);
        salesforce.set_daily_limit(
            ENTERPRISE_DAILY_CALLS.saturating_add(ENTERPRISE_CALLS_PER_LICENCE.saturating_mul(licences)),
        );
        let graph = GraphState::demo();
        let n_contacts = records_per_user.div_ceil(2);
        let n_events = records_per_user - n_contacts;
        // Whole hours from tomorrow: inside any sync window that covers the next month.
        let base = (Utc::now() + Duration::days(1))
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or_else(Utc::now);
        let mut contacts = Vec::with_capacity(users);
        let mut events = Vec::with_capacity(users);
        for u in 0..users {
            let name = username(u);
            let owner = salesforce.add_user(&name, "User", &format!("Number {u:05}"), "Europe/London");
            graph.add_mailbox(&name, &format!("User Number {u:05}"));
            let mut ids = Vec::with_capacity(n_contacts);
            for c in 0..n_contacts {
                let fields = json!({
                    "OwnerId": owner, "FirstName": "Person", "LastName": format!("Contact {u:05}-{c:03}"),
                    "Email": format!("p{u:05}.{c:03}@example.com"), "Title": "Engineer",
                    "Phone": format!("+44 20 7946 {:04}", c % 10_000), "MailingCity": "London",
                });
                ids.push(salesforce.insert("Contact", fields).map_err(|e| format!("seeding a contact: {e:?}"))?);
            }
            let mut event_ids = Vec::with_capacity(n_events);
            for e in 0..n_events {
                let hours = i64::try_from(e).unwrap_or(0) % 24 * 24 + i64::try_from(e).unwrap_or(0) / 24 % 8;
                let start = base + Duration::hours(hours);
                let fields = json!({
                    "OwnerId": owner, "Subject": format!("Meeting {u:05}-{e:03}"),
                    "StartDateTime": start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "DurationInMinutes": 30, "Location": "Room 1",
                });
                event_ids.push(salesforce.insert("Event", fields).map_err(|e| format!("seeding an event: {e:?}"))?);
            }
            contacts.push(ids);
            events.push(event_ids);
        }
        Ok(ScaleOrg {
            salesforce,
            graph,
            contacts: Arc::new(contacts),
            events: Arc::new(events),
            records_per_user,
            edits: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Edits `percent`% of each user's records (see the module docs); returns the edits made in
    /// (Salesforce, Graph).
    pub fn edit(&self, percent: f64, both_objects: bool) -> (usize, usize) {
        // Truncation intended: a whole number of records, at least one.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let per_user = ((self.records_per_user as f64 * percent / 100.0).round() as usize).max(1);
        let on_crm = per_user.div_ceil(2);
        let on_mailbox = per_user - on_crm;
        // Each side's edits: (contacts, events).
        let (crm_split, mailbox_split) = if both_objects {
            ((on_crm.div_ceil(2), on_crm / 2), (on_mailbox / 2, on_mailbox.div_ceil(2)))
        } else {
            ((on_crm, 0), (0, on_mailbox))
        };
        let round = self.edits.fetch_add(1, Ordering::Relaxed) + 1;
        let (mut crm, mut mailbox) = (0, 0);
        for (u, (contacts, events)) in self.contacts.iter().zip(self.events.iter()).enumerate() {
            for id in contacts.iter().take(crm_split.0) {
                if self.salesforce.update("Contact", id, json!({ "Title": format!("Edited {round}") })).is_ok() {
                    crm += 1;
                }
            }
            for id in events.iter().take(crm_split.1) {
                if self.salesforce.update("Event", id, json!({ "Location": format!("Moved to room {round}") })).is_ok()
                {
                    crm += 1;
                }
            }
            let name = username(u);
            if mailbox_split.0 > 0 {
                // From the end: the Salesforce edits above take the first contacts.
                for contact in self.graph.contacts(&name).iter().rev().take(mailbox_split.0) {
                    let Some(id) = contact.get("id").and_then(Value::as_str) else { continue };
                    if self.graph.edit_contact(&name, id, json!({ "department": format!("Dept {round}") })).is_ok() {
                        mailbox += 1;
                    }
                }
            }
            if mailbox_split.1 > 0 {
                for event in self.graph.events(&name).iter().rev().take(mailbox_split.1) {
                    let Some(id) = event.get("id").and_then(Value::as_str) else { continue };
                    let patch = json!({ "body": { "contentType": "text", "content": format!("Agenda {round}") } });
                    if self.graph.edit_event(&name, id, patch).is_ok() {
                        mailbox += 1;
                    }
                }
            }
        }
        (crm, mailbox)
    }

    /// The `"control"` fake's router (see the module docs).
    pub fn control_router(&self) -> Router {
        Router::new()
            .route("/counts", get(counts))
            .route("/reset", post(reset))
            .route("/edit", post(edit))
            .route("/advance", post(advance))
            .with_state(self.clone())
    }
}

fn counters(controls: &Controls) -> Map<String, Value> {
    let routes: Map<String, Value> =
        controls.counts().into_iter().map(|((method, path), n)| (format!("{method} {path}"), json!(n))).collect();
    let mut out = Map::new();
    out.insert("total".into(), json!(controls.total()));
    out.insert("routes".into(), Value::Object(routes));
    out
}

async fn counts(State(org): State<ScaleOrg>) -> Json<Value> {
    let mut graph = counters(org.graph.controls());
    graph.insert("batch_items".into(), json!(org.graph.batch_items()));
    Json(json!({ "salesforce": counters(org.salesforce.controls()), "graph": graph }))
}

async fn reset(State(org): State<ScaleOrg>) -> StatusCode {
    org.salesforce.controls().reset_counts();
    org.graph.reset_counters();
    org.graph.controls().reset_counts();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct EditQuery {
    percent: f64,
    /// Edit both objects on each side (`both=true`) instead of contacts in Salesforce and events
    /// in Graph.
    #[serde(default)]
    both: bool,
}

async fn edit(State(org): State<ScaleOrg>, Query(q): Query<EditQuery>) -> Json<Value> {
    let (crm, mailbox) = org.edit(q.percent, q.both);
    Json(json!({ "salesforce": crm, "graph": mailbox }))
}

#[derive(Deserialize)]
struct AdvanceQuery {
    seconds: i64,
}

async fn advance(State(org): State<ScaleOrg>, Query(q): Query<AdvanceQuery>) -> StatusCode {
    org.salesforce.advance_clock(Duration::seconds(q.seconds.clamp(0, 86_400)));
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scale_org_has_an_enterprise_allowance_for_its_users_and_their_records() {
        let org = ScaleOrg::seed(3, 4).expect("seeding");
        assert_eq!(org.salesforce.api_usage(), (0, 103_000));
        assert_eq!(org.contacts.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2]);
        assert_eq!(org.events.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2]);
        assert_eq!(org.graph.contacts(&username(2)).len(), 0, "mailboxes start empty");
    }
}
