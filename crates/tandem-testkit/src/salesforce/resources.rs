//! The fake's discovery resources: API versions, the resource directory, limits and the
//! describes (global, basic information, full describe), all derived from the fake's own schema
//! and API budget so that what they announce is what the fake enforces.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::SalesforceFake;
use super::rest::{Actor, not_found};
use super::schema::{FieldDef, FieldType, ObjectDef};

/// The release that introduced API version `n`: v20.0 was Winter '11, three releases a year.
pub(crate) fn release_label(n: u32) -> String {
    let since = n.saturating_sub(20);
    let season = ["Winter", "Spring", "Summer"][(since % 3) as usize];
    format!("{season} '{:02}", 11 + since / 3)
}

/// `GET /services/data`: every version served, oldest first.
pub(crate) async fn versions(State(fake): State<SalesforceFake>) -> Response {
    let (oldest, newest) = {
        let inner = fake.lock();
        (inner.config.oldest_api_version, inner.config.newest_api_version)
    };
    let list: Vec<Value> = (oldest..=newest)
        .map(|n| json!({ "label": release_label(n), "url": format!("/services/data/v{n}.0"), "version": format!("{n}.0") }))
        .collect();
    Json(Value::Array(list)).into_response()
}

/// `GET /services/data/vXX.X`: the resources the fake serves at this version.
pub(crate) async fn directory(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path(version): Path<String>,
    headers: HeaderMap,
) -> Response {
    let org = fake.lock().config.org_id.clone();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let base = format!("/services/data/{version}");
    Json(json!({
        "sobjects": format!("{base}/sobjects"),
        "query": format!("{base}/query"),
        "queryAll": format!("{base}/queryAll"),
        "composite": format!("{base}/composite"),
        "limits": format!("{base}/limits"),
        "identity": format!("http://{host}/id/{org}/{}", actor.0),
    }))
    .into_response()
}

/// `GET /services/data/vXX.X/limits`: the daily API requests are the fake's budget (the same
/// numbers as `Sforce-Limit-Info`, this call included); the other limits are untouched.
pub(crate) async fn limits(State(fake): State<SalesforceFake>) -> Response {
    let (used, max) = {
        let inner = fake.lock();
        (inner.api_used, inner.config.daily_limit)
    };
    let full = |max: u64| json!({ "Max": max, "Remaining": max });
    Json(json!({
        "ConcurrentAsyncGetReportInstances": full(200),
        "ConcurrentSyncReportRuns": full(20),
        "DailyApiRequests": { "Max": max, "Remaining": max.saturating_sub(used) },
        "DailyAsyncApexExecutions": full(250_000),
        "DailyBulkApiBatches": full(15_000),
        "DailyBulkV2QueryFileStorageMB": full(976_562),
        "DailyBulkV2QueryJobs": full(10_000),
        "DailyDurableStreamingApiEvents": full(10_000),
        "DailyGenericStreamingApiEvents": full(10_000),
        "DailyStreamingApiEvents": full(10_000),
        "DailyWorkflowEmails": full(2_000_000),
        "DataStorageMB": full(1_024),
        "FileStorageMB": full(10_240),
        "HourlyAsyncReportRuns": full(1_200),
        "HourlyDashboardRefreshes": full(200),
        "HourlyODataCallout": full(10_000),
        "HourlySyncReportRuns": full(500),
        "MassEmail": full(5_000),
        "SingleEmail": full(5_000),
    }))
    .into_response()
}

fn plural(label: &str) -> String {
    format!("{label}s")
}

