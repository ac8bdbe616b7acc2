//! Unit tests of the content-line plumbing: escapes, the `ical` gaps we work around, structure
//! errors and their lines, folding, parameter values, custom field names.

use super::dialect::ICALENDAR;
use super::escape::{escape, split_unescaped, unescape};
use super::names::{decode_name, encode_name};
use super::params::{decode_param, param_value};
use super::prepare::prepare;
use super::property::{Prop, props};
use super::writer::ContentWriter;
use crate::interchange::InterchangeError;

fn first_event_props(text: &str) -> Vec<Prop> {
    let prepared = prepare(text, &ICALENDAR).unwrap();
    let cal = ical::IcalParser::new(prepared.text.as_bytes()).next().unwrap().unwrap();
    props(cal.events.into_iter().next().unwrap().properties)
}

fn summary(text: &str) -> String {
    first_event_props(text).iter().find(|p| p.name == "SUMMARY").unwrap().text()
}

#[test]
fn unescape_decodes_rfc_escapes() {
    assert_eq!(unescape(r"a\, b\; c\\ d\nline\Nx\:y"), "a, b; c\\ d\nline\nx:y");
    assert_eq!(unescape(r"C:\temp\x"), r"C:\temp\x");
    assert_eq!(unescape("trailing\\"), "trailing\\");
}

#[test]
fn split_respects_escaped_separators() {
    assert_eq!(split_unescaped(r"Doe\;Smith;John;;", ';'), vec!["Doe;Smith", "John", "", ""]);
    assert_eq!(split_unescaped(r"a\\;b", ';'), vec!["a\\", "b"]);
    assert_eq!(split_unescaped(r"one,two\,three", ','), vec!["one", "two,three"]);
}

#[test]
fn escape_round_trips() {
    for s in ["plain", "a,b;c\\d\ne", "\\n literal", "ends with \\", "crlf\r\nlone\r"] {
        let back = unescape(&escape(s));
        assert_eq!(back, s.replace("\r\n", "\n").replace('\r', "\n"));
    }
}

/// Escaping and unescaping run by run give what doing it character by character gives, for any
/// text (control characters, CR/LF pairs, non-ASCII, every escape, a trailing backslash), and
/// unescaping escaped text gives it back with its line breaks as LF.
#[test]
fn escaping_runs_is_escaping_characters() {
    use proptest::prelude::*;
    fn reference(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push_str("\\\\"),
                ';' => out.push_str("\\;"),
                ',' => out.push_str("\\,"),
                '\n' => out.push_str("\\n"),
                '\r' => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    out.push_str("\\n");
                }
                c => out.push(c),
            }
        }
        out
    }
    fn reference_unescape(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(e @ ('\\' | ';' | ',' | ':')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        out
    }
    proptest!(|(s in "[a-z \\\\;,:nN\r\n\t\u{1}\u{b}\u{c}é日]{0,40}")| {
        prop_assert_eq!(escape(&s), reference(&s));
        prop_assert_eq!(unescape(&s), reference_unescape(&s));
        prop_assert_eq!(unescape(&escape(&s)), s.replace("\r\n", "\n").replace('\r', "\n"));
    });
}

/// `ical` 0.11 does not unescape text; canary for the day it starts to (then `text()` would
/// unescape twice).
#[test]
fn gap_ical_does_not_unescape() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:a\\, b\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let raw = ical::IcalParser::new(text.as_bytes()).next().unwrap().unwrap();
    assert_eq!(raw.events[0].properties[0].value.as_deref(), Some("a\\, b"));
    assert_eq!(summary(text), "a, b");
}

/// `ical` 0.11 drops a space that stands right before a fold; we unfold first.
#[test]
fn gap_space_before_fold_is_kept() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Hello \r\n world\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let raw = ical::IcalParser::new(text.as_bytes()).next().unwrap().unwrap();
    assert_eq!(raw.events[0].properties[0].value.as_deref(), Some("Helloworld"));
    assert_eq!(summary(text), "Hello world");
    // A tab continuation, and a fold inside a multi-byte character's neighbourhood.
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Caf\n\té  Zoë \nEND:VEVENT\nEND:VCALENDAR\n";
    assert_eq!(summary(text), "Café  Zoë ");
}

/// `ical` 0.11 trims trailing white space and eats leading colons of values.
#[test]
fn gap_trailing_space_and_leading_colon_are_kept() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY;LANGUAGE=en::-) \r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let raw = ical::IcalParser::new(text.as_bytes()).next().unwrap().unwrap();
    assert_eq!(raw.events[0].properties[0].value.as_deref(), Some("-)"));
    assert_eq!(summary(text), ":-) ");
}

/// `ical` 0.11 rejects lower-case component names and unknown components; we normalise and
/// drop them.
#[test]
fn gap_component_names() {
    let text = "begin:vcalendar\nbegin:vevent\nBEGIN:X-THING\nFOO:bar\nBEGIN:VEVENT\nEND:VEVENT\nEND:X-THING\n\
                SUMMARY:s\nend:vevent\nBEGIN:VAVAILABILITY\nEND:VAVAILABILITY\nend:vcalendar\n";
    assert!(ical::IcalParser::new(text.as_bytes()).next().unwrap().is_err());
    assert_eq!(summary(text), "s");
}

