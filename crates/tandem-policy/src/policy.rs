//! The policy itself: plain serde data with a safe default, loadable from TOML, validated.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tandem_core::fields::FieldKey;

use crate::connection::Method;
use crate::rule::{PolicyError, Problem, Rule};
use crate::scopes::{self, DAV, EWS, GOOGLE, GRAPH, SALESFORCE, VDIR};

/// A security policy: which connections are allowed and what data may travel.
///
/// Loaded from TOML with [`Policy::from_toml_str`] (which validates it) or built in code from
/// [`Policy::default`]. Unknown keys are errors, so a misspelt rule is never silently ignored.
///
/// The default is safe to run with real connectors:
///
/// - `allow_in_memory = true`: in-process connectors (no network, no credentials) are allowed,
///   so tests, examples and embedders' stand-ins work. Set it to `false` in production so that
///   only real, checked connectors run.
/// - endpoints: `https://` only; plain `http://` to loopback is refused unless
///   `endpoints.allow_loopback_http` is set (tests and fakes only); TLS 1.2 at least.
/// - providers: Salesforce (JWT bearer, or delegated OAuth; scopes `api`, `refresh_token`),
///   Microsoft Graph (app-only with a certificate, or delegated OAuth; `Calendars.ReadWrite`,
///   `Contacts.ReadWrite`, `offline_access`, `https://graph.microsoft.com/.default`), EWS
///   (app-only with a certificate, delegated OAuth, or NTLM on premises only; Basic to EWS only
///   when a policy lists it, over TLS) and
///   Google (service account with domain-wide delegation, or delegated OAuth; calendar and
///   contacts scopes). Client secrets are refused where a certificate is possible. No host
///   allow-lists and no mailbox scope: those depend on the deployment, so set them.
/// - data: private events are skipped; nothing excluded; no field kept in the CRM; no limit on
///   description length.
/// - audit: kept 365 days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Whether in-process connectors (connection method `in_memory`) may be used whatever their
    /// provider name. Default `true`.
    pub allow_in_memory: bool,
    /// Rules for every endpoint.
    pub endpoints: EndpointRules,
    /// Rules per provider (`salesforce`, `graph`, `ews`, `google`, or a custom connector's
    /// provider name). A provider that is not listed may not be used. Listing providers in TOML
    /// replaces the default set; within a listed provider, keys left out keep that provider's
    /// defaults.
    #[serde(deserialize_with = "deserialize_providers")]
    pub providers: BTreeMap<String, ProviderRules>,
    /// What data may travel.
    pub data: DataRules,
    /// The audit log.
    pub audit: AuditRules,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_in_memory: true,
            endpoints: EndpointRules::default(),
            providers: scopes::KNOWN_PROVIDERS
                .iter()
                .filter_map(|p| ProviderRules::defaults_for(p).map(|r| ((*p).to_owned(), r)))
                .collect(),
            data: DataRules::default(),
            audit: AuditRules::default(),
        }
    }
}

/// The lowest TLS version a connection may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum TlsVersion {
    /// TLS 1.2 (the default, and the floor: older versions cannot be configured).
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "1.3")]
    Tls13,
}

/// Rules for every endpoint a connector calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointRules {
    /// Allow plain `http://` to loopback hosts (`127.0.0.0/8`, `::1`, `localhost`), for tests
    /// and local fakes. Default `false`: every endpoint must be `https://`.
    pub allow_loopback_http: bool,
    /// The lowest TLS version, `"1.2"` (default) or `"1.3"`. Recorded here and exposed to
    /// connectors through [`Policy::min_tls`]. Tandem's HTTP stack (reqwest on rustls) never
    /// negotiates anything older than TLS 1.2 whatever this says, because rustls does not
    /// implement TLS 1.0 or 1.1; a connector on another stack must honour this setting itself.
    pub min_tls: TlsVersion,
}

