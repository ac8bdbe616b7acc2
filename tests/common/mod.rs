//! Shared pieces of the harnesses that prove the sync transactions (`tests/crash.rs`,
//! `tests/fault_soak.rs`): the Salesforce and Graph fakes on loopback, the real connectors and
//! engine pointed at them, a user who edits both sides through the fakes' own surfaces, and the
//! end checks (no duplicates, no lost edit, both sides equal on the synced fields, every record
//! accounted for).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as Span, Timelike, Utc};
use serde_json::{Value, json};
use tandem::connector::Connector;
use tandem::connector::http::{HttpClient, HttpConfig, Secret};
use tandem::graph::{GraphAuth, GraphConfig, GraphConnector};
use tandem::policy::{Method, Policy};
use tandem::salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector};
use tandem_core::model::ObjectKind;
use tandem_core::state::{IdempotencyKey, RecordId, Side};
use tandem_engine::config::SyncConfig;
use tandem_engine::invariants::{Observed, unaccounted};
use tandem_engine::{Engine, EngineOptions, SystemClock, UserSync};
use tandem_store::{SqliteStore, StateStore};
use tandem_testkit::graph::{GraphFake, GraphFakeConfig, GraphState};
use tandem_testkit::rng::Rng;
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::FakeServer;

pub const MAILBOX: &str = "ann@contoso.example";
pub const CLIENT: &str = "0000c0de-aaaa-bbbb-cccc-000000000042";
pub const FOLDER: &str = "Tandem";
pub const SF_KEY_FIELD: &str = "Tandem_Sync_Id__c";
pub const C: ObjectKind = ObjectKind::Contact;
pub const E: ObjectKind = ObjectKind::Event;

/// Both fakes, in this process.
pub struct Fakes {
    pub sf: SalesforceFake,
    pub sf_server: FakeServer,
    pub graph: GraphFake,
}

/// Where the connectors find the fakes (what a worker process is told).
#[derive(Debug, Clone)]
pub struct Urls {
    pub salesforce: String,
    pub graph: String,
}

impl Fakes {
    pub async fn start() -> Fakes {
        let (sf, sf_server) = SalesforceFake::start().await.unwrap();
        let graph = GraphFake::start_with(GraphFakeConfig::default()).await.unwrap();
        graph.state().add_mailbox(MAILBOX, "Ann Example");
        graph.state().register_certificate(CLIENT, tandem_testkit::keys::TEST_RSA_CERT_PEM).unwrap();
        Fakes { sf, sf_server, graph }
    }

    pub fn urls(&self) -> Urls {
        Urls { salesforce: self.sf_server.base_url(), graph: self.graph.base_url() }
    }

    pub fn g(&self) -> &GraphState {
        self.graph.state()
    }

    /// Switches off every injected behaviour on both fakes (Graph keeps its per-mailbox
    /// concurrency cap, which is the service's documented behaviour, not an injected fault).
    pub fn calm(&self) {
        self.sf.controls().clear();
        let c = self.g().controls();
        c.set_chaos(None);
        c.set_latency(Duration::ZERO);
        c.set_response_latency(Duration::ZERO);
    }
}

/// The HTTP client of both connectors: no client-side rate limit, quick retries, `timeout` per
/// request.
pub fn http_client(timeout: Duration) -> HttpClient {
    HttpClient::new(HttpConfig {
        rate_limit: None,
        max_retries: 2,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(200),
        request_timeout: timeout,
        connect_timeout: Duration::from_secs(2),
        ..HttpConfig::default()
    })
    .unwrap()
}

