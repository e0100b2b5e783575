//! GraphQL over HTTP: methods, media types, malformed and oversized requests,
//! health probes, and the committed SDL.

use serde_json::{Value, json};

use crate::helpers::{code, spawn_app};

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
        .http
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { replayed } }", "variables": { "i": {
            "merchantId": m, "gross": { "amount": "1.00", "currency": "USD" }, "externalRef": huge, "idempotencyKey": "big" } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "PAYLOAD_TOO_LARGE");
    assert_eq!(app.count("transactions").await, 0);
}

#[tokio::test]
async fn get_serves_queries_but_not_mutations_and_batches_are_refused() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/graphql", app.base))
        .bearer_auth(&app.token)
        .query(&[("query", "{ assets { code } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["data"]["assets"].as_array().unwrap().iter().any(|a| a["code"] == "BRL"));
    let r = app
        .http
        .get(format!("{}/graphql", app.base))
        .bearer_auth(&app.token)
        .query(&[("query", "mutation { createMerchant(input: {name: \"x\", idempotencyKey: \"k\"}) { replayed } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(app.count("merchants").await, 1, "only the platform row exists");
    let r = app
        .http
        .post(format!("{}/graphql", app.base))
        .json(&json!([{ "query": "{ assets { code } }" }, { "query": "{ assets { code } }" }]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "BATCH_NOT_SUPPORTED");
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

#[tokio::test]
async fn deep_queries_are_refused() {
    let app = spawn_app().await;
    let deep = "{ merchants { edges { node { transactions { edges { node { entries { account { merchant { transactions { edges { node { id } } } } } } } } } } } } }";
    let body = app.gql(deep, json!({})).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
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
