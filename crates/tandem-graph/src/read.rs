//! Reading: contact and calendar delta, fetch by id, lookup by idempotency key.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tandem_connector::rendezvous::{Meeting, Seat, join_pair};
use tandem_connector::{ConnectorError, ObjectPage, PullPage, Written};
use tandem_core::model::{ObjectKind, Record};
use tandem_core::state::{Change, ChangeKind, Cursor, IdempotencyKey, RecordId, Version};

use crate::connector::GraphConnector;
use crate::cursor::{self, EventCursor};
use crate::http::{Answer, Item, segment};
use crate::map::time::{dttz_instant, parse_instant};
use crate::map::{contact, event, types};

/// A query string, percent-encoded (Graph accepts `$` either way).
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// `'` doubled, for OData string literals.
pub(crate) fn odata_string(s: &str) -> String {
    s.replace('\'', "''")
}

/// The idempotency key in a value, if it is one of Tandem's (`tdm` and 32 hex digits): other
/// apps set `transactionId` too, and their events must not pass for Tandem's copies.
fn our_key(value: Option<&str>) -> Option<IdempotencyKey> {
    let v = value?.trim();
    let ok = v.len() == 35 && v.starts_with("tdm") && v[3..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| IdempotencyKey::from(v))
}

fn modified(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(parse_instant)
}

/// A contact row as a change.
pub(crate) fn contact_change(row: &Value, property: &str) -> Change {
    let id = row.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let parsed: Result<types::Contact, _> = serde_json::from_value(row.clone());
    let c = match parsed {
        Ok(c) => c,
        Err(e) => return invalid(id, format!("unreadable contact: {e}")),
    };
    let sync_key = c
        .single_value_extended_properties
        .iter()
        .flatten()
        .find(|p| p.id.eq_ignore_ascii_case(property))
        .and_then(|p| our_key(p.value.as_deref()));
    let kind = match contact::to_model(&c) {
        Ok(record) => ChangeKind::Upserted { record: Record::Contact(record) },
        Err(reason) => ChangeKind::Invalid { reason },
    };
    Change {
        id: RecordId::new(&c.id),
        version: Version::new(c.etag.clone().unwrap_or_default()),
        modified_at: modified(c.last_modified_date_time.as_deref()),
        sync_key,
        kind,
    }
}

/// A read's place at the rendezvous of [`GraphConnector::pull_two`]: its delta URL in, the
/// page out (`None`: read it alone).
type PageSeat = Seat<url::Url, Option<Answer>>;

fn invalid(id: String, reason: String) -> Change {
    Change {
        id: RecordId::from(id),
        version: Version::default(),
        modified_at: None,
        sync_key: None,
        kind: ChangeKind::Invalid { reason },
    }
}

/// An event (single instance or series master with its exceptions) as a change.
pub(crate) fn event_change(e: &types::Event) -> Change {
    let kind = match event::to_model(e) {
        Ok(Some(record)) => ChangeKind::Upserted { record: Record::Event(record) },
        Ok(None) => ChangeKind::Deleted,
        Err(reason) => ChangeKind::Invalid { reason },
    };
    Change {
        id: RecordId::new(&e.id),
        version: Version::new(e.etag.clone().unwrap_or_default()),
        modified_at: modified(e.last_modified_date_time.as_deref()),
        sync_key: our_key(e.transaction_id.as_deref()),
        kind,
    }
}

/// Whether a delta row holds a whole item rather than the changed properties only.
fn complete(row: &Value, keys: &[&str]) -> bool {
    keys.iter().all(|k| row.get(*k).is_some())
}

fn links(answer: &Answer) -> Result<(String, bool), ConnectorError> {
    if let Some(next) = answer.body.get("@odata.nextLink").and_then(Value::as_str) {
        return Ok((next.to_owned(), false));
    }
    if let Some(delta) = answer.body.get("@odata.deltaLink").and_then(Value::as_str) {
        return Ok((delta.to_owned(), true));
    }
    Err(ConnectorError::Transient { message: "a delta page without @odata.nextLink or @odata.deltaLink".to_owned() })
}

