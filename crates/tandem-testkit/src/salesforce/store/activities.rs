//! Shared Activities: an event's relations (`EventRelation`), the rules on parents and
//! invitees, and the relation that mirrors an event's `WhoId`.

use serde_json::Value;

use super::super::schema;
use super::{ApiError, Fields, MAX_INVITEES, MAX_PARENT_CONTACTS, MAX_RECURRING_INVITEES, Org};

impl Org {
    /// Live relations of an event.
    pub(super) fn relations_of(&self, event: &str) -> Vec<Fields> {
        self.tables
            .get("EventRelation")
            .map(|t| {
                t.values()
                    .filter(|r| Self::is_live(r) && r.get("EventId").and_then(Value::as_str) == Some(event))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `relation` may be a parent (`IsParent`) of `event` (`None`: an event being
    /// created), ignoring the relations `skip` and any current one to the same person: Shared
    /// Activities must be on; at most 50 contacts, or one lead alone.
    pub(super) fn parent_rule(&self, event: Option<&str>, relation: &str, skip: &[String]) -> Result<(), ApiError> {
        let integrity = |m: &str, f: &str| ApiError::new("FIELD_INTEGRITY_EXCEPTION", m, &[f]);
        if !self.shared_activities {
            return Err(integrity(
                "Relating an event to contacts or leads with IsParent requires Shared Activities.",
                "IsParent",
            ));
        }
        let kind = schema::object_of_id(relation);
        let (mut contacts, mut leads) = (0usize, 0usize);
        for r in event.map(|e| self.relations_of(e)).unwrap_or_default() {
            let id = r.get("Id").and_then(Value::as_str).unwrap_or("");
            let other = r.get("RelationId").and_then(Value::as_str).unwrap_or("");
            if r.get("IsParent") != Some(&Value::Bool(true)) || other == relation || skip.iter().any(|s| s == id) {
                continue;
            }
            match schema::object_of_id(other) {
                Some("Contact") => contacts += 1,
                Some("Lead") => leads += 1,
                _ => {}
            }
        }
        let lead_alone = "An event can be related to up to 50 contacts or to one lead, not both.";
        match kind {
            Some("Lead") if contacts + leads > 0 => Err(integrity(lead_alone, "RelationId")),
            Some("Contact") if leads > 0 => Err(integrity(lead_alone, "RelationId")),
            Some("Contact") if contacts + 1 > MAX_PARENT_CONTACTS => {
                Err(integrity("An event can be related to at most 50 contacts.", "RelationId"))
            }
            _ => Ok(()),
        }
    }

    /// EventRelation rules: not on a child event, one relation per person and event, the
    /// parent rules, the invitee limits.
    pub(super) fn relation_rules(&self, fields: &Fields, id: Option<&str>) -> Result<(), ApiError> {
        let integrity = |m: String, f: &str| ApiError::new("FIELD_INTEGRITY_EXCEPTION", m, &[f]);
        let Some(event_id) = fields.get("EventId").and_then(Value::as_str) else { return Ok(()) };
        let Some(event) = self.get("Event", event_id) else { return Ok(()) };
        if id.is_none() && event.get("IsChild") == Some(&Value::Bool(true)) {
            return Err(integrity("You can't add an EventRelation to a child event.".to_owned(), "EventId"));
        }
        let relation = fields.get("RelationId").and_then(Value::as_str).unwrap_or("");
        let others: Vec<Fields> = self
            .relations_of(event_id)
            .into_iter()
            .filter(|r| id.is_none_or(|me| r.get("Id").and_then(Value::as_str) != Some(me)))
            .collect();
        if let Some(twin) = others.iter().find(|r| r.get("RelationId").and_then(Value::as_str) == Some(relation)) {
            let twin = twin.get("Id").and_then(Value::as_str).unwrap_or("");
            return Err(ApiError::new(
                "DUPLICATE_VALUE",
                format!("duplicate value found: RelationId duplicates value on record with id: {twin}"),
                &["RelationId"],
            ));
        }
        if fields.get("IsParent") == Some(&Value::Bool(true)) {
            let skip: Vec<String> = id.map(str::to_owned).into_iter().collect();
            self.parent_rule(Some(event_id), relation, &skip)?;
        }
        if fields.get("IsInvitee") == Some(&Value::Bool(true)) {
            let recurring = event.get("IsRecurrence2") == Some(&Value::Bool(true));
            let max = if recurring { MAX_RECURRING_INVITEES } else { MAX_INVITEES };
            let invitees = others.iter().filter(|r| r.get("IsInvitee") == Some(&Value::Bool(true))).count();
            if invitees + 1 > max {
                return Err(integrity(
                    format!(
                        "An event can have at most {max} invitees{}.",
                        if recurring { " when it recurs" } else { "" }
                    ),
                    "IsInvitee",
                ));
            }
        }
        Ok(())
    }

    /// With Shared Activities, keeps the relation mirroring an event's `WhoId` (`IsParent`, not
    /// an invitee): the previous who's relation loses `IsParent` (and goes when it is not an
    /// invitee either), the new who gets one.
    pub(super) fn mirror_who(&mut self, event: &str, actor: &str, old: Option<&str>, new: Option<&str>) {
        if !self.shared_activities || old == new {
            return;
        }
        let find = |org: &Org, who: &str| {
            org.relations_of(event).into_iter().find(|r| r.get("RelationId").and_then(Value::as_str) == Some(who))
        };
        if let Some(old) = old
            && let Some(r) = find(self, old)
            && r.get("IsParent") == Some(&Value::Bool(true))
        {
            let id = r.get("Id").and_then(Value::as_str).unwrap_or("").to_owned();
            if r.get("IsInvitee") == Some(&Value::Bool(true)) {
                let mut change = Fields::new();
                change.insert("IsParent".to_owned(), Value::Bool(false));
                self.restamp("EventRelation", &id, change);
            } else {
                self.soft_delete("EventRelation", &id);
            }
        }
        let Some(new) = new.filter(|w| matches!(schema::object_of_id(w), Some("Contact" | "Lead"))) else { return };
        match find(self, new) {
            Some(r) if r.get("IsParent") != Some(&Value::Bool(true)) => {
                let id = r.get("Id").and_then(Value::as_str).unwrap_or("").to_owned();
                let mut change = Fields::new();
                change.insert("IsParent".to_owned(), Value::Bool(true));
                self.restamp("EventRelation", &id, change);
            }
            Some(_) => {}
            None => {
                let mut relation = Fields::new();
                relation.insert("EventId".to_owned(), Value::String(event.to_owned()));
                relation.insert("RelationId".to_owned(), Value::String(new.to_owned()));
                relation.insert("IsParent".to_owned(), Value::Bool(true));
                relation.insert("IsInvitee".to_owned(), Value::Bool(false));
                // Checked beforehand by the event's own rules (`parent_rule`).
                let saved = self.viewer.take();
                let _ = self.insert("EventRelation", &relation, actor, false);
                self.viewer = saved;
            }
        }
    }
}
