#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::factory::ServiceFactory;

const BASE: &str = r#"
[connections.crm]
provider = "memory"

[connections.mbx]
provider = "memory"

[[configurations]]
name = "sales"
"#;

fn parse(extra: &str) -> Result<ServiceConfig, ConfigError> {
    ServiceConfig::from_str(Path::new("/etc/tandem/tandem.toml"), &format!("{BASE}{extra}"))
}

fn message(e: ConfigError) -> String {
    e.to_string()
}

#[test]
fn defaults() {
    let c = parse("[[users]]\nuser = \"a@x.example\"\nconfiguration = \"sales\"\ncrm = \"crm\"\nmailbox = \"mbx\"\n")
        .unwrap();
    assert_eq!(c.store, StoreConfig::Sqlite("/etc/tandem/tandem.db".into()));
    assert_eq!(c.schedule.interval.as_secs(), 300);
    assert!((c.schedule.jitter - 0.1).abs() < f64::EPSILON);
    assert_eq!(c.schedule.concurrency, 8);
    assert!(c.schedule.objects_at_once);
    assert!(!c.web.enabled && !c.web.allow_remote);
    assert_eq!(c.web.listen.to_string(), "127.0.0.1:8465");
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(c.engine.users.len(), 1);
    assert_eq!(c.engine.users[0].crm.connector, "memory");
}

#[test]
fn objects_can_be_synced_one_after_the_other() {
    let c = parse(
        "[schedule]\nobjects_at_once = false\n[[users]]\nuser = \"a@x.example\"\nconfiguration = \"sales\"\ncrm = \"crm\"\nmailbox = \"mbx\"\n",
    )
    .unwrap();
    assert!(!c.schedule.objects_at_once);
}

#[test]
fn unknown_keys_name_file_line_and_key() {
    let m = message(parse("\n[schedule]\ninterval = \"10m\"\nintervall = 3\n").unwrap_err());
    assert!(m.starts_with("/etc/tandem/tandem.toml:13:"), "{m}");
    assert!(m.contains("intervall"), "{m}");

    let m = message(parse("frobnicate = true\n").unwrap_err());
    assert!(m.contains("tandem.toml:10:") && m.contains("frobnicate"), "{m}");

    // Inside a configuration, where tandem-core's types accept unknown keys.
    let text =
        format!("{BASE}\n[[configurations]]\nname = \"b\"\ncontacts = {{ direction = \"both\", directoin = \"x\" }}\n");
    let m = message(ServiceConfig::from_str(Path::new("t.toml"), &text).unwrap_err());
    assert!(m.contains("t.toml:13:") && m.contains("contacts.directoin"), "{m}");

    // Inside the policy.
    let m = message(parse("\n[policy]\nallow_in_memory = true\nalow = 1\n").unwrap_err());
    assert!(m.contains(":13:") && m.contains("alow"), "{m}");
}

#[test]
fn unknown_connection_keys_and_inline_secrets_point_at_their_line() {
    let text = r#"
[connections.crm]
provider = "salesforce"
login_url = "https://login.salesforce.com"
consumer_key = "ck"
private_key = "-----BEGIN PRIVATE KEY-----"

[connections.mbx]
provider = "memory"
colour = "blue"

[[configurations]]
name = "sales"

[[users]]
user = "a@x.example"
configuration = "sales"
crm = "crm"
mailbox = "mbx"
"#;
    let config = Arc::new(ServiceConfig::from_str(Path::new("t.toml"), text).unwrap());
    let factory = ServiceFactory::new(config.clone()).unwrap();
    let m = message(factory.connector(&config.users[0], tandem_core::state::Side::Crm).err().unwrap());
    assert!(m.starts_with("t.toml:6:") && m.contains("private_key") && m.contains("inline"), "{m}");
    assert!(!m.contains("BEGIN"), "{m}");
    let m = message(factory.connector(&config.users[0], tandem_core::state::Side::Mailbox).err().unwrap());
    assert!(m.starts_with("t.toml:10:") && m.contains("colour"), "{m}");
}

#[test]
fn users_matched_twice_are_refused() {
    let m = message(
        parse(
            "[[users]]\nuser = \"a@x.example\"\nconfiguration = \"sales\"\ncrm = \"crm\"\nmailbox = \"mbx\"\n\
             [[assignments]]\nconfiguration = \"sales\"\ncrm = \"crm\"\nmailbox = \"mbx\"\nusers = [\"A@x.example\"]\n",
        )
        .unwrap_err(),
    );
    assert!(m.contains("matched twice") && m.contains("[[users]]"), "{m}");
}

