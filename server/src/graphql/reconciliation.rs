//! GraphQL of bank reconciliation: the platform's bank accounts
//! (`registerBankAccount`, `bankAccounts`), statement imports
//! (`importBankStatement`, a file sent by the GraphQL multipart request spec,
//! <https://github.com/jaydenseric/graphql-multipart-request-spec>), and the
//! imported statements and lines (`bankStatements`, `bankStatementLines`).
//!
//! `POST /reconcile/bank_statement` (`http::reconcile`) runs this same
//! `importBankStatement`, so both ways in share one code path.

use async_graphql::connection::{Connection, CursorType, OpaqueCursor};
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject, Upload};
use chrono::{DateTime, NaiveDate, Utc};

use super::common::{Money, page_of, parse_uuid};
use super::context::{caller, reads, request};
use super::error::{BAD_USER_INPUT, OrCoded, coded};
use super::{access, ledger, list_cost, page_size};
use crate::core::reconciliation::statement;
use crate::core::reconciliation::statement::csv::CsvProfile;
use crate::core::reconciliation::{
    self as recon, BankAccount, BankStatement, LineFilter, LineState, NewBankAccount, ReconciliationError,
    StatementImport, StoredLine,
};

/// One of the platform's accounts at a bank.
pub struct BankAccountNode(pub BankAccount);

