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
    /// oldest first) to payouts in transit: a debit whose `EndToEndId` is a
    /// payout's id, in the account's currency and within the rules, settles
    /// the payout; its return (`RvslInd` credit) fails it, through the usual
    /// payout steps. The best fit wins, and no line or payout is matched
    /// twice. `dryRun: true` lists what would match and writes nothing.
    /// Audited. Errors: `NOT_FOUND`, `BAD_USER_INPUT` (rules out of range),
    /// `PAYOUT_NOT_IN_TRANSIT` (a payout moved during the run).
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn match_bank_statement_lines(
        &self,
        ctx: &Context<'_>,
        bank_account_id: ID,
        #[graphql(default)] dry_run: bool,
        rules: Option<MatchRulesInput>,
    ) -> async_graphql::Result<Vec<BankMatchNode>> {
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
        let ledger = ledger(ctx)?;
        let found =
            ledger.reconciliation().match_lines(&rc.caller, rc.request_id.clone(), account, rules, dry_run).await;
        let today = Utc::now().date_naive();
        Ok(found.or_coded()?.into_iter().map(|m| BankMatchNode { m, today }).collect())
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
