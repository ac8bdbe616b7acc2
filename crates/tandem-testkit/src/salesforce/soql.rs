//! A hand-written parser for the SOQL subset Tandem's connector sends, and a little more:
//!
//! ```text
//! SELECT items FROM Object
//!   items: COUNT()                   alone: the answer is totalSize with no records
//!        | item, item, …             item: field, Rel.field, FIELDS(STANDARD|CUSTOM|ALL)
//!   [WHERE cond]           cond: AND / OR (not mixed without parentheses, as in SOQL), NOT,
//!                          parentheses, = != <> < <= > >=, [NOT] IN (values | SELECT …), LIKE
//!   [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], …]
//!   [LIMIT n]
//! ```
//!
//! Values: 'strings' with SOQL's backslash escapes, numbers, true/false/null, datetimes
//! (`2026-01-05T09:00:00Z`, fractions and offsets allowed), dates, and these date literals,
//! evaluated against the fake's clock in UTC, weeks starting on Monday (the fake's users are
//! `en_GB`): `YESTERDAY`, `TODAY`, `TOMORROW`, `LAST_WEEK`, `THIS_WEEK`, `NEXT_WEEK`,
//! `LAST_MONTH`, `THIS_MONTH`, `NEXT_MONTH`, `LAST_90_DAYS`, `NEXT_90_DAYS`, `LAST_N_DAYS:n`
//! (today and the n days before), `NEXT_N_DAYS:n` (the n days after today), `N_DAYS_AGO:n`. A
//! date literal is a range: `=` is inside it, `!=` outside, `<` before its start, `<=` before its
//! end, `>` after its end, `>=` from its start.
//!
//! Salesforce's rules the fake applies: `FIELDS(CUSTOM)` and `FIELDS(ALL)` need a `LIMIT` of at
//! most 200; a semi-join or anti-join (`IN (SELECT …)`) may only stand in the top-level `AND` of
//! the `WHERE` clause (not under `OR` or `NOT`), may not nest another one, and may not select from
//! `Event` or `Task` (objects SOQL does not support in subqueries).
//!
//! Anything else (other aggregates and date literals — quarters, years, fiscal periods,
//! `N_WEEKS`… —, `GROUP BY`, `OFFSET`, `TYPEOF`, subqueries in the select list…) is
//! `MALFORMED_QUERY`, as Salesforce reports syntax errors.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};

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
    /// A date literal: a range of days relative to today.
    Relative(DateLiteral),
}

/// A date literal of the supported subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateLiteral {
    Yesterday,
    Today,
    Tomorrow,
    LastWeek,
    ThisWeek,
    NextWeek,
    LastMonth,
    ThisMonth,
    NextMonth,
    LastNDays(u32),
    NextNDays(u32),
    NDaysAgo(u32),
}

impl DateLiteral {
    fn named(name: &str) -> Option<DateLiteral> {
        let upper = name.to_ascii_uppercase();
        Some(match upper.as_str() {
            "YESTERDAY" => DateLiteral::Yesterday,
            "TODAY" => DateLiteral::Today,
            "TOMORROW" => DateLiteral::Tomorrow,
            "LAST_WEEK" => DateLiteral::LastWeek,
            "THIS_WEEK" => DateLiteral::ThisWeek,
            "NEXT_WEEK" => DateLiteral::NextWeek,
            "LAST_MONTH" => DateLiteral::LastMonth,
            "THIS_MONTH" => DateLiteral::ThisMonth,
            "NEXT_MONTH" => DateLiteral::NextMonth,
            "LAST_90_DAYS" => DateLiteral::LastNDays(90),
            "NEXT_90_DAYS" => DateLiteral::NextNDays(90),
            _ => return None,
        })
    }

    fn with_n(name: &str, n: u32) -> Option<DateLiteral> {
        let upper = name.to_ascii_uppercase();
        Some(match upper.as_str() {
            "LAST_N_DAYS" => DateLiteral::LastNDays(n),
            "NEXT_N_DAYS" => DateLiteral::NextNDays(n),
            "N_DAYS_AGO" => DateLiteral::NDaysAgo(n),
            _ => return None,
        })
    }

    /// The days it covers when it is `today`: `[start, end)`.
    pub(crate) fn range(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        let days = |n: u32| Duration::days(i64::from(n));
        let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
        let first = today.with_day(1).unwrap_or(today);
        let month = |start: Option<NaiveDate>| {
            let start = start.unwrap_or(first);
            (start, start.checked_add_months(Months::new(1)).unwrap_or(start))
        };
        match self {
            DateLiteral::Yesterday => (today - days(1), today),
            DateLiteral::Today => (today, today + days(1)),
            DateLiteral::Tomorrow => (today + days(1), today + days(2)),
            DateLiteral::LastWeek => (monday - days(7), monday),
            DateLiteral::ThisWeek => (monday, monday + days(7)),
            DateLiteral::NextWeek => (monday + days(7), monday + days(14)),
            DateLiteral::LastMonth => month(first.checked_sub_months(Months::new(1))),
            DateLiteral::ThisMonth => month(Some(first)),
            DateLiteral::NextMonth => month(first.checked_add_months(Months::new(1))),
            DateLiteral::LastNDays(n) => (today - days(n), today + days(1)),
            DateLiteral::NextNDays(n) => (today + days(1), today + days(1) + days(n)),
            DateLiteral::NDaysAgo(n) => (today - days(n), today - days(n) + days(1)),
        }
    }
}

