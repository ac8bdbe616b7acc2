//! The EWS operations: parse the envelope, check the headers, run the operation, write the
//! response envelope.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use axum::http::StatusCode;
use chrono::Utc;

use super::ids::{self, Format, Kind, RawId};
use super::recur;
use super::xml::{self, Element, NS_E, NS_M, NS_SOAP, NS_T};
use super::{Data, Folder, Item, ItemKind, ItemView, Mailbox, SyncState};

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

/// ItemType's elements in schema order, then ContactItemType's and CalendarItemType's.
const ITEM_ORDER: &[&str] = &[
    "MimeContent",
    "ItemId",
    "ParentFolderId",
    "ItemClass",
    "Subject",
    "Sensitivity",
    "Body",
    "Attachments",
    "DateTimeReceived",
    "Size",
    "Categories",
    "Importance",
    "InReplyTo",
    "IsSubmitted",
    "IsDraft",
    "IsFromMe",
    "IsResend",
    "IsUnmodified",
    "InternetMessageHeaders",
    "DateTimeSent",
    "DateTimeCreated",
    "ResponseObjects",
    "ReminderDueBy",
    "ReminderIsSet",
    "ReminderNextTime",
    "ReminderMinutesBeforeStart",
    "DisplayCc",
    "DisplayTo",
    "DisplayBcc",
    "HasAttachments",
    "ExtendedProperty",
    "Culture",
    "EffectiveRights",
    "LastModifiedName",
    "LastModifiedTime",
];
const CONTACT_ORDER: &[&str] = &[
    "FileAs",
    "FileAsMapping",
    "DisplayName",
    "GivenName",
    "Initials",
    "MiddleName",
    "Nickname",
    "CompleteName",
    "CompanyName",
    "EmailAddresses",
    "AbchEmailAddresses",
    "PhysicalAddresses",
    "PhoneNumbers",
    "AssistantName",
    "Birthday",
    "BusinessHomePage",
    "Children",
    "Companies",
    "ContactSource",
    "Department",
    "Generation",
    "ImAddresses",
    "JobTitle",
    "Manager",
    "Mileage",
    "OfficeLocation",
    "PostalAddressIndex",
    "Profession",
    "SpouseName",
    "Surname",
    "WeddingAnniversary",
    "HasPicture",
    "PhoneticFullName",
    "PhoneticFirstName",
    "PhoneticLastName",
    "Alias",
    "Notes",
];
const CALENDAR_ORDER: &[&str] = &[
    "UID",
    "RecurrenceId",
    "DateTimeStamp",
    "Start",
    "End",
    "OriginalStart",
    "IsAllDayEvent",
    "LegacyFreeBusyStatus",
    "Location",
    "When",
    "IsMeeting",
    "IsCancelled",
    "IsRecurring",
    "MeetingRequestWasSent",
    "IsResponseRequested",
    "CalendarItemType",
    "MyResponseType",
    "Organizer",
    "RequiredAttendees",
    "OptionalAttendees",
    "Resources",
    "InboxReminders",
    "ConflictingMeetingCount",
    "AdjacentMeetingCount",
    "ConflictingMeetings",
    "AdjacentMeetings",
    "Duration",
    "TimeZone",
    "AppointmentReplyTime",
    "AppointmentSequenceNumber",
    "AppointmentState",
    "Recurrence",
    "FirstOccurrence",
    "LastOccurrence",
    "ModifiedOccurrences",
    "DeletedOccurrences",
    "MeetingTimeZone",
    "StartTimeZone",
    "EndTimeZone",
    "ConferenceType",
    "AllowNewTimeProposal",
    "IsOnlineMeeting",
    "MeetingWorkspaceUrl",
    "NetShowUrl",
    "EnhancedLocation",
    "StartWallClock",
    "EndWallClock",
    "StartTimeZoneId",
    "EndTimeZoneId",
];
/// Properties only the server sets.
const SERVER_SET: &[&str] = &[
    "ItemId",
    "ParentFolderId",
    "ItemClass",
    "DateTimeCreated",
    "LastModifiedTime",
    "CalendarItemType",
    "IsRecurring",
    "OriginalStart",
    "FirstOccurrence",
    "LastOccurrence",
    "ModifiedOccurrences",
    "DeletedOccurrences",
];

fn position(kind: ItemKind, name: &str) -> Option<usize> {
    if let Some(i) = ITEM_ORDER.iter().position(|n| *n == name) {
        return Some(i);
    }
    let sub = match kind {
        ItemKind::Contact => CONTACT_ORDER,
        ItemKind::CalendarItem => CALENDAR_ORDER,
    };
    sub.iter().position(|n| *n == name).map(|i| ITEM_ORDER.len() + i)
}

/// An error answered as a SOAP fault.
pub(crate) struct Fault {
    code: &'static str,
    message: String,
    backoff: Option<u64>,
}

fn schema(message: impl Into<String>) -> Fault {
    Fault {
        code: "ErrorSchemaValidation",
        message: format!("The request failed schema validation: {}", message.into()),
        backoff: None,
    }
}

/// A SOAP fault envelope as Exchange sends it.
pub(crate) fn fault(code: &str, message: &str, backoff: Option<u64>) -> String {
    let mut detail = format!(
        "<e:ResponseCode xmlns:e=\"{NS_E}\">{code}</e:ResponseCode><e:Message xmlns:e=\"{NS_E}\">{}</e:Message>",
        xml::escape(message)
    );
    if let Some(ms) = backoff {
        let _ = write!(
            detail,
            "<t:MessageXml xmlns:t=\"{NS_T}\"><t:Value Name=\"BackOffMilliseconds\">{ms}</t:Value></t:MessageXml>"
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{NS_SOAP}\"><s:Body><s:Fault>\
         <faultcode xmlns:a=\"{NS_T}\">a:{code}</faultcode><faultstring xml:lang=\"en-US\">{}</faultstring>\
         <detail>{detail}</detail></s:Fault></s:Body></s:Envelope>",
        xml::escape(message)
    )
}

/// An error answered in a response message.
struct MsgError {
    code: &'static str,
    text: String,
}

fn err(code: &'static str, text: impl Into<String>) -> MsgError {
    MsgError { code, text: text.into() }
}

fn error_message(op: &str, e: &MsgError, extra: &str) -> String {
    format!(
        "<m:{op}ResponseMessage ResponseClass=\"Error\"><m:MessageText>{}</m:MessageText><m:ResponseCode>{}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{extra}</m:{op}ResponseMessage>",
        xml::escape(&e.text),
        e.code
    )
}

fn ok_message(op: &str, body: &str) -> String {
    format!(
        "<m:{op}ResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>{body}</m:{op}ResponseMessage>"
    )
}

fn envelope(op: &str, messages: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{NS_SOAP}\"><s:Header>\
         <h:ServerVersionInfo MajorVersion=\"15\" MinorVersion=\"1\" MajorBuildNumber=\"2507\" MinorBuildNumber=\"6\" Version=\"V2017_07_11\" xmlns:h=\"{NS_T}\"/>\
         </s:Header><s:Body><m:{op}Response xmlns:m=\"{NS_M}\" xmlns:t=\"{NS_T}\"><m:ResponseMessages>{messages}</m:ResponseMessages></m:{op}Response></s:Body></s:Envelope>"
    )
}

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

