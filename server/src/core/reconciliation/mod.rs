//! Bank reconciliation: the platform's bank accounts, their statements
//! (ISO 20022 camt.053 or a bank's CSV, [`statement`]), and the check of the
//! bank's word against itself and, line by line, against the books.
//!
//! An import is one database transaction: the statement's row, its new lines
//! and the audit record commit together or not at all. It is idempotent twice
//! over: a statement is known by its bank account and the bank's statement id
//! (`Stmt/Id`, or a CSV file's SHA-256), so importing it again writes nothing;
//! and a line is known by its bank account and the bank's own reference
//! (`AcctSvcrRef`), so a line that comes again in a later statement (banks
//! repeat the last day's lines in the next day's file) is kept once.
//!
//! Before anything is written the statement must add up: the opening booked
//! balance (`OPBD`) plus its booked lines must be the closing booked balance
//! (`CLBD`), or the file is refused naming the difference. The opening balance
//! is then compared with the previous statement's closing balance, and a gap
//! is reported (and kept on the statement), not refused: the missing
//! statement may simply not have been imported yet.

pub mod deposits;
pub mod error;
pub mod exceptions;
pub mod matching;
pub mod statement;
pub(in crate::core) mod store;

use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use uuid::Uuid;

pub use error::ReconciliationError;
pub use store::{Capture, LineFilter};

use self::statement::csv::CsvProfile;
use self::statement::{ParsedStatement, StatementLine};
use super::access::rules::{AuditTarget, Caller};
use super::access::store::{AuditRecord, append_audit};
use super::posting::Ledger;
use super::{LedgerError, Reads};
use crate::domain::Asset;
use crate::domain::actor::Tenant;

/// The booking date a line without one sorts as (first, as the oldest).
pub const NO_BOOKING_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// Longest bank account name, in characters.
pub const MAX_BANK_ACCOUNT_NAME_LEN: usize = 100;

/// Longest non-IBAN account number, in characters (ISO 20022 `Max34Text`).
pub const MAX_ACCOUNT_NUMBER_LEN: usize = 34;

/// One of the platform's accounts at a bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccount {
    /// Its id.
    pub id: Uuid,
    /// A name for people, e.g. `Operating EUR (Deutsche Bank)`.
    pub name: String,
    /// Its IBAN (ISO 13616), electronic form (no spaces, upper case).
    pub iban: Option<String>,
    /// Another account number, when it has no IBAN.
    pub account_number: Option<String>,
    /// Its ISO 4217 currency code.
    pub currency: String,
    /// How its bank's CSV exports are read, if it has one.
    pub csv_profile: Option<CsvProfile>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// A bank account to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBankAccount {
    /// 1 to [`MAX_BANK_ACCOUNT_NAME_LEN`] characters.
    pub name: String,
    /// An IBAN, with or without the paper format's spaces.
    pub iban: Option<String>,
    /// Another account number (1 to [`MAX_ACCOUNT_NUMBER_LEN`] visible characters).
    pub account_number: Option<String>,
    /// An ISO 4217 currency code with a minor unit.
    pub currency: String,
    /// The CSV profile of its bank's exports.
    pub csv_profile: Option<CsvProfile>,
}

/// An imported statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankStatement {
    /// Its id.
    pub id: Uuid,
    /// Its bank account.
    pub bank_account: Uuid,
    /// The bank's statement id (`Stmt/Id`), or a CSV file's SHA-256.
    pub statement_ref: String,
    /// `camt.053.001.02`, `camt.053.001.08` or `csv:<profile>`.
    pub format: String,
    /// SHA-256 of the file, hex.
    pub file_sha256: String,
    /// Opening booked balance, signed minor units.
    pub opening_minor: Option<i64>,
    /// Its date.
    pub opening_date: Option<NaiveDate>,
    /// Closing booked balance, signed minor units.
    pub closing_minor: Option<i64>,
    /// Its date.
    pub closing_date: Option<NaiveDate>,
    /// Opening balance less the previous statement's closing balance, when
    /// they differ (a statement is missing, or the bank's figures moved).
    pub gap_minor: Option<i64>,
    /// Lines in the file.
    pub line_count: u32,
    /// Lines the import added (the rest were already known by `AcctSvcrRef`).
    pub new_line_count: u32,
    /// Who imported it (the actor's recorded form).
    pub imported_by: String,
    /// When.
    pub imported_at: DateTime<Utc>,
}

/// Where a statement line stands against the books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineState {
    /// Not yet matched to anything in the books.
    Unmatched,
    /// Matched to ledger items.
    Matched,
    /// Written off to suspense by staff.
    WrittenOff,
}

impl LineState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            LineState::Unmatched => "unmatched",
            LineState::Matched => "matched",
            LineState::WrittenOff => "written_off",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<LineState> {
        [LineState::Unmatched, LineState::Matched, LineState::WrittenOff].into_iter().find(|l| l.as_str() == s)
    }
}

/// A stored statement line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    /// Its id.
    pub id: Uuid,
    /// Its bank account.
    pub bank_account: Uuid,
    /// The statement that brought it.
    pub statement: Uuid,
    /// Its position in that statement, from 1.
    pub line_no: u32,
    /// Matched, unmatched or written off.
    pub state: LineState,
    /// How many times staff unmatched it: part of the idempotency keys of
    /// its next match, so that match posts anew.
    pub match_round: u32,
    /// The line as the bank gave it.
    pub line: StatementLine,
}

