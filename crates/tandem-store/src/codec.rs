//! How values are written to and read from SQL columns.
//!
//! - Timestamps: RFC 3339 text in UTC with exactly nine fractional digits and a `Z`
//!   (`2026-11-05T09:30:00.000000000Z`). Fixed width, so text order is time order (indexes and
//!   `<` comparisons work), nanosecond precision round-trips, and rows stay readable in the
//!   `sqlite3` shell.
//! - Field prints ([`FieldPrints`]): packed, `v2:` followed by the base64 (standard alphabet,
//!   no padding) of each field's entry in field order: a one-byte stored code for a standard
//!   field ([`STORED_FIELDS`]), or `0xFF`, a four-byte little-endian length and the dotted name
//!   for a custom field or an attendee; then the fingerprint as eight little-endian bytes. About
//!   12 characters a field. Text, so that both stores keep their `TEXT` column; base64 rather
//!   than hex because a commit writes both sides of every pair it touches, and size is what a
//!   commit pays for (pages written to the WAL, checkpoints). Schema version 8 marks databases
//!   that may hold them.
//!
//!   Since schema version 11, SQLite stores them as a BLOB instead: the byte [`PACKED_BYTES`]
//!   followed by the same entries, not base64 (a quarter fewer bytes, and nothing to encode or
//!   decode for the pairs a cycle loads and commits). SQLite keeps a BLOB in the `TEXT` column
//!   as it is; text prints (packed or JSON) still read, told apart by their first byte, and a
//!   pair's are written as bytes when it is next committed. PostgreSQL keeps the text form, as
//!   do journal entries (JSON).
//!
//!   Rows written before version 8 hold a JSON object mapping the field's dotted name to its
//!   fingerprint as 16 lower-case hex digits, e.g. `{"given_name":"9f86d081884c7d65"}` (about
//!   35 bytes a field). They still read, and are written packed when their pair is next
//!   committed; nothing rewrites them all at once.
//! - Sides and object kinds: their stable lower-case names (`crm`, `mailbox`, `contact`, `event`).
//! - Cursors: BLOB. Intent operations and details: JSON text.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};
use tandem_core::fields::FieldKey;
use tandem_core::model::ObjectKind;
use tandem_core::state::{FieldPrints, FieldPrintsBuilder, Side};

/// A timestamp as stored.
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads a stored timestamp.
pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("bad timestamp {s:?}: {e}"))
}

/// The stored code of each standard field, by its name: the entry's place in this list. A code,
/// once given, never changes and is never reused, as stored prints hold it; a field Tandem adds
/// is appended (a test fails until it is).
pub(crate) const STORED_FIELDS: [&str; 31] = [
    "given_name",
    "middle_name",
    "family_name",
    "emails",
    "phone.business",
    "phone.mobile",
    "phone.home",
    "phone.business_fax",
    "phone.home_fax",
    "phone.assistant",
    "phone.other",
    "company",
    "title",
    "department",
    "address.work",
    "address.home",
    "address.other",
    "birthday",
    "assistant_name",
    "notes",
    "subject",
    "description",
    "location",
    "timing",
    "recurrence",
    "organizer",
    "attendees",
    "privacy",
    "show_as",
    "categories",
    "crm_links",
];

/// The prefix of packed prints.
const PACKED: &str = "v2:";

/// The first byte of packed prints as bytes (SQLite's BLOB form): a control character, which
/// neither text form starts with (`v2:` or a JSON object's `{`).
pub(crate) const PACKED_BYTES: u8 = 0x02;

/// The code byte of an entry that names its field.
const NAMED: u8 = 0xFF;

/// The stored codes, both ways: the standard field of each stored code, and the stored code of
/// each standard field by its place among them ([`FieldKey::standard_index`]), so that encoding
/// and decoding a field is one table lookup, never a comparison of keys (this runs for both
/// sides of every pair a cycle loads or commits, and for every journal entry).
struct StoredFields {
    /// By stored code.
    keys: Vec<FieldKey>,
    /// By [`FieldKey::standard_index`]: the stored code, `None` for a field without one (which
    /// a test rules out: every standard field has a stored code).
    codes: Vec<Option<u8>>,
}

