//! OAuth plumbing: an [`oauth2::AsyncHttpClient`] on reqwest 0.13, and the JWT-bearer grant
//! that oauth2 lacks.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use oauth2::{ErrorResponseType, HttpClientError, HttpRequest, HttpResponse, RequestTokenError, StandardErrorResponse};
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::client::{
    BODY_EXCERPT_CHARS, HttpConfig, Redactor, Stats, build_reqwest, describe_reqwest_error, excerpt, json_error_kind,
};
use super::endpoint::check_endpoint;
use super::retry::parse_retry_after;
use super::secret::Secret;
use super::token::AccessToken;
use crate::error::ConnectorError;

/// The `grant_type` of the JWT-bearer grant (RFC 7523), used by Google service accounts and
/// Salesforce's JWT bearer flow.
pub const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A reqwest 0.13 client for token endpoints, usable as an [`oauth2::AsyncHttpClient`].
///
/// oauth2 5's own `reqwest` feature is built on reqwest 0.12, so Tandem turns it off and
/// implements the trait on this newtype instead. The client follows no redirects (a 3xx from a
/// token endpoint is an error, which [`map_oauth_error`] maps to [`ConnectorError::Config`])
/// and checks every URL with
/// [`check_endpoint`]. Get one from [`crate::http::HttpClient::oauth`] to share settings and
/// the request counter, or build one with [`OAuthHttp::new`].
#[derive(Clone)]
pub struct OAuthHttp {
    client: reqwest::Client,
    stats: Option<Arc<Stats>>,
}

