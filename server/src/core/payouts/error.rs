//! Why a payout call was refused. Codes are stable API (GraphQL `extensions.code`).

use thiserror::Error;

/// Why a payout step was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PayoutError {
    /// Available less reserve is zero or negative.
    #[error("nothing to pay out: available less reserve is {payable} minor units")]
    NothingToPayOut {
        /// Available less reserve, minor units.
        payable: i64,
    },
    /// Settle or fail of a payout that already settled or failed.
    #[error("the payout is no longer in transit")]
    PayoutNotInTransit,
    /// No payout has this id (or it is another merchant's).
    #[error("payout not found")]
    NotFound,
    /// The merchant was already paid out for this asset and schedule period.
    #[error("a payout was already made for this period")]
    AlreadyMade,
}

impl PayoutError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PayoutError::NothingToPayOut { .. } => "NOTHING_TO_PAY_OUT",
            PayoutError::PayoutNotInTransit => "PAYOUT_NOT_IN_TRANSIT",
            PayoutError::NotFound => "NOT_FOUND",
            PayoutError::AlreadyMade => "PAYOUT_ALREADY_MADE",
        }
    }
}
