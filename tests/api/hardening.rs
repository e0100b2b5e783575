//! GraphQL and HTTP hardening: depth, complexity and page limits, batches,
//! production mode, sessions and keys, login and request rate limits, CORS,
//! request ids and actors on transactions, and the staff audit log.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_USERNAME, TEST_ADMIN_PASSWORD, TestApp, code, spawn_app, spawn_app_with, spawn_flags};

const ME: &str = "{ me { kind merchantId username role keyPrefix } }";

/// A response as it came over HTTP.
struct Raw {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Raw {
    fn request_id(&self) -> Option<String> {
        self.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

async fn raw(resp: reqwest::Response) -> Raw {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Raw { status, headers, body }
}

/// POSTs a JSON body to /graphql with an optional bearer token.
async fn post(app: &TestApp, token: Option<&str>, body: Value) -> Raw {
    let mut req = app.http.post(format!("{}/graphql", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    raw(req.json(&body).send().await.expect("send")).await
}

/// Creates an API key for `merchant` as the admin: (secret key, id, prefix).
async fn create_key(app: &TestApp, merchant: &str) -> (String, String, String) {
    let data = app
        .ok(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id merchantId prefix revokedAt } } }",
            json!({ "i": { "merchantId": merchant, "name": "hardening", "idempotencyKey": format!("hardening-{}", uuid::Uuid::new_v4()) } }),
        )
        .await;
    let new = &data["createApiKey"];
    let key = new["key"].as_str().expect("key").to_owned();
    let prefix = new["apiKey"]["prefix"].as_str().expect("prefix").to_owned();
    assert_key_shape(&key, &prefix);
    assert_eq!(new["apiKey"]["merchantId"], merchant);
    assert!(new["apiKey"]["revokedAt"].is_null());
    (key, new["apiKey"]["id"].as_str().expect("id").to_owned(), prefix)
}

/// A key is `lk_<8 chars>_<secret>`, and its listed prefix is the 8 visible
/// characters (with or without the `lk_`).
fn assert_key_shape(key: &str, prefix: &str) {
    let visible = prefix.strip_prefix("lk_").unwrap_or(prefix);
    assert_eq!(visible.len(), 8, "prefix {prefix}");
    assert!(key.starts_with(&format!("lk_{visible}_")), "key {key} has the shape lk_<prefix>_<secret>");
    assert!(key.len() > "lk__".len() + 8 + 32, "key {key} carries a long secret");
}

fn messages(body: &Value) -> String {
    body["errors"]
        .as_array()
        .map(|e| e.iter().map(|e| e["message"].to_string()).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

// ---------------------------------------------------------------- GraphQL limits

#[tokio::test]
async fn a_query_twenty_levels_deep_is_refused() {
    let app = spawn_app().await;
    let m = app.merchant("Deep").await;
    let paid = app.pay(&m, "1.00", None, "USD", "p").await;
    let t = paid["data"]["recordPayment"]["transaction"]["id"].as_str().expect("txn").to_owned();
    let nest = |levels: usize| {
        format!(
            "query($t: ID!) {{ transaction(id: $t) {{ {} id {} }} }}",
            "reverses { ".repeat(levels),
            "} ".repeat(levels)
        )
    };
    // Control: a shallow chain of the same field is answered.
    let shallow = app.gql(&nest(4), json!({ "t": t })).await;
    assert!(shallow.get("errors").is_none(), "{shallow}");
    assert_eq!(shallow["data"]["transaction"]["reverses"], Value::Null);
    let deep = app.gql(&nest(19), json!({ "t": t })).await;
    assert_eq!(code(&deep), "GRAPHQL_VALIDATION_FAILED", "{deep}");
    assert!(deep["data"].is_null(), "nothing is executed: {deep}");
}

#[tokio::test]
async fn a_query_costing_more_than_the_complexity_limit_is_refused() {
    let app = spawn_app().await;
    let q = |n: u32| {
        format!(
            "{{ merchants(first: {n}) {{ edges {{ node {{ transactions(first: {n}) {{ edges {{ node {{ id }} }} }} }} }} }} }}"
        )
    };
    let cheap = app.gql(&q(10), json!({})).await;
    assert!(cheap.get("errors").is_none(), "{cheap}");
    let costly = app.gql(&q(100), json!({})).await;
    assert_eq!(code(&costly), "GRAPHQL_VALIDATION_FAILED", "{costly}");
}

#[tokio::test]
async fn a_page_of_more_than_one_hundred_is_refused_with_bad_user_input() {
    let app = spawn_app().await;
    let q = |n: u32| format!("{{ merchants(first: {n}) {{ edges {{ node {{ id }} }} }} }}");
    let huge = app.gql(&q(1_000_000), json!({})).await;
    assert_eq!(code(&huge), "BAD_USER_INPUT", "{huge}");
    let just_over = app.gql(&q(101), json!({})).await;
    assert_eq!(code(&just_over), "BAD_USER_INPUT", "{just_over}");
    let max = app.gql(&q(100), json!({})).await;
    assert!(max.get("errors").is_none(), "a page of 100 is allowed: {max}");
}

#[tokio::test]
async fn two_hundred_aliased_mutations_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let m = app.merchant("Aliased").await;
    let alias = |i: usize| {
        format!(
            " m{i}: recordPayment(input: {{merchantId: \"{m}\", gross: {{amount: \"1.00\", currency: \"USD\"}}, idempotencyKey: \"alias-{i}\"}}) {{ replayed }}"
        )
    };
    let doc = |n: usize| format!("mutation {{{} }}", (0..n).map(&alias).collect::<String>());
    let (txns, keys) = (app.count("transactions").await, app.count("idempotency_keys").await);
    let body = app.gql(&doc(200), json!({})).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{}", messages(&body));
    assert_eq!(app.count("transactions").await, txns, "no transaction was written");
    assert_eq!(app.count("idempotency_keys").await, keys, "no idempotency record was written");
    assert_eq!(app.available(&m, "USD").await, None);
    // Control: two aliased mutations are fine.
    let two = app.gql(&doc(2), json!({})).await;
    assert!(two.get("errors").is_none(), "{two}");
    assert_eq!(app.count("transactions").await, txns + 2);
}

#[tokio::test]
async fn a_json_array_batch_is_refused_with_400() {
    let app = spawn_app().await;
    let r = post(&app, Some(&app.token), json!([{ "query": ME }, { "query": ME }])).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(code(&r.body), "BATCH_NOT_SUPPORTED", "{}", r.body);
    // Control: the same request alone is answered.
    let one = post(&app, Some(&app.token), json!({ "query": ME })).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["data"]["me"]["kind"], "STAFF", "{}", one.body);
}

// ---------------------------------------------------------------- production mode

const INTROSPECTION: &str = "{ __schema { types { name } } }";
const TYPE_INTROSPECTION: &str = "{ __type(name: \"Merchant\") { name fields { name } } }";
const ROOT_TYPO: &str = "{ merchantz(first: 1) { edges { node { id } } } }";
const FIELD_TYPO: &str = "{ merchants(first: 1) { edges { node { namee } } } }";

#[tokio::test]
async fn production_mode_refuses_introspection_and_hides_graphiql_and_suggestions() {
    let app = spawn_app_with(&["--mode", "production"]).await;
    for q in [INTROSPECTION, TYPE_INTROSPECTION] {
        let body = app.gql(q, json!({})).await;
        assert_eq!(code(&body), "INTROSPECTION_DISABLED", "{q}: {body}");
        assert!(
            body["data"].is_null() || (body["data"]["__schema"].is_null() && body["data"]["__type"].is_null()),
            "{body}"
        );
    }
    let graphiql = app.http.get(format!("{}/graphiql", app.base)).send().await.expect("send");
    assert_eq!(graphiql.status(), 404);
    for q in [ROOT_TYPO, FIELD_TYPO] {
        let body = app.gql(q, json!({})).await;
        assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
        let text = messages(&body);
        assert!(!text.to_lowercase().contains("did you mean"), "production mode suggests fields: {text}");
    }
    // Ordinary queries still work.
    let me = app.gql(ME, json!({})).await;
    assert_eq!(me["data"]["me"]["username"], ADMIN_USERNAME, "{me}");
}

#[tokio::test]
async fn development_mode_allows_introspection_graphiql_and_suggestions() {
    let app = spawn_app_with(&["--mode", "development"]).await;
    let body = app.gql(INTROSPECTION, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().expect("types");
    assert!(types.iter().any(|t| t["name"] == "Merchant"), "{body}");
    let body = app.gql(TYPE_INTROSPECTION, json!({})).await;
    assert_eq!(body["data"]["__type"]["name"], "Merchant", "{body}");
    let graphiql = app.http.get(format!("{}/graphiql", app.base)).send().await.expect("send");
    assert_eq!(graphiql.status(), 200);
    for q in [ROOT_TYPO, FIELD_TYPO] {
        let body = app.gql(q, json!({})).await;
        assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
        assert!(messages(&body).contains("Did you mean"), "the typo is close enough to be suggested: {body}");
    }
}

// ---------------------------------------------------------------- sessions and keys

#[tokio::test]
async fn an_expired_session_is_unauthenticated() {
    let app = spawn_app_with(&["--session-ttl-secs", "1"]).await;
    let token = app.login(ADMIN_USERNAME, TEST_ADMIN_PASSWORD).await;
    let fresh = app.gql_as(Some(&token), ME, json!({})).await;
    assert_eq!(fresh["data"]["me"]["kind"], "STAFF", "{fresh}");
    assert_eq!(fresh["data"]["me"]["username"], ADMIN_USERNAME);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = app.gql_as(Some(&token), ME, json!({})).await;
    assert_eq!(code(&expired), "UNAUTHENTICATED", "{expired}");
    assert!(expired["data"].is_null() || expired["data"]["me"].is_null(), "{expired}");
    // Logging in again gives a working session.
    let again = app.login(ADMIN_USERNAME, TEST_ADMIN_PASSWORD).await;
    assert_eq!(app.gql_as(Some(&again), ME, json!({})).await["data"]["me"]["kind"], "STAFF");
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = spawn_app().await;
    let viewer = app.staff("vera", "VIEWER").await;
    let me = app.ok_as(Some(&viewer), ME, json!({})).await;
    assert_eq!(me["me"]["username"], "vera");
    assert_eq!(me["me"]["role"], "VIEWER");
    let out = app.ok_as(Some(&viewer), "mutation { logout }", json!({})).await;
    assert_eq!(out["logout"], true);
    assert_eq!(code(&app.gql_as(Some(&viewer), ME, json!({})).await), "UNAUTHENTICATED");
    assert_eq!(code(&app.gql_as(Some(&viewer), "mutation { logout }", json!({})).await), "UNAUTHENTICATED");
    // Only that session: the admin's still works, and vera can log in again.
    assert_eq!(app.ok(ME, json!({})).await["me"]["username"], ADMIN_USERNAME);
    let again = app.login("vera", "vera-password-1").await;
    assert_eq!(app.ok_as(Some(&again), ME, json!({})).await["me"]["username"], "vera");
}

#[tokio::test]
async fn a_revoked_api_key_is_unauthenticated() {
    let app = spawn_app().await;
    let m = app.merchant("Revoked").await;
    let (key, id, prefix) = create_key(&app, &m).await;
    let me = app.ok_as(Some(&key), ME, json!({})).await;
    assert_eq!(me["me"]["kind"], "MERCHANT");
    assert_eq!(me["me"]["merchantId"], m.as_str());
    assert_eq!(me["me"]["keyPrefix"], prefix.as_str());
    let revoked = app
        .ok(
            "mutation($id: ID!) { revokeApiKey(id: $id, idempotencyKey: \"revoke-1\") { apiKey { id revokedAt } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(!revoked["revokeApiKey"]["apiKey"]["revokedAt"].is_null(), "{revoked}");
    let after = app.gql_as(Some(&key), ME, json!({})).await;
    assert_eq!(code(&after), "UNAUTHENTICATED", "{after}");
    let write = app
        .gql_as(
            Some(&key),
            "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { replayed } }",
            json!({ "i": { "merchantId": m, "gross": { "amount": "1.00", "currency": "USD" }, "idempotencyKey": "after-revoke" } }),
        )
        .await;
    assert_eq!(code(&write), "UNAUTHENTICATED", "{write}");
    assert_eq!(app.count("transactions").await, 0);
    let keys = app.ok("query($m: ID!) { apiKeys(merchantId: $m) { id prefix revokedAt } }", json!({ "m": m })).await;
    let listed = keys["apiKeys"].as_array().expect("keys");
    assert!(listed.iter().any(|k| k["id"] == id.as_str() && !k["revokedAt"].is_null()), "{keys}");
    assert!(!keys.to_string().contains(&key), "the secret is never listed: {keys}");
}

#[tokio::test]
async fn a_rotated_api_key_replaces_the_old_one() {
    let app = spawn_app().await;
    let m = app.merchant("Rotated").await;
    let (old, id, old_prefix) = create_key(&app, &m).await;
    assert_eq!(app.ok_as(Some(&old), ME, json!({})).await["me"]["merchantId"], m.as_str());
    let rotated = app
        .ok(
            "mutation($id: ID!) { rotateApiKey(id: $id, idempotencyKey: \"rotate-1\") { key apiKey { id merchantId prefix revokedAt } } }",
            json!({ "id": id }),
        )
        .await;
    let new = rotated["rotateApiKey"]["key"].as_str().expect("new key").to_owned();
    let new_prefix = rotated["rotateApiKey"]["apiKey"]["prefix"].as_str().expect("prefix").to_owned();
    assert_ne!(new, old);
    assert_ne!(new_prefix, old_prefix);
    assert_key_shape(&new, &new_prefix);
    assert_eq!(rotated["rotateApiKey"]["apiKey"]["merchantId"], m.as_str());
    assert!(rotated["rotateApiKey"]["apiKey"]["revokedAt"].is_null());
    assert_eq!(code(&app.gql_as(Some(&old), ME, json!({})).await), "UNAUTHENTICATED", "the old key is refused");
    let me = app.ok_as(Some(&new), ME, json!({})).await;
    assert_eq!(me["me"]["merchantId"], m.as_str());
    assert_eq!(me["me"]["keyPrefix"], new_prefix.as_str());
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_after_five_even_the_right_one_is_rate_limited() {
    // The test harness raises the login limit for every other test; this one
    // runs with the server's default of 5 per username per minute.
    let app = spawn_app_with(&["--login-attempts-per-minute", "5"]).await;
    let login = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }";
    let wrong = app.gql_as(None, login, json!({ "u": ADMIN_USERNAME, "p": "not-the-password" })).await;
    assert_eq!(code(&wrong), "INVALID_CREDENTIALS", "{wrong}");
    assert!(wrong["data"].is_null() || wrong["data"]["login"].is_null(), "{wrong}");
    let unknown = app.gql_as(None, login, json!({ "u": "nobody", "p": "whatever-1" })).await;
    assert_eq!(code(&unknown), "INVALID_CREDENTIALS", "{unknown}");

    app.ok(
        "mutation($i: CreateStaffUserInput!) { createStaffUser(input: $i) { user { id } } }",
        json!({ "i": { "username": "carol", "password": "carol-password-1", "role": "SUPPORT", "idempotencyKey": "carol" } }),
    )
    .await;
    for attempt in 1..=5 {
        let body = app.gql_as(None, login, json!({ "u": "carol", "p": format!("guess-{attempt}") })).await;
        assert_eq!(code(&body), "INVALID_CREDENTIALS", "attempt {attempt}: {body}");
    }
    let right = app.gql_as(None, login, json!({ "u": "carol", "p": "carol-password-1" })).await;
    assert_eq!(code(&right), "RATE_LIMITED", "the sixth attempt, with the right password: {right}");
    assert!(right["data"].is_null() || right["data"]["login"].is_null(), "no session is issued: {right}");
    // The limit is per username: the admin still logs in.
    let admin = app.login(ADMIN_USERNAME, TEST_ADMIN_PASSWORD).await;
    assert!(!admin.is_empty());
}

// ---------------------------------------------------------------- HTTP

#[tokio::test]
async fn requests_are_rate_limited_per_api_key() {
    // Keys are made on an unlimited server, then a second server over the same
    // database limits to 1 request/s with a burst of 3.
    let setup = spawn_app().await;
    let a = setup.merchant("Busy").await;
    let b = setup.merchant("Quiet").await;
    let key_a = setup.merchant_key(&a).await;
    let key_b = setup.merchant_key(&b).await;
    let app =
        spawn_flags(Some(setup.database_url.clone()), &["--rate-limit-per-sec", "1", "--rate-limit-burst", "3"]).await;

    let mut responses = Vec::new();
    for _ in 0..10 {
        responses.push(post(&app, Some(&key_a), json!({ "query": ME })).await);
    }
    assert_eq!(responses[0].status, 200, "the first request is within the burst: {}", responses[0].body);
    assert_eq!(responses[0].body["data"]["me"]["merchantId"], a.as_str());
    let limited: Vec<&Raw> = responses.iter().filter(|r| r.status == 429).collect();
    assert!(
        !limited.is_empty(),
        "10 quick requests with burst 3 at 1/s: statuses {:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in &limited {
        assert!(r.headers.get("retry-after").is_some(), "a 429 carries retry-after: {:?}", r.headers);
        assert_eq!(code(&r.body), "RATE_LIMITED", "{}", r.body);
        assert!(r.request_id().is_some(), "a 429 carries x-request-id too");
    }
    // Another key has its own budget.
    let other = post(&app, Some(&key_b), json!({ "query": ME })).await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert_eq!(other.body["data"]["me"]["merchantId"], b.as_str());
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_app_with(&["--cors-origin", "https://console.example"]).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allow = |r: &reqwest::Response| {
        r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap_or("<not text>").to_owned())
    };
    let good = preflight("https://console.example").await.expect("send");
    assert_eq!(allow(&good).as_deref(), Some("https://console.example"), "{:?}", good.headers());
    let evil = preflight("https://evil.example").await.expect("send");
    assert_eq!(allow(&evil), None, "{:?}", evil.headers());
    // The actual request, too.
    let post_from = |origin: &'static str| {
        app.http
            .post(format!("{}/graphql", app.base))
            .header("origin", origin)
            .bearer_auth(&app.token)
            .json(&json!({ "query": ME }))
            .send()
    };
    let good = post_from("https://console.example").await.expect("send");
    assert_eq!(allow(&good).as_deref(), Some("https://console.example"));
    let evil = post_from("https://evil.example").await.expect("send");
    assert_eq!(allow(&evil), None);
    // No origin is allowed by default.
    let plain = spawn_app().await;
    let r = plain
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", plain.base))
        .header("origin", "https://console.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("send");
    assert_eq!(allow(&r), None, "no CORS without --cors-origin: {:?}", r.headers());
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (what, resp) in [
        ("healthz", raw(app.http.get(format!("{}/healthz", app.base)).send().await.expect("send")).await),
        ("404", raw(app.http.get(format!("{}/nope", app.base)).send().await.expect("send")).await),
        ("anonymous", post(&app, None, json!({ "query": ME })).await),
        ("admin", post(&app, Some(&app.token), json!({ "query": ME })).await),
        ("admin again", post(&app, Some(&app.token), json!({ "query": ME })).await),
        ("batch", post(&app, Some(&app.token), json!([{ "query": ME }])).await),
    ] {
        let id = resp.request_id().unwrap_or_else(|| panic!("{what} ({}) has no x-request-id", resp.status));
        assert!(!id.is_empty(), "{what}");
        ids.push(id);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "request ids are distinct: {ids:?}");
}

const RECORD: &str = "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { replayed transaction { id actor requestId idempotencyKey } } }";

#[tokio::test]
async fn a_transaction_records_its_actor_request_id_and_idempotency_key() {
    let app = spawn_app().await;
    let m = app.merchant("Traced").await;
    // Payments come from the card processing service's key (a merchant key may not record them).
    let created = app
        .ok(
            "mutation($i: CreateServiceKeyInput!) { createServiceKey(input: $i) { key apiKey { prefix } } }",
            json!({ "i": { "service": "card-processing", "scopes": ["payments:write"], "idempotencyKey": "trace-sk" } }),
        )
        .await;
    let key = created["createServiceKey"]["key"].as_str().expect("service key").to_owned();
    let prefix = created["createServiceKey"]["apiKey"]["prefix"].as_str().expect("prefix").to_owned();
    let input = |k: &str| json!({ "i": { "merchantId": m, "gross": { "amount": "4.00", "currency": "USD" }, "idempotencyKey": k } });
    let stored = "query($t: ID!) { transaction(id: $t) { actor requestId idempotencyKey } }";

    for (who, token, actor, idem) in [
        ("service key", key.as_str(), format!("service:card-processing:{prefix}"), "trace-key"),
        ("admin", app.token.as_str(), "staff:admin".to_owned(), "trace-admin"),
    ] {
        let r = post(&app, Some(token), json!({ "query": RECORD, "variables": input(idem) })).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        assert!(r.body.get("errors").is_none(), "{who}: {}", r.body);
        let rid = r.request_id().unwrap_or_else(|| panic!("{who}: no x-request-id"));
        let t = &r.body["data"]["recordPayment"]["transaction"];
        assert_eq!(t["actor"], actor.as_str(), "{who}: {t}");
        assert_eq!(t["requestId"], rid.as_str(), "{who}: {t}");
        assert_eq!(t["idempotencyKey"], idem, "{who}: {t}");
        // Stored so: read back later by the admin.
        let back = app.ok(stored, json!({ "t": t["id"] })).await;
        assert_eq!(back["transaction"]["actor"], actor.as_str());
        assert_eq!(back["transaction"]["requestId"], rid.as_str());
        assert_eq!(back["transaction"]["idempotencyKey"], idem);
        // A replay answers with the first transaction: its request id stays the first one's.
        let again = post(&app, Some(token), json!({ "query": RECORD, "variables": input(idem) })).await;
        assert_eq!(again.body["data"]["recordPayment"]["replayed"], true, "{who}: {}", again.body);
        assert_ne!(again.request_id().as_deref(), Some(rid.as_str()));
        assert_eq!(again.body["data"]["recordPayment"]["transaction"]["requestId"], rid.as_str(), "{who}");
    }
}

// ---------------------------------------------------------------- audit log

const AUDIT: &str = "query($first: Int, $after: String, $actor: String, $target: String) {
    auditLog(first: $first, after: $after, actor: $actor, target: $target) {
        edges { cursor node { id sequence at actor action targetType targetId merchantId reason result requestId } }
        pageInfo { hasNextPage endCursor } } }";

const REFUND: &str = "mutation($i: RefundPaymentInput!) { refundPayment(input: $i) { payment { id refunded { amount } } transaction { id actor } } }";
const REVERSE: &str = "mutation($id: ID!, $reason: String!, $k: String!) { reverseTransaction(transactionId: $id, reason: $reason, idempotencyKey: $k) { transaction { id actor } } }";

/// A merchant with a captured payment and a recorded payment, a support user
/// `sam` who refunds part of the payment and reverses the recorded one, then
/// tries to reverse it again; and a second merchant the admin writes to.
struct Audited {
    app: TestApp,
    m: String,
    other: String,
    payment: String,
    reversed: String,
    refund_request_id: String,
}

async fn audited() -> Audited {
    let app = spawn_app().await;
    let m = app.merchant("Audited").await;
    let other = app.merchant("Elsewhere").await;
    let auth = app
        .ok(
            "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }",
            json!({ "i": { "merchantId": m, "amount": { "amount": "10.00", "currency": "USD" }, "idempotencyKey": "auth" } }),
        )
        .await;
    let payment = auth["authorizePayment"]["payment"]["id"].as_str().expect("payment").to_owned();
    app.ok(
        "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { payment { id } } }",
        json!({ "i": { "paymentId": payment, "idempotencyKey": "cap" } }),
    )
    .await;
    let paid = app.pay(&m, "5.00", None, "USD", "pay").await;
    let reversed = paid["data"]["recordPayment"]["transaction"]["id"].as_str().expect("txn").to_owned();
    assert!(app.pay(&other, "3.00", None, "USD", "other-pay").await.get("errors").is_none());

    let sam = app.staff("sam", "SUPPORT").await;
    let refund = post(
        &app,
        Some(&sam),
        json!({ "query": REFUND, "variables": { "i": { "paymentId": payment, "amount": { "amount": "2.00", "currency": "USD" }, "reason": "customer asked", "idempotencyKey": "refund-1" } } }),
    )
    .await;
    assert!(refund.body.get("errors").is_none(), "{}", refund.body);
    assert_eq!(refund.body["data"]["refundPayment"]["transaction"]["actor"], "staff:sam");
    let refund_request_id = refund.request_id().expect("x-request-id");
    let rev =
        app.ok_as(Some(&sam), REVERSE, json!({ "id": reversed, "reason": "duplicate charge", "k": "rev-1" })).await;
    assert_eq!(rev["reverseTransaction"]["transaction"]["actor"], "staff:sam");
    let twice = app.gql_as(Some(&sam), REVERSE, json!({ "id": reversed, "reason": "again", "k": "rev-2" })).await;
    assert_eq!(code(&twice), "ALREADY_REVERSED", "{twice}");
    Audited { app, m, other, payment, reversed, refund_request_id }
}

fn nodes(data: &Value) -> Vec<Value> {
    data["auditLog"]["edges"].as_array().expect("edges").iter().map(|e| e["node"].clone()).collect()
}

fn position(rows: &[Value], action: &str, result: &str) -> usize {
    rows.iter()
        .position(|r| r["actor"] == "sam" && r["action"] == action && r["result"] == result)
        .unwrap_or_else(|| panic!("no audit row by sam for {action} with result {result}: {rows:#?}"))
}

#[tokio::test]
async fn staff_refunds_and_reversals_are_audited_with_who_why_and_result() {
    let w = audited().await;
    let viewer = w.app.staff("vic", "VIEWER").await;
    let rows = nodes(&w.app.ok_as(Some(&viewer), AUDIT, json!({ "first": 100 })).await);

    let refund = &rows[position(&rows, "refundPayment", "ok")];
    assert_eq!(refund["reason"], "customer asked", "{refund}");
    assert_eq!(refund["targetType"], "payment", "{refund}");
    assert_eq!(refund["targetId"], w.payment.as_str(), "{refund}");
    assert_eq!(refund["merchantId"], w.m.as_str(), "{refund}");
    assert_eq!(refund["requestId"], w.refund_request_id.as_str(), "{refund}");

    let reversal = &rows[position(&rows, "reverseTransaction", "ok")];
    assert_eq!(reversal["reason"], "duplicate charge", "{reversal}");
    assert_eq!(reversal["targetType"], "transaction", "{reversal}");
    assert_eq!(reversal["targetId"], w.reversed.as_str(), "{reversal}");
    assert_eq!(reversal["merchantId"], w.m.as_str(), "{reversal}");

    let refused = &rows[position(&rows, "reverseTransaction", "ALREADY_REVERSED")];
    assert_eq!(refused["reason"], "again", "{refused}");
    assert_eq!(refused["targetId"], w.reversed.as_str(), "{refused}");

    // Newest first.
    assert!(
        position(&rows, "reverseTransaction", "ALREADY_REVERSED") < position(&rows, "reverseTransaction", "ok")
            && position(&rows, "reverseTransaction", "ok") < position(&rows, "refundPayment", "ok"),
        "newest first: {rows:#?}"
    );
    let seqs: Vec<i64> = rows.iter().map(|r| r["sequence"].as_i64().expect("sequence")).collect();
    assert!(seqs.windows(2).all(|p| p[0] > p[1]), "sequences descend: {seqs:?}");

    // The admin reads the same log.
    let as_admin = nodes(&w.app.ok(AUDIT, json!({ "first": 100 })).await);
    assert_eq!(as_admin, rows);
}

#[tokio::test]
async fn the_audit_log_filters_by_actor_and_by_target() {
    let w = audited().await;
    let app = &w.app;

    let by_sam = nodes(&app.ok(AUDIT, json!({ "first": 100, "actor": "sam" })).await);
    assert!(by_sam.iter().all(|r| r["actor"] == "sam"), "{by_sam:#?}");
    position(&by_sam, "refundPayment", "ok");
    position(&by_sam, "reverseTransaction", "ok");
    position(&by_sam, "reverseTransaction", "ALREADY_REVERSED");

    let by_admin = nodes(&app.ok(AUDIT, json!({ "first": 100, "actor": ADMIN_USERNAME })).await);
    assert!(!by_admin.is_empty(), "the admin's own mutations are audited");
    assert!(by_admin.iter().all(|r| r["actor"] == ADMIN_USERNAME), "{by_admin:#?}");
    assert!(by_admin.iter().any(|r| r["action"] == "createStaffUser"), "{by_admin:#?}");

    let by_nobody = nodes(&app.ok(AUDIT, json!({ "first": 100, "actor": "nobody" })).await);
    assert!(by_nobody.is_empty(), "{by_nobody:#?}");

    let on_m = nodes(&app.ok(AUDIT, json!({ "first": 100, "target": w.m })).await);
    assert!(
        on_m.iter().all(|r| r["targetId"] == w.m.as_str() || r["merchantId"] == w.m.as_str()),
        "target filter: {on_m:#?}"
    );
    position(&on_m, "refundPayment", "ok");
    position(&on_m, "reverseTransaction", "ok");
    let on_other = nodes(&app.ok(AUDIT, json!({ "first": 100, "target": w.other })).await);
    assert!(!on_other.is_empty(), "the admin's writes on the other merchant are audited");
    assert!(
        on_other.iter().all(|r| r["targetId"] == w.other.as_str() || r["merchantId"] == w.other.as_str()),
        "{on_other:#?}"
    );
    assert!(on_other.iter().all(|r| r["actor"] != "sam"), "{on_other:#?}");
    let on_payment = nodes(&app.ok(AUDIT, json!({ "first": 100, "target": w.payment })).await);
    assert!(on_payment.iter().all(|r| r["targetId"] == w.payment.as_str()), "{on_payment:#?}");
    position(&on_payment, "refundPayment", "ok");

    // Pages follow on without overlap.
    let all = nodes(&app.ok(AUDIT, json!({ "first": 100 })).await);
    let first = app.ok(AUDIT, json!({ "first": 2 })).await;
    assert_eq!(first["auditLog"]["pageInfo"]["hasNextPage"], true, "{first}");
    let next = app.ok(AUDIT, json!({ "first": 2, "after": first["auditLog"]["pageInfo"]["endCursor"] })).await;
    let paged: Vec<Value> = nodes(&first).into_iter().chain(nodes(&next)).collect();
    assert_eq!(paged[..], all[..4]);
}

#[tokio::test]
async fn merchant_keys_cannot_read_the_audit_log() {
    let w = audited().await;
    let key = w.app.merchant_key(&w.m).await;
    let body = w.app.gql_as(Some(&key), AUDIT, json!({ "first": 10 })).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(!body.to_string().contains("customer asked"), "{body}");
    let filtered = w.app.gql_as(Some(&key), AUDIT, json!({ "first": 10, "target": w.m })).await;
    assert_eq!(code(&filtered), "FORBIDDEN", "{filtered}");
    let anonymous = w.app.gql_as(None, AUDIT, json!({ "first": 10 })).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
}

#[tokio::test]
async fn a_staff_refund_without_a_reason_is_refused() {
    let w = audited().await;
    let app = &w.app;
    let sam = app.login("sam", "sam-password-1").await;
    let refunded = "query($p: ID!) { payment(id: $p) { refunded { amount } } }";
    let before = app.ok(refunded, json!({ "p": w.payment })).await;
    let txns = app.count("transactions").await;
    let input = |k: &str| json!({ "i": { "paymentId": w.payment, "amount": { "amount": "1.00", "currency": "USD" }, "idempotencyKey": k } });

    let support = app.gql_as(Some(&sam), REFUND, input("no-reason-sam")).await;
    assert_eq!(code(&support), "REASON_REQUIRED", "support without reason: {support}");
    let admin = app.gql(REFUND, input("no-reason-admin")).await;
    assert_eq!(code(&admin), "REASON_REQUIRED", "admin (staff) without reason: {admin}");
    assert_eq!(app.count("transactions").await, txns, "nothing was written");
    assert_eq!(app.ok(refunded, json!({ "p": w.payment })).await, before);

    // Control: a merchant key may refund its own payment without a reason.
    let key = app.merchant_key(&w.m).await;
    let own = app.gql_as(Some(&key), REFUND, input("no-reason-key")).await;
    assert!(own.get("errors").is_none(), "a merchant key needs no reason: {own}");
    assert_eq!(app.count("transactions").await, txns + 1);
}
