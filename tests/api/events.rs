//! The event feed (`events` query) and the outbox behind it: one event per
//! committed transaction, carrying the balances the transaction left; each
//! merchant's feed gap-free in its journal's order, the whole feed in position
//! order; each merchant sees only its own.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{RECORD_PAYOUT, TestApp, code, payout_input, spawn_app, txn_id};

const FEED: &str = "query($after: Int, $p: String, $m: ID, $first: Int) { events(after: $after, afterPosition: $p, merchantId: $m, first: $first) { id sequence position type version kind merchantId transactionId entries { accountCode platform direction amount { amount currency } } balances { sequence merchantId accountCode asset balance { posted { amount } } } json } }";

async fn feed(app: &TestApp, token: &str, vars: Value) -> Value {
    app.gql_as(Some(token), FEED, vars).await
}

fn events(body: &Value) -> Vec<Value> {
    body["data"]["events"].as_array().unwrap_or_else(|| panic!("no events: {body}")).clone()
}

#[tokio::test]
async fn the_event_feed_is_gap_free_ordered_and_shows_each_merchant_only_its_own() {
    // Arrange: payments for A and B, a reversal for A, and a refused payout.
    let app = spawn_app().await;
    let a = app.merchant("Feed Alpha").await;
    let b = app.merchant("Feed Bravo").await;
    let key_a = app.merchant_key(&a).await;
    for i in 0..3 {
        app.pay(&a, "10.00", Some("1.00"), "USD", &format!("feed-a-{i}")).await;
    }
    let paid_b = app.pay(&b, "20.00", Some("2.00"), "USD", "feed-b-0").await;
    let t = txn_id(&app.pay(&a, "5.00", None, "USD", "feed-a-rev").await);
    app.ok(
        "mutation($t: ID!) { reverseTransaction(transactionId: $t, reason: \"defective\", idempotencyKey: \"feed-rev\") { transaction { id } } }",
        json!({ "t": t }),
    )
    .await;
    let refused = app.gql(RECORD_PAYOUT, payout_input(&a, "1000.00", "feed-payout")).await;
    assert_eq!(code(&refused), "INSUFFICIENT_FUNDS");

    // Act
    // The whole feed is read below the cluster's visibility watermark: other
    // tests' open transactions may hold the last events back a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut all = events(&feed(&app, &app.token, json!({ "first": 50 })).await);
    while all.len() < 6 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        all = events(&feed(&app, &app.token, json!({ "first": 50 })).await);
    }
    let own = events(&feed(&app, &key_a, json!({ "first": 50 })).await);
    let page = events(&feed(&app, &app.token, json!({ "p": all[1]["position"], "first": 2 })).await);
    let own_page = events(&feed(&app, &key_a, json!({ "after": 2, "first": 2 })).await);
    let other = feed(&app, &key_a, json!({ "m": b })).await;

    // Assert: one event per committed transaction, each merchant's numbered
    // 1, 2, 3… in its own journal, the whole feed in commit order; the
    // refused payout wrote none.
    let numbered: Vec<(String, i64)> = all
        .iter()
        .map(|e| (e["merchantId"].as_str().expect("merchant").to_owned(), e["sequence"].as_i64().expect("seq")))
        .collect();
    let (ka, kb) = (a.clone(), b.clone());
    assert_eq!(numbered, vec![(ka.clone(), 1), (ka.clone(), 2), (ka.clone(), 3), (kb, 1), (ka.clone(), 4), (ka, 5)]);
    assert_eq!(app.count("ledger_events").await, app.count("transactions").await);
    assert_eq!(all[4]["kind"], "PAYMENT");
    assert_eq!(all[5]["kind"], "REVERSAL");
    assert_eq!(all[3]["transactionId"], paid_b["data"]["recordPayment"]["transaction"]["id"]);
    assert!(all.iter().all(|e| e["type"] == "transaction.posted" && e["version"] == 2 && e["json"]["version"] == 2));
    // Staff see the platform's balances too; the payment's entries are all there.
    assert!(all[0]["balances"].as_array().expect("balances").iter().any(|b| b["accountCode"] == "fee_revenue"));
    assert_eq!(all[0]["entries"].as_array().expect("entries").len(), 3);
    // A's key: only A's events, only A's balances, the running balance after each.
    let own_seqs: Vec<i64> = own.iter().map(|e| e["sequence"].as_i64().expect("seq")).collect();
    assert_eq!(own_seqs, vec![1, 2, 3, 4, 5]);
    for e in &own {
        assert_eq!(e["merchantId"], a.as_str());
        for bal in e["balances"].as_array().expect("balances") {
            assert_eq!(bal["merchantId"], a.as_str(), "a merchant sees no platform balance: {e}");
        }
        assert!(e["json"]["balances"].as_array().expect("json").iter().all(|b| b["ownerId"] == a.as_str()));
    }
    let posted: Vec<&str> =
        own.iter().map(|e| e["balances"][0]["balance"]["posted"]["amount"].as_str().expect("amount")).collect();
    assert_eq!(posted, vec!["9.00", "18.00", "27.00", "32.00", "27.00"]);
    assert_eq!(app.available(&a, "USD").await.as_deref(), Some("27.00"));
    // Paging: the whole feed by position, a merchant's by its numbers.
    let ids = |events: &[Value]| events.iter().map(|e| e["transactionId"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&page), ids(&all[2..4]));
    assert_eq!(own_page.iter().map(|e| e["sequence"].as_i64().expect("seq")).collect::<Vec<_>>(), vec![3, 4]);
    // Another merchant's feed is NOT_FOUND, like one that does not exist.
    assert_eq!(code(&other), "NOT_FOUND", "{other}");
}

#[tokio::test]
async fn bad_feed_arguments_are_refused_and_the_outbox_is_append_only() {
    // Arrange
    let app = spawn_app().await;
    let a = app.merchant("Feed Rules").await;
    app.pay(&a, "1.00", None, "USD", "feed-rules").await;

    // Act
    let negative = feed(&app, &app.token, json!({ "after": -1 })).await;
    let huge = app.gql("{ events(first: 1000) { sequence } }", json!({})).await;
    let anonymous = app.gql_as(None, FEED, json!({})).await;
    let update = app.db.execute_unprepared("UPDATE ledger_events SET kind = 'payout'").await;
    let delete = app.db.execute_unprepared("DELETE FROM ledger_events").await;

    // Assert
    assert_eq!(code(&negative), "BAD_USER_INPUT");
    assert_eq!(code(&huge), "BAD_USER_INPUT");
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
    assert!(update.is_err_and(|e| e.to_string().contains("append-only")));
    assert!(delete.is_err_and(|e| e.to_string().contains("append-only")));
    assert_eq!(app.count("ledger_events").await, 1);
}
