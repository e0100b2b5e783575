//! Talking to the server: GraphQL over HTTP and WebSocket, the admin login,
//! and the set-up every scenario starts from (merchants, and for the
//! read-heavy mix their API keys and a first payment each).

use std::time::Duration;

use futures::{SinkExt, StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::server::BENCH_ADMIN_PASSWORD;

/// Set-up requests in flight at once (creating merchants and keys): enough to
/// keep the server's default pool of 16 busy, so 1,000 merchants take seconds.
const SETUP_CONCURRENCY: usize = 32;

/// How long to wait for the server to answer `/healthz` after it is started
/// (it runs the migrations first).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The server, an HTTP client for it and the admin's session token.
#[derive(Clone)]
pub struct Session {
    /// Shared by every client task (reqwest pools connections per host).
    pub http: reqwest::Client,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The admin's bearer token.
    pub token: String,
    /// Whether the server speaks Apollo's automatic persisted queries; then
    /// every request sends the query's hash first and its text only when asked.
    pub persisted: bool,
}

impl Session {
    /// Waits for the server at `base` and logs in as the bootstrap admin.
    pub async fn open(base: &str, clients: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
        wait_healthy(&http, base).await?;
        let body = gql(
            &http,
            base,
            None,
            "mutation($p: String!) { login(username: \"admin\", password: $p) { token } }",
            json!({ "p": BENCH_ADMIN_PASSWORD }),
        )
        .await?;
        let token =
            body["data"]["login"]["token"].as_str().ok_or_else(|| anyhow::anyhow!("login failed: {body}"))?.to_owned();
        // A hash the server cannot know: a server that speaks the protocol
        // asks for the text; an older one fails to parse the empty query.
        let probe = post(
            &http,
            base,
            None,
            &json!({ "extensions": persisted_query(&format!("{{ __typename }} # probe {}", uuid::Uuid::new_v4())) }),
        )
        .await?;
        let persisted = probe["errors"][0]["message"] == "PersistedQueryNotFound";
        Ok(Self { http, base: base.to_owned(), token, persisted })
    }

    /// A GraphQL request as the admin.
    pub async fn admin(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        self.ask(Some(&self.token), query, variables).await
    }

    /// A GraphQL request with `token` as its bearer token: as a persisted
    /// query (the hash; then, if the server does not hold it yet, the hash
    /// and the text) when the server speaks the protocol, else the text.
    pub async fn ask(&self, token: Option<&str>, query: &str, variables: Value) -> anyhow::Result<Value> {
        if !self.persisted {
            return gql(&self.http, &self.base, token, query, variables).await;
        }
        let mut body = json!({ "variables": variables, "extensions": persisted_query(query) });
        let answer = post(&self.http, &self.base, token, &body).await?;
        if answer["errors"][0]["message"] != "PersistedQueryNotFound" {
            return Ok(answer);
        }
        body["query"] = Value::String(query.to_owned());
        post(&self.http, &self.base, token, &body).await
    }

    /// Creates `n` merchants, [`SETUP_CONCURRENCY`] at a time; returns their
    /// ids in creation order (merchant `i` is `Bench i`).
    pub async fn create_merchants(&self, n: usize) -> anyhow::Result<Vec<String>> {
        futures::stream::iter(0..n)
            .map(|i| async move {
                let body = self
                    .admin(
                        "mutation($i: CreateMerchantInput!) { createMerchant(input: $i) { merchant { id } } }",
                        json!({ "i": { "name": format!("Bench {i}"), "idempotencyKey": format!("bench-merchant-{i}") } }),
                    )
                    .await?;
                body["data"]["createMerchant"]["merchant"]["id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow::anyhow!("createMerchant: {body}"))
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// For each merchant: an API key, and one payment recorded for it (so that
    /// it has an `available` account and something to read). Returns what the
    /// read-heavy clients need of each; they record payments with one key of
    /// the card processing service (`payments:write`), because a merchant key
    /// may not.
    pub async fn prepare_readers(&self, merchants: &[String]) -> anyhow::Result<Vec<Reader>> {
        let body = self
            .admin(
                "mutation($i: CreateServiceKeyInput!) { createServiceKey(input: $i) { key } }",
                json!({ "i": { "service": "card-processing", "scopes": ["payments:write"], "name": "bench",
                    "idempotencyKey": format!("bench-psp-{}", uuid::Uuid::new_v4()) } }),
            )
            .await?;
        let payer = body["data"]["createServiceKey"]["key"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("createServiceKey: {body}"))?
            .to_owned();
        let payer = &payer;
        futures::stream::iter(merchants.iter().enumerate())
            .map(|(i, merchant)| async move {
                let body = self
                    .admin(
                        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }",
                        json!({ "i": { "merchantId": merchant, "name": "bench",
                            "idempotencyKey": format!("bench-key-{i}-{}", uuid::Uuid::new_v4()) } }),
                    )
                    .await?;
                let key = body["data"]["createApiKey"]["key"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("createApiKey: {body}"))?
                    .to_owned();
                let input = json!({ "merchantId": merchant, "gross": { "amount": "10.00", "currency": "USD" }, "fee": { "amount": "0.30", "currency": "USD" }, "idempotencyKey": format!("bench-seed-{i}") });
                let body = self
                    .admin(
                        "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { entries { account { id code platform } } } } }",
                        json!({ "i": input }),
                    )
                    .await?;
                let account = body["data"]["recordPayment"]["transaction"]["entries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|e| e["account"]["code"] == "available" && e["account"]["platform"] == false)
                    .and_then(|e| e["account"]["id"].as_str())
                    .ok_or_else(|| anyhow::anyhow!("no available account in the seed payment: {body}"))?
                    .to_owned();
                anyhow::Ok(Reader { merchant: merchant.clone(), key, payer: payer.clone(), account })
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }
}

/// A merchant as its own API client sees it: its id, its key and its USD
/// `available` account.
#[derive(Debug, Clone)]
pub struct Reader {
    /// Merchant id.
    pub merchant: String,
    /// The merchant's API key (a bearer token), for its reads.
    pub key: String,
    /// A card processing service key (`payments:write`), for its payments.
    pub payer: String,
    /// Its `available` account in USD.
    pub account: String,
}

/// One GraphQL request with its text; `token` is sent as a bearer token.
pub async fn gql(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    post(http, base, token, &json!({ "query": query, "variables": variables })).await
}

/// POSTs a GraphQL request body to `/graphql` and returns the answer.
async fn post(http: &reqwest::Client, base: &str, token: Option<&str>, body: &Value) -> anyhow::Result<Value> {
    let mut req = http.post(format!("{base}/graphql")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Ok(req.send().await?.json().await?)
}

/// The `persistedQuery` extension of Apollo's automatic persisted queries
/// for `query`: version 1 and the SHA-256 of its text in lower-case hex.
fn persisted_query(query: &str) -> Value {
    use sha2::Digest;
    json!({ "persistedQuery": { "version": 1, "sha256Hash": format!("{:x}", sha2::Sha256::digest(query.as_bytes())) } })
}

/// True when a GraphQL answer has data and no errors.
pub fn succeeded(body: &anyhow::Result<Value>) -> bool {
    matches!(body, Ok(b) if b.get("errors").is_none() && b.get("data").is_some_and(|d| !d.is_null()))
}

async fn wait_healthy(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let poll = Duration::from_millis(100);
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(poll).await;
    }
    anyhow::bail!("the server did not start within {START_TIMEOUT:?}")
}

/// A WebSocket connection to the server.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `graphql-transport-ws` connection, acknowledged.
pub async fn ws(base: &str, token: &str) -> anyhow::Result<Socket> {
    let mut request = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1)).into_client_request()?;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await?;
    match socket.next().await {
        Some(Ok(Message::Text(t))) if t.contains("connection_ack") => Ok(socket),
        other => anyhow::bail!("no connection_ack: {other:?}"),
    }
}

/// How many payments the merchant has (a count of its events).
pub async fn payments_of(session: &Session, merchant: &str) -> anyhow::Result<u64> {
    const PAGE: usize = 100;
    let mut after = 0i64;
    let mut n = 0u64;
    loop {
        let body = session
            .admin(
                "query($m: ID, $a: Int, $f: Int) { events(merchantId: $m, after: $a, first: $f) { sequence } }",
                json!({ "m": merchant, "a": after, "f": PAGE }),
            )
            .await?;
        let page = body["data"]["events"].as_array().cloned().unwrap_or_default();
        n += page.len() as u64;
        match page.last().and_then(|e| e["sequence"].as_i64()) {
            Some(s) if page.len() == PAGE => after = s,
            _ => return Ok(n),
        }
    }
}
