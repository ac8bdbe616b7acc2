//! The [`ConnectorFactory`] of the service: each user's connectors, built from the file's
//! connections by the connector crates' builders ([`ConnectorBuilder`]), dispatched by provider.

use std::collections::BTreeMap;
use std::sync::Arc;

use tandem_connector::Connector;
use tandem_connector::factory::{BuildError, ConnectorBuilder, EnvOrFileSecrets, MemoryBuilder};
use tandem_connector::feed::OrgFeed;
use tandem_connector::http::HttpClient;
use tandem_core::state::Side;
use tandem_engine::config::{ConnectionSpec, UserAssignment};
use tandem_engine::{ConnectorFactory, EngineError, UserSync};

use crate::config::{ConfigError, ServiceConfig, UserEntry};

/// An organization feed and its name (the CRM connection's).
pub type NamedFeed = (String, Arc<dyn OrgFeed>);

/// Builds connectors for the users of a [`ServiceConfig`].
pub struct ServiceFactory {
    config: Arc<ServiceConfig>,
    builders: BTreeMap<&'static str, Arc<dyn ConnectorBuilder>>,
    secrets: EnvOrFileSecrets,
}

impl std::fmt::Debug for ServiceFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceFactory").field("providers", &self.builders.keys().collect::<Vec<_>>()).finish()
    }
}

impl ServiceFactory {
    /// A factory with the builders of every provider Tandem ships (`salesforce`, `graph`, `ews`,
    /// `google`, `dav`, `vdir`, `memory`), sharing one HTTP client.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the HTTP client cannot start, or when a connection names a provider
    /// that has no builder.
    pub fn new(config: Arc<ServiceConfig>) -> Result<Self, ConfigError> {
        let http = HttpClient::with_defaults().map_err(|e| config.error_at(None, format!("HTTP client: {e}")))?;
        let mut factory =
            ServiceFactory { secrets: EnvOrFileSecrets::relative_to(&config.base), config, builders: BTreeMap::new() };
        factory.register(Arc::new(tandem_salesforce::SalesforceBuilder::new(http.clone())));
        factory.register(Arc::new(tandem_graph::GraphBuilder::new(http.clone())));
        factory.register(Arc::new(tandem_ews::EwsBuilder::new(http.clone())));
        factory.register(Arc::new(tandem_google::GoogleBuilder::new(http.clone())));
        factory.register(Arc::new(tandem_dav::dav::DavBuilder::new(http)));
        factory.register(Arc::new(tandem_dav::vdir::VdirBuilder));
        factory.register(Arc::new(MemoryBuilder));
        for c in factory.config.connections.values() {
            if !factory.builders.contains_key(c.provider.as_str()) {
                let known: Vec<_> = factory.builders.keys().copied().collect();
                return Err(factory.config.error_at(
                    c.key_lines.values().min().copied().or(c.line),
                    format!(
                        "[connections.{}]: unknown provider `{}` (known: {})",
                        c.name,
                        c.provider,
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(factory)
    }

    /// Adds (or replaces) the builder of its provider.
    pub fn register(&mut self, builder: Arc<dyn ConnectorBuilder>) {
        self.builders.insert(builder.provider(), builder);
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<ServiceConfig> {
        &self.config
    }

    /// The connector of `side` for `user`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] at the line of the key at fault in the connection's section.
    pub fn connector(&self, user: &UserEntry, side: Side) -> Result<Arc<dyn Connector>, ConfigError> {
        let (name, login) = match side {
            Side::Crm => (&user.crm, user.crm_login()),
            Side::Mailbox => (&user.mailbox, user.user.as_str()),
        };
        let connection = self.config.connections.get(name).ok_or_else(|| {
            self.config.error_at(user.line, format!("user `{}`: unknown connection `{name}`", user.user))
        })?;
        let builder = self.builders.get(connection.provider.as_str()).ok_or_else(|| {
            self.config.error_at(connection.line, format!("unknown provider `{}`", connection.provider))
        })?;
        builder.build(login, &connection.settings, &self.secrets).map_err(|e: BuildError| {
            let line = e.key().and_then(|k| connection.key_lines.get(k).copied()).or(connection.line);
            self.config.error_at(line, format!("[connections.{name}] (user `{}`): {e}", user.user))
        })
    }

    /// The sync job of `user`.
    ///
    /// # Errors
    ///
    /// As [`connector`](Self::connector), and an unknown configuration.
    pub fn job(&self, user: &UserEntry) -> Result<UserSync, ConfigError> {
        let sync = self.config.engine.configuration_for(&user.user).cloned().ok_or_else(|| {
            self.config
                .error_at(user.line, format!("user `{}`: unknown configuration `{}`", user.user, user.configuration))
        })?;
        let job = UserSync::new(
            user.user.clone(),
            sync,
            self.connector(user, Side::Crm)?,
            self.connector(user, Side::Mailbox)?,
        );
        let feed = self.config.connections.get(&user.crm).and_then(|c| c.org_feed.as_ref());
        Ok(match feed {
            Some(_) => job.with_crm_feed(user.crm.clone()),
            None => job,
        })
    }

    /// The organization feeds the users named (all when `only` is empty) read from: one per
    /// CRM connection with `org_feed`, named after the connection.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] at the line of `org_feed` when the provider has none or the connection
    /// cannot be built.
    pub fn feeds(&self, only: &[String]) -> Result<Vec<NamedFeed>, ConfigError> {
        let mut names: Vec<&String> = self.selected(only)?.into_iter().map(|u| &u.crm).collect();
        names.sort();
        names.dedup();
        let mut feeds = Vec::new();
        for name in names {
            let Some(connection) = self.config.connections.get(name) else { continue };
            let Some((user, line)) = &connection.org_feed else { continue };
            let builder = self.builders.get(connection.provider.as_str()).ok_or_else(|| {
                self.config.error_at(connection.line, format!("unknown provider `{}`", connection.provider))
            })?;
            let feed = builder.build_feed(user, &connection.settings, &self.secrets).map_err(|e: BuildError| {
                let at = e.key().and_then(|k| connection.key_lines.get(k).copied()).unwrap_or(*line);
                self.config.error_at(Some(at), format!("[connections.{name}] org_feed: {e}"))
            })?;
            feeds.push((name.clone(), feed));
        }
        Ok(feeds)
    }

    /// The jobs of the users named (all when `only` is empty), in file order.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a user the file does not assign, or a connection that cannot be built.
    pub fn jobs(&self, only: &[String]) -> Result<Vec<UserSync>, ConfigError> {
        self.selected(only)?.into_iter().map(|u| self.job(u)).collect()
    }

    /// The user entries named (all when `only` is empty).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a user the file does not assign.
    pub fn selected(&self, only: &[String]) -> Result<Vec<&UserEntry>, ConfigError> {
        if only.is_empty() {
            return Ok(self.config.users.iter().collect());
        }
        only.iter()
            .map(|u| {
                self.config
                    .user(u)
                    .ok_or_else(|| self.config.error_at(None, format!("user `{u}` is not assigned in this file")))
            })
            .collect()
    }
}

impl ConnectorFactory for ServiceFactory {
    fn connect(
        &self,
        user: &UserAssignment,
        side: Side,
        _spec: &ConnectionSpec,
    ) -> Result<Arc<dyn Connector>, EngineError> {
        let entry = self
            .config
            .user(&user.user)
            .ok_or_else(|| EngineError::Config(format!("user `{}` is not assigned in this file", user.user)))?;
        self.connector(entry, side).map_err(|e| EngineError::Config(e.to_string()))
    }
}
