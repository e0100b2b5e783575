//! The outbox: `ledger_events` rows, and how far each broker relay has published.
//!
//! An event is inserted by the write path inside the database transaction that
//! posts its ledger transaction, so it commits (or rolls back) with it. Two
//! ways to read it (see [`crate::domain::event`]):
//!
//! - **One merchant's events**, by its journal numbers (`number` for its own
//!   transactions, `counterparty_number` for deals it is the counterparty
//!   of). Each journal is numbered under its merchant's clock lock, so a
//!   number becomes visible only after every smaller one: "after N" read at
//!   any moment is a prefix of what will ever follow N.
//! - **The whole feed**, by position `(writer_xid, seq)`, only below the
//!   visibility watermark: `writer_xid < pg_snapshot_xmin(pg_current_snapshot())`.
//!   Every database transaction with an id under the watermark has ended, so
//!   nothing can still commit before a position the reader has passed. A long
//!   write transaction holds the watermark back (and the feed with it) until
//!   it ends; it never makes the feed skip. SQLite has one writer and every
//!   `writer_xid` is 0, so there the feed is `seq` order.

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};

use crate::core::db::stmt;
use crate::domain::MerchantId;
use crate::domain::event::{FeedPosition, LedgerEvent};

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
    const COLUMNS: usize = 10;
    if crate::core::db::rows_as_json(db) {
        return insert_many_json(db, events).await;
    }
    for chunk in events.chunks(crate::core::db::rows_per_statement(COLUMNS)) {
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for event in chunk {
            let payload =
                serde_json::to_value(event).map_err(|e| crate::core::db::corrupt(format!("event payload: {e}")))?;
            values.extend([
                event.position.seq.into(),
                event.sequence.into(),
                event.counterparty_sequence.into(),
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
            "INSERT INTO ledger_events (seq, number, counterparty_number, id, merchant_id, counterparty_id, kind, \
             transaction_id, payload, created_at) VALUES {}",
            crate::core::db::placeholder_rows(chunk.len(), COLUMNS)
        );
        db.execute_raw(stmt(db, &sql, values)).await?;
    }
    Ok(())
}

/// [`insert_many`] on one PostgreSQL node, in one statement of one text
/// whatever the batch's length ([`crate::core::db::rows_as_json`]).
async fn insert_many_json(db: &impl ConnectionTrait, events: &[LedgerEvent]) -> Result<(), DbErr> {
    if let Some(w) = insert_write(events)? {
        db.execute_raw(stmt(db, &w.sql, w.values)).await?;
    }
    Ok(())
}

/// The statement of [`insert_many_json`], to run alone or with the rest of a
/// batch's writes ([`crate::core::db::write_together`]); None for no events.
/// Errors: an event that does not serialize (a bug).
pub(crate) fn insert_write(events: &[LedgerEvent]) -> Result<Option<crate::core::db::Write>, DbErr> {
    use crate::core::db::{json_rows, json_rows_insert, json_time};
    const COLUMNS: &[(&str, &str)] = &[
        ("seq", "bigint"),
        ("number", "bigint"),
        ("counterparty_number", "bigint"),
        ("id", "uuid"),
        ("merchant_id", "uuid"),
        ("counterparty_id", "uuid"),
        ("kind", "text"),
        ("transaction_id", "uuid"),
        ("payload", "json"),
        ("created_at", "timestamptz"),
    ];
    if events.is_empty() {
        return Ok(None);
    }
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let payload =
            serde_json::to_value(event).map_err(|e| crate::core::db::corrupt(format!("event payload: {e}")))?;
        rows.push(serde_json::json!({
            "seq": event.position.seq,
            "number": event.sequence,
            "counterparty_number": event.counterparty_sequence,
            "id": event.id,
            "merchant_id": event.merchant_id.0,
            "counterparty_id": event.counterparty_id.map(|c| c.0),
            "kind": event.kind.as_str(),
            "transaction_id": event.transaction.id,
            "payload": payload,
            "created_at": json_time(event.occurred_at),
        }));
    }
    let sql = json_rows_insert("ledger_events", COLUMNS, "");
    Ok(Some(crate::core::db::Write::new(sql, vec![json_rows(rows)])))
}

