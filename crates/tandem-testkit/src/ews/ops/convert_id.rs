//! The `ConvertId` operation: item and folder ids between their formats.

use super::response::{Fault, err, error_message, ok_message, schema};
use crate::ews::Data;
use crate::ews::ids::{self, Format, RawId};
use crate::ews::xml::{self, Element};

pub(super) fn convert_id(d: &Data, op: &Element) -> Result<String, Fault> {
    let dest =
        op.attr("DestinationFormat").ok_or_else(|| schema("The required attribute 'DestinationFormat' is missing."))?;
    let dest = Format::parse(dest).ok_or_else(|| {
        schema(format!("The 'DestinationFormat' attribute is invalid - The value '{dest}' is invalid."))
    })?;
    let sources = op.child("SourceIds").ok_or_else(|| schema("SourceIds is missing."))?;
    let mut out = String::new();
    for s in &sources.children {
        let format =
            s.attr("Format").and_then(Format::parse).ok_or_else(|| schema("The 'Format' attribute is invalid."))?;
        let id = s.attr("Id").unwrap_or_default();
        let raw: Option<RawId> = ids::decode(id, format);
        match raw {
            Some(raw) if d.mailboxes.contains_key(&raw.mailbox) => {
                let mbx = s.attr("Mailbox").unwrap_or(&raw.mailbox).to_owned();
                out.push_str(&ok_message(
                    "ConvertId",
                    &format!(
                        "<m:AlternateId xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"t:AlternateIdType\" Format=\"{}\" Id=\"{}\" Mailbox=\"{}\"/>",
                        dest.name(),
                        ids::encode(&raw, dest),
                        xml::escape(&mbx)
                    ),
                ));
            }
            _ => out.push_str(&error_message("ConvertId", &err("ErrorInvalidIdMalformed", "Id is malformed."), "")),
        }
    }
    Ok(out)
}
