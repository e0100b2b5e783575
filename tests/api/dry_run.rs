//! `dryRun: true` on every money mutation (issue 19), `postTransactions` included: the write path runs the
//! mutation in a database transaction it rolls back. For each kind the dry
//! run's entries equal those of the real posting that follows with the same
//! input and idempotency key, its balances after equal the real ones, and it
//! writes nothing and claims no key. A dry run the real write would refuse
//! answers the same error.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, paid_account, spawn_app};

/// What the tests read of a payload: the transaction's entries (naming their
/// account by code and side: an account the dry run opens gets its id only
/// when the real write opens it) and the balances after.
const PAYLOAD: &str = "transaction { kind entries { account { id code platform asset merchant { id } } direction layer amount { amount currency } } } \
    dryRun { balancesAfter { account { id code platform asset merchant { id } } balance { posted { amount } pending { amount } available { amount } } } }";

/// Rows of the tables a write touches.
async fn footprint(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in ["transactions", "entries", "idempotency_keys", "payments", "payouts", "ledger_events", "audit_log"] {
        counts.push(app.count(table).await);
    }
    counts.push(
        app.scalar("SELECT CAST(COALESCE(SUM(credits_posted + debits_pending), 0) AS BIGINT) FROM balances").await,
    );
    counts
}

/// The entries of a payload, their accounts named by code and side only.
fn entries(payload: &Value) -> Vec<Value> {
    let mut entries = payload["transaction"]["entries"].as_array().expect("entries").clone();
    for e in &mut entries {
        if let Some(account) = e["account"].as_object_mut() {
            account.remove("id");
        }
    }
    entries
}

/// The id of the account among a payload's entries that is `like` (an
/// account of another payload) but for its id.
fn account_id(payload: &Value, like: &Value) -> String {
    let same = |a: &Value| ["code", "platform", "asset", "merchant"].iter().all(|k| a[k] == like[k]);
    payload["transaction"]["entries"]
        .as_array()
        .and_then(|es| es.iter().find(|e| same(&e["account"])))
        .and_then(|e| e["account"]["id"].as_str())
        .unwrap_or_else(|| panic!("no account like {like} among {payload}"))
        .to_owned()
}

/// Runs `mutation` (a document taking `$i` and `$d: Boolean`, returning
/// [`PAYLOAD`] under `field`) as a dry run, checks that it changed nothing,
/// then for real with the same input and key; checks that both posted the
/// same entries and that the dry run's balances after are the real ones.
/// Returns the real payload.
async fn dry_then_real(app: &TestApp, field: &str, mutation: &str, input: Value) -> Value {
    let before = footprint(app).await;
    let dry = app.ok(mutation, json!({ "i": input, "d": true })).await[field].clone();
    assert_eq!(footprint(app).await, before, "{field}: a dry run writes nothing");
    assert!(!dry["dryRun"].is_null(), "{field}: a dry run says so: {dry}");
    let real = app.ok(mutation, json!({ "i": input, "d": false })).await[field].clone();
    assert!(real["dryRun"].is_null(), "{field}: a real write is no dry run");
    assert_ne!(footprint(app).await, before, "{field}: the real write wrote");
    assert_eq!(entries(&dry), entries(&real), "{field}: the dry run posts exactly what the real write posts");
    assert!(!entries(&dry).is_empty(), "{field}: {dry}");
    assert_eq!(real["transaction"]["kind"], dry["transaction"]["kind"]);
    for after in dry["dryRun"]["balancesAfter"].as_array().expect("balances") {
        let now = app
            .ok(
                "query($a: ID!) { account(id: $a) { balance { posted { amount } pending { amount } available { amount } } } }",
                json!({ "a": account_id(&real, &after["account"]) }),
            )
            .await;
        assert_eq!(
            now["account"]["balance"], after["balance"],
            "{field}: balances after, {}",
            after["account"]["code"]
        );
    }
    real
}

fn doc(name: &str, input: &str) -> String {
    format!("mutation($i: {input}!, $d: Boolean!) {{ {name}(input: $i, dryRun: $d) {{ {PAYLOAD} }} }}")
}

