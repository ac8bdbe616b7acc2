//! A faithful Salesforce REST fake for the connector's tests, on loopback.
//!
//! It serves the same paths and payloads as Salesforce REST, at every API version from
//! [`FakeConfig::oldest_api_version`] to [`FakeConfig::newest_api_version`] (`v31.0` to `v66.0`
//! by default) with the same semantics; links in answers carry the version of the request.
//! Every path is served with and without a trailing slash (`…/query/?q=` is `…/query?q=`).
//! `vXX.X` below is any served version:
//!
//! | Method | Path | What |
//! | --- | --- | --- |
//! | POST | `/services/oauth2/token` | JWT bearer (RS256 signature checked against [`FakeConfig::certificate_pem`]; `iss`, `sub`, `aud`, `exp` within 3 minutes), `client_credentials` (the run-as user), `authorization_code` with PKCE (S256), `refresh_token` |
//! | GET | `/services/oauth2/authorize` | approves at once, redirects with a code |
//! | GET | `/id/{org}/{user}` | the identity service |
//! | GET | `/services/data` | the versions (`label`, `url`, `version`); no session, not counted, no `Sforce-Limit-Info` |
//! | GET | `/services/data/vXX.X` | the resource directory (the resources below and `identity`) |
//! | GET | `/services/data/vXX.X/limits` | `DailyApiRequests` from the fake's budget (as `Sforce-Limit-Info`), other limits untouched |
//! | GET | `…/query?q=`, `…/queryAll?q=` | the SOQL subset of [`soql`](self) (else `MALFORMED_QUERY`), paged through `nextRecordsUrl` ([`FakeConfig::page_size`], or `Sforce-Query-Options: batchSize=`) |
//! | GET | `…/query/{locator}`, `…/queryAll/{locator}` | the next page |
//! | GET | `…/sobjects` | describeGlobal (`encoding`, `maxBatchSize`, `sobjects`) |
//! | GET, POST | `…/sobjects/{type}` | basic information (`objectDescribe`, `recentItems`); create |
//! | GET | `…/sobjects/{type}/describe` | the fields as the fake enforces them (type, length, nillable, createable, updateable, externalId, unique…) |
//! | GET, PATCH, DELETE | `…/sobjects/{type}/{id}` | read (`?fields=`), update, delete |
//! | GET | `…/sobjects/{type}/deleted?start=&end=`, `…/updated?start=&end=` | getDeleted, getUpdated |
//! | GET, PATCH | `…/sobjects/{type}/{field}/{value}` | read (`?fields=`) and upsert by external id (`300` on several matches) |
//! | POST, PATCH, DELETE | `…/composite/sobjects` | collections (v42.0+): create, update, delete (`?ids=`); at most 200 records, `allOrNone` honoured, one result per record |
//! | PATCH | `…/composite/sobjects/{type}/{field}` | collection upsert by external id (v46.0+) |
//!
//! The objects: `Contact`, `Account`, `Lead`, `User`, `Event`, `EventRelation` and
//! `EntitySubscription`.
//!
//! Refusals are Salesforce's JSON error array `[{"message","errorCode","fields"}]` (`fields` only
//! on errors about records; `statusCode` inside collection results), `application/json`:
//! `404 NOT_FOUND` for an unknown path, object, record or version (`v20.0`, `v99.0`, `v62.5`, and
//! a resource older than its version), `405 METHOD_NOT_ALLOWED` (with `Allow`) for a wrong
//! method, `401 INVALID_SESSION_ID` for unknown or expired sessions
//! ([`SalesforceFake::expire_sessions`]), `403 REQUEST_LIMIT_EXCEEDED` once the daily limit is
//! used up. `Sforce-Limit-Info: api-usage=N/LIMIT` and a `Date` from the fake's clock are on
//! every answer under `/services/data/vXX.X`, successes and errors alike.
//!
//! Records are validated as Salesforce does: unknown and read-only fields, lengths
//! (`STRING_TOO_LONG`), required fields (`REQUIRED_FIELD_MISSING`), email addresses, restricted
//! picklists, lookups, unique external ids, the 14-day event rule and all-day dates
//! (`FIELD_INTEGRITY_EXCEPTION`), and events owned by someone else are read-only. Text compares
//! case-insensitively in `=`, `!=`, `IN` and `LIKE` (`Name`, `Account.Name`, `Email`); ids do not.
//!
//! Every request runs as its session's user (queries and their later pages, reads by id and by
//! external id, getUpdated, writes); the handle sees and edits everything. Sharing:
//!
//! | Object | Visible to the user when | Editable (update, delete) when |
//! | --- | --- | --- |
//! | Contact, Account, Lead | the default ([`FakeConfig::sharing`]) is public, the user owns it (`OwnerId`), it is shared with the user ([`SalesforceFake::share`]), or the user has View All Data ([`SalesforceFake::grant_view_all`]) | the default is public read/write, the user owns it, an edit share, or View All Data (taken for Modify All Data) |
//! | EntitySubscription | its parent is visible | the user is its subscriber, or View All Data |
//! | Event | always | the user owns it, or View All Data |
//! | User, EventRelation | always | always (users are not written through the API) |
//!
//! Rows the user cannot see are left out of query results, semi-join values and `COUNT()`; a
//! relationship through a lookup to a record the user cannot see (`Account.Name`, `What.Name`) is
//! `null` as a whole while the lookup's id stays (the fake's choice, unverified), so an event
//! related to a hidden record still shows. A hidden record read by id answers `404 NOT_FOUND`;
//! updating or deleting a hidden or read-only record answers `400 INSUFFICIENT_ACCESS_OR_READONLY`
//! (one `statusCode` per record in collections; Salesforce answers hidden records so too, as far as
//! public reports go); a lookup written to a hidden record (`AccountId`, `WhoId`, `WhatId`,
//! `RelationId`, `ParentId`) answers `INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY` with the field.
//! A query locator answers only the user who ran the query.
//!
//! Chatter follows are `EntitySubscription` records (`0E8`; `ParentId`, `SubscriberId`,
//! `NetworkId`, `CreatedById`, `CreatedDate`, `IsDeleted`; no modification stamps, so querying
//! `SystemModstamp` is `INVALID_FIELD`), created and deleted through the API or the handle
//! ([`SalesforceFake::follow`]), never updated: a second follow of a record is `DUPLICATE_VALUE`; a
//! user follows only records the user sees, and only View All Data makes others follow
//! (`INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY`, unverified); a user without View All Data must
//! query them with a `LIMIT` of at most 1000 (`MALFORMED_QUERY`, code unverified; not required in
//! semi-joins).
//!
//! Shared Activities ([`FakeConfig::shared_activities`], on by default): an event's `WhoId`
//! (Contact or Lead, on create and update, not on child events) is mirrored by an `EventRelation`
//! with `IsParent` and not `IsInvitee`, which moves to the new who when `WhoId` changes (the old
//! one only loses `IsParent` when it is also an invitee). Relations refuse with
//! `FIELD_INTEGRITY_EXCEPTION` (the code is unverified for each): `IsParent` while Shared
//! Activities is off; more than 50 parent contacts on an event; a parent lead together with any
//! other parent; more than 1,000 invitees (100 on a recurring event); any relation on a child
//! event (`IsChild`). A second relation to the same person on an event is `DUPLICATE_VALUE`.
//! `IsParent` and `IsInvitee` default to false when not given (unverified). A lead has a
//! read-only `IsConverted`, set by [`SalesforceFake::convert_lead`]; a converted lead stays
//! queryable and API updates of it answer `CANNOT_UPDATE_CONVERTED_LEAD`.
//!
//! Simplifications, each deliberate: one org; sharing is organisation-wide defaults, manual
//! shares and View All Data only (no role hierarchy, sharing rules, groups, teams, territories,
//! profiles or field-level security; Contact is never "controlled by parent"); deleting needs the
//! same access as editing (Salesforce also wants ownership, the role hierarchy or Modify All);
//! events are visible to everyone whatever `IsPrivate`; deleting the relation of an event's who
//! does not promote another who; getDeleted lists hidden records too; a recurring event is one
//! record carrying its pattern (occurrences are not expanded into records, and invitees get no
//! child events); changing an event's invitees does not touch the event's `SystemModstamp`.
//!
//! The handle ([`SalesforceFake`]) seeds and inspects records and plays the user: edits and
//! deletes advance `SystemModstamp` like any other write. Every request is counted per method
//! and route template by the harness [`Controls`].

