//! Validation as Salesforce does it: converting a write's fields to their types (lengths,
//! emails, picklists, references), then the object rules (required fields, computed names,
//! event dates and recurrence, follows, unique external ids).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use super::super::schema::{self, FieldDef, FieldType, ObjectDef};
use super::{ApiError, Fields, MAX_EVENT_MINUTES, Org, date, dt, format_datetime, midnight, parse_datetime};

impl Org {
    /// Checks and converts the fields of a write. `check_access` applies createable/updateable.
    pub(super) fn convert(
        &self,
        def: &ObjectDef,
        input: &Fields,
        creating: bool,
        check_access: bool,
    ) -> Result<Fields, ApiError> {
        let mut out = Fields::new();
        for (key, value) in input {
            if key == "attributes" || key.eq_ignore_ascii_case("id") && !creating {
                continue;
            }
            let Some(f) = def.field(key) else {
                return Err(ApiError::new(
                    "INVALID_FIELD",
                    format!("No such column '{key}' on sobject of type {}", def.name),
                    &[],
                ));
            };
            if check_access && ((creating && !f.createable) || (!creating && !f.updateable)) {
                return Err(ApiError::new(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to create/update fields: {}. Please check the security settings of this field and \
                         verify that it is read/write for your profile or permission set.",
                        f.name
                    ),
                    &[&f.name],
                ));
            }
            out.insert(f.name.clone(), self.convert_value(f, value)?);
        }
        Ok(out)
    }

    fn convert_value(&self, f: &FieldDef, value: &Value) -> Result<Value, ApiError> {
        let bad_type = || {
            ApiError::new(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                format!("{}: value not of required type: {value}", f.label),
                &[&f.name],
            )
        };
        if value.is_null() {
            return Ok(Value::Null);
        }
        match &f.ty {
            FieldType::Id => Err(bad_type()),
            FieldType::Text(_) | FieldType::Email | FieldType::Phone | FieldType::Picklist(_) => {
                let s = value.as_str().ok_or_else(bad_type)?;
                if s.is_empty() {
                    return Ok(Value::Null);
                }
                let max = f.ty.max_len().unwrap_or(255);
                let len = s.chars().count();
                if len > max {
                    let shown: String = s.chars().take(40).collect();
                    return Err(ApiError::new(
                        "STRING_TOO_LONG",
                        format!("{}: data value too large: {shown}… (max length={max})", f.label),
                        &[&f.name],
                    ));
                }
                if f.ty == FieldType::Email {
                    let ok =
                        s.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !s.contains(' '));
                    if !ok {
                        return Err(ApiError::new(
                            "INVALID_EMAIL_ADDRESS",
                            format!("{}: invalid email address: {s}", f.label),
                            &[&f.name],
                        ));
                    }
                }
                if let FieldType::Picklist(values) = &f.ty
                    && !values.is_empty()
                    && !values.contains(&s)
                {
                    return Err(ApiError::new(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        format!("{}: bad value for restricted picklist field: {s}", f.label),
                        &[&f.name],
                    ));
                }
                Ok(Value::String(s.to_owned()))
            }
            FieldType::Date => {
                let s = value.as_str().ok_or_else(bad_type)?;
                let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad_type())?;
                Ok(Value::String(d.format("%Y-%m-%d").to_string()))
            }
            FieldType::DateTime => {
                let s = value.as_str().ok_or_else(bad_type)?;
                Ok(Value::String(format_datetime(parse_datetime(s).ok_or_else(bad_type)?)))
            }
            FieldType::Bool => value.as_bool().map(Value::Bool).ok_or_else(bad_type),
            FieldType::Int => {
                let n = value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).ok_or_else(bad_type)?;
                Ok(json!(n))
            }
            FieldType::Reference(targets) => {
                let s = value.as_str().ok_or_else(bad_type)?;
                let target = schema::object_of_id(s).filter(|o| targets.contains(o));
                let exists = match target {
                    Some(o) if self.tables.contains_key(o) => self.get(o, s).is_some(),
                    Some(_) => s.len() == 18 && s.chars().all(|c| c.is_ascii_alphanumeric()),
                    None => false,
                };
                if !exists {
                    return Err(ApiError::new(
                        "INVALID_CROSS_REFERENCE_KEY",
                        format!("invalid cross reference id ({}: {s})", f.label),
                        &[&f.name],
                    ));
                }
                if !self.id_visible(self.viewer.as_deref(), s) {
                    return Err(ApiError::new(
                        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                        format!("insufficient access rights on cross-reference id: {s}"),
                        &[&f.name],
                    ));
                }
                Ok(Value::String(s.to_owned()))
            }
        }
    }

    /// Object rules after a write's fields are merged: required fields, computed names, event
    /// dates and durations (the 14-day rule), recurrence, unique external ids.
    pub(super) fn rules(
        &self,
        def: &ObjectDef,
        fields: &mut Fields,
        given: &Fields,
        id: Option<&str>,
    ) -> Result<(), ApiError> {
        let missing: Vec<&str> =
            def.required.iter().copied().filter(|f| fields.get(*f).is_none_or(Value::is_null)).collect();
        if !missing.is_empty() {
            return Err(ApiError::new(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", missing.join(", ")),
                &missing,
            ));
        }
        if def.field("Name").is_some_and(|f| !f.createable) {
            let parts: Vec<&str> = ["FirstName", "MiddleName", "LastName"]
                .iter()
                .filter_map(|f| fields.get(*f).and_then(Value::as_str))
                .collect();
            fields.insert("Name".to_owned(), Value::String(parts.join(" ")));
        }
        if def.name == "Event" {
            event_rules(fields, given)?;
            let who = fields.get("WhoId").and_then(Value::as_str);
            let old_event = id.and_then(|i| self.get("Event", i));
            let old = old_event.as_ref().and_then(|r| r.get("WhoId")).and_then(Value::as_str);
            if self.shared_activities
                && fields.get("IsChild") != Some(&Value::Bool(true))
                && let Some(who) = who.filter(|w| Some(*w) != old)
            {
                // The previous who's relation loses `IsParent`.
                let skip: Vec<String> = match (id, old) {
                    (Some(event), Some(old)) => self
                        .relations_of(event)
                        .into_iter()
                        .filter(|r| r.get("RelationId").and_then(Value::as_str) == Some(old))
                        .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                self.parent_rule(id, who, &skip).map_err(|mut e| {
                    e.fields = vec!["WhoId".to_owned()];
                    e
                })?;
            }
        }
        if def.name == "EventRelation" {
            self.relation_rules(fields, id)?;
        }
        if def.name == "EntitySubscription" {
            let parent = fields.get("ParentId").and_then(Value::as_str).unwrap_or("");
            let subscriber = fields.get("SubscriberId").and_then(Value::as_str).unwrap_or("");
            if let Some(viewer) = self.viewer.as_deref()
                && viewer != subscriber
                && !self.view_all.contains(viewer)
            {
                return Err(ApiError::new(
                    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                    format!("insufficient access rights on cross-reference id: {subscriber}"),
                    &["SubscriberId"],
                ));
            }
            if !self.id_visible(Some(subscriber), parent) {
                return Err(ApiError::new(
                    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                    format!("insufficient access rights on cross-reference id: {parent}"),
                    &["ParentId"],
                ));
            }
            if let Some(twin) = self.subscription(parent, subscriber).filter(|t| Some(t.as_str()) != id) {
                return Err(ApiError::new(
                    "DUPLICATE_VALUE",
                    format!("duplicate value found: <unknown> duplicates value on record with id: {twin}"),
                    &[],
                ));
            }
        }
        if def.name == "EventRelation"
            && let Some(event) = fields.get("EventId").and_then(Value::as_str)
            && self.get("Event", event).is_none()
        {
            return Err(ApiError::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", &["EventId"]));
        }
        for f in def.fields.iter().filter(|f| f.external_id) {
            let Some(value) = fields.get(&f.name).and_then(Value::as_str) else { continue };
            let clash = self
                .index
                .get(&(def.name, f.name.clone(), value.to_lowercase()))
                .and_then(|ids| ids.iter().find(|other| Some(other.as_str()) != id));
            if let Some(other) = clash {
                return Err(ApiError::new(
                    "DUPLICATE_VALUE",
                    format!("duplicate value found: {} duplicates value on record with id: {other}", f.name),
                    &[&f.name],
                ));
            }
        }
        Ok(())
    }
}

/// Event dates: all-day events keep their last day (inclusive) in `EndDateTime` and a duration
/// of whole days; timed events a duration in minutes. At most 14 days either way.
fn event_rules(fields: &mut Fields, given: &Fields) -> Result<(), ApiError> {
    let all_day = fields.get("IsAllDayEvent") == Some(&Value::Bool(true));
    let set_dt = |f: &mut Fields, k: &str, v: DateTime<Utc>| {
        f.insert(k.to_owned(), Value::String(format_datetime(v)));
    };
    let too_long = || {
        ApiError::new("FIELD_INTEGRITY_EXCEPTION", "An event can't last longer than 14 days.", &["DurationInMinutes"])
    };
    let backwards = || {
        ApiError::new(
            "FIELD_INTEGRITY_EXCEPTION",
            "The end date and time of the event can't be earlier than its start date and time.",
            &["EndDateTime"],
        )
    };
    if all_day {
        let first = if given.contains_key("ActivityDate") {
            date(fields, "ActivityDate")
        } else {
            dt(fields, "StartDateTime").map(|t| t.date_naive()).or_else(|| date(fields, "ActivityDate"))
        }
        .ok_or_else(|| {
            ApiError::new("REQUIRED_FIELD_MISSING", "Required fields are missing: [ActivityDate]", &["ActivityDate"])
        })?;
        let last = if given.contains_key("DurationInMinutes") && !given.contains_key("EndDateTime") {
            let minutes = fields.get("DurationInMinutes").and_then(Value::as_i64).unwrap_or(1440);
            first + Duration::days(((minutes + 1439) / 1440 - 1).max(0))
        } else {
            dt(fields, "EndDateTime").map_or(first, |t| t.date_naive())
        };
        if last < first {
            return Err(backwards());
        }
        let minutes = ((last - first).num_days() + 1) * 1440;
        if minutes > MAX_EVENT_MINUTES {
            return Err(too_long());
        }
        set_dt(fields, "StartDateTime", midnight(first));
        set_dt(fields, "EndDateTime", midnight(last));
        fields.insert("ActivityDate".to_owned(), Value::String(first.format("%Y-%m-%d").to_string()));
        fields.insert("EndDate".to_owned(), Value::String(last.format("%Y-%m-%d").to_string()));
        fields.insert("ActivityDateTime".to_owned(), Value::Null);
        fields.insert("DurationInMinutes".to_owned(), json!(minutes));
    } else {
        let start = dt(fields, "StartDateTime").or_else(|| dt(fields, "ActivityDateTime")).ok_or_else(|| {
            ApiError::new("REQUIRED_FIELD_MISSING", "Required fields are missing: [StartDateTime]", &["StartDateTime"])
        })?;
        let end = if given.contains_key("DurationInMinutes") && !given.contains_key("EndDateTime") {
            fields.get("DurationInMinutes").and_then(Value::as_i64).map(|m| start + Duration::minutes(m))
        } else {
            dt(fields, "EndDateTime").or_else(|| {
                fields.get("DurationInMinutes").and_then(Value::as_i64).map(|m| start + Duration::minutes(m))
            })
        }
        .ok_or_else(|| {
            ApiError::new("REQUIRED_FIELD_MISSING", "Required fields are missing: [EndDateTime]", &["EndDateTime"])
        })?;
        if end < start {
            return Err(backwards());
        }
        let minutes = (end - start).num_minutes();
        if minutes > MAX_EVENT_MINUTES {
            return Err(too_long());
        }
        set_dt(fields, "StartDateTime", start);
        set_dt(fields, "EndDateTime", end);
        set_dt(fields, "ActivityDateTime", start);
        fields.insert("ActivityDate".to_owned(), Value::String(start.date_naive().format("%Y-%m-%d").to_string()));
        fields.insert("EndDate".to_owned(), Value::String(end.date_naive().format("%Y-%m-%d").to_string()));
        fields.insert("DurationInMinutes".to_owned(), json!(minutes));
    }
    if fields.get("IsRecurrence2") == Some(&Value::Bool(true)) {
        let ok = fields
            .get("Recurrence2PatternText")
            .and_then(Value::as_str)
            .is_some_and(|p| p.lines().any(|l| l.trim_start().starts_with("RRULE:")));
        if !ok {
            return Err(ApiError::new(
                "FIELD_INTEGRITY_EXCEPTION",
                "Recurrence2PatternText must hold an RRULE for a recurring event.",
                &["Recurrence2PatternText"],
            ));
        }
        fields.entry("Recurrence2PatternVersion".to_owned()).or_insert_with(|| Value::String("1".to_owned()));
    } else {
        for f in [
            "Recurrence2PatternText",
            "Recurrence2PatternTimeZone",
            "Recurrence2PatternVersion",
            "Recurrence2PatternStartDate",
        ] {
            fields.insert(f.to_owned(), Value::Null);
        }
    }
    Ok(())
}
