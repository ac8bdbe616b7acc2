//! How the connector gets its access tokens. Two connection methods, both asking for exactly
//! [`SCOPES`]:
//!
//! - **Service account with domain-wide delegation** (`service_account`, [`service_account`]): an
//!   RS256 JWT assertion with `sub` = the user, for every user of a Workspace domain once an
//!   admin granted the delegation.
//! - **Per-user OAuth** (`auth_code_pkce`, [`user_oauth`]): the user consents once through the
//!   authorization code flow with PKCE ([`AuthorizationRequest`], then
//!   [`redeem_authorization_code`]); the connector redeems the refresh token
//!   (`grant_type=refresh_token`) for access tokens.
//!
//! Either way tokens are cached by [`tandem_connector::http::TokenCache`].

use async_trait::async_trait;
use tandem_connector::ConnectorError;
use tandem_connector::http::{AccessToken, TokenSource};

pub mod service_account;
pub mod user_oauth;

pub use service_account::ServiceAccountKey;
pub(crate) use service_account::{ServiceAccountTokenSource, Signer};
pub(crate) use user_oauth::UserOAuthTokenSource;
pub use user_oauth::{AuthorizationRequest, DelegatedTokens, UserOAuth, redeem_authorization_code};

/// The scopes Tandem asks for, and no others: events of the user's calendars, and contacts.
pub const SCOPES: [&str; 2] =
    ["https://www.googleapis.com/auth/calendar.events", "https://www.googleapis.com/auth/contacts"];

/// The connection method of a service account, as [`tandem_connector::ConnectionInfo::method`]
/// and the policy name it.
pub const METHOD_SERVICE_ACCOUNT: &str = "service_account";
/// The connection method of per-user OAuth (authorization code with PKCE, then refresh tokens).
pub const METHOD_USER_OAUTH: &str = "auth_code_pkce";

pub(crate) fn config_error(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config { message: message.into() }
}

/// The token source of one connection, whatever its method.
pub(crate) enum GoogleTokenSource {
    /// JWT assertions of a service account.
    ServiceAccount(ServiceAccountTokenSource),
    /// The user's refresh token.
    UserOAuth(UserOAuthTokenSource),
}

#[async_trait]
impl TokenSource for GoogleTokenSource {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        match self {
            GoogleTokenSource::ServiceAccount(source) => source.fetch_token().await,
            GoogleTokenSource::UserOAuth(source) => source.fetch_token().await,
        }
    }
}