fn rows(answer: &Answer) -> Vec<Value> {
    answer.body.get("value").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn delta_failure(answer: &Answer) -> ConnectorError {
    match answer.delta_error() {
        // The folder or the sync state is gone: start over.
        Some(ConnectorError::NotFound) => ConnectorError::CursorExpired,
        Some(e) => e,
        None => ConnectorError::Transient { message: format!("unexpected delta answer: HTTP {}", answer.status) },
    }
}

impl GraphConnector {
    /// The synced contact folder's id: found by name, created when missing.
    pub(crate) async fn folder_id(&self, create: bool) -> Result<Option<String>, ConnectorError> {
        let mut cached = self.folder.lock().await;
        if let Some(id) = cached.as_ref() {
            return Ok(Some(id.clone()));
        }
        let name = self.config.contact_folder.clone();
        let find = || async {
            let filter = format!("displayName eq '{}'", odata_string(&name));
            let url = self.http.url(&format!(
                "{}/contactFolders?{}",
                self.http.mailbox_path(),
                query(&[("$filter", &filter)])
            ))?;
            let answer = self.http.get(url, "/users/{id}/contactFolders", false).await?;
            if let Some(e) = answer.error() {
                return Err(e);
            }
            Ok::<_, ConnectorError>(
                rows(&answer)
                    .iter()
                    .find(|f| {
                        f.get("displayName").and_then(Value::as_str).is_some_and(|d| d.eq_ignore_ascii_case(&name))
                    })
                    .and_then(|f| f.get("id").and_then(Value::as_str))
                    .map(str::to_owned),
            )
        };
        if let Some(id) = find().await? {
            *cached = Some(id.clone());
            return Ok(Some(id));
        }
        if !create {
            return Ok(None);
        }
        let url = self.http.url(&format!("{}/contactFolders", self.http.mailbox_path()))?;
        let answer =
            self.http.post(url, &serde_json::json!({"displayName": name}), "/users/{id}/contactFolders").await?;
        let id = if answer.ok() {
            answer.id().map(str::to_owned)
        } else if answer.status == 409 {
            // Created meanwhile by someone else.
            find().await?
        } else {
            return Err(answer
                .error()
                .unwrap_or(ConnectorError::Transient { message: "folder creation failed".into() }));
        };
        let id = id.ok_or_else(|| ConnectorError::Transient { message: "the folder has no id".to_owned() })?;
        tracing::info!(folder = %self.config.contact_folder, "created the synced contact folder");
        *cached = Some(id.clone());
        Ok(Some(id))
    }

    /// Two objects' pages with their delta requests in one `$batch`: each object's read runs as
    /// alone up to its delta request, and the two requests meet at a rendezvous so that one sends
    /// both. What follows (the by-id reads of incomplete rows, series masters) stays per object.
    pub(crate) async fn pull_two(
        &self,
        first: &ObjectPage,
        second: &ObjectPage,
    ) -> [Result<PullPage, ConnectorError>; 2] {
        let (a, b) = join_pair(
            |seat| self.pull_object(first.0, first.1.as_ref(), Some(seat)),
            |seat| self.pull_object(second.0, second.1.as_ref(), Some(seat)),
        )
        .await;
        [a, b]
    }

    pub(crate) async fn pull_object(
        &self,
        object: ObjectKind,
        cursor: Option<&Cursor>,
        seat: Option<PageSeat>,
    ) -> Result<PullPage, ConnectorError> {
        match object {
            ObjectKind::Contact => self.pull_contacts(cursor, seat).await,
            ObjectKind::Event => self.pull_events(cursor, seat).await,
        }
    }

    /// A delta page: alone, or through `seat` in one `$batch` with the other object's. A page the
    /// batch could not carry is read alone.
    async fn delta_page(
        &self,
        url: url::Url,
        template: &str,
        seat: Option<PageSeat>,
    ) -> Result<Answer, ConnectorError> {
        let Some(seat) = seat else { return self.http.delta_page(url, template).await };
        let shared = match seat.meet(url.clone()).await {
            Meeting::Answered(answer) => answer,
            Meeting::Abandoned => None,
            Meeting::Lead(mut lead) => {
                let urls = lead.take_requests();
                let answers = self.http.delta_pages(&urls).await;
                lead.answer(answers).flatten()
            }
        };
        match shared {
            Some(answer) => Ok(answer),
            None => self.http.delta_page(url, template).await,
        }
    }

    pub(crate) async fn pull_contacts(
        &self,
        cursor: Option<&Cursor>,
        seat: Option<PageSeat>,
    ) -> Result<PullPage, ConnectorError> {
        let mut state = match cursor {
            None => {
                let folder = self.folder_id(true).await?.unwrap_or_default();
                let link = self.http.url(&format!(
                    "{}/contactFolders/{}/contacts/delta",
                    self.http.mailbox_path(),
                    segment(&folder)
                ))?;
                cursor::contacts(folder, link.to_string())
            }
            Some(c) => cursor::decode_contacts(c)?,
        };
        let url = self.http.check_link(&state.link)?;
        let answer = self.delta_page(url, "/users/{id}/contactFolders/{id}/contacts/delta", seat).await?;
        if !answer.ok() {
            return Err(delta_failure(&answer));
        }
        let property = self.config.sync_key_property.clone();
        let mut changes = Vec::new();
        let mut partial = Vec::new();
        for row in rows(&answer) {
            let Some(id) = row.get("id").and_then(Value::as_str).map(str::to_owned) else { continue };
            if row.get("@removed").is_some() {
                changes.push(Change::deleted(id));
            } else if complete(&row, &["surname", "givenName", "emailAddresses"]) {
                changes.push(contact_change(&row, &property));
            } else {
                partial.push(RecordId::from(id));
            }
        }
        if !partial.is_empty() {
            changes.extend(self.fetch_contacts(&partial).await?);
        }
        let (link, done) = links(&answer)?;
        state.link = link;
        Ok(PullPage { changes, cursor: cursor::encode(&state), done })
    }

    pub(crate) async fn fetch_contacts(&self, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        let expand =
            format!("singleValueExtendedProperties($filter=id eq '{}')", odata_string(&self.config.sync_key_property));
        let items: Vec<Item> = ids
            .iter()
            .map(|id| {
                Item::get(format!(
                    "{}/contacts/{}?{}",
                    self.http.mailbox_path(),
                    segment(&id.0),
                    query(&[("$expand", &expand)])
                ))
            })
            .collect();
        let mut out = Vec::new();
        for (id, answer) in ids.iter().zip(self.http.batch(&items).await) {
            let answer = answer?;
            match answer.error() {
                None => out.push(contact_change(&answer.body, &self.config.sync_key_property)),
                Some(ConnectorError::NotFound) => out.push(Change::deleted(id.0.clone())),
                Some(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The calendar window for a delta opened now.
    fn window(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let now = (self.clock)();
        let start = now - self.config.window_past;
        let end = now + self.config.window_future;
        let trim = |t: DateTime<Utc>| t - chrono::Duration::seconds(i64::from(chrono::Timelike::second(&t)));
        (trim(start), trim(end))
    }

    fn calendar_link(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<String, ConnectorError> {
        let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let url = self.http.url(&format!(
            "{}/calendarView/delta?{}",
            self.http.mailbox_path(),
            query(&[("startDateTime", &fmt(start)), ("endDateTime", &fmt(end))])
        ))?;
        Ok(url.to_string())
    }

    pub(crate) async fn pull_events(
        &self,
        cursor: Option<&Cursor>,
        seat: Option<PageSeat>,
    ) -> Result<PullPage, ConnectorError> {
        let mut state = match cursor {
            None => {
                let (start, end) = self.window();
                EventCursor::new(self.calendar_link(start, end)?, start, end)
            }
            Some(c) => cursor::decode_events(c)?,
        };
        if state.round_start {
            state.round_start = false;
            state.fetched.clear();
            let (start, _) = self.window();
            if state.window_start + self.config.window_roll < start {
                state.roll = true;
            }
        }
        let url = self.http.check_link(&state.link)?;
        let answer = self.delta_page(url, "/users/{id}/calendarView/delta", seat).await?;
        if !answer.ok() {
            return Err(delta_failure(&answer));
        }
        let mut changes = Vec::new();
        let mut masters: BTreeSet<String> = BTreeSet::new();
        let mut verify: Vec<String> = Vec::new();
        for row in rows(&answer) {
            let Some(id) = row.get("id").and_then(Value::as_str).map(str::to_owned) else { continue };
            if row.get("@removed").is_some() {
                match state.master_of(&id) {
                    Some(m) if !m.is_empty() => {
                        masters.insert(m.to_owned());
                    }
                    _ => verify.push(id),
                }
                continue;
            }
            let kind = row.get("type").and_then(Value::as_str).unwrap_or_default();
            let master = row.get("seriesMasterId").and_then(Value::as_str).filter(|m| !m.is_empty());
            match (kind, master) {
                ("seriesMaster", _) => {
                    masters.insert(id);
                }
                (_, Some(m)) => {
                    state.remember(&id, m);
                    masters.insert(m.to_owned());
                }
                _ if complete(&row, &["subject", "start", "end", "isAllDay"]) => {
                    match serde_json::from_value::<types::Event>(row.clone()) {
                        Ok(e) => changes.push(event_change(&e)),
                        Err(err) => changes.push(invalid(id, format!("unreadable event: {err}"))),
                    }
                }
                _ => verify.push(id),
            }
        }
        // Removed or partial rows: read them. Gone means deleted; still there but outside the
        // window means it left the window, which is not a delete.
        if !verify.is_empty() {
            let items: Vec<Item> = verify
                .iter()
                .map(|id| Item::get(format!("{}/events/{}", self.http.mailbox_path(), segment(id))))
                .collect();
            for (id, answer) in verify.iter().zip(self.http.batch(&items).await) {
                let answer = answer?;
                match answer.error() {
                    Some(ConnectorError::NotFound) => changes.push(Change::deleted(id.clone())),
                    Some(e) => return Err(e),
                    None => {
                        let e: types::Event = serde_json::from_value(answer.body.clone())
                            .map_err(|err| ConnectorError::Transient { message: format!("unreadable event: {err}") })?;
                        match (e.kind.as_deref(), e.series_master_id.as_deref()) {
                            (Some("seriesMaster"), _) => {
                                masters.insert(e.id.clone());
                            }
                            (_, Some(m)) if !m.is_empty() => {
                                state.remember(&e.id, m);
                                masters.insert(m.to_owned());
                            }
                            _ if in_window(&e, state.window_start, state.window_end) => changes.push(event_change(&e)),
                            _ => tracing::debug!("an event left the calendar window; not a delete"),
                        }
                    }
                }
            }
        }
        let to_fetch: Vec<String> = masters.into_iter().filter(|m| !state.fetched.contains(m)).collect();
        if !to_fetch.is_empty() {
            for (master, result) in to_fetch.iter().zip(self.fetch_event_rows(&to_fetch).await?) {
                match result {
                    Some(e) => changes.push(event_change(&e)),
                    None => {
                        changes.push(Change::deleted(master.clone()));
                        state.forget(master);
                    }
                }
                state.fetched.push(master.clone());
            }
        }
        let (link, end_of_round) = links(&answer)?;
        let done = if end_of_round && state.roll {
            // Move the window: read the new one in full within this round.
            let (start, end) = self.window();
            state.window_start = start;
            state.window_end = end;
            state.link = self.calendar_link(start, end)?;
            state.roll = false;
            false
        } else {
            state.link = link;
            state.round_start = end_of_round;
            end_of_round
        };
        Ok(PullPage { changes, cursor: cursor::encode(&state), done })
    }

    /// Reads events (singles or series masters with their exceptions); `None` for the ones gone.
    pub(crate) async fn fetch_event_rows(&self, ids: &[String]) -> Result<Vec<Option<types::Event>>, ConnectorError> {
        let items: Vec<Item> = ids
            .iter()
            .map(|id| {
                Item::get(format!(
                    "{}/events/{}?{}",
                    self.http.mailbox_path(),
                    segment(id),
                    query(&[("$expand", "exceptionOccurrences")])
                ))
            })
            .collect();
        let mut out = Vec::new();
        for answer in self.http.batch(&items).await {
            let answer = answer?;
            match answer.error() {
                None => out.push(Some(
                    serde_json::from_value(answer.body.clone())
                        .map_err(|e| ConnectorError::Transient { message: format!("unreadable event: {e}") })?,
                )),
                Some(ConnectorError::NotFound) => out.push(None),
                Some(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub(crate) async fn fetch_events(&self, ids: &[RecordId]) -> Result<Vec<Change>, ConnectorError> {
        let raw: Vec<String> = ids.iter().map(|i| i.0.to_string()).collect();
        let rows = self.fetch_event_rows(&raw).await?;
        Ok(ids
            .iter()
            .zip(rows)
            .map(|(id, row)| match row {
                Some(e) => event_change(&e),
                None => Change::deleted(id.0.clone()),
            })
            .collect())
    }

    /// Finds the item created with `key`: by the sync-key extended property, in the synced
    /// contact folder or among events.
    pub(crate) async fn lookup(
        &self,
        object: tandem_core::model::ObjectKind,
        key: &IdempotencyKey,
    ) -> Result<Option<Written>, ConnectorError> {
        let filter = format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{}' and ep/value eq '{}')",
            odata_string(&self.config.sync_key_property),
            odata_string(key.as_str())
        );
        let q = query(&[("$filter", &filter), ("$select", "id")]);
        let (path, template) = match object {
            tandem_core::model::ObjectKind::Contact => {
                let Some(folder) = self.folder_id(false).await? else { return Ok(None) };
                (
                    format!("{}/contactFolders/{}/contacts?{q}", self.http.mailbox_path(), segment(&folder)),
                    "/users/{id}/contactFolders/{id}/contacts",
                )
            }
            tandem_core::model::ObjectKind::Event => {
                (format!("{}/events?{q}", self.http.mailbox_path()), "/users/{id}/events")
            }
        };
        let answer = self.http.get(self.http.url(&path)?, template, false).await?;
        if let Some(e) = answer.error() {
            return Err(e);
        }
        Ok(rows(&answer).first().and_then(|row| {
            let id = row.get("id").and_then(Value::as_str)?;
            let etag = row.get("@odata.etag").and_then(Value::as_str).unwrap_or_default();
            Some(Written::new(RecordId::from(id), Version::new(etag)))
        }))
    }
}

/// Whether a single event overlaps the window.
fn in_window(e: &types::Event, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    match (e.start.as_ref().and_then(dttz_instant), e.end.as_ref().and_then(dttz_instant)) {
        (Some(s), Some(en)) => s < end && en > start,
        _ => true,
    }
}