/// The real connectors pointed at the fakes: Salesforce by client credentials (its clock may
/// move to expire the cursor, which a JWT assertion would not survive), Graph by certificate.
pub fn connectors(urls: &Urls, timeout: Duration) -> (Arc<dyn Connector>, Arc<dyn Connector>) {
    let fc = tandem_testkit::salesforce::FakeConfig::default();
    let sf_config = SalesforceConfig::new(
        AuthConfig::ClientCredentials {
            client_id: fc.consumer_key,
            client_secret: Secret::new(fc.consumer_secret),
            username: Some(fc.run_as),
        },
        url::Url::parse(&urls.salesforce).unwrap(),
    );
    let sf = SalesforceConnector::new(sf_config, http_client(timeout)).unwrap();
    let graph_config = GraphConfig::new(
        tandem_testkit::graph::DEMO_TENANT,
        MAILBOX,
        GraphAuth::Certificate {
            client_id: CLIENT.into(),
            certificate_pem: tandem_testkit::keys::TEST_RSA_CERT_PEM.into(),
            private_key_pem: Secret::new(tandem_testkit::keys::TEST_RSA_KEY_PEM),
            algorithm: tandem::graph::AssertionAlgorithm::Ps256,
        },
    )
    .with_authority(urls.graph.clone())
    .with_graph_base(format!("{}/v1.0", urls.graph))
    .with_contact_folder(FOLDER);
    let mut graph_config = graph_config;
    graph_config.max_retry_wait = Duration::from_secs(1);
    let graph = GraphConnector::new(graph_config, http_client(timeout)).unwrap();
    (Arc::new(sf), Arc::new(graph))
}

/// Loopback `http://` allowed, and the Salesforce client credentials flow.
pub fn policy() -> Policy {
    let mut policy = Policy::for_loopback_tests();
    if let Some(rules) = policy.providers.get_mut("salesforce") {
        rules.methods.insert(Method::ClientCredentialsSecret);
    }
    policy
}

/// Tiny waits: the fakes ask for at most a second, the engine waits at most 200 ms.
pub fn engine_options() -> EngineOptions {
    EngineOptions {
        max_throttle_wait: Duration::from_millis(200),
        default_throttle_wait: Duration::from_millis(10),
        ..EngineOptions::default()
    }
}

pub fn engine(store: Arc<SqliteStore>) -> Engine {
    Engine::with(store, Arc::new(SystemClock), engine_options()).with_policy(Arc::new(policy()))
}

pub fn job(urls: &Urls, timeout: Duration) -> UserSync {
    let (crm, mailbox) = connectors(urls, timeout);
    UserSync::new(MAILBOX, SyncConfig::named("harness"), crm, mailbox)
}

// --- the user -------------------------------------------------------------------------------

/// What the user last wrote into the fields each side owns. Salesforce edits a contact's title and
/// an event's location; the mailbox edits a contact's department and an event's description: so
/// a field is only ever edited on one side and the expected end state does not depend on the
/// order in which the sync saw the edits.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Where the record was created.
    pub origin: Option<Side>,
    /// Contacts: title; events: location.
    pub crm_field: Option<String>,
    /// Contacts: department; events: description.
    pub mailbox_field: Option<String>,
    /// The edits made, for the report: (round, side, value).
    pub history: Vec<(usize, Side, String)>,
}

/// The user of both systems, editing through the fakes as the providers' UIs would, driven by a
/// seeded generator.
pub struct User {
    pub rng: Rng,
    pub seed: u64,
    pub n: u64,
    /// Contacts by family name, events by subject.
    pub contacts: BTreeMap<String, Expect>,
    pub events: BTreeMap<String, Expect>,
    /// The round in which each record was created (by name).
    pub created_in: BTreeMap<String, usize>,
    pub log: Vec<String>,
    base: DateTime<Utc>,
}

impl User {
    /// The records both sides start with: four contacts and three events each.
    pub fn seed(&mut self, fakes: &Fakes) {
        for side in Side::BOTH {
            for _ in 0..4 {
                self.create_contact(fakes, side, 0);
            }
            for _ in 0..3 {
                self.create_event(fakes, side, 0);
            }
        }
    }

    pub fn new(seed: u64) -> User {
        let base =
            (Utc::now() + Span::days(2)).with_minute(0).unwrap().with_second(0).unwrap().with_nanosecond(0).unwrap();
        User {
            rng: Rng::new(seed ^ 0x5eed_0f05_e7e7),
            seed,
            n: 0,
            contacts: BTreeMap::new(),
            events: BTreeMap::new(),
            created_in: BTreeMap::new(),
            log: Vec::new(),
            base,
        }
    }

