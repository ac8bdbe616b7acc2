//! Events: create (with `transactionId` replay), resolve ids of occurrences, update a series or
//! one occurrence, delete or cancel.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::change_keys::{matches_etag, new_change_key, precondition_failed};
use super::extended::extended_properties;
use super::validate::{EVENT_WRITABLE, EXCEPTION_WRITABLE, validate_event, validate_keys};
use super::{ApiError, Data, EventRec, ExceptionRec};
use crate::compact::CompactJson;
use crate::graph::DuplicateTransaction;
use crate::graph::util::{format_local, new_item_id, occurrence_id};

impl Data {
    /// Creates an event; returns its id and whether it already existed (transactionId replay).
    pub(crate) fn create_event(&mut self, mb: &str, body: &Map<String, Value>) -> Result<(String, bool), ApiError> {
        validate_keys(body, EVENT_WRITABLE, "Event", &["singleValueExtendedProperties", "transactionId"])?;
        validate_event(body)?;
        let ext = extended_properties(body)?;
        let transaction = body.get("transactionId").and_then(Value::as_str).map(str::to_owned);
        let duplicate = self.config.duplicate_transaction;
        let mailbox = self.mailbox(mb)?;
        if let Some(tx) = &transaction
            && let Some(existing) =
                mailbox.events.values().find(|e| e.deleted_seq.is_none() && e.transaction_id.as_ref() == Some(tx))
        {
            return match duplicate {
                DuplicateTransaction::ReturnExisting => Ok((existing.id.clone(), true)),
                DuplicateTransaction::Conflict => Err(ApiError::new(
                    409,
                    "ErrorDuplicateTransactionId",
                    "An event with the same transactionId already exists.",
                )),
            };
        }
        let upn = mailbox.upn.clone();
        let display = mailbox.display_name.clone();
        let seq = self.tick();
        let now = Utc::now();
        let mut data = body.clone();
        data.remove("singleValueExtendedProperties");
        data.remove("transactionId");
        data.retain(|k, _| !k.starts_with("@odata."));
        if data.get("organizer").is_none_or(Value::is_null) {
            data.insert("organizer".into(), json!({"emailAddress": {"name": display, "address": upn}}));
        }
        // The mailbox's own meeting, or its copy of someone else's (an invitation it received).
        let own = data
            .get("organizer")
            .and_then(|o| o.pointer("/emailAddress/address"))
            .and_then(Value::as_str)
            .is_none_or(|a| a.eq_ignore_ascii_case(&upn));
        data.insert("isOrganizer".into(), json!(own));
        let id = new_item_id();
        let ical_uid = format!("040000008200E00074C5B7101A82E008{}", uuid::Uuid::new_v4().simple()).to_uppercase();
        self.mailbox_mut(mb)?.events.insert(
            id.clone(),
            EventRec {
                id: id.clone(),
                change_key: new_change_key(),
                created: now,
                modified: now,
                seq,
                deleted_seq: None,
                data: CompactJson::new(&data),
                transaction_id: transaction,
                ical_uid,
                ext: ext.into_iter().collect(),
                exceptions: BTreeMap::new(),
                cancelled: BTreeMap::new(),
            },
        );
        Ok((id, false))
    }

    /// Resolves an event id: `(master or single id, occurrence date)`.
    pub(crate) fn resolve_event(&self, mb: &str, id: &str) -> Result<(String, Option<NaiveDate>), ApiError> {
        let id = super::util::canonical_id(id);
        let mailbox = self.mailbox(mb)?;
        if mailbox.events.get(&id).is_some_and(|e| e.deleted_seq.is_none()) {
            return Ok((id, None));
        }
        if let Some((master, date)) = super::util::parse_occurrence_id(&id)
            && let Some(e) = mailbox.events.get(master).filter(|e| e.deleted_seq.is_none())
            && !e.cancelled.contains_key(&date)
            && e.has_occurrence(date)
        {
            return Ok((master.to_owned(), Some(date)));
        }
        Err(ApiError::not_found())
    }

    pub(crate) fn event(&self, mb: &str, id: &str) -> Result<&EventRec, ApiError> {
        self.mailbox(mb)?.events.get(id).filter(|e| e.deleted_seq.is_none()).ok_or_else(ApiError::not_found)
    }

