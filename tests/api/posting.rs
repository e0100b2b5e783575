//! Posting: balanced transactions, payments, payouts, multi-asset, bad input.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, snapshot_settings, spawn_app};

const POST: &str = "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id sequence entries { direction amount { amount currency } } } } }";

fn entry(code: &str, platform: bool, direction: &str, amount: &str, currency: &str) -> Value {
    json!({ "accountCode": code, "platform": platform, "direction": direction, "amount": { "amount": amount, "currency": currency } })
}

async fn post(app: &TestApp, merchant: &str, entries: Vec<Value>, key: &str) -> Value {
    app.gql(POST, json!({ "i": { "merchantId": merchant, "entries": entries, "idempotencyKey": key } })).await
}

/// Posts `amount` debited from the account `account_id` (by id) and credited
/// to the merchant's available account.
async fn post_from_account(
    app: &TestApp,
    merchant: &str,
    account_id: &str,
    amount: &str,
    currency: &str,
    key: &str,
) -> Value {
    let debit =
        json!({ "accountId": account_id, "direction": "DEBIT", "amount": { "amount": amount, "currency": currency } });
    post(app, merchant, vec![debit, entry("available", false, "CREDIT", amount, currency)], key).await
}

async fn ledger_counts(app: &TestApp) -> (i64, i64, i64) {
    (app.count("transactions").await, app.count("entries").await, app.count("idempotency_keys").await)
}

#[tokio::test]
async fn payment_credits_merchant_net_and_platform_fee() {
    let app = spawn_app().await;
    let m = app.merchant("ShirtyPuff").await;
    let body = app.pay(&m, "12.34", Some("0.34"), "USD", "p1").await;
    let entries = &body["data"]["recordPayment"]["transaction"]["entries"];
    assert_eq!(entries.as_array().map(Vec::len), Some(3), "{body}");
    assert_eq!(entries[0]["amount"]["amount"], "12.34");
    assert_eq!(app.balances(&m).await, vec![("USD".into(), "12.00".into(), "12.00".into(), "12.00".into())]);
    app.assert_books_consistent().await;
    // The whole transaction as the API answers it: which account each entry
    // hits, on which side, for how much.
    snapshot_settings().bind(|| insta::assert_json_snapshot!("payment_of_12_34_with_a_fee_of_0_34", body));
}

/// USD 10.00 and JPY 500 from the platform's clearing to the merchant's
/// `available`, the JPY credit being `jpy_credit` (not 500: unbalanced).
fn usd_and_jpy(jpy_credit: &str) -> Vec<Value> {
    vec![
        entry("processor_clearing", true, "DEBIT", "10.00", "USD"),
        entry("available", false, "CREDIT", "10.00", "USD"),
        entry("processor_clearing", true, "DEBIT", "500", "JPY"),
        entry("available", false, "CREDIT", jpy_credit, "JPY"),
    ]
}

