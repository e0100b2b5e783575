//! Transactions and their entries, and the rules every transaction obeys.
//!
//! A *transaction* is a set of *entries* (postings). Each entry moves a positive
//! [`Amount`] of one asset to the debit or credit side of one account. A
//! transaction is valid only if, for every asset it touches, its debits equal its
//! credits ([`TransactionDraft::validate`]). Posted transactions are never edited;
//! a mistake is undone by a *reversal* ([`TransactionDraft::reversal_of`]), a new
//! transaction with every entry on the opposite side.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AccountCode, AccountId, Amount, AssetCode, Direction, DomainError, MerchantId, Owner};

/// Most entries one transaction may have. Generous for split payments and fees,
/// small enough that one transaction never holds locks on thousands of rows.
pub const MAX_ENTRIES_PER_TRANSACTION: usize = 64;

/// Fewest entries one transaction may have: one debit and one credit.
pub const MIN_ENTRIES_PER_TRANSACTION: usize = 2;

/// Largest metadata object, in bytes of compact JSON. Metadata is for references
/// and labels, not documents.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Longest external reference or reversal reason, in characters.
pub const MAX_REFERENCE_LEN: usize = 500;

/// Identifies a transaction (UUIDv7). Order transactions by their database
/// sequence number, not by id or timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransactionId(pub Uuid);

impl TransactionId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for TransactionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which totals of an account an entry moves.
///
/// Posted entries move the posted totals. A *hold* adds to the pending total of
/// its side (an authorization); a *release* takes the same amount back out of
/// it (a capture moving it to posted, a void, an expiry), as TigerBeetle's
/// pending, post-pending and void-pending transfers do. Every transaction
/// balances per asset within each layer.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Layer {
    /// Settled money.
    Posted,
    /// Money held pending.
    Hold,
    /// A pending hold taken back out.
    Release,
}

impl Layer {
    /// Storage form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the storage form.
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

/// What a transaction records. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TransactionKind {
    /// A general balanced set of entries (`postTransaction`).
    Transfer,
    /// Money received on a merchant's behalf (`recordPayment`).
    Payment,
    /// Money sent to a merchant (`recordPayout`).
    Payout,
    /// The inverse of an earlier transaction (`reverseTransaction`).
    Reversal,
    /// A payment authorized: money held pending (`authorizePayment`).
    Authorization,
    /// Part or all of an authorization posted (`capturePayment`).
    Capture,
    /// The uncaptured rest of an authorization released (`voidAuthorization`).
    Void,
    /// The uncaptured rest of an expired authorization released by the sweeper.
    Expiry,
    /// Captured money returned to the buyer (`refundPayment`).
    Refund,
    /// A chargeback opened: money withdrawn from the merchant (`openDispute`).
    DisputeOpened,
    /// A chargeback won: money returned to the merchant (`resolveDispute`).
    DisputeWon,
    /// A chargeback lost: money returned to the buyer (`resolveDispute`).
    DisputeLost,
    /// An exchange between two merchants, possibly of several assets (`recordDeal`).
    Deal,
    /// A merchant's available balance moved into payouts in transit (`createPayout`).
    PayoutCreated,
    /// A payout arrived: in transit to the bank (`settlePayout`).
    PayoutSettled,
    /// A payout bounced: in transit back to available (`failPayout`).
    PayoutFailed,
    /// A processor's deposit arrived in the platform's bank: the captures it
    /// settles leave `processor_clearing` for `bank`, and the processor's fee
    /// taken out of the deposit goes to `processor_fees` (bank reconciliation).
    Settlement,
    /// A bank statement line nothing in the books explains, written off by
    /// staff between `bank` and `suspense` (bank reconciliation).
    BankWriteOff,
}

impl TransactionKind {
    /// Storage form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the storage form.
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

/// How an entry names its account: by id, or by owner and code (the standard
/// accounts are then created on first use for the entry's asset).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountRef {
    /// An existing account.
    Id(AccountId),
    /// The account `code` of `owner` in the entry's asset.
    Code {
        /// The owner.
        owner: Owner,
        /// The code within owner and asset.
        code: AccountCode,
    },
}

