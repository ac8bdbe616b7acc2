//! The Exchange Web Services fake: EWS SOAP 1.1 as Exchange Server 2016/2019 on-premises speaks
//! it, for contacts and calendar items, on a loopback port.
//!
//! `POST /EWS/Exchange.asmx` (the path is matched case-insensitively, as IIS does) takes a SOAP
//! 1.1 envelope (`text/xml; charset=utf-8`, at most [`MAX_BODY`] bytes). Operations:
//! `GetFolder`, `FindFolder`, `CreateFolder`, `SyncFolderItems`, `GetItem`, `CreateItem`,
//! `UpdateItem`, `DeleteItem`, `FindItem` and `ConvertId`, each answering
//! `m:ResponseMessages` with one message per id or item (`ResponseClass`, `m:ResponseCode`,
//! `m:MessageText`, `m:DescriptiveLinkKey`). Any other operation, a body that is not well-formed,
//! or a request missing required parts answers the SOAP fault `ErrorSchemaValidation` (HTTP 500).
//!
//! - **Headers**: `RequestServerVersion` (`Exchange2013_SP1`, `Exchange2016`, others of the
//!   schema accepted; unknown values are a schema violation), `ServerVersionInfo` echoed
//!   (15.1.2507, `V2017_07_11`); `ExchangeImpersonation`/`ConnectingSID` by
//!   `PrimarySmtpAddress`, `PrincipalName` or `SmtpAddress`; `X-AnchorMailbox` is recorded
//!   ([`EwsFake::anchor_mailboxes`]).
//! - **Auth**: Basic when [`EwsFake::allow_basic`] is on; `Bearer` tokens from
//!   [`EwsFake::add_bearer_token`]; NTLM (raw NTLMSSP under `NTLM` or `Negotiate`): the fake
//!   issues a challenge and checks the NTLMv2 response against the account's password. NTLM is
//!   per request, not per connection (any outstanding challenge may be answered once), the MIC and
//!   session keys are not checked, and SPNEGO-wrapped tokens are refused. A 401 carries
//!   `WWW-Authenticate: Negotiate`, `NTLM` (and `Basic realm=…` when Basic is allowed), as IIS
//!   sends them.
//! - **Impersonation**: an account may act on a mailbox it was granted `ApplicationImpersonation`
//!   on ([`EwsFake::grant_impersonation`]); otherwise the SOAP fault `ErrorImpersonateUserDenied`;
//!   an unknown SMTP address `ErrorNonExistentMailbox`. Without the header, an account that is a
//!   mailbox (or a bearer token bound to one) acts on its own mailbox.
//! - **Folders**: `root`, `msgfolderroot`, `contacts`, `calendar`, `inbox`, `deleteditems` per
//!   mailbox; `CreateFolder` makes folders (duplicate names under one parent:
//!   `ErrorFolderExists`). Contacts and calendar items live in folders.
//! - **Items**: properties are kept as the client sent them (elements of the types namespace),
//!   written back in schema order; `ItemId`, `ParentFolderId`, `ItemClass`, `DateTimeCreated`,
//!   `LastModifiedTime` and, for calendar items, `UID`, `CalendarItemType` and `IsRecurring` are
//!   the server's. Every write advances the change key. `ItemShape`: `IdOnly` (plus
//!   `AdditionalProperties` by `FieldURI`, `IndexedFieldURI` (whole collection) and
//!   `ExtendedFieldURI`), `Default` and `AllProperties` (everything stored).
//! - **UpdateItem**: `SetItemField`, `AppendToItemField`, `DeleteItemField` (indexed entries by
//!   `Key`, extended properties); `ConflictResolution` `NeverOverwrite`/`AutoResolve` answer
//!   `ErrorIrresolvableConflict` on a stale change key (AutoResolve does not merge),
//!   `AlwaysOverwrite` applies (with or without a change key); a missing change key otherwise
//!   answers `ErrorChangeKeyRequiredForWriteOperations`. Calendar items need
//!   `SendMeetingInvitations` (create), `SendMeetingInvitationsOrCancellations` (update),
//!   `SendMeetingCancellations` (delete), or answer the matching `…Required` error.
//! - **Recurrence**: `Recurrence` is kept as sent; an item with one is a `RecurringMaster`
//!   (every pattern and range of the schema). Occurrences are computed only as far as needed:
//!   `OccurrenceItemId` (`RecurringMasterId`, 1-based `InstanceIndex`) and occurrence ids
//!   (`GetItem` answers `CalendarItemType` `Occurrence` or `Exception` with `OriginalStart`);
//!   `UpdateItem` on one makes an exception, `DeleteItem` removes it from the series; the master
//!   lists them in `ModifiedOccurrences` and `DeletedOccurrences` and its change key advances
//!   (exceptions are not items of their own in the folder, so sync reports the master's
//!   `Update`). An index past the range answers `ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange`,
//!   a deleted one `ErrorCalendarOccurrenceIsDeletedFromRecurrence`. A new pattern, `Start` or
//!   `End` on the master drops its exceptions and deletions. Simplified: occurrences are computed
//!   on the master's `Start` in UTC, without the zone's daylight-saving shifts. `IsRecurring` is
//!   false on masters and true on occurrences, as documented for the organizer's copy.
//! - **SyncFolderItems**: the sync state is opaque, kept server-side; changes are the
//!   difference between what the state has seen and the folder now (`Create`, `Update`,
//!   `Delete`; `ReadFlagChange` is never produced: contacts and calendar items have no read
//!   flag), newest first, at most `MaxChangesReturned` (1..=512, else a schema violation),
//!   `IncludesLastItemInRange` false while more remain. [`EwsFake::expire_sync_states`] makes
//!   every earlier state answer `ErrorInvalidSyncStateData` (with an empty `SyncState`).
//! - **FindItem**: `Restriction` with `IsEqualTo` (and `And`, `Or`, `Not`, `Exists`) on
//!   `FieldURI` or `ExtendedFieldURI` against a `Constant`; `IndexedPageItemView` paging.
//! - **Throttling**: [`EwsFake::server_busy_next`] answers the next calls with the SOAP fault
//!   `ErrorServerBusy` (HTTP 500) and `BackOffMilliseconds` in `MessageXml`. More than
//!   [`EwsFakeConfig::max_concurrency`] requests in flight per `X-AnchorMailbox` (or per
//!   `Authorization` when none) answer the same fault (Exchange's `EWSMaxConcurrency` answers
//!   `ErrorServerBusy` for EWS; `ErrorTooManyObjectsOpened` is not used).
//!
//! **Id scheme** (deterministic, so another fake can translate ids): the payload is
//! `len(smtp) ‖ lower-case smtp ‖ kind ('F' folder, 'I' item) ‖ number (u64, big-endian)`.
//! `EwsId` = standard base64 of `00 03 24 00 ‖ payload` (so ids start `AAMkA`, as real ones do);
//! Graph's REST id = the same bytes in URL-safe base64 (the real relation between the two);
//! `EwsLegacyId` = standard base64 of `00 00 1B 00 ‖ payload`; `EntryId` = standard base64 of
//! `00 00 00 00 ‖ payload`, `HexEntryId` its upper-case hex. Change keys are standard base64 of
//! `10 00 00 00 ‖ kind ‖ number ‖ version (u32)`.
//!
//! Counters: [`EwsFake::counts`] per operation; [`Controls`] per HTTP route.