// --- folders ---------------------------------------------------------------------------------

pub(crate) fn resolve_folder_name(m: &Mailbox, name: &str) -> Option<u64> {
    m.distinguished(name).or_else(|| {
        ids::decode(name, Format::EwsId)
            .filter(|r| r.kind == Kind::Folder && r.mailbox == m.smtp && m.folders.contains_key(&r.num))
            .map(|r| r.num)
    })
}

/// A `FolderId`/`DistinguishedFolderId` element → folder number.
fn folder_ref(m: &Mailbox, el: &Element) -> Result<u64, MsgError> {
    match el.name.as_str() {
        "DistinguishedFolderId" => {
            let id = el.attr("Id").unwrap_or_default();
            if let Some(mb) = el.path(&["Mailbox", "EmailAddress"]).map(|e| e.text.trim().to_lowercase())
                && mb != m.smtp
            {
                return Err(err("ErrorAccessDenied", "Access is denied. Check credentials and try again."));
            }
            m.distinguished(id)
                .ok_or_else(|| err("ErrorFolderNotFound", "The specified folder could not be found in the store."))
        }
        "FolderId" => {
            let raw = ids::decode(el.attr("Id").unwrap_or_default(), Format::EwsId)
                .filter(|r| r.kind == Kind::Folder)
                .ok_or_else(|| err("ErrorInvalidIdMalformed", "Id is malformed."))?;
            if raw.mailbox != m.smtp || !m.folders.contains_key(&raw.num) {
                return Err(err("ErrorFolderNotFound", "The specified folder could not be found in the store."));
            }
            Ok(raw.num)
        }
        _ => Err(err("ErrorInvalidRequest", "The request is invalid.")),
    }
}

fn folder_xml(m: &Mailbox, f: &Folder, full: bool) -> String {
    let id = m.raw(Kind::Folder, f.num);
    let mut out = format!(
        "<t:{el}><t:FolderId Id=\"{}\" ChangeKey=\"{}\"/>",
        ids::encode(&id, Format::EwsId),
        ids::change_key(&id, f.version),
        el = f.element
    );
    if full {
        if let Some(p) = f.parent {
            let pid = m.raw(Kind::Folder, p);
            let pv = m.folders.get(&p).map(|f| f.version).unwrap_or(1);
            let _ = write!(
                out,
                "<t:ParentFolderId Id=\"{}\" ChangeKey=\"{}\"/>",
                ids::encode(&pid, Format::EwsId),
                ids::change_key(&pid, pv)
            );
        }
        if !f.class.is_empty() {
            let _ = write!(out, "<t:FolderClass>{}</t:FolderClass>", xml::escape(&f.class));
        }
        let total = m.items.values().filter(|i| i.folder == f.num).count();
        let children = m.folders.values().filter(|c| c.parent == Some(f.num)).count();
        let _ = write!(
            out,
            "<t:DisplayName>{}</t:DisplayName><t:TotalCount>{total}</t:TotalCount><t:ChildFolderCount>{children}</t:ChildFolderCount>",
            xml::escape(&f.name)
        );
        if f.element == "Folder" {
            out.push_str("<t:UnreadCount>0</t:UnreadCount>");
        }
    }
    let _ = write!(out, "</t:{}>", f.element);
    out
}

fn base_shape(shape: Option<&Element>) -> Result<&str, Fault> {
    let base = shape.and_then(|s| s.child_text("BaseShape")).ok_or_else(|| schema("BaseShape is missing."))?;
    match base {
        "IdOnly" | "Default" | "AllProperties" => Ok(base),
        other => Err(schema(format!("The value '{other}' is invalid for BaseShape."))),
    }
}

fn mailbox<'a>(d: &'a Data, smtp: &str) -> Result<&'a Mailbox, Fault> {
    d.mailboxes.get(smtp).ok_or(Fault {
        code: "ErrorNonExistentMailbox",
        message: "No mailbox.".to_owned(),
        backoff: None,
    })
}

fn get_folder(d: &Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let full =
        base_shape(op.child("FolderShape"))? != "IdOnly" || op.path(&["FolderShape", "AdditionalProperties"]).is_some();
    let m = mailbox(d, smtp)?;
    let ids = op.child("FolderIds").ok_or_else(|| schema("FolderIds is missing."))?;
    let mut out = String::new();
    for el in &ids.children {
        match folder_ref(m, el) {
            Ok(num) => {
                let f = m.folders.get(&num).map(|f| folder_xml(m, f, full)).unwrap_or_default();
                out.push_str(&ok_message("GetFolder", &format!("<m:Folders>{f}</m:Folders>")));
            }
            Err(e) => out.push_str(&error_message("GetFolder", &e, "")),
        }
    }
    Ok(out)
}

fn find_folder(d: &Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let full =
        base_shape(op.child("FolderShape"))? != "IdOnly" || op.path(&["FolderShape", "AdditionalProperties"]).is_some();
    let deep = match op.attr("Traversal") {
        Some("Shallow") => false,
        Some("Deep") => true,
        Some("SoftDeleted") => false,
        _ => return Err(schema("The 'Traversal' attribute is invalid.")),
    };
    let m = mailbox(d, smtp)?;
    let parents = op.child("ParentFolderIds").ok_or_else(|| schema("ParentFolderIds is missing."))?;
    let mut out = String::new();
    for el in &parents.children {
        match folder_ref(m, el) {
            Ok(num) => {
                let mut found = Vec::new();
                let mut queue = vec![num];
                while let Some(p) = queue.pop() {
                    for f in m.folders.values().filter(|f| f.parent == Some(p)) {
                        found.push(f);
                        if deep {
                            queue.push(f.num);
                        }
                    }
                }
                let folders: String = found.iter().map(|f| folder_xml(m, f, full)).collect();
                out.push_str(&ok_message(
                    "FindFolder",
                    &format!(
                        "<m:RootFolder TotalItemsInView=\"{n}\" IncludesLastItemInRange=\"true\"><t:Folders>{folders}</t:Folders></m:RootFolder>",
                        n = found.len()
                    ),
                ));
            }
            Err(e) => out.push_str(&error_message("FindFolder", &e, "")),
        }
    }
    Ok(out)
}