impl StoredLine {
    /// Whole days from its booking date to `today` (0 without a booking date).
    pub fn age_days(&self, today: NaiveDate) -> i64 {
        self.line.booking_date.map_or(0, |d| (today - d).num_days().max(0))
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementImport {
    /// The statement (the earlier one, on a replay).
    pub statement: BankStatement,
    /// True when this statement had been imported before: nothing was written.
    pub replayed: bool,
    /// Whether opening + lines = closing was checked (a CSV without a running
    /// balance has no balances to check).
    pub balance_checked: bool,
    /// The bank account's ISO 4217 currency, the unit of every amount above.
    pub currency: String,
}

/// The reconciliation calls that write; nothing is written when one is refused.
#[derive(Debug, Clone, Copy)]
pub struct Reconciliation<'a>(pub(in crate::core) &'a Ledger);

impl Reconciliation<'_> {
    /// Registers one of the platform's bank accounts; audited. Errors:
    /// `BAD_USER_INPUT` (a name, IBAN or number that is invalid, or neither an
    /// IBAN nor a number), `UNKNOWN_ASSET` (not ISO 4217), `MALFORMED_STATEMENT`
    /// (a CSV profile that cannot work), `BANK_ACCOUNT_EXISTS`.
    pub async fn register_bank_account(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        new: NewBankAccount,
    ) -> Result<BankAccount, LedgerError> {
        let account = validated(new)?;
        let txn = super::db::begin_write(self.0.db(), Tenant::All, true).await?;
        if store::bank_account_taken(&txn, account.iban.as_deref(), account.account_number.as_deref()).await? {
            return Err(ReconciliationError::BankAccountExists.into());
        }
        store::insert_bank_account(&txn, &account).await.map_err(taken_or)?;
        let target = (AuditTarget::BankAccount, Some(account.id.to_string()));
        append_audit(&txn, &audit(caller, "registerBankAccount", target, None, request_id)).await?;
        txn.commit().await.map_err(taken_or)?;
        Ok(account)
    }

