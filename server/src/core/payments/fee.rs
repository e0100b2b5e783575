//! Fee schedules: how the platform's fee is split off a captured amount.
//!
//! A schedule is a percentage in basis points (1 bp = 0.01 %) plus a fixed amount
//! in minor units, per asset. The fee of a gross amount is
//!
//! ```text
//! fee = min(gross, round_half_even(gross × bps / 10 000) + fixed)
//! net = gross − fee
//! ```
//!
//! computed in integer minor units (i128 intermediate), so `net + fee == gross`
//! exactly, always. Half-to-even ("banker's rounding") is the rounding rule because
//! it has no bias over many payments: halves round up as often as down.
//!
//! On a refund of part of a capture, when the schedule returns fees, the fee given
//! back is the same formula's proportional share: `round_half_even(fee ×
//! refunded / captured)`, computed on the running totals so that refunding a
//! capture in pieces returns exactly its whole fee at the end.

use crate::domain::{Amount, DomainError};

/// Basis points in 100 %.
pub const BASIS_POINTS_PER_UNIT: i64 = 10_000;

/// A merchant's fee schedule for one asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeeSchedule {
    /// Percentage part, in basis points (290 = 2.90 %), 0..=10 000.
    pub percent_bps: i64,
    /// Fixed part, minor units of the asset, ≥ 0.
    pub fixed_minor: i64,
    /// Whether a refund gives back the proportional share of the fee.
    pub refund_returns_fee: bool,
}

/// A gross amount split into what the merchant gets and what the platform keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSplit {
    /// Minor units credited to the merchant; `gross − fee`, ≥ 0.
    pub net_minor: i64,
    /// Minor units credited to `fee_revenue`, ≥ 0.
    pub fee_minor: i64,
}

impl FeeSchedule {
    /// Validates a schedule. Errors: [`DomainError::FeeScheduleInvalid`].
    pub fn new(percent_bps: i64, fixed_minor: i64, refund_returns_fee: bool) -> Result<Self, DomainError> {
        if !(0..=BASIS_POINTS_PER_UNIT).contains(&percent_bps) || fixed_minor < 0 {
            return Err(DomainError::FeeScheduleInvalid);
        }
        Ok(Self { percent_bps, fixed_minor, refund_returns_fee })
    }

    /// Splits a gross amount. `net_minor + fee_minor == gross.minor()` always.
    pub fn split(&self, gross: Amount) -> FeeSplit {
        let g = i128::from(gross.minor());
        let percent = div_round_half_even(g * i128::from(self.percent_bps), i128::from(BASIS_POINTS_PER_UNIT));
        let fee = (percent + i128::from(self.fixed_minor)).min(g);
        // fee ≤ g ≤ i64::MAX, so both fit.
        let fee_minor = i64::try_from(fee).unwrap_or(gross.minor());
        FeeSplit { net_minor: gross.minor() - fee_minor, fee_minor }
    }
}

/// The fee to give back when a refund brings the refunded total of a capture from
/// `refunded_before` to `refunded_before + refund`, given the capture's total fee
/// and captured amount: the difference of the proportional shares of the two
/// running totals, so the pieces add up to the whole fee exactly.
pub fn fee_share_of_refund(fee_minor: i64, captured_minor: i64, refunded_before: i64, refund: i64) -> i64 {
    if captured_minor <= 0 {
        return 0;
    }
    let share =
        |refunded: i64| div_round_half_even(i128::from(fee_minor) * i128::from(refunded), i128::from(captured_minor));
    let after = share(refunded_before.saturating_add(refund).min(captured_minor));
    let before = share(refunded_before.min(captured_minor));
    i64::try_from(after - before).unwrap_or(0)
}

/// `n / d` rounded half-to-even, for `n ≥ 0`, `d > 0`.
fn div_round_half_even(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn amt(m: i64) -> Amount {
        Amount::from_minor(m).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn percent_plus_fixed_rounds_half_to_even() {
        let s = FeeSchedule::new(290, 30, false).unwrap_or_default();
        // 2.9 % of 10.00 = 0.29, + 0.30
        assert_eq!(s.split(amt(1000)), FeeSplit { net_minor: 941, fee_minor: 59 });
        let ten = FeeSchedule::new(1000, 0, false).unwrap_or_default();
        assert_eq!(ten.split(amt(25)).fee_minor, 2, "2.5 rounds to even 2");
        assert_eq!(ten.split(amt(35)).fee_minor, 4, "3.5 rounds to even 4");
        assert_eq!(ten.split(amt(7219)).fee_minor, 722, "the Olist first item");
    }

    #[test]
    fn fee_never_exceeds_gross() {
        let s = FeeSchedule::new(0, 500, false).unwrap_or_default();
        assert_eq!(s.split(amt(100)), FeeSplit { net_minor: 0, fee_minor: 100 });
    }

    #[test]
    fn invalid_schedules_are_rejected() {
        assert_eq!(FeeSchedule::new(10_001, 0, false), Err(DomainError::FeeScheduleInvalid));
        assert_eq!(FeeSchedule::new(-1, 0, false), Err(DomainError::FeeScheduleInvalid));
        assert_eq!(FeeSchedule::new(100, -1, false), Err(DomainError::FeeScheduleInvalid));
    }

    #[test]
    fn splits_of_random_amounts_always_sum_exactly() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..100_000 {
            let s =
                FeeSchedule::new(rng.random_range(0..=10_000), rng.random_range(0..10_000), false).unwrap_or_default();
            let gross = amt(rng.random_range(1..=i64::MAX));
            let split = s.split(gross);
            assert_eq!(split.net_minor + split.fee_minor, gross.minor());
            assert!(split.net_minor >= 0 && split.fee_minor >= 0);
        }
    }

    #[test]
    fn refunding_in_pieces_returns_exactly_the_whole_fee() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..10_000 {
            let captured = rng.random_range(1..1_000_000_i64);
            let fee = rng.random_range(0..=captured);
            let (mut refunded, mut returned) = (0, 0);
            while refunded < captured {
                let piece = rng.random_range(1..=captured - refunded);
                let back = fee_share_of_refund(fee, captured, refunded, piece);
                assert!(back >= 0);
                returned += back;
                refunded += piece;
            }
            assert_eq!(returned, fee);
        }
    }
}