#[test]
fn structure_errors_carry_lines() {
    let cases = [
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR\n", 3),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VEVENT\n", 1),
        ("SUMMARY:x\n", 1),
        ("BEGIN:VCALENDAR\n\nno colon here\nEND:VCALENDAR\n", 3),
        ("BEGIN:VCALENDAR\nBEGIN:STANDARD\nEND:STANDARD\nEND:VCALENDAR\n", 2),
        ("BEGIN:VCARD\nEND:VCARD\n", 1),
        ("END:VCALENDAR\n", 1),
    ];
    for (text, line) in cases {
        match prepare(text, &ICALENDAR) {
            Err(InterchangeError::Parse { line: l, .. }) => {
                assert_eq!(l, Some(line), "{text:?}")
            }
            other => panic!("{text:?}: {:?}", other.map(|p| p.text)),
        }
    }
}

#[test]
fn ical_property_errors_map_to_input_lines() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n\r\nSUMMARY:x\r\n  continued\r\nATTENDEE;CN\r\n =x:mailto:a\r\nX-A;=b:c\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let prepared = prepare(text, &ICALENDAR).unwrap();
    let err = ical::IcalParser::new(prepared.text.as_bytes()).next().unwrap().unwrap_err();
    assert_eq!(
        prepared.error(err),
        InterchangeError::Parse { line: Some(8), message: "missing parameter name".into() }
    );
}

#[test]
fn folding_is_by_octets_and_keeps_characters_whole() {
    let mut w = ContentWriter::default();
    let long = "é".repeat(100) + &"x".repeat(100) + &"東".repeat(50);
    w.text("DESCRIPTION", &[], &long);
    let out = w.finish();
    for line in out.split_terminator("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    assert!(out.ends_with("\r\n"));
    assert!(!out.replace("\r\n", "").contains('\n'));
    let unfolded = out.replace("\r\n ", "");
    assert_eq!(unfolded, format!("DESCRIPTION:{long}\r\n"));
}

#[test]
fn param_values_are_quoted_and_rfc6868_encoded() {
    assert_eq!(param_value("Europe/Berlin"), "Europe/Berlin");
    assert_eq!(param_value("Doe, John"), "\"Doe, John\"");
    assert_eq!(param_value("say \"hi\"^\nbye"), "say ^'hi^'^^^nbye");
    assert_eq!(decode_param("say ^'hi^'^^^nbye"), "say \"hi\"^\nbye");
    assert_eq!(decode_param("a^b"), "a^b");
}

#[test]
fn names_encode_reversibly() {
    for name in ["Region__c", "Kunden Nr.", "ümlaut", "%", "a.b:c;d", ""] {
        let enc = encode_name(name);
        assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_%".contains(&b)), "{enc}");
        assert_eq!(decode_name(&enc), name);
    }
    assert_eq!(decode_name("%zz%4"), "%zz%4");
}

/// Unfolding finds the lines the plain definition finds (split at CRLF, then at any CR or LF;
/// a leading space or tab continues the line before; blank lines dropped, leading white space
/// trimmed), with the same line numbers, for any mix of breaks, folds, blanks and non-ASCII
/// text; and a line that continues on none is borrowed, not copied.
#[test]
fn unfolding_finds_the_lines_the_plain_definition_finds() {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::lines::unfold;

    fn reference(input: &str) -> Vec<(usize, String)> {
        let mut logical: Vec<(usize, String)> = Vec::new();
        for (index, raw) in input.split("\r\n").flat_map(|l| l.split(['\r', '\n'])).enumerate() {
            let continued = raw.starts_with([' ', '\t']);
            match logical.last_mut() {
                Some((_, last)) if continued => last.push_str(&raw[1..]),
                _ if raw.trim().is_empty() => {}
                _ => logical.push((index + 1, raw.trim_start().to_owned())),
            }
        }
        logical
    }

    let piece = prop_oneof![
        Just("\r\n".to_owned()),
        Just("\n".to_owned()),
        Just("\r".to_owned()),
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("\u{a0}".to_owned()),
        "[A-Z:;=a-zé日]{1,12}",
    ];
    proptest!(|(pieces in proptest::collection::vec(piece, 0..40))| {
        let input = pieces.concat();
        let unfolded = unfold(&input);
        let lines: Vec<(usize, String)> = unfolded.iter().map(|(n, l)| (*n, l.to_string())).collect();
        prop_assert_eq!(lines, reference(&input), "{:?}", input);
    });
    let text = "BEGIN:VEVENT\r\nSUMMARY:a\r\n  b\r\nEND:VEVENT\r\n";
    let unfolded = unfold(text);
    assert!(matches!(unfolded[0].1, Cow::Borrowed("BEGIN:VEVENT")));
    assert!(matches!(&unfolded[1].1, Cow::Owned(l) if l == "SUMMARY:a b"));
    assert!(matches!(unfolded[2].1, Cow::Borrowed("END:VEVENT")));
}
