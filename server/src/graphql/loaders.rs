//! DataLoaders for nested fields, so a page of transactions with their entries,
//! accounts and merchants costs one query per level, not one per row (the N+1
//! problem; async-graphql's `DataLoader` batches the keys every resolver asks
//! for in the same tick into one `load`).
//!
//! Each loader belongs to one request and reads through that request's read
//! transaction, so it sees the same snapshot as every other field and stays
//! under the caller's tenant (row-level security). Callers still check
//! visibility themselves (`sees`), exactly as with a direct read.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};

use super::context::RequestContext;
use crate::core::accounts::{self, Account};
use crate::core::merchants::{self, Merchant};
use crate::core::posting::{self, EntryRecord};
use crate::domain::{AccountId, MerchantId, TransactionId};

/// The loaders of one request.
pub struct Loaders {
    /// Accounts by id.
    pub accounts: DataLoader<AccountLoader>,
    /// A transaction's entries, in sequence order, by transaction id.
    pub entries: DataLoader<EntriesLoader>,
    /// Merchants by id (never the platform's pseudo-merchant).
    pub merchants: DataLoader<MerchantLoader>,
}

impl Loaders {
    /// Loaders reading through `request`'s read transaction.
    pub fn new(request: &Arc<RequestContext>) -> Self {
        Self {
            accounts: DataLoader::new(AccountLoader(request.clone()), tokio::spawn),
            entries: DataLoader::new(EntriesLoader(request.clone()), tokio::spawn),
            merchants: DataLoader::new(MerchantLoader(request.clone()), tokio::spawn),
        }
    }
}

/// Loads accounts by id.
pub struct AccountLoader(Arc<RequestContext>);

/// The key: the account, with the partition to look in first (the entry's
/// merchant, which is the account's own except on a deal's buyer side).
impl Loader<(MerchantId, AccountId)> for AccountLoader {
    type Value = Account;
    type Error = Arc<crate::core::LedgerError>;

    async fn load(
        &self,
        keys: &[(MerchantId, AccountId)],
    ) -> Result<HashMap<(MerchantId, AccountId), Account>, Self::Error> {
        let reads = self.0.reads().await.map_err(Arc::new)?;
        let hinted: Vec<(MerchantId, uuid::Uuid)> = keys.iter().map(|(m, a)| (*m, a.0)).collect();
        let found: HashMap<AccountId, Account> = accounts::find_many_hinted(&reads, &hinted)
            .await
            .map_err(Arc::new)?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
        Ok(keys.iter().filter_map(|k| found.get(&k.1).map(|a| (*k, a.clone()))).collect())
    }
}

/// Loads the entries of transactions, by transaction id.
pub struct EntriesLoader(Arc<RequestContext>);

/// The key: the transaction with its merchant, the partition its entries are in.
impl Loader<(MerchantId, TransactionId)> for EntriesLoader {
    type Value = Vec<EntryRecord>;
    type Error = Arc<crate::core::LedgerError>;

    async fn load(
        &self,
        keys: &[(MerchantId, TransactionId)],
    ) -> Result<HashMap<(MerchantId, TransactionId), Vec<EntryRecord>>, Self::Error> {
        let reads = self.0.reads().await.map_err(Arc::new)?;
        let mut out: HashMap<(MerchantId, TransactionId), Vec<EntryRecord>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for e in posting::entries_of_many(&reads, keys).await.map_err(Arc::new)? {
            out.entry((e.merchant, e.transaction_id)).or_default().push(e);
        }
        Ok(out)
    }
}

/// Loads merchants by id.
pub struct MerchantLoader(Arc<RequestContext>);

impl Loader<MerchantId> for MerchantLoader {
    type Value = Merchant;
    type Error = Arc<crate::core::LedgerError>;

    async fn load(&self, keys: &[MerchantId]) -> Result<HashMap<MerchantId, Merchant>, Self::Error> {
        let reads = self.0.reads().await.map_err(Arc::new)?;
        let ids: Vec<uuid::Uuid> = keys.iter().map(|k| k.0).collect();
        Ok(merchants::find_many(&reads, &ids).await.map_err(Arc::new)?.into_iter().map(|m| (m.id, m)).collect())
    }
}

/// The request's loaders. Errors: an internal error when the schema runs
/// without them (never over HTTP).
pub(crate) fn loaders<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>()
}

/// Converts a loader's error into a coded GraphQL error (logged, opaque).
pub(crate) fn load_error(e: Arc<crate::core::LedgerError>) -> async_graphql::Error {
    tracing::error!(error = %e, "internal error in a loader");
    super::error::coded("INTERNAL_SERVER_ERROR", "internal server error")
}