pub(crate) mod ids;
mod ntlm;
mod ops;
pub(crate) mod recur;
pub(crate) mod xml;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};

use self::ids::{Kind, RawId};
use self::xml::Element;
use crate::server::{CannedResponse, ConcurrencyCap, Controls, FakeServer, key_fn};

pub use self::ids_api::{IdFormat, convert_id};

/// The largest request body accepted (bigger ones are a schema violation).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// The mailbox of [`EwsFake::demo`].
pub const DEMO_MAILBOX: &str = "ann@contoso.example";
/// The service account of [`EwsFake::demo`].
pub const DEMO_ACCOUNT: &str = "svc-tandem";
/// Its password (test-only).
pub const DEMO_PASSWORD: &str = "Tandem-Demo-1!";

/// Public id conversion, for tests and the Graph fake.
mod ids_api {
    use super::ids;

    /// An id format the fake converts between.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum IdFormat {
        /// `EwsId`.
        EwsId,
        /// `EwsLegacyId`.
        EwsLegacyId,
        /// `EntryId`.
        EntryId,
        /// `HexEntryId`.
        HexEntryId,
        /// Graph's REST id (URL-safe base64 of the EwsId's bytes).
        RestId,
    }

    fn inner(f: IdFormat) -> ids::Format {
        match f {
            IdFormat::EwsId => ids::Format::EwsId,
            IdFormat::EwsLegacyId => ids::Format::EwsLegacyId,
            IdFormat::EntryId => ids::Format::EntryId,
            IdFormat::HexEntryId => ids::Format::HexEntryId,
            IdFormat::RestId => ids::Format::RestId,
        }
    }

    /// Converts `id` from one format to another; `None` when it is not an id of this fake.
    pub fn convert_id(id: &str, from: IdFormat, to: IdFormat) -> Option<String> {
        ids::decode(id, inner(from)).map(|raw| ids::encode(&raw, inner(to)))
    }
}

