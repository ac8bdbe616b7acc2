//! The functions that pick the key a limit applies to, and the request-predicate type.

use std::sync::Arc;

use axum::extract::Request;

/// Extracts the key a limit applies to from a request (for example the mailbox in a Graph path);
/// `None` exempts the request from that limit.
pub type KeyFn = Arc<dyn Fn(&Request) -> Option<String> + Send + Sync>;

/// Decides whether a rule applies to a request.
pub type RequestPredicate = Arc<dyn Fn(&Request) -> bool + Send + Sync>;

/// Wraps a closure as a [`KeyFn`].
pub fn key_fn(f: impl Fn(&Request) -> Option<String> + Send + Sync + 'static) -> KeyFn {
    Arc::new(f)
}

/// The path segment after the first segment equal to `segment`, lower-cased: with `"users"`,
/// `/v1.0/users/Ann@Contoso.com/events` gives `ann@contoso.com`. Graph keys its per-mailbox limits
/// this way.
pub fn path_segment_after(segment: &str) -> KeyFn {
    let segment = segment.to_owned();
    Arc::new(move |req: &Request| {
        let mut parts = req.uri().path().split('/');
        parts.by_ref().find(|p| *p == segment)?;
        parts.next().filter(|p| !p.is_empty()).map(str::to_lowercase)
    })
}

/// The value of header `name`, lower-cased (EWS routes by `X-AnchorMailbox`).
pub fn header_key(name: &str) -> KeyFn {
    let name = name.to_owned();
    Arc::new(move |req: &Request| req.headers().get(name.as_str()).and_then(|v| v.to_str().ok()).map(str::to_lowercase))
}

/// One key for every request: a limit on the whole server.
pub fn whole_server() -> KeyFn {
    Arc::new(|_: &Request| Some("*".to_owned()))
}
