//! Getting a session: the JWT bearer flow (assertions signed with jsonwebtoken), the client
//! credentials flow and refresh tokens from the web-server flow with PKCE (both through the oauth2
//! crate on [`OAuthHttp`]).
//!
//! Every flow answers with an access token, the instance URL and the identity URL, whose last
//! path segment is the user's id. [`SalesforceTokens`] remembers the last two in a shared
//! [`Session`] so the API layer knows where to send requests and whose records to read.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tandem_connector::ConnectorError;
use tandem_connector::http::{AccessToken, OAuthHttp, Secret, TokenSource, jwt_bearer_token, map_oauth_error};
use url::Url;

use crate::config::AuthConfig;

/// How long a JWT bearer assertion is valid: Salesforce wants `exp` within 3 minutes.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(150);

/// What a token answer says besides the token: where the org's API is and who the user is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// The org's instance URL (base of the REST API).
    pub instance_url: Option<Url>,
    /// The identity service URL for the user (`…/id/{orgId}/{userId}`).
    pub identity_url: Option<Url>,
    /// The user's id (`005…`), the identity URL's last segment.
    pub user_id: Option<String>,
}

impl Session {
    fn update(&mut self, instance_url: Option<&str>, id: Option<&str>) {
        if let Some(url) = instance_url.and_then(|u| Url::parse(u).ok()) {
            self.instance_url = Some(url);
        }
        if let Some(url) = id.and_then(|u| Url::parse(u).ok()) {
            self.user_id = url.path_segments().and_then(|mut s| s.next_back()).map(str::to_owned);
            self.identity_url = Some(url);
        }
    }
}

/// Salesforce's additions to the OAuth token answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SalesforceTokenFields {
    /// The instance URL.
    #[serde(default)]
    pub instance_url: Option<String>,
    /// The identity URL.
    #[serde(default)]
    pub id: Option<String>,
}

impl ExtraTokenFields for SalesforceTokenFields {}

/// A token answer with Salesforce's fields.
pub type SalesforceTokenResponse = StandardTokenResponse<SalesforceTokenFields, BasicTokenType>;