/// Settings of the fake.
#[derive(Debug, Clone)]
pub struct EwsFakeConfig {
    /// Requests in flight per anchor mailbox before `ErrorServerBusy`. Default 27
    /// (`EWSMaxConcurrency` of Exchange 2013 and later).
    pub max_concurrency: usize,
    /// `BackOffMilliseconds` of concurrency rejections. Default 1000.
    pub concurrency_backoff_ms: u64,
}

impl Default for EwsFakeConfig {
    fn default() -> Self {
        EwsFakeConfig { max_concurrency: 27, concurrency_backoff_ms: 1000 }
    }
}

/// What kind of item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// `t:Contact`.
    Contact,
    /// `t:CalendarItem`.
    CalendarItem,
}

impl ItemKind {
    pub(crate) fn element(self) -> &'static str {
        match self {
            ItemKind::Contact => "Contact",
            ItemKind::CalendarItem => "CalendarItem",
        }
    }
}

/// An item as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemView {
    /// Its `EwsId`.
    pub id: String,
    /// Its current change key.
    pub change_key: String,
    /// Contact or calendar item.
    pub kind: ItemKind,
    /// The `EwsId` of its folder.
    pub folder_id: String,
    /// Simple properties: element name → text (collections and complex values are left out;
    /// see [`ItemView::xml`]).
    pub fields: BTreeMap<String, String>,
    /// Extended properties: (property name or tag or id, value).
    pub extended: Vec<(String, String)>,
    /// The whole item as `GetItem` with `AllProperties` renders it.
    pub xml: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Folder {
    pub(crate) num: u64,
    pub(crate) parent: Option<u64>,
    pub(crate) distinguished: Option<&'static str>,
    pub(crate) name: String,
    pub(crate) class: String,
    /// `Folder`, `ContactsFolder` or `CalendarFolder`.
    pub(crate) element: &'static str,
    pub(crate) version: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) num: u64,
    pub(crate) folder: u64,
    pub(crate) kind: ItemKind,
    pub(crate) version: u32,
    /// The global write sequence number of its last write (sync orders by it).
    pub(crate) seq: u64,
    pub(crate) props: Vec<Element>,
    pub(crate) extended: Vec<Element>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) modified: DateTime<Utc>,
    /// Exceptions of a recurring master: instance index → the occurrence's full properties.
    pub(crate) exceptions: BTreeMap<u32, Vec<Element>>,
    /// Deleted occurrences of a recurring master (instance indexes).
    pub(crate) deleted: BTreeSet<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    pub(crate) smtp: String,
    pub(crate) display: String,
    pub(crate) folders: BTreeMap<u64, Folder>,
    pub(crate) items: BTreeMap<u64, Item>,
    pub(crate) next: u64,
}