    /// Imports a statement file for `bank_account`: camt.053 (.001.02 or
    /// .001.08) when it is XML, else CSV through the account's profile.
    /// Idempotent (see the module doc); audited. Errors: `NOT_FOUND` (no such
    /// bank account), every [`statement::StatementError`] code
    /// (`MALFORMED_STATEMENT`, `UNSUPPORTED_STATEMENT_FORMAT`, `UNKNOWN_ASSET`,
    /// `BAD_AMOUNT`, `STATEMENT_TOO_LARGE`), `STATEMENT_ACCOUNT_MISMATCH`,
    /// `CURRENCY_MISMATCH`, `STATEMENT_UNBALANCED`, `STATEMENT_ID_REUSED`.
    pub async fn import_statement(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        bank_account: Uuid,
        file: &[u8],
    ) -> Result<StatementImport, LedgerError> {
        if file.len() > statement::MAX_STATEMENT_BYTES {
            let too_large = statement::StatementError::TooLarge { what: "bytes", max: statement::MAX_STATEMENT_BYTES };
            return Err(ReconciliationError::from(too_large).into());
        }
        let account = {
            let reads = Reads::begin(self.0.db(), Tenant::All).await?;
            let found = store::bank_account(reads.db(), bank_account).await;
            reads.finish().await;
            found?.ok_or(ReconciliationError::BankAccountNotFound)?
        };
        // Parsing is pure and can take a second on a large file: off the
        // async workers, so other requests keep being served.
        let profile = account.csv_profile.clone();
        let bytes = file.to_vec();
        let parsed = tokio::task::spawn_blocking(move || statement::parse(&bytes, profile.as_ref()))
            .await
            .map_err(|e| LedgerError::internal(format!("statement parser task: {e}")))?
            .map_err(ReconciliationError::from)?;
        let balance_checked = check(&account, &parsed)?;
        let sha = statement::csv::sha256_hex(file);

        let txn = super::db::begin_write(self.0.db(), Tenant::All, true).await?;
        if let Some(earlier) = store::statement_by_ref(&txn, account.id, &parsed.statement_id).await? {
            if earlier.file_sha256 != sha {
                return Err(ReconciliationError::StatementIdReused(parsed.statement_id).into());
            }
            return Ok(StatementImport {
                statement: earlier,
                replayed: true,
                balance_checked,
                currency: account.currency,
            });
        }
        let previous = store::last_closed_statement(&txn, account.id).await?;
        let opening = parsed.opening_booked;
        let gap_minor = match (previous.and_then(|p| p.closing_minor), opening) {
            (Some(closed), Some(open)) if closed != open.amount_minor => open.amount_minor.checked_sub(closed),
            _ => None,
        };
        let now = Utc::now();
        let line_count = u32::try_from(parsed.lines.len()).unwrap_or(u32::MAX);
        let mut row = BankStatement {
            id: Uuid::now_v7(),
            bank_account: account.id,
            statement_ref: parsed.statement_id.clone(),
            format: parsed.format.clone(),
            file_sha256: sha,
            opening_minor: opening.map(|b| b.amount_minor),
            opening_date: opening.and_then(|b| b.date),
            closing_minor: parsed.closing_booked.map(|b| b.amount_minor),
            closing_date: parsed.closing_booked.and_then(|b| b.date),
            gap_minor,
            line_count,
            new_line_count: 0,
            imported_by: caller.actor().to_string(),
            imported_at: now,
        };
        store::insert_statement(&txn, &row).await?;
        row.new_line_count = store::insert_lines(&txn, account.id, row.id, &parsed.lines, now).await?;
        store::set_new_line_count(&txn, row.id, row.new_line_count).await?;
        let target = (AuditTarget::BankStatement, Some(row.id.to_string()));
        let what = format!(
            "{} {} of {}: {} lines, {} new",
            row.format, row.statement_ref, account.name, row.line_count, row.new_line_count
        );
        append_audit(&txn, &audit(caller, "importBankStatement", target, Some(what), request_id)).await?;
        match txn.commit().await {
            Ok(()) => {
                Ok(StatementImport { statement: row, replayed: false, balance_checked, currency: account.currency })
            }
            // The same statement, imported by someone else at the same moment:
            // theirs is the import, this one its replay.
            Err(e) if super::db::is_unique_violation(&e, super::db::UniqueKey::BankStatement) => {
                let reads = Reads::begin(self.0.db(), Tenant::All).await?;
                let earlier = store::statement_by_ref(reads.db(), account.id, &parsed.statement_id).await;
                reads.finish().await;
                let earlier =
                    earlier?.ok_or_else(|| LedgerError::internal("a statement that conflicted is missing"))?;
                Ok(StatementImport { statement: earlier, replayed: true, balance_checked, currency: account.currency })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A registration's input, checked and normalised. Errors as
/// [`Reconciliation::register_bank_account`].
fn validated(new: NewBankAccount) -> Result<BankAccount, LedgerError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_BANK_ACCOUNT_NAME_LEN {
        let why = format!("a name of 1 to {MAX_BANK_ACCOUNT_NAME_LEN} characters is needed");
        return Err(ReconciliationError::BankAccountInvalid(why).into());
    }
    let iban = new
        .iban
        .map(|raw| {
            raw.parse::<iban::Iban>()
                .map(|i| iban::IbanLike::electronic_str(&i).to_owned())
                .map_err(|e| ReconciliationError::IbanInvalid { iban: raw.clone(), reason: e.to_string() })
        })
        .transpose()?;
    let account_number = new.account_number.map(|n| n.trim().to_owned());
    if let Some(n) = &account_number
        && (n.is_empty() || n.len() > MAX_ACCOUNT_NUMBER_LEN || !n.bytes().all(|b| b.is_ascii_graphic()))
    {
        let why = format!("an account number is 1 to {MAX_ACCOUNT_NUMBER_LEN} visible ASCII characters");
        return Err(ReconciliationError::BankAccountInvalid(why).into());
    }
    if iban.is_none() && account_number.is_none() {
        let why = "an IBAN or an account number is needed".to_owned();
        return Err(ReconciliationError::BankAccountInvalid(why).into());
    }
    let currency = Asset::iso4217(&new.currency)
        .ok_or_else(|| ReconciliationError::from(statement::StatementError::UnknownCurrency(new.currency.clone())))?;
    if let Some(profile) = &new.csv_profile {
        profile.validate().map_err(ReconciliationError::from)?;
        if profile.currency != currency.code.as_str() {
            return Err(ReconciliationError::CurrencyMismatch {
                statement: profile.currency.clone(),
                account: currency.code.to_string(),
            }
            .into());
        }
    }
    Ok(BankAccount {
        id: Uuid::now_v7(),
        name,
        iban,
        account_number,
        currency: currency.code.to_string(),
        csv_profile: new.csv_profile,
        created_at: Utc::now(),
    })
}

/// The checks a parsed statement passes before anything is written: it is
/// for this account, in its currency, and adds up. Returns whether the
/// balances were there to check. Errors: `STATEMENT_ACCOUNT_MISMATCH`,
/// `CURRENCY_MISMATCH`, `STATEMENT_UNBALANCED`, `BAD_AMOUNT` (a sum overflows).
fn check(account: &BankAccount, parsed: &ParsedStatement) -> Result<bool, ReconciliationError> {
    let named = parsed.account.iban.as_ref().or(parsed.account.number.as_ref());
    if let Some(file) = named {
        let ours = [account.iban.as_ref(), account.account_number.as_ref()];
        if !ours.into_iter().flatten().any(|o| o == file) {
            let registered = account.iban.clone().or_else(|| account.account_number.clone()).unwrap_or_default();
            return Err(ReconciliationError::AccountMismatch { file: file.clone(), registered });
        }
    }
    if parsed.currency != account.currency {
        return Err(ReconciliationError::CurrencyMismatch {
            statement: parsed.currency.clone(),
            account: account.currency.clone(),
        });
    }
    let overflow = || {
        ReconciliationError::from(statement::StatementError::BadAmount {
            raw: "the sum of the lines".into(),
            currency: parsed.currency.clone(),
            reason: "overflows 64-bit minor units".into(),
        })
    };
    let (Some(opening), Some(closing)) = (parsed.opening_booked, parsed.closing_booked) else {
        return Ok(false);
    };
    let lines_minor = parsed.booked_net_minor().ok_or_else(overflow)?;
    let expected_minor = opening.amount_minor.checked_add(lines_minor).ok_or_else(overflow)?;
    if expected_minor != closing.amount_minor {
        return Err(ReconciliationError::Unbalanced {
            opening_minor: opening.amount_minor,
            lines_minor,
            expected_minor,
            closing_minor: closing.amount_minor,
            difference_minor: closing.amount_minor.saturating_sub(expected_minor),
        });
    }
    Ok(true)
}

/// A unique violation on a bank account's IBAN or number is
/// `BANK_ACCOUNT_EXISTS` (two registrations raced); anything else stays a
/// database error.
fn taken_or(e: sea_orm::DbErr) -> LedgerError {
    if super::db::is_unique_violation(&e, super::db::UniqueKey::BankAccountIban)
        || super::db::is_unique_violation(&e, super::db::UniqueKey::BankAccountNumber)
    {
        ReconciliationError::BankAccountExists.into()
    } else {
        e.into()
    }
}

/// The audit record of a reconciliation action.
fn audit(
    caller: &Caller,
    action: &str,
    target: (AuditTarget, Option<String>),
    reason: Option<String>,
    request_id: Option<String>,
) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at: Utc::now(),
        actor: caller.actor().to_string(),
        action: action.to_owned(),
        target_type: target.0,
        target_id: target.1,
        merchant: None,
        reason,
        result: "ok".to_owned(),
        request_id,
    }
}

/// The platform's bank accounts, by name. Errors: [`LedgerError::Database`].
pub async fn bank_accounts(reads: &Reads) -> Result<Vec<BankAccount>, LedgerError> {
    Ok(store::bank_accounts(reads.db()).await?)
}

/// The bank account `id`, if registered. Errors: [`LedgerError::Database`].
pub async fn bank_account(reads: &Reads, id: Uuid) -> Result<Option<BankAccount>, LedgerError> {
    Ok(store::bank_account(reads.db(), id).await?)
}

/// `account`'s statements, newest import first, at most `limit`. Errors:
/// [`LedgerError::Database`].
pub async fn statements(reads: &Reads, account: Uuid, limit: u64) -> Result<Vec<BankStatement>, LedgerError> {
    Ok(store::statements(reads.db(), account, limit).await?)
}

/// The statement `id`, if imported. Errors: [`LedgerError::Database`].
pub async fn statement(reads: &Reads, id: Uuid) -> Result<Option<BankStatement>, LedgerError> {
    Ok(store::statement(reads.db(), id).await?)
}

/// `account`'s statement lines by booking date (oldest first), filtered,
/// after the cursor `after` (a line's booking date and id), at most `limit`.
/// Errors: [`LedgerError::Database`].
pub async fn lines(
    reads: &Reads,
    account: Uuid,
    filter: LineFilter,
    after: Option<(Option<NaiveDate>, Uuid)>,
    limit: u64,
) -> Result<Vec<StoredLine>, LedgerError> {
    Ok(store::lines(reads.db(), account, filter, after, limit).await?)
}

/// Most unmatched lines one matching run reads: a day of a busy account; a
/// longer backlog is worked through in several runs.
pub const MAX_LINES_PER_RUN: u64 = 10_000;

/// Chunks of payout steps a matching run keeps in flight, each one database
/// transaction: few, so a run leaves connections to other requests (the
/// pool holds 16 by default).
pub const MATCH_STEPS_IN_FLIGHT: usize = 2;

/// Payout steps a matching run applies in one database transaction (a
/// merchant's steps are never split, so a chunk may hold a few more).
pub const PAYOUT_STEPS_PER_TRANSACTION: usize = 250;

/// One match a run found (and, unless it was a dry run, applied).
#[derive(Debug, Clone, PartialEq)]
pub struct LineMatch {
    /// The statement line.
    pub line: StoredLine,
    /// The payout it is.
    pub payout: crate::core::payouts::Payout,
    /// Settle, fail, or returned (the debit of a payout the run fails).
    pub action: matching::PayoutAction,
    /// |line − payout| in minor units (within the rules' tolerance).
    pub difference_minor: i64,
    /// The transaction the payout step posted; `None` on a dry run and for `Returned`.
    pub transaction: Option<crate::domain::TransactionId>,
}

/// What a matching run found (and, unless it was a dry run, applied).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRun {
    /// Payouts settled by their bank debit or failed by its return.
    pub payouts: Vec<LineMatch>,
    /// Processor deposits that settled captures.
    pub deposits: Vec<deposits::DepositMatch>,
}

