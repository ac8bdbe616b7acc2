//! The SOQL tokenizer: identifiers, string literals with SOQL's backslash escapes, numbers,
//! datetimes, dates, `NAME:n` date literals, punctuation and comparison operators.

use chrono::{DateTime, NaiveDate, Utc};

use super::error::{SoqlError, malformed};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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

pub(super) fn describe(t: &Tok) -> String {
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

pub(super) fn lex(q: &str) -> Result<Vec<Tok>, SoqlError> {
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
