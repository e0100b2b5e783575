//! The support console in a real browser.
//!
//! A real server on port 0 over a fresh PostgreSQL database serves the built
//! console (`scripts/build-console`); this test seeds it and runs
//! `tests/browser/console.mjs`, which drives Debian's headless chromium
//! through npm's playwright-core: log in as support, find ShirtyPuff, watch a
//! payment arrive live, reverse the defective deal with a reason, see the
//! balance return, the reversal and the audit line, refund part of a card
//! payment (and see too much refused in plain words), lose the connection
//! and recover, reverse a card capture of another merchant and see that the
//! entries the dialog previewed (the server's dry run of the reversal) are
//! exactly those the reversal posted, find a payment by the customer's order
//! number and reverse it from there, download an account's statement as CSV,
//! and as a viewer see no reverse or refund button. Afterwards the database is checked: one
//! reversal only (the double click did not act twice), the audit record
//! with its reason, and books that still balance. `scripts/test` installs
//! chromium and playwright-core and builds the console before the suite.
//! Screenshots land in `$CARGO_TARGET_TMPDIR/console/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestApp, server_logs_to_stderr, spawn_app_with};

/// How long the whole browser run may take: a few seconds of clicking plus
/// chromium's start, with room for a loaded 2-core machine.
const BROWSER_RUN_LIMIT: Duration = Duration::from_secs(180);

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_path_buf()
}

/// The built console; panics (never skips) when it is not built.
pub(crate) fn console_dist() -> PathBuf {
    let dist = repo().join("console/dist");
    assert!(
        dist.join("index.html").is_file(),
        "the console is not built: run scripts/build-console (scripts/test does it before the suite)"
    );
    dist
}

