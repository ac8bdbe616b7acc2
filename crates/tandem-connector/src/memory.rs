//! A faithful in-memory connector: versions, a change feed with cursors, deletes, paging,
//! idempotent creates, partial failures and throttling on demand.
//!
//! It stands in for a CRM or a mailbox in tests, examples and the quickstart. Clones share one
//! store, so a test can play the user editing records while the engine syncs them.
//!
//! ```
//! use tandem_connector::memory::MemoryConnector;
//! use tandem_core::model::{Contact, ObjectKind, Record};
//! let crm = MemoryConnector::new("crm");
//! let id = crm.insert(Record::Contact(Contact { family_name: Some("Hopper".into()), ..Contact::default() }));
//! crm.edit(ObjectKind::Contact, &id, |r| if let Record::Contact(c) = r { c.title = Some("RADM".into()) });
//! assert_eq!(crm.len(ObjectKind::Contact), 1);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tandem_core::capabilities::Capabilities;
use tandem_core::model::{ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, Cursor, IdempotencyKey, RecordId, Version};

use crate::{Connector, ConnectorError, Identity, PullPage, WriteOp, WriteResult, Written};

/// A hook that may fail a write before it is applied.
pub type WriteHook = Arc<dyn Fn(&WriteOp) -> Option<ConnectorError> + Send + Sync>;

#[derive(Debug, Clone)]
struct Stored {
    record: Record,
    version: u64,
    sync_key: Option<IdempotencyKey>,
    modified_seq: u64,
}

#[derive(Default)]
struct Collection {
    records: BTreeMap<RecordId, Stored>,
    /// (sequence number, record id) of every change, in order.
    log: Vec<(u64, RecordId)>,
    by_key: HashMap<IdempotencyKey, RecordId>,
    /// Cursors older than this are expired.
    horizon: u64,
}

/// Call counters, for reports and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// `pull` calls (pages).
    pub pulls: u64,
    /// `fetch` calls.
    pub fetches: u64,
    /// `apply` calls (batches).
    pub applies: u64,
    /// Individual writes applied.
    pub writes: u64,
    /// `find_by_key` calls.
    pub lookups: u64,
    /// `apply_mixed` calls that carried several objects in one request (also counted in
    /// `applies`, once each).
    pub mixed: u64,
    /// `pull_mixed` calls that read several objects' pages in one request (also counted in
    /// `pulls`, once each).
    pub mixed_pulls: u64,
}

struct Inner {
    identity: String,
    capabilities: Capabilities,
    page_size: usize,
    idempotent_creates: bool,
    version_only: bool,
    mixed_batches: bool,
    seq: u64,
    next_id: u64,
    contacts: Collection,
    events: Collection,
    fail_next: Vec<ConnectorError>,
    fail_fetches: Vec<ConnectorError>,
    lose_next_responses: usize,
    write_hook: Option<WriteHook>,
    counts: CallCounts,
}

impl Inner {
    fn collection(&mut self, object: ObjectKind) -> &mut Collection {
        match object {
            ObjectKind::Contact => &mut self.contacts,
            ObjectKind::Event => &mut self.events,
        }
    }

    fn tick(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn injected_failure(&mut self) -> Result<(), ConnectorError> {
        if self.fail_next.is_empty() { Ok(()) } else { Err(self.fail_next.remove(0)) }
    }
}

/// The in-memory connector. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct MemoryConnector {
    provider: String,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for MemoryConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryConnector").field("provider", &self.provider).finish_non_exhaustive()
    }
}

fn modified_at(seq: u64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + chrono::Duration::seconds(i64::try_from(seq).unwrap_or(i64::MAX))
}

fn lost_response() -> ConnectorError {
    ConnectorError::Transient { message: "connection reset after the request was sent".into() }
}

fn version_of(v: u64) -> Version {
    Version::from(format!("v{v}"))
}

fn parse_cursor(cursor: &Cursor) -> Option<(&str, u64, Option<&str>)> {
    let text = std::str::from_utf8(&cursor.0).ok()?;
    let mut parts = text.splitn(3, ':');
    let kind = parts.next()?;
    let seq = parts.next()?.parse().ok()?;
    Some((kind, seq, parts.next()))
}

