//! How values are written to and read from SQL columns.
//!
//! - Timestamps: RFC 3339 text in UTC with exactly nine fractional digits and a `Z`
//!   (`2026-11-05T09:30:00.000000000Z`). Fixed width, so text order is time order (indexes and
//!   `<` comparisons work), nanosecond precision round-trips, and rows stay readable in the
//!   `sqlite3` shell.
//! - Field prints ([`FieldPrints`], `BTreeMap<FieldKey, u64>`): a JSON object mapping the field's
//!   dotted name to its fingerprint as 16 lower-case hex digits, e.g.
//!   `{"given_name":"9f86d081884c7d65"}`. A `u64` does not fit SQLite's signed 64-bit integer, and
//!   JSON numbers above 2^53 lose precision in many tools; fixed-width hex keeps every bit, is
//!   unambiguous and reads back without a sign trick. About 35 bytes per field.
//! - Sides and object kinds: their stable lower-case names (`crm`, `mailbox`, `contact`, `event`).
//! - Cursors: BLOB. Intent operations and details: JSON text.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};
use tandem_core::fields::FieldKey;
use tandem_core::model::ObjectKind;
use tandem_core::state::{FieldPrints, Side};

/// A timestamp as stored.
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads a stored timestamp.
pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("bad timestamp {s:?}: {e}"))
}

/// Field prints as stored.
pub(crate) fn encode_prints(prints: &FieldPrints) -> String {
    // Built by hand, without `fmt`: this runs for both sides of every pair of every commit.
    let mut out = String::with_capacity(2 + prints.len() * 36);
    out.push('{');
    for (i, (key, print)) in prints.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match key.static_name() {
            // Tandem's own names are `[a-z_.]`: nothing to escape.
            Some(name) => {
                out.push('"');
                out.push_str(name);
                out.push('"');
            }
            // Custom field and attendee names are arbitrary text: escape them.
            None => out.push_str(&serde_json::Value::String(key.to_string()).to_string()),
        }
        out.push_str(":\"");
        push_hex(&mut out, *print);
        out.push('"');
    }
    out.push('}');
    out
}

/// `value` as 16 lower-case hex digits.
fn push_hex(out: &mut String, value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(DIGITS[((value >> (shift * 4)) & 0xf) as usize]));
    }
}

/// Reads stored field prints.
pub(crate) fn decode_prints(s: &str) -> Result<FieldPrints, String> {
    if let Some(prints) = decode_canonical_prints(s) {
        return prints;
    }
    let map: BTreeMap<String, String> =
        serde_json::from_str(s).map_err(|e| format!("field prints are not a JSON object of strings: {e}"))?;
    map.iter().filter(|(name, _)| !retired(name)).map(|(name, hex)| decode_print(name, hex)).collect()
}

/// A field an earlier version synced and this one no longer has (`addresses`, now one field per
/// kind): its stored fingerprint is dropped, so the pair reads as if that field had never synced.
fn retired(name: &str) -> bool {
    tandem_core::fields::RETIRED_FIELD_NAMES.contains(&name)
}

/// Reads exactly what [`encode_prints`] writes for names without escapes, much faster than a
/// JSON parser (this runs for both sides of every pair read). `None` for any other text, which
/// the caller hands to serde_json.
fn decode_canonical_prints(s: &str) -> Option<Result<FieldPrints, String>> {
    let mut rest = s.strip_prefix('{')?.strip_suffix('}')?;
    if rest.is_empty() {
        return Some(Ok(FieldPrints::new()));
    }
    let mut entries = Vec::with_capacity(24);
    loop {
        let r = rest.strip_prefix('"')?;
        let end = r.find('"')?;
        let name = &r[..end];
        if name.contains('\\') {
            return None;
        }
        let r = r[end + 1..].strip_prefix(":\"")?;
        let hex = r.get(..16)?;
        let r = r.get(16..)?.strip_prefix('"')?;
        match decode_print(name, hex) {
            Ok(entry) => entries.push(entry),
            Err(_) if retired(name) => {}
            Err(e) => return Some(Err(e)),
        }
        match r.strip_prefix(',') {
            Some(r) => rest = r,
            None if r.is_empty() => break,
            None => return None,
        }
    }
    // Written in key order, so this builds the map in one pass; a repeated name is not
    // canonical: let serde_json decide.
    let len = entries.len();
    let prints: FieldPrints = entries.into_iter().collect();
    (prints.len() == len).then_some(Ok(prints))
}

fn decode_print(name: &str, hex: &str) -> Result<(FieldKey, u64), String> {
    let key = field_key(name)?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("field prints: fingerprint of `{name}` is not 16 hex digits"));
    }
    let print = u64::from_str_radix(hex, 16).map_err(|e| format!("field prints: fingerprint of `{name}`: {e}"))?;
    Ok((key, print))
}

