//! A hand-written parser for the SOQL subset Tandem's connector sends:
//!
//! ```text
//! SELECT field, Rel.field, … FROM Object
//!   [WHERE cond]           cond: AND / OR (not mixed without parentheses, as in SOQL), NOT,
//!                          parentheses, = != <> < <= > >=, [NOT] IN (values | SELECT …), LIKE
//!   [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], …]
//!   [LIMIT n]
//! ```
//!
//! Values: 'strings' with SOQL's backslash escapes, numbers, true/false/null, datetimes
//! (`2026-01-05T09:00:00Z`, fractions and offsets allowed) and dates. Anything else (aggregates,
//! date literals such as `TODAY`, `GROUP BY`, `OFFSET`, `TYPEOF`, subqueries in the select list…) is
//! `MALFORMED_QUERY`, as Salesforce reports syntax errors.

use chrono::{DateTime, NaiveDate, Utc};

/// A query error in Salesforce's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoqlError {
    /// `MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`.
    pub(crate) code: &'static str,
    /// The message.
    pub(crate) message: String,
}

pub(crate) fn malformed(message: impl Into<String>) -> SoqlError {
    SoqlError { code: "MALFORMED_QUERY", message: message.into() }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    DateTime(DateTime<Utc>),
    Date(NaiveDate),
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A `WHERE` expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A parenthesised expression.
    Group(Box<Expr>),
    Cmp {
        field: String,
        op: CmpOp,
        value: Lit,
    },
    In {
        field: String,
        negated: bool,
        values: Vec<Lit>,
    },
    InSelect {
        field: String,
        negated: bool,
        select: Box<Select>,
    },
    Like {
        field: String,
        pattern: String,
    },
}

/// A sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Order {
    pub(crate) field: String,
    pub(crate) asc: bool,
    pub(crate) nulls_first: bool,
}

/// A parsed `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Select {
    pub(crate) fields: Vec<String>,
    pub(crate) object: String,
    pub(crate) filter: Option<Expr>,
    pub(crate) order: Vec<Order>,
    pub(crate) limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    DateTime(DateTime<Utc>),
    Date(NaiveDate),
    LParen,
    RParen,
    Comma,
    Op(&'static str),
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => s.clone(),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(n) => n.to_string(),
        Tok::DateTime(d) => d.to_rfc3339(),
        Tok::Date(d) => d.to_string(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
        Tok::Op(o) => (*o).into(),
    }
}