impl MemoryConnector {
    /// An empty store with unlimited capabilities, pages of 100 and idempotent creates.
    pub fn new(provider: impl Into<String>) -> Self {
        let provider = provider.into();
        MemoryConnector {
            inner: Arc::new(Mutex::new(Inner {
                identity: format!("user@{provider}.test"),
                capabilities: Capabilities::everything(),
                page_size: 100,
                idempotent_creates: true,
                version_only: false,
                mixed_batches: false,
                seq: 0,
                next_id: 0,
                contacts: Collection::default(),
                events: Collection::default(),
                fail_next: Vec::new(),
                fail_fetches: Vec::new(),
                lose_next_responses: 0,
                write_hook: None,
                counts: CallCounts::default(),
            })),
            provider,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep going with it.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Builder: sets the capabilities this side declares.
    pub fn with_capabilities(self, capabilities: Capabilities) -> Self {
        self.lock().capabilities = capabilities;
        self
    }

    /// Builder: sets the page size of the change feed.
    pub fn with_page_size(self, page_size: usize) -> Self {
        self.lock().page_size = page_size.max(1);
        self
    }

    /// Builder: incremental pulls (from a saved cursor) report upserted records by version only
    /// ([`ChangeKind::VersionOnly`]), as a CalDAV `sync-collection` round does; full listings
    /// and [`Connector::fetch`] still carry the records.
    pub fn with_version_only_increments(self) -> Self {
        self.lock().version_only = true;
        self
    }

    /// Builder: lets the engine sync both objects at once ([`Connector::concurrent_objects`])
    /// and takes both objects' writes in one request ([`Connector::apply_mixed`]), as Graph's
    /// `$batch` and Salesforce's sObject collections do: one call counted, one injected
    /// failure or lost response for the whole request. Pages read together
    /// ([`Connector::pull_mixed`]) count as one pull.
    pub fn with_mixed_batches(self) -> Self {
        self.lock().mixed_batches = true;
        self
    }

    /// Builder: sets the identity reported by [`Connector::identity`].
    pub fn with_identity(self, identity: impl Into<String>) -> Self {
        self.lock().identity = identity.into();
        self
    }

    /// Whether a create with a key already used returns the existing record (the default) or
    /// creates a duplicate, as a provider without idempotency support would.
    pub fn set_idempotent_creates(&self, on: bool) {
        self.lock().idempotent_creates = on;
    }

    /// Adds a record as a user would; returns its id.
    pub fn insert(&self, record: Record) -> RecordId {
        let mut inner = self.lock();
        inner.next_id += 1;
        let prefix = match record.kind() {
            ObjectKind::Contact => "c",
            ObjectKind::Event => "e",
        };
        let id = RecordId::from(format!("{}-{prefix}{:06}", self.provider, inner.next_id));
        let seq = inner.tick();
        let object = record.kind();
        let col = inner.collection(object);
        col.records.insert(id.clone(), Stored { record, version: seq, sync_key: None, modified_seq: seq });
        col.log.push((seq, id.clone()));
        id
    }

    /// Edits a record as a user would. Returns false when it does not exist.
    pub fn edit(&self, object: ObjectKind, id: &RecordId, f: impl FnOnce(&mut Record)) -> bool {
        let mut inner = self.lock();
        let seq = inner.tick();
        let col = inner.collection(object);
        let Some(stored) = col.records.get_mut(id) else { return false };
        f(&mut stored.record);
        stored.version = seq;
        stored.modified_seq = seq;
        col.log.push((seq, id.clone()));
        true
    }

    /// Deletes a record as a user would. Returns false when it did not exist.
    pub fn remove(&self, object: ObjectKind, id: &RecordId) -> bool {
        let mut inner = self.lock();
        let seq = inner.tick();
        let col = inner.collection(object);
        let existed = col.records.remove(id).is_some();
        if existed {
            col.log.push((seq, id.clone()));
        }
        existed
    }

    /// Gives a record a new id, keeping its content and the idempotency key Tandem created it
    /// with, as a folder move does on providers without immutable ids (EWS item ids, CalDAV
    /// resource names): the feed reports the old id deleted and the new one created. Returns the
    /// new id, or `None` when the record does not exist.
    pub fn move_record(&self, object: ObjectKind, id: &RecordId) -> Option<RecordId> {
        let mut inner = self.lock();
        inner.next_id += 1;
        let next_id = inner.next_id;
        // Two log entries, two sequence numbers: a page boundary may fall between them.
        let gone = inner.tick();
        let seq = inner.tick();
        let provider = self.provider.clone();
        let col = inner.collection(object);
        let mut stored = col.records.remove(id)?;
        let prefix = match object {
            ObjectKind::Contact => "c",
            ObjectKind::Event => "e",
        };
        let new_id = RecordId::from(format!("{provider}-{prefix}{next_id:06}"));
        stored.version = seq;
        stored.modified_seq = seq;
        if let Some(key) = &stored.sync_key {
            col.by_key.insert(key.clone(), new_id.clone());
        }
        col.records.insert(new_id.clone(), stored);
        col.log.push((gone, id.clone()));
        col.log.push((seq, new_id.clone()));
        Some(new_id)
    }

    /// Every record's id with the idempotency key it was created with, if Tandem created it.
    pub fn keys(&self, object: ObjectKind) -> Vec<(RecordId, Option<IdempotencyKey>)> {
        self.lock().collection(object).records.iter().map(|(id, s)| (id.clone(), s.sync_key.clone())).collect()
    }

    /// A record's current value.
    pub fn get(&self, object: ObjectKind, id: &RecordId) -> Option<Record> {
        self.lock().collection(object).records.get(id).map(|s| s.record.clone())
    }

    /// All records of a kind, by id.
    pub fn records(&self, object: ObjectKind) -> Vec<(RecordId, Record)> {
        self.lock().collection(object).records.iter().map(|(id, s)| (id.clone(), s.record.clone())).collect()
    }

    /// Number of records of a kind.
    pub fn len(&self, object: ObjectKind) -> usize {
        self.lock().collection(object).records.len()
    }

    /// Invalidates every cursor issued so far, as a provider evicting sync state does.
    pub fn expire_cursors(&self) {
        let mut inner = self.lock();
        // Cursors issued from now on sit at or past the horizon.
        let horizon = inner.tick();
        inner.contacts.horizon = horizon;
        inner.events.horizon = horizon;
    }

    /// Makes the next `fetch` calls fail with these errors, in order, replacing failures not
    /// used yet (an empty list ends them); other calls go through.
    pub fn set_fetch_failures(&self, errors: impl IntoIterator<Item = ConnectorError>) {
        self.lock().fail_fetches = errors.into_iter().collect();
    }

    /// Makes the next calls (of any method) fail with these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = ConnectorError>) {
        self.lock().fail_next.extend(errors);
    }

    /// Makes the next `n` calls answer `Throttled` with the given retry-after.
    pub fn throttle_next(&self, n: usize, retry_after: Duration) {
        self.fail_next((0..n).map(|_| ConnectorError::Throttled { retry_after: Some(retry_after) }));
    }

    /// Makes the next `n` `apply` calls apply their writes but then fail as if the response had
    /// been lost (or the process had died right after sending).
    pub fn lose_next_responses(&self, n: usize) {
        self.lock().lose_next_responses = n;
    }

    /// Drops every failure and lost answer still waiting to strike.
    pub fn clear_faults(&self) {
        let mut inner = self.lock();
        inner.fail_next.clear();
        inner.lose_next_responses = 0;
    }

    /// Installs a hook that can reject individual writes (partial failure).
    pub fn set_write_hook(&self, hook: Option<WriteHook>) {
        self.lock().write_hook = hook;
    }

    /// Call counters so far.
    pub fn counts(&self) -> CallCounts {
        self.lock().counts
    }

    /// One object's batch, applied: the batch limit checked, each write applied in turn.
    fn apply_batch(inner: &mut Inner, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        let max = inner.capabilities.object(object).max_batch;
        if ops.len() > max {
            return Err(ConnectorError::Rejected {
                code: "BATCH_TOO_LARGE".into(),
                message: format!("{} writes in one batch; at most {max}", ops.len()),
            });
        }
        let results: Vec<WriteResult> = ops.iter().map(|op| MemoryConnector::apply_one(inner, object, op)).collect();
        inner.counts.writes += results.iter().filter(|r| r.is_ok()).count() as u64;
        Ok(results)
    }

    fn apply_one(inner: &mut Inner, object: ObjectKind, op: &WriteOp) -> WriteResult {
        if let Some(err) = inner.write_hook.as_ref().and_then(|hook| hook(op)) {
            return Err(err);
        }
        let seq = inner.tick();
        let idempotent = inner.idempotent_creates;
        inner.next_id += 1;
        let next_id = inner.next_id;
        let prefix = match object {
            ObjectKind::Contact => "c",
            ObjectKind::Event => "e",
        };
        let provider = inner.identity.split('@').nth(1).unwrap_or("memory").trim_end_matches(".test").to_owned();
        let col = inner.collection(object);
        match op {
            WriteOp::Create { key, record } => {
                if record.kind() != object {
                    return Err(ConnectorError::Rejected {
                        code: "WRONG_KIND".into(),
                        message: "record kind mismatch".into(),
                    });
                }
                if idempotent
                    && let Some(existing) =
                        col.by_key.get(key).and_then(|id| col.records.get(id).map(|s| (id.clone(), s.version)))
                {
                    return Ok(Written::new(existing.0, version_of(existing.1)));
                }
                let id = RecordId::from(format!("{provider}-{prefix}{next_id:06}"));
                col.records.insert(
                    id.clone(),
                    Stored { record: record.clone(), version: seq, sync_key: Some(key.clone()), modified_seq: seq },
                );
                col.by_key.insert(key.clone(), id.clone());
                col.log.push((seq, id.clone()));
                Ok(Written::new(id, version_of(seq)))
            }
            WriteOp::Update { id, expected, patch } => {
                let Some(stored) = col.records.get_mut(id) else { return Err(ConnectorError::NotFound) };
                if !expected.as_str().is_empty() && *expected != version_of(stored.version) {
                    return Err(ConnectorError::PreconditionFailed { current: Some(version_of(stored.version)) });
                }
                let mut updated = stored.record.clone();
                for change in patch {
                    updated.set(&change.field, change.value.clone()).map_err(|e| ConnectorError::Rejected {
                        code: "INVALID_FIELD".into(),
                        message: e.to_string(),
                    })?;
                }
                stored.record = updated;
                stored.version = seq;
                stored.modified_seq = seq;
                col.log.push((seq, id.clone()));
                Ok(Written::new(id.clone(), version_of(seq)))
            }
            WriteOp::Delete { id, expected } => {
                let Some(stored) = col.records.get(id) else { return Err(ConnectorError::NotFound) };
                if !expected.as_str().is_empty() && *expected != version_of(stored.version) {
                    return Err(ConnectorError::PreconditionFailed { current: Some(version_of(stored.version)) });
                }
                col.records.remove(id);
                col.log.push((seq, id.clone()));
                Ok(Written::new(id.clone(), Version::default()))
            }
        }
    }
}

fn change_for(id: &RecordId, stored: Option<&Stored>) -> Change {
    match stored {
        Some(s) => Change {
            id: id.clone(),
            version: version_of(s.version),
            modified_at: Some(modified_at(s.modified_seq)),
            sync_key: s.sync_key.clone(),
            kind: ChangeKind::Upserted { record: s.record.clone() },
        },
        None => Change::deleted(id.0.clone()),
    }
}

#[async_trait]
impl Connector for MemoryConnector {
    fn provider(&self) -> &str {
        &self.provider
    }

