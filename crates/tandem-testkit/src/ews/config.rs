//! [`EwsFakeConfig`], the settings of the fake.

/// Settings of the fake.
#[derive(Debug, Clone)]
pub struct EwsFakeConfig {
    /// Requests in flight per anchor mailbox before `ErrorServerBusy`. Default 27
    /// (`EWSMaxConcurrency` of Exchange 2013 and later).
    pub max_concurrency: usize,
    /// `BackOffMilliseconds` of concurrency rejections. Default 1000.
    pub concurrency_backoff_ms: u64,
}

impl Default for EwsFakeConfig {
    fn default() -> Self {
        EwsFakeConfig { max_concurrency: 27, concurrency_backoff_ms: 1000 }
    }
}
