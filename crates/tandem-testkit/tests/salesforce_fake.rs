//! The Salesforce fake over HTTP, as any client sees it: OAuth, queries and paging, rows and
//! collections, the error array, limits, sessions.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tandem_testkit::keys;
use tandem_testkit::salesforce::{FakeConfig, SalesforceFake};
use tandem_testkit::server::FakeServer;

mod common;

use common::{client, token_with};

fn assertion(fake: &SalesforceFake, server: &FakeServer, key_pem: &str, exp_in: i64) -> String {
    common::assertion(fake, &server.base_url(), key_pem, exp_in)
}

async fn login(fake: &SalesforceFake, server: &FakeServer) -> String {
    common::salesforce_login(fake, server, &server.base_url()).await
}

struct Api {
    server: FakeServer,
    token: String,
}

impl Api {
    fn url(&self, path: &str) -> String {
        self.server.url(&format!("/services/data/v62.0{path}"))
    }

    async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = client().get(self.url(path)).bearer_auth(&self.token).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn query(&self, soql: &str) -> (u16, Value) {
        let r = client().get(self.url("/query")).query(&[("q", soql)]).bearer_auth(&self.token).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = client().request(method, self.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn api() -> (SalesforceFake, Api) {
    let (fake, server) = SalesforceFake::start().await.unwrap();
    let token = login(&fake, &server).await;
    (fake, Api { server, token })
}

#[tokio::test]
async fn jwt_bearer_tokens_verify_the_signature_claims_and_expiry() {
    let (fake, server) = SalesforceFake::start().await.unwrap();
    let good = assertion(&fake, &server, keys::TEST_RSA_KEY_PEM, 120);
    let (status, body) =
        token_with(&server, &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &good)])
            .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], server.base_url());
    assert!(body["id"].as_str().unwrap().ends_with(&format!("/id/00D000000000001AAA/{}", fake.user().id)));
    for (key, exp_in, expected) in [
        (keys::OTHER_RSA_KEY_PEM, 120, "invalid_grant"),
        (keys::TEST_RSA_KEY_PEM, -10, "invalid_grant"),
        (keys::TEST_RSA_KEY_PEM, 3600, "invalid_grant"),
    ] {
        let a = assertion(&fake, &server, key, exp_in);
        let (status, body) =
            token_with(&server, &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &a)])
                .await;
        assert_eq!((status, body["error"].as_str()), (400, Some(expected)), "{body}");
    }
    let (status, body) =
        token_with(&server, &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", "a.b.c")])
            .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(fake.tokens_issued(), 1);
    assert_eq!(fake.controls().count("POST", "/services/oauth2/token"), 5);
}

