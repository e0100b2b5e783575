//! Balance limits: a lower (and optional upper) bound per account, enforced
//! under the balance row locks on every kind of posting, with defaults per
//! code and asset, forced reversals, and payouts held back while a chargeback
//! keeps `available` below its bound.

use std::sync::Arc;

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{RECORD_PAYOUT, TestApp, code, payout_input, spawn_app, spawn_app_with, transfer, txn_id};

const SET_LIMIT: &str = "mutation($i: SetBalanceLimitInput!) { setBalanceLimit(input: $i) { replayed accountCode asset \
    account { id } limit { lowerBound { amount currency } upperBound { amount } source sinceSequence } } }";

const POST: &str = "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id sequence } } }";

const LIMIT_OF: &str = "query($id: ID!) { account(id: $id) { code limit { lowerBound { amount } upperBound { amount } \
    source sinceSequence } } }";

const REVERSE: &str = "mutation($id: ID!, $reason: String!, $key: String!, $force: Boolean) { reverseTransaction(\
    transactionId: $id, reason: $reason, idempotencyKey: $key, force: $force) { transaction { id metadata } } }";

/// A merchant with `amount` USD in `available` (a payment without fee) and a
/// `reserve` account; returns (merchant, available account id, reserve id).
async fn funded(app: &TestApp, name: &str, amount: &str) -> (String, String, String) {
    let m = app.merchant(name).await;
    let paid = app.pay(&m, amount, None, "USD", &format!("fund-{name}")).await;
    let available = paid["data"]["recordPayment"]["transaction"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["account"]["code"] == "available")
        .unwrap()["account"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reserve = app.open_reserve(&m, &format!("open-{name}")).await;
    (m, available, reserve)
}

async fn set_limit(app: &TestApp, input: Value) -> Value {
    app.gql(SET_LIMIT, json!({ "i": input })).await
}

/// Every entry on `account` in sequence order: (transaction sequence, signed
/// minor units on a credit-normal account).
async fn entries_of(app: &TestApp, account: &str) -> Vec<(i64, i64)> {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            app.db.get_database_backend(),
            "SELECT transaction_seq, direction, amount FROM entries WHERE account_id = $1 AND layer = 'posted' \
             ORDER BY seq",
            vec![uuid::Uuid::parse_str(account).unwrap().into()],
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let amount: i64 = r.try_get("", "amount").unwrap();
            let direction: String = r.try_get("", "direction").unwrap();
            (r.try_get("", "transaction_seq").unwrap(), if direction == "credit" { amount } else { -amount })
        })
        .collect()
}

/// Races 32 transfers of 10.00 out of an account funded with 100.00 whose
/// lower bound is -50.00; returns (posted, refused, lowest balance in minor units).
async fn race_transfers_against_an_overdraft_limit(app: Arc<TestApp>) -> (usize, usize, i64) {
    let (m, available, _) = funded(&app, "Racer", "100.00").await;
    let set = set_limit(&app, json!({ "accountId": available, "lowerBound": "-50.00", "idempotencyKey": "lim" })).await;
    assert_eq!(set["data"]["setBalanceLimit"]["limit"]["lowerBound"]["amount"], "-50.00", "{set}");

    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (app, m) = (app.clone(), m.clone());
            tokio::spawn(async move { app.gql(POST, json!({ "i": transfer(&m, "10.00", &format!("t{i}")) })).await })
        })
        .collect();
    let (mut posted, mut refused) = (0, 0);
    for t in tasks {
        let body = t.await.unwrap();
        if body.get("errors").is_none() {
            posted += 1;
        } else {
            assert_eq!(code(&body), "BALANCE_LIMIT_EXCEEDED", "{body}");
            assert_eq!(body["errors"][0]["extensions"]["bound"]["amount"], "-50.00", "{body}");
            refused += 1;
        }
    }
    // Recomputed from the entries, in sequence order.
    let mut balance = 0;
    let mut lowest = i64::MAX;
    for (_, signed) in entries_of(&app, &available).await {
        balance += signed;
        lowest = lowest.min(balance);
        assert!(balance >= -5000, "available went to {balance} below the -50.00 bound");
    }
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("-50.00"));
    app.assert_books_consistent().await;
    (posted, refused, lowest)
}

#[tokio::test]
async fn racing_transfers_through_group_commit_never_pass_the_overdraft_limit() {
    let app = Arc::new(spawn_app().await);
    let (posted, refused, lowest) = race_transfers_against_an_overdraft_limit(app.clone()).await;
    println!("group commit: {posted} posted, {refused} refused, lowest {lowest}");
    assert_eq!((posted, refused, lowest), (15, 17, -5000));
}