#[Object(name = "BankAccount")]
impl BankAccountNode {
    /// Its id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// A name for people.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Its IBAN (ISO 13616), electronic form.
    async fn iban(&self) -> Option<&str> {
        self.0.iban.as_deref()
    }
    /// Its account number, when it has no IBAN.
    async fn account_number(&self) -> Option<&str> {
        self.0.account_number.as_deref()
    }
    /// Its ISO 4217 currency code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// The CSV profile its bank's exports are read with, as JSON (see
    /// `RegisterBankAccountInput.csvProfile`).
    async fn csv_profile(&self) -> Option<Json<CsvProfile>> {
        self.0.csv_profile.clone().map(Json)
    }
    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// An imported bank statement.
pub struct BankStatementNode {
    statement: BankStatement,
    currency: String,
}

#[Object(name = "BankStatement")]
impl BankStatementNode {
    /// Its id (UUID).
    async fn id(&self) -> ID {
        ID(self.statement.id.to_string())
    }
    /// Its bank account's id.
    async fn bank_account_id(&self) -> ID {
        ID(self.statement.bank_account.to_string())
    }
    /// The bank's statement id (camt.053 `Stmt/Id`), or a CSV file's SHA-256.
    async fn statement_ref(&self) -> &str {
        &self.statement.statement_ref
    }
    /// `camt.053.001.02`, `camt.053.001.08` or `csv:<profile name>`.
    async fn format(&self) -> &str {
        &self.statement.format
    }
    /// SHA-256 of the imported file, hex.
    async fn file_sha256(&self) -> &str {
        &self.statement.file_sha256
    }
    /// Opening booked balance (`OPBD`); negative when overdrawn.
    async fn opening_balance(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Money>> {
        optional(ctx, &self.currency, self.statement.opening_minor).await
    }
    /// Its date.
    async fn opening_date(&self) -> Option<NaiveDate> {
        self.statement.opening_date
    }
    /// Closing booked balance (`CLBD`).
    async fn closing_balance(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Money>> {
        optional(ctx, &self.currency, self.statement.closing_minor).await
    }
    /// Its date.
    async fn closing_date(&self) -> Option<NaiveDate> {
        self.statement.closing_date
    }
    /// Opening balance less the previous statement's closing balance, when
    /// they differ: a statement is missing in between, or the bank's figures
    /// moved. Null when they agree or there is no previous statement.
    async fn gap(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Money>> {
        optional(ctx, &self.currency, self.statement.gap_minor).await
    }
    /// Lines in the file.
    async fn line_count(&self) -> u32 {
        self.statement.line_count
    }
    /// Lines the import added; the others were already known by their `AcctSvcrRef`.
    async fn new_line_count(&self) -> u32 {
        self.statement.new_line_count
    }
    /// Who imported it.
    async fn imported_by(&self) -> &str {
        &self.statement.imported_by
    }
    /// When.
    async fn imported_at(&self) -> DateTime<Utc> {
        self.statement.imported_at
    }
}

async fn optional(ctx: &Context<'_>, currency: &str, minor: Option<i64>) -> async_graphql::Result<Option<Money>> {
    match minor {
        Some(m) => Ok(Some(Money::of(ctx, currency, i128::from(m)).await?)),
        None => Ok(None),
    }
}

/// Which way money moved on the bank account (camt.053 `CdtDbtInd`).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::core::reconciliation::statement::BankDirection")]
pub enum BankDirectionType {
    /// Into the bank account (`CRDT`).
    Credit,
    /// Out of the bank account (`DBIT`).
    Debit,
}

/// Where a statement line stands against the books.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::core::reconciliation::LineState")]
pub enum LineStateType {
    /// Not yet matched.
    Unmatched,
    /// Matched to ledger items.
    Matched,
    /// Written off to suspense.
    WrittenOff,
}

/// A party of a bank transaction (camt.053 `RltdPties`).
#[derive(SimpleObject)]
pub struct BankParty {
    /// Its name.
    pub name: Option<String>,
    /// Its account (IBAN or other id).
    pub account: Option<String>,
}

/// One payment inside a bank line (camt.053 `TxDtls`).
#[derive(SimpleObject)]
pub struct BankTransactionDetails {
    /// `EndToEndId`, the payer's reference carried end to end.
    pub end_to_end_id: Option<String>,
    /// The detail's own `AcctSvcrRef`.
    pub account_servicer_ref: Option<String>,
    /// Its amount, when the bank gives one.
    pub amount: Option<Money>,
    /// The debtor.
    pub debtor: Option<BankParty>,
    /// The creditor.
    pub creditor: Option<BankParty>,
    /// Remittance information, unstructured lines and structured references.
    pub remittance: Vec<String>,
}

/// One statement line (camt.053 `Ntry`), as the bank gave it.
pub struct BankStatementLineNode {
    line: StoredLine,
    today: NaiveDate,
}

#[Object(name = "BankStatementLine")]
impl BankStatementLineNode {
    /// Its id (UUID).
    async fn id(&self) -> ID {
        ID(self.line.id.to_string())
    }
    /// The statement that brought it.
    async fn statement_id(&self) -> ID {
        ID(self.line.statement.to_string())
    }
    /// Its position in that statement, from 1.
    async fn line_no(&self) -> u32 {
        self.line.line_no
    }
    /// Unmatched, matched or written off.
    async fn state(&self) -> LineStateType {
        self.line.state.into()
    }
    /// Its amount, always positive; the side is `direction`.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.line.line.currency, i128::from(self.line.line.amount_minor)).await
    }
    /// Credit (money in) or debit (money out).
    async fn direction(&self) -> BankDirectionType {
        self.line.line.direction.into()
    }
    /// True when the line reverses an earlier one (`RvslInd`): a return.
    async fn reversal(&self) -> bool {
        self.line.line.reversal
    }
    /// `BOOK`, `PDNG` or `INFO` (`Sts`).
    async fn status(&self) -> &str {
        &self.line.line.status
    }
    /// `BookgDt`.
    async fn booking_date(&self) -> Option<NaiveDate> {
        self.line.line.booking_date
    }
    /// `ValDt`.
    async fn value_date(&self) -> Option<NaiveDate> {
        self.line.line.value_date
    }
    /// Whole days since the booking date (UTC today).
    async fn age_days(&self) -> i64 {
        self.line.age_days(self.today)
    }
    /// The bank's reference for the line (`AcctSvcrRef`).
    async fn account_servicer_ref(&self) -> Option<&str> {
        self.line.line.account_servicer_ref.as_deref()
    }
    /// `NtryRef`.
    async fn entry_ref(&self) -> Option<&str> {
        self.line.line.entry_ref.as_deref()
    }
    /// How many payments the bank says the line batches (`Btch/NbOfTxs`).
    async fn batch_count(&self) -> Option<u32> {
        self.line.line.batch_count
    }
    /// Free text (`AddtlNtryInf`, or a CSV description).
    async fn additional_info(&self) -> Option<&str> {
        self.line.line.additional_info.as_deref()
    }
    /// Every `TxDtls`, in file order.
    async fn details(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<BankTransactionDetails>> {
        let mut out = Vec::with_capacity(self.line.line.details.len());
        for d in &self.line.line.details {
            let party = |p: &Option<statement::Party>| {
                p.as_ref().map(|p| BankParty { name: p.name.clone(), account: p.account.clone() })
            };
            out.push(BankTransactionDetails {
                end_to_end_id: d.end_to_end_id.clone(),
                account_servicer_ref: d.account_servicer_ref.clone(),
                amount: optional(ctx, &self.line.line.currency, d.amount_minor).await?,
                debtor: party(&d.debtor),
                creditor: party(&d.creditor),
                remittance: d.remittance.clone(),
            });
        }
        Ok(out)
    }
}

/// What matching a line to a payout does to it.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::core::reconciliation::matching::PayoutAction")]
pub enum PayoutMatchActionType {
    /// The bank's debit: the payout is settled.
    Settle,
    /// The bank's return: the payout is failed, its money back in available.
    Fail,
    /// The debit of a payout the same run fails by its return.
    Returned,
}

/// One statement line matched (or, on a dry run, that would be matched) to a payout.
pub struct BankMatchNode {
    m: recon::LineMatch,
    today: NaiveDate,
}

#[Object(name = "BankMatch")]
impl BankMatchNode {
    /// The statement line.
    async fn line(&self) -> BankStatementLineNode {
        BankStatementLineNode { line: self.m.line.clone(), today: self.today }
    }
    /// The payout it is (as it stands after the match).
    async fn payout(&self) -> super::payouts::PayoutNode {
        super::payouts::PayoutNode(self.m.payout.clone())
    }
    /// Settle, fail, or returned.
    async fn action(&self) -> PayoutMatchActionType {
        self.m.action.into()
    }
    /// |line − payout|, within the rules' tolerance.
    async fn difference(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.m.line.line.currency, i128::from(self.m.difference_minor)).await
    }
    /// The id of the transaction the payout step posted; null on a dry run and for `RETURNED`.
    async fn transaction_id(&self) -> Option<ID> {
        self.m.transaction.map(|t| ID(t.0.to_string()))
    }
}

/// What a matching run found (and, unless a dry run, applied).
pub struct BankMatchRunNode {
    run: recon::MatchRun,
    today: NaiveDate,
}

#[Object(name = "BankMatchRun")]
impl BankMatchRunNode {
    /// Payouts settled by their debit or failed by their return.
    async fn payouts(&self) -> Vec<BankMatchNode> {
        self.run.payouts.iter().map(|m| BankMatchNode { m: m.clone(), today: self.today }).collect()
    }
    /// Processor deposits that settled captures.
    async fn deposits(&self) -> Vec<BankDepositNode> {
        self.run.deposits.iter().map(|m| BankDepositNode { m: m.clone(), today: self.today }).collect()
    }
}

/// A capture a processor deposit settles.
pub struct BankCaptureNode {
    c: recon::Capture,
    today: NaiveDate,
}

#[Object(name = "BankCapture")]
impl BankCaptureNode {
    /// The payment (UUID).
    async fn payment_id(&self) -> ID {
        ID(self.c.payment.to_string())
    }
    /// Its merchant (UUID).
    async fn merchant_id(&self) -> ID {
        ID(self.c.merchant.to_string())
    }
    /// What was captured.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.c.asset, i128::from(self.c.captured_minor)).await
    }
    /// When it was captured.
    async fn captured_at(&self) -> DateTime<Utc> {
        self.c.captured_at
    }
    /// Whole days since.
    async fn age_days(&self) -> i64 {
        recon::deposits::age_days(self.c.captured_at, self.today)
    }
}

/// A processor deposit matched (or, on a dry run, that would be) to the
/// captures it settles.
pub struct BankDepositNode {
    m: recon::deposits::DepositMatch,
    today: NaiveDate,
}

impl BankDepositNode {
    fn currency(&self) -> &str {
        self.m.lines.first().map_or("", |l| l.line.currency.as_str())
    }
}

#[Object(name = "BankDeposit")]
impl BankDepositNode {
    /// The bank's credit lines: one, or several for a batch split across days.
    async fn lines(&self) -> Vec<BankStatementLineNode> {
        self.m.lines.iter().map(|line| BankStatementLineNode { line: line.clone(), today: self.today }).collect()
    }
    /// The captures settled, oldest first.
    async fn captures(&self) -> Vec<BankCaptureNode> {
        self.m.captures.iter().map(|c| BankCaptureNode { c: c.clone(), today: self.today }).collect()
    }
    /// Σ captured.
    async fn gross(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.currency(), i128::from(self.m.gross_minor)).await
    }
    /// Σ of the lines: what the bank booked.
    async fn net(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.currency(), i128::from(self.m.net_minor)).await
    }
    /// The processor's fee, gross − net, posted to `processor_fees`.
    async fn fee(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.currency(), i128::from(self.m.fee_minor)).await
    }
    /// The settlement recorded (UUID); null on a dry run.
    async fn settlement_id(&self) -> Option<ID> {
        self.m.settlement.map(|s| ID(s.to_string()))
    }
    /// The `SETTLEMENT` transactions posted, one per merchant; empty on a dry run.
    async fn transaction_ids(&self) -> Vec<ID> {
        self.m.transactions.iter().map(|t| ID(t.to_string())).collect()
    }
}

