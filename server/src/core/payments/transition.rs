//! Each payment step as **one pure function** from the payment before it to
//! the payment after it, with the transaction it implies. The write path
//! (`apply.rs`) only locks the payment, calls one of these, posts the draft and
//! saves the payment it returns; the refund preview calls the same function and
//! stops there. No I/O: every rule is unit-tested below.
//!
//! Amounts are minor units of the payment's asset. Errors: the life cycle's
//! refusals ([`crate::core::payments::PaymentError`] inside
//! [`DomainError::Payment`]), `ASSET_MISMATCH` when an amount names another
//! asset, and the amount errors of [`Amount::from_minor`].

use chrono::{DateTime, Utc};

use super::Payment;
use super::fee::{FeeSchedule, fee_share_of_refund};
use super::lifecycle::Release;
use super::payment::lifecycle_drafts;
use crate::core::LedgerError;
use crate::domain::{Amount, AssetCode, DomainError, TransactionDraft, TransactionKind};

/// A step's result: the payment after it and the transaction it posts.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The payment after the step.
    pub next: Payment,
    /// The transaction the step posts.
    pub draft: TransactionDraft,
}

/// What a refund of a payment would post: the amount, the fee share going
/// back, and the draft. The refund and its preview both come from [`refund`],
/// so they cannot differ.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundPlan {
    /// Refunded amount, minor units of the payment's asset.
    pub minor: i64,
    /// Part of the platform's fee given back with it, minor units.
    pub fee_back: i64,
    /// The refund transaction as it would be posted.
    pub draft: TransactionDraft,
}

/// Checks that an amount given for a payment step is in the payment's asset.
/// Errors: `ASSET_MISMATCH`.
pub fn same_asset(p: &Payment, amount: Option<&(AssetCode, Amount)>) -> Result<(), LedgerError> {
    match amount {
        Some((asset, _)) if *asset != p.asset => {
            Err(DomainError::AssetMismatch { entry: asset.to_string(), account: p.asset.to_string() }.into())
        }
        _ => Ok(()),
    }
}

/// Captures `amount` (all that is still held when `None`) at `now`, splitting
/// off the fee of `schedule`. Errors: `CAPTURE_EXCEEDS_AUTHORIZATION`,
/// `AUTHORIZATION_EXPIRED`, `AUTHORIZATION_VOIDED`, `ASSET_MISMATCH`.
pub fn capture(
    p: &Payment,
    schedule: &FeeSchedule,
    amount: Option<&(AssetCode, Amount)>,
    now: DateTime<Utc>,
) -> Result<Transition, LedgerError> {
    same_asset(p, amount)?;
    let minor = p.facts.capture(amount.map(|(_, a)| *a), now).map_err(DomainError::from)?;
    let captured = Amount::from_minor(minor)?;
    let split = schedule.split(captured);
    let draft = lifecycle_drafts::capture(p.merchant, &p.asset, captured, split, p.id)?;
    let mut next = p.clone();
    next.facts.captured += minor;
    next.fee_captured += split.fee_minor;
    Ok(Transition { next, draft })
}