fn stored_fields() -> &'static StoredFields {
    static FIELDS: OnceLock<StoredFields> = OnceLock::new();
    FIELDS.get_or_init(|| {
        // A name that does not parse would be a bug in the list above, which a test rules out;
        // it gets a placeholder rather than a panic.
        let keys: Vec<FieldKey> =
            STORED_FIELDS.iter().map(|name| name.parse().unwrap_or(FieldKey::Custom((*name).to_owned()))).collect();
        let mut codes = Vec::new();
        for (code, key) in keys.iter().enumerate() {
            if let (Some(place), Ok(code)) = (key.standard_index(), u8::try_from(code)) {
                if codes.len() <= place {
                    codes.resize(place + 1, None);
                }
                codes[place] = Some(code);
            }
        }
        StoredFields { keys, codes }
    })
}

/// Field prints as stored in text: packed, in base64 (see the module's documentation).
pub(crate) fn encode_prints(prints: &FieldPrints) -> String {
    use base64::Engine as _;
    let mut packed = Vec::with_capacity(prints.len() * 9);
    pack_entries(prints, &mut packed);
    let mut out = String::with_capacity(PACKED.len() + packed.len().div_ceil(3) * 4);
    out.push_str(PACKED);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode_string(&packed, &mut out);
    out
}

/// Field prints as SQLite stores them: [`PACKED_BYTES`], then the packed entries.
pub(crate) fn encode_prints_bytes(prints: &FieldPrints) -> Vec<u8> {
    let mut packed = Vec::with_capacity(1 + prints.len() * 9);
    packed.push(PACKED_BYTES);
    pack_entries(prints, &mut packed);
    packed
}

/// Appends each entry of `prints`, in field order: its stored code (or the name), then the
/// fingerprint.
fn pack_entries(prints: &FieldPrints, packed: &mut Vec<u8>) {
    let StoredFields { codes, .. } = stored_fields();
    for (key, print) in prints.iter() {
        match key.standard_index().and_then(|place| codes.get(place).copied().flatten()) {
            Some(code) => packed.push(code),
            None => {
                // Attendee addresses come from other people's invitations: any length the record
                // checks let through (up to 256 KB) must read back, so the length takes four bytes.
                let name = key.to_string();
                let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
                packed.push(NAMED);
                packed.extend_from_slice(&len.to_le_bytes());
                packed.extend_from_slice(name.as_bytes().get(..len as usize).unwrap_or_default());
            }
        }
        packed.extend_from_slice(&print.to_le_bytes());
    }
}

/// Reads packed prints (after the prefix). Entries come in field order, as [`encode_prints`]
/// wrote them, so the map is built as they are read ([`FieldPrintsBuilder`]); any other order
/// still reads, as collecting the entries would.
fn decode_packed_prints(text: &str) -> Result<FieldPrints, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .map_err(|e| format!("field prints: packed prints are not base64: {e}"))?;
    decode_entries(&bytes)
}

/// Reads stored field prints in either column form: bytes ([`encode_prints_bytes`]) or text
/// (packed or JSON, [`decode_prints`]).
pub(crate) fn decode_stored_prints(stored: &[u8]) -> Result<FieldPrints, String> {
    match stored.split_first() {
        Some((&PACKED_BYTES, entries)) => decode_entries(entries),
        _ => decode_prints(std::str::from_utf8(stored).map_err(|_| "field prints: neither packed bytes nor text")?),
    }
}

/// Reads the packed entries [`pack_entries`] writes.
fn decode_entries(bytes: &[u8]) -> Result<FieldPrints, String> {
    let StoredFields { keys, .. } = stored_fields();
    let truncated = || "field prints: packed prints end in the middle of an entry".to_owned();
    let mut rest = bytes;
    let mut prints = FieldPrintsBuilder::with_capacity(bytes.len() / 9);
    while let Some((&code, after)) = rest.split_first() {
        rest = after;
        let key = if code == NAMED {
            let (len, after) = rest.split_first_chunk::<4>().ok_or_else(truncated)?;
            let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| truncated())?;
            let (name, after) = after.split_at_checked(len).ok_or_else(truncated)?;
            rest = after;
            let name = std::str::from_utf8(name).map_err(|_| "field prints: a field name is not UTF-8".to_owned())?;
            field_key(name)?
        } else {
            keys.get(usize::from(code)).cloned().ok_or_else(|| format!("field prints: unknown field code {code}"))?
        };
        let (print, after) = rest.split_first_chunk::<8>().ok_or_else(truncated)?;
        rest = after;
        prints.push(key, u64::from_le_bytes(*print));
    }
    Ok(prints.finish())
}