#[tokio::test]
async fn transaction_balancing_per_asset_posts_in_several_assets() {
    let app = spawn_app().await;
    let m = app.merchant("Multi").await;
    let body = post(&app, &m, usd_and_jpy("500"), "multi").await;
    assert!(body.get("errors").is_none(), "{body}");
    let balances = app.balances(&m).await;
    assert!(balances.contains(&("JPY".into(), "500".into(), "500".into(), "500".into())), "{balances:?}");
    assert!(balances.contains(&("USD".into(), "10.00".into(), "10.00".into(), "10.00".into())), "{balances:?}");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn unbalanced_transaction_in_any_asset_is_rejected_and_writes_nothing() {
    let app = spawn_app().await;
    let m = app.merchant("Unbalanced").await;
    let before = ledger_counts(&app).await;
    let body = post(&app, &m, usd_and_jpy("499"), "unbalanced").await;
    assert_eq!(code(&body), "TRANSACTION_UNBALANCED", "{body}");
    assert_eq!(ledger_counts(&app).await, before);
    assert!(app.balances(&m).await.is_empty());
}

#[tokio::test]
async fn each_bad_input_gets_its_own_code_and_writes_nothing() {
    let app = spawn_app().await;
    let a = app.merchant("A").await;
    let b = app.merchant("B").await;
    // B's available account exists after one payment; A must not be able to use it.
    app.pay(&b, "5.00", None, "USD", "b-pay").await;
    // The platform's clearing account for A: A's transactions may post to it.
    let a_pay = app.pay(&a, "5.00", None, "USD", "a-pay").await;
    let clearing_usd =
        a_pay["data"]["recordPayment"]["transaction"]["entries"][0]["account"]["id"].as_str().unwrap().to_owned();
    let b_account = app.ok("query($id: ID!) { merchant(id: $id) { accounts { id code } } }", json!({ "id": b })).await
        ["merchant"]["accounts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = ledger_counts(&app).await;

    let cases: Vec<(&str, Value)> = vec![
        ("AMOUNT_NOT_POSITIVE", app.pay(&a, "0", None, "USD", "zero").await),
        ("AMOUNT_NOT_POSITIVE", app.pay(&a, "-1.00", None, "USD", "negative").await),
        ("AMOUNT_PRECISION_EXCEEDED", app.pay(&a, "1.001", None, "USD", "decimals").await),
        ("AMOUNT_PRECISION_EXCEEDED", app.pay(&a, "1.5", None, "JPY", "jpy-decimals").await),
        ("AMOUNT_MALFORMED", app.pay(&a, "1e3", None, "USD", "malformed").await),
        ("UNKNOWN_ASSET", app.pay(&a, "1.00", None, "XYZ", "unknown-asset").await),
        ("AMOUNT_OVERFLOW", app.pay(&a, "92233720368547758.08", None, "USD", "overflow").await),
        ("FEE_INVALID", app.pay(&a, "1.00", Some("1.01"), "USD", "fee").await),
        (
            "ACCOUNT_NOT_FOUND",
            post_from_account(&app, &a, &uuid::Uuid::now_v7().to_string(), "1.00", "USD", "unknown-account").await,
        ),
        ("ACCOUNT_OF_ANOTHER_MERCHANT", post_from_account(&app, &a, &b_account, "1.00", "USD", "other-merchant").await),
        ("ASSET_MISMATCH", post_from_account(&app, &a, &clearing_usd, "1", "JPY", "asset-mismatch").await),
        ("NOT_FOUND", app.pay(&uuid::Uuid::now_v7().to_string(), "1.00", None, "USD", "no-merchant").await),
        ("IDEMPOTENCY_KEY_INVALID", app.pay(&a, "1.00", None, "USD", "").await),
    ];
    for (expected, body) in &cases {
        assert_eq!(&code(body), expected, "{body}");
        assert!(body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(ledger_counts(&app).await, before, "a refused request wrote something");
    assert_eq!(app.available(&b, "USD").await.as_deref(), Some("5.00"));
    // The error shape a client sees for each bad input: code, message, path.
    let responses: Vec<Value> =
        cases.iter().map(|(expected, body)| json!({ "case": expected, "response": body })).collect();
    snapshot_settings().bind(|| insta::assert_json_snapshot!("bad_input_errors", responses));
}

#[tokio::test]
async fn balance_overflow_is_an_error_not_a_wrap() {
    let app = spawn_app().await;
    let m = app.merchant("Whale").await;
    let max = "92233720368547758.07";
    let first = app.pay(&m, max, None, "USD", "max-1").await;
    assert!(first.get("errors").is_none(), "{first}");
    let second = app.pay(&m, "0.01", None, "USD", "max-2").await;
    assert_eq!(code(&second), "AMOUNT_OVERFLOW", "{second}");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some(max));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn payout_cannot_overdraw_available() {
    let app = spawn_app().await;
    let m = app.merchant("Payee").await;
    app.pay(&m, "10.00", Some("1.00"), "USD", "pay").await;
    let payout = "mutation($i: RecordPayoutInput!) { recordPayout(input: $i) { transaction { kind } } }";
    let too_much = app
        .gql(payout, json!({ "i": { "merchantId": m, "amount": { "amount": "9.01", "currency": "USD" }, "idempotencyKey": "po-1" } }))
        .await;
    assert_eq!(code(&too_much), "INSUFFICIENT_FUNDS", "{too_much}");
    let ok = app
        .ok(payout, json!({ "i": { "merchantId": m, "amount": { "amount": "9.00", "currency": "USD" }, "idempotencyKey": "po-2" } }))
        .await;
    assert_eq!(ok["recordPayout"]["transaction"]["kind"], "PAYOUT");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("0.00"));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn custom_assets_are_registered_with_their_exponent() {
    let app = spawn_app().await;
    let reg = "mutation($i: RegisterAssetInput!) { registerAsset(input: $i) { asset { code exponent iso4217 } } }";
    let sword = app.ok(reg, json!({ "i": { "code": "SWORD", "exponent": 0, "idempotencyKey": "sword" } })).await;
    assert_eq!(sword["registerAsset"]["asset"]["exponent"], 0);
    let dup = app.gql(reg, json!({ "i": { "code": "USD", "exponent": 2, "idempotencyKey": "usd" } })).await;
    assert_eq!(code(&dup), "ASSET_ALREADY_EXISTS");
    let bad = app.gql(reg, json!({ "i": { "code": "sword", "exponent": 0, "idempotencyKey": "bad" } })).await;
    assert_eq!(code(&bad), "ASSET_INVALID");
    let m = app.merchant("Smith").await;
    assert!(app.pay(&m, "3", None, "SWORD", "swords").await.get("errors").is_none());
    assert_eq!(code(&app.pay(&m, "1.5", None, "SWORD", "half-sword").await), "AMOUNT_PRECISION_EXCEEDED");
    assert_eq!(app.available(&m, "SWORD").await.as_deref(), Some("3"));
}

#[tokio::test]
async fn balances_as_of_a_past_sequence_or_time() {
    let app = spawn_app().await;
    let m = app.merchant("History").await;
    let first = app.pay(&m, "10.00", None, "USD", "h1").await;
    let seq = first["data"]["recordPayment"]["transaction"]["sequence"].as_i64().unwrap();
    app.pay(&m, "5.00", None, "USD", "h2").await;
    let q =
        "query($id: ID!, $at: BalanceAsOf) { merchant(id: $id) { balances(asOf: $at) { asset posted { amount } } } }";
    let then = app.ok(q, json!({ "id": m, "at": { "sequence": seq } })).await;
    assert_eq!(then["merchant"]["balances"][0]["posted"]["amount"], "10.00");
    let now = app.ok(q, json!({ "id": m, "at": null })).await;
    assert_eq!(now["merchant"]["balances"][0]["posted"]["amount"], "15.00");
    let before_all = app.ok(q, json!({ "id": m, "at": { "time": "2000-01-01T00:00:00Z" } })).await;
    assert_eq!(before_all["merchant"]["balances"][0]["posted"]["amount"], "0.00");
    let both = app.gql(q, json!({ "id": m, "at": { "sequence": 1, "time": "2000-01-01T00:00:00Z" } })).await;
    assert!(both.get("errors").is_some(), "oneOf input must refuse two choices: {both}");
}

#[tokio::test]
async fn database_refuses_update_or_delete_of_posted_rows() {
    let app = spawn_app().await;
    let m = app.merchant("Immutable").await;
    app.pay(&m, "1.00", None, "USD", "imm").await;
    for sql in [
        "UPDATE entries SET amount = amount + 1",
        "DELETE FROM entries",
        "UPDATE transactions SET kind = 'payout'",
        "DELETE FROM transactions",
        "TRUNCATE entries",
    ] {
        let res = app.db.execute_unprepared(sql).await;
        assert!(res.is_err(), "`{sql}` was allowed");
    }
    assert_eq!(app.count("entries").await, 2, "a payment without fee has two entries");
    app.assert_books_consistent().await;
}
