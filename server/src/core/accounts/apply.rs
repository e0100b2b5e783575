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
    let (owner, account, code, asset) = match target {
        LimitTarget::Account(id) => {
            let a = accounts::find(db, *id)
                .await?
                .filter(|a| req.tenant.sees(a.owner.merchant_id()))
                .ok_or(LedgerError::Account(AccountError::NotFound))?;
            (a.owner.merchant_id(), Some(a.id), a.code, a.asset.to_string())
        }
        LimitTarget::Default { code, asset } => {
            accounts::assets::find(db, asset.as_str())
                .await?
                .ok_or_else(|| DomainError::UnknownAsset(asset.to_string()))?;
            (MerchantId::PLATFORM, None, code.to_string(), asset.to_string())
        }
    };
    accounts::limits::lock_governed(db, target).await?;
    let since_seq = accounts::limits::last_sequence(db).await?;
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
