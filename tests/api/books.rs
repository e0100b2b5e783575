//! The `verify` and `rebuild-balances` checks, including deliberate breakage.

use std::process::ExitCode;

use clap::Parser;
use ledger_server::config::Cli;
use sea_orm::ConnectionTrait;

/// Runs a `ledger-server` subcommand in-process; returns its exit code, debug-formatted.
async fn run_cli(args: &[&str], database_url: &str) -> String {
    let mut argv = vec!["ledger-server", "--database-url", database_url];
    argv.extend_from_slice(args);
    let code = ledger_server::cli::run(Cli::try_parse_from(argv).unwrap()).await.unwrap();
    format!("{code:?}")
}

use crate::helpers::spawn_app;

#[tokio::test]
async fn verify_catches_a_corrupted_balance_and_rebuild_repairs_it() {
    let app = spawn_app().await;
    let m = app.merchant("Audit").await;
    app.pay(&m, "10.00", Some("1.00"), "USD", "a1").await;
    app.assert_books_consistent().await;

    // Deliberate breakage: a balance row edited behind the ledger's back.
    app.db
        .execute_unprepared("UPDATE balances SET credits_posted = credits_posted + 1 WHERE credits_posted > 0")
        .await
        .unwrap();
    let report = ledger_server::core::reports::verify(&app.db).await.unwrap();
    assert!(!report.is_clean());
    assert!(!report.balance_mismatches.is_empty(), "{report:?}");
    assert!(!report.unbalanced_assets.is_empty(), "{report:?}");

    // The verify subcommand exits non-zero on the breach; rebuild-balances repairs it.
    assert_eq!(run_cli(&["verify"], &app.database_url).await, format!("{:?}", ExitCode::FAILURE));
    assert_eq!(run_cli(&["rebuild-balances"], &app.database_url).await, format!("{:?}", ExitCode::SUCCESS));
    assert_eq!(run_cli(&["verify"], &app.database_url).await, format!("{:?}", ExitCode::SUCCESS));
    app.assert_books_consistent().await;
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("9.00"));
}

#[tokio::test]
async fn verify_catches_a_merchant_clock_out_of_step_with_its_journal() {
    let app = spawn_app().await;
    let m = app.merchant("Clockwork").await;
    app.pay(&m, "10.00", None, "USD", "c1").await;
    app.pay(&m, "5.00", None, "USD", "c2").await;
    app.assert_books_consistent().await;

    // Deliberate breakage: the clock moved with no transaction behind it (the
    // next posting would leave a gap at 3).
    let clock = format!("UPDATE merchant_clocks SET last_transaction_seq = {{}} WHERE merchant_id = '{m}'");
    app.db.execute_unprepared(&clock.replace("{}", "3")).await.unwrap();
    let report = ledger_server::core::reports::verify(&app.db).await.unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.journal_breaks.len(), 1, "{report:?}");
    assert!(report.journal_breaks[0].contains("clock at 3, journal holds 2 numbers up to 2"), "{report:?}");
    assert_eq!(run_cli(&["verify"], &app.database_url).await, format!("{:?}", ExitCode::FAILURE));

    // Repaired, the books verify again and the journal goes on at 3.
    app.db.execute_unprepared(&clock.replace("{}", "2")).await.unwrap();
    app.assert_books_consistent().await;
    let third = app.pay(&m, "1.00", None, "USD", "c3").await;
    let id = third["data"]["recordPayment"]["transaction"]["id"].clone();
    let t = app.ok("query($id: ID!) { transaction(id: $id) { sequence } }", serde_json::json!({ "id": id })).await;
    assert_eq!(t["transaction"]["sequence"], 3);
}

#[tokio::test]
async fn trial_balance_debits_equal_credits_per_asset() {
    let app = spawn_app().await;
    let m = app.merchant("Trial").await;
    app.pay(&m, "10.00", Some("1.00"), "USD", "t1").await;
    app.pay(&m, "700", Some("70"), "JPY", "t2").await;
    let data = app
        .ok(
            "{ trialBalance { code asset platform accounts debitsPosted { amount } creditsPosted { amount } } }",
            serde_json::json!({}),
        )
        .await;
    let lines = data["trialBalance"].as_array().unwrap();
    for asset in ["USD", "JPY"] {
        let (mut dr, mut cr) = (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO);
        for l in lines.iter().filter(|l| l["asset"] == asset) {
            dr += l["debitsPosted"]["amount"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
            cr += l["creditsPosted"]["amount"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
        }
        assert_eq!(dr, cr, "{asset}");
        assert!(dr > rust_decimal::Decimal::ZERO);
    }
    let fee = lines.iter().find(|l| l["code"] == "fee_revenue" && l["asset"] == "USD").unwrap();
    assert_eq!(fee["creditsPosted"]["amount"], "1.00");
    assert_eq!(fee["platform"], true);
}
