//! The payment life cycle: authorize, capture, void, expire, fees.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    RECORD_PAYOUT, TestApp, code, payout_input, snapshot_settings, spawn_app, spawn_app_with, successes,
};

const PAYMENT_FIELDS: &str = "payment { id state authorized { amount } captured { amount } fee { amount } pending { amount } voided { amount } transactions { kind } } transaction { kind entries { layer direction amount { amount } account { code } } }";

async fn authorize(app: &TestApp, merchant: &str, amount: &str, key: &str, expires_at: Option<&str>) -> Value {
    let q = format!("mutation($i: AuthorizePaymentInput!) {{ authorizePayment(input: $i) {{ {PAYMENT_FIELDS} }} }}");
    app.gql(
        &q,
        json!({ "i": { "merchantId": merchant, "amount": { "amount": amount, "currency": "USD" }, "expiresAt": expires_at, "idempotencyKey": key } }),
    )
    .await
}

async fn capture(app: &TestApp, payment: &str, amount: Option<&str>, key: &str) -> Value {
    let q = format!("mutation($i: CapturePaymentInput!) {{ capturePayment(input: $i) {{ {PAYMENT_FIELDS} }} }}");
    let amount = amount.map(|a| json!({ "amount": a, "currency": "USD" }));
    app.gql(&q, json!({ "i": { "paymentId": payment, "amount": amount, "idempotencyKey": key } })).await
}

async fn void(app: &TestApp, payment: &str, key: &str) -> Value {
    let q = format!("mutation($i: VoidAuthorizationInput!) {{ voidAuthorization(input: $i) {{ {PAYMENT_FIELDS} }} }}");
    app.gql(&q, json!({ "i": { "paymentId": payment, "idempotencyKey": key } })).await
}

