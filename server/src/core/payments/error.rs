//! Why a payment call was refused: the life cycle's refusals and an unknown
//! payment. Codes are stable API (GraphQL `extensions.code`).

use thiserror::Error;

/// Why a life-cycle step was refused. Codes are stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PaymentError {
    /// The capture would take the captured total past the authorized amount.
    #[error("capture exceeds the amount still authorized ({remaining} minor units)")]
    CaptureExceedsAuthorization {
        /// Minor units still capturable.
        remaining: i64,
    },
    /// The authorization expired before this capture.
    #[error("the authorization has expired")]
    AuthorizationExpired,
    /// The authorization was voided; nothing is left to capture.
    #[error("the authorization was voided")]
    AuthorizationVoided,
    /// A void of an authorization already voided or expired.
    #[error("the authorization is already voided")]
    AlreadyVoided,
    /// A void of an authorization that is fully captured.
    #[error("nothing is left pending to void")]
    NothingToVoid,
    /// The refund would take the refunded total past what was captured (less
    /// what is held by a dispute).
    #[error("refund exceeds the refundable amount ({refundable} minor units)")]
    RefundExceedsCaptured {
        /// Minor units still refundable.
        refundable: i64,
    },
    /// A dispute needs captured money.
    #[error("the payment has no captured money to dispute")]
    PaymentNotCaptured,
    /// The disputed amount exceeds what is captured and not refunded.
    #[error("dispute exceeds the disputable amount ({disputable} minor units)")]
    DisputeExceedsCaptured {
        /// Minor units still disputable.
        disputable: i64,
    },
    /// Only one dispute may be open at a time.
    #[error("a dispute is already open")]
    DisputeAlreadyOpen,
    /// Resolving needs an open dispute.
    #[error("the payment has no open dispute")]
    NoOpenDispute,
    /// `expire` before the expiry time.
    #[error("the authorization has not expired yet")]
    NotYetExpired,
    /// This step cannot be reversed in the payment's current state (for example
    /// an authorization with captures, or a capture already refunded).
    #[error("this payment step cannot be reversed in the payment's current state")]
    StepNotReversible,
    /// No payment has this id (or it is another merchant's).
    #[error("payment not found")]
    NotFound,
}

impl PaymentError {
    /// The stable code sent as GraphQL `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            PaymentError::CaptureExceedsAuthorization { .. } => "CAPTURE_EXCEEDS_AUTHORIZATION",
            PaymentError::AuthorizationExpired => "AUTHORIZATION_EXPIRED",
            PaymentError::AuthorizationVoided => "AUTHORIZATION_VOIDED",
            PaymentError::AlreadyVoided => "ALREADY_VOIDED",
            PaymentError::NothingToVoid => "NOTHING_TO_VOID",
            PaymentError::RefundExceedsCaptured { .. } => "REFUND_EXCEEDS_CAPTURED",
            PaymentError::PaymentNotCaptured => "PAYMENT_NOT_CAPTURED",
            PaymentError::DisputeExceedsCaptured { .. } => "DISPUTE_EXCEEDS_CAPTURED",
            PaymentError::DisputeAlreadyOpen => "DISPUTE_ALREADY_OPEN",
            PaymentError::NoOpenDispute => "NO_OPEN_DISPUTE",
            PaymentError::NotYetExpired => "NOT_YET_EXPIRED",
            PaymentError::StepNotReversible => "PAYMENT_STEP_NOT_REVERSIBLE",
            PaymentError::NotFound => "NOT_FOUND",
        }
    }
}