/// The users and domains a connection may serve (its principal: the mailbox, or the Salesforce
/// user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MailboxScope {
    /// Addresses allowed one by one (compared case-insensitively).
    pub users: BTreeSet<String>,
    /// Domains whose every address is allowed, subdomains included (`example.com` allows
    /// `ada@example.com` and `ada@eu.example.com`).
    pub domains: BTreeSet<String>,
}

impl MailboxScope {
    /// Whether `principal` is in scope.
    pub fn allows(&self, principal: &str) -> bool {
        let principal = principal.trim().to_ascii_lowercase();
        if self.users.iter().any(|u| u.trim().eq_ignore_ascii_case(&principal)) {
            return true;
        }
        domain_of(&principal).is_some_and(|d| self.domains.iter().any(|allowed| domain_matches(d, allowed)))
    }
}

/// The domain part of an address, lower case.
pub(crate) fn domain_of(address: &str) -> Option<&str> {
    address.rsplit_once('@').map(|(_, d)| d).filter(|d| !d.is_empty())
}

/// Whether `domain` is `rule` or one of its subdomains, case-insensitively.
pub(crate) fn domain_matches(domain: &str, rule: &str) -> bool {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let rule = rule.trim().trim_end_matches('.').to_ascii_lowercase();
    !rule.is_empty() && (domain == rule || domain.ends_with(&format!(".{rule}")))
}

/// The rules of one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProviderRules {
    /// The connection methods allowed.
    pub methods: BTreeSet<Method>,
    /// The OAuth scopes connections may request: what they request must be a subset. Compared
    /// case-insensitively; for Graph, EWS and Google with or without the resource prefix
    /// (`Calendars.ReadWrite` = `https://graph.microsoft.com/Calendars.ReadWrite`).
    #[serde(default)]
    pub scopes: BTreeSet<String>,
    /// When set, the only hosts connections may call: exact names, or `*.example.com` for any
    /// subdomain. When absent, any `https://` host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<BTreeSet<String>>,
    /// When set, the only users and domains connections may serve; a connection for another
    /// principal is refused, and so is every write into a mailbox outside it. When absent, any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailboxes: Option<MailboxScope>,
    /// Whether the provider's servers are on premises. NTLM is only allowed on premises. When
    /// absent, a connection is on premises when none of its endpoints is on a Microsoft cloud
    /// host (`office365.com`, `outlook.office365.com`, `microsoft.com`, `microsoftonline.com`
    /// and their subdomains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises: Option<bool>,
}

impl ProviderRules {
    /// The default rules of a known provider (see [`Policy::default`]); `None` for others.
    pub fn defaults_for(provider: &str) -> Option<ProviderRules> {
        let set = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<String>>();
        let rules = |methods: &[Method], scopes: &[&str]| ProviderRules {
            methods: methods.iter().copied().collect(),
            scopes: set(scopes),
            hosts: None,
            mailboxes: None,
            on_premises: None,
        };
        match provider {
            // A certificate (JWT bearer) is possible, so the client-credentials flow, which needs
            // a client secret, is not allowed by default.
            SALESFORCE => Some(rules(&[Method::JwtBearer, Method::AuthCodePkce], &["api", "refresh_token"])),
            GRAPH => Some(rules(
                &[Method::ClientCredentialsCertificate, Method::AuthCodePkce],
                &[
                    "Calendars.ReadWrite",
                    "Contacts.ReadWrite",
                    "offline_access",
                    "https://graph.microsoft.com/.default",
                ],
            )),
            EWS => Some(rules(
                &[Method::ClientCredentialsCertificate, Method::AuthCodePkce, Method::Ntlm],
                &[
                    "https://outlook.office365.com/.default",
                    "https://outlook.office365.com/EWS.AccessAsUser.All",
                    "offline_access",
                ],
            )),
            GOOGLE => Some(rules(
                &[Method::ServiceAccount, Method::AuthCodePkce],
                &[
                    "https://www.googleapis.com/auth/calendar",
                    "https://www.googleapis.com/auth/calendar.events",
                    "https://www.googleapis.com/auth/contacts",
                ],
            )),
            // CalDAV/CardDAV servers authenticate with a password (an app password, over TLS:
            // the endpoint rules refuse `http://`) or a bearer token; there are no scopes.
            DAV => Some(rules(&[Method::Basic, Method::BearerToken], &[])),
            // Folders on this machine: what the process may read and write is the operating
            // system's business.
            VDIR => Some(rules(&[Method::LocalFiles], &[])),
            _ => None,
        }
    }
}

