//! The Google Workspace fake: the OAuth token endpoint for service accounts with domain-wide
//! delegation, Calendar v3 events and People v1 contacts, on a loopback port.
//!
//! - **`POST /token`** takes `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an
//!   RS256 `assertion` signed by a registered service account ([`GoogleFake::add_service_account`],
//!   checked against its certificate). Claims: `iss` (the account's email), `sub` (a user of the
//!   domain, [`GoogleFake::add_user`]), `scope` (space-delimited, every one granted to the
//!   account's client id by [`GoogleFake::grant_delegation`]), `aud`
//!   (`https://oauth2.googleapis.com/token` or this server's `/token`), `iat` and `exp` (at most
//!   one hour apart). Refusals are Google's `{"error":…,"error_description":…}`: `invalid_grant`
//!   (signature, claims, unknown account or user), `unauthorized_client` (delegation missing for a
//!   requested scope), `unsupported_grant_type`, `invalid_scope`. The answer is
//!   `{"access_token":"ya29.…","expires_in":3599,"token_type":"Bearer"}`.
//! - **Calendar v3** (`/calendar/v3/calendars/{calendarId}/events[/{eventId}]`, scope `calendar`
//!   or `calendar.events`): see [`calendar`]. `calendarId` is `primary` or the user's email.
//! - **People v1** (`/v1/people/me/connections`, `/v1/people:batch…Contacts`,
//!   `/v1/contactGroups…`, scope `contacts`): see [`people`].
//! - **Errors** use Google's envelopes: Calendar `{"error":{"errors":[{domain,reason,message,
//!   locationType?,location?}],"code":N,"message":…}}`, People the `google.rpc.Status` shape
//!   `{"error":{"code":N,"message":…,"status":…,"details":[ErrorInfo…]}}`.
//! - **Quota errors on demand**: [`GoogleFake::quota_error_next`] answers the next API calls (not
//!   `/token`) with 403 `rateLimitExceeded`/`userRateLimitExceeded` or 429 (Calendar reasons in
//!   the `usageLimits` domain; People `RESOURCE_EXHAUSTED`).
//! - Counters: [`Controls`] per route; [`GoogleFake::send_updates`] records `sendUpdates`.
//!
//! - **Per-user OAuth**: `GET /o/oauth2/v2/auth` and the `authorization_code` (PKCE S256) and
//!   `refresh_token` grants of `POST /token`: see the `oauth` module.
//! - **Calendar batch** (`POST /batch/calendar/v3`, `multipart/mixed`, at most 1,000 parts,
//!   each answered with its own status and `Content-ID`): see the `batch` module.
//! - **People `batchGet`** (`GET /v1/people:batchGet`, at most 200 resource names).
//!
//! Not modelled yet: instance ids checked against the recurrence rule.

// The Err of the handlers' helpers is the response itself, built once per request.
#![allow(clippy::result_large_err)]

mod batch;
pub mod calendar;
mod expand;
mod oauth;
pub mod people;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::server::{Controls, FakeServer};

/// The JWT bearer grant type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google's token endpoint, accepted as `aud`.
pub const TOKEN_AUDIENCE: &str = "https://oauth2.googleapis.com/token";
/// The Calendar scope for everything.
pub const SCOPE_CALENDAR: &str = "https://www.googleapis.com/auth/calendar";
/// The Calendar scope for events.
pub const SCOPE_CALENDAR_EVENTS: &str = "https://www.googleapis.com/auth/calendar.events";
/// The contacts scope.
pub const SCOPE_CONTACTS: &str = "https://www.googleapis.com/auth/contacts";

/// The demo service account of [`GoogleFake::demo`].
pub const DEMO_ACCOUNT: &str = "tandem-sync@tandem-demo.iam.gserviceaccount.com";
/// Its client id.
pub const DEMO_CLIENT_ID: &str = "100000000000000000001";
/// The demo user.
pub const DEMO_USER: &str = "ann@tandem-demo.example";

/// The kind of quota error [`GoogleFake::quota_error_next`] injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// 403 `rateLimitExceeded` (People: 429 `RESOURCE_EXHAUSTED`).
    RateLimitExceeded,
    /// 403 `userRateLimitExceeded` (People: 429 `RESOURCE_EXHAUSTED`).
    UserRateLimitExceeded,
    /// 429 `rateLimitExceeded`.
    TooManyRequests,
}

/// A registered service account.
#[derive(Debug, Clone)]
pub(crate) struct ServiceAccount {
    client_id: String,
    cert_pem: String,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) user: String,
    pub(crate) scopes: BTreeSet<String>,
    expires: DateTime<Utc>,
}

/// One `sendUpdates` seen on a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendUpdates {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The event id written.
    pub event_id: String,
    /// The value, `None` when absent.
    pub value: Option<String>,
}

