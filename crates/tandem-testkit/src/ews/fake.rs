//! The [`EwsFake`] handle: construction, the demo fake, starting a server, the lock and the
//! shared [`Controls`].

use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::config::EwsFakeConfig;
use super::data::Data;
use super::endpoint::router;
use super::{DEMO_ACCOUNT, DEMO_MAILBOX, DEMO_PASSWORD};
use crate::server::{Controls, FakeServer};

/// The handle tests use to seed and inspect the fake and to make it misbehave. Cheap to clone.
#[derive(Clone)]
pub struct EwsFake {
    pub(super) data: Arc<Mutex<Data>>,
    pub(super) controls: Controls,
    pub(super) config: EwsFakeConfig,
}

impl std::fmt::Debug for EwsFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsFake").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Default for EwsFake {
    fn default() -> Self {
        EwsFake::new(EwsFakeConfig::default())
    }
}

impl EwsFake {
    /// An empty fake: no mailboxes, no accounts, Basic refused.
    pub fn new(config: EwsFakeConfig) -> EwsFake {
        EwsFake { data: Arc::new(Mutex::new(Data::default())), controls: Controls::new(), config }
    }

    /// A fake with [`DEMO_MAILBOX`] and [`DEMO_ACCOUNT`] (impersonation granted, Basic allowed):
    /// what the `tandem-fakes` binary serves.
    pub fn demo() -> EwsFake {
        let fake = EwsFake::default();
        fake.add_mailbox(DEMO_MAILBOX, "Ann Demo");
        fake.add_service_account(DEMO_ACCOUNT, DEMO_PASSWORD);
        fake.grant_impersonation(DEMO_ACCOUNT, DEMO_MAILBOX);
        fake.allow_basic(true);
        fake
    }

    /// Starts an empty fake with the default config on a loopback port.
    pub async fn start() -> io::Result<(EwsFake, FakeServer)> {
        EwsFake::start_with(EwsFakeConfig::default()).await
    }

    /// Starts an empty fake with `config`.
    pub async fn start_with(config: EwsFakeConfig) -> io::Result<(EwsFake, FakeServer)> {
        let fake = EwsFake::new(config);
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
}
