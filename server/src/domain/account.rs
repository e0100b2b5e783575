//! Accounts, their owners, the chart of accounts and the balance arithmetic.
//!
//! Every account belongs to an [`Owner`]: one merchant, or the platform itself.
//! An account holds exactly one asset and has a *normal balance* (debit or credit)
//! that says which side increases it, as in any double-entry chart of accounts.
//!
//! The standard accounts are created lazily, per owner and asset, the first time a
//! transaction uses them; their codes and normal balances are fixed here
//! ([`AccountCode::standard_normal_balance`]). See the README's chart of accounts.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DomainError, MerchantId};

/// Identifies an account. UUIDv7, so ids sort roughly by creation time; the
/// write path locks balance rows in ascending id order to avoid deadlocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountId(pub Uuid);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who an account belongs to, and in whose books (partition) it is kept.
///
/// The platform's accounts are a *control account* per code and asset, kept
/// as *subsidiary accounts*: one per merchant ([`Owner::PlatformFor`]), in
/// that merchant's partition, plus the platform's own ([`Owner::Platform`])
/// for postings that belong to no merchant. So every entry of a merchant's
/// payment lives with the merchant, and no two merchants share a balance row.
/// The control account's balance is the sum of its subsidiary accounts (the
/// trial balance's `platform` lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Owner {
    /// The platform's own books (clearing, revenue, bank), for postings of
    /// no merchant; kept in the platform's partition (the nil UUID).
    Platform,
    /// A merchant's books: what the platform holds on its behalf.
    Merchant(MerchantId),
    /// The platform's subsidiary account for one merchant: the platform's
    /// side of that merchant's payments, kept in the merchant's partition.
    PlatformFor(MerchantId),
}

impl Owner {
    /// The owning merchant's id, [`MerchantId::PLATFORM`] (the nil UUID) for
    /// every platform account, subsidiary or not: what visibility checks and
    /// the event feed's `ownerId` use.
    pub fn merchant_id(self) -> MerchantId {
        match self {
            Owner::Platform | Owner::PlatformFor(_) => MerchantId::PLATFORM,
            Owner::Merchant(id) => id,
        }
    }

    /// Whose books hold the account: the `merchant_id` stored with it and its
    /// balance row (the partition key). The merchant for a merchant's own
    /// account and for the platform's subsidiary account for it; the nil UUID
    /// for the platform's own.
    pub fn partition(self) -> MerchantId {
        match self {
            Owner::Platform => MerchantId::PLATFORM,
            Owner::Merchant(id) | Owner::PlatformFor(id) => id,
        }
    }

    /// True for the platform's accounts, subsidiary or its own.
    pub fn is_platform(self) -> bool {
        matches!(self, Owner::Platform | Owner::PlatformFor(_))
    }

    /// The owner of a stored account: its `merchant_id` (partition) and its
    /// `platform` flag.
    pub fn stored(partition: MerchantId, platform: bool) -> Self {
        match (platform, partition == MerchantId::PLATFORM) {
            (_, true) => Owner::Platform,
            (true, false) => Owner::PlatformFor(partition),
            (false, false) => Owner::Merchant(partition),
        }
    }

    /// Where a posting of `merchant`'s transaction to this owner's account
    /// lands: the platform's accounts become its subsidiary account for the
    /// merchant (none for the platform's own postings).
    pub fn in_books_of(self, merchant: MerchantId) -> Self {
        match self {
            Owner::Platform if merchant != MerchantId::PLATFORM => Owner::PlatformFor(merchant),
            other => other,
        }
    }
}

/// Which side of an account an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Direction {
    /// Left side: increases debit-normal accounts (assets, expenses).
    Debit,
    /// Right side: increases credit-normal accounts (liabilities, revenue).
    Credit,
}

impl Direction {
    /// The other side; a reversal posts every entry on its opposite side.
    pub fn opposite(self) -> Self {
        match self {
            Direction::Debit => Direction::Credit,
            Direction::Credit => Direction::Debit,
        }
    }

    /// Storage form: `"debit"` or `"credit"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the storage form.
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

/// The side that increases an account.
pub type NormalBalance = Direction;

/// Longest account code, in characters.
pub const MAX_ACCOUNT_CODE_LEN: usize = 64;

/// An account's code within its owner and asset, such as `available` or
/// `fee_revenue`: 1 to [`MAX_ACCOUNT_CODE_LEN`] characters of `a-z`, `0-9`, `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountCode(String);

impl TryFrom<String> for AccountCode {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        Self::parse(&raw)
    }
}