/// Everything the fake holds.
#[derive(Debug, Default)]
pub(crate) struct Data {
    accounts: HashMap<String, ServiceAccount>,
    users: BTreeSet<String>,
    delegation: HashMap<String, BTreeSet<String>>,
    tokens: HashMap<String, Grant>,
    /// Monotonic change counter shared by every resource.
    pub(crate) seq: u64,
    /// Bumped by [`GoogleFake::expire_sync_tokens`]; tokens of older epochs are expired.
    pub(crate) epoch: u64,
    pub(crate) calendars: HashMap<String, calendar::Calendar>,
    pub(crate) books: HashMap<String, people::Book>,
    quota: VecDeque<QuotaKind>,
    pub(crate) send_updates: Vec<SendUpdates>,
    pub(crate) people_expired_status: u16,
    pub(crate) oauth: oauth::OAuthData,
}

impl Data {
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// The handle tests use to register accounts, seed and inspect data and make the fake misbehave.
/// Cheap to clone.
#[derive(Clone)]
pub struct GoogleFake {
    data: Arc<Mutex<Data>>,
    controls: Controls,
}

impl std::fmt::Debug for GoogleFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleFake").finish_non_exhaustive()
    }
}

impl Default for GoogleFake {
    fn default() -> Self {
        GoogleFake::new()
    }
}

impl GoogleFake {
    /// An empty fake: no accounts, users or data.
    pub fn new() -> GoogleFake {
        let data = Data { people_expired_status: 400, ..Data::default() };
        GoogleFake { data: Arc::new(Mutex::new(data)), controls: Controls::new() }
    }

    /// A fake with [`DEMO_ACCOUNT`] (certificate [`crate::keys::TEST_RSA_CERT_PEM`]), [`DEMO_USER`]
    /// and delegation of the calendar, calendar.events and contacts scopes: what the
    /// `tandem-fakes` binary serves.
    pub fn demo() -> GoogleFake {
        let fake = GoogleFake::new();
        fake.add_service_account(DEMO_ACCOUNT, DEMO_CLIENT_ID, crate::keys::TEST_RSA_CERT_PEM);
        fake.add_user(DEMO_USER);
        fake.grant_delegation(DEMO_CLIENT_ID, &[SCOPE_CALENDAR, SCOPE_CALENDAR_EVENTS, SCOPE_CONTACTS]);
        fake
    }

    /// Starts an empty fake on a loopback port.
    pub async fn start() -> io::Result<(GoogleFake, FakeServer)> {
        let fake = GoogleFake::new();
        let server = FakeServer::start(router(fake.clone())).await?;
        Ok((fake, server))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shared misbehaviour switches (HTTP-level counters, latency, failures).
    pub fn controls(&self) -> Controls {
        self.controls.clone()
    }

    /// Registers a service account: its email (`iss`), numeric client id (what delegation is
    /// granted to) and the PEM of its certificate or public key.
    pub fn add_service_account(&self, email: &str, client_id: &str, cert_pem: &str) {
        self.lock().accounts.insert(
            email.to_lowercase(),
            ServiceAccount { client_id: client_id.to_owned(), cert_pem: cert_pem.to_owned() },
        );
    }

    /// Adds a user to the domain (a mailbox with a primary calendar and a contact book).
    pub fn add_user(&self, email: &str) {
        let mut d = self.lock();
        let email = email.to_lowercase();
        d.calendars.entry(email.clone()).or_default();
        d.books.entry(email.clone()).or_default();
        d.users.insert(email);
    }

    /// Grants domain-wide delegation of `scopes` to `client_id` (replacing earlier grants), as an
    /// admin does in the Admin console.
    pub fn grant_delegation(&self, client_id: &str, scopes: &[&str]) {
        self.lock().delegation.insert(client_id.to_owned(), scopes.iter().map(|s| (*s).to_owned()).collect());
    }

    /// Removes every delegation of `client_id`; tokens already issued stay valid until they expire.
    pub fn revoke_delegation(&self, client_id: &str) {
        self.lock().delegation.remove(client_id);
    }

    /// Issues an access token directly (skipping the JWT dance) for `user` with `scopes`.
    pub fn issue_token(&self, user: &str, scopes: &[&str]) -> String {
        let token = format!("ya29.{}", random_token());
        let grant = Grant {
            user: user.to_lowercase(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            expires: Utc::now() + chrono::Duration::seconds(3599),
        };
        self.lock().tokens.insert(token.clone(), grant);
        token
    }

    /// Makes every sync token (Calendar and People) and page token issued so far expired.
    pub fn expire_sync_tokens(&self) {
        self.lock().epoch += 1;
    }

    /// Answers the next `n` API calls (not `/token`) with a quota error of `kind`.
    pub fn quota_error_next(&self, n: u32, kind: QuotaKind) {
        let mut d = self.lock();
        for _ in 0..n {
            d.quota.push_back(kind);
        }
    }

    /// The HTTP status of People's expired-sync-token error: 400 (`FAILED_PRECONDITION`, the
    /// default) or 410; which one Google sends is unverified.
    pub fn set_people_expired_token_status(&self, status: u16) {
        self.lock().people_expired_status = status;
    }

    /// Every `sendUpdates` seen on an event write, in order.
    pub fn send_updates(&self) -> Vec<SendUpdates> {
        self.lock().send_updates.clone()
    }
}

/// The router of `fake`, behind its [`Controls`].
pub fn router(fake: GoogleFake) -> Router {
    let controls = fake.controls.clone();
    let app = Router::new()
        .route("/token", post(token))
        .route("/o/oauth2/v2/auth", get(oauth::authorize))
        .route("/calendar/v3/calendars/{calendar_id}/events", get(calendar::list).post(calendar::insert))
        .route(
            "/calendar/v3/calendars/{calendar_id}/events/{event_id}",
            get(calendar::get_event).put(calendar::put).patch(calendar::patch).delete(calendar::delete),
        )
        .route("/batch/calendar/v3", post(batch::calendar))
        .route("/v1/people/me/connections", get(people::connections))
        .route("/v1/people/{person_id}", get(people::get_person))
        .route("/v1/people:batchGet", get(people::batch_get))
        .route("/v1/people:batchCreateContacts", post(people::batch_create))
        .route("/v1/people:batchUpdateContacts", post(people::batch_update))
        .route("/v1/people:batchDeleteContacts", post(people::batch_delete))
        .route("/v1/contactGroups", get(people::list_groups).post(people::create_group))
        .route("/v1/contactGroups/{group}/members:modify", post(people::modify_members))
        .with_state(fake);
    controls.wrap(app)
}

// --- helpers -------------------------------------------------------------------------------------

/// A JSON response.
pub(crate) fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    resp
}

/// Which API a request belongs to (they shape errors differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Calendar,
    People,
}

