//! # Tandem
//!
//! Two-way sync of contacts and calendar events between Salesforce and the places people keep
//! their mail and calendars: Microsoft 365 (Graph), on-premises Exchange (EWS), Google
//! Workspace, and standards-based CalDAV/CardDAV servers and vdir folders. This facade re-exports the workspace's crates; add `tandem` as one dependency and
//! turn connectors on with features.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tandem::prelude::*;
//!
//! let crm = MemoryConnector::new("crm");
//! let mailbox = MemoryConnector::new("mailbox");
//! crm.insert(Record::Contact(Contact { family_name: Some("Hopper".into()), ..Contact::default() }));
//!
//! let engine = Engine::new(Arc::new(SqliteStore::in_memory().await?));
//! let job = UserSync::new("grace@example.com", SyncConfig::named("default"), Arc::new(crm), Arc::new(mailbox.clone()));
//! let report = engine.sync_user(&job, &SyncOptions::default()).await?;
//! assert_eq!(report.object(ObjectKind::Contact).map(|o| o.applied("create")), Some(1));
//! assert_eq!(mailbox.len(ObjectKind::Contact), 1);
//! # Ok(()) }
//! ```

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The connector pages' set-up snippets compile through the facade's paths.
#[cfg(doctest)]
pub mod connector_docs {
    #[doc = include_str!("../docs/connectors/salesforce.md")]
    pub struct Salesforce;
    #[doc = include_str!("../docs/connectors/microsoft-graph.md")]
    pub struct MicrosoftGraph;
    #[doc = include_str!("../docs/connectors/exchange-ews.md")]
    pub struct ExchangeEws;
    #[doc = include_str!("../docs/connectors/google-workspace.md")]
    pub struct GoogleWorkspace;
    #[doc = include_str!("../docs/connectors/dav.md")]
    pub struct Dav;
}

pub use tandem_connector as connector;
pub use tandem_core as core;
#[cfg(feature = "dav")]
pub use tandem_dav as dav;
pub use tandem_engine as engine;
#[cfg(feature = "ews")]
pub use tandem_ews as ews;
#[cfg(feature = "google")]
pub use tandem_google as google;
#[cfg(feature = "graph")]
pub use tandem_graph as graph;
#[cfg(feature = "graph")]
pub mod migrate;
pub use tandem_policy as policy;
#[cfg(feature = "salesforce")]
pub use tandem_salesforce as salesforce;
pub use tandem_store as store;

/// The names most embedders need.
pub mod prelude {
    pub use tandem_connector::memory::MemoryConnector;
    pub use tandem_connector::{Connector, ConnectorError};
    pub use tandem_core::config::{ConflictPolicy, ConflictStrategy, DeletePropagation, Direction, ObjectConfig};
    pub use tandem_core::model::{Contact, Event, ObjectKind, Record};
    pub use tandem_core::state::Side;
    pub use tandem_engine::config::{SyncConfig, TandemConfig};
    pub use tandem_engine::{Engine, EngineError, SyncOptions, SyncReport, UserSync};
    pub use tandem_policy::{Policy, Secret};
    pub use tandem_store::{SqliteStore, StateStore};
}