/// Field prints in the JSON text written before schema version 8 (see the module's
/// documentation); [`decode_prints`] still reads it.
#[cfg(test)]
fn encode_json_prints(prints: &FieldPrints) -> String {
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
#[cfg(test)]
fn push_hex(out: &mut String, value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(DIGITS[((value >> (shift * 4)) & 0xf) as usize]));
    }
}

/// Reads packed prints only (prefix and all): what [`encode_prints`] writes.
pub(crate) fn decode_packed_only(s: &str) -> Result<FieldPrints, String> {
    match s.strip_prefix(PACKED) {
        Some(packed) => decode_packed_prints(packed),
        None => Err(format!("field prints: packed prints start with `{PACKED}`")),
    }
}

/// Reads stored field prints: packed, or the JSON of earlier versions.
pub(crate) fn decode_prints(s: &str) -> Result<FieldPrints, String> {
    if let Some(packed) = s.strip_prefix(PACKED) {
        return decode_packed_prints(packed);
    }
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

/// A cycle record's counts and operations as the JSON both stores keep them in.
pub(crate) fn cycle_json(record: &crate::CycleRecord) -> Result<(String, String), crate::StoreError> {
    let json = |what: &str, e: serde_json::Error| crate::StoreError::Invalid(format!("record_cycle: {what}: {e}"));
    let counts = serde_json::to_string(&record.counts).map_err(|e| json("counts", e))?;
    let operations = serde_json::to_string(&record.operations).map_err(|e| json("operations", e))?;
    Ok((counts, operations))
}

/// Reads stored JSON.
pub(crate) fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| format!("bad JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_prints_round_trip_every_field_and_bit() {
        let mut prints = FieldPrints::new();
        for (i, key) in ObjectKind::ALL.iter().flat_map(|kind| FieldKey::standard(*kind)).enumerate() {
            prints.insert(key.clone(), (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        prints.insert(FieldKey::GivenName, u64::MAX);
        prints.insert(FieldKey::Notes, 0);
        prints.insert(FieldKey::Custom("Region \"x\" \u{e9}".into()), i64::MAX as u64 + 1);
        prints.insert(FieldKey::attendee("ada@example.com"), 7);
        let s = encode_prints(&prints);
        assert!(s.starts_with("v2:"), "{s}");
        assert_eq!(decode_prints(&s), Ok(prints.clone()));
        // About 12 characters a standard field, against about 35 in the earlier JSON.
        let json = encode_json_prints(&prints);
        assert!(s.len() < json.len() / 2, "{} vs {}", s.len(), json.len());
        // An address as long as the record checks let through (past 65,535 bytes) still reads back.
        prints.insert(FieldKey::attendee(&format!("{}@example.com", "a".repeat(70_000))), 8);
        assert_eq!(decode_prints(&encode_prints(&prints)), Ok(prints.clone()));
        assert_eq!(decode_prints("v2:"), Ok(FieldPrints::new()));
        assert_eq!(encode_prints(&FieldPrints::new()), "v2:");
    }

    /// Entries out of field order or repeated (written by hand, or damaged) read as collecting
    /// them does, later entries winning; the order prints are written in reads the same.
    #[test]
    fn packed_prints_in_any_order_read_as_collected() {
        use base64::Engine as _;
        let entry = |code: u8, print: u64| {
            let mut bytes = vec![code];
            bytes.extend_from_slice(&print.to_le_bytes());
            bytes
        };
        let named = |name: &str, print: u64| {
            let mut bytes = vec![NAMED];
            bytes.extend_from_slice(&u32::try_from(name.len()).expect("short").to_le_bytes());
            bytes.extend_from_slice(name.as_bytes());
            bytes.extend_from_slice(&print.to_le_bytes());
            bytes
        };
        let packed = |entries: &[Vec<u8>]| {
            format!("v2:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(entries.concat()))
        };
        // Title (12), then given name (0): backwards; given name again: repeated.
        let backwards = packed(&[entry(12, 1), named("attendee.ada@example.com", 2), entry(0, 3), entry(0, 4)]);
        let expected: FieldPrints = [
            (FieldKey::Title, 1),
            (FieldKey::attendee("ada@example.com"), 2),
            (FieldKey::GivenName, 3),
            (FieldKey::GivenName, 4),
        ]
        .into_iter()
        .collect();
        assert_eq!(expected.get(&FieldKey::GivenName), Some(&4));
        assert_eq!(decode_prints(&backwards), Ok(expected.clone()));
        assert_eq!(decode_prints(&encode_prints(&expected)), Ok(expected));
    }

    #[test]
    fn stored_codes_never_change() {
        // Pinned: a stored code names its field in every database written since version 8.
        // Append new fields to `STORED_FIELDS`; never reorder or remove one.
        let pinned =
            [(0, "given_name"), (3, "emails"), (10, "phone.other"), (19, "notes"), (23, "timing"), (30, "crm_links")];
        for (code, name) in pinned {
            assert_eq!(STORED_FIELDS[code], name);
        }
        let StoredFields { keys, codes } = stored_fields();
        for (code, name) in STORED_FIELDS.iter().enumerate() {
            let key: FieldKey = name.parse().expect("a stored name parses");
            assert_eq!(&keys[code], &key);
            assert_eq!(key.static_name(), Some(*name));
        }
        // Every standard field has a code, and it is the code of its name.
        for kind in ObjectKind::ALL {
            for key in FieldKey::standard(kind) {
                let place = key.standard_index().expect("a standard field has a place");
                let code = codes.get(place).copied().flatten();
                let code = code.unwrap_or_else(|| panic!("{key} has no stored code: append it to STORED_FIELDS"));
                assert_eq!(STORED_FIELDS[usize::from(code)], key.to_string());
            }
        }
    }

    #[test]
    fn damaged_packed_prints_are_errors_not_panics() {
        let mut prints = FieldPrints::new();
        prints.insert(FieldKey::Title, 42);
        prints.insert(FieldKey::Custom("Region".into()), 43);
        let s = encode_prints(&prints);
        for cut in PACKED.len()..s.len() {
            // Cut anywhere: an error, or (where base64 still decodes to whole entries) fewer fields.
            if let Ok(fewer) = decode_prints(&s[..cut]) {
                assert!(fewer.len() < prints.len(), "{cut}");
            }
        }
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
        let packed = |bytes: &[u8]| format!("v2:{}", engine.encode(bytes));
        assert!(decode_prints("v2:!!").is_err());
        assert!(decode_prints(&packed(&[200, 0, 0, 0, 0, 0, 0, 0, 0])).is_err(), "unknown code");
        assert!(decode_prints(&packed(&[NAMED, 2, 0, 0, 0, 0xC3, 0x28, 1, 0, 0, 0, 0, 0, 0, 0])).is_err(), "not UTF-8");
        assert!(decode_prints(&packed(&[NAMED, 9, 0, 0, 0, b'x'])).is_err(), "name cut short");
        assert!(decode_prints(&packed(&[NAMED, 0xFF, 0xFF, 0xFF, 0xFF, b'x'])).is_err(), "a length past the end");
        assert!(
            decode_prints(&packed(&[NAMED, 3, 0, 0, 0, b'n', b'o', b'p', 1, 0, 0, 0, 0, 0, 0, 0])).is_err(),
            "unknown name"
        );
    }

    #[test]
    fn json_prints_of_earlier_versions_still_read() {
        let mut prints = FieldPrints::new();
        prints.insert(FieldKey::GivenName, u64::MAX);
        prints.insert(FieldKey::Notes, 0);
        prints.insert(FieldKey::Custom("Region \"x\"".into()), i64::MAX as u64 + 1);
        let s = encode_json_prints(&prints);
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
        assert_eq!(decode_prints(&encode_json_prints(&odd)), Ok(odd.clone()));
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
