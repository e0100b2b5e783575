//! The `reconcile` scenario (issue 20): import a bank statement of
//! [`STATEMENT_LINES`] lines and match it against a book of
//! `--transactions` ledger items (payouts in transit), end to end over HTTP.
//!
//! Set-up (not timed): a USD bank account; then, spread over the merchants,
//! `--transactions` payouts, each funded by a payment of its own amount and
//! made by `createPayout`, `--clients` merchants at a time. The statement is
//! a camt.053.001.02 file, rendered by the server's own camt writer, of one
//! booked debit per payout for the first [`STATEMENT_LINES`] payouts, each
//! carrying its payout's id as `EndToEndId`.
//!
//! Timed: the upload (`POST /reconcile/bank_statement`: parse, check, store),
//! the dry-run match (`matchBankStatementLines(dryRun: true)`: every line
//! against the book, nothing written) and the real match (every payout
//! settled through its payout step). The server's peak RSS is reset
//! (`/proc/<pid>/clear_refs`, 5) before the upload and read after the match,
//! so the figure is the import's and matching's, not the seeding's.
//! Targets (issue 20): import and match under 10 s, peak RSS under 300 MiB.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::client::Session;

/// Lines of the statement.
pub const STATEMENT_LINES: usize = 10_000;

/// The target for import plus match, seconds.
const TARGET_SECONDS: f64 = 10.0;

/// The target for peak RSS, MiB.
const TARGET_RSS_MIB: f64 = 300.0;

