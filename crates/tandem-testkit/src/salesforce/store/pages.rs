//! Query results as the API returns them: records projected to their selected fields, the
//! first page of a query, and the query locators that serve the rest.

use serde_json::{Map, Value, json};

use super::super::schema::{self, FieldType};
use super::super::soql::Select;
use super::query::{Path, invalid_type};
use super::{ApiError, Fields, MAX_SUBSCRIPTION_LIMIT, Org};

/// A pending page set of a query.
#[derive(Clone)]
pub(super) struct Locator {
    rows: Vec<Value>,
    resource: &'static str,
    /// The user whose query it is (rows were filtered for that user).
    viewer: Option<String>,
}

impl Org {
    fn url_of(&self, object: &str, id: &str) -> String {
        format!("/services/data/{}/sobjects/{object}/{id}", self.api_version)
    }

    /// One record as the API returns it, with `fields` (all of the object's when `None`).
    pub(crate) fn project(&self, object: &str, record: &Fields, fields: Option<&[String]>) -> Value {
        let Some(def) = self.object(object) else { return Value::Null };
        let id = record.get("Id").and_then(Value::as_str).unwrap_or("");
        let mut out = Map::new();
        out.insert("attributes".to_owned(), json!({ "type": def.name, "url": self.url_of(def.name, id) }));
        let all: Vec<String>;
        let names = match fields {
            Some(f) => f,
            None => {
                all = def.fields.iter().map(|f| f.name.clone()).collect();
                &all
            }
        };
        for name in names {
            let Ok(path) = self.resolve(def, name) else { continue };
            match &path {
                Path::Direct(f) => {
                    out.insert(f.name.clone(), record.get(&f.name).cloned().unwrap_or(Value::Null));
                }
                Path::Via { lookup, target, .. } => {
                    let rel = lookup.relationship.unwrap_or("");
                    let Some(ref_id) = record.get(&lookup.name).and_then(Value::as_str) else {
                        out.insert(rel.to_owned(), Value::Null);
                        continue;
                    };
                    if self.find(ref_id).is_some_and(|(object, r)| !self.visible(object, &r)) {
                        out.insert(rel.to_owned(), Value::Null);
                        continue;
                    }
                    let polymorphic = matches!(&lookup.ty, FieldType::Reference(t) if t.len() > 1);
                    let ref_type = if polymorphic {
                        "Name".to_owned()
                    } else {
                        schema::object_of_id(ref_id).unwrap_or("Name").to_owned()
                    };
                    let entry = out.entry(rel.to_owned()).or_insert_with(
                        || json!({ "attributes": { "type": ref_type, "url": self.url_of(&ref_type, ref_id) } }),
                    );
                    if let Value::Object(m) = entry {
                        m.insert(target.clone(), self.value_at(record, &path));
                    }
                }
            }
        }
        Value::Object(out)
    }

    /// Runs a query and returns its first page (registering a locator for the rest).
    pub(crate) fn query(&mut self, select: &Select, all: bool, batch: Option<usize>) -> Result<Value, ApiError> {
        let restricted = self.viewer.as_ref().is_some_and(|v| !self.view_all.contains(v));
        if restricted
            && self.object(&select.object).is_some_and(|d| d.name == "EntitySubscription")
            && select.limit.is_none_or(|n| n > MAX_SUBSCRIPTION_LIMIT)
        {
            return Err(ApiError::new(
                "MALFORMED_QUERY",
                format!(
                    "Implementation restriction: EntitySubscription only allows a LIMIT of at most {MAX_SUBSCRIPTION_LIMIT} for users without View All Data"
                ),
                &[],
            ));
        }
        let rows = self.select_rows(select, all)?;
        if select.count {
            return Ok(json!({ "totalSize": rows.len(), "done": true, "records": [] }));
        }
        let Some(def) = self.object(&select.object) else { return Err(invalid_type(&select.object).into()) };
        let fields = self.selected(def, select);
        let def_name = def.name;
        let projected: Vec<Value> = rows.iter().map(|r| self.project(def_name, r, Some(&fields))).collect();
        Ok(self.first_page(projected, if all { "queryAll" } else { "query" }, batch))
    }

    fn first_page(&mut self, rows: Vec<Value>, resource: &'static str, batch: Option<usize>) -> Value {
        let size = batch.unwrap_or(self.page_size).max(1);
        let total = rows.len();
        if total <= size {
            return json!({ "totalSize": total, "done": true, "records": rows });
        }
        self.next_locator += 1;
        let locator = format!("01g{:015}", self.next_locator);
        let first: Vec<Value> = rows[..size].to_vec();
        let viewer = self.viewer.clone();
        self.locators.insert(locator.clone(), Locator { rows, resource, viewer });
        json!({
            "totalSize": total,
            "done": false,
            "nextRecordsUrl": format!("/services/data/{}/{resource}/{locator}-{size}", self.api_version),
            "records": first,
        })
    }

    /// The page at `{locator}-{offset}`.
    pub(crate) fn more(&mut self, token: &str, batch: Option<usize>) -> Result<Value, ApiError> {
        let invalid = || ApiError::new("INVALID_QUERY_LOCATOR", "invalid query locator", &[]);
        let (locator, offset) = token.rsplit_once('-').ok_or_else(invalid)?;
        let offset: usize = offset.parse().map_err(|_| invalid())?;
        let size = batch.unwrap_or(self.page_size).max(1);
        let api_version = self.api_version.clone();
        let entry = self.locators.get(locator).filter(|l| l.viewer == self.viewer).ok_or_else(invalid)?;
        let total = entry.rows.len();
        if offset > total {
            return Err(invalid());
        }
        let end = (offset + size).min(total);
        let page: Vec<Value> = entry.rows[offset..end].to_vec();
        let resource = entry.resource;
        if end >= total {
            self.locators.remove(locator);
            return Ok(json!({ "totalSize": total, "done": true, "records": page }));
        }
        Ok(json!({
            "totalSize": total,
            "done": false,
            "nextRecordsUrl": format!("/services/data/{api_version}/{resource}/{locator}-{end}"),
            "records": page,
        }))
    }

    /// Forgets every open query locator.
    pub(crate) fn expire_locators(&mut self) {
        self.locators.clear();
    }
}
