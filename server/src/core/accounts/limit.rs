//! Balance limits: how far each account's balance may go, and the check every
//! posting passes under the balance row locks.
//!
//! A [`LimitPolicy`] has an optional **lower bound** and an optional **upper
//! bound**, in signed minor units of the account's asset, on the account's
//! normal side (see [`Balance`]):
//!
//! - the lower bound is checked against `available` (posted less pending
//!   outflow), so pending debits count and a hold cannot be spent twice;
//!   `0` means no overdraft, a negative bound is an overdraft limit;
//! - the upper bound is checked against posted plus pending inflow, the most
//!   the balance can reach once everything pending posts.
//!
//! A posting is refused when a figure ends past its bound **and** the posting
//! moved that figure further that way, as TigerBeetle's
//! `debits_must_not_exceed_credits`: a credit to an account already below its
//! lower bound improves it and is let through ([`check`]).
//!
//! Where an account's policy comes from, first match wins ([`resolve`]): its
//! own policy; the default for its (code, asset); the built-in rule, which
//! bounds a merchant's credit-normal accounts below at 0 and its debit-normal
//! accounts above at 0 (a merchant can never borrow from the platform through
//! its own accounts); platform accounts are unbounded.
//!
//! Pure: no database. The write path reads the stored policies after it has
//! locked the balance rows and calls [`check`] and [`check_guard`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::money::format_minor;
use crate::domain::{
    AccountCode, AccountId, AssetCode, Balance, Direction, DomainError, MerchantId, NormalBalance, Owner,
    TransactionKind,
};

/// Lower and upper bound of one account, signed minor units of its asset;
/// `None` is unbounded on that side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitPolicy {
    /// Least `available` may be: 0 for no overdraft, negative for an overdraft limit.
    pub lower_minor: Option<i64>,
    /// Most posted plus pending inflow may be.
    pub upper_minor: Option<i64>,
}

impl LimitPolicy {
    /// No bound on either side (the platform's clearing and revenue accounts).
    pub const UNBOUNDED: LimitPolicy = LimitPolicy { lower_minor: None, upper_minor: None };

    /// A policy with these bounds. Errors: [`DomainError::LimitBoundsInvalid`]
    /// when both are given and the lower is above the upper (no balance could
    /// satisfy it).
    pub fn new(lower_minor: Option<i64>, upper_minor: Option<i64>) -> Result<Self, DomainError> {
        if let (Some(lower), Some(upper)) = (lower_minor, upper_minor)
            && lower > upper
        {
            return Err(DomainError::LimitBoundsInvalid { lower, upper });
        }
        Ok(Self { lower_minor, upper_minor })
    }

    /// The built-in policy of an account nobody set one for: a merchant's
    /// credit-normal account may not go below 0, its debit-normal account may
    /// not go above 0; the platform's accounts are unbounded.
    pub fn built_in(owner: Owner, normal: NormalBalance) -> Self {
        match (owner, normal) {
            (Owner::Platform | Owner::PlatformFor(_), _) => LimitPolicy::UNBOUNDED,
            (Owner::Merchant(_), Direction::Credit) => LimitPolicy { lower_minor: Some(0), upper_minor: None },
            (Owner::Merchant(_), Direction::Debit) => LimitPolicy { lower_minor: None, upper_minor: Some(0) },
        }
    }
}

/// Where the policy in force on an account comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// Set on the account itself (`setBalanceLimit(accountId)`).
    Account,
    /// The default for the account's code and asset.
    Default,
    /// The built-in rule for merchant accounts.
    BuiltIn,
    /// None: a platform account with no policy, unbounded.
    None,
}

/// A policy as stored, with the ledger sequence number it took effect after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLimit {
    /// The bounds.
    pub policy: LimitPolicy,
    /// Every transaction with a greater sequence number was checked against it.
    pub since_seq: i64,
}

/// The policy in force on one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimit {
    /// The bounds.
    pub policy: LimitPolicy,
    /// Where they come from.
    pub source: LimitSource,
    /// The sequence number a stored policy took effect after; `None` for the
    /// built-in rule and for none.
    pub since_seq: Option<i64>,
    /// Decimal places of the account's asset, to state bounds as decimals.
    pub exponent: u32,
}

