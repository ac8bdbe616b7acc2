//! Discovery (RFC 6764, RFC 4791 §6, RFC 6352 §7): from the base URL to one collection per
//! object kind.
//!
//! 1. `PROPFIND` `current-user-principal` on `/.well-known/caldav` (or `carddav`), redirects
//!    followed; when that gives nothing, on the base URL itself.
//! 2. `PROPFIND` `calendar-home-set` / `addressbook-home-set` on the principal (when there is no
//!    principal, the base URL is taken as the home).
//! 3. `PROPFIND` Depth 1 on each home: collections whose `resourcetype` has `calendar` (and whose
//!    `supported-calendar-component-set`, when given, has `VEVENT`) or `addressbook`.
//! 4. The configured choice: the first by href, or the one with that display name. A configured
//!    path skips discovery. Collections are never created.

use tandem_connector::ConnectorError;
use tandem_core::model::ObjectKind;
use url::Url;

use super::client::DavHttp;
use super::config::CollectionChoice;
use super::error::DavError;
use super::xml::{DavResponse, NS_CALDAV, NS_CARDDAV, NS_DAV};

/// One calendar or address book found on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DavCollection {
    /// Its canonical href (path), ending in `/`.
    pub href: String,
    /// Its `displayname`, when set.
    pub display_name: Option<String>,
    /// Events (a calendar) or contacts (an address book).
    pub kind: ObjectKind,
    /// Whether it offers `DAV:sync-token` (so `sync-collection`).
    pub sync_token: bool,
}

/// The properties asked of a collection.
pub(crate) const COLLECTION_PROPS: [&str; 5] =
    ["d:resourcetype", "d:displayname", "c:supported-calendar-component-set", "d:sync-token", "cs:getctag"];

/// What one Depth-1 response says about a collection, if it is one of `kind`.
pub(crate) fn collection_of(http: &DavHttp, at: &Url, r: &DavResponse, kind: ObjectKind) -> Option<DavCollection> {
    let types = r.prop(NS_DAV, "resourcetype")?;
    let fits = match kind {
        ObjectKind::Event => {
            types.child(NS_CALDAV, "calendar").is_some()
                && r.prop(NS_CALDAV, "supported-calendar-component-set").is_none_or(|set| {
                    set.children.is_empty()
                        || set.children_named(NS_CALDAV, "comp").any(|c| c.attr("name") == Some("VEVENT"))
                })
        }
        ObjectKind::Contact => types.child(NS_CARDDAV, "addressbook").is_some(),
    };
    if !fits {
        return None;
    }
    let mut href = http.canonical(at, &r.href).ok()?;
    if !href.ends_with('/') {
        href.push('/');
    }
    Some(DavCollection {
        href,
        display_name: r.prop_text(NS_DAV, "displayname").map(str::to_owned),
        kind,
        sync_token: r.prop(NS_DAV, "sync-token").is_some(),
    })
}

fn home_prop(kind: ObjectKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ObjectKind::Event => ("c:calendar-home-set", NS_CALDAV, "calendar-home-set"),
        ObjectKind::Contact => ("a:addressbook-home-set", NS_CARDDAV, "addressbook-home-set"),
    }
}

/// The principal's URL, or `None` when the server names none.
async fn principal(http: &DavHttp, kind: ObjectKind) -> Result<Option<Url>, ConnectorError> {
    let well_known = match kind {
        ObjectKind::Event => "/.well-known/caldav",
        ObjectKind::Contact => "/.well-known/carddav",
    };
    let base = http.base().clone();
    let candidates = [(http.url(&base, well_known)?, true), (base.clone(), false)];
    for (at, well_known) in candidates {
        let found = match http.propfind(&at, "0", &["d:current-user-principal"]).await {
            Ok(m) => m.responses.iter().find_map(|r| {
                let cup = r.prop(NS_DAV, "current-user-principal")?;
                cup.text_of(NS_DAV, "href").map(str::to_owned)
            }),
            // Not every server has the well-known URL, answers PROPFIND on it, or keeps the
            // credentials across its redirect (reqwest drops them on a redirect to another
            // host): the base URL is asked next, and its errors count.
            Err(_) if well_known => None,
            Err(ConnectorError::NotFound | ConnectorError::Rejected { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(href) = found {
            return Ok(Some(http.url(&at, &href)?));
        }
    }
    Ok(None)
}

/// The home collections of `kind`.
async fn homes(http: &DavHttp, kind: ObjectKind) -> Result<Vec<Url>, ConnectorError> {
    let Some(principal) = principal(http, kind).await? else {
        return Ok(vec![http.base().clone()]);
    };
    let (prop, ns, name) = home_prop(kind);
    let m = http.propfind(&principal, "0", &[prop]).await?;
    let mut homes = Vec::new();
    for r in &m.responses {
        if let Some(set) = r.prop(ns, name) {
            for href in set.children_named(NS_DAV, "href") {
                homes.push(http.url(&principal, href.text.trim())?);
            }
        }
    }
    if homes.is_empty() {
        homes.push(principal);
    }
    Ok(homes)
}

/// Every collection of `kind` in the account's homes, sorted by href.
pub(crate) async fn collections(http: &DavHttp, kind: ObjectKind) -> Result<Vec<DavCollection>, ConnectorError> {
    let mut found = Vec::new();
    for home in homes(http, kind).await? {
        let m = http.propfind(&home, "1", &COLLECTION_PROPS).await?;
        found.extend(m.responses.iter().filter_map(|r| collection_of(http, &home, r, kind)));
    }
    found.sort_by(|a, b| a.href.cmp(&b.href));
    found.dedup_by(|a, b| a.href == b.href);
    Ok(found)
}

/// The collection `choice` names for `kind`.
pub(crate) async fn choose(
    http: &DavHttp,
    kind: ObjectKind,
    choice: &CollectionChoice,
) -> Result<DavCollection, ConnectorError> {
    if let CollectionChoice::Path(path) = choice {
        let mut url = http.url(http.base(), path)?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let m = http.propfind(&url, "0", &COLLECTION_PROPS).await?;
        return m.responses.iter().find_map(|r| collection_of(http, &url, r, kind)).ok_or_else(|| {
            DavError::Discovery { message: format!("`{path}` is not a {} collection", noun(kind)) }.into()
        });
    }
    let all = collections(http, kind).await?;
    let chosen = match choice {
        CollectionChoice::DisplayName(name) => all.into_iter().find(|c| c.display_name.as_deref() == Some(name)),
        _ => all.into_iter().next(),
    };
    chosen.ok_or_else(|| {
        DavError::Discovery {
            message: format!("no {} found ({choice:?}); Tandem does not create collections", noun(kind)),
        }
        .into()
    })
}

fn noun(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Event => "calendar (with VEVENT)",
        ObjectKind::Contact => "address book",
    }
}