mod resources;
mod rest;
mod schema;
mod soql;
mod store;

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::middleware;
use axum::routing::{get, patch, post};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use store::{ApiError, format_datetime, parse_datetime};

use crate::keys;
use crate::server::{Controls, FakeServer};
use schema::SchemaOptions;
use store::Org;

/// How the fake org is set up.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The API version of the links the fake builds when no request names one (the handle's
    /// records), e.g. `v62.0`. Requests may use any version from [`oldest_api_version`] to
    /// [`newest_api_version`].
    ///
    /// [`oldest_api_version`]: FakeConfig::oldest_api_version
    /// [`newest_api_version`]: FakeConfig::newest_api_version
    pub api_version: String,
    /// The oldest API version served (the major number: `31` for `v31.0`). Salesforce retired
    /// versions 21.0 to 30.0 in Summer '25.
    pub oldest_api_version: u32,
    /// The newest API version served (`66` for `v66.0`, Spring '26).
    pub newest_api_version: u32,
    /// The org id (`00D…`).
    pub org_id: String,
    /// The connected app's consumer key (JWT `iss`, OAuth `client_id`).
    pub consumer_key: String,
    /// The connected app's consumer secret.
    pub consumer_secret: String,
    /// The certificate uploaded to the connected app: JWT assertions must verify against it.
    pub certificate_pem: String,
    /// Accepted JWT audiences, besides the fake's own base URL.
    pub audiences: Vec<String>,
    /// The run-as user of the client credentials flow (a username).
    pub run_as: String,
    /// Whether refreshing a token also issues a new refresh token.
    pub rotate_refresh_tokens: bool,
    /// Records per query page.
    pub page_size: usize,
    /// The org's daily API request limit.
    pub daily_limit: u64,
    /// Whether Contact has `MiddleName`.
    pub middle_name: bool,
    /// Custom text fields on Contact (name, length).
    pub contact_custom_fields: Vec<(String, usize)>,
    /// Custom text fields on Event (name, length).
    pub event_custom_fields: Vec<(String, usize)>,
    /// The sync-key field on Contact and Event and whether it is an External ID; `None` for an
    /// org without one.
    pub sync_key_field: Option<(String, bool)>,
    /// The default user: username, first name, last name, time zone.
    pub user: (String, String, String, String),
    /// The organisation-wide sharing defaults of Contact, Account and Lead (all
    /// [`OrgWideDefault::PublicReadWrite`] by default).
    pub sharing: Sharing,
    /// Whether Shared Activities is enabled (events related to many contacts through
    /// `EventRelation.IsParent`); on by default.
    pub shared_activities: bool,
}

