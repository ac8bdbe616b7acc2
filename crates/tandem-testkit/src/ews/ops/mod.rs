//! The EWS operations: parse the envelope, check the headers, run the operation, write the
//! response envelope.
//!
//! Code map:
//! - `mod.rs`: the supported versions, `dispatch` and the envelope and header checks that pick
//!   the operation.
//! - `response.rs`: faults and response messages.
//! - `item_schema.rs`: the order of an item's properties and the server-set ones.
//! - `folders.rs`: folder references and XML; `GetFolder`, `FindFolder`, `CreateFolder`.
//! - `render.rs`: item shapes, synthesized occurrences, item XML and the test view.
//! - `store.rs`: storing, seeding and touching items; resolving item ids.
//! - `items.rs`: `GetItem`, `CreateItem`, `DeleteItem`.
//! - `update.rs`: `UpdateItem`.
//! - `sync.rs`: `SyncFolderItems`.
//! - `find_item.rs`: `FindItem`.
//! - `convert_id.rs`: `ConvertId`.

mod convert_id;
mod find_item;
mod folders;
mod item_schema;
mod items;
mod render;
mod response;
mod store;
mod sync;
mod update;

use axum::http::StatusCode;

use self::convert_id::convert_id;
use self::find_item::find_item;
use self::folders::{create_folder, find_folder, get_folder};
use self::items::{create_item, delete_item, get_item};
use self::response::{Fault, envelope, schema};
use self::sync::sync_folder_items;
use self::update::update_item;
use super::xml::{self, NS_M, NS_SOAP};
use super::{Data, Mailbox};

pub(crate) use self::folders::resolve_folder_name;
pub(crate) use self::render::view;
pub(crate) use self::response::fault;
pub(crate) use self::store::{edit_occurrence, seed, touch};

const VERSIONS: &[&str] = &[
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
    "V2017_01_07",
    "V2017_04_14",
    "V2017_07_11",
];

/// Runs one request body as `principal`.
pub(crate) fn dispatch(d: &mut Data, principal: &str, body: &[u8]) -> (StatusCode, String) {
    match run(d, principal, body) {
        Ok(xml) => (StatusCode::OK, xml),
        Err(f) => {
            *d.counts.entry("<fault>".to_owned()).or_default() += 1;
            (StatusCode::INTERNAL_SERVER_ERROR, fault(f.code, &f.message, f.backoff))
        }
    }
}

fn run(d: &mut Data, principal: &str, body: &[u8]) -> Result<String, Fault> {
    if body.len() > super::MAX_BODY {
        return Err(schema("The request is too large."));
    }
    let text = std::str::from_utf8(body).map_err(|_| schema("The request is not valid UTF-8."))?;
    let doc = xml::parse(text).map_err(|e| schema(format!("{} Position {}.", e.message, e.position)))?;
    if doc.ns != NS_SOAP || doc.name != "Envelope" {
        return Err(schema("The root element must be a SOAP 1.1 Envelope."));
    }
    let header = doc.children.iter().find(|c| c.ns == NS_SOAP && c.name == "Header");
    let body =
        doc.children.iter().find(|c| c.ns == NS_SOAP && c.name == "Body").ok_or_else(|| schema("Body is missing."))?;
    let op_el = body.children.first().ok_or_else(|| schema("The Body is empty."))?;
    if op_el.ns != NS_M {
        return Err(schema(format!("The element '{}' is not expected.", op_el.name)));
    }
    let mut target = None;
    if let Some(h) = header {
        for el in &h.children {
            match el.name.as_str() {
                "RequestServerVersion" => {
                    let v = el.attr("Version").unwrap_or_default();
                    if !VERSIONS.contains(&v) {
                        return Err(schema(format!(
                            "The 'Version' attribute is invalid - The value '{v}' is invalid according to its datatype."
                        )));
                    }
                    d.versions.push(v.to_owned());
                }
                "ExchangeImpersonation" => {
                    let sid = el.child("ConnectingSID").ok_or_else(|| schema("ConnectingSID is missing."))?;
                    let smtp = sid
                        .child_text("PrimarySmtpAddress")
                        .or_else(|| sid.child_text("SmtpAddress"))
                        .or_else(|| sid.child_text("PrincipalName"))
                        .ok_or_else(|| {
                            schema("ConnectingSID needs PrimarySmtpAddress, SmtpAddress or PrincipalName.")
                        })?;
                    target = Some(smtp.to_lowercase());
                }
                _ => {}
            }
        }
    }
    // Whom the call acts on.
    let mailbox = match target {
        Some(t) => {
            if !d.mailboxes.contains_key(&t) {
                return Err(Fault {
                    code: "ErrorNonExistentMailbox",
                    message: format!("The SMTP address has no mailbox associated with it. {t}"),
                    backoff: None,
                });
            }
            let allowed = t == principal || d.accounts.get(principal).is_some_and(|a| a.grants.contains(&t));
            if !allowed {
                return Err(Fault {
                    code: "ErrorImpersonateUserDenied",
                    message: "The account does not have permission to impersonate the requested user.".to_owned(),
                    backoff: None,
                });
            }
            t
        }
        None if d.mailboxes.contains_key(principal) => principal.to_owned(),
        None => {
            return Err(Fault {
                code: "ErrorNonExistentMailbox",
                message: format!("The SMTP address has no mailbox associated with it. {principal}"),
                backoff: None,
            });
        }
    };
    if let Some((n, ms)) = d.busy {
        d.busy = (n > 1).then_some((n - 1, ms));
        return Err(Fault {
            code: "ErrorServerBusy",
            message: "The server cannot service this request right now. Try again later.".to_owned(),
            backoff: Some(ms),
        });
    }
    let op = op_el.name.as_str();
    let messages = match op {
        "GetFolder" => get_folder(d, &mailbox, op_el)?,
        "FindFolder" => find_folder(d, &mailbox, op_el)?,
        "CreateFolder" => create_folder(d, &mailbox, op_el)?,
        "SyncFolderItems" => sync_folder_items(d, &mailbox, op_el)?,
        "GetItem" => get_item(d, &mailbox, op_el)?,
        "CreateItem" => create_item(d, &mailbox, op_el)?,
        "UpdateItem" => update_item(d, &mailbox, op_el)?,
        "DeleteItem" => delete_item(d, &mailbox, op_el)?,
        "FindItem" => find_item(d, &mailbox, op_el)?,
        "ConvertId" => convert_id(d, op_el)?,
        other => return Err(schema(format!("The element '{other}' in namespace '{NS_M}' is not expected."))),
    };
    *d.counts.entry(op.to_owned()).or_default() += 1;
    Ok(envelope(op, &messages))
}

fn mailbox<'a>(d: &'a Data, smtp: &str) -> Result<&'a Mailbox, Fault> {
    d.mailboxes.get(smtp).ok_or(Fault {
        code: "ErrorNonExistentMailbox",
        message: "No mailbox.".to_owned(),
        backoff: None,
    })
}
