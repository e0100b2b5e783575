//! The outbox: `ledger_events` rows, and how far each broker relay has published.
//!
//! An event is inserted by the write path inside the database transaction that
//! posts its ledger transaction, so it commits (or rolls back) with it. Readers
//! page through events in sequence order; since sequence numbers are assigned
//! in commit order with no gaps (see [`super::transactions`]), "every event after
//! N" read at any moment is a prefix of what will ever follow N.

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use crate::core::db::stmt;
use crate::domain::MerchantId;
use crate::domain::event::LedgerEvent;

/// Name of the PostgreSQL `LISTEN`/`NOTIFY` channel the write path notifies
/// (see [`super::set_write_tenant`]); the payload is the writing instance's id.
/// A notification is only a wake-up: readers always read the outbox, because
/// notifications can be lost (a listener that reconnects misses those sent
/// meanwhile).
pub const NOTIFY_CHANNEL: &str = "ledger_events";

/// Appends an event. Runs inside the transaction that posts the event's
/// ledger transaction. Errors: any database failure.
pub async fn insert(db: &impl ConnectionTrait, event: &LedgerEvent) -> Result<(), DbErr> {
    insert_many(db, std::slice::from_ref(event)).await
}

/// Appends many events, one multi-row insert per chunk; runs inside the
/// transaction that posts their ledger transactions. Errors: any database failure.
pub async fn insert_many(db: &impl ConnectionTrait, events: &[LedgerEvent]) -> Result<(), DbErr> {
    const COLUMNS: usize = 8;
    for chunk in events.chunks(crate::core::db::rows_per_statement(COLUMNS)) {
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for event in chunk {
            let payload =
                serde_json::to_value(event).map_err(|e| crate::core::db::corrupt(format!("event payload: {e}")))?;
            values.extend([
                event.sequence.into(),
                event.id.into(),
                event.merchant_id.0.into(),
                event.counterparty_id.map(|c| c.0).into(),
                event.kind.as_str().into(),
                event.transaction.id.into(),
                payload.into(),
                event.occurred_at.into(),
            ]);
        }
        let sql = format!(
            "INSERT INTO ledger_events (seq, id, merchant_id, counterparty_id, kind, transaction_id, payload, created_at) \
             VALUES {}",
            crate::core::db::placeholder_rows(chunk.len(), COLUMNS)
        );
        db.execute_raw(stmt(db, &sql, values)).await?;
    }
    Ok(())
}

/// Up to `limit` events after sequence `after`, in sequence order; only those
/// that concern `merchant` (its own or its deals) when given. Row-level security
/// hides what the connection's tenant may not see.
pub async fn page(
    db: &impl ConnectionTrait,
    after: i64,
    merchant: Option<MerchantId>,
    limit: u64,
) -> Result<Vec<LedgerEvent>, DbErr> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match merchant {
        None => {
            db.query_all_raw(stmt(
                db,
                "SELECT payload FROM ledger_events WHERE seq > $1 ORDER BY seq LIMIT $2",
                vec![after.into(), limit.into()],
            ))
            .await?
        }
        // Two index range scans merged, rather than one OR that defeats both indexes.
        Some(m) => {
            db.query_all_raw(stmt(
                db,
                "SELECT payload, seq FROM ledger_events WHERE merchant_id = $1 AND seq > $2 \
                 UNION ALL \
                 SELECT payload, seq FROM ledger_events WHERE counterparty_id = $1 AND seq > $2 \
                 ORDER BY seq LIMIT $3",
                vec![m.0.into(), after.into(), limit.into()],
            ))
            .await?
        }
    };
    rows.into_iter()
        .map(|row| {
            let payload: serde_json::Value = row.try_get("", "payload")?;
            serde_json::from_value(payload).map_err(|e| crate::core::db::corrupt(format!("stored event payload: {e}")))
        })
        .collect()
}

/// The sequence number of the last committed ledger transaction (0 when none):
/// the point a reader in the same snapshot has seen everything up to.
pub async fn head(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(stmt(db, "SELECT last_transaction_seq FROM ledger_clock WHERE id = 1", vec![]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("ledger_clock".into()))?;
    row.try_get("", "last_transaction_seq")
}

/// Makes sure relay `name` has a progress row; a new relay starts after `start`.
pub async fn ensure_relay(db: &impl ConnectionTrait, name: &str, start: i64) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        db,
        "INSERT INTO outbox_relays (name, last_seq, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        vec![name.into(), start.into(), Utc::now().into()],
    ))
    .await?;
    Ok(())
}

/// Takes relay `name`'s progress row for the open transaction and returns the
/// last sequence it published, or `None` when another instance holds it
/// (PostgreSQL `FOR UPDATE SKIP LOCKED`: the instances take turns, never
/// publishing the same events at the same time). SQLite has one writer, so
/// there the row is simply read.
pub async fn claim_relay(db: &impl ConnectionTrait, name: &str) -> Result<Option<i64>, DbErr> {
    let lock = match db.get_database_backend() {
        DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let row = db
        .query_one_raw(stmt(
            db,
            &format!("SELECT last_seq FROM outbox_relays WHERE name = $1{lock}"),
            vec![name.into()],
        ))
        .await?;
    row.map(|r| r.try_get("", "last_seq")).transpose()
}

/// Records that relay `name` has published everything up to `seq`.
pub async fn advance_relay(db: &impl ConnectionTrait, name: &str, seq: i64) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        db,
        "UPDATE outbox_relays SET last_seq = $1, updated_at = $2 WHERE name = $3 AND last_seq < $1",
        vec![seq.into(), Utc::now().into(), name.into()],
    ))
    .await?;
    Ok(())
}

/// How far relay `name` has published (0 when it has never run).
pub async fn relay_position(db: &impl ConnectionTrait, name: &str) -> Result<i64, DbErr> {
    let row =
        db.query_one_raw(stmt(db, "SELECT last_seq FROM outbox_relays WHERE name = $1", vec![name.into()])).await?;
    Ok(row.map(|r| r.try_get("", "last_seq")).transpose()?.unwrap_or(0))
}