#[tokio::test]
async fn every_money_mutation_dry_runs_to_exactly_the_entries_it_then_posts() {
    let app = spawn_app().await;
    let m = app.merchant("Dry").await;
    // Real activity first, so every standard account exists.
    let paid = app.pay(&m, "100.00", Some("3.00"), "USD", "dry-seed").await;
    let available = paid_account(&paid, "available");

    // recordPayment
    let input = json!({ "merchantId": m, "gross": { "amount": "40.00", "currency": "USD" },
                        "fee": { "amount": "1.00", "currency": "USD" }, "idempotencyKey": "dry-pay" });
    dry_then_real(&app, "recordPayment", &doc("recordPayment", "RecordPaymentInput"), input).await;
    // postTransaction
    app.open_reserve(&m, "dry-reserve").await;
    let input = crate::helpers::transfer(&m, "5.00", "dry-post");
    dry_then_real(&app, "postTransaction", &doc("postTransaction", "PostTransactionInput"), input).await;
    // recordPayout
    let input = crate::helpers::payout_input(&m, "7.00", "dry-rpo")["i"].clone();
    dry_then_real(&app, "recordPayout", &doc("recordPayout", "RecordPayoutInput"), input).await;
    // authorizePayment, capturePayment, refundPayment, openDispute, resolveDispute
    let input =
        json!({ "merchantId": m, "amount": { "amount": "30.00", "currency": "USD" }, "idempotencyKey": "dry-auth" });
    let auth =
        doc("authorizePayment", "AuthorizePaymentInput").replace("transaction {", "payment { id } transaction {");
    let real = dry_then_real(&app, "authorizePayment", &auth, input).await;
    let payment = real["payment"]["id"].as_str().expect("payment").to_owned();
    let input = json!({ "paymentId": payment, "amount": { "amount": "25.00", "currency": "USD" }, "idempotencyKey": "dry-cap" });
    dry_then_real(&app, "capturePayment", &doc("capturePayment", "CapturePaymentInput"), input).await;
    let input = json!({ "paymentId": payment, "amount": { "amount": "5.00", "currency": "USD" }, "reason": "broken",
                        "idempotencyKey": "dry-ref" });
    dry_then_real(&app, "refundPayment", &doc("refundPayment", "RefundPaymentInput"), input).await;
    let input = json!({ "paymentId": payment, "idempotencyKey": "dry-dis" });
    dry_then_real(&app, "openDispute", &doc("openDispute", "OpenDisputeInput"), input).await;
    let input = json!({ "paymentId": payment, "outcome": "LOST", "reason": "fraud", "disputeFee": { "amount": "15.00", "currency": "USD" },
                        "idempotencyKey": "dry-res" });
    dry_then_real(&app, "resolveDispute", &doc("resolveDispute", "ResolveDisputeInput"), input).await;
    // voidAuthorization
    let held = app.authorize(&m, "8.00", "dry-auth-2").await;
    let input = json!({ "paymentId": held, "idempotencyKey": "dry-void" });
    dry_then_real(&app, "voidAuthorization", &doc("voidAuthorization", "VoidAuthorizationInput"), input).await;
    // createPayout, then settlePayout; a second payout fails.
    let input = json!({ "merchantId": m, "asset": "USD", "idempotencyKey": "dry-po" });
    let payout_doc = doc("createPayout", "CreatePayoutInput").replace("transaction {", "payout { id } transaction {");
    let real = dry_then_real(&app, "createPayout", &payout_doc, input).await;
    let payout = real["payout"]["id"].as_str().expect("payout").to_owned();
    let input = json!({ "payoutId": payout, "idempotencyKey": "dry-settle" });
    dry_then_real(&app, "settlePayout", &doc("settlePayout", "PayoutStepInput"), input).await;
    app.pay(&m, "12.00", None, "USD", "dry-seed-2").await;
    let second = app.create_payout(&m, "dry-po-2").await;
    let input = json!({ "payoutId": second, "idempotencyKey": "dry-fail" });
    dry_then_real(&app, "failPayout", &doc("failPayout", "PayoutStepInput"), input).await;
    // reverseTransaction (a plain transfer)
    let moved = app
        .ok(
            "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }",
            json!({ "i": crate::helpers::transfer(&m, "2.00", "dry-post-2") }),
        )
        .await["postTransaction"]["transaction"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let reverse = format!(
        "mutation($i: ID!, $d: Boolean!) {{ reverseTransaction(transactionId: $i, reason: \"typo\", \
           idempotencyKey: \"dry-rev\", dryRun: $d) {{ {PAYLOAD} }} }}"
    );
    dry_then_real(&app, "reverseTransaction", &reverse, json!(moved)).await;
    // recordDeal: goods against money between two merchants.
    let buyer = app.merchant("Dry Buyer").await;
    app.pay(&buyer, "50.00", None, "USD", "dry-buyer").await;
    let reg = app
        .gql(
            "mutation { registerAsset(input: { code: \"DRYWIDGET\", exponent: 0, idempotencyKey: \"dry-asset\" }) { asset { code } } }",
            json!({}),
        )
        .await;
    assert!(reg.get("errors").is_none(), "{reg}");
    app.stock(&m, "3", "DRYWIDGET", "dry-stock").await;
    let input = json!({ "sellerId": m, "buyerId": buyer, "buyerGives": [{ "amount": "9.00", "currency": "USD" }],
                        "sellerGives": [{ "amount": "1", "currency": "DRYWIDGET" }], "idempotencyKey": "dry-deal" });
    dry_then_real(&app, "recordDeal", &doc("recordDeal", "RecordDealInput"), input).await;

    // The books hold every real write once and nothing of the dry runs.
    app.assert_books_consistent().await;
    let _ = available;
}

#[tokio::test]
async fn a_dry_run_answers_the_error_the_write_would_raise_and_leaves_the_key_free() {
    // Arrange: a merchant with 10.00 available.
    let app = spawn_app().await;
    let m = app.merchant("Dry Refused").await;
    app.pay(&m, "10.00", None, "USD", "dr-seed").await;
    let payout = doc("recordPayout", "RecordPayoutInput");
    let before = footprint(&app).await;

    // Act: a dry run of a payout past the balance, then of one within it.
    let too_much = crate::helpers::payout_input(&m, "11.00", "dr-out")["i"].clone();
    let refused = app.gql(&payout, json!({ "i": too_much, "d": true })).await;
    let fits = crate::helpers::payout_input(&m, "4.00", "dr-out")["i"].clone();
    let dry = app.ok(&payout, json!({ "i": fits, "d": true })).await;

    // Assert: the real write's error; nothing written either time.
    assert_eq!(code(&refused), "INSUFFICIENT_FUNDS", "{refused}");
    assert_eq!(footprint(&app).await, before);
    let after = &dry["recordPayout"]["dryRun"]["balancesAfter"];
    let merchant_side = after.as_array().expect("balances").iter().find(|b| b["account"]["code"] == "available");
    assert_eq!(merchant_side.expect("available")["balance"]["available"]["amount"], "6.00", "{dry}");
    // The key was not claimed: another input under it is no reuse, and posts.
    let other = crate::helpers::payout_input(&m, "3.00", "dr-out")["i"].clone();
    let real = app.ok(&payout, json!({ "i": other, "d": false })).await;
    assert!(real["recordPayout"]["dryRun"].is_null());
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("7.00"));
    // A dry run after the key was used answers as the real request would: a
    // replay for the same input, IDEMPOTENCY_KEY_REUSED for another.
    let replay =
        app.ok(&payout, json!({ "i": crate::helpers::payout_input(&m, "3.00", "dr-out")["i"], "d": true })).await;
    assert_eq!(entries(&replay["recordPayout"]), entries(&real["recordPayout"]));
    let reused =
        app.gql(&payout, json!({ "i": crate::helpers::payout_input(&m, "1.00", "dr-out")["i"], "d": true })).await;
    assert_eq!(code(&reused), "IDEMPOTENCY_KEY_REUSED", "{reused}");
    // A merchant key's dry run shows its own accounts only, never the platform's.
    let key = app.merchant_key(&m).await;
    app.open_reserve(&m, "dr-res").await;
    let input = crate::helpers::transfer(&m, "1.00", "dr-own");
    let own =
        app.ok_as(Some(&key), &doc("postTransaction", "PostTransactionInput"), json!({ "i": input, "d": true })).await;
    for b in own["postTransaction"]["dryRun"]["balancesAfter"].as_array().expect("balances") {
        let code = b["account"]["code"].as_str().expect("code");
        assert!(code == "available" || code == "reserve", "the merchant's own accounts only: {own}");
    }
}

