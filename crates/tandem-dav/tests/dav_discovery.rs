//! Discovery against real servers (Radicale, Xandikos): well-known URLs, principal, home sets,
//! the collections of each kind, the configured choice; credentials refused; the connection
//! description the policy checks.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod servers;

use tandem_connector::http::Secret;
use tandem_connector::{Connector, ConnectorError};
use tandem_core::model::ObjectKind;
use tandem_dav::dav::{CollectionChoice, DavConnector};
use tandem_policy::Policy;

use servers::Kind;

async fn discovery(kind: Kind) {
    let Some(server) = servers::start(kind).await else { return };
    let dav = server.connector();
    let calendars = dav.discover(ObjectKind::Event).await.unwrap();
    assert_eq!(calendars.iter().map(|c| c.href.as_str()).collect::<Vec<_>>(), vec![server.calendar.as_str()]);
    assert!(calendars[0].sync_token, "{kind:?} offers sync-collection");
    let books = dav.discover(ObjectKind::Contact).await.unwrap();
    assert_eq!(books.iter().map(|c| c.href.as_str()).collect::<Vec<_>>(), vec![server.address_book.as_str()]);
    assert_eq!(dav.collection(ObjectKind::Event).await.unwrap().href, server.calendar);
    assert_eq!(dav.collection(ObjectKind::Contact).await.unwrap().href, server.address_book);

    // By display name, and by path (no discovery).
    let name = books[0].display_name.clone().unwrap();
    let by_name = server.connector_with(|c| c.with_address_book(CollectionChoice::DisplayName(name)));
    assert_eq!(by_name.collection(ObjectKind::Contact).await.unwrap().href, server.address_book);
    let by_path = server.connector_with(|c| c);
    assert_eq!(by_path.collection(ObjectKind::Event).await.unwrap().href, server.calendar);

    // A name nobody has, and an address book named as the calendar: configuration errors.
    let missing = DavConnector::new(
        server.config().with_calendar(CollectionChoice::DisplayName("No such calendar".into())),
        servers::http(),
    )
    .unwrap();
    let e = missing.pull(ObjectKind::Event, None).await.unwrap_err();
    assert!(matches!(&e, ConnectorError::Config { message } if message.contains("does not create")), "{e}");
    let wrong = server.connector_with(|c| c.with_calendar(CollectionChoice::Path(server.address_book.clone())));
    assert!(matches!(wrong.pull(ObjectKind::Event, None).await, Err(ConnectorError::Config { .. })));

    // The policy: the default rules for `dav` allow Basic (an app password); over plain http
    // only where loopback http is allowed (tests), never by the default policy.
    let info = dav.connection();
    assert_eq!((info.provider.as_str(), info.method.as_str()), ("dav", "basic"));
    assert_eq!(info.principal.as_deref(), Some(servers::USER));
    servers::policy().check_connection(&info).unwrap();
    Policy::for_loopback_tests().check_connection(&info).unwrap();
    let refused = Policy::default().check_connection(&info).unwrap_err();
    assert!(refused.to_string().contains("http"), "{refused}");
    assert!(!format!("{dav:?}").contains(servers::PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_discovery() {
    discovery(Kind::Radicale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_discovery() {
    discovery(Kind::Xandikos).await;
}

/// Radicale checks passwords (Xandikos serves plain http without authentication): a wrong one
/// is an `Auth` error, and the password appears in no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_refuses_a_wrong_password() {
    let Some(server) = servers::start(Kind::Radicale).await else { return };
    let config = server.config().with_basic(servers::USER, Secret::new("wrong-password-123"));
    let dav = DavConnector::new(config, servers::http()).unwrap();
    let e = dav.pull(ObjectKind::Event, None).await.unwrap_err();
    assert!(matches!(e, ConnectorError::Auth { .. }), "{e}");
    assert!(!e.to_string().contains("wrong-password-123"), "{e}");
}

/// A bearer token instead of a password (Xandikos on plain http ignores authentication, so this
/// checks the request path, not the server's check): discovery and reads work, the connection
/// says `bearer_token`, and the token appears nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_with_a_bearer_token() {
    let Some(server) = servers::start(Kind::Xandikos).await else { return };
    let config = tandem_dav::dav::DavConfig::new(server.base.clone()).with_bearer(Secret::new("tok-abcdef-123456"));
    let dav = DavConnector::new(config, servers::http()).unwrap();
    assert_eq!(dav.collection(ObjectKind::Event).await.unwrap().href, server.calendar);
    assert!(dav.pull(ObjectKind::Contact, None).await.unwrap().done);
    let info = dav.connection();
    assert_eq!((info.method.as_str(), info.principal.as_deref()), ("bearer_token", None));
    assert!(!format!("{dav:?} {info:?}").contains("tok-abcdef"));
}
