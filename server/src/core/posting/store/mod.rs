//! Transactions and entries: append-only rows, numbered per merchant.
//!
//! Each merchant has a journal clock (`merchant_clocks`). A posting takes the
//! clock rows of its merchant and, for a deal, of the counterparty, and
//! numbers the transaction in each journal (`number`, `counterparty_number`).
//! The row locks are held until commit, so each journal is gap-free and in
//! commit order: a reader that has seen a merchant's number N has seen all of
//! that merchant's transactions before N. Writers take the clocks last, after
//! their balance locks, and in merchant order, so the lock order stays global
//! (balances by id, then clocks by merchant) and two merchants never wait on
//! each other. Row keys (`seq`) are taken after the clocks: see [`reserve`].
//! (Until issue 17 one `ledger_clock` row numbered the whole ledger, and every
//! write queued on it; SQLite, with its single writer, still uses it for
//! `seq`.)

pub mod idempotency;

use chrono::{DateTime, Utc};
use entity::{entry, transaction};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QueryResult, QuerySelect,
};

use crate::core::db::stmt;
use crate::domain::actor::Actor;
use crate::domain::transaction::{PostedEntry, PostedTransaction};
use crate::domain::{AccountId, Amount, AssetCode, Direction, Layer, MerchantId, TransactionId, TransactionKind};
use uuid::Uuid;

/// A transaction as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionRecord {
    /// Row key: unique, rising in commit order within a merchant's journal
    /// (not across merchants), with gaps.
    pub seq: i64,
    /// Its number in its merchant's journal: gap-free, in commit order.
    pub number: i64,
    /// A deal's number in the counterparty's journal.
    pub counterparty_number: Option<i64>,
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
    /// Who posted it (stored as `key:<prefix>`, `service:<name>:<prefix>`,
    /// `staff:<username>` or `system:<job>`).
    pub actor: Actor,
    /// The HTTP request that posted it.
    pub request_id: Option<String>,
    /// The idempotency key it was posted under.
    pub idempotency_key: Option<String>,
    /// Its link in its merchant's hash chain (64 hex digits; see
    /// `domain::chain`); `None` before it is linked, and for rows written
    /// before the chains (migration 26).
    pub hash: Option<String>,
    /// A deal's link in its counterparty's chain.
    pub counterparty_hash: Option<String>,
}

impl TryFrom<transaction::Model> for TransactionRecord {
    type Error = DbErr;
    fn try_from(m: transaction::Model) -> Result<Self, DbErr> {
        Ok(Self {
            seq: m.seq,
            number: m.number,
            counterparty_number: m.counterparty_number,
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
            actor: m.actor.parse().map_err(crate::core::db::corrupt)?,
            request_id: m.request_id,
            idempotency_key: m.idempotency_key,
            hash: m.hash,
            counterparty_hash: m.counterparty_hash,
        })
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRecord {
    /// Row key of the entry: unique, rising in commit order within its
    /// account (taken under the account's balance lock), with gaps.
    pub seq: i64,
    /// Its transaction's merchant: the partition the entry is stored in (a
    /// deal's buyer-side legs are stored with the seller's transaction).
    pub merchant: MerchantId,
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
            merchant: MerchantId(m.merchant_id),
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

/// The last number of `merchant`'s journal (its clock, read without a lock;
/// 0 when it has none): a reader in the same snapshot has seen all of the
/// merchant's transactions up to it. Errors: the database's.
pub async fn journal_head(db: &impl ConnectionTrait, merchant: MerchantId) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT last_transaction_seq FROM merchant_clocks WHERE merchant_id = $1",
            vec![merchant.0.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get("", "last_transaction_seq")).transpose()?.unwrap_or(0))
}

/// The numbers of one transaction about to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbers {
    /// Its row key (`transactions.seq`).
    pub seq: i64,
    /// Its number in its merchant's journal.
    pub number: i64,
    /// A deal's number in the counterparty's journal.
    pub counterparty_number: Option<i64>,
}

