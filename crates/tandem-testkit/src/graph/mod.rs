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
//!   the same items and the same next link) until the round's `$deltatoken` is used; a
//!   `$deltatoken` stays usable (each use answers the changes since it was issued) until
//!   [`GraphState::expire_delta_tokens`]. A round names its items when it starts and renders a
//!   page when it serves it: an item changed before its page is served shows its newer state (and
//!   is in the next round again, which starts from the round's start), one deleted shows as
//!   `@removed`. Holding names, not rendered rows, keeps ten thousand mailboxes' rounds small.
//! - **Storage**: items keep the properties a client wrote as compact JSON text, decoded when read
//!   (`crate::compact`); an incremental round does not decode the items it skips.
//!
//! Counters: [`Controls`] counts plain requests by route template; [`GraphState::counts`] counts
//! every API request, batch items included (as `$batch: METHOD template`).
//!
//! Code map:
//! - `mod.rs`: the public items: configuration, [`GraphState`] (construction and its
//!   configuration), [`GraphFake`], the [`router`] and helpers for tests building Graph bodies.
//! - `directory.rs`: [`GraphState`] seeding mailboxes and apps, issuing and expiring tokens.
//! - `items.rs`: [`GraphState`] seeding, reading, editing and deleting contacts and events.
//! - `counters.rs`: [`GraphState`] counters (requests, batch items and sizes, concurrency peaks).
//! - `failures.rs`: [`GraphState`] failure injection: expired delta tokens, failing batch items,
//!   lost batch responses.
//! - `wire.rs`: HTTP plumbing: Graph's response headers, media-type checks, request parsing,
//!   replies to responses.
//! - `handlers.rs`: the `/v1.0` handlers (plain API requests, `$batch` with its concurrency
//!   slots) and the fallback for unknown paths.
//! - `oauth.rs`: the identity platform handlers (token and authorize endpoints).
//! - `api/`: the API dispatcher shared by plain requests and batch items.
//! - `batch.rs`: parsing and running `$batch` bodies.
//! - `auth.rs`: the identity platform's logic (grants, tokens, codes, app restrictions).
//! - `query/`: OData query options.
//! - `translate.rs`: `translateExchangeIds` and the id scheme shared with the EWS fake.
//! - `from_ews.rs`: [`GraphState::import_from_ews`].
//! - `recur.rs`: expansion of recurrence patterns.
//! - `util.rs`: small helpers (times, zones, ids, error bodies, `Prefer`).
//! - `data/`: the mailboxes and everything else the fake holds.

mod api;
mod auth;
mod batch;
mod counters;
mod data;
mod directory;
mod failures;
mod from_ews;
mod handlers;
mod items;
mod oauth;
mod query;
mod recur;
mod translate;
mod util;
mod wire;

use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{any, get, post};
use serde_json::{Map, Value, json};

pub use self::from_ews::EwsImport;
pub use self::translate::MAX_INPUT_IDS as MAX_TRANSLATE_IDS;

use self::data::Data;
use self::handlers::{api_handler, batch_handler, fallback};
use self::oauth::{authorize_handler, token_handler};
use self::wire::graph_headers;
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
