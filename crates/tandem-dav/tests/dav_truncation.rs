//! RFC 6578 truncation: a `sync-collection` answer with `507` on the collection itself is
//! continued from the token it returned. Neither Radicale (which ignores `DAV:limit`) nor
//! Xandikos (which truncates silently) sends a 507, so this one behaviour is checked against a
//! scripted responder on loopback: a few canned answers, not a DAV server.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use tandem_connector::Connector;
use tandem_connector::http::{HttpClient, HttpConfig, Secret};
use tandem_core::model::ObjectKind;
use tandem_core::state::ChangeKind;
use tandem_dav::dav::{CollectionChoice, DavConfig, DavConnector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const COLLECTION: &str = r#"<?xml version="1.0"?><multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<response><href>/cal/</href><propstat><prop><resourcetype><collection/><C:calendar/></resourcetype>
<sync-token>t0</sync-token></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#;

fn member(name: &str, etag: &str) -> String {
    format!(
        "<response><href>/cal/{name}</href><propstat><prop><getetag>\"{etag}\"</getetag></prop>\
         <status>HTTP/1.1 200 OK</status></propstat></response>"
    )
}

fn event(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n\
         DTSTART:20300101T100000Z\r\nDTEND:20300101T110000Z\r\nSUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// The answer to one request body.
fn answer(method: &str, body: &str) -> String {
    let ms = |inner: String| format!("<?xml version=\"1.0\"?><multistatus xmlns=\"DAV:\">{inner}</multistatus>");
    if method == "PROPFIND" {
        return COLLECTION.to_owned();
    }
    if body.contains("calendar-multiget") {
        let mut inner = String::new();
        for name in ["a.ics", "b.ics"] {
            if body.contains(&format!("/cal/{name}")) {
                inner.push_str(&format!(
                    "<response><href>/cal/{name}</href><propstat><prop><getetag>\"{name}\"</getetag>\
                     <C:calendar-data xmlns:C=\"urn:ietf:params:xml:ns:caldav\">{}</C:calendar-data></prop>\
                     <status>HTTP/1.1 200 OK</status></propstat></response>",
                    event(name)
                ));
            }
        }
        return ms(inner);
    }
    if body.contains("<d:sync-token/>") {
        // The first part, truncated: 507 on the collection.
        let truncated = "<response><href>/cal/</href><status>HTTP/1.1 507 Insufficient Storage</status></response>";
        return ms(format!("{}{truncated}<sync-token>t1</sync-token>", member("a.ics", "a.ics")));
    }
    if body.contains(">t1<") {
        return ms(format!("{}<sync-token>t2</sync-token>", member("b.ics", "b.ics")));
    }
    ms("<sync-token>t2</sync-token>".to_owned())
}

async fn serve(listener: TcpListener, log: Arc<Mutex<Vec<String>>>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else { return };
        let log = log.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let (head_end, length) = loop {
                let n = socket.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
                        .unwrap_or(0);
                    break (at + 4, length);
                }
            };
            while buf.len() < head_end + length {
                let n = socket.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let method = head.split_whitespace().next().unwrap_or_default().to_owned();
            let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
            log.lock().unwrap().push(format!("{method} {body}"));
            let text = answer(&method, &body);
            let response = format!(
                "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_507_continues_from_the_returned_token() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve(listener, log.clone()));
    let config = DavConfig::new(base)
        .with_basic("u", Secret::new("p4ssword"))
        .with_calendar(CollectionChoice::Path("/cal/".into()));
    let http = HttpClient::new(HttpConfig { rate_limit: None, ..HttpConfig::default() }).unwrap();
    let dav = DavConnector::new(config, http).unwrap();

    let page = dav.pull(ObjectKind::Event, None).await.unwrap();
    assert!(page.done);
    let mut ids: Vec<&str> = page.changes.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["/cal/a.ics", "/cal/b.ics"]);
    assert!(page.changes.iter().all(|c| matches!(c.kind, ChangeKind::Upserted { .. })));
    let syncs = log.lock().unwrap().iter().filter(|r| r.contains("sync-collection")).count();
    assert_eq!(syncs, 2, "the truncated answer was continued once");
    let multigets = log.lock().unwrap().iter().filter(|r| r.contains("calendar-multiget")).count();
    assert_eq!(multigets, 1, "both bodies in one multiget");

    // The next round starts from the last token and finds nothing.
    let next = dav.pull(ObjectKind::Event, Some(&page.cursor)).await.unwrap();
    assert!(next.done && next.changes.is_empty());
    assert!(log.lock().unwrap().last().unwrap().contains(">t2<"));
}
