//! Rule names and the policy's errors.

use std::fmt;
use std::str::FromStr;

/// One rule of the policy, named by its path in the policy's TOML (`providers.graph.scopes`,
/// `data.private_events`). Every denial, transformation and validation problem names the rule
/// that applied, so an administrator knows which line to look at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// `allow_in_memory`: in-process connectors (no network, no credentials).
    AllowInMemory,
    /// `providers.<p>`: the provider has no rules, so it may not be used.
    Provider(String),
    /// `providers.<p>.methods`: the connection methods allowed for a provider.
    Methods(String),
    /// `providers.<p>.on_premises`: NTLM only against on-premises servers.
    OnPremises(String),
    /// `providers.<p>.scopes`: the OAuth scopes a provider's connections may request.
    Scopes(String),
    /// `providers.<p>.hosts`: the hosts a provider's connections may call.
    Hosts(String),
    /// `providers.<p>.mailboxes`: the users and domains a provider's connections may serve.
    Mailboxes(String),
    /// `endpoints.https_only`: every endpoint is `https://` (not a setting: always on).
    HttpsOnly,
    /// `endpoints.allow_loopback_http`: plain `http://` to loopback, for tests and fakes only.
    LoopbackHttp,
    /// `endpoints.min_tls`: the lowest TLS version connectors may negotiate.
    MinTls,
    /// `data.private_events`: what happens to private events.
    PrivateEvents,
    /// `data.excluded_addresses`: email addresses whose records never sync.
    ExcludedAddresses,
    /// `data.excluded_domains`: email domains whose records never sync.
    ExcludedDomains,
    /// `data.crm_only_fields`: fields that never leave Salesforce.
    CrmOnlyFields,
    /// `data.max_description_len`: the longest description written to a mailbox.
    MaxDescriptionLen,
    /// `audit.retention_days`: how long the audit log is kept.
    AuditRetention,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::AllowInMemory => f.write_str("allow_in_memory"),
            Rule::Provider(p) => write!(f, "providers.{p}"),
            Rule::Methods(p) => write!(f, "providers.{p}.methods"),
            Rule::OnPremises(p) => write!(f, "providers.{p}.on_premises"),
            Rule::Scopes(p) => write!(f, "providers.{p}.scopes"),
            Rule::Hosts(p) => write!(f, "providers.{p}.hosts"),
            Rule::Mailboxes(p) => write!(f, "providers.{p}.mailboxes"),
            Rule::HttpsOnly => f.write_str("endpoints.https_only"),
            Rule::LoopbackHttp => f.write_str("endpoints.allow_loopback_http"),
            Rule::MinTls => f.write_str("endpoints.min_tls"),
            Rule::PrivateEvents => f.write_str("data.private_events"),
            Rule::ExcludedAddresses => f.write_str("data.excluded_addresses"),
            Rule::ExcludedDomains => f.write_str("data.excluded_domains"),
            Rule::CrmOnlyFields => f.write_str("data.crm_only_fields"),
            Rule::MaxDescriptionLen => f.write_str("data.max_description_len"),
            Rule::AuditRetention => f.write_str("audit.retention_days"),
        }
    }
}

/// A rule path that is not one of the policy's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy rule `{0}`")]
pub struct UnknownRule(pub String);

impl FromStr for Rule {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fixed = match s {
            "allow_in_memory" => Some(Rule::AllowInMemory),
            "endpoints.https_only" => Some(Rule::HttpsOnly),
            "endpoints.allow_loopback_http" => Some(Rule::LoopbackHttp),
            "endpoints.min_tls" => Some(Rule::MinTls),
            "data.private_events" => Some(Rule::PrivateEvents),
            "data.excluded_addresses" => Some(Rule::ExcludedAddresses),
            "data.excluded_domains" => Some(Rule::ExcludedDomains),
            "data.crm_only_fields" => Some(Rule::CrmOnlyFields),
            "data.max_description_len" => Some(Rule::MaxDescriptionLen),
            "audit.retention_days" => Some(Rule::AuditRetention),
            _ => None,
        };
        if let Some(rule) = fixed {
            return Ok(rule);
        }
        let unknown = || UnknownRule(s.to_owned());
        let rest = s.strip_prefix("providers.").ok_or_else(unknown)?;
        if rest.is_empty() {
            return Err(unknown());
        }
        let Some((provider, leaf)) = rest.rsplit_once('.') else {
            return Ok(Rule::Provider(rest.to_owned()));
        };
        let provider = provider.to_owned();
        match leaf {
            "methods" => Ok(Rule::Methods(provider)),
            "on_premises" => Ok(Rule::OnPremises(provider)),
            "scopes" => Ok(Rule::Scopes(provider)),
            "hosts" => Ok(Rule::Hosts(provider)),
            "mailboxes" => Ok(Rule::Mailboxes(provider)),
            _ => Err(unknown()),
        }
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One thing wrong with a policy, found by [`crate::Policy::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The rule at fault.
    pub rule: Rule,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.rule, self.message)
    }
}

/// Why the policy said no, or could not be used.
///
/// Messages name the rule and the provider, hosts and scopes concerned; never a secret, never a
/// URL's path or query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A connection is not allowed.
    #[error("policy rule `{rule}` denies the {provider} connection: {reason}")]
    Denied {
        /// The rule that denied it.
        rule: Rule,
        /// The connection's provider.
        provider: String,
        /// Why, in words.
        reason: String,
    },
    /// The policy contradicts itself or names something unknown.
    #[error("invalid policy: {}", join(problems))]
    Invalid {
        /// Every problem found, in a stable order.
        problems: Vec<Problem>,
    },
    /// The policy's TOML could not be read.
    #[error("cannot read the policy: {0}")]
    Parse(String),
}

impl PolicyError {
    /// The rule that denied a connection, or the first rule at fault in an invalid policy.
    pub fn rule(&self) -> Option<&Rule> {
        match self {
            PolicyError::Denied { rule, .. } => Some(rule),
            PolicyError::Invalid { problems } => problems.first().map(|p| &p.rule),
            PolicyError::Parse(_) => None,
        }
    }
}

fn join(problems: &[Problem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip_through_their_paths() {
        let rules = [
            Rule::AllowInMemory,
            Rule::Provider("graph".into()),
            Rule::Methods("graph".into()),
            Rule::OnPremises("ews".into()),
            Rule::Scopes("google".into()),
            Rule::Hosts("salesforce".into()),
            Rule::Mailboxes("graph".into()),
            Rule::HttpsOnly,
            Rule::LoopbackHttp,
            Rule::MinTls,
            Rule::PrivateEvents,
            Rule::ExcludedAddresses,
            Rule::ExcludedDomains,
            Rule::CrmOnlyFields,
            Rule::MaxDescriptionLen,
            Rule::AuditRetention,
        ];
        for rule in rules {
            assert_eq!(rule.to_string().parse::<Rule>(), Ok(rule.clone()), "{rule}");
        }
        assert!("providers.".parse::<Rule>().is_err());
        assert!("providers.graph.nope".parse::<Rule>().is_err());
        assert!("data.nope".parse::<Rule>().is_err());
    }
}
