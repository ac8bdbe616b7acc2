//! Contact collections (`GET`, `POST`) and single contacts and events (`GET`, `PATCH`,
//! `DELETE`).

use crate::graph::data::{ApiError, Data, Reply};
use crate::graph::query::{self, Entity, Options};

use super::replies::{ITEM_OPTIONS, LIST_OPTIONS, entity_reply, list_page, method_not_allowed, user_segment};
use super::request::Req;

pub(super) fn contacts_collection(
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

pub(super) fn contact_item(data: &mut Data, req: &Req, method: &str, mb: &str, id: &str) -> Result<Reply, ApiError> {
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

pub(super) fn event_item(data: &mut Data, req: &Req, method: &str, mb: &str, id: &str) -> Result<Reply, ApiError> {
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
