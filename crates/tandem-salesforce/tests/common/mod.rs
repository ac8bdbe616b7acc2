//! Shared set-up of the connector tests: a fake org on loopback and a connector pointed at it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tandem_connector::http::{HttpClient, HttpConfig, Secret};
use tandem_connector::{Connector, PullPage};
use tandem_core::model::ObjectKind;
use tandem_core::state::{Change, Cursor};
use tandem_salesforce::config::CustomField;
use tandem_salesforce::{AuthConfig, SalesforceConfig, SalesforceConnector};
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::FakeServer;
use url::Url;

/// An HTTP client for tests: no client-side rate limit, quick retries.
pub(crate) fn http() -> HttpClient {
    HttpClient::new(HttpConfig {
        rate_limit: None,
        max_retries: 2,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(200),
        ..HttpConfig::default()
    })
    .unwrap()
}

/// JWT bearer as the fake's default user, signed with the test key.
pub(crate) fn config(fake: &SalesforceFake, server: &FakeServer) -> SalesforceConfig {
    let fc = fake.config();
    let mut c = SalesforceConfig::new(
        AuthConfig::JwtBearer {
            consumer_key: fc.consumer_key,
            username: fake.user().username,
            private_key_pem: Secret::new(keys::TEST_RSA_KEY_PEM),
        },
        Url::parse(&server.base_url()).unwrap(),
    );
    c.middle_name = true;
    c.contact_custom_fields = vec![CustomField::text("Region__c", 80)];
    c
}

pub(crate) struct Org {
    pub(crate) fake: SalesforceFake,
    pub(crate) server: FakeServer,
}

pub(crate) async fn org() -> Org {
    let (fake, server) = SalesforceFake::start().await.unwrap();
    Org { fake, server }
}

impl Org {
    pub(crate) fn connector(&self) -> SalesforceConnector {
        SalesforceConnector::new(config(&self.fake, &self.server), http()).unwrap()
    }

    pub(crate) fn connector_with(&self, tweak: impl FnOnce(&mut SalesforceConfig)) -> SalesforceConnector {
        let mut c = config(&self.fake, &self.server);
        tweak(&mut c);
        SalesforceConnector::new(c, http()).unwrap()
    }

    pub(crate) fn contact(&self, first: &str, last: &str, email: &str) -> String {
        self.fake.insert("Contact", json!({ "FirstName": first, "LastName": last, "Email": email })).unwrap()
    }

    /// Requests to one route of the fake, e.g. `("GET", "/services/data/{version}/query")`.
    pub(crate) fn count(&self, method: &str, route: &str) -> u64 {
        self.fake.controls().count(method, route)
    }
}

/// Reads a whole round: every page until `done`.
pub(crate) async fn drain(
    c: &dyn Connector,
    object: ObjectKind,
    cursor: Option<Cursor>,
) -> (Vec<Change>, Cursor, usize) {
    let mut cursor = cursor;
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page: PullPage = c.pull(object, cursor.as_ref()).await.unwrap();
        pages += 1;
        all.extend(page.changes);
        cursor = Some(page.cursor);
        if page.done {
            return (all, cursor.unwrap(), pages);
        }
    }
}

/// What the planner acts on: the changes that do not repeat a report. A record re-read unchanged
/// (the overlap) has the version already reported, which the planner suppresses as an echo
/// (`tandem_core::planner`, `is_echo`); a delete repeated for a pair already gone is nothing to it.
pub(crate) fn news(reported: &mut HashMap<String, Option<String>>, changes: Vec<Change>) -> Vec<Change> {
    changes
        .into_iter()
        .filter(|c| {
            let key = c.record().map(|_| c.version.0.to_string());
            let echo = key.as_ref().is_none_or(|v| !v.is_empty()) && reported.get(c.id.as_str()) == Some(&key);
            reported.insert(c.id.0.to_string(), key);
            !echo
        })
        .collect()
}
