//! The EWS fake over raw SOAP: authentication (Basic, bearer, NTLM), impersonation, every
//! operation's happy path and refusals, SyncFolderItems paging and expiry, change-key conflicts,
//! ServerBusy, and faults (never a panic) on malformed input.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use tandem_testkit::ews::{EwsFake, EwsFakeConfig, IdFormat, convert_id};
use tandem_testkit::server::FakeServer;

const MB: &str = "ann@contoso.example";
const OTHER: &str = "bob@contoso.example";
const SVC: &str = "svc-tandem";
const PW: &str = "S3cret!pw";
const T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
const M: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";

struct Env {
    fake: EwsFake,
    server: FakeServer,
    http: reqwest::Client,
}

async fn env() -> Env {
    let (fake, server) = EwsFake::start().await.unwrap();
    fake.add_mailbox(MB, "Ann Demo");
    fake.add_mailbox(OTHER, "Bob Other");
    fake.add_service_account(SVC, PW);
    fake.grant_impersonation(SVC, MB);
    fake.allow_basic(true);
    Env { fake, server, http: reqwest::Client::new() }
}

fn envelope(impersonate: Option<&str>, body: &str) -> String {
    let imp = impersonate
        .map(|m| format!("<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{m}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="{T}" xmlns:m="{M}"><soap:Header><t:RequestServerVersion Version="Exchange2016"/>{imp}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

impl Env {
    fn basic(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{SVC}:{PW}")))
    }

    async fn raw(&self, auth: Option<&str>, path: &str, body: String) -> (u16, String, reqwest::header::HeaderMap) {
        let mut r = self
            .http
            .post(self.server.url(path))
            .header("content-type", "text/xml; charset=utf-8")
            .header("X-AnchorMailbox", MB);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let resp = r.body(body).send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.text().await.unwrap(), headers)
    }

    /// Calls as the service account impersonating MB.
    async fn call(&self, body: &str) -> (u16, String) {
        let (s, b, _) = self.raw(Some(&self.basic()), "/EWS/Exchange.asmx", envelope(Some(MB), body)).await;
        (s, b)
    }
}

/// The first value of attribute `attr` on element `el` (e.g. `t:ItemId`, `Id`).
fn attr(xml: &str, el: &str, attr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&format!("<{el} ")) {
        rest = &rest[i..];
        let end = rest.find('>').unwrap();
        let tag = &rest[..end];
        if let Some(j) = tag.find(&format!(" {attr}=\"")) {
            let v = &tag[j + attr.len() + 3..];
            out.push(v[..v.find('"').unwrap()].to_owned());
        }
        rest = &rest[end..];
    }
    out
}

fn text<'a>(xml: &'a str, el: &str) -> Option<&'a str> {
    let open = format!("<{el}>");
    let i = xml.find(&open)? + open.len();
    let j = xml[i..].find(&format!("</{el}>"))?;
    Some(&xml[i..i + j])
}

fn contact_xml(given: &str, key: &str) -> String {
    format!(
        r#"<t:Contact><t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="TandemKey" PropertyType="String"/><t:Value>{key}</t:Value></t:ExtendedProperty><t:GivenName>{given}</t:GivenName><t:CompanyName>Contoso</t:CompanyName><t:EmailAddresses><t:Entry Key="EmailAddress1">{given}@example.com</t:Entry></t:EmailAddresses><t:PhoneNumbers><t:Entry Key="MobilePhone">+1 555 0100</t:Entry></t:PhoneNumbers><t:Surname>Tester</t:Surname></t:Contact>"#
    )
}

