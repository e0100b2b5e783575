//! Reads of transactions and entries, for the transport: each through the
//! caller's [`Reads`] (tenant set).

use super::store::{self, Link};
use super::{EntryRecord, TransactionRecord};
use crate::core::{LedgerError, Reads};
use crate::domain::{AccountId, MerchantId, TransactionId};

/// Finds a transaction the caller may see. `merchant` names a merchant party to it, when the caller
/// knows it; a merchant key's lookups use its own. On Citus a named lookup
/// reads one shard, an unnamed one every shard. Errors: [`LedgerError::Database`].
pub async fn find(
    reads: &Reads,
    id: TransactionId,
    merchant: Option<MerchantId>,
) -> Result<Option<TransactionRecord>, LedgerError> {
    Ok(store::find(reads.db(), id, reads.partition(merchant)).await?)
}

/// The reversal of `merchant`'s transaction `id`, if it was reversed.
/// Errors: [`LedgerError::Database`].
pub async fn reversal_of(
    reads: &Reads,
    merchant: MerchantId,
    id: TransactionId,
) -> Result<Option<TransactionRecord>, LedgerError> {
    Ok(store::reversal_of(reads.db(), merchant, id).await?)
}

/// The entries of several transactions, in entry sequence order. Errors:
/// [`LedgerError::Database`].
pub async fn entries_of_many(
    reads: &Reads,
    keys: &[(crate::domain::MerchantId, TransactionId)],
) -> Result<Vec<EntryRecord>, LedgerError> {
    Ok(store::entries_of_many(reads.db(), keys).await?)
}

/// `account`'s entries in sequence order after sequence `after`, at most
/// `limit`. Errors: [`LedgerError::Database`].
pub async fn entries_page(
    reads: &Reads,
    account: AccountId,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<EntryRecord>, LedgerError> {
    Ok(store::entries_page(reads.db(), account, after, limit).await?)
}

/// `merchant`'s transactions, newest first, before sequence `before`, at most
/// `limit`. Errors: [`LedgerError::Database`].
pub async fn page_for_merchant(
    reads: &Reads,
    merchant: MerchantId,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<TransactionRecord>, LedgerError> {
    Ok(store::page_for_merchant(reads.db(), merchant, before, limit).await?)
}

/// The transactions of `merchant`'s payment, oldest first. Errors: [`LedgerError::Database`].
pub async fn of_payment(
    reads: &Reads,
    merchant: MerchantId,
    payment: uuid::Uuid,
) -> Result<Vec<TransactionRecord>, LedgerError> {
    Ok(store::linked(reads.db(), merchant, Link::Payment(payment)).await?)
}

/// The transactions of `merchant`'s payout, oldest first. Errors: [`LedgerError::Database`].
pub async fn of_payout(
    reads: &Reads,
    merchant: MerchantId,
    payout: uuid::Uuid,
) -> Result<Vec<TransactionRecord>, LedgerError> {
    Ok(store::linked(reads.db(), merchant, Link::Payout(payout)).await?)
}

/// One entry a transaction would post, with its account when the plan names
/// one by id (the account the caller may see).
#[derive(Debug, Clone)]
pub struct PlannedEntry {
    /// The entry: account, asset, direction, amount (minor units), layer.
    pub entry: crate::domain::EntryDraft,
    /// The account, when the entry names it by id.
    pub account: Option<crate::core::accounts::Account>,
}

/// What `reverseTransaction` would post for transaction `id`, computed by the
/// same code as the reversal, writing nothing: the entries in order. Errors:
/// `NOT_FOUND`, `ALREADY_REVERSED`, `PAYMENT_STEP_NOT_REVERSIBLE`.
pub async fn preview_reversal(reads: &Reads, id: TransactionId) -> Result<Vec<PlannedEntry>, LedgerError> {
    let draft = super::post::plan_reversal(reads.db(), reads.tenant(), id).await?;
    let ids: Vec<uuid::Uuid> = draft
        .entries
        .iter()
        .filter_map(|e| match e.account {
            crate::domain::AccountRef::Id(a) => Some(a.0),
            crate::domain::AccountRef::Code { .. } => None,
        })
        .collect();
    let found = crate::core::accounts::find_many(reads, &ids).await?;
    Ok(draft
        .entries
        .into_iter()
        .map(|entry| {
            let account = match entry.account {
                crate::domain::AccountRef::Id(a) => found.iter().find(|f| f.id == a).cloned(),
                crate::domain::AccountRef::Code { .. } => None,
            };
            PlannedEntry { entry, account }
        })
        .collect())
}
