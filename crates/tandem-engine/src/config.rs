//! Sync configurations: named, loadable from TOML, assigned to many users — as Lightning Sync
//! assigns configurations to users and profiles.
//!
//! ```
//! use tandem_engine::config::TandemConfig;
//! let config = TandemConfig::from_toml_str(r#"
//!     [[configurations]]
//!     name = "sales"
//!     contacts = { direction = "both", conflicts = { strategy = "field_merge", fallback = "crm" } }
//!     events = { direction = "crm_to_mailbox" }
//!
//!     [[users]]
//!     user = "ada@example.com"
//!     configuration = "sales"
//!     crm = { connector = "memory" }
//!     mailbox = { connector = "memory" }
//! "#).unwrap();
//! assert_eq!(config.configuration_for("ada@example.com").unwrap().name, "sales");
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tandem_core::config::ObjectConfig;
use tandem_core::model::ObjectKind;

use crate::EngineError;

/// One named sync configuration: how contacts and events sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncConfig {
    /// The configuration's name, referenced by user assignments.
    pub name: String,
    /// Contacts.
    #[serde(default)]
    pub contacts: ObjectConfig,
    /// Events.
    #[serde(default = "ObjectConfig::events_default")]
    pub events: ObjectConfig,
}

impl SyncConfig {
    /// A configuration with the defaults for both objects.
    pub fn named(name: impl Into<String>) -> Self {
        SyncConfig { name: name.into(), contacts: ObjectConfig::default(), events: ObjectConfig::events_default() }
    }

    /// The configuration of one object.
    pub fn object(&self, object: ObjectKind) -> &ObjectConfig {
        match object {
            ObjectKind::Contact => &self.contacts,
            ObjectKind::Event => &self.events,
        }
    }
}

/// How to reach one side for one user: a connector name and its settings, interpreted by a
/// [`crate::ConnectorFactory`]. Settings must not contain secrets; name an environment variable
/// or a file holding them instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionSpec {
    /// The connector, e.g. `salesforce`, `graph`, `memory`.
    pub connector: String,
    /// Connector-specific settings.
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
}

/// One user assigned to a configuration, with both sides' connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserAssignment {
    /// The user or mailbox.
    pub user: String,
    /// The configuration's name.
    pub configuration: String,
    /// The CRM connection.
    pub crm: ConnectionSpec,
    /// The mailbox connection.
    pub mailbox: ConnectionSpec,
}

/// A whole deployment: configurations and the users assigned to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TandemConfig {
    /// Named configurations.
    #[serde(default)]
    pub configurations: Vec<SyncConfig>,
    /// User assignments.
    #[serde(default)]
    pub users: Vec<UserAssignment>,
}

impl TandemConfig {
    /// Parses and validates TOML.
    pub fn from_toml_str(text: &str) -> Result<Self, EngineError> {
        let config: TandemConfig = toml::from_str(text).map_err(|e| EngineError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that names are unique and every assignment names an existing configuration.
    pub fn validate(&self) -> Result<(), EngineError> {
        let mut names = std::collections::BTreeSet::new();
        for c in &self.configurations {
            if !names.insert(c.name.as_str()) {
                return Err(EngineError::Config(format!("configuration `{}` is defined twice", c.name)));
            }
            for (object, oc) in [("contacts", &c.contacts), ("events", &c.events)] {
                let g = oc.mass_delete_guard;
                if !(0.0..=1.0).contains(&g.max_share) {
                    return Err(EngineError::Config(format!(
                        "configuration `{}`: {object}.mass_delete_guard.max_share must be between 0 and 1",
                        c.name
                    )));
                }
            }
        }
        let mut users = std::collections::BTreeSet::new();
        for u in &self.users {
            if !names.contains(u.configuration.as_str()) {
                return Err(EngineError::Config(format!(
                    "user `{}` is assigned to unknown configuration `{}`",
                    u.user, u.configuration
                )));
            }
            if !users.insert(u.user.as_str()) {
                return Err(EngineError::Config(format!(
                    "user `{}` is assigned twice (one org, one configuration per user)",
                    u.user
                )));
            }
        }
        Ok(())
    }

    /// The configuration assigned to `user`.
    pub fn configuration_for(&self, user: &str) -> Option<&SyncConfig> {
        let assignment = self.users.iter().find(|u| u.user == user)?;
        self.configurations.iter().find(|c| c.name == assignment.configuration)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_configuration_and_duplicates() {
        let bad = r#"
            [[configurations]]
            name = "a"
            [[users]]
            user = "u"
            configuration = "b"
            crm = { connector = "memory" }
            mailbox = { connector = "memory" }
        "#;
        assert!(
            matches!(TandemConfig::from_toml_str(bad), Err(EngineError::Config(m)) if m.contains("unknown configuration"))
        );
        let dup = "[[configurations]]\nname = \"a\"\n[[configurations]]\nname = \"a\"\n";
        assert!(TandemConfig::from_toml_str(dup).is_err());
        assert!(TandemConfig::from_toml_str("configurations = 3").is_err());
    }

    #[test]
    fn the_operations_guide_sample_loads() {
        let guide = include_str!("../../../docs/operations.md");
        let start = guide.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + guide[start..].find("```").expect("its end");
        let config = TandemConfig::from_toml_str(&guide[start..end]).unwrap();
        let sales = config.configuration_for("ada@example.com").unwrap();
        assert_eq!(sales.contacts.fields.custom[0].crm, "Region__c");
        assert!(sales.contacts.crm_filter.is_some());
        assert!(sales.events.deletes.crm_to_mailbox);
    }

    #[test]
    fn defaults_follow_the_documented_choices() {
        let c = TandemConfig::from_toml_str("[[configurations]]\nname = \"a\"\n").unwrap();
        let a = &c.configurations[0];
        assert!(!a.contacts.deletes.crm_to_mailbox && !a.contacts.deletes.mailbox_to_crm);
        assert!(a.events.deletes.crm_to_mailbox && a.events.deletes.mailbox_to_crm);
    }
}
