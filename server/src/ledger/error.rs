//! The write path's closed error enum.
//!
//! Error policy (as in crates.io): every variant but `Database` and `Contention`
//! is the caller's doing and is shown to them with its stable code. A `Database`
//! error is logged with its cause by the GraphQL layer and shown only as an
//! opaque `INTERNAL_SERVER_ERROR`.

use sea_orm::DbErr;
use thiserror::Error;

use crate::domain::DomainError;

/// Why a ledger operation was refused. Nothing is written when one is returned.
#[derive(Debug, Error)]
pub enum LedgerError {
    /// A domain rule was broken (bad amount, unbalanced, insufficient funds, …).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No merchant has this id.
    #[error("merchant not found")]
    MerchantNotFound,
    /// No account has this id, or the code is not a standard account and was never opened.
    #[error("account not found")]
    AccountNotFound,
    /// No transaction has this id.
    #[error("transaction not found")]
    TransactionNotFound,
    /// No payment has this id.
    #[error("payment not found")]
    PaymentNotFound,
    /// No payout has this id.
    #[error("payout not found")]
    PayoutNotFound,
    /// The merchant was already paid out for this asset and schedule period.
    #[error("a payout was already made for this period")]
    PayoutAlreadyMade,
    /// An entry names an account that belongs to another merchant.
    #[error("account belongs to another merchant")]
    AccountOfAnotherMerchant,
    /// The idempotency key was used before with a different request.
    #[error("idempotency key was already used with a different request")]
    IdempotencyKeyReused,
    /// Another merchant already has this external id.
    #[error("external id is already taken")]
    ExternalIdTaken,
    /// The asset code is already an ISO 4217 currency or registered.
    #[error("asset already exists")]
    AssetAlreadyExists,
    /// The account already exists for this owner, code and asset.
    #[error("account already exists")]
    AccountAlreadyExists,
    /// A merchant key asked for a debit-normal account of its merchant. Such an
    /// account could be debited to credit the merchant's `available` with money
    /// that never arrived, so only staff (or a service key) open one.
    #[error(
        "a merchant key may open only credit-normal accounts: a debit-normal account would let it raise its own \
         balance with money that never arrived; ask an admin"
    )]
    DebitAccountNotAllowed,
    /// No API key has this id.
    #[error("api key not found")]
    ApiKeyNotFound,
    /// A staff user with this username exists.
    #[error("a staff user with this username exists")]
    UsernameTaken,
    /// The request would have succeeded, but it was part of an all-or-nothing
    /// batch in which another request failed, so nothing of the batch was written.
    #[error("not written: another item of this all-or-nothing batch failed")]
    BatchRolledBack,
    /// Retries of a serialization failure or deadlock were exhausted; the request
    /// wrote nothing and may be retried with the same idempotency key.
    #[error("the ledger is busy; retry with the same idempotency key")]
    Contention,
    /// An unexpected database failure.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl LedgerError {
    /// The stable code sent to clients as GraphQL `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::Domain(e) => e.code(),
            LedgerError::MerchantNotFound
            | LedgerError::ApiKeyNotFound
            | LedgerError::TransactionNotFound
            | LedgerError::PaymentNotFound
            | LedgerError::PayoutNotFound => "NOT_FOUND",
            LedgerError::PayoutAlreadyMade => "PAYOUT_ALREADY_MADE",
            LedgerError::AccountNotFound => "ACCOUNT_NOT_FOUND",
            LedgerError::AccountOfAnotherMerchant => "ACCOUNT_OF_ANOTHER_MERCHANT",
            LedgerError::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            LedgerError::ExternalIdTaken => "EXTERNAL_ID_TAKEN",
            LedgerError::AssetAlreadyExists => "ASSET_ALREADY_EXISTS",
            LedgerError::AccountAlreadyExists => "ACCOUNT_ALREADY_EXISTS",
            LedgerError::DebitAccountNotAllowed => "DEBIT_ACCOUNT_NOT_ALLOWED",
            LedgerError::UsernameTaken => "USERNAME_TAKEN",
            LedgerError::BatchRolledBack => "BATCH_ROLLED_BACK",
            LedgerError::Contention => "TRY_AGAIN",
            LedgerError::Database(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}
