//! The Graph v1.0 API of the fake: one dispatcher shared by plain requests and `$batch` items.

use std::collections::VecDeque;

use serde_json::{Map, Value, json};

use super::data::{ApiError, Data, DeltaPage, DeltaToken, Reply, Scope, parse_query_time};
use super::util::{Prefer, present_id, random_token};

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
        Ok(r) => r,
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

/// A collection page with `@odata.nextLink` by `$skip`.
fn list_page(data: &Data, req: &Req, items: Vec<Value>) -> Reply {
    let size = page_size(data, req);
    let skip: usize = req.param("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(skip).take(size).collect();
    let mut body = Map::new();
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

fn ext_filter_matches(filter: &str, ext: &std::collections::BTreeMap<String, String>) -> bool {
    let id = quoted_after(filter, "/id eq");
    let value = quoted_after(filter, "/value eq");
    ext.iter().any(|(k, v)| {
        id.as_deref().is_none_or(|i| i.eq_ignore_ascii_case(k)) && value.as_deref().is_none_or(|x| x == v)
    })
}

fn route(data: &mut Data, req: &Req, method: &str, seg: &[&str]) -> Result<Reply, ApiError> {
    match seg {
        ["me"] => {
            let key = authorize(data, req, None)?;
            Ok(Reply::json(200, user_json(data, &key)?))
        }
        ["users", user] => {
            let key = authorize(data, req, Some(user))?;
            match method {
                "GET" => Ok(Reply::json(200, user_json(data, &key)?)),
                _ => Err(method_not_allowed()),
            }
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
            let wanted = req.param("$filter").and_then(|f| quoted_after(f, "displayName eq"));
            let m = data.mailbox(mb)?;
            let items: Vec<Value> = m
                .folders
                .values()
                .filter(|f| wanted.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(&f.display_name)))
                .map(|f| {
                    json!({"id": present_id(&f.id, req.prefer.immutable_id), "displayName": f.display_name,
                           "parentFolderId": present_id(&f.parent, req.prefer.immutable_id)})
                })
                .collect();
            Ok(list_page(data, req, items))
        }
        ("POST", ["contactFolders"]) => {
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
            delta(data, req, Scope::Contacts { mailbox: mb.to_owned(), folder }, &path)
        }
        (_, ["contactFolders", folder, "contacts"]) => {
            let folder = data.folder_key(mb, folder)?;
            contacts_collection(data, req, method, mb, &folder)
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
            contacts_collection(data, req, method, mb, &folder)
        }
        (_, ["contacts", id]) => contact_item(data, req, method, mb, id),
        ("GET", ["events"]) => {
            let filter = req.param("$filter").map(str::to_owned);
            let expand = req.param("$expand").map(str::to_owned);
            let m = data.mailbox(mb)?;
            let tx = filter.as_deref().and_then(|f| quoted_after(f, "transactionId eq"));
            let items: Vec<Value> = m
                .events
                .values()
                .filter(|e| e.deleted_seq.is_none())
                .filter(|e| match filter.as_deref() {
                    Some(f) if f.contains("singleValueExtendedProperties") => ext_filter_matches(f, &e.ext),
                    Some(_) if tx.is_some() => e.transaction_id == tx,
                    _ => true,
                })
                .map(|e| data.render_event(m, e, &req.prefer, false, ext_expand(expand.as_deref())))
                .collect();
            Ok(list_page(data, req, items))
        }
        ("POST", ["events"]) => {
            let body = req.body_object()?.clone();
            let (id, existed) = data.create_event(mb, &body)?;
            let m = data.mailbox(mb)?;
            let e = data.event(mb, &id)?;
            let rendered = data.render_event(m, e, &req.prefer, false, None);
            let location = req.link(&format!("/users/{mb}/events/{}", present_id(&id, req.prefer.immutable_id)), &[]);
            let _ = existed;
            Ok(Reply::json(201, rendered).header("Location", location.trim_end_matches('?')))
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
            let (master, date) = data.resolve_event(mb, id)?;
            if date.is_some() {
                return Err(ApiError::new(400, "ErrorInvalidRequest", "The event is not a series master."));
            }
            let m = data.mailbox(mb)?;
            let e = data.event(mb, &master)?;
            let items: Vec<Value> = e
                .instances(from, to)
                .iter()
                .filter_map(|i| i.date.and_then(|d| data.render_instance(m, e, d, &req.prefer, false)))
                .collect();
            Ok(list_page(data, req, items))
        }
        ("GET", ["calendarView", "delta"]) => {
            let path = req.path.clone();
            let (start, end) = (
                req.param("startDateTime").and_then(parse_query_time),
                req.param("endDateTime").and_then(parse_query_time),
            );
            let continuing = req.param("$deltatoken").is_some() || req.param("$skiptoken").is_some();
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
            delta(data, req, scope, &path)
        }
        ("GET", ["calendarView"]) => {
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
            Ok(list_page(data, req, items))
        }
        _ => Err(ApiError::new(400, "BadRequest", format!("Unsupported request: {method} {}", req.path))),
    }
}

fn ext_expand(expand: Option<&str>) -> Option<&str> {
    expand.filter(|e| e.contains("singleValueExtendedProperties"))
}

fn contacts_collection(data: &mut Data, req: &Req, method: &str, mb: &str, folder: &str) -> Result<Reply, ApiError> {
    match method {
        "GET" => {
            let filter = req.param("$filter").map(str::to_owned);
            let expand = req.param("$expand").map(str::to_owned);
            let m = data.mailbox(mb)?;
            let items: Vec<Value> = m
                .contacts
                .values()
                .filter(|c| c.deleted_seq.is_none() && c.folder == folder)
                .filter(|c| filter.as_deref().is_none_or(|f| ext_filter_matches(f, &c.ext)))
                .map(|c| data.render_contact(c, &req.prefer, ext_expand(expand.as_deref())))
                .collect();
            Ok(list_page(data, req, items))
        }
        "POST" => {
            let body = req.body_object()?.clone();
            let id = data.create_contact(mb, folder, &body)?;
            let c = data.contact(mb, &id)?;
            Ok(Reply::json(201, data.render_contact(c, &req.prefer, None)))
        }
        _ => Err(method_not_allowed()),
    }
}

fn contact_item(data: &mut Data, req: &Req, method: &str, mb: &str, id: &str) -> Result<Reply, ApiError> {
    match method {
        "GET" => {
            let c = data.contact(mb, id)?;
            Ok(Reply::json(200, data.render_contact(c, &req.prefer, ext_expand(req.param("$expand")))))
        }
        "PATCH" => {
            let body = req.body_object()?.clone();
            let id = data.update_contact(mb, id, &body, req.if_match.as_deref())?;
            let c = data.contact(mb, &id)?;
            Ok(Reply::json(200, data.render_contact(c, &req.prefer, None)))
        }
        "DELETE" => {
            data.delete_contact(mb, id, req.if_match.as_deref())?;
            Ok(Reply::empty(204))
        }
        _ => Err(method_not_allowed()),
    }
}

fn event_item(data: &mut Data, req: &Req, method: &str, mb: &str, id: &str) -> Result<Reply, ApiError> {
    match method {
        "GET" => {
            let (master, date) = data.resolve_event(mb, id)?;
            let m = data.mailbox(mb)?;
            let e = data.event(mb, &master)?;
            let expand = req.param("$expand").unwrap_or_default();
            let body = match date {
                Some(d) => data.render_instance(m, e, d, &req.prefer, false).ok_or_else(ApiError::not_found)?,
                None => data.render_event(
                    m,
                    e,
                    &req.prefer,
                    expand.contains("exceptionOccurrences"),
                    ext_expand(Some(expand)),
                ),
            };
            Ok(Reply::json(200, body))
        }
        "PATCH" => {
            let body = req.body_object()?.clone();
            let new_id = data.update_event(mb, id, &body, req.if_match.as_deref())?;
            let (master, date) = data.resolve_event(mb, &new_id)?;
            let m = data.mailbox(mb)?;
            let e = data.event(mb, &master)?;
            let body = match date {
                Some(d) => data.render_instance(m, e, d, &req.prefer, false).ok_or_else(ApiError::not_found)?,
                None => data.render_event(m, e, &req.prefer, false, None),
            };
            Ok(Reply::json(200, body))
        }
        "DELETE" => {
            data.delete_event(mb, id, req.if_match.as_deref())?;
            Ok(Reply::empty(204))
        }
        _ => Err(method_not_allowed()),
    }
}

/// A delta query: the first page of a round, or the next page by `$skiptoken`, or a new round
/// by `$deltatoken`.
fn delta(data: &mut Data, req: &Req, scope: Scope, path: &str) -> Result<Reply, ApiError> {
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
    let mut page = if let Some(token) = req.param("$skiptoken") {
        match data.delta_pages.remove(token) {
            Some(p) if p.generation == generation && p.scope.mailbox() == scope.mailbox() => p,
            _ => return Ok(data.expired_reply(expired_location)),
        }
    } else if let Some(token) = req.param("$deltatoken") {
        let t = match data.delta_tokens.get(token) {
            Some(t) if t.generation == generation && t.scope.mailbox() == scope.mailbox() => t.clone(),
            _ => return Ok(data.expired_reply(expired_location)),
        };
        let rows = data.delta_rows(&t.scope, Some(t.seq), &req.prefer);
        DeltaPage { scope: t.scope, rows: rows.into(), next_seq: data.seq, page_size: page_size(data, req), generation }
    } else {
        let rows = data.delta_rows(&scope, None, &req.prefer);
        DeltaPage { scope, rows: rows.into(), next_seq: data.seq, page_size: page_size(data, req), generation }
    };
    if req.prefer.max_page_size.is_some() {
        page.page_size = page_size(data, req);
    }
    let take = page.page_size.min(page.rows.len());
    let rows: VecDeque<Value> = page.rows.drain(..take).collect();
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!("https://graph.microsoft.com/v1.0/$metadata#Collection(event)"));
    let link_path = path.to_owned();
    if page.rows.is_empty() {
        let token = random_token(48);
        data.delta_tokens.insert(
            token.clone(),
            DeltaToken { scope: page.scope.clone(), seq: page.next_seq, generation: page.generation },
        );
        body.insert("@odata.deltaLink".into(), json!(req.link(&link_path, &[("$deltatoken", &token)])));
    } else {
        let token = random_token(48);
        data.delta_pages.insert(token.clone(), page);
        body.insert("@odata.nextLink".into(), json!(req.link(&link_path, &[("$skiptoken", &token)])));
    }
    body.insert("value".into(), Value::Array(rows.into_iter().collect()));
    let mut reply = Reply::json(200, Value::Object(body));
    if let Some(n) = req.prefer.max_page_size {
        reply = reply.header("Preference-Applied", format!("odata.maxpagesize={}", n.min(data.config.max_page_size)));
    }
    Ok(reply)
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
