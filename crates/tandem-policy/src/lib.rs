//! # tandem-policy: the security policy, declared by an administrator and enforced by Tandem
//!
//! Lightning Sync's security was fixed by its vendor. Tandem makes it a [`Policy`] that an
//! administrator writes (TOML, with a safe [default](Policy::default)) and that the engine and
//! the connectors enforce at every boundary:
//!
//! - **Connections** ([`Policy::check_connection`]): before any connector call, the engine
//!   checks each side's [`ConnectionInfo`]: the connection [`Method`] (certificates rather than
//!   client secrets, Basic auth to EWS only when a policy lists it, NTLM only on premises), every endpoint (`https://`
//!   only; an optional host allow-list), the OAuth scopes (requested ⊆ allowed, never mail
//!   scopes) and the principal (the mailbox scope).
//! - **Plans** ([`Policy::apply`]): every planned operation passes through the policy before it
//!   is journaled or executed. Operations are denied (turned into skips naming the rule) or
//!   transformed (busy-only placeholders for private events, fields that never leave Salesforce
//!   removed, descriptions cut), and each [`PolicyDecision`] goes to the audit log.
//! - **Secrets** ([`Secret`]): the one type for passwords, client secrets, private keys, refresh
//!   and access tokens; redacted in `Debug` and `Display`, zeroed on drop, loaded from the
//!   environment or a file, never serialisable.
//! - **Audit retention** ([`AuditRules`]): how long the audit log is kept; the engine prunes it.
//!
//! ```
//! use tandem_policy::{ConnectionInfo, Policy, Rule, PolicyError};
//!
//! let policy = Policy::from_toml_str(r#"
//!     [providers.graph]
//!     hosts = ["graph.microsoft.com", "login.microsoftonline.com"]
//!     mailboxes = { domains = ["example.com"] }
//!
//!     [data]
//!     private_events = "busy_only"
//!     crm_only_fields = ["notes"]
//! "#)?;
//! let graph = ConnectionInfo {
//!     provider: "graph".into(),
//!     method: "client_credentials_certificate".into(),
//!     endpoints: vec!["https://graph.microsoft.com/v1.0".into()],
//!     scopes: vec!["https://graph.microsoft.com/.default".into()],
//!     principal: Some("ada@example.com".into()),
//! };
//! policy.check_connection(&graph)?;
//! let mail = ConnectionInfo { scopes: vec!["Mail.Read".into()], ..graph };
//! let denied = policy.check_connection(&mail).unwrap_err();
//! assert_eq!(denied.rule(), Some(&Rule::Scopes("graph".into())));
//! # Ok::<(), PolicyError>(())
//! ```
//!
//! What lives here: the policy's types and defaults, its validation, the connection check, the
//! plan filter and the secret type. It depends on `tandem-core` only (plans, records, fields),
//! so connectors and the engine can both depend on it.
//!
//! What must never live here: I/O of any kind (no HTTP, no store, no clock: the engine passes
//! time and data in), sync decisions (the planner makes them; the policy only narrows them), and
//! secrets' values in anything that can be printed, logged or serialised.

mod apply;
mod connection;
mod policy;
mod rule;
mod scopes;
mod secret;

pub use apply::{BUSY_SUBJECT, Effect, PlanContext, PolicyDecision};
pub use connection::{ConnectionInfo, Method};
pub use policy::{
    AuditRules, DataRules, EndpointRules, MailboxScope, Policy, PrivateEvents, ProviderRules, TlsVersion,
};
pub use rule::{PolicyError, Problem, Rule, UnknownRule};
pub use scopes::{DAV, EWS, GOOGLE, GRAPH, KNOWN_PROVIDERS, SALESFORCE, VDIR};
pub use secret::{Secret, SecretError};