    fn next(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    pub fn create_contact(&mut self, f: &Fakes, side: Side, round: usize) {
        let n = self.next();
        let family = format!("Fam{n:04}");
        let email = format!("p{n}@example.com");
        match side {
            Side::Crm => {
                f.sf.insert("Contact", json!({ "FirstName": "Pat", "LastName": family, "Email": email })).unwrap();
            }
            Side::Mailbox => {
                f.g()
                    .seed_contact(
                        MAILBOX,
                        Some(FOLDER),
                        json!({ "givenName": "Pat", "surname": family,
                                "emailAddresses": [{ "address": email, "name": format!("Pat {family}") }] }),
                    )
                    .unwrap();
            }
        }
        self.created_in.insert(family.clone(), round);
        self.log.push(format!("round {round}: create contact {family} on {side}"));
        self.contacts.insert(family, Expect { origin: Some(side), ..Expect::default() });
    }

    pub fn create_event(&mut self, f: &Fakes, side: Side, round: usize) {
        let n = self.next();
        let subject = format!("Meeting {n:04}");
        let start = self.base + Span::days(i64::try_from(n % 40).unwrap()) + Span::hours(i64::try_from(n % 8).unwrap());
        match side {
            Side::Crm => {
                f.sf.insert(
                    "Event",
                    json!({ "Subject": subject, "StartDateTime": start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                            "DurationInMinutes": 60 }),
                )
                .unwrap();
            }
            Side::Mailbox => {
                let end = start + Span::hours(1);
                f.g()
                    .seed_event(
                        MAILBOX,
                        json!({ "subject": subject,
                                "start": { "dateTime": start.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC" },
                                "end": { "dateTime": end.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC" } }),
                    )
                    .unwrap();
            }
        }
        self.created_in.insert(subject.clone(), round);
        self.log.push(format!("round {round}: create event {subject} on {side}"));
        self.events.insert(subject, Expect { origin: Some(side), ..Expect::default() });
    }

    /// Edits a random record that exists on `side` (false when there is none yet).
    pub fn edit(&mut self, f: &Fakes, object: ObjectKind, side: Side, round: usize) -> bool {
        let names: Vec<String> =
            if object == C { self.contacts.keys().cloned().collect() } else { self.events.keys().cloned().collect() };
        let present: Vec<(String, String)> =
            names.into_iter().filter_map(|name| find(f, object, side, &name).map(|id| (name, id))).collect();
        if present.is_empty() {
            return false;
        }
        let (name, id) = present[self.rng.index(present.len())].clone();
        let n = self.next();
        let value = match (object, side) {
            (ObjectKind::Contact, Side::Crm) => {
                let v = format!("Title {n}");
                f.sf.update("Contact", &id, json!({ "Title": v })).unwrap();
                v
            }
            (ObjectKind::Contact, Side::Mailbox) => {
                let v = format!("Dept {n}");
                f.g().edit_contact(MAILBOX, &id, json!({ "department": v })).unwrap();
                v
            }
            (ObjectKind::Event, Side::Crm) => {
                let v = format!("Room {n}");
                f.sf.update("Event", &id, json!({ "Location": v })).unwrap();
                v
            }
            (ObjectKind::Event, Side::Mailbox) => {
                let v = format!("Agenda {n}");
                f.g().edit_event(MAILBOX, &id, json!({ "body": { "contentType": "text", "content": v } })).unwrap();
                v
            }
        };
        let map = if object == C { &mut self.contacts } else { &mut self.events };
        let e = map.get_mut(&name).unwrap();
        match side {
            Side::Crm => e.crm_field = Some(value.clone()),
            Side::Mailbox => e.mailbox_field = Some(value.clone()),
        }
        e.history.push((round, side, value.clone()));
        self.log.push(format!("round {round}: edit {object} {name} on {side} ({id}) -> {value}"));
        true
    }

    /// One random user action on `side`: a create or an edit, of a contact or an event.
    pub fn act_on(&mut self, f: &Fakes, round: usize, side: Side) {
        let object = if self.rng.chance(50) { C } else { E };
        if self.rng.chance(35) || !self.edit(f, object, side, round) {
            if object == C {
                self.create_contact(f, side, round);
            } else {
                self.create_event(f, side, round);
            }
        }
    }

    /// One to `max` random user actions: creates and edits on both sides, contacts and events.
    pub fn act(&mut self, f: &Fakes, round: usize, max: u64) {
        let actions = 1 + self.rng.below(max);
        for _ in 0..actions {
            let object = if self.rng.chance(50) { C } else { E };
            let side = if self.rng.chance(50) { Side::Crm } else { Side::Mailbox };
            let create = self.rng.chance(35);
            if create || !self.edit(f, object, side, round) {
                if object == C {
                    self.create_contact(f, side, round);
                } else {
                    self.create_event(f, side, round);
                }
            }
        }
    }
}

/// The id on `side` of the record named `name` (family name or subject), if exactly one exists.
pub fn find(f: &Fakes, object: ObjectKind, side: Side, name: &str) -> Option<String> {
    let ids: Vec<String> = records(f, object, side).into_iter().filter(|r| r.name == name).map(|r| r.id).collect();
    (ids.len() == 1).then(|| ids[0].clone())
}

/// One record as a side holds it, on the fields the harnesses compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub id: String,
    /// Family name or subject.
    pub name: String,
    pub sync_key: Option<String>,
    /// Contacts: given name, email; events: start instant.
    pub identity: String,
    /// Contacts: title; events: location.
    pub crm_field: Option<String>,
    /// Contacts: department; events: description.
    pub mailbox_field: Option<String>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn instant(v: &Value) -> String {
    // Salesforce: 2026-01-01T10:00:00.000+0000; Graph: {"dateTime": "2026-01-01T10:00:00.0000000", "timeZone": "UTC"}.
    let raw = match v {
        Value::Object(m) => m.get("dateTime").and_then(Value::as_str).unwrap_or_default().to_owned(),
        other => other.as_str().unwrap_or_default().to_owned(),
    };
    raw.chars().take(16).collect()
}

/// Every live record of `object` on `side`.
pub fn records(f: &Fakes, object: ObjectKind, side: Side) -> Vec<Seen> {
    match (object, side) {
        (ObjectKind::Contact, Side::Crm) => {
            f.sf.records("Contact")
                .iter()
                .map(|r| Seen {
                    id: r["Id"].as_str().unwrap().to_owned(),
                    name: text(&r["LastName"]).unwrap_or_default(),
                    sync_key: text(&r[SF_KEY_FIELD]),
                    identity: format!("{:?}|{:?}", text(&r["FirstName"]), text(&r["Email"]).map(|e| e.to_lowercase())),
                    crm_field: text(&r["Title"]),
                    mailbox_field: text(&r["Department"]),
                })
                .collect()
        }
        (ObjectKind::Event, Side::Crm) => {
            f.sf.records("Event")
                .iter()
                .map(|r| Seen {
                    id: r["Id"].as_str().unwrap().to_owned(),
                    name: text(&r["Subject"]).unwrap_or_default(),
                    sync_key: text(&r[SF_KEY_FIELD]),
                    identity: instant(&r["StartDateTime"]),
                    crm_field: text(&r["Location"]),
                    mailbox_field: text(&r["Description"]),
                })
                .collect()
        }
        (ObjectKind::Contact, Side::Mailbox) => f
            .g()
            .contacts(MAILBOX)
            .iter()
            .map(|r| {
                let id = r["id"].as_str().unwrap().to_owned();
                Seen {
                    sync_key: f.g().extended_property(MAILBOX, &id, tandem::graph::SYNC_KEY_PROPERTY),
                    id,
                    name: text(&r["surname"]).unwrap_or_default(),
                    identity: format!(
                        "{:?}|{:?}",
                        text(&r["givenName"]),
                        text(&r["emailAddresses"][0]["address"]).map(|e| e.to_lowercase())
                    ),
                    crm_field: text(&r["jobTitle"]),
                    mailbox_field: text(&r["department"]),
                }
            })
            .collect(),
        (ObjectKind::Event, Side::Mailbox) => f
            .g()
            .events(MAILBOX)
            .iter()
            .map(|r| {
                let id = r["id"].as_str().unwrap().to_owned();
                Seen {
                    sync_key: f.g().extended_property(MAILBOX, &id, tandem::graph::SYNC_KEY_PROPERTY),
                    id,
                    name: text(&r["subject"]).unwrap_or_default(),
                    identity: instant(&r["start"]),
                    crm_field: text(&r["location"]["displayName"]),
                    mailbox_field: text(&r["body"]["content"]),
                }
            })
            .collect(),
    }
}

/// The records of `object` on `side` that the store cannot account for (see
/// `tandem_engine::invariants`), leaving out those `skip` names (records no cycle has read yet).
pub async fn lost(
    store: &dyn StateStore,
    f: &Fakes,
    object: ObjectKind,
    side: Side,
    skip: &BTreeSet<String>,
) -> Vec<Seen> {
    let seen: Vec<Seen> = records(f, object, side).into_iter().filter(|r| !skip.contains(&r.name)).collect();
    let observed: Vec<Observed> = seen
        .iter()
        .map(|r| Observed { id: RecordId::new(&r.id), sync_key: r.sync_key.clone().map(IdempotencyKey::from) })
        .collect();
    let missing: BTreeSet<RecordId> =
        unaccounted(store, MAILBOX, object, side, &observed).await.unwrap().into_iter().collect();
    seen.into_iter().filter(|r| missing.contains(&RecordId::new(&r.id))).collect()
}

/// Everything wrong with the end state: duplicates, missing records, lost edits, fields that
/// differ between the sides. Empty when all is well.
pub fn end_state_problems(f: &Fakes, user: &User) -> Vec<String> {
    let mut problems = Vec::new();
    for object in [C, E] {
        let expected = if object == C { &user.contacts } else { &user.events };
        let crm = records(f, object, Side::Crm);
        let mailbox = records(f, object, Side::Mailbox);
        for (side, recs) in [(Side::Crm, &crm), (Side::Mailbox, &mailbox)] {
            let mut by_name: BTreeMap<&str, Vec<&Seen>> = BTreeMap::new();
            for r in recs.iter() {
                by_name.entry(r.name.as_str()).or_default().push(r);
            }
            for (name, list) in &by_name {
                if list.len() > 1 {
                    problems.push(format!(
                        "DUPLICATE {object} `{name}` on {side}: {} copies: {:?}",
                        list.len(),
                        list.iter().map(|r| (&r.id, &r.sync_key)).collect::<Vec<_>>()
                    ));
                }
                if !expected.contains_key(*name) {
                    problems.push(format!("UNKNOWN {object} `{name}` on {side}"));
                }
            }
            for (name, e) in expected {
                let Some(list) = by_name.get(name.as_str()) else {
                    problems.push(format!("MISSING {object} `{name}` on {side} (created on {:?})", e.origin));
                    continue;
                };
                let r = list[0];
                if r.crm_field != e.crm_field {
                    problems.push(format!(
                        "LOST EDIT {object} `{name}` on {side}: {} is {:?}, expected {:?} (edits: {:?})",
                        if object == C { "title" } else { "location" },
                        r.crm_field,
                        e.crm_field,
                        e.history
                    ));
                }
                if r.mailbox_field != e.mailbox_field {
                    problems.push(format!(
                        "LOST EDIT {object} `{name}` on {side}: {} is {:?}, expected {:?} (edits: {:?})",
                        if object == C { "department" } else { "description" },
                        r.mailbox_field,
                        e.mailbox_field,
                        e.history
                    ));
                }
            }
        }
        for c in &crm {
            if let Some(m) = mailbox.iter().find(|m| m.name == c.name)
                && m.identity != c.identity
            {
                problems.push(format!(
                    "DIFFERENT {object} `{}`: Salesforce {:?}, mailbox {:?}",
                    c.name, c.identity, m.identity
                ));
            }
        }
    }
    problems
}

/// What the store remembers of the user, for a failure report.
/// The body of a harness's failure report: the problems, what the user did to the records
/// concerned, their pairs, their audit and the store. The caller adds its own history.
pub async fn failure_report(
    heading: String,
    problems: &[String],
    user: &User,
    store: &dyn StateStore,
    fakes: &Fakes,
    troubled: &BTreeSet<String>,
) -> String {
    let mut report = heading;
    for p in problems {
        report.push_str(&format!("  {p}\n"));
    }
    report.push_str("\nwhat the user did to the records concerned:\n");
    for line in user.log.iter().filter(|l| troubled.iter().any(|t| l.contains(t.as_str()))) {
        report.push_str(&format!("  {line}\n"));
    }
    for object in [ObjectKind::Contact, ObjectKind::Event] {
        report.push_str(&pairs_of(store, fakes, object, troubled).await);
    }
    report.push_str(&format!("\naudit of those records:\n{}", audit_of(store, fakes, troubled).await));
    report.push_str(&format!("\nstore:\n{}", store_dump(store).await));
    report
}

pub async fn store_dump(store: &dyn StateStore) -> String {
    let mut out = String::new();
    for object in [C, E] {
        out.push_str(&format!("{object}: pairs {}\n", store.pair_count(MAILBOX, object).await.unwrap_or(0)));
        for side in Side::BOTH {
            let q = store.refetch_queue(MAILBOX, object, side).await.unwrap_or_default();
            out.push_str(&format!("  refetch queue {side}: {q:?}\n"));
        }
    }
    for i in store.pending_intents(MAILBOX).await.unwrap_or_default() {
        out.push_str(&format!("  pending intent {} {} {}: {}\n", i.object, i.target, i.key, i.operation));
    }
    for q in store.quarantine(MAILBOX).await.unwrap_or_default() {
        out.push_str(&format!("  quarantine {} {} {}: {}\n", q.object, q.side, q.record_id, q.reason));
    }
    out
}

/// The audit entries about the records named in `names` (by their ids on either side), for a
/// failure report.
pub async fn audit_of(store: &dyn StateStore, f: &Fakes, names: &BTreeSet<String>) -> String {
    let mut ids = Vec::new();
    for object in [C, E] {
        for side in Side::BOTH {
            ids.extend(records(f, object, side).into_iter().filter(|r| names.contains(&r.name)).map(|r| r.id));
        }
    }
    let mut out = Vec::new();
    store.export_audit_jsonl(None, &mut out).await.unwrap();
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| ids.iter().any(|id| l.contains(id.as_str())))
        .map(|l| format!("  {l}\n"))
        .collect()
}

/// Pairs of the records named in `names`, for a failure report.
pub async fn pairs_of(store: &dyn StateStore, f: &Fakes, object: ObjectKind, names: &BTreeSet<String>) -> String {
    let mut out = String::new();
    for side in Side::BOTH {
        let ids: Vec<RecordId> = records(f, object, side)
            .into_iter()
            .filter(|r| names.contains(&r.name))
            .map(|r| RecordId::from(r.id))
            .collect();
        for p in store.pairs_by_record(MAILBOX, object, side, &ids).await.unwrap_or_default() {
            out.push_str(&format!("  pair via {side}: {p:?}\n"));
        }
    }
    out
}

/// The seed: `var` from the environment when set (to replay), else from the clock.
pub fn seed(var: &str) -> u64 {
    match std::env::var(var) {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("{var} must be a number, not `{s}`")),
        Err(_) => {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            u64::try_from(nanos % u128::from(u64::MAX)).unwrap() ^ u64::from(std::process::id())
        }
    }
}

/// A number from the environment, or `default`.
pub fn env_number(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(default)
}
