//! Connections: how a connector reaches its provider, and the policy's check of it.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::policy::{Policy, ProviderRules};
use crate::rule::{PolicyError, Rule};
use crate::scopes::{self, EWS};

/// How a connector reaches its provider: what the security policy checks before the connector
/// is used. Never holds a secret.
///
/// Returned by every connector's `connection()` (re-exported as `tandem_connector::ConnectionInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// The provider: `salesforce`, `graph`, `ews`, `google`, `memory`.
    pub provider: String,
    /// The connection method, e.g. `jwt_bearer`, `client_credentials_secret`,
    /// `client_credentials_certificate`, `auth_code_pkce`, `service_account`, `ntlm`, `basic`,
    /// `in_memory` (see [`Method`]).
    pub method: String,
    /// Every endpoint the connector will call (token endpoint and API base URLs).
    pub endpoints: Vec<String>,
    /// The OAuth scopes it will request.
    pub scopes: Vec<String>,
    /// The user or mailbox it reads and writes, when it knows it before connecting.
    pub principal: Option<String>,
}

impl ConnectionInfo {
    /// The description of an in-process connector with no network access.
    pub fn in_memory(provider: impl Into<String>) -> Self {
        ConnectionInfo {
            provider: provider.into(),
            method: "in_memory".into(),
            endpoints: Vec::new(),
            scopes: Vec::new(),
            principal: None,
        }
    }
}

/// A connection method: how a connector authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// OAuth JWT-bearer grant signed with a private key (Salesforce; Google's service account
    /// flow is [`Method::ServiceAccount`]).
    JwtBearer,
    /// OAuth client credentials with a client secret (a shared password).
    ClientCredentialsSecret,
    /// OAuth client credentials with a certificate (a signed client assertion).
    ClientCredentialsCertificate,
    /// Delegated OAuth: authorization code with PKCE, then refresh tokens.
    AuthCodePkce,
    /// Google service account with domain-wide delegation (a JWT signed with its private key).
    ServiceAccount,
    /// NTLM (on-premises Exchange only).
    Ntlm,
    /// HTTP Basic auth (a password with every request).
    Basic,
    /// A static bearer token issued out of band (a CalDAV/CardDAV server's API token).
    BearerToken,
    /// Files on this machine (vdir folders): no network, no credentials; the operating system's
    /// file permissions decide.
    LocalFiles,
    /// An in-process connector: no network, no credentials.
    InMemory,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 10] = [
        Method::JwtBearer,
        Method::ClientCredentialsSecret,
        Method::ClientCredentialsCertificate,
        Method::AuthCodePkce,
        Method::ServiceAccount,
        Method::Ntlm,
        Method::Basic,
        Method::BearerToken,
        Method::LocalFiles,
        Method::InMemory,
    ];

    /// The method's name, as in [`ConnectionInfo::method`] and the policy's TOML.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::JwtBearer => "jwt_bearer",
            Method::ClientCredentialsSecret => "client_credentials_secret",
            Method::ClientCredentialsCertificate => "client_credentials_certificate",
            Method::AuthCodePkce => "auth_code_pkce",
            Method::ServiceAccount => "service_account",
            Method::Ntlm => "ntlm",
            Method::Basic => "basic",
            Method::BearerToken => "bearer_token",
            Method::LocalFiles => "local_files",
            Method::InMemory => "in_memory",
        }
    }

    /// The inverse of [`Method::as_str`].
    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `host` is a loopback host: `127.0.0.0/8`, `::1` or the name `localhost`.
pub(crate) fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn host_allowed(host: &str, patterns: &std::collections::BTreeSet<String>) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    patterns.iter().any(|p| {
        let p = p.trim().trim_end_matches('.').to_ascii_lowercase();
        match p.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == p,
        }
    })
}

