//! Why an account call (or an entry's account) was refused. Codes are stable
//! API (GraphQL `extensions.code`).

use thiserror::Error;

/// Why an account call, or an entry naming an account, was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AccountError {
    /// No account has this id, or the code is not a standard account and was never opened.
    #[error("account not found")]
    NotFound,
    /// An entry names an account that belongs to another merchant.
    #[error("account belongs to another merchant")]
    OfAnotherMerchant,
    /// The account already exists for this owner, code and asset.
    #[error("account already exists")]
    AlreadyExists,
    /// A merchant key asked for a debit-normal account of its merchant. Such an
    /// account could be debited to credit the merchant's `available` with money
    /// that never arrived, so only staff (or a service key) open one.
    #[error(
        "a merchant key may open only credit-normal accounts: a debit-normal account would let it raise its own \
         balance with money that never arrived; ask an admin"
    )]
    DebitAccountNotAllowed,
    /// The asset code is already an ISO 4217 currency or registered.
    #[error("asset already exists")]
    AssetAlreadyExists,
    /// A merchant's own account may not use a code of the platform's chart
    /// (`processor_clearing`, `fee_revenue`, `bank`, `disputes`,
    /// `payouts_in_transit`, `goods_clearing`): the platform's subsidiary
    /// account for the merchant holds that code in the merchant's books.
    #[error("this code belongs to the platform's chart of accounts; choose another code")]
    CodeReserved,
    /// A statement's end is before its start.
    #[error("a statement's `to` must not be before its `from`")]
    StatementRangeInvalid,
    /// A statement period holds more than
    /// [`super::history::MAX_STATEMENT_ENTRIES`] entries.
    #[error("the period holds more entries than one statement lists (10,000); ask for shorter periods")]
    StatementTooLong,
}

impl AccountError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AccountError::NotFound => "ACCOUNT_NOT_FOUND",
            AccountError::OfAnotherMerchant => "ACCOUNT_OF_ANOTHER_MERCHANT",
            AccountError::AlreadyExists => "ACCOUNT_ALREADY_EXISTS",
            AccountError::DebitAccountNotAllowed => "DEBIT_ACCOUNT_NOT_ALLOWED",
            AccountError::AssetAlreadyExists => "ASSET_ALREADY_EXISTS",
            AccountError::CodeReserved => "ACCOUNT_CODE_RESERVED",
            AccountError::StatementRangeInvalid => "STATEMENT_RANGE_INVALID",
            AccountError::StatementTooLong => "STATEMENT_TOO_LONG",
        }
    }
}