/// A field name read back. Standard names come from a table built once: `FieldKey::from_str`
/// renders every standard name to compare, too slow for tens of thousands of rows.
fn field_key(name: &str) -> Result<FieldKey, String> {
    static STANDARD: OnceLock<HashMap<String, FieldKey>> = OnceLock::new();
    let standard = STANDARD.get_or_init(|| {
        ObjectKind::ALL
            .iter()
            .flat_map(|kind| FieldKey::standard(*kind))
            .map(|key| (key.to_string(), key.clone()))
            .collect()
    });
    match standard.get(name) {
        Some(key) => Ok(key.clone()),
        None => name.parse().map_err(|e| format!("field prints: {e}")),
    }
}

/// Reads a stored side name.
pub(crate) fn parse_side(s: &str) -> Result<Side, String> {
    match s {
        "crm" => Ok(Side::Crm),
        "mailbox" => Ok(Side::Mailbox),
        other => Err(format!("unknown side {other:?}")),
    }
}

/// Reads a stored object kind name.
pub(crate) fn parse_object(s: &str) -> Result<ObjectKind, String> {
    match s {
        "contact" => Ok(ObjectKind::Contact),
        "event" => Ok(ObjectKind::Event),
        other => Err(format!("unknown object kind {other:?}")),
    }
}

/// A quarantine entry's `detail` as read back: the stored detail with an administrator's approval
/// (kept in its own columns) merged in as `"approved": true`, `"approved_by"`, `"approved_at"`.
/// A detail that is not an object is kept under `"detail"`.
pub(crate) fn merge_approval(
    detail: Option<serde_json::Value>,
    approved_by: Option<String>,
    approved_at: Option<String>,
) -> Option<serde_json::Value> {
    let Some(by) = approved_by else { return detail };
    let mut map = match detail {
        Some(serde_json::Value::Object(map)) => map,
        Some(other) => serde_json::Map::from_iter([("detail".to_owned(), other)]),
        None => serde_json::Map::new(),
    };
    map.insert("approved".into(), serde_json::Value::Bool(true));
    map.insert("approved_by".into(), serde_json::Value::String(by));
    if let Some(at) = approved_at {
        map.insert("approved_at".into(), serde_json::Value::String(at));
    }
    Some(serde_json::Value::Object(map))
}

/// Reads stored JSON.
pub(crate) fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| format!("bad JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_round_trip_all_bits() {
        let mut prints = FieldPrints::new();
        prints.insert(FieldKey::GivenName, u64::MAX);
        prints.insert(FieldKey::Notes, 0);
        prints.insert(FieldKey::Custom("Region \"x\"".into()), i64::MAX as u64 + 1);
        let s = encode_prints(&prints);
        assert!(s.contains("\"given_name\":\"ffffffffffffffff\""), "{s}");
        assert_eq!(decode_prints(&s), Ok(prints));
        assert_eq!(decode_prints("{}"), Ok(FieldPrints::new()));
        assert!(decode_prints("[1]").is_err());
        assert!(decode_prints(r#"{"nope":"0000000000000000"}"#).is_err());
        // The single `addresses` print of an earlier version is dropped, not an error.
        let legacy = r#"{"addresses":"00000000000000ff","notes":"0000000000000001"}"#;
        assert_eq!(decode_prints(legacy), Ok([(FieldKey::Notes, 1)].into_iter().collect()));
        assert_eq!(decode_prints(&legacy.replace(':', " : ")), Ok([(FieldKey::Notes, 1)].into_iter().collect()));
        assert!(decode_prints(r#"{"notes":"-1"}"#).is_err());
        assert!(decode_prints(r#"{"notes":"-000000000000001"}"#).is_err());
        assert!(decode_prints(r#"{"notes":"000000000000000g"}"#).is_err());
        assert!(decode_prints(r#"{"notes":"0000000000000001""#).is_err());
        // Hand-written JSON (spaces, upper case) reads too.
        let spaced = decode_prints(r#"{ "notes" : "000000000000000A", "title":"ffffffffffffffff" }"#);
        assert_eq!(spaced, Ok([(FieldKey::Notes, 10), (FieldKey::Title, u64::MAX)].into_iter().collect()));
        // Escaped names read back too.
        let odd: FieldPrints = [(FieldKey::Custom("a\\b\"c\u{e9}".into()), 1)].into_iter().collect();
        assert_eq!(decode_prints(&encode_prints(&odd)), Ok(odd));
    }

    #[test]
    fn timestamps_sort_as_text_and_round_trip() {
        let a = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").map(|t| t.with_timezone(&Utc));
        let b = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.5Z").map(|t| t.with_timezone(&Utc));
        let (Ok(a), Ok(b)) = (a, b) else { panic!("bad test timestamps") };
        assert!(ts(&a) < ts(&b));
        assert_eq!(ts(&a).len(), ts(&b).len());
        assert_eq!(parse_ts(&ts(&b)), Ok(b));
        let now = Utc::now();
        assert_eq!(parse_ts(&ts(&now)), Ok(now));
    }
}