impl Mailbox {
    fn new(smtp: &str, display: &str) -> Mailbox {
        let mut m = Mailbox {
            smtp: smtp.to_lowercase(),
            display: display.to_owned(),
            folders: BTreeMap::new(),
            items: BTreeMap::new(),
            next: 100,
        };
        let mut add = |num, parent, d, name: &str, class: &str, element| {
            m.folders.insert(
                num,
                Folder {
                    num,
                    parent,
                    distinguished: Some(d),
                    name: name.to_owned(),
                    class: class.to_owned(),
                    element,
                    version: 1,
                },
            );
        };
        add(1, None, "root", "", "", "Folder");
        add(2, Some(1), "msgfolderroot", "Top of Information Store", "IPF.Note", "Folder");
        add(3, Some(2), "contacts", "Contacts", "IPF.Contact", "ContactsFolder");
        add(4, Some(2), "calendar", "Calendar", "IPF.Appointment", "CalendarFolder");
        add(5, Some(2), "inbox", "Inbox", "IPF.Note", "Folder");
        add(6, Some(2), "deleteditems", "Deleted Items", "IPF.Note", "Folder");
        m
    }

    pub(crate) fn raw(&self, kind: Kind, num: u64) -> RawId {
        RawId { mailbox: self.smtp.clone(), kind, num }
    }

