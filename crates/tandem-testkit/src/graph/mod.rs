//! The Microsoft Graph fake: Graph v1.0 contacts and calendar, JSON batching and the Microsoft
//! identity platform's v2.0 token endpoint, on a loopback port.
//!
//! Same paths, JSON shapes and property names as Graph v1.0 (a test checks the property names
//! against the official CSDL when `../shared/specs/graph-v1.0.csdl` is present):
//!
//! | path (under `/v1.0`) | what | query options |
//! | --- | --- | --- |
//! | `GET /users/{id}`, `GET /me` | the mailbox owner (`id`, `userPrincipalName`, `mail`, `displayName`) | `$select` |
//! | `GET /users/{id}/calendar` | the primary calendar, with its `owner` | none |
//! | `GET,POST /users/{id}/contactFolders` | folders | list |
//! | `GET,POST /users/{id}/contactFolders/{id}/contacts`, `…/contacts/{id}` (`GET,PATCH,DELETE`) | contacts in a folder | list; item |
//! | `GET /users/{id}/contactFolders/{id}/contacts/delta` | contact delta with `@odata.nextLink`/`@odata.deltaLink`, `@removed` | `$select`, `$top` (first request only) |
//! | `GET,POST /users/{id}/contacts`, `/users/{id}/contacts/{id}` | contacts of the default folder, any contact by id | list; item |
//! | `GET,POST /users/{id}/events`, `/users/{id}/events/{id}` (`GET,PATCH,DELETE`) | single events, series masters, occurrences (a `PATCH` makes an exception, a `DELETE` cancels it) | list; item |
//! | `GET /users/{id}/events/{id}/instances?startDateTime&endDateTime` | occurrences and exceptions of a series | list without `$expand` |
//! | `GET /users/{id}/calendarView?startDateTime&endDateTime` | instances in a window | list without `$expand` |
//! | `GET /users/{id}/calendarView/delta?startDateTime&endDateTime` | calendar delta: occurrences (short form), exceptions and single instances in the window | `$top` only (documented: no `$select`, `$filter`, `$orderby`, `$expand`, `$search`) |
//! | `POST /users/{id}/translateExchangeIds`, `POST /me/translateExchangeIds` | id translation (`ewsId`, `entryId`, `immutableEntryId`, `restId`, `restImmutableEntryId`; at most 1000 ids), consistent with the EWS fake's ids; see [`GraphState::import_from_ews`] | none |
//! | `POST /$batch` | JSON batching: at most 20 requests, `dependsOn`, 424, per-item 429; items may address different mailboxes, each authorised and throttled against its own; no nested batches | none |
//! | `POST /{tenant}/oauth2/v2.0/token`, `GET /{tenant}/oauth2/v2.0/authorize` | client credentials (secret or certificate assertion), authorization code with PKCE, refresh tokens | — |
//!
//! "list" is `$select`, `$filter`, `$orderby`, `$top`, `$skip`, `$count`, `$expand`; "item" is
//! `$select`, `$expand`; writes take none. Any other `$` option answers 400 `BadRequest`
//! (custom options without `$` are ignored, as Graph ignores them). `$filter` is evaluated on the
//! rendered JSON: `eq ne gt ge lt le`, `and or not`, parentheses, `startswith`, `contains`, and
//! `collection/any(v: …)` (extended properties included); other functions and operators answer
//! 400 `ErrorInvalidUrlQueryFilter`, unknown properties 400 `BadRequest` ("Could not find a
//! property named …"). `$expand` knows `singleValueExtendedProperties($filter=id eq '…')` and
//! (events) `exceptionOccurrences`; other navigation properties answer 400. `$select` keeps `id`,
//! annotations (`@odata.etag`, `@removed`) and expanded properties.
//!
//! Behaviour modelled on the documentation (see `../shared/reference/providers.md` §A):
//!
//! - **Ids**: immutable ids with `Prefer: IdType="ImmutableId"`, another (REST) form without; both
//!   are accepted in paths. Requests without the header are counted
//!   ([`GraphState::requests_without_immutable_id`]).
//! - **Times**: `start`/`end` come back in the zone of `Prefer: outlook.timezone` (UTC by
//!   default), all-day events in their own zone; `originalStartTimeZone` keeps the zone they were
//!   written in. All-day events must start and end at midnight in one zone.
//! - **Series**: `patternedRecurrence` (every pattern and range type) is expanded by the fake;
//!   occurrence ids are stable; a `PATCH` of an occurrence makes an exception, a `DELETE` cancels
//!   it (listed in the master's `cancelledOccurrences` as `OID.{masterId}.{yyyy-MM-dd}`, and
//!   under `$expand=exceptionOccurrences`); changing a master's pattern or times drops its
//!   exceptions and cancellations, as Outlook does. `calendarView/delta` lists occurrences in the
//!   short form the service uses (id, `seriesMasterId`, `type`, `start`, `end`), exceptions and
//!   single instances in full; series masters only with
//!   [`GraphFakeConfig::calendar_view_includes_masters`]. Changes to events outside the window
//!   surface as `@removed`, as the documentation warns.
//! - **Delta tokens** are opaque, kept server-side, and expire on demand
//!   ([`GraphState::expire_delta_tokens`]) as `410 Gone` with `Location` or as
//!   `syncStateNotFound` ([`DeltaExpiry`]). Paging follows `Prefer: odata.maxpagesize`
//!   (capped by [`GraphFakeConfig::max_page_size`]).
//! - **ETags**: `@odata.etag` is `W/"<changeKey>"`; a stale `If-Match` gets 412
//!   `ErrorIrresolvableConflict`.
//! - **transactionId**: a second create with the same id returns the existing event (or 409, see
//!   [`DuplicateTransaction`]: the service's behaviour is unverified).
//! - **Extended properties**: single-value extended properties on create and update,
//!   `$expand=singleValueExtendedProperties($filter=id eq '…')` and
//!   `$filter=singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')` on lists.
//! - **Limits**: batches of at most 20; 4 concurrent requests per mailbox (the [`Controls`]
//!   concurrency cap keyed by the `users/{id}` segment for plain requests; items of a batch
//!   running while the mailbox is at its limit answer 429 `ApplicationThrottled`); unknown
//!   properties and enum values are rejected as the service rejects them.
//! - **Errors** have Graph's shape: `{"error":{"code","message","innerError":{"date","request-id",
//!   "client-request-id"}}}`; token errors the identity platform's (`error`, `error_description`
//!   with an `AADSTS` code).
//! - **Headers**: every answer under `/v1.0` carries `request-id`, `client-request-id` (the
//!   client's when it sent one, else the request id) and `Date`; an error body names the same ids.
//!   Answers with events carry `Preference-Applied` for `outlook.timezone` (a zone the fake can
//!   resolve) and `outlook.body-content-type`; delta pages for `odata.maxpagesize`.
//! - **Contexts**: collections carry `@odata.context` (`…/$metadata#users('…')/contacts`,
//!   `#Collection(contact)` and `#Collection(event)` for delta, `(a,b)` after a `$select`), items
//!   `…/$entity`.
//! - **Media types**: a `POST`/`PATCH` with a body and no `Content-Type` answers 400
//!   `BadRequest`, with another type than `application/json` 415 `RequestBodyRead` (batch items
//!   alike, per item).
//! - **Paging links**: a `$skiptoken` page can be fetched again (a retry after a lost answer gets
//!   the same rows and the same next link) until the round's `$deltatoken` is used; a
//!   `$deltatoken` stays usable (each use answers the changes since it was issued) until
//!   [`GraphState::expire_delta_tokens`].
//!
//! Counters: [`Controls`] counts plain requests by route template; [`GraphState::counts`] counts
//! every API request, batch items included (as `$batch: METHOD template`).

