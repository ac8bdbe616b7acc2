//! Login, sessions and CSRF.
//!
//! - The administrator signs in with the `[web] admin_token`. The token given is compared with
//!   the configured one in constant time, over their SHA-256 digests (so neither the length nor
//!   a common prefix leaks). Every attempt is audited (`web_login`, user `*`); a failed one is
//!   answered after [`FAILED_LOGIN_DELAY`], one failed attempt at a time.
//! - A session is a random 256-bit id (from the operating system) in a cookie `HttpOnly`,
//!   `SameSite=Strict`, `Path=/`, and `Secure` unless the page listens on loopback. Sessions
//!   live in memory (a restart signs everyone out), keyed by the id's SHA-256 digest, and expire
//!   after [`SESSION_IDLE`] without a request.
//! - Each session has its own CSRF token, put in a hidden field of every form and checked (in
//!   constant time) on every POST; a POST whose `Origin` (or, without one, `Referer`) names
//!   another host is refused too. Refusals are `403 Forbidden`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tandem_connector::http::Secret;
use tandem_core::model::ObjectKind;
use tandem_store::AuditEntry;

use super::{ACTOR, WebError, WebState, plain_page};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "tandem_session";
/// A session ends after this long without a request.
pub(crate) const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);
/// How long a failed login waits before answering.
pub(crate) const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(750);
/// At most this many sessions at once; the least recently used goes first.
const MAX_SESSIONS: usize = 256;

type Key = [u8; 32];

/// A message shown once, on the next page.
#[derive(Debug, Clone)]
pub(crate) struct Flash {
    /// The action succeeded (else it found nothing or failed).
    pub(crate) ok: bool,
    /// What happened.
    pub(crate) text: String,
}

struct Session {
    csrf: String,
    last_seen: Instant,
    flash: Option<Flash>,
}

/// The token's digest and the sessions.
pub(crate) struct Auth {
    token_digest: Option<Key>,
    secure_cookie: bool,
    sessions: Mutex<HashMap<Key, Session>>,
    /// Held by a failed login while it waits: failed attempts are answered one at a time.
    failures: tokio::sync::Mutex<()>,
}

fn digest(bytes: &[u8]) -> Key {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 256 random bits from the operating system, as hex.
fn random_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

/// Constant-time equality of two strings (over their digests: lengths do not leak either).
fn same(a: &str, b: &str) -> bool {
    bool::from(digest(a.as_bytes()).ct_eq(&digest(b.as_bytes())))
}

impl Auth {
    pub(crate) fn new(token: &Secret, secure_cookie: bool) -> Auth {
        let token_digest = (!token.is_empty()).then(|| digest(token.expose().as_bytes()));
        Auth {
            token_digest,
            secure_cookie,
            sessions: Mutex::new(HashMap::new()),
            failures: tokio::sync::Mutex::new(()),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<Key, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn token_matches(&self, given: &str) -> bool {
        match &self.token_digest {
            Some(expected) => bool::from(digest(given.as_bytes()).ct_eq(expected)),
            None => false,
        }
    }

    /// A new session: its cookie value.
    fn open(&self) -> Result<String, getrandom::Error> {
        let id = random_id()?;
        let csrf = random_id()?;
        let now = Instant::now();
        let mut sessions = self.sessions();
        sessions.retain(|_, s| now.duration_since(s.last_seen) < SESSION_IDLE);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(digest(id.as_bytes()), Session { csrf, last_seen: now, flash: None });
        Ok(id)
    }

    /// The live session of `cookie`, touched: its key and CSRF token.
    fn find(&self, cookie: &str) -> Option<(Key, String)> {
        let key = digest(cookie.as_bytes());
        let now = Instant::now();
        let mut sessions = self.sessions();
        let session = sessions.get_mut(&key)?;
        if now.duration_since(session.last_seen) >= SESSION_IDLE {
            sessions.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some((key, session.csrf.clone()))
    }

    fn close(&self, key: &Key) {
        self.sessions().remove(key);
    }

    /// Shows `flash` on the session's next page.
    pub(crate) fn set_flash(&self, admin: &Admin, flash: Flash) {
        if let Some(s) = self.sessions().get_mut(&admin.key) {
            s.flash = Some(flash);
        }
    }

    /// The message waiting for the session's next page, taken.
    pub(crate) fn take_flash(&self, admin: &Admin) -> Option<Flash> {
        self.sessions().get_mut(&admin.key).and_then(|s| s.flash.take())
    }

    fn cookie(&self, value: &str, max_age: u64) -> String {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// `host[:port]` of an absolute URL.
fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // Drop any user information.
    Some(authority.rsplit_once('@').map_or(authority, |(_, host)| host))
}

/// Whether the request's `Origin` (or `Referer`) is this site, when it says. A request that
/// names neither passes here; the CSRF token still applies.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true;
    };
    let named = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => Some(origin),
        None => headers.get(header::REFERER).and_then(|v| v.to_str().ok()),
    };
    match named {
        None => true,
        // A sandboxed or privacy-stripped origin: not this site.
        Some("null") => false,
        Some(url) => authority(url).is_some_and(|a| a.eq_ignore_ascii_case(host)),
    }
}

fn forbidden(why: &str) -> Response {
    plain_page(StatusCode::FORBIDDEN, why)
}

/// A signed-in administrator (an extractor). Without a live session, a page redirects to the
/// login page.
pub(crate) struct Admin {
    key: Key,
    /// The session's CSRF token, for the forms of the page.
    pub(crate) csrf: String,
}

impl Admin {
    fn of(headers: &HeaderMap, state: &WebState) -> Option<Admin> {
        let cookie = cookie_value(headers, COOKIE)?;
        let (key, csrf) = state.auth().find(cookie)?;
        Some(Admin { key, csrf })
    }
}

impl FromRequestParts<WebState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        Admin::of(&parts.headers, state).ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// A form that carries the CSRF token.
pub(crate) trait CsrfForm {
    /// The token the form sent, if any.
    fn csrf(&self) -> Option<&str>;
}

/// Only the CSRF token (logout).
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    csrf: Option<String>,
}

impl CsrfForm for CsrfOnly {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// A checked POST (an extractor): same origin when named, a live session, and the session's
/// CSRF token in the form. Anything else is refused with 403.
pub(crate) struct Action<T> {
    pub(crate) admin: Admin,
    pub(crate) form: T,
}

impl<T> FromRequest<WebState> for Action<T>
where
    T: DeserializeOwned + CsrfForm + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        if !same_origin(&parts.headers) {
            return Err(forbidden("Refused: the request came from another site."));
        }
        let Some(admin) = Admin::of(&parts.headers, state) else {
            return Err(forbidden("Refused: not signed in (or the session expired). Sign in again."));
        };
        let req = Request::from_parts(parts, body);
        let Form(form) =
            Form::<T>::from_request(req, state).await.map_err(|e| WebError::BadForm(e.body_text()).into_response())?;
        match form.csrf() {
            Some(token) if same(token, &admin.csrf) => Ok(Action { admin, form }),
            _ => Err(forbidden("Refused: the form's security token is missing or wrong. Reload the page and retry.")),
        }
    }
}

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<String>,
    enabled: bool,
}

