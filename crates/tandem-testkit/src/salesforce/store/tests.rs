//! Unit tests of the org: write validation, event rules, queries.

#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::super::schema::SchemaOptions;
use super::super::soql::parse;
use super::*;

fn org() -> Org {
    let options = SchemaOptions {
        middle_name: true,
        contact_custom: vec![("Region__c".into(), 20)],
        event_custom: vec![],
        sync_key: Some(("Tandem_Sync_Id__c".into(), true)),
    };
    Org::new(schema::objects(&options), "v62.0".into(), 2)
}

fn fields(v: Value) -> Fields {
    v.as_object().cloned().unwrap()
}

const ADA: &str = "005000000000001AAA";

#[test]
fn inserts_validate_like_salesforce() {
    let mut o = org();
    let user =
        o.insert("User", &fields(json!({"Username": "ada@example.com", "LastName": "Lovelace"})), "", false).unwrap();
    assert_eq!(user, ADA);
    let e = o.insert("Contact", &fields(json!({"FirstName": "Ada"})), ADA, true).unwrap_err();
    assert_eq!((e.code.as_str(), e.fields.clone()), ("REQUIRED_FIELD_MISSING", vec!["LastName".to_owned()]));
    let e = o.insert("Contact", &fields(json!({"LastName": "x".repeat(81)})), ADA, true).unwrap_err();
    assert_eq!(e.code, "STRING_TOO_LONG");
    let e = o.insert("Contact", &fields(json!({"LastName": "L", "Email": "nope"})), ADA, true).unwrap_err();
    assert_eq!(e.code, "INVALID_EMAIL_ADDRESS");
    let e = o.insert("Contact", &fields(json!({"LastName": "L", "Nope__c": "x"})), ADA, true).unwrap_err();
    assert_eq!(e.code, "INVALID_FIELD");
    let e = o
        .insert("Contact", &fields(json!({"LastName": "L", "SystemModstamp": "2026-01-01T00:00:00Z"})), ADA, true)
        .unwrap_err();
    assert_eq!(e.code, "INVALID_FIELD_FOR_INSERT_UPDATE");
    let id = o
        .insert(
            "Contact",
            &fields(json!({"FirstName": "Ada", "LastName": "Lovelace", "Tandem_Sync_Id__c": "K1"})),
            ADA,
            true,
        )
        .unwrap();
    assert_eq!(o.get("Contact", &id).unwrap()["Name"], "Ada Lovelace");
    assert_eq!(o.get("Contact", &id).unwrap()["OwnerId"], ADA);
    let e =
        o.insert("Contact", &fields(json!({"LastName": "Twin", "Tandem_Sync_Id__c": "k1"})), ADA, true).unwrap_err();
    assert_eq!(e.code, "DUPLICATE_VALUE");
}

