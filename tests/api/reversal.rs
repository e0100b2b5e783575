//! Reversals: restore balances, link both ways, happen at most once.

use serde_json::json;

use crate::helpers::{code, spawn_app, successes, txn_id};

const REVERSE: &str = "mutation($id: ID!, $reason: String!, $key: String!) { reverseTransaction(transactionId: $id, reason: $reason, idempotencyKey: $key) { replayed transaction { id kind metadata reverses { id reversedBy { id } } entries { direction amount { amount } } } } }";

#[tokio::test]
async fn reversal_restores_balances_and_links_to_the_original() {
    let app = spawn_app().await;
    let m = app.merchant("ShirtyPuff").await;
    app.pay(&m, "20.00", Some("2.00"), "USD", "keep").await;
    let sale_id = txn_id(&app.pay(&m, "25.00", Some("2.50"), "USD", "tshirt").await);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("40.50"));

    let rev = app.ok(REVERSE, json!({ "id": sale_id, "reason": "defective t-shirt", "key": "rev-1" })).await;
    let t = &rev["reverseTransaction"]["transaction"];
    assert_eq!(t["kind"], "REVERSAL");
    assert_eq!(t["reverses"]["id"], sale_id.as_str());
    assert_eq!(t["reverses"]["reversedBy"]["id"], t["id"]);
    assert_eq!(t["metadata"]["reason"], "defective t-shirt");
    assert_eq!(t["entries"][0]["direction"], "CREDIT", "the clearing debit is inverted");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("18.00"));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn reversal_is_rejected_when_already_reversed() {
    let app = spawn_app().await;
    let m = app.merchant("Twice").await;
    let id = txn_id(&app.pay(&m, "5.00", None, "USD", "s").await);
    let first = app.ok(REVERSE, json!({ "id": id, "reason": "oops", "key": "r1" })).await;
    let txns = app.count("transactions").await;
    let second = app.gql(REVERSE, json!({ "id": id, "reason": "oops again", "key": "r2" })).await;
    assert_eq!(code(&second), "ALREADY_REVERSED", "{second}");
    // Reversing the reversal is refused too: post a new transaction instead.
    let rev_id = first["reverseTransaction"]["transaction"]["id"].as_str().unwrap();
    let third = app.gql(REVERSE, json!({ "id": rev_id, "reason": "undo", "key": "r3" })).await;
    assert_eq!(code(&third), "ALREADY_REVERSED", "{third}");
    assert_eq!(app.count("transactions").await, txns);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("0.00"));
}

#[tokio::test]
async fn concurrent_reversals_of_one_transaction_reverse_it_once() {
    let app = std::sync::Arc::new(spawn_app().await);
    let m = app.merchant("Race").await;
    let id = txn_id(&app.pay(&m, "7.00", None, "USD", "s").await);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (app, id) = (app.clone(), id.clone());
            tokio::spawn(async move {
                app.gql(REVERSE, json!({ "id": id, "reason": "race", "key": format!("race-{i}") })).await
            })
        })
        .collect();
    assert_eq!(successes(tasks, "ALREADY_REVERSED").await, 1);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("0.00"));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn reversal_needs_a_reason_and_an_existing_transaction() {
    let app = spawn_app().await;
    let m = app.merchant("Reasons").await;
    let id = txn_id(&app.pay(&m, "5.00", None, "USD", "s").await);
    let no_reason = app.gql(REVERSE, json!({ "id": id, "reason": "  ", "key": "x1" })).await;
    assert_eq!(code(&no_reason), "REASON_REQUIRED");
    let missing = app.gql(REVERSE, json!({ "id": uuid::Uuid::now_v7().to_string(), "reason": "r", "key": "x2" })).await;
    assert_eq!(code(&missing), "NOT_FOUND");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("5.00"));
}