mod api;
mod auth;
mod batch;
mod data;
mod from_ews;
mod query;
mod recur;
mod translate;
mod util;

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

pub use self::from_ews::EwsImport;
pub use self::translate::MAX_INPUT_IDS as MAX_TRANSLATE_IDS;

use self::api::{Req, parse_query};
use self::data::{ApiError, Data, ItemFailure, Reply};
use self::util::Prefer;
use crate::server::{CannedResponse, ConcurrencyCap, Controls, FakeServer, path_segment_after};

/// The tenant of [`GraphState::demo`].
pub const DEMO_TENANT: &str = "contoso";
/// The app (client) id of [`GraphState::demo`].
pub const DEMO_CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// The client secret of [`GraphState::demo`] (test-only).
pub const DEMO_CLIENT_SECRET: &str = "tandem-demo-secret";
/// The mailbox of [`GraphState::demo`].
pub const DEMO_MAILBOX: &str = "ann@contoso.example";

/// How an expired or unknown delta token is answered. The service's exact status is unverified,
/// so both documented variants are available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaExpiry {
    /// `410 Gone` with a `Location` header holding the initial query with an empty `$deltatoken`.
    Gone,
    /// An error with code `syncStateNotFound` and this status (400 or 404).
    SyncStateNotFound {
        /// The HTTP status.
        status: u16,
    },
}

/// What a second event create with a `transactionId` already used answers (unverified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateTransaction {
    /// `201` with the existing event.
    ReturnExisting,
    /// `409` with code `ErrorDuplicateTransactionId`.
    Conflict,
}

/// Settings of the fake.
#[derive(Debug, Clone)]
pub struct GraphFakeConfig {
    /// The tenant in token endpoint paths.
    pub tenant: String,
    /// Page size when the client does not ask (`Prefer: odata.maxpagesize`, `$top`). Default 10.
    pub default_page_size: usize,
    /// The largest page served whatever the client asks. Default 200 (the cap reported for
    /// contacts; unverified).
    pub max_page_size: usize,
    /// Requests per `$batch`. Default 20.
    pub max_batch: usize,
    /// Concurrent requests per mailbox. Default 4.
    pub mailbox_concurrency: usize,
    /// How expired delta tokens answer. Default [`DeltaExpiry::Gone`].
    pub delta_expiry: DeltaExpiry,
    /// What a duplicate `transactionId` answers. Default [`DuplicateTransaction::ReturnExisting`].
    pub duplicate_transaction: DuplicateTransaction,
    /// Whether `calendarView/delta` also lists series masters. Default false (the documentation
    /// lists occurrences, exceptions and single instances).
    pub calendar_view_includes_masters: bool,
    /// Whether batch responses come back in another order than the requests. Default true.
    pub shuffle_batch_responses: bool,
    /// Access token lifetime. Default 3599 s.
    pub access_token_lifetime: Duration,
    /// Most email addresses per contact (unverified; `None` for no limit). Default 3.
    pub max_contact_emails: Option<usize>,
    /// Time each `$batch` spends holding its mailboxes' concurrency slots before running. Default 0.
    pub batch_latency: Duration,
    /// Every delta row is sent twice in its round (the documentation warns that rounds may
    /// replay items). Default false.
    pub delta_replays: bool,
}

