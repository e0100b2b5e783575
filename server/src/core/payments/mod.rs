//! Payments: the card payment life cycle (authorize, capture, void, expire,
//! refund, chargeback), fee schedules, and the expiry sweeper.
//!
//! - [`lifecycle`]: the pure state machine, one function per step from the
//!   old amounts to the new ones;
//! - [`payment`]: the postings each step implies, as transaction drafts;
//! - [`fee`]: fee schedules;
//! - [`Payments`]: the typed calls, through the write path.

pub(in crate::core) mod apply;
pub mod error;
pub mod fee;
pub mod lifecycle;
pub mod payment;
pub(in crate::core) mod store;
pub mod sweeper;
pub mod transition;

pub use store::Payment;
pub use transition::RefundPlan;

pub use error::PaymentError;

use chrono::{DateTime, Utc};

use super::posting::TransactionRecord;
use super::posting::{Call, Command, Ledger, Outcome};
use super::{LedgerError, Reads};
use crate::domain::{Amount, AssetCode, MerchantId};
use lifecycle::PaymentState;
use payment::Annotations;

/// A payment step's result: the payment after it, the transaction it posted,
/// and whether this answer replays an earlier request with the same key.
#[derive(Debug, Clone)]
pub struct PaymentStep {
    /// The payment after the step.
    pub payment: Payment,
    /// The transaction the step posted.
    pub transaction: TransactionRecord,
    /// True on a replay.
    pub replayed: bool,
    /// On a dry run, what it saw before rolling back; `None` for a real write.
    pub dry_run: Option<crate::core::posting::DryRun>,
}

/// The payment calls of the write path. Each takes a [`Call`] (who asks, under
/// which idempotency key) and returns the step or the reason it was refused;
/// nothing is written when it is refused.
#[derive(Debug, Clone, Copy)]
pub struct Payments<'a>(pub(in crate::core) &'a Ledger);

