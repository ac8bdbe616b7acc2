//! Retrying connector calls: throttling waited out, reads tried again, refreshed tokens.

use tandem_connector::ConnectorError;
use tandem_core::state::Side;

/// Whether a connector call only reads (safe to repeat) or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// Whether a call that failed with `error` is one [`with_retries`] would try again (for a read):
/// throttled, transient, or refused for a token the connector can refresh.
pub(crate) fn retryable(error: Option<&ConnectorError>) -> bool {
    matches!(
        error,
        Some(
            ConnectorError::Throttled { .. }
                | ConnectorError::Transient { .. }
                | ConnectorError::Auth { refreshable: true, .. }
        )
    )
}

/// Calls a connector, waiting out throttling as the provider asks and trying reads again after
/// transient failures, and any call once more after an authentication failure the connector can
/// recover from by refreshing its token; all bounded by [`crate::EngineOptions`]. `counted` is
/// told of every attempt.
pub(crate) async fn with_retries<T, F, Fut>(
    opts: &crate::EngineOptions,
    side: Side,
    access: Access,
    counted: &mut (dyn FnMut(Side) + Send),
    mut f: F,
) -> Result<T, ConnectorError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ConnectorError>>,
{
    let (mut throttled, mut transient, mut auth) = (0, 0, 0);
    loop {
        counted(side);
        match f().await {
            Err(ConnectorError::Throttled { retry_after }) if throttled < opts.max_throttle_retries => {
                throttled += 1;
                let wait = retry_after.unwrap_or(opts.default_throttle_wait).min(opts.max_throttle_wait);
                tracing::debug!(%side, ?wait, attempt = throttled, "throttled; waiting");
                tokio::time::sleep(wait).await;
            }
            Err(ConnectorError::Transient { message })
                if access == Access::Read && transient < opts.max_transient_read_retries =>
            {
                let wait =
                    opts.default_throttle_wait.saturating_mul(1 << transient.min(16)).min(opts.max_throttle_wait);
                transient += 1;
                tracing::debug!(%side, ?wait, attempt = transient, %message, "transient failure reading; trying again");
                tokio::time::sleep(wait).await;
            }
            // A refused token means the request was not carried out, so even a write may be sent
            // again; the connector refreshes its token first.
            Err(ConnectorError::Auth { refreshable: true, message }) if auth < opts.max_auth_retries => {
                auth += 1;
                tracing::debug!(%side, attempt = auth, %message, "authentication refused; trying again with a fresh token");
            }
            other => return other,
        }
    }
}