fn payment_id(body: &Value) -> String {
    body["data"]["authorizePayment"]["payment"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no payment: {body}"))
        .to_owned()
}

#[tokio::test]
async fn authorize_raises_pending_and_partial_captures_post_it() {
    let app = spawn_app().await;
    let m = app.merchant("Shop").await;
    let auth = authorize(&app, &m, "10.00", "a1", None).await;
    let p = payment_id(&auth);
    assert_eq!(auth["data"]["authorizePayment"]["payment"]["state"], "AUTHORIZED");
    assert_eq!(app.balances(&m).await, vec![("USD".into(), "0.00".into(), "10.00".into(), "0.00".into())]);

    let c1 = capture(&app, &p, Some("4.00"), "c1").await;
    assert_eq!(c1["data"]["capturePayment"]["payment"]["state"], "PARTIALLY_CAPTURED", "{c1}");
    assert_eq!(app.balances(&m).await, vec![("USD".into(), "4.00".into(), "10.00".into(), "4.00".into())]);
    let over = capture(&app, &p, Some("6.01"), "c2").await;
    assert_eq!(code(&over), "CAPTURE_EXCEEDS_AUTHORIZATION", "{over}");
    let c2 = capture(&app, &p, None, "c3").await;
    let pay = &c2["data"]["capturePayment"]["payment"];
    assert_eq!(pay["state"], "CAPTURED");
    assert_eq!(pay["captured"]["amount"], "10.00");
    let kinds: Vec<&str> =
        pay["transactions"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["AUTHORIZATION", "CAPTURE", "CAPTURE"]);
    assert_eq!(app.balances(&m).await, vec![("USD".into(), "10.00".into(), "10.00".into(), "10.00".into())]);
    assert_eq!(code(&capture(&app, &p, None, "c4").await), "CAPTURE_EXCEEDS_AUTHORIZATION");
    assert_eq!(code(&void(&app, &p, "v1").await), "NOTHING_TO_VOID");
    app.assert_books_consistent().await;
    // The life cycle as the API answers each step: states, amounts, and the
    // entries each step posts on which layer.
    let steps = json!({ "1 authorize 10.00": auth, "2 capture 4.00": c1, "3 capture 6.01 more": over, "4 capture the rest": c2 });
    snapshot_settings().bind(|| insta::assert_json_snapshot!("authorize_10_then_capture_4_and_the_rest", steps));
}

#[tokio::test]
async fn capture_after_void_and_double_void_are_refused() {
    let app = spawn_app().await;
    let m = app.merchant("Voider").await;
    let p = payment_id(&authorize(&app, &m, "5.00", "a", None).await);
    capture(&app, &p, Some("2.00"), "c").await;
    let v = void(&app, &p, "v").await;
    assert_eq!(v["data"]["voidAuthorization"]["payment"]["voided"]["amount"], "3.00", "{v}");
    assert_eq!(v["data"]["voidAuthorization"]["payment"]["state"], "CAPTURED");
    assert_eq!(code(&capture(&app, &p, Some("1.00"), "c2").await), "AUTHORIZATION_VOIDED");
    assert_eq!(code(&void(&app, &p, "v2").await), "ALREADY_VOIDED");
    // The void's replay is still answered with the first result.
    let again = void(&app, &p, "v").await;
    assert!(again.get("errors").is_none(), "{again}");
    assert_eq!(again["data"]["voidAuthorization"]["transaction"]["kind"], "VOID");
    assert_eq!(app.balances(&m).await, vec![("USD".into(), "2.00".into(), "2.00".into(), "2.00".into())]);
    let p2 = payment_id(&authorize(&app, &m, "1.00", "a2", None).await);
    let v2 = void(&app, &p2, "v3").await;
    assert_eq!(v2["data"]["voidAuthorization"]["payment"]["state"], "VOIDED");
    assert_eq!(code(&capture(&app, &p2, None, "c3").await), "AUTHORIZATION_VOIDED");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn expired_holds_leave_pending_at_once_and_the_sweeper_releases_them() {
    let app = spawn_app_with(&["--sweep-interval-secs", "1"]).await;
    let m = app.merchant("Lapsed").await;
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(4)).to_rfc3339();
    let p = payment_id(&authorize(&app, &m, "8.00", "a", Some(&expires)).await);
    assert_eq!(app.balances(&m).await[0].2, "8.00");
    tokio::time::sleep(Duration::from_millis(4300)).await;
    assert_eq!(code(&capture(&app, &p, None, "late").await), "AUTHORIZATION_EXPIRED");
    assert_eq!(app.balances(&m).await[0].2, "0.00", "an expired hold never shows as pending");
    let account = app
        .ok(
            "query($m: ID!) { merchant(id: $m) { accounts { code balance { pending { amount } } } } }",
            json!({ "m": m }),
        )
        .await;
    let available =
        account["merchant"]["accounts"].as_array().unwrap().iter().find(|a| a["code"] == "available").cloned().unwrap();
    assert_eq!(available["balance"]["pending"]["amount"], "0.00", "nor on the account itself");
    // Within a few sweeps the release is written to the books.
    let q = "query($id: ID!) { payment(id: $id) { state voided { amount } transactions { kind } } }";
    let mut swept = Value::Null;
    for _ in 0..50 {
        swept = app.ok(q, json!({ "id": p })).await;
        if swept["payment"]["voided"]["amount"] == "8.00" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(swept["payment"]["voided"]["amount"], "8.00", "{swept}");
    assert_eq!(swept["payment"]["state"], "EXPIRED");
    assert_eq!(swept["payment"]["transactions"][1]["kind"], "EXPIRY");
    assert_eq!(code(&void(&app, &p, "v").await), "ALREADY_VOIDED");
    let past = authorize(&app, &m, "1.00", "past", Some("2000-01-01T00:00:00Z")).await;
    assert_eq!(code(&past), "AUTHORIZATION_EXPIRED");
    app.assert_books_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_captures_never_exceed_the_authorization() {
    let app = Arc::new(spawn_app().await);
    let m = app.merchant("Racer").await;
    let p = payment_id(&authorize(&app, &m, "10.00", "a", None).await);
    let tasks: Vec<_> = (0..25)
        .map(|i| {
            let (app, p) = (app.clone(), p.clone());
            tokio::spawn(async move { capture(&app, &p, Some("1.00"), &format!("c{i}")).await })
        })
        .collect();
    assert_eq!(successes(tasks, "CAPTURE_EXCEEDS_AUTHORIZATION").await, 10);
    let pay = app.ok("query($id: ID!) { payment(id: $id) { captured { amount } state } }", json!({ "id": p })).await;
    assert_eq!(pay["payment"]["captured"]["amount"], "10.00");
    assert_eq!(app.balances(&m).await, vec![("USD".into(), "10.00".into(), "10.00".into(), "10.00".into())]);
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn fee_schedule_splits_captures_exactly() {
    let app = spawn_app().await;
    let m = app.merchant("Feed").await;
    let set =
        "mutation($i: SetFeeScheduleInput!) { setFeeSchedule(input: $i) { percentBps fixed { amount currency } } }";
    let bad = app
        .gql(set, json!({ "i": { "merchantId": m, "asset": "USD", "percentBps": 10001, "idempotencyKey": "bad" } }))
        .await;
    assert_eq!(code(&bad), "FEE_INVALID");
    let ok = app
        .ok(set, json!({ "i": { "merchantId": m, "asset": "USD", "percentBps": 290, "fixed": "0.30", "idempotencyKey": "fees" } }))
        .await;
    assert_eq!(ok["setFeeSchedule"]["fixed"]["amount"], "0.30");
    let p = payment_id(&authorize(&app, &m, "10.00", "a", None).await);
    let c = capture(&app, &p, None, "c").await;
    assert_eq!(c["data"]["capturePayment"]["payment"]["fee"]["amount"], "0.59", "{c}");
    let posted: Vec<(String, String)> = c["data"]["capturePayment"]["transaction"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["layer"] == "POSTED")
        .map(|e| {
            (e["account"]["code"].as_str().unwrap().to_owned(), e["amount"]["amount"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(posted.contains(&("available".into(), "9.41".into())), "{posted:?}");
    assert!(posted.contains(&("fee_revenue".into(), "0.59".into())), "{posted:?}");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("9.41"));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn reversing_a_payment_step_updates_the_payment() {
    let app = spawn_app().await;
    let m = app.merchant("Steps").await;
    let reverse = |id: String, key: &'static str| {
        let app = &app;
        async move {
            app.gql(
                "mutation($id: ID!, $k: String!) { reverseTransaction(transactionId: $id, reason: \"support\", idempotencyKey: $k) { transaction { kind payment { state captured { amount } voided { amount } refunded { amount } } } } }",
                json!({ "id": id, "k": key }),
            )
            .await
        }
    };
    let txn_ids = |body: &Value| -> Vec<String> {
        body["payment"]["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let txns_q = "query($id: ID!) { payment(id: $id) { transactions { id kind } } }";

    // Undo a capture: the money leaves available and is no longer captured.
    let p = payment_id(&authorize(&app, &m, "3.00", "a", None).await);
    capture(&app, &p, None, "c").await;
    let ids = txn_ids(&app.ok(txns_q, json!({ "id": p })).await);
    let undo = reverse(ids[1].clone(), "r1").await;
    let pay = &undo["data"]["reverseTransaction"]["transaction"]["payment"];
    assert_eq!(pay["captured"]["amount"], "0.00", "{undo}");
    assert_eq!(pay["state"], "VOIDED");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("0.00"));

    // Undo a refund; a capture whose money was refunded cannot be undone.
    let p2 = payment_id(&authorize(&app, &m, "5.00", "a2", None).await);
    capture(&app, &p2, None, "c2").await;
    step(
        &app,
        "refundPayment",
        "RefundPaymentInput",
        json!({ "paymentId": p2, "reason": "test refund", "idempotencyKey": "rf" }),
    )
    .await;
    let ids2 = txn_ids(&app.ok(txns_q, json!({ "id": p2 })).await);
    assert_eq!(code(&reverse(ids2[1].clone(), "r2").await), "PAYMENT_STEP_NOT_REVERSIBLE");
    let undo_refund = reverse(ids2[2].clone(), "r3").await;
    assert_eq!(
        undo_refund["data"]["reverseTransaction"]["transaction"]["payment"]["state"], "CAPTURED",
        "{undo_refund}"
    );
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("5.00"));

    // Undo a void: the rest is held again and can be captured.
    let p3 = payment_id(&authorize(&app, &m, "2.00", "a3", None).await);
    void(&app, &p3, "v3").await;
    let ids3 = txn_ids(&app.ok(txns_q, json!({ "id": p3 })).await);
    let undo_void = reverse(ids3[1].clone(), "r4").await;
    assert_eq!(undo_void["data"]["reverseTransaction"]["transaction"]["payment"]["state"], "AUTHORIZED", "{undo_void}");
    assert!(capture(&app, &p3, None, "c3").await.get("errors").is_none());
    // An authorization with captures cannot be undone.
    assert_eq!(code(&reverse(ids3[0].clone(), "r5").await), "PAYMENT_STEP_NOT_REVERSIBLE");
    app.assert_books_consistent().await;

    let q =
        "query($m: ID!, $s: PaymentStateType) { payments(merchantId: $m, state: $s) { edges { node { id state } } } }";
    let all = app.ok(q, json!({ "m": m, "s": null })).await;
    assert_eq!(all["payments"]["edges"].as_array().unwrap().len(), 3);
    let captured = app.ok(q, json!({ "m": m, "s": "CAPTURED" })).await;
    assert_eq!(captured["payments"]["edges"].as_array().unwrap().len(), 2);
    let voided = app.ok(q, json!({ "m": m, "s": "VOIDED" })).await;
    assert_eq!(voided["payments"]["edges"][0]["node"]["id"], p.as_str());
    let missing = capture(&app, &uuid::Uuid::now_v7().to_string(), None, "nope").await;
    assert_eq!(code(&missing), "NOT_FOUND");
}

#[tokio::test]
async fn refunds_are_partial_repeatable_and_bounded_by_the_capture() {
    let app = spawn_app().await;
    let m = app.merchant("Refunder").await;
    let set = "mutation($i: SetFeeScheduleInput!) { setFeeSchedule(input: $i) { percentBps } }";
    app.ok(set, json!({ "i": { "merchantId": m, "asset": "USD", "percentBps": 1000, "refundReturnsFee": true, "idempotencyKey": "f" } }))
        .await;
    let p = app.captured_payment(&m, "10.00", "p").await;
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("9.00"));
    let refund = |amount: Option<&str>, key: &str| {
        let amount = amount.map(|a| json!({ "amount": a, "currency": "USD" }));
        step(
            &app,
            "refundPayment",
            "RefundPaymentInput",
            json!({ "paymentId": p, "amount": amount, "reason": "buyer returned it", "idempotencyKey": key }),
        )
    };
    let r1 = refund(Some("4.00"), "r1").await;
    assert_eq!(r1["data"]["refundPayment"]["payment"]["state"], "PARTIALLY_REFUNDED", "{r1}");
    // 4.00 back to the buyer: 3.60 from the merchant, 0.40 of fee from the platform.
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("5.40"));
    assert_eq!(code(&refund(Some("6.01"), "r2").await), "REFUND_EXCEEDS_CAPTURED");
    let r3 = refund(None, "r3").await;
    assert_eq!(r3["data"]["refundPayment"]["payment"]["state"], "REFUNDED");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("0.00"));
    assert_eq!(code(&refund(None, "r4").await), "REFUND_EXCEEDS_CAPTURED");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn refund_cannot_overdraw_available() {
    let app = spawn_app().await;
    let m = app.merchant("PaidOut").await;
    let p = app.captured_payment(&m, "10.00", "p").await;
    app.ok(RECORD_PAYOUT, payout_input(&m, "8.00", "po")).await;
    let r = step(
        &app,
        "refundPayment",
        "RefundPaymentInput",
        json!({ "paymentId": p, "reason": "buyer returned it", "idempotencyKey": "r" }),
    )
    .await;
    assert_eq!(code(&r), "INSUFFICIENT_FUNDS", "{r}");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("2.00"));
}

#[tokio::test]
async fn disputes_withdraw_money_and_resolve_won_or_lost() {
    let app = spawn_app().await;
    let m = app.merchant("Disputed").await;
    let open = |p: &str, key: &str| {
        step(&app, "openDispute", "OpenDisputeInput", json!({ "paymentId": p, "idempotencyKey": key }))
    };
    // A dispute needs captured money.
    let uncaptured = payment_id(&authorize(&app, &m, "5.00", "u", None).await);
    assert_eq!(code(&open(&uncaptured, "d0").await), "PAYMENT_NOT_CAPTURED");

    let p = app.captured_payment(&m, "10.00", "p").await;
    app.ok(RECORD_PAYOUT, payout_input(&m, "10.00", "po")).await;
    let d = open(&p, "d1").await;
    assert_eq!(d["data"]["openDispute"]["payment"]["state"], "DISPUTED", "{d}");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("-10.00"), "the merchant owes the platform");
    assert_eq!(code(&open(&p, "d2").await), "DISPUTE_ALREADY_OPEN");
    let resolve = |outcome: &str, key: &str, fee: Option<&str>| {
        let fee = fee.map(|f| json!({ "amount": f, "currency": "USD" }));
        step(
            &app,
            "resolveDispute",
            "ResolveDisputeInput",
            json!({ "paymentId": p, "outcome": outcome, "disputeFee": fee, "reason": "issuer decision", "idempotencyKey": key }),
        )
    };
    let won = resolve("WON", "w", None).await;
    assert_eq!(won["data"]["resolveDispute"]["payment"]["state"], "CAPTURED", "{won}");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("0.00"));
    assert_eq!(code(&resolve("LOST", "l0", None).await), "NO_OPEN_DISPUTE");
    open(&p, "d3").await;
    let lost = resolve("LOST", "l", Some("15.00")).await;
    assert_eq!(lost["data"]["resolveDispute"]["payment"]["state"], "CHARGED_BACK", "{lost}");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("-25.00"));
    app.assert_books_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refunds_racing_a_chargeback_never_take_more_than_was_captured() {
    let app = Arc::new(spawn_app().await);
    let m = app.merchant("Contested").await;
    let p = app.captured_payment(&m, "10.00", "p").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (app, p) = (app.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            if i % 4 == 0 {
                step(&app, "openDispute", "OpenDisputeInput", json!({ "paymentId": p, "amount": { "amount": "3.00", "currency": "USD" }, "idempotencyKey": format!("d{i}") })).await
            } else {
                step(&app, "refundPayment", "RefundPaymentInput", json!({ "paymentId": p, "amount": { "amount": "1.50", "currency": "USD" }, "reason": "racing refund", "idempotencyKey": format!("r{i}") })).await
            }
        }));
    }
    for t in tasks {
        let body = t.await.unwrap();
        if body.get("errors").is_some() {
            let c = code(&body);
            assert!(
                ["REFUND_EXCEEDS_CAPTURED", "DISPUTE_ALREADY_OPEN", "DISPUTE_EXCEEDS_CAPTURED", "INSUFFICIENT_FUNDS"]
                    .contains(&c.as_str()),
                "{body}"
            );
        }
    }
    let q = "query($id: ID!) { payment(id: $id) { captured { amount } refunded { amount } disputed { amount } } }";
    let pay = app.ok(q, json!({ "id": p })).await;
    let dec = |v: &Value| v["amount"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
    let (captured, refunded, disputed) =
        (dec(&pay["payment"]["captured"]), dec(&pay["payment"]["refunded"]), dec(&pay["payment"]["disputed"]));
    assert!(refunded + disputed <= captured, "refunded {refunded} + disputed {disputed} > captured {captured}");
    // At most one dispute opened (it may lose the race to refunds that left too little to dispute).
    assert!([rust_decimal::Decimal::ZERO, rust_decimal::Decimal::new(300, 2)].contains(&disputed), "{disputed}");
    // Refunds stopped only when too little was left for another 1.50.
    assert!(
        captured - refunded - disputed < rust_decimal::Decimal::new(150, 2),
        "refunds were refused while money was left"
    );
    app.assert_books_consistent().await;
}