/// Seeds the book, then times the import and the matches. Returns the notes.
pub async fn run(
    session: &Session,
    server_pid: u32,
    clients: usize,
    items: usize,
    merchants: &Arc<Vec<String>>,
) -> anyhow::Result<Vec<String>> {
    let number = format!("BENCH-{}", &uuid::Uuid::now_v7().simple().to_string()[..12]);
    let account = session
        .admin(
            "mutation($i: RegisterBankAccountInput!) { registerBankAccount(input: $i) { id } }",
            json!({ "i": { "name": "bench", "accountNumber": number, "currency": "USD" } }),
        )
        .await?;
    let account = account["data"]["registerBankAccount"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("registerBankAccount: {account}"))?
        .to_owned();

    let started = Instant::now();
    let payouts = seed(session, clients, items, merchants).await?;
    eprintln!("ledger-bench: {} payouts made in {:.1} s", payouts.len(), started.elapsed().as_secs_f64());
    let file = statement(&number, &payouts[..payouts.len().min(STATEMENT_LINES)]);

    std::fs::write(format!("/proc/{server_pid}/clear_refs"), "5")?;
    let rss_before = crate::server::rss_kib(server_pid, "VmRSS:");
    let t0 = Instant::now();
    let (content_type, form) = crate::multipart::form(&[
        ("bank_account_id", None, account.as_bytes()),
        ("file", Some("statement.xml"), &file),
    ]);
    let upload = session
        .http
        .post(format!("{}/reconcile/bank_statement", session.base))
        .bearer_auth(&session.token)
        .header("content-type", content_type)
        .body(form)
        .send()
        .await?;
    let status = upload.status();
    let body: Value = upload.json().await?;
    anyhow::ensure!(status.is_success(), "import refused: {status} {body}");
    let imported = t0.elapsed().as_secs_f64();
    let query = "mutation($b: ID!, $dry: Boolean!) { matchBankStatementLines(bankAccountId: $b, dryRun: $dry) { payouts { action } } }";
    let t1 = Instant::now();
    let dry = session.admin(query, json!({ "b": account, "dry": true })).await?;
    let dry_seconds = t1.elapsed().as_secs_f64();
    let count = |v: &Value| v["data"]["matchBankStatementLines"]["payouts"].as_array().map_or(0, Vec::len);
    let t2 = Instant::now();
    let real = session.admin(query, json!({ "b": account, "dry": false })).await?;
    // A run that outlives its request goes on in the server: the figure is
    // when the last line left the queue (polled every 100 ms, at most 10 min).
    if count(&real) != STATEMENT_LINES.min(payouts.len()) {
        let left = "query($b: ID!) { bankStatementLines(bankAccountId: $b, state: UNMATCHED, first: 1) { edges { node { id } } } }";
        while t2.elapsed().as_secs() < 600 {
            let page = session.admin(left, json!({ "b": account })).await?;
            if page["data"]["bankStatementLines"]["edges"].as_array().is_some_and(Vec::is_empty) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let match_seconds = t2.elapsed().as_secs_f64();
    let peak = crate::server::rss_kib(server_pid, "VmHWM:");
    let expected = STATEMENT_LINES.min(payouts.len());
    anyhow::ensure!(count(&dry) == expected, "dry run matched {}: {dry}", count(&dry));
    // A real run cut short (the server's request timeout) is a figure too:
    // the line says so rather than losing the import's and dry run's times.
    let matched = crate::server::scalar_note(&real, count(&real), expected);
    let total = imported + match_seconds;
    let peak_mib = peak.map_or(f64::NAN, |k| k as f64 / 1024.0);
    Ok(vec![
        format!(
            "reconcile: statement of {} lines ({:.1} MiB camt.053) against {} payouts in transit",
            STATEMENT_LINES.min(payouts.len()),
            file.len() as f64 / 1_048_576.0,
            payouts.len()
        ),
        format!(
            "reconcile: import {imported:.2} s; dry-run match {dry_seconds:.2} s; match and settle {match_seconds:.2} s \
             ({matched}; timed to the last line leaving the queue)"
        ),
        format!(
            "reconcile: import + match {total:.2} s (target < {TARGET_SECONDS} s: {}); server RSS before {:.0} MiB, \
             peak during {peak_mib:.0} MiB (target < {TARGET_RSS_MIB} MiB: {})",
            if total < TARGET_SECONDS { "met" } else { "NOT met" },
            rss_before.map_or(f64::NAN, |k| k as f64 / 1024.0),
            if peak_mib < TARGET_RSS_MIB { "met" } else { "NOT met" }
        ),
    ])
}

/// Makes `items` payouts over the merchants; returns (payout id, cents).
async fn seed(
    session: &Session,
    clients: usize,
    items: usize,
    merchants: &Arc<Vec<String>>,
) -> anyhow::Result<Vec<(String, i64)>> {
    let per_merchant = items.div_ceil(merchants.len().max(1));
    let made: Vec<anyhow::Result<Vec<(String, i64)>>> = futures::stream::iter(merchants.iter().cloned().enumerate())
        .map(|(m, merchant)| {
            let session = session.clone();
            async move {
                let mut out = Vec::with_capacity(per_merchant);
                for i in 0..per_merchant {
                    let cents = 100 + ((m * 7919 + i * 104_729) % 90_000) as i64;
                    let amount = format!("{}.{:02}", cents / 100, cents % 100);
                    let paid = session
                        .admin(
                            "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }",
                            json!({ "i": { "merchantId": merchant, "gross": { "amount": amount, "currency": "USD" },
                                "idempotencyKey": format!("recon-pay-{m}-{i}") } }),
                        )
                        .await?;
                    anyhow::ensure!(paid.get("errors").is_none(), "payment: {paid}");
                    let payout = session
                        .admin(
                            "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { payout { id amount { amount } } } }",
                            json!({ "i": { "merchantId": merchant, "asset": "USD",
                                "idempotencyKey": format!("recon-payout-{m}-{i}") } }),
                        )
                        .await?;
                    let p = &payout["data"]["createPayout"]["payout"];
                    let id = p["id"].as_str().ok_or_else(|| anyhow::anyhow!("payout: {payout}"))?;
                    // What was paid out (the payment less any fee), in cents.
                    let paid_out = p["amount"]["amount"]
                        .as_str()
                        .and_then(|a| a.replace('.', "").parse::<i64>().ok())
                        .ok_or_else(|| anyhow::anyhow!("payout amount: {payout}"))?;
                    out.push((id.to_owned(), paid_out));
                }
                Ok(out)
            }
        })
        .buffer_unordered(clients.max(1))
        .collect()
        .await;
    let mut all = Vec::with_capacity(items);
    for m in made {
        all.extend(m?);
    }
    all.truncate(items);
    Ok(all)
}

/// The bank's statement: one booked debit per payout, closing at 0.
fn statement(number: &str, payouts: &[(String, i64)]) -> Vec<u8> {
    use ledger_server::core::reconciliation::statement::{
        BankDirection, BookedBalance, ParsedStatement, StatementAccount, StatementLine, TransactionDetails, camt,
    };
    let day = chrono::Utc::now().date_naive();
    let total: i64 = payouts.iter().map(|(_, c)| c).sum();
    let statement = ParsedStatement {
        format: "camt.053.001.02".into(),
        statement_id: format!("BENCH-{number}"),
        account: StatementAccount { iban: None, number: Some(number.into()), currency: Some("USD".into()) },
        currency: "USD".into(),
        opening_booked: Some(BookedBalance { amount_minor: total, date: Some(day) }),
        closing_booked: Some(BookedBalance { amount_minor: 0, date: Some(day) }),
        lines: payouts
            .iter()
            .enumerate()
            .map(|(n, (id, cents))| StatementLine {
                amount_minor: *cents,
                currency: "USD".into(),
                direction: BankDirection::Debit,
                reversal: false,
                status: "BOOK".into(),
                booking_date: Some(day),
                value_date: Some(day),
                account_servicer_ref: Some(format!("BENCH-{n}")),
                entry_ref: None,
                batch_count: None,
                details: vec![TransactionDetails { end_to_end_id: Some(id.clone()), ..Default::default() }],
                additional_info: None,
            })
            .collect(),
    };
    camt::render_v02(&statement, day.and_hms_opt(18, 0, 0).unwrap_or_default()).into_bytes()
}
