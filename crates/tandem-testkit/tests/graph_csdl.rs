//! Every JSON property the Graph fake sends exists, under that name, on the type the official
//! Graph v1.0 CSDL declares, and every enum value is a member of its enum. Runs when
//! `../shared/specs/graph-v1.0.csdl` (relative to the workspace) is present; says it skipped
//! otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Value, json};
use tandem_testkit::graph::{GraphFake, GraphState};

/// A CSDL type: its base type and its properties' types.
#[derive(Debug, Default)]
struct Type {
    base: Option<String>,
    properties: BTreeMap<String, String>,
}

struct Csdl {
    types: BTreeMap<String, Type>,
    enums: BTreeMap<String, BTreeSet<String>>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_owned())
}

fn strip_namespace(t: &str) -> String {
    t.trim_start_matches("graph.").trim_start_matches("microsoft.graph.").to_owned()
}

/// The `microsoft.graph` schema of the document (other schemas reuse type names).
fn graph_schema(text: &str) -> &str {
    let Some(start) = text.find("<Schema Namespace=\"microsoft.graph\"") else { return text };
    let end = text[start..].find("</Schema>").map_or(text.len(), |e| start + e);
    &text[start..end]
}

/// A small scan of the CSDL XML: `EntityType`, `ComplexType` (with `BaseType`, `Property` and
/// `NavigationProperty`) and `EnumType` members of the `microsoft.graph` schema. Enough for
/// names and types.
fn parse(text: &str) -> Csdl {
    let text = graph_schema(text);
    let mut types = BTreeMap::new();
    let mut enums = BTreeMap::new();
    for kind in ["EntityType", "ComplexType"] {
        let open = format!("<{kind} ");
        let mut rest = text;
        while let Some(at) = rest.find(&open) {
            rest = &rest[at..];
            let tag_end = rest.find('>').unwrap();
            let tag = &rest[..tag_end];
            let name = attr(tag, "Name").unwrap();
            let self_closing = tag.ends_with('/');
            let body_end = if self_closing { tag_end } else { rest.find(&format!("</{kind}>")).unwrap_or(tag_end) };
            let body = &rest[tag_end..body_end];
            let mut ty = Type { base: attr(tag, "BaseType").map(|b| strip_namespace(&b)), ..Type::default() };
            for line in body.split('<').filter(|l| l.starts_with("Property ") || l.starts_with("NavigationProperty ")) {
                if let (Some(n), Some(t)) = (attr(line, "Name"), attr(line, "Type")) {
                    ty.properties.insert(n, t);
                }
            }
            types.insert(name, ty);
            rest = &rest[tag_end..];
        }
    }
    let mut rest = text;
    while let Some(at) = rest.find("<EnumType ") {
        rest = &rest[at..];
        let tag_end = rest.find('>').unwrap();
        let name = attr(&rest[..tag_end], "Name").unwrap();
        let end = rest.find("</EnumType>").unwrap();
        let members: BTreeSet<String> = rest[tag_end..end]
            .split('<')
            .filter(|l| l.starts_with("Member "))
            .filter_map(|l| attr(l, "Name"))
            .collect();
        enums.insert(name, members);
        rest = &rest[end..];
    }
    Csdl { types, enums }
}

impl Csdl {
    /// The type of `property` on `ty` or its base types.
    fn property(&self, ty: &str, property: &str) -> Option<String> {
        let mut current = Some(ty.to_owned());
        while let Some(name) = current {
            let t = self.types.get(&name)?;
            if let Some(p) = t.properties.get(property) {
                return Some(p.clone());
            }
            current = t.base.clone();
        }
        None
    }

