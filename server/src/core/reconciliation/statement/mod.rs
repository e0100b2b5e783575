//! Bank statements as the bank tells them, parsed once at the edge into one
//! shape whatever the file's format: ISO 20022 camt.053 (versions .001.02 and
//! .001.08, [`camt`]) or a bank's CSV export read through a named
//! [`csv::CsvProfile`].
//!
//! Pure: no I/O, no database. Amounts are parsed into integer minor units of the
//! statement's currency with the ISO 4217 exponent; a figure with more decimals
//! than the currency allows is refused, never rounded.
//!
//! Direction is the bank's: a `Credit` line (`CdtDbtInd` `CRDT`) is money that
//! arrived in the platform's bank account, a `Debit` line money that left it.

pub mod camt;
pub mod csv;

use chrono::NaiveDate;
use thiserror::Error;

/// The largest statement file accepted, in bytes: a month of a busy account's
/// camt.053 is a few MiB; 32 MiB bounds the memory one upload can take.
pub const MAX_STATEMENT_BYTES: usize = 32 * 1024 * 1024;

/// The most lines one statement may carry (camt `Ntry` or CSV rows).
pub const MAX_STATEMENT_LINES: usize = 100_000;

/// The most `TxDtls` kept per line (a processor's batch deposit lists the
/// payments it settles; more than this is refused as malformed).
pub const MAX_DETAILS_PER_LINE: usize = 10_000;

/// Which way money moved on the bank account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BankDirection {
    /// Money into the bank account (`CRDT`).
    Credit,
    /// Money out of the bank account (`DBIT`).
    Debit,
}

impl BankDirection {
    /// The camt code, `CRDT` or `DBIT`.
    pub fn code(self) -> &'static str {
        match self {
            BankDirection::Credit => "CRDT",
            BankDirection::Debit => "DBIT",
        }
    }
}

/// The bank account a statement is for, as the file names it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatementAccount {
    /// The IBAN (ISO 13616), upper case, spaces removed, if the file gives one.
    pub iban: Option<String>,
    /// Another account number (`Othr/Id`), if the file gives one instead.
    pub number: Option<String>,
    /// The account's currency (`Acct/Ccy`), if the file gives it.
    pub currency: Option<String>,
}

/// A booked balance (`Bal` with `Tp/CdOrPrtry/Cd` `OPBD` or `CLBD`), signed:
/// negative when the bank says `DBIT` (an overdrawn account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookedBalance {
    /// Signed minor units of the statement's currency.
    pub amount_minor: i64,
    /// The balance's date.
    pub date: Option<NaiveDate>,
}

/// One party of a transaction (`RltdPties`): a debtor or a creditor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Party {
    /// The party's name (`Nm`).
    pub name: Option<String>,
    /// The party's account: an IBAN or another id.
    pub account: Option<String>,
}

/// One `TxDtls` of an entry: one payment inside a (possibly batched) bank line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransactionDetails {
    /// `Refs/EndToEndId`, the payer's reference carried end to end (`NOTPROVIDED` kept as given).
    pub end_to_end_id: Option<String>,
    /// `Refs/AcctSvcrRef` of the detail, if any.
    pub account_servicer_ref: Option<String>,
    /// The detail's own amount in minor units (`Amt` or `AmtDtls/TxAmt/Amt`), if given.
    pub amount_minor: Option<i64>,
    /// `RltdPties/Dbtr` (the debtor).
    pub debtor: Option<Party>,
    /// `RltdPties/Cdtr` (the creditor).
    pub creditor: Option<Party>,
    /// Unstructured remittance lines (`RmtInf/Ustrd`) and structured creditor
    /// references (`RmtInf/Strd/CdtrRefInf/Ref`), in file order.
    pub remittance: Vec<String>,
}

/// One statement line (`Ntry`), in the bank's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// The line's amount, minor units, always > 0; the sign is `direction`.
    pub amount_minor: i64,
    /// The line's currency (`Amt/@Ccy`).
    pub currency: String,
    /// `CdtDbtInd`.
    pub direction: BankDirection,
    /// `RvslInd`: true when this line reverses an earlier one (a return).
    pub reversal: bool,
    /// `Sts` (`BOOK`, `PDNG`, `INFO`): in .001.02 the code itself, in .001.08 `Sts/Cd`.
    pub status: String,
    /// `BookgDt` (`Dt`, or the date of `DtTm`).
    pub booking_date: Option<NaiveDate>,
    /// `ValDt` (`Dt`, or the date of `DtTm`).
    pub value_date: Option<NaiveDate>,
    /// `AcctSvcrRef`: the bank's own reference for the line; the import's
    /// idempotency key for a line.
    pub account_servicer_ref: Option<String>,
    /// `NtryRef`.
    pub entry_ref: Option<String>,
    /// `NtryDtls/Btch/NbOfTxs`: how many payments the bank says the line batches.
    pub batch_count: Option<u32>,
    /// Every `TxDtls`, in file order.
    pub details: Vec<TransactionDetails>,
    /// Free text of the line (`AddtlNtryInf`, or a CSV description column).
    pub additional_info: Option<String>,
}