impl From<AccountCode> for String {
    fn from(code: AccountCode) -> String {
        code.0
    }
}

impl AccountCode {
    /// Money the platform owes the merchant and may pay out (merchant, credit-normal).
    pub const AVAILABLE: &'static str = "available";
    /// Money in flight from the card processor to the platform (platform, debit-normal).
    pub const PROCESSOR_CLEARING: &'static str = "processor_clearing";
    /// The platform's fees earned (platform, credit-normal).
    pub const FEE_REVENUE: &'static str = "fee_revenue";
    /// The platform's bank account, from which payouts leave (platform, debit-normal).
    pub const BANK: &'static str = "bank";
    /// Money withdrawn from merchants under an open chargeback (platform, credit-normal).
    pub const DISPUTES: &'static str = "disputes";
    /// Money paid out to merchants but not yet arrived (platform, credit-normal).
    pub const PAYOUTS_IN_TRANSIT: &'static str = "payouts_in_transit";
    /// Goods brought onto or taken off the books, the counterpart of a merchant's
    /// stock of an item asset (platform, debit-normal).
    pub const GOODS_CLEARING: &'static str = "goods_clearing";
    /// The card processor's fees, taken out of its deposits (platform, debit-normal expense).
    pub const PROCESSOR_FEES: &'static str = "processor_fees";
    /// Bank movements the books cannot yet explain, written off by staff
    /// until they are (platform, debit-normal; holds either sign).
    pub const SUSPENSE: &'static str = "suspense";

    /// Parses and validates a code. Errors: [`DomainError::AccountCodeInvalid`].
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_ACCOUNT_CODE_LEN
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok { Ok(Self(raw.to_owned())) } else { Err(DomainError::AccountCodeInvalid(raw.to_owned())) }
    }

    /// A code known to be valid (the chart's constants).
    pub fn standard(code: &'static str) -> Self {
        Self(code.to_owned())
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for a code of the platform's chart, which a merchant's own
    /// account may not use (the platform's subsidiary account for the
    /// merchant, in the merchant's books, holds it).
    pub fn is_platform_chart(&self) -> bool {
        self.standard_normal_balance(Owner::Platform).is_some()
    }

    /// The normal balance of a standard account of this owner kind, or `None` when
    /// the code is not in the chart (such accounts must be opened explicitly).
    pub fn standard_normal_balance(&self, owner: Owner) -> Option<NormalBalance> {
        match (owner, self.0.as_str()) {
            (Owner::Merchant(_), Self::AVAILABLE) => Some(Direction::Credit),
            (
                Owner::Platform | Owner::PlatformFor(_),
                Self::PROCESSOR_CLEARING | Self::BANK | Self::GOODS_CLEARING | Self::PROCESSOR_FEES | Self::SUSPENSE,
            ) => Some(Direction::Debit),
            (
                Owner::Platform | Owner::PlatformFor(_),
                Self::FEE_REVENUE | Self::DISPUTES | Self::PAYOUTS_IN_TRANSIT,
            ) => Some(Direction::Credit),
            _ => None,
        }
    }
}

impl fmt::Display for AccountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The four running totals kept per account, in minor units of the account's asset
/// (TigerBeetle's vocabulary). Each total only ever grows on the posted side; the
/// pending totals hold amounts of pending transfers until they are posted or voided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Sum of posted debit entries.
    pub debits_posted: i64,
    /// Sum of posted credit entries.
    pub credits_posted: i64,
    /// Sum of pending debit entries.
    pub debits_pending: i64,
    /// Sum of pending credit entries.
    pub credits_pending: i64,
}

impl Balance {
    /// Posted balance, signed by the normal balance: credits − debits for a
    /// credit-normal account, debits − credits for a debit-normal one.
    pub fn posted(&self, normal: NormalBalance) -> i128 {
        signed(normal, self.debits_posted, self.credits_posted)
    }

    /// Pending balance: the posted balance as it will be once every pending
    /// transfer posts (posted plus pending, both sides), as in Modern Treasury.
    pub fn pending(&self, normal: NormalBalance) -> i128 {
        signed(normal, self.debits_posted, self.credits_posted)
            + signed(normal, self.debits_pending, self.credits_pending)
    }