fn create_folder(d: &mut Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let parent_el = op
        .child("ParentFolderId")
        .and_then(|p| p.children.first())
        .ok_or_else(|| schema("ParentFolderId is missing."))?;
    let folders = op.child("Folders").ok_or_else(|| schema("Folders is missing."))?;
    let mut out = String::new();
    for f in &folders.children {
        let m = d.mailboxes.get_mut(smtp).ok_or_else(|| schema("no mailbox"))?;
        let parent = match folder_ref(m, parent_el) {
            Ok(p) => p,
            Err(e) => {
                out.push_str(&error_message("CreateFolder", &e, ""));
                continue;
            }
        };
        let element: &'static str = match f.name.as_str() {
            "ContactsFolder" => "ContactsFolder",
            "CalendarFolder" => "CalendarFolder",
            "Folder" => "Folder",
            other => return Err(schema(format!("The element '{other}' is not expected."))),
        };
        let name = f.child_text("DisplayName").unwrap_or_default().to_owned();
        if m.folders.values().any(|x| x.parent == Some(parent) && x.name.eq_ignore_ascii_case(&name)) {
            out.push_str(&error_message(
                "CreateFolder",
                &err("ErrorFolderExists", "A folder with the specified name already exists."),
                "",
            ));
            continue;
        }
        let class = f.child_text("FolderClass").map(str::to_owned).unwrap_or_else(|| {
            match element {
                "ContactsFolder" => "IPF.Contact",
                "CalendarFolder" => "IPF.Appointment",
                _ => "IPF.Note",
            }
            .to_owned()
        });
        let num = m.next;
        m.next += 1;
        let folder = Folder { num, parent: Some(parent), distinguished: None, name, class, element, version: 1 };
        let xml = folder_xml(m, &folder, false);
        m.folders.insert(num, folder);
        if let Some(p) = m.folders.get_mut(&parent) {
            p.version += 1;
        }
        out.push_str(&ok_message("CreateFolder", &format!("<m:Folders>{xml}</m:Folders>")));
    }
    Ok(out)
}

// --- items -----------------------------------------------------------------------------------

/// Makes occurrence `index` of master `num` an exception with `field` set or removed.
pub(crate) fn edit_occurrence(
    d: &mut Data,
    smtp: &str,
    num: u64,
    index: u32,
    field: &str,
    value: Option<&str>,
    seq: u64,
) -> Result<(), String> {
    let m = d.mailboxes.get(smtp).ok_or("no such mailbox")?;
    let master = m.items.get(&num).ok_or("no such item")?;
    if master.deleted.contains(&index) {
        return Err("occurrence deleted".to_owned());
    }
    let (mut occ, _) = synthesize(m, master, index).ok_or("no such occurrence")?;
    occ.props.retain(|p| p.name != field);
    if let Some(v) = value {
        occ.props.push(Element::t(field).with_text(v));
    }
    let m = d.mailboxes.get_mut(smtp).ok_or("no such mailbox")?;
    let master = m.items.get_mut(&num).ok_or("no such item")?;
    master.exceptions.insert(index, occ.props);
    touch(master, seq);
    Ok(())
}

pub(crate) fn touch(item: &mut Item, seq: u64) {
    item.version += 1;
    item.seq = seq;
    item.modified = Utc::now();
}

/// What properties a shape asks for.
struct Shape {
    all: bool,
    names: Vec<String>,
    extended: Vec<Element>,
}

fn shape(el: Option<&Element>) -> Result<Shape, Fault> {
    let base = base_shape(el)?;
    let mut s = Shape { all: base != "IdOnly", names: Vec::new(), extended: Vec::new() };
    if let Some(add) = el.and_then(|e| e.child("AdditionalProperties")) {
        for p in &add.children {
            match p.name.as_str() {
                "FieldURI" | "IndexedFieldURI" => {
                    let uri = p.attr("FieldURI").ok_or_else(|| schema("FieldURI is missing."))?;
                    let (_, local) =
                        uri.split_once(':').ok_or_else(|| schema(format!("The FieldURI '{uri}' is invalid.")))?;
                    let local = local.split(':').next().unwrap_or(local);
                    let name = match local {
                        "EmailAddress" => "EmailAddresses",
                        "PhoneNumber" => "PhoneNumbers",
                        "PhysicalAddress" => "PhysicalAddresses",
                        "ImAddress" => "ImAddresses",
                        other => other,
                    };
                    s.names.push(name.to_owned());
                }
                "ExtendedFieldURI" => s.extended.push(p.clone()),
                other => return Err(schema(format!("The element '{other}' is not expected."))),
            }
        }
    }
    Ok(s)
}

fn same_extended(a: &Element, b: &Element) -> bool {
    let keys = ["DistinguishedPropertySetId", "PropertySetId", "PropertyTag", "PropertyName", "PropertyId"];
    keys.iter().all(|k| a.attr(k).map(str::to_lowercase) == b.attr(k).map(str::to_lowercase))
}

fn item_id_xml(m: &Mailbox, item: &Item) -> String {
    let raw = m.raw(Kind::Item, item.num);
    format!(
        "<t:ItemId Id=\"{}\" ChangeKey=\"{}\"/>",
        ids::encode(&raw, Format::EwsId),
        ids::change_key(&raw, item.version)
    )
}

/// An occurrence or exception being rendered in place of its master.
struct Occ {
    raw: RawId,
    exception: bool,
    original_start: String,
}

fn occurrence_raw(m: &Mailbox, master: u64, index: u32) -> RawId {
    m.raw(Kind::Occurrence, (master << 20) | u64::from(index))
}

/// The occurrence `index` of `master` as an item of its own (its exception when modified).
fn synthesize(m: &Mailbox, master: &Item, index: u32) -> Option<(Item, Occ)> {
    let (start, end) = recur::occurrence(&master.props, index)?;
    let exception = master.exceptions.get(&index);
    let props = match exception {
        Some(p) => p.clone(),
        None => master
            .props
            .iter()
            .filter(|p| p.name != "Recurrence")
            .map(|p| match p.name.as_str() {
                "Start" => Element::t("Start").with_text(recur::format_time(start)),
                "End" => Element::t("End").with_text(recur::format_time(end)),
                _ => p.clone(),
            })
            .collect(),
    };
    let mut item = master.clone();
    item.props = props;
    item.exceptions.clear();
    item.deleted.clear();
    let occ = Occ {
        raw: occurrence_raw(m, master.num, index),
        exception: exception.is_some(),
        original_start: recur::format_time(start),
    };
    Some((item, occ))
}

fn render(m: &Mailbox, item: &Item, shape: &Shape) -> String {
    render_as(m, item, shape, None)
}