/// A Calendar-style (v1 JSON) error.
pub(crate) fn calendar_error(
    status: u16,
    domain: &str,
    reason: &str,
    message: &str,
    location: Option<(&str, &str)>,
) -> Response {
    let mut item = json!({"domain": domain, "reason": reason, "message": message});
    if let Some((kind, loc)) = location {
        item["locationType"] = json!(kind);
        item["location"] = json!(loc);
    }
    json_response(status, json!({"error": {"errors": [item], "code": status, "message": message}}))
}

/// A People-style (`google.rpc.Status`) error; `reason` adds an `ErrorInfo` detail.
pub(crate) fn people_error(status: u16, rpc_status: &str, message: &str, reason: Option<&str>) -> Response {
    let mut err = json!({"code": status, "message": message, "status": rpc_status});
    if let Some(reason) = reason {
        err["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "people.googleapis.com",
        }]);
    }
    json_response(status, json!({ "error": err }))
}

/// Authenticates an API request: the bearer token's grant, or the error to answer (including an
/// injected quota error). `scopes` are the alternatives any one of which suffices.
pub(crate) fn authorize(fake: &GoogleFake, headers: &HeaderMap, api: Api, scopes: &[&str]) -> Result<Grant, Response> {
    let mut d = fake.lock();
    if let Some(kind) = d.quota.pop_front() {
        return Err(quota_error(api, kind));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let grant = token.and_then(|t| d.tokens.get(t)).filter(|g| g.expires > Utc::now()).cloned();
    let Some(grant) = grant else {
        return Err(match api {
            Api::Calendar => {
                calendar_error(401, "global", "authError", "Invalid Credentials", Some(("header", "Authorization")))
            }
            Api::People => people_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or \
                 other valid authentication credential.",
                Some("ACCESS_TOKEN_TYPE_UNSUPPORTED"),
            ),
        });
    };
    if !scopes.iter().any(|s| grant.scopes.contains(*s)) {
        let msg = "Request had insufficient authentication scopes.";
        return Err(match api {
            Api::Calendar => calendar_error(403, "global", "insufficientPermissions", msg, None),
            Api::People => people_error(403, "PERMISSION_DENIED", msg, Some("ACCESS_TOKEN_SCOPE_INSUFFICIENT")),
        });
    }
    Ok(grant)
}

fn quota_error(api: Api, kind: QuotaKind) -> Response {
    match (api, kind) {
        (Api::Calendar, QuotaKind::RateLimitExceeded) => {
            calendar_error(403, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded", None)
        }
        (Api::Calendar, QuotaKind::UserRateLimitExceeded) => {
            calendar_error(403, "usageLimits", "userRateLimitExceeded", "User Rate Limit Exceeded", None)
        }
        (Api::Calendar, QuotaKind::TooManyRequests) => {
            calendar_error(429, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded", None)
        }
        (Api::People, _) => people_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Critical read requests (Contact and Profile Reads)' and limit \
             'Critical read requests (Contact and Profile Reads) per minute per user'.",
            Some("RATE_LIMIT_EXCEEDED"),
        ),
    }
}

/// A random URL-safe token.
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// The query string's pairs.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect()
}

