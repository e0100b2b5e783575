//! Payment rules: how a payment received and a payout sent become balanced
//! transactions on the chart of accounts.
//!
//! `recordPayment` — the processor has collected `gross` from a buyer for the
//! merchant; the platform keeps `fee`:
//!
//! | account | owner | debit | credit |
//! |---|---|---|---|
//! | `processor_clearing` | platform | gross | |
//! | `available` | merchant | | gross − fee |
//! | `fee_revenue` | platform | | fee |
//!
//! `recordPayout` — the platform sends `amount` to the merchant's bank; it may not
//! exceed the merchant's available balance:
//!
//! | account | owner | debit | credit |
//! |---|---|---|---|
//! | `available` | merchant | amount | |
//! | `bank` | platform | | amount |

use chrono::{DateTime, Utc};

use crate::domain::transaction::validate_metadata;
use crate::domain::{
    AccountCode, AccountRef, Amount, AssetCode, Direction, DomainError, EntryDraft, Layer, MerchantId, Owner,
    TransactionDraft, TransactionKind,
};

/// The common, optional parts of a payment-style request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Annotations {
    /// The caller's reference.
    pub external_ref: Option<String>,
    /// A JSON object; `{}` when absent.
    pub metadata: Option<serde_json::Value>,
    /// When it happened, if not now.
    pub effective_at: Option<DateTime<Utc>>,
}

fn account(owner: Owner, code: &'static str) -> AccountRef {
    AccountRef::Code { owner, code: AccountCode::standard(code) }
}

fn entry(account: AccountRef, asset: &AssetCode, direction: Direction, amount: Amount) -> EntryDraft {
    EntryDraft { account, asset: asset.clone(), direction, amount, layer: Layer::Posted }
}

/// Builds a payment received for `merchant`: `gross` in minor units of `asset`,
/// of which the platform keeps `fee` (zero or absent for none).
///
/// Errors: [`DomainError::FeeExceedsGross`] (a fee equal to the gross is allowed
/// and leaves the merchant nothing), [`DomainError::MetadataInvalid`].
pub fn record_payment(
    merchant: MerchantId,
    asset: &AssetCode,
    gross: Amount,
    fee: Option<Amount>,
    notes: Annotations,
) -> Result<TransactionDraft, DomainError> {
    let fee_minor = fee.map_or(0, Amount::minor);
    if fee_minor > gross.minor() {
        return Err(DomainError::FeeExceedsGross);
    }
    let owner = Owner::Merchant(merchant);
    let mut entries =
        vec![entry(account(Owner::Platform, AccountCode::PROCESSOR_CLEARING), asset, Direction::Debit, gross)];
    if let Ok(net) = Amount::from_minor(gross.minor() - fee_minor) {
        entries.push(entry(account(owner, AccountCode::AVAILABLE), asset, Direction::Credit, net));
    }
    if let Some(fee) = fee {
        entries.push(entry(account(Owner::Platform, AccountCode::FEE_REVENUE), asset, Direction::Credit, fee));
    }
    draft(merchant, TransactionKind::Payment, entries, vec![], notes)
}

/// Builds a payout of `amount` minor units of `asset` to `merchant`, guarded so it
/// cannot take the merchant's available balance below zero.
///
/// Errors: [`DomainError::MetadataInvalid`]; the ledger returns
/// [`DomainError::InsufficientFunds`] when it applies the draft.
pub fn record_payout(
    merchant: MerchantId,
    asset: &AssetCode,
    amount: Amount,
    notes: Annotations,
) -> Result<TransactionDraft, DomainError> {
    let available = account(Owner::Merchant(merchant), AccountCode::AVAILABLE);
    let entries = vec![
        entry(available.clone(), asset, Direction::Debit, amount),
        entry(account(Owner::Platform, AccountCode::BANK), asset, Direction::Credit, amount),
    ];
    draft(merchant, TransactionKind::Payout, entries, vec![(available, asset.clone())], notes)
}

