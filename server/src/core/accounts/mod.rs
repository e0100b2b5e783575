//! Accounts: the chart of accounts per owner, their balance rows, balance
//! limits, the asset catalogue, and the one balance view.
//!
//! [`view`] is the single definition of *posted*, *pending* and *available*
//! (expired authorizations stop counting as pending; a merchant's payout
//! reserve is kept out of available). Every query, subscription snapshot and
//! event that shows a balance goes through it.

pub(in crate::core) mod apply;
pub mod error;
pub mod history;
pub mod limit;
pub(in crate::core) mod store;
pub mod view;

pub use store::limits::LimitTarget;
pub use store::{Account, AccountBalance};
pub use view::BalanceView;

pub use error::AccountError;

use super::{LedgerError, Reads};
use crate::domain::{AccountId, Owner};

/// Finds an account the caller may see. `merchant` names the merchant whose books hold it, when the caller
/// knows it; a merchant key's lookups use its own. On Citus a named lookup
/// reads one shard, an unnamed one every shard. Errors: [`LedgerError::Database`].
pub async fn find(
    reads: &Reads,
    id: AccountId,
    merchant: Option<crate::domain::MerchantId>,
) -> Result<Option<Account>, LedgerError> {
    Ok(store::find(reads.db(), id, reads.partition(merchant)).await?)
}

/// Finds accounts by id, in no particular order; ids the caller may not see
/// are left out. Errors: [`LedgerError::Database`].
pub async fn find_many(reads: &Reads, ids: &[uuid::Uuid]) -> Result<Vec<Account>, LedgerError> {
    Ok(store::find_many(reads.db(), ids).await?)
}

/// Finds accounts by id, each with a hint of its partition (see
/// [`store::find_many_hinted`]). Errors: [`LedgerError::Database`].
pub async fn find_many_hinted(
    reads: &Reads,
    keys: &[(crate::domain::MerchantId, uuid::Uuid)],
) -> Result<Vec<Account>, LedgerError> {
    Ok(store::find_many_hinted(reads.db(), keys).await?)
}

/// Every account of `owner`, ordered by code then asset. Errors:
/// [`LedgerError::Database`].
pub async fn of_owner(reads: &Reads, owner: Owner) -> Result<Vec<Account>, LedgerError> {
    Ok(store::list_with_balances(reads.db(), owner).await?.into_iter().map(|a| a.account).collect())
}

/// The balance limit in force on `account` and where it comes from. Errors:
/// [`LedgerError::Database`].
pub async fn limit_of(reads: &Reads, account: &Account) -> Result<limit::AccountLimit, LedgerError> {
    let limits = store::limits::for_accounts(reads.db(), &[account]).await?;
    Ok(limits
        .get(&account.id)
        .copied()
        .unwrap_or_else(|| limit::resolve(None, None, account.owner, account.normal_balance, 0)))
}

/// The asset catalogue: every known asset (ISO 4217 and registered), each
/// with true when it is an ISO 4217 currency. Errors: [`LedgerError::Database`].
pub async fn assets(reads: &Reads) -> Result<Vec<(crate::domain::Asset, bool)>, LedgerError> {
    Ok(store::assets::list(reads.db()).await?)
}

/// What the one balance view needs besides an account's totals: per asset,
/// the holds of a merchant's expired authorizations not yet swept, and its
/// payout reserve (minor units). Read once, applied to any of the merchant's
/// accounts with [`Adjustments::view`].
#[derive(Debug, Clone, Default)]
pub struct Adjustments {
    expired: std::collections::BTreeMap<String, i64>,
    reserves: std::collections::BTreeMap<String, i64>,
}

impl Adjustments {
    /// `merchant`'s adjustments now, through `reads`. Errors: [`LedgerError::Database`].
    pub async fn of(reads: &Reads, merchant: crate::domain::MerchantId) -> Result<Adjustments, LedgerError> {
        let now = chrono::Utc::now();
        let expired = super::payments::store::expired_holds(reads.db(), merchant, now).await?.into_iter().collect();
        let reserves = super::payouts::store::reserves(reads.db(), merchant).await?.into_iter().collect();
        Ok(Adjustments { expired, reserves })
    }

    /// `merchant`'s adjustments now, in a read of its own as `tenant`. Errors:
    /// [`LedgerError::Database`].
    pub async fn now(
        pool: &super::Pool,
        tenant: super::access::rules::Tenant,
        merchant: crate::domain::MerchantId,
    ) -> Result<Adjustments, LedgerError> {
        let reads = Reads::begin(pool, tenant).await?;
        let adjustments = Adjustments::of(&reads, merchant).await;
        reads.finish().await;
        adjustments
    }

    /// The view of an account (`owner`, `code`, `normal`, `asset`) with
    /// stored `totals` (see [`BalanceView::of`]).
    pub fn view(
        &self,
        owner: Owner,
        code: &str,
        normal: crate::domain::NormalBalance,
        asset: &str,
        totals: crate::domain::Balance,
    ) -> BalanceView {
        BalanceView::of(
            owner,
            code,
            normal,
            totals,
            self.expired.get(asset).copied().unwrap_or(0),
            self.reserves.get(asset).copied().unwrap_or(0),
        )
    }

    fn of_account(&self, account: &Account, totals: crate::domain::Balance) -> BalanceView {
        self.view(account.owner, account.code.as_str(), account.normal_balance, account.asset.as_str(), totals)
    }
}

/// `account`'s balance now, through the one balance view (see [`view`]).
/// Errors: [`LedgerError::Database`].
pub async fn balance(reads: &Reads, account: &Account) -> Result<BalanceView, LedgerError> {
    let totals = store::balance_of(reads.db(), account.id).await?;
    let adjustments = match account.owner {
        Owner::Merchant(m) if account.code.as_str() == crate::domain::AccountCode::AVAILABLE => {
            Adjustments::of(reads, m).await?
        }
        _ => Adjustments::default(),
    };
    Ok(adjustments.of_account(account, totals))
}

/// Every account of `owner` with its balance now through the one balance view,
/// ordered by code then asset. Errors: [`LedgerError::Database`].
pub async fn balances_of(reads: &Reads, owner: Owner) -> Result<Vec<(Account, BalanceView)>, LedgerError> {
    let rows = store::list_with_balances(reads.db(), owner).await?;
    let adjustments = match owner {
        Owner::Merchant(m) => Adjustments::of(reads, m).await?,
        Owner::Platform | Owner::PlatformFor(_) => Adjustments::default(),
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let view = adjustments.of_account(&r.account, r.balance);
            (r.account, view)
        })
        .collect())
}
