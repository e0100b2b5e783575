//! `postTransactions`: many transactions in one request and one database
//! transaction, each posted or refused on its own, or all or nothing.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, spawn_app, transfer};

const BULK: &str = "mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { posted results { index transactionId replayed error { code message } } } }";

/// A merchant with 100.00 USD available and a `reserve` account.
async fn funded(app: &TestApp, name: &str) -> String {
    let m = app.merchant(name).await;
    app.open_reserve(&m, &format!("reserve-{m}")).await;
    let paid = app.pay(&m, "100.00", None, "USD", &format!("fund-{m}")).await;
    assert!(paid.get("errors").is_none(), "{paid}");
    m
}

fn codes(body: &Value) -> Vec<Option<String>> {
    body["data"]["postTransactions"]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {body}"))
        .iter()
        .map(|r| r["error"]["code"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_batch_posts_each_transaction_on_its_own_and_replays_as_a_whole() {
    // Arrange: A's items, one unbalanced, one on B's account, one a replay of a single post.
    let app = spawn_app().await;
    let a = funded(&app, "Bulk Alpha").await;
    let b = funded(&app, "Bulk Bravo").await;
    let b_account = app.ok("query($m: ID!) { merchant(id: $m) { accounts { id code } } }", json!({ "m": b })).await
        ["merchant"]["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|x| x["code"] == "available")
        .and_then(|x| x["id"].as_str())
        .expect("B's available")
        .to_owned();
    let single = app
        .ok(
            "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }",
            json!({ "i": transfer(&a, "1.00", "bulk-0") }),
        )
        .await;
    let mut unbalanced = transfer(&a, "2.00", "bulk-2");
    unbalanced["entries"][1]["amount"]["amount"] = json!("2.01");
    let mut foreign = transfer(&a, "3.00", "bulk-3");
    foreign["entries"][0] =
        json!({ "accountId": b_account, "direction": "DEBIT", "amount": { "amount": "3.00", "currency": "USD" } });
    let items = json!([
        transfer(&a, "1.00", "bulk-0"),
        transfer(&a, "1.50", "bulk-1"),
        unbalanced,
        foreign,
        transfer(&a, "4.00", "bulk-4")
    ]);
    let before = (app.count("transactions").await, app.count("ledger_events").await);

    // Act
    let body = app.gql(BULK, json!({ "i": { "transactions": items } })).await;
    let again = app.gql(BULK, json!({ "i": { "transactions": items } })).await;

    // Assert: the good ones posted (the first as a replay of the single post), the bad ones refused alone.
    assert_eq!(
        codes(&body),
        vec![
            None,
            None,
            Some("TRANSACTION_UNBALANCED".to_owned()),
            Some("ACCOUNT_OF_ANOTHER_MERCHANT".to_owned()),
            None
        ]
    );
    let results = &body["data"]["postTransactions"]["results"];
    assert_eq!(body["data"]["postTransactions"]["posted"], 3);
    assert_eq!(results[0]["replayed"], true);
    assert_eq!(results[0]["transactionId"], single["postTransaction"]["transaction"]["id"]);
    assert_eq!(results[1]["replayed"], false);
    assert_eq!(app.count("transactions").await, before.0 + 2, "two new transactions");
    assert_eq!(app.count("ledger_events").await, before.1 + 2, "one event each");
    assert_eq!(app.available(&a, "USD").await.as_deref(), Some("93.50"), "100 - 1.00 - 1.50 - 4.00");
    // Sent again, every posted item is a replay and nothing new is written.
    let again_results = again["data"]["postTransactions"]["results"].as_array().expect("results");
    assert!([0, 1, 4].iter().all(|&i| again_results[i]["replayed"] == true), "{again}");
    assert_eq!(app.count("transactions").await, before.0 + 2);
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn an_atomic_batch_writes_nothing_when_one_transaction_fails() {
    // Arrange
    let app = spawn_app().await;
    let a = funded(&app, "Bulk Atomic").await;
    let key_a = app.merchant_key(&a).await;
    let b = funded(&app, "Bulk Other").await;
    let before =
        (app.count("transactions").await, app.count("ledger_events").await, app.count("idempotency_keys").await);

    // Act: a runtime refusal (B's merchant, through A's key) and an edge refusal (unbalanced).
    let runtime = app
        .gql_as(
            Some(&key_a),
            BULK,
            json!({ "i": { "atomic": true, "transactions": [transfer(&a, "1.00", "atomic-0"), transfer(&b, "1.00", "atomic-1"), transfer(&a, "2.00", "atomic-2")] } }),
        )
        .await;
    let mut unbalanced = transfer(&a, "2.00", "atomic-4");
    unbalanced["entries"][1]["amount"]["amount"] = json!("2.01");
    let edge = app
        .gql(BULK, json!({ "i": { "atomic": true, "transactions": [transfer(&a, "1.00", "atomic-3"), unbalanced] } }))
        .await;
    let after =
        (app.count("transactions").await, app.count("ledger_events").await, app.count("idempotency_keys").await);
    let ok = app
        .gql(BULK, json!({ "i": { "atomic": true, "transactions": [transfer(&a, "1.00", "atomic-0"), transfer(&a, "2.00", "atomic-2")] } }))
        .await;

    // Assert: nothing of a failed atomic batch is written, not even its keys.
    assert_eq!(
        codes(&runtime),
        vec![Some("BATCH_ROLLED_BACK".to_owned()), Some("NOT_FOUND".to_owned()), Some("BATCH_ROLLED_BACK".to_owned())]
    );
    assert_eq!(runtime["data"]["postTransactions"]["posted"], 0);
    assert_eq!(codes(&edge), vec![Some("BATCH_ROLLED_BACK".to_owned()), Some("TRANSACTION_UNBALANCED".to_owned())]);
    assert_eq!(after, before, "no transaction, event or idempotency key of a failed atomic batch is kept");
    // The keys are free: the same good items post now.
    assert_eq!(codes(&ok), vec![None, None]);
    assert_eq!(app.available(&a, "USD").await.as_deref(), Some("97.00"));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn batch_size_and_caller_are_checked() {
    // Arrange
    let app = spawn_app().await;
    let a = funded(&app, "Bulk Limits").await;
    let viewer = app.staff("bulk_viewer", "VIEWER").await;
    let too_many: Vec<Value> = (0..501).map(|i| transfer(&a, "0.01", &format!("many-{i}"))).collect();

    // Act
    let empty = app.gql(BULK, json!({ "i": { "transactions": [] } })).await;
    let over = app.gql(BULK, json!({ "i": { "transactions": too_many } })).await;
    let forbidden =
        app.gql_as(Some(&viewer), BULK, json!({ "i": { "transactions": [transfer(&a, "1.00", "v-1")] } })).await;
    let anonymous = app.gql_as(None, BULK, json!({ "i": { "transactions": [transfer(&a, "1.00", "n-1")] } })).await;
    let full: Vec<Value> = (0..500).map(|i| transfer(&a, "0.01", &format!("full-{i}"))).collect();
    let most = app.gql(BULK, json!({ "i": { "transactions": full } })).await;

    // Assert
    assert_eq!(code(&empty), "BATCH_SIZE_INVALID");
    assert_eq!(code(&over), "BATCH_SIZE_INVALID");
    assert_eq!(code(&forbidden), "FORBIDDEN");
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
    assert_eq!(most["data"]["postTransactions"]["posted"], 500, "{most}");
    assert_eq!(app.available(&a, "USD").await.as_deref(), Some("95.00"));
    app.assert_books_consistent().await;
}