/// The policy in force: the account's own, else the default for its code and
/// asset, else the built-in rule (see the module doc).
pub fn resolve(
    own: Option<StoredLimit>,
    default: Option<StoredLimit>,
    owner: Owner,
    normal: NormalBalance,
    exponent: u32,
) -> AccountLimit {
    let stored =
        |s: StoredLimit, source| AccountLimit { policy: s.policy, source, since_seq: Some(s.since_seq), exponent };
    match (own, default, owner) {
        (Some(s), _, _) => stored(s, LimitSource::Account),
        (None, Some(s), _) => stored(s, LimitSource::Default),
        (None, None, Owner::Merchant(_)) => AccountLimit {
            policy: LimitPolicy::built_in(owner, normal),
            source: LimitSource::BuiltIn,
            since_seq: None,
            exponent,
        },
        (None, None, Owner::Platform | Owner::PlatformFor(_)) => {
            AccountLimit { policy: LimitPolicy::UNBOUNDED, source: LimitSource::None, since_seq: None, exponent }
        }
    }
}

/// Which bound a balance went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BoundSide {
    /// `available` fell below the lower bound.
    Lower,
    /// Posted plus pending inflow rose above the upper bound.
    Upper,
}

impl BoundSide {
    /// `LOWER` or `UPPER`, as sent in error extensions.
    pub fn as_str(self) -> &'static str {
        match self {
            BoundSide::Lower => "LOWER",
            BoundSide::Upper => "UPPER",
        }
    }
}

/// The account a breach is on, as a refusal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitedAccount {
    /// Its id.
    pub id: AccountId,
    /// Its code, e.g. `available`.
    pub code: AccountCode,
    /// Its owner's merchant id (the nil UUID for the platform).
    pub owner: MerchantId,
    /// Its asset.
    pub asset: AssetCode,
    /// Its normal side.
    pub normal: NormalBalance,
}

/// A posting that would take a balance past a bound: which account, which
/// bound, and the figure the posting would have reached (minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitBreach {
    /// The account.
    pub account: LimitedAccount,
    /// Decimal places of its asset.
    pub exponent: u32,
    /// The bound passed.
    pub side: BoundSide,
    /// The bound, signed minor units.
    pub bound_minor: i64,
    /// The figure the posting would have reached (available for the lower
    /// bound, posted plus pending inflow for the upper), signed minor units,
    /// clamped to 64 bits.
    pub balance_minor: i64,
}

impl LimitBreach {
    /// The bound as a decimal string in the asset's units (`"-50.00"`).
    pub fn bound(&self) -> String {
        format_minor(self.bound_minor, self.exponent)
    }

    /// The would-be balance as a decimal string in the asset's units.
    pub fn balance(&self) -> String {
        format_minor(self.balance_minor, self.exponent)
    }
}

impl fmt::Display for LimitBreach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (figure, side) = match self.side {
            BoundSide::Lower => ("available", "lower"),
            BoundSide::Upper => ("posted plus pending inflow", "upper"),
        };
        write!(
            f,
            "account {} (`{}` of {}) would reach {} {} {} ({} minor units), past its {} bound {} ({} minor units)",
            self.account.id,
            self.account.code,
            self.account.owner,
            figure,
            self.balance(),
            self.account.asset,
            self.balance_minor,
            side,
            self.bound(),
            self.bound_minor,
        )
    }
}

/// The figure the lower bound is checked against: `available`.
pub fn lower_figure(b: &Balance, normal: NormalBalance) -> i128 {
    b.available(normal)
}

/// The figure the upper bound is checked against: posted plus pending inflow
/// (pending credits of a credit-normal account, pending debits of a debit-normal one).
pub fn upper_figure(b: &Balance, normal: NormalBalance) -> i128 {
    let inflow = match normal {
        Direction::Credit => b.credits_pending,
        Direction::Debit => b.debits_pending,
    };
    b.posted(normal) + i128::from(inflow)
}

fn clamp(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v > 0 { i64::MAX } else { i64::MIN })
}

/// Checks one account's change from `before` to `after` against `limit`.
/// Errors: the [`LimitBreach`] (lower bound first) when a figure ends past its
/// bound and the change moved it that way.
pub fn check(
    account: &LimitedAccount,
    limit: &AccountLimit,
    before: &Balance,
    after: &Balance,
) -> Result<(), Box<LimitBreach>> {
    if let Some(bound) = limit.policy.lower_minor {
        let (was, now) = (lower_figure(before, account.normal), lower_figure(after, account.normal));
        if now < i128::from(bound) && now < was {
            return Err(breach(account, limit, BoundSide::Lower, bound, now));
        }
    }
    if let Some(bound) = limit.policy.upper_minor {
        let (was, now) = (upper_figure(before, account.normal), upper_figure(after, account.normal));
        if now > i128::from(bound) && now > was {
            return Err(breach(account, limit, BoundSide::Upper, bound, now));
        }
    }
    Ok(())
}

