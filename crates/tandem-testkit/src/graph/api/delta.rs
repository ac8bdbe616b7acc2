//! Delta queries: rounds, pages by `$skiptoken`, new rounds by `$deltatoken`, expiry.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::graph::data::{ApiError, Data, DeltaPage, DeltaRound, DeltaToken, Reply, Scope};
use crate::graph::query::{self, Options};
use crate::graph::util::random_token;

use super::replies::{context, page_size};
use super::request::Req;

/// A delta query: the first page of a round, a page by `$skiptoken` (the same page each time it
/// is fetched), or a new round by `$deltatoken` (usable until the expiry of every token; the
/// pages of the round that issued it are dropped once it is used).
pub(super) fn delta(
    data: &mut Data,
    req: &Req,
    scope: Scope,
    path: &str,
    select: Option<Vec<String>>,
) -> Result<Reply, ApiError> {
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
        let rows = data.delta_rows(&scope, since);
        data.delta_rounds += 1;
        let prefer = req.prefer.clone();
        let round = DeltaRound { id: data.delta_rounds, scope, rows, prefer, next_seq: data.seq, generation, select };
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
        .map(|r| {
            let row = data.render_row(round.scope.mailbox(), r, &round.prefer);
            if row.get("@removed").is_some() { row } else { query::apply_select(row, &options) }
        })
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
