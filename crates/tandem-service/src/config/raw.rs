//! The file as written: serde types with unknown keys refused, and their checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tandem_connector::factory::{SecretRef, duration_from_toml};
use tandem_core::config::ObjectConfig;
use tandem_engine::config::SyncConfig;
use tandem_policy::Policy;
use toml::Spanned;

use super::assign::{self, RawAssignment, RawUser};
use super::{
    ConfigError, Connection, LogConfig, LogFormat, Schedule, ServiceConfig, StoreConfig, WebConfig, engine_config,
    line_of, line_of_key, resolve,
};

/// The default SQLite file, next to the configuration.
pub(super) const DEFAULT_STORE: &str = "tandem.db";
/// The default address of the status page.
pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:8465";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    policy: Option<Spanned<PolicySource>>,
    #[serde(default)]
    store: Option<Spanned<RawStore>>,
    #[serde(default)]
    connections: BTreeMap<String, Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    #[serde(default)]
    configurations: Vec<Spanned<toml::Value>>,
    #[serde(default)]
    users: Vec<Spanned<RawUser>>,
    #[serde(default)]
    users_file: Option<Spanned<String>>,
    #[serde(default)]
    assignments: Vec<Spanned<RawAssignment>>,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    web: RawWeb,
    #[serde(default)]
    log: RawLog,
}

/// `policy = "path"` or `[policy]` with the policy's own keys.
enum PolicySource {
    Path(String),
    Inline(Box<Policy>),
}

impl<'de> Deserialize<'de> for PolicySource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PolicySource;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a path to a policy file, or a [policy] table")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PolicySource, E> {
                Ok(PolicySource::Path(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<PolicySource, A::Error> {
                Policy::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|p| PolicySource::Inline(Box::new(p)))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    sqlite: Option<String>,
    postgres: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    interval: Option<Spanned<toml::Value>>,
    jitter: Option<Spanned<f64>>,
    concurrency: Option<Spanned<usize>>,
    objects_at_once: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    #[serde(default)]
    enabled: bool,
    listen: Option<Spanned<String>>,
    admin_token: Option<Spanned<toml::Value>>,
    #[serde(default)]
    allow_remote: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    #[serde(default)]
    format: LogFormat,
    level: Option<String>,
}

/// A configuration as the engine reads it, with unknown keys refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSyncConfig {
    name: String,
    #[serde(default)]
    contacts: ObjectConfig,
    #[serde(default = "ObjectConfig::events_default")]
    events: ObjectConfig,
}

/// Keys of `raw` that did not survive deserialising into a type and serialising back: keys the
/// type does not know (the object configurations of `tandem-core` accept unknown keys).
fn unknown_keys(raw: &toml::Value, typed: &toml::Value, prefix: &str, out: &mut Vec<String>) {
    match (raw, typed) {
        (toml::Value::Table(r), toml::Value::Table(t)) => {
            for (key, value) in r {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                match t.get(key) {
                    Some(typed_value) => unknown_keys(value, typed_value, &path, out),
                    None => out.push(path),
                }
            }
        }
        (toml::Value::Array(r), toml::Value::Array(t)) if r.len() == t.len() => {
            for (i, (rv, tv)) in r.iter().zip(t).enumerate() {
                unknown_keys(rv, tv, &format!("{prefix}[{i}]"), out);
            }
        }
        _ => {}
    }
}

