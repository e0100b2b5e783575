//! The payment life cycle: a state machine over a payment's running amounts.
//!
//! A payment starts as an *authorization*: money held pending for the merchant
//! until `expires_at`. From there it is *captured* (all or part, possibly in
//! several captures), *voided* (the rest released), or it *expires*. Captured
//! money can be *refunded* (in parts) or *disputed* (a chargeback), and a dispute
//! is *won* (money back to the merchant) or *lost* (final).
//!
//! The ledger keeps the amounts; the state is derived from them
//! ([`PaymentFacts::state`]), so it cannot drift from the money. Each operation
//! here is a pure check that returns the exact amount to move, or the rule it
//! breaks. The write path applies it under the payment's row lock, so two racing
//! captures see each other's amounts.
//!
//! Amounts are minor units of the payment's one asset.

pub use super::error::PaymentError;
use chrono::{DateTime, Utc};

use crate::domain::{AccountCode, Amount, Direction, Layer, TransactionKind};

/// A payment step that `reverseTransaction` may undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversibleStep {
    /// The authorization (only while nothing is captured or released).
    Authorization,
    /// A capture (while its amount is still refundable).
    Capture,
    /// A void (while the authorization has not expired).
    Void,
    /// A refund.
    Refund,
    /// Opening a dispute.
    DisputeOpened,
    /// A won dispute.
    DisputeWon,
    /// A lost dispute.
    DisputeLost,
}

impl ReversibleStep {
    /// The step a transaction of `kind` is, and where its amount is recorded:
    /// the account code, layer and side of the entries that carry it. `None` for
    /// kinds that are not reversible payment steps (an expiry, or not a payment step).
    pub fn of(kind: TransactionKind) -> Option<(Self, &'static str, Layer, Direction)> {
        use ReversibleStep as S;
        Some(match kind {
            TransactionKind::Authorization => {
                (S::Authorization, AccountCode::AVAILABLE, Layer::Hold, Direction::Credit)
            }
            TransactionKind::Capture => (S::Capture, AccountCode::AVAILABLE, Layer::Release, Direction::Credit),
            TransactionKind::Void => (S::Void, AccountCode::AVAILABLE, Layer::Release, Direction::Credit),
            TransactionKind::Refund => (S::Refund, AccountCode::PROCESSOR_CLEARING, Layer::Posted, Direction::Credit),
            TransactionKind::DisputeOpened => {
                (S::DisputeOpened, AccountCode::DISPUTES, Layer::Posted, Direction::Credit)
            }
            TransactionKind::DisputeWon => (S::DisputeWon, AccountCode::DISPUTES, Layer::Posted, Direction::Debit),
            TransactionKind::DisputeLost => (S::DisputeLost, AccountCode::DISPUTES, Layer::Posted, Direction::Debit),
            _ => return None,
        })
    }
}

/// How the uncaptured rest of an authorization was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// By `voidAuthorization`.
    Voided,
    /// By the expiry sweeper.
    Expired,
}

/// A payment's state, derived from its amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Held, nothing captured, not expired.
    Authorized,
    /// Part captured, the rest still held.
    PartiallyCaptured,
    /// Captured; nothing pending.
    Captured,
    /// Released by a void before any capture.
    Voided,
    /// Expired before any capture (swept or not yet).
    Expired,
    /// Part of the captured money refunded.
    PartiallyRefunded,
    /// All captured money refunded.
    Refunded,
    /// A chargeback is open.
    Disputed,
    /// A chargeback was lost: the disputed money is gone.
    ChargedBack,
}

/// The outcome of a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeOutcome {
    /// The merchant won: the money returns to them.
    Won,
    /// The merchant lost: the money is final with the buyer.
    Lost,
}