/// An object's entry of describeGlobal (also the `objectDescribe` of its basic information).
fn summary(def: &ObjectDef, version: &str) -> Map<String, Value> {
    let label = super::schema::label_of(def.name);
    let user = def.name == "User";
    let mergeable = matches!(def.name, "Contact" | "Account" | "Lead");
    // Relations and follows have no feed, layout or search of their own; follows are never
    // updated (create and delete only) and not undeletable.
    let plain = matches!(def.name, "EventRelation" | "EntitySubscription");
    let follow = def.name == "EntitySubscription";
    let base = format!("/services/data/{version}/sobjects/{}", def.name);
    let value = json!({
        "activateable": false,
        "createable": true,
        "custom": false,
        "customSetting": false,
        "deepCloneable": false,
        "deletable": !user,
        "deprecatedAndHidden": false,
        "feedEnabled": !plain,
        "hasSubtypes": false,
        "isInterface": false,
        "isSubtype": false,
        "keyPrefix": def.prefix,
        "label": label,
        "labelPlural": plural(&label),
        "layoutable": !plain,
        "mergeable": mergeable,
        "mruEnabled": !plain,
        "name": def.name,
        "queryable": true,
        "replicateable": true,
        "retrieveable": true,
        "searchable": !plain,
        "triggerable": true,
        "undeletable": !user && !follow,
        "updateable": !follow,
        "urls": {
            "sobject": base,
            "describe": format!("{base}/describe"),
            "rowTemplate": format!("{base}/{{ID}}"),
        },
    });
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `GET /services/data/vXX.X/sobjects`: describeGlobal.
pub(crate) async fn describe_global(State(fake): State<SalesforceFake>, Path(version): Path<String>) -> Response {
    let inner = fake.lock();
    let sobjects: Vec<Value> = inner.org.objects.iter().map(|d| Value::Object(summary(d, &version))).collect();
    Json(json!({ "encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects })).into_response()
}

/// `GET /services/data/vXX.X/sobjects/{type}`: basic information. The fake keeps no history of
/// what a user viewed, so `recentItems` is empty.
pub(crate) async fn basic_info(
    State(fake): State<SalesforceFake>,
    Path((version, sobject)): Path<(String, String)>,
) -> Response {
    let inner = fake.lock();
    match inner.org.object(&sobject) {
        Some(def) => Json(json!({ "objectDescribe": summary(def, &version), "recentItems": [] })).into_response(),
        None => not_found(),
    }
}

const AUDIT: [&str; 5] = ["CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"];

/// One field of a describe, from the fake's definition (the length is the one enforced).
fn field_json(def: &ObjectDef, f: &FieldDef) -> Value {
    let name = f.name.as_str();
    let (ty, soap, length) = match &f.ty {
        FieldType::Id => ("id", "tns:ID", 18),
        FieldType::Reference(_) => ("reference", "tns:ID", 18),
        FieldType::Text(n) if *n > 255 || name.ends_with("Street") => ("textarea", "xsd:string", *n),
        FieldType::Text(n) => ("string", "xsd:string", *n),
        FieldType::Email => ("email", "xsd:string", 80),
        FieldType::Phone => ("phone", "xsd:string", 40),
        FieldType::Date => ("date", "xsd:date", 0),
        FieldType::DateTime => ("datetime", "xsd:dateTime", 0),
        FieldType::Bool => ("boolean", "xsd:boolean", 0),
        FieldType::Int => ("int", "xsd:int", 0),
        FieldType::Picklist(_) => ("picklist", "xsd:string", 255),
    };
    let is_bool = f.ty == FieldType::Bool;
    let audit = AUDIT.contains(&name);
    let required = def.required.iter().any(|r| r.eq_ignore_ascii_case(name));
    let owner = name == "OwnerId";
    let compound_name = name == "Name" && !f.createable;
    let nillable = !(is_bool || required || audit || owner || compound_name || name == "Id");
    let username = def.name == "User" && name == "Username";
    let unique = f.external_id || username;
    let long_text = ty == "textarea" && length > 255;
    let reference_to: Vec<&str> = match &f.ty {
        FieldType::Reference(to) => to.clone(),
        _ => Vec::new(),
    };
    let picklist: Vec<Value> = match &f.ty {
        FieldType::Picklist(values) => values
            .iter()
            .map(|v| json!({ "active": true, "defaultValue": false, "label": v, "validFor": null, "value": v }))
            .collect(),
        _ => Vec::new(),
    };
    let restricted = matches!(&f.ty, FieldType::Picklist(v) if !v.is_empty());
    let byte_length = match &f.ty {
        FieldType::Id | FieldType::Reference(_) => 18,
        _ => length * 3,
    };
    json!({
        "aggregatable": !long_text,
        "autoNumber": false,
        "byteLength": byte_length,
        "calculated": false,
        "caseSensitive": false,
        "createable": f.createable,
        "custom": name.ends_with("__c"),
        "defaultValue": null,
        "defaultedOnCreate": is_bool || audit || owner || name == "Id",
        "digits": if f.ty == FieldType::Int { 9 } else { 0 },
        "externalId": f.external_id,
        "filterable": !long_text,
        "groupable": !long_text && !matches!(f.ty, FieldType::DateTime),
        "idLookup": name == "Id" || unique,
        "label": f.label,
        "length": length,
        "name": name,
        "nameField": name == "Name",
        "nillable": nillable,
        "picklistValues": picklist,
        "precision": 0,
        "referenceTo": reference_to,
        "relationshipName": f.relationship,
        "restrictedPicklist": restricted,
        "scale": 0,
        "soapType": soap,
        "sortable": !long_text,
        "type": ty,
        "unique": unique,
        "updateable": f.updateable,
    })
}

/// `GET /services/data/vXX.X/sobjects/{type}/describe`: the object and every field.
pub(crate) async fn describe(
    State(fake): State<SalesforceFake>,
    Path((version, sobject)): Path<(String, String)>,
) -> Response {
    let inner = fake.lock();
    let Some(def) = inner.org.object(&sobject) else { return not_found() };
    let mut body = summary(def, &version);
    let fields: Vec<Value> = def.fields.iter().map(|f| field_json(def, f)).collect();
    body.insert("fields".to_owned(), Value::Array(fields));
    body.insert("childRelationships".to_owned(), Value::Array(Vec::new()));
    body.insert("recordTypeInfos".to_owned(), Value::Array(Vec::new()));
    Json(Value::Object(body)).into_response()
}