/// One entry of a draft transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDraft {
    /// The account posted to.
    pub account: AccountRef,
    /// The asset moved; must equal the account's asset.
    pub asset: AssetCode,
    /// Debit or credit.
    pub direction: Direction,
    /// Positive amount in minor units of `asset`.
    pub amount: Amount,
    /// Posted, or a pending hold or release.
    pub layer: Layer,
}

/// A transaction that has passed the domain rules but is not yet written.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionDraft {
    /// The merchant the transaction belongs to.
    pub merchant: MerchantId,
    /// What it records.
    pub kind: TransactionKind,
    /// The caller's reference (an order id, a processor's charge id).
    pub external_ref: Option<String>,
    /// A JSON object of at most [`MAX_METADATA_BYTES`].
    pub metadata: serde_json::Value,
    /// When the movement happened in the real world; may be in the past
    /// (backdated). `None` means at commit time.
    pub effective_at: Option<DateTime<Utc>>,
    /// The entries, in the order given.
    pub entries: Vec<EntryDraft>,
    /// The transaction this one reverses.
    pub reverses: Option<TransactionId>,
    /// Accounts whose available balance this transaction must not take below
    /// zero (the merchant's `available` for a payout). Checked under lock.
    pub no_overdraft: Vec<(AccountRef, AssetCode)>,
    /// The payment this transaction is a step of.
    pub payment: Option<Uuid>,
    /// The other merchant of a deal, whose accounts the entries may also name.
    pub counterparty: Option<MerchantId>,
    /// The payout this transaction is a step of.
    pub payout: Option<Uuid>,
}

impl TransactionDraft {
    /// A draft of `kind` for `merchant` with `entries` and nothing else: no
    /// reference, empty metadata, effective at commit time, no guards and no
    /// links. Callers set the rest with struct update syntax. Not yet validated.
    pub fn new(merchant: MerchantId, kind: TransactionKind, entries: Vec<EntryDraft>) -> Self {
        Self {
            merchant,
            kind,
            external_ref: None,
            metadata: serde_json::json!({}),
            effective_at: None,
            entries,
            reverses: None,
            no_overdraft: Vec::new(),
            payment: None,
            counterparty: None,
            payout: None,
        }
    }

    /// Checks the rules that need no database: entry count, that each entry names
    /// an account of this merchant or the platform, metadata size, and that debits
    /// equal credits in every asset (summed in i128, so no sum can overflow).
    ///
    /// Errors: [`DomainError::TooFewEntries`], [`DomainError::TooManyEntries`],
    /// [`DomainError::MetadataInvalid`], [`DomainError::TransactionUnbalanced`].
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.entries.len() < MIN_ENTRIES_PER_TRANSACTION {
            return Err(DomainError::TooFewEntries { min: MIN_ENTRIES_PER_TRANSACTION });
        }
        if self.entries.len() > MAX_ENTRIES_PER_TRANSACTION {
            return Err(DomainError::TooManyEntries { max: MAX_ENTRIES_PER_TRANSACTION });
        }
        validate_metadata(&self.metadata)?;
        let mut sums: BTreeMap<(&AssetCode, Layer), (i128, i128)> = BTreeMap::new();
        for entry in &self.entries {
            let sum = sums.entry((&entry.asset, entry.layer)).or_default();
            match entry.direction {
                Direction::Debit => sum.0 += i128::from(entry.amount.minor()),
                Direction::Credit => sum.1 += i128::from(entry.amount.minor()),
            }
        }
        for ((asset, _layer), (debits, credits)) in sums {
            if debits != credits {
                return Err(DomainError::TransactionUnbalanced { asset: asset.to_string(), debits, credits });
            }
        }
        Ok(())
    }

    /// The reversal of a posted transaction: the same entries on the opposite
    /// side, on the same accounts, for the same merchant, linked by `reverses`.
    /// The reason is kept in the metadata under `"reason"`.
    ///
    /// Errors: [`DomainError::AlreadyReversed`] when `original` is itself a
    /// reversal (undo the reversal by reversing... nothing: post a new transaction),
    /// [`DomainError::ReasonRequired`].
    pub fn reversal_of(original: &PostedTransaction, reason: &str) -> Result<Self, DomainError> {
        if original.kind == TransactionKind::Reversal {
            return Err(DomainError::AlreadyReversed);
        }
        if original.payment.is_some()
            || original.payout.is_some()
            || original.entries.iter().any(|e| e.layer != Layer::Posted)
        {
            return Err(DomainError::PaymentStepNotReversible);
        }
        // Every entry is posted: the step reversal of its posted entries is the
        // plain reversal, each entry on its opposite side.
        Self::reversal_of_step(original, reason, true)
    }
}

