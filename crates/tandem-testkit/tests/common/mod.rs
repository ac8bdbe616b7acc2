//! What the testkit's HTTP tests share: a plain client, a Salesforce session by the JWT bearer
//! flow, and a Graph mailbox with an app token — set up as any client of the real services would.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tandem_testkit::graph::{GraphFake, GraphFakeConfig};
use tandem_testkit::keys;
use tandem_testkit::salesforce::SalesforceFake;
use tandem_testkit::server::FakeServer;

/// The Graph mailbox the tests use.
pub const MB: &str = "ann@contoso.example";

/// A client that neither follows redirects nor uses a proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A JWT bearer assertion for the fake's user, signed with `key_pem`, for audience `aud`,
/// expiring `exp_in` seconds from the fake's now.
pub fn assertion(fake: &SalesforceFake, aud: &str, key_pem: &str, exp_in: i64) -> String {
    let claims = json!({
        "iss": fake.config().consumer_key,
        "sub": fake.user().username,
        "aud": aud,
        "exp": fake.now().timestamp() + exp_in,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// Posts a form to the fake's token endpoint.
pub async fn token_with(server: &FakeServer, form: &[(&str, &str)]) -> (u16, Value) {
    let r = client().post(server.url("/services/oauth2/token")).form(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A session for the fake's user by the JWT bearer flow, with audience `aud`.
pub async fn salesforce_login(fake: &SalesforceFake, server: &FakeServer, aud: &str) -> String {
    let a = assertion(fake, aud, keys::TEST_RSA_KEY_PEM, 120);
    let (status, body) =
        token_with(server, &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &a)]).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A Graph fake with the mailbox [`MB`] and an app token for it.
pub struct GraphEnv {
    pub fake: GraphFake,
    pub http: reqwest::Client,
    pub bearer: String,
}

/// A [`GraphEnv`] on a fake configured with `config`.
pub async fn graph_env(config: GraphFakeConfig) -> GraphEnv {
    let fake = GraphFake::start_with(config).await.unwrap();
    fake.state().add_mailbox(MB, "Ann");
    fake.state().register_client_secret("app", "app-secret-value");
    let http = client();
    let v: Value = http
        .post(fake.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "app"),
            ("client_secret", "app-secret-value"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", v["access_token"].as_str().unwrap());
    GraphEnv { fake, http, bearer }
}
