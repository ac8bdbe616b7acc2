//! Writing: creates, updates and deletes, sent concurrently (at most
//! [`DavConfig::write_concurrency`](super::DavConfig::write_concurrency) at once), one result per
//! write.
//!
//! - **Create**: `PUT` + `If-None-Match: *` to `tandem-<key>.ics`/`.vcf` in the collection, so a
//!   repeated create never duplicates: a 412 means a previous attempt landed, so the resource is
//!   read back, and brought to what this create writes (with `If-Match`) when it differs.
//! - **Update**: the current bodies of a batch's updates come in multigets first; each is parsed,
//!   patched with [`Record::set`], written over the existing text (keeping what Tandem does not
//!   own) and `PUT` with `If-Match: <etag>`; a 412, or an etag that is not the expected one, is
//!   [`ConnectorError::PreconditionFailed`].
//! - **Delete**: `DELETE` with `If-Match`.
//!
//! Versions are etags; a server that answers a `PUT` without `ETag` is asked with a multiget.

use std::collections::HashMap;
use std::sync::Arc;

use tandem_connector::http::Response;
use tandem_connector::{ConnectorError, WriteOp, WriteResult, Written};
use tandem_core::model::{ObjectKind, Record};
use tandem_core::plan::FieldChange;
use tandem_core::state::{Change, ChangeKind, IdempotencyKey, RecordId, Version};

use super::Inner;
use super::client::{CALENDAR_TYPE, Precondition, VCARD_TYPE};
use super::{map, xml};

fn content_type(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Event => CALENDAR_TYPE,
        ObjectKind::Contact => VCARD_TYPE,
    }
}

fn rejected(code: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::Rejected { code: code.to_owned(), message: message.into() }
}

/// Whether a 412 is a plain `If-Match`/`If-None-Match` failure rather than a CalDAV/CardDAV
/// precondition named in a `DAV:error` body (Xandikos answers a UID conflict with 412).
fn plain_412(response: &Response) -> bool {
    response.status().as_u16() == 412 && xml::error_condition(response.body()).is_none()
}

/// The error of a write the server refused. A 403, 409 or 412 naming a precondition in a
/// `DAV:error` body (CalDAV's `no-uid-conflict`, `valid-calendar-data`,
/// `supported-calendar-component`…) refuses this record, not the credentials: `Rejected` with
/// the precondition as the code. A plain 412 is `PreconditionFailed`.
fn write_error(response: &Response) -> ConnectorError {
    let status = response.status().as_u16();
    if matches!(status, 403 | 409 | 412)
        && let Some(condition) = xml::error_condition(response.body())
    {
        return rejected(&condition, format!("{}: HTTP {status}: precondition `{condition}`", response.request()));
    }
    response.error().unwrap_or_else(|| rejected("unexpected", format!("{}: HTTP {status}", response.request())))
}

/// A batch's updates read ahead: each target's current text and change, by id.
type Current = HashMap<RecordId, (Option<String>, Change)>;