/// What an unmatch or a write-off did (or, on a dry run, would do).
pub struct BankLineActionNode {
    a: recon::exceptions::LineAction,
    today: NaiveDate,
}

#[Object(name = "BankLineAction")]
impl BankLineActionNode {
    /// The lines as they stand after it (several when a split deposit is unmatched).
    async fn lines(&self) -> Vec<BankStatementLineNode> {
        self.a.lines.iter().map(|line| BankStatementLineNode { line: line.clone(), today: self.today }).collect()
    }
    /// The transactions posted: the write-off, or the reversals; empty on a dry run.
    async fn transaction_ids(&self) -> Vec<ID> {
        self.a.transactions.iter().map(|t| ID(t.0.to_string())).collect()
    }
    /// The transactions an unmatch reverses (or, on a dry run, would).
    async fn reverses(&self) -> Vec<ID> {
        self.a.reverses.iter().map(|t| ID(t.0.to_string())).collect()
    }
}

/// A capture written off to suspense (or, on a dry run, that would be).
pub struct CaptureWriteOffNode {
    w: recon::exceptions::CaptureWriteOff,
    today: NaiveDate,
}

#[Object(name = "CaptureWriteOff")]
impl CaptureWriteOffNode {
    /// The capture, as it was open.
    async fn capture(&self) -> BankCaptureNode {
        BankCaptureNode { c: self.w.capture.clone(), today: self.today }
    }
    /// The `BANK_WRITE_OFF` transaction in its merchant's books; null on a dry run.
    async fn transaction_id(&self) -> Option<ID> {
        self.w.transaction.map(|t| ID(t.0.to_string()))
    }
}

/// What kind of ledger item the bank has not confirmed.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::core::reconciliation::exceptions::ItemKind")]
pub enum LedgerItemKindType {
    /// A payout in transit: no bank debit has settled it.
    Payout,
    /// A capture no processor deposit has settled (still in `processor_clearing`).
    Capture,
}

/// A ledger item the bank has not confirmed.
pub struct UnconfirmedItemNode {
    i: recon::exceptions::UnconfirmedItem,
    currency: String,
    today: NaiveDate,
}

