//! Authentication of EWS calls: Basic, OAuth bearer tokens (through
//! [`tandem_connector::http::TokenCache`]) and NTLM through the `sspi` crate.
//!
//! **NTLM** authenticates a *connection*, not a request: Type 1 (negotiate) → `401` with the
//! server's Type 2 challenge in `WWW-Authenticate: NTLM …` → Type 3 (authenticate) with the
//! request, all on one keep-alive HTTP/1.1 connection. The shared [`HttpClient`] pools
//! connections and may speak HTTP/2 (where IIS refuses NTLM), so NTLM calls go through a
//! dedicated reqwest client of this connector: HTTP/1.1 only, at most one idle connection, one
//! handshake at a time (a mutex), each call doing its whole handshake. The messages themselves
//! (and their crypto) are sspi's `Ntlm` security package; nothing here computes NTLM by hand.
//!
//! [`HttpClient`]: tandem_connector::http::HttpClient

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, DataRepresentation, Ntlm, SecurityBuffer, Sspi,
    SspiImpl, Username,
};
use tandem_connector::ConnectorError;
use tandem_connector::http::{Secret, TokenCache, TokenSource};

/// The `Authorization` value of HTTP Basic.
pub(crate) fn basic_header(username: &str, password: &Secret) -> Secret {
    Secret::new(format!("Basic {}", STANDARD.encode(format!("{username}:{}", password.expose()))))
}

/// Bearer tokens, cached.
pub(crate) type Tokens = TokenCache<Arc<dyn TokenSource>>;

fn sspi_error(e: sspi::Error) -> ConnectorError {
    // sspi's messages name the failing step; they never include the password.
    ConnectorError::Auth { refreshable: false, message: format!("NTLM: {e}") }
}

/// One NTLM client context: Type 1 out, Type 2 in, Type 3 out.
pub struct NtlmContext {
    ntlm: Ntlm,
    credentials: Option<sspi::AuthIdentityBuffers>,
    target: String,
}

impl std::fmt::Debug for NtlmContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmContext").field("target", &self.target).finish_non_exhaustive()
    }
}

impl NtlmContext {
    /// A context for `DOMAIN\username` talking to `host` (target name `HTTP/host`).
    ///
    /// # Errors
    ///
    /// [`ConnectorError::Auth`] for an unusable user name.
    pub fn new(username: &str, domain: &str, password: &Secret, host: &str) -> Result<Self, ConnectorError> {
        let domain = Some(domain).filter(|d| !d.is_empty());
        let username = Username::new(username, domain)
            .map_err(|e| ConnectorError::Config { message: format!("NTLM user name: {e}") })?;
        let identity = AuthIdentity { username, password: password.expose().to_owned().into() };
        let mut ntlm = Ntlm::new();
        let acquired = ntlm
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Outbound)
            .with_auth_data(&identity)
            .execute(&mut ntlm)
            .map_err(sspi_error)?;
        Ok(NtlmContext { ntlm, credentials: acquired.credentials_handle, target: format!("HTTP/{host}") })
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<Vec<u8>, ConnectorError> {
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut input_buffers = input.map(|i| vec![SecurityBuffer::new(i.to_vec(), BufferType::Token)]);
        let mut builder = self
            .ntlm
            .initialize_security_context()
            .with_credentials_handle(&mut self.credentials)
            .with_context_requirements(ClientRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name(&self.target)
            .with_output(&mut output);
        if let Some(input) = input_buffers.as_mut() {
            builder = builder.with_input(input);
        }
        self.ntlm
            .initialize_security_context_impl(&mut builder)
            .map_err(sspi_error)?
            .resolve_to_result()
            .map_err(sspi_error)?;
        Ok(output.into_iter().next().map(|b| b.buffer).unwrap_or_default())
    }

    /// The Type 1 (negotiate) message.
    ///
    /// # Errors
    ///
    /// sspi's failure, as [`ConnectorError::Auth`].
    pub fn negotiate(&mut self) -> Result<Vec<u8>, ConnectorError> {
        self.step(None)
    }

    /// The Type 3 (authenticate) message answering the server's Type 2 `challenge`.
    ///
    /// # Errors
    ///
    /// sspi's failure (a malformed challenge), as [`ConnectorError::Auth`].
    pub fn authenticate(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ConnectorError> {
        self.step(Some(challenge))
    }
}

/// The Type 2 challenge in a `WWW-Authenticate` header value (`NTLM <base64>` or
/// `Negotiate <base64>`).
pub(crate) fn challenge_of(header: &str) -> Option<Vec<u8>> {
    header.split(',').map(str::trim).find_map(|v| {
        let (scheme, token) = v.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("NTLM") || scheme.eq_ignore_ascii_case("Negotiate") {
            STANDARD.decode(token.trim()).ok()
        } else {
            None
        }
    })
}

/// What an NTLM-authenticated call got back.
pub(crate) struct NtlmAnswer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Vec<u8>,
}

/// The dedicated HTTP/1.1 client for NTLM (see the module documentation).
pub(crate) struct NtlmTransport {
    client: reqwest::Client,
    lock: tokio::sync::Mutex<()>,
    username: String,
    domain: String,
    password: Secret,
}

impl NtlmTransport {
    pub(crate) fn new(username: &str, domain: &str, password: &Secret) -> Result<Self, ConnectorError> {
        let client = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(1)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| ConnectorError::Config { message: format!("NTLM HTTP client: {e}") })?;
        Ok(NtlmTransport {
            client,
            lock: tokio::sync::Mutex::new(()),
            username: username.to_owned(),
            domain: domain.to_owned(),
            password: password.clone(),
        })
    }