impl Default for GraphFakeConfig {
    fn default() -> Self {
        GraphFakeConfig {
            tenant: DEMO_TENANT.to_owned(),
            default_page_size: 10,
            max_page_size: 200,
            max_batch: 20,
            mailbox_concurrency: 4,
            delta_expiry: DeltaExpiry::Gone,
            duplicate_transaction: DuplicateTransaction::ReturnExisting,
            calendar_view_includes_masters: false,
            shuffle_batch_responses: true,
            access_token_lifetime: Duration::from_secs(3599),
            max_contact_emails: Some(3),
            batch_latency: Duration::ZERO,
            delta_replays: false,
        }
    }
}

/// The shared state of one Graph fake: its data, its [`Controls`], and the handle tests use to
/// seed mailboxes, play the user, inspect results and inject failures. Cheap to clone.
#[derive(Clone)]
pub struct GraphState {
    data: Arc<Mutex<Data>>,
    controls: Controls,
}

impl std::fmt::Debug for GraphState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphState").field("controls", &self.controls).finish_non_exhaustive()
    }
}

fn text_error(e: ApiError) -> String {
    format!("{} {}: {}", e.status, e.code, e.message)
}

impl GraphState {
    /// An empty fake: no mailboxes, no apps. The [`Controls`] concurrency cap is set to
    /// `mailbox_concurrency` per `users/{id}` segment, answering Graph's 429.
    pub fn new(config: GraphFakeConfig) -> Self {
        let controls = Controls::new();
        let body = util::error_body("ApplicationThrottled", "Application is over its MailboxConcurrency limit.");
        controls.set_concurrency_cap(Some(ConcurrencyCap::new(
            config.mailbox_concurrency,
            path_segment_after("users"),
            CannedResponse::json(StatusCode::TOO_MANY_REQUESTS, &body),
        )));
        GraphState { data: Arc::new(Mutex::new(Data::new(config))), controls }
    }

    /// A fake with demo data for standalone use (`tandem-fakes`): tenant [`DEMO_TENANT`], an
    /// app [`DEMO_CLIENT_ID`] with secret [`DEMO_CLIENT_SECRET`] and the test certificate
    /// ([`crate::keys::TEST_RSA_CERT_PEM`]), redirect URI `http://127.0.0.1/callback`, and the
    /// mailbox [`DEMO_MAILBOX`] (signed in for the authorize endpoint).
    pub fn demo() -> Self {
        let state = GraphState::new(GraphFakeConfig::default());
        state.add_mailbox(DEMO_MAILBOX, "Ann Demo");
        state.register_client_secret(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET);
        if let Err(e) = state.register_certificate(DEMO_CLIENT_ID, crate::keys::TEST_RSA_CERT_PEM) {
            tracing::warn!(error = %e, "could not register the demo certificate");
        }
        state.register_redirect_uri(DEMO_CLIENT_ID, "http://127.0.0.1/callback");
        state.set_signed_in_user(DEMO_MAILBOX);
        state
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The run-time switchboard (counters by route, throttling, failures, latency, concurrency cap).
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    /// The configuration.
    pub fn config(&self) -> GraphFakeConfig {
        self.lock().config.clone()
    }

    /// Changes the configuration (takes effect for the next requests).
    pub fn update_config(&self, f: impl FnOnce(&mut GraphFakeConfig)) {
        f(&mut self.lock().config);
    }

    // --- directory and apps -------------------------------------------------------------------

    /// Adds a mailbox (user); returns its object id. Adding an existing UPN returns its id.
    pub fn add_mailbox(&self, upn: &str, display_name: &str) -> String {
        self.lock().add_mailbox(upn, display_name)
    }

    /// Registers an app with a client secret (several may be registered).
    pub fn register_client_secret(&self, client_id: &str, secret: &str) {
        self.lock().apps.entry(client_id.to_owned()).or_default().secrets.push(secret.to_owned());
    }

    /// Registers a certificate (PEM) for an app's client assertions.
    ///
    /// # Errors
    ///
    /// When the PEM holds no X.509 certificate with an RSA key.
    pub fn register_certificate(&self, client_id: &str, cert_pem: &str) -> Result<(), String> {
        let cert = auth::certificate(cert_pem)?;
        self.lock().apps.entry(client_id.to_owned()).or_default().certs.push(cert);
        Ok(())
    }

    /// Registers a redirect URI for the authorization code flow.
    pub fn register_redirect_uri(&self, client_id: &str, uri: &str) {
        self.lock().apps.entry(client_id.to_owned()).or_default().redirect_uris.push(uri.to_owned());
    }

    /// RBAC for Applications: app-only tokens of `client_id` reach only these mailboxes; others
    /// answer 403 `ErrorAccessDenied`.
    pub fn restrict_app_to(&self, client_id: &str, mailboxes: &[&str]) {
        auth::restrict(&mut self.lock(), client_id, mailboxes);
    }

    /// The user the authorize endpoint signs in when the request has no `login_hint`.
    pub fn set_signed_in_user(&self, upn: &str) {
        self.lock().signed_in = Some(upn.to_owned());
    }

    /// Issues an authorization code as the authorize endpoint would after sign-in and consent.
    /// `code_challenge` is the S256 PKCE challenge.
    pub fn issue_authorization_code(
        &self,
        client_id: &str,
        upn: &str,
        redirect_uri: &str,
        code_challenge: Option<&str>,
        scope: &str,
    ) -> String {
        auth::issue_code(&mut self.lock(), client_id, upn, redirect_uri, code_challenge.map(str::to_owned), scope)
    }

    /// Expires every access token issued so far (the next API call answers 401).
    pub fn expire_access_tokens(&self) {
        auth::expire_access_tokens(&mut self.lock());
    }

    /// Access tokens issued so far.
    pub fn access_tokens_issued(&self) -> usize {
        self.lock().access_tokens.len()
    }

    /// Every access and refresh token this tenant ever issued, expired ones included: what a
    /// canary test searches logs and error messages for.
    pub fn issued_credentials(&self) -> Vec<String> {
        let data = self.lock();
        data.access_tokens.keys().chain(data.refresh_tokens.keys()).cloned().collect()
    }

    // --- delta --------------------------------------------------------------------------------

    /// Expires every delta and skip token issued so far (the service evicting sync state).
    pub fn expire_delta_tokens(&self) {
        self.lock().expire_delta_tokens();
    }

    /// Sets how expired delta tokens answer.
    pub fn set_delta_expiry(&self, expiry: DeltaExpiry) {
        self.lock().config.delta_expiry = expiry;
    }

    // --- contacts -----------------------------------------------------------------------------

    /// Creates a contact folder; returns its id.
    ///
    /// # Errors
    ///
    /// Unknown mailbox, empty or duplicate name.
    pub fn create_contact_folder(&self, mailbox: &str, name: &str) -> Result<String, String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        data.create_folder(&key, name).map(|f| f.id).map_err(text_error)
    }

