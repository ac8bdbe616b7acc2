//! Per-user OAuth through the `oauth2` crate: the authorization code flow with PKCE (S256) for
//! the user's one-time consent, with `access_type=offline` and `prompt=consent` so that Google
//! issues a refresh token, then refresh tokens (`grant_type=refresh_token`) for access tokens.
//! The scopes are exactly [`SCOPES`].
//!
//! The first leg is [`AuthorizationRequest::new`]: send the user to its URL, keep the PKCE
//! verifier and the `state`. The second leg is [`redeem_authorization_code`]: it returns the
//! refresh token to configure with [`crate::GoogleConfig::with_user_oauth`]. Google may rotate
//! refresh tokens; a new one is kept and handed to [`crate::GoogleConfig::on_refresh_token`].

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse as _, TokenUrl,
};
use tandem_connector::ConnectorError;
use tandem_connector::http::{
    AccessToken, HttpClient, OAuthHttp, RefreshTokenHook, Secret, TokenSource, check_endpoint, map_oauth_error,
};
use url::Url;

use super::{SCOPES, config_error};
use crate::config::GoogleConfig;

/// The credentials of a per-user OAuth connection (method `auth_code_pkce`). Never read from
/// TOML; `Debug` shows the client id only.
#[derive(Clone)]
pub struct UserOAuth {
    /// The OAuth client id (`….apps.googleusercontent.com`).
    pub client_id: String,
    /// The client secret (web and desktop clients of the Cloud console have one); `None` for a
    /// client that authenticates with PKCE alone.
    pub client_secret: Option<Secret>,
    /// The user's refresh token, from [`redeem_authorization_code`]. Rotated tokens replace it
    /// in the running connector and go to [`crate::GoogleConfig::on_refresh_token`].
    pub refresh_token: Secret,
}

impl UserOAuth {
    /// The credentials of one user's connection.
    pub fn new(client_id: impl Into<String>, client_secret: Option<Secret>, refresh_token: Secret) -> Self {
        UserOAuth { client_id: client_id.into(), client_secret, refresh_token }
    }
}

impl std::fmt::Debug for UserOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserOAuth")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("refresh_token", &"***")
            .finish()
    }
}

type TokenClient = BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// A client for `client_id` at `token_url`, credentials in the request body (as Google's
/// examples send them), with the secret when there is one.
fn token_client(client_id: &str, client_secret: Option<&Secret>, token_url: Url) -> TokenClient {
    let client = BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::from_url(token_url));
    match client_secret {
        Some(s) => client.set_client_secret(ClientSecret::new(s.expose().to_owned())),
        None => client,
    }
}

fn to_access_token(token: &oauth2::basic::BasicTokenResponse) -> AccessToken {
    let t = AccessToken::new(Secret::new(token.access_token().secret().clone()));
    match token.expires_in() {
        Some(d) => t.with_expires_in(d),
        None => t,
    }
}

fn redirect_url(redirect_uri: &str) -> Result<RedirectUrl, ConnectorError> {
    let url = Url::parse(redirect_uri).map_err(|e| config_error(format!("invalid redirect URI: {e}")))?;
    check_endpoint(&url)?;
    Ok(RedirectUrl::from_url(url))
}

/// Fetches access tokens with the user's refresh token.
pub(crate) struct UserOAuthTokenSource {
    http: OAuthHttp,
    client_id: String,
    client_secret: Option<Secret>,
    token_url: Url,
    refresh_token: Mutex<Secret>,
    on_refresh: Option<RefreshTokenHook>,
}

impl UserOAuthTokenSource {
    pub(crate) fn new(
        config: &GoogleConfig,
        credentials: &UserOAuth,
        http: &HttpClient,
    ) -> Result<Self, ConnectorError> {
        if credentials.client_id.trim().is_empty() {
            return Err(config_error("per-user OAuth needs the OAuth client id"));
        }
        if credentials.refresh_token.expose().trim().is_empty() {
            return Err(config_error("per-user OAuth needs the user's refresh token"));
        }
        Ok(UserOAuthTokenSource {
            http: http.oauth(),
            client_id: credentials.client_id.clone(),
            client_secret: credentials.client_secret.clone(),
            token_url: config.token_endpoint()?,
            refresh_token: Mutex::new(credentials.refresh_token.clone()),
            on_refresh: config.on_refresh_token.clone(),
        })
    }

