//! The Salesforce fake's SOQL beyond the connector's own queries, over HTTP: `COUNT()`,
//! `FIELDS()`, date literals against the fake's clock, Salesforce's semi-join restrictions, and a
//! shared org whose indexes keep one user's query from scanning everyone's records.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{Datelike, Duration, NaiveTime, Utc};
use serde_json::{Value, json};
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::FakeServer;

mod common;

use common::client;

struct Api {
    fake: SalesforceFake,
    server: FakeServer,
    token: String,
}

impl Api {
    async fn start() -> Api {
        let (fake, server) = SalesforceFake::start().await.unwrap();
        let token = common::salesforce_login(&fake, &server, &server.base_url()).await;
        Api { fake, server, token }
    }

    async fn query(&self, soql: &str) -> (u16, Value) {
        let r = client()
            .get(self.server.url("/services/data/v62.0/query"))
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
        assert_eq!(body["done"], true, "{soql}: {body}");
        body["records"].as_array().unwrap().clone()
    }

    /// The last names the query returns, in order.
    async fn names(&self, soql: &str) -> Vec<String> {
        self.rows(soql).await.iter().map(|r| r["LastName"].as_str().unwrap_or("").to_owned()).collect()
    }

    /// Asserts the query is refused with Salesforce's error array of one `code`.
    async fn refused(&self, soql: &str, code: &str) -> String {
        let (status, body) = self.query(soql).await;
        assert_eq!(status, 400, "{soql}: {body}");
        let errors = body.as_array().unwrap_or_else(|| panic!("{soql}: not an array: {body}"));
        assert_eq!(errors.len(), 1, "{soql}: {body}");
        assert_eq!(errors[0]["errorCode"], code, "{soql}: {body}");
        assert!(errors[0].get("fields").is_none(), "{soql}: {body}");
        errors[0]["message"].as_str().unwrap().to_owned()
    }
}

fn contact(api: &Api, last: &str) -> String {
    api.fake.insert("Contact", json!({ "LastName": last, "Region__c": "North" })).unwrap()
}

#[tokio::test]
async fn count_answers_the_total_with_no_records() {
    let api = Api::start().await;
    for name in ["Lovelace", "Lamarr", "Hopper"] {
        contact(&api, name);
    }
    let (status, body) = api.query("SELECT COUNT() FROM Contact WHERE LastName LIKE 'L%'").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "totalSize": 2, "done": true, "records": [] }));
    let (_, body) = api.query("select count() from Contact").await;
    assert_eq!(body["totalSize"], 3);
    let (_, body) = api.query("SELECT COUNT() FROM Contact LIMIT 1").await;
    assert_eq!(body["totalSize"], 1);
    api.refused("SELECT COUNT(Id) FROM Contact", "MALFORMED_QUERY").await;
    api.refused("SELECT COUNT(), Id FROM Contact", "MALFORMED_QUERY").await;
    api.refused("SELECT COUNT() FROM Nope", "INVALID_TYPE").await;
}

#[tokio::test]
async fn fields_functions_expand_to_the_schema() {
    let api = Api::start().await;
    contact(&api, "Lovelace");
    let rows = api.rows("SELECT FIELDS(STANDARD) FROM Contact").await;
    let row = rows[0].as_object().unwrap();
    for f in ["Id", "LastName", "FirstName", "Email", "OwnerId", "SystemModstamp", "attributes"] {
        assert!(row.contains_key(f), "FIELDS(STANDARD) lacks {f}: {row:?}");
    }
    assert!(row.keys().all(|k| !k.ends_with("__c")), "{row:?}");

    let rows = api.rows("SELECT Id, FIELDS(CUSTOM) FROM Contact LIMIT 200").await;
    let row = rows[0].as_object().unwrap();
    assert_eq!(row["Region__c"], "North");
    assert!(row.contains_key("Tandem_Sync_Id__c"), "{row:?}");
    assert!(!row.contains_key("LastName"), "{row:?}");

    let rows = api.rows("SELECT FIELDS(ALL) FROM Contact LIMIT 10").await;
    let row = rows[0].as_object().unwrap();
    assert!(row.contains_key("LastName") && row.contains_key("Region__c"), "{row:?}");

    // Unbounded FIELDS(ALL) / FIELDS(CUSTOM) need a LIMIT of at most 200.
    for soql in [
        "SELECT FIELDS(ALL) FROM Contact",
        "SELECT FIELDS(CUSTOM) FROM Contact",
        "SELECT FIELDS(ALL) FROM Contact LIMIT 201",
        "SELECT FIELDS(EVERYTHING) FROM Contact",
    ] {
        api.refused(soql, "MALFORMED_QUERY").await;
    }
    let message = api.refused("SELECT Id, Nope FROM Contact", "INVALID_FIELD").await;
    assert!(message.starts_with("No such column 'Nope' on entity 'Contact'."), "{message}");
}

