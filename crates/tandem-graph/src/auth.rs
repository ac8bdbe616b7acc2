//! Tokens from the Microsoft identity platform (v2.0 endpoints) through the `oauth2` crate:
//! client credentials with a secret or a certificate assertion, and the authorization code flow
//! with PKCE plus refresh tokens for delegated connections.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, Scope, TokenResponse as _, TokenUrl,
};
use serde::Serialize;
use sha2::Digest as _;
use tandem_connector::ConnectorError;
use tandem_connector::http::{AccessToken, HttpClient, OAuthHttp, Secret, TokenSource, map_oauth_error};
use url::Url;

use crate::config::{AssertionAlgorithm, CLIENT_ASSERTION_TYPE, GraphAuth, GraphConfig, RefreshTokenHook};

fn config_error(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config { message: message.into() }
}

/// The DER bytes of the first PEM block labelled `label` (`CERTIFICATE`).
pub(crate) fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = pem[start..].find(&end)? + start;
    let body: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(body).ok()
}

/// The base64url (unpadded) SHA-1 and SHA-256 thumbprints of a PEM certificate: the values of
/// the `x5t` and `x5t#S256` assertion headers.
///
/// # Errors
///
/// [`ConnectorError::Config`] when the PEM holds no certificate.
pub fn certificate_thumbprints(certificate_pem: &str) -> Result<(String, String), ConnectorError> {
    let der = pem_block(certificate_pem, "CERTIFICATE")
        .ok_or_else(|| config_error("the certificate is not a PEM `CERTIFICATE` block"))?;
    Ok((URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der)), URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der))))
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

/// Signs client assertions for certificate credentials.
pub(crate) struct AssertionSigner {
    key: EncodingKey,
    header: Header,
    client_id: String,
    audience: String,
    lifetime: Duration,
}

impl AssertionSigner {
    pub(crate) fn new(
        client_id: &str,
        certificate_pem: &str,
        private_key_pem: &Secret,
        algorithm: AssertionAlgorithm,
        audience: &Url,
        lifetime: Duration,
    ) -> Result<Self, ConnectorError> {
        if lifetime > Duration::from_secs(600) || lifetime.is_zero() {
            return Err(config_error("a client assertion lives at most 10 minutes"));
        }
        let (sha1, sha256) = certificate_thumbprints(certificate_pem)?;
        let key = EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes())
            .map_err(|_| config_error("the private key is not an RSA key in PEM (PKCS#1 or PKCS#8)"))?;
        let mut header = match algorithm {
            AssertionAlgorithm::Ps256 => {
                let mut h = Header::new(Algorithm::PS256);
                h.x5t_s256 = Some(sha256);
                h
            }
            AssertionAlgorithm::Rs256 => {
                let mut h = Header::new(Algorithm::RS256);
                h.x5t = Some(sha1);
                h
            }
        };
        header.typ = Some("JWT".to_owned());
        Ok(AssertionSigner {
            key,
            header,
            client_id: client_id.to_owned(),
            audience: audience.as_str().to_owned(),
            lifetime,
        })
    }

    /// A fresh assertion: `aud` = the token endpoint, `iss` = `sub` = the client id, a new `jti`.
    pub(crate) fn sign(&self) -> Result<Secret, ConnectorError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let claims = AssertionClaims {
            aud: &self.audience,
            iss: &self.client_id,
            sub: &self.client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + self.lifetime.as_secs(),
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key)
            .map(Secret::new)
            .map_err(|e| config_error(format!("could not sign the client assertion: {e}")))
    }
}

enum Credentials {
    Secret { secret: Secret },
    Certificate { signer: AssertionSigner },
    Refresh { client_secret: Option<Secret>, refresh_token: Mutex<Secret> },
}

/// Fetches access tokens for one connection.
pub(crate) struct GraphTokenSource {
    http: OAuthHttp,
    client_id: String,
    token_url: Url,
    scopes: Vec<String>,
    credentials: Credentials,
    on_refresh: Option<RefreshTokenHook>,
}

impl GraphTokenSource {
    pub(crate) fn new(config: &GraphConfig, http: &HttpClient) -> Result<Self, ConnectorError> {
        let token_url = config.token_url()?;
        tandem_connector::http::check_endpoint(&token_url)?;
        let credentials = match &config.auth {
            GraphAuth::ClientSecret { secret, .. } => Credentials::Secret { secret: secret.clone() },
            GraphAuth::Certificate { client_id, certificate_pem, private_key_pem, algorithm } => {
                Credentials::Certificate {
                    signer: AssertionSigner::new(
                        client_id,
                        certificate_pem,
                        private_key_pem,
                        *algorithm,
                        &token_url,
                        config.assertion_lifetime,
                    )?,
                }
            }
            GraphAuth::AuthCodePkce { client_secret, refresh_token, .. } => Credentials::Refresh {
                client_secret: client_secret.clone(),
                refresh_token: Mutex::new(refresh_token.clone()),
            },
        };
        Ok(GraphTokenSource {
            http: http.oauth(),
            client_id: config.auth.client_id().to_owned(),
            token_url,
            scopes: config.scopes(),
            credentials,
            on_refresh: config.on_refresh_token.clone(),
        })
    }

