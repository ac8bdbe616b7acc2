//! Deterministic EWS ids and change keys (see the module documentation for the scheme).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Folder,
    Item,
    /// An occurrence of a recurring master: number = master << 20 | instance index.
    Occurrence,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Folder => b'F',
            Kind::Item => b'I',
            Kind::Occurrence => b'O',
        }
    }
}

/// The id formats the fake converts between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the schema's own names
pub(crate) enum Format {
    EwsId,
    EwsLegacyId,
    EntryId,
    HexEntryId,
    /// Graph's REST id: the EwsId in the URL-safe base64 alphabet.
    RestId,
}

impl Format {
    pub(crate) fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "EwsId" => Format::EwsId,
            "EwsLegacyId" => Format::EwsLegacyId,
            "EntryId" => Format::EntryId,
            "HexEntryId" => Format::HexEntryId,
            "RestId" => Format::RestId,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::EwsId => "EwsId",
            Format::EwsLegacyId => "EwsLegacyId",
            Format::EntryId => "EntryId",
            Format::HexEntryId => "HexEntryId",
            Format::RestId => "RestId",
        }
    }

    fn prefix(self) -> [u8; 4] {
        match self {
            // "AAMkA…", like the EwsIds of Exchange 2010 and later.
            Format::EwsId | Format::RestId => [0x00, 0x03, 0x24, 0x00],
            Format::EwsLegacyId => [0x00, 0x00, 0x1B, 0x00],
            // A MAPI entry id starts with four zero flag bytes.
            Format::EntryId | Format::HexEntryId => [0x00, 0x00, 0x00, 0x00],
        }
    }
}

/// A decoded id: mailbox (lower-case SMTP), kind and number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RawId {
    pub(crate) mailbox: String,
    pub(crate) kind: Kind,
    pub(crate) num: u64,
}

fn body(id: &RawId) -> Vec<u8> {
    let mbx = id.mailbox.as_bytes();
    let mut out = Vec::with_capacity(mbx.len() + 14);
    out.push(u8::try_from(mbx.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&mbx[..mbx.len().min(255)]);
    out.push(id.kind.byte());
    out.extend_from_slice(&id.num.to_be_bytes());
    out
}

/// Encodes `id` in `format`.
pub(crate) fn encode(id: &RawId, format: Format) -> String {
    let mut bytes = format.prefix().to_vec();
    bytes.extend(body(id));
    match format {
        Format::EwsId | Format::EwsLegacyId | Format::EntryId => STANDARD.encode(bytes),
        Format::RestId => URL_SAFE.encode(bytes),
        Format::HexEntryId => bytes.iter().map(|b| format!("{b:02X}")).collect(),
    }
}

/// Decodes an id given in `format`; `None` when malformed.
pub(crate) fn decode(s: &str, format: Format) -> Option<RawId> {
    let bytes = match format {
        Format::EwsId | Format::EwsLegacyId | Format::EntryId => STANDARD.decode(s.trim()).ok()?,
        Format::RestId => URL_SAFE.decode(s.trim()).ok()?,
        Format::HexEntryId => {
            let s = s.trim();
            if !s.len().is_multiple_of(2) {
                return None;
            }
            (0..s.len())
                .step_by(2)
                .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                .collect::<Option<Vec<u8>>>()?
        }
    };
    let rest = bytes.strip_prefix(&format.prefix()[..])?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if rest.len() != len + 9 {
        return None;
    }
    let mailbox = String::from_utf8(rest[..len].to_vec()).ok()?;
    let kind = match rest[len] {
        b'F' => Kind::Folder,
        b'I' => Kind::Item,
        b'O' => Kind::Occurrence,
        _ => return None,
    };
    let num = u64::from_be_bytes(rest[len + 1..].try_into().ok()?);
    Some(RawId { mailbox, kind, num })
}

/// The change key of version `version` of an object.
pub(crate) fn change_key(id: &RawId, version: u32) -> String {
    let mut bytes = vec![0x10, 0x00, 0x00, 0x00, id.kind.byte()];
    bytes.extend_from_slice(&id.num.to_be_bytes());
    bytes.extend_from_slice(&version.to_be_bytes());
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_format() {
        let id = RawId { mailbox: "ann@contoso.example".into(), kind: Kind::Item, num: 42 };
        for f in [Format::EwsId, Format::EwsLegacyId, Format::EntryId, Format::HexEntryId, Format::RestId] {
            let s = encode(&id, f);
            assert_eq!(decode(&s, f), Some(id.clone()), "{f:?} {s}");
        }
        assert!(encode(&id, Format::EwsId).starts_with("AAMkA"));
        assert_eq!(decode("garbage", Format::EwsId), None);
        assert_ne!(change_key(&id, 1), change_key(&id, 2));
    }
}