/// A payment's running amounts, in minor units of its asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentFacts {
    /// Authorized amount.
    pub authorized: i64,
    /// Sum of captures.
    pub captured: i64,
    /// Amount released by a void or expiry (the uncaptured rest, once).
    pub released: i64,
    /// How it was released, when it was.
    pub release: Option<Release>,
    /// Sum of refunds.
    pub refunded: i64,
    /// Amount under an open dispute.
    pub disputed_open: i64,
    /// Amount lost to disputes.
    pub charged_back: i64,
    /// When the authorization expires.
    pub expires_at: DateTime<Utc>,
}

impl PaymentFacts {
    /// A fresh authorization.
    pub fn authorized(amount: Amount, expires_at: DateTime<Utc>) -> Self {
        Self {
            authorized: amount.minor(),
            captured: 0,
            released: 0,
            release: None,
            refunded: 0,
            disputed_open: 0,
            charged_back: 0,
            expires_at,
        }
    }

    /// Still held pending: authorized − captured − released. An expired hold
    /// still counts here until swept; use [`PaymentFacts::live_pending`] for what
    /// a balance may show.
    pub fn remaining(&self) -> i64 {
        self.authorized - self.captured - self.released
    }

    /// What balances may count as pending at `now`: zero once expired, even
    /// before the sweeper has run.
    pub fn live_pending(&self, now: DateTime<Utc>) -> i64 {
        if now >= self.expires_at { 0 } else { self.remaining() }
    }

    /// Captured money not refunded and not lost or held by a dispute.
    pub fn refundable(&self) -> i64 {
        self.captured - self.refunded - self.disputed_open - self.charged_back
    }

