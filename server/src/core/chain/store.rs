//! The chains' SQL: heads moved with the clocks, a merchant's journal read in
//! chain order, the whole-book chain check, checkpoints and their keys.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{entry, transaction};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use super::{ChainBreak, Head};
use crate::core::db::{Write, json_rows, stmt};
use crate::core::posting::store::{EntryRecord, TransactionRecord};
use crate::domain::chain::{GENESIS, Link, from_hex, link, to_hex};
use crate::domain::{MerchantId, TransactionId};

/// A link as stored (`merchant_clocks.head_hash`, `checkpoints.head_hash`).
/// Errors: `DbErr::Type` (via `corrupt`) for anything but 64 hex digits.
pub(in crate::core) fn stored_link(text: &str) -> Result<Link, DbErr> {
    from_hex(text).ok_or_else(|| crate::core::db::corrupt(format!("chain head `{text}`")))
}

/// The write that moves the clocks of a write's merchants to where the write
/// leaves them (last journal number and chain head), for
/// [`crate::core::db::write_together`] (one PostgreSQL node): the clock rows
/// were locked, not yet changed, by `posting::store::reserve`, so each gets
/// one new row version per write. `None` when none moved.
pub(in crate::core) fn clocks_write(moved: &BTreeMap<MerchantId, Head>) -> Option<Write> {
    if moved.is_empty() {
        return None;
    }
    let rows =
        moved.iter().map(|(m, h)| serde_json::json!({ "m": m.0, "n": h.number, "h": to_hex(&h.link) })).collect();
    Some(Write::new(
        "UPDATE merchant_clocks c SET last_transaction_seq = r.n, head_hash = r.h \
         FROM json_to_recordset($1::text::json) AS r(m uuid, n bigint, h text) WHERE c.merchant_id = r.m",
        vec![json_rows(rows)],
    ))
}

/// Moves the clocks of a write's merchants (number and head), one statement
/// per merchant (SQLite, Citus, and the one-request path). Errors: the
/// database's; `RecordNotUpdated` for a merchant without a clock (a bug: its
/// clock was just locked).
pub(in crate::core) async fn store_clocks(
    db: &impl ConnectionTrait,
    moved: &BTreeMap<MerchantId, Head>,
) -> Result<(), DbErr> {
    for (m, h) in moved {
        let done = db
            .execute_raw(stmt(
                db,
                "UPDATE merchant_clocks SET last_transaction_seq = $1, head_hash = $2 WHERE merchant_id = $3",
                vec![h.number.into(), to_hex(&h.link).into(), m.0.into()],
            ))
            .await?;
        if done.rows_affected() != 1 {
            return Err(DbErr::RecordNotUpdated);
        }
    }
    Ok(())
}

/// One transaction of a merchant's journal, as the chain sees it.
#[derive(Debug, Clone)]
pub(in crate::core) struct JournalItem {
    /// Its journal number.
    pub sequence: i64,
    /// The row.
    pub transaction: TransactionRecord,
    /// Its entries in posting order.
    pub entries: Vec<EntryRecord>,
    /// Its stored link in this journal's chain.
    pub link: Option<String>,
}

/// Transactions `after + 1 ..= after + limit` of `merchant`'s journal (its own
/// and the deals it is counterparty of), in journal order, with their entries.
/// Errors: the database's.
pub(in crate::core) async fn journal_page(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    after: i64,
    limit: i64,
) -> Result<Vec<JournalItem>, DbErr> {
    let until = after.saturating_add(limit);
    let own = transaction::Entity::find()
        .filter(transaction::Column::MerchantId.eq(merchant.0))
        .filter(transaction::Column::Number.gt(after))
        .filter(transaction::Column::Number.lte(until))
        .all(db)
        .await?;
    let deals = transaction::Entity::find()
        .filter(transaction::Column::CounterpartyId.eq(merchant.0))
        .filter(transaction::Column::CounterpartyNumber.gt(after))
        .filter(transaction::Column::CounterpartyNumber.lte(until))
        .all(db)
        .await?;
    let mut items = Vec::with_capacity(own.len() + deals.len());
    for row in own {
        let t: TransactionRecord = row.try_into()?;
        items.push((t.number, t.hash.clone(), t));
    }
    for row in deals {
        let t: TransactionRecord = row.try_into()?;
        items.push((t.counterparty_number.unwrap_or_default(), t.counterparty_hash.clone(), t));
    }
    items.sort_by_key(|(n, _, _)| *n);
    // The entries, by the partition each transaction is stored in.
    let mut by_owner: BTreeMap<MerchantId, Vec<i64>> = BTreeMap::new();
    for (_, _, t) in &items {
        by_owner.entry(t.merchant).or_default().push(t.seq);
    }
    let mut entries: BTreeMap<(MerchantId, i64), Vec<EntryRecord>> = BTreeMap::new();
    for (owner, seqs) in by_owner {
        for chunk in seqs.chunks(2_000) {
            let rows = entry::Entity::find()
                .filter(entry::Column::MerchantId.eq(owner.0))
                .filter(entry::Column::TransactionSeq.is_in(chunk.iter().copied()))
                .order_by_asc(entry::Column::Seq)
                .all(db)
                .await?;
            for row in rows {
                let e: EntryRecord = row.try_into()?;
                entries.entry((owner, e.transaction_seq)).or_default().push(e);
            }
        }
    }
    Ok(items
        .into_iter()
        .map(|(sequence, link, t)| JournalItem {
            sequence,
            entries: entries.remove(&(t.merchant, t.seq)).unwrap_or_default(),
            transaction: t,
            link,
        })
        .collect())
}

