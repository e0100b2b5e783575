//! The outbox: the committed ledger events (`ledger_events`), written by the
//! write path in the same database transaction as what they describe, and read
//! here by the event hub (subscriptions), the `events` query and the NATS
//! relay. Nothing is ever shown before it commits.
//!
//! Reads return [`sea_orm::DbErr`] on failure: the hub and the relay retry on
//! any error, and the GraphQL layer shows it as `INTERNAL_SERVER_ERROR`.

pub(in crate::core) mod store;

pub use store::NOTIFY_CHANNEL;

use sea_orm::{DatabaseTransaction, DbErr};

use super::Reads;
use super::access::rules::Tenant;
use super::session::Pool;
use crate::domain::MerchantId;
use crate::domain::event::LedgerEvent;

/// Up to `limit` events after sequence `after`, in sequence order; only those
/// that concern `merchant` (its own or its deals) when given, and only what the
/// reads' tenant may see.
pub async fn page(
    reads: &Reads,
    after: i64,
    merchant: Option<MerchantId>,
    limit: u64,
) -> Result<Vec<LedgerEvent>, DbErr> {
    store::page(reads.db(), after, merchant, limit).await
}

/// Like [`page`], in a read transaction of its own as `tenant`.
pub async fn page_as(
    pool: &Pool,
    tenant: Tenant,
    after: i64,
    merchant: Option<MerchantId>,
    limit: u64,
) -> Result<Vec<LedgerEvent>, DbErr> {
    let txn = super::db::begin_read(pool, tenant).await?;
    let page = store::page(&txn, after, merchant, limit).await?;
    txn.commit().await?;
    Ok(page)
}

/// The sequence of the last committed ledger transaction (0 when none), as
/// seen by `reads`.
pub async fn head(reads: &Reads) -> Result<i64, DbErr> {
    store::head(reads.db()).await
}

/// The sequence of the last committed ledger transaction, in a read of its own.
pub async fn head_now(pool: &Pool) -> Result<i64, DbErr> {
    let txn = super::db::begin_read(pool, Tenant::All).await?;
    let head = store::head(&txn).await?;
    txn.commit().await?;
    Ok(head)
}

/// Makes sure relay `name` has a progress row; a new relay starts after
/// sequence `start`.
pub async fn ensure_relay(pool: &Pool, name: &str, start: i64) -> Result<(), DbErr> {
    let txn = super::db::begin_write(pool, Tenant::All, false).await?;
    store::ensure_relay(&txn, name, start).await?;
    txn.commit().await
}

/// How far relay `name` has published (0 when it has never run).
pub async fn relay_position(pool: &Pool, name: &str) -> Result<i64, DbErr> {
    let txn = super::db::begin_read(pool, Tenant::All).await?;
    let at = store::relay_position(&txn, name).await?;
    txn.commit().await?;
    Ok(at)
}

/// One relay instance's turn: relay `name`'s progress row, held (PostgreSQL
/// `FOR UPDATE SKIP LOCKED`) until [`RelayTurn::advance`] or drop, so the
/// instances take turns and never publish the same events at once.
pub struct RelayTurn {
    txn: DatabaseTransaction,
    name: String,
    last: i64,
}

impl RelayTurn {
    /// Takes relay `name`'s turn; `None` when another instance holds it.
    pub async fn claim(pool: &Pool, name: &str) -> Result<Option<RelayTurn>, DbErr> {
        let txn = super::db::begin_write(pool, Tenant::All, false).await?;
        match store::claim_relay(&txn, name).await? {
            Some(last) => Ok(Some(RelayTurn { txn, name: name.to_owned(), last })),
            None => {
                txn.commit().await?;
                Ok(None)
            }
        }
    }

    /// Up to `limit` events after the last one published, in sequence order.
    pub async fn batch(&self, limit: u64) -> Result<Vec<LedgerEvent>, DbErr> {
        store::page(&self.txn, self.last, None, limit).await
    }

    /// Records that everything up to `seq` is published, and ends the turn.
    pub async fn advance(self, seq: i64) -> Result<(), DbErr> {
        store::advance_relay(&self.txn, &self.name, seq).await?;
        self.txn.commit().await
    }

    /// Ends the turn without moving.
    pub async fn release(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}
