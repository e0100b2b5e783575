//! Merchants: the sellers on whose behalf the platform collects money. Created
//! through the write path (`createMerchant`); read here.

pub mod error;
pub(in crate::core) mod store;

pub use store::Merchant;

pub use error::MerchantError;

use super::{LedgerError, Reads};
use crate::domain::MerchantId;

/// Finds a merchant the caller may see. Errors: [`LedgerError::Database`].
pub async fn find(reads: &Reads, id: MerchantId) -> Result<Option<Merchant>, LedgerError> {
    Ok(store::find(reads.db(), id).await?)
}

/// Finds merchants by id, in no particular order; ids the caller may not see
/// are left out. Errors: [`LedgerError::Database`].
pub async fn find_many(reads: &Reads, ids: &[uuid::Uuid]) -> Result<Vec<Merchant>, LedgerError> {
    Ok(store::find_many(reads.db(), ids).await?)
}

/// Merchants whose name or external id contains `search` (case-insensitive),
/// ordered by id after `after`, at most `limit`. Errors: [`LedgerError::Database`].
pub async fn search(
    reads: &Reads,
    search: Option<&str>,
    after: Option<uuid::Uuid>,
    limit: u64,
) -> Result<Vec<Merchant>, LedgerError> {
    Ok(store::search(reads.db(), search, after, limit).await?)
}