impl TransactionDraft {
    /// The reversal of one step of a payment: posted entries on the opposite
    /// side; a hold becomes a release and a release a hold, on the same side, so
    /// pending totals return to where they were. With `posted_only` (undoing a
    /// capture) only the posted entries are inverted: the captured amount is then
    /// released rather than held again. Errors: [`DomainError::ReasonRequired`].
    pub fn reversal_of_step(
        original: &PostedTransaction,
        reason: &str,
        posted_only: bool,
    ) -> Result<Self, DomainError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REFERENCE_LEN {
            return Err(DomainError::ReasonRequired);
        }
        let entries = original
            .entries
            .iter()
            .filter(|e| !posted_only || e.layer == Layer::Posted)
            .map(|e| {
                let (direction, layer) = match e.layer {
                    Layer::Posted => (e.direction.opposite(), Layer::Posted),
                    Layer::Hold => (e.direction, Layer::Release),
                    Layer::Release => (e.direction, Layer::Hold),
                };
                EntryDraft {
                    account: AccountRef::Id(e.account),
                    asset: e.asset.clone(),
                    direction,
                    amount: e.amount,
                    layer,
                }
            })
            .collect();
        Ok(Self {
            merchant: original.merchant,
            kind: TransactionKind::Reversal,
            external_ref: original.external_ref.clone(),
            metadata: serde_json::json!({ "reason": reason }),
            effective_at: None,
            entries,
            reverses: Some(original.id),
            no_overdraft: Vec::new(),
            payment: original.payment,
            counterparty: original.counterparty,
            payout: None,
        })
    }
}

/// Checks metadata is a JSON object of at most [`MAX_METADATA_BYTES`].
/// Errors: [`DomainError::MetadataInvalid`].
pub fn validate_metadata(metadata: &serde_json::Value) -> Result<(), DomainError> {
    let err = DomainError::MetadataInvalid { max_bytes: MAX_METADATA_BYTES };
    // PostgreSQL's JSONB cannot hold a NUL character (`\u0000`); refuse it here
    // rather than fail the database transaction the posting lands in.
    if !metadata.is_object() || metadata.to_string().len() > MAX_METADATA_BYTES || holds_nul(metadata) {
        return Err(err);
    }
    Ok(())
}

/// True when a string or key anywhere in `value` contains a NUL character.
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// An entry as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedEntry {
    /// The account.
    pub account: AccountId,
    /// The asset.
    pub asset: AssetCode,
    /// Debit or credit.
    pub direction: Direction,
    /// Positive minor units.
    pub amount: Amount,
    /// Posted, hold or release.
    pub layer: Layer,
}

