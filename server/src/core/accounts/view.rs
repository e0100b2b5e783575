//! The one balance view: what *posted*, *pending* and *available* mean for an
//! account now. Every query, subscription snapshot and event that shows a
//! current balance is built here, so the words mean the same on every field.
//!
//! - **posted**: the posted balance, signed by the normal balance;
//! - **pending**: posted plus every pending transfer, both sides (as in
//!   Modern Treasury);
//! - **available**: posted less pending outflows, less the payout reserve
//!   (a merchant's `available` account only: the reserve is what every payout
//!   keeps back, so it is not available to pay out).
//!
//! An authorization past its `expires_at` stops counting as pending at once,
//! before the sweeper releases it: its hold is taken off the pending credits
//! of the merchant's `available` account. All amounts are minor units of the
//! account's asset.

use crate::domain::{AccountCode, Balance, NormalBalance, Owner};

/// An account's balance as shown: its stored totals with expired holds taken
/// off, and the reserve kept out of available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceView {
    /// The side that increases the account.
    pub normal: NormalBalance,
    /// The totals, expired holds taken off the pending credits.
    pub totals: Balance,
    /// Minor units kept out of available (the payout reserve; 0 for every
    /// account but a merchant's `available`).
    pub reserve_minor: i64,
}

impl BalanceView {
    /// The view of an account with code `code` of `owner`, from its stored
    /// `totals`, the holds of its expired authorizations still counted in them
    /// (`expired_holds_minor`) and the merchant's payout reserve in its asset
    /// (`reserve_minor`). Only a merchant's `available` account holds
    /// authorizations and has a reserve; for every other account both are
    /// ignored.
    pub fn of(
        owner: Owner,
        code: &str,
        normal: NormalBalance,
        totals: Balance,
        expired_holds_minor: i64,
        reserve_minor: i64,
    ) -> Self {
        let merchant_available = matches!(owner, Owner::Merchant(_)) && code == AccountCode::AVAILABLE;
        if !merchant_available {
            return BalanceView { normal, totals, reserve_minor: 0 };
        }
        let mut totals = totals;
        totals.credits_pending = (totals.credits_pending - expired_holds_minor.max(0)).max(0);
        BalanceView { normal, totals, reserve_minor: reserve_minor.max(0) }
    }

    /// A past balance (summed from posted entries): no pending, no reserve.
    pub fn past(normal: NormalBalance, totals: Balance) -> Self {
        BalanceView { normal, totals, reserve_minor: 0 }
    }

    /// The posted balance, signed by the normal balance, in minor units.
    pub fn posted(&self) -> i128 {
        self.totals.posted(self.normal)
    }

    /// Posted plus pending, in minor units.
    pub fn pending(&self) -> i128 {
        self.totals.pending(self.normal)
    }

    /// Posted less pending outflows less the reserve, in minor units.
    pub fn available(&self) -> i128 {
        self.totals.available(self.normal) - i128::from(self.reserve_minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Direction, MerchantId};

    fn totals(credits_posted: i64, credits_pending: i64, debits_pending: i64) -> Balance {
        Balance { debits_posted: 0, credits_posted, debits_pending, credits_pending }
    }

    fn merchant() -> Owner {
        Owner::Merchant(MerchantId(uuid::Uuid::from_u128(7)))
    }

    #[test]
    fn expired_holds_stop_counting_as_pending_on_a_merchants_available() {
        let v = BalanceView::of(merchant(), AccountCode::AVAILABLE, Direction::Credit, totals(1_000, 500, 0), 300, 0);
        assert_eq!(v.posted(), 1_000);
        assert_eq!(v.pending(), 1_200, "only the live 200 of the 500 held still counts");
        assert_eq!(v.available(), 1_000, "pending inflows never count as available");
    }

    #[test]
    fn the_reserve_is_kept_out_of_available_and_nothing_else() {
        let v = BalanceView::of(merchant(), AccountCode::AVAILABLE, Direction::Credit, totals(1_000, 0, 100), 0, 250);
        assert_eq!(v.posted(), 1_000);
        assert_eq!(v.available(), 650, "posted 1000 less outflow 100 less reserve 250");
        assert_eq!(v.pending(), 900);
    }

    #[test]
    fn other_accounts_ignore_holds_and_reserve() {
        let v = BalanceView::of(
            Owner::Platform,
            AccountCode::AVAILABLE,
            Direction::Credit,
            totals(1_000, 500, 0),
            300,
            250,
        );
        assert_eq!((v.pending(), v.available()), (1_500, 1_000));
        let v = BalanceView::of(merchant(), "reserve", Direction::Credit, totals(1_000, 500, 0), 300, 250);
        assert_eq!((v.pending(), v.available()), (1_500, 1_000));
    }

    #[test]
    fn an_expired_hold_larger_than_the_pending_total_cannot_make_it_negative() {
        let v = BalanceView::of(merchant(), AccountCode::AVAILABLE, Direction::Credit, totals(0, 100, 0), 300, 0);
        assert_eq!(v.totals.credits_pending, 0);
    }
}
