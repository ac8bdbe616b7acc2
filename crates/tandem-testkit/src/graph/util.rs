//! Small helpers of the Graph fake: times, zones, ids, error bodies, `Prefer` headers.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use tandem_core::interchange::windows_to_iana;

/// The prefix of the fake's immutable ids (`Prefer: IdType="ImmutableId"`).
pub(crate) const IMMUTABLE_PREFIX: &str = "AAkALg";
/// The prefix of the same ids in their default (REST) form.
pub(crate) const REST_PREFIX: &str = "AAMkAG";

/// Resolves a Graph time-zone name (Windows, IANA, or Outlook's UTC spellings) to a zone.
pub(crate) fn resolve_tz(name: &str) -> Option<Tz> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("tzone://Microsoft/Utc") || name == "Etc/UTC" {
        return Some(chrono_tz::UTC);
    }
    if let Some(iana) = windows_to_iana(name) {
        return iana.parse().ok();
    }
    name.parse().ok()
}

/// Parses Graph's `dateTime` (`2026-01-05T09:00:00.0000000`, fraction optional).
pub(crate) fn parse_local(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.trim().trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// Formats a local time as Graph does: seven fractional digits.
pub(crate) fn format_local(t: NaiveDateTime) -> String {
    format!("{}.0000000", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// Formats an instant as an `Edm.DateTimeOffset` (`2026-01-05T09:00:00Z`).
pub(crate) fn format_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The instant of a local time in a zone (the earlier one when ambiguous, shifted forward past a
/// gap).
pub(crate) fn instant_of(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    let later = local + chrono::Duration::hours(1);
    tz.from_local_datetime(&later).earliest().map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

/// A `dateTimeTimeZone` value as `(instant, local, zone)`.
pub(crate) fn parse_dttz(v: &Value) -> Option<(DateTime<Utc>, NaiveDateTime, Tz)> {
    let local = parse_local(v.get("dateTime")?.as_str()?)?;
    let zone = v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
    let tz = resolve_tz(zone)?;
    Some((instant_of(local, tz), local, tz))
}

/// Parses `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Parses an `Edm.DateTimeOffset`.
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// Graph's error body: `{"error":{"code","message","innerError":{...}}}`.
pub(crate) fn error_body(code: &str, message: &str) -> Value {
    let now = Utc::now();
    json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": now.format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": uuid::Uuid::new_v4().to_string(),
                "client-request-id": uuid::Uuid::new_v4().to_string(),
            }
        }
    })
}

/// An error body with its `innerError` ids set to the request's (other bodies unchanged).
pub(crate) fn with_request_ids(body: &[u8], request_id: &str, client_request_id: &str) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else { return body.to_vec() };
    let Some(inner) = value.get_mut("error").and_then(|e| e.get_mut("innerError")).and_then(Value::as_object_mut)
    else {
        return body.to_vec();
    };
    inner.insert("request-id".into(), json!(request_id));
    inner.insert("client-request-id".into(), json!(client_request_id));
    serde_json::to_vec(&value).unwrap_or_else(|_| body.to_vec())
}

/// Checks the `Content-Type` of a write: JSON (`application/json`, parameters allowed) only.
pub(crate) fn check_json_content_type(content_type: Option<&str>) -> Result<(), super::data::ApiError> {
    let Some(content_type) = content_type else {
        return Err(super::data::ApiError::new(
            400,
            "BadRequest",
            "Write requests (excluding DELETE) must contain the Content-Type header declaration.",
        ));
    };
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(super::data::ApiError::new(
        415,
        "RequestBodyRead",
        format!(
            "A supported MIME type could not be found that matches the content type of the request. The \
             content type '{media}' is not supported: use 'application/json'."
        ),
    ))
}

/// A random id body of `len` URL-safe characters.
pub(crate) fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
        }
    }
    out
}

/// A new immutable item id.
pub(crate) fn new_item_id() -> String {
    format!("{IMMUTABLE_PREFIX}{}", random_token(60))
}

/// The id of the occurrence of series `master` on local date `date`.
pub(crate) fn occurrence_id(master: &str, date: NaiveDate) -> String {
    format!("{master}-OCC{}", date.format("%Y%m%d"))
}

