//! Bank reconciliation against the books, second part: processor deposits
//! that settle captures (one line to many captures, a batch split over two
//! lines, a line the bank booked twice, a deposit short by the processor's
//! fee), the exception queue and what staff do with it (match a deposit by
//! hand, unmatch, write off to suspense), the unconfirmed ledger items, the
//! reconciliation report, and the Olist life-cycle replay's own statement
//! with five known discrepancies.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use ledger_server::core::reconciliation::statement::{
    BankDirection, BookedBalance, ParsedStatement, StatementAccount, StatementLine, TransactionDetails, camt,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, fresh, spawn_app};
use crate::reconciliation::fresh_account_number;

/// Registers a USD bank account by number; returns (id, number).
async fn usd_account(app: &TestApp) -> (String, String) {
    let number = fresh_account_number();
    let data = app
        .ok(
            "mutation($i: RegisterBankAccountInput!) { registerBankAccount(input: $i) { id } }",
            json!({ "i": { "name": "Operating USD", "accountNumber": number, "currency": "USD" } }),
        )
        .await;
    (data["registerBankAccount"]["id"].as_str().expect("bank account id").to_owned(), number)
}

/// One line of a test statement.
struct Line<'a> {
    reference: &'a str,
    direction: BankDirection,
    reversal: bool,
    minor: i64,
    day: NaiveDate,
    /// `EndToEndId`s with their amounts (one `TxDtls` each).
    payments: Vec<(String, i64)>,
    remittance: Option<&'a str>,
}

fn credit<'a>(
    reference: &'a str,
    minor: i64,
    day: NaiveDate,
    batch: &'a str,
    payments: Vec<(String, i64)>,
) -> Line<'a> {
    Line { reference, direction: BankDirection::Credit, reversal: false, minor, day, payments, remittance: Some(batch) }
}

fn debit<'a>(reference: &'a str, minor: i64, day: NaiveDate, end_to_end: Option<String>) -> Line<'a> {
    let payments = end_to_end.map(|e| vec![(e, minor)]).unwrap_or_default();
    Line { reference, direction: BankDirection::Debit, reversal: false, minor, day, payments, remittance: None }
}

/// A statement of `lines` for `account_number` in `currency`, opening at
/// 10,000.00, rendered by the server's own camt writer in `version`.
fn statement(account_number: &str, currency: &str, lines: &[Line], v08: bool) -> Vec<u8> {
    let opening = 1_000_000;
    let net: i64 = lines.iter().map(|l| if l.direction == BankDirection::Debit { -l.minor } else { l.minor }).sum();
    let first = lines.iter().map(|l| l.day).min().unwrap_or_default();
    let last = lines.iter().map(|l| l.day).max().unwrap_or_default();
    let parsed = ParsedStatement {
        format: String::new(),
        statement_id: format!("STMT-{}", &fresh()[..12]),
        account: StatementAccount { iban: None, number: Some(account_number.into()), currency: Some(currency.into()) },
        currency: currency.into(),
        opening_booked: Some(BookedBalance { amount_minor: opening, date: Some(first) }),
        closing_booked: Some(BookedBalance { amount_minor: opening + net, date: Some(last) }),
        lines: lines
            .iter()
            .map(|l| {
                let mut details: Vec<TransactionDetails> = l
                    .payments
                    .iter()
                    .map(|(e2e, minor)| TransactionDetails {
                        end_to_end_id: Some(e2e.clone()),
                        amount_minor: Some(*minor),
                        ..Default::default()
                    })
                    .collect();
                if let Some(r) = l.remittance {
                    if details.is_empty() {
                        details.push(TransactionDetails::default());
                    }
                    details[0].remittance = vec![r.to_owned()];
                }
                StatementLine {
                    amount_minor: l.minor,
                    currency: currency.into(),
                    direction: l.direction,
                    reversal: l.reversal,
                    status: "BOOK".into(),
                    booking_date: Some(l.day),
                    value_date: Some(l.day),
                    account_servicer_ref: Some(l.reference.into()),
                    entry_ref: None,
                    batch_count: (l.payments.len() > 1).then(|| u32::try_from(l.payments.len()).unwrap_or(0)),
                    details,
                    additional_info: None,
                }
            })
            .collect(),
    };
    let at = last.and_hms_opt(18, 0, 0).expect("a time");
    if v08 { camt::render_v08(&parsed, at) } else { camt::render_v02(&parsed, at) }.into_bytes()
}

