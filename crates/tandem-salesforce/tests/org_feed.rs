//! The organization feed ([`SalesforceFeed`]) driven by the engine against the fake org: one
//! feed read for every user, routed by owner and invitation; a member's first read racing the
//! feed; a feed that fails mid-run and a lost answer followed by a user's edit.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use serde_json::json;
use tandem_connector::memory::MemoryConnector;
use tandem_connector::{ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::{ObjectKind, Record};
use tandem_core::state::{Change, Cursor, IdempotencyKey, RecordId};
use tandem_engine::config::SyncConfig;
use tandem_engine::{Engine, SyncOptions, UserSync};
use tandem_policy::Policy;
use tandem_salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector, SalesforceFeed};
use tandem_store::SqliteStore;
use tandem_testkit::keys;

const C: ObjectKind = ObjectKind::Contact;
const E: ObjectKind = ObjectKind::Event;
const BOTH: [ObjectKind; 2] = [C, E];

async fn engine() -> Engine {
    Engine::new(Arc::new(SqliteStore::in_memory().await.unwrap())).with_policy(Arc::new(Policy::for_loopback_tests()))
}

fn sync_config() -> SyncConfig {
    let mut config = SyncConfig::named("sales");
    config.events.window = None;
    config
}

/// A connector for `username` on the fake org.
fn connector_as(org: &common::Org, username: &str) -> SalesforceConnector {
    let base = common::config(&org.fake, &org.server);
    let fc = org.fake.config();
    let mut config = SalesforceConfig::new(
        AuthConfig::JwtBearer {
            consumer_key: fc.consumer_key,
            username: username.to_owned(),
            private_key_pem: tandem_connector::http::Secret::new(keys::TEST_RSA_KEY_PEM),
        },
        base.login_url.clone(),
    );
    config.middle_name = true;
    SalesforceConnector::new(config, common::http()).unwrap()
}

fn family_names(m: &MemoryConnector) -> Vec<String> {
    let mut names: Vec<String> = m
        .records(C)
        .into_iter()
        .map(|(_, r)| match r {
            Record::Contact(c) => c.family_name.unwrap_or_default(),
            _ => String::new(),
        })
        .collect();
    names.sort();
    names
}

fn subjects(m: &MemoryConnector) -> Vec<String> {
    let mut s: Vec<String> = m
        .records(E)
        .into_iter()
        .map(|(_, r)| match r {
            Record::Event(e) => e.subject.unwrap_or_default(),
            _ => String::new(),
        })
        .collect();
    s.sort();
    s
}

struct Member {
    mailbox: MemoryConnector,
    job: UserSync,
}

fn member(org: &common::Org, username: &str) -> Member {
    let mailbox = MemoryConnector::new(username);
    let crm: Arc<dyn Connector> = Arc::new(connector_as(org, username));
    let job = UserSync::new(username, sync_config(), crm, Arc::new(mailbox.clone())).with_crm_feed("org");
    Member { mailbox, job }
}

async fn sync(engine: &Engine, m: &Member) -> tandem_engine::SyncReport {
    let report = engine.sync_user(&m.job, &SyncOptions::default()).await.unwrap();
    for o in &report.objects {
        assert!(o.failed.is_empty() && o.quarantined.is_empty(), "{report}");
    }
    report
}