/// The last value of `key` in `pairs`.
pub(crate) fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// An opaque token: URL-safe base64 of `text`.
pub(crate) fn encode_token(prefix: &str, text: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(text))
}

/// The text of a token made by [`encode_token`].
pub(crate) fn decode_token(prefix: &str, token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token.strip_prefix(prefix)?).ok()?;
    String::from_utf8(bytes).ok()
}

// --- the token endpoint --------------------------------------------------------------------------

fn oauth_error(error: &str, description: &str) -> Response {
    let status = if error == "unauthorized_client" { 401 } else { 400 };
    json_response(status, json!({"error": error, "error_description": description}))
}

/// The claims of a JWT's payload, read without checking the signature (to find the account).
fn unverified_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?).ok()
}

async fn token(State(fake): State<GoogleFake>, headers: HeaderMap, body: Bytes) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let grant_type = param(&form, "grant_type").unwrap_or("");
    if grant_type == "authorization_code" || grant_type == "refresh_token" {
        return oauth::token(&fake, grant_type, &form, &headers);
    }
    if grant_type != JWT_BEARER {
        return oauth_error("unsupported_grant_type", &format!("Invalid grant_type: {grant_type}"));
    }
    let Some(assertion) = param(&form, "assertion") else {
        return oauth_error("invalid_request", "Missing required parameter: assertion");
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1");
    match grant_jwt(&fake, assertion, host) {
        Ok(token) => json_response(200, json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})),
        Err(resp) => resp,
    }
}

fn grant_jwt(fake: &GoogleFake, assertion: &str, host: &str) -> Result<String, Response> {
    let invalid = |d: &str| oauth_error("invalid_grant", d);
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid("Invalid JWT: malformed."))?;
    if header.alg != Algorithm::RS256 {
        return Err(invalid("Invalid JWT Signature."));
    }
    let claims = unverified_claims(assertion).ok_or_else(|| invalid("Invalid JWT: malformed."))?;
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("").to_lowercase();
    let account = fake.lock().accounts.get(&iss).cloned().ok_or_else(|| invalid("Invalid grant: account not found"))?;
    let key = DecodingKey::from_rsa_pem(account.cert_pem.as_bytes()).map_err(|_| invalid("Invalid JWT Signature."))?;
    let mut validation = Validation::new(Algorithm::RS256);
    let own = format!("http://{host}/token");
    validation.set_audience(&[TOKEN_AUDIENCE, own.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => invalid("Invalid JWT Signature."),
            jsonwebtoken::errors::ErrorKind::InvalidAudience => invalid("Invalid JWT: Failed audience check."),
            _ => invalid(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check \
                 your iat and exp values in the JWT claim.",
            ),
        })?
        .claims;
    let iat = claims.get("iat").and_then(Value::as_i64);
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let now = Utc::now().timestamp();
    match iat {
        Some(iat) if exp - iat <= 3600 && iat <= now + 60 => {}
        _ => {
            return Err(invalid(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check \
                 your iat and exp values in the JWT claim.",
            ));
        }
    }
    let scopes: BTreeSet<String> =
        claims.get("scope").and_then(Value::as_str).unwrap_or("").split_whitespace().map(str::to_owned).collect();
    if scopes.is_empty() {
        return Err(oauth_error("invalid_scope", "Empty or missing scope not allowed."));
    }
    let Some(sub) = claims.get("sub").and_then(Value::as_str).map(str::to_lowercase) else {
        return Err(invalid("Invalid grant: the assertion has no sub (the user to impersonate)."));
    };
    let mut d = fake.lock();
    if !d.users.contains(&sub) {
        return Err(invalid("Invalid email or User ID"));
    }
    let granted = d.delegation.get(&account.client_id).cloned().unwrap_or_default();
    if !scopes.iter().all(|s| granted.contains(s)) {
        return Err(oauth_error(
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any \
             of the scopes requested.",
        ));
    }
    let token = format!("ya29.{}", random_token());
    d.tokens.insert(token.clone(), Grant { user: sub, scopes, expires: Utc::now() + chrono::Duration::seconds(3599) });
    Ok(token)
}

/// An RFC 3339 timestamp with milliseconds, as Google writes `updated`.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Top-level keys merged: `patch`'s keys replace `base`'s, `null` removes.
pub(crate) fn merge(base: &mut BTreeMap<String, Value>, patch: &serde_json::Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            base.remove(k);
        } else {
            base.insert(k.clone(), v.clone());
        }
    }
}