fn render_as(m: &Mailbox, item: &Item, shape: &Shape, occ: Option<&Occ>) -> String {
    let want = |n: &str| shape.all || shape.names.iter().any(|x| x == n);
    let mut props: Vec<(usize, String)> = Vec::new();
    let raw = m.raw(Kind::Item, item.num);
    match occ {
        Some(o) => props.push((
            0,
            format!(
                "<t:ItemId Id=\"{}\" ChangeKey=\"{}\"/>",
                ids::encode(&o.raw, Format::EwsId),
                ids::change_key(&o.raw, item.version)
            ),
        )),
        None => props.push((0, item_id_xml(m, item))),
    }
    let fold = m.raw(Kind::Folder, item.folder);
    let fv = m.folders.get(&item.folder).map(|f| f.version).unwrap_or(1);
    let mut server = vec![
        (
            "ParentFolderId",
            format!(
                "<t:ParentFolderId Id=\"{}\" ChangeKey=\"{}\"/>",
                ids::encode(&fold, Format::EwsId),
                ids::change_key(&fold, fv)
            ),
        ),
        (
            "ItemClass",
            format!(
                "<t:ItemClass>{}</t:ItemClass>",
                if item.kind == ItemKind::Contact { "IPM.Contact" } else { "IPM.Appointment" }
            ),
        ),
        (
            "DateTimeCreated",
            format!("<t:DateTimeCreated>{}</t:DateTimeCreated>", item.created.format("%Y-%m-%dT%H:%M:%SZ")),
        ),
        (
            "LastModifiedTime",
            format!("<t:LastModifiedTime>{}</t:LastModifiedTime>", item.modified.format("%Y-%m-%dT%H:%M:%SZ")),
        ),
    ];
    if item.kind == ItemKind::CalendarItem {
        let master = item.props.iter().any(|p| p.name == "Recurrence");
        let kind = match occ {
            Some(o) if o.exception => "Exception",
            Some(_) => "Occurrence",
            None if master => "RecurringMaster",
            None => "Single",
        };
        server.push(("CalendarItemType", format!("<t:CalendarItemType>{kind}</t:CalendarItemType>")));
        // As documented for the organizer's copy: false on single items and (sic) on masters.
        server.push(("IsRecurring", format!("<t:IsRecurring>{}</t:IsRecurring>", occ.is_some())));
        if let Some(o) = occ {
            server.push(("OriginalStart", format!("<t:OriginalStart>{}</t:OriginalStart>", o.original_start)));
        }
        if occ.is_none() && !item.exceptions.is_empty() {
            let mut x = String::from("<t:ModifiedOccurrences>");
            for (index, props) in &item.exceptions {
                let get =
                    |n: &str| props.iter().find(|p| p.name == n).map(|p| p.text.trim().to_owned()).unwrap_or_default();
                let original =
                    recur::occurrence(&item.props, *index).map(|(s, _)| recur::format_time(s)).unwrap_or_default();
                let oraw = occurrence_raw(m, item.num, *index);
                let _ = write!(
                    x,
                    "<t:Occurrence><t:ItemId Id=\"{}\" ChangeKey=\"{}\"/><t:Start>{}</t:Start><t:End>{}</t:End><t:OriginalStart>{original}</t:OriginalStart></t:Occurrence>",
                    ids::encode(&oraw, Format::EwsId),
                    ids::change_key(&oraw, item.version),
                    xml::escape(&get("Start")),
                    xml::escape(&get("End"))
                );
            }
            x.push_str("</t:ModifiedOccurrences>");
            server.push(("ModifiedOccurrences", x));
        }
        if occ.is_none() && !item.deleted.is_empty() {
            let mut x = String::from("<t:DeletedOccurrences>");
            for index in &item.deleted {
                if let Some((s, _)) = recur::occurrence(&item.props, *index) {
                    let _ = write!(
                        x,
                        "<t:DeletedOccurrence><t:Start>{}</t:Start></t:DeletedOccurrence>",
                        recur::format_time(s)
                    );
                }
            }
            x.push_str("</t:DeletedOccurrences>");
            server.push(("DeletedOccurrences", x));
        }
        if !item.props.iter().any(|p| p.name == "UID") {
            server.push(("UID", format!("<t:UID>{:016X}{:016X}</t:UID>", raw.num, raw.mailbox.len())));
        }
    }
    for (name, x) in server {
        if want(name)
            && let Some(pos) = position(item.kind, name)
        {
            props.push((pos, x));
        }
    }
    for p in &item.props {
        if want(&p.name)
            && let Some(pos) = position(item.kind, &p.name)
        {
            props.push((pos, p.to_xml()));
        }
    }
    let ext_pos = position(item.kind, "ExtendedProperty").unwrap_or(0);
    for e in &item.extended {
        let uri = e.child("ExtendedFieldURI");
        let asked = shape.extended.iter().any(|s| uri.is_some_and(|u| same_extended(u, s)));
        if asked {
            props.push((ext_pos, e.to_xml()));
        }
    }
    props.sort_by_key(|(p, _)| *p);
    let el = item.kind.element();
    let body: String = props.into_iter().map(|(_, x)| x).collect();
    format!("<t:{el}>{body}</t:{el}>")
}

pub(crate) fn view(d: &Data, smtp: &str, num: u64) -> Option<ItemView> {
    let m = d.mailboxes.get(smtp)?;
    let item = m.items.get(&num)?;
    let raw = m.raw(Kind::Item, num);
    let fields =
        item.props.iter().filter(|p| p.children.is_empty()).map(|p| (p.name.clone(), p.text.clone())).collect();
    let extended = item
        .extended
        .iter()
        .map(|e| {
            let uri = e.child("ExtendedFieldURI");
            let key = uri
                .and_then(|u| u.attr("PropertyName").or(u.attr("PropertyTag")).or(u.attr("PropertyId")))
                .unwrap_or_default();
            (key.to_owned(), e.child_text("Value").unwrap_or_default().to_owned())
        })
        .collect();
    let all = Shape {
        all: true,
        names: Vec::new(),
        extended: item.extended.iter().filter_map(|e| e.child("ExtendedFieldURI").cloned()).collect(),
    };
    Some(ItemView {
        id: ids::encode(&raw, Format::EwsId),
        change_key: ids::change_key(&raw, item.version),
        kind: item.kind,
        folder_id: ids::encode(&m.raw(Kind::Folder, item.folder), Format::EwsId),
        fields,
        extended,
        xml: render(m, item, &all),
    })
}

/// Splits a client's item element into stored properties and extended properties.
fn item_from(kind: ItemKind, el: &Element) -> Result<(Vec<Element>, Vec<Element>), String> {
    let mut props = Vec::new();
    let mut ext = Vec::new();
    for c in &el.children {
        if c.name == "ExtendedProperty" {
            if c.child("ExtendedFieldURI").is_none() {
                return Err("ExtendedFieldURI is missing.".to_owned());
            }
            ext.push(c.clone());
            continue;
        }
        if position(kind, &c.name).is_none() {
            return Err(format!("The element '{}' in namespace '{NS_T}' is not expected.", c.name));
        }
        if SERVER_SET.contains(&c.name.as_str()) {
            continue;
        }
        props.retain(|p: &Element| p.name != c.name);
        props.push(c.clone());
    }
    Ok((props, ext))
}

