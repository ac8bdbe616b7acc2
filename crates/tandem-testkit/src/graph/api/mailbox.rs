//! The routes under `/users/{id}/`: the calendar, contact folders, contacts, events, instances,
//! calendar view and the delta queries.

use serde_json::{Value, json};

use crate::graph::data::{ApiError, Data, Reply, Scope, parse_query_time};
use crate::graph::query::{self, Entity, Options};
use crate::graph::util::present_id;

use super::delta::delta;
use super::items::{contact_item, contacts_collection, event_item};
use super::replies::{LIST_OPTIONS, entity_reply, list_page, method_not_allowed, user_segment};
use super::request::Req;

pub(super) fn mailbox_route(
    data: &mut Data,
    req: &Req,
    method: &str,
    mb: &str,
    rest: &[&str],
) -> Result<Reply, ApiError> {
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
