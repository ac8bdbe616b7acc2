//! The HTTP listener of `tandem run`, always started at `[web] listen` (default
//! `127.0.0.1:8465`):
//!
//! - `GET /healthz`: `200` with `{"status":"ok","uptime_seconds","users","running_cycles",
//!   "last_cycle_age_seconds"}` when the state store can be read, `503` with
//!   `{"status":"unavailable",…}` when it cannot (the cause goes to the log, not to the answer).
//! - `GET /metrics`: the Prometheus text exposition ([`super::metrics`]).
//! - the status page (`crate::web`), merged in when `[web] enabled = true` and an `admin_token`
//!   is configured; on an address other than loopback only with `[web] allow_remote = true`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tandem_engine::Engine;
use tandem_store::{StoreError, UserStatus};

use super::metrics::Metrics;
use crate::config::WebConfig;
use crate::exit::{Exit, Failure};
use crate::live::Live;

/// What the health and metrics routes read.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The engine (its store answers `/healthz`).
    pub engine: Engine,
    /// Live state.
    pub live: Arc<Live>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Users scheduled.
    pub users: usize,
}

/// The answer of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Seconds since the service started.
    pub uptime_seconds: u64,
    /// Users scheduled.
    pub users: usize,
    /// Cycles in flight.
    pub running_cycles: usize,
    /// Seconds since the newest cycle of any user ended (from the store); none before the first.
    pub last_cycle_age_seconds: Option<u64>,
    /// Why the service is unavailable (no detail: see the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

fn seconds_since(then: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((now - then).num_seconds()).unwrap_or(0)
}

/// The health of the service at `now`, given what the store answered.
pub fn health(
    live: &Live,
    users: usize,
    statuses: &Result<Vec<UserStatus>, StoreError>,
    now: DateTime<Utc>,
) -> (StatusCode, Health) {
    let uptime_seconds = live.started_at().map_or(0, |t| seconds_since(t, now));
    let running_cycles = live.users().values().filter(|u| u.running_since.is_some()).count();
    let mut h =
        Health { status: "ok", uptime_seconds, users, running_cycles, last_cycle_age_seconds: None, error: None };
    match statuses {
        Ok(statuses) => {
            h.last_cycle_age_seconds =
                statuses.iter().filter_map(|s| s.last_cycle_at).max().map(|t| seconds_since(t, now));
            (StatusCode::OK, h)
        }
        Err(_) => {
            h.status = "unavailable";
            h.error = Some("the state store cannot be read");
            (StatusCode::SERVICE_UNAVAILABLE, h)
        }
    }
}

async fn healthz(State(state): State<HttpState>) -> Response {
    let statuses = state.engine.store().statuses().await;
    if let Err(e) = &statuses {
        tracing::warn!(error = %e, "/healthz: the state store cannot be read");
    }
    let (code, body) = health(&state.live, state.users, &statuses, Utc::now());
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<HttpState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}

/// `/healthz` and `/metrics`.
pub fn router(state: HttpState) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics)).with_state(state)
}

/// Whether the status page may be served at `web.listen`.
///
/// # Errors
///
/// [`Failure`] ([`Exit::Config`]) for a non-loopback address without `allow_remote = true`.
pub fn check_page_address(web: &WebConfig) -> Result<(), Failure> {
    if web.enabled && !web.listen.ip().is_loopback() && !web.allow_remote {
        return Err(Failure::new(
            Exit::Config,
            format!(
                "[web] listen = \"{}\" is not a loopback address: the status page is served there only with \
                 `allow_remote = true` under [web] (put it behind a TLS reverse proxy)",
                web.listen
            ),
        ));
    }
    Ok(())
}

/// Binds `addr`.
///
/// # Errors
///
/// [`Failure`] ([`Exit::Config`]) when the address cannot be bound (in use, not ours).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Failure> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::new(Exit::Config, format!("[web] listen: cannot listen on {addr}: {e}")))
}

/// Serves `app` on `listener` until `stop` turns true (requests in flight are answered first).
pub async fn serve(listener: tokio::net::TcpListener, app: Router, mut stop: tokio::sync::watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "the HTTP listener stopped");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn health_reports_uptime_cycles_and_the_store() {
        let live = Live::new(t(0));
        live.scheduled("a@x.example", t(1));
        live.cycle_started("b@x.example", t(5));
        let mut status = UserStatus::empty("a@x.example");
        status.last_cycle_at = Some(t(40));
        let (code, h) = health(&live, 2, &Ok(vec![status, UserStatus::empty("b@x.example")]), t(100));
        assert_eq!(code, StatusCode::OK);
        assert_eq!((h.uptime_seconds, h.users, h.running_cycles, h.last_cycle_age_seconds), (100, 2, 1, Some(60)));
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["status"], "ok");
        assert!(json.get("error").is_none(), "{json}");

        let (code, h) = health(&live, 2, &Ok(vec![]), t(100));
        assert_eq!((code, h.last_cycle_age_seconds), (StatusCode::OK, None));
        assert_eq!(serde_json::to_value(&h).unwrap()["last_cycle_age_seconds"], serde_json::Value::Null);

        let broken = Err(StoreError::Database("disk I/O error at /var/lib/tandem/tandem.db".into()));
        let (code, h) = health(&live, 2, &broken, t(100));
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        let json = serde_json::to_value(&h).unwrap().to_string();
        assert!(json.contains("\"status\":\"unavailable\"") && !json.contains("/var/lib"), "{json}");
    }

    #[test]
    fn the_page_stays_on_loopback_unless_allowed() {
        let mut web = WebConfig {
            enabled: true,
            listen: "0.0.0.0:8465".parse().unwrap(),
            admin_token: None,
            allow_remote: false,
        };
        assert_eq!(check_page_address(&web).unwrap_err().exit, Exit::Config);
        web.allow_remote = true;
        assert!(check_page_address(&web).is_ok());
        web.allow_remote = false;
        web.enabled = false;
        assert!(check_page_address(&web).is_ok(), "health and metrics go anywhere");
        web.enabled = true;
        web.listen = "[::1]:8465".parse().unwrap();
        assert!(check_page_address(&web).is_ok());
    }
}