#[Object(name = "UnconfirmedLedgerItem")]
impl UnconfirmedItemNode {
    /// Payout or capture.
    async fn kind(&self) -> LedgerItemKindType {
        self.i.kind.into()
    }
    /// The payout's or payment's id (UUID).
    async fn id(&self) -> ID {
        ID(self.i.id.to_string())
    }
    /// Whose books hold it.
    async fn merchant_id(&self) -> ID {
        ID(self.i.merchant.to_string())
    }
    /// Its amount.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.currency, i128::from(self.i.amount_minor)).await
    }
    /// When it entered the books.
    async fn since(&self) -> DateTime<Utc> {
        self.i.since
    }
    /// Whole days since.
    async fn age_days(&self) -> i64 {
        recon::deposits::age_days(self.i.since, self.today)
    }
}

/// Count and amount of the items of one age bucket.
pub struct AgeBucketNode {
    b: recon::exceptions::AgeBucket,
    currency: String,
}

#[Object(name = "AgeBucket")]
impl AgeBucketNode {
    /// Youngest age in the bucket, days.
    async fn from_days(&self) -> i64 {
        self.b.from_days
    }
    /// Oldest, days; null for the last, open bucket.
    async fn to_days(&self) -> Option<i64> {
        self.b.to_days
    }
    /// How many.
    async fn count(&self) -> u64 {
        self.b.count
    }
    /// Σ amounts.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.currency, i128::from(self.b.amount_minor)).await
    }
}

/// A platform clearing account, in one merchant's books, not at zero after the report's days.
pub struct OpenClearingNode {
    c: recon::exceptions::OpenClearing,
    currency: String,
}

#[Object(name = "OpenClearingAccount")]
impl OpenClearingNode {
    /// `processor_clearing` or `payouts_in_transit`.
    async fn code(&self) -> &str {
        self.c.code
    }
    /// The merchant whose subsidiary account it is.
    async fn merchant_id(&self) -> ID {
        ID(self.c.merchant.to_string())
    }
    /// What is left in it from items older than the report's days.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.currency, i128::from(self.c.amount_minor)).await
    }
    /// How many such items.
    async fn items(&self) -> u64 {
        self.c.items
    }
    /// The oldest one's age, days.
    async fn oldest_days(&self) -> i64 {
        self.c.oldest_days
    }
}

/// The reconciliation report of one bank account and period.
pub struct ReportNode(recon::exceptions::Report);

impl ReportNode {
    async fn money(&self, ctx: &Context<'_>, minor: i64) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.0.bank_account.currency, i128::from(minor)).await
    }
}

#[Object(name = "ReconciliationReport")]
impl ReportNode {
    /// The bank account.
    async fn bank_account(&self) -> BankAccountNode {
        BankAccountNode(self.0.bank_account.clone())
    }
    /// First booking day of the period.
    async fn from(&self) -> NaiveDate {
        self.0.from
    }
    /// Last booking day (inclusive); ages are counted to it.
    async fn to(&self) -> NaiveDate {
        self.0.to
    }
    /// Lines booked in the period.
    async fn line_count(&self) -> u64 {
        self.0.line_count
    }
    /// Σ of their amounts, either side.
    async fn line_amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        self.money(ctx, self.0.line_amount_minor).await
    }
    /// Of them, matched.
    async fn matched_count(&self) -> u64 {
        self.0.matched_count
    }
    /// Σ matched.
    async fn matched_amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        self.money(ctx, self.0.matched_amount_minor).await
    }
    /// Of them, written off to suspense.
    async fn written_off_count(&self) -> u64 {
        self.0.written_off_count
    }
    /// Σ written off.
    async fn written_off_amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        self.money(ctx, self.0.written_off_amount_minor).await
    }
    /// Share of the lines matched or written off, by count, 0 to 1 (1 with no lines).
    async fn matched_share(&self) -> f64 {
        self.0.matched_share
    }
    /// Unmatched lines by age (0–7, 8–30, 31–90, over 90 days).
    async fn unmatched_lines(&self) -> Vec<AgeBucketNode> {
        let currency = &self.0.bank_account.currency;
        self.0.unmatched_lines.iter().map(|b| AgeBucketNode { b: *b, currency: currency.clone() }).collect()
    }
    /// Ledger items the bank has not confirmed, by age (payouts in transit,
    /// unsettled captures), as of the period's end.
    async fn unconfirmed_items(&self) -> Vec<AgeBucketNode> {
        let currency = &self.0.bank_account.currency;
        self.0.unconfirmed_items.iter().map(|b| AgeBucketNode { b: *b, currency: currency.clone() }).collect()
    }
    /// The days after which a clearing account should be at zero.
    async fn clearing_after_days(&self) -> i64 {
        self.0.clearing_after_days
    }
    /// Clearing accounts not at zero after that many days, largest first (at most 1,000 of each code).
    async fn open_clearing(&self) -> Vec<OpenClearingNode> {
        let currency = &self.0.bank_account.currency;
        self.0.open_clearing.iter().map(|c| OpenClearingNode { c: c.clone(), currency: currency.clone() }).collect()
    }
    /// Deposits of the period short of their captures (a processor fee).
    async fn deposits_with_fee(&self) -> u64 {
        self.0.deposits_with_fee
    }
    /// Σ those fees, posted to `processor_fees`.
    async fn fees(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        self.money(ctx, self.0.fees_minor).await
    }
}

