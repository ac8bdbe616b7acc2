//! Sync-token expiry against real servers: a token the server refuses (Radicale answers 403,
//! Xandikos 412, both with `DAV:valid-sync-token`) is `CursorExpired`; the engine then reads the
//! calendar in full and re-links every pair, with no duplicate on either side. Also the
//! etag-listing fallback (for servers without `sync-collection`), run against the same servers.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod servers;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tandem_connector::{ConnectionInfo, Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::{ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, Cursor, IdempotencyKey, RecordId, Side};
use tandem_dav::dav::{DavConnector, SyncMethod};
use tandem_testkit::generate;

use servers::Kind;

/// The DAV connector, except that the next incremental pull sends a token the server never
/// issued (as after a server restore or a token pruned from its history).
struct Tampering {
    inner: Arc<DavConnector>,
    bogus: AtomicBool,
}

fn with_bogus_token(cursor: &Cursor) -> Cursor {
    let mut json: serde_json::Value = serde_json::from_slice(&cursor.0).unwrap();
    let token = json["token"].as_str().unwrap().to_owned();
    // Radicale's tokens are URLs of its own namespace; keep the shape, change the value.
    let bogus = match token.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/0000000000000000000000000000000000000000000000000000000000000000"),
        None => "0000000000000000000000000000000000000000".to_owned(),
    };
    json["token"] = serde_json::Value::String(bogus);
    Cursor(serde_json::to_vec(&json).unwrap())
}

#[async_trait]
impl Connector for Tampering {
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
        match cursor {
            Some(c) if self.bogus.swap(false, Ordering::SeqCst) => {
                self.inner.pull(object, Some(&with_bogus_token(c))).await
            }
            _ => self.inner.pull(object, cursor).await,
        }
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

async fn expiry(kind: Kind) {
    let Some(server) = servers::start(kind).await else { return };
    let dav = server.connector();
    let cal = server.calendar.clone();
    let first = dav.pull(ObjectKind::Event, None).await.unwrap();
    assert!(first.done && first.changes.is_empty());
    // Straight to the connector: a refused token, a cursor of another collection, garbage.
    let e = dav.pull(ObjectKind::Event, Some(&with_bogus_token(&first.cursor))).await.unwrap_err();
    assert_eq!(e, ConnectorError::CursorExpired);
    let other = dav.pull(ObjectKind::Contact, None).await.unwrap().cursor;
    assert_eq!(dav.pull(ObjectKind::Event, Some(&other)).await.unwrap_err(), ConnectorError::CursorExpired);
    assert_eq!(
        dav.pull(ObjectKind::Event, Some(&Cursor(b"{oops".to_vec()))).await.unwrap_err(),
        ConnectorError::CursorExpired
    );

    // Through the engine.
    let crm = Arc::new(tandem_connector::memory::MemoryConnector::new("memory"));
    for e in generate::events(5, 3, servers::anchor()) {
        crm.insert(Record::Event(e));
    }
    let body = servers::foreign_event("x-1@other", "Standup", "");
    assert_eq!(server.put(&format!("{cal}standup.ics"), &body, "text/calendar").await, 201);
    let tampering = Arc::new(Tampering { inner: dav.clone(), bogus: AtomicBool::new(false) });
    let store = Arc::new(tandem_store::SqliteStore::in_memory().await.unwrap());
    let engine = tandem_engine::Engine::new(store).with_policy(servers::policy());
    let job = tandem_engine::UserSync::new(
        servers::USER,
        tandem_engine::config::SyncConfig::named("dav"),
        crm.clone(),
        tampering.clone(),
    );
    let options = tandem_engine::SyncOptions { objects: Some(vec![ObjectKind::Event]), ..Default::default() };
    let r = engine.sync_user(&job, &options).await.unwrap();
    assert_eq!(r.object(ObjectKind::Event).unwrap().applied("create"), 4, "{r}");

    // An edit on the server, then a cycle whose token the server refuses.
    let body = servers::foreign_event("x-1@other", "Standup (later)", "");
    assert!(matches!(server.put(&format!("{cal}standup.ics"), &body, "text/calendar").await, 200 | 204));
    tampering.bogus.store(true, Ordering::SeqCst);
    let r = engine.sync_user(&job, &options).await.unwrap();
    println!("{r}");
    let o = r.object(ObjectKind::Event).unwrap();
    assert_eq!(o.full_resync, vec![Side::Mailbox], "{r}");
    assert_eq!((o.applied("create"), o.applied("delete")), (0, 0), "{r}");
    assert_eq!(server.members(ObjectKind::Event).await.len(), 4);
    assert_eq!(crm.len(ObjectKind::Event), 4);
    assert!(
        crm.records(ObjectKind::Event)
            .iter()
            .any(|(_, r)| matches!(r, Record::Event(e) if e.subject.as_deref() == Some("Standup (later)")))
    );
    let quiet = engine.sync_user(&job, &options).await.unwrap();
    assert_eq!(quiet.total_writes(), 0, "{quiet}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_token_expiry() {
    expiry(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_token_expiry() {
    expiry(Kind::Xandikos).await;
}

/// The fallback for servers without `sync-collection`: ctag, then an etag listing diffed
/// against the cursor's etags. Creates, edits and deletes by another client all come back; an
/// unchanged ctag costs one request.
async fn etag_listing(kind: Kind) {
    let Some(server) = servers::start(kind).await else { return };
    let dav = server.connector_with(|c| c.with_sync_method(SyncMethod::EtagListing).with_page_size(2));
    let cal = server.calendar.clone();
    for i in 0..3 {
        let body = servers::foreign_event(&format!("l-{i}@other"), &format!("Listed {i}"), "");
        assert_eq!(server.put(&format!("{cal}l{i}.ics"), &body, "text/calendar").await, 201);
    }
    // Three members, two per page.
    let p1 = dav.pull(ObjectKind::Event, None).await.unwrap();
    assert!(!p1.done && p1.changes.len() == 2);
    let p2 = dav.pull(ObjectKind::Event, Some(&p1.cursor)).await.unwrap();
    assert!(p2.done && p2.changes.len() == 1);
    let before = dav.requests_sent();
    let quiet = dav.pull(ObjectKind::Event, Some(&p2.cursor)).await.unwrap();
    assert!(quiet.done && quiet.changes.is_empty());
    assert_eq!(dav.requests_sent() - before, 1, "an unchanged ctag is one PROPFIND");

    let body = servers::foreign_event("l-1@other", "Listed 1 (edited)", "");
    assert!(matches!(server.put(&format!("{cal}l1.ics"), &body, "text/calendar").await, 200 | 204));
    let gone = server.request("DELETE", &format!("{cal}l2.ics"), None, &[]).await.0;
    assert!(matches!(gone, 200 | 204));
    let next = dav.pull(ObjectKind::Event, Some(&quiet.cursor)).await.unwrap();
    assert!(next.done);
    let mut seen: Vec<(String, bool)> = next
        .changes
        .iter()
        .map(|c| (c.id.as_str().rsplit('/').next().unwrap().to_owned(), matches!(c.kind, ChangeKind::Deleted)))
        .collect();
    seen.sort();
    assert_eq!(seen, vec![("l1.ics".to_owned(), false), ("l2.ics".to_owned(), true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_etag_listing() {
    etag_listing(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_etag_listing() {
    etag_listing(Kind::Xandikos).await;
}