async fn create_contact(env: &Env, given: &str) -> (String, String) {
    let (s, b) = env
        .call(&format!(
            r#"<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId><m:Items>{}</m:Items></m:CreateItem>"#,
            contact_xml(given, &format!("key-{given}"))
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("ResponseClass=\"Success\""), "{b}");
    (attr(&b, "t:ItemId", "Id")[0].clone(), attr(&b, "t:ItemId", "ChangeKey")[0].clone())
}

#[tokio::test]
async fn auth_schemes_and_impersonation() {
    let env = env().await;
    let body = envelope(
        Some(MB),
        r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder>"#,
    );
    // No credentials: 401 with IIS's challenges.
    let (s, _, h) = env.raw(None, "/EWS/Exchange.asmx", body.clone()).await;
    assert_eq!(s, 401);
    let challenges: Vec<_> = h.get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(challenges.contains(&"Negotiate".to_owned()) && challenges.contains(&"NTLM".to_owned()), "{challenges:?}");
    assert!(challenges.iter().any(|c| c.starts_with("Basic")));
    // Basic works, on any case of the path.
    let (s, b, _) = env.raw(Some(&env.basic()), "/ews/exchange.asmx", body.clone()).await;
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("ServerVersionInfo") && b.contains("NoError"), "{b}");
    assert_eq!(env.fake.anchor_mailboxes().last().cloned().flatten().as_deref(), Some(MB));
    assert_eq!(env.fake.requested_versions().last().map(String::as_str), Some("Exchange2016"));
    // Basic off: refused, and no longer offered.
    env.fake.allow_basic(false);
    let (s, _, h) = env.raw(Some(&env.basic()), "/EWS/Exchange.asmx", body.clone()).await;
    assert_eq!(s, 401);
    assert!(h.get_all("www-authenticate").iter().all(|v| !v.to_str().unwrap().starts_with("Basic")));
    // Wrong password.
    env.fake.allow_basic(true);
    let bad = format!("Basic {}", STANDARD.encode(format!("{SVC}:nope")));
    assert_eq!(env.raw(Some(&bad), "/EWS/Exchange.asmx", body.clone()).await.0, 401);
    // Bearer: unknown refused, known accepted.
    assert_eq!(env.raw(Some("Bearer nope"), "/EWS/Exchange.asmx", body.clone()).await.0, 401);
    env.fake.add_bearer_token("tok-1", SVC);
    assert_eq!(env.raw(Some("Bearer tok-1"), "/EWS/Exchange.asmx", body.clone()).await.0, 200);
    // Impersonation denied for a mailbox without a grant; unknown mailbox.
    let (s, b, _) = env.raw(Some(&env.basic()), "/EWS/Exchange.asmx", body.replace(MB, OTHER)).await;
    assert_eq!(s, 500);
    assert!(b.contains("a:ErrorImpersonateUserDenied"), "{b}");
    let (s, b, _) = env.raw(Some(&env.basic()), "/EWS/Exchange.asmx", body.replace(MB, "nobody@contoso.example")).await;
    assert_eq!(s, 500);
    assert!(b.contains("ErrorNonExistentMailbox"), "{b}");
    // A bearer token bound to a mailbox acts on it without impersonation.
    env.fake.add_bearer_token("tok-bob", OTHER);
    let own = body.replace(&format!("<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{MB}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"), "");
    assert_eq!(env.raw(Some("Bearer tok-bob"), "/EWS/Exchange.asmx", own).await.0, 200);
}

#[tokio::test]
async fn ntlm_handshake() {
    let env = env().await;
    env.fake.allow_basic(false);
    let body = envelope(
        Some(MB),
        r#"<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>"#,
    );
    // Type 1 (NEGOTIATE).
    let mut t1 = b"NTLMSSP\0".to_vec();
    t1.extend_from_slice(&1u32.to_le_bytes());
    t1.extend_from_slice(&0x0008_8207u32.to_le_bytes());
    t1.extend_from_slice(&[0u8; 16]);
    let (s, _, h) = env.raw(Some(&format!("NTLM {}", STANDARD.encode(&t1))), "/EWS/Exchange.asmx", body.clone()).await;
    assert_eq!(s, 401);
    let challenge = h.get("www-authenticate").unwrap().to_str().unwrap().strip_prefix("NTLM ").unwrap().to_owned();
    let t2 = STANDARD.decode(challenge).unwrap();
    assert_eq!(&t2[..8], b"NTLMSSP\0");
    // Type 3 with the right password, then with a wrong one.
    let good = ntlm_client::authenticate(SVC, "TANDEM", PW, &t2);
    let (s, b, _) = env.raw(Some(&format!("NTLM {}", STANDARD.encode(good))), "/EWS/Exchange.asmx", body.clone()).await;
    assert_eq!(s, 200, "{b}");
    let bad = ntlm_client::authenticate(SVC, "TANDEM", "wrong", &t2);
    assert_eq!(env.raw(Some(&format!("NTLM {}", STANDARD.encode(bad))), "/EWS/Exchange.asmx", body).await.0, 401);
}