/// The master id and date of an occurrence id.
pub(crate) fn parse_occurrence_id(id: &str) -> Option<(&str, NaiveDate)> {
    let (master, date) = id.rsplit_once("-OCC")?;
    Some((master, NaiveDate::parse_from_str(date, "%Y%m%d").ok()?))
}

/// An id in the form the request asked for.
pub(crate) fn present_id(id: &str, immutable: bool) -> String {
    if immutable {
        id.to_owned()
    } else if let Some((master, date)) = parse_occurrence_id(id)
        && let Some(rest) = super::translate::rest_of_immutable(master)
    {
        occurrence_id(&rest, date)
    } else if let Some(rest) = super::translate::rest_of_immutable(id) {
        // Items imported from the EWS fake: the id scheme the two fakes share.
        rest
    } else {
        match id.strip_prefix(IMMUTABLE_PREFIX) {
            Some(rest) => format!("{REST_PREFIX}{rest}"),
            None => id.to_owned(),
        }
    }
}

/// The immutable form of an id given in either form.
pub(crate) fn canonical_id(id: &str) -> String {
    if let Some((master, date)) = parse_occurrence_id(id)
        && let Some(immutable) = super::translate::immutable_of_rest(master)
    {
        return occurrence_id(&immutable, date);
    }
    if let Some(immutable) = super::translate::immutable_of_rest(id) {
        // Items imported from the EWS fake: the id scheme the two fakes share.
        return immutable;
    }
    match id.strip_prefix(REST_PREFIX) {
        Some(rest) => format!("{IMMUTABLE_PREFIX}{rest}"),
        None => id.to_owned(),
    }
}

/// The preferences of one request (`Prefer` headers, possibly several, comma separated).
#[derive(Debug, Clone, Default)]
pub(crate) struct Prefer {
    pub(crate) immutable_id: bool,
    pub(crate) max_page_size: Option<usize>,
    pub(crate) timezone: Option<String>,
    pub(crate) text_body: bool,
}

impl Prefer {
    pub(crate) fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Prefer {
        let mut p = Prefer::default();
        for value in values {
            for part in value.split(',') {
                let Some((key, val)) = part.split_once('=') else { continue };
                let key = key.trim().to_ascii_lowercase();
                let val = val.trim().trim_matches('"');
                match key.as_str() {
                    "idtype" => p.immutable_id = val.eq_ignore_ascii_case("ImmutableId"),
                    "odata.maxpagesize" => p.max_page_size = val.parse().ok(),
                    "outlook.timezone" => p.timezone = Some(val.to_owned()),
                    "outlook.body-content-type" => p.text_body = val.eq_ignore_ascii_case("text"),
                    _ => {}
                }
            }
        }
        p
    }
}

/// Crude HTML to text, for `Prefer: outlook.body-content-type="text"`.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").trim().to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn zones_and_times() {
        assert_eq!(resolve_tz("Pacific Standard Time"), Some(chrono_tz::America::Los_Angeles));
        assert_eq!(resolve_tz("Europe/Paris"), Some(chrono_tz::Europe::Paris));
        assert_eq!(resolve_tz("tzone://Microsoft/Utc"), Some(chrono_tz::UTC));
        assert!(resolve_tz("Atlantis").is_none());
        let t = parse_local("2026-01-05T09:00:00.0000000").unwrap();
        assert_eq!(format_local(t), "2026-01-05T09:00:00.0000000");
        assert_eq!(parse_local("2026-01-05T09:00:00"), Some(t));
    }

    #[test]
    fn ids_round_trip() {
        let id = new_item_id();
        let rest = present_id(&id, false);
        assert_ne!(rest, id);
        assert_eq!(canonical_id(&rest), id);
        let d = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        let occ = occurrence_id(&id, d);
        assert_eq!(parse_occurrence_id(&occ), Some((id.as_str(), d)));
    }

    #[test]
    fn prefer_headers() {
        let p = Prefer::parse([r#"IdType="ImmutableId", odata.maxpagesize=50"#, r#"outlook.timezone="UTC""#]);
        assert!(p.immutable_id);
        assert_eq!(p.max_page_size, Some(50));
        assert_eq!(p.timezone.as_deref(), Some("UTC"));
    }
}
