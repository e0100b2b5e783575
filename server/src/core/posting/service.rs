//! The typed calls of posting, merchants and accounts: each builds its
//! command, submits it through the write path and turns the stored outcome
//! into the result its caller expects. A stored outcome of another kind is a
//! bug ([`LedgerError::Internal`]), never the caller's doing.

use super::{Call, Command, Ledger, Outcome, TransactionRecord};
use crate::core::accounts::{self, Account, LimitTarget, limit::LimitPolicy};
use crate::core::merchants::{self, Merchant};
use crate::core::{LedgerError, Reads};
use crate::domain::{
    AccountCode, Asset, AssetCode, MerchantClass, MerchantExternalId, MerchantName, NormalBalance, Owner,
    TransactionDraft, TransactionId,
};

/// A posted transaction, and whether this answer replays an earlier request
/// with the same key.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The transaction (on a replay, the one posted the first time).
    pub transaction: TransactionRecord,
    /// True on a replay.
    pub replayed: bool,
    /// On a dry run, what it saw before rolling back; `None` for a real write.
    pub dry_run: Option<super::DryRun>,
}

/// The transaction a batch item posted, or why it was refused.
#[derive(Debug)]
pub struct BatchItem {
    /// The transaction posted (on a replay, the first time); `None` when refused.
    pub transaction: Option<TransactionId>,
    /// True on a replay.
    pub replayed: bool,
}

/// Posting calls: transactions, reversals, batches.
#[derive(Debug, Clone, Copy)]
pub struct Posting<'a>(pub(in crate::core) &'a Ledger);

impl Posting<'_> {
    /// Posts a validated `draft`. Errors: the amount and balance errors
    /// (`INSUFFICIENT_FUNDS`, `BALANCE_LIMIT_EXCEEDED`, …), `ACCOUNT_NOT_FOUND`,
    /// `ACCOUNT_OF_ANOTHER_MERCHANT`, `NOT_FOUND`, `IDEMPOTENCY_KEY_REUSED`,
    /// `TRY_AGAIN`.
    pub async fn post(&self, call: Call, draft: TransactionDraft) -> Result<Posted, LedgerError> {
        self.posted(call, Command::Post(draft)).await
    }

    /// Reverses transaction `id`, giving `reason`; `force` (an admin's) skips
    /// the balance limit check. Errors: `NOT_FOUND`, `ALREADY_REVERSED`,
    /// `REASON_REQUIRED`, `PAYMENT_STEP_NOT_REVERSIBLE`, `BALANCE_LIMIT_EXCEEDED`.
    pub async fn reverse(
        &self,
        call: Call,
        id: TransactionId,
        reason: String,
        force: bool,
    ) -> Result<Posted, LedgerError> {
        self.posted(call, Command::Reverse { transaction: id, reason, force }).await
    }

    /// Posts up to [`crate::core::posting::batch`]'s limit of drafts in one
    /// database transaction, one result per item in order: each posted or
    /// refused alone, or (`atomic`) all or nothing, the others of a refused
    /// batch answering `BATCH_ROLLED_BACK`.
    ///
    /// With `dry`, the batch runs the same way in a database transaction that
    /// is then rolled back (see `DryRun`): the results say what would be
    /// posted or refused, their ids exist nowhere, nothing is written and no
    /// key is claimed.
    pub async fn post_batch(
        &self,
        items: Vec<(Call, TransactionDraft)>,
        atomic: bool,
        dry: bool,
    ) -> Vec<Result<BatchItem, LedgerError>> {
        let requests: Vec<_> = items.into_iter().map(|(call, draft)| call.request(Command::Post(draft))).collect();
        let results = if dry {
            match self.0.writer.dry_run_batch(&requests, atomic).await {
                Ok(results) => results,
                // The whole batch failed: each item says why (the error is a
                // database's, a broken invariant, or TRY_AGAIN).
                Err(e) => requests
                    .iter()
                    .map(|_| {
                        Err(match &e {
                            LedgerError::Database(d) => LedgerError::Database(d.clone()),
                            LedgerError::Internal(what) => LedgerError::Internal(what.clone()),
                            _ => LedgerError::Posting(super::PostingError::Contention),
                        })
                    })
                    .collect(),
            }
        } else if atomic {
            self.0.submit_atomic(requests).await
        } else {
            self.0.submit(requests).await
        };
        results
            .into_iter()
            .map(|r| r.map(|a| BatchItem { transaction: a.outcome.transaction(), replayed: a.replayed }))
            .collect()
    }

    async fn posted(&self, call: Call, command: Command) -> Result<Posted, LedgerError> {
        let named = call.partition();
        let (applied, transaction, dry_run) = self
            .0
            .write_and_read(call, command, "a transaction", async |r, applied| {
                let Outcome::Transaction(id) = applied.outcome else {
                    return Err(LedgerError::mismatch("transaction", &applied.outcome));
                };
                // A fresh posting comes back as written; only a replay reads it.
                match &applied.written {
                    Some(record) if record.id == id => Ok(Some((**record).clone())),
                    _ => Ok(super::store::find(r.db(), id, named).await?),
                }
            })
            .await?;
        Ok(Posted { transaction, replayed: applied.replayed, dry_run })
    }
}