/// Plans a refund of `amount` (all that is refundable when `None`) under
/// `schedule`; the payment after it is `plan.minor` more refunded. Errors:
/// `REFUND_EXCEEDS_CAPTURED`, `PAYMENT_NOT_CAPTURED`, `ASSET_MISMATCH`.
pub fn refund(
    p: &Payment,
    schedule: &FeeSchedule,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<(Transition, RefundPlan), LedgerError> {
    same_asset(p, amount)?;
    let minor = p.facts.refund(amount.map(|(_, a)| *a)).map_err(DomainError::from)?;
    let fee_back = if schedule.refund_returns_fee {
        fee_share_of_refund(p.fee_captured, p.facts.captured, p.facts.refunded, minor)
    } else {
        0
    };
    let draft = lifecycle_drafts::refund(p.merchant, &p.asset, Amount::from_minor(minor)?, fee_back, p.id)?;
    let mut next = p.clone();
    next.facts.refunded += minor;
    Ok((Transition { next, draft: draft.clone() }, RefundPlan { minor, fee_back, draft }))
}

/// Opens a chargeback on `amount` (all that is disputable when `None`).
/// Errors: `PAYMENT_NOT_CAPTURED`, `DISPUTE_ALREADY_OPEN`,
/// `DISPUTE_EXCEEDS_CAPTURED`, `ASSET_MISMATCH`.
pub fn open_dispute(p: &Payment, amount: Option<&(AssetCode, Amount)>) -> Result<Transition, LedgerError> {
    same_asset(p, amount)?;
    let minor = p.facts.open_dispute(amount.map(|(_, a)| *a)).map_err(DomainError::from)?;
    let draft = lifecycle_drafts::open_dispute(p.merchant, &p.asset, Amount::from_minor(minor)?, p.id)?;
    let mut next = p.clone();
    next.facts.disputed_open = minor;
    Ok(Transition { next, draft })
}

/// Resolves the open chargeback: `won` by the merchant, or lost with an
/// optional `fee` charged to it. Errors: `NO_OPEN_DISPUTE`, `ASSET_MISMATCH`.
pub fn resolve_dispute(p: &Payment, won: bool, fee: Option<&(AssetCode, Amount)>) -> Result<Transition, LedgerError> {
    same_asset(p, fee)?;
    let minor = p.facts.resolve_dispute().map_err(DomainError::from)?;
    let fee_minor = if won { 0 } else { fee.map_or(0, |(_, a)| a.minor()) };
    let draft =
        lifecycle_drafts::resolve_dispute(p.merchant, &p.asset, Amount::from_minor(minor)?, won, fee_minor, p.id)?;
    let mut next = p.clone();
    next.facts.disputed_open = 0;
    if !won {
        next.facts.charged_back += minor;
    }
    Ok(Transition { next, draft })
}

/// Releases what the authorization still holds: by a void, or (at `now`,
/// after its expiry) by the sweeper. Errors: `ALREADY_VOIDED`,
/// `NOTHING_TO_VOID`, `NOT_YET_EXPIRED`.
pub fn release(p: &Payment, how: Release, now: DateTime<Utc>) -> Result<Transition, LedgerError> {
    let (minor, kind) = match how {
        Release::Voided => (p.facts.void(), TransactionKind::Void),
        Release::Expired => (p.facts.expire(now), TransactionKind::Expiry),
    };
    let minor = minor.map_err(DomainError::from)?;
    let draft = lifecycle_drafts::release(p.merchant, &p.asset, Amount::from_minor(minor)?, kind, p.id)?;
    let mut next = p.clone();
    next.facts.released += minor;
    next.facts.release = Some(how);
    Ok(Transition { next, draft })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::core::payments::PaymentError;
    use crate::core::payments::lifecycle::PaymentFacts;
    use crate::domain::{Layer, MerchantId};

    fn usd() -> AssetCode {
        AssetCode::parse("USD").unwrap()
    }

    fn authorized(minor: i64) -> Payment {
        let expires = Utc::now() + chrono::Duration::days(7);
        Payment {
            id: uuid::Uuid::now_v7(),
            merchant: MerchantId::new(),
            asset: usd(),
            facts: PaymentFacts::authorized(Amount::from_minor(minor).unwrap(), expires),
            fee_captured: 0,
            external_ref: None,
            created_at: Utc::now(),
        }
    }

    fn money(minor: i64) -> (AssetCode, Amount) {
        (usd(), Amount::from_minor(minor).unwrap())
    }

    fn code(e: LedgerError) -> &'static str {
        e.code()
    }

    #[test]
    fn a_capture_moves_the_amounts_and_posts_the_fee_split_leaving_the_old_payment_alone() {
        let p = authorized(10_000);
        let schedule = FeeSchedule::new(290, 30, false).unwrap();
        let t = capture(&p, &schedule, Some(&money(4_000)), Utc::now()).unwrap();
        assert_eq!(t.next.facts.captured, 4_000);
        assert_eq!(t.next.fee_captured, 146, "2.90 % of 40.00 plus 0.30");
        assert_eq!(p.facts.captured, 0, "a transition is pure: the payment before it is unchanged");
        assert_eq!(t.draft.kind, TransactionKind::Capture);
        assert_eq!(t.draft.payment, Some(p.id));
        assert!(
            t.draft.entries.iter().any(|e| e.layer == Layer::Release),
            "the capture releases its share of the hold"
        );
    }

    #[test]
    fn a_capture_past_the_authorization_or_in_another_asset_is_refused() {
        let p = authorized(1_000);
        let schedule = FeeSchedule::new(0, 0, false).unwrap();
        let over = capture(&p, &schedule, Some(&money(1_001)), Utc::now()).unwrap_err();
        assert_eq!(code(over), "CAPTURE_EXCEEDS_AUTHORIZATION");
        let eur = (AssetCode::parse("EUR").unwrap(), Amount::from_minor(10).unwrap());
        assert_eq!(code(capture(&p, &schedule, Some(&eur), Utc::now()).unwrap_err()), "ASSET_MISMATCH");
    }

    #[test]
    fn a_refund_returns_the_fee_share_only_when_the_schedule_says_so() {
        let schedule = FeeSchedule::new(1_000, 0, true).unwrap();
        let captured = capture(&authorized(10_000), &schedule, None, Utc::now()).unwrap().next;
        let (t, plan) = refund(&captured, &schedule, Some(&money(5_000))).unwrap();
        assert_eq!((plan.minor, plan.fee_back), (5_000, 500), "half the money, half the 10 % fee");
        assert_eq!(t.next.facts.refunded, 5_000);
        assert_eq!(t.draft, plan.draft, "the refund posts exactly its preview");
        let keep = FeeSchedule::new(1_000, 0, false).unwrap();
        assert_eq!(refund(&captured, &keep, Some(&money(5_000))).unwrap().1.fee_back, 0);
        assert_eq!(code(refund(&captured, &keep, Some(&money(10_001))).unwrap_err()), "REFUND_EXCEEDS_CAPTURED");
    }

    #[test]
    fn a_lost_dispute_is_charged_back_and_a_won_one_is_not() {
        let schedule = FeeSchedule::new(0, 0, false).unwrap();
        let captured = capture(&authorized(2_000), &schedule, None, Utc::now()).unwrap().next;
        let open = open_dispute(&captured, None).unwrap().next;
        assert_eq!(open.facts.disputed_open, 2_000);
        assert_eq!(code(open_dispute(&open, None).unwrap_err()), "DISPUTE_ALREADY_OPEN");
        let lost = resolve_dispute(&open, false, Some(&money(1_500))).unwrap();
        assert_eq!((lost.next.facts.disputed_open, lost.next.facts.charged_back), (0, 2_000));
        let won = resolve_dispute(&open, true, None).unwrap();
        assert_eq!((won.next.facts.disputed_open, won.next.facts.charged_back), (0, 0));
        assert_eq!(code(resolve_dispute(&captured, true, None).unwrap_err()), "NO_OPEN_DISPUTE");
    }

    #[test]
    fn a_void_releases_what_is_held_once() {
        let p = authorized(3_000);
        let voided = release(&p, Release::Voided, Utc::now()).unwrap();
        assert_eq!((voided.next.facts.released, voided.next.facts.release), (3_000, Some(Release::Voided)));
        assert_eq!(voided.draft.kind, TransactionKind::Void);
        assert_eq!(code(release(&voided.next, Release::Voided, Utc::now()).unwrap_err()), "ALREADY_VOIDED");
        assert_eq!(
            release(&p, Release::Expired, Utc::now()).map_err(|e| e.code()),
            Err(LedgerError::from(PaymentError::NotYetExpired).code())
        );
    }
}
