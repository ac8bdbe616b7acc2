//! The recursive-descent parser: the select list, `FROM`, `WHERE`, `ORDER BY` and `LIMIT`, and
//! [`parse()`], the entry point.

use super::ast::{CmpOp, Expr, FieldGroup, Lit, Order, Select};
use super::dates::DateLiteral;
use super::error::{SoqlError, malformed};
use super::joins::check_joins;
use super::lex::{Tok, describe, lex};

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