    /// The id of the contact folder named `name`, if any.
    pub fn contact_folder_id(&self, mailbox: &str, name: &str) -> Option<String> {
        let data = self.lock();
        let key = data.mailbox_key(mailbox)?;
        let m = data.mailboxes.get(&key)?;
        m.folders.values().find(|f| f.display_name.eq_ignore_ascii_case(name)).map(|f| f.id.clone())
    }

    /// Adds a contact as the user would (Graph JSON), in the folder named `folder` (created when
    /// missing) or in the default folder; returns its id.
    ///
    /// # Errors
    ///
    /// Unknown mailbox, or a body the service would reject.
    pub fn seed_contact(&self, mailbox: &str, folder: Option<&str>, contact: Value) -> Result<String, String> {
        self.seed_contact_checked(mailbox, folder, contact, true)
    }

    /// Like [`seed_contact`](Self::seed_contact) without the service's validation: data another
    /// client stored (an unreadable birthday, more addresses than Outlook shows…), to test how
    /// connectors cope.
    ///
    /// # Errors
    ///
    /// Unknown mailbox, or a body that is not a JSON object.
    pub fn seed_contact_unchecked(
        &self,
        mailbox: &str,
        folder: Option<&str>,
        contact: Value,
    ) -> Result<String, String> {
        self.seed_contact_checked(mailbox, folder, contact, false)
    }

