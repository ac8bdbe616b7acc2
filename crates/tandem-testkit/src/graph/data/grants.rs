//! What sign-in leaves behind: app registrations with their certificates, access and refresh
//! tokens, and authorization codes.

use std::collections::BTreeSet;

/// A registered certificate of an app.
#[derive(Debug, Clone)]
pub(crate) struct Cert {
    pub(crate) rsa_der: Vec<u8>,
    pub(crate) x5t: String,
    pub(crate) x5t_s256: String,
}

/// An app registration.
#[derive(Debug, Clone, Default)]
pub(crate) struct App {
    pub(crate) secrets: Vec<String>,
    pub(crate) certs: Vec<Cert>,
    pub(crate) redirect_uris: Vec<String>,
    /// RBAC for Applications: the mailboxes app-only tokens may reach (`None`: all).
    pub(crate) scope: Option<BTreeSet<String>>,
}

/// What an access token grants.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    /// The signed-in user (lower-case UPN) of a delegated token.
    pub(crate) user: Option<String>,
    pub(crate) expires: std::time::Instant,
}

/// A refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) user: String,
    pub(crate) scope: String,
}

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) user: String,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: Option<String>,
    pub(crate) scope: String,
}
