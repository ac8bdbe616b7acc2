//! The `$filter` parser: `or`/`and`/`not`, comparisons, `startswith`/`contains` and `any`
//! lambdas, with property paths checked against the entity.

use super::super::super::data::ApiError;
use super::super::entity::{Entity, check_path, unknown_property};
use super::lex::{Tok, tokenize};
use super::{Expr, Func, Lit, Op, filter_syntax, invalid_filter};

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    entity: Entity,
    /// Lambda variables in scope.
    vars: Vec<String>,
}

pub(crate) fn parse_filter(text: &str, entity: Entity) -> Result<Expr, ApiError> {
    let mut p = Parser { toks: tokenize(text)?, pos: 0, entity, vars: Vec::new() };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(filter_syntax("unexpected text after the expression"));
    }
    Ok(e)
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

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), ApiError> {
        if self.next().as_ref() == Some(tok) { Ok(()) } else { Err(filter_syntax(&format!("expected {tok:?}"))) }
    }

    fn or(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ApiError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(&Tok::Close)?;
            return Ok(e);
        }
        self.primary()
    }

    /// A property path, checked: the first segment is a lambda variable or a property.
    fn path(&self, word: &str) -> Result<Vec<String>, ApiError> {
        let segments: Vec<String> = word.split('/').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(filter_syntax(&format!("invalid property path '{word}'")));
        }
        if segments.first().is_some_and(|f| self.vars.contains(f)) {
            return Ok(segments);
        }
        check_path(word, self.entity, "filtering")
    }

    fn primary(&mut self) -> Result<Expr, ApiError> {
        let Some(Tok::Word(word)) = self.next() else { return Err(filter_syntax("expected a property or function")) };
        if self.peek() == Some(&Tok::Open) {
            let lower = word.to_ascii_lowercase();
            // `collection/any(v: …)`
            if let Some((collection, lambda)) = word.rsplit_once('/')
                && (lambda.eq_ignore_ascii_case("any") || lambda.eq_ignore_ascii_case("all"))
            {
                if lambda.eq_ignore_ascii_case("all") {
                    return Err(invalid_filter());
                }
                let segments: Vec<String> = collection.split('/').map(str::to_owned).collect();
                let first = segments.first().cloned().unwrap_or_default();
                let canonical = self.entity.property(&first).ok_or_else(|| unknown_property(&first, self.entity))?;
                let mut segments = segments;
                if let Some(s) = segments.first_mut() {
                    *s = canonical.to_owned();
                }
                self.pos += 1;
                let Some(Tok::Word(var)) = self.next() else { return Err(filter_syntax("expected a lambda variable")) };
                self.expect(&Tok::Colon)?;
                self.vars.push(var.clone());
                let body = self.or();
                self.vars.pop();
                let body = body?;
                self.expect(&Tok::Close)?;
                return Ok(Expr::Any(segments, var, Box::new(body)));
            }
            let func = match lower.as_str() {
                "startswith" => Func::StartsWith,
                "contains" => Func::Contains,
                _ => return Err(invalid_filter()),
            };
            self.pos += 1;
            let Some(Tok::Word(arg)) = self.next() else { return Err(invalid_filter()) };
            let path = self.path(&arg)?;
            self.expect(&Tok::Comma)?;
            let Some(Tok::Str(text)) = self.next() else { return Err(invalid_filter()) };
            self.expect(&Tok::Close)?;
            return Ok(Expr::Func(func, path, text));
        }
        let path = self.path(&word)?;
        let op = match self.peek() {
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "eq" => Some(Op::Eq),
                "ne" => Some(Op::Ne),
                "gt" => Some(Op::Gt),
                "ge" => Some(Op::Ge),
                "lt" => Some(Op::Lt),
                "le" => Some(Op::Le),
                "and" | "or" => None,
                "has" | "in" | "add" | "sub" | "mul" | "div" | "mod" => return Err(invalid_filter()),
                _ => return Err(filter_syntax(&format!("unknown operator '{w}'"))),
            },
            _ => None,
        };
        let Some(op) = op else { return Ok(Expr::Truthy(path)) };
        self.pos += 1;
        let lit = match self.next() {
            Some(Tok::Str(s)) => Lit::Str(s),
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Lit::Bool(true),
                "false" => Lit::Bool(false),
                "null" => Lit::Null,
                _ => match w.parse::<f64>() {
                    Ok(n) => Lit::Num(n),
                    Err(_) if w.chars().next().is_some_and(|c| c.is_ascii_digit()) => Lit::Raw(w),
                    // Comparing two properties, or an enum literal: not evaluated by the fake.
                    Err(_) => return Err(invalid_filter()),
                },
            },
            _ => return Err(filter_syntax("expected a literal")),
        };
        Ok(Expr::Compare(path, op, lit))
    }
}