    /// Available balance: what can be spent now, the posted balance less pending
    /// outflows (pending debits of a credit-normal account); pending inflows do not
    /// count until they post.
    pub fn available(&self, normal: NormalBalance) -> i128 {
        let outflow = match normal {
            Direction::Credit => self.debits_pending,
            Direction::Debit => self.credits_pending,
        };
        self.posted(normal) - i128::from(outflow)
    }

    /// Adds a posted entry. Errors: [`DomainError::AmountOverflow`] when a total
    /// would exceed `i64::MAX`; the balance is then unchanged.
    pub fn post(&mut self, direction: Direction, minor: i64) -> Result<(), DomainError> {
        self.apply(direction, super::Layer::Posted, minor)
    }

    /// Applies an entry of any layer: posted and hold entries add to the posted or
    /// pending total of their side; a release subtracts from the pending total.
    /// Errors: [`DomainError::AmountOverflow`], [`DomainError::PendingUnderflow`];
    /// the balance is unchanged on error.
    pub fn apply(&mut self, direction: Direction, layer: super::Layer, minor: i64) -> Result<(), DomainError> {
        use super::Layer;
        let total = match (layer, direction) {
            (Layer::Posted, Direction::Debit) => &mut self.debits_posted,
            (Layer::Posted, Direction::Credit) => &mut self.credits_posted,
            (_, Direction::Debit) => &mut self.debits_pending,
            (_, Direction::Credit) => &mut self.credits_pending,
        };
        *total = match layer {
            Layer::Release => total.checked_sub(minor).filter(|t| *t >= 0).ok_or(DomainError::PendingUnderflow)?,
            _ => total.checked_add(minor).ok_or(DomainError::AmountOverflow)?,
        };
        Ok(())
    }
}

fn signed(normal: NormalBalance, debits: i64, credits: i64) -> i128 {
    match normal {
        Direction::Debit => i128::from(debits) - i128::from(credits),
        Direction::Credit => i128::from(credits) - i128::from(debits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_follow_the_normal_side() {
        let mut b = Balance::default();
        b.post(Direction::Credit, 1000).unwrap_or_else(|_| unreachable!());
        b.post(Direction::Debit, 300).unwrap_or_else(|_| unreachable!());
        assert_eq!(b.posted(Direction::Credit), 700);
        assert_eq!(b.posted(Direction::Debit), -700);
        b.debits_pending = 200;
        assert_eq!(b.available(Direction::Credit), 500);
        assert_eq!(b.pending(Direction::Credit), 500);
    }

    #[test]
    fn posting_past_i64_is_an_error_not_a_wrap() {
        let mut b = Balance { credits_posted: i64::MAX - 1, ..Balance::default() };
        assert_eq!(b.post(Direction::Credit, 2), Err(DomainError::AmountOverflow));
        assert_eq!(b.credits_posted, i64::MAX - 1);
    }

    #[test]
    fn chart_of_accounts_knows_standard_codes() {
        let m = Owner::Merchant(MerchantId::new());
        assert_eq!(AccountCode::standard("available").standard_normal_balance(m), Some(Direction::Credit));
        assert_eq!(AccountCode::standard("bank").standard_normal_balance(Owner::Platform), Some(Direction::Debit));
        assert_eq!(AccountCode::standard("bank").standard_normal_balance(m), None);
        assert!(AccountCode::parse("Available").is_err());
        assert!(AccountCode::parse("").is_err());
    }
}

/// A point in an account's or a merchant's history, as Formance's
/// point-in-time (`pit`) and insertion-date (`oit`) queries name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// After the transaction with this number in the merchant's journal (its
    /// own transactions and the deals it is the counterparty of); for an
    /// account, its owner's journal (the platform's for the platform's own).
    Sequence(i64),
    /// The value date: counting every entry whose transaction is effective at
    /// or before this time, so a backdated transaction counts from its
    /// effective time even though it was recorded later.
    Effective(chrono::DateTime<chrono::Utc>),
    /// The knowledge time: what the books said at this moment, counting every
    /// entry whose transaction was recorded (`createdAt`) at or before it,
    /// whatever its effective time.
    Known(chrono::DateTime<chrono::Utc>),
}
