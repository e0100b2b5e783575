//! The write path's closed error enum.
//!
//! Error policy (as in crates.io): every variant but `Database`, `Internal` and `Posting(Contention)`
//! is the caller's doing and is shown to them with its stable code. A `Database`
//! error is logged with its cause by the GraphQL layer and shown only as an
//! opaque `INTERNAL_SERVER_ERROR`.

use sea_orm::DbErr;
use thiserror::Error;

use crate::core::access::AccessError;
use crate::core::accounts::AccountError;
use crate::core::merchants::MerchantError;
use crate::core::posting::PostingError;
use crate::domain::DomainError;

/// Why a ledger operation was refused. Nothing is written when one is returned.
/// Each aggregate's own refusals are its error enum, folded in here.
#[derive(Debug, Error)]
pub enum LedgerError {
    /// A domain rule was broken (bad amount, unbalanced, insufficient funds, a
    /// payment or payout step refused, …).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A merchant call was refused.
    #[error(transparent)]
    Merchant(#[from] MerchantError),
    /// An account call, or an entry's account, was refused.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The write path refused the request (idempotency, batch, contention, an
    /// unknown transaction).
    #[error(transparent)]
    Posting(#[from] PostingError),
    /// An access call was refused.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A transaction search was refused before it ran (no index serves it, or
    /// a limit was passed).
    #[error(transparent)]
    Search(#[from] crate::core::posting::search::SearchError),
    /// A bank account or statement call was refused.
    #[error(transparent)]
    Reconciliation(#[from] crate::core::reconciliation::ReconciliationError),
    /// An unexpected database failure.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// A broken invariant: a bug, never the caller's doing (a row just written
    /// is missing, a stored idempotency result of another kind, a balance that
    /// does not add up). Logged with its text, shown as `INTERNAL_SERVER_ERROR`.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::core::payments::PaymentError> for LedgerError {
    fn from(e: crate::core::payments::PaymentError) -> Self {
        LedgerError::Domain(DomainError::Payment(e))
    }
}

impl From<crate::core::payouts::PayoutError> for LedgerError {
    fn from(e: crate::core::payouts::PayoutError) -> Self {
        LedgerError::Domain(DomainError::Payout(e))
    }
}

impl LedgerError {
    /// A broken invariant, described for the log.
    pub fn internal(what: impl Into<String>) -> LedgerError {
        LedgerError::Internal(what.into())
    }

    /// A stored idempotency result of another kind than the call expects: only
    /// possible if two operations shared a fingerprint, which SHA-256 over the
    /// operation name rules out.
    pub fn mismatch(expected: &str, got: &impl std::fmt::Debug) -> LedgerError {
        LedgerError::Internal(format!("expected a {expected} outcome, got {got:?}"))
    }

    /// The stable code sent to clients as GraphQL `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::Domain(e) => e.code(),
            LedgerError::Merchant(e) => e.code(),
            LedgerError::Account(e) => e.code(),
            LedgerError::Posting(e) => e.code(),
            LedgerError::Access(e) => e.code(),
            LedgerError::Search(e) => e.code(),
            LedgerError::Reconciliation(e) => e.code(),
            LedgerError::Database(_) | LedgerError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}