/// What [`reserve`] took: per transaction, in the order asked, its numbers;
/// and the entries' row keys, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    /// One per transaction asked for.
    pub transactions: Vec<Numbers>,
    /// As many as entries asked for, ascending.
    pub entry_seqs: Vec<i64>,
    /// The head of each involved merchant's hash chain before this write
    /// (read under its clock lock): the link the next transaction follows.
    pub heads: std::collections::BTreeMap<MerchantId, crate::domain::chain::Link>,
}

/// Numbers `txns` (each a merchant and, for a deal, a counterparty) in their
/// merchants' journals, and takes row keys for them and for `entries`
/// entries. Call it last, after the balance locks (see the module doc).
///
/// Locks the `merchant_clocks` rows of every merchant involved until commit,
/// in merchant order, so each journal is gap-free and in commit order and two
/// merchants never wait on each other. On PostgreSQL the row keys come from
/// the sequences `ledger_transaction_seq` and `ledger_entry_seq`, taken after
/// those locks: they rise in commit order within a journal and within an
/// account, not across merchants. SQLite has one writer: there they come
/// from the `ledger_clock` row, gap-free. One statement on one PostgreSQL
/// node, whatever the count of merchants. The caller then moves each clock
/// to its new number and chain head in the same database transaction
/// (`core::chain::clocks_write` or `store_clocks`, from the write's
/// `Linker`); on one PostgreSQL node only that statement changes the row.
/// Errors: [`LedgerError::Database`] for any database failure; [`LedgerError::Internal`] for a count beyond `i64`.
///
/// [`LedgerError::Database`]: crate::core::LedgerError::Database
/// [`LedgerError::Internal`]: crate::core::LedgerError::Internal
pub async fn reserve(
    db: &impl ConnectionTrait,
    txns: &[(MerchantId, Option<MerchantId>)],
    entries: usize,
) -> Result<Reserved, crate::core::LedgerError> {
    let mut wanted: std::collections::BTreeMap<MerchantId, i64> = std::collections::BTreeMap::new();
    for (merchant, counterparty) in txns {
        for m in std::iter::once(merchant).chain(counterparty) {
            *wanted.entry(*m).or_default() += 1;
        }
    }
    let count = |n: usize| {
        i64::try_from(n).map_err(|_| crate::core::LedgerError::internal(format!("{n} rows are too many to number")))
    };
    let (n_txns, n_entries) = (count(txns.len())?, count(entries)?);
    let (last, seqs, entry_seqs, heads) = match db.get_database_backend() {
        DbBackend::Postgres => reserve_pg(db, &wanted, n_txns, n_entries).await?,
        _ => reserve_single_writer(db, &wanted, n_txns, n_entries).await?,
    };
    if seqs.len() != txns.len() || entry_seqs.len() != entries || last.len() != wanted.len() {
        return Err(crate::core::db::corrupt("the clocks returned the wrong count of numbers").into());
    }
    // The first number of each merchant in this write.
    let mut next: std::collections::BTreeMap<MerchantId, i64> =
        wanted.iter().map(|(m, n)| (*m, last.get(m).copied().unwrap_or_default() - n + 1)).collect();
    let mut take = |m: MerchantId| {
        let slot = next.entry(m).or_default();
        let n = *slot;
        *slot += 1;
        n
    };
    let transactions = txns
        .iter()
        .zip(seqs)
        .map(|((merchant, counterparty), seq)| Numbers {
            seq,
            number: take(*merchant),
            counterparty_number: counterparty.map(&mut take),
        })
        .collect();
    Ok(Reserved { transactions, entry_seqs, heads })
}

/// Per merchant its clock after the move, the row keys, and per merchant its
/// chain head.
type Taken = (std::collections::BTreeMap<MerchantId, i64>, Vec<i64>, Vec<i64>, Heads);

type Heads = std::collections::BTreeMap<MerchantId, crate::domain::chain::Link>;

