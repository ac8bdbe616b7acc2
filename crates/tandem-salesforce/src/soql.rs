//! A small typed SOQL builder: nothing from configuration or data is ever pasted into a query.
//!
//! Field and object names are [`Ident`]s, checked against an identifier grammar when made (and by
//! the connector against the fields it knows); values are [`Literal`]s, rendered with Salesforce's
//! escapes for quotes and backslashes. A query is a [`Query`] value rendered once by
//! [`Query::to_soql`].

use std::fmt::{self, Write as _};

use chrono::{DateTime, NaiveDate, Utc};

/// A value or name that cannot go into a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoqlError {
    /// Not an identifier (`[A-Za-z][A-Za-z0-9_]*`, no trailing or tripled underscores, segments
    /// separated by single dots, at most 80 characters each).
    #[error("`{0}` is not a valid Salesforce field or object name")]
    BadIdent(String),
    /// The text holds a control character SOQL cannot carry.
    #[error("text contains a control character that SOQL cannot carry")]
    ControlCharacter,
    /// Not a Salesforce record id (15 or 18 letters and digits).
    #[error("`{0}` is not a Salesforce record id")]
    BadId(String),
}

/// A checked field or object name, possibly a relationship path such as `Account.Name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ident(String);

impl Ident {
    /// Checks `name` against the identifier grammar.
    ///
    /// # Errors
    ///
    /// [`SoqlError::BadIdent`].
    pub fn new(name: &str) -> Result<Ident, SoqlError> {
        let ok = !name.is_empty()
            && name.split('.').all(|seg| {
                let mut chars = seg.chars();
                chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                    && seg.len() <= 80
                    && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !seg.ends_with('_')
                    && !seg.contains("___")
            });
        if ok { Ok(Ident(name.to_owned())) } else { Err(SoqlError::BadIdent(name.to_owned())) }
    }

    /// A name known at compile time to be valid (the connector's own field names).
    pub(crate) fn known(name: &'static str) -> Ident {
        Ident(name.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks that `id` looks like a Salesforce record id.
///
/// # Errors
///
/// [`SoqlError::BadId`].
pub fn check_id(id: &str) -> Result<(), SoqlError> {
    if (id.len() == 15 || id.len() == 18) && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(SoqlError::BadId(id.to_owned()))
    }
}

/// A value in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// Text, rendered quoted and escaped. Build it with [`Literal::text`].
    Text(String),
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// `null`.
    Null,
    /// A datetime, rendered `YYYY-MM-DDThh:mm:ssZ`, with milliseconds (`ss.sssZ`) when it has
    /// any (SOQL accepts fractional seconds; a keyset position must match a stamp exactly).
    DateTime(DateTime<Utc>),
    /// A date, rendered `YYYY-MM-DD`.
    Date(NaiveDate),
}

impl Literal {
    /// A text literal.
    ///
    /// # Errors
    ///
    /// [`SoqlError::ControlCharacter`] for control characters other than newline, carriage
    /// return, tab, backspace and form feed (which have escapes).
    pub fn text(value: &str) -> Result<Literal, SoqlError> {
        if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{8}' | '\u{c}')) {
            return Err(SoqlError::ControlCharacter);
        }
        Ok(Literal::Text(value.to_owned()))
    }

    /// A record id literal.
    ///
    /// # Errors
    ///
    /// [`SoqlError::BadId`].
    pub fn id(id: &str) -> Result<Literal, SoqlError> {
        check_id(id)?;
        Ok(Literal::Text(id.to_owned()))
    }

    fn render(&self, out: &mut String) {
        match self {
            Literal::Text(t) => {
                out.push('\'');
                out.push_str(&escape(t));
                out.push('\'');
            }
            Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Literal::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Literal::Null => out.push_str("null"),
            Literal::DateTime(t) if t.timestamp_subsec_millis() != 0 => {
                let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
            }
            Literal::DateTime(t) => {
                let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%SZ"));
            }
            Literal::Date(d) => {
                let _ = write!(out, "{}", d.format("%Y-%m-%d"));
            }
        }
    }
}

/// Escapes text for a single-quoted SOQL string literal: backslash, quotes and the control
/// characters SOQL has escapes for.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `IN`
    In,
    /// `NOT IN`
    NotIn,
    /// `LIKE`
    Like,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::Like => "LIKE",
        }
    }
}

/// A `WHERE` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// `field op value`.
    Cmp(Ident, Op, Literal),
    /// `field IN (values)` or `NOT IN`. An empty list renders as a condition that is always false
    /// (`IN`) or always true (`NOT IN`) without sending an empty list.
    In(Ident, bool, Vec<Literal>),
    /// `field IN (SELECT inner FROM object WHERE cond)`: a semi-join.
    InSelect(Ident, Box<Query>),
    /// All of these.
    And(Vec<Cond>),
    /// Any of these.
    Or(Vec<Cond>),
}

impl Cond {
    /// `field = value`.
    pub fn eq(field: Ident, value: Literal) -> Cond {
        Cond::Cmp(field, Op::Eq, value)
    }

    /// `field IN (values)`.
    pub fn one_of(field: Ident, values: Vec<Literal>) -> Cond {
        Cond::In(field, true, values)
    }

