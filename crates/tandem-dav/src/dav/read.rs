//! Reading: change feeds and bodies.
//!
//! - **`sync-collection`** (RFC 6578, `sync-level` 1): one round asks for the members changed
//!   since the cursor's token (hrefs and etags only); a `507` on the collection itself means the
//!   answer was truncated, so the round continues with the returned token. A refused token
//!   (`DAV:valid-sync-token`: Radicale answers 403, Xandikos 412; 409 too) is
//!   [`ConnectorError::CursorExpired`].
//! - **Etag listing** (servers without `sync-collection`): `getctag`/`sync-token` on the
//!   collection; when it moved, `PROPFIND` Depth 1 of the etags, diffed against the etags kept in
//!   the cursor.
//! - **Incremental rounds report by version only** ([`ChangeKind::VersionOnly`]): the href and
//!   its new etag, no body. The engine drops the echoes of its own writes (the etag its pair
//!   holds) and asks [`Connector::fetch`](tandem_connector::Connector::fetch) for the rest, a
//!   multiget. After Tandem wrote 2,000 resources, the next sync reads none of them back.
//! - **Bodies** come in `calendar-multiget`/`addressbook-multiget` REPORTs of
//!   [`DavConfig::multiget_batch`](super::DavConfig::multiget_batch) hrefs, a page of
//!   [`DavConfig::page_size`](super::DavConfig::page_size) changes at a time: the hrefs still to
//!   read travel in the cursor between pages.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use tandem_connector::{ConnectorError, PullPage};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, ChangeKind, Cursor, RecordId, Version};
use url::Url;

use super::Inner;
use super::config::SyncMethod;
use super::discover::DavCollection;
use super::error::DavError;
use super::map;
use super::xml::{self, NS_CALDAV, NS_CARDDAV, NS_CS, NS_DAV};

/// What a cursor holds (JSON). Only this connector reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DavCursor {
    /// The collection it belongs to.
    pub(crate) collection: String,
    /// The `sync-collection` token, when reading that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<String>,
    /// The etag listing's ctag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ctag: Option<String>,
    /// The etag listing's etags by href.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) etags: Option<BTreeMap<String, String>>,
    /// Members still to report in this round: href and whether it is gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) pending: Vec<(String, bool)>,
    /// The new etags of changed members of an incremental round, by href: they are reported by
    /// version only and the engine reads the bodies it needs (not those of its own writes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) pending_etags: BTreeMap<String, String>,
}

impl DavCursor {
    pub(crate) fn decode(cursor: &Cursor) -> Result<Self, DavError> {
        serde_json::from_slice(&cursor.0).map_err(|_| DavError::Cursor { message: "not a DAV cursor".to_owned() })
    }

    pub(crate) fn encode(&self) -> Cursor {
        Cursor(serde_json::to_vec(self).unwrap_or_default())
    }
}

fn data_prop(kind: ObjectKind) -> (&'static str, &'static str) {
    match kind {
        ObjectKind::Event => (NS_CALDAV, "calendar-data"),
        ObjectKind::Contact => (NS_CARDDAV, "address-data"),
    }
}

impl Inner {
    fn use_sync_collection(&self, collection: &DavCollection) -> bool {
        match self.config.sync_method {
            SyncMethod::SyncCollection => true,
            SyncMethod::EtagListing => false,
            _ => collection.sync_token,
        }
    }

    /// One page of the change feed of `kind`.
    pub(crate) async fn pull(&self, kind: ObjectKind, cursor: Option<&Cursor>) -> Result<PullPage, ConnectorError> {
        let collection = self.collection(kind).await?;
        let previous = cursor.map(DavCursor::decode).transpose()?;
        if let Some(p) = &previous {
            if p.collection != collection.href {
                return Err(ConnectorError::CursorExpired);
            }
            if !p.pending.is_empty() {
                return self.page(kind, p.clone()).await;
            }
        }
        let url = self.http.url(self.http.base(), &collection.href)?;
        let state = if self.use_sync_collection(&collection) {
            let token = match &previous {
                Some(p) => Some(p.token.clone().ok_or(ConnectorError::CursorExpired)?),
                None => None,
            };
            self.sync_round(&collection, &url, token).await?
        } else {
            let old = match &previous {
                Some(p) => Some((p.ctag.clone(), p.etags.clone().ok_or(ConnectorError::CursorExpired)?)),
                None => None,
            };
            self.listing_round(&collection, &url, old).await?
        };
        self.page(kind, state).await
    }

