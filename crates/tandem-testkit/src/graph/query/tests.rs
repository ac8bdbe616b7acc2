//! Unit tests of the query options: `$filter` parsing and evaluation, top-level splitting.

use serde_json::json;

use super::entity::Entity;
use super::filter::{matches, parse_filter};
use super::options::split_top_level;

#[test]
fn filters_parse_and_evaluate() {
    let item = json!({"displayName": "Ann O'Hara", "isAllDay": true, "reminderMinutesBeforeStart": 15,
        "createdDateTime": "2026-01-05T09:00:00Z",
        "singleValueExtendedProperties": [{"id": "String {x} Name K", "value": "v1"}]});
    let ok = |f: &str| matches(&parse_filter(f, Entity::Event).unwrap(), &item);
    assert!(ok("isAllDay eq true and reminderMinutesBeforeStart ge 10"));
    assert!(ok("createdDateTime gt 2026-01-01T00:00:00Z"));
    assert!(!ok("createdDateTime lt 2026-01-01T00:00:00Z"));
    assert!(ok("singleValueExtendedProperties/Any(ep: ep/id eq 'String {x} Name K' and ep/value eq 'v1')"));
    assert!(!ok("singleValueExtendedProperties/any(ep: ep/value eq 'v2')"));
    assert!(ok("not (subject eq 'x') or isAllDay"));
    let contact = json!({"displayName": "Ann O'Hara"});
    assert!(matches(&parse_filter("displayName eq 'ann o''hara'", Entity::Contact).unwrap(), &contact));
    assert!(matches(&parse_filter("startswith(displayName,'Ann')", Entity::Contact).unwrap(), &contact));
    assert_eq!(parse_filter("nope eq 1", Entity::Contact).unwrap_err().code, "BadRequest");
    assert_eq!(
        parse_filter("endswith(displayName,'a')", Entity::Contact).unwrap_err().code,
        "ErrorInvalidUrlQueryFilter"
    );
    assert!(parse_filter("displayName eq 'a", Entity::Contact).is_err());
}

#[test]
fn top_level_split() {
    assert_eq!(split_top_level("a($filter=id eq 'x,y'),b"), vec!["a($filter=id eq 'x,y')", "b"]);
}
