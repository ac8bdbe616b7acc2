//! The harness every fake provider server runs on.
//!
//! - [`FakeServer`] serves an [`axum::Router`] on `127.0.0.1` with a port the OS picks, and shuts
//!   down gracefully on [`FakeServer::shutdown`] or on drop.
//! - [`Controls`] is the shared, run-time switchboard of provider-independent misbehaviour:
//!   request counters, throttling (429 + `Retry-After` with the provider's own error body),
//!   injected failures, latency and a per-key concurrency cap. A fake wraps its router with
//!   [`Controls::wrap`]; the test keeps a clone of the handle and flips behaviours on and off.
//! - [`Gate`] holds requests inside a handler until the test releases them, so tests can make
//!   requests overlap deterministically instead of sleeping.
//! - [`FakeSet`] names the fakes (`"health"` today; Salesforce, Graph, EWS and Google later) for
//!   the `tandem-fakes` binary, which starts each on its own port and writes a port file.
//!
//! Everything binds to loopback only; nothing here ever talks to a real provider.

mod controls;
mod gate;
mod registry;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use controls::{
    CannedResponse, Chaos, ChaosRule, ConcurrencyCap, Controls, Fault, FaultRecord, KeyFn, RateLimit, RequestPredicate,
    header_key, key_fn, path_segment_after, whole_server,
};
pub use gate::Gate;
pub use registry::{
    FakeSet, FakeSetError, RouterFactory, RunningFakes, health_router, parse_port_file, read_port_file, write_port_file,
};

/// How long [`FakeServer::shutdown`] waits for in-flight requests before aborting them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// An axum router served on a loopback port until shut down or dropped.
///
/// Must be started inside a tokio runtime. Dropping it signals a graceful shutdown without
/// waiting for it; call [`FakeServer::shutdown`] to wait until the port is free.
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    handle: Option<JoinHandle<io::Result<()>>>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakeServer {
    /// Serves `router` on `127.0.0.1` at a port chosen by the OS.
    pub async fn start(router: Router) -> io::Result<FakeServer> {
        FakeServer::start_at(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), router).await
    }

    /// Serves `router` at `addr` (port 0 lets the OS choose). Tests should prefer
    /// [`FakeServer::start`]; a fixed address is for the standalone binary's users.
    pub async fn start_at(addr: SocketAddr, router: Router) -> io::Result<FakeServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    // Either an explicit signal or the sender being dropped.
                    let _ = rx.await;
                })
                .await
        });
        tracing::debug!(%addr, "fake server started");
        Ok(FakeServer { addr, handle: Some(handle), shutdown: Some(tx) })
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL joined with `path` (a leading `/` is added when missing).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') { format!("{}{path}", self.base_url()) } else { format!("{}/{path}", self.base_url()) }
    }

    /// Stops accepting connections, lets in-flight requests finish (for at most
    /// [`SHUTDOWN_GRACE`], then aborts them) and returns once the port is released.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Some(mut handle) = self.handle.take() else {
            return Ok(());
        };
        let joined = match tokio::time::timeout(SHUTDOWN_GRACE, &mut handle).await {
            Ok(joined) => joined,
            Err(_elapsed) => {
                tracing::warn!(addr = %self.addr, "fake server did not drain in time; aborting");
                handle.abort();
                handle.await
            }
        };
        match joined {
            Ok(result) => result,
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests;