pub(super) fn parse(path: &Path, text: &str) -> Result<ServiceConfig, ConfigError> {
    let at = |line: Option<usize>, message: String| ConfigError::At { path: path.to_owned(), line, message };
    let file: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        at(line, e.message().trim().replace("unknown field", "unknown key"))
    })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_owned);

    // The policy: inline, or a file of its own.
    let policy = match file.policy {
        None => Policy::default(),
        Some(spanned) => {
            let line = Some(line_of(text, spanned.span().start));
            match spanned.into_inner() {
                PolicySource::Inline(policy) => {
                    policy.validate().map_err(|e| at(line, format!("[policy]: {e}")))?;
                    *policy
                }
                PolicySource::Path(p) => {
                    let file = resolve(&base, Path::new(&p));
                    let policy_text = std::fs::read_to_string(&file)
                        .map_err(|e| ConfigError::Read { path: file.clone(), kind: e.kind().to_string() })?;
                    Policy::from_toml_str(&policy_text).map_err(|e| ConfigError::At {
                        path: file.clone(),
                        line: None,
                        message: e.to_string(),
                    })?
                }
            }
        }
    };

    // Configurations, with unknown keys refused at any depth.
    let mut configurations = Vec::new();
    for spanned in file.configurations {
        let start = spanned.span().start;
        let raw = spanned.into_inner();
        let parsed: RawSyncConfig = raw.clone().try_into().map_err(|e: toml::de::Error| {
            let message = e.message().trim().replace("unknown field", "unknown key");
            let key = message.split('`').nth(1).unwrap_or_default().to_owned();
            let line = line_of_key(text, start, &key).or(Some(line_of(text, start)));
            at(line, format!("[[configurations]]: {message}"))
        })?;
        let config = SyncConfig { name: parsed.name, contacts: parsed.contacts, events: parsed.events };
        let typed = toml::Value::try_from(&config)
            .map_err(|e| at(Some(line_of(text, start)), format!("[[configurations]]: {e}")))?;
        let mut unknown = Vec::new();
        unknown_keys(&raw, &typed, "", &mut unknown);
        if let Some(key) = unknown.first() {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            let leaf = leaf.split('[').next().unwrap_or(leaf);
            let line = line_of_key(text, start, leaf).or(Some(line_of(text, start)));
            return Err(at(line, format!("unknown key `{key}` in configuration `{}`", config.name)));
        }
        configurations.push(config);
    }

    // Connections.
    let mut connections = BTreeMap::new();
    for (name, spanned) in file.connections {
        let line = Some(line_of(text, spanned.span().start));
        let mut settings = toml::Table::new();
        let mut key_lines = BTreeMap::new();
        let mut provider = None;
        let mut org_feed = None;
        for (key, value) in spanned.into_inner() {
            let key_line = line_of(text, value.span().start);
            if key == "provider" {
                match value.into_inner() {
                    toml::Value::String(p) => provider = Some(p),
                    _ => return Err(at(Some(key_line), format!("[connections.{name}]: `provider` must be a string"))),
                }
                continue;
            }
            if key == "org_feed" {
                match value.into_inner() {
                    toml::Value::String(user) if !user.trim().is_empty() => org_feed = Some((user, key_line)),
                    _ => {
                        return Err(at(
                            Some(key_line),
                            format!(
                                "[connections.{name}]: `org_feed` must name the user the organization feed reads as \
                                 (an integration user who sees every synced user's records)"
                            ),
                        ));
                    }
                }
                continue;
            }
            key_lines.insert(key.clone(), key_line);
            settings.insert(key, value.into_inner());
        }
        let provider = provider.ok_or_else(|| {
            at(
                line,
                format!(
                    "[connections.{name}]: missing key `provider` (salesforce, graph, ews, google, dav, vdir or memory)"
                ),
            )
        })?;
        connections.insert(name.clone(), Connection { name, provider, settings, line, key_lines, org_feed });
    }

    // Users.
    let users_file = match file.users_file {
        None => None,
        Some(spanned) => {
            let line = Some(line_of(text, spanned.span().start));
            let file = resolve(&base, Path::new(spanned.get_ref()));
            let list = std::fs::read_to_string(&file)
                .map_err(|e| at(line, format!("users_file `{}`: cannot read: {}", file.display(), e.kind())))?;
            Some((file, list))
        }
    };
    let users = assign::resolve(path, text, &file.users, &file.assignments, users_file.as_ref())?;
    let unassigned = users_file.as_ref().map(|(_, list)| assign::unmatched(list, &users)).unwrap_or_default();
    let names: std::collections::BTreeSet<&str> = configurations.iter().map(|c| c.name.as_str()).collect();
    for u in &users {
        if !names.contains(u.configuration.as_str()) {
            return Err(at(u.line, format!("user `{}`: unknown configuration `{}`", u.user, u.configuration)));
        }
        for (key, conn) in [("crm", &u.crm), ("mailbox", &u.mailbox)] {
            if !connections.contains_key(conn.as_str()) {
                return Err(at(
                    u.line,
                    format!("user `{}`: `{key}` names unknown connection `{conn}` (no [connections.{conn}])", u.user),
                ));
            }
        }
    }

    // The store: exactly one of `sqlite` and `postgres`.
    let store = match file.store {
        None => StoreConfig::Sqlite(resolve(&base, Path::new(DEFAULT_STORE))),
        Some(spanned) => {
            let line = Some(line_of(text, spanned.span().start));
            match spanned.into_inner() {
                RawStore { sqlite: Some(_), postgres: Some(_) } => {
                    return Err(at(line, "[store]: set one of `sqlite` and `postgres`, not both".to_owned()));
                }
                RawStore { sqlite: Some(path), postgres: None } => {
                    StoreConfig::Sqlite(resolve(&base, Path::new(&path)))
                }
                RawStore { sqlite: None, postgres: Some(url) } => {
                    let line = Some(line_of(text, url.span().start));
                    StoreConfig::Postgres(
                        SecretRef::from_toml("postgres", url.get_ref())
                            .map_err(|e| at(line, format!("[store] {e}")))?,
                    )
                }
                RawStore { sqlite: None, postgres: None } => {
                    StoreConfig::Sqlite(resolve(&base, Path::new(DEFAULT_STORE)))
                }
            }
        }
    };

    // Schedule.
    let mut schedule = Schedule {
        interval: std::time::Duration::from_secs(300),
        jitter: 0.1,
        concurrency: 8,
        objects_at_once: file.schedule.objects_at_once.unwrap_or(true),
    };
    if let Some(interval) = file.schedule.interval {
        let line = Some(line_of(text, interval.span().start));
        schedule.interval =
            duration_from_toml(interval.get_ref()).map_err(|m| at(line, format!("[schedule] interval: {m}")))?;
        if schedule.interval.is_zero() {
            return Err(at(line, "[schedule] interval: must be longer than 0".to_owned()));
        }
    }
    if let Some(jitter) = file.schedule.jitter {
        let line = Some(line_of(text, jitter.span().start));
        let j = *jitter.get_ref();
        if !(0.0..=1.0).contains(&j) {
            return Err(at(line, "[schedule] jitter: a share of the interval between 0 and 1 (0.1 = 10%)".to_owned()));
        }
        schedule.jitter = j;
    }
    if let Some(concurrency) = file.schedule.concurrency {
        let line = Some(line_of(text, concurrency.span().start));
        if *concurrency.get_ref() == 0 {
            return Err(at(line, "[schedule] concurrency: at least 1".to_owned()));
        }
        schedule.concurrency = *concurrency.get_ref();
    }

    // Web.
    let listen_text = file.web.listen.as_ref().map_or(DEFAULT_LISTEN, |l| l.get_ref().as_str());
    let listen_line = file.web.listen.as_ref().map(|l| line_of(text, l.span().start));
    let listen = listen_text.parse().map_err(|_| {
        at(listen_line, format!("[web] listen: `{listen_text}` is not an address such as 127.0.0.1:8465"))
    })?;
    let admin_token = match file.web.admin_token {
        None => None,
        Some(spanned) => {
            let line = Some(line_of(text, spanned.span().start));
            Some(SecretRef::from_toml("admin_token", spanned.get_ref()).map_err(|e| at(line, format!("[web] {e}")))?)
        }
    };
    let web = WebConfig { enabled: file.web.enabled, listen, admin_token, allow_remote: file.web.allow_remote };
    let log = LogConfig { format: file.log.format, level: file.log.level.unwrap_or_else(|| "warn".to_owned()) };

    let engine = engine_config(configurations, &users, &connections);
    engine.validate().map_err(|e| at(None, e.to_string()))?;
    Ok(ServiceConfig {
        path: path.to_owned(),
        base,
        policy: Arc::new(policy),
        store,
        connections,
        users,
        engine,
        schedule,
        web,
        log,
        unassigned,
    })
}
