//! Transactions and entries: append-only rows, ordered by a gap-free sequence.
//!
//! Sequence numbers come from the single `ledger_clock` row, incremented inside
//! the writing transaction. Its row lock is held until commit, so sequence
//! numbers are assigned in commit order with no gaps: a reader that has seen
//! sequence N has seen everything before N. Writers take it last, after their
//! balance locks, so the lock order stays global (balances by id, then the clock).

pub mod idempotency;

use chrono::{DateTime, Utc};
use entity::{entry, transaction};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::core::db::stmt;
use crate::domain::transaction::{PostedEntry, PostedTransaction};
use crate::domain::{AccountId, Amount, AssetCode, Direction, Layer, MerchantId, TransactionId, TransactionKind};
use uuid::Uuid;

/// A transaction as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionRecord {
    /// Commit-ordered, gap-free sequence number.
    pub seq: i64,
    /// Its id.
    pub id: TransactionId,
    /// Its merchant.
    pub merchant: MerchantId,
    /// What it records.
    pub kind: TransactionKind,
    /// The caller's reference.
    pub external_ref: Option<String>,
    /// A JSON object.
    pub metadata: serde_json::Value,
    /// When it happened (may be backdated).
    pub effective_at: DateTime<Utc>,
    /// When it was committed.
    pub created_at: DateTime<Utc>,
    /// The transaction it reverses.
    pub reverses: Option<TransactionId>,
    /// The payment it is a step of.
    pub payment: Option<Uuid>,
    /// The other merchant of a deal.
    pub counterparty: Option<MerchantId>,
    /// The payout it is a step of.
    pub payout: Option<Uuid>,
    /// Who posted it: `key:<prefix>`, `staff:<username>` or `system:<job>`.
    pub actor: String,
    /// The HTTP request that posted it.
    pub request_id: Option<String>,
    /// The idempotency key it was posted under.
    pub idempotency_key: Option<String>,
}

