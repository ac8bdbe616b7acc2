//! The client's futures are `Send`, so connectors can await them inside `async_trait` methods
//! (`Connector` futures must be `Send`). A compile-time check: this file fails to build if not.
#![allow(missing_docs)]

use async_trait::async_trait;
use tandem_connector::ConnectorError;
use tandem_connector::http::{AccessToken, HttpClient, RequestSpec, TokenCache, TokenSource};

struct Source;

#[async_trait]
impl TokenSource for Source {
    async fn fetch_token(&self) -> Result<AccessToken, ConnectorError> {
        Ok(AccessToken::new("t"))
    }
}

fn is_send<T: Send>(_: &T) {}

#[allow(dead_code)]
fn every_send_future_is_send(client: &HttpClient, request: RequestSpec, tokens: &TokenCache<Source>) {
    is_send(&client.send(request.clone()));
    is_send(&client.send_unmapped(request.clone()));
    is_send(&client.send_once(request.clone()));
    is_send(&client.send_authorized(request, tokens));
}

/// The same inside an `async_trait` method, where lifetimes are higher-ranked.
#[allow(dead_code)]
#[async_trait]
trait Fetch {
    async fn fetch(&self, request: RequestSpec) -> Result<(), ConnectorError>;
}

#[allow(dead_code)]
struct Uses {
    client: HttpClient,
    tokens: TokenCache<Source>,
}

#[async_trait]
impl Fetch for Uses {
    async fn fetch(&self, request: RequestSpec) -> Result<(), ConnectorError> {
        self.client.send_authorized(request, &self.tokens).await.map(|_| ())
    }
}

#[test]
fn client_futures_are_send() {
    // The check is the compilation of this file.
    let _ = every_send_future_is_send;
    let _ = std::mem::size_of::<Uses>();
}
