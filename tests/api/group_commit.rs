//! Group commit: concurrent posting requests share database transactions, and
//! each still gets its own result, fails alone and is written exactly once.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, spawn_app_with, transfer};

/// A window long enough that requests sent together land in one batch even on
/// a loaded two-core machine.
const WIDE_WINDOW: [&str; 2] = ["--group-commit-window-us", "300000"];

const PAY: &str =
    "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { replayed transaction { id sequence } } }";
const PAYOUT: &str = "mutation($i: RecordPayoutInput!) { recordPayout(input: $i) { transaction { id } } }";
const TRANSFER: &str = "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }";

fn payment(merchant: &str, gross: &str, key: &str) -> Value {
    json!({ "i": { "merchantId": merchant, "gross": { "amount": gross, "currency": "USD" },
                    "fee": { "amount": "0.10", "currency": "USD" }, "idempotencyKey": key } })
}

/// Merchants, each with a key of the card processing service that records
/// its payments and payouts: `(merchant id, service key)`. (A merchant's own
/// key may not record money coming in.)
async fn merchants_with_keys(app: &TestApp, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let m = app.merchant(&format!("Shop {i}")).await;
        let key = app.service_key(&format!("psp-{i}"), &["payments:write", "payouts:write"]).await;
        out.push((m, key));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_payments_share_commits_and_each_acknowledged_one_is_written_once() {
    payments_share_commits_and_each_is_written_once(&[], cores()).await;
}

/// The same with four committer lanes: each merchant's requests go to its own
/// lane, and the books come out the same. At most the core count of them are
/// in a database transaction at once (the default `--group-commit-concurrency`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_four_lanes_by_merchant_each_acknowledged_payment_is_written_once() {
    payments_share_commits_and_each_is_written_once(&["--group-commit-lanes", "4"], cores().min(4)).await;
}

/// Four lanes taking turns one at a time: still every payment exactly once,
/// and never two lanes inside a database transaction together.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_lanes_one_turn_at_a_time_write_each_acknowledged_payment_once() {
    let flags = ["--group-commit-lanes", "4", "--group-commit-concurrency", "1"];
    payments_share_commits_and_each_is_written_once(&flags, 1).await;
}

/// The machine's cores, as the server counts them for its defaults (at most 8).
fn cores() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64).min(8)
}