    /// The refresh token in use (the configured one, or the last one Google rotated to).
    pub(crate) fn current_refresh_token(&self) -> Secret {
        self.refresh_token.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl TokenSource for UserOAuthTokenSource {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        let current = self.current_refresh_token();
        // No `scope`: the refresh token carries the scopes the user granted, exactly [`SCOPES`].
        let response = token_client(&self.client_id, self.client_secret.as_ref(), self.token_url.clone())
            .exchange_refresh_token(&RefreshToken::new(current.expose().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(map_oauth_error)?;
        if let Some(new) = response.refresh_token()
            && new.secret() != current.expose()
        {
            let new = Secret::new(new.secret().clone());
            *self.refresh_token.lock().unwrap_or_else(PoisonError::into_inner) = new.clone();
            if let Some(hook) = &self.on_refresh {
                hook(&new);
            }
        }
        Ok(to_access_token(&response))
    }
}

/// The first leg of the authorization code flow with PKCE: send the user to [`url`](Self::url),
/// keep [`verifier`](Self::verifier) and [`state`](Self::state) until the redirect comes back,
/// then call [`redeem_authorization_code`].
#[derive(Debug)]
pub struct AuthorizationRequest {
    /// The authorization URL to open in the user's browser.
    pub url: Url,
    /// The PKCE code verifier (secret until the code is redeemed).
    pub verifier: Secret,
    /// The `state` value to compare with the one the redirect carries.
    pub state: String,
}

impl AuthorizationRequest {
    /// A new request for `client_id` redirecting to `redirect_uri` (`https://`, or `http://` to
    /// loopback for an installed app), at the authorization endpoint of `config`
    /// ([`GoogleConfig::auth_url`]), for [`SCOPES`], with `access_type=offline` and
    /// `prompt=consent` (so a refresh token is issued even on a second consent), a random
    /// `state`, an S256 PKCE challenge and `login_hint` = the configured user.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for invalid URLs.
    pub fn new(config: &GoogleConfig, client_id: &str, redirect_uri: &str) -> Result<Self, ConnectorError> {
        let auth_url = AuthUrl::from_url(config.authorize_endpoint()?);
        let redirect = redirect_url(redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client =
            BasicClient::new(ClientId::new(client_id.to_owned())).set_auth_uri(auth_url).set_redirect_uri(redirect);
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(SCOPES.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent");
        if !config.user.trim().is_empty() {
            request = request.add_extra_param("login_hint", config.user.clone());
        }
        let (url, state) = request.url();
        Ok(AuthorizationRequest {
            url,
            verifier: Secret::new(verifier.secret().clone()),
            state: state.secret().clone(),
        })
    }
}

/// The tokens of a redeemed authorization code.
#[derive(Debug)]
pub struct DelegatedTokens {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token to configure in [`UserOAuth`]. Google issues one for
    /// `access_type=offline` (which [`AuthorizationRequest`] asks for).
    pub refresh_token: Option<Secret>,
    /// The scopes the user granted (every one of [`SCOPES`], or the code is refused).
    pub scopes: Vec<String>,
}

/// The second leg of the authorization code flow: redeems `code` with the PKCE `verifier` at
/// the token endpoint of `config`.
///
/// # Errors
///
/// [`ConnectorError::Auth`] when Google refuses the code, the verifier, the redirect URI or the
/// client, and when the user did not grant every one of [`SCOPES`] (granular consent);
/// [`ConnectorError::Config`] for invalid URLs.
pub async fn redeem_authorization_code(
    config: &GoogleConfig,
    http: &HttpClient,
    client_id: &str,
    client_secret: Option<&Secret>,
    redirect_uri: &str,
    code: &str,
    verifier: &Secret,
) -> Result<DelegatedTokens, ConnectorError> {
    let redirect = redirect_url(redirect_uri)?;
    let response = token_client(client_id, client_secret, config.token_endpoint()?)
        .set_redirect_uri(redirect)
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()))
        .request_async(&http.oauth())
        .await
        .map_err(map_oauth_error)?;
    // Without `scope` in the answer, the granted scopes are the requested ones (RFC 6749 5.1).
    let scopes: Vec<String> = match response.scopes() {
        Some(granted) => granted.iter().map(|s| s.as_str().to_owned()).collect(),
        None => SCOPES.iter().map(|s| (*s).to_owned()).collect(),
    };
    let missing: Vec<&str> = SCOPES.iter().copied().filter(|s| !scopes.iter().any(|g| g == s)).collect();
    if !missing.is_empty() {
        return Err(ConnectorError::Auth {
            refreshable: false,
            message: format!(
                "the user did not grant {}: ask them to consent again and leave every permission checked",
                missing.join(", ")
            ),
        });
    }
    Ok(DelegatedTokens {
        access_token: to_access_token(&response),
        refresh_token: response.refresh_token().map(|r| Secret::new(r.secret().clone())),
        scopes,
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::Digest as _;

    use super::*;

    fn query(url: &Url, key: &str) -> Option<String> {
        url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
    }

    #[test]
    fn the_authorization_url_asks_for_offline_access_with_pkce_and_the_scopes_only() {
        let config = GoogleConfig::new("ada@example.com");
        let request =
            AuthorizationRequest::new(&config, "123.apps.googleusercontent.com", "http://127.0.0.1:8765/cb").unwrap();
        let url = &request.url;
        assert!(url.as_str().starts_with("https://accounts.google.com/o/oauth2/v2/auth?"), "{url}");
        assert_eq!(query(url, "response_type").as_deref(), Some("code"));
        assert_eq!(query(url, "client_id").as_deref(), Some("123.apps.googleusercontent.com"));
        assert_eq!(query(url, "redirect_uri").as_deref(), Some("http://127.0.0.1:8765/cb"));
        assert_eq!(query(url, "scope"), Some(SCOPES.join(" ")));
        assert_eq!(query(url, "access_type").as_deref(), Some("offline"));
        assert_eq!(query(url, "prompt").as_deref(), Some("consent"));
        assert_eq!(query(url, "login_hint").as_deref(), Some("ada@example.com"));
        assert_eq!(query(url, "state").as_deref(), Some(request.state.as_str()));
        assert_eq!(query(url, "code_challenge_method").as_deref(), Some("S256"));
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(request.verifier.expose().as_bytes()));
        assert_eq!(query(url, "code_challenge"), Some(challenge));
        // The verifier never shows in the URL nor in `Debug`.
        assert!(!url.as_str().contains(request.verifier.expose()));
        assert!(!format!("{request:?}").contains(request.verifier.expose()));
        // Two requests never share a state or a verifier.
        let other = AuthorizationRequest::new(&config, "c", "http://127.0.0.1:8765/cb").unwrap();
        assert_ne!(other.state, request.state);
        assert_ne!(other.verifier.expose(), request.verifier.expose());
    }

    #[test]
    fn redirect_uris_and_authorization_endpoints_must_be_https_or_loopback() {
        let config = GoogleConfig::new("ada@example.com");
        assert!(AuthorizationRequest::new(&config, "c", "https://app.example.com/cb").is_ok());
        assert!(matches!(
            AuthorizationRequest::new(&config, "c", "http://app.example.com/cb"),
            Err(ConnectorError::Config { .. })
        ));
        assert!(AuthorizationRequest::new(&config, "c", "not a url").is_err());
        let fake = GoogleConfig::new("ada@example.com").with_auth_url("http://127.0.0.1:9/o/oauth2/v2/auth");
        let request = AuthorizationRequest::new(&fake, "c", "http://localhost:1/cb").unwrap();
        assert!(request.url.as_str().starts_with("http://127.0.0.1:9/o/oauth2/v2/auth?"));
        let evil = GoogleConfig::new("ada@example.com").with_auth_url("http://evil.example/auth");
        assert!(matches!(
            AuthorizationRequest::new(&evil, "c", "http://127.0.0.1:1/cb"),
            Err(ConnectorError::Config { .. })
        ));
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let creds = UserOAuth::new("client-1", Some(Secret::new("GOCSPX-sekrit")), Secret::new("1//refresh-sekrit"));
        let shown = format!("{creds:?}");
        assert!(shown.contains("client-1"), "{shown}");
        assert!(!shown.contains("sekrit"), "{shown}");
    }

    #[test]
    fn the_token_source_needs_a_client_id_and_a_refresh_token() {
        let config = GoogleConfig::new("ada@example.com");
        let http = HttpClient::with_defaults().unwrap();
        let empty = UserOAuth::new("", None, Secret::new("r"));
        assert!(matches!(UserOAuthTokenSource::new(&config, &empty, &http), Err(ConnectorError::Config { .. })));
        let empty = UserOAuth::new("c", None, Secret::new(""));
        assert!(matches!(UserOAuthTokenSource::new(&config, &empty, &http), Err(ConnectorError::Config { .. })));
        let ok = UserOAuthTokenSource::new(&config, &UserOAuth::new("c", None, Secret::new("r")), &http).unwrap();
        assert_eq!(ok.current_refresh_token().expose(), "r");
    }
}