fn lex(q: &str) -> Result<Vec<Tok>, SoqlError> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op("!="));
                i += 2;
            }
            '<' if chars.get(i + 1) == Some(&'>') => {
                out.push(Tok::Op("!="));
                i += 2;
            }
            '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (c, eq) {
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    ('>', true) => ">=",
                    _ => ">",
                }));
                i += if eq { 2 } else { 1 };
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(malformed("unterminated string literal"));
                    };
                    match c {
                        '\'' => {
                            i += 1;
                            break;
                        }
                        '\\' => {
                            let Some(&e) = chars.get(i + 1) else {
                                return Err(malformed("unterminated string literal"));
                            };
                            match e {
                                'n' => s.push('\n'),
                                'r' => s.push('\r'),
                                't' => s.push('\t'),
                                'b' => s.push('\u{8}'),
                                'f' => s.push('\u{c}'),
                                '"' | '\'' | '\\' => s.push(e),
                                // Kept escaped: they only mean something in LIKE patterns.
                                '_' | '%' => {
                                    s.push('\\');
                                    s.push(e);
                                }
                                other => {
                                    return Err(malformed(format!(
                                        "Invalid string literal: illegal escape sequence \\{other}"
                                    )));
                                }
                            }
                            i += 2;
                        }
                        c => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], ':' | '-' | '+' | '.'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(if text.contains('T') {
                    let dt = DateTime::parse_from_rfc3339(&text).map_err(|_| {
                        malformed(format!("line 1:{start} no viable alternative at character '{text}'"))
                    })?;
                    Tok::DateTime(dt.with_timezone(&Utc))
                } else if text.len() == 10 && text.chars().filter(|c| *c == '-').count() == 2 {
                    Tok::Date(
                        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                            .map_err(|_| malformed(format!("invalid date literal '{text}'")))?,
                    )
                } else {
                    Tok::Num(text.parse().map_err(|_| malformed(format!("unexpected token: '{text}'")))?)
                });
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.')) {
                    i += 1;
                }
                // `LAST_N_DAYS:7` and friends: not supported, reported as syntax.
                if chars.get(i) == Some(&':') {
                    let text: String = chars[start..i].iter().collect();
                    return Err(malformed(format!("date literal '{text}' is not supported here")));
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(malformed(format!("line 1:{i} no viable alternative at character '{other}'"))),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) { Ok(()) } else { Err(self.unexpected()) }
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), SoqlError> {
        if self.peek() == Some(tok) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn unexpected(&self) -> SoqlError {
        match self.peek() {
            Some(t) => malformed(format!("unexpected token: '{}'", describe(t))),
            None => malformed("unexpected end of query"),
        }
    }

    fn ident(&mut self) -> Result<String, SoqlError> {
        match self.peek() {
            Some(Tok::Ident(s)) if !is_reserved(s) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn select(&mut self) -> Result<Select, SoqlError> {
        self.expect_kw("SELECT")?;
        let mut fields = vec![self.field()?];
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            fields.push(self.field()?);
        }
        self.expect_kw("FROM")?;
        let object = self.ident()?;
        let filter = if self.eat_kw("WHERE") { Some(self.or_expr()?) } else { None };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let field = self.ident()?;
                let asc = if self.eat_kw("DESC") {
                    false
                } else {
                    self.eat_kw("ASC");
                    true
                };
                let mut nulls_first = asc;
                if self.eat_kw("NULLS") {
                    nulls_first = if self.eat_kw("FIRST") {
                        true
                    } else {
                        self.expect_kw("LAST")?;
                        false
                    };
                }
                order.push(Order { field, asc, nulls_first });
                if self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("LIMIT") {
            match self.next() {
                Some(Tok::Num(n)) if n >= 0.0 && n.fract() == 0.0 => Some(n as usize),
                _ => return Err(malformed("LIMIT needs a whole number")),
            }
        } else {
            None
        };
        Ok(Select { fields, object, filter, order, limit })
    }

    fn field(&mut self) -> Result<String, SoqlError> {
        if self.peek() == Some(&Tok::LParen) {
            return Err(malformed("subqueries in the select list are not supported by this fake"));
        }
        let f = self.ident()?;
        if self.peek() == Some(&Tok::LParen) {
            return Err(malformed(format!("unexpected token: '(' (function {f} is not supported)")));
        }
        Ok(f)
    }

    fn or_expr(&mut self) -> Result<Expr, SoqlError> {
        let first = self.and_expr()?;
        if !self.is_kw("OR") {
            return Ok(first);
        }
        if matches!(first, Expr::And(_)) {
            return Err(malformed("unexpected token: 'OR' (use parentheses to mix AND and OR)"));
        }
        let mut parts = vec![first];
        while self.eat_kw("OR") {
            let next = self.and_expr()?;
            if matches!(next, Expr::And(_)) {
                return Err(malformed("unexpected token: 'AND' (use parentheses to mix AND and OR)"));
            }
            parts.push(next);
        }
        Ok(Expr::Or(parts))
    }

    fn and_expr(&mut self) -> Result<Expr, SoqlError> {
        let first = self.unary()?;
        if !self.is_kw("AND") {
            return Ok(first);
        }
        let mut parts = vec![first];
        while self.eat_kw("AND") {
            parts.push(self.unary()?);
        }
        Ok(Expr::And(parts))
    }

    fn unary(&mut self) -> Result<Expr, SoqlError> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or_expr()?;
            self.expect(&Tok::RParen)?;
            return Ok(Expr::Group(Box::new(e)));
        }
        let field = self.ident()?;
        if self.eat_kw("LIKE") {
            return match self.next() {
                Some(Tok::Str(s)) => Ok(Expr::Like { field, pattern: s }),
                _ => Err(malformed("LIKE needs a string")),
            };
        }
        let negated = if self.is_kw("NOT") {
            self.pos += 1;
            if !self.is_kw("IN") {
                return Err(self.unexpected());
            }
            true
        } else {
            false
        };
        if self.eat_kw("IN") {
            self.expect(&Tok::LParen)?;
            if self.is_kw("SELECT") {
                let select = self.select()?;
                self.expect(&Tok::RParen)?;
                if select.fields.len() != 1 {
                    return Err(malformed("a semi-join subquery must select exactly one field"));
                }
                return Ok(Expr::InSelect { field, negated, select: Box::new(select) });
            }
            let mut values = vec![self.value()?];
            while self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                values.push(self.value()?);
            }
            self.expect(&Tok::RParen)?;
            return Ok(Expr::In { field, negated, values });
        }
        let op = match self.next() {
            Some(Tok::Op("=")) => CmpOp::Eq,
            Some(Tok::Op("!=")) => CmpOp::Ne,
            Some(Tok::Op("<")) => CmpOp::Lt,
            Some(Tok::Op("<=")) => CmpOp::Le,
            Some(Tok::Op(">")) => CmpOp::Gt,
            Some(Tok::Op(">=")) => CmpOp::Ge,
            Some(t) => return Err(malformed(format!("unexpected token: '{}'", describe(&t)))),
            None => return Err(malformed("unexpected end of query")),
        };
        Ok(Expr::Cmp { field, op, value: self.value()? })
    }

    fn value(&mut self) -> Result<Lit, SoqlError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Num(n)) => Ok(Lit::Num(n)),
            Some(Tok::DateTime(d)) => Ok(Lit::DateTime(d)),
            Some(Tok::Date(d)) => Ok(Lit::Date(d)),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("true") => Ok(Lit::Bool(true)),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("false") => Ok(Lit::Bool(false)),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("null") => Ok(Lit::Null),
            Some(t) => Err(malformed(format!("unexpected token: '{}'", describe(&t)))),
            None => Err(malformed("unexpected end of query")),
        }
    }
}

