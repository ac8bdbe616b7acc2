//! `POST /users/{id}/translateExchangeIds` (and `/me/translateExchangeIds`), and the id scheme
//! the Graph fake shares with the EWS fake.
//!
//! Items imported from the EWS fake ([`super::GraphState::import_from_ews`]) keep the identity
//! of their EWS item: every id form is the EWS fake's payload (`len(smtp) ‖ smtp ‖ kind ‖ u64`,
//! see [`crate::ews`]) behind a 4-byte prefix:
//!
//! | format | bytes | encoding |
//! | --- | --- | --- |
//! | `ewsId` | `00 03 24 00 ‖ payload` | standard base64 (the EWS fake's `EwsId`) |
//! | `restId` | `00 03 24 00 ‖ payload` | URL-safe base64 (the EWS fake's `RestId`; what Graph answers without `Prefer: IdType="ImmutableId"`) |
//! | `restImmutableEntryId` | `00 09 00 2E ‖ payload` | URL-safe base64 (starts `AAkAL`, the id Graph answers with `Prefer: IdType="ImmutableId"`) |
//! | `entryId` | `00 00 00 00 ‖ payload` | Graph's binary form: URL-safe base64 without padding, then the number of `=` removed |
//! | `immutableEntryId` | `00 09 00 00 ‖ payload` | same binary form |
//!
//! The request is `{"inputIds": [...], "sourceIdType": "...", "targetIdType": "..."}` (at most
//! 1000 ids; `sourceIdType` and `targetIdType` required, as documented); the answer
//! `{"value": [{"sourceId", "targetId"}]}` in the order of `inputIds`. An id that is not an id of
//! this mailbox (malformed, or of another mailbox) gets `errorDetails` (`code`, `message`) instead
//! of `targetId`, as `convertIdResult` documents; a malformed request is a Graph error body (400).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::data::{ApiError, Data, Reply};

/// The most ids one request may carry.
pub const MAX_INPUT_IDS: usize = 1000;

const EWS_PREFIX: [u8; 4] = [0x00, 0x03, 0x24, 0x00];
const REST_IMMUTABLE_PREFIX: [u8; 4] = [0x00, 0x09, 0x00, 0x2E];
const ENTRY_PREFIX: [u8; 4] = [0x00, 0x00, 0x00, 0x00];
const IMMUTABLE_ENTRY_PREFIX: [u8; 4] = [0x00, 0x09, 0x00, 0x00];

/// Graph's `exchangeIdFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // Graph's own names
pub(crate) enum IdType {
    EntryId,
    EwsId,
    ImmutableEntryId,
    RestId,
    RestImmutableEntryId,
}

impl IdType {
    fn parse(s: &str) -> Option<IdType> {
        Some(match s {
            "entryId" => IdType::EntryId,
            "ewsId" => IdType::EwsId,
            "immutableEntryId" => IdType::ImmutableEntryId,
            "restId" => IdType::RestId,
            "restImmutableEntryId" => IdType::RestImmutableEntryId,
            _ => return None,
        })
    }

    fn prefix(self) -> [u8; 4] {
        match self {
            IdType::EwsId | IdType::RestId => EWS_PREFIX,
            IdType::RestImmutableEntryId => REST_IMMUTABLE_PREFIX,
            IdType::EntryId => ENTRY_PREFIX,
            IdType::ImmutableEntryId => IMMUTABLE_ENTRY_PREFIX,
        }
    }
}

/// Graph's URL-safe form of binary ids: `+`→`-`, `/`→`_`, padding removed and counted at the end.
fn binary_encode(bytes: &[u8]) -> String {
    let padded = STANDARD.encode(bytes);
    let pads = padded.len() - padded.trim_end_matches('=').len();
    format!("{}{pads}", URL_SAFE_NO_PAD.encode(bytes))
}

fn binary_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let (body, count) = s.split_at(s.len().checked_sub(1)?);
    if !matches!(count, "0" | "1" | "2") {
        return None;
    }
    URL_SAFE_NO_PAD.decode(body).ok()
}

