//! Why a posting call was refused by the write path itself (the rules a
//! transaction breaks are `DomainError`s). Codes are stable API.

use thiserror::Error;

/// Why the write path refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PostingError {
    /// No transaction has this id (or it is another merchant's).
    #[error("transaction not found")]
    TransactionNotFound,
    /// The idempotency key was used before with a different request.
    #[error("idempotency key was already used with a different request")]
    IdempotencyKeyReused,
    /// The request would have succeeded, but it was part of an all-or-nothing
    /// batch in which another request failed, so nothing of the batch was written.
    #[error("not written: another item of this all-or-nothing batch failed")]
    BatchRolledBack,
    /// Retries of a serialization failure or deadlock were exhausted; the request
    /// wrote nothing and may be retried with the same idempotency key.
    #[error("the ledger is busy; retry with the same idempotency key")]
    Contention,
}

impl PostingError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PostingError::TransactionNotFound => "NOT_FOUND",
            PostingError::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            PostingError::BatchRolledBack => "BATCH_ROLLED_BACK",
            PostingError::Contention => "TRY_AGAIN",
        }
    }
}
