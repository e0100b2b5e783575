//! The typed calls: one function per operation of the Ledger API, each
//! returning the operation's typed result or an [`ApiError`] with its stable
//! [`ErrorCode`]. Pages call these and nothing below them: they never build a
//! query or read JSON.
//!
//! Layers, each using only those before it:
//! [`crate::transport`] (HTTP, websocket, backoff, offline) ←
//! [`crate::session`] (token, login state, storage, retries) ← this module
//! (the operations of [`ops`], generated from `console/graphql/*.graphql`
//! and `server/schema.graphql`) ← pages and components.
//!
//! Result types are the generated ones, named here once (`TransactionDetail`,
//! `PaymentRow`, …); a list comes back as a [`Page`].

mod ops;

use futures::Stream;

use crate::money::AssetInfo;
use crate::preview::PreviewEntry;
use crate::schema::{LedgerItemKind, LineState, TransactionKind};
use crate::session::{Ctx, Session};
pub use crate::transport::{ApiError, ApiResult, ErrorCode, new_idempotency_key, reconnect_delay};

/// Items per page in every list of the console: a screenful.
pub const PAGE_SIZE: i64 = 20;

/// One page of a Relay connection (Relay Cursor Connections spec), forward
/// paging only.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub nodes: Vec<T>,
    /// The `after` cursor of the next page; None on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    fn new(nodes: Vec<T>, has_next_page: bool, end_cursor: Option<String>) -> Self {
        Self { nodes, next: end_cursor.filter(|_| has_next_page) }
    }
}

/// The transaction a reversal or a refund posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    /// UUID.
    pub id: String,
    /// `REVERSAL` or `REFUND`.
    pub kind: TransactionKind,
    /// Ledger sequence.
    pub sequence: i64,
}

/// A merchant in search results.
pub type MerchantSummary = ops::search_merchants::SearchMerchantsMerchantsNodes;
/// A merchant's header and accounts.
pub type MerchantDetail = ops::merchant::MerchantMerchant;
/// One asset's balances of a merchant (posted, pending, available).
pub type AssetBalance = ops::merchant_balances::MerchantBalancesMerchantBalances;
/// A transaction in a merchant's list, with its entries.
pub type TransactionRow = ops::merchant_transactions::MerchantTransactionsMerchantTransactionsNodes;
/// A payment in a merchant's list.
pub type PaymentRow = ops::merchant_payments::MerchantPaymentsPaymentsNodes;
/// A payout in a merchant's list.
pub type PayoutRow = ops::merchant_payouts::MerchantPayoutsPayoutsNodes;
/// An entry of an account, with its transaction.
pub type EntryRow = ops::account_entries::AccountEntriesEntriesNodes;
/// A transaction with its entries, accounts and links.
pub type TransactionDetail = ops::transaction::TransactionTransaction;
/// An entry of a [`TransactionDetail`].
pub type TransactionEntry = ops::transaction::TransactionTransactionEntries;
/// A payment with its amounts and life cycle.
pub type PaymentDetail = ops::payment::PaymentPayment;
/// Money as a payment shows it (decimal string in the major unit, asset code).
pub type PaymentMoney = ops::payment::MoneyFields;
/// One line of the audit log.
pub type AuditRow = ops::audit_log::AuditLogAuditLogNodes;
/// A transaction found by its order number.
pub type FoundTransaction = ops::find_by_reference::FindByReferenceTransactionsNodes;
/// A month's rollup.
pub type MonthlyRollup = ops::monthly_rollup::MonthlyRollupMonthlyRollup;
/// One class and asset of a month's rollup.
pub type RollupLine = ops::monthly_rollup::RollupLineFields;