/// A minimal NTLMv2 client for the handshake test (MS-NLMP 3.3.2).
mod ntlm_client {
    use hmac::{KeyInit, Mac};
    use md4::Digest as _;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <hmac::Hmac<md5::Md5> as KeyInit>::new_from_slice(key).unwrap();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }

    pub(crate) fn authenticate(user: &str, domain: &str, password: &str, type2: &[u8]) -> Vec<u8> {
        let challenge = &type2[24..32];
        let ntowf =
            hmac_md5(&md4::Md4::digest(utf16(password)), &[&utf16(&format!("{}{domain}", user.to_uppercase()))]);
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&[0u8; 8]);
        blob.extend_from_slice(&[9u8; 8]);
        blob.extend_from_slice(&[0u8; 8]);
        let nt: Vec<u8> = hmac_md5(&ntowf, &[challenge, &blob]).into_iter().chain(blob).collect();
        let mut out = b"NTLMSSP\0".to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        let mut payload: Vec<u8> = Vec::new();
        for data in [&[][..], &nt, &utf16(domain), &utf16(user), &[], &[]] {
            let len = data.len() as u16;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(64 + payload.len() as u32).to_le_bytes());
            payload.extend_from_slice(data);
        }
        out.extend_from_slice(&0x0008_8201u32.to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }
}