impl Reconciliation<'_> {
    /// Matches `bank_account`'s unmatched lines (up to [`MAX_LINES_PER_RUN`],
    /// oldest first) to the books:
    ///
    /// - payouts in transit: a debit whose `EndToEndId` is a payout's id, in
    ///   the account's currency, within the rules' amount tolerance and date
    ///   window, settles the payout; a return (`RvslInd` credit) of it fails
    ///   the payout. Both go through the payout steps (with the idempotency
    ///   key `recon-<line id>`, so a run repeated after a crash replays them);
    /// - processor deposits: a credit that pays captures settles them
    ///   ([`deposits`]: one line to many captures, or several lines of one
    ///   batch to them), posting `processor_clearing` to `bank` and the fee
    ///   to `processor_fees` in each merchant's books, atomically per deposit.
    ///
    /// Each match is recorded with its lines, which leave the exception
    /// queue. The best fit wins ([`matching::assign`]), and no line or ledger
    /// item is matched twice. On a dry run nothing is written and the
    /// matches are only listed. Errors: `NOT_FOUND`, `BAD_USER_INPUT` (rules
    /// out of range), the payout steps' (`PAYOUT_NOT_IN_TRANSIT` when a payout
    /// moved meanwhile), the postings' (`IDEMPOTENCY_KEY_REUSED` when a
    /// deposit's captures changed since a run that was cut short).
    pub async fn match_lines(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        bank_account: Uuid,
        rules: matching::MatchRules,
        dry_run: bool,
    ) -> Result<MatchRun, LedgerError> {
        if rules.amount_tolerance_minor < 0
            || rules.amount_tolerance_bps > 10_000
            || !(0..=matching::MAX_DATE_WINDOW_DAYS).contains(&rules.date_window_days)
        {
            let why = format!(
                "rules out of range: tolerance ≥ 0 minor units, 0 to 10000 basis points, a window of 0 to {} days",
                matching::MAX_DATE_WINDOW_DAYS
            );
            return Err(ReconciliationError::BankAccountInvalid(why).into());
        }
        let started = std::time::Instant::now();
        let reads = Reads::begin(self.0.db(), Tenant::All).await?;
        let found = async {
            let account =
                store::bank_account(reads.db(), bank_account).await?.ok_or(ReconciliationError::BankAccountNotFound)?;
            let filter = LineFilter { statement: None, state: Some(LineState::Unmatched) };
            let lines = store::lines(reads.db(), bank_account, filter, None, MAX_LINES_PER_RUN).await?;
            let payouts = self.proposals(&reads, &account, &lines, rules).await?;
            let open =
                open_captures(&reads, &account.currency, lines.iter().flat_map(deposits::named_payments)).await?;
            let deposits = deposits::propose(&lines, &open, &account.currency, &rules);
            Ok::<_, LedgerError>((account, MatchRun { payouts, deposits }))
        }
        .await;
        reads.finish().await;
        let (account, proposed) = found?;
        let proposed_in = started.elapsed();
        if dry_run {
            return Ok(proposed);
        }
        // Payout steps go to the write path in chunks, one database
        // transaction each (one commit for hundreds of steps, not one per
        // step), every merchant's steps in one chunk so that chunks in flight
        // never wait on each other's rows; each chunk's matches are recorded
        // as soon as it is done, so a run cut short leaves every settled
        // payout with its record, and a run again goes on with the rest.
        let mut by_merchant: std::collections::BTreeMap<crate::domain::MerchantId, Vec<LineMatch>> =
            std::collections::BTreeMap::new();
        for m in proposed.payouts {
            by_merchant.entry(m.payout.merchant).or_default().push(m);
        }
        let mut chunks: Vec<Vec<LineMatch>> = vec![Vec::new()];
        for (_, matches) in by_merchant {
            if chunks.last().is_some_and(|c| c.len() >= PAYOUT_STEPS_PER_TRANSACTION) {
                chunks.push(Vec::new());
            }
            if let Some(chunk) = chunks.last_mut() {
                chunk.extend(matches);
            }
        }
        let stepped: Vec<Result<Vec<LineMatch>, LedgerError>> = futures::stream::iter(chunks)
            .filter(|c| std::future::ready(!c.is_empty()))
            .map(|chunk| self.apply_chunk(caller, request_id.clone(), chunk, bank_account))
            .buffer_unordered(MATCH_STEPS_IN_FLIGHT)
            .collect()
            .await;
        let mut payouts = Vec::new();
        for step in stepped {
            payouts.extend(step?);
        }
        payouts.sort_by_key(|m| (m.line.line.booking_date, m.line.statement, m.line.line_no));
        let payouts_in = started.elapsed();
        let mut settled = Vec::with_capacity(proposed.deposits.len());
        for deposit in proposed.deposits {
            settled.push(self.settle(caller, request_id.clone(), &account, deposit, None).await?);
        }
        tracing::info!(
            bank_account = %bank_account,
            payouts = payouts.len(),
            deposits = settled.len(),
            proposals_ms = proposed_in.as_millis(),
            payout_steps_ms = (payouts_in - proposed_in).as_millis(),
            settlements_ms = (started.elapsed() - payouts_in).as_millis(),
            "matching run done"
        );
        Ok(MatchRun { payouts, deposits: settled })
    }

    /// Posts a deposit's settlement (one transaction per merchant, all or
    /// none, with the idempotency keys `recon-<first line>-r<round>-<merchant>`
    /// so a run repeated after a crash replays them) and records it with its
    /// lines and an audit record (`reason`: a hand match's). Errors: the
    /// postings', and the record's unique keys when another run settled a
    /// capture meanwhile.
    pub(super) async fn settle(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        account: &BankAccount,
        mut m: deposits::DepositMatch,
        reason: Option<&str>,
    ) -> Result<deposits::DepositMatch, LedgerError> {
        let asset = crate::domain::AssetCode::parse(&account.currency)?;
        let first = m.lines.first().ok_or_else(|| LedgerError::internal("a deposit without a line"))?;
        let key_base = format!("recon-{}-r{}", first.id, first.match_round);
        let line_ids: Vec<String> = m.lines.iter().map(|l| l.id.to_string()).collect();
        let shares = deposits::fee_shares(&m.captures, m.fee_minor);
        let mut items = Vec::with_capacity(shares.len());
        for (merchant, gross, fee) in &shares {
            let payments: Vec<String> =
                m.captures.iter().filter(|c| c.merchant == *merchant).map(|c| c.payment.to_string()).collect();
            let metadata = serde_json::json!({ "bankStatementLines": line_ids, "payments": payments,
                "grossMinor": gross, "feeMinor": fee });
            let draft = deposits::settlement_draft(*merchant, &asset, *gross, *fee, metadata.clone())?;
            let key = format!("{key_base}-{merchant}");
            let call =
                super::posting::Call::new(caller, request_id.clone(), &key, "matchBankStatementLines", &metadata)?
                    .naming(Some(*merchant));
            items.push((call, draft));
        }
        let results = self.0.posting().post_batch(items, true, false).await;
        let mut postings = Vec::with_capacity(shares.len());
        let mut refused = Vec::new();
        for ((merchant, gross, fee), posted) in shares.iter().zip(results) {
            match posted {
                Ok(item) => {
                    let t = item.transaction.ok_or_else(|| LedgerError::internal("a settlement posted nothing"))?;
                    postings.push((*merchant, t.0, *gross, *fee));
                }
                Err(e) => refused.push(e),
            }
        }
        // An atomic batch answers BATCH_ROLLED_BACK for the items it did not
        // refuse itself: the cause is the other one.
        if let Some(i) = refused.iter().position(|e| e.code() != "BATCH_ROLLED_BACK") {
            return Err(refused.swap_remove(i));
        }
        if let Some(e) = refused.pop() {
            return Err(e);
        }
        let id = Uuid::now_v7();
        let actor = caller.actor().to_string();
        let now = Utc::now();
        let txn = super::db::begin_write(self.0.db(), Tenant::All, true).await?;
        let record = store::NewSettlement {
            id,
            bank_account: account.id,
            currency: &account.currency,
            gross_minor: m.gross_minor,
            net_minor: m.net_minor,
            captures: &m.captures,
            postings: &postings,
            created_by: &actor,
            at: now,
        };
        store::insert_settlement(&txn, &record).await?;
        for line in &m.lines {
            store::insert_target_match(&txn, account.id, line.id, "settlement", id, None, &actor, reason, now).await?;
        }
        let (operation, why) = match reason {
            Some(r) => ("matchBankDeposit", format!(": {r}")),
            None => ("matchBankStatementLines", String::new()),
        };
        let what = format!(
            "deposit of {} line(s) {} settled {} captures of {} merchants: gross {}, net {}, fee {} ({}){why}",
            m.lines.len(),
            line_ids.join(", "),
            m.captures.len(),
            postings.len(),
            m.gross_minor,
            m.net_minor,
            m.fee_minor,
            account.currency,
        );
        let target = (AuditTarget::BankStatement, Some(first.statement.to_string()));
        append_audit(&txn, &audit(caller, operation, target, Some(what), request_id)).await?;
        txn.commit().await?;
        m.settlement = Some(id);
        m.transactions = postings.iter().map(|p| p.1).collect();
        for line in &mut m.lines {
            line.state = LineState::Matched;
        }
        Ok(m)
    }

    /// Runs the payout steps of `chunk` through the write path in one
    /// database transaction (idempotency keys `recon-<line id>`; a `Returned`
    /// debit posts nothing), then records the matches whose step was done,
    /// with their audit records, in one more. Errors: the first step refused
    /// (`PAYOUT_NOT_IN_TRANSIT` when a payout moved meanwhile), after the
    /// others are recorded; the record's unique keys when another run
    /// matched a line meanwhile.
    async fn apply_chunk(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        chunk: Vec<LineMatch>,
        bank_account: Uuid,
    ) -> Result<Vec<LineMatch>, LedgerError> {
        use super::posting::{Call, Command, Outcome};
        let mut requests = Vec::with_capacity(chunk.len());
        let mut stepped = Vec::with_capacity(chunk.len());
        for (i, m) in chunk.iter().enumerate() {
            let (operation, command) = match m.action {
                matching::PayoutAction::Settle => ("settlePayout", Command::SettlePayout { payout: m.payout.id }),
                matching::PayoutAction::Fail => ("failPayout", Command::FailPayout { payout: m.payout.id }),
                matching::PayoutAction::Returned => continue,
            };
            let key = format!("recon-{}", m.line.id);
            let input = serde_json::json!({ "payoutId": m.payout.id, "bankStatementLineId": m.line.id });
            let call = Call::new(caller, request_id.clone(), &key, operation, &input)?.naming(Some(m.payout.merchant));
            requests.push(call.request(command));
            stepped.push(i);
        }
        let results = if requests.is_empty() { Vec::new() } else { self.0.submit(requests).await };
        let mut done: Vec<Option<LineMatch>> = chunk.into_iter().map(Some).collect();
        let mut first_error = None;
        for (i, result) in stepped.into_iter().zip(results) {
            let Some(m) = done.get_mut(i).and_then(Option::as_mut) else { continue };
            match result.map(|a| a.outcome) {
                Ok(Outcome::Payout { transaction, .. }) => {
                    m.transaction = Some(transaction);
                    m.payout.state = if m.action == matching::PayoutAction::Settle {
                        crate::core::payouts::payout::PayoutState::Settled
                    } else {
                        crate::core::payouts::payout::PayoutState::Failed
                    };
                }
                Ok(other) => return Err(LedgerError::mismatch("payout", &other)),
                Err(e) => {
                    first_error.get_or_insert(e);
                    done[i] = None;
                }
            }
        }
        let mut done: Vec<LineMatch> = done.into_iter().flatten().collect();
        let txn = super::db::begin_write(self.0.db(), Tenant::All, true).await?;
        let actor = caller.actor().to_string();
        let now = Utc::now();
        let rows: Vec<store::PayoutMatchRow> =
            done.iter().map(|m| (m.line.id, m.payout.id, m.action.as_str(), m.transaction.map(|t| t.0))).collect();
        store::insert_matches(&txn, bank_account, &rows, &actor, now).await?;
        let records: Vec<_> = done
            .iter()
            .map(|m| {
                let target = (AuditTarget::BankStatement, Some(m.line.statement.to_string()));
                let what = format!("line {} matched to payout {} ({})", m.line.id, m.payout.id, m.action.as_str());
                audit(caller, "matchBankStatementLines", target, Some(what), request_id.clone())
            })
            .collect();
        crate::core::access::store::append_audits(&txn, &records).await?;
        txn.commit().await?;
        for m in &mut done {
            m.line.state = LineState::Matched;
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Runs a match's payout step and records the match with its audit
    /// record (`reason`: a hand match's). Errors: the payout step's, and the
    /// record's unique keys when another run matched the line meanwhile.
    async fn apply(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        m: LineMatch,
        bank_account: Uuid,
        reason: Option<&str>,
    ) -> Result<LineMatch, LedgerError> {
        let mut m = self.payout_step(caller, request_id.clone(), m).await?;
        let txn = super::db::begin_write(self.0.db(), Tenant::All, true).await?;
        let actor = caller.actor().to_string();
        let transaction = m.transaction.map(|t| t.0);
        let (line, payout, action) = (m.line.id, m.payout.id, m.action.as_str());
        store::insert_match(&txn, bank_account, line, payout, action, transaction, &actor, Utc::now()).await?;
        let target = (AuditTarget::BankStatement, Some(m.line.statement.to_string()));
        let (operation, what) = match reason {
            Some(r) => {
                ("matchBankStatementLine", format!("line {line} matched by hand to payout {payout} ({action}): {r}"))
            }
            None => ("matchBankStatementLines", format!("line {line} matched to payout {payout} ({action})")),
        };
        append_audit(&txn, &audit(caller, operation, target, Some(what), request_id)).await?;
        txn.commit().await?;
        m.line.state = LineState::Matched;
        Ok(m)
    }

    /// Matches the statement line `line` to the payout `payout` by hand, for
    /// what the rules did not match (a reference the bank garbled, an amount
    /// outside the tolerance): a booked debit settles the payout, a booked
    /// return fails it, through the payout steps. The amount and date rules
    /// are not applied (staff decide), the currency is. Needs a reason;
    /// audited with it. On a dry run nothing is written. Errors: `NOT_FOUND`
    /// (line or payout), `LINE_ALREADY_MATCHED`, `LINE_DOES_NOT_FIT`,
    /// `REASON_REQUIRED`, `PAYOUT_NOT_IN_TRANSIT`.
    pub async fn match_by_hand(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        line: Uuid,
        payout: Uuid,
        reason: &str,
        dry_run: bool,
    ) -> Result<LineMatch, LedgerError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ReconciliationError::ReasonRequired.into());
        }
        let reads = Reads::begin(self.0.db(), Tenant::All).await?;
        let found = async {
            let line = store::line(reads.db(), line).await?.ok_or(ReconciliationError::LineNotFound)?;
            let payout = crate::core::payouts::find(&reads, payout, None)
                .await?
                .ok_or(LedgerError::from(crate::core::payouts::PayoutError::NotFound))?;
            Ok::<_, LedgerError>((line, payout))
        }
        .await;
        reads.finish().await;
        let (line, payout) = found?;
        if line.state != LineState::Unmatched {
            return Err(ReconciliationError::LineAlreadyMatched(line.state.as_str()).into());
        }
        let does_not_fit = |why: &str| LedgerError::from(ReconciliationError::LineDoesNotFit(why.to_owned()));
        let action = match (line.line.direction, line.line.reversal) {
            (statement::BankDirection::Debit, false) => matching::PayoutAction::Settle,
            (statement::BankDirection::Credit, true) => matching::PayoutAction::Fail,
            _ => {
                return Err(does_not_fit(
                    "only a debit settles a payout, and only a return (reversal credit) fails it",
                ));
            }
        };
        if line.line.status != "BOOK" {
            return Err(does_not_fit("the line is not booked"));
        }
        if payout.asset.as_str() != line.line.currency {
            return Err(does_not_fit("the line is in another currency than the payout"));
        }
        if payout.state != crate::core::payouts::payout::PayoutState::InTransit {
            return Err(crate::core::payouts::PayoutError::PayoutNotInTransit.into());
        }
        let m = LineMatch {
            difference_minor: (line.line.amount_minor - payout.amount).abs(),
            line,
            payout,
            action,
            transaction: None,
        };
        if dry_run {
            return Ok(m);
        }
        let bank_account = m.line.bank_account;
        self.apply(caller, request_id, m, bank_account, Some(reason)).await
    }

    /// Settles or fails the payout of one match through its payout step, with
    /// the idempotency key `recon-<line id>`; a `Returned` debit posts nothing.
    async fn payout_step(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        mut m: LineMatch,
    ) -> Result<LineMatch, LedgerError> {
        let step = match m.action {
            matching::PayoutAction::Settle => ("settlePayout", true),
            matching::PayoutAction::Fail => ("failPayout", false),
            matching::PayoutAction::Returned => return Ok(m),
        };
        let key = format!("recon-{}", m.line.id);
        let input = serde_json::json!({ "payoutId": m.payout.id, "bankStatementLineId": m.line.id });
        let call = super::posting::Call::new(caller, request_id, &key, step.0, &input)?.naming(Some(m.payout.merchant));
        let payouts = self.0.payouts();
        let done =
            if step.1 { payouts.settle(call, m.payout.id).await? } else { payouts.fail(call, m.payout.id).await? };
        m.transaction = Some(done.transaction.id);
        m.payout = done.payout;
        Ok(m)
    }

    /// The payout matches the rules find among `lines` (`account`'s unmatched lines).
    async fn proposals(
        &self,
        reads: &Reads,
        account: &BankAccount,
        lines: &[StoredLine],
        rules: matching::MatchRules,
    ) -> Result<Vec<LineMatch>, LedgerError> {
        use matching::PayoutAction;
        // The lines that can be a payout's debit or return, with the payout
        // ids they name; the payouts then read in one go.
        let mut named = Vec::new();
        for line in lines {
            let l = &line.line;
            let action = match (l.direction, l.reversal) {
                (statement::BankDirection::Debit, false) => PayoutAction::Settle,
                (statement::BankDirection::Credit, true) => PayoutAction::Fail,
                _ => continue,
            };
            if l.status != "BOOK" {
                continue;
            }
            let ids: Vec<Uuid> = l
                .details
                .iter()
                .filter_map(|d| d.end_to_end_id.as_deref())
                .filter_map(|e| Uuid::parse_str(e).ok())
                .collect();
            if !ids.is_empty() {
                named.push((line, action, ids));
            }
        }
        let mut wanted: Vec<Uuid> = named.iter().flat_map(|n| n.2.iter().copied()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let payouts = crate::core::payouts::find_many(reads, &wanted).await?;
        let mut fits = Vec::new();
        for (line, action, ids) in named {
            let l = &line.line;
            for id in ids {
                let Some(payout) = payouts.get(&id) else { continue };
                let in_transit = payout.state == crate::core::payouts::payout::PayoutState::InTransit;
                let days_after = l.booking_date.map_or(0, |d| (d - payout.created_at.date_naive()).num_days());
                if !in_transit
                    || payout.asset.as_str() != account.currency
                    || !rules.amount_fits(l.amount_minor, payout.amount)
                    || !rules.date_fits(days_after)
                {
                    continue;
                }
                fits.push(matching::Fit {
                    line: line.id,
                    payout: id,
                    action,
                    difference_minor: (l.amount_minor - payout.amount).abs(),
                    days_apart: days_after.abs(),
                });
            }
        }
        let by_line: std::collections::HashMap<Uuid, &StoredLine> = lines.iter().map(|l| (l.id, l)).collect();
        let mut out = Vec::new();
        for fit in matching::assign(fits) {
            let (Some(line), Some(payout)) = (by_line.get(&fit.line), payouts.get(&fit.payout)) else {
                return Err(LedgerError::internal("a fit names a line or payout the run did not read"));
            };
            out.push(LineMatch {
                line: (*line).clone(),
                payout: payout.clone(),
                action: fit.action,
                difference_minor: fit.difference_minor,
                transaction: None,
            });
        }
        // Fails before the debits they return, so the order reads as the bank's.
        out.sort_by_key(|m| (m.line.line.booking_date, m.line.line_no));
        Ok(out)
    }
}

/// The captures among `ids` that are open: captured in `currency`, covered
/// by no settlement yet; by payment id. Errors: [`LedgerError::Database`].
pub(super) async fn open_captures(
    reads: &Reads,
    currency: &str,
    ids: impl Iterator<Item = Uuid>,
) -> Result<std::collections::HashMap<Uuid, Capture>, LedgerError> {
    let mut ids: Vec<Uuid> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let settled = store::settled_payments(reads.db(), &ids).await?;
    let found = store::captures(reads.db(), &ids).await?;
    Ok(found
        .into_iter()
        .filter(|c| c.asset == currency && !settled.contains(&c.payment))
        .map(|c| (c.payment, c))
        .collect())
}