/// An organisation-wide default: what users see of records they neither own nor were shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrgWideDefault {
    /// Only the owner, users the record is shared with and users with View All Data see it.
    Private,
    /// Everyone sees it; only the owner, edit shares and Modify All Data edit it.
    PublicRead,
    /// Everyone sees and edits it.
    #[default]
    PublicReadWrite,
}

/// The organisation-wide defaults the fake models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sharing {
    /// Contact's default (in Salesforce it may be "Controlled by Parent"; the fake has no such
    /// setting).
    pub contact: OrgWideDefault,
    /// Account's default.
    pub account: OrgWideDefault,
    /// Lead's default.
    pub lead: OrgWideDefault,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            api_version: "v62.0".to_owned(),
            oldest_api_version: 31,
            newest_api_version: 66,
            org_id: "00D000000000001AAA".to_owned(),
            consumer_key: "3MVG9tandem.test.consumer.key".to_owned(),
            consumer_secret: "tandem-test-consumer-secret".to_owned(),
            certificate_pem: keys::TEST_RSA_CERT_PEM.to_owned(),
            audiences: vec!["https://login.salesforce.com".to_owned(), "https://test.salesforce.com".to_owned()],
            run_as: "ada@example.com".to_owned(),
            rotate_refresh_tokens: false,
            page_size: 2000,
            daily_limit: 100_000,
            middle_name: true,
            contact_custom_fields: vec![("Region__c".to_owned(), 80)],
            event_custom_fields: Vec::new(),
            sync_key_field: Some(("Tandem_Sync_Id__c".to_owned(), true)),
            user: ("ada@example.com".to_owned(), "Ada".to_owned(), "Lovelace".to_owned(), "Europe/London".to_owned()),
            sharing: Sharing::default(),
            shared_activities: true,
        }
    }
}

