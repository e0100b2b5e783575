//! Who may record which fact: a merchant key cannot create money (the issue's
//! 500,000.00 USD story), the platform's services record it with scoped
//! service keys, and service keys are listed, rotated and revoked like
//! merchant keys without ever showing their secret again.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, spawn_app, transfer_between};

const RECORD: &str =
    "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { replayed transaction { id actor } } }";
const PAYOUT: &str =
    "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { payout { id state amount { amount } } } }";
const ME: &str = "{ me { kind merchantId keyPrefix service scopes username } }";

/// A `recordPayment` input of `gross` USD for `merchant`.
fn payment(merchant: &str, gross: &str, key: &str) -> Value {
    json!({ "i": { "merchantId": merchant, "gross": { "amount": gross, "currency": "USD" }, "idempotencyKey": key } })
}

/// Row counts that a refused write must leave as they were.
async fn written(app: &TestApp) -> [i64; 5] {
    [
        app.count("transactions").await,
        app.count("entries").await,
        app.count("payouts").await,
        app.count("payments").await,
        app.count("idempotency_keys").await,
    ]
}

#[tokio::test]
async fn a_merchant_key_cannot_record_500k_it_never_received_nor_pay_it_out() {
    // Arrange: a new merchant with its own key, as a new user has.
    let app = spawn_app().await;
    let m = app.merchant("Mint Attempt").await;
    let key = app.merchant_key(&m).await;
    let before = written(&app).await;
    let balances = app.balances(&m).await;

    // Act: the story of the issue. First, money that never arrived...
    let minted = app.gql_as(Some(&key), RECORD, payment(&m, "500000.00", "mint-1")).await;
    // ...then a payout of it.
    let paid_out = app
        .gql_as(
            Some(&key),
            PAYOUT,
            json!({ "i": { "merchantId": m, "asset": "USD", "idempotencyKey": "mint-payout" } }),
        )
        .await;

    // Assert: refused, and nothing written.
    assert_eq!(code(&minted), "FORBIDDEN", "{minted}");
    assert!(minted["data"].is_null() || minted["data"]["recordPayment"].is_null(), "{minted}");
    assert_eq!(code(&paid_out), "NOTHING_TO_PAY_OUT", "{paid_out}");
    assert_eq!(written(&app).await, before, "a refused call wrote rows");
    assert_eq!(app.balances(&m).await, balances, "the merchant's balances moved");
    assert_eq!(app.available(&m, "USD").await, None, "no USD balance at all");

    // Nor through any other door that declares money arrived or left.
    let usd = |a: &str| json!({ "amount": a, "currency": "USD" });
    let doors = [
        (
            "authorizePayment",
            "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }",
            json!({ "merchantId": m, "amount": usd("500000.00"), "idempotencyKey": "mint-auth" }),
        ),
        (
            "recordPayout",
            "mutation($i: RecordPayoutInput!) { recordPayout(input: $i) { transaction { id } } }",
            json!({ "merchantId": m, "amount": usd("1.00"), "idempotencyKey": "mint-record-payout" }),
        ),
    ];
    for (field, q, input) in doors {
        let body = app.gql_as(Some(&key), q, json!({ "i": input })).await;
        assert_eq!(code(&body), "FORBIDDEN", "{field}: {body}");
    }
    assert_eq!(written(&app).await, before, "a refused call wrote rows");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn a_service_key_records_payments_only_with_the_payments_scope() {
    // Arrange: the card processing service's key, and a key of another
    // service holding every scope but `payments:write`.
    let app = spawn_app().await;
    let m = app.merchant("Card Shop").await;
    let psp = app.service_key("card-processing", &["payments:write"]).await;
    let other =
        app.service_key("back-office", &["disputes:write", "payouts:write", "transactions:write", "ledger:read"]).await;
    let before = written(&app).await;

    // Act
    let refused = app.gql_as(Some(&other), RECORD, payment(&m, "30.00", "sk-1")).await;
    let counted = written(&app).await;
    let recorded = app.gql_as(Some(&psp), RECORD, payment(&m, "30.00", "sk-1")).await;

    // Assert: without the scope, FORBIDDEN and nothing written (its key stays
    // free: the same key then records the payment with the right service key).
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    assert_eq!(counted, before, "a refused call wrote rows");
    assert!(recorded.get("errors").is_none(), "{recorded}");
    let t = &recorded["data"]["recordPayment"]["transaction"];
    assert!(t["actor"].as_str().is_some_and(|a| a.starts_with("service:card-processing:sk_")), "{t}");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("30.00"));
    // The merchant's own key may ask for the money the service recorded.
    let key = app.merchant_key(&m).await;
    let payout = app
        .ok_as(Some(&key), PAYOUT, json!({ "i": { "merchantId": m, "asset": "USD", "idempotencyKey": "sk-payout" } }))
        .await;
    assert_eq!(payout["createPayout"]["payout"]["state"], "IN_TRANSIT", "{payout}");
    assert_eq!(payout["createPayout"]["payout"]["amount"]["amount"], "30.00", "{payout}");
    // A payments key reads nothing: reads need `ledger:read`.
    let read = app.gql_as(Some(&psp), "query($m: ID!) { merchant(id: $m) { id } }", json!({ "m": m })).await;
    assert_eq!(code(&read), "FORBIDDEN", "{read}");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn service_keys_are_listed_rotated_and_revoked_with_their_scopes_and_never_their_secret() {
    // Arrange
    let app = spawn_app().await;
    let m = app.merchant("Listed").await;
    let created = app
        .ok(
            "mutation($i: CreateServiceKeyInput!) { createServiceKey(input: $i) {
                key replayed apiKey { id kind merchantId service scopes prefix name revokedAt } } }",
            json!({ "i": { "service": "bank", "scopes": ["payouts:write", "ledger:read"], "name": "bank EU",
                "idempotencyKey": "bank-1" } }),
        )
        .await;
    let new = &created["createServiceKey"];
    let secret = new["key"].as_str().expect("secret").to_owned();
    let id = new["apiKey"]["id"].as_str().expect("id").to_owned();
    let prefix = new["apiKey"]["prefix"].as_str().expect("prefix").to_owned();
    assert!(prefix.starts_with("sk_") && secret.starts_with(&format!("{prefix}_")), "{new}");
    assert_eq!(new["apiKey"]["kind"], "SERVICE");
    assert_eq!(new["apiKey"]["service"], "bank");
    assert_eq!(new["apiKey"]["scopes"], json!(["payouts:write", "ledger:read"]), "sorted in scope order");
    assert_eq!(new["apiKey"]["merchantId"], "00000000-0000-0000-0000-000000000000");

    // Act and assert: `me`, the listings, a rotation and a revocation.
    let me = app.ok_as(Some(&secret), ME, json!({})).await;
    assert_eq!(
        me["me"],
        json!({ "kind": "SERVICE", "merchantId": null, "keyPrefix": prefix, "service": "bank",
            "scopes": ["payouts:write", "ledger:read"], "username": null })
    );
    let listed = app.ok("{ serviceKeys { id prefix service scopes revokedAt } }", json!({})).await;
    assert_eq!(listed["serviceKeys"].as_array().map(Vec::len), Some(1), "{listed}");
    assert!(!listed.to_string().contains(&secret), "the secret is never listed: {listed}");
    let by_name = app.ok("{ serviceKeys(service: \"card-processing\") { id } }", json!({})).await;
    assert_eq!(by_name["serviceKeys"], json!([]));
    let platform_keys = app
        .ok("query($m: ID!) { apiKeys(merchantId: $m) { id } }", json!({ "m": "00000000-0000-0000-0000-000000000000" }))
        .await;
    assert_eq!(platform_keys["apiKeys"], json!([]), "apiKeys lists merchant keys only");

    let rotated = app
        .ok(
            "mutation($id: ID!) { rotateApiKey(id: $id, idempotencyKey: \"bank-rotate\") { key apiKey { id service scopes name prefix } } }",
            json!({ "id": id }),
        )
        .await;
    let r = &rotated["rotateApiKey"];
    let rotated_secret = r["key"].as_str().expect("new secret").to_owned();
    assert_eq!(r["apiKey"]["service"], "bank", "rotation keeps the service: {r}");
    assert_eq!(r["apiKey"]["scopes"], json!(["payouts:write", "ledger:read"]), "and the scopes: {r}");
    assert_eq!(r["apiKey"]["name"], "bank EU");
    assert!(r["apiKey"]["prefix"].as_str().is_some_and(|p| p.starts_with("sk_") && p != prefix), "{r}");
    assert_eq!(code(&app.gql_as(Some(&secret), ME, json!({})).await), "UNAUTHENTICATED", "the old key is refused");
    let balances = "query($m: ID!) { merchant(id: $m) { id } }";
    assert_eq!(app.ok_as(Some(&rotated_secret), balances, json!({ "m": m })).await["merchant"]["id"], m.as_str());

    let new_id = r["apiKey"]["id"].as_str().expect("id").to_owned();
    app.ok(
        "mutation($id: ID!) { revokeApiKey(id: $id, idempotencyKey: \"bank-revoke\") { apiKey { revokedAt } } }",
        json!({ "id": new_id }),
    )
    .await;
    assert_eq!(code(&app.gql_as(Some(&rotated_secret), ME, json!({})).await), "UNAUTHENTICATED");
}