    fn capabilities(&self) -> Capabilities {
        self.lock().capabilities.clone()
    }

    fn connection(&self) -> crate::ConnectionInfo {
        let mut info = crate::ConnectionInfo::in_memory(self.provider.clone());
        info.principal = Some(self.lock().identity.clone());
        info
    }

    async fn identity(&self) -> Result<Identity, ConnectorError> {
        let mut inner = self.lock();
        inner.injected_failure()?;
        Ok(Identity { user: inner.identity.clone(), display_name: None })
    }

    async fn pull<'a>(&self, object: ObjectKind, cursor: Option<&'a Cursor>) -> Result<PullPage, ConnectorError> {
        let mut inner = self.lock();
        inner.counts.pulls += 1;
        inner.injected_failure()?;
        let page_size = inner.page_size;
        let version_only = inner.version_only;
        let now = inner.seq;
        let col = inner.collection(object);
        let parsed = match cursor {
            None => None,
            Some(c) => Some(parse_cursor(c).ok_or(ConnectorError::CursorExpired)?),
        };
        match parsed {
            // Full listing, paged by id; ends with a cursor at the listing's snapshot.
            None | Some(("full", _, _)) => {
                let (snapshot, after) = match parsed {
                    Some((_, snapshot, after)) => (snapshot, after.map(RecordId::from)),
                    None => (now, None),
                };
                let mut changes = Vec::new();
                let mut last = None;
                let range = col.records.iter().filter(|(id, _)| after.as_ref().is_none_or(|a| *id > a));
                for (id, stored) in range.take(page_size + 1) {
                    if changes.len() == page_size {
                        let after = last.unwrap_or_default();
                        return Ok(PullPage {
                            changes,
                            cursor: Cursor(format!("full:{snapshot}:{after}").into_bytes()),
                            done: false,
                        });
                    }
                    changes.push(change_for(id, Some(stored)));
                    last = Some(id.0.clone());
                }
                Ok(PullPage { changes, cursor: Cursor(format!("seq:{snapshot}").into_bytes()), done: true })
            }
            Some(("seq", after, _)) => {
                if after < col.horizon {
                    return Err(ConnectorError::CursorExpired);
                }
                // The log is in sequence order: find the first unseen entry without scanning.
                let pending = &col.log[col.log.partition_point(|(seq, _)| *seq <= after)..];
                let page = &pending[..pending.len().min(page_size)];
                let done = pending.len() <= page_size;
                let last = page.last().map_or(after, |(seq, _)| *seq);
                let changes = page
                    .iter()
                    .map(|(_, id)| match col.records.get(id) {
                        Some(stored) if version_only => Change {
                            sync_key: stored.sync_key.clone(),
                            ..Change::version_only(id.0.clone(), version_of(stored.version).0)
                        },
                        stored => change_for(id, stored),
                    })
                    .collect();
                Ok(PullPage { changes, cursor: Cursor(format!("seq:{last}").into_bytes()), done })
            }
            Some(_) => Err(ConnectorError::CursorExpired),
        }
    }

