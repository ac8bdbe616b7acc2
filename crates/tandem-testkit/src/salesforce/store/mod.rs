//! The fake org's data: records of every object (deleted ones kept for `queryAll` for 15 days),
//! the clock behind `SystemModstamp`, validation as Salesforce does it, query execution and
//! query locators.
//!
//! This file holds the org itself: its tables, limits, clock, ids and record access. The other
//! jobs live beside it: `api` (Salesforce's error and datetime format), `values` (typed value
//! comparison for SOQL), `index` (the external-id, owner and stamp indexes), `sharing` (who sees
//! and edits what), `activities` (Shared Activities: event relations), `validation` (field
//! conversion and object rules), `records` (writes), `query` (SOQL execution), `pages`
//! (projection, query pages and locators), `replication` (`getDeleted`, `getUpdated`) and `table`
//! (one object's records, stored as compact JSON text).

mod activities;
mod api;
mod index;
mod pages;
mod query;
mod records;
mod replication;
mod sharing;
mod table;
#[cfg(test)]
mod tests;
mod validation;
mod values;

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::Sharing;
use super::schema::{self, ObjectDef};
use pages::Locator;
use table::Table;

pub use api::{ApiError, format_datetime, parse_datetime};

/// How long deleted records stay in the recycle bin (and in `queryAll`, `getDeleted`).
pub(crate) const RECYCLE_DAYS: i64 = 15;

/// Contacts an event may be related to with `IsParent` (Shared Activities).
pub(crate) const MAX_PARENT_CONTACTS: usize = 50;

/// Invitees of a non-recurring event.
pub(crate) const MAX_INVITEES: usize = 1000;

/// Invitees of a recurring event.
pub(crate) const MAX_RECURRING_INVITEES: usize = 100;

/// The largest `LIMIT` of a query on `EntitySubscription` by a user without View All Data.
pub(crate) const MAX_SUBSCRIPTION_LIMIT: usize = 1000;

/// How far ahead of the clock `SystemModstamp`s may run to stay strictly increasing.
pub(crate) const MAX_STAMP_LEAD_MS: i64 = 1_000;

/// The longest event Salesforce accepts, in minutes.
pub(crate) const MAX_EVENT_MINUTES: i64 = 14 * 24 * 60;

/// One stored record of any object.
pub(crate) type Fields = Map<String, Value>;

/// A record's id under its `SystemModstamp` (`None` when it has none), in stamp order.
type Stamped = (Option<DateTime<Utc>>, String);

/// The org.
#[derive(Clone)]
pub(crate) struct Org {
    pub(crate) objects: Vec<ObjectDef>,
    tables: HashMap<&'static str, Table>,
    next_id: u64,
    offset: Duration,
    last_stamp: Option<DateTime<Utc>>,
    locators: HashMap<String, Locator>,
    next_locator: u64,
    deleted_at: HashMap<String, DateTime<Utc>>,
    /// Live records by the lower-cased value of an indexed field (external ids, usernames).
    index: HashMap<(&'static str, String, String), BTreeSet<String>>,
    /// Every record (deleted ones too) by object and `OwnerId`, so that a user's query does not
    /// scan the org.
    by_owner: HashMap<(&'static str, String), BTreeSet<String>>,
    /// Every record (deleted ones too) by object, in `SystemModstamp` order.
    by_stamp: HashMap<&'static str, BTreeSet<Stamped>>,
    /// Records queries have looked at, for tests of the indexes.
    examined: Cell<u64>,
    pub(crate) api_version: String,
    pub(crate) page_size: usize,
    /// The organisation-wide defaults.
    pub(crate) sharing: Sharing,
    /// Manual shares: record id to user id to edit access.
    shares: HashMap<String, HashMap<String, bool>>,
    /// Users with View All Data (taken for Modify All Data too).
    view_all: HashSet<String>,
    /// Whether Shared Activities is enabled.
    pub(crate) shared_activities: bool,
    /// The user of the request at hand: reads and writes apply sharing for this user. `None`
    /// for the handle, which sees and edits everything.
    pub(crate) viewer: Option<String>,
}

impl Org {
    pub(crate) fn new(objects: Vec<ObjectDef>, api_version: String, page_size: usize) -> Org {
        let tables = objects.iter().map(|o| (o.name, Table::default())).collect();
        Org {
            objects,
            tables,
            next_id: 0,
            offset: Duration::zero(),
            last_stamp: None,
            locators: HashMap::new(),
            next_locator: 0,
            deleted_at: HashMap::new(),
            index: HashMap::new(),
            by_owner: HashMap::new(),
            by_stamp: HashMap::new(),
            examined: Cell::new(0),
            api_version,
            page_size,
            sharing: Sharing::default(),
            shares: HashMap::new(),
            view_all: HashSet::new(),
            shared_activities: true,
            viewer: None,
        }
    }

    /// How many records queries have looked at so far.
    pub(crate) fn examined(&self) -> u64 {
        self.examined.get()
    }

    /// The fake clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.offset += by;
    }

    /// A fresh `SystemModstamp` (millisecond precision): strictly increasing, so that a test's
    /// writes are ordered, until that would run ahead of the clock by more than
    /// [`MAX_STAMP_LEAD_MS`]; then writes share the latest stamp, as a burst of writes does in
    /// Salesforce. Never in the future by more than that: seeding 5,000,000 records one
    /// millisecond apart stamped them 83 minutes ahead, and every feed read until the clock
    /// caught up read them again.
    fn stamp(&mut self) -> DateTime<Utc> {
        let now = self.now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let stamp = match self.last_stamp {
            Some(last) if now <= last => {
                let next = last + Duration::milliseconds(1);
                if next > now + Duration::milliseconds(MAX_STAMP_LEAD_MS) { last } else { next }
            }
            _ => now,
        };
        self.last_stamp = Some(stamp);
        stamp
    }

    pub(crate) fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.objects.iter().find(|o| o.name.eq_ignore_ascii_case(name))
    }

    fn unsupported(name: &str) -> ApiError {
        ApiError::new(
            "NOT_FOUND",
            format!("The requested resource does not exist (sObject type '{name}' is not supported)"),
            &[],
        )
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:012}AAA", self.next_id)
    }

    /// The record with this id, deleted or not, and its object.
    pub(crate) fn find(&self, id: &str) -> Option<(&'static str, Fields)> {
        let object = schema::object_of_id(id)?;
        let table = self.tables.get(object)?;
        table.get(id).map(|r| (object, r))
    }

    fn is_live(r: &Fields) -> bool {
        r.get("IsDeleted") != Some(&Value::Bool(true))
    }

    /// The live record of `object` with this id.
    pub(crate) fn get(&self, object: &str, id: &str) -> Option<Fields> {
        let def = self.object(object)?;
        self.tables.get(def.name)?.get(id).filter(Self::is_live)
    }

    /// Live records of `object`, in id order.
    pub(crate) fn live(&self, object: &str) -> Vec<Fields> {
        let Some(def) = self.object(object) else { return Vec::new() };
        self.tables.get(def.name).map(|t| t.values().filter(Self::is_live).collect()).unwrap_or_default()
    }
}

fn dt(fields: &Fields, name: &str) -> Option<DateTime<Utc>> {
    fields.get(name).and_then(Value::as_str).and_then(parse_datetime)
}

fn date(fields: &Fields, name: &str) -> Option<NaiveDate> {
    fields.get(name).and_then(Value::as_str).and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}