/// A user of the fake org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    /// The user id (`005…`).
    pub id: String,
    /// The username.
    pub username: String,
}

/// A pending authorization code of the web-server flow.
#[derive(Debug, Clone)]
struct Code {
    user: String,
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
}

struct Inner {
    config: FakeConfig,
    org: Org,
    sessions: HashMap<String, String>,
    refresh_tokens: HashMap<String, (String, String)>,
    codes: HashMap<String, Code>,
    api_used: u64,
    default_user: FakeUser,
    tokens_issued: u64,
    /// Every access token ever issued, for canary tests (sessions forget expired ones).
    issued: Vec<String>,
}

impl Inner {
    /// Runs `f` on the org with links built for the API `version` of the request at hand.
    fn at_version<R>(&mut self, version: &str, f: impl FnOnce(&mut Org) -> R) -> R {
        let saved = std::mem::replace(&mut self.org.api_version, version.to_owned());
        let out = f(&mut self.org);
        self.org.api_version = saved;
        out
    }

    /// Runs `f` on the org as `user` (the session's user: sharing applies) with links built for
    /// the API `version` of the request at hand.
    fn acting<R>(&mut self, version: &str, user: &str, f: impl FnOnce(&mut Org) -> R) -> R {
        let saved = self.org.viewer.replace(user.to_owned());
        let out = self.at_version(version, f);
        self.org.viewer = saved;
        out
    }
}

/// The handle to a fake org: cheap to clone, all clones share it.
#[derive(Clone)]
pub struct SalesforceFake {
    inner: Arc<Mutex<Inner>>,
    controls: Controls,
}

impl std::fmt::Debug for SalesforceFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceFake").field("controls", &self.controls).finish_non_exhaustive()
    }
}

impl Default for SalesforceFake {
    fn default() -> Self {
        SalesforceFake::new(FakeConfig::default())
    }
}