impl TryFrom<transaction::Model> for TransactionRecord {
    type Error = DbErr;
    fn try_from(m: transaction::Model) -> Result<Self, DbErr> {
        Ok(Self {
            seq: m.seq,
            id: TransactionId(m.id),
            merchant: MerchantId(m.merchant_id),
            kind: TransactionKind::parse(&m.kind)
                .ok_or_else(|| crate::core::db::corrupt(format!("stored kind `{}`", m.kind)))?,
            external_ref: m.external_ref,
            metadata: m.metadata,
            effective_at: m.effective_at,
            created_at: m.created_at,
            reverses: m.reverses.map(TransactionId),
            payment: m.payment_id,
            counterparty: m.counterparty_id.map(MerchantId),
            payout: m.payout_id,
            actor: m.actor,
            request_id: m.request_id,
            idempotency_key: m.idempotency_key,
        })
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRecord {
    /// Commit-ordered, gap-free sequence number of the entry.
    pub seq: i64,
    /// Its transaction.
    pub transaction_id: TransactionId,
    /// Its transaction's sequence number.
    pub transaction_seq: i64,
    /// The account posted to.
    pub account: AccountId,
    /// The asset.
    pub asset: AssetCode,
    /// Debit or credit.
    pub direction: Direction,
    /// Positive minor units of `asset`.
    pub amount: Amount,
    /// Its transaction's effective time.
    pub effective_at: DateTime<Utc>,
    /// Posted, hold or release.
    pub layer: Layer,
}

impl TryFrom<entry::Model> for EntryRecord {
    type Error = DbErr;
    fn try_from(m: entry::Model) -> Result<Self, DbErr> {
        let bad = |what: &str| crate::core::db::corrupt(format!("stored entry {}: bad {what}", m.seq));
        Ok(Self {
            seq: m.seq,
            transaction_id: TransactionId(m.transaction_id),
            transaction_seq: m.transaction_seq,
            account: AccountId(m.account_id),
            asset: AssetCode::parse(&m.asset).map_err(|_| bad("asset"))?,
            direction: Direction::parse(&m.direction).ok_or_else(|| bad("direction"))?,
            amount: Amount::from_minor(m.amount).map_err(|_| bad("amount"))?,
            effective_at: m.effective_at,
            layer: Layer::parse(&m.layer).ok_or_else(|| bad("layer"))?,
        })
    }
}

/// Reserves the next transaction sequence number and `entries` entry sequence
/// numbers. Returns `(transaction_seq, first_entry_seq)`. Locks the clock row until
/// commit (see the module doc).
pub async fn reserve_sequences(db: &impl ConnectionTrait, entries: i64) -> Result<(i64, i64), DbErr> {
    reserve_many(db, 1, entries).await
}

/// Reserves `transactions` consecutive transaction sequence numbers and
/// `entries` consecutive entry sequence numbers in one statement. Returns the
/// first of each. Locks the clock row until commit (see the module doc): a
/// batch takes the clock once, however many transactions it posts.
pub async fn reserve_many(db: &impl ConnectionTrait, transactions: i64, entries: i64) -> Result<(i64, i64), DbErr> {
    let row = db
        .query_one_raw(stmt(
            db,
            "UPDATE ledger_clock SET last_transaction_seq = last_transaction_seq + $1, \
             last_entry_seq = last_entry_seq + $2 WHERE id = 1 RETURNING last_transaction_seq, last_entry_seq",
            vec![transactions.into(), entries.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("ledger_clock".into()))?;
    let last_txn: i64 = row.try_get("", "last_transaction_seq")?;
    let last_entry: i64 = row.try_get("", "last_entry_seq")?;
    Ok((last_txn - transactions + 1, last_entry - entries + 1))
}

/// Appends a transaction and its entries (one multi-row insert). The entries'
/// `seq` and `transaction_seq` must already be set from [`reserve_sequences`].
/// Errors: a unique violation on `reverses` when the original is already reversed.
pub async fn append(db: &impl ConnectionTrait, txn: &TransactionRecord, entries: &[EntryRecord]) -> Result<(), DbErr> {
    append_many(db, &[(txn, entries)]).await
}

/// Appends many transactions and their entries: one multi-row insert per table
/// (per chunk of [`crate::core::db::MAX_BIND_PARAMS`] values). Sequence numbers must be
/// set (see [`reserve_many`]). Errors: as [`append`].
pub async fn append_many(
    db: &impl ConnectionTrait,
    txns: &[(&TransactionRecord, &[EntryRecord])],
) -> Result<(), DbErr> {
    const TRANSACTION_COLUMNS: usize = 15;
    const ENTRY_COLUMNS: usize = 10;
    for chunk in txns.chunks(crate::core::db::rows_per_statement(TRANSACTION_COLUMNS)) {
        transaction::Entity::insert_many(chunk.iter().map(|(txn, _)| transaction::ActiveModel {
            seq: Set(txn.seq),
            id: Set(txn.id.0),
            merchant_id: Set(txn.merchant.0),
            kind: Set(txn.kind.as_str().to_owned()),
            external_ref: Set(txn.external_ref.clone()),
            metadata: Set(txn.metadata.clone()),
            effective_at: Set(txn.effective_at),
            created_at: Set(txn.created_at),
            reverses: Set(txn.reverses.map(|r| r.0)),
            payment_id: Set(txn.payment),
            counterparty_id: Set(txn.counterparty.map(|c| c.0)),
            payout_id: Set(txn.payout),
            actor: Set(txn.actor.clone()),
            request_id: Set(txn.request_id.clone()),
            idempotency_key: Set(txn.idempotency_key.clone()),
        }))
        .exec_without_returning(db)
        .await?;
    }
    let rows: Vec<entry::ActiveModel> = txns
        .iter()
        .flat_map(|(txn, entries)| {
            entries.iter().map(|e| entry::ActiveModel {
                seq: Set(e.seq),
                transaction_seq: Set(e.transaction_seq),
                transaction_id: Set(e.transaction_id.0),
                merchant_id: Set(txn.merchant.0),
                account_id: Set(e.account.0),
                asset: Set(e.asset.to_string()),
                direction: Set(e.direction.as_str().to_owned()),
                amount: Set(e.amount.minor()),
                effective_at: Set(e.effective_at),
                layer: Set(e.layer.as_str().to_owned()),
            })
        })
        .collect();
    for chunk in rows.chunks(crate::core::db::rows_per_statement(ENTRY_COLUMNS)) {
        entry::Entity::insert_many(chunk.iter().cloned()).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Finds a transaction by id.
pub async fn find(db: &impl ConnectionTrait, id: TransactionId) -> Result<Option<TransactionRecord>, DbErr> {
    transaction::Entity::find()
        .filter(transaction::Column::Id.eq(id.0))
        .one(db)
        .await?
        .map(TryInto::try_into)
        .transpose()
}

/// The reversal of `id`, if it has been reversed.
pub async fn reversal_of(db: &impl ConnectionTrait, id: TransactionId) -> Result<Option<TransactionRecord>, DbErr> {
    transaction::Entity::find()
        .filter(transaction::Column::Reverses.eq(id.0))
        .one(db)
        .await?
        .map(TryInto::try_into)
        .transpose()
}

/// The entries of a transaction, in sequence order.
pub async fn entries_of(db: &impl ConnectionTrait, id: TransactionId) -> Result<Vec<EntryRecord>, DbErr> {
    entries_of_many(db, &[id]).await
}

/// The entries of several transactions, in sequence order (one query).
pub async fn entries_of_many(db: &impl ConnectionTrait, ids: &[TransactionId]) -> Result<Vec<EntryRecord>, DbErr> {
    entry::Entity::find()
        .filter(entry::Column::TransactionId.is_in(ids.iter().map(|t| t.0)))
        .order_by_asc(entry::Column::Seq)
        .all(db)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// Loads a posted transaction with its entries, for reversing it.
pub async fn load_posted(db: &impl ConnectionTrait, id: TransactionId) -> Result<Option<PostedTransaction>, DbErr> {
    let Some(txn) = find(db, id).await? else { return Ok(None) };
    let entries = entries_of(db, id).await?;
    Ok(Some(PostedTransaction {
        id: txn.id,
        merchant: txn.merchant,
        kind: txn.kind,
        external_ref: txn.external_ref,
        entries: entries
            .into_iter()
            .map(|e| PostedEntry {
                account: e.account,
                asset: e.asset,
                direction: e.direction,
                amount: e.amount,
                layer: e.layer,
            })
            .collect(),
        payment: txn.payment,
        counterparty: txn.counterparty,
        payout: txn.payout,
    }))
}

/// One page of an account's entries in sequence order, after `after_seq`, using
/// the `(account_id, seq)` index. Returns up to `limit` rows.
pub async fn entries_page(
    db: &impl ConnectionTrait,
    account: AccountId,
    after_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<EntryRecord>, DbErr> {
    let mut q = entry::Entity::find().filter(entry::Column::AccountId.eq(account.0));
    if let Some(after) = after_seq {
        q = q.filter(entry::Column::Seq.gt(after));
    }
    q.order_by_asc(entry::Column::Seq).limit(limit).all(db).await?.into_iter().map(TryInto::try_into).collect()
}

/// A merchant's transactions, newest first, before `before_seq`.
pub async fn page_for_merchant(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    before_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<TransactionRecord>, DbErr> {
    let mut q = transaction::Entity::find().filter(transaction::Column::MerchantId.eq(merchant.0));
    if let Some(before) = before_seq {
        q = q.filter(transaction::Column::Seq.lt(before));
    }
    q.order_by_desc(transaction::Column::Seq).limit(limit).all(db).await?.into_iter().map(TryInto::try_into).collect()
}

/// Builds the entry rows of a transaction from its sequence numbers.
pub fn number_entries(
    txn: &TransactionRecord,
    first_entry_seq: i64,
    entries: impl IntoIterator<Item = (AccountId, AssetCode, Direction, Amount, Layer)>,
) -> Vec<EntryRecord> {
    entries
        .into_iter()
        .zip(first_entry_seq..)
        .map(|((account, asset, direction, amount, layer), seq)| EntryRecord {
            seq,
            transaction_id: txn.id,
            transaction_seq: txn.seq,
            account,
            asset,
            direction,
            amount,
            effective_at: txn.effective_at,
            layer,
        })
        .collect()
}

/// What a transaction may be a step of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// A payment (`payment_id`).
    Payment(Uuid),
    /// A payout (`payout_id`).
    Payout(Uuid),
}

/// The transactions that are steps of a payment or payout, in sequence order.
pub async fn linked(db: &impl ConnectionTrait, link: Link) -> Result<Vec<TransactionRecord>, DbErr> {
    let filter = match link {
        Link::Payment(id) => transaction::Column::PaymentId.eq(id),
        Link::Payout(id) => transaction::Column::PayoutId.eq(id),
    };
    transaction::Entity::find()
        .filter(filter)
        .order_by_asc(transaction::Column::Seq)
        .all(db)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}
