//! Tests of the feed queries: the keyset condition.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::SalesforceConnector;
use crate::cursor::{Key, State};
use crate::soql::{Cond, Literal, Query};

#[test]
fn the_keyset_condition_follows_the_position() {
    let t = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap() + Duration::milliseconds(250);
    let render = |state: &State| {
        let q = Query::select(vec![ident("Id")], ident("Contact"))
            .and(Cond::eq(ident("OwnerId"), Literal::Text("005000000000001AAA".to_owned())));
        let q = match SalesforceConnector::lower_bound(state) {
            Some(c) => q.and(c),
            None => q,
        };
        q.to_soql()
    };
    let mut s = State::fresh(ObjectKind::Contact);
    let owner = "SELECT Id FROM Contact WHERE OwnerId = '005000000000001AAA'";
    assert_eq!(render(&s), owner);
    s.since = Some(t);
    assert_eq!(render(&s), format!("{owner} AND SystemModstamp >= 2026-01-05T09:00:00.250Z"));
    s.after = Some(Key { t, id: "003000000000002AAA".to_owned() });
    // The position replaces `since` (it is at or after it), parenthesised under the AND.
    assert_eq!(
        render(&s),
        format!(
            "{owner} AND (SystemModstamp > 2026-01-05T09:00:00.250Z OR \
             (SystemModstamp = 2026-01-05T09:00:00.250Z AND Id > '003000000000002AAA'))"
        )
    );
}