/// Moves the fake's clock to the coming noon (UTC), away from midnight, and returns today.
fn at_noon(fake: &SalesforceFake) -> chrono::NaiveDate {
    let now = fake.now();
    let noon = (now.date_naive() + Duration::days(1)).and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap()).and_utc();
    fake.advance_clock(noon - now);
    fake.now().date_naive()
}

#[tokio::test]
async fn date_literals_follow_the_fake_clock() {
    let api = Api::start().await;
    let start = at_noon(&api.fake);
    contact(&api, "Old");
    api.fake.advance_clock(Duration::days(3));
    contact(&api, "New");
    let today = api.fake.now().date_naive();
    assert_eq!(today, start + Duration::days(3));

    let q = |cond: &str| format!("SELECT LastName FROM Contact WHERE {cond} ORDER BY LastName");
    for (cond, expected) in [
        ("CreatedDate = TODAY", vec!["New"]),
        ("CreatedDate = today", vec!["New"]),
        ("CreatedDate = YESTERDAY", vec![]),
        ("CreatedDate = TOMORROW", vec![]),
        ("CreatedDate < TODAY", vec!["Old"]),
        ("CreatedDate > YESTERDAY", vec!["New"]),
        ("CreatedDate <= YESTERDAY", vec!["Old"]),
        ("CreatedDate >= TODAY", vec!["New"]),
        ("CreatedDate != TODAY", vec!["Old"]),
        ("CreatedDate = LAST_N_DAYS:2", vec!["New"]),
        ("CreatedDate = LAST_N_DAYS:3", vec!["New", "Old"]),
        ("CreatedDate = N_DAYS_AGO:3", vec!["Old"]),
        ("CreatedDate = NEXT_N_DAYS:5", vec![]),
        ("CreatedDate < NEXT_N_DAYS:5", vec!["New", "Old"]),
        ("CreatedDate = LAST_90_DAYS", vec!["New", "Old"]),
    ] {
        assert_eq!(api.names(&q(cond)).await, expected, "{cond}");
    }
    // Weeks start on Monday; months on the 1st.
    let old_this_week = today.weekday().num_days_from_monday() >= 3;
    let expected: Vec<&str> = if old_this_week { vec!["New", "Old"] } else { vec!["New"] };
    assert_eq!(api.names(&q("CreatedDate = THIS_WEEK")).await, expected);
    let expected: Vec<&str> = if old_this_week { vec![] } else { vec!["Old"] };
    assert_eq!(api.names(&q("CreatedDate = LAST_WEEK")).await, expected);
    let old_this_month = start.month() == today.month();
    let expected: Vec<&str> = if old_this_month { vec!["New", "Old"] } else { vec!["New"] };
    assert_eq!(api.names(&q("CreatedDate = THIS_MONTH")).await, expected);
    assert_eq!(api.names(&q("CreatedDate = NEXT_MONTH")).await, Vec::<String>::new());

    // Date fields too: an event tomorrow has tomorrow's ActivityDate.
    let tomorrow = today + Duration::days(1);
    api.fake
        .insert(
            "Event",
            json!({ "Subject": "Tea", "StartDateTime": format!("{tomorrow}T09:00:00Z"), "DurationInMinutes": 30 }),
        )
        .unwrap();
    for (cond, n) in [
        ("ActivityDate = TOMORROW", 1),
        ("ActivityDate = NEXT_N_DAYS:1", 1),
        ("ActivityDate = TODAY", 0),
        ("ActivityDate > TODAY", 1),
    ] {
        let rows = api.rows(&format!("SELECT Id FROM Event WHERE {cond}")).await;
        assert_eq!(rows.len(), n, "{cond}");
    }

    // Outside the subset, or on a field that is not a date.
    for cond in ["CreatedDate = THIS_FISCAL_QUARTER", "CreatedDate = LAST_N_WEEKS:2", "CreatedDate = LAST_N_DAYS:x"] {
        api.refused(&q(cond), "MALFORMED_QUERY").await;
    }
    api.refused(&q("LastName = TODAY"), "INVALID_FIELD").await;
}

