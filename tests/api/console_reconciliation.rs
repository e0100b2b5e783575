//! The console's reconciliation page in a real browser (issue 20).
//!
//! A real server on port 0 over a fresh PostgreSQL database serves the built
//! console; this test seeds a USD bank account, a payout in transit and a
//! captured card payment, writes two camt.053 files (one that does not add
//! up, one good), and runs `tests/browser/reconciliation.mjs` in Debian's
//! headless chromium: an admin imports the bad file and is told in plain
//! words that nothing was imported, imports the good one, previews and runs
//! the matching rules (the deposit matches its capture; the payout's debit,
//! whose end-to-end id the bank garbled, stays in the exception queue);
//! then a support agent matches that debit to the payout by hand, with a
//! reason, after the server's dry run, and reads the report: 2 lines, 100 %
//! matched, nothing unmatched. Afterwards the database is checked: the
//! payout is settled, the hand match is audited with its reason, the bad
//! file wrote nothing, and the books balance. Like the console's own test it
//! needs the built console, node and chromium (`scripts/test` prepares
//! them), and fails, never skips, without them. Screenshots land in
//! `$CARGO_TARGET_TMPDIR/console-reconciliation/`.

use std::path::PathBuf;

use chrono::NaiveDate;
use serde_json::json;

use crate::console::{console_dist, run_browser};
use crate::helpers::{ADMIN_USERNAME, TestApp, server_logs_to_stderr, spawn_app_with};

/// The bank account's number, as the statements name it.
const ACCOUNT_NUMBER: &str = "RECON-CONSOLE-001";
/// The bank's reference (`AcctSvcrRef`) of the payout's debit.
const PAYOUT_LINE: &str = "RC-PAYOUT-1";
/// The bank's reference of the processor's deposit.
const DEPOSIT_LINE: &str = "RC-DEPOSIT-1";
/// The reason the support agent gives for the hand match.
const REASON: &str = "bank garbled the payout reference; amount and day agree";

/// One line of a test statement: the bank's reference, debit or credit,
/// amount in cents, the `EndToEndId` of its one transaction detail and its
/// remittance text.
struct Line {
    reference: &'static str,
    debit: bool,
    minor: i64,
    end_to_end: String,
    remittance: &'static str,
}

/// A camt.053.001.02 statement of [`ACCOUNT_NUMBER`] in USD booked on `day`,
/// opening at 1,000.00, with `lines`, rendered by the server's own camt
/// writer; the closing balance is opening + lines + `closing_off` cents (0
/// for a statement that adds up).
fn statement(id: &str, day: NaiveDate, lines: &[Line], closing_off: i64) -> Vec<u8> {
    use ledger_server::core::reconciliation::statement::{
        BankDirection, BookedBalance, ParsedStatement, StatementAccount, StatementLine, TransactionDetails, camt,
    };
    let opening = 100_000;
    let net: i64 = lines.iter().map(|l| if l.debit { -l.minor } else { l.minor }).sum();
    let parsed = ParsedStatement {
        format: "camt.053.001.02".into(),
        statement_id: id.into(),
        account: StatementAccount { iban: None, number: Some(ACCOUNT_NUMBER.into()), currency: Some("USD".into()) },
        currency: "USD".into(),
        opening_booked: Some(BookedBalance { amount_minor: opening, date: Some(day) }),
        closing_booked: Some(BookedBalance { amount_minor: opening + net + closing_off, date: Some(day) }),
        lines: lines
            .iter()
            .map(|l| StatementLine {
                amount_minor: l.minor,
                currency: "USD".into(),
                direction: if l.debit { BankDirection::Debit } else { BankDirection::Credit },
                reversal: false,
                status: "BOOK".into(),
                booking_date: Some(day),
                value_date: Some(day),
                account_servicer_ref: Some(l.reference.into()),
                entry_ref: None,
                batch_count: None,
                details: vec![TransactionDetails {
                    end_to_end_id: Some(l.end_to_end.clone()),
                    amount_minor: Some(l.minor),
                    remittance: vec![l.remittance.into()],
                    ..Default::default()
                }],
                additional_info: None,
            })
            .collect(),
    };
    camt::render_v02(&parsed, day.and_hms_opt(18, 0, 0).expect("a time")).into_bytes()
}

