//! Payouts: create, settle, fail, reserves, and exactly-once scheduled runs.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, spawn_app, spawn_app_with, spawn_flags, successes};

const FIELDS: &str = "payout { id state amount { amount } coversFromSequence coversToSequence coveredTransactions { kind } transactions { kind } } transaction { kind }";

async fn create(app: &TestApp, merchant: &str, key: &str) -> Value {
    let q = format!("mutation($i: CreatePayoutInput!) {{ createPayout(input: $i) {{ {FIELDS} }} }}");
    app.gql(&q, json!({ "i": { "merchantId": merchant, "asset": "USD", "idempotencyKey": key } })).await
}

async fn finish(app: &TestApp, mutation: &str, payout: &str, key: &str) -> Value {
    let q = format!("mutation($i: PayoutStepInput!) {{ {mutation}(input: $i) {{ {FIELDS} }} }}");
    app.gql(&q, json!({ "i": { "payoutId": payout, "idempotencyKey": key } })).await
}

#[tokio::test]
async fn payouts_move_available_into_transit_then_settle_or_fail() {
    let app = spawn_app().await;
    let m = app.merchant("Payee").await;
    assert_eq!(code(&create(&app, &m, "empty").await), "NOTHING_TO_PAY_OUT");
    app.pay(&m, "10.00", Some("1.00"), "USD", "p1").await;
    let p1 = create(&app, &m, "po1").await;
    let payout = &p1["data"]["createPayout"]["payout"];
    assert_eq!(payout["amount"]["amount"], "9.00", "{p1}");
    assert_eq!(payout["state"], "IN_TRANSIT");
    assert_eq!(payout["coveredTransactions"][0]["kind"], "PAYMENT");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("0.00"));
    let id = payout["id"].as_str().unwrap().to_owned();
    let settled = finish(&app, "settlePayout", &id, "s1").await;
    assert_eq!(settled["data"]["settlePayout"]["payout"]["state"], "SETTLED", "{settled}");
    assert_eq!(code(&finish(&app, "failPayout", &id, "f1").await), "PAYOUT_NOT_IN_TRANSIT");

    app.pay(&m, "5.00", None, "USD", "p2").await;
    let p2 = create(&app, &m, "po2").await;
    let payout2 = &p2["data"]["createPayout"]["payout"];
    assert!(payout2["coversFromSequence"].as_i64() > payout["coversToSequence"].as_i64(), "{p2}");
    let id2 = payout2["id"].as_str().unwrap().to_owned();
    let failed = finish(&app, "failPayout", &id2, "f2").await;
    assert_eq!(failed["data"]["failPayout"]["payout"]["state"], "FAILED");
    let kinds: Vec<&str> = failed["data"]["failPayout"]["payout"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["PAYOUT_CREATED", "PAYOUT_FAILED"]);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("5.00"));
    let list =
        app.ok("query($m: ID!) { payouts(merchantId: $m) { edges { node { state } } } }", json!({ "m": m })).await;
    assert_eq!(list["payouts"]["edges"].as_array().unwrap().len(), 2);
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn a_reserve_is_kept_back_and_not_shown_as_available() {
    let app = spawn_app().await;
    let m = app.merchant("Reserved").await;
    let set = "mutation($i: SetPayoutSettingsInput!) { setPayoutSettings(input: $i) { reserve { amount } schedule } }";
    let bad = app
        .gql(set, json!({ "i": { "merchantId": m, "asset": "USD", "reserve": "1.001", "idempotencyKey": "bad" } }))
        .await;
    assert_eq!(code(&bad), "AMOUNT_PRECISION_EXCEEDED");
    app.ok(set, json!({ "i": { "merchantId": m, "asset": "USD", "reserve": "2.00", "idempotencyKey": "r" } })).await;
    app.pay(&m, "10.00", None, "USD", "p").await;
    assert_eq!(app.balances(&m).await, vec![("USD".into(), "10.00".into(), "10.00".into(), "8.00".into())]);
    let p = create(&app, &m, "po").await;
    assert_eq!(p["data"]["createPayout"]["payout"]["amount"]["amount"], "8.00", "{p}");
    assert_eq!(code(&create(&app, &m, "po2").await), "NOTHING_TO_PAY_OUT");
    app.assert_books_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_payout_requests_make_one_payout() {
    let app = Arc::new(spawn_app().await);
    let m = app.merchant("Rushed").await;
    app.pay(&m, "10.00", None, "USD", "p").await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (app, m) = (app.clone(), m.clone());
            tokio::spawn(async move { create(&app, &m, &format!("po{i}")).await })
        })
        .collect();
    assert_eq!(successes(tasks, "NOTHING_TO_PAY_OUT").await, 1);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("0.00"));
    app.assert_books_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_instances_running_the_scheduler_make_one_payout_per_period() {
    let flags = ["--payout-interval-secs", "1"];
    let a = spawn_app_with(&flags).await;
    let b = spawn_flags(Some(a.database_url.clone()), &flags).await;
    let m = a.merchant("Scheduled").await;
    a.pay(&m, "10.00", None, "USD", "p").await;
    let set = "mutation($i: SetPayoutSettingsInput!) { setPayoutSettings(input: $i) { schedule } }";
    b.ok(set, json!({ "i": { "merchantId": m, "asset": "USD", "schedule": "DAILY", "idempotencyKey": "s" } })).await;
    let q = "query($m: ID!) { payouts(merchantId: $m) { edges { node { period amount { amount } } } } }";
    let mut payouts = Value::Null;
    for _ in 0..40 {
        payouts = a.ok(q, json!({ "m": m })).await;
        if !payouts["payouts"]["edges"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let both schedulers run a few more times.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let payouts_after = a.ok(q, json!({ "m": m })).await;
    let edges = payouts_after["payouts"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{payouts_after}");
    assert_eq!(edges[0]["node"]["amount"]["amount"], "10.00");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(edges[0]["node"]["period"], today.as_str(), "{payouts}");
    a.assert_books_consistent().await;
}