/// Every merchant's clock: its last journal number and chain head.
pub(in crate::core) async fn clocks(db: &impl ConnectionTrait) -> Result<Vec<(MerchantId, i64, Link)>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT merchant_id, last_transaction_seq, head_hash FROM merchant_clocks ORDER BY merchant_id",
            vec![],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let head = stored_link(&r.try_get::<String>("", "head_hash")?)?;
            Ok((MerchantId(r.try_get("", "merchant_id")?), r.try_get("", "last_transaction_seq")?, head))
        })
        .collect()
}

/// One merchant's clock (last number, head), read in the caller's snapshot.
pub(in crate::core) async fn clock(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
) -> Result<Option<(i64, Link)>, DbErr> {
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT last_transaction_seq, head_hash FROM merchant_clocks WHERE merchant_id = $1",
            vec![merchant.0.into()],
        ))
        .await?;
    row.map(|r| Ok((r.try_get("", "last_transaction_seq")?, stored_link(&r.try_get::<String>("", "head_hash")?)?)))
        .transpose()
}

/// How many journal transactions one read of [`verify_chains`] takes.
const PAGE: i64 = 5_000;

/// Recomputes every merchant's chain from the stored rows and reports each
/// chain that does not hold, at its first bad transaction (run it as the
/// database owner, past row-level security). A journal's transactions
/// written before the chains (migration 26) have no link and come first; the
/// chain starts from 32 zero bytes at the first linked one. Errors: the
/// database's.
pub async fn verify_chains(db: &impl ConnectionTrait) -> Result<Vec<ChainBreak>, DbErr> {
    let mut breaks = Vec::new();
    for (merchant, last, head) in clocks(db).await? {
        if let Some(b) = verify_one(db, merchant, last, head).await? {
            breaks.push(b);
        }
    }
    Ok(breaks)
}

async fn verify_one(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    last: i64,
    head: Link,
) -> Result<Option<ChainBreak>, DbErr> {
    let broken = |sequence: i64, transaction: Option<TransactionId>, problem: String| {
        Ok(Some(ChainBreak { merchant, sequence, transaction, problem }))
    };
    let mut previous: Option<Link> = None;
    let mut after = 0;
    while after < last {
        let page = journal_page(db, merchant, after, PAGE.min(last - after)).await?;
        if page.is_empty() {
            return broken(after + 1, None, "the journal ends before its clock".into());
        }
        for item in page {
            let id = Some(item.transaction.id);
            if item.sequence != after + 1 {
                return broken(after + 1, id, format!("journal number {} is missing", after + 1));
            }
            after = item.sequence;
            let Some(stored) = item.link.as_deref() else {
                if previous.is_some() {
                    return broken(item.sequence, id, "no link after linked transactions".into());
                }
                continue;
            };
            let encoded = super::chain_transaction(merchant, item.sequence, &item.transaction, &item.entries);
            let expected = match link(&previous.unwrap_or(GENESIS), &encoded) {
                Ok(l) => l,
                Err(e) => return broken(item.sequence, id, e.to_string()),
            };
            if from_hex(stored) != Some(expected) {
                return broken(item.sequence, id, format!("stored link {stored} is not {}", to_hex(&expected)));
            }
            previous = Some(expected);
        }
    }
    if previous.unwrap_or(GENESIS) != head {
        return broken(last, None, format!("the clock's head {} is not the last link", to_hex(&head)));
    }
    Ok(None)
}

/// A stored signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::core) struct CheckpointRow {
    /// The journal.
    pub merchant: MerchantId,
    /// The journal number it covers up to.
    pub sequence: i64,
    /// The link at that number.
    pub head: Link,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// The C2SP verifier key that signed it.
    pub verifier_key: String,
    /// The signed note.
    pub note: String,
}

fn checkpoint_row(r: &sea_orm::QueryResult) -> Result<CheckpointRow, DbErr> {
    Ok(CheckpointRow {
        merchant: MerchantId(r.try_get("", "merchant_id")?),
        sequence: r.try_get("", "sequence")?,
        head: stored_link(&r.try_get::<String>("", "head_hash")?)?,
        signed_at: r.try_get("", "signed_at")?,
        verifier_key: r.try_get("", "verifier_key")?,
        note: r.try_get("", "note")?,
    })
}