async fn step(app: &TestApp, mutation: &str, input_type: &str, input: Value) -> Value {
    let q = format!("mutation($i: {input_type}!) {{ {mutation}(input: $i) {{ {PAYMENT_FIELDS} }} }}");
    app.gql(&q, json!({ "i": input })).await
}

#[tokio::test]
async fn expired_holds_are_not_pending_anywhere_before_any_sweep() {
    // The sweeper runs once at start-up, then not again during the test.
    let app = spawn_app_with(&["--sweep-interval-secs", "3600"]).await;
    let m = app.merchant("Unswept").await;
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    let p = payment_id(&authorize(&app, &m, "8.00", "a", Some(&expires)).await);
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let stored_pending = app.scalar("SELECT CAST(SUM(credits_pending) AS BIGINT) FROM balances").await;
    assert_eq!(stored_pending, 800, "the hold is still in the books: no sweep has run");
    assert_eq!(app.balances(&m).await[0].2, "0.00");
    let q = "query($m: ID!, $p: ID!) { merchant(id: $m) { accounts { code balance { pending { amount } } } } payment(id: $p) { state pending { amount } } }";
    let body = app.ok(q, json!({ "m": m, "p": p })).await;
    let available =
        body["merchant"]["accounts"].as_array().unwrap().iter().find(|a| a["code"] == "available").cloned().unwrap();
    assert_eq!(available["balance"]["pending"]["amount"], "0.00");
    assert_eq!(body["payment"]["state"], "EXPIRED");
    assert_eq!(body["payment"]["pending"]["amount"], "0.00");
}

