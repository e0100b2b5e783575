//! Deals in goods between merchants, and reversing a defective one.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, spawn_app};

const DEAL: &str = "mutation($i: RecordDealInput!) { recordDeal(input: $i) { transaction { id kind counterparty { name } entries { direction amount { amount currency } } } } }";

fn holding(balances: &[(String, String, String, String)], asset: &str) -> String {
    balances.iter().find(|b| b.0 == asset).map(|b| b.1.clone()).unwrap_or_else(|| "none".into())
}

async fn deal(app: &TestApp, seller: &str, buyer: &str, price: &str, items: &str, key: &str) -> Value {
    app.gql(
        DEAL,
        json!({ "i": { "sellerId": seller, "buyerId": buyer, "idempotencyKey": key,
            "buyerGives": [{ "amount": price, "currency": "USD" }],
            "sellerGives": [{ "amount": items, "currency": "STAFF" }] } }),
    )
    .await
}

/// A server with the STAFF asset (exponent 0), a smith named `smith_name`
/// holding `staves` STAFF and a merchant "Hero" holding `cash` USD:
/// `(app, smith, hero)`.
async fn smith_and_hero(smith_name: &str, staves: &str, cash: &str) -> (TestApp, String, String) {
    let app = spawn_app().await;
    app.ok(
        "mutation { registerAsset(input: {code: \"STAFF\", exponent: 0, idempotencyKey: \"staff\"}) { asset { code } } }",
        json!({}),
    )
    .await;
    let smith = app.merchant(smith_name).await;
    let hero = app.merchant("Hero").await;
    app.stock(&smith, staves, "STAFF", "stock").await;
    app.pay(&hero, cash, None, "USD", "hero-cash").await;
    (app, smith, hero)
}

#[tokio::test]
async fn a_defective_staff_deal_is_reversed_and_money_and_item_return() {
    let (app, smith, hero) = smith_and_hero("Staff Smith", "3", "50.00").await;
    let (smith_before, hero_before) = (app.balances(&smith).await, app.balances(&hero).await);

    let d = deal(&app, &smith, &hero, "30.00", "1", "deal-1").await;
    let t = &d["data"]["recordDeal"]["transaction"];
    assert_eq!(t["kind"], "DEAL", "{d}");
    assert_eq!(t["counterparty"]["name"], "Hero");
    let (smith_after, hero_after) = (app.balances(&smith).await, app.balances(&hero).await);
    assert_eq!((holding(&smith_after, "STAFF"), holding(&smith_after, "USD")), ("2".into(), "30.00".into()));
    assert_eq!((holding(&hero_after, "STAFF"), holding(&hero_after, "USD")), ("1".into(), "20.00".into()));
    app.assert_books_consistent().await;

    let rev = app
        .ok(
            "mutation($id: ID!) { reverseTransaction(transactionId: $id, reason: \"defective staff\", idempotencyKey: \"rev\") { transaction { kind } } }",
            json!({ "id": t["id"] }),
        )
        .await;
    assert_eq!(rev["reverseTransaction"]["transaction"]["kind"], "REVERSAL");
    let (smith_end, hero_end) = (app.balances(&smith).await, app.balances(&hero).await);
    assert_eq!(holding(&smith_end, "STAFF"), holding(&smith_before, "STAFF"));
    assert_eq!(holding(&hero_end, "USD"), holding(&hero_before, "USD"));
    assert_eq!(holding(&hero_end, "STAFF"), "0");
    assert_eq!(holding(&smith_end, "USD"), "0.00");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn deals_cannot_give_what_a_side_does_not_hold() {
    let (app, smith, hero) = smith_and_hero("Smith", "1", "10.00").await;
    let txns = app.count("transactions").await;
    assert_eq!(code(&deal(&app, &smith, &hero, "30.00", "1", "broke").await), "INSUFFICIENT_FUNDS");
    assert_eq!(code(&deal(&app, &smith, &hero, "5.00", "2", "no-stock").await), "INSUFFICIENT_FUNDS");
    assert_eq!(code(&deal(&app, &smith, &smith, "5.00", "1", "self").await), "BAD_USER_INPUT");
    assert_eq!(code(&deal(&app, &smith, &hero, "5.00", "0.5", "half").await), "AMOUNT_PRECISION_EXCEEDED");
    assert_eq!(app.count("transactions").await, txns);
    assert!(deal(&app, &smith, &hero, "10.00", "1", "ok").await.get("errors").is_none());
    app.assert_books_consistent().await;
}