    pub(crate) fn distinguished(&self, name: &str) -> Option<u64> {
        self.folders.values().find(|f| f.distinguished == Some(name)).map(|f| f.num)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) password: String,
    pub(crate) grants: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct SyncState {
    pub(crate) mailbox: String,
    pub(crate) folder: u64,
    pub(crate) known: BTreeMap<u64, u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Data {
    pub(crate) mailboxes: BTreeMap<String, Mailbox>,
    pub(crate) accounts: BTreeMap<String, Account>,
    pub(crate) tokens: BTreeMap<String, String>,
    pub(crate) allow_basic: bool,
    pub(crate) sync_states: HashMap<String, SyncState>,
    pub(crate) next_state: u64,
    pub(crate) busy: Option<(u32, u64)>,
    pub(crate) counts: BTreeMap<String, u64>,
    pub(crate) anchors: Vec<Option<String>>,
    pub(crate) versions: Vec<String>,
    pub(crate) challenges: VecDeque<[u8; 8]>,
    pub(crate) challenge_counter: u64,
    pub(crate) seq: u64,
}

impl Data {
    pub(crate) fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// The handle tests use to seed and inspect the fake and to make it misbehave. Cheap to clone.
#[derive(Clone)]
pub struct EwsFake {
    data: Arc<Mutex<Data>>,
    controls: Controls,
    config: EwsFakeConfig,
}

impl std::fmt::Debug for EwsFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsFake").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Default for EwsFake {
    fn default() -> Self {
        EwsFake::new(EwsFakeConfig::default())
    }
}

impl EwsFake {
    /// An empty fake: no mailboxes, no accounts, Basic refused.
    pub fn new(config: EwsFakeConfig) -> EwsFake {
        EwsFake { data: Arc::new(Mutex::new(Data::default())), controls: Controls::new(), config }
    }

    /// A fake with [`DEMO_MAILBOX`] and [`DEMO_ACCOUNT`] (impersonation granted, Basic allowed):
    /// what the `tandem-fakes` binary serves.
    pub fn demo() -> EwsFake {
        let fake = EwsFake::default();
        fake.add_mailbox(DEMO_MAILBOX, "Ann Demo");
        fake.add_service_account(DEMO_ACCOUNT, DEMO_PASSWORD);
        fake.grant_impersonation(DEMO_ACCOUNT, DEMO_MAILBOX);
        fake.allow_basic(true);
        fake
    }

    /// Starts an empty fake with the default config on a loopback port.
    pub async fn start() -> io::Result<(EwsFake, FakeServer)> {
        EwsFake::start_with(EwsFakeConfig::default()).await
    }

    /// Starts an empty fake with `config`.
    pub async fn start_with(config: EwsFakeConfig) -> io::Result<(EwsFake, FakeServer)> {
        let fake = EwsFake::new(config);
        let server = FakeServer::start(router(fake.clone())).await?;
        Ok((fake, server))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shared misbehaviour switches (HTTP-level counters, latency, failures).
    pub fn controls(&self) -> Controls {
        self.controls.clone()
    }

    /// Adds a mailbox (with its default folders); a second call only renames it.
    pub fn add_mailbox(&self, smtp: &str, display: &str) {
        let mut d = self.lock();
        let key = smtp.to_lowercase();
        match d.mailboxes.get_mut(&key) {
            Some(m) => m.display = display.to_owned(),
            None => {
                d.mailboxes.insert(key, Mailbox::new(smtp, display));
            }
        }
    }

    /// Adds (or re-passwords) an account that can authenticate (Basic, NTLM). Its user name is
    /// matched case-insensitively, with or without a `DOMAIN\` prefix. An account named like a
    /// mailbox acts on that mailbox when it does not impersonate.
    pub fn add_service_account(&self, user: &str, password: &str) {
        let mut d = self.lock();
        let grants = d.accounts.get(&user.to_lowercase()).map(|a| a.grants.clone()).unwrap_or_default();
        d.accounts.insert(user.to_lowercase(), Account { password: password.to_owned(), grants });
    }

    /// Grants `account` the ApplicationImpersonation role on `mailbox`.
    pub fn grant_impersonation(&self, account: &str, mailbox: &str) {
        let mut d = self.lock();
        if let Some(a) = d.accounts.get_mut(&account.to_lowercase()) {
            a.grants.insert(mailbox.to_lowercase());
        }
    }

    /// Revokes it.
    pub fn revoke_impersonation(&self, account: &str, mailbox: &str) {
        let mut d = self.lock();
        if let Some(a) = d.accounts.get_mut(&account.to_lowercase()) {
            a.grants.remove(&mailbox.to_lowercase());
        }
    }

    /// Whether Basic authentication is accepted (off by default).
    pub fn allow_basic(&self, allow: bool) {
        self.lock().allow_basic = allow;
    }

    /// Accepts `Authorization: Bearer <token>` as `principal`: a mailbox (acting on itself) or an
    /// account added with [`EwsFake::add_service_account`] (whose grants apply).
    pub fn add_bearer_token(&self, token: &str, principal: &str) {
        self.lock().tokens.insert(token.to_owned(), principal.to_lowercase());
    }

    /// Makes every sync state issued so far invalid (`ErrorInvalidSyncStateData`).
    pub fn expire_sync_states(&self) {
        self.lock().sync_states.clear();
    }

    /// Answers the next `n` authenticated calls with the `ErrorServerBusy` fault carrying
    /// `BackOffMilliseconds = backoff_ms`.
    pub fn server_busy_next(&self, n: u32, backoff_ms: u64) {
        self.lock().busy = (n > 0).then_some((n, backoff_ms));
    }

    /// Calls per EWS operation (authenticated, parsed requests; `"<invalid>"` for faults).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.lock().counts.clone()
    }

    /// Calls of `operation`.
    pub fn count(&self, operation: &str) -> u64 {
        self.lock().counts.get(operation).copied().unwrap_or(0)
    }

    /// The `X-AnchorMailbox` header of every request, in order (`None` when absent).
    pub fn anchor_mailboxes(&self) -> Vec<Option<String>> {
        self.lock().anchors.clone()
    }

    /// The `RequestServerVersion` of every parsed request, in order.
    pub fn requested_versions(&self) -> Vec<String> {
        self.lock().versions.clone()
    }

    /// The `EwsId` of a distinguished folder (`contacts`, `calendar`, `msgfolderroot`, …).
    pub fn folder_id(&self, mailbox: &str, distinguished: &str) -> Option<String> {
        let d = self.lock();
        let m = d.mailboxes.get(&mailbox.to_lowercase())?;
        let num = m.distinguished(distinguished)?;
        Some(ids::encode(&m.raw(Kind::Folder, num), ids::Format::EwsId))
    }

    /// The `EwsId` of the folder named `name` (display name), if any.
    pub fn folder_id_by_name(&self, mailbox: &str, name: &str) -> Option<String> {
        let d = self.lock();
        let m = d.mailboxes.get(&mailbox.to_lowercase())?;
        let f = m.folders.values().find(|f| f.name == name)?;
        Some(ids::encode(&m.raw(Kind::Folder, f.num), ids::Format::EwsId))
    }

    /// Creates an item as a person would in Outlook, from `item_xml` (a `<t:Contact>` or
    /// `<t:CalendarItem>` element with `xmlns:t` declared, as in a `CreateItem`), in `folder` (a
    /// distinguished name or an `EwsId`). Returns the new item's view.
    pub fn seed_item_xml(&self, mailbox: &str, folder: &str, item_xml: &str) -> Result<ItemView, String> {
        let element = xml::parse(item_xml).map_err(|e| e.message)?;
        let mut d = self.lock();
        let num = ops::seed(&mut d, &mailbox.to_lowercase(), folder, &element)?;
        ops::view(&d, &mailbox.to_lowercase(), num).ok_or_else(|| "vanished".to_owned())
    }

    /// Creates a contact with these simple fields (`GivenName`, `Surname`, `CompanyName`, …;
    /// `EmailAddress1` is shorthand for the first email entry) in the default Contacts folder.
    pub fn add_contact(&self, mailbox: &str, fields: &[(&str, &str)]) -> Result<ItemView, String> {
        let mut body = String::new();
        let mut emails = String::new();
        for (k, v) in fields {
            if let Some(n) = k.strip_prefix("EmailAddress") {
                emails.push_str(&format!("<t:Entry Key=\"EmailAddress{n}\">{}</t:Entry>", xml::escape(v)));
            } else {
                body.push_str(&format!("<t:{k}>{}</t:{k}>", xml::escape(v)));
            }
        }
        if !emails.is_empty() {
            body.push_str(&format!("<t:EmailAddresses>{emails}</t:EmailAddresses>"));
        }
        let doc = format!("<t:Contact xmlns:t=\"{}\">{body}</t:Contact>", xml::NS_T);
        self.seed_item_xml(mailbox, "contacts", &doc)
    }

    /// Creates a single calendar item in the default calendar.
    pub fn add_calendar_item(&self, mailbox: &str, subject: &str, start: &str, end: &str) -> Result<ItemView, String> {
        let doc = format!(
            "<t:CalendarItem xmlns:t=\"{}\"><t:Subject>{}</t:Subject><t:Start>{}</t:Start><t:End>{}</t:End></t:CalendarItem>",
            xml::NS_T,
            xml::escape(subject),
            xml::escape(start),
            xml::escape(end)
        );
        self.seed_item_xml(mailbox, "calendar", &doc)
    }

    /// The item with `EwsId` `id`.
    pub fn item(&self, mailbox: &str, id: &str) -> Option<ItemView> {
        let d = self.lock();
        let raw = ids::decode(id, ids::Format::EwsId)?;
        ops::view(&d, &mailbox.to_lowercase(), raw.num)
    }

    /// Every item in `folder` (a distinguished name or an `EwsId`).
    pub fn items(&self, mailbox: &str, folder: &str) -> Vec<ItemView> {
        let d = self.lock();
        let mbx = mailbox.to_lowercase();
        let Some(m) = d.mailboxes.get(&mbx) else { return Vec::new() };
        let Some(f) = ops::resolve_folder_name(m, folder) else { return Vec::new() };
        m.items.values().filter(|i| i.folder == f).filter_map(|i| ops::view(&d, &mbx, i.num)).collect()
    }

    /// Sets (or with `None` removes) the simple property `field` of an item, as a person editing
    /// it would: the change key advances.
    pub fn edit_item(&self, mailbox: &str, id: &str, field: &str, value: Option<&str>) -> Result<ItemView, String> {
        let raw = ids::decode(id, ids::Format::EwsId).ok_or("malformed id")?;
        let mbx = mailbox.to_lowercase();
        let mut d = self.lock();
        let seq = d.bump();
        let item = d.mailboxes.get_mut(&mbx).and_then(|m| m.items.get_mut(&raw.num)).ok_or("no such item")?;
        item.props.retain(|p| p.name != field);
        if let Some(v) = value {
            item.props.push(Element::t(field).with_text(v));
        }
        ops::touch(item, seq);
        ops::view(&d, &mbx, raw.num).ok_or_else(|| "vanished".to_owned())
    }

    /// Edits occurrence `index` (1-based) of the recurring master `master_id` as a person would:
    /// the occurrence becomes an exception with `field` set (or removed), the master's change key
    /// advances.
    pub fn edit_occurrence(
        &self,
        mailbox: &str,
        master_id: &str,
        index: u32,
        field: &str,
        value: Option<&str>,
    ) -> Result<ItemView, String> {
        let raw = ids::decode(master_id, ids::Format::EwsId).ok_or("malformed id")?;
        let mbx = mailbox.to_lowercase();
        let mut d = self.lock();
        let seq = d.bump();
        ops::edit_occurrence(&mut d, &mbx, raw.num, index, field, value, seq)?;
        ops::view(&d, &mbx, raw.num).ok_or_else(|| "vanished".to_owned())
    }

    /// Deletes occurrence `index` (1-based) of a recurring master as a person would.
    pub fn delete_occurrence(&self, mailbox: &str, master_id: &str, index: u32) -> Result<ItemView, String> {
        let raw = ids::decode(master_id, ids::Format::EwsId).ok_or("malformed id")?;
        let mbx = mailbox.to_lowercase();
        let mut d = self.lock();
        let seq = d.bump();
        let item = d.mailboxes.get_mut(&mbx).and_then(|m| m.items.get_mut(&raw.num)).ok_or("no such item")?;
        if recur::occurrence(&item.props, index).is_none() {
            return Err("no such occurrence".to_owned());
        }
        item.exceptions.remove(&index);
        item.deleted.insert(index);
        ops::touch(item, seq);
        ops::view(&d, &mbx, raw.num).ok_or_else(|| "vanished".to_owned())
    }

    /// Deletes an item as a person would (hard delete).
    pub fn delete_item(&self, mailbox: &str, id: &str) -> bool {
        let Some(raw) = ids::decode(id, ids::Format::EwsId) else { return false };
        let mut d = self.lock();
        d.mailboxes.get_mut(&mailbox.to_lowercase()).and_then(|m| m.items.remove(&raw.num)).is_some()
    }
}

/// The router of `fake`: the EWS endpoint (any case) behind the fake's [`Controls`] and
/// concurrency cap.
pub fn router(fake: EwsFake) -> Router {
    let controls = fake.controls.clone();
    let busy = ops::fault(
        "ErrorServerBusy",
        "The server cannot service this request right now. Try again later.",
        Some(fake.config.concurrency_backoff_ms),
    );
    let key = key_fn(|req| {
        let h = req.headers();
        h.get("x-anchormailbox")
            .or_else(|| h.get(header::AUTHORIZATION))
            .and_then(|v| v.to_str().ok())
            .map(str::to_lowercase)
            .or_else(|| Some("anonymous".to_owned()))
    });
    let mut cap = ConcurrencyCap::new(
        fake.config.max_concurrency,
        key,
        CannedResponse::xml(StatusCode::INTERNAL_SERVER_ERROR, busy),
    );
    cap.retry_after_secs = None;
    controls.set_concurrency_cap(Some(cap));
    let app = Router::new().fallback(handle).with_state(fake);
    controls.wrap(app)
}

/// `POST /EWS/Exchange.asmx` and nothing else.
async fn handle(State(fake): State<EwsFake>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if !uri.path().eq_ignore_ascii_case("/ews/exchange.asmx") {
        return (StatusCode::NOT_FOUND, "The resource cannot be found.").into_response();
    }
    if method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "").into_response();
    }
    let principal = match authenticate(&fake, &headers) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let anchor = headers.get("x-anchormailbox").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, xml) = {
        let mut d = fake.lock();
        d.anchors.push(anchor);
        ops::dispatch(&mut d, &principal, &body)
    };
    let mut resp = (status, xml).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/xml; charset=utf-8"));
    resp
}

