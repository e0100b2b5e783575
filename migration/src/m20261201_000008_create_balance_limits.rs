//! Balance limits: a lower and an optional upper bound per account, and
//! defaults per account code and asset (see `server/src/domain/limit.rs`).
//!
//! `balance_limits` holds an account's own policy. It belongs to the account's
//! merchant (the platform is the nil UUID), so `merchant_id` is in its primary
//! key and in its foreign key to `accounts (merchant_id, id)`, and on
//! PostgreSQL it is under the same row-level security as `balances`.
//! `balance_limit_defaults` holds the platform-wide default for every account
//! with a code and asset; like `assets`, it belongs to no merchant and every
//! tenant's write path reads it, so it has no tenant policy (only admins write
//! it, through `setBalanceLimit`).
//!
//! Bounds are signed BIGINT minor units of the asset; NULL is unbounded.
//! `since_seq` is the ledger sequence number the policy took effect after:
//! `setBalanceLimit` locks the balance rows it governs before it writes, so
//! every transaction with a greater sequence number was checked against it.
//! Rows are replaced in place when the policy changes; each change is in the
//! audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE balance_limits (
    merchant_id {uuid} NOT NULL,
    account_id {uuid} NOT NULL,
    lower_bound BIGINT,
    upper_bound BIGINT,
    since_seq BIGINT NOT NULL CHECK (since_seq >= 0),
    updated_at {ts} NOT NULL,
    PRIMARY KEY (merchant_id, account_id),
    FOREIGN KEY (merchant_id, account_id) REFERENCES accounts (merchant_id, id),
    CHECK (lower_bound IS NULL OR upper_bound IS NULL OR lower_bound <= upper_bound)
);
CREATE TABLE balance_limit_defaults (
    code TEXT NOT NULL,
    asset TEXT NOT NULL REFERENCES assets (code),
    lower_bound BIGINT,
    upper_bound BIGINT,
    since_seq BIGINT NOT NULL CHECK (since_seq >= 0),
    updated_at {ts} NOT NULL,
    PRIMARY KEY (code, asset),
    CHECK (lower_bound IS NULL OR upper_bound IS NULL OR lower_bound <= upper_bound)
);
"#;

const PG_ACCESS: &str = r#"
GRANT SELECT, INSERT, UPDATE ON balance_limits, balance_limit_defaults TO ledger_app;
REVOKE DELETE ON balance_limits, balance_limit_defaults FROM ledger_app;
ALTER TABLE balance_limits ENABLE ROW LEVEL SECURITY;
CREATE POLICY balance_limits_tenant ON balance_limits FOR ALL TO ledger_app USING (
    ledger_sees_all() OR merchant_id = ledger_tenant()
    OR (merchant_id = '00000000-0000-0000-0000-000000000000'::uuid AND ledger_sees_platform()));
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let (uuid, ts) = match backend {
            DbBackend::Postgres => ("UUID", "TIMESTAMPTZ"),
            DbBackend::Sqlite => ("BLOB", "TEXT"),
            other => return Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
        };
        let db = manager.get_connection();
        db.execute_unprepared(&UP.replace("{uuid}", uuid).replace("{ts}", ts)).await?;
        if backend == DbBackend::Postgres {
            db.execute_unprepared(PG_ACCESS).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Dropping a table drops its policy and grants with it.
        db.execute_unprepared("DROP TABLE IF EXISTS balance_limit_defaults").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS balance_limits").await?;
        Ok(())
    }
}
