//! The closed set of rule violations the domain core can report.
//!
//! Each variant names what happened and maps to one stable machine-readable code
//! (`DomainError::code`), which the GraphQL layer sends as `extensions.code`.
//! Codes are part of the public API: never rename one.

use thiserror::Error;

/// A rule of the ledger was broken by the input. Nothing is written when one is
/// returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// A money amount was not a plain decimal number such as `12.34`.
    #[error("amount `{0}` is not a decimal number")]
    AmountMalformed(String),
    /// Amounts of entries, payments and payouts must be greater than zero.
    #[error("amount must be greater than zero")]
    AmountNotPositive,
    /// The amount has more decimal places than the asset's exponent allows; it is
    /// rejected rather than rounded, so no money is created or lost silently.
    #[error("amount has {given} decimal places but {asset} allows {allowed}")]
    AmountPrecisionExceeded {
        /// The asset code.
        asset: String,
        /// Decimal places the asset allows (its ISO 4217 exponent or registered one).
        allowed: u32,
        /// Decimal places the input had.
        given: u32,
    },
    /// The amount, or a balance it would produce, does not fit in a signed 64-bit
    /// count of minor units.
    #[error("amount overflows 64-bit minor units")]
    AmountOverflow,
    /// The asset code is neither an ISO 4217 currency nor a registered asset.
    #[error("unknown asset `{0}`")]
    UnknownAsset(String),
    /// An asset code must be 1 to 16 characters of `A-Z`, `0-9` or `_`, starting with a letter.
    #[error("asset code `{0}` is not 1 to 16 upper-case letters, digits or underscores")]
    AssetCodeInvalid(String),
    /// A custom asset's exponent is outside 0..=18.
    #[error("asset exponent {0} is outside 0..=18")]
    AssetExponentInvalid(i64),
    /// The entries of a transaction do not sum to zero in some asset.
    #[error("transaction does not balance in {asset}: debits {debits} != credits {credits} (minor units)")]
    TransactionUnbalanced {
        /// The asset that does not balance.
        asset: String,
        /// Sum of debit entries in minor units.
        debits: i128,
        /// Sum of credit entries in minor units.
        credits: i128,
    },
    /// A transaction needs at least two entries.
    #[error("a transaction needs at least {min} entries")]
    TooFewEntries {
        /// The minimum.
        min: usize,
    },
    /// A transaction has more entries than [`crate::domain::transaction::MAX_ENTRIES_PER_TRANSACTION`].
    #[error("a transaction may have at most {max} entries")]
    TooManyEntries {
        /// The maximum.
        max: usize,
    },
    /// An entry's asset differs from the asset of the account it posts to.
    #[error("entry in {entry} cannot post to an account held in {account}")]
    AssetMismatch {
        /// The entry's asset.
        entry: String,
        /// The account's asset.
        account: String,
    },
    /// An account code is not 1 to 64 characters of `a-z`, `0-9` or `_`.
    #[error("account code `{0}` is not 1 to 64 lower-case letters, digits or underscores")]
    AccountCodeInvalid(String),
    /// The code is not in the platform's chart of accounts.
    #[error("`{0}` is not a platform account code")]
    UnknownPlatformAccount(String),
    /// A merchant name must be 1 to 200 characters after trimming.
    #[error("merchant name must be 1 to 200 characters")]
    MerchantNameInvalid,
    /// An external id must be 1 to 200 characters, without surrounding spaces.
    #[error("external id must be 1 to 200 characters without surrounding spaces")]
    ExternalIdInvalid,
    /// A merchant class must be 1 to 64 characters.
    #[error("merchant class must be 1 to 64 characters")]
    MerchantClassInvalid,
    /// An idempotency key must be 1 to 255 visible ASCII characters.
    #[error("idempotency key must be 1 to 255 visible ASCII characters")]
    IdempotencyKeyInvalid,
    /// Metadata must be a JSON object of at most [`crate::domain::transaction::MAX_METADATA_BYTES`].
    #[error("metadata must be a JSON object of at most {max_bytes} bytes, with no NUL character")]
    MetadataInvalid {
        /// The limit in bytes of serialized JSON.
        max_bytes: usize,
    },
    /// A fee schedule's percentage is outside 0..=10 000 basis points, or its fixed part is negative.
    #[error("fee schedule must have 0 to 10000 basis points and a fixed part of at least zero")]
    FeeScheduleInvalid,
    /// A fee larger than the gross amount would make the merchant's net negative.
    #[error("fee exceeds the gross amount")]
    FeeExceedsGross,
    /// Gross and fee of one payment must be in the same asset.
    #[error("fee must be in the same asset as the gross amount")]
    FeeAssetMismatch,
    /// The write would take a guarded payer's available balance (the payer of a
    /// payout, refund or deal) below its lower bound (0 unless an overdraft
    /// limit is set).
    #[error("insufficient funds: {0}")]
    InsufficientFunds(Box<crate::core::accounts::limit::LimitBreach>),
    /// The write would take an account's balance past a bound of its limit
    /// policy (see [`crate::core::accounts::limit`]).
    #[error("balance limit exceeded: {0}")]
    BalanceLimitExceeded(Box<crate::core::accounts::limit::LimitBreach>),
    /// A limit policy whose lower bound is above its upper bound.
    #[error("lower bound {lower} is above upper bound {upper} (minor units)")]
    LimitBoundsInvalid {
        /// The lower bound, minor units.
        lower: i64,
        /// The upper bound, minor units.
        upper: i64,
    },
    /// A reversal of a transaction that is itself a reversal or already reversed.
    #[error("transaction is already reversed")]
    AlreadyReversed,
    /// Steps of a payment (authorization, capture, void) are undone by the
    /// payment's own operations, not by a general reversal.
    #[error("a payment step cannot be reversed; void, refund or dispute the payment instead")]
    PaymentStepNotReversible,
    /// A pending release larger than what is held: the books would be wrong.
    #[error("release exceeds the pending total")]
    PendingUnderflow,
    /// A payment life-cycle rule.
    #[error(transparent)]
    Payment(#[from] crate::core::payments::lifecycle::PaymentError),
    /// A payout rule.
    #[error(transparent)]
    Payout(#[from] crate::core::payouts::payout::PayoutError),
    /// A deal needs two different merchants.
    #[error("a deal needs two different merchants")]
    DealWithItself,
    /// A reversal must carry a reason, 1 to 500 characters.
    #[error("a reason of 1 to 500 characters is required")]
    ReasonRequired,
}

impl DomainError {
    /// The breach behind a limit refusal (`INSUFFICIENT_FUNDS`,
    /// `BALANCE_LIMIT_EXCEEDED`), for its error extensions.
    pub fn limit_breach(&self) -> Option<&crate::core::accounts::limit::LimitBreach> {
        match self {
            DomainError::InsufficientFunds(b) | DomainError::BalanceLimitExceeded(b) => Some(b),
            _ => None,
        }
    }

    /// The stable code sent to clients as GraphQL `extensions.code`.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            AmountMalformed(_) => "AMOUNT_MALFORMED",
            AmountNotPositive => "AMOUNT_NOT_POSITIVE",
            AmountPrecisionExceeded { .. } => "AMOUNT_PRECISION_EXCEEDED",
            AmountOverflow => "AMOUNT_OVERFLOW",
            UnknownAsset(_) => "UNKNOWN_ASSET",
            AssetCodeInvalid(_) | AssetExponentInvalid(_) => "ASSET_INVALID",
            TransactionUnbalanced { .. } => "TRANSACTION_UNBALANCED",
            TooFewEntries { .. } | TooManyEntries { .. } => "ENTRY_COUNT_INVALID",
            AssetMismatch { .. } => "ASSET_MISMATCH",
            AccountCodeInvalid(_) => "ACCOUNT_CODE_INVALID",
            UnknownPlatformAccount(_) => "ACCOUNT_NOT_FOUND",
            MerchantNameInvalid | ExternalIdInvalid | MerchantClassInvalid | MetadataInvalid { .. } => "BAD_USER_INPUT",
            IdempotencyKeyInvalid => "IDEMPOTENCY_KEY_INVALID",
            FeeExceedsGross | FeeAssetMismatch | FeeScheduleInvalid => "FEE_INVALID",
            InsufficientFunds(_) => "INSUFFICIENT_FUNDS",
            BalanceLimitExceeded(_) => "BALANCE_LIMIT_EXCEEDED",
            LimitBoundsInvalid { .. } => "LIMIT_BOUNDS_INVALID",
            AlreadyReversed => "ALREADY_REVERSED",
            ReasonRequired => "REASON_REQUIRED",
            PaymentStepNotReversible => "PAYMENT_STEP_NOT_REVERSIBLE",
            DealWithItself => "BAD_USER_INPUT",
            PendingUnderflow => "INTERNAL_SERVER_ERROR",
            Payment(e) => e.code(),
            Payout(e) => e.code(),
        }
    }
}