impl Inner {
    /// Applies `ops`: one result per op, in order.
    pub(crate) async fn apply(
        self: &Arc<Self>,
        kind: ObjectKind,
        ops: &[WriteOp],
    ) -> Result<Vec<WriteResult>, ConnectorError> {
        let updates: Vec<RecordId> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Update { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect();
        let current: Arc<Current> = Arc::new(if updates.is_empty() {
            HashMap::new()
        } else {
            self.multiget(kind, &updates).await?.into_iter().map(|(text, c)| (c.id.clone(), (text, c))).collect()
        });
        let mut results: Vec<Option<WriteResult>> = vec![None; ops.len()];
        let mut tasks = tokio::task::JoinSet::new();
        let mut next = ops.iter().cloned().enumerate();
        loop {
            while tasks.len() < self.config.write_concurrency {
                let Some((i, op)) = next.next() else { break };
                let (inner, current) = (Arc::clone(self), Arc::clone(&current));
                tasks.spawn(async move { (i, inner.write(kind, op, &current).await) });
            }
            match tasks.join_next().await {
                Some(Ok((i, result))) => results[i] = Some(result),
                Some(Err(e)) => tracing::error!(error = %e, "DAV write task failed"),
                None => break,
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ConnectorError::Transient { message: "DAV write task failed".into() })))
            .collect())
    }

    async fn write(&self, kind: ObjectKind, op: WriteOp, current: &Current) -> WriteResult {
        match op {
            WriteOp::Create { key, record } => self.create(kind, &key, &record).await,
            WriteOp::Update { id, expected, patch } => match current.get(&id) {
                Some((text, change)) => self.update(kind, text.as_deref(), change, &expected, &patch).await,
                None => Err(ConnectorError::NotFound),
            },
            WriteOp::Delete { id, expected } => self.delete(&id, &expected).await,
        }
    }

    /// The URL of the resource a create with `key` writes.
    async fn key_url(&self, kind: ObjectKind, key: &IdempotencyKey) -> Result<url::Url, ConnectorError> {
        let collection = self.collection(kind).await?;
        let at = self.http.url(self.http.base(), &collection.href)?;
        Ok(self.http.url(&at, &map::resource_name(kind, key))?)
    }

    /// The etag a `PUT` answered, or the one a multiget reads.
    async fn etag_after(
        &self,
        kind: ObjectKind,
        id: &RecordId,
        response: &Response,
    ) -> Result<Version, ConnectorError> {
        if let Some(etag) = response.header("ETag").filter(|e| !e.is_empty()) {
            return Ok(Version::new(etag));
        }
        let mut read = self.multiget(kind, std::slice::from_ref(id)).await?;
        match read.pop() {
            Some((_, change)) if !matches!(change.kind, ChangeKind::Deleted) => Ok(change.version),
            _ => Err(ConnectorError::Transient { message: "DAV: the written resource cannot be read back".into() }),
        }
    }

    async fn create(&self, kind: ObjectKind, key: &IdempotencyKey, record: &Record) -> WriteResult {
        let url = self.key_url(kind, key).await?;
        let id = RecordId::new(self.http.href(&url));
        let body = map::create_body(kind, key, record)?;
        let response = self.http.put(&url, body.clone(), content_type(kind), Precondition::Absent).await?;
        match response.status().as_u16() {
            200..=299 => Ok(Written::new(id.clone(), self.etag_after(kind, &id, &response).await?)),
            412 if plain_412(&response) => self.settle_existing(kind, &id, &url, &body).await,
            _ => Err(write_error(&response)),
        }
    }

    /// A create found its resource already there (an earlier attempt whose answer was lost):
    /// the resource as it is, brought to `body` when it holds something else.
    async fn settle_existing(&self, kind: ObjectKind, id: &RecordId, url: &url::Url, body: &str) -> WriteResult {
        let mut read = self.multiget(kind, std::slice::from_ref(id)).await?;
        let Some((Some(text), change)) = read.pop() else {
            return Err(ConnectorError::Transient {
                message: "DAV: a create met a resource that then vanished".into(),
            });
        };
        let wanted = map::parse(kind, body).ok().flatten();
        if change.record().is_some() && change.record() == wanted.as_ref() {
            return Ok(Written::new(id.clone(), change.version));
        }
        let Some(record) = wanted else { return Err(rejected("unreadable", "DAV: the record could not be written")) };
        let merged = map::update_body(kind, &text, &record)?;
        let etag = change.version.as_str().to_owned();
        let response = self.http.put(url, merged, content_type(kind), Precondition::Matches(&etag)).await?;
        match response.status().as_u16() {
            200..=299 => Ok(Written::new(id.clone(), self.etag_after(kind, id, &response).await?)),
            _ => Err(write_error(&response)),
        }
    }

    async fn update(
        &self,
        kind: ObjectKind,
        text: Option<&str>,
        change: &Change,
        expected: &Version,
        patch: &[FieldChange],
    ) -> WriteResult {
        let (text, mut record) = match (&change.kind, text) {
            (ChangeKind::Upserted { record }, Some(text)) => (text, record.clone()),
            (ChangeKind::Invalid { reason }, _) => return Err(rejected("unreadable", reason.clone())),
            _ => return Err(ConnectorError::NotFound),
        };
        if !expected.as_str().is_empty() && expected != &change.version {
            return Err(ConnectorError::PreconditionFailed { current: Some(change.version.clone()) });
        }
        for fc in patch {
            record.set(&fc.field, fc.value.clone()).map_err(|e| rejected("invalid_field", e.to_string()))?;
        }
        let body = map::update_body(kind, text, &record)?;
        let url = self.http.url(self.http.base(), change.id.as_str())?;
        let etag = change.version.as_str();
        let precondition = if etag.is_empty() { Precondition::Unconditional } else { Precondition::Matches(etag) };
        let response = self.http.put(&url, body, content_type(kind), precondition).await?;
        match response.status().as_u16() {
            200..=299 => Ok(Written::new(change.id.clone(), self.etag_after(kind, &change.id, &response).await?)),
            412 if plain_412(&response) => Err(ConnectorError::PreconditionFailed { current: None }),
            _ => Err(write_error(&response)),
        }
    }

    async fn delete(&self, id: &RecordId, expected: &Version) -> WriteResult {
        let url = self.http.url(self.http.base(), id.as_str())?;
        let etag = Some(expected.as_str()).filter(|e| !e.is_empty());
        let response = self.http.delete(&url, etag).await?;
        match response.status().as_u16() {
            200..=299 => Ok(Written::new(id.clone(), Version::default())),
            412 if plain_412(&response) => Err(ConnectorError::PreconditionFailed { current: None }),
            _ => Err(write_error(&response)),
        }
    }

    /// The record created with `key`, if any (a `GET` of the derived name, as a multiget).
    pub(crate) async fn find_by_key(
        &self,
        kind: ObjectKind,
        key: &IdempotencyKey,
    ) -> Result<Option<Written>, ConnectorError> {
        let url = self.key_url(kind, key).await?;
        let id = RecordId::new(self.http.href(&url));
        let mut read = self.multiget(kind, std::slice::from_ref(&id)).await?;
        Ok(match read.pop() {
            Some((_, change)) if !matches!(change.kind, ChangeKind::Deleted) => Some(Written::new(id, change.version)),
            _ => None,
        })
    }
}