    fn client(
        &self,
    ) -> oauth2::basic::BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    > {
        BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::from_url(self.token_url.clone()))
    }

    fn scopes(&self) -> Vec<Scope> {
        self.scopes.iter().map(|s| Scope::new(s.clone())).collect()
    }
}

fn to_access_token(token: &oauth2::basic::BasicTokenResponse) -> AccessToken {
    let t = AccessToken::new(Secret::new(token.access_token().secret().clone()));
    match token.expires_in() {
        Some(d) => t.with_expires_in(d),
        None => t,
    }
}

#[async_trait]
impl TokenSource for GraphTokenSource {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        let client = self.client();
        let response = match &self.credentials {
            Credentials::Secret { secret } => client
                .set_client_secret(ClientSecret::new(secret.expose().to_owned()))
                .exchange_client_credentials()
                .add_scopes(self.scopes())
                .request_async(&self.http)
                .await
                .map_err(map_oauth_error)?,
            Credentials::Certificate { signer } => {
                let assertion = signer.sign()?;
                client
                    .exchange_client_credentials()
                    .add_scopes(self.scopes())
                    .add_extra_param("client_assertion_type", CLIENT_ASSERTION_TYPE)
                    .add_extra_param("client_assertion", assertion.expose().to_owned())
                    .request_async(&self.http)
                    .await
                    .map_err(map_oauth_error)?
            }
            Credentials::Refresh { client_secret, refresh_token } => {
                let current = refresh_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                let client = match client_secret {
                    Some(s) => client.set_client_secret(ClientSecret::new(s.expose().to_owned())),
                    None => client,
                };
                let response = client
                    .exchange_refresh_token(&RefreshToken::new(current.expose().to_owned()))
                    .add_scopes(self.scopes())
                    .request_async(&self.http)
                    .await
                    .map_err(map_oauth_error)?;
                if let Some(new) = response.refresh_token() {
                    let new = Secret::new(new.secret().clone());
                    *refresh_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = new.clone();
                    if let Some(hook) = &self.on_refresh {
                        hook(&new);
                    }
                }
                response
            }
        };
        Ok(to_access_token(&response))
    }
}

/// The first leg of the authorization code flow with PKCE: send the user to [`url`](Self::url),
/// keep [`verifier`](Self::verifier) and [`state`](Self::state) until the redirect comes back,
/// then call [`redeem_authorization_code`].
#[derive(Debug)]
pub struct AuthorizationRequest {
    /// The authorize URL to open in the user's browser.
    pub url: Url,
    /// The PKCE code verifier (secret until the code is redeemed).
    pub verifier: Secret,
    /// The `state` value to compare with the one the redirect carries.
    pub state: String,
}

impl AuthorizationRequest {
    /// A new request for `client_id` redirecting to `redirect_uri`, with the tenant and
    /// authority of `config` and its delegated scopes (default [`crate::DELEGATED_SCOPES`]).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] for invalid URLs.
    pub fn new(config: &GraphConfig, client_id: &str, redirect_uri: &str) -> Result<Self, ConnectorError> {
        let auth_url = AuthUrl::from_url(config.authorize_url()?);
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| config_error(format!("invalid redirect URI: {e}")))?;
        let scopes: Vec<Scope> = match &config.auth {
            GraphAuth::AuthCodePkce { scopes, .. } => scopes.iter().map(|s| Scope::new(s.clone())).collect(),
            _ => crate::config::DELEGATED_SCOPES.iter().map(|s| Scope::new((*s).to_owned())).collect(),
        };
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_auth_uri(auth_url)
            .set_redirect_uri(redirect)
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes)
            .set_pkce_challenge(challenge)
            .add_extra_param("login_hint", config.mailbox.clone())
            .url();
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
    /// The refresh token to configure in [`GraphAuth::AuthCodePkce`].
    pub refresh_token: Option<Secret>,
}

/// The second leg of the authorization code flow: redeems `code` with the PKCE `verifier`.
///
/// # Errors
///
/// [`ConnectorError::Auth`] when the identity platform refuses the code or the verifier.
pub async fn redeem_authorization_code(
    config: &GraphConfig,
    http: &HttpClient,
    client_id: &str,
    client_secret: Option<&Secret>,
    redirect_uri: &str,
    code: &str,
    verifier: &Secret,
) -> Result<DelegatedTokens, ConnectorError> {
    let redirect =
        RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| config_error(format!("invalid redirect URI: {e}")))?;
    let token_url = config.token_url()?;
    let client = BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::from_url(token_url))
        .set_redirect_uri(redirect);
    let client = match client_secret {
        Some(s) => client.set_client_secret(ClientSecret::new(s.expose().to_owned())),
        None => client,
    };
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()))
        .request_async(&http.oauth())
        .await
        .map_err(map_oauth_error)?;
    Ok(DelegatedTokens {
        access_token: to_access_token(&response),
        refresh_token: response.refresh_token().map(|r| Secret::new(r.secret().clone())),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";

    #[test]
    fn thumbprints_are_base64url_of_the_der() {
        let (sha1, sha256) = certificate_thumbprints(CERT).unwrap();
        assert_eq!(sha1, URL_SAFE_NO_PAD.encode(sha1::Sha1::digest([0u8, 1, 2])));
        assert_eq!(sha256.len(), 43);
        assert!(certificate_thumbprints("nope").is_err());
    }
}