/// A provider's rules as written in TOML: keys left out keep the provider's defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderRulesToml {
    methods: Option<BTreeSet<Method>>,
    scopes: Option<BTreeSet<String>>,
    hosts: Option<BTreeSet<String>>,
    mailboxes: Option<MailboxScope>,
    on_premises: Option<bool>,
}

fn deserialize_providers<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, ProviderRules>, D::Error> {
    let written = BTreeMap::<String, ProviderRulesToml>::deserialize(deserializer)?;
    Ok(written
        .into_iter()
        .map(|(name, w)| {
            let mut rules = ProviderRules::defaults_for(&name).unwrap_or_default();
            if let Some(methods) = w.methods {
                rules.methods = methods;
            }
            if let Some(scopes) = w.scopes {
                rules.scopes = scopes;
            }
            if w.hosts.is_some() {
                rules.hosts = w.hosts;
            }
            if w.mailboxes.is_some() {
                rules.mailboxes = w.mailboxes;
            }
            if w.on_premises.is_some() {
                rules.on_premises = w.on_premises;
            }
            (name, rules)
        })
        .collect())
}

/// What happens to private events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PrivateEvents {
    /// Not synced in either direction (the default, as "Sync private events" is opt-in in
    /// Salesforce's Einstein Activity Capture).
    #[default]
    Skip,
    /// Synced as a placeholder that only blocks the time: subject `Busy`, no description,
    /// location, attendees, organizer, categories, CRM links or custom fields, recurrence
    /// exceptions without their texts. Later edits carry only the timing, recurrence, privacy and
    /// show-as fields, so details never follow (and a placeholder's `Busy` never overwrites the
    /// original's subject).
    BusyOnly,
    /// Synced with every field, and marked private on both sides.
    Full,
}

/// What data may travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DataRules {
    /// Private events: `skip` (default), `busy_only` or `full`. Applies in both directions.
    pub private_events: PrivateEvents,
    /// Email addresses whose records never sync, in either direction: a contact whose primary
    /// address is listed, an event with a listed attendee or organizer. Case-insensitive.
    /// Default none.
    pub excluded_addresses: BTreeSet<String>,
    /// Email domains whose records never sync, subdomains included; matched like
    /// `excluded_addresses`. Default none.
    pub excluded_domains: BTreeSet<String>,
    /// Fields that never leave Salesforce: removed from every create and update written to a
    /// mailbox. Custom fields by canonical name or Salesforce name (`custom.Margin__c`).
    /// Edits made in the mailbox still flow to Salesforce. Default none.
    pub crm_only_fields: BTreeSet<FieldKey>,
    /// The longest event description or contact notes (Salesforce Description) written to a
    /// mailbox, in characters; longer texts are cut. Default: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_description_len: Option<usize>,
}

/// The audit log's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditRules {
    /// Audit entries older than this many days are deleted at the end of each sync. Default
    /// 365; at least 1.
    pub retention_days: u32,
}

impl Default for AuditRules {
    fn default() -> Self {
        AuditRules { retention_days: 365 }
    }
}

impl Policy {
    /// Parses a policy from TOML and validates it.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Parse`] for malformed TOML, unknown keys or values;
    /// [`PolicyError::Invalid`] for a policy that parses but contradicts itself.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// The policy as TOML (every rule spelled out).
    ///
    /// # Errors
    ///
    /// [`PolicyError::Parse`] if serialisation fails (it does not for policies built from these
    /// types).
    pub fn to_toml_string(&self) -> Result<String, PolicyError> {
        toml::to_string(self).map_err(|e| PolicyError::Parse(e.to_string()))
    }