/// Comma-separated integers (an `array_to_string` of row keys).
fn integers(text: &str) -> Result<Vec<i64>, DbErr> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| crate::core::db::corrupt(format!("row key `{s}`"))))
        .collect()
}

const NEXT_SEQS: &str = "array_to_string(ARRAY(SELECT nextval('ledger_transaction_seq') FROM generate_series(1, {t})), ',') AS seqs, \
     array_to_string(ARRAY(SELECT nextval('ledger_entry_seq') FROM generate_series(1, {e})), ',') AS entry_seqs";

/// Moves `merchant`'s clock on by `n` (locking its row until commit) and
/// returns its new `last_transaction_seq`, with `also` (more RETURNING
/// columns, binding `extra` from `$3`) evaluated after the lock.
async fn move_clock(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    n: i64,
    also: &str,
    extra: Vec<sea_orm::Value>,
) -> Result<QueryResult, DbErr> {
    let also = if also.is_empty() { String::new() } else { format!(", {also}") };
    let sql = format!(
        "UPDATE merchant_clocks SET last_transaction_seq = last_transaction_seq + $1 WHERE merchant_id = $2 \
         RETURNING last_transaction_seq, head_hash{also}"
    );
    let mut values = vec![n.into(), merchant.0.into()];
    values.extend(extra);
    db.query_one_raw(stmt(db, &sql, values))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("merchant_clocks row of {}", merchant.0)))
}

