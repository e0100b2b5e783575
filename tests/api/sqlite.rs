//! The embedded default: the same core flow on SQLite.

use serde_json::json;

use crate::helpers::{code, spawn_with};

#[tokio::test]
async fn core_flow_passes_on_sqlite() {
    let app = spawn_with(None).await;
    assert!(app.database_url.starts_with("sqlite:"));
    let m = app.merchant("ShirtyPuff").await;
    let sale = app.pay(&m, "25.00", Some("2.50"), "USD", "sale").await;
    let id = sale["data"]["recordPayment"]["transaction"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("22.50"));
    let replay = app.pay(&m, "25.00", Some("2.50"), "USD", "sale").await;
    assert_eq!(replay["data"]["recordPayment"]["replayed"], true);
    assert_eq!(code(&app.pay(&m, "26.00", None, "USD", "sale").await), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(code(&app.pay(&m, "1.001", None, "USD", "bad").await), "AMOUNT_PRECISION_EXCEEDED");
    let payout = "mutation($i: RecordPayoutInput!) { recordPayout(input: $i) { transaction { id } } }";
    let over = app.gql(payout, json!({ "i": { "merchantId": m, "amount": { "amount": "30.00", "currency": "USD" }, "idempotencyKey": "po" } })).await;
    assert_eq!(code(&over), "INSUFFICIENT_FUNDS");
    let reverse = "mutation($id: ID!) { reverseTransaction(transactionId: $id, reason: \"defective\", idempotencyKey: \"r\") { transaction { kind } } }";
    app.ok(reverse, json!({ "id": id })).await;
    assert_eq!(
        code(&app.gql(reverse.replace("\"r\"", "\"r2\"").as_str(), json!({ "id": id })).await),
        "ALREADY_REVERSED"
    );
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("0.00"));
    let transactions = app.count("transactions").await;
    assert!(sea_orm::ConnectionTrait::execute_unprepared(&app.db, "DELETE FROM entries").await.is_err());
    assert_eq!(app.count("transactions").await, transactions);
    app.assert_books_consistent().await;
}