/// A statement of `account_number` (USD) with a deposit of 3.00 naming the
/// capture `payment` (`AUTHZ-DEP`) and a debit of 1.00 nothing explains
/// (`AUTHZ-OFF`), for the access rules' fixtures.
pub fn deposit_and_debit(account_number: &str, payment: &str) -> Vec<u8> {
    let lines = [
        credit("AUTHZ-DEP", 300, today(), "SETTLEMENT AUTHZ", vec![(payment.to_owned(), 400)]),
        debit("AUTHZ-OFF", 100, today(), None),
    ];
    statement(account_number, "USD", &lines, false)
}

const MATCH: &str = "mutation($b: ID!, $dry: Boolean! = false, $r: MatchRulesInput) { \
    matchBankStatementLines(bankAccountId: $b, dryRun: $dry, rules: $r) { \
    payouts { action line { accountServicerRef } payout { id state } } \
    deposits { lines { accountServicerRef state } captures { paymentId } gross { amount } net { amount } \
    fee { amount } settlementId transactionIds } } }";

const DEPOSIT_BY_HAND: &str = "mutation($l: [ID!]!, $p: [ID!]!, $r: String!, $dry: Boolean! = false) { \
    matchBankDeposit(lineIds: $l, paymentIds: $p, reason: $r, dryRun: $dry) { \
    lines { state } gross { amount } net { amount } fee { amount } settlementId transactionIds } }";

const UNMATCH: &str = "mutation($l: ID!, $r: String!, $dry: Boolean! = false) { \
    unmatchBankStatementLine(lineId: $l, reason: $r, dryRun: $dry) { lines { id state } transactionIds reverses } }";

const WRITE_OFF: &str = "mutation($l: ID!, $r: String!, $dry: Boolean! = false) { \
    writeOffBankStatementLine(lineId: $l, reason: $r, dryRun: $dry) { lines { state } transactionIds } }";

const UNCONFIRMED: &str = "query($b: ID!, $k: LedgerItemKindType, $first: Int) { \
    unconfirmedLedgerItems(bankAccountId: $b, kind: $k, first: $first) { kind id merchantId amount { amount } ageDays } }";

const REPORT: &str = "query($b: ID!, $from: NaiveDate, $to: NaiveDate, $n: Int) { \
    reconciliationReport(bankAccountId: $b, from: $from, to: $to, clearingAfterDays: $n) { \
    lineCount matchedCount writtenOffCount matchedShare depositsWithFee fees { amount } \
    unmatchedLines { fromDays toDays count amount { amount } } \
    unconfirmedItems { fromDays count amount { amount } } \
    openClearing { code merchantId amount { amount } items } } }";

/// Σ (debits − credits) posted on every account with `code`, minor units.
async fn net_of(app: &TestApp, code: &str) -> i64 {
    app.scalar(&format!(
        "SELECT CAST(COALESCE(SUM(b.debits_posted - b.credits_posted), 0) AS BIGINT) FROM balances b \
         JOIN accounts a ON a.id = b.account_id WHERE a.code = '{code}'"
    ))
    .await
}

/// The ids of `account`'s lines by AcctSvcrRef, and their states.
async fn lines_by_ref(app: &TestApp, account: &str) -> BTreeMap<String, (String, String)> {
    let q = "query($b: ID!) { bankStatementLines(bankAccountId: $b, first: 100) { edges { node { id state accountServicerRef } } } }";
    let data = app.ok(q, json!({ "b": account })).await;
    data["bankStatementLines"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            let n = &e["node"];
            let r = n["accountServicerRef"].as_str().unwrap_or_default().to_owned();
            (r, (n["id"].as_str().unwrap_or_default().to_owned(), n["state"].as_str().unwrap_or_default().to_owned()))
        })
        .collect()
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