fn fields_of(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl SalesforceFake {
    /// A fake org with `config`'s default user and nothing else.
    pub fn new(config: FakeConfig) -> Self {
        let options = SchemaOptions {
            middle_name: config.middle_name,
            contact_custom: config.contact_custom_fields.clone(),
            event_custom: config.event_custom_fields.clone(),
            sync_key: config.sync_key_field.clone(),
        };
        let mut org = Org::new(schema::objects(&options), config.api_version.clone(), config.page_size);
        org.sharing = config.sharing;
        org.shared_activities = config.shared_activities;
        let (username, first, last, zone) = config.user.clone();
        let user = serde_json::json!({
            "Username": username, "Email": username, "FirstName": first, "LastName": last,
            "TimeZoneSidKey": zone, "IsActive": true,
        });
        let id = org.insert("User", &fields_of(user), "", false).unwrap_or_default();
        SalesforceFake {
            inner: Arc::new(Mutex::new(Inner {
                config,
                org,
                sessions: HashMap::new(),
                refresh_tokens: HashMap::new(),
                codes: HashMap::new(),
                api_used: 0,
                default_user: FakeUser { id, username },
                tokens_issued: 0,
                issued: Vec::new(),
            })),
            controls: Controls::new(),
        }
    }

    /// Starts a fake with the default configuration on a loopback port.
    pub async fn start() -> io::Result<(SalesforceFake, FakeServer)> {
        SalesforceFake::start_with(FakeConfig::default()).await
    }

    /// Starts a fake with `config` on a loopback port.
    pub async fn start_with(config: FakeConfig) -> io::Result<(SalesforceFake, FakeServer)> {
        let fake = SalesforceFake::new(config);
        let server = FakeServer::start(router(fake.clone())).await?;
        Ok((fake, server))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The request counters and misbehaviour switches of this fake.
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    /// The configuration.
    pub fn config(&self) -> FakeConfig {
        self.lock().config.clone()
    }

    /// The default user (the JWT subject and run-as user of the tests).
    pub fn user(&self) -> FakeUser {
        self.lock().default_user.clone()
    }

    /// Adds a user; returns its id.
    pub fn add_user(&self, username: &str, first: &str, last: &str, time_zone: &str) -> String {
        let user = serde_json::json!({
            "Username": username, "Email": username, "FirstName": first, "LastName": last,
            "TimeZoneSidKey": time_zone, "IsActive": true,
        });
        self.lock().org.insert("User", &fields_of(user), "", false).unwrap_or_default()
    }

    fn user_id_of(inner: &Inner, username: &str) -> Option<String> {
        inner.org.by_field("User", "Username", username).into_iter().next()
    }

    /// Creates a record as the default user would in the UI, validated as the API validates
    /// (lengths, required fields, the event rules). `OwnerId` may be given. Returns the id.
    ///
    /// # Errors
    ///
    /// The validation error Salesforce would report.
    pub fn insert(&self, sobject: &str, fields: Value) -> Result<String, ApiError> {
        let mut inner = self.lock();
        let actor = inner.default_user.id.clone();
        inner.org.insert(sobject, &fields_of(fields), &actor, false)
    }

    /// Stores a record without any validation (for data Salesforce would never return, to test
    /// how the connector copes). Returns the id.
    ///
    /// # Errors
    ///
    /// Only for an unknown object.
    pub fn insert_unchecked(&self, sobject: &str, fields: Value) -> Result<String, ApiError> {
        let mut inner = self.lock();
        let actor = inner.default_user.id.clone();
        // Insert a minimal valid record, then overwrite its fields verbatim.
        let placeholder = match sobject {
            "Contact" => serde_json::json!({"LastName": "placeholder"}),
            "Event" => serde_json::json!({"StartDateTime": "2026-01-01T00:00:00Z", "DurationInMinutes": 1}),
            _ => Value::Object(Map::new()),
        };
        let id = inner.org.insert(sobject, &fields_of(placeholder), &actor, false)?;
        inner.org.overwrite(sobject, &id, fields_of(fields));
        Ok(id)
    }

    /// Edits a record as a user would; `SystemModstamp` advances.
    ///
    /// # Errors
    ///
    /// The validation error Salesforce would report, or `ENTITY_IS_DELETED`.
    pub fn update(&self, sobject: &str, id: &str, fields: Value) -> Result<(), ApiError> {
        self.lock().org.update(sobject, id, &fields_of(fields), None, false)
    }

    /// Moves one occurrence of a series as a user would in the calendar: Salesforce keeps it as
    /// its own Event row (`IsRecurrence2Exception`, `RecurrenceActivityId` = the series), with the
    /// series' subject, location, description, privacy and owner, and the new `start`/`end`
    /// (`2026-01-12T11:00:00.000+0000`). The series' row is not touched. Returns the row's id.
    ///
    /// # Errors
    ///
    /// `INVALID_CROSS_REFERENCE_KEY` when `series` is not a live recurring event; the validation
    /// error Salesforce would report for the times.
    pub fn move_occurrence(&self, series: &str, start: &str, end: &str) -> Result<String, ApiError> {
        let master =
            self.get("Event", series).filter(|m| m["IsRecurrence2"] == Value::Bool(true)).ok_or_else(|| {
                ApiError::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", &["RecurrenceActivityId"])
            })?;
        let mut inner = self.lock();
        let actor = inner.default_user.id.clone();
        let mut row = Map::new();
        for f in ["Subject", "Location", "Description", "IsPrivate", "ShowAs", "OwnerId"] {
            if let Some(v) = master.get(f).filter(|v| !v.is_null()) {
                row.insert(f.to_owned(), v.clone());
            }
        }
        row.insert("StartDateTime".to_owned(), Value::String(start.to_owned()));
        row.insert("EndDateTime".to_owned(), Value::String(end.to_owned()));
        let id = inner.org.insert("Event", &fields_of(Value::Object(row)), &actor, false)?;
        let mut flags = Map::new();
        for f in ["Recurrence2PatternText", "Recurrence2PatternTimeZone"] {
            if let Some(v) = master.get(f).filter(|v| !v.is_null()) {
                flags.insert(f.to_owned(), v.clone());
            }
        }
        flags.insert("IsRecurrence2".to_owned(), Value::Bool(true));
        flags.insert("IsRecurrence2Exception".to_owned(), Value::Bool(true));
        flags.insert("RecurrenceActivityId".to_owned(), Value::String(series.to_owned()));
        inner.org.overwrite("Event", &id, fields_of(Value::Object(flags)));
        Ok(id)
    }

    /// Deletes a record as a user would (it goes to the recycle bin: `queryAll` still sees it).
    ///
    /// # Errors
    ///
    /// `ENTITY_IS_DELETED` or `INVALID_CROSS_REFERENCE_KEY`.
    pub fn delete(&self, sobject: &str, id: &str) -> Result<(), ApiError> {
        self.lock().org.delete(sobject, id, None)
    }

    /// Invites a Contact, Lead or User to an event (an `EventRelation` with `IsInvitee`).
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert).
    pub fn invite(&self, event_id: &str, relation_id: &str, status: &str) -> Result<String, ApiError> {
        self.insert(
            "EventRelation",
            serde_json::json!({ "EventId": event_id, "RelationId": relation_id, "IsInvitee": true, "Status": status }),
        )
    }

    /// Shares a Contact, Account or Lead with a user, as a manual share would: read access, and
    /// read/write with `edit`. Sharing again replaces the access level.
    ///
    /// # Errors
    ///
    /// `INVALID_CROSS_REFERENCE_KEY` for a record or user that does not exist (or is deleted),
    /// `INVALID_TYPE` for an object without a sharing model in the fake.
    pub fn share(&self, sobject: &str, record_id: &str, user_id: &str, edit: bool) -> Result<(), ApiError> {
        self.lock().org.share(sobject, record_id, user_id, edit)
    }

    /// Gives a user "View All Data", which the fake also takes for "Modify All Data": the user
    /// sees and edits every record, and may make others follow records.
    pub fn grant_view_all(&self, user_id: &str) {
        self.lock().org.grant_view_all(user_id);
    }

    /// Changes the organisation-wide defaults.
    pub fn set_sharing(&self, sharing: Sharing) {
        let mut inner = self.lock();
        inner.config.sharing = sharing;
        inner.org.sharing = sharing;
    }

    /// Switches Shared Activities on or off (existing relations stay as they are).
    pub fn set_shared_activities(&self, on: bool) {
        let mut inner = self.lock();
        inner.config.shared_activities = on;
        inner.org.shared_activities = on;
    }

    /// Makes `user_id` follow `record_id` in Chatter (an `EntitySubscription`), as that user
    /// would in the UI: the user must see the record. Returns the subscription's id.
    ///
    /// # Errors
    ///
    /// `DUPLICATE_VALUE` when the user already follows it,
    /// `INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY` when the user cannot see it,
    /// `INVALID_CROSS_REFERENCE_KEY` for an unknown record or user.
    pub fn follow(&self, user_id: &str, record_id: &str) -> Result<String, ApiError> {
        let mut inner = self.lock();
        let saved = inner.org.viewer.replace(user_id.to_owned());
        let fields = fields_of(serde_json::json!({ "ParentId": record_id, "SubscriberId": user_id }));
        let out = inner.org.insert("EntitySubscription", &fields, user_id, false);
        inner.org.viewer = saved;
        out
    }

    /// Stops `user_id` following `record_id` (the subscription is deleted).
    ///
    /// # Errors
    ///
    /// `INVALID_CROSS_REFERENCE_KEY` when the user does not follow the record.
    pub fn unfollow(&self, user_id: &str, record_id: &str) -> Result<(), ApiError> {
        self.lock().org.unfollow(user_id, record_id)
    }

    /// Converts a lead as the UI would: `IsConverted` becomes true and `SystemModstamp` advances;
    /// the lead stays queryable, and API updates of it are refused from then on. The contact,
    /// account and opportunity a real conversion creates are not made.
    ///
    /// # Errors
    ///
    /// `INVALID_CROSS_REFERENCE_KEY` for an unknown lead, `ENTITY_IS_DELETED`,
    /// `CANNOT_UPDATE_CONVERTED_LEAD` for a lead already converted.
    pub fn convert_lead(&self, id: &str) -> Result<(), ApiError> {
        self.lock().org.convert_lead(id)
    }

    /// A live record with all its fields, as the API returns it.
    pub fn get(&self, sobject: &str, id: &str) -> Option<Value> {
        let inner = self.lock();
        inner.org.get(sobject, id).map(|r| inner.org.project(sobject, &r, None))
    }

    /// Every live record of `sobject`, in id order.
    pub fn records(&self, sobject: &str) -> Vec<Value> {
        let inner = self.lock();
        inner.org.live(sobject).iter().map(|r| inner.org.project(sobject, r, None)).collect()
    }

    /// How many live records `sobject` has.
    pub fn count(&self, sobject: &str) -> usize {
        self.lock().org.live(sobject).len()
    }

    /// How many records the fake's queries have looked at so far, subqueries included: a measure
    /// of its own cost, so tests can check that a user's query does not scan the whole org.
    pub fn records_examined(&self) -> u64 {
        self.lock().org.examined()
    }

    /// Ids of live records of `sobject` whose `field` equals `value` (case-insensitive).
    pub fn find_by(&self, sobject: &str, field: &str, value: &str) -> Vec<String> {
        self.lock().org.by_field(sobject, field, value)
    }

    /// Invalidates every session: the next API call answers `401 INVALID_SESSION_ID`.
    pub fn expire_sessions(&self) {
        self.lock().sessions.clear();
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.lock().tokens_issued
    }

    /// Every access and refresh token this org ever issued, expired ones included: what a canary
    /// test searches logs and error messages for.
    pub fn issued_credentials(&self) -> Vec<String> {
        let inner = self.lock();
        inner.issued.iter().cloned().chain(inner.refresh_tokens.keys().cloned()).collect()
    }

    /// Sets the daily API request limit.
    pub fn set_daily_limit(&self, limit: u64) {
        self.lock().config.daily_limit = limit;
    }

    /// Sets the requests used today.
    pub fn set_api_usage(&self, used: u64) {
        self.lock().api_used = used;
    }

    /// (used, limit) of the daily API allowance.
    pub fn api_usage(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.api_used, inner.config.daily_limit)
    }

    /// Sets the records per query page.
    pub fn set_page_size(&self, size: usize) {
        let mut inner = self.lock();
        inner.config.page_size = size.max(1);
        inner.org.page_size = size.max(1);
    }

    /// Forgets every open query locator (their `nextRecordsUrl`s answer `INVALID_QUERY_LOCATOR`).
    pub fn expire_query_locators(&self) {
        self.lock().org.expire_locators();
    }

    /// Moves the fake's clock (stamps, `Date` headers, the recycle bin, JWT expiry).
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.lock().org.advance(by);
    }

    /// The fake's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().org.now()
    }
}

