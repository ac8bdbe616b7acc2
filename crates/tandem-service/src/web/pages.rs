//! The pages (GET handlers): the system page, the users table, one user's page and the reset
//! confirmation. Each reads the engine's admin API and [`crate::live::Live`], turns what it reads
//! into plain strings for its template (dates in UTC), and renders it. Nothing here writes.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tandem_engine::{CycleRecord, UserOverview};
use tandem_store::{QuarantineEntry, UserStatus};

use super::auth::{Admin, Flash};
use super::{WebError, WebState, path_segment};

/// Cycles shown on a user's page (one per object per sync).
const CYCLES_SHOWN: usize = 20;

/// What every page's frame shows: the CSRF token of its forms and the flash message.
pub(crate) struct Layout {
    pub(crate) csrf: String,
    pub(crate) flash: Option<Flash>,
}

impl Layout {
    fn of(state: &WebState, admin: &Admin) -> Layout {
        Layout { csrf: admin.csrf.clone(), flash: state.auth().take_flash(admin) }
    }
}

fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

fn time(at: DateTime<Utc>) -> String {
    when(Some(at))
}

/// A user's result, in one word: `failing`, `never synced` or `ok`.
fn result_of(o: &UserOverview) -> &'static str {
    if o.status.consecutive_failures > 0 || o.last_cycle_ok == Some(false) {
        "failing"
    } else if o.status.last_cycle_at.is_none() && o.last_cycle.is_none() {
        "never synced"
    } else {
        "ok"
    }
}

/// Every user the store knows, plus the file's users never synced; and whether the file
/// assigns each.
async fn overview(state: &WebState) -> Result<Vec<(UserOverview, bool)>, WebError> {
    let mut rows: BTreeMap<String, (UserOverview, bool)> = BTreeMap::new();
    for o in state.engine().user_overview().await? {
        let configured = state.config().user(&o.status.user).is_some();
        rows.insert(o.status.user.to_lowercase(), (o, configured));
    }
    for u in &state.config().users {
        rows.entry(u.user.to_lowercase())
            .or_insert_with(|| (UserOverview::new(UserStatus::empty(u.user.clone()), 0, 0, 0), true));
    }
    Ok(rows.into_values().collect())
}

/// The schedule as one phrase: running since, or next cycle at.
fn schedule_of(state: &WebState, user: &str) -> String {
    match state.live().user(user) {
        Some(live) if live.running_since.is_some() => format!("running since {}", when(live.running_since)),
        Some(live) if live.next_cycle_at.is_some() => when(live.next_cycle_at),
        _ => "not scheduled".to_owned(),
    }
}

/// One connection on the system page (no setting, no secret: what the connector declares).
pub(crate) struct ConnectionView {
    pub(crate) name: String,
    pub(crate) provider: String,
    pub(crate) method: String,
    pub(crate) scopes: String,
    pub(crate) endpoints: Vec<String>,
    pub(crate) users: usize,
    pub(crate) last_ok: String,
    pub(crate) last_error: Option<String>,
}

/// `/`.
#[derive(Template)]
#[template(path = "system.html")]
pub(crate) struct SystemPage {
    layout: Layout,
    started: String,
    config_path: String,
    store_path: String,
    connections: Vec<ConnectionView>,
    users: usize,
    ok: usize,
    failing: usize,
    never: usize,
    held: usize,
    quarantined: usize,
    unresolved: usize,
}

