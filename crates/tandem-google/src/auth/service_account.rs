//! Service account with domain-wide delegation: an RS256 JWT assertion (`iss` = the service
//! account, `sub` = the user, `scope` = [`SCOPES`], `aud` = the token endpoint, `exp` at most an
//! hour after `iat`) exchanged with the JWT-bearer grant. Tokens are cached by
//! [`tandem_connector::http::TokenCache`].

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tandem_connector::ConnectorError;
use tandem_connector::http::{AccessToken, OAuthHttp, Secret, TokenSource, jwt_bearer_token};
use url::Url;

use super::{SCOPES, config_error};

/// The parts of a service account's JSON key file Tandem uses. `Debug` never shows the key.
#[derive(Clone)]
pub struct ServiceAccountKey {
    /// The service account's email (`client_email`): the assertion's issuer.
    pub client_email: String,
    /// The RSA private key (PEM, PKCS#8).
    pub private_key: Secret,
    /// The key's id (`private_key_id`), sent as the JWT `kid` when present.
    pub private_key_id: Option<String>,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key", &"***")
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key: Secret,
    #[serde(default)]
    private_key_id: Option<String>,
}

impl ServiceAccountKey {
    /// Parses the content of a JSON key file (as downloaded from the Cloud console), held in a
    /// [`Secret`] (`Secret::from_file`, `Secret::from_env`).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when it is not a service-account key; the message never
    /// quotes the content.
    pub fn from_json(content: &Secret) -> Result<Self, ConnectorError> {
        let file: KeyFile = serde_json::from_str(content.expose()).map_err(|_| {
            config_error("the service-account key is not a JSON key file with client_email and private_key")
        })?;
        if file.kind.as_deref().is_some_and(|k| k != "service_account") {
            return Err(config_error("the key file is not of type service_account"));
        }
        Ok(ServiceAccountKey {
            client_email: file.client_email,
            private_key: file.private_key,
            private_key_id: file.private_key_id,
        })
    }
}

/// The assertion's claims.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Claims {
    pub(crate) iss: String,
    pub(crate) scope: String,
    pub(crate) aud: String,
    pub(crate) sub: String,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
}

/// Signs assertions for one user.
pub(crate) struct Signer {
    key: EncodingKey,
    header: Header,
    issuer: String,
    user: String,
    audience: String,
    lifetime: u64,
}

impl Signer {
    pub(crate) fn new(
        key: &ServiceAccountKey,
        user: &str,
        audience: &Url,
        lifetime: u64,
    ) -> Result<Self, ConnectorError> {
        if lifetime == 0 || lifetime > 3600 {
            return Err(config_error("an assertion lives at most one hour"));
        }
        let encoding = EncodingKey::from_rsa_pem(key.private_key.expose().as_bytes())
            .map_err(|_| config_error("the service account's private key is not an RSA key in PEM"))?;
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".to_owned());
        header.kid.clone_from(&key.private_key_id);
        Ok(Signer {
            key: encoding,
            header,
            issuer: key.client_email.clone(),
            user: user.to_owned(),
            audience: audience.as_str().to_owned(),
            lifetime,
        })
    }

    pub(crate) fn claims(&self, now: u64) -> Claims {
        Claims {
            iss: self.issuer.clone(),
            scope: SCOPES.join(" "),
            aud: self.audience.clone(),
            sub: self.user.clone(),
            iat: now,
            exp: now + self.lifetime,
        }
    }

    pub(crate) fn sign(&self, now: u64) -> Result<Secret, ConnectorError> {
        jsonwebtoken::encode(&self.header, &self.claims(now), &self.key)
            .map(Secret::new)
            .map_err(|e| config_error(format!("could not sign the assertion: {e}")))
    }
}

/// Fetches delegated tokens for one user.
pub(crate) struct ServiceAccountTokenSource {
    pub(crate) oauth: OAuthHttp,
    pub(crate) token_url: Url,
    pub(crate) signer: Signer,
}

#[async_trait]
impl TokenSource for ServiceAccountTokenSource {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let assertion = self.signer.sign(now)?;
        let response = jwt_bearer_token(&self.oauth, &self.token_url, &assertion, &[]).await?;
        Ok(response.access_token())
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    const PEM: &str = include_str!("../../../tandem-testkit/fixtures/keys/test-rsa-key.pem");

    fn key_json() -> Secret {
        Secret::new(
            serde_json::json!({
                "type": "service_account",
                "client_email": "sync@proj.iam.gserviceaccount.com",
                "private_key_id": "k1",
                "private_key": PEM,
            })
            .to_string(),
        )
    }

    #[test]
    fn assertion_has_the_delegation_claims() {
        let key = ServiceAccountKey::from_json(&key_json()).unwrap();
        assert!(!format!("{key:?}").contains("PRIVATE"));
        let aud = Url::parse("https://oauth2.googleapis.com/token").unwrap();
        let signer = Signer::new(&key, "ada@example.com", &aud, 3600).unwrap();
        let jwt = signer.sign(1_000).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| -> serde_json::Value {
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap()
        };
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "k1");
        let claims: Claims = serde_json::from_value(decode(parts[1])).unwrap();
        assert_eq!(claims.iss, "sync@proj.iam.gserviceaccount.com");
        assert_eq!(claims.sub, "ada@example.com");
        assert_eq!(claims.aud, "https://oauth2.googleapis.com/token");
        assert_eq!(
            claims.scope,
            "https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/contacts"
        );
        assert_eq!(claims.exp - claims.iat, 3600);
        assert!(Signer::new(&key, "ada@example.com", &aud, 3601).is_err());
    }

    #[test]
    fn bad_key_files_are_config_errors_without_content() {
        let e = ServiceAccountKey::from_json(&Secret::new("{\"private_key\": \"sekrit\"}")).unwrap_err();
        assert!(matches!(&e, ConnectorError::Config { message } if !message.contains("sekrit")));
        let other = Secret::new(r#"{"type":"authorized_user","client_email":"a","private_key":"b"}"#);
        assert!(ServiceAccountKey::from_json(&other).is_err());
    }
}