fn kind_of(el: &Element) -> Option<ItemKind> {
    match el.name.as_str() {
        "Contact" => Some(ItemKind::Contact),
        "CalendarItem" => Some(ItemKind::CalendarItem),
        _ => None,
    }
}

fn insert(
    d: &mut Data,
    smtp: &str,
    folder: u64,
    kind: ItemKind,
    props: Vec<Element>,
    extended: Vec<Element>,
) -> Option<u64> {
    let seq = d.bump();
    let m = d.mailboxes.get_mut(smtp)?;
    let num = m.next;
    m.next += 1;
    let now = Utc::now();
    m.items.insert(
        num,
        Item {
            num,
            folder,
            kind,
            version: 1,
            seq,
            props,
            extended,
            created: now,
            modified: now,
            exceptions: BTreeMap::new(),
            deleted: BTreeSet::new(),
        },
    );
    Some(num)
}

pub(crate) fn seed(d: &mut Data, smtp: &str, folder: &str, el: &Element) -> Result<u64, String> {
    let kind = kind_of(el).ok_or("expected t:Contact or t:CalendarItem")?;
    let m = d.mailboxes.get(smtp).ok_or("no such mailbox")?;
    let f = resolve_folder_name(m, folder).ok_or("no such folder")?;
    let (props, ext) = item_from(kind, el)?;
    insert(d, smtp, f, kind, props, ext).ok_or_else(|| "no such mailbox".to_owned())
}

/// What an item id element names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Item(u64),
    /// Master number, instance index (1-based).
    Occurrence(u64, u32),
}

fn not_found() -> MsgError {
    err("ErrorItemNotFound", "The specified object was not found in the store.")
}

/// An `ItemId`, `OccurrenceItemId` or `RecurringMasterItemId` element → what it names.
fn item_ref(m: &Mailbox, el: &Element) -> Result<(Target, Option<String>), MsgError> {
    let malformed = || err("ErrorInvalidIdMalformed", "Id is malformed.");
    let decode = |attr: &str| ids::decode(el.attr(attr).unwrap_or_default(), Format::EwsId).ok_or_else(malformed);
    let target = match el.name.as_str() {
        "OccurrenceItemId" => {
            let raw = decode("RecurringMasterId")?;
            if raw.kind != Kind::Item {
                return Err(malformed());
            }
            let index = el
                .attr("InstanceIndex")
                .and_then(|i| i.parse::<u32>().ok())
                .filter(|i| *i < (1 << 20))
                .ok_or_else(|| err("ErrorInvalidRequest", "InstanceIndex is invalid."))?;
            if raw.mailbox != m.smtp {
                return Err(not_found());
            }
            Target::Occurrence(raw.num, index)
        }
        "RecurringMasterItemId" => {
            let raw = decode("OccurrenceId")?;
            match raw.kind {
                Kind::Occurrence => Target::Item(raw.num >> 20),
                Kind::Item => Target::Item(raw.num),
                Kind::Folder => return Err(malformed()),
            }
        }
        _ => {
            let raw = decode("Id")?;
            if raw.mailbox != m.smtp {
                return Err(not_found());
            }
            match raw.kind {
                Kind::Item => Target::Item(raw.num),
                Kind::Occurrence => Target::Occurrence(raw.num >> 20, u32::try_from(raw.num & 0xF_FFFF).unwrap_or(0)),
                Kind::Folder => return Err(malformed()),
            }
        }
    };
    match target {
        Target::Item(n) if !m.items.contains_key(&n) => return Err(not_found()),
        Target::Item(_) => {}
        Target::Occurrence(master, index) => {
            let item = m.items.get(&master).ok_or_else(not_found)?;
            if !item.props.iter().any(|p| p.name == "Recurrence") {
                return Err(not_found());
            }
            if item.deleted.contains(&index) {
                return Err(err(
                    "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                    "Occurrence with this index was previously deleted from the recurrence.",
                ));
            }
            if recur::occurrence(&item.props, index).is_none() {
                return Err(err(
                    "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                    "Occurrence index is out of recurrence range.",
                ));
            }
        }
    }
    Ok((target, el.attr("ChangeKey").map(str::to_owned)))
}

fn get_item(d: &Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let shape = shape(op.child("ItemShape"))?;
    let ids_el = op.child("ItemIds").ok_or_else(|| schema("ItemIds is missing."))?;
    let m = mailbox(d, smtp)?;
    let mut out = String::new();
    for el in &ids_el.children {
        match item_ref(m, el) {
            Ok((target, _)) => {
                let x = match target {
                    Target::Item(num) => m.items.get(&num).map(|i| render(m, i, &shape)),
                    Target::Occurrence(master, index) => m
                        .items
                        .get(&master)
                        .and_then(|i| synthesize(m, i, index))
                        .map(|(item, occ)| render_as(m, &item, &shape, Some(&occ))),
                }
                .unwrap_or_default();
                out.push_str(&ok_message("GetItem", &format!("<m:Items>{x}</m:Items>")));
            }
            Err(e) => out.push_str(&error_message("GetItem", &e, "<m:Items/>")),
        }
    }
    Ok(out)
}

fn create_item(d: &mut Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let items = op.child("Items").ok_or_else(|| schema("Items is missing."))?;
    let invitations = op.attr("SendMeetingInvitations");
    if let Some(v) = invitations
        && !matches!(v, "SendToNone" | "SendOnlyToAll" | "SendToAllAndSaveCopy")
    {
        return Err(schema(format!("The 'SendMeetingInvitations' attribute is invalid - The value '{v}' is invalid.")));
    }
    let m = mailbox(d, smtp)?;
    let saved = op.child("SavedItemFolderId").and_then(|s| s.children.first()).map(|el| folder_ref(m, el));
    let mut out = String::new();
    for el in &items.children {
        let kind =
            kind_of(el).ok_or_else(|| schema(format!("The element '{}' is not supported by the fake.", el.name)))?;
        let (props, ext) = item_from(kind, el).map_err(schema)?;
        if kind == ItemKind::CalendarItem && invitations.is_none() {
            out.push_str(&error_message(
                "CreateItem",
                &err(
                    "ErrorSendMeetingInvitationsRequired",
                    "SendMeetingInvitations attribute is required for calendar items.",
                ),
                "<m:Items/>",
            ));
            continue;
        }
        let m = mailbox(d, smtp)?;
        let folder = match &saved {
            Some(Ok(f)) => *f,
            Some(Err(e)) => {
                out.push_str(&error_message("CreateItem", &err(e.code, e.text.clone()), "<m:Items/>"));
                continue;
            }
            None => m.distinguished(if kind == ItemKind::Contact { "contacts" } else { "calendar" }).unwrap_or(3),
        };
        let Some(num) = insert(d, smtp, folder, kind, props, ext) else { continue };
        let m = mailbox(d, smtp)?;
        let x = m
            .items
            .get(&num)
            .map(|i| format!("<t:{k}>{}</t:{k}>", item_id_xml(m, i), k = kind.element()))
            .unwrap_or_default();
        out.push_str(&ok_message("CreateItem", &format!("<m:Items>{x}</m:Items>")));
    }
    Ok(out)
}

