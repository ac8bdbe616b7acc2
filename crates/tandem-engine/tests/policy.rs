//! The security policy, enforced by the engine: connections refused before any connector call,
//! plans filtered before they are journaled, every decision audited, the audit log pruned.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::{
    AddressKind, Attendee, AttendeeRole, Contact, EmailAddress, Event, EventTime, EventTiming, ObjectKind, Privacy,
    Record, ResponseStatus, ShowAs,
};
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId, Side};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Clock, Engine, EngineError, EngineOptions, SyncOptions, UserSync};
use tandem_policy::{DataRules, Effect, MailboxScope, Policy, PolicyError, PrivateEvents, Rule};
use tandem_store::{AuditEntry, SqliteStore, StateStore};

const C: ObjectKind = ObjectKind::Contact;
const E: ObjectKind = ObjectKind::Event;
const USER: &str = "ada@example.com";

/// A memory connector that describes itself as a real connection.
struct Described {
    inner: MemoryConnector,
    info: ConnectionInfo,
}

#[async_trait]
impl Connector for Described {
    fn provider(&self) -> &str {
        &self.info.provider
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn connection(&self) -> ConnectionInfo {
        self.info.clone()
    }
    async fn identity(&self) -> Result<Identity, ConnectorError> {
        self.inner.identity().await
    }
    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        self.inner.pull(object, cursor).await
    }
    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        self.inner.fetch(object, ids).await
    }
    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        self.inner.apply(object, ops).await
    }
    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        self.inner.find_by_key(object, key).await
    }
}

fn graph(principal: Option<&str>) -> ConnectionInfo {
    ConnectionInfo {
        provider: "graph".into(),
        method: "client_credentials_certificate".into(),
        endpoints: vec![
            "https://login.microsoftonline.com/tenant/oauth2/v2.0/token".into(),
            "https://graph.microsoft.com/v1.0".into(),
        ],
        scopes: vec!["https://graph.microsoft.com/.default".into()],
        principal: principal.map(Into::into),
    }
}

fn salesforce(endpoint: &str) -> ConnectionInfo {
    ConnectionInfo {
        provider: "salesforce".into(),
        method: "jwt_bearer".into(),
        endpoints: vec![endpoint.into()],
        scopes: vec!["api".into(), "refresh_token".into()],
        principal: Some(USER.into()),
    }
}

async fn store() -> Arc<SqliteStore> {
    Arc::new(SqliteStore::in_memory().await.unwrap())
}

fn job(crm: Arc<dyn Connector>, mailbox: Arc<dyn Connector>) -> UserSync {
    let mut config = SyncConfig::named("t");
    // The meetings here have fixed dates; the sync window has tests of its own.
    config.events.window = None;
    UserSync::new(USER, config, crm, mailbox)
}

fn only(object: ObjectKind) -> SyncOptions {
    SyncOptions { objects: Some(vec![object]), ..SyncOptions::default() }
}

async fn audit(engine: &Engine) -> Vec<AuditEntry> {
    let mut entries = engine.store().audit_log(Some(USER), None, 1000).await.unwrap();
    entries.reverse();
    entries
}

fn ada(notes: &str) -> Record {
    Record::Contact(Contact {
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        emails: vec![EmailAddress { kind: AddressKind::Work, address: "ada@example.com".into() }],
        notes: Some(notes.into()),
        ..Contact::default()
    })
}

fn at(h: u32) -> EventTime {
    EventTime::utc(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(h, 0, 0).unwrap())
}

fn meeting(subject: &str, privacy: Privacy) -> Record {
    Record::Event(Event {
        subject: Some(subject.into()),
        description: Some("Quarterly numbers".into()),
        location: Some("Board room".into()),
        timing: EventTiming { start: at(9), end: at(10) },
        recurrence: None,
        organizer: None,
        attendees: vec![Attendee {
            email: "grace@partner.example".into(),
            name: None,
            role: AttendeeRole::Required,
            response: ResponseStatus::Accepted,
        }],
        privacy,
        show_as: ShowAs::Busy,
        categories: vec![],
        crm_links: vec![],
        ical_uid: Some(format!("{subject}@example.com")),
        custom: Default::default(),
    })
}