/// The columns an event is read with: its payload, and the stored numbers
/// and position that the payload's own copies are overwritten with.
const EVENT_COLUMNS: &str = "payload, seq, writer_xid, number, counterparty_number";

/// The PostgreSQL visibility watermark: every database transaction with a
/// smaller id has ended.
const WATERMARK: &str = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// On Citus: the watermark, computed on the coordinator.
///
/// `writer_xid` is the coordinator's transaction id (Citus evaluates the
/// column default there), but a feed query's `WHERE` runs on the workers,
/// where [`WATERMARK`] would read the workers' own, unrelated ids. So the
/// bound is read first on the coordinator. It is also held below the oldest
/// distributed transaction still in `pg_dist_transaction` (`outer_xid`, the
/// coordinator's id): a transaction that wrote to two workers (a deal)
/// commits on the coordinator before `COMMIT PREPARED` reaches the workers,
/// and its event must not be passed over in that window. Citus's 2PC
/// recovery removes the row once the workers have committed
/// (`citus.recover_2pc_interval`), so a deal holds the feed back at most that
/// long. Rows without a coordinator id (`outer_xid` 0: a distributed
/// transaction that wrote nothing on the coordinator, such as DDL) cannot hold
/// an event and are not counted. Errors: the database's.
pub(crate) async fn citus_watermark(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(stmt(
            db,
            &format!(
                "SELECT LEAST({WATERMARK}, (SELECT MIN(outer_xid::text::bigint) FROM pg_dist_transaction WHERE outer_xid::text::bigint > 0)) AS w"
            ),
            vec![],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the feed watermark".into()))?;
    row.try_get("", "w")
}

/// The `writer_xid` bound of a feed read (`writer_xid < …`): [`WATERMARK`] on
/// PostgreSQL, in the read itself; on Citus the number [`citus_watermark`]
/// read first; none on SQLite, whose one writer makes every committed row
/// visible in order.
async fn visible_below(db: &impl ConnectionTrait) -> Result<Option<String>, DbErr> {
    Ok(match db.get_database_backend() {
        DbBackend::Postgres if crate::core::db::on_citus() => Some(citus_watermark(db).await?.to_string()),
        DbBackend::Postgres => Some(WATERMARK.to_owned()),
        _ => None,
    })
}

fn event_of(row: QueryResult) -> Result<LedgerEvent, DbErr> {
    let payload: serde_json::Value = row.try_get("", "payload")?;
    let mut event: LedgerEvent =
        serde_json::from_value(payload).map_err(|e| crate::core::db::corrupt(format!("stored event payload: {e}")))?;
    event.position = FeedPosition { xid: row.try_get("", "writer_xid")?, seq: row.try_get("", "seq")? };
    event.sequence = row.try_get("", "number")?;
    event.counterparty_sequence = row.try_get("", "counterparty_number")?;
    event.version = crate::domain::event::EVENT_SCHEMA_VERSION;
    Ok(event)
}

/// Up to `limit` events of the whole feed after `after`, in position order,
/// below the visibility watermark (see the module doc). Row-level security
/// hides what the connection's tenant may not see.
pub async fn page(db: &impl ConnectionTrait, after: FeedPosition, limit: u64) -> Result<Vec<LedgerEvent>, DbErr> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let visible = visible_below(db).await?.map(|w| format!(" AND writer_xid < {w}")).unwrap_or_default();
    let rows = db
        .query_all_raw(stmt(
            db,
            &format!(
                "SELECT {EVENT_COLUMNS} FROM ledger_events WHERE (writer_xid > $1 OR (writer_xid = $1 AND seq > $2)){visible} \
                 ORDER BY writer_xid, seq LIMIT $3"
            ),
            vec![after.xid.into(), after.seq.into(), limit.into()],
        ))
        .await?;
    rows.into_iter().map(event_of).collect()
}

/// How many events of the whole feed come after `after`, counting at most
/// `cap` (an index range scan that stops there). Errors: the database's.
pub async fn count_after(db: &impl ConnectionTrait, after: FeedPosition, cap: u64) -> Result<u64, DbErr> {
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM ledger_events \
             WHERE writer_xid > $1 OR (writer_xid = $1 AND seq > $2) LIMIT $3) AS unpublished",
            vec![after.xid.into(), after.seq.into(), cap.into()],
        ))
        .await?;
    let n: i64 = match row {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Up to `limit` events of `merchant`'s journal after its number `after`, in
/// journal order: its own transactions and the deals it is the counterparty
/// of. Row-level security hides what the connection's tenant may not see.
pub async fn journal_page(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    after: i64,
    limit: u64,
) -> Result<Vec<LedgerEvent>, DbErr> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Two index range scans merged, rather than one OR that defeats both indexes.
    let rows = db
        .query_all_raw(stmt(
            db,
            &format!(
                "SELECT {EVENT_COLUMNS}, number AS journal FROM ledger_events WHERE merchant_id = $1 AND number > $2 \
                 UNION ALL \
                 SELECT {EVENT_COLUMNS}, counterparty_number AS journal FROM ledger_events \
                 WHERE counterparty_id = $1 AND counterparty_number > $2 \
                 ORDER BY journal LIMIT $3"
            ),
            vec![merchant.0.into(), after.into(), limit.into()],
        ))
        .await?;
    rows.into_iter().map(event_of).collect()
}