/// How close a line and a ledger item must be to match.
#[derive(InputObject, Debug, Default)]
pub struct MatchRulesInput {
    /// Amounts may differ by this many minor units (default 0)…
    pub amount_tolerance_minor: Option<i64>,
    /// …or this many basis points of the ledger amount, whichever is larger (default 0, at most 10000).
    pub amount_tolerance_bps: Option<u32>,
    /// The bank may book up to this many days after the ledger item (default 7, at most 90).
    pub date_window_days: Option<i64>,
}

/// What `importBankStatement` did.
pub struct StatementImportPayload {
    import: StatementImport,
    currency: String,
}

#[Object(name = "StatementImport")]
impl StatementImportPayload {
    /// The statement (the earlier import of it, on a replay).
    async fn statement(&self) -> BankStatementNode {
        BankStatementNode { statement: self.import.statement.clone(), currency: self.currency.clone() }
    }
    /// True when this statement had been imported before: nothing was written.
    async fn replayed(&self) -> bool {
        self.import.replayed
    }
    /// Whether opening balance + booked lines = closing balance was checked (a
    /// CSV without a running balance has no balances to check).
    async fn balance_checked(&self) -> bool {
        self.import.balance_checked
    }
}

/// Input of `registerBankAccount`.
#[derive(InputObject, Debug)]
pub struct RegisterBankAccountInput {
    /// A name for people, 1 to 100 characters.
    pub name: String,
    /// The IBAN (ISO 13616; spaces allowed); its check digits are verified.
    pub iban: Option<String>,
    /// Another account number, for an account without an IBAN (1 to 34 visible characters).
    pub account_number: Option<String>,
    /// ISO 4217 currency code, e.g. `EUR`.
    pub currency: String,
    /// How the bank's CSV exports are read, as JSON: `name`, `currency`,
    /// `dateColumn`-style column names by header text, `dateFormat` (strftime),
    /// `decimalMark`, `amount` (`{"kind": "signed", "column": …}` or
    /// `{"kind": "split", "debit_column": …, "credit_column": …}`), and
    /// optionally `balance_column`, `reference_column`, `end_to_end_column`,
    /// `description_column`, `delimiter`, `thousands_separator`. The exact keys
    /// are those of the README's "Bank reconciliation" section.
    pub csv_profile: Option<Json<serde_json::Value>>,
}

/// The reconciliation root queries, merged into [`super::QueryRoot`].
#[derive(Default)]
pub struct ReconciliationQuery;

