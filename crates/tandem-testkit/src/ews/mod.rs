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
//!
//! Code map:
//! - `mod.rs`: the public constants and re-exports.
//! - `config.rs`: [`EwsFakeConfig`].
//! - `fake.rs`: the [`EwsFake`] handle: construction, the demo fake, starting, the lock and its [`Controls`].
//! - `accounts.rs`: mailboxes, service accounts, impersonation grants, Basic and bearer tokens.
//! - `failures.rs`: expired sync states and `ErrorServerBusy`.
//! - `counters.rs`: what the fake recorded: calls per operation, anchor mailboxes and requested versions.
//! - `seed.rs`: seeding, reading, editing and deleting items as a person would.
//! - `item_view.rs`: [`ItemKind`] and [`ItemView`], an item as a test sees it.
//! - `data.rs`: what the fake holds: mailboxes, folders, items, accounts, sync states.
//! - `ids_api.rs`: the public id conversion ([`IdFormat`], [`convert_id()`]).
//! - `endpoint.rs`: the [`router()`] and the handler of `POST /EWS/Exchange.asmx`.
//! - `auth.rs`: Basic, bearer and NTLM authentication, and the 401 answer.
//! - `ids.rs`: deterministic ids and change keys.
//! - `ntlm.rs`: the server side of NTLM.
//! - `xml.rs`: the element tree for SOAP requests and item properties.
//! - `recur.rs`: finding the n-th occurrence of a recurring master.
//! - `ops/`: the EWS operations.

mod accounts;
mod auth;
mod config;
mod counters;
mod data;
mod endpoint;
mod failures;
mod fake;
pub(crate) mod ids;
/// Public id conversion, for tests and the Graph fake.
mod ids_api;
mod item_view;
mod ntlm;
mod ops;
pub(crate) mod recur;
mod seed;
pub(crate) mod xml;

#[cfg(doc)]
use crate::server::Controls;

pub use self::config::EwsFakeConfig;
pub(crate) use self::data::{Data, Folder, Item, Mailbox, SyncState};
pub use self::endpoint::router;
pub use self::fake::EwsFake;
pub use self::ids_api::{IdFormat, convert_id};
pub use self::item_view::{ItemKind, ItemView};

/// The largest request body accepted (bigger ones are a schema violation).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// The mailbox of [`EwsFake::demo`].
pub const DEMO_MAILBOX: &str = "ann@contoso.example";
/// The service account of [`EwsFake::demo`].
pub const DEMO_ACCOUNT: &str = "svc-tandem";
/// Its password (test-only).
pub const DEMO_PASSWORD: &str = "Tandem-Demo-1!";