/// The payload of a well-formed id: `len ‖ smtp ‖ kind ‖ u64` with a lower-case, `@`-bearing
/// mailbox and a known kind.
fn check_payload(payload: &[u8]) -> Option<(String, u8)> {
    let (&len, rest) = payload.split_first()?;
    let len = usize::from(len);
    if rest.len() != len + 9 {
        return None;
    }
    let smtp = std::str::from_utf8(&rest[..len]).ok()?;
    if !smtp.contains('@') || smtp.chars().any(|c| c.is_uppercase()) {
        return None;
    }
    let kind = rest[len];
    matches!(kind, b'F' | b'I' | b'O').then(|| (smtp.to_owned(), kind))
}

/// The payload of `id` given as `ty`; `None` when it is not an id of the shared scheme.
pub(crate) fn decode(id: &str, ty: IdType) -> Option<Vec<u8>> {
    let bytes = match ty {
        IdType::EwsId => STANDARD.decode(id.trim()).ok()?,
        IdType::RestId | IdType::RestImmutableEntryId => URL_SAFE.decode(id.trim()).ok()?,
        IdType::EntryId | IdType::ImmutableEntryId => binary_decode(id)?,
    };
    let payload = bytes.strip_prefix(&ty.prefix()[..])?.to_vec();
    check_payload(&payload)?;
    Some(payload)
}

/// `payload` as an id of type `ty`.
pub(crate) fn encode(payload: &[u8], ty: IdType) -> String {
    let mut bytes = ty.prefix().to_vec();
    bytes.extend_from_slice(payload);
    match ty {
        IdType::EwsId => STANDARD.encode(bytes),
        IdType::RestId | IdType::RestImmutableEntryId => URL_SAFE.encode(bytes),
        IdType::EntryId | IdType::ImmutableEntryId => binary_encode(&bytes),
    }
}

/// The Graph fake's (immutable) id of the EWS fake's item or folder `ews_id`.
pub(crate) fn immutable_of_ews(ews_id: &str) -> Option<String> {
    decode(ews_id, IdType::EwsId).map(|p| encode(&p, IdType::RestImmutableEntryId))
}

/// The default (REST) form of an imported item's immutable id; `None` for other ids.
pub(crate) fn rest_of_immutable(id: &str) -> Option<String> {
    decode(id, IdType::RestImmutableEntryId).map(|p| encode(&p, IdType::RestId))
}

/// The immutable form of an imported item's REST id; `None` for other ids.
pub(crate) fn immutable_of_rest(id: &str) -> Option<String> {
    decode(id, IdType::RestId).map(|p| encode(&p, IdType::RestImmutableEntryId))
}

fn mailbox_of(payload: &[u8]) -> Option<String> {
    check_payload(payload).map(|(smtp, _)| smtp)
}