/// Builds and validates a draft from its parts (shared by the payment, deal
/// and payout rules).
pub(crate) fn draft(
    merchant: MerchantId,
    kind: TransactionKind,
    entries: Vec<EntryDraft>,
    no_overdraft: Vec<(AccountRef, AssetCode)>,
    notes: Annotations,
) -> Result<TransactionDraft, DomainError> {
    let metadata = notes.metadata.unwrap_or_else(|| serde_json::json!({}));
    validate_metadata(&metadata)?;
    let d = TransactionDraft {
        external_ref: notes.external_ref,
        metadata,
        effective_at: notes.effective_at,
        no_overdraft,
        ..TransactionDraft::new(merchant, kind, entries)
    };
    d.validate()?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amt(m: i64) -> Amount {
        Amount::from_minor(m).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn payment_splits_gross_into_net_and_fee() {
        let brl = AssetCode::parse("BRL").unwrap_or_else(|_| unreachable!());
        let d = record_payment(MerchantId::new(), &brl, amt(7219), Some(amt(722)), Annotations::default())
            .unwrap_or_else(|_| unreachable!());
        let amounts: Vec<i64> = d.entries.iter().map(|e| e.amount.minor()).collect();
        assert_eq!(amounts, vec![7219, 6497, 722]);
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn fee_above_gross_is_rejected() {
        let brl = AssetCode::parse("BRL").unwrap_or_else(|_| unreachable!());
        let r = record_payment(MerchantId::new(), &brl, amt(100), Some(amt(101)), Annotations::default());
        assert_eq!(r.err(), Some(DomainError::FeeExceedsGross));
    }

    #[test]
    fn payout_guards_available() {
        let usd = AssetCode::parse("USD").unwrap_or_else(|_| unreachable!());
        let d =
            record_payout(MerchantId::new(), &usd, amt(5), Annotations::default()).unwrap_or_else(|_| unreachable!());
        assert_eq!(d.no_overdraft.len(), 1);
        assert_eq!(d.entries[0].direction, Direction::Debit);
    }
}

/// Builds a deal between two merchants: the buyer gives `buyer_gives` (money,
/// typically) to the seller and the seller gives `seller_gives` (goods, such as 1
/// `STAFF`) to the buyer, all in one transaction, between their `available`
/// accounts. Each asset balances on its own. Guarded: neither side may give more
/// of an asset than it holds.
///
/// Errors: [`DomainError::TooFewEntries`] when one side gives nothing,
/// [`DomainError::MetadataInvalid`], [`DomainError::DealWithItself`].
pub fn record_deal(
    seller: MerchantId,
    buyer: MerchantId,
    buyer_gives: &[(AssetCode, Amount)],
    seller_gives: &[(AssetCode, Amount)],
    notes: Annotations,
) -> Result<TransactionDraft, DomainError> {
    if seller == buyer {
        return Err(DomainError::DealWithItself);
    }
    if buyer_gives.is_empty() || seller_gives.is_empty() {
        return Err(DomainError::TooFewEntries { min: 2 });
    }
    let (s, b) = (Owner::Merchant(seller), Owner::Merchant(buyer));
    let mut entries = Vec::new();
    let mut guards = Vec::new();
    for (from, to, gives) in [(b, s, buyer_gives), (s, b, seller_gives)] {
        for (asset, amount) in gives {
            entries.push(entry(account(from, AccountCode::AVAILABLE), asset, Direction::Debit, *amount));
            entries.push(entry(account(to, AccountCode::AVAILABLE), asset, Direction::Credit, *amount));
            let guard = (account(from, AccountCode::AVAILABLE), asset.clone());
            if !guards.contains(&guard) {
                guards.push(guard);
            }
        }
    }
    let d = draft(seller, TransactionKind::Deal, entries, guards, notes)?;
    Ok(TransactionDraft { counterparty: Some(buyer), ..d })
}

/// Life-cycle drafts: authorization, capture and release (void or expiry).
///
/// | step | account | owner | layer | debit | credit |
/// |---|---|---|---|---|---|
/// | authorize | `processor_clearing` | platform | hold | amount | |
/// | | `available` | merchant | hold | | amount |
/// | capture | `processor_clearing` | platform | release | | amount |
/// | | `available` | merchant | release | amount | |
/// | | `processor_clearing` | platform | posted | amount | |
/// | | `available` | merchant | posted | | net |
/// | | `fee_revenue` | platform | posted | | fee |
/// | void / expire | `processor_clearing` | platform | release | | rest |
/// | | `available` | merchant | release | rest | |
/// | refund | `available` | merchant | posted | amount − fee back | |
/// | | `fee_revenue` | platform | posted | fee back | |
/// | | `processor_clearing` | platform | posted | | amount |
/// | open dispute | `available` | merchant | posted | amount | |
/// | | `disputes` | platform | posted | | amount |
/// | dispute won | `disputes` | platform | posted | amount | |
/// | | `available` | merchant | posted | | amount |
/// | dispute lost | `disputes` | platform | posted | amount | |
/// | | `processor_clearing` | platform | posted | | amount |
/// | | `available` / `fee_revenue` | merchant / platform | posted | dispute fee | dispute fee |
///
/// A release is written on the same side as the hold it takes back; the
/// layer, not the side, says it subtracts (see [`Layer`]).
pub mod lifecycle_drafts {
    use uuid::Uuid;

    use super::*;
    use crate::core::payments::fee::FeeSplit;

    fn held(
        owner: Owner,
        code: &'static str,
        asset: &AssetCode,
        direction: Direction,
        amount: Amount,
        layer: Layer,
    ) -> EntryDraft {
        EntryDraft { account: account(owner, code), asset: asset.clone(), direction, amount, layer }
    }

    fn pair(merchant: MerchantId, asset: &AssetCode, amount: Amount, layer: Layer) -> [EntryDraft; 2] {
        [
            held(Owner::Platform, AccountCode::PROCESSOR_CLEARING, asset, Direction::Debit, amount, layer),
            held(Owner::Merchant(merchant), AccountCode::AVAILABLE, asset, Direction::Credit, amount, layer),
        ]
    }

    fn with_payment(d: Result<TransactionDraft, DomainError>, payment: Uuid) -> Result<TransactionDraft, DomainError> {
        d.map(|d| TransactionDraft { payment: Some(payment), ..d })
    }

    /// Holds `amount` pending for the merchant.
    pub fn authorize(
        merchant: MerchantId,
        asset: &AssetCode,
        amount: Amount,
        payment: Uuid,
        notes: Annotations,
    ) -> Result<TransactionDraft, DomainError> {
        with_payment(
            draft(
                merchant,
                TransactionKind::Authorization,
                pair(merchant, asset, amount, Layer::Hold).into(),
                vec![],
                notes,
            ),
            payment,
        )
    }

    /// Releases `amount` from the hold and posts it, split into net and fee.
    pub fn capture(
        merchant: MerchantId,
        asset: &AssetCode,
        amount: Amount,
        split: FeeSplit,
        payment: Uuid,
    ) -> Result<TransactionDraft, DomainError> {
        let mut entries: Vec<EntryDraft> = pair(merchant, asset, amount, Layer::Release).into();
        entries.push(held(
            Owner::Platform,
            AccountCode::PROCESSOR_CLEARING,
            asset,
            Direction::Debit,
            amount,
            Layer::Posted,
        ));
        if let Ok(net) = Amount::from_minor(split.net_minor) {
            entries.push(held(
                Owner::Merchant(merchant),
                AccountCode::AVAILABLE,
                asset,
                Direction::Credit,
                net,
                Layer::Posted,
            ));
        }
        if let Ok(fee) = Amount::from_minor(split.fee_minor) {
            entries.push(held(Owner::Platform, AccountCode::FEE_REVENUE, asset, Direction::Credit, fee, Layer::Posted));
        }
        with_payment(draft(merchant, TransactionKind::Capture, entries, vec![], Annotations::default()), payment)
    }

    fn posted(
        owner: Owner,
        code: &'static str,
        asset: &AssetCode,
        direction: Direction,
        minor: i64,
    ) -> Option<EntryDraft> {
        Amount::from_minor(minor).ok().map(|a| held(owner, code, asset, direction, a, Layer::Posted))
    }

    /// Returns `amount` of captured money to the buyer through the processor.
    /// The merchant gives back `amount − fee_back` and the platform `fee_back`
    /// (its share of the fee, when the schedule returns fees). Guarded: the
    /// merchant's available balance must cover its part (`INSUFFICIENT_FUNDS`).
    pub fn refund(
        merchant: MerchantId,
        asset: &AssetCode,
        amount: Amount,
        fee_back: i64,
        payment: Uuid,
    ) -> Result<TransactionDraft, DomainError> {
        let m = Owner::Merchant(merchant);
        let entries: Vec<EntryDraft> = [
            posted(m, AccountCode::AVAILABLE, asset, Direction::Debit, amount.minor() - fee_back),
            posted(Owner::Platform, AccountCode::FEE_REVENUE, asset, Direction::Debit, fee_back),
            posted(Owner::Platform, AccountCode::PROCESSOR_CLEARING, asset, Direction::Credit, amount.minor()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let guard = vec![(account(m, AccountCode::AVAILABLE), asset.clone())];
        let guard = if amount.minor() > fee_back { guard } else { vec![] };
        with_payment(draft(merchant, TransactionKind::Refund, entries, guard, Annotations::default()), payment)
    }

    /// Opens a chargeback: withdraws `amount` from the merchant into the
    /// platform's `disputes` account. Not guarded: `available` may go negative,
    /// the merchant then owes the platform (as on Stripe).
    pub fn open_dispute(
        merchant: MerchantId,
        asset: &AssetCode,
        amount: Amount,
        payment: Uuid,
    ) -> Result<TransactionDraft, DomainError> {
        let entries = vec![
            held(Owner::Merchant(merchant), AccountCode::AVAILABLE, asset, Direction::Debit, amount, Layer::Posted),
            held(Owner::Platform, AccountCode::DISPUTES, asset, Direction::Credit, amount, Layer::Posted),
        ];
        with_payment(draft(merchant, TransactionKind::DisputeOpened, entries, vec![], Annotations::default()), payment)
    }

    /// Resolves a chargeback of `amount`. Won: back to the merchant. Lost: out to
    /// the buyer through the processor, and the merchant pays `dispute_fee` (minor
    /// units, may be 0) to `fee_revenue`.
    pub fn resolve_dispute(
        merchant: MerchantId,
        asset: &AssetCode,
        amount: Amount,
        won: bool,
        dispute_fee: i64,
        payment: Uuid,
    ) -> Result<TransactionDraft, DomainError> {
        let m = Owner::Merchant(merchant);
        let mut entries =
            vec![held(Owner::Platform, AccountCode::DISPUTES, asset, Direction::Debit, amount, Layer::Posted)];
        let kind = if won {
            entries.push(held(m, AccountCode::AVAILABLE, asset, Direction::Credit, amount, Layer::Posted));
            TransactionKind::DisputeWon
        } else {
            entries.push(held(
                Owner::Platform,
                AccountCode::PROCESSOR_CLEARING,
                asset,
                Direction::Credit,
                amount,
                Layer::Posted,
            ));
            entries.extend(posted(m, AccountCode::AVAILABLE, asset, Direction::Debit, dispute_fee));
            entries.extend(posted(Owner::Platform, AccountCode::FEE_REVENUE, asset, Direction::Credit, dispute_fee));
            TransactionKind::DisputeLost
        };
        with_payment(draft(merchant, kind, entries, vec![], Annotations::default()), payment)
    }

    /// Releases the uncaptured rest (`kind` is `Void` or `Expiry`).
    pub fn release(
        merchant: MerchantId,
        asset: &AssetCode,
        rest: Amount,
        kind: TransactionKind,
        payment: Uuid,
    ) -> Result<TransactionDraft, DomainError> {
        with_payment(
            draft(merchant, kind, pair(merchant, asset, rest, Layer::Release).into(), vec![], Annotations::default()),
            payment,
        )
    }
}
