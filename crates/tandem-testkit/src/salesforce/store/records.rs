//! Writes: inserting, updating, overwriting and (soft-)deleting records, ending a follow and
//! converting a lead.

use serde_json::Value;

use super::super::schema::{FieldType, ObjectDef};
use super::{ApiError, Fields, Org, format_datetime};

impl Org {
    /// Inserts a record. `actor` owns it unless `OwnerId` is given. `check_access` applies
    /// field-level create rules (API writes); seeding skips them.
    pub(crate) fn insert(
        &mut self,
        object: &str,
        input: &Fields,
        actor: &str,
        check_access: bool,
    ) -> Result<String, ApiError> {
        let def = self.object(object).cloned().ok_or_else(|| Self::unsupported(object))?;
        let mut fields = self.convert(&def, input, true, check_access)?;
        if fields.contains_key("Id") {
            fields.remove("Id");
        }
        for f in &def.fields {
            if f.ty == FieldType::Bool {
                fields.entry(f.name.clone()).or_insert(Value::Bool(false));
            }
        }
        if def.field("OwnerId").is_some() {
            fields.entry("OwnerId".to_owned()).or_insert_with(|| Value::String(actor.to_owned()));
        }
        match def.name {
            "Event" => {
                fields.entry("ShowAs".to_owned()).or_insert_with(|| Value::String("Busy".to_owned()));
            }
            "EventRelation" => {
                fields.entry("Status".to_owned()).or_insert_with(|| Value::String("New".to_owned()));
            }
            _ => {}
        }
        self.rules(&def, &mut fields, input, None)?;
        let id = self.new_id(def.prefix);
        let stamp = Value::String(format_datetime(self.stamp()));
        fields.insert("Id".to_owned(), Value::String(id.clone()));
        fields.insert("IsDeleted".to_owned(), Value::Bool(false));
        for f in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            fields.insert(f.to_owned(), stamp.clone());
        }
        if actor.starts_with("005") {
            fields.insert("CreatedById".to_owned(), Value::String(actor.to_owned()));
            fields.insert("LastModifiedById".to_owned(), Value::String(actor.to_owned()));
        }
        if def.name == "Event" && fields.get("IsRecurrence2") == Some(&Value::Bool(true)) {
            fields.insert(
                "Recurrence2PatternStartDate".to_owned(),
                fields.get("StartDateTime").cloned().unwrap_or(Value::Null),
            );
        }
        let who = (def.name == "Event" && fields.get("IsChild") != Some(&Value::Bool(true)))
            .then(|| fields.get("WhoId").and_then(Value::as_str).map(str::to_owned))
            .flatten();
        self.reindex(def.name, &id, None, Some(&fields));
        self.track(def.name, &id, None, Some(&fields));
        self.tables.entry(def.name).or_default().insert(id.clone(), &fields);
        if let Some(who) = who {
            self.mirror_who(&id, actor, None, Some(&who));
        }
        Ok(id)
    }

    /// Overwrites fields of a record verbatim, without validation or a new stamp.
    pub(crate) fn overwrite(&mut self, object: &str, id: &str, fields: Fields) {
        let Some(def) = self.object(object) else { return };
        let name = def.name;
        let Some(before) = self.tables.get(name).and_then(|t| t.get(id)) else { return };
        let mut after = before.clone();
        for (k, v) in fields {
            after.insert(k, v);
        }
        self.reindex(name, id, Some(&before), Some(&after));
        self.track(name, id, Some(&before), Some(&after));
        self.tables.entry(name).or_default().insert(id.to_owned(), &after);
    }

    /// Overwrites fields of a record with a new `SystemModstamp`.
    pub(super) fn restamp(&mut self, object: &'static str, id: &str, mut fields: Fields) {
        let stamp = Value::String(format_datetime(self.stamp()));
        fields.insert("LastModifiedDate".to_owned(), stamp.clone());
        fields.insert("SystemModstamp".to_owned(), stamp);
        self.overwrite(object, id, fields);
    }

    /// Updates a live record. `actor` must own an Event to change it (API writes).
    pub(crate) fn update(
        &mut self,
        object: &str,
        id: &str,
        input: &Fields,
        actor: Option<&str>,
        check_access: bool,
    ) -> Result<(), ApiError> {
        let def = self.object(object).cloned().ok_or_else(|| Self::unsupported(object))?;
        let current = self.existing(&def, id)?;
        self.check_owner(&def, &current, actor)?;
        if !self.can_edit(self.viewer.as_deref(), def.name, &current) {
            return Err(Self::no_access());
        }
        if def.name == "Lead" && current.get("IsConverted") == Some(&Value::Bool(true)) && check_access {
            return Err(converted_lead());
        }
        let changes = self.convert(&def, input, false, check_access)?;
        let mut merged = current.clone();
        for (k, v) in &changes {
            merged.insert(k.clone(), v.clone());
        }
        self.rules(&def, &mut merged, &changes, Some(id))?;
        let stamp = Value::String(format_datetime(self.stamp()));
        merged.insert("LastModifiedDate".to_owned(), stamp.clone());
        merged.insert("SystemModstamp".to_owned(), stamp);
        if let Some(a) = actor {
            merged.insert("LastModifiedById".to_owned(), Value::String(a.to_owned()));
        }
        let who = |r: &Fields| r.get("WhoId").and_then(Value::as_str).map(str::to_owned);
        let (old_who, new_who) = (who(&current), who(&merged));
        let mirror = def.name == "Event" && merged.get("IsChild") != Some(&Value::Bool(true));
        self.reindex(def.name, id, Some(&current), Some(&merged));
        self.track(def.name, id, Some(&current), Some(&merged));
        self.tables.entry(def.name).or_default().insert(id.to_owned(), &merged);
        if mirror {
            let actor = actor.or(self.viewer.as_deref()).unwrap_or("").to_owned();
            self.mirror_who(id, &actor, old_who.as_deref(), new_who.as_deref());
        }
        Ok(())
    }

    fn existing(&self, def: &ObjectDef, id: &str) -> Result<Fields, ApiError> {
        match self.tables.get(def.name).and_then(|t| t.get(id)) {
            Some(r) if Self::is_live(&r) => Ok(r),
            Some(_) => Err(ApiError::new("ENTITY_IS_DELETED", "entity is deleted", &[])),
            None => Err(ApiError::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", &[])),
        }
    }

    fn check_owner(&self, def: &ObjectDef, record: &Fields, actor: Option<&str>) -> Result<(), ApiError> {
        if def.name != "Event" {
            return Ok(());
        }
        match (actor, record.get("OwnerId").and_then(Value::as_str)) {
            (Some(a), Some(owner)) if a != owner && !self.view_all.contains(a) => {
                Err(ApiError::new("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", &[]))
            }
            _ => Ok(()),
        }
    }

    /// Soft-deletes a live record (and an event's relations).
    pub(crate) fn delete(&mut self, object: &str, id: &str, actor: Option<&str>) -> Result<(), ApiError> {
        let def = self.object(object).cloned().ok_or_else(|| Self::unsupported(object))?;
        let current = self.existing(&def, id)?;
        self.check_owner(&def, &current, actor)?;
        if !self.can_edit(self.viewer.as_deref(), def.name, &current) {
            return Err(Self::no_access());
        }
        self.soft_delete(def.name, id);
        if def.name == "Event" {
            let relations: Vec<String> = self
                .tables
                .get("EventRelation")
                .map(|t| {
                    t.values()
                        .filter(|r| Self::is_live(r) && r.get("EventId").and_then(Value::as_str) == Some(id))
                        .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            for r in relations {
                self.soft_delete("EventRelation", &r);
            }
        }
        Ok(())
    }

    pub(super) fn soft_delete(&mut self, object: &'static str, id: &str) {
        let stamp = self.stamp();
        let before = self.tables.get(object).and_then(|t| t.get(id));
        self.reindex(object, id, before.as_ref(), None);
        let Some(mut after) = before.clone() else { return };
        after.insert("IsDeleted".to_owned(), Value::Bool(true));
        after.insert("SystemModstamp".to_owned(), Value::String(format_datetime(stamp)));
        self.track(object, id, before.as_ref(), Some(&after));
        if let Some(table) = self.tables.get_mut(object) {
            table.insert(id.to_owned(), &after);
            self.deleted_at.insert(id.to_owned(), stamp);
        }
    }

    /// Ends `user`'s follow of `record`.
    pub(crate) fn unfollow(&mut self, user: &str, record: &str) -> Result<(), ApiError> {
        let id = self
            .subscription(record, user)
            .ok_or_else(|| ApiError::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", &[]))?;
        self.soft_delete("EntitySubscription", &id);
        Ok(())
    }

    /// The live follow of `parent` by `subscriber`.
    pub(super) fn subscription(&self, parent: &str, subscriber: &str) -> Option<String> {
        self.tables.get("EntitySubscription")?.values().find_map(|r| {
            let live = Self::is_live(&r)
                && r.get("ParentId").and_then(Value::as_str) == Some(parent)
                && r.get("SubscriberId").and_then(Value::as_str) == Some(subscriber);
            live.then(|| r.get("Id").and_then(Value::as_str).map(str::to_owned)).flatten()
        })
    }

    /// Marks a lead converted.
    pub(crate) fn convert_lead(&mut self, id: &str) -> Result<(), ApiError> {
        let def = self.object("Lead").cloned().ok_or_else(|| Self::unsupported("Lead"))?;
        let current = self.existing(&def, id)?;
        if current.get("IsConverted") == Some(&Value::Bool(true)) {
            return Err(converted_lead());
        }
        let mut merged = current.clone();
        merged.insert("IsConverted".to_owned(), Value::Bool(true));
        let stamp = Value::String(format_datetime(self.stamp()));
        merged.insert("LastModifiedDate".to_owned(), stamp.clone());
        merged.insert("SystemModstamp".to_owned(), stamp);
        self.reindex(def.name, id, Some(&current), Some(&merged));
        self.track(def.name, id, Some(&current), Some(&merged));
        self.tables.entry(def.name).or_default().insert(id.to_owned(), &merged);
        Ok(())
    }
}

fn converted_lead() -> ApiError {
    ApiError::new("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", &[])
}
