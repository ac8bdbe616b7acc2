//! The Salesforce fake against the REST API's documented behaviour, requested the way
//! independent client libraries do: plain HTTP, URLs with and without trailing slashes, any
//! served API version, the discovery resources (versions, directory, limits, describes), and the
//! error array with `Sforce-Limit-Info` on every answer.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tandem_testkit::salesforce::{FakeConfig, SalesforceFake};
use tandem_testkit::server::FakeServer;

mod common;

use common::client;

async fn login(fake: &SalesforceFake, server: &FakeServer) -> String {
    common::salesforce_login(fake, server, "https://login.salesforce.com").await
}

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn usage(&self) -> Option<(u64, u64)> {
        let v = self.headers.get("sforce-limit-info")?.to_str().ok()?;
        let (used, max) = v.strip_prefix("api-usage=")?.split_once('/')?;
        Some((used.parse().ok()?, max.parse().ok()?))
    }

    /// Salesforce's error array with one error of `code`, as JSON, with the usage header.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(self.content_type().starts_with("application/json"), "{}", self.content_type());
        assert!(self.usage().is_some(), "no Sforce-Limit-Info on a {status}");
        let errors = self.body.as_array().unwrap_or_else(|| panic!("not an array: {}", self.body));
        assert_eq!(errors.len(), 1, "{}", self.body);
        assert_eq!(errors[0]["errorCode"], code, "{}", self.body);
        assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.body);
    }
}

struct Api {
    fake: SalesforceFake,
    server: FakeServer,
    token: String,
}

impl Api {
    async fn start_with(config: FakeConfig) -> Api {
        let (fake, server) = SalesforceFake::start_with(config).await.unwrap();
        let token = login(&fake, &server).await;
        Api { fake, server, token }
    }

    async fn start() -> Api {
        Api::start_with(FakeConfig::default()).await
    }