#[tokio::test]
async fn bad_service_keys_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let keys = app.count("api_keys").await;
    let q = "mutation($i: CreateServiceKeyInput!) { createServiceKey(input: $i) { key } }";
    for (what, service, scopes) in [
        ("unknown scope", json!("bank"), json!(["payments:read"])),
        ("no scope", json!("bank"), json!([])),
        ("bad service name", json!("Bank:EU"), json!(["payouts:write"])),
    ] {
        let body = app.gql(q, json!({ "i": { "service": service, "scopes": scopes, "idempotencyKey": "bad" } })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{what}: {body}");
    }
    // Only an admin makes them; a service key cannot make itself another.
    let psp = app.service_key("card-processing", &["payments:write", "transactions:write", "ledger:read"]).await;
    let own = app
        .gql_as(
            Some(&psp),
            q,
            json!({ "i": { "service": "x", "scopes": ["payments:write"], "idempotencyKey": "self" } }),
        )
        .await;
    assert_eq!(code(&own), "FORBIDDEN", "{own}");
    assert_eq!(app.count("api_keys").await, keys + 1, "only the helper's key was written");
}

#[tokio::test]
async fn a_merchant_key_opens_only_credit_normal_accounts() {
    // Arrange
    let app = spawn_app().await;
    let m = app.merchant("Opener").await;
    let key = app.merchant_key(&m).await;
    let open = "mutation($i: OpenAccountInput!) { openAccount(input: $i) { account { id normalBalance } } }";
    let input = |normal: &str| json!({ "i": { "merchantId": m, "code": "float", "asset": "USD", "normalBalance": normal, "idempotencyKey": "open-float" } });
    let before = (app.count("accounts").await, app.count("idempotency_keys").await);

    // Act: a debit-normal account of its own would let it debit `float` and
    // credit `available` with money from nowhere.
    let debit = app.gql_as(Some(&key), open, input("DEBIT")).await;

    // Assert: refused with a clear error, nothing written, the key left free.
    assert_eq!(code(&debit), "DEBIT_ACCOUNT_NOT_ALLOWED", "{debit}");
    assert!(debit["errors"][0]["message"].as_str().is_some_and(|msg| msg.contains("credit-normal")), "{debit}");
    assert_eq!((app.count("accounts").await, app.count("idempotency_keys").await), before);
    let credit = app.ok_as(Some(&key), open, input("CREDIT")).await;
    assert_eq!(credit["openAccount"]["account"]["normalBalance"], "CREDIT", "{credit}");
    // Control: a service key with `transactions:write` may open a debit-normal one.
    let ops = app.service_key("ops", &["transactions:write"]).await;
    let mut other = input("DEBIT");
    other["i"]["code"] = json!("receivable");
    other["i"]["idempotencyKey"] = json!("open-receivable");
    let by_service = app.ok_as(Some(&ops), open, other).await;
    assert_eq!(by_service["openAccount"]["account"]["normalBalance"], "DEBIT", "{by_service}");
}