type Client<HasAuthUrl> = oauth2::Client<
    BasicErrorResponse,
    SalesforceTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn client(client_id: &str, secret: Option<&Secret>, token_url: &Url) -> Client<EndpointNotSet> {
    let mut c = oauth2::Client::new(ClientId::new(client_id.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::from_url(token_url.clone()));
    if let Some(secret) = secret {
        c = c.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
    }
    c
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

/// Signs a JWT bearer assertion (RS256): `iss` the consumer key, `sub` the username, `aud` the
/// login URL, `exp` [`ASSERTION_LIFETIME`] from now.
///
/// # Errors
///
/// [`ConnectorError::Config`] when the key is not an RSA private key in PEM.
pub fn sign_assertion(
    consumer_key: &str,
    username: &str,
    audience: &str,
    private_key_pem: &Secret,
) -> Result<Secret, ConnectorError> {
    let key = EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes()).map_err(|_| ConnectorError::Config {
        message: "the JWT bearer private key is not an RSA private key in PEM form".to_owned(),
    })?;
    let lifetime = i64::try_from(ASSERTION_LIFETIME.as_secs()).unwrap_or(150);
    let claims =
        Claims { iss: consumer_key, sub: username, aud: audience, exp: chrono::Utc::now().timestamp() + lifetime };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
        .map(Secret::new)
        .map_err(|e| ConnectorError::Config { message: format!("could not sign the JWT bearer assertion: {e}") })
}

/// The token source of one connection: fetches a session with the configured flow and records
/// the instance URL and user in the shared [`Session`].
pub struct SalesforceTokens {
    auth: AuthConfig,
    token_url: Url,
    audience: String,
    oauth: OAuthHttp,
    session: Arc<Mutex<Session>>,
    lifetime: Duration,
    scopes: Vec<String>,
    /// The current refresh token (rotated when the endpoint issues a new one).
    refresh: Mutex<Option<Secret>>,
    /// Told of every rotated refresh token.
    on_refresh: Option<tandem_connector::http::RefreshTokenHook>,
}

impl std::fmt::Debug for SalesforceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceTokens")
            .field("method", &self.auth.method())
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

impl SalesforceTokens {
    /// A token source for `auth` against `token_url`.
    pub fn new(
        auth: AuthConfig,
        token_url: Url,
        audience: String,
        oauth: OAuthHttp,
        session: Arc<Mutex<Session>>,
        lifetime: Duration,
        scopes: Vec<String>,
    ) -> Self {
        let refresh = match &auth {
            AuthConfig::RefreshToken { refresh_token, .. } => Some(refresh_token.clone()),
            _ => None,
        };
        SalesforceTokens {
            auth,
            token_url,
            audience,
            oauth,
            session,
            lifetime,
            scopes,
            refresh: Mutex::new(refresh),
            on_refresh: None,
        }
    }

    /// The same source, telling `hook` of every refresh token Salesforce rotates in.
    #[must_use]
    pub fn on_refresh_token(mut self, hook: Option<tandem_connector::http::RefreshTokenHook>) -> Self {
        self.on_refresh = hook;
        self
    }

    fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn finish(
        &self,
        token: Secret,
        expires_in: Option<Duration>,
        instance: Option<&str>,
        id: Option<&str>,
    ) -> AccessToken {
        self.session().update(instance, id);
        AccessToken::new(token).with_expires_in(expires_in.unwrap_or(self.lifetime))
    }

    fn token_of(&self, response: &SalesforceTokenResponse) -> AccessToken {
        let extra = response.extra_fields();
        self.finish(
            Secret::new(response.access_token().secret().clone()),
            response.expires_in(),
            extra.instance_url.as_deref(),
            extra.id.as_deref(),
        )
    }
}

#[async_trait]
impl TokenSource for SalesforceTokens {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        match &self.auth {
            AuthConfig::JwtBearer { consumer_key, username, private_key_pem } => {
                let assertion = sign_assertion(consumer_key, username, &self.audience, private_key_pem)?;
                let response = jwt_bearer_token(&self.oauth, &self.token_url, &assertion, &[]).await?;
                let id = response.extra.get("id").and_then(serde_json::Value::as_str);
                Ok(self.finish(
                    response.access_token.clone(),
                    response.expires_in.map(Duration::from_secs),
                    response.instance_url.as_deref(),
                    id,
                ))
            }
            AuthConfig::ClientCredentials { client_id, client_secret, .. } => {
                let response = client(client_id, Some(client_secret), &self.token_url)
                    .exchange_client_credentials()
                    .request_async(&self.oauth)
                    .await
                    .map_err(map_oauth_error)?;
                Ok(self.token_of(&response))
            }
            AuthConfig::RefreshToken { client_id, client_secret, .. } => {
                let current = self
                    .refresh
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .ok_or_else(|| ConnectorError::Config { message: "no refresh token".to_owned() })?;
                let refresh = RefreshToken::new(current.expose().to_owned());
                let response = client(client_id, client_secret.as_ref(), &self.token_url)
                    .exchange_refresh_token(&refresh)
                    .add_scopes(self.scopes.iter().map(|s| Scope::new(s.clone())))
                    .request_async(&self.oauth)
                    .await
                    .map_err(map_oauth_error)?;
                if let Some(rotated) = response.refresh_token() {
                    let rotated = Secret::new(rotated.secret().clone());
                    *self.refresh.lock().unwrap_or_else(PoisonError::into_inner) = Some(rotated.clone());
                    if let Some(hook) = &self.on_refresh {
                        hook(&rotated);
                    }
                }
                Ok(self.token_of(&response))
            }
        }
    }
}

/// The first step of the web-server flow: where to send the user, and what to keep until they
/// come back.
#[derive(Debug)]
pub struct Authorization {
    /// The URL to open in the user's browser.
    pub url: Url,
    /// The `state` to compare with the one on the redirect (CSRF protection).
    pub state: String,
    /// The PKCE verifier to present with the code.
    pub verifier: Secret,
}