#[tokio::test]
async fn folders() {
    let env = env().await;
    let (s, b) = env
        .call(r#"<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="contacts"/><t:DistinguishedFolderId Id="calendar"/><t:DistinguishedFolderId Id="msgfolderroot"/><t:FolderId Id="AAMkAGJhZA=="/></m:FolderIds></m:GetFolder>"#)
        .await;
    assert_eq!(s, 200);
    assert!(b.contains("<t:ContactsFolder>") && b.contains("<t:CalendarFolder>") && b.contains("IPF.Contact"), "{b}");
    assert_eq!(b.matches("ResponseClass=\"Success\"").count(), 3, "{b}");
    assert!(b.contains("ErrorInvalidIdMalformed"), "{b}");
    let create = r#"<m:CreateFolder><m:ParentFolderId><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderId><m:Folders><t:ContactsFolder><t:DisplayName>Tandem</t:DisplayName></t:ContactsFolder></m:Folders></m:CreateFolder>"#;
    let (_, b) = env.call(create).await;
    assert!(b.contains("NoError"), "{b}");
    let folder = attr(&b, "t:FolderId", "Id")[0].clone();
    assert_eq!(env.fake.folder_id_by_name(MB, "Tandem"), Some(folder.clone()));
    let (_, b) = env.call(create).await;
    assert!(b.contains("ErrorFolderExists"), "{b}");
    let (_, b) = env
        .call(r#"<m:FindFolder Traversal="Deep"><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:ParentFolderIds><t:DistinguishedFolderId Id="msgfolderroot"/></m:ParentFolderIds></m:FindFolder>"#)
        .await;
    assert!(b.contains("Tandem") && b.contains("TotalItemsInView="), "{b}");
    assert_eq!(env.fake.count("FindFolder"), 1);
}

#[tokio::test]
async fn contact_crud_conflicts_and_find_by_key() {
    let env = env().await;
    let (id, ck) = create_contact(&env, "Ada").await;
    let view = env.fake.item(MB, &id).unwrap();
    assert_eq!(view.fields.get("GivenName").map(String::as_str), Some("Ada"));
    assert_eq!(view.change_key, ck);
    // GetItem IdOnly + additional properties, in schema order; a bad id in the same batch.
    let (_, b) = env
        .call(&format!(
            r#"<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="contacts:Surname"/><t:FieldURI FieldURI="contacts:GivenName"/><t:IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="EmailAddress1"/><t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="TandemKey" PropertyType="String"/></t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="{id}"/><t:ItemId Id="AAMkAGJhZA=="/></m:ItemIds></m:GetItem>"#
        ))
        .await;
    let given = b.find("<t:GivenName>").unwrap();
    assert!(
        given < b.find("<t:EmailAddresses>").unwrap()
            && b.find("<t:EmailAddresses>").unwrap() < b.find("<t:Surname>").unwrap(),
        "{b}"
    );
    assert!(b.find("<t:ExtendedProperty>").unwrap() < given, "{b}");
    assert!(!b.contains("CompanyName"), "{b}");
    assert!(b.contains("ErrorInvalidIdMalformed"), "{b}");
    // Update with the current key: the key advances.
    let update = |ck: &str, res: &str| {
        format!(
            r#"<m:UpdateItem ConflictResolution="{res}" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange><t:ItemId Id="{id}" ChangeKey="{ck}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="contacts:JobTitle"/><t:Contact><t:JobTitle>Engineer</t:JobTitle></t:Contact></t:SetItemField><t:SetItemField><t:IndexedFieldURI FieldURI="contacts:PhoneNumber" FieldIndex="BusinessPhone"/><t:Contact><t:PhoneNumbers><t:Entry Key="BusinessPhone">+1 555 0199</t:Entry></t:PhoneNumbers></t:Contact></t:SetItemField><t:DeleteItemField><t:FieldURI FieldURI="contacts:CompanyName"/></t:DeleteItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#
        )
    };
    let (_, b) = env.call(&update(&ck, "AutoResolve")).await;
    assert!(b.contains("NoError") && b.contains("<t:Count>0</t:Count>"), "{b}");
    let ck2 = attr(&b, "t:ItemId", "ChangeKey")[0].clone();
    assert_ne!(ck, ck2);
    let v = env.fake.item(MB, &id).unwrap();
    assert_eq!(v.fields.get("JobTitle").map(String::as_str), Some("Engineer"));
    assert!(!v.fields.contains_key("CompanyName"));
    assert!(v.xml.contains("MobilePhone") && v.xml.contains("BusinessPhone"), "{}", v.xml);
    // Stale key: conflict unless AlwaysOverwrite; no key at all: required.
    for res in ["NeverOverwrite", "AutoResolve"] {
        let (_, b) = env.call(&update(&ck, res)).await;
        assert!(b.contains("ErrorIrresolvableConflict"), "{b}");
    }
    let (_, b) = env.call(&update(&ck, "AlwaysOverwrite")).await;
    assert!(b.contains("NoError"), "{b}");
    let (_, b) = env.call(&update(&ck, "AutoResolve").replace(&format!(" ChangeKey=\"{ck}\""), "")).await;
    assert!(b.contains("ErrorChangeKeyRequiredForWriteOperations"), "{b}");
    let (_, b) = env.call(&update(&ck, "AlwaysOverwrite").replace(&format!(" ChangeKey=\"{ck}\""), "")).await;
    assert!(b.contains("NoError"), "AlwaysOverwrite needs no change key: {b}");
    // A person edits it: the key advances and ours is stale.
    let before = env.fake.item(MB, &id).unwrap().change_key;
    let after = env.fake.edit_item(MB, &id, "Department", Some("R&D")).unwrap().change_key;
    assert_ne!(before, after);
    let (_, b) = env.call(&update(&before, "NeverOverwrite")).await;
    assert!(b.contains("ErrorIrresolvableConflict"), "{b}");
    // FindItem by the idempotency key.
    let (_, b) = env
        .call(r#"<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="10" Offset="0" BasePoint="Beginning"/><m:Restriction><t:IsEqualTo><t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="TandemKey" PropertyType="String"/><t:FieldURIOrConstant><t:Constant Value="key-Ada"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>"#)
        .await;
    assert!(b.contains("TotalItemsInView=\"1\"") && b.contains(&id), "{b}");
    // Delete, then it is gone.
    let (_, b) = env
        .call(&format!(
            r#"<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="{id}"/></m:ItemIds></m:DeleteItem>"#
        ))
        .await;
    assert!(b.contains("NoError"), "{b}");
    let (_, b) = env
        .call(&format!(
            r#"<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="{id}"/></m:ItemIds></m:DeleteItem>"#
        ))
        .await;
    assert!(b.contains("ErrorItemNotFound"), "{b}");
    assert!(env.fake.item(MB, &id).is_none());
}

#[tokio::test]
async fn calendar_items_need_meeting_attributes() {
    let env = env().await;
    let item = r#"<t:CalendarItem><t:Subject>Review</t:Subject><t:Body BodyType="Text">Agenda</t:Body><t:Start>2026-03-02T09:00:00Z</t:Start><t:End>2026-03-02T10:00:00Z</t:End><t:IsAllDayEvent>false</t:IsAllDayEvent><t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus><t:Location>Room 1</t:Location><t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-03-02</t:StartDate><t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence><t:StartTimeZone Id="W. Europe Standard Time"/><t:EndTimeZone Id="W. Europe Standard Time"/></t:CalendarItem>"#;
    let (_, b) = env.call(&format!("<m:CreateItem><m:Items>{item}</m:Items></m:CreateItem>")).await;
    assert!(b.contains("ErrorSendMeetingInvitationsRequired"), "{b}");
    let (_, b) = env.call(&format!(r#"<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items>{item}</m:Items></m:CreateItem>"#)).await;
    assert!(b.contains("NoError") && b.contains("<t:CalendarItem>"), "{b}");
    let id = attr(&b, "t:ItemId", "Id")[0].clone();
    let ck = attr(&b, "t:ItemId", "ChangeKey")[0].clone();
    let v = env.fake.item(MB, &id).unwrap();
    assert!(v.xml.contains("<t:CalendarItemType>RecurringMaster</t:CalendarItemType>"), "{}", v.xml);
    let upd = format!(
        r#"<m:UpdateItem ConflictResolution="AutoResolve"><m:ItemChanges><t:ItemChange><t:ItemId Id="{id}" ChangeKey="{ck}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>Review 2</t:Subject></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#
    );
    let (_, b) = env.call(&upd).await;
    assert!(b.contains("ErrorSendMeetingInvitationsOrCancellationsRequired"), "{b}");
    let (_, b) = env
        .call(&upd.replace("<m:UpdateItem ", "<m:UpdateItem SendMeetingInvitationsOrCancellations=\"SendToNone\" "))
        .await;
    assert!(b.contains("NoError"), "{b}");
    let del = format!(
        r#"<m:DeleteItem DeleteType="MoveToDeletedItems"><m:ItemIds><t:ItemId Id="{id}"/></m:ItemIds></m:DeleteItem>"#
    );
    let (_, b) = env.call(&del).await;
    assert!(b.contains("ErrorSendMeetingCancellationsRequired"), "{b}");
    let (_, b) =
        env.call(&del.replace("<m:DeleteItem ", "<m:DeleteItem SendMeetingCancellations=\"SendToNone\" ")).await;
    assert!(b.contains("NoError"), "{b}");
    assert_eq!(env.fake.items(MB, "deleteditems").len(), 1);
}

fn sync(state: Option<&str>, max: u32) -> String {
    let state = state.map(|s| format!("<m:SyncState>{s}</m:SyncState>")).unwrap_or_default();
    format!(
        r#"<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>{state}<m:MaxChangesReturned>{max}</m:MaxChangesReturned><m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>"#
    )
}

#[tokio::test]
async fn sync_folder_items_pages_and_expires() {
    let env = env().await;
    for i in 0..600 {
        env.fake.add_contact(MB, &[("GivenName", &format!("P{i}")), ("EmailAddress1", "p@example.com")]).unwrap();
    }
    // 0 and 513 are schema violations.
    for bad in [0, 513] {
        let (s, b) = env.call(&sync(None, bad)).await;
        assert_eq!(s, 500);
        assert!(b.contains("ErrorSchemaValidation"), "{b}");
    }
    let (_, b) = env.call(&sync(None, 512)).await;
    assert_eq!(b.matches("<t:Create>").count(), 512);
    assert_eq!(text(&b, "m:IncludesLastItemInRange"), Some("false"));
    let state = text(&b, "m:SyncState").unwrap().to_owned();
    let (_, b) = env.call(&sync(Some(&state), 512)).await;
    assert_eq!(b.matches("<t:Create>").count(), 88);
    assert_eq!(text(&b, "m:IncludesLastItemInRange"), Some("true"));
    let state = text(&b, "m:SyncState").unwrap().to_owned();
    // Changes since: an edit, a delete, a create.
    let items = env.fake.items(MB, "contacts");
    env.fake.edit_item(MB, &items[0].id, "Surname", Some("Edited")).unwrap();
    assert!(env.fake.delete_item(MB, &items[1].id));
    env.fake.add_contact(MB, &[("GivenName", "New")]).unwrap();
    let (_, b) = env.call(&sync(Some(&state), 10)).await;
    assert_eq!(
        (b.matches("<t:Create>").count(), b.matches("<t:Update>").count(), b.matches("<t:Delete>").count()),
        (1, 1, 1),
        "{b}"
    );
    assert!(b.contains(&items[1].id));
    // Expiry.
    env.fake.expire_sync_states();
    let (s, b) = env.call(&sync(Some(&state), 10)).await;
    assert_eq!(s, 200);
    assert!(b.contains("ErrorInvalidSyncStateData") && b.contains("<m:SyncState/>"), "{b}");
}

#[tokio::test]
async fn server_busy_and_faults() {
    let env = env().await;
    env.fake.server_busy_next(2, 1500);
    let call = r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder>"#;
    for _ in 0..2 {
        let (s, b) = env.call(call).await;
        assert_eq!(s, 500);
        assert!(
            b.contains("a:ErrorServerBusy") && b.contains(r#"<t:Value Name="BackOffMilliseconds">1500</t:Value>"#),
            "{b}"
        );
    }
    assert_eq!(env.call(call).await.0, 200);
    // Not well-formed, wrong version, unknown operation.
    for body in [
        "<not xml".to_owned(),
        envelope(Some(MB), call).replace("Exchange2016", "Exchange2099"),
        envelope(Some(MB), "<m:Frobnicate/>"),
        "<a/>".to_owned(),
    ] {
        let (s, b, _) = env.raw(Some(&env.basic()), "/EWS/Exchange.asmx", body).await;
        assert_eq!(s, 500);
        assert!(b.contains("ErrorSchemaValidation"), "{b}");
    }
}

#[tokio::test]
async fn convert_id_round_trips() {
    let env = env().await;
    let (id, _) = create_contact(&env, "Ids").await;
    let (_, b) = env
        .call(&format!(r#"<m:ConvertId DestinationFormat="EwsLegacyId"><m:SourceIds><t:AlternateId Format="EwsId" Id="{id}" Mailbox="{MB}"/></m:SourceIds></m:ConvertId>"#))
        .await;
    assert!(b.contains("NoError"), "{b}");
    let legacy = attr(&b, "m:AlternateId", "Id")[0].clone();
    assert_eq!(convert_id(&legacy, IdFormat::EwsLegacyId, IdFormat::EwsId), Some(id.clone()));
    let rest = convert_id(&id, IdFormat::EwsId, IdFormat::RestId).unwrap();
    assert_eq!(rest, id.replace('+', "-").replace('/', "_"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn garbage_never_panics(body in prop_oneof![
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[<>a-zA-Z:=\"/ ]{0,80}",
        Just(envelope(Some(MB), "<m:GetItem><m:ItemShape/></m:GetItem>")),
        Just(envelope(Some(MB), "<m:UpdateItem><m:ItemChanges><t:ItemChange/></m:ItemChanges></m:UpdateItem>")),
        Just(envelope(Some(MB), "<m:SyncFolderItems><m:MaxChangesReturned>x</m:MaxChangesReturned></m:SyncFolderItems>")),
    ]) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let env = env().await;
            let (s, _, _) = env.raw(Some(&env.basic()), "/EWS/Exchange.asmx", body).await;
            prop_assert!(s == 200 || s == 500, "status {s}");
            // The server still answers afterwards.
            let (s, _) = env.call(r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder>"#).await;
            prop_assert_eq!(s, 200);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn concurrency_above_the_limit_is_server_busy() {
    let (fake, server) =
        EwsFake::start_with(EwsFakeConfig { max_concurrency: 1, concurrency_backoff_ms: 700 }).await.unwrap();
    fake.add_mailbox(MB, "Ann Demo");
    fake.add_service_account(SVC, PW);
    fake.grant_impersonation(SVC, MB);
    fake.allow_basic(true);
    fake.controls().set_latency(std::time::Duration::from_millis(300));
    let env = Env { fake, server, http: reqwest::Client::new() };
    let call = r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder>"#;
    let (a, b) = tokio::join!(env.call(call), env.call(call));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 500]);
    let busy = if a.0 == 500 { a.1 } else { b.1 };
    assert!(busy.contains("ErrorServerBusy") && busy.contains(">700<"), "{busy}");
    assert_eq!(env.fake.controls().peak_in_flight(&MB.to_lowercase()), 1);
}

#[tokio::test]
async fn recurring_masters_occurrences_and_exceptions() {
    let env = env().await;
    // Weekly on Mondays, five occurrences from 2026-03-02.
    let item = r#"<t:CalendarItem><t:Subject>Standup</t:Subject><t:Start>2026-03-02T09:00:00Z</t:Start><t:End>2026-03-02T09:15:00Z</t:End><t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-03-02</t:StartDate><t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence></t:CalendarItem>"#;
    let (_, b) = env
        .call(&format!(r#"<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items>{item}</m:Items></m:CreateItem>"#))
        .await;
    let master = attr(&b, "t:ItemId", "Id")[0].clone();
    let sync_state = {
        let (_, b) = env.call(&sync(None, 10).replace("\"contacts\"", "\"calendar\"")).await;
        text(&b, "m:SyncState").unwrap().to_owned()
    };
    let get_occ = |index: u32| {
        format!(
            r#"<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:ItemIds><t:OccurrenceItemId RecurringMasterId="{master}" InstanceIndex="{index}"/></m:ItemIds></m:GetItem>"#
        )
    };
    let (_, b) = env.call(&get_occ(2)).await;
    assert!(b.contains("<t:CalendarItemType>Occurrence</t:CalendarItemType>"), "{b}");
    assert_eq!(text(&b, "t:Start"), Some("2026-03-09T09:00:00Z"));
    assert_eq!(text(&b, "t:OriginalStart"), Some("2026-03-09T09:00:00Z"));
    assert_eq!(text(&b, "t:IsRecurring"), Some("true"));
    let occ_id = attr(&b, "t:ItemId", "Id")[0].clone();
    let occ_ck = attr(&b, "t:ItemId", "ChangeKey")[0].clone();
    // Out of range.
    let (_, b) = env.call(&get_occ(6)).await;
    assert!(b.contains("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"), "{b}");
    // Updating the occurrence makes an exception.
    let (_, b) = env
        .call(&format!(
            r#"<m:UpdateItem ConflictResolution="AutoResolve" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange><t:ItemId Id="{occ_id}" ChangeKey="{occ_ck}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>2026-03-09T10:00:00Z</t:Start></t:CalendarItem></t:SetItemField><t:SetItemField><t:FieldURI FieldURI="calendar:End"/><t:CalendarItem><t:End>2026-03-09T10:15:00Z</t:End></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#
        ))
        .await;
    assert!(b.contains("NoError"), "{b}");
    let (_, b) = env.call(&get_occ(2)).await;
    assert!(b.contains("<t:CalendarItemType>Exception</t:CalendarItemType>"), "{b}");
    assert_eq!(text(&b, "t:Start"), Some("2026-03-09T10:00:00Z"));
    // Deleting occurrence 3 removes it from the series.
    let (_, b) = env
        .call(&format!(
            r#"<m:DeleteItem DeleteType="HardDelete" SendMeetingCancellations="SendToNone"><m:ItemIds><t:OccurrenceItemId RecurringMasterId="{master}" InstanceIndex="3"/></m:ItemIds></m:DeleteItem>"#
        ))
        .await;
    assert!(b.contains("NoError"), "{b}");
    let (_, b) = env.call(&get_occ(3)).await;
    assert!(b.contains("ErrorCalendarOccurrenceIsDeletedFromRecurrence"), "{b}");
    // A person edits occurrence 4.
    env.fake.edit_occurrence(MB, &master, 4, "Location", Some("Room 9")).unwrap();
    // The master lists them; the occurrences are not items of their own: sync reports an Update.
    let v = env.fake.item(MB, &master).unwrap();
    assert!(v.xml.contains("<t:ModifiedOccurrences><t:Occurrence>"), "{}", v.xml);
    assert_eq!(v.xml.matches("<t:Occurrence>").count(), 2, "{}", v.xml);
    assert!(
        v.xml.contains("<t:DeletedOccurrence><t:Start>2026-03-16T09:00:00Z</t:Start></t:DeletedOccurrence>"),
        "{}",
        v.xml
    );
    assert!(v.xml.contains("<t:IsRecurring>false</t:IsRecurring>"), "{}", v.xml);
    let (_, b) = env.call(&sync(Some(&sync_state), 10).replace("\"contacts\"", "\"calendar\"")).await;
    assert_eq!((b.matches("<t:Update>").count(), b.matches("<t:Create>").count()), (1, 0), "{b}");
    // RecurringMasterItemId from an occurrence id gets the master.
    let (_, b) = env
        .call(&format!(
            r#"<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds><t:RecurringMasterItemId OccurrenceId="{occ_id}"/></m:ItemIds></m:GetItem>"#
        ))
        .await;
    assert_eq!(attr(&b, "t:ItemId", "Id"), vec![master.clone()]);
}
