//! Why a reconciliation call was refused. Codes are stable API (GraphQL
//! `extensions.code`, and the JSON body of `POST /reconcile/bank_statement`).

use thiserror::Error;

use super::statement::StatementError;

/// Why a bank account or statement call was refused. Nothing is written when
/// one is returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReconciliationError {
    /// The file could not be read as a statement.
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// No bank account has this id.
    #[error("bank account not found")]
    BankAccountNotFound,
    /// Another bank account already has this IBAN or account number.
    #[error("a bank account with this IBAN or account number is already registered")]
    BankAccountExists,
    /// A bank account needs an IBAN or an account number, and a name of 1 to 100 characters.
    #[error("bank account is invalid: {0}")]
    BankAccountInvalid(String),
    /// The IBAN fails ISO 13616's format or its ISO 7064 mod-97 check digits.
    #[error("`{iban}` is not a valid IBAN: {reason}")]
    IbanInvalid {
        /// The IBAN as given.
        iban: String,
        /// The check that failed.
        reason: String,
    },
    /// The statement names another account than the one it is imported for.
    #[error("the statement is for account {file}, not {registered}")]
    AccountMismatch {
        /// The account the file names.
        file: String,
        /// The bank account imported into.
        registered: String,
    },
    /// The statement is in another currency than the bank account.
    #[error("the statement is in {statement}, the bank account in {account}")]
    CurrencyMismatch {
        /// The statement's currency.
        statement: String,
        /// The bank account's.
        account: String,
    },
    /// Opening balance plus the booked lines is not the closing balance.
    #[error(
        "the statement does not add up: opening {opening_minor} + booked lines {lines_minor} = {expected_minor}, \
         but the closing balance is {closing_minor} (difference {difference_minor} minor units)"
    )]
    Unbalanced {
        /// Opening booked balance (`OPBD`), signed minor units.
        opening_minor: i64,
        /// Signed sum of the booked lines.
        lines_minor: i64,
        /// Opening plus lines.
        expected_minor: i64,
        /// Closing booked balance (`CLBD`).
        closing_minor: i64,
        /// Closing less expected.
        difference_minor: i64,
    },
    /// A statement with this id was imported before from a different file: the
    /// bank's statement id names one statement, so the second file is refused.
    #[error("statement `{0}` was already imported from a different file")]
    StatementIdReused(String),
    /// No statement line has this id.
    #[error("statement line not found")]
    LineNotFound,
    /// The line is matched or written off already; it can be matched once.
    #[error("the statement line is {0} already")]
    LineAlreadyMatched(&'static str),
    /// The line cannot be this payout: only a booked debit settles a payout
    /// and only a booked return (a reversal credit) fails it, in the payout's
    /// currency; the text says which rule it breaks.
    #[error("the line cannot be matched to this payout: {0}")]
    LineDoesNotFit(String),
    /// A hand match needs a reason, for the audit log.
    #[error("a reason is required")]
    ReasonRequired,
    /// The line is not matched or written off, so there is nothing to undo.
    #[error("the statement line is not matched")]
    LineNotMatched,
    /// The capture is not open: it captured nothing in the bank account's
    /// currency, or a deposit settled it, or it was written off already.
    #[error("payment {0} has no open capture in this currency (not captured, settled or written off already)")]
    ItemNotOpen(uuid::Uuid),
    /// A payout the bank settled or returned stays so: its payout step
    /// cannot be undone. Write a correcting transaction instead.
    #[error("a payout settled or failed by a bank line cannot be unmatched: its payout step is final")]
    MatchIsFinal,
}

impl ReconciliationError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReconciliationError::Statement(e) => e.code(),
            ReconciliationError::BankAccountNotFound => "NOT_FOUND",
            ReconciliationError::BankAccountExists => "BANK_ACCOUNT_EXISTS",
            ReconciliationError::BankAccountInvalid(_) | ReconciliationError::IbanInvalid { .. } => "BAD_USER_INPUT",
            ReconciliationError::AccountMismatch { .. } => "STATEMENT_ACCOUNT_MISMATCH",
            ReconciliationError::CurrencyMismatch { .. } => "CURRENCY_MISMATCH",
            ReconciliationError::Unbalanced { .. } => "STATEMENT_UNBALANCED",
            ReconciliationError::StatementIdReused(_) => "STATEMENT_ID_REUSED",
            ReconciliationError::LineNotFound => "NOT_FOUND",
            ReconciliationError::LineAlreadyMatched(_) => "LINE_ALREADY_MATCHED",
            ReconciliationError::LineDoesNotFit(_) => "LINE_DOES_NOT_FIT",
            ReconciliationError::ReasonRequired => "REASON_REQUIRED",
            ReconciliationError::LineNotMatched => "LINE_NOT_MATCHED",
            ReconciliationError::MatchIsFinal => "MATCH_IS_FINAL",
            ReconciliationError::ItemNotOpen(_) => "ITEM_NOT_OPEN",
        }
    }
}