    async fn fetch(&self, object: ObjectKind, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        let mut inner = self.lock();
        inner.counts.fetches += 1;
        inner.injected_failure()?;
        if !inner.fail_fetches.is_empty() {
            return Err(inner.fail_fetches.remove(0));
        }
        let col = inner.collection(object);
        Ok(ids.iter().map(|id| change_for(id, col.records.get(id))).collect())
    }

    async fn apply(&self, object: ObjectKind, ops: &[WriteOp]) -> Result<Vec<WriteResult>, ConnectorError> {
        let mut inner = self.lock();
        inner.counts.applies += 1;
        inner.injected_failure()?;
        let results = MemoryConnector::apply_batch(&mut inner, object, ops)?;
        if inner.lose_next_responses > 0 {
            inner.lose_next_responses -= 1;
            return Err(lost_response());
        }
        Ok(results)
    }

    fn concurrent_objects(&self) -> bool {
        self.lock().mixed_batches
    }

    async fn pull_mixed(&self, pages: &[crate::ObjectPage]) -> Vec<Result<PullPage, ConnectorError>> {
        let answers = crate::pull_separately(self, pages).await;
        let mut inner = self.lock();
        if inner.mixed_batches && pages.len() > 1 {
            // One request carried them all.
            inner.counts.pulls -= pages.len() as u64 - 1;
            inner.counts.mixed_pulls += 1;
        }
        answers
    }