/// Merges indexed entries (`Entry Key=…`) of `new` into `old`, field by field for addresses.
fn merge_indexed(old: &mut Element, new: &Element) {
    for entry in &new.children {
        let key = entry.attr("Key");
        match old.children.iter_mut().find(|e| e.attr("Key") == key) {
            Some(existing) if !entry.children.is_empty() => {
                for f in &entry.children {
                    existing.children.retain(|c| c.name != f.name);
                    existing.children.push(f.clone());
                }
                let order = ["Street", "City", "State", "CountryOrRegion", "PostalCode"];
                existing.children.sort_by_key(|c| order.iter().position(|o| *o == c.name).unwrap_or(9));
            }
            Some(existing) => existing.text = entry.text.clone(),
            None => old.children.push(entry.clone()),
        }
    }
}

fn apply_update(item: &mut Item, upd: &Element) -> Result<(), MsgError> {
    let target =
        upd.children.iter().find(|c| matches!(c.name.as_str(), "FieldURI" | "IndexedFieldURI" | "ExtendedFieldURI"));
    let Some(target) = target else { return Err(err("ErrorInvalidPropertyRequest", "The property is missing.")) };
    let payload = upd.children.iter().find(|c| kind_of(c).is_some());
    if let Some(p) = payload
        && kind_of(p) != Some(item.kind)
    {
        return Err(err("ErrorObjectTypeChanged", "The object type cannot be changed."));
    }
    let value = payload.and_then(|p| p.children.first());
    match (upd.name.as_str(), target.name.as_str()) {
        (_, "ExtendedFieldURI") => {
            item.extended.retain(|e| !e.child("ExtendedFieldURI").is_some_and(|u| same_extended(u, target)));
            if upd.name != "DeleteItemField" {
                let v = value
                    .filter(|v| v.name == "ExtendedProperty")
                    .ok_or_else(|| err("ErrorInvalidExtendedProperty", "The extended property is invalid."))?;
                item.extended.push(v.clone());
            }
        }
        ("DeleteItemField", "IndexedFieldURI") => {
            let uri = target.attr("FieldURI").unwrap_or_default();
            let key = target.attr("FieldIndex").unwrap_or_default();
            let coll = match uri.split(':').nth(1).unwrap_or_default() {
                "EmailAddress" => "EmailAddresses",
                "PhoneNumber" => "PhoneNumbers",
                "PhysicalAddress" => "PhysicalAddresses",
                _ => "ImAddresses",
            };
            let sub = uri.split(':').nth(2);
            if let Some(c) = item.props.iter_mut().find(|p| p.name == coll) {
                match sub {
                    Some(field) => {
                        if let Some(e) = c.children.iter_mut().find(|e| e.attr("Key") == Some(key)) {
                            e.children.retain(|f| f.name != field);
                        }
                    }
                    None => c.children.retain(|e| e.attr("Key") != Some(key)),
                }
            }
            item.props.retain(|p| !(p.name == coll && p.children.is_empty()));
        }
        ("DeleteItemField", _) => {
            let uri = target.attr("FieldURI").unwrap_or_default();
            let name = uri.split_once(':').map(|(_, n)| n).unwrap_or(uri);
            item.props.retain(|p| p.name != name);
        }
        (op, _) => {
            let v = value.ok_or_else(|| err("ErrorInvalidPropertyRequest", "The update has no value."))?;
            if position(item.kind, &v.name).is_none() || SERVER_SET.contains(&v.name.as_str()) {
                return Err(err("ErrorInvalidPropertyRequest", format!("The property {} cannot be set.", v.name)));
            }
            match item.props.iter_mut().find(|p| p.name == v.name) {
                Some(old) if target.name == "IndexedFieldURI" => merge_indexed(old, v),
                Some(old) if op == "AppendToItemField" => {
                    old.text.push_str(&v.text);
                    old.children.extend(v.children.iter().cloned());
                }
                Some(old) => *old = v.clone(),
                None => item.props.push(v.clone()),
            }
        }
    }
    Ok(())
}

