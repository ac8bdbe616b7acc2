//! The DAV connector's own errors ([`DavError`]) and how they map into the one taxonomy the
//! engine reacts to ([`ConnectorError`]).

use tandem_connector::ConnectorError;

/// What went wrong talking to a CalDAV or CardDAV server, before it becomes a
/// [`ConnectorError`]. Messages never carry a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DavError {
    /// An answer that is not the XML expected (not well-formed, a DTD, nested too deeply).
    #[error("DAV: unreadable XML answer: {message}")]
    Xml {
        /// What is wrong (never the body).
        message: String,
    },
    /// Discovery found no collection to use.
    #[error("DAV discovery: {message}")]
    Discovery {
        /// What was looked for and where.
        message: String,
    },
    /// An href or URL the server gave that Tandem will not follow (another host, bad syntax).
    #[error("DAV: refused URL: {message}")]
    Url {
        /// Why.
        message: String,
    },
    /// A cursor this connector did not issue, or for another collection.
    #[error("DAV: unusable cursor: {message}")]
    Cursor {
        /// Why.
        message: String,
    },
}

impl From<DavError> for ConnectorError {
    fn from(e: DavError) -> Self {
        match e {
            // A server answering garbage may be having a bad moment: try again later.
            DavError::Xml { .. } => ConnectorError::Transient { message: e.to_string() },
            DavError::Discovery { .. } | DavError::Url { .. } => ConnectorError::Config { message: e.to_string() },
            DavError::Cursor { .. } => ConnectorError::CursorExpired,
        }
    }
}