    async fn apply_mixed(&self, batches: &[crate::ObjectWrites]) -> Vec<Result<Vec<WriteResult>, ConnectorError>> {
        if !self.lock().mixed_batches {
            return crate::apply_separately(self, batches).await;
        }
        let mut inner = self.lock();
        inner.counts.applies += 1;
        inner.counts.mixed += 1;
        if let Err(error) = inner.injected_failure() {
            return batches.iter().map(|_| Err(error.clone())).collect();
        }
        let answers: Vec<_> =
            batches.iter().map(|(object, ops)| MemoryConnector::apply_batch(&mut inner, *object, ops)).collect();
        if inner.lose_next_responses > 0 {
            inner.lose_next_responses -= 1;
            return batches.iter().map(|_| Err(lost_response())).collect();
        }
        answers
    }

    async fn find_by_key(&self, object: ObjectKind, key: &IdempotencyKey) -> Result<Option<Written>, ConnectorError> {
        let mut inner = self.lock();
        inner.counts.lookups += 1;
        inner.injected_failure()?;
        let col = inner.collection(object);
        // Scan rather than use `by_key`: a provider without idempotent creates may hold several.
        Ok(col
            .records
            .iter()
            .find(|(_, s)| s.sync_key.as_ref() == Some(key))
            .map(|(id, s)| Written::new(id.clone(), version_of(s.version))))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tandem_core::model::Contact;

    use super::*;

    fn contact(name: &str) -> Record {
        Record::Contact(Contact { family_name: Some(name.into()), ..Contact::default() })
    }

    async fn drain(c: &MemoryConnector, cursor: Option<Cursor>) -> (Vec<Change>, Cursor) {
        let mut cursor = cursor;
        let mut all = Vec::new();
        loop {
            let page = c.pull(ObjectKind::Contact, cursor.as_ref()).await.unwrap();
            all.extend(page.changes);
            cursor = Some(page.cursor);
            if page.done {
                return (all, cursor.unwrap_or_default());
            }
        }
    }

    #[tokio::test]
    async fn feed_pages_and_reports_changes_and_deletes() {
        let c = MemoryConnector::new("m").with_page_size(2);
        let ids: Vec<RecordId> = (0..5).map(|i| c.insert(contact(&format!("n{i}")))).collect();
        let (full, cursor) = drain(&c, None).await;
        assert_eq!(full.len(), 5);
        c.edit(ObjectKind::Contact, &ids[1], |_| {});
        c.remove(ObjectKind::Contact, &ids[2]);
        let (delta, cursor) = drain(&c, Some(cursor)).await;
        assert_eq!(delta.len(), 2);
        assert!(matches!(delta[1].kind, ChangeKind::Deleted));
        let (none, _) = drain(&c, Some(cursor.clone())).await;
        assert!(none.is_empty());
        c.expire_cursors();
        assert_eq!(c.pull(ObjectKind::Contact, Some(&cursor)).await, Err(ConnectorError::CursorExpired));
    }

    #[tokio::test]
    async fn writes_check_versions_and_creates_are_idempotent() {
        let c = MemoryConnector::new("m");
        let key = IdempotencyKey("tdm1".into());
        let create = WriteOp::Create { key: key.clone(), record: contact("a") };
        let first = c.apply(ObjectKind::Contact, std::slice::from_ref(&create)).await.unwrap();
        let again = c.apply(ObjectKind::Contact, std::slice::from_ref(&create)).await.unwrap();
        assert_eq!(first, again);
        assert_eq!(c.len(ObjectKind::Contact), 1);
        c.set_idempotent_creates(false);
        c.apply(ObjectKind::Contact, &[create]).await.unwrap();
        assert_eq!(c.len(ObjectKind::Contact), 2);
        let id = first[0].as_ref().unwrap().id.clone();
        let stale = WriteOp::Update { id: id.clone(), expected: Version("v0".into()), patch: vec![] };
        let res = c.apply(ObjectKind::Contact, &[stale]).await.unwrap();
        assert!(matches!(res[0], Err(ConnectorError::PreconditionFailed { .. })));
        assert!(c.find_by_key(ObjectKind::Contact, &key).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn failures_on_demand() {
        let c = MemoryConnector::new("m");
        c.throttle_next(1, Duration::from_secs(2));
        assert!(matches!(c.pull(ObjectKind::Contact, None).await, Err(ConnectorError::Throttled { .. })));
        assert!(c.pull(ObjectKind::Contact, None).await.is_ok());
        c.lose_next_responses(1);
        let op = WriteOp::Create { key: IdempotencyKey("k".into()), record: contact("x") };
        assert!(c.apply(ObjectKind::Contact, &[op]).await.is_err());
        assert_eq!(c.len(ObjectKind::Contact), 1, "the write happened even though the answer was lost");
    }
}