/// The latest checkpoint of each merchant (by sequence, then time).
pub(in crate::core) async fn latest_checkpoints(
    db: &impl ConnectionTrait,
) -> Result<BTreeMap<MerchantId, CheckpointRow>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT c.merchant_id, c.sequence, c.head_hash, c.signed_at, c.verifier_key, c.note FROM checkpoints c \
             WHERE c.sequence = (SELECT MAX(d.sequence) FROM checkpoints d WHERE d.merchant_id = c.merchant_id) \
             ORDER BY c.merchant_id, c.signed_at",
            vec![],
        ))
        .await?;
    // Several keys may have signed a merchant's last sequence: the latest
    // signature wins (the rows come oldest first).
    let mut latest = BTreeMap::new();
    for r in &rows {
        let c = checkpoint_row(r)?;
        latest.insert(c.merchant, c);
    }
    Ok(latest)
}

/// `merchant`'s latest checkpoint. Errors: the database's.
pub(in crate::core) async fn latest_checkpoint(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
) -> Result<Option<CheckpointRow>, DbErr> {
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT merchant_id, sequence, head_hash, signed_at, verifier_key, note FROM checkpoints \
             WHERE merchant_id = $1 ORDER BY sequence DESC, signed_at DESC LIMIT 1",
            vec![merchant.0.into()],
        ))
        .await?;
    row.as_ref().map(checkpoint_row).transpose()
}

/// Stores a checkpoint; a second one for the same merchant, sequence and key
/// is dropped (it says the same). Errors: the database's.
pub(in crate::core) async fn insert_checkpoint(db: &impl ConnectionTrait, c: &CheckpointRow) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        db,
        "INSERT INTO checkpoints (merchant_id, sequence, head_hash, signed_at, verifier_key, note) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        vec![
            c.merchant.0.into(),
            c.sequence.into(),
            to_hex(&c.head).into(),
            c.signed_at.into(),
            c.verifier_key.clone().into(),
            c.note.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// A public key the platform signs (or signed) checkpoints with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// The C2SP verifier key: `name+keyid+base64(0x01 || public key)`.
    pub verifier_key: String,
    /// The key's name.
    pub name: String,
    /// Its key id, 8 hex digits.
    pub key_id: String,
    /// When a server first signed with it.
    pub first_used_at: DateTime<Utc>,
    /// When a newer key replaced it; `None` for the key in use.
    pub retired_at: Option<DateTime<Utc>>,
}

/// Records `key` as the one in use: adds it when new, marks every other key
/// retired now. Errors: the database's.
pub(in crate::core) async fn use_key(
    db: &impl ConnectionTrait,
    verifier_key: &str,
    name: &str,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        db,
        "INSERT INTO checkpoint_keys (verifier_key, name, key_id, first_used_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (verifier_key) DO UPDATE SET retired_at = NULL",
        vec![verifier_key.into(), name.into(), key_id.into(), now.into()],
    ))
    .await?;
    db.execute_raw(stmt(
        db,
        "UPDATE checkpoint_keys SET retired_at = $1 WHERE verifier_key <> $2 AND retired_at IS NULL",
        vec![now.into(), verifier_key.into()],
    ))
    .await?;
    Ok(())
}

/// Every key ever used, oldest first. Errors: the database's.
pub(in crate::core) async fn keys(db: &impl ConnectionTrait) -> Result<Vec<KeyRow>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT verifier_key, name, key_id, first_used_at, retired_at FROM checkpoint_keys \
             ORDER BY first_used_at, verifier_key",
            vec![],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyRow {
                verifier_key: r.try_get("", "verifier_key")?,
                name: r.try_get("", "name")?,
                key_id: r.try_get("", "key_id")?,
                first_used_at: r.try_get("", "first_used_at")?,
                retired_at: r.try_get("", "retired_at")?,
            })
        })
        .collect()
}

/// The journal number of `merchant`'s first linked transaction (its books may
/// predate the chains); `None` when none is linked. Errors: the database's.
pub(in crate::core) async fn first_linked(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
) -> Result<Option<i64>, DbErr> {
    let own = transaction::Entity::find()
        .filter(transaction::Column::MerchantId.eq(merchant.0))
        .filter(transaction::Column::Hash.is_not_null())
        .order_by_asc(transaction::Column::Number)
        .one(db)
        .await?
        .map(|t| t.number);
    let deal = transaction::Entity::find()
        .filter(transaction::Column::CounterpartyId.eq(merchant.0))
        .filter(transaction::Column::CounterpartyHash.is_not_null())
        .order_by_asc(transaction::Column::CounterpartyNumber)
        .one(db)
        .await?
        .and_then(|t| t.counterparty_number);
    Ok(own.into_iter().chain(deal).min())
}