fn unauthorized(allow_basic: bool, extra: Option<String>) -> Response {
    let mut resp = (StatusCode::UNAUTHORIZED, "").into_response();
    let h = resp.headers_mut();
    let mut values = Vec::new();
    match extra {
        Some(challenge) => values.push(challenge),
        None => {
            values.push("Negotiate".to_owned());
            values.push("NTLM".to_owned());
            if allow_basic {
                values.push("Basic realm=\"127.0.0.1\"".to_owned());
            }
        }
    }
    for v in values {
        if let Ok(v) = axum::http::HeaderValue::try_from(v) {
            h.append(header::WWW_AUTHENTICATE, v);
        }
    }
    h.insert("x-powered-by", axum::http::HeaderValue::from_static("ASP.NET"));
    resp
}

fn account_key(d: &Data, user: &str) -> Option<String> {
    let user = user.to_lowercase();
    let bare = user.rsplit_once('\\').map(|(_, u)| u.to_owned()).unwrap_or_else(|| user.clone());
    [user, bare].into_iter().find(|u| d.accounts.contains_key(u))
}

/// The principal (account key or mailbox) a request authenticates as, or the 401 to answer.
#[allow(clippy::result_large_err)] // the Err is the response itself, built once per request
fn authenticate(fake: &EwsFake, headers: &HeaderMap) -> Result<String, Response> {
    let mut d = fake.lock();
    let allow_basic = d.allow_basic;
    let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized(allow_basic, None));
    };
    let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    let rest = rest.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "basic" if allow_basic => {
            let decoded = STANDARD.decode(rest).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
            let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
            match account_key(&d, user) {
                Some(k) if d.accounts.get(&k).is_some_and(|a| a.password == password) => Ok(k),
                _ => Err(unauthorized(allow_basic, None)),
            }
        }
        "bearer" => d.tokens.get(rest).cloned().ok_or_else(|| unauthorized(allow_basic, None)),
        "ntlm" | "negotiate" => {
            let token = STANDARD.decode(rest).unwrap_or_default();
            match ntlm::parse(&token) {
                Some(ntlm::Message::Negotiate { flags }) => {
                    d.challenge_counter += 1;
                    let seed = d.challenge_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x0005_EED0_FEC5;
                    let challenge = seed.to_le_bytes();
                    d.challenges.push_back(challenge);
                    while d.challenges.len() > 256 {
                        d.challenges.pop_front();
                    }
                    let filetime = u64::try_from(Utc::now().timestamp())
                        .unwrap_or(0)
                        .saturating_add(11_644_473_600)
                        .saturating_mul(10_000_000);
                    let msg = ntlm::challenge_message(flags, challenge, filetime);
                    Err(unauthorized(
                        allow_basic,
                        Some(format!(
                            "{} {}",
                            if scheme.eq_ignore_ascii_case("ntlm") { "NTLM" } else { "Negotiate" },
                            STANDARD.encode(msg)
                        )),
                    ))
                }
                Some(ntlm::Message::Authenticate(auth)) => {
                    let Some(k) = account_key(&d, &auth.user) else { return Err(unauthorized(allow_basic, None)) };
                    let password = d.accounts.get(&k).map(|a| a.password.clone()).unwrap_or_default();
                    let pos = d.challenges.iter().position(|c| ntlm::verify(&auth, &password, c));
                    match pos {
                        Some(i) => {
                            d.challenges.remove(i);
                            Ok(k)
                        }
                        None => Err(unauthorized(allow_basic, None)),
                    }
                }
                None => Err(unauthorized(allow_basic, None)),
            }
        }
        _ => Err(unauthorized(allow_basic, None)),
    }
}
