//! The EWS fake checked from outside: exchangelib (the Python EWS client) drives it over NTLM and
//! Basic with impersonation, and Python's `xmlschema` validates a sample of its responses against
//! Microsoft's `messages.xsd` (`../shared/specs/`).
//!
//! Both need the clients virtualenv made by `.ci/clients-setup` (`TANDEM_CLIENTS_PYTHON`, by
//! default `<repo>/target/clients-venv/bin/python`), like `independent_clients.rs`: when it or the
//! packages are missing the tests fail under `CI` and otherwise pass with a loud message. The
//! schema check runs only where the schema files are (they are Microsoft's, not in the repository).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod clients_common;

use std::io::Write;

use base64::Engine as _;
use clients_common::{python, repo_root, run};
use tandem_testkit::ews::EwsFake;

const MB: &str = "ann@contoso.example";
const SVC: &str = "svc-tandem";
const PW: &str = "Independent-Client-1!";

async fn drive_with_exchangelib(auth: &str) {
    let Some(python) = python(&["exchangelib"], "exchangelib") else { return };
    let (fake, server) = EwsFake::start().await.unwrap();
    fake.add_mailbox(MB, "Ann Demo");
    fake.add_service_account(SVC, PW);
    fake.grant_impersonation(SVC, MB);
    fake.allow_basic(auth == "basic");
    let env = vec![
        ("TANDEM_EWS_URL", server.url("/EWS/Exchange.asmx")),
        ("TANDEM_EWS_USER", format!("TANDEM\\{SVC}")),
        ("TANDEM_EWS_PASSWORD", PW.to_owned()),
        ("TANDEM_EWS_MAILBOX", MB.to_owned()),
        ("TANDEM_EWS_AUTH", auth.to_owned()),
    ];
    run(python, "ews_exchangelib.py", Vec::new(), env).await;
    // What the library wrote is what the fake holds.
    let folder = fake.folder_id_by_name(MB, "Tandem exchangelib").expect("folder created");
    let contacts = fake.items(MB, &folder);
    assert!(
        contacts.iter().any(|c| c.fields.get("GivenName").map(String::as_str) == Some("Kept")
            && c.fields.get("JobTitle").map(String::as_str) == Some("Architect")),
        "{contacts:?}"
    );
    assert!(!contacts.iter().any(|c| c.fields.get("GivenName").map(String::as_str) == Some("Gone")));
    let events = fake.items(MB, "calendar");
    assert!(events.iter().any(|e| e.fields.get("Location").map(String::as_str) == Some("Room 2")), "{events:?}");
    assert!(fake.anchor_mailboxes().iter().any(|a| a.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(MB))));
    assert!(fake.count("SyncFolderItems") >= 3, "{:?}", fake.counts());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchangelib_drives_the_ews_fake_over_ntlm() {
    drive_with_exchangelib("NTLM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchangelib_drives_the_ews_fake_over_basic() {
    drive_with_exchangelib("basic").await;
}

/// Sends one SOAP call as the service account impersonating MB; returns the response text.
async fn call(http: &reqwest::Client, url: &str, body: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{SVC}:{PW}"));
    let envelope = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2013_SP1"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{MB}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    );
    let resp = http
        .post(url)
        .header("authorization", format!("Basic {auth}"))
        .header("content-type", "text/xml; charset=utf-8")
        .body(envelope)
        .send()
        .await
        .unwrap();
    resp.text().await.unwrap()
}

fn first_attr(xml: &str, el: &str, attr: &str) -> String {
    let i = xml.find(&format!("<{el} ")).unwrap_or_else(|| panic!("no {el} in {xml}"));
    let tag = &xml[i..i + xml[i..].find('>').unwrap()];
    let j = tag.find(&format!(" {attr}=\"")).unwrap() + attr.len() + 3;
    tag[j..j + tag[j..].find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_validate_against_messages_xsd() {
    let specs = repo_root().join("../shared/specs");
    if !specs.join("messages.xsd").exists() || !specs.join("types.xsd").exists() {
        // The schemas are Microsoft's and are not in the repository: the check runs where they
        // are (as the Graph CSDL check does) and says so where they are not, CI included.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: the EWS schemas are not at {}; the fake's responses were not validated",
            specs.display()
        );
        return;
    }
    let Some(python) = python(&["xmlschema"], "xmlschema") else { return };
    let (fake, server) = EwsFake::start().await.unwrap();
    fake.add_mailbox(MB, "Ann Demo");
    fake.add_service_account(SVC, PW);
    fake.grant_impersonation(SVC, MB);
    fake.allow_basic(true);
    let http = reqwest::Client::new();
    let url = server.url("/EWS/Exchange.asmx");
    let ext = r#"<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="TandemKey" PropertyType="String"/>"#;
    let mut samples: Vec<(&str, String)> = Vec::new();
    samples.push(("get_folder", call(&http, &url, r#"<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="contacts"/><t:DistinguishedFolderId Id="calendar"/><t:DistinguishedFolderId Id="msgfolderroot"/><t:FolderId Id="AAMkAGJhZA=="/></m:FolderIds></m:GetFolder>"#).await));
    samples.push(("find_folder", call(&http, &url, r#"<m:FindFolder Traversal="Deep"><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:ParentFolderIds><t:DistinguishedFolderId Id="msgfolderroot"/></m:ParentFolderIds></m:FindFolder>"#).await));
    let create_folder = r#"<m:CreateFolder><m:ParentFolderId><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderId><m:Folders><t:ContactsFolder><t:DisplayName>Tandem</t:DisplayName></t:ContactsFolder></m:Folders></m:CreateFolder>"#;
    samples.push(("create_folder", call(&http, &url, create_folder).await));
    samples.push(("create_folder_exists", call(&http, &url, create_folder).await));
    let contact = format!(
        r#"<m:CreateItem><m:Items><t:Contact><t:Body BodyType="Text">Notes here</t:Body><t:ExtendedProperty>{ext}<t:Value>k-1</t:Value></t:ExtendedProperty><t:GivenName>Ada</t:GivenName><t:MiddleName>B</t:MiddleName><t:CompanyName>Contoso</t:CompanyName><t:EmailAddresses><t:Entry Key="EmailAddress1">ada@example.com</t:Entry><t:Entry Key="EmailAddress2">ada2@example.com</t:Entry></t:EmailAddresses><t:PhysicalAddresses><t:Entry Key="Business"><t:Street>1 Main St</t:Street><t:City>Springfield</t:City><t:PostalCode>12345</t:PostalCode></t:Entry></t:PhysicalAddresses><t:PhoneNumbers><t:Entry Key="BusinessPhone">+1 555 0100</t:Entry><t:Entry Key="MobilePhone">+1 555 0101</t:Entry></t:PhoneNumbers><t:AssistantName>Eve</t:AssistantName><t:Birthday>1990-05-01T00:00:00Z</t:Birthday><t:Department>R&amp;D</t:Department><t:JobTitle>Engineer</t:JobTitle><t:Surname>Lovelace</t:Surname></t:Contact></m:Items></m:CreateItem>"#
    );
    let created = call(&http, &url, &contact).await;
    let id = first_attr(&created, "t:ItemId", "Id");
    let ck = first_attr(&created, "t:ItemId", "ChangeKey");
    samples.push(("create_contact", created));
    let event = r#"<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem><t:Subject>Review</t:Subject><t:Body BodyType="HTML">&lt;p&gt;Agenda&lt;/p&gt;</t:Body><t:Categories><t:String>Work</t:String></t:Categories><t:Start>2026-03-02T09:00:00Z</t:Start><t:End>2026-03-02T10:00:00Z</t:End><t:IsAllDayEvent>false</t:IsAllDayEvent><t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus><t:Location>Room 1</t:Location><t:RequiredAttendees><t:Attendee><t:Mailbox><t:EmailAddress>bob@example.com</t:EmailAddress></t:Mailbox></t:Attendee></t:RequiredAttendees><t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-03-02</t:StartDate><t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence><t:StartTimeZone Id="W. Europe Standard Time"/><t:EndTimeZone Id="W. Europe Standard Time"/></t:CalendarItem></m:Items></m:CreateItem>"#;
    let created_event = call(&http, &url, event).await;
    let event_id = first_attr(&created_event, "t:ItemId", "Id");
    samples.push(("create_event", created_event));
    samples.push((
        "create_event_refused",
        call(&http, &url, &event.replace(r#" SendMeetingInvitations="SendToNone""#, "")).await,
    ));
    samples.push(("get_item_all", call(&http, &url, &format!(r#"<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:AdditionalProperties>{ext}</t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="{id}"/><t:ItemId Id="{event_id}"/><t:ItemId Id="AAMkAGJhZA=="/></m:ItemIds></m:GetItem>"#)).await));
    fake.edit_occurrence(MB, &event_id, 2, "Location", Some("Room 9")).unwrap();
    fake.delete_occurrence(MB, &event_id, 3).unwrap();
    samples.push(("get_occurrence", call(&http, &url, &format!(r#"<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:ItemIds><t:OccurrenceItemId RecurringMasterId="{event_id}" InstanceIndex="2"/><t:OccurrenceItemId RecurringMasterId="{event_id}" InstanceIndex="1"/><t:OccurrenceItemId RecurringMasterId="{event_id}" InstanceIndex="3"/><t:OccurrenceItemId RecurringMasterId="{event_id}" InstanceIndex="9"/></m:ItemIds></m:GetItem>"#)).await));
    samples.push(("get_master", call(&http, &url, &format!(r#"<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="{event_id}"/></m:ItemIds></m:GetItem>"#)).await));
    samples.push(("get_item_idonly", call(&http, &url, &format!(r#"<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="contacts:GivenName"/><t:IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="EmailAddress1"/></t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="{id}"/></m:ItemIds></m:GetItem>"#)).await));
    let update = format!(
        r#"<m:UpdateItem ConflictResolution="NeverOverwrite"><m:ItemChanges><t:ItemChange><t:ItemId Id="{id}" ChangeKey="{ck}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="contacts:JobTitle"/><t:Contact><t:JobTitle>Lead</t:JobTitle></t:Contact></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#
    );
    samples.push(("update_item", call(&http, &url, &update).await));
    samples.push(("update_item_conflict", call(&http, &url, &update).await));
    samples.push(("sync", call(&http, &url, r#"<m:SyncFolderItems><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId><m:MaxChangesReturned>512</m:MaxChangesReturned></m:SyncFolderItems>"#).await));
    samples.push(("sync_bad_state", call(&http, &url, r#"<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId><m:SyncState>bm9wZQ==</m:SyncState><m:MaxChangesReturned>5</m:MaxChangesReturned></m:SyncFolderItems>"#).await));
    samples.push(("find_item", call(&http, &url, &format!(r#"<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="10" Offset="0" BasePoint="Beginning"/><m:Restriction><t:IsEqualTo>{ext}<t:FieldURIOrConstant><t:Constant Value="k-1"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>"#)).await));
    samples.push(("convert_id", call(&http, &url, &format!(r#"<m:ConvertId DestinationFormat="EwsLegacyId"><m:SourceIds><t:AlternateId Format="EwsId" Id="{id}" Mailbox="{MB}"/></m:SourceIds></m:ConvertId>"#)).await));
    samples.push((
        "delete_item",
        call(
            &http,
            &url,
            &format!(
                r#"<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="{id}"/></m:ItemIds></m:DeleteItem>"#
            ),
        )
        .await,
    ));
    samples.push((
        "delete_item_missing",
        call(
            &http,
            &url,
            &format!(
                r#"<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="{id}"/></m:ItemIds></m:DeleteItem>"#
            ),
        )
        .await,
    ));

    let dir = std::env::temp_dir().join(format!("tandem-ews-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut args = vec![specs.display().to_string()];
    for (name, xml) in &samples {
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, xml).unwrap();
        args.push(path.display().to_string());
    }
    run(python, "ews_schema_check.py", args, Vec::new()).await;
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await.unwrap();
}
