//! Payouts: money sent from the platform to a merchant's bank, out of its
//! available balance less its reserve; settings (reserve, schedule) per
//! merchant and asset, and the scheduled payout job.

pub(in crate::core) mod apply;
pub mod error;
pub mod job;
pub mod payout;
pub(in crate::core) mod store;

pub use store::Payout;

pub use error::PayoutError;

use super::posting::{Call, Command, Ledger, Outcome, TransactionRecord};
use super::{LedgerError, Reads};
use crate::domain::{AssetCode, MerchantId};

/// A payout step's result: the payout after it, the transaction it posted,
/// and whether this answer replays an earlier request with the same key.
#[derive(Debug, Clone)]
pub struct PayoutStep {
    /// The payout after the step.
    pub payout: Payout,
    /// The transaction the step posted.
    pub transaction: TransactionRecord,
    /// True on a replay.
    pub replayed: bool,
    /// On a dry run, what it saw before rolling back; `None` for a real write.
    pub dry_run: Option<crate::core::posting::DryRun>,
}

/// The payout calls of the write path; nothing is written when one is refused.
#[derive(Debug, Clone, Copy)]
pub struct Payouts<'a>(pub(in crate::core) &'a Ledger);

impl Payouts<'_> {
    /// Pays out `merchant`'s available balance in `asset` less its reserve.
    /// Errors: `NOT_FOUND`, `NOTHING_TO_PAY_OUT`, `IDEMPOTENCY_KEY_REUSED`.
    pub async fn create(&self, call: Call, merchant: MerchantId, asset: AssetCode) -> Result<PayoutStep, LedgerError> {
        self.step(call, Command::CreatePayout { merchant, asset, period: None }).await
    }

    /// Marks a payout in transit as arrived. Errors: `NOT_FOUND`, `PAYOUT_NOT_IN_TRANSIT`.
    pub async fn settle(&self, call: Call, payout: uuid::Uuid) -> Result<PayoutStep, LedgerError> {
        self.step(call, Command::SettlePayout { payout }).await
    }

    /// Marks a payout in transit as bounced: the money returns to available.
    /// Errors: `NOT_FOUND`, `PAYOUT_NOT_IN_TRANSIT`.
    pub async fn fail(&self, call: Call, payout: uuid::Uuid) -> Result<PayoutStep, LedgerError> {
        self.step(call, Command::FailPayout { payout }).await
    }

    /// Sets `merchant`'s reserve (minor units of `asset`, kept back from every
    /// payout) and schedule. Returns true on a replay. Errors: `NOT_FOUND`,
    /// `IDEMPOTENCY_KEY_REUSED`.
    pub async fn set_settings(
        &self,
        call: Call,
        merchant: MerchantId,
        asset: AssetCode,
        reserve_minor: i64,
        schedule: Option<payout::PayoutSchedule>,
    ) -> Result<bool, LedgerError> {
        let command = Command::SetPayoutSettings { merchant, asset, reserve_minor, schedule };
        let applied = self.0.submit_call(call, command).await?;
        match applied.outcome {
            Outcome::PayoutSettings { .. } => Ok(applied.replayed),
            other => Err(LedgerError::mismatch("payoutSettings", &other)),
        }
    }

    async fn step(&self, call: Call, command: Command) -> Result<PayoutStep, LedgerError> {
        let named = call.partition();
        let (applied, (payout, transaction), dry_run) = self
            .0
            .write_and_read(call, command, "a payout step", async |r, applied| {
                let Outcome::Payout { payout, transaction } = applied.outcome else {
                    return Err(LedgerError::mismatch("payout", &applied.outcome));
                };
                // The partition: the merchant of the transaction just written, or
                // the one the call named (a merchant key's own); else every one.
                let partition = applied.written.as_ref().map(|t| t.merchant).or(named);
                let Some(payout) = store::find(r.db(), payout, partition).await? else { return Ok(None) };
                let transaction = super::posting::store::find(r.db(), transaction, Some(payout.merchant)).await?;
                Ok(transaction.map(|t| (payout, t)))
            })
            .await?;
        Ok(PayoutStep { payout, transaction, replayed: applied.replayed, dry_run })
    }
}

/// Finds a payout the caller may see. `merchant` names the merchant whose books hold it, when the caller
/// knows it; a merchant key's lookups use its own. On Citus a named lookup
/// reads one shard, an unnamed one every shard. Errors: [`LedgerError::Database`].
pub async fn find(
    reads: &Reads,
    id: uuid::Uuid,
    merchant: Option<crate::domain::MerchantId>,
) -> Result<Option<Payout>, LedgerError> {
    Ok(store::find(reads.db(), id, reads.partition(merchant)).await?)
}

/// The payouts among `ids` that exist, by id, whichever merchant's (one
/// read per few thousand ids, for a matching run). Errors:
/// [`LedgerError::Database`].
pub async fn find_many(
    reads: &Reads,
    ids: &[uuid::Uuid],
) -> Result<std::collections::HashMap<uuid::Uuid, Payout>, LedgerError> {
    Ok(store::find_many(reads.db(), ids).await?.into_iter().map(|p| (p.id, p)).collect())
}

/// `merchant`'s payouts, newest first, older than the payout `before`, at most
/// `limit`. Errors: [`LedgerError::Database`].
pub async fn page(
    reads: &Reads,
    merchant: MerchantId,
    before: Option<uuid::Uuid>,
    limit: u64,
) -> Result<Vec<Payout>, LedgerError> {
    Ok(store::page(reads.db(), merchant, before, limit).await?)
}

/// The transactions a payout covers: `merchant`'s with sequence in
/// `from..=to`, oldest first, at most `limit`. Errors: [`LedgerError::Database`].
pub async fn covered(
    reads: &Reads,
    merchant: MerchantId,
    from: i64,
    to: i64,
    limit: u64,
) -> Result<Vec<TransactionRecord>, LedgerError> {
    Ok(store::covered(reads.db(), merchant, from, to, limit).await?)
}