/// Checks a payer guarded by its draft (`no_overdraft`: the payer of a payout,
/// refund or deal) against its lower bound, or against 0 when its policy sets
/// none: the guard says the payer must hold the money, and only an explicit
/// overdraft limit may loosen that. Errors: the breach (the write path answers
/// it with `INSUFFICIENT_FUNDS`, as before limits existed).
pub fn check_guard(
    account: &LimitedAccount,
    limit: &AccountLimit,
    before: &Balance,
    after: &Balance,
) -> Result<(), Box<LimitBreach>> {
    let bound = limit.policy.lower_minor.unwrap_or(0);
    let (was, now) = (lower_figure(before, account.normal), lower_figure(after, account.normal));
    if now < i128::from(bound) && now < was {
        return Err(breach(account, limit, BoundSide::Lower, bound, now));
    }
    Ok(())
}

fn breach(account: &LimitedAccount, limit: &AccountLimit, side: BoundSide, bound: i64, now: i128) -> Box<LimitBreach> {
    Box::new(LimitBreach {
        account: account.clone(),
        exponent: limit.exponent,
        side,
        bound_minor: bound,
        balance_minor: clamp(now),
    })
}

/// True for postings that are exempt from balance limits: chargebacks (a
/// dispute opened, a lost dispute with its fee), which are the card network's
/// word and happen whether the merchant has the money or not.
pub fn exempt(kind: TransactionKind) -> bool {
    matches!(kind, TransactionKind::DisputeOpened | TransactionKind::DisputeLost)
}