    /// Reports the next page of `state.pending`.
    async fn page(&self, kind: ObjectKind, mut state: DavCursor) -> Result<PullPage, ConnectorError> {
        let take = state.pending.len().min(self.config.page_size);
        let now: Vec<(String, bool)> = state.pending.drain(..take).collect();
        let mut changes = Vec::with_capacity(now.len());
        let mut changed = Vec::new();
        for (href, gone) in now {
            let etag = state.pending_etags.remove(&href).filter(|e| !e.is_empty());
            if gone {
                let mut c = Change::deleted(href.as_str());
                c.sync_key = map::key_of(&href);
                changes.push(c);
            } else if let Some(etag) = etag {
                let mut c = Change::version_only(href.as_str(), etag);
                c.sync_key = map::key_of(&href);
                changes.push(c);
            } else {
                changed.push(RecordId::new(href));
            }
        }
        changes.extend(self.multiget(kind, &changed).await?.into_iter().map(|(_, c)| c));
        let done = state.pending.is_empty();
        Ok(PullPage { changes, cursor: state.encode(), done })
    }

    /// One `sync-collection` round from `token` (`None`: the initial sync).
    async fn sync_round(
        &self,
        collection: &DavCollection,
        url: &Url,
        token: Option<String>,
    ) -> Result<DavCursor, ConnectorError> {
        let initial = token.is_none();
        let mut token = token.unwrap_or_default();
        let mut order: Vec<(String, bool)> = Vec::new();
        let mut etags: BTreeMap<String, String> = BTreeMap::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        loop {
            let body = xml::sync_collection(&token, self.config.sync_limit);
            let response = self.http.read("REPORT", url, "0", body).await?;
            let status = response.status().as_u16();
            if matches!(status, 403 | 409 | 412 | 400) && xml::error_names(response.body(), "valid-sync-token") {
                tracing::info!(collection = %collection.href, status, "DAV sync token refused: full resync");
                return Err(ConnectorError::CursorExpired);
            }
            let m = xml::multistatus(response.error_for_status()?.body())?;
            let mut truncated = false;
            for r in &m.responses {
                let href = self.http.canonical(url, &r.href)?;
                if href.trim_end_matches('/') == collection.href.trim_end_matches('/') {
                    truncated |= r.status == Some(507);
                    continue;
                }
                let gone = r.status == Some(404);
                if gone && initial {
                    // Radicale reports members deleted before the initial sync.
                    continue;
                }
                // An incremental round's changes go out by version only: most are echoes of
                // Tandem's own writes, whose bodies the engine does not need. The initial round
                // reads every body anyway.
                match r.prop_text(NS_DAV, "getetag").filter(|e| !initial && !gone && !e.is_empty()) {
                    Some(etag) => etags.insert(href.clone(), etag.to_owned()),
                    None => etags.remove(&href),
                };
                match seen.get(&href) {
                    Some(&i) => order[i].1 = gone,
                    None => {
                        seen.insert(href.clone(), order.len());
                        order.push((href, gone));
                    }
                }
            }
            let next =
                m.sync_token.ok_or_else(|| DavError::Xml { message: "sync-collection without a sync-token".into() })?;
            let full = self.config.sync_limit.is_some_and(|n| m.responses.len() >= n as usize);
            let progressed = next != token;
            token = next;
            if !(truncated || full) || !progressed {
                break;
            }
        }
        Ok(DavCursor {
            collection: collection.href.clone(),
            token: Some(token),
            pending: order,
            pending_etags: etags,
            ..DavCursor::default()
        })
    }