    /// `path` is taken verbatim after the host (version included).
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = client().request(method, self.server.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Reply { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }
}

const V: &str = "/services/data/v62.0";

#[tokio::test]
async fn every_route_serves_a_trailing_slash_like_the_form_without() {
    let api = Api::start().await;
    let created = api.call(Method::POST, &format!("{V}/sobjects/Contact/"), Some(json!({"LastName": "Slash"}))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();

    let read = api.get(&format!("{V}/sobjects/Contact/{id}/")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["LastName"], "Slash");
    let updated =
        api.call(Method::PATCH, &format!("{V}/sobjects/Contact/{id}/"), Some(json!({"FirstName": "Ann"}))).await;
    assert_eq!(updated.status, 204, "{}", updated.body);

    let q = "SELECT+Id,FirstName+FROM+Contact";
    for resource in ["query", "queryAll"] {
        let page = api.get(&format!("{V}/{resource}/?q={q}")).await;
        assert_eq!(page.status, 200, "{resource}/: {}", page.body);
        assert_eq!(page.body["totalSize"], 1, "{resource}/");
        assert_eq!(page.body["records"][0]["FirstName"], "Ann");
    }

    let batch = json!({"allOrNone": false, "records": [{"attributes": {"type": "Contact"}, "LastName": "Coll"}]});
    let coll = api.call(Method::POST, &format!("{V}/composite/sobjects/"), Some(batch)).await;
    assert_eq!(coll.status, 200, "{}", coll.body);
    assert_eq!(coll.body[0]["success"], true);
    let upsert = json!({"records": [{"attributes": {"type": "Contact"}, "Tandem_Sync_Id__c": "k1", "LastName": "U"}]});
    let up = api.call(Method::PATCH, &format!("{V}/composite/sobjects/Contact/Tandem_Sync_Id__c/"), Some(upsert)).await;
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(up.body[0]["created"], true);
    let one = api
        .call(Method::PATCH, &format!("{V}/sobjects/Contact/Tandem_Sync_Id__c/k2/"), Some(json!({"LastName": "Two"})))
        .await;
    assert_eq!(one.status, 201, "{}", one.body);

    for path in ["/limits/", "/sobjects/", "/sobjects/Contact/", "/sobjects/Contact/describe/", "/"] {
        let r = api.get(&format!("{V}{path}")).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let versions = client().get(api.server.url("/services/data/")).send().await.unwrap();
    assert_eq!(versions.status().as_u16(), 200);

    let deleted = api.call(Method::DELETE, &format!("{V}/sobjects/Contact/{id}/"), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let start = (api.fake.now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let end = (api.fake.now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let log = api.get(&format!("{V}/sobjects/Contact/deleted/?start={start}&end={end}")).await;
    assert_eq!(log.status, 200, "{}", log.body);
    assert_eq!(log.body["deletedRecords"][0]["id"], id.as_str());
    let log = api.get(&format!("{V}/sobjects/Contact/deleted?start={start}&end={end}")).await;
    assert_eq!(log.status, 200, "{}", log.body);

    // Both spellings are counted under the one route template.
    let counts = api.fake.controls();
    assert_eq!(counts.count("POST", "/services/data/{version}/sobjects/{sobject}"), 1);
    assert_eq!(counts.count("GET", "/services/data/{version}/query"), 1);
    assert_eq!(counts.count("GET", "/services/data/{version}/sobjects/{sobject}/{id}"), 3);
}

#[tokio::test]
async fn the_versions_resource_lists_every_served_version_without_a_session() {
    let api = Api::start().await;
    let before = api.fake.api_usage().0;
    for path in ["/services/data", "/services/data/"] {
        let r = client().get(api.server.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        // The versions resource is outside any org: no usage header, nothing counted.
        assert!(r.headers().get("sforce-limit-info").is_none());
        let list: Vec<Value> = r.json().await.unwrap();
        assert_eq!(list.len(), 36, "v31.0 through v66.0");
        assert_eq!(list[0], json!({"label": "Summer '14", "url": "/services/data/v31.0", "version": "31.0"}));
        assert!(list.contains(&json!({"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"})));
        assert_eq!(list[35], json!({"label": "Spring '26", "url": "/services/data/v66.0", "version": "66.0"}));
        for entry in &list {
            let version = entry["version"].as_str().unwrap();
            assert_eq!(entry["url"], format!("/services/data/v{version}"));
        }
    }
    assert_eq!(api.fake.api_usage().0, before);
}

#[tokio::test]
async fn the_resource_directory_names_the_served_resources_at_the_requested_version() {
    let api = Api::start().await;
    for path in ["/services/data/v45.0", "/services/data/v45.0/"] {
        let r = api.get(path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for (key, url) in [
            ("sobjects", "/services/data/v45.0/sobjects"),
            ("query", "/services/data/v45.0/query"),
            ("queryAll", "/services/data/v45.0/queryAll"),
            ("limits", "/services/data/v45.0/limits"),
        ] {
            assert_eq!(r.body[key], url, "{}", r.body);
        }
        let identity = r.body["identity"].as_str().unwrap();
        assert!(identity.ends_with(&format!("/id/{}/{}", api.fake.config().org_id, api.fake.user().id)));
        assert!(r.usage().is_some());
    }
    let r = api.get("/services/data/v99.0/").await;
    r.assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn limits_report_the_same_budget_as_the_usage_header() {
    let api = Api::start().await;
    api.fake.set_daily_limit(15_000);
    api.fake.set_api_usage(1_234);
    let r = api.get(&format!("{V}/limits")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (used, max) = r.usage().unwrap();
    assert_eq!((used, max), (1_235, 15_000));
    assert_eq!(r.body["DailyApiRequests"], json!({"Max": 15_000, "Remaining": 15_000 - 1_235}));
    for key in ["DailyBulkApiBatches", "DataStorageMB", "FileStorageMB", "SingleEmail", "MassEmail"] {
        let limit = &r.body[key];
        assert!(limit["Max"].is_u64() && limit["Remaining"].is_u64(), "{key}: {limit}");
    }
    // Another call spends one more request.
    let r = api.get(&format!("{V}/limits/")).await;
    assert_eq!(r.body["DailyApiRequests"]["Remaining"], 15_000 - 1_236);
}

#[tokio::test]
async fn describe_global_and_basic_information_list_the_objects() {
    let api = Api::start().await;
    let r = api.get(&format!("{V}/sobjects")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["encoding"], "UTF-8");
    assert_eq!(r.body["maxBatchSize"], 200);
    let objects = r.body["sobjects"].as_array().unwrap();
    let contact = objects.iter().find(|o| o["name"] == "Contact").expect("Contact in describeGlobal");
    assert_eq!(contact["keyPrefix"], "003");
    assert_eq!(contact["label"], "Contact");
    assert_eq!(contact["labelPlural"], "Contacts");
    assert_eq!(contact["queryable"], true);
    assert_eq!(contact["urls"]["describe"], "/services/data/v62.0/sobjects/Contact/describe");
    for name in ["Event", "EventRelation", "Account", "User", "Lead"] {
        assert!(objects.iter().any(|o| o["name"] == name), "{name}");
    }

    let r = api.get(&format!("{V}/sobjects/Contact")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["objectDescribe"]["name"], "Contact");
    assert_eq!(r.body["objectDescribe"]["keyPrefix"], "003");
    assert!(r.body["recentItems"].is_array());

    api.get(&format!("{V}/sobjects/Nothing__c")).await.assert_error(404, "NOT_FOUND");
    api.get(&format!("{V}/sobjects/Nothing__c/describe")).await.assert_error(404, "NOT_FOUND");
}

fn field<'a>(describe: &'a Value, name: &str) -> &'a Value {
    describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

#[tokio::test]
async fn describe_announces_the_fields_the_fake_enforces() {
    let api = Api::start().await;
    let d = api.get(&format!("{V}/sobjects/Contact/describe")).await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.body["name"], "Contact");

    let last = field(&d.body, "LastName");
    assert_eq!((&last["type"], &last["length"], &last["nillable"]), (&json!("string"), &json!(80), &json!(false)));
    assert_eq!((&last["createable"], &last["updateable"]), (&json!(true), &json!(true)));
    let email = field(&d.body, "Email");
    assert_eq!((&email["type"], &email["length"]), (&json!("email"), &json!(80)));
    let name = field(&d.body, "Name");
    assert_eq!((&name["createable"], &name["updateable"]), (&json!(false), &json!(false)));
    let id = field(&d.body, "Id");
    assert_eq!((&id["type"], &id["idLookup"], &id["nillable"]), (&json!("id"), &json!(true), &json!(false)));
    let account = field(&d.body, "AccountId");
    assert_eq!((&account["type"], &account["referenceTo"]), (&json!("reference"), &json!(["Account"])));
    assert_eq!(account["relationshipName"], "Account");
    let key = field(&d.body, "Tandem_Sync_Id__c");
    assert_eq!((&key["externalId"], &key["unique"], &key["custom"]), (&json!(true), &json!(true), &json!(true)));
    assert_eq!(key["idLookup"], true);
    assert_eq!(field(&d.body, "Description")["type"], "textarea");
    assert_eq!(field(&d.body, "Description")["length"], 32_000);
    for f in d.body["fields"].as_array().unwrap() {
        for key in ["name", "label", "type", "length", "nillable", "createable", "updateable", "externalId", "unique"] {
            assert!(f.get(key).is_some(), "{} has no {key}", f["name"]);
        }
    }

    // Every announced text length is the one a write meets: `length` fits, one more does not.
    for f in d.body["fields"].as_array().unwrap() {
        let (ty, createable) = (f["type"].as_str().unwrap(), f["createable"] == true);
        if !createable || !matches!(ty, "string" | "textarea") {
            continue;
        }
        let name = f["name"].as_str().unwrap();
        let length = usize::try_from(f["length"].as_u64().unwrap()).unwrap();
        let mut record = json!({ "LastName": "L" });
        record[name] = json!("x".repeat(length));
        let ok = api.call(Method::POST, &format!("{V}/sobjects/Contact"), Some(record.clone())).await;
        assert_eq!(ok.status, 201, "{name} at {length}: {}", ok.body);
        record[name] = json!("x".repeat(length + 1));
        let too_long = api.call(Method::POST, &format!("{V}/sobjects/Contact"), Some(record)).await;
        too_long.assert_error(400, "STRING_TOO_LONG");
        assert_eq!(too_long.body[0]["fields"], json!([name]));
    }

    // The Event describe too, with its restricted picklist.
    let e = api.get(&format!("{V}/sobjects/Event/describe")).await;
    let show_as = field(&e.body, "ShowAs");
    assert_eq!(show_as["type"], "picklist");
    assert_eq!(show_as["restrictedPicklist"], true);
    assert!(show_as["picklistValues"].as_array().unwrap().iter().any(|v| v["value"] == "Busy"));
    assert_eq!(field(&e.body, "Subject")["length"], 255);
}

#[tokio::test]
async fn describe_follows_the_orgs_sync_key_field() {
    let plain = Api::start_with(FakeConfig { sync_key_field: None, ..FakeConfig::default() }).await;
    let d = plain.get(&format!("{V}/sobjects/Contact/describe")).await;
    assert!(d.body["fields"].as_array().unwrap().iter().all(|f| f["name"] != "Tandem_Sync_Id__c"));
    let config = FakeConfig { sync_key_field: Some(("Tandem_Sync_Id__c".into(), false)), ..FakeConfig::default() };
    let text = Api::start_with(config).await;
    let d = text.get(&format!("{V}/sobjects/Contact/describe")).await;
    let key = field(&d.body, "Tandem_Sync_Id__c");
    assert_eq!((&key["externalId"], &key["unique"]), (&json!(false), &json!(false)));
}

#[tokio::test]
async fn every_served_version_answers_and_unknown_versions_are_not_found() {
    let api = Api::start().await;
    api.fake.insert("Contact", json!({"LastName": "Versioned"})).unwrap();
    for version in ["v31.0", "v45.0", "v62.0", "v64.0", "v66.0"] {
        let r = api.get(&format!("/services/data/{version}/query?q=SELECT+Id+FROM+Contact")).await;
        assert_eq!(r.status, 200, "{version}: {}", r.body);
        // Links are built for the version the client asked for.
        let url = r.body["records"][0]["attributes"]["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("/services/data/{version}/sobjects/Contact/")), "{url}");
    }
    api.fake.set_page_size(1);
    api.fake.insert("Contact", json!({"LastName": "Second"})).unwrap();
    let page = api.get("/services/data/v50.0/query?q=SELECT+Id+FROM+Contact").await;
    let next = page.body["nextRecordsUrl"].as_str().unwrap();
    assert!(next.starts_with("/services/data/v50.0/query/"), "{next}");
    assert_eq!(api.get(next).await.status, 200);

    for version in ["v20.0", "v30.0", "v67.0", "v99.0", "v62.5", "62.0", "v062.0", "vX"] {
        let r = api.get(&format!("/services/data/{version}/query?q=SELECT+Id+FROM+Contact")).await;
        r.assert_error(404, "NOT_FOUND");
        assert_eq!(r.body[0]["message"], "The requested resource does not exist");
        assert!(r.body[0].get("fields").is_none(), "{}", r.body);
        let r = api.get(&format!("/services/data/{version}/sobjects/Contact/describe")).await;
        r.assert_error(404, "NOT_FOUND");
    }

    // Resources exist from the version that introduced them: sObject collections in v42.0,
    // their upsert in v46.0.
    let batch = json!({"records": [{"attributes": {"type": "Contact"}, "LastName": "C"}]});
    let old = api.call(Method::POST, "/services/data/v41.0/composite/sobjects", Some(batch.clone())).await;
    old.assert_error(404, "NOT_FOUND");
    let new = api.call(Method::POST, "/services/data/v42.0/composite/sobjects", Some(batch)).await;
    assert_eq!(new.status, 200, "{}", new.body);
    let upsert = json!({"records": [{"attributes": {"type": "Contact"}, "Tandem_Sync_Id__c": "k", "LastName": "U"}]});
    let path = "composite/sobjects/Contact/Tandem_Sync_Id__c";
    let old = api.call(Method::PATCH, &format!("/services/data/v45.0/{path}"), Some(upsert.clone())).await;
    old.assert_error(404, "NOT_FOUND");
    let new = api.call(Method::PATCH, &format!("/services/data/v46.0/{path}"), Some(upsert)).await;
    assert_eq!(new.status, 200, "{}", new.body);
}

#[tokio::test]
async fn every_error_is_the_json_array_with_the_usage_header() {
    let api = Api::start().await;
    let id = api.fake.insert("Contact", json!({"LastName": "E"})).unwrap();

    // Unknown paths, inside and outside a version.
    for path in [
        format!("{V}/nothing"),
        format!("{V}/nothing/"),
        format!("{V}/sobjects/Contact/{id}/extra/more/deep"),
        "/services/data/nothing/at/all".to_owned(),
    ] {
        let r = api.get(&path).await;
        r.assert_error(404, "NOT_FOUND");
        assert!(r.body[0].get("fields").is_none(), "{path}: {}", r.body);
    }
    // A missing record.
    let r = api.get(&format!("{V}/sobjects/Contact/003000000000999AAA")).await;
    r.assert_error(404, "NOT_FOUND");

    // A wrong method on a known path.
    for (method, path) in [
        (Method::PUT, format!("{V}/sobjects/Contact/{id}")),
        (Method::GET, format!("{V}/composite/sobjects")),
        (Method::DELETE, format!("{V}/query")),
        (Method::POST, format!("{V}/limits/")),
    ] {
        let r = api.call(method.clone(), &path, Some(json!({}))).await;
        r.assert_error(405, "METHOD_NOT_ALLOWED");
        assert!(r.headers.get("allow").is_some(), "{method} {path}");
    }
    // The versions resource too, without the usage header (it is outside any org).
    let r = api.call(Method::POST, "/services/data/", Some(json!({}))).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body[0]["errorCode"], "METHOD_NOT_ALLOWED");
    assert!(r.usage().is_none());

    // Session, query, body and record errors.
    let r = client().get(api.server.url(&format!("{V}/limits"))).bearer_auth("nope").send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    Reply { status, headers, body }.assert_error(401, "INVALID_SESSION_ID");
    let r = api.get(&format!("{V}/query/?q=SELEKT+Id+FROM+Contact")).await;
    r.assert_error(400, "MALFORMED_QUERY");
    assert!(r.body[0].get("fields").is_none(), "{}", r.body);
    let r = api.call(Method::POST, &format!("{V}/sobjects/Contact/"), Some(json!({"FirstName": "No last"}))).await;
    r.assert_error(400, "REQUIRED_FIELD_MISSING");
    assert_eq!(r.body[0]["fields"], json!(["LastName"]));

    // Successes carry the header too, with the same count as the budget.
    for path in [format!("{V}/sobjects/Contact/{id}"), format!("{V}/limits"), format!("{V}/")] {
        let r = api.get(&path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.content_type().starts_with("application/json"));
        assert_eq!(r.usage(), Some(api.fake.api_usage()), "{path}");
    }
    let r = api.call(Method::PATCH, &format!("{V}/sobjects/Contact/{id}/"), Some(json!({"FirstName": "F"}))).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.usage(), Some(api.fake.api_usage()));
}
