//! The REST layer: authorised requests with one refresh and one retry on `INVALID_SESSION_ID`,
//! `Sforce-Limit-Info` read on every response, the API budget, Salesforce's error array mapped
//! onto the connector taxonomy, queries with `nextRecordsUrl` paging, and sObject collections.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use tandem_connector::ConnectorError;
use tandem_connector::http::{AccessToken, Clock, HttpClient, RequestSpec, Response, TokenCache, check_endpoint};
use url::Url;

use crate::auth::{SalesforceTokens, Session};
use crate::config::BudgetConfig;

/// Why a call did not return data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// The API budget is used up (by the configured share, or `REQUEST_LIMIT_EXCEEDED`).
    Budget,
    /// A `nextRecordsUrl` is no longer valid (`INVALID_QUERY_LOCATOR`).
    Locator,
    /// Anything else.
    Connector(ConnectorError),
}

impl From<ConnectorError> for ApiError {
    fn from(e: ConnectorError) -> Self {
        ApiError::Connector(e)
    }
}

impl ApiError {
    /// As a connector error (the budget as `Throttled` without a delay).
    pub(crate) fn into_connector(self) -> ConnectorError {
        match self {
            ApiError::Budget => ConnectorError::Throttled { retry_after: None },
            ApiError::Locator => ConnectorError::Transient { message: "the query cursor expired".to_owned() },
            ApiError::Connector(e) => e,
        }
    }
}

/// API usage as the last response reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiUsage {
    /// Requests used in the rolling 24 hours.
    pub used: u64,
    /// The daily limit.
    pub limit: u64,
}

#[derive(Debug, Default)]
struct BudgetState {
    usage: Option<ApiUsage>,
    stopped_at: Option<Instant>,
}

/// One element of Salesforce's error array.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SfError {
    #[serde(alias = "statusCode", rename = "errorCode", default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) fields: Vec<String>,
}

/// One result of an sObject collection request.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ItemResult {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) success: bool,
    #[serde(default)]
    pub(crate) errors: Vec<SfError>,
}

/// One page of query results.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct QueryPage {
    #[serde(default)]
    pub(crate) done: bool,
    #[serde(rename = "nextRecordsUrl", default)]
    pub(crate) next: Option<String>,
    #[serde(default)]
    pub(crate) records: Vec<Map<String, Value>>,
}

/// The authorised REST client of one connection.
pub(crate) struct Api {
    http: HttpClient,
    tokens: TokenCache<SalesforceTokens>,
    session: Arc<Mutex<Session>>,
    instance_override: Option<Url>,
    version: String,
    budget_config: BudgetConfig,
    budget: Mutex<BudgetState>,
    clock: Arc<dyn Clock>,
    server_time: Mutex<Option<DateTime<Utc>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Parses `api-usage=18/15000` out of a `Sforce-Limit-Info` header.
pub(crate) fn parse_limit_info(value: &str) -> Option<ApiUsage> {
    value.split(',').map(str::trim).find_map(|part| {
        let (name, v) = part.split_once('=')?;
        if name.trim() != "api-usage" {
            return None;
        }
        let (used, limit) = v.trim().split_once('/')?;
        Some(ApiUsage { used: used.trim().parse().ok()?, limit: limit.trim().parse().ok()? })
    })
}

impl Api {
    pub(crate) fn new(
        http: HttpClient,
        tokens: TokenCache<SalesforceTokens>,
        session: Arc<Mutex<Session>>,
        instance_override: Option<Url>,
        version: String,
        budget_config: BudgetConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Api {
            http,
            tokens,
            session,
            instance_override,
            version,
            budget_config,
            budget: Mutex::new(BudgetState::default()),
            clock,
            server_time: Mutex::new(None),
        }
    }

    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    pub(crate) fn session(&self) -> Session {
        lock(&self.session).clone()
    }

    /// Usage as last reported.
    pub(crate) fn usage(&self) -> Option<ApiUsage> {
        lock(&self.budget).usage
    }

    /// Whether requests are held back by the budget right now.
    pub(crate) fn budget_stopped(&self) -> bool {
        let b = lock(&self.budget);
        b.stopped_at.is_some_and(|at| self.clock.now() < at + self.budget_config.recheck_after)
    }

    /// Lifts a budget stop at once (an operator raised the limit).
    pub(crate) fn reset_budget(&self) {
        lock(&self.budget).stopped_at = None;
    }

