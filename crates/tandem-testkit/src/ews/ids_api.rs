use super::ids;

/// An id format the fake converts between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFormat {
    /// `EwsId`.
    EwsId,
    /// `EwsLegacyId`.
    EwsLegacyId,
    /// `EntryId`.
    EntryId,
    /// `HexEntryId`.
    HexEntryId,
    /// Graph's REST id (URL-safe base64 of the EwsId's bytes).
    RestId,
}

fn inner(f: IdFormat) -> ids::Format {
    match f {
        IdFormat::EwsId => ids::Format::EwsId,
        IdFormat::EwsLegacyId => ids::Format::EwsLegacyId,
        IdFormat::EntryId => ids::Format::EntryId,
        IdFormat::HexEntryId => ids::Format::HexEntryId,
        IdFormat::RestId => ids::Format::RestId,
    }
}

/// Converts `id` from one format to another; `None` when it is not an id of this fake.
pub fn convert_id(id: &str, from: IdFormat, to: IdFormat) -> Option<String> {
    ids::decode(id, inner(from)).map(|raw| ids::encode(&raw, inner(to)))
}
