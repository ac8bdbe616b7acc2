//! The query endpoints: `…/query?q=` and `…/queryAll?q=` (SOQL, batch size from
//! `Sforce-Query-Options`) and their next pages by query locator.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Actor, errors};
use crate::salesforce::store::ApiError;
use crate::salesforce::{SalesforceFake, soql};

fn batch_size(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get("sforce-query-options")?.to_str().ok()?;
    value
        .split(',')
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("batchSize")).then(|| v.trim().parse::<usize>().ok()).flatten()
        })
        .map(|n| n.clamp(200, 2000))
}

async fn run_query(
    fake: &SalesforceFake,
    actor: &Actor,
    version: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    all: bool,
) -> Response {
    let Some(q) = params.get("q") else {
        return errors(StatusCode::BAD_REQUEST, &[ApiError::new("MALFORMED_QUERY", "q parameter is required", &[])]);
    };
    let select = match soql::parse(q) {
        Ok(s) => s,
        Err(e) => return errors(StatusCode::BAD_REQUEST, &[e.into()]),
    };
    let result = fake.lock().acting(version, &actor.0, |org| org.query(&select, all, batch_size(headers)));
    match result {
        Ok(page) => Json(page).into_response(),
        Err(e) => errors(StatusCode::BAD_REQUEST, &[e]),
    }
}

pub(crate) async fn query(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path(version): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    run_query(&fake, &actor, &version, &params, &headers, false).await
}

pub(crate) async fn query_all(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    Path(version): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    run_query(&fake, &actor, &version, &params, &headers, true).await
}

/// The next page of a query; a locator answers only the user whose query it is.
pub(crate) async fn query_more(
    State(fake): State<SalesforceFake>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    Path((version, locator)): Path<(String, String)>,
) -> Response {
    let result = fake.lock().acting(&version, &actor.0, |org| org.more(&locator, batch_size(&headers)));
    match result {
        Ok(page) => Json(page).into_response(),
        Err(e) => errors(StatusCode::BAD_REQUEST, &[e]),
    }
}

pub(crate) async fn query_all_more(
    state: State<SalesforceFake>,
    actor: Extension<Actor>,
    headers: HeaderMap,
    path: Path<(String, String)>,
) -> Response {
    query_more(state, actor, headers, path).await
}
