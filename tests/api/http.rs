//! GraphQL over HTTP: methods, media types, malformed and oversized requests,
//! health probes, the committed SDL, what production mode hides
//! (introspection, GraphiQL, suggestions), the request rate limit per key,
//! CORS, and a request id on every response.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_USERNAME, ME, Raw, code, messages, spawn_app, spawn_app_with, spawn_flags};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let healthz = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
    let readyz = app.http.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(readyz.status(), 200);
    let missing = app.http.get(format!("{}/nope", app.base)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn malformed_graphql_gets_a_parse_error_code() {
    let app = spawn_app().await;
    let body = app.gql("{ merchant(id: ", json!({})).await;
    assert_eq!(code(&body), "GRAPHQL_PARSE_FAILED", "{body}");
    let body = app.gql("{ noSuchField }", json!({})).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    // With the GraphQL response media type, request errors are 400 (GraphQL over HTTP).
    let r = app
        .http
        .post(format!("{}/graphql", app.base))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ merchant(id: " }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A body that is not a GraphQL request at all.
    let r = app
        .http
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "BAD_REQUEST");
}

#[tokio::test]
async fn oversized_body_is_refused_with_413_and_writes_nothing() {
    let app = spawn_app().await;
    let m = app.merchant("Big").await;
    let huge = "x".repeat(ledger_server::http::MAX_REQUEST_BODY_BYTES + 1);
    let r = app
        .post_raw(None, json!({ "query": "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { replayed } }", "variables": { "i": {
            "merchantId": m, "gross": { "amount": "1.00", "currency": "USD" }, "externalRef": huge, "idempotencyKey": "big" } } }))
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(code(&r.body), "PAYLOAD_TOO_LARGE");
    assert_eq!(app.count("transactions").await, 0);
}

#[tokio::test]
async fn get_serves_queries_but_not_mutations_and_batches_are_refused() {
    let app = spawn_app().await;
    let r = app.get_query("{ assets { code } }").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["data"]["assets"].as_array().unwrap().iter().any(|a| a["code"] == "BRL"));
    let r =
        app.get_query("mutation { createMerchant(input: {name: \"x\", idempotencyKey: \"k\"}) { replayed } }").await;
    assert_eq!(r.status(), 405);
    assert_eq!(app.count("merchants").await, 1, "only the platform row exists");
    let r = app.post_raw(None, json!([{ "query": "{ assets { code } }" }, { "query": "{ assets { code } }" }])).await;
    assert_eq!(r.status, 400);
    assert_eq!(code(&r.body), "BATCH_NOT_SUPPORTED");
}

#[tokio::test]
async fn graphiql_is_served_to_a_browser() {
    let app = spawn_app().await;
    let r = app.http.get(format!("{}/graphiql", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().to_lowercase().contains("graphiql"));
    let r = app.http.get(format!("{}/graphql", app.base)).header("accept", "text/html").send().await.unwrap();
    assert!(r.text().await.unwrap().to_lowercase().contains("graphiql"));
}

#[test]
fn committed_schema_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../server/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let current = ledger_server::graphql::sdl();
    if std::env::var("UPDATE_SCHEMA").is_ok() {
        std::fs::write(path, &current).unwrap();
        return;
    }
    assert!(
        committed == current,
        "server/schema.graphql is stale; run `UPDATE_SCHEMA=1 cargo test -p ledger-tests committed_schema` and commit it"
    );
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

// ---------------------------------------------------------------- rate limits, CORS and request ids

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
        responses.push(app.post_raw(Some(&key_a), json!({ "query": ME })).await);
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
    let other = app.post_raw(Some(&key_b), json!({ "query": ME })).await;
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
        ("healthz", Raw::read(app.http.get(format!("{}/healthz", app.base)).send().await.expect("send")).await),
        ("404", Raw::read(app.http.get(format!("{}/nope", app.base)).send().await.expect("send")).await),
        ("anonymous", app.post_raw(None, json!({ "query": ME })).await),
        ("admin", app.post_raw(Some(&app.token), json!({ "query": ME })).await),
        ("admin again", app.post_raw(Some(&app.token), json!({ "query": ME })).await),
        ("batch", app.post_raw(Some(&app.token), json!([{ "query": ME }])).await),
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
