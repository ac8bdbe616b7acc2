//! The fake's mailboxes: users, contact folders, contacts, events with their series, and the
//! change sequence that delta queries read.
//!
//! Code map:
//! - `mod.rs`: `Data`, everything the fake holds, with its mailbox lookups; injected batch
//!   failures.
//! - `reply.rs`: `ApiError` and `Reply`, the answers of the API.
//! - `records.rs`: contact folders, contacts, events and their occurrences, mailboxes.
//! - `grants.rs`: app registrations, certificates, tokens and authorization codes.
//! - `delta.rs`: delta scopes, tokens, rounds and pages; the rows a round serves; expiry.
//! - `validate.rs`: writable properties, the write schema and the body checks.
//! - `change_keys.rs`: change keys, ETags and `If-Match`.
//! - `extended.rs`: single-value extended properties.
//! - `contacts.rs`: contact folders and contacts.
//! - `events.rs`: creating, updating and deleting events and occurrences.
//! - `event_json.rs`: rendering events, occurrences and exceptions.

mod change_keys;
mod contacts;
mod delta;
mod event_json;
mod events;
mod extended;
mod grants;
mod records;
mod reply;
mod validate;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::GraphFakeConfig;
use super::util::new_item_id;
// The children's bodies call `super::util::…` and `super::api::…`, as the one-file module did.
use super::{api, util};

pub(crate) use self::change_keys::new_change_key;
pub(crate) use self::delta::{DeltaPage, DeltaRound, DeltaToken, Scope};
pub(crate) use self::extended::ExtProps;
pub(crate) use self::grants::{App, Cert, CodeGrant, Grant, RefreshGrant};
pub(crate) use self::records::{ContactRec, EventRec, ExceptionRec, Folder, Mailbox};
pub(crate) use self::reply::{ApiError, Reply};
pub(crate) use self::validate::{CONTACT_WRITABLE, EVENT_WRITABLE, WRITE_SCHEMA, parse_query_time};

/// A predicate over inner batch requests: `(method, url, body)`.
pub(crate) type ItemPredicate = Arc<dyn Fn(&str, &str, Option<&Value>) -> bool + Send + Sync>;

/// Failure injected into inner batch requests.
pub(crate) struct ItemFailure {
    pub(crate) remaining: u32,
    pub(crate) predicate: Option<ItemPredicate>,
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) retry_after: Option<u64>,
}

/// Everything the fake holds.
pub(crate) struct Data {
    pub(crate) config: GraphFakeConfig,
    pub(crate) seq: u64,
    pub(crate) mailboxes: BTreeMap<String, Mailbox>,
    pub(crate) apps: BTreeMap<String, App>,
    pub(crate) access_tokens: HashMap<String, Grant>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    pub(crate) codes: HashMap<String, CodeGrant>,
    pub(crate) used_jtis: HashSet<String>,
    pub(crate) signed_in: Option<String>,
    pub(crate) delta_tokens: HashMap<String, DeltaToken>,
    pub(crate) delta_pages: HashMap<String, DeltaPage>,
    /// Delta rounds started so far.
    pub(crate) delta_rounds: u64,
    pub(crate) generation: u64,
    pub(crate) counters: BTreeMap<String, u64>,
    pub(crate) without_immutable_id: u64,
    pub(crate) batch_sizes: Vec<usize>,
    pub(crate) item_failures: VecDeque<ItemFailure>,
    pub(crate) lose_batch_responses: u32,
    pub(crate) batch_slots: HashMap<String, usize>,
    pub(crate) peak: HashMap<String, usize>,
    pub(crate) inner_throttled: u64,
}

impl Data {
    pub(crate) fn new(config: GraphFakeConfig) -> Self {
        Data {
            config,
            seq: 0,
            mailboxes: BTreeMap::new(),
            apps: BTreeMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            codes: HashMap::new(),
            used_jtis: HashSet::new(),
            signed_in: None,
            delta_tokens: HashMap::new(),
            delta_pages: HashMap::new(),
            delta_rounds: 0,
            generation: 0,
            counters: BTreeMap::new(),
            without_immutable_id: 0,
            batch_sizes: Vec::new(),
            item_failures: VecDeque::new(),
            lose_batch_responses: 0,
            batch_slots: HashMap::new(),
            peak: HashMap::new(),
            inner_throttled: 0,
        }
    }

    pub(crate) fn tick(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The key (lower-case UPN) of the mailbox named by `user` (a UPN or an object id).
    pub(crate) fn mailbox_key(&self, user: &str) -> Option<String> {
        let lower = user.to_lowercase();
        if self.mailboxes.contains_key(&lower) {
            return Some(lower);
        }
        self.mailboxes.values().find(|m| m.id.eq_ignore_ascii_case(user)).map(|m| m.upn.to_lowercase())
    }

    pub(crate) fn mailbox(&self, key: &str) -> Result<&Mailbox, ApiError> {
        self.mailboxes
            .get(key)
            .ok_or_else(|| ApiError::new(404, "ErrorInvalidUser", format!("The requested user '{key}' is invalid.")))
    }

    pub(crate) fn mailbox_mut(&mut self, key: &str) -> Result<&mut Mailbox, ApiError> {
        self.mailboxes
            .get_mut(key)
            .ok_or_else(|| ApiError::new(404, "ErrorInvalidUser", format!("The requested user '{key}' is invalid.")))
    }

    pub(crate) fn add_mailbox(&mut self, upn: &str, display_name: &str) -> String {
        let key = upn.to_lowercase();
        if let Some(m) = self.mailboxes.get(&key) {
            return m.id.clone();
        }
        let id = uuid::Uuid::new_v4().to_string();
        let default_folder = new_item_id();
        self.mailboxes.insert(
            key,
            Mailbox {
                id: id.clone(),
                upn: upn.to_owned(),
                display_name: display_name.to_owned(),
                default_folder,
                folders: BTreeMap::new(),
                contacts: BTreeMap::new(),
                events: BTreeMap::new(),
            },
        );
        id
    }
}