impl Policy {
    /// Checks a connection before any connector call: its method, every endpoint, its scopes and
    /// its principal (the mailbox or user it serves).
    ///
    /// # Errors
    ///
    /// [`PolicyError::Denied`] naming the first rule the connection breaks.
    pub fn check_connection(&self, info: &ConnectionInfo) -> Result<(), PolicyError> {
        let provider = info.provider.as_str();
        let deny = |rule: Rule, reason: String| PolicyError::Denied { rule, provider: provider.to_owned(), reason };
        let rules = self.providers.get(provider);
        let method = Method::parse(&info.method).ok_or_else(|| {
            deny(Rule::Methods(provider.to_owned()), format!("unknown connection method `{}`", info.method))
        })?;

        // 1. The method.
        if method == Method::InMemory {
            let listed = rules.is_some_and(|r| r.methods.contains(&Method::InMemory));
            if !(self.allow_in_memory || listed) {
                return Err(deny(
                    Rule::AllowInMemory,
                    "in-process connectors are not allowed (set `allow_in_memory = true` for tests and examples)"
                        .into(),
                ));
            }
        } else {
            let rules = rules.ok_or_else(|| {
                deny(
                    Rule::Provider(provider.to_owned()),
                    format!("the policy has no rules for provider `{provider}`, so it may not be used"),
                )
            })?;
            if provider == EWS && method == Method::Basic && !rules.methods.contains(&method) {
                return Err(deny(
                    Rule::Methods(provider.to_owned()),
                    "Basic auth to EWS sends the password with every request; it is refused unless the policy \
                     lists `basic` for ews (over TLS only)"
                        .into(),
                ));
            }
            if !rules.methods.contains(&method) {
                let allowed: Vec<&str> = rules.methods.iter().map(|m| m.as_str()).collect();
                return Err(deny(
                    Rule::Methods(provider.to_owned()),
                    format!("connection method `{method}` is not allowed (allowed: {})", allowed.join(", ")),
                ));
            }
        }

        // 2. Every endpoint.
        let mut hosts = Vec::with_capacity(info.endpoints.len());
        for (i, endpoint) in info.endpoints.iter().enumerate() {
            hosts.push(self.check_endpoint(provider, rules, i, endpoint)?);
        }

        // 3. NTLM only on premises.
        if method == Method::Ntlm {
            let on_premises = rules.and_then(|r| r.on_premises).unwrap_or_else(|| {
                !hosts.is_empty() && hosts.iter().all(|h| !scopes::is_microsoft_cloud(h.trim_matches(['[', ']'])))
            });
            if !on_premises {
                return Err(deny(
                    Rule::OnPremises(provider.to_owned()),
                    "NTLM is only allowed against on-premises servers; these endpoints are in Microsoft's cloud \
                     (or none is declared): use OAuth there"
                        .into(),
                ));
            }
        }

        // 4. Scopes: requested ⊆ allowed, and never a forbidden one.
        for scope in &info.scopes {
            if let Some(why) = scopes::forbidden(provider, scope) {
                return Err(deny(Rule::Scopes(provider.to_owned()), format!("scope `{scope}`: {why}")));
            }
            let wanted = scopes::normalize(provider, scope);
            let allowed = rules.is_some_and(|r| r.scopes.iter().any(|a| scopes::normalize(provider, a) == wanted));
            if !allowed {
                return Err(deny(
                    Rule::Scopes(provider.to_owned()),
                    format!("scope `{scope}` is not in the allowed scopes of {provider}"),
                ));
            }
        }

        // 5. The principal.
        if let Some(scope) = rules.and_then(|r| r.mailboxes.as_ref()) {
            match &info.principal {
                Some(principal) if scope.allows(principal) => {}
                Some(principal) => {
                    return Err(deny(
                        Rule::Mailboxes(provider.to_owned()),
                        format!("`{principal}` is outside the allowed users and domains"),
                    ));
                }
                None => {
                    return Err(deny(
                        Rule::Mailboxes(provider.to_owned()),
                        "the connection does not say which mailbox it serves, and the policy restricts mailboxes"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether a write into `principal`'s mailbox at `provider` is allowed by the mailbox scope.
    ///
    /// # Errors
    ///
    /// The rule and the reason, when it is not.
    pub fn check_mailbox(&self, provider: &str, principal: &str) -> Result<(), (Rule, String)> {
        match self.providers.get(provider).and_then(|r| r.mailboxes.as_ref()) {
            Some(scope) if !scope.allows(principal) => Err((
                Rule::Mailboxes(provider.to_owned()),
                format!("the mailbox `{principal}` is outside the allowed users and domains"),
            )),
            _ => Ok(()),
        }
    }

    /// Checks one endpoint; returns its host.
    fn check_endpoint(
        &self,
        provider: &str,
        rules: Option<&ProviderRules>,
        index: usize,
        endpoint: &str,
    ) -> Result<String, PolicyError> {
        let deny = |rule: Rule, reason: String| PolicyError::Denied { rule, provider: provider.to_owned(), reason };
        // Errors name the scheme and host only: a path or query may carry a token.
        let url = Url::parse(endpoint.trim())
            .map_err(|_| deny(Rule::HttpsOnly, format!("endpoint #{} is not a valid URL", index + 1)))?;
        let host = url.host_str().unwrap_or("").to_owned();
        if !url.username().is_empty() || url.password().is_some() {
            return Err(deny(Rule::HttpsOnly, format!("the endpoint for host `{host}` embeds credentials in its URL")));
        }
        match url.scheme() {
            "https" if !host.is_empty() => {}
            "http" if is_loopback(url.host()) => {
                if !self.endpoints.allow_loopback_http {
                    return Err(deny(
                        Rule::LoopbackHttp,
                        format!(
                            "plain http:// to loopback host `{host}` is only allowed when \
                             `endpoints.allow_loopback_http` is set (tests and local fakes)"
                        ),
                    ));
                }
            }
            "http" => {
                return Err(deny(Rule::HttpsOnly, format!("plain http:// to `{host}` is refused: use https://")));
            }
            other => {
                return Err(deny(
                    Rule::HttpsOnly,
                    format!("only https:// endpoints are allowed; scheme `{other}` for host `{host}` is refused"),
                ));
            }
        }
        if let Some(allowed) = rules.and_then(|r| r.hosts.as_ref())
            && !host_allowed(&host, allowed)
        {
            return Err(deny(
                Rule::Hosts(provider.to_owned()),
                format!("host `{host}` is not in the allowed hosts of {provider}"),
            ));
        }
        Ok(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_through_their_names() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        assert_eq!(Method::parse("password"), None);
    }

    #[test]
    fn host_allow_lists_match_exact_names_and_wildcard_subdomains() {
        let allowed = ["graph.microsoft.com".to_owned(), "*.my.salesforce.com".to_owned()].into();
        assert!(host_allowed("GRAPH.microsoft.com", &allowed));
        assert!(host_allowed("acme.my.salesforce.com", &allowed));
        assert!(!host_allowed("my.salesforce.com", &allowed));
        assert!(!host_allowed("graph.microsoft.com.evil.net", &allowed));
    }
}