    fn seed_contact_checked(
        &self,
        mailbox: &str,
        folder: Option<&str>,
        contact: Value,
        check: bool,
    ) -> Result<String, String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        let folder_id = match folder {
            None => data.mailbox(&key).map_err(text_error)?.default_folder.clone(),
            Some(name) => {
                let existing = data
                    .mailbox(&key)
                    .map_err(text_error)?
                    .folders
                    .values()
                    .find(|f| f.display_name.eq_ignore_ascii_case(name))
                    .map(|f| f.id.clone());
                match existing {
                    Some(id) => id,
                    None => data.create_folder(&key, name).map_err(text_error)?.id,
                }
            }
        };
        let body = contact.as_object().cloned().ok_or("a contact is a JSON object")?;
        data.create_contact_checked(&key, &folder_id, &body, check).map_err(text_error)
    }

    /// Every live contact of the mailbox, as `GET` renders them (immutable ids).
    pub fn contacts(&self, mailbox: &str) -> Vec<Value> {
        let data = self.lock();
        let Some(key) = data.mailbox_key(mailbox) else { return Vec::new() };
        let Some(m) = data.mailboxes.get(&key) else { return Vec::new() };
        let prefer = Prefer { immutable_id: true, ..Prefer::default() };
        m.contacts
            .values()
            .filter(|c| c.deleted_seq.is_none())
            .map(|c| data.render_contact(c, &prefer, Some("")))
            .collect()
    }

    /// One contact as `GET` renders it, with all its extended properties.
    pub fn contact(&self, mailbox: &str, id: &str) -> Option<Value> {
        let data = self.lock();
        let key = data.mailbox_key(mailbox)?;
        let c = data.contact(&key, id).ok()?;
        Some(data.render_contact(c, &Prefer { immutable_id: true, ..Prefer::default() }, Some("")))
    }

    /// Edits a contact as the user would (a JSON merge of `patch`, no precondition).
    ///
    /// # Errors
    ///
    /// Unknown mailbox or contact, or a patch the service would reject.
    pub fn edit_contact(&self, mailbox: &str, id: &str, patch: Value) -> Result<(), String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        let patch = patch.as_object().cloned().ok_or("a patch is a JSON object")?;
        data.update_contact(&key, id, &patch, None).map(|_| ()).map_err(text_error)
    }

    /// Deletes a contact as the user would.
    ///
    /// # Errors
    ///
    /// Unknown mailbox or contact.
    pub fn delete_contact(&self, mailbox: &str, id: &str) -> Result<(), String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        data.delete_contact(&key, id, None).map_err(text_error)
    }

    // --- events -------------------------------------------------------------------------------

    /// Adds an event as the user would (Graph JSON); returns its id.
    ///
    /// # Errors
    ///
    /// Unknown mailbox, or a body the service would reject.
    pub fn seed_event(&self, mailbox: &str, event: Value) -> Result<String, String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        let body = event.as_object().cloned().ok_or("an event is a JSON object")?;
        data.create_event(&key, &body).map(|(id, _)| id).map_err(text_error)
    }

    /// Every live single event and series master, as `GET` renders them in UTC with
    /// `exceptionOccurrences` and extended properties expanded.
    pub fn events(&self, mailbox: &str) -> Vec<Value> {
        let data = self.lock();
        let Some(key) = data.mailbox_key(mailbox) else { return Vec::new() };
        let Some(m) = data.mailboxes.get(&key) else { return Vec::new() };
        let prefer = Prefer { immutable_id: true, ..Prefer::default() };
        m.events
            .values()
            .filter(|e| e.deleted_seq.is_none())
            .map(|e| data.render_event(m, e, &prefer, true, Some("")))
            .collect()
    }

    /// One event (single, master, occurrence or exception) as `GET` renders it in UTC.
    pub fn event(&self, mailbox: &str, id: &str) -> Option<Value> {
        let data = self.lock();
        let key = data.mailbox_key(mailbox)?;
        let (master, date) = data.resolve_event(&key, id).ok()?;
        let m = data.mailboxes.get(&key)?;
        let e = data.event(&key, &master).ok()?;
        let prefer = Prefer { immutable_id: true, ..Prefer::default() };
        match date {
            Some(d) => data.render_instance(m, e, d, &prefer, false),
            None => Some(data.render_event(m, e, &prefer, true, Some(""))),
        }
    }

    /// The occurrences and exceptions of a series overlapping `[from, to)`, as `/instances`
    /// renders them.
    pub fn instances(&self, mailbox: &str, master: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Value> {
        let data = self.lock();
        let Some(key) = data.mailbox_key(mailbox) else { return Vec::new() };
        let Some(m) = data.mailboxes.get(&key) else { return Vec::new() };
        let Ok(e) = data.event(&key, &util::canonical_id(master)) else { return Vec::new() };
        let prefer = Prefer { immutable_id: true, ..Prefer::default() };
        e.instances(from, to)
            .iter()
            .filter_map(|i| i.date.and_then(|d| data.render_instance(m, e, d, &prefer, false)))
            .collect()
    }

    /// The id of the occurrence of series `master` on local date `date` (in the series' zone).
    pub fn occurrence_id(master: &str, date: NaiveDate) -> String {
        util::occurrence_id(&util::canonical_id(master), date)
    }

    /// Edits an event as the user would (no precondition). An occurrence id makes an exception.
    ///
    /// # Errors
    ///
    /// Unknown mailbox or event, or a patch the service would reject.
    pub fn edit_event(&self, mailbox: &str, id: &str, patch: Value) -> Result<(), String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        let patch = patch.as_object().cloned().ok_or("a patch is a JSON object")?;
        data.update_event(&key, id, &patch, None).map(|_| ()).map_err(text_error)
    }

    /// Deletes an event as the user would; an occurrence id cancels that occurrence.
    ///
    /// # Errors
    ///
    /// Unknown mailbox or event.
    pub fn delete_event(&self, mailbox: &str, id: &str) -> Result<(), String> {
        let mut data = self.lock();
        let key = data.mailbox_key(mailbox).ok_or("unknown mailbox")?;
        data.delete_event(&key, id, None).map_err(text_error)
    }

    /// The value of a single-value extended property of an item (contact or event).
    pub fn extended_property(&self, mailbox: &str, id: &str, property_id: &str) -> Option<String> {
        let data = self.lock();
        let key = data.mailbox_key(mailbox)?;
        let m = data.mailboxes.get(&key)?;
        let id = util::canonical_id(id);
        let ext = m.contacts.get(&id).map(|c| &c.ext).or_else(|| m.events.get(&id).map(|e| &e.ext))?;
        ext.iter().find(|(k, _)| k.eq_ignore_ascii_case(property_id)).map(|(_, v)| v.clone())
    }

    // --- counters -----------------------------------------------------------------------------

    /// API requests by `METHOD template` (`GET /users/{id}/calendarView/delta`), batch items as
    /// `$batch: METHOD template`, token requests as `POST /{tenant}/oauth2/v2.0/token`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.lock().counters.clone()
    }

    /// One counter of [`counts`](Self::counts) (zero when absent).
    pub fn count(&self, key: &str) -> u64 {
        self.lock().counters.get(key).copied().unwrap_or(0)
    }

    /// HTTP requests received (batch items not counted separately).
    pub fn http_requests(&self) -> u64 {
        self.lock().counters.iter().filter(|(k, _)| !k.starts_with("$batch: ")).map(|(_, v)| *v).sum()
    }

    /// Batch items received.
    pub fn batch_items(&self) -> u64 {
        self.lock().counters.iter().filter(|(k, _)| k.starts_with("$batch: ")).map(|(_, v)| *v).sum()
    }

    /// The size of every `$batch` received, in order.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.lock().batch_sizes.clone()
    }

    /// API requests (plain or batched) that lacked `Prefer: IdType="ImmutableId"`.
    pub fn requests_without_immutable_id(&self) -> u64 {
        self.lock().without_immutable_id
    }

    /// The most requests seen running at once for a mailbox (plain requests plus the slots of
    /// running batches).
    pub fn peak_concurrency(&self, mailbox: &str) -> usize {
        self.lock().peak.get(&mailbox.to_lowercase()).copied().unwrap_or(0)
    }

    /// Batch items answered 429 (injected or over the concurrency limit).
    pub fn inner_throttled(&self) -> u64 {
        self.lock().inner_throttled
    }

    /// Zeroes the counters of this state (not those of [`Controls`]).
    pub fn reset_counters(&self) {
        let mut data = self.lock();
        data.counters.clear();
        data.batch_sizes.clear();
        data.without_immutable_id = 0;
        data.peak.clear();
        data.inner_throttled = 0;
    }

    // --- failures -----------------------------------------------------------------------------

    /// Answers the next `n` batch items with `status` and Graph error `code` (plus
    /// `Retry-After` when given), whatever they are.
    pub fn fail_batch_items(&self, n: u32, status: u16, code: &str, retry_after: Option<u64>) {
        self.push_item_failure(n, status, code, retry_after, None);
    }

    /// Like [`fail_batch_items`](Self::fail_batch_items), for items `predicate(method, url, body)`
    /// accepts only.
    pub fn fail_batch_items_where(
        &self,
        n: u32,
        status: u16,
        code: &str,
        retry_after: Option<u64>,
        predicate: impl Fn(&str, &str, Option<&Value>) -> bool + Send + Sync + 'static,
    ) {
        self.push_item_failure(n, status, code, retry_after, Some(Arc::new(predicate)));
    }

    fn push_item_failure(
        &self,
        n: u32,
        status: u16,
        code: &str,
        retry_after: Option<u64>,
        predicate: Option<data::ItemPredicate>,
    ) {
        if n > 0 {
            self.lock().item_failures.push_back(ItemFailure {
                remaining: n,
                predicate,
                status,
                code: code.to_owned(),
                retry_after,
            });
        }
    }

    /// The next `n` batches run their items, then answer 504 as if the response had been lost.
    pub fn lose_next_batch_responses(&self, n: u32) {
        self.lock().lose_batch_responses = n;
    }
}