/// One of the platform's bank accounts.
pub type BankAccount = ops::bank_accounts::BankAccountsBankAccounts;
/// An imported bank statement.
pub type BankStatementRow = ops::bank_statements::BankStatementsBankStatements;
/// Money as the reconciliation operations show it.
pub type ReconMoney = ops::bank_statements::MoneyFields;
/// One bank statement line, with its state and age.
pub type BankLine = ops::bank_statement_lines::BankStatementLinesBankStatementLinesNodes;
/// A ledger item the bank has not confirmed (a payout in transit, an
/// unsettled capture): a candidate of a hand match.
pub type UnconfirmedItem = ops::unconfirmed_ledger_items::UnconfirmedLedgerItemsUnconfirmedLedgerItems;
/// The reconciliation report of a bank account and period.
pub type ReconReport = ops::reconciliation_report::ReconciliationReportReconciliationReport;
/// Count and amount of one age bucket of the report.
pub type AgeBucket = ops::reconciliation_report::AgeBucketFields;
/// What a statement import did.
pub type StatementImported = ops::import_bank_statement::ImportBankStatementImportBankStatement;
/// What a matching run found (and, unless a dry run, applied).
pub type MatchRun = ops::match_bank_statement_lines::MatchBankStatementLinesMatchBankStatementLines;
/// A bank line matched to a payout by hand (or, on a dry run, that would be).
pub type HandMatch = ops::match_bank_statement_line::MatchBankStatementLineMatchBankStatementLine;
/// Deposit lines matched to captures by hand (or, on a dry run, that would be).
pub type DepositMatch = ops::match_bank_deposit::MatchBankDepositMatchBankDeposit;

/// What an unmatch or a write-off did (or, on a dry run, would do).
#[derive(Clone, Debug, PartialEq)]
pub struct LineOutcome {
    /// The lines as they stand after it: id and state.
    pub lines: Vec<(String, LineState)>,
    /// The transactions posted (the write-off, the reversals); empty on a dry run.
    pub transactions: Vec<String>,
    /// The transactions an unmatch reverses (or would).
    pub reverses: Vec<String>,
}

/// Logs in. Errors: `INVALID_CREDENTIALS`, `RATE_LIMITED`.
pub async fn login(ctx: &Ctx, username: &str, password: &str) -> ApiResult<Session> {
    let vars = ops::login::Variables { username: username.to_owned(), password: password.to_owned() };
    let login = ctx.call::<ops::Login>(vars).await?.login;
    Ok(Session { token: login.token, username: login.user.username, role: login.user.role })
}

/// Revokes the session on the server.
pub async fn logout(ctx: &Ctx) -> ApiResult<()> {
    ctx.call::<ops::Logout>(ops::logout::Variables).await.map(|_| ())
}