const PREVIEW: &str = "query($p: ID!, $a: MoneyInput) { refundPreview(paymentId: $p, amount: $a) { \
    amount { amount } feeReturned { amount } entries { platform accountCode direction layer amount { amount currency } } } }";

#[tokio::test]
async fn a_refund_preview_is_exactly_what_the_refund_then_posts_and_writes_nothing() {
    let app = crate::helpers::spawn_app().await;
    let m = app.merchant("Fee Back Shop").await;
    app.ok(
        "mutation($i: SetFeeScheduleInput!) { setFeeSchedule(input: $i) { percentBps } }",
        json!({ "i": { "merchantId": m, "asset": "USD", "percentBps": 300, "fixed": "0.30", "refundReturnsFee": true, "idempotencyKey": "fees" } }),
    )
    .await;
    let auth = app
        .ok(
            "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }",
            json!({ "i": { "merchantId": m, "amount": { "amount": "100.00", "currency": "USD" }, "idempotencyKey": "a" } }),
        )
        .await;
    let p = auth["authorizePayment"]["payment"]["id"].as_str().unwrap().to_owned();
    app.ok(
        "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { payment { id } } }",
        json!({ "i": { "paymentId": p, "idempotencyKey": "c" } }),
    )
    .await;
    let before = app.count("transactions").await;
    let half = json!({ "amount": "50.00", "currency": "USD" });
    let preview = app.ok(PREVIEW, json!({ "p": p, "a": half })).await["refundPreview"].clone();
    assert_eq!(app.count("transactions").await, before, "a preview writes nothing");
    assert_eq!(preview["amount"]["amount"], "50.00");
    assert_eq!(preview["feeReturned"]["amount"], "1.65", "half of the 3.30 fee goes back under this schedule");

    let refund = app
        .ok(
            "mutation($i: RefundPaymentInput!) { refundPayment(input: $i) { transaction { entries { direction layer \
             amount { amount currency } account { code platform } } } } }",
            json!({ "i": { "paymentId": p, "amount": half, "reason": "torn", "idempotencyKey": "r" } }),
        )
        .await;
    let posted: Vec<Value> = refund["refundPayment"]["transaction"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!({ "platform": e["account"]["platform"], "accountCode": e["account"]["code"], "direction": e["direction"],
                         "layer": e["layer"], "amount": e["amount"] }))
        .collect();
    let mut planned = preview["entries"].as_array().unwrap().clone();
    let key = |v: &Value| v.to_string();
    let mut posted = posted;
    planned.sort_by_key(key);
    posted.sort_by_key(key);
    assert_eq!(planned, posted, "the refund posted exactly the previewed entries");

    // What cannot be refunded is refused by the preview too, with the refund's codes.
    let too_much = app.gql(PREVIEW, json!({ "p": p, "a": { "amount": "60.00", "currency": "USD" } })).await;
    assert_eq!(code(&too_much), "REFUND_EXCEEDS_CAPTURED");
    let other = app.merchant("Other").await;
    let key_b = app.merchant_key(&other).await;
    assert_eq!(code(&app.gql_as(Some(&key_b), PREVIEW, json!({ "p": p })).await), "NOT_FOUND");
    assert_eq!(code(&app.gql(PREVIEW, json!({ "p": "nope" })).await), "BAD_USER_INPUT");
}