    pub(crate) fn update_event(
        &mut self,
        mb: &str,
        id: &str,
        patch: &Map<String, Value>,
        if_match: Option<&str>,
    ) -> Result<String, ApiError> {
        let (master, date) = self.resolve_event(mb, id)?;
        let seq = self.tick();
        let now = Utc::now();
        match date {
            None => {
                validate_keys(patch, EVENT_WRITABLE, "Event", &["singleValueExtendedProperties"])?;
                let ext = extended_properties(patch)?;
                let event = self.mailbox_mut(mb)?.events.get_mut(&master).ok_or_else(ApiError::not_found)?;
                if !matches_etag(if_match, &event.change_key) {
                    return Err(precondition_failed());
                }
                let before = event.data();
                let mut data = before.clone();
                for (k, v) in patch {
                    if k.starts_with("@odata.") || k == "singleValueExtendedProperties" {
                        continue;
                    }
                    data.insert(k.clone(), v.clone());
                }
                validate_event(&data)?;
                // Changing the pattern or the times of a series drops its exceptions, as Outlook does.
                let series_changed = ["recurrence", "start", "end", "isAllDay"]
                    .iter()
                    .any(|k| patch.contains_key(*k) && patch.get(*k) != before.get(*k));
                if series_changed {
                    event.exceptions.clear();
                    event.cancelled.clear();
                }
                event.data = CompactJson::new(&data);
                event.ext.extend(ext);
                event.change_key = new_change_key();
                event.modified = now;
                event.seq = seq;
                Ok(master)
            }
            Some(date) => {
                validate_keys(patch, EXCEPTION_WRITABLE, "Event", &[])?;
                let event = self.mailbox_mut(mb)?.events.get_mut(&master).ok_or_else(ApiError::not_found)?;
                let current = event.exceptions.get(&date).map_or(&event.change_key, |x| &x.change_key);
                if !matches_etag(if_match, current) {
                    return Err(precondition_failed());
                }
                let mut x = event.exceptions.remove(&date).unwrap_or(ExceptionRec {
                    change_key: String::new(),
                    seq,
                    modified: now,
                    data: Map::new(),
                });
                for (k, v) in patch {
                    if !k.starts_with("@odata.") {
                        x.data.insert(k.clone(), v.clone());
                    }
                }
                let mut merged = event.data();
                merged.remove("recurrence");
                if let Some(os) = event.original_start(date) {
                    let (_, _, _, duration) =
                        event.timing().unwrap_or((os, os.naive_utc(), chrono_tz::UTC, Duration::zero()));
                    merged.insert("start".into(), json!({"dateTime": format_local(os.naive_utc()), "timeZone": "UTC"}));
                    merged.insert(
                        "end".into(),
                        json!({"dateTime": format_local((os + duration).naive_utc()), "timeZone": "UTC"}),
                    );
                }
                for (k, v) in &x.data {
                    merged.insert(k.clone(), v.clone());
                }
                validate_event(&merged)?;
                x.change_key = new_change_key();
                x.seq = seq;
                x.modified = now;
                event.exceptions.insert(date, x);
                // The master's change key moves with its exceptions.
                event.change_key = new_change_key();
                Ok(occurrence_id(&master, date))
            }
        }
    }

    pub(crate) fn delete_event(&mut self, mb: &str, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
        let (master, date) = self.resolve_event(mb, id)?;
        let seq = self.tick();
        let event = self.mailbox_mut(mb)?.events.get_mut(&master).ok_or_else(ApiError::not_found)?;
        match date {
            None => {
                if !matches_etag(if_match, &event.change_key) {
                    return Err(precondition_failed());
                }
                event.deleted_seq = Some(seq);
            }
            Some(date) => {
                let current = event.exceptions.get(&date).map_or(&event.change_key, |x| &x.change_key);
                if !matches_etag(if_match, current) {
                    return Err(precondition_failed());
                }
                event.exceptions.remove(&date);
                event.cancelled.insert(date, seq);
                event.change_key = new_change_key();
            }
        }
        Ok(())
    }
}