#[Object]
impl ReconciliationQuery {
    /// The platform's bank accounts, by name.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn bank_accounts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<BankAccountNode>> {
        let found = recon::bank_accounts(&reads(ctx).await?).await.or_coded()?;
        Ok(found.into_iter().map(BankAccountNode).collect())
    }

    /// A bank account's statements, newest import first, at most `first`
    /// (default 20, at most 100). Errors: `NOT_FOUND`, `BAD_USER_INPUT`.
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn bank_statements(
        &self,
        ctx: &Context<'_>,
        bank_account_id: ID,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<BankStatementNode>> {
        let limit = page_size(first)?;
        let account = found_account(ctx, &bank_account_id).await?;
        let rows = recon::statements(&reads(ctx).await?, account.id, limit).await.or_coded()?;
        Ok(rows
            .into_iter()
            .map(|statement| BankStatementNode { statement, currency: account.currency.clone() })
            .collect())
    }

    /// A bank account's statement lines, oldest booking date first; a Relay
    /// connection. `state` keeps lines in that state (`UNMATCHED`: the
    /// exception queue), `statementId` the lines of one statement. Errors:
    /// `NOT_FOUND`, `BAD_USER_INPUT` (bad id, cursor or page size).
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn bank_statement_lines(
        &self,
        ctx: &Context<'_>,
        bank_account_id: ID,
        state: Option<LineStateType>,
        statement_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, BankStatementLineNode>> {
        let limit = page_size(first)?;
        let account = found_account(ctx, &bank_account_id).await?;
        let after = after.as_deref().map(decode_line_cursor).transpose()?;
        let filter = LineFilter {
            statement: statement_id.as_ref().map(|s| parse_uuid(s, "statement id")).transpose()?,
            state: state.map(LineState::from),
        };
        let rows = recon::lines(&reads(ctx).await?, account.id, filter, after, limit + 1).await.or_coded()?;
        let today = Utc::now().date_naive();
        Ok(page_of(rows, limit, after.is_some(), line_cursor, |line| BankStatementLineNode { line, today }))
    }
    /// Ledger items of `bankAccountId`'s currency the bank has not confirmed,
    /// older than `olderThanDays` (default 0), oldest first: payouts in
    /// transit and captures no deposit has settled, at most `first` (default
    /// 20, at most 100) of each kind, or only `kind`. The candidates of a
    /// hand match. Errors: `NOT_FOUND`, `BAD_USER_INPUT`.
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn unconfirmed_ledger_items(
        &self,
        ctx: &Context<'_>,
        bank_account_id: ID,
        kind: Option<LedgerItemKindType>,
        #[graphql(default)] older_than_days: i64,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<UnconfirmedItemNode>> {
        let limit = page_size(first)?;
        if !(0..=3_650).contains(&older_than_days) {
            return Err(coded(BAD_USER_INPUT, "olderThanDays is 0 to 3650"));
        }
        let account = found_account(ctx, &bank_account_id).await?;
        let today = Utc::now().date_naive();
        let items =
            recon::exceptions::unconfirmed(&reads(ctx).await?, &account.currency, today, older_than_days, limit)
                .await
                .or_coded()?;
        let wanted = kind.map(recon::exceptions::ItemKind::from);
        Ok(items
            .into_iter()
            .filter(|i| wanted.is_none_or(|k| k == i.kind))
            .map(|i| UnconfirmedItemNode { i, currency: account.currency.clone(), today })
            .collect())
    }

    /// The reconciliation report of `bankAccountId` for lines booked `from`
    /// to `to` (inclusive; default the last 30 days to today): matched share,
    /// unmatched lines and unconfirmed ledger items by age bucket, deposits
    /// short by a fee, and every clearing account (`processor_clearing`,
    /// `payouts_in_transit`, per merchant) holding items older than
    /// `clearingAfterDays` (default 3). Errors: `NOT_FOUND`, `BAD_USER_INPUT`
    /// (`from` after `to`, a period over 366 days, days out of range).
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn reconciliation_report(
        &self,
        ctx: &Context<'_>,
        bank_account_id: ID,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        #[graphql(default = 3)] clearing_after_days: i64,
    ) -> async_graphql::Result<ReportNode> {
        let to = to.unwrap_or_else(|| Utc::now().date_naive());
        let from = from.unwrap_or(to - chrono::Duration::days(30));
        if from > to || (to - from).num_days() > 366 {
            return Err(coded(BAD_USER_INPUT, "give from ≤ to, at most 366 days apart"));
        }
        if !(0..=3_650).contains(&clearing_after_days) {
            return Err(coded(BAD_USER_INPUT, "clearingAfterDays is 0 to 3650"));
        }
        let account = found_account(ctx, &bank_account_id).await?;
        let report =
            recon::exceptions::report(&reads(ctx).await?, account, from, to, clearing_after_days).await.or_coded()?;
        Ok(ReportNode(report))
    }
}

/// A line's cursor: its booking date (or none) and id.
fn line_cursor(line: &StoredLine) -> OpaqueCursor<String> {
    let day = line.line.booking_date.unwrap_or(recon::NO_BOOKING_DATE);
    OpaqueCursor(format!("{day}|{}", line.id))
}

fn decode_line_cursor(raw: &str) -> async_graphql::Result<(Option<NaiveDate>, uuid::Uuid)> {
    let bad = || coded(BAD_USER_INPUT, "invalid cursor");
    let c = OpaqueCursor::<String>::decode_cursor(raw).map_err(|_| bad())?;
    let (day, id) = c.0.split_once('|').ok_or_else(bad)?;
    let day = day.parse::<NaiveDate>().map_err(|_| bad())?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((Some(day), id))
}

/// The bank account `id`. Errors: `BAD_USER_INPUT`, `NOT_FOUND`.
async fn found_account(ctx: &Context<'_>, id: &ID) -> async_graphql::Result<BankAccount> {
    let id = parse_uuid(id, "bank account id")?;
    recon::bank_account(&reads(ctx).await?, id)
        .await
        .or_coded()?
        .ok_or_else(|| super::error::to_graphql(ReconciliationError::BankAccountNotFound.into()))
}

/// The reconciliation mutations, merged into [`super::MutationRoot`].
#[derive(Default)]
pub struct ReconciliationMutation;

#[Object]
impl ReconciliationMutation {
    /// Registers one of the platform's bank accounts; audited. Errors:
    /// `BAD_USER_INPUT` (no IBAN or number, an IBAN failing ISO 13616 /
    /// ISO 7064 mod-97, a bad name or number), `UNKNOWN_ASSET`,
    /// `MALFORMED_STATEMENT` (a CSV profile that cannot work),
    /// `CURRENCY_MISMATCH` (the profile's currency is not the account's),
    /// `BANK_ACCOUNT_EXISTS`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn register_bank_account(
        &self,
        ctx: &Context<'_>,
        input: RegisterBankAccountInput,
    ) -> async_graphql::Result<BankAccountNode> {
        let csv_profile = input
            .csv_profile
            .map(|Json(v)| serde_json::from_value::<CsvProfile>(v))
            .transpose()
            .map_err(|e| statement::StatementError::BadProfile(e.to_string()))
            .map_err(|e| super::error::to_graphql(ReconciliationError::from(e).into()))?;
        let new = NewBankAccount {
            name: input.name,
            iban: input.iban,
            account_number: input.account_number,
            currency: input.currency,
            csv_profile,
        };
        let rc = request(ctx)?;
        rc.finish_reads().await;
        let ledger = ledger(ctx)?;
        let account = ledger.reconciliation().register_bank_account(&rc.caller, rc.request_id.clone(), new).await;
        Ok(BankAccountNode(account.or_coded()?))
    }

    /// Matches `bankAccountId`'s unmatched statement lines (up to 10,000,
    /// oldest first) to the books. Payouts in transit: a debit whose
    /// `EndToEndId` is a payout's id, in the account's currency and within
    /// the rules, settles the payout; its return (`RvslInd` credit) fails it,
    /// through the usual payout steps. Processor deposits: a credit whose
    /// transaction details name captured payments (`EndToEndId` = payment
    /// id), grouped with the lines of the same remittance text (a settlement
    /// batch), settles those captures: `processor_clearing` to `bank`, a
    /// shortfall within the rules to `processor_fees`; one line to many
    /// captures, or a batch split over several lines. The best fit wins,
    /// and no line or ledger item is matched twice. `dryRun: true` lists
    /// what would match and writes nothing. Audited. Errors: `NOT_FOUND`,
    /// `BAD_USER_INPUT` (rules out of range), `PAYOUT_NOT_IN_TRANSIT` (a
    /// payout moved during the run), `IDEMPOTENCY_KEY_REUSED` (a deposit's
    /// captures changed since a run that was cut short).
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn match_bank_statement_lines(
        &self,
        ctx: &Context<'_>,
        bank_account_id: ID,
        #[graphql(default)] dry_run: bool,
        rules: Option<MatchRulesInput>,
    ) -> async_graphql::Result<BankMatchRunNode> {
        let account = parse_uuid(&bank_account_id, "bank account id")?;
        let given = rules.unwrap_or_default();
        let default = recon::matching::MatchRules::default();
        let rules = recon::matching::MatchRules {
            amount_tolerance_minor: given.amount_tolerance_minor.unwrap_or(default.amount_tolerance_minor),
            amount_tolerance_bps: given.amount_tolerance_bps.unwrap_or(default.amount_tolerance_bps),
            date_window_days: given.date_window_days.unwrap_or(default.date_window_days),
        };
        let rc = request(ctx)?;
        rc.finish_reads().await;
        // The run goes on in its own task: a request cut short by the
        // timeout does not cut the run short between a payout step and its
        // record; the rest is then done, and shows in the queue.
        let (ledger, caller, request_id) = (ledger(ctx)?.clone(), rc.caller.clone(), rc.request_id.clone());
        let found = tokio::spawn(async move {
            ledger.reconciliation().match_lines(&caller, request_id, account, rules, dry_run).await
        })
        .await
        .map_err(|e| super::error::to_graphql(crate::core::LedgerError::internal(format!("matching run: {e}"))))?;
        Ok(BankMatchRunNode { run: found.or_coded()?, today: Utc::now().date_naive() })
    }

    /// Matches one statement line to a payout by hand, for what the rules
    /// left in the exception queue: a booked debit settles the payout, a
    /// booked return fails it, through the payout steps. Amount and date are
    /// the staff member's call; the currency must agree. `reason` is required
    /// and audited. `dryRun: true` shows the match and writes nothing.
    /// Errors: `NOT_FOUND` (line or payout), `LINE_ALREADY_MATCHED`,
    /// `LINE_DOES_NOT_FIT`, `REASON_REQUIRED`, `PAYOUT_NOT_IN_TRANSIT`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn match_bank_statement_line(
        &self,
        ctx: &Context<'_>,
        line_id: ID,
        payout_id: ID,
        reason: String,
        #[graphql(default)] dry_run: bool,
    ) -> async_graphql::Result<BankMatchNode> {
        let line = parse_uuid(&line_id, "line id")?;
        let payout = parse_uuid(&payout_id, "payout id")?;
        let rc = request(ctx)?;
        rc.finish_reads().await;
        let ledger = ledger(ctx)?;
        let found = ledger
            .reconciliation()
            .match_by_hand(&rc.caller, rc.request_id.clone(), line, payout, &reason, dry_run)
            .await
            .or_coded()?;
        Ok(BankMatchNode { m: found, today: Utc::now().date_naive() })
    }

    /// Matches processor deposit lines to captures by hand, for what the
    /// rules left in the exception queue (a deposit short by more than the
    /// tolerance, references the bank garbled): `lineIds` (one deposit, or
    /// one split across days: booked credits of one bank account) settle
    /// the captures of `paymentIds` as a matching run would, the shortfall
    /// to `processor_fees`. `reason` is required and audited. `dryRun: true`
    /// shows the settlement and writes nothing. Errors: `NOT_FOUND`,
    /// `BAD_USER_INPUT` (ids, 1 to 31 lines, 1 to 10,000 payments),
    /// `LINE_ALREADY_MATCHED`, `LINE_DOES_NOT_FIT` (not a booked credit, a
    /// payment that captured nothing or is settled, lines above the
    /// captures), `REASON_REQUIRED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn match_bank_deposit(
        &self,
        ctx: &Context<'_>,
        line_ids: Vec<ID>,
        payment_ids: Vec<ID>,
        reason: String,
        #[graphql(default)] dry_run: bool,
    ) -> async_graphql::Result<BankDepositNode> {
        let lines = line_ids.iter().map(|l| parse_uuid(l, "line id")).collect::<async_graphql::Result<Vec<_>>>()?;
        let payments =
            payment_ids.iter().map(|p| parse_uuid(p, "payment id")).collect::<async_graphql::Result<Vec<_>>>()?;
        let rc = request(ctx)?;
        rc.finish_reads().await;
        let found = ledger(ctx)?
            .reconciliation()
            .match_deposit_by_hand(&rc.caller, rc.request_id.clone(), &lines, &payments, &reason, dry_run)
            .await
            .or_coded()?;
        Ok(BankDepositNode { m: found, today: Utc::now().date_naive() })
    }

    /// Undoes a line's match or write-off: the line (and the other lines of
    /// its deposit) goes back to the exception queue and what the match
    /// posted is reversed (the deposit's settlements, the write-off). A
    /// payout settled or failed by a line stays so (`MATCH_IS_FINAL`).
    /// `reason` is required and audited. `dryRun: true` shows what would be
    /// reversed and writes nothing. Errors: `NOT_FOUND`, `LINE_NOT_MATCHED`,
    /// `MATCH_IS_FINAL`, `REASON_REQUIRED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn unmatch_bank_statement_line(
        &self,
        ctx: &Context<'_>,
        line_id: ID,
        reason: String,
        #[graphql(default)] dry_run: bool,
    ) -> async_graphql::Result<BankLineActionNode> {
        let line = parse_uuid(&line_id, "line id")?;
        let rc = request(ctx)?;
        rc.finish_reads().await;
        let done = ledger(ctx)?
            .reconciliation()
            .unmatch(&rc.caller, rc.request_id.clone(), line, &reason, dry_run)
            .await
            .or_coded()?;
        Ok(BankLineActionNode { a: done, today: Utc::now().date_naive() })
    }

    /// Writes an unmatched, booked line off to the platform's `suspense`
    /// account (money in: `bank` debited, `suspense` credited; money out,
    /// the other way round), until someone finds what it is; unmatch undoes
    /// it. `reason` is required and audited. `dryRun: true` writes nothing.
    /// Errors: `NOT_FOUND`, `LINE_ALREADY_MATCHED`, `LINE_DOES_NOT_FIT` (not
    /// booked), `REASON_REQUIRED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn write_off_bank_statement_line(
        &self,
        ctx: &Context<'_>,
        line_id: ID,
        reason: String,
        #[graphql(default)] dry_run: bool,
    ) -> async_graphql::Result<BankLineActionNode> {
        let line = parse_uuid(&line_id, "line id")?;
        let rc = request(ctx)?;
        rc.finish_reads().await;
        let done = ledger(ctx)?
            .reconciliation()
            .write_off(&rc.caller, rc.request_id.clone(), line, &reason, dry_run)
            .await
            .or_coded()?;
        Ok(BankLineActionNode { a: done, today: Utc::now().date_naive() })
    }

    /// Writes off the open capture of `paymentId` (in `bankAccountId`'s
    /// currency, settled by no deposit) that the processor will never pay:
    /// its merchant's books move it from `processor_clearing` to `suspense`,
    /// and it leaves the unconfirmed items. (A payout the bank never debited
    /// is failed with `failPayout` instead.) `reason` is required and
    /// audited. `dryRun: true` writes nothing. Errors: `NOT_FOUND`,
    /// `BAD_USER_INPUT`, `ITEM_NOT_OPEN` (not captured, settled or written off
    /// already), `REASON_REQUIRED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn write_off_ledger_item(
        &self,
        ctx: &Context<'_>,
        bank_account_id: ID,
        payment_id: ID,
        reason: String,
        #[graphql(default)] dry_run: bool,
    ) -> async_graphql::Result<CaptureWriteOffNode> {
        let account = parse_uuid(&bank_account_id, "bank account id")?;
        let payment = parse_uuid(&payment_id, "payment id")?;
        let rc = request(ctx)?;
        rc.finish_reads().await;
        let done = ledger(ctx)?
            .reconciliation()
            .write_off_capture(&rc.caller, rc.request_id.clone(), account, payment, &reason, dry_run)
            .await
            .or_coded()?;
        Ok(CaptureWriteOffNode { w: done, today: Utc::now().date_naive() })
    }

    /// Imports a bank statement into `bankAccountId`: an ISO 20022 camt.053
    /// (.001.02 or .001.08) file, or a CSV read with the account's profile,
    /// sent as `file` by the GraphQL multipart request spec. Nothing is
    /// written unless the whole file is good; importing the same statement
    /// again, or a line again under the same `AcctSvcrRef`, changes nothing.
    /// Audited. Errors: `NOT_FOUND`, `MALFORMED_STATEMENT`,
    /// `UNSUPPORTED_STATEMENT_FORMAT`, `UNKNOWN_ASSET`, `BAD_AMOUNT` (more
    /// decimals than the ISO 4217 currency has), `STATEMENT_TOO_LARGE`,
    /// `STATEMENT_ACCOUNT_MISMATCH`, `CURRENCY_MISMATCH`,
    /// `STATEMENT_UNBALANCED`, `STATEMENT_ID_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn import_bank_statement(
        &self,
        ctx: &Context<'_>,
        bank_account_id: ID,
        file: Upload,
    ) -> async_graphql::Result<StatementImportPayload> {
        let account = parse_uuid(&bank_account_id, "bank account id")?;
        let upload = file.value(ctx).map_err(|e| coded(BAD_USER_INPUT, format!("no file: {e}")))?;
        let rc = request(ctx)?;
        rc.finish_reads().await;
        let caller = caller(ctx)?;
        let import = ledger(ctx)?
            .reconciliation()
            .import_statement(caller, rc.request_id.clone(), account, &upload.content)
            .await
            .or_coded()?;
        let currency = import.currency.clone();
        Ok(StatementImportPayload { import, currency })
    }
}
