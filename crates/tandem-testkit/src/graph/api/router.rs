//! The dispatcher: route templates, the top-level routes (`/me`, `/users/{id}`,
//! `translateExchangeIds`) and `Preference-Applied`.

use crate::graph::data::{ApiError, Data, Reply};
use crate::graph::query::{self, Entity};
use crate::graph::util::resolve_tz;

use super::mailbox::mailbox_route;
use super::replies::method_not_allowed;
use super::request::Req;
use super::users::{authorize, user_json};

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