/// The fake's router, with [`SalesforceFake::controls`] in front of every route.
pub fn router(fake: SalesforceFake) -> Router {
    let data = Router::new()
        .route("/services/data/{version}", get(resources::directory))
        .route("/services/data/{version}/limits", get(resources::limits))
        .route("/services/data/{version}/query", get(rest::query))
        .route("/services/data/{version}/query/{locator}", get(rest::query_more))
        .route("/services/data/{version}/queryAll", get(rest::query_all))
        .route("/services/data/{version}/queryAll/{locator}", get(rest::query_all_more))
        .route("/services/data/{version}/sobjects", get(resources::describe_global))
        .route("/services/data/{version}/sobjects/{sobject}", get(resources::basic_info).post(rest::create_one))
        .route("/services/data/{version}/sobjects/{sobject}/describe", get(resources::describe))
        .route(
            "/services/data/{version}/sobjects/{sobject}/{id}",
            get(rest::get_one).patch(rest::update_one).delete(rest::delete_one),
        )
        .route(
            "/services/data/{version}/sobjects/{sobject}/{field}/{value}",
            get(rest::get_by_external_id).patch(rest::upsert_one),
        )
        .route(
            "/services/data/{version}/composite/sobjects",
            post(rest::collection_create).patch(rest::collection_update).delete(rest::collection_delete),
        )
        .route("/services/data/{version}/composite/sobjects/{sobject}/{field}", patch(rest::collection_upsert))
        .route_layer(middleware::from_fn_with_state(fake.clone(), rest::data_gate));
    // The versions resource needs no session and does not count against the daily limit.
    let versions = Router::new().route("/services/data", get(resources::versions));
    let auth = Router::new()
        .route("/services/oauth2/token", post(rest::token))
        .route("/services/oauth2/authorize", get(rest::authorize))
        .route("/id/{org}/{user}", get(rest::identity));
    let controls = fake.controls.clone();
    let inner = controls.wrap(data.merge(versions).merge(auth).with_state(fake.clone()));
    // Trailing slashes are stripped before routing; errors of the router itself (404, 405) get
    // Salesforce's error array; every REST answer gets `Sforce-Limit-Info` and `Date`.
    Router::new().fallback_service(inner).layer(middleware::from_fn_with_state(fake, rest::conform))
}
