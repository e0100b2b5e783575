//! The payout commands as the write path applies them.

use chrono::Utc;
use sea_orm::ConnectionTrait;

use crate::core::LedgerError;
use crate::core::accounts::limit::{self};
use crate::core::accounts::store as accounts;
use crate::core::db as store;
use crate::core::posting::apply::merchant_of;
use crate::core::posting::command::{Outcome, Request};
use crate::core::posting::post::{limited, post};
use crate::domain::{AccountCode, AssetCode, DomainError, MerchantId, Owner};
use crate::domain::{Amount, TransactionKind};

/// Creates a payout of the merchant's available balance above
/// `max(lower bound, 0)` less its reserve, for `period` when scheduled.
/// Errors: `NOT_FOUND`, `NOTHING_TO_PAY_OUT`, `PAYOUT_ALREADY_MADE` (this
/// period is paid), `BALANCE_LIMIT_EXCEEDED` (available is below its lower
/// bound, as after a chargeback).
pub(in crate::core) async fn create_payout(
    db: &impl ConnectionTrait,
    req: &Request,
    merchant: MerchantId,
    asset: &AssetCode,
    period: Option<&str>,
) -> Result<Outcome, LedgerError> {
    use crate::core::payouts::payout::{PayoutError, PayoutState, payable, step};
    use crate::core::payouts::store::{self as payouts, Payout};
    merchant_of(db, req, merchant).await?;
    if let Some(period) = period
        && payouts::exists_for_period(db, merchant, asset, period).await?
    {
        return Err(LedgerError::Domain(crate::domain::DomainError::Payout(
            crate::core::payouts::PayoutError::AlreadyMade,
        )));
    }
    let code = AccountCode::standard(AccountCode::AVAILABLE);
    let account = accounts::find_by_code(db, Owner::Merchant(merchant), &code, asset)
        .await?
        .ok_or(DomainError::Payout(PayoutError::NothingToPayOut { payable: 0 }))?;
    let balance = accounts::lock_balances(db, &[(account.owner.partition(), account.id)])
        .await?
        .get(&account.id)
        .copied()
        .unwrap_or_default();
    let limits = accounts::limits::for_accounts(db, &[&account]).await?;
    let limit = limits.get(&account.id).ok_or_else(|| LedgerError::internal("payout account limit not read"))?;
    // Below its lower bound (a chargeback took it there) nothing is paid out;
    // above it, only what is over max(lower, 0) and the reserve.
    let headroom =
        limit::payout_headroom(&limited(&account), limit, &balance).map_err(DomainError::BalanceLimitExceeded)?;
    let (reserve, _) = payouts::settings(db, merchant, asset).await?;
    let amount = payable(headroom, reserve).map_err(DomainError::from)?;
    let id = uuid::Uuid::now_v7();
    let payout = Payout {
        id,
        merchant,
        asset: asset.clone(),
        amount: amount.minor(),
        state: PayoutState::InTransit,
        period: period.map(str::to_owned),
        covers_from_seq: payouts::last_covered_seq(db, merchant, asset).await? + 1,
        covers_to_seq: crate::core::posting::store::journal_head(db, merchant).await?,
        created_at: Utc::now(),
    };
    payouts::insert(db, &payout).await.map_err(|e| {
        if store::is_unique_violation(&e, crate::core::db::UniqueKey::PayoutPeriod) {
            LedgerError::from(crate::core::payouts::PayoutError::AlreadyMade)
        } else {
            e.into()
        }
    })?;
    let draft = step(TransactionKind::PayoutCreated, merchant, asset, amount, id)?;
    Ok(Outcome::Payout { payout: id, transaction: post(db, req, &draft).await? })
}

/// Settles (`settled`) or fails (`!settled`) a payout in transit. Errors:
/// `NOT_FOUND`, `PAYOUT_NOT_IN_TRANSIT`.
pub(in crate::core) async fn finish_payout(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    settled: bool,
) -> Result<Outcome, LedgerError> {
    use crate::core::payouts::payout::{PayoutError, PayoutState, step};
    use crate::core::payouts::store as payouts;
    let p = payouts::lock(db, id, req.partition)
        .await?
        .filter(|p| req.tenant.sees(p.merchant))
        .ok_or(LedgerError::from(crate::core::payouts::PayoutError::NotFound))?;
    if p.state != PayoutState::InTransit {
        return Err(DomainError::Payout(PayoutError::PayoutNotInTransit).into());
    }
    let (kind, state) = crate::core::payouts::payout::finishing(settled);
    let draft = step(kind, p.merchant, &p.asset, Amount::from_minor(p.amount)?, id)?;
    let transaction = post(db, req, &draft).await?;
    payouts::set_state(db, p.merchant, id, state).await?;
    Ok(Outcome::Payout { payout: id, transaction })
}
