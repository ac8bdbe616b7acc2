//! The `$filter` tokenizer: words, string literals and punctuation.

use super::super::super::data::ApiError;
use super::filter_syntax;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
    Colon,
}

pub(super) fn tokenize(text: &str) -> Result<Vec<Tok>, ApiError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(filter_syntax("unterminated string literal")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&ch) = chars.get(i) {
                    // `:` belongs to a time literal (`2026-01-05T09:00:00Z`) when a digit precedes it.
                    let time_colon = ch == ':' && s.chars().next().is_some_and(|f| f.is_ascii_digit());
                    if ch.is_whitespace() || "(),'".contains(ch) || (ch == ':' && !time_colon) {
                        break;
                    }
                    s.push(ch);
                    i += 1;
                }
                if s.is_empty() {
                    return Err(filter_syntax(&format!("unexpected character '{c}'")));
                }
                out.push(Tok::Word(s));
            }
        }
    }
    Ok(out)
}
