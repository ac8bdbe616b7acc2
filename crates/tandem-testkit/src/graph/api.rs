//! The Graph v1.0 API of the fake: one dispatcher shared by plain requests and `$batch` items.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::data::{ApiError, Data, DeltaPage, DeltaRound, DeltaToken, Reply, Scope, parse_query_time};
use super::query::{self, Entity, Options};
use super::util::{Prefer, present_id, random_token, resolve_tz};

/// One API request, whether it came over HTTP or inside a batch.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: String,
    /// The path after `/v1.0`, starting with `/`.
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) prefer: Prefer,
    pub(crate) if_match: Option<String>,
    pub(crate) bearer: Option<String>,
    pub(crate) body: Option<Value>,
    /// `http://host:port`, for absolute links.
    pub(crate) origin: String,
}

impl Req {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn body_object(&self) -> Result<&Map<String, Value>, ApiError> {
        self.body
            .as_ref()
            .and_then(Value::as_object)
            .ok_or_else(|| ApiError::new(400, "BadRequest", "Empty Payload. JSON content expected."))
    }

    fn link(&self, path: &str, query: &[(&str, &str)]) -> String {
        let q = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
        // Graph keeps `$` unescaped in its links.
        let q = q.replace("%24", "$");
        format!("{}/v1.0{path}?{q}", self.origin)
    }
}

