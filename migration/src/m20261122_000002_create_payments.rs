//! Adds the payment life cycle: an entry `layer` (posted, or a pending hold or
//! release), a `payment_id` and a `counterparty_id` (the other merchant of a
//! deal) on transactions, the `payments` state table and per-merchant fee
//! schedules.
//!
//! `payments` is a projection of the payment's transactions (like `balances`),
//! kept in the same database transaction as them, so it is mutable; the
//! transactions and entries stay append-only.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE entries ADD COLUMN layer TEXT NOT NULL DEFAULT 'posted'
    CHECK (layer IN ('posted', 'hold', 'release'));
ALTER TABLE transactions ADD COLUMN payment_id {uuid};
ALTER TABLE transactions ADD COLUMN counterparty_id {uuid} REFERENCES merchants (id);
ALTER TABLE transactions ADD COLUMN payout_id {uuid};
CREATE INDEX transactions_payout_idx ON transactions (payout_id, seq);
CREATE INDEX transactions_payment_idx ON transactions (payment_id, seq);

CREATE TABLE payments (
    id {uuid} PRIMARY KEY,
    merchant_id {uuid} NOT NULL REFERENCES merchants (id),
    asset TEXT NOT NULL REFERENCES assets (code),
    authorized BIGINT NOT NULL CHECK (authorized > 0),
    captured BIGINT NOT NULL DEFAULT 0 CHECK (captured >= 0),
    released BIGINT NOT NULL DEFAULT 0 CHECK (released >= 0),
    release_kind TEXT CHECK (release_kind IN ('voided', 'expired')),
    fee_captured BIGINT NOT NULL DEFAULT 0 CHECK (fee_captured >= 0),
    refunded BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    disputed_open BIGINT NOT NULL DEFAULT 0 CHECK (disputed_open >= 0),
    charged_back BIGINT NOT NULL DEFAULT 0 CHECK (charged_back >= 0),
    external_ref TEXT,
    expires_at {ts} NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    CHECK (captured + released <= authorized),
    UNIQUE (merchant_id, id)
);
CREATE INDEX payments_merchant_idx ON payments (merchant_id, id);
CREATE INDEX payments_open_expiry_idx ON payments (expires_at) WHERE release_kind IS NULL;

CREATE TABLE payouts (
    id {uuid} PRIMARY KEY,
    merchant_id {uuid} NOT NULL REFERENCES merchants (id),
    asset TEXT NOT NULL REFERENCES assets (code),
    amount BIGINT NOT NULL CHECK (amount > 0),
    state TEXT NOT NULL CHECK (state IN ('in_transit', 'settled', 'failed')),
    period TEXT,
    covers_from_seq BIGINT NOT NULL,
    covers_to_seq BIGINT NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    UNIQUE (merchant_id, id),
    UNIQUE (merchant_id, asset, period)
);

CREATE TABLE payout_settings (
    merchant_id {uuid} NOT NULL REFERENCES merchants (id),
    asset TEXT NOT NULL REFERENCES assets (code),
    reserve_minor BIGINT NOT NULL CHECK (reserve_minor >= 0),
    schedule TEXT CHECK (schedule IN ('daily', 'weekly', 'monthly')),
    updated_at {ts} NOT NULL,
    PRIMARY KEY (merchant_id, asset)
);

CREATE TABLE fee_schedules (
    merchant_id {uuid} NOT NULL REFERENCES merchants (id),
    asset TEXT NOT NULL REFERENCES assets (code),
    percent_bps BIGINT NOT NULL CHECK (percent_bps BETWEEN 0 AND 10000),
    fixed_minor BIGINT NOT NULL CHECK (fixed_minor >= 0),
    refund_returns_fee BOOLEAN NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (merchant_id, asset)
);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (uuid, ts) = match manager.get_database_backend() {
            DbBackend::Postgres => ("UUID", "TIMESTAMPTZ"),
            DbBackend::Sqlite => ("BLOB", "TEXT"),
            other => return Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
        };
        let sql = UP.replace("{uuid}", uuid).replace("{ts}", ts);
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS fee_schedules").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS payments").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS payout_settings").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS payouts").await?;
        db.execute_unprepared("DROP INDEX IF EXISTS transactions_payout_idx").await?;
        db.execute_unprepared("ALTER TABLE transactions DROP COLUMN payout_id").await?;
        db.execute_unprepared("DROP INDEX IF EXISTS transactions_payment_idx").await?;
        // DROP COLUMN is not an UPDATE, so the append-only triggers allow it.
        db.execute_unprepared("ALTER TABLE transactions DROP COLUMN payment_id").await?;
        db.execute_unprepared("ALTER TABLE transactions DROP COLUMN counterparty_id").await?;
        db.execute_unprepared("ALTER TABLE entries DROP COLUMN layer").await?;
        Ok(())
    }
}