#[tokio::test]
async fn a_deposit_net_of_the_processors_fee_settles_its_captures_and_clearing_reaches_zero() {
    // Arrange: three captures of two merchants, 100.00 gross; the processor
    // pays 97.10 into the bank, keeping 2.90.
    let _logs = crate::helpers::server_logs_to_stderr();
    let app = spawn_app().await;
    let (account, number) = usd_account(&app).await;
    let (m1, m2) = (app.merchant("Deposit One").await, app.merchant("Deposit Two").await);
    let p1 = app.captured_payment(&m1, "60.00", &fresh()).await;
    let p2 = app.captured_payment(&m1, "25.00", &fresh()).await;
    let p3 = app.captured_payment(&m2, "15.00", &fresh()).await;
    let batch = vec![(p1.clone(), 6_000), (p2.clone(), 2_500), (p3.clone(), 1_500)];
    let file = statement(&number, "USD", &[credit("DEP-1", 9_710, today(), "SETTLEMENT 2026 BATCH 1", batch)], true);
    let imported = app.upload_statement(Some(&app.token), &account, &file).await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    assert_eq!(net_of(&app, "processor_clearing").await, 10_000);

    // Act + assert: exact rules leave it in the queue; 3 % finds it; a dry run writes nothing.
    let exact = app.ok(MATCH, json!({ "b": account, "dry": true })).await;
    assert_eq!(exact["matchBankStatementLines"]["deposits"], json!([]), "{exact}");
    let rules = json!({ "amountToleranceBps": 300 });
    let dry = app.ok(MATCH, json!({ "b": account, "dry": true, "r": rules })).await;
    let d = &dry["matchBankStatementLines"]["deposits"][0];
    assert_eq!((d["gross"]["amount"].as_str(), d["fee"]["amount"].as_str()), (Some("100.00"), Some("2.90")), "{dry}");
    assert_eq!(d["settlementId"], Value::Null);
    assert_eq!(app.count("bank_settlements").await, 0);
    assert_eq!(net_of(&app, "processor_clearing").await, 10_000, "a dry run posts nothing");

    // Act: the real run.
    let run = app.ok(MATCH, json!({ "b": account, "r": rules })).await;

    // Assert: one settlement per merchant; clearing at zero; bank +97.10; fees 2.90.
    let d = &run["matchBankStatementLines"]["deposits"][0];
    assert_eq!(d["transactionIds"].as_array().map(Vec::len), Some(2), "{run}");
    assert_eq!(d["lines"][0]["state"], "MATCHED");
    assert_eq!(net_of(&app, "processor_clearing").await, 0, "the captures' clearing reached zero");
    assert_eq!(net_of(&app, "processor_fees").await, 290);
    assert_eq!(net_of(&app, "bank").await, 9_710);
    let kinds = app.lines("SELECT kind AS line FROM transactions WHERE kind = 'settlement'").await;
    assert_eq!(kinds.len(), 2);
    let unconfirmed = app.ok(UNCONFIRMED, json!({ "b": account, "k": "CAPTURE" })).await;
    assert_eq!(unconfirmed["unconfirmedLedgerItems"], json!([]));
    let again = app.ok(MATCH, json!({ "b": account, "r": rules })).await;
    assert_eq!(again["matchBankStatementLines"]["deposits"], json!([]), "nothing is settled twice");

    // Unmatch: a dry run names the two settlements; the real one reverses them.
    let line = lines_by_ref(&app, &account).await["DEP-1"].0.clone();
    let no_reason = app.gql(UNMATCH, json!({ "l": line, "r": " " })).await;
    assert_eq!(code(&no_reason), "REASON_REQUIRED");
    let preview = app.ok(UNMATCH, json!({ "l": line, "r": "wrong batch", "dry": true })).await;
    assert_eq!(preview["unmatchBankStatementLine"]["reverses"].as_array().map(Vec::len), Some(2));
    assert_eq!(net_of(&app, "processor_clearing").await, 0);
    let undone = app.ok(UNMATCH, json!({ "l": line, "r": "wrong batch" })).await;
    assert_eq!(undone["unmatchBankStatementLine"]["lines"][0]["state"], "UNMATCHED");
    assert_eq!(net_of(&app, "processor_clearing").await, 10_000, "the settlements are reversed");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM bank_settlements WHERE undone_at IS NULL").await, 0);
    assert_eq!(app.count("bank_settlements").await, 1, "kept, marked undone: nothing is deleted");
    let unconfirmed = app.ok(UNCONFIRMED, json!({ "b": account, "k": "CAPTURE" })).await;
    assert_eq!(unconfirmed["unconfirmedLedgerItems"].as_array().map(Vec::len), Some(3));
    let again = app.gql(UNMATCH, json!({ "l": line, "r": "twice" })).await;
    assert_eq!(code(&again), "LINE_NOT_MATCHED");

    // By hand: refusals write nothing; then support settles it with a reason.
    let support = app.staff("deposit_support", "SUPPORT").await;
    let viewer = app.staff("deposit_viewer", "VIEWER").await;
    let all = json!([p1, p2, p3]);
    let forbidden = app.gql_as(Some(&viewer), DEPOSIT_BY_HAND, json!({ "l": [line], "p": all, "r": "x" })).await;
    assert_eq!(code(&forbidden), "FORBIDDEN");
    let too_little = app.gql_as(Some(&support), DEPOSIT_BY_HAND, json!({ "l": [line], "p": [p3], "r": "x" })).await;
    assert_eq!(code(&too_little), "LINE_DOES_NOT_FIT", "97.10 cannot be a 15.00 capture: {too_little}");
    let unknown = app
        .gql_as(
            Some(&support),
            DEPOSIT_BY_HAND,
            json!({ "l": [line], "p": [uuid::Uuid::now_v7().to_string()], "r": "x" }),
        )
        .await;
    assert_eq!(code(&unknown), "LINE_DOES_NOT_FIT");
    let bad_id = app.gql_as(Some(&support), DEPOSIT_BY_HAND, json!({ "l": ["nope"], "p": all, "r": "x" })).await;
    assert_eq!(code(&bad_id), "BAD_USER_INPUT");
    let dry =
        app.ok_as(Some(&support), DEPOSIT_BY_HAND, json!({ "l": [line], "p": all, "r": "batch 1", "dry": true })).await;
    assert_eq!(dry["matchBankDeposit"]["fee"]["amount"], "2.90");
    assert_eq!(app.count("bank_settlements").await, 1, "the dry run recorded nothing");
    let done =
        app.ok_as(Some(&support), DEPOSIT_BY_HAND, json!({ "l": [line], "p": all, "r": "batch 1, fee 2.90" })).await;
    assert_eq!(done["matchBankDeposit"]["lines"][0]["state"], "MATCHED");
    assert_eq!(net_of(&app, "processor_clearing").await, 0, "settled again, under new idempotency keys");
    assert_eq!(net_of(&app, "processor_fees").await, 290);
    let twice = app.gql_as(Some(&support), DEPOSIT_BY_HAND, json!({ "l": [line], "p": all, "r": "again" })).await;
    assert_eq!(code(&twice), "LINE_ALREADY_MATCHED");
    let audit = app
        .lines(
            "SELECT action || ': ' || reason AS line FROM audit_log WHERE target_type = 'bank_statement' ORDER BY seq",
        )
        .await;
    assert!(audit.iter().any(|a| a.starts_with("unmatchBankStatementLine") && a.contains("wrong batch")), "{audit:?}");
    assert!(audit.iter().any(|a| a.starts_with("matchBankDeposit") && a.contains("batch 1, fee 2.90")), "{audit:?}");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn a_split_deposit_a_duplicate_line_and_an_unknown_debit_are_worked_and_reported() {
    // Arrange: batch A (40.00 + 10.00) paid in two parts on two days; batch
    // B (30.00) booked twice; a payout of 5.00 debited; 12.34 nobody knows.
    let app = spawn_app().await;
    let (account, number) = usd_account(&app).await;
    let (m1, m2, m3) = (app.merchant("Split One").await, app.merchant("Split Two").await, app.merchant("Payee").await);
    let a1 = app.captured_payment(&m1, "40.00", &fresh()).await;
    let a2 = app.captured_payment(&m2, "10.00", &fresh()).await;
    let b1 = app.captured_payment(&m1, "30.00", &fresh()).await;
    let lost = app.captured_payment(&m2, "7.00", &fresh()).await;
    app.pay(&m3, "5.00", None, "USD", &fresh()).await;
    let payout = app.create_payout(&m3, &fresh()).await;
    let (d0, d1) = (today(), today() + chrono::Duration::days(1));
    let file = statement(
        &number,
        "USD",
        &[
            credit("A-1", 3_000, d0, "Batch A", vec![(a1.clone(), 4_000), (a2.clone(), 1_000)]),
            credit("A-2", 2_000, d1, "BATCH  A", vec![]),
            credit("B-1", 3_000, d0, "BATCH B", vec![(b1.clone(), 3_000)]),
            credit("B-2", 3_000, d0, "BATCH B", vec![(b1.clone(), 3_000)]),
            debit("P-1", 500, d0, Some(payout.clone())),
            debit("X-1", 1_234, d0, None),
        ],
        false,
    );
    let imported = app.upload_statement(Some(&app.token), &account, &file).await;
    assert_eq!(imported.status, 200, "{}", imported.body);

    // Act
    let run = app.ok(MATCH, json!({ "b": account })).await;

    // Assert: A settled by both its lines, B by one, the payout settled.
    let deposits = run["matchBankStatementLines"]["deposits"].as_array().expect("deposits").clone();
    let shapes: BTreeSet<(usize, String)> = deposits
        .iter()
        .map(|d| {
            (d["lines"].as_array().map_or(0, Vec::len), d["gross"]["amount"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    assert_eq!(shapes, BTreeSet::from([(1, "30.00".to_owned()), (2, "50.00".to_owned())]), "{run}");
    assert_eq!(run["matchBankStatementLines"]["payouts"][0]["payout"]["state"], "SETTLED");
    let states = lines_by_ref(&app, &account).await;
    let state = |r: &str| states[r].1.clone();
    assert_eq!([state("A-1"), state("A-2"), state("P-1")], ["MATCHED", "MATCHED", "MATCHED"]);
    let b_states: BTreeSet<String> = [state("B-1"), state("B-2")].into();
    assert_eq!(b_states, BTreeSet::from(["MATCHED".to_owned(), "UNMATCHED".to_owned()]), "one of the twins stays");
    assert_eq!(state("X-1"), "UNMATCHED");
    // What is left in clearing is the capture no deposit paid, and the
    // payee's recordPayment, which has no capture for a deposit to settle.
    assert_eq!(net_of(&app, "processor_clearing").await, 700 + 500);

    // The payout's match is final.
    let final_ = app.gql(UNMATCH, json!({ "l": states["P-1"].0, "r": "oops" })).await;
    assert_eq!(code(&final_), "MATCH_IS_FINAL");

    // Write the unknown debit off: dry run, then for real; then undo and redo it.
    let x = states["X-1"].0.clone();
    let dry = app.ok(WRITE_OFF, json!({ "l": x, "r": "bank fee, unexplained", "dry": true })).await;
    assert_eq!(dry["writeOffBankStatementLine"]["transactionIds"], json!([]));
    assert_eq!(net_of(&app, "suspense").await, 0);
    let done = app.ok(WRITE_OFF, json!({ "l": x, "r": "bank fee, unexplained" })).await;
    assert_eq!(done["writeOffBankStatementLine"]["lines"][0]["state"], "WRITTEN_OFF");
    assert_eq!(net_of(&app, "suspense").await, 1_234, "money out of the bank, held in suspense");
    let twice = app.gql(WRITE_OFF, json!({ "l": x, "r": "again" })).await;
    assert_eq!(code(&twice), "LINE_ALREADY_MATCHED");
    app.ok(UNMATCH, json!({ "l": x, "r": "found it" })).await;
    assert_eq!(net_of(&app, "suspense").await, 0);
    app.ok(WRITE_OFF, json!({ "l": x, "r": "not found after all" })).await;

    // The capture no deposit paid: unconfirmed, in the report's open
    // clearing, until support writes it off to suspense.
    const ITEM_WRITE_OFF: &str = "mutation($b: ID!, $p: ID!, $r: String!, $dry: Boolean! = false) { \
        writeOffLedgerItem(bankAccountId: $b, paymentId: $p, reason: $r, dryRun: $dry) { \
        capture { paymentId amount { amount } } transactionId } }";
    let open = app.ok(UNCONFIRMED, json!({ "b": account, "k": "CAPTURE" })).await;
    assert_eq!(open["unconfirmedLedgerItems"][0]["id"], lost.as_str(), "{open}");
    let report = app.ok(REPORT, json!({ "b": account, "from": d0, "to": d1, "n": 0 })).await;
    assert_eq!(report["reconciliationReport"]["openClearing"][0]["amount"]["amount"], "7.00", "{report}");
    let dry = app.ok(ITEM_WRITE_OFF, json!({ "b": account, "p": lost, "r": "processor lost it", "dry": true })).await;
    assert_eq!(dry["writeOffLedgerItem"]["transactionId"], Value::Null);
    assert_eq!(net_of(&app, "processor_clearing").await, 1_200);
    let settled = app.gql(ITEM_WRITE_OFF, json!({ "b": account, "p": b1, "r": "settled one" })).await;
    assert_eq!(code(&settled), "ITEM_NOT_OPEN");
    let gone = app.ok(ITEM_WRITE_OFF, json!({ "b": account, "p": lost, "r": "processor lost it" })).await;
    assert!(gone["writeOffLedgerItem"]["transactionId"].is_string());
    assert_eq!(net_of(&app, "processor_clearing").await, 500, "only the recordPayment is left");
    assert_eq!(net_of(&app, "suspense").await, 1_234 + 700);
    let again = app.gql(ITEM_WRITE_OFF, json!({ "b": account, "p": lost, "r": "twice" })).await;
    assert_eq!(code(&again), "ITEM_NOT_OPEN");

    // The report: 6 lines, 4 matched, 1 written off, 1 (the twin) unmatched.
    let report = app.ok(REPORT, json!({ "b": account, "from": d0, "to": d1, "n": 0 })).await;
    let r = &report["reconciliationReport"];
    assert_eq!(
        (r["lineCount"].as_u64(), r["matchedCount"].as_u64(), r["writtenOffCount"].as_u64()),
        (Some(6), Some(4), Some(1)),
        "{report}"
    );
    assert!((r["matchedShare"].as_f64().unwrap_or_default() - 5.0 / 6.0).abs() < 1e-9);
    assert_eq!(r["unmatchedLines"][0]["count"], 1);
    assert_eq!(r["unmatchedLines"][0]["amount"]["amount"], "30.00");
    assert_eq!(r["openClearing"], json!([]), "every capture and payout is confirmed");
    let bad = app.gql(REPORT, json!({ "b": account, "from": d1, "to": d0 })).await;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
    app.assert_books_consistent().await;
}

/// The Olist life-cycle replay's bank statement, as its bank and card
/// processor would send it, with five known discrepancies.
mod olist {
    use super::*;

    /// What the generator injected, by AcctSvcrRef and ledger id.
    pub struct Injected {
        /// The week whose deposit is missing.
        pub missing_week: String,
        /// The week whose deposit is short by a processor fee, its line and the fee.
        pub short_week: String,
        pub short_line: String,
        pub short_fee: i64,
        /// The line that repeats another.
        pub duplicate_line: String,
        /// The payout the bank returned.
        pub returned_payout: String,
        /// The week whose deposit came in two parts, on two days.
        pub split_week: String,
    }

    /// The camt.053.001.08 statement of `account_number` (BRL) for
    /// `captures` (payment id, settlement week, captured minor units) and
    /// `payouts` (payout id, minor units): one deposit per week, each
    /// capture a `TxDtls` (EndToEndId = payment id), remittance
    /// `SETTLEMENT <week>`; one debit per payout (EndToEndId = payout id).
    /// Injected: the second week's deposit is missing; the third's is short
    /// by a 2.9 % processor fee; the fourth's is booked twice; the fifth's
    /// comes in two parts (60 % today, the rest tomorrow, the second with
    /// the batch reference alone); the first payout is debited and returned.
    pub fn generate(
        account_number: &str,
        captures: &[(String, String, i64)],
        payouts: &[(String, i64)],
        day: NaiveDate,
    ) -> (Vec<u8>, Injected) {
        let mut weeks: BTreeMap<&str, Vec<(String, i64)>> = BTreeMap::new();
        for (payment, week, minor) in captures {
            weeks.entry(week.as_str()).or_default().push((payment.clone(), *minor));
        }
        let names: Vec<&str> = weeks.keys().copied().collect();
        assert!(names.len() >= 5, "the sample spans enough weeks");
        let (missing, short, duplicate, split) = (names[1], names[2], names[3], names[4]);
        let next = day + chrono::Duration::days(1);
        let mut refs = Vec::new();
        for (i, week) in names.iter().enumerate() {
            refs.push((
                format!("DEP-{i:03}"),
                format!("DEP-{i:03}-DUP"),
                format!("DEP-{i:03}-B"),
                format!("SETTLEMENT {week}"),
            ));
        }
        let mut lines: Vec<Line> = Vec::new();
        let mut short_fee = 0;
        for (i, week) in names.iter().enumerate() {
            let batch = &weeks[week];
            let gross: i64 = batch.iter().map(|b| b.1).sum();
            let (main, dup, part, text) = (&refs[i].0, &refs[i].1, &refs[i].2, &refs[i].3);
            if *week == missing {
                continue;
            }
            if *week == short {
                short_fee = (gross * 29 + 500) / 1_000;
                lines.push(credit(main, gross - short_fee, day, text, batch.clone()));
            } else if *week == split {
                let first = gross * 6 / 10;
                lines.push(credit(main, first, day, text, batch.clone()));
                lines.push(credit(part, gross - first, next, text, vec![]));
            } else {
                lines.push(credit(main, gross, day, text, batch.clone()));
                if *week == duplicate {
                    lines.push(credit(dup, gross, day, text, batch.clone()));
                }
            }
        }
        let payout_refs: Vec<String> = (0..payouts.len()).map(|i| format!("PO-{i:05}")).collect();
        for ((payout, minor), r) in payouts.iter().zip(&payout_refs) {
            lines.push(debit(r, *minor, day, Some(payout.clone())));
        }
        let returned = payouts.first().expect("a payout").clone();
        let mut back = debit("PO-RETURN", returned.1, next, Some(returned.0.clone()));
        back.direction = BankDirection::Credit;
        back.reversal = true;
        lines.push(back);
        let injected = Injected {
            missing_week: missing.to_owned(),
            short_week: short.to_owned(),
            short_line: refs[2].0.clone(),
            short_fee,
            duplicate_line: refs[3].1.clone(),
            returned_payout: returned.0.clone(),
            split_week: split.to_owned(),
        };
        (statement(account_number, "BRL", &lines, true), injected)
    }
}

/// The AcctSvcrRefs of the unmatched lines, once they are `expected` or ten
/// minutes have passed: a matching run that outlived its request (the 30 s
/// timeout) goes on in the server, a chunk of payout steps at a time, each
/// committing after seconds of work on a loaded machine, so only the queue
/// itself says when it is done.
async fn unmatched_when_done(app: &TestApp, expected: &[String]) -> Vec<String> {
    let sql =
        "SELECT account_servicer_ref AS line FROM bank_statement_lines WHERE match_state = 'unmatched' ORDER BY 1";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let unmatched = app.lines(sql).await;
        if unmatched == expected || std::time::Instant::now() > deadline {
            return unmatched;
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// After the Olist life-cycle replay into `app` (the replay test's own
/// run, so the suite replays once): the generator's statement is imported
/// and matched with the default, exact rules; exactly the injected
/// discrepancies are flagged (the short deposit and the duplicate line stay
/// in the queue; the missing and the short deposit's captures stay
/// unconfirmed, in clearing; the returned payout is failed; the split
/// deposit is matched by both its lines), everything else is settled; then
/// the short deposit is matched by hand and its fee posted.
pub async fn the_olist_statement_flags_exactly_the_injected_discrepancies_and_settles_the_rest(
    app: &TestApp,
    data: &std::path::Path,
) {
    use ledger_server::replay::{read_items, week_of};
    let _logs = crate::helpers::server_logs_to_stderr();

    let week_of_order: BTreeMap<String, String> =
        read_items(data).expect("items").iter().map(|i| (i.order_id.clone(), week_of(i).expect("week"))).collect();
    let rows = |sql: &'static str| {
        let db = app.db.clone();
        async move {
            use sea_orm::ConnectionTrait;
            db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.expect(sql)
        }
    };
    let captures: Vec<(String, String, i64)> =
        rows("SELECT CAST(id AS TEXT) AS id, external_ref, captured FROM payments WHERE captured > 0 ORDER BY id")
            .await
            .iter()
            .map(|r| {
                let order: String = r.try_get("", "external_ref").expect("order");
                (
                    r.try_get("", "id").expect("id"),
                    week_of_order[&order].clone(),
                    r.try_get("", "captured").expect("captured"),
                )
            })
            .collect();
    let payouts: Vec<(String, i64)> =
        rows("SELECT CAST(id AS TEXT) AS id, amount FROM payouts WHERE state = 'in_transit' ORDER BY id")
            .await
            .iter()
            .map(|r| (r.try_get("", "id").expect("id"), r.try_get("", "amount").expect("amount")))
            .collect();
    let number = fresh_account_number();
    let registered = app
        .ok(
            "mutation($i: RegisterBankAccountInput!) { registerBankAccount(input: $i) { id } }",
            json!({ "i": { "name": "Olist BRL", "accountNumber": number, "currency": "BRL" } }),
        )
        .await;
    let account = registered["registerBankAccount"]["id"].as_str().expect("id").to_owned();
    let (file, injected) = olist::generate(&number, &captures, &payouts, today());
    let imported = app.upload_statement(Some(&app.token), &account, &file).await;
    assert_eq!(imported.status, 200, "{}", imported.body);

    // Act: one matching run with the default, exact rules.
    let started = std::time::Instant::now();
    let run = app.gql(MATCH, json!({ "b": account })).await;
    if code(&run) != "TIMEOUT" {
        assert!(run.get("errors").is_none(), "{run}");
    }

    // Assert: exactly the injected discrepancies are flagged.
    let mut expected = vec![injected.short_line.clone(), injected.duplicate_line.clone()];
    expected.sort();
    let unmatched = unmatched_when_done(app, &expected).await;
    eprintln!("olist matching run: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(unmatched, expected, "the short deposit and the duplicate line stay in the queue");
    let weeks_of = |ids: &[String]| -> BTreeSet<String> {
        ids.iter().filter_map(|id| captures.iter().find(|c| &c.0 == id).map(|c| c.1.clone())).collect()
    };
    let unconfirmed = app
        .lines(
            "SELECT CAST(id AS TEXT) AS line FROM payments p WHERE captured > 0 AND NOT EXISTS \
                (SELECT 1 FROM bank_settlement_payments s WHERE s.payment_id = p.id)",
        )
        .await;
    assert_eq!(
        weeks_of(&unconfirmed),
        BTreeSet::from([injected.missing_week.clone(), injected.short_week.clone()]),
        "the missing and the short deposit's captures are unconfirmed"
    );
    let states =
        app.lines("SELECT state || ' ' || CAST(COUNT(*) AS TEXT) AS line FROM payouts GROUP BY state ORDER BY 1").await;
    assert_eq!(
        states,
        ["failed 1".to_owned(), format!("settled {}", payouts.len() - 1)],
        "every payout settled but the returned one"
    );
    let failed = app.lines("SELECT CAST(id AS TEXT) AS line FROM payouts WHERE state = 'failed'").await;
    assert_eq!(failed, std::slice::from_ref(&injected.returned_payout));
    let split_lines = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM bank_line_matches m JOIN bank_statement_lines l ON l.id = m.line_id \
             WHERE m.target_kind = 'settlement' AND l.details::text LIKE '%SETTLEMENT {}%'",
            injected.split_week
        ))
        .await;
    assert_eq!(split_lines, 2, "the split deposit is matched by both its lines");
    let report = app.ok(REPORT, json!({ "b": account, "n": 0 })).await;
    let clearing = report["reconciliationReport"]["openClearing"].as_array().expect("open clearing").clone();
    assert!(!clearing.is_empty() && clearing.iter().all(|c| c["code"] == "processor_clearing"), "{report}");

    // Resolve the short deposit by hand: its fee goes to processor_fees and
    // every capture's clearing but the missing week's reaches zero.
    let short_payments: Vec<String> =
        captures.iter().filter(|c| c.1 == injected.short_week).map(|c| c.0.clone()).collect();
    let line_id = app
        .lines(&format!(
            "SELECT CAST(id AS TEXT) AS line FROM bank_statement_lines WHERE account_servicer_ref = '{}'",
            injected.short_line
        ))
        .await
        .remove(0);
    let done =
        app.ok(DEPOSIT_BY_HAND, json!({ "l": [line_id], "p": short_payments, "r": "processor fee 2.9 %" })).await;
    assert_eq!(done["matchBankDeposit"]["lines"][0]["state"], "MATCHED");
    assert_eq!(net_of(app, "processor_fees").await, injected.short_fee);
    let missing: i64 = captures.iter().filter(|c| c.1 == injected.missing_week).map(|c| c.2).sum();
    assert_eq!(net_of(app, "processor_clearing").await, missing, "only the missing deposit's captures are in clearing");
    app.assert_books_consistent().await;
}