/// Percent-decodes a query string into pairs.
pub(crate) fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// The first single-quoted string after `marker` (case-insensitive); `''` is an escaped quote.
pub(crate) fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let at = lower.find(&marker.to_lowercase())? + marker.len();
    let rest = &text[at..];
    let open = rest.find('\'')?;
    let mut out = String::new();
    let mut chars = rest[open + 1..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Handles one request; returns the route template (for counters) and the reply.
pub(crate) fn dispatch(data: &mut Data, req: &Req) -> (String, Reply) {
    let segments: Vec<String> = req.path.trim_matches('/').split('/').map(percent_decode).collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method.to_ascii_uppercase();
    let template = template_of(&seg);
    let key = format!("{method} {template}");
    if !req.prefer.immutable_id && seg.first() == Some(&"users") {
        data.without_immutable_id += 1;
    }
    let reply = match route(data, req, &method, &seg) {
        Ok(r) => preferences_applied(r, req, &seg),
        Err(e) => Reply::from(e),
    };
    (key, reply)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// The route template of a path, e.g. `/users/{id}/events/{id}`.
pub(crate) fn template_of(seg: &[&str]) -> String {
    let mut out = String::new();
    for (i, s) in seg.iter().enumerate() {
        let variable = match (i, seg.get(i.wrapping_sub(1))) {
            (_, Some(prev)) if ["users", "contactFolders", "contacts", "events"].contains(prev) => {
                !["delta", "contacts"].contains(s)
            }
            _ => false,
        };
        out.push('/');
        out.push_str(if variable { "{id}" } else { s });
    }
    out
}

/// Resolves the mailbox of `/users/{user}` and checks the token may reach it.
fn authorize(data: &mut Data, req: &Req, user: Option<&str>) -> Result<String, ApiError> {
    let token = req
        .bearer
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::new(401, "InvalidAuthenticationToken", "Access token is empty."))?;
    let grant = data
        .access_tokens
        .get(token)
        .cloned()
        .ok_or_else(|| ApiError::new(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed."))?;
    if grant.expires <= std::time::Instant::now() {
        return Err(ApiError::new(
            401,
            "InvalidAuthenticationToken",
            "Lifetime validation failed, the token is expired.",
        ));
    }
    let key = match user {
        Some(u) => data
            .mailbox_key(u)
            .ok_or_else(|| ApiError::new(404, "ErrorInvalidUser", format!("The requested user '{u}' is invalid.")))?,
        None => grant.user.clone().ok_or_else(|| {
            ApiError::new(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        })?,
    };
    let denied = || ApiError::new(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.");
    match &grant.user {
        Some(signed_in) if *signed_in != key => return Err(denied()),
        Some(_) => {}
        None => {
            let scope = data.apps.get(&grant.client_id).and_then(|a| a.scope.clone());
            if scope.is_some_and(|s| !s.contains(&key)) {
                return Err(denied());
            }
        }
    }
    Ok(key)
}

fn user_json(data: &Data, key: &str) -> Result<Value, ApiError> {
    let m = data.mailbox(key)?;
    Ok(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "businessPhones": [],
        "displayName": m.display_name,
        "givenName": Value::Null,
        "jobTitle": Value::Null,
        "mail": m.upn,
        "mobilePhone": Value::Null,
        "officeLocation": Value::Null,
        "preferredLanguage": Value::Null,
        "surname": Value::Null,
        "userPrincipalName": m.upn,
        "id": m.id,
    }))
}

fn method_not_allowed() -> ApiError {
    ApiError::new(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

fn page_size(data: &Data, req: &Req) -> usize {
    let asked = req.prefer.max_page_size.or_else(|| req.param("$top").and_then(|t| t.parse().ok()));
    asked.unwrap_or(data.config.default_page_size).clamp(1, data.config.max_page_size.max(1))
}

/// `@odata.context` for a metadata fragment (`users('…')/contacts`, `Collection(event)`).
fn context(req: &Req, fragment: &str) -> Value {
    json!(format!("{}/v1.0/$metadata#{fragment}", req.origin))
}

/// The `/users/{id}` segment as the request spelled it, for `@odata.context`.
fn user_segment(req: &Req) -> String {
    req.path.trim_matches('/').split('/').nth(1).unwrap_or_default().to_owned()
}

/// A collection page with `@odata.context`, `$select` applied, `@odata.count` when asked and
/// `@odata.nextLink` by `$skip`. `fragment` names the entity set.
fn list_page(data: &Data, req: &Req, items: Vec<Value>, fragment: &str, options: &Options) -> Reply {
    let size = page_size(data, req);
    let skip: usize = req.param("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(skip).take(size).map(|v| query::apply_select(v, options)).collect();
    let mut body = Map::new();
    body.insert("@odata.context".into(), context(req, &format!("{fragment}{}", query::context_suffix(options))));
    if options.count {
        body.insert("@odata.count".into(), json!(total));
    }
    body.insert("value".into(), Value::Array(page));
    if skip + size < total {
        let mut query: Vec<(&str, &str)> =
            req.query.iter().filter(|(k, _)| k != "$skip").map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let next = (skip + size).to_string();
        query.push(("$skip", &next));
        body.insert("@odata.nextLink".into(), json!(req.link(&req.path, &query)));
    }
    Reply::json(200, Value::Object(body))
}

/// The query options of a collection GET.
const LIST_OPTIONS: &[&str] = &["$select", "$filter", "$orderby", "$top", "$skip", "$count", "$expand"];
/// The query options of an item GET.
const ITEM_OPTIONS: &[&str] = &["$select", "$expand"];

/// An item answer with its `@odata.context` and `$select` applied.
fn entity_reply(status: u16, req: &Req, value: Value, fragment: &str, options: &Options) -> Reply {
    let mut value = query::apply_select(value, options);
    if let Value::Object(map) = &mut value {
        let suffix = query::context_suffix(options);
        let fragment =
            if suffix.is_empty() { format!("{fragment}/$entity") } else { format!("{fragment}{suffix}/$entity") };
        map.insert("@odata.context".into(), context(req, &fragment));
    }
    Reply::json(status, value)
}

fn route(data: &mut Data, req: &Req, method: &str, seg: &[&str]) -> Result<Reply, ApiError> {
    match seg {
        ["me"] => {
            let key = authorize(data, req, None)?;
            let options = query::options(req, Entity::User, &["$select"])?;
            Ok(Reply::json(200, query::apply_select(user_json(data, &key)?, &options)))
        }
        ["users", user] => {
            let key = authorize(data, req, Some(user))?;
            match method {
                "GET" => {
                    let options = query::options(req, Entity::User, &["$select"])?;
                    Ok(Reply::json(200, query::apply_select(user_json(data, &key)?, &options)))
                }
                _ => Err(method_not_allowed()),
            }
        }
        ["me", "translateExchangeIds"] => {
            let key = authorize(data, req, None)?;
            if method != "POST" {
                return Err(method_not_allowed());
            }
            super::translate::translate(data, &key, req.body.as_ref())
        }
        ["users", user, "translateExchangeIds"] => {
            let key = authorize(data, req, Some(user))?;
            if method != "POST" {
                return Err(method_not_allowed());
            }
            super::translate::translate(data, &key, req.body.as_ref())
        }
        ["users", user, rest @ ..] => {
            let key = authorize(data, req, Some(user))?;
            mailbox_route(data, req, method, &key, rest)
        }
        _ => Err(ApiError::new(
            400,
            "BadRequest",
            format!("Resource not found for the segment '{}'.", seg.first().copied().unwrap_or_default()),
        )),
    }
}

fn mailbox_route(data: &mut Data, req: &Req, method: &str, mb: &str, rest: &[&str]) -> Result<Reply, ApiError> {
    match (method, rest) {
        ("GET", ["calendar"]) => {
            query::options(req, Entity::ContactFolder, &[])?;
            let m = data.mailbox(mb)?;
            Ok(Reply::json(
                200,
                json!({
                    "id": present_id(&format!("{}CAL{}", super::util::IMMUTABLE_PREFIX, m.id.replace('-', "")), req.prefer.immutable_id),
                    "name": "Calendar",
                    "color": "auto",
                    "hexColor": "",
                    "isDefaultCalendar": true,
                    "changeKey": "calendar",
                    "canShare": true,
                    "canViewPrivateItems": true,
                    "canEdit": true,
                    "allowedOnlineMeetingProviders": ["teamsForBusiness"],
                    "defaultOnlineMeetingProvider": "teamsForBusiness",
                    "isTallyingResponses": true,
                    "isRemovable": false,
                    "owner": {"name": m.display_name, "address": m.upn},
                }),
            ))
        }
        ("GET", ["contactFolders"]) => {
            let options = query::options(
                req,
                Entity::ContactFolder,
                &["$select", "$filter", "$orderby", "$top", "$skip", "$count"],
            )?;
            let m = data.mailbox(mb)?;
            let mut items: Vec<Value> = m
                .folders
                .values()
                .map(|f| {
                    json!({"id": present_id(&f.id, req.prefer.immutable_id), "displayName": f.display_name,
                           "parentFolderId": present_id(&f.parent, req.prefer.immutable_id)})
                })
                .filter(|f| options.filter.as_ref().is_none_or(|x| query::matches(x, f)))
                .collect();
            query::sort(&mut items, &options);
            Ok(list_page(data, req, items, &format!("users('{}')/contactFolders", user_segment(req)), &options))
        }
        ("POST", ["contactFolders"]) => {
            query::options(req, Entity::ContactFolder, &[])?;
            let body = req.body_object()?;
            let name = body.get("displayName").and_then(Value::as_str).unwrap_or_default();
            let f = data.create_folder(mb, name)?;
            Ok(Reply::json(
                201,
                json!({"id": present_id(&f.id, req.prefer.immutable_id), "displayName": f.display_name,
                       "parentFolderId": present_id(&f.parent, req.prefer.immutable_id)}),
            ))
        }
        (_, ["contactFolders", folder, "contacts", "delta"]) => {
            if method != "GET" {
                return Err(method_not_allowed());
            }
            let folder = data.folder_key(mb, folder)?;
            let path = req.path.clone();
            let continuing = req.param("$deltatoken").is_some() || req.param("$skiptoken").is_some();
            let allowed: &[&str] = if continuing {
                &["$deltatoken", "$skiptoken"]
            } else {
                &["$select", "$top", "$deltatoken", "$skiptoken"]
            };
            let options = query::options(req, Entity::Contact, allowed)?;
            delta(data, req, Scope::Contacts { mailbox: mb.to_owned(), folder }, &path, options.select)
        }
        (_, ["contactFolders", folder_segment, "contacts"]) => {
            let folder = data.folder_key(mb, folder_segment)?;
            let fragment = format!("users('{}')/contactFolders('{folder_segment}')/contacts", user_segment(req));
            contacts_collection(data, req, method, mb, &folder, &fragment)
        }
        (_, ["contactFolders", folder, "contacts", id]) => {
            let folder = data.folder_key(mb, folder)?;
            if data.contact(mb, id)?.folder != folder {
                return Err(ApiError::not_found());
            }
            contact_item(data, req, method, mb, id)
        }
        (_, ["contacts"]) => {
            let folder = data.mailbox(mb)?.default_folder.clone();
            let fragment = format!("users('{}')/contacts", user_segment(req));
            contacts_collection(data, req, method, mb, &folder, &fragment)
        }
        (_, ["contacts", id]) => contact_item(data, req, method, mb, id),
        ("GET", ["events"]) => {
            let options = query::options(req, Entity::Event, LIST_OPTIONS)?;
            let m = data.mailbox(mb)?;
            let mut items = Vec::new();
            for e in m.events.values().filter(|e| e.deleted_seq.is_none()) {
                if let Some(filter) = &options.filter
                    && !query::matches(filter, &data.render_event(m, e, &req.prefer, false, Some("")))
                {
                    continue;
                }
                items.push(data.render_event(
                    m,
                    e,
                    &req.prefer,
                    options.expand_exceptions,
                    options.expand_ext.as_deref(),
                ));
            }
            query::sort(&mut items, &options);
            Ok(list_page(data, req, items, &format!("users('{}')/events", user_segment(req)), &options))
        }
        ("POST", ["events"]) => {
            query::options(req, Entity::Event, &[])?;
            let body = req.body_object()?.clone();
            let (id, existed) = data.create_event(mb, &body)?;
            let m = data.mailbox(mb)?;
            let e = data.event(mb, &id)?;
            let rendered = data.render_event(m, e, &req.prefer, false, None);
            let location = req.link(&format!("/users/{mb}/events/{}", present_id(&id, req.prefer.immutable_id)), &[]);
            let _ = existed;
            let fragment = format!("users('{}')/events", user_segment(req));
            Ok(entity_reply(201, req, rendered, &fragment, &Options::default())
                .header("Location", location.trim_end_matches('?')))
        }
        (_, ["events", id]) => event_item(data, req, method, mb, id),
        ("GET", ["events", id, "instances"]) => {
            let (Some(from), Some(to)) = (
                req.param("startDateTime").and_then(parse_query_time),
                req.param("endDateTime").and_then(parse_query_time),
            ) else {
                return Err(ApiError::new(
                    400,
                    "ErrorInvalidParameter",
                    "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
                ));
            };
            let options =
                query::options(req, Entity::Event, &["$select", "$filter", "$orderby", "$top", "$skip", "$count"])?;
            let (master, date) = data.resolve_event(mb, id)?;
            if date.is_some() {
                return Err(ApiError::new(400, "ErrorInvalidRequest", "The event is not a series master."));
            }
            let m = data.mailbox(mb)?;
            let e = data.event(mb, &master)?;
            let mut items: Vec<Value> = e
                .instances(from, to)
                .iter()
                .filter_map(|i| i.date.and_then(|d| data.render_instance(m, e, d, &req.prefer, false)))
                .filter(|v| options.filter.as_ref().is_none_or(|x| query::matches(x, v)))
                .collect();
            query::sort(&mut items, &options);
            let fragment = format!("users('{}')/events('{id}')/instances", user_segment(req));
            Ok(list_page(data, req, items, &fragment, &options))
        }
        ("GET", ["calendarView", "delta"]) => {
            let path = req.path.clone();
            let (start, end) = (
                req.param("startDateTime").and_then(parse_query_time),
                req.param("endDateTime").and_then(parse_query_time),
            );
            let continuing = req.param("$deltatoken").is_some() || req.param("$skiptoken").is_some();
            // `$select`, `$expand`, `$filter`, `$orderby` and `$search` are not supported on
            // calendarView delta (event-delta.md).
            query::options(req, Entity::Event, &["$top", "$deltatoken", "$skiptoken"])?;
            let scope = match (start, end) {
                (Some(start), Some(end)) => Scope::Calendar { mailbox: mb.to_owned(), start, end },
                _ if continuing => Scope::Calendar {
                    mailbox: mb.to_owned(),
                    start: chrono::DateTime::UNIX_EPOCH,
                    end: chrono::DateTime::UNIX_EPOCH,
                },
                _ => {
                    return Err(ApiError::new(
                        400,
                        "ErrorInvalidParameter",
                        "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
                    ));
                }
            };
            delta(data, req, scope, &path, None)
        }
        ("GET", ["calendarView"]) => {
            let options =
                query::options(req, Entity::Event, &["$select", "$filter", "$orderby", "$top", "$skip", "$count"])?;
            let (Some(from), Some(to)) = (
                req.param("startDateTime").and_then(parse_query_time),
                req.param("endDateTime").and_then(parse_query_time),
            ) else {
                return Err(ApiError::new(400, "ErrorInvalidParameter", "StartDateTime and EndDateTime are required."));
            };
            let m = data.mailbox(mb)?;
            let mut items = Vec::new();
            for e in m.events.values().filter(|e| e.deleted_seq.is_none()) {
                for i in e.instances(from, to) {
                    match i.date {
                        Some(d) => items.extend(data.render_instance(m, e, d, &req.prefer, false)),
                        None => items.push(data.render_event(m, e, &req.prefer, false, None)),
                    }
                }
            }
            items.retain(|v| options.filter.as_ref().is_none_or(|x| query::matches(x, v)));
            query::sort(&mut items, &options);
            Ok(list_page(data, req, items, &format!("users('{}')/calendarView", user_segment(req)), &options))
        }
        _ => Err(ApiError::new(400, "BadRequest", format!("Unsupported request: {method} {}", req.path))),
    }
}

fn contacts_collection(
    data: &mut Data,
    req: &Req,
    method: &str,
    mb: &str,
    folder: &str,
    fragment: &str,
) -> Result<Reply, ApiError> {
    match method {
        "GET" => {
            let options = query::options(req, Entity::Contact, LIST_OPTIONS)?;
            let m = data.mailbox(mb)?;
            let mut items = Vec::new();
            for c in m.contacts.values().filter(|c| c.deleted_seq.is_none() && c.folder == folder) {
                if let Some(filter) = &options.filter
                    && !query::matches(filter, &data.render_contact(c, &req.prefer, Some("")))
                {
                    continue;
                }
                items.push(data.render_contact(c, &req.prefer, options.expand_ext.as_deref()));
            }
            query::sort(&mut items, &options);
            Ok(list_page(data, req, items, fragment, &options))
        }
        "POST" => {
            query::options(req, Entity::Contact, &[])?;
            let body = req.body_object()?.clone();
            let id = data.create_contact(mb, folder, &body)?;
            let c = data.contact(mb, &id)?;
            let value = data.render_contact(c, &req.prefer, None);
            Ok(entity_reply(201, req, value, fragment, &Options::default()))
        }
        _ => Err(method_not_allowed()),
    }
}

fn contact_item(data: &mut Data, req: &Req, method: &str, mb: &str, id: &str) -> Result<Reply, ApiError> {
    let fragment = format!("users('{}')/contacts", user_segment(req));
    match method {
        "GET" => {
            let options = query::options(req, Entity::Contact, ITEM_OPTIONS)?;
            let c = data.contact(mb, id)?;
            let value = data.render_contact(c, &req.prefer, options.expand_ext.as_deref());
            Ok(entity_reply(200, req, value, &fragment, &options))
        }
        "PATCH" => {
            query::options(req, Entity::Contact, &[])?;
            let body = req.body_object()?.clone();
            let id = data.update_contact(mb, id, &body, req.if_match.as_deref())?;
            let c = data.contact(mb, &id)?;
            let value = data.render_contact(c, &req.prefer, None);
            Ok(entity_reply(200, req, value, &fragment, &Options::default()))
        }
        "DELETE" => {
            query::options(req, Entity::Contact, &[])?;
            data.delete_contact(mb, id, req.if_match.as_deref())?;
            Ok(Reply::empty(204))
        }
        _ => Err(method_not_allowed()),
    }
}

fn event_item(data: &mut Data, req: &Req, method: &str, mb: &str, id: &str) -> Result<Reply, ApiError> {
    let fragment = format!("users('{}')/events", user_segment(req));
    match method {
        "GET" => {
            let options = query::options(req, Entity::Event, ITEM_OPTIONS)?;
            let (master, date) = data.resolve_event(mb, id)?;
            let m = data.mailbox(mb)?;
            let e = data.event(mb, &master)?;
            let body = match date {
                Some(d) => data.render_instance(m, e, d, &req.prefer, false).ok_or_else(ApiError::not_found)?,
                None => data.render_event(m, e, &req.prefer, options.expand_exceptions, options.expand_ext.as_deref()),
            };
            Ok(entity_reply(200, req, body, &fragment, &options))
        }
        "PATCH" => {
            query::options(req, Entity::Event, &[])?;
            let body = req.body_object()?.clone();
            let new_id = data.update_event(mb, id, &body, req.if_match.as_deref())?;
            let (master, date) = data.resolve_event(mb, &new_id)?;
            let m = data.mailbox(mb)?;
            let e = data.event(mb, &master)?;
            let body = match date {
                Some(d) => data.render_instance(m, e, d, &req.prefer, false).ok_or_else(ApiError::not_found)?,
                None => data.render_event(m, e, &req.prefer, false, None),
            };
            Ok(entity_reply(200, req, body, &fragment, &Options::default()))
        }
        "DELETE" => {
            query::options(req, Entity::Event, &[])?;
            data.delete_event(mb, id, req.if_match.as_deref())?;
            Ok(Reply::empty(204))
        }
        _ => Err(method_not_allowed()),
    }
}

/// A delta query: the first page of a round, a page by `$skiptoken` (the same page each time it
/// is fetched), or a new round by `$deltatoken` (usable until the expiry of every token; the
/// pages of the round that issued it are dropped once it is used).
fn delta(data: &mut Data, req: &Req, scope: Scope, path: &str, select: Option<Vec<String>>) -> Result<Reply, ApiError> {
    let initial_query: Vec<(String, String)> = match &scope {
        Scope::Calendar { start, end, .. } if *start != chrono::DateTime::UNIX_EPOCH => vec![
            ("startDateTime".into(), super::util::format_instant(*start)),
            ("endDateTime".into(), super::util::format_instant(*end)),
        ],
        _ => Vec::new(),
    };
    let expired_location = {
        let mut q: Vec<(&str, &str)> = initial_query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        q.push(("$deltatoken", ""));
        req.link(path, &q)
    };
    let generation = data.generation;
    let (page_token, mut page) = if let Some(token) = req.param("$skiptoken") {
        match data.delta_pages.get(token) {
            Some(p) if p.round.generation == generation && p.round.scope.mailbox() == scope.mailbox() => {
                (Some(token.to_owned()), p.clone())
            }
            _ => return Ok(data.expired_reply(expired_location)),
        }
    } else {
        let (scope, since, select) = if let Some(token) = req.param("$deltatoken") {
            let t = match data.delta_tokens.get(token) {
                Some(t) if t.generation == generation && t.scope.mailbox() == scope.mailbox() => t.clone(),
                _ => return Ok(data.expired_reply(expired_location)),
            };
            // The round that issued this token is over: its pages are superseded.
            data.delta_pages.retain(|_, p| p.round.id != t.round);
            (t.scope, Some(t.seq), t.select)
        } else {
            (scope, None, select)
        };
        let rows = data.delta_rows(&scope, since, &req.prefer);
        data.delta_rounds += 1;
        let round = DeltaRound { id: data.delta_rounds, scope, rows, next_seq: data.seq, generation, select };
        (None, DeltaPage { round: Arc::new(round), offset: 0, page_size: page_size(data, req), next: None })
    };
    if page.next.is_none() && req.prefer.max_page_size.is_some() {
        page.page_size = page_size(data, req);
    }
    let round = Arc::clone(&page.round);
    let options = Options { select: round.select.clone(), ..Options::default() };
    let rows: Vec<Value> = round
        .rows
        .iter()
        .skip(page.offset)
        .take(page.page_size)
        .map(|r| if r.get("@removed").is_some() { r.clone() } else { query::apply_select(r.clone(), &options) })
        .collect();
    let end = page.offset.saturating_add(page.page_size);
    let (kind, link) = match &page.next {
        Some(next) => next.clone(),
        None if end >= round.rows.len() => {
            let token = random_token(48);
            data.delta_tokens.insert(
                token.clone(),
                DeltaToken {
                    scope: round.scope.clone(),
                    seq: round.next_seq,
                    generation: round.generation,
                    round: round.id,
                    select: round.select.clone(),
                },
            );
            ("@odata.deltaLink", req.link(path, &[("$deltatoken", &token)]))
        }
        None => {
            let token = random_token(48);
            let next = DeltaPage { round: Arc::clone(&round), offset: end, page_size: page.page_size, next: None };
            data.delta_pages.insert(token.clone(), next);
            ("@odata.nextLink", req.link(path, &[("$skiptoken", &token)]))
        }
    };
    // Remember the answer, so that fetching this page again gives the same rows and link.
    if let Some(token) = &page_token
        && let Some(p) = data.delta_pages.get_mut(token)
    {
        p.page_size = page.page_size;
        p.next = Some((kind, link.clone()));
    }
    let entity = match round.scope {
        Scope::Contacts { .. } => "contact",
        Scope::Calendar { .. } => "event",
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), context(req, &format!("Collection({entity})")));
    body.insert(kind.into(), json!(link));
    body.insert("value".into(), Value::Array(rows));
    let mut reply = Reply::json(200, Value::Object(body));
    if let Some(n) = req.prefer.max_page_size {
        reply = reply.header("Preference-Applied", format!("odata.maxpagesize={}", n.min(data.config.max_page_size)));
    }
    Ok(reply)
}

/// Whether the reply renders events whose times follow `Prefer: outlook.timezone`.
fn renders_event_times(seg: &[&str]) -> bool {
    seg.iter().any(|s| *s == "events" || *s == "calendarView")
}

/// Adds `Preference-Applied` for the preferences the reply honoured (`outlook.timezone`,
/// `outlook.body-content-type` on event answers), to any one already there.
fn preferences_applied(mut reply: Reply, req: &Req, seg: &[&str]) -> Reply {
    if reply.status >= 400 || !renders_event_times(seg) {
        return reply;
    }
    let mut applied: Vec<String> = Vec::new();
    if let Some(zone) = req.prefer.timezone.as_deref()
        && resolve_tz(zone).is_some()
    {
        applied.push(format!("outlook.timezone=\"{zone}\""));
    }
    if req.prefer.text_body {
        applied.push("outlook.body-content-type=\"text\"".to_owned());
    }
    if applied.is_empty() {
        return reply;
    }
    match reply.headers.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case("Preference-Applied")) {
        Some((_, v)) => {
            for a in applied {
                v.push_str(", ");
                v.push_str(&a);
            }
        }
        None => reply = reply.header("Preference-Applied", applied.join(", ")),
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(template_of(&["users", "a@b", "events", "X", "instances"]), "/users/{id}/events/{id}/instances");
        assert_eq!(
            template_of(&["users", "a", "contactFolders", "F", "contacts", "delta"]),
            "/users/{id}/contactFolders/{id}/contacts/delta"
        );
        assert_eq!(template_of(&["users", "a", "calendarView", "delta"]), "/users/{id}/calendarView/delta");
    }

    #[test]
    fn quoted() {
        let f = "singleValueExtendedProperties/Any(ep: ep/id eq 'String {x} Name A' and ep/value eq 'it''s')";
        assert_eq!(quoted_after(f, "/id eq").as_deref(), Some("String {x} Name A"));
        assert_eq!(quoted_after(f, "/value eq").as_deref(), Some("it's"));
    }
}
