//! `reversalPreview`: what `reverseTransaction` would post, computed by the same
//! code, writing nothing; and the one balance view (expired holds, the payout
//! reserve) read the same way by every field that shows a balance.

use serde_json::{Value, json};

use crate::helpers::{code, spawn_app, txn_id};

const PREVIEW: &str = "query($id: ID!) { reversalPreview(transactionId: $id) { transactionId entries { accountId accountCode platform normalBalance direction layer amount { amount currency } } } }";
const REVERSE: &str = "mutation($id: ID!, $k: String!) { reverseTransaction(transactionId: $id, reason: \"defective\", idempotencyKey: $k) { transaction { id entries { account { id code platform } direction layer amount { amount currency } } } } }";

/// The entries as `(account id, direction, layer, amount, currency)`, from a
/// preview or from a posted transaction.
fn planned(entries: &Value) -> Vec<(String, String, String, String, String)> {
    entries
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let account = e["accountId"].as_str().or_else(|| e["account"]["id"].as_str()).expect("account id");
            (
                account.to_owned(),
                e["direction"].as_str().expect("direction").to_owned(),
                e["layer"].as_str().expect("layer").to_owned(),
                e["amount"]["amount"].as_str().expect("amount").to_owned(),
                e["amount"]["currency"].as_str().expect("currency").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_preview_of_a_capture_is_exactly_what_its_reversal_posts() {
    // Arrange: a capture holds a release (the hold it consumed) and posted entries.
    let app = spawn_app().await;
    let m = app.merchant("Previewed").await;
    let payment = app.authorize(&m, "30.00", "auth").await;
    let capture = app.capture(&payment, Some("20.00"), "cap").await;
    let txns = app.count("transactions").await;

    // Act
    let preview = app.ok(PREVIEW, json!({ "id": capture })).await;
    let after_preview = app.count("transactions").await;
    let reversal = app.ok(REVERSE, json!({ "id": capture, "k": "rev" })).await;

    // Assert: the preview wrote nothing, and names every entry the reversal posted.
    assert_eq!(after_preview, txns, "a preview must write nothing");
    let shown = planned(&preview["reversalPreview"]["entries"]);
    let posted = planned(&reversal["reverseTransaction"]["transaction"]["entries"]);
    assert!(!shown.is_empty());
    assert_eq!(shown, posted, "preview {preview} differs from the reversal {reversal}");
    // Only the capture's posted entries are reversed: its release of the hold is not.
    assert!(shown.iter().all(|(_, _, layer, _, _)| layer == "POSTED"), "{shown:?}");
    assert_eq!(preview["reversalPreview"]["transactionId"], capture.as_str());
    let codes: Vec<&str> = preview["reversalPreview"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["accountCode"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"available"), "accounts are named by code, not only by id: {codes:?}");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn the_preview_of_an_authorization_releases_its_hold() {
    let app = spawn_app().await;
    let m = app.merchant("Held").await;
    let payment = app.authorize(&m, "9.00", "a").await;
    let steps = app.ok("query($p: ID!) { payment(id: $p) { transactions { id } } }", json!({ "p": payment })).await;
    let id = steps["payment"]["transactions"][0]["id"].as_str().unwrap().to_owned();

    let preview = app.ok(PREVIEW, json!({ "id": id })).await;
    let reversal = app.ok(REVERSE, json!({ "id": id, "k": "rev" })).await;

    let shown = planned(&preview["reversalPreview"]["entries"]);
    assert!(shown.iter().all(|(_, _, layer, _, _)| layer == "RELEASE"), "a hold is reversed by a release: {shown:?}");
    assert_eq!(shown, planned(&reversal["reverseTransaction"]["transaction"]["entries"]));
}

#[tokio::test]
async fn the_preview_of_a_plain_transfer_swaps_every_side() {
    let app = spawn_app().await;
    let m = app.merchant("Plain").await;
    let id = txn_id(&app.pay(&m, "12.00", Some("1.00"), "USD", "sale").await);

    let preview = app.ok(PREVIEW, json!({ "id": id })).await;
    let reversal = app.ok(REVERSE, json!({ "id": id, "k": "rev" })).await;

    assert_eq!(
        planned(&preview["reversalPreview"]["entries"]),
        planned(&reversal["reverseTransaction"]["transaction"]["entries"])
    );
}

#[tokio::test]
async fn a_preview_is_refused_as_the_reversal_would_be() {
    let app = spawn_app().await;
    let a = app.merchant("A").await;
    let id = txn_id(&app.pay(&a, "5.00", None, "USD", "s").await);
    app.ok(REVERSE, json!({ "id": id, "k": "rev" })).await;

    // Already reversed.
    let again = app.gql(PREVIEW, json!({ "id": id })).await;
    assert_eq!(code(&again), "ALREADY_REVERSED", "{again}");
    // Unknown, or malformed.
    let unknown = app.gql(PREVIEW, json!({ "id": uuid::Uuid::now_v7().to_string() })).await;
    assert_eq!(code(&unknown), "NOT_FOUND", "{unknown}");
    let malformed = app.gql(PREVIEW, json!({ "id": "not-a-uuid" })).await;
    assert_eq!(code(&malformed), "BAD_USER_INPUT", "{malformed}");
    // A merchant key may not ask (reversals are staff work).
    let key = app.merchant_key(&a).await;
    let other_id = txn_id(&app.pay(&a, "2.00", None, "USD", "t").await);
    let by_key = app.gql_as(Some(&key), PREVIEW, json!({ "id": other_id })).await;
    assert_eq!(code(&by_key), "FORBIDDEN", "{by_key}");
}

#[tokio::test]
async fn every_balance_field_applies_the_payout_reserve_the_same_way() {
    // Arrange: 50.00 available, a reserve of 20.00.
    let app = spawn_app().await;
    let m = app.merchant("Reserved").await;
    app.pay(&m, "50.00", None, "USD", "in").await;
    app.ok(
        "mutation($i: SetPayoutSettingsInput!) { setPayoutSettings(input: $i) { replayed } }",
        json!({ "i": { "merchantId": m, "asset": "USD", "reserve": "20.00", "idempotencyKey": "reserve" } }),
    )
    .await;

    // Act
    let read = app
        .ok(
            "query($m: ID!) { merchant(id: $m) { balances { asset available { amount } posted { amount } } accounts { code balance { available { amount } posted { amount } } } } }",
            json!({ "m": m }),
        )
        .await;

    // Assert: Merchant.balances and Account.balance agree: 50.00 posted, 30.00 available.
    let merchant = &read["merchant"];
    assert_eq!(merchant["balances"][0]["available"]["amount"], "30.00", "{read}");
    assert_eq!(merchant["balances"][0]["posted"]["amount"], "50.00");
    let available =
        merchant["accounts"].as_array().unwrap().iter().find(|a| a["code"] == "available").expect("available account");
    assert_eq!(available["balance"]["available"]["amount"], "30.00", "Account.balance must keep the reserve out too");
    assert_eq!(available["balance"]["posted"]["amount"], "50.00");
}

#[tokio::test]
async fn an_expired_hold_stops_counting_on_every_balance_field() {
    // Arrange: a hold of 8.00 that expires at once.
    let app = spawn_app().await;
    let m = app.merchant("Lapsed").await;
    app.pay(&m, "10.00", None, "USD", "in").await;
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(300)).to_rfc3339();
    app.ok(
        "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }",
        json!({ "i": { "merchantId": m, "amount": { "amount": "8.00", "currency": "USD" }, "expiresAt": soon, "idempotencyKey": "hold" } }),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;

    // Act
    let read = app
        .ok(
            "query($m: ID!) { merchant(id: $m) { balances { pending { amount } } accounts { code balance { pending { amount } creditsPending { amount } } } } }",
            json!({ "m": m }),
        )
        .await;

    // Assert: both say pending 10.00 (the expired 8.00 no longer counts).
    let merchant = &read["merchant"];
    assert_eq!(merchant["balances"][0]["pending"]["amount"], "10.00", "{read}");
    let available = merchant["accounts"].as_array().unwrap().iter().find(|a| a["code"] == "available").unwrap();
    assert_eq!(available["balance"]["pending"]["amount"], "10.00", "{read}");
    assert_eq!(available["balance"]["creditsPending"]["amount"], "0.00");
}
