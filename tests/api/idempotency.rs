//! Idempotency: replays return the first result; reuse with other input is refused;
//! concurrent duplicates write exactly once.

use std::sync::Arc;

use crate::helpers::{code, spawn_app};

#[tokio::test]
async fn sequential_replay_returns_the_first_result_and_writes_nothing() {
    let app = spawn_app().await;
    let m = app.merchant("Replay").await;
    let first = app.pay(&m, "9.99", Some("0.99"), "USD", "order-1:1").await;
    let txns = app.count("transactions").await;
    let again = app.pay(&m, "9.99", Some("0.99"), "USD", "order-1:1").await;
    assert_eq!(again["data"]["recordPayment"]["replayed"], true);
    assert_eq!(first["data"]["recordPayment"]["replayed"], false);
    assert_eq!(
        again["data"]["recordPayment"]["transaction"]["id"],
        first["data"]["recordPayment"]["transaction"]["id"]
    );
    assert_eq!(app.count("transactions").await, txns);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("9.00"));
}

#[tokio::test]
async fn key_reused_with_different_input_is_rejected() {
    let app = spawn_app().await;
    let m = app.merchant("Reuse").await;
    app.pay(&m, "9.99", None, "USD", "k").await;
    let txns = app.count("transactions").await;
    let other = app.pay(&m, "10.00", None, "USD", "k").await;
    assert_eq!(code(&other), "IDEMPOTENCY_KEY_REUSED", "{other}");
    assert_eq!(app.count("transactions").await, txns);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("9.99"));
}

#[tokio::test]
async fn refused_request_leaves_its_key_free() {
    let app = spawn_app().await;
    let m = app.merchant("Free").await;
    assert_eq!(code(&app.pay(&m, "1.001", None, "USD", "k").await), "AMOUNT_PRECISION_EXCEEDED");
    let ok = app.pay(&m, "1.00", None, "USD", "k").await;
    assert_eq!(ok["data"]["recordPayment"]["replayed"], false, "{ok}");
}

#[tokio::test]
async fn fifty_concurrent_identical_requests_make_exactly_one_transaction() {
    let app = Arc::new(spawn_app().await);
    let m = app.merchant("Storm").await;
    let before = app.count("transactions").await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, m) = (app.clone(), m.clone());
            tokio::spawn(async move { app.pay(&m, "3.00", None, "USD", "same-key").await })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    let mut fresh = 0;
    for t in tasks {
        let body = t.await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        ids.insert(body["data"]["recordPayment"]["transaction"]["id"].as_str().unwrap().to_owned());
        if body["data"]["recordPayment"]["replayed"] == false {
            fresh += 1;
        }
    }
    assert_eq!(ids.len(), 1, "all 50 answers name the same transaction");
    assert_eq!(fresh, 1, "exactly one answer is the original");
    assert_eq!(app.count("transactions").await, before + 1);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("3.00"));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn a_stored_result_that_no_longer_parses_is_an_internal_error_and_writes_nothing() {
    // Arrange: a payment, then its idempotency record's stored result garbled
    // in place, as a corrupt row would be.
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let m = app.merchant("Garbled").await;
    app.pay(&m, "4.00", None, "USD", "garbled-1").await;
    app.db
        .execute_unprepared("UPDATE idempotency_keys SET result = '\"not an outcome\"' WHERE key = 'garbled-1'")
        .await
        .expect("garble the record");
    let txns = app.count("transactions").await;

    // Act: the same request again, which would replay the stored result.
    let again = app.pay(&m, "4.00", None, "USD", "garbled-1").await;

    // Assert: a broken invariant, shown as an opaque internal error (not a
    // refusal the caller could act on, not a second payment).
    assert_eq!(code(&again), "INTERNAL_SERVER_ERROR", "{again}");
    assert_eq!(again["errors"][0]["message"], "internal server error", "{again}");
    assert_eq!(app.count("transactions").await, txns);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("4.00"));
}