/// The parts of a written transaction that the rules need (to reverse it).
#[derive(Debug, Clone, PartialEq)]
pub struct PostedTransaction {
    /// Its id.
    pub id: TransactionId,
    /// Its merchant.
    pub merchant: MerchantId,
    /// Its kind.
    pub kind: TransactionKind,
    /// Its external reference.
    pub external_ref: Option<String>,
    /// Its entries.
    pub entries: Vec<PostedEntry>,
    /// The payment it is a step of.
    pub payment: Option<Uuid>,
    /// The other merchant of a deal.
    pub counterparty: Option<MerchantId>,
    /// The payout it is a step of.
    pub payout: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> AssetCode {
        AssetCode::parse("USD").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn metadata_with_a_nul_anywhere_is_refused_and_a_backslash_is_not() {
        let nul = |v: serde_json::Value| validate_metadata(&v).is_err();
        assert!(nul(serde_json::json!({ "note": "a\u{0}b" })));
        assert!(nul(serde_json::json!({ "a\u{0}": 1 })));
        assert!(nul(serde_json::json!({ "list": [1, { "deep": "\u{0}" }] })));
        assert!(validate_metadata(&serde_json::json!({ "path": "C:\\u0000", "n": 1 })).is_ok());
    }

    fn entry(code: &'static str, direction: Direction, minor: i64, asset: AssetCode) -> EntryDraft {
        EntryDraft {
            account: AccountRef::Code { owner: Owner::Platform, code: AccountCode::standard(code) },
            asset,
            direction,
            amount: Amount::from_minor(minor).unwrap_or_else(|_| unreachable!()),
            layer: Layer::Posted,
        }
    }

    fn draft(entries: Vec<EntryDraft>) -> TransactionDraft {
        TransactionDraft::new(MerchantId::new(), TransactionKind::Transfer, entries)
    }

    #[test]
    fn balanced_transaction_is_valid() {
        let d = draft(vec![
            entry("bank", Direction::Debit, 100, usd()),
            entry("fee_revenue", Direction::Credit, 100, usd()),
        ]);
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn unbalanced_in_any_asset_is_rejected() {
        let jpy = AssetCode::parse("JPY").unwrap_or_else(|_| unreachable!());
        let d = draft(vec![
            entry("bank", Direction::Debit, 100, usd()),
            entry("fee_revenue", Direction::Credit, 100, usd()),
            entry("bank", Direction::Debit, 5, jpy.clone()),
            entry("fee_revenue", Direction::Credit, 4, jpy),
        ]);
        assert!(matches!(d.validate(), Err(DomainError::TransactionUnbalanced { debits: 5, credits: 4, .. })));
    }

    #[test]
    fn sums_near_i64_max_do_not_overflow_the_check() {
        let d = draft(vec![
            entry("bank", Direction::Debit, i64::MAX, usd()),
            entry("bank", Direction::Debit, i64::MAX, usd()),
            entry("fee_revenue", Direction::Credit, i64::MAX, usd()),
            entry("fee_revenue", Direction::Credit, i64::MAX, usd()),
        ]);
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn entry_count_is_bounded() {
        assert!(matches!(
            draft(vec![entry("bank", Direction::Debit, 1, usd())]).validate(),
            Err(DomainError::TooFewEntries { .. })
        ));
        let many = (0..MAX_ENTRIES_PER_TRANSACTION + 2)
            .map(|i| entry("bank", if i % 2 == 0 { Direction::Debit } else { Direction::Credit }, 1, usd()))
            .collect();
        assert!(matches!(draft(many).validate(), Err(DomainError::TooManyEntries { .. })));
    }

    #[test]
    fn reversal_inverts_every_entry_and_cannot_be_reversed() {
        let original = PostedTransaction {
            id: TransactionId::new(),
            merchant: MerchantId::new(),
            kind: TransactionKind::Payment,
            external_ref: None,
            entries: vec![PostedEntry {
                account: AccountId(Uuid::now_v7()),
                asset: usd(),
                direction: Direction::Debit,
                amount: Amount::from_minor(7).unwrap_or_else(|_| unreachable!()),
                layer: Layer::Posted,
            }],
            payment: None,
            counterparty: None,
            payout: None,
        };
        let rev = TransactionDraft::reversal_of(&original, "defective item").unwrap_or_else(|_| unreachable!());
        assert_eq!(rev.entries[0].direction, Direction::Credit);
        assert_eq!(rev.reverses, Some(original.id));
        assert_eq!(TransactionDraft::reversal_of(&original, "  "), Err(DomainError::ReasonRequired));
        let posted_rev = PostedTransaction { kind: TransactionKind::Reversal, ..original };
        assert_eq!(TransactionDraft::reversal_of(&posted_rev, "again"), Err(DomainError::AlreadyReversed));
    }
}
