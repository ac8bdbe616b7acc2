//! [`Claims`] on PostgreSQL: a session-level advisory lock per claim, held on a connection used
//! for claims only. See the crate's `claims` module for why, and for how claims expire.
//!
//! A claim connection is opened with the pool's options (host, TLS, `search_path`…) plus server
//! keepalives, so the server notices a vanished client within about 30 s and ends its session,
//! which releases its locks. Released claims leave their connection idle for the next claim (up
//! to [`IDLE_KEPT`]); a dropped claim closes its connection, so the server releases the lock at
//! once.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, query_scalar};

use super::db;
use crate::{Claim, ClaimHold, Claims, StoreError};

/// Idle claim connections kept for the next claims.
const IDLE_KEPT: usize = 16;

/// The lock key of a user: a 64-bit hash of a fixed prefix, the schema and the user.
const KEY: &str = "hashtextextended('tandem-claim:' || current_schema() || ':' || $1, 0)";

/// Claim connections: how to open one, and those idle.
#[derive(Clone)]
pub(super) struct ClaimConnections {
    options: Arc<PgConnectOptions>,
    idle: Arc<Mutex<Vec<PgConnection>>>,
}

impl ClaimConnections {
    pub(super) fn new(options: &PgConnectOptions) -> Self {
        // Server-side keepalives: a client that vanishes without closing its socket (power,
        // network) is dropped, and its claims with it, within about 30 s.
        let options = options.clone().options([
            ("tcp_keepalives_idle", "10"),
            ("tcp_keepalives_interval", "5"),
            ("tcp_keepalives_count", "3"),
            ("tcp_user_timeout", "30000"),
            ("idle_session_timeout", "0"),
        ]);
        let options = options.application_name("tandem-claims");
        ClaimConnections { options: Arc::new(options), idle: Arc::default() }
    }

    fn take_idle(&self) -> Option<PgConnection> {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop()
    }

    fn put_idle(&self, conn: PgConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < IDLE_KEPT {
            idle.push(conn);
        }
        // Beyond that, dropping closes it (it holds no lock).
    }

    async fn connection(&self) -> Result<PgConnection, StoreError> {
        while let Some(mut conn) = self.take_idle() {
            if conn.ping().await.is_ok() {
                return Ok(conn);
            }
        }
        self.options.connect().await.map_err(db("opening a claim connection"))
    }

    pub(super) async fn try_claim(&self, user: &str) -> Result<Option<Claim>, StoreError> {
        let mut conn = self.connection().await?;
        let sql = format!("SELECT pg_try_advisory_lock({KEY})");
        let got: bool = query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(user)
            .fetch_one(&mut conn)
            .await
            .map_err(db("claiming a user"))?;
        if !got {
            self.put_idle(conn);
            return Ok(None);
        }
        let hold =
            PgHold { user: user.to_owned(), conn: tokio::sync::Mutex::new(Some(conn)), connections: self.clone() };
        Ok(Some(Claim::new(user, Box::new(hold))))
    }

    pub(super) async fn close(&self) {
        while let Some(conn) = self.take_idle() {
            let _ = conn.close().await;
        }
    }
}

/// A held advisory lock and its connection. Dropped without [`ClaimHold::release`], the
/// connection is dropped, its socket closed, and the server ends the session and the lock.
struct PgHold {
    user: String,
    /// Behind a lock so that [`ClaimHold::is_held`] can use it while the claim is shared.
    conn: tokio::sync::Mutex<Option<PgConnection>>,
    connections: ClaimConnections,
}

/// How long a check of a claim's session may take before the claim counts as lost.
const HELD_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[async_trait]
impl ClaimHold for PgHold {
    async fn is_held(&self) -> bool {
        let mut slot = self.conn.lock().await;
        let Some(conn) = slot.as_mut() else { return false };
        // A session-level advisory lock lasts as long as its session: the session answering is
        // the lock being held. A session that does not answer in time counts as lost.
        matches!(tokio::time::timeout(HELD_CHECK_TIMEOUT, conn.ping()).await, Ok(Ok(())))
    }

    async fn release(mut self: Box<Self>) -> Result<(), StoreError> {
        let Some(mut conn) = self.conn.get_mut().take() else { return Ok(()) };
        let sql = format!("SELECT pg_advisory_unlock({KEY})");
        let released: Result<bool, _> =
            query_scalar(sqlx::AssertSqlSafe(sql)).bind(&self.user).fetch_one(&mut conn).await;
        match released {
            Ok(true) => {
                self.connections.put_idle(conn);
                Ok(())
            }
            // The session no longer held it (the server ended it, or it was lost): closing the
            // connection leaves nothing behind.
            Ok(false) => {
                let _ = conn.close().await;
                Err(StoreError::Database(
                    "releasing a claim: the claim was no longer held (its connection was lost)".into(),
                ))
            }
            Err(e) => {
                drop(conn);
                Err(db("releasing a claim")(e))
            }
        }
    }
}

#[async_trait]
impl Claims for super::PgStore {
    /// A session-level advisory lock on a connection of its own: see the module.
    async fn try_claim(&self, user: &str) -> Result<Option<Claim>, StoreError> {
        self.claims.try_claim(user).await
    }
}
