//! Preparing text for the `ical` parser (unfolding, structure checks, sentinels), running its
//! parsers with panics contained, and translating their errors to the caller's lines.

use std::borrow::Cow;

use ical::parser::ParserError;
use ical::property::PropertyError;

use super::SENTINEL;
use super::dialect::Dialect;
use super::lines::{split_content_line, unfold};
use crate::interchange::InterchangeError;

/// Text ready for the `ical` parser: one logical line per physical line, checked structure.
pub(crate) struct Prepared {
    /// The content lines, joined with `\n`.
    pub(crate) text: String,
    /// For each line of `text`, the 1-based physical line of the input where it started.
    lines: Vec<usize>,
}

impl Prepared {
    /// Translates an `ical` error, pointing at the caller's line where `ical` says which one.
    pub(crate) fn error(&self, err: ParserError) -> InterchangeError {
        let line = match &err {
            ParserError::PropertyError(p) => {
                let n = match p {
                    PropertyError::MissingName { line }
                    | PropertyError::MissingClosingQuote { line }
                    | PropertyError::MissingDelimiter { line, .. }
                    | PropertyError::MissingContentAfter { line, .. }
                    | PropertyError::MissingParamKey { line } => *line,
                };
                n.checked_sub(1).and_then(|i| self.lines.get(i)).copied()
            }
            _ => None,
        };
        let message = match err {
            // The property error's own text has `ical`'s line number in it, which is not ours.
            ParserError::PropertyError(p) => match p {
                PropertyError::MissingName { .. } => "missing property name".to_owned(),
                PropertyError::MissingClosingQuote { .. } => "missing closing quote".to_owned(),
                PropertyError::MissingDelimiter { delimiter, .. } => {
                    format!("missing {delimiter:?}")
                }
                PropertyError::MissingContentAfter { letter, .. } => {
                    format!("missing content after {letter:?}")
                }
                PropertyError::MissingParamKey { .. } => "missing parameter name".to_owned(),
            },
            other => other.to_string(),
        };
        InterchangeError::Parse { line, message }
    }
}

/// Runs one of `ical`'s parsers to its first error, with a panic contained
/// ([`crate::guard::contain`]): the text is checked beforehand ([`prepare`]), but the parser is
/// third-party code reading untrusted input.
pub(crate) fn contained_parse<T>(
    parser: impl Iterator<Item = Result<T, ParserError>>,
) -> Result<Vec<Result<T, ParserError>>, InterchangeError> {
    crate::guard::contain("the ical parser", || {
        let mut out = Vec::new();
        for item in parser {
            let failed = item.is_err();
            out.push(item);
            if failed {
                break;
            }
        }
        out
    })
    .map_err(|e| InterchangeError::Parse { line: None, message: e.to_string() })
}

/// Unfolds `input` per RFC 5545 §3.1, checks its component structure, drops components `ical`
/// does not know, and protects values from `ical`'s trimming. See [`crate::interchange`]'s documentation.
pub(crate) fn prepare(input: &str, dialect: &Dialect) -> Result<Prepared, InterchangeError> {
    let input: Cow<'_, str> =
        if input.contains(SENTINEL) { Cow::Owned(input.replace(SENTINEL, "")) } else { Cow::Borrowed(input) };
    let input = input.strip_prefix('\u{FEFF}').unwrap_or(&input);

    let logical = unfold(input);

    let mut text = String::with_capacity(input.len() + 16);
    let mut lines = Vec::with_capacity(logical.len());
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut skipping = 0usize;
    let parse_error = |line: usize, message: String| InterchangeError::Parse { line: Some(line), message };

    for (line_no, line) in &logical {
        let line_no = *line_no;
        let parts = split_content_line(line)
            .ok_or_else(|| parse_error(line_no, "expected a content line `NAME[;PARAM=...]:value`".to_owned()))?;
        let name = &line[..parts.name_end];
        let value = &line[parts.value_start..];
        let is_begin = name.eq_ignore_ascii_case("BEGIN");
        if is_begin || name.eq_ignore_ascii_case("END") {
            let component = value.trim().to_ascii_uppercase();
            if skipping > 0 {
                if is_begin {
                    skipping += 1;
                } else {
                    skipping -= 1;
                }
                continue;
            }
            if is_begin {
                let parent = stack.last().map(|(c, _)| c.as_str());
                match dialect.known.iter().find(|(c, _)| *c == component) {
                    _ if parent.is_none() && component != dialect.root => {
                        return Err(parse_error(
                            line_no,
                            format!("expected BEGIN:{}, found BEGIN:{component}", dialect.root),
                        ));
                    }
                    None => {
                        skipping = 1;
                        continue;
                    }
                    Some((_, parents)) => {
                        if let Some(parent) = parent
                            && !parents.contains(&parent)
                        {
                            return Err(parse_error(line_no, format!("{component} is not allowed inside {parent}")));
                        }
                    }
                }
                stack.push((component.clone(), line_no));
                text.push_str("BEGIN:");
            } else {
                match stack.pop() {
                    None => {
                        return Err(parse_error(line_no, format!("END:{component} without BEGIN")));
                    }
                    Some((open, open_line)) if open != component => {
                        return Err(parse_error(
                            line_no,
                            format!("END:{component} does not close BEGIN:{open} of line {open_line}"),
                        ));
                    }
                    Some(_) => {}
                }
                text.push_str("END:");
            }
            text.push_str(&component);
        } else {
            if skipping > 0 {
                continue;
            }
            if stack.is_empty() {
                return Err(parse_error(line_no, format!("property {name} outside of BEGIN:{}", dialect.root)));
            }
            text.push_str(&line[..parts.value_start]);
            if value.starts_with(':') {
                text.push(SENTINEL);
            }
            text.push_str(value);
            if value.ends_with(char::is_whitespace) {
                text.push(SENTINEL);
            }
        }
        text.push('\n');
        lines.push(line_no);
    }
    if let Some((open, open_line)) = stack.pop() {
        return Err(parse_error(open_line, format!("BEGIN:{open} is never closed")));
    }
    Ok(Prepared { text, lines })
}