#[tokio::test]
async fn racing_transfers_one_transaction_each_never_pass_the_overdraft_limit() {
    let app = Arc::new(spawn_app_with(&["--group-commit-max-batch", "0"]).await);
    let (posted, refused, lowest) = race_transfers_against_an_overdraft_limit(app.clone()).await;
    println!("one by one: {posted} posted, {refused} refused, lowest {lowest}");
    assert_eq!((posted, refused, lowest), (15, 17, -5000));
}

#[tokio::test]
async fn a_limit_changed_while_writes_are_in_flight_governs_every_entry_after_its_sequence() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let app = Arc::new(spawn_app().await);
    let (m, available, _) = funded(&app, "Moving", "100.00").await;
    // 8 writers move 5.00 at a time out of `available` until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let (posted, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (app, m, stop) = (app.clone(), m.clone(), stop.clone());
            let (posted, refused) = (posted.clone(), refused.clone());
            tokio::spawn(async move {
                for i in 0..2_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body = app.gql(POST, json!({ "i": transfer(&m, "5.00", &format!("w{w}-{i}")) })).await;
                    if body.get("errors").is_some() {
                        assert_eq!(code(&body), "BALANCE_LIMIT_EXCEEDED", "{body}");
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    } else {
                        posted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // The built-in bound 0 holds until the writers reach it; then it is lowered
    // (an overdraft of 100.00) while they keep writing; once they reach that, it
    // is raised to -20.00 above where they stand.
    let available_minor = |app: Arc<TestApp>, account: String| async move {
        entries_of(&app, &account).await.iter().map(|(_, signed)| signed).sum::<i64>()
    };
    let wait_until_at_most = |minor: i64| {
        let (app, account) = (app.clone(), available.clone());
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while available_minor(app.clone(), account.clone()).await > minor {
                assert!(std::time::Instant::now() < deadline, "the writers never took available to {minor}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    let mut changes = vec![(0_i64, 0_i64)];
    for (key, bound, minor, reached) in [("lower", "-100.00", -10_000, 0), ("raise", "-20.00", -2_000, -9_500)] {
        wait_until_at_most(reached).await;
        let set = set_limit(&app, json!({ "accountId": available, "lowerBound": bound, "idempotencyKey": key })).await;
        let since =
            set["data"]["setBalanceLimit"]["limit"]["sinceSequence"].as_i64().unwrap_or_else(|| panic!("{set}"));
        changes.push((since, minor));
    }
    // Let the writers try on against the raised bound, then stop them.
    let refused_at_raise = refused.load(Ordering::Relaxed);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    // Replay the entries against the bound in force at each sequence.
    let bound_at = |seq: i64| changes.iter().rev().find(|(since, _)| seq > *since).map_or(0, |c| c.1);
    let era_of = |seq: i64| changes.iter().rposition(|(since, _)| seq > *since).unwrap_or(0);
    let (mut balance, mut lowest) = (0, [0_i64; 3]);
    let mut debits = [0; 3];
    for (seq, signed) in entries_of(&app, &available).await {
        balance += signed;
        if signed < 0 {
            assert!(balance >= bound_at(seq), "entry at {seq} took available to {balance}, past {}", bound_at(seq));
            debits[era_of(seq)] += 1;
            lowest[era_of(seq)] = lowest[era_of(seq)].min(balance);
        }
    }
    println!(
        "limit changes (sinceSequence, bound): {changes:?}; debits per era {debits:?}; lowest per era {lowest:?}; \
         final {balance}; posted {}, refused {}",
        posted.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    assert_eq!(lowest[0], 0, "under the built-in bound available reached exactly 0");
    assert!(lowest[1] < 0 && lowest[1] >= -10_000, "the lowered bound let available below zero: {lowest:?}");
    assert_eq!(debits[2], 0, "nothing may leave an account below its raised bound");
    assert!(refused.load(Ordering::Relaxed) > refused_at_raise, "the writers kept trying after the raise");
    assert_eq!(balance, available_minor(app.clone(), available.clone()).await);
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn a_refusal_names_the_account_bound_and_balance_and_writes_nothing() {
    let app = spawn_app().await;
    let (m, available, _) = funded(&app, "Short", "10.00").await;
    let (txns, entries) = (app.count("transactions").await, app.count("entries").await);
    let refused = app.gql(POST, json!({ "i": transfer(&m, "25.00", "too-much") })).await;
    assert_eq!(code(&refused), "BALANCE_LIMIT_EXCEEDED", "{refused}");
    let ext = &refused["errors"][0]["extensions"];
    assert_eq!(ext["account"]["id"], available.as_str());
    assert_eq!(ext["account"]["code"], "available");
    assert_eq!(ext["account"]["owner"], m.as_str());
    assert_eq!(ext["bound"], json!({ "side": "LOWER", "minor": 0, "amount": "0.00" }));
    assert_eq!(ext["balance"], json!({ "minor": -1500, "amount": "-15.00" }));
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&available) && message.contains("-15.00") && message.contains("0.00"), "{message}");
    assert_eq!((app.count("transactions").await, app.count("entries").await), (txns, entries));
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("10.00"));
    // The key stays free: the same key with an amount that fits posts.
    let ok = app.gql(POST, json!({ "i": transfer(&m, "10.00", "too-much") })).await;
    assert!(ok.get("errors").is_none(), "{ok}");
    // A payout keeps answering INSUFFICIENT_FUNDS, with the same extensions.
    let payout = app.gql(RECORD_PAYOUT, payout_input(&m, "1.00", "po")).await;
    assert_eq!(code(&payout), "INSUFFICIENT_FUNDS", "{payout}");
    assert_eq!(payout["errors"][0]["extensions"]["balance"]["amount"], "-1.00", "{payout}");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn a_default_per_code_and_asset_applies_to_accounts_without_their_own_policy() {
    let app = spawn_app().await;
    let (m, available, reserve) = funded(&app, "Defaulted", "1.00").await;
    let limit_of = |id: String| {
        let app = &app;
        async move { app.ok(LIMIT_OF, json!({ "id": id })).await["account"]["limit"].clone() }
    };
    let before = limit_of(available.clone()).await;
    assert_eq!(before["source"], "BUILT_IN", "{before}");
    assert_eq!(before["lowerBound"]["amount"], "0.00");
    assert!(before["sinceSequence"].is_null());
    assert_eq!(code(&app.gql(POST, json!({ "i": transfer(&m, "15.00", "t1") })).await), "BALANCE_LIMIT_EXCEEDED");

    let input = json!({ "accountCode": "available", "asset": "USD", "lowerBound": "-20.00", "idempotencyKey": "d" });
    let set = set_limit(&app, input.clone()).await;
    let set = &set["data"]["setBalanceLimit"];
    assert_eq!(set["limit"]["source"], "DEFAULT", "{set}");
    assert!(set["account"].is_null());
    let since = set["limit"]["sinceSequence"].as_i64().unwrap();
    let now = limit_of(available.clone()).await;
    assert_eq!(
        now,
        json!({ "lowerBound": { "amount": "-20.00" }, "upperBound": null, "source": "DEFAULT",
        "sinceSequence": since })
    );
    assert!(app.gql(POST, json!({ "i": transfer(&m, "15.00", "t2") })).await.get("errors").is_none());
    assert_eq!(code(&app.gql(POST, json!({ "i": transfer(&m, "10.00", "t3") })).await), "BALANCE_LIMIT_EXCEEDED");
    // Another merchant's `available` follows the default too; `reserve` keeps the built-in rule.
    let other = app.merchant("Other").await;
    let paid = app.pay(&other, "1.00", None, "USD", "other").await;
    let platform = paid["data"]["recordPayment"]["transaction"]["entries"][0]["account"]["id"].as_str().unwrap();
    assert_eq!(limit_of(reserve.clone()).await["source"], "BUILT_IN");
    assert_eq!(
        limit_of(platform.to_owned()).await,
        json!({ "lowerBound": null, "upperBound": null, "source": "NONE",
        "sinceSequence": null })
    );
    // An account's own policy wins over the default.
    let own = set_limit(
        &app,
        json!({ "accountId": available, "lowerBound": "-5", "upperBound": "1000",
        "idempotencyKey": "own" }),
    )
    .await;
    assert_eq!(own["data"]["setBalanceLimit"]["account"]["id"], available.as_str(), "{own}");
    let own = limit_of(available.clone()).await;
    assert_eq!((own["source"].clone(), own["lowerBound"]["amount"].clone()), (json!("ACCOUNT"), json!("-5.00")));
    assert_eq!(own["upperBound"]["amount"], "1000.00");

    // Replay and reuse of the key.
    let replay = set_limit(&app, input.clone()).await;
    assert_eq!(replay["data"]["setBalanceLimit"]["replayed"], true, "{replay}");
    assert_eq!(replay["data"]["setBalanceLimit"]["limit"]["sinceSequence"], since);
    let reused = set_limit(
        &app,
        json!({ "accountCode": "available", "asset": "USD", "lowerBound": "-30.00",
        "idempotencyKey": "d" }),
    )
    .await;
    assert_eq!(code(&reused), "IDEMPOTENCY_KEY_REUSED", "{reused}");
    // Every change is audited.
    let audit = app.ok("{ auditLog(first: 10) { nodes { action targetType targetId } } }", json!({})).await;
    let actions: Vec<&Value> = audit["auditLog"]["nodes"].as_array().unwrap().iter().collect();
    assert!(actions.iter().any(|a| a["action"] == "setBalanceLimit" && a["targetId"] == "available/USD"), "{audit}");
    assert!(actions.iter().any(|a| a["targetType"] == "account" && a["targetId"] == available.as_str()), "{audit}");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn bad_bounds_are_refused_with_clear_codes() {
    let app = spawn_app().await;
    let (_, available, _) = funded(&app, "Bounds", "1.00").await;
    let limits_before = app.count("balance_limits").await;
    for (lower, upper, expected) in [
        (json!("abc"), Value::Null, "AMOUNT_MALFORMED"),
        (json!("1e3"), Value::Null, "AMOUNT_MALFORMED"),
        (json!("-1.005"), Value::Null, "AMOUNT_PRECISION_EXCEEDED"),
        (json!("-99999999999999999999.00"), Value::Null, "AMOUNT_OVERFLOW"),
        (json!("10.00"), json!("5.00"), "LIMIT_BOUNDS_INVALID"),
    ] {
        let body = set_limit(
            &app,
            json!({ "accountId": available, "lowerBound": lower, "upperBound": upper,
            "idempotencyKey": format!("bad-{expected}-{lower}") }),
        )
        .await;
        assert_eq!(code(&body), expected, "{body}");
    }
    let neither = set_limit(&app, json!({ "lowerBound": "0", "idempotencyKey": "neither" })).await;
    assert_eq!(code(&neither), "BAD_USER_INPUT", "{neither}");
    let both = set_limit(
        &app,
        json!({ "accountId": available, "accountCode": "available", "asset": "USD",
        "idempotencyKey": "both" }),
    )
    .await;
    assert_eq!(code(&both), "BAD_USER_INPUT", "{both}");
    let unknown = set_limit(&app, json!({ "accountCode": "available", "asset": "NOPE", "idempotencyKey": "u" })).await;
    assert_eq!(code(&unknown), "UNKNOWN_ASSET", "{unknown}");
    assert_eq!(app.count("balance_limits").await, limits_before);
    assert_eq!(app.count("balance_limit_defaults").await, 0);
}

#[tokio::test]
async fn a_reversal_that_would_break_a_limit_is_refused_unless_an_admin_forces_it() {
    let app = spawn_app().await;
    let m = app.merchant("Reversed").await;
    let sale = txn_id(&app.pay(&m, "30.00", None, "USD", "sale").await);
    app.ok(
        "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { payout { id } } }",
        json!({ "i": { "merchantId": m, "asset": "USD", "idempotencyKey": "po" } }),
    )
    .await;
    let txns = app.count("transactions").await;
    let vars = |key: &str, force: bool| json!({ "id": sale, "reason": "card was stolen", "key": key, "force": force });

    let refused = app.gql(REVERSE, vars("r1", false)).await;
    assert_eq!(code(&refused), "BALANCE_LIMIT_EXCEEDED", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["balance"]["amount"], "-30.00");
    let support = app.staff("sam", "SUPPORT").await;
    let forbidden = app.gql_as(Some(&support), REVERSE, vars("r2", true)).await;
    assert_eq!(code(&forbidden), "FORBIDDEN", "{forbidden}");
    assert_eq!(app.count("transactions").await, txns);

    let forced = app.ok(REVERSE, vars("r3", true)).await;
    let metadata = &forced["reverseTransaction"]["transaction"]["metadata"];
    assert_eq!(metadata, &json!({ "reason": "card was stolen", "forced": true }));
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("-30.00"));
    let audit = app.ok("{ auditLog(first: 10) { nodes { action result targetId reason } } }", json!({})).await;
    let nodes = audit["auditLog"]["nodes"].as_array().unwrap();
    assert!(
        nodes.iter().any(|n| n["action"] == "forceReverseTransaction" && n["result"] == "ok" && n["targetId"] == sale),
        "{audit}"
    );
    assert!(nodes.iter().any(|n| n["action"] == "reverseTransaction" && n["result"] == "BALANCE_LIMIT_EXCEEDED"));
    app.assert_books_consistent().await;
}

const PAYMENT: &str = "payment { id state } transaction { kind }";

async fn step(app: &TestApp, mutation: &str, input_type: &str, input: Value) -> Value {
    let q = format!("mutation($i: {input_type}!) {{ {mutation}(input: $i) {{ {PAYMENT} }} }}");
    app.gql(&q, json!({ "i": input })).await
}

async fn create_payout(app: &TestApp, m: &str, key: &str) -> Value {
    app.gql(
        "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { payout { amount { amount } } } }",
        json!({ "i": { "merchantId": m, "asset": "USD", "idempotencyKey": key } }),
    )
    .await
}

#[tokio::test]
async fn a_payout_is_refused_while_a_chargeback_holds_the_balance_below_its_bound() {
    let app = spawn_app().await;
    let m = app.merchant("Charged").await;
    let auth = step(
        &app,
        "authorizePayment",
        "AuthorizePaymentInput",
        json!({ "merchantId": m, "amount": { "amount": "50.00", "currency": "USD" }, "idempotencyKey": "a" }),
    )
    .await;
    let p = auth["data"]["authorizePayment"]["payment"]["id"].as_str().unwrap().to_owned();
    let captured =
        step(&app, "capturePayment", "CapturePaymentInput", json!({ "paymentId": p, "idempotencyKey": "c" }));
    assert!(captured.await.get("errors").is_none());
    let paid = create_payout(&app, &m, "po1").await;
    assert_eq!(paid["data"]["createPayout"]["payout"]["amount"]["amount"], "50.00", "{paid}");

    // The chargeback is the card network's word: it goes below the bound.
    let opened = step(&app, "openDispute", "OpenDisputeInput", json!({ "paymentId": p, "idempotencyKey": "d" })).await;
    assert_eq!(opened["data"]["openDispute"]["payment"]["state"], "DISPUTED", "{opened}");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("-50.00"));
    app.pay(&m, "20.00", None, "USD", "more").await;
    let payouts = app.count("payouts").await;
    let refused = create_payout(&app, &m, "po2").await;
    assert_eq!(code(&refused), "BALANCE_LIMIT_EXCEEDED", "{refused}");
    let ext = &refused["errors"][0]["extensions"];
    assert_eq!((ext["bound"]["amount"].clone(), ext["balance"]["amount"].clone()), (json!("0.00"), json!("-30.00")));
    assert_eq!(app.count("payouts").await, payouts);

    let won = step(
        &app,
        "resolveDispute",
        "ResolveDisputeInput",
        json!({ "paymentId": p, "outcome": "WON", "reason": "issuer sided with the merchant", "idempotencyKey": "w" }),
    )
    .await;
    assert_eq!(won["data"]["resolveDispute"]["payment"]["state"], "CAPTURED", "{won}");
    let paid = create_payout(&app, &m, "po3").await;
    assert_eq!(paid["data"]["createPayout"]["payout"]["amount"]["amount"], "20.00", "{paid}");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn a_batch_item_that_breaks_a_limit_fails_alone_and_an_atomic_batch_writes_nothing() {
    let app = spawn_app().await;
    let (m, _, _) = funded(&app, "Batched", "10.00").await;
    let bulk = "mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { posted results { index \
        transactionId error { code message } } } }";
    let items = json!([transfer(&m, "5.00", "b1"), transfer(&m, "20.00", "b2"), transfer(&m, "3.00", "b3")]);
    let r = app.ok(bulk, json!({ "i": { "transactions": items } })).await;
    let results = r["postTransactions"]["results"].as_array().unwrap();
    let codes: Vec<&Value> = results.iter().map(|r| &r["error"]["code"]).collect();
    assert_eq!(codes, [&Value::Null, &json!("BALANCE_LIMIT_EXCEEDED"), &Value::Null], "{r}");
    assert!(results[1]["error"]["message"].as_str().unwrap().contains("-15.00"), "{r}");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("2.00"));

    let txns = app.count("transactions").await;
    let items = json!([transfer(&m, "1.00", "a1"), transfer(&m, "50.00", "a2")]);
    let r = app.ok(bulk, json!({ "i": { "transactions": items, "atomic": true } })).await;
    let codes: Vec<&Value> =
        r["postTransactions"]["results"].as_array().unwrap().iter().map(|r| &r["error"]["code"]).collect();
    assert_eq!(codes, [&json!("BATCH_ROLLED_BACK"), &json!("BALANCE_LIMIT_EXCEEDED")], "{r}");
    assert_eq!(app.count("transactions").await, txns);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("2.00"));
    app.assert_books_consistent().await;
}
