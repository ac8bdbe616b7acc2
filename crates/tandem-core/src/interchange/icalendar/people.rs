//! People: the address and name of an `ORGANIZER` or `ATTENDEE`, and an attendee's role and
//! response.

use crate::interchange::text::Prop;
use crate::model::{Attendee, AttendeeRole, ResponseStatus};

pub(super) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// The address and `CN` of an `ORGANIZER` or `ATTENDEE`.
pub(super) fn person(prop: &Prop) -> (String, Option<String>) {
    let value = prop.value.trim();
    let email = strip_prefix_ci(value, "mailto:").unwrap_or(value).to_owned();
    let name = prop.param("CN").filter(|n| !n.is_empty());
    (email, name)
}

pub(super) fn attendee(prop: &Prop) -> Option<Attendee> {
    let (email, name) = person(prop);
    if email.is_empty() && name.is_none() {
        return None;
    }
    let cutype = prop.tokens("CUTYPE");
    let role = if cutype.iter().any(|t| t == "resource" || t == "room") {
        AttendeeRole::Resource
    } else {
        match prop.param("ROLE").map(|r| r.trim().to_ascii_uppercase()).as_deref() {
            Some("OPT-PARTICIPANT" | "NON-PARTICIPANT") => AttendeeRole::Optional,
            _ => AttendeeRole::Required,
        }
    };
    let response = match prop.param("PARTSTAT").map(|r| r.trim().to_ascii_uppercase()).as_deref() {
        Some("ACCEPTED") => ResponseStatus::Accepted,
        Some("TENTATIVE") => ResponseStatus::Tentative,
        Some("DECLINED") => ResponseStatus::Declined,
        _ => ResponseStatus::NeedsAction,
    };
    Some(Attendee { email, name, role, response })
}