/// `GET /`: the service, its connections, and users counted by result.
pub(crate) async fn system(State(state): State<WebState>, admin: Admin) -> Result<Response, WebError> {
    let rows = overview(&state).await?;
    let count = |f: &dyn Fn(&UserOverview) -> bool| rows.iter().filter(|(o, _)| f(o)).count();
    let connections = state
        .live()
        .connections()
        .into_iter()
        .map(|c| ConnectionView {
            name: c.name,
            provider: c.provider,
            method: c.method,
            scopes: if c.scopes.is_empty() { "none".to_owned() } else { c.scopes.join(" ") },
            endpoints: c.endpoints,
            users: c.users,
            last_ok: when(c.last_ok),
            last_error: c.last_error.map(|(at, message)| format!("{}: {message}", time(at))),
        })
        .collect();
    let page = SystemPage {
        layout: Layout::of(&state, &admin),
        started: when(state.live().started_at()),
        config_path: state.config().path.display().to_string(),
        store_path: state.config().store.to_string(),
        connections,
        users: rows.len(),
        ok: count(&|o| result_of(o) == "ok"),
        failing: count(&|o| result_of(o) == "failing"),
        never: count(&|o| result_of(o) == "never synced"),
        held: count(&|o| o.held_deletes > 0),
        quarantined: count(&|o| o.quarantined > 0),
        unresolved: count(&|o| o.unresolved > 0),
    };
    Ok(Html(page.render()?).into_response())
}

/// One row of the users table.
pub(crate) struct UserRow {
    pub(crate) user: String,
    pub(crate) href: String,
    pub(crate) configured: bool,
    pub(crate) last_cycle: String,
    pub(crate) result: &'static str,
    pub(crate) creates: String,
    pub(crate) updates: String,
    pub(crate) deletes: String,
    pub(crate) conflicts: String,
    pub(crate) failed: String,
    pub(crate) error: String,
    pub(crate) failures: u32,
    pub(crate) unresolved: usize,
    pub(crate) quarantined: usize,
    pub(crate) held: usize,
    pub(crate) next_cycle: String,
}

/// The users table's query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UsersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    filter: String,
}

/// The filters of the users table: (value, label).
const FILTERS: [(&str, &str); 5] = [
    ("", "all"),
    ("failing", "failing"),
    ("held", "held deletes"),
    ("quarantined", "quarantined"),
    ("unresolved", "unresolved"),
];

/// One filter of the users table.
pub(crate) struct FilterLink {
    pub(crate) value: &'static str,
    pub(crate) label: &'static str,
    pub(crate) id: &'static str,
    pub(crate) on: bool,
}

/// `/users`.
#[derive(Template)]
#[template(path = "users.html")]
pub(crate) struct UsersPage {
    layout: Layout,
    q: String,
    filters: Vec<FilterLink>,
    rows: Vec<UserRow>,
    total: usize,
}

fn keep(o: &UserOverview, filter: &str) -> bool {
    match filter {
        "failing" => result_of(o) == "failing",
        "held" => o.held_deletes > 0,
        "quarantined" => o.quarantined > 0,
        "unresolved" => o.unresolved > 0,
        _ => true,
    }
}

/// `GET /users?q=&filter=`: one row per user, filtered and searched on the server.
pub(crate) async fn users(
    State(state): State<WebState>,
    admin: Admin,
    Query(query): Query<UsersQuery>,
) -> Result<Response, WebError> {
    let all = overview(&state).await?;
    let total = all.len();
    let filter = if FILTERS.iter().any(|(f, _)| *f == query.filter) { query.filter } else { String::new() };
    let needle = query.q.trim().to_lowercase();
    let rows = all
        .into_iter()
        .filter(|(o, _)| keep(o, &filter) && o.status.user.to_lowercase().contains(&needle))
        .map(|(o, configured)| {
            let n = |f: fn(&tandem_engine::CycleCounts) -> usize| {
                o.last_cycle.as_ref().map_or_else(|| "–".to_owned(), |c| f(c).to_string())
            };
            UserRow {
                href: format!("/users/{}", path_segment(&o.status.user)),
                configured,
                last_cycle: when(o.status.last_cycle_at),
                result: result_of(&o),
                creates: n(|c| c.creates),
                updates: n(|c| c.updates),
                deletes: n(|c| c.deletes),
                conflicts: n(|c| c.conflicts),
                failed: n(|c| c.failed),
                error: o.status.last_error.clone().unwrap_or_default(),
                failures: o.status.consecutive_failures,
                unresolved: o.unresolved,
                quarantined: o.quarantined,
                held: o.held_deletes,
                next_cycle: schedule_of(&state, &o.status.user),
                user: o.status.user,
            }
        })
        .collect();
    let filters = FILTERS
        .iter()
        .map(|&(value, label)| FilterLink {
            value,
            label,
            id: if value.is_empty() { "all" } else { value },
            on: value == filter,
        })
        .collect();
    let page = UsersPage { layout: Layout::of(&state, &admin), q: query.q, filters, rows, total };
    Ok(Html(page.render()?).into_response())
}