#[tokio::test]
async fn semi_joins_obey_salesforces_restrictions() {
    let api = Api::start().await;
    let ada = api.fake.user().id;
    let who = contact(&api, "Lovelace");
    let event = api
        .fake
        .insert("Event", json!({ "Subject": "Tea", "StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30 }))
        .unwrap();
    api.fake.invite(&event, &who, "New").unwrap();
    api.fake.invite(&event, &ada, "Accepted").unwrap();

    // The connector's shape: Event with a semi-join on EventRelation.
    let rows = api
        .rows(&format!(
            "SELECT Id FROM Event WHERE OwnerId = '{ada}' AND IsChild = false AND \
             Id IN (SELECT EventId FROM EventRelation WHERE RelationId = '{ada}' AND IsInvitee = true)"
        ))
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Id"], event);
    let rows = api.rows("SELECT Id FROM Contact WHERE Id IN (SELECT RelationId FROM EventRelation)").await;
    assert_eq!(rows.len(), 1);
    let rows = api.rows("SELECT Id FROM Contact WHERE Id NOT IN (SELECT RelationId FROM EventRelation)").await;
    assert_eq!(rows.len(), 0);

    // Event (like Task) is not supported as the inner select.
    let message =
        api.refused("SELECT Id FROM Contact WHERE OwnerId IN (SELECT OwnerId FROM Event)", "MALFORMED_QUERY").await;
    assert!(message.contains("Event"), "{message}");
    api.refused("SELECT Id FROM Contact WHERE Id NOT IN (SELECT WhoId FROM Event)", "MALFORMED_QUERY").await;
    // Only in the top-level AND, and not nested.
    for soql in [
        "SELECT Id FROM Contact WHERE LastName = 'x' OR Id IN (SELECT RelationId FROM EventRelation)",
        "SELECT Id FROM Contact WHERE LastName = 'x' AND (LastName = 'y' OR Id IN (SELECT RelationId FROM EventRelation))",
        "SELECT Id FROM Contact WHERE NOT Id IN (SELECT RelationId FROM EventRelation)",
        "SELECT Id FROM Event WHERE Id IN (SELECT EventId FROM EventRelation WHERE RelationId IN \
         (SELECT Id FROM Contact))",
    ] {
        api.refused(soql, "MALFORMED_QUERY").await;
    }
}

#[tokio::test]
async fn a_users_query_in_a_shared_org_reads_only_its_records() {
    let api = Api::start().await;
    let users: Vec<String> = (0..40)
        .map(|u| api.fake.add_user(&format!("user{u}@example.com"), "User", &format!("Number {u}"), "Europe/London"))
        .collect();
    let mut theirs = Vec::new();
    for (u, user) in users.iter().enumerate() {
        for c in 0..10 {
            let id =
                api.fake.insert("Contact", json!({ "OwnerId": user, "LastName": format!("C{u:02}-{c:02}") })).unwrap();
            if u == 7 {
                theirs.push(id);
            }
        }
    }
    let user = &users[7];
    let since = api.fake.now() - Duration::hours(1);
    // Changes after the first read: an update, a delete, and a contact moved to another owner.
    api.fake.advance_clock(Duration::minutes(5));
    let mark = api.fake.now();
    api.fake.advance_clock(Duration::minutes(1));
    api.fake.update("Contact", &theirs[3], json!({ "Title": "Engineer" })).unwrap();
    api.fake.delete("Contact", &theirs[4]).unwrap();
    api.fake.update("Contact", &theirs[5], json!({ "OwnerId": users[8] })).unwrap();
    api.fake.update("Contact", &theirs[6], json!({ "LastName": "Moved in" })).unwrap();

    let stamp = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let ids = |rows: Vec<Value>| rows.iter().map(|r| r["Id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let indexed = format!(
        "SELECT Id FROM Contact WHERE OwnerId = '{user}' AND SystemModstamp >= {} ORDER BY SystemModstamp, Id",
        stamp(since)
    );
    let before = api.fake.records_examined();
    let first = ids(api.rows(&indexed).await);
    let examined = api.fake.records_examined() - before;
    assert_eq!(first.len(), 8, "{first:?}");
    assert!(examined <= 12, "one user's query examined {examined} of 400 contacts");

    // The same answers as a scan (LIKE and NOT are not indexed).
    let scanned = format!(
        "SELECT Id FROM Contact WHERE OwnerId LIKE '{user}' AND (NOT SystemModstamp < {}) ORDER BY SystemModstamp, Id",
        stamp(since)
    );
    let before = api.fake.records_examined();
    assert_eq!(ids(api.rows(&scanned).await), first);
    assert!(api.fake.records_examined() - before >= 400);

    let incremental = format!(
        "SELECT Id FROM Contact WHERE OwnerId = '{user}' AND SystemModstamp >= {} ORDER BY SystemModstamp, Id",
        stamp(mark)
    );
    let changed = ids(api.rows(&incremental).await);
    assert_eq!(changed, vec![theirs[3].clone(), theirs[6].clone()]);
    let before = api.fake.records_examined();
    let all = api.rows(&format!("SELECT Id FROM Contact WHERE SystemModstamp > {}", stamp(mark))).await;
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(api.fake.records_examined() - before <= 4);

    // A feed's keyset pages over the whole org walk the stamp index and stop at their limit: the
    // rows a sort of every match gives (NOT is not indexed), from a few records examined.
    let stamped = |rows: Vec<Value>| {
        rows.iter()
            .map(|r| {
                let at =
                    chrono::DateTime::parse_from_str(r["SystemModstamp"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.3f%z");
                (at.unwrap().with_timezone(&Utc), r["Id"].as_str().unwrap().to_owned())
            })
            .collect::<Vec<_>>()
    };
    let every = format!(
        "SELECT Id, SystemModstamp FROM Contact WHERE NOT SystemModstamp < {} ORDER BY SystemModstamp, Id",
        stamp(since)
    );
    let every = stamped(api.rows(&every).await);
    assert_eq!(every.len(), 399, "400 contacts, one deleted");
    let first_page = format!(
        "SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= {} ORDER BY SystemModstamp, Id LIMIT 25",
        stamp(since)
    );
    let before = api.fake.records_examined();
    let page = stamped(api.rows(&first_page).await);
    assert_eq!(page, every[..25]);
    assert!(api.fake.records_examined() - before <= 30, "{} examined", api.fake.records_examined() - before);
    let (at, last) = page[24].clone();
    let next_page = format!(
        "SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp > {t} OR (SystemModstamp = {t} AND Id > '{last}') \
         ORDER BY SystemModstamp, Id LIMIT 25",
        t = stamp(at)
    );
    let before = api.fake.records_examined();
    assert_eq!(stamped(api.rows(&next_page).await), every[25..50]);
    assert!(api.fake.records_examined() - before <= 60, "{} examined", api.fake.records_examined() - before);

    // The deleted one, through queryAll, under its owner.
    let r = client()
        .get(api.server.url("/services/data/v62.0/queryAll"))
        .query(&[("q", format!("SELECT Id FROM Contact WHERE OwnerId = '{user}' AND IsDeleted = true"))])
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["records"][0]["Id"], theirs[4], "{body}");
    // The moved one, under its new owner; by id, among others.
    let rows = api
        .rows(&format!("SELECT Id, OwnerId FROM Contact WHERE OwnerId = '{}' AND Id = '{}'", users[8], theirs[5]))
        .await;
    assert_eq!(rows.len(), 1);
    let by_id = format!("SELECT Id FROM Contact WHERE Id IN ('{}', '{}', '{}')", theirs[0], theirs[4], theirs[9]);
    let before = api.fake.records_examined();
    assert_eq!(ids(api.rows(&by_id).await), vec![theirs[0].clone(), theirs[9].clone()]);
    assert!(api.fake.records_examined() - before <= 3);
}