#[tokio::test]
async fn a_merchant_key_cannot_mint_by_overdrawing_its_own_account_and_paying_that_out() {
    // Arrange: a merchant key and an empty account of its own. Before balance
    // limits, debiting `reserve` below zero to credit `available` and then asking
    // for a payout was a second way to mint money.
    let app = spawn_app().await;
    let m = app.merchant("Overdraw Attempt").await;
    let key = app.merchant_key(&m).await;
    app.open_reserve_as(Some(&key), &m, "open-reserve").await;
    let before = written(&app).await;

    // Act: move 500,000.00 out of the empty reserve into available, then ask for a payout.
    let moved = app
        .gql_as(
            Some(&key),
            "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }",
            json!({ "i": transfer_between(&m, "reserve", "available", "500000.00", "overdraw") }),
        )
        .await;
    let paid_out = app
        .gql_as(
            Some(&key),
            PAYOUT,
            json!({ "i": { "merchantId": m, "asset": "USD", "idempotencyKey": "overdraw-payout" } }),
        )
        .await;

    // Assert: the merchant's own accounts default to a lower bound of zero.
    assert_eq!(code(&moved), "BALANCE_LIMIT_EXCEEDED", "{moved}");
    assert_eq!(moved["errors"][0]["extensions"]["account"]["code"], "reserve", "{moved}");
    assert_eq!(code(&paid_out), "NOTHING_TO_PAY_OUT", "{paid_out}");
    assert_eq!(written(&app).await, before, "a refused call wrote rows");
}