/// One operation of a cycle.
pub(crate) struct OperationView {
    pub(crate) action: String,
    pub(crate) side: String,
    pub(crate) record: String,
    pub(crate) reason: String,
    pub(crate) outcome: String,
}

/// One cycle of one object.
pub(crate) struct CycleView {
    pub(crate) started: String,
    pub(crate) finished: String,
    pub(crate) object: String,
    pub(crate) dry_run: bool,
    pub(crate) ok: bool,
    pub(crate) outcome: String,
    pub(crate) counts: String,
    pub(crate) operations: Vec<OperationView>,
    pub(crate) omitted: usize,
}

fn cycle_view(c: &CycleRecord) -> CycleView {
    let k = &c.counts;
    CycleView {
        started: time(c.started_at),
        finished: time(c.finished_at),
        object: c.object.to_string(),
        dry_run: c.dry_run,
        ok: c.is_ok(),
        outcome: c.outcome.clone(),
        counts: format!(
            "{} created, {} updated, {} deleted, {} conflicts, {} failed, {} held, {} quarantined",
            k.creates, k.updates, k.deletes, k.conflicts, k.failed, k.held_deletes, k.quarantined
        ),
        operations: c
            .operations
            .iter()
            .map(|op| OperationView {
                action: op.action.clone(),
                side: op.side.map(|s| s.to_string()).unwrap_or_default(),
                record: op.record_id.as_ref().map(|r| r.as_str().to_owned()).unwrap_or_default(),
                reason: op.reason.clone(),
                outcome: op.outcome.clone(),
            })
            .collect(),
        omitted: c.operations_omitted,
    }
}

/// One conflict, with how it was resolved.
pub(crate) struct ConflictView {
    pub(crate) at: String,
    pub(crate) object: String,
    pub(crate) record: String,
    pub(crate) reason: String,
    pub(crate) resolution: String,
}

/// A quarantine entry or a held delete.
pub(crate) struct EntryView {
    pub(crate) object: String,
    pub(crate) side: String,
    pub(crate) record: String,
    pub(crate) reason: String,
    pub(crate) since: String,
    pub(crate) approved: bool,
}

