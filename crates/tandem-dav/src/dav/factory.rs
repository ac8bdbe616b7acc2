//! Building a [`DavConnector`] from a connection's TOML settings (`[connections.NAME]` with
//! `provider = "dav"`): see [`DavBuilder`]. Uses only the public builder API of [`DavConfig`].

use std::sync::Arc;

use tandem_connector::Connector;
use tandem_connector::factory::{BuildError, ConnectorBuilder, SecretResolver, Settings};
use tandem_connector::http::HttpClient;

use super::{CollectionChoice, DavConfig, DavConnector, SyncMethod};

/// Builds CalDAV/CardDAV connectors (`provider = "dav"`). One HTTP client is shared by every
/// connector it builds.
///
/// Settings (secrets by reference only, `{ env = "VAR" }` or `{ file = "/path" }`; unknown keys
/// refused):
///
/// - `base_url` (required): where discovery starts.
/// - credentials, exactly one of: `password` or `app_password` (secret, HTTP Basic with
///   `username`, default the synced user), or `token` (secret, a bearer token).
/// - `principal`: who is synced (default the user name, else the synced user).
/// - `calendar` (a path) or `calendar_name` (a display name); `address_book` or
///   `address_book_name`. Default: the first found. Collections are never created.
/// - `multiget_batch`, `page_size`, `max_batch`, `write_concurrency`, `sync_limit`,
///   `sync_method` (`auto`, `sync_collection`, `etag_listing`), `extra_origins` (a list).
#[derive(Clone)]
pub struct DavBuilder {
    http: HttpClient,
}

impl std::fmt::Debug for DavBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DavBuilder").finish_non_exhaustive()
    }
}

fn invalid(key: &str, message: impl Into<String>) -> BuildError {
    BuildError::Invalid { key: key.to_owned(), message: message.into() }
}

fn choice(s: &mut Settings<'_>, path_key: &str, name_key: &str) -> Result<CollectionChoice, BuildError> {
    let path: Option<String> = s.opt(path_key)?;
    let name: Option<String> = s.opt(name_key)?;
    match (path, name) {
        (Some(_), Some(_)) => Err(invalid(name_key, format!("set `{path_key}` or `{name_key}`, not both"))),
        (Some(p), None) => Ok(CollectionChoice::Path(p)),
        (None, Some(n)) => Ok(CollectionChoice::DisplayName(n)),
        (None, None) => Ok(CollectionChoice::First),
    }
}

impl DavBuilder {
    /// A builder whose connectors share `http`.
    pub fn new(http: HttpClient) -> Self {
        DavBuilder { http }
    }

    /// The configuration `settings` describe for `user`, without connecting.
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the key at fault.
    pub fn config(
        &self,
        user: &str,
        settings: &toml::Table,
        secrets: &dyn SecretResolver,
    ) -> Result<DavConfig, BuildError> {
        let mut s = Settings::new(settings);
        let base_url: String = s.required("base_url")?;
        let mut config = DavConfig::new(base_url);
        let username: String = s.opt("username")?.unwrap_or_else(|| user.to_owned());
        let password = s.opt_secret("password", secrets)?;
        let app_password = s.opt_secret("app_password", secrets)?;
        let token = s.opt_secret("token", secrets)?;
        config = match (password, app_password, token) {
            (Some(p), None, None) => config.with_basic(username, p),
            (None, Some(p), None) => config.with_app_password(username, p),
            (None, None, Some(t)) => config.with_bearer(t),
            (None, None, None) => return Err(BuildError::Missing { key: "password".to_owned() }),
            _ => return Err(invalid("token", "set exactly one of `password`, `app_password` and `token`")),
        };
        let principal: Option<String> = s.opt("principal")?;
        config.principal = principal.or_else(|| config.principal().map(str::to_owned)).or(Some(user.to_owned()));
        config.calendar = choice(&mut s, "calendar", "calendar_name")?;
        config.address_book = choice(&mut s, "address_book", "address_book_name")?;
        if let Some(n) = s.opt("multiget_batch")? {
            config.multiget_batch = n;
        }
        if let Some(n) = s.opt("page_size")? {
            config.page_size = n;
        }
        if let Some(n) = s.opt("max_batch")? {
            config.max_batch = n;
        }
        if let Some(n) = s.opt("write_concurrency")? {
            config.write_concurrency = n;
        }
        config.sync_limit = s.opt("sync_limit")?;
        if let Some(method) = s.opt::<String>("sync_method")? {
            config.sync_method = match method.as_str() {
                "auto" => SyncMethod::Auto,
                "sync_collection" => SyncMethod::SyncCollection,
                "etag_listing" => SyncMethod::EtagListing,
                other => {
                    return Err(invalid(
                        "sync_method",
                        format!("`{other}`: use `auto`, `sync_collection` or `etag_listing`"),
                    ));
                }
            };
        }
        config.extra_origins = s.opt("extra_origins")?.unwrap_or_default();
        s.finish()?;
        config.validate()?;
        Ok(config)
    }
}

impl ConnectorBuilder for DavBuilder {
    fn provider(&self) -> &'static str {
        "dav"
    }

    fn build(
        &self,
        user: &str,
        settings: &toml::Table,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn Connector>, BuildError> {
        let config = self.config(user, settings, secrets)?;
        Ok(Arc::new(DavConnector::new(config, self.http.clone())?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tandem_connector::factory::EnvOrFileSecrets;

    #[test]
    fn secrets_by_reference_unknown_keys_named() {
        let b = DavBuilder::new(HttpClient::with_defaults().unwrap());
        let none = EnvOrFileSecrets::default();
        let inline: toml::Table = toml::from_str("base_url = \"https://d.example\"\npassword = \"x\"").unwrap();
        let e = b.config("ann", &inline, &none).unwrap_err();
        assert!(matches!(&e, BuildError::InlineSecret { key } if key == "password"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "app-sekrit").unwrap();
        let secrets = EnvOrFileSecrets::relative_to(dir.path());
        let unknown: toml::Table =
            toml::from_str("base_url = \"https://d.example\"\napp_password = { file = \"pw\" }\ncal = \"/x/\"")
                .unwrap();
        assert_eq!(b.config("ann", &unknown, &secrets).unwrap_err().key(), Some("cal"));
        let ok: toml::Table = toml::from_str(
            "base_url = \"https://d.example\"\napp_password = { file = \"pw\" }\ncalendar_name = \"Work\"\n\
             sync_method = \"etag_listing\"",
        )
        .unwrap();
        let c = b.config("ann@example.com", &ok, &secrets).unwrap();
        assert_eq!(c.calendar, CollectionChoice::DisplayName("Work".into()));
        assert_eq!((c.principal(), c.sync_method), (Some("ann@example.com"), SyncMethod::EtagListing));
        assert!(!format!("{c:?}").contains("sekrit"));
        let conn = b.build("ann@example.com", &ok, &secrets).unwrap();
        assert_eq!(conn.connection().method, "basic");
        let plain: toml::Table =
            toml::from_str("base_url = \"http://d.example\"\napp_password = { file = \"pw\" }").unwrap();
        assert!(b.config("ann", &plain, &secrets).is_err());
    }
}