/// Runs 64 clients' payments, half to one hot merchant, with the server's
/// `flags`, and checks that they shared commits, that at most `at_once` lanes
/// were ever inside a database transaction together, and the books.
async fn payments_share_commits_and_each_is_written_once(flags: &[&str], at_once: u64) {
    const TASKS: usize = 64;
    const PER_TASK: usize = 12;
    let app = Arc::new(spawn_app_with(flags).await);
    let shops = Arc::new(merchants_with_keys(&app, 8).await);
    let before = app.group_commits.requests.load(Ordering::Relaxed);
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (app, shops) = (app.clone(), shops.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0..PER_TASK {
                    // Half the traffic goes to shop 0, the hot merchant.
                    let (m, key) = if n % 2 == 0 { &shops[0] } else { &shops[(t + n) % shops.len()] };
                    let body = app.gql_as(Some(key), PAY, payment(m, "1.00", &format!("p-{t}-{n}"))).await;
                    let id = body["data"]["recordPayment"]["transaction"]["id"].as_str().map(str::to_owned);
                    acked.push((m.clone(), id.unwrap_or_else(|| panic!("payment refused: {body}"))));
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("task"));
    }
    assert_eq!(acked.len(), TASKS * PER_TASK);

    // They shared commits: fewer batches than requests.
    let requests = app.group_commits.requests.load(Ordering::Relaxed) - before;
    let batches = app.group_commits.batches.load(Ordering::Relaxed);
    assert_eq!(requests, (TASKS * PER_TASK) as u64, "every payment went through group commit");
    assert!(batches * 2 < requests, "{requests} requests in {batches} batches: no sharing");
    // Half the traffic is one merchant's: some of it had to wait for a later
    // batch because that merchant had had its share of one (`core::posting::fair`).
    let held = app.group_commits.held.load(Ordering::Relaxed);
    assert!(held > 0, "the hot merchant was never held to its share of a batch");
    let most = app.group_commits.most_at_once.load(Ordering::Relaxed);
    assert!((1..=at_once).contains(&most), "{most} lanes committed at once; at most {at_once} may");

    // Each acknowledged write is present exactly once, nothing else was written,
    // sequences are gap-free and every transaction has its event.
    let mut ids: Vec<&str> = acked.iter().map(|(_, id)| id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), TASKS * PER_TASK, "two acknowledgements named one transaction");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM transactions WHERE kind = 'payment'").await, (TASKS * PER_TASK) as i64);
    assert_eq!(
        app.scalar("SELECT COUNT(DISTINCT idempotency_key) FROM transactions WHERE kind = 'payment'").await,
        (TASKS * PER_TASK) as i64
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM transactions").await,
        app.scalar("SELECT MAX(seq) FROM transactions").await
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM ledger_events").await,
        app.scalar("SELECT COUNT(*) FROM transactions").await
    );
    // Balances equal the sums of their entries and every asset sums to zero.
    app.assert_books_consistent().await;
    // The hot merchant got its half: 0.90 net of each of its payments.
    let hot = acked.iter().filter(|(m, _)| *m == shops[0].0).count();
    assert_eq!(app.available(&shops[0].0, "USD").await, Some(format!("{:.2}", hot as f64 * 0.90)));
    // The platform's fee revenue is a control account: one subsidiary
    // account per merchant, in that merchant's books, so no two merchants'
    // payments share a balance row. Together they hold every fee, and the
    // hot merchant's holds exactly its own.
    let fees = app
        .scalar(
            "SELECT CAST(SUM(b.credits_posted) AS BIGINT) FROM balances b JOIN accounts a ON a.id = b.account_id \
         WHERE a.code = 'fee_revenue' AND a.asset = 'USD' AND a.platform",
        )
        .await;
    assert_eq!(fees, 10 * (TASKS * PER_TASK) as i64);
    let subsidiaries = app
        .scalar(
            "SELECT COUNT(*) FROM accounts WHERE code = 'fee_revenue' AND asset = 'USD' AND platform \
             AND merchant_id <> '00000000-0000-0000-0000-000000000000'",
        )
        .await;
    let paid: std::collections::HashSet<_> = acked.iter().map(|(m, _)| m).collect();
    assert_eq!(subsidiaries, paid.len() as i64, "one fee account per merchant paid");
    let hot_fees = app
        .scalar(&format!(
            "SELECT b.credits_posted FROM balances b JOIN accounts a ON a.id = b.account_id \
             WHERE a.code = 'fee_revenue' AND a.asset = 'USD' AND a.platform AND a.merchant_id = '{}'",
            shops[0].0
        ))
        .await;
    assert_eq!(hot_fees, 10 * hot as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_request_fails_alone_and_keeps_no_key() {
    let app = Arc::new(spawn_app_with(&WIDE_WINDOW).await);
    let shops = merchants_with_keys(&app, 2).await;
    let ((a, key_a), (b, key_b)) = (shops[0].clone(), shops[1].clone());
    let body = app.gql_as(Some(&key_a), PAY, payment(&a, "10.10", "seed")).await;
    assert!(body["data"]["recordPayment"]["transaction"]["id"].is_string(), "{body}");
    let batches_before = app.group_commits.batches.load(Ordering::Relaxed);

    // Sent together, so they share a batch: eight payments, a payout of more
    // than A has (10.00 available), and a transfer of B's money under A's own
    // merchant key.
    let a_own_key = app.merchant_key(&a).await;
    let payout = json!({ "i": { "merchantId": a, "amount": { "amount": "25.00", "currency": "USD" }, "idempotencyKey": "too-much" } });
    let foreign = json!({ "i": transfer(&b, "1.00", "foreign") });
    let mut calls = Vec::new();
    for n in 0..8 {
        let (app, key, b) = (app.clone(), key_b.clone(), b.clone());
        calls.push(tokio::spawn(
            async move { app.gql_as(Some(&key), PAY, payment(&b, "2.00", &format!("b-{n}"))).await },
        ));
    }
    {
        let (app, key, payout) = (app.clone(), key_a.clone(), payout.clone());
        calls.push(tokio::spawn(async move { app.gql_as(Some(&key), PAYOUT, payout).await }));
    }
    {
        let app = app.clone();
        calls.push(tokio::spawn(async move { app.gql_as(Some(&a_own_key), TRANSFER, foreign).await }));
    }
    let mut bodies = Vec::new();
    for c in calls {
        bodies.push(c.await.expect("call"));
    }
    let batches = app.group_commits.batches.load(Ordering::Relaxed) - batches_before;
    assert!(batches <= 3, "ten requests sent together took {batches} batches");
    for body in &bodies[..8] {
        assert_eq!(body["data"]["recordPayment"]["replayed"], false, "{body}");
    }
    assert_eq!(code(&bodies[8]), "INSUFFICIENT_FUNDS", "{}", bodies[8]);
    assert_eq!(code(&bodies[9]), "NOT_FOUND", "{}", bodies[9]);
    assert_eq!(app.available(&b, "USD").await.as_deref(), Some("15.20"));
    assert_eq!(app.available(&a, "USD").await.as_deref(), Some("10.00"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM transactions WHERE kind = 'payout'").await, 0);

    // The refused payout kept no key: once A has the money, the same key works.
    let body = app.gql_as(Some(&key_a), PAY, payment(&a, "20.10", "seed-2")).await;
    assert!(body["data"]["recordPayment"]["transaction"]["id"].is_string(), "{body}");
    let body = app.gql_as(Some(&key_a), PAYOUT, payout).await;
    assert!(body["data"]["recordPayout"]["transaction"]["id"].is_string(), "{body}");
    assert_eq!(app.available(&a, "USD").await.as_deref(), Some("5.00"));
    app.assert_books_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_sent_many_times_at_once_writes_once() {
    let app = Arc::new(spawn_app_with(&WIDE_WINDOW).await);
    let shops = merchants_with_keys(&app, 1).await;
    let (m, key) = shops[0].clone();
    // Nine identical requests and one different request, all under key "dup".
    let mut calls = Vec::new();
    for n in 0..10 {
        let (app, key, m) = (app.clone(), key.clone(), m.clone());
        let gross = if n == 9 { "9.99" } else { "3.00" };
        calls.push(tokio::spawn(async move { app.gql_as(Some(&key), PAY, payment(&m, gross, "dup")).await }));
    }
    let mut bodies = Vec::new();
    for c in calls {
        bodies.push(c.await.expect("call"));
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM transactions WHERE idempotency_key = 'dup'").await, 1);
    let written = bodies.iter().filter(|b| b["data"]["recordPayment"]["replayed"] == false).count();
    assert_eq!(written, 1, "exactly one request wrote: {bodies:?}");
    let ids: std::collections::BTreeSet<&str> =
        bodies.iter().filter_map(|b| b["data"]["recordPayment"]["transaction"]["id"].as_str()).collect();
    assert_eq!(ids.len(), 1, "every success names the one transaction");
    let reused = bodies.iter().filter(|b| code(b) == "IDEMPOTENCY_KEY_REUSED").count();
    let succeeded = bodies.iter().filter(|b| b["data"]["recordPayment"].is_object()).count();
    // Whichever body was first, the other kind is refused.
    assert!((succeeded, reused) == (9, 1) || (succeeded, reused) == (1, 9), "{succeeded} ok, {reused} refused");
    app.assert_books_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_can_be_turned_off_and_bad_settings_are_refused() {
    let app = spawn_app_with(&["--group-commit-max-batch", "0"]).await;
    let shops = merchants_with_keys(&app, 1).await;
    let (m, key) = &shops[0];
    let body = app.gql_as(Some(key), PAY, payment(m, "1.00", "off-1")).await;
    assert!(body["data"]["recordPayment"]["transaction"]["id"].is_string(), "{body}");
    assert_eq!(app.group_commits.requests.load(Ordering::Relaxed), 0, "the committer ran although off");
    // A replay still replays, and a bad amount is still refused, without the committer.
    let body = app.gql_as(Some(key), PAY, payment(m, "1.00", "off-1")).await;
    assert_eq!(body["data"]["recordPayment"]["replayed"], true, "{body}");
    let body = app.gql_as(Some(key), PAY, payment(m, "-1.00", "off-2")).await;
    assert_eq!(code(&body), "AMOUNT_NOT_POSITIVE", "{body}");
    let parsed = <ledger_server::config::Cli as clap::Parser>::try_parse_from([
        "ledger-server",
        "--group-commit-max-batch",
        "lots",
    ]);
    assert!(parsed.is_err(), "a non-numeric batch limit was accepted");
    for (flag, value) in [
        ("--group-commit-concurrency", "0"),
        ("--group-commit-concurrency", "9"),
        ("--group-commit-lanes", "0"),
        ("--group-commit-lanes", "9"),
    ] {
        let parsed = <ledger_server::config::Cli as clap::Parser>::try_parse_from(["ledger-server", flag, value]);
        assert!(parsed.is_err(), "{flag} {value} was accepted; 1 to 8 are");
    }
    let parsed = <ledger_server::config::Cli as clap::Parser>::try_parse_from([
        "ledger-server",
        "--group-commit-concurrency",
        "8",
    ]);
    assert!(parsed.is_ok(), "--group-commit-concurrency 8 was refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn text_the_database_cannot_store_is_refused_at_the_edge_and_its_batch_goes_on() {
    let app = Arc::new(spawn_app_with(&WIDE_WINDOW).await);
    let shops = merchants_with_keys(&app, 1).await;
    let (m, key) = shops[0].clone();
    // PostgreSQL stores no NUL character in text or JSONB; such input must be
    // refused as bad input, not fail the batch it lands in.
    let mut nul_ref = payment(&m, "1.00", "nul-ref");
    nul_ref["i"]["externalRef"] = json!("order\u{0}1");
    let mut nul_meta = payment(&m, "1.00", "nul-meta");
    nul_meta["i"]["metadata"] = json!({ "note": "a\u{0}b" });
    let mut calls = Vec::new();
    for (n, vars) in
        [nul_ref, nul_meta].into_iter().chain((0..4).map(|n| payment(&m, "2.00", &format!("ok-{n}")))).enumerate()
    {
        let (app, key) = (app.clone(), key.clone());
        calls.push(tokio::spawn(async move { (n, app.gql_as(Some(&key), PAY, vars).await) }));
    }
    for c in calls {
        let (n, body) = c.await.expect("call");
        match n {
            0 => assert_eq!(code(&body), "BAD_USER_INPUT", "{body}"),
            1 => assert_eq!(code(&body), "BAD_USER_INPUT", "{body}"),
            _ => assert_eq!(body["data"]["recordPayment"]["replayed"], false, "{body}"),
        }
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM transactions WHERE kind = 'payment'").await, 4);
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("7.60"));
}

/// On PostgreSQL a batch's rows and key lists travel as JSON, one statement
/// text for any batch length (`core::db::rows_as_json`). Keys, references and
/// metadata of awkward characters, sent together so they share batches, come
/// back exactly; a replay finds its key among them, a reuse is refused, and
/// nothing is written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_and_text_of_any_characters_travel_through_a_batch_exactly() {
    let app = Arc::new(spawn_app_with(&WIDE_WINDOW).await);
    let shops = merchants_with_keys(&app, 2).await;
    let keys = ["q\"1", "c,2", "{b}3", "back\\slash", "null", "NULL", "';DROP-TABLE-entries;--"];
    let input = |n: usize, gross: &str| {
        let (m, _) = &shops[n % 2];
        let mut vars = payment(m, gross, keys[n]);
        vars["i"]["externalRef"] = json!(format!("ref {} ünï ✓ \"q\" \\", keys[n]));
        vars["i"]["metadata"] = json!({ "note": keys[n], "nested": { "list": [1, null, "{x,y}"] }, "null": null });
        vars
    };
    let send_all = |gross: &'static str| {
        let mut calls = Vec::new();
        for n in 0..keys.len() {
            let (app, token, vars) = (app.clone(), shops[n % 2].1.clone(), input(n, gross));
            calls.push(tokio::spawn(async move { app.gql_as(Some(&token), PAY, vars).await }));
        }
        calls
    };
    let batches_before = app.group_commits.batches.load(Ordering::Relaxed);
    let (txns_before, keys_before) = (app.count("transactions").await, app.count("idempotency_keys").await);
    let mut first = Vec::new();
    for c in send_all("1.00") {
        first.push(c.await.expect("call"));
    }
    let batches = app.group_commits.batches.load(Ordering::Relaxed) - batches_before;
    assert!(batches < keys.len() as u64, "{} requests sent together took {batches} batches", keys.len());
    for (n, body) in first.iter().enumerate() {
        assert_eq!(body["data"]["recordPayment"]["replayed"], false, "{}: {body}", keys[n]);
        let sql_text = |s: &str| s.replace('\'', "''");
        let vars = input(n, "1.00");
        let stored = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM transactions WHERE idempotency_key = '{}' AND external_ref = '{}' \
                 AND metadata = '{}'::jsonb",
                sql_text(keys[n]),
                sql_text(vars["i"]["externalRef"].as_str().unwrap()),
                sql_text(&vars["i"]["metadata"].to_string()),
            ))
            .await;
        assert_eq!(stored, 1, "{}: the stored transaction differs from what was sent", keys[n]);
        let events = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM ledger_events e JOIN transactions t ON t.id = e.transaction_id \
                 WHERE t.idempotency_key = '{}' AND (e.payload::jsonb) -> 'transaction' ->> 'externalRef' = '{}'",
                sql_text(keys[n]),
                sql_text(vars["i"]["externalRef"].as_str().unwrap()),
            ))
            .await;
        assert_eq!(events, 1, "{}: its event is missing or differs", keys[n]);
    }
    // Replays, together: each finds its own key and names the same transaction.
    let mut replays = Vec::new();
    for c in send_all("1.00") {
        replays.push(c.await.expect("call"));
    }
    for (n, (a, b)) in first.iter().zip(&replays).enumerate() {
        assert_eq!(b["data"]["recordPayment"]["replayed"], true, "{}: {b}", keys[n]);
        assert_eq!(
            a["data"]["recordPayment"]["transaction"]["id"], b["data"]["recordPayment"]["transaction"]["id"],
            "{}",
            keys[n]
        );
    }
    // The same keys with another amount: refused, and nothing is written.
    for c in send_all("2.00") {
        let body = c.await.expect("call");
        assert_eq!(code(&body), "IDEMPOTENCY_KEY_REUSED", "{body}");
    }
    assert_eq!(app.count("transactions").await - txns_before, keys.len() as i64);
    assert_eq!(app.count("idempotency_keys").await - keys_before, keys.len() as i64);
    app.assert_books_consistent().await;
}
