//! Claims: which worker runs a user's cycle. One holder per user at a time.
//!
//! Several `tandem run` processes (on one machine or many) may share one `PgStore`. Before a cycle a worker claims the user ([`Claims::try_claim`]); a claim
//! another worker holds is refused at once (`Ok(None)`: try again at the next tick), and the
//! holder releases it after the cycle ([`Claim::release`]). A worker that dies releases its
//! claims without doing anything: dropping a [`Claim`] releases it, and a process that is gone
//! releases everything it held (below, per store).
//!
//! # How each store keeps claims
//!
//! - **PostgreSQL** (`PgStore`): a claim is a **session-level advisory lock**
//!   (`pg_try_advisory_lock`) held on a connection of its own, opened for claims only (never
//!   one of the pool's). The lock belongs to the server session: the server releases it when
//!   the session ends, whatever the client did. A worker killed (even `kill -9`) closes its
//!   sockets, so its claims go at once; a machine that vanishes (power, network) is noticed
//!   through TCP keepalives that the claim connection sets on the server side
//!   (`tcp_keepalives_idle` 10 s, `tcp_keepalives_interval` 5 s, `tcp_keepalives_count` 3,
//!   `tcp_user_timeout` 30 s), so its claims expire within about 30 seconds. Claim connections
//!   never set `idle_session_timeout` (a claim connection is idle for the whole cycle by design).
//!   The lock key is a 64-bit hash (`hashtextextended`) of `tandem-claim`, the connection's
//!   schema (`current_schema()`) and the user, so deployments in different schemas of one
//!   database do not see each other's claims. A hash collision between two users would make one
//!   wait for the other's cycle, never run both at once.
//! - **SQLite** (`SqliteStore`): one process. Claims are a set in the process's memory, shared by
//!   every `SqliteStore` of the same file in this process; they die with the process. SQLite
//!   therefore means **one worker**: two processes on one file do not see each other's claims
//!   (nor should two processes write one SQLite file in production).
//!
//! # Why not a job queue library
//!
//! The need is not a queue of jobs: it is a recurring, per-user mutual exclusion with expiry
//! ("at most one holder of user X at a time; a dead holder's claim lapses"). `apalis` 1.0 (with
//! its PostgreSQL backend `apalis-postgres` 1.0, over `apalis-sql`) models jobs pushed to a queue,
//! fetched by workers, retried and acknowledged, with its own tables, its own polling and
//! heartbeats, and a tower-service worker model. Using it would mean enqueueing a job per user
//! per interval (duplicates to prevent by hand), and still no guarantee that two jobs of one
//! user never run at once — exactly the invariant needed — plus a second scheduler beside
//! `tandem run`'s. PostgreSQL's advisory locks are the well-kept, server-side primitive for
//! exactly this (no table, no clean-up, release on session death by the server itself), so
//! claims use them, and the scheduling stays in `tandem run` (oldest-due first).

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::StoreError;

/// Who runs a user's cycle: one holder per user at a time, across every process sharing the
/// store. Object-safe (`Arc<dyn Claims>`); its `Debug` shows no connection details.
#[async_trait]
pub trait Claims: Send + Sync + std::fmt::Debug {
    /// Claims `user` for one cycle. `Ok(Some(claim))`: the caller now holds it until it releases
    /// or drops the [`Claim`]. `Ok(None)`: someone else (another worker, or another task of
    /// this process) holds it; nothing waits. Errors are the store's.
    async fn try_claim(&self, user: &str) -> Result<Option<Claim>, StoreError>;
}

/// What a store keeps for one held claim. Dropping it must release the claim (at the latest
/// when the process ends); [`ClaimHold::release`] releases it now.
#[async_trait]
pub trait ClaimHold: Send + Sync {
    /// Releases the claim now.
    async fn release(self: Box<Self>) -> Result<(), StoreError>;

    /// Whether the claim is still held: false once it was lost (on PostgreSQL, its session
    /// ended: a network failure, a server restart, an administrator's `pg_terminate_backend`),
    /// after which another worker may hold it. The default: held until released.
    async fn is_held(&self) -> bool {
        true
    }
}

/// A held claim of one user. [`Claim::release`] after the cycle; dropping it releases it too
/// (a task aborted mid-cycle, a worker that dies).
pub struct Claim {
    user: String,
    hold: Option<Box<dyn ClaimHold>>,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim").field("user", &self.user).finish_non_exhaustive()
    }
}

impl Claim {
    /// A claim of `user` kept by `hold` (for [`Claims`] implementations).
    pub fn new(user: impl Into<String>, hold: Box<dyn ClaimHold>) -> Self {
        Claim { user: user.into(), hold: Some(hold) }
    }

    /// The claimed user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether the claim is still held (see [`ClaimHold::is_held`]): the fence a worker checks
    /// before it writes or commits, so that a worker that lost its claim stops instead of
    /// running beside the one that took it over.
    pub async fn is_held(&self) -> bool {
        match &self.hold {
            Some(hold) => hold.is_held().await,
            None => false,
        }
    }

    /// Releases the claim. An error means the store could not say it was released cleanly; it
    /// is released anyway when the claim's connection or process ends.
    pub async fn release(mut self) -> Result<(), StoreError> {
        match self.hold.take() {
            Some(hold) => hold.release().await,
            None => Ok(()),
        }
    }
}

/// Claims held in this process: (scope, user). A scope is one SQLite file (or one in-memory
/// database).
static LOCAL: LazyLock<Mutex<HashSet<(String, String)>>> = LazyLock::new(Mutex::default);

fn local() -> MutexGuard<'static, HashSet<(String, String)>> {
    // The set stays consistent whatever panicked while holding it (inserts and removes only).
    LOCAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Claims `user` in `scope` in this process's set.
pub(crate) fn claim_local(scope: &str, user: &str) -> Option<Claim> {
    let key = (scope.to_owned(), user.to_owned());
    if !local().insert(key.clone()) {
        return None;
    }
    Some(Claim::new(user, Box::new(LocalHold { key: Some(key) })))
}

/// A claim in this process's set; dropping it removes it.
struct LocalHold {
    key: Option<(String, String)>,
}

impl Drop for LocalHold {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            local().remove(&key);
        }
    }
}

#[async_trait]
impl ClaimHold for LocalHold {
    async fn release(self: Box<Self>) -> Result<(), StoreError> {
        drop(self);
        Ok(())
    }
}
