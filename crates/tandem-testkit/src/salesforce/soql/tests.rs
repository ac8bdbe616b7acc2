//! Unit tests of the SOQL parser: statement shapes, escapes, rejections, literals, date ranges,
//! LIKE patterns.

use chrono::NaiveDate;

use super::ast::{CmpOp, Expr, Lit};
use super::dates::DateLiteral;
use super::like::like;
use super::parse::parse;

#[test]
fn parses_the_connector_shapes() {
    let s = parse(
        "SELECT Id, Account.Name FROM Contact WHERE OwnerId = '005000000000001AAA' AND \
         (SystemModstamp >= 2026-01-05T09:00:00Z OR Id IN ('003000000000001AAA')) AND \
         Id IN (SELECT EventId FROM EventRelation WHERE IsInvitee = true) ORDER BY SystemModstamp ASC, Id LIMIT 10",
    )
    .unwrap();
    assert_eq!(s.fields, ["Id", "Account.Name"]);
    assert_eq!(s.object, "Contact");
    assert_eq!(s.limit, Some(10));
    assert_eq!(s.order.len(), 2);
    let Some(Expr::And(parts)) = &s.filter else { panic!("{:?}", s.filter) };
    assert_eq!(parts.len(), 3);
    assert!(matches!(&parts[2], Expr::InSelect { .. }));
}

#[test]
fn escapes_and_injection_stay_in_the_literal() {
    let s = parse(r"SELECT Id FROM Contact WHERE LastName = 'O\'Brien \\ \' OR Id != \''").unwrap();
    let Some(Expr::Cmp { value: Lit::Str(v), .. }) = s.filter else { panic!() };
    assert_eq!(v, r"O'Brien \ ' OR Id != '");
}

#[test]
fn rejects_what_it_does_not_support() {
    for q in [
        "SELECT COUNT(Id) FROM Contact",
        "SELECT Id FROM Contact WHERE CreatedDate = LAST_N_QUARTERS:2",
        "SELECT Id FROM Contact WHERE CreatedDate = THIS_FISCAL_YEAR",
        "SELECT FIELDS(ALL) FROM Contact",
        "SELECT FIELDS(CUSTOM) FROM Contact LIMIT 201",
        "SELECT Id FROM Contact GROUP BY Id",
        "SELECT Id FROM Contact OFFSET 5",
        "SELECT Id FROM Contact WHERE a = 1 AND b = 2 OR c = 3",
        "SELECT Id FROM Contact WHERE LastName = 'x",
        "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
        "SELECT Id FROM Contact WHERE LastName = 'a\\qb'",
        "SELECT Id FROM Contact; DELETE",
        "DELETE FROM Contact",
        "SELECT FROM Contact",
    ] {
        let e = parse(q).unwrap_err();
        assert_eq!(e.code, "MALFORMED_QUERY", "{q}");
    }
    assert!(parse("SELECT Id FROM Contact WHERE (a = 1 AND b = 2) OR c = 3").is_ok());
    assert!(parse("SELECT Id FROM Contact WHERE NOT a = 1").is_ok());
}

#[test]
fn literals() {
    let s = parse("SELECT Id FROM Event WHERE SystemModstamp > 2026-01-05T09:00:00.250+01:00 AND ActivityDate = 2026-01-05 AND DurationInMinutes <= 60").unwrap();
    let Some(Expr::And(p)) = s.filter else { panic!() };
    assert!(matches!(&p[0], Expr::Cmp { value: Lit::DateTime(_), .. }));
    assert!(matches!(&p[1], Expr::Cmp { value: Lit::Date(_), .. }));
    assert!(matches!(&p[2], Expr::Cmp { value: Lit::Num(n), op: CmpOp::Le, .. } if *n == 60.0));
}

#[test]
fn date_literal_ranges() {
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    // A Tuesday at the end of a leap February.
    let today = d("2028-02-29");
    assert_eq!(DateLiteral::Today.range(today), (today, d("2028-03-01")));
    assert_eq!(DateLiteral::ThisWeek.range(today), (d("2028-02-28"), d("2028-03-06")));
    assert_eq!(DateLiteral::LastWeek.range(today), (d("2028-02-21"), d("2028-02-28")));
    assert_eq!(DateLiteral::LastMonth.range(today), (d("2028-01-01"), d("2028-02-01")));
    assert_eq!(DateLiteral::NextMonth.range(d("2028-12-31")), (d("2029-01-01"), d("2029-02-01")));
    assert_eq!(DateLiteral::LastNDays(1).range(today), (d("2028-02-28"), d("2028-03-01")));
    assert_eq!(DateLiteral::NextNDays(2).range(today), (d("2028-03-01"), d("2028-03-03")));
    let s = parse("SELECT Id FROM Event WHERE ActivityDate = last_n_days:7 AND CreatedDate < Next_Week").unwrap();
    let Some(Expr::And(p)) = s.filter else { panic!() };
    assert!(matches!(&p[0], Expr::Cmp { value: Lit::Relative(DateLiteral::LastNDays(7)), .. }));
    assert!(matches!(&p[1], Expr::Cmp { value: Lit::Relative(DateLiteral::NextWeek), .. }));
}

#[test]
fn like_patterns() {
    assert!(like("Lovelace", "love%"));
    assert!(like("a_b", "a\\_b"));
    assert!(!like("axb", "a\\_b"));
    assert!(like("axb", "a_b"));
    assert!(!like("Lovelace", "%x%"));
}
