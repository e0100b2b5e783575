//! Payouts: sending a merchant's available balance to its bank.
//!
//! | step | account | owner | debit | credit |
//! |---|---|---|---|---|
//! | create | `available` | merchant | amount | |
//! | | `payouts_in_transit` | platform | | amount |
//! | settle | `payouts_in_transit` | platform | amount | |
//! | | `bank` | platform | | amount |
//! | fail | `payouts_in_transit` | platform | amount | |
//! | | `available` | merchant | | amount |
//!
//! A payout pays the whole available balance less the merchant's reserve for
//! that asset. Scheduled payouts run per period (UTC day, ISO week or calendar
//! month); the period is stored with the payout under a unique key, so two
//! runs of the scheduler, on one instance or several, make one payout.

pub use super::error::PayoutError;
use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::core::payments::payment::Annotations;
use crate::domain::{
    AccountCode, AccountRef, Amount, AssetCode, Direction, DomainError, EntryDraft, Layer, MerchantId, Owner,
};
use crate::domain::{TransactionDraft, TransactionKind};

/// How often a merchant is paid out automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutSchedule {
    /// Once per UTC day.
    Daily,
    /// Once per ISO 8601 week.
    Weekly,
    /// Once per calendar month (UTC).
    Monthly,
}

impl PayoutSchedule {
    /// Storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutSchedule::Daily => "daily",
            PayoutSchedule::Weekly => "weekly",
            PayoutSchedule::Monthly => "monthly",
        }
    }

    /// Parses the storage form.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "daily" => Some(PayoutSchedule::Daily),
            "weekly" => Some(PayoutSchedule::Weekly),
            "monthly" => Some(PayoutSchedule::Monthly),
            _ => None,
        }
    }

    /// The period `now` falls in: `2026-11-22`, `2026-W47` or `2026-11`.
    pub fn period(self, now: DateTime<Utc>) -> String {
        match self {
            PayoutSchedule::Daily => now.format("%Y-%m-%d").to_string(),
            PayoutSchedule::Weekly => {
                let w = now.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            PayoutSchedule::Monthly => now.format("%Y-%m").to_string(),
        }
    }
}

/// The state of a payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutState {
    /// Sent, not yet confirmed.
    InTransit,
    /// Arrived.
    Settled,
    /// Bounced; the money is back in available.
    Failed,
}

impl PayoutState {
    /// Storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutState::InTransit => "in_transit",
            PayoutState::Settled => "settled",
            PayoutState::Failed => "failed",
        }
    }

    /// Parses the storage form.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "in_transit" => Some(PayoutState::InTransit),
            "settled" => Some(PayoutState::Settled),
            "failed" => Some(PayoutState::Failed),
            _ => None,
        }
    }
}

/// What a payout may pay: available less reserve. Errors: [`PayoutError::NothingToPayOut`].
pub fn payable(available: i128, reserve_minor: i64) -> Result<Amount, PayoutError> {
    let payable = available - i128::from(reserve_minor);
    let clamped = i64::try_from(payable).unwrap_or(if payable > 0 { i64::MAX } else { i64::MIN });
    Amount::from_minor(clamped).map_err(|_| PayoutError::NothingToPayOut { payable: clamped })
}

fn leg(owner: Owner, code: &'static str, asset: &AssetCode, direction: Direction, amount: Amount) -> EntryDraft {
    EntryDraft {
        account: AccountRef::Code { owner, code: AccountCode::standard(code) },
        asset: asset.clone(),
        direction,
        amount,
        layer: Layer::Posted,
    }
}

/// The transaction kind a payout step posts and the state it leaves the
/// payout in: settled (`settled`) or failed by the bank.
pub fn finishing(settled: bool) -> (TransactionKind, PayoutState) {
    if settled {
        (TransactionKind::PayoutSettled, PayoutState::Settled)
    } else {
        (TransactionKind::PayoutFailed, PayoutState::Failed)
    }
}

/// The transaction of a payout step (`PayoutCreated`, `PayoutSettled` or `PayoutFailed`).
pub fn step(
    kind: TransactionKind,
    merchant: MerchantId,
    asset: &AssetCode,
    amount: Amount,
    payout: Uuid,
) -> Result<TransactionDraft, DomainError> {
    let m = Owner::Merchant(merchant);
    let p = Owner::Platform;
    let (from, from_code, to, to_code) = match kind {
        TransactionKind::PayoutCreated => (m, AccountCode::AVAILABLE, p, AccountCode::PAYOUTS_IN_TRANSIT),
        TransactionKind::PayoutSettled => (p, AccountCode::PAYOUTS_IN_TRANSIT, p, AccountCode::BANK),
        _ => (p, AccountCode::PAYOUTS_IN_TRANSIT, m, AccountCode::AVAILABLE),
    };
    let entries =
        vec![leg(from, from_code, asset, Direction::Debit, amount), leg(to, to_code, asset, Direction::Credit, amount)];
    let guard = if kind == TransactionKind::PayoutCreated {
        vec![(AccountRef::Code { owner: m, code: AccountCode::standard(AccountCode::AVAILABLE) }, asset.clone())]
    } else {
        vec![]
    };
    let d = crate::core::payments::payment::draft(merchant, kind, entries, guard, Annotations::default())?;
    Ok(TransactionDraft { payout: Some(payout), ..d })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn periods_are_utc_day_iso_week_and_month() {
        let t = Utc.with_ymd_and_hms(2027, 1, 1, 12, 0, 0).single().unwrap_or_default();
        assert_eq!(PayoutSchedule::Daily.period(t), "2027-01-01");
        assert_eq!(PayoutSchedule::Weekly.period(t), "2026-W53");
        assert_eq!(PayoutSchedule::Monthly.period(t), "2027-01");
    }

    #[test]
    fn payable_is_available_less_reserve() {
        assert_eq!(payable(1000, 200).map(Amount::minor), Ok(800));
        assert_eq!(payable(200, 200), Err(PayoutError::NothingToPayOut { payable: 0 }));
        assert_eq!(payable(-50, 0), Err(PayoutError::NothingToPayOut { payable: -50 }));
    }
}