/// Every asset, for formatting. Errors: `BAD_RESPONSE` for an exponent that
/// is not a small non-negative number.
pub async fn assets(ctx: &Ctx) -> ApiResult<Vec<AssetInfo>> {
    ctx.call::<ops::Assets>(ops::assets::Variables)
        .await?
        .assets
        .into_iter()
        .map(|a| {
            let exponent = u32::try_from(a.exponent)
                .map_err(|_| ApiError::new(ErrorCode::BadResponse, format!("exponent {} of {}", a.exponent, a.code)))?;
            Ok(AssetInfo { code: a.code, exponent, symbol: a.symbol })
        })
        .collect()
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Merchants matching `search` (name substring, external id or id).
pub async fn search_merchants(ctx: &Ctx, search: &str, after: Option<String>) -> ApiResult<Page<MerchantSummary>> {
    let vars = ops::search_merchants::Variables { search: non_empty(search), first: Some(PAGE_SIZE), after };
    let list = ctx.call::<ops::SearchMerchants>(vars).await?.merchants;
    Ok(Page::new(list.nodes, list.page_info.has_next_page, list.page_info.end_cursor))
}

/// A merchant with its accounts; None when it does not exist.
pub async fn merchant(ctx: &Ctx, id: &str) -> ApiResult<Option<MerchantDetail>> {
    Ok(ctx.call::<ops::Merchant>(ops::merchant::Variables { id: id.to_owned() }).await?.merchant)
}

/// A merchant's balances per asset (for live refresh); empty when the
/// merchant does not exist.
pub async fn balances(ctx: &Ctx, id: &str) -> ApiResult<Vec<AssetBalance>> {
    let data = ctx.call::<ops::MerchantBalances>(ops::merchant_balances::Variables { id: id.to_owned() }).await?;
    Ok(data.merchant.map(|m| m.balances).unwrap_or_default())
}

/// A page of a merchant's transactions, newest first.
pub async fn merchant_transactions(ctx: &Ctx, id: &str, after: Option<String>) -> ApiResult<Page<TransactionRow>> {
    let vars = ops::merchant_transactions::Variables { id: id.to_owned(), first: Some(PAGE_SIZE), after };
    let data = ctx.call::<ops::MerchantTransactions>(vars).await?;
    let list = data.merchant.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such merchant"))?.transactions;
    Ok(Page::new(list.nodes, list.page_info.has_next_page, list.page_info.end_cursor))
}

/// A page of a merchant's payments, newest first.
pub async fn merchant_payments(ctx: &Ctx, id: &str, after: Option<String>) -> ApiResult<Page<PaymentRow>> {
    let vars = ops::merchant_payments::Variables { id: id.to_owned(), first: Some(PAGE_SIZE), after };
    let list = ctx.call::<ops::MerchantPayments>(vars).await?.payments;
    Ok(Page::new(list.nodes, list.page_info.has_next_page, list.page_info.end_cursor))
}

/// A page of a merchant's payouts, newest first.
pub async fn merchant_payouts(ctx: &Ctx, id: &str, after: Option<String>) -> ApiResult<Page<PayoutRow>> {
    let vars = ops::merchant_payouts::Variables { id: id.to_owned(), first: Some(PAGE_SIZE), after };
    let list = ctx.call::<ops::MerchantPayouts>(vars).await?.payouts;
    Ok(Page::new(list.nodes, list.page_info.has_next_page, list.page_info.end_cursor))
}

/// A page of an account's entries, in sequence order.
pub async fn account_entries(ctx: &Ctx, account: &str, after: Option<String>) -> ApiResult<Page<EntryRow>> {
    let vars = ops::account_entries::Variables { id: account.to_owned(), first: Some(PAGE_SIZE), after };
    let list = ctx.call::<ops::AccountEntries>(vars).await?.entries;
    Ok(Page::new(list.nodes, list.page_info.has_next_page, list.page_info.end_cursor))
}

/// Transactions whose external reference (an order number) is `reference`,
/// in every merchant's books, newest first. Errors: `BAD_USER_INPUT` for an
/// empty or over-long reference.
pub async fn find_by_reference(ctx: &Ctx, reference: &str, after: Option<String>) -> ApiResult<Page<FoundTransaction>> {
    let vars = ops::find_by_reference::Variables { ref_: reference.trim().to_owned(), first: Some(PAGE_SIZE), after };
    let list = ctx.call::<ops::FindByReference>(vars).await?.transactions;
    Ok(Page::new(list.nodes, list.page_info.has_next_page, list.page_info.end_cursor))
}

/// An account's statement for the days `from` to `to` (`YYYY-MM-DD`, UTC;
/// `to` included) as CSV text (`GET /accounts/{id}/statement.csv`): the
/// opening balance, each entry with the running balances, the closing one.
/// Errors: `STATEMENT_RANGE_INVALID`, `STATEMENT_TOO_LONG`, `NOT_FOUND`.
pub async fn statement_csv(ctx: &Ctx, account: &str, from: &str, to: &str) -> ApiResult<String> {
    use leptos::prelude::WithUntracked;
    let token = ctx.session.with_untracked(|s| s.as_ref().map(|s| s.token.clone()));
    let to = next_day(to).ok_or_else(|| ApiError::new(ErrorCode::BadUserInput, format!("not a date: {to}")))?;
    let path = format!(
        "/accounts/{}/statement.csv?from={}&to={}",
        crate::pages::encode(account),
        crate::pages::encode(&format!("{from}T00:00:00Z")),
        crate::pages::encode(&format!("{to}T00:00:00Z"))
    );
    crate::transport::get_text(token.as_deref(), &path).await
}

/// The day after `day` (`YYYY-MM-DD`), in the proleptic Gregorian calendar;
/// None when `day` is not such a date.
pub fn next_day(day: &str) -> Option<String> {
    let mut parts = day.splitn(3, '-').map(str::parse::<u32>);
    let (y, m, d) = (parts.next()?.ok()?, parts.next()?.ok()?, parts.next()?.ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > days {
        return None;
    }
    Some(match (m, d) {
        (12, 31) => format!("{:04}-01-01", y + 1),
        (_, d) if d == days => format!("{y:04}-{:02}-01", m + 1),
        _ => format!("{y:04}-{m:02}-{:02}", d + 1),
    })
}

/// A transaction; None when it does not exist.
pub async fn transaction(ctx: &Ctx, id: &str) -> ApiResult<Option<TransactionDetail>> {
    Ok(ctx.call::<ops::Transaction>(ops::transaction::Variables { id: id.to_owned() }).await?.transaction)
}

/// The reason a reversal gave (kept in its metadata under `reason`).
pub fn reason_of(tx: &TransactionDetail) -> Option<String> {
    tx.metadata.get("reason").and_then(|r| r.as_str()).map(str::to_owned)
}

/// Who holds an account, for people: "Platform" or the merchant's name.
fn owner(platform: bool, merchant: Option<&str>) -> String {
    match (platform, merchant) {
        (true, _) => "Platform".to_owned(),
        (false, Some(name)) => name.to_owned(),
        (false, None) => "Merchant".to_owned(),
    }
}

/// "Platform · fee_revenue" or "ShirtyPuff · available", for an entry of a
/// transaction.
pub fn account_label(entry: &TransactionEntry) -> String {
    entry.account.as_ref().map_or_else(String::new, |a| {
        format!("{} · {}", owner(a.platform, a.merchant.as_ref().map(|m| m.name.as_str())), a.code)
    })
}

/// A payment with its transactions; None when it does not exist.
pub async fn payment(ctx: &Ctx, id: &str) -> ApiResult<Option<PaymentDetail>> {
    Ok(ctx.call::<ops::Payment>(ops::payment::Variables { id: id.to_owned() }).await?.payment)
}

/// A page of the audit log, newest first, by staff member and/or target
/// (an id, or a merchant's id for everything about it).
pub async fn audit_log(ctx: &Ctx, actor: &str, target: &str, after: Option<String>) -> ApiResult<Page<AuditRow>> {
    let vars =
        ops::audit_log::Variables { first: Some(PAGE_SIZE), after, actor: non_empty(actor), target: non_empty(target) };
    let list = ctx.call::<ops::AuditLog>(vars).await?.audit_log;
    Ok(Page::new(list.nodes, list.page_info.has_next_page, list.page_info.end_cursor))
}

/// Reverses a transaction with a reason, under `key`. Errors:
/// `ALREADY_REVERSED`, `INSUFFICIENT_FUNDS`, `PAYMENT_STEP_NOT_REVERSIBLE`,
/// `REASON_REQUIRED`, `FORBIDDEN`, `IDEMPOTENCY_KEY_REUSED`.
pub async fn reverse(ctx: &Ctx, id: &str, reason: &str, key: &str) -> ApiResult<Posted> {
    let vars = ops::reverse_transaction::Variables {
        id: id.to_owned(),
        reason: reason.to_owned(),
        idempotency_key: key.to_owned(),
    };
    let t = ctx.call::<ops::ReverseTransaction>(vars).await?.reverse_transaction.transaction;
    Ok(Posted { id: t.id, kind: t.kind, sequence: t.sequence })
}

/// Refunds `amount` (decimal string, major unit) of `currency` of a payment.
/// Errors: `REFUND_EXCEEDS_CAPTURED`, `INSUFFICIENT_FUNDS`,
/// `AMOUNT_PRECISION_EXCEEDED`, `REASON_REQUIRED`, `FORBIDDEN`,
/// `IDEMPOTENCY_KEY_REUSED`.
pub async fn refund(
    ctx: &Ctx,
    payment: &str,
    amount: &str,
    currency: &str,
    reason: &str,
    key: &str,
) -> ApiResult<Posted> {
    use ops::refund_payment::{MoneyInput, RefundPaymentInput, Variables};
    let vars = Variables {
        input: RefundPaymentInput {
            payment_id: payment.to_owned(),
            merchant_id: None,
            amount: Some(MoneyInput { amount: amount.to_owned(), currency: currency.to_owned() }),
            reason: Some(reason.to_owned()),
            idempotency_key: key.to_owned(),
        },
    };
    let t = ctx.call::<ops::RefundPayment>(vars).await?.refund_payment.transaction;
    Ok(Posted { id: t.id, kind: t.kind, sequence: t.sequence })
}

/// An account's balance after a dry run's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceAfter {
    /// Who holds the account: "Platform" or the merchant's name.
    pub owner: String,
    /// Account code.
    pub account: String,
    /// Decimal strings in the major unit of `asset`.
    pub posted: String,
    /// Posted plus pending.
    pub pending: String,
    /// What can be spent or paid out.
    pub available: String,
    /// Asset code.
    pub asset: String,
}

/// What the server's dry run of a write saw: the entries the write will
/// post and the balances after them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DryRun {
    /// The entries, in order.
    pub entries: Vec<PreviewEntry>,
    /// Each account the caller may see, with its balance after.
    pub balances_after: Vec<BalanceAfter>,
}