    /// The server's clock as of the last response (its `Date` header).
    pub(crate) fn server_time(&self) -> Option<DateTime<Utc>> {
        *lock(&self.server_time)
    }

    fn stop(&self) {
        let mut b = lock(&self.budget);
        b.stopped_at = Some(self.clock.now());
    }

    fn observe(&self, response: &Response) {
        if let Some(date) = response.header("date").and_then(|d| DateTime::parse_from_rfc2822(d).ok()) {
            *lock(&self.server_time) = Some(date.with_timezone(&Utc));
        }
        if let Some(usage) = response.header("sforce-limit-info").and_then(parse_limit_info) {
            let mut b = lock(&self.budget);
            b.usage = Some(usage);
            let share = if usage.limit == 0 { 1.0 } else { usage.used as f64 / usage.limit as f64 };
            if share >= self.budget_config.stop_at_share {
                if b.stopped_at.is_none() {
                    tracing::warn!(
                        used = usage.used,
                        limit = usage.limit,
                        "Salesforce API budget reached; stopping until usage goes down"
                    );
                }
                b.stopped_at = Some(self.clock.now());
            } else {
                b.stopped_at = None;
            }
        }
    }

    async fn instance(&self) -> Result<Url, ConnectorError> {
        if let Some(url) = &self.instance_override {
            return Ok(url.clone());
        }
        if lock(&self.session).instance_url.is_none() {
            // The first token answer names the instance.
            self.tokens.token().await?;
        }
        lock(&self.session).instance_url.clone().ok_or_else(|| ConnectorError::Config {
            message: "the token endpoint returned no instance_url; configure instance_url".to_owned(),
        })
    }

    /// `{instance}/services/data/{version}/{path}`.
    pub(crate) async fn data_url(&self, path: &str) -> Result<Url, ConnectorError> {
        let base = self.instance().await?;
        let p = format!("services/data/{}/{}", self.version, path.trim_start_matches('/'));
        join(&base, &p)
    }

    /// An absolute URL on the instance for a path the API returned (`nextRecordsUrl`), refusing
    /// anything outside `/services/data/`.
    async fn returned_url(&self, path: &str) -> Result<Url, ConnectorError> {
        if !path.starts_with("/services/data/") || path.contains("..") || path.contains("://") {
            return Err(ConnectorError::Transient { message: "unexpected nextRecordsUrl".to_owned() });
        }
        let base = self.instance().await?;
        join(&base, path.trim_start_matches('/'))
    }

    /// Sends a request built by `build` with a bearer token; on a 401, refreshes the token once
    /// and sends once more. Reads limit info and the date from every response. Maps error
    /// answers through Salesforce's error array.
    pub(crate) async fn send(&self, request: RequestSpec) -> Result<Response, ApiError> {
        if self.budget_stopped() {
            return Err(ApiError::Budget);
        }
        let token: AccessToken = self.tokens.token().await?;
        let response = self.http.send_unmapped(request.clone().bearer_auth(&token)).await?;
        self.observe(&response);
        let response = if response.status().as_u16() == 401 {
            tracing::debug!(request = %response.request(), "session expired or invalid; refreshing once");
            self.tokens.invalidate_if_current(&token).await;
            let token = self.tokens.token().await?;
            let retried = self.http.send_unmapped(request.bearer_auth(&token)).await?;
            self.observe(&retried);
            retried
        } else {
            response
        };
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.map_error(&response))
    }

    fn map_error(&self, response: &Response) -> ApiError {
        let status = response.status().as_u16();
        let errors: Vec<SfError> = serde_json::from_slice(response.body()).unwrap_or_default();
        let first = errors.first();
        let code = first.map_or("", |e| e.code.as_str());
        let message = || {
            let text = first.map_or_else(|| response.body_excerpt(300), |e| e.message.chars().take(300).collect());
            format!("{}: HTTP {status}: {code}: {text}", response.request())
        };
        match (status, code) {
            (_, "REQUEST_LIMIT_EXCEEDED") => {
                tracing::warn!("Salesforce REQUEST_LIMIT_EXCEEDED; stopping until usage goes down");
                self.stop();
                ApiError::Budget
            }
            (_, "INVALID_QUERY_LOCATOR") => ApiError::Locator,
            (401, _) => ApiError::Connector(ConnectorError::Auth { refreshable: true, message: message() }),
            (400, "MALFORMED_QUERY" | "INVALID_FIELD" | "INVALID_TYPE" | "INVALID_OPERATOR") => {
                ApiError::Connector(ConnectorError::Config { message: message() })
            }
            (403, _) => ApiError::Connector(ConnectorError::Auth { refreshable: false, message: message() }),
            (404, _) => ApiError::Connector(ConnectorError::NotFound),
            (_, "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE") => {
                ApiError::Connector(ConnectorError::Transient { message: message() })
            }
            (400..=499, c) if !c.is_empty() => {
                ApiError::Connector(ConnectorError::Rejected { code: c.to_owned(), message: message() })
            }
            _ => ApiError::Connector(
                response.error().unwrap_or_else(|| ConnectorError::Transient { message: message() }),
            ),
        }
    }