    /// Checks `value` against `ty`; returns the problems.
    fn check(&self, ty: &str, value: &Value, path: &str, problems: &mut Vec<String>, checked: &mut BTreeSet<String>) {
        let ty = strip_namespace(ty);
        if let Some(inner) = ty.strip_prefix("Collection(").and_then(|t| t.strip_suffix(')')) {
            if let Value::Array(items) = value {
                for (i, item) in items.iter().enumerate() {
                    self.check(inner, item, &format!("{path}[{i}]"), problems, checked);
                }
            } else if !value.is_null() {
                problems.push(format!("{path}: expected a collection of {inner}"));
            }
            return;
        }
        if ty.starts_with("Edm.") || value.is_null() {
            return;
        }
        if let Some(members) = self.enums.get(&ty) {
            match value.as_str() {
                Some(v) if members.contains(v) => {}
                _ => problems.push(format!("{path}: {value} is not a member of {ty}")),
            }
            return;
        }
        let Value::Object(map) = value else {
            problems.push(format!("{path}: expected an object of type {ty}"));
            return;
        };
        for (key, v) in map {
            if key.starts_with('@') || key.contains("@odata.") {
                continue;
            }
            match self.property(&ty, key) {
                Some(pty) => {
                    checked.insert(format!("{ty}.{key}"));
                    self.check(&pty, v, &format!("{path}.{key}"), problems, checked);
                }
                None => problems.push(format!("{path}: `{key}` is not a property of {ty}")),
            }
        }
    }
}

fn csdl_path() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../../shared/specs/graph-v1.0.csdl"),
        manifest.join("../../shared/specs/graph-v1.0.csdl"),
        PathBuf::from("../shared/specs/graph-v1.0.csdl"),
    ];
    candidates.into_iter().find(|p| p.is_file())
}