#[test]
fn event_rules() {
    let mut o = org();
    o.insert("User", &fields(json!({"Username": "ada@example.com", "LastName": "Lovelace"})), "", false).unwrap();
    let long =
        fields(json!({"Subject": "x", "StartDateTime": "2026-01-01T00:00:00Z", "EndDateTime": "2026-01-16T00:00:00Z"}));
    assert_eq!(o.insert("Event", &long, ADA, true).unwrap_err().message, "An event can't last longer than 14 days.");
    let all_day =
        fields(json!({"IsAllDayEvent": true, "ActivityDate": "2026-03-02", "EndDateTime": "2026-03-03T00:00:00Z"}));
    let id = o.insert("Event", &all_day, ADA, true).unwrap();
    let e = o.get("Event", &id).unwrap();
    assert_eq!(e["DurationInMinutes"], 2880);
    assert_eq!(e["StartDateTime"], "2026-03-02T00:00:00.000+0000");
    let fourteen =
        fields(json!({"IsAllDayEvent": true, "ActivityDate": "2026-03-01", "EndDateTime": "2026-03-14T00:00:00Z"}));
    assert!(o.insert("Event", &fourteen, ADA, true).is_ok());
    let fifteen =
        fields(json!({"IsAllDayEvent": true, "ActivityDate": "2026-03-01", "EndDateTime": "2026-03-15T00:00:00Z"}));
    assert!(o.insert("Event", &fifteen, ADA, true).is_err());
    let timed = fields(json!({"StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30}));
    let id = o.insert("Event", &timed, ADA, true).unwrap();
    assert_eq!(o.get("Event", &id).unwrap()["EndDateTime"], "2026-03-02T09:30:00.000+0000");
    let bad_rec =
        fields(json!({"StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30, "IsRecurrence2": true}));
    assert_eq!(o.insert("Event", &bad_rec, ADA, true).unwrap_err().code, "FIELD_INTEGRITY_EXCEPTION");
    // Someone else's event is read-only.
    let e =
        o.update("Event", &id, &fields(json!({"Subject": "mine now"})), Some("005000000000099AAA"), true).unwrap_err();
    assert_eq!(e.code, "INSUFFICIENT_ACCESS_OR_READONLY");
}

#[test]
fn queries_filter_sort_page_and_join() {
    let mut o = org();
    o.insert(
        "User",
        &fields(json!({"Username": "ada@example.com", "LastName": "Lovelace", "Email": "ada@example.com"})),
        "",
        false,
    )
    .unwrap();
    let acct = o.insert("Account", &fields(json!({"Name": "Acme"})), ADA, true).unwrap();
    let mut ids = Vec::new();
    for name in ["C", "A", "B"] {
        ids.push(o.insert("Contact", &fields(json!({"LastName": name, "AccountId": acct})), ADA, true).unwrap());
    }
    let select =
        parse("SELECT Id, LastName, Account.Name FROM Contact WHERE OwnerId = '005000000000001AAA' ORDER BY LastName")
            .unwrap();
    let page = o.query(&select, false, None).unwrap();
    assert_eq!(page["done"], false);
    assert_eq!(page["records"][0]["LastName"], "A");
    assert_eq!(page["records"][0]["Account"]["Name"], "Acme");
    let next = page["nextRecordsUrl"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let rest = o.more(&next, None).unwrap();
    assert_eq!(rest["done"], true);
    assert_eq!(rest["records"][0]["LastName"], "C");
    assert_eq!(o.more(&next, None).unwrap_err().code, "INVALID_QUERY_LOCATOR");

    o.delete("Contact", &ids[0], None).unwrap();
    let q = parse("SELECT Id FROM Contact WHERE IsDeleted = true").unwrap();
    assert_eq!(o.query(&q, false, None).unwrap()["totalSize"], 0);
    assert_eq!(o.query(&q, true, None).unwrap()["totalSize"], 1);

    let event = o
        .insert("Event", &fields(json!({"StartDateTime": "2026-03-02T09:00:00Z", "DurationInMinutes": 30})), ADA, true)
        .unwrap();
    o.insert("EventRelation", &fields(json!({"EventId": event, "RelationId": ids[1], "IsInvitee": true})), ADA, true)
        .unwrap();
    let q = parse(
        "SELECT Id FROM Event WHERE Id IN (SELECT EventId FROM EventRelation WHERE RelationId = '003000000000004AAA')",
    )
    .unwrap();
    assert_eq!(o.query(&q, false, None).unwrap()["totalSize"], 1);
    let q = parse("SELECT EventId, Relation.Name, Relation.Email FROM EventRelation").unwrap();
    let r = o.query(&q, false, None).unwrap();
    assert_eq!(r["records"][0]["Relation"]["Name"], "A");
    assert_eq!(r["records"][0]["Relation"]["attributes"]["type"], "Name");

    for bad in [
        "SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-01'",
        "SELECT Nope FROM Contact",
        "SELECT Id FROM Nope",
    ] {
        let e = o.query(&parse(bad).unwrap(), false, None).unwrap_err();
        assert!(e.code == "INVALID_FIELD" || e.code == "INVALID_TYPE", "{bad}: {e:?}");
    }
}

#[test]
fn stamps_increase_strictly_but_never_run_more_than_a_second_ahead_of_the_clock() {
    let mut o = org();
    let start = o.now();
    let stamps: Vec<DateTime<Utc>> = (0..5_000).map(|_| o.stamp()).collect();
    let end = o.now();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "never backwards");
    assert!(stamps[..100].windows(2).all(|w| w[0] < w[1]), "a test's few writes are ordered");
    let lead = Duration::milliseconds(MAX_STAMP_LEAD_MS);
    assert!(stamps.iter().all(|s| *s <= end + lead), "{:?} after {end}", stamps.last());
    assert!(stamps.iter().any(|s| *s > start), "the clock moves them on");
    // 5,000 strictly increasing stamps would reach five seconds ahead.
    assert!(stamps.windows(2).any(|w| w[0] == w[1]), "a burst shares stamps");
}