fn is_reserved(s: &str) -> bool {
    [
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "LIMIT", "NULLS",
        "FIRST", "LAST", "GROUP", "HAVING", "OFFSET", "TYPEOF", "WITH", "FOR", "USING", "INCLUDES", "EXCLUDES", "TRUE",
        "FALSE", "NULL",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(s))
}

/// Parses one statement.
pub(crate) fn parse(q: &str) -> Result<Select, SoqlError> {
    let toks = lex(q)?;
    let mut p = Parser { toks, pos: 0 };
    let select = p.select()?;
    if p.peek().is_some() {
        return Err(p.unexpected());
    }
    Ok(select)
}

/// Whether `value` matches a LIKE `pattern` (`%`, `_`, `\%`, `\_`; case-insensitive).
pub(crate) fn like(value: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Char(char),
    }
    let mut parts = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        parts.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Char(chars.next().unwrap_or('\\')),
            c => P::Char(c),
        });
    }
    let v: Vec<char> = value.chars().collect();
    fn go(p: &[P], v: &[char]) -> bool {
        match p.first() {
            None => v.is_empty(),
            Some(P::Any) => (0..=v.len()).any(|i| go(&p[1..], &v[i..])),
            Some(P::One) => !v.is_empty() && go(&p[1..], &v[1..]),
            Some(P::Char(c)) => {
                v.first().is_some_and(|x| x.to_lowercase().eq(c.to_lowercase())) && go(&p[1..], &v[1..])
            }
        }
    }
    go(&parts, &v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
            "SELECT COUNT() FROM Contact",
            "SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS:7",
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
    fn like_patterns() {
        assert!(like("Lovelace", "love%"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
        assert!(like("axb", "a_b"));
        assert!(!like("Lovelace", "%x%"));
    }
}
