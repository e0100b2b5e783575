//! The balance limit command as the write path applies it.

use crate::core::accounts::AccountError;
use sea_orm::ConnectionTrait;

use crate::core::LedgerError;
use crate::core::accounts::limit::LimitPolicy;
use crate::core::accounts::store as accounts;
use crate::core::accounts::store::limits::LimitTarget;
use crate::core::posting::command::{Outcome, Request};
use crate::domain::{DomainError, MerchantId};

/// Sets a balance limit policy: locks the balance rows it governs (sorted,
/// `FOR UPDATE`), reads the last committed sequence number, and writes the
/// policy stamped with it, so every later posting to those rows reads it.
/// Errors: `ACCOUNT_NOT_FOUND`, `UNKNOWN_ASSET`.
pub(in crate::core) async fn set_balance_limit(
    db: &impl ConnectionTrait,
    req: &Request,
    target: &LimitTarget,
    policy: LimitPolicy,
) -> Result<Outcome, LedgerError> {
    let (owner, account, code, asset, journal) = match target {
        LimitTarget::Account(id) => {
            let a = accounts::find(db, *id, req.partition)
                .await?
                .filter(|a| req.tenant.sees(a.owner.merchant_id()))
                .ok_or(LedgerError::Account(AccountError::NotFound))?;
            (a.owner.merchant_id(), Some(a.id), a.code, a.asset, Some(a.owner.partition()))
        }
        LimitTarget::Default { code, asset } => {
            accounts::assets::find(db, asset.as_str())
                .await?
                .ok_or_else(|| DomainError::UnknownAsset(asset.to_string()))?;
            (MerchantId::PLATFORM, None, code.clone(), asset.clone(), None)
        }
    };
    accounts::limits::lock_governed(db, target).await?;
    // An account's policy governs its journal after its last number; a
    // default spans every merchant's journal, so it has no one number (0).
    let since_seq = match journal {
        Some(m) => crate::core::posting::store::journal_head(db, m).await?,
        None => 0,
    };
    accounts::limits::set(db, target, owner, policy, since_seq).await?;
    Ok(Outcome::BalanceLimit {
        account,
        code,
        asset,
        lower_minor: policy.lower_minor,
        upper_minor: policy.upper_minor,
        since_seq,
    })
}