/// What the code exchange yields.
#[derive(Debug)]
pub struct Connected {
    /// The refresh token: configure it as [`AuthConfig::RefreshToken`].
    pub refresh_token: Secret,
    /// The instance URL.
    pub instance_url: Option<String>,
    /// The identity URL.
    pub identity_url: Option<String>,
}

/// The OAuth 2.0 web-server flow with PKCE, for a user who connects personally.
#[derive(Debug, Clone)]
pub struct WebServerFlow {
    client_id: String,
    client_secret: Option<Secret>,
    authorize_url: Url,
    token_url: Url,
    redirect_url: Url,
    scopes: Vec<String>,
}

impl WebServerFlow {
    /// A flow for the connected app `client_id`, with `redirect_url` its callback URL.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Option<Secret>,
        authorize_url: Url,
        token_url: Url,
        redirect_url: Url,
        scopes: Vec<String>,
    ) -> Self {
        WebServerFlow { client_id: client_id.into(), client_secret, authorize_url, token_url, redirect_url, scopes }
    }

    /// The authorization URL with a fresh `state` and PKCE (S256) challenge.
    pub fn authorize(&self) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let c = client(&self.client_id, self.client_secret.as_ref(), &self.token_url)
            .set_auth_uri(AuthUrl::from_url(self.authorize_url.clone()))
            .set_redirect_uri(RedirectUrl::from_url(self.redirect_url.clone()));
        let (url, state) = c
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes.iter().map(|s| Scope::new(s.clone())))
            .set_pkce_challenge(challenge)
            .url();
        Authorization { url, state: state.secret().clone(), verifier: Secret::new(verifier.secret().clone()) }
    }

    /// Exchanges the code from the redirect for a refresh token.
    ///
    /// # Errors
    ///
    /// The token endpoint's errors, mapped onto the taxonomy; [`ConnectorError::Auth`] when the
    /// answer carries no refresh token (the connected app lacks the `refresh_token` scope).
    pub async fn exchange(
        &self,
        oauth: &OAuthHttp,
        code: &str,
        verifier: &Secret,
    ) -> Result<Connected, ConnectorError> {
        let response = client(&self.client_id, self.client_secret.as_ref(), &self.token_url)
            .set_redirect_uri(RedirectUrl::from_url(self.redirect_url.clone()))
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()))
            .request_async(oauth)
            .await
            .map_err(map_oauth_error)?;
        let refresh = response.refresh_token().ok_or_else(|| ConnectorError::Auth {
            refreshable: false,
            message: "the token endpoint issued no refresh token; add the refresh_token scope to the connected app"
                .to_owned(),
        })?;
        Ok(Connected {
            refresh_token: Secret::new(refresh.secret().clone()),
            instance_url: response.extra_fields().instance_url.clone(),
            identity_url: response.extra_fields().id.clone(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn session_reads_the_user_from_the_identity_url() {
        let mut s = Session::default();
        s.update(
            Some("https://na1.my.salesforce.com"),
            Some("https://login.salesforce.com/id/00D000000000001/005000000000001AAA"),
        );
        assert_eq!(s.user_id.as_deref(), Some("005000000000001AAA"));
        assert_eq!(s.instance_url.unwrap().as_str(), "https://na1.my.salesforce.com/");
    }

    #[test]
    fn a_bad_key_is_a_config_error() {
        let err = sign_assertion("ck", "u", "https://login.salesforce.com", &Secret::new("not a key")).unwrap_err();
        assert!(matches!(err, ConnectorError::Config { .. }));
    }

    #[test]
    fn authorize_url_carries_pkce_and_state() {
        let flow = WebServerFlow::new(
            "client",
            None,
            Url::parse("https://login.salesforce.com/services/oauth2/authorize").unwrap(),
            Url::parse("https://login.salesforce.com/services/oauth2/token").unwrap(),
            Url::parse("https://app.example.com/callback").unwrap(),
            vec!["api".into(), "refresh_token".into()],
        );
        let a = flow.authorize();
        let q: std::collections::HashMap<_, _> = a.url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], a.state);
        assert_eq!(q["scope"], "api refresh_token");
        assert!(!a.verifier.is_empty());
    }
}