#[tokio::test]
async fn a_batch_dry_runs_to_the_results_the_real_batch_then_gives() {
    // Arrange: 10.00 available and a reserve account; a batch of three
    // transfers of which the last asks for more than is left.
    let app = spawn_app().await;
    let m = app.merchant("Dry Batch").await;
    app.pay(&m, "10.00", None, "USD", "db-seed").await;
    app.open_reserve(&m, "db-res").await;
    let items: Vec<Value> = [("4.00", "db-1"), ("5.00", "db-2"), ("3.00", "db-3")]
        .iter()
        .map(|(amount, key)| crate::helpers::transfer(&m, amount, key))
        .collect();
    let batch = "mutation($i: PostTransactionsInput!, $d: Boolean!) { postTransactions(input: $i, dryRun: $d) { \
        posted dryRun results { index replayed error { code } } } }";
    let before = footprint(&app).await;

    // Act: the batch dry, then for real; and an atomic one dry.
    let dry = app.ok(batch, json!({ "i": { "transactions": items }, "d": true })).await;
    let unchanged = footprint(&app).await;
    let atomic = app.ok(batch, json!({ "i": { "transactions": items, "atomic": true }, "d": true })).await;
    let real = app.ok(batch, json!({ "i": { "transactions": items }, "d": false })).await;

    // Assert: the same results item by item; nothing written by either dry run.
    assert_eq!(unchanged, before, "a dry batch writes nothing");
    assert_eq!(dry["postTransactions"]["results"], real["postTransactions"]["results"], "{dry} {real}");
    let refused = dry["postTransactions"]["results"][2]["error"]["code"].clone();
    assert!(refused == "INSUFFICIENT_FUNDS" || refused == "BALANCE_LIMIT_EXCEEDED", "{dry}");
    assert_eq!(
        (dry["postTransactions"]["posted"].clone(), dry["postTransactions"]["dryRun"].clone()),
        (json!(2), json!(true))
    );
    assert_eq!(real["postTransactions"]["dryRun"], false);
    let codes: Vec<Value> = atomic["postTransactions"]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["error"]["code"].clone())
        .collect();
    assert_eq!(codes, [json!("BATCH_ROLLED_BACK"), json!("BATCH_ROLLED_BACK"), refused]);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("1.00"), "only the real batch moved money");
    app.assert_books_consistent().await;
}