/// The position of the last event of the whole feed below the visibility
/// watermark ([`FeedPosition::START`] when none).
pub async fn head(db: &impl ConnectionTrait) -> Result<FeedPosition, DbErr> {
    let visible = visible_below(db).await?.map(|w| format!(" WHERE writer_xid < {w}")).unwrap_or_default();
    let row = db
        .query_one_raw(stmt(
            db,
            &format!("SELECT writer_xid, seq FROM ledger_events{visible} ORDER BY writer_xid DESC, seq DESC LIMIT 1"),
            vec![],
        ))
        .await?;
    match row {
        Some(r) => Ok(FeedPosition { xid: r.try_get("", "writer_xid")?, seq: r.try_get("", "seq")? }),
        None => Ok(FeedPosition::START),
    }
}

/// Makes sure relay `name` has a progress row; a new relay starts after `start`.
pub async fn ensure_relay(db: &impl ConnectionTrait, name: &str, start: FeedPosition) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        db,
        "INSERT INTO outbox_relays (name, last_xid, last_seq, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO NOTHING",
        vec![name.into(), start.xid.into(), start.seq.into(), Utc::now().into()],
    ))
    .await?;
    Ok(())
}

/// Takes relay `name`'s progress row for the open transaction and returns the
/// last position it published, or `None` when another instance holds it
/// (PostgreSQL `FOR UPDATE SKIP LOCKED`: the instances take turns, never
/// publishing the same events at the same time). SQLite has one writer, so
/// there the row is simply read.
pub async fn claim_relay(db: &impl ConnectionTrait, name: &str) -> Result<Option<FeedPosition>, DbErr> {
    let lock = match db.get_database_backend() {
        DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let row = db
        .query_one_raw(stmt(
            db,
            &format!("SELECT last_xid, last_seq FROM outbox_relays WHERE name = $1{lock}"),
            vec![name.into()],
        ))
        .await?;
    row.map(relay_row).transpose()
}

fn relay_row(r: QueryResult) -> Result<FeedPosition, DbErr> {
    Ok(FeedPosition { xid: r.try_get("", "last_xid")?, seq: r.try_get("", "last_seq")? })
}

/// Records that relay `name` has published everything up to `at`; never moves
/// it back.
pub async fn advance_relay(db: &impl ConnectionTrait, name: &str, at: FeedPosition) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        db,
        "UPDATE outbox_relays SET last_xid = $1, last_seq = $2, updated_at = $3 \
         WHERE name = $4 AND (last_xid < $1 OR (last_xid = $1 AND last_seq < $2))",
        vec![at.xid.into(), at.seq.into(), Utc::now().into(), name.into()],
    ))
    .await?;
    Ok(())
}

/// How far relay `name` has published ([`FeedPosition::START`] when it has
/// never run).
pub async fn relay_position(db: &impl ConnectionTrait, name: &str) -> Result<FeedPosition, DbErr> {
    let row = db
        .query_one_raw(stmt(db, "SELECT last_xid, last_seq FROM outbox_relays WHERE name = $1", vec![name.into()]))
        .await?;
    Ok(row.map(relay_row).transpose()?.unwrap_or(FeedPosition::START))
}