/// Merchant calls.
#[derive(Debug, Clone, Copy)]
pub struct Merchants<'a>(pub(in crate::core) &'a Ledger);

impl Merchants<'_> {
    /// Creates a merchant. Returns it and true on a replay. Errors:
    /// `EXTERNAL_ID_TAKEN`, `IDEMPOTENCY_KEY_REUSED`.
    pub async fn create(
        &self,
        call: Call,
        name: MerchantName,
        external_id: Option<MerchantExternalId>,
        class: MerchantClass,
    ) -> Result<(Merchant, bool), LedgerError> {
        let tenant = call.tenant();
        let applied = self.0.submit_call(call, Command::CreateMerchant { name, external_id, class }).await?;
        let Outcome::Merchant(id) = applied.outcome else {
            return Err(LedgerError::mismatch("merchant", &applied.outcome));
        };
        let merchant = Reads::back(self.0.db(), tenant, "a merchant", async |r| merchants::find(r, id).await).await?;
        Ok((merchant, applied.replayed))
    }
}

/// The result of setting a balance limit.
#[derive(Debug, Clone)]
pub struct LimitSet {
    /// The account, for an account's own policy; `None` for a default.
    pub account: Option<Account>,
    /// The account code the policy governs.
    pub code: AccountCode,
    /// The asset.
    pub asset: AssetCode,
    /// The policy as stored.
    pub policy: LimitPolicy,
    /// The ledger sequence it took effect after.
    pub since_seq: i64,
    /// True on a replay.
    pub replayed: bool,
}

/// Account calls: open accounts, register assets, set balance limits.
#[derive(Debug, Clone, Copy)]
pub struct Accounts<'a>(pub(in crate::core) &'a Ledger);

impl Accounts<'_> {
    /// Opens an account of `owner` with `code` in `asset` (`normal` is ignored
    /// for standard codes). Returns it and true on a replay. Errors:
    /// `UNKNOWN_ASSET`, `NOT_FOUND`, `ACCOUNT_ALREADY_EXISTS`,
    /// `DEBIT_ACCOUNT_NOT_ALLOWED`, `IDEMPOTENCY_KEY_REUSED`.
    pub async fn open(
        &self,
        call: Call,
        owner: Owner,
        code: AccountCode,
        asset: AssetCode,
        normal_balance: NormalBalance,
    ) -> Result<(Account, bool), LedgerError> {
        let tenant = call.tenant();
        let applied = self.0.submit_call(call, Command::OpenAccount { owner, code, asset, normal_balance }).await?;
        let Outcome::Account(id) = applied.outcome else {
            return Err(LedgerError::mismatch("account", &applied.outcome));
        };
        let account =
            Reads::back(self.0.db(), tenant, "an account", async |r| accounts::find(r, id, None).await).await?;
        Ok((account, applied.replayed))
    }

    /// Registers a custom asset. Returns true on a replay. Errors:
    /// `ASSET_ALREADY_EXISTS`, `IDEMPOTENCY_KEY_REUSED`.
    pub async fn register_asset(&self, call: Call, asset: Asset) -> Result<bool, LedgerError> {
        let applied = self.0.submit_call(call, Command::RegisterAsset(asset)).await?;
        match applied.outcome {
            Outcome::Asset(_) => Ok(applied.replayed),
            other => Err(LedgerError::mismatch("asset", &other)),
        }
    }

    /// Sets the balance limit `policy` of `target`. Errors: `ACCOUNT_NOT_FOUND`,
    /// `LIMIT_BOUNDS_INVALID`, `IDEMPOTENCY_KEY_REUSED`.
    pub async fn set_limit(
        &self,
        call: Call,
        target: LimitTarget,
        policy: LimitPolicy,
    ) -> Result<LimitSet, LedgerError> {
        let tenant = call.tenant();
        let applied = self.0.submit_call(call, Command::SetBalanceLimit { target, policy }).await?;
        let Outcome::BalanceLimit { account, code, asset, lower_minor, upper_minor, since_seq } = applied.outcome
        else {
            return Err(LedgerError::mismatch("balanceLimit", &applied.outcome));
        };
        let account = match account {
            None => None,
            Some(id) => {
                Some(Reads::back(self.0.db(), tenant, "an account", async |r| accounts::find(r, id, None).await).await?)
            }
        };
        Ok(LimitSet {
            account,
            code,
            asset,
            policy: LimitPolicy { lower_minor, upper_minor },
            since_seq,
            replayed: applied.replayed,
        })
    }
}