/// Runs `tests/browser/{script}` with node, `env` and `OUT_DIR=out` (its
/// screenshots), and waits for it at most [`BROWSER_RUN_LIMIT`]. Panics when
/// node is missing (never skips), when the run fails, or when it takes longer.
pub(crate) async fn run_browser(script: &str, env: &[(&str, &str)], out: &Path) {
    let mut command = Command::new("node");
    command.arg(repo().join("tests/browser").join(script)).env("OUT_DIR", out).stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("run node (scripts/test installs it with playwright-core and chromium)");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if started.elapsed() > BROWSER_RUN_LIMIT {
            let _ = child.kill();
            panic!("the browser run took longer than {BROWSER_RUN_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status.success(), "the browser run failed (see its output above, and {}/failure.png)", out.display());
}

async fn one_value(app: &TestApp, sql: String) -> i64 {
    app.scalar(&sql).await
}

/// How many times `txn` was reversed, and how many successful reversals of it
/// sam.support's audit log records with a reason containing `reason`.
async fn reversals_and_audits(app: &TestApp, txn: &str, reason: &str) -> (i64, i64) {
    let reversals = one_value(app, format!("SELECT COUNT(*) FROM transactions WHERE reverses = '{txn}'")).await;
    let audited = one_value(
        app,
        format!(
            "SELECT COUNT(*) FROM audit_log WHERE actor = 'sam.support' AND action = 'reverseTransaction' \
             AND target_id = '{txn}' AND reason LIKE '%{reason}%' AND result = 'ok'"
        ),
    )
    .await;
    (reversals, audited)
}

/// A card payment authorized and captured, so the payments list has one.
async fn card_payment(app: &TestApp, merchant: &str) -> String {
    let data = app
        .ok(
            "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }",
            json!({ "i": { "merchantId": merchant, "amount": { "amount": "35.00", "currency": "USD" },
                    "externalRef": "card-order-77", "idempotencyKey": "seed-auth-77" } }),
        )
        .await;
    let id = data["authorizePayment"]["payment"]["id"].as_str().expect("payment id").to_owned();
    app.ok(
        "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { payment { id } } }",
        json!({ "i": { "paymentId": id, "idempotencyKey": "seed-capture-77" } }),
    )
    .await;
    id
}

/// A card payment of `merchant` in euros, authorized and captured in full;
/// returns the capture transaction's id. Euros, so the USD figures the run
/// checks (balances, the month's rollup) stay as they were.
async fn captured_in_euros(app: &TestApp, merchant: &str) -> String {
    let data = app
        .ok(
            "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }",
            json!({ "i": { "merchantId": merchant, "amount": { "amount": "25.00", "currency": "EUR" },
                    "externalRef": "card-order-eur-1", "idempotencyKey": "seed-auth-eur-1" } }),
        )
        .await;
    let id = data["authorizePayment"]["payment"]["id"].as_str().expect("payment id").to_owned();
    let data = app
        .ok(
            "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { transaction { id kind } } }",
            json!({ "i": { "paymentId": id, "idempotencyKey": "seed-capture-eur-1" } }),
        )
        .await;
    assert_eq!(data["capturePayment"]["transaction"]["kind"], "CAPTURE");
    data["capturePayment"]["transaction"]["id"].as_str().expect("capture id").to_owned()
}

#[tokio::test]
async fn support_staff_reverse_a_defective_deal_in_the_browser_and_a_viewer_cannot() {
    // The server's warnings and errors go to this test's output: a request
    // the console shows as failed is explained there.
    let _log = server_logs_to_stderr();
    // Arrange: the console, two staff members, ShirtyPuff with sales.
    let dist = console_dist();
    let app = spawn_app_with(&["--console-dir", dist.to_str().expect("utf-8 path")]).await;
    app.staff("sam.support", "SUPPORT").await;
    app.staff("vic.viewer", "VIEWER").await;
    let shirty = app.merchant("ShirtyPuff").await;
    let other = app.merchant("Other Shop").await;
    // More stalls than fit on one page of search results (20).
    for i in 0..22 {
        app.merchant(&format!("Market Stall {i:02}")).await;
    }
    // The card processing service records payments; a merchant key may not.
    let key = app.service_key("card-processing", &["payments:write"]).await;
    for (i, gross) in ["30.00", "45.00"].iter().enumerate() {
        let body = app.pay(&shirty, gross, Some("0.90"), "USD", &format!("seed-{i}")).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let defective = app
        .ok(
            "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }",
            json!({ "i": { "merchantId": shirty, "gross": { "amount": "50.00", "currency": "USD" },
                    "fee": { "amount": "1.50", "currency": "USD" }, "externalRef": "order-defective-shirt",
                    "idempotencyKey": "seed-defective" } }),
        )
        .await["recordPayment"]["transaction"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // ShirtyPuff's card fees go back in proportion on a refund, so the
    // refund dialog must show the ledger's own plan, fee share included.
    app.ok(
        "mutation($i: SetFeeScheduleInput!) { setFeeSchedule(input: $i) { percentBps } }",
        json!({ "i": { "merchantId": shirty, "asset": "USD", "percentBps": 300, "fixed": "0.30",
                "refundReturnsFee": true, "idempotencyKey": "seed-fees" } }),
    )
    .await;
    let capture = captured_in_euros(&app, &other).await;
    // A card payment of 20.00 EUR under dispute, for the dispute dialog;
    // once won, an admin pays the merchant out.
    let dispute_shop = app.merchant("Dispute Shop").await;
    let disputed = app
        .ok(
            "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }",
            json!({ "i": { "merchantId": dispute_shop, "amount": { "amount": "20.00", "currency": "EUR" },
                    "idempotencyKey": "seed-auth-dispute" } }),
        )
        .await["authorizePayment"]["payment"]["id"]
        .as_str()
        .expect("payment id")
        .to_owned();
    for (mutation, input, key) in [
        ("capturePayment", "CapturePaymentInput", "seed-cap-dispute"),
        ("openDispute", "OpenDisputeInput", "seed-dispute"),
    ] {
        app.ok(
            &format!("mutation($i: {input}!) {{ {mutation}(input: $i) {{ payment {{ id }} }} }}"),
            json!({ "i": { "paymentId": disputed, "idempotencyKey": key } }),
        )
        .await;
    }
    // An order the customer quotes: found by its number, reversed from there.
    let order = app
        .ok(
            "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }",
            json!({ "i": { "merchantId": other, "gross": { "amount": "12.00", "currency": "EUR" },
                    "externalRef": "order-4711", "idempotencyKey": "seed-order-4711" } }),
        )
        .await["recordPayment"]["transaction"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    card_payment(&app, &shirty).await;
    let available_before = app.available(&shirty, "USD").await.expect("a USD balance");

    // The server serves the console with the right types and caching.
    let index = app.http.get(format!("{}/console/merchants/{shirty}", app.base)).send().await.expect("index");
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let csp = index.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(index.headers()["x-content-type-options"], "nosniff");
    let html = index.text().await.expect("html");
    assert!(!html.contains("<script type=\"module\">"), "no inline script: the policy forbids it");
    let boot = html.split('"').find(|s| s.contains("/boot-") && s.ends_with(".js")).expect("index.html names boot.js");
    let boot = app.http.get(format!("{}{boot}", app.base)).send().await.expect("boot.js").text().await.expect("js");
    let wasm = boot.split('"').find(|s| s.ends_with("_bg.wasm")).expect("boot.js names the wasm").to_owned();
    let file = app.http.get(format!("{}{wasm}", app.base)).send().await.expect("wasm");
    assert_eq!(file.headers()["content-type"], "application/wasm");
    assert_eq!(file.headers()["cache-control"], "public, max-age=31536000, immutable");
    let missing = app.http.get(format!("{}/console/no-such-file.js", app.base)).send().await.expect("missing");
    assert_eq!(missing.status(), 404, "a missing file is 404, not the app");

    // Act: the browser run.
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console");
    run_browser(
        "console.mjs",
        &[
            ("BASE_URL", &app.base),
            ("SUPPORT_USER", "sam.support"),
            ("SUPPORT_PASSWORD", "sam.support-password-1"),
            ("VIEWER_USER", "vic.viewer"),
            ("VIEWER_PASSWORD", "vic.viewer-password-1"),
            ("MERCHANT_ID", &shirty),
            ("PAYMENTS_KEY", &key),
            ("DEFECTIVE_REF", "order-defective-shirt"),
            ("CAPTURE_MERCHANT", "Other Shop"),
            ("CAPTURE_TX", &capture),
            ("ORDER_REF", "order-4711"),
            ("DISPUTE_MERCHANT", "Dispute Shop"),
            ("ADMIN_USER", crate::helpers::ADMIN_USERNAME),
            ("ADMIN_PASSWORD", &app.admin_password),
        ],
        &out,
    )
    .await;

    // Assert: what the browser did is in the ledger, once.
    let (reversals, audited) = reversals_and_audits(&app, &defective, "torn shirt").await;
    assert_eq!(reversals, 1, "the double click reversed once");
    let order_reversals =
        one_value(&app, format!("SELECT COUNT(*) FROM transactions WHERE reverses = '{order}'")).await;
    assert_eq!(order_reversals, 1, "the order found by its number was reversed once");
    let resolved = app.ok("query($id: ID!) { payment(id: $id) { state } }", json!({ "id": disputed })).await;
    assert_eq!(resolved["payment"]["state"], "CAPTURED", "the dispute was resolved as won: {resolved}");
    let payouts = one_value(&app, format!("SELECT COUNT(*) FROM payouts WHERE merchant_id = '{dispute_shop}'")).await;
    assert_eq!(payouts, 1, "the admin's payout was made once");
    assert_eq!(audited, 1, "the reversal is audited with its reason");
    let viewer_tries =
        one_value(&app, "SELECT COUNT(*) FROM transactions WHERE idempotency_key = 'viewer-try'".to_owned()).await;
    assert_eq!(viewer_tries, 0, "the viewer's refused attempt wrote nothing");
    let refunds = one_value(
        &app,
        "SELECT COUNT(*) FROM audit_log WHERE actor = 'sam.support' AND action = 'refundPayment' AND result = 'ok'"
            .to_owned(),
    )
    .await;
    assert_eq!(refunds, 1, "one refund succeeded; the one over what was left was refused");
    // The live 20.00 (less 0.60) went in; the defective 50.00 (less its
    // 1.50 fee) came back out, and 10.00 was refunded, of which the platform
    // gave back its fee share: +19.40 − 48.50 − (10.00 − share).
    let share = one_value(
        &app,
        "SELECT CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) FROM entries e JOIN accounts a ON a.id = e.account_id \
         JOIN transactions t ON t.seq = e.transaction_seq WHERE t.kind = 'refund' AND a.code = 'fee_revenue'"
            .to_owned(),
    )
    .await;
    assert!(share > 0, "the schedule gave a fee share back");
    let before: rust_decimal::Decimal = available_before.parse().expect("decimal");
    let after: rust_decimal::Decimal = app.available(&shirty, "USD").await.expect("balance").parse().expect("decimal");
    assert_eq!(after - before, rust_decimal::Decimal::new(-3910 + share, 2));
    // The capture was reversed once, through the console, with its reason;
    // the script compared the previewed entries with the posted ones.
    let (capture_reversals, capture_audited) = reversals_and_audits(&app, &capture, "never shipped").await;
    assert_eq!(capture_reversals, 1, "the capture was reversed once");
    assert_eq!(capture_audited, 1, "the capture's reversal is audited with its reason");
    app.assert_books_consistent().await;
    for shot in ["merchant-page.png", "reversal-dialog.png", "capture-reversal-dialog.png"] {
        assert!(out.join(shot).is_file(), "screenshot {shot} saved");
    }
}