fn update_item(d: &mut Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let resolution = op.attr("ConflictResolution").unwrap_or("AutoResolve");
    if !matches!(resolution, "NeverOverwrite" | "AutoResolve" | "AlwaysOverwrite") {
        return Err(schema(format!(
            "The 'ConflictResolution' attribute is invalid - The value '{resolution}' is invalid."
        )));
    }
    let cancellations = op.attr("SendMeetingInvitationsOrCancellations");
    let changes = op.child("ItemChanges").ok_or_else(|| schema("ItemChanges is missing."))?;
    let mut out = String::new();
    for change in changes.children_named("ItemChange") {
        let id_el =
            change.children.iter().find(|c| c.name.ends_with("ItemId")).ok_or_else(|| schema("ItemId is missing."))?;
        let updates = change.child("Updates").ok_or_else(|| schema("Updates is missing."))?;
        let m = mailbox(d, smtp)?;
        let (target, ck) = match item_ref(m, id_el) {
            Ok(x) => x,
            Err(e) => {
                out.push_str(&error_message("UpdateItem", &e, "<m:Items/>"));
                continue;
            }
        };
        let (num, index) = match target {
            Target::Item(n) => (n, None),
            Target::Occurrence(master, i) => (master, Some(i)),
        };
        let Some(current) = m.items.get(&num) else { continue };
        // What is updated: the item, or the occurrence as an item of its own.
        let (mut updated, raw) = match index {
            None => (current.clone(), m.raw(Kind::Item, num)),
            Some(i) => match synthesize(m, current, i) {
                Some((item, occ)) => (item, occ.raw),
                None => continue,
            },
        };
        if current.kind == ItemKind::CalendarItem && cancellations.is_none() {
            out.push_str(&error_message(
                "UpdateItem",
                &err(
                    "ErrorSendMeetingInvitationsOrCancellationsRequired",
                    "SendMeetingInvitationsOrCancellations attribute is required for calendar items.",
                ),
                "<m:Items/>",
            ));
            continue;
        }
        // AlwaysOverwrite needs no change key (it checks none); the other resolutions do.
        let ck = match ck {
            Some(ck) => ck,
            None if resolution == "AlwaysOverwrite" => ids::change_key(&raw, current.version),
            None => {
                out.push_str(&error_message(
                    "UpdateItem",
                    &err(
                        "ErrorChangeKeyRequiredForWriteOperations",
                        "The change key is required for write operations.",
                    ),
                    "<m:Items/>",
                ));
                continue;
            }
        };
        if ck != ids::change_key(&raw, current.version) && resolution != "AlwaysOverwrite" {
            out.push_str(&error_message(
                "UpdateItem",
                &err("ErrorIrresolvableConflict", "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item."),
                "<m:Items/>",
            ));
            continue;
        }
        let mut failure = None;
        for u in &updates.children {
            if let Err(e) = apply_update(&mut updated, u) {
                failure = Some(e);
                break;
            }
        }
        if let Some(e) = failure {
            out.push_str(&error_message("UpdateItem", &e, "<m:Items/>"));
            continue;
        }
        let seq = d.bump();
        let m = d.mailboxes.get_mut(smtp).ok_or_else(|| schema("no mailbox"))?;
        let x = match index {
            None => {
                // A new pattern or new times drop the exceptions and deletions, as Outlook does.
                let timing = |i: &Item| {
                    i.props
                        .iter()
                        .filter(|p| matches!(p.name.as_str(), "Recurrence" | "Start" | "End"))
                        .cloned()
                        .collect::<Vec<_>>()
                };
                if m.items.get(&num).is_some_and(|c| timing(c) != timing(&updated)) {
                    updated.exceptions.clear();
                    updated.deleted.clear();
                }
                touch(&mut updated, seq);
                let x = format!("<t:{k}>{}</t:{k}>", item_id_xml(m, &updated), k = updated.kind.element());
                m.items.insert(num, updated);
                x
            }
            Some(i) => {
                let Some(master) = m.items.get_mut(&num) else { continue };
                master.exceptions.insert(i, updated.props);
                touch(master, seq);
                format!(
                    "<t:CalendarItem><t:ItemId Id=\"{}\" ChangeKey=\"{}\"/></t:CalendarItem>",
                    ids::encode(&raw, Format::EwsId),
                    ids::change_key(&raw, master.version)
                )
            }
        };
        out.push_str(&ok_message(
            "UpdateItem",
            &format!("<m:Items>{x}</m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"),
        ));
    }
    Ok(out)
}

fn delete_item(d: &mut Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let delete_type = op.attr("DeleteType").ok_or_else(|| schema("The required attribute 'DeleteType' is missing."))?;
    if !matches!(delete_type, "HardDelete" | "SoftDelete" | "MoveToDeletedItems") {
        return Err(schema(format!("The 'DeleteType' attribute is invalid - The value '{delete_type}' is invalid.")));
    }
    let cancellations = op.attr("SendMeetingCancellations");
    let ids_el = op.child("ItemIds").ok_or_else(|| schema("ItemIds is missing."))?;
    let mut out = String::new();
    for el in &ids_el.children {
        let m = mailbox(d, smtp)?;
        let (num, index) = match item_ref(m, el) {
            Ok((Target::Item(n), _)) => (n, None),
            Ok((Target::Occurrence(master, i), _)) => (master, Some(i)),
            Err(e) => {
                out.push_str(&error_message("DeleteItem", &e, ""));
                continue;
            }
        };
        if m.items.get(&num).is_some_and(|i| i.kind == ItemKind::CalendarItem) && cancellations.is_none() {
            out.push_str(&error_message(
                "DeleteItem",
                &err(
                    "ErrorSendMeetingCancellationsRequired",
                    "SendMeetingCancellations attribute is required for calendar items.",
                ),
                "",
            ));
            continue;
        }
        let deleted_items = m.distinguished("deleteditems");
        let seq = d.bump();
        let Some(m) = d.mailboxes.get_mut(smtp) else { continue };
        if let Some(i) = index {
            // Deleting an occurrence deletes it from the series (whatever the DeleteType).
            if let Some(master) = m.items.get_mut(&num) {
                master.exceptions.remove(&i);
                master.deleted.insert(i);
                touch(master, seq);
            }
        } else if delete_type == "MoveToDeletedItems"
            && let (Some(di), Some(item)) = (deleted_items, m.items.get_mut(&num))
        {
            item.folder = di;
            touch(item, seq);
        } else {
            m.items.remove(&num);
        }
        out.push_str(&ok_message("DeleteItem", ""));
    }
    Ok(out)
}

fn sync_folder_items(d: &mut Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let shape = shape(op.child("ItemShape"))?;
    let folder_el =
        op.child("SyncFolderId").and_then(|s| s.children.first()).ok_or_else(|| schema("SyncFolderId is missing."))?;
    let max: usize = op
        .child_text("MaxChangesReturned")
        .ok_or_else(|| schema("MaxChangesReturned is missing."))?
        .parse()
        .ok()
        .filter(|n| (1..=512).contains(n))
        .ok_or_else(|| schema("The 'MaxChangesReturned' element is invalid - The value must be between 1 and 512."))?;
    let ignore: Vec<u64> = op
        .child("Ignore")
        .map(|i| {
            i.children
                .iter()
                .filter_map(|c| ids::decode(c.attr("Id").unwrap_or_default(), Format::EwsId))
                .map(|r| r.num)
                .collect()
        })
        .unwrap_or_default();
    let m = mailbox(d, smtp)?;
    let folder = match folder_ref(m, folder_el) {
        Ok(f) => f,
        Err(_) => {
            let e = err("ErrorSyncFolderNotFound", "The specified folder could not be found in the store.");
            return Ok(error_message(
                "SyncFolderItems",
                &e,
                "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
            ));
        }
    };
    let state_text = op.child_text("SyncState").filter(|s| !s.is_empty());
    let known = match state_text {
        None => BTreeMap::new(),
        Some(s) => match d.sync_states.get(s) {
            Some(st) if st.mailbox == smtp && st.folder == folder => st.known.clone(),
            _ => {
                let e = err("ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid.");
                return Ok(error_message(
                    "SyncFolderItems",
                    &e,
                    "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
                ));
            }
        },
    };
    // (seq, num, what): newest first.
    let mut changes: Vec<(u64, u64, &str)> = Vec::new();
    for item in m.items.values().filter(|i| i.folder == folder) {
        match known.get(&item.num) {
            None => changes.push((item.seq, item.num, "Create")),
            Some(v) if *v != item.version => changes.push((item.seq, item.num, "Update")),
            Some(_) => {}
        }
    }
    for num in known.keys() {
        if m.items.get(num).is_none_or(|i| i.folder != folder) {
            changes.push((u64::MAX, *num, "Delete"));
        }
    }
    changes.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let more = changes.len() > max;
    changes.truncate(max);
    let mut new_known = known;
    let mut body = String::new();
    for (_, num, what) in &changes {
        if what == &"Delete" {
            new_known.remove(num);
            if !ignore.contains(num) {
                let raw = m.raw(Kind::Item, *num);
                let _ = write!(body, "<t:Delete><t:ItemId Id=\"{}\"/></t:Delete>", ids::encode(&raw, Format::EwsId));
            }
            continue;
        }
        let Some(item) = m.items.get(num) else { continue };
        new_known.insert(*num, item.version);
        if !ignore.contains(num) {
            let _ = write!(body, "<t:{what}>{}</t:{what}>", render(m, item, &shape));
        }
    }
    d.next_state += 1;
    let token = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!(
            "H4sI-tandem-sync-{}-{}-{}",
            smtp.len(),
            folder,
            d.next_state
        ))
    };
    d.sync_states.insert(token.clone(), SyncState { mailbox: smtp.to_owned(), folder, known: new_known });
    Ok(ok_message(
        "SyncFolderItems",
        &format!(
            "<m:SyncState>{token}</m:SyncState><m:IncludesLastItemInRange>{}</m:IncludesLastItemInRange><m:Changes>{body}</m:Changes>",
            !more
        ),
    ))
}

