//! The embedded default: the same core flow on SQLite.

use serde_json::json;

use crate::helpers::{RECORD_PAYOUT, code, payout_input, spawn_with};

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
    let over = app.gql(RECORD_PAYOUT, payout_input(&m, "30.00", "po")).await;
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

#[tokio::test]
async fn live_events_work_on_sqlite_too() {
    // Arrange: the embedded default has no LISTEN/NOTIFY; its hub is woken by its own commits.
    let app = spawn_with(None).await;
    let m = app.merchant("Embedded Live").await;
    let client = crate::helpers::ws_client(&app.base, Some(&app.token)).await.expect("connected");
    let query =
        "subscription($m: ID!) { transactionPosted(merchantId: $m, afterSequence: 0) { sequence transactionId } }";
    let mut sub = client.subscribe(crate::helpers::Operation::new(query, json!({ "m": m }))).await.expect("subscribed");

    // Act
    let sale = app.pay(&m, "25.00", Some("2.50"), "USD", "live-sale").await;
    let refused = app.pay(&m, "1.001", None, "USD", "live-bad").await;
    let posted = std::time::Instant::now();
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), futures::StreamExt::next(&mut sub))
        .await
        .expect("in time")
        .expect("open")
        .expect("decoded");

    // Assert
    assert_eq!(event["data"]["transactionPosted"]["transactionId"], sale["data"]["recordPayment"]["transaction"]["id"]);
    assert!(posted.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(code(&refused), "AMOUNT_PRECISION_EXCEEDED");
    let feed = app.ok("{ events { sequence kind } }", json!({})).await;
    assert_eq!(feed["events"].as_array().map(Vec::len), Some(1), "the refused payment wrote no event: {feed}");
    assert_eq!(app.count("ledger_events").await, app.count("transactions").await);
}

#[tokio::test]
async fn monthly_rollups_work_on_sqlite_too() {
    use chrono::{Datelike, TimeZone, Utc};
    let app = spawn_with(None).await;
    let m = app.merchant("Corner Shop").await;
    let now = Utc::now();
    let (y, mo) = if now.month() == 1 { (now.year() - 1, 12) } else { (now.year(), now.month() - 1) };
    let last = format!("{y:04}-{mo:02}");
    app.ok(
        "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }",
        json!({ "i": { "merchantId": m, "gross": { "amount": "40.00", "currency": "USD" }, "fee": { "amount": "4.00", "currency": "USD" },
                "effectiveAt": Utc.with_ymd_and_hms(y, mo, 3, 9, 0, 0).unwrap(), "idempotencyKey": "last-month" } }),
    )
    .await;
    let closed = app.reports.close_due_months(now).await.expect("close on SQLite");
    assert_eq!(closed.iter().map(ToString::to_string).collect::<Vec<_>>(), vec![last.clone()]);
    let q = "query($m: String!) { monthlyRollup(month: $m) { closed lines { class capturedCount grossVolume { amount } fees { amount } } } }";
    let report = app.ok(q, json!({ "m": last })).await;
    assert_eq!(
        report["monthlyRollup"],
        json!({ "closed": true, "lines": [{ "class": "default", "capturedCount": 1, "grossVolume": { "amount": "40.00" }, "fees": { "amount": "4.00" } }] })
    );
    assert_eq!(code(&app.gql(q, json!({ "m": "2026-00" })).await), "BAD_USER_INPUT");
}
