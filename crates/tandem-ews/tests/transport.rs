//! The connector against a tiny canned HTTP server on loopback (Basic auth): what it sends and
//! how it reads the answers. Tests against the EWS fake come with `tandem-testkit`.

// Test helpers outside `#[test]` functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use tandem_connector::http::{HttpClient, Secret};
use tandem_connector::{Connector, WriteOp};
use tandem_core::fields::{FieldKey, FieldValue};
use tandem_core::model::{Contact, ObjectKind, Record};
use tandem_core::plan::FieldChange;
use tandem_core::state::{ChangeKind, IdempotencyKey, RecordId, Version};
use tandem_ews::{EwsAuth, EwsConfig, EwsConnector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Serves `answers` in order, one per connection, recording (headers, body) of each request.
async fn serve(answers: Vec<String>) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        for answer in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = socket.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        let n = socket.read(&mut chunk).await.unwrap();
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    break (head, String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string());
                }
            };
            record.lock().unwrap().push((head, body));
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            socket.write_all(reply.as_bytes()).await.unwrap();
            socket.shutdown().await.ok();
        }
    });
    (format!("http://{addr}/EWS/Exchange.asmx"), seen)
}

fn soap(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:R xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>{inner}</m:ResponseMessages></m:R></s:Body></s:Envelope>"#
    )
}

fn ok(tag: &str, rest: &str) -> String {
    format!(r#"<m:{tag} ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>{rest}</m:{tag}>"#)
}

fn connector(url: &str) -> EwsConnector {
    let auth = EwsAuth::Basic { username: "svc".into(), password: Secret::new("pw") };
    EwsConnector::new(EwsConfig::new(url, "ada@example.com", auth), HttpClient::with_defaults().unwrap()).unwrap()
}

#[tokio::test]
async fn pull_finds_the_folder_syncs_and_reads_items() {
    let answers = vec![
        soap(&ok(
            "FindFolderResponseMessage",
            r#"<m:RootFolder TotalItemsInView="1" IncludesLastItemInRange="true"><t:Folders><t:ContactsFolder><t:FolderId Id="F1" ChangeKey="c"/></t:ContactsFolder></t:Folders></m:RootFolder>"#,
        )),
        soap(&ok(
            "SyncFolderItemsResponseMessage",
            r#"<m:SyncState>STATE1</m:SyncState><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange><m:Changes><t:Create><t:Contact><t:ItemId Id="C1" ChangeKey="K1"/></t:Contact></t:Create><t:Delete><t:ItemId Id="C2"/></t:Delete></m:Changes>"#,
        )),
        soap(&ok(
            "GetItemResponseMessage",
            r#"<m:Items><t:Contact><t:ItemId Id="C1" ChangeKey="K1"/><t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="66f5a359-4659-4830-9070-00047ec6ac6e" PropertyName="TandemSyncId" PropertyType="String"/><t:Value>key-1</t:Value></t:ExtendedProperty><t:GivenName>Ada</t:GivenName><t:Surname>Lovelace</t:Surname></t:Contact></m:Items>"#,
        )),
    ];
    let (url, seen) = serve(answers).await;
    let c = connector(&url);
    let page = c.pull(ObjectKind::Contact, None).await.unwrap();
    assert!(page.done);
    assert_eq!(page.changes.len(), 2);
    assert_eq!(page.changes[0].id.as_str(), "C1");
    assert_eq!(page.changes[0].version.as_str(), "K1");
    assert_eq!(page.changes[0].sync_key.as_ref().map(|k| k.as_str()), Some("key-1"));
    match &page.changes[0].kind {
        ChangeKind::Upserted { record: Record::Contact(contact) } => {
            assert_eq!(contact.given_name.as_deref(), Some("Ada"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(page.changes[1].kind, ChangeKind::Deleted);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for (head, body) in &seen {
        let head = head.to_ascii_lowercase();
        assert!(head.contains("x-anchormailbox: ada@example.com"), "{head}");
        assert!(head.contains("authorization: basic "));
        assert!(body.contains("<t:PrimarySmtpAddress>ada@example.com</t:PrimarySmtpAddress>"));
        assert!(body.contains(r#"<t:RequestServerVersion Version="Exchange2016"/>"#));
    }
    assert!(seen[0].1.contains(r#"<t:Constant Value="Salesforce_Sync"/>"#));
    assert!(seen[1].1.contains("<m:MaxChangesReturned>512</m:MaxChangesReturned>"));
    assert!(seen[1].1.contains(r#"<t:FolderId Id="F1"/>"#));
    assert!(!seen[1].1.contains("<m:SyncState>"), "no state on a first sync");
    assert!(seen[2].1.contains(r#"<t:ItemId Id="C1"/>"#));
}

#[tokio::test]
async fn apply_sends_one_call_per_kind_and_answers_in_order() {
    let answers = vec![
        soap(&ok(
            "FindFolderResponseMessage",
            r#"<m:RootFolder><t:Folders><t:ContactsFolder><t:FolderId Id="F1"/></t:ContactsFolder></t:Folders></m:RootFolder>"#,
        )),
        soap(&ok(
            "CreateItemResponseMessage",
            r#"<m:Items><t:Contact><t:ItemId Id="NEW" ChangeKey="N1"/></t:Contact></m:Items>"#,
        )),
        soap(
            r#"<m:UpdateItemResponseMessage ResponseClass="Error"><m:MessageText>conflict</m:MessageText><m:ResponseCode>ErrorIrresolvableConflict</m:ResponseCode></m:UpdateItemResponseMessage>"#,
        ),
        soap(
            r#"<m:DeleteItemResponseMessage ResponseClass="Error"><m:MessageText>gone</m:MessageText><m:ResponseCode>ErrorItemNotFound</m:ResponseCode></m:DeleteItemResponseMessage>"#,
        ),
    ];
    let (url, seen) = serve(answers).await;
    let c = connector(&url);
    let ops = vec![
        WriteOp::Delete { id: RecordId::new("OLD"), expected: Version::new("D1") },
        WriteOp::Update {
            id: RecordId::new("C1"),
            expected: Version::new("K1"),
            patch: vec![FieldChange { field: FieldKey::GivenName, value: Some(FieldValue::Text("Ada".into())) }],
        },
        WriteOp::Create {
            key: IdempotencyKey("key-9".into()),
            record: Record::Contact(Contact { given_name: Some("Grace".into()), ..Contact::default() }),
        },
    ];
    let results = c.apply(ObjectKind::Contact, &ops).await.unwrap();
    assert_eq!(results[0].as_ref().unwrap().id.as_str(), "OLD", "already gone counts as deleted");
    assert!(matches!(results[1], Err(tandem_connector::ConnectorError::PreconditionFailed { .. })));
    assert_eq!(results[2].as_ref().unwrap().id.as_str(), "NEW");
    let seen = seen.lock().unwrap().clone();
    assert!(seen[1].1.contains("<m:CreateItem><m:SavedItemFolderId><t:FolderId Id=\"F1\"/>"), "{}", seen[1].1);
    assert!(seen[1].1.contains("<t:Value>key-9</t:Value>"));
    assert!(seen[2].1.contains(r#"<m:UpdateItem ConflictResolution="NeverOverwrite">"#));
    assert!(seen[2].1.contains(r#"<t:ItemId Id="C1" ChangeKey="K1"/>"#));
    assert!(seen[3].1.contains(r#"<m:DeleteItem DeleteType="MoveToDeletedItems">"#));
}
