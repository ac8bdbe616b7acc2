//! Change feeds: `events.list` (`singleEvents=false`, `syncToken` as the cursor) and
//! `people.connections.list` (`requestSyncToken`/`syncToken`), filtered to the contact group.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tandem_connector::http::RequestSpec;
use tandem_connector::{ConnectorError, PullPage};
use tandem_core::model::Record;
use tandem_core::state::{Change, ChangeKind, Cursor, IdempotencyKey, RecordId, Version};

use crate::connector::GoogleConnector;
use crate::http::Context;
use crate::map::{contact, event};

/// This crate's cursor: a page token while paging, the sync token once a round is done.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct GoogleCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) page_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sync_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) time_min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) time_max: Option<String>,
}

impl GoogleCursor {
    pub(crate) fn decode(cursor: Option<&Cursor>) -> Result<Self, ConnectorError> {
        match cursor {
            None => Ok(GoogleCursor::default()),
            Some(c) => serde_json::from_slice(&c.0).map_err(|_| ConnectorError::CursorExpired),
        }
    }

    pub(crate) fn encode(&self) -> Cursor {
        Cursor(serde_json::to_vec(self).unwrap_or_default())
    }
}

fn invalid(id: &str, reason: String) -> Change {
    Change {
        id: RecordId::new(id),
        version: Version::default(),
        modified_at: None,
        sync_key: None,
        kind: ChangeKind::Invalid { reason },
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

impl GoogleConnector {
    pub(crate) async fn pull_events(&self, cursor: Option<&Cursor>) -> Result<PullPage, ConnectorError> {
        let mut state = GoogleCursor::decode(cursor)?;
        if state.sync_token.is_none() && state.time_min.is_none() {
            let now = chrono::Utc::now();
            state.time_min = Some((now - chrono::Duration::days(self.config.window_past_days)).to_rfc3339());
            state.time_max = Some((now + chrono::Duration::days(self.config.window_future_days)).to_rfc3339());
        }
        let url = self.config.calendar_url(&["calendars", &self.config.calendar_id, "events"])?;
        let page_size = self.config.page_size.to_string();
        let mut query: Vec<(&str, &str)> = vec![("singleEvents", "false"), ("maxResults", &page_size)];
        match &state.sync_token {
            Some(t) => query.push(("syncToken", t)),
            None => {
                query.push(("showDeleted", "true"));
                for (k, v) in [("timeMin", &state.time_min), ("timeMax", &state.time_max)] {
                    if let Some(v) = v {
                        query.push((k, v));
                    }
                }
            }
        }
        if let Some(p) = &state.page_token {
            query.push(("pageToken", p));
        }
        let (_, body) = self
            .http
            .call(RequestSpec::get(url).query(&query).template("GET /calendars/{id}/events"), Context::Sync)
            .await?;
        let items = body.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        let changes = self.event_changes(&items).await?;
        let next_page = str_of(&body, "nextPageToken").map(str::to_owned);
        let next_sync = str_of(&body, "nextSyncToken").map(str::to_owned);
        let done = next_page.is_none();
        let cursor = if done {
            GoogleCursor { sync_token: next_sync.or(state.sync_token), ..GoogleCursor::default() }
        } else {
            GoogleCursor { page_token: next_page, ..state }
        };
        Ok(PullPage { changes, cursor: cursor.encode(), done })
    }

    /// Rows → changes: masters and singles directly, instances by reading their series again.
    async fn event_changes(&self, items: &[Value]) -> Result<Vec<Change>, ConnectorError> {
        let mut out = Vec::new();
        let mut series: BTreeMap<String, ()> = BTreeMap::new();
        for item in items {
            let Some(id) = str_of(item, "id") else { continue };
            if let Some(master) = str_of(item, "recurringEventId") {
                series.insert(master.to_owned(), ());
                continue;
            }
            // A series has recurrence lines; an empty list (how a single event is written, so a
            // patch can end a series) is a single event, not worth reading again as a series.
            if item.get("recurrence").and_then(Value::as_array).is_some_and(|lines| !lines.is_empty()) {
                series.insert(id.to_owned(), ());
                continue;
            }
            out.push(event_change(id, item, &[]));
        }
        for master in series.keys() {
            out.push(self.read_series(master).await?);
        }
        Ok(out)
    }

    /// A series: the master and its exceptions (`events.list?iCalUID=…`), folded into one record.
    pub(crate) async fn read_series(&self, master_id: &str) -> Result<Change, ConnectorError> {
        let Some(master) = self.get_event(master_id).await? else { return Ok(Change::deleted(master_id)) };
        let Some(uid) = str_of(&master, "iCalUID") else { return Ok(event_change(master_id, &master, &[])) };
        let url = self.config.calendar_url(&["calendars", &self.config.calendar_id, "events"])?;
        let mut instances = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut query = vec![("iCalUID", uid), ("showDeleted", "true"), ("singleEvents", "false")];
            if let Some(p) = &page {
                query.push(("pageToken", p));
            }
            let (_, body) = self
                .http
                .call(
                    RequestSpec::get(url.clone()).query(&query).template("GET /calendars/{id}/events?iCalUID"),
                    Context::Item,
                )
                .await?;
            instances.extend(
                body.get("items")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|i| str_of(i, "recurringEventId") == Some(master_id))
                    .cloned(),
            );
            page = str_of(&body, "nextPageToken").map(str::to_owned);
            if page.is_none() {
                break;
            }
        }
        Ok(event_change(master_id, &master, &instances))
    }

    /// `events.get`; `None` when gone or cancelled.
    pub(crate) async fn get_event(&self, id: &str) -> Result<Option<Value>, ConnectorError> {
        let url = self.config.calendar_url(&["calendars", &self.config.calendar_id, "events", id])?;
        match self.http.call(RequestSpec::get(url).template("GET /calendars/{id}/events/{id}"), Context::Item).await {
            Ok((_, body)) if str_of(&body, "status") == Some("cancelled") => Ok(None),
            Ok((_, body)) => Ok(Some(body)),
            Err(ConnectorError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn pull_contacts(&self, cursor: Option<&Cursor>) -> Result<PullPage, ConnectorError> {
        let state = GoogleCursor::decode(cursor)?;
        let group = self.contact_group().await?;
        let url = self.config.people_url("people/me/connections")?;
        let page_size = self.config.page_size.min(1000).to_string();
        let mut query: Vec<(&str, &str)> =
            vec![("personFields", contact::PERSON_FIELDS), ("pageSize", &page_size), ("requestSyncToken", "true")];
        if let Some(t) = &state.sync_token {
            query.push(("syncToken", t));
        }
        if let Some(p) = &state.page_token {
            query.push(("pageToken", p));
        }
        let (_, body) = self
            .http
            .call(RequestSpec::get(url).query(&query).template("GET /people/me/connections"), Context::Sync)
            .await?;
        let incremental = state.sync_token.is_some();
        let mut changes = Vec::new();
        for p in body.get("connections").and_then(Value::as_array).into_iter().flatten() {
            let Some(id) = str_of(p, "resourceName") else { continue };
            if contact::is_deleted(p) || !contact::in_group(p, &group) {
                // Left the group or deleted: a delete for the engine (unknown ids are ignored).
                if incremental {
                    changes.push(Change::deleted(id));
                }
                continue;
            }
            changes.push(contact_change(id, p));
        }
        let next_page = str_of(&body, "nextPageToken").map(str::to_owned);
        let done = next_page.is_none();
        let cursor = if done {
            GoogleCursor {
                sync_token: str_of(&body, "nextSyncToken").map(str::to_owned).or(state.sync_token),
                ..GoogleCursor::default()
            }
        } else {
            GoogleCursor { page_token: next_page, ..state }
        };
        Ok(PullPage { changes, cursor: cursor.encode(), done })
    }

    /// `people.get`; `None` when gone.
    pub(crate) async fn get_person(&self, resource: &str) -> Result<Option<Value>, ConnectorError> {
        let url = self.config.people_url(resource)?;
        let req = RequestSpec::get(url).query(&[("personFields", contact::PERSON_FIELDS)]).template("GET /people/{id}");
        match self.http.call(req, Context::Item).await {
            Ok((_, body)) => Ok(Some(body)),
            Err(ConnectorError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A master or single event (with its instances) → a change.
pub(crate) fn event_change(id: &str, item: &Value, instances: &[Value]) -> Change {
    if str_of(item, "status") == Some("cancelled") {
        return Change::deleted(id);
    }
    let mapped = event::event_from_json(item).and_then(|mut e| {
        for i in instances {
            event::fold_instance(&mut e, i)?;
        }
        Ok(e)
    });
    match mapped {
        Ok(e) => {
            let mut c = Change::upserted(id, str_of(item, "etag").unwrap_or_default(), Record::Event(e));
            c.sync_key = event::sync_key(item).map(IdempotencyKey::from);
            c
        }
        Err(reason) => invalid(id, reason),
    }
}

/// A person → a change.
pub(crate) fn contact_change(id: &str, p: &Value) -> Change {
    match contact::contact_from_json(p) {
        Ok(c) => {
            let mut ch = Change::upserted(id, str_of(p, "etag").unwrap_or_default(), Record::Contact(c));
            ch.sync_key = contact::sync_key(p).map(IdempotencyKey::from);
            ch
        }
        Err(reason) => invalid(id, reason),
    }
}