#[tokio::test]
async fn one_feed_read_serves_every_user_routed_by_owner_and_invitation() {
    let org = common::org().await;
    let bob_id = org.fake.add_user("bob@example.com", "Bob", "B", "Europe/Berlin");
    let cy_id = org.fake.add_user("cy@example.com", "Cy", "C", "Europe/Berlin");
    let contact =
        |owner: &str, last: &str| org.fake.insert("Contact", json!({ "LastName": last, "OwnerId": owner })).unwrap();
    let bob1 = contact(&bob_id, "Bob-One");
    contact(&bob_id, "Bob-Two");
    let cy1 = contact(&cy_id, "Cy-One");
    let review = org
        .fake
        .insert("Event", json!({ "Subject": "Review", "OwnerId": bob_id, "StartDateTime": "2026-02-03T15:00:00Z", "DurationInMinutes": 30 }))
        .unwrap();
    org.fake.invite(&review, &cy_id, "Accepted").unwrap();

    let engine = engine().await;
    let feed = SalesforceFeed::new(org.connector()).unwrap();
    // The feed's first run starts it (it reads no history); members then read their own data.
    let first = engine.run_feed("org", &feed, &BOTH).await.unwrap();
    assert_eq!(first.restarted, vec![C, E]);
    let (bob, cy) = (member(&org, "bob@example.com"), member(&org, "cy@example.com"));
    sync(&engine, &bob).await;
    sync(&engine, &cy).await;
    assert_eq!(family_names(&bob.mailbox), ["Bob-One", "Bob-Two"]);
    assert_eq!(family_names(&cy.mailbox), ["Cy-One"]);
    assert_eq!((subjects(&bob.mailbox), subjects(&cy.mailbox)), (vec!["Review".into()], vec!["Review".into()]));

    // Edits across the org: one feed run reads them all, and the users' cycles ask Salesforce
    // nothing.
    org.fake.update("Contact", &bob1, json!({ "LastName": "Bob-Renamed" })).unwrap();
    contact(&cy_id, "Cy-New");
    org.fake.delete("Contact", &cy1).unwrap();
    org.fake.update("Event", &review, json!({ "Subject": "Review (moved)" })).unwrap();
    let other = contact(&org.fake.user().id, "Not-A-Member");
    org.fake.controls().reset_counts();
    let run = engine.run_feed("org", &feed, &BOTH).await.unwrap();
    let feed_calls = org.fake.controls().total();
    assert!(run.changes >= 5, "{run:?}");
    org.fake.controls().reset_counts();
    let feeds = engine.store().feeds().expect("SQLite keeps feeds");
    let inbox_rows = |member: String, object| async move {
        feeds.feed_inbox("org", object, &member, 0).await.unwrap().expect("a member").len()
    };
    assert!(inbox_rows(bob_id.clone(), C).await > 0, "the feed run delivered Bob's edit");
    sync(&engine, &bob).await;
    let cy_report = sync(&engine, &cy).await;
    assert_eq!(org.fake.controls().total(), 0, "members' cycles read their inbox, not Salesforce");
    // Each cycle's commit dropped the inbox rows it read.
    for (member, object) in [(&bob_id, C), (&bob_id, E), (&cy_id, C), (&cy_id, E)] {
        assert_eq!(inbox_rows(member.clone(), object).await, 0, "{member} {object}");
    }
    assert_eq!(family_names(&bob.mailbox), ["Bob-Renamed", "Bob-Two"]);
    // The delete arrived; the default configuration unlinks rather than deletes the copy.
    assert_eq!(cy_report.object(C).unwrap().planned("unlink"), 1, "{cy_report}");
    assert_eq!(family_names(&cy.mailbox), ["Cy-New", "Cy-One"]);
    assert_eq!(subjects(&bob.mailbox), ["Review (moved)"]);
    assert_eq!(subjects(&cy.mailbox), ["Review (moved)"], "the invitee's copy follows");
    assert!(
        bob.mailbox
            .records(C)
            .iter()
            .chain(cy.mailbox.records(C).iter())
            .all(|(_, r)| { !matches!(r, Record::Contact(c) if c.family_name.as_deref() == Some("Not-A-Member")) })
    );
    let _ = other;

    // A quiet feed run costs a handful of calls whatever the number of users, and a quiet
    // member cycle costs none.
    // (Once the edits are older than the overlap a round re-reads.)
    org.fake.advance_clock(chrono::Duration::minutes(5));
    engine.run_feed("org", &feed, &BOTH).await.unwrap();
    org.fake.controls().reset_counts();
    engine.run_feed("org", &feed, &BOTH).await.unwrap();
    let quiet = org.fake.controls().total();
    // Contacts: changed, deleted; events: changed, invitations, deleted.
    assert_eq!(quiet, 5, "a quiet feed run (edits run: {feed_calls})");
    org.fake.controls().reset_counts();
    sync(&engine, &bob).await;
    assert_eq!(org.fake.controls().total(), 0);

    // The invitation is withdrawn: the event leaves the invitee's calendar only.
    let relation = org
        .fake
        .records("EventRelation")
        .into_iter()
        .find(|r| r["RelationId"] == json!(cy_id))
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .unwrap();
    org.fake.delete("EventRelation", &relation).unwrap();
    engine.run_feed("org", &feed, &BOTH).await.unwrap();
    sync(&engine, &bob).await;
    sync(&engine, &cy).await;
    assert_eq!(subjects(&cy.mailbox), Vec::<String>::new());
    assert_eq!(subjects(&bob.mailbox), ["Review (moved)"]);

    // A mailbox edit still goes to Salesforce through the user's own connection.
    let (id, record) = bob
        .mailbox
        .records(C)
        .into_iter()
        .find(|(_, r)| matches!(r, Record::Contact(c) if c.family_name.as_deref() == Some("Bob-Two")))
        .unwrap();
    let _ = record;
    assert!(bob.mailbox.edit(C, &id, |r| if let Record::Contact(c) = r {
        c.given_name = Some("Robert".into())
    }));
    sync(&engine, &bob).await;
    assert!(org.fake.records("Contact").iter().any(|r| r["FirstName"] == json!("Robert")));
    // Its echo comes back through the feed and changes nothing.
    engine.run_feed("org", &feed, &BOTH).await.unwrap();
    let report = engine.sync_user(&bob.job, &SyncOptions::default()).await.unwrap();
    assert_eq!(report.total_writes(), 0, "{report}");
}