async fn token(fake: &GraphFake, http: &reqwest::Client) -> String {
    let v: Value = http
        .post(fake.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "app"),
            ("client_secret", "secret-for-the-csdl-test"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_fakes_json_matches_the_graph_csdl() {
    let Some(path) = csdl_path() else {
        println!(
            "skipped: ../shared/specs/graph-v1.0.csdl is not present; the Graph fake's property names were not checked"
        );
        return;
    };
    let csdl = parse(&std::fs::read_to_string(&path).unwrap());
    assert!(
        csdl.types.contains_key("event") && csdl.types.contains_key("contact"),
        "unexpected CSDL at {}",
        path.display()
    );

    let fake = GraphFake::start().await.unwrap();
    let state: &GraphState = fake.state();
    let mb = "ann@contoso.example";
    state.add_mailbox(mb, "Ann");
    state.register_client_secret("app", "secret-for-the-csdl-test");
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {}", token(&fake, &http).await);
    let prop = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name TandemSyncId";
    let contact = state
        .seed_contact(
            mb,
            Some("Tandem"),
            json!({
                "givenName": "Ada", "middleName": "K", "surname": "Lovelace", "title": "Countess",
                "emailAddresses": [{"address": "ada@example.com", "name": "Ada"}],
                "businessPhones": ["1"], "homePhones": ["2"], "mobilePhone": "3",
                "companyName": "Engines", "jobTitle": "Analyst", "department": "R&D",
                "businessAddress": {"street": "1 St", "city": "London", "state": "LDN", "postalCode": "W1", "countryOrRegion": "UK"},
                "birthday": "1815-12-10T11:59:00Z", "assistantName": "Charles", "personalNotes": "n", "categories": ["Blue"],
                "singleValueExtendedProperties": [{"id": prop, "value": "tdm0"}],
            }),
        )
        .unwrap();
    let d = (chrono::Utc::now() + chrono::Duration::days(7)).date_naive();
    let day = d.format("%Y-%m-%d").to_string();
    let series = state
        .seed_event(
            mb,
            json!({
                "subject": "Series", "body": {"contentType": "text", "content": "b"},
                "start": {"dateTime": format!("{day}T09:00:00"), "timeZone": "Pacific Standard Time"},
                "end": {"dateTime": format!("{day}T10:00:00"), "timeZone": "Pacific Standard Time"},
                "location": {"displayName": "Room"}, "sensitivity": "private", "showAs": "tentative", "categories": ["Red"],
                "attendees": [{"emailAddress": {"address": "bob@example.com", "name": "Bob"}, "type": "resource", "status": {"response": "accepted"}}],
                "recurrence": {"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"], "index": "last", "firstDayOfWeek": "sunday"},
                               "range": {"type": "noEnd", "startDate": day, "recurrenceTimeZone": "Pacific Standard Time"}},
                "singleValueExtendedProperties": [{"id": prop, "value": "tdm1"}],
            }),
        )
        .unwrap();
    let occurrences =
        state.instances(mb, &series, chrono::Utc::now(), chrono::Utc::now() + chrono::Duration::days(120));
    let first = occurrences[0]["id"].as_str().unwrap().to_owned();
    let second = occurrences[1]["id"].as_str().unwrap().to_owned();
    state.edit_event(mb, &first, json!({"subject": "Moved"})).unwrap();
    state.delete_event(mb, &second).unwrap();
    state
        .seed_event(mb, json!({"subject": "All day", "isAllDay": true, "start": {"dateTime": format!("{day}T00:00:00"), "timeZone": "UTC"},
                              "end": {"dateTime": format!("{day}T00:00:00"), "timeZone": "UTC"}}))
        .map(|_| ())
        .unwrap_err();

    let get = |url: String| {
        let http = http.clone();
        let bearer = bearer.clone();
        async move {
            http.get(url)
                .header("Authorization", bearer)
                .header("Prefer", r#"IdType="ImmutableId", odata.maxpagesize=50"#)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let base = format!("{}/users/{mb}", fake.graph_url());
    let expand = "$expand=singleValueExtendedProperties($filter=id%20eq%20'String%20%7B66f5a359-4659-4830-9070-00047ec6ac6e%7D%20Name%20TandemSyncId')";
    let folder = state.contact_folder_id(mb, "Tandem").unwrap();
    let window = format!(
        "startDateTime={}&endDateTime={}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        (chrono::Utc::now() + chrono::Duration::days(120)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let samples: Vec<(&str, Value)> = vec![
        ("user", get(base.clone()).await),
        ("calendar", get(format!("{base}/calendar")).await),
        ("contact", get(format!("{base}/contacts/{contact}?{expand}")).await),
        ("event", get(format!("{base}/events/{series}?$expand=exceptionOccurrences")).await),
        ("event", get(format!("{base}/events/{series}?{expand}")).await),
        ("event", get(format!("{base}/events/{first}")).await),
    ];
    let lists: Vec<(&str, Value)> = vec![
        ("contactFolder", get(format!("{base}/contactFolders")).await),
        ("contact", get(format!("{base}/contactFolders/{folder}/contacts/delta")).await),
        ("event", get(format!("{base}/calendarView/delta?{window}")).await),
        ("event", get(format!("{base}/events/{series}/instances?{window}")).await),
        ("event", get(format!("{base}/events")).await),
    ];
    let mut problems = Vec::new();
    let mut checked = BTreeSet::new();
    for (ty, v) in &samples {
        assert!(v.get("error").is_none(), "{v}");
        csdl.check(ty, v, ty, &mut problems, &mut checked);
    }
    for (ty, v) in &lists {
        let rows = v["value"].as_array().unwrap_or_else(|| panic!("{v}"));
        assert!(!rows.is_empty(), "{ty}: {v}");
        for (i, row) in rows.iter().enumerate() {
            csdl.check(ty, row, &format!("{ty}[{i}]"), &mut problems, &mut checked);
        }
    }
    assert!(problems.is_empty(), "the fake's JSON does not match the CSDL:\n{}", problems.join("\n"));
    for must in [
        "event.recurrence",
        "patternedRecurrence.pattern",
        "recurrencePattern.index",
        "recurrenceRange.recurrenceTimeZone",
        "event.exceptionOccurrences",
        "event.cancelledOccurrences",
        "event.originalStart",
        "attendee.status",
        "contact.businessAddress",
        "physicalAddress.countryOrRegion",
        "singleValueLegacyExtendedProperty.value",
    ] {
        assert!(checked.contains(must), "{must} was not exercised; checked: {checked:?}");
    }
    // What the fake accepts in request bodies is the schema's too.
    for (ty, property) in tandem_testkit::graph::writable_properties() {
        assert!(csdl.property(ty, property).is_some(), "the fake accepts `{property}` on {ty}, which the CSDL lacks");
    }
    println!("checked {} property paths against {}", checked.len(), path.display());
}