fn entry_view(q: &QuarantineEntry) -> EntryView {
    EntryView {
        object: q.object.to_string(),
        side: q.side.to_string(),
        record: q.record_id.as_str().to_owned(),
        reason: q.reason.clone(),
        since: time(q.since),
        approved: q
            .detail
            .as_ref()
            .and_then(|d| d.get("approved"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
    }
}

/// An unresolved item.
pub(crate) struct UnresolvedView {
    pub(crate) object: String,
    pub(crate) side: String,
    pub(crate) record: String,
    pub(crate) subject: String,
    pub(crate) detail: String,
    pub(crate) since: String,
}

/// `/users/{user}`.
#[derive(Template)]
#[template(path = "user.html")]
pub(crate) struct UserPage {
    layout: Layout,
    user: String,
    href: String,
    configured: bool,
    result: &'static str,
    last_cycle: String,
    last_success: String,
    last_error: String,
    failures: u32,
    schedule: String,
    cycles: Vec<CycleView>,
    conflicts: Vec<ConflictView>,
    held: Vec<EntryView>,
    held_waiting: usize,
    quarantine: Vec<EntryView>,
    unresolved: Vec<UnresolvedView>,
}

/// A user the page knows: the address as the store (or the file) spells it, whether the file
/// assigns it, and its status (empty before its first cycle).
pub(super) struct Known {
    pub(super) user: String,
    pub(super) configured: bool,
    pub(super) status: UserStatus,
}

/// `user` (compared case-insensitively) if the store or the file knows it, else
/// [`WebError::UnknownUser`]. Reads only statuses and the user list, not every user's details.
pub(super) async fn known(state: &WebState, user: &str) -> Result<Known, WebError> {
    let store = state.engine().store();
    let configured = state.config().user(user).map(|u| u.user.clone());
    let stored = match store.status(user).await? {
        Some(status) => Some(status.user.clone()),
        None => store.users().await?.into_iter().find(|u| u.eq_ignore_ascii_case(user)),
    };
    let Some(user) = stored.or(configured) else {
        return Err(WebError::UnknownUser(user.to_owned()));
    };
    let status = store.status(&user).await?.unwrap_or_else(|| UserStatus::empty(user.clone()));
    Ok(Known { configured: state.config().user(&user).is_some(), user, status })
}

/// `GET /users/{user}`: cycles with their operations, conflicts, held deletes, quarantine,
/// unresolved items, and the actions on them.
pub(crate) async fn user(
    State(state): State<WebState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Result<Response, WebError> {
    let Known { user, configured, status } = known(&state, &user).await?;
    let engine = state.engine();
    let cycles = engine.recent_cycles(&user, CYCLES_SHOWN).await?;
    // The result as in the table: the newest sync that was not a dry run, every object ok.
    let last = cycles.iter().find(|c| !c.dry_run).map(|c| c.started_at);
    let last_ok = last.map(|at| cycles.iter().filter(|c| !c.dry_run && c.started_at == at).all(CycleRecord::is_ok));
    let o = UserOverview::new(status, 0, 0, 0).with_last_cycle(None, last_ok);
    let conflicts = cycles
        .iter()
        .flat_map(|c| {
            c.operations.iter().filter(|op| op.action == "conflict").map(move |op| ConflictView {
                at: time(c.started_at),
                object: c.object.to_string(),
                record: op.record_id.as_ref().map(|r| r.as_str().to_owned()).unwrap_or_default(),
                reason: op.reason.clone(),
                resolution: op.outcome.clone(),
            })
        })
        .collect();
    let held: Vec<EntryView> = engine.held_deletes(&user).await?.iter().map(entry_view).collect();
    let quarantine = engine.quarantined(&user).await?.iter().map(entry_view).collect();
    let unresolved = engine
        .unresolved(&user)
        .await?
        .into_iter()
        .map(|u| UnresolvedView {
            object: u.object.to_string(),
            side: u.side.to_string(),
            record: u.record_id.as_str().to_owned(),
            subject: u.item.subject,
            detail: u.item.detail,
            since: time(u.since),
        })
        .collect();
    let page = UserPage {
        layout: Layout::of(&state, &admin),
        href: format!("/users/{}", path_segment(&user)),
        configured,
        result: result_of(&o),
        last_cycle: when(o.status.last_cycle_at),
        last_success: when(o.status.last_success_at),
        last_error: o.status.last_error.clone().unwrap_or_default(),
        failures: o.status.consecutive_failures,
        schedule: schedule_of(&state, &user),
        cycles: cycles.iter().map(cycle_view).collect(),
        conflicts,
        held_waiting: held.iter().filter(|h| !h.approved).count(),
        held,
        quarantine,
        unresolved,
        user,
    };
    Ok(Html(page.render()?).into_response())
}

/// `/users/{user}/reset`.
#[derive(Template)]
#[template(path = "reset.html")]
pub(crate) struct ResetPage {
    layout: Layout,
    user: String,
    href: String,
}

/// `GET /users/{user}/reset`: what a reset does, and a form that asks for confirmation.
pub(crate) async fn reset_confirm(
    State(state): State<WebState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Result<Response, WebError> {
    let user = known(&state, &user).await?.user;
    let page = ResetPage { layout: Layout::of(&state, &admin), href: format!("/users/{}", path_segment(&user)), user };
    Ok(Html(page.render()?).into_response())
}