/// The [`DryRun`] of a generated dry-run payload (the fragments
/// `DryRunEntries` and `DryRunBalances`, which every dry-run operation's
/// module types afresh). Errors: `BAD_RESPONSE` for an entry whose account
/// is not shown.
macro_rules! dry_run_of {
    ($payload:expr) => {{
        let payload = $payload;
        let entries = payload
            .transaction
            .entries
            .into_iter()
            .map(|e| {
                let a = e
                    .account
                    .ok_or_else(|| ApiError::new(ErrorCode::BadResponse, "a dry run's entry without its account"))?;
                Ok(PreviewEntry {
                    owner: owner(a.platform, a.merchant.as_ref().map(|m| m.name.as_str())),
                    account: a.code,
                    account_id: Some(a.id),
                    normal: a.normal_balance,
                    direction: e.direction,
                    layer: e.layer,
                    amount: e.amount.amount,
                    asset: e.amount.currency,
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        let balances_after = payload
            .dry_run
            .map(|d| d.balances_after)
            .unwrap_or_default()
            .into_iter()
            .map(|b| BalanceAfter {
                owner: owner(b.account.platform, b.account.merchant.as_ref().map(|m| m.name.as_str())),
                account: b.account.code,
                asset: b.balance.posted.currency.clone(),
                posted: b.balance.posted.amount,
                pending: b.balance.pending.amount,
                available: b.balance.available.amount,
            })
            .collect();
        Ok(DryRun { entries, balances_after })
    }};
}

/// The server's dry run of reversing `tx` under the dialog's `key`: what
/// `reverseTransaction` will post and the balances after, or the error it
/// would raise (`ALREADY_REVERSED`, `INSUFFICIENT_FUNDS`,
/// `BALANCE_LIMIT_EXCEEDED`, `PAYMENT_STEP_NOT_REVERSIBLE`). Writes nothing.
pub async fn reverse_dry_run(ctx: &Ctx, tx: &str, key: &str) -> ApiResult<DryRun> {
    let vars = ops::reverse_dry_run::Variables { id: tx.to_owned(), idempotency_key: key.to_owned() };
    dry_run_of!(ctx.call::<ops::ReverseDryRun>(vars).await?.reverse_transaction)
}

/// The server's dry run of refunding `amount` (decimal string, major unit)
/// of `currency` of `payment` under the dialog's `key`. Errors: those of
/// [`refund`]. Writes nothing.
pub async fn refund_dry_run(ctx: &Ctx, payment: &str, amount: &str, currency: &str, key: &str) -> ApiResult<DryRun> {
    use ops::refund_dry_run::{MoneyInput, RefundPaymentInput, Variables};
    let vars = Variables {
        input: RefundPaymentInput {
            payment_id: payment.to_owned(),
            merchant_id: None,
            amount: Some(MoneyInput { amount: amount.to_owned(), currency: currency.to_owned() }),
            // A staff refund needs a reason; the dry run's is a placeholder
            // (it claims no key, so the real refund's own reason is no reuse).
            reason: Some("dry run".to_owned()),
            idempotency_key: key.to_owned(),
        },
    };
    dry_run_of!(ctx.call::<ops::RefundDryRun>(vars).await?.refund_payment)
}

/// The server's dry run of paying out `merchant`'s whole available `asset`
/// under the dialog's `key`. Errors: `NOTHING_TO_PAY_OUT`, `FORBIDDEN` (only
/// an admin pays out), `UNKNOWN_ASSET`. Writes nothing.
pub async fn payout_dry_run(ctx: &Ctx, merchant: &str, asset: &str, key: &str) -> ApiResult<DryRun> {
    use ops::payout_dry_run::{CreatePayoutInput, Variables};
    let input = CreatePayoutInput {
        merchant_id: merchant.to_owned(),
        asset: asset.to_owned(),
        idempotency_key: key.to_owned(),
    };
    dry_run_of!(ctx.call::<ops::PayoutDryRun>(Variables { input }).await?.create_payout)
}

/// Pays out `merchant`'s whole available `asset` (less its reserve) under
/// `key`. Errors: those of [`payout_dry_run`], `IDEMPOTENCY_KEY_REUSED`.
pub async fn create_payout(ctx: &Ctx, merchant: &str, asset: &str, key: &str) -> ApiResult<Posted> {
    use ops::create_payout::{CreatePayoutInput, Variables};
    let input = CreatePayoutInput {
        merchant_id: merchant.to_owned(),
        asset: asset.to_owned(),
        idempotency_key: key.to_owned(),
    };
    let t = ctx.call::<ops::CreatePayout>(Variables { input }).await?.create_payout.transaction;
    Ok(Posted { id: t.id, kind: t.kind, sequence: t.sequence })
}

/// The server's dry run of resolving `payment`'s open dispute, `won` by the
/// merchant or not, under the dialog's `key`. Errors:
/// `NO_OPEN_DISPUTE`, `NOT_FOUND`, `FORBIDDEN`.
/// Writes nothing.
pub async fn resolve_dry_run(ctx: &Ctx, payment: &str, won: bool, key: &str) -> ApiResult<DryRun> {
    use ops::resolve_dispute_dry_run::{DisputeOutcomeType, ResolveDisputeInput, Variables};
    let outcome = if won { DisputeOutcomeType::WON } else { DisputeOutcomeType::LOST };
    let input = ResolveDisputeInput {
        payment_id: payment.to_owned(),
        merchant_id: None,
        outcome,
        dispute_fee: None,
        reason: Some("dry run".to_owned()),
        idempotency_key: key.to_owned(),
    };
    dry_run_of!(ctx.call::<ops::ResolveDisputeDryRun>(Variables { input }).await?.resolve_dispute)
}

/// Resolves `payment`'s open dispute, `won` by the merchant or not, with a
/// reason, under `key`. Errors: those of [`resolve_dry_run`],
/// `REASON_REQUIRED`, `IDEMPOTENCY_KEY_REUSED`.
pub async fn resolve_dispute(ctx: &Ctx, payment: &str, won: bool, reason: &str, key: &str) -> ApiResult<Posted> {
    use ops::resolve_dispute::{DisputeOutcomeType, ResolveDisputeInput, Variables};
    let outcome = if won { DisputeOutcomeType::WON } else { DisputeOutcomeType::LOST };
    let input = ResolveDisputeInput {
        payment_id: payment.to_owned(),
        merchant_id: None,
        outcome,
        dispute_fee: None,
        reason: Some(reason.to_owned()),
        idempotency_key: key.to_owned(),
    };
    let t = ctx.call::<ops::ResolveDispute>(Variables { input }).await?.resolve_dispute.transaction;
    Ok(Posted { id: t.id, kind: t.kind, sequence: t.sequence })
}

/// A month's rollup (`monthlyRollup`). Errors: `BAD_USER_INPUT` for a
/// malformed month or one not begun, `FORBIDDEN` for non-staff.
pub async fn monthly_rollup(ctx: &Ctx, month: &str) -> ApiResult<MonthlyRollup> {
    let vars = ops::monthly_rollup::Variables { month: month.to_owned() };
    Ok(ctx.call::<ops::MonthlyRollup>(vars).await?.monthly_rollup)
}

/// The platform's bank accounts, by name. Errors: `FORBIDDEN` (staff only).
pub async fn bank_accounts(ctx: &Ctx) -> ApiResult<Vec<BankAccount>> {
    Ok(ctx.call::<ops::BankAccounts>(ops::bank_accounts::Variables).await?.bank_accounts)
}

/// A bank account's statements, newest import first (one page). Errors:
/// `NOT_FOUND`.
pub async fn bank_statements(ctx: &Ctx, account: &str) -> ApiResult<Vec<BankStatementRow>> {
    let vars = ops::bank_statements::Variables { bank_account_id: account.to_owned(), first: Some(PAGE_SIZE) };
    Ok(ctx.call::<ops::BankStatements>(vars).await?.bank_statements)
}

/// A page of a bank account's statement lines, oldest booking first, in
/// `state` (all when None) and of `statement` (all when empty). Errors:
/// `NOT_FOUND`, `BAD_USER_INPUT`.
pub async fn bank_lines(
    ctx: &Ctx,
    account: &str,
    state: Option<LineState>,
    statement: &str,
    after: Option<String>,
) -> ApiResult<Page<BankLine>> {
    let vars = ops::bank_statement_lines::Variables {
        bank_account_id: account.to_owned(),
        state,
        statement_id: non_empty(statement),
        first: Some(PAGE_SIZE),
        after,
    };
    let list = ctx.call::<ops::BankStatementLines>(vars).await?.bank_statement_lines;
    Ok(Page::new(list.nodes, list.page_info.has_next_page, list.page_info.end_cursor))
}

/// Ledger items in the bank account's currency the bank has not confirmed,
/// oldest first, of `kind` (both when None); at most [`PAGE_SIZE`] of each
/// kind. Errors: `NOT_FOUND`.
pub async fn unconfirmed_items(
    ctx: &Ctx,
    account: &str,
    kind: Option<LedgerItemKind>,
) -> ApiResult<Vec<UnconfirmedItem>> {
    let vars =
        ops::unconfirmed_ledger_items::Variables { bank_account_id: account.to_owned(), kind, first: Some(PAGE_SIZE) };
    Ok(ctx.call::<ops::UnconfirmedLedgerItems>(vars).await?.unconfirmed_ledger_items)
}

/// The reconciliation report of `account` for lines booked `from` to `to`
/// (`YYYY-MM-DD`, inclusive; the server's default, the last 30 days, when
/// empty). Errors: `NOT_FOUND`, `BAD_USER_INPUT` (from after to, over 366 days).
pub async fn reconciliation_report(ctx: &Ctx, account: &str, from: &str, to: &str) -> ApiResult<ReconReport> {
    let vars = ops::reconciliation_report::Variables {
        bank_account_id: account.to_owned(),
        from: non_empty(from),
        to: non_empty(to),
    };
    Ok(ctx.call::<ops::ReconciliationReport>(vars).await?.reconciliation_report)
}

/// Imports `file` (camt.053 XML or a CSV export) into bank account
/// `account` by `POST /reconcile/bank_statement` (multipart/form-data,
/// fields `bank_account_id` and `file`) with the session's token; the answer
/// is that of `importBankStatement`. Errors: `FORBIDDEN` (admins only),
/// `MALFORMED_STATEMENT`, `UNSUPPORTED_STATEMENT_FORMAT`,
/// `STATEMENT_ACCOUNT_MISMATCH`, `CURRENCY_MISMATCH`, `STATEMENT_UNBALANCED`,
/// `STATEMENT_ID_REUSED`, `STATEMENT_TOO_LARGE`, `BAD_AMOUNT`, `NOT_FOUND`.
pub async fn import_statement(ctx: &Ctx, account: &str, file: &web_sys::File) -> ApiResult<StatementImported> {
    use leptos::prelude::WithUntracked;
    let failed = |what: &str| ApiError::new(ErrorCode::BadRequest, format!("could not build the upload: {what}"));
    let form = web_sys::FormData::new().map_err(|_| failed("form"))?;
    form.append_with_str("bank_account_id", account).map_err(|_| failed("bank_account_id"))?;
    form.append_with_blob_and_filename("file", file, &file.name()).map_err(|_| failed("file"))?;
    let token = ctx.session.with_untracked(|s| s.as_ref().map(|s| s.token.clone()));
    // The endpoint answers as the mutation does: its typed response.
    let answer =
        crate::transport::post_form::<<ops::ImportBankStatement as graphql_client::GraphQLQuery>::ResponseData>(
            token.as_deref(),
            "/reconcile/bank_statement",
            form,
        )
        .await;
    match answer {
        Ok(data) => Ok(data.import_bank_statement),
        Err(e) => {
            if e.code == ErrorCode::Unauthenticated && token.is_some() {
                ctx.sign_out();
            }
            Err(e)
        }
    }
}

/// Matches `account`'s unmatched lines to payouts and captures by the
/// server's rules; `dry_run` lists what would match and writes nothing.
/// Errors: `FORBIDDEN` (admins only), `NOT_FOUND`, `PAYOUT_NOT_IN_TRANSIT`.
pub async fn match_lines(ctx: &Ctx, account: &str, dry_run: bool) -> ApiResult<MatchRun> {
    let vars = ops::match_bank_statement_lines::Variables { bank_account_id: account.to_owned(), dry_run };
    Ok(ctx.call::<ops::MatchBankStatementLines>(vars).await?.match_bank_statement_lines)
}

/// Matches bank line `line` (a debit or a return) to payout `payout` by
/// hand, with `reason` (audited); `dry_run` writes nothing. Errors:
/// `REASON_REQUIRED`, `LINE_ALREADY_MATCHED`, `LINE_DOES_NOT_FIT`,
/// `PAYOUT_NOT_IN_TRANSIT`, `NOT_FOUND`, `FORBIDDEN`.
pub async fn match_line(ctx: &Ctx, line: &str, payout: &str, reason: &str, dry_run: bool) -> ApiResult<HandMatch> {
    let vars = ops::match_bank_statement_line::Variables {
        line_id: line.to_owned(),
        payout_id: payout.to_owned(),
        reason: reason.to_owned(),
        dry_run,
    };
    Ok(ctx.call::<ops::MatchBankStatementLine>(vars).await?.match_bank_statement_line)
}

/// Matches credit line `line` to the captures of `payments` by hand, with
/// `reason` (audited); the shortfall is the processor's fee. `dry_run`
/// writes nothing. Errors: `REASON_REQUIRED`, `LINE_ALREADY_MATCHED`,
/// `LINE_DOES_NOT_FIT`, `NOT_FOUND`, `BAD_USER_INPUT`, `FORBIDDEN`.
pub async fn match_deposit(
    ctx: &Ctx,
    line: &str,
    payments: &[String],
    reason: &str,
    dry_run: bool,
) -> ApiResult<DepositMatch> {
    let vars = ops::match_bank_deposit::Variables {
        line_ids: vec![line.to_owned()],
        payment_ids: payments.to_vec(),
        reason: reason.to_owned(),
        dry_run,
    };
    Ok(ctx.call::<ops::MatchBankDeposit>(vars).await?.match_bank_deposit)
}

/// Undoes line `line`'s match or write-off, with `reason` (audited);
/// `dry_run` writes nothing. Errors: `REASON_REQUIRED`, `LINE_NOT_MATCHED`,
/// `MATCH_IS_FINAL`, `NOT_FOUND`, `FORBIDDEN`.
pub async fn unmatch_line(ctx: &Ctx, line: &str, reason: &str, dry_run: bool) -> ApiResult<LineOutcome> {
    let vars =
        ops::unmatch_bank_statement_line::Variables { line_id: line.to_owned(), reason: reason.to_owned(), dry_run };
    let done = ctx.call::<ops::UnmatchBankStatementLine>(vars).await?.unmatch_bank_statement_line;
    Ok(LineOutcome {
        lines: done.lines.into_iter().map(|l| (l.id, l.state)).collect(),
        transactions: done.transaction_ids,
        reverses: done.reverses,
    })
}

/// Writes unmatched, booked line `line` off to the platform's `suspense`
/// account, with `reason` (audited); `dry_run` writes nothing. Errors:
/// `REASON_REQUIRED`, `LINE_ALREADY_MATCHED`, `LINE_DOES_NOT_FIT`,
/// `NOT_FOUND`, `FORBIDDEN`.
pub async fn write_off_line(ctx: &Ctx, line: &str, reason: &str, dry_run: bool) -> ApiResult<LineOutcome> {
    let vars =
        ops::write_off_bank_statement_line::Variables { line_id: line.to_owned(), reason: reason.to_owned(), dry_run };
    let done = ctx.call::<ops::WriteOffBankStatementLine>(vars).await?.write_off_bank_statement_line;
    Ok(LineOutcome {
        lines: done.lines.into_iter().map(|l| (l.id, l.state)).collect(),
        transactions: done.transaction_ids,
        reverses: done.reverses,
    })
}

/// Live balance updates of a merchant: the stream yields once per update
/// (the first is a snapshot) and ends when the connection drops. Errors: the
/// connection or the subscription was refused.
pub async fn balance_updates(
    session: &Session,
    merchant: &str,
) -> ApiResult<impl Stream<Item = ApiResult<()>> + use<>> {
    use futures::StreamExt;
    let vars = ops::balance_updated::Variables { merchant_id: merchant.to_owned() };
    let stream = crate::transport::subscribe::<ops::BalanceUpdated>(&session.token, vars).await?;
    Ok(stream.map(|event| event.map(|_| ())))
}

#[cfg(test)]
mod tests {
    use super::next_day;

    #[test]
    fn the_day_after_rolls_months_years_and_leap_days() {
        assert_eq!(next_day("2026-12-03").as_deref(), Some("2026-12-04"));
        assert_eq!(next_day("2026-12-31").as_deref(), Some("2027-01-01"));
        assert_eq!(next_day("2026-02-28").as_deref(), Some("2026-03-01"));
        assert_eq!(next_day("2028-02-28").as_deref(), Some("2028-02-29"));
        assert_eq!(next_day("2026-04-30").as_deref(), Some("2026-05-01"));
        assert_eq!(next_day("2026-02-30"), None);
        assert_eq!(next_day("soon"), None);
    }
}