/// Answers `POST …/translateExchangeIds` for mailbox `mb` (its key, the lower-case UPN).
pub(crate) fn translate(data: &Data, mb: &str, body: Option<&Value>) -> Result<Reply, ApiError> {
    let mailbox = data.mailbox(mb)?;
    let upn = mailbox.upn.to_lowercase();
    let body = body
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("Empty Payload. JSON content expected."))?;
    for key in body.keys() {
        if !["inputIds", "sourceIdType", "targetIdType"].contains(&key.as_str()) && !key.starts_with("@odata.") {
            return Err(ApiError::bad_request(format!(
                "The property '{key}' does not exist on type 'Microsoft.OutlookServices.TranslateExchangeIds'."
            )));
        }
    }
    let kind = |name: &str| -> Result<IdType, ApiError> {
        let value = body
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request(format!("The parameter '{name}' is required.")))?;
        IdType::parse(value).ok_or_else(|| {
            ApiError::bad_request(format!(
                "The request is invalid: '{value}' is not a valid value for '{name}' (entryId, ewsId, \
                 immutableEntryId, restId, restImmutableEntryId)."
            ))
        })
    };
    let source = kind("sourceIdType")?;
    let target = kind("targetIdType")?;
    let ids = body
        .get("inputIds")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("The parameter 'inputIds' is required."))?;
    if ids.is_empty() {
        return Err(ApiError::bad_request("The parameter 'inputIds' must not be empty."));
    }
    if ids.len() > MAX_INPUT_IDS {
        return Err(ApiError::new(
            400,
            "ErrorInvalidArgument",
            format!("The number of input ids ({}) exceeds the maximum of {MAX_INPUT_IDS}.", ids.len()),
        ));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.as_str().ok_or_else(|| ApiError::bad_request("inputIds must be strings."))?;
        let entry = match decode(id, source) {
            Some(p) if mailbox_of(&p).as_deref() == Some(upn.as_str()) => {
                json!({"sourceId": id, "targetId": encode(&p, target)})
            }
            Some(_) => json!({"sourceId": id, "errorDetails": {
                "code": "ErrorItemNotFound",
                "message": "The id belongs to another mailbox."}}),
            None => json!({"sourceId": id, "errorDetails": {
                "code": "ErrorInvalidIdMalformed",
                "message": "Id is malformed."}}),
        };
        out.push(entry);
    }
    Ok(Reply::json(
        200,
        json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.convertIdResult)", "value": out}),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ews::{IdFormat, convert_id};

    #[test]
    fn every_form_round_trips_and_matches_the_ews_fake() {
        // An EwsId as the EWS fake makes it (mailbox ann@contoso.example, item 101).
        let mut payload = vec![19u8];
        payload.extend_from_slice(b"ann@contoso.example");
        payload.push(b'I');
        payload.extend_from_slice(&101u64.to_be_bytes());
        let ews = encode(&payload, IdType::EwsId);
        assert!(ews.starts_with("AAMkA"));
        assert_eq!(encode(&payload, IdType::RestId), convert_id(&ews, IdFormat::EwsId, IdFormat::RestId).unwrap());
        for ty in
            [IdType::EntryId, IdType::EwsId, IdType::ImmutableEntryId, IdType::RestId, IdType::RestImmutableEntryId]
        {
            assert_eq!(decode(&encode(&payload, ty), ty), Some(payload.clone()), "{ty:?}");
        }
        let immutable = immutable_of_ews(&ews).unwrap();
        assert!(immutable.starts_with("AAkAL"));
        assert_eq!(immutable_of_rest(&rest_of_immutable(&immutable).unwrap()).unwrap(), immutable);
        assert_eq!(decode("garbage", IdType::EwsId), None);
        assert_eq!(decode(&super::super::util::new_item_id(), IdType::RestImmutableEntryId), None);
    }

    #[test]
    fn the_endpoint_checks_its_request_and_answers_per_id() {
        let mut data = Data::new(super::super::GraphFakeConfig::default());
        data.add_mailbox("ann@contoso.example", "Ann");
        let mb = "ann@contoso.example";
        let mut payload = vec![19u8];
        payload.extend_from_slice(b"ann@contoso.example");
        payload.push(b'I');
        payload.extend_from_slice(&7u64.to_be_bytes());
        let ews = encode(&payload, IdType::EwsId);
        let mut other = vec![19u8];
        other.extend_from_slice(b"bob@contoso.example");
        other.push(b'I');
        other.extend_from_slice(&7u64.to_be_bytes());
        let body = json!({"inputIds": [ews, "nonsense", encode(&other, IdType::EwsId)],
                          "sourceIdType": "ewsId", "targetIdType": "restImmutableEntryId"});
        let reply = translate(&data, mb, Some(&body)).unwrap();
        let value = reply.body.unwrap()["value"].clone();
        assert_eq!(value[0]["targetId"], json!(encode(&payload, IdType::RestImmutableEntryId)));
        assert_eq!(value[1]["errorDetails"]["code"], "ErrorInvalidIdMalformed");
        assert_eq!(value[2]["errorDetails"]["code"], "ErrorItemNotFound");
        let too_many: Vec<String> = (0..=MAX_INPUT_IDS).map(|_| ews.clone()).collect();
        let body = json!({"inputIds": too_many, "sourceIdType": "ewsId", "targetIdType": "restId"});
        assert_eq!(translate(&data, mb, Some(&body)).unwrap_err().status, 400);
        let body = json!({"inputIds": [ews], "targetIdType": "restId"});
        assert_eq!(translate(&data, mb, Some(&body)).unwrap_err().status, 400);
        let body = json!({"inputIds": [ews], "sourceIdType": "ewsId", "targetIdType": "mapiId"});
        assert_eq!(translate(&data, mb, Some(&body)).unwrap_err().status, 400);
    }
}