/// A fake Graph server on a loopback port.
#[derive(Debug)]
pub struct GraphFake {
    state: GraphState,
    server: FakeServer,
}

impl GraphFake {
    /// Starts an empty fake with the default configuration.
    pub async fn start() -> io::Result<GraphFake> {
        GraphFake::start_with(GraphFakeConfig::default()).await
    }

    /// Starts an empty fake with `config`.
    pub async fn start_with(config: GraphFakeConfig) -> io::Result<GraphFake> {
        let state = GraphState::new(config);
        let server = FakeServer::start(router(state.clone())).await?;
        Ok(GraphFake { state, server })
    }

    /// The state handle (seed, inspect, inject failures).
    pub fn state(&self) -> &GraphState {
        &self.state
    }

    /// The controls of the server.
    pub fn controls(&self) -> &Controls {
        &self.state.controls
    }

    /// `http://127.0.0.1:PORT`: the authority for token requests.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// `http://127.0.0.1:PORT/v1.0`: the Graph base URL.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.server.base_url())
    }

    /// The token endpoint of the configured tenant.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.server.base_url(), self.state.config().tenant)
    }

    /// Stops the server and waits until its port is free.
    pub async fn shutdown(self) -> io::Result<()> {
        self.server.shutdown().await
    }
}

/// The fake's router over `state`, with `state`'s [`Controls`] in front of every route.
pub fn router(state: GraphState) -> Router {
    let controls = state.controls.clone();
    let routes = [
        "/v1.0/me",
        "/v1.0/users/{user}",
        "/v1.0/users/{user}/calendar",
        "/v1.0/users/{user}/contactFolders",
        "/v1.0/users/{user}/contactFolders/{folder}/contacts",
        "/v1.0/users/{user}/contactFolders/{folder}/contacts/delta",
        "/v1.0/users/{user}/contactFolders/{folder}/contacts/{contact}",
        "/v1.0/users/{user}/contacts",
        "/v1.0/users/{user}/contacts/{contact}",
        "/v1.0/users/{user}/events",
        "/v1.0/users/{user}/events/{event}",
        "/v1.0/users/{user}/events/{event}/instances",
        "/v1.0/users/{user}/calendarView",
        "/v1.0/users/{user}/calendarView/delta",
        "/v1.0/users/{user}/translateExchangeIds",
        "/v1.0/me/translateExchangeIds",
    ];
    let mut r = Router::new();
    for path in routes {
        r = r.route(path, any(api_handler));
    }
    let r = r
        .route("/v1.0/$batch", post(batch_handler))
        .route("/{tenant}/oauth2/v2.0/token", post(token_handler))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize_handler))
        .fallback(fallback)
        .with_state(state);
    controls.wrap(r).layer(axum::middleware::from_fn(graph_headers))
}