    /// Sends one SOAP request with the full NTLM handshake.
    pub(crate) async fn send(
        &self,
        url: &url::Url,
        anchor: &str,
        body: Vec<u8>,
        max_bytes: usize,
    ) -> Result<NtlmAnswer, ConnectorError> {
        let _one_at_a_time = self.lock.lock().await;
        let host = url.host_str().unwrap_or_default().to_owned();
        let network = |e: reqwest::Error| ConnectorError::Transient {
            message: format!(
                "POST {host}{}: {}",
                url.path(),
                if e.is_timeout() { "timed out" } else { "network error" }
            ),
        };
        let mut context = NtlmContext::new(&self.username, &self.domain, &self.password, &host)?;
        let type1 = context.negotiate()?;
        let first = self
            .client
            .post(url.clone())
            .header("Authorization", format!("NTLM {}", STANDARD.encode(type1)))
            .header("X-AnchorMailbox", anchor)
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(Vec::new())
            .send()
            .await
            .map_err(network)?;
        let challenge =
            first.headers().get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()).find_map(challenge_of);
        let status = first.status().as_u16();
        // Read the (small) 401 body so the connection can be reused for the Type 3 message.
        let _ = first.bytes().await.map_err(network)?;
        let Some(challenge) = challenge else {
            return Err(ConnectorError::Auth {
                refreshable: false,
                message: format!("NTLM: the server answered {status} without an NTLM challenge"),
            });
        };
        let type3 = context.authenticate(&challenge)?;
        let response = self
            .client
            .post(url.clone())
            .header("Authorization", format!("NTLM {}", STANDARD.encode(type3)))
            .header("X-AnchorMailbox", anchor)
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(network)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| tandem_connector::http::parse_retry_after(v, chrono::Utc::now()));
        if response.content_length().is_some_and(|n| n > u64::try_from(max_bytes).unwrap_or(u64::MAX)) {
            return Err(crate::xml::XmlError::TooLarge {
                size: usize::try_from(response.content_length().unwrap_or_default()).unwrap_or(usize::MAX),
                max: max_bytes,
            }
            .into());
        }
        let body = response.bytes().await.map_err(network)?.to_vec();
        Ok(NtlmAnswer { status, retry_after, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_base64_of_user_and_password() {
        let h = basic_header("CORP\\svc", &Secret::new("pw"));
        assert_eq!(h.expose(), format!("Basic {}", STANDARD.encode("CORP\\svc:pw")));
        assert!(!format!("{h:?}").contains("pw"));
    }

    #[test]
    fn ntlm_type1_is_well_formed() {
        let mut c = NtlmContext::new("svc", "CORP", &Secret::new("pw"), "mail.example.com").unwrap();
        let t1 = c.negotiate().unwrap();
        assert!(t1.len() >= 32, "{} bytes", t1.len());
        assert_eq!(&t1[..8], b"NTLMSSP\0");
        assert_eq!(&t1[8..12], &[1, 0, 0, 0], "message type 1");
        let flags = u32::from_le_bytes([t1[12], t1[13], t1[14], t1[15]]);
        assert!(flags & 0x0000_0200 != 0, "NTLMSSP_NEGOTIATE_NTLM");
        assert!(flags & 0x0000_0001 != 0, "NTLMSSP_NEGOTIATE_UNICODE");
    }

    #[test]
    fn ntlm_rejects_a_garbage_challenge() {
        let mut c = NtlmContext::new("svc", "CORP", &Secret::new("pw"), "mail.example.com").unwrap();
        let _ = c.negotiate().unwrap();
        assert!(c.authenticate(b"not a challenge").is_err());
    }

    #[test]
    fn challenges_are_found_in_www_authenticate() {
        let token = STANDARD.encode(b"NTLMSSP\0\x02\0\0\0");
        assert_eq!(challenge_of(&format!("NTLM {token}")), Some(b"NTLMSSP\0\x02\0\0\0".to_vec()));
        assert_eq!(challenge_of(&format!("Basic realm=\"x\", Negotiate {token}")).map(|v| v.len()), Some(12));
        assert_eq!(challenge_of("NTLM"), None);
        assert_eq!(challenge_of("Basic realm=\"x\""), None);
    }
}