/// On one PostgreSQL node, one statement whatever the count of merchants:
/// lock the clock rows in merchant order (`FOR UPDATE` in a subquery), read
/// each one's number and head, and only then (the outer projection runs on
/// the locked rows' aggregate) take the row keys. The clocks are not changed
/// here: the write's final statement moves each to its new number and head
/// ([`crate::core::chain::clocks_write`]), so a write leaves one new version
/// of each clock row, not two (issue 21). One text for any count (the ids as
/// one parameter), so PostgreSQL plans it once per connection (issue 18).
async fn reserve_pg(
    db: &impl ConnectionTrait,
    wanted: &std::collections::BTreeMap<MerchantId, i64>,
    n_txns: i64,
    n_entries: i64,
) -> Result<Taken, DbErr> {
    if crate::core::db::on_citus() {
        return reserve_citus(db, wanted, n_txns, n_entries).await;
    }
    let ids = crate::core::db::uuid_list(wanted.keys().map(|m| m.0));
    let sql = format!(
        "SELECT l.clocks, {} FROM (SELECT json_agg(json_build_object('m', c.merchant_id, 'n', \
         c.last_transaction_seq, 'h', c.head_hash) ORDER BY c.merchant_id)::text AS clocks \
         FROM (SELECT merchant_id, last_transaction_seq, head_hash FROM merchant_clocks \
         WHERE merchant_id = ANY($1::text::uuid[]) ORDER BY merchant_id FOR UPDATE) c) l",
        NEXT_SEQS.replace("{t}", "$2").replace("{e}", "$3")
    );
    let row = db
        .query_one_raw(stmt(db, &sql, vec![ids, n_txns.into(), n_entries.into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("merchant_clocks rows".into()))?;
    #[derive(serde::Deserialize)]
    struct Clock {
        m: uuid::Uuid,
        n: i64,
        h: String,
    }
    let clocks: Option<Vec<Clock>> = row
        .try_get::<Option<String>>("", "clocks")
        .map(|text| text.map(|t| serde_json::from_str(&t)))?
        .transpose()
        .map_err(|e| crate::core::db::corrupt(format!("locked clocks: {e}")))?;
    let mut last = std::collections::BTreeMap::new();
    let mut heads = Heads::new();
    for clock in clocks.unwrap_or_default() {
        let m = MerchantId(clock.m);
        last.insert(m, clock.n + wanted.get(&m).copied().unwrap_or_default());
        heads.insert(m, crate::core::chain::stored_link(&clock.h)?);
    }
    if last.len() != wanted.len() {
        return Err(DbErr::RecordNotFound("a merchant_clocks row".into()));
    }
    row_keys(last, &row, heads)
}

/// The clocks moved (`last`) with the row keys of a [`NEXT_SEQS`] row.
fn row_keys(
    last: std::collections::BTreeMap<MerchantId, i64>,
    row: &QueryResult,
    heads: Heads,
) -> Result<Taken, DbErr> {
    let seqs = integers(&row.try_get::<String>("", "seqs")?)?;
    let entry_seqs = integers(&row.try_get::<String>("", "entry_seqs")?)?;
    Ok((last, seqs, entry_seqs, heads))
}

/// Moves each of `wanted`'s clocks in merchant order, one statement each (so
/// two writers that share merchants lock them in the same order and cannot
/// deadlock); returns each one's new `last_transaction_seq` and chain head.
async fn move_clocks(
    db: &impl ConnectionTrait,
    wanted: &std::collections::BTreeMap<MerchantId, i64>,
) -> Result<(std::collections::BTreeMap<MerchantId, i64>, Heads), DbErr> {
    let mut last = std::collections::BTreeMap::new();
    let mut heads = Heads::new();
    for (m, n) in wanted {
        let row = move_clock(db, *m, *n, "", vec![]).await?;
        last.insert(*m, row.try_get::<i64>("", "last_transaction_seq")?);
        heads.insert(*m, crate::core::chain::stored_link(&row.try_get::<String>("", "head_hash")?)?);
    }
    Ok((last, heads))
}

/// On Citus: the clocks, then the row keys in a statement of their own. Citus
/// refuses `nextval` in the RETURNING clause of a statement it routes to a
/// worker, and a multi-shard `SELECT … FOR UPDATE`; the sequences live on
/// the coordinator. The keys are still taken after every clock is locked.
async fn reserve_citus(
    db: &impl ConnectionTrait,
    wanted: &std::collections::BTreeMap<MerchantId, i64>,
    n_txns: i64,
    n_entries: i64,
) -> Result<Taken, DbErr> {
    let (last, heads) = move_clocks(db, wanted).await?;
    let sql = format!("SELECT {}", NEXT_SEQS.replace("{t}", "$1").replace("{e}", "$2"));
    let row = db
        .query_one_raw(stmt(db, &sql, vec![n_txns.into(), n_entries.into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("row keys".into()))?;
    row_keys(last, &row, heads)
}

async fn reserve_single_writer(
    db: &impl ConnectionTrait,
    wanted: &std::collections::BTreeMap<MerchantId, i64>,
    n_txns: i64,
    n_entries: i64,
) -> Result<Taken, DbErr> {
    let (last, heads) = move_clocks(db, wanted).await?;
    let row = db
        .query_one_raw(stmt(
            db,
            "UPDATE ledger_clock SET last_transaction_seq = last_transaction_seq + $1, \
             last_entry_seq = last_entry_seq + $2 WHERE id = 1 RETURNING last_transaction_seq, last_entry_seq",
            vec![n_txns.into(), n_entries.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("ledger_clock".into()))?;
    let last_txn: i64 = row.try_get("", "last_transaction_seq")?;
    let last_entry: i64 = row.try_get("", "last_entry_seq")?;
    Ok((last, (last_txn - n_txns + 1..=last_txn).collect(), (last_entry - n_entries + 1..=last_entry).collect(), heads))
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
    const TRANSACTION_COLUMNS: usize = 19;
    const ENTRY_COLUMNS: usize = 10;
    if crate::core::db::rows_as_json(db) {
        return append_many_json(db, txns).await;
    }
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
            actor: Set(txn.actor.to_string()),
            request_id: Set(txn.request_id.clone()),
            idempotency_key: Set(txn.idempotency_key.clone()),
            number: Set(txn.number),
            counterparty_number: Set(txn.counterparty_number),
            hash: Set(txn.hash.clone()),
            counterparty_hash: Set(txn.counterparty_hash.clone()),
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

/// [`append_many`] on one PostgreSQL node: the transactions in one statement
/// and their entries in another, each of one text whatever the batch's length
/// ([`crate::core::db::rows_as_json`]).
async fn append_many_json(
    db: &impl ConnectionTrait,
    txns: &[(&TransactionRecord, &[EntryRecord])],
) -> Result<(), DbErr> {
    for w in append_writes(txns) {
        db.execute_raw(stmt(db, &w.sql, w.values)).await?;
    }
    Ok(())
}

/// The two statements of [`append_many_json`] (transactions, then entries),
/// to run alone or with the rest of a batch's writes
/// ([`crate::core::db::write_together`]); none for no transactions.
pub(crate) fn append_writes(txns: &[(&TransactionRecord, &[EntryRecord])]) -> Vec<crate::core::db::Write> {
    use crate::core::db::{Write, json_rows, json_rows_insert, json_time};
    use serde_json::json;
    const TRANSACTIONS: &[(&str, &str)] = &[
        ("seq", "bigint"),
        ("id", "uuid"),
        ("merchant_id", "uuid"),
        ("kind", "text"),
        ("external_ref", "text"),
        ("metadata", "jsonb"),
        ("effective_at", "timestamptz"),
        ("created_at", "timestamptz"),
        ("reverses", "uuid"),
        ("payment_id", "uuid"),
        ("counterparty_id", "uuid"),
        ("payout_id", "uuid"),
        ("actor", "text"),
        ("request_id", "text"),
        ("idempotency_key", "text"),
        ("number", "bigint"),
        ("counterparty_number", "bigint"),
        ("hash", "text"),
        ("counterparty_hash", "text"),
    ];
    const ENTRIES: &[(&str, &str)] = &[
        ("seq", "bigint"),
        ("transaction_seq", "bigint"),
        ("transaction_id", "uuid"),
        ("merchant_id", "uuid"),
        ("account_id", "uuid"),
        ("asset", "text"),
        ("direction", "text"),
        ("amount", "bigint"),
        ("effective_at", "timestamptz"),
        ("layer", "text"),
    ];
    if txns.is_empty() {
        return Vec::new();
    }
    let rows = txns
        .iter()
        .map(|(t, _)| {
            json!({
                "seq": t.seq,
                "id": t.id.0,
                "merchant_id": t.merchant.0,
                "kind": t.kind.as_str(),
                "external_ref": t.external_ref,
                "metadata": t.metadata,
                "effective_at": json_time(t.effective_at),
                "created_at": json_time(t.created_at),
                "reverses": t.reverses.map(|r| r.0),
                "payment_id": t.payment,
                "counterparty_id": t.counterparty.map(|c| c.0),
                "payout_id": t.payout,
                "actor": t.actor.to_string(),
                "request_id": t.request_id,
                "idempotency_key": t.idempotency_key,
                "number": t.number,
                "counterparty_number": t.counterparty_number,
                "hash": t.hash,
                "counterparty_hash": t.counterparty_hash,
            })
        })
        .collect();
    let transactions = Write::new(json_rows_insert("transactions", TRANSACTIONS, ""), vec![json_rows(rows)]);
    let rows = txns
        .iter()
        .flat_map(|(t, entries)| {
            entries.iter().map(|e| {
                json!({
                    "seq": e.seq,
                    "transaction_seq": e.transaction_seq,
                    "transaction_id": e.transaction_id.0,
                    "merchant_id": t.merchant.0,
                    "account_id": e.account.0,
                    "asset": e.asset.as_str(),
                    "direction": e.direction.as_str(),
                    "amount": e.amount.minor(),
                    "effective_at": json_time(e.effective_at),
                    "layer": e.layer.as_str(),
                })
            })
        })
        .collect();
    vec![transactions, Write::new(json_rows_insert("entries", ENTRIES, ""), vec![json_rows(rows)])]
}

/// Finds a transaction by id. With `partition` (a merchant the caller knows
/// is party to it) it looks in that merchant's partition first, by the key
/// `(merchant_id, id)`, one shard on Citus; a deal is stored with its seller,
/// so for its buyer a second read looks for it by `counterparty_id` (every
/// shard on Citus). Without `partition`, by the index on `id` alone (every
/// shard on Citus). Errors: the database's.
pub async fn find(
    db: &impl ConnectionTrait,
    id: TransactionId,
    partition: Option<MerchantId>,
) -> Result<Option<TransactionRecord>, DbErr> {
    let by_id = transaction::Entity::find().filter(transaction::Column::Id.eq(id.0));
    let found = match partition {
        None => by_id.one(db).await?,
        Some(m) => match by_id.clone().filter(transaction::Column::MerchantId.eq(m.0)).one(db).await? {
            Some(row) => Some(row),
            None => by_id.filter(transaction::Column::CounterpartyId.eq(m.0)).one(db).await?,
        },
    };
    found.map(TryInto::try_into).transpose()
}

/// The reversal of `merchant`'s transaction `id`, if it has been reversed (a
/// reversal is stored in its original's partition, so this reads one shard
/// on Citus).
pub async fn reversal_of(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    id: TransactionId,
) -> Result<Option<TransactionRecord>, DbErr> {
    transaction::Entity::find()
        .filter(transaction::Column::MerchantId.eq(merchant.0))
        .filter(transaction::Column::Reverses.eq(id.0))
        .one(db)
        .await?
        .map(TryInto::try_into)
        .transpose()
}

/// The entries of `merchant`'s transaction `id`, in sequence order.
pub async fn entries_of(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    id: TransactionId,
) -> Result<Vec<EntryRecord>, DbErr> {
    entries_of_many(db, &[(merchant, id)]).await
}

/// The entries of several transactions, each named with its merchant (the
/// partition its entries are stored in), in sequence order (one query, routed
/// to those merchants' shards on Citus).
pub async fn entries_of_many(
    db: &impl ConnectionTrait,
    keys: &[(MerchantId, TransactionId)],
) -> Result<Vec<EntryRecord>, DbErr> {
    entry::Entity::find()
        .filter(
            entry::Column::MerchantId.is_in(keys.iter().map(|(m, _)| m.0).collect::<std::collections::BTreeSet<_>>()),
        )
        .filter(entry::Column::TransactionId.is_in(keys.iter().map(|(_, t)| t.0)))
        .order_by_asc(entry::Column::Seq)
        .all(db)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// Loads a posted transaction with its entries, for reversing it;
/// `partition` as in [`find`].
pub async fn load_posted(
    db: &impl ConnectionTrait,
    id: TransactionId,
    partition: Option<MerchantId>,
) -> Result<Option<PostedTransaction>, DbErr> {
    let Some(txn) = find(db, id, partition).await? else { return Ok(None) };
    let entries = entries_of(db, txn.merchant, id).await?;
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

/// The row key (`seq`) of transaction `number` of `merchant`'s journal: every
/// entry on the merchant's accounts up to it is from its transactions up to
/// that number, since the journal takes row keys in its own order. Before
/// the first: -1; past the last: the largest key there can be.
pub(crate) async fn row_key_of(db: &impl ConnectionTrait, merchant: MerchantId, number: i64) -> Result<i64, DbErr> {
    if number <= 0 {
        return Ok(-1);
    }
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT seq FROM transactions WHERE merchant_id = $1 AND number = $2 \
             UNION ALL SELECT seq FROM transactions WHERE counterparty_id = $1 AND counterparty_number = $2",
            vec![merchant.0.into(), number.into()],
        ))
        .await?;
    match row {
        Some(r) => r.try_get("", "seq"),
        None => Ok(i64::MAX),
    }
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

/// The rows of a transaction search (`core::posting::search`, which checks
/// first that an index serves it): `merchant`'s (`None`: every merchant the
/// transaction's tenant sees) matching `search`, newest first by sequence
/// then merchant, after `after`, at most `limit`.
pub async fn search(
    db: &impl ConnectionTrait,
    merchant: Option<MerchantId>,
    search: &super::search::Search,
    after: Option<super::search::After>,
    limit: u64,
) -> Result<Vec<TransactionRecord>, DbErr> {
    use super::search::MetadataCondition;
    use sea_orm::sea_query::Expr;
    let mut q = transaction::Entity::find();
    if let Some(m) = merchant {
        q = q.filter(transaction::Column::MerchantId.eq(m.0));
    }
    match search.external_refs.as_slice() {
        [] => {}
        [one] => q = q.filter(transaction::Column::ExternalRef.eq(one.as_str())),
        many => q = q.filter(transaction::Column::ExternalRef.is_in(many.iter().map(String::as_str))),
    }
    for condition in &search.metadata {
        q = q.filter(match condition {
            MetadataCondition::Equals(key, value) => {
                Expr::cust_with_values("metadata @> $1", [serde_json::json!({ key.as_str(): value })])
            }
            MetadataCondition::Exists(key) => Expr::cust_with_values("metadata ? $1", [key.clone()]),
        });
    }
    if let Some(kind) = search.kind {
        q = q.filter(transaction::Column::Kind.eq(kind.as_str()));
    }
    if let Some(payment) = search.payment {
        q = q.filter(transaction::Column::PaymentId.eq(payment));
    }
    for (range, column) in
        [(search.effective, transaction::Column::EffectiveAt), (search.created, transaction::Column::CreatedAt)]
    {
        if let Some(from) = range.from {
            q = q.filter(column.gte(from));
        }
        if let Some(to) = range.to {
            q = q.filter(column.lt(to));
        }
    }
    if let Some(account) = search.account {
        // The account's entries in the searched merchant's partition (a
        // search is anchored to one merchant unless it names an external
        // reference), joined back by the journal's key.
        q = q.filter(match merchant {
            Some(m) => Expr::cust_with_values(
                "(merchant_id, seq) IN (SELECT merchant_id, transaction_seq FROM entries \
                 WHERE account_id = $1 AND merchant_id = $2)",
                [account.0, m.0],
            ),
            None => Expr::cust_with_values(
                "(merchant_id, seq) IN (SELECT merchant_id, transaction_seq FROM entries WHERE account_id = $1)",
                [account.0],
            ),
        });
    }
    if let Some(after) = after {
        q = q.filter(
            sea_orm::Condition::any().add(transaction::Column::Seq.lt(after.seq)).add(
                sea_orm::Condition::all()
                    .add(transaction::Column::Seq.eq(after.seq))
                    .add(transaction::Column::MerchantId.lt(after.merchant.0)),
            ),
        );
    }
    q.order_by_desc(transaction::Column::Seq)
        .order_by_desc(transaction::Column::MerchantId)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// Builds the entry rows of a transaction from its sequence numbers.
pub fn number_entries(
    txn: &TransactionRecord,
    entry_seqs: &[i64],
    entries: impl IntoIterator<Item = (AccountId, AssetCode, Direction, Amount, Layer)>,
) -> Vec<EntryRecord> {
    entries
        .into_iter()
        .zip(entry_seqs.iter().copied())
        .map(|((account, asset, direction, amount, layer), seq)| EntryRecord {
            seq,
            merchant: txn.merchant,
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

/// The transactions that are steps of `merchant`'s payment or payout, in
/// sequence order (all in the merchant's partition: one shard on Citus).
pub async fn linked(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    link: Link,
) -> Result<Vec<TransactionRecord>, DbErr> {
    let filter = match link {
        Link::Payment(id) => transaction::Column::PaymentId.eq(id),
        Link::Payout(id) => transaction::Column::PayoutId.eq(id),
    };
    transaction::Entity::find()
        .filter(transaction::Column::MerchantId.eq(merchant.0))
        .filter(filter)
        .order_by_asc(transaction::Column::Seq)
        .all(db)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}