/// Every Graph answer (the [`Controls`]' canned ones included) carries `request-id`,
/// `client-request-id` (the client's when it sent one) and `Date`; an error body's `innerError`
/// names the same ids.
async fn graph_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if !request.uri().path().starts_with("/v1.0") {
        return next.run(request).await;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map_or_else(|| request_id.clone(), str::to_owned);
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = if parts.status.as_u16() >= 400 && json {
        match axum::body::to_bytes(body, 1 << 24).await {
            Ok(bytes) => {
                parts.headers.remove(header::CONTENT_LENGTH);
                axum::body::Body::from(util::with_request_ids(&bytes, &request_id, &client_request_id))
            }
            Err(_) => axum::body::Body::empty(),
        }
    } else {
        body
    };
    for (name, value) in [("request-id", request_id.as_str()), ("client-request-id", client_request_id.as_str())] {
        if let Ok(v) = header::HeaderValue::from_str(value) {
            parts.headers.insert(name, v);
        }
    }
    if !parts.headers.contains_key(header::DATE)
        && let Ok(v) = header::HeaderValue::from_str(&Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string())
    {
        parts.headers.insert(header::DATE, v);
    }
    Response::from_parts(parts, body)
}

/// Graph refuses a write whose body is not JSON: 400 `BadRequest` without a `Content-Type`, 415
/// `RequestBodyRead` with another media type.
fn check_content_type(method: &Method, headers: &HeaderMap, body: &Bytes) -> Result<(), Reply> {
    if body.is_empty() || !matches!(*method, Method::POST | Method::PATCH | Method::PUT) {
        return Ok(());
    }
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or_default());
    util::check_json_content_type(content_type).map_err(Reply::from)
}

fn to_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.body {
        Some(body) => (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response(),
        None => status.into_response(),
    };
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) =
            (header::HeaderName::try_from(name.as_str()), header::HeaderValue::try_from(value.as_str()))
        {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

fn origin(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

fn prefer(headers: &HeaderMap) -> Prefer {
    Prefer::parse(headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()))
}

fn parse_body(body: &Bytes) -> Result<Option<Value>, Reply> {
    if body.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|_| Reply::from(ApiError::new(400, "BadRequest", "Unable to read JSON request payload.")))
}

async fn api_handler(
    State(state): State<GraphState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(reply) = check_content_type(&method, &headers, &body) {
        return to_response(reply);
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(reply) => return to_response(reply),
    };
    let path = uri.path().strip_prefix("/v1.0").unwrap_or(uri.path()).to_owned();
    let req = Req {
        method: method.as_str().to_owned(),
        path,
        query: parse_query(uri.query()),
        prefer: prefer(&headers),
        if_match: headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned),
        bearer: bearer(&headers),
        body,
        origin: origin(&headers),
    };
    let raw_user = {
        let mut parts = uri.path().split('/');
        parts.by_ref().find(|p| *p == "users");
        parts.next().map(str::to_lowercase)
    };
    let in_flight = raw_user.as_deref().map_or(0, |u| state.controls.in_flight(u));
    let mut data = state.lock();
    if let Some(user) = &raw_user
        && let Some(key) = data.mailbox_key(user)
    {
        let slots = data.batch_slots.get(&key).copied().unwrap_or(0);
        let total = in_flight.max(1) + slots;
        let peak = data.peak.entry(key).or_insert(0);
        *peak = (*peak).max(total);
        // Running batches hold slots of the mailbox too.
        if slots > 0 && total > data.config.mailbox_concurrency {
            let template = api::template_of(&req.path.trim_matches('/').split('/').collect::<Vec<_>>());
            *data.counters.entry(format!("{} {template}", req.method)).or_default() += 1;
            drop(data);
            let reply = Reply::from(ApiError::new(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            ))
            .header("Retry-After", "1");
            return to_response(reply);
        }
    }
    let (key, reply) = api::dispatch(&mut data, &req);
    *data.counters.entry(key).or_default() += 1;
    drop(data);
    to_response(reply)
}

/// Releases the concurrency slots a batch holds, also when the request is cancelled.
struct Slots {
    state: GraphState,
    held: Vec<(String, usize)>,
}

impl Drop for Slots {
    fn drop(&mut self) {
        let mut data = self.state.lock();
        for (key, n) in &self.held {
            if let Some(v) = data.batch_slots.get_mut(key) {
                *v = v.saturating_sub(*n);
            }
        }
    }
}

