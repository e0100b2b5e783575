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
use crate::domain::event::{FeedPosition, LedgerEvent};

/// Up to `limit` events of the whole feed after position `after`, in
/// position order, as far as the visibility watermark (see `store`); only
/// what the reads' tenant may see.
pub async fn page(reads: &Reads, after: FeedPosition, limit: u64) -> Result<Vec<LedgerEvent>, DbErr> {
    store::page(reads.db(), after, limit).await
}

/// Like [`page`], in a read transaction of its own as `tenant`.
pub async fn page_as(pool: &Pool, tenant: Tenant, after: FeedPosition, limit: u64) -> Result<Vec<LedgerEvent>, DbErr> {
    let txn = super::db::begin_read(pool, tenant).await?;
    let page = store::page(&txn, after, limit).await?;
    txn.commit().await?;
    Ok(page)
}

/// Up to `limit` events of `merchant`'s journal after its number `after`, in
/// journal order (its transactions and the deals it is the counterparty of);
/// only what the reads' tenant may see.
pub async fn journal_page(
    reads: &Reads,
    merchant: MerchantId,
    after: i64,
    limit: u64,
) -> Result<Vec<LedgerEvent>, DbErr> {
    store::journal_page(reads.db(), merchant, after, limit).await
}

/// Like [`journal_page`], in a read transaction of its own as `tenant`.
pub async fn journal_page_as(
    pool: &Pool,
    tenant: Tenant,
    merchant: MerchantId,
    after: i64,
    limit: u64,
) -> Result<Vec<LedgerEvent>, DbErr> {
    let txn = super::db::begin_read(pool, tenant).await?;
    let page = store::journal_page(&txn, merchant, after, limit).await?;
    txn.commit().await?;
    Ok(page)
}

/// The last number of `merchant`'s journal (0 when none), as seen by `reads`.
pub async fn journal_head(reads: &Reads, merchant: MerchantId) -> Result<i64, DbErr> {
    crate::core::posting::store::journal_head(reads.db(), merchant).await
}

/// The position of the last event of the whole feed below the visibility
/// watermark, in a read of its own.
pub async fn head_now(pool: &Pool) -> Result<FeedPosition, DbErr> {
    let txn = super::db::begin_read(pool, Tenant::All).await?;
    let head = store::head(&txn).await?;
    txn.commit().await?;
    Ok(head)
}

/// Makes sure relay `name` has a progress row; a new relay starts after
/// position `start`.
pub async fn ensure_relay(pool: &Pool, name: &str, start: FeedPosition) -> Result<(), DbErr> {
    let txn = super::db::begin_write(pool, Tenant::All, false).await?;
    store::ensure_relay(&txn, name, start).await?;
    txn.commit().await
}

/// How far relay `name` has published ([`FeedPosition::START`] when it has
/// never run).
pub async fn relay_position(pool: &Pool, name: &str) -> Result<FeedPosition, DbErr> {
    let txn = super::db::begin_read(pool, Tenant::All).await?;
    let at = store::relay_position(&txn, name).await?;
    txn.commit().await?;
    Ok(at)
}

/// How far the NATS relay is behind the outbox: events committed after the
/// last one it published (counted up to a cap) and when the oldest of them
/// happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLag {
    /// Unpublished events, at most the cap given to [`relay_lag`].
    pub events: u64,
    /// `occurred_at` of the oldest unpublished event visible now; `None`
    /// when there is none.
    pub oldest: Option<chrono::DateTime<chrono::Utc>>,
}

/// Relay `name`'s lag (see [`RelayLag`]), counting at most `cap` events, in
/// a read of its own. Errors: the database's.
pub async fn relay_lag(pool: &Pool, name: &str, cap: u64) -> Result<RelayLag, DbErr> {
    let txn = super::db::begin_read(pool, Tenant::All).await?;
    let at = store::relay_position(&txn, name).await?;
    let events = store::count_after(&txn, at, cap).await?;
    let oldest = store::page(&txn, at, 1).await?.first().map(|e| e.occurred_at);
    txn.commit().await?;
    Ok(RelayLag { events, oldest })
}

/// One relay instance's turn: relay `name`'s progress row, held (PostgreSQL
/// `FOR UPDATE SKIP LOCKED`) until [`RelayTurn::advance`] or drop, so the
/// instances take turns and never publish the same events at once.
pub struct RelayTurn {
    txn: DatabaseTransaction,
    name: String,
    last: FeedPosition,
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

    /// Up to `limit` events after the last one published, in position order.
    pub async fn batch(&self, limit: u64) -> Result<Vec<LedgerEvent>, DbErr> {
        store::page(&self.txn, self.last, limit).await
    }

    /// Records that everything up to `at` is published, and ends the turn.
    pub async fn advance(self, at: FeedPosition) -> Result<(), DbErr> {
        store::advance_relay(&self.txn, &self.name, at).await?;
        self.txn.commit().await
    }

    /// Ends the turn without moving.
    pub async fn release(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}
