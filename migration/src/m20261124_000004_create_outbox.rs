//! Adds the transactional outbox: one `ledger_events` row per committed ledger
//! transaction, written in the same database transaction as its entries, and
//! `outbox_relays`, how far each broker relay has published.
//!
//! Why an outbox: live balance updates and the broker feed must show only what
//! committed, in commit order, and survive restarts. Publishing from memory
//! after a commit loses events on a crash between the commit and the publish;
//! publishing before it shows events that may roll back. A row in the same
//! database transaction is exactly as durable as the entries it describes, and
//! readers (GraphQL subscriptions, the `events` query, the NATS relay) follow
//! the table in sequence order.
//!
//! An event's `seq` is its transaction's sequence number, which is gap-free and
//! commit-ordered (see the ledger clock), so the event feed is too. Events are
//! append-only like the journal: triggers refuse `UPDATE`, `DELETE` and
//! `TRUNCATE`, and the application role may only read and insert them. On
//! PostgreSQL the table is under the same row-level security as the journal:
//! a merchant sees the events of its own transactions and of deals it is the
//! counterparty of.
//!
//! Indexes are kept to what readers use, because every one costs each write:
//! the primary key (the feed in order), `(merchant_id, seq)` (one merchant's
//! feed; also the merchant key that every merchant-owned table carries) and
//! `(counterparty_id, seq)` for deals. The event's merchant, counterparty and
//! transaction id are copies of its transaction's, written by the same code in
//! the same database transaction, so the only foreign key is `seq` to the
//! transaction itself.
//!
//! Transactions committed before this migration have no event (their
//! balances-after cannot be recovered exactly); the feed starts here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE ledger_events (
    seq BIGINT PRIMARY KEY REFERENCES transactions (seq),
    id {uuid} NOT NULL,
    merchant_id {uuid} NOT NULL,
    counterparty_id {uuid},
    kind TEXT NOT NULL,
    transaction_id {uuid} NOT NULL,
    payload {json} NOT NULL,
    created_at {ts} NOT NULL,
    UNIQUE (merchant_id, seq)
);
CREATE INDEX ledger_events_counterparty_seq_idx ON ledger_events (counterparty_id, seq)
    WHERE counterparty_id IS NOT NULL;

CREATE TABLE outbox_relays (
    name TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL CHECK (last_seq >= 0),
    updated_at {ts} NOT NULL
);
"#;

const PG_APPEND_ONLY: &str = r#"
CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_events_no_truncate BEFORE TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
GRANT SELECT, INSERT ON ledger_events TO ledger_app;
REVOKE UPDATE, DELETE ON ledger_events FROM ledger_app;
GRANT SELECT, INSERT, UPDATE ON outbox_relays TO ledger_app;
ALTER TABLE ledger_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY ledger_events_tenant ON ledger_events FOR ALL TO ledger_app USING (
    ledger_sees_all() OR merchant_id = ledger_tenant() OR counterparty_id = ledger_tenant()
    OR (merchant_id = '00000000-0000-0000-0000-000000000000'::uuid AND ledger_sees_platform()));
"#;

const SQLITE_APPEND_ONLY: &str = r#"
CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'ledger table ledger_events is append-only: UPDATE refused'); END;
CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'ledger table ledger_events is append-only: DELETE refused'); END;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let (uuid, ts, json, extra) = match backend {
            // JSON, not JSONB: the payload is written once and read whole,
            // never queried inside, so the binary form's parse on insert buys nothing.
            DbBackend::Postgres => ("UUID", "TIMESTAMPTZ", "JSON", PG_APPEND_ONLY),
            DbBackend::Sqlite => ("BLOB", "TEXT", "TEXT", SQLITE_APPEND_ONLY),
            other => return Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
        };
        let db = manager.get_connection();
        db.execute_unprepared(&UP.replace("{uuid}", uuid).replace("{ts}", ts).replace("{json}", json)).await?;
        db.execute_unprepared(extra).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // DROP TABLE is not a row DELETE, so the append-only triggers allow it.
        db.execute_unprepared("DROP TABLE IF EXISTS outbox_relays").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS ledger_events").await?;
        Ok(())
    }
}