    /// [`Policy::default`] with plain `http://` to loopback allowed: for tests and local fakes.
    pub fn for_loopback_tests() -> Self {
        let mut policy = Policy::default();
        policy.endpoints.allow_loopback_http = true;
        policy
    }

    /// The lowest TLS version connectors may negotiate.
    pub fn min_tls(&self) -> TlsVersion {
        self.endpoints.min_tls
    }

    /// How long audit entries are kept.
    pub fn audit_retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.audit.retention_days.max(1)))
    }

    /// Checks that the policy is usable and consistent: every rule names known things (scopes of
    /// known providers, connection methods), no allow-list excludes everything, no two rules
    /// contradict each other.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Invalid`] listing every problem found.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let mut problems = Vec::new();
        let mut problem = |rule: Rule, message: String| problems.push(Problem { rule, message });

        for (name, rules) in &self.providers {
            if name.trim().is_empty() || name.contains('.') {
                problem(Rule::Provider(name.clone()), "a provider name must be non-empty and without dots".into());
            }
            if rules.methods.is_empty() {
                problem(
                    Rule::Methods(name.clone()),
                    "no connection method is allowed; remove the provider to forbid it".into(),
                );
            }
            // Basic to EWS is an administrator's explicit choice (`methods = ["basic"]`): the
            // default never lists it, and `https://` endpoints are enforced for it like for
            // every method, so the password only ever travels over TLS.
            if rules.methods.contains(&Method::Ntlm) && [GRAPH, GOOGLE, SALESFORCE].contains(&name.as_str()) {
                problem(
                    Rule::Methods(name.clone()),
                    format!("NTLM is an on-premises Exchange method; {name} has none"),
                );
            }
            if rules.methods.contains(&Method::Ntlm) && rules.on_premises == Some(false) {
                problem(
                    Rule::OnPremises(name.clone()),
                    "NTLM is allowed but `on_premises = false` means it can never be used; remove one of them".into(),
                );
            }
            for scope in &rules.scopes {
                if let Some(why) = scopes::forbidden(name, scope) {
                    problem(Rule::Scopes(name.clone()), format!("scope `{scope}`: {why}"));
                } else if scopes::is_known(name, scope) == Some(false) {
                    problem(Rule::Scopes(name.clone()), format!("unknown scope `{scope}` for {name}"));
                } else if scope.trim().is_empty() || scope.contains(char::is_whitespace) {
                    problem(Rule::Scopes(name.clone()), "scopes are listed one per entry, without spaces".into());
                }
            }
            if let Some(hosts) = &rules.hosts {
                if hosts.is_empty() {
                    problem(
                        Rule::Hosts(name.clone()),
                        "the host allow-list is empty, so it excludes every endpoint; remove `hosts` to allow any \
                         https host"
                            .into(),
                    );
                }
                for host in hosts {
                    if !valid_host_pattern(host) {
                        problem(
                            Rule::Hosts(name.clone()),
                            format!(
                                "`{host}` is not a host name: write `example.com` or `*.example.com`, without \
                                 scheme, port or path"
                            ),
                        );
                    }
                }
                if rules.methods.contains(&Method::Ntlm)
                    && rules.on_premises.is_none()
                    && !hosts.is_empty()
                    && hosts.iter().all(|h| scopes::is_microsoft_cloud(h.trim_start_matches("*.")))
                {
                    problem(
                        Rule::OnPremises(name.clone()),
                        "NTLM is allowed but every allowed host is in Microsoft's cloud, where NTLM is refused".into(),
                    );
                }
            }
            if let Some(scope) = &rules.mailboxes {
                if scope.users.is_empty() && scope.domains.is_empty() {
                    problem(
                        Rule::Mailboxes(name.clone()),
                        "the mailbox scope lists no user and no domain, so it excludes every mailbox; remove \
                         `mailboxes` to allow any"
                            .into(),
                    );
                }
                for user in &scope.users {
                    if !valid_address(user) {
                        problem(Rule::Mailboxes(name.clone()), format!("`{user}` is not an email address"));
                    }
                }
                for domain in &scope.domains {
                    if !valid_domain(domain) {
                        problem(Rule::Mailboxes(name.clone()), format!("`{domain}` is not a domain"));
                    }
                }
            }
        }

        let data = &self.data;
        for address in &data.excluded_addresses {
            if !valid_address(address) {
                problem(Rule::ExcludedAddresses, format!("`{address}` is not an email address"));
            }
        }
        for domain in &data.excluded_domains {
            if !valid_domain(domain) {
                problem(Rule::ExcludedDomains, format!("`{domain}` is not a domain (write `example.com`)"));
            }
        }
        if data.crm_only_fields.contains(&FieldKey::Timing) {
            problem(
                Rule::CrmOnlyFields,
                "`timing` cannot stay in the CRM: an event cannot be written without its start and end".into(),
            );
        }
        if data.crm_only_fields.contains(&FieldKey::Privacy) && data.private_events != PrivateEvents::Skip {
            problem(
                Rule::CrmOnlyFields,
                "`privacy` stays in the CRM but `data.private_events` syncs private events: they would arrive in \
                 mailboxes unmarked, visible to everyone who shares the calendar"
                    .into(),
            );
        }
        if data.max_description_len == Some(0) {
            problem(
                Rule::MaxDescriptionLen,
                "0 would erase every description; to keep descriptions out of mailboxes list `description` and \
                 `notes` in `data.crm_only_fields`"
                    .into(),
            );
        }
        if self.audit.retention_days == 0 {
            problem(
                Rule::AuditRetention,
                "must be at least 1 day: the audit log is how writes are accounted for".into(),
            );
        }
        if problems.is_empty() { Ok(()) } else { Err(PolicyError::Invalid { problems }) }
    }
}