fn login_page_with(state: &WebState, status: StatusCode, error: Option<String>) -> Result<Response, WebError> {
    let page = LoginPage { error, enabled: state.auth().token_digest.is_some() };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /login`.
pub(crate) async fn login_page(State(state): State<WebState>, headers: HeaderMap) -> Result<Response, WebError> {
    if Admin::of(&headers, &state).is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    login_page_with(&state, StatusCode::OK, None)
}

/// The login form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
}

/// Audits a sign-in or sign-out (user `*`: it concerns no user). A refused sign-in's actor is
/// `web:unknown`: whoever tried is not known to be an administrator.
async fn audit_login(state: &WebState, outcome: &str, reason: &str) {
    let actor = if outcome == "denied" { "web:unknown" } else { ACTOR };
    let entry = AuditEntry {
        at: Utc::now(),
        user: "*".to_owned(),
        // The audit log is per object; a login concerns none, so it is filed under contacts.
        object: ObjectKind::Contact,
        side: None,
        record_id: None,
        action: "web_login".to_owned(),
        outcome: outcome.to_owned(),
        reason: reason.to_owned(),
        detail: Some(serde_json::json!({ "actor": actor })),
    };
    if let Err(e) = state.engine().store().append_audit(&[entry]).await {
        tracing::error!(error = %e, "status page: cannot audit a login");
    }
}

/// `POST /login`.
pub(crate) async fn login(State(state): State<WebState>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    if !same_origin(&headers) {
        return forbidden("Refused: the request came from another site.");
    }
    let result = if state.auth().token_matches(&form.token) {
        match state.auth().open() {
            Ok(id) => {
                audit_login(&state, "applied", "signed in to the status page").await;
                let mut response = Redirect::to("/").into_response();
                if let Ok(value) = HeaderValue::from_str(&state.auth().cookie(&id, SESSION_IDLE.as_secs())) {
                    response.headers_mut().insert(header::SET_COOKIE, value);
                }
                return response;
            }
            Err(e) => {
                tracing::error!(error = %e, "status page: no randomness for a session id");
                return plain_page(StatusCode::INTERNAL_SERVER_ERROR, "cannot open a session");
            }
        }
    } else {
        audit_login(&state, "denied", "status page sign-in refused: wrong administrator token").await;
        let _one_at_a_time = state.auth().failures.lock().await;
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
        login_page_with(&state, StatusCode::UNAUTHORIZED, Some("Wrong administrator token.".to_owned()))
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /logout`.
pub(crate) async fn logout(State(state): State<WebState>, action: Action<CsrfOnly>) -> Response {
    state.auth().close(&action.admin.key);
    audit_login(&state, "applied", "signed out of the status page").await;
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&state.auth().cookie("", 0)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_cookies() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8465"));
        assert!(same_origin(&h));
        h.insert(header::REFERER, HeaderValue::from_static("http://127.0.0.1:8465/users?q=a"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8465"));
        assert!(same_origin(&h));
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; tandem_session=abc ; b=2"));
        assert_eq!(cookie_value(&h, COOKIE), Some("abc"));
        assert_eq!(authority("https://u:p@h.example:8/x"), Some("h.example:8"));
    }

    #[test]
    fn tokens_and_sessions() {
        let auth = Auth::new(&Secret::new("s3cret"), true);
        assert!(auth.token_matches("s3cret"));
        assert!(!auth.token_matches("s3cre"));
        assert!(!Auth::new(&Secret::new(""), false).token_matches(""));
        let id = auth.open().unwrap();
        assert_eq!(id.len(), 64);
        let (key, csrf) = auth.find(&id).unwrap();
        assert!(auth.find("nope").is_none());
        assert!(same(&csrf, &csrf) && !same(&csrf, "x"));
        assert!(auth.cookie(&id, 5).ends_with("; Secure"));
        auth.close(&key);
        assert!(auth.find(&id).is_none());
    }
}
