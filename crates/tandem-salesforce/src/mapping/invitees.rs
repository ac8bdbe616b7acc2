//! Invitees: `EventRelation` rows as attendees, with their responses.

use serde_json::{Map, Value};
use tandem_core::model::{Attendee, AttendeeRole, ResponseStatus};

use super::values::text;

/// An EventRelation status as an attendee response.
pub(crate) fn response_of(status: Option<&str>) -> ResponseStatus {
    match status {
        Some("Accepted") => ResponseStatus::Accepted,
        Some("Declined") => ResponseStatus::Declined,
        Some("Maybe" | "Tentative") => ResponseStatus::Tentative,
        _ => ResponseStatus::NeedsAction,
    }
}

/// An invitee row (`EventRelation` with `Relation.Name`, `Relation.Email`, `Status`) as an
/// attendee; `None` when the invitee has no email address.
pub(crate) fn attendee(row: &Map<String, Value>) -> Option<Attendee> {
    let relation = row.get("Relation").and_then(Value::as_object)?;
    let email = text(relation, "Email").ok().flatten()?;
    Some(Attendee {
        email,
        name: text(relation, "Name").ok().flatten(),
        role: AttendeeRole::Required,
        response: response_of(text(row, "Status").ok().flatten().as_deref()),
    })
}