    fn render(&self, out: &mut String, nested: bool) {
        match self {
            Cond::Cmp(field, op, value) => {
                let _ = write!(out, "{field} {} ", op.as_str());
                value.render(out);
            }
            Cond::In(field, positive, values) if values.is_empty() => {
                // `Id IN ()` is a syntax error; an id that cannot exist keeps the meaning.
                let _ = write!(out, "{field} {} ('000000000000000AAA')", if *positive { "IN" } else { "NOT IN" });
            }
            Cond::In(field, positive, values) => {
                let _ = write!(out, "{field} {} (", if *positive { "IN" } else { "NOT IN" });
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.render(out);
                }
                out.push(')');
            }
            Cond::InSelect(field, query) => {
                let _ = write!(out, "{field} IN (");
                out.push_str(&query.to_soql());
                out.push(')');
            }
            Cond::And(parts) | Cond::Or(parts) => {
                let sep = if matches!(self, Cond::And(_)) { " AND " } else { " OR " };
                let parts: Vec<&Cond> = parts.iter().collect();
                if parts.len() == 1 {
                    parts[0].render(out, nested);
                    return;
                }
                if nested {
                    out.push('(');
                }
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    p.render(out, true);
                }
                if nested {
                    out.push(')');
                }
            }
        }
    }
}

/// A `SELECT` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    fields: Vec<Ident>,
    from: Ident,
    filter: Vec<Cond>,
    order: Vec<(Ident, bool)>,
    limit: Option<u32>,
}

impl Query {
    /// `SELECT fields FROM from`.
    pub fn select(fields: Vec<Ident>, from: Ident) -> Query {
        Query { fields, from, filter: Vec::new(), order: Vec::new(), limit: None }
    }

    /// Adds a condition (conditions are ANDed).
    #[must_use]
    pub fn and(mut self, cond: Cond) -> Query {
        self.filter.push(cond);
        self
    }

    /// Adds an ascending sort key.
    #[must_use]
    pub fn order_by(mut self, field: Ident) -> Query {
        self.order.push((field, true));
        self
    }

    /// Sets `LIMIT`.
    #[must_use]
    pub fn limit(mut self, n: u32) -> Query {
        self.limit = Some(n);
        self
    }

    /// The statement as text.
    pub fn to_soql(&self) -> String {
        let mut out = String::from("SELECT ");
        for (i, f) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(f.as_str());
        }
        let _ = write!(out, " FROM {}", self.from);
        if !self.filter.is_empty() {
            out.push_str(" WHERE ");
            Cond::And(self.filter.clone()).render(&mut out, false);
        }
        if !self.order.is_empty() {
            out.push_str(" ORDER BY ");
            for (i, (f, asc)) in self.order.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{f} {}", if *asc { "ASC" } else { "DESC" });
            }
        }
        if let Some(n) = self.limit {
            let _ = write!(out, " LIMIT {n}");
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn id(s: &str) -> Ident {
        Ident::new(s).unwrap()
    }

    #[test]
    fn identifiers() {
        for ok in ["Id", "LastName", "Region__c", "ns__Field__c", "Account.Name", "Relation.Email"] {
            assert!(Ident::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1Field",
            "Name FROM User",
            "Name,Id",
            "Region__c--",
            "a.",
            ".a",
            "a..b",
            "Field_",
            "A___B",
            "Name'",
            "Name)",
            "Ñame",
        ] {
            assert!(Ident::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn literals_are_escaped() {
        let q = Query::select(vec![id("Id")], id("Contact"))
            .and(Cond::eq(id("LastName"), Literal::text("O'Brien \\ ' OR Id != '").unwrap()));
        assert_eq!(q.to_soql(), r"SELECT Id FROM Contact WHERE LastName = 'O\'Brien \\ \' OR Id != \''");
        assert_eq!(escape("a\nb\"c"), "a\\nb\\\"c");
        assert!(Literal::text("nul\u{0}").is_err());
    }

    #[test]
    fn full_statement() {
        let since = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap() + chrono::Duration::milliseconds(250);
        let q = Query::select(vec![id("Id"), id("SystemModstamp")], id("Event"))
            .and(Cond::eq(id("OwnerId"), Literal::id("005000000000001AAA").unwrap()))
            .and(Cond::Or(vec![
                Cond::Cmp(id("SystemModstamp"), Op::Ge, Literal::DateTime(since)),
                Cond::one_of(id("Id"), vec![Literal::id("00U000000000001AAA").unwrap()]),
            ]))
            .and(Cond::InSelect(
                id("Id"),
                Box::new(
                    Query::select(vec![id("EventId")], id("EventRelation"))
                        .and(Cond::eq(id("IsInvitee"), Literal::Bool(true))),
                ),
            ))
            .order_by(id("SystemModstamp"))
            .order_by(id("Id"))
            .limit(10);
        assert_eq!(
            q.to_soql(),
            "SELECT Id, SystemModstamp FROM Event WHERE OwnerId = '005000000000001AAA' AND \
             (SystemModstamp >= 2026-01-05T09:00:00.250Z OR Id IN ('00U000000000001AAA')) AND \
             Id IN (SELECT EventId FROM EventRelation WHERE IsInvitee = true) ORDER BY SystemModstamp ASC, Id ASC LIMIT 10"
        );
        let empty = Query::select(vec![id("Id")], id("Contact")).and(Cond::one_of(id("Id"), vec![]));
        assert!(empty.to_soql().ends_with("Id IN ('000000000000000AAA')"));
    }

    #[test]
    fn ids() {
        assert!(check_id("003000000000001").is_ok());
        assert!(check_id("003000000000001AAA").is_ok());
        assert!(check_id("003' OR '1'='1").is_err());
        assert!(check_id("").is_err());
    }
}