/// The state of payout `id`, as stored (`in_transit`, `settled`, `failed`).
async fn payout_state(app: &TestApp, id: &str) -> String {
    let rows = app.lines(&format!("SELECT state AS line FROM payouts WHERE id = '{id}'")).await;
    rows.first().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_admin_imports_and_matches_a_statement_and_support_resolves_an_exception_in_the_browser() {
    let _log = server_logs_to_stderr();
    // Arrange: the console, a support agent, the bank account, a payout of
    // 80.00 in transit and a captured card payment of 25.00.
    let dist = console_dist();
    let app = spawn_app_with(&["--console-dir", dist.to_str().expect("utf-8 path")]).await;
    app.staff("sue.support", "SUPPORT").await;
    let account = app
        .ok(
            "mutation($i: RegisterBankAccountInput!) { registerBankAccount(input: $i) { id } }",
            json!({ "i": { "name": "Operating USD", "accountNumber": ACCOUNT_NUMBER, "currency": "USD" } }),
        )
        .await["registerBankAccount"]["id"]
        .as_str()
        .expect("bank account id")
        .to_owned();
    let payee = app.merchant("Payout Shop").await;
    let paid = app.pay(&payee, "80.00", None, "USD", "recon-console-pay").await;
    assert!(paid.get("errors").is_none(), "{paid}");
    let payout = app.create_payout(&payee, "recon-console-payout").await;
    let card_shop = app.merchant("Card Shop").await;
    let payment = app.captured_payment(&card_shop, "25.00", "recon-console-card").await;
    assert_eq!(payout_state(&app, &payout).await, "in_transit");

    // The bank's statement of today: the payout's debit with its reference
    // garbled (the rules cannot match it), and the processor's deposit of
    // the capture. A copy whose closing balance is off by 1.00 is refused.
    let today = chrono::Utc::now().date_naive();
    let garbled: String = payout.chars().rev().collect();
    let lines = [
        Line {
            reference: PAYOUT_LINE,
            debit: true,
            minor: 8_000,
            end_to_end: garbled,
            remittance: "PAYOUT PAYOUT SHOP",
        },
        Line {
            reference: DEPOSIT_LINE,
            debit: false,
            minor: 2_500,
            end_to_end: payment.clone(),
            remittance: "SETTLEMENT CARDS 1",
        },
    ];
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-reconciliation");
    std::fs::create_dir_all(&out).expect("the output directory");
    let good = out.join("statement.camt053.xml");
    let bad = out.join("statement-unbalanced.camt053.xml");
    std::fs::write(&good, statement("RECON-CONSOLE-1", today, &lines, 0)).expect("write the statement");
    std::fs::write(&bad, statement("RECON-CONSOLE-BAD", today, &lines, 100)).expect("write the bad statement");

    // Act: the browser run.
    run_browser(
        "reconciliation.mjs",
        &[
            ("BASE_URL", &app.base),
            ("ADMIN_USER", ADMIN_USERNAME),
            ("ADMIN_PASSWORD", &app.admin_password),
            ("SUPPORT_USER", "sue.support"),
            ("SUPPORT_PASSWORD", "sue.support-password-1"),
            ("BANK_ACCOUNT", "Operating USD"),
            ("STATEMENT_FILE", good.to_str().expect("utf-8 path")),
            ("BAD_STATEMENT_FILE", bad.to_str().expect("utf-8 path")),
            ("PAYOUT_ID", &payout),
            ("PAYMENT_ID", &payment),
            ("PAYOUT_LINE", PAYOUT_LINE),
            ("DEPOSIT_LINE", DEPOSIT_LINE),
            ("REASON", REASON),
        ],
        &out,
    )
    .await;

    // Assert: one statement (the bad file wrote nothing), every line matched,
    // the payout settled by the hand match, audited with its reason.
    let statements = app.lines("SELECT statement_ref AS line FROM bank_statements").await;
    assert_eq!(statements, ["RECON-CONSOLE-1"], "only the good statement was imported");
    let unmatched = app
        .ok(
            "query($b: ID!) { bankStatementLines(bankAccountId: $b, state: UNMATCHED) { nodes { id } } }",
            json!({ "b": account }),
        )
        .await;
    assert_eq!(unmatched["bankStatementLines"]["nodes"], json!([]), "no line is left in the queue");
    assert_eq!(payout_state(&app, &payout).await, "settled", "the hand match settled the payout");
    let audited = app
        .lines(
            "SELECT actor || ' ' || reason AS line FROM audit_log WHERE action = 'matchBankStatementLine' \
             AND result = 'ok'",
        )
        .await;
    assert_eq!(audited.len(), 1, "the hand match is audited once: {audited:?}");
    assert!(
        audited[0].starts_with("staff:sue.support ") && audited[0].contains(&payout) && audited[0].ends_with(REASON),
        "the audit names the agent, the payout and the reason: {audited:?}"
    );
    let settlements = app.scalar("SELECT COUNT(*) FROM transactions WHERE kind = 'settlement'").await;
    assert_eq!(settlements, 1, "the deposit settled its capture once");
    app.assert_books_consistent().await;
    for shot in ["reconciliation-queue.png", "reconciliation-hand-match.png", "reconciliation-report.png"] {
        assert!(out.join(shot).is_file(), "screenshot {shot} saved");
    }
}