fn events(c: &MemoryConnector) -> Vec<Event> {
    c.records(E)
        .into_iter()
        .filter_map(|(_, r)| match r {
            Record::Event(e) => Some(e),
            Record::Contact(_) => None,
        })
        .collect()
}

fn policy_error(err: EngineError) -> (Option<Side>, Rule, String) {
    let text = err.to_string();
    match err {
        EngineError::Policy { side, error: PolicyError::Denied { rule, .. } } => (side, rule, text),
        other => panic!("expected a policy denial, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

#[tokio::test]
async fn a_plain_http_endpoint_fails_the_sync_before_any_connector_call() {
    let memory = MemoryConnector::new("crm");
    memory.insert(ada("n"));
    let crm =
        Described { inner: memory.clone(), info: salesforce("http://login.salesforce.com/services/oauth2/token") };
    let mailbox = MemoryConnector::new("mailbox");
    let engine = Engine::new(store().await);
    let err = engine.sync_user(&job(Arc::new(crm), Arc::new(mailbox.clone())), &SyncOptions::default()).await;
    let (side, rule, text) = policy_error(err.unwrap_err());
    assert_eq!((side, rule), (Some(Side::Crm), Rule::HttpsOnly));
    assert!(text.contains("endpoints.https_only") && text.contains("crm connection refused"), "{text}");
    assert_eq!(memory.counts().pulls + memory.counts().lookups, 0, "no connector call");
    assert_eq!(mailbox.counts().pulls, 0);
    assert_eq!(mailbox.len(C), 0);
    // Audited once per object, and the user's status names the rule.
    let entries = audit(&engine).await;
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.action == "policy_deny" && e.outcome == "denied" && e.side == Some(Side::Crm)));
    assert_eq!(entries[0].detail.as_ref().unwrap()["rule"], "endpoints.https_only");
    let status = engine.store().status(USER).await.unwrap().unwrap();
    assert!(status.last_error.unwrap().contains("endpoints.https_only"));
}

#[tokio::test]
async fn a_disallowed_scope_fails_the_sync() {
    let mut info = graph(None);
    info.scopes.push("Mail.Read".into());
    let mailbox = Described { inner: MemoryConnector::new("mailbox"), info };
    let engine = Engine::new(store().await);
    let j = job(Arc::new(MemoryConnector::new("crm")), Arc::new(mailbox));
    let (side, rule, text) = policy_error(engine.sync_user(&j, &only(C)).await.unwrap_err());
    assert_eq!((side, rule), (Some(Side::Mailbox), Rule::Scopes("graph".into())));
    assert!(text.contains("Mail.Read"), "{text}");
    assert_eq!(audit(&engine).await.len(), 1);
}

#[tokio::test]
async fn an_out_of_scope_mailbox_fails_the_sync() {
    let mut policy = Policy::default();
    policy.providers.get_mut("graph").unwrap().mailboxes =
        Some(MailboxScope { domains: ["example.com".into()].into(), ..MailboxScope::default() });
    let engine = Engine::new(store().await).with_policy(Arc::new(policy));
    let crm = MemoryConnector::new("crm");
    crm.insert(ada("n"));

    let outside = MemoryConnector::new("mailbox");
    let j = job(
        Arc::new(crm.clone()),
        Arc::new(Described { inner: outside.clone(), info: graph(Some("mallory@evil.example")) }),
    );
    let (side, rule, _) = policy_error(engine.sync_user(&j, &only(C)).await.unwrap_err());
    assert_eq!((side, rule), (Some(Side::Mailbox), Rule::Mailboxes("graph".into())));
    assert_eq!(outside.len(C), 0);

    // A connection that does not name its mailbox serves the job's user, who is in scope.
    let inside = MemoryConnector::new("mailbox");
    let j = job(Arc::new(crm), Arc::new(Described { inner: inside.clone(), info: graph(None) }));
    engine.sync_user(&j, &only(C)).await.unwrap();
    assert_eq!(inside.len(C), 1);
}

#[tokio::test]
async fn an_invalid_policy_fails_every_sync() {
    let mut policy = Policy::default();
    policy.audit.retention_days = 0;
    let engine = Engine::new(store().await).with_policy(Arc::new(policy));
    let j = job(Arc::new(MemoryConnector::new("crm")), Arc::new(MemoryConnector::new("mailbox")));
    let err = engine.sync_user(&j, &only(C)).await.unwrap_err();
    assert!(matches!(err, EngineError::Policy { side: None, error: PolicyError::Invalid { .. } }), "{err}");
    assert!(err.to_string().contains("audit.retention_days"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Plans

#[tokio::test]
async fn private_events_are_skipped_by_default_and_the_denial_is_audited() {
    let crm = MemoryConnector::new("crm");
    crm.insert(meeting("Board meeting", Privacy::Private));
    crm.insert(meeting("Team lunch", Privacy::Normal));
    let mailbox = MemoryConnector::new("mailbox");
    let engine = Engine::new(store().await);
    let j = job(Arc::new(crm), Arc::new(mailbox.clone()));
    let report = engine.sync_user(&j, &only(E)).await.unwrap();
    let o = report.object(E).unwrap();
    assert_eq!(o.applied("create"), 1);
    assert_eq!((o.policy_denied(), o.policy_transformed()), (1, 0));
    assert!(report.to_string().contains("1 denied by `data.private_events`"), "{report}");
    assert_eq!(events(&mailbox).iter().map(|e| e.subject.clone().unwrap()).collect::<Vec<_>>(), ["Team lunch"]);
    let entries = audit(&engine).await;
    let deny = entries.iter().find(|e| e.action == "policy_deny").unwrap();
    assert_eq!(deny.outcome, "denied");
    assert_eq!(deny.side, Some(Side::Crm));
    assert!(deny.reason.contains("data.private_events"), "{}", deny.reason);
    assert_eq!(deny.detail.as_ref().unwrap()["rule"], "data.private_events");
    let again = engine.sync_user(&j, &only(E)).await.unwrap();
    assert_eq!(again.total_writes(), 0);
}

#[tokio::test]
async fn private_events_sync_as_busy_only_placeholders_and_stay_so() {
    let policy = Policy {
        data: DataRules { private_events: PrivateEvents::BusyOnly, ..DataRules::default() },
        ..Policy::default()
    };
    let crm = MemoryConnector::new("crm");
    let id = crm.insert(meeting("Board meeting", Privacy::Private));
    let mailbox = MemoryConnector::new("mailbox");
    let engine = Engine::new(store().await).with_policy(Arc::new(policy));
    let j = job(Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    let report = engine.sync_user(&j, &only(E)).await.unwrap();
    assert_eq!(report.object(E).unwrap().policy_transformed(), 1);
    let copy = &events(&mailbox)[0];
    assert_eq!(copy.subject.as_deref(), Some("Busy"));
    assert_eq!((copy.description.as_ref(), copy.location.as_ref()), (None, None));
    assert!(copy.attendees.is_empty());
    assert_eq!((copy.privacy, copy.timing.clone()), (Privacy::Private, EventTiming { start: at(9), end: at(10) }));
    let transform = audit(&engine).await.into_iter().find(|e| e.action == "policy_transform").unwrap();
    assert_eq!(transform.outcome, "transformed");
    assert!(transform.reason.contains("busy-only"), "{}", transform.reason);

    // Stable: nothing to do, and a new description in Salesforce never reaches the mailbox.
    assert_eq!(engine.sync_user(&j, &only(E)).await.unwrap().total_writes(), 0);
    crm.edit(E, &id, |r| {
        if let Record::Event(e) = r {
            e.description = Some("Merger talks".into());
        }
    });
    assert_eq!(engine.sync_user(&j, &only(E)).await.unwrap().total_writes(), 0);
    assert_eq!(engine.sync_user(&j, &only(E)).await.unwrap().total_writes(), 0);
    assert_eq!(events(&mailbox)[0].description, None);
    // A move is carried.
    crm.edit(E, &id, |r| {
        if let Record::Event(e) = r {
            e.timing = EventTiming { start: at(14), end: at(15) };
        }
    });
    assert_eq!(engine.sync_user(&j, &only(E)).await.unwrap().total_writes(), 1);
    assert_eq!(events(&mailbox)[0].timing.start, at(14));
    assert_eq!(events(&mailbox)[0].subject.as_deref(), Some("Busy"));
    // The placeholder's "Busy" never flows back over the original's subject.
    assert_eq!(engine.sync_user(&j, &only(E)).await.unwrap().total_writes(), 0);
    assert_eq!(events(&crm)[0].subject.as_deref(), Some("Board meeting"));
}

#[tokio::test]
async fn private_events_can_sync_in_full() {
    let policy =
        Policy { data: DataRules { private_events: PrivateEvents::Full, ..DataRules::default() }, ..Policy::default() };
    let crm = MemoryConnector::new("crm");
    crm.insert(meeting("Board meeting", Privacy::Private));
    let mailbox = MemoryConnector::new("mailbox");
    let engine = Engine::new(store().await).with_policy(Arc::new(policy));
    let report = engine.sync_user(&job(Arc::new(crm.clone()), Arc::new(mailbox.clone())), &only(E)).await.unwrap();
    assert!(report.object(E).unwrap().policy.is_empty());
    let copy = &events(&mailbox)[0];
    assert_eq!(copy.subject.as_deref(), Some("Board meeting"));
    assert_eq!(copy.description.as_deref(), Some("Quarterly numbers"));
    assert_eq!(copy.privacy, Privacy::Private);
}

#[tokio::test]
async fn an_excluded_domain_is_not_synced_either_way() {
    let policy = Policy {
        data: DataRules { excluded_domains: ["competitor.example".into()].into(), ..DataRules::default() },
        ..Policy::default()
    };
    let crm = MemoryConnector::new("crm");
    crm.insert(ada("n"));
    let mailbox = MemoryConnector::new("mailbox");
    mailbox.insert(Record::Contact(Contact {
        family_name: Some("Spy".into()),
        emails: vec![EmailAddress { kind: AddressKind::Work, address: "spy@competitor.example".into() }],
        ..Contact::default()
    }));
    let engine = Engine::new(store().await).with_policy(Arc::new(policy));
    let j = job(Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    let report = engine.sync_user(&j, &only(C)).await.unwrap();
    assert_eq!(report.object(C).unwrap().applied("create"), 1);
    assert_eq!(report.object(C).unwrap().policy_denied(), 1);
    assert_eq!(crm.len(C), 1, "the excluded contact stayed in the mailbox");
    assert_eq!(mailbox.len(C), 2);
    let deny = audit(&engine).await.into_iter().find(|e| e.action == "policy_deny").unwrap();
    assert_eq!(deny.side, Some(Side::Mailbox));
    assert_eq!(deny.detail.as_ref().unwrap()["rule"], "data.excluded_domains");
}

#[tokio::test]
async fn a_field_that_never_leaves_salesforce_stays_there() {
    let policy = Policy::from_toml_str("[data]\ncrm_only_fields = [\"notes\"]").unwrap();
    let crm = MemoryConnector::new("crm");
    let id = crm.insert(ada("Credit risk: high"));
    let mailbox = MemoryConnector::new("mailbox");
    let engine = Engine::new(store().await).with_policy(Arc::new(policy));
    let j = job(Arc::new(crm.clone()), Arc::new(mailbox.clone()));
    engine.sync_user(&j, &only(C)).await.unwrap();
    let copy = match &mailbox.records(C)[0].1 {
        Record::Contact(c) => c.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!((copy.family_name.as_deref(), copy.notes.as_deref()), (Some("Lovelace"), None));
    assert_eq!(engine.sync_user(&j, &only(C)).await.unwrap().total_writes(), 0, "no phantom edit");
    crm.edit(C, &id, |r| {
        if let Record::Contact(c) = r {
            c.notes = Some("Credit risk: very high".into());
        }
    });
    let report = engine.sync_user(&j, &only(C)).await.unwrap();
    assert_eq!(report.total_writes(), 0);
    assert_eq!(report.object(C).unwrap().policy_transformed(), 1);
    assert_eq!(engine.sync_user(&j, &only(C)).await.unwrap().total_writes(), 0);
}

#[tokio::test]
async fn a_dry_run_shows_the_plan_after_the_policy_and_audits_nothing() {
    let crm = MemoryConnector::new("crm");
    crm.insert(meeting("Board meeting", Privacy::Private));
    let mailbox = MemoryConnector::new("mailbox");
    let engine = Engine::new(store().await);
    let j = job(Arc::new(crm), Arc::new(mailbox.clone()));
    let report = engine.sync_user(&j, &SyncOptions { dry_run: true, ..only(E) }).await.unwrap();
    let o = report.object(E).unwrap();
    let plan = o.plan.as_ref().unwrap();
    assert!(plan.writes().next().is_none());
    assert!(plan.to_string().contains("denied by policy rule `data.private_events`"), "{plan}");
    assert_eq!(o.policy[0].effect, Effect::Deny);
    assert_eq!(o.planned("skip"), 1);
    assert!(audit(&engine).await.is_empty());
    assert_eq!(mailbox.len(E), 0);
}

// ---------------------------------------------------------------------------------------------
// Audit retention

#[derive(Clone)]
struct FixedClock(Arc<Mutex<DateTime<Utc>>>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A fixed time, its clock, a store and an engine keeping 30 days of audit.
async fn retention_30_days() -> (DateTime<Utc>, FixedClock, Arc<SqliteStore>, Engine) {
    let now = DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z").unwrap().with_timezone(&Utc);
    let clock = FixedClock(Arc::new(Mutex::new(now)));
    let store = store().await;
    let policy = Policy::from_toml_str("[audit]\nretention_days = 30").unwrap();
    let engine =
        Engine::with(store.clone(), Arc::new(clock.clone()), EngineOptions::default()).with_policy(Arc::new(policy));
    (now, clock, store, engine)
}

/// An audit entry of the test user written at `at`.
fn audit_entry(at: DateTime<Utc>, reason: &str) -> AuditEntry {
    AuditEntry {
        at,
        user: USER.into(),
        object: C,
        side: None,
        record_id: None,
        action: "update".into(),
        outcome: "applied".into(),
        reason: reason.into(),
        detail: None,
    }
}

#[tokio::test]
async fn the_audit_log_is_pruned_to_the_policy_retention_at_the_end_of_a_sync() {
    let (now, clock, store, engine) = retention_30_days().await;
    let entry = |age_days: i64, reason: &str| audit_entry(now - Duration::days(age_days), reason);
    store.append_audit(&[entry(31, "old"), entry(29, "recent")]).await.unwrap();
    let crm = MemoryConnector::new("crm");
    crm.insert(ada("n"));
    let j = job(Arc::new(crm), Arc::new(MemoryConnector::new("mailbox")));
    engine.sync_user(&j, &only(C)).await.unwrap();
    let reasons: Vec<String> = audit(&engine).await.into_iter().map(|e| e.reason).collect();
    assert!(!reasons.contains(&"old".to_owned()), "{reasons:?}");
    assert!(reasons.contains(&"recent".to_owned()));
    assert!(reasons.len() > 1, "this sync's writes are audited");

    // Forty days later, an explicit prune removes the rest.
    *clock.0.lock().unwrap() = now + Duration::days(40);
    assert_eq!(engine.prune_audit().await.unwrap(), reasons.len() as u64);
    assert!(audit(&engine).await.is_empty());
}

/// Pruning is a write every other user's sync waits behind: the syncs of one minute prune once.
#[tokio::test]
async fn syncs_prune_the_audit_log_at_most_once_a_minute() {
    let (now, clock, store, engine) = retention_30_days().await;
    let old = |reason: &str| audit_entry(now - Duration::days(31), reason);
    let j = job(Arc::new(MemoryConnector::new("crm")), Arc::new(MemoryConnector::new("mailbox")));
    let reasons = |engine: &Engine| {
        let engine = engine.clone();
        async move { audit(&engine).await.into_iter().map(|e| e.reason).collect::<Vec<String>>() }
    };

    store.append_audit(&[old("first")]).await.unwrap();
    engine.sync_user(&j, &only(C)).await.unwrap();
    assert!(!reasons(&engine).await.contains(&"first".to_owned()), "the engine's first sync prunes");

    store.append_audit(&[old("second")]).await.unwrap();
    *clock.0.lock().unwrap() = now + Duration::seconds(30);
    engine.sync_user(&j, &only(C)).await.unwrap();
    assert!(reasons(&engine).await.contains(&"second".to_owned()), "not again within the minute");

    *clock.0.lock().unwrap() = now + Duration::seconds(61);
    engine.sync_user(&j, &only(C)).await.unwrap();
    assert!(!reasons(&engine).await.contains(&"second".to_owned()), "a minute on, the next sync prunes");
}
