//! The Salesforce fake's sharing model over HTTP, with two users logged in by the JWT bearer flow:
//! organisation-wide defaults, manual shares and View All Data in queries, semi-joins, `COUNT()`,
//! reads and writes; Chatter follows (`EntitySubscription`); Shared Activities' rules on
//! `EventRelation`; converted leads; case-insensitive text matches.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tandem_testkit::keys;
use tandem_testkit::salesforce::{FakeConfig, OrgWideDefault, SalesforceFake, Sharing};
use tandem_testkit::server::FakeServer;

mod common;

use common::client;

const V: &str = "/services/data/v62.0";

/// One user's session against the fake.
struct Session {
    url: String,
    token: String,
    user: String,
}

impl Session {
    /// Logs `username` in by the JWT bearer flow.
    async fn login(fake: &SalesforceFake, server: &FakeServer, username: &str) -> Session {
        let claims = json!({
            "iss": fake.config().consumer_key,
            "sub": username,
            "aud": server.base_url(),
            "exp": fake.now().timestamp() + 120,
        });
        let assertion = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(keys::TEST_RSA_KEY_PEM.as_bytes()).unwrap(),
        )
        .unwrap();
        let (status, body) = common::token_with(
            server,
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let user = body["id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        Session { url: server.url(V), token: body["access_token"].as_str().unwrap().to_owned(), user }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = client().request(method, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn query(&self, soql: &str) -> (u16, Value) {
        let r = client()
            .get(format!("{}/query", self.url))
            .query(&[("q", soql)])
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// The query's records, asserting it succeeds.
    async fn rows(&self, soql: &str) -> Vec<Value> {
        let (status, body) = self.query(soql).await;
        assert_eq!(status, 200, "{soql}: {body}");
        body["records"].as_array().unwrap().clone()
    }

    async fn ids(&self, soql: &str) -> Vec<String> {
        let mut ids: Vec<String> = self.rows(soql).await.iter().map(|r| r["Id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    }

    async fn count(&self, soql: &str) -> u64 {
        let (status, body) = self.query(soql).await;
        assert_eq!(status, 200, "{soql}: {body}");
        body["totalSize"].as_u64().unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }
}

/// Asserts a `400` with one error of `code`; returns the error.
fn refused(answer: &(u16, Value), code: &str) -> Value {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{body}");
    assert_eq!(body[0]["errorCode"], code, "{body}");
    body[0].clone()
}

struct Org {
    fake: SalesforceFake,
    _server: FakeServer,
    ada: Session,
    bob: Session,
}

/// A fake with `sharing`, Ada (the default user) and Bob logged in.
async fn org(sharing: Sharing) -> Org {
    let (fake, server) = SalesforceFake::start_with(FakeConfig { sharing, ..FakeConfig::default() }).await.unwrap();
    fake.add_user("bob@example.com", "Bob", "Babbage", "Europe/London");
    let ada = Session::login(&fake, &server, &fake.user().username).await;
    let bob = Session::login(&fake, &server, "bob@example.com").await;
    Org { fake, _server: server, ada, bob }
}

fn private() -> Sharing {
    Sharing { contact: OrgWideDefault::Private, account: OrgWideDefault::Private, lead: OrgWideDefault::Private }
}

#[tokio::test]
async fn private_records_are_invisible_to_others_in_queries_counts_semi_joins_and_reads() {
    let o = org(private()).await;
    let acme = o.fake.insert("Account", json!({ "Name": "Acme" })).unwrap();
    let ada_c = o
        .fake
        .insert("Contact", json!({ "LastName": "Ada's", "AccountId": acme, "Tandem_Sync_Id__c": "K-ADA" }))
        .unwrap();
    let bob_c = o.fake.insert("Contact", json!({ "LastName": "Bob's", "OwnerId": o.bob.user })).unwrap();

    assert_eq!(o.bob.ids("SELECT Id FROM Contact").await, vec![bob_c.clone()]);
    assert_eq!(o.ada.ids("SELECT Id FROM Contact").await, vec![ada_c.clone()]);
    assert_eq!(o.bob.count("SELECT COUNT() FROM Contact").await, 1);
    assert_eq!(o.ada.count("SELECT COUNT() FROM Contact").await, 1);
    let joined = "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)";
    assert_eq!(o.ada.ids(joined).await, vec![acme.clone()]);
    assert!(o.bob.ids(joined).await.is_empty());
    // Ada's contact is not even a semi-join value for Bob when he can see the account.
    o.fake.share("Account", &acme, &o.bob.user, false).unwrap();
    assert!(o.bob.ids(joined).await.is_empty());

    let (status, body) = o.bob.get(&format!("/sobjects/Contact/{ada_c}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body[0]["errorCode"], "NOT_FOUND");
    assert_eq!(o.bob.get("/sobjects/Contact/Tandem_Sync_Id__c/K-ADA").await.0, 404);
    assert_eq!(o.ada.get(&format!("/sobjects/Contact/{ada_c}")).await.0, 200);
    assert_eq!(o.ada.get("/sobjects/Contact/Tandem_Sync_Id__c/K-ADA").await.0, 200);
    // The handle sees everything.
    assert_eq!(o.fake.count("Contact"), 2);

    // View All Data sees everyone's.
    o.fake.grant_view_all(&o.bob.user);
    assert_eq!(o.bob.count("SELECT COUNT() FROM Contact").await, 2);
    assert_eq!(o.bob.get(&format!("/sobjects/Contact/{ada_c}")).await.0, 200);

    // Public read: everyone sees everything.
    o.fake.set_sharing(Sharing { contact: OrgWideDefault::PublicRead, ..private() });
    assert_eq!(o.ada.count("SELECT COUNT() FROM Contact").await, 2);
}

#[tokio::test]
async fn a_lookup_to_an_invisible_record_reads_as_null() {
    let o = org(Sharing { account: OrgWideDefault::Private, ..Sharing::default() }).await;
    let acme = o.fake.insert("Account", json!({ "Name": "Acme" })).unwrap();
    let c = o.fake.insert("Contact", json!({ "LastName": "Lee", "AccountId": acme, "OwnerId": o.bob.user })).unwrap();
    let e = o
        .fake
        .insert(
            "Event",
            json!({ "StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30, "WhatId": acme, "WhoId": c }),
        )
        .unwrap();

    let soql = "SELECT Id, AccountId, Account.Name FROM Contact";
    let ada = o.ada.rows(soql).await;
    assert_eq!(ada[0]["Account"]["Name"], "Acme");
    let bob = o.bob.rows(soql).await;
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0]["AccountId"], acme.as_str());
    assert!(bob[0]["Account"].is_null(), "{}", bob[0]);
    // Filters see the null too.
    let by_name = "SELECT Id FROM Contact WHERE Account.Name = 'Acme'";
    assert_eq!(o.ada.ids(by_name).await, vec![c.clone()]);
    assert!(o.bob.ids(by_name).await.is_empty());

    // The event stays visible; only its relationship to the account is null.
    let (status, body) = o.bob.get(&format!("/sobjects/Event/{e}")).await;
    assert_eq!(status, 200, "{body}");
    let rows = o.bob.rows(&format!("SELECT Id, What.Name, Who.Name FROM Event WHERE Id = '{e}'")).await;
    assert!(rows[0]["What"].is_null(), "{}", rows[0]);
    assert_eq!(rows[0]["Who"]["Name"], "Lee");
    let rows = o.ada.rows(&format!("SELECT Id, What.Name FROM Event WHERE Id = '{e}'")).await;
    assert_eq!(rows[0]["What"]["Name"], "Acme");
}

#[tokio::test]
async fn shares_grant_reading_and_editing() {
    let o = org(private()).await;
    let c = o.fake.insert("Contact", json!({ "LastName": "Lee" })).unwrap();
    let path = format!("/sobjects/Contact/{c}");
    let edit = json!({ "Title": "Engineer" });

    // Invisible: reads are 404, writes are refused as for a read-only record.
    assert_eq!(o.bob.get(&path).await.0, 404);
    refused(&o.bob.patch(&path, edit.clone()).await, "INSUFFICIENT_ACCESS_OR_READONLY");
    refused(&o.bob.delete(&path).await, "INSUFFICIENT_ACCESS_OR_READONLY");

    // Read share: visible, not editable.
    o.fake.share("Contact", &c, &o.bob.user, false).unwrap();
    assert_eq!(o.bob.get(&path).await.0, 200);
    assert_eq!(o.bob.ids("SELECT Id FROM Contact").await, vec![c.clone()]);
    refused(&o.bob.patch(&path, edit.clone()).await, "INSUFFICIENT_ACCESS_OR_READONLY");
    refused(&o.bob.delete(&path).await, "INSUFFICIENT_ACCESS_OR_READONLY");
    let (status, body) = o
        .bob
        .patch(
            "/composite/sobjects",
            json!({ "records": [{ "attributes": { "type": "Contact" }, "id": c, "Title": "X" }] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["success"], false);
    assert_eq!(body[0]["errors"][0]["statusCode"], "INSUFFICIENT_ACCESS_OR_READONLY", "{body}");
    assert!(o.fake.get("Contact", &c).unwrap()["Title"].is_null());

    // Edit share: editable.
    o.fake.share("Contact", &c, &o.bob.user, true).unwrap();
    assert_eq!(o.bob.patch(&path, edit.clone()).await.0, 204);
    assert_eq!(o.fake.get("Contact", &c).unwrap()["Title"], "Engineer");

    // Public read: visible to all, editable by the owner only.
    let d = o.fake.insert("Contact", json!({ "LastName": "Moss" })).unwrap();
    o.fake.set_sharing(Sharing { contact: OrgWideDefault::PublicRead, ..private() });
    let path = format!("/sobjects/Contact/{d}");
    assert_eq!(o.bob.get(&path).await.0, 200);
    refused(&o.bob.patch(&path, edit.clone()).await, "INSUFFICIENT_ACCESS_OR_READONLY");
    assert_eq!(o.ada.patch(&path, edit.clone()).await.0, 204);
    // Modify All Data (View All Data in the fake) edits anything.
    o.fake.grant_view_all(&o.bob.user);
    assert_eq!(o.bob.patch(&path, json!({ "Title": "Boss" })).await.0, 204);
}

#[tokio::test]
async fn a_lookup_to_a_record_the_user_cannot_see_is_refused() {
    let o = org(Sharing { account: OrgWideDefault::Private, ..Sharing::default() }).await;
    let acme = o.fake.insert("Account", json!({ "Name": "Acme" })).unwrap();

    let answer = o.bob.post("/sobjects/Contact", json!({ "LastName": "Lee", "AccountId": acme })).await;
    let e = refused(&answer, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY");
    assert_eq!(e["fields"], json!(["AccountId"]));
    let event = json!({ "StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30, "WhatId": acme });
    let e =
        refused(&o.bob.post("/sobjects/Event", event.clone()).await, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY");
    assert_eq!(e["fields"], json!(["WhatId"]));
    // The owner may; so may Bob once it is shared with him.
    assert_eq!(o.ada.post("/sobjects/Contact", json!({ "LastName": "Lee", "AccountId": acme })).await.0, 201);
    o.fake.share("Account", &acme, &o.bob.user, false).unwrap();
    assert_eq!(o.bob.post("/sobjects/Contact", json!({ "LastName": "Lee", "AccountId": acme })).await.0, 201);
    assert_eq!(o.bob.post("/sobjects/Event", event).await.0, 201);

    // A relation to a contact Bob cannot see.
    o.fake.set_sharing(private());
    let hidden = o.fake.insert("Contact", json!({ "LastName": "Hidden" })).unwrap();
    let ev = o
        .bob
        .post("/sobjects/Event", json!({ "StartDateTime": "2026-03-03T09:00:00Z", "DurationInMinutes": 30 }))
        .await;
    assert_eq!(ev.0, 201, "{}", ev.1);
    let answer = o
        .bob
        .post("/sobjects/EventRelation", json!({ "EventId": ev.1["id"], "RelationId": hidden, "IsInvitee": true }))
        .await;
    let e = refused(&answer, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY");
    assert_eq!(e["fields"], json!(["RelationId"]));
}

#[tokio::test]
async fn follows_are_records_and_feed_semi_joins() {
    let o = org(Sharing::default()).await;
    let c: Vec<String> =
        (0..3).map(|i| o.fake.insert("Contact", json!({ "LastName": format!("C{i}") })).unwrap()).collect();
    let ada = o.ada.user.clone();
    let (status, body) =
        o.ada.post("/sobjects/EntitySubscription", json!({ "ParentId": c[0], "SubscriberId": ada })).await;
    assert_eq!(status, 201, "{body}");
    let first = body["id"].as_str().unwrap().to_owned();
    assert!(first.starts_with("0E8"), "{first}");
    o.fake.follow(&ada, &c[2]).unwrap();
    o.fake.follow(&o.bob.user, &c[1]).unwrap();

    let followed = format!(
        "SELECT Id FROM Contact WHERE Id IN (SELECT ParentId FROM EntitySubscription WHERE SubscriberId = '{ada}')"
    );
    assert_eq!(o.ada.ids(&followed).await, vec![c[0].clone(), c[2].clone()]);

    // A second follow of the same record is refused, over the API and from the handle.
    let again = o.ada.post("/sobjects/EntitySubscription", json!({ "ParentId": c[0], "SubscriberId": ada })).await;
    refused(&again, "DUPLICATE_VALUE");
    assert_eq!(o.fake.follow(&ada, &c[2]).unwrap_err().code, "DUPLICATE_VALUE");
    // Making someone else follow needs Modify All Data.
    let other =
        o.ada.post("/sobjects/EntitySubscription", json!({ "ParentId": c[0], "SubscriberId": o.bob.user })).await;
    refused(&other, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY");

    // No modification stamps; a LIMIT of at most 1000 for users without View All Data.
    let (status, body) =
        o.ada.query("SELECT Id FROM EntitySubscription WHERE SystemModstamp > 2026-01-01T00:00:00Z LIMIT 10").await;
    assert_eq!((status, body[0]["errorCode"].as_str()), (400, Some("INVALID_FIELD")), "{body}");
    let (status, body) = o.ada.query("SELECT Id FROM EntitySubscription").await;
    assert_eq!((status, body[0]["errorCode"].as_str()), (400, Some("MALFORMED_QUERY")), "{body}");
    let rows = o
        .ada
        .rows(
            "SELECT Id, ParentId, SubscriberId, CreatedById, CreatedDate, NetworkId FROM EntitySubscription LIMIT 1000",
        )
        .await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["NetworkId"].is_null()));

    // Unfollowing: by the API and from the handle.
    assert_eq!(o.ada.delete(&format!("/sobjects/EntitySubscription/{first}")).await.0, 204);
    assert_eq!(o.ada.ids(&followed).await, vec![c[2].clone()]);
    o.fake.unfollow(&ada, &c[2]).unwrap();
    assert!(o.ada.ids(&followed).await.is_empty());
    assert_eq!(o.fake.unfollow(&ada, &c[2]).unwrap_err().code, "INVALID_CROSS_REFERENCE_KEY");

    // Described like the others, create and delete only.
    let (status, body) = o.ada.get("/sobjects/EntitySubscription/describe").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["keyPrefix"], "0E8");
    assert_eq!(body["updateable"], false);
    let names: Vec<&str> = body["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(!names.contains(&"SystemModstamp") && names.contains(&"ParentId"), "{names:?}");
}

#[tokio::test]
async fn follows_of_private_records_follow_visibility() {
    let o = org(private()).await;
    let hidden = o.fake.insert("Contact", json!({ "LastName": "Hidden" })).unwrap();
    o.fake.follow(&o.ada.user, &hidden).unwrap();
    assert_eq!(o.fake.follow(&o.bob.user, &hidden).unwrap_err().code, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY");
    assert_eq!(o.bob.count("SELECT COUNT() FROM EntitySubscription LIMIT 10").await, 0);
    assert_eq!(o.ada.count("SELECT COUNT() FROM EntitySubscription LIMIT 10").await, 1);
}

fn event() -> Value {
    json!({ "StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30 })
}

#[tokio::test]
async fn shared_activities_mirror_the_who_and_limit_relations() {
    let o = org(Sharing::default()).await;
    let c: Vec<String> =
        (0..52).map(|i| o.fake.insert("Contact", json!({ "LastName": format!("C{i:02}") })).unwrap()).collect();
    let relations =
        |e: &str| format!("SELECT RelationId, IsParent, IsInvitee FROM EventRelation WHERE EventId = '{e}'");

    // The who gets a parent relation; a new who replaces it.
    let mut body = event();
    body["WhoId"] = json!(c[0]);
    let (status, created) = o.ada.post("/sobjects/Event", body).await;
    assert_eq!(status, 201, "{created}");
    let e = created["id"].as_str().unwrap().to_owned();
    let rows = o.ada.rows(&relations(&e)).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (&rows[0]["RelationId"], &rows[0]["IsParent"], &rows[0]["IsInvitee"]),
        (&json!(c[0]), &json!(true), &json!(false))
    );
    assert_eq!(o.ada.patch(&format!("/sobjects/Event/{e}"), json!({ "WhoId": c[1] })).await.0, 204);
    let rows = o.ada.rows(&relations(&e)).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["RelationId"], c[1].as_str());

    // Up to 50 parent contacts (the who counts): 49 more fit, the 51st does not.
    let batch: Vec<Value> = c[2..51]
        .iter()
        .map(
            |id| json!({ "attributes": { "type": "EventRelation" }, "EventId": e, "RelationId": id, "IsParent": true }),
        )
        .collect();
    let (status, body) = o.ada.post("/composite/sobjects", json!({ "allOrNone": true, "records": batch })).await;
    assert_eq!(status, 200);
    assert!(body.as_array().unwrap().iter().all(|r| r["success"] == true), "{body}");
    let one_more = json!({ "EventId": e, "RelationId": c[51], "IsParent": true });
    let err = refused(&o.ada.post("/sobjects/EventRelation", one_more).await, "FIELD_INTEGRITY_EXCEPTION");
    assert!(err["message"].as_str().unwrap().contains("50"), "{err}");
    // As an invitee only, the same contact is fine.
    assert_eq!(
        o.ada.post("/sobjects/EventRelation", json!({ "EventId": e, "RelationId": c[51], "IsInvitee": true })).await.0,
        201
    );
    // One relation per person and event.
    let twin = json!({ "EventId": e, "RelationId": c[51], "IsInvitee": true });
    refused(&o.ada.post("/sobjects/EventRelation", twin).await, "DUPLICATE_VALUE");

    // A lead is a parent alone.
    let lead = o.fake.insert("Lead", json!({ "LastName": "Lead", "Company": "L Ltd" })).unwrap();
    refused(
        &o.ada.post("/sobjects/EventRelation", json!({ "EventId": e, "RelationId": lead, "IsParent": true })).await,
        "FIELD_INTEGRITY_EXCEPTION",
    );
    let mut body = event();
    body["WhoId"] = json!(lead);
    let (status, created) = o.ada.post("/sobjects/Event", body).await;
    assert_eq!(status, 201, "{created}");
    let with_lead = created["id"].as_str().unwrap().to_owned();
    refused(
        &o.ada
            .post("/sobjects/EventRelation", json!({ "EventId": with_lead, "RelationId": c[0], "IsParent": true }))
            .await,
        "FIELD_INTEGRITY_EXCEPTION",
    );

    // No relation on a child event.
    let child = o.fake.insert_unchecked("Event", json!({ "IsChild": true })).unwrap();
    let err = refused(
        &o.ada
            .post("/sobjects/EventRelation", json!({ "EventId": child, "RelationId": c[0], "IsInvitee": true }))
            .await,
        "FIELD_INTEGRITY_EXCEPTION",
    );
    assert_eq!(err["fields"], json!(["EventId"]));

    // At most 100 invitees on a recurring event.
    let series = o
        .fake
        .insert(
            "Event",
            json!({ "StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30, "IsRecurrence2": true,
                    "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;COUNT=5" }),
        )
        .unwrap();
    let people: Vec<String> = (0..101)
        .map(|i| o.fake.add_user(&format!("u{i}@example.com"), "U", &format!("N{i}"), "Europe/London"))
        .collect();
    for p in &people[..100] {
        o.fake.invite(&series, p, "New").unwrap();
    }
    assert_eq!(o.fake.invite(&series, &people[100], "New").unwrap_err().code, "FIELD_INTEGRITY_EXCEPTION");
}

#[tokio::test]
async fn without_shared_activities_relations_are_invitees_only() {
    let (fake, server) =
        SalesforceFake::start_with(FakeConfig { shared_activities: false, ..FakeConfig::default() }).await.unwrap();
    let ada = Session::login(&fake, &server, &fake.user().username).await;
    let c = fake.insert("Contact", json!({ "LastName": "Lee" })).unwrap();
    let mut body = event();
    body["WhoId"] = json!(c);
    let (status, created) = ada.post("/sobjects/Event", body).await;
    assert_eq!(status, 201, "{created}");
    let e = created["id"].as_str().unwrap().to_owned();
    let soql = format!("SELECT Id, IsParent, IsInvitee FROM EventRelation WHERE EventId = '{e}'");
    assert!(ada.rows(&soql).await.is_empty());
    let err = refused(
        &ada.post("/sobjects/EventRelation", json!({ "EventId": e, "RelationId": c, "IsParent": true })).await,
        "FIELD_INTEGRITY_EXCEPTION",
    );
    assert_eq!(err["fields"], json!(["IsParent"]));
    // Neither flag given: both false.
    assert_eq!(ada.post("/sobjects/EventRelation", json!({ "EventId": e, "RelationId": c })).await.0, 201);
    let rows = ada.rows(&soql).await;
    assert_eq!((&rows[0]["IsParent"], &rows[0]["IsInvitee"]), (&json!(false), &json!(false)));

    // Switched on: the who is mirrored from the next change.
    fake.set_shared_activities(true);
    let d = fake.insert("Contact", json!({ "LastName": "Moss" })).unwrap();
    assert_eq!(ada.patch(&format!("/sobjects/Event/{e}"), json!({ "WhoId": d })).await.0, 204);
    let parents =
        ada.rows(&format!("SELECT RelationId FROM EventRelation WHERE EventId = '{e}' AND IsParent = true")).await;
    assert_eq!(parents.len(), 1, "{parents:?}");
    assert_eq!(parents[0]["RelationId"], d.as_str());
}

#[tokio::test]
async fn converted_leads_stay_queryable_and_is_converted_is_read_only() {
    let o = org(Sharing::default()).await;
    let refused_field =
        o.ada.post("/sobjects/Lead", json!({ "LastName": "L", "Company": "C", "IsConverted": true })).await;
    refused(&refused_field, "INVALID_FIELD_FOR_INSERT_UPDATE");
    let (status, body) = o.ada.post("/sobjects/Lead", json!({ "LastName": "L", "Company": "C" })).await;
    assert_eq!(status, 201, "{body}");
    let lead = body["id"].as_str().unwrap().to_owned();
    let path = format!("/sobjects/Lead/{lead}");
    assert_eq!(o.ada.get(&path).await.1["IsConverted"], false);
    refused(&o.ada.patch(&path, json!({ "IsConverted": true })).await, "INVALID_FIELD_FOR_INSERT_UPDATE");

    o.fake.convert_lead(&lead).unwrap();
    assert_eq!(o.ada.ids("SELECT Id FROM Lead WHERE IsConverted = true").await, vec![lead.clone()]);
    assert!(o.ada.ids("SELECT Id FROM Lead WHERE IsConverted = false").await.is_empty());
    refused(&o.ada.patch(&path, json!({ "Company": "D" })).await, "CANNOT_UPDATE_CONVERTED_LEAD");
    assert_eq!(o.fake.convert_lead(&lead).unwrap_err().code, "CANNOT_UPDATE_CONVERTED_LEAD");
}

#[tokio::test]
async fn text_comparisons_ignore_case() {
    let o = org(Sharing::default()).await;
    let acme = o.fake.insert("Account", json!({ "Name": "Acme Ltd" })).unwrap();
    let c = o.fake.insert("Contact", json!({ "LastName": "Lee", "AccountId": acme })).unwrap();
    assert_eq!(o.ada.ids("SELECT Id FROM Contact WHERE Account.Name = 'ACME LTD'").await, vec![c.clone()]);
    assert_eq!(o.ada.ids("SELECT Id FROM Account WHERE Name IN ('acme ltd', 'other')").await, vec![acme.clone()]);
    assert!(o.ada.ids("SELECT Id FROM Account WHERE Name = 'Acme'").await.is_empty());

    let bob = o.bob.user.clone();
    let rows = o
        .ada
        .rows("SELECT Id, Name, Email FROM User WHERE Email IN ('BOB@Example.COM', 'nobody@example.com') AND IsActive = true")
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["Id"].as_str(), rows[0]["Email"].as_str()), (Some(bob.as_str()), Some("bob@example.com")));
    assert_eq!(rows[0]["Name"], "Bob Babbage");
    assert!(o.ada.rows("SELECT Id FROM User WHERE Email = 'BOB@example.com' AND IsActive = false").await.is_empty());
}
