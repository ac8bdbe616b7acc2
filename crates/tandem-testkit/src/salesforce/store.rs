//! The fake org's data: records of every object (deleted ones kept for `queryAll` for 15 days),
//! the clock behind `SystemModstamp`, validation as Salesforce does it, query execution and
//! query locators.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::schema::{self, FieldDef, FieldType, ObjectDef};
use super::soql::{CmpOp, Expr, FieldGroup, Lit, Select, SoqlError, like};
use super::{OrgWideDefault, Sharing};

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

/// The longest event Salesforce accepts, in minutes.
pub(crate) const MAX_EVENT_MINUTES: i64 = 14 * 24 * 60;

/// One error of Salesforce's error array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The error code (`STRING_TOO_LONG`, `REQUIRED_FIELD_MISSING`, …).
    pub code: String,
    /// The message.
    pub message: String,
    /// The fields concerned.
    pub fields: Vec<String>,
}

impl ApiError {
    pub(crate) fn new(code: &str, message: impl Into<String>, fields: &[&str]) -> ApiError {
        ApiError {
            code: code.to_owned(),
            message: message.into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    /// As Salesforce's `{"message","errorCode","fields"}` (`statusCode` inside collection results).
    pub(crate) fn to_json(&self, key: &str) -> Value {
        json!({ "message": self.message, key: self.code, "fields": self.fields })
    }
}

impl std::error::Error for ApiError {}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<SoqlError> for ApiError {
    fn from(e: SoqlError) -> Self {
        ApiError { code: e.code.to_owned(), message: e.message, fields: Vec::new() }
    }
}

/// Formats a datetime as Salesforce does: `2026-01-05T09:00:00.000+0000`.
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Parses Salesforce's datetime format, or RFC 3339.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A resolved field reference: a field of the object, or a field through a lookup.
#[derive(Debug, Clone)]
enum Path {
    Direct(FieldDef),
    Via { lookup: FieldDef, target: String, ty: FieldType },
}

impl Path {
    fn ty(&self) -> &FieldType {
        match self {
            Path::Direct(f) => &f.ty,
            Path::Via { ty, .. } => ty,
        }
    }
}

/// A value ready to compare.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
    Dt(DateTime<Utc>),
    D(NaiveDate),
}

fn cmp_v(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        (V::Num(x), V::Num(y)) => x.partial_cmp(y),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Dt(x), V::Dt(y)) => Some(x.cmp(y)),
        (V::D(x), V::D(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn typed(value: &Value, ty: &FieldType) -> V {
    match (value, ty) {
        (Value::Null, _) => V::Null,
        (Value::Bool(b), _) => V::Bool(*b),
        (Value::Number(n), _) => V::Num(n.as_f64().unwrap_or(0.0)),
        (Value::String(s), FieldType::DateTime) => parse_datetime(s).map_or(V::Null, V::Dt),
        (Value::String(s), FieldType::Date) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_or(V::Null, V::D),
        (Value::String(s), t) if t.case_insensitive() => V::Str(s.to_lowercase()),
        (Value::String(s), _) => V::Str(s.clone()),
        _ => V::Null,
    }
}

fn lit_v(lit: &Lit, ty: &FieldType) -> V {
    match lit {
        Lit::Null => V::Null,
        Lit::Str(s) if ty.case_insensitive() => V::Str(s.to_lowercase()),
        Lit::Str(s) => V::Str(s.clone()),
        Lit::Num(n) => V::Num(*n),
        Lit::Bool(b) => V::Bool(*b),
        Lit::DateTime(d) => V::Dt(*d),
        Lit::Date(d) => V::D(*d),
        // Ranges: compared by `in_range`, never by value.
        Lit::Relative(_) => V::Null,
    }
}

/// Whether `left` (a date or datetime) compares with the days `[start, end)` as `op` says.
fn in_range(left: &V, (start, end): (NaiveDate, NaiveDate), op: CmpOp) -> bool {
    let (before_start, before_end) = match left {
        V::Dt(t) => (*t < midnight(start), *t < midnight(end)),
        V::D(d) => (*d < start, *d < end),
        _ => return op == CmpOp::Ne,
    };
    let inside = !before_start && before_end;
    match op {
        CmpOp::Eq => inside,
        CmpOp::Ne => !inside,
        CmpOp::Lt => before_start,
        CmpOp::Le => before_end,
        CmpOp::Gt => !before_end,
        CmpOp::Ge => !before_start,
    }
}

/// Checks a literal's type against the field's, as SOQL does.
fn check_lit(field: &str, ty: &FieldType, lit: &Lit) -> Result<(), SoqlError> {
    let wrong = |kind: &str, quoted: bool| SoqlError {
        code: "INVALID_FIELD",
        message: format!(
            "value of filter criterion for field '{field}' must be of type {kind} and should {}be enclosed in quotes",
            if quoted { "" } else { "not " }
        ),
    };
    match (ty, lit) {
        (_, Lit::Null) => Ok(()),
        (FieldType::DateTime | FieldType::Date, Lit::Relative(_)) => Ok(()),
        (FieldType::DateTime, Lit::DateTime(_)) => Ok(()),
        (FieldType::DateTime, _) => Err(wrong("dateTime", false)),
        (FieldType::Date, Lit::Date(_)) => Ok(()),
        (FieldType::Date, _) => Err(wrong("date", false)),
        (FieldType::Bool, Lit::Bool(_)) => Ok(()),
        (FieldType::Bool, _) => Err(wrong("boolean", false)),
        (FieldType::Int, Lit::Num(_)) => Ok(()),
        (FieldType::Int, _) => Err(wrong("double", false)),
        (_, Lit::Str(_)) => Ok(()),
        _ => Err(wrong("string", true)),
    }
}

/// One stored record of any object.
pub(crate) type Fields = Map<String, Value>;

/// A record's id under its `SystemModstamp` (`None` when it has none), in stamp order.
type Stamped = (Option<DateTime<Utc>>, String);

/// A pending page set of a query.
#[derive(Clone)]
struct Locator {
    rows: Vec<Value>,
    resource: &'static str,
    /// The user whose query it is (rows were filtered for that user).
    viewer: Option<String>,
}

/// The org.
#[derive(Clone)]
pub(crate) struct Org {
    pub(crate) objects: Vec<ObjectDef>,
    tables: HashMap<&'static str, BTreeMap<String, Fields>>,
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
        let tables = objects.iter().map(|o| (o.name, BTreeMap::new())).collect();
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

    /// A fresh, strictly increasing `SystemModstamp` (millisecond precision).
    fn stamp(&mut self) -> DateTime<Utc> {
        let now = self.now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let stamp = match self.last_stamp {
            Some(last) if now <= last => last + Duration::milliseconds(1),
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

    /// The indexed fields of `object`.
    fn indexed(&self, object: &str) -> Vec<String> {
        let Some(def) = self.object(object) else { return Vec::new() };
        def.fields
            .iter()
            .filter(|f| f.external_id || (def.name == "User" && f.name == "Username"))
            .map(|f| f.name.clone())
            .collect()
    }

    fn reindex(&mut self, object: &'static str, id: &str, before: Option<&Fields>, after: Option<&Fields>) {
        for field in self.indexed(object) {
            let value =
                |r: Option<&Fields>| r.and_then(|r| r.get(&field)).and_then(Value::as_str).map(str::to_lowercase);
            if let Some(old) = value(before) {
                let key = (object, field.clone(), old);
                if let Some(set) = self.index.get_mut(&key) {
                    set.remove(id);
                    if set.is_empty() {
                        self.index.remove(&key);
                    }
                }
            }
            if let Some(new) = value(after) {
                self.index.entry((object, field.clone(), new)).or_default().insert(id.to_owned());
            }
        }
    }

    /// Keeps `by_owner` and `by_stamp` in step with a write of any record, live or deleted.
    fn track(&mut self, object: &'static str, id: &str, before: Option<&Fields>, after: Option<&Fields>) {
        let owner = |r: &Fields| r.get("OwnerId").and_then(Value::as_str).map(str::to_owned);
        if let Some(b) = before {
            if let Some(o) = owner(b) {
                let key = (object, o);
                if let Some(set) = self.by_owner.get_mut(&key) {
                    set.remove(id);
                    if set.is_empty() {
                        self.by_owner.remove(&key);
                    }
                }
            }
            if let Some(set) = self.by_stamp.get_mut(object) {
                set.remove(&(dt(b, "SystemModstamp"), id.to_owned()));
            }
        }
        if let Some(a) = after {
            if let Some(o) = owner(a) {
                self.by_owner.entry((object, o)).or_default().insert(id.to_owned());
            }
            self.by_stamp.entry(object).or_default().insert((dt(a, "SystemModstamp"), id.to_owned()));
        }
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:012}AAA", self.next_id)
    }

    // --- sharing --------------------------------------------------------------------------------

    fn owd(&self, object: &str) -> Option<OrgWideDefault> {
        match object {
            "Contact" => Some(self.sharing.contact),
            "Account" => Some(self.sharing.account),
            "Lead" => Some(self.sharing.lead),
            _ => None,
        }
    }

    fn share_of(&self, record: &Fields, user: &str) -> Option<bool> {
        let id = record.get("Id").and_then(Value::as_str)?;
        self.shares.get(id).and_then(|m| m.get(user)).copied()
    }

    fn owns(record: &Fields, user: &str) -> bool {
        record.get("OwnerId").and_then(Value::as_str) == Some(user)
    }

    /// Whether `user` (`None`: the handle) sees `record` of `object`: Contact, Account and Lead
    /// by their organisation-wide default, ownership, shares and View All Data; a follow when its
    /// parent is visible; everything else (users, events, relations) always.
    pub(crate) fn can_see(&self, user: Option<&str>, object: &str, record: &Fields) -> bool {
        let Some(user) = user else { return true };
        if self.view_all.contains(user) {
            return true;
        }
        let name = self.object(object).map_or(object, |d| d.name);
        match self.owd(name) {
            Some(OrgWideDefault::Private) => Self::owns(record, user) || self.share_of(record, user).is_some(),
            Some(_) => true,
            None if name == "EntitySubscription" => {
                record.get("ParentId").and_then(Value::as_str).is_none_or(|p| self.id_visible(Some(user), p))
            }
            None => true,
        }
    }

    /// Whether `user` may edit (and delete) `record`: Contact, Account and Lead when the default
    /// is public read/write, the user owns it, has an edit share or Modify All Data (View All
    /// Data in the fake); a follow only its subscriber (or Modify All Data). Events keep their
    /// owner rule ([`Org::check_owner`]).
    pub(crate) fn can_edit(&self, user: Option<&str>, object: &str, record: &Fields) -> bool {
        let Some(u) = user else { return true };
        if self.view_all.contains(u) {
            return true;
        }
        let name = self.object(object).map_or(object, |d| d.name);
        match self.owd(name) {
            Some(OrgWideDefault::PublicReadWrite) => true,
            Some(_) => Self::owns(record, u) || self.share_of(record, u) == Some(true),
            None if name == "EntitySubscription" => record.get("SubscriberId").and_then(Value::as_str) == Some(u),
            None => true,
        }
    }

    /// Whether the record with this id (deleted or not) is visible to `user`; ids of objects the
    /// fake does not store count as visible.
    fn id_visible(&self, user: Option<&str>, id: &str) -> bool {
        self.find(id).is_none_or(|(object, r)| self.can_see(user, object, r))
    }

    /// Whether the request's user sees `record`.
    pub(crate) fn visible(&self, object: &str, record: &Fields) -> bool {
        self.can_see(self.viewer.as_deref(), object, record)
    }

    /// A manual share.
    pub(crate) fn share(&mut self, object: &str, id: &str, user: &str, edit: bool) -> Result<(), ApiError> {
        let def = self.object(object).ok_or_else(|| Self::unsupported(object))?;
        if self.owd(def.name).is_none() {
            return Err(ApiError::new("INVALID_TYPE", format!("{} has no sharing model in the fake", def.name), &[]));
        }
        let name = def.name;
        if self.get(name, id).is_none() || self.get("User", user).is_none() {
            return Err(ApiError::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", &[]));
        }
        self.shares.entry(id.to_owned()).or_default().insert(user.to_owned(), edit);
        Ok(())
    }

    pub(crate) fn grant_view_all(&mut self, user: &str) {
        self.view_all.insert(user.to_owned());
    }

    fn no_access() -> ApiError {
        ApiError::new("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", &[])
    }

    /// Ends `user`'s follow of `record`.
    pub(crate) fn unfollow(&mut self, user: &str, record: &str) -> Result<(), ApiError> {
        let id = self
            .subscription(record, user)
            .ok_or_else(|| ApiError::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", &[]))?;
        self.soft_delete("EntitySubscription", &id);
        Ok(())
    }

    /// The live follow of `parent` by `subscriber`.
    fn subscription(&self, parent: &str, subscriber: &str) -> Option<String> {
        self.tables.get("EntitySubscription")?.values().find_map(|r| {
            let live = Self::is_live(r)
                && r.get("ParentId").and_then(Value::as_str) == Some(parent)
                && r.get("SubscriberId").and_then(Value::as_str) == Some(subscriber);
            live.then(|| r.get("Id").and_then(Value::as_str).map(str::to_owned)).flatten()
        })
    }

    /// Marks a lead converted.
    pub(crate) fn convert_lead(&mut self, id: &str) -> Result<(), ApiError> {
        let def = self.object("Lead").cloned().ok_or_else(|| Self::unsupported("Lead"))?;
        let current = self.existing(&def, id)?.clone();
        if current.get("IsConverted") == Some(&Value::Bool(true)) {
            return Err(converted_lead());
        }
        let mut merged = current.clone();
        merged.insert("IsConverted".to_owned(), Value::Bool(true));
        let stamp = Value::String(format_datetime(self.stamp()));
        merged.insert("LastModifiedDate".to_owned(), stamp.clone());
        merged.insert("SystemModstamp".to_owned(), stamp);
        self.reindex(def.name, id, Some(&current), Some(&merged));
        self.track(def.name, id, Some(&current), Some(&merged));
        self.tables.entry(def.name).or_default().insert(id.to_owned(), merged);
        Ok(())
    }

    // --- Shared Activities ------------------------------------------------------------------------

    /// Live relations of an event.
    fn relations_of(&self, event: &str) -> Vec<&Fields> {
        self.tables
            .get("EventRelation")
            .map(|t| {
                t.values()
                    .filter(|r| Self::is_live(r) && r.get("EventId").and_then(Value::as_str) == Some(event))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `relation` may be a parent (`IsParent`) of `event` (`None`: an event being
    /// created), ignoring the relations `skip` and any current one to the same person: Shared
    /// Activities must be on; at most 50 contacts, or one lead alone.
    fn parent_rule(&self, event: Option<&str>, relation: &str, skip: &[String]) -> Result<(), ApiError> {
        let integrity = |m: &str, f: &str| ApiError::new("FIELD_INTEGRITY_EXCEPTION", m, &[f]);
        if !self.shared_activities {
            return Err(integrity(
                "Relating an event to contacts or leads with IsParent requires Shared Activities.",
                "IsParent",
            ));
        }
        let kind = schema::object_of_id(relation);
        let (mut contacts, mut leads) = (0usize, 0usize);
        for r in event.map(|e| self.relations_of(e)).unwrap_or_default() {
            let id = r.get("Id").and_then(Value::as_str).unwrap_or("");
            let other = r.get("RelationId").and_then(Value::as_str).unwrap_or("");
            if r.get("IsParent") != Some(&Value::Bool(true)) || other == relation || skip.iter().any(|s| s == id) {
                continue;
            }
            match schema::object_of_id(other) {
                Some("Contact") => contacts += 1,
                Some("Lead") => leads += 1,
                _ => {}
            }
        }
        let lead_alone = "An event can be related to up to 50 contacts or to one lead, not both.";
        match kind {
            Some("Lead") if contacts + leads > 0 => Err(integrity(lead_alone, "RelationId")),
            Some("Contact") if leads > 0 => Err(integrity(lead_alone, "RelationId")),
            Some("Contact") if contacts + 1 > MAX_PARENT_CONTACTS => {
                Err(integrity("An event can be related to at most 50 contacts.", "RelationId"))
            }
            _ => Ok(()),
        }
    }

    /// EventRelation rules: not on a child event, one relation per person and event, the
    /// parent rules, the invitee limits.
    fn relation_rules(&self, fields: &Fields, id: Option<&str>) -> Result<(), ApiError> {
        let integrity = |m: String, f: &str| ApiError::new("FIELD_INTEGRITY_EXCEPTION", m, &[f]);
        let Some(event_id) = fields.get("EventId").and_then(Value::as_str) else { return Ok(()) };
        let Some(event) = self.get("Event", event_id) else { return Ok(()) };
        if id.is_none() && event.get("IsChild") == Some(&Value::Bool(true)) {
            return Err(integrity("You can't add an EventRelation to a child event.".to_owned(), "EventId"));
        }
        let relation = fields.get("RelationId").and_then(Value::as_str).unwrap_or("");
        let others: Vec<&Fields> = self
            .relations_of(event_id)
            .into_iter()
            .filter(|r| id.is_none_or(|me| r.get("Id").and_then(Value::as_str) != Some(me)))
            .collect();
        if let Some(twin) = others.iter().find(|r| r.get("RelationId").and_then(Value::as_str) == Some(relation)) {
            let twin = twin.get("Id").and_then(Value::as_str).unwrap_or("");
            return Err(ApiError::new(
                "DUPLICATE_VALUE",
                format!("duplicate value found: RelationId duplicates value on record with id: {twin}"),
                &["RelationId"],
            ));
        }
        if fields.get("IsParent") == Some(&Value::Bool(true)) {
            let skip: Vec<String> = id.map(str::to_owned).into_iter().collect();
            self.parent_rule(Some(event_id), relation, &skip)?;
        }
        if fields.get("IsInvitee") == Some(&Value::Bool(true)) {
            let recurring = event.get("IsRecurrence2") == Some(&Value::Bool(true));
            let max = if recurring { MAX_RECURRING_INVITEES } else { MAX_INVITEES };
            let invitees = others.iter().filter(|r| r.get("IsInvitee") == Some(&Value::Bool(true))).count();
            if invitees + 1 > max {
                return Err(integrity(
                    format!(
                        "An event can have at most {max} invitees{}.",
                        if recurring { " when it recurs" } else { "" }
                    ),
                    "IsInvitee",
                ));
            }
        }
        Ok(())
    }

    /// With Shared Activities, keeps the relation mirroring an event's `WhoId` (`IsParent`, not
    /// an invitee): the previous who's relation loses `IsParent` (and goes when it is not an
    /// invitee either), the new who gets one.
    fn mirror_who(&mut self, event: &str, actor: &str, old: Option<&str>, new: Option<&str>) {
        if !self.shared_activities || old == new {
            return;
        }
        let find = |org: &Org, who: &str| {
            org.relations_of(event)
                .into_iter()
                .find(|r| r.get("RelationId").and_then(Value::as_str) == Some(who))
                .cloned()
        };
        if let Some(old) = old
            && let Some(r) = find(self, old)
            && r.get("IsParent") == Some(&Value::Bool(true))
        {
            let id = r.get("Id").and_then(Value::as_str).unwrap_or("").to_owned();
            if r.get("IsInvitee") == Some(&Value::Bool(true)) {
                let mut change = Fields::new();
                change.insert("IsParent".to_owned(), Value::Bool(false));
                self.restamp("EventRelation", &id, change);
            } else {
                self.soft_delete("EventRelation", &id);
            }
        }
        let Some(new) = new.filter(|w| matches!(schema::object_of_id(w), Some("Contact" | "Lead"))) else { return };
        match find(self, new) {
            Some(r) if r.get("IsParent") != Some(&Value::Bool(true)) => {
                let id = r.get("Id").and_then(Value::as_str).unwrap_or("").to_owned();
                let mut change = Fields::new();
                change.insert("IsParent".to_owned(), Value::Bool(true));
                self.restamp("EventRelation", &id, change);
            }
            Some(_) => {}
            None => {
                let mut relation = Fields::new();
                relation.insert("EventId".to_owned(), Value::String(event.to_owned()));
                relation.insert("RelationId".to_owned(), Value::String(new.to_owned()));
                relation.insert("IsParent".to_owned(), Value::Bool(true));
                relation.insert("IsInvitee".to_owned(), Value::Bool(false));
                // Checked beforehand by the event's own rules (`parent_rule`).
                let saved = self.viewer.take();
                let _ = self.insert("EventRelation", &relation, actor, false);
                self.viewer = saved;
            }
        }
    }

    /// Overwrites fields of a record with a new `SystemModstamp`.
    fn restamp(&mut self, object: &'static str, id: &str, mut fields: Fields) {
        let stamp = Value::String(format_datetime(self.stamp()));
        fields.insert("LastModifiedDate".to_owned(), stamp.clone());
        fields.insert("SystemModstamp".to_owned(), stamp);
        self.overwrite(object, id, fields);
    }

    /// The record with this id, deleted or not, and its object.
    pub(crate) fn find(&self, id: &str) -> Option<(&'static str, &Fields)> {
        let object = schema::object_of_id(id)?;
        let table = self.tables.get(object)?;
        table.get(id).map(|r| (object, r))
    }

    fn is_live(r: &Fields) -> bool {
        r.get("IsDeleted") != Some(&Value::Bool(true))
    }

    /// The live record of `object` with this id.
    pub(crate) fn get(&self, object: &str, id: &str) -> Option<&Fields> {
        let def = self.object(object)?;
        self.tables.get(def.name)?.get(id).filter(|r| Self::is_live(r))
    }

    /// Live records of `object`, in id order.
    pub(crate) fn live(&self, object: &str) -> Vec<Fields> {
        let Some(def) = self.object(object) else { return Vec::new() };
        self.tables
            .get(def.name)
            .map(|t| t.values().filter(|r| Self::is_live(r)).cloned().collect())
            .unwrap_or_default()
    }

    /// Checks and converts the fields of a write. `check_access` applies createable/updateable.
    fn convert(&self, def: &ObjectDef, input: &Fields, creating: bool, check_access: bool) -> Result<Fields, ApiError> {
        let mut out = Fields::new();
        for (key, value) in input {
            if key == "attributes" || key.eq_ignore_ascii_case("id") && !creating {
                continue;
            }
            let Some(f) = def.field(key) else {
                return Err(ApiError::new(
                    "INVALID_FIELD",
                    format!("No such column '{key}' on sobject of type {}", def.name),
                    &[],
                ));
            };
            if check_access && ((creating && !f.createable) || (!creating && !f.updateable)) {
                return Err(ApiError::new(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to create/update fields: {}. Please check the security settings of this field and \
                         verify that it is read/write for your profile or permission set.",
                        f.name
                    ),
                    &[&f.name],
                ));
            }
            out.insert(f.name.clone(), self.convert_value(f, value)?);
        }
        Ok(out)
    }

    fn convert_value(&self, f: &FieldDef, value: &Value) -> Result<Value, ApiError> {
        let bad_type = || {
            ApiError::new(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                format!("{}: value not of required type: {value}", f.label),
                &[&f.name],
            )
        };
        if value.is_null() {
            return Ok(Value::Null);
        }
        match &f.ty {
            FieldType::Id => Err(bad_type()),
            FieldType::Text(_) | FieldType::Email | FieldType::Phone | FieldType::Picklist(_) => {
                let s = value.as_str().ok_or_else(bad_type)?;
                if s.is_empty() {
                    return Ok(Value::Null);
                }
                let max = f.ty.max_len().unwrap_or(255);
                let len = s.chars().count();
                if len > max {
                    let shown: String = s.chars().take(40).collect();
                    return Err(ApiError::new(
                        "STRING_TOO_LONG",
                        format!("{}: data value too large: {shown}… (max length={max})", f.label),
                        &[&f.name],
                    ));
                }
                if f.ty == FieldType::Email {
                    let ok =
                        s.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !s.contains(' '));
                    if !ok {
                        return Err(ApiError::new(
                            "INVALID_EMAIL_ADDRESS",
                            format!("{}: invalid email address: {s}", f.label),
                            &[&f.name],
                        ));
                    }
                }
                if let FieldType::Picklist(values) = &f.ty
                    && !values.is_empty()
                    && !values.contains(&s)
                {
                    return Err(ApiError::new(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        format!("{}: bad value for restricted picklist field: {s}", f.label),
                        &[&f.name],
                    ));
                }
                Ok(Value::String(s.to_owned()))
            }
            FieldType::Date => {
                let s = value.as_str().ok_or_else(bad_type)?;
                let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad_type())?;
                Ok(Value::String(d.format("%Y-%m-%d").to_string()))
            }
            FieldType::DateTime => {
                let s = value.as_str().ok_or_else(bad_type)?;
                Ok(Value::String(format_datetime(parse_datetime(s).ok_or_else(bad_type)?)))
            }
            FieldType::Bool => value.as_bool().map(Value::Bool).ok_or_else(bad_type),
            FieldType::Int => {
                let n = value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).ok_or_else(bad_type)?;
                Ok(json!(n))
            }
            FieldType::Reference(targets) => {
                let s = value.as_str().ok_or_else(bad_type)?;
                let target = schema::object_of_id(s).filter(|o| targets.contains(o));
                let exists = match target {
                    Some(o) if self.tables.contains_key(o) => self.get(o, s).is_some(),
                    Some(_) => s.len() == 18 && s.chars().all(|c| c.is_ascii_alphanumeric()),
                    None => false,
                };
                if !exists {
                    return Err(ApiError::new(
                        "INVALID_CROSS_REFERENCE_KEY",
                        format!("invalid cross reference id ({}: {s})", f.label),
                        &[&f.name],
                    ));
                }
                if !self.id_visible(self.viewer.as_deref(), s) {
                    return Err(ApiError::new(
                        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                        format!("insufficient access rights on cross-reference id: {s}"),
                        &[&f.name],
                    ));
                }
                Ok(Value::String(s.to_owned()))
            }
        }
    }

    /// Inserts a record. `actor` owns it unless `OwnerId` is given. `check_access` applies
    /// field-level create rules (API writes); seeding skips them.
    pub(crate) fn insert(
        &mut self,
        object: &str,
        input: &Fields,
        actor: &str,
        check_access: bool,
    ) -> Result<String, ApiError> {
        let def = self.object(object).cloned().ok_or_else(|| Self::unsupported(object))?;
        let mut fields = self.convert(&def, input, true, check_access)?;
        if fields.contains_key("Id") {
            fields.remove("Id");
        }
        for f in &def.fields {
            if f.ty == FieldType::Bool {
                fields.entry(f.name.clone()).or_insert(Value::Bool(false));
            }
        }
        if def.field("OwnerId").is_some() {
            fields.entry("OwnerId".to_owned()).or_insert_with(|| Value::String(actor.to_owned()));
        }
        match def.name {
            "Event" => {
                fields.entry("ShowAs".to_owned()).or_insert_with(|| Value::String("Busy".to_owned()));
            }
            "EventRelation" => {
                fields.entry("Status".to_owned()).or_insert_with(|| Value::String("New".to_owned()));
            }
            _ => {}
        }
        self.rules(&def, &mut fields, input, None)?;
        let id = self.new_id(def.prefix);
        let stamp = Value::String(format_datetime(self.stamp()));
        fields.insert("Id".to_owned(), Value::String(id.clone()));
        fields.insert("IsDeleted".to_owned(), Value::Bool(false));
        for f in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            fields.insert(f.to_owned(), stamp.clone());
        }
        if actor.starts_with("005") {
            fields.insert("CreatedById".to_owned(), Value::String(actor.to_owned()));
            fields.insert("LastModifiedById".to_owned(), Value::String(actor.to_owned()));
        }
        if def.name == "Event" && fields.get("IsRecurrence2") == Some(&Value::Bool(true)) {
            fields.insert(
                "Recurrence2PatternStartDate".to_owned(),
                fields.get("StartDateTime").cloned().unwrap_or(Value::Null),
            );
        }
        let who = (def.name == "Event" && fields.get("IsChild") != Some(&Value::Bool(true)))
            .then(|| fields.get("WhoId").and_then(Value::as_str).map(str::to_owned))
            .flatten();
        self.reindex(def.name, &id, None, Some(&fields));
        self.track(def.name, &id, None, Some(&fields));
        self.tables.entry(def.name).or_default().insert(id.clone(), fields);
        if let Some(who) = who {
            self.mirror_who(&id, actor, None, Some(&who));
        }
        Ok(id)
    }

    /// Overwrites fields of a record verbatim, without validation or a new stamp.
    pub(crate) fn overwrite(&mut self, object: &str, id: &str, fields: Fields) {
        let Some(def) = self.object(object) else { return };
        let name = def.name;
        let Some(before) = self.tables.get(name).and_then(|t| t.get(id)).cloned() else { return };
        let mut after = before.clone();
        for (k, v) in fields {
            after.insert(k, v);
        }
        self.reindex(name, id, Some(&before), Some(&after));
        self.track(name, id, Some(&before), Some(&after));
        self.tables.entry(name).or_default().insert(id.to_owned(), after);
    }

    /// Updates a live record. `actor` must own an Event to change it (API writes).
    pub(crate) fn update(
        &mut self,
        object: &str,
        id: &str,
        input: &Fields,
        actor: Option<&str>,
        check_access: bool,
    ) -> Result<(), ApiError> {
        let def = self.object(object).cloned().ok_or_else(|| Self::unsupported(object))?;
        let current = self.existing(&def, id)?.clone();
        self.check_owner(&def, &current, actor)?;
        if !self.can_edit(self.viewer.as_deref(), def.name, &current) {
            return Err(Self::no_access());
        }
        if def.name == "Lead" && current.get("IsConverted") == Some(&Value::Bool(true)) && check_access {
            return Err(converted_lead());
        }
        let changes = self.convert(&def, input, false, check_access)?;
        let mut merged = current.clone();
        for (k, v) in &changes {
            merged.insert(k.clone(), v.clone());
        }
        self.rules(&def, &mut merged, &changes, Some(id))?;
        let stamp = Value::String(format_datetime(self.stamp()));
        merged.insert("LastModifiedDate".to_owned(), stamp.clone());
        merged.insert("SystemModstamp".to_owned(), stamp);
        if let Some(a) = actor {
            merged.insert("LastModifiedById".to_owned(), Value::String(a.to_owned()));
        }
        let who = |r: &Fields| r.get("WhoId").and_then(Value::as_str).map(str::to_owned);
        let (old_who, new_who) = (who(&current), who(&merged));
        let mirror = def.name == "Event" && merged.get("IsChild") != Some(&Value::Bool(true));
        self.reindex(def.name, id, Some(&current), Some(&merged));
        self.track(def.name, id, Some(&current), Some(&merged));
        self.tables.entry(def.name).or_default().insert(id.to_owned(), merged);
        if mirror {
            let actor = actor.or(self.viewer.as_deref()).unwrap_or("").to_owned();
            self.mirror_who(id, &actor, old_who.as_deref(), new_who.as_deref());
        }
        Ok(())
    }

    fn existing(&self, def: &ObjectDef, id: &str) -> Result<&Fields, ApiError> {
        match self.tables.get(def.name).and_then(|t| t.get(id)) {
            Some(r) if Self::is_live(r) => Ok(r),
            Some(_) => Err(ApiError::new("ENTITY_IS_DELETED", "entity is deleted", &[])),
            None => Err(ApiError::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", &[])),
        }
    }

    fn check_owner(&self, def: &ObjectDef, record: &Fields, actor: Option<&str>) -> Result<(), ApiError> {
        if def.name != "Event" {
            return Ok(());
        }
        match (actor, record.get("OwnerId").and_then(Value::as_str)) {
            (Some(a), Some(owner)) if a != owner && !self.view_all.contains(a) => {
                Err(ApiError::new("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", &[]))
            }
            _ => Ok(()),
        }
    }

    /// Soft-deletes a live record (and an event's relations).
    pub(crate) fn delete(&mut self, object: &str, id: &str, actor: Option<&str>) -> Result<(), ApiError> {
        let def = self.object(object).cloned().ok_or_else(|| Self::unsupported(object))?;
        let current = self.existing(&def, id)?.clone();
        self.check_owner(&def, &current, actor)?;
        if !self.can_edit(self.viewer.as_deref(), def.name, &current) {
            return Err(Self::no_access());
        }
        self.soft_delete(def.name, id);
        if def.name == "Event" {
            let relations: Vec<String> = self
                .tables
                .get("EventRelation")
                .map(|t| {
                    t.values()
                        .filter(|r| Self::is_live(r) && r.get("EventId").and_then(Value::as_str) == Some(id))
                        .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            for r in relations {
                self.soft_delete("EventRelation", &r);
            }
        }
        Ok(())
    }

    fn soft_delete(&mut self, object: &'static str, id: &str) {
        let stamp = self.stamp();
        let before = self.tables.get(object).and_then(|t| t.get(id)).cloned();
        self.reindex(object, id, before.as_ref(), None);
        let Some(mut after) = before.clone() else { return };
        after.insert("IsDeleted".to_owned(), Value::Bool(true));
        after.insert("SystemModstamp".to_owned(), Value::String(format_datetime(stamp)));
        self.track(object, id, before.as_ref(), Some(&after));
        if let Some(r) = self.tables.get_mut(object).and_then(|t| t.get_mut(id)) {
            *r = after;
            self.deleted_at.insert(id.to_owned(), stamp);
        }
    }

    /// Object rules after a write's fields are merged: required fields, computed names, event
    /// dates and durations (the 14-day rule), recurrence, unique external ids.
    fn rules(&self, def: &ObjectDef, fields: &mut Fields, given: &Fields, id: Option<&str>) -> Result<(), ApiError> {
        let missing: Vec<&str> =
            def.required.iter().copied().filter(|f| fields.get(*f).is_none_or(Value::is_null)).collect();
        if !missing.is_empty() {
            return Err(ApiError::new(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", missing.join(", ")),
                &missing,
            ));
        }
        if def.field("Name").is_some_and(|f| !f.createable) {
            let parts: Vec<&str> = ["FirstName", "MiddleName", "LastName"]
                .iter()
                .filter_map(|f| fields.get(*f).and_then(Value::as_str))
                .collect();
            fields.insert("Name".to_owned(), Value::String(parts.join(" ")));
        }
        if def.name == "Event" {
            event_rules(fields, given)?;
            let who = fields.get("WhoId").and_then(Value::as_str);
            let old = id.and_then(|i| self.get("Event", i)).and_then(|r| r.get("WhoId")).and_then(Value::as_str);
            if self.shared_activities
                && fields.get("IsChild") != Some(&Value::Bool(true))
                && let Some(who) = who.filter(|w| Some(*w) != old)
            {
                // The previous who's relation loses `IsParent`.
                let skip: Vec<String> = match (id, old) {
                    (Some(event), Some(old)) => self
                        .relations_of(event)
                        .into_iter()
                        .filter(|r| r.get("RelationId").and_then(Value::as_str) == Some(old))
                        .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                self.parent_rule(id, who, &skip).map_err(|mut e| {
                    e.fields = vec!["WhoId".to_owned()];
                    e
                })?;
            }
        }
        if def.name == "EventRelation" {
            self.relation_rules(fields, id)?;
        }
        if def.name == "EntitySubscription" {
            let parent = fields.get("ParentId").and_then(Value::as_str).unwrap_or("");
            let subscriber = fields.get("SubscriberId").and_then(Value::as_str).unwrap_or("");
            if let Some(viewer) = self.viewer.as_deref()
                && viewer != subscriber
                && !self.view_all.contains(viewer)
            {
                return Err(ApiError::new(
                    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                    format!("insufficient access rights on cross-reference id: {subscriber}"),
                    &["SubscriberId"],
                ));
            }
            if !self.id_visible(Some(subscriber), parent) {
                return Err(ApiError::new(
                    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                    format!("insufficient access rights on cross-reference id: {parent}"),
                    &["ParentId"],
                ));
            }
            if let Some(twin) = self.subscription(parent, subscriber).filter(|t| Some(t.as_str()) != id) {
                return Err(ApiError::new(
                    "DUPLICATE_VALUE",
                    format!("duplicate value found: <unknown> duplicates value on record with id: {twin}"),
                    &[],
                ));
            }
        }
        if def.name == "EventRelation"
            && let Some(event) = fields.get("EventId").and_then(Value::as_str)
            && self.get("Event", event).is_none()
        {
            return Err(ApiError::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", &["EventId"]));
        }
        for f in def.fields.iter().filter(|f| f.external_id) {
            let Some(value) = fields.get(&f.name).and_then(Value::as_str) else { continue };
            let clash = self
                .index
                .get(&(def.name, f.name.clone(), value.to_lowercase()))
                .and_then(|ids| ids.iter().find(|other| Some(other.as_str()) != id));
            if let Some(other) = clash {
                return Err(ApiError::new(
                    "DUPLICATE_VALUE",
                    format!("duplicate value found: {} duplicates value on record with id: {other}", f.name),
                    &[&f.name],
                ));
            }
        }
        Ok(())
    }

    /// Live records of `object` whose `field` equals `value` (case-insensitive).
    pub(crate) fn by_field(&self, object: &str, field: &str, value: &str) -> Vec<String> {
        let Some(def) = self.object(object) else { return Vec::new() };
        if let Some(f) = def.field(field)
            && self.indexed(def.name).contains(&f.name)
        {
            return self
                .index
                .get(&(def.name, f.name.clone(), value.to_lowercase()))
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default();
        }
        self.tables
            .get(def.name)
            .map(|t| {
                t.values()
                    .filter(|r| Self::is_live(r))
                    .filter(|r| r.get(field).and_then(Value::as_str).is_some_and(|v| v.eq_ignore_ascii_case(value)))
                    .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    // --- queries -----------------------------------------------------------------------------

    fn resolve(&self, def: &ObjectDef, name: &str) -> Result<Path, SoqlError> {
        let no_column = || SoqlError {
            code: "INVALID_FIELD",
            message: format!(
                "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append \
                 the '__c' after the custom field name. Please reference your WSDL or the describe call for the \
                 appropriate names.",
                def.name
            ),
        };
        match name.split_once('.') {
            None => def.field(name).cloned().map(Path::Direct).ok_or_else(no_column),
            Some((rel, rest)) => {
                if rest.contains('.') {
                    return Err(no_column());
                }
                let lookup = def.relationship(rel).cloned().ok_or_else(no_column)?;
                let FieldType::Reference(targets) = &lookup.ty else { return Err(no_column()) };
                if targets.len() == 1 {
                    let target = self.object(targets[0]).ok_or_else(no_column)?;
                    let f = target.field(rest).ok_or_else(no_column)?;
                    Ok(Path::Via { target: f.name.clone(), ty: f.ty.clone(), lookup })
                } else {
                    // Polymorphic: the Name entity.
                    let field =
                        schema::NAME_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(rest)).ok_or_else(no_column)?;
                    Ok(Path::Via { target: (*field).to_owned(), ty: FieldType::Text(255), lookup })
                }
            }
        }
    }

    fn value_at(&self, record: &Fields, path: &Path) -> Value {
        match path {
            Path::Direct(f) => record.get(&f.name).cloned().unwrap_or(Value::Null),
            Path::Via { lookup, target, .. } => {
                let Some(id) = record.get(&lookup.name).and_then(Value::as_str) else { return Value::Null };
                match self.find(id) {
                    Some((object, r)) if !self.visible(object, r) => Value::Null,
                    Some((object, r)) if target == "Type" => {
                        let _ = r;
                        Value::String(object.to_owned())
                    }
                    Some((_, r)) => r.get(target).cloned().unwrap_or(Value::Null),
                    None => Value::Null,
                }
            }
        }
    }

    fn check_expr(&self, def: &ObjectDef, e: &Expr) -> Result<(), SoqlError> {
        match e {
            Expr::And(p) | Expr::Or(p) => p.iter().try_for_each(|x| self.check_expr(def, x)),
            Expr::Not(x) | Expr::Group(x) => self.check_expr(def, x),
            Expr::Cmp { field, value, .. } => {
                let path = self.resolve(def, field)?;
                check_lit(field, path.ty(), value)
            }
            Expr::In { field, values, .. } => {
                let path = self.resolve(def, field)?;
                values.iter().try_for_each(|v| check_lit(field, path.ty(), v))
            }
            Expr::InSelect { field, select, .. } => {
                self.resolve(def, field)?;
                let inner = self.object(&select.object).ok_or_else(|| invalid_type(&select.object))?;
                self.resolve(inner, &select.fields[0])?;
                if let Some(f) = &select.filter {
                    self.check_expr(inner, f)?;
                }
                Ok(())
            }
            Expr::Like { field, .. } => self.resolve(def, field).map(|_| ()),
        }
    }

    fn eval(&self, def: &ObjectDef, record: &Fields, e: &Expr, semi: &HashMap<usize, HashSet<String>>) -> bool {
        match e {
            Expr::And(p) => p.iter().all(|x| self.eval(def, record, x, semi)),
            Expr::Or(p) => p.iter().any(|x| self.eval(def, record, x, semi)),
            Expr::Not(x) => !self.eval(def, record, x, semi),
            Expr::Group(x) => self.eval(def, record, x, semi),
            Expr::Cmp { field, op, value } => {
                let Ok(path) = self.resolve(def, field) else { return false };
                let left = typed(&self.value_at(record, &path), path.ty());
                if let Lit::Relative(literal) = value {
                    return in_range(&left, literal.range(self.now().date_naive()), *op);
                }
                let right = lit_v(value, path.ty());
                match op {
                    CmpOp::Eq => left == right,
                    CmpOp::Ne => left != right,
                    op => {
                        let Some(ord) = cmp_v(&left, &right) else { return false };
                        match op {
                            CmpOp::Lt => ord == Ordering::Less,
                            CmpOp::Le => ord != Ordering::Greater,
                            CmpOp::Gt => ord == Ordering::Greater,
                            _ => ord != Ordering::Less,
                        }
                    }
                }
            }
            Expr::In { field, negated, values } => {
                let Ok(path) = self.resolve(def, field) else { return false };
                let left = typed(&self.value_at(record, &path), path.ty());
                let today = self.now().date_naive();
                let found = values.iter().any(|v| match v {
                    Lit::Relative(literal) => in_range(&left, literal.range(today), CmpOp::Eq),
                    v => lit_v(v, path.ty()) == left,
                });
                found != *negated
            }
            Expr::InSelect { field, negated, .. } => {
                let Ok(path) = self.resolve(def, field) else { return false };
                let key = std::ptr::from_ref(e) as usize;
                let value = self.value_at(record, &path);
                let found = value.as_str().is_some_and(|v| semi.get(&key).is_some_and(|s| s.contains(v)));
                found != *negated
            }
            Expr::Like { field, pattern } => {
                let Ok(path) = self.resolve(def, field) else { return false };
                self.value_at(record, &path).as_str().is_some_and(|v| like(v, pattern))
            }
        }
    }

    /// Pre-computes the value sets of semi-join subqueries, keyed by the expression's address.
    fn semi_joins(&self, e: &Expr, out: &mut HashMap<usize, HashSet<String>>) -> Result<(), SoqlError> {
        match e {
            Expr::And(p) | Expr::Or(p) => p.iter().try_for_each(|x| self.semi_joins(x, out)),
            Expr::Not(x) | Expr::Group(x) => self.semi_joins(x, out),
            Expr::InSelect { select, .. } => {
                let rows = self.select_rows(select, false)?;
                let inner = self.object(&select.object).ok_or_else(|| invalid_type(&select.object))?;
                let path = self.resolve(inner, &select.fields[0])?;
                let set = rows.iter().filter_map(|r| self.value_at(r, &path).as_str().map(str::to_owned)).collect();
                out.insert(std::ptr::from_ref(e) as usize, set);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The fields a select list names, with its `FIELDS()` groups expanded (custom fields end in
    /// `__c`; the others are standard).
    fn selected(&self, def: &ObjectDef, select: &Select) -> Vec<String> {
        let mut out = select.fields.clone();
        for group in &select.groups {
            for f in &def.fields {
                let custom = f.name.ends_with("__c");
                let wanted = match group {
                    FieldGroup::All => true,
                    FieldGroup::Custom => custom,
                    FieldGroup::Standard => !custom,
                };
                if wanted && !out.iter().any(|o| o.eq_ignore_ascii_case(&f.name)) {
                    out.push(f.name.clone());
                }
            }
        }
        out
    }

    /// The ids of records that may match `e`, from the indexes, or `None` when the indexes cannot
    /// narrow it (or would give more than `cap`): `OwnerId =`/`IN`, `Id =`/`IN`/`IN (SELECT …)`,
    /// `SystemModstamp >=`/`>`/`=`, and `AND`/`OR` of them. A superset of the matches: the filter
    /// still decides.
    fn candidates(
        &self,
        def: &ObjectDef,
        e: &Expr,
        semi: &HashMap<usize, HashSet<String>>,
        cap: Option<usize>,
    ) -> Option<BTreeSet<String>> {
        let within = |n: usize| cap.is_none_or(|c| n <= c);
        let field_is =
            |field: &str, name: &str| matches!(self.resolve(def, field), Ok(Path::Direct(f)) if f.name == name);
        let owned = |owners: &mut dyn Iterator<Item = &String>| -> Option<BTreeSet<String>> {
            let mut out = BTreeSet::new();
            for o in owners {
                if let Some(ids) = self.by_owner.get(&(def.name, o.clone())) {
                    out.extend(ids.iter().cloned());
                }
                if !within(out.len()) {
                    return None;
                }
            }
            Some(out)
        };
        let strings = |values: &[Lit]| -> Option<Vec<String>> {
            values.iter().map(|v| if let Lit::Str(s) = v { Some(s.clone()) } else { None }).collect()
        };
        match e {
            Expr::Group(x) => self.candidates(def, x, semi, cap),
            Expr::And(parts) => {
                let mut best: Option<BTreeSet<String>> = None;
                for p in parts {
                    let limit = best.as_ref().map_or(cap, |b| Some(b.len().saturating_sub(1)));
                    if let Some(c) = self.candidates(def, p, semi, limit) {
                        best = Some(c);
                    }
                }
                best
            }
            Expr::Or(parts) => {
                let mut out = BTreeSet::new();
                for p in parts {
                    out.extend(self.candidates(def, p, semi, cap)?);
                    if !within(out.len()) {
                        return None;
                    }
                }
                Some(out)
            }
            Expr::Cmp { field, op: CmpOp::Eq, value: Lit::Str(v) } if field_is(field, "OwnerId") => {
                owned(&mut std::iter::once(v))
            }
            Expr::Cmp { field, op: CmpOp::Eq, value: Lit::Str(v) } if field_is(field, "Id") => {
                Some(BTreeSet::from([v.clone()]))
            }
            Expr::In { field, negated: false, values } if field_is(field, "OwnerId") => {
                owned(&mut strings(values)?.iter())
            }
            Expr::In { field, negated: false, values } if field_is(field, "Id") => {
                let ids: BTreeSet<String> = strings(values)?.into_iter().collect();
                within(ids.len()).then_some(ids)
            }
            Expr::InSelect { field, negated: false, .. } if field_is(field, "Id") => {
                let set = semi.get(&(std::ptr::from_ref(e) as usize))?;
                within(set.len()).then(|| set.iter().cloned().collect())
            }
            Expr::Cmp { field, op: op @ (CmpOp::Eq | CmpOp::Ge | CmpOp::Gt), value: Lit::DateTime(t) }
                if field_is(field, "SystemModstamp") =>
            {
                let stamps = self.by_stamp.get(def.name)?;
                let mut out = BTreeSet::new();
                for (stamp, id) in stamps.range((Some(*t), String::new())..) {
                    if *op == CmpOp::Eq && *stamp != Some(*t) {
                        break;
                    }
                    out.insert(id.clone());
                    if !within(out.len()) {
                        return None;
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }

    /// The matching records, sorted and limited (not projected).
    fn select_rows(&self, select: &Select, all: bool) -> Result<Vec<Fields>, SoqlError> {
        let def = self.object(&select.object).ok_or_else(|| invalid_type(&select.object))?;
        for f in self.selected(def, select) {
            self.resolve(def, &f)?;
        }
        let mut semi = HashMap::new();
        if let Some(filter) = &select.filter {
            self.check_expr(def, filter)?;
            self.semi_joins(filter, &mut semi)?;
        }
        let order: Vec<(Path, bool, bool)> = select
            .order
            .iter()
            .map(|o| self.resolve(def, &o.field).map(|p| (p, o.asc, o.nulls_first)))
            .collect::<Result<_, _>>()?;
        let horizon = self.now() - Duration::days(RECYCLE_DAYS);
        let table = self.tables.get(def.name);
        // The records the indexes narrow the filter to, in id order (as a scan would see them).
        let candidates: Option<Vec<(&String, &Fields)>> = select
            .filter
            .as_ref()
            .and_then(|f| self.candidates(def, f, &semi, None))
            .map(|ids| ids.into_iter().filter_map(|id| table.and_then(|t| t.get_key_value(&id))).collect());
        let scanned: Box<dyn Iterator<Item = (&String, &Fields)>> = match candidates {
            Some(list) => Box::new(list.into_iter()),
            None => Box::new(table.into_iter().flat_map(|t| t.iter())),
        };
        let matching = scanned
            .inspect(|_| self.examined.set(self.examined.get() + 1))
            .filter(|(id, r)| Self::is_live(r) || all && self.deleted_at.get(*id).is_some_and(|at| *at >= horizon))
            .map(|(_, r)| r)
            .filter(|r| self.visible(def.name, r))
            .filter(|r| select.filter.as_ref().is_none_or(|f| self.eval(def, r, f, &semi)));
        // Rows are sorted and cut to the limit before they are copied: a keyset page of 2,000
        // from 50,000 matching records copies 2,000, not 50,000 (as a page a round, a feed read
        // copied the whole remainder each time). Each row's sort key is typed once.
        let mut keyed: Vec<(Vec<V>, &Fields)> = matching
            .map(|r| (order.iter().map(|(path, _, _)| typed(&self.value_at(r, path), path.ty())).collect(), r))
            .collect();
        if !order.is_empty() {
            keyed.sort_by(|(a, _), (b, _)| {
                for ((x, y), (_, asc, nulls_first)) in a.iter().zip(b).zip(&order) {
                    let ord = match (x, y) {
                        (V::Null, V::Null) => Ordering::Equal,
                        (V::Null, _) => {
                            if *nulls_first {
                                Ordering::Less
                            } else {
                                Ordering::Greater
                            }
                        }
                        (_, V::Null) => {
                            if *nulls_first {
                                Ordering::Greater
                            } else {
                                Ordering::Less
                            }
                        }
                        _ => {
                            let o = cmp_v(x, y).unwrap_or(Ordering::Equal);
                            if *asc { o } else { o.reverse() }
                        }
                    };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                Ordering::Equal
            });
        }
        if let Some(n) = select.limit {
            keyed.truncate(n);
        }
        let rows: Vec<Fields> = keyed.into_iter().map(|(_, r)| r.clone()).collect();
        Ok(rows)
    }

    fn url_of(&self, object: &str, id: &str) -> String {
        format!("/services/data/{}/sobjects/{object}/{id}", self.api_version)
    }

    /// One record as the API returns it, with `fields` (all of the object's when `None`).
    pub(crate) fn project(&self, object: &str, record: &Fields, fields: Option<&[String]>) -> Value {
        let Some(def) = self.object(object) else { return Value::Null };
        let id = record.get("Id").and_then(Value::as_str).unwrap_or("");
        let mut out = Map::new();
        out.insert("attributes".to_owned(), json!({ "type": def.name, "url": self.url_of(def.name, id) }));
        let all: Vec<String>;
        let names = match fields {
            Some(f) => f,
            None => {
                all = def.fields.iter().map(|f| f.name.clone()).collect();
                &all
            }
        };
        for name in names {
            let Ok(path) = self.resolve(def, name) else { continue };
            match &path {
                Path::Direct(f) => {
                    out.insert(f.name.clone(), record.get(&f.name).cloned().unwrap_or(Value::Null));
                }
                Path::Via { lookup, target, .. } => {
                    let rel = lookup.relationship.unwrap_or("");
                    let Some(ref_id) = record.get(&lookup.name).and_then(Value::as_str) else {
                        out.insert(rel.to_owned(), Value::Null);
                        continue;
                    };
                    if self.find(ref_id).is_some_and(|(object, r)| !self.visible(object, r)) {
                        out.insert(rel.to_owned(), Value::Null);
                        continue;
                    }
                    let polymorphic = matches!(&lookup.ty, FieldType::Reference(t) if t.len() > 1);
                    let ref_type = if polymorphic {
                        "Name".to_owned()
                    } else {
                        schema::object_of_id(ref_id).unwrap_or("Name").to_owned()
                    };
                    let entry = out.entry(rel.to_owned()).or_insert_with(
                        || json!({ "attributes": { "type": ref_type, "url": self.url_of(&ref_type, ref_id) } }),
                    );
                    if let Value::Object(m) = entry {
                        m.insert(target.clone(), self.value_at(record, &path));
                    }
                }
            }
        }
        Value::Object(out)
    }

    /// Runs a query and returns its first page (registering a locator for the rest).
    pub(crate) fn query(&mut self, select: &Select, all: bool, batch: Option<usize>) -> Result<Value, ApiError> {
        let restricted = self.viewer.as_ref().is_some_and(|v| !self.view_all.contains(v));
        if restricted
            && self.object(&select.object).is_some_and(|d| d.name == "EntitySubscription")
            && select.limit.is_none_or(|n| n > MAX_SUBSCRIPTION_LIMIT)
        {
            return Err(ApiError::new(
                "MALFORMED_QUERY",
                format!(
                    "Implementation restriction: EntitySubscription only allows a LIMIT of at most {MAX_SUBSCRIPTION_LIMIT} for users without View All Data"
                ),
                &[],
            ));
        }
        let rows = self.select_rows(select, all)?;
        if select.count {
            return Ok(json!({ "totalSize": rows.len(), "done": true, "records": [] }));
        }
        let Some(def) = self.object(&select.object) else { return Err(invalid_type(&select.object).into()) };
        let fields = self.selected(def, select);
        let def_name = def.name;
        let projected: Vec<Value> = rows.iter().map(|r| self.project(def_name, r, Some(&fields))).collect();
        Ok(self.first_page(projected, if all { "queryAll" } else { "query" }, batch))
    }

    fn first_page(&mut self, rows: Vec<Value>, resource: &'static str, batch: Option<usize>) -> Value {
        let size = batch.unwrap_or(self.page_size).max(1);
        let total = rows.len();
        if total <= size {
            return json!({ "totalSize": total, "done": true, "records": rows });
        }
        self.next_locator += 1;
        let locator = format!("01g{:015}", self.next_locator);
        let first: Vec<Value> = rows[..size].to_vec();
        let viewer = self.viewer.clone();
        self.locators.insert(locator.clone(), Locator { rows, resource, viewer });
        json!({
            "totalSize": total,
            "done": false,
            "nextRecordsUrl": format!("/services/data/{}/{resource}/{locator}-{size}", self.api_version),
            "records": first,
        })
    }

    /// The page at `{locator}-{offset}`.
    pub(crate) fn more(&mut self, token: &str, batch: Option<usize>) -> Result<Value, ApiError> {
        let invalid = || ApiError::new("INVALID_QUERY_LOCATOR", "invalid query locator", &[]);
        let (locator, offset) = token.rsplit_once('-').ok_or_else(invalid)?;
        let offset: usize = offset.parse().map_err(|_| invalid())?;
        let size = batch.unwrap_or(self.page_size).max(1);
        let api_version = self.api_version.clone();
        let entry = self.locators.get(locator).filter(|l| l.viewer == self.viewer).ok_or_else(invalid)?;
        let total = entry.rows.len();
        if offset > total {
            return Err(invalid());
        }
        let end = (offset + size).min(total);
        let page: Vec<Value> = entry.rows[offset..end].to_vec();
        let resource = entry.resource;
        if end >= total {
            self.locators.remove(locator);
            return Ok(json!({ "totalSize": total, "done": true, "records": page }));
        }
        Ok(json!({
            "totalSize": total,
            "done": false,
            "nextRecordsUrl": format!("/services/data/{api_version}/{resource}/{locator}-{end}"),
            "records": page,
        }))
    }

    /// Forgets every open query locator.
    pub(crate) fn expire_locators(&mut self) {
        self.locators.clear();
    }

    /// `getDeleted`: records of `object` deleted in `[start, end]`.
    pub(crate) fn deleted_between(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let def = self.object(object).ok_or_else(|| Self::unsupported(object))?;
        let earliest = self.now() - Duration::days(RECYCLE_DAYS);
        if start < earliest {
            return Err(ApiError::new(
                "INVALID_REPLICATION_DATE",
                "startDate is before the earliest date available",
                &[],
            ));
        }
        let mut list: Vec<(DateTime<Utc>, String)> = self
            .tables
            .get(def.name)
            .map(|t| {
                t.keys()
                    .filter_map(|id| self.deleted_at.get(id).map(|at| (*at, id.clone())))
                    .filter(|(at, _)| *at >= start && *at <= end)
                    .collect()
            })
            .unwrap_or_default();
        list.sort();
        let records: Vec<Value> =
            list.iter().map(|(at, id)| json!({ "id": id, "deletedDate": format_datetime(*at) })).collect();
        Ok(json!({
            "deletedRecords": records,
            "earliestDateAvailable": format_datetime(earliest),
            "latestDateCovered": format_datetime(end.min(self.now())),
        }))
    }

    /// `getUpdated`: live records of `object` modified in `[start, end]`.
    pub(crate) fn updated_between(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let def = self.object(object).ok_or_else(|| Self::unsupported(object))?;
        let ids: Vec<String> = self
            .tables
            .get(def.name)
            .map(|t| {
                t.values()
                    .filter(|r| Self::is_live(r) && self.visible(def.name, r))
                    .filter(|r| {
                        r.get("SystemModstamp")
                            .and_then(Value::as_str)
                            .and_then(parse_datetime)
                            .is_some_and(|s| s >= start && s <= end)
                    })
                    .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(json!({ "ids": ids, "latestDateCovered": format_datetime(end.min(self.now())) }))
    }
}

fn converted_lead() -> ApiError {
    ApiError::new("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", &[])
}

fn invalid_type(name: &str) -> SoqlError {
    SoqlError {
        code: "INVALID_TYPE",
        message: format!(
            "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append \
             the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
        ),
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

/// Event dates: all-day events keep their last day (inclusive) in `EndDateTime` and a duration
/// of whole days; timed events a duration in minutes. At most 14 days either way.
fn event_rules(fields: &mut Fields, given: &Fields) -> Result<(), ApiError> {
    let all_day = fields.get("IsAllDayEvent") == Some(&Value::Bool(true));
    let set_dt = |f: &mut Fields, k: &str, v: DateTime<Utc>| {
        f.insert(k.to_owned(), Value::String(format_datetime(v)));
    };
    let too_long = || {
        ApiError::new("FIELD_INTEGRITY_EXCEPTION", "An event can't last longer than 14 days.", &["DurationInMinutes"])
    };
    let backwards = || {
        ApiError::new(
            "FIELD_INTEGRITY_EXCEPTION",
            "The end date and time of the event can't be earlier than its start date and time.",
            &["EndDateTime"],
        )
    };
    if all_day {
        let first = if given.contains_key("ActivityDate") {
            date(fields, "ActivityDate")
        } else {
            dt(fields, "StartDateTime").map(|t| t.date_naive()).or_else(|| date(fields, "ActivityDate"))
        }
        .ok_or_else(|| {
            ApiError::new("REQUIRED_FIELD_MISSING", "Required fields are missing: [ActivityDate]", &["ActivityDate"])
        })?;
        let last = if given.contains_key("DurationInMinutes") && !given.contains_key("EndDateTime") {
            let minutes = fields.get("DurationInMinutes").and_then(Value::as_i64).unwrap_or(1440);
            first + Duration::days(((minutes + 1439) / 1440 - 1).max(0))
        } else {
            dt(fields, "EndDateTime").map_or(first, |t| t.date_naive())
        };
        if last < first {
            return Err(backwards());
        }
        let minutes = ((last - first).num_days() + 1) * 1440;
        if minutes > MAX_EVENT_MINUTES {
            return Err(too_long());
        }
        set_dt(fields, "StartDateTime", midnight(first));
        set_dt(fields, "EndDateTime", midnight(last));
        fields.insert("ActivityDate".to_owned(), Value::String(first.format("%Y-%m-%d").to_string()));
        fields.insert("EndDate".to_owned(), Value::String(last.format("%Y-%m-%d").to_string()));
        fields.insert("ActivityDateTime".to_owned(), Value::Null);
        fields.insert("DurationInMinutes".to_owned(), json!(minutes));
    } else {
        let start = dt(fields, "StartDateTime").or_else(|| dt(fields, "ActivityDateTime")).ok_or_else(|| {
            ApiError::new("REQUIRED_FIELD_MISSING", "Required fields are missing: [StartDateTime]", &["StartDateTime"])
        })?;
        let end = if given.contains_key("DurationInMinutes") && !given.contains_key("EndDateTime") {
            fields.get("DurationInMinutes").and_then(Value::as_i64).map(|m| start + Duration::minutes(m))
        } else {
            dt(fields, "EndDateTime").or_else(|| {
                fields.get("DurationInMinutes").and_then(Value::as_i64).map(|m| start + Duration::minutes(m))
            })
        }
        .ok_or_else(|| {
            ApiError::new("REQUIRED_FIELD_MISSING", "Required fields are missing: [EndDateTime]", &["EndDateTime"])
        })?;
        if end < start {
            return Err(backwards());
        }
        let minutes = (end - start).num_minutes();
        if minutes > MAX_EVENT_MINUTES {
            return Err(too_long());
        }
        set_dt(fields, "StartDateTime", start);
        set_dt(fields, "EndDateTime", end);
        set_dt(fields, "ActivityDateTime", start);
        fields.insert("ActivityDate".to_owned(), Value::String(start.date_naive().format("%Y-%m-%d").to_string()));
        fields.insert("EndDate".to_owned(), Value::String(end.date_naive().format("%Y-%m-%d").to_string()));
        fields.insert("DurationInMinutes".to_owned(), json!(minutes));
    }
    if fields.get("IsRecurrence2") == Some(&Value::Bool(true)) {
        let ok = fields
            .get("Recurrence2PatternText")
            .and_then(Value::as_str)
            .is_some_and(|p| p.lines().any(|l| l.trim_start().starts_with("RRULE:")));
        if !ok {
            return Err(ApiError::new(
                "FIELD_INTEGRITY_EXCEPTION",
                "Recurrence2PatternText must hold an RRULE for a recurring event.",
                &["Recurrence2PatternText"],
            ));
        }
        fields.entry("Recurrence2PatternVersion".to_owned()).or_insert_with(|| Value::String("1".to_owned()));
    } else {
        for f in [
            "Recurrence2PatternText",
            "Recurrence2PatternTimeZone",
            "Recurrence2PatternVersion",
            "Recurrence2PatternStartDate",
        ] {
            fields.insert(f.to_owned(), Value::Null);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::schema::SchemaOptions;
    use super::super::soql::parse;
    use super::*;

    fn org() -> Org {
        let options = SchemaOptions {
            middle_name: true,
            contact_custom: vec![("Region__c".into(), 20)],
            event_custom: vec![],
            sync_key: Some(("Tandem_Sync_Id__c".into(), true)),
        };
        Org::new(schema::objects(&options), "v62.0".into(), 2)
    }

    fn fields(v: Value) -> Fields {
        v.as_object().cloned().unwrap()
    }

    const ADA: &str = "005000000000001AAA";

    #[test]
    fn inserts_validate_like_salesforce() {
        let mut o = org();
        let user = o
            .insert("User", &fields(json!({"Username": "ada@example.com", "LastName": "Lovelace"})), "", false)
            .unwrap();
        assert_eq!(user, ADA);
        let e = o.insert("Contact", &fields(json!({"FirstName": "Ada"})), ADA, true).unwrap_err();
        assert_eq!((e.code.as_str(), e.fields.clone()), ("REQUIRED_FIELD_MISSING", vec!["LastName".to_owned()]));
        let e = o.insert("Contact", &fields(json!({"LastName": "x".repeat(81)})), ADA, true).unwrap_err();
        assert_eq!(e.code, "STRING_TOO_LONG");
        let e = o.insert("Contact", &fields(json!({"LastName": "L", "Email": "nope"})), ADA, true).unwrap_err();
        assert_eq!(e.code, "INVALID_EMAIL_ADDRESS");
        let e = o.insert("Contact", &fields(json!({"LastName": "L", "Nope__c": "x"})), ADA, true).unwrap_err();
        assert_eq!(e.code, "INVALID_FIELD");
        let e = o
            .insert("Contact", &fields(json!({"LastName": "L", "SystemModstamp": "2026-01-01T00:00:00Z"})), ADA, true)
            .unwrap_err();
        assert_eq!(e.code, "INVALID_FIELD_FOR_INSERT_UPDATE");
        let id = o
            .insert(
                "Contact",
                &fields(json!({"FirstName": "Ada", "LastName": "Lovelace", "Tandem_Sync_Id__c": "K1"})),
                ADA,
                true,
            )
            .unwrap();
        assert_eq!(o.get("Contact", &id).unwrap()["Name"], "Ada Lovelace");
        assert_eq!(o.get("Contact", &id).unwrap()["OwnerId"], ADA);
        let e = o
            .insert("Contact", &fields(json!({"LastName": "Twin", "Tandem_Sync_Id__c": "k1"})), ADA, true)
            .unwrap_err();
        assert_eq!(e.code, "DUPLICATE_VALUE");
    }

    #[test]
    fn event_rules() {
        let mut o = org();
        o.insert("User", &fields(json!({"Username": "ada@example.com", "LastName": "Lovelace"})), "", false).unwrap();
        let long = fields(
            json!({"Subject": "x", "StartDateTime": "2026-01-01T00:00:00Z", "EndDateTime": "2026-01-16T00:00:00Z"}),
        );
        assert_eq!(
            o.insert("Event", &long, ADA, true).unwrap_err().message,
            "An event can't last longer than 14 days."
        );
        let all_day =
            fields(json!({"IsAllDayEvent": true, "ActivityDate": "2026-03-02", "EndDateTime": "2026-03-03T00:00:00Z"}));
        let id = o.insert("Event", &all_day, ADA, true).unwrap();
        let e = o.get("Event", &id).unwrap();
        assert_eq!(e["DurationInMinutes"], 2880);
        assert_eq!(e["StartDateTime"], "2026-03-02T00:00:00.000+0000");
        let fourteen =
            fields(json!({"IsAllDayEvent": true, "ActivityDate": "2026-03-01", "EndDateTime": "2026-03-14T00:00:00Z"}));
        assert!(o.insert("Event", &fourteen, ADA, true).is_ok());
        let fifteen =
            fields(json!({"IsAllDayEvent": true, "ActivityDate": "2026-03-01", "EndDateTime": "2026-03-15T00:00:00Z"}));
        assert!(o.insert("Event", &fifteen, ADA, true).is_err());
        let timed = fields(json!({"StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30}));
        let id = o.insert("Event", &timed, ADA, true).unwrap();
        assert_eq!(o.get("Event", &id).unwrap()["EndDateTime"], "2026-03-02T09:30:00.000+0000");
        let bad_rec =
            fields(json!({"StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30, "IsRecurrence2": true}));
        assert_eq!(o.insert("Event", &bad_rec, ADA, true).unwrap_err().code, "FIELD_INTEGRITY_EXCEPTION");
        // Someone else's event is read-only.
        let e = o
            .update("Event", &id, &fields(json!({"Subject": "mine now"})), Some("005000000000099AAA"), true)
            .unwrap_err();
        assert_eq!(e.code, "INSUFFICIENT_ACCESS_OR_READONLY");
    }

    #[test]
    fn queries_filter_sort_page_and_join() {
        let mut o = org();
        o.insert(
            "User",
            &fields(json!({"Username": "ada@example.com", "LastName": "Lovelace", "Email": "ada@example.com"})),
            "",
            false,
        )
        .unwrap();
        let acct = o.insert("Account", &fields(json!({"Name": "Acme"})), ADA, true).unwrap();
        let mut ids = Vec::new();
        for name in ["C", "A", "B"] {
            ids.push(o.insert("Contact", &fields(json!({"LastName": name, "AccountId": acct})), ADA, true).unwrap());
        }
        let select = parse(
            "SELECT Id, LastName, Account.Name FROM Contact WHERE OwnerId = '005000000000001AAA' ORDER BY LastName",
        )
        .unwrap();
        let page = o.query(&select, false, None).unwrap();
        assert_eq!(page["done"], false);
        assert_eq!(page["records"][0]["LastName"], "A");
        assert_eq!(page["records"][0]["Account"]["Name"], "Acme");
        let next = page["nextRecordsUrl"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        let rest = o.more(&next, None).unwrap();
        assert_eq!(rest["done"], true);
        assert_eq!(rest["records"][0]["LastName"], "C");
        assert_eq!(o.more(&next, None).unwrap_err().code, "INVALID_QUERY_LOCATOR");

        o.delete("Contact", &ids[0], None).unwrap();
        let q = parse("SELECT Id FROM Contact WHERE IsDeleted = true").unwrap();
        assert_eq!(o.query(&q, false, None).unwrap()["totalSize"], 0);
        assert_eq!(o.query(&q, true, None).unwrap()["totalSize"], 1);

        let event = o
            .insert(
                "Event",
                &fields(json!({"StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30})),
                ADA,
                true,
            )
            .unwrap();
        o.insert(
            "EventRelation",
            &fields(json!({"EventId": event, "RelationId": ids[1], "IsInvitee": true})),
            ADA,
            true,
        )
        .unwrap();
        let q = parse("SELECT Id FROM Event WHERE Id IN (SELECT EventId FROM EventRelation WHERE RelationId = '003000000000004AAA')").unwrap();
        assert_eq!(o.query(&q, false, None).unwrap()["totalSize"], 1);
        let q = parse("SELECT EventId, Relation.Name, Relation.Email FROM EventRelation").unwrap();
        let r = o.query(&q, false, None).unwrap();
        assert_eq!(r["records"][0]["Relation"]["Name"], "A");
        assert_eq!(r["records"][0]["Relation"]["attributes"]["type"], "Name");

        for bad in [
            "SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-01'",
            "SELECT Nope FROM Contact",
            "SELECT Id FROM Nope",
        ] {
            let e = o.query(&parse(bad).unwrap(), false, None).unwrap_err();
            assert!(e.code == "INVALID_FIELD" || e.code == "INVALID_TYPE", "{bad}: {e:?}");
        }
    }
}