/// What a payout may draw on: `available` above `max(lower, 0)` (the reserve
/// is the payout's own rule). Errors: the breach when `available` is already
/// below the lower bound (a chargeback took it there: no payout until it
/// recovers).
pub fn payout_headroom(
    account: &LimitedAccount,
    limit: &AccountLimit,
    balance: &Balance,
) -> Result<i128, Box<LimitBreach>> {
    let available = lower_figure(balance, account.normal);
    let floor = limit.policy.lower_minor.unwrap_or(0);
    if available < i128::from(floor) {
        return Err(breach(account, limit, BoundSide::Lower, floor, available));
    }
    Ok(available - i128::from(floor.max(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(normal: NormalBalance) -> LimitedAccount {
        LimitedAccount {
            id: AccountId(uuid::Uuid::now_v7()),
            code: AccountCode::standard(AccountCode::AVAILABLE),
            owner: MerchantId::new(),
            asset: AssetCode::parse("USD").unwrap_or_else(|_| unreachable!()),
            normal,
        }
    }

    fn limit(lower: Option<i64>, upper: Option<i64>) -> AccountLimit {
        AccountLimit {
            policy: LimitPolicy { lower_minor: lower, upper_minor: upper },
            source: LimitSource::Account,
            since_seq: Some(0),
            exponent: 2,
        }
    }

    fn credits(posted: i64, debits: i64) -> Balance {
        Balance { credits_posted: posted, debits_posted: debits, ..Balance::default() }
    }

    #[test]
    fn a_debit_past_the_lower_bound_is_refused_with_the_figures() {
        let a = account(Direction::Credit);
        let l = limit(Some(-5000), None);
        assert_eq!(check(&a, &l, &credits(10_000, 0), &credits(10_000, 15_000)), Ok(()));
        let err = check(&a, &l, &credits(10_000, 0), &credits(10_000, 15_001)).err();
        let err = err.unwrap_or_else(|| unreachable!());
        assert_eq!((err.side, err.bound_minor, err.balance_minor), (BoundSide::Lower, -5000, -5001));
        assert_eq!((err.bound(), err.balance()), ("-50.00".to_owned(), "-50.01".to_owned()));
    }

    #[test]
    fn pending_debits_count_against_the_lower_bound() {
        let a = account(Direction::Credit);
        let l = limit(Some(0), None);
        let held = Balance { credits_posted: 100, debits_pending: 80, ..Balance::default() };
        let spend = Balance { debits_posted: 30, ..held };
        assert!(check(&a, &l, &held, &spend).is_err());
    }

    #[test]
    fn a_credit_to_an_account_below_its_bound_is_allowed_because_it_improves_it() {
        let a = account(Direction::Credit);
        let l = limit(Some(0), None);
        assert_eq!(check(&a, &l, &credits(0, 500), &credits(100, 500)), Ok(()));
        // A smaller debit that still leaves it below is refused: it moved the wrong way.
        assert!(check(&a, &l, &credits(0, 500), &credits(0, 501)).is_err());
    }

    #[test]
    fn the_upper_bound_counts_pending_inflow() {
        let a = account(Direction::Debit);
        let l = limit(None, Some(0));
        let inflow = Balance { debits_pending: 1, ..Balance::default() };
        let err = check(&a, &l, &Balance::default(), &inflow).err().map(|b| (b.side, b.balance_minor));
        assert_eq!(err, Some((BoundSide::Upper, 1)));
        // A credit makes a debit-normal account smaller: fine under an upper bound.
        let down = Balance { credits_posted: 10, ..Balance::default() };
        assert_eq!(check(&a, &l, &Balance::default(), &down), Ok(()));
    }

    #[test]
    fn an_unbounded_policy_allows_anything() {
        let a = account(Direction::Credit);
        assert_eq!(check(&a, &limit(None, None), &Balance::default(), &credits(0, i64::MAX)), Ok(()));
    }

    #[test]
    fn the_guard_uses_the_lower_bound_or_zero() {
        let a = account(Direction::Credit);
        let overdraft = limit(Some(-100), None);
        assert_eq!(check_guard(&a, &overdraft, &credits(0, 0), &credits(0, 100)), Ok(()));
        assert!(check_guard(&a, &overdraft, &credits(0, 0), &credits(0, 101)).is_err());
        assert!(check_guard(&a, &limit(None, None), &credits(0, 0), &credits(0, 1)).is_err());
    }

    #[test]
    fn policies_come_from_the_account_then_the_default_then_the_built_in_rule() {
        let m = Owner::Merchant(MerchantId::new());
        let own = StoredLimit { policy: LimitPolicy { lower_minor: Some(-1), upper_minor: None }, since_seq: 7 };
        let def = StoredLimit { policy: LimitPolicy::UNBOUNDED, since_seq: 3 };
        let r = resolve(Some(own), Some(def), m, Direction::Credit, 2);
        assert_eq!((r.source, r.since_seq, r.policy.lower_minor), (LimitSource::Account, Some(7), Some(-1)));
        assert_eq!(resolve(None, Some(def), m, Direction::Credit, 2).source, LimitSource::Default);
        let built_in = resolve(None, None, m, Direction::Credit, 2);
        assert_eq!((built_in.source, built_in.policy.lower_minor), (LimitSource::BuiltIn, Some(0)));
        assert_eq!(resolve(None, None, m, Direction::Debit, 2).policy.upper_minor, Some(0));
        let platform = resolve(None, None, Owner::Platform, Direction::Debit, 2);
        assert_eq!((platform.source, platform.policy), (LimitSource::None, LimitPolicy::UNBOUNDED));
    }

    #[test]
    fn a_lower_bound_above_the_upper_is_refused() {
        assert_eq!(LimitPolicy::new(Some(5), Some(4)), Err(DomainError::LimitBoundsInvalid { lower: 5, upper: 4 }));
        assert!(LimitPolicy::new(Some(-5), Some(-5)).is_ok());
    }

    #[test]
    fn a_payout_pays_above_the_floor_and_nothing_while_below_the_bound() {
        let a = account(Direction::Credit);
        assert_eq!(payout_headroom(&a, &limit(Some(0), None), &credits(1000, 0)), Ok(1000));
        assert_eq!(payout_headroom(&a, &limit(Some(-500), None), &credits(1000, 0)), Ok(1000));
        assert_eq!(payout_headroom(&a, &limit(Some(200), None), &credits(1000, 0)), Ok(800));
        assert_eq!(payout_headroom(&a, &limit(Some(-500), None), &credits(0, 30)), Ok(-30));
        let below = payout_headroom(&a, &limit(Some(0), None), &credits(0, 30)).err();
        assert_eq!(below.map(|b| b.balance_minor), Some(-30));
    }

    #[test]
    fn only_chargebacks_are_exempt() {
        assert!(exempt(TransactionKind::DisputeOpened));
        assert!(exempt(TransactionKind::DisputeLost));
        assert!(!exempt(TransactionKind::Reversal));
        assert!(!exempt(TransactionKind::PayoutCreated));
    }
}