    /// The state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> PaymentState {
        if self.disputed_open > 0 {
            return PaymentState::Disputed;
        }
        if self.charged_back > 0 {
            return PaymentState::ChargedBack;
        }
        if self.captured == 0 {
            return match self.release {
                Some(Release::Voided) => PaymentState::Voided,
                Some(Release::Expired) => PaymentState::Expired,
                None if now >= self.expires_at => PaymentState::Expired,
                None => PaymentState::Authorized,
            };
        }
        if self.refunded >= self.captured {
            PaymentState::Refunded
        } else if self.refunded > 0 {
            PaymentState::PartiallyRefunded
        } else if self.live_pending(now) > 0 {
            PaymentState::PartiallyCaptured
        } else {
            PaymentState::Captured
        }
    }

    /// Checks a capture of `amount` (all that remains when `None`) at `now`.
    /// Returns the minor units to capture.
    pub fn capture(&self, amount: Option<Amount>, now: DateTime<Utc>) -> Result<i64, PaymentError> {
        match self.release {
            Some(Release::Voided) => return Err(PaymentError::AuthorizationVoided),
            Some(Release::Expired) => return Err(PaymentError::AuthorizationExpired),
            None if now >= self.expires_at => return Err(PaymentError::AuthorizationExpired),
            None => {}
        }
        let remaining = self.remaining();
        let want = amount.map_or(remaining, Amount::minor);
        if want > remaining || want <= 0 {
            return Err(PaymentError::CaptureExceedsAuthorization { remaining });
        }
        Ok(want)
    }

    /// Checks a void; returns the minor units to release.
    pub fn void(&self) -> Result<i64, PaymentError> {
        if self.release.is_some() {
            return Err(PaymentError::AlreadyVoided);
        }
        match self.remaining() {
            0 => Err(PaymentError::NothingToVoid),
            rest => Ok(rest),
        }
    }

    /// Checks an expiry sweep at `now`; returns the minor units to release.
    pub fn expire(&self, now: DateTime<Utc>) -> Result<i64, PaymentError> {
        if now < self.expires_at {
            return Err(PaymentError::NotYetExpired);
        }
        self.void()
    }

    /// Checks a refund of `amount` (all that is refundable when `None`).
    pub fn refund(&self, amount: Option<Amount>) -> Result<i64, PaymentError> {
        let refundable = self.refundable();
        let want = amount.map_or(refundable, Amount::minor);
        if want > refundable || want <= 0 {
            return Err(PaymentError::RefundExceedsCaptured { refundable });
        }
        Ok(want)
    }

    /// Checks opening a dispute of `amount` (all that is disputable when `None`).
    pub fn open_dispute(&self, amount: Option<Amount>) -> Result<i64, PaymentError> {
        if self.captured == 0 {
            return Err(PaymentError::PaymentNotCaptured);
        }
        if self.disputed_open > 0 {
            return Err(PaymentError::DisputeAlreadyOpen);
        }
        let disputable = self.refundable();
        let want = amount.map_or(disputable, Amount::minor);
        if want > disputable || want <= 0 {
            return Err(PaymentError::DisputeExceedsCaptured { disputable });
        }
        Ok(want)
    }

    /// The payment's amounts after reversing one of its steps, which moved
    /// `amount` minor units. Undoing a capture returns its amount to neither
    /// captured nor held (it is released); undoing a void holds the rest again.
    /// Errors: [`PaymentError::StepNotReversible`] when the step's effect is
    /// already built upon (captures after an authorization, refunds or disputes
    /// of a capture) or the authorization has expired.
    pub fn reverse_step(&self, step: ReversibleStep, amount: i64, now: DateTime<Utc>) -> Result<Self, PaymentError> {
        let mut p = *self;
        let refused = Err(PaymentError::StepNotReversible);
        match step {
            ReversibleStep::Authorization if p.captured == 0 && p.released == 0 => {
                p.released = p.authorized;
                p.release = Some(Release::Voided);
            }
            ReversibleStep::Capture if amount <= p.refundable() => {
                p.captured -= amount;
                p.released += amount;
                if p.remaining() == 0 && p.release.is_none() {
                    p.release = Some(Release::Voided);
                }
            }
            ReversibleStep::Void
                if p.release == Some(Release::Voided) && now < p.expires_at && p.released >= amount =>
            {
                p.released -= amount;
                p.release = None;
            }
            ReversibleStep::Refund if p.refunded >= amount => p.refunded -= amount,
            ReversibleStep::DisputeOpened if p.disputed_open == amount => p.disputed_open = 0,
            ReversibleStep::DisputeWon if p.disputed_open == 0 => p.disputed_open = amount,
            ReversibleStep::DisputeLost if p.disputed_open == 0 && p.charged_back >= amount => {
                p.charged_back -= amount;
                p.disputed_open = amount;
            }
            _ => return refused,
        }
        Ok(p)
    }

    /// Checks resolving the open dispute; returns its amount.
    pub fn resolve_dispute(&self) -> Result<i64, PaymentError> {
        match self.disputed_open {
            0 => Err(PaymentError::NoOpenDispute),
            open => Ok(open),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn amt(m: i64) -> Amount {
        Amount::from_minor(m).unwrap_or_else(|_| unreachable!())
    }

    fn auth(minor: i64) -> (PaymentFacts, DateTime<Utc>) {
        let now = Utc::now();
        (PaymentFacts::authorized(amt(minor), now + Duration::days(7)), now)
    }

    #[test]
    fn partial_captures_up_to_the_authorized_amount() {
        let (mut p, now) = auth(1000);
        assert_eq!(p.state(now), PaymentState::Authorized);
        p.captured += p.capture(Some(amt(400)), now).unwrap_or(0);
        assert_eq!(p.state(now), PaymentState::PartiallyCaptured);
        assert_eq!(p.capture(Some(amt(601)), now), Err(PaymentError::CaptureExceedsAuthorization { remaining: 600 }));
        p.captured += p.capture(None, now).unwrap_or(0);
        assert_eq!((p.captured, p.state(now)), (1000, PaymentState::Captured));
        assert_eq!(p.capture(None, now), Err(PaymentError::CaptureExceedsAuthorization { remaining: 0 }));
        assert_eq!(p.void(), Err(PaymentError::NothingToVoid));
    }

    #[test]
    fn capture_after_void_and_double_void_are_refused() {
        let (mut p, now) = auth(1000);
        p.released = p.void().unwrap_or(0);
        p.release = Some(Release::Voided);
        assert_eq!(p.state(now), PaymentState::Voided);
        assert_eq!(p.capture(None, now), Err(PaymentError::AuthorizationVoided));
        assert_eq!(p.void(), Err(PaymentError::AlreadyVoided));
    }

    #[test]
    fn expired_holds_stop_counting_before_the_sweep() {
        let (p, now) = auth(1000);
        let later = p.expires_at + Duration::seconds(1);
        assert_eq!(p.live_pending(now), 1000);
        assert_eq!(p.live_pending(later), 0);
        assert_eq!(p.state(later), PaymentState::Expired);
        assert_eq!(p.capture(None, later), Err(PaymentError::AuthorizationExpired));
        assert_eq!(p.expire(now), Err(PaymentError::NotYetExpired));
        assert_eq!(p.expire(later), Ok(1000));
    }

    #[test]
    fn refunds_stop_at_what_was_captured() {
        let (mut p, now) = auth(1000);
        p.captured = 700;
        p.released = 300;
        p.release = Some(Release::Voided);
        p.refunded += p.refund(Some(amt(200))).unwrap_or(0);
        assert_eq!(p.state(now), PaymentState::PartiallyRefunded);
        assert_eq!(p.refund(Some(amt(501))), Err(PaymentError::RefundExceedsCaptured { refundable: 500 }));
        p.refunded += p.refund(None).unwrap_or(0);
        assert_eq!(p.state(now), PaymentState::Refunded);
        assert_eq!(p.refund(None), Err(PaymentError::RefundExceedsCaptured { refundable: 0 }));
    }

    #[test]
    fn reversing_steps_moves_the_amounts_back_or_is_refused() {
        let (mut p, now) = auth(1000);
        assert_eq!(
            p.reverse_step(ReversibleStep::Authorization, 1000, now).map(|q| q.state(now)),
            Ok(PaymentState::Voided)
        );
        p.captured = 600;
        assert_eq!(p.reverse_step(ReversibleStep::Authorization, 1000, now), Err(PaymentError::StepNotReversible));
        let undone = p.reverse_step(ReversibleStep::Capture, 600, now).unwrap_or(p);
        assert_eq!((undone.captured, undone.released, undone.remaining()), (0, 600, 400));
        p.refunded = 500;
        assert_eq!(p.reverse_step(ReversibleStep::Capture, 600, now), Err(PaymentError::StepNotReversible));
        assert_eq!(p.reverse_step(ReversibleStep::Refund, 500, now).map(|q| q.refunded), Ok(0));
        let later = p.expires_at + Duration::seconds(1);
        p.release = Some(Release::Voided);
        p.released = 400;
        assert_eq!(p.reverse_step(ReversibleStep::Void, 400, later), Err(PaymentError::StepNotReversible));
        assert_eq!(p.reverse_step(ReversibleStep::Void, 400, now).map(|q| q.remaining()), Ok(400));
    }

    #[test]
    fn disputes_need_captured_money_and_hold_it_from_refunds() {
        let (mut p, now) = auth(1000);
        assert_eq!(p.open_dispute(None), Err(PaymentError::PaymentNotCaptured));
        p.captured = 1000;
        p.disputed_open = p.open_dispute(Some(amt(600))).unwrap_or(0);
        assert_eq!(p.state(now), PaymentState::Disputed);
        assert_eq!(p.open_dispute(None), Err(PaymentError::DisputeAlreadyOpen));
        assert_eq!(p.refund(Some(amt(401))), Err(PaymentError::RefundExceedsCaptured { refundable: 400 }));
        assert_eq!(p.resolve_dispute(), Ok(600));
        p.charged_back = p.disputed_open;
        p.disputed_open = 0;
        assert_eq!(p.state(now), PaymentState::ChargedBack);
        assert_eq!(p.resolve_dispute(), Err(PaymentError::NoOpenDispute));
    }
}