fn valid_address(address: &str) -> bool {
    match address.trim().split_once('@') {
        Some((local, domain)) => !local.is_empty() && !address.contains(char::is_whitespace) && valid_domain(domain),
        None => false,
    }
}

fn valid_domain(domain: &str) -> bool {
    let d = domain.trim().trim_end_matches('.');
    !d.is_empty()
        && !d.contains(['@', '/', ':', '*'])
        && !d.contains(char::is_whitespace)
        && d.split('.').all(|label| !label.is_empty())
}

fn valid_host_pattern(host: &str) -> bool {
    let h = host.trim();
    let bare = h.strip_prefix("*.").unwrap_or(h);
    // IPv6 literals are written in brackets.
    if bare.starts_with('[') && bare.ends_with(']') {
        return bare.len() > 2 && !h.starts_with("*.");
    }
    valid_domain(bare)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid() {
        Policy::default().validate().unwrap();
        Policy::for_loopback_tests().validate().unwrap();
    }

    #[test]
    fn mailbox_scope_matches_users_and_domains_with_subdomains() {
        let scope =
            MailboxScope { users: ["Grace@Other.org".to_owned()].into(), domains: ["example.com".to_owned()].into() };
        assert!(scope.allows("ada@example.com"));
        assert!(scope.allows("ADA@EU.EXAMPLE.COM"));
        assert!(scope.allows("grace@other.org"));
        assert!(!scope.allows("ada@example.com.evil.net"));
        assert!(!scope.allows("ada@notexample.com"));
        assert!(!scope.allows("example.com"));
    }

    #[test]
    fn host_patterns() {
        assert!(valid_host_pattern("graph.microsoft.com"));
        assert!(valid_host_pattern("*.my.salesforce.com"));
        assert!(valid_host_pattern("127.0.0.1"));
        assert!(valid_host_pattern("[::1]"));
        assert!(!valid_host_pattern("https://graph.microsoft.com"));
        assert!(!valid_host_pattern("graph.microsoft.com/v1.0"));
        assert!(!valid_host_pattern("host:443"));
        assert!(!valid_host_pattern(""));
    }
}