#[test]
fn domains_match_the_users_file() {
    let dir = std::env::temp_dir().join(format!("tandem-service-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("users.txt"), "# staff\na@x.example\nb@x.example # sales\nc@y.example\n").unwrap();
    let text = format!(
        "{BASE}users_file = \"users.txt\"\n[[assignments]]\nconfiguration = \"sales\"\ncrm = \"crm\"\nmailbox = \"mbx\"\ndomain = \"x.example\"\n"
    );
    // `users_file` must come before the first table: put it at the top.
    let text = format!("users_file = \"users.txt\"\n{}", text.replace("users_file = \"users.txt\"\n", ""));
    let config = ServiceConfig::from_str(&dir.join("tandem.toml"), &text).unwrap();
    let users: Vec<&str> = config.users.iter().map(|u| u.user.as_str()).collect();
    assert_eq!(users, ["a@x.example", "b@x.example"]);
    assert_eq!(config.unassigned, ["c@y.example"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn references_are_checked() {
    let m = message(parse("[web]\nenabled = true\nadmin_token = \"t0ken\"\n").unwrap_err());
    assert!(m.contains("admin_token") && m.contains("inline") && !m.contains("t0ken"), "{m}");
    let c = parse("[web]\nadmin_token = { env = \"TANDEM_ADMIN_TOKEN\" }\n").unwrap();
    assert_eq!(c.web.admin_token, Some(tandem_connector::factory::SecretRef::Env("TANDEM_ADMIN_TOKEN".into())));
    let m = message(
        parse("[[users]]\nuser = \"a@x.example\"\nconfiguration = \"sales\"\ncrm = \"nope\"\nmailbox = \"mbx\"\n")
            .unwrap_err(),
    );
    assert!(m.contains("unknown connection `nope`"), "{m}");
}

#[test]
fn the_example_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tandem.toml");
    let config = ServiceConfig::load(&path).unwrap();
    assert!(!config.users.is_empty());
    ServiceFactory::new(Arc::new(config)).unwrap();
}

#[test]
fn the_status_page_stays_on_loopback_unless_allowed() {
    let c = parse("[web]\nenabled = true\nlisten = \"0.0.0.0:8465\"\n").unwrap();
    assert!(!c.web.allow_remote);
    let c = parse("[web]\nenabled = true\nlisten = \"0.0.0.0:8465\"\nallow_remote = true\n").unwrap();
    assert!(c.web.allow_remote);
    let m = message(parse("[web]\nallow_remote = \"yes\"\n").unwrap_err());
    assert!(m.contains(":12:") || m.contains("allow_remote") || m.contains("bool"), "{m}");
}

#[test]
fn the_store_is_sqlite_or_postgres_by_reference() {
    let user = "[[users]]\nuser = \"a@x.example\"\nconfiguration = \"sales\"\ncrm = \"crm\"\nmailbox = \"mbx\"\n";
    let c = parse(&format!("{user}[store]\npostgres = {{ env = \"TANDEM_DATABASE_URL\" }}\n")).unwrap();
    assert_eq!(c.store, StoreConfig::Postgres(SecretRef::Env("TANDEM_DATABASE_URL".into())));
    assert_eq!(c.store.to_string(), "PostgreSQL (URL from environment variable `TANDEM_DATABASE_URL`)");
    let c = parse(&format!("{user}[store]\nsqlite = \"state/t.db\"\n")).unwrap();
    assert_eq!(c.store, StoreConfig::Sqlite("/etc/tandem/state/t.db".into()));

    // Inline, the URL (and its password) is refused without being quoted.
    let e = message(parse(&format!("{user}[store]\npostgres = \"postgres://u:hunter2@db/x\"\n")).unwrap_err());
    assert!(e.contains("postgres") && !e.contains("hunter2"), "{e}");
    assert!(e.starts_with("/etc/tandem/tandem.toml:"), "{e}");
    let e = message(
        parse(&format!("{user}[store]\nsqlite = \"t.db\"\npostgres = {{ env = \"TANDEM_DATABASE_URL\" }}\n"))
            .unwrap_err(),
    );
    assert!(e.contains("not both"), "{e}");
    // Unknown keys: refused with the line.
    let e = message(parse(&format!("{user}[store]\nmysql = \"x\"\n")).unwrap_err());
    let line = BASE.lines().count() + user.lines().count() + 2;
    assert!(e.contains(&format!("tandem.toml:{line}:")) && e.contains("unknown key"), "{e}");
}