    /// Runs a SOQL query (`queryAll` with `all`), returning the first page.
    pub(crate) async fn query(&self, soql: &str, all: bool) -> Result<QueryPage, ApiError> {
        let resource = if all { "queryAll" } else { "query" };
        let url = self.data_url(resource).await?;
        let template = format!("/services/data/{{v}}/{resource}");
        let response = self.send(RequestSpec::get(url).query(&[("q", soql)]).template(template)).await?;
        Ok(response.json()?)
    }

    /// Fetches the page at a `nextRecordsUrl`.
    pub(crate) async fn query_more(&self, next: &str) -> Result<QueryPage, ApiError> {
        let url = self.returned_url(next).await?;
        let template = if next.contains("/queryAll/") {
            "/services/data/{v}/queryAll/{locator}"
        } else {
            "/services/data/{v}/query/{locator}"
        };
        let response = self.send(RequestSpec::get(url).template(template)).await?;
        Ok(response.json()?)
    }

    /// Every row of a query, following `nextRecordsUrl` to the end.
    pub(crate) async fn query_all_pages(&self, soql: &str, all: bool) -> Result<Vec<Map<String, Value>>, ApiError> {
        let mut page = self.query(soql, all).await?;
        let mut rows = std::mem::take(&mut page.records);
        while !page.done {
            let Some(next) = page.next.take() else { break };
            page = self.query_more(&next).await?;
            rows.append(&mut page.records);
        }
        Ok(rows)
    }

    /// An sObject collection request. `idempotent` marks requests safe to repeat (upserts by
    /// external id), which the HTTP client then retries on transient failures.
    pub(crate) async fn collection(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Vec<ItemResult>, ApiError> {
        let mut url = self.data_url(path).await?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let template = format!("/services/data/{{v}}/{}", template_of(path));
        let mut request = match method {
            "PATCH" => RequestSpec::patch(url),
            "DELETE" => RequestSpec::delete(url),
            _ => RequestSpec::post(url),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        if idempotent {
            request = request.with_idempotency_key();
        }
        let response = self.send(request.template(template)).await?;
        Ok(response.json()?)
    }

    /// GET a JSON document at an absolute URL (the identity service).
    pub(crate) async fn get_json(&self, url: &Url, template: &str) -> Result<Value, ApiError> {
        check_endpoint(url)?;
        let response = self.send(RequestSpec::get(url.clone()).template(template.to_owned())).await?;
        Ok(response.json()?)
    }

    /// Makes sure a session exists (fetching a token if needed) and returns it.
    pub(crate) async fn ensure_session(&self) -> Result<Session, ConnectorError> {
        self.tokens.token().await?;
        Ok(self.session())
    }
}

fn template_of(path: &str) -> String {
    // `composite/sobjects/Contact/Tandem_Sync_Id__c` → `composite/sobjects/{type}/{field}`.
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["composite", "sobjects", _, _] => "composite/sobjects/{type}/{field}".to_owned(),
        _ => path.to_owned(),
    }
}

fn join(base: &Url, path: &str) -> Result<Url, ConnectorError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(path).map_err(|e| ConnectorError::Config { message: format!("cannot build a URL on the instance: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_info() {
        assert_eq!(parse_limit_info("api-usage=18/15000"), Some(ApiUsage { used: 18, limit: 15000 }));
        assert_eq!(
            parse_limit_info("api-usage=25/5000, per-app-api-usage=17/250(appName=sample)"),
            Some(ApiUsage { used: 25, limit: 5000 })
        );
        assert_eq!(parse_limit_info("per-app-api-usage=17/250"), None);
        assert_eq!(parse_limit_info("api-usage=x/1"), None);
    }

    #[test]
    fn templates() {
        assert_eq!(template_of("composite/sobjects/Contact/Tandem_Sync_Id__c"), "composite/sobjects/{type}/{field}");
        assert_eq!(template_of("composite/sobjects"), "composite/sobjects");
    }
}