async fn batch_handler(State(state): State<GraphState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(reply) = check_content_type(&Method::POST, &headers, &body) {
        return to_response(reply);
    }
    let parsed = match parse_body(&body) {
        Ok(Some(v)) => v,
        Ok(None) => return to_response(Reply::from(ApiError::new(400, "BadRequest", "Empty Payload."))),
        Err(reply) => return to_response(reply),
    };
    let limit = state.config().max_batch;
    let items = match batch::parse(&parsed, limit) {
        Ok(items) => items,
        Err(e) => {
            *state.lock().counters.entry("POST /$batch".into()).or_default() += 1;
            return to_response(Reply::from(e));
        }
    };
    // Reserve concurrency slots per mailbox: up to four items of a batch run in parallel.
    let mut per_mailbox: BTreeMap<String, usize> = BTreeMap::new();
    for item in &items {
        if let Some(m) = item.mailbox() {
            *per_mailbox.entry(m).or_default() += 1;
        }
    }
    let in_flight: Vec<(String, usize, usize)> = per_mailbox
        .into_iter()
        .map(|(m, n)| {
            let f = state.controls.in_flight(&m);
            (m, n, f)
        })
        .collect();
    let mut throttled = HashSet::new();
    let slots = {
        let mut data = state.lock();
        *data.counters.entry("POST /$batch".into()).or_default() += 1;
        data.batch_sizes.push(items.len());
        let cap = data.config.mailbox_concurrency;
        let mut held = Vec::new();
        for (m, n, controls_in_flight) in in_flight {
            let Some(key) = data.mailbox_key(&m) else { continue };
            let used = controls_in_flight + data.batch_slots.get(&key).copied().unwrap_or(0);
            if used >= cap {
                throttled.insert(key.clone());
                let peak = data.peak.entry(key).or_insert(0);
                *peak = (*peak).max(used + 1);
                continue;
            }
            let take = n.min(cap - used).min(4);
            *data.batch_slots.entry(key.clone()).or_default() += take;
            let peak = data.peak.entry(key.clone()).or_insert(0);
            *peak = (*peak).max(used + take);
            held.push((key, take));
        }
        Slots { state: state.clone(), held }
    };
    let latency = state.config().batch_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let origin = origin(&headers);
    let (responses, lost) = {
        let mut data = state.lock();
        let responses = batch::execute(&mut data, &items, bearer(&headers), &origin, &throttled);
        let lost = data.lose_batch_responses > 0;
        if lost {
            data.lose_batch_responses -= 1;
        }
        (responses, lost)
    };
    drop(slots);
    if lost {
        return to_response(Reply::from(ApiError::new(504, "UnknownError", "Gateway timeout.")));
    }
    to_response(Reply::json(200, responses))
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| parse_query(Some(&format!("x={s}"))).pop().map(|(_, v)| v).unwrap_or_default();
    Some((decode(id), decode(secret)))
}

async fn token_handler(
    State(state): State<GraphState>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let origin = origin(&headers);
    let mut data = state.lock();
    *data.counters.entry("POST /{tenant}/oauth2/v2.0/token".into()).or_default() += 1;
    let reply = auth::token(&mut data, &tenant, &form, basic_credentials(&headers), &origin);
    drop(data);
    to_response(reply)
}

async fn authorize_handler(State(state): State<GraphState>, uri: Uri) -> Response {
    let query = parse_query(uri.query());
    let mut data = state.lock();
    *data.counters.entry("GET /{tenant}/oauth2/v2.0/authorize".into()).or_default() += 1;
    match auth::authorize(&mut data, &query) {
        Ok(location) => {
            drop(data);
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        Err(reply) => {
            drop(data);
            to_response(reply)
        }
    }
}

async fn fallback(uri: Uri) -> Response {
    let segment = uri.path().trim_start_matches('/').split('/').nth(1).unwrap_or_default().to_owned();
    let body = util::error_body("BadRequest", &format!("Resource not found for the segment '{segment}'."));
    to_response(Reply::json(400, body))
}

/// The properties the fake accepts in request bodies, as `(type, property)`: the writable
/// properties of `contact` and `event` and those of the complex types written inside them.
/// Exposed so a test can check them against the official CSDL.
pub fn writable_properties() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    out.extend(data::CONTACT_WRITABLE.iter().map(|p| ("contact", *p)));
    out.extend(data::EVENT_WRITABLE.iter().map(|p| ("event", *p)));
    out.extend(["transactionId", "singleValueExtendedProperties"].iter().map(|p| ("event", *p)));
    out.push(("contact", "singleValueExtendedProperties"));
    out.extend(data::WRITE_SCHEMA.iter().map(|(t, p, _)| (*t, *p)));
    out.sort_unstable();
    out.dedup();
    out
}

/// A JSON object from pairs, for tests that build Graph bodies.
pub fn object(pairs: &[(&str, Value)]) -> Value {
    let mut map = Map::new();
    for (k, v) in pairs {
        map.insert((*k).to_owned(), v.clone());
    }
    Value::Object(map)
}

/// `{"dateTime": local, "timeZone": zone}`.
pub fn date_time_time_zone(local: &str, zone: &str) -> Value {
    json!({"dateTime": local, "timeZone": zone})
}