impl OAuthHttp {
    /// A token client with the timeouts and user agent of `config`, following no redirects.
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Config`] when the TLS stack cannot be set up.
    pub fn new(config: &HttpConfig) -> Result<Self, ConnectorError> {
        Ok(OAuthHttp { client: build_reqwest(config, false)?, stats: None })
    }

    /// Wraps an existing reqwest client. It must be built with `redirect::Policy::none()`.
    pub fn from_client(client: reqwest::Client) -> Self {
        OAuthHttp { client, stats: None }
    }

    pub(crate) fn with_stats(client: reqwest::Client, stats: Option<Arc<Stats>>) -> Self {
        OAuthHttp { client, stats }
    }

    fn record(&self, url: &Url) {
        if let Some(stats) = &self.stats {
            stats.record(format!("POST {}{}", url.host_str().unwrap_or(""), url.path()));
        }
    }
}

impl fmt::Debug for OAuthHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthHttp").finish_non_exhaustive()
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(|e| Box::new(e.without_url()))?;
            check_endpoint(request.url()).map_err(|e| HttpClientError::Other(e.to_string()))?;
            if let Some(stats) = &self.stats {
                stats.record(format!(
                    "{} {}{}",
                    request.method(),
                    request.url().host_str().unwrap_or(""),
                    request.url().path()
                ));
            }
            let response = self.client.execute(request).await.map_err(|e| Box::new(e.without_url()))?;
            if response.status().is_redirection() {
                // Not followed; reported as a configuration error by `map_oauth_error`.
                return Err(HttpClientError::Other(format!(
                    "the token endpoint answered with a redirect (HTTP {}), which is not followed; check the token URL",
                    response.status()
                )));
            }
            let mut builder = http::Response::builder().status(response.status()).version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await.map_err(|e| Box::new(e.without_url()))?;
            builder.body(body.to_vec()).map_err(HttpClientError::Http)
        })
    }
}

/// A token endpoint's successful answer (RFC 6749 §5.1, plus Salesforce's `instance_url`).
///
/// `Debug` redacts the tokens and lists only the names of the other fields.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Secret,
    /// The token type, normally `Bearer`.
    #[serde(default = "bearer")]
    pub token_type: String,
    /// Lifetime in seconds, when given (Salesforce omits it). Accepts a number or a string.
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub expires_in: Option<u64>,
    /// A refresh token, when issued.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// The granted scopes, space-separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// Salesforce: the org's instance URL, the base of its REST API.
    #[serde(default)]
    pub instance_url: Option<String>,
    /// Every other field (`id`, `issued_at`, `signature`, `id_token`…).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl TokenResponse {
    /// The access token with its lifetime, ready for a [`crate::http::TokenCache`].
    pub fn access_token(&self) -> AccessToken {
        let token = AccessToken::new(self.access_token.clone());
        match self.expires_in {
            Some(secs) => token.with_expires_in(Duration::from_secs(secs)),
            None => token,
        }
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token)
            .field("scope", &self.scope)
            .field("instance_url", &self.instance_url)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn bearer() -> String {
    "Bearer".to_owned()
}

fn lenient_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seconds {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Seconds>::deserialize(deserializer)? {
        Some(Seconds::Number(n)) => Some(n),
        Some(Seconds::Text(s)) => s.trim().parse().ok(),
        None => None,
    })
}

/// An OAuth error answer (RFC 6749 §5.2).
#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Posts a form to a token endpoint and parses the standard token JSON. For grants oauth2 does
/// not offer (JWT bearer); see [`jwt_bearer_token`].
///
/// Sent once, never retried, no redirects followed. The form values never appear in errors or
/// logs; an error description that echoes one is scrubbed.
///
/// # Errors
///
/// - [`ConnectorError::Auth`] `{ refreshable: false }` for OAuth errors such as
///   `invalid_grant`, `invalid_client`, `unauthorized_client`, and for 4xx without an OAuth
///   error body;
/// - [`ConnectorError::Throttled`] for 429 and `slow_down`;
/// - [`ConnectorError::Transient`] for 5xx, `temporarily_unavailable`, `server_error`,
///   network failures and unparsable answers;
/// - [`ConnectorError::Config`] for a forbidden endpoint or a redirect.
pub async fn post_form_token(
    client: &OAuthHttp,
    url: &Url,
    form: &[(&str, &str)],
) -> Result<TokenResponse, ConnectorError> {
    check_endpoint(url)?;
    let secrets: Vec<Secret> = form.iter().filter(|(k, _)| *k != "grant_type").map(|(_, v)| Secret::new(*v)).collect();
    let redactor = Redactor::new(&secrets);
    let request = format!("{} {}{}", Method::POST, url.host_str().unwrap_or(""), url.path());
    client.record(url);
    let transient = |e: reqwest::Error| ConnectorError::Transient {
        message: redactor.redact(&format!("{request}: {}", describe_reqwest_error(e))),
    };
    let response = client
        .client
        .post(url.clone())
        .header(header::ACCEPT, HeaderValue::from_static("application/json"))
        .form(form)
        .send()
        .await
        .map_err(transient)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let body = response.bytes().await.map_err(transient)?;
    tracing::debug!(
        method = "POST",
        host = url.host_str().unwrap_or(""),
        path = url.path(),
        status = status.as_u16(),
        "token request"
    );

    if status.is_success() {
        return serde_json::from_slice::<TokenResponse>(&body).map_err(|e| ConnectorError::Transient {
            message: format!("{request}: unexpected token response ({})", json_error_kind(&e)),
        });
    }
    if status.is_redirection() {
        return Err(ConnectorError::Config {
            message: format!(
                "{request}: the token endpoint answered with a redirect (HTTP {status}), which is not followed; check the token URL"
            ),
        });
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(ConnectorError::Throttled { retry_after });
    }
    let parsed = serde_json::from_slice::<OAuthErrorBody>(&body).ok();
    if status.is_server_error() {
        let code = parsed.map(|p| format!(": {}", excerpt(&redactor.redact(&p.error), 100))).unwrap_or_default();
        return Err(ConnectorError::Transient { message: format!("{request}: HTTP {status}{code}") });
    }
    Err(match parsed {
        Some(p) => oauth_error(&p.error, p.error_description.as_deref(), &redactor),
        None => ConnectorError::Auth { refreshable: false, message: format!("{request}: HTTP {status}") },
    })
}

/// The JWT-bearer grant (RFC 7523): posts `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`
/// and the signed `assertion` (plus `extra` fields, if the provider wants any) to `url`.
///
/// # Errors
///
/// As [`post_form_token`]; the assertion never appears in them.
pub async fn jwt_bearer_token(
    client: &OAuthHttp,
    url: &Url,
    assertion: &Secret,
    extra: &[(&str, &str)],
) -> Result<TokenResponse, ConnectorError> {
    let mut form = vec![("grant_type", JWT_BEARER_GRANT_TYPE), ("assertion", assertion.expose())];
    form.extend_from_slice(extra);
    post_form_token(client, url, &form).await
}

/// Maps an error of an oauth2 token request made through [`OAuthHttp`] onto the taxonomy, the
/// same way [`post_form_token`] does. Never quotes the response body.
pub fn map_oauth_error<T>(
    error: RequestTokenError<HttpClientError<reqwest::Error>, StandardErrorResponse<T>>,
) -> ConnectorError
where
    T: ErrorResponseType + fmt::Display + 'static,
{
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = match serde_json::to_value(response.error()) {
                Ok(serde_json::Value::String(code)) => code,
                _ => "unknown_error".to_owned(),
            };
            oauth_error(&code, response.error_description().map(String::as_str), &Redactor::default())
        }
        RequestTokenError::Request(HttpClientError::Other(message)) => ConnectorError::Config { message },
        RequestTokenError::Request(e) => {
            let mut message = format!("token request failed: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            ConnectorError::Transient { message }
        }
        RequestTokenError::Parse(e, _body) => {
            ConnectorError::Transient { message: format!("unexpected token endpoint response at `{}`", e.path()) }
        }
        RequestTokenError::Other(message) => {
            ConnectorError::Transient { message: excerpt(&message, BODY_EXCERPT_CHARS) }
        }
    }
}

fn oauth_error(code: &str, description: Option<&str>, redactor: &Redactor) -> ConnectorError {
    let code = excerpt(&redactor.redact(code), 100);
    let message = match description.map(str::trim) {
        Some(d) if !d.is_empty() => format!("token endpoint: {code}: {}", excerpt(&redactor.redact(d), 300)),
        _ => format!("token endpoint: {code}"),
    };
    match code.as_str() {
        "temporarily_unavailable" | "server_error" => ConnectorError::Transient { message },
        "slow_down" => ConnectorError::Throttled { retry_after: None },
        _ => ConnectorError::Auth { refreshable: false, message },
    }
}