/// A whole statement (`BkToCstmrStmt/Stmt`, or one CSV file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedStatement {
    /// Which format it came in: `camt.053.001.02`, `camt.053.001.08`, `csv:<profile>`.
    pub format: String,
    /// `Stmt/Id`; for a CSV file, which has none, the SHA-256 of its bytes in hex.
    pub statement_id: String,
    /// The account the file is for.
    pub account: StatementAccount,
    /// The statement's currency: `Acct/Ccy`, else the booked balances' and lines' currency.
    pub currency: String,
    /// `OPBD`, or for a CSV with a running balance the first row's balance less its amount.
    pub opening_booked: Option<BookedBalance>,
    /// `CLBD`, or for a CSV with a running balance the last row's balance.
    pub closing_booked: Option<BookedBalance>,
    /// Every line, in file order.
    pub lines: Vec<StatementLine>,
}

impl ParsedStatement {
    /// The signed sum of booked lines (`Sts` `BOOK`): credits add, debits subtract.
    /// `None` on overflow.
    pub fn booked_net_minor(&self) -> Option<i64> {
        self.lines.iter().filter(|l| l.status == "BOOK").try_fold(0_i64, |acc, l| match l.direction {
            BankDirection::Credit => acc.checked_add(l.amount_minor),
            BankDirection::Debit => acc.checked_sub(l.amount_minor),
        })
    }
}

/// Why a statement file could not be read. Nothing is written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StatementError {
    /// The file is not well-formed XML or CSV, or lacks a required element; the
    /// text says which and, where the reader knows it, where.
    #[error("malformed statement: {0}")]
    Malformed(String),
    /// The XML is well formed but not a camt.053 version this reader knows
    /// (the namespace is given).
    #[error("unsupported statement format `{0}`: camt.053.001.02 and camt.053.001.08 are read")]
    UnsupportedFormat(String),
    /// A currency that is not ISO 4217 with a minor unit.
    #[error("unknown currency `{0}`")]
    UnknownCurrency(String),
    /// An amount with more decimals than its currency allows, or not a number.
    #[error("bad amount `{raw}` in {currency}: {reason}")]
    BadAmount {
        /// The figure as written in the file.
        raw: String,
        /// The currency.
        currency: String,
        /// Why (too many decimals, not a number, overflow).
        reason: String,
    },
    /// Lines in another currency than the statement's.
    #[error("line in {line} in a statement in {statement}")]
    MixedCurrencies {
        /// The statement's currency.
        statement: String,
        /// The line's.
        line: String,
    },
    /// More than [`MAX_STATEMENT_LINES`] lines or [`MAX_DETAILS_PER_LINE`] details.
    #[error("statement has more than {max} {what}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A CSV profile that cannot work (unknown column, bad date format).
    #[error("CSV profile is invalid: {0}")]
    BadProfile(String),
}

impl StatementError {
    /// The stable code (GraphQL `extensions.code`): every variant is the caller's doing.
    pub fn code(&self) -> &'static str {
        match self {
            StatementError::UnsupportedFormat(_) => "UNSUPPORTED_STATEMENT_FORMAT",
            StatementError::UnknownCurrency(_) => "UNKNOWN_ASSET",
            StatementError::BadAmount { .. } => "BAD_AMOUNT",
            StatementError::TooLarge { .. } => "STATEMENT_TOO_LARGE",
            StatementError::Malformed(_) | StatementError::MixedCurrencies { .. } | StatementError::BadProfile(_) => {
                "MALFORMED_STATEMENT"
            }
        }
    }
}

/// Parses `bytes` as camt.053 when it looks like XML, else as CSV under `profile`.
/// Errors: every [`StatementError`]; a CSV file without a profile is `Malformed`.
pub fn parse(bytes: &[u8], profile: Option<&csv::CsvProfile>) -> Result<ParsedStatement, StatementError> {
    if bytes.len() > MAX_STATEMENT_BYTES {
        return Err(StatementError::TooLarge { what: "bytes", max: MAX_STATEMENT_BYTES });
    }
    let head = bytes.iter().skip_while(|b| b.is_ascii_whitespace() || **b == 0xEF || **b == 0xBB || **b == 0xBF);
    if head.clone().next() == Some(&b'<') {
        return camt::parse(bytes);
    }
    match profile {
        Some(profile) => csv::parse(bytes, profile),
        None => {
            Err(StatementError::Malformed("not XML, and the bank account has no CSV profile to read it with".into()))
        }
    }
}