#[tokio::test]
async fn client_credentials_and_the_web_server_flow_with_pkce() {
    let (fake, server) = SalesforceFake::start().await.unwrap();
    let cfg = fake.config();
    let (status, _) = token_with(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &cfg.consumer_key),
            ("client_secret", &cfg.consumer_secret),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = token_with(
        &server,
        &[("grant_type", "client_credentials"), ("client_id", &cfg.consumer_key), ("client_secret", "no")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client")));

    let verifier = "a-very-long-verifier-that-is-at-least-43-characters-long";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = "https://app.example.com/callback";
    let r = client()
        .get(server.url("/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", cfg.consumer_key.as_str()),
            ("redirect_uri", redirect),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    assert!(location.query_pairs().any(|(k, v)| k == "state" && v == "xyz"));
    let exchange = |verifier: &str| {
        let form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.clone()),
            ("client_id".to_owned(), cfg.consumer_key.clone()),
            ("redirect_uri".to_owned(), redirect.to_owned()),
            ("code_verifier".to_owned(), verifier.to_owned()),
        ];
        let url = server.url("/services/oauth2/token");
        async move {
            let r = client().post(url).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = exchange("wrong-verifier").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    // Codes are single use: the failed attempt consumed it, as Salesforce does.
    let (status, _) = exchange(verifier).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn queries_page_through_next_records_url_and_count_api_usage() {
    let (fake, api) = api().await;
    for i in 0..7 {
        fake.insert("Contact", json!({ "LastName": format!("P{i}") })).unwrap();
    }
    fake.set_page_size(3);
    let (status, page) = api.query("SELECT Id, LastName FROM Contact ORDER BY LastName").await;
    assert_eq!(status, 200);
    assert_eq!(page["totalSize"], 7);
    assert_eq!(page["done"], false);
    assert_eq!(page["records"].as_array().unwrap().len(), 3);
    assert_eq!(page["records"][0]["attributes"]["type"], "Contact");
    let mut next = page["nextRecordsUrl"].as_str().unwrap().to_owned();
    let mut seen = 3;
    loop {
        let r = client().get(api.server.url(&next)).bearer_auth(&api.token).send().await.unwrap();
        let limit = r.headers()["sforce-limit-info"].to_str().unwrap().to_owned();
        assert!(limit.starts_with("api-usage="), "{limit}");
        let body: Value = r.json().await.unwrap();
        seen += body["records"].as_array().unwrap().len();
        match body["nextRecordsUrl"].as_str() {
            Some(n) => next = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 7);
    assert_eq!(fake.api_usage().0, 3);
    assert_eq!(fake.controls().count("GET", "/services/data/{version}/query/{locator}"), 2);
}

#[tokio::test]
async fn malformed_queries_and_unknown_fields_answer_the_error_array() {
    let (_fake, api) = api().await;
    for (soql, code) in [
        ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY"),
        ("SELECT COUNT(Id) FROM Contact GROUP BY LastName", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE LastName = 'x' OR Id = 'y' AND Email = 'z'", "MALFORMED_QUERY"),
        ("SELECT Password FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity", "INVALID_TYPE"),
        ("SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-01'", "INVALID_FIELD"),
    ] {
        let (status, body) = api.query(soql).await;
        assert_eq!(status, 400, "{soql}");
        assert_eq!(body[0]["errorCode"], code, "{soql}: {body}");
        assert!(body[0]["message"].is_string());
    }
}

#[tokio::test]
async fn sessions_expire_and_the_daily_limit_runs_out() {
    let (fake, api) = api().await;
    fake.expire_sessions();
    let (status, _, body) = api.get("/query?q=SELECT+Id+FROM+Contact").await;
    assert_eq!(status, 401);
    assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");
    let token = login(&fake, &api.server).await;
    let api = Api { token, ..api };
    fake.set_daily_limit(2);
    fake.set_api_usage(1);
    let (status, headers, _) = api.get("/query?q=SELECT+Id+FROM+Contact").await;
    assert_eq!(status, 200);
    assert_eq!(headers["sforce-limit-info"], "api-usage=2/2");
    let (status, headers, body) = api.get("/query?q=SELECT+Id+FROM+Contact").await;
    assert_eq!(status, 403);
    assert_eq!(body[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(headers["sforce-limit-info"], "api-usage=2/2");
    fake.set_daily_limit(100);
    // A version Salesforce does not serve (retired) is not found.
    let r = client()
        .get(api.server.url("/services/data/v20.0/query"))
        .query(&[("q", "SELECT Id FROM Contact")])
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "NOT_FOUND");
}

#[tokio::test]
async fn collections_create_update_delete_and_upsert_per_record() {
    let (fake, api) = api().await;
    let records = json!({ "allOrNone": false, "records": [
        { "attributes": { "type": "Contact" }, "LastName": "Lovelace", "Email": "ada@example.com" },
        { "attributes": { "type": "Contact" }, "FirstName": "Nameless" },
        { "attributes": { "type": "Contact" }, "LastName": "x".repeat(81) },
        { "attributes": { "type": "Contact" }, "LastName": "Hopper", "MailingPostalCode": "123456789012345678901" },
    ]});
    let (status, body) = api.send(reqwest::Method::POST, "/composite/sobjects", Some(records)).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["success"], true);
    assert_eq!(body[1]["errors"][0]["statusCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(body[1]["errors"][0]["fields"][0], "LastName");
    assert_eq!(body[2]["errors"][0]["statusCode"], "STRING_TOO_LONG");
    assert_eq!(body[3]["errors"][0]["fields"][0], "MailingPostalCode");
    let ada = body[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(fake.count("Contact"), 1);

    // allOrNone rolls every record back.
    let all = json!({ "allOrNone": true, "records": [
        { "attributes": { "type": "Contact" }, "LastName": "Kept?" },
        { "attributes": { "type": "Contact" }, "Email": "no-last-name@example.com" },
    ]});
    let (_, body) = api.send(reqwest::Method::POST, "/composite/sobjects", Some(all)).await;
    assert_eq!(body[0]["errors"][0]["statusCode"], "ALL_OR_NONE_OPERATION_ROLLED_BACK");
    assert_eq!(fake.count("Contact"), 1);

    let before = fake.get("Contact", &ada).unwrap()["SystemModstamp"].clone();
    let update = json!({ "allOrNone": false, "records": [
        { "attributes": { "type": "Contact" }, "id": ada, "Title": "Countess" },
        { "attributes": { "type": "Contact" }, "id": "003000000000999AAA", "Title": "Nobody" },
    ]});
    let (_, body) = api.send(reqwest::Method::PATCH, "/composite/sobjects", Some(update)).await;
    assert_eq!(body[0]["success"], true);
    assert_eq!(body[1]["success"], false);
    let after = fake.get("Contact", &ada).unwrap();
    assert_eq!(after["Title"], "Countess");
    assert_ne!(after["SystemModstamp"], before, "SystemModstamp advances");

    // Upsert by external id: create, then update the same record.
    let upsert = |last: &str| {
        json!({ "allOrNone": false, "records": [
            { "attributes": { "type": "Contact" }, "Tandem_Sync_Id__c": "tdm-key-1", "LastName": last },
        ]})
    };
    let (_, body) =
        api.send(reqwest::Method::PATCH, "/composite/sobjects/Contact/Tandem_Sync_Id__c", Some(upsert("Turing"))).await;
    assert_eq!((body[0]["success"].clone(), body[0]["created"].clone()), (json!(true), json!(true)));
    let (_, again) =
        api.send(reqwest::Method::PATCH, "/composite/sobjects/Contact/Tandem_Sync_Id__c", Some(upsert("Turing"))).await;
    assert_eq!(again[0]["created"], false);
    assert_eq!(again[0]["id"], body[0]["id"]);
    assert_eq!(fake.count("Contact"), 2);
    let (status, body) =
        api.send(reqwest::Method::PATCH, "/composite/sobjects/Contact/LastName", Some(upsert("x"))).await;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");

    let too_many: Vec<Value> =
        (0..201).map(|i| json!({ "attributes": { "type": "Contact" }, "LastName": format!("P{i}") })).collect();
    let (status, _) = api
        .send(reqwest::Method::POST, "/composite/sobjects", Some(json!({ "allOrNone": false, "records": too_many })))
        .await;
    assert_eq!(status, 400);

    let (_, body) =
        api.send(reqwest::Method::DELETE, &format!("/composite/sobjects?ids={ada},{ada}&allOrNone=false"), None).await;
    assert_eq!(body[0]["success"], true);
    assert_eq!(body[1]["errors"][0]["statusCode"], "ENTITY_IS_DELETED");
    assert_eq!(fake.count("Contact"), 1);
    assert_eq!(fake.controls().count("DELETE", "/services/data/{version}/composite/sobjects"), 1);
}

#[tokio::test]
async fn single_rows_deleted_records_and_query_all() {
    let (fake, api) = api().await;
    let (status, body) =
        api.send(reqwest::Method::POST, "/sobjects/Contact", Some(json!({ "LastName": "Lovelace" }))).await;
    assert_eq!(status, 201);
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, _, row) = api.get(&format!("/sobjects/Contact/{id}")).await;
    assert_eq!((status, row["LastName"].as_str()), (200, Some("Lovelace")));
    let (status, _) = api
        .send(reqwest::Method::PATCH, &format!("/sobjects/Contact/{id}"), Some(json!({ "Title": "Countess" })))
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .send(reqwest::Method::PATCH, "/sobjects/Contact/Tandem_Sync_Id__c/k-1", Some(json!({ "LastName": "Hopper" })))
        .await;
    assert_eq!(status, 201);
    let (status, _) = api
        .send(reqwest::Method::PATCH, "/sobjects/Contact/Tandem_Sync_Id__c/k-1", Some(json!({ "Title": "RADM" })))
        .await;
    assert_eq!(status, 200);
    let start = fake.now() - chrono::Duration::minutes(1);
    let (status, _) = api.send(reqwest::Method::DELETE, &format!("/sobjects/Contact/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _, body) = api.get(&format!("/sobjects/Contact/{id}")).await;
    assert_eq!((status, body[0]["errorCode"].as_str()), (404, Some("NOT_FOUND")));
    let end = fake.now() + chrono::Duration::minutes(1);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%%2B00:00").to_string();
    let (status, _, deleted) =
        api.get(&format!("/sobjects/Contact/deleted/?start={}&end={}", fmt(start), fmt(end))).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["deletedRecords"][0]["id"], id.as_str());
    let (_, q) = api.query("SELECT Id FROM Contact WHERE IsDeleted = true").await;
    assert_eq!(q["totalSize"], 0);
    let r = client()
        .get(api.url("/queryAll"))
        .query(&[("q", "SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true")])
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    let all: Value = r.json().await.unwrap();
    assert_eq!(all["totalSize"], 1);
    // The recycle bin keeps 15 days.
    fake.advance_clock(chrono::Duration::days(16));
    let r = client()
        .get(api.url("/queryAll"))
        .query(&[("q", "SELECT Id FROM Contact WHERE IsDeleted = true")])
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    let purged: Value = r.json().await.unwrap();
    assert_eq!(purged["totalSize"], 0);
}

#[tokio::test]
async fn an_org_without_the_external_id_field_refuses_upserts() {
    let config = FakeConfig { sync_key_field: None, ..FakeConfig::default() };
    let (fake, server) = SalesforceFake::start_with(config).await.unwrap();
    let token = login(&fake, &server).await;
    let api = Api { server, token };
    let (status, body) = api
        .send(
            reqwest::Method::PATCH,
            "/composite/sobjects/Contact/Tandem_Sync_Id__c",
            Some(json!({ "records": [{ "attributes": { "type": "Contact" }, "Tandem_Sync_Id__c": "k", "LastName": "L" }] })),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");
}
