//! What `tandem run` knows while it runs and the store does not keep: each connection's health
//! (its method, scopes and endpoints as the connector declares them, the last time it answered,
//! the last error) and each user's place in the schedule (a cycle running now, the next one).
//!
//! The scheduler ([`crate::run`]) writes it; the status page ([`crate::web`]) and the health
//! endpoint read it. It holds no secret: [`tandem_connector::ConnectionInfo`] carries none, and
//! errors are recorded through their `Display`, which connectors keep free of secrets.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tandem_connector::ConnectionInfo;

/// One connection of the configuration file, as seen while running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionHealth {
    /// The `[connections.NAME]` name.
    pub name: String,
    /// The provider (`salesforce`, `graph`, `ews`, `google`, `memory`).
    pub provider: String,
    /// The connection method the connector declared (`jwt_bearer`, `service_account`, …).
    pub method: String,
    /// The scopes it asks for.
    pub scopes: Vec<String>,
    /// The endpoints it talks to.
    pub endpoints: Vec<String>,
    /// Users whose cycles use it.
    pub users: usize,
    /// The last time a cycle through it succeeded (so its token was good).
    pub last_ok: Option<DateTime<Utc>>,
    /// The last failure through it: when, and what (no secret).
    pub last_error: Option<(DateTime<Utc>, String)>,
}

/// One user's place in the schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserLive {
    /// A cycle is running now, since then.
    pub running_since: Option<DateTime<Utc>>,
    /// When the next cycle is due.
    pub next_cycle_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct Inner {
    started_at: Option<DateTime<Utc>>,
    connections: BTreeMap<String, ConnectionHealth>,
    users: BTreeMap<String, UserLive>,
}

/// The running service's live state. Cheap to share behind an `Arc`; every method takes the
/// lock briefly and never across an `.await`.
#[derive(Debug, Default)]
pub struct Live {
    inner: Mutex<Inner>,
}

impl Live {
    /// Empty state, started `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Live { inner: Mutex::new(Inner { started_at: Some(now), ..Inner::default() }) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the service started.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.lock().started_at
    }

    /// Declares connection `name` (once per connection; again to count one more user).
    pub fn register_connection(&self, name: &str, info: &ConnectionInfo) {
        let mut inner = self.lock();
        let entry = inner.connections.entry(name.to_owned()).or_insert_with(|| ConnectionHealth {
            name: name.to_owned(),
            provider: info.provider.clone(),
            method: info.method.clone(),
            scopes: info.scopes.clone(),
            endpoints: info.endpoints.clone(),
            users: 0,
            last_ok: None,
            last_error: None,
        });
        entry.users += 1;
    }

    /// A cycle through connection `name` succeeded at `at`.
    pub fn connection_ok(&self, name: &str, at: DateTime<Utc>) {
        if let Some(c) = self.lock().connections.get_mut(name) {
            c.last_ok = Some(at);
        }
    }

    /// A cycle through connection `name` failed at `at` with `message` (no secret).
    pub fn connection_error(&self, name: &str, at: DateTime<Utc>, message: &str) {
        if let Some(c) = self.lock().connections.get_mut(name) {
            c.last_error = Some((at, message.to_owned()));
        }
    }

    /// Every connection, by name.
    pub fn connections(&self) -> Vec<ConnectionHealth> {
        self.lock().connections.values().cloned().collect()
    }

    /// `user`'s cycle started at `at`.
    pub fn cycle_started(&self, user: &str, at: DateTime<Utc>) {
        let mut inner = self.lock();
        let entry = inner.users.entry(user.to_owned()).or_default();
        entry.running_since = Some(at);
        entry.next_cycle_at = None;
    }

    /// `user`'s cycle finished; the next is due at `next` (none when the service stops).
    pub fn cycle_finished(&self, user: &str, next: Option<DateTime<Utc>>) {
        let mut inner = self.lock();
        let entry = inner.users.entry(user.to_owned()).or_default();
        entry.running_since = None;
        entry.next_cycle_at = next;
    }

    /// `user`'s next cycle is due at `next` (before its first cycle).
    pub fn scheduled(&self, user: &str, next: DateTime<Utc>) {
        self.lock().users.entry(user.to_owned()).or_default().next_cycle_at = Some(next);
    }

    /// One user's place in the schedule.
    pub fn user(&self, user: &str) -> Option<UserLive> {
        self.lock().users.get(user).cloned()
    }

    /// Every user's place in the schedule.
    pub fn users(&self) -> BTreeMap<String, UserLive> {
        self.lock().users.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ConnectionInfo {
        ConnectionInfo {
            provider: "graph".into(),
            method: "client_credentials_certificate".into(),
            endpoints: vec!["https://graph.microsoft.com".into()],
            scopes: vec!["https://graph.microsoft.com/.default".into()],
            principal: None,
        }
    }

    #[test]
    fn connections_and_users_are_tracked() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let live = Live::new(t0);
        live.register_connection("m365", &info());
        live.register_connection("m365", &info());
        live.connection_ok("m365", t0);
        live.connection_error("m365", t0, "HTTP 503");
        live.connection_ok("unknown", t0);
        let c = &live.connections()[0];
        assert_eq!((c.users, c.last_ok, c.last_error.as_ref().map(|e| e.1.as_str())), (2, Some(t0), Some("HTTP 503")));
        live.scheduled("ada@example.com", t0);
        live.cycle_started("ada@example.com", t0);
        assert_eq!(live.user("ada@example.com").unwrap().running_since, Some(t0));
        live.cycle_finished("ada@example.com", Some(t0));
        assert_eq!(live.users()["ada@example.com"], UserLive { running_since: None, next_cycle_at: Some(t0) });
        assert_eq!(live.started_at(), Some(t0));
    }
}