/// Wraps a member's connector: during its first pull, the record is edited, the feed runs
/// (delivering that edit), and the record is edited again before the pull reads it. The feed's
/// delivery is then older than what the member's own read saw.
struct RacingFeed {
    inner: SalesforceConnector,
    engine: Engine,
    feed: Arc<SalesforceFeed>,
    fake: tandem_testkit::salesforce::SalesforceFake,
    record: String,
    done: AtomicBool,
}

#[async_trait]
impl Connector for RacingFeed {
    fn provider(&self) -> &str {
        self.inner.provider()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn connection(&self) -> ConnectionInfo {
        self.inner.connection()
    }
    async fn identity(&self) -> Result<Identity, ConnectorError> {
        self.inner.identity().await
    }
    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        if object == C && !self.done.swap(true, Ordering::SeqCst) {
            self.fake.update("Contact", &self.record, json!({ "LastName": "Second" })).unwrap();
            self.engine.run_feed("org", self.feed.as_ref(), &[C]).await.unwrap();
            self.fake.update("Contact", &self.record, json!({ "LastName": "Third" })).unwrap();
        }
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
    async fn feed_member(&self) -> Result<Option<String>, ConnectorError> {
        self.inner.feed_member().await
    }
}

#[tokio::test]
async fn a_delivery_made_during_a_member_s_first_read_is_re_read_not_trusted() {
    let org = common::org().await;
    let bob_id = org.fake.add_user("bob@example.com", "Bob", "B", "Europe/Berlin");
    let record = org.fake.insert("Contact", json!({ "LastName": "First", "OwnerId": bob_id })).unwrap();
    let engine = engine().await;
    let feed = Arc::new(SalesforceFeed::new(org.connector()).unwrap());
    engine.run_feed("org", feed.as_ref(), &[C]).await.unwrap();
    let mailbox = MemoryConnector::new("bob");
    let crm = RacingFeed {
        inner: connector_as(&org, "bob@example.com"),
        engine: engine.clone(),
        feed: feed.clone(),
        fake: org.fake.clone(),
        record: record.clone(),
        done: AtomicBool::new(false),
    };
    let job =
        UserSync::new("bob@example.com", sync_config(), Arc::new(crm), Arc::new(mailbox.clone())).with_crm_feed("org");
    let contacts = SyncOptions { objects: Some(vec![C]), ..SyncOptions::default() };
    engine.sync_user(&job, &contacts).await.unwrap();
    assert_eq!(family_names(&mailbox), ["Third"], "the member's own read saw the newest");
    // The inbox holds "Second" (delivered during the read). The next cycle, before any other
    // feed run, must not take it for news.
    let report = engine.sync_user(&job, &contacts).await.unwrap();
    assert_eq!(family_names(&mailbox), ["Third"], "{report}");
    // And the feed's next run delivers the newest, which is an echo.
    engine.run_feed("org", feed.as_ref(), &[C]).await.unwrap();
    engine.sync_user(&job, &contacts).await.unwrap();
    assert_eq!(family_names(&mailbox), ["Third"]);
}

#[tokio::test]
async fn a_feed_that_fails_mid_run_loses_nothing_and_a_lost_answer_then_an_edit_converge() {
    use tandem_testkit::server::CannedResponse;
    let org = common::org().await;
    let bob_id = org.fake.add_user("bob@example.com", "Bob", "B", "Europe/Berlin");
    let a = org.fake.insert("Contact", json!({ "LastName": "A", "OwnerId": bob_id })).unwrap();
    let engine = engine().await;
    let feed = SalesforceFeed::new(org.connector()).unwrap();
    engine.run_feed("org", &feed, &BOTH).await.unwrap();
    let bob = member(&org, "bob@example.com");
    sync(&engine, &bob).await;

    // Two bad feed runs in a row: every query fails (more than the retries).
    org.fake.update("Contact", &a, json!({ "LastName": "A2" })).unwrap();
    for _ in 0..2 {
        org.fake.controls().fail_next(200, CannedResponse::new(http::StatusCode::SERVICE_UNAVAILABLE));
        assert!(engine.run_feed("org", &feed, &BOTH).await.is_err());
        org.fake.controls().clear();
        // The member's cycle in between sees nothing new and loses nothing.
        sync(&engine, &bob).await;
        assert_eq!(family_names(&bob.mailbox), ["A"]);
    }
    engine.run_feed("org", &feed, &BOTH).await.unwrap();
    sync(&engine, &bob).await;
    assert_eq!(family_names(&bob.mailbox), ["A2"]);

    // The member edits in the mailbox, the answer of Salesforce's write is lost; then the
    // member edits again. The feed's echo of the first write must not undo the second edit.
    let (id, _) = bob.mailbox.records(C).into_iter().next().unwrap();
    let given = |name: &'static str| {
        move |r: &mut Record| {
            if let Record::Contact(c) = r {
                c.given_name = Some(name.into())
            }
        }
    };
    assert!(bob.mailbox.edit(C, &id, given("First-edit")));
    org.fake.controls().lose_next_matching(
        1,
        |req| req.method() == http::Method::PATCH || req.uri().path().contains("/composite"),
        CannedResponse::new(http::StatusCode::GATEWAY_TIMEOUT),
    );
    let _ = engine.sync_user(&bob.job, &SyncOptions::default()).await;
    assert!(bob.mailbox.edit(C, &id, given("Second-edit")));
    engine.run_feed("org", &feed, &BOTH).await.unwrap();
    sync(&engine, &bob).await;
    engine.run_feed("org", &feed, &BOTH).await.unwrap();
    sync(&engine, &bob).await;
    let row = org.fake.get("Contact", &a).unwrap();
    assert_eq!(row["FirstName"], json!("Second-edit"));
    let Some(Record::Contact(now)) = bob.mailbox.get(C, &id) else { panic!() };
    assert_eq!(now.given_name.as_deref(), Some("Second-edit"));
    assert_eq!(org.fake.count("Contact"), 1, "no duplicate");
}
