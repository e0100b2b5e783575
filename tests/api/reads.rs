//! The read path: nested fields load in batches (DataLoader), not one query per
//! row, and still show a merchant key nothing of anyone else.

use std::sync::atomic::Ordering;

use serde_json::json;

use crate::helpers::{TestApp, code, spawn_app};

const NESTED: &str = "query($m: ID!) { merchant(id: $m) { transactions(first: 40) { edges { node { id merchant { name } entries { amount { amount } account { code merchant { name } } } } } } } }";

/// Statements the server ran for one request (background jobs may add a few).
async fn statements_for(app: &TestApp, token: &str, merchant: &str) -> (u64, serde_json::Value) {
    let before = app.queries.load(Ordering::SeqCst);
    let body = app.gql_as(Some(token), NESTED, json!({ "m": merchant })).await;
    (app.queries.load(Ordering::SeqCst) - before, body)
}

#[tokio::test]
async fn forty_transactions_with_entries_and_accounts_take_a_handful_of_queries() {
    // Arrange: 40 payments, 3 entries each, on 3 accounts of 2 owners.
    let app = spawn_app().await;
    let m = app.merchant("Reads Alpha").await;
    for i in 0..40 {
        app.pay(&m, "2.00", Some("0.20"), "USD", &format!("reads-{i}")).await;
    }

    // Act
    let (statements, body) = statements_for(&app, &app.token, &m).await;

    // Assert: 40 transactions, 120 entries, 120 account lookups and 160 merchant
    // lookups would be over 300 statements one by one; batched, a few per level.
    let edges = body["data"]["merchant"]["transactions"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 40, "{body}");
    assert!(edges.iter().all(|e| e["node"]["entries"].as_array().is_some_and(|x| x.len() == 3)));
    assert_eq!(edges[0]["node"]["entries"][1]["account"]["merchant"]["name"], "Reads Alpha");
    assert!(statements <= 25, "nested fields ran {statements} statements; they should load in batches");
}

#[tokio::test]
async fn batched_loads_still_hide_the_platform_and_other_merchants_from_a_key() {
    // Arrange
    let app = spawn_app().await;
    let a = app.merchant("Reads Key").await;
    let b = app.merchant("Reads Other").await;
    let key_a = app.merchant_key(&a).await;
    app.pay(&a, "5.00", Some("0.50"), "USD", "reads-key-1").await;
    app.pay(&b, "5.00", Some("0.50"), "USD", "reads-key-2").await;

    // Act
    let (_, own) = statements_for(&app, &key_a, &a).await;
    let (_, other) = statements_for(&app, &key_a, &b).await;

    // Assert: the platform's accounts answer null to a merchant key; B is NOT_FOUND.
    let entries = own["data"]["merchant"]["transactions"]["edges"][0]["node"]["entries"].as_array().expect("entries");
    let codes: Vec<&serde_json::Value> = entries.iter().map(|e| &e["account"]).collect();
    assert_eq!(codes.iter().filter(|a| a.is_null()).count(), 2, "processor_clearing and fee_revenue hidden: {own}");
    assert!(codes.iter().any(|a| a["code"] == "available"));
    assert_eq!(code(&other), "NOT_FOUND");
}