    /// One etag-listing round against the previous ctag and etags.
    async fn listing_round(
        &self,
        collection: &DavCollection,
        url: &Url,
        old: Option<(Option<String>, BTreeMap<String, String>)>,
    ) -> Result<DavCursor, ConnectorError> {
        let top = self.http.propfind(url, "0", &["cs:getctag", "d:sync-token"]).await?;
        let ctag = top
            .responses
            .iter()
            .find_map(|r| r.prop_text(NS_CS, "getctag").or_else(|| r.prop_text(NS_DAV, "sync-token")))
            .map(str::to_owned);
        if let Some((old_ctag, etags)) = &old
            && ctag.is_some()
            && old_ctag == &ctag
        {
            return Ok(DavCursor {
                collection: collection.href.clone(),
                ctag,
                etags: Some(etags.clone()),
                ..DavCursor::default()
            });
        }
        let listing = self.http.propfind(url, "1", &["d:getetag", "d:resourcetype"]).await?;
        let mut etags = BTreeMap::new();
        for r in &listing.responses {
            let is_collection = r.prop(NS_DAV, "resourcetype").is_some_and(|t| t.child(NS_DAV, "collection").is_some());
            if is_collection || r.status.is_some_and(|s| s >= 300) {
                continue;
            }
            let href = self.http.canonical(url, &r.href)?;
            if href.trim_end_matches('/') == collection.href.trim_end_matches('/') {
                continue;
            }
            etags.insert(href, r.prop_text(NS_DAV, "getetag").unwrap_or_default().to_owned());
        }
        let incremental = old.is_some();
        let before = old.map(|(_, e)| e).unwrap_or_default();
        let changed: Vec<(&String, &String)> = etags.iter().filter(|(h, e)| before.get(*h) != Some(*e)).collect();
        let mut pending: Vec<(String, bool)> = changed.iter().map(|(h, _)| ((*h).clone(), false)).collect();
        // As in a `sync-collection` round: an incremental listing's changes go by version only.
        let pending_etags: BTreeMap<String, String> = if incremental {
            changed.iter().filter(|(_, e)| !e.is_empty()).map(|(h, e)| ((*h).clone(), (*e).clone())).collect()
        } else {
            BTreeMap::new()
        };
        pending.extend(before.keys().filter(|h| !etags.contains_key(*h)).map(|h| (h.clone(), true)));
        Ok(DavCursor {
            collection: collection.href.clone(),
            ctag,
            etags: Some(etags),
            pending,
            pending_etags,
            ..DavCursor::default()
        })
    }

    /// The current state of `ids` (hrefs), in order, with their bodies' text: upserts (with the
    /// text), deletes for those gone, invalid records for bodies that do not parse.
    pub(crate) async fn multiget(
        &self,
        kind: ObjectKind,
        ids: &[RecordId],
    ) -> Result<Vec<(Option<String>, Change)>, ConnectorError> {
        let collection = self.collection(kind).await?;
        let url = self.http.url(self.http.base(), &collection.href)?;
        let (ns, name) = data_prop(kind);
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.config.multiget_batch) {
            let hrefs: Vec<String> = chunk.iter().map(|id| id.as_str().to_owned()).collect();
            let m = self.http.report(&url, "1", xml::multiget(kind == ObjectKind::Event, &hrefs)).await?;
            let mut found: HashMap<String, (Option<String>, Change)> = HashMap::new();
            for r in &m.responses {
                let Ok(href) = self.http.canonical(&url, &r.href) else { continue };
                let etag = r.prop_text(NS_DAV, "getetag").unwrap_or_default();
                let entry = match (r.status, r.prop(ns, name)) {
                    (Some(404 | 410), _) => (None, Change::deleted(href.as_str())),
                    (_, Some(data)) => (Some(data.text.clone()), map::change_of(kind, &href, etag, &data.text)),
                    _ => (
                        None,
                        Change {
                            id: RecordId::new(href.as_str()),
                            version: Version::new(etag),
                            modified_at: None,
                            sync_key: map::key_of(&href),
                            kind: ChangeKind::Invalid { reason: "the server sent no body for this resource".into() },
                        },
                    ),
                };
                found.insert(href, entry);
            }
            for href in hrefs {
                out.push(found.get(&href).cloned().unwrap_or_else(|| (None, Change::deleted(href.as_str()))));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_bytes_expire() {
        let c = DavCursor {
            collection: "/c/".into(),
            token: Some("t".into()),
            pending: vec![("/c/a.ics".into(), true)],
            ..DavCursor::default()
        };
        assert_eq!(DavCursor::decode(&c.encode()).unwrap(), c);
        let e: ConnectorError = DavCursor::decode(&Cursor(b"\x00garbage".to_vec())).unwrap_err().into();
        assert_eq!(e, ConnectorError::CursorExpired);
    }
}