/// A `FIELDS()` group of the select list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldGroup {
    Standard,
    Custom,
    All,
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
    /// The fields named in the select list (empty for `COUNT()`).
    pub(crate) fields: Vec<String>,
    /// The `FIELDS()` groups of the select list.
    pub(crate) groups: Vec<FieldGroup>,
    /// `SELECT COUNT()`.
    pub(crate) count: bool,
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
    /// `LAST_N_DAYS:2` and friends.
    DateN(String, u32),
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
        Tok::DateN(name, n) => format!("{name}:{n}"),
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
                let name: String = chars[start..i].iter().collect();
                // `LAST_N_DAYS:7` and friends.
                if chars.get(i) == Some(&':') {
                    i += 1;
                    let digits = i;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                    let text: String = chars[digits..i].iter().collect();
                    let n = text.parse::<u32>().map_err(|_| {
                        malformed(format!("line 1:{digits} no viable alternative at character ':' after {name}"))
                    })?;
                    out.push(Tok::DateN(name, n));
                    continue;
                }
                out.push(Tok::Ident(name));
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
        let mut fields = Vec::new();
        let mut groups = Vec::new();
        let mut count = false;
        if self.is_kw("COUNT") && self.toks.get(self.pos + 1) == Some(&Tok::LParen) {
            if self.toks.get(self.pos + 2) != Some(&Tok::RParen) {
                return Err(malformed("aggregate functions other than COUNT() are not supported by this fake"));
            }
            self.pos += 3;
            count = true;
        } else {
            loop {
                match self.field()? {
                    Item::Field(f) => fields.push(f),
                    Item::Group(g) => groups.push(g),
                }
                if self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
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
        if groups.iter().any(|g| *g != FieldGroup::Standard) && limit.is_none_or(|n| n > 200) {
            return Err(malformed(
                "The SOQL FIELDS function must have a LIMIT of at most 200 when it selects FIELDS(ALL) or FIELDS(CUSTOM)",
            ));
        }
        Ok(Select { fields, groups, count, object, filter, order, limit })
    }

    fn field(&mut self) -> Result<Item, SoqlError> {
        if self.peek() == Some(&Tok::LParen) {
            return Err(malformed("subqueries in the select list are not supported by this fake"));
        }
        let f = self.ident()?;
        if self.peek() == Some(&Tok::LParen) {
            if f.eq_ignore_ascii_case("FIELDS") {
                self.pos += 1;
                let group = match self.next() {
                    Some(Tok::Ident(g)) if g.eq_ignore_ascii_case("STANDARD") => FieldGroup::Standard,
                    Some(Tok::Ident(g)) if g.eq_ignore_ascii_case("CUSTOM") => FieldGroup::Custom,
                    Some(Tok::Ident(g)) if g.eq_ignore_ascii_case("ALL") => FieldGroup::All,
                    _ => return Err(malformed("FIELDS() takes ALL, CUSTOM or STANDARD")),
                };
                self.expect(&Tok::RParen)?;
                return Ok(Item::Group(group));
            }
            return Err(malformed(format!("unexpected token: '(' (function {f} is not supported)")));
        }
        Ok(Item::Field(f))
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
                if select.fields.len() != 1 || !select.groups.is_empty() || select.count {
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
            Some(Tok::Ident(s)) if let Some(literal) = DateLiteral::named(&s) => Ok(Lit::Relative(literal)),
            Some(Tok::DateN(name, n)) => DateLiteral::with_n(&name, n).map(Lit::Relative).ok_or_else(|| {
                malformed(format!("date literal {name}:{n} is not supported by this fake (only LAST_N_DAYS, NEXT_N_DAYS and N_DAYS_AGO)"))
            }),
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

/// One item of the select list.
enum Item {
    Field(String),
    Group(FieldGroup),
}

/// Objects SOQL does not support as the inner select of a semi-join or anti-join.
const NOT_IN_SUBQUERIES: [&str; 2] = ["Event", "Task"];

/// Salesforce's rules on semi-joins and anti-joins: only in the top-level `AND` (`top`), not
/// nested, not on the objects SOQL leaves out of subqueries.
fn check_joins(e: &Expr, top: bool, inner: bool) -> Result<(), SoqlError> {
    match e {
        Expr::And(parts) => parts.iter().try_for_each(|p| check_joins(p, top, inner)),
        Expr::Group(x) => check_joins(x, top, inner),
        Expr::Or(parts) => parts.iter().try_for_each(|p| check_joins(p, false, inner)),
        Expr::Not(x) => check_joins(x, false, inner),
        Expr::InSelect { select, .. } => {
            if inner {
                return Err(malformed("Nesting of semi join sub-selects is not supported"));
            }
            if !top {
                return Err(malformed(
                    "Semi join sub-selects are only allowed at the top level WHERE expressions and not in nested WHERE \
                     expressions.",
                ));
            }
            if let Some(object) = NOT_IN_SUBQUERIES.iter().find(|o| o.eq_ignore_ascii_case(&select.object)) {
                return Err(malformed(format!("Entity '{object}' is not supported for semi join inner selects")));
            }
            match &select.filter {
                Some(f) => check_joins(f, true, true),
                None => Ok(()),
            }
        }
        Expr::Cmp { .. } | Expr::In { .. } | Expr::Like { .. } => Ok(()),
    }
}

/// Parses one statement.
pub(crate) fn parse(q: &str) -> Result<Select, SoqlError> {
    let toks = lex(q)?;
    let mut p = Parser { toks, pos: 0 };
    let select = p.select()?;
    if p.peek().is_some() {
        return Err(p.unexpected());
    }
    if let Some(filter) = &select.filter {
        check_joins(filter, true, false)?;
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
}