impl Payments<'_> {
    /// Holds `amount` (minor units of `asset`) pending for `merchant` until
    /// `expires_at` (the ledger's default TTL when `None`). Errors: as
    /// [`Ledger::submit_one`], `ASSET_MISMATCH`, `NOT_FOUND`.
    pub async fn authorize(
        &self,
        call: Call,
        merchant: MerchantId,
        asset: AssetCode,
        amount: Amount,
        expires_at: Option<DateTime<Utc>>,
        notes: Annotations,
    ) -> Result<PaymentStep, LedgerError> {
        self.step(call, Command::Authorize { merchant, asset, amount, expires_at, notes }).await
    }

    /// Captures `amount` (all that is still held when `None`). Errors:
    /// `CAPTURE_EXCEEDS_AUTHORIZED`, `PAYMENT_NOT_CAPTURABLE`, `ASSET_MISMATCH`, `NOT_FOUND`.
    pub async fn capture(
        &self,
        call: Call,
        payment: uuid::Uuid,
        amount: Option<(AssetCode, Amount)>,
    ) -> Result<PaymentStep, LedgerError> {
        self.step(call, Command::Capture { payment, amount }).await
    }

    /// Releases what the authorization still holds. Errors:
    /// `PAYMENT_NOT_VOIDABLE`, `NOT_FOUND`.
    pub async fn void(&self, call: Call, payment: uuid::Uuid) -> Result<PaymentStep, LedgerError> {
        self.step(call, Command::Void { payment }).await
    }

    /// Refunds `amount` (all that is refundable when `None`). Errors:
    /// `REFUND_EXCEEDS_CAPTURED`, `PAYMENT_NOT_REFUNDABLE`, `ASSET_MISMATCH`, `NOT_FOUND`.
    pub async fn refund(
        &self,
        call: Call,
        payment: uuid::Uuid,
        amount: Option<(AssetCode, Amount)>,
    ) -> Result<PaymentStep, LedgerError> {
        self.step(call, Command::Refund { payment, amount }).await
    }

    /// Opens a chargeback on `amount` (all that is disputable when `None`).
    /// Errors: `DISPUTE_EXCEEDS_CAPTURED`, `DISPUTE_ALREADY_OPEN`, `ASSET_MISMATCH`, `NOT_FOUND`.
    pub async fn open_dispute(
        &self,
        call: Call,
        payment: uuid::Uuid,
        amount: Option<(AssetCode, Amount)>,
    ) -> Result<PaymentStep, LedgerError> {
        self.step(call, Command::OpenDispute { payment, amount }).await
    }

    /// Resolves the open chargeback: `won` by the merchant, or lost with an
    /// optional `fee` charged to it. Errors: `NO_OPEN_DISPUTE`, `ASSET_MISMATCH`, `NOT_FOUND`.
    pub async fn resolve_dispute(
        &self,
        call: Call,
        payment: uuid::Uuid,
        won: bool,
        fee: Option<(AssetCode, Amount)>,
    ) -> Result<PaymentStep, LedgerError> {
        self.step(call, Command::ResolveDispute { payment, won, fee }).await
    }

    /// Sets `merchant`'s fee schedule for `asset` (applies to later captures).
    /// Errors: `NOT_FOUND`, `IDEMPOTENCY_KEY_REUSED`. Returns true on a replay.
    pub async fn set_fee_schedule(
        &self,
        call: Call,
        merchant: MerchantId,
        asset: AssetCode,
        schedule: fee::FeeSchedule,
    ) -> Result<bool, LedgerError> {
        let applied = self.0.submit_call(call, Command::SetFeeSchedule { merchant, asset, schedule }).await?;
        match applied.outcome {
            Outcome::FeeSchedule { .. } => Ok(applied.replayed),
            other => Err(LedgerError::mismatch("feeSchedule", &other)),
        }
    }

    async fn step(&self, call: Call, command: Command) -> Result<PaymentStep, LedgerError> {
        let named = call.partition();
        let (applied, (payment, transaction), dry_run) = self
            .0
            .write_and_read(call, command, "a payment step", async |r, applied| {
                let Outcome::Payment { payment, transaction } = applied.outcome else {
                    return Err(LedgerError::mismatch("payment", &applied.outcome));
                };
                // The partition: the merchant of the transaction just written, or
                // the one the call named (a merchant key's own); else every one.
                let partition = applied.written.as_ref().map(|t| t.merchant).or(named);
                let Some(payment) = store::find(r.db(), payment, partition).await? else { return Ok(None) };
                let transaction = super::posting::store::find(r.db(), transaction, Some(payment.merchant)).await?;
                Ok(transaction.map(|t| (payment, t)))
            })
            .await?;
        Ok(PaymentStep { payment, transaction, replayed: applied.replayed, dry_run })
    }
}

/// Finds a payment the caller may see. `merchant` names the merchant whose books hold it, when the caller
/// knows it; a merchant key's lookups use its own. On Citus a named lookup
/// reads one shard, an unnamed one every shard. Errors: [`LedgerError::Database`].
pub async fn find(
    reads: &Reads,
    id: uuid::Uuid,
    merchant: Option<crate::domain::MerchantId>,
) -> Result<Option<Payment>, LedgerError> {
    Ok(store::find(reads.db(), id, reads.partition(merchant)).await?)
}

/// `merchant`'s payments, newest first, optionally only those in `state`,
/// older than the payment `before`, at most `limit`. Errors: [`LedgerError::Database`].
pub async fn page(
    reads: &Reads,
    merchant: MerchantId,
    state: Option<PaymentState>,
    before: Option<uuid::Uuid>,
    limit: u64,
) -> Result<Vec<Payment>, LedgerError> {
    Ok(store::page(reads.db(), merchant, state, before, limit).await?)
}

/// What `refundPayment` would post for `payment` and `amount` (all that is
/// left when `None`), without posting: the amount, the fee share given back
/// and the draft, from the same [`transition::refund`] the refund runs.
/// Errors: `NOT_FOUND` (also another merchant's), `REFUND_EXCEEDS_CAPTURED`,
/// `PAYMENT_NOT_CAPTURED`, `ASSET_MISMATCH`.
pub async fn preview_refund(
    reads: &Reads,
    payment: uuid::Uuid,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<RefundPlan, LedgerError> {
    apply::preview_refund(reads.db(), reads.tenant(), payment, amount).await
}
