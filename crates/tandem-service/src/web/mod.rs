//! The status page: server-rendered HTML for administrators, served by `tandem run` when
//! `[web] enabled = true` (see "Status page" in `docs/service.md`).
//!
//! - `auth`: login with the administrator token (compared in constant time over SHA-256
//!   digests), in-memory sessions (a random 256-bit id in an `HttpOnly`, `SameSite=Strict`
//!   cookie, 8 hours idle), logout, and CSRF protection (a per-session token in every form,
//!   checked on every POST, plus the `Origin`/`Referer` host when present).
//! - `pages`: the system page (`/`), the users table (`/users?q=&filter=`) and one user's page
//!   (`/users/{user}`), read from the engine's admin API and from [`Live`].
//! - `actions`: the POST handlers (held deletes, quarantine, reset), each calling the engine's
//!   admin API with the actor `web:admin` (the engine audits them), then a 303 back with a flash
//!   message.
//!
//! Templates are files under `src/web/templates/`, rendered with **askama**: they are compiled
//! into the binary and checked at compile time (a field a template names must exist), and
//! HTML is escaped by default, so nothing read from the store or a connector is ever rendered
//! raw. It needs no runtime template loading and no JavaScript; minijinja, checked only at
//! run time, would defer template mistakes to the first request. Filtering and search are done
//! on the server from the query string.
//!
//! No secret is ever rendered: connections show only [`tandem_connector::ConnectionInfo`]-level
//! data (provider, method, scopes, endpoints), never settings, and the admin token is only
//! kept as its SHA-256 digest. `/healthz` and `/metrics` are served elsewhere ([`crate::run`]).

mod actions;
mod auth;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tandem_connector::http::Secret;
use tandem_engine::{Engine, EngineError};

use crate::config::ServiceConfig;
use crate::live::Live;

/// The actor the engine records for every action taken from the status page.
pub const ACTOR: &str = "web:admin";

/// What the status page's handlers share: the engine, the configuration, the live state and
/// the sessions. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    config: Arc<ServiceConfig>,
    live: Arc<Live>,
    auth: auth::Auth,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState").field("config", &self.inner.config.path).finish_non_exhaustive()
    }
}

impl WebState {
    /// The state of the status page. `admin_token` is the resolved `[web] admin_token`; only
    /// its digest is kept. An empty token refuses every login. The session cookie is marked
    /// `Secure` unless `[web] listen` is a loopback address.
    pub fn new(engine: Engine, config: Arc<ServiceConfig>, live: Arc<Live>, admin_token: Secret) -> WebState {
        let secure_cookie = !config.web.listen.ip().is_loopback();
        WebState { inner: Arc::new(Inner { engine, config, live, auth: auth::Auth::new(&admin_token, secure_cookie) }) }
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    pub(crate) fn live(&self) -> &Live {
        &self.inner.live
    }

    pub(crate) fn auth(&self) -> &auth::Auth {
        &self.inner.auth
    }
}

/// The status page's routes, under `/`.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/", get(pages::system))
        .route("/users", get(pages::users))
        .route("/users/{user}", get(pages::user))
        .route("/users/{user}/reset", get(pages::reset_confirm).post(actions::reset))
        .route("/users/{user}/held/approve", post(actions::approve_held))
        .route("/users/{user}/held/reject", post(actions::reject_held))
        .route("/users/{user}/quarantine/retry", post(actions::retry_quarantined))
        .route("/users/{user}/quarantine/dismiss", post(actions::dismiss_quarantined))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers on every response: nothing cached, no framing, no script, forms only to this site.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Why a page could not be served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebError {
    /// The engine (the store) failed.
    #[error("the state store failed: {0}")]
    Engine(#[from] EngineError),
    /// The state store failed (read directly).
    #[error("the state store failed: {0}")]
    Store(#[from] tandem_store::StoreError),
    /// A template failed to render.
    #[error("a page failed to render: {0}")]
    Render(#[from] askama::Error),
    /// No such user.
    #[error("no such user: {0}")]
    UnknownUser(String),
    /// A form field is not valid.
    #[error("invalid form: {0}")]
    BadForm(String),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebError::Engine(_) | WebError::Store(_) | WebError::Render(_) => {
                tracing::error!(error = %self, "status page");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            WebError::UnknownUser(_) => StatusCode::NOT_FOUND,
            WebError::BadForm(_) => StatusCode::BAD_REQUEST,
        };
        plain_page(status, &self.to_string())
    }
}

/// A minimal page for errors and refusals, escaped by hand (no template can fail here).
pub(crate) fn plain_page(status: StatusCode, message: &str) -> Response {
    let escaped = escape(message);
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Tandem: {code}</title></head>\
         <body style=\"font-family:sans-serif;margin:2em\"><h1>{code}</h1><p>{escaped}</p>\
         <p><a href=\"/\">Back to the status page</a></p></body></html>",
        code = status.as_u16()
    );
    (status, Html(body)).into_response()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// `user` as one URL path segment (every byte but unreserved ones percent-encoded).
pub(crate) fn path_segment(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_and_escaping() {
        assert_eq!(path_segment("ada@example.com"), "ada%40example.com");
        assert_eq!(path_segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;");
    }
}