fn constant_of(el: &Element) -> Option<&str> {
    el.child("FieldURIOrConstant").and_then(|c| c.child("Constant")).and_then(|c| c.attr("Value"))
}

fn item_value(item: &Item, target: &Element) -> Option<String> {
    match target.name.as_str() {
        "ExtendedFieldURI" => item
            .extended
            .iter()
            .find(|e| e.child("ExtendedFieldURI").is_some_and(|u| same_extended(u, target)))
            .and_then(|e| e.child_text("Value").map(str::to_owned)),
        "FieldURI" => {
            let uri = target.attr("FieldURI")?;
            let name = uri.split_once(':').map(|(_, n)| n)?;
            item.props.iter().find(|p| p.name == name).map(|p| p.text.trim().to_owned())
        }
        _ => None,
    }
}

fn matches(item: &Item, r: &Element) -> Result<bool, Fault> {
    let target =
        || r.children.iter().find(|c| matches!(c.name.as_str(), "FieldURI" | "ExtendedFieldURI" | "IndexedFieldURI"));
    Ok(match r.name.as_str() {
        "And" => {
            let mut all = true;
            for c in &r.children {
                all &= matches(item, c)?;
            }
            all
        }
        "Or" => {
            let mut any = false;
            for c in &r.children {
                any |= matches(item, c)?;
            }
            any
        }
        "Not" => !matches(item, r.children.first().ok_or_else(|| schema("Not needs a child."))?)?,
        "Exists" => item_value(item, target().ok_or_else(|| schema("Exists needs a property."))?).is_some(),
        "IsEqualTo" | "IsNotEqualTo" => {
            let t = target().ok_or_else(|| schema("IsEqualTo needs a property."))?;
            let c = constant_of(r).ok_or_else(|| schema("FieldURIOrConstant/Constant is missing."))?;
            let eq = item_value(item, t).is_some_and(|v| v.eq_ignore_ascii_case(c));
            if r.name == "IsEqualTo" { eq } else { !eq }
        }
        other => return Err(schema(format!("The restriction '{other}' is not supported by the fake."))),
    })
}

fn find_item(d: &Data, smtp: &str, op: &Element) -> Result<String, Fault> {
    let shape = shape(op.child("ItemShape"))?;
    if op.attr("Traversal").is_none() {
        return Err(schema("The required attribute 'Traversal' is missing."));
    }
    let (offset, max) = match op.child("IndexedPageItemView") {
        Some(v) => (
            v.attr("Offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0),
            v.attr("MaxEntriesReturned").and_then(|o| o.parse::<usize>().ok()).unwrap_or(1000),
        ),
        None => (0, 1000),
    };
    let restriction = op.child("Restriction").and_then(|r| r.children.first());
    let parents = op.child("ParentFolderIds").ok_or_else(|| schema("ParentFolderIds is missing."))?;
    let m = mailbox(d, smtp)?;
    let mut out = String::new();
    for el in &parents.children {
        let folder = match folder_ref(m, el) {
            Ok(f) => f,
            Err(e) => {
                out.push_str(&error_message("FindItem", &e, ""));
                continue;
            }
        };
        let mut found = Vec::new();
        for item in m.items.values().filter(|i| i.folder == folder) {
            if let Some(r) = restriction
                && !matches(item, r)?
            {
                continue;
            }
            found.push(item);
        }
        found.sort_by_key(|i| std::cmp::Reverse(i.seq));
        let total = found.len();
        let page: Vec<_> = found.into_iter().skip(offset).take(max.min(1000)).collect();
        let last = offset + page.len() >= total;
        let items: String = page.iter().map(|i| render(m, i, &shape)).collect();
        out.push_str(&ok_message(
            "FindItem",
            &format!(
                "<m:RootFolder IndexedPagingOffset=\"{}\" TotalItemsInView=\"{total}\" IncludesLastItemInRange=\"{last}\"><t:Items>{items}</t:Items></m:RootFolder>",
                offset + page.len()
            ),
        ));
    }
    Ok(out)
}

fn convert_id(d: &Data, op: &Element) -> Result<String, Fault> {
    let dest =
        op.attr("DestinationFormat").ok_or_else(|| schema("The required attribute 'DestinationFormat' is missing."))?;
    let dest = Format::parse(dest).ok_or_else(|| {
        schema(format!("The 'DestinationFormat' attribute is invalid - The value '{dest}' is invalid."))
    })?;
    let sources = op.child("SourceIds").ok_or_else(|| schema("SourceIds is missing."))?;
    let mut out = String::new();
    for s in &sources.children {
        let format =
            s.attr("Format").and_then(Format::parse).ok_or_else(|| schema("The 'Format' attribute is invalid."))?;
        let id = s.attr("Id").unwrap_or_default();
        let raw: Option<RawId> = ids::decode(id, format);
        match raw {
            Some(raw) if d.mailboxes.contains_key(&raw.mailbox) => {
                let mbx = s.attr("Mailbox").unwrap_or(&raw.mailbox).to_owned();
                out.push_str(&ok_message(
                    "ConvertId",
                    &format!(
                        "<m:AlternateId xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"t:AlternateIdType\" Format=\"{}\" Id=\"{}\" Mailbox=\"{}\"/>",
                        dest.name(),
                        ids::encode(&raw, dest),
                        xml::escape(&mbx)
                    ),
                ));
            }
            _ => out.push_str(&error_message("ConvertId", &err("ErrorInvalidIdMalformed", "Id is malformed."), "")),
        }
    }
    Ok(out)
}
